#pragma once
// Samplers: the order in which a DataLoader visits a data set, as torch.utils.data's samplers,
// with the same random draws at the same moments (so that a shared generator stays in step with
// PyTorch's), and a state for checkpoints so that a pass can be continued after a restart.

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "ag/autograd/generator.h"

namespace ag::data {

/// The indices of a data set, one pass (epoch) at a time, as torch.utils.data.Sampler.
/// reset() starts a pass (PyTorch's iter(sampler)); next() gives its indices one by one, then
/// nullopt once (next(it) until StopIteration). A pass's random draws happen in next(), where
/// PyTorch makes them.
///
///     ag::data::SequentialSampler s(3);
///     s.reset();
///     while (auto i = s.next()) std::cout << *i;   // 012
class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual void reset() = 0;
  virtual std::optional<std::int64_t> next() = 0;
  /// Indices per pass (PyTorch's len(sampler)).
  virtual std::int64_t size() const = 0;
  /// Where the pass in progress is, as plain int64 words for a checkpoint; load_state(words)
  /// continues from there. The default throws: a sampler that cannot be checkpointed says so.
  virtual std::vector<std::int64_t> state() const;
  virtual void load_state(const std::vector<std::int64_t>& words);
};

/// 0, 1, ..., n-1 (torch.utils.data.SequentialSampler).
class SequentialSampler : public Sampler {
 public:
  explicit SequentialSampler(std::int64_t n);
  void reset() override { next_ = 0; }
  std::optional<std::int64_t> next() override;
  std::int64_t size() const override { return n_; }
  std::vector<std::int64_t> state() const override { return {next_}; }
  void load_state(const std::vector<std::int64_t>& words) override;

 private:
  std::int64_t n_;
  std::int64_t next_ = 0;
};

/// RandomSampler's settings, with PyTorch's defaults.
///
///     ag::data::RandomSamplerOptions().replacement(true).num_samples(1000).generator(&gen)
class RandomSamplerOptions {
 public:
  RandomSamplerOptions& replacement(bool v) { replacement_ = v; return *this; }
  RandomSamplerOptions& num_samples(std::int64_t v) { num_samples_ = v; return *this; }
  RandomSamplerOptions& generator(Generator* v) { generator_ = v; return *this; }
  bool replacement() const { return replacement_; }
  std::optional<std::int64_t> num_samples() const { return num_samples_; }
  Generator* generator() const { return generator_; }

 private:
  bool replacement_ = false;
  std::optional<std::int64_t> num_samples_;
  Generator* generator_ = nullptr;
};

/// A random order, as torch.utils.data.RandomSampler, draw for draw:
/// - without a generator, a pass first draws a seed (an int64 random_(), random64() mod 2^63) from
///   the default generator and seeds a fresh generator with it; with one, it draws from that;
/// - without replacement, it yields randperm(n), num_samples / n times, then the first
///   num_samples % n of one more randperm(n) (drawn even when that is none of it, as PyTorch does);
/// - with replacement, randint(0, n) in runs of 32, then num_samples % 32 more.
///
///     ag::data::RandomSampler s(10);   // a new permutation of 0..9 each pass
class RandomSampler : public Sampler {
 public:
  explicit RandomSampler(std::int64_t n, const RandomSamplerOptions& options = {});
  void reset() override;
  std::optional<std::int64_t> next() override;
  std::int64_t size() const override { return num_samples_; }
  std::vector<std::int64_t> state() const override;
  void load_state(const std::vector<std::int64_t>& words) override;

 private:
  std::vector<std::int64_t> draw_run(Generator& gen, bool last);

  std::int64_t n_;
  std::int64_t num_samples_;
  bool replacement_;
  Generator* generator_;
  // The pass: not started, running or over; the runs drawn so far; the run being yielded.
  enum class Phase : std::int64_t { Idle, Running, Done } phase_ = Phase::Idle;
  std::int64_t runs_drawn_ = 0;
  std::vector<std::int64_t> run_;
  std::size_t pos_ = 0;
  std::optional<Generator> own_;  // the fresh generator of a pass without a given one
};

/// Groups a sampler's indices into batches, as torch.utils.data.BatchSampler: batch_size each,
/// and the last shorter batch unless drop_last.
///
///     ag::data::BatchSampler b(std::make_shared<ag::data::SequentialSampler>(5), 2, false);
///     b.reset();
///     while (auto batch = b.next()) ...   // {0, 1}, {2, 3}, {4}
class BatchSampler {
 public:
  BatchSampler(std::shared_ptr<Sampler> sampler, std::int64_t batch_size, bool drop_last);
  virtual ~BatchSampler() = default;
  virtual void reset();
  virtual std::optional<std::vector<std::int64_t>> next();
  /// Batches per pass (PyTorch's len(batch_sampler)).
  virtual std::int64_t size() const;
  virtual std::vector<std::int64_t> state() const;
  virtual void load_state(const std::vector<std::int64_t>& words);
  const std::shared_ptr<Sampler>& sampler() const { return sampler_; }
  std::int64_t batch_size() const { return batch_size_; }
  bool drop_last() const { return drop_last_; }

 private:
  std::shared_ptr<Sampler> sampler_;
  std::int64_t batch_size_;
  bool drop_last_;
  bool done_ = false;
};

}  // namespace ag::data

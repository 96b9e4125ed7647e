#pragma once
// DistributedSampler: which dataset indices each rank trains on, as torch.utils.data's
// DistributedSampler splits them; a data::Sampler, so a DataLoader batches this rank's share.

#include <cstdint>
#include <optional>
#include <vector>

#include "ag/data/sampler.h"

namespace ag::distributed {

/// DistributedSampler's settings, with PyTorch's defaults. num_replicas and rank default to the
/// running world (world_size() and rank()); set both to use the sampler without MPI.
///
///     ag::distributed::DistributedSamplerOptions().shuffle(true).seed(42).drop_last(true)
class DistributedSamplerOptions {
 public:
  DistributedSamplerOptions& num_replicas(int v) { num_replicas_ = v; return *this; }
  DistributedSamplerOptions& rank(int v) { rank_ = v; return *this; }
  DistributedSamplerOptions& shuffle(bool v) { shuffle_ = v; return *this; }
  DistributedSamplerOptions& seed(std::uint64_t v) { seed_ = v; return *this; }
  DistributedSamplerOptions& drop_last(bool v) { drop_last_ = v; return *this; }
  std::optional<int> num_replicas() const { return num_replicas_; }
  std::optional<int> rank() const { return rank_; }
  bool shuffle() const { return shuffle_; }
  std::uint64_t seed() const { return seed_; }
  bool drop_last() const { return drop_last_; }

 private:
  std::optional<int> num_replicas_;
  std::optional<int> rank_;
  bool shuffle_ = true;
  std::uint64_t seed_ = 0;
  bool drop_last_ = false;
};

/// Splits the indices 0..dataset_size-1 into num_replicas disjoint parts of equal length, one per
/// rank, as PyTorch does, index for index:
/// - shuffle: every rank takes randperm(dataset_size) from a generator seeded with seed + epoch,
///   so the parts stay disjoint and change each epoch (call set_epoch at the start of each);
/// - without drop_last, the list is padded by repeating its first indices until it divides
///   evenly (a few samples are seen twice); with drop_last, the tail is dropped instead;
/// - rank r takes every num_replicas-th index starting at r.
///
///     auto sampler = std::make_shared<ag::distributed::DistributedSampler>(dataset.size());
///     ag::data::DataLoader loader(dataset, ag::data::DataLoaderOptions().batch_size(32).sampler(sampler));
///     for (int epoch = 0; epoch < epochs; ++epoch) {
///       sampler->set_epoch(epoch);
///       for (auto& batch : loader) ...   // batches of this rank's samples
///     }
class DistributedSampler : public data::Sampler {
 public:
  explicit DistributedSampler(std::int64_t dataset_size, const DistributedSamplerOptions& options = {});

  /// Chooses the epoch whose shuffle indices() returns.
  void set_epoch(std::int64_t epoch) { epoch_ = epoch; }
  std::int64_t epoch() const { return epoch_; }

  /// This rank's indices for the current epoch: size() of them.
  std::vector<std::int64_t> indices() const;
  /// The number of indices each rank gets.
  std::int64_t size() const override { return num_samples_; }

  // data::Sampler: a pass yields indices() of the epoch set when it starts.
  void reset() override;
  std::optional<std::int64_t> next() override;
  std::vector<std::int64_t> state() const override;
  void load_state(const std::vector<std::int64_t>& words) override;

  /// size() * num_replicas(): the dataset after padding or dropping.
  std::int64_t total_size() const { return num_samples_ * num_replicas_; }
  int num_replicas() const { return num_replicas_; }
  int rank() const { return rank_; }

 private:
  std::int64_t dataset_size_;
  int num_replicas_;
  int rank_;
  bool shuffle_;
  std::uint64_t seed_;
  bool drop_last_;
  std::int64_t epoch_ = 0;
  std::int64_t num_samples_;
  std::vector<std::int64_t> pass_;  // the pass in progress
  std::size_t next_ = 0;
  std::int64_t pass_epoch_ = 0;
};

}  // namespace ag::distributed

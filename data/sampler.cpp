#include "ag/data/sampler.h"

#include <cstring>

#include "ag/autograd/error.h"
#include "ag/autograd/tensor.h"

namespace ag::data {

namespace {

constexpr std::int64_t kStateVersion = 1;

/// Reads a sampler's checkpoint words in order, naming the sampler in every error.
class WordReader {
 public:
  WordReader(const std::vector<std::int64_t>& words, const char* who) : w_(words), who_(who) {}
  std::int64_t next(const char* what, std::int64_t lo, std::int64_t hi) {
    AG_CHECK(i_ < w_.size(), who_, "::load_state: the state ends before its ", what, " (", w_.size(), " words)");
    std::int64_t v = w_[i_++];
    AG_CHECK(v >= lo && v <= hi, who_, "::load_state: ", what, " is ", v, ", expected ", lo, "..", hi);
    return v;
  }
  void finish() const {
    AG_CHECK(i_ == w_.size(), who_, "::load_state: ", w_.size() - i_, " words left over after the state");
  }
  std::vector<std::int64_t> rest() {
    std::vector<std::int64_t> r(w_.begin() + static_cast<std::ptrdiff_t>(i_), w_.end());
    i_ = w_.size();
    return r;
  }

 private:
  const std::vector<std::int64_t>& w_;
  const char* who_;
  std::size_t i_ = 0;
};

void put_generator(std::vector<std::int64_t>& out, const GeneratorState& s) {
  out.insert(out.end(), s.words.begin(), s.words.end());
  out.push_back(s.index);
  out.push_back(static_cast<std::int64_t>(s.seed));
  out.push_back(s.next_normal.has_value());
  std::int64_t bits = 0;
  if (s.next_normal) std::memcpy(&bits, &*s.next_normal, sizeof bits);
  out.push_back(bits);
}

GeneratorState get_generator(WordReader& r) {
  GeneratorState s;
  for (auto& w : s.words) w = static_cast<std::uint32_t>(r.next("a generator word", 0, 0xffffffffLL));
  s.index = static_cast<std::int32_t>(r.next("the generator's index", 0, GeneratorState::kWords));
  s.seed = static_cast<std::uint64_t>(r.next("the generator's seed", INT64_MIN, INT64_MAX));
  bool cached = r.next("the generator's cache flag", 0, 1) == 1;
  std::int64_t bits = r.next("the generator's cached normal", INT64_MIN, INT64_MAX);
  if (cached) {
    double v;
    std::memcpy(&v, &bits, sizeof v);
    s.next_normal = v;
  }
  return s;
}

}  // namespace

std::vector<std::int64_t> Sampler::state() const {
  AG_CHECK_STATE(false, "Sampler::state: this sampler does not support checkpoints; override state() and "
                 "load_state() to continue a pass after a restart");
  return {};
}

void Sampler::load_state(const std::vector<std::int64_t>&) {
  AG_CHECK_STATE(false, "Sampler::load_state: this sampler does not support checkpoints; override state() and "
                 "load_state() to continue a pass after a restart");
}

// ---- SequentialSampler ----------------------------------------------------------------------

SequentialSampler::SequentialSampler(std::int64_t n) : n_(n) {
  AG_CHECK(n >= 0, "SequentialSampler: the number of examples must be >= 0, got ", n);
}

std::optional<std::int64_t> SequentialSampler::next() {
  if (next_ >= n_) return std::nullopt;
  return next_++;
}

void SequentialSampler::load_state(const std::vector<std::int64_t>& words) {
  WordReader r(words, "SequentialSampler");
  next_ = r.next("the position", 0, n_);
  r.finish();
}

// ---- RandomSampler --------------------------------------------------------------------------

RandomSampler::RandomSampler(std::int64_t n, const RandomSamplerOptions& options)
    : n_(n), num_samples_(options.num_samples().value_or(n)), replacement_(options.replacement()),
      generator_(options.generator()) {
  AG_CHECK(n > 0, "RandomSampler: the data set is empty (0 examples); there is nothing to sample");
  AG_CHECK(num_samples_ > 0, "RandomSampler: num_samples must be positive, got ", num_samples_);
}

void RandomSampler::reset() {
  phase_ = Phase::Idle;
  runs_drawn_ = 0;
  run_.clear();
  pos_ = 0;
  own_.reset();
}

std::vector<std::int64_t> RandomSampler::draw_run(Generator& gen, bool last) {
  if (replacement_) {
    std::int64_t count = last ? num_samples_ % 32 : 32;
    return randint(0, n_, {count}, kInt64, &gen).to_vector<std::int64_t>();
  }
  std::vector<std::int64_t> perm = randperm(n_, kInt64, &gen).to_vector<std::int64_t>();
  if (last) perm.resize(static_cast<std::size_t>(num_samples_ % n_));
  return perm;
}

std::optional<std::int64_t> RandomSampler::next() {
  if (phase_ == Phase::Done) return std::nullopt;
  if (phase_ == Phase::Idle) {
    if (!generator_) {
      // PyTorch: seed = torch.empty((), dtype=torch.int64).random_(), then a fresh generator.
      std::uint64_t seed = default_generator().random64() % (std::uint64_t{1} << 63);
      own_.emplace(seed);
    }
    phase_ = Phase::Running;
  }
  Generator& gen = generator_ ? *generator_ : *own_;
  const std::int64_t full_runs = num_samples_ / (replacement_ ? 32 : n_);
  while (pos_ == run_.size()) {
    if (runs_drawn_ > full_runs) {
      phase_ = Phase::Done;
      own_.reset();
      return std::nullopt;
    }
    run_ = draw_run(gen, runs_drawn_ == full_runs);
    pos_ = 0;
    ++runs_drawn_;
  }
  return run_[pos_++];
}

std::vector<std::int64_t> RandomSampler::state() const {
  std::vector<std::int64_t> w{kStateVersion, static_cast<std::int64_t>(phase_), runs_drawn_,
                              static_cast<std::int64_t>(pos_), static_cast<std::int64_t>(run_.size())};
  w.insert(w.end(), run_.begin(), run_.end());
  w.push_back(own_.has_value());
  if (own_) put_generator(w, own_->get_state());
  return w;
}

void RandomSampler::load_state(const std::vector<std::int64_t>& words) {
  WordReader r(words, "RandomSampler");
  r.next("the state version", kStateVersion, kStateVersion);
  auto phase = static_cast<Phase>(r.next("the phase", 0, 2));
  std::int64_t runs = r.next("the runs drawn", 0, INT64_MAX);
  std::int64_t pos = r.next("the position", 0, INT64_MAX);
  std::int64_t length = r.next("the run length", 0, replacement_ ? 32 : n_);
  AG_CHECK(pos <= length, "RandomSampler::load_state: the position ", pos, " lies past the run of ", length);
  std::vector<std::int64_t> run;
  for (std::int64_t i = 0; i < length; ++i) run.push_back(r.next("an index", 0, n_ - 1));
  std::optional<Generator> own;
  if (r.next("the own-generator flag", 0, 1) == 1) {
    own.emplace();
    own->set_state(get_generator(r));
  }
  r.finish();
  AG_CHECK(phase != Phase::Running || generator_ || own, "RandomSampler::load_state: a pass in progress without "
           "a given generator needs its own generator's state, and this state has none");
  phase_ = phase;
  runs_drawn_ = runs;
  pos_ = static_cast<std::size_t>(pos);
  run_ = std::move(run);
  own_ = std::move(own);
}

// ---- BatchSampler ---------------------------------------------------------------------------

BatchSampler::BatchSampler(std::shared_ptr<Sampler> sampler, std::int64_t batch_size, bool drop_last)
    : sampler_(std::move(sampler)), batch_size_(batch_size), drop_last_(drop_last) {
  AG_CHECK(sampler_ != nullptr, "BatchSampler: the sampler is null");
  AG_CHECK(batch_size > 0, "BatchSampler: batch_size must be positive, got ", batch_size);
}

void BatchSampler::reset() {
  sampler_->reset();
  done_ = false;
}

std::optional<std::vector<std::int64_t>> BatchSampler::next() {
  if (done_) return std::nullopt;
  std::vector<std::int64_t> batch;
  batch.reserve(static_cast<std::size_t>(batch_size_));
  while (static_cast<std::int64_t>(batch.size()) < batch_size_) {
    std::optional<std::int64_t> i = sampler_->next();
    if (!i) {
      done_ = true;
      break;
    }
    batch.push_back(*i);
  }
  if (static_cast<std::int64_t>(batch.size()) == batch_size_ || (!drop_last_ && !batch.empty())) return batch;
  return std::nullopt;
}

std::int64_t BatchSampler::size() const {
  std::int64_t n = sampler_->size();
  return drop_last_ ? n / batch_size_ : (n + batch_size_ - 1) / batch_size_;
}

std::vector<std::int64_t> BatchSampler::state() const {
  std::vector<std::int64_t> w{done_};
  std::vector<std::int64_t> inner = sampler_->state();
  w.insert(w.end(), inner.begin(), inner.end());
  return w;
}

void BatchSampler::load_state(const std::vector<std::int64_t>& words) {
  WordReader r(words, "BatchSampler");
  bool done = r.next("the end-of-pass flag", 0, 1) == 1;
  sampler_->load_state(r.rest());
  done_ = done;
}

}  // namespace ag::data

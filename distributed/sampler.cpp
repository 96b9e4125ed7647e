// DistributedSampler: PyTorch's split of a dataset's indices by rank.

#include "ag/distributed/sampler.h"

#include <numeric>

#include "ag/autograd/error.h"
#include "ag/autograd/generator.h"
#include "ag/autograd/tensor.h"
#include "ag/distributed/environment.h"

namespace ag::distributed {

DistributedSampler::DistributedSampler(std::int64_t dataset_size, const DistributedSamplerOptions& options)
    : dataset_size_(dataset_size),
      num_replicas_(options.num_replicas() ? *options.num_replicas() : world_size()),
      rank_(options.rank() ? *options.rank() : distributed::rank()),
      shuffle_(options.shuffle()),
      seed_(options.seed()),
      drop_last_(options.drop_last()) {
  AG_CHECK(dataset_size >= 0, "DistributedSampler: dataset_size must be >= 0, got ", dataset_size);
  AG_CHECK(num_replicas_ >= 1, "DistributedSampler: num_replicas must be >= 1, got ", num_replicas_);
  AG_CHECK(rank_ >= 0 && rank_ < num_replicas_, "DistributedSampler: rank ", rank_, " is out of range for ",
           num_replicas_, " replicas (valid: 0 to ", num_replicas_ - 1, ")");
  const std::int64_t n = num_replicas_;
  // PyTorch's lengths: drop the uneven tail, or round up and pad.
  num_samples_ = drop_last_ ? dataset_size / n : (dataset_size + n - 1) / n;
}

std::vector<std::int64_t> DistributedSampler::indices() const {
  std::vector<std::int64_t> all(static_cast<std::size_t>(dataset_size_));
  std::iota(all.begin(), all.end(), std::int64_t{0});
  if (shuffle_) {
    // A generator every rank seeds alike: the same permutation everywhere, PyTorch's.
    Generator gen(seed_ + static_cast<std::uint64_t>(epoch_));
    all = randperm(dataset_size_, kInt64, &gen).to_vector<std::int64_t>();
  }
  const std::int64_t total = total_size();
  std::vector<std::int64_t> mine;
  mine.reserve(static_cast<std::size_t>(num_samples_));
  for (std::int64_t i = rank_; i < total; i += num_replicas_) {
    // Past the end, the padding wraps around to the start (repeatedly if the dataset is tiny).
    mine.push_back(all[static_cast<std::size_t>(i % dataset_size_)]);
  }
  return mine;
}

void DistributedSampler::reset() {
  pass_ = indices();
  pass_epoch_ = epoch_;
  next_ = 0;
}

std::optional<std::int64_t> DistributedSampler::next() {
  if (next_ >= pass_.size()) return std::nullopt;
  return pass_[next_++];
}

std::vector<std::int64_t> DistributedSampler::state() const {
  return {pass_epoch_, static_cast<std::int64_t>(next_), static_cast<std::int64_t>(pass_.size())};
}

void DistributedSampler::load_state(const std::vector<std::int64_t>& words) {
  AG_CHECK(words.size() == 3, "DistributedSampler::load_state: expected 3 words (epoch, position, length), got ",
           words.size());
  AG_CHECK(words[2] == 0 || words[2] == num_samples_, "DistributedSampler::load_state: the saved pass has ", words[2],
           " indices, this rank's share has ", num_samples_, " (another data set size or world?)");
  AG_CHECK(words[1] >= 0 && words[1] <= words[2], "DistributedSampler::load_state: position ", words[1],
           " is outside the pass of ", words[2]);
  std::int64_t epoch = epoch_;
  epoch_ = words[0];
  pass_ = words[2] == 0 ? std::vector<std::int64_t>() : indices();
  epoch_ = epoch;
  pass_epoch_ = words[0];
  next_ = static_cast<std::size_t>(words[1]);
}

}  // namespace ag::distributed

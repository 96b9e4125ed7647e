// DistributedSampler: PyTorch's split of a dataset's indices by rank.

#include "ag/distributed/sampler.h"

#include <numeric>

#include "ag/autograd/error.h"
#include "ag/autograd/generator.h"
#include "ag/distributed/environment.h"

namespace ag::distributed {

namespace {

/// An integer uniform on [0, bound), without the bias of a plain modulo.
std::uint64_t uniform_below(Generator& gen, std::uint64_t bound) {
  const std::uint64_t reject_below = (0 - bound) % bound;  // 2^64 mod bound
  for (;;) {
    std::uint64_t r = gen.random();
    if (r >= reject_below) return r % bound;
  }
}

}  // namespace

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
    // Fisher-Yates with a generator every rank seeds alike: the same permutation everywhere.
    Generator gen(seed_ + static_cast<std::uint64_t>(epoch_));
    for (std::size_t i = all.size(); i > 1; --i) std::swap(all[i - 1], all[uniform_below(gen, i)]);
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

}  // namespace ag::distributed

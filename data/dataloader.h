#pragma once
// DataLoader: batches of a data set in a sampler's order, as torch.utils.data.DataLoader with
// num_workers=0, including its random draws: the same seed gives PyTorch's shuffle.

#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "ag/autograd/error.h"
#include "ag/autograd/generator.h"
#include "ag/autograd/tensor.h"
#include "ag/data/collate.h"
#include "ag/data/dataset.h"
#include "ag/data/sampler.h"

namespace ag::data {

/// A DataLoader's settings, with PyTorch's defaults (batch_size 1, no shuffle, keep the last
/// short batch). `sampler` replaces the order (not with shuffle); `batch_sampler` replaces the
/// batching (not with batch_size, shuffle, sampler or drop_last).
///
///     ag::data::DataLoaderOptions().batch_size(32).shuffle(true).drop_last(false).generator(&g)
class DataLoaderOptions {
 public:
  DataLoaderOptions& batch_size(std::int64_t v) { batch_size_ = v; return *this; }
  DataLoaderOptions& shuffle(bool v) { shuffle_ = v; return *this; }
  DataLoaderOptions& drop_last(bool v) { drop_last_ = v; return *this; }
  /// The generator of the shuffle (and of the base seed every pass draws); the default one if null.
  DataLoaderOptions& generator(Generator* v) { generator_ = v; return *this; }
  DataLoaderOptions& sampler(std::shared_ptr<Sampler> v) { sampler_ = std::move(v); return *this; }
  DataLoaderOptions& batch_sampler(std::shared_ptr<BatchSampler> v) { batch_sampler_ = std::move(v); return *this; }

  std::int64_t batch_size() const { return batch_size_.value_or(1); }
  bool shuffle() const { return shuffle_.value_or(false); }
  bool drop_last() const { return drop_last_.value_or(false); }
  Generator* generator() const { return generator_; }
  const std::shared_ptr<Sampler>& sampler() const { return sampler_; }
  const std::shared_ptr<BatchSampler>& batch_sampler() const { return batch_sampler_; }
  /// Whether batch_size, shuffle or drop_last was set (they conflict with a batch_sampler).
  bool sets_batching() const { return batch_size_ || shuffle_ || drop_last_; }

 private:
  std::optional<std::int64_t> batch_size_;
  std::optional<bool> shuffle_, drop_last_;
  Generator* generator_ = nullptr;
  std::shared_ptr<Sampler> sampler_;
  std::shared_ptr<BatchSampler> batch_sampler_;
};

/// The exception a DataLoader throws when its collate function fails: it names the batch and its
/// samples, and holds the collate's own exception nested (std::rethrow_if_nested).
class CollateError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
/// The checks of a DataLoader's construction, and the batch sampler it iterates.
std::shared_ptr<BatchSampler> make_batch_sampler(std::int64_t dataset_size, const DataLoaderOptions& options);
/// The first word of a DataLoader's state: its format.
inline constexpr std::int64_t kLoaderStateVersion = 1;
/// Rethrows the exception in flight with the batch it broke, keeping it nested inside.
[[noreturn]] void rethrow_collate_error(std::int64_t batch, const std::vector<std::int64_t>& indices);
}  // namespace detail

/// Iterates over batches of a data set, as torch.utils.data.DataLoader (num_workers=0): each pass
/// (a range-for) takes the batch sampler's next batch of indices, gets those examples and
/// collates them (DefaultCollate stacks tensors). A pass draws what PyTorch's does, in the same
/// order: a base seed from the loader's generator (or the default one) when it starts, then the
/// sampler's draws. So after the same manual_seed, shuffle(true) gives PyTorch's order, and
/// dropout masks drawn between batches stay PyTorch's.
///
///     ag::data::TensorDataset ds(x, y);
///     ag::data::DataLoader loader(ds, ag::data::DataLoaderOptions().batch_size(32).shuffle(true));
///     for (int epoch = 0; epoch < 10; ++epoch)
///       for (auto& [xb, yb] : loader) { ... }   // xb [32, ...], yb [32]
///
/// The data set is moved in (pass a std::shared_ptr to share one). One pass at a time: begin()
/// starts a new pass, except right after load_state, when it continues the saved one.
template <class D, class Batch = DefaultBatch<detail::example_of_t<D>>>
class DataLoader {
 public:
  using Example = detail::example_of_t<D>;
  using Collate = std::function<Batch(std::vector<Example>)>;

  explicit DataLoader(D dataset, DataLoaderOptions options = {}, Collate collate = DefaultCollate{})
      : dataset_(detail::share(std::move(dataset))), options_(std::move(options)), collate_(std::move(collate)) {
    AG_CHECK(dataset_ != nullptr, "DataLoader: the dataset is null");
    AG_CHECK(collate_ != nullptr, "DataLoader: the collate function is empty");
    batch_sampler_ = detail::make_batch_sampler(dataset_->size(), options_);
  }

  class Iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = Batch;
    using difference_type = std::ptrdiff_t;
    using pointer = Batch*;
    using reference = Batch&;

    Batch& operator*() const { return *loader_->batch_; }
    Batch* operator->() const { return &*loader_->batch_; }
    Iterator& operator++() {
      loader_->fetch();
      return *this;
    }
    bool operator==(const Iterator& other) const { return at_end() == other.at_end(); }
    bool operator!=(const Iterator& other) const { return !(*this == other); }

   private:
    friend class DataLoader;
    explicit Iterator(DataLoader* loader) : loader_(loader) {}
    bool at_end() const { return loader_ == nullptr || !loader_->batch_; }
    DataLoader* loader_;
  };

  /// Starts a pass (or continues the one load_state restored) and fetches its first batch.
  Iterator begin() {
    if (resume_) {
      resume_ = false;
    } else {
      // PyTorch's _BaseDataLoaderIter draws a base seed for its worker processes; ag has none,
      // but draws it too, so that the stream goes on as PyTorch's does.
      (options_.generator() ? *options_.generator() : default_generator()).random64();
      batch_sampler_->reset();
      batches_ = 0;
    }
    in_pass_ = true;
    fetch();
    return Iterator(this);
  }
  Iterator end() { return Iterator(nullptr); }

  /// Batches per pass (PyTorch's len(loader)).
  std::int64_t size() const { return batch_sampler_->size(); }
  /// The data set (PyTorch's loader.dataset).
  Dataset<Example>& dataset() const { return *dataset_; }
  const DataLoaderOptions& options() const { return options_; }
  /// Batches yielded so far in the pass in progress.
  std::int64_t batches() const { return batches_; }

  /// Where the loader is, as one int64 tensor for a checkpoint: whether a pass is in progress,
  /// how many of its batches were yielded, and the sampler's state (for a shuffled pass, its
  /// order). The generators it draws from are saved apart (save_checkpoint saves the default one).
  ///
  ///     meta.set("loader", loader.state());
  ///     ...
  ///     loader.load_state(back.metadata.tensor("loader"));   // the next pass continues the saved one
  Tensor state() const {
    std::vector<std::int64_t> w{detail::kLoaderStateVersion, in_pass_, batches_};
    std::vector<std::int64_t> inner = batch_sampler_->state();
    w.insert(w.end(), inner.begin(), inner.end());
    return ag::tensor(w, {static_cast<std::int64_t>(w.size())});
  }
  void load_state(const Tensor& state) {
    AG_CHECK(state.defined() && state.dtype() == kInt64 && state.dim() == 1 && state.numel() >= 3,
             "DataLoader::load_state: expected the 1-d int64 tensor DataLoader::state() gives, got ",
             state.defined() ? ag::detail::cat(state.dtype(), " of shape ", state.shape()) : std::string("an undefined tensor"));
    std::vector<std::int64_t> w = state.contiguous().to_vector<std::int64_t>();
    AG_CHECK(w[0] == detail::kLoaderStateVersion, "DataLoader::load_state: unknown state format ", w[0],
             " (this version of ag writes ", detail::kLoaderStateVersion, ")");
    AG_CHECK(w[1] == 0 || w[1] == 1, "DataLoader::load_state: the in-pass flag is ", w[1], ", expected 0 or 1");
    AG_CHECK(w[2] >= 0, "DataLoader::load_state: the batch count is ", w[2], ", expected >= 0");
    batch_sampler_->load_state(std::vector<std::int64_t>(w.begin() + 3, w.end()));
    in_pass_ = w[1] == 1;
    resume_ = in_pass_;
    batches_ = w[2];
  }

 private:
  /// The next batch of the pass into batch_, or none at its end.
  void fetch() {
    std::optional<std::vector<std::int64_t>> indices = batch_sampler_->next();
    if (!indices) {
      batch_.reset();
      in_pass_ = false;
      return;
    }
    const std::int64_t n = dataset_->size();
    std::vector<Example> examples;
    examples.reserve(indices->size());
    for (std::int64_t i : *indices) {
      AG_CHECK_INDEX(i >= 0 && i < n, "DataLoader: the sampler gave index ", i, ", out of range for a dataset of ", n,
                     " examples (valid: 0..", n - 1, ")");
      examples.push_back(dataset_->get(i));
    }
    try {
      batch_.emplace(collate_(std::move(examples)));
    } catch (...) {
      batch_.reset();
      in_pass_ = false;
      detail::rethrow_collate_error(batches_, *indices);
    }
    ++batches_;
  }

  std::shared_ptr<Dataset<Example>> dataset_;
  DataLoaderOptions options_;
  Collate collate_;
  std::shared_ptr<BatchSampler> batch_sampler_;
  std::optional<Batch> batch_;
  std::int64_t batches_ = 0;
  bool in_pass_ = false;
  bool resume_ = false;
};

template <class D>
DataLoader(D) -> DataLoader<D>;
template <class D>
DataLoader(D, DataLoaderOptions) -> DataLoader<D>;
template <class D, class C>
DataLoader(D, DataLoaderOptions, C)
    -> DataLoader<D, std::decay_t<std::invoke_result_t<C&, std::vector<detail::example_of_t<D>>>>>;

}  // namespace ag::data

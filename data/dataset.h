#pragma once
// Data sets as torch.utils.data has them: a Dataset is a size and a get(i); TensorDataset slices
// tensors along their first dimension; Subset and ConcatDataset pick and join; random_split cuts
// a data set into random non-overlapping parts with PyTorch's permutation.

#include <array>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

#include "ag/autograd/error.h"
#include "ag/autograd/generator.h"
#include "ag/autograd/tensor.h"

namespace ag::data {

/// A map-style data set, as torch.utils.data.Dataset: size() examples, get(i) the i-th. Derive
/// from it for your own data.
///
///     struct Squares : ag::data::Dataset<std::array<ag::Tensor, 2>> {
///       std::int64_t size() const override { return 100; }
///       std::array<ag::Tensor, 2> get(std::int64_t i) override {
///         return {ag::scalar_tensor(double(i)), ag::scalar_tensor(double(i * i))};
///       }
///     };
template <class Example>
class Dataset {
 public:
  using ExampleType = Example;
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  virtual Example get(std::int64_t index) = 0;
};

/// Examples made of N tensors sliced along the first dimension, as torch.utils.data.TensorDataset:
/// example i is {tensors[0][i], ..., tensors[N-1][i]} (rows share the tensors' storage).
///
///     ag::data::TensorDataset ds(x, y);   // x [100, 4], y [100]: ds.get(3) is {x[3], y[3]}
template <std::size_t N>
class TensorDataset : public Dataset<std::array<Tensor, N>> {
 public:
  template <class... T, std::enable_if_t<sizeof...(T) == N && (std::is_convertible_v<T, Tensor> && ...), int> = 0>
  explicit TensorDataset(T... tensors) : tensors_{Tensor(std::move(tensors))...} {
    static_assert(N >= 1, "TensorDataset needs at least one tensor");
    for (std::size_t k = 0; k < N; ++k) {
      AG_CHECK(tensors_[k].defined(), "TensorDataset: tensor ", k, " is undefined");
      AG_CHECK(tensors_[k].dim() >= 1, "TensorDataset: tensor ", k, " is 0-d; each tensor needs a first dimension "
               "to slice examples from");
      AG_CHECK(tensors_[k].size(0) == tensors_[0].size(0), "TensorDataset: size mismatch between tensors: tensor 0 "
               "has shape ", tensors_[0].shape(), " and tensor ", k, " has shape ", tensors_[k].shape(),
               "; all need the same first dimension");
    }
  }

  std::int64_t size() const override { return tensors_[0].size(0); }
  std::array<Tensor, N> get(std::int64_t index) override {
    const std::int64_t n = size();
    AG_CHECK_INDEX(index >= -n && index < n, "TensorDataset: index ", index, " is out of range for ", n, " examples");
    std::array<Tensor, N> out;
    for (std::size_t k = 0; k < N; ++k) out[k] = tensors_[k][index];
    return out;
  }
  const std::array<Tensor, N>& tensors() const { return tensors_; }

 private:
  std::array<Tensor, N> tensors_;
};

template <class... T>
TensorDataset(T...) -> TensorDataset<sizeof...(T)>;

/// The examples of `dataset` at `indices`, in that order, as torch.utils.data.Subset.
///
///     ag::data::Subset first_ten(ds, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
template <class Example>
class Subset : public Dataset<Example> {
 public:
  Subset(std::shared_ptr<Dataset<Example>> dataset, std::vector<std::int64_t> indices)
      : dataset_(std::move(dataset)), indices_(std::move(indices)) {
    AG_CHECK(dataset_ != nullptr, "Subset: the dataset is null");
  }
  template <class D, std::enable_if_t<std::is_base_of_v<Dataset<Example>, D>, int> = 0>
  Subset(D dataset, std::vector<std::int64_t> indices)
      : Subset(std::make_shared<D>(std::move(dataset)), std::move(indices)) {}

  std::int64_t size() const override { return static_cast<std::int64_t>(indices_.size()); }
  Example get(std::int64_t index) override {
    AG_CHECK_INDEX(index >= 0 && index < size(), "Subset: index ", index, " is out of range for ", size(), " examples");
    return dataset_->get(indices_[static_cast<std::size_t>(index)]);
  }
  const std::vector<std::int64_t>& indices() const { return indices_; }
  const std::shared_ptr<Dataset<Example>>& dataset() const { return dataset_; }

 private:
  std::shared_ptr<Dataset<Example>> dataset_;
  std::vector<std::int64_t> indices_;
};

template <class D>
Subset(D, std::vector<std::int64_t>) -> Subset<typename D::ExampleType>;

/// Data sets one after another, as torch.utils.data.ConcatDataset: example i of the whole is
/// example i - offset of the part it falls in. Negative indices count from the end.
///
///     ag::data::ConcatDataset both(train, extra);   // train's examples, then extra's
template <class Example>
class ConcatDataset : public Dataset<Example> {
 public:
  explicit ConcatDataset(std::vector<std::shared_ptr<Dataset<Example>>> datasets) : datasets_(std::move(datasets)) {
    AG_CHECK(!datasets_.empty(), "ConcatDataset: no datasets given; it needs at least one");
    std::int64_t total = 0;
    for (std::size_t k = 0; k < datasets_.size(); ++k) {
      AG_CHECK(datasets_[k] != nullptr, "ConcatDataset: dataset ", k, " is null");
      total += datasets_[k]->size();
      cumulative_sizes_.push_back(total);
    }
  }
  template <class D, class... Ds, std::enable_if_t<std::is_base_of_v<Dataset<Example>, D>, int> = 0>
  explicit ConcatDataset(D first, Ds... rest)
      : ConcatDataset(std::vector<std::shared_ptr<Dataset<Example>>>{std::make_shared<D>(std::move(first)),
                                                                     std::make_shared<Ds>(std::move(rest))...}) {}

  std::int64_t size() const override { return cumulative_sizes_.back(); }
  Example get(std::int64_t index) override {
    const std::int64_t n = size();
    AG_CHECK_INDEX(index >= -n && index < n, "ConcatDataset: index ", index, " is out of range for ", n, " examples");
    if (index < 0) index += n;
    std::size_t k = 0;
    while (cumulative_sizes_[k] <= index) ++k;  // the first part whose end lies past the index
    return datasets_[k]->get(k == 0 ? index : index - cumulative_sizes_[k - 1]);
  }
  /// The running totals of the parts' sizes.
  const std::vector<std::int64_t>& cumulative_sizes() const { return cumulative_sizes_; }

 private:
  std::vector<std::shared_ptr<Dataset<Example>>> datasets_;
  std::vector<std::int64_t> cumulative_sizes_;
};

template <class D, class... Ds>
ConcatDataset(D, Ds...) -> ConcatDataset<typename D::ExampleType>;

namespace detail {
/// random_split's lengths: whole numbers as given, or fractions summing to 1 turned into lengths
/// as PyTorch does (floor(n * f) each, the remainder handed out one by one from the first part).
std::vector<std::int64_t> split_lengths(std::int64_t n, const std::vector<double>& lengths);
/// randperm(n) from `generator` (or the default one), cut into consecutive parts of `lengths`.
std::vector<std::vector<std::int64_t>> split_indices(const std::vector<std::int64_t>& lengths, Generator* generator);
}  // namespace detail

namespace detail {
/// The example type of a data set, or of the data set a shared_ptr points to.
template <class D>
struct ExampleOf {
  using type = typename D::ExampleType;
};
template <class D>
struct ExampleOf<std::shared_ptr<D>> {
  using type = typename D::ExampleType;
};
template <class D>
using example_of_t = typename ExampleOf<D>::type;

template <class D>
std::shared_ptr<Dataset<example_of_t<D>>> share(D dataset) {
  if constexpr (std::is_same_v<D, std::shared_ptr<Dataset<example_of_t<D>>>>) return dataset;
  else if constexpr (std::is_convertible_v<D, std::shared_ptr<Dataset<example_of_t<D>>>>) return dataset;
  else return std::make_shared<D>(std::move(dataset));
}
}  // namespace detail

/// Splits `dataset` (a data set, moved in, or a shared_ptr to one) into random non-overlapping
/// Subsets of the given lengths, as torch.utils.data.random_split: the same lengths and generator
/// state give PyTorch's split. Lengths are whole numbers summing to the dataset's size, or
/// fractions summing to 1.
///
///     auto parts = ag::data::random_split(ds, {0.8, 0.2});        // from the default generator
///     ag::Generator g(42);
///     auto fixed = ag::data::random_split(ds, {80, 20}, &g);      // fixed[0]: 80 examples, fixed[1]: 20
template <class D>
std::vector<Subset<detail::example_of_t<D>>> random_split(D dataset, const std::vector<double>& lengths,
                                                          Generator* generator = nullptr) {
  auto shared = detail::share(std::move(dataset));
  AG_CHECK(shared != nullptr, "random_split: the dataset is null");
  auto parts = detail::split_indices(detail::split_lengths(shared->size(), lengths), generator);
  std::vector<Subset<detail::example_of_t<D>>> out;
  for (auto& indices : parts) out.emplace_back(shared, std::move(indices));
  return out;
}
template <class D>
std::vector<Subset<detail::example_of_t<D>>> random_split(D dataset, std::initializer_list<double> lengths,
                                                          Generator* generator = nullptr) {
  return random_split(std::move(dataset), std::vector<double>(lengths), generator);
}
template <class D>
std::vector<Subset<detail::example_of_t<D>>> random_split(D dataset, const std::vector<std::int64_t>& lengths,
                                                          Generator* generator = nullptr) {
  return random_split(std::move(dataset), std::vector<double>(lengths.begin(), lengths.end()), generator);
}

}  // namespace ag::data

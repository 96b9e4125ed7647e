#pragma once
// Collate functions: how a DataLoader turns the examples of a batch into one batch, as
// torch.utils.data's default_collate does, plus pad_sequence for sequences of different lengths.

#include <array>
#include <cstdint>
#include <string>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "ag/autograd/error.h"
#include "ag/autograd/tensor.h"

namespace ag::data {

/// Pads tensors of shapes [L_i, *] with `padding_value` to the longest L and stacks them, as
/// torch.nn.utils.rnn.pad_sequence: [max L, B, *], or [B, max L, *] with batch_first.
/// Differentiable; the trailing dimensions and the dtype must agree.
///
///     auto x = ag::data::pad_sequence({ag::tensor({1, 2, 3}), ag::tensor({4})}, true);
///     // tensor([[1, 2, 3], [4, 0, 0]])
Tensor pad_sequence(const std::vector<Tensor>& sequences, bool batch_first = false, double padding_value = 0.0);

namespace detail {

/// Stacks one field of a batch, naming the field and the examples whose shapes disagree.
Tensor stack_field(const std::vector<Tensor>& values, const std::string& field);
/// pad_sequence for ≥ 1-d fields and a stack for 0-d ones (labels), as PadCollate does.
Tensor pad_field(const std::vector<Tensor>& values, const std::string& field, bool batch_first, double padding_value);

template <class T>
struct IsStdArray : std::false_type {};
template <class T, std::size_t N>
struct IsStdArray<std::array<T, N>> : std::true_type {};
template <class T>
struct IsPairOrTuple : std::false_type {};
template <class A, class B>
struct IsPairOrTuple<std::pair<A, B>> : std::true_type {};
template <class... T>
struct IsPairOrTuple<std::tuple<T...>> : std::true_type {};
template <class T>
struct IsVector : std::false_type {};
template <class T>
struct IsVector<std::vector<T>> : std::true_type {};
template <class>
inline constexpr bool kAlwaysFalse = false;

template <class E, class Leaf, std::size_t... I>
auto collate_fields(std::vector<E>& examples, const std::string& field, const Leaf& leaf, std::index_sequence<I...>);

/// Collates a field whose values are of type E: `leaf` turns a vector of tensors into one;
/// arrays, vectors, pairs and tuples are collated field by field; numbers become a tensor.
template <class E, class Leaf>
auto collate(std::vector<E>& examples, const std::string& field, const Leaf& leaf) {
  if constexpr (std::is_same_v<E, Tensor>) {
    return leaf(examples, field);
  } else if constexpr (std::is_arithmetic_v<E>) {
    // PyTorch: Python ints become int64, floats float64.
    if constexpr (std::is_integral_v<E>) {
      std::vector<std::int64_t> v(examples.begin(), examples.end());
      return ag::tensor(v, {static_cast<std::int64_t>(v.size())});
    } else {
      std::vector<double> v(examples.begin(), examples.end());
      return ag::tensor(v, {static_cast<std::int64_t>(v.size())}, kFloat64);
    }
  } else if constexpr (IsStdArray<E>::value || IsPairOrTuple<E>::value) {
    return collate_fields(examples, field, leaf, std::make_index_sequence<std::tuple_size_v<E>>{});
  } else if constexpr (IsVector<E>::value) {
    using T = typename E::value_type;
    const std::size_t k = examples.front().size();
    for (std::size_t i = 1; i < examples.size(); ++i)
      AG_CHECK(examples[i].size() == k, "collate", field.empty() ? "" : " of " + field, ": example ", i, " has ",
               examples[i].size(), " fields, example 0 has ", k, "; every example of a batch needs the same fields");
    std::vector<decltype(collate(std::declval<std::vector<T>&>(), field, leaf))> out;
    for (std::size_t f = 0; f < k; ++f) {
      std::vector<T> column;
      for (auto& e : examples) column.push_back(std::move(e[f]));
      out.push_back(collate(column, field + "[" + std::to_string(f) + "]", leaf));
    }
    return out;
  } else {
    static_assert(kAlwaysFalse<E>, "no default collate for this example type: give the DataLoader a collate "
                  "function that turns std::vector<Example> into a batch");
  }
}

template <class E, class Leaf, std::size_t... I>
auto collate_fields(std::vector<E>& examples, const std::string& field, const Leaf& leaf, std::index_sequence<I...>) {
  auto one = [&](auto index) {
    constexpr std::size_t k = decltype(index)::value;
    using T = std::tuple_element_t<k, E>;
    std::vector<T> column;
    column.reserve(examples.size());
    for (auto& e : examples) column.push_back(std::move(std::get<k>(e)));
    return collate(column, field + "[" + std::to_string(k) + "]", leaf);
  };
  if constexpr (IsStdArray<E>::value) {
    using B = decltype(one(std::integral_constant<std::size_t, 0>{}));
    return std::array<B, sizeof...(I)>{one(std::integral_constant<std::size_t, I>{})...};
  } else if constexpr (sizeof...(I) == 2 && std::is_same_v<E, std::pair<std::tuple_element_t<0, E>, std::tuple_element_t<1, E>>>) {
    return std::make_pair(one(std::integral_constant<std::size_t, 0>{}), one(std::integral_constant<std::size_t, 1>{}));
  } else {
    return std::make_tuple(one(std::integral_constant<std::size_t, I>{})...);
  }
}

}  // namespace detail

/// torch.utils.data.default_collate: tensors are stacked into a new first dimension; arrays,
/// vectors, pairs and tuples of them are collated field by field; numbers become an int64 or
/// float64 tensor. Examples of other types need a collate function of your own.
///
///     // examples {x [4], y []} -> batch {x [B, 4], y [B]}
struct DefaultCollate {
  template <class Example>
  auto operator()(std::vector<Example> examples) const {
    AG_CHECK(!examples.empty(), "default_collate: the batch has no examples");
    return detail::collate(examples, "", [](std::vector<Tensor>& v, const std::string& f) {
      return detail::stack_field(v, f);
    });
  }
};

/// Like DefaultCollate, but pads the tensor fields of one or more dimensions with pad_sequence
/// (token sequences of different lengths) while 0-d fields (labels) are stacked.
///
///     ag::data::DataLoader loader(reviews, ag::data::DataLoaderOptions().batch_size(32),
///                                 ag::data::PadCollate().padding_value(0));
///     // examples {tokens [L_i], label []} -> batch {tokens [B, max L], labels [B]}
class PadCollate {
 public:
  PadCollate& batch_first(bool v) { batch_first_ = v; return *this; }
  PadCollate& padding_value(double v) { padding_value_ = v; return *this; }

  template <class Example>
  auto operator()(std::vector<Example> examples) const {
    AG_CHECK(!examples.empty(), "PadCollate: the batch has no examples");
    return detail::collate(examples, "", [this](std::vector<Tensor>& v, const std::string& f) {
      return detail::pad_field(v, f, batch_first_, padding_value_);
    });
  }

 private:
  bool batch_first_ = true;  // a batch of sequences is [B, L] in a training loop
  double padding_value_ = 0.0;
};

template <class Example>
using DefaultBatch = decltype(DefaultCollate{}(std::declval<std::vector<Example>>()));

}  // namespace ag::data

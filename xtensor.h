#pragma once
// A zero-copy bridge between ag tensors and xtensor, the array library ag keeps its data in, for
// programs that already hold their data there. Not part of ag/ag.h, so that the core headers
// stay free of xtensor: include it where you need it (the program then needs xtensor's headers).
//
//     #include "ag/xtensor.h"
//     ag::Tensor t = ag::zeros({2, 3});
//     auto v = ag::as_xtensor<float>(t);        // a strided view onto t's data
//     v(1, 2) = 5;                              // t[1][2] is 5 now
//     ag::Tensor u = ag::from_xtensor(xt::eval(2.0 * v));   // float64, a new tensor

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include <xtensor/xadapt.hpp>
#include <xtensor/xarray.hpp>
#include <xtensor/xstrided_view.hpp>

#include "ag/autograd/error.h"
#include "ag/autograd/tensor.h"

namespace ag {

/// t's elements as an xtensor expression without a copy: a strided view (xt::strided_view of an
/// xt::adapt of t's memory) with t's shape and strides, so that a view such as t.t() or a slice
/// keeps its layout; assigning an expression of another shape throws instead of resizing. Writes through it are writes into
/// t, its base and every view sharing the memory. T must be t's element type (float, double,
/// std::int64_t or bool). t's version counter is bumped when the view is made, as for any
/// in-place change, so that a backward that saved t's old values refuses to run. Like PyTorch's
/// numpy(), a tensor that requires grad is refused: adapt t.detach(), which shares the data.
/// The view is valid while t's storage lives (hold t).
template <class T>
auto as_xtensor(const Tensor& t) {
  AG_CHECK(t.defined(), "as_xtensor: the tensor is undefined");
  AG_CHECK(t.dtype() == dtype_of<T>(), "as_xtensor: the tensor is ", t.dtype(), " (shape ", t.shape(),
           ") but the view asked for is of ", dtype_of<T>(), "; ask for the tensor's own element type or convert it "
           "first with t.to(...)");
  AG_CHECK(!t.requires_grad(), "as_xtensor: the tensor of shape ", t.shape(), " requires grad; writes into its data "
           "would not be recorded. Adapt t.detach() (the same data) instead");
  AG_CHECK(!t.is_sparse(), "as_xtensor: a sparse tensor has no strided data; adapt t.to_dense()");
  std::vector<std::size_t> shape(t.shape().begin(), t.shape().end());
  std::vector<std::ptrdiff_t> strides(t.strides().begin(), t.strides().end());
  std::size_t span = t.numel() == 0 ? 0 : 1;  // elements between the first and the last, inclusive
  for (std::size_t d = 0; d < shape.size() && span > 0; ++d)
    span += (shape[d] - 1) * static_cast<std::size_t>(strides[d]);
  T* data = t.mutable_data_ptr<T>();
  t.mark_modified();
  // A strided view of the flat memory rather than an adaptor with strides: assigning an
  // expression to an adaptor goes through a temporary that replaces its strides with row-major
  // ones, which would write a transposed tensor in the wrong order.
  auto flat = xt::adapt(data, span, xt::no_ownership(), std::vector<std::size_t>{span});
  return xt::strided_view(std::move(flat), std::move(shape), std::move(strides), 0, xt::layout_type::dynamic);
}

/// A new tensor holding the values of an xtensor expression (evaluated once, row-major): float
/// gives float32, double float64, bool bool and other integer types int64.
///
///     ag::Tensor t = ag::from_xtensor(xt::xarray<double>{{1, 2}, {3, 4}});   // float64 [2, 2]
template <class E>
Tensor from_xtensor(const xt::xexpression<E>& expression) {
  using V = std::decay_t<typename E::value_type>;
  static_assert(std::is_arithmetic_v<V>, "from_xtensor: the expression's values must be numbers or bools");
  using T = std::conditional_t<std::is_same_v<V, bool>, bool,
                               std::conditional_t<std::is_same_v<V, double>, double,
                                                  std::conditional_t<std::is_floating_point_v<V>, float, std::int64_t>>>;
  const E& e = expression.derived_cast();
  Shape shape;
  for (std::size_t d = 0; d < e.dimension(); ++d) shape.push_back(static_cast<std::int64_t>(e.shape()[d]));
  Tensor out = empty(shape, dtype_of<T>());
  auto view = as_xtensor<T>(out);
  view = xt::cast<T>(e);
  return out;
}

}  // namespace ag

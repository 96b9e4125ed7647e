#pragma once
// Activation checkpointing: trade compute for memory. A checkpointed function keeps none of its
// intermediate results; backward runs it again to get them.

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

/// fn(inputs) without saving its activations: only the inputs (and the random generator's
/// state) are kept, and backward recomputes fn with the same random numbers (so dropout masks
/// repeat), then backpropagates through the recomputation. As PyTorch's reentrant
/// torch.utils.checkpoint: gradients go to the inputs and into every parameter's .grad, so use
/// it with backward(), not ag::grad over the parameters.
///
///     auto y = ag::checkpoint([&](const std::vector<ag::Tensor>& in) { return block(in[0]); }, {x});
Tensor checkpoint(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs);

namespace detail {
template <class F, std::size_t... I>
Tensor call_with(const F& fn, const std::vector<Tensor>& in, std::index_sequence<I...>) {
  return fn(in[I]...);
}
}  // namespace detail

/// checkpoint(fn, {inputs...}) with fn taking the tensors as arguments:
///
///     auto y = ag::checkpoint([&](const ag::Tensor& a, const ag::Tensor& b) { return (a * b).tanh(); }, a, b);
template <class F, class... Ts, std::enable_if_t<(std::is_same_v<std::decay_t<Ts>, Tensor> && ...), int> = 0>
Tensor checkpoint(F fn, const Ts&... inputs) {
  return checkpoint(std::function<Tensor(const std::vector<Tensor>&)>([fn](const std::vector<Tensor>& in) {
                      return detail::call_with(fn, in, std::index_sequence_for<Ts...>{});
                    }),
                    std::vector<Tensor>{inputs...});
}

}  // namespace ag

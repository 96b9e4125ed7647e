#pragma once
// The backward pass: ag::backward accumulates into leaves' .grad, ag::grad returns gradients.

#include <optional>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

/// Accumulates d(sum of tensors[i] * grad_tensors[i]) / d(leaf) into every leaf's grad().
/// A one-element tensor needs no grad_tensor. The graph's saved tensors are freed as the pass
/// walks it unless retain_graph (default: create_graph); create_graph records the backward
/// pass itself, for higher-order derivatives. That recorded graph ends at the leaves, so a leaf's
/// grad() then holds the leaf itself: a reference cycle, as in PyTorch. Free it with
/// `leaf.set_grad({})` (or zero_grad()) when done, or use ag::grad, which touches no .grad.
///
///     auto loss = (w * x).sum();
///     ag::backward({loss});          // same as loss.backward()
void backward(const std::vector<Tensor>& tensors, const std::vector<Tensor>& grad_tensors = {},
              std::optional<bool> retain_graph = std::nullopt, bool create_graph = false);

/// The gradients of `outputs` with respect to `inputs`, without touching any .grad.
/// An input the outputs do not depend on throws unless allow_unused (then it is undefined).
///
///     auto [dy] = ag::grad({y}, {x}, {}, true, true);   // create_graph: dy is differentiable
///     auto d2y = ag::grad({dy.sum()}, {x})[0];
std::vector<Tensor> grad(const std::vector<Tensor>& outputs, const std::vector<Tensor>& inputs,
                         const std::vector<Tensor>& grad_outputs = {}, std::optional<bool> retain_graph = std::nullopt,
                         bool create_graph = false, bool allow_unused = false);

}  // namespace ag

#pragma once
// Looking inside the graph: a text listing and Graphviz DOT.

#include <string>
#include <utility>
#include <vector>

#include "ag/autograd/tensor.h"

namespace ag {

/// Tensors to label by name in a graph picture, e.g. {{"w", w}, {"x", x}}.
using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

/// The graph behind `root` as Graphviz DOT: one box per op (name, output shape, saved
/// tensors, whether backward freed it), one ellipse per leaf, arrows in the forward direction.
///
///     std::ofstream("graph.dot") << ag::to_dot(loss, {{"w", w}});
std::string to_dot(const Tensor& root, const NamedTensors& names = {});

/// The same graph as indented text, one node per line, root first:
///
///     SumBackward1  -> []  float32
///       MulBackward0  -> [2, 5]  saved 2
///         AccumulateGrad  w [2, 5]
std::string graph_str(const Tensor& root, const NamedTensors& names = {});

}  // namespace ag

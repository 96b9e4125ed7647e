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

/// What to_dot draws besides the ops: the tensors named (leaves and, when named, outputs of ops)
/// and, with `grads`, each named tensor's value and gradient, as micrograd's draw_dot does.
struct DotOptions {
  NamedTensors names;
  bool grads = false;
};

/// to_dot with options; after backward, `grads` shows every leaf's .grad (and a named non-leaf's
/// when it retain_grad()ed):
///
///     loss.backward();
///     std::ofstream("graph.dot") << ag::to_dot(loss, {{{"w", w}}, /*grads=*/true});
std::string to_dot(const Tensor& root, const DotOptions& options);

/// The same graph as indented text, one node per line, root first:
///
///     SumBackward1  -> []  float32
///       MulBackward0  -> [2, 5]  saved 2
///         AccumulateGrad  w [2, 5]
///
/// Its size is linear in the graph's: a node reached again says "(#3, shown above)", indentation
/// stops at 32 levels (deeper lines start with "[depth N]"), and a chain of more than 11 one-input
/// nodes shows its first and last 5 nodes around a line "... N more nodes in a chain (AddBackward0
/// x600, ...) ...".
std::string graph_str(const Tensor& root, const NamedTensors& names = {});

}  // namespace ag

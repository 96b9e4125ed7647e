// A look inside ag's autograd: the graph an expression records, what each node saved, how
// gradients accumulate, retain_graph, hooks, a second derivative, a trace of backward as it runs
// and anomaly mode.
//
//   build/examples/autograd_graph [--out DIR]     writes DIR/graph.dot, DIR/graph_grads.dot (and
//                                                 graph.png with graphviz)

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>

#include "ag/autograd/autograd.h"
#include "ag/nn/nn.h"

using namespace ag;

namespace {

void title(const char* t) { std::cout << "\n== " << t << " ==\n"; }

/// The sentiment model's loss for one tiny batch: Embedding -> masked mean -> Linear -> cross-entropy.
Tensor sentiment_loss(nn::Embedding& emb, nn::Linear& fc) {
  Tensor tokens = tensor({{1, 1, 2}, {3, 3, 0}});  // 优优良, 差差<pad>
  Tensor labels = tensor({1, 0});
  Tensor e = emb(tokens);
  Tensor m = (tokens != 0).to(kFloat32).unsqueeze(-1);
  return cross_entropy(fc((e * m).sum(1) / m.sum(1)), labels);
}

}  // namespace

int main(int argc, char** argv) {
  std::string out_dir = ".";
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], "--out") == 0) out_dir = argv[i + 1];
  manual_seed(0);

  title("1. Every op records a node: y = sum(w * x + b)");
  Tensor w = tensor({2.0, -1.0, 0.5}, requires_grad());
  Tensor b = tensor(1.0, requires_grad());
  Tensor x = tensor({1.0, 2.0, 3.0});
  Tensor y = (w * x + b).sum();
  std::cout << "y = " << y << "\n" << graph_str(y, {{"w", w}, {"b", b}});
  std::cout << "(MulBackward0 saved w and x: d(w*x)/dw = x needs x. Leaves are AccumulateGrad.)\n";

  title("2. backward() walks the graph from y to the leaves");
  y.backward();
  std::cout << "dy/dw = x = " << w.grad() << "\ndy/db = 3 = " << b.grad() << "\n";
  std::cout << "after backward the saved tensors are freed:\n" << graph_str(y, {{"w", w}, {"b", b}});

  title("3. Gradients accumulate: a second graph adds to w.grad");
  (w * w).sum().backward();
  std::cout << "w.grad = x + 2w = " << w.grad() << "   (zero it between steps: optimizer.zero_grad())\n";

  title("4. retain_graph keeps the saved tensors for a second backward");
  w.set_grad(Tensor());
  Tensor z = (w * w * w).sum();
  z.backward({}, /*retain_graph=*/true);
  z.backward();
  std::cout << "two backwards of sum(w^3): w.grad = 2 * 3w^2 = " << w.grad() << "\n";
  try {
    z.backward();
  } catch (const std::logic_error& e) {
    std::cout << "a third one fails: " << e.what() << "\n";
  }

  title("5. A hook sees (and may change) a gradient as it flows");
  w.set_grad(Tensor());
  Tensor h = w * 3;
  h.register_hook([](const Tensor& g) {
    std::cout << "hook on h got " << g << "\n";
    return Tensor();  // keep it unchanged
  });
  (h * h).sum().backward();
  std::cout << "w.grad = 18w = " << w.grad() << "\n";

  title("6. A second derivative: backward of a backward (create_graph)");
  Tensor t = tensor({0.5}, requires_grad());
  Tensor f = tanh(t);
  Tensor df = ag::grad({f}, {t}, {}, true, /*create_graph=*/true)[0];
  Tensor d2f = ag::grad({df}, {t})[0];
  std::cout << "tanh'(0.5) = 1 - tanh^2 = " << df.item<double>() << "\ntanh''(0.5) = -2 tanh (1 - tanh^2) = "
            << d2f.item<double>() << "\n";

  title("7. The sentiment model's loss, as a graph");
  nn::Embedding emb(nn::EmbeddingOptions(4, 3).padding_idx(0));
  nn::Linear fc(3, 2);
  Tensor loss = sentiment_loss(emb, fc);
  NamedTensors names{{"emb.weight", emb.weight}, {"fc.weight", fc.weight}, {"fc.bias", fc.bias}};
  std::cout << "loss = " << loss << "\n" << graph_str(loss, names);
  std::string dot_path = out_dir + "/graph.dot";
  std::ofstream(dot_path) << to_dot(loss, names);
  std::cout << "wrote " << dot_path << "\n";
  if (std::system("command -v dot >/dev/null 2>&1") == 0) {
    std::string png = out_dir + "/graph.png";
    if (std::system(("dot -Tpng '" + dot_path + "' -o '" + png + "'").c_str()) == 0) std::cout << "wrote " << png << "\n";
  } else {
    std::cout << "(install graphviz to render it: dot -Tpng graph.dot -o graph.png)\n";
  }
  loss.backward();
  std::cout << "emb.weight.grad (row 0, the padding, stays zero):\n" << emb.weight.grad() << "\n";

  title("8. Watching backward: every node the engine ran, in order, with its gradients");
  emb.zero_grad();
  fc.zero_grad();
  Tensor loss2 = sentiment_loss(emb, fc);
  {
    BackwardTrace trace;  // records while it lives
    loss2.backward();
    std::cout << trace;
  }
  std::string grads_path = out_dir + "/graph_grads.dot";
  std::ofstream(grads_path) << to_dot(loss2, DotOptions{names, /*grads=*/true});
  std::cout << "wrote " << grads_path << " (each leaf with its value and its gradient)\n";

  title("9. Anomaly mode: the backward step that made a NaN, and the forward op behind it");
  Tensor u = tensor({4.0, 0.0}, requires_grad());
  try {
    DetectAnomalyGuard anomaly;
    Tensor r;
    {
      AnomalyLabel label("the square root");
      r = sqrt(u);
    }
    (r * 0).sum().backward();  // d sqrt(u)/du at 0 is inf, and inf * 0 is NaN
  } catch (const AnomalyError& e) {
    std::cout << e.what() << "\n";
  }
}

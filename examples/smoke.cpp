// A first look at ag: a tiny graph, its gradient, and the graph itself.
#include <iostream>

#include "autograd/autograd.h"

int main() {
  ag::manual_seed(1);
  auto x = ag::tensor({1.0, 2.0, 3.0}, ag::requires_grad());
  auto y = (x * x + x).sum();
  std::cout << "x = " << x << "\ny = sum(x*x + x) = " << y << "\n";
  y.backward();
  std::cout << "dy/dx = 2x + 1 = " << x.grad() << "\n\n" << ag::graph_str(y, {{"x", x}});
}

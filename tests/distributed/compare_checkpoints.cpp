// compare_checkpoints A B TOL: exit 0 when the two checkpoints hold the same model tensors
// (names and shapes) equal to TOL relative error (|a - b| <= TOL * max|b|), else 1 with the reason.

#include <cmath>
#include <cstdlib>
#include <iostream>

#include "ag/serialize/serialize.h"

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: compare_checkpoints A B TOL\n";
    return 2;
  }
  ag::Checkpoint a = ag::load_checkpoint(argv[1]), b = ag::load_checkpoint(argv[2]);
  double tol = std::atof(argv[3]), worst = 0;
  if (a.model.size() != b.model.size()) {
    std::cerr << "different numbers of tensors\n";
    return 1;
  }
  for (const auto& [name, ta] : a.model.items()) {
    const ag::Tensor* tb = b.model.find(name);
    if (!tb || tb->shape() != ta.shape()) {
      std::cerr << name << ": missing or of another shape in " << argv[2] << "\n";
      return 1;
    }
    std::vector<double> x = ta.to_vector<double>(), y = tb->to_vector<double>();
    double scale = 1e-30, diff = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      scale = std::max(scale, std::abs(y[i]));
      diff = std::max(diff, std::abs(x[i] - y[i]));
    }
    worst = std::max(worst, diff / scale);
  }
  std::cout << "largest relative difference " << worst << "\n";
  return worst <= tol ? 0 : 1;
}

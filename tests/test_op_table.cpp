// Every op of autograd/ops.h through its row of the op table (op_table.h): first and second
// derivatives against finite differences in float64, on contiguous, transposed and stepped-slice
// inputs; ops without a gradient give the same values on every layout. An op declared in ops.h
// without a row fails OpTable.EveryOpOfOpsHHasARow.

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "op_table.h"
#include "test_util.h"

namespace {

std::set<std::string> ops_declared_in_ops_h() {
  std::ifstream in(std::string(AG_SOURCE_DIR) + "/autograd/ops.h");
  if (!in) throw std::runtime_error("cannot read autograd/ops.h");
  std::stringstream text;
  text << in.rdbuf();
  // A declaration of a free function returning tensors, at the start of a line.
  const std::regex decl(R"(^(?:Tensor&?|std::tuple<Tensor, Tensor>|std::vector<Tensor>) +([a-z_0-9]+)\()");
  std::set<std::string> names;
  std::string line;
  while (std::getline(text, line)) {
    std::smatch m;
    if (std::regex_search(line, m, decl)) names.insert(m[1]);
  }
  return names;
}

class OpRow : public ::testing::TestWithParam<std::size_t> {};

TEST_P(OpRow, GradientsOnEveryLayout) {
  const optable::Row& row = optable::rows()[GetParam()];
  optable::Inputs inputs = row.inputs();
  if (row.differentiable) {
    if (row.second_order) testutil::check_both(row.fn, inputs);
    else testutil::check_first(row.fn, inputs);
  } else {
    testutil::on_noncontiguous_inputs(row.fn, inputs, [](const optable::Inputs&) {});
  }
}

std::string row_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return optable::rows()[info.param].op + "_" + std::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(Ops, OpRow, ::testing::Range<std::size_t>(0, optable::rows().size()), row_name);

}  // namespace

TEST(OpTable, EveryOpOfOpsHHasARow) {
  std::set<std::string> declared = ops_declared_in_ops_h();
  ASSERT_GT(declared.size(), 50u);
  std::set<std::string> with_rows;
  for (const optable::Row& r : optable::rows()) with_rows.insert(r.op);
  for (const std::string& op : declared)
    EXPECT_TRUE(with_rows.count(op)) << op << " is declared in autograd/ops.h but has no row in tests/op_table.h";
  for (const std::string& op : with_rows) EXPECT_TRUE(declared.count(op)) << "the row " << op << " names no op of ops.h";
}

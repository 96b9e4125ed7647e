// The bool dtype and type promotion against PyTorch 1.13 (tests/data/bool.json, made by
// make_bool.py): result dtypes of every pair of dtypes with 0-d and 1-d operands and with Python
// numbers, printing, logic, predicates, any/all/nonzero/count_nonzero, masks, and the errors.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "ag/autograd/autograd.h"
#include "test_util.h"

using namespace ag;
using json = nlohmann::json;
using testutil::expect_throw_with;

namespace {

const json& doc() {
  static const json d = [] {
    std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/bool.json");
    if (!in) throw std::runtime_error("cannot open tests/data/bool.json");
    return json::parse(in);
  }();
  return d;
}

Dtype dtype_named(const std::string& n) {
  if (n == "bool") return kBool;
  if (n == "int64") return kInt64;
  if (n == "float32") return kFloat32;
  return kFloat64;
}

double number(const json& v) {
  if (v.is_string()) {
    const std::string s = v;
    return s == "nan" ? NAN : s == "inf" ? INFINITY : -INFINITY;
  }
  return v.get<double>();
}

/// The operand make_bool.py used: three values of the dtype, or the first as a 0-d tensor.
Tensor sample(const std::string& dtype, bool zero_d) {
  std::vector<double> v = dtype == "bool" ? std::vector<double>{1, 0, 1}
                          : dtype == "int64" ? std::vector<double>{3, -2, 0}
                          : dtype == "float32" ? std::vector<double>{1.5, -0.5, 2.0}
                                               : std::vector<double>{0.25, 3.0, -1.0};
  Tensor t = tensor(v, {3}, dtype_named(dtype));
  return zero_d ? t[0].clone() : t;
}

void expect_result(const Tensor& r, const json& want, const std::string& what) {
  SCOPED_TRACE(what);
  ASSERT_FALSE(want.contains("error")) << "PyTorch refused: " << want.at("error");
  EXPECT_EQ(dtype_name(r.dtype()), want.at("dtype").get<std::string>());
  std::vector<double> got = r.to_vector<double>();
  const json& exp = want.at("values");
  ASSERT_EQ(got.size(), exp.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    double e = number(exp[i]);
    if (std::isnan(e)) EXPECT_TRUE(std::isnan(got[i])) << i;
    else if (got[i] != e) EXPECT_NEAR(got[i], e, 1e-6 * std::max(1.0, std::abs(e))) << i;
  }
}

}  // namespace

TEST(Promotion, TensorPairsFollowPyTorchsCategories) {
  std::size_t rows = 0;
  for (const json& r : doc().at("promotion")) {
    const std::string a = r.at("a"), b = r.at("b");
    const bool a0 = r.at("a0"), b0 = r.at("b0");
    SCOPED_TRACE(a + (a0 ? " 0-d" : "") + " with " + b + (b0 ? " 0-d" : ""));
    Tensor x = sample(a, a0), y = sample(b, b0);
    expect_result(add(x, y), r.at("add"), "add");
    expect_result(mul(x, y), r.at("mul"), "mul");
    expect_result(div(x, y), r.at("div"), "div");
    expect_result(eq(x, y), r.at("eq"), "eq");
    expect_result(maximum(x, y), r.at("maximum"), "maximum");
    expect_result(where(scalar_tensor(true), x, y), r.at("where"), "where");
    ++rows;
  }
  EXPECT_EQ(rows, 64u);
}

TEST(Promotion, NumbersPromoteOnlyToAHigherCategory) {
  for (const json& r : doc().at("scalar_promotion")) {
    const std::string a = r.at("a"), kind = r.at("kind");
    Tensor x = sample(a, false);
    Scalar s = kind == "bool" ? Scalar(r.at("scalar").get<bool>())
               : kind == "int" ? Scalar(r.at("scalar").get<int>())
                               : Scalar(r.at("scalar").get<double>());
    SCOPED_TRACE(a + " with a " + kind);
    expect_result(x + s, r.at("add"), "add");
    expect_result(x * s, r.at("mul"), "mul");
    expect_result(x > s, r.at("gt"), "gt");
  }
}

TEST(BoolPrinting, MatchesPyTorch) {
  for (const auto& [name, p] : doc().at("prints").items()) {
    SCOPED_TRACE(name);
    std::vector<double> v;
    for (const json& b : p.at("values")) v.push_back(b.get<bool>() ? 1.0 : 0.0);
    Tensor t = tensor(v, Shape(p.at("shape").get<std::vector<std::int64_t>>()), kBool);
    std::ostringstream os;
    os << t;
    EXPECT_EQ(os.str(), p.at("str").get<std::string>());
  }
  EXPECT_EQ(tensor({true, false}).dtype(), kBool);
  EXPECT_EQ((tensor({1.0, 2.0, 3.0}) > 1.5).str(), doc().at("prints").at("cmp").at("str").get<std::string>());
}

TEST(BoolLogic, PredicatesLogicReductionsAndMasksMatchPyTorch) {
  const json& in = doc().at("inputs");
  std::vector<double> xv;
  for (const json& row : in.at("x"))
    for (const json& v : row) xv.push_back(number(v));
  Tensor x = tensor(xv, {2, 3}, kFloat32);
  Tensor m = tensor({{true, false, true}, {false, false, true}});
  Tensor k = tensor({{0, 3, 0}, {-1, 0, 0}});
  auto nan_to = [](const Tensor& t, double v) { return where(isnan(t), full_like(t, v), t); };
  const std::map<std::string, Tensor> got = {
      {"isnan", isnan(x)}, {"isinf", isinf(x)}, {"isfinite", isfinite(x)}, {"logical_not_x", logical_not(x)},
      {"logical_and_mk", logical_and(m, k)}, {"logical_or_mk", logical_or(m, k)}, {"logical_xor_mk", logical_xor(m, k)},
      {"and_mm", m & index(m, {Tensor(), tensor({2, 1, 0})})}, {"or_mm", m | index(m, {Tensor(), tensor({2, 1, 0})})},
      {"xor_mm", m ^ index(m, {Tensor(), tensor({2, 1, 0})})}, {"not_m", ~m},
      {"any_m", m.any()}, {"all_m", m.all()}, {"any_m1", m.any(1)}, {"all_m0", m.all(0)}, {"any_k0_keep", k.any(0, true)},
      {"nonzero_m", m.nonzero()}, {"nonzero_k", k.nonzero()}, {"count_nonzero_k", count_nonzero(k)},
      {"count_nonzero_k1", count_nonzero(k, 1)}, {"sum_m", m.sum()}, {"sum_m0", m.sum(0)},
      {"masked_select", nan_to(x, 0.0).masked_select(m)}, {"masked_fill", x.masked_fill(m, 7.0)},
      {"where", where(m, nan_to(x, 9.0), scalar_tensor(-1.0))}, {"bool_from_float", nan_to(x, 0.0).to(kBool)},
      {"float_from_bool", m.to(kFloat32)}, {"int_from_bool", m.to(kInt64)},
      {"bool_plus_bool", m + index(m, {Tensor(), tensor({2, 1, 0})})},
      {"bool_times_bool", m * index(m, {Tensor(), tensor({2, 1, 0})})},
      {"bool_max", maximum(m, index(m, {Tensor(), tensor({2, 1, 0})}))},
      {"all_empty", zeros({0}, kBool).all()}, {"any_empty", zeros({0}, kBool).any()}};
  for (const auto& [name, want] : doc().at("results").items()) {
    ASSERT_TRUE(got.count(name)) << name;
    EXPECT_EQ(got.at(name).shape(), Shape(want.at("shape").get<std::vector<std::int64_t>>())) << name;
    expect_result(got.at(name), want, name);
  }
}

TEST(BoolErrors, ArithmeticPyTorchRefusesIsRefusedNamingTheFix) {
  Tensor m = tensor({true, false});
  expect_throw_with<std::invalid_argument>([&] { -m; }, {"neg", "bool", "logical_not", "~"});
  expect_throw_with<std::invalid_argument>([&] { m - m; }, {"sub", "bool", "logical_xor", "^"});
  expect_throw_with<std::invalid_argument>([&] { 1 - m; }, {"rsub", "bool", "logical_not"});
  expect_throw_with<std::invalid_argument>([&] { m.mean(); }, {"mean", "bool"});
  expect_throw_with<std::invalid_argument>([&] { where(tensor({1, 0}), m, m); }, {"where", "bool", "int64"});
  expect_throw_with<std::invalid_argument>([&] { zeros({2}).masked_fill(tensor({1, 0}), 1.0); },
                                           {"masked_fill", "bool", "int64"});
  expect_throw_with<std::invalid_argument>([&] { zeros({2, 3}).masked_fill(tensor({true, false}), 1.0); },
                                           {"masked_fill", "[2]", "[2, 3]"});
  expect_throw_with<std::invalid_argument>([&] { tensor({1.5, 2.5}) & tensor({true, false}); }, {"bitwise_and", "float"});
  expect_throw_with<std::invalid_argument>([&] { m.requires_grad_(); }, {"requires_grad_", "bool"});
  // PyTorch's own messages for these, for comparison:
  for (const auto& [name, msg] : doc().at("errors").items()) EXPECT_FALSE(msg.is_null()) << name;
}

TEST(BoolMasks, GradientsFlowThroughWhereAndMaskedFill) {
  Tensor a = testutil::input({3, 4}, 1), b = testutil::input({3, 4}, 2);
  testutil::check_both([](auto& v) { return where(v[0] > v[1], v[0] * v[1], v[1]); }, {a, b});
  testutil::check_both([](auto& v) { return v[0].masked_fill(v[0] < 0, 0.5) * v[1]; }, {a, b});
  testutil::check_both([](auto& v) { return v[0].masked_select(v[1] > 0); }, {a, b});
  testutil::check_both([](auto& v) { return masked_fill(v[0], v[0] > 0, v[1].sum()); }, {a, b});
}

TEST(Clamp, MinAboveMaxGivesMaxEverywhereAsPyTorch) {
  EXPECT_EQ(clamp(tensor({1.0f, 5.0f, 10.0f}), 6, 3).to_vector<float>(), (std::vector<float>{3, 3, 3}));
  EXPECT_EQ(clamp(tensor({1, 5, 10}), 6, 3).to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 3, 3}));
  Tensor x = tensor({1.0, 5.0, 10.0}, TensorOptions(kFloat64).requires_grad(true));
  clamp(x, 6, 3).sum().backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

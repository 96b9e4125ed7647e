// Strided views against PyTorch 1.13: the programs of tests/data/views.json (made by
// make_views.py) run through the same small interpreter here. Every named tensor must have
// PyTorch's values; views must also have its shape, strides and storage offset and share storage
// with exactly the tensors PyTorch's share with; outputs of other ops are contiguous; the leaves'
// gradients match to 1e-10 relative, and where PyTorch's backward refuses, ag's refuses too.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"

using namespace ag;
using json = nlohmann::json;

namespace {

const json& programs() {
  static const json doc = [] {
    std::ifstream in(std::string(AG_TEST_DATA_DIR) + "/views.json");
    if (!in) throw std::runtime_error("cannot open tests/data/views.json");
    return json::parse(in);
  }();
  return doc.at("programs");
}

// Ops whose result is a new tensor (contiguous in ag; PyTorch may keep its input's layout).
const std::set<std::string> kNonView = {"mul", "mul_t", "add_t", "exp", "tanh", "pow2", "cumul", "sumall", "sumall2",
                                        "cat2", "matmul", "linear", "sum_dim", "mean_dim", "amax_dim", "softmax",
                                        "log_softmax", "gt", "where", "masked_fill", "masked_select", "index_put"};

struct Env {
  std::map<std::string, Tensor> t;
  std::map<std::string, std::string> made_by;   // name -> op
  std::map<std::string, std::string> input_of;  // name -> the tensor the op viewed
  std::vector<std::string> leaves;
  const Tensor& at(const json& name) const { return t.at(name.get<std::string>()); }

  /// Whether the tensor a view was made from has PyTorch's layout too: a view of an op's output
  /// may differ, as PyTorch lays some outputs out like their inputs where ag makes them contiguous.
  bool layout_as_pytorch(const std::string& name, const json& prog) const {
    auto it = input_of.find(name);
    if (it == input_of.end()) return true;  // a leaf
    const std::string& src = it->second;
    const json& want = prog.at("tensors").at(src);
    if (t.at(src).strides() != Shape(want.at("strides").get<std::vector<std::int64_t>>()) ||
        t.at(src).storage_offset() != want.at("offset").get<std::int64_t>())
      return false;
    return layout_as_pytorch(src, prog);
  }
};

std::optional<std::int64_t> opt(const json& v) {
  if (v.is_null()) return std::nullopt;
  return v.get<std::int64_t>();
}

std::vector<indexing::TensorIndex> make_index(const Env& env, const json& spec) {
  using namespace indexing;
  std::vector<TensorIndex> out;
  for (const json& e : spec) {
    const std::string k = e[0];
    if (k == "i") out.emplace_back(e[1].get<std::int64_t>());
    else if (k == "s") out.emplace_back(Slice(opt(e[1]), opt(e[2]), opt(e[3])));
    else if (k == "n") out.emplace_back(None);
    else if (k == "e") out.emplace_back(Ellipsis);
    else if (k == "b") out.emplace_back(e[1].get<bool>());
    else out.emplace_back(env.at(e[1]));
  }
  return out;
}

std::vector<Tensor> tensor_list(const Env& env, const json& names) {
  std::vector<Tensor> out;
  for (const json& n : names) out.push_back(n.is_null() ? Tensor() : env.at(n));
  return out;
}

Shape shape_of(const json& v) { return Shape(v.get<std::vector<std::int64_t>>()); }

void run(const json& prog, Env& env) {
  for (const json& s : prog) {
    const std::string op = s.at("op");
    if (op == "leaf") {
      const Shape shape = shape_of(s.at("shape"));
      Tensor t = s.at("dtype") == "int64"
                     ? tensor(s.at("values").get<std::vector<std::int64_t>>(), shape)
                     : tensor(s.at("values").get<std::vector<double>>(), shape, kFloat64);
      if (s.at("requires_grad").get<bool>()) {
        t.requires_grad_(true);
        env.leaves.push_back(s.at("out"));
      }
      env.t[s.at("out")] = t;
      env.made_by[s.at("out")] = "leaf";
      continue;
    }
    const json& a = s.at("args");
    Tensor x = a.empty() ? Tensor() : env.at(a[0]);
    auto i64 = [&](std::size_t k) { return a[k].get<std::int64_t>(); };
    auto num = [&](std::size_t k) { return a[k].get<double>(); };
    Tensor r;
    if (op == "transpose") r = x.transpose(i64(1), i64(2));
    else if (op == "permute") r = x.permute(a[1].get<std::vector<std::int64_t>>());
    else if (op == "select") r = x.select(i64(1), i64(2));
    else if (op == "narrow") r = x.narrow(i64(1), i64(2), i64(3));
    else if (op == "slice") r = x.slice(i64(1), opt(a[2]), opt(a[3]), a[4].is_null() ? 1 : i64(4));
    else if (op == "unsqueeze") r = x.unsqueeze(i64(1));
    else if (op == "squeeze") r = x.squeeze();
    else if (op == "squeeze_dim") r = x.squeeze(i64(1));
    else if (op == "flatten") r = x.flatten(i64(1), i64(2));
    else if (op == "unflatten") r = x.unflatten(i64(1), shape_of(a[2]));
    else if (op == "view") r = x.view(shape_of(a[1]));
    else if (op == "reshape") r = x.reshape(shape_of(a[1]));
    else if (op == "diagonal") r = a.size() > 2 ? x.diagonal(i64(1), i64(2), i64(3)) : x.diagonal(i64(1));
    else if (op == "unfold") r = x.unfold(i64(1), i64(2), i64(3));
    else if (op == "as_strided") r = x.as_strided(shape_of(a[1]), shape_of(a[2]), i64(3));
    else if (op == "expand") r = x.expand(shape_of(a[1]));
    else if (op == "t") r = x.t();
    else if (op == "split_at") r = x.split(i64(1), i64(2))[i64(3)];
    else if (op == "chunk_at") r = x.chunk(i64(1), i64(2))[i64(3)];
    else if (op == "unbind_at") r = x.unbind(i64(1))[i64(2)];
    else if (op == "contiguous") r = x.contiguous();
    else if (op == "clone") r = x.clone();
    else if (op == "detach") r = x.detach();
    else if (op == "mul") r = x * num(1);
    else if (op == "mul_t") r = x * env.at(a[1]);
    else if (op == "add_t") r = x + env.at(a[1]);
    else if (op == "exp") r = x.exp();
    else if (op == "tanh") r = x.tanh();
    else if (op == "pow2") r = x * x;
    else if (op == "cumul") r = x * arange(1, x.numel() + 1, 1, x.dtype()).reshape(x.shape());
    else if (op == "sumall") r = x.sum();
    else if (op == "sumall2") r = (x * x).sum() + env.at(a[1]).sum() * 0.5;
    else if (op == "cat2") r = cat({x, env.at(a[1])}, i64(2));
    else if (op == "matmul") r = x.matmul(env.at(a[1]));
    else if (op == "linear") r = linear(x, env.at(a[1]));
    else if (op == "sum_dim") r = x.sum(i64(1));
    else if (op == "mean_dim") r = x.mean(i64(1));
    else if (op == "amax_dim") r = x.amax({i64(1)});
    else if (op == "softmax") r = x.softmax(i64(1));
    else if (op == "log_softmax") r = x.log_softmax(i64(1));
    else if (op == "gt") r = a[1].is_string() ? x > env.at(a[1]) : x > num(1);
    else if (op == "where") r = where(x, env.at(a[1]), env.at(a[2]));
    else if (op == "masked_fill") r = x.masked_fill(env.at(a[1]), num(2));
    else if (op == "masked_select") r = x.masked_select(env.at(a[1]));
    else if (op == "index") r = x.index(make_index(env, a[1]));
    else if (op == "index_put") r = index_put(x, tensor_list(env, a[1]), env.at(a[2]), a[3].get<bool>());
    else if (op == "fill_") x.fill_(num(1));
    else if (op == "zero_") x.zero_();
    else if (op == "add_") x.add_(num(1));
    else if (op == "mul_") x.mul_(num(1));
    else if (op == "mul_t_") x.mul_(env.at(a[1]));
    else if (op == "add_t_") x.add_(env.at(a[1]));
    else if (op == "clamp_") x.clamp_(num(1), num(2));
    else if (op == "copy_") {
      const std::string src = a[1];
      if (!env.t.count(src)) {
        env.t[src] = tensor(s.at("src_values").get<std::vector<double>>(), x.shape(), kFloat64);
        env.made_by[src] = "leaf";
      }
      x.copy_(env.t.at(src));
    } else if (op == "masked_fill_") x.masked_fill_(env.at(a[1]), num(2));
    else if (op == "index_put_") x.index_put_(make_index(env, a[1]), env.at(a[2]));
    else if (op == "index_put_scalar") x.index_put_(make_index(env, a[1]), num(2));
    else if (op == "index_put_acc") index_put_(x, tensor_list(env, a[1]), env.at(a[2]), true);
    else if (op == "assign_row") x[i64(1)] = env.at(a[2]);  // LibTorch's x[i] = t
    else FAIL() << "unknown op " << op;
    if (!s.at("out").is_null()) {
      env.t[s.at("out")] = r;
      env.made_by[s.at("out")] = op;
      if (!a.empty() && a[0].is_string()) env.input_of[s.at("out")] = a[0];
    }
  }
}

void expect_values(const Tensor& t, const json& want, const std::string& what) {
  std::vector<double> got = t.to_vector<double>();
  std::vector<double> exp = want.get<std::vector<double>>();
  ASSERT_EQ(got.size(), exp.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_LE(std::abs(got[i] - exp[i]), 1e-10 * std::max(1.0, std::abs(exp[i]))) << what << " element " << i;
}

class Views : public ::testing::TestWithParam<std::size_t> {};

TEST_P(Views, MatchPyTorch) {
  const json& p = programs()[GetParam()];
  SCOPED_TRACE(p.at("name").get<std::string>());
  Env env;
  run(p.at("statements"), env);
  if (p.contains("backward_error")) {
    EXPECT_THROW(env.t.at("L").backward(), std::logic_error) << "PyTorch refused: " << p.at("backward_error");
    return;
  }
  if (env.t.count("L") && env.t.at("L").requires_grad()) env.t.at("L").backward();
  for (const auto& [name, want] : p.at("tensors").items()) {
    SCOPED_TRACE(name);
    const Tensor& t = env.t.at(name);
    EXPECT_EQ(t.shape(), shape_of(want.at("shape")));
    const std::string dtype = want.at("dtype");
    EXPECT_EQ(dtype_name(t.dtype()), dtype == "long" ? "int64" : dtype == "double" ? "float64" : dtype);
    expect_values(t, want.at("values"), name);
    const std::string made = env.made_by.at(name);
    const bool copy = kNonView.count(made) || (made == "index" && !t.is_view());
    if (copy) {
      EXPECT_TRUE(t.is_contiguous()) << name << " made by " << made;
    } else if (env.layout_as_pytorch(name, p)) {
      EXPECT_EQ(t.strides(), shape_of(want.at("strides")));
      EXPECT_EQ(t.storage_offset(), want.at("offset").get<std::int64_t>());
    }
    std::set<std::string> shares;
    for (const auto& [other, u] : env.t)
      if (other != name && u.defined() && u.is_alias_of(t)) shares.insert(other);
    std::set<std::string> want_shares;
    for (const json& o : p.at("shares").at(name))
      if (env.t.count(o.get<std::string>())) want_shares.insert(o.get<std::string>());
    EXPECT_EQ(shares, want_shares) << name << " shares storage with other tensors than in PyTorch";
  }
  for (const auto& [leaf, g] : p.at("grads").items()) {
    SCOPED_TRACE("grad of " + leaf);
    const Tensor& grad = env.t.at(leaf).grad();
    if (g.is_null()) {
      EXPECT_FALSE(grad.defined());
      continue;
    }
    ASSERT_TRUE(grad.defined());
    expect_values(grad, g, "grad of " + leaf);
  }
}

std::string program_name(const ::testing::TestParamInfo<std::size_t>& info) {
  return programs()[info.param].at("name").get<std::string>();
}

INSTANTIATE_TEST_SUITE_P(PyTorch, Views, ::testing::Range<std::size_t>(0, programs().size()), program_name);

}  // namespace

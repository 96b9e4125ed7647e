#pragma once
// The op table: one row per op of autograd/ops.h. A row says how to call the op on sample inputs
// it makes (which of them require grad says which are differentiable); test_op_table.cpp runs
// gradcheck, gradgradcheck and the non-contiguous checks of every row, and fails for an op of
// ops.h that has no row. A row may also say how to run the op's golden cases
// (test_golden_core.cpp looks them up here). Adding an op: one function, one row.

#include <cmath>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ag/autograd/autograd.h"

namespace optable {

using ag::Tensor;
using Inputs = std::vector<Tensor>;

struct Row {
  std::string op;                                     // its name in ops.h
  std::function<Inputs()> inputs;                     // sample inputs: those that require grad are differentiated
  std::function<Tensor(const Inputs&)> fn;            // the op on them (a tensor result)
  bool second_order = true;                           // gradgradcheck too (every differentiable row today)
  bool differentiable = true;                         // false: comparisons, indices, masks (forward checks only)
  std::string golden;                                 // the golden kind it runs, if any
  std::function<Tensor(const std::map<std::string, Tensor>&, const nlohmann::json&)> run_golden;
};

/// A float64 leaf of standard normals from its own seed; `shift` moves it, `positive` makes it
/// 0.5 + uniform (for log, sqrt, division).
inline Tensor in(const ag::Shape& s, std::uint64_t seed, double shift = 0) {
  ag::Generator g(seed);
  return (ag::randn(s, ag::kFloat64, &g) + shift).detach().requires_grad_(true);
}
inline Tensor pos(const ag::Shape& s, std::uint64_t seed) {
  ag::Generator g(seed);
  return (ag::rand(s, ag::kFloat64, &g) + 0.5).detach().requires_grad_(true);
}
inline Tensor idx(std::initializer_list<std::int64_t> v) { return ag::tensor(std::vector<std::int64_t>(v), {static_cast<std::int64_t>(v.size())}); }

inline std::vector<std::int64_t> dims_of(const nlohmann::json& dim) {
  if (dim.is_null()) return {};
  return {dim.get<std::int64_t>()};
}

/// Every op of ops.h, by family.
inline const std::vector<Row>& rows() {
  using namespace ag;
  using J = nlohmann::json;
  using M = std::map<std::string, Tensor>;
  static const std::vector<Row> table = [] {
    std::vector<Row> t;
    auto unary = [&](const std::string& name, std::function<Tensor(const Tensor&)> f, bool positive = false,
                     bool second = true, std::string golden = "") {
      Row r{name, [positive] { return Inputs{positive ? pos({3, 4}, 1) : in({3, 4}, 1)}; },
            [f](const Inputs& v) { return f(v[0]); }, second, true, golden, nullptr};
      if (!golden.empty()) r.run_golden = [f](const M& x, const J&) { return f(x.at("x")); };
      t.push_back(r);
    };
    auto binary = [&](const std::string& name, std::function<Tensor(const Tensor&, const Tensor&)> f,
                      bool positive_b = false, std::string golden = "") {
      Row r{name, [positive_b] { return Inputs{in({3, 4}, 2), positive_b ? pos({4}, 3) : in({4}, 3)}; },
            [f](const Inputs& v) { return f(v[0], v[1]); }, true, true, golden, nullptr};
      if (!golden.empty()) r.run_golden = [f](const M& x, const J&) { return f(x.at("a"), x.at("b")); };
      t.push_back(r);
    };
    auto forward_only = [&](const std::string& name, std::function<Tensor(const Inputs&)> f,
                            std::function<Inputs()> make = nullptr) {
      t.push_back(Row{name, make ? make : [] { return Inputs{in({3, 4}, 4).detach(), in({4}, 5).detach()}; }, f, false,
                      false, "", nullptr});
    };

    // ---- elementwise ----
    binary("add", [](auto& a, auto& b) { return add(a, b, 2.5); });
    t.back().golden = "add";
    t.back().run_golden = [](const M& x, const J&) { return x.at("a") + x.at("b"); };
    binary("sub", [](auto& a, auto& b) { return sub(a, b, -0.5); });
    t.back().golden = "sub";
    t.back().run_golden = [](const M& x, const J&) { return x.at("a") - x.at("b"); };
    binary("mul", [](auto& a, auto& b) { return mul(a, b); }, false, "mul");
    binary("div", [](auto& a, auto& b) { return div(a, b); }, true, "div");
    binary("maximum", [](auto& a, auto& b) { return maximum(a, b); });
    binary("minimum", [](auto& a, auto& b) { return minimum(a, b); });
    binary("atan2", [](auto& a, auto& b) { return atan2(a, b); }, true);
    t.push_back(Row{"pow", [] { return Inputs{pos({3, 4}, 6), in({4}, 7)}; }, [](auto& v) { return pow(v[0], v[1]) + pow(v[0], 2.5); }});
    t.back().golden = "pow_scalar";
    t.back().run_golden = [](const M& x, const J& p) { return pow(x.at("x"), p.at("exponent").get<double>()); };
    // broadcasting on both sides, numbers, and the exponents of pow
    for (const char* name : {"add", "sub", "mul", "minimum"})
      t.push_back(Row{name, [] { return Inputs{in({2, 1, 4}, 60), in({3, 1}, 61)}; }, [name = std::string(name)](auto& v) {
                        return name == "add" ? v[0] + v[1] : name == "sub" ? v[0] - v[1] : name == "mul" ? v[0] * v[1]
                                                                                          : minimum(v[0], v[1]);
                      }});
    t.push_back(Row{"add", [] { return Inputs{in({2, 3}, 62)}; }, [](auto& v) { return (v[0] + 1.5) * (v[0] * -3.0) + v[0] / 4.0; }});
    for (double e : {2.0, 3.0, 0.5, -1.0, -2.5})
      t.push_back(Row{"pow", [] { return Inputs{pos({3, 4}, 63)}; }, [e](auto& v) { return pow(v[0], e); }});
    t.push_back(Row{"rsub", [] { return Inputs{in({3}, 8)}; }, [](auto& v) { return rsub(v[0], 2.0); }});
    t.push_back(Row{"rdiv", [] { return Inputs{pos({3}, 9)}; }, [](auto& v) { return rdiv(v[0], 2.0); }});
    unary("neg", [](const Tensor& x) { return neg(x); }, false, true, "neg");
    unary("exp", [](const Tensor& x) { return exp(x); }, false, true, "exp");
    unary("log", [](const Tensor& x) { return log(x); }, true, true, "log");
    unary("sqrt", [](const Tensor& x) { return sqrt(x); }, true, true, "sqrt");
    unary("tanh", [](const Tensor& x) { return tanh(x); }, false, true, "tanh");
    unary("sigmoid", [](const Tensor& x) { return sigmoid(x); }, false, true, "sigmoid");
    unary("erf", [](const Tensor& x) { return erf(x); });
    unary("gelu", [](const Tensor& x) { return gelu(x); });
    // kinks lie away from the sampled points (randn never lands on them)
    unary("abs", [](const Tensor& x) { return abs(x); }, false, true, "abs");
    unary("relu", [](const Tensor& x) { return relu(x); }, false, true, "relu");
    unary("clamp", [](const Tensor& x) { return clamp(x, -0.5, 0.5) + clamp(x, std::nullopt, 0.2); }, false, true);
    forward_only("sign", [](auto& v) { return sign(v[0]); });
    t.push_back(Row{"where", [] { return Inputs{in({3, 4}, 10), in({4}, 11)}; },
                    [](auto& v) { return where(v[0] > 0, v[0] * 2, v[1]) + where(v[0] < 0, v[0], 1.5); }});
    t.push_back(Row{"masked_fill", [] { return Inputs{in({3, 4}, 12), in({}, 13)}; },
                    [](auto& v) { return masked_fill(v[0], v[0] > 0.3, v[1]) * masked_fill(v[0], v[0] < 0, 2.0); }});
    t.push_back(Row{"masked_select", [] { return Inputs{in({3, 4}, 14)}; }, [](auto& v) { return masked_select(v[0], v[0] > 0); }});
    t.push_back(Row{"sum_to", [] { return Inputs{in({2, 3, 4}, 15)}; }, [](auto& v) { return sum_to(v[0] * v[0], {3, 1}); }});
    for (const char* name : {"eq", "ne", "lt", "le", "gt", "ge"})
      forward_only(name, [name = std::string(name)](auto& v) {
        const Tensor &a = v[0], &b = v[1];
        return name == "eq" ? eq(a, b) : name == "ne" ? ne(a, b) : name == "lt" ? lt(a, b) : name == "le" ? le(a, b)
               : name == "gt" ? gt(a, b) : ge(a, b);
      });
    for (const char* name : {"logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor"})
      forward_only(name, [name = std::string(name)](auto& v) {
        Tensor a = v[0] > 0, b = v[1] > 0;
        return name == "logical_and" ? logical_and(a, b) : name == "logical_or" ? logical_or(a, b)
               : name == "logical_xor" ? logical_xor(a, b) : name == "bitwise_and" ? bitwise_and(a, b)
               : name == "bitwise_or" ? bitwise_or(a, b) : bitwise_xor(a, b);
      });
    forward_only("logical_not", [](auto& v) { return logical_not(v[0]); });
    forward_only("bitwise_not", [](auto& v) { return bitwise_not(v[0] > 0); });
    forward_only("isnan", [](auto& v) { return isnan(log(v[0])); });
    forward_only("isinf", [](auto& v) { return isinf(rdiv(v[0] > 0, 1.0)); });
    forward_only("isfinite", [](auto& v) { return isfinite(log(v[0])); });

    // ---- reductions ----
    t.push_back(Row{"sum", [] { return Inputs{in({2, 3, 4}, 16)}; }, [](auto& v) { return sum(v[0], {0, 2}, true) + sum(v[0]); }});
    t.back().golden = "sum";
    t.back().run_golden = [](const M& x, const J& p) {
      auto dims = dims_of(p.at("dim"));
      return dims.empty() ? sum(x.at("x")) : sum(x.at("x"), dims, p.value("keepdim", false));
    };
    for (bool keep : {false, true})
      t.push_back(Row{"sum", [] { return Inputs{in({2, 3, 4}, 64)}; }, [keep](auto& v) {
                        return sum(v[0], {1}, keep).sum() + mean(v[0], {0, 1}, keep).sum() + mean(v[0], {-1}, keep).sum();
                      }});
    t.push_back(Row{"mean", [] { return Inputs{in({2, 3, 4}, 17)}; }, [](auto& v) { return mean(v[0], {-1}) + mean(v[0]); }});
    t.back().golden = "mean";
    t.back().run_golden = [](const M& x, const J& p) {
      auto dims = dims_of(p.at("dim"));
      return dims.empty() ? mean(x.at("x")) : mean(x.at("x"), dims, p.value("keepdim", false));
    };
    t.push_back(Row{"max", [] { return Inputs{in({3, 5}, 18)}; }, [](auto& v) { return std::get<0>(max(v[0], 1)) + max(v[0]); }});
    t.back().golden = "max";
    t.back().run_golden = [](const M& x, const J& p) {
      return std::get<0>(max(x.at("x"), p.at("dim").get<std::int64_t>(), p.value("keepdim", false)));
    };
    t.push_back(Row{"min", [] { return Inputs{in({3, 5}, 19)}; }, [](auto& v) { return std::get<0>(min(v[0], 0, true)) + min(v[0]); }});
    t.push_back(Row{"amax", [] { return Inputs{in({3, 5}, 20)}; }, [](auto& v) { return amax(v[0], {0}); }});
    t.push_back(Row{"amin", [] { return Inputs{in({3, 5}, 21)}; }, [](auto& v) { return amin(v[0], {1}, true); }});
    t.push_back(Row{"logsumexp", [] { return Inputs{in({3, 5}, 22)}; }, [](auto& v) { return logsumexp(v[0], 1); }});
    t.push_back(Row{"norm", [] { return Inputs{in({3, 5}, 23)}; }, [](auto& v) { return norm(v[0]) + norm(v[0], 3); }});
    forward_only("argmax", [](auto& v) { return argmax(v[0], 1); });
    forward_only("argmin", [](auto& v) { return argmin(v[0]); });
    forward_only("any", [](auto& v) { return any(v[0] > 1, 1); });
    forward_only("all", [](auto& v) { return all(v[0] > -1); });
    forward_only("nonzero", [](auto& v) { return nonzero(v[0] > 0); });
    forward_only("count_nonzero", [](auto& v) { return count_nonzero(v[0] > 0, 0); });

    // ---- shape: views and copies ----
    auto shaped = [&](const std::string& name, std::function<Tensor(const Tensor&)> f, ag::Shape shape = {2, 3, 4}) {
      t.push_back(Row{name, [shape] { return Inputs{in(shape, 24)}; }, [f](auto& v) { return f(v[0]) * 1.5; }});
    };
    shaped("reshape", [](auto& x) { return x.reshape({4, -1}) + x.transpose(0, 2).reshape({4, 6}); });
    t.back().golden = "reshape";
    t.back().run_golden = [](const M& x, const J& p) { return x.at("x").reshape(Shape(p.at("shape").get<std::vector<std::int64_t>>())); };
    shaped("view", [](auto& x) { return x.view({2, 3, 2, 2}); });  // viewable in every layout
    shaped("flatten", [](auto& x) { return x.flatten(1); });
    shaped("unflatten", [](auto& x) { return x.unflatten(2, {2, 2}); });
    shaped("squeeze", [](auto& x) { return x.squeeze() * x.squeeze(1); }, {3, 1, 4});
    shaped("unsqueeze", [](auto& x) { return x.unsqueeze(1); });
    t.back().golden = "unsqueeze";
    t.back().run_golden = [](const M& x, const J& p) { return x.at("x").unsqueeze(p.at("dim")); };
    shaped("transpose", [](auto& x) { return x.transpose(0, 2); });
    t.back().golden = "transpose";
    t.back().run_golden = [](const M& x, const J& p) { return x.at("x").transpose(p.at("dim0"), p.at("dim1")); };
    shaped("t", [](auto& x) { return x.t(); }, {3, 4});
    shaped("permute", [](auto& x) { return x.permute({2, 0, 1}); });
    shaped("expand", [](auto& x) { return x.expand({2, 3, 4}); }, {3, 1});
    shaped("expand_as", [](auto& x) { return x.expand_as(ag::zeros({2, 3, 4})); }, {3, 1});
    shaped("narrow", [](auto& x) { return x.narrow(2, 1, 2); });
    shaped("select", [](auto& x) { return x.select(1, -1); });
    shaped("slice", [](auto& x) { return x.slice(2, 0, std::nullopt, 3); });
    shaped("diagonal", [](auto& x) { return x.diagonal(1, 1, 2); });
    shaped("unfold", [](auto& x) { return x.unfold(2, 2, 1); });
    // as_strided addresses the storage: the same values need the same layout, hence contiguous()
    shaped("as_strided", [](auto& x) { return x.contiguous().as_strided({3, 3}, {1, 2}, 1); });
    shaped("contiguous", [](auto& x) { return x.transpose(0, 1).contiguous(); });
    shaped("split", [](auto& x) { auto p = x.split(2, 2); return p[0] * p[1]; });
    shaped("chunk", [](auto& x) { auto p = x.chunk(3, 1); return p[0] - p[2]; });
    shaped("unbind", [](auto& x) { auto p = x.unbind(0); return p[0] * p[1]; });
    t.push_back(Row{"cat", [] { return Inputs{in({2, 3}, 25), in({2, 2}, 26)}; }, [](auto& v) { return cat({v[0], v[1]}, 1); }});
    t.back().golden = "cat";
    t.back().run_golden = [](const M& x, const J& p) { return cat({x.at("a"), x.at("b")}, p.at("dim")); };
    t.push_back(Row{"stack", [] { return Inputs{in({2, 3}, 27), in({2, 3}, 28)}; }, [](auto& v) { return stack({v[0], v[1]}, 2); }});
    t.back().golden = "stack";
    t.back().run_golden = [](const M& x, const J& p) { return stack({x.at("a"), x.at("b")}, p.at("dim")); };

    // ---- linear algebra ----
    t.push_back(Row{"matmul", [] { return Inputs{in({2, 3, 4}, 29), in({4, 5}, 30)}; }, [](auto& v) { return matmul(v[0], v[1]); }});
    t.push_back(Row{"mm", [] { return Inputs{in({3, 4}, 31), in({4, 2}, 32)}; }, [](auto& v) { return mm(v[0], v[1]); }});
    t.push_back(Row{"bmm", [] { return Inputs{in({2, 3, 4}, 33), in({2, 4, 2}, 34)}; }, [](auto& v) { return bmm(v[0], v[1]); }});
    t.push_back(Row{"addmm", [] { return Inputs{in({2}, 35), in({3, 4}, 36), in({4, 2}, 37)}; },
                    [](auto& v) { return addmm(v[0], v[1], v[2], 0.5, 2.0); }});
    t.push_back(Row{"linear", [] { return Inputs{in({2, 3, 4}, 38), in({5, 4}, 39), in({5}, 40)}; },
                    [](auto& v) { return linear(v[0], v[1], v[2]); }});

    // ---- softmax and losses ----
    t.push_back(Row{"softmax", [] { return Inputs{in({3, 4}, 41)}; }, [](auto& v) { return softmax(v[0], 1) * v[0]; }});
    t.push_back(Row{"log_softmax", [] { return Inputs{in({3, 4}, 42)}; }, [](auto& v) { return log_softmax(v[0], 0); }});
    t.push_back(Row{"cross_entropy", [] { return Inputs{in({5, 4}, 43), idx({0, 3, 1, 1, 2})}; },
                    [](auto& v) { return cross_entropy(v[0], v[1], CrossEntropyOptions().label_smoothing(0.1)); }});
    t.push_back(Row{"nll_loss", [] { return Inputs{in({5, 4}, 44), idx({0, 3, 1, 1, 2})}; },
                    [](auto& v) { return nll_loss(log_softmax(v[0], 1), v[1]); }});
    t.push_back(Row{"mse_loss", [] { return Inputs{in({3, 4}, 45), in({3, 4}, 46)}; }, [](auto& v) { return mse_loss(v[0], v[1]); }});
    t.push_back(Row{"l1_loss", [] { return Inputs{in({3, 4}, 47), in({3, 4}, 48)}; }, [](auto& v) { return l1_loss(v[0], v[1]); }});
    t.push_back(Row{"binary_cross_entropy_with_logits", [] { return Inputs{in({3, 4}, 49), pos({3, 4}, 50)}; },
                    [](auto& v) { return binary_cross_entropy_with_logits(v[0], v[1] - 0.5); }});

    // ---- indexing ----
    t.push_back(Row{"index_select", [] { return Inputs{in({4, 3}, 51), idx({3, 0, 3})}; }, [](auto& v) { return index_select(v[0], 0, v[1]); }});
    t.push_back(Row{"gather", [] { return Inputs{in({3, 4}, 52), ag::tensor({{0, 3}, {1, 1}, {2, 0}})}; },
                    [](auto& v) { return gather(v[0], 1, v[1]); }});
    t.push_back(Row{"embedding", [] { return Inputs{in({5, 3}, 53), ag::tensor({{1, 4}, {4, 0}})}; },
                    [](auto& v) { return embedding(v[0], v[1]); }});  // padding_idx and scale_grad_by_freq change the gradient by design: test_index.cpp
    t.push_back(Row{"index", [] { return Inputs{in({4, 5}, 54), idx({3, 0, 3})}; },
                    [](auto& v) { return index(v[0], {v[1]}) + index(v[0], {Tensor(), v[1].narrow(0, 0, 1)}).sum(); }});
    t.push_back(Row{"index_put", [] { return Inputs{in({4, 3}, 55), in({2, 3}, 56), idx({3, 1})}; },
                    [](auto& v) { return index_put(v[0], {v[2]}, v[1]) * index_put(v[0], {v[2]}, v[1], true); }});
    t.push_back(Row{"index_put_", [] { return Inputs{in({4, 3}, 57), in({3}, 58)}; }, [](auto& v) {
                      Tensor x = v[0] * 1.0;
                      index_put_(x, {idx({2, 0})}, v[1], true);
                      return x;
                    }});
    forward_only("one_hot", [](auto&) { return one_hot(idx({2, 0, 1}), 4); });
    // Sparse tensors record no gradients (Embedding(sparse) makes them in backward: test_sparse.cpp).
    forward_only("sparse_coo_tensor", [](auto& v) { return sparse_coo_tensor(idx({2, 0, 2}), v[0], {4, 4}).to_dense(); },
                 [] { return Inputs{in({3, 4}, 59).detach()}; });
    return t;
  }();
  return table;
}

}  // namespace optable

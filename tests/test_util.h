#pragma once
// Helpers shared by the test files.

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "ag/autograd/generator.h"
#include "ag/autograd/autograd.h"
#include "ag/autograd/gradcheck.h"

namespace testutil {

/// Runs `fn`, expecting an exception of type E (or derived) whose message contains every fragment.
template <class E, class F>
void expect_throw_with(F&& fn, std::initializer_list<std::string> fragments) {
  try {
    fn();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    std::string msg = e.what();
    for (const std::string& f : fragments)
      EXPECT_NE(msg.find(f), std::string::npos) << "message: " << msg << "\nmissing: " << f;
  }
}

template <class E, class F>
void expect_throw(F&& fn, const std::string& needle) {
  expect_throw_with<E>(std::forward<F>(fn), {needle});
}

/// A standard-normal leaf that requires grad, drawn from its own seed (float64 by default, as
/// gradcheck wants).
inline ag::Tensor input(const ag::Shape& s, std::uint64_t seed, ag::Dtype dtype = ag::kFloat64) {
  ag::Generator g(seed);
  return ag::randn(s, dtype, &g).requires_grad_(true);
}

using Fn = std::function<ag::Tensor(const std::vector<ag::Tensor>&)>;

/// The same values as x in a layout that is not contiguous: its dims reversed (a transpose) or,
/// with `stepped`, every other element of a buffer twice as long in the last dim whose gaps hold
/// NaN (or a huge index), so that a kernel that ignores strides reads garbage. A tensor whose
/// layout cannot differ (0-d, one element) comes back as it is; requires_grad is kept.
inline ag::Tensor noncontiguous(const ag::Tensor& x, bool stepped) {
  if (!x.defined() || x.numel() <= 1) return x;
  if (!stepped && x.dim() < 2) return x;
  ag::NoGradGuard no_grad;
  ag::Tensor out;
  if (!stepped) {
    std::vector<std::int64_t> rev;
    for (std::int64_t d = x.dim(); d-- > 0;) rev.push_back(d);
    out = x.permute(rev).contiguous().permute(rev);
  } else {
    ag::Shape s = x.shape();
    s[s.size() - 1] *= 2;
    ag::Tensor buf = x.is_floating_point() ? ag::full(s, NAN, x.dtype())
                                           : x.dtype() == ag::kInt64 ? ag::full(s, 1 << 30, ag::kInt64) : ag::zeros(s, x.dtype());
    out = buf.slice(-1, 0, std::nullopt, 2);
    out.copy_(x);
  }
  out = out.detach();
  if (x.requires_grad()) out.requires_grad_(true);
  return out;
}

/// The inputs in a non-contiguous layout (see noncontiguous); empty when none of them changes.
inline std::vector<ag::Tensor> noncontiguous(const std::vector<ag::Tensor>& in, bool stepped) {
  std::vector<ag::Tensor> out;
  bool changed = false;
  for (const ag::Tensor& t : in) {
    out.push_back(noncontiguous(t, stepped));
    changed = changed || !out.back().is_same(t);
  }
  return changed ? out : std::vector<ag::Tensor>{};
}

/// f on non-contiguous copies of its inputs (transposed, then stepped) gives the same values as
/// on the inputs, and `check` holds for them too.
template <class Check>
void on_noncontiguous_inputs(const Fn& f, const std::vector<ag::Tensor>& in, Check check) {
  for (bool stepped : {false, true}) {
    std::vector<ag::Tensor> nc = noncontiguous(in, stepped);
    if (nc.empty()) continue;
    SCOPED_TRACE(stepped ? "inputs as stepped slices" : "inputs transposed");
    ag::Tensor want = f(in), got = f(nc);
    EXPECT_EQ(got.shape(), want.shape());
    if (got.shape() == want.shape()) {
      std::vector<double> w = want.to_vector<double>(), g = got.to_vector<double>();
      for (std::size_t i = 0; i < w.size(); ++i)
        EXPECT_TRUE(w[i] == g[i] || std::abs(w[i] - g[i]) <= 1e-12 * std::max(1.0, std::abs(w[i]))) << "element " << i;
    }
    check(nc);
  }
}

/// First derivatives of `f` against finite differences (float64 inputs), on the inputs and on
/// non-contiguous copies of them.
inline void check_first(const Fn& f, const std::vector<ag::Tensor>& in) {
  EXPECT_TRUE(ag::gradcheck(f, in));
  on_noncontiguous_inputs(f, in, [&](const std::vector<ag::Tensor>& nc) { EXPECT_TRUE(ag::gradcheck(f, nc)); });
}

/// First and second derivatives of `f` against finite differences (float64 inputs), on the inputs
/// and on non-contiguous copies of them.
inline void check_both(const Fn& f, const std::vector<ag::Tensor>& in) {
  EXPECT_TRUE(ag::gradcheck(f, in));
  EXPECT_TRUE(ag::gradgradcheck(f, in));
  on_noncontiguous_inputs(f, in, [&](const std::vector<ag::Tensor>& nc) {
    EXPECT_TRUE(ag::gradcheck(f, nc));
    EXPECT_TRUE(ag::gradgradcheck(f, nc));
  });
}

}  // namespace testutil

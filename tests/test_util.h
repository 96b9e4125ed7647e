#pragma once
// Helpers shared by the test files.

#include <gtest/gtest.h>

#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "ag/autograd/generator.h"
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

/// First and second derivatives of `f` against finite differences (float64 inputs).
inline void check_both(const Fn& f, const std::vector<ag::Tensor>& in) {
  EXPECT_TRUE(ag::gradcheck(f, in));
  EXPECT_TRUE(ag::gradgradcheck(f, in));
}

}  // namespace testutil

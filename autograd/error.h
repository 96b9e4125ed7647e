#pragma once
// Errors are for people: every user mistake throws a typed exception whose message names the
// operation, the shapes and the offending value. `AG_CHECK` is the one way ag throws them.

#include <sstream>
#include <stdexcept>
#include <string>

namespace ag {

/// Thrown for an index outside its valid range (PyTorch's IndexError).
///
///     try { emb(ag::tensor({3})); } catch (const ag::IndexError& e) { std::cerr << e.what(); }
class IndexError : public std::out_of_range {
 public:
  using std::out_of_range::out_of_range;
};

namespace detail {
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace ag

/// Throws `type` with the streamed message when `cond` is false.
#define AG_CHECK_T(type, cond, ...)                          \
  do {                                                       \
    if (!(cond)) throw type(::ag::detail::cat(__VA_ARGS__)); \
  } while (0)

/// Shapes and values: std::invalid_argument.
#define AG_CHECK(cond, ...) AG_CHECK_T(std::invalid_argument, cond, __VA_ARGS__)
/// Indices: ag::IndexError (a std::out_of_range).
#define AG_CHECK_INDEX(cond, ...) AG_CHECK_T(::ag::IndexError, cond, __VA_ARGS__)
/// Misuse of the API or of the autograd graph: std::logic_error.
#define AG_CHECK_STATE(cond, ...) AG_CHECK_T(std::logic_error, cond, __VA_ARGS__)

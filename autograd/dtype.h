#pragma once
// Element types. ag has four, as most small models need: float32 (the default), float64, int64
// (indices, labels) and bool (masks: what comparisons return).

#include <cstdint>
#include <limits>
#include <ostream>
#include <type_traits>

#include "ag/autograd/error.h"

namespace ag {

/// The element type of a tensor.
///
///     auto x = ag::zeros({2, 3}, ag::kFloat64);
///     x.dtype() == ag::kFloat64;   // true
enum class Dtype : std::uint8_t { Float32, Float64, Int64, Bool };

inline constexpr Dtype kFloat32 = Dtype::Float32;
inline constexpr Dtype kFloat = Dtype::Float32;
inline constexpr Dtype kFloat64 = Dtype::Float64;
inline constexpr Dtype kDouble = Dtype::Float64;
inline constexpr Dtype kInt64 = Dtype::Int64;
inline constexpr Dtype kLong = Dtype::Int64;
inline constexpr Dtype kBool = Dtype::Bool;

inline const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "float32";
    case Dtype::Float64: return "float64";
    case Dtype::Int64: return "int64";
    case Dtype::Bool: return "bool";
  }
  return "?";
}
inline std::ostream& operator<<(std::ostream& os, Dtype d) { return os << dtype_name(d); }

inline std::size_t element_size(Dtype d) {
  switch (d) {
    case Dtype::Float32: return 4;
    case Dtype::Bool: return 1;
    default: return 8;
  }
}
inline bool is_floating(Dtype d) { return d == Dtype::Float32 || d == Dtype::Float64; }

/// The C++ type name of a dtype's elements ("float", "double", "int64_t", "bool"), for messages.
inline const char* cpp_type_name(Dtype d) {
  switch (d) {
    case Dtype::Float32: return "float";
    case Dtype::Float64: return "double";
    case Dtype::Int64: return "int64_t";
    case Dtype::Bool: return "bool";
  }
  return "?";
}

template <class T>
constexpr Dtype dtype_of() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, std::int64_t> ||
                    std::is_same_v<T, bool>,
                "ag tensors hold float, double, int64_t or bool");
  if constexpr (std::is_same_v<T, float>) return Dtype::Float32;
  else if constexpr (std::is_same_v<T, double>) return Dtype::Float64;
  else if constexpr (std::is_same_v<T, bool>) return Dtype::Bool;
  else return Dtype::Int64;
}

/// `v` as a D, as static_cast does, but never undefined: a floating value that is NaN or outside
/// the range of the (signed) integer type D becomes D's lowest value, which is what x86's
/// conversion (and so PyTorch) gives for int64.
///
///     ag::convert<std::int64_t>(1e30);   // INT64_MIN, not undefined behaviour
template <class D, class S>
constexpr D convert(S v) {
  if constexpr (std::is_same_v<D, bool>) {
    return v != S(0);  // NaN is true, as in PyTorch
  } else if constexpr (std::is_integral_v<D> && std::is_floating_point_v<S>) {
    static_assert(std::is_signed_v<D>, "convert: signed integer targets only");
    // [-2^(bits-1), 2^(bits-1)) holds every value that converts (both bounds are exact in S);
    // the negated test also catches NaN.
    constexpr S lo = static_cast<S>(std::numeric_limits<D>::min());
    if (!(v >= lo && v < -lo)) return std::numeric_limits<D>::min();
  }
  return static_cast<D>(v);
}

/// PyTorch's categories of types: bool < integral < floating. A value of a higher category
/// promotes the result even when it comes from a 0-d tensor or a number.
inline int type_category(Dtype d) { return d == Dtype::Bool ? 0 : d == Dtype::Int64 ? 1 : 2; }

/// The dtype of `a op b` for two tensors of the same rank class, as PyTorch promotes:
/// float64 beats float32 beats int64 beats bool.
inline Dtype promote_types(Dtype a, Dtype b) {
  if (a == b) return a;
  if (a == Dtype::Float64 || b == Dtype::Float64) return Dtype::Float64;
  if (a == Dtype::Float32 || b == Dtype::Float32) return Dtype::Float32;
  return Dtype::Int64;
}

template <class T>
struct TypeTag {
  using type = T;
};

/// Calls f(TypeTag<T>{}) with T the C++ type of `d`, for every dtype (bool included).
///
///     dispatch(x.dtype(), [&](auto tag) { using T = typename decltype(tag)::type; ... });
template <class F>
decltype(auto) dispatch(Dtype d, F&& f) {
  switch (d) {
    case Dtype::Float32: return f(TypeTag<float>{});
    case Dtype::Float64: return f(TypeTag<double>{});
    case Dtype::Bool: return f(TypeTag<bool>{});
    case Dtype::Int64: break;
  }
  return f(TypeTag<std::int64_t>{});
}

/// Like dispatch, for arithmetic ops: bool throws naming the op.
template <class F>
decltype(auto) dispatch_numeric(Dtype d, const char* op, F&& f) {
  AG_CHECK(d != Dtype::Bool, op, ": not supported for bool tensors (convert with to(ag::kInt64) or to(ag::kFloat32))");
  switch (d) {
    case Dtype::Float32: return f(TypeTag<float>{});
    case Dtype::Float64: return f(TypeTag<double>{});
    default: break;
  }
  return f(TypeTag<std::int64_t>{});
}

/// Like dispatch, for ops defined on floating types only; int64 and bool throw naming the op.
template <class F>
decltype(auto) dispatch_floating(Dtype d, const char* op, F&& f) {
  AG_CHECK(is_floating(d), op, ": expected a floating point tensor (float32 or float64), got ", dtype_name(d));
  if (d == Dtype::Float64) return f(TypeTag<double>{});
  return f(TypeTag<float>{});
}

}  // namespace ag

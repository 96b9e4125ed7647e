#pragma once
// NumPy .npy files, for single tensors: "\x93NUMPY", a version (1.0, 2.0 or 3.0), a header that is
// a Python dict literal {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), } and the raw
// elements. ag reads and writes '<f4', '<f8' and '<i8' in C order; Fortran order, big-endian data and
// other dtypes are refused with a message that says how to convert them in NumPy.

#include <string>
#include <string_view>

#include "ag/autograd/tensor.h"

namespace ag {

/// Writes a tensor as a version 1.0 .npy file, atomically; `np.load` reads it.
///
///     ag::save_npy(ag::randn({2, 3}), "x.npy");
void save_npy(const Tensor& tensor, const std::string& path);

/// Reads a .npy file written by NumPy or by ag.
///
///     ag::Tensor x = ag::load_npy("x.npy");
Tensor load_npy(const std::string& path);

namespace serialize {

/// Headers longer than this are refused (NumPy's own default limit is 10000 bytes).
inline constexpr std::uint64_t kMaxNpyHeaderBytes = 1 << 20;

/// The bytes save_npy would write.
///
///     std::string bytes = ag::serialize::encode_npy(x);
std::string encode_npy(const Tensor& tensor);
/// Parses .npy bytes; `path` only names the source in error messages.
///
///     ag::Tensor x = ag::serialize::decode_npy(bytes, "<memory>");
Tensor decode_npy(std::string_view bytes, const std::string& path = "");

}  // namespace serialize
}  // namespace ag

#pragma once
// What every in-place op shares (defined in inplace.cpp): PyTorch's checks on leaves and
// views, and the write-back of a recorded result with its history rebased. Internal to ops/.

#include "ag/autograd/tensor.h"

namespace ag::detail {

/// Throws when `self` may not be modified in place: a leaf that requires grad (grad mode on), a
/// view of one while the op is recorded, a view from split/chunk/unbind or made under no-grad
/// while recorded, or an expanded view (several elements at one address).
void check_inplace(const Tensor& self, const char* op, bool records);

/// Writes `result` (self's shape, computed out of place with its graph) into self, bumps the
/// version and gives self (or, for a view, its base) the result's history.
Tensor& write_back(Tensor& self, const Tensor& result, const char* op);

}  // namespace ag::detail

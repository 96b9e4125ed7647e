#pragma once
// Activation checkpointing of a Sequential, segment by segment (torch.utils.checkpoint's
// checkpoint_sequential).

#include <cstdint>

#include "ag/autograd/checkpoint.h"
#include "ag/nn/container.h"

namespace ag::nn {

/// Runs `seq` on x in `segments` consecutive parts; every part but the last is checkpointed
/// (its activations are not kept, and backward recomputes them), as PyTorch 1.13 does. The
/// gradients equal those of `seq(x)` bit for bit; the memory of the activations shrinks to
/// about one segment's.
///
///     auto y = nn::checkpoint_sequential(*net, 4, x);   // net: a Sequential of, say, 32 layers
Tensor checkpoint_sequential(Sequential& seq, std::int64_t segments, const Tensor& x);

}  // namespace ag::nn

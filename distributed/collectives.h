#pragma once
// Collectives on tensors: all_reduce and broadcast in place, broadcasting a model's parameters,
// and running a checkpoint save on rank 0 only. Every rank must make the same calls in the same
// order with tensors of the same shape and dtype (set_debug(true) checks it).

#include <functional>
#include <vector>

#include "ag/autograd/tensor.h"
#include "ag/nn/module.h"

namespace ag::distributed {

/// How all_reduce combines the ranks' values, elementwise. Avg is Sum divided by world_size()
/// and needs a floating tensor.
enum class ReduceOp { Sum, Avg, Max, Min, Prod };

/// The name of an op, for messages: "ReduceOp::Sum".
const char* reduce_op_name(ReduceOp op);

/// Replaces `tensor`'s elements, on every rank, by their combination over all ranks (float32,
/// float64 or int64; in place, so the tensor's version is bumped). Autograd does not see it: use
/// it on data and gradients, not inside a graph.
///
///     auto n = ag::tensor({1.0f});
///     ag::distributed::all_reduce(n);                                       // n == world_size()
///     ag::distributed::all_reduce(loss_sum, ag::distributed::ReduceOp::Avg);
void all_reduce(const Tensor& tensor, ReduceOp op = ReduceOp::Sum);

/// Copies rank `root`'s elements into `tensor` on every other rank (in place).
///
///     auto seed = ag::tensor({std::int64_t{0}});
///     if (ag::distributed::rank() == 0) seed.fill_(time(nullptr));
///     ag::distributed::broadcast(seed, 0);   // every rank now has rank 0's seed
void broadcast(const Tensor& tensor, int root = 0);

/// Overwrites every rank's parameters with rank `root`'s, so that all ranks start from the same
/// model (DistributedDataParallel does it when it is built).
///
///     auto model = make_model();                            // initialised differently per rank
///     ag::distributed::broadcast_parameters(*model);        // now all equal rank 0's
void broadcast_parameters(const nn::Module& module, int root = 0);
/// The same for a list of tensors: `broadcast_parameters(model->buffers())`.
void broadcast_parameters(const std::vector<Tensor>& tensors, int root = 0);

/// Runs `save` on rank 0 only; every rank returns once rank 0 has finished it, so a checkpoint
/// written by rank 0 (atomically, as serialize's savers write) can then be loaded by every rank.
/// If `save` throws on rank 0, rank 0 rethrows its exception and every other rank throws a
/// DistributedError carrying its message, so no rank is left waiting.
///
///     ag::distributed::save_on_rank0([&] { ag::save_archive(archive, "ckpt.ag"); });
///     ag::Archive a = ag::load_archive("ckpt.ag");          // on every rank
void save_on_rank0(const std::function<void()>& save);

}  // namespace ag::distributed

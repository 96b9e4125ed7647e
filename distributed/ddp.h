#pragma once
// DistributedDataParallel: the same model on every rank, each rank a shard of the batch, and the
// gradients averaged across ranks after backward, so every rank takes the same optimizer step.

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ag/autograd/tensor.h"
#include "ag/nn/module.h"

namespace ag::distributed {

/// DistributedDataParallel's settings, with PyTorch's defaults.
///
///     ag::distributed::DDPOptions().bucket_cap_mb(25).find_unused_parameters(true).timeout(std::chrono::minutes(5))
class DDPOptions {
 public:
  /// Gradients travel in flat buckets of about this many MiB: parameters join a bucket, in the
  /// order their gradients are expected, until it holds at least this much. One all-reduce each.
  DDPOptions& bucket_cap_mb(double v) { bucket_cap_mb_ = v; return *this; }
  /// The first bucket (the gradients ready first) is smaller, so that communication starts
  /// early (PyTorch's `dist._DEFAULT_FIRST_BUCKET_BYTES`, 1 MiB).
  DDPOptions& first_bucket_cap_mb(double v) { first_bucket_cap_mb_ = v; return *this; }
  /// Copy rank 0's buffers (running statistics) to every rank at construction and at every
  /// forward, as PyTorch's broadcast_buffers=True.
  DDPOptions& broadcast_buffers(bool v) { broadcast_buffers_ = v; return *this; }
  /// At each forward, find the parameters the output does not depend on and count them ready
  /// at once, so their buckets need not wait for the end of backward. Without it, such
  /// parameters still take part (their buckets go at the end of backward); it costs a walk of the
  /// graph per forward.
  DDPOptions& find_unused_parameters(bool v) { find_unused_parameters_ = v; return *this; }
  /// Start each bucket's all-reduce during backward, as soon as its gradients are ready (the
  /// default); false sends every bucket after backward, one after the other.
  DDPOptions& overlap(bool v) { overlap_ = v; return *this; }
  /// How long a rank waits for the others to join a collective before it throws a
  /// DistributedError (PyTorch's default process-group timeout: 30 minutes).
  DDPOptions& timeout(std::chrono::duration<double> v) { timeout_ = v; return *this; }
  double bucket_cap_mb() const { return bucket_cap_mb_; }
  double first_bucket_cap_mb() const { return first_bucket_cap_mb_; }
  bool broadcast_buffers() const { return broadcast_buffers_; }
  bool find_unused_parameters() const { return find_unused_parameters_; }
  bool overlap() const { return overlap_; }
  std::chrono::duration<double> timeout() const { return timeout_; }

 private:
  double bucket_cap_mb_ = 25;
  double first_bucket_cap_mb_ = 1;
  bool broadcast_buffers_ = true;
  bool find_unused_parameters_ = false;
  bool overlap_ = true;
  std::chrono::duration<double> timeout_ = std::chrono::minutes(30);
};

/// One bucket of gradients: parameters of one dtype, reduced together by one MPI_Iallreduce.
///
///     for (const auto& b : ddp.buckets()) std::cout << b.numel << " elements: " << b.parameter_names.size() << "\n";
struct Bucket {
  Dtype dtype = kFloat32;
  std::vector<std::string> parameter_names;
  std::int64_t numel = 0;  // gradient elements, over all its parameters
  /// The weight of an Embedding with sparse(true), alone in its bucket: its rows are gathered
  /// from every rank (MPI_Allgatherv) instead of summed.
  bool sparse = false;
};

/// Data-parallel training, as torch.nn.parallel.DistributedDataParallel: wraps a model that
/// every rank builds alike, copies rank 0's parameters to all ranks at construction, and
/// averages the gradients across ranks during backward, so that after backward() every rank
/// holds the gradient of the global batch.
///
/// The parameters are grouped in buckets, in reverse registration order at first (the order in
/// which a feed-forward model's gradients become ready), the first bucket small (1 MiB), the
/// others up to bucket_cap_mb. A post-accumulate-grad hook on each parameter copies its gradient
/// into its bucket's flat buffer; once a bucket is complete, its non-blocking MPI_Iallreduce
/// starts, while backward goes on computing earlier layers' gradients (buckets start in bucket
/// order on every rank, so the collectives line up). At the end of backward (an engine callback,
/// ag::queue_callback) the remaining buckets start, every rank waits for all of them, and the
/// sums divided by world_size() go back into .grad. After the first step the buckets are rebuilt
/// in the order the gradients actually became ready on rank 0, as PyTorch does.
///
/// A parameter that has no gradient on this rank contributes zeros; after backward it holds the
/// sum over the ranks that had one divided by world_size() (what the global batch's mean gives),
/// or stays without a gradient if no rank had one. With shards of equal size and a loss that is
/// a mean over the shard, the result is the gradient of the mean over the whole global batch.
/// Sparse gradients (the weight of an Embedding built with sparse(true)) get buckets of their own
/// whose rows are gathered (MPI_Iallgatherv) at the end of backward.
///
///     ag::distributed::Environment env(argc, argv);
///     auto model = make_model();
///     ag::distributed::DistributedDataParallel ddp(*model);        // rank 0's weights everywhere
///     ag::optim::SGD opt(model->parameters(), ag::optim::SGDOptions(0.01));
///     for (...) {
///       opt.zero_grad();
///       ag::cross_entropy(ddp(x_shard), y_shard).backward();       // the global batch's gradient
///       opt.step();
///     }
///
/// Failures: every wait for the other ranks polls (MPI_Test) and gives up after
/// DDPOptions::timeout with a DistributedError naming the bucket, so a rank whose peer failed
/// or stopped does not hang. Each bucket also carries a problem flag and a step counter: a bad
/// gradient on one rank, or a forward() that threw on one rank which then went on with the next
/// step, makes every rank throw at the same collective (the culprit its own error, the others a
/// DistributedError), after which they are in step again. A rank whose backward failed while
/// buckets were in flight, or that timed out, leaves MPI with collectives that can never
/// complete: the wrapper then refuses further use, and the Environment ends the whole job with
/// MPI_Abort when it is destroyed instead of hanging in MPI_Finalize.
///
/// MPI moves a non-blocking collective along only inside MPI calls (OpenMPI runs no progress
/// thread): each ready gradient's hook also tests the buckets in flight.
///
/// The module must outlive the wrapper (or pass a shared_ptr). Build the wrapper after any
/// Module::to() or parameter replacement: it keeps the parameters it saw, and backward throws on
/// every rank if the module's parameters have changed since.
class DistributedDataParallel {
 public:
  explicit DistributedDataParallel(nn::Module& module, const DDPOptions& options = {});
  /// Keeps `module` alive as long as the wrapper.
  explicit DistributedDataParallel(std::shared_ptr<nn::Module> module, const DDPOptions& options = {});
  ~DistributedDataParallel();
  DistributedDataParallel(const DistributedDataParallel&) = delete;
  DistributedDataParallel& operator=(const DistributedDataParallel&) = delete;
  DistributedDataParallel(DistributedDataParallel&&) noexcept;
  DistributedDataParallel& operator=(DistributedDataParallel&&) noexcept;

  /// The module's forward, after copying rank 0's buffers to every rank (broadcast_buffers).
  /// Modules with other forward signatures can be called directly: the hooks on the parameters
  /// average the gradients whatever ran the forward.
  Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  /// Optional: backward averages the gradients itself. Called by every rank between backward()
  /// and the optimizer step, it makes sure each rank took part in one reduction since the last
  /// call: a rank that ran no backward (no rows of this batch) averages its gradients (or
  /// zeros) with the others' here. Throws inside no_sync() and after a failure.
  ///
  ///     if (rows > 0) loss(model(x_rows)).backward();   // some ranks may have no rows
  ///     ddp.sync_gradients();                           // every rank: the same gradients
  void sync_gradients();

  /// While alive, backward passes accumulate gradients locally (no communication): gradient
  /// accumulation over k micro-batches, k - 1 of them inside no_sync(). A forward run inside
  /// no_sync() also keeps its backward local, as in PyTorch.
  ///
  ///     {
  ///       auto guard = ddp.no_sync();
  ///       loss(ddp(x1)).backward();
  ///     }
  ///     loss(ddp(x2)).backward();                 // averages the sum of both micro-batches
  class NoSyncGuard {
   public:
    ~NoSyncGuard();
    NoSyncGuard(const NoSyncGuard&) = delete;
    NoSyncGuard& operator=(const NoSyncGuard&) = delete;

   private:
    friend class DistributedDataParallel;
    struct State;
    explicit NoSyncGuard(std::shared_ptr<State> state);
    std::shared_ptr<State> state_;
  };
  NoSyncGuard no_sync();

  /// The wrapped module: `ddp.module().state_dict()`.
  nn::Module& module() const { return *module_; }
  /// The buckets, in the order they are reduced.
  std::vector<Bucket> buckets() const;
  /// Seconds this rank has spent waiting for gradient all-reduces to finish at the end of
  /// backward, since construction: the communication that overlap did not hide.
  double communication_wait_seconds() const;

 private:
  struct Impl;
  void release();
  std::shared_ptr<Impl> impl_;
  nn::Module* module_;
};

}  // namespace ag::distributed

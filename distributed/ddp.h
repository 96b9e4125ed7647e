#pragma once
// DistributedDataParallel: the same model on every rank, each rank a shard of the batch, and the
// gradients averaged across ranks after backward, so every rank takes the same optimizer step.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ag/autograd/tensor.h"
#include "ag/nn/module.h"

namespace ag::distributed {

/// DistributedDataParallel's settings, with PyTorch's defaults.
///
///     ag::distributed::DDPOptions().bucket_cap_mb(25).broadcast_buffers(true)
class DDPOptions {
 public:
  /// Gradients travel in flat buckets of at most this many MiB (one parameter larger than that
  /// gets a bucket of its own): one MPI_Allreduce per bucket.
  DDPOptions& bucket_cap_mb(double v) { bucket_cap_mb_ = v; return *this; }
  /// Also copy rank 0's buffers (not only its parameters) to every rank at construction.
  DDPOptions& broadcast_buffers(bool v) { broadcast_buffers_ = v; return *this; }
  double bucket_cap_mb() const { return bucket_cap_mb_; }
  bool broadcast_buffers() const { return broadcast_buffers_; }

 private:
  double bucket_cap_mb_ = 25;
  bool broadcast_buffers_ = true;
};

/// One bucket of gradients: parameters of one dtype, reduced together by one MPI_Allreduce.
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
/// averages the gradients across ranks when sync_gradients() is called after backward.
///
/// Gradients are averaged explicitly, by sync_gradients() between backward() and the optimizer
/// step, rather than from autograd hooks: ag's backward runs on the calling thread and MPI moves
/// data only inside MPI calls, so reducing from hooks would overlap little communication with
/// computation, while an explicit call keeps gradient accumulation obvious (several backward
/// passes, then one sync). A forgotten sync is caught: forward() after a backward whose
/// gradients were not synced throws, unless that backward ran inside no_sync().
///
/// sync_gradients copies each bucket's gradients into one flat buffer, all-reduces it with a
/// single MPI_Allreduce and divides by world_size(). A parameter that has no gradient on this
/// rank contributes zeros, so every rank makes the same calls; after the sync it holds the sum
/// over the ranks that had one divided by world_size() (what the global batch's mean gives), or
/// stays without a gradient if no rank had one. With
/// shards of equal size and a loss that is a mean over the shard, the result is the gradient of
/// the mean over the whole global batch.
///
///     ag::distributed::Environment env(argc, argv);
///     auto model = make_model();
///     ag::distributed::DistributedDataParallel ddp(*model);        // rank 0's weights everywhere
///     ag::optim::SGD opt(model->parameters(), ag::optim::SGDOptions(0.01));
///     for (...) {
///       opt.zero_grad();
///       ag::cross_entropy(ddp(x_shard), y_shard).backward();
///       ddp.sync_gradients();                                      // the global batch's gradient
///       opt.step();
///     }
///
/// The module must outlive the wrapper (or pass a shared_ptr). Build the wrapper after any
/// Module::to() or parameter replacement: it keeps the parameters it saw, and sync_gradients()
/// throws if the module's parameters have changed since.
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

  /// The module's forward (checking first that the last backward's gradients were synced).
  /// Modules with other forward signatures can be called directly: only sync_gradients() matters.
  Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  /// Averages every parameter's gradient across ranks: one MPI_Allreduce per bucket. Call it on
  /// every rank after backward() and before the optimizer step.
  void sync_gradients();

  /// While alive, backward passes accumulate gradients locally (forward does not ask for a
  /// sync): gradient accumulation over several micro-batches, then one sync_gradients().
  ///
  ///     {
  ///       auto guard = ddp.no_sync();
  ///       loss(ddp(x1)).backward();
  ///     }
  ///     loss(ddp(x2)).backward();
  ///     ddp.sync_gradients();                     // the average of both micro-batches' sums
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  nn::Module* module_;
};

}  // namespace ag::distributed

// DistributedDataParallel: parameters broadcast at construction, gradients averaged in buckets.

#include "ag/distributed/ddp.h"

#include <climits>
#include <cstring>
#include <algorithm>
#include <map>
#include <set>

#include "ag/autograd/error.h"
#include "ag/autograd/ops.h"
#include "ag/distributed/collectives.h"
#include "ag/distributed/environment.h"
#include "ag/distributed/mpi_detail.h"
#include "ag/nn/embedding.h"

namespace ag::distributed {

// Shared by the wrapper and the hooks it puts on the parameters (removed with the wrapper).
struct DistributedDataParallel::NoSyncGuard::State {
  bool backward_pending = false;  // a backward reached the parameters since the last sync
  int no_sync_depth = 0;
};

struct DistributedDataParallel::Impl {
  // Where one parameter's gradient sits in its bucket's flat buffer.
  struct Slot {
    std::size_t param;
    std::int64_t offset;
  };
  // `flat` holds the gradients, then one has-a-gradient flag (0 or 1) per slot, then a problem
  // flag: a single all-reduce also tells every rank how many ranks had each gradient, and whether
  // any rank found its gradients unusable.
  struct FlatBucket {
    Dtype dtype;
    std::vector<Slot> slots;
    std::int64_t numel = 0;
    Tensor flat;
    bool sparse = false;  // the one weight of an Embedding(sparse=true): gathered, not all-reduced
  };

  std::shared_ptr<nn::Module> owner;
  std::vector<std::string> names;
  std::vector<Tensor> params;  // the parameters that require grad, in parameters() order
  std::vector<FlatBucket> buckets;
  std::shared_ptr<NoSyncGuard::State> state = std::make_shared<NoSyncGuard::State>();
  std::vector<HookHandle> hooks;

  /// Averages one bucket's gradients across ranks with one MPI_Allreduce. Returns false, having
  /// changed nothing, when some rank passed `problem_here`.
  template <class T>
  bool sync_bucket(FlatBucket& bucket, MPI_Comm comm, int world, bool problem_here);
  /// Averages a sparse gradient: every rank's rows are gathered (MPI_Allgatherv of indices and
  /// values), scaled by 1 / world; no dense [rows, ...] buffer is ever made.
  template <class T>
  bool sync_sparse_bucket(FlatBucket& bucket, MPI_Comm comm, int world, bool problem_here);
  /// What is wrong on this rank: parameters replaced since construction (misuse), or a gradient
  /// whose shape or dtype is not its parameter's. An empty message when all is well.
  struct Problem {
    std::string message;
    bool misuse = false;
  };
  Problem local_problem(const nn::Module& module) const;
};

namespace {

std::vector<std::pair<std::string, Tensor>> trained_parameters(const nn::Module& module) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (const auto& [name, p] : module.named_parameters())
    if (p.requires_grad()) out.emplace_back(name, p);
  return out;
}

/// Throws the same DistributedError on every rank unless all ranks built the same model.
void check_same_model(const nn::Module& module, bool with_buffers) {
  std::int64_t count = 0, numel = 0, layout = 0;
  for (const auto& [name, p] : module.named_parameters()) {
    ++count;
    numel += p.numel();
    // The seed is mixed in unsigned arithmetic: layout * 4 may pass INT64_MAX.
    layout = detail::shape_hash(p.shape(), static_cast<std::int64_t>(static_cast<std::uint64_t>(layout) * 4 +
                                                                      static_cast<std::uint64_t>(p.dtype()) * 2 +
                                                                      p.requires_grad()));
  }
  std::int64_t buffer_layout = 0;
  if (with_buffers)
    for (const Tensor& b : module.buffers())
      buffer_layout = detail::shape_hash(b.shape(), static_cast<std::int64_t>(static_cast<std::uint64_t>(buffer_layout) * 4 +
                                                                              static_cast<std::uint64_t>(b.dtype())));
  const std::int64_t facts[] = {count, numel, layout, buffer_layout};
  const char* names[] = {"parameter count", "parameter elements", "parameter shapes, dtypes and requires_grad",
                         "buffer shapes and dtypes"};
  detail::check_same_on_all_ranks("DistributedDataParallel", facts, 4, names,
                                  ag::detail::cat("a ", module.name(), " of ", count, " parameters (", numel,
                                                  " elements)"));
}

}  // namespace

template <class T>
bool DistributedDataParallel::Impl::sync_bucket(FlatBucket& bucket, MPI_Comm comm, int world, bool problem_here) {
  T* buf = bucket.flat.data_ptr<T>();
  T* has_grad = buf + bucket.numel;
  T& problems = has_grad[bucket.slots.size()];
  problems = problem_here ? 1 : 0;
  for (std::size_t k = 0; k < bucket.slots.size() && !problem_here; ++k) {
    const auto& slot = bucket.slots[k];
    const Tensor& g = params[slot.param].grad();
    const std::size_t bytes = sizeof(T) * static_cast<std::size_t>(params[slot.param].numel());
    if (g.defined()) std::memcpy(buf + slot.offset, g.contiguous().data_ptr<T>(), bytes);
    else std::memset(buf + slot.offset, 0, bytes);  // take part all the same
    has_grad[k] = g.defined() ? 1 : 0;
  }
  const int count = static_cast<int>(bucket.flat.numel());
  detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, buf, count, detail::mpi_type(bucket.dtype), MPI_SUM, comm),
                    "DistributedDataParallel::sync_gradients");
  if (problems != 0) return false;
  const T n = static_cast<T>(world);
  for (std::size_t k = 0; k < bucket.slots.size(); ++k) {
    if (has_grad[k] == 0) continue;  // no rank had a gradient: leave it undefined, as locally
    const auto& slot = bucket.slots[k];
    Tensor& p = params[slot.param];
    Tensor g = p.grad();
    if (!g.defined() || g.grad_fn() || !g.is_contiguous()) {
      // A fresh tensor rather than writing into a gradient that carries a graph (create_graph).
      g = empty(p.shape(), p.dtype());
      p.set_grad(g);
    }
    T* out = g.data_ptr<T>();
    const T* src = buf + slot.offset;
    for (std::int64_t i = 0, e = p.numel(); i < e; ++i) out[i] = src[i] / n;
    g.mark_modified();
  }
  return true;
}

template <class T>
bool DistributedDataParallel::Impl::sync_sparse_bucket(FlatBucket& bucket, MPI_Comm comm, int world,
                                                       bool problem_here) {
  Tensor& p = params[bucket.slots[0].param];
  const Tensor g = p.grad();
  const std::int64_t row = p.dim() == 0 || p.size(0) == 0 ? 0 : p.numel() / p.size(0);
  const Tensor indices = g.defined() ? g.indices().reshape({g._nnz()}).contiguous() : empty({0}, kInt64);
  const Tensor values = g.defined() ? g.values().contiguous() : empty({0, row}, p.dtype());
  // First what each rank holds: [rows, has a gradient, found a problem].
  std::int64_t mine[3] = {indices.numel(), g.defined() ? 1 : 0, problem_here ? 1 : 0};
  std::vector<std::int64_t> all(3 * static_cast<std::size_t>(world));
  detail::check_mpi(MPI_Allgather(mine, 3, MPI_INT64_T, all.data(), 3, MPI_INT64_T, comm),
                    "DistributedDataParallel::sync_gradients");
  std::int64_t total = 0, any_grad = 0, problems = 0;
  std::vector<int> counts(static_cast<std::size_t>(world)), value_counts(counts.size()), offsets(counts.size()),
      value_offsets(counts.size());
  for (int r = 0; r < world; ++r) {
    const std::int64_t n = all[3 * static_cast<std::size_t>(r)];
    AG_CHECK((total + n) * std::max<std::int64_t>(row, 1) <= INT_MAX, "DistributedDataParallel::sync_gradients: the "
             "sparse gradient of '", names[bucket.slots[0].param], "' gathered from all ranks has more than 2^31 - 1 "
             "elements, more than one MPI call can carry");
    counts[static_cast<std::size_t>(r)] = static_cast<int>(n);
    offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
    value_counts[static_cast<std::size_t>(r)] = static_cast<int>(n * row);
    value_offsets[static_cast<std::size_t>(r)] = static_cast<int>(total * row);
    total += n;
    any_grad += all[3 * static_cast<std::size_t>(r) + 1];
    problems += all[3 * static_cast<std::size_t>(r) + 2];
  }
  if (problems != 0) return false;
  if (any_grad == 0) return true;  // no rank had a gradient: leave it undefined, as locally
  Tensor all_indices = empty({total}, kInt64);
  Shape vshape = p.shape();
  vshape[0] = total;
  Tensor all_values = empty(vshape, p.dtype());
  detail::check_mpi(MPI_Allgatherv(indices.data_ptr<std::int64_t>(), static_cast<int>(mine[0]), MPI_INT64_T,
                                   all_indices.data_ptr<std::int64_t>(), counts.data(), offsets.data(), MPI_INT64_T,
                                   comm),
                    "DistributedDataParallel::sync_gradients");
  detail::check_mpi(MPI_Allgatherv(values.data_ptr<T>(), static_cast<int>(mine[0] * row), detail::mpi_type(bucket.dtype),
                                   all_values.data_ptr<T>(), value_counts.data(), value_offsets.data(),
                                   detail::mpi_type(bucket.dtype), comm),
                    "DistributedDataParallel::sync_gradients");
  T* v = all_values.data_ptr<T>();
  const T n = static_cast<T>(world);
  for (std::int64_t i = 0, e = all_values.numel(); i < e; ++i) v[i] = v[i] / n;
  p.set_grad(sparse_coo_tensor(all_indices, all_values, p.shape()));  // the rows of rank 0, then rank 1, ...
  return true;
}

DistributedDataParallel::Impl::Problem DistributedDataParallel::Impl::local_problem(const nn::Module& module) const {
  // The module's parameters must still be the tensors the buckets were built from.
  auto now = trained_parameters(module);
  bool same = now.size() == params.size();
  for (std::size_t i = 0; same && i < now.size(); ++i) same = now[i].second.is_same(params[i]);
  if (!same)
    return {ag::detail::cat("DistributedDataParallel::sync_gradients: the module's trained parameters are not the ones "
                            "it had when the wrapper was built (",
                            params.size(), " then, ", now.size(),
                            " now, or replaced by Module::to(), assignment or requires_grad_()); build the "
                            "DistributedDataParallel after changing them"),
            true};
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    const Tensor& g = p.grad();
    if (g.defined() && (g.dtype() != p.dtype() || g.shape() != p.shape()))
      return {ag::detail::cat("DistributedDataParallel::sync_gradients: the gradient of '", names[i], "' is ",
                              g.shape(), " ", g.dtype(), " but the parameter is ", p.shape(), " ", p.dtype()),
              false};
  }
  for (const FlatBucket& b : buckets)
    for (const Slot& slot : b.slots) {
      const Tensor& g = params[slot.param].grad();
      if (!g.defined() || g.is_sparse() == b.sparse) continue;
      const std::string& name = names[slot.param];
      if (b.sparse)
        return {ag::detail::cat("DistributedDataParallel::sync_gradients: the gradient of '", name, "' is dense, but ",
                                "it is the weight of an Embedding with sparse(true), whose bucket gathers sparse rows"),
                false};
      return {ag::detail::cat("DistributedDataParallel::sync_gradients: the gradient of '", name, "' (", g.shape(),
                              ") is sparse, but it is in a bucket of ", b.slots.size(), " dense gradient",
                              b.slots.size() == 1 ? "" : "s", ", which one MPI_Allreduce sums; sparse gradients get "
                              "buckets of their own only as the weight of an nn::Embedding built with sparse(true)"),
              false};
    }
  return {};
}

// ---- construction -------------------------------------------------------------------------------

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, const DDPOptions& options)
    : DistributedDataParallel(*module, options) {
  impl_->owner = std::move(module);
}

DistributedDataParallel::DistributedDataParallel(nn::Module& module, const DDPOptions& options)
    : impl_(std::make_unique<Impl>()), module_(&module) {
  AG_CHECK(options.bucket_cap_mb() > 0, "DistributedDataParallel: bucket_cap_mb must be > 0, got ",
           options.bucket_cap_mb());
  detail::comm("DistributedDataParallel");  // throws a clear error without an Environment
  check_same_model(module, options.broadcast_buffers());
  broadcast_parameters(module, 0);
  if (options.broadcast_buffers()) broadcast_parameters(module.buffers(), 0);

  for (auto& [name, p] : trained_parameters(module)) {
    impl_->names.push_back(name);
    impl_->params.push_back(p);
  }
  // The weights whose gradients will be sparse, as PyTorch's DDP finds them: those of the
  // Embeddings built with sparse(true). Each gets a bucket of its own.
  std::set<const TensorImpl*> sparse_weights;
  for (const auto& [name, m] : module.named_modules())
    if (const auto* emb = dynamic_cast<const nn::Embedding*>(m.get()); emb && emb->options.sparse())
      sparse_weights.insert(emb->weight.impl());
  // Parameters fill buckets in parameters() order, one open bucket per dtype.
  const double cap_bytes = options.bucket_cap_mb() * 1024 * 1024;
  std::map<Dtype, std::size_t> open;
  auto& buckets = impl_->buckets;
  for (std::size_t i = 0; i < impl_->params.size(); ++i) {
    const Tensor& p = impl_->params[i];
    if (sparse_weights.count(p.impl())) {
      buckets.push_back({p.dtype(), {{i, 0}}, p.numel(), Tensor(), true});
      continue;
    }
    const double bytes = static_cast<double>(p.numel()) * static_cast<double>(element_size(p.dtype()));
    auto it = open.find(p.dtype());
    if (it == open.end() || static_cast<double>(buckets[it->second].numel * element_size(p.dtype())) + bytes > cap_bytes) {
      buckets.push_back({p.dtype(), {}, 0, Tensor()});
      it = open.insert_or_assign(p.dtype(), buckets.size() - 1).first;
    }
    auto& b = buckets[it->second];
    b.slots.push_back({i, b.numel});
    b.numel += p.numel();
  }
  for (auto& b : buckets) {
    if (b.sparse) continue;
    const std::int64_t total = b.numel + static_cast<std::int64_t>(b.slots.size()) + 1;
    AG_CHECK(total <= INT_MAX, "DistributedDataParallel: a bucket of ", total,
             " elements is larger than one MPI call can carry (2^31 - 1); split the parameter");
    b.flat = empty({total}, b.dtype);
  }

  std::shared_ptr<NoSyncGuard::State> state = impl_->state;
  for (const Tensor& p : impl_->params) {
    impl_->hooks.push_back(p.register_hook([state](const Tensor&) {
      if (state->no_sync_depth == 0) state->backward_pending = true;
      return Tensor();  // keep the gradient as it is
    }));
  }
}

DistributedDataParallel::~DistributedDataParallel() {
  if (impl_)
    for (HookHandle& h : impl_->hooks) h.remove();
}

DistributedDataParallel::DistributedDataParallel(DistributedDataParallel&&) noexcept = default;
DistributedDataParallel& DistributedDataParallel::operator=(DistributedDataParallel&& other) noexcept {
  if (this != &other) {
    if (impl_)
      for (HookHandle& h : impl_->hooks) h.remove();
    impl_ = std::move(other.impl_);
    module_ = other.module_;
  }
  return *this;
}

// ---- training -----------------------------------------------------------------------------------

Tensor DistributedDataParallel::forward(const Tensor& input) {
  AG_CHECK_STATE(impl_, "DistributedDataParallel::forward: this wrapper was moved from");
  AG_CHECK_STATE(!impl_->state->backward_pending,
                 "DistributedDataParallel::forward: the gradients of the last backward() were not averaged across "
                 "ranks; call sync_gradients() after backward() and before the optimizer step (or run backward "
                 "inside no_sync() to accumulate gradients over several batches on purpose)");
  return module_->forward(input);
}

void DistributedDataParallel::sync_gradients() {
  AG_CHECK_STATE(impl_, "DistributedDataParallel::sync_gradients: this wrapper was moved from");
  AG_CHECK_STATE(impl_->state->no_sync_depth == 0,
                 "DistributedDataParallel::sync_gradients: called inside no_sync(); end the no_sync() scope first");
  MPI_Comm comm = detail::comm("DistributedDataParallel::sync_gradients");
  // A problem found on one rank travels in the first bucket's all-reduce, so that every rank
  // stops at the same point instead of the others waiting for a rank that has thrown.
  const Impl::Problem problem = impl_->local_problem(*module_);
  const int world = world_size();
  for (std::size_t i = 0; i < impl_->buckets.size(); ++i) {
    auto& b = impl_->buckets[i];
    const bool problem_here = i == 0 && !problem.message.empty();
    bool ok;
    if (b.sparse)
      ok = b.dtype == kFloat32 ? impl_->sync_sparse_bucket<float>(b, comm, world, problem_here)
                               : impl_->sync_sparse_bucket<double>(b, comm, world, problem_here);
    else
      ok = b.dtype == kFloat32 ? impl_->sync_bucket<float>(b, comm, world, problem_here)
                               : impl_->sync_bucket<double>(b, comm, world, problem_here);
    if (ok) continue;
    AG_CHECK_STATE(!problem.misuse, problem.message);
    AG_CHECK(problem.message.empty(), problem.message);
    throw DistributedError("DistributedDataParallel::sync_gradients: another rank found a problem with its "
                           "parameters or gradients (its own error says which); no gradient was changed");
  }
  impl_->state->backward_pending = false;
}

DistributedDataParallel::NoSyncGuard::NoSyncGuard(std::shared_ptr<State> state) : state_(std::move(state)) {
  ++state_->no_sync_depth;
}
DistributedDataParallel::NoSyncGuard::~NoSyncGuard() { --state_->no_sync_depth; }

DistributedDataParallel::NoSyncGuard DistributedDataParallel::no_sync() {
  AG_CHECK_STATE(impl_, "DistributedDataParallel::no_sync: this wrapper was moved from");
  return NoSyncGuard(impl_->state);
}

std::vector<Bucket> DistributedDataParallel::buckets() const {
  std::vector<Bucket> out;
  if (!impl_) return out;
  for (const auto& b : impl_->buckets) {
    Bucket info{b.dtype, {}, b.numel, b.sparse};
    for (const auto& s : b.slots) info.parameter_names.push_back(impl_->names[s.param]);
    out.push_back(std::move(info));
  }
  return out;
}

}  // namespace ag::distributed

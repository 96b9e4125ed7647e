// DistributedDataParallel: parameters broadcast at construction, gradients averaged in buckets
// whose all-reduces start during backward, from post-accumulate-grad hooks.

#include "ag/distributed/ddp.h"

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <set>
#include <thread>

#include "ag/autograd/engine.h"
#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/autograd/node.h"
#include "ag/autograd/ops.h"
#include "ag/distributed/collectives.h"
#include "ag/distributed/environment.h"
#include "ag/distributed/mpi_detail.h"
#include "ag/nn/embedding.h"

namespace ag::distributed {

using Clock = std::chrono::steady_clock;

struct DistributedDataParallel::NoSyncGuard::State {
  int no_sync_depth = 0;
};

struct DistributedDataParallel::Impl {
  // Where one parameter's gradient sits in its bucket's flat buffer.
  struct Slot {
    std::size_t param;
    std::int64_t offset;
  };
  // `flat` holds the gradients, then one has-a-gradient flag (0 or 1) per slot, then a problem
  // flag and the step counter s and s^2 (mod kStepPeriod): one all-reduce also tells every rank
  // how many ranks had each gradient, whether any rank found its gradients unusable, and whether
  // all ranks are at the same step (sum s = n m and sum s^2 = n m^2 only when every s is m).
  struct FlatBucket {
    Dtype dtype;
    std::vector<Slot> slots;
    std::int64_t numel = 0;
    Tensor flat;
    bool sparse = false;  // the one weight of an Embedding(sparse=true): gathered, not all-reduced
    // This step:
    std::size_t pending = 0;  // slots whose gradient is not ready yet
    bool launched = false;
    bool done = false;
    MPI_Request request = MPI_REQUEST_NULL;
  };
  static constexpr int kStepPeriod = 1024;
  static constexpr std::int64_t kExtra = 3;  // problem flag, s, s^2

  DDPOptions options;
  std::shared_ptr<nn::Module> owner;
  nn::Module* module = nullptr;
  std::vector<std::string> names;
  std::vector<Tensor> params;  // the parameters that require grad, in parameters() order
  std::set<const TensorImpl*> sparse_weights;
  std::vector<FlatBucket> buckets;
  std::vector<std::pair<std::size_t, std::size_t>> where;  // parameter -> (bucket, slot)
  std::shared_ptr<NoSyncGuard::State> state = std::make_shared<NoSyncGuard::State>();
  std::vector<HookHandle> hooks;
  MPI_Comm comm = MPI_COMM_NULL;
  int world = 1;

  // The reduction of the current backward.
  bool active = false;                // begun by the first ready gradient, ended by the engine callback
  bool forward_in_no_sync = false;    // the last forward ran inside no_sync()
  std::vector<char> ready;            // per parameter
  std::vector<char> unused;           // per parameter: not reached from the last forward's output
  std::size_t next_bucket = 0;        // buckets start in this order on every rank
  std::int64_t step = 0;              // reductions begun
  std::int64_t step_key = 0;          // what every rank must agree on in this reduction
  std::string forward_failure;        // the last forward() threw this, and no reduction has told the others
  std::string problem;                // what is wrong on this rank, in this reduction
  enum class Kind { Misuse, BadValue, FailedForward } kind = Kind::BadValue;  // which exception it becomes
  std::vector<std::size_t> ready_order;  // the first reduction's order, for the rebuild
  bool rebuilt = false;
  bool reduced_since_sync = false;    // a reduction finished since the last sync_gradients()
  std::string broken;                 // why this wrapper cannot communicate any more
  double wait_seconds = 0;
  std::weak_ptr<Impl> self;

  void build_buckets(const std::vector<std::size_t>& order);
  void begin_reduction();
  void grad_ready(std::size_t i);
  void fill_slot(std::size_t i, bool with_grad);
  void launch_ready_buckets(bool all);
  void launch(FlatBucket& b);
  void progress();
  void finish_reduction();
  void rebuild_buckets();
  void broadcast_buffers();
  void find_unused(const Tensor& output);
  /// Waits for `request` for at most options.timeout, driving MPI's progress with MPI_Test.
  void wait(MPI_Request& request, const std::string& what);
  [[noreturn]] void fail(const std::string& why);
  void check_usable(const char* what) const {
    if (!broken.empty())
      throw DistributedError(ag::detail::cat("DistributedDataParallel::", what, ": unusable after an earlier failure (",
                                             broken, ")"));
  }
  template <class T>
  void copy_back(FlatBucket& bucket);
  template <class T>
  bool sync_sparse_bucket(FlatBucket& bucket, bool problem_here, Tensor& result);
  std::string replaced_parameters() const;
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

std::string seconds_str(double s) { return ag::detail::cat(s, " s"); }

}  // namespace

// ---- buckets ------------------------------------------------------------------------------------

// As PyTorch's compute_bucket_assignment_by_size: one open bucket per dtype, closed once it
// holds at least its limit (first_bucket_cap_mb for each dtype's first bucket, then
// bucket_cap_mb); a sparse weight alone; buckets ordered by the first parameter they hold.
void DistributedDataParallel::Impl::build_buckets(const std::vector<std::size_t>& order) {
  struct Open {
    std::size_t bucket;
    int closed = 0;  // buckets of this dtype closed so far
  };
  const double mib = 1024.0 * 1024.0;
  std::vector<FlatBucket> out;
  std::map<Dtype, Open> open;
  std::map<Dtype, int> closed;
  for (std::size_t i : order) {
    const Tensor& p = params[i];
    if (sparse_weights.count(p.impl())) {
      FlatBucket b{p.dtype(), {{i, 0}}, p.numel(), Tensor(), true};
      out.push_back(std::move(b));
      continue;
    }
    auto it = open.find(p.dtype());
    if (it == open.end()) {
      out.push_back(FlatBucket{p.dtype(), {}, 0, Tensor()});
      it = open.insert({p.dtype(), Open{out.size() - 1}}).first;
    }
    FlatBucket& b = out[it->second.bucket];
    b.slots.push_back({i, b.numel});
    b.numel += p.numel();
    const double limit = (closed[p.dtype()] == 0 ? options.first_bucket_cap_mb() : options.bucket_cap_mb()) * mib;
    if (static_cast<double>(b.numel) * static_cast<double>(element_size(p.dtype())) >= limit) {
      ++closed[p.dtype()];
      open.erase(it);
    }
  }
  // Buckets were made in order of their first parameter already.
  where.assign(params.size(), {0, 0});
  for (std::size_t k = 0; k < out.size(); ++k) {
    FlatBucket& b = out[k];
    for (std::size_t s = 0; s < b.slots.size(); ++s) where[b.slots[s].param] = {k, s};
    if (b.sparse) continue;
    const std::int64_t total = b.numel + static_cast<std::int64_t>(b.slots.size()) + kExtra;
    AG_CHECK(total <= INT_MAX, "DistributedDataParallel: a bucket of ", total,
             " elements is larger than one MPI call can carry (2^31 - 1); split the parameter");
    b.flat = empty({total}, b.dtype);
  }
  buckets = std::move(out);
}

std::string DistributedDataParallel::Impl::replaced_parameters() const {
  auto now = trained_parameters(*module);
  bool same = now.size() == params.size();
  for (std::size_t i = 0; same && i < now.size(); ++i) same = now[i].second.is_same(params[i]);
  if (same) return {};
  return ag::detail::cat("DistributedDataParallel: the module's trained parameters are not the ones it had when the "
                         "wrapper was built (", params.size(), " then, ", now.size(), " now, or replaced by "
                         "Module::to(), assignment or requires_grad_()); build the DistributedDataParallel after "
                         "changing them");
}

// ---- one reduction --------------------------------------------------------------------------------

void DistributedDataParallel::Impl::begin_reduction() {
  active = true;
  ++step;
  step_key = step % kStepPeriod;
  next_bucket = 0;
  ready.assign(params.size(), 0);
  for (FlatBucket& b : buckets) {
    b.pending = b.slots.size();
    b.launched = b.done = false;
  }
  problem = replaced_parameters();
  kind = Kind::Misuse;
  if (problem.empty() && !forward_failure.empty()) {
    // The other ranks hear of it in this reduction (theirs of the step this rank skipped).
    problem = ag::detail::cat("DistributedDataParallel: the forward of an earlier step failed on rank ",
                              ag::distributed::rank(), " (", forward_failure, "), so this rank skipped a step the "
                              "others took; no gradient was averaged");
    kind = Kind::FailedForward;
  }
  forward_failure.clear();
  if (options.find_unused_parameters() && unused.size() == params.size())
    for (std::size_t i = 0; i < params.size(); ++i)
      if (unused[i]) {
        ready[i] = 1;
        fill_slot(i, false);
      }
}

void DistributedDataParallel::Impl::fill_slot(std::size_t i, bool with_grad) {
  auto [k, s] = where[i];
  FlatBucket& b = buckets[k];
  --b.pending;
  const Tensor& p = params[i];
  const Tensor g = with_grad ? p.grad() : Tensor();
  if (g.defined() && problem.empty()) {
    if (g.dtype() != p.dtype() || g.shape() != p.shape())
      problem = ag::detail::cat("DistributedDataParallel: the gradient of '", names[i], "' is ", g.shape(), " ",
                                g.dtype(), " but the parameter is ", p.shape(), " ", p.dtype());
    else if (g.is_sparse() != b.sparse)
      problem = b.sparse ? ag::detail::cat("DistributedDataParallel: the gradient of '", names[i], "' is dense, but it is "
                                           "the weight of an Embedding with sparse(true), whose bucket gathers sparse rows")
                         : ag::detail::cat("DistributedDataParallel: the gradient of '", names[i], "' (", g.shape(),
                                           ") is sparse, but it is in a bucket of ", b.slots.size(), " dense gradient",
                                           b.slots.size() == 1 ? "" : "s", ", which one MPI_Iallreduce sums; sparse "
                                           "gradients get buckets of their own only as the weight of an nn::Embedding "
                                           "built with sparse(true)");
    if (!problem.empty()) kind = Kind::BadValue;
  }
  if (b.sparse) return;  // gathered at the end of backward, from .grad
  const std::size_t bytes = element_size(b.dtype) * static_cast<std::size_t>(p.numel());
  char* buf = static_cast<char*>(b.flat.mutable_raw_data());
  const bool usable = g.defined() && problem.empty();
  if (usable) std::memcpy(buf + b.slots[s].offset * static_cast<std::int64_t>(element_size(b.dtype)),
                          g.contiguous().raw_data(), bytes);
  else std::memset(buf + b.slots[s].offset * static_cast<std::int64_t>(element_size(b.dtype)), 0, bytes);
  const double flag = g.defined() ? 1 : 0;
  if (b.dtype == kFloat32) b.flat.data_ptr<float>()[b.numel + static_cast<std::int64_t>(s)] = static_cast<float>(flag);
  else b.flat.data_ptr<double>()[b.numel + static_cast<std::int64_t>(s)] = flag;
}

void DistributedDataParallel::Impl::grad_ready(std::size_t i) {
  if (state->no_sync_depth > 0 || forward_in_no_sync) return;
  check_usable("backward");
  if (!active) {
    begin_reduction();
    // The end of this backward pass waits for the buckets.
    queue_callback([weak = self] {
      if (auto me = weak.lock()) me->finish_reduction();
    });
  }
  AG_CHECK_STATE(!ready[i], "DistributedDataParallel: the gradient of '", names[i], "' became ready twice in one "
                 "backward pass", unused.size() == params.size() && unused[i] ? " (find_unused_parameters counted it "
                 "unused: the output of the last forward does not depend on it)" : "");
  ready[i] = 1;
  if (!rebuilt) ready_order.push_back(i);
  fill_slot(i, true);
  if (options.overlap()) {
    launch_ready_buckets(false);
    progress();
  }
}

void DistributedDataParallel::Impl::launch_ready_buckets(bool all) {
  // Dense buckets start in bucket order, skipping sparse ones (gathered after the others).
  while (next_bucket < buckets.size()) {
    FlatBucket& b = buckets[next_bucket];
    if (!b.sparse) {
      if (b.pending > 0 && !all) return;
      launch(b);
      if (!options.overlap()) wait(b.request, ag::detail::cat("bucket ", next_bucket, " of ", buckets.size()));
    }
    ++next_bucket;
  }
}

void DistributedDataParallel::Impl::launch(FlatBucket& b) {
  const bool bad = !problem.empty();
  const double extra[kExtra] = {bad ? 1.0 : 0.0, static_cast<double>(step_key),
                                static_cast<double>(step_key * step_key)};
  const std::int64_t at = b.numel + static_cast<std::int64_t>(b.slots.size());
  for (int e = 0; e < kExtra; ++e) {
    if (b.dtype == kFloat32) b.flat.data_ptr<float>()[at + e] = static_cast<float>(extra[e]);
    else b.flat.data_ptr<double>()[at + e] = extra[e];
  }
  detail::check_mpi(MPI_Iallreduce(MPI_IN_PLACE, b.flat.mutable_raw_data(), static_cast<int>(b.flat.numel()),
                                   detail::mpi_type(b.dtype), MPI_SUM, comm, &b.request),
                    "DistributedDataParallel (backward)");
  b.launched = true;
}

// MPI moves a non-blocking collective along only inside MPI calls (OpenMPI has no progress
// thread here): a test of the buckets in flight at every ready gradient keeps them moving.
void DistributedDataParallel::Impl::progress() {
  for (std::size_t k = 0; k < next_bucket; ++k) {
    FlatBucket& b = buckets[k];
    if (!b.launched || b.done) continue;
    int flag = 0;
    detail::check_mpi(MPI_Test(&b.request, &flag, MPI_STATUS_IGNORE), "DistributedDataParallel (backward)");
    b.done = flag != 0;
  }
}

void DistributedDataParallel::Impl::fail(const std::string& why) {
  broken = why;
  active = false;
  detail::mark_broken(why);
  throw DistributedError(why);
}

void DistributedDataParallel::Impl::wait(MPI_Request& request, const std::string& what) {
  const auto t0 = Clock::now();
  const auto limit = options.timeout();
  int flag = 0;
  for (std::uint64_t polls = 0;; ++polls) {
    detail::check_mpi(MPI_Test(&request, &flag, MPI_STATUS_IGNORE), "DistributedDataParallel");
    if (flag) break;
    const auto waited = Clock::now() - t0;
    if (waited > limit)
      fail(ag::detail::cat("DistributedDataParallel: rank ", ag::distributed::rank(), " of ", world, " waited ",
                           seconds_str(std::chrono::duration<double>(waited).count()), " (the timeout) for the other "
                           "ranks to join the reduction of ", what, " at step ", step, "; another rank has failed, "
                           "is stuck, or stopped calling backward()"));
    // Spin at first (the answer is usually microseconds away), then leave the core to others:
    // on a machine with as many ranks as cores, the rank being waited for may need it.
    if (waited > std::chrono::milliseconds(1)) std::this_thread::sleep_for(std::chrono::microseconds(20));
    else if (polls > 200) std::this_thread::yield();
  }
  wait_seconds += std::chrono::duration<double>(Clock::now() - t0).count();
}

template <class T>
void DistributedDataParallel::Impl::copy_back(FlatBucket& bucket) {
  const T* buf = bucket.flat.data_ptr<T>();
  const T* has_grad = buf + bucket.numel;
  const T n = static_cast<T>(world);
  for (std::size_t k = 0; k < bucket.slots.size(); ++k) {
    if (has_grad[k] == 0) continue;  // no rank had a gradient: leave it undefined, as locally
    const Slot& slot = bucket.slots[k];
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
}

template <class T>
bool DistributedDataParallel::Impl::sync_sparse_bucket(FlatBucket& bucket, bool problem_here, Tensor& result) {
  const std::size_t param = bucket.slots[0].param;
  Tensor& p = params[param];
  const Tensor g = p.grad().defined() && p.grad().is_sparse() ? p.grad() : Tensor();
  const std::int64_t row = p.dim() == 0 || p.size(0) == 0 ? 0 : p.numel() / p.size(0);
  const Tensor indices = g.defined() ? g.indices().reshape({g._nnz()}).contiguous() : empty({0}, kInt64);
  const Tensor values = g.defined() ? g.values().contiguous() : empty({0, row}, p.dtype());
  const std::string what = ag::detail::cat("the sparse gradient of '", names[param], "'");
  // First what each rank holds: [rows, has a gradient, found a problem, step].
  std::int64_t mine[4] = {indices.numel(), g.defined() ? 1 : 0, problem_here ? 1 : 0, step_key};
  std::vector<std::int64_t> all(4 * static_cast<std::size_t>(world));
  MPI_Request request;
  detail::check_mpi(MPI_Iallgather(mine, 4, MPI_INT64_T, all.data(), 4, MPI_INT64_T, comm, &request),
                    "DistributedDataParallel (backward)");
  wait(request, what);
  std::int64_t total = 0, any_grad = 0, problems = 0;
  std::vector<int> counts(static_cast<std::size_t>(world)), value_counts(counts.size()), offsets(counts.size()),
      value_offsets(counts.size());
  for (int r = 0; r < world; ++r) {
    const std::int64_t* facts = &all[4 * static_cast<std::size_t>(r)];
    if (facts[3] != step_key)
      fail(ag::detail::cat("DistributedDataParallel: the ranks are not at the same step: rank ", r, " and rank ",
                           ag::distributed::rank(), " disagree in the reduction of ", what, " at this rank's step ",
                           step, "; a rank skipped a forward or backward, or failed in the middle of one"));
    const std::int64_t n = facts[0];
    AG_CHECK((total + n) * std::max<std::int64_t>(row, 1) <= INT_MAX, "DistributedDataParallel: ", what,
             " gathered from all ranks has more than 2^31 - 1 elements, more than one MPI call can carry");
    counts[static_cast<std::size_t>(r)] = static_cast<int>(n);
    offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
    value_counts[static_cast<std::size_t>(r)] = static_cast<int>(n * row);
    value_offsets[static_cast<std::size_t>(r)] = static_cast<int>(total * row);
    total += n;
    any_grad += facts[1];
    problems += facts[2];
  }
  if (problems != 0) return false;
  if (any_grad == 0) return true;  // no rank had a gradient: leave it undefined, as locally
  Tensor all_indices = empty({total}, kInt64);
  Shape vshape = p.shape();
  vshape[0] = total;
  Tensor all_values = empty(vshape, p.dtype());
  MPI_Request requests[2];
  detail::check_mpi(MPI_Iallgatherv(indices.data_ptr<std::int64_t>(), static_cast<int>(mine[0]), MPI_INT64_T,
                                    all_indices.data_ptr<std::int64_t>(), counts.data(), offsets.data(), MPI_INT64_T,
                                    comm, &requests[0]),
                    "DistributedDataParallel (backward)");
  detail::check_mpi(MPI_Iallgatherv(values.data_ptr<T>(), static_cast<int>(mine[0] * row), detail::mpi_type(bucket.dtype),
                                    all_values.data_ptr<T>(), value_counts.data(), value_offsets.data(),
                                    detail::mpi_type(bucket.dtype), comm, &requests[1]),
                    "DistributedDataParallel (backward)");
  wait(requests[0], what);
  wait(requests[1], what);
  T* v = all_values.data_ptr<T>();
  const T n = static_cast<T>(world);
  for (std::int64_t i = 0, e = all_values.numel(); i < e; ++i) v[i] = v[i] / n;
  result = sparse_coo_tensor(all_indices, all_values, p.shape());  // the rows of rank 0, then rank 1, ...
  return true;
}

void DistributedDataParallel::Impl::finish_reduction() {
  // Gradients that did not come in this pass take part as zeros; then every bucket goes.
  for (std::size_t i = 0; i < params.size(); ++i)
    if (!ready[i]) fill_slot(i, false);
  launch_ready_buckets(true);
  bool problems = false, out_of_step = false;
  for (std::size_t k = 0; k < buckets.size(); ++k) {
    FlatBucket& b = buckets[k];
    if (b.sparse) continue;
    if (!b.done) wait(b.request, ag::detail::cat("bucket ", k, " of ", buckets.size()));
    b.done = true;
    const std::int64_t at = b.numel + static_cast<std::int64_t>(b.slots.size());
    double extra[kExtra];
    for (int e = 0; e < kExtra; ++e)
      extra[e] = b.dtype == kFloat32 ? b.flat.data_ptr<float>()[at + e] : b.flat.data_ptr<double>()[at + e];
    const double s = static_cast<double>(step_key);
    problems = problems || extra[0] != 0;
    out_of_step = out_of_step || extra[1] != world * s || extra[2] != world * s * s;
  }
  if (out_of_step)
    fail(ag::detail::cat("DistributedDataParallel: the ranks are not at the same step: rank ", ag::distributed::rank(),
                         " reduced the gradients of its step ", step, " with other ranks' of another step; a rank "
                         "skipped a forward or backward, or failed in the middle of one"));
  // Sparse buckets: synchronous gathers, only when no dense bucket reported a problem (every
  // rank knows it from the sums, so all skip them alike).
  std::vector<std::pair<std::size_t, Tensor>> sparse_results;
  for (std::size_t k = 0; k < buckets.size() && !problems; ++k) {
    FlatBucket& b = buckets[k];
    if (!b.sparse) continue;
    Tensor result;
    const bool ok = b.dtype == kFloat32 ? sync_sparse_bucket<float>(b, !problem.empty(), result)
                                        : sync_sparse_bucket<double>(b, !problem.empty(), result);
    problems = !ok;
    if (result.defined()) sparse_results.emplace_back(b.slots[0].param, std::move(result));
  }
  active = false;
  if (problems) {
    AG_CHECK_STATE(problem.empty() || kind != Kind::Misuse, problem);
    AG_CHECK(problem.empty() || kind != Kind::BadValue, problem);
    if (!problem.empty()) throw DistributedError(problem);
    throw DistributedError("DistributedDataParallel: another rank found a problem with its parameters or gradients, "
                           "or its forward failed (its own error says which); no gradient was averaged");
  }
  for (FlatBucket& b : buckets) {
    if (b.sparse) continue;
    if (b.dtype == kFloat32) copy_back<float>(b);
    else copy_back<double>(b);
  }
  for (auto& [param, grad] : sparse_results) params[param].set_grad(grad);
  reduced_since_sync = true;
  if (!rebuilt) rebuild_buckets();
}

// After the first step, the buckets follow the order in which rank 0's gradients became ready
// (those that never did last, in reverse registration order), as PyTorch's rebuild_buckets.
void DistributedDataParallel::Impl::rebuild_buckets() {
  rebuilt = true;
  std::vector<std::int64_t> order;
  std::vector<char> seen(params.size(), 0);
  for (std::size_t i : ready_order) {
    order.push_back(static_cast<std::int64_t>(i));
    seen[i] = 1;
  }
  for (std::size_t i = params.size(); i-- > 0;)
    if (!seen[i]) order.push_back(static_cast<std::int64_t>(i));
  ready_order.clear();
  MPI_Request request;
  detail::check_mpi(MPI_Ibcast(order.data(), static_cast<int>(order.size()), MPI_INT64_T, 0, comm, &request),
                    "DistributedDataParallel (rebuilding the buckets)");
  wait(request, "the buckets' new order");
  std::vector<std::size_t> ids(order.begin(), order.end());
  build_buckets(ids);
}

void DistributedDataParallel::Impl::broadcast_buffers() {
  for (const Tensor& t : module->buffers()) {
    if (!t.is_contiguous() || t.numel() == 0) {
      broadcast(t, 0);
      continue;
    }
    AG_CHECK(t.numel() <= INT_MAX, "DistributedDataParallel: a buffer of ", t.numel(), " elements is larger than one "
             "MPI call can carry");
    MPI_Request request;
    detail::check_mpi(MPI_Ibcast(t.mutable_raw_data(), static_cast<int>(t.numel()), detail::mpi_type(t.dtype()), 0,
                                 comm, &request),
                      "DistributedDataParallel::forward (broadcast_buffers)");
    wait(request, "a buffer's broadcast");
    t.mark_modified();
  }
}

// The leaves reachable from `output` through its graph; the parameters not among them are unused.
void DistributedDataParallel::Impl::find_unused(const Tensor& output) {
  std::set<const void*> leaves, seen;
  std::vector<const Node*> stack;
  if (output.grad_fn()) stack.push_back(output.grad_fn().get());
  else leaves.insert(output.impl());
  while (!stack.empty()) {
    const Node* n = stack.back();
    stack.pop_back();
    if (!seen.insert(n).second) continue;
    for (const Edge& e : n->next_functions()) {
      if (e.fn) stack.push_back(e.fn.get());
      else if (e.leaf) leaves.insert(e.leaf.get());
    }
  }
  unused.assign(params.size(), 0);
  for (std::size_t i = 0; i < params.size(); ++i) unused[i] = leaves.count(params[i].impl()) == 0;
}

// ---- construction -------------------------------------------------------------------------------

DistributedDataParallel::DistributedDataParallel(std::shared_ptr<nn::Module> module, const DDPOptions& options)
    : DistributedDataParallel(*module, options) {
  impl_->owner = std::move(module);
}

DistributedDataParallel::DistributedDataParallel(nn::Module& module, const DDPOptions& options)
    : impl_(std::make_shared<Impl>()), module_(&module) {
  AG_CHECK(options.bucket_cap_mb() > 0, "DistributedDataParallel: bucket_cap_mb must be > 0, got ",
           options.bucket_cap_mb());
  AG_CHECK(options.first_bucket_cap_mb() > 0, "DistributedDataParallel: first_bucket_cap_mb must be > 0, got ",
           options.first_bucket_cap_mb());
  AG_CHECK(options.timeout().count() > 0, "DistributedDataParallel: timeout must be > 0 s, got ",
           options.timeout().count(), " s");
  Impl& impl = *impl_;
  impl.comm = detail::comm("DistributedDataParallel");  // throws a clear error without an Environment
  impl.world = world_size();
  impl.options = options;
  impl.module = &module;
  check_same_model(module, options.broadcast_buffers());
  broadcast_parameters(module, 0);
  if (options.broadcast_buffers()) broadcast_parameters(module.buffers(), 0);

  for (auto& [name, p] : trained_parameters(module)) {
    impl.names.push_back(name);
    impl.params.push_back(p);
  }
  // The weights whose gradients will be sparse, as PyTorch's DDP finds them: those of the
  // Embeddings built with sparse(true). Each gets a bucket of its own.
  for (const auto& [name, m] : module.named_modules())
    if (const auto* emb = dynamic_cast<const nn::Embedding*>(m.get()); emb && emb->options.sparse())
      impl.sparse_weights.insert(emb->weight.impl());
  // Reverse registration order: a feed-forward model's last layers get their gradients first.
  std::vector<std::size_t> order(impl.params.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = order.size() - 1 - i;
  impl.build_buckets(order);

  std::weak_ptr<Impl> weak = impl_;
  impl.self = weak;
  for (std::size_t i = 0; i < impl.params.size(); ++i)
    impl.hooks.push_back(impl.params[i].register_post_accumulate_grad_hook([weak, i](const Tensor&) {
      if (auto self = weak.lock()) self->grad_ready(i);
    }));
}

// Parting with the hooks; a reduction left in flight keeps its buffers alive (MPI may still
// write into them) and tells the Environment to end the job rather than wait in MPI_Finalize.
void DistributedDataParallel::release() {
  if (!impl_) return;
  for (HookHandle& h : impl_->hooks) h.remove();
  if (impl_->active) {
    impl_->broken = "a DistributedDataParallel was destroyed in the middle of averaging gradients (its backward() "
                    "failed on this rank)";
    detail::mark_broken(impl_->broken);
  }
  if (!impl_->broken.empty()) {
    static std::vector<std::shared_ptr<Impl>> in_flight;
    in_flight.push_back(impl_);
  }
  impl_.reset();
}

DistributedDataParallel::~DistributedDataParallel() { release(); }

DistributedDataParallel::DistributedDataParallel(DistributedDataParallel&&) noexcept = default;
DistributedDataParallel& DistributedDataParallel::operator=(DistributedDataParallel&& other) noexcept {
  if (this != &other) {
    release();
    impl_ = std::move(other.impl_);
    module_ = other.module_;
  }
  return *this;
}

// ---- training -----------------------------------------------------------------------------------

Tensor DistributedDataParallel::forward(const Tensor& input) {
  AG_CHECK_STATE(impl_, "DistributedDataParallel::forward: this wrapper was moved from");
  Impl& impl = *impl_;
  impl.check_usable("forward");
  if (std::string replaced = impl.replaced_parameters(); !replaced.empty()) throw std::logic_error(replaced);
  if (impl.active) {
    // The last backward failed on this rank after its first gradient: some buckets may be in
    // flight, and the other ranks wait for the rest.
    impl.fail("DistributedDataParallel::forward: the last backward() failed on this rank in the middle of averaging "
              "the gradients, so the ranks can no longer agree on their collectives");
  }
  impl.forward_in_no_sync = impl.state->no_sync_depth > 0;
  if (impl.options.broadcast_buffers() && impl.world > 1) impl.broadcast_buffers();
  Tensor out;
  try {
    out = module_->forward(input);
  } catch (const std::exception& e) {
    if (GradMode::is_enabled()) impl.forward_failure = e.what();  // a training step this rank will not reduce
    throw;
  }
  if (impl.options.find_unused_parameters() && !impl.forward_in_no_sync && GradMode::is_enabled()) impl.find_unused(out);
  else impl.unused.clear();
  return out;
}

void DistributedDataParallel::sync_gradients() {
  AG_CHECK_STATE(impl_, "DistributedDataParallel::sync_gradients: this wrapper was moved from");
  impl_->check_usable("sync_gradients");
  if (std::string replaced = impl_->replaced_parameters(); !replaced.empty()) throw std::logic_error(replaced);
  AG_CHECK_STATE(impl_->state->no_sync_depth == 0,
                 "DistributedDataParallel::sync_gradients: called inside no_sync(); end the no_sync() scope first");
  Impl& impl = *impl_;
  // A rank that ran no backward since the last call (no rows of this batch) still takes part.
  if (!impl.reduced_since_sync) {
    impl.begin_reduction();
    impl.finish_reduction();
  }
  impl.reduced_since_sync = false;
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

double DistributedDataParallel::communication_wait_seconds() const { return impl_ ? impl_->wait_seconds : 0; }

}  // namespace ag::distributed

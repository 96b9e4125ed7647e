// all_reduce, broadcast and save_on_rank0 on ag's communicator.

#include "ag/distributed/collectives.h"

#include <algorithm>
#include <climits>
#include <cstdint>
#include <exception>
#include <string>

#include "ag/autograd/error.h"
#include "ag/autograd/grad_mode.h"
#include "ag/distributed/environment.h"
#include "ag/distributed/mpi_detail.h"

namespace ag::distributed {

namespace {

std::string describe(const Tensor& t, const std::string& extra) {
  return ag::detail::cat(t.shape(), " ", t.dtype(), ", ", extra);
}

/// MPI counts are ints: larger tensors go in chunks of at most INT_MAX elements.
template <class F>
void in_chunks(std::int64_t numel, std::size_t elem_size, void* data, F&& call) {
  char* p = static_cast<char*>(data);
  std::int64_t done = 0;
  do {
    int count = static_cast<int>(std::min<std::int64_t>(numel - done, INT_MAX));
    call(p + done * static_cast<std::int64_t>(elem_size), count);
    done += count;
  } while (done < numel);
}

/// After a collective on `buf` (t itself, or a contiguous copy of a strided t): the values in t,
/// and t's version moved, as an in-place op moves it.
void copy_back(const Tensor& t, const Tensor& buf) {
  if (!buf.is_same(t)) {
    ag::NoGradGuard no_grad;
    Tensor(t).copy_(buf);
  }
  t.mark_modified();
}

void check_tensor(const Tensor& t, const char* what) {
  AG_CHECK(t.defined(), "ag::distributed::", what, ": the tensor is undefined");
}

void check_root(int root, const char* what) {
  int n = world_size();
  AG_CHECK(root >= 0 && root < n, "ag::distributed::", what, ": root ", root, " is not a rank of this world of ",
           n, " rank", n == 1 ? "" : "s", " (valid: 0 to ", n - 1, ")");
}

}  // namespace

const char* reduce_op_name(ReduceOp op) {
  switch (op) {
    case ReduceOp::Sum: return "ReduceOp::Sum";
    case ReduceOp::Avg: return "ReduceOp::Avg";
    case ReduceOp::Max: return "ReduceOp::Max";
    case ReduceOp::Min: return "ReduceOp::Min";
    case ReduceOp::Prod: return "ReduceOp::Prod";
  }
  return "ReduceOp::?";
}

void all_reduce(const Tensor& tensor, ReduceOp op) {
  check_tensor(tensor, "all_reduce");
  MPI_Comm comm = detail::comm("all_reduce");
  AG_CHECK(op != ReduceOp::Avg || tensor.is_floating_point(), "ag::distributed::all_reduce: ReduceOp::Avg needs a ",
           "floating tensor, got ", tensor.dtype(), " ", tensor.shape(), "; use ReduceOp::Sum and divide yourself");
  const std::int64_t facts[] = {tensor.numel(), static_cast<std::int64_t>(tensor.dtype()), detail::shape_hash(tensor.shape()),
                                static_cast<std::int64_t>(op)};
  const char* names[] = {"numel", "dtype", "shape", "op"};
  if (debug()) detail::check_same_on_all_ranks("all_reduce", facts, 4, names, describe(tensor, reduce_op_name(op)));

  MPI_Op mpi_op = MPI_SUM;
  if (op == ReduceOp::Max) mpi_op = MPI_MAX;
  if (op == ReduceOp::Min) mpi_op = MPI_MIN;
  if (op == ReduceOp::Prod) mpi_op = MPI_PROD;
  if (tensor.dtype() == kBool)  // MPI's logical ops on bools: a sum or max is an or, a product or min an and
    mpi_op = (op == ReduceOp::Prod || op == ReduceOp::Min) ? MPI_LAND : MPI_LOR;
  MPI_Datatype type = detail::mpi_type(tensor.dtype());
  // MPI reduces a run of elements: a strided tensor goes through a contiguous copy.
  const Tensor buf = tensor.is_contiguous() ? tensor : tensor.contiguous();
  in_chunks(buf.numel(), element_size(buf.dtype()), buf.mutable_raw_data(), [&](void* p, int count) {
    detail::check_mpi(MPI_Allreduce(MPI_IN_PLACE, p, count, type, mpi_op, comm), "all_reduce");
  });
  if (op == ReduceOp::Avg) {
    const int n = world_size();
    if (buf.dtype() == kFloat32) {
      for (float& v : buf.data<float>()) v /= static_cast<float>(n);
    } else {
      for (double& v : buf.data<double>()) v /= n;
    }
  }
  copy_back(tensor, buf);
}

void broadcast(const Tensor& tensor, int root) {
  check_tensor(tensor, "broadcast");
  MPI_Comm comm = detail::comm("broadcast");
  check_root(root, "broadcast");
  const std::int64_t facts[] = {tensor.numel(), static_cast<std::int64_t>(tensor.dtype()), detail::shape_hash(tensor.shape()),
                                root};
  const char* names[] = {"numel", "dtype", "shape", "root"};
  if (debug())
    detail::check_same_on_all_ranks("broadcast", facts, 4, names, describe(tensor, ag::detail::cat("root ", root)));
  MPI_Datatype type = detail::mpi_type(tensor.dtype());
  const Tensor buf = tensor.is_contiguous() ? tensor : tensor.contiguous();
  in_chunks(buf.numel(), element_size(buf.dtype()), buf.mutable_raw_data(), [&](void* p, int count) {
    detail::check_mpi(MPI_Bcast(p, count, type, root, comm), "broadcast");
  });
  copy_back(tensor, buf);
}

void broadcast_parameters(const std::vector<Tensor>& tensors, int root) {
  for (const Tensor& t : tensors) broadcast(t, root);
}

void broadcast_parameters(const nn::Module& module, int root) { broadcast_parameters(module.parameters(), root); }

void save_on_rank0(const std::function<void()>& save) {
  MPI_Comm comm = detail::comm("save_on_rank0");
  std::exception_ptr failure;
  std::string message;
  if (rank() == 0) {
    try {
      save();
    } catch (const std::exception& e) {
      failure = std::current_exception();
      message = e.what();
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure && message.empty()) message = "an exception that is not a std::exception";
  }
  // The outcome travels from rank 0: the other ranks cannot leave this broadcast before rank 0
  // has finished saving, which is the barrier loading needs.
  std::int64_t length = static_cast<std::int64_t>(message.size());
  detail::check_mpi(MPI_Bcast(&length, 1, MPI_INT64_T, 0, comm), "save_on_rank0");
  if (length == 0) return;
  message.resize(static_cast<std::size_t>(length));
  in_chunks(length, 1, message.data(), [&](void* p, int count) {
    detail::check_mpi(MPI_Bcast(p, count, MPI_CHAR, 0, comm), "save_on_rank0");
  });
  if (failure) std::rethrow_exception(failure);
  throw DistributedError("ag::distributed::save_on_rank0: saving failed on rank 0: " + message);
}

}  // namespace ag::distributed

// Starting and stopping MPI, and the communicator every collective of ag::distributed uses.

#include "ag/distributed/environment.h"

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "ag/autograd/error.h"
#include "ag/distributed/mpi_detail.h"

namespace ag::distributed {

namespace {

// The world as the live Environment set it up. Rank and size are cached: they never change.
struct World {
  bool active = false;
  MPI_Comm comm = MPI_COMM_NULL;
  int rank = 0;
  int size = 1;
  bool debug = false;
  std::string broken;  // why collectives were left unfinished, when they were
};

World& world() {
  static World w;
  return w;
}

const World& live_world(const char* what) {
  const World& w = world();
  AG_CHECK_STATE(w.active, "ag::distributed::", what,
                 ": MPI is not started; create an ag::distributed::Environment first, at the top of main: "
                 "`ag::distributed::Environment env(argc, argv);`");
  return w;
}

}  // namespace

namespace detail {

MPI_Comm comm(const char* what) { return live_world(what).comm; }

void check_mpi(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(code, text, &len) != MPI_SUCCESS) len = 0;
  const World& w = world();
  throw DistributedError(ag::detail::cat("ag::distributed::", what, ": MPI error ", code, " on rank ", w.rank,
                                         " of ", w.size, ": ", len > 0 ? std::string(text, len) : "(no description)"));
}

void mark_broken(const std::string& why) {
  if (world().broken.empty()) world().broken = why;
}

MPI_Datatype mpi_type(Dtype dtype) {
  switch (dtype) {
    case kFloat32: return MPI_FLOAT;
    case kFloat64: return MPI_DOUBLE;
    case kInt64: return MPI_INT64_T;
    case kBool: return MPI_C_BOOL;
  }
  AG_CHECK(false, "ag::distributed: unsupported dtype ", dtype);
  return MPI_DATATYPE_NULL;
}

void check_same_on_all_ranks(const char* what, const std::int64_t* values, int n, const char* names[],
                             const std::string& describe) {
  const World& w = live_world(what);
  AG_CHECK(n <= 8, "check_same_on_all_ranks: at most 8 values");
  // One MAX over (v, -v) gives every value's maximum and minimum across ranks.
  std::int64_t buf[16];
  for (int i = 0; i < n; ++i) {
    buf[i] = values[i];
    buf[n + i] = -values[i];
  }
  check_mpi(MPI_Allreduce(MPI_IN_PLACE, buf, 2 * n, MPI_INT64_T, MPI_MAX, w.comm), what);
  std::string differ;
  for (int i = 0; i < n; ++i) {
    std::int64_t hi = buf[i], lo = -buf[n + i];
    if (hi == lo) continue;
    if (!differ.empty()) differ += ", ";
    differ += ag::detail::cat(names[i], " from ", lo, " to ", hi);
  }
  if (differ.empty()) return;
  throw DistributedError(ag::detail::cat("ag::distributed::", what, ": the ranks passed different arguments (",
                                         differ, "); this is rank ", w.rank, " of ", w.size, " with ", describe,
                                         ". Every rank must make the same call with the same shape and dtype"));
}

}  // namespace detail

// ---- Environment ------------------------------------------------------------------------------

Environment::Environment(int& argc, char**& argv) { start(&argc, &argv); }
Environment::Environment() { start(nullptr, nullptr); }

void Environment::start(int* argc, char*** argv) {
  World& w = world();
  AG_CHECK_STATE(!w.active, "ag::distributed::Environment: MPI is already started by another Environment; "
                            "create exactly one, at the top of main");
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  AG_CHECK_STATE(!finalized, "ag::distributed::Environment: MPI was already finalized in this process, and MPI "
                             "cannot be started twice; keep one Environment for the whole program");
  if (!initialized) {
    // Only the thread that started MPI calls it (FUNNELED); OpenBLAS threads never do.
    int provided = 0;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    owns_mpi_ = true;
  }
  MPI_Comm comm = MPI_COMM_NULL;
  // The world's own handler applies to the duplicate call itself; ours returns errors from here on.
  detail::check_mpi(MPI_Comm_dup(MPI_COMM_WORLD, &comm), "Environment");
  detail::check_mpi(MPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN), "Environment");
  detail::check_mpi(MPI_Comm_rank(comm, &w.rank), "Environment");
  detail::check_mpi(MPI_Comm_size(comm, &w.size), "Environment");
  w.comm = comm;
  const char* dbg = std::getenv("AG_DISTRIBUTED_DEBUG");
  w.debug = dbg != nullptr && *dbg != '\0' && std::string(dbg) != "0";
  w.active = true;
}

Environment::~Environment() {
  World& w = world();
  w.active = false;
  if (!w.broken.empty()) {
    // MPI_Finalize would wait for collectives that the ranks will never finish together.
    std::fprintf(stderr, "ag::distributed: rank %d of %d ends the job (MPI_Abort): %s\n", w.rank, w.size,
                 w.broken.c_str());
    std::fflush(stderr);
    MPI_Abort(w.comm, 1);
  }
  // Freeing the communicator and finalizing both wait for the other ranks; while an exception
  // unwinds they may be stuck in a collective this rank will never join, so leave MPI as it is.
  if (std::uncaught_exceptions() > 0) return;
  MPI_Comm_free(&w.comm);
  if (owns_mpi_) MPI_Finalize();
}

int Environment::rank() const { return world().rank; }
int Environment::world_size() const { return world().size; }

// ---- free functions ---------------------------------------------------------------------------

bool is_initialized() { return world().active; }
int rank() { return live_world("rank()").rank; }
int world_size() { return live_world("world_size()").size; }

void barrier() { detail::check_mpi(MPI_Barrier(detail::comm("barrier()")), "barrier()"); }

void abort_job(int code) {
  const World& w = world();
  MPI_Abort(w.active ? w.comm : MPI_COMM_WORLD, code);
  std::abort();  // MPI_Abort does not return; this keeps [[noreturn]] honest if it ever did
}

void set_debug(bool on) { world().debug = on; }
bool debug() { return world().debug; }

}  // namespace ag::distributed

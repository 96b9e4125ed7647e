#pragma once
// The MPI world ag::distributed runs in: start and stop MPI, this process's rank, the number of
// ranks, a barrier, and the error type every MPI failure becomes.

#include <stdexcept>

namespace ag::distributed {

/// An MPI call failed, or the ranks disagreed about a collective (checked in debug mode), or
/// another rank failed inside save_on_rank0. The message names the operation, the rank and MPI's
/// own description of the error.
///
///     try { ag::distributed::all_reduce(t); }
///     catch (const ag::distributed::DistributedError& e) { std::cerr << e.what(); }
class DistributedError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Starts MPI for the lifetime of the object (RAII), as the first thing in main. Started by
/// `mpirun -np N prog`, the program is one of N ranks; started on its own, it is a world of one
/// rank (MPI's singleton mode), so the same program runs either way.
///
/// ag communicates on its own duplicate of MPI_COMM_WORLD whose errors are returned, not fatal:
/// every MPI failure becomes a DistributedError. If MPI was already started by the program,
/// Environment uses it and leaves finalizing to the program. While an exception unwinds through
/// the Environment, MPI is not finalized (finalizing waits for the other ranks, which may be
/// blocked in a collective): the process ends unfinalized and mpirun stops the whole job. When a
/// DistributedDataParallel left collectives unfinished (a rank failed or timed out mid-step), the
/// destructor prints why and ends the whole job with MPI_Abort instead of finalizing, which
/// would wait for the other ranks forever.
///
///     int main(int argc, char** argv) {
///       ag::distributed::Environment env(argc, argv);
///       std::cout << "rank " << env.rank() << " of " << env.world_size() << "\n";
///     }
class Environment {
 public:
  Environment(int& argc, char**& argv);
  /// Without the command line (MPI does not need it).
  Environment();
  ~Environment();
  Environment(const Environment&) = delete;
  Environment& operator=(const Environment&) = delete;

  int rank() const;
  int world_size() const;

 private:
  void start(int* argc, char*** argv);
  bool owns_mpi_ = false;
};

/// True while an Environment is alive.
///
///     if (!ag::distributed::is_initialized()) return train_alone();
bool is_initialized();
/// This process's rank in [0, world_size()). Throws std::logic_error without an Environment.
///
///     if (ag::distributed::rank() == 0) std::cout << "loss " << loss.item() << "\n";
int rank();
/// The number of ranks (1 when the program was not started by mpirun).
///
///     std::int64_t local_batch = global_batch / ag::distributed::world_size();
int world_size();
/// Returns once every rank has called it.
///
///     ag::distributed::barrier();
void barrier();
/// Ends every rank of the job at once with exit code `code` (MPI_Abort): for an error one rank
/// cannot recover from while the others may be waiting for it.
///
///     if (!data_ok) { std::cerr << "rank " << rank() << ": bad shard\n"; ag::distributed::abort_job(2); }
[[noreturn]] void abort_job(int code = 1);

/// Debug mode: before each all_reduce and broadcast, one small extra collective checks that every
/// rank passed the same shape, dtype, op and root, and throws the same DistributedError on every
/// rank when they differ. Without it, MPI cannot tell: mismatched sizes may hang, truncate or
/// mix data. Off by default (it doubles the number of calls); the environment variable
/// AG_DISTRIBUTED_DEBUG=1 turns it on when the Environment starts.
///
///     ag::distributed::set_debug(true);
void set_debug(bool on);
/// Whether debug mode is on: `if (ag::distributed::debug()) ...`.
bool debug();

}  // namespace ag::distributed

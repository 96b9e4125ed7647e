#pragma once
// Internal to ag::distributed (and its tests): the communicator and MPI error checking. Public
// headers do not include mpi.h.

#include <mpi.h>

#include <cstdint>
#include <string>

#include "ag/autograd/dtype.h"
#include "ag/autograd/shape.h"

namespace ag::distributed::detail {

/// ag's communicator (a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN); throws
/// std::logic_error naming `what` when no Environment is alive.
MPI_Comm comm(const char* what);

/// Throws DistributedError naming `what`, this rank and MPI's description of `code` unless it is
/// MPI_SUCCESS.
void check_mpi(int code, const char* what);

/// Records that this rank left collectives on ag's communicator that can never complete (a
/// failure mid-step): the Environment then ends the job with MPI_Abort, printing `why`, instead
/// of waiting forever in MPI_Finalize.
void mark_broken(const std::string& why);

/// The MPI datatype of an ag dtype.
MPI_Datatype mpi_type(Dtype dtype);

/// Checks with one collective that every rank passed the same `values` (at most 8), and throws
/// the same DistributedError on every rank if not; `describe` names this rank's arguments in the
/// message.
void check_same_on_all_ranks(const char* what, const std::int64_t* values, int n, const char* names[],
                             const std::string& describe);

/// A number that tells shapes apart ([2, 3] from [3, 2]) for check_same_on_all_ranks, below 2^62
/// so that negating it cannot overflow. `seed` chains several shapes into one number.
inline std::int64_t shape_hash(const Shape& shape, std::int64_t seed = 0) {
  std::uint64_t h = 1469598103934665603ULL ^ static_cast<std::uint64_t>(seed);  // FNV-1a
  for (std::int64_t d : shape) h = (h ^ static_cast<std::uint64_t>(d)) * 1099511628211ULL;
  h = (h ^ shape.size()) * 1099511628211ULL;
  return static_cast<std::int64_t>(h >> 2);
}

}  // namespace ag::distributed::detail

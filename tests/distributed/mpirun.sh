#!/bin/sh
# Runs an MPI program on this machine for ctest:  mpirun.sh MPIRUN NP PROGRAM [ARGS...]
# Adds what CI containers need: --oversubscribe (the ranks may outnumber the free cores),
# --allow-run-as-root when run as root, shared memory without CMA (CMA needs ptrace rights that
# containers often withhold), and yielding when idle so that a waiting rank does not spin on a
# core that ctest -j2 gives to another test.
set -eu
mpirun=$1
np=$2
shift 2
root_flag=""
if [ "$(id -u)" -eq 0 ]; then root_flag="--allow-run-as-root"; fi
export OMPI_MCA_btl_vader_single_copy_mechanism=none
export OMPI_MCA_mpi_yield_when_idle=1
exec "$mpirun" $root_flag --oversubscribe --bind-to none -np "$np" "$@"

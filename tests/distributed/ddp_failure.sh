#!/bin/sh
# ddp_failure.sh MPIRUN DDP_FAILURE: in each mode of ddp_failure, one of 2 ranks fails mid-step;
# the job must end (not hang) within 30 s, with a non-zero status and a clear message from each rank.
set -u
mpirun=$1
program=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
status=0
check() {  # check MODE PATTERN...: every pattern must appear in the job's output
  mode=$1
  shift
  start=$(date +%s)
  timeout 30 "$(dirname "$0")/mpirun.sh" "$mpirun" 2 "$program" "$mode" >"$dir/$mode.log" 2>&1
  code=$?
  took=$(($(date +%s) - start))
  if [ "$code" -eq 124 ]; then
    echo "$mode: the job hung (killed after 30 s)"; status=1
  elif [ "$code" -eq 0 ]; then
    echo "$mode: the job succeeded although a rank failed"; status=1
  fi
  for pattern in "$@"; do
    if ! grep -q -- "$pattern" "$dir/$mode.log"; then
      echo "$mode: no line matching '$pattern'"; status=1
    fi
  done
  echo "---- $mode: status $code after $took s"
  cat "$dir/$mode.log"
}
check stuck "rank 1: raised at step 1: out of memory in backward" \
  "rank 0: DistributedError after [0-9.]* s: DistributedDataParallel: rank 0 of 2 waited 3.* (the timeout)" \
  "ends the job (MPI_Abort)"
check exit "rank 1: raised at step 1: out of memory in backward" \
  "rank 1 of 2 ends the job (MPI_Abort): a DistributedDataParallel was destroyed in the middle of averaging"
check skip "rank 1: raised at step 0: bad batch in forward" \
  "rank 0: DistributedError after [0-9.]* s: DistributedDataParallel: another rank found a problem" \
  "rank 1: DistributedError after [0-9.]* s: DistributedDataParallel: the forward of an earlier step failed on rank 1 (bad batch in forward)"
exit $status

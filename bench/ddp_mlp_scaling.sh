#!/bin/sh
# ddp_mlp_scaling.sh BUILD_DIR [RUNS]: the mlp workload's data-parallel scaling on this machine.
# Runs ddp_mlp_bench RUNS times (default 5) on 1 rank, on 2 ranks with overlap and on 2 ranks
# without (every bucket after backward), interleaved so that a change of load hits all three,
# one OpenBLAS thread per rank, global batch 128. A fourth configuration, "bound", runs two
# independent single processes at once, each on half the batch and with no communication at all:
# the most any 2-rank run can reach on this machine. Prints each run's JSON line with the load
# average before it, then the medians and the 2-rank speedups.
set -eu
build=$1
runs=${2:-5}
bench=$build/distributed/ddp_mlp_bench
mpirun_sh=$(dirname "$0")/../tests/distributed/mpirun.sh
export OPENBLAS_NUM_THREADS=1
out=$(mktemp)
trap 'rm -f "$out" "$out.a" "$out.b"' EXIT
for i in $(seq "$runs"); do
  for config in one overlap after bound; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    case $config in
      one) line=$("$bench" --steps 200) ;;
      overlap) line=$("$mpirun_sh" mpirun 2 "$bench" --steps 200) ;;
      after) line=$("$mpirun_sh" mpirun 2 "$bench" --steps 200 --overlap 0) ;;
      bound)  # the slower of two concurrent half-batch processes, as DDP reports its slowest rank
        "$bench" --steps 200 --batch 64 >"$out.a" &
        "$bench" --steps 200 --batch 64 >"$out.b"
        wait
        line=$(cat "$out.a" "$out.b" | awk -F'"steps_per_s": ' '{split($2, v, ","); if (NR == 1 || v[1] < m) {m = v[1]; l = $0}} END {print l}') ;;
    esac
    echo "$config load=$load $line" | tee -a "$out"
  done
done
median() {  # median CONFIG FIELD
  grep "^$1 " "$out" | sed -n "s/.*\"$2\": \([0-9.]*\).*/\1/p" | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
one=$(median one steps_per_s)
overlap=$(median overlap steps_per_s)
after=$(median after steps_per_s)
bound=$(median bound steps_per_s)
echo "median steps/s: 1 rank $one, 2 ranks overlapped $overlap (wait $(median overlap comm_wait_ms_per_step) ms/step), \
2 ranks after backward $after (wait $(median after comm_wait_ms_per_step) ms/step)"
echo "speedup of 2 ranks: overlapped $(echo "$overlap $one" | awk '{printf "%.2f", $1/$2}')x, \
after backward $(echo "$after $one" | awk '{printf "%.2f", $1/$2}')x; \
bound (two half-batch processes, no communication) $bound steps/s = $(echo "$bound $one" | awk '{printf "%.2f", $1/$2}')x"

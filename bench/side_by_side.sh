#!/usr/bin/env bash
# ag, LibTorch, PyTorch and the hand-written floor side by side, on the workloads of bench/README.md.
#
#   bench/side_by_side.sh [N] [BUILD_DIR] [--threads T]
#
# Runs, N rounds (default 5), one after the other in each round:
#   BUILD_DIR/bench/ag_bench        sentiment mlp overhead gradient_penalty batch1 embedding sentiment_floor mlp_floor
#   BUILD_DIR/bench/libtorch_bench  the same without the two floors, if it was built
#                                   (cmake -DAG_BENCH_LIBTORCH=ON, see bench/CMakeLists.txt)
#   bench/torch_workloads.py        the same, if /usr/bin/python3 can import torch
# then prints the median and the min-max of every figure per workload and framework, and how many
# times faster ag is than LibTorch and PyTorch (rates: ag / other; times: other / ag).
# BUILD_DIR (default build) is taken as given, or else relative to the source tree. --threads T is
# passed to all three programs (default 1). AG_BENCH and LIBTORCH_BENCH, when set, name the two
# programs instead, e.g. LIBTORCH_BENCH=build-libtorch/bench/libtorch_bench when LibTorch's
# benchmark was built in a build directory of its own. With T > 1, LibTorch's and PyTorch's figures
# are meaningful only on an otherwise idle machine (their OpenMP threads spin while they wait).
#
# A developer tool: needs Debian's /usr/bin/python3 (standard library only) for the table; never
# run by CI.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
rounds=5
build=build
threads=1
positional=()
while (($#)); do
  case $1 in
    --threads)
      [[ $# -ge 2 && $2 =~ ^[1-9][0-9]*$ ]] || { echo "side_by_side.sh: --threads needs a positive integer" >&2; exit 2; }
      threads=$2
      shift 2
      ;;
    -h | --help)
      awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
      exit 0
      ;;
    *)
      positional+=("$1")
      shift
      ;;
  esac
done
((${#positional[@]} <= 2)) || { echo "usage: bench/side_by_side.sh [N] [BUILD_DIR] [--threads T]" >&2; exit 2; }
if ((${#positional[@]} >= 1)); then rounds=${positional[0]}; fi
if ((${#positional[@]} >= 2)); then build=${positional[1]}; fi
[[ $rounds =~ ^[1-9][0-9]*$ ]] || { echo "side_by_side.sh: N must be a positive integer, not '$rounds'" >&2; exit 2; }
if [[ ! -d $build && -d $root/$build ]]; then build=$root/$build; fi

ag_bench=${AG_BENCH:-$build/bench/ag_bench}
libtorch_bench=${LIBTORCH_BENCH:-$build/bench/libtorch_bench}
workloads=(sentiment mlp overhead gradient_penalty batch1 embedding)

[[ -x $ag_bench ]] || { echo "side_by_side.sh: no ag_bench at $ag_bench (build the ag_bench target first)" >&2; exit 1; }
have_libtorch=0
if [[ -x $libtorch_bench ]]; then
  have_libtorch=1
else
  echo "side_by_side.sh: no libtorch_bench at $libtorch_bench: LibTorch left out" >&2
fi
have_pytorch=0
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  have_pytorch=1
else
  echo "side_by_side.sh: /usr/bin/python3 cannot import torch: PyTorch left out" >&2
fi

lines=$(mktemp)
trap 'rm -f "$lines"' EXIT

# Every JSON line is stored after the name of the framework that printed it and a tab.
run() {
  local framework=$1
  shift
  local out
  if ! out=$("$@"); then
    echo "side_by_side.sh: $framework failed: $*" >&2
  fi
  [[ -z $out ]] || printf '%s\n' "$out" | sed "s/^/$framework\t/" >>"$lines"
}

for ((r = 1; r <= rounds; ++r)); do
  echo "round $r/$rounds" >&2
  run ag "$ag_bench" --threads "$threads" "${workloads[@]}" sentiment_floor mlp_floor
  if ((have_libtorch)); then run libtorch "$libtorch_bench" --threads "$threads" "${workloads[@]}"; fi
  if ((have_pytorch)); then run pytorch /usr/bin/python3 "$root/bench/torch_workloads.py" --threads "$threads" "${workloads[@]}"; fi
done

/usr/bin/python3 - "$lines" "$rounds" "$threads" <<'PY'
import json
import statistics
import sys

path, rounds, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
runs = {}  # (framework, workload) -> the JSON lines, one per round
with open(path, encoding="utf-8") as f:
    for raw in f:
        framework, _, text = raw.rstrip("\n").partition("\t")
        try:
            line = json.loads(text)
        except ValueError:
            continue
        if "workload" in line:
            runs.setdefault((framework, line["workload"]), []).append(line)


def values(framework, workload, key):
    return [line[key] for line in runs.get((framework, workload), []) if key in line]


def number(v):
    if v >= 1000:
        return f"{v:.0f}"
    if v >= 100:
        return f"{v:.1f}"
    if v >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def cell(vs):
    if not vs:
        return "-"
    if len(vs) == 1:
        return number(vs[0])
    return f"{number(statistics.median(vs))} ({number(min(vs))}–{number(max(vs))})"


def speedup(ag, other, higher_is_better):
    """How many times faster ag is than the other, from the medians."""
    if not ag or not other:
        return "-"
    a, o = statistics.median(ag), statistics.median(other)
    return f"{(a / o if higher_is_better else o / a):.2f}x"


# (workload, key, unit, higher is better)
ROWS = [
    ("sentiment", "steps_per_s", "steps/s", True),
    ("mlp", "steps_per_s", "steps/s", True),
    ("mlp", "gflops", "GFLOP/s", True),
    ("embedding", "steps_per_s", "steps/s", True),
    ("overhead", "us_per_op", "µs/op", False),
    ("gradient_penalty", "us_per_step", "µs/step", False),
    ("batch1", "us_per_step", "µs/step", False),
    ("batch1", "us_per_prediction", "µs/prediction", False),
]

table = [["workload", "figure", "ag", "floor", "LibTorch", "PyTorch", "ag vs LibTorch", "ag vs PyTorch"]]
for workload, key, unit, higher in ROWS:
    ag = values("ag", workload, key)
    lt = values("libtorch", workload, key)
    pt = values("pytorch", workload, key)
    floor = {("sentiment", "steps_per_s"): values("ag", "sentiment_floor", "floor_steps_per_s"),
             ("mlp", "steps_per_s"): values("ag", "mlp_floor", "sgemm_steps_per_s")}.get((workload, key), [])
    table.append([workload, unit, cell(ag), cell(floor), cell(lt), cell(pt), speedup(ag, lt, higher),
                  speedup(ag, pt, higher)])

widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
print(f"median (min–max) of {rounds} round(s), threads {threads}; "
      "'ag vs X': how many times faster ag is than X (rates ag/X, times X/ag)")
for n, row in enumerate(table):
    print("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    if n == 0:
        print("  ".join("-" * w for w in widths))

share = values("ag", "sentiment_floor", "ag_share_of_floor")
if share:
    print(f"\nsentiment_floor (ag and the floor alternating in one process): ag at {cell(share)} of the floor's steps/s, "
          f"ag {cell(values('ag', 'sentiment_floor', 'ag_steps_per_s'))} vs floor "
          f"{cell(values('ag', 'sentiment_floor', 'floor_steps_per_s'))} steps/s")

share = values("ag", "mlp_floor", "ag_share_in_sgemm")
if share:
    print(f"mlp_floor (ag's step and its eight sgemm calls alone, alternating in one process): ag at {cell(share)} "
          f"of the products' steps/s, ag {cell(values('ag', 'mlp_floor', 'ag_steps_per_s'))} vs sgemm alone "
          f"{cell(values('ag', 'mlp_floor', 'sgemm_steps_per_s'))} steps/s")

# The results of the last round, to check that every framework did the work it was timed on.
print("\nlast round's results: loss (accuracy) / peak RSS MB")
check = [["workload", "ag", "floor", "LibTorch", "PyTorch"]]
for workload in ["sentiment", "mlp", "embedding", "overhead", "gradient_penalty", "batch1"]:
    row = [workload]
    for framework, name in (("ag", workload), ("ag", "sentiment_floor"), ("libtorch", workload), ("pytorch", workload)):
        if name == "sentiment_floor" and workload != "sentiment":
            row.append("")
            continue
        got = runs.get((framework, name))
        if not got:
            row.append("-")
            continue
        line = got[-1]
        loss = line.get("floor_loss" if name == "sentiment_floor" else "loss")
        acc = line.get("floor_accuracy" if name == "sentiment_floor" else "accuracy")
        text = "-" if loss is None else f"{loss:.6f}"
        if acc is not None:
            text += f" ({acc:.4f})"
        if "peak_rss_mb" in line and name != "sentiment_floor":
            text += f" / {line['peak_rss_mb']:.1f}"
        row.append(text)
    check.append(row)
widths = [max(len(row[i]) for row in check) for i in range(len(check[0]))]
for n, row in enumerate(check):
    print("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
    if n == 0:
        print("  ".join("-" * w for w in widths))
PY

#!/bin/sh
# sentiment_ddp.sh MPIRUN SENTIMENT COMPARE: `sentiment train --ddp` on 2 ranks gives the model one
# process gives on the same global batches (to 1e-5 relative: the ranks sum their shares of each
# batch in another order than one process does).
set -eu
mpirun=$1
sentiment=$2
compare=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/ddp" "$dir/one"
"$(dirname "$0")/mpirun.sh" "$mpirun" 2 "$sentiment" train --ddp --epochs 4 --out "$dir/ddp/model.ckpt" >"$dir/ddp.log"
grep -q "ranks=2" "$dir/ddp.log"
"$sentiment" train --epochs 4 --out "$dir/one/model.ckpt" >/dev/null
"$compare" "$dir/ddp/model.ckpt" "$dir/one/model.ckpt" 1e-5

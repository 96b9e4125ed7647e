#!/usr/bin/env bash
# Installs what is missing, builds ag, and runs the main job: train the 优/良/差 sentiment model,
# save it, load it back to classify four reviews, and evaluate it on the held-out reviews.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
ag_install_packages
ag_build

out=build/sentiment
mkdir -p "$out"
sentiment=./build/examples/sentiment
$sentiment train --out "$out/model.ckpt"
$sentiment predict --model "$out/model.ckpt" 优优良 差差良 良 优差
$sentiment eval --model "$out/model.ckpt"
echo "ag: the checkpoint, the data (train.tsv, test.tsv) and metrics.csv are in $out/"

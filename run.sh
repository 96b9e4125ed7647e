#!/usr/bin/env bash
# Installs what is missing, builds ag, and runs the main job.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
ag_install_packages
ag_build
./build/examples/smoke

#!/usr/bin/env bash
# Installs what is missing, builds ag, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/setup.sh
ag_install_packages "${AG_TEST_PACKAGES[@]}"
ag_build
cd build
ctest --output-on-failure -j2 --timeout 600 "$@" >ctest.log 2>&1 || {
  grep -vE "^\s+[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed" ctest.log | tail -80
  exit 1
}
# The pass count, the time per label (install: the three consumers built outside the tree) and in all.
sed -n -E '/tests passed/p; /^Label Time Summary/,/^$/p; /Total Test time/p' ctest.log | grep -v '^$' || tail -n 3 ctest.log

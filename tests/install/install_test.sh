#!/usr/bin/env bash
# The install tests (ctest -L install): ag as its users get it. One ctest test per step:
#
#   install_test.sh STEP SOURCE_DIR BUILD_DIR WORK_DIR VERSION
#
#   install       cmake --install BUILD_DIR into WORK_DIR/prefix; checks what lands where
#   find_package  builds and runs tests/install/main.cpp with find_package(ag 0.2 CONFIG REQUIRED)
#   subdirectory  the same with add_subdirectory(ag) of SOURCE_DIR: only the library is configured
#   pkg_config    the same with `c++ main.cpp $(pkg-config --cflags --libs ag)`
#   clean         removes WORK_DIR
#
# Each consumer is copied to WORK_DIR, outside the source tree, and built unoptimised (the
# subdirectory one compiles all of ag). $CMAKE and $CXX name the tools of ag's own build.
set -euo pipefail
step=$1 src=$2 build=$3 work=$4 version=$5
cmake=${CMAKE:-cmake}
cxx=${CXX:-c++}
prefix=$work/prefix

fail() {
  echo "install test ($step): $*" >&2
  exit 1
}

# Runs "$@", keeping its output in $log; shows the output and fails if it fails.
run() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 || {
    tail -40 "$log" >&2
    fail "failed: $*"
  }
}

# Copies the consumer whose CMakeLists.txt is in tests/install/$1 (or none) to $work/$1 with main.cpp.
make_consumer() {
  rm -rf "${work:?}/$1"
  mkdir -p "$work/$1"
  if [[ -d $src/tests/install/$1 ]]; then cp "$src/tests/install/$1/CMakeLists.txt" "$work/$1/"; fi
  cp "$src/tests/install/main.cpp" "$work/$1/"
}

# Runs the consumer program $1 in its folder and compares what it prints with what it must print.
check_output() {
  local dir
  dir=$(dirname "$1")
  (cd "$dir" && LD_LIBRARY_PATH="$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ./app) >"$dir/out.txt" 2>&1 ||
    { cat "$dir/out.txt" >&2; fail "$1 failed"; }
  printf 'ag %s\ntensor([1, 0, 1, 0])\nrestored the trained model\n' "$version" >"$dir/expected.txt"
  diff -u "$dir/expected.txt" "$dir/out.txt" >&2 || fail "$1 printed something else"
  [[ -s $dir/model.ag ]] || fail "$1 did not save model.ag"
  echo "$step: $(tr '\n' ' ' <"$dir/out.txt")"
}

case $step in
  install)
    rm -rf "${work:?}"
    mkdir -p "$work"
    run "$work/install.log" "$cmake" --install "$build" --prefix "$prefix"
    cd "$prefix"
    # Only ag's own folders: a header straight in include/ would collide with other libraries'.
    stray=$(find . ! -type d | sed 's|^\./||' | grep -vE '^(include/ag/|lib/|share/)' || true)
    [[ -z $stray ]] || fail "installed outside include/ag/, lib/ and share/: $stray"
    for f in include/ag/ag.h include/ag/version.h include/ag/nn/linear.h lib/cmake/ag/agConfig.cmake \
             lib/cmake/ag/agConfigVersion.cmake lib/cmake/ag/agTargets.cmake lib/pkgconfig/ag.pc; do
      [[ -f $f ]] || fail "$f is not installed"
    done
    [[ -f lib/libag.a || -e lib/libag.so ]] || fail "neither lib/libag.a nor lib/libag.so is installed"
    if [[ -e lib/libag.so ]]; then
      soname=$(readelf -d lib/libag.so | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
      [[ $soname == "libag.so.${version%%.*}" ]] || fail "libag.so has SONAME '$soname', not libag.so.${version%%.*}"
      [[ -f lib/libag.so.$version ]] || fail "lib/libag.so.$version is not installed"
    fi
    # Every ag header an installed header includes is installed too.
    missing=$(grep -rhoE '#include [<"]ag/[^">]+' include/ag | sed -E 's/#include [<"]//' | sort -u |
              while read -r h; do [[ -f include/$h ]] || echo "$h"; done)
    [[ -z $missing ]] || fail "installed headers include headers that are not installed: $missing"
    echo "install: $(find . -type f | wc -l) files in $prefix"
    ;;
  find_package)
    make_consumer find_package
    # Only the prefix: everything else ag needs, agConfig.cmake finds by itself.
    run "$work/find_package/configure.log" "$cmake" -S "$work/find_package" -B "$work/find_package/build" \
      -DCMAKE_PREFIX_PATH="$prefix"
    run "$work/find_package/build.log" "$cmake" --build "$work/find_package/build" -j1
    check_output "$work/find_package/build/app"
    ;;
  subdirectory)
    make_consumer subdirectory
    ln -s "$src" "$work/subdirectory/ag"
    run "$work/subdirectory/configure.log" "$cmake" -S "$work/subdirectory" -B "$work/subdirectory/build"
    # A subproject brings its library, not its tests, examples, benchmarks or MPI.
    cache=$work/subdirectory/build/CMakeCache.txt
    for option in AG_BUILD_TESTS AG_BUILD_EXAMPLES AG_BUILD_BENCH AG_MPI AG_INSTALL; do
      grep -q "^$option:BOOL=OFF$" "$cache" || fail "$option is not OFF in a subproject: $(grep "^$option:" "$cache")"
    done
    grep -q '^CMAKE_BUILD_TYPE:STRING=$' "$cache" || fail "ag changed its parent's build type"
    run "$work/subdirectory/build.log" "$cmake" --build "$work/subdirectory/build" -j2
    check_output "$work/subdirectory/build/app"
    ;;
  pkg_config)
    command -v pkg-config >/dev/null || { echo "pkg-config is not installed (apt-get install pkgconf)"; exit 77; }
    make_consumer pkg_config
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    [[ $(pkg-config --modversion ag) == "$version" ]] || fail "pkg-config says ag is $(pkg-config --modversion ag)"
    cd "$work/pkg_config"
    # shellcheck disable=SC2046  # the flags are words
    run compile.log "$cxx" main.cpp $(pkg-config --cflags --libs ag) -o app
    check_output "$work/pkg_config/app"
    ;;
  clean)
    rm -rf "${work:?}"
    ;;
  *)
    fail "unknown step (install, find_package, subdirectory, pkg_config, clean)"
    ;;
esac

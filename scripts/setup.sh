# Shared by run.sh and test.sh: install missing Debian packages, configure and build ag.
# Quiet when there is nothing to do; build output goes to build/build.log.

# libopenmpi-dev and openmpi-bin: ag::distributed and its mpirun tests (CMake skips both without them).
AG_PACKAGES=(build-essential cmake libxtensor-dev libxtensor-blas-dev xtl-dev libxsimd-dev libopenblas-dev
  libcereal-dev libgtest-dev libbenchmark-dev nlohmann-json3-dev libcli11-dev libopenmpi-dev openmpi-bin)

# Only for the test suite (test.sh), so that run.sh stays lean: valgrind runs the leak test, pkgconf
# the install test's pkg-config consumer, gnuplot-nox draws the sentiment example's loss.png (its
# test is skipped without it).
AG_TEST_PACKAGES=(valgrind pkgconf gnuplot-nox)

ag_install_packages() {
  local missing=()
  for p in "${AG_PACKAGES[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
      echo "ag: missing Debian packages: ${missing[*]}" >&2
      echo "ag: run as root or install sudo, or install them yourself: apt-get install ${missing[*]}" >&2
      return 1
    fi
  fi
  echo "ag: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
}

ag_build() {
  local dir="${AG_BUILD_DIR:-build}"
  if [ ! -f "$dir/CMakeCache.txt" ]; then
    echo "ag: configuring a Release build in $dir/"
    cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "$@" >"$dir.configure.log" 2>&1 || {
      cat "$dir.configure.log" >&2
      return 1
    }
    mv "$dir.configure.log" "$dir/configure.log"
  fi
  if ! cmake --build "$dir" -j2 >"$dir/build.log" 2>&1; then
    grep -E "error|Error" -A3 "$dir/build.log" | head -60 >&2
    echo "ag: build failed; the full log is $dir/build.log" >&2
    return 1
  fi
}

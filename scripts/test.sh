#!/bin/sh
# Builds mta-stsd twice (release, then ASan+UBSan) and runs the whole test suite
# in each: unit tests and the end-to-end tests against real nsd, nginx and
# Postfix's postmap. Needs root (the test world listens on port 443 of 127.0.0.10)
# and scripts/install-deps.sh --test.
set -eu
cd "$(dirname "$0")/.."
JOBS="$(nproc)"

run_suite() {
  dir="$1"; shift
  echo "=== $dir: configure and build"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "=== $dir: tests"
  ctest --test-dir "$dir" --output-on-failure --timeout 900
}

run_suite build
if [ "${MTASTSD_SKIP_SANITIZERS:-0}" != "1" ]; then
  # ASan/UBSan: any finding aborts the process, which fails the test.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DMTASTSD_SANITIZE=ON -DMTASTSD_BENCH=OFF
fi
echo "=== all tests passed"

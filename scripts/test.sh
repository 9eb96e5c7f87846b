#!/bin/sh
# Builds mta-stsd twice (release, then ASan+UBSan) and runs the whole test suite
# in each: unit tests and the end-to-end tests against real nsd, nginx, unbound,
# redis and Postfix's postmap. Then ThreadSanitizer over the code that runs
# threads (the SQLite store's writer, the Redis store) and its end-to-end tests,
# and every libFuzzer target for a bounded time (MTASTSD_FUZZ_SECONDS, default
# 60 each). Needs root (the test worlds listen on port 443 of 127.0.0.x) and
# scripts/install-deps.sh --test.
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
if [ "${MTASTSD_SKIP_TSAN:-0}" != "1" ]; then
  echo "=== build-tsan: ThreadSanitizer"
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMTASTSD_TSAN=ON \
    -DMTASTSD_BENCH=OFF >/dev/null
  cmake --build build-tsan -j"$JOBS" --target unit_cache mta-stsd mta-stsctl
  TSAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
    ctest --test-dir build-tsan --output-on-failure --timeout 900 \
      -R '^(unit_cache|e2e_persistence|e2e_redis)$'
fi
if [ "${MTASTSD_SKIP_FUZZ:-0}" != "1" ]; then
  echo "=== fuzzing: every target for ${MTASTSD_FUZZ_SECONDS:-60} s"
  # A finding fails the run; fix it and add its input to tests/fuzz/corpus/TARGET/.
  scripts/fuzz.sh "${MTASTSD_FUZZ_SECONDS:-60}"
fi
echo "=== all tests passed"

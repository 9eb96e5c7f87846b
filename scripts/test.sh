#!/bin/sh
# The whole test suite, as CI runs it (.ci/run: scripts/install-deps.sh --test && scripts/test.sh).
# Needs root (the test worlds listen on ports 53 and 443 of 127.0.0.x) and
# scripts/install-deps.sh --test. Stages, each timed:
#   release    build-test/: release build (with -Werror), unit and end-to-end tests
#              against real nsd, nginx, unbound, redis and Postfix's postmap
#   valkey     where valkey-server is installed (Debian 13: install-deps.sh --test adds
#              it): the Redis unit tests and e2e_redis again, against Valkey
#   asan       build-asan/: the same under AddressSanitizer and UndefinedBehaviorSanitizer
#   tsan       build-tsan/: ThreadSanitizer over the code that runs threads (the SQLite
#              store's writer, the Redis store) and its end-to-end tests
#   fuzz       build-fuzz/: every libFuzzer target for MTASTSD_FUZZ_SECONDS (default 15) each
#   package    the Debian package (scripts/test-package.sh): dpkg-buildpackage, lintian, an
#              install beside postfix-mta-sts-resolver into a fresh root of this machine's
#              release, the installed daemon asked by the installed postmap, then a purge
#   trixie     the test command again on a fresh Debian 13 root (scripts/test-release.sh:
#              debootstrap, chroot, a network namespace of its own; release stage only)
#   package-trixie  (package-bookworm on a Debian 13 machine) the package stage for the
#              other release: built in a fresh root of it given only debian/control's
#              build dependencies, its own lintian, installed into another fresh root
#   bookworm   the README's first command on a fresh Debian 12 root (scripts/test-release.sh:
#              install-deps.sh, the Release build, the daemon started and asked through
#              mta-stsctl), as a new user on a minimal install runs it
# MTASTSD_SKIP_SANITIZERS, _TSAN, _FUZZ, _PACKAGE, _RELEASES (trixie and bookworm) =1 skip
# stages.
# The README's build/ is never touched: every stage builds in its own directory.
# The libraries build as unity builds (a module's files compiled as one): half the
# compile time, the largest part of CI's (and the default of every build).
# MTASTSD_UNITY_BUILD=OFF builds file by file; the trixie stage does (GCC 14's headers
# include the least, so a missing #include that a unity build hides fails there).
set -eu
cd "$(dirname "$0")/.."
JOBS="${JOBS:-$(nproc)}"
# Tests side by side: the unit tests mostly wait on servers they start (the cache
# shards), so twice the cores; the end-to-end tests run one at a time (RESOURCE_LOCK
# e2e_world: fixed addresses), each beside whatever unit tests are left.
CTEST_JOBS="${CTEST_JOBS:-$((JOBS * 2))}"
TIMES=""
T_ALL=$(date +%s)

# stage NAME COMMAND...: runs COMMAND and prints its wall time.
stage() {
  name="$1"; shift
  echo "=== stage $name"
  t=$(date +%s)
  "$@"
  secs=$(($(date +%s) - t))
  echo "=== stage $name: passed in $((secs / 60)) min $((secs % 60)) s"
  TIMES="$TIMES$(printf '%-16s %4d min %2d s' "$name" $((secs / 60)) $((secs % 60)))
"
}

# The test builds keep line tables only (-g1): all a failing test's backtrace or a
# sanitizer's report needs, and they compile about a fifth faster than with -g.
TEST_FLAGS="-O2 -g1 -DNDEBUG"
UNITY="${MTASTSD_UNITY_BUILD:-ON}"
export MTASTSD_UNITY_BUILD="$UNITY"  # scripts/fuzz.sh builds the same way

run_suite() {
  dir="$1"; shift
  echo "=== $dir: configure and build"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$TEST_FLAGS" \
    -DMTASTSD_TESTS=ON -DMTASTSD_WERROR=ON -DCMAKE_UNITY_BUILD="$UNITY" "$@" >/dev/null
  cmake --build "$dir" -j"$JOBS"
  echo "=== $dir: tests"
  ctest --test-dir "$dir" --output-on-failure --timeout 900 -j"$CTEST_JOBS"
}

asan_suite() {
  # ASan/UBSan: any finding aborts the process, which fails the test.
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_suite build-asan -DMTASTSD_SANITIZE=ON -DMTASTSD_BENCH=OFF
}

tsan_suite() {
  cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$TEST_FLAGS" \
    -DMTASTSD_TESTS=ON -DMTASTSD_WERROR=ON -DCMAKE_UNITY_BUILD="$UNITY" \
    -DMTASTSD_TSAN=ON -DMTASTSD_BENCH=OFF >/dev/null
  cmake --build build-tsan -j"$JOBS" --target unit_cache mta-stsd mta-stsctl
  TSAN_OPTIONS=halt_on_error=1:abort_on_error=1 \
    ctest --test-dir build-tsan --output-on-failure --timeout 900 -j"$CTEST_JOBS" \
      -R '^(unit_cache(_.*)?|e2e_persistence|e2e_redis)$'
}

valkey_suite() {
  # The same binaries, Valkey instead of redis-server (redis_test_support.hpp and
  # run_redis.py read MTASTSD_REDIS_SERVER). redis-cli speaks to it as well.
  MTASTSD_REDIS_SERVER=/usr/bin/valkey-server build-test/tests/unit_cache \
    --source-file='*redis*'
  MTASTSD_REDIS_SERVER=/usr/bin/valkey-server \
    ctest --test-dir build-test --output-on-failure --timeout 900 -R '^e2e_redis$'
}

stage release run_suite build-test -DMTASTSD_BENCH=ON
[ ! -x /usr/bin/valkey-server ] || stage valkey valkey_suite
[ "${MTASTSD_SKIP_SANITIZERS:-0}" = "1" ] || stage asan asan_suite
[ "${MTASTSD_SKIP_TSAN:-0}" = "1" ] || stage tsan tsan_suite
if [ "${MTASTSD_SKIP_FUZZ:-0}" != "1" ]; then
  # A finding fails the run; fix it and add its input to tests/fuzz/corpus/TARGET/.
  stage fuzz scripts/fuzz.sh "${MTASTSD_FUZZ_SECONDS:-15}"
fi
[ "${MTASTSD_SKIP_PACKAGE:-0}" = "1" ] || stage package scripts/test-package.sh
if [ "${MTASTSD_SKIP_RELEASES:-0}" != "1" ]; then
  stage trixie scripts/test-release.sh trixie test
  # The package of the release this machine is not.
  other=trixie
  grep -q '^VERSION_CODENAME=trixie' /etc/os-release && other=bookworm
  [ "${MTASTSD_SKIP_PACKAGE:-0}" = "1" ] || stage "package-$other" scripts/test-package.sh "$other"
  stage bookworm scripts/test-release.sh bookworm run
fi
secs=$(($(date +%s) - T_ALL))
echo "=== wall time per stage"
printf '%s' "$TIMES"
printf '%-16s %4d min %2d s\n' total $((secs / 60)) $((secs % 60))
echo "=== all tests passed"

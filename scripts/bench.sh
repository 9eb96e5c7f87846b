#!/bin/sh
# Builds the benchmark (release) and prints every figure of bench/README.md,
# each next to its yardstick measured in the same run:
#   1. cache hits (memory cache, then the SQLite store) against mtasts-ceiling:
#      64 connections over all domains (70 % answered from the negative cache)
#      and over domains with a policy only, 1 connection, one request per
#      connection; then the memory cache with metrics off and on (/metrics read
#      every second during the load) in one run, three alternating rounds: the
#      medians say what counting costs the hit path;
#   2. growth: start-up, memory per policy and hit latency with 1,000 to
#      1,000,000 persisted policies (BENCH_SIZES to change);
#   3. cold resolution: 1,000 fresh domains, 64 at once, 20 ms added each way
#      (root: NFQUEUE; otherwise without added delay), against the CPU cost of
#      one bare TLS handshake (openssl s_time).
# Needs scripts/install-deps.sh --bench. About 10 minutes.
set -eu
cd "$(dirname "$0")/.."
B="${BENCH_BUILD:-build-bench}"
cmake -S . -B "$B" -DCMAKE_BUILD_TYPE=Release -DMTASTSD_BENCH=ON -DMTASTSD_TESTS=OFF >/dev/null
targets="mta-stsd mtasts-loadgen mtasts-ceiling"
pkg-config --exists libnetfilter_queue 2>/dev/null && targets="$targets mtasts-delay-queue"
# shellcheck disable=SC2086
cmake --build "$B" -j"$(nproc)" --target $targets
PY=/usr/bin/python3
status=0
echo "=== 1a. cache hits, memory cache"
$PY bench/run_bench.py --loadgen "$B/bench/mtasts-loadgen" --ceiling "$B/bench/mtasts-ceiling" \
  --daemon "$B/mta-stsd" --cache internal || status=1
echo "=== 1b. cache hits, SQLite store"
$PY bench/run_bench.py --loadgen "$B/bench/mtasts-loadgen" --ceiling "$B/bench/mtasts-ceiling" \
  --daemon "$B/mta-stsd" --cache sqlite || status=1
echo "=== 1c. cache hits, memory cache, metrics off and on (/metrics read every second under load)"
$PY bench/run_bench.py --loadgen "$B/bench/mtasts-loadgen" --ceiling "$B/bench/mtasts-ceiling" \
  --daemon "metrics-off=$B/mta-stsd" --daemon "metrics-on=$B/mta-stsd,metrics" --rounds 3 \
  --duration 5 --warmup 1 --cache internal --python-daemon none || status=1
echo "=== 2. growth"
$PY bench/run_growth.py --daemon "$B/mta-stsd" --loadgen "$B/bench/mtasts-loadgen" \
  --sizes "${BENCH_SIZES:-1000,10000,100000,1000000}" || status=1
echo "=== 3. cold resolution"
if [ "$(id -u)" = 0 ] && [ -x "$B/bench/mtasts-delay-queue" ]; then
  $PY bench/run_cold.py --daemon "$B/mta-stsd" --loadgen "$B/bench/mtasts-loadgen" \
    --delay-queue "$B/bench/mtasts-delay-queue" --ca system || status=1
else
  echo "(not root, or no libnetfilter-queue-dev: no added delay)"
  $PY bench/run_cold.py --daemon "$B/mta-stsd" --loadgen "$B/bench/mtasts-loadgen" \
    --delay-ms 0 --ca system || status=1
fi
[ "$status" = 0 ] && echo "=== benchmark done: every answer checked and right" || \
  echo "=== benchmark done, with wrong answers or failures (see above)" >&2
exit "$status"

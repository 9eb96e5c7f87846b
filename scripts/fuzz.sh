#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz) with the release's clang (clang-14 on
# Debian 12, clang-19 on Debian 13: scripts/llvm-version.sh) and runs each for
# SECONDS_PER_TARGET (default 20) over a copy of its committed corpus.
# Exits non-zero if any target crashes or breaks an invariant, printing the
# reproducer; replay one with: build-fuzz/tests/fuzz/fuzz_<name> <file>.
#
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# Env:   BUILD_DIR (default build-fuzz), JOBS (default 2).
set -euo pipefail

seconds=${1:-20}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD_DIR:-$root/build-fuzz}
jobs=${JOBS:-2}

# The longest input worth mutating, per target: a little above what the
# daemon accepts (requests, records) or what a real seed needs (policy, YAML).
declare -A max_len=(
  [netstring]=2048 [request]=1024 [txt_record]=1024 [policy]=4096
  [mx_pattern]=600 [content_type]=256 [config]=4096 [dns_message]=1500 [dane]=300 [cache_record]=4096
  [transfer_line]=4096
)
# A target added under tests/fuzz/ without an entry here would never be fuzzed.
for src in "$root"/tests/fuzz/*.cpp; do
  name=$(basename "$src" .cpp)
  [ "$name" = replay_main ] || [ -n "${max_len[$name]:-}" ] || {
    echo "fuzz.sh: tests/fuzz/$name.cpp has no max_len entry (add it)" >&2
    exit 2
  }
done
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(printf '%s\n' "${!max_len[@]}" | sort)
fi
for name in "${targets[@]}"; do
  [ -n "${max_len[$name]:-}" ] || { echo "fuzz.sh: unknown target '$name'" >&2; exit 2; }
done

llvm=$("$root/scripts/llvm-version.sh")
for tool in clang-$llvm clang++-$llvm; do
  command -v "$tool" >/dev/null || {
    echo "fuzz.sh: $tool not found (scripts/install-deps.sh --test installs it:" \
      "clang-$llvm libclang-rt-$llvm-dev libfuzzer-$llvm-dev)" >&2
    exit 2
  }
done

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang-$llvm -DCMAKE_CXX_COMPILER=clang++-$llvm \
  -DMTASTSD_FUZZ=ON -DMTASTSD_SANITIZE=ON -DMTASTSD_TESTS=ON -DMTASTSD_BENCH=OFF \
  -DCMAKE_UNITY_BUILD="${MTASTSD_UNITY_BUILD:-OFF}" >/dev/null
cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}"

# One target: its report on stdout, its verdict in $work/status.
fuzz_one() {
  local name=$1 work=$build/fuzz-work/$1
  mkdir -p "$work/corpus" "$work/artifacts"
  # Fuzz a copy: what libFuzzer finds stays in the build tree (and is reused on
  # the next run); the committed corpus changes only when a developer adds files.
  cp -n "$root/tests/fuzz/corpus/$name/"* "$work/corpus/"
  rm -f "$work/artifacts/"* "$work/status"
  echo "== fuzz_$name: ${seconds}s, max_len ${max_len[$name]}"
  if "$build/tests/fuzz/fuzz_$name" "$work/corpus" \
      -max_total_time="$seconds" -max_len="${max_len[$name]}" -timeout=10 -rss_limit_mb=2048 \
      -artifact_prefix="$work/artifacts/" -print_final_stats=1 >"$work/log" 2>&1; then
    grep -E "^stat::number_of_executed_units|^#[0-9]+ *DONE" "$work/log" | tail -n 2 || true
    echo ok >"$work/status"
  else
    echo "!! fuzz_$name failed; log: $work/log"
    grep -E "invariant failed|ERROR: |SUMMARY: |runtime error" "$work/log" | head -n 5 || true
    for artifact in "$work/artifacts/"*; do
      [ -e "$artifact" ] && echo "!! reproducer: $artifact"
    done
    echo failed >"$work/status"
  fi
}

# $jobs targets at a time (each fuzzer is one process on one core), reports
# printed in target order.
mkdir -p "$build/fuzz-work"
running=0
for name in "${targets[@]}"; do
  fuzz_one "$name" >"$build/fuzz-work/$name.report" 2>&1 &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
failed=()
for name in "${targets[@]}"; do
  cat "$build/fuzz-work/$name.report"
  [ "$(cat "$build/fuzz-work/$name/status" 2>/dev/null)" = ok ] || failed+=("$name")
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz.sh: failures in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: no crash in ${#targets[@]} targets (${seconds}s each)"

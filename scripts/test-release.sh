#!/bin/sh
# Runs one of the README's two commands on a fresh minimal Debian root, as a new
# user on a machine that never saw this project would:
#
#   scripts/test-release.sh trixie test     the test command on Debian 13: install-deps.sh
#                                           --test, then test.sh (release suite; the
#                                           sanitizer, TSan and fuzz stages stay on the
#                                           host's Debian 12)
#   scripts/test-release.sh bookworm run    the first command on Debian 12: install-deps.sh,
#                                           configure, build mta-stsd and mta-stsctl, then
#                                           start the daemon and ask it through mta-stsctl
#
# The root: a fresh copy of a minimal Debian root (scripts/roots.sh), with the
# checkout copied in (the working tree as it is; MTASTSD_SOURCE=HEAD: the last
# commit). proc, sys and dev are mounted into the root; the package install uses the
# host's network, the tests run in a network namespace of their own (mtasts-RELEASE,
# only a loopback), so their servers on 127.0.0.x never meet the host's.
#
# Needs root, debootstrap and iproute2 (scripts/install-deps.sh --test installs them).
# Env: MTASTSD_ROOTS (default /var/tmp), MTASTSD_SOURCE (worktree|HEAD).
set -eu
release="${1:?usage: scripts/test-release.sh RELEASE test|run}"
mode="${2:?usage: scripts/test-release.sh RELEASE test|run}"
case "$mode" in test | run) ;; *) echo "test-release.sh: mode is test or run" >&2; exit 2 ;; esac
src="$(cd "$(dirname "$0")/.." && pwd)"
. "$src/scripts/roots.sh"
root="$roots/mtasts-$release"
netns="mtasts-$release"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH

[ "$(id -u)" = 0 ] || { echo "test-release.sh: needs root (debootstrap, chroot, ip netns)" >&2; exit 2; }
for tool in debootstrap ip; do
  command -v "$tool" >/dev/null || {
    echo "test-release.sh: $tool not found (scripts/install-deps.sh --test installs it)" >&2
    exit 2
  }
done
mkdir -p "$roots"
# One run per release at a time (the roots and the namespace name are shared).
exec 9>"$roots/mtasts-$release.lock"
flock 9

cleanup() {
  ip netns del "$netns" 2>/dev/null || true
  unmount_all "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
fresh_root "$release" "$root"
copy_checkout "$src" "$root/root/mta-stsd"
echo "== $release: fresh root ready in $(($(date +%s) - t0)) s ($(. "$root/etc/os-release" && echo "$PRETTY_NAME"))"

# Runs a command in the root as a fresh login would (clean environment).
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    MTASTSD_SKIP_SANITIZERS=1 MTASTSD_SKIP_TSAN=1 MTASTSD_SKIP_FUZZ=1 MTASTSD_SKIP_PACKAGE=1 \
    MTASTSD_SKIP_RELEASES=1 MTASTSD_UNITY_BUILD=OFF \
    ${CI:+CI=$CI} /bin/sh -c "cd /root/mta-stsd || exit 2; $1"
}
in_netns() {
  ip netns del "$netns" 2>/dev/null || true
  ip netns add "$netns"
  ip netns exec "$netns" ip link set lo up
  rc=0
  ip netns exec "$netns" chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    MTASTSD_SKIP_SANITIZERS=1 MTASTSD_SKIP_TSAN=1 MTASTSD_SKIP_FUZZ=1 MTASTSD_SKIP_PACKAGE=1 \
    MTASTSD_SKIP_RELEASES=1 MTASTSD_UNITY_BUILD=OFF \
    ${CI:+CI=$CI} /bin/sh -c "cd /root/mta-stsd || exit 2; $1" || rc=$?
  ip netns del "$netns" 2>/dev/null || true
  return "$rc"
}

t1=$(date +%s)
if [ "$mode" = test ]; then
  # The README's test command; the install needs the network, the tests a loopback of their own.
  in_root "scripts/install-deps.sh --test"
  echo "== $release: install-deps.sh --test: $(($(date +%s) - t1)) s"
  t2=$(date +%s)
  rc=0
  in_netns "scripts/test.sh" || rc=$?
  echo "== $release: test.sh: $(($(date +%s) - t2)) s$([ $rc = 0 ] || echo ", FAILED (exit $rc)")"
  [ $rc = 0 ] || exit $rc
else
  # The README's first command, less its last step (the daemon in the foreground),
  # which runs below in the namespace and is asked through mta-stsctl.
  # Its output goes to a log of the root, shown only when it fails.
  log="$root/root/first-command.log"
  in_root 'scripts/install-deps.sh && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)" --target mta-stsd mta-stsctl' \
    >"$log" 2>&1 || {
    tail -n 60 "$log"
    echo "== $release: the README's first command failed; log: $log"
    exit 1
  }
  echo "== $release: install-deps.sh and build: $(($(date +%s) - t1)) s ($(grep -c '^Setting up' "$log") packages installed)"
  in_netns '
    ./build/mta-stsd >/tmp/mta-stsd.log 2>&1 &
    pid=$!
    i=0
    until ./build/mta-stsctl stats >/tmp/stats.txt 2>&1; do
      i=$((i + 1))
      if [ $i -ge 50 ] || ! kill -0 $pid 2>/dev/null; then
        echo "mta-stsd did not answer mta-stsctl:"; cat /tmp/stats.txt /tmp/mta-stsd.log; kill $pid 2>/dev/null; exit 1
      fi
      sleep 0.2
    done
    head -n 3 /tmp/stats.txt
    kill -TERM $pid
    rc=0; wait $pid || rc=$?
    [ $rc = 0 ] || { echo "mta-stsd exited $rc on SIGTERM:"; tail -n 20 /tmp/mta-stsd.log; exit 1; }'
  echo "== $release: README first command: mta-stsd started, answered mta-stsctl, stopped cleanly on SIGTERM"
fi
echo "== $release ($mode): passed in $(($(date +%s) - t0)) s"

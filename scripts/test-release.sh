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
# The root: `debootstrap --variant=minbase RELEASE` from the mirror this machine's own
# apt sources name, kept pristine in $MTASTSD_ROOTS/mtasts-RELEASE-base (reused while it
# works, made again when it is missing or broken) and copied afresh to
# $MTASTSD_ROOTS/mtasts-RELEASE for every run, so a package the scripts forget to
# install fails here. Downloaded packages are kept in $MTASTSD_ROOTS/mtasts-apt-RELEASE.
# The checkout is copied in (the working tree as it is; MTASTSD_SOURCE=HEAD: the last
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
roots="${MTASTSD_ROOTS:-/var/tmp}"
base="$roots/mtasts-$release-base"
root="$roots/mtasts-$release"
cache="$roots/mtasts-apt-$release"
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

# The mirror this machine installs from: the first non-security URI of its apt
# sources (deb822 .sources files, then sources.list).
mirror() {
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n' | grep -v -e security -e '^$' || true
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$f" ] || continue
    sed -n 's/^deb[[:space:]]\{1,\}\(\[[^]]*\][[:space:]]\{1,\}\)\{0,1\}\([^[:space:]]*\).*/\2/p' "$f" |
      grep -v security || true
  done
}
MIRROR="$(mirror | head -n 1)"
[ -n "$MIRROR" ] || { echo "test-release.sh: no mirror in /etc/apt/sources*" >&2; exit 2; }

unmount_all() {
  # Everything mounted at or below $1, deepest first.
  awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}
cleanup() {
  ip netns del "$netns" 2>/dev/null || true
  unmount_all "$root"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
# A base root works when it finished (marker) and runs its own apt.
if [ ! -e "$base/.mtasts-complete" ] || ! chroot "$base" /usr/bin/apt-get --version >/dev/null 2>&1; then
  echo "== $release: debootstrap --variant=minbase $release from $MIRROR"
  unmount_all "$base.new"
  rm -rf "$base" "$base.new"
  debootstrap --variant=minbase "$release" "$base.new" "$MIRROR" >"$roots/mtasts-$release-debootstrap.log" 2>&1 || {
    tail -n 20 "$roots/mtasts-$release-debootstrap.log" >&2
    echo "test-release.sh: debootstrap failed; log: $roots/mtasts-$release-debootstrap.log" >&2
    exit 1
  }
  touch "$base.new/.mtasts-complete"
  mv "$base.new" "$base"
fi

unmount_all "$root"
rm -rf "$root"
cp -a "$base" "$root"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mkdir -p "$cache" "$root/dev" "$root/proc" "$root/sys"
# The root is a mount point of its own, as a container's is: inside a chroot whose /
# is a plain directory, `unshare --mount --propagation private` (the syslog tests'
# private /dev) fails with EINVAL.
mount --bind "$root" "$root"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
mount --rbind /dev "$root/dev" && mount --make-rslave "$root/dev"
mount --bind "$cache" "$root/var/cache/apt/archives"

# The checkout, without build directories.
mkdir -p "$root/root/mta-stsd"
if [ "${MTASTSD_SOURCE:-worktree}" = "HEAD" ]; then
  git -C "$src" archive HEAD | tar -xf - -C "$root/root/mta-stsd"
elif git -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$src" && git ls-files -z --cached --others --exclude-standard |
    tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$root/root/mta-stsd"
else
  tar -C "$src" --exclude='./build*' --exclude='./var' -cf - . | tar -xf - -C "$root/root/mta-stsd"
fi
echo "== $release: fresh root ready in $(($(date +%s) - t0)) s ($(. "$root/etc/os-release" && echo "$PRETTY_NAME"))"

# Runs a command in the root as a fresh login would (clean environment).
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    MTASTSD_SKIP_SANITIZERS=1 MTASTSD_SKIP_TSAN=1 MTASTSD_SKIP_FUZZ=1 MTASTSD_SKIP_RELEASES=1 \
    ${CI:+CI=$CI} /bin/sh -c "cd /root/mta-stsd || exit 2; $1"
}
in_netns() {
  ip netns del "$netns" 2>/dev/null || true
  ip netns add "$netns"
  ip netns exec "$netns" ip link set lo up
  rc=0
  ip netns exec "$netns" chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    MTASTSD_SKIP_SANITIZERS=1 MTASTSD_SKIP_TSAN=1 MTASTSD_SKIP_FUZZ=1 MTASTSD_SKIP_RELEASES=1 \
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
  in_root 'scripts/install-deps.sh && cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j"$(nproc)" --target mta-stsd mta-stsctl'
  echo "== $release: install-deps.sh and build: $(($(date +%s) - t1)) s"
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
    kill -TERM $pid; wait $pid || true'
  echo "== $release: README first command: mta-stsd started and answered mta-stsctl"
fi
echo "== $release ($mode): passed in $(($(date +%s) - t0)) s"

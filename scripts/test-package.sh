#!/bin/sh
# The Debian package as an admin meets it (issue 13), on RELEASE (default: this
# machine's release):
#   scripts/test-package.sh [RELEASE]
#   1. build it from a copy of the checkout: dpkg-buildpackage -us -uc -b, on this
#      machine when RELEASE is its own release, else in a fresh minimal RELEASE root
#      (scripts/roots.sh) given only the build dependencies debian/control names;
#   2. lintian (RELEASE's own): no error and no warning;
#   3. a fresh minimal RELEASE root with postfix and postfix-mta-sts-resolver installed
#      first: `apt-get install ./mta-stsd_*.deb` must say it did not start the daemon
#      (the resolver holds 127.0.0.1:8461);
#   4. the installed daemon, run in the root, answers the installed postmap
#      (tests/package/check_installed.py, with a test world on the loopback);
#   5. `apt-get purge --autoremove mta-stsd` leaves no file behind: the root is listed before
#      the install and after the purge, and the lists must match (apt's and dpkg's
#      own records aside).
# Needs root, debootstrap, dpkg-dev, debhelper, lintian, nsd, nginx (scripts/install-deps.sh
# --test). Env: MTASTSD_ROOTS (default /var/tmp), MTASTSD_SOURCE (worktree|HEAD).
set -eu
src="$(cd "$(dirname "$0")/.." && pwd)"
. "$src/scripts/roots.sh"
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
[ "$(id -u)" = 0 ] || { echo "test-package.sh: needs root (debootstrap, chroot)" >&2; exit 2; }
for tool in debootstrap dpkg-buildpackage dh lintian; do
  command -v "$tool" >/dev/null || {
    echo "test-package.sh: $tool not found (scripts/install-deps.sh --test installs it)" >&2
    exit 2
  }
done
host_release="$(. /etc/os-release && echo "$VERSION_CODENAME")"
release="${1:-$host_release}"
work="$roots/mtasts-package-$release"
root="$roots/mtasts-package-root-$release"
build_root="$roots/mtasts-package-build-$release"
mkdir -p "$roots"
exec 9>"$roots/mtasts-package.lock"
flock 9
trap 'unmount_all "$root"; unmount_all "$build_root"' EXIT
trap 'exit 130' INT TERM

# in_chroot ROOT COMMAND: COMMAND by /bin/sh in ROOT, with a clean environment.
in_chroot() {
  chroot "$1" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$2"
}

t0=$(date +%s)
rm -rf "$work"
mkdir -p "$work"
jobs="parallel=$(nproc)"
if [ "$release" = "$host_release" ]; then
  copy_checkout "$src" "$work/mta-stsd"
  (cd "$work/mta-stsd" && DEB_BUILD_OPTIONS="$jobs" dpkg-buildpackage -us -uc -b) \
    >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    echo "test-package.sh: dpkg-buildpackage failed; log: $work/build.log" >&2
    exit 1
  }
  changes="$work/mta-stsd_*.changes"
else
  # Only what debian/control's Build-Depends names (its first alternatives, less
  # version constraints) and the tools: a dependency control forgets fails the build.
  fresh_root "$release" "$build_root"
  deps="$(sed -n '/^Build-Depends:/,/^[^ ]/p' "$src/debian/control" | sed 's/^Build-Depends://' |
    tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/^[[:space:]]*//; s/[[:space:]]*$//' |
    grep -v -e '^$' -e ':' -e '^Standards' -e '^debhelper-compat$' | tr '\n' ' ')"
  in_chroot "$build_root" "apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      build-essential dpkg-dev debhelper lintian $deps" >"$work/build-deps.log" 2>&1 || {
    tail -n 30 "$work/build-deps.log" >&2
    echo "test-package.sh: the build dependencies did not install in $release; log: $work/build-deps.log" >&2
    exit 1
  }
  copy_checkout "$src" "$build_root/build/mta-stsd"
  in_chroot "$build_root" "cd /build/mta-stsd && DEB_BUILD_OPTIONS=$jobs dpkg-buildpackage -us -uc -b" \
    >"$work/build.log" 2>&1 || {
    tail -n 40 "$work/build.log" >&2
    echo "test-package.sh: dpkg-buildpackage failed in $release; log: $work/build.log" >&2
    exit 1
  }
  cp "$build_root"/build/mta-stsd_* "$work/"
  changes="/build/mta-stsd_*.changes"
fi
deb="$(ls "$work"/mta-stsd_*.deb)"
echo "== package: built $(basename "$deb") on $release ($(du -k "$deb" | cut -f1) KiB) in $(($(date +%s) - t0)) s"

t1=$(date +%s)
# Every tag of severity warning or above fails; the output says which.
if [ "$release" = "$host_release" ]; then
  lintian --fail-on error,warning --tag-display-limit 0 $changes
else
  in_chroot "$build_root" "lintian --fail-on error,warning --tag-display-limit 0 $changes"
fi
echo "== package: lintian clean in $(($(date +%s) - t1)) s"

t2=$(date +%s)
fresh_root "$release" "$root"
in_root() { in_chroot "$root" "$1"; }
# Files of the root, less what apt, dpkg and the kernel keep for themselves.
listing() {
  in_root 'find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /tmp \
      -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/log \
      -o -path /root \) -prune -o -print' | sort
}
# No service of the root starts during the installs (exit 101: "action forbidden").
in_root 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d &&
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections &&
  apt-get update -qq && apt-get install -y -qq --no-install-recommends postfix postfix-mta-sts-resolver' \
  >"$work/root-install.log" 2>&1 || { tail -n 30 "$work/root-install.log" >&2; exit 1; }
# Packages installed (dpkg's "ii"), one name a line.
packages() {
  in_root "dpkg-query -W -f='\${db:Status-Abbrev} \${Package}\n'" | awk '$1 == "ii" { print $2 }' | sort
}
listing >"$work/before.txt"
packages >"$work/packages-before.txt"
cp "$deb" "$root/tmp/"
in_root "apt-get install -y --no-install-recommends /tmp/$(basename "$deb")" >"$work/install.log" 2>&1 || {
  cat "$work/install.log" >&2
  exit 1
}
grep -q "mta-stsd: not started: postfix-mta-sts-resolver is installed" "$work/install.log" || {
  cat "$work/install.log" >&2
  echo "test-package.sh: the install did not say why mta-stsd was not started" >&2
  exit 1
}
echo "== package: installed into a fresh $release root in $(($(date +%s) - t2)) s; not started beside postfix-mta-sts-resolver"
in_root 'dpkg-query -W -f="\${Conffiles}\n" mta-stsd' | grep -q "/etc/mta-stsd.yml" || {
  echo "test-package.sh: /etc/mta-stsd.yml is not a conffile" >&2
  exit 1
}

t3=$(date +%s)
/usr/bin/python3 "$src/tests/package/check_installed.py" --root "$root" --workdir "$work/check" \
  --daemon "$root/usr/sbin/mta-stsd" --ctl "$root/usr/bin/mta-stsctl"
echo "== package: the installed daemon answered the installed postmap ($(($(date +%s) - t3)) s)"

# --autoremove: the libraries apt installed for the package go with it, as on an admin's machine.
in_root "apt-get purge -y --autoremove mta-stsd" >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; exit 1; }
in_root "dpkg-query -W -f='\${db:Status-Abbrev}' mta-stsd 2>/dev/null" | grep -q '^ii' && {
  echo "test-package.sh: mta-stsd is still installed after the purge" >&2
  exit 1
}
# apt's autoremove keeps a library the package pulled in when an installed package
# recommends or suggests it (trixie's libc6 recommends libidn2-0, which a minimal root
# lacks), as it would on an admin's machine: those are the library's files, not
# mta-stsd's. Each one kept must be one apt would remove but for that rule.
packages >"$work/packages-after.txt"
kept="$(comm -13 "$work/packages-before.txt" "$work/packages-after.txt")"
: >"$work/kept-files.txt"
if [ -n "$kept" ]; then
  removable="$(in_root "apt-get -s autoremove -o APT::AutoRemove::RecommendsImportant=false \
    -o APT::AutoRemove::SuggestsImportant=false" | sed -n 's/^Remv \([^ :]*\).*/\1/p')"
  for p in $kept; do
    echo "$removable" | grep -qx "$p" || {
      echo "test-package.sh: $p is still installed after the purge, and not for a recommendation" >&2
      exit 1
    }
  done
  echo "== package: apt kept $(echo $kept) (recommended or suggested by installed packages)"
  in_root "for p in $(echo $kept); do dpkg -L \$p; done" | sort -u >"$work/kept-files.txt"
fi
listing >"$work/after.txt"
for f in before after; do
  grep -vxF -f "$work/kept-files.txt" "$work/$f.txt" >"$work/$f-own.txt" || true
done
if ! diff -u "$work/before-own.txt" "$work/after-own.txt" >"$work/left.diff"; then
  cat "$work/left.diff" >&2
  echo "test-package.sh: apt-get purge mta-stsd left (+) or took (-) the files above" >&2
  exit 1
fi
echo "== package: purged, nothing left; all in $(($(date +%s) - t0)) s"

#!/bin/sh
# The Debian package as an admin meets it (issue 13), on this machine's release:
#   1. build it from a copy of the checkout: dpkg-buildpackage -us -uc -b;
#   2. lintian: no error and no warning;
#   3. a fresh minimal root (scripts/roots.sh) with postfix and
#      postfix-mta-sts-resolver installed first: `apt-get install ./mta-stsd_*.deb`
#      must say it did not start the daemon (the resolver holds 127.0.0.1:8461);
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
release="$(. /etc/os-release && echo "$VERSION_CODENAME")"
work="$roots/mtasts-package"
root="$roots/mtasts-package-root"
mkdir -p "$roots"
exec 9>"$roots/mtasts-package.lock"
flock 9
trap 'unmount_all "$root"' EXIT
trap 'exit 130' INT TERM

t0=$(date +%s)
rm -rf "$work"
copy_checkout "$src" "$work/mta-stsd"
(cd "$work/mta-stsd" && DEB_BUILD_OPTIONS="parallel=$(nproc)" dpkg-buildpackage -us -uc -b) \
  >"$work/build.log" 2>&1 || {
  tail -n 40 "$work/build.log" >&2
  echo "test-package.sh: dpkg-buildpackage failed; log: $work/build.log" >&2
  exit 1
}
deb="$(ls "$work"/mta-stsd_*.deb)"
echo "== package: built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB) in $(($(date +%s) - t0)) s"

t1=$(date +%s)
# Every tag of severity warning or above fails; the output says which.
lintian --fail-on error,warning --no-tag-display-limit "$work"/mta-stsd_*.changes
echo "== package: lintian clean in $(($(date +%s) - t1)) s"

t2=$(date +%s)
fresh_root "$release" "$root"
in_root() {
  chroot "$root" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin /bin/sh -c "$1"
}
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
listing >"$work/before.txt"
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
listing >"$work/after.txt"
if ! diff -u "$work/before.txt" "$work/after.txt" >"$work/left.diff"; then
  cat "$work/left.diff" >&2
  echo "test-package.sh: apt-get purge mta-stsd left the files above" >&2
  exit 1
fi
echo "== package: purged, nothing left; all in $(($(date +%s) - t0)) s"

# Fresh minimal Debian roots for the scripts that test what a new machine sees
# (test-release.sh, test-package.sh); sourced, not run. Needs root, debootstrap.
#
# The base root: `debootstrap --variant=minbase RELEASE` from the mirror this
# machine's own apt sources name, kept pristine in $roots/mtasts-RELEASE-base
# (reused while it works, made again when it is missing or broken). A run copies it
# afresh, so a package the scripts forget to install fails there. Downloaded
# packages are kept in $roots/mtasts-apt-RELEASE.
roots="${MTASTSD_ROOTS:-/var/tmp}"

# The mirror this machine installs from: the first non-security URI of its apt
# sources (deb822 .sources files, then sources.list).
roots_mirror() {
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

# Everything mounted at or below $1, deepest first.
unmount_all() {
  awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/self/mounts | sort -r |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# ensure_base RELEASE: $roots/mtasts-RELEASE-base exists and runs its own apt.
ensure_base() {
  _base="$roots/mtasts-$1-base"
  if [ -e "$_base/.mtasts-complete" ] && chroot "$_base" /usr/bin/apt-get --version >/dev/null 2>&1; then
    return 0
  fi
  _mirror="$(roots_mirror | head -n 1)"
  [ -n "$_mirror" ] || { echo "roots.sh: no mirror in /etc/apt/sources*" >&2; return 2; }
  echo "== $1: debootstrap --variant=minbase $1 from $_mirror"
  mkdir -p "$roots"
  unmount_all "$_base.new"
  rm -rf "$_base" "$_base.new"
  debootstrap --variant=minbase "$1" "$_base.new" "$_mirror" >"$roots/mtasts-$1-debootstrap.log" 2>&1 || {
    tail -n 20 "$roots/mtasts-$1-debootstrap.log" >&2
    echo "roots.sh: debootstrap failed; log: $roots/mtasts-$1-debootstrap.log" >&2
    return 1
  }
  touch "$_base.new/.mtasts-complete"
  mv "$_base.new" "$_base"
}

# fresh_root RELEASE ROOT: a copy of the base at ROOT with proc, sys, dev and the
# package cache mounted (unmount_all ROOT undoes it).
fresh_root() {
  ensure_base "$1"
  unmount_all "$2"
  rm -rf "$2"
  cp -a "$roots/mtasts-$1-base" "$2"
  cp /etc/resolv.conf "$2/etc/resolv.conf"
  mkdir -p "$roots/mtasts-apt-$1" "$2/dev" "$2/proc" "$2/sys"
  # The root is a mount point of its own, as a container's is: inside a chroot whose /
  # is a plain directory, `unshare --mount --propagation private` (the syslog tests'
  # private /dev) fails with EINVAL.
  mount --bind "$2" "$2"
  mount -t proc proc "$2/proc"
  mount --rbind /sys "$2/sys" && mount --make-rslave "$2/sys"
  mount --rbind /dev "$2/dev" && mount --make-rslave "$2/dev"
  mount --bind "$roots/mtasts-apt-$1" "$2/var/cache/apt/archives"
}

# copy_checkout SRC DEST: the checkout without build directories (the working
# tree as it is; MTASTSD_SOURCE=HEAD: the last commit).
copy_checkout() {
  mkdir -p "$2"
  if [ "${MTASTSD_SOURCE:-worktree}" = "HEAD" ]; then
    git -C "$1" archive HEAD | tar -xf - -C "$2"
  elif git -C "$1" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    (cd "$1" && git ls-files -z --cached --others --exclude-standard |
      tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$2"
  else
    tar -C "$1" --exclude='./build*' --exclude='./var' -cf - . | tar -xf - -C "$2"
  fi
}

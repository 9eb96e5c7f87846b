#!/bin/sh
# Prints the LLVM major version whose clang builds the fuzz targets (scripts/fuzz.sh)
# on this Debian release: the one install-deps.sh --test installs. MTASTSD_LLVM
# overrides it.
set -eu
if [ -n "${MTASTSD_LLVM:-}" ]; then
  echo "$MTASTSD_LLVM"
  exit 0
fi
codename=""
[ -r /etc/os-release ] && codename="$(. /etc/os-release && echo "${VERSION_CODENAME:-}")"
case "$codename" in
  bookworm) echo 14 ;;
  trixie) echo 19 ;;
  *)
    # Another release: the newest clang-N installed, else Debian 13's.
    found="$(ls /usr/bin/clang++-* 2>/dev/null | sed 's/.*clang++-//' | sort -n | tail -n 1)"
    echo "${found:-19}"
    ;;
esac

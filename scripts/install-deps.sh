#!/bin/sh
# Installs what mta-stsd needs from Debian 12's packages.
#   scripts/install-deps.sh        build dependencies only
#   scripts/install-deps.sh --test also the real servers the tests drive
#                                  (nsd, nginx, Postfix's postmap, redis, unbound)
#   scripts/install-deps.sh --bench the test servers, and libnetfilter-queue for
#                                  the cold-resolution benchmark's added delay
set -eu
export DEBIAN_FRONTEND=noninteractive
BUILD="build-essential cmake pkg-config ca-certificates
  libboost-dev libc-ares-dev libcurl4-openssl-dev libssl-dev libfmt-dev libspdlog-dev
  libyaml-cpp-dev libcli11-dev libidn2-dev libsqlite3-dev libhiredis-dev libsystemd-dev
  libldns-dev doctest-dev"
TEST="nsd nginx-light postfix redis-server unbound openssl iproute2 python3 ldnsutils
  dnsutils procps iptables clang-14 libfuzzer-14-dev"
PKGS="$BUILD"
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  PKGS="$BUILD $TEST"
  [ "$1" = "--bench" ] && PKGS="$PKGS libnetfilter-queue-dev"
  # Debian's postfix package asks questions and would configure a mail server.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
missing=""
for p in $PKGS; do
  dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi

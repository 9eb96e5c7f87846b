#!/bin/sh
# Installs what mta-stsd needs from Debian's packages (Debian 12 bookworm and
# Debian 13 trixie; see README.md).
#   scripts/install-deps.sh         build dependencies only (the daemon and the tool)
#   scripts/install-deps.sh --test  also the test tools and the real servers the tests
#                                   drive (nsd, nginx, Postfix's postmap, redis, unbound,
#                                   postgresql),
#                                   and clang with its sanitizer and libFuzzer runtimes
#                                   (not with MTASTSD_SKIP_FUZZ=1)
#   scripts/install-deps.sh --bench the test servers, and libnetfilter-queue for the
#                                   cold-resolution benchmark's added delay
# The test servers are installed, not started: on a host with an init system a
# temporary /usr/sbin/policy-rc.d keeps Debian from starting them as services
# (nsd and unbound would both take port 53). The tests start their own instances.
set -eu
export DEBIAN_FRONTEND=noninteractive
here="$(cd "$(dirname "$0")" && pwd)"
BUILD="build-essential cmake pkg-config ca-certificates
  libboost-dev libc-ares-dev libcurl4-openssl-dev libssl-dev libfmt-dev libspdlog-dev
  libyaml-cpp-dev libcli11-dev libidn2-dev libsqlite3-dev libhiredis-dev libsystemd-dev
  libldns-dev nlohmann-json3-dev"
# cache.type postgres (postfix-mta-sts-resolver's): libpq, PostgreSQL's own client
# library, packaged as libpq-dev in both releases.
BUILD="$BUILD libpq-dev"
TEST="doctest-dev nsd nginx-light postfix redis-server unbound openssl iproute2 python3
  ldnsutils dnsutils procps iptables prometheus"
# tests/e2e/run_takeover.py: the real daemon mta-stsd replaces learns the policies
# mta-stsd must take over (its service is not started, see below).
TEST="$TEST postfix-mta-sts-resolver"
# tests/cache/test_redis_sentinel.cpp and the store contract's SentinelBackend:
# real redis-sentinel processes (cache.type redis_sentinel) watching a private
# redis-server master and replica; Debian 12 and 13 both package it.
TEST="$TEST redis-sentinel"
# tests/cache/test_postgres_store.cpp and tests/e2e/run_postgres.py: a private PostgreSQL
# server (initdb, postgres) and psql. The metapackage names the release's version (15 on
# Debian 12, 17 on Debian 13); its cluster is not started (see below).
TEST="$TEST postgresql"
# tests/e2e/run_startup.py: systemd-socket-activate and systemd-analyze (socket
# activation and the units); the package does not make systemd the init.
TEST="$TEST systemd"
# scripts/test.sh's valkey stage: the Redis tests again against Valkey, which
# Debian 13 packages (bookworm does not).
if [ -r /etc/os-release ] && ! grep -q '^VERSION_CODENAME=bookworm' /etc/os-release; then
  TEST="$TEST valkey-server"
fi
if [ "${MTASTSD_SKIP_FUZZ:-0}" != "1" ]; then
  # scripts/fuzz.sh and its ASan+UBSan runtimes. The runtimes and libFuzzer are in
  # libclang-rt-N-dev, only recommended by clang (and recommends are not installed).
  llvm="$("$here/llvm-version.sh")"
  TEST="$TEST clang-$llvm libclang-rt-$llvm-dev libfuzzer-$llvm-dev"
fi
if [ "${MTASTSD_SKIP_RELEASES:-0}" != "1" ]; then
  # scripts/test-release.sh: fresh Debian 13 and Debian 12 roots for test.sh's last stages;
  # scripts/test-package.sh: the Debian package built (debhelper), checked (lintian) and
  # installed into such a root.
  TEST="$TEST debootstrap debhelper dpkg-dev lintian"
fi
PKGS="$BUILD"
if [ "${1:-}" = "--test" ] || [ "${1:-}" = "--bench" ]; then
  PKGS="$BUILD $TEST"
  [ "$1" = "--bench" ] && PKGS="$PKGS libnetfilter-queue-dev"
  # Debian's postfix package asks what kind of mail server to configure; answer
  # "No configuration" (postmap and a private test instance are all the tests use).
  # An existing Postfix keeps its configuration: this only seeds the question.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
fi
missing=""
for p in $PKGS; do
  dpkg -s "$p" 2>/dev/null | grep -q '^Status: install ok installed' || missing="$missing $p"
done
[ -n "$missing" ] || exit 0

# No service starts during this install (exit 101 = "action forbidden"), unless
# the admin has a policy of their own, which is then left to decide.
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\n# scripts/install-deps.sh (mta-stsd): no service starts while it installs.\nexit 101\n' >"$policy"
  chmod 755 "$policy"
  ours=1
  trap 'rm -f "$policy"' EXIT INT TERM
fi
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
if [ -n "$ours" ]; then
  rm -f "$policy"
  trap - EXIT INT TERM
  # Nor at the next boot: the services this install added stay disabled (the
  # tests start private instances; a mail server's port 53 stays its own).
  for p in $missing; do
    case "$p" in
      nsd | unbound | redis-server | redis-sentinel | valkey-server | prometheus) svc="$p" ;;
      nginx-light) svc=nginx ;;
      postfix-mta-sts-resolver | postgresql) svc="$p" ;;
      *) continue ;;
    esac
    if [ -d /run/systemd/system ]; then
      systemctl disable --quiet "$svc" 2>/dev/null || true
    elif [ -x "/etc/init.d/$svc" ] && command -v update-rc.d >/dev/null; then
      update-rc.d "$svc" disable >/dev/null 2>&1 || true
    fi
  done
fi

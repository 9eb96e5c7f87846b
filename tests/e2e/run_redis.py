#!/usr/bin/python3
"""End-to-end tests of the fleet cache: two mta-stsd daemons sharing one real redis-server.

    /usr/bin/python3 tests/e2e/run_redis.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/redis-e2e

What one daemon learned, the other answers without fetching it again; keys expire with their
policies; with Redis killed both keep answering (from memory, with fresh discoveries) and log
the outage once; with Redis back on the same port sharing resumes. Each daemon also keeps its
local SQLite copy, so a restart while Redis is down still has its policies.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.50:443), nsd, nginx, openssl, redis-server, redis-cli.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
from fleet import FleetDaemon  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from harness import HOST  # noqa: E402
from world import World, hits_after  # noqa: E402

OVERALL_LIMIT = 300
ZONE_TIMEOUT = 4.0
HTTPS_ADDRESSES = ["127.0.0.50"] + ["127.0.%d.50" % i for i in range(1, 10)]
DOMAINS = ["fleet%02d.test" % i for i in range(12)]
MAX_AGE = 86400


def answer(domain):
    return S.ok_answer(["mx1." + domain, ".mx." + domain], domain)


def build_world(workdir, https_addr):
    w = World(workdir, https_addr=https_addr)
    for name in DOMAINS:
        w.add_domain(name, txt=[S.ID],
                     policy=S.policy(mx=["mx1." + name, "*.mx." + name], max_age=str(MAX_AGE)))
    return w


# scripts/test.sh's valkey stage runs this file against Debian 13's valkey-server.
REDIS_SERVER = os.environ.get("MTASTSD_REDIS_SERVER") or "redis-server"

class Redis:
    def __init__(self, workdir):
        self.port = procs.free_port(HOST)
        self.log = os.path.join(workdir, "redis.log")
        self.proc = None

    def start(self):
        self.proc = procs.ManagedProcess(
            "redis-server", [REDIS_SERVER, "--bind", HOST, "--port", str(self.port), "--save", "",
                             "--appendonly", "no", "--daemonize", "no"], self.log)
        return procs.wait_tcp(HOST, self.port, 10, self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def logs(self):
        return [("redis", self.log)]

    def kill(self):
        self.proc.signal(signal.SIGKILL)
        self.proc.wait(10)
        self.proc.stop()
        self.proc = None

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-h", HOST, "-p", str(self.port)] + list(args),
                           capture_output=True, text=True, timeout=10)
        return r.stdout.strip()


def fleet_daemon(args, name, world, redis):
    return FleetDaemon(args.daemon, args.workdir, name, world, "redis",
                       ["url: redis://%s:%d/0" % (HOST, redis.port), "socket_timeout: 1",
                        "socket_connect_timeout: 1"], ZONE_TIMEOUT)


def check_fleet(c, w, redis, a, b):
    # 1. What A learns, B answers without fetching.
    for name in DOMAINS[:4]:
        c.eq("A learns %s" % name, answer(name), a.query(name))
        c.eq("... one fetch", 1, hits_after(w, name, 1))
    # One policy key per domain (DANE results sit under their own prefix).
    policy_keys = lambda: len(redis.cli("KEYS", "mta-stsd:policy:*").split())  # noqa: E731
    c.ok("A's writes reach Redis", procs.wait_until(lambda: policy_keys() == 4, 5),
         "policy keys %r" % redis.cli("KEYS", "mta-stsd:policy:*"))
    for name in DOMAINS[:4]:
        c.eq("B answers %s learned by A" % name, answer(name), b.query(name))
    time.sleep(0.5)
    c.eq("B fetched none of them (read from Redis)", [1] * 4,
         [w.nginx_hits(n) for n in DOMAINS[:4]])
    ttl = int(redis.cli("TTL", "mta-stsd:policy:" + DOMAINS[0]) or -2)
    c.ok("the Redis key expires with the policy (TTL close to max_age)",
         MAX_AGE - 120 <= ttl <= MAX_AGE, "TTL %d" % ttl)

    errors = a.store_errors()
    c.eq("A's /metrics: no store errors while Redis runs",
         {("redis", "read"): 0, ("redis", "write"): 0, ("sqlite", "read"): 0,
          ("sqlite", "write"): 0}, errors)

    # 2. Redis killed: both keep answering; the outage is logged once.
    redis.kill()
    for name in DOMAINS[:4]:
        c.eq("Redis down: A still answers %s (memory)" % name, answer(name), a.query(name))
    started = time.monotonic()
    c.eq("Redis down: B learns %s itself" % DOMAINS[4], answer(DOMAINS[4]), b.query(DOMAINS[4]))
    c.ok("... within the zone timeout", time.monotonic() - started < ZONE_TIMEOUT + 1)
    for name in DOMAINS[5:8]:
        c.eq("Redis down: A learns %s" % name, answer(name), a.query(name))
    c.ok("A logs the lost connection", procs.wait_until(lambda: "connection lost" in a.log_text(), 10))
    time.sleep(2.5)  # reconnect attempts go on meanwhile
    for name in DOMAINS[5:8]:
        a.query(name)
    c.eq("A logged the outage once, not per query or attempt", 1,
         a.log_text().count("connection lost"))
    errors = a.store_errors() or {}
    # A's three discoveries each asked Redis first (a memory miss): it could not answer.
    c.ok("A's /metrics: Redis reads failed while it was down, SQLite's did not",
         errors.get(("redis", "read"), 0) >= 3 and errors.get(("sqlite", "read")) == 0,
         repr(errors))

    # 3. Redis back on the same port (empty): sharing resumes.
    c.ok("Redis restarts on the same port", redis.start())
    c.ok("A reconnects", procs.wait_until(lambda: "connected again" in a.log_text(), 40))
    c.ok("B reconnects", procs.wait_until(lambda: "connected again" in b.log_text(), 40))
    c.ok("A's writes queued during the outage arrive",
         procs.wait_until(lambda: redis.cli("EXISTS", "mta-stsd:policy:" + DOMAINS[5]) == "1", 10))
    fresh = DOMAINS[8]
    c.eq("A learns %s after the outage" % fresh, answer(fresh), a.query(fresh))
    c.ok("... written to Redis",
         procs.wait_until(lambda: redis.cli("EXISTS", "mta-stsd:policy:" + fresh) == "1", 5))
    c.eq("B answers %s" % fresh, answer(fresh), b.query(fresh))
    time.sleep(0.5)
    c.eq("... without fetching it", 1, w.nginx_hits(fresh))

    # 4. A restart while Redis is down still has this daemon's policies (local SQLite tier).
    redis.kill()
    c.eq("B stops cleanly", 0, b.stop())
    w.stop_https()
    w.stop_dns()
    c.ok("B restarts with Redis, DNS and HTTPS down", b.start(), procs.log_tail(b.log))
    for name in DOMAINS[:5] + [fresh]:
        c.eq("B after restart: %s from its local copy" % name, answer(name), b.query(name))


def body(run):
    c, args = run.checks, run.args
    for stale in os.listdir(args.workdir):
        if stale.endswith((".db", ".db-wal", ".db-shm")):
            os.unlink(os.path.join(args.workdir, stale))
    w = build_world(args.workdir, procs.free_address(HTTPS_ADDRESSES, 443))
    run.on_exit(w.stop, w.logs)
    redis = Redis(args.workdir)
    run.on_exit(redis.stop, redis.logs)
    w.start()
    c.ok("redis-server starts", redis.start(), procs.log_tail(redis.log))
    a = fleet_daemon(args, "a", w, redis)
    b = fleet_daemon(args, "b", w, redis)
    c.ok("daemon A starts", a.start(), procs.log_tail(a.log))
    c.ok("daemon B starts", b.start(), procs.log_tail(b.log))
    check_fleet(c, w, redis, a, b)
    c.eq("A: SIGTERM exits 0", 0, a.stop())


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "redis", OVERALL_LIMIT, body))

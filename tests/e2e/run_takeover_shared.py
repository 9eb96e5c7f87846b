#!/usr/bin/python3
"""End-to-end test of the switch from postfix-mta-sts-resolver's shared caches: redis,
redis_sentinel and postgres. No learned policy is lost.

    /usr/bin/python3 tests/e2e/run_takeover_shared.py --daemon build/mta-stsd \
        --ctl build/mta-stsctl --workdir /tmp/takeover-shared

run_takeover.py does this for the SQLite cache; here, for each shared cache type, the test
starts the real server(s) on loopback (a redis-server; a redis-server master, a replica and
three redis-sentinel processes; a private PostgreSQL made with initdb), writes ONE YAML file
with that cache type and its own option keys (url; sentinels and sentinel_master_name; dsn),
lets the real mta-sts-daemon of Debian's postfix-mta-sts-resolver learn enforce (wildcard MX
patterns among them), testing and none policies through real queries, stops it, stops nsd and
nginx (the policy hosts unreachable: what an attacker who blocks discovery arranges), and
starts mta-stsd on the very same file. Every enforce domain learned must be answered
"OK secure match=..." with the policy's patterns from the first query, the testing one in a
strict zone; the log must say how many it took over (any line saying it could not take over
something fails the check, quoted); the Python daemon's keys or rows must be unchanged.
For redis_sentinel, the sentinels then fail over (SENTINEL FAILOVER) while mta-stsd runs: it
keeps answering the domains taken over, and a policy it learns afterwards (nsd and nginx
started again for a new domain) lands in the new master.

mta-stsd's local SQLite tier goes to $STATE_DIRECTORY (a directory of the workdir): the file
has no cache.options.filename, which the Python daemon would pass on to its Redis or
PostgreSQL client and fail on.

postfix-mta-sts-resolver 1.1.2 (Debian 12) has no postgres cache (no postgres_cache module)
and no redis_sentinel type, and its redis cache calls aioredis.from_url, which Debian 12's
aioredis 1.3.1 lacks: those types are reported "ok - TYPE # SKIP <reason>" there, and CTest
says Skipped when all three are. On Debian 13 (1.5.0) nothing is skipped: a type that would be
is a failed check.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.93:443, nsd 127.0.0.94:53, unshare and mount), nsd, nginx,
openssl, postfix-mta-sts-resolver (with python3-redis and python3-asyncpg), redis-server,
redis-sentinel, postgresql, psql.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from harness import HOST, NOTFOUND  # noqa: E402
from resolver_takeover import (ENFORCE, LEARNED, NONE, PYTHON_DAEMON, TESTING,  # noqa: E402
                               PythonDaemon, answer, build_world, learn)
from run_postgres import Postgres, postgres_bin  # noqa: E402

OVERALL_LIMIT = 120         # about 15 s when all is well
ZONE_TIMEOUT = 4.0
HTTPS_ADDR = "127.0.0.93"   # nginx: the policy hosts
DNS_ADDR = "127.0.0.94"     # nsd on port 53: the Python daemon's resolv.conf can give no port
DAEMON_ADDR = "127.0.0.95"  # the Python daemon, then mta-stsd (one configuration per type)
TYPES = ("redis", "redis_sentinel", "postgres")
FRESH = "after-failover.test"  # learned by mta-stsd after the sentinels' failover
MASTER_NAME = "mymaster"
OWN_PREFIX = b"mta-stsd:"      # mta-stsd's keys; every other key is the Python daemon's
REDIS_SERVER = os.environ.get("MTASTSD_REDIS_SERVER") or "redis-server"
REDIS_SENTINEL = os.environ.get("MTASTSD_REDIS_SENTINEL") or "redis-sentinel"
RESOLVER_PACKAGE = "postfix-mta-sts-resolver"
# Lines of mta-stsd saying it could not take something over: each one fails the run, quoted.
BAD_NEWS = re.compile(r"cannot take over|cannot read postfix-mta-sts-resolver|"
                      r"reading postfix-mta-sts-resolver's keys failed|not taken over|"
                      r"unusable rows skipped|unusable \w+s skipped")


# ----- the Python daemon's version: what it can do ------------------------------------
def resolver_version():
    r = subprocess.run(["dpkg-query", "-W", "-f=${Version}", RESOLVER_PACKAGE],
                       capture_output=True, text=True, timeout=20)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


def version_lt(a, b):
    return subprocess.run(["dpkg", "--compare-versions", a, "lt", b],
                          timeout=20).returncode == 0


def has_module(name):
    """postfix_mta_sts_resolver.NAME importable by the system python the daemon runs on."""
    r = subprocess.run(["/usr/bin/python3", "-c",
                        "import importlib.util, sys; sys.exit(0 if importlib.util.find_spec("
                        "'postfix_mta_sts_resolver.%s') else 1)" % name],
                       capture_output=True, timeout=30)
    return r.returncode == 0


def debian_major():
    try:
        with open("/etc/os-release") as f:
            m = re.search(r'^VERSION_ID="?(\d+)', f.read(), re.M)
    except OSError:
        return None
    return int(m.group(1)) if m else None


def skip_reason(kind, version):
    """Why this postfix-mta-sts-resolver cannot run KIND, or None."""
    if kind == "postgres" and not has_module("postgres_cache"):
        return ("%s %s has no postgres cache (no module postfix_mta_sts_resolver."
                "postgres_cache; 1.5.0 has one)" % (RESOLVER_PACKAGE, version))
    if version_lt(version, "1.5.0~"):
        if kind == "redis_sentinel":
            return ("%s %s has no redis_sentinel cache type (added in 1.5.0)"
                    % (RESOLVER_PACKAGE, version))
        if kind == "redis":
            return ("%s %s's redis cache calls aioredis.from_url, which Debian 12's "
                    "python3-aioredis 1.3.1 lacks: it crashes at start (1.5.0 uses "
                    "python3-redis)" % (RESOLVER_PACKAGE, version))
    return None


# ----- Redis: a minimal RESP client (binary-safe: the Python daemon's members are not text) --
class RedisError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed mid-reply")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisError(rest.decode("utf-8", "replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise OSError("not a RESP reply: %r" % line[:40])


def redis_call(port, *args, timeout=3.0):
    """One command on 127.0.0.1:PORT; the reply (RedisError raised), None if unreachable."""
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode("utf-8")
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as s:
            s.sendall(out)
            with s.makefile("rb") as f:
                reply = _read_reply(f)
    except OSError:
        return None
    if isinstance(reply, RedisError):
        raise reply
    return reply


def redis_try(port, *args):
    try:
        return redis_call(port, *args)
    except RedisError as e:
        return "error: %s" % e


def resolver_keys(port):
    """The Python daemon's keys on the server at PORT, every member and score as stored:
    {key: (type, contents)}; None if the server cannot be read."""
    keys = redis_try(port, "KEYS", "*")
    if not isinstance(keys, list):
        return None
    found = {}
    for key in sorted(k for k in keys if not k.startswith(OWN_PREFIX)):
        kind = redis_try(port, "TYPE", key)
        if kind == b"zset":
            found[key] = (kind, redis_try(port, "ZRANGE", key, 0, -1, "WITHSCORES"))
        elif kind == b"hash":
            found[key] = (kind, sorted(redis_try(port, "HGETALL", key) or []))
        else:
            found[key] = (kind, redis_try(port, "DUMP", key))
    return found


def zset_domains(keys):
    return sorted(k.decode("utf-8", "replace") for k, (kind, _) in (keys or {}).items()
                  if kind == b"zset")


def has_own_key(port, domain):
    return redis_try(port, "EXISTS", OWN_PREFIX + b"policy:" + domain.encode()) == 1


class RedisServer:
    """One redis-server on 127.0.0.1, in its own directory; extra arguments (--replicaof)."""

    def __init__(self, workdir, name, extra=()):
        self.port = procs.free_port(HOST)
        self.dir = os.path.join(workdir, name)
        self.log = os.path.join(workdir, name + ".log")
        self.extra = list(extra)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        harness.remove(self.log)
        harness.show_log_on_failure(name, self.log)

    def start(self):
        self.proc = procs.ManagedProcess(
            "redis-server", [REDIS_SERVER, "--bind", HOST, "--port", str(self.port), "--save", "",
                             "--appendonly", "no", "--daemonize", "no", "--dir", self.dir]
            + self.extra, self.log)
        return procs.wait_until(lambda: redis_try(self.port, "PING") == b"PONG", 10, self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def role(self):
        reply = redis_try(self.port, "ROLE")
        return reply[0].decode() if isinstance(reply, list) and reply else None


class Sentinel:
    """One redis-sentinel watching MASTER_NAME; it rewrites its file, kept in its directory."""

    def __init__(self, workdir, name, master_port, quorum):
        self.port = procs.free_port(HOST)
        self.dir = os.path.join(workdir, name)
        self.log = os.path.join(workdir, name + ".log")
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)
        harness.remove(self.log)
        harness.show_log_on_failure(name, self.log)
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write(f"""port {self.port}
bind {HOST}
daemonize no
dir {self.dir}
sentinel monitor {MASTER_NAME} {HOST} {master_port} {quorum}
sentinel down-after-milliseconds {MASTER_NAME} 800
sentinel failover-timeout {MASTER_NAME} 3000
sentinel parallel-syncs {MASTER_NAME} 1
""")

    def start(self):
        self.proc = procs.ManagedProcess("redis-sentinel", [REDIS_SENTINEL, self.conf], self.log)
        return procs.wait_until(lambda: redis_try(self.port, "PING") == b"PONG", 10, self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def master_port(self):
        reply = redis_try(self.port, "SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        return int(reply[1]) if isinstance(reply, list) and len(reply) == 2 else None

    def known(self):
        """(replicas, other sentinels) this sentinel knows of."""
        replicas = redis_try(self.port, "SENTINEL", "replicas", MASTER_NAME)
        others = redis_try(self.port, "SENTINEL", "sentinels", MASTER_NAME)
        return (len(replicas) if isinstance(replicas, list) else 0,
                len(others) if isinstance(others, list) else 0)


class SentinelGroup:
    """A master, one replica and three sentinels (quorum 2)."""

    def __init__(self, workdir):
        self.master = RedisServer(workdir, "redis-master")
        self.replica = RedisServer(workdir, "redis-replica",
                                   ["--replicaof", HOST, str(self.master.port)])
        self.sentinels = [Sentinel(workdir, "sentinel%d" % i, self.master.port, 2)
                          for i in range(3)]

    def start(self):
        return (self.master.start() and self.replica.start()
                and all(s.start() for s in self.sentinels))

    def stop(self):
        for s in self.sentinels:
            s.stop()
        self.replica.stop()
        self.master.stop()

    def logs(self):
        return [(os.path.basename(x.log), x.log)
                for x in [self.master, self.replica] + self.sentinels]

    def settled(self):
        """Every sentinel knows the replica and the two other sentinels."""
        return all(r >= 1 and o >= 2 for r, o in (s.known() for s in self.sentinels))

    def masters(self):
        return [s.master_port() for s in self.sentinels]


# ----- the configuration both daemons read ----------------------------------------------
class Config(harness.Daemon):
    """The one YAML file of a cache type: postfix-mta-sts-resolver's keys, and mta-stsd's
    resolver/tls/log_level/dane, which the Python daemon ignores. DANE is off: with DNS down
    its lookups fail, and the answers checked are the MTA-STS ones."""

    def __init__(self, binary, workdir, world, kind, options):
        super().__init__(binary, workdir, "mta-stsd-" + kind, DAEMON_ADDR,
                         query_timeout=ZONE_TIMEOUT + 6, start_timeout=20, stop_timeout=15)
        self.state = os.path.join(workdir, "state")
        shutil.rmtree(self.state, ignore_errors=True)
        os.makedirs(self.state)
        self.write_config(f"""\
reuse_port: true
cache_grace: 60
cache:
  type: {kind}
  options:
{options}default_zone:
  strict_testing: false
  timeout: {ZONE_TIMEOUT:g}
zones:
  strict:
    strict_testing: true
    timeout: {ZONE_TIMEOUT:g}
proactive_policy_fetching:
  enabled: false
dane:
  enabled: false
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)

    def argv(self):
        # env execs mta-stsd in place: the PID stopped is the daemon's.
        return ["env", "STATE_DIRECTORY=" + self.state, self.binary, "-c", self.config]


def check_answers(c, kind, d, when="taken over"):
    for name in sorted(ENFORCE):
        c.eq("%s: %s: %s answered, policy hosts down" % (kind, when, name), answer(name),
             d.query(name))
    c.eq("%s: %s: %s (testing) in the strict zone" % (kind, when, TESTING),
         S.ok_answer(["mx.testing.test"], TESTING), d.query(TESTING, "strict"))
    c.eq("%s: %s: %s (testing) in the default zone" % (kind, when, TESTING), NOTFOUND,
         d.query(TESTING))
    c.eq("%s: %s: %s (mode none)" % (kind, when, NONE), NOTFOUND, d.query(NONE))


def check_log(c, kind, d, what):
    """One count line, all taken over, none skipped; any line of bad news quoted."""
    log = d.run_log()
    bad = [line for line in log.splitlines() if BAD_NEWS.search(line)]
    c.ok("%s: mta-stsd logs no failure to take over" % kind, not bad, "\n" + "\n".join(bad))
    counts = [line for line in log.splitlines() if "took over" in line]
    c.ok("%s: one log line: took over %d policies from postfix-mta-sts-resolver's %s, "
         "none skipped" % (kind, len(LEARNED), what),
         any(("took over %d policies from postfix-mta-sts-resolver's %s" % (len(LEARNED), what))
             in line and "skipped 0:" in line for line in counts),
         "\n" + "\n".join(counts or log.splitlines()[-30:]))


# ----- the three cache types --------------------------------------------------------------
def python_learns(c, kind, py, w, count):
    """The world up, the Python daemon learns LEARNED; count() -> the domains it stored."""
    w.start_dns()
    w.start_https()
    learn(c, py, kind + ": ")
    stored = count()
    c.eq("%s: postfix-mta-sts-resolver stored every learned policy" % kind, sorted(LEARNED),
         stored)
    w.stop_dns()
    w.stop_https()


def run_redis(c, args, w, workdir):
    kind = "redis"
    server = RedisServer(workdir, "redis")
    cfg = None
    try:
        if not c.ok("%s: redis-server starts" % kind, server.start(),
                    procs.log_tail(server.log)):
            return
        cfg = Config(args.daemon, workdir, w, kind, f"""\
    url: redis://{HOST}:{server.port}/0
    socket_timeout: 2
    socket_connect_timeout: 2
""")
        py = PythonDaemon(workdir, cfg, w)
        try:
            python_learns(c, kind, py, w, lambda: zset_domains(resolver_keys(server.port)))
        finally:
            py.stop()
        before = resolver_keys(server.port)
        c.ok("%s: mta-stsd starts on the same configuration file" % kind, cfg.start(),
             procs.log_tail(cfg.log))
        check_answers(c, kind, cfg)
        check_log(c, kind, cfg, "keys")
        c.ok("%s: the policies taken over are written under mta-stsd's own keys" % kind,
             procs.wait_until(lambda: all(has_own_key(server.port, n) for n in ENFORCE), 10),
             repr(redis_try(server.port, "KEYS", "mta-stsd:*")))
        c.eq("%s: mta-stsd SIGTERM exits 0" % kind, 0, cfg.stop())
        c.ok("%s: postfix-mta-sts-resolver's keys (members, scores) are unchanged" % kind,
             before is not None and before == resolver_keys(server.port),
             "before %r\nafter %r" % (before, resolver_keys(server.port)))
    finally:
        if cfg is not None:
            cfg.stop()
        server.stop()


def run_sentinel(c, args, w, workdir):
    kind = "redis_sentinel"
    group = SentinelGroup(workdir)
    cfg = None
    try:
        if not c.ok("%s: master, replica and 3 sentinels start" % kind, group.start(),
                    "\n".join(procs.log_tail(p, 10) for _, p in group.logs())):
            return
        master, replica = group.master, group.replica
        sentinels = ", ".join('["%s", %d]' % (HOST, s.port) for s in group.sentinels)
        cfg = Config(args.daemon, workdir, w, kind, f"""\
    sentinels: [{sentinels}]
    sentinel_master_name: {MASTER_NAME}
    socket_timeout: 2
    socket_connect_timeout: 2
""")
        py = PythonDaemon(workdir, cfg, w)
        try:
            python_learns(c, kind, py, w, lambda: zset_domains(resolver_keys(master.port)))
        finally:
            py.stop()
        before = resolver_keys(master.port)
        c.ok("%s: mta-stsd starts on the same configuration file" % kind, cfg.start(),
             procs.log_tail(cfg.log))
        check_answers(c, kind, cfg)
        check_log(c, kind, cfg, "keys")
        c.ok("%s: the policies taken over are written under mta-stsd's own keys on the master"
             % kind,
             procs.wait_until(lambda: all(has_own_key(master.port, n) for n in ENFORCE), 10),
             repr(redis_try(master.port, "KEYS", "mta-stsd:*")))

        # The failover, while mta-stsd runs.
        c.ok("%s: the sentinels know the replica and each other" % kind,
             procs.wait_until(group.settled, 20),
             repr([s.known() for s in group.sentinels]))
        c.ok("%s: the replica has the Python daemon's keys" % kind,
             procs.wait_until(lambda: resolver_keys(replica.port) == before, 10))
        c.eq("%s: SENTINEL FAILOVER %s" % (kind, MASTER_NAME), b"OK",
             redis_try(group.sentinels[0].port, "SENTINEL", "FAILOVER", MASTER_NAME))
        c.ok("%s: every sentinel names the replica as the master" % kind,
             procs.wait_until(lambda: group.masters() == [replica.port] * 3
                              and replica.role() == "master", 20),
             "sentinels name %r; replica role %r, old master role %r"
             % (group.masters(), replica.role(), master.role()))
        check_answers(c, kind, cfg, "after the failover")
        w.start_dns()
        w.start_https()
        c.eq("%s: after the failover: mta-stsd learns %s" % (kind, FRESH), answer_fresh(),
             cfg.query(FRESH))
        c.ok("%s: ... and writes it to the new master" % kind,
             procs.wait_until(lambda: has_own_key(replica.port, FRESH), 20),
             "keys on the new master: %r\n%s" % (redis_try(replica.port, "KEYS", "mta-stsd:*"),
                                                  procs.log_tail(cfg.log, 15)))
        c.ok("%s: ... mta-stsd logs that it followed the failover to the new master" % kind,
             cfg.wait_log(r"connected again to redis://%s:%d" % (re.escape(HOST), replica.port),
                          5),
             "\n" + "\n".join(line for line in cfg.run_log().splitlines()
                               if "master" in line or "sentinel" in line))
        w.stop_dns()
        w.stop_https()
        c.eq("%s: mta-stsd SIGTERM exits 0" % kind, 0, cfg.stop())
        after = resolver_keys(replica.port)
        c.ok("%s: postfix-mta-sts-resolver's keys are unchanged on the new master" % kind,
             before is not None and before == after, "before %r\nafter %r" % (before, after))
    finally:
        if cfg is not None:
            cfg.stop()
        group.stop()


def answer_fresh():
    return S.ok_answer(["mx1." + FRESH, ".mx." + FRESH], FRESH)


def resolver_rows(pg):
    """postfix-mta-sts-resolver's rows, fetch time and indexes as stored (text), or None."""
    rows = pg.psql("SELECT id, domain, ts, pol_id, pol_body::text FROM sts_policy_cache "
                   "ORDER BY id")
    fetch = pg.psql("SELECT * FROM proactive_fetch_ts ORDER BY id")
    indexes = pg.psql("SELECT indexname, indexdef FROM pg_indexes WHERE tablename IN "
                      "('sts_policy_cache', 'proactive_fetch_ts') ORDER BY indexname")
    return None if rows is None else (rows, fetch, indexes)


def run_postgres(c, args, w, workdir):
    kind = "postgres"
    bindir = postgres_bin()
    if not c.ok("%s: PostgreSQL server binaries are installed" % kind, bindir is not None,
                "none under /usr/lib/postgresql/*/bin (scripts/install-deps.sh --test installs "
                "the postgresql package)"):
        return
    # run_postgres.Postgres keeps its data under /tmp (the postgres user may not reach
    # the workdir); its log goes to the workdir.
    pg_log = os.path.join(workdir, "postgres.log")
    harness.remove(pg_log)
    pg = Postgres(workdir, bindir)
    harness.show_log_on_failure("postgres", pg_log)
    cfg = None
    try:
        if not c.ok("%s: initdb" % kind, pg.initdb(), procs.log_tail(pg.log)):
            return
        if not c.ok("%s: PostgreSQL starts" % kind, pg.start(), procs.log_tail(pg.log)):
            return
        cfg = Config(args.daemon, workdir, w, kind, f"""\
    dsn: "{pg.dsn()}"
    timeout: 5
""")
        py = PythonDaemon(workdir, cfg, w)

        def domains():
            out = pg.psql("SELECT domain FROM sts_policy_cache ORDER BY domain")
            return sorted(out.split()) if out else out
        try:
            python_learns(c, kind, py, w, domains)
        finally:
            py.stop()
        before = resolver_rows(pg)
        c.ok("%s: mta-stsd starts on the same configuration file" % kind, cfg.start(),
             procs.log_tail(cfg.log))
        check_answers(c, kind, cfg)
        check_log(c, kind, cfg, "table sts_policy_cache")

        def own():
            out = pg.psql("SELECT domain FROM mta_stsd_policies")
            return out is not None and set(ENFORCE) <= set(out.split())
        c.ok("%s: the policies taken over are written to mta_stsd_policies" % kind,
             procs.wait_until(own, 10), repr(pg.psql("SELECT domain FROM mta_stsd_policies")))
        c.eq("%s: mta-stsd SIGTERM exits 0" % kind, 0, cfg.stop())
        c.ok("%s: postfix-mta-sts-resolver's rows, fetch time and indexes are unchanged" % kind,
             before is not None and before == resolver_rows(pg),
             "before %r\nafter %r" % (before, resolver_rows(pg)))
    finally:
        if cfg is not None:
            cfg.stop()
        pg.remove()


RUNNERS = {"redis": run_redis, "redis_sentinel": run_sentinel, "postgres": run_postgres}


def body(run):
    c, args = run.checks, run.args
    if not os.access(PYTHON_DAEMON, os.X_OK):
        raise RuntimeError("%s missing: install %s (scripts/install-deps.sh --test)"
                           % (PYTHON_DAEMON, RESOLVER_PACKAGE))
    version = resolver_version()
    if version is None:
        raise RuntimeError("dpkg-query knows no %s" % RESOLVER_PACKAGE)
    major = debian_major()
    todo = []
    for kind in TYPES:
        why = skip_reason(kind, version)
        if why is None:
            todo.append(kind)
        elif major is not None and major >= 13:
            c.ok("%s is not skipped on Debian %d" % (kind, major), False, why)
        else:
            c.skip(kind, why)
    if not todo:
        return
    for port, addr in ((443, HTTPS_ADDR), (53, DNS_ADDR)):
        if not procs.tcp_port_free(addr, port):
            raise RuntimeError("%s:%d is in use (run in a network namespace of its own)"
                               % (addr, port))
    w = build_world(args.workdir, DNS_ADDR, HTTPS_ADDR)
    w.add_domain(FRESH, txt=[S.ID], policy=S.policy(mx=["mx1." + FRESH, "*.mx." + FRESH]))
    run.on_exit(w.stop, w.logs)
    w.start()
    w.stop_dns()
    w.stop_https()
    for kind in todo:
        workdir = os.path.join(args.workdir, kind)
        shutil.rmtree(workdir, ignore_errors=True)
        os.makedirs(workdir)
        started = time.monotonic()
        RUNNERS[kind](c, args, w, workdir)
        print("# %s: %.1f s" % (kind, time.monotonic() - started), flush=True)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "takeover_shared", OVERALL_LIMIT, body))

#!/usr/bin/python3
"""End-to-end tests of the PostgreSQL fleet cache: two mta-stsd daemons sharing one real
PostgreSQL server (cache.type postgres, postfix-mta-sts-resolver's dsn).

    /usr/bin/python3 tests/e2e/run_postgres.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/postgres-e2e

What daemon A learned, daemon B answers from the shared database while the policy host is
unreachable; with PostgreSQL stopped both keep answering (from memory and their local SQLite
tier), and a policy learned meanwhile reaches the database once it is back.

The server is private: initdb into a directory of its own under /tmp and `postgres` on a
free loopback port, both run as the `postgres` system user (postgres refuses root) through
setpriv, so stopping it stops its process. Debian installs it under /usr/lib/postgresql/<major>/bin (15 on Debian 12,
17 on Debian 13): the highest present is used.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.50:443), nsd, nginx, openssl, postgresql, psql.
"""
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
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
DOMAINS = ["pgfleet%02d.test" % i for i in range(8)]
MAX_AGE = 86400


def answer(domain):
    return S.ok_answer(["mx1." + domain, ".mx." + domain], domain)


def build_world(workdir, https_addr):
    w = World(workdir, https_addr=https_addr)
    for name in DOMAINS:
        w.add_domain(name, txt=[S.ID],
                     policy=S.policy(mx=["mx1." + name, "*.mx." + name], max_age=str(MAX_AGE)))
    return w


def postgres_bin():
    """The newest /usr/lib/postgresql/<major>/bin with the server, or None."""
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin")
             if os.path.exists(os.path.join(d, "postgres"))]
    found.sort(key=lambda d: int(d.split("/")[-2]) if d.split("/")[-2].isdigit() else -1)
    return found[-1] if found else None


class Postgres:
    def __init__(self, workdir, bindir):
        self.bindir = bindir
        self.port = procs.free_port(HOST)
        # Under /tmp, not the work directory: the postgres user must reach its data
        # and socket, and the work directory may sit below a directory only root
        # enters (a checkout in /root, mode 700 on a fresh Debian).
        self.dir = tempfile.mkdtemp(prefix="mtasts-pg-e2e-")
        self.data = os.path.join(self.dir, "data")
        self.log = os.path.join(workdir, "postgres.log")
        self.proc = None
        # postgres refuses to run as root: its directory belongs to the postgres user.
        user = pwd.getpwnam("postgres") if os.geteuid() == 0 else None
        if user is not None:
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.as_user = (["setpriv", "--reuid=postgres", "--regid=postgres", "--clear-groups",
                         "--"] if user is not None else [])

    def initdb(self):
        r = subprocess.run(self.as_user + [os.path.join(self.bindir, "initdb"), "-D", self.data,
                                           "-U", "mtasts", "-A", "trust", "-E", "UTF8",
                                           "--no-locale", "--no-sync"],
                           capture_output=True, text=True, timeout=120)
        with open(self.log, "a") as f:
            f.write(r.stdout + r.stderr)
        return r.returncode == 0

    def start(self):
        # setpriv execs postgres in place: this process is the postmaster.
        self.proc = procs.ManagedProcess(
            "postgres", self.as_user + [os.path.join(self.bindir, "postgres"), "-D", self.data,
                                        "-k", self.dir, "-p", str(self.port),
                                        "-c", "listen_addresses=" + HOST, "-c", "fsync=off"],
            self.log)
        return procs.wait_until(lambda: self.psql("SELECT 1") == "1", 30, self.proc)

    def stop(self):
        """Immediate shutdown (SIGQUIT): the daemons' connections do not hold it up."""
        if self.proc is not None:
            self.proc.signal(signal.SIGQUIT)
            self.proc.wait(15)
            self.proc.stop()
            self.proc = None

    def remove(self):
        """At the very end (after stop): the data directory goes."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def logs(self):
        return [("postgres", self.log)]

    def dsn(self):
        # postfix-mta-sts-resolver's documented form: the socket directory as the host.
        return "postgres://mtasts@%s:%d/postgres" % (self.dir.replace("/", "%2F"), self.port)

    def psql(self, sql):
        try:
            r = subprocess.run(["psql", "-h", HOST, "-p", str(self.port), "-U", "mtasts", "-d",
                                "postgres", "-Atc", sql], capture_output=True, text=True,
                               timeout=10)
        except subprocess.TimeoutExpired:
            return None
        return r.stdout.strip() if r.returncode == 0 else None


def fleet_daemon(args, name, world, pg):
    return FleetDaemon(args.daemon, args.workdir, name, world, "postgres",
                       ['dsn: "%s"' % pg.dsn(), "timeout: 1"], ZONE_TIMEOUT)


def stored(pg, domain):
    return pg.psql("SELECT count(*) FROM mta_stsd_policies WHERE domain = '%s'" % domain) == "1"


def check_fleet(c, w, pg, a, b):
    # 1. What A learns reaches the database; B answers it with the policy host unreachable.
    for name in DOMAINS[:3]:
        c.eq("A learns %s" % name, answer(name), a.query(name))
        c.eq("... one fetch", 1, hits_after(w, name, 1))
    c.ok("A's writes reach PostgreSQL", procs.wait_until(lambda: all(stored(pg, n) for n in DOMAINS[:3]),
                                                 10),
         pg.psql("SELECT domain FROM mta_stsd_policies"))
    w.stop_https()
    for name in DOMAINS[:3]:
        c.eq("HTTPS down: B answers %s from the shared database" % name, answer(name),
             b.query(name))
    w.start_https()
    c.eq("A's /metrics: no store errors while PostgreSQL runs",
         {("postgres", "read"): 0, ("postgres", "write"): 0, ("sqlite", "read"): 0,
          ("sqlite", "write"): 0}, a.store_errors())

    # 2. PostgreSQL stopped: both keep answering; a policy learned meanwhile is queued.
    pg.stop()
    for name in DOMAINS[:3]:
        c.eq("PostgreSQL down: A answers %s (memory)" % name, answer(name), a.query(name))
        c.eq("PostgreSQL down: B answers %s (memory)" % name, answer(name), b.query(name))
    late = DOMAINS[3]
    started = time.monotonic()
    c.eq("PostgreSQL down: A learns %s itself" % late, answer(late), a.query(late))
    c.ok("... within the zone timeout", time.monotonic() - started < ZONE_TIMEOUT + 1)
    c.ok("A logs the outage", procs.wait_until(lambda: "answering from memory" in a.log_text(), 10))
    errors = a.store_errors() or {}
    # A's discovery asked PostgreSQL first (a memory miss): it could not answer.
    c.ok("A's /metrics: PostgreSQL reads failed while it was down, SQLite's did not",
         errors.get(("postgres", "read"), 0) >= 1 and errors.get(("sqlite", "read")) == 0,
         repr(errors))

    # 3. Back on the same port: the queued write arrives, sharing resumes.
    c.ok("PostgreSQL restarts", pg.start(), procs.log_tail(pg.log))
    c.ok("A reconnects", procs.wait_until(lambda: "connected again" in a.log_text(), 40))
    c.ok("the policy A learned during the outage reaches PostgreSQL",
         procs.wait_until(lambda: stored(pg, late), 15))
    w.stop_https()
    c.eq("B answers %s (learned by A during the outage) with HTTPS down" % late, answer(late),
         b.query(late))
    w.start_https()
    c.eq("A logged the outage once", 1, a.log_text().count("answering from memory"))

    # 4. A restart of B while PostgreSQL, DNS and HTTPS are down: its local SQLite tier.
    pg.stop()
    c.eq("B stops cleanly", 0, b.stop())
    w.stop_https()
    w.stop_dns()
    c.ok("B restarts with PostgreSQL, DNS and HTTPS down", b.start(), procs.log_tail(b.log))
    for name in DOMAINS[:4]:
        c.eq("B after restart: %s from its local copy" % name, answer(name), b.query(name))


def body(run):
    c, args = run.checks, run.args
    bindir = postgres_bin()
    if bindir is None:
        print("SKIPPED: no PostgreSQL server under /usr/lib/postgresql/*/bin "
              "(scripts/install-deps.sh --test installs the postgresql package)")
        c.ok("PostgreSQL server binaries are installed", False)
        return
    for stale in os.listdir(args.workdir):
        if stale.endswith((".db", ".db-wal", ".db-shm")):
            os.unlink(os.path.join(args.workdir, stale))
    w = build_world(args.workdir, procs.free_address(HTTPS_ADDRESSES, 443))
    run.on_exit(w.stop, w.logs)
    pg = Postgres(args.workdir, bindir)
    run.on_exit(pg.remove, pg.logs)
    c.ok("initdb", pg.initdb(), procs.log_tail(pg.log))
    w.start()
    c.ok("PostgreSQL starts", pg.start(), procs.log_tail(pg.log))
    a = fleet_daemon(args, "a", w, pg)
    b = fleet_daemon(args, "b", w, pg)
    c.ok("daemon A starts", a.start(), procs.log_tail(a.log))
    c.ok("daemon B starts", b.start(), procs.log_tail(b.log))
    check_fleet(c, w, pg, a, b)
    c.eq("A: SIGTERM exits 0", 0, a.stop())


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "postgres", OVERALL_LIMIT, body))

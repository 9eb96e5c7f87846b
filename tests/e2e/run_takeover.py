#!/usr/bin/python3
"""End-to-end test of the switch from postfix-mta-sts-resolver: no learned policy is lost.

    /usr/bin/python3 tests/e2e/run_takeover.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/takeover

Issue 13: the real mta-sts-daemon of Debian's postfix-mta-sts-resolver package (1.1.2 on
Debian 12, 1.5.0 on Debian 13) learns policies through real queries into its SQLite cache;
it is stopped, and mta-stsd starts with the very same configuration file while nsd and
nginx are stopped (what an attacker who blocks discovery arranges). Every enforce domain
the Python daemon learned must be answered "OK secure match=..." with the policy's
patterns, the testing one in a strict zone too; its table must keep its rows unchanged,
and the Python daemon must still answer from the file afterwards (a switch back). On a
copy of the database: an entry past ts + max_age is not revived, and entries with broken
JSON, a nonsense max_age or a future ts are each logged and skipped. On a copy mta-stsd
cannot write (a read-only bind mount in its own mount namespace): the entries are read in
place and answer all the same, and nothing is added to the file.

The Python daemon asks the system resolver (pycares, getaddrinfo): it runs in a private
mount namespace (unshare -m) whose /etc/resolv.conf names the test nsd, which listens on
port 53 of an address of its own; it trusts the test CA through SSL_CERT_FILE. All traffic
stays on loopback.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.90:443, nsd 127.0.0.91:53, unshare and mount), nsd, nginx,
openssl, postfix (postmap), postfix-mta-sts-resolver.
"""
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from harness import NOTFOUND  # noqa: E402
from postfix import Postmap  # noqa: E402
from resolver_takeover import (ENFORCE, LEARNED, MAX_AGE, NONE, PYTHON_DAEMON,  # noqa: E402
                               TESTING, PythonDaemon, answer, build_world, learn)

OVERALL_LIMIT = 300
ZONE_TIMEOUT = 4.0
HTTPS_ADDR = "127.0.0.90"   # nginx: the policy hosts
DNS_ADDR = "127.0.0.91"     # nsd on port 53: the Python daemon's resolv.conf can give no port
DAEMON_ADDR = "127.0.0.92"  # the Python daemon, then mta-stsd (one configuration)
EXPIRED = "one.test"       # made expired in the copy


class Config(harness.Daemon):
    """The one YAML file both daemons read: postfix-mta-sts-resolver's keys with its SQLite
    cache, and mta-stsd's resolver/tls/log_level/dane, which the Python daemon ignores. DANE
    is off: with DNS down its lookups fail, and the answers checked are the MTA-STS ones."""

    def __init__(self, binary, workdir, name, world, db):
        super().__init__(binary, workdir, name, DAEMON_ADDR, query_timeout=ZONE_TIMEOUT + 6)
        self.db = db
        self.write_config(f"""\
reuse_port: true
cache_grace: 60
cache:
  type: sqlite
  options:
    filename: {db}
default_zone:
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


def table_rows(db):
    """postfix-mta-sts-resolver's tables and indexes, every column as stored."""
    with sqlite3.connect("file:%s?mode=ro" % db, uri=True) as conn:
        rows = conn.execute("SELECT rowid, domain, ts, typeof(ts), pol_id, pol_body "
                            "FROM sts_policy_cache ORDER BY rowid").fetchall()
        fetch_ts = conn.execute("SELECT * FROM proactive_fetch_ts ORDER BY id").fetchall()
        schema = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE tbl_name IN "
                              "('sts_policy_cache', 'proactive_fetch_ts') ORDER BY name").fetchall()
    return rows, fetch_ts, schema


def check_takeover(c, args, w, cfg, pm):
    """mta-stsd on the same file with DNS and HTTPS down answers every learned policy."""
    before = table_rows(cfg.db)
    c.eq("postfix-mta-sts-resolver's table holds every learned policy", sorted(LEARNED),
         sorted(r[1] for r in before[0]))
    c.ok("mta-stsd starts on the same configuration file", cfg.start(), procs.log_tail(cfg.log))
    for name in sorted(ENFORCE):
        c.eq("taken over: %s answered from the first query (raw socketmap)" % name,
             answer(name), cfg.query(name))
        res = pm.query(name)
        c.eq("taken over: postmap -q %s" % name, ("found", answer(name)[len("OK "):]),
             (res.kind, res.value))
    c.eq("taken over: %s (testing) in the strict zone" % TESTING,
         S.ok_answer(["mx.testing.test"], TESTING), cfg.query(TESTING, "strict"))
    c.eq("taken over: %s (testing) in the default zone" % TESTING, NOTFOUND, cfg.query(TESTING))
    c.eq("taken over: %s (mode none)" % NONE, NOTFOUND, cfg.query(NONE))
    log = cfg.run_log()
    c.ok("one log line: took over %d policies, none skipped" % len(LEARNED),
         ("took over %d policies from postfix-mta-sts-resolver's table sts_policy_cache"
          % len(LEARNED)) in log and "skipped 0:" in log, log[-2000:])
    c.ok("the file was not moved aside", "moved it aside" not in log
         and not [f for f in os.listdir(args.workdir) if ".unreadable-" in f])
    c.eq("mta-stsd SIGTERM exits 0", 0, cfg.stop())
    c.eq("postfix-mta-sts-resolver's rows, indexes and fetch time are unchanged", before,
         table_rows(cfg.db))
    return before


def check_takeover_details(c, args, cfg):
    """The fetch time, id and expiry taken over, as mta-stsctl shows them (control socket)."""
    rows = {r[1]: r for r in table_rows(cfg.db)[0]}
    with sqlite3.connect("file:%s?mode=ro" % cfg.db, uri=True) as conn:
        ours = {r[0]: r for r in conn.execute(
            "SELECT domain, txt_id, fetched_at, expires_at, checked_at, body FROM policies")}
    for name in LEARNED:
        ts, pol_id = rows[name][2], rows[name][4]
        max_age = 604800 if name == "blank.test" else (31557600 if name == "year.test"
                                                       else MAX_AGE)
        c.eq("%s: fetch time, id and expiry as learned" % name,
             (pol_id, ts, ts + max_age, ts), ours.get(name, (None,) * 6)[1:5])
    c.eq("blank.test's text rebuilt in policy order, other keys after",
         "version: STSv1\nmode: enforce\nmx: mail.blank.test\nmax_age: 604800\n"
         "x-note: some value: with colon\n", ours["blank.test"][5])


def check_switch_back(c, py):
    """The Python daemon still reads its file after mta-stsd wrote its own tables into it."""
    c.ok("mta-sts-daemon starts again on the same file (switch back)", py.start(),
         procs.log_tail(py.out))
    for name in ("one.test", "two.test"):
        got = py.query(name)
        c.ok("switch back: mta-sts-daemon answers %s from its cache, DNS and HTTPS down" % name,
             got.startswith("OK secure match="), got)
    py.stop()


def bad_copy(args, cfg):
    """A copy of the database with one entry expired and three broken ones; its config."""
    copy = os.path.join(args.workdir, "copy.db")
    for suffix in ("", "-wal", "-shm"):
        harness.remove(copy + suffix)
    with sqlite3.connect(cfg.db) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    now = int(time.time())
    body = '{"mx": ["mail.%s"], "version": "STSv1", "mode": "enforce", "max_age": %s}'
    with sqlite3.connect(copy) as conn:
        # Only the copy's resolver table: mta-stsd's own tables go, so this is a first takeover.
        for table in ("mta_stsd_meta", "policies", "dane", "taken_over"):
            conn.execute("DROP TABLE IF EXISTS %s" % table)
        conn.execute("UPDATE sts_policy_cache SET ts = ? WHERE domain = ?",
                     (now - MAX_AGE - 10, EXPIRED))
        rows = [("broken.test", now - 10, "id1", '{"mx": ["mail.broken.test"], "version": '),
                ("age.test", now - 10, "id1", body % ("age.test", '"forever"')),
                ("future.test", now + 7 * 86400, "id1", body % ("future.test", "86400"))]
        conn.executemany("INSERT INTO sts_policy_cache (domain, ts, pol_id, pol_body) "
                         "VALUES (?, ?, ?, ?)", rows)
    return copy


def check_bad_copy(c, args, w, cfg):
    copy = bad_copy(args, cfg)
    d = Config(args.daemon, args.workdir, "copy", w, copy)
    c.ok("mta-stsd starts on the copy", d.start(), procs.log_tail(d.log))
    c.eq("an expired entry (ts + max_age past) is not revived: %s" % EXPIRED, NOTFOUND,
         d.query(EXPIRED))
    for name in sorted(ENFORCE):
        if name != EXPIRED:
            c.eq("copy: %s still taken over" % name, answer(name), d.query(name))
    for name in ("broken.test", "age.test", "future.test"):
        c.eq("copy: broken entry %s is not answered" % name, NOTFOUND, d.query(name))
    log = d.run_log()
    n = len(LEARNED) - 1
    c.ok("copy: the count line says %d taken over, 1 expired, 3 unusable" % n,
         re.search(r"took over %d policies .*skipped 4: 1 expired \(not revived\), 3 unusable"
                   % n, log), log[-3000:])
    for name, why in (("broken.test", "pol_body is not JSON"),
                      ("age.test", 'max_age "forever" is not a whole number'),
                      ("future.test", "in the future")):
        c.ok("copy: %s logged with the reason (%s)" % (name, why),
             re.search(r"entry for '%s' not taken over: [^\n]*%s" % (re.escape(name),
                                                                    re.escape(why)), log),
             log[-3000:])
    c.eq("mta-stsd on the copy exits 0", 0, d.stop())


class ReadOnlyDaemon(Config):
    """mta-stsd in a private mount namespace where the database's directory is a read-only
    bind mount: the file of a Python daemon's user that mta-stsd cannot write."""

    def argv(self):
        d = os.path.dirname(self.db)
        script = ('mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"')
        return ["unshare", "--mount", "--propagation", "private", "/bin/sh", "-c", script, d,
                self.binary, "-c", self.config]


def check_read_only(c, args, w, cfg):
    """Not writable: the entries are read in place and answer all the same."""
    d = os.path.join(args.workdir, "ro")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    db = os.path.join(d, "cache.db")
    src, conn = sqlite3.connect(cfg.db), sqlite3.connect(db)
    src.backup(conn)
    src.close()
    for table in ("mta_stsd_meta", "policies", "dane", "taken_over"):
        conn.execute("DROP TABLE IF EXISTS %s" % table)
    # As a stopped Python daemon leaves it: no write-ahead log (read in place, the file
    # is opened immutable, which does not read one).
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
    before = table_rows(db)
    r = ReadOnlyDaemon(args.daemon, args.workdir, "readonly", w, db)
    c.ok("mta-stsd starts on a read-only copy", r.start(), procs.log_tail(r.log))
    for name in sorted(ENFORCE):
        c.eq("read-only file: %s answered from the entries read in place" % name, answer(name),
             r.query(name))
    log = r.run_log()
    c.ok("read-only file: one line says %d policies were read in place" % len(LEARNED),
         "read %d policies of postfix-mta-sts-resolver in place" % len(LEARNED) in log,
         log[-2000:])
    c.eq("mta-stsd on the read-only copy exits 0", 0, r.stop())
    c.eq("read-only file: nothing was added to it", (before, ["proactive_fetch_ts",
                                                             "sts_policy_cache"]),
         (table_rows(db), sorted(t for (t,) in sqlite3.connect(db).execute(
             "SELECT name FROM sqlite_master WHERE type = 'table'"))))


def body(run):
    c, args = run.checks, run.args
    for port, addr in ((443, HTTPS_ADDR), (53, DNS_ADDR)):
        if not procs.tcp_port_free(addr, port):
            raise RuntimeError("%s:%d is in use (run in a network namespace of its own)"
                               % (addr, port))
    if not os.access(PYTHON_DAEMON, os.X_OK):
        raise RuntimeError("%s missing: install postfix-mta-sts-resolver "
                           "(scripts/install-deps.sh --test)" % PYTHON_DAEMON)
    db = os.path.join(args.workdir, "cache.db")
    for stale in os.listdir(args.workdir):
        if stale.startswith(("cache.db", "copy.db")):
            os.unlink(os.path.join(args.workdir, stale))
    w = build_world(args.workdir, DNS_ADDR, HTTPS_ADDR)
    run.on_exit(w.stop, w.logs)
    w.start()
    cfg = Config(args.daemon, args.workdir, "takeover", w, db)
    py = PythonDaemon(args.workdir, cfg, w)
    run.on_exit(py.stop)
    pm = Postmap(os.path.join(args.workdir, "postfix"), cfg.host, cfg.port)

    learn(c, py)
    w.stop_dns()
    w.stop_https()
    check_takeover(c, args, w, cfg, pm)
    check_takeover_details(c, args, cfg)
    check_switch_back(c, py)
    check_bad_copy(c, args, w, cfg)
    check_read_only(c, args, w, cfg)
    shutil.rmtree(os.path.join(args.workdir, "postfix"), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "takeover", OVERALL_LIMIT, body))

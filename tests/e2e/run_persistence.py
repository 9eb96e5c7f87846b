#!/usr/bin/python3
"""End-to-end tests of the SQLite policy cache and of proactive refresh.

    /usr/bin/python3 tests/e2e/run_persistence.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/persist

What an MTA-STS cache is for (RFC 8461 5.1, 10.2): a policy once learned keeps protecting
mail when DNS or the policy host is later unreachable or forged. So every restart check
below restarts the daemon with nsd and nginx stopped: only the cache file can answer.
Checks: restart after SIGTERM, after kill -9, after kill -9 in the middle of a burst of
learning; damaged files (garbage, truncated, another program's database) moved aside; the
default configuration's cache path; proactive refresh and stale-while-revalidate.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.30:443), nsd, nginx, postfix (postmap), openssl, dig.
"""
import glob
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from harness import HOST, NOTFOUND  # noqa: E402
from postfix import Postmap, ProtocolError, query_once  # noqa: E402
from scenarios import enforce_answer  # noqa: E402
from world import World, hits_after  # noqa: E402

OVERALL_LIMIT = 600      # seconds; CTest gives the whole test 900
ZONE_TIMEOUT = 4.0
# Not run_e2e.py's 127.0.0.10 (nor the benchmark's), so the worlds never collide.
HTTPS_ADDRESSES = ["127.0.0.30"] + ["127.0.%d.30" % i for i in range(1, 10)]
DEFAULT_PORT = 8461      # the embedded configuration's port
STATE_DIR = "/var/lib/mta-stsd"  # MTASTSD_DEFAULT_STATE_DIR in CMakeLists.txt
FIRST_SWEEP_MAX = 40.0   # min(interval, 10) + up to 30 s jitter, plus margin

ENFORCE = ["keep%02d.test" % i for i in range(1, 21)]
TESTING, NONE, NOPOLICY, GONE = ("keep-testing.test", "keep-none.test", "keep-nopolicy.test",
                                 "keep-404.test")
BURST = ["burst%03d.test" % i for i in range(200)]
REFRESH, GRACE = "refresh.test", "grace.test"
NEW_ID = "v=STSv1; id=20250101T000000"


def build_world(workdir, https_addr):
    w = World(workdir, https_addr=https_addr)
    for name in ENFORCE + BURST + [REFRESH, GRACE]:
        w.add_domain(name, txt=[S.ID], policy=S.policy(mx=["mail." + name]))
    w.add_domain(TESTING, txt=[S.ID], policy=S.policy(mode="testing", mx=["mail." + TESTING]))
    w.add_domain(NONE, txt=[S.ID], policy=S.policy(mode="none"))
    w.add_domain(NOPOLICY)  # no TXT record
    w.add_domain(GONE, txt=[S.ID])  # TXT record, policy host answers 404
    return w


class Daemon(harness.Daemon):
    """One mta-stsd configuration; db: its SQLite cache file (None: memory only)."""

    def __init__(self, binary, workdir, name, world, *, db=None, cache_grace=60,
                 proactive="{enabled: false}"):
        super().__init__(binary, workdir, name, query_timeout=ZONE_TIMEOUT + 6)
        self.db = db
        if db:
            harness.remove(db, *glob.glob(db + "*"))
        cache = ("{type: sqlite, options: {filename: %s}}" % db if db
                 else "{type: internal}")
        self.write_config(f"""\
cache: {cache}
cache_grace: {cache_grace}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {proactive}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)

    def loaded(self):
        """N of the last run's "loaded N cached policies" line, or None."""
        m = re.search(r"loaded (\d+) cached policies", self.run_log())
        return int(m.group(1)) if m else None


# ----- helpers -------------------------------------------------------------------------
def world_down(c, w, label):
    """Stops nsd and nginx and checks that neither answers any more."""
    w.stop_https()
    w.stop_dns()
    try:
        dig = w.dig("_mta-sts." + ENFORCE[0])
    except subprocess.TimeoutExpired:
        dig = []
    answers = [line for line in dig if line.startswith('"')]  # dig +short prints errors too
    refused = procs.tcp_port_free(w.https_addr, 443)
    c.ok("%s: world down (no DNS answer, nothing on %s:443)" % (label, w.https_addr),
         not answers and refused, "dig %r, port free %r" % (answers, refused))


def world_up(w):
    w.start_dns()
    w.start_https()


def check_answers(c, d, label, expected):
    """expected: {key: answer}; one check per key."""
    for key, want in expected.items():
        c.eq("%s: %s" % (label, key), want, d.query(key))


def check_cached_notfound(c, d, label, domains):
    """Testing and none policies answer NOTFOUND, like no policy at all: the debug log tells
    whether the answer came from a cached policy (a failed discovery logs otherwise)."""
    for domain in domains:
        got = d.query(domain)
        cached = re.search(r"%s: NOTFOUND\s+\(cached policy\)" % re.escape(domain), d.run_log())
        c.ok("%s: %s NOTFOUND from its cached policy" % (label, domain),
             got == NOTFOUND and cached is not None,
             "got %r, '(cached policy)' logged: %r" % (got, cached is not None))


def unreadable_files(db):
    return sorted(glob.glob(glob.escape(db) + ".unreadable-*"))


def first_run_answers():
    expected = {name: enforce_answer(name) for name in ENFORCE}
    expected.update({TESTING: NOTFOUND, NONE: NOTFOUND, NOPOLICY: NOTFOUND, GONE: NOTFOUND})
    return expected


def check_restored(c, d, label):
    """After a restart with the world down: what first_run_answers() learned, from the file."""
    # 20 enforce + testing + none; the no-policy results are not kept (they are cheap).
    c.eq("%s: policies loaded at start-up" % label, len(ENFORCE) + 2, d.loaded())
    check_answers(c, d, label + " after restart",
                  {name: enforce_answer(name) for name in ENFORCE})
    check_cached_notfound(c, d, label + " after restart", [TESTING, NONE])


# ----- 1. restart after SIGTERM ---------------------------------------------------------
def test_restart(c, w, binary, workdir):
    label = "1 restart"
    d = Daemon(binary, workdir, "restart", w, db=os.path.join(workdir, "restart.db"))
    if not c.ok("%s: daemon starts with an empty cache file" % label, d.start()):
        return
    check_answers(c, d, label + " learn", first_run_answers())
    c.eq("%s: SIGTERM exit code" % label, 0, d.stop())
    world_down(c, w, label)
    try:
        if not c.ok("%s: daemon restarts on the same file" % label, d.start()):
            return
        check_restored(c, d, label)
        pm = Postmap(os.path.join(workdir, "postfix"), HOST, d.port).query(ENFORCE[0])
        want = enforce_answer(ENFORCE[0])[len("OK "):]
        c.ok("%s: postmap -q %s" % (label, ENFORCE[0]), pm.kind == "found" and pm.value == want,
             "expected %r got %r" % (want, pm))
        c.eq("%s: second SIGTERM exit code" % label, 0, d.stop())
        c.eq("%s: no .unreadable- file" % label, [], unreadable_files(d.db))
    finally:
        d.stop()
        world_up(w)


# ----- 2. restart after kill -9 ---------------------------------------------------------
def test_kill(c, w, binary, workdir):
    label = "2 kill -9"
    d = Daemon(binary, workdir, "kill", w, db=os.path.join(workdir, "kill.db"))
    if not c.ok("%s: daemon starts" % label, d.start()):
        return
    check_answers(c, d, label + " learn", first_run_answers())
    time.sleep(1.5)  # the issue: "loses no policy that was answered more than a second before"
    d.kill()
    world_down(c, w, label)
    try:
        if not c.ok("%s: daemon restarts on the same file" % label, d.start()):
            return
        check_restored(c, d, label)
        c.eq("%s: no .unreadable- file" % label, [], unreadable_files(d.db))
    finally:
        d.stop()
        world_up(w)


# ----- 3. kill -9 in the middle of a burst of learning ----------------------------------
def burst(d, domains, gap, kill_at):
    """Queries domains[i] at start + i*gap from 20 threads; SIGKILLs the daemon at start +
    kill_at. Returns ({domain: (answer, monotonic time of the answer)}, kill time)."""
    results = {}
    killed = threading.Event()
    start = time.monotonic() + 0.2
    threads = 20

    def worker(k):
        for i in range(k, len(domains), threads):
            wait = start + i * gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            if killed.is_set():
                return
            answer = d.query(domains[i])
            results[domains[i]] = (answer, time.monotonic())

    pool = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(threads)]
    for t in pool:
        t.start()
    time.sleep(max(0.0, start + kill_at - time.monotonic()))
    kill_time = time.monotonic()
    d.kill()
    killed.set()
    for t in pool:
        t.join(timeout=ZONE_TIMEOUT + 10)
    return results, kill_time


def test_kill_burst(c, w, binary, workdir):
    label = "3 kill -9 mid-burst"
    d = Daemon(binary, workdir, "burst", w, db=os.path.join(workdir, "burst.db"))
    if not c.ok("%s: daemon starts" % label, d.start()):
        return d
    # 200 domains over 4 s; the kill comes at 2.5 s, with lookups and writes under way.
    results, kill_time = burst(d, BURST, 0.02, 2.5)
    wrong = {k: v[0] for k, v in results.items()
             if v[1] < kill_time and v[0] != enforce_answer(k)}
    c.ok("%s: answers before the kill are right" % label, not wrong,
         "%d wrong, e.g. %r" % (len(wrong), list(wrong.items())[:2]))
    safe = sorted(k for k, (answer, at) in results.items()
                  if answer == enforce_answer(k) and at < kill_time - 1.0)
    late = sum(1 for _, at in results.values() if kill_time - 1.0 <= at < kill_time)
    c.ok("%s: the kill came mid-burst (%d answered >1 s before it, %d in its last second, "
         "%d of %d not answered)" % (label, len(safe), late, len(BURST) - len(safe) - late,
                                     len(BURST)),
         len(safe) >= 20 and len(safe) + late < len(BURST))
    world_down(c, w, label)
    try:
        if not c.ok("%s: daemon restarts on the same file" % label, d.start()):
            return d
        c.eq("%s: no .unreadable- file" % label, [], unreadable_files(d.db))
        errors = [line for line in d.run_log().splitlines()
                  if "cache database" in line and d.db in line]
        c.eq("%s: no cache database error logged" % label, [], errors[:3])
        loaded = d.loaded()
        c.ok("%s: policies loaded (%r) >= answered >1 s before the kill (%d)"
             % (label, loaded, len(safe)), loaded is not None and loaded >= len(safe))
        missing = {k: got for k in safe if (got := d.query(k)) != enforce_answer(k)}
        c.ok("%s: all %d domains answered >1 s before the kill still enforce"
             % (label, len(safe)), not missing,
             "%d lost, e.g. %r" % (len(missing), list(missing.items())[:3]))
        c.eq("%s: SIGTERM exit code" % label, 0, d.stop())
        try:
            # Read-write, so that closing removes the -wal file as the daemon's close did.
            db = sqlite3.connect(d.db, timeout=5)
            try:
                check = db.execute("PRAGMA integrity_check").fetchone()[0]
                rows = db.execute("SELECT count(*) FROM policies").fetchone()[0]
            finally:
                db.close()
        except sqlite3.Error as e:
            check, rows = repr(e), -1
        c.ok("%s: sqlite3 integrity_check ok, %d rows" % (label, rows),
             check == "ok" and rows >= len(safe), "integrity_check %r" % check)
    finally:
        d.stop()
        world_up(w)
    return d


# ----- 4. damaged database files --------------------------------------------------------
def garbage_bytes():
    return b"".join(b"this is not an SQLite database, line %06d\n" % i for i in range(2000))


def truncated_bytes(source):
    with open(source, "rb") as f:
        data = f.read()
    return data[:len(data) // 3]


def foreign_bytes(workdir):
    path = os.path.join(workdir, "foreign-source.db")
    for stale in glob.glob(path + "*"):
        os.unlink(stale)
    db = sqlite3.connect(path)
    with db:
        db.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, sender TEXT, subject TEXT)")
        db.executemany("INSERT INTO messages (sender, subject) VALUES (?, ?)",
                       [("alice@example.test", "hello %d" % i) for i in range(100)])
    db.close()
    with open(path, "rb") as f:
        return f.read()


def test_damaged(c, w, binary, workdir, kind, content):
    label = "4 %s database" % kind
    db = os.path.join(workdir, "damaged-%s.db" % kind)
    d = Daemon(binary, workdir, "damaged-" + kind, w, db=db)  # removes db* left over
    with open(db, "wb") as f:
        f.write(content)
    try:
        if not c.ok("%s: daemon starts" % label, d.start()):
            return
        moved = [line for line in d.run_log().splitlines() if db in line and "moved" in line]
        c.ok("%s: a log line names the file and 'moved'" % label, bool(moved),
             "log: %r" % d.run_log()[-600:])
        aside = unreadable_files(db)
        kept = None
        if len(aside) == 1:
            with open(aside[0], "rb") as f:
                kept = f.read() == content
        c.ok("%s: one .unreadable- file, with the original bytes" % label,
             len(aside) == 1 and kept, "files %r, same bytes %r" % (aside, kept))
        hits = w.nginx_hits(ENFORCE[0])
        c.eq("%s: fresh lookup answers" % label, enforce_answer(ENFORCE[0]), d.query(ENFORCE[0]))
        c.eq("%s: ... by fetching the policy" % label, hits + 1,
             hits_after(w, ENFORCE[0], hits + 1))
        c.eq("%s: SIGTERM exit code" % label, 0, d.stop())
        # The fresh file replaced the damaged one: a restart loads what was learned.
        if c.ok("%s: daemon restarts on the new file" % label, d.start()):
            c.eq("%s: the new file kept the policy" % label, 1, d.loaded())
            c.eq("%s: no second .unreadable- file" % label, aside, unreadable_files(db))
    finally:
        d.stop()


# ----- 5. the embedded default configuration --------------------------------------------
def test_default_config(c, binary, workdir):
    label = "5 default config"
    cwd = os.path.join(workdir, "default-cwd")
    if os.path.isdir(cwd):
        shutil.rmtree(cwd)
    os.makedirs(cwd)
    log = os.path.join(workdir, "default.log")
    harness.remove(log)
    if not procs.tcp_port_free(HOST, DEFAULT_PORT):
        c.ok("%s: %s:%d is free" % (label, HOST, DEFAULT_PORT), False,
             "something else listens there: default-configuration test skipped")
        return
    env = {k: v for k, v in os.environ.items() if k != "STATE_DIRECTORY"}
    proc = procs.ManagedProcess("mta-stsd", [binary], log, env=env, cwd=cwd)
    harness.show_log_on_failure("mta-stsd default config", log)
    try:
        if not c.ok("%s: listens on %s:%d without -c" % (label, HOST, DEFAULT_PORT),
                    procs.wait_tcp(HOST, DEFAULT_PORT, 10, proc), procs.log_tail(log)):
            return
        with open(log, "rb") as f:
            text = f.read().decode("utf-8", "replace")
        c.ok("%s: logs 'listening on %s:%d'" % (label, HOST, DEFAULT_PORT),
             "listening on %s:%d" % (HOST, DEFAULT_PORT) in text, text[-400:])
        cache_db = os.path.join(cwd, "var", "mta-stsd", "cache.db")
        if os.path.isdir(STATE_DIR) and os.access(STATE_DIR, os.W_OK):
            print("ok - %s: cache.db relative to the cwd # SKIP %s exists and is writable, "
                  "so the daemon uses it" % (label, STATE_DIR), flush=True)
        else:
            c.ok("%s: creates var/mta-stsd/cache.db relative to the cwd" % label,
                 os.path.isfile(cache_db), "not there: %r" % os.listdir(cwd))
        try:
            got = query_once(HOST, DEFAULT_PORT, "postfix", ".example.com", timeout=5)
        except (OSError, ProtocolError) as e:
            got = "error: %r" % e
        c.eq("%s: parent-domain key answered NOTFOUND" % label, NOTFOUND, got)
        proc.signal(signal.SIGTERM)
        c.eq("%s: SIGTERM exit code" % label, 0, proc.wait(10))
    finally:
        proc.stop()


# ----- 6. proactive refresh and stale-while-revalidate ----------------------------------
def test_refresh(c, w, binary, workdir):
    label = "6 refresh"
    # cache_grace 3600: a query never revalidates, so only a sweep can learn the change.
    sweeper = Daemon(binary, workdir, "proactive", w, cache_grace=3600,
                     proactive="{enabled: true, interval: 2, grace_ratio: 2}")
    grace = Daemon(binary, workdir, "grace", w, cache_grace=1)
    daemons = [sweeper, grace]
    try:
        started = time.monotonic()
        if not c.ok("%s: both daemons start" % label, sweeper.start() and grace.start()):
            return
        c.eq("%s: %s learned (id A)" % (label, REFRESH), enforce_answer(REFRESH),
             sweeper.query(REFRESH))
        c.eq("%s: %s learned (id A)" % (label, GRACE), enforce_answer(GRACE), grace.query(GRACE))
        learned = time.monotonic()
        # The publishing order of RFC 8461 3.1: the new policy first, then the new id (the
        # other way round, a sweep in between would cache the old policy under id B).
        for name in (REFRESH, GRACE):
            w.set_policy(name, S.policy(mx=["new-mx." + name]))
        refresh_hits = w.nginx_hits(REFRESH)  # from here on, only the sweeper fetches it
        for name in (REFRESH, GRACE):
            w.set_txt(name, [NEW_ID])
        c.eq("%s: world now publishes id B" % label, ['"%s"' % NEW_ID],
             w.dig("_mta-sts." + REFRESH))

        # cache_grace 1: a query over a second after the check answers the cached policy at
        # once and re-checks the TXT id in the background (stale-while-revalidate).
        time.sleep(max(0.0, learned + 2.1 - time.monotonic()))
        hits = w.nginx_hits(GRACE)
        t0 = time.monotonic()
        got = grace.query(GRACE)
        took = time.monotonic() - t0
        c.ok("%s: cache_grace query answers the old policy at once (%.2f s)" % (label, took),
             got == enforce_answer(GRACE) and took < 0.5, "got %r after %.2f s" % (got, took))
        want = enforce_answer(GRACE, "new-mx." + GRACE)
        t0 = time.monotonic()
        while (got := grace.query(GRACE)) != want and time.monotonic() < t0 + 3:
            time.sleep(0.1)
        c.eq("%s: a query a moment later answers the new policy (%.1f s)"
             % (label, time.monotonic() - t0), want, got)
        c.eq("%s: the revalidation fetched the policy once" % label, hits + 1,
             hits_after(w, GRACE, hits + 1))

        # Proactive: no queries; a sweep sees id B and fetches the new policy.
        deadline = max(started + FIRST_SWEEP_MAX, time.monotonic() + 8)
        while w.nginx_hits(REFRESH) == refresh_hits and time.monotonic() < deadline:
            time.sleep(0.2)
        fetched = w.nginx_hits(REFRESH) > refresh_hits
        c.ok("%s: a sweep fetched the changed policy without a query (%.0f s after start)"
             % (label, time.monotonic() - started), fetched,
             "no fetch within %.0f s of start" % (deadline - started))
        if fetched:
            # nginx may log the fetch before the daemon has stored the policy; with
            # cache_grace 3600 these queries cannot cause a refresh themselves.
            want = enforce_answer(REFRESH, "new-mx." + REFRESH)
            t0 = time.monotonic()
            while (got := sweeper.query(REFRESH)) != want and time.monotonic() < t0 + 3:
                time.sleep(0.1)
            c.eq("%s: the next query answers the new mx" % label, want, got)
            c.ok("%s: the sweep is logged" % label,
                 "proactive refresh:" in sweeper.run_log(), sweeper.run_log()[-400:])
        for d in daemons:
            c.eq("%s: %s SIGTERM exit code" % (label, d.name), 0, d.stop())
    finally:
        for d in daemons:
            d.stop()


def body(run):
    c, args = run.checks, run.args
    binary, workdir = args.daemon, args.workdir
    w = build_world(workdir, procs.free_address(HTTPS_ADDRESSES, 443))
    run.on_exit(w.stop, w.logs)
    w.start()
    print("# world: DNS %s:%d, policy hosts %s:443" % (w.dns_addr, w.dns_port, w.https_addr),
          flush=True)
    c.eq("world: dig TXT _mta-sts.%s" % ENFORCE[0], ['"%s"' % S.ID],
         w.dig("_mta-sts." + ENFORCE[0]))
    test_refresh(c, w, binary, workdir)
    test_restart(c, w, binary, workdir)
    test_kill(c, w, binary, workdir)
    burst_db = test_kill_burst(c, w, binary, workdir).db
    damaged = [("garbage", garbage_bytes()), ("foreign", foreign_bytes(workdir))]
    if os.path.exists(burst_db) and os.path.getsize(burst_db) >= 3 * 4096:
        damaged.append(("truncated", truncated_bytes(burst_db)))
    else:
        c.ok("4 truncated database: a valid database of 3+ pages to cut", False,
             "%s missing or too small" % burst_db)
    for kind, content in damaged:
        test_damaged(c, w, binary, workdir, kind, content)
    test_default_config(c, binary, workdir)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "persistence", OVERALL_LIMIT, body))

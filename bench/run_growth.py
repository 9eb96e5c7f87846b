#!/usr/bin/python3
"""mta-stsd as its cache grows: start-up time, memory per policy, hit latency.

    /usr/bin/python3 bench/run_growth.py --daemon BUILD/mta-stsd \
        --loadgen BUILD/bench/mtasts-loadgen [--sizes 1000,10000,100000,1000000] [--json]

For each size N (and N=0, the baseline) it writes an SQLite cache file holding N
valid enforce policies in the daemon's own schema, starts the real daemon on it
twice, and reports:

- start-up: the daemon's own "loaded ... in N ms" line (first start, log_level
  info; nothing else is logged before the first query), and the wall time from
  exec to the socketmap port accepting (second start, log_level warn);
- memory, second start, once listening: VmRSS, RssAnon and RssFile from
  /proc/PID/status. RssFile is mostly shared library pages (libc, libstdc++,
  OpenSSL, curl, sqlite...), shared with every other process that maps them;
  RssAnon is the daemon's own heap and stacks. Bytes per policy = RssAnon growth
  over the N=0 daemon, divided by N;
- hit throughput and latency, second start: mtasts-loadgen, 64 persistent
  connections, over 1,000 of the N domains spread over the whole range, every
  answer checked against its exact expected text.

The daemon runs with `cache: {type: sqlite, options: {filename, cache_size: N+1000}}`,
proactive refresh off, DANE off (with DANE on, the first query of each domain
would look its MX and TLSA records up), cache_grace one week (the rows are fresh:
a hit never triggers a background re-check, which is the cold path that
run_cold.py measures), and resolver.nameservers pointed at 127.0.0.21:53, where
nothing listens: no lookup is expected, and one would fail at once rather than
leave the machine. Everything listens on 127.0.0.21. Standard library only.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import procs  # noqa: E402  (tests/e2e: bounded process helpers)

ADDR = "127.0.0.21"
MAP_NAME = "postfix"
MAX_AGE = 604800
CACHE_GRACE = 604800
# Measured on this build: a row takes about 220 bytes on disk; the daemon about
# 1.5 KB of memory per policy. Sizes are skipped when their estimate does not fit.
DISK_PER_POLICY = 400
RAM_PER_POLICY = 4096

# The daemon's schema (src/cache/sqlite_store.cpp), so that it loads the file as its own.
SCHEMA = """
CREATE TABLE mta_stsd_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO mta_stsd_meta VALUES ('schema', 'mta-stsd-policies/1');
CREATE TABLE policies (
  domain TEXT PRIMARY KEY, txt_id TEXT NOT NULL, body TEXT NOT NULL,
  fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  checked_at INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE dane (
  destination TEXT PRIMARY KEY, level TEXT NOT NULL, summary TEXT NOT NULL,
  fetched_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  keep_until INTEGER NOT NULL) WITHOUT ROWID;
"""


def domain(i):
    return "domain%d.example" % i


def policy_body(name):
    # A typical real policy (as bench/cache_load.cpp): two mx patterns, one a wildcard.
    return ("version: STSv1\nmode: enforce\nmx: mx1.%s\nmx: *.mx.%s\nmax_age: %d\n"
            % (name, name, MAX_AGE))


def expected_answer(name):
    # src/sts/answer.cpp: patterns in policy order, "*.x" written ".x", ":" between,
    # then servername=hostname (require_sni, on by default).
    return "OK secure match=mx1.%s:.mx.%s servername=hostname" % (name, name)


def write_db(path, count):
    """N enforce policies, fetched and checked within the last day, valid for a week."""
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    now = int(time.time())
    db = sqlite3.connect(path)
    db.executescript(SCHEMA)

    def rows():
        for i in range(count):
            name = domain(i)
            fetched = now - (i % 86400)
            yield (name, "20240101T%06d" % (i % 1000000), policy_body(name), fetched,
                   fetched + MAX_AGE, now)

    with db:
        db.executemany("INSERT INTO policies VALUES (?, ?, ?, ?, ?, ?)", rows())
    db.close()


def proc_status(pid):
    """{field: kB} for VmRSS, VmHWM, RssAnon, RssFile, RssShmem."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem"):
                out[key] = int(rest.split()[0])
    return out


def write_config(path, port, db, count, log_level):
    with open(path, "w") as f:
        f.write("host: %s\nport: %d\ncontrol_socket: none\n" % (ADDR, port))
        f.write("cache: {type: sqlite, options: {filename: %s, cache_size: %d}}\n" % (db, count + 1000))
        f.write("cache_grace: %d\n" % CACHE_GRACE)
        f.write("proactive_policy_fetching: {enabled: false}\n")
        f.write("dane: {enabled: false}\n")
        f.write('resolver: {nameservers: ["%s:53"]}\n' % ADDR)
        f.write("log_level: %s\n" % log_level)
        f.write("privileges: {allow_root: true}\n")  # the benchmark runs as root


class Daemon:
    """One start of mta-stsd; stopped by PID."""

    def __init__(self, args, workdir, tag, db, count, log_level):
        self.port = procs.free_port(ADDR)
        self.config = os.path.join(workdir, "mta-stsd-%s.yml" % tag)
        self.log = os.path.join(workdir, "mta-stsd-%s.log" % tag)
        if os.path.exists(self.log):
            os.remove(self.log)
        write_config(self.config, self.port, db, count, log_level)
        started = time.monotonic()
        self.proc = procs.ManagedProcess("mta-stsd", [os.path.abspath(args.daemon), "-c", self.config],
                                         self.log, cwd=workdir)
        limit = 60 + count / 2000.0  # generous: a million rows on a busy machine
        if not self.wait_accepting(limit):
            self.proc.stop()
            raise RuntimeError("mta-stsd did not listen on %s:%d within %.0f s:\n%s"
                               % (ADDR, self.port, limit, procs.log_tail(self.log)))
        self.startup_s = time.monotonic() - started

    def wait_accepting(self, timeout):
        # A tight poll: the time to the first accepted connection is the figure reported.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection((ADDR, self.port), timeout=0.5):
                    return True
            except OSError:
                time.sleep(0.005)
        return False

    def load_line(self):
        """(policies, ms) from 'loaded N cached policies and M DANE results from ... in T ms'."""
        with open(self.log, errors="replace") as f:
            for line in f:
                m = re.search(r"loaded (\d+) cached policies .* in (\d+) ms", line)
                if m:
                    return int(m.group(1)), int(m.group(2))
        return None, None

    def stop(self):
        return self.proc.stop(grace=30)


def run_loadgen(args, port, queries, server_pid):
    cmd = [args.loadgen, "--host", ADDR, "--port", str(port), "--name", MAP_NAME,
           "--queries", queries, "--mode", "persistent", "--connections", str(args.connections),
           "--duration", str(args.duration), "--warmup", str(args.warmup),
           "--server-pid", str(server_pid), "--json"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 120)
    if out.returncode not in (0, 1):
        raise RuntimeError("loadgen failed (%d): %s" % (out.returncode, out.stderr.strip()))
    result = json.loads(out.stdout)
    result["ok"] = out.returncode == 0
    return result


def measure(args, workdir, count):
    db = os.path.join(workdir, "cache-%d.db" % count)
    t0 = time.monotonic()
    write_db(db, count)
    row = {"policies": count, "db_write_s": round(time.monotonic() - t0, 2),
           "db_bytes": os.path.getsize(db)}
    if not args.json:
        print("  N=%d: database written (%.1f MB, %.1f s); starting mta-stsd..."
              % (count, row["db_bytes"] / 1e6, row["db_write_s"]), flush=True)

    # First start, at info, for the daemon's own load time. Nothing is queried.
    first = Daemon(args, workdir, "%d-info" % count, db, count, "info")
    try:
        loaded, load_ms = first.load_line()
        row["startup_info_s"] = round(first.startup_s, 3)
    finally:
        first.stop()
    if loaded != count:
        raise RuntimeError("N=%d: the daemon loaded %s policies (log: %s)" % (count, loaded, first.log))
    row["load_ms"] = load_ms

    # Second start, at warn (no line per answer): start-up, memory, hits.
    d = Daemon(args, workdir, "%d-warn" % count, db, count, "warn")
    try:
        row["startup_s"] = round(d.startup_s, 3)
        time.sleep(0.5)  # let the SQLite writer thread and the event loop settle
        row["memory_kib"] = proc_status(d.proc.pid)
        if count > 0:
            step = max(1, count // args.queries)
            names = [domain(i) for i in range(0, count, step)][:args.queries]
            queries = os.path.join(workdir, "queries-%d.tsv" % count)
            with open(queries, "w") as f:
                for name in names:
                    f.write("%s\t%s\n" % (name, expected_answer(name)))
            if not args.json:
                print("  N=%d: loadgen over %d domains..." % (count, len(names)), flush=True)
            r = run_loadgen(args, d.port, queries, d.proc.pid)
            row["hits"] = {k: r[k] for k in ("qps", "latency_us", "cpu_pct", "mismatches", "errors",
                                              "first_mismatches", "first_errors", "ok")}
            row["hits"]["domains"] = len(names)
            row["memory_after_hits_kib"] = proc_status(d.proc.pid)
        if d.proc.poll() is not None:
            raise RuntimeError("mta-stsd exited during the run (status %s)" % d.proc.poll())
    finally:
        d.stop()
    if not args.keep_db:
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(db + suffix):
                os.remove(db + suffix)
    return row


def fits(workdir, count):
    """None if count fits on disk and in memory, else why not."""
    free_disk = shutil.disk_usage(workdir).free
    need_disk = count * DISK_PER_POLICY * 2 + (100 << 20)
    if need_disk > free_disk:
        return "needs about %d MB of disk, %d MB free" % (need_disk >> 20, free_disk >> 20)
    with open("/proc/meminfo") as f:
        avail = next(int(line.split()[1]) for line in f if line.startswith("MemAvailable:")) * 1024
    need_ram = count * RAM_PER_POLICY + (200 << 20)
    if need_ram > avail:
        return "needs about %d MB of memory, %d MB available" % (need_ram >> 20, avail >> 20)
    return None


def print_table(rows, base, connections):
    head = ("policies", "load ms", "start s", "VmRSS KiB", "RssAnon KiB", "RssFile KiB",
            "B/policy", "qps", "p50 us", "p99 us", "cpu% srv", "check")
    lines = [head]
    for r in rows:
        mem = r["memory_kib"]
        hits = r.get("hits")
        lines.append((
            str(r["policies"]), str(r["load_ms"]), "%.3f" % r["startup_s"], str(mem["VmRSS"]),
            str(mem["RssAnon"]), str(mem["RssFile"]),
            "%.0f" % r["bytes_per_policy"] if r.get("bytes_per_policy") is not None else "-",
            "%.0f" % hits["qps"] if hits else "-",
            "%.0f" % hits["latency_us"]["p50"] if hits else "-",
            "%.0f" % hits["latency_us"]["p99"] if hits else "-",
            "%.0f" % hits["cpu_pct"].get("server", 0) if hits else "-",
            ("ok" if hits["ok"] else "FAIL (%d wrong, %d errors)" % (hits["mismatches"], hits["errors"]))
            if hits else "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.rjust(widths[i]) if i < len(head) - 1 else cell
                        for i, cell in enumerate(line)).rstrip())
    for r in rows:
        for m in (r.get("hits") or {}).get("first_mismatches", []):
            print("MISMATCH N=%d: %s expected %r got %r" % (r["policies"], m["key"], m["expected"], m["got"]))
        for e in (r.get("hits") or {}).get("first_errors", []):
            print("ERROR N=%d: %s" % (r["policies"], e))
    print("load ms: the daemon's own 'loaded ... in N ms' line (SQLite read + parse + memory cache).")
    print("start s: exec to the socketmap port accepting (includes the database's quick_check).")
    print("RssFile is mostly shared library pages, shared with other processes; RssAnon is the")
    print("daemon's own memory. B/policy = (RssAnon - RssAnon at N=0, %d KiB) * 1024 / N." % base)
    print("Hits: %s persistent connections over 1,000 domains spread over the N; DANE disabled "
          "(dane.enabled: false), proactive refresh off." % connections)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daemon", required=True, help="path to mta-stsd")
    ap.add_argument("--loadgen", required=True, help="path to mtasts-loadgen")
    ap.add_argument("--sizes", default="1000,10000,100000,1000000",
                    help="comma-separated numbers of cached policies (N=0, the baseline, is always run)")
    ap.add_argument("--queries", type=int, default=1000, help="domains the load generator asks for")
    ap.add_argument("--connections", type=int, default=64, help="load generator connections")
    ap.add_argument("--duration", type=float, default=5, help="seconds measured per size")
    ap.add_argument("--warmup", type=float, default=1, help="seconds of load before measuring")
    ap.add_argument("--workdir", help="keep configs and logs here (default: a temporary directory, removed)")
    ap.add_argument("--keep-db", action="store_true", help="keep the cache files (in --workdir)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        ap.error("--sizes: comma-separated integers")
    if any(s <= 0 for s in sizes):
        ap.error("--sizes: each size must be positive")

    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="mtasts-growth-")
    os.makedirs(workdir, exist_ok=True)
    rows = []
    skipped = []
    try:
        if not args.json:
            print("baseline: N=0...", flush=True)
        base_row = measure(args, workdir, 0)
        base = base_row["memory_kib"]["RssAnon"]
        for count in sizes:
            why = fits(workdir, count)
            if why:
                skipped.append({"policies": count, "reason": why})
                if not args.json:
                    print("  N=%d skipped: %s" % (count, why), flush=True)
                continue
            row = measure(args, workdir, count)
            row["bytes_per_policy"] = (row["memory_kib"]["RssAnon"] - base) * 1024.0 / count
            row["connections"] = args.connections
            rows.append(row)
    finally:
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    all_ok = all(r["hits"]["ok"] for r in rows)
    if args.json:
        print(json.dumps({"baseline": base_row, "sizes": rows, "skipped": skipped,
                          "connections": args.connections, "duration_s": args.duration,
                          "dane": "disabled", "cores": os.cpu_count(), "loadavg": os.getloadavg(),
                          "time": time.strftime("%Y-%m-%dT%H:%M:%S"), "ok": all_ok}, indent=2))
    else:
        base_row["bytes_per_policy"] = None
        print_table([base_row] + rows, base, args.connections)
        for s in skipped:
            print("N=%d skipped: %s" % (s["policies"], s["reason"]))
    return 0 if all_ok else 1


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # atexit in procs stops the daemon
    sys.exit(main())

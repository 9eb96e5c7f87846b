#!/usr/bin/python3
"""End-to-end tests of the control socket and mta-stsctl list, show, purge, prefetch, stats.

    /usr/bin/python3 tests/e2e/run_ctl.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/ctl

A daemon with control_socket in the workdir and an empty memory cache; `mta-stsctl prefetch
--wait` warms it from a file of domains (enforce, testing, none, no TXT record, policy host
answering 404); list and show must then report what the world publishes, a query must be
answered without another fetch, a purge must make the next query fetch again, the counters
must move, and garbage on the control socket must not hurt the daemon.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.40:443), nsd, nginx, openssl, dig.
"""
import json
import os
import re
import socket
import stat
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from world import World, hits_after  # noqa: E402

OVERALL_LIMIT = 300      # seconds; CTest gives the whole test 900
ZONE_TIMEOUT = 4.0
# Not the other runners' addresses, so the worlds never collide.
HTTPS_ADDRESSES = ["127.0.0.40"] + ["127.0.%d.40" % i for i in range(1, 10)]
TXT_ID = S.ID.split("id=")[1]

ENFORCE, TESTING, NONE = "ctl-enforce.test", "ctl-testing.test", "ctl-none.test"
PURGE, NOPOLICY, GONE = "ctl-purge.test", "ctl-nopolicy.test", "ctl-404.test"
ALARM = "ctl-alarm.test"  # its enforce policy turns testing: the downgrade alarm
MX = {ENFORCE: ["mail.ctl-enforce.test", "*.mx.ctl-enforce.test"],
      TESTING: ["mail.ctl-testing.test"], NONE: [], PURGE: ["mail.ctl-purge.test"]}
MODES = {ENFORCE: "enforce", TESTING: "testing", NONE: "none", PURGE: "enforce"}
# Enough policies for a list reply of more than one 64 KiB chunk (about 200 bytes each).
BULK = ["bulk%03d.test" % i for i in range(400)]
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def build_world(workdir, https_addr):
    w = World(workdir, https_addr=https_addr)
    for name, mode in MODES.items():
        w.add_domain(name, txt=[S.ID], policy=S.policy(mode=mode, mx=MX[name]))
    for name in BULK:
        w.add_domain(name, txt=[S.ID], policy=S.policy(mx=["mail." + name]))
    w.add_domain(ALARM, txt=[S.ID], policy=S.policy(mode="enforce", mx=["mail." + ALARM]))
    w.add_domain(NOPOLICY)          # no TXT record
    w.add_domain(GONE, txt=[S.ID])  # TXT record; the policy host answers 404
    return w


class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "ctl", control=True, query_timeout=ZONE_TIMEOUT + 6)
        self.write_config(f"""\
cache: {{type: internal}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
zones:
  strict: {{strict_testing: true}}
proactive_policy_fetching: {{enabled: false}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)


def ctl(binary, d, *args, control=True, timeout=60):
    return harness.ctl(binary, *args, *(["--control", d.control] if control else []),
                       timeout=timeout)


def ctl_json(c, binary, d, label, *args):
    r = ctl(binary, d, *args, "--json")
    try:
        return r.returncode, json.loads(r.stdout)
    except ValueError as e:
        c.ok("%s: output is JSON" % label, False, "%r: %r %r" % (e, r.stdout[-300:], r.stderr))
        return r.returncode, None


def raw_exchange(path, data, timeout=5.0):
    """Sends data on a fresh control connection, closes the sending side, returns every
    byte received until the daemon closes."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return out
            out += chunk


def r_bytes(policies):
    """The size of the policies as the daemon writes them (one line of compact JSON)."""
    return json.dumps(list(policies.values()), separators=(",", ":"))


# ----- the checks ----------------------------------------------------------------------
def check_socket(c, d):
    st = os.stat(d.control)
    c.ok("control socket is a socket", stat.S_ISSOCK(st.st_mode))
    c.eq("control socket mode is 0600", "0o600", oct(stat.S_IMODE(st.st_mode)))


def check_prefetch(c, w, binary, d, workdir):
    r = ctl(binary, d, "stats", "--json")
    before = json.loads(r.stdout) if r.returncode == 0 else {}
    c.eq("stats before prefetch: no queries, nothing cached", (0, 0, 0),
         (before.get("queries"), before.get("policies"), before.get("discoveries")))
    listing = os.path.join(workdir, "domains.txt")
    with open(listing, "w") as f:
        f.write("# warm-up list\n\n")
        for name in (ENFORCE, TESTING, NONE, PURGE, NOPOLICY, GONE):
            f.write("  %s   # comment\n" % name.upper())
        f.write(ENFORCE + "\n")  # listed twice: asked once
        f.write("".join(name + "\n" for name in BULK))
    r = ctl(binary, d, "prefetch", listing, "--wait", "--wait-timeout", "30")
    c.eq("prefetch --wait: exit 0", 0, r.returncode)
    summary = "learned %d (%d enforce, 1 none, 1 testing), no policy 2, failed 0" % (
        4 + len(BULK), 2 + len(BULK))
    c.ok("prefetch --wait: summary " + summary, summary in r.stdout,
         "stdout %r stderr %r" % (r.stdout, r.stderr))
    c.ok("prefetch --wait: %s line says no policy" % NOPOLICY,
         re.search(r"^%s\s+no policy$" % re.escape(NOPOLICY), r.stdout, re.M) is not None,
         r.stdout)
    for name in MODES:
        c.eq("prefetch fetched %s once" % name, 1, hits_after(w, name, 1))
    c.eq("prefetch: no fetch of %s (no TXT record)" % NOPOLICY, 0, w.nginx_hits(NOPOLICY))

    bad = os.path.join(workdir, "bad-domains.txt")
    with open(bad, "w") as f:
        f.write("[192.0.2.1]\n%s\n" % ENFORCE)
    r = ctl(binary, d, "prefetch", bad)
    c.ok("prefetch of an address literal: exit 1, reported, the rest counted",
         r.returncode == 1 and "not a domain" in r.stderr and "1 already cached" in r.stdout
         and "1 invalid" in r.stdout, "rc %d stdout %r stderr %r"
         % (r.returncode, r.stdout, r.stderr))


def check_list(c, binary, d):
    now = time.time()
    rc, reply = ctl_json(c, binary, d, "list --json", "list")
    if reply is None:
        return
    c.eq("list --json: exit 0", 0, rc)
    policies = {p.get("domain"): p for p in reply.get("policies", [])}
    c.eq("list: the four policy domains and the bulk ones", sorted(list(MODES) + BULK),
         sorted(policies))
    c.ok("list: the reply took more than one 64 KiB chunk", len(r_bytes(policies)) > 65536)
    c.eq("list: negative entries (no TXT, 404)", 2, reply.get("negative"))
    for name, mode in MODES.items():
        p = policies.get(name, {})
        c.eq("list %s: mode, id, mx, max_age, source" % name,
             (mode, TXT_ID, MX[name], 86400, "memory"),
             (p.get("mode"), p.get("id"), p.get("mx"), p.get("max_age"), p.get("source")))
        fetched = p.get("fetched", 0)
        c.ok("list %s: fetched now, expires = fetched + max_age, checked = fetched" % name,
             abs(fetched - now) < 120 and p.get("expires") == fetched + 86400
             and p.get("checked") == fetched, repr(p))

    r = ctl(binary, d, "list")
    lines = r.stdout.splitlines()
    c.ok("list (table): exit 0, header first",
         r.returncode == 0 and lines and lines[0].split() ==
         ["DOMAIN", "MODE", "ID", "FETCHED", "EXPIRES", "SOURCE"], repr(lines[:2]))
    rows = {line.split()[0]: line.split() for line in lines[1:] if len(line.split()) == 6}
    row = rows.get(ENFORCE, [])
    c.ok("list (table): %s row has mode, id, UTC ISO times, source" % ENFORCE,
         len(row) == 6 and row[1:3] == ["enforce", TXT_ID] and ISO.match(row[3]) is not None
         and ISO.match(row[4]) is not None and row[5] == "memory", repr(row))
    c.eq("list (table): rows sorted by domain", sorted(list(MODES) + BULK), list(rows))
    c.ok("list (table): footer counts", "%d policies; 2 domains" % (4 + len(BULK)) in lines[-1],
         lines[-1])


def check_show(c, binary, d):
    rc, p = ctl_json(c, binary, d, "show --json", "show", "CTL-Enforce.TEST.")
    if p is not None:
        c.eq("show --json CTL-Enforce.TEST.: exit 0, normalised domain", (0, ENFORCE),
             (rc, p.get("domain")))
        answers = {a.get("zone"): a.get("answer") for a in p.get("answers", [])}
        want = S.ok_answer(["mail.ctl-enforce.test", ".mx.ctl-enforce.test"], ENFORCE)
        c.eq("show: per-zone answers", {None: want, "strict": want}, answers)
    rc, p = ctl_json(c, binary, d, "show testing", "show", TESTING)
    if p is not None:
        answers = {a.get("zone"): a.get("answer") for a in p.get("answers", [])}
        c.eq("show %s: NOTFOUND by default, OK in the strict zone" % TESTING,
             {None: "NOTFOUND ", "strict": S.ok_answer(MX[TESTING], TESTING)}, answers)
    r = ctl(binary, d, "show", ENFORCE)
    c.ok("show (text): mode, id, mx", r.returncode == 0 and "mode     enforce" in r.stdout
         and "id       %s" % TXT_ID in r.stdout
         and "mx       mail.ctl-enforce.test *.mx.ctl-enforce.test" in r.stdout, r.stdout)
    r = ctl(binary, d, "show", NOPOLICY)
    c.eq("show %s: exit 1, not cached" % NOPOLICY, (1, "%s: not cached" % NOPOLICY),
         (r.returncode, r.stdout.strip()))
    r = ctl(binary, d, "show", ".ctl-enforce.test")
    c.ok("show of a parent-domain key: exit 2 with a reason",
         r.returncode == 2 and "not a domain" in r.stderr, "%d %r" % (r.returncode, r.stderr))


def check_cached_query(c, w, binary, d):
    stats = json.loads(ctl(binary, d, "stats", "--json").stdout)
    hits = w.nginx_hits(ENFORCE)
    want = S.ok_answer(["mail.ctl-enforce.test", ".mx.ctl-enforce.test"], ENFORCE)
    c.eq("query %s after prefetch" % ENFORCE, want, d.query(ENFORCE))
    time.sleep(0.3)
    c.eq("... answered from the warmed cache (no fetch)", hits, w.nginx_hits(ENFORCE))
    after = json.loads(ctl(binary, d, "stats", "--json").stdout)
    c.eq("stats: queries +1, hits +1, discoveries +0",
         (stats["queries"] + 1, stats["hits"] + 1, stats["discoveries"]),
         (after["queries"], after["hits"], after["discoveries"]))
    r = ctl(binary, d, "stats")
    c.ok("stats (text): one counter a line",
         r.returncode == 0 and re.search(r"^queries\s+%d$" % after["queries"], r.stdout, re.M),
         r.stdout)


def check_purge(c, w, binary, d):
    r = ctl(binary, d, "purge", PURGE.upper())
    c.eq("purge %s: exit 0" % PURGE, (0, "%s: purged" % PURGE), (r.returncode, r.stdout.strip()))
    rc, reply = ctl_json(c, binary, d, "list after purge", "list")
    if reply is not None:
        c.eq("list after purge: %s gone, the others kept" % PURGE,
             sorted((set(MODES) | set(BULK)) - {PURGE}),
             sorted(p["domain"] for p in reply["policies"]))
    r = ctl(binary, d, "purge", PURGE)
    c.eq("purge %s again: exit 1" % PURGE, 1, r.returncode)
    hits = w.nginx_hits(PURGE)
    c.eq("query %s after purge" % PURGE, S.ok_answer(MX[PURGE], PURGE), d.query(PURGE))
    c.eq("... fetched the policy again (nginx hits +1)", hits + 1, hits_after(w, PURGE, hits + 1))
    rc, p = ctl_json(c, binary, d, "show after refetch", "show", PURGE)
    c.eq("show %s: cached again" % PURGE, (0, "enforce"), (rc, p and p.get("mode")))


def check_garbage(c, binary, d):
    out = raw_exchange(d.control, b"\x00\xff\xfe garbage\r\nshow\nbogus x y\n\nstats\n")
    lines = out.decode("utf-8", "replace").splitlines()
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            parsed.append(None)
    c.ok("garbage lines: one JSON error each, then stats answers on the same connection",
         len(parsed) == 5 and all(p and "error" in p for p in parsed[:4])
         and parsed[4] is not None and "queries" in parsed[4], repr(lines))
    out = raw_exchange(d.control, b"x" * 10000)
    c.ok("an over-long line: one error reply, then the connection is closed",
         out.count(b"\n") == 1 and b"longer than 4096 bytes" in out, repr(out[:200]))
    out = raw_exchange(d.control, b"stats")
    c.ok("a last request without a newline is answered", b'"queries"' in out, repr(out[:100]))
    for data in (b"", b"li", bytes(range(256)) * 8):
        try:
            raw_exchange(d.control, data)
        except OSError:
            pass
    # A client that connects and sends nothing does not block others.
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(d.control)
    try:
        r = ctl(binary, d, "stats", "--json")
        c.eq("with an idle client connected, stats answers", 0, r.returncode)
    finally:
        idle.close()
    c.ok("the daemon survives: still running", d.proc.poll() is None)
    c.eq("the daemon survives: socketmap still answers",
         S.ok_answer(MX[TESTING], TESTING), d.query(TESTING, "strict"))


def check_paths(c, binary, d):
    r = ctl(binary, d, "stats", "-c", d.config, control=False)
    c.eq("stats -c CONFIG finds control_socket", 0, r.returncode)
    missing = os.path.join(d.workdir, "no-such.sock")
    r = harness.ctl(binary, "list", "--control", missing, timeout=30)
    c.ok("no daemon: exit 2, the message names the path",
         r.returncode == 2 and missing in r.stderr, "%d %r" % (r.returncode, r.stderr))


class StoreDaemon(harness.Daemon):
    """A second daemon with an SQLite store and room for two policies in memory, and
    /metrics (whose stored-policy gauges count the store, not memory)."""
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "ctl-store", control=True,
                         query_timeout=ZONE_TIMEOUT + 6)
        self.metrics_port = procs.free_port(self.host)
        self.write_config(f"""\
cache: {{type: sqlite, options: {{filename: {workdir}/ctl-store.db, cache_size: 2}}}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
metrics: {{listen: "{self.host}:{self.metrics_port}"}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)

    def gauges(self):
        """{series: value} of the policy gauges on /metrics, or None when unreadable."""
        try:
            with urllib.request.urlopen("http://%s:%d/metrics" % (self.host, self.metrics_port),
                                        timeout=5) as r:
                text = r.read().decode()
        except OSError:
            return None
        out = {}
        for line in text.splitlines():
            if line.startswith(("mtastsd_cached_policies", "mtastsd_stored_policies")):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


def check_show_stored(c, w, binary, workdir, daemon_binary):
    """Memory is not the whole cache: show reads a policy memory dropped back from the
    store, never "not cached" for a policy that still protects its domain."""
    for stale in ("ctl-store.db", "ctl-store.db-wal", "ctl-store.db-shm"):
        harness.remove(os.path.join(workdir, stale))
    d = StoreDaemon(daemon_binary, workdir, w)
    if not c.ok("store daemon starts", d.start(), procs.log_tail(d.log)):
        return
    first, others = BULK[1], (BULK[2], BULK[3])  # the two others push `first` out of memory
    for name in (first,) + others:
        c.eq("store daemon: query %s" % name, S.ok_answer(["mail." + name], name), d.query(name))
    # No wait for the SQLite writer's commit: the store reads its own writes.
    # list covers the store too: the dropped policy is listed, with source "store".
    _, listed = ctl_json(c, binary, d, "store list", "list")
    sources = {p.get("domain"): p.get("source") for p in (listed or {}).get("policies", [])}
    c.eq("list: memory's two and the one only the store holds",
         {first: "store", others[0]: "memory", others[1]: "memory"}, sources)
    r = ctl(binary, d, "list")
    c.ok("list (table): the stored policy's row says store",
         r.returncode == 0 and any(line.startswith(first + " ") and line.rstrip().endswith("store")
                                   for line in r.stdout.splitlines()), r.stdout)
    r = ctl(binary, d, "show", first)
    c.ok("show of a policy memory dropped: exit 0, read back from the store",
         r.returncode == 0 and "mode     enforce" in r.stdout, "%d %r" % (r.returncode, r.stdout))
    r = ctl(binary, d, "show", NOPOLICY)
    c.eq("store daemon: show %s: still not cached" % NOPOLICY, 1, r.returncode)
    # /metrics: memory's gauge counts the two it holds, the store's all three
    # (issue 16: memory is not the whole cache). show read `first` back into
    # memory, which then holds two of the three again.
    gauges = d.gauges() or {}
    c.eq("/metrics: memory holds two enforce policies",
         2.0, gauges.get('mtastsd_cached_policies{mode="enforce"}'))
    c.eq("/metrics: the store holds three enforce policies",
         3.0, gauges.get('mtastsd_stored_policies{mode="enforce"}'))
    c.eq("/metrics: max_age 86400: all three stored ones end within a day",
         3.0, gauges.get("mtastsd_stored_policies_expiring"))
    c.eq("store daemon: SIGTERM: exit 0", 0, d.stop())


class AlarmDaemon(harness.Daemon):
    """A daemon that re-checks a cached policy's TXT id one second after fetching it."""
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "ctl-alarm", control=True,
                         query_timeout=ZONE_TIMEOUT + 6)
        self.write_config(f"""\
cache: {{type: internal}}
cache_grace: 1
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)


def check_alarms(c, w, binary, daemon_binary, workdir):
    """An enforce policy replaced by a testing one: one DOWNGRADE ALARM line in the log,
    and `list --alarms` (text and JSON) and `stats` name the domain until it clears."""
    d = AlarmDaemon(daemon_binary, workdir, w)
    if not c.ok("alarm daemon starts", d.start(), procs.log_tail(d.log)):
        return
    _, first = ctl_json(c, binary, d, "alarms", "list", "--alarms")
    c.eq("alarm: no alarm at first", [], (first or {}).get("alarms"))
    c.eq("alarm: enforce policy learned", S.ok_answer(["mail." + ALARM], ALARM), d.query(ALARM))
    w.set_txt(ALARM, ["v=STSv1; id=weaker1"])
    w.set_policy(ALARM, S.policy(mode="testing", mx=["mail." + ALARM]))
    time.sleep(1.2)  # past cache_grace: the next query re-checks the TXT id behind its answer
    d.query(ALARM)
    alarms = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not alarms:
        _, reply = ctl_json(c, binary, d, "alarms", "list", "--alarms")
        alarms = (reply or {}).get("alarms", [])
        if not alarms:
            time.sleep(0.2)
    ok = len(alarms) == 1 and alarms[0].get("subject") == ALARM and \
        alarms[0].get("kind") == "weaker-policy" and \
        alarms[0].get("reason") == "mode enforce -> testing"
    c.ok("alarm: list --alarms --json names the domain, kind and reason", ok, repr(alarms))
    r = ctl(binary, d, "list", "--alarms")
    c.ok("alarm: list --alarms (text) names the domain",
         r.returncode == 0 and ALARM in r.stdout and "weaker-policy" in r.stdout, r.stdout)
    _, stats = ctl_json(c, binary, d, "stats", "stats")
    c.eq("alarm: stats counts it", 1, (stats or {}).get("alarms"))
    lines = [l for l in d.run_log().splitlines() if "DOWNGRADE ALARM" in l]
    c.ok("alarm: one DOWNGRADE ALARM line naming the domain and both states",
         len(lines) == 1 and ALARM in lines[0] and "enforce" in lines[0] and "testing" in lines[0],
         repr(lines))
    ctl(binary, d, "purge", ALARM)
    _, reply = ctl_json(c, binary, d, "alarms", "list", "--alarms")
    c.eq("alarm: purge clears it", [], (reply or {}).get("alarms"))
    c.eq("alarm daemon: SIGTERM: exit 0", 0, d.stop())


def body(run):
    c, args = run.checks, run.args
    w = build_world(args.workdir, procs.free_address(HTTPS_ADDRESSES, 443))
    run.on_exit(w.stop, w.logs)
    w.start()
    print("# world: DNS %s:%d, policy hosts %s:443" % (w.dns_addr, w.dns_port, w.https_addr),
          flush=True)
    d = Daemon(args.daemon, args.workdir, w)
    if not c.ok("daemon starts and creates its control socket", d.start(),
                procs.log_tail(d.log)):
        return
    check_socket(c, d)
    check_prefetch(c, w, args.ctl, d, args.workdir)
    check_list(c, args.ctl, d)
    check_show(c, args.ctl, d)
    check_cached_query(c, w, args.ctl, d)
    check_purge(c, w, args.ctl, d)
    check_garbage(c, args.ctl, d)
    check_paths(c, args.ctl, d)
    c.eq("SIGTERM: exit 0", 0, d.stop())
    c.ok("SIGTERM: the control socket file is removed", not os.path.exists(d.control))
    check_show_stored(c, w, args.ctl, args.workdir, args.daemon)
    check_alarms(c, w, args.ctl, args.daemon, args.workdir)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "control", OVERALL_LIMIT, body))

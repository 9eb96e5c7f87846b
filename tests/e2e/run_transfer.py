#!/usr/bin/python3
"""End-to-end tests of mta-stsctl export and import between two real daemons.

    /usr/bin/python3 tests/e2e/run_transfer.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/transfer

The world (dnssec_world.py): a signed zone with MTA-STS domains, one of them with DANE (TLSA
records), unbound validating. Daemon A learns their policies and DANE results (with room
for one of each in memory: the others are only in its SQLite store) and `mta-stsctl export`
writes them all to a file. Then nginx stops (every policy host blocked) and a
fresh daemon B (its own SQLite file, a resolver where nothing listens) imports the file: it
must answer those domains from the import alone, through postmap and the raw socketmap. A
tampered file (max_age stretched, fetched_at in the future, a garbled body, a line that is no
JSON, no header) is refused line by line with the reason; an older record never replaces a
newer one, and a newer but weaker one never replaces an unexpired enforce policy.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.150:443), nsd, unbound, ldnsutils, nginx, postfix, openssl, dig.
"""
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
from dnssec_world import DnssecWorld  # noqa: E402
from harness import ctl  # noqa: E402
from postfix import Postmap  # noqa: E402

OVERALL_LIMIT = 240      # seconds; CTest gives the whole test 900
ZONE_TIMEOUT = 4.0
# 127.0.0.150-159 belong to this runner: nginx .150, the world's unsigned nsd .151
# (stopped), signed nsd .152, unbound .153, the daemons .154, MX hosts' A records .155.
HOST = "127.0.0.154"
ENFORCE, TESTING, DANE_ONLY = "xfer-enforce.test", "xfer-testing.test", "xfer-dane.test"
MX = {ENFORCE: "mail." + ENFORCE, TESTING: "mail." + TESTING, DANE_ONLY: "mail." + DANE_ONLY}
ANSWERS = {ENFORCE: "OK secure match=%s servername=hostname" % MX[ENFORCE],
           TESTING: "NOTFOUND ",  # testing: delivery as without a policy (RFC 8461 §5)
           DANE_ONLY: "OK dane-only"}


def build_world(workdir):
    w = DnssecWorld(workdir, https_addr="127.0.0.150", sts_dns_addr="127.0.0.151",
                    nsd_addr="127.0.0.152", unbound_addr="127.0.0.153", mx_addr="127.0.0.155")
    for name, mode in ((ENFORCE, "enforce"), (TESTING, "testing"), (DANE_ONLY, "enforce")):
        w.add_mx(name, MX[name])
        w.add(MX[name], "A", w.mx_addr)
        w.add_sts(name, mode, [MX[name]])
    w.add("_25._tcp." + MX[DANE_ONLY], "TLSA", w.tlsa(3, 1, 1))
    return w


class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, name, world, nameserver, cache_size=10000):
        super().__init__(binary, workdir, name, HOST, control=True,
                         query_timeout=ZONE_TIMEOUT + 10)
        db = os.path.join(workdir, name + ".db")
        harness.remove(db, db + "-wal", db + "-shm")
        self.write_config(f"""\
cache: {{type: sqlite, options: {{filename: {db}, cache_size: {cache_size}}}}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
dane: {{}}
""", nameserver, world.ca_file)
        self.postmap = Postmap(os.path.join(workdir, "postfix-" + name), HOST, self.port)

    def ctl(self, binary, *args):
        return ctl(binary, *args, "--control", self.control)


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f.read().splitlines()]


def write_lines(path, records):
    with open(path, "w") as f:
        for r in records:
            f.write((r if isinstance(r, str) else json.dumps(r)) + "\n")


def expect(c, d, key, want, what):
    """postmap -q KEY (Postfix's own client), then the exact payload."""
    pm = d.postmap.query(key)
    got = d.query(key)
    if want.startswith("OK "):
        fits = pm.kind == "found" and pm.value == want[len("OK "):]
    else:
        fits = pm.kind == "notfound"
    c.ok("%s %r: %r (%s)" % (d.name, key, want, what), fits and got == want,
         "payload %r, postmap %r" % (got, pm))


def check_export(c, ctl_bin, a, path):
    r = a.ctl(ctl_bin, "export", "--output", path)
    c.eq("export: exit 0", 0, r.returncode)
    c.ok("export: says what it wrote", "exported 3 policies" in r.stderr, r.stderr)
    try:
        lines = read_lines(path)
    except (OSError, ValueError) as e:
        c.ok("export: every line is JSON", False, repr(e))
        return None
    c.eq("export: the header names the format and version", ("mta-stsd-export", 1),
         (lines[0].get("kind"), lines[0].get("version")))
    c.ok("export: the header's time is now", abs(lines[0].get("exported_at", 0) - time.time()) < 60)
    policies = {r["domain"]: r for r in lines[1:] if r.get("kind") == "policy"}
    dane = {r["destination"]: r for r in lines[1:] if r.get("kind") == "dane"}
    c.eq("export: a line per policy", sorted(MX), sorted(policies))
    c.ok("export: the body is the text as fetched",
         "mode: testing" in policies.get(TESTING, {}).get("body", ""), repr(policies.get(TESTING)))
    p = policies.get(ENFORCE, {})
    c.eq("export: expires_at is fetched_at + max_age", 86400,
         p.get("expires_at", 0) - p.get("fetched_at", 0))
    c.eq("export: the DANE result of the DANE domain", "dane-only",
         dane.get(DANE_ONLY, {}).get("level"))
    c.eq("export: the DANE result of an MTA-STS-only domain", "none",
         dane.get(ENFORCE, {}).get("level"))
    c.ok("export: the record fields", set(p) == {"kind", "domain", "txt_id", "body", "fetched_at",
                                                 "expires_at", "checked_at"}, repr(p))
    r = a.ctl(ctl_bin, "export")
    c.ok("export: without --output to stdout, the same lines",
         r.returncode == 0 and len(r.stdout.splitlines()) == len(lines), r.stderr)
    return lines


def check_import(c, ctl_bin, b, path, lines):
    r = b.ctl(ctl_bin, "import", path)
    records = len(lines) - 1
    c.eq("import: exit 0", 0, r.returncode)
    c.eq("import: every record imported", "imported %d, refused 0, older than held 0" % records,
         r.stdout.strip())
    for name, want in ANSWERS.items():
        expect(c, b, name, want, "imported; policy hosts and resolver unreachable")
    r = b.ctl(ctl_bin, "list", "--json")
    try:
        listed = {p["domain"] for p in json.loads(r.stdout)["policies"]}
    except (ValueError, KeyError):
        listed = set()
    c.eq("import: list shows the imported policies", sorted(MX), sorted(listed))
    r = b.ctl(ctl_bin, "import", path)
    c.eq("import again: nothing newer, every record older than held",
         "imported 0, refused 0, older than held %d" % records, r.stdout.strip())
    c.eq("import again: exit 0", 0, r.returncode)


def check_refusals(c, ctl_bin, b, workdir, lines):
    header = lines[0]
    enforce = next(r for r in lines if r.get("domain") == ENFORCE)
    now = int(time.time())
    stretched = dict(enforce, domain="other1.test", expires_at=enforce["expires_at"] + 86400 * 30)
    future = dict(enforce, domain="other2.test", fetched_at=now + 86400, checked_at=now + 86400,
                  expires_at=now + 2 * 86400)
    garbled = dict(enforce, domain="other3.test", body="version: STSv1\nmode: enforce\nmx")
    older = dict(enforce, txt_id="older1", fetched_at=enforce["fetched_at"] - 600,
                 checked_at=enforce["fetched_at"] - 600, expires_at=enforce["expires_at"] - 600)
    weaker = dict(enforce, txt_id="weaker1", body=enforce["body"].replace("enforce", "testing"),
                  fetched_at=enforce["fetched_at"] + 1, checked_at=enforce["fetched_at"] + 1,
                  expires_at=enforce["expires_at"] + 1)
    tampered = os.path.join(workdir, "tampered.jsonl")
    write_lines(tampered, [header, stretched, future, garbled, "{oops", older, weaker])
    r = b.ctl(ctl_bin, "import", tampered)
    c.eq("tampered: exit 1 (some refused)", 1, r.returncode)
    c.eq("tampered: the counts", "imported 0, refused 5, older than held 1", r.stdout.strip())
    want = {2: "max_age", 3: "future", 4: "invalid policy", 5: "not JSON",
            7: "would downgrade the policy held: enforce to testing"}
    for line, reason in want.items():
        named = "%s:%d: refused: " % (tampered, line)
        got = [x for x in r.stderr.splitlines() if x.startswith(named)]
        c.ok("tampered: line %d refused, naming %r" % (line, reason),
             len(got) == 1 and reason in got[0], r.stderr)
    r = b.ctl(ctl_bin, "show", ENFORCE, "--json")
    try:
        shown = json.loads(r.stdout)
    except ValueError:
        shown = {}
    c.eq("tampered: the held policy stays (id, mode, fetched)",
         (enforce["txt_id"], "enforce", enforce["fetched_at"]),
         (shown.get("id"), shown.get("mode"), shown.get("fetched")))
    expect(c, b, ENFORCE, ANSWERS[ENFORCE], "after the tampered import")
    for domain in ("other1.test", "other2.test", "other3.test"):
        r = b.ctl(ctl_bin, "show", domain, "--json")
        c.ok("tampered: %s was not kept" % domain, '"not cached"' in r.stdout, r.stdout)
    headerless = os.path.join(workdir, "headerless.jsonl")
    write_lines(headerless, [dict(enforce, domain="other4.test")])
    r = b.ctl(ctl_bin, "import", headerless)
    c.ok("no header: refused, naming line 1",
         r.returncode == 1 and "%s:1: refused: not the header" % headerless in r.stderr,
         r.stdout + r.stderr)


def raw_exchange(path, data, timeout=10.0):
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


def check_framing(c, ctl_bin, b, workdir, lines):
    """The payload's bounds: a line past 512 KiB stops the import with an error naming it;
    a client that closes without the empty line still gets its reply."""
    policy = next(r for r in lines if r.get("kind") == "policy")
    huge = os.path.join(workdir, "huge.jsonl")
    write_lines(huge, [lines[0], dict(policy, body="x" * (600 * 1024))])
    r = b.ctl(ctl_bin, "import", huge)
    c.ok("over-long line: exit 2, the error names the line and the bound",
         r.returncode == 2 and "import line 2 longer than 524288 bytes" in r.stderr,
         "%d %r" % (r.returncode, r.stderr[-300:]))
    payload = (json.dumps(lines[0]) + "\n" + json.dumps(policy)).encode()
    out = raw_exchange(b.control, b"import\n" + payload)  # no newline, no empty line
    try:
        reply = json.loads(out.decode())
    except ValueError:
        reply = {}
    c.eq("import without the empty line: the reply when the client closes",
         (0, 0, 1), (reply.get("imported"), reply.get("refused"), reply.get("older")))
    expect(c, b, ENFORCE, ANSWERS[ENFORCE], "after the framing checks")


def body(run):
    c, args = run.checks, run.args
    w = build_world(args.workdir)
    run.on_exit(w.stop, w.logs)
    w.start()
    print("# world: unbound %s, nsd %s, policy hosts %s:443" % (w.resolver, w.nsd, w.https_addr),
          flush=True)
    # Room for one policy and one DANE result in A's memory: the export must take the
    # others from the store (memory is not the whole cache).
    a = Daemon(args.daemon, args.workdir, "xfer-a", w, w.resolver, cache_size=1)
    dead = "127.0.0.155:%d" % procs.free_port("127.0.0.155")  # nothing listens there
    b = Daemon(args.daemon, args.workdir, "xfer-b", w, dead)
    if not c.ok("daemon A starts", a.start(), procs.log_tail(a.log)):
        return
    for name, want in ANSWERS.items():
        expect(c, a, name, want, "learned from the world")
    path = os.path.join(args.workdir, "export.jsonl")
    harness.remove(path)
    lines = check_export(c, args.ctl, a, path)
    c.eq("daemon A: SIGTERM exit 0", 0, a.stop())
    if lines is None:
        return
    w.sts.stop_https()  # every policy host blocked
    if not c.ok("daemon B starts", b.start(), procs.log_tail(b.log)):
        return
    for name in ANSWERS:
        c.ok("daemon B before the import: %s is not answered secure" % name,
             not b.query(name).startswith("OK "))
    check_import(c, args.ctl, b, path, lines)
    check_refusals(c, args.ctl, b, args.workdir, lines)
    check_framing(c, args.ctl, b, args.workdir, lines)
    c.eq("daemon B: SIGTERM exit 0", 0, b.stop())


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "transfer", OVERALL_LIMIT, body))

#!/usr/bin/python3
"""End-to-end tests of answers Postfix must be able to read: the socketmap reply limit.

    /usr/bin/python3 tests/e2e/run_answer_limits.py --daemon build/mta-stsd \
        --ctl build/mta-stsctl --workdir /tmp/answer-limits

Postfix's socketmap client reads a reply of at most socketmap_max_reply_size octets
(100,000 by default, fixed before Postfix 3.10); a longer one fails the lookup ("input
exceeds size limit") and the mail is deferred for as long as the policy stays. In a zone
with `tlsrpt: true` an answer carries every mx pattern twice and every policy line:
a valid policy with 1,000 mx lines made a 116 KB answer (issue 16). Here such policies
are fetched from a real policy host and read back by Postfix's own `postmap -q`:

- limits-big.test, 1,000 mx lines (about 35 KB): in the tlsrpt zone the answer loses its
  policy_string attributes and keeps `secure match=...`, policy_type, policy_domain and
  every mx_host_pattern; postmap finds it;
- limits-huge.test, 1,000 long mx lines (just under the 64 KiB body limit): even without
  policy_string it is too long, so every TLSRPT attribute goes and the answer is the plain
  `secure match=...` list;
- limits-small.test: an ordinary policy keeps every attribute (nothing dropped needlessly);
  its name ending in an ideographic full stop (U+3002), sent by postmap, is the same key.

The daemon's logging:
- one line per capped policy naming the domain and what was dropped, not one per query;
- invalid keys holding LF, CR or ESC cannot forge or colour log lines, and a burst of
  invalid keys gives a bounded number of warnings.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.90:443), nsd, nginx, postfix (postmap), openssl, dig.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from postfix import Postmap, SocketmapClient, netstring  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 240      # seconds; CTest gives the whole test 900
ZONE_TIMEOUT = 10.0      # a 64 KiB body on a busy machine
# Not the other runners' addresses, so the worlds never collide.
HTTPS_ADDRESSES = ["127.0.0.90"] + ["127.0.%d.90" % i for i in range(1, 10)]

MAX_REPLY = 100000       # Postfix socketmap_max_reply_size, default
MAX_BODY = 64 * 1024     # the daemon's policy body limit (RFC 8461 §3.3 suggests 64 KiB)
BIG, HUGE, SMALL = "limits-big.test", "limits-huge.test", "limits-small.test"
IDEOGRAPHIC_FULL_STOP = "\u3002"



def many_mx(domain, count, length):
    """count distinct mx patterns of about length octets, "*." on every tenth."""
    out = []
    for i in range(count):
        name = "mx%04d." % i
        name += "p" * max(1, length - len(name) - len(domain) - 1) + "." + domain
        out.append(("*." if i % 10 == 0 else "") + name)
    return out


MX = {
    BIG: many_mx(BIG, 1000, 30),
    HUGE: many_mx(HUGE, 1000, 58),
    SMALL: ["mail." + SMALL, "*.mx." + SMALL],
}
POLICY = {name: S.policy(mx=mx, max_age="604800") for name, mx in MX.items()}


# ----- the answers expected, written out the way answer.cpp documents them -------------
def bare_answer(domain):
    """The default zone's payload: OK secure match=... servername=hostname ("*.x" as ".x")."""
    return "OK secure match=" + ":".join(m[1:] if m.startswith("*.") else m
                                         for m in MX[domain]) + " servername=hostname"


def tlsrpt_patterns(domain):
    return " policy_type=sts policy_domain=%s" % domain + "".join(
        " mx_host_pattern=%s" % m for m in MX[domain])


def policy_strings(domain):
    return "".join(" { policy_string = %s }" % line
                   for line in POLICY[domain].decode().split("\n") if line)


def build_world(workdir, https_addr):
    w = World(workdir, https_addr=https_addr)
    for name, body in POLICY.items():
        w.add_domain(name, txt=[S.ID], policy=body)
    return w


class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "answer-limits", query_timeout=ZONE_TIMEOUT + 5)
        self.write_config(f"""\
cache: {{type: internal}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
zones:
  tlsrpt: {{tlsrpt: true, timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)


# ----- the checks ----------------------------------------------------------------------
def check_world(c, w):
    """The policies themselves: valid, within the body limit, and too big uncapped."""
    for name in (BIG, HUGE):
        body = POLICY[name]
        c.ok("world: %s is %d bytes, within the %d-byte body limit" % (name, len(body), MAX_BODY),
             len(body) <= MAX_BODY)
        full = bare_answer(name) + tlsrpt_patterns(name) + policy_strings(name)
        c.ok("world: %s uncapped would be %d bytes, over %d" % (name, len(full), MAX_REPLY),
             len(full) > MAX_REPLY)
        status, _, got = w.https_get(name)
        c.eq("world: https %s serves the policy" % name, (200, True), (status, got == body))
    c.ok("world: limits-big.test without policy_string fits",
         len(bare_answer(BIG) + tlsrpt_patterns(BIG)) <= MAX_REPLY)
    c.ok("world: limits-huge.test needs mx_host_pattern dropped too",
         len(bare_answer(HUGE) + tlsrpt_patterns(HUGE)) > MAX_REPLY)


def check_raw(c, d):
    """The exact payloads (what goes inside the netstring)."""
    want = {
        ("postfix", BIG): bare_answer(BIG),
        ("tlsrpt", BIG): bare_answer(BIG) + tlsrpt_patterns(BIG),
        ("postfix", HUGE): bare_answer(HUGE),
        ("tlsrpt", HUGE): bare_answer(HUGE),
        ("tlsrpt", SMALL): bare_answer(SMALL) + tlsrpt_patterns(SMALL) + policy_strings(SMALL),
    }
    with SocketmapClient(harness.HOST, d.port, timeout=ZONE_TIMEOUT + 5) as client:
        for (zone, name), expected in want.items():
            got = client.query(zone, name)
            c.ok("payload %s %s: %d bytes, at most %d" % (zone, name, len(got), MAX_REPLY),
                 len(got.encode()) <= MAX_REPLY)
            c.ok("payload %s %s: exact" % (zone, name), got == expected,
                 "expected %d bytes %r... got %d bytes %r...%r"
                 % (len(expected), expected[:80], len(got), got[:80], got[-80:]))


def check_postmap(c, d, workdir):
    """Postfix's own socketmap client reads every answer (no "input exceeds size limit")."""
    pm = Postmap(os.path.join(workdir, "postfix"), harness.HOST, d.port)
    for zone, name, want in (
            ("tlsrpt", BIG, bare_answer(BIG) + tlsrpt_patterns(BIG)),
            ("postfix", BIG, bare_answer(BIG)),
            ("tlsrpt", HUGE, bare_answer(HUGE)),
            ("tlsrpt", SMALL, bare_answer(SMALL) + tlsrpt_patterns(SMALL)
             + policy_strings(SMALL))):
        r = pm.query(name, zone)
        c.ok("postmap %s %s: found, starts 'secure match=' and ends as expected" % (zone, name),
             r.kind == "found" and r.value.startswith("secure match=")
             and r.value == want[len("OK "):],
             "got %r (%d bytes)" % (r, len(r.value)))
        c.ok("postmap %s %s: no 'input exceeds size limit'" % (zone, name),
             "exceeds size limit" not in r.stderr, r.stderr[-300:])
    # A key ending in an ideographic full stop is the name with a trailing dot (UTS #46).
    for zone, key in (("postfix", SMALL + IDEOGRAPHIC_FULL_STOP),
                      ("tlsrpt", "Limits-Small" + IDEOGRAPHIC_FULL_STOP + "TEST"
                       + IDEOGRAPHIC_FULL_STOP)):
        r = pm.query(key, zone)
        want = pm.query(SMALL, zone)
        c.ok("postmap %s %r: the answer of %s" % (zone, key, SMALL),
             r.kind == "found" and r.value == want.value, "got %r want %r" % (r, want))


def cap_lines(d, domain):
    return [line for line in d.log_text().splitlines()
            if domain in line and "dropped" in line]


def check_cap_log(c, d):
    """One log line per capped answer, naming the domain and what was dropped."""
    for _ in range(5):
        d.query(BIG, "tlsrpt")
        d.query(HUGE, "tlsrpt")
    big = cap_lines(d, BIG)
    huge = cap_lines(d, HUGE)
    c.ok("cap log: one line for %s, naming policy_string" % BIG,
         len(big) == 1 and "policy_string" in big[0], repr(big[:3]))
    c.ok("cap log: one line for %s, naming mx_host_pattern" % HUGE,
         len(huge) == 1 and "mx_host_pattern" in huge[0], repr(huge[:3]))
    c.eq("cap log: nothing for %s" % SMALL, [], cap_lines(d, SMALL))


def check_key_log(c, d):
    """Invalid keys cannot forge log lines; a burst gives a bounded number of warnings."""
    forged = "mta-stsd: FORGED-LINE accepted"
    keys = [b"evil\n" + forged.encode() + b".test", b"evil\r" + forged.encode() + b".test",
            b"\x1b[31mred-escape_.test", b"bad\xff\xfeutf8_.test"]
    with SocketmapClient(harness.HOST, d.port) as client:
        for key in keys:
            client.query("postfix", key)
    d.query(SMALL)  # a line after them, so the log has been written
    text = d.log_text()
    lines = text.splitlines()
    c.ok("key log: no line begins with the forged text",
         not any(line.startswith(forged) or line.startswith("\r" + forged) for line in lines)
         and not any(forged in line and "evil" not in line for line in lines),
         repr([line for line in lines if forged in line][:3]))
    c.ok("key log: no ESC octet in the log", "\x1b" not in text)
    c.ok("key log: the LF is shown escaped", "evil\\x0a" in text,
         repr([line for line in lines if "evil" in line][:3]))

    burst = 2000
    payload = b"".join(netstring(b"postfix zz-invalid-key-%d_.test" % i) for i in range(burst))
    with SocketmapClient(harness.HOST, d.port, timeout=30) as client:
        client.send_raw(payload)
        replies = [client.read_reply() for _ in range(burst)]
    c.eq("key burst: every invalid key answered NOTFOUND", [harness.NOTFOUND] * burst, replies)
    d.query(SMALL)
    warned = [line for line in d.log_text().splitlines() if "zz-invalid-key-" in line]
    c.ok("key burst: %d invalid keys give at most 50 log lines" % burst, len(warned) <= 50,
         "%d lines" % len(warned))


def body(run):
    c, args = run.checks, run.args
    w = build_world(args.workdir, procs.free_address(HTTPS_ADDRESSES, 443))
    run.on_exit(w.stop, w.logs)
    w.start()
    print("# world: DNS %s:%d, policy hosts %s:443" % (w.dns_addr, w.dns_port, w.https_addr),
          flush=True)
    check_world(c, w)
    d = Daemon(args.daemon, args.workdir, w)
    if not c.ok("daemon starts", d.start(), procs.log_tail(d.log)):
        return
    check_raw(c, d)
    check_postmap(c, d, args.workdir)
    check_cap_log(c, d)
    check_key_log(c, d)
    c.ok("the daemon is still running", d.proc.poll() is None)
    c.eq("SIGTERM: exit 0", 0, d.stop())


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "answer limits", OVERALL_LIMIT, body))

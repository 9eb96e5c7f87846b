#!/usr/bin/python3
"""End-to-end tests of DANE (RFC 7672) next to MTA-STS, through a real validating resolver.

    /usr/bin/python3 tests/e2e/run_dane.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/dane

The world (dnssec_world.py): nsd serves the signed zone test. and its children (insecure.test
without DS, bogus.test with a DS of another key, stale.test made bogus mid-run), unbound
validates with a trust anchor for test., nginx serves the MTA-STS policies. Daemons use
unbound as their resolver (one uses nsd itself: DANE must then be inert); Postfix's own
`postmap -q` asks, and a raw socketmap client checks the exact payload.
Checks: dane-only / dane / none levels and how they combine with MTA-STS policies,
insecure and bogus zones, implicit MX, "[host]:port" keys, null MX, a stale DANE result
used while its zone is bogus, dane.on_failure: sts, `mta-stsctl stats` and `resolve --json`.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.60:443), nsd, unbound, ldnsutils, nginx, postfix, openssl, dig.
"""
import json
import re
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from dnssec_world import DnssecWorld, sts_policy  # noqa: E402
from harness import ctl  # noqa: E402
from postfix import Postmap  # noqa: E402

OVERALL_LIMIT = 240      # seconds; CTest gives the whole test 900, the issue asks for < 5 min
ZONE_TIMEOUT = 4.0
# 127.0.0.60-69 belong to this runner: nginx .60, the world's unsigned nsd .61 (stopped),
# signed nsd .62, unbound .63, the daemons .64, MX hosts' A records .65 (nothing listens).
HOST = "127.0.0.64"
SHORT_TTL = 2            # dane.max_ttl of the daemons that let DANE results expire mid-run

DANE_ONLY, DANE, NOTFOUND, TEMP = "OK dane-only", "OK dane", "NOTFOUND ", "TEMP "


def tlsa_text(rdata):
    """"U S M hex" in one piece, lower case (dig splits long hex into groups)."""
    f = rdata.split()
    return " ".join(f[:3] + ["".join(f[3:]).lower()])


def secure(match):
    return "OK secure match=%s servername=hostname" % match


# ----- the world ----------------------------------------------------------------------
def build_world(workdir):
    w = DnssecWorld(workdir)
    w.add_zone("insecure.test", "insecure")
    w.add_zone("bogus.test", "bogus")
    w.add_zone("stale.test", "secure")
    usable = w.tlsa(3, 1, 1)

    def host(name, *tlsa, port=25):
        w.add(name, "A", w.mx_addr)
        for rdata in tlsa:
            w.add("_%d._tcp.%s" % (port, name), "TLSA", rdata)

    # Signed zone test.
    w.add_mx("all.test", "mx1.all.test", "mx2.all.test")
    host("mx1.all.test", usable)
    host("mx2.all.test", w.tlsa(2, 0, 1, "k2"), w.tlsa(3, 1, 2, "k3"))
    w.add_mx("some.test", "mx1.some.test", "mx2.some.test")
    host("mx1.some.test", usable)
    w.add_mx("unusable.test", "mx.unusable.test")
    host("mx.unusable.test", w.tlsa(1, 1, 1), w.tlsa(0, 0, 1, "k2"))
    w.add_mx("badlen.test", "mx.badlen.test")  # right usages, wrong digest lengths
    host("mx.badlen.test", "3 1 1 " + "ab" * 16, "2 0 2 " + "cd" * 32)
    w.add_mx("nodane.test", "mx.nodane.test")
    w.add_mx("sts.test", "mail.sts.test")
    w.add_sts("sts.test", "enforce", ["mail.sts.test"])
    w.add_mx("danests.test", "mail.danests.test")
    host("mail.danests.test", usable)
    w.add_sts("danests.test", "enforce", ["mail.danests.test"])
    for name, mode in (("partsts.test", "enforce"), ("parttesting.test", "testing")):
        w.add_mx(name, "mx1." + name, "mx2." + name)
        host("mx1." + name, usable)
        w.add_sts(name, mode, ["*." + name])
    w.add_mx("halfbogus.test", "mx.halfbogus.test", "mx.bogus.test")
    host("mx.halfbogus.test", usable)
    w.add_mx("allbogus.test", "mx.bogus.test")
    for name, mode in (("brokenmx.test", "enforce"), ("brokentest.test", "testing")):
        w.add_mx(name, "mail." + name)
        host("mail." + name, usable)
        w.tamper(name, "MX")  # MX answers SERVFAIL; the MTA-STS names stay secure
        w.add_sts(name, mode, ["mail." + name])
    host("implicit.test", usable)                  # no MX: the domain is its own MX
    host("relay.test", usable, port=587)           # only _587._tcp
    host("relay25.test", usable)
    w.add("nullmx.test", "MX", "0 .")              # RFC 7505: no mail at all
    host("nullmx.test", usable)
    # Unsigned child insecure.test.: TLSA records there are not DNSSEC-validated.
    w.add_mx("plain.insecure.test", "mx.plain.insecure.test")
    host("mx.plain.insecure.test", usable)
    w.add_mx("sts.insecure.test", "mx.sts.insecure.test")
    host("mx.sts.insecure.test", usable)
    w.add_sts("sts.insecure.test", "enforce", ["mx.sts.insecure.test"])
    w.add_mx("mxout.insecure.test", "mx1.all.test")  # insecure MX, secure TLSA
    # bogus.test.: its DS matches no key.
    w.add_mx("bogus.test", "mx.bogus.test")
    host("mx.bogus.test", usable)
    # stale.test.: secure until make_bogus().
    w.add_mx("stale.test", "mx.stale.test")
    host("mx.stale.test", w.tlsa(3, 1, 2, "k2"))
    return w


def check_world(c, w):
    """What unbound (and nsd itself) must say, before any daemon is asked."""
    cases = [("all.test", "MX", "secure"), ("_25._tcp.mx1.all.test", "TLSA", "secure"),
             ("_mta-sts.sts.test", "TXT", "secure"), ("mta-sts.sts.test", "A", "secure"),
             ("plain.insecure.test", "MX", "insecure"),
             ("_25._tcp.mx.plain.insecure.test", "TLSA", "insecure"),
             ("_mta-sts.sts.insecure.test", "TXT", "insecure"),
             ("bogus.test", "MX", "bogus"), ("_25._tcp.mx.bogus.test", "TLSA", "bogus"),
             ("brokenmx.test", "MX", "bogus"), ("_mta-sts.brokenmx.test", "TXT", "secure"),
             ("stale.test", "MX", "secure"), ("implicit.test", "MX", "secure")]
    for name, rtype, want in cases:
        problem = w.check(name, rtype, want)
        c.ok("world: dig +dnssec %s %s is %s" % (name, rtype, want), problem is None, problem)
    got = w.dig("_25._tcp.mx1.all.test", "TLSA")
    c.eq("world: TLSA of mx1.all.test through unbound", [w.tlsa(3, 1, 1)],
         [tlsa_text(r) for r in got.rdata("TLSA")])
    direct = w.dig("all.test", "MX", via="nsd")
    c.ok("world: nsd answers MX all.test with RRSIG and without AD",
         direct.status == "NOERROR" and not direct.ad and bool(direct.rdata("RRSIG")),
         repr(direct))


# ----- daemons ------------------------------------------------------------------------
class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, name, world, *, dane="{}", nameserver=None,
                 zones="", cache="{type: internal}"):
        super().__init__(binary, workdir, name, HOST, control=True,
                         query_timeout=ZONE_TIMEOUT + 10)
        self.write_config(f"""\
cache: {cache}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
{zones}proactive_policy_fetching: {{enabled: false}}
dane: {dane}
""", nameserver or world.resolver, world.ca_file)
        self.postmap = Postmap(os.path.join(workdir, "postfix"), HOST, self.port)


def postmap_fits(result, want):
    """Whether Postfix's reading of a reply is what the payload want means to it."""
    if want.startswith("OK "):
        return result.kind == "found" and result.value == want[len("OK "):]
    if want == NOTFOUND:
        return result.kind == "notfound" and result.stdout == ""
    if want == TEMP:
        return result.kind == "error" and "temporary error" in result.stderr
    return False


def expect(c, d, key, want, what, name="postfix"):
    """postmap -q KEY (Postfix's own socketmap client), then the exact payload."""
    pm = d.postmap.query(key, name)
    got = d.query(key, name)
    return c.ok("%s %s %r: %r (%s)" % (d.name, name, key, want, what),
                postmap_fits(pm, want) and got == want,
                "payload %r, postmap %r" % (got, pm))


def stats_dane(c, ctl_bin, d):
    r = ctl(ctl_bin, "stats", "--json", "--control", d.control)
    try:
        return json.loads(r.stdout).get("dane")
    except ValueError:
        c.ok("%s: mta-stsctl stats --json is JSON" % d.name, False, "%r %r" % (r.stdout, r.stderr))
        return None


# ----- the checks ---------------------------------------------------------------------
MAIN_CASES = [
    ("all.test", DANE_ONLY, "every MX host has usable secure TLSA"),
    ("some.test", DANE, "one of two MX hosts has TLSA"),
    ("unusable.test", DANE, "TLSA usages 0 and 1 only: unusable"),
    ("badlen.test", DANE, "digests of the wrong length: unusable"),
    ("nodane.test", NOTFOUND, "signed, no TLSA, no MTA-STS"),
    ("sts.test", secure("mail.sts.test"), "signed, no TLSA, MTA-STS enforce"),
    ("danests.test", DANE_ONLY, "all usable DANE wins over MTA-STS enforce"),
    ("partsts.test", secure(".partsts.test"), "partial DANE + MTA-STS enforce: STS"),
    ("parttesting.test", DANE, "partial DANE + MTA-STS testing"),
    ("plain.insecure.test", NOTFOUND, "insecure zone: unsigned TLSA ignored"),
    ("sts.insecure.test", secure("mx.sts.insecure.test"),
     "insecure zone, unsigned TLSA ignored, MTA-STS enforce"),
    ("mxout.insecure.test", DANE, "insecure MX pointing at a host with secure TLSA"),
    ("bogus.test", TEMP, "bogus zone, nothing cached"),
    ("allbogus.test", TEMP, "the only MX host's TLSA lookup fails"),
    ("halfbogus.test", DANE, "one MX host's TLSA lookup fails, the other has TLSA"),
    ("brokentest.test", TEMP, "bogus MX RRset, MTA-STS testing, on_failure temp"),
    ("implicit.test", DANE_ONLY, "no MX: TLSA at _25._tcp.DOMAIN (implicit MX)"),
    ("relay.test", NOTFOUND, "implicit MX without _25 TLSA"),
    ("[relay.test]:587", DANE_ONLY, "next hop [host]:587, TLSA at _587._tcp.host"),
    ("[relay25.test]", DANE_ONLY, "next hop [host], TLSA at _25._tcp.host"),
    ("nullmx.test", NOTFOUND, "null MX: no DANE even with TLSA at the domain"),
]


# Through nsd nothing carries AD: every answer is the plain MTA-STS one.
INERT_CASES = [(key, NOTFOUND, "TLSA without AD ignored") for key in (
    "all.test", "some.test", "unusable.test", "nodane.test", "implicit.test", "[relay25.test]",
    "[relay.test]:587", "halfbogus.test", "mxout.insecure.test", "parttesting.test")] + [
    ("bogus.test", NOTFOUND, "nsd does not validate: no TEMP"),
    ("brokentest.test", NOTFOUND, "nsd does not validate: no TEMP"),
    ("danests.test", secure("mail.danests.test"), "MTA-STS answers"),
    ("sts.test", secure("mail.sts.test"), "MTA-STS answers"),
    ("partsts.test", secure(".partsts.test"), "MTA-STS answers"),
    ("brokenmx.test", secure("mail.brokenmx.test"), "MTA-STS answers"),
]


def test_main(c, w, binary, ctl_bin, workdir):
    d = Daemon(binary, workdir, "main", w, dane="{on_failure: temp}",
               zones="zones:\n  tlsrpt: {tlsrpt: true}\n")
    try:
        if not c.ok("main: daemon starts", d.start(), procs.log_tail(d.log)):
            return
        c.eq("main: stats before any query: dane unknown", "unknown", stats_dane(c, ctl_bin, d))
        for key, want, what in MAIN_CASES:
            expect(c, d, key, want, what)
        expect(c, d, "all.test", DANE_ONLY, "DANE answers carry no TLSRPT attributes", "tlsrpt")
        expect(c, d, "sts.test",
               S.ok_answer(["mail.sts.test"], "sts.test", "tlsrpt",
                           sts_policy("enforce", ["mail.sts.test"]), ["mail.sts.test"]),
               "the tlsrpt zone itself works", "tlsrpt")
        c.eq("main: stats dane active", "active", stats_dane(c, ctl_bin, d))
        c.ok("main: no 'DANE is inert' warning", "DANE is inert" not in d.log_text())
        test_resolve(c, w, ctl_bin, d)
        r = ctl(ctl_bin, "show", "all.test", "--control", d.control)
        c.ok("main: mta-stsctl show all.test (no policy): its cached DANE result",
             "not cached" in r.stdout and any(line.split()[:2] == ["dane", "dane-only"]
                                              for line in r.stdout.splitlines() if line.strip()),
             r.stdout + r.stderr)
        r = ctl(ctl_bin, "show", "partsts.test", "--control", d.control)
        c.ok("main: mta-stsctl show partsts.test: the policy and its DANE result",
             "mode     enforce" in r.stdout and any(
                 line.split()[:2] == ["dane", "dane"] for line in r.stdout.splitlines()
                 if line.strip()), r.stdout + r.stderr)
        test_next_hop_admin(c, ctl_bin, d)
        c.eq("main: SIGTERM exit code", 0, d.stop())
    finally:
        d.stop()


def dane_levels(text):
    """The level on each 'dane LEVEL ...' line of mta-stsctl show's output."""
    return [line.split()[1] for line in text.splitlines()
            if len(line.split()) >= 2 and line.split()[0] == "dane"]


def test_next_hop_admin(c, ctl_bin, d):
    """show and purge address a next hop's DANE result by the key Postfix sends."""
    r = ctl(ctl_bin, "show", "[relay.test]:587", "--control", d.control)
    c.eq("main: mta-stsctl show [relay.test]:587: the next hop's DANE result",
         ["dane-only"], dane_levels(r.stdout))
    r = ctl(ctl_bin, "show", "relay.test", "--control", d.control)
    c.ok("main: mta-stsctl show relay.test: not the [relay.test]:587 result",
         "dane-only" not in dane_levels(r.stdout), r.stdout)
    r = ctl(ctl_bin, "purge", "[relay.test]:587", "--control", d.control)
    c.ok("main: mta-stsctl purge [relay.test]:587", r.returncode == 0 and "purged" in r.stdout,
         r.stdout + r.stderr)
    r = ctl(ctl_bin, "show", "[relay.test]:587", "--control", d.control)
    c.eq("main: after purge, no DANE result for [relay.test]:587", [], dane_levels(r.stdout))
    expect(c, d, "[relay.test]:587", DANE_ONLY, "looked up again after purge", "postfix")


def test_resolve(c, w, ctl_bin, d):
    r = ctl(ctl_bin, "resolve", "all.test", "-c", d.config, "--json")
    try:
        dane = json.loads(r.stdout).get("dane") or {}
    except ValueError:
        c.ok("resolve --json all.test: JSON", False, "%r %r" % (r.stdout[-400:], r.stderr))
        return
    hosts = {h.get("host", "").rstrip("."): h for h in dane.get("hosts", [])}
    c.eq("resolve --json all.test: level, mx_secure",
         ("dane-only", True), (dane.get("level"), dane.get("mx_secure")))
    c.eq("resolve --json all.test: both MX hosts usable",
         {"mx1.all.test": "usable", "mx2.all.test": "usable"},
         {k: h.get("tlsa") for k, h in hosts.items()})
    records = [tlsa_text(x) for x in hosts.get("mx1.all.test", {}).get("records", [])]
    c.eq("resolve --json all.test: mx1's TLSA records", [w.tlsa(3, 1, 1)], records)
    for domain, level, tlsa in (("plain.insecure.test", "none", "insecure"),
                                ("bogus.test", "temp", None)):
        r = ctl(ctl_bin, "resolve", domain, "-c", d.config, "--json")
        try:
            dane = json.loads(r.stdout).get("dane") or {}
        except ValueError:
            dane = {"unparsed": r.stdout[-300:]}
        got = (dane.get("level"), [h.get("tlsa") for h in dane.get("hosts", [])] if tlsa else None)
        c.eq("resolve --json %s: dane level %s" % (domain, level),
             (level, [tlsa] if tlsa else None), got)
    r = ctl(ctl_bin, "resolve", "all.test", "-c", d.config)
    lines = r.stdout.splitlines()
    words = [line.replace(":", " ").split() for line in lines]
    c.ok("resolve all.test (text): a 'dane: dane-only' line, each MX host secure and usable",
         any(line[:2] == ["dane", "dane-only"] for line in words)
         and all(any(h in line and "secure" in line and "usable" in line for line in words)
                 for h in ("mx1.all.test", "mx2.all.test")),
         r.stdout[-800:] + r.stderr[-300:])


def test_inert(c, w, binary, ctl_bin, workdir):
    """Straight at nsd: nothing is validated, so AD is never set and DANE does nothing."""
    d = Daemon(binary, workdir, "inert", w, nameserver=w.nsd)
    try:
        if not c.ok("inert: daemon starts", d.start(), procs.log_tail(d.log)):
            return
        # More destinations than the daemon's "no AD seen yet" allowance before it warns.
        for key, want, what in INERT_CASES:
            expect(c, d, key, want, what)
        c.eq("inert: one 'DANE is inert' warning in the log", 1,
             d.log_text().count("DANE is inert"))
        c.eq("inert: stats dane inert", "inert", stats_dane(c, ctl_bin, d))
        c.eq("inert: SIGTERM exit code", 0, d.stop())
    finally:
        d.stop()


def test_on_failure_sts(c, w, binary, workdir):
    d = Daemon(binary, workdir, "onfail-sts", w, dane="{on_failure: sts}")
    try:
        if not c.ok("onfail-sts: daemon starts", d.start(), procs.log_tail(d.log)):
            return
        expect(c, d, "brokenmx.test", secure("mail.brokenmx.test"),
               "bogus MX RRset, MTA-STS enforce: the STS answer")
        expect(c, d, "brokentest.test", NOTFOUND, "bogus MX RRset, MTA-STS testing")
        expect(c, d, "bogus.test", NOTFOUND, "bogus zone, nothing known")
        expect(c, d, "all.test", DANE_ONLY, "a secure domain still dane-only")
        c.eq("onfail-sts: SIGTERM exit code", 0, d.stop())
    finally:
        d.stop()


def test_persistence(c, w, binary, ctl_bin, workdir):
    """DANE results live in the store next to the policies: after a restart with the
    resolver unreachable, what was learned still answers (never TEMP, never a downgrade
    to the MTA-STS answer)."""
    db = os.path.join(workdir, "dane-cache.db")
    harness.remove(db, db + "-wal", db + "-shm")
    cache = "{type: sqlite, options: {filename: %s}}" % db
    first = Daemon(binary, workdir, "persist", w, cache=cache)
    dead = "127.0.0.65:%d" % procs.free_port("127.0.0.65")  # nothing listens there
    second = Daemon(binary, workdir, "persist-restarted", w, cache=cache, nameserver=dead)
    cases = [("all.test", DANE_ONLY), ("some.test", DANE), ("partsts.test", secure(".partsts.test")),
             ("[relay.test]:587", DANE_ONLY)]
    try:
        if not c.ok("persist: daemon starts", first.start(), procs.log_tail(first.log)):
            return
        for key, want in cases:
            expect(c, first, key, want, "learned through unbound")
        c.eq("persist: SIGTERM exit code", 0, first.stop())
        if not c.ok("persist: restarts with an unreachable resolver", second.start(),
                    procs.log_tail(second.log)):
            return
        loaded = re.search(r"loaded (\d+) cached policies and (\d+) DANE results",
                           second.log_text())
        c.ok("persist: start-up loaded the DANE results from the SQLite file (%s)"
             % (loaded.group(0) if loaded else "no line"),
             loaded is not None and int(loaded.group(2)) >= len(cases))
        for key, want in cases:
            expect(c, second, key, want, "after restart, resolver unreachable: from the store")
        r = ctl(ctl_bin, "stats", "--json", "--control", second.control)
        try:
            stats = json.loads(r.stdout)
        except ValueError:
            stats = {}
        c.ok("persist: stats count the cached DANE results (%r)" % stats.get("dane_cached"),
             (stats.get("dane_cached") or 0) >= len(cases), r.stdout[-300:])
        c.eq("persist: SIGTERM exit code after restart", 0, second.stop())
    finally:
        first.stop()
        second.stop()


def test_stale(c, w, binary, workdir):
    """A DANE result expires after dane.max_ttl; when the zone has turned bogus since, the
    stale result (within stale_ttl) answers, and TEMP once stale_ttl has passed too."""
    keep = Daemon(binary, workdir, "stale", w,
                  dane="{min_ttl: 1, max_ttl: %d, stale_ttl: 3600}" % SHORT_TTL)
    drop = Daemon(binary, workdir, "nostale", w,
                  dane="{min_ttl: 1, max_ttl: %d, stale_ttl: 1}" % SHORT_TTL)
    try:
        if not c.ok("stale: both daemons start", keep.start() and drop.start(),
                    procs.log_tail(keep.log) + procs.log_tail(drop.log)):
            return
        expect(c, keep, "stale.test", DANE_ONLY, "secure zone, learned")
        expect(c, drop, "stale.test", DANE_ONLY, "secure zone, learned")
        # After both answers: on a busy machine a lookup can take seconds, and the
        # wait below must start from the last result learned, not the first query.
        learned = time.monotonic()
        w.make_bogus("stale.test")
        c.ok("stale: world: stale.test MX now bogus", w.check("stale.test", "MX") is None,
             w.check("stale.test", "MX"))
        # Past max_ttl + stale_ttl of "nostale" (whole seconds: one more for rounding).
        time.sleep(max(0.0, learned + SHORT_TTL + 1 + 1.5 - time.monotonic()))
        expect(c, keep, "stale.test", DANE_ONLY, "zone bogus now, stale result used")
        expect(c, drop, "stale.test", TEMP, "zone bogus now, stale_ttl 1 s passed")
        for d in (keep, drop):
            c.eq("%s: SIGTERM exit code" % d.name, 0, d.stop())
    finally:
        keep.stop()
        drop.stop()


def body(run):
    c, args = run.checks, run.args
    w = build_world(args.workdir)
    run.on_exit(w.stop, w.logs)
    w.start()
    print("# world: unbound %s (validating), nsd %s, policy hosts %s:443"
          % (w.resolver, w.nsd, w.https_addr), flush=True)
    check_world(c, w)
    test_main(c, w, args.daemon, args.ctl, args.workdir)
    test_inert(c, w, args.daemon, args.ctl, args.workdir)
    test_on_failure_sts(c, w, args.daemon, args.workdir)
    test_persistence(c, w, args.daemon, args.ctl, args.workdir)
    test_stale(c, w, args.daemon, args.workdir)  # last: it makes stale.test bogus


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "DANE", OVERALL_LIMIT, body))

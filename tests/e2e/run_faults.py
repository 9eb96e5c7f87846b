#!/usr/bin/python3
"""End-to-end fault injection: hostile DNS servers and policy hosts against the real daemon.

    /usr/bin/python3 tests/e2e/run_faults.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/faults

The good parts are real (nsd and nginx of world.py); the misbehaviour comes from small
Python servers: hostile_dns.py is the daemon's only nameserver (it forwards every name
without a rule to nsd), hostile_https.py serves the policy hosts that misbehave.

Every fault is tried on two domains at once:
  warm-F.test  its enforce policy was learned through the good path first; then the fault
               is switched on (its TXT record gets a new id, or the TXT lookup itself
               fails, so the revalidation that cache_grace: 0 starts on every query meets
               the fault). It must keep getting exactly the cached answer, at once: a
               NOTFOUND would be a silent downgrade (RFC 8461 3.3, 10.2).
  cold-F.test  nothing cached: "NOTFOUND " within the zone timeout plus a margin (Postfix
               waits 100 s for a socketmap reply).
and the daemon's log must name the failure once, however many queries follow.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (policy hosts on 127.0.0.70-75:443), nsd, nginx, openssl, dig.
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import hostile_dns as D  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from harness import NOTFOUND  # noqa: E402
from hostile_https import CertSet, HostileHTTPS  # noqa: E402
from scenarios import enforce_answer  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 230      # seconds: CTest's e2e runners must finish in under 4 minutes
ZONE_TIMEOUT = 3.0       # default_zone.timeout: a cold query's whole budget
MARGIN = 1.5             # seconds allowed on top of it (event loop, Python client)
FAILURE_LOGGED_WITHIN = 15.0
REPEATS = 4              # queries after the failure was logged; still one log line

WORLD_ADDR = "127.0.0.70"      # nsd (free port) and nginx (443): the good path
DNS_ADDR = "127.0.0.71"        # hostile DNS (free port), the daemon's only nameserver
HOSTILE_ADDR = "127.0.0.72"    # hostile policy hosts, behaviour chosen by SNI
OLD_TLS_ADDR = "127.0.0.73"    # TLS 1.0 and 1.1 only
SLOW_TLS_ADDR = "127.0.0.74"   # waits 10 s before the TLS handshake
REFUSED_ADDR = "127.0.0.75"    # nothing listens on port 443
DAEMON_ADDR = "127.0.0.76"

NEW_ID = "v=STSv1; id=20250505T050505"


class Fault:
    """layer "dns": rule on _mta-sts.DOMAIN's TXT lookup; layer "https": the TXT record
    gets NEW_ID and mta-sts.DOMAIN resolves to addr, where behaviour is served."""

    def __init__(self, name, layer, reason, *, rule=None, addr=None, behaviour=None,
                 extra=None, cold_answer=None, warm_learns=None):
        self.name = name
        self.layer = layer
        self.reason = reason  # regex the logged failure must match
        self.rule = rule
        self.addr = addr
        self.behaviour = behaviour
        self.extra = extra  # callable(dns, domain, warm) for rules beyond the TXT one
        self.cold_answer = cold_answer  # None: NOTFOUND; else the expected OK answer
        self.warm_learns = warm_learns  # a fault the daemon must get through (TC)
        self.warm = "warm-%s.test" % name
        self.cold = "cold-%s.test" % name


TLSA_FAIL_STS, TLSA_FAIL_PLAIN = "tlsa-fail.test", "tlsa-fail-plain.test"


def cname_loop(dns, domain, warm):
    """_mta-sts.DOMAIN -> loop.DOMAIN -> _mta-sts.DOMAIN, one CNAME per answer, so the
    daemon asks again for each target. The cold domain's loop is in nsd's zone."""
    if not warm:
        return
    first, second = "_mta-sts." + domain, "_mta-sts.loop." + domain
    dns.set_rule(first, D.ANY_TYPE, D.cname(second))
    dns.set_rule(second, D.ANY_TYPE, D.cname(first))


def cname_chain(dns, domain, warm):
    """_mta-sts.DOMAIN -> 1.chain.DOMAIN -> 2.chain.DOMAIN -> ... without end."""
    zone = "chain." + domain
    dns.set_rule("_mta-sts." + domain, D.ANY_TYPE, D.cname_chain(zone))
    dns.set_suffix_rule(zone, D.ANY_TYPE, D.cname_chain(zone))


def a_servfail(dns, domain, warm):
    dns.set_rule("_mta-sts." + domain, D.TXT, D.txt(NEW_ID))
    dns.set_rule("mta-sts." + domain, D.ANY_TYPE, D.rcode(D.SERVFAIL))


FAULTS = [
    # ----- DNS ------------------------------------------------------------------------
    Fault("dns-timeout", "dns", r"TXT lookup of _mta-sts\.\S+ failed: timeout", rule=D.drop()),
    Fault("dns-servfail", "dns", r"TXT lookup of _mta-sts\.\S+ failed: SERVFAIL",
          rule=D.rcode(D.SERVFAIL)),
    Fault("dns-refused", "dns", r"TXT lookup of _mta-sts\.\S+ failed: REFUSED",
          rule=D.rcode(D.REFUSED)),
    # 60 KB over UDP, far past the 1232 bytes the daemon offers: c-ares takes it whole,
    # and none of its 240 TXT records is an STSv1 one.
    Fault("dns-huge", "dns", r"(TXT lookup of _mta-sts\.\S+ failed: (malformed|truncated)|"
          r"unusable TXT record at _mta-sts\.\S+: no STSv1 record)", rule=D.huge()),
    Fault("dns-truncated-tcp", "dns", r"TXT lookup of _mta-sts\.\S+ failed: truncated answer",
          rule=D.always_truncated()),
    Fault("dns-garbage", "dns", r"TXT lookup of _mta-sts\.\S+ failed: (malformed|timeout)",
          rule=D.garbage()),
    Fault("dns-wrong-id", "dns", r"TXT lookup of _mta-sts\.\S+ failed: timeout",
          rule=D.wrong_id(D.txt(NEW_ID))),
    Fault("dns-pointer-loop", "dns", r"TXT lookup of _mta-sts\.\S+ failed: malformed answer",
          rule=D.pointer_loop()),
    Fault("dns-pointer-range", "dns", r"TXT lookup of _mta-sts\.\S+ failed: malformed answer",
          rule=D.pointer_out_of_range()),
    Fault("dns-cname-loop", "dns", r"TXT lookup of _mta-sts\.\S+ failed: CNAME loop",
          extra=cname_loop),
    Fault("dns-cname-chain", "dns", r"TXT lookup of _mta-sts\.\S+ failed: CNAME chain too long",
          extra=cname_chain),
    # A TXT record for another name, with a new id: never taken for the question's.
    Fault("dns-foreign-owner", "dns", r"no TXT record at _mta-sts\.",
          rule=D.foreign_owner("_mta-sts.attacker.test", NEW_ID)),
    Fault("dns-a-servfail", "dns", r"cannot resolve policy host mta-sts\.\S+: .*SERVFAIL",
          extra=a_servfail),
    # TC over UDP: the daemon must retry over TCP and succeed, cold and warm.
    Fault("dns-truncated", "dns", None, cold_answer=True, warm_learns="20250606T060606",
          rule=D.truncate_udp()),
    # ----- HTTPS ----------------------------------------------------------------------
    Fault("https-refused", "https", r"connect to 127\.0\.0\.75:443 failed: Connection refused",
          addr=REFUSED_ADDR),
    Fault("https-reset", "https",
          r"fetching https://\S+ failed: fetch failed: .*(reset|Recv|transfer closed with|unexpected eof)",
          addr=HOSTILE_ADDR, behaviour="reset_mid_body"),
    Fault("https-hangup", "https", r"fetching https://\S+ failed: fetch failed: (Empty reply|.*unexpected eof)",
          addr=HOSTILE_ADDR, behaviour="hangup"),
    Fault("https-not-http", "https", r"fetching https://\S+ failed: fetch failed: ",
          addr=HOSTILE_ADDR, behaviour="not_http"),
    Fault("https-drip", "https", r"fetching https://\S+ failed: timeout after 3000 ms",
          addr=HOSTILE_ADDR, behaviour="drip"),
    Fault("https-endless-headers", "https", r"fetching https://\S+ failed: headers too large",
          addr=HOSTILE_ADDR, behaviour="endless_headers"),
    Fault("https-endless-100", "https", r"fetching https://\S+ failed: headers too large",
          addr=HOSTILE_ADDR, behaviour="endless_100"),
    Fault("https-big-length", "https", r"fetching https://\S+ failed: body exceeds 65536 bytes",
          addr=HOSTILE_ADDR, behaviour="big_length"),
    Fault("https-chunked-big", "https",
          r"fetching https://\S+ failed: body exceeds 65536 bytes",
          addr=HOSTILE_ADDR, behaviour="chunked_big"),
    Fault("https-old-tls", "https", r"fetching https://\S+ failed: TLS handshake failed",
          addr=OLD_TLS_ADDR, behaviour="ok"),
    Fault("https-expired", "https",
          r"fetching https://\S+ failed: TLS certificate verification failed: .*expired",
          addr=HOSTILE_ADDR, behaviour="expired"),
    Fault("https-self-signed", "https",
          r"fetching https://\S+ failed: TLS certificate verification failed: .*self.signed",
          addr=HOSTILE_ADDR, behaviour="selfsigned"),
    Fault("https-wrong-name", "https",
          r"fetching https://\S+ failed: .*(subject name|does not match|no alternative)",
          addr=HOSTILE_ADDR, behaviour="wrongname"),
    Fault("https-redirect-loop", "https", r"fetching https://\S+ failed: HTTP status 301",
          addr=HOSTILE_ADDR, behaviour="redirect_loop"),
    Fault("https-slow-handshake", "https", r"fetching https://\S+ failed: timeout after 3000 ms",
          addr=SLOW_TLS_ADDR, behaviour="ok"),
]


def build_world(workdir):
    w = World(workdir, dns_addr=WORLD_ADDR, https_addr=WORLD_ADDR)
    for f in FAULTS:
        w.add_domain(f.warm, txt=[S.ID], policy=S.policy(mx=["mail." + f.warm]))
        if f.name == "dns-cname-loop":
            # The cold one loops in nsd's own zone: the whole loop in one real answer.
            w.add_domain(f.cold, policy=S.policy(mx=["mail." + f.cold]), extra_records=(
                "_mta-sts.%s. 300 IN CNAME _mta-sts.loop.%s." % (f.cold, f.cold),
                "_mta-sts.loop.%s. 300 IN CNAME _mta-sts.%s." % (f.cold, f.cold)))
        else:
            w.add_domain(f.cold, txt=[S.ID], policy=S.policy(mx=["mail." + f.cold]),
                         https_addr=f.addr)
    w.add_domain(TLSA_FAIL_STS, txt=[S.ID], policy=S.policy(mx=["mail." + TLSA_FAIL_STS]))
    w.add_domain(TLSA_FAIL_PLAIN)
    return w


def check_tlsa_failures(c, d, dns):
    """DANE is on by default. A server that fails TLSA queries for an unsigned domain (some
    do) must not turn its mail into TEMP: as in Postfix, TLSA only counts for hosts whose
    address records are DNSSEC-secure (RFC 7672 2.2.2), and these are not."""
    for domain in (TLSA_FAIL_STS, TLSA_FAIL_PLAIN):
        dns.set_rule("_25._tcp.mail." + domain, D.ANY_TYPE, D.rcode(D.SERVFAIL))
    for domain, want in ((TLSA_FAIL_STS, enforce_answer(TLSA_FAIL_STS)),
                         (TLSA_FAIL_PLAIN, NOTFOUND)):
        got, took = d.timed_query(domain)
        c.eq("TLSA lookups SERVFAIL for unsigned %s: MTA-STS answers, no TEMP (%.2f s)"
             % (domain, took), want, got)
    asked = sum(n for (qn, _, _), n in dict(dns.seen).items()
                if qn.rstrip(".").lower() == "_25._tcp.mail." + TLSA_FAIL_STS)
    c.ok("... and the hostile DNS was asked for the TLSA records (%d queries)" % asked,
         asked > 0, "no TLSA query seen")


def switch_on(dns, f, domain, warm):
    """The fault for domain; warm: after its policy was learned through the good path."""
    if f.layer == "dns":
        if f.rule is not None:
            dns.set_rule("_mta-sts." + domain, D.TXT, f.rule)
        if f.extra is not None:
            f.extra(dns, domain, warm)
        if warm and f.warm_learns:
            # TC over UDP, and over TCP a new id: the daemon fetches the policy again.
            dns.set_rule("_mta-sts." + domain, D.TXT,
                         D.truncate_udp(D.txt("v=STSv1; id=" + f.warm_learns)))
    elif warm:
        # The cold domain's A record already points at f.addr in nsd's zone.
        dns.set_rule("_mta-sts." + domain, D.TXT, D.txt(NEW_ID))
        dns.set_rule("mta-sts." + domain, D.ANY_TYPE, D.address(f.addr))


class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, dns_port, ca_file):
        super().__init__(binary, workdir, "faults", DAEMON_ADDR)
        self.write_config(f"""\
cache: {{type: internal, options: {{cache_size: 10000}}}}
cache_grace: 0
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
control_socket: none
limits: {{retry_interval: 300, negative_ttl: 300}}
""", "%s:%d" % (DNS_ADDR, dns_port), ca_file)

    def timed_query(self, key):
        """(answer or "error: ...", seconds)."""
        t0 = time.monotonic()
        got = self.query(key, timeout=ZONE_TIMEOUT + 20)
        return got, time.monotonic() - t0


# ----- one fault -------------------------------------------------------------------------
def try_fault(d, dns, servers, f, out):
    """Runs the checks of fault f; appends (name, cond, detail) to out."""
    def ok(name, cond, detail=""):
        out.append(("%s: %s" % (f.name, name), bool(cond), detail))

    limit = ZONE_TIMEOUT + MARGIN
    want_warm = enforce_answer(f.warm)
    want_cold = enforce_answer(f.cold) if f.cold_answer else NOTFOUND
    switch_on(dns, f, f.warm, warm=True)
    switch_on(dns, f, f.cold, warm=False)

    def seen(want, got, took):
        return "expected %r got %r after %.2f s" % (want, got, took)

    got, took = d.timed_query(f.warm)
    ok("%s answered its cached policy at once (%.2f s)" % (f.warm, took),
       got == want_warm and took <= limit, seen(want_warm, got, took))
    got, took = d.timed_query(f.cold)
    ok("%s answered %r within %g s (%.2f s)" % (f.cold, want_cold, limit, took),
       got == want_cold and took <= limit, seen(want_cold, got, took))

    warm_re = re.escape(f.warm)
    cold_re = re.escape(f.cold)
    if f.warm_learns:
        m = d.wait_log(r"%s: learned policy id=%s" % (warm_re, f.warm_learns),
                       FAILURE_LOGGED_WITHIN)
        ok("%s: new id read over TCP after TC, policy fetched again" % f.warm, m,
           "no 'learned policy id=%s' line" % f.warm_learns)
        for name in ("_mta-sts." + f.warm, "_mta-sts." + f.cold):
            udp, tcp = dns.count(name, D.TXT, "udp"), dns.count(name, D.TXT, "tcp")
            ok("%s asked over UDP (%d) then TCP (%d)" % (name, udp, tcp), udp >= 1 and tcp >= 1)
    else:
        m = d.wait_log(r"%s: refresh failed \(([^\n]*)\); keeping cached mode enforce" % warm_re,
                       FAILURE_LOGGED_WITHIN)
        ok("%s: refresh failure logged, reason matches /%s/" % (f.warm, f.reason),
           m and re.search(f.reason, m.group(1)), "logged: %r" % (m.group(0) if m else None))
        m = d.wait_log(r"%s: no usable MTA-STS policy \(([^\n]*)\); remembered" % cold_re,
                       FAILURE_LOGGED_WITHIN)
        ok("%s: failure logged, reason matches /%s/" % (f.cold, f.reason),
           m and re.search(f.reason, m.group(1)), "logged: %r" % (m.group(0) if m else None))
        check_exercised(dns, servers, f, ok)

    for i in range(REPEATS):
        got, took = d.timed_query(f.warm)
        ok("%s repeat %d: the cached policy (%.2f s)" % (f.warm, i + 1, took),
           got == want_warm and took <= limit, seen(want_warm, got, took))
        got, took = d.timed_query(f.cold)
        ok("%s repeat %d: %r (%.2f s)" % (f.cold, i + 1, want_cold, took),
           got == want_cold and took <= limit, seen(want_cold, got, took))
        time.sleep(0.3)
    if not f.warm_learns:
        time.sleep(0.5)
        text = d.log_text()
        for domain, what in ((f.warm, "refresh failed"), (f.cold, "no usable MTA-STS policy")):
            lines = re.findall(r"%s: %s \(" % (re.escape(domain), what), text)
            ok("%s: '%s' logged once after %d queries (%d)" % (domain, what, REPEATS + 1,
                                                                 len(lines)), len(lines) == 1)


def check_exercised(dns, servers, f, ok):
    """The fault was really met: the hostile server saw the daemon (else the checks above
    could pass for another reason)."""
    if f.layer == "dns":
        for domain in (f.warm, f.cold):
            n = dns.count("_mta-sts." + domain, D.TXT)
            ok("hostile DNS was asked for _mta-sts.%s (%d)" % (domain, n), n >= 1)
        return
    srv = servers.get(f.addr)
    if f.addr == REFUSED_ADDR:
        return  # nothing there to see it; the logged reason is the evidence
    if f.addr in (OLD_TLS_ADDR, SLOW_TLS_ADDR):
        ok("%s accepted the daemon's connections (%d)" % (f.addr, srv.accepted), srv.accepted >= 2)
        return
    if f.behaviour in ("expired", "selfsigned", "wrongname"):
        return  # the handshake fails: no request reaches the server
    for domain in (f.warm, f.cold):
        n = srv.hits("mta-sts." + domain)
        ok("hostile policy host served mta-sts.%s (%d requests)" % (domain, n), n >= 1)


# ----- the world itself ---------------------------------------------------------------
def check_hostiles(c, w, dns, servers):
    """The misbehaving servers misbehave as meant (else the daemon checks mean little)."""
    def dig(name, rtype="TXT", tcp=False):
        argv = ["dig", "@" + DNS_ADDR, "-p", str(dns.port), name, rtype, "+time=1", "+tries=1",
                "+ignore"] + (["+tcp"] if tcp else [])
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout

    f = {x.name: x for x in FAULTS}
    c.ok("hostile DNS forwards to nsd", S.ID in dig("_mta-sts." + f["dns-timeout"].warm))
    dns.set_rule("probe-servfail.test", D.TXT, D.rcode(D.SERVFAIL))
    dns.set_rule("probe-tc.test", D.TXT, D.truncate_udp(D.txt("over tcp")))
    c.ok("hostile DNS: SERVFAIL", "status: SERVFAIL" in dig("probe-servfail.test"))
    udp, tcp = dig("probe-tc.test"), dig("probe-tc.test", tcp=True)
    c.ok("hostile DNS: TC over UDP, the answer over TCP",
         re.search(r"flags:[^;]*\btc\b", udp) and '"over tcp"' in tcp,
         "udp %r tcp %r" % (udp[-300:], tcp[-300:]))
    srv = servers[HOSTILE_ADDR]
    host = "mta-sts.probe.test"
    try:
        status, headers, body = w.https_get("probe.test", addr=HOSTILE_ADDR)
        c.ok("hostile HTTPS: a valid policy with the test CA's certificate",
             status == 200 and body.startswith(b"version: STSv1"), repr((status, body[:60])))
    except (OSError, ValueError, IndexError) as e:
        c.ok("hostile HTTPS: a valid policy with the test CA's certificate", False, repr(e))
    c.ok("hostile HTTPS counts requests per SNI name", srv.hits(host) == 1)
    old = ssl.create_default_context(cafile=w.ca_file)
    try:
        with socket.create_connection((OLD_TLS_ADDR, 443), timeout=5) as raw:
            with old.wrap_socket(raw, server_hostname=host):
                refused = False
    except (ssl.SSLError, OSError):
        refused = True
    c.ok("%s refuses a TLS 1.2+ client" % OLD_TLS_ADDR, refused)
    legacy = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    legacy.load_verify_locations(w.ca_file)
    legacy.set_ciphers("DEFAULT:@SECLEVEL=0")
    legacy.minimum_version = ssl.TLSVersion.TLSv1
    legacy.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        with socket.create_connection((OLD_TLS_ADDR, 443), timeout=5) as raw:
            with legacy.wrap_socket(raw, server_hostname=host) as tls:
                version = tls.version()
    except (ssl.SSLError, OSError) as e:
        version = repr(e)
    c.ok("%s speaks TLS 1.0/1.1 (%s)" % (OLD_TLS_ADDR, version),
         version in ("TLSv1", "TLSv1.1"))
    c.ok("nothing listens on %s:443" % REFUSED_ADDR, procs.tcp_port_free(REFUSED_ADDR, 443))


def start_hostiles(run, w):
    """The hostile DNS server (forwarding to w's nsd) and the hostile policy hosts."""
    dns = D.HostileDNS(DNS_ADDR, procs.free_port(DNS_ADDR), (w.dns_addr, w.dns_port))
    run.on_exit(dns.stop)
    hosts = ["mta-sts." + x for f in FAULTS for x in (f.warm, f.cold)]
    certs = CertSet(os.path.join(run.args.workdir, "hostile-certs"), w,
                    hosts + ["mta-sts.probe.test"])
    routes = {"mta-sts." + x: f.behaviour for f in FAULTS if f.addr == HOSTILE_ADDR
              for x in (f.warm, f.cold)}
    servers = {}

    def stop_servers():
        for srv in servers.values():
            srv.stop()

    run.on_exit(stop_servers)
    servers[HOSTILE_ADDR] = HostileHTTPS(HOSTILE_ADDR, certs, routes)
    servers[OLD_TLS_ADDR] = HostileHTTPS(
        OLD_TLS_ADDR, certs, tls_versions=(ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1))
    servers[SLOW_TLS_ADDR] = HostileHTTPS(SLOW_TLS_ADDR, certs, handshake_delay=10.0)
    return dns, servers


def body(run):
    c, args = run.checks, run.args
    w = build_world(args.workdir)
    run.on_exit(w.stop, w.logs)
    for addr in (WORLD_ADDR, HOSTILE_ADDR, OLD_TLS_ADDR, SLOW_TLS_ADDR, REFUSED_ADDR):
        if not procs.tcp_port_free(addr, 443):
            raise RuntimeError("%s:443 is in use (another test running?)" % addr)
    w.start()
    dns, servers = start_hostiles(run, w)
    print("# world: nsd %s:%d, nginx %s:443; hostile DNS %s:%d; hostile HTTPS %s"
          % (w.dns_addr, w.dns_port, w.https_addr, DNS_ADDR, dns.port,
             ", ".join(sorted(servers))), flush=True)
    check_hostiles(c, w, dns, servers)

    d = Daemon(args.daemon, args.workdir, dns.port, w.ca_file)
    if not c.ok("daemon starts", d.start(), procs.log_tail(d.log)):
        raise RuntimeError("daemon did not start")
    # Learn every warm policy through the good path.
    for f in FAULTS:
        got, _ = d.timed_query(f.warm)
        c.eq("warm-up: %s learned" % f.warm, enforce_answer(f.warm), got)

    results = {f.name: [] for f in FAULTS}
    threads = [threading.Thread(target=try_fault, args=(d, dns, servers, f, results[f.name]),
                                daemon=True) for f in FAULTS]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=OVERALL_LIMIT)
    for f in FAULTS:
        for name, cond, detail in results[f.name]:
            c.ok(name, cond, detail)
        if not results[f.name]:
            c.ok("%s: checks ran" % f.name, False, "no result (harness error)")

    check_tlsa_failures(c, d, dns)
    c.ok("daemon still running after every fault", d.proc.poll() is None,
         "exit status %r" % d.proc.poll())
    c.eq("SIGTERM exit code", 0, d.stop())


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "faults", OVERALL_LIMIT, body))

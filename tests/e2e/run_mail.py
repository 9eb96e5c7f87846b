#!/usr/bin/python3
"""End-to-end test with real mail: a private Postfix sends messages through mta-stsd's answers.

    /usr/bin/python3 tests/e2e/run_mail.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/mail

Issue 12: not only the map's answer, but what Postfix does with it. A private Postfix
instance (its own configuration, queue and log under the workdir; postfix_mta.py) uses
mta-stsd as smtp_tls_policy_maps and delivers to MX hosts played by smtp_sink.py, each
on an address of its own, port 25, switched per scenario: STARTTLS with a certificate for
the MX name from the test CA, no STARTTLS, or a certificate for another name. Each
scenario checks Postfix's own log (status=sent or deferred, and the reason; "Verified
TLS connection established") and what the MX host received (over TLS or not):
  - enforce: delivered over verified TLS; deferred when the MX offers no STARTTLS or shows
    a certificate for another name; with two MX hosts whose first shows a wrong name,
    delivered to the second;
  - enforce with a more preferred MX the policy does not name (a valid certificate for
    its own name): delivered to the one it names; Postfix 3.10 (mx_host_pattern,
    smtp_tls_enforce_sts_mx_patterns) never even connects to the other;
  - testing, none, no policy: delivered even without STARTTLS;
  - mta-stsd stopped: Postfix defers (a map that cannot answer never means plaintext);
  - DANE (a second world: signed zones, a validating unbound on port 53, Postfix with
    smtp_dns_support_level = dnssec): mta-stsd answers dane-only, and Postfix's own TLSA
    check delivers to the MX whose key matches and defers the one whose TLSA names
    another key.
On Postfix 3.10 (the Debian 13 stage) the map is mta-stsd's tlsrpt zone, as
contrib/postfix/main.cf-postfix-3.10 sets it up, so Postfix's real parser reads the TLSRPT
attributes; every domain publishes a TLSRPT record (_smtp._tls), and the events Postfix
sends through libtlsrpt to a datagram socket the test binds (what tlsrpt-collectd would
receive) must carry policy type sts, the domain, the policy's lines and mx patterns, a
success for verified deliveries and the failure type (starttls-not-supported,
certificate-host-mismatch) for the others. Postfix 3.7 gets the default zone.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.120:443, nsd 127.0.0.121:53, the MX hosts port 25, unbound
127.0.0.137:53, unshare and mount for Postfix's resolv.conf), nsd, nginx, openssl, postfix,
unbound, ldnsutils.
"""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from postfix_mta import PostfixMta  # noqa: E402
from smtp_sink import SmtpSink  # noqa: E402
from dnssec_world import DnssecWorld  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 300
ZONE_TIMEOUT = 5.0
HTTPS_ADDR = "127.0.0.120"  # nginx: the policy hosts
DNS_ADDR = "127.0.0.121"    # nsd on port 53: Postfix's resolv.conf can give no port

# domain -> (policy mode or None, {MX name: (preference, address, what the MX offers)}
# [, the policy's mx lines when not every MX]) where the MX offers "tls" (a certificate for
# its name), "wrong" (one for another name) or "plain" (no STARTTLS).
DOMAINS = {
    "enforce.test": ("enforce", {"mail.enforce.test": (10, "127.0.0.122", "tls")}),
    "enforce-plain.test": ("enforce", {"mail.enforce-plain.test": (10, "127.0.0.123", "plain")}),
    "enforce-wrong.test": ("enforce", {"mail.enforce-wrong.test": (10, "127.0.0.124", "wrong")}),
    "enforce-two.test": ("enforce", {"mail.enforce-two.test": (10, "127.0.0.125", "wrong"),
                                     "mail2.enforce-two.test": (20, "127.0.0.126", "tls")}),
    # The policy names only mail.; other. is more preferred, and shows a certificate for
    # its own name. Postfix >= 3.10.5 with mx_host_pattern (tlsrpt zone) never connects
    # to it; older ones connect, fail to verify it against match=, and go on.
    "enforce-mismatch.test": ("enforce", {"other.enforce-mismatch.test": (5, "127.0.0.130", "tls"),
                                          "mail.enforce-mismatch.test": (10, "127.0.0.131", "tls")},
                              ["mail.enforce-mismatch.test"]),
    "testing.test": ("testing", {"mail.testing.test": (10, "127.0.0.127", "plain")}),
    "none.test": ("none", {"mail.none.test": (10, "127.0.0.128", "plain")}),
    "nopolicy.test": (None, {"mail.nopolicy.test": (10, "127.0.0.129", "plain")}),
}


def build_world(workdir):
    w = World(workdir, dns_addr=DNS_ADDR, dns_port=53, https_addr=HTTPS_ADDR)
    for name, (mode, mxs, *policy_mx) in DOMAINS.items():
        extra = []
        for mx, (preference, addr, _) in mxs.items():
            extra.append("%s. 300 IN A %s" % (mx, addr))
            if mx != "mail." + name:  # the world publishes "MX 10 mail.NAME." itself
                extra.append("%s. 300 IN MX %d %s." % (name, preference, mx))
        if mode is None:
            w.add_domain(name, mta_sts_host=False, extra_records=extra)
            continue
        # RFC 8460 3: the domain asks for TLS reports (Postfix 3.10 then emits events).
        extra.append('_smtp._tls.%s. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@%s"' % (name, name))
        w.add_domain(name, txt=["v=STSv1; id=%s1" % mode],
                     policy=S.policy(mode=mode, mx=policy_mx[0] if policy_mx else sorted(mxs)),
                     extra_records=extra)
    return w


class MailDaemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "mail", query_timeout=ZONE_TIMEOUT + 5)
        self.write_config(f"""\
cache: {{type: internal}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
zones: {{tlsrpt: {{tlsrpt: true, timeout: {ZONE_TIMEOUT:g}}}}}
proactive_policy_fetching: {{enabled: false}}
dane: {{enabled: false}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)


class TlsrptCollector:
    """What tlsrpt-collectd would receive: libtlsrpt's datagrams (one JSON event each) on
    a Unix datagram socket the Postfix smtp client (user postfix) may write to."""

    def __init__(self, path):
        self.path = path
        self.events = []
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if os.path.exists(path):
            os.unlink(path)
        self._sock.bind(path)
        os.chmod(path, 0o666)
        self._sock.settimeout(0.2)
        self._stopping = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopping:
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                self.events.append(json.loads(data))
            except ValueError:
                self.events.append({"unparsed": data.decode("utf-8", "replace")})

    def stop(self):
        self._stopping = True
        self._thread.join(5)
        self._sock.close()


def postfix_version():
    r = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True, text=True,
                       timeout=30)
    return tuple(int(x) for x in re.findall(r"\d+", r.stdout)[:3])


def start_sinks(w, run):
    sinks = {}
    wrong = w._special["wrongname"]  # world.WRONG_NAME's certificate
    for name, (_, mxs, *_) in DOMAINS.items():
        for mx, (_, addr, offers) in mxs.items():
            cert = None
            if offers == "tls":
                cert = w._leaf("mx-" + mx, [mx])
            elif offers == "wrong":
                cert = wrong
            sink = SmtpSink(addr, cert=cert, name=mx)
            sink.start()
            run.on_exit(sink.stop)
            sinks[mx] = sink
    return sinks


def deliver(c, mta, rcpt):
    qid = mta.send(rcpt)
    if not c.ok("%s: Postfix took the message" % rcpt, qid is not None, mta.log_text()[-2000:]):
        return None
    return mta.outcome(qid)


def check_scenarios(c, mta, sinks, mx_patterns):
    # enforce, the MX shows a certificate for its name: delivered over verified TLS.
    rcpt = "user@enforce.test"
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("enforce: sent", "sent", out.status)
        c.ok("enforce: over verified TLS to mail.enforce.test",
             ("Verified", "mail.enforce.test") in out.tls, "%r %r" % (out.tls, out.line))
        got = sinks["mail.enforce.test"].received(rcpt)
        c.ok("enforce: the MX received it over TLS", len(got) == 1 and got[0].tls, repr(got))

    # enforce, no STARTTLS: deferred, never sent in plaintext.
    rcpt = "user@enforce-plain.test"
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("enforce, no STARTTLS: deferred", "deferred", out.status)
        c.ok("enforce, no STARTTLS: Postfix says TLS was required", "TLS is required" in out.reason,
             out.line)
        c.eq("enforce, no STARTTLS: the MX received nothing", [],
             sinks["mail.enforce-plain.test"].received(rcpt))

    # enforce, a certificate for another name: deferred.
    rcpt = "user@enforce-wrong.test"
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("enforce, wrong certificate name: deferred", "deferred", out.status)
        c.ok("enforce, wrong certificate name: not verified",
             "certificate not verified" in out.reason or "verification failed" in out.reason,
             out.line)
        c.eq("enforce, wrong certificate name: the MX received nothing", [],
             sinks["mail.enforce-wrong.test"].received(rcpt))

    # enforce, first MX wrong, second right: delivered to the second over verified TLS.
    rcpt = "user@enforce-two.test"
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("enforce, two MX hosts: sent", "sent", out.status)
        c.ok("enforce, two MX hosts: relayed by the second", out.relay.startswith(
            "mail2.enforce-two.test["), out.line)
        c.ok("enforce, two MX hosts: verified TLS to the second",
             ("Verified", "mail2.enforce-two.test") in out.tls, repr(out.tls))
        c.eq("enforce, two MX hosts: the first received nothing", [],
             sinks["mail.enforce-two.test"].received(rcpt))
        got = sinks["mail2.enforce-two.test"].received(rcpt)
        c.ok("enforce, two MX hosts: the second received it over TLS",
             len(got) == 1 and got[0].tls, repr(got))

    # An MX the policy does not name, more preferred and with a valid certificate for its
    # own name: never used; the mail goes to the MX the policy names.
    rcpt = "user@enforce-mismatch.test"
    out = deliver(c, mta, rcpt)
    if out:
        c.ok("enforce, an MX outside the policy: sent to the one it names",
             out.status == "sent" and out.relay.startswith("mail.enforce-mismatch.test["),
             out.line)
        c.eq("enforce, an MX outside the policy: it received nothing", [],
             sinks["other.enforce-mismatch.test"].received(rcpt))
        if mx_patterns:
            # smtp_tls_enforce_sts_mx_patterns with mta-stsd's mx_host_pattern attributes.
            c.eq("enforce, an MX outside the policy: Postfix 3.10 never connects to it", 0,
                 sinks["other.enforce-mismatch.test"].sessions)

    # testing, none, no policy: plaintext is fine (smtp_tls_security_level = may).
    for domain in ("testing.test", "none.test", "nopolicy.test"):
        rcpt = "user@" + domain
        out = deliver(c, mta, rcpt)
        if out:
            c.eq("%s: sent without STARTTLS" % domain, "sent", out.status)
            got = sinks["mail." + domain].received(rcpt)
            c.ok("%s: the MX received it in plaintext" % domain,
                 len(got) == 1 and not got[0].tls, repr(got))


# libtlsrpt's datagram fields: "d" the policy domain, "pr" its TLSRPT record, "policies"
# each with "policy-type" (2: sts), "policy-domain", "policy-string" (the policy's lines),
# "mx-host" (its patterns), "t"/"f" (this event: 1 if a failure) and "failure-details"
# ("c": RFC 8460 result type code, 201 starttls-not-supported, 202
# certificate-host-mismatch; "r" the receiving address, "n" the MX name).
def sts_policy(event):
    policies = event.get("policies") or [{}]
    return policies[0]


def check_tlsrpt(c, collector):
    """Postfix 3.10's TLSRPT events carry what mta-stsd's answer told it: policy type sts,
    the domain, the policy's lines and mx patterns; success for a verified delivery, the
    failure type for the others."""
    want = 6  # enforce, -plain, -wrong, -two (a failure, then a success), -mismatch
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(collector.events) < want:
        time.sleep(0.1)
    events = {}
    for e in collector.events:
        events.setdefault(e.get("d"), []).append(e)
    ok = events.get("enforce.test", [])
    if c.ok("TLSRPT: one event for enforce.test", len(ok) >= 1, repr(collector.events)):
        p = sts_policy(ok[0])
        c.eq("TLSRPT enforce.test: policy type sts, domain, lines, mx patterns, success",
             (2, "enforce.test", ["version: STSv1", "mode: enforce", "mx: mail.enforce.test",
                                  "max_age: 86400"], ["mail.enforce.test"], 0),
             (p.get("policy-type"), p.get("policy-domain"), p.get("policy-string"),
              p.get("mx-host"), p.get("f")))
        c.eq("TLSRPT enforce.test: the domain's TLSRPT record",
             "v=TLSRPTv1; rua=mailto:tlsrpt@enforce.test", ok[0].get("pr"))
    for domain, code, addr in (("enforce-plain.test", 201, "127.0.0.123"),
                               ("enforce-wrong.test", 202, "127.0.0.124")):
        got = events.get(domain, [])
        if not c.ok("TLSRPT: an event for %s" % domain, len(got) >= 1, repr(collector.events)):
            continue
        p = sts_policy(got[0])
        details = (p.get("failure-details") or [{}])[0]
        c.eq("TLSRPT %s: a failure of type %d at %s" % (domain, code, addr),
             (2, 1, code, addr, "mail." + domain),
             (p.get("policy-type"), p.get("f"), details.get("c"), details.get("r"),
              details.get("n")))
    two = [sts_policy(e) for e in events.get("enforce-two.test", [])]
    c.eq("TLSRPT enforce-two.test: the first MX a failure, the second a success",
         [(1, 202), (0, None)],
         [(p.get("f"), (p.get("failure-details") or [{}])[0].get("c")) for p in two])


def check_daemon_down(c, mta, daemon, sinks):
    """mta-stsd stopped: the map cannot answer, and Postfix defers rather than guess."""
    c.eq("mta-stsd stops: exit 0", 0, daemon.stop())
    rcpt = "second@enforce.test"
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("mta-stsd down: deferred", "deferred", out.status)
        # Postfix 3.7 and 3.10: the lookup error is logged, the message deferred as a
        # TLS configuration problem (4.7.5), with no connection to the MX at all.
        c.eq("mta-stsd down: deferred as a TLS configuration problem (no relay)",
             ("client TLS configuration problem", "none"), (out.reason, out.relay))
        c.ok("mta-stsd down: Postfix logs the policy table lookup error",
             'next-hop destination "enforce.test": policy table lookup error' in mta.log_text(),
             mta.log_text()[-1500:])
        c.eq("mta-stsd down: the MX received nothing", [],
             sinks["mail.enforce.test"].received(rcpt))


class DaneDaemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "mail-dane", query_timeout=ZONE_TIMEOUT + 5)
        self.write_config(f"""\
cache: {{type: internal}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
dane: {{enabled: true}}
""", world.resolver, world.ca_file)


DANE_GOOD, DANE_BAD = "dane-good.test", "dane-bad.test"
DANE_MX = {DANE_GOOD: ("mx.dane-good.test", "127.0.0.132", "k1"),   # TLSA of the key shown
           DANE_BAD: ("mx.dane-bad.test", "127.0.0.133", "k2")}     # TLSA of another key


def check_dane(c, run, args):
    """DANE (RFC 7672) through Postfix: mta-stsd answers dane-only for a domain whose MX
    hosts all have secure TLSA records, and Postfix then checks the TLSA itself (through a
    validating unbound on port 53): delivered when the MX's key matches, deferred when not."""
    w = DnssecWorld(os.path.join(args.workdir, "dane"), https_addr="127.0.0.134",
                    sts_dns_addr="127.0.0.135", nsd_addr="127.0.0.136",
                    unbound_addr="127.0.0.137", mx_addr="127.0.0.138", unbound_port=53)
    for domain, (mx, addr, key) in DANE_MX.items():
        w.add(domain, "MX", "10 %s." % mx)
        w.add(mx, "A", addr)
        w.add("_25._tcp." + mx, "TLSA", w.tlsa(3, 1, 1, key=key))
    os.makedirs(w.workdir, exist_ok=True)
    w.start()
    run.on_exit(w.stop, w.logs)
    cert = w.tlsa_files("k1")  # both MX hosts show k1's certificate
    sinks = {}
    for domain, (mx, addr, _) in DANE_MX.items():
        sinks[domain] = SmtpSink(addr, cert=cert, name=mx)
        sinks[domain].start()
        run.on_exit(sinks[domain].stop)
    d = DaneDaemon(args.daemon, args.workdir, w)
    if not c.ok("DANE: mta-stsd starts", d.start(), procs.log_tail(d.log)):
        return
    for domain in DANE_MX:
        c.eq("DANE: %s answered dane-only" % domain, "OK dane-only", d.query(domain))
    mta = PostfixMta(args.workdir, policy_map="socketmap:inet:%s:%d:postfix" % (d.host, d.port),
                     ca_file=w.ca_file, resolv_addr="127.0.0.137", name="postfix-dane",
                     dnssec=True)
    ok, why = mta.write_config()
    if not c.ok("DANE: postfix check accepts the instance", ok, why):
        return
    run.on_exit(mta.stop, lambda: [("postfix (DANE) maillog", mta.log)])
    if not c.ok("DANE: Postfix starts", mta.start(), procs.log_tail(mta.out)):
        return
    rcpt = "user@" + DANE_GOOD
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("DANE, TLSA matches: sent", "sent", out.status)
        c.ok("DANE, TLSA matches: verified TLS", ("Verified", DANE_MX[DANE_GOOD][0]) in out.tls,
             "%r %r" % (out.tls, out.line))
        got = sinks[DANE_GOOD].received(rcpt)
        c.ok("DANE, TLSA matches: the MX received it over TLS", len(got) == 1 and got[0].tls,
             repr(got))
    rcpt = "user@" + DANE_BAD
    out = deliver(c, mta, rcpt)
    if out:
        c.eq("DANE, TLSA of another key: deferred, not verified",
             ("deferred", "Server certificate not verified"), (out.status, out.reason))
        c.eq("DANE, TLSA of another key: the MX received nothing", [],
             sinks[DANE_BAD].received(rcpt))


def body(run):
    c, args = run.checks, run.args
    w = build_world(args.workdir)
    w.start()
    run.on_exit(w.stop, w.logs)
    sinks = start_sinks(w, run)
    d = MailDaemon(args.daemon, args.workdir, w)
    if not c.ok("mta-stsd starts", d.start(), procs.log_tail(d.log)):
        return
    # Postfix 3.10 reads TLSRPT attributes: it gets the tlsrpt zone, as contrib/postfix/
    # main.cf-postfix-3.10 configures it, and reports through libtlsrpt. Older ones get
    # the default zone (contrib/postfix/main.cf-postfix-3.4-3.9).
    tlsrpt = postfix_version() >= (3, 10)
    extra = ""
    if tlsrpt:
        extra = ("smtp_tlsrpt_enable = yes\n"
                 "smtp_tlsrpt_socket_name = tlsrpt.sock\n"  # relative to queue_directory
                 "smtp_tls_enforce_sts_mx_patterns = yes\n")
    mta = PostfixMta(args.workdir, policy_map="socketmap:inet:%s:%d:%s"
                     % (d.host, d.port, "tlsrpt" if tlsrpt else "postfix"),
                     ca_file=w.ca_file, resolv_addr=DNS_ADDR, extra_main=extra)
    ok, why = mta.write_config()
    if not c.ok("postfix check accepts the private instance", ok, why):
        return
    collector = None
    if tlsrpt:
        collector = TlsrptCollector(os.path.join(mta.queue_dir, "tlsrpt.sock"))
        run.on_exit(collector.stop)
    run.on_exit(mta.stop, lambda: [("postfix maillog", mta.log), ("postfix master", mta.out)])
    if not c.ok("Postfix %s starts (start-fg)" % mta.version(), mta.start(),
                procs.log_tail(mta.out) + mta.log_text()[-2000:]):
        return
    check_scenarios(c, mta, sinks, tlsrpt)
    if collector is not None:
        check_tlsrpt(c, collector)
    check_daemon_down(c, mta, d, sinks)
    mta.stop()
    check_dane(c, run, args)


def main():
    return harness.main(__doc__, "real-mail", OVERALL_LIMIT, body)


if __name__ == "__main__":
    sys.exit(main())

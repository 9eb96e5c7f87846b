#!/usr/bin/python3
"""End-to-end tests: the real mta-stsd and mta-stsctl against nsd, nginx and Postfix's postmap.

    /usr/bin/python3 tests/e2e/run_e2e.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/e2e

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.10:443), nsd, nginx, postfix (postmap), openssl, dig.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from harness import HOST, NOTFOUND, SHUTDOWN_TIMEOUT  # noqa: E402
from postfix import Postmap, ProtocolError, SocketmapClient, netstring, query_once  # noqa: E402
from world import World, hits_after, to_alabel  # noqa: E402

ZONE_TIMEOUT = 4.0       # default_zone.timeout in the daemon's configuration
OVERALL_LIMIT = 780      # seconds; CTest gives the whole test 900
# (policy hosts, nothing listening, hanging listener): the first set whose port 443 is free,
# so a benchmark's world on the usual addresses does not collide with this run.
ADDRESS_SETS = [("127.0.0.10", "127.0.0.11", "127.0.0.12")] + [
    ("127.0.%d.10" % i, "127.0.%d.11" % i, "127.0.%d.12" % i) for i in range(1, 10)]


class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "mta-stsd")
        self.write_config(f"""\
cache: {{type: internal, options: {{cache_size: 10000}}}}
cache_grace: 60
default_zone: {{strict_testing: false, timeout: {ZONE_TIMEOUT:g}, require_sni: true}}
zones:
  strict: {{strict_testing: true, timeout: {ZONE_TIMEOUT:g}}}
  tlsrpt: {{tlsrpt: true}}
  nosni: {{require_sni: false}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)


# ----- the checks ----------------------------------------------------------------------
def pick_addresses():
    for addrs in ADDRESS_SETS:
        if all(procs.tcp_port_free(a, 443) for a in addrs):
            return addrs
    raise RuntimeError("port 443 is busy on every candidate address set")


def check_world(c, w, refused_addr, hang_addr):
    """The world itself, seen with dig, openssl's s_client and a TLS client: if these fail,
    the daemon's results below mean nothing."""
    c.eq("world: dig TXT _mta-sts.enforce.test", ['"%s"' % S.ID], w.dig("_mta-sts.enforce.test"))
    c.eq("world: dig TXT split in two strings", ['"v=STSv1; " "id=20240101"'],
         w.dig("_mta-sts.split.test"))
    c.eq("world: dig TXT CNAME", ["_mta-sts.enforce.test.", '"%s"' % S.ID],
         w.dig("_mta-sts.cname.test"))
    c.eq("world: dig A mta-sts.refused.test", [refused_addr], w.dig("mta-sts.refused.test", "A"))
    c.eq("world: dig A mta-sts.noa.test (none)", [], w.dig("mta-sts.noa.test", "A"))
    c.eq("world: dig A IDN policy host", [w.https_addr],
         w.dig("mta-sts.xn--bcher-kva.test", "A"))
    try:
        status, headers, body = w.https_get("enforce.test")
        c.eq("world: https enforce.test", (200, "text/plain", S.policy(mx=["mail.enforce.test"])),
             (status, headers.get("content-type"), body))
        status, headers, _ = w.https_get("redirect.test")
        c.eq("world: https redirect.test", 301, status)
        status, headers, _ = w.https_get("html.test")
        c.eq("world: https html.test content type", "text/html", headers.get("content-type"))
        status, _, _ = w.https_get("notfound.test")
        c.eq("world: https notfound.test", 404, status)
        status, _, body = w.https_get("big.test")
        c.eq("world: https big.test size", (200, 70 * 1024), (status, len(body)))
    except (OSError, ValueError, IndexError) as e:
        c.ok("world: https fetches", False, repr(e))
    for name, reason in (("selfsigned.test", "self-signed"), ("expired.test", "expired"),
                         ("wrongname.test", "mismatch")):
        try:
            w.https_get(name)
            c.ok("world: %s fails verification" % name, False, "no TLS error")
        except ssl.SSLError as e:
            c.ok("world: %s fails verification" % name, reason in str(e), str(e))
    res = subprocess.run(["openssl", "s_client", "-connect", w.https_addr + ":443", "-servername",
                          "mta-sts.enforce.test", "-CAfile", w.ca_file, "-verify_return_error",
                          "-verify_hostname", "mta-sts.enforce.test", "-brief"],
                         input=b"", capture_output=True, timeout=15)
    c.ok("world: openssl s_client verifies mta-sts.enforce.test", res.returncode == 0,
         res.stderr.decode(errors="replace")[-300:])
    try:
        socket.create_connection((refused_addr, 443), timeout=3).close()
        c.ok("world: %s:443 refuses" % refused_addr, False, "connected")
    except ConnectionRefusedError:
        c.ok("world: %s:443 refuses" % refused_addr, True)
    with socket.create_connection((hang_addr, 443), timeout=3) as s:
        s.settimeout(0.5)
        try:
            s.recv(1)
            c.ok("world: %s:443 hangs" % hang_addr, False, "answered")
        except socket.timeout:
            c.ok("world: %s:443 hangs" % hang_addr, True)


def check_answers(c, d, w, scs):
    """Every scenario in the default zone (name "postfix": not configured) and in zone strict."""
    for sc in scs:
        if not sc.query:
            continue
        domain = to_alabel(sc.name)
        for zone, match in (("postfix", sc.match), ("strict", sc.strict)):
            want = S.ok_answer(match, domain) if match else NOTFOUND
            got = d.query(sc.name, zone, timeout=ZONE_TIMEOUT + 6)
            c.eq("%s %s (%s)" % (zone, sc.name, sc.what), want, got)
    for sc in scs:
        if sc.query and sc.fetches is not None:
            c.eq("%s: policy fetches" % sc.name, sc.fetches, w.nginx_hits(sc.name))


def check_zones(c, d, scs):
    by_name = {sc.name: sc for sc in scs}
    # multi.test is left out: how messy mx values (case, dots, duplicates) appear in
    # mx_host_pattern is not specified.
    for name in ("enforce.test", "wildcard.test", "crlf.test"):
        sc = by_name[name]
        body = sc.domain["policy"]
        mx = [line.split(":", 1)[1].strip() for line in body.decode().replace("\r", "").split("\n")
              if line.startswith("mx:")]
        c.eq("tlsrpt %s" % name, S.ok_answer(sc.match, name, "tlsrpt", body, mx),
             query_once(HOST, d.port, "tlsrpt", name))
    c.eq("tlsrpt testing.test", NOTFOUND, query_once(HOST, d.port, "tlsrpt", "testing.test"))
    c.eq("tlsrpt notfound.test", NOTFOUND, query_once(HOST, d.port, "tlsrpt", "notfound.test"))
    c.eq("nosni enforce.test", S.ok_answer(["mail.enforce.test"], "enforce.test", "nosni"),
         query_once(HOST, d.port, "nosni", "enforce.test"))
    c.eq("nosni multi.test", S.ok_answer(by_name["multi.test"].match, "multi.test", "nosni"),
         query_once(HOST, d.port, "nosni", "multi.test"))


def check_keys(c, d):
    enforce = S.ok_answer(["mail.enforce.test"], "enforce.test")
    idn = S.ok_answer(["mail.xn--bcher-kva.test"], "xn--bcher-kva.test")
    long_name = ".".join(["a" * 60] * 5) + ".test"  # 309 characters
    cases = [
        ("EnFoRcE.test", enforce), ("enforce.test.", enforce), ("ENFORCE.TEST.", enforce),
        ("bücher.test", idn), ("xn--bcher-kva.test", idn), ("XN--BCHER-KVA.TEST", idn),
        ("[enforce.test]", enforce), ("[enforce.test]:587", enforce),
        ("[EnFoRcE.test]:25", enforce),
        (".enforce.test", NOTFOUND), (".test", NOTFOUND), ("mail.enforce.test", NOTFOUND),
        ("[192.0.2.1]", NOTFOUND), ("[192.0.2.1]:25", NOTFOUND), ("192.0.2.1", NOTFOUND),
        ("[ipv6:2001:db8::1]", NOTFOUND),
        (long_name, NOTFOUND), ("a" * 64 + ".test", NOTFOUND), ("bad..name", NOTFOUND),
        ("-bad.test", NOTFOUND), ("", NOTFOUND), ("[enforce.test]:99999", NOTFOUND),
    ]
    for key, want in cases:
        got = d.query(key)
        shown = key if len(key) < 40 else key[:20] + "...(%d chars)" % len(key)
        c.eq("key %r" % shown, want, got)


def check_postmap(c, d, workdir, scs):
    pm = Postmap(os.path.join(workdir, "postfix"), HOST, d.port)
    by_name = {sc.name: sc for sc in scs}

    def found(key, zone, match, domain, zone_kind="default"):
        r = pm.query(key, zone)
        want = S.ok_answer(match, domain, zone_kind)[len("OK "):]
        c.ok("postmap %s %r" % (zone, key), r.kind == "found" and r.value == want,
             "expected %r got %r" % (want, r))

    def notfound(key, zone="postfix"):
        r = pm.query(key, zone)
        c.ok("postmap %s %r not found" % (zone, key), r.kind == "notfound" and r.stdout == "",
             "got %r" % r)

    found("enforce.test", "postfix", ["mail.enforce.test"], "enforce.test")
    found("multi.test", "postfix", by_name["multi.test"].match, "multi.test")
    found("[enforce.test]:587", "postfix", ["mail.enforce.test"], "enforce.test")
    found("bücher.test", "postfix", ["mail.xn--bcher-kva.test"], "xn--bcher-kva.test")
    found("testing.test", "strict", ["mx.testing.test"], "testing.test")
    found("enforce.test", "nosni", ["mail.enforce.test"], "enforce.test", "nosni")
    notfound("testing.test")
    notfound("notfound.test")
    notfound("selfsigned.test")
    notfound(".enforce.test")
    notfound("[192.0.2.1]")


def expect_perm_and_close(c, d, name, data):
    bystander = SocketmapClient(HOST, d.port)
    try:
        bystander.query("postfix", "enforce.test")
        with SocketmapClient(HOST, d.port) as bad:
            try:
                bad.send_raw(data)
            except OSError:
                pass  # the daemon may close before reading everything
            try:
                reply = bad.read_reply(timeout=5)
            except (OSError, ProtocolError) as e:
                reply = "error: %r" % e
            c.ok("protocol %s: PERM reply" % name, reply.startswith("PERM"),
                 "got %r" % reply[:100])
            c.ok("protocol %s: connection closed" % name, bad.closed_by_peer(5))
        c.eq("protocol %s: other connection still works" % name,
             S.ok_answer(["mail.enforce.test"], "enforce.test"),
             bystander.query("postfix", "enforce.test"))
    except (OSError, ProtocolError) as e:
        c.ok("protocol %s" % name, False, repr(e))
    finally:
        bystander.close()


def check_protocol(c, d):
    enforce = S.ok_answer(["mail.enforce.test"], "enforce.test")
    expect_perm_and_close(c, d, "key of 10,001 bytes", netstring(b"postfix " + b"a" * 10001))
    expect_perm_and_close(c, d, "netstring of 100,000 bytes", b"100000:postfix " + b"a" * 20000)
    expect_perm_and_close(c, d, "garbage 'abc'", b"abc")
    expect_perm_and_close(c, d, "5:hello without comma", b"5:helloX")
    expect_perm_and_close(c, d, "non-digit length", b"1x:postfix a,")
    try:
        with SocketmapClient(HOST, d.port) as conn:
            got = conn.query("postfix", "a" * 10000)
            c.eq("protocol key of exactly 10,000 bytes: NOTFOUND", NOTFOUND, got)
            c.eq("protocol same connection works after it", enforce,
                 conn.query("postfix", "enforce.test"))
            conn.send_raw(netstring("postfix enforce.test") + netstring("postfix notfound.test")
                          + netstring("strict testing.test"))
            got = [conn.read_reply(), conn.read_reply(), conn.read_reply()]
            c.eq("protocol pipelined requests answered in order",
                 [enforce, NOTFOUND, S.ok_answer(["mx.testing.test"], "testing.test")], got)
        for partial in (b"20:postfix enf", b"20", b"20:", b""):
            with socket.create_connection((HOST, d.port), timeout=5) as s:
                s.sendall(partial)
        c.eq("protocol partial netstrings then close: daemon still answers", enforce,
             query_once(HOST, d.port, "postfix", "enforce.test"))
        with SocketmapClient(HOST, d.port, timeout=ZONE_TIMEOUT + 5) as conn:
            conn.send_raw(netstring("postfix notfound.test"))
            conn.sock.shutdown(socket.SHUT_WR)  # half-close: the reply must still arrive
            try:
                data = conn.read_reply()
            except (OSError, ProtocolError) as e:
                data = "error: %r" % e
        c.eq("protocol reply after client half-close", NOTFOUND, data)
    except (OSError, ProtocolError) as e:
        c.ok("protocol checks", False, repr(e))


def check_cache(c, d, w):
    want = S.ok_answer(["mail.cache.test"], "cache.test")
    c.eq("cache: cache.test warm-up", want, query_once(HOST, d.port, "postfix", "cache.test"))
    before = w.nginx_hits("enforce.test")
    for _ in range(5):
        query_once(HOST, d.port, "postfix", "enforce.test")
    c.eq("cache: repeated enforce.test queries fetch nothing", before,
         w.nginx_hits("enforce.test"))
    w.stop_https()
    try:
        c.eq("cache: cache.test answered with nginx down", want,
             query_once(HOST, d.port, "postfix", "cache.test"))
        c.eq("cache: enforce.test answered with nginx down",
             S.ok_answer(["mail.enforce.test"], "enforce.test"),
             query_once(HOST, d.port, "postfix", "enforce.test"))
        t0 = time.monotonic()
        got = query_once(HOST, d.port, "postfix", "coldwhiledown.test", timeout=ZONE_TIMEOUT + 6)
        c.eq("cache: cold domain with nginx down is NOTFOUND", NOTFOUND, got)
        took = time.monotonic() - t0
        c.ok("cache: ... within the zone timeout (took %.1f s)" % took, took <= ZONE_TIMEOUT + 2)
    finally:
        w.start_https()

    # 50 concurrent queries for a cold domain: one fetch (RFC 8461 3.3 rate limiting).
    want = S.ok_answer(["mail.burst.test"], "burst.test")
    n = 50
    barrier = threading.Barrier(n)
    answers = [None] * n

    def one(i):
        try:
            conn = SocketmapClient(HOST, d.port, timeout=ZONE_TIMEOUT + 6)
            try:
                barrier.wait(timeout=10)
                answers[i] = conn.query("postfix", "burst.test")
            finally:
                conn.close()
        except Exception as e:  # noqa: BLE001 - reported as the answer
            answers[i] = "error: %r" % e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=ZONE_TIMEOUT + 20)
    wrong = [a for a in answers if a != want]
    c.ok("cache: 50 concurrent cold queries all answered", not wrong,
         "%d wrong, e.g. %r" % (len(wrong), wrong[:1]))
    # nginx writes its access log line after the response: let it land before counting.
    hits_after(w, "burst.test", 1)
    time.sleep(0.3)
    c.eq("cache: 50 concurrent cold queries cause one fetch", 1, w.nginx_hits("burst.test"))

    got = [query_once(HOST, d.port, "postfix", "neg404.test", timeout=ZONE_TIMEOUT + 6)
           for _ in range(20)]
    c.eq("cache: 20 queries for a 404 domain answer NOTFOUND", [NOTFOUND] * 20, got)
    hits = w.nginx_hits("neg404.test")
    c.ok("cache: 20 queries for a 404 domain cause at most 1 fetch", hits <= 1,
         "expected <= 1 got %d" % hits)


def check_hang(c, d):
    t0 = time.monotonic()
    got = d.query("hang.test", timeout=ZONE_TIMEOUT + 10)
    took = time.monotonic() - t0
    c.eq("timeout: hanging policy host gives NOTFOUND", NOTFOUND, got)
    c.ok("timeout: ... within the zone timeout (%.0f s) + 2 s (took %.1f s)" % (ZONE_TIMEOUT, took),
         took <= ZONE_TIMEOUT + 2, "took %.2f s" % took)
    # While one lookup hangs, others are answered at once.
    c.eq("timeout: other queries answered meanwhile",
         S.ok_answer(["mail.enforce.test"], "enforce.test"),
         query_once(HOST, d.port, "postfix", "enforce.test", timeout=2))


def run_ctl(ctl, *args):
    return harness.ctl(ctl, *args, timeout=30)


def check_ctl(c, d, ctl):
    r = run_ctl(ctl, "query", "enforce.test", "--port", str(d.port))
    c.eq("ctl query enforce.test", (0, S.ok_answer(["mail.enforce.test"], "enforce.test")),
         (r.returncode, r.stdout.rstrip("\r\n")))
    r = run_ctl(ctl, "query", "testing.test", "--port", str(d.port), "--name", "strict")
    c.eq("ctl query --name strict testing.test",
         S.ok_answer(["mx.testing.test"], "testing.test"), r.stdout.rstrip("\r\n"))
    r = run_ctl(ctl, "query", "notfound.test", "--port", str(d.port))
    c.eq("ctl query notfound.test", "NOTFOUND", r.stdout.strip())

    want = S.ok_answer(["mail.ctl.test"], "ctl.test")
    r = run_ctl(ctl, "resolve", "ctl.test", "-c", d.config)
    out = r.stdout
    c.ok("ctl resolve ctl.test: exit 0", r.returncode == 0,
         "rc %d: %s" % (r.returncode, (r.stdout + r.stderr)[-400:]))
    steps = (("TXT record id", S.ID.split("id=")[1]), ("policy host", "mta-sts.ctl.test"),
             ("policy mode", "enforce"), ("answer", want))
    for step, text in steps:
        c.ok("ctl resolve ctl.test shows the %s" % step, text in out,
             "%r not in %r" % (text, out[-600:]))
    r = run_ctl(ctl, "resolve", "ctl.test", "-c", d.config, "--json")
    try:
        obj = json.loads(r.stdout)
        c.eq("ctl resolve --json ctl.test domain/answer", ("ctl.test", want),
             (obj.get("domain"), obj.get("answer")))
    except ValueError as e:
        c.ok("ctl resolve --json ctl.test is JSON", False, "%r: %r" % (e, r.stdout[-300:]))
    r = run_ctl(ctl, "resolve", "notfound.test", "-c", d.config, "--json")
    try:
        obj = json.loads(r.stdout)
        c.eq("ctl resolve --json notfound.test answer", NOTFOUND, obj.get("answer"))
    except ValueError as e:
        c.ok("ctl resolve --json notfound.test is JSON", False, "%r: %r" % (e, r.stdout[-300:]))


def check_sigterm(c, d):
    c.ok("daemon still running after all checks", d.proc.poll() is None,
         "exit code %r" % d.proc.poll())
    idle = socket.create_connection((HOST, d.port), timeout=5)  # an idle Postfix connection
    try:
        t0 = time.monotonic()
        d.proc.signal(signal.SIGTERM)
        rc = d.proc.wait(SHUTDOWN_TIMEOUT + 3)
        took = time.monotonic() - t0
        c.eq("SIGTERM: exit code 0", 0, rc)
        c.ok("SIGTERM: exits within shutdown_timeout (%.0f s) + 1 s (took %.1f s)"
             % (SHUTDOWN_TIMEOUT, took), rc is not None and took <= SHUTDOWN_TIMEOUT + 1)
    finally:
        idle.close()


def body(run):
    c, args = run.checks, run.args
    for stale in ("postfix", "mta-stsd.yml", "mta-stsd.log"):
        path = os.path.join(args.workdir, stale)
        if os.path.isdir(path):
            shutil.rmtree(path)
        elif os.path.exists(path):
            os.unlink(path)
    https_addr, refused_addr, hang_addr = pick_addresses()
    scs = S.scenarios(refused_addr, hang_addr)
    w = World(args.workdir, https_addr=https_addr)
    run.on_exit(w.stop, w.logs)
    for sc in scs:
        w.add_domain(sc.name, **sc.domain)
    w.add_hang_listener(hang_addr)
    w.start()
    print("# world: DNS %s:%d, policy hosts %s:443" % (w.dns_addr, w.dns_port, https_addr))
    check_world(c, w, refused_addr, hang_addr)
    d = Daemon(args.daemon, args.workdir, w)
    if not c.ok("daemon accepts connections within 10 s", d.start()):
        return
    check_answers(c, d, w, scs)
    check_zones(c, d, scs)
    check_keys(c, d)
    check_postmap(c, d, args.workdir, scs)
    check_protocol(c, d)
    check_hang(c, d)
    check_ctl(c, d, args.ctl)
    check_cache(c, d, w)
    check_sigterm(c, d)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "e2e", OVERALL_LIMIT, body))

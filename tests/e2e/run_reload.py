#!/usr/bin/python3
"""End-to-end test of a configuration reload (SIGHUP and mta-stsctl reload).

    /usr/bin/python3 tests/e2e/run_reload.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/reload

Issue 14: the daemon re-reads its file without dropping its cache or a connection.
  - A zone's strict_testing turned on: on the same socketmap connection, the cached
    testing policy is answered "OK secure" at once, without a new fetch.
  - A broken file (invalid YAML, a bad value): logged with the line and key, the
    running configuration stays, the same connection keeps its answers.
  - A changed port: applied only at a restart, said so (log and mta-stsctl reload's
    reply); the daemon keeps listening where it was.
  - mta-stsctl reload (text and --json) runs the same reload.
  - limits.max_connections lowered to 1: with one connection open, the next is closed;
    raised again, served.
  - limits.max_concurrent_resolutions lowered to 1 and back: applied in place, and a cold
    domain resolves under it.
  - resolver.nameservers and tls.ca_file apply to the next lookups and fetches: a dead
    nameserver, then the world's; a CA that did not sign the policy hosts, then the right
    one; an unreadable CA file is refused and the running one stays.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.140:443; .141 the daemon, .142 a nameserver that is not
there), nsd, nginx, openssl.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from postfix import SocketmapClient  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 120
ZONE_TIMEOUT = 5.0
HTTPS_ADDR = "127.0.0.140"
DAEMON_ADDR = "127.0.0.141"
TESTING = "testing-reload.test"
ENFORCE = "enforce-reload.test"
# Cold domains for the nameserver and CA reloads, one per step.
FRESH = ["dns-off.test", "dns-on.test", "ca-other.test", "ca-back.test", "one-at-once.test"]
DEAD_DNS = "127.0.0.142"  # nothing listens here


class ReloadDaemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "reload", host=DAEMON_ADDR, control=True,
                         query_timeout=ZONE_TIMEOUT + 5)
        self.world = world
        self.metrics_port = None  # metrics.listen: off until a reload sets it (step 7b)

    def write(self, strict_testing, port=None, extra="", nameserver=None, ca_file=None,
              zones=None):
        if port is not None:
            self.port = port
        nameserver = nameserver or "%s:%d" % (self.world.dns_addr, self.world.dns_port)
        ca_file = ca_file or self.world.ca_file
        metrics = ('metrics: {listen: "%s:%d"}\n' % (DAEMON_ADDR, self.metrics_port)
                   if self.metrics_port else "")
        if zones is None:
            zones = "{strict: {strict_testing: %s, timeout: %g}}" % (
                "true" if strict_testing else "false", ZONE_TIMEOUT)
        self.write_config(f"""\
cache: {{type: internal}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
zones: {zones}
proactive_policy_fetching: {{enabled: false}}
dane: {{enabled: false}}
{metrics}{extra}""", nameserver, ca_file)

    def scrape(self, port=None):
        """/metrics on the port (default: the configured one), or None when unreachable."""
        url = "http://%s:%d/metrics" % (DAEMON_ADDR, port or self.metrics_port)
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read().decode()
        except OSError:
            return None

    def answers(self, zone, kind):
        """mtastsd_answers_total for a zone label and kind on /metrics (None: no series)."""
        text = self.scrape() or ""
        series = 'mtastsd_answers_total{zone="%s",kind="%s"} ' % (zone, kind)
        for line in text.splitlines():
            if line.startswith(series):
                return float(line[len(series):])
        return None

    def hangup(self):
        self.proc.signal(signal.SIGHUP)


def wait_count(d, pattern, count, timeout=10):
    """Waits until the current run's log has `count` lines matching pattern."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if d.run_log().count(pattern) >= count:
            return True
        time.sleep(0.05)
    return False


def body(run):
    c, args = run.checks, run.args
    w = World(args.workdir, https_addr=HTTPS_ADDR)
    w.add_domain(TESTING, txt=[S.ID], policy=S.policy(mode="testing", mx=["mx." + TESTING]))
    w.add_domain(ENFORCE, txt=[S.ID], policy=S.policy(mx=["mx." + ENFORCE]))
    for name in FRESH:
        w.add_domain(name, txt=[S.ID], policy=S.policy(mx=["mx." + name]))
    w.start()
    run.on_exit(w.stop, w.logs)
    d = ReloadDaemon(args.daemon, args.workdir, w)
    d.write(strict_testing=False)
    if not c.ok("daemon starts", d.start(), procs.log_tail(d.log)):
        return
    strict_ok = S.ok_answer(["mx." + TESTING], TESTING, zone="strict")
    with SocketmapClient(d.host, d.port, timeout=ZONE_TIMEOUT + 5) as conn:
        c.eq("before: the testing policy is NOTFOUND in the strict zone (strict_testing off)",
             "NOTFOUND ", conn.query("strict", TESTING))
        c.eq("before: enforce answered", S.ok_answer(["mx." + ENFORCE], ENFORCE),
             conn.query("postfix", ENFORCE))
        fetches = w.nginx_hits(TESTING)

        # 1. strict_testing on, SIGHUP: the same connection, the cached policy, no fetch.
        d.write(strict_testing=True)
        d.hangup()
        c.ok("SIGHUP: the log says what was applied",
             wait_count(d, "SIGHUP: configuration reloaded from", 1)
             and "applied zones" in d.run_log(), d.run_log()[-1500:])
        c.eq("after SIGHUP: the same connection gets OK secure for the testing policy",
             strict_ok, conn.query("strict", TESTING))
        c.eq("after SIGHUP: answered from the cache (no new fetch)", fetches,
             w.nginx_hits(TESTING))

        # 2. A broken file: logged, nothing changes, the connection keeps working.
        with open(d.config, "a") as f:
            f.write("limits: {negative_ttl: -5}\n")
        d.hangup()
        c.ok("broken file: 'configuration not reloaded' with the key",
             wait_count(d, "configuration not reloaded", 1)
             and "negative_ttl" in d.run_log(), d.run_log()[-1500:])
        c.eq("broken file: the running configuration stays (same answer)", strict_ok,
             conn.query("strict", TESTING))
        c.ok("broken file: the daemon runs on", d.proc.poll() is None, "exited")
        with open(d.config, "w") as f:
            f.write("zones: [\n")
        d.hangup()
        c.ok("invalid YAML: not reloaded either", wait_count(d, "configuration not reloaded", 2),
             d.run_log()[-1500:])

        # 3. A new port: only at a restart; mta-stsctl reload says so.
        old_port = d.port
        d.write(strict_testing=True, port=procs.free_port(DAEMON_ADDR))
        new_port = d.port
        d.port = old_port
        r = harness.ctl(args.ctl, "reload", "--json", "--control", d.control)
        try:
            reply = json.loads(r.stdout)
        except ValueError:
            reply = None
        c.eq("mta-stsctl reload --json: port needs a restart",
             {"reloaded": True, "applied": [], "restart_needed": ["port"], "refused": []}, reply)
        c.eq("new port: still answering on the old port, same connection", strict_ok,
             conn.query("strict", TESTING))
        c.ok("new port: nothing listens on it", procs.tcp_port_free(DAEMON_ADDR, new_port),
             "port %d in use" % new_port)

    # 4. mta-stsctl reload (text) with the file as it started: strict_testing off again.
    d.write(strict_testing=False, port=old_port)
    r = harness.ctl(args.ctl, "reload", "--control", d.control)
    c.ok("mta-stsctl reload (text): exit 0, names what was applied",
         r.returncode == 0 and "applied zones" in r.stdout and "restart" not in r.stdout,
         "%d %r %r" % (r.returncode, r.stdout, r.stderr))
    c.eq("after mta-stsctl reload: NOTFOUND again (a new connection)", "NOTFOUND ",
         d.query(TESTING, "strict"))

    # 5. limits.max_connections: one connection open, the limit lowered to 1: the next
    # is closed at once; raised again: it is served.
    def reload_json(label):
        r = harness.ctl(args.ctl, "reload", "--json", "--control", d.control)
        try:
            return json.loads(r.stdout)
        except ValueError:
            c.ok("%s: mta-stsctl reload --json gives JSON" % label, False,
                 "%r %r" % (r.stdout, r.stderr))
            return {}
    with SocketmapClient(d.host, d.port, timeout=ZONE_TIMEOUT + 5) as hold:
        c.eq("limits: a connection is open", "NOTFOUND ", hold.query("strict", TESTING))
        d.write(strict_testing=False, port=old_port, extra="limits: {max_connections: 1}\n")
        c.eq("limits: max_connections applied in place", ["limits.max_connections"],
             reload_json("max_connections 1").get("applied"))
        c.ok("limits: a second connection is refused at the new limit",
             d.query(ENFORCE).startswith("error:"), "served")
        c.eq("limits: the open connection is served", "NOTFOUND ",
             hold.query("strict", TESTING))
        d.write(strict_testing=False, port=old_port)
        c.eq("limits: raised again", ["limits.max_connections"],
             reload_json("max_connections back").get("applied"))
        c.eq("limits: a second connection is served", S.ok_answer(["mx." + ENFORCE], ENFORCE),
             d.query(ENFORCE))

    # 5b. limits.max_concurrent_resolutions (discoveries, DANE lookups, HTTPS transfers)
    # applies in place, and a cold domain still resolves under the new limit.
    d.write(strict_testing=False, port=old_port, extra="limits: {max_concurrent_resolutions: 1}\n")
    c.eq("max_concurrent_resolutions: applied in place", ["limits.max_concurrent_resolutions"],
         reload_json("max_concurrent_resolutions 1").get("applied"))
    c.eq("max_concurrent_resolutions 1: a cold domain resolves",
         S.ok_answer(["mx." + FRESH[4]], FRESH[4]), d.query(FRESH[4]))
    d.write(strict_testing=False, port=old_port)
    c.eq("max_concurrent_resolutions back: applied", ["limits.max_concurrent_resolutions"],
         reload_json("max_concurrent_resolutions back").get("applied"))

    # 6. resolver.nameservers: a server that does not answer, then the world's again.
    d.write(strict_testing=False, port=old_port,
            nameserver="%s:%d" % (DEAD_DNS, procs.free_port(DEAD_DNS)))
    c.eq("nameservers: applied in place", ["resolver.nameservers"],
         reload_json("nameservers").get("applied"))
    c.eq("nameservers: a dead server, so a cold domain is not found", "NOTFOUND ",
         d.query(FRESH[0]))
    c.eq("nameservers: the policy host was never reached", 0, w.nginx_hits(FRESH[0]))
    d.write(strict_testing=False, port=old_port)
    c.eq("nameservers back: applied", ["resolver.nameservers"],
         reload_json("nameservers back").get("applied"))
    c.eq("nameservers back: a cold domain resolves", S.ok_answer(["mx." + FRESH[1]], FRESH[1]),
         d.query(FRESH[1]))

    # 7. tls.ca_file: a CA that did not sign the policy hosts, then the right one; an
    # unreadable one is refused and the running CA stays.
    other_ca = os.path.join(args.workdir, "other-ca.pem")
    other_key = os.path.join(args.workdir, "other-ca.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", other_key, "-out", other_ca,
                    "-subj", "/CN=another CA", "-days", "2"], check=True, capture_output=True,
                   timeout=30)
    d.write(strict_testing=False, port=old_port, ca_file=other_ca)
    c.eq("CA file: applied in place", ["tls.ca_file"], reload_json("CA").get("applied"))
    c.eq("CA file: another CA, so the policy host's certificate fails", "NOTFOUND ",
         d.query(FRESH[2]))
    c.ok("CA file: the log says the certificate was not trusted",
         re.search(r"%s: NOTFOUND .*certificate verification failed" % re.escape(FRESH[2]),
                   d.run_log()) is not None, d.run_log()[-1500:])
    d.write(strict_testing=False, port=old_port, ca_file=os.path.join(args.workdir, "none.pem"))
    reply = reload_json("unreadable CA")
    c.ok("unreadable CA file: refused with the reason, the running CA stays",
         reply.get("applied") == [] and reply.get("restart_needed") == [] and
         any("tls.ca_file" in k and "cannot be read" in k for k in reply.get("refused", [])),
         repr(reply))
    d.write(strict_testing=False, port=old_port)
    c.eq("CA file back: applied", ["tls.ca_file"], reload_json("CA back").get("applied"))
    c.eq("CA file back: a cold domain's policy is fetched",
         S.ok_answer(["mx." + FRESH[3]], FRESH[3]), d.query(FRESH[3]))

    # 7b. metrics.listen set by a reload (off at start): /metrics serves from then on, and
    # the answers after the reload are counted.
    d.metrics_port = procs.free_port(DAEMON_ADDR)
    d.write(strict_testing=False, port=old_port)
    c.eq("metrics on: applied in place", ["metrics"], reload_json("metrics on").get("applied"))
    c.ok("metrics on: the log says where",
         wait_count(d, "metrics: serving http://%s:%d/metrics" % (DAEMON_ADDR, d.metrics_port),
                    1), d.run_log()[-1500:])
    d.query(ENFORCE)
    c.eq("metrics on: /metrics counts the answer after the reload", 1.0,
         d.answers("default_zone", "secure"))

    # 8. Zones added and removed in place: a new socketmap name selects its zone at once
    # (and gets its own series on /metrics); a removed one gets the default zone's answers.
    strict_on = "{strict: {strict_testing: true, timeout: %g}}" % ZONE_TIMEOUT
    d.write(strict_testing=True, port=old_port)
    c.eq("zones: strict_testing on again", ["zones"], reload_json("strict on").get("applied"))
    c.eq("zones: the strict zone answers the testing policy", strict_ok,
         d.query(TESTING, "strict"))
    d.write(strict_testing=True, port=old_port, zones=strict_on[:-1] +
            ", added: {strict_testing: true, require_sni: false, timeout: %g}}" % ZONE_TIMEOUT)
    reply = reload_json("zone added")
    c.ok("zone added: applied in place, no restart",
         reply.get("applied") == ["zones"] and reply.get("restart_needed") == [], repr(reply))
    c.ok("zone added: the log names it",
         wait_count(d, "zone 'added' added: socketmap name added selects it", 1),
         d.run_log()[-1500:])
    c.eq("zone added: its socketmap name selects it (its options: no servername)",
         "OK secure match=mx." + TESTING, d.query(TESTING, "added"))
    c.eq("zone added: /metrics counts its answer under its own name", 1.0,
         d.answers("added", "secure"))
    d.write(strict_testing=True, port=old_port,
            zones="{added: {strict_testing: true, require_sni: false, timeout: %g}}"
            % ZONE_TIMEOUT)
    reply = reload_json("zone removed")
    c.ok("zone removed: applied in place, no restart",
         reply.get("applied") == ["zones"] and reply.get("restart_needed") == [], repr(reply))
    c.ok("zone removed: the log names it",
         wait_count(d, "zone 'strict' removed", 1), d.run_log()[-1500:])
    c.eq("zone removed: its name gets the default zone's answer (strict_testing off)",
         "NOTFOUND ", d.query(TESTING, "strict"))
    c.eq("zone removed: the other zone still answers", "OK secure match=mx." + TESTING,
         d.query(TESTING, "added"))
    c.eq("zone removed: the testing policy was fetched once in all", fetches,
         w.nginx_hits(TESTING))
    d.write(strict_testing=True, port=old_port)
    c.eq("zone back: applied in place", ["zones"], reload_json("zone back").get("applied"))
    c.eq("zone back: its name selects it again", strict_ok, d.query(TESTING, "strict"))

    # 9. metrics.listen moved, refused on a port in use (the running one stays), removed.
    first_port, moved = d.metrics_port, procs.free_port(DAEMON_ADDR)
    d.metrics_port = moved
    d.write(strict_testing=True, port=old_port)
    c.eq("metrics moved: applied in place", ["metrics"],
         reload_json("metrics moved").get("applied"))
    c.ok("metrics moved: served on the new port, with the counts so far",
         "mtastsd_answers_total" in (d.scrape() or ""), "no /metrics on %d" % moved)
    c.ok("metrics moved: the old port is closed", procs.tcp_port_free(DAEMON_ADDR, first_port),
         "port %d still in use" % first_port)
    d.metrics_port = old_port  # the socketmap listener's: taken
    d.write(strict_testing=True, port=old_port)
    reply = reload_json("metrics on a taken port")
    c.ok("metrics on a taken port: refused with the reason, nothing else changes",
         reply.get("applied") == [] and any(k.startswith("metrics (")
                                            for k in reply.get("refused", [])), repr(reply))
    c.ok("metrics on a taken port: still served where it was",
         d.scrape(moved) is not None, "no /metrics on %d" % moved)
    d.metrics_port = None
    d.write(strict_testing=True, port=old_port)
    c.eq("metrics off: applied in place", ["metrics"], reload_json("metrics off").get("applied"))
    c.ok("metrics off: nothing listens on its port", procs.tcp_port_free(DAEMON_ADDR, moved),
         "port %d still in use" % moved)
    c.eq("metrics off: the socketmap still answers", strict_ok, d.query(TESTING, "strict"))

    # A file that does not load: mta-stsctl reload exits 2 with the reason.
    with open(d.config, "w") as f:
        f.write("port: many\n")
    r = harness.ctl(args.ctl, "reload", "--control", d.control)
    c.ok("mta-stsctl reload of a broken file: exit 2, the reason on stderr",
         r.returncode == 2 and "port" in r.stderr, "%d %r" % (r.returncode, r.stderr))
    c.eq("SIGTERM: exit 0", 0, d.stop())


def main():
    return harness.main(__doc__, "reload", OVERALL_LIMIT, body)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""End-to-end floods: hostile clients by the thousand against the real daemon.

    /usr/bin/python3 tests/e2e/run_floods.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/floods

Each flood gets a fresh daemon (its own limits, its own RSS figures) in front of a real
world (nsd and nginx of world.py). The flood itself runs in another process
(flood_client.py, soft RLIMIT_NOFILE raised to the hard one); the daemon's own limit is
raised with prlimit. Meanwhile a well-behaved client asks for a cached enforce domain
every 0.2 s on a fresh connection, as Postfix would: every answer must be exact and
come within 2 s. The daemon's VmRSS (/proc/PID/status) is sampled every 0.1 s and must
stay under a bound (see rss_bound); every figure is printed as a "# RSS" line.

Floods: 10,000 concurrent connections; a small max_connections cap (excess refused,
served connections still work); 1,000 idle connections (closed after idle_timeout);
slowloris clients (one byte a second); clients that send many requests and never read;
partial netstrings then close; a burst of 10,000 distinct non-existent domains
(max_concurrent_resolutions bounds the work, repeats come from the negative cache, seen
in `mta-stsctl stats`).

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.77:443), nsd, nginx, openssl, prlimit.
"""
import json
import os
import resource
import statistics
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
from scenarios import enforce_answer  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 230        # seconds: CTest's e2e runners must finish in under 4 minutes
WORLD_ADDR = "127.0.0.77"  # nsd (free port) and nginx (443)
DAEMON_ADDR = "127.0.0.78"
ZONE_TIMEOUT = 3.0
GOOD = "ok.test"           # the well-behaved client's domain (cached enforce policy)
SHORT = "a.test"           # a short key for the slowloris requests
GOOD_LATENCY = 2.0         # seconds: generous; Postfix itself waits 100 s
DNS_ADDR = "127.0.0.79"    # hostile DNS for the burst (slow NXDOMAIN under BURST_ZONE)
BURST_ZONE = "nx.test"
DNS_DELAY = 0.3
HERE = os.path.dirname(os.path.abspath(__file__))


def daemon_settings(max_connections=4096, idle_timeout=60, request_timeout=10,
                    max_concurrent_resolutions=256, dane_enabled=True):
    """The flood daemons' own configuration keys (harness.Daemon writes the rest)."""
    return f"""\
cache: {{type: internal, options: {{cache_size: 50000}}}}
cache_grace: 60
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
proactive_policy_fetching: {{enabled: false}}
limits:
  max_connections: {max_connections}
  idle_timeout: {idle_timeout:g}
  request_timeout: {request_timeout:g}
  max_concurrent_resolutions: {max_concurrent_resolutions}
  negative_ttl: 300
dane: {{enabled: {"true" if dane_enabled else "false"}}}
"""


def sanitized(binary):
    """True for an ASan/TSan build: shadow memory and ASan's quarantine (up to 256 MiB of
    freed blocks held back) make its RSS say nothing about the daemon's own."""
    try:
        out = subprocess.run(["ldd", binary], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return "libasan" in out or "libtsan" in out


def rss_bound(connections):
    """The RSS a flood may reach, in KiB. Idle, the daemon takes about 18 MiB (libraries,
    c-ares, libcurl, OpenSSL contexts, the cache): 32 MiB leaves room for allocator
    growth. An open connection holds a Connection object with its 4 KiB read buffer, two
    timers, the socket, a short partial request and a few pending replies: about 6 KiB
    measured (10,000 connections: 74 MiB peak); 12 KiB per connection is twice that."""
    return 32 * 1024 + 12 * connections


class Daemon(harness.Daemon):
    def __init__(self, binary, ctl, workdir, name, world, dns=None, **limits):
        super().__init__(binary, workdir, name, DAEMON_ADDR, control=True,
                         query_timeout=ZONE_TIMEOUT + 5)
        self.ctl = ctl
        self.write_config(daemon_settings(**limits),
                          dns or "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file,
                          log_level="warn")

    def argv(self):
        # prlimit execs the daemon: the PID stays the daemon's.
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        return ["prlimit", "--nofile=%d:%d" % (hard, hard)] + super().argv()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def rss_kb(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return None

    def fds(self):
        try:
            return len(os.listdir("/proc/%d/fd" % self.proc.pid))
        except OSError:
            return None

    def stats(self):
        res = harness.ctl(self.ctl, "stats", "--json", "--control", self.control, timeout=15)
        try:
            return json.loads(res.stdout)
        except ValueError:
            return {"error": res.stdout + res.stderr}


class Monitor:
    """Samples the daemon's RSS and descriptor count, and runs the well-behaved client."""

    def __init__(self, d, good=True):
        self.d = d
        self.good = good
        self.rss_peak = 0
        self.fds_peak = 0
        self.latencies = []
        self.wrong = []
        self.stats_samples = []
        self.sample_stats = False
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._sample, daemon=True)]
        if good:
            self._threads.append(threading.Thread(target=self._client, daemon=True))
        if d.ctl:
            self._threads.append(threading.Thread(target=self._stats, daemon=True))

    def __enter__(self):
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=15)

    def _sample(self):
        while not self._stop.is_set():
            rss, fds = self.d.rss_kb(), self.d.fds()
            self.rss_peak = max(self.rss_peak, rss or 0)
            self.fds_peak = max(self.fds_peak, fds or 0)
            self._stop.wait(0.1)

    def _client(self):
        want = enforce_answer(GOOD)
        while not self._stop.is_set():
            t0 = time.monotonic()
            got = self.d.query(GOOD, timeout=10)
            took = time.monotonic() - t0
            self.latencies.append(took)
            if got != want:
                self.wrong.append(got)
            self._stop.wait(0.2)

    def _stats(self):
        while not self._stop.is_set():
            if self.sample_stats:
                self.stats_samples.append(self.d.stats())
            self._stop.wait(0.25)

    def check_good(self, c, label):
        if not self.good:
            return
        lat = self.latencies
        worst = max(lat) if lat else None
        c.ok("%s: well-behaved client: %d answers, all exact, worst %.3f s, median %.3f s "
             "(bound %g s)" % (label, len(lat), worst or 0, statistics.median(lat) if lat else 0,
                               GOOD_LATENCY),
             lat and not self.wrong and worst <= GOOD_LATENCY,
             "wrong answers %r" % self.wrong[:3])


def run_client(mode, d, timeout, background=False, **options):
    argv = ["/usr/bin/python3", os.path.join(HERE, "flood_client.py"), mode, "--host",
            DAEMON_ADDR, "--port", str(d.port)]
    for k, v in options.items():
        argv += ["--" + k.replace("_", "-"), str(v)]
    if background:
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    return parse_result(res.stdout, res.stderr)


def parse_result(stdout, stderr):
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"error": (stdout + stderr)[-600:]}


def wait_fds(d, ceiling, timeout):
    deadline = time.monotonic() + timeout
    while (n := d.fds()) is not None and n > ceiling and time.monotonic() < deadline:
        time.sleep(0.2)
    return n


class Flood:
    """One flood: a fresh daemon, the cache warmed, the monitor on around the body."""

    def __init__(self, c, args, w, name, label, good=True, dns=None, **limits):
        self.c, self.args, self.w, self.dns = c, args, w, dns
        self.name, self.label, self.good, self.limits = name, label, good, limits

    def __enter__(self):
        self.d = Daemon(self.args.daemon, self.args.ctl, self.args.workdir, self.name, self.w,
                        dns=self.dns, **self.limits)
        if not self.c.ok("%s: daemon starts" % self.label, self.d.start(),
                         procs.log_tail(self.d.log)):
            raise RuntimeError("daemon did not start")
        for key in (GOOD, SHORT):
            self.c.eq("%s: %s learned" % (self.label, key), enforce_answer(key), self.d.query(key))
        time.sleep(0.3)
        self.rss_base, self.fds_base = self.d.rss_kb(), self.d.fds()
        self.mon = Monitor(self.d, good=self.good).__enter__()
        return self

    def __exit__(self, exc_type, *exc):
        self.mon.__exit__()
        try:
            if exc_type is None:
                self.finish()
        finally:
            self.d.stop()

    def finish(self):
        c, d, label = self.c, self.d, self.label
        fds_after = wait_fds(d, self.fds_base + 3, 15)
        rss_after = d.rss_kb()
        bound = rss_bound(self.connections)
        print("# RSS %s: before %.1f MiB, peak %.1f MiB, after %.1f MiB (bound %.1f MiB); "
              "descriptors before %d, peak %d, after %r"
              % (label, self.rss_base / 1024, self.mon.rss_peak / 1024, (rss_after or 0) / 1024,
                 bound / 1024, self.fds_base, self.mon.fds_peak, fds_after), flush=True)
        if sanitized(d.binary):
            print("# %s: sanitizer build, RSS bound not checked (the release run checks it)"
                  % label, flush=True)
        else:
            c.ok("%s: RSS peak %.1f MiB under %.1f MiB" % (label, self.mon.rss_peak / 1024,
                                                           bound / 1024),
                 0 < self.mon.rss_peak <= bound)
        c.ok("%s: descriptors back to %d (+3) after the flood" % (label, self.fds_base),
             fds_after is not None and fds_after <= self.fds_base + 3, "now %r" % fds_after)
        self.mon.check_good(c, label)
        c.ok("%s: daemon still running" % label, d.alive(), "exit %r" % d.proc.poll())
        c.eq("%s: still answers afterwards" % label, enforce_answer(GOOD), d.query(GOOD))
        c.eq("%s: SIGTERM exit code" % label, 0, d.stop())


# ----- the floods --------------------------------------------------------------------------
def flood_concurrent(c, args, w):
    n = 10000
    label = "10k concurrent"
    with Flood(c, args, w, "concurrent", label, max_connections=n + 2000) as f:
        f.connections = n
        after = []
        # Twice: memory the first round took must be reused by the second, not added to.
        for round_ in (1, 2):
            r = run_client("concurrent", f.d, 100, count=n, hold=1.0, key=GOOD,
                           expect=enforce_answer(GOOD))
            print("# %s round %d: %s" % (label, round_, json.dumps(r)), flush=True)
            c.ok("%s round %d: %d connections open at once (client %r)"
                 % (label, round_, n, r.get("connected")),
                 r.get("connected") == n and r.get("connect_failed") == 0, repr(r))
            c.eq("%s round %d: every connection got the exact answer" % (label, round_), n,
                 r.get("answered"))
            wait_fds(f.d, f.fds_base + 3, 15)
            after.append(f.d.rss_kb() or 0)
        c.ok("%s: daemon held them all (peak %d descriptors)" % (label, f.mon.fds_peak),
             f.mon.fds_peak >= n)
        if sanitized(f.d.binary):
            print("# %s: sanitizer build, RSS after each round %.1f, %.1f MiB (not checked)"
                  % (label, after[0] / 1024, after[1] / 1024), flush=True)
        else:
            c.ok("%s: no growth from round 1 to round 2 (RSS after each: %.1f, %.1f MiB)"
                 % (label, after[0] / 1024, after[1] / 1024), after[1] <= after[0] * 1.1 + 2048)


def flood_cap(c, args, w):
    cap, n = 50, 200
    label = "max_connections %d" % cap
    with Flood(c, args, w, "cap", label, good=False, max_connections=cap) as f:
        f.connections = cap
        r = run_client("cap", f.d, 60, count=n, hold=1.0, key=GOOD, expect=enforce_answer(GOOD))
        print("# %s: %s" % (label, json.dumps(r)), flush=True)
        c.eq("%s: %d of %d connections served" % (label, cap, n), cap, r.get("answered"))
        c.eq("%s: the other %d closed by the daemon" % (label, n - cap), n - cap, r.get("closed"))
        c.eq("%s: served connections answer a second request" % label, cap,
             r.get("second_answered"))
        with open(f.d.log, "rb") as log:
            warnings = log.read().decode("utf-8", "replace").count("(max_connections)")
        c.ok("%s: the refusals are logged, rate-limited (%d warning lines for %d refusals)"
             % (label, warnings, n - cap), 1 <= warnings <= 3)


def flood_idle(c, args, w):
    n, idle = 1000, 3.0
    label = "%d idle connections" % n
    with Flood(c, args, w, "idle", label, idle_timeout=idle) as f:
        f.connections = n
        r = run_client("idle", f.d, 60, count=n, hold=idle + 12)
        print("# %s: %s" % (label, json.dumps(r)), flush=True)
        c.eq("%s: all connected" % label, n, r.get("connected"))
        c.eq("%s: all closed by the daemon" % label, n, r.get("closed"))
        first, last = r.get("first_close"), r.get("last_close")
        c.ok("%s: closed after idle_timeout %g s (first %s s, last %s s after connecting)"
             % (label, idle, first, last),
             first is not None and first >= idle - 0.5 and last <= idle + 5, repr(r))
        c.eq("%s: nothing was sent to them" % label, 0, r.get("data_seen"))


def flood_slowloris(c, args, w):
    n = 500
    request_timeout = 5
    label = "%d slowloris clients" % n
    with Flood(c, args, w, "slowloris", label, idle_timeout=3,
               request_timeout=request_timeout) as f:
        f.connections = n
        r = run_client("slowloris", f.d, 90, count=n, interval=1.0, key=SHORT,
                       expect=enforce_answer(SHORT))
        print("# %s: %s" % (label, json.dumps(r)), flush=True)
        c.eq("%s: all connected" % label, n, r.get("connected"))
        # A byte a second is activity, so idle_timeout (3 s) does not cut them; a request
        # must be complete request_timeout after its first byte, so that does.
        c.ok("%s: %d-byte requests sent a byte a second: every client cut off by "
             "limits.request_timeout (%d s) before its request was complete (%r cut, %r "
             "answered)" % (label, r.get("request_bytes", 0), request_timeout,
                            r.get("cut_while_sending"), r.get("answered")),
             r.get("request_bytes", 0) > request_timeout + 2
             and r.get("cut_while_sending") == n and r.get("answered") == 0, repr(r))


def flood_nonreaders(c, args, w):
    # Each sends 1.9 MB of requests whose replies (7 MB) cannot all fit in the socket
    # buffers (client SO_RCVBUF 4 KiB, daemon send buffer at most tcp_wmem's 4 MiB).
    n, requests = 10, 100000
    label = "%d clients that never read" % n
    with Flood(c, args, w, "nonreader", label) as f:
        f.connections = n
        proc = run_client("nonreader", f.d, 0, background=True, count=n, requests=requests,
                          key=GOOD, send_seconds=5, hold=50, rcvbuf=4096)
        try:
            first = proc.stdout.readline()
            sent = parse_result(first, "")
            print("# %s: %s" % (label, first.strip()), flush=True)
            # The daemon stops reading once 64 replies are owed, and disconnects a client
            # that reads nothing for 30 s (write timeout).
            t0 = time.monotonic()
            gone = wait_fds(f.d, f.fds_base + 3, 42)
            took = time.monotonic() - t0
            c.ok("%s: disconnected by the daemon while still connected (%.0f s after the "
                 "sending stopped)" % (label, took), gone is not None and gone <= f.fds_base + 3,
                 "daemon descriptors %r (before %d)" % (gone, f.fds_base))
            c.ok("%s: they sent requests the daemon could not all read (%s bytes)"
                 % (label, sent.get("bytes")), (sent.get("bytes") or 0) > 0, repr(sent))
        finally:
            try:
                out, err = proc.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
        r = parse_result(out, err)
        print("# %s: %s" % (label, json.dumps(r)), flush=True)
        c.eq("%s: all connected" % label, n, r.get("connected"))
        with open(f.d.log, "rb") as log:
            text = log.read().decode("utf-8", "replace")
        c.eq("%s: each logged once as not reading its replies" % label, n,
             text.count("does not read its replies"))


def flood_partial(c, args, w):
    n, rounds = 500, 20
    label = "partial netstrings then close"
    with Flood(c, args, w, "partial", label) as f:
        f.connections = n
        r = run_client("partial", f.d, 90, count=n, rounds=rounds)
        print("# %s: %s" % (label, json.dumps(r)), flush=True)
        c.ok("%s: %s connections sent a partial request and closed" % (label, r.get("connections")),
             (r.get("connections") or 0) >= n * rounds * 0.95, repr(r))


def flood_burst(c, args, w, dns):
    """The names live under nx.test, which the hostile DNS answers NXDOMAIN after
    DNS_DELAY: slow enough that work piles up and the bound can be seen at work.
    MTA-STS's bound alone (DANE off): with DANE on, names beyond DANE's own queue are
    answered TEMP (never a silent downgrade), which flood_burst_dane checks."""
    names, conns, slots = 10000, 100, 50
    label = "burst of %d non-existent domains" % names
    with Flood(c, args, w, "burst", label, dns="%s:%d" % (dns.addr, dns.port),
               max_concurrent_resolutions=slots, dane_enabled=False) as f:
        f.connections = conns
        before = f.d.stats()
        f.mon.sample_stats = True
        r1 = run_client("burst", f.d, 150, count=conns, names=names, expect=NOTFOUND,
                        zone=BURST_ZONE)
        print("# %s, first pass: %s" % (label, json.dumps(r1)), flush=True)
        # Replies come in request order, and a connection has at most 64 requests in the
        # daemon at once (max_pending_per_connection): 100 pipelined requests wait for at
        # most two rounds of the zone timeout.
        limit = 2 * ZONE_TIMEOUT + 3
        c.ok("%s: every query answered NOTFOUND (%r of %d in %s s, bound %g s)"
             % (label, r1.get("notfound"), names, r1.get("seconds"), limit),
             r1.get("notfound") == names and r1.get("seconds", 99) <= limit, repr(r1))
        # Discoveries still running after their queries' timeout finish in the background.
        deadline = time.monotonic() + 30
        while (s1 := f.d.stats()).get("in_flight", 1) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        f.mon.sample_stats = False
        peak = max((s.get("in_flight", 0) for s in f.mon.stats_samples), default=0)
        bound = slots * 17  # running + queued (16 x max_concurrent_resolutions)
        print("# %s: stats before %s" % (label, json.dumps(before)), flush=True)
        print("# %s: stats after the first pass %s; in_flight peak %d in %d samples"
              % (label, json.dumps(s1), peak, len(f.mon.stats_samples)), flush=True)
        c.ok("%s: work bounded: in_flight peak %d <= %d (max_concurrent_resolutions %d + "
             "its queue)" % (label, peak, bound, slots), slots <= peak <= bound,
             "peak below %d: the samples missed the burst" % slots)
        c.eq("%s: all discoveries finished" % label, 0, s1.get("in_flight"))
        learned = s1.get("negative", 0)
        overloaded = s1.get("overloaded", 0) - before.get("overloaded", 0)
        c.ok("%s: each name was either discovered and remembered (%d) or refused as overload "
             "(%d)" % (label, learned, overloaded), learned + overloaded == names, repr(s1))
        c.ok("%s: DNS saw at most the admitted discoveries (%d queries)"
             % (label, dns.count_suffix(BURST_ZONE)), dns.count_suffix(BURST_ZONE) <= 2 * bound)
        r2 = run_client("burst", f.d, 150, count=conns, names=names, expect=NOTFOUND,
                        zone=BURST_ZONE)
        s2 = f.d.stats()
        print("# %s, repeat: %s; stats %s" % (label, json.dumps(r2), json.dumps(s2)), flush=True)
        c.ok("%s: repeat answered NOTFOUND (%r of %d)" % (label, r2.get("notfound"), names),
             r2.get("notfound") == names, repr(r2))
        hits = s2.get("negative_hits", 0) - s1.get("negative_hits", 0)
        c.ok("%s: every remembered name came from the negative cache (%d negative hits for %d "
             "remembered)" % (label, hits, learned), hits == learned and learned > 0)
        new = s2.get("discoveries", 0) - s1.get("discoveries", 0)
        c.ok("%s: the repeat started discoveries only for names refused before (%d new, %d "
             "refused before)" % (label, new, overloaded), new <= overloaded)
        deadline = time.monotonic() + 30
        while f.d.stats().get("in_flight", 1) > 0 and time.monotonic() < deadline:
            time.sleep(0.2)


FLOODS = [("concurrent", flood_concurrent), ("cap", flood_cap), ("idle", flood_idle),
          ("slowloris", flood_slowloris), ("nonreader", flood_nonreaders),
          ("partial", flood_partial), ("burst", flood_burst)]


def body(run):
    c, args = run.checks, run.args
    w = World(args.workdir, dns_addr=WORLD_ADDR, https_addr=WORLD_ADDR)
    run.on_exit(w.stop, w.logs)
    for name in (GOOD, SHORT):
        w.add_domain(name, txt=[S.ID], policy=S.policy(mx=["mail." + name]))
    floods = FLOODS
    if args.only:
        floods = [f for f in floods if f[0] in args.only.split(",")]
    if not procs.tcp_port_free(WORLD_ADDR, 443):
        raise RuntimeError("%s:443 is in use (another test running?)" % WORLD_ADDR)
    w.start()
    dns = D.HostileDNS(DNS_ADDR, procs.free_port(DNS_ADDR), (w.dns_addr, w.dns_port))
    run.on_exit(dns.stop)
    dns.set_suffix_rule(BURST_ZONE, D.ANY_TYPE, D.delayed(DNS_DELAY, D.rcode(D.NXDOMAIN)))
    print("# world: nsd %s:%d, nginx %s:443; open files: %r"
          % (w.dns_addr, w.dns_port, w.https_addr, resource.getrlimit(resource.RLIMIT_NOFILE)),
          flush=True)
    for name, flood in floods:
        t0 = time.monotonic()
        try:
            flood(c, args, w, dns) if name == "burst" else flood(c, args, w)
        except (RuntimeError, subprocess.TimeoutExpired, OSError) as e:
            c.ok("%s: flood ran to completion" % name, False, "%s: %s" % (type(e).__name__, e))
        print("# %s took %.0f s" % (name, time.monotonic() - t0), flush=True)


def add_arguments(ap):
    ap.add_argument("--only", help="comma-separated flood names (for debugging)")


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "floods", OVERALL_LIMIT, body, add_arguments))

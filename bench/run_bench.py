#!/usr/bin/python3
"""mta-stsd against the ceiling: throughput as a ratio, latency, memory.

    /usr/bin/python3 bench/run_bench.py --loadgen BUILD/bench/mtasts-loadgen \
        --ceiling BUILD/bench/mtasts-ceiling [--daemon BUILD/mta-stsd] [--json]

Starts mtasts-ceiling (one fixed reply, the fastest socketmap server possible
here) and runs each scenario against it; with --daemon, builds a test world
(tests/e2e/world.py: nsd + nginx + a test CA on loopback) of --domains domains,
starts mta-stsd on it, warms its cache with one pass over every key, and runs the
same scenarios against it. Each scenario runs against the ceiling right before
the daemon, so both see the same machine; throughput is reported as a ratio to
the ceiling's. Every answer is checked: a wrong answer fails the scenario.
Builds nothing; takes the programs' paths. Standard library only.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

CEILING_REPLY = "OK secure match=mx.example.com servername=hostname"
SERVER_CPU, LOADGEN_CPU = 0, 1  # --pin
NOTFOUND = "NOTFOUND "
MAP_NAME = "postfix"

# (name, loadgen mode, connections, keys): "all" asks for every domain of the
# world, 70 % of which have no usable policy (answered from the negative
# cache); "policies" only for those with an enforce policy (plain hits).
SCENARIOS = [
    ("persistent-64", "persistent", 64, "all"),
    ("persistent-64-policies", "persistent", 64, "policies"),
    ("persistent-1", "persistent", 1, "all"),
    ("per-request-64", "per-request", 64, "all"),
]


def build_world(world_mod, workdir, count, https_addr, dns_addr="127.0.0.1", dns_port=None):
    """count domains, interleaved so round-robin keys mix the kinds: of every 20,
    14 have no _mta-sts record (70 %), 5 an enforce policy (25 %), and 1 (5 %)
    alternately a testing policy or a TXT record whose policy URL answers 404.
    Returns (world, [(key, expected payload)])."""
    w = world_mod.World(workdir, dns_addr=dns_addr, dns_port=dns_port, https_addr=https_addr)
    expected = []
    for i in range(count):
        name = "d%05d.test" % i
        kind = i % 20
        if kind < 14:
            w.add_domain(name, mta_sts_host=False)
            expected.append((name, NOTFOUND))
        elif kind < 19:
            policy = ("version: STSv1\nmode: enforce\nmx: mx1.%s\nmax_age: 604800\n" % name).encode()
            w.add_domain(name, txt=["v=STSv1; id=%d" % i], policy=policy)
            expected.append((name, "OK secure match=mx1.%s servername=hostname" % name))
        elif (i // 20) % 2 == 0:
            policy = ("version: STSv1\nmode: testing\nmx: mx1.%s\nmax_age: 604800\n" % name).encode()
            w.add_domain(name, txt=["v=STSv1; id=%d" % i], policy=policy)
            expected.append((name, NOTFOUND))
        else:
            w.add_domain(name, txt=["v=STSv1; id=%d" % i], policy=None, status=404)
            expected.append((name, NOTFOUND))
    return w, expected


def write_queries(path, pairs):
    with open(path, "w") as f:
        for key, reply in pairs:
            f.write("%s\t%s\n" % (key, reply))


def pin_threads(pid, cpus):
    """Every thread of pid onto cpus (threads started later inherit it)."""
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            os.sched_setaffinity(int(tid), cpus)
    except OSError:
        pass


def run_loadgen(args, port, queries, mode, connections, server_pid, *, requests=None):
    cmd = [args.loadgen, "--host", "127.0.0.1", "--port", str(port), "--name", MAP_NAME,
           "--queries", queries, "--mode", mode, "--connections", str(connections),
           "--server-pid", str(server_pid), "--json"]
    if requests is not None:
        cmd += ["--requests", str(requests), "--timeout", "30"]
    else:
        cmd += ["--duration", str(args.duration), "--warmup", str(args.warmup)]
    preexec = None
    if args.pin:
        # Server and load generator each on a core of their own: on two cores the
        # scheduler otherwise moves them onto one another, and the ratio to the
        # ceiling swung by 0.4 between runs of the same binary.
        pin_threads(server_pid, {SERVER_CPU})
        preexec = lambda: os.sched_setaffinity(0, {LOADGEN_CPU})  # noqa: E731
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, preexec_fn=preexec)
    if out.returncode not in (0, 1):
        raise RuntimeError("loadgen failed (%d): %s" % (out.returncode, out.stderr.strip()))
    result = json.loads(out.stdout)
    result["ok"] = out.returncode == 0
    return result


def proc_status(pid, field):
    """A kB figure (VmRSS, VmHWM) from /proc/PID/status, or None."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def start_ceiling(args):
    proc = subprocess.Popen([args.ceiling, "--port", "0", "--reply", CEILING_REPLY],
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "listening 127.0.0.1:PORT"
    if not line.startswith("listening"):
        proc.kill()
        raise RuntimeError("mtasts-ceiling did not start")
    return proc, int(line.rsplit(":", 1)[1])


class Daemon:
    """One mta-stsd under test: --daemon PATH, or LABEL=PATH[,metrics]."""

    def __init__(self, spec, metrics_default):
        label, path, metrics = "mta-stsd", spec, metrics_default
        if "=" in spec:
            label, path = spec.split("=", 1)
        if path.endswith(",metrics"):
            path, metrics = path[:-len(",metrics")], True
        self.label, self.path, self.metrics = label, path, metrics
        self.proc = self.port = self.metrics_port = None
        self.memory = {}
        self.warm_passes = None
        self.scrapes = {"count": 0, "failures": [], "slowest_ms": 0.0}


def start_daemon(args, procs, workdir, w, d):
    """Starts d (a Daemon) on the world w, each with files of its own."""
    port = procs.free_port("127.0.0.1")
    config = os.path.join(workdir, "%s.yml" % d.label)
    with open(config, "w") as f:
        f.write("host: 127.0.0.1\nport: %d\n" % port)
        if args.cache == "sqlite":
            f.write("cache: {type: sqlite, options: {filename: %s}}\n"
                    % os.path.join(workdir, "%s-cache.db" % d.label))
        else:
            f.write("cache: {type: internal}\n")
        f.write('resolver: {nameservers: ["%s:%d"]}\n' % (w.dns_addr, w.dns_port))
        f.write("tls: {ca_file: %s}\n" % w.ca_file)
        # Every answer is logged at info; a busy server runs at warn, and so does the benchmark.
        f.write("log_level: %s\n" % (args.log_level or "warn"))
        f.write("privileges: {allow_root: true}\n")  # the benchmark runs as root
        if d.metrics:
            d.metrics_port = procs.free_port("127.0.0.1")
            f.write('metrics: {listen: "127.0.0.1:%d"}\n' % d.metrics_port)
    log = os.path.join(workdir, "%s.log" % d.label)
    state = os.path.join(workdir, d.label)
    os.makedirs(state, exist_ok=True)
    d.proc = procs.ManagedProcess(d.label, [os.path.abspath(d.path), "-c", config], log, cwd=state)
    if not procs.wait_tcp("127.0.0.1", port, 15, d.proc):
        raise RuntimeError("%s did not listen on 127.0.0.1:%d:\n%s"
                           % (d.label, port, procs.log_tail(log)))
    d.port = port


class Scraper:
    """Reads mta-stsd's /metrics every interval while the load runs, as Prometheus
    would (its default is every 15 s: once a second is the harder case). Every
    scrape must answer 200 with the answer counters in it."""

    def __init__(self, port, interval):
        self.url = "http://127.0.0.1:%d/metrics" % port
        self.interval = interval
        self.scrapes = 0
        self.failures = []
        self.slowest_ms = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(self.interval):
            started = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    body = r.read().decode("utf-8", "replace")
                if "mtastsd_answers_total" not in body:
                    self.failures.append("no mtastsd_answers_total in the scrape")
            except OSError as e:
                self.failures.append(repr(e))
                continue
            self.scrapes += 1
            self.slowest_ms = max(self.slowest_ms, (time.monotonic() - started) * 1000)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)


PYTHON_DAEMON = "/usr/bin/mta-sts-daemon"  # Debian's postfix-mta-sts-resolver
PYTHON_DNS_ADDR = "127.0.0.24"              # its world's nsd, on port 53 (resolv.conf has no port)


def start_python_daemon(args, procs, workdir, w):
    """postfix-mta-sts-resolver on the same world. It reads its nameserver from
    /etc/resolv.conf and trusts the default CA store, so it runs in a mount
    namespace of its own where /etc/resolv.conf names the world's nsd, with
    SSL_CERT_FILE (which Python's ssl honours) naming the world's CA."""
    port = procs.free_port("127.0.0.1")
    resolv = os.path.join(workdir, "python-resolv.conf")
    with open(resolv, "w") as f:
        f.write("nameserver %s\n" % PYTHON_DNS_ADDR)
    config = os.path.join(workdir, "mta-sts-daemon.yml")
    with open(config, "w") as f:
        f.write("host: 127.0.0.1\nport: %d\n" % port)
        f.write("cache: {type: internal, options: {cache_size: %d}}\n" % (args.domains * 2))
        f.write("default_zone: {timeout: 4}\n")
    log = os.path.join(workdir, "mta-sts-daemon.log")
    env = dict(os.environ, SSL_CERT_FILE=w.ca_file)
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount --bind "$1" /etc/resolv.conf && exec "$2" -v warn -c "$3"', "sh",
            resolv, args.python_daemon, config]
    proc = procs.ManagedProcess("mta-sts-daemon", argv, log, env=env, cwd=workdir)
    if not procs.wait_tcp("127.0.0.1", port, 20, proc):
        raise RuntimeError("mta-sts-daemon did not listen on 127.0.0.1:%d:\n%s"
                           % (port, procs.log_tail(log)))
    return proc, port


def warm(args, port, queries, count, pid):
    """One pass over every key (64 at a time), repeated (at most 3 passes) until a
    pass gets every answer right: a cold lookup that hit the zone timeout may
    have answered NOTFOUND the first time."""
    passes = []
    for _ in range(3):
        r = run_loadgen(args, port, queries, "persistent", 64, pid, requests=count)
        passes.append({"elapsed_s": r["elapsed_s"], "mismatches": r["mismatches"],
                       "errors": r["errors"], "first_mismatches": r["first_mismatches"],
                       "first_errors": r["first_errors"]})
        if r["ok"]:
            break
    return passes


def fmt_us(v):
    return "%.0f" % v if v >= 100 else "%.1f" % v


def cpu_us_per_request(r):
    """The server's CPU time (user + system, from /proc) per request answered, in µs, or
    None when not measured. Unlike throughput it does not depend on how the kernel
    happened to place the two processes' wake-ups, so it compares two builds of the
    hit path more closely than the ratio to the ceiling does."""
    server = r["cpu_pct"].get("server")
    if server is None or r["qps"] <= 0:
        return None
    return server / 100.0 / r["qps"] * 1e6


def fmt_cpu(v):
    return "-" if v is None else "%.1f" % v


def print_table(rows, daemons, python_memory):
    head = ("scenario", "round", "server", "qps", "ratio", "p50 us", "p99 us", "p99.9 us", "max us",
            "p99 ratio", "cpu% srv/gen", "srv cpu us/req", "check")
    lines = [head]
    for r in rows:
        lat = r["latency_us"]
        cpu = r["cpu_pct"]
        lines.append((r["scenario"], str(r["round"]), r["server"], "%.0f" % r["qps"], "%.3f" % r["qps_ratio"],
                      fmt_us(lat["p50"]), fmt_us(lat["p99"]), fmt_us(lat["p99_9"]),
                      fmt_us(lat["max"]), "%.2f" % r["p99_ratio"],
                      "%.0f/%.0f" % (cpu.get("server", 0), cpu.get("loadgen", 0)),
                      fmt_cpu(cpu_us_per_request(r)),
                      "ok" if r["ok"] else "FAIL (%d wrong, %d errors)" % (r["mismatches"], r["errors"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.ljust(widths[i]) if i < 3 or i == len(head) - 1 else cell.rjust(widths[i])
                        for i, cell in enumerate(line)).rstrip())
    for r in rows:
        for m in r["first_mismatches"]:
            print("MISMATCH %s %s: expected %r got %r" % (r["scenario"], r["server"], m["expected"],
                                                        m["got"]))
        for e in r["first_errors"]:
            print("ERROR %s %s: %s" % (r["scenario"], r["server"], e))
    for d in daemons:
        if d.warm_passes:
            print("%s warm-up: %d pass(es) over all keys, first took %.2f s"
                  % (d.label, len(d.warm_passes), d.warm_passes[0]["elapsed_s"]))
        m = d.memory
        print("%s memory: VmRSS %s KiB before warm-up, %s KiB after, %s KiB at the end; "
              "VmHWM (peak) %s KiB" % (d.label, m.get("rss_before_warmup_kib"), m.get("rss_after_warmup_kib"),
                                       m.get("rss_at_end_kib"), m.get("hwm_kib")))
    if python_memory:
        print("mta-sts-daemon (postfix-mta-sts-resolver) memory: VmRSS %s KiB at the end; "
              "%d warm-up pass(es)" % (python_memory["rss_at_end_kib"], python_memory["warm_passes"]))


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def summary(rows):
    """Per scenario and server: the median ratio to the ceiling over the rounds, with
    every round's ratio (a server's median is what to compare between servers)."""
    out = []
    for name, _, _, _ in SCENARIOS:
        for server in dict.fromkeys(r["server"] for r in rows if r["server"] != "ceiling"):
            ratios = [r["qps_ratio"] for r in rows if r["scenario"] == name and r["server"] == server]
            p99 = [r["p99_ratio"] for r in rows if r["scenario"] == name and r["server"] == server]
            cpu = [c for c in (cpu_us_per_request(r) for r in rows
                               if r["scenario"] == name and r["server"] == server) if c is not None]
            if ratios:
                out.append({"scenario": name, "server": server, "median_qps_ratio": median(ratios),
                            "qps_ratios": ratios, "median_p99_ratio": median(p99),
                            "median_cpu_us_per_request": median(cpu) if cpu else None,
                            "cpu_us_per_request": cpu})
    return out


def print_summary(summary_rows, rounds):
    print("median over %d round(s), ratio to the ceiling measured just before each "
          "(throughput; p99 latency); the server's CPU per request:" % rounds)
    for s in summary_rows:
        print("  %-24s %-16s %.3f  [%s]  p99 %.2f  cpu %s us/req [%s]" % (
            s["scenario"], s["server"], s["median_qps_ratio"],
            " ".join("%.3f" % v for v in s["qps_ratios"]), s["median_p99_ratio"],
            fmt_cpu(s["median_cpu_us_per_request"]),
            " ".join("%.1f" % v for v in s["cpu_us_per_request"])))


def measure(args, d, queries, mode, connections):
    """One scenario against one daemon; with metrics, /metrics is read meanwhile."""
    if not d.metrics:
        return run_loadgen(args, d.port, queries, mode, connections, d.proc.pid)
    with Scraper(d.metrics_port, args.scrape_interval) as scraper:
        r = run_loadgen(args, d.port, queries, mode, connections, d.proc.pid)
    d.scrapes["count"] += scraper.scrapes
    d.scrapes["failures"] += scraper.failures
    d.scrapes["slowest_ms"] = max(d.scrapes["slowest_ms"], scraper.slowest_ms)
    if scraper.failures:
        r["ok"] = False
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--loadgen", required=True, help="path to mtasts-loadgen")
    ap.add_argument("--ceiling", required=True, help="path to mtasts-ceiling")
    ap.add_argument("--daemon", action="append", default=[],
                    help="path to mta-stsd (without it, only the ceiling runs); repeat as LABEL=PATH, "
                         "or LABEL=PATH,metrics for one with metrics on, to compare builds on one world "
                         "in the same run")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every scenario this many times; the daemons' order is rotated each "
                         "round, and a summary gives each one's median ratio")
    ap.add_argument("--scenario", action="append", default=[], choices=[s[0] for s in SCENARIOS],
                    help="run only this scenario (repeat for several; default: all)")
    ap.add_argument("--domains", type=int, default=1000, help="domains in the test world")
    ap.add_argument("--duration", type=float, default=10, help="seconds measured per scenario")
    ap.add_argument("--warmup", type=float, default=2, help="seconds of load before measuring")
    ap.add_argument("--https-addr", default="127.0.0.20",
                    help="loopback address of the world's nginx (not the e2e tests' 127.0.0.10, so both can run)")
    ap.add_argument("--cache", choices=("internal", "sqlite"), default="internal",
                    help="mta-stsd's cache type: memory only, or memory backed by SQLite (hits are served "
                         "from memory either way; run both to compare)")
    ap.add_argument("--python-daemon", default=PYTHON_DAEMON if os.path.exists(PYTHON_DAEMON) else None,
                    help="also run Debian's postfix-mta-sts-resolver (mta-sts-daemon; default: %s when "
                         "installed and running as root); 'none' to skip" % PYTHON_DAEMON)
    ap.add_argument("--log-level", help="mta-stsd log_level (default: warn; at info every answer is logged)")
    ap.add_argument("--workdir", help="keep the world and logs here (default: a temporary directory, removed)")
    ap.add_argument("--metrics", action="store_true",
                    help="mta-stsd with metrics.listen, its /metrics read every --scrape-interval "
                         "while the load runs (compare with a run without: the hit path's counting cost)")
    ap.add_argument("--scrape-interval", type=float, default=1.0,
                    help="seconds between scrapes with --metrics (Prometheus's default is 15)")
    ap.add_argument("--pin", choices=("auto", "on", "off"), default="auto",
                    help="the server (ceiling or daemon, every thread) on CPU %d, the load generator "
                         "on CPU %d; auto: on with at least two CPUs" % (SERVER_CPU, LOADGEN_CPU))
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    usable = os.sched_getaffinity(0)
    args.pin = args.pin == "on" or (args.pin == "auto" and {SERVER_CPU, LOADGEN_CPU} <= usable)
    if args.domains < 20:
        ap.error("--domains must be at least 20 (one of each kind)")
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    scenarios = [s for s in SCENARIOS if not args.scenario or s[0] in args.scenario]
    daemons = [Daemon(spec, args.metrics) for spec in args.daemon]
    labels = [d.label for d in daemons]
    if len(set(labels)) != len(labels) or "ceiling" in labels or "mta-sts-daemon" in labels:
        ap.error("every --daemon needs a label of its own (LABEL=PATH), not ceiling or mta-sts-daemon")
    if args.python_daemon == "none" or not daemons or os.geteuid() != 0:
        args.python_daemon = None  # it needs the world and, for its resolv.conf, root

    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="mtasts-bench-")
    os.makedirs(workdir, exist_ok=True)
    ceiling = None
    world = None
    python = None
    python_memory = None
    rows = []
    try:
        if daemons:
            import procs
            import world as world_mod
            dns = {"dns_addr": PYTHON_DNS_ADDR, "dns_port": 53} if args.python_daemon else {}
            world, pairs = build_world(world_mod, workdir, args.domains, args.https_addr, **dns)
            if not args.json:
                print("starting the world: %d domains (nsd, nginx on %s); mta-stsd cache: %s..."
                      % (args.domains, args.https_addr, args.cache), flush=True)
            world.start()
            for d in daemons:
                start_daemon(args, procs, workdir, world, d)
            if args.python_daemon:
                python, python_port = start_python_daemon(args, procs, workdir, world)
        else:
            pairs = [("d%05d.test" % i, CEILING_REPLY) for i in range(args.domains)]
        key_sets = {"all": pairs, "policies": [p for p in pairs if p[1].startswith("OK ")]}
        queries = {}
        for kind, chosen in key_sets.items():
            daemon_queries = os.path.join(workdir, "daemon-queries-%s.tsv" % kind)
            ceiling_queries = os.path.join(workdir, "ceiling-queries-%s.tsv" % kind)
            write_queries(daemon_queries, chosen)
            # The same keys (so the same request sizes), the ceiling's one reply.
            write_queries(ceiling_queries, [(key, CEILING_REPLY) for key, _ in chosen])
            queries[kind] = (daemon_queries, ceiling_queries)

        ceiling, ceiling_port = start_ceiling(args)
        for d in daemons:
            if not args.json:
                print("warming %s's cache..." % d.label, flush=True)
            d.memory["rss_before_warmup_kib"] = proc_status(d.proc.pid, "VmRSS")
            d.warm_passes = warm(args, d.port, queries["all"][0], len(pairs), d.proc.pid)
            d.memory["rss_after_warmup_kib"] = proc_status(d.proc.pid, "VmRSS")
        python_warm = None
        if python is not None:
            if not args.json:
                print("warming mta-sts-daemon's cache...", flush=True)
            python_warm = warm(args, python_port, queries["all"][0], len(pairs), python.pid)

        for rnd in range(1, args.rounds + 1):
            # Each round starts with another daemon, so none always runs first.
            shift = (rnd - 1) % len(daemons) if daemons else 0
            order = daemons[shift:] + daemons[:shift]
            for name, mode, connections, kind in scenarios:
                if not args.json:
                    print("running %s%s..." % (name, " (round %d)" % rnd if args.rounds > 1 else ""),
                          flush=True)
                daemon_queries, ceiling_queries = queries[kind]
                base = run_loadgen(args, ceiling_port, ceiling_queries, mode, connections, ceiling.pid)
                base.update(scenario=name, round=rnd, server="ceiling", qps_ratio=1.0, p99_ratio=1.0)
                rows.append(base)
                # The same scenario against each daemon, right after the ceiling.
                for d in order:
                    r = measure(args, d, daemon_queries, mode, connections)
                    rows.append(ratio_row(r, base, name, rnd, d.label))
                if python is not None:
                    r = run_loadgen(args, python_port, daemon_queries, mode, connections, python.pid)
                    rows.append(ratio_row(r, base, name, rnd, "mta-sts-daemon"))
        if python is not None:
            python_memory = {"rss_at_end_kib": proc_status(python.pid, "VmRSS"),
                             "warm_passes": len(python_warm)}
        for d in daemons:
            d.memory["rss_at_end_kib"] = proc_status(d.proc.pid, "VmRSS")
            d.memory["hwm_kib"] = proc_status(d.proc.pid, "VmHWM")
            if d.proc.poll() is not None:
                raise RuntimeError("%s exited during the benchmark (status %s)" % (d.label, d.proc.poll()))
    finally:
        if ceiling is not None:
            ceiling.terminate()
            ceiling.wait(timeout=10)
        for d in daemons:
            if d.proc is not None:
                d.proc.stop()
        if python is not None:
            python.stop()
        if world is not None:
            world.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    all_ok = all(r["ok"] for r in rows)
    summary_rows = summary(rows)
    if args.json:
        print(json.dumps({"domains": args.domains, "duration_s": args.duration, "pinned": args.pin,
                          "cores": os.cpu_count(), "rounds": args.rounds,
                          "loadavg": os.getloadavg(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                          "scenarios": rows, "summary": summary_rows,
                          "daemons": [{"label": d.label, "path": d.path, "metrics": d.metrics,
                                       "memory": d.memory, "warm_passes": d.warm_passes,
                                       "metrics_scrapes": d.scrapes if d.metrics else None}
                                      for d in daemons],
                          "python_memory": python_memory, "ok": all_ok}, indent=2))
    else:
        print_table(rows, daemons, python_memory)
        if daemons:
            print_summary(summary_rows, args.rounds)
        print("pinned: %s" % ("server on CPU %d, load generator on CPU %d" % (SERVER_CPU, LOADGEN_CPU)
                              if args.pin else "no (the scheduler places both)"))
        for d in daemons:
            if d.metrics:
                s = d.scrapes
                print("%s /metrics: %d scrapes during the load (every %g s), slowest %.1f ms, "
                      "%d failed%s" % (d.label, s["count"], args.scrape_interval, s["slowest_ms"],
                                       len(s["failures"]), (": " + s["failures"][0]) if s["failures"] else ""))
    return 0 if all_ok else 1


def ratio_row(r, base, name, rnd, server):
    r.update(scenario=name, round=rnd, server=server,
             qps_ratio=r["qps"] / base["qps"] if base["qps"] else 0.0,
             p99_ratio=(r["latency_us"]["p99"] / base["latency_us"]["p99"]
                        if base["latency_us"]["p99"] else 0.0))
    return r


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""mta-stsd resolving fresh domains over a slow network: domains/second, CPU per domain.

    /usr/bin/python3 bench/run_cold.py --daemon BUILD/mta-stsd \
        --loadgen BUILD/bench/mtasts-loadgen --delay-queue BUILD/bench/mtasts-delay-queue [--json]

Builds a test world (tests/e2e/world.py: nsd on 127.0.0.22, nginx on 127.0.0.23) of
--domains domains, of every 20: 16 with an enforce policy, 2 without an _mta-sts
record, 1 with a testing policy, 1 broken (a TXT record, but the policy URL answers
404). It then adds --delay-ms to every packet to and from the world's DNS (UDP and
TCP) and HTTPS ports: iptables-legacy NFQUEUE rules in the OUTPUT chain (on loopback
every packet passes OUTPUT once), one per direction, served by mtasts-delay-queue.
A DNS round trip then takes 2 x delay, and so does each round trip of the TCP and TLS
handshakes and of the HTTP request. The rules live in a chain of their own, removed
in a finally block (and on SIGTERM/SIGINT). The world has IPv4 addresses only
(nsd with do-ip6: no, A records only), so there is no IPv6 traffic to delay and no
ip6tables rule.

mta-stsd (127.0.0.21, `cache: {type: internal}`, so every run starts cold) is asked
for each domain exactly once, --concurrency at a time, by mtasts-loadgen (persistent
connections, --requests N), and every answer is checked. Reported: domains/second
(N / the load generator's elapsed time), the answers' latency, and the daemon's CPU
time (utime + stime from /proc/PID/stat, all threads) per domain, counted from just
before the first query until 0.5 s after the last answer, so that work left running
after an answer counts too. Runs first with dane.enabled: false, then with DANE on
(its default), reported separately: the world's nsd is not a validating resolver, so
DANE's MX lookups come back unauthenticated until the daemon declares DANE inert.
Needs root (iptables, NFQUEUE). Standard library only.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import procs  # noqa: E402  (tests/e2e: bounded process helpers)
import world as world_mod  # noqa: E402

DAEMON_ADDR = "127.0.0.21"
DNS_ADDR = "127.0.0.22"
HTTPS_ADDR = "127.0.0.23"
MAP_NAME = "postfix"
NOTFOUND = "NOTFOUND "
CHAIN = "MTASTS_COLD_DELAY"
IPTABLES = "iptables-legacy"


def build_world(workdir, count, sans_per_cert):
    """Returns (world, [(domain, expected answer)]), the kinds interleaved."""
    # world.py puts up to 500 policy hosts in one certificate (fast to make); a real
    # policy host's certificate names one or a few, and a certificate of 500 names
    # costs the client far more to parse and match.
    world_mod.SANS_PER_CERT = sans_per_cert
    w = world_mod.World(workdir, dns_addr=DNS_ADDR, https_addr=HTTPS_ADDR)
    pairs = []
    for i in range(count):
        name = "cold%05d.test" % i
        kind = i % 20
        if kind < 16:
            policy = ("version: STSv1\nmode: enforce\nmx: mx1.%s\nmax_age: 604800\n" % name).encode()
            w.add_domain(name, txt=["v=STSv1; id=%d" % i], policy=policy)
            pairs.append((name, "OK secure match=mx1.%s servername=hostname" % name))
        elif kind < 18:
            w.add_domain(name, mta_sts_host=False)
            pairs.append((name, NOTFOUND))
        elif kind == 18:
            policy = ("version: STSv1\nmode: testing\nmx: mx1.%s\nmax_age: 604800\n" % name).encode()
            w.add_domain(name, txt=["v=STSv1; id=%d" % i], policy=policy)
            pairs.append((name, NOTFOUND))
        else:
            w.add_domain(name, txt=["v=STSv1; id=%d" % i], policy=None, status=404)
            pairs.append((name, NOTFOUND))
    return w, pairs


# ----- the delay ---------------------------------------------------------------------
def iptables(*argv, check=True):
    res = subprocess.run([IPTABLES, "-w", "10"] + list(argv), capture_output=True, text=True,
                         timeout=60)
    if check and res.returncode != 0:
        raise RuntimeError("%s %s: %s" % (IPTABLES, " ".join(argv), res.stderr.strip()))
    return res.returncode == 0


def remove_rules():
    """Removes our chain and the jump to it; quiet when they are not there."""
    while iptables("-D", "OUTPUT", "-j", CHAIN, check=False):
        pass
    iptables("-F", CHAIN, check=False)
    iptables("-X", CHAIN, check=False)


def add_rules(queue, dns_port):
    remove_rules()  # left over from a run that was killed
    iptables("-N", CHAIN)
    target = ["-j", "NFQUEUE", "--queue-num", str(queue), "--queue-bypass"]
    for proto in ("udp", "tcp"):
        iptables("-A", CHAIN, "-d", DNS_ADDR, "-p", proto, "--dport", str(dns_port), *target)
        iptables("-A", CHAIN, "-s", DNS_ADDR, "-p", proto, "--sport", str(dns_port), *target)
    iptables("-A", CHAIN, "-d", HTTPS_ADDR, "-p", "tcp", "--dport", "443", *target)
    iptables("-A", CHAIN, "-s", HTTPS_ADDR, "-p", "tcp", "--sport", "443", *target)
    iptables("-I", "OUTPUT", "-j", CHAIN)


def start_delay_queue(args, workdir):
    log = os.path.join(workdir, "delay-queue.log")
    proc = subprocess.Popen([args.delay_queue, "--queue", str(args.queue_num), "--delay-ms",
                             str(args.delay_ms)], stdout=subprocess.PIPE,
                            stderr=open(log, "wb"), text=True)
    line = proc.stdout.readline()
    if not line.startswith("ready"):
        proc.wait(timeout=5)
        raise RuntimeError("mtasts-delay-queue did not start: %s" % procs.log_tail(log))
    return proc


def stop_delay_queue(proc):
    """Stops it by PID; returns its counters line ("packets=... max_held=... overruns=...")."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def dns_rtt_ms(port, tries=5):
    """Median round trip of a SOA query for "test." to the world's nsd, in ms."""
    query = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + b"\x04test\x00" + struct.pack(">HH", 6, 1)
    times = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        for _ in range(tries):
            t0 = time.monotonic()
            s.sendto(query, (DNS_ADDR, port))
            s.recvfrom(4096)
            times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[len(times) // 2]


def tcp_connect_ms(tries=5):
    """Median time of a TCP handshake to the world's nginx (one round trip), in ms."""
    times = []
    for _ in range(tries):
        t0 = time.monotonic()
        with socket.create_connection((HTTPS_ADDR, 443), timeout=3):
            times.append((time.monotonic() - t0) * 1000)
    return sorted(times)[len(times) // 2]


# ----- the daemon --------------------------------------------------------------------
def cpu_seconds(pid):
    """utime + stime of the whole process (all threads), in seconds."""
    with open("/proc/%d/stat" % pid, "rb") as f:
        stat = f.read()
    fields = stat[stat.rfind(b")") + 2:].split()
    # Fields 14 and 15 (utime, stime) are 12 and 13 after the command name and state.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


def trust_file(args, workdir, w):
    """The CA file the daemon trusts: the world's CA alone, or (--ca system) the
    system bundle with the world's CA appended, as large as production's."""
    if args.ca == "test":
        return w.ca_file
    path = os.path.join(workdir, "system-plus-test-ca.pem")
    with open(path, "w") as out:
        with open(SYSTEM_BUNDLE) as f:
            out.write(f.read())
        with open(w.ca_file) as f:
            out.write(f.read())
    return path


def handshake_floor(w, seconds=4):
    """CPU time of one bare TLS handshake with this machine's OpenSSL: `openssl
    s_time -new` against the world's nginx (one SSL_CTX for every connection,
    chain verified, nothing else done). A cold domain costs at least this."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(["openssl", "s_time", "-connect", "%s:443" % HTTPS_ADDR, "-new",
                          "-time", str(seconds), "-CAfile", w.ca_file, "-verify", "4"],
                         capture_output=True, text=True, timeout=seconds + 30)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    m = re.search(r"(\d+) connections in [\d.]+s;", out.stdout)
    if out.returncode != 0 or not m or int(m.group(1)) == 0:
        raise RuntimeError("openssl s_time failed: %s%s" % (out.stdout[-300:], out.stderr[-300:]))
    count = int(m.group(1))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"handshakes": count, "cpu_s": round(cpu, 3), "cpu_ms_per_handshake": cpu * 1000.0 / count}


def start_daemon(args, workdir, w, dane, tag):
    port = procs.free_port(DAEMON_ADDR)
    config = os.path.join(workdir, "mta-stsd-%s.yml" % tag)
    with open(config, "w") as f:
        f.write("host: %s\nport: %d\ncontrol_socket: none\n" % (DAEMON_ADDR, port))
        f.write("cache: {type: internal}\n")
        f.write("proactive_policy_fetching: {enabled: false}\n")
        f.write("dane: {enabled: %s}\n" % ("true" if dane else "false"))
        f.write('resolver: {nameservers: ["%s:%d"]}\n' % (w.dns_addr, w.dns_port))
        f.write("tls: {ca_file: %s}\n" % trust_file(args, workdir, w))
        f.write("log_level: %s\n" % args.log_level)
        f.write("privileges: {allow_root: true}\n")  # the benchmark runs as root
    log = os.path.join(workdir, "mta-stsd-%s.log" % tag)
    proc = procs.ManagedProcess("mta-stsd", [os.path.abspath(args.daemon), "-c", config], log, cwd=workdir)
    if not procs.wait_tcp(DAEMON_ADDR, port, 15, proc):
        proc.stop()
        raise RuntimeError("mta-stsd did not listen on %s:%d:\n%s" % (DAEMON_ADDR, port, procs.log_tail(log)))
    return proc, port, log


def run_once(args, workdir, w, queries, count, dane):
    tag = "dane-on" if dane else "dane-off"
    proc, port, log = start_daemon(args, workdir, w, dane, tag)
    try:
        time.sleep(1.0)  # start-up done (DANE's probe answered) before the CPU count starts
        cpu0 = cpu_seconds(proc.pid)
        cmd = [args.loadgen, "--host", DAEMON_ADDR, "--port", str(port), "--name", MAP_NAME,
               "--queries", queries, "--mode", "persistent", "--connections", str(args.concurrency),
               "--requests", str(count), "--timeout", "30", "--json"]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        time.sleep(0.5)
        cpu1 = cpu_seconds(proc.pid)
        if out.returncode not in (0, 1):
            raise RuntimeError("loadgen failed (%d): %s" % (out.returncode, out.stderr.strip()))
        r = json.loads(out.stdout)
        if proc.poll() is not None:
            raise RuntimeError("mta-stsd exited during the run:\n%s" % procs.log_tail(log))
    finally:
        proc.stop()
    cpu = cpu1 - cpu0
    return {"dane": "enabled" if dane else "disabled", "domains": count,
            "elapsed_s": r["elapsed_s"], "domains_per_s": count / r["elapsed_s"] if r["elapsed_s"] else 0.0,
            "latency_ms": {k: v / 1000.0 for k, v in r["latency_us"].items()},
            "cpu_s": round(cpu, 3), "cpu_ms_per_domain": cpu * 1000.0 / count,
            "mismatches": r["mismatches"], "errors": r["errors"],
            "first_mismatches": r["first_mismatches"], "first_errors": r["first_errors"],
            "ok": out.returncode == 0}


def print_table(result):
    head = ("run", "domains", "elapsed s", "domains/s", "p50 ms", "p99 ms", "max ms", "cpu s",
            "cpu ms/domain", "check")
    lines = [head]
    for r in result["runs"]:
        lat = r["latency_ms"]
        lines.append(("dane " + ("on" if r["dane"] == "enabled" else "off"), str(r["domains"]),
                      "%.2f" % r["elapsed_s"], "%.0f" % r["domains_per_s"], "%.0f" % lat["p50"],
                      "%.0f" % lat["p99"], "%.0f" % lat["max"], "%.2f" % r["cpu_s"],
                      "%.3f" % r["cpu_ms_per_domain"],
                      "ok" if r["ok"] else "FAIL (%d wrong, %d errors)" % (r["mismatches"], r["errors"])))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head))]
    for line in lines:
        print("  ".join(cell.rjust(widths[i]) if 0 < i < len(head) - 1 else cell.ljust(widths[i])
                        for i, cell in enumerate(line)).rstrip())
    for r in result["runs"]:
        for m in r["first_mismatches"]:
            print("MISMATCH dane %s: %s expected %r got %r" % (r["dane"], m["key"], m["expected"], m["got"]))
        for e in r["first_errors"]:
            print("ERROR dane %s: %s" % (r["dane"], e))
    f = result["floor"]
    print("floor: one bare TLS handshake (openssl s_time -new, shared SSL_CTX, chain verified) costs "
          "%.3f ms CPU (%d handshakes, %.2f s); cpu ms/domain over that floor: %s"
          % (f["cpu_ms_per_handshake"], f["handshakes"], f["cpu_s"],
             ", ".join("dane %s %.2fx" % ("on" if r["dane"] == "enabled" else "off",
                                          r["cpu_ms_per_domain"] / f["cpu_ms_per_handshake"])
                       for r in result["runs"])))
    d = result["delay"]
    if d["ms_each_way"]:
        print("added delay: %g ms each way on DNS (%s:%d udp+tcp) and HTTPS (%s:443); measured DNS "
              "round trip %.1f ms, TCP handshake %.1f ms; delay queue: %s packets, %s overruns"
              % (d["ms_each_way"], DNS_ADDR, result["dns_port"], HTTPS_ADDR, d["dns_rtt_ms"],
                 d["tcp_connect_ms"], d.get("packets", "?"), d.get("overruns", "?")))
    else:
        print("no added delay (--delay-ms 0)")
    print("%d domains (80 %% enforce, 10 %% no record, 5 %% testing, 5 %% broken), %d in flight, "
          "%d policy host(s) per certificate, trust: %s; cpu = mta-stsd utime+stime (all threads)"
          % (result["domains"], result["concurrency"], result["sans_per_cert"],
             "system bundle + test CA" if result["ca"] == "system" else "test CA only"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--daemon", required=True, help="path to mta-stsd")
    ap.add_argument("--loadgen", required=True, help="path to mtasts-loadgen")
    ap.add_argument("--delay-queue", help="path to mtasts-delay-queue (needed unless --delay-ms 0)")
    ap.add_argument("--domains", type=int, default=1000, help="fresh domains, each asked once")
    ap.add_argument("--concurrency", type=int, default=64, help="queries in flight")
    ap.add_argument("--delay-ms", type=float, default=20, help="added to each packet, each way (0: none)")
    ap.add_argument("--sans-per-cert", type=int, default=1,
                    help="policy hosts per certificate in the world (1, as real ones; world.py's own "
                         "default, 500, is quicker to set up but far costlier to verify)")
    ap.add_argument("--ca", choices=("test", "system"), default="test",
                    help="trust the world's CA alone, or the system bundle (%s) plus it" % SYSTEM_BUNDLE)
    ap.add_argument("--queue-num", type=int, default=4217, help="NFQUEUE queue number")
    ap.add_argument("--dane", choices=("off", "on", "both"), default="both",
                    help="runs with dane.enabled false, true, or both (separately)")
    ap.add_argument("--log-level", default="warn", help="mta-stsd log_level (at info every answer is logged)")
    ap.add_argument("--workdir", help="keep the world, configs and logs here (default: temporary, removed)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    args = ap.parse_args()
    if args.domains < 20:
        ap.error("--domains must be at least 20 (one of each kind)")
    if args.sans_per_cert < 1:
        ap.error("--sans-per-cert must be at least 1")
    if args.delay_ms > 0 and not args.delay_queue:
        ap.error("--delay-queue is needed for an added delay (or --delay-ms 0)")
    if args.delay_ms > 0 and os.geteuid() != 0:
        ap.error("iptables and NFQUEUE need root (or --delay-ms 0)")

    workdir = os.path.abspath(args.workdir) if args.workdir else tempfile.mkdtemp(prefix="mtasts-cold-")
    os.makedirs(workdir, exist_ok=True)
    w = None
    queue = None
    rules = False
    result = {"domains": args.domains, "concurrency": args.concurrency, "runs": [],
              "sans_per_cert": args.sans_per_cert, "ca": args.ca,
              "delay": {"ms_each_way": args.delay_ms}}
    # A SIGTERM must still reach the finally below (rules removed).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        w, pairs = build_world(workdir, args.domains, args.sans_per_cert)
        if not args.json:
            print("starting the world: %d domains (nsd %s, nginx %s)..." % (args.domains, DNS_ADDR, HTTPS_ADDR),
                  flush=True)
        t0 = time.monotonic()
        w.start()
        result["world_start_s"] = round(time.monotonic() - t0, 1)
        result["dns_port"] = w.dns_port
        queries = os.path.join(workdir, "queries.tsv")
        with open(queries, "w") as f:
            for key, reply in pairs:
                f.write("%s\t%s\n" % (key, reply))
        # Before any delay: the floor is CPU time, and undelayed it takes seconds.
        result["floor"] = handshake_floor(w)
        if args.delay_ms > 0:
            queue = start_delay_queue(args, workdir)
            rules = True
            add_rules(args.queue_num, w.dns_port)
            result["delay"]["dns_rtt_ms"] = dns_rtt_ms(w.dns_port)
            result["delay"]["tcp_connect_ms"] = tcp_connect_ms()
            if result["delay"]["dns_rtt_ms"] < args.delay_ms * 1.5:
                raise RuntimeError("the delay is not applied: DNS round trip %.1f ms"
                                   % result["delay"]["dns_rtt_ms"])
        for dane in {"off": [False], "on": [True], "both": [False, True]}[args.dane]:
            if not args.json:
                print("running: %d fresh domains, %d in flight, DANE %s..."
                      % (args.domains, args.concurrency, "on" if dane else "off"), flush=True)
            result["runs"].append(run_once(args, workdir, w, queries, args.domains, dane))
    finally:
        if rules:
            remove_rules()
        if queue is not None:
            counters = stop_delay_queue(queue)
            result["delay"].update({k: int(v) for k, v in counters.items() if v.isdigit()})
        if w is not None:
            w.stop()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)

    result.update(cores=os.cpu_count(), loadavg=os.getloadavg(), time=time.strftime("%Y-%m-%dT%H:%M:%S"),
                  ok=all(r["ok"] for r in result["runs"]))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

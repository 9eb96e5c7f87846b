#!/usr/bin/python3
"""End-to-end tests of the Prometheus metrics through a real Prometheus server.

    /usr/bin/python3 tests/e2e/run_metrics.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/metrics

A daemon with metrics.listen, an empty memory cache and an empty SQLite store answers a known sequence of
queries (misses, hits, a domain without a policy, a testing policy in a strict zone and in
the default zone, an invalid key, a malformed netstring). `promtool check metrics` must
report nothing on a scrape of /metrics; a real Prometheus (Debian's `prometheus`, on
loopback, its own configuration and TSDB under the workdir, scraping every second) must
then return the expected counts for PromQL queries through its HTTP API. Every panel
expression of contrib/grafana/mta-stsd.json is evaluated against that same Prometheus:
it must not error and must name only metrics the daemon exports.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.100:443), nsd, nginx, openssl, prometheus (promtool).
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 240      # seconds; CTest gives the whole test 900
ZONE_TIMEOUT = 4.0
# Not the other runners' addresses (tests/e2e/README.md): .100 policy hosts, .101 the
# daemon, .102 its /metrics, .103 Prometheus.
HTTPS_ADDRESSES = ["127.0.0.100"] + ["127.0.%d.100" % i for i in range(1, 10)]
DAEMON_ADDR, METRICS_ADDR, PROMETHEUS_ADDR = "127.0.0.101", "127.0.0.102", "127.0.0.103"
DASHBOARD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib",
                         "grafana", "mta-stsd.json")

ENFORCE, TESTING, NOPOLICY = "m-enforce.test", "m-testing.test", "m-nopolicy.test"


def build_world(workdir, https_addr):
    w = World(workdir, https_addr=https_addr)
    w.add_domain(ENFORCE, txt=[S.ID], policy=S.policy(mode="enforce", mx=["mail." + ENFORCE]))
    w.add_domain(TESTING, txt=[S.ID], policy=S.policy(mode="testing", mx=["mail." + TESTING]))
    w.add_domain(NOPOLICY)  # no TXT record
    return w


class Daemon(harness.Daemon):
    def __init__(self, binary, workdir, world):
        super().__init__(binary, workdir, "metrics", host=DAEMON_ADDR,
                         query_timeout=ZONE_TIMEOUT + 6)
        self.metrics_port = procs.free_port(METRICS_ADDR)
        # An SQLite store, empty at start: the store's series (errors, stored
        # policies) are exported, so the dashboard's store panels are checked too.
        store = os.path.join(workdir, "metrics-store.db")
        for stale in (store, store + "-wal", store + "-shm"):
            harness.remove(stale)
        self.write_config(f"""\
cache: {{type: sqlite, options: {{filename: {store}}}}}
default_zone: {{timeout: {ZONE_TIMEOUT:g}}}
zones:
  strict: {{strict_testing: true}}
proactive_policy_fetching: {{enabled: false}}
dane: {{enabled: false}}
metrics: {{listen: "{METRICS_ADDR}:{self.metrics_port}"}}
""", "%s:%d" % (world.dns_addr, world.dns_port), world.ca_file)

    def metrics_url(self):
        return "http://%s:%d/metrics" % (METRICS_ADDR, self.metrics_port)


class Prometheus:
    """A private Prometheus server: its own configuration and TSDB in the workdir."""

    def __init__(self, workdir, target):
        self.root = os.path.join(workdir, "prometheus")
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)  # only our own subdirectory: no samples of earlier runs
        os.makedirs(self.root)
        self.port = procs.free_port(PROMETHEUS_ADDR)
        self.log = os.path.join(self.root, "prometheus.log")
        self.config = os.path.join(self.root, "prometheus.yml")
        with open(self.config, "w") as f:
            f.write(f"""\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: mtastsd
    static_configs:
      - targets: ["{target}"]
""")
        self.proc = None

    def start(self, timeout=30):
        self.proc = procs.ManagedProcess("prometheus", [
            "prometheus", "--config.file=" + self.config,
            "--storage.tsdb.path=" + os.path.join(self.root, "data"),
            "--web.listen-address=%s:%d" % (PROMETHEUS_ADDR, self.port),
            "--log.level=warn"], self.log, cwd=self.root)
        return procs.wait_until(lambda: self._get("/-/ready") is not None, timeout, self.proc,
                                interval=0.2)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def _get(self, path, timeout=5):
        try:
            with urllib.request.urlopen("http://%s:%d%s" % (PROMETHEUS_ADDR, self.port, path),
                                        timeout=timeout) as r:
                return r.read()
        except OSError:
            return None

    def query(self, expr):
        """(status, result) of an instant query; status "error: ..." when it failed."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
        if body is None:
            try:  # a 400 carries the error in its body
                urllib.request.urlopen("http://%s:%d/api/v1/query?%s" % (
                    PROMETHEUS_ADDR, self.port, urllib.parse.urlencode({"query": expr})),
                    timeout=5)
            except urllib.error.HTTPError as e:
                return "error: " + e.read().decode("utf-8", "replace"), None
            except OSError as e:
                return "error: %r" % e, None
            return "error: no answer", None
        reply = json.loads(body)
        if reply.get("status") != "success":
            return "error: %s" % reply.get("error"), None
        return "success", reply["data"]

    def value(self, expr):
        """The single value of expr as a float, or None (no series or several)."""
        status, data = self.query(expr)
        if status != "success" or data["resultType"] not in ("vector", "scalar"):
            return None
        if data["resultType"] == "scalar":
            return float(data["result"][1])
        if len(data["result"]) != 1:
            return None
        return float(data["result"][0]["value"][1])


def scrape(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode("utf-8")
    except urllib.error.HTTPError as e:
        return e.code, None, ""
    except OSError as e:
        return None, None, repr(e)


def malformed(d):
    """A netstring with a bad length: the daemon answers PERM and closes."""
    with socket.create_connection((d.host, d.port), timeout=5) as s:
        s.sendall(b"x5:postfix,")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                return data
            data += chunk


def debian_release():
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("VERSION_CODENAME="):
                    return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "unknown"


# The known sequence and what it must count. Each query is one connection.
def run_queries(c, d):
    secure = "OK secure match=mail.%s servername=hostname"
    c.eq("miss: %s waits for its discovery" % ENFORCE, secure % ENFORCE, d.query(ENFORCE))
    for i in range(3):
        c.eq("hit %d: %s" % (i + 1, ENFORCE), secure % ENFORCE, d.query(ENFORCE))
    c.eq("miss: %s (no TXT record)" % NOPOLICY, harness.NOTFOUND, d.query(NOPOLICY))
    for i in range(2):
        c.eq("negative hit %d: %s" % (i + 1, NOPOLICY), harness.NOTFOUND, d.query(NOPOLICY))
    c.eq("miss: %s in zone strict" % TESTING, secure % TESTING, d.query(TESTING, name="strict"))
    c.eq("hit: %s in the default zone" % TESTING, harness.NOTFOUND, d.query(TESTING))
    c.eq("invalid key: NOTFOUND", harness.NOTFOUND, d.query("bad..key"))
    reply = malformed(d)
    c.ok("malformed netstring: PERM", reply.startswith(b"31:PERM "), repr(reply))


QUERIES = 10
EXPECTED = [
    # PromQL, value
    ('mtastsd_answers_total{zone="default_zone",kind="secure"}', 4),
    ('mtastsd_answers_total{zone="default_zone",kind="notfound"}', 5),
    ('mtastsd_answers_total{zone="strict",kind="secure"}', 1),
    ('mtastsd_answers_total{zone="strict",kind="notfound"}', 0),
    ('mtastsd_answers_total{kind="perm"}', 1),
    ('sum(mtastsd_answers_total{kind=~"dane|dane-only|temp"})', 0),
    ('sum(mtastsd_answers_total)', 11),
    ("mtastsd_queries_total", QUERIES),
    ("mtastsd_cache_hits_total", 4),
    ("mtastsd_cache_negative_hits_total", 2),
    ("mtastsd_cache_misses_total", 3),
    ("mtastsd_discoveries_total", 3),
    ("mtastsd_invalid_keys_total", 1),
    ("mtastsd_requests_malformed_total", 1),
    ('mtastsd_discoveries_finished_total{outcome="policy",background="false"}', 2),
    ('mtastsd_discoveries_finished_total{outcome="no-policy",background="false"}', 1),
    ("sum(mtastsd_discovery_failures_total)", 0),
    ("mtastsd_answer_hit_duration_seconds_count", 6),
    ("mtastsd_answer_wait_duration_seconds_count", 3),
    ('mtastsd_answer_wait_duration_seconds_bucket{le="+Inf"}', 3),
    ('mtastsd_discovery_step_duration_seconds_count{step="https"}', 2),
    ('mtastsd_cached_policies{mode="enforce"}', 1),
    ('mtastsd_cached_policies{mode="testing"}', 1),
    ('mtastsd_cached_policies{mode="none"}', 0),
    ("mtastsd_cached_negative_entries", 1),
    # One per query, the malformed one, and the harness's probe that the daemon listens.
    ("mtastsd_connections_accepted_total", QUERIES + 2),
    ("mtastsd_connections_refused_total", 0),
    ("mtastsd_resolutions_in_flight", 0),
    ('mtastsd_dane_status{status="disabled"}', 1),
    ("sum(mtastsd_downgrade_alarms)", 0),
    ('mtastsd_downgrade_alarms{kind="weaker-policy"}', 0),
    ("mtastsd_enforce_policies_refresh_failing", 0),
    ("sum(mtastsd_store_errors_total)", 0),
    ('up{job="mtastsd"}', 1),
]


def check_exposition(c, d):
    status, ctype, text = scrape(d.metrics_url())
    c.eq("/metrics: 200", 200, status)
    c.eq("/metrics: Content-Type of format 0.0.4",
         "text/plain; version=0.0.4; charset=utf-8", ctype)
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=60)
    c.ok("promtool check metrics: exit 0 and nothing reported",
         r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
         "rc %d: %s %s" % (r.returncode, r.stdout[-2000:], r.stderr[-2000:]))
    c.eq("/other: 404", 404, scrape(d.metrics_url().replace("/metrics", "/other"))[0])
    c.ok("no domain name in any label", ENFORCE not in text and NOPOLICY not in text)
    return text


def exported_names(text):
    """Sample names in the exposition (histograms' _bucket/_sum/_count included)."""
    names = set()
    for line in text.splitlines():
        if line and not line.startswith("#"):
            names.add(re.split(r"[{ ]", line, 1)[0])
    return names


def check_prometheus(c, p, text):
    # Prometheus has the numbers once a scrape after the last query has landed.
    settled = procs.wait_until(lambda: p.value("mtastsd_requests_malformed_total") == 1
                               and p.value("mtastsd_queries_total") == QUERIES, 30,
                               p.proc, interval=0.5)
    c.ok("Prometheus scraped the daemon after the queries", settled,
         "queries %r" % p.value("mtastsd_queries_total"))
    for expr, expected in EXPECTED:
        c.eq("PromQL %s" % expr, float(expected), p.value(expr))
    release = debian_release()
    c.eq("PromQL build info: version and Debian release %s" % release, 1.0,
         p.value('mtastsd_build_info{debian_release="%s",version=~".+"}' % release))
    status, data = p.query(
        "histogram_quantile(0.9, rate(mtastsd_answer_hit_duration_seconds_bucket[1m]))")
    c.eq("PromQL histogram_quantile over the hit latency evaluates", "success", status)
    hit_p99 = p.value("histogram_quantile(0.99, sum by (le) "
                      "(mtastsd_answer_hit_duration_seconds_bucket))")
    c.ok("hit latency p99 (all time) under 10 ms", hit_p99 is not None and hit_p99 <= 0.01,
         repr(hit_p99))
    check_dashboard(c, p, exported_names(text))


def check_dashboard(c, p, exported):
    if not os.path.exists(DASHBOARD):
        c.ok("Grafana dashboard %s exists" % DASHBOARD, False)
        return
    with open(DASHBOARD) as f:
        dashboard = json.load(f)
    exprs = []

    def walk(panels):
        for panel in panels:
            for target in panel.get("targets", []):
                if target.get("expr"):
                    exprs.append((panel.get("title", "?"), target["expr"]))
            walk(panel.get("panels", []))

    walk(dashboard.get("panels", []))
    c.ok("dashboard: has panel expressions", len(exprs) >= 8, repr(len(exprs)))
    for title, expr in exprs:
        # Grafana's variables, as Grafana would fill them in.
        query = (expr.replace("$__rate_interval", "1m").replace("$__interval", "15s")
                 .replace("$__range", "1h").replace("$job", "mtastsd")
                 .replace("${job}", "mtastsd"))
        status, data = p.query(query)
        c.eq("dashboard panel %r evaluates" % title, "success", status)
        missing = [n for n in set(re.findall(r"\bmtastsd_[a-z0-9_]+", query)) if n not in exported]
        c.eq("dashboard panel %r names only exported metrics" % title, [], sorted(missing))


def body(run):
    c, args = run.checks, run.args
    if shutil.which("prometheus") is None or shutil.which("promtool") is None:
        c.ok("prometheus and promtool installed (scripts/install-deps.sh --test)", False)
        return
    w = build_world(args.workdir, procs.free_address(HTTPS_ADDRESSES, 443))
    run.on_exit(w.stop, w.logs)
    w.start()
    print("# world: DNS %s:%d, policy hosts %s:443" % (w.dns_addr, w.dns_port, w.https_addr),
          flush=True)
    d = Daemon(args.daemon, args.workdir, w)
    if not c.ok("daemon starts", d.start(), procs.log_tail(d.log)):
        return
    c.ok("metrics endpoint listens",
         procs.wait_tcp(METRICS_ADDR, d.metrics_port, 10, d.proc), procs.log_tail(d.log))
    p = Prometheus(args.workdir, "%s:%d" % (METRICS_ADDR, d.metrics_port))
    run.on_exit(p.stop, lambda: [("prometheus", p.log)])
    if not c.ok("Prometheus starts", p.start(), procs.log_tail(p.log)):
        return
    run_queries(c, d)
    text = check_exposition(c, d)
    check_prometheus(c, p, text)
    c.eq("SIGTERM: exit 0", 0, d.stop())
    c.ok("SIGTERM: /metrics closed", scrape(d.metrics_url())[0] is None)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "metrics", OVERALL_LIMIT, body))

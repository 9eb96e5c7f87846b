"""What the takeover runners share: the real postfix-mta-sts-resolver daemon, the policies it
learns, and the answers mta-stsd must give for them once it took them over.

run_takeover.py (its SQLite cache) and run_takeover_shared.py (its redis, redis_sentinel and
postgres caches) both let the Python daemon learn LEARNED through real queries, stop it, and
start mta-stsd on the same configuration file with DNS and HTTPS down.
"""
import os

try:
    from . import harness, procs  # imported as a package
    from . import scenarios as S
    from .harness import NOTFOUND
    from .world import World
except ImportError:
    import harness  # run from tests/e2e
    import procs
    import scenarios as S
    from harness import NOTFOUND
    from world import World

PYTHON_DAEMON = "/usr/bin/mta-sts-daemon"
MAX_AGE = 86400

# domain -> (policy body, the match= list mta-stsd must answer: policy order, lower case,
# no trailing dot, duplicates removed, "*." written ".")
ENFORCE = {
    "one.test": (S.policy(mx=["mail.one.test"]), ["mail.one.test"]),
    "two.test": (S.policy(mx=["mx1.two.test", "*.backup.two.test"]),
                 ["mx1.two.test", ".backup.two.test"]),
    "case.test": (S.policy(mx=["MX1.Case.Test.", "mx1.case.test", "mx2.case.test"]),
                  ["mx1.case.test", "mx2.case.test"]),
    "crlf.test": (S.policy(mx=["mail.crlf.test", "backup.crlf.test"], eol="\r\n"),
                  ["mail.crlf.test", "backup.crlf.test"]),
    "blank.test": (b"version: STSv1\n\nmode: enforce\nx-note: some value: with colon\n\n"
                   b"mx: mail.blank.test\nmax_age: 604800\n\n", ["mail.blank.test"]),
    "reorder.test": (S.policy(mx=["mail.reorder.test"],
                              order=("mx", "max_age", "mode", "version", "extra")),
                     ["mail.reorder.test"]),
    "year.test": (S.policy(mx=["mail.year.test"], max_age="31557600"), ["mail.year.test"]),
}
TESTING = "testing.test"   # answered in the strict zone (strict_testing: true)
NONE = "none.test"         # mode none: learned, answered NOTFOUND by both
LEARNED = sorted(ENFORCE) + [TESTING, NONE]


def build_world(workdir, dns_addr, https_addr):
    """nsd on port 53 of dns_addr (the Python daemon's resolv.conf can give no port), nginx on
    https_addr:443; every domain of LEARNED."""
    w = World(workdir, dns_addr=dns_addr, dns_port=53, https_addr=https_addr)
    for name, (body, _) in ENFORCE.items():
        w.add_domain(name, txt=[S.ID], policy=body)
    w.add_domain(TESTING, txt=[S.ID], policy=S.policy(mode="testing", mx=["mx.testing.test"]))
    w.add_domain(NONE, txt=[S.ID], policy=S.policy(mode="none"))
    return w


def answer(name):
    return S.ok_answer(ENFORCE[name][1], name)


class PythonDaemon:
    """The real mta-sts-daemon on a Config's file, with the test DNS and CA."""

    def __init__(self, workdir, config, world):
        self.config = config
        self.log = os.path.join(workdir, "python-daemon.log")
        self.out = os.path.join(workdir, "python-daemon.out")
        harness.remove(self.log, self.out)
        harness.show_log_on_failure("mta-sts-daemon", self.log)
        harness.show_log_on_failure("mta-sts-daemon output", self.out)
        resolv = os.path.join(workdir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write("nameserver %s\noptions timeout:2 attempts:1\n" % world.dns_addr)
        self.script = os.path.join(workdir, "python-daemon.sh")
        # Inside the private mount namespace only: the host's resolv.conf is not touched.
        with open(self.script, "w") as f:
            f.write(f"""#!/bin/sh
set -e
mount --bind {resolv} /etc/resolv.conf
exec {PYTHON_DAEMON} -c {config.config} -l {self.log} -v debug --disable-uvloop
""")
        self.env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE": world.ca_file,
                    "LANG": "C.UTF-8"}
        self.proc = None

    def start(self):
        self.proc = procs.ManagedProcess(
            "mta-sts-daemon", ["unshare", "--mount", "--propagation", "private", "/bin/sh",
                               self.script], self.out, env=self.env)
        return procs.wait_tcp(self.config.host, self.config.port, 20, self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.stop(grace=10)
            self.proc = None

    def query(self, key, name="postfix"):
        return self.config.query(key, name)


def learn(c, py, prefix=""):
    """The Python daemon learns every policy of LEARNED through real queries; prefix starts
    each check line (run_takeover_shared.py: the cache type)."""
    c.ok(prefix + "mta-sts-daemon (postfix-mta-sts-resolver) starts", py.start(),
         procs.log_tail(py.out))
    for name in sorted(ENFORCE):
        got = py.query(name)
        c.ok(prefix + "mta-sts-daemon learns %s" % name, got.startswith("OK secure match="), got)
    got = py.query(TESTING, "strict")
    c.ok(prefix + "mta-sts-daemon learns %s (strict zone)" % TESTING,
         got.startswith("OK secure match="), got)
    c.eq(prefix + "mta-sts-daemon learns %s (mode none)" % NONE, NOTFOUND, py.query(NONE))
    py.stop()

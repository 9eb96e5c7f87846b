#!/usr/bin/python3
"""The installed Debian package, run and asked the way an admin would (issue 13).

    /usr/bin/python3 tests/package/check_installed.py --root ROOT --workdir DIR \
        --daemon ROOT/usr/sbin/mta-stsd --ctl ROOT/usr/bin/mta-stsctl

ROOT is a fresh minimal Debian root (scripts/test-package.sh) where the mta-stsd package
and postfix are installed. A test world (nsd, nginx, a test CA) runs on this machine's
loopback, which the root shares; the root's own /usr/sbin/mta-stsd runs there with a
configuration naming the world's DNS and CA and the state directory /var/lib/mta-stsd,
and the root's own postmap asks it. Checks:
  - the packaged /etc/mta-stsd.yml passes `mta-stsd --check-config`;
  - the installed daemon answers postmap "secure match=..." for an enforce domain and
    NOTFOUND for a domain without a policy, and the installed mta-stsctl lists the policy;
  - the policy lives in /var/lib/mta-stsd: restarted with the world stopped, the daemon
    still answers it.
Everything this script puts into the root is removed again, so the purge that follows
sees only what the package and the daemon made.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root, nsd, nginx, openssl (on this machine).
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from postfix import MAIN_CF  # noqa: E402
from world import World  # noqa: E402

DNS_ADDR = "127.0.0.95"
HTTPS_ADDR = "127.0.0.96"
DAEMON_ADDR = "127.0.0.97"
DOMAIN = "packaged.test"
NO_POLICY = "plain.test"
MX = ["mail.packaged.test", "*.backup.packaged.test"]
# What the script adds to the root (relative to it), removed at the end.
CONFIG = "etc/mta-stsd-package-test.yml"
CA = "etc/mta-stsd-package-test-ca.pem"
POSTFIX_DIR = "etc/mta-stsd-package-test-postfix"
CONTROL = "run/mta-stsd/control.sock"


def chroot(root, *argv, timeout=60):
    return subprocess.run(["chroot", root] + list(argv), capture_output=True, text=True,
                          timeout=timeout, env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                                "LANG": "C.UTF-8"})


def postmap(root, port, key):
    res = chroot(root, "/usr/sbin/postmap", "-c", "/" + POSTFIX_DIR, "-q", key,
                 "socketmap:inet:%s:%d:postfix" % (DAEMON_ADDR, port))
    return res.stdout.rstrip("\n") if res.returncode == 0 else "rc=%d %s" % (
        res.returncode, res.stderr.strip()[-300:])


class InstalledDaemon:
    def __init__(self, root, workdir, world):
        self.root = root
        self.port = procs.free_port(DAEMON_ADDR)
        self.log = os.path.join(workdir, "installed-mta-stsd.log")
        harness.remove(self.log)
        harness.show_log_on_failure("installed mta-stsd", self.log)
        shutil.copy(world.ca_file, os.path.join(root, CA))
        with open(os.path.join(root, CONFIG), "w") as f:
            f.write(f"""\
host: {DAEMON_ADDR}
port: {self.port}
cache:
  type: sqlite
  options:
    filename: /var/lib/mta-stsd/cache.db
control_socket: /{CONTROL}
resolver: {{nameservers: ["{world.dns_addr}:{world.dns_port}"]}}
tls: {{ca_file: /{CA}}}
dane: {{enabled: false}}
privileges: {{allow_root: true}}
log_level: debug
""")
        os.makedirs(os.path.join(root, "var/lib/mta-stsd"), exist_ok=True)
        os.makedirs(os.path.join(root, "run/mta-stsd"), exist_ok=True)
        self.proc = None

    def start(self):
        # chroot execs the daemon: the PID is the daemon's, and stop() signals it.
        self.proc = procs.ManagedProcess(
            "installed mta-stsd", ["chroot", self.root, "/usr/sbin/mta-stsd", "-c", "/" + CONFIG],
            self.log)
        return procs.wait_tcp(DAEMON_ADDR, self.port, 15, self.proc)

    def stop(self):
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def body(run):
    args, checks = run.args, run.checks
    root = os.path.abspath(args.root)
    os.makedirs(args.workdir, exist_ok=True)
    os.makedirs(os.path.join(root, POSTFIX_DIR), exist_ok=True)
    with open(os.path.join(root, POSTFIX_DIR, "main.cf"), "w") as f:
        f.write(MAIN_CF)

    res = chroot(root, "/usr/sbin/mta-stsd", "--check-config", "-c", "/etc/mta-stsd.yml")
    checks.ok("the packaged /etc/mta-stsd.yml passes --check-config", res.returncode == 0,
              res.stdout + res.stderr)

    world = World(args.workdir, dns_addr=DNS_ADDR, https_addr=HTTPS_ADDR)
    world.add_domain(DOMAIN, txt=[S.ID], policy=S.policy(mx=MX))
    world.add_domain(NO_POLICY)
    world.start()
    daemon = InstalledDaemon(root, args.workdir, world)
    try:
        checks.ok("the installed mta-stsd starts in the root", daemon.start())
        # postmap prints the map's value: the daemon's reply after "OK ".
        want = S.ok_answer(["mail.packaged.test", ".backup.packaged.test"], DOMAIN)
        assert want.startswith("OK ")
        want = want[len("OK "):]
        checks.eq("the installed postmap gets the enforce policy", want,
                  postmap(root, daemon.port, DOMAIN))
        got = postmap(root, daemon.port, NO_POLICY)
        checks.ok("a domain without a policy is not found", got.startswith("rc=1"), got)
        res = chroot(root, "/usr/bin/mta-stsctl", "list", "--control", "/" + CONTROL)
        checks.ok("the installed mta-stsctl lists the policy",
                  res.returncode == 0 and DOMAIN in res.stdout, res.stdout + res.stderr)
        daemon.stop()
        world.stop()
        checks.ok("restarted with the policy hosts gone, it starts again", daemon.start())
        checks.eq("the policy kept in /var/lib/mta-stsd still answers", want,
                  postmap(root, daemon.port, DOMAIN))
    finally:
        daemon.stop()
        world.stop()
        for path in (CONFIG, CA):
            harness.remove(os.path.join(root, path))
        shutil.rmtree(os.path.join(root, POSTFIX_DIR), ignore_errors=True)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "package", 300, body,
                          lambda ap: ap.add_argument("--root", required=True)))

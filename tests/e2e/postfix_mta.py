"""A private Postfix instance that sends real mail: its own configuration, queue and log
directories under the test's workdir, started in the foreground (postfix start-fg) and
stopped by PID, asking mta-stsd through smtp_tls_policy_maps.

    mta = PostfixMta(workdir, policy_map="socketmap:inet:127.0.0.1:8461:postfix",
                     ca_file=w.ca_file, resolv_addr=w.dns_addr)
    mta.start()
    qid = mta.send("someone@enforce.test")
    outcome = mta.outcome(qid)   # Outcome(status="sent", relay=..., tls="Verified", ...)
    mta.stop()

Postfix's smtp client resolves MX hosts with the system resolver: the master runs in a
private mount namespace (unshare -m) whose /etc/resolv.conf names the test nsd (port 53),
so the host's resolver is never touched. No smtpd listens: mail enters through sendmail.

Postfix's daemons run as the postfix user and must reach the queue and data directories:
when the workdir lies below a directory others cannot enter (a checkout under /root, as
on a fresh root whose /root is 0700), the instance lives in a 0755 directory under
/var/tmp instead, removed when the test process exits.
"""
import atexit
import os
import re
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass

try:
    from . import procs
except ImportError:
    import procs

MASTER_CF = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
showq     unix  n       -       n       -       -       showq
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def reachable_by_others(path):
    """True when every directory from / down to path lets others pass (o+x)."""
    path = os.path.abspath(path)
    while True:
        try:
            if not os.stat(path).st_mode & stat.S_IXOTH:
                return False
        except FileNotFoundError:
            pass  # made later, by us, 0755
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def instance_parent(workdir, name):
    if reachable_by_others(workdir):
        return workdir
    parent = tempfile.mkdtemp(prefix="mtasts-%s-" % name, dir="/var/tmp")
    os.chmod(parent, 0o755)
    atexit.register(shutil.rmtree, parent, True)
    print("# %s: the workdir is closed to the postfix user; instance in %s" % (name, parent),
          flush=True)
    return parent


@dataclass
class Outcome:
    status: str   # "sent", "deferred", "bounced", or "" when nothing was logged in time
    relay: str    # relay=... of the status line (the MX host and address), or ""
    reason: str   # the parenthesised text after status=
    tls: list     # the "... TLS connection established to HOST" lines of this message
    line: str     # the whole status line


class PostfixMta:
    def __init__(self, workdir, *, policy_map, ca_file, resolv_addr, extra_main="",
                 name="postfix-mta", dnssec=False):
        # extra_main: more main.cf lines; "$queue_directory" in them is this instance's.
        self.root = os.path.join(instance_parent(workdir, name), name)
        self.config_dir = os.path.join(self.root, "etc")
        self.queue_dir = os.path.join(self.root, "queue")
        self.data_dir = os.path.join(self.root, "data")
        self.log = os.path.join(self.root, "maillog")
        self.out = os.path.join(self.root, "master.out")
        self.policy_map = policy_map
        self.ca_file = ca_file
        self.resolv_addr = resolv_addr
        self.extra_main = extra_main
        self.dns_support = "dnssec" if dnssec else "enabled"
        self.proc = None
        self._n = 0

    def version(self):
        r = subprocess.run(["postconf", "-d", "-h", "mail_version"], capture_output=True,
                           text=True, timeout=30)
        return r.stdout.strip()

    def write_config(self):
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)  # our own subdirectory only
        for d in (self.config_dir, self.queue_dir, self.data_dir):
            os.makedirs(d)
        shutil.chown(self.data_dir, "postfix", "postfix")
        with open(os.path.join(self.config_dir, "master.cf"), "w") as f:
            f.write(MASTER_CF)
        with open(os.path.join(self.config_dir, "main.cf"), "w") as f:
            f.write(f"""\
compatibility_level = 3.6
queue_directory = {self.queue_dir}
data_directory = {self.data_dir}
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = sender.mail-test.invalid
mydomain = mail-test.invalid
myorigin = $mydomain
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
maillog_file = {self.log}
maillog_file_prefixes = {self.root}
smtp_dns_support_level = {self.dns_support}
smtp_tls_security_level = may
smtp_tls_CAfile = {self.ca_file}
smtp_tls_loglevel = 1
smtp_tls_policy_maps = {self.policy_map}
smtp_connect_timeout = 5s
smtp_helo_timeout = 15s
# One delivery attempt per message in a test: no retry while it runs.
queue_run_delay = 3600s
minimal_backoff_time = 3600s
maximal_backoff_time = 3600s
notify_classes =
biff = no
{self.extra_main.replace("$queue_directory", self.queue_dir)}""")
        resolv = os.path.join(self.root, "resolv.conf")
        with open(resolv, "w") as f:
            # trust-ad: glibc passes the resolver's AD bit on only when told to, and
            # Postfix needs it for DANE (smtp_dns_support_level = dnssec).
            f.write("nameserver %s\noptions timeout:2 attempts:2 trust-ad\n" % self.resolv_addr)
        self.script = os.path.join(self.root, "start.sh")
        with open(self.script, "w") as f:
            f.write(f"""#!/bin/sh
set -e
mount --bind {resolv} /etc/resolv.conf
exec postfix -c {self.config_dir} start-fg
""")
        r = subprocess.run(["postfix", "-c", self.config_dir, "check"], capture_output=True,
                           text=True, timeout=60)
        return r.returncode == 0, r.stdout + r.stderr

    def start(self, timeout=20):
        """True once the master runs and pickup has taken over the maildrop."""
        self.proc = procs.ManagedProcess(
            "postfix master", ["unshare", "--mount", "--propagation", "private", "/bin/sh",
                               self.script], self.out,
            env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"})
        deadline = time.monotonic() + timeout
        pid_file = os.path.join(self.queue_dir, "pid", "master.pid")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if os.path.exists(pid_file) and "daemon started" in self.log_text():
                return True
            time.sleep(0.1)
        return False

    def master_pid(self):
        try:
            with open(os.path.join(self.queue_dir, "pid", "master.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop(self):
        """SIGTERM to the master by its PID file (start-fg's master is a grandchild of the
        process we started), which stops its children; then the rest, by PID."""
        if self.proc is None:
            return
        pid = self.master_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pid = None
        deadline = time.monotonic() + 10
        while pid is not None and time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.1)
        else:
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc.wait(10) is None:
            self.proc.stop()
        self.proc = None

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def send(self, rcpt, subject=None):
        """Submits one message to rcpt through sendmail; its queue id, or None."""
        self._n += 1
        subject = subject or "mta-stsd real-mail test %d" % self._n
        message = ("From: sender@mail-test.invalid\r\nTo: %s\r\nSubject: %s\r\n\r\n"
                   "A test message.\r\n" % (rcpt, subject))
        before = len(self.log_text())
        r = subprocess.run(["sendmail", "-C", self.config_dir, "-f", "sender@mail-test.invalid",
                            "-i", rcpt], input=message, capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise RuntimeError("sendmail failed: %s" % r.stderr)
        # pickup logs "QID: uid=0 from=<sender@...>"; messages are sent one at a time,
        # so the first such line after `before` is this one.
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            m = re.search(r"postfix/pickup\[\d+\]: ([0-9A-F]+): uid=", self.log_text()[before:])
            if m:
                return m.group(1)
            time.sleep(0.1)
        return None

    def outcome(self, qid, timeout=40):
        """What Postfix did with the message: the first status= line for it."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text()
            m = re.search(r"^.*\b%s: to=<[^>]*>, relay=([^,]*), .*status=(\w+) \((.*)\)$"
                          % qid, text, re.M)
            if m or time.monotonic() >= deadline:
                break
            time.sleep(0.2)
        # The smtp process logs TLS lines without the queue id; take those just before
        # the status line, after any earlier status line.
        tls = []
        if m:
            head = text[:m.start()]
            last = head.rfind(" dsn=")  # the previous delivery line ("TLSRPT: status=" is not)
            window = head[last:] if last >= 0 else head
            tls = re.findall(r"(\w+) TLS connection established to ([^\[\s]+)\[", window)
            return Outcome(m.group(2), m.group(1), m.group(3), tls, m.group(0))
        return Outcome("", "", "", [], "")

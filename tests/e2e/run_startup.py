#!/usr/bin/python3
"""End-to-end tests of start-up the distribution's way (issue 14).

    /usr/bin/python3 tests/e2e/run_startup.py --daemon build/mta-stsd --ctl build/mta-stsctl \
        --workdir /tmp/startup

1. The systemd units: `systemd-analyze verify` reports nothing for mta-stsd.service,
   mta-stsd.socket and mta-stsd-postfix.socket (the unit's binary pointed at the build), nor
   for the service with the drop-in of a switch from postfix-mta-sts-resolver.
2. Socket activation: `systemd-socket-activate` listens on TCP and on a UNIX socket and starts
   the real mta-stsd at the first connection; postmap -q and the raw client get the policy's
   answer over both, the configured host/port is not bound, the UNIX socket file is left to
   its creator, and a connection handed over instead of a listener is refused.
3. A UNIX socket the daemon creates has the configured owner, group and mode; an unknown
   user is a configuration error naming the key.
4. Root: refused without privileges.user or allow_root; with user nobody / group nogroup the
   running daemon's credentials (/proc/PID/status) are nobody's, no capabilities are left,
   it answers and writes its SQLite cache.
5. Logs: log.target syslog through a datagram socket bound as /dev/log in a private mount
   namespace (`unshare -m`): the lines, facility mail and priorities in <PRI>, then another
   facility; log.target journald through a socket bound as /run/systemd/journal/socket:
   MESSAGE, PRIORITY, SYSLOG_IDENTIFIER and the DOMAIN, ANSWER, REASON fields; log.target
   changed by SIGHUP from stderr to syslog (local3) and back, each line on one target.

Prints one line per check ("ok - ..." / "not ok - ..."); exits 0 only if every check passed.
Needs root (nginx binds 127.0.0.110:443, mounts, setuid), nsd, nginx, openssl, postmap,
systemd-socket-activate and systemd-analyze (Debian's systemd package), unshare.
"""
import os
import pwd
import grp
import re
import shutil
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402
import procs  # noqa: E402
import scenarios as S  # noqa: E402
from postfix import Postmap, query_once  # noqa: E402
from world import World  # noqa: E402

OVERALL_LIMIT = 300
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Not the other runners' addresses (README): .110 nginx, .111 systemd-socket-activate,
# .112 the activated daemon's own host (must stay unbound), .113 the other daemons.
HTTPS_ADDR, ACTIVATE_ADDR, UNBOUND_ADDR, DAEMON_ADDR = (
    "127.0.0.110", "127.0.0.111", "127.0.0.112", "127.0.0.113")
ENFORCE, PRIV, LOGGED = "su-enforce.test", "su-priv.test", "su-log.test"
DOMAINS = (ENFORCE, PRIV, LOGGED)


def answer(domain):
    return S.ok_answer(["mail." + domain], domain)


class UnixPostmap(Postmap):
    """postmap -q through socketmap:unix:PATH:NAME."""

    def __init__(self, config_dir, path):
        super().__init__(config_dir, None, None)
        self.path = path

    def table(self, name):
        return "socketmap:unix:%s:%s" % (self.path, name)


def raw_unix(path, key, name="postfix", timeout=10.0):
    q = ("%s %s" % (name, key)).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(b"%d:%s," % (len(q), q))
        data = b""
        while not data.endswith(b","):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b":", 1)[1][:-1].decode() if b":" in data else "error: %r" % data


def write_config(path, settings, w, log_level="info", ca_file=None):
    with open(path, "w") as f:
        f.write(settings)
        f.write("shutdown_timeout: %g\n" % harness.SHUTDOWN_TIMEOUT)
        f.write('resolver: {nameservers: ["%s:%d"]}\n' % (w.dns_addr, w.dns_port))
        f.write("tls: {ca_file: %s}\n" % (ca_file or w.ca_file))
        f.write("log_level: %s\n" % log_level)


def read_log(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


# ----- 1. the units ------------------------------------------------------------------
def check_units(c, args):
    work = os.path.join(args.workdir, "units")
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    for name in ("mta-stsd.service", "mta-stsd.socket", "mta-stsd-postfix.socket"):
        with open(os.path.join(ROOT, "systemd", name)) as f:
            text = f.read()
        # verify checks that ExecStart's binary exists: the one built here.
        with open(os.path.join(work, name), "w") as f:
            f.write(text.replace("/usr/sbin/mta-stsd", args.daemon))
    # The drop-in for a switch from postfix-mta-sts-resolver, applied to the service: a
    # file with the unit's lines and then the drop-in's means the same to systemd
    # (`ExecStart=` empties the list, later lines win).
    with open(os.path.join(ROOT, "systemd", "switch-from-postfix-mta-sts-resolver.conf")) as f:
        dropin = f.read().replace("/usr/sbin/mta-stsd", args.daemon)
    with open(os.path.join(work, "mta-stsd.service")) as f:
        service = f.read()
    with open(os.path.join(work, "mta-stsd-switched.service"), "w") as f:
        f.write(service + "\n" + dropin)
    # verify also runs `man` for Documentation=: the pages in this tree.
    man = os.path.join(work, "man")
    for section, page in (("8", "mta-stsd.8"), ("5", "mta-stsd.yml.5")):
        os.makedirs(os.path.join(man, "man" + section), exist_ok=True)
        shutil.copy(os.path.join(ROOT, "man", page), os.path.join(man, "man" + section))
    # A minimal Debian has no `man` (man-db): verify cannot run it there, so it is told
    # not to, and the pages Documentation= names are checked to be in this tree instead.
    have_man = shutil.which("man") is not None
    if not have_man:
        for name in ("mta-stsd.service", "mta-stsd.socket", "mta-stsd-postfix.socket"):
            with open(os.path.join(work, name)) as f:
                docs = re.findall(r"man:([\w.-]+)\((\d)\)", f.read())
            c.ok("1 units: %s: Documentation= names pages of this tree" % name,
                 docs and all(os.path.exists(os.path.join(man, "man" + sec, "%s.%s" % (page, sec)))
                              for page, sec in docs), repr(docs))
    r = subprocess.run(["systemd-analyze", "verify"] + ([] if have_man else ["--man=no"]) +
                       ["./mta-stsd.socket", "./mta-stsd-postfix.socket", "./mta-stsd.service",
                        "./mta-stsd-switched.service"],
                       cwd=work,
                       env=dict(os.environ, MANPATH=man), capture_output=True, text=True,
                       timeout=60)
    c.ok("1 units: systemd-analyze verify reports nothing (the switch drop-in applied too)",
         r.returncode == 0 and not (r.stdout + r.stderr).strip(), r.stdout + r.stderr)
    with open(os.path.join(ROOT, "systemd", "mta-stsd.socket")) as f:
        c.ok("1 units: mta-stsd.socket listens on 127.0.0.1:8461",
             "\nListenStream=127.0.0.1:8461\n" in f.read())
    with open(os.path.join(ROOT, "systemd", "mta-stsd-postfix.socket")) as f:
        c.ok("1 units: mta-stsd-postfix.socket listens in Postfix's queue directory",
             "\nListenStream=/var/spool/postfix/private/mta-sts\n" in f.read())


# ----- 2. socket activation ------------------------------------------------------------
def check_activation(c, args, w):
    label = "2 socket activation"
    port = procs.free_port(ACTIVATE_ADDR)
    own_port = procs.free_port(UNBOUND_ADDR)
    sock = os.path.join(args.workdir, "activated.sock")
    harness.remove(sock)
    config = os.path.join(args.workdir, "activated.yml")
    write_config(config, "host: %s\nport: %d\ncontrol_socket: none\ncache: {type: internal}\n"
                 "privileges: {allow_root: true}\n" % (UNBOUND_ADDR, own_port), w)
    log = os.path.join(args.workdir, "activated.log")
    harness.remove(log)
    harness.show_log_on_failure("mta-stsd socket-activated", log)
    proc = procs.ManagedProcess("systemd-socket-activate", [
        "systemd-socket-activate", "-l", "%s:%d" % (ACTIVATE_ADDR, port), "-l", sock,
        "--fdname=socketmap-tcp:socketmap-unix", args.daemon, "-c", config], log)
    try:
        if not c.ok("%s: systemd-socket-activate listens" % label,
                    procs.wait_until(lambda: os.path.exists(sock), 10, proc), procs.log_tail(log)):
            return
        tcp = Postmap(os.path.join(args.workdir, "postfix-tcp"), ACTIVATE_ADDR, port)
        r = tcp.query(ENFORCE)  # the first connection starts mta-stsd
        # postmap prints the value of an OK reply, without "OK ".
        c.eq("%s: postmap -q over the inherited TCP socket" % label,
             ("found", answer(ENFORCE)[3:]), (r.kind, r.value))
        unix = UnixPostmap(os.path.join(args.workdir, "postfix-unix"), sock)
        r = unix.query(ENFORCE)
        # postmap prints the value of an OK reply, without "OK ".
        c.eq("%s: postmap -q over the inherited UNIX socket" % label,
             ("found", answer(ENFORCE)[3:]), (r.kind, r.value))
        c.eq("%s: raw socketmap client over TCP" % label, answer(ENFORCE),
             query_once(ACTIVATE_ADDR, port, "postfix", ENFORCE))
        c.eq("%s: raw socketmap client over UNIX" % label, answer(ENFORCE),
             raw_unix(sock, ENFORCE))
        text = read_log(log)
        c.ok("%s: the daemon says it took 2 sockets from systemd, by name" % label,
             "socket activation: 2 listening socket(s) from systemd "
             "(socketmap-tcp, socketmap-unix)" in text, text[-600:])
        c.ok("%s: host/port of the configuration not bound" % label,
             procs.tcp_port_free(UNBOUND_ADDR, own_port))
        c.ok("%s: the same PID (exec'd by systemd-socket-activate) answers" % label,
             proc.poll() is None)
        proc.signal(15)
        c.eq("%s: SIGTERM: exit 0" % label, 0, proc.wait(harness.SHUTDOWN_TIMEOUT + 5))
        c.ok("%s: the inherited UNIX socket file is left to its creator" % label,
             os.path.exists(sock))
    finally:
        proc.stop()
    # Accept=yes hands over a connection: the daemon must refuse to start on it.
    log = os.path.join(args.workdir, "accept.log")
    harness.remove(log)
    port = procs.free_port(ACTIVATE_ADDR)
    proc = procs.ManagedProcess("systemd-socket-activate", [
        "systemd-socket-activate", "-a", "-l", "%s:%d" % (ACTIVATE_ADDR, port), args.daemon,
        "-c", config], log)
    try:
        if procs.wait_tcp(ACTIVATE_ADDR, port, 10, proc):
            try:
                with socket.create_connection((ACTIVATE_ADDR, port), timeout=5) as s:
                    s.recv(1)
            except OSError:
                pass
        found = procs.wait_until(lambda: "not a listening TCP or UNIX stream socket"
                                 in read_log(log), 10)
        c.ok("%s: a connection handed over (Accept=yes) is refused with a message" % label,
             found, procs.log_tail(log))
    finally:
        proc.stop()


# ----- 3. the UNIX socket's owner, group and mode ----------------------------------------
def check_socket_owner(c, args, w):
    label = "3 socket owner"
    sock = os.path.join(args.workdir, "owned.sock")
    config = os.path.join(args.workdir, "owned.yml")
    log = os.path.join(args.workdir, "owned.log")
    harness.remove(log, sock)
    harness.show_log_on_failure("mta-stsd owned socket", log)
    write_config(config, "path: %s\nowner: nobody\ngroup: nogroup\nmode: 0660\n"
                 "control_socket: none\ncache: {type: internal}\n"
                 "privileges: {allow_root: true}\n" % sock, w)
    proc = procs.ManagedProcess("mta-stsd", [args.daemon, "-c", config], log)
    try:
        if not c.ok("%s: daemon creates %s" % (label, sock),
                    procs.wait_until(lambda: os.path.exists(sock), 10, proc), procs.log_tail(log)):
            return
        # The file exists from bind(); owner and mode are set after it, before listen().
        nobody = pwd.getpwnam("nobody").pw_uid

        def owned():
            st = os.stat(sock)
            return st.st_uid == nobody and st.st_mode & 0o7777 == 0o660

        procs.wait_until(owned, 5, proc)
        st = os.stat(sock)
        c.eq("%s: owner nobody" % label, nobody, st.st_uid)
        c.eq("%s: group nogroup" % label, grp.getgrnam("nogroup").gr_gid, st.st_gid)
        c.eq("%s: mode 0660" % label, "0o660", oct(st.st_mode & 0o7777))
        c.eq("%s: answers over it" % label, answer(ENFORCE), raw_unix(sock, ENFORCE))
    finally:
        proc.stop()
    bad = os.path.join(args.workdir, "bad-owner.yml")
    write_config(bad, "path: %s\nowner: no-such-user-su\nprivileges: {allow_root: true}\n"
                 % sock, w)
    r = subprocess.run([args.daemon, "-c", bad], capture_output=True, text=True, timeout=30)
    c.ok("%s: unknown owner: exit 2 naming the key" % label,
         r.returncode == 2 and "owner: no such user 'no-such-user-su'" in r.stderr,
         "rc %s: %s" % (r.returncode, r.stderr[-300:]))
    r = subprocess.run([args.daemon, "-c", bad, "--check-config"], capture_output=True,
                       text=True, timeout=30)
    c.ok("%s: --check-config finds it too" % label,
         r.returncode == 2 and "owner: no such user" in r.stderr,
         "rc %s: %s" % (r.returncode, r.stderr[-300:]))
    # A misspelt key: the daemon would ignore it, so the check must not say OK (exit 1,
    # the key and its line named); postfix-mta-sts-resolver's own keys are fine.
    typo = os.path.join(args.workdir, "typo.yml")
    write_config(typo, "path: %s\nprivileges: {allow_root: true}\nreuse_port: true\n"
                 "prot: 8461\n" % sock, w)
    r = subprocess.run([args.daemon, "-c", typo, "--check-config"], capture_output=True,
                       text=True, timeout=30)
    c.ok("%s: --check-config fails on a misspelt key, naming it and its line" % label,
         r.returncode == 1 and re.search(r"typo\.yml:\d+: prot\n", r.stderr) is not None
         and "reuse_port" not in r.stderr.split("unknown key(s)")[-1]
         and "configuration OK" not in r.stdout,
         "rc %s: %r %r" % (r.returncode, r.stdout, r.stderr[-500:]))


# ----- 4. root, and the privilege drop ------------------------------------------------
def proc_status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            fields[key] = value.split()
    return fields


def check_privileges(c, args, w):
    label = "4 privileges"
    port = procs.free_port(DAEMON_ADDR)
    config = os.path.join(args.workdir, "root.yml")
    write_config(config, "host: %s\nport: %d\ncontrol_socket: none\ncache: {type: internal}\n"
                 % (DAEMON_ADDR, port), w)
    r = subprocess.run([args.daemon, "-c", config], capture_output=True, text=True, timeout=30)
    c.ok("%s: root without privileges.user or allow_root: refused, exit 2" % label,
         r.returncode == 2 and "refusing to run as root" in r.stderr
         and "privileges.user" in r.stderr and "privileges.allow_root" in r.stderr,
         "rc %s: %s" % (r.returncode, r.stderr[-300:]))
    c.ok("%s: ... and nothing listens" % label, procs.tcp_port_free(DAEMON_ADDR, port))

    # After the drop the daemon reads the CA file (at every fetch) and writes its cache as
    # nobody: both live where nobody can reach them, not under the work directory, which
    # may sit below root's own 0700 home (the Debian 13 stage runs from /root).
    priv_dir = tempfile.mkdtemp(prefix="mtastsd-priv-")
    os.chmod(priv_dir, 0o755)
    cache_dir = os.path.join(priv_dir, "cache")
    os.makedirs(cache_dir)
    ca_file = os.path.join(priv_dir, "ca.pem")
    shutil.copy(w.ca_file, ca_file)
    os.chmod(ca_file, 0o644)
    db = os.path.join(cache_dir, "cache.db")
    log = os.path.join(args.workdir, "priv.log")
    harness.remove(log)
    harness.show_log_on_failure("mta-stsd privileges", log)
    write_config(config, "host: %s\nport: %d\ncontrol_socket: none\n"
                 "cache: {type: sqlite, options: {filename: %s}}\n"
                 "privileges: {user: nobody, group: nogroup}\n" % (DAEMON_ADDR, port, db), w,
                 ca_file=ca_file)
    proc = procs.ManagedProcess("mta-stsd", [args.daemon, "-c", config], log)
    nobody, nogroup = pwd.getpwnam("nobody").pw_uid, grp.getgrnam("nogroup").gr_gid
    try:
        if not c.ok("%s: starts as root with user nobody" % label,
                    procs.wait_tcp(DAEMON_ADDR, port, 10, proc), procs.log_tail(log)):
            return
        # The socket listens before the drop (binding needs root for ports below 1024):
        # a connect succeeds before the credentials change, the log line comes after.
        dropped = ("privileges: now running as nobody:nogroup (uid %d, gid %d); root cannot be "
                   "regained" % (nobody, nogroup))
        c.ok("%s: the log says root cannot be regained" % label,
             procs.wait_until(lambda: dropped in read_log(log), 10), procs.log_tail(log))
        st = proc_status(proc.pid)
        c.eq("%s: Uid (real, effective, saved, fs)" % label, [str(nobody)] * 4, st.get("Uid"))
        c.eq("%s: Gid (real, effective, saved, fs)" % label, [str(nogroup)] * 4, st.get("Gid"))
        c.eq("%s: supplementary groups: nogroup only" % label, [str(nogroup)], st.get("Groups"))
        c.eq("%s: no effective capabilities" % label, ["0000000000000000"], st.get("CapEff"))
        c.eq("%s: no permitted capabilities" % label, ["0000000000000000"], st.get("CapPrm"))
        c.eq("%s: answers as nobody" % label, answer(PRIV),
             query_once(DAEMON_ADDR, port, "postfix", PRIV))
        c.eq("%s: SIGTERM: exit 0" % label, 0, (proc.signal(15), proc.wait(15))[1])
    finally:
        proc.stop()
    try:
        with sqlite3.connect("file:%s?mode=ro" % db, uri=True) as conn:
            rows = [str(r) for r in conn.execute("SELECT * FROM policies")]
        stored = any(PRIV in r for r in rows)
    except sqlite3.Error as e:
        rows, stored = [str(e)], False
    c.ok("%s: the learned policy is in the SQLite cache" % label, stored, repr(rows)[:300])
    c.eq("%s: the cache file belongs to nobody" % label, nobody, os.stat(db).st_uid)
    shutil.rmtree(priv_dir, ignore_errors=True)


# ----- 5. syslog and journald -------------------------------------------------------
class DatagramSink:
    """A datagram socket that keeps every message (read by a thread: the kernel queues
    only a few datagrams per UNIX socket, and a blocked logger would stall the daemon)."""

    def __init__(self, path):
        harness.remove(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        os.chmod(path, 0o666)
        self.sock.settimeout(0.2)
        self.messages = []
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                self.messages.append(self.sock.recv(1 << 20))
            except socket.timeout:
                continue
            except OSError:
                return

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


def namespaced(args, mounts, config):
    """argv: mta-stsd in a private mount namespace where each (socket, path) of mounts is
    bound at path: /dev and /run are fresh tmpfs there (the few devices a process needs
    bound back), so the host's /dev and /run stay untouched."""
    old = os.path.join(args.workdir, "ns-olddev")
    os.makedirs(old, exist_ok=True)
    script = ["set -e", "mount --rbind /dev %s" % old, "mount -t tmpfs tmpfs /dev",
              "mount -t tmpfs tmpfs /run"]
    for dev in ("null", "zero", "random", "urandom"):
        script += ["touch /dev/%s" % dev, "mount --bind %s/%s /dev/%s" % (old, dev, dev)]
    for source, target in mounts:
        script += ["mkdir -p %s" % os.path.dirname(target), "touch %s" % target,
                   "mount --bind %s %s" % (source, target)]
    script.append('exec "$0" -c "$1"')
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", "; ".join(script),
            args.daemon, config]


def check_syslog(c, args, w, facility, pri_base):
    label = "5 syslog (%s)" % facility
    path = os.path.join(args.workdir, "syslog-%s.sock" % facility)
    sink = DatagramSink(path)
    port = procs.free_port(DAEMON_ADDR)
    config = os.path.join(args.workdir, "syslog-%s.yml" % facility)
    write_config(config, "host: %s\nport: %d\ncontrol_socket: none\ncache: {type: internal}\n"
                 "privileges: {allow_root: true}\nlog: {target: syslog%s}\n"
                 % (DAEMON_ADDR, port, "" if facility == "mail" else ", facility: " + facility),
                 w)
    log = os.path.join(args.workdir, "syslog-%s.log" % facility)
    harness.remove(log)
    proc = procs.ManagedProcess("mta-stsd", namespaced(args, [(path, "/dev/log")], config), log)
    try:
        if not c.ok("%s: daemon starts" % label, procs.wait_tcp(DAEMON_ADDR, port, 10, proc),
                    procs.log_tail(log)):
            return
        c.eq("%s: answers" % label, answer(LOGGED), query_once(DAEMON_ADDR, port, "postfix",
                                                               LOGGED))
        pid = proc.pid
        # The answer's line comes after the discovery's (DANE, learned policy).
        procs.wait_until(lambda: any((LOGGED + ": OK secure").encode() in m
                                     for m in sink.messages), 5)
        lines = [m.decode("utf-8", "replace") for m in sink.messages]
        tag = re.compile(r"^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d mta-stsd\[%d\]: (.*)$" % pid,
                         re.S)
        parsed = [(int(m.group(1)), m.group(2)) for m in map(tag.match, lines) if m]
        c.ok("%s: every line is '<PRI>TIME mta-stsd[PID]: text'" % label,
             lines and len(parsed) == len(lines), repr(lines[:3]))
        info = [t for p, t in parsed if p == pri_base + 6]
        warn = [t for p, t in parsed if p == pri_base + 4]
        c.ok("%s: info lines at <%d> (facility %s, info)" % (label, pri_base + 6, facility),
             any("listening on %s:%d" % (DAEMON_ADDR, port) in t for t in info), repr(parsed))
        c.ok("%s: the answer's line at info" % label,
             any(t.startswith(LOGGED + ": OK secure") for t in info), repr(parsed))
        c.ok("%s: warnings at <%d> (warning)" % (label, pri_base + 4),
             any("running as root" in t for t in warn), repr(parsed))
        c.ok("%s: nothing on stderr" % label, "listening on" not in read_log(log),
             procs.log_tail(log))
    finally:
        proc.stop()
        sink.close()


def check_log_fallback(c, args, w):
    """No /dev/log (a fresh /dev in the namespace): the lines must not vanish."""
    label = "5 syslog without /dev/log"
    port = procs.free_port(DAEMON_ADDR)
    config = os.path.join(args.workdir, "nosyslog.yml")
    write_config(config, "host: %s\nport: %d\ncontrol_socket: none\ncache: {type: internal}\n"
                 "privileges: {allow_root: true}\nlog: {target: syslog}\n" % (DAEMON_ADDR, port),
                 w)
    log = os.path.join(args.workdir, "nosyslog.log")
    harness.remove(log)
    proc = procs.ManagedProcess("mta-stsd", namespaced(args, [], config), log)
    try:
        c.ok("%s: daemon starts" % label, procs.wait_tcp(DAEMON_ADDR, port, 10, proc),
             procs.log_tail(log))
        text = read_log(log)
        c.ok("%s: says so and logs to stderr" % label,
             "log.target syslog: /dev/log does not exist or is not writable; logging to stderr"
             in text and "listening on %s:%d" % (DAEMON_ADDR, port) in text, text[-500:])
    finally:
        proc.stop()


def check_log_reload(c, args, w):
    """log.target changed by a reload (SIGHUP): stderr, then syslog (facility local3), then
    stderr again; each line goes to one target, the switch's own line to the new one."""
    label = "5 log target reload"
    path = os.path.join(args.workdir, "syslog-reload.sock")
    sink = DatagramSink(path)
    port = procs.free_port(DAEMON_ADDR)
    config = os.path.join(args.workdir, "log-reload.yml")
    settings = ("host: %s\nport: %d\ncontrol_socket: none\ncache: {type: internal}\n"
                "privileges: {allow_root: true}\n" % (DAEMON_ADDR, port))
    write_config(config, settings + "log: {target: stderr}\n", w)
    log = os.path.join(args.workdir, "log-reload.log")
    harness.remove(log)
    proc = procs.ManagedProcess("mta-stsd", namespaced(args, [(path, "/dev/log")], config), log)
    answered = LOGGED + ": OK secure"

    def on_stderr():
        return read_log(log).count(answered)

    def on_syslog():
        return sum(answered.encode() in m for m in sink.messages)

    def syslog_text():
        return "\n".join(m.decode("utf-8", "replace") for m in sink.messages)

    def reloaded(count, where):
        return procs.wait_until(lambda: where().count("configuration reloaded") >= count, 5)

    try:
        if not c.ok("%s: daemon starts" % label, procs.wait_tcp(DAEMON_ADDR, port, 10, proc),
                    procs.log_tail(log)):
            return
        c.eq("%s: answers" % label, answer(LOGGED),
             query_once(DAEMON_ADDR, port, "postfix", LOGGED))
        c.ok("%s: stderr at first" % label,
             procs.wait_until(lambda: on_stderr() == 1, 5) and on_syslog() == 0,
             procs.log_tail(log))
        write_config(config, settings + "log: {target: syslog, facility: local3}\n", w)
        proc.signal(signal.SIGHUP)
        c.ok("%s: SIGHUP: the reload's line goes to syslog, at local3.info" % label,
             reloaded(1, syslog_text) and any(
                 m.startswith(b"<%d>" % (19 * 8 + 6)) and b"applied log" in m
                 for m in sink.messages), syslog_text()[-800:])
        query_once(DAEMON_ADDR, port, "postfix", LOGGED)
        c.ok("%s: the next answer's line is on syslog, not on stderr" % label,
             procs.wait_until(lambda: on_syslog() == 1, 5) and on_stderr() == 1,
             "syslog %d, stderr %d" % (on_syslog(), on_stderr()))
        write_config(config, settings + "log: {target: stderr}\n", w)
        proc.signal(signal.SIGHUP)
        c.ok("%s: back to stderr: the reload's line is there" % label,
             reloaded(1, lambda: read_log(log)), procs.log_tail(log))
        query_once(DAEMON_ADDR, port, "postfix", LOGGED)
        c.ok("%s: the next answer's line is on stderr again, not on syslog" % label,
             procs.wait_until(lambda: on_stderr() == 2, 5) and on_syslog() == 1,
             "syslog %d, stderr %d" % (on_syslog(), on_stderr()))
        c.ok("%s: the daemon runs on" % label, proc.poll() is None, procs.log_tail(log))
    finally:
        proc.stop()
        sink.close()


def journal_fields(datagram):
    """The journal's native protocol: KEY=VALUE lines, or KEY, a 64-bit length and data."""
    fields = {}
    i = 0
    while i < len(datagram):
        nl = datagram.find(b"\n", i)
        if nl < 0:
            break
        line = datagram[i:nl]
        if b"=" in line:
            key, _, value = line.partition(b"=")
            fields[key.decode()] = value.decode("utf-8", "replace")
            i = nl + 1
        else:
            size = struct.unpack("<Q", datagram[nl + 1:nl + 9])[0]
            fields[line.decode()] = datagram[nl + 9:nl + 9 + size].decode("utf-8", "replace")
            i = nl + 9 + size + 1
    return fields


def check_journald(c, args, w):
    label = "5 journald"
    path = os.path.join(args.workdir, "journal.sock")
    sink = DatagramSink(path)
    port = procs.free_port(DAEMON_ADDR)
    config = os.path.join(args.workdir, "journald.yml")
    write_config(config, "host: %s\nport: %d\ncontrol_socket: none\ncache: {type: internal}\n"
                 "privileges: {allow_root: true}\nlog: {target: journald}\n"
                 % (DAEMON_ADDR, port), w)
    log = os.path.join(args.workdir, "journald.log")
    harness.remove(log)
    proc = procs.ManagedProcess(
        "mta-stsd", namespaced(args, [(path, "/run/systemd/journal/socket")], config), log)
    try:
        if not c.ok("%s: daemon starts" % label, procs.wait_tcp(DAEMON_ADDR, port, 10, proc),
                    procs.log_tail(log)):
            return
        query_once(DAEMON_ADDR, port, "postfix", LOGGED)
        query_once(DAEMON_ADDR, port, "postfix", "nothing-here.test")
        # The NOTFOUND answer's entry comes after the "no usable MTA-STS policy" one.
        procs.wait_until(lambda: any(b"nothing-here.test: NOTFOUND" in m
                                     for m in sink.messages), 10)
        entries = [journal_fields(m) for m in sink.messages]
        c.ok("%s: entries carry MESSAGE, PRIORITY, SYSLOG_IDENTIFIER=mta-stsd, facility mail"
             % label, entries and all(e.get("SYSLOG_IDENTIFIER") == "mta-stsd" and "MESSAGE" in e
                                      and e.get("SYSLOG_FACILITY") == "2" and "PRIORITY" in e
                                      for e in entries), repr(entries[:2]))
        hit = [e for e in entries if e.get("DOMAIN") == LOGGED and "ANSWER" in e]
        c.ok("%s: the answer's entry: DOMAIN, ANSWER, PRIORITY info" % label,
             hit and hit[0]["ANSWER"] == answer(LOGGED) and hit[0]["PRIORITY"] == "6",
             repr(entries)[-800:])
        miss = [e for e in entries if e.get("DOMAIN") == "nothing-here.test" and "ANSWER" in e]
        c.ok("%s: a NOTFOUND entry carries its REASON" % label,
             miss and miss[0]["ANSWER"] == "NOTFOUND" and miss[0].get("REASON"),
             repr(entries)[-800:])
        warn = [e for e in entries if "running as root" in e.get("MESSAGE", "")]
        c.ok("%s: a warning at PRIORITY 4, without DOMAIN" % label,
             warn and warn[0]["PRIORITY"] == "4" and "DOMAIN" not in warn[0], repr(entries[:3]))
    finally:
        proc.stop()
        sink.close()


def body(run):
    c, args = run.checks, run.args
    check_units(c, args)
    w = World(args.workdir, https_addr=HTTPS_ADDR)
    for name in DOMAINS:
        w.add_domain(name, txt=[S.ID], policy=S.policy(mx=["mail." + name]))
    w.add_domain("nothing-here.test")
    run.on_exit(w.stop, w.logs)
    w.start()
    check_activation(c, args, w)
    check_socket_owner(c, args, w)
    check_privileges(c, args, w)
    check_syslog(c, args, w, "mail", 2 * 8)
    check_syslog(c, args, w, "local3", 19 * 8)
    check_journald(c, args, w)
    check_log_fallback(c, args, w)
    check_log_reload(c, args, w)


if __name__ == "__main__":
    sys.exit(harness.main(__doc__, "start-up", OVERALL_LIMIT, body))

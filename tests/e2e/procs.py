"""Bounded process and port helpers shared by the e2e world, tests and benchmarks.

Every process started here is stopped by PID (SIGTERM, then SIGKILL after a bound),
also from an atexit hook, so a failing test never leaves servers behind.
"""
import atexit
import os
import signal
import socket
import subprocess
import time

_live = []  # ManagedProcess objects not yet stopped


def free_port(addr="127.0.0.1"):
    """A port free for both TCP and UDP on addr (nsd listens on both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((addr, 0))
            port = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((addr, port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free TCP+UDP port on %s" % addr)


def tcp_port_free(addr, port):
    """True if nothing listens on addr:port (a bind test, as the server would do it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
        except OSError:
            return False
    return True


def free_address(addresses, port):
    """The first of addresses where nothing listens on port (worlds of different runners
    never collide)."""
    for addr in addresses:
        if tcp_port_free(addr, port):
            return addr
    raise RuntimeError("port %d is busy on every candidate address" % port)


def wait_tcp(addr, port, timeout, proc=None):
    """Polls until addr:port accepts a TCP connection; False after timeout or if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection((addr, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_until(predicate, timeout, proc=None, interval=0.1):
    """Polls predicate() until it is true; False after timeout or if proc died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        if predicate():
            return True
        time.sleep(interval)
    return False


def _children(pid):
    """PIDs whose parent is pid (nginx workers), read from /proc."""
    kids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # Field 4 (ppid) follows the parenthesised command name, which may contain spaces.
        rest = stat[stat.rfind(b")") + 2:].split()
        if len(rest) > 1 and int(rest[1]) == pid:
            kids.append(int(entry))
    return kids


class ManagedProcess:
    """A child process whose stdout+stderr go to a log file."""

    def __init__(self, name, argv, log_path, env=None, cwd=None):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=self._log,
                                      stderr=subprocess.STDOUT, env=env, cwd=cwd)
        self.pid = self.popen.pid
        _live.append(self)

    def poll(self):
        return self.popen.poll()

    def signal(self, sig):
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout):
        """Exit code, or None if still running after timeout seconds."""
        try:
            return self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL (the process and its children) after grace seconds."""
        if self in _live:
            _live.remove(self)
        if self.popen.poll() is None:
            kids = _children(self.pid)
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait(grace) is None:
                for pid in [self.pid] + kids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
                self.wait(grace)
        self._log.close()
        return self.popen.returncode


def log_tail(path, lines=40):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)
    text = data.decode("utf-8", "replace").splitlines()
    return "\n".join(text[-lines:])


@atexit.register
def _stop_all():
    for proc in list(_live):
        try:
            proc.stop(grace=3.0)
        except Exception:  # noqa: BLE001 - best effort at exit
            pass

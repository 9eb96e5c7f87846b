"""Talking socketmap to the daemon: through Postfix's own client (postmap) and raw netstrings.

postmap shows what Postfix makes of an answer; the raw client shows the exact bytes
(e.g. "NOTFOUND " with its space, "PERM ...") and lets tests send malformed input.
"""
import os
import socket
import subprocess
import time

MAIN_CF = """\
compatibility_level = 3.6
maillog_file = /dev/stderr
maillog_file_prefixes = /dev/stderr
smtputf8_enable = yes
"""


class PostmapResult:
    def __init__(self, returncode, stdout, stderr):
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr

    @property
    def kind(self):
        """"found", "notfound" or "error", the way Postfix classifies the reply."""
        if self.returncode == 0:
            return "found"
        if "query error" in self.stderr or "fatal:" in self.stderr:
            return "error"
        return "notfound"

    @property
    def value(self):
        return self.stdout.rstrip("\n")

    def __repr__(self):
        return "PostmapResult(rc=%d, stdout=%r, stderr=%r)" % (self.returncode, self.stdout,
                                                              self.stderr[-300:])


class Postmap:
    """`postmap -q KEY socketmap:inet:HOST:PORT:NAME` with a private configuration directory."""

    def __init__(self, config_dir, host, port):
        self.config_dir = config_dir
        self.host = host
        self.port = port
        os.makedirs(config_dir, exist_ok=True)
        with open(os.path.join(config_dir, "main.cf"), "w") as f:
            f.write(MAIN_CF)

    def table(self, name):
        return "socketmap:inet:%s:%d:%s" % (self.host, self.port, name)

    def query(self, key, name="postfix", timeout=30):
        res = subprocess.run(["postmap", "-c", self.config_dir, "-q", key, self.table(name)],
                             capture_output=True, timeout=timeout)
        return PostmapResult(res.returncode, res.stdout.decode("utf-8", "replace"),
                             res.stderr.decode("utf-8", "replace"))


# ----- netstrings ------------------------------------------------------------------
def netstring(payload):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return str(len(payload)).encode() + b":" + payload + b","


class ProtocolError(Exception):
    pass


class SocketmapClient:
    """One connection; query() sends a request and reads one netstring reply."""

    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.timeout = timeout
        self.buf = b""

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send_raw(self, data):
        self.sock.sendall(data)

    def query(self, name, key):
        if isinstance(key, str):
            key = key.encode("utf-8")
        self.send_raw(netstring(name.encode() + b" " + key))
        return self.read_reply()

    def read_reply(self, timeout=None):
        """One reply payload (str); raises ProtocolError on EOF or a malformed netstring."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            colon = self.buf.find(b":")
            if colon > 0:
                digits = self.buf[:colon]
                if not digits.isdigit():
                    raise ProtocolError("bad netstring length %r" % digits[:20])
                n = int(digits)
                if len(self.buf) >= colon + 1 + n + 1:
                    payload = self.buf[colon + 1:colon + 1 + n]
                    if self.buf[colon + 1 + n:colon + 2 + n] != b",":
                        raise ProtocolError("netstring without comma")
                    self.buf = self.buf[colon + 2 + n:]
                    return payload.decode("utf-8", "replace")
            if len(self.buf) > 200000:
                raise ProtocolError("reply too long")
            self._fill(deadline)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("no reply within %.1f s" % self.timeout)
        self.sock.settimeout(left)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ProtocolError("connection closed")
        self.buf += chunk

    def closed_by_peer(self, timeout=3.0):
        """True if the server closes the connection within timeout (after any pending bytes)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return False
            except OSError:  # reset counts as closed
                return True
            if not chunk:
                return True


def query_once(host, port, name, key, timeout=10.0):
    with SocketmapClient(host, port, timeout) as c:
        return c.query(name, key)

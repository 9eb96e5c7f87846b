"""A small SMTP server for the real-mail tests: it plays one MX host, offering STARTTLS
with a given certificate (or not at all), and records each message it accepts with
whether the session was encrypted.

    sink = SmtpSink("127.0.0.61", cert=("mx.pem", "mx.key"))   # or cert=None: no STARTTLS
    sink.start()
    ... sink.messages -> [Received(rcpt=["a@enforce.test"], tls=True, tls_version="TLSv1.3")]
    sink.stop()

Just enough of RFC 5321 and RFC 3207 for Postfix's smtp client: EHLO/HELO, STARTTLS,
MAIL, RCPT, DATA (dot-stuffed, ended by CRLF.CRLF), RSET, NOOP, QUIT. Python 3 standard
library only (smtpd is gone from Debian 13's Python).
"""
import socket
import ssl
import threading
from dataclasses import dataclass, field

MAX_LINE = 4096


@dataclass
class Received:
    rcpt: list
    tls: bool
    tls_version: str = ""
    data: bytes = b""


@dataclass
class SmtpSink:
    addr: str
    port: int = 25
    cert: tuple = None  # (certificate, key) paths; None: STARTTLS is not offered
    name: str = "mx.sink.invalid"
    messages: list = field(default_factory=list)
    sessions: int = 0

    def start(self):
        self._lock = threading.Lock()
        self._stopping = False
        self._context = None
        if self.cert is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*self.cert)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.addr, self.port))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def stop(self):
        self._stopping = True
        self._thread.join(5)
        self._sock.close()

    def received(self, rcpt):
        """The messages accepted for rcpt so far."""
        with self._lock:
            return [m for m in self.messages if rcpt in m.rcpt]

    def _accept(self):
        while not self._stopping:
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self.sessions += 1
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(30)
        try:
            _Session(self, conn).run()
        except (OSError, ssl.SSLError, ValueError):
            pass  # the client gave up (e.g. a certificate it would not verify)
        finally:
            try:
                conn.close()
            except OSError:
                pass


class _Session:
    def __init__(self, sink, conn):
        self.sink = sink
        self.conn = conn
        self.buf = b""
        self.tls = False
        self.rcpt = []

    def send(self, text):
        self.conn.sendall(text.encode("ascii") + b"\r\n")

    def line(self):
        while b"\r\n" not in self.buf:
            if len(self.buf) > MAX_LINE:
                raise ValueError("line too long")
            chunk = self.conn.recv(4096)
            if not chunk:
                raise ValueError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def data(self):
        body = b""
        while True:
            line = self.line()
            if line == ".":
                return body
            if line.startswith(".."):
                line = line[1:]  # dot-stuffing (RFC 5321 4.5.2)
            body += line.encode("utf-8") + b"\r\n"

    def run(self):
        sink = self.sink
        self.send("220 %s ESMTP mta-stsd test sink" % sink.name)
        while True:
            line = self.line()
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                offers = ["8BITMIME"]
                if sink._context is not None and not self.tls:
                    offers.insert(0, "STARTTLS")
                replies = [sink.name] + offers
                for reply in replies[:-1]:
                    self.send("250-" + reply)
                self.send("250 " + replies[-1])
            elif verb == "HELO":
                self.send("250 " + sink.name)
            elif verb == "STARTTLS" and sink._context is not None and not self.tls:
                self.send("220 ready to start TLS")
                self.conn = sink._context.wrap_socket(self.conn, server_side=True)
                self.buf = b""
                self.tls = True
                self.rcpt = []
            elif verb == "MAIL":
                self.rcpt = []
                self.send("250 sender ok")
            elif verb == "RCPT":
                address = line.split(":", 1)[1].strip() if ":" in line else ""
                self.rcpt.append(address.strip("<>").split(">", 1)[0])
                self.send("250 recipient ok")
            elif verb == "DATA":
                if not self.rcpt:
                    self.send("503 no recipients")
                    continue
                self.send("354 go ahead")
                body = self.data()
                version = self.conn.version() if self.tls else ""
                with sink._lock:
                    sink.messages.append(Received(list(self.rcpt), self.tls, version, body))
                self.rcpt = []
                self.send("250 queued")
            elif verb in ("RSET", "NOOP"):
                self.rcpt = [] if verb == "RSET" else self.rcpt
                self.send("250 ok")
            elif verb == "QUIT":
                self.send("221 bye")
                return
            else:
                self.send("502 not implemented")

"""Policy hosts that misbehave: TLS servers on loopback (Python standard library + openssl).

    certs = CertSet(os.path.join(workdir, "hostile-certs"), world, hosts)
    srv = HostileHTTPS("127.0.0.72", certs, {"mta-sts.a.test": "drip", ...})
    ... srv.hits("mta-sts.a.test") ...
    srv.stop()

The behaviour of a connection is chosen by the SNI name the client sent (the daemon
always sends mta-sts.DOMAIN, RFC 8461 7.1); the certificate kind too ("expired",
"selfsigned", "wrongname" behaviours present that certificate and would then serve a
valid policy). TLS versions and a delayed handshake apply to a whole server
(tls_versions=, handshake_delay=).

Behaviours after the handshake and the request:
  ok               200, text/plain, a valid enforce policy (to check the server itself)
  reset_mid_body   200, Content-Length 1000, 100 bytes of body, then a TCP reset
  hangup           closes the connection without a response
  not_http         4 KiB of random bytes instead of a response
  drip             200, Content-Length of a valid policy, then one byte per second
  endless_headers  200 status line, then header lines without end
  endless_100      "100 Continue" interim responses without end
  chunked_big      200, chunked, no Content-Length, a valid policy padded past 1 MiB
  big_length       200, Content-Length 100000, a valid policy padded to that length
  redirect_loop    301 to the very same URL
  expired/selfsigned/wrongname   that certificate, then like ok
"""
import os
import socket
import ssl
import struct
import subprocess
import threading
import time

BEHAVIOURS = ("ok", "reset_mid_body", "hangup", "not_http", "drip", "endless_headers",
              "endless_100", "chunked_big", "big_length", "redirect_loop", "expired",
              "selfsigned", "wrongname")
CERT_OF = {"expired": "expired", "selfsigned": "selfsigned", "wrongname": "wrongname"}
WRONG_NAME = "mta-sts.someone-else.invalid"

_CA_CNF = """\
[ca]
default_ca = hostile
[hostile]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
certificate = {ca_pem}
private_key = {ca_key}
default_md = sha256
policy = anything
unique_subject = no
copy_extensions = none
email_in_dn = no
[anything]
commonName = supplied
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
"""


def policy_for(host):
    domain = host[len("mta-sts."):] if host.startswith("mta-sts.") else host
    return ("version: STSv1\nmode: enforce\nmx: mail.%s\nmax_age: 86400\n" % domain).encode()


class CertSet:
    """Certificates for hosts: "good" (signed by the world's test CA, valid now),
    "expired" (same CA, 2020-2021), "selfsigned", and "wrongname" (same CA, another name).
    Each is one certificate with every host as a subjectAltName."""

    def __init__(self, directory, world, hosts):
        self.dir = directory
        os.makedirs(os.path.join(directory, "issued"), exist_ok=True)
        open(os.path.join(directory, "index.txt"), "w").close()
        with open(os.path.join(directory, "serial"), "w") as f:
            f.write("%016X\n" % (int(time.time() * 1000) + 7))
        self.cnf = os.path.join(directory, "openssl.cnf")
        ca_dir = os.path.join(world.root, "ca")
        with open(self.cnf, "w") as f:
            f.write(_CA_CNF.format(dir=directory, ca_pem=world.ca_file,
                                   ca_key=os.path.join(ca_dir, "ca.key")))
        hosts = sorted(set(hosts))
        self.paths = {
            "good": self._leaf("good", hosts),
            "expired": self._leaf("expired", hosts, dates=("20200101000000Z", "20210101000000Z")),
            "wrongname": self._leaf("wrongname", [WRONG_NAME]),
            "selfsigned": self._leaf("selfsigned", hosts, selfsigned=True),
        }

    def _openssl(self, *args):
        res = subprocess.run(["openssl"] + list(args), capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, OPENSSL_CONF=self.cnf))
        if res.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]), res.stderr))

    def _leaf(self, stem, names, dates=None, selfsigned=False):
        key = os.path.join(self.dir, stem + ".key")
        crt = os.path.join(self.dir, stem + ".pem")
        csr = os.path.join(self.dir, stem + ".csr")
        ext = os.path.join(self.dir, stem + ".ext")
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", key)
        with open(ext, "w") as f:
            f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n" % names[0])
            f.write("[leaf]\nbasicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
                    "subjectAltName = @alt\n[alt]\n")
            for i, n in enumerate(names, 1):
                f.write("DNS.%d = %s\n" % (i, n))
        if selfsigned:
            self._openssl("req", "-x509", "-new", "-key", key, "-days", "3650", "-config", ext,
                          "-extensions", "leaf", "-out", crt)
            return crt, key
        self._openssl("req", "-new", "-key", key, "-subj", "/CN=%s" % names[0], "-out", csr)
        span = (["-startdate", dates[0], "-enddate", dates[1]] if dates else ["-days", "3650"])
        self._openssl("ca", "-batch", "-notext", "-config", self.cnf, "-in", csr, "-out", crt,
                      "-extfile", ext, "-extensions", "leaf", *span)
        return crt, key


class HostileHTTPS:
    """A TLS listener on addr:port; routes: SNI host name -> behaviour (default: ok)."""

    def __init__(self, addr, certs, routes=None, port=443, tls_versions=None,
                 handshake_delay=0.0):
        self.addr = addr
        self.port = port
        self.routes = dict(routes or {})
        unknown = set(self.routes.values()) - set(BEHAVIOURS)
        if unknown:
            raise ValueError("unknown behaviours %s" % sorted(unknown))
        self.handshake_delay = handshake_delay
        self._contexts = {kind: self._context(certs.paths[kind], tls_versions)
                          for kind in ("good", "expired", "selfsigned", "wrongname")}
        self._contexts["good"].sni_callback = self._on_sni
        self._lock = threading.Lock()
        self._sni = {}          # id(ssl socket) -> SNI name
        self._hits = {}         # SNI name -> requests read
        self.accepted = 0       # TCP connections accepted
        self.handshake_errors = []
        self._conns = []
        self._stopping = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(128)
        self.sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @staticmethod
    def _context(paths, tls_versions):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*paths)
        if tls_versions is not None:
            # Debian's OpenSSL refuses TLS < 1.2 at security level 2: lower it to serve them.
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            ctx.minimum_version, ctx.maximum_version = tls_versions
        return ctx

    def _on_sni(self, sslsock, name, ctx):
        name = (name or "").lower()
        with self._lock:
            self._sni[id(sslsock)] = name
        kind = CERT_OF.get(self.routes.get(name, "ok"))
        if kind is not None:
            sslsock.context = self._contexts[kind]
        return None

    def hits(self, host):
        with self._lock:
            return self._hits.get(host.lower(), 0)

    def stop(self):
        self._stopping.set()
        self._thread.join(timeout=2)
        self.sock.close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

    def _serve(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with self._lock:
                self.accepted += 1
                self._conns.append(conn)
            threading.Thread(target=self._one, args=(conn,), daemon=True).start()

    def _one(self, raw):
        tls = None
        try:
            if self.handshake_delay:
                deadline = time.monotonic() + self.handshake_delay
                while time.monotonic() < deadline and not self._stopping.is_set():
                    time.sleep(0.1)
            raw.settimeout(10)
            try:
                tls = self._contexts["good"].wrap_socket(raw, server_side=True)
            except (ssl.SSLError, OSError) as e:
                with self._lock:
                    self.handshake_errors.append(str(e))
                return
            with self._lock:
                self._conns.append(tls)
                host = self._sni.pop(id(tls), "")
            request = b""
            while b"\r\n\r\n" not in request and len(request) < 16384:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                request += chunk
            with self._lock:
                self._hits[host] = self._hits.get(host, 0) + 1
            getattr(self, "_do_" + self._behaviour(host))(tls, raw, host)
        except (ssl.SSLError, OSError):
            pass
        finally:
            for s in (tls, raw):
                if s is not None:
                    try:
                        s.close()
                    except OSError:
                        pass

    def _behaviour(self, host):
        b = self.routes.get(host, "ok")
        return "ok" if b in CERT_OF else b

    # ----- behaviours --------------------------------------------------------------
    def _do_ok(self, tls, raw, host):
        body = policy_for(host)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"Connection: close\r\n\r\n%s" % (len(body), body))

    def _do_reset_mid_body(self, tls, raw, host):
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n"
                    b"\r\n" + policy_for(host)[:100].ljust(100, b"\n"))
        time.sleep(0.2)
        # SO_LINGER 0: close() sends a RST instead of a FIN.
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.close()

    def _do_hangup(self, tls, raw, host):
        pass  # _one closes the connection

    def _do_not_http(self, tls, raw, host):
        tls.sendall(os.urandom(4096))

    def _do_drip(self, tls, raw, host):
        body = policy_for(host)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n"
                    % len(body))
        for i in range(len(body)):
            if self._stopping.wait(1.0):
                return
            tls.sendall(body[i:i + 1])

    def _do_endless_headers(self, tls, raw, host):
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
        line = 0
        deadline = time.monotonic() + 60
        while not self._stopping.is_set() and time.monotonic() < deadline:
            tls.sendall(b"".join(b"X-Filler-%08d: %s\r\n" % (line + i, b"h" * 100)
                                 for i in range(40)))
            line += 40

    def _do_endless_100(self, tls, raw, host):
        deadline = time.monotonic() + 60
        while not self._stopping.is_set() and time.monotonic() < deadline:
            tls.sendall(b"HTTP/1.1 100 Continue\r\n\r\n" * 50)

    def _do_big_length(self, tls, raw, host):
        body = policy_for(host)
        body += b"x-pad: " + b"p" * (100000 - len(body) - 8) + b"\n"
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"\r\n%s" % (len(body), body))

    def _do_chunked_big(self, tls, raw, host):
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                    b"Transfer-Encoding: chunked\r\n\r\n")
        first = policy_for(host)
        tls.sendall(b"%x\r\n%s\r\n" % (len(first), first))
        pad = b"".join(b"x-pad-%06d: %s\n" % (i, b"p" * 100) for i in range(35))  # ~4 KiB
        for _ in range(1024 * 1024 // len(pad) + 1):
            if self._stopping.is_set():
                return
            tls.sendall(b"%x\r\n%s\r\n" % (len(pad), pad))
        tls.sendall(b"0\r\n\r\n")

    def _do_redirect_loop(self, tls, raw, host):
        tls.sendall(b"HTTP/1.1 301 Moved Permanently\r\nLocation: https://%s/.well-known/"
                    b"mta-sts.txt\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    % host.encode())

"""A small MTA-STS Internet on loopback: nsd serves the DNS, nginx the policy hosts.

    w = World("/tmp/work")
    w.add_domain("enforce.test", txt=["v=STSv1; id=1"], policy=b"version: STSv1\n...")
    w.start()            # test CA + certificates, zone, nsd and nginx; waits until both answer
    ... w.dns_port, w.ca_file, w.nginx_hits("enforce.test") ...
    w.stop()

While it runs: stop_dns()/start_dns(), stop_https()/start_https(), and set_txt()/set_policy()
to publish a new TXT record or policy body (servers reloaded with SIGHUP).

Used by run_e2e.py and by the benchmarks, so the public API above stays stable.
Python 3 standard library only; the servers and openssl are Debian packages.
"""
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

try:
    from . import procs  # imported as a package (benchmarks)
except ImportError:
    import procs  # run from tests/e2e

CERT_KINDS = ("good", "selfsigned", "wrongname", "expired")
SANS_PER_CERT = 500  # nginx server block (and certificate) per chunk of "good" hosts
WRONG_NAME = "mta-sts.wrong-name.invalid"

_OPENSSL_CNF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = placeholder
[ca]
default_ca = testca
[testca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/issued
serial = $dir/serial
certificate = $dir/ca.pem
private_key = $dir/ca.key
default_md = sha256
default_days = 3650
policy = anything
unique_subject = no
copy_extensions = none
email_in_dn = no
[anything]
commonName = supplied
[v3_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


def to_alabel(name):
    """Lower-case A-label form of a (possibly UTF-8) domain name, without trailing dot."""
    name = name.rstrip(".")
    try:
        name.encode("ascii")
        return name.lower()
    except UnicodeEncodeError:
        return name.encode("idna").decode("ascii").lower()


def _txt_rdata(record):
    """Zone-file rdata for one TXT record: a str, or a tuple of strings (one record of
    several strings)."""
    parts = [record] if isinstance(record, (str, bytes)) else list(record)
    out = []
    for part in parts:
        data = part.encode("utf-8") if isinstance(part, str) else part
        # A character-string holds at most 255 octets; longer input is split (RFC 1035 3.3).
        chunks = [data[i:i + 255] for i in range(0, len(data), 255)] or [b""]
        for chunk in chunks:
            esc = "".join(chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C) else "\\%03d" % b
                          for b in chunk)
            out.append('"%s"' % esc)
    return " ".join(out)


class _Domain:
    def __init__(self, name, txt, policy, content_type, status, location, cert, https_addr,
                 mta_sts_host, extra_records):
        if cert not in CERT_KINDS:
            raise ValueError("cert must be one of %s" % (CERT_KINDS,))
        self.name = name
        self.host = "mta-sts." + name
        self.txt = list(txt or [])
        self.policy = policy
        self.content_type = content_type
        self.status = status
        self.location = location
        self.cert = cert
        self.https_addr = https_addr
        self.mta_sts_host = mta_sts_host
        self.extra_records = list(extra_records)
        self.inline = _inline(policy) if policy is not None else None

    def plain(self):
        """Served by a shared chunk server block (body inline in nginx.conf, or 404): good
        cert, 200, text/plain, no redirect, and a body nginx.conf can carry."""
        return (self.cert == "good" and self.status == 200 and self.location is None
                and self.content_type == "text/plain"
                and (self.policy is None or self.inline is not None))


def _inline(body):
    """body as an nginx.conf quoted string, or None when it must be served from a file
    (nginx strings have no escape for "$", and files suit large or empty bodies)."""
    if not body or len(body) > 4096 or b"$" in body:
        return None
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        return None
    if any(not (" " <= ch <= "~" or ch in "\r\n\t") for ch in text):
        return None
    return '"' + text.translate(_NGINX_ESCAPES) + '"'


_NGINX_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\r": "\\r", "\n": "\\n",
                                "\t": "\\t"})


class _HangListener:
    """Accepts TCP connections and never answers (a policy host that hangs)."""

    def __init__(self, addr, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((addr, port))
        self.sock.listen(256)
        self.sock.settimeout(0.2)
        self.conns = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(conn)  # held open, never read or written

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=2)
        for conn in self.conns:
            conn.close()
        self.sock.close()


class World:
    def __init__(self, workdir, dns_addr="127.0.0.1", dns_port=None, https_addr="127.0.0.10"):
        self.workdir = os.path.abspath(workdir)
        self.root = os.path.join(self.workdir, "world")
        self.dns_addr = dns_addr
        self.dns_port = dns_port
        self.https_addr = https_addr
        self.domains = {}
        self.ca_file = os.path.join(self.root, "ca", "ca.pem")
        self.nsd_log = os.path.join(self.root, "nsd", "nsd.log")
        self.nginx_error_log = os.path.join(self.root, "nginx", "error.log")
        self.nginx_access_log = os.path.join(self.root, "nginx", "access.log")
        self._nsd = None
        self._nginx = None
        self._hangers = []
        self._serial = 1000

    # ----- description -------------------------------------------------------------
    def add_domain(self, name, *, txt=None, policy=None, content_type="text/plain", status=200,
                   location=None, cert="good", https_addr=None, mta_sts_host=True,
                   extra_records=()):
        name = to_alabel(name)
        if name in self.domains:
            raise ValueError("domain %s added twice" % name)
        self.domains[name] = _Domain(name, txt, policy, content_type, status, location, cert,
                                     https_addr, mta_sts_host, extra_records)

    def add_hang_listener(self, addr, port=443):
        """Opens a TCP listener on addr:port that accepts and never answers; stopped by stop()."""
        self._hangers.append(_HangListener(addr, port))

    # ----- lifecycle ---------------------------------------------------------------
    def start(self):
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)  # only our own subdirectory of workdir
        for sub in ("ca/issued", "certs", "nsd", "nginx/tmp", "www"):
            os.makedirs(os.path.join(self.root, sub), exist_ok=True)
        if self.dns_port is None:
            self.dns_port = procs.free_port(self.dns_addr)
        self._make_certs()
        self._write_www()
        self._write_nsd()
        self._write_nginx()
        self._start_nsd()
        self.start_https()

    def stop(self):
        for hanger in self._hangers:
            hanger.stop()
        self._hangers = []
        self.stop_https()
        if self._nsd is not None:
            self._nsd.stop()
            self._nsd = None

    def stop_https(self):
        if self._nginx is not None:
            self._nginx.stop()
            self._nginx = None

    def start_https(self):
        if self._nginx is not None:
            return
        # Otherwise wait_tcp below could see another test world's nginx.
        if not procs.tcp_port_free(self.https_addr, 443):
            raise RuntimeError("%s:443 is already in use (another test world running?)"
                               % self.https_addr)
        conf = os.path.join(self.root, "nginx", "nginx.conf")
        prefix = os.path.join(self.root, "nginx") + "/"
        self._nginx = procs.ManagedProcess(
            "nginx", ["nginx", "-e", self.nginx_error_log, "-c", conf, "-p", prefix, "-g",
                      "daemon off;"], os.path.join(self.root, "nginx", "stderr.log"))
        if not procs.wait_tcp(self.https_addr, 443, 15, self._nginx):
            raise RuntimeError("nginx did not listen on %s:443:\n%s"
                               % (self.https_addr, procs.log_tail(self.nginx_error_log)))

    def stop_dns(self):
        """Stops nsd: lookups of every test name then time out. start_dns() brings it back."""
        if self._nsd is not None:
            self._nsd.stop()
            self._nsd = None

    def start_dns(self):
        """Starts nsd again on the same address and port (after stop_dns())."""
        if self._nsd is None:
            self._start_nsd()

    # ----- changing the world while it runs ----------------------------------------
    def set_txt(self, name, txt, timeout=10):
        """Replaces NAME's _mta-sts TXT records (same forms as add_domain's txt) and makes a
        running nsd serve them (zone rewritten with a new serial, SIGHUP); returns once nsd
        answers with the new serial."""
        d = self.domains[to_alabel(name)]
        d.txt = list(txt or [])
        self._serial += 1
        self._write_zones()
        if self._nsd is None:
            return
        self._nsd.signal(signal.SIGHUP)
        tld = d.name.rsplit(".", 1)[-1]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                soa = self.dig(tld + ".", "SOA", timeout=3)
            except subprocess.TimeoutExpired:
                soa = []
            if soa and len(soa[0].split()) > 2 and soa[0].split()[2] == str(self._serial):
                return
            time.sleep(0.1)
        raise RuntimeError("nsd did not load serial %d of zone %s within %g s:\n%s"
                           % (self._serial, tld, timeout, procs.log_tail(self.nsd_log)))

    def set_policy(self, name, policy, timeout=10):
        """Replaces the policy body served for NAME (bytes) and makes a running nginx serve
        it (nginx.conf rewritten, SIGHUP); returns once an HTTPS fetch gets the new body.
        Those checking fetches count in nginx_hits(NAME): read it after this returns."""
        d = self.domains[to_alabel(name)]
        d.policy = policy
        d.inline = _inline(policy) if policy is not None else None
        self._write_www()
        self._write_nginx()
        if self._nginx is None:
            return
        self._nginx.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        got = None
        while time.monotonic() < deadline:
            hits = self.nginx_hits(d.name)
            try:
                got = self.https_get(d.name, timeout=3)
            except (OSError, ValueError, IndexError) as e:
                got = e
            # nginx logs a request after answering it: wait for the line, so that
            # nginx_hits() read after this returns already counts this fetch.
            while (isinstance(got, tuple) and self.nginx_hits(d.name) == hits
                   and time.monotonic() < deadline):
                time.sleep(0.02)
            if isinstance(got, tuple) and got[0] == 200 and got[2] == policy:
                return
            time.sleep(0.1)
        raise RuntimeError("nginx did not serve the new policy of %s within %g s (last: %r)"
                           % (d.name, timeout, got))

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ----- observations ------------------------------------------------------------
    def nginx_hits(self, host):
        """Requests nginx logged for mta-sts.HOST (HOST may be UTF-8 or an A-label)."""
        want = "mta-sts." + to_alabel(host)
        hits = 0
        try:
            with open(self.nginx_access_log, "r", encoding="utf-8", errors="replace") as f:
                for line in f:
                    fields = line.split()
                    if fields and fields[0] == want:
                        hits += 1
        except FileNotFoundError:
            pass
        return hits

    def logs(self):
        """(name, path) of the server logs worth showing when a test fails."""
        return [("nsd", self.nsd_log), ("nginx error", self.nginx_error_log),
                ("nginx access", self.nginx_access_log)]

    def dig(self, name, rtype="TXT", timeout=5):
        """dig +short against our nsd; returns stdout lines."""
        out = subprocess.run(["dig", "@" + self.dns_addr, "-p", str(self.dns_port), name, rtype,
                              "+short", "+time=1", "+tries=2"], capture_output=True, text=True,
                             timeout=timeout)
        return [line for line in out.stdout.splitlines() if line]

    def https_get(self, domain, addr=None, verify=True, timeout=5):
        """GET https://mta-sts.DOMAIN/.well-known/mta-sts.txt from addr (default: its A record).

        Returns (status, headers dict with lower-case names, body). Raises ssl.SSLError /
        OSError like a real client would.
        """
        domain = to_alabel(domain)
        host = "mta-sts." + domain
        d = self.domains.get(domain)
        if addr is None:
            addr = (d.https_addr if d and d.https_addr else self.https_addr)
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if not verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection((addr, 443), timeout=timeout) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(("GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: %s\r\n"
                             "Connection: close\r\n\r\n" % host).encode())
                data = b""
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        return status, headers, body

    # ----- certificates ------------------------------------------------------------
    def _openssl(self, *args):
        cnf = os.path.join(self.root, "ca", "openssl.cnf")
        env = dict(os.environ, OPENSSL_CONF=cnf)
        res = subprocess.run(["openssl"] + list(args), capture_output=True, text=True,
                             env=env, timeout=120)
        if res.returncode != 0:
            raise RuntimeError("openssl %s failed: %s" % (" ".join(args[:2]), res.stderr))
        return res.stdout

    def _key(self, path):
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", path)

    def _leaf(self, stem, names, *, kind="good"):
        """Key + certificate for names (first one is the CN); returns (cert, key) paths."""
        ca = os.path.join(self.root, "ca")
        key = os.path.join(self.root, "certs", stem + ".key")
        crt = os.path.join(self.root, "certs", stem + ".pem")
        csr = os.path.join(self.root, "certs", stem + ".csr")
        ext = os.path.join(self.root, "certs", stem + ".ext")
        self._key(key)
        with open(ext, "w") as f:
            f.write("[leaf]\nbasicConstraints = critical, CA:FALSE\n"
                    "keyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\n"
                    "subjectAltName = @alt\n[alt]\n")
            for i, n in enumerate(names, 1):
                f.write("DNS.%d = %s\n" % (i, n))
        subj = "/CN=%s" % names[0]
        if kind == "selfsigned":
            # req -x509 reads extensions from its -config: give it the leaf section plus [req].
            with open(ext + ".req", "w") as f:
                f.write("[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n" % names[0])
                with open(ext) as e:
                    f.write(e.read())
            self._openssl("req", "-x509", "-new", "-key", key, "-days", "3650", "-config",
                          ext + ".req", "-extensions", "leaf", "-out", crt)
            return crt, key
        self._openssl("req", "-new", "-key", key, "-subj", subj, "-out", csr)
        dates = (["-startdate", "20200101000000Z", "-enddate", "20210101000000Z"]
                 if kind == "expired" else ["-days", "3650"])
        self._openssl("ca", "-batch", "-notext", "-config", os.path.join(ca, "openssl.cnf"),
                      "-in", csr, "-out", crt, "-extfile", ext, "-extensions", "leaf", *dates)
        return crt, key

    def _make_certs(self):
        ca = os.path.join(self.root, "ca")
        with open(os.path.join(ca, "openssl.cnf"), "w") as f:
            f.write(_OPENSSL_CNF.format(dir=ca))
        open(os.path.join(ca, "index.txt"), "w").close()
        with open(os.path.join(ca, "serial"), "w") as f:
            f.write("%016X\n" % (int(time.time()) * 1000))
        self._key(os.path.join(ca, "ca.key"))
        self._openssl("req", "-x509", "-new", "-key", os.path.join(ca, "ca.key"), "-subj",
                      "/CN=mta-stsd e2e test CA %d" % os.getpid(), "-days", "3650",
                      "-extensions", "v3_ca", "-out", self.ca_file)
        served = [d for d in self.domains.values() if d.mta_sts_host]
        good = sorted(d.host for d in served if d.cert == "good")
        self._chunks = []
        for i in range(0, len(good), SANS_PER_CERT):
            names = good[i:i + SANS_PER_CERT]
            crt, key = self._leaf("good%d" % (i // SANS_PER_CERT), names)
            self._chunks.append((names, crt, key))
        self._special = {}
        self._special["wrongname"] = self._leaf("wrongname", [WRONG_NAME])
        for d in served:
            if d.cert in ("selfsigned", "expired"):
                self._special[d.name] = self._leaf("%s-%s" % (d.cert, d.name), [d.host],
                                                   kind=d.cert)

    def _cert_for(self, d):
        if d.cert == "wrongname":
            return self._special["wrongname"]
        if d.cert in ("selfsigned", "expired"):
            return self._special[d.name]
        for names, crt, key in self._chunks:
            if d.host in names:
                return crt, key
        raise AssertionError("no certificate for " + d.host)

    # ----- web content -------------------------------------------------------------
    def _write_www(self):
        for d in self.domains.values():
            if d.policy is None or d.plain():
                continue
            # One flat file per host (www/HOST.txt): thousands of directories are slow to make.
            with open(os.path.join(self.root, "www", d.host + ".txt"), "wb") as f:
                f.write(d.policy)

    def _write_nginx(self):
        n = os.path.join(self.root, "nginx")
        www = os.path.join(self.root, "www")
        wrong_crt, wrong_key = self._special["wrongname"]
        out = [
            "user root;",
            "worker_processes 2;",
            "pid %s/nginx.pid;" % n,
            "error_log %s info;" % self.nginx_error_log,
            "events { worker_connections 4096; }",
            "http {",
            "  log_format mtasts '$host $ssl_server_name $status $request_uri $body_bytes_sent';",
            "  access_log %s mtasts;" % self.nginx_access_log,
        ]
        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            out.append("  %s_temp_path %s/tmp/%s;" % (t, n, t))
        out += [
            "  types { }",
            "  default_type text/plain;",
            "  server_names_hash_max_size 262144;",
            "  server_names_hash_bucket_size 128;",
            "  ssl_protocols TLSv1.2 TLSv1.3;",
            "  keepalive_requests 10000;",
            # Without SNI (or with an unknown name) the client gets a certificate for another
            # name: RFC 8461 7.1 requires the fetcher to send SNI.
            "  server {",
            "    listen %s:443 ssl default_server;" % self.https_addr,
            "    server_name _;",
            "    ssl_certificate %s;" % wrong_crt,
            "    ssl_certificate_key %s;" % wrong_key,
            "    return 404;",
            "  }",
        ]
        # Plain hosts: bodies inline (thousands of small files are slow to write), 404 without.
        plain_domains = sorted((d for d in self.domains.values() if d.mta_sts_host and d.plain()),
                               key=lambda x: x.host)
        out += ["  map_hash_max_size 262144;", "  map_hash_bucket_size 128;",
                "  map $host $mtasts_has_policy {", "    default 0;"]
        out += ["    %s 1;" % d.host for d in plain_domains if d.policy is not None]
        out += ["  }", "  map $host $mtasts_policy {", '    default "";']
        out += ["    %s %s;" % (d.host, d.inline) for d in plain_domains
                if d.policy is not None]
        out += ["  }"]
        for names, crt, key in self._chunks:
            plain = [h for h in names if self.domains[h[len("mta-sts."):]].plain()]
            if not plain:
                continue
            out += [
                "  server {",
                "    listen %s:443 ssl;" % self.https_addr,
                "    server_name %s;" % " ".join(plain),
                "    ssl_certificate %s;" % crt,
                "    ssl_certificate_key %s;" % key,
                "    location = /.well-known/mta-sts.txt {",
                "      if ($mtasts_has_policy = 0) { return 404; }",
                "      return 200 $mtasts_policy;",
                "    }",
                "    location / { return 404; }",
                "  }",
            ]
        for d in sorted(self.domains.values(), key=lambda x: x.name):
            if not d.mta_sts_host or d.plain():
                continue
            crt, key = self._cert_for(d)
            if d.location is not None:
                action = "return %d %s;" % (d.status if 300 <= d.status < 400 else 301,
                                            d.location)
            elif d.status != 200:
                action = "return %d;" % d.status
            else:
                action = "types { } default_type \"%s\";" % d.content_type
            out += [
                "  server {",
                "    listen %s:443 ssl;" % self.https_addr,
                "    server_name %s;" % d.host,
                "    ssl_certificate %s;" % crt,
                "    ssl_certificate_key %s;" % key,
                "    location = /.well-known/mta-sts.txt { alias %s/$host.txt; %s }"
                % (www, action),
                "    location / { return 404; }",
                "  }",
            ]
        out.append("}")
        with open(os.path.join(n, "nginx.conf"), "w") as f:
            f.write("\n".join(out) + "\n")
        res = subprocess.run(["nginx", "-e", self.nginx_error_log, "-t", "-q", "-c",
                              os.path.join(n, "nginx.conf"), "-p", n + "/"],
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0:
            raise RuntimeError("nginx -t failed: " + res.stderr)

    # ----- DNS ---------------------------------------------------------------------
    def _zone_lines(self):
        zones = {"test": []}
        for d in self.domains.values():
            tld = d.name.rsplit(".", 1)[-1]
            lines = zones.setdefault(tld, [])
            for record in d.txt:
                lines.append("_mta-sts.%s. 300 IN TXT %s" % (d.name, _txt_rdata(record)))
            if d.mta_sts_host:
                lines.append("%s. 300 IN A %s" % (d.host, d.https_addr or self.https_addr))
            lines.append("%s. 300 IN MX 10 mail.%s." % (d.name, d.name))
            lines.extend(d.extra_records)
        return zones

    def _write_nsd(self):
        self._nsd_conf = write_nsd_conf(os.path.join(self.root, "nsd"), self.dns_addr,
                                        self.dns_port, self.nsd_log, self._write_zones())

    def _write_zones(self):
        """Writes one zone file per TLD (SOA serial self._serial); returns [(tld, path)]."""
        nd = os.path.join(self.root, "nsd")
        written = []
        for tld, lines in sorted(self._zone_lines().items()):
            path = os.path.join(nd, "%s.zone" % tld)
            write_zone_file(path, "$ORIGIN %s.\n$TTL 300\n" % tld
                            + "@ IN SOA ns.%s. hostmaster.%s. %d 3600 600 86400 300\n"
                            % (tld, tld, self._serial)
                            + "@ IN NS ns.%s.\nns IN A %s\n" % (tld, self.dns_addr)
                            + "\n".join(lines) + "\n")
            written.append((tld, path))
        return written

    def _start_nsd(self):
        def answers():
            try:
                return bool(self.dig("test.", "SOA", timeout=3))
            except subprocess.TimeoutExpired:
                return False

        self._nsd = start_nsd(self._nsd_conf, answers, "%s:%d" % (self.dns_addr, self.dns_port),
                              self.nsd_log)


# ----- nsd, also serving dnssec_world.py's signed zones ------------------------------------
def write_nsd_conf(nd, addr, port, log, zones):
    """nsd.conf in directory nd: nsd on addr:port (UDP and TCP) serving zones, a list of
    (name, zone file path), logging to log; checked with nsd-checkconf. Returns its path."""
    conf = [
        "server:",
        "  ip-address: %s@%d" % (addr, port),
        "  port: %d" % port,
        "  do-ip6: no",
        '  username: ""',
        '  chroot: ""',
        '  database: ""',
        '  zonelistfile: "%s/zone.list"' % nd,
        '  pidfile: "%s/nsd.pid"' % nd,
        '  xfrdfile: "%s/xfrd.state"' % nd,
        '  xfrdir: "%s"' % nd,
        '  zonesdir: "%s"' % nd,
        '  logfile: "%s"' % log,
        "  verbosity: 1",
        "  server-count: 1",
        "  rrl-ratelimit: 0",
        "  tcp-count: 1000",
        "remote-control:",
        "  control-enable: no",
    ]
    for name, path in zones:
        conf += ["zone:", "  name: %s" % name, '  zonefile: "%s"' % path]
    path = os.path.join(nd, "nsd.conf")
    with open(path, "w") as f:
        f.write("\n".join(conf) + "\n")
    res = subprocess.run(["nsd-checkconf", path], capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RuntimeError("nsd-checkconf failed: " + res.stdout + res.stderr)
    return path


def write_zone_file(path, text):
    """Writes a zone file; a rewritten one gets a newer mtime, as nsd's SIGHUP reloads a
    zone only when its file's mtime changed."""
    try:
        old_mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        old_mtime = None
    with open(path, "w") as f:
        f.write(text)
    if old_mtime is not None:
        stamp = max(time.time(), old_mtime + 1.0)
        os.utime(path, (stamp, stamp))


def start_nsd(conf, answers, where, log):
    """Runs nsd -d -c conf (stderr next to conf); returns the process once answers() is
    true (a dig at it), within 20 s. Raises with nsd's logs otherwise."""
    stderr = os.path.join(os.path.dirname(conf), "stderr.log")
    nsd = procs.ManagedProcess("nsd", ["nsd", "-d", "-c", conf], stderr)
    if procs.wait_until(answers, 20, nsd):
        return nsd
    raise RuntimeError("nsd did not answer on %s:\n%s\n%s"
                       % (where, procs.log_tail(log), procs.log_tail(stderr)))


def hits_after(w, domain, want, timeout=3.0):
    """nginx_hits(domain) once it reaches want (or after timeout): nginx logs a request
    after sending the response, so the daemon may answer before the line is written."""
    deadline = time.monotonic() + timeout
    while (hits := w.nginx_hits(domain)) < want and time.monotonic() < deadline:
        time.sleep(0.05)
    return hits

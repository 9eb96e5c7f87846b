"""A DNSSEC-signed test Internet on loopback for the DANE tests (RFC 7672).

    w = DnssecWorld("/tmp/work")
    w.add_zone("insecure.test", delegation="insecure")   # child without DS: unsigned
    w.add_zone("bogus.test", delegation="bogus")         # DS matching no key of the child
    w.add("mx1.example.test", "A", "127.0.0.65")
    w.add("_25._tcp.mx1.example.test", "TLSA", w.tlsa(3, 1, 1))
    w.add_sts("example.test", mode="enforce", mx=["mx1.example.test"])
    w.start()    # keys, signed zones, nsd, unbound, nginx; checks itself with dig, or raises
    ... w.resolver ("ADDR:PORT" of the validating unbound), w.nsd ("ADDR:PORT"), w.ca_file ...
    w.make_bogus("stale.test")   # re-signs a child with a key its DS does not match
    w.stop()

Zone "test." is signed (one ECDSA P-256 key, a CSK) and unbound trusts it through a
trust-anchor file; child zones are served by the same nsd and delegated with a matching DS
(secure), without DS (insecure: unsigned) or with a DS of another key (bogus). tamper()
breaks the signature of one RRset in a secure zone (that name answers SERVFAIL, the rest
of the zone stays secure). The MTA-STS policy hosts (nginx and the test CA) come from
world.World, whose own unsigned nsd is stopped once it has started: every name, the
MTA-STS ones included, resolves through unbound.

Python 3 standard library only; nsd, unbound, ldnsutils, openssl and dig are Debian packages.
"""
import hashlib
import os
import shutil
import signal
import subprocess
import time

try:
    from . import procs  # imported as a package
    from .world import World, start_nsd, write_nsd_conf, write_zone_file
except ImportError:
    import procs  # run from tests/e2e
    from world import World, start_nsd, write_nsd_conf, write_zone_file

TOP = "test"
ALGORITHM = "ECDSAP256SHA256"
DELEGATIONS = ("secure", "insecure", "bogus")
STS_ID = "v=STSv1; id=20240101T000000"


def _fqdn(name):
    return name.rstrip(".").lower() + "."


def sts_policy(mode, mx, max_age=86400):
    lines = ["version: STSv1", "mode: %s" % mode] + ["mx: %s" % m for m in mx]
    return ("\n".join(lines + ["max_age: %d" % max_age]) + "\n").encode("ascii")


class DigResult:
    """What dig saw: status ("NOERROR", "SERVFAIL", ... or "TIMEOUT"), header flags, answer
    records (owner ttl class type rdata lines), and the extended DNS error text if any."""

    def __init__(self, status, flags, answers, ede):
        self.status = status
        self.flags = flags
        self.answers = answers
        self.ede = ede

    @property
    def ad(self):
        return "ad" in self.flags

    def rdata(self, rtype):
        """rdata of the answer records of rtype (RRSIGs left out unless asked for)."""
        out = []
        for line in self.answers:
            parts = line.split(None, 4)
            if len(parts) == 5 and parts[3] == rtype:
                out.append(parts[4])
        return out

    def __repr__(self):
        return "DigResult(%s, flags=%s, %d answers%s)" % (
            self.status, " ".join(self.flags), len(self.answers),
            ", ede=%r" % self.ede if self.ede else "")


class _Zone:
    def __init__(self, name, delegation):
        self.name = name            # FQDN with the trailing dot
        self.delegation = delegation
        self.records = []           # zone-file lines
        self.serial = 1
        self.key = None             # base path of the key that signs it (None: unsigned)
        self.ds = None              # DS line the parent publishes (None: no DS)
        self.broken = False         # make_bogus() ran

    @property
    def signed(self):
        return self.delegation != "insecure"


class DnssecWorld:
    def __init__(self, workdir, *, https_addr="127.0.0.60", sts_dns_addr="127.0.0.61",
                 nsd_addr="127.0.0.62", unbound_addr="127.0.0.63", mx_addr="127.0.0.65",
                 unbound_port=None):
        # unbound_port: 53 for clients whose resolv.conf can name no port (Postfix).
        self.workdir = os.path.abspath(workdir)
        self.root = os.path.join(self.workdir, "dnssec")
        if os.path.isdir(self.root):
            shutil.rmtree(self.root)  # only our own subdirectory of workdir
        for sub in ("keys", "tlsa", "nsd", "unbound"):
            os.makedirs(os.path.join(self.root, sub))
        # World supplies the CA, certificates and nginx; its unsigned nsd is stopped at start.
        self.sts = World(self.workdir, dns_addr=sts_dns_addr, https_addr=https_addr)
        self.https_addr = https_addr
        self.nsd_addr = nsd_addr
        self.unbound_addr = unbound_addr
        self.mx_addr = mx_addr
        self.nsd_port = None
        self.unbound_port = unbound_port
        self.zones = {_fqdn(TOP): _Zone(_fqdn(TOP), "secure")}
        self.tampered = []          # (owner FQDN, type) whose signature tamper() breaks
        self.nsd_log = os.path.join(self.root, "nsd", "nsd.log")
        self.unbound_log = os.path.join(self.root, "unbound", "unbound.log")
        self._nsd = None
        self._unbound = None
        self._tlsa_keys = {}        # name -> (certificate DER, SPKI DER)

    # ----- description -------------------------------------------------------------
    def add_zone(self, name, delegation="secure"):
        """A child zone of test. served by the same nsd: delegation "secure" (signed, DS in
        the parent), "insecure" (unsigned, no DS) or "bogus" (signed, the parent's DS is of
        another key)."""
        name = _fqdn(name)
        if delegation not in DELEGATIONS:
            raise ValueError("delegation must be one of %s" % (DELEGATIONS,))
        if name in self.zones or not name.endswith("." + _fqdn(TOP)):
            raise ValueError("zone %s: not a new child of %s" % (name, TOP))
        self.zones[name] = _Zone(name, delegation)

    def add(self, owner, rtype, rdata, ttl=300):
        """One record; it goes into the deepest zone that contains owner."""
        owner = _fqdn(owner)
        line = "%s %d IN %s %s" % (owner, ttl, rtype, rdata)
        zone = self.zone_of(owner)
        if line not in zone.records:
            zone.records.append(line)

    def add_mx(self, domain, *hosts):
        """MX records (preference 10, 20, ...) and an A record for each host."""
        for i, host in enumerate(hosts):
            self.add(domain, "MX", "%d %s" % (10 * (i + 1), _fqdn(host)))
            self.add(host, "A", self.mx_addr)

    def add_sts(self, domain, mode="enforce", mx=()):
        """An MTA-STS policy: TXT at _mta-sts.DOMAIN, A of mta-sts.DOMAIN (in the signed or
        unsigned zone of DOMAIN), the policy body served by nginx with a test-CA certificate."""
        self.sts.add_domain(domain, txt=[STS_ID], policy=sts_policy(mode, mx))
        self.add("_mta-sts." + domain, "TXT", '"%s"' % STS_ID)
        self.add("mta-sts." + domain, "A", self.https_addr)

    def tamper(self, owner, rtype):
        """After signing, one byte of the RRSIG over OWNER's RRset of rtype is changed: a
        validator answers SERVFAIL for it (bogus), the rest of the zone stays secure."""
        self.tampered.append((_fqdn(owner), rtype.upper()))

    def tlsa_files(self, key="k1"):
        """(certificate, private key) PEM paths of a TLSA key: what an MX host shows."""
        self._tlsa_key(key)
        d = os.path.join(self.root, "tlsa")
        return os.path.join(d, key + ".crt.pem"), os.path.join(d, key + ".key.pem")

    def tlsa(self, usage, selector, mtype, key="k1"):
        """TLSA rdata "U S M data" for a key (and a self-signed certificate of it) made with
        openssl: selector 0 = certificate, 1 = SubjectPublicKeyInfo; mtype 0 = full,
        1 = SHA-256, 2 = SHA-512 (RFC 6698 2.1)."""
        cert_der, spki_der = self._tlsa_key(key)
        data = cert_der if selector == 0 else spki_der
        if mtype == 1:
            data = hashlib.sha256(data).digest()
        elif mtype == 2:
            data = hashlib.sha512(data).digest()
        return "%d %d %d %s" % (usage, selector, mtype, data.hex())

    def zone_of(self, owner):
        owner = _fqdn(owner)
        best = None
        for name, zone in self.zones.items():
            if (owner == name or owner.endswith("." + name)) and (
                    best is None or len(name) > len(best.name)):
                best = zone
        if best is None:
            raise ValueError("%s is in no zone of this world" % owner)
        return best

    def expected(self, owner):
        """What a validator must make of OWNER: "secure", "insecure" or "bogus"."""
        owner = _fqdn(owner)
        zone = self.zone_of(owner)
        if zone.delegation == "bogus" or zone.broken:
            return "bogus"
        if zone.delegation == "insecure":
            return "insecure"
        return "bogus" if any(o == owner for o, _ in self.tampered) else "secure"

    # ----- addresses ---------------------------------------------------------------
    @property
    def resolver(self):
        """The validating resolver (unbound), as mta-stsd's resolver.nameservers wants it."""
        return "%s:%d" % (self.unbound_addr, self.unbound_port)

    @property
    def nsd(self):
        """The authoritative server itself (answers never carry AD)."""
        return "%s:%d" % (self.nsd_addr, self.nsd_port)

    @property
    def ca_file(self):
        return self.sts.ca_file

    # ----- lifecycle ---------------------------------------------------------------
    def start(self):
        self.sts.start()
        self.sts.stop_dns()
        self.nsd_port = procs.free_port(self.nsd_addr)
        if self.unbound_port is None:
            self.unbound_port = procs.free_port(self.unbound_addr)
        self._make_keys()
        self._write_zones()
        self._write_nsd()
        self._start_nsd()
        self._write_unbound()
        self._start_unbound()
        self.self_check()

    def stop(self):
        for proc in (self._unbound, self._nsd):
            if proc is not None:
                proc.stop()
        self._unbound = self._nsd = None
        self.sts.stop()

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def logs(self):
        """(name, path) of the server logs worth showing when a test fails."""
        return [("nsd (signed zones)", self.nsd_log), ("unbound", self.unbound_log)] + [
            entry for entry in self.sts.logs() if not entry[0].startswith("nsd")]

    # ----- changing the world while it runs ----------------------------------------
    def make_bogus(self, name, timeout=10):
        """Re-signs the secure child zone NAME with a new key that its DS in test. does not
        match, makes nsd serve it and flushes unbound's cache of the zone: from then on a
        validator answers SERVFAIL for every name in it."""
        zone = self.zones[_fqdn(name)]
        if zone.delegation != "secure" or zone.broken:
            raise ValueError("%s is not a secure child zone" % zone.name)
        zone.key = self._keygen(zone.name)  # its DS stays the old key's
        zone.broken = True
        zone.serial += 1
        self._sign(zone)
        new_tag = zone.key.rsplit("+", 1)[-1].lstrip("0")  # K<name>+<alg>+<key tag>
        self._nsd.signal(signal.SIGHUP)
        deadline = time.monotonic() + timeout
        tags = []
        while time.monotonic() < deadline:
            # RRSIG rdata: type algorithm labels ttl expiration inception KEYTAG signer sig
            tags = [r.split()[6].lstrip("0") for r in
                    self.dig(zone.name, "DNSKEY", via="nsd").rdata("RRSIG")]
            if new_tag in tags:
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("nsd did not serve %s signed by key %s within %g s (has %r):\n%s"
                               % (zone.name, new_tag, timeout, tags,
                                  procs.log_tail(self.nsd_log)))
        self.unbound_control("flush_zone", zone.name)
        self.unbound_control("flush_bogus")
        got = self.dig(zone.name, "SOA")
        if got.status != "SERVFAIL":
            raise RuntimeError("after make_bogus(%s) unbound answers %r, not SERVFAIL"
                               % (zone.name, got))

    def unbound_control(self, *args):
        res = subprocess.run(["unbound-control", "-c", self._unbound_conf] + list(args),
                             capture_output=True, text=True, timeout=20)
        if res.returncode != 0:
            raise RuntimeError("unbound-control %s failed: %s%s"
                               % (" ".join(args), res.stdout, res.stderr))
        return res.stdout

    # ----- observations ------------------------------------------------------------
    def dig(self, name, rtype="A", via="unbound", timeout=15):
        """dig +dnssec at unbound (via="unbound") or nsd (via="nsd")."""
        addr, port = ((self.unbound_addr, self.unbound_port) if via == "unbound"
                      else (self.nsd_addr, self.nsd_port))
        try:
            out = subprocess.run(["dig", "@" + addr, "-p", str(port), "+dnssec", "+noall",
                                  "+comments", "+answer", "+time=3", "+tries=2", name, rtype],
                                 capture_output=True, text=True, timeout=timeout).stdout
        except subprocess.TimeoutExpired:
            return DigResult("TIMEOUT", [], [], "")
        status, flags, answers, ede = "TIMEOUT", [], [], ""
        for line in out.splitlines():
            if line.startswith(";; ->>HEADER<<-"):
                status = line.split("status:")[1].split(",")[0].strip()
            elif line.startswith(";; flags:"):
                flags = line[len(";; flags:"):].split(";")[0].split()
            elif line.startswith("; EDE:"):
                ede = line[len("; EDE:"):].strip()
            elif line and not line.startswith(";"):
                answers.append(" ".join(line.split()))
        return DigResult(status, flags, answers, ede)

    def check(self, name, rtype, want=None):
        """None if the resolver's answer for NAME/rtype fits what the world makes of it
        (secure: NOERROR/NXDOMAIN with AD; insecure: without AD; bogus: SERVFAIL), else a
        description of what is wrong."""
        want = want or self.expected(name)
        got = self.dig(name, rtype)
        if want == "bogus":
            good = got.status == "SERVFAIL"
        elif got.status not in ("NOERROR", "NXDOMAIN"):
            good = False
        else:
            good = got.ad == (want == "secure")
        return None if good else "%s %s should be %s: %r" % (name, rtype, want, got)

    def self_check(self):
        """Fails fast, with dig's view, if the world is not what it was built to be."""
        problems = []
        direct = self.dig(_fqdn(TOP), "SOA", via="nsd")
        if direct.status != "NOERROR" or direct.ad or not direct.rdata("RRSIG"):
            problems.append("nsd: SOA test. should be signed, without AD: %r" % direct)
        for zone in self.zones.values():
            problems.append(self.check(zone.name, "SOA"))
        for owner, rtype in self.tampered:
            problems.append(self.check(owner, rtype, "bogus"))
        problems = [p for p in problems if p]
        if problems:
            raise RuntimeError("the DNSSEC world is not as built:\n  %s\nunbound log:\n%s"
                               % ("\n  ".join(problems), procs.log_tail(self.unbound_log)))

    # ----- keys and zones ----------------------------------------------------------
    def _tlsa_key(self, key):
        if key not in self._tlsa_keys:
            self._tlsa_keys[key] = self._make_tlsa_key(key)
        return self._tlsa_keys[key]

    def _make_tlsa_key(self, key):
        """(certificate DER, SubjectPublicKeyInfo DER) of a new P-256 key."""
        d = os.path.join(self.root, "tlsa")
        pem, crt = os.path.join(d, key + ".key.pem"), os.path.join(d, key + ".crt.pem")
        for argv in (["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt",
                      "ec_paramgen_curve:P-256", "-out", pem],
                     ["openssl", "req", "-new", "-x509", "-key", pem, "-subj",
                      "/CN=%s.mx.test" % key, "-days", "30", "-out", crt]):
            subprocess.run(argv, check=True, capture_output=True, timeout=30)

        def der(argv):
            return subprocess.run(argv, check=True, capture_output=True, timeout=30).stdout

        return (der(["openssl", "x509", "-in", crt, "-outform", "DER"]),
                der(["openssl", "pkey", "-in", pem, "-pubout", "-outform", "DER"]))

    def _keygen(self, zone_name):
        """A new CSK (flags 257) for zone_name; returns the key's base path."""
        keys = os.path.join(self.root, "keys")
        res = subprocess.run(["ldns-keygen", "-a", ALGORITHM, "-k", zone_name], cwd=keys,
                             capture_output=True, text=True, timeout=60)
        if res.returncode != 0 or not res.stdout.strip():
            raise RuntimeError("ldns-keygen %s failed: %s" % (zone_name, res.stderr))
        return os.path.join(keys, res.stdout.strip().splitlines()[-1])

    def _make_keys(self):
        for zone in self.zones.values():
            if not zone.signed:
                continue
            zone.key = self._keygen(zone.name)
            # A bogus delegation publishes the DS of a key that signs nothing.
            ds_key = self._keygen(zone.name) if zone.delegation == "bogus" else zone.key
            with open(ds_key + ".ds") as f:
                zone.ds = " ".join(f.read().split())
        with open(os.path.join(self.root, "unbound", "trust-anchor.ds"), "w") as f:
            f.write(self.zones[_fqdn(TOP)].ds + "\n")

    def _zone_text(self, zone):
        out = ["$ORIGIN %s" % zone.name, "$TTL 300",
               "@ IN SOA ns.%s. hostmaster.%s %d 3600 600 86400 300"
               % (TOP, zone.name, zone.serial),
               "@ IN NS ns.%s." % TOP]
        if zone.name == _fqdn(TOP):
            out.append("ns IN A %s" % self.nsd_addr)
            for child in self.zones.values():
                if child is not zone:
                    out.append("%s IN NS ns.%s." % (child.name, TOP))
                    if child.delegation != "insecure":
                        out.append(child.ds)
        return "\n".join(out + zone.records) + "\n"

    def _zone_path(self, zone):
        return os.path.join(self.root, "nsd", zone.name.rstrip(".") + ".zone")

    def _write_zones(self):
        for zone in self.zones.values():
            self._sign(zone)

    def _sign(self, zone):
        """Writes the zone file nsd serves (signed unless insecure)."""
        path = self._zone_path(zone)
        unsigned = path + ".unsigned"
        with open(unsigned, "w") as f:
            f.write(self._zone_text(zone))
        if zone.signed:
            now = int(time.time())
            res = subprocess.run(["ldns-signzone", "-i", str(now - 3600), "-e",
                                  str(now + 30 * 86400), "-f", path + ".tmp", unsigned,
                                  zone.key], capture_output=True, text=True, timeout=60)
            if res.returncode != 0:
                raise RuntimeError("ldns-signzone %s failed: %s" % (zone.name, res.stderr))
            with open(path + ".tmp") as f:
                lines = [self._tampered(line) for line in f.read().splitlines()]
            os.unlink(path + ".tmp")
        else:
            with open(unsigned) as f:
                lines = f.read().splitlines()
        write_zone_file(path, "\n".join(lines) + "\n")

    def _tampered(self, line):
        """line, or (an RRSIG over a tampered RRset) the same with its signature changed."""
        f = line.split()
        if len(f) < 13 or f[3] != "RRSIG" or (f[0].lower(), f[4].upper()) not in self.tampered:
            return line
        sig = f[-1]
        f[-1] = ("B" if sig[0] == "A" else "A") + sig[1:]  # still base64, same length
        return "\t".join(f)

    def _write_nsd(self):
        zones = [(zone.name, self._zone_path(zone)) for zone in self.zones.values()]
        self._nsd_conf = write_nsd_conf(os.path.join(self.root, "nsd"), self.nsd_addr,
                                        self.nsd_port, self.nsd_log, zones)

    def _start_nsd(self):
        def answers():
            return self.dig(_fqdn(TOP), "SOA", via="nsd", timeout=8).status == "NOERROR"

        self._nsd = start_nsd(self._nsd_conf, answers, self.nsd, self.nsd_log)

    def _write_unbound(self):
        ud = os.path.join(self.root, "unbound")
        conf = [
            "server:",
            "  interface: %s@%d" % (self.unbound_addr, self.unbound_port),
            "  port: %d" % self.unbound_port,
            "  interface-automatic: no",
            "  do-ip6: no",
            "  num-threads: 1",
            '  username: ""',
            '  chroot: ""',
            '  directory: "%s"' % ud,
            '  pidfile: "%s/unbound.pid"' % ud,
            '  logfile: "%s"' % self.unbound_log,
            "  use-syslog: no",
            "  log-time-ascii: yes",
            "  log-servfail: yes",
            "  verbosity: 1",
            "  val-log-level: 2",
            "  access-control: 127.0.0.0/8 allow",
            '  module-config: "validator iterator"',
            '  trust-anchor-file: "%s/trust-anchor.ds"' % ud,
            # No root anchor and no Internet: do not signal trust anchors to the root.
            "  trust-anchor-signaling: no",
            "  root-key-sentinel: no",
            # nsd listens on loopback, which unbound refuses to query by default.
            "  do-not-query-localhost: no",
            # test. is one of unbound's built-in local zones (RFC 6761 special-use names).
            '  local-zone: "%s." nodefault' % TOP,
            "  ede: yes",
            "  prefetch: no",
            "  serve-expired: no",
            "remote-control:",
            "  control-enable: yes",
            '  control-interface: "%s/unbound.ctl"' % ud,
            "  control-use-cert: no",
        ]
        # One stub per zone: nsd serves them all on a port that referrals cannot carry.
        for zone in self.zones.values():
            conf += ["stub-zone:", '  name: "%s"' % zone.name,
                     "  stub-addr: %s@%d" % (self.nsd_addr, self.nsd_port)]
        self._unbound_conf = os.path.join(ud, "unbound.conf")
        with open(self._unbound_conf, "w") as f:
            f.write("\n".join(conf) + "\n")
        res = subprocess.run(["unbound-checkconf", self._unbound_conf], capture_output=True,
                             text=True, timeout=30)
        if res.returncode != 0:
            raise RuntimeError("unbound-checkconf failed: " + res.stdout + res.stderr)

    def _start_unbound(self):
        stderr = os.path.join(self.root, "unbound", "stderr.log")
        self._unbound = procs.ManagedProcess(
            "unbound", ["unbound", "-d", "-c", self._unbound_conf], stderr)

        def answers():
            return self.dig(_fqdn(TOP), "SOA", timeout=8).status == "NOERROR"

        if not procs.wait_until(answers, 20, self._unbound):
            raise RuntimeError("unbound did not answer SOA test. on %s (%r):\n%s\n%s"
                               % (self.resolver, self.dig(_fqdn(TOP), "SOA", timeout=8),
                                  procs.log_tail(self.unbound_log), procs.log_tail(stderr)))

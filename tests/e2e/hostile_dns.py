"""A DNS server that misbehaves on request (UDP and TCP, Python standard library only).

    dns = HostileDNS("127.0.0.71", port, upstream=("127.0.0.70", nsd_port))
    dns.set_rule("_mta-sts.slow.test", TXT, drop())   # this name never gets an answer
    ... the daemon's only nameserver is dns.addr:dns.port ...
    dns.stop()

Every query whose (name, type) has no rule is forwarded to the upstream server (the real
nsd of the test world) over the same transport, so the good parts of the world stay real.
A rule is a function (query, transport) -> reply bytes, None (no answer) or FORWARD; the
factories below give the misbehaviours: silence, SERVFAIL/REFUSED, truncation (TC over
UDP, a real answer over TCP), oversized answers, garbage, a wrong ID, compression
pointer loops and out-of-range pointers, synthesized CNAME/TXT/A answers, and any of
them delayed. set_suffix_rule() gives one rule to every name of a zone.
"""
import os
import socket
import struct
import threading
import time

A, CNAME, TXT, ANY_TYPE = 1, 5, 16, None
NOERROR, SERVFAIL, NXDOMAIN, REFUSED = 0, 2, 3, 5
FORWARD = object()  # a rule's result: ask the upstream server after all


class Query:
    """The parts of a query the rules need: raw bytes, ID, flags, name, type, and where
    the question ends (the answer section of a reply starts there)."""

    def __init__(self, data):
        if len(data) < 12:
            raise ValueError("short query")
        self.data = data
        self.id, self.flags, qdcount = struct.unpack("!HHH", data[:6])
        if qdcount != 1:
            raise ValueError("qdcount %d" % qdcount)
        labels, pos = [], 12
        while True:
            if pos >= len(data):
                raise ValueError("question runs past the message")
            n = data[pos]
            if n == 0:
                pos += 1
                break
            if n & 0xC0:
                raise ValueError("compressed question name")
            labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace").lower())
            pos += 1 + n
        if pos + 4 > len(data):
            raise ValueError("question without type and class")
        self.name = ".".join(labels)
        self.qtype, self.qclass = struct.unpack("!HH", data[pos:pos + 4])
        self.question_end = pos + 4


def encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        raw = label.encode("ascii")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def txt_rdata(strings):
    out = b""
    for s in strings:
        raw = s.encode("utf-8") if isinstance(s, str) else s
        for i in range(0, max(len(raw), 1), 255):
            chunk = raw[i:i + 255]
            out += bytes([len(chunk)]) + chunk
    return out


def reply(query, rcode=NOERROR, answers=(), tc=False):
    """A reply to query: its question echoed, answers = [(type, rdata)] owned by the
    question name (a compression pointer to offset 12), TTL 300. No OPT record."""
    flags = 0x8000 | (query.flags & 0x7900) | 0x0400 | (rcode & 0xF)  # QR, opcode+RD, AA
    if tc:
        flags |= 0x0200
    head = struct.pack("!HHHHHH", query.id, flags, 1, len(answers), 0, 0)
    body = query.data[12:query.question_end]
    for rtype, rdata in answers:
        body += struct.pack("!HHHIH", 0xC00C, rtype, 1, 300, len(rdata)) + rdata
    return head + body


# ----- rules ---------------------------------------------------------------------------
def drop():
    """The server never answers (UDP ignored, TCP connection held open)."""
    return lambda q, transport: None


def rcode(code):
    return lambda q, transport: reply(q, code)


def txt(*strings):
    """A synthesized TXT answer (one record per string)."""
    return lambda q, transport: reply(q, answers=[(TXT, txt_rdata([s])) for s in strings])


def address(ip):
    """A synthesized A answer for A queries; NODATA for every other type."""
    def rule(q, transport):
        if q.qtype == A:
            return reply(q, answers=[(A, socket.inet_aton(ip))])
        return reply(q)
    return rule


def cname(target):
    """Only the CNAME, not its target's records: the client must ask again."""
    return lambda q, transport: reply(q, answers=[(CNAME, encode_name(target))])


def cname_chain(zone):
    """An endless chain of distinct names: the question gets a CNAME to 1.ZONE, N.ZONE one
    to N+1.ZONE (set it for the question's name and, with set_suffix_rule, for ZONE)."""
    def rule(q, transport):
        first = q.name.split(".", 1)[0]
        step = int(first) + 1 if first.isdigit() and q.name.endswith("." + zone) else 1
        return reply(q, answers=[(CNAME, encode_name("%d.%s" % (step, zone)))])
    return rule


def foreign_owner(owner, *strings):
    """NOERROR with TXT records owned by another name than the one asked for (an
    answer the client must not take for the question's)."""
    def rule(q, transport):
        msg = bytearray(reply(q))
        msg[6:8] = struct.pack("!H", len(strings))
        for s in strings:
            rdata = txt_rdata([s])
            msg += encode_name(owner) + struct.pack("!HHIH", TXT, 1, 300, len(rdata)) + rdata
        return bytes(msg)
    return rule


def truncate_udp(over_tcp=None):
    """Over UDP an empty answer with TC set (RFC 1035 4.2.1: retry over TCP); over TCP
    the answer of the rule over_tcp (None: the upstream server's)."""
    def rule(q, transport):
        if transport == "udp":
            return reply(q, tc=True)
        return FORWARD if over_tcp is None else over_tcp(q, transport)
    return rule


def delayed(seconds, inner):
    """inner's reply, sent after seconds (a slow server; each query has its own thread)."""
    def rule(q, transport):
        time.sleep(seconds)
        return inner(q, transport)
    return rule


def always_truncated():
    """TC set over UDP and over TCP alike: no complete answer anywhere."""
    return lambda q, transport: reply(q, tc=True)


def huge(records=240, size=250):
    """An answer far over any UDP payload size the client offered (EDNS 1232 bytes): many
    TXT records, none of them an STSv1 record, about records * size bytes."""
    def rule(q, transport):
        answers = [(TXT, txt_rdata(["junk-%04d-" % i + "x" * (size - 10)]))
                   for i in range(records)]
        return reply(q, answers=answers)
    return rule


def garbage(length=300):
    """The query's ID, then random bytes (with the QR bit set, so it looks like a reply)."""
    def rule(q, transport):
        rest = bytearray(os.urandom(length))
        rest[0] |= 0x80
        return struct.pack("!H", q.id) + bytes(rest)
    return rule


def wrong_id(inner):
    """inner's reply with the ID changed: an answer to some other query."""
    def rule(q, transport):
        data = inner(q, transport)
        if data is None:
            return None
        return struct.pack("!H", (q.id + 0x5A5A) & 0xFFFF) + data[2:]
    return rule


def pointer_loop():
    """A NOERROR reply whose answer owner name is a compression pointer to itself."""
    def rule(q, transport):
        msg = bytearray(reply(q))
        msg[6:8] = struct.pack("!H", 1)  # ancount 1
        here = len(msg)
        rdata = txt_rdata(["v=STSv1; id=loop"])
        msg += struct.pack("!H", 0xC000 | here) + struct.pack("!HHIH", TXT, 1, 300, len(rdata))
        msg += rdata
        return bytes(msg)
    return rule


def pointer_out_of_range():
    """A NOERROR reply whose answer owner name points far past the end of the message."""
    def rule(q, transport):
        msg = bytearray(reply(q))
        msg[6:8] = struct.pack("!H", 1)
        rdata = txt_rdata(["v=STSv1; id=oob"])
        msg += struct.pack("!H", 0xC000 | 0x3FF0) + struct.pack("!HHIH", TXT, 1, 300, len(rdata))
        msg += rdata
        return bytes(msg)
    return rule


# ----- the server ----------------------------------------------------------------------
class HostileDNS:
    def __init__(self, addr, port, upstream):
        self.addr = addr
        self.port = port
        self.upstream = upstream
        self._rules = {}
        self._suffix_rules = []  # (".suffix", qtype, rule), after the exact names
        self._lock = threading.Lock()
        self.seen = {}  # (name, qtype, transport) -> queries received
        self._stopping = threading.Event()
        self._held = []  # TCP connections of dropped queries
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((addr, port))
        self.udp.settimeout(0.2)
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((addr, port))
        self.tcp.listen(128)
        self.tcp.settimeout(0.2)
        self._threads = [threading.Thread(target=self._serve_udp, daemon=True),
                         threading.Thread(target=self._serve_tcp, daemon=True)]
        for t in self._threads:
            t.start()

    def set_rule(self, name, qtype, rule):
        """rule for queries of name (any case, no trailing dot) and qtype (ANY_TYPE: all)."""
        with self._lock:
            self._rules[(name.lower().rstrip("."), qtype)] = rule

    def set_suffix_rule(self, suffix, qtype, rule):
        """rule for every name ending in .suffix that has no rule of its own."""
        with self._lock:
            self._suffix_rules.append(("." + suffix.lower().strip("."), qtype, rule))

    def count(self, name, qtype=None, transport=None):
        name = name.lower().rstrip(".")
        with self._lock:
            return sum(n for (qn, qt, tr), n in self.seen.items()
                       if qn == name and qtype in (None, qt) and transport in (None, tr))

    def count_suffix(self, suffix):
        """Queries received for names ending in .suffix."""
        suffix = "." + suffix.lower().strip(".")
        with self._lock:
            return sum(n for (qn, _, _), n in self.seen.items() if qn.endswith(suffix))

    def stop(self):
        self._stopping.set()
        for t in self._threads:
            t.join(timeout=2)
        for conn in self._held:
            try:
                conn.close()
            except OSError:
                pass
        self.udp.close()
        self.tcp.close()

    def _answer(self, data, transport):
        try:
            q = Query(data)
        except ValueError:
            return None
        with self._lock:
            key = (q.name, q.qtype, transport)
            self.seen[key] = self.seen.get(key, 0) + 1
            rule = self._rules.get((q.name, q.qtype)) or self._rules.get((q.name, ANY_TYPE))
            for suffix, qtype, candidate in self._suffix_rules:
                if rule is None and q.name.endswith(suffix) and qtype in (None, q.qtype):
                    rule = candidate
        out = FORWARD if rule is None else rule(q, transport)
        return self._forward(data, transport) if out is FORWARD else out

    def _forward(self, data, transport):
        try:
            if transport == "udp":
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.settimeout(2)
                    s.sendto(data, self.upstream)
                    return s.recv(65535)
            with socket.create_connection(self.upstream, timeout=2) as s:
                s.sendall(struct.pack("!H", len(data)) + data)
                return _read_tcp_message(s)
        except OSError:
            return None

    def _serve_udp(self):
        while not self._stopping.is_set():
            try:
                data, peer = self.udp.recvfrom(65535)
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._udp_one, args=(data, peer), daemon=True).start()

    def _udp_one(self, data, peer):
        out = self._answer(data, "udp")
        if out is not None and not self._stopping.is_set():
            try:
                self.udp.sendto(out[:65507], peer)
            except OSError:
                pass

    def _serve_tcp(self):
        while not self._stopping.is_set():
            try:
                conn, _ = self.tcp.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._tcp_one, args=(conn,), daemon=True).start()

    def _tcp_one(self, conn):
        conn.settimeout(10)
        try:
            while not self._stopping.is_set():
                data = _read_tcp_message(conn)
                if data is None:
                    break
                out = self._answer(data, "tcp")
                if out is None:
                    self._held.append(conn)  # silence: keep the connection, answer nothing
                    return
                conn.sendall(struct.pack("!H", min(len(out), 65535)) + out[:65535])
        except OSError:
            pass
        conn.close()


def _read_tcp_message(sock):
    head = _read_exact(sock, 2)
    if head is None:
        return None
    return _read_exact(sock, struct.unpack("!H", head)[0])


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf

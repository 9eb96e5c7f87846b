#!/usr/bin/env python3
"""Writes the seed corpus under corpus/<target>/ from RFC 8461 examples and the
inputs of the unit tests (tests/sts, tests/socketmap, tests/config). Re-run it
after changing a seed list; files libFuzzer found and a developer added by hand
(any name not starting with "seed-") are left alone."""
import pathlib
import re
import struct

HERE = pathlib.Path(__file__).resolve().parent
TESTS = HERE.parent


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


# netstring: byte 0 = limit (odd: 10000, even: byte>>1), byte 1 = chunk size
# (0: one append), then the stream.
NETSTRING = [
    b"\x01\x00" + netstring(b"QUERY example.com"),
    b"\x01\x01" + netstring(b"QUERY a.example") + netstring(b"QUERY b"),
    b"\x01\x05" + b"3:abc,0:,5:hello,2:x",
    b"\x01\x03" + b"".join(netstring(p) for p in [b"QUERY example.com", b"",
                                                   b"QUERY [mx.example]:25", b"k" * 12]),
    b"\x01\x00" + netstring(b"\x00") + netstring(b",:,"),
    b"\x01\x00" + netstring(b"QUERYwithTLSRPT [mx.example.org]:587"),
    b"\x01\x00" + b":abc,",
    b"\x01\x00" + b"a:",
    b"\x01\x00" + b"1a:a,",
    b"\x01\x00" + b"-1:",
    b"\x01\x00" + b" 1:a,",
    b"\x01\x00" + b"01:a,",
    b"\x01\x00" + b"00:,",
    b"\x01\x00" + b"3:abc,x",
    b"\x01\x00" + b"0:,",
    b"\x01\x00" + b"1",
    b"\x01\x02" + b"5:hello!",
    b"\x01\x00" + b"10001:",
    b"\x01\x00" + b"999999999999999999999999:",
    b"\xc8\x07" + netstring(b"z" * 100),   # limit 100
    b"\xc8\x00" + netstring(b"z" * 101),
    b"\x00\x00" + b"0:,0:,",                # limit 0
    b"\x14\x04" + b"10:0123456789,",        # limit 10
    b"\x14\x04" + b"11:",
    b"\x01\x0b" + netstring(b"QUERY " + b"a" * 300),
]

REQUEST = [
    b"QUERY example.com", b"QUERY Example.COM", b"QUERY example.com.", b"QUERY EXAMPLE.COM.",
    b"QUERY localhost", b"QUERY mail.sub.example.co.uk", b"QUERY xn--bcher-kva.example",
    b"QUERY XN--BCHER-KVA.Example", b"QUERY ab--cd.example", b"QUERY 123.example",
    "QUERY 例え.jp".encode(), "QUERY faß.de".encode(), b"QUERY \xff\xfe.example",
    b"QUERY .Example.COM", b"QUERY .com", b"QUERY .", b"QUERY ..example.com",
    b"QUERY [mail.example.org]", b"QUERY [Mail.Example.ORG.]", b"QUERY [mail.example.org]:587",
    b"QUERY [mail.example.org]:65536", b"QUERY [mail.example.org]:00025",
    b"QUERY mail.example.org:2525", b"QUERY Example.com.:25", b"QUERY [mail.example.org",
    b"QUERY [mail.example.org]x", b"QUERY [[mail.example.org]]", b"QUERY []:25", b"QUERY a:b:c",
    b"QUERY [192.0.2.1]", b"QUERY [IPv6:2001:db8::1]:587", b"QUERY [2001:db8::1]",
    b"QUERY 192.0.2.1:25", b"QUERY ::ffff:192.0.2.1", b"QUERY 192.0.2.256", b"QUERY 1234",
    b"QUERY ", b"QUERY", b" example.com", b"", b"QUERY a b", b"QUERY example\x00.com",
    b"QUERYwithTLSRPT [mx.example.org]:587",
    b"QUERY " + b"a" * 63 + b"." + b"b" * 63 + b"." + b"c" * 63 + b"." + b"d" * 61,
    b"QUERY " + b"a" * 64 + b".example",
]

TXT_RECORD = [
    b"v=STSv1; id=20160831085700Z;", b"v=STSv1; id=20160831085700Z", b"v=STSv1;id=abc",
    b"v=STSv1 ;id=abc", b"v=STSv1\t;\tid=abc\t;\t", b"v=STSv1; id=" + b"7" * 32,
    b"v=STSv1; ext=1; id=x", b"v=STSv1; id=x; v=STSv2", b"v=STSv1; ID=upper; id=lower",
    b"v=STSv1; id=x; a.b_c-d=!\"#$%&'()*+,-./0123456789:<>?@[\\]^_`{|}~",
    b"v=STSv1; foo=1; id=x; bar=two;", b"v=STSv10; id=abc", b"V=STSv1; id=abc", b"v=STSv1",
    b"v=STSv1; ext=1", b"v=STSv1 id=abc", b"v=STSv1; id=abc ", b"v=STSv1;; id=abc",
    b"v=STSv1; id=", b"v=STSv1; id=abc; id=def", b"v=STSv1; id=" + b"a" * 33,
    b"v=STSv1; id=2016-08-31", b"v=STSv1; id=a=b", b"v=STSv1; id = abc",
    b"v=STSv1; _ext=1; id=x", b"v=STSv1; id=abc\x00def", b"v=STSv1; id=abc\r\n",
    # several records, one per line (select_txt_record)
    b"v=spf1 -all\nv=STSv1; id=one\nhello", b"v=STSv10; id=ten\nv=STSv1; id=one",
    b"v=STSv1; id=one\nv=STSv1; id=two", b"v=STSv1; id=one\nv=STSv1",
    b"v=spf1 -all\nv=STSv1; id=" + b"a" * 33, b"\n", b"",
]

HEAD = b"version: STSv1\nmode: enforce\nmax_age: 86400\n"
POLICY = [
    # RFC 8461 §3.2 example
    b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
    b"mx: backupmx.example.com\r\nmax_age: 604800\r\n",
    b"version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\n",
    b"version: STSv1\r\nmode: testing\nmx: a.example\r\nmax_age: 1",
    b"\n\nversion: STSv1\n\r\nmode: testing\n\n\nmx: a.example\nmax_age: 1\n\n",
    b"version: STSv1\n  \nmode: testing\n\t\nmx: a.example\nmax_age: 1\n",
    b"version:STSv1\nmode:enforce\nmx:a.example\nmax_age:86400",
    b"version:  STSv1  \nmode:\tenforce\t\nmx: \t a.example \nmax_age: 86400 ",
    b"version: STSv1\rmode: enforce\nmx: a.example\nmax_age: 1\n",
    b"version: STSv1\nmode: none\nmax_age: 1\n",
    b"version: STSv1\nmode: none\nmax_age: 0031557600",
    b"version: STSv1\nmode: none\nmax_age: 31557601",
    b"version: STSv1\nmode: none\nmax_age: 4294967296",
    b"version: STSv1\nmode: none\nmax_age: 5\nmax_age: 99999999999",
    b"version: STSv2\nversion: STSv1\nmode: none\nmax_age: 1\n",
    b"version: STSv1\nmode: Enforce\nmx: a.example\nmax_age: 1",
    b"version: STSv1\nmode: enforce\nmode: none\nmx: a.example\nmax_age: 1",
    HEAD + b"mx: b.example\nmx: a.example\nmx: B.EXAMPLE.\nmx: a.example",
    HEAD + b"mx: *.example.com\nmx: example.com",
    HEAD + b"mx: MAIL.Example.COM\nmx: xn--bcher-kva.example\nmx: localhost",
    HEAD + b"mx: *", HEAD + b"mx: 192.0.2.1", HEAD + b"mx: *.*.example.com",
    HEAD + b"mx: mail_1.example.com", HEAD + b"mx: a" + b"a" * 63 + b".example",
    HEAD + b"mx: a.example\nfoo: bar\nx-ext.v_2: caf\xc3\xa9 au lait\nMX: b.example",
    HEAD + b"mx: a.example\nurl: https://example.com/x?y=1;z=2",
    HEAD + b"mx: a.example\nk: \xf0\x9f\x93\xa7",
    HEAD + b"mx: a.example\nfoo: \xed\xa0\x80",
    HEAD + b"mx: a.example\nnote: {braces} here",
    HEAD + b"mx: a.example\nfoo: a\x7f",
    b"version: STSv1\x00\nmode: none\nmax_age: 1",
    b"<html><body>Not here</body></html>",
    b"\xef\xbb\xbfversion: STSv1\nmode: none\nmax_age: 1",
    b"",
]

MX_PATTERN = [  # "PATTERN\nHOST"
    b"mail.example.com\nmail.example.com", b"mail.example.com\nMAIL.Example.Com",
    b"Mail.Example.COM.\nmail.example.com", b"mail.example.com\nmail.example.com.",
    b"*.example.com\nmx1.example.com", b"*.Example.COM\nMX1.EXAMPLE.COM.",
    b"*.example.com\nexample.com", b"*.example.com\na.b.example.com",
    b"*.example.com\n.example.com", b"*.com\nexample.com", b"*\nexample.com",
    b"*.\nexample.com", b"**.example.com\nx.example.com", b"*example.com\nxexample.com",
    b"mail.*.example.com\nmail.x.example.com", b"192.0.2.1\n192.0.2.1",
    b"[192.0.2.1]\n[192.0.2.1]", b"example.com..\nexample.com", b"mail.example.com\n",
    b"\n", b"localhost\nlocalhost", b"a\x00b.example\na\x00b.example",
    b"b\xc3\xbccher.example\nb\xc3\xbccher.example", b"mail.example.com.evil\nmail.example.com",
    b"-mail.example\n-mail.example", b"a.b.c.d.e\nA.B.C.D.E.",
]

CONTENT_TYPE = [
    b"text/plain", b"TEXT/PLAIN", b"Text/Plain", b" text/plain ", b"\ttext/plain\t",
    b"text/plain;charset=utf-8", b"text/plain; charset=utf-8", b"text/plain ; charset=UTF-8",
    b"text/plain; charset=us-ascii; format=flowed", b"text/plain;", b"  text/plain  ;x=y",
    b"", b" ", b";", b"text/plainx", b"text/html", b"text/plain/x", b"text /plain",
    b"text/ plain", b"application/octet-stream", b"text/html; charset=utf-8",
    b"text/plain,text/html", b"text/plain\x00", b"text/pl\xc3\xa1in", b"; text/plain",
]


def config_seeds():
    """Every raw-string YAML document in the config unit tests, plus a few."""
    seeds = []
    for test in sorted((TESTS / "config").glob("test_*.cpp")):
        for text in re.findall(r'R"\((.*?)\)"', test.read_text(), re.S):
            seeds.append(text.encode())
    seeds += [
        b"", b"~", b"- a\n- b\n", b"port: 0\n", b"port: 65536\n", b"mode: 0o660\n",
        b"mode: 660\n", b"cache:\n  type: postgres\n", b"cache:\n  type: redis\n",
        b"default_zone:\n  timeout: .nan\n", b"default_zone:\n  timeout: 91\n",
        b"limits:\n  max_request_bytes: 511\n", b"log_level: warning\n",
        b"resolver:\n  nameservers: [\"127.0.0.1:5353\", \"[::1]:53\", \"ns.example\"]\n",
        b"zones:\n  \"\": {}\n", b"a: &x [*x]\n", b"<<: {port: 1}\n", b"---\nport: 1\n---\n",
        b"cache_grace: 1.5\n", b"proactive_policy_fetching:\n  grace_ratio: 0\n",
    ]
    return seeds


# --- DNS responses, hand-encoded (RFC 1035 §4.1) -----------------------------

def name(text: str) -> bytes:
    out = b""
    for label in text.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def rr(owner: bytes, rtype: int, rdata: bytes, ttl: int = 300) -> bytes:
    return owner + struct.pack("!HHIH", rtype, 1, ttl, len(rdata)) + rdata


def txt(*strings: bytes) -> bytes:
    return b"".join(bytes([len(s)]) + s for s in strings)


def response(qname: str, qtype: int, answers, rcode=0, ad=False, tc=False, ident=0x1234) -> bytes:
    flags = 0x8000 | 0x0100 | 0x0080 | rcode  # QR, RD, RA
    if ad:
        flags |= 0x0020
    if tc:
        flags |= 0x0200
    header = struct.pack("!HHHHHH", ident, flags, 1, len(answers), 0, 0)
    return header + name(qname) + struct.pack("!HH", qtype, 1) + b"".join(answers)


TXT, A, AAAA, MX, CNAME = 16, 1, 28, 15, 5
Q = "_mta-sts.example.com"
PTR_Q = b"\xc0\x0c"  # compression pointer to the question name


def dns_seeds():
    return [
        response(Q, TXT, [rr(PTR_Q, TXT, txt(b"v=STSv1; id=20160831085700Z;"))]),
        response(Q, TXT, [rr(PTR_Q, TXT, txt(b"v=STSv1; ", b"id=1"))], ad=True),
        response(Q, TXT, [rr(PTR_Q, TXT, txt(b"v=spf1 -all")),
                          rr(PTR_Q, TXT, txt(b"v=STSv1; id=one"))]),
        response(Q, TXT, [rr(PTR_Q, CNAME, name("x.example.com")),
                          rr(name("x.example.com"), TXT, txt(b"v=STSv1; id=1"))]),
        response(Q, TXT, [rr(PTR_Q, CNAME, name("x.example.com"))]),  # follow
        response(Q, TXT, [rr(PTR_Q, CNAME, name("x.example.com")),
                          rr(name("x.example.com"), CNAME, name(Q))]),  # loop
        response(Q, TXT, [], rcode=3),  # NXDOMAIN
        response(Q, TXT, [], rcode=2),  # SERVFAIL
        response(Q, TXT, []),           # NODATA
        response(Q, TXT, [rr(PTR_Q, TXT, txt(b"v=STSv1; id=1"))], tc=True),
        response(Q, TXT, [rr(PTR_Q, TXT, b"\x05ab")]),  # string longer than rdata
        response("example.com", MX, [rr(PTR_Q, MX, struct.pack("!H", 10) + name("mx1.example.com")),
                                     rr(PTR_Q, MX, struct.pack("!H", 20) + b"\x03mx2\xc0\x0c")]),
        response("example.com", MX, [rr(PTR_Q, MX, struct.pack("!H", 0) + b"\x00")]),  # null MX
        response("mta-sts.example.com", A, [rr(PTR_Q, A, bytes([192, 0, 2, 1]))]),
        response("mta-sts.example.com", AAAA,
                 [rr(PTR_Q, AAAA, bytes.fromhex("20010db8000000000000000000000001"))]),
        response("mta-sts.example.com", A, [rr(PTR_Q, A, bytes([192, 0, 2]))]),  # short rdata
        response("Mta-STS.Example.COM", CNAME, [rr(PTR_Q, CNAME, name("target.example"))]),
        response(Q, TXT, [rr(PTR_Q, TXT, txt(b"x"))])[:20],  # truncated bytes
        response(Q, TXT, [rr(b"\xc0\x0c" if i == 0 else name(f"c{i}.example"), CNAME,
                             name(f"c{i + 1}.example")) for i in range(10)]),  # long chain
        response("a\\.b.example", TXT, [rr(PTR_Q, TXT, txt(b"v=STSv1; id=e"))]),
        b"",
        b"\x12\x34\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\xc0\x0c",  # self-pointing name
    ]


def write(target: str, seeds) -> None:
    directory = HERE / "corpus" / target
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("seed-*"):
        old.unlink()
    for index, seed in enumerate(seeds):
        (directory / f"seed-{index:03d}").write_bytes(seed)


def main() -> None:
    write("netstring", NETSTRING)
    write("request", REQUEST)
    write("txt_record", TXT_RECORD)
    write("policy", POLICY)
    write("mx_pattern", MX_PATTERN)
    write("content_type", CONTENT_TYPE)
    write("config", config_seeds())
    write("dns_message", dns_seeds())


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Checks the benchmark's own programs before their numbers are trusted.

mtasts-ceiling: pipelined requests, requests split across reads, malformed input.
mtasts-loadgen: right answers pass; a wrong expected reply, a refused connection,
an early close, a malformed reply and a silent server all fail (exit 1) with the
right counts; --requests and per-request mode open the expected connections.

    /usr/bin/python3 bench/selftest.py --loadgen BUILD/bench/mtasts-loadgen \
        --ceiling BUILD/bench/mtasts-ceiling
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

REPLY = "OK secure match=mx.example.com servername=hostname"
failures = []


def check(condition, what):
    print(("ok    " if condition else "FAIL  ") + what)
    if not condition:
        failures.append(what)


def netstring(payload: bytes) -> bytes:
    return str(len(payload)).encode() + b":" + payload + b","


def start_ceiling(path):
    proc = subprocess.Popen([path, "--port", "0", "--reply", REPLY], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()  # "listening 127.0.0.1:PORT"
    return proc, int(line.rsplit(":", 1)[1])


def recv_exactly(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def test_ceiling(port):
    expected = netstring(REPLY.encode())
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"".join(netstring(b"postfix d%d.example" % i) for i in range(50)))
        check(recv_exactly(s, 50 * len(expected)) == 50 * expected, "ceiling answers 50 pipelined requests")
        for byte in netstring(b"postfix split.example"):
            s.sendall(bytes([byte]))
            time.sleep(0.001)
        check(recv_exactly(s, len(expected)) == expected, "ceiling answers a request sent byte by byte")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"x7:postfix,")
        check(s.recv(100) == b"", "ceiling closes on a malformed netstring")


class FakeServer:
    """A socketmap server that misbehaves on purpose: behaviour(conn) per connection."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.accepted = 0
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def handle(self, conn):
        with conn:
            try:
                self.behaviour(conn)
            except OSError:
                pass

    def close(self):
        self.sock.close()


def answer_each(reply: bytes):
    """Reads requests one at a time (no pipelining from the load generator) and
    answers each with reply (raw bytes, framing included)."""

    def behaviour(conn):
        while True:
            data = conn.recv(4096)
            if not data:
                return
            conn.sendall(reply)

    return behaviour


def loadgen(path, port, queries, *extra):
    out = subprocess.run(
        [path, "--port", str(port), "--queries", queries, "--json", *extra],
        capture_output=True, text=True, timeout=60)
    try:
        return out.returncode, json.loads(out.stdout)
    except json.JSONDecodeError:
        return out.returncode, {"stdout": out.stdout, "stderr": out.stderr}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--ceiling", required=True)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="mtasts-selftest-") as work:
        return run_checks(args, work)


def run_checks(args, work):
    good = os.path.join(work, "good.tsv")
    wrong = os.path.join(work, "wrong.tsv")
    with open(good, "w") as f:
        f.writelines(f"d{i}.example\t{REPLY}\n" for i in range(10))
    with open(wrong, "w") as f:
        f.writelines(f"d{i}.example\tNOTFOUND \n" for i in range(10))

    ceiling, port = start_ceiling(args.ceiling)
    try:
        test_ceiling(port)
        short = ["--duration", "0.5", "--warmup", "0.2"]
        for mode in ("persistent", "per-request"):
            rc, r = loadgen(args.loadgen, port, good, "--mode", mode, "--connections", "8", *short)
            check(rc == 0 and r.get("queries", 0) > 100 and r["mismatches"] == 0 and r["errors"] == 0,
                  f"right answers pass ({mode}): {r.get('queries')} queries, rc {rc}")
        rc, r = loadgen(args.loadgen, port, wrong, "--connections", "4", *short)
        check(rc == 1 and r.get("mismatches", 0) > 100 and r["mismatches"] >= r["queries"]
              and r["first_mismatches"][0]["got"] == REPLY
              and r["first_mismatches"][0]["expected"] == "NOTFOUND ",
              f"a fast wrong answer fails: {r.get('mismatches')} mismatches, rc {rc}")
        rc, r = loadgen(args.loadgen, port, good, "--requests", "1000", "--connections", "7")
        check(rc == 0 and r.get("queries") == 1000, f"--requests 1000 answers exactly 1000: {r.get('queries')}")
    finally:
        ceiling.terminate()
        ceiling.wait()

    counting = FakeServer(answer_each(netstring(REPLY.encode())))
    rc, r = loadgen(args.loadgen, counting.port, good, "--requests", "25", "--connections", "3",
                    "--mode", "per-request")
    check(rc == 0 and counting.accepted == 25, f"per-request mode: one connection per request ({counting.accepted})")
    counting.close()

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    rc, r = loadgen(args.loadgen, refused_port, good, "--requests", "5", "--connections", "1",
                    "--duration", "1", "--timeout", "1")
    check(rc == 1 and r.get("error_kinds", {}).get("connect", 0) > 0, f"refused connection is an error: {r}")

    cases = [
        ("eof", lambda conn: conn.recv(4096)),
        ("malformed", answer_each(b"2:OK;")),
        ("trailing", answer_each(netstring(REPLY.encode()) + b"1:x,")),
        ("timeout", lambda conn: time.sleep(3)),
    ]
    for kind, behaviour in cases:
        server = FakeServer(behaviour)
        rc, r = loadgen(args.loadgen, server.port, good, "--connections", "1", "--duration", "1",
                        "--warmup", "0", "--timeout", "0.5")
        check(rc == 1 and r.get("error_kinds", {}).get(kind, 0) > 0, f"{kind} is an error: {r.get('error_kinds')}")
        server.close()

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

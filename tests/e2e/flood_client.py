#!/usr/bin/python3
"""The hostile side of run_floods.py: thousands of socketmap clients in one process.

    flood_client.py MODE --host H --port P [options]   -> one JSON object on stdout

Runs apart from the runner so its descriptors do not count against the runner's, and
raises its own RLIMIT_NOFILE soft limit to the hard one. One thread, non-blocking
sockets and selectors, so 10,000 connections cost no threads. Modes:

  concurrent  N connections open at once, then one request on each, every reply read
  cap         N connections opened one after another and held; then a request on each:
              which were answered, which closed by the server
  idle        N connections that send nothing: how long after connecting did the server
              close each
  slowloris   N connections each sending a request one byte per --interval seconds
  nonreader   N connections (small --rcvbuf) each sending --requests pipelined requests,
              reading nothing, held open for --hold seconds
  partial     --rounds x N connections each sending a partial netstring, then closing
  burst       --count distinct names over N connections, pipelined; every reply read
"""
import argparse
import errno
import json
import resource
import selectors
import socket
import struct
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def netstring(payload):
    data = payload.encode()
    return b"%d:%s," % (len(data), data)


def take_replies(buf):
    """(complete reply payloads, rest of buf); raises ValueError on a malformed one."""
    out = []
    while True:
        colon = buf.find(b":")
        if colon < 0:
            if len(buf) > 12:
                raise ValueError("no length prefix in %r" % buf[:20])
            return out, buf
        digits = buf[:colon]
        if not digits.isdigit():
            raise ValueError("bad length %r" % digits[:20])
        n = int(digits)
        end = colon + 1 + n
        if len(buf) < end + 1:
            return out, buf
        if buf[end:end + 1] != b",":
            raise ValueError("no comma")
        out.append(buf[colon + 1:end].decode("utf-8", "replace"))
        buf = buf[end + 1:]


CONNECTED_AT = {}


def connect_many(host, port, n, batch=400, timeout=20.0, rcvbuf=None):
    """n connected non-blocking sockets (fewer if some failed) and the failure count.
    Connects in batches, so the listen backlog (SOMAXCONN 4096) never overflows.
    CONNECTED_AT[socket] is when its connection was established (monotonic)."""
    done, failed = [], 0
    sel = selectors.DefaultSelector()
    for start in range(0, n, batch):
        pending = set()
        for _ in range(min(batch, n - start)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                # Before connect(), so the window the client offers stays small.
                s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc in (0, errno.EINPROGRESS):
                sel.register(s, selectors.EVENT_WRITE)
                pending.add(s)
            else:
                s.close()
                failed += 1
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                sel.unregister(s)
                pending.discard(s)
                if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    CONNECTED_AT[s] = time.monotonic()
                    done.append(s)
                else:
                    s.close()
                    failed += 1
        for s in pending:
            sel.unregister(s)
            s.close()
            failed += 1
    sel.close()
    return done, failed


def exchange(socks, payloads, expected_count, timeout):
    """Sends payloads[i] on socks[i] (all of it, as the socket takes it) and reads until
    expected_count[i] replies came, the server closed, or timeout. Returns per socket
    (replies, closed_by_server, error)."""
    sel = selectors.DefaultSelector()
    state = {}
    for i, s in enumerate(socks):
        state[s] = {"i": i, "out": payloads[i], "buf": b"", "replies": [], "closed": False,
                    "error": None}
        sel.register(s, selectors.EVENT_READ | (selectors.EVENT_WRITE if payloads[i] else 0))
    open_ = set(socks)
    deadline = time.monotonic() + timeout
    while open_ and time.monotonic() < deadline:
        for key, events in sel.select(timeout=0.5):
            s = key.fileobj
            st = state[s]
            try:
                if events & selectors.EVENT_WRITE and st["out"]:
                    sent = s.send(st["out"])
                    st["out"] = st["out"][sent:]
                    if not st["out"]:
                        sel.modify(s, selectors.EVENT_READ)
                if events & selectors.EVENT_READ:
                    data = s.recv(65536)
                    if not data:
                        st["closed"] = True
                    else:
                        got, st["buf"] = take_replies(st["buf"] + data)
                        st["replies"].extend(got)
            except (BlockingIOError, InterruptedError):
                continue
            except (ConnectionError, OSError) as e:
                st["closed"] = True
                st["error"] = type(e).__name__
            except ValueError as e:
                st["error"] = str(e)
                st["closed"] = True
            if st["closed"] or len(st["replies"]) >= expected_count[st["i"]]:
                sel.unregister(s)
                open_.discard(s)
    sel.close()
    return [(state[s]["replies"], state[s]["closed"], state[s]["error"]) for s in socks]


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


# ----- modes -----------------------------------------------------------------------------
def mode_concurrent(a):
    t0 = time.monotonic()
    socks, failed = connect_many(a.host, a.port, a.count)
    connected_at = time.monotonic() - t0
    time.sleep(a.hold)  # all of them open at once, before any request
    want = a.expect
    res = exchange(socks, [netstring("postfix " + a.key)] * len(socks), [1] * len(socks), 60)
    answered = sum(1 for r, _, _ in res if r == [want])
    wrong = [r for r, _, _ in res if r and r != [want]][:3]
    close_all(socks)
    return {"connected": len(socks), "connect_failed": failed, "answered": answered,
            "wrong": wrong, "connect_seconds": round(connected_at, 2),
            "seconds": round(time.monotonic() - t0, 2)}


def mode_cap(a):
    socks = []
    for _ in range(a.count):
        s = socket.create_connection((a.host, a.port), timeout=5)
        s.setblocking(False)
        socks.append(s)
    time.sleep(a.hold)
    res = exchange(socks, [netstring("postfix " + a.key)] * len(socks), [1] * len(socks), 10)
    answered = sum(1 for r, _, _ in res if r == [a.expect])
    closed = sum(1 for r, c, _ in res if not r and c)
    silent = sum(1 for r, c, _ in res if not r and not c)
    # Served connections keep working: a second request on each answered one.
    served = [s for s, (r, _, _) in zip(socks, res) if r == [a.expect]]
    again = exchange(served, [netstring("postfix " + a.key)] * len(served), [1] * len(served), 10)
    close_all(socks)
    return {"opened": len(socks), "answered": answered, "closed": closed, "silent": silent,
            "second_answered": sum(1 for r, _, _ in again if r == [a.expect])}


def mode_idle(a):
    socks, failed = connect_many(a.host, a.port, a.count)
    start = time.monotonic()
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    closed_at, data_seen = [], 0
    remaining = len(socks)
    deadline = start + a.hold
    while remaining and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                data_seen += 1
                continue
            closed_at.append(time.monotonic() - CONNECTED_AT[s])
            sel.unregister(s)
            remaining -= 1
    sel.close()
    close_all(socks)
    return {"connected": len(socks), "connect_failed": failed, "closed": len(closed_at),
            "first_close": round(min(closed_at), 2) if closed_at else None,
            "last_close": round(max(closed_at), 2) if closed_at else None,
            "data_seen": data_seen}


def mode_slowloris(a):
    socks, failed = connect_many(a.host, a.port, a.count)
    request = netstring("postfix " + a.key)
    t0 = time.monotonic()
    cut = 0
    alive = list(socks)
    for i in range(len(request)):
        still = []
        for s in alive:
            try:
                s.send(request[i:i + 1])
                still.append(s)
            except OSError:
                cut += 1
        alive = still
        time.sleep(a.interval)
    res = exchange(alive, [b""] * len(alive), [1] * len(alive), 10)
    answered = sum(1 for r, _, _ in res if r == [a.expect])
    wrong = [r for r, _, _ in res if r and r != [a.expect]][:3]
    close_all(socks)
    return {"connected": len(socks), "connect_failed": failed, "request_bytes": len(request),
            "cut_while_sending": cut, "answered": answered, "wrong": wrong,
            "seconds": round(time.monotonic() - t0, 2)}


def mode_nonreader(a):
    socks, failed = connect_many(a.host, a.port, a.count, rcvbuf=a.rcvbuf)
    block = netstring("postfix " + a.key) * a.requests
    outs = {s: block for s in socks}
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_WRITE)
    sent_total, reset = 0, 0
    deadline = time.monotonic() + a.send_seconds
    while outs and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                n = s.send(outs[s])
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                reset += 1
                n = len(outs[s])
            sent_total += n
            outs[s] = outs[s][n:]
            if not outs[s]:
                sel.unregister(s)
                del outs[s]
    sel.close()
    print(json.dumps({"phase": "sent", "bytes": sent_total}), flush=True)
    time.sleep(a.hold)  # reading nothing, ever
    close_all(socks)
    return {"connected": len(socks), "connect_failed": failed, "bytes_sent": sent_total,
            "requests_per_connection": a.requests, "fully_sent": len(socks) - len(outs),
            "send_errors": reset}


PARTIALS = [b"100:postfix ok", b"5", b"99999999999999999999:", b"14:postfix a.te", b"0",
            b"7:postfix", b"3:abc", b":", b"12:postfix ok.test,"]


def mode_partial(a):
    sent = 0
    for r in range(a.rounds):
        socks, _ = connect_many(a.host, a.port, a.count)
        for i, s in enumerate(socks):
            try:
                s.send(PARTIALS[(i + r) % len(PARTIALS)])
                sent += 1
                if i % 2:
                    # Half end with a RST (SO_LINGER 0), half with a FIN.
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        close_all(socks)
    return {"connections": sent, "rounds": a.rounds}


def mode_burst(a):
    names = ["%05d.%s" % (i, a.zone) for i in range(a.names)]
    socks, failed = connect_many(a.host, a.port, a.count)
    groups = [names[i::len(socks)] for i in range(len(socks))]
    t0 = time.monotonic()
    payloads = [b"".join(netstring("postfix " + n) for n in g) for g in groups]
    res = exchange(socks, payloads, [len(g) for g in groups], 120)
    answers = [x for r, _, _ in res for x in r]
    close_all(socks)
    return {"names": len(names), "connections": len(socks), "connect_failed": failed,
            "answered": len(answers), "notfound": sum(1 for x in answers if x == a.expect),
            "other": sorted(set(x for x in answers if x != a.expect))[:3],
            "seconds": round(time.monotonic() - t0, 2)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["concurrent", "cap", "idle", "slowloris", "nonreader",
                                     "partial", "burst"])
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=100, help="connections")
    ap.add_argument("--key", default="ok.test")
    ap.add_argument("--expect", default="", help="the right reply payload")
    ap.add_argument("--hold", type=float, default=0.0)
    ap.add_argument("--interval", type=float, default=1.0)
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--send-seconds", type=float, default=5.0)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--names", type=int, default=1000)
    ap.add_argument("--zone", default="nx.test", help="burst: names NNNNN.ZONE")
    ap.add_argument("--rcvbuf", type=int, default=0, help="SO_RCVBUF of each socket")
    a = ap.parse_args()
    nofile = raise_nofile()
    result = globals()["mode_" + a.mode](a)
    result["nofile"] = nofile
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

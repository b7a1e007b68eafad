#!/usr/bin/python3
"""idle_conns.py: open N keep-alive connections to 127.0.0.1, complete one
request on each, then hold them all open and idle until SIGTERM/SIGINT (or
--hold seconds).  Used by bench/run.sh to measure a server's RSS per idle
connection.

    idle_conns.py PORT N [--path /plaintext] [--status FILE] [--hold 60]

Progress and results go to --status (default stdout), one "key=value ..."
line each:
    ready opened=N ok=K failed=F secs=T open=M   all requests answered; held now
    end open=M                                   on SIGTERM, just before closing

"open" counts the sockets that the server had not closed (not readable:
no EOF and no stray data) at that moment.  Only ever connects to 127.0.0.1.
The fd limit is raised here (setrlimit), so no `ulimit -n` is needed.
"""
import argparse
import errno
import os
import resource
import selectors
import signal
import socket
import sys
import time

HOST = "127.0.0.1"
MAX_INFLIGHT = 256  # connects/requests outstanding at once (stays under the listen backlog)


def raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= need:
        return soft
    if hard != resource.RLIM_INFINITY and hard < need:
        try:  # possible as root
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return need
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            return hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))
    return need


def response_complete(buf):
    """True once buf holds one whole response (Content-Length framed)."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    length = 0
    for line in buf[:end].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    return len(buf) >= end + 4 + length


def count_open(socks):
    """Sockets the server has not closed: nothing readable right now."""
    sel = selectors.DefaultSelector()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    readable = len(sel.select(timeout=0))
    sel.close()
    return len(socks) - readable


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("n", type=int)
    ap.add_argument("--path", default="/plaintext")
    ap.add_argument("--status", default="-")
    ap.add_argument("--hold", type=float, default=60.0, help="longest time to hold (s)")
    ap.add_argument("--deadline", type=float, default=60.0, help="longest time to open all (s)")
    a = ap.parse_args()

    out = sys.stdout if a.status == "-" else open(a.status, "a", buffering=1)

    def say(line):
        out.write(line + "\n")
        out.flush()

    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    limit = raise_fd_limit(a.n + 64)
    n = min(a.n, limit - 64)
    if n < a.n:
        say("warning fd_limit=%d: opening only %d" % (limit, n))

    request = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\n\r\n" % (a.path, HOST, a.port)).encode()
    sel = selectors.DefaultSelector()
    held, failed, started, inflight = [], 0, 0, 0
    t0 = time.monotonic()
    while (started < n or inflight) and not stop["flag"]:
        while started < n and inflight < MAX_INFLIGHT:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((HOST, a.port))
            started += 1
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                failed += 1
                continue
            sel.register(s, selectors.EVENT_WRITE, {"state": "connect", "buf": b""})
            inflight += 1
        if time.monotonic() - t0 > a.deadline:
            break
        for key, ev in sel.select(timeout=1.0):
            s, d = key.fileobj, key.data
            try:
                if d["state"] == "connect":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    if err:
                        raise OSError(err, os.strerror(err))
                    s.sendall(request)  # tiny: fits the empty send buffer
                    d["state"] = "read"
                    sel.modify(s, selectors.EVENT_READ, d)
                    continue
                chunk = s.recv(65536)
                if not chunk:
                    raise OSError("closed before the response")
                d["buf"] += chunk
                if response_complete(d["buf"]):
                    ok = d["buf"].startswith(b"HTTP/1.1 200")
                    sel.unregister(s)
                    inflight -= 1
                    if ok:
                        held.append(s)
                    else:
                        s.close()
                        failed += 1
            except OSError:
                sel.unregister(s)
                s.close()
                inflight -= 1
                failed += 1
    for key in list(sel.get_map().values()):  # deadline or signal: give up the rest
        key.fileobj.close()
        failed += 1
    sel.close()
    secs = time.monotonic() - t0

    time.sleep(0.5)  # let the server settle, then report what is really open
    say("ready opened=%d ok=%d failed=%d secs=%.1f open=%d"
        % (started, len(held), failed, secs, count_open(held)))
    t1 = time.monotonic()
    while not stop["flag"] and time.monotonic() - t1 < a.hold:
        time.sleep(0.05)
    say("end open=%d" % count_open(held))
    for s in held:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

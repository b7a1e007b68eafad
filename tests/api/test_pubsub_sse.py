"""
Server-Sent Events and topics (issue 11), over raw sockets.

vial-testapp's /sse (an SSE stream subscribed to ?topic=, replaying three
events after a numeric Last-Event-ID) and /publish: the stream's head and
framing, published messages as events (multi-line data), replay, retry:,
the heartbeat on the tick, a client that leaves (noticed at once, its
subscription gone), a client that does not read (closed), order across
workers.  vial-server's /logs/stream: one `log` event per stored log, its
data exactly GET /logs/<id>'s body, the user and type filters, resuming
with Last-Event-ID; two instances sharing a throwaway Redis (scripts/
redis.sh): a log stored on one reaches a stream on the other, and still
does after Redis is stopped and started again on the same port.
"""
from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time

import pytest
import requests

from conftest import REPO
from logs_support import Database, action, log, start_server

REDIS_SH = REPO / "scripts" / "redis.sh"


# ---------------------------------------------------------------------------- an SSE client


class Sse:
    """One text/event-stream response read as it comes: the head, then the
    chunked body decoded and cut into events."""

    def __init__(self, port, target, headers=(), rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(5)
        self.sock.connect(("127.0.0.1", port))
        lines = [f"GET {target} HTTP/1.1", "Host: t", "Accept: text/event-stream", *headers]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self.raw = b""
        self.text = ""
        self.seen = ""  # every byte of the body, decoded
        self.head = None
        self.status = None
        self.headers = {}
        self.eof = False
        self.final = False  # the last chunk (0) arrived
        self.pending = []

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _read(self, deadline) -> bool:
        left = deadline - time.monotonic()
        if left <= 0 or self.eof:
            return False
        self.sock.settimeout(min(left, 0.5))
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return True
        except OSError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.raw += d
        self._decode()
        return True

    def _decode(self):
        if self.head is None:
            i = self.raw.find(b"\r\n\r\n")
            if i < 0:
                return
            self.head = self.raw[:i].decode("latin-1")
            self.raw = self.raw[i + 4:]
            first, *rest = self.head.split("\r\n")
            self.status = int(first.split()[1])
            self.headers = {k.lower(): v.strip() for k, v in (h.split(":", 1) for h in rest)}
            assert self.headers.get("transfer-encoding") == "chunked", self.head
        while True:
            i = self.raw.find(b"\r\n")
            if i < 0:
                return
            size = int(self.raw[:i], 16)
            if len(self.raw) < i + 2 + size + 2:
                return
            chunk = self.raw[i + 2: i + 2 + size]
            assert self.raw[i + 2 + size: i + 4 + size] == b"\r\n"
            self.raw = self.raw[i + 4 + size:]
            if size == 0:
                self.final = True
                return
            self.text += chunk.decode()
            self.seen += chunk.decode()
            while "\n\n" in self.text:
                block, self.text = self.text.split("\n\n", 1)
                self.pending.append(parse_event(block))

    def wait_head(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while self.head is None and self._read(deadline):
            pass
        assert self.head is not None, f"no response head (got {self.raw[:200]!r})"
        return self

    def events(self, n, timeout=5.0, kinds=None) -> list[dict]:
        """The next n events (comments and retry-only blocks are events too
        unless `kinds` filters by "event" name)."""
        deadline = time.monotonic() + timeout
        got = []
        while len(got) < n:
            while self.pending and len(got) < n:
                e = self.pending.pop(0)
                if kinds is None or e.get("event") in kinds:
                    got.append(e)
            if len(got) >= n or not self._read(deadline):
                break
        assert len(got) == n, f"{len(got)} of {n} events in {timeout}s: {got} (eof={self.eof})"
        return got

    def quiet(self, seconds) -> list[dict]:
        """Whatever arrives within `seconds` (expected: nothing)."""
        deadline = time.monotonic() + seconds
        while self._read(deadline):
            pass
        got, self.pending = self.pending, []
        return got


def parse_event(block: str) -> dict:
    e = {"data": None, "comments": []}
    data = []
    for line in block.split("\n"):
        if line.startswith(":"):
            e["comments"].append(line[1:].strip())
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        else:
            e[name] = value
    if data:
        e["data"] = "\n".join(data)
    return e


def publish(srv, topic, body, times=1):
    r = srv.request("POST", f"/publish?topic={topic}&times={times}", body=body.encode())
    assert r.status == 204, r


def state(srv, topic="t") -> dict:
    body = srv.get(f"/sse_state?topic={topic}").body.decode()
    return {k: int(v) for k, v in (kv.split("=") for kv in body.split())}


def wait_state(srv, topic, **want):
    deadline = time.monotonic() + 5
    while True:
        s = state(srv, topic)
        if all(s[k] == v for k, v in want.items()) or time.monotonic() > deadline:
            return s
        time.sleep(0.05)


# ---------------------------------------------------------------------------- vial-testapp


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    from conftest import _start
    d = tmp_path_factory.mktemp("sse")
    srv = _start("vial-testapp", ["--workers", "2", "--sse-retry", "2500ms", "--sse-heartbeat", "1s"], None, d, d,
                 None)
    yield srv
    problems = srv.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_head_framing_and_published_messages(app):
    with Sse(app.port, "/sse?topic=t&topic=u&hello=hi") as s:
        s.wait_head()
        assert s.status == 200
        assert s.headers["content-type"] == "text/event-stream"
        assert s.headers["cache-control"] == "no-cache"
        first = s.events(2)
        assert first[0]["retry"] == "2500" and first[0]["data"] is None
        assert first[1] == {"event": "hello", "data": "hi", "comments": []}
        publish(app, "t", "line 1\nline 2\r\nline 3")
        publish(app, "nobody-listens", "x")
        publish(app, "u", "")
        publish(app, "t", "é ünïcode")
        got = s.events(3)
        assert [e["data"] for e in got] == ["line 1\nline 2\nline 3", "", "é ünïcode"]
        assert all("event" not in e and "id" not in e for e in got)
        # the raw framing: a data: line per line
        publish(app, "t", "a\nb")
        deadline = time.monotonic() + 5
        while "data: a\ndata: b\n\n" not in s.seen and s._read(deadline):
            pass
        assert "data: a\ndata: b\n\n" in s.seen


def test_last_event_id_replays_then_goes_live(app):
    with Sse(app.port, "/sse?topic=t", headers=["Last-Event-ID: 41"]) as s:
        got = s.events(3, kinds={"replayed"})
        assert [(e["id"], e["data"]) for e in got] == [("42", "missed 42"), ("43", "missed 43"), ("44", "missed 44")]
        publish(app, "t", "live")
        assert s.events(1, kinds={None})[0]["data"] == "live"
    with Sse(app.port, "/sse?topic=t") as s:  # no Last-Event-ID: no replay
        s.events(1)  # retry
        publish(app, "t", "only live")
        assert s.events(1)[0]["data"] == "only live"


def test_heartbeat_when_idle(app):
    """sse_heartbeat=1s here: the comment comes on the next 5 s tick."""
    with Sse(app.port, "/sse?topic=quiet") as s:
        s.events(1)  # retry
        t0 = time.monotonic()
        beat = s.events(1, timeout=8)[0]
        assert beat["comments"] == ["keep-alive"] and beat["data"] is None, beat
        assert time.monotonic() - t0 >= 0.9
        # an event resets it: no beat right after one
        publish(app, "quiet", "news")
        assert s.events(1)[0]["data"] == "news"


def test_client_leaving_ends_the_stream_and_its_subscription(app):
    before = wait_state(app, "leaving", open=0)  # the other tests' streams have ended
    assert before["wanted"] == 0
    s = Sse(app.port, "/sse?topic=leaving").wait_head()
    s.events(1)
    assert wait_state(app, "leaving", wanted=1, open=before["open"] + 1)["wanted"] == 1
    s.close()
    after = wait_state(app, "leaving", ended=before["ended"] + 1, wanted=0)
    assert after["ended"] == before["ended"] + 1, "the stream's clean-up must run at once"
    assert after["wanted"] == 0 and after["open"] == before["open"]
    publish(app, "leaving", "to nobody")


def test_order_across_workers(app):
    """Sequential publishes (each POST may run on either worker) reach every
    stream, whichever worker it is on, in order."""
    streams = [Sse(app.port, "/sse?topic=seq").wait_head() for _ in range(6)]
    try:
        for s in streams:
            s.events(1)
        wait_state(app, "seq", wanted=1)
        for i in range(60):
            publish(app, "seq", str(i))
        for s in streams:
            assert [int(e["data"]) for e in s.events(60)] == list(range(60))
    finally:
        for s in streams:
            s.close()


def test_client_that_does_not_read_is_closed(start_server):
    srv = start_server("--workers", "1", "--sse-max-queue", "256K")
    before = state(srv, "big")
    s = Sse(srv.port, "/sse?topic=big", rcvbuf=4096).wait_head()
    try:
        wait_state(srv, "big", wanted=1)
        # ~16 MiB of events the client never reads: more than the kernel's
        # buffers, the connection's 256 KiB and the queue's 256 KiB.
        publish(srv, "big", "x" * 32768, times=512)
        after = wait_state(srv, "big", ended=before["ended"] + 1)
        assert after["ended"] == before["ended"] + 1 and after["wanted"] == 0
        assert srv.wait_log(r"does not read \(sse_max_queue 262144\); closing")
    finally:
        s.close()


def test_stopping_the_server_ends_open_streams_cleanly(start_server):
    """A stream that waits for events does not hold a stop for the shutdown
    timeout: it ends at once, with the final chunk (its client reconnects)."""
    srv = start_server("--workers", "2", "--shutdown-timeout", "20s")
    streams = [Sse(srv.port, "/sse?topic=t&hello=x").wait_head() for _ in range(3)]
    try:
        for s in streams:
            s.events(1)
        t0 = time.monotonic()
        srv.kill_with(signal.SIGTERM)
        for s in streams:
            deadline = time.monotonic() + 3
            while not s.final and s._read(deadline):
                pass
            assert s.final, "the stream did not end with the final chunk"
            s.close()  # (the server lingers until its client closes)
        assert time.monotonic() - t0 < 2, "the open streams held the stop"
        assert srv.wait(timeout=5) == 0
        assert time.monotonic() - t0 < 4
    finally:
        for s in streams:
            s.close()


# ---------------------------------------------------------------------------- vial-server: /logs/stream


@pytest.fixture
def sqlite_db(tmp_path):
    db = Database("sqlite", tmp_path, None)
    yield db
    db.close()


class Running:
    def __init__(self):
        self.servers = []

    def start(self, db, tmp_path, *extra):
        srv = start_server(db, tmp_path, *extra)
        self.servers.append(srv)
        return srv

    def stop_all(self):
        problems = []
        for srv in self.servers:
            problems += srv.problems(0)
        return problems


@pytest.fixture
def running():
    r = Running()
    yield r
    problems = r.stop_all()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def store(srv, body) -> dict:
    r = requests.post(f"http://127.0.0.1:{srv.port}/logs", json=body, timeout=30)
    assert r.status_code == 201, r.text
    return r.json()


def get_text(srv, path) -> str:
    r = requests.get(f"http://127.0.0.1:{srv.port}{path}", timeout=30)
    assert r.status_code == 200, r.text
    return r.text


BATCH = [
    log("alice", "S1", action("2018-10-18T21:00:00-06:00", "CLICK", locationX=1, locationY=2),
        action("2018-10-18T21:01:00-06:00", "VIEW", viewedId="line\nbreak")),
    log("bob", "S2", action("2018-10-18T21:02:00Z", "VIEW", viewedId="V"),
        action("2018-10-18T21:03:00+05:30", "NAVIGATE", pageFrom="/a", pageTo="/b")),
]


def test_logs_stream_events_are_the_api_rows_and_filters_hold(sqlite_db, tmp_path, running):
    srv = running.start(sqlite_db, tmp_path)
    every = Sse(srv.port, "/logs/stream").wait_head()
    alice = Sse(srv.port, "/logs/stream?user=alice").wait_head()
    bob_views = Sse(srv.port, "/logs/stream?user=bob&type=VIEW").wait_head()
    views = Sse(srv.port, "/logs/stream?type=VIEW").wait_head()
    try:
        assert every.headers["content-type"] == "text/event-stream"
        time.sleep(0.2)  # subscribed (the view subscribes before it returns; be safe with the workers)
        ids = store(srv, BATCH)
        first = ids["first_id"]
        got = every.events(4)
        assert [e["event"] for e in got] == ["log"] * 4
        assert [int(e["id"]) for e in got] == list(range(first, first + 4))
        for e in got:
            # exactly what the API returns for that log
            assert e["data"] == get_text(srv, f"/logs/{e['id']}"), e
            assert json.loads(e["data"])["id"] == int(e["id"])
        assert [int(e["id"]) for e in alice.events(2)] == [first, first + 1]
        assert [int(e["id"]) for e in bob_views.events(1)] == [first + 2]
        assert [int(e["id"]) for e in views.events(2)] == [first + 1, first + 2]
        assert alice.quiet(0.3) == [] and bob_views.quiet(0.1) == []
        # a rejected body publishes nothing
        r = requests.post(f"http://127.0.0.1:{srv.port}/logs", json={"userId": "x"}, timeout=10)
        assert r.status_code == 400
        assert every.quiet(0.3) == []
    finally:
        for s in (every, alice, bob_views, views):
            s.close()


def test_logs_stream_resumes_after_last_event_id(sqlite_db, tmp_path, running):
    srv = running.start(sqlite_db, tmp_path)
    ids = store(srv, BATCH)
    first = ids["first_id"]
    with Sse(srv.port, "/logs/stream", headers=[f"Last-Event-ID: {first}"]) as s:
        got = s.events(3)
        assert [int(e["id"]) for e in got] == [first + 1, first + 2, first + 3]
        assert all(e["data"] == get_text(srv, f"/logs/{e['id']}") for e in got)
        more = store(srv, BATCH[:1])
        assert [int(e["id"]) for e in s.events(2)] == [more["first_id"], more["first_id"] + 1]
    with Sse(srv.port, "/logs/stream?type=NAVIGATE", headers=[f"Last-Event-ID: {first - 1}"]) as s:
        assert [int(e["id"]) for e in s.events(1)] == [first + 3]
        assert s.quiet(0.3) == []


# ---------------------------------------------------------------------------- two instances, one Redis


@pytest.fixture
def redis_dir(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/deps.sh)")
    d = tmp_path / "redis"
    url = subprocess.run(["bash", str(REDIS_SH), "start", str(d)], capture_output=True, text=True,
                         check=True).stdout.strip()
    yield d, url
    subprocess.run(["bash", str(REDIS_SH), "stop", str(d)], capture_output=True)


def test_two_instances_share_logs_through_redis_across_a_restart(sqlite_db, tmp_path, running, redis_dir):
    rdir, url = redis_dir
    port = url.rsplit(":", 1)[1].split("/")[0]
    a = running.start(sqlite_db, tmp_path, "--redis-url", url)
    b = running.start(sqlite_db, tmp_path, "--redis-url", url)
    with Sse(b.port, "/logs/stream?user=bob").wait_head() as s:
        # B's Redis thread subscribes asynchronously: wait until it has.
        assert b.wait_log(r"pub/sub: connected to Redis", timeout=5), b.log()[-2000:]
        deadline = time.monotonic() + 5
        while True:
            r = subprocess.run(["redis-cli", "-p", port, "pubsub", "numsub", "vial:logs"], capture_output=True,
                               text=True).stdout.split()
            if len(r) == 2 and int(r[1]) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        first = store(a, BATCH)["first_id"]
        got = s.events(2)
        assert [int(e["id"]) for e in got] == [first + 2, first + 3]
        assert got[0]["data"] == get_text(a, f"/logs/{first + 2}")

        # Redis goes away: both instances say so; a log stored meanwhile
        # still reaches A's own streams, and the loss is logged.
        subprocess.run(["bash", str(REDIS_SH), "stop", str(rdir)], check=True, capture_output=True)
        for srv in (a, b):
            assert srv.wait_log(r"pub/sub: lost the connection to Redis", timeout=5), srv.log()[-2000:]
        with Sse(a.port, "/logs/stream?user=bob").wait_head() as local:
            time.sleep(0.2)
            lost = store(a, BATCH)["first_id"]
            assert [int(e["id"]) for e in local.events(2)] == [lost + 2, lost + 3]
        assert s.quiet(0.5) == []

        # Back on the same port: both reconnect by themselves, A reports
        # what the others missed, and delivery resumes.
        subprocess.run(["bash", str(REDIS_SH), "start", str(rdir), port], check=True, capture_output=True)
        for srv in (a, b):
            assert srv.wait_log(r"pub/sub: reconnected to Redis", timeout=8), srv.log()[-2000:]
        assert a.wait_log(r"pub/sub: 1 message published while Redis was unreachable reached only this "
                          r"instance", timeout=5), a.log()[-2000:]
        deadline = time.monotonic() + 5
        while True:  # B has SUBSCRIBEd again
            r = subprocess.run(["redis-cli", "-p", port, "pubsub", "numsub", "vial:logs"], capture_output=True,
                               text=True).stdout.split()
            if len(r) == 2 and int(r[1]) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        again = store(a, BATCH)["first_id"]
        got = s.events(2)
        assert [int(e["id"]) for e in got] == [again + 2, again + 3]

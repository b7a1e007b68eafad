"""
WebSocket connections subscribed to pub/sub topics (vial_ws_subscribe,
issue 11) against a real vial-testapp, with Debian's python3-websockets:
what is published (POST /publish, from whichever worker takes it) reaches
every subscribed connection on both workers, in order, once however often
it subscribed, nothing after unsubscribing; two instances sharing a
throwaway Redis: a message published on one reaches a WebSocket on the
other.  And the real-time metrics on /metrics: vial_ws_connections,
vial_ws_messages_total{direction}, vial_pubsub_deliveries_total,
vial_sse_streams, checked by promtool.
"""
from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest
import websockets

from conftest import REPO, Conn
from test_metrics import Exposition, promtool
from test_pubsub_sse import Sse

REDIS_SH = REPO / "scripts" / "redis.sh"


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def publish(srv, topic, body, times=1):
    """`times` POSTs (each may land on either worker), bodies body0, body1 ..."""
    for i in range(times):
        r = srv.request("POST", f"/publish?topic={topic}", body=f"{body}{i}".encode())
        assert r.status == 204, r


async def subscribe(ws, topic):
    await ws.send(f"sub {topic}")
    assert await ws.recv() == f"ok sub {topic}"


async def clients_on_both_workers(port, n=8):
    """Opens connections until both workers hold some (the worker is the
    top 10 bits of the connection's id)."""
    conns, workers = [], set()
    for _ in range(n):
        ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws/echo")
        await ws.send("id")
        workers.add(int(await ws.recv()) >> 54)
        conns.append(ws)
    return conns, workers


def test_published_messages_reach_every_subscriber_on_every_worker(start_server):
    srv = start_server("--workers", "2")

    async def go():
        conns, workers = await clients_on_both_workers(srv.port)
        assert workers == {0, 1}, workers
        for ws in conns:
            await subscribe(ws, "news")
            await subscribe(ws, "news")  # twice is one subscription
        await subscribe(conns[0], "other")
        publish(srv, "news", "m", times=20)  # m0 .. m19, in order
        publish(srv, "other", "only-first")  # only-first0
        for i, ws in enumerate(conns):
            got = [await asyncio.wait_for(ws.recv(), 5) for _ in range(20 + (i == 0))]
            want = [f"m{k}" for k in range(20)]
            if i == 0:
                assert sorted(got) == sorted(want + ["only-first0"])
                got.remove("only-first0")
            assert got == want, (i, got)
        # unsubscribed: nothing more; the others still get it
        await conns[1].send("unsub news")
        assert await conns[1].recv() == "ok unsub news"
        await conns[1].send("unsub news")
        assert await conns[1].recv() == "error no such entry"
        publish(srv, "news", "late")
        for i, ws in enumerate(conns):
            if i != 1:
                assert await asyncio.wait_for(ws.recv(), 5) == "late0"
        await conns[1].send("id")  # an echo proves nothing was queued before it
        assert int(await conns[1].recv()) >= 0
        for ws in conns:
            await ws.close()

    run(go())


def test_a_subscriber_that_leaves_is_forgotten(start_server):
    srv = start_server("--workers", "2")

    async def go():
        ws = await websockets.connect(f"ws://127.0.0.1:{srv.port}/ws/echo")
        await subscribe(ws, "gone")
        await ws.close()

    run(go())
    # its subscription went with it: nobody in the process wants the topic
    deadline = time.monotonic() + 5
    while "wanted=0" not in srv.get("/sse_state?topic=gone").body.decode():
        assert time.monotonic() < deadline, srv.get("/sse_state?topic=gone").body
        time.sleep(0.05)
    publish(srv, "gone", "into the void")


@pytest.fixture
def redis_url(tmp_path):
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed (scripts/deps.sh)")
    d = tmp_path / "redis"
    url = subprocess.run(["bash", str(REDIS_SH), "start", str(d)], capture_output=True, text=True,
                         check=True).stdout.strip()
    yield url
    subprocess.run(["bash", str(REDIS_SH), "stop", str(d)], capture_output=True)


def test_two_instances_share_topics_through_redis(start_server, redis_url):
    a = start_server("--workers", "2", "--redis-url", redis_url)
    b = start_server("--workers", "2", "--redis-url", redis_url)
    port = redis_url.rsplit(":", 1)[1].split("/")[0]

    async def go():
        on_b = await websockets.connect(f"ws://127.0.0.1:{b.port}/ws/echo")
        on_a = await websockets.connect(f"ws://127.0.0.1:{a.port}/ws/echo")
        await subscribe(on_b, "room")
        await subscribe(on_a, "room")
        # b's Redis thread SUBSCRIBEs asynchronously: wait until Redis has it
        deadline = time.monotonic() + 5
        while True:
            r = subprocess.run(["redis-cli", "-p", port, "pubsub", "numsub", "vial:room"], capture_output=True,
                               text=True)
            if r.stdout.split()[-1:] == ["2"]:
                break
            assert time.monotonic() < deadline, r.stdout
            await asyncio.sleep(0.05)
        publish(a, "room", "from-a", times=5)
        got_b = [await asyncio.wait_for(on_b.recv(), 5) for _ in range(5)]
        got_a = [await asyncio.wait_for(on_a.recv(), 5) for _ in range(5)]
        want = [f"from-a{i}" for i in range(5)]
        assert got_b == want and got_a == want  # a's own subscriber once, not twice (no echo)
        publish(b, "room", "from-b")
        assert await asyncio.wait_for(on_a.recv(), 5) == "from-b0"
        assert await asyncio.wait_for(on_b.recv(), 5) == "from-b0"
        await on_a.close()
        await on_b.close()

    run(go())


# ---------------------------------------------------------------------------- metrics


def scrape(srv) -> Exposition:
    r = srv.get("/metrics")
    assert r.status == 200, r
    return Exposition(r.body.decode())


def settle(srv, name, want, **labels):
    deadline = time.monotonic() + 5
    while True:
        e = scrape(srv)
        if e.get(name, **labels) == want or time.monotonic() > deadline:
            return e
        time.sleep(0.05)


def test_realtime_metrics(start_server):
    srv = start_server("--workers", "2")
    e0 = scrape(srv)
    for fam, typ in (("vial_ws_connections", "gauge"), ("vial_ws_messages_total", "counter"),
                     ("vial_pubsub_deliveries_total", "counter"), ("vial_sse_streams", "gauge")):
        assert e0.type.get(fam) == typ, (fam, e0.type.get(fam))
    assert e0.get("vial_ws_connections") == 0 and e0.get("vial_sse_streams") == 0

    async def go():
        conns, _ = await clients_on_both_workers(srv.port, n=4)  # 4 "id" in, 4 answers out
        e = settle(srv, "vial_ws_connections", 4)
        assert e.get("vial_ws_connections") == 4
        for ws in conns:
            await subscribe(ws, "metered")  # 4 in, 4 out
        with Sse(srv.port, "/sse?topic=metered") as s:
            s.wait_head()
            e = settle(srv, "vial_sse_streams", 1)
            assert e.get("vial_sse_streams") == 1
            deadline = time.monotonic() + 5
            while "wanted=1" not in srv.get("/sse_state?topic=metered").body.decode():
                assert time.monotonic() < deadline
                time.sleep(0.05)
            publish(srv, "metered", "x", times=3)  # 3 x (4 WebSockets + 1 stream) deliveries, 12 out
            for ws in conns:
                for _ in range(3):
                    await asyncio.wait_for(ws.recv(), 5)
            s.events(3)
        e = settle(srv, "vial_sse_streams", 0)
        assert e.get("vial_sse_streams") == 0
        assert e.get("vial_pubsub_deliveries_total") - e0.get("vial_pubsub_deliveries_total") == 15
        assert e.get("vial_ws_messages_total", direction="in") - e0.get("vial_ws_messages_total",
                                                                        direction="in") == 8
        assert e.get("vial_ws_messages_total", direction="out") - e0.get("vial_ws_messages_total",
                                                                         direction="out") == 20
        for ws in conns:
            await ws.close()

    run(go())
    e = settle(srv, "vial_ws_connections", 0)
    assert e.get("vial_ws_connections") == 0
    promtool(e.text)


def test_compressed_broadcast(start_server):
    """Subscribers with permessage-deflate: a message compressed once per
    worker serves every connection of it; the next message of the same
    length but other bytes is compressed anew (nobody gets a stale copy)."""
    srv = start_server("--workers", "2")

    async def go():
        conns, _ = await clients_on_both_workers(srv.port, n=6)  # python websockets offers deflate
        assert all(ws.extensions for ws in conns)
        for ws in conns:
            await subscribe(ws, "z")
        bodies = ["a" * 3000, "b" * 3000, "ab" * 1500, "a" * 2999 + "c"]
        for b in bodies:
            r = srv.request("POST", "/publish?topic=z", body=b.encode())
            assert r.status == 204, r
        for ws in conns:
            assert [await asyncio.wait_for(ws.recv(), 5) for _ in bodies] == bodies
        for ws in conns:
            await ws.close()

    run(go())

"""
The chat (issue 11, apps/chat) against a real vial-server, with Debian's
python3-websockets as the client: the WebSocket protocol exactly as the
issue names it (hello/welcome, create/channel, join/history, leave/left,
message with its ref echoed to the sender, every error code, the
connection staying open after each), binary frames closed with 1003, a
flood with 1008, the last 100 messages kept per channel, the HTTP API
(channels, messages with keyset pages and Link, posts that reach
WebSocket clients, SSE events with Last-Event-ID replay), names in use,
auth (chat_anonymous off: credentials needed; an account's name is its
own), a restart keeping channels and messages, the counter
vial_chat_messages_total, both databases, and two instances sharing one
Redis: what is sent on one reaches a client of the other, also after
Redis was restarted under them.
"""
from __future__ import annotations

import asyncio
import json
import re
import shutil
import signal
import subprocess
import time
import urllib.parse

import pytest
import websockets

from test_pubsub_sse import REDIS_SH, Sse
from test_ws_pubsub import redis_url  # noqa: F401 (a fixture: a throwaway Redis)
from users_support import (CHEAP_ARGON2, Client, Database, PgCluster, error, new_secret, pg_admin_url,
                           start_server, uname)

BACKENDS = ["sqlite", "postgresql"]


def run(coro, timeout=60):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


class Chat:
    """One WebSocket client of /ws/chat: JSON frames out and in."""

    def __init__(self, ws):
        self.ws = ws

    @classmethod
    async def open(cls, srv, headers=None):
        ws = await websockets.connect(f"ws://127.0.0.1:{srv.port}/ws/chat", extra_headers=headers or {},
                                      max_size=None)
        return cls(ws)

    async def send(self, **frame):
        await self.ws.send(json.dumps(frame))

    async def raw(self, data):
        await self.ws.send(data)

    async def recv(self, timeout=5) -> dict:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def ask(self, **frame) -> dict:
        await self.send(**frame)
        return await self.recv()

    async def expect_error(self, code, **frame):
        r = await self.ask(**frame)
        assert r["type"] == "error" and r["code"] == code, (frame, r)
        assert set(r) == {"type", "code", "message", "ref"} and isinstance(r["message"], str) and r["message"]
        assert r["ref"] == frame.get("ref"), r
        return r

    async def hello(self, name=None) -> dict:
        f = {"type": "hello"}
        if name is not None:
            f["name"] = name
        r = await self.ask(**f)
        assert r["type"] == "welcome", r
        return r

    async def quiet(self, seconds=0.3):
        """Nothing arrives for `seconds`."""
        try:
            got = await asyncio.wait_for(self.ws.recv(), seconds)
        except asyncio.TimeoutError:
            return
        pytest.fail(f"unexpected frame {got}")

    async def close(self):
        await self.ws.close()


def is_rfc3339(s):
    return re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", s)


def check_message(m, **want):
    assert set(m) >= {"id", "channel", "name", "text", "time"}, m
    assert type(m["id"]) is int and m["id"] > 0 and is_rfc3339(m["time"]), m
    for k, v in want.items():
        assert m[k] == v, (k, m)


# ---------------------------------------------------------------------------- servers


class Env:
    def __init__(self, backend, tmp, cluster, *extra):
        self.db = Database(backend, tmp, cluster)
        self.tmp = tmp
        self.extra = extra
        self.secret = new_secret()
        self.srv = start_server(self.db, tmp, *CHEAP_ARGON2, *extra, secret=self.secret)
        self.http = Client(self.srv, addr=None)

    def restart(self):
        self.http.close()
        problems = self.srv.problems(0)
        assert not problems, problems
        self.srv = start_server(self.db, self.tmp, *CHEAP_ARGON2, *self.extra, secret=self.secret)
        self.http = Client(self.srv, addr=None)

    def close(self):
        self.http.close()
        problems = self.srv.problems(0)
        self.db.close()
        return problems


@pytest.fixture(scope="module")
def cluster():
    c = []
    yield lambda: c[0] if c else (c.append(PgCluster(pg_admin_url())) or c[0])
    for x in c:
        x.close()


@pytest.fixture(scope="module", params=BACKENDS)
def env(request, tmp_path_factory, cluster):
    c = cluster() if request.param == "postgresql" else None
    e = Env(request.param, tmp_path_factory.mktemp(request.param), c)
    yield e
    problems = e.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def servers(tmp_path, cluster):
    made = []

    def start(*extra, backend="sqlite"):
        e = Env(backend, tmp_path / f"s{len(made)}", cluster() if backend == "postgresql" else None, *extra)
        made.append(e)
        return e

    for d in range(8):
        (tmp_path / f"s{d}").mkdir()
    yield start
    problems = []
    for e in made:
        problems += e.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------- the protocol


def test_hello_create_join_message_leave(env):
    ch = uname("room")

    async def go():
        a, b = await Chat.open(env.srv), await Chat.open(env.srv)
        na, nb = uname("alice"), uname("bob")
        await a.expect_error("hello_first", type="join", channel=ch, ref="r0")
        w = await a.hello(na)
        assert w["name"] == na and isinstance(w["channels"], list) and ch not in w["channels"]
        await b.hello(nb)
        # create: the creator gets it with its ref, every client that said hello without
        r = await a.ask(type="create", channel=ch, ref="c1")
        assert r == {"type": "channel", "channel": ch, "ref": "c1"}, r
        assert await b.recv() == {"type": "channel", "channel": ch}
        await b.expect_error("channel_exists", type="create", channel=ch, ref=7)
        await a.quiet(0.2)
        # join: the history (empty), then messages to every member, the sender's with its ref
        r = await a.ask(type="join", channel=ch, ref="j1")
        assert r == {"type": "history", "channel": ch, "messages": [], "ref": "j1"}, r
        await b.expect_error("not_joined", type="message", channel=ch, text="hi")
        assert (await b.ask(type="join", channel=ch))["messages"] == []
        r = await a.ask(type="message", channel=ch, text="hi \u00e9\U0001F600", ref="m1")
        assert r["type"] == "message" and r["ref"] == "m1", r
        check_message(r, channel=ch, name=na, text="hi \u00e9\U0001F600")
        got = await b.recv()
        assert "ref" not in got and got == {k: v for k, v in r.items() if k != "ref"}, got
        await a.quiet(0.2)  # no echo of its own message
        r2 = await b.ask(type="message", channel=ch, text="hello")
        assert r2["id"] > r["id"]
        assert (await a.recv())["text"] == "hello"
        # a newcomer's history: oldest first
        c = await Chat.open(env.srv)
        await c.hello(uname("carol"))
        h = await c.ask(type="join", channel=ch)
        assert [m["text"] for m in h["messages"]] == ["hi \u00e9\U0001F600", "hello"], h
        check_message(h["messages"][0], id=r["id"], name=na)
        # leave: nothing more arrives
        assert await b.ask(type="leave", channel=ch, ref=3) == {"type": "left", "channel": ch, "ref": 3}
        await b.expect_error("not_joined", type="leave", channel=ch)
        await a.ask(type="message", channel=ch, text="after")
        assert (await c.recv())["text"] == "after"
        await b.quiet(0.3)
        # joining twice is one membership: one copy of each message
        await c.ask(type="join", channel=ch)
        await a.ask(type="message", channel=ch, text="once")
        assert (await c.recv())["text"] == "once"
        await c.quiet(0.3)
        for x in (a, b, c):
            await x.close()

    run(go())


def test_every_error_code_keeps_the_connection_open(env):
    async def go():
        a = await Chat.open(env.srv)
        await a.raw("{not json")
        r = await a.recv()
        assert r["type"] == "error" and r["code"] == "bad_json" and r["ref"] is None, r
        await a.raw('{"type":"hello","type":"join"}')
        assert (await a.recv())["code"] == "bad_json"  # duplicate keys
        for frame in ("[1,2]", '"hello"', "{}", '{"type":5}', '{"type":"hello","ref":{"a":1}}',
                      '{"type":"hello","name":7}'):
            await a.raw(frame)
            r = await a.recv()
            assert r["code"] == "bad_request", (frame, r)
        await a.expect_error("unknown_type", type="shout", ref="u")
        await a.expect_error("hello_first", type="message", channel="x", text="y")
        await a.expect_error("bad_request", type="hello")  # anonymous: a name is needed
        for bad in ("", " lead", "trail ", "a\nb", "x" * 33, "\u0085"):
            await a.expect_error("bad_name", type="hello", name=bad)
        await a.hello("\u00e9" * 32)  # 32 characters (64 bytes) is fine
        await a.expect_error("bad_request", type="hello", name="again")
        for bad in ("", "x" * 65, "tab\there", "\x7f"):
            await a.expect_error("bad_channel", type="create", channel=bad)
        await a.expect_error("bad_request", type="create")
        await a.expect_error("bad_request", type="join", channel=["x"])
        await a.expect_error("no_such_channel", type="join", channel=uname("nowhere"))
        ch = "\u65e5\u672c\u8a9e " + uname("c")  # any UTF-8
        assert (await a.ask(type="create", channel=ch))["channel"] == ch
        await a.expect_error("no_such_channel", type="message", channel=uname("nowhere"), text="x")
        await a.expect_error("not_joined", type="message", channel=ch, text="x")
        await a.ask(type="join", channel=ch)
        await a.expect_error("bad_request", type="message", channel=ch)
        await a.expect_error("bad_request", type="message", channel=ch, text=5)
        await a.expect_error("bad_text", type="message", channel=ch, text="", ref="t")
        await a.expect_error("bad_text", type="message", channel=ch, text="x" * 2001)
        r = await a.ask(type="message", channel=ch, text="\U0001F600" * 2000)  # 2000 characters, 8000 bytes
        assert r["type"] == "message", r
        await a.raw('{"type":"message","channel":"x","text":"a\\u0000b"}')
        assert (await a.recv())["code"] == "bad_json"  # no NUL anywhere
        # still open, still working
        assert (await a.ask(type="message", channel=ch, text="still here"))["text"] == "still here"
        await a.close()

    run(go())


def test_names_in_use(env):
    async def go():
        n = uname("dora")
        a, b = await Chat.open(env.srv), await Chat.open(env.srv)
        await a.hello(n)
        await b.expect_error("name_taken", type="hello", name=n)
        await b.expect_error("name_taken", type="hello", name=n.upper())  # one name, whatever the case
        # the HTTP API may not speak as a connected client either
        ch = uname("n")
        assert env.http.post("/api/chat/channels", json={"name": ch}).status_code == 201
        body = error(env.http.post(f"/api/chat/channels/{q(ch)}/messages", json={"name": n, "text": "x"}), 409)
        assert body["code"] == "name_taken"
        await a.close()
        # gone: the name is free again
        deadline = time.monotonic() + 5
        while True:
            r = await b.ask(type="hello", name=n)
            if r["type"] == "welcome" or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        assert r["type"] == "welcome", r
        await b.close()

    run(go())


def test_binary_frames_close_with_1003(env):
    async def go():
        a = await Chat.open(env.srv)
        await a.hello(uname("bin"))
        await a.raw(b"\x00\x01")
        with pytest.raises(websockets.ConnectionClosed) as ei:
            await a.recv()
        assert ei.value.rcvd.code == 1003, ei.value

    run(go())


def test_node_ws_client_chats_with_python(env):
    """npm `ws` (compression on) and python websockets in one channel."""
    from test_websocket import WS_CLIENT
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed")
    if not (WS_CLIENT / "node_modules" / "ws").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WS_CLIENT,
                       capture_output=True, timeout=180, check=True)
    ch = uname("node")
    assert env.http.post("/api/chat/channels", json={"name": ch}).status_code == 201
    nn = uname("nodey")

    async def go():
        py = await Chat.open(env.srv)
        await py.hello(uname("py"))
        await py.ask(type="join", channel=ch)
        proc = await asyncio.create_subprocess_exec(node, str(WS_CLIENT / "chat.js"), str(env.srv.port), nn, ch,
                                                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        got = await py.recv(timeout=20)  # node's message
        assert got["name"] == nn and got["text"].startswith("hello from node"), got
        await py.ask(type="message", channel=ch, text="hello from python")
        out, err = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, err
        await py.close()
        return json.loads(out)

    r = run(go())
    assert r["extensions"].startswith("permessage-deflate"), r
    assert r["welcome"]["name"] == nn and r["history"]["ref"] == "j"
    assert r["sent"]["ref"] == "n1" and r["sent"]["text"] == "hello from node " + "\u00fc" * 600
    assert r["received"]["text"] == "hello from python" and "ref" not in r["received"]
    assert r["close"] == 1000


def test_a_frame_over_1_mib_closes_with_1009(env):
    async def go():
        a = await Chat.open(env.srv)
        await a.hello(uname("big"))
        await a.raw(json.dumps({"type": "message", "channel": "x", "text": "y" * (1 << 20)}))
        with pytest.raises(websockets.ConnectionClosed) as ei:
            await a.recv()
        assert ei.value.rcvd.code == 1009, ei.value

    run(go())


# ---------------------------------------------------------------------------- HTTP API and SSE


def test_http_api_and_history_of_100(env):
    c = env.http
    ch = "api " + uname("ch") + "/slash"
    r = c.post("/api/chat/channels", json={"name": ch})
    assert r.status_code == 201 and r.json() == {"name": ch, "messages": 0}, r.text
    assert r.headers["Location"].endswith(f"/api/chat/channels/{q(ch)}/messages"), r.headers
    assert error(c.post("/api/chat/channels", json={"name": ch}), 409)["code"] == "channel_exists"
    assert error(c.post("/api/chat/channels", data="{", headers={"Content-Type": "application/json"}),
                 400)["code"] == "bad_json"
    assert error(c.post("/api/chat/channels", json={"name": ""}), 400)["code"] == "bad_channel"
    assert error(c.post("/api/chat/channels", json={}), 400)["code"] == "bad_request"
    assert error(c.post("/api/chat/channels", json=["x"]), 400)["code"] == "bad_request"
    base = f"/api/chat/channels/{q(ch)}/messages"
    assert error(c.get(f"/api/chat/channels/{q(uname('none'))}/messages"), 404)["code"] == "no_such_channel"
    assert error(c.post(base, json={"text": "no name"}), 400)["code"] == "bad_request"
    assert error(c.post(base, json={"name": "bot", "text": ""}), 400)["code"] == "bad_text"
    assert error(c.post(base, json={"name": "", "text": "x"}), 400)["code"] == "bad_name"

    async def go():
        w = await Chat.open(env.srv)
        await w.hello(uname("watcher"))
        await w.ask(type="join", channel=ch)
        ids = []
        for i in range(105):
            r = c.post(base, json={"name": "bot", "text": f"m{i}"})
            assert r.status_code == 201, r.text
            check_message(r.json(), channel=ch, name="bot", text=f"m{i}")
            ids.append(r.json()["id"])
        for i in range(105):  # every post reached the WebSocket client, in order
            m = await w.recv()
            assert m["type"] == "message" and m["text"] == f"m{i}" and m["id"] == ids[i], m
        await w.close()
        n = await Chat.open(env.srv)
        await n.hello(uname("late"))
        h = await n.ask(type="join", channel=ch)
        assert [m["text"] for m in h["messages"]] == [f"m{i}" for i in range(5, 105)]
        await n.close()
        return ids

    ids = run(go())
    lst = c.get("/api/chat/channels").json()
    assert {"name": ch, "messages": 100} in lst, lst
    # keyset pages, oldest first, Link to the next
    seen, url = [], base + "?limit=30"
    while url:
        r = c.get(url)
        assert r.status_code == 200, r.text
        seen += r.json()
        url = r.links.get("next", {}).get("url")
        if url:
            url = url[len(c.base):] if url.startswith("http") else url
    assert [m["id"] for m in seen] == ids[5:], (len(seen), seen[:2])
    assert error(c.get(base + "?after=%%%"), 400)
    assert error(c.get(base + "?limit=101"), 400)


def test_sse_events_and_replay(env):
    c = env.http
    ch = uname("sse")
    assert c.post("/api/chat/channels", json={"name": ch}).status_code == 201
    base = f"/api/chat/channels/{q(ch)}"
    first = c.post(base + "/messages", json={"name": "bot", "text": "one"}).json()
    with Sse(env.srv.port, base + "/events") as s:
        s.wait_head()
        assert s.status == 200 and s.headers.get("content-type", "").startswith("text/event-stream")

        async def speak():
            a = await Chat.open(env.srv)
            await a.hello(uname("sp"))
            await a.ask(type="join", channel=ch)
            r = await a.ask(type="message", channel=ch, text="two", ref="x")
            await a.close()
            return r

        two = run(speak())
        e = s.events(1)[0]
        assert e["event"] == "message" and e["id"] == str(two["id"]), e
        assert json.loads(e["data"]) == {k: v for k, v in two.items() if k not in ("type", "ref")}
    three = c.post(base + "/messages", json={"name": "bot", "text": "three"}).json()
    with Sse(env.srv.port, base + "/events", headers=[f"Last-Event-ID: {first['id']}"]) as s:
        s.wait_head()
        got = s.events(2)
        assert [json.loads(e["data"])["text"] for e in got] == ["two", "three"], got
        assert got[1]["id"] == str(three["id"])
        four = c.post(base + "/messages", json={"name": "bot", "text": "four"}).json()
        e = s.events(1)[0]
        assert json.loads(e["data"]) == four, e
    assert error(c.get(f"/api/chat/channels/{q(uname('none'))}/events"), 404)["code"] == "no_such_channel"


def test_counter_and_restart(servers):
    e = servers()
    ch = uname("keep")

    async def go(srv):
        a = await Chat.open(srv)
        await a.hello(uname("k"))
        await a.ask(type="create", channel=ch)
        await a.ask(type="join", channel=ch)
        r = await a.ask(type="message", channel=ch, text="kept")
        await a.close()
        return r

    r = run(go(e.srv))
    e.http.post(f"/api/chat/channels/{q(ch)}/messages", json={"name": "bot", "text": "kept too"})
    m = e.http.get("/metrics").text
    assert 'vial_chat_messages_total{via="ws"} 1' in m and 'vial_chat_messages_total{via="http"} 1' in m, m
    e.restart()

    async def after(srv):
        a = await Chat.open(srv)
        w = await a.hello(uname("k"))
        assert ch in w["channels"]
        h = await a.ask(type="join", channel=ch)
        assert [x["text"] for x in h["messages"]] == ["kept", "kept too"] and h["messages"][0]["id"] == r["id"]
        await a.close()

    run(after(e.srv))


@pytest.mark.parametrize("backend", BACKENDS)
def test_acknowledged_messages_survive_kill_9(servers, backend):
    """A message whose copy came back (or whose POST answered 201) is
    committed: after kill -9 and a restart it is in the history."""
    e = servers(backend=backend)
    ch = uname("k9")
    assert e.http.post("/api/chat/channels", json={"name": ch}).status_code == 201
    posted = e.http.post(f"/api/chat/channels/{q(ch)}/messages", json={"name": "bot", "text": "by http"}).json()

    async def go(srv):
        a = await Chat.open(srv)
        await a.hello(uname("k"))
        await a.ask(type="join", channel=ch)
        return await a.ask(type="message", channel=ch, text="acknowledged")

    sent = run(go(e.srv))
    e.srv.proc.kill()  # SIGKILL: no shutdown, no flush
    e.srv.proc.wait(timeout=10)
    e.http.close()
    e.srv = start_server(e.db, e.tmp, *CHEAP_ARGON2, secret=e.secret)
    e.http = Client(e.srv, addr=None)
    msgs = e.http.get(f"/api/chat/channels/{q(ch)}/messages").json()
    assert [(m["id"], m["text"]) for m in msgs] == [(posted["id"], "by http"), (sent["id"], "acknowledged")]


def test_rate_limit_closes_with_1008(servers):
    e = servers("--chat-rate", "1", "--chat-burst", "5")

    async def go():
        a = await Chat.open(e.srv)
        await a.hello(uname("fl"))
        for i in range(4):
            await a.send(type="create", channel=f"{uname('f')}")
        for _ in range(4):
            assert (await a.recv())["type"] == "channel"
        await a.send(type="leave", channel="x")  # the 6th frame in a burst of 5
        with pytest.raises(websockets.ConnectionClosed) as ei:
            while True:
                await a.recv()
        assert ei.value.rcvd.code == 1008, ei.value

    run(go())


def test_stopping_the_server_with_chat_clients_connected(servers):
    """SIGTERM: every chat client gets 1001, and the close handlers (which
    give names back through the store) run before the worker goes: the
    server exits 0 with nothing for a sanitizer to say."""
    e = servers()

    async def go():
        a, b = await Chat.open(e.srv), await Chat.open(e.srv)
        ch = uname("stop")
        await a.hello(uname("s"))
        await b.hello(uname("t"))
        await a.ask(type="create", channel=ch)
        await b.recv()
        await a.ask(type="join", channel=ch)
        await b.ask(type="join", channel=ch)
        e.srv.proc.send_signal(signal.SIGTERM)
        for x in (a, b):
            with pytest.raises(websockets.ConnectionClosed) as ei:
                while True:
                    await x.recv()
            assert ei.value.rcvd.code == 1001, ei.value

    run(go())
    assert e.srv.proc.wait(timeout=15) == 0


# ---------------------------------------------------------------------------- auth


def test_logged_in_users_and_chat_anonymous_off(servers):
    e = servers("--no-chat-anonymous")
    acct = e.http.user(prefix="ann")

    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as ei:
            await Chat.open(e.srv)
        assert ei.value.status_code == 401
        with pytest.raises(websockets.InvalidStatusCode) as ei:
            await Chat.open(e.srv, headers={"Authorization": "Bearer not.a.token"})
        assert ei.value.status_code == 401
        a = await Chat.open(e.srv, headers={"Authorization": f"Bearer {acct.token}"})
        w = await a.hello()  # no name: the account's
        assert w["name"] == acct.name
        await a.close()
        b = await Chat.open(e.srv, headers={"Authorization": f"Bearer {acct.token}"})
        await b.expect_error("bad_name", type="hello", name="someone else")
        assert (await b.hello(acct.name))["name"] == acct.name  # a second tab of the same account
        await b.close()

    run(go())
    error(e.http.get("/api/chat/channels"), 401)
    assert e.http.get("/api/chat/channels", token=acct.token).status_code == 200
    ch = uname("auth")
    assert e.http.post("/api/chat/channels", json={"name": ch}, token=acct.token).status_code == 201
    r = e.http.post(f"/api/chat/channels/{q(ch)}/messages", json={"text": "signed"}, token=acct.token)
    assert r.status_code == 201 and r.json()["name"] == acct.name, r.text


def test_an_account_name_is_its_owners(env):
    acct = env.http.user(prefix="own")

    async def go():
        a = await Chat.open(env.srv)
        await a.expect_error("name_taken", type="hello", name=acct.name)
        await a.close()
        b = await Chat.open(env.srv, headers={"Authorization": f"Bearer {acct.token}"})
        assert (await b.hello())["name"] == acct.name
        await b.close()

    run(go())


# ---------------------------------------------------------------------------- two instances, one Redis


def test_two_instances_share_one_redis(tmp_path, cluster, redis_url):
    """Both on one PostgreSQL database (what several instances behind a
    proxy share), and one Redis: a message sent on A reaches a client on B,
    a post on B reaches a client on A, names are unique across both."""
    c = cluster()
    db = Database("postgresql", tmp_path, c)
    secret = new_secret()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    srvs = [start_server(db, tmp_path / n, *CHEAP_ARGON2, "--redis-url", redis_url, secret=secret)
            for n in ("a", "b")]
    port = redis_url.rsplit(":", 1)[1].split("/")[0]
    ch = uname("both")
    async def numsub(n, topic=None):
        deadline = time.monotonic() + 8
        while True:  # the instances SUBSCRIBEd in Redis (asynchronously, on their Redis threads)
            r = subprocess.run(["redis-cli", "-p", port, "pubsub", "numsub", f"vial:{topic or 'chat:' + ch}"],
                               capture_output=True, text=True)
            if r.stdout.split()[-1:] == [str(n)]:
                return
            assert time.monotonic() < deadline, r.stdout
            await asyncio.sleep(0.05)

    try:
        async def go():
            a, b = await Chat.open(srvs[0]), await Chat.open(srvs[1])
            n = uname("x")
            await a.hello(n)
            await b.expect_error("name_taken", type="hello", name=n)
            await b.hello(uname("y"))
            await numsub(2, "chat")
            await a.ask(type="create", channel=ch)
            assert await b.recv() == {"type": "channel", "channel": ch}  # across instances
            await a.ask(type="join", channel=ch)
            await b.ask(type="join", channel=ch)
            await numsub(2)
            sent = await a.ask(type="message", channel=ch, text="from A", ref="a1")
            got = await b.recv()
            assert got["text"] == "from A" and got["id"] == sent["id"], got
            cb = Client(srvs[1], addr=None)
            posted = cb.post(f"/api/chat/channels/{q(ch)}/messages", json={"name": "bot", "text": "from B"}).json()
            cb.close()
            assert (await a.recv())["id"] == posted["id"]
            assert (await b.recv())["id"] == posted["id"]
            # Redis restarted: both instances reconnect by themselves, subscribe
            # again, and messages cross again; the open connections never noticed.
            rdir = tmp_path / "redis"
            subprocess.run(["bash", str(REDIS_SH), "stop", str(rdir)], check=True, capture_output=True)
            for s in srvs:
                assert s.wait_log(r"pub/sub: lost the connection to Redis", timeout=5), s.log()[-2000:]
            subprocess.run(["bash", str(REDIS_SH), "start", str(rdir), port], check=True, capture_output=True)
            for s in srvs:
                assert s.wait_log(r"pub/sub: reconnected to Redis", timeout=8), s.log()[-2000:]
            await numsub(2)
            sent = await a.ask(type="message", channel=ch, text="after the restart")
            got = await b.recv()
            assert got["text"] == "after the restart" and got["id"] == sent["id"], got
            await a.close()
            await b.close()

        run(go())
    finally:
        problems = []
        for s in srvs:
            problems += s.problems(0)
        db.close()
    assert not problems, problems

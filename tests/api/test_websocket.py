"""
WebSocket (RFC 6455, permessage-deflate RFC 7692) against a real
vial-testapp: the handshake's refusals and acceptance, Debian's
python3-websockets as a real client (text, binary, the size limit, with
and without compression, compression parameters, subprotocols, close
codes), raw sockets for every framing rule, modelled on the Autobahn test
suite's categories (1 framing, 2 pings/pongs, 3 reserved bits, 4 opcodes,
5 fragmentation, 6 UTF-8, 7 close handling, 9 large messages, 10
auto-fragmentation, 12/13 compression), liveness (pings, pong timeout,
idle timeout), a client that does not read, graceful shutdown, sending by
id from another thread, authentication before the 101, and npm's `ws` as
a second, independent client.
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import pathlib
import shutil
import signal
import socket
import struct
import subprocess
import time

import pytest
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

from conftest import REPO, Conn, assert_error, build_request

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
SECRET = "testapp-secret-key-for-the-api-tests-0123"
MAX = 1 << 20  # ws_max_message's default


def run(coro, timeout=30):
    return asyncio.run(asyncio.wait_for(coro, timeout))


def url(server, path="/ws/echo"):
    return f"ws://127.0.0.1:{server.port}{path}"


# ---------------------------------------------------------------------------- a raw client


def frame(b0: int, payload: bytes = b"", mask=True, lenform=0, key=b"\x37\xfa\x21\x3d") -> bytes:
    """A frame as a client sends it.  `lenform` 2 or 8 forces that length
    form (not the shortest); `b0` is FIN | RSV | opcode."""
    n = len(payload)
    m = 0x80 if mask else 0
    if lenform == 8 or (lenform == 0 and n > 0xFFFF):
        head = bytes([b0, m | 127]) + struct.pack("!Q", n)
    elif lenform == 2 or (lenform == 0 and n > 125):
        head = bytes([b0, m | 126]) + struct.pack("!H", n)
    else:
        head = bytes([b0, m | n])
    if not mask:
        return head + payload
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    return head + key + masked


def text(s: str | bytes, fin=True) -> bytes:
    return frame((0x80 if fin else 0) | 1, s.encode() if isinstance(s, str) else s)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return struct.pack("!H", code) + reason


class Raw:
    """A WebSocket client on a plain socket: the handshake, then frames as
    given (masked or not, any length form), frames read back unmasked."""

    def __init__(self, port, path="/ws/echo", headers=None, timeout=5.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.key = base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", self.key), ("Sec-WebSocket-Version", "13")] + list(headers or [])
        self.sock.sendall(build_request("GET", path, hdrs))
        while b"\r\n\r\n" not in self.buf:
            assert self._fill(), "connection closed during the handshake"
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers = {k.lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        assert self.status == 101, head
        want = base64.b64encode(hashlib.sha1((self.key + GUID).encode()).digest()).decode()
        assert self.headers["sec-websocket-accept"] == want

    def _fill(self) -> bool:
        try:
            b = self.sock.recv(1 << 20)
        except (ConnectionResetError, BrokenPipeError):
            b = b""
        if not b:
            return False
        self.buf += b
        return True

    def send(self, data: bytes, chop: int | None = None):
        if chop:
            for i in range(0, len(data), chop):
                self.sock.sendall(data[i:i + chop])
        else:
            self.sock.sendall(data)

    def recv_frame(self):
        """(fin, rsv, opcode, payload), or None at EOF."""
        while True:
            if len(self.buf) >= 2:
                b0, b1 = self.buf[0], self.buf[1]
                assert not b1 & 0x80, "the server masked a frame"
                n, off = b1 & 0x7F, 2
                if n == 126:
                    if len(self.buf) >= 4:
                        n, off = struct.unpack("!H", self.buf[2:4])[0], 4
                    else:
                        n = None
                elif n == 127:
                    if len(self.buf) >= 10:
                        n, off = struct.unpack("!Q", self.buf[2:10])[0], 10
                    else:
                        n = None
                if n is not None and len(self.buf) >= off + n:
                    payload, self.buf = self.buf[off:off + n], self.buf[off + n:]
                    return bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF, payload
            if not self._fill():
                assert not self.buf, f"EOF inside a frame: {self.buf[:40]!r}"
                return None

    def recv_data(self):
        """The next data frame's (opcode, payload), answering nothing."""
        f = self.recv_frame()
        assert f is not None, "connection closed"
        return f[2], f[3]

    def expect_close(self, code: int, reason_part: str | None = None, eof=True):
        """Reads to the server's close frame (data frames before it are
        skipped), checks its code, and that the server then closes TCP."""
        while True:
            f = self.recv_frame()
            assert f is not None, "EOF without a close frame"
            if f[2] == 8:
                break
        payload = f[3]
        got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
        assert got == code, (got, payload)
        if reason_part is not None:
            assert reason_part in payload[2:].decode(), payload
        if eof:
            assert self.at_eof(), "the server did not close the connection after its close frame"
        return payload[2:].decode()

    def at_eof(self, timeout=3.0) -> bool:
        self.sock.settimeout(timeout)
        try:
            while self._fill():
                pass
        except socket.timeout:
            return False
        return True

    def close(self):
        self.sock.close()


def violation(server, data: bytes, code: int, first=True):
    """Sends `data` after one good message; the server answers the good one,
    then closes with `code`, and nothing after the violation is read."""
    ws = Raw(server.port)
    try:
        if first:
            ws.send(text("ok"))
            assert ws.recv_data() == (1, b"ok")
        ws.send(data + text("never read"))
        ws.expect_close(code)
    finally:
        ws.close()


# ---------------------------------------------------------------------------- the handshake


def handshake(port, path="/ws/echo", drop=(), extra=(), version="HTTP/1.1", method="GET"):
    hdrs = [("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="), ("Sec-WebSocket-Version", "13")]
    hdrs = [h for h in hdrs if h[0] not in drop] + list(extra)
    with Conn(port) as c:
        return c.request(method, path, headers=hdrs, version=version)


def test_handshake_accepted(server):
    r = handshake(server.port)
    assert r.status == 101, r
    assert r.header("upgrade") == "websocket"
    assert r.header("connection") == "Upgrade"
    assert r.header("sec-websocket-accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 1.3
    assert r.header("sec-websocket-protocol") is None


def test_plain_http_is_426(server):
    r = server.get("/ws/echo")
    assert_error(r, 426, "upgrade_required_426")
    assert r.header("upgrade") == "websocket"
    assert r.header("sec-websocket-version") == "13"


@pytest.mark.parametrize("version", [None, "8", "14", "13, 8"])
def test_other_versions_are_426(server, version):
    extra = [("Sec-WebSocket-Version", version)] if version else []
    r = handshake(server.port, drop=("Sec-WebSocket-Version",), extra=extra)
    assert_error(r, 426)
    assert r.header("sec-websocket-version") == "13"


@pytest.mark.parametrize("case", ["no connection upgrade", "connection close", "no key", "short key",
                                  "key not base64", "two keys", "http/1.0"])
def test_malformed_handshake_is_400(server, case):
    kw = {}
    if case == "no connection upgrade":
        kw = dict(drop=("Connection",))
    elif case == "connection close":
        kw = dict(drop=("Connection",), extra=[("Connection", "close")])
    elif case == "no key":
        kw = dict(drop=("Sec-WebSocket-Key",))
    elif case == "short key":
        kw = dict(drop=("Sec-WebSocket-Key",), extra=[("Sec-WebSocket-Key", "c2hvcnQ=")])
    elif case == "key not base64":
        kw = dict(drop=("Sec-WebSocket-Key",), extra=[("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==")])
    elif case == "two keys":
        kw = dict(extra=[("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")])
    elif case == "http/1.0":
        kw = dict(version="HTTP/1.0")
    assert_error(handshake(server.port, **kw), 400)


def test_other_methods_405(server):
    r = handshake(server.port, method="POST", extra=[("Content-Length", "0")])
    assert r.status == 405, r
    assert "GET" in r.header("allow")


@pytest.mark.parametrize("origin,status", [
    (None, 101),                              # not a browser
    ("http://test", 101),                     # the request's Host is "test"
    ("https://test", 101),
    ("http://evil.example", 403),             # cross-site WebSocket hijacking
    ("http://test.evil.example", 403),
    ("http://test:8080", 403),
    ("null", 403),
])
def test_origin(server, origin, status):
    extra = [("Origin", origin)] if origin else []
    r = handshake(server.port, extra=extra)
    if status == 403:
        assert_error(r, 403)
    else:
        assert r.status == status, r


def test_allowed_origins_setting(start_server):
    srv = start_server("--workers", "1", "--ws-allowed-origins", "https://app.example,http://localhost:3000")
    assert handshake(srv.port, extra=[("Origin", "https://app.example")]).status == 101
    assert handshake(srv.port, extra=[("Origin", "http://localhost:3000")]).status == 101
    assert handshake(srv.port, extra=[("Origin", "http://localhost:3001")]).status == 403
    assert handshake(srv.port, extra=[("Origin", "http://test")]).status == 101  # same origin still


# ---------------------------------------------------------------------------- a real client


@pytest.mark.parametrize("compression", ["deflate", None])
def test_echo(server, compression):
    async def go():
        async with websockets.connect(url(server), compression=compression) as ws:
            ext = ws.response_headers.get("Sec-WebSocket-Extensions")
            assert (ext is not None) == (compression is not None), ext
            for m in ["hello", "", "κόσμε ☃ 😀", "x" * 5000]:
                await ws.send(m)
                assert await ws.recv() == m
            for b in [b"", b"\x00\xff" * 3, os.urandom(70000)]:
                await ws.send(b)
                assert await ws.recv() == b
            # a fragmented message from the client
            await ws.send(iter(["frag", "men", "ted"]))
            assert await ws.recv() == "fragmented"
    run(go())


@pytest.mark.parametrize("compression", ["deflate", None])
def test_large_messages_at_the_limit(server, compression):
    async def go():
        async with websockets.connect(url(server), compression=compression, max_size=MAX) as ws:
            m = os.urandom(MAX)
            await ws.send(m)
            assert await ws.recv() == m
            t = "a" * MAX
            await ws.send(t)
            assert await ws.recv() == t
        async with websockets.connect(url(server), compression=compression) as ws:
            await ws.send(b"b" * (MAX + 1))
            with pytest.raises(websockets.ConnectionClosedError) as e:
                await ws.recv()
            assert e.value.rcvd.code == 1009
    run(go())


@pytest.mark.parametrize("params", [
    dict(),
    dict(client_no_context_takeover=True),
    dict(server_no_context_takeover=True),
    dict(server_max_window_bits=10),
    dict(client_max_window_bits=9),
    dict(server_max_window_bits=9, client_max_window_bits=15, client_no_context_takeover=True),
])
def test_deflate_parameters(server, params):
    """Autobahn 12/13: compressed messages under each negotiated parameter."""
    async def go():
        ext = ClientPerMessageDeflateFactory(compress_settings={"memLevel": 5}, **params)
        async with websockets.connect(url(server), compression=None, extensions=[ext]) as ws:
            hdr = ws.response_headers["Sec-WebSocket-Extensions"]
            assert hdr.startswith("permessage-deflate")
            if "server_max_window_bits" in params:
                assert f"server_max_window_bits={params['server_max_window_bits']}" in hdr
            msgs = ["{\"n\": %d, \"payload\": \"%s\"}" % (i, "ab" * (i * 40)) for i in range(30)]
            for m in msgs:
                await ws.send(m)
            for m in msgs:
                assert await ws.recv() == m
            big = os.urandom(300000)
            await ws.send(big)
            assert await ws.recv() == big
    run(go())


def test_compression_takeover_setting(start_server):
    srv = start_server("--workers", "1", "--ws-compression-takeover")

    async def go():
        async with websockets.connect(url(srv)) as ws:
            hdr = ws.response_headers["Sec-WebSocket-Extensions"]
            assert "no_context_takeover" not in hdr, hdr
            for i in range(20):
                await ws.send("repeat me " * 200)
                assert await ws.recv() == "repeat me " * 200
    run(go())
    srv2 = start_server("--workers", "1", "--no-ws-compression")

    async def go2():
        async with websockets.connect(url(srv2)) as ws:
            assert ws.response_headers.get("Sec-WebSocket-Extensions") is None
            await ws.send("plain")
            assert await ws.recv() == "plain"
    run(go2())


def test_subprotocols(server):
    async def go():
        async with websockets.connect(url(server, "/ws/chat"), subprotocols=["chat.v1", "chat.v2"]) as ws:
            assert ws.subprotocol == "chat.v2"  # the server's preference
            await ws.send("protocol")
            assert await ws.recv() == "chat.v2"
        async with websockets.connect(url(server, "/ws/chat"), subprotocols=["chat.v1"]) as ws:
            assert ws.subprotocol == "chat.v1"
        async with websockets.connect(url(server, "/ws/chat")) as ws:
            assert ws.subprotocol is None
    run(go())
    r = handshake(server.port, "/ws/chat", extra=[("Sec-WebSocket-Protocol", "other, v3")])
    assert r.status == 101 and r.header("sec-websocket-protocol") is None


def test_close_codes(server):
    async def go():
        async with websockets.connect(url(server)) as ws:
            await ws.send("id")
            wid = await ws.recv()
            await ws.close(4001, "bye")
            assert ws.close_code == 4001  # echoed
        assert server.wait_log(rf"ws closed {wid} 4001 bye")
        async with websockets.connect(url(server)) as ws:
            await ws.send("close-me")
            with pytest.raises(websockets.ConnectionClosed):
                await ws.recv()
            assert ws.close_code == 4000 and ws.close_reason == "as you wish"
        async with websockets.connect(url(server)) as ws:
            await ws.send("bad-text")
            assert await ws.recv() == "invalid argument"  # vial_ws_send refuses invalid UTF-8
    run(go())


# ---------------------------------------------------------------------------- Autobahn-style framing


@pytest.mark.parametrize("n", [0, 1, 125, 126, 127, 128, 65535, 65536, 65537])
def test_cat1_lengths(server, n):
    ws = Raw(server.port)
    try:
        t = ("a" * n).encode()
        b = bytes(i & 0xFF for i in range(n))
        ws.send(text(t) + frame(0x82, b))
        assert ws.recv_data() == (1, t)
        assert ws.recv_data() == (2, b)
        # the same frames written a byte (then 997 bytes) at a time
        ws.send(text(t[:300]), chop=1)
        assert ws.recv_data() == (1, t[:300])
        ws.send(frame(0x82, b), chop=997)
        assert ws.recv_data() == (2, b)
    finally:
        ws.close()


def test_cat2_pings(server):
    ws = Raw(server.port)
    try:
        for p in [b"", b"hello", bytes(range(125))]:
            ws.send(frame(0x89, p))
            assert ws.recv_frame() == (True, 0, 0xA, p)
        ws.send(b"".join(frame(0x89, b"%d" % i) for i in range(10)))
        for i in range(10):
            assert ws.recv_frame() == (True, 0, 0xA, b"%d" % i)
        ws.send(frame(0x8A, b"unsolicited") + text("still here"))
        assert ws.recv_data() == (1, b"still here")
    finally:
        ws.close()
    violation(server, frame(0x89, b"x" * 126), 1002)


@pytest.mark.parametrize("rsv", range(1, 8))
def test_cat3_reserved_bits(server, rsv):
    violation(server, frame(0x81 | rsv << 4, b"x"), 1002)
    violation(server, frame(0x89 | rsv << 4, b""), 1002)


@pytest.mark.parametrize("op", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_cat4_reserved_opcodes(server, op):
    violation(server, frame(0x80 | op, b"x"), 1002)


def test_cat5_fragmentation(server):
    ws = Raw(server.port)
    try:
        # fragments with pings between them: each ping answered at once
        ws.send(frame(0x01, b"fra") + frame(0x89, b"p1"))
        assert ws.recv_frame() == (True, 0, 0xA, b"p1")
        ws.send(frame(0x00, b"") + frame(0x00, b"gme") + frame(0x89, b"p2"))
        assert ws.recv_frame() == (True, 0, 0xA, b"p2")
        ws.send(frame(0x80, b"nted"))
        assert ws.recv_data() == (1, b"fragmented")
        # one-byte fragments
        msg = b"one byte at a time"
        data = frame(0x02, msg[:1]) + b"".join(frame(0x00, msg[i:i + 1]) for i in range(1, len(msg) - 1))
        ws.send(data + frame(0x80, msg[-1:]))
        assert ws.recv_data() == (2, msg)
    finally:
        ws.close()
    violation(server, frame(0x80, b"nothing to continue"), 1002)
    violation(server, frame(0x00, b"x"), 1002)
    violation(server, frame(0x09, b"fragmented ping") + frame(0x80, b""), 1002)
    violation(server, frame(0x01, b"a") + frame(0x81, b"b"), 1002)
    violation(server, frame(0x01, b"a") + frame(0x02, b"b"), 1002)


def test_cat6_utf8(server):
    snowman = "κόσμε ☃ 😀".encode()
    ws = Raw(server.port)
    try:
        # valid text split inside its characters, at every byte
        for cut in range(1, len(snowman)):
            ws.send(frame(0x01, snowman[:cut]) + frame(0x80, snowman[cut:]))
            assert ws.recv_data() == (1, snowman)
    finally:
        ws.close()
    for bad in [b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited", b"\xc0\xaf",
                b"\xf4\x90\x80\x80", b"\xed\xbf\xbf", b"\xff", b"abc\xe2\x82"]:
        violation(server, text(bad), 1007)
    # split across fragments: the second one completes it wrongly
    violation(server, frame(0x01, b"ok\xf0\x9f") + frame(0x80, b"\x98\x28"), 1007)
    # binary is not checked
    ws = Raw(server.port)
    try:
        ws.send(frame(0x82, b"\xff\xfe"))
        assert ws.recv_data() == (2, b"\xff\xfe")
    finally:
        ws.close()


def test_cat6_fails_fast(server):
    """The verdict comes with the bad byte: a 1000-byte text frame whose
    fourth byte is invalid is refused before the rest is sent."""
    ws = Raw(server.port)
    try:
        whole = text(b"abc\xff" + b"a" * 996)
        ws.send(whole[:6 + 4 + 4])  # header, mask, four payload bytes
        ws.expect_close(1007)
    finally:
        ws.close()


@pytest.mark.parametrize("code", [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999])
def test_cat7_valid_close_codes(server, code):
    ws = Raw(server.port)
    try:
        ws.send(frame(0x88, close_payload(code, b"reason")) + text("after the close"))
        ws.expect_close(code)  # echoed; "after the close" was never answered
    finally:
        ws.close()


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535])
def test_cat7_invalid_close_codes(server, code):
    violation(server, frame(0x88, close_payload(code)), 1002)


def test_cat7_close_payloads(server):
    ws = Raw(server.port)
    try:
        ws.send(frame(0x88, b""))
        ws.expect_close(1005)  # answered without a code
    finally:
        ws.close()
    violation(server, frame(0x88, b"\x03"), 1002)  # one byte
    violation(server, frame(0x88, close_payload(1000, b"\xce\xba\xed\xa0\x80")), 1007)
    violation(server, frame(0x88, close_payload(1000, b"x" * 124)), 1002)  # 126 bytes: too long for control
    ws = Raw(server.port)
    try:
        ws.send(frame(0x88, close_payload(1000, "ü".encode() * 61)))  # 124 bytes: fine
        ws.expect_close(1000)
    finally:
        ws.close()


def test_framing_rules(server):
    violation(server, frame(0x81, b"unmasked", mask=False), 1002)
    violation(server, frame(0x81, b"short", lenform=2), 1002)  # 16-bit length for 5 bytes
    violation(server, frame(0x82, b"x" * 300, lenform=8), 1002)  # 64-bit length for 300
    violation(server, bytes([0x82, 0xFF]) + struct.pack("!Q", 1 << 63) + b"mask", 1002)


def test_limit_announced_in_header(server):
    """A frame announcing more than ws_max_message is refused at its
    header: the payload is never sent, never buffered."""
    ws = Raw(server.port)
    try:
        ws.send(bytes([0x82, 0xFF]) + struct.pack("!Q", MAX + 1) + b"mask")
        ws.expect_close(1009)
    finally:
        ws.close()
    # fragments whose running total passes it
    violation(server, frame(0x02, b"a" * (MAX // 2)) + frame(0x00, b"b" * (MAX // 2)) + frame(0x80, b"c"), 1009)


def test_cat9_large_messages(server):
    ws = Raw(server.port, timeout=20)
    try:
        m = os.urandom(MAX)
        for size in [65536, 4096]:
            frames = frame(0x02, m[:size]) + b"".join(
                frame(0x00, m[i:i + size]) for i in range(size, MAX - size, size)) + frame(0x80, m[MAX - size:])
            ws.send(frames, chop=1500)
            assert ws.recv_data() == (2, m)
        ws.send(frame(0x82, m))
        assert ws.recv_data() == (2, m)
    finally:
        ws.close()


def test_cat10_autofragmentation(server):
    ws = Raw(server.port)
    try:
        m = ("ab" * 32768).encode()
        parts = [m[i:i + 1300] for i in range(0, len(m), 1300)]
        data = frame(0x01, parts[0]) + b"".join(frame(0x00, p) for p in parts[1:-1]) + frame(0x80, parts[-1])
        ws.send(data)
        assert ws.recv_data() == (1, m)
    finally:
        ws.close()


def test_raw_compressed_frames(server):
    """RSV1 once permessage-deflate is negotiated: compressed frames in,
    compressed frames out (Autobahn 12/13 from the wire)."""
    import zlib
    ws = Raw(server.port, headers=[("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
    try:
        assert ws.headers["sec-websocket-extensions"].startswith("permessage-deflate")
        # under ws_compression_threshold (1K) the answer goes uncompressed;
        # incompressible data too (it would only grow)
        for msg, compressed in [(b"hello compressed", False), (b"z" * 5000, True),
                                (os.urandom(5000), False)]:
            c = zlib.compressobj(wbits=-15)
            payload = c.compress(msg) + c.flush(zlib.Z_SYNC_FLUSH)
            assert payload.endswith(b"\x00\x00\xff\xff")
            ws.send(frame(0xC2, payload[:-4]))
            fin, rsv, op, got = ws.recv_frame()
            assert op == 2 and rsv == (4 if compressed else 0)
            if compressed:
                d = zlib.decompressobj(wbits=-15)
                got = d.decompress(got + b"\x00\x00\xff\xff")
            assert got == msg
        ws.send(frame(0xC1, b"\xff\xff\xff"))  # corrupt
        ws.expect_close(1007)
    finally:
        ws.close()


def test_decompression_bomb(server):
    import zlib
    ws = Raw(server.port, headers=[("Sec-WebSocket-Extensions", "permessage-deflate")])
    try:
        c = zlib.compressobj(9, wbits=-15)
        payload = c.compress(b"\0" * (64 << 20)) + c.flush(zlib.Z_SYNC_FLUSH)
        assert len(payload) < 200_000
        ws.send(frame(0xC2, payload[:-4]))
        ws.expect_close(1009)
    finally:
        ws.close()


# ---------------------------------------------------------------------------- liveness and limits


def test_pong_timeout(start_server):
    srv = start_server("--workers", "1", "--ws-ping-interval", "1s", "--ws-pong-timeout", "1s")
    ws = Raw(srv.port, timeout=10)
    try:
        t0 = time.monotonic()
        f = ws.recv_frame()
        assert f is not None and f[2] == 9, f  # a ping
        ws.expect_close(1011, "ping timeout")  # not answered
        assert time.monotonic() - t0 < 8
    finally:
        ws.close()

    async def alive():
        # a client that answers pings (websockets does) stays
        async with websockets.connect(url(srv), ping_interval=None) as c:
            await asyncio.sleep(3.5)
            await c.send("still here")
            assert await c.recv() == "still here"
    run(alive())


def test_idle_timeout(start_server):
    srv = start_server("--workers", "1", "--ws-idle-timeout", "1s", "--ws-ping-interval", "0")
    ws = Raw(srv.port, timeout=10)
    try:
        ws.send(text("hello"))
        assert ws.recv_data() == (1, b"hello")
        f = ws.recv_frame()
        assert f[2] == 8 and struct.unpack("!H", f[3][:2])[0] == 1001, f
        ws.send(frame(0x88, close_payload(1001)))  # the client answers: the handshake completes
        assert ws.at_eof()
    finally:
        ws.close()
    assert srv.wait_log(r"ws closed \d+ 1001 ")


def test_client_that_does_not_read(start_server):
    """A broadcast to a client that does not read: past ws_max_queue the
    connection is closed with 1008 instead of growing."""
    srv = start_server("--workers", "1", "--ws-max-queue", "256K")
    ws = Raw(srv.port, timeout=10)
    try:
        ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        ws.send(text("flood 5000 65536"))  # 320 MiB if it were all queued
        m = srv.wait_log(r"ws flood: (\d+) of 5000 sent", timeout=10)
        assert m and int(m.group(1)) < 5000, srv.log()[-2000:]
        time.sleep(0.2)
        ws.expect_close(1008, "not reading")
    finally:
        ws.close()
    assert srv.wait_log(r"ws closed \d+ 1008 send queue full")


def test_reading_stops_for_a_client_that_sends_but_does_not_read(start_server):
    """Echo to a client that never reads: the server stops reading it
    (backpressure) rather than queueing without bound, and stays well."""
    srv = start_server("--workers", "1", "--max-pending-output", "64K", "--write-timeout", "2s")
    ws = Raw(srv.port, timeout=10)
    ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    ws.sock.settimeout(3)
    sent = 0
    try:
        m = frame(0x82, b"e" * 65536)
        with pytest.raises((socket.timeout, ConnectionResetError, BrokenPipeError)):
            for _ in range(2000):  # 128 MiB of echoes
                ws.sock.sendall(m)
                sent += 1
        assert sent < 2000
    finally:
        ws.close()
    assert handshake(srv.port).status == 101  # the server is fine


def test_graceful_shutdown_sends_1001(start_server):
    srv = start_server("--workers", "2")

    async def go():
        clients = [await websockets.connect(url(srv)) for _ in range(4)]
        for c in clients:
            await c.send("hi")
            assert await c.recv() == "hi"
        srv.kill_with(signal.SIGTERM)
        for c in clients:
            with pytest.raises(websockets.ConnectionClosed):
                await c.recv()
            assert c.close_code == 1001, c.close_code
    run(go())
    assert srv.wait() == 0


def test_graceful_shutdown_without_answer(start_server):
    """A client that never answers the 1001 is cut at shutdown_timeout."""
    srv = start_server("--workers", "1", "--shutdown-timeout", "1s")
    ws = Raw(srv.port, timeout=10)
    try:
        t0 = time.monotonic()
        srv.kill_with(signal.SIGTERM)
        f = ws.recv_frame()
        assert f[2] == 8 and struct.unpack("!H", f[3][:2])[0] == 1001
        assert srv.wait(timeout=6) == 0
        assert time.monotonic() - t0 < 5
    finally:
        ws.close()


# ---------------------------------------------------------------------------- ids, threads, auth


def test_send_by_id_from_another_thread(server):
    async def go():
        a = await websockets.connect(url(server))
        b = await websockets.connect(url(server))
        ids = []
        for c in (a, b):
            await c.send("id")
            ids.append(await c.recv())
        assert ids[0] != ids[1]
        loop = asyncio.get_running_loop()
        r = await loop.run_in_executor(None, lambda: server.request(
            "POST", f"/ws/broadcast?ids={ids[0]},{ids[1]}", body=b"to everyone"))
        assert r.status == 200 and r.json() == {"sent": 2}
        for c in (a, b):
            assert await c.recv() == "to everyone"
        await a.close()
        await asyncio.sleep(0.1)
        # a connection that has gone: nothing happens, the rest still get it
        r = await loop.run_in_executor(None, lambda: server.request(
            "POST", f"/ws/broadcast?ids={ids[0]},{ids[1]}", body=b"again"))
        assert r.status == 200
        assert await b.recv() == "again"
        await b.close()
    run(go())


def jwt_token(sub: str) -> str:
    import jwt
    return jwt.encode({"sub": sub, "exp": int(time.time()) + 600}, SECRET, algorithm="HS256")


def test_auth_before_the_101(server):
    r = handshake(server.port, "/ws/auth")
    assert_error(r, 401)
    assert r.header("www-authenticate", ) is not None
    assert_error(handshake(server.port, "/ws/auth", extra=[("X-API-Key", "wrong")]), 401)
    assert_error(handshake(server.port, "/ws/auth", extra=[("Authorization", "Bearer not.a.jwt")]), 401)

    async def go():
        with pytest.raises(websockets.InvalidStatusCode) as e:
            await websockets.connect(url(server, "/ws/auth"))
        assert e.value.status_code == 401
        async with websockets.connect(url(server, "/ws/auth"), extra_headers={"X-API-Key": "testapp-key"}) as ws:
            await ws.send("whoami")
            assert await ws.recv() == "key:1"
        async with websockets.connect(url(server, "/ws/auth"),
                                      extra_headers={"Authorization": "Bearer " + jwt_token("alice")}) as ws:
            await ws.send("whoami")
            assert await ws.recv() == "alice"
    run(go())


# ---------------------------------------------------------------------------- a second client: npm ws

WS_CLIENT = REPO / "tests" / "ws-client"


@pytest.fixture(scope="module")
def node_ws():
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node/npm not installed")
    if not (WS_CLIENT / "node_modules" / "ws").is_dir():
        p = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=WS_CLIENT,
                           capture_output=True, text=True, timeout=180)
        if p.returncode != 0:
            pytest.skip(f"npm ci failed in {WS_CLIENT}: {p.stderr[-500:]}")
    return node


def test_node_ws_client(server, node_ws):
    p = subprocess.run([node_ws, str(WS_CLIENT / "client.js"), str(server.port)], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    r = json.loads(p.stdout)
    for mode in ("plain", "deflate"):
        c = r[mode]
        assert c["text"] == "hello from node"
        assert c["binary_ok"] and c["big_ok"], c
        assert c["server_close"] == {"code": 4000, "reason": "as you wish"}
    assert r["plain"]["extensions"] == ""
    assert r["deflate"]["extensions"].startswith("permessage-deflate")
    assert r["protocol"] == "chat.v2" and r["protocol_echo"] == "chat.v2"
    assert r["client_close"] == {"code": 4001, "reason": ""}  # the code is echoed, the reason is ours
    assert r["too_big"]["code"] == 1009
    assert server.wait_log(r"ws closed \d+ 4001 bye from node")

"""HTTP/1.1 framing over raw sockets: pipelining, bodies, HEAD/OPTIONS,
keep-alive, HTTP/1.0, Expect, limits and request-smuggling vectors."""
import time

import pytest

from conftest import Conn, assert_error, build_request, chunked, raw_exchange


def get_bytes(target, extra=""):
    return (f"GET {target} HTTP/1.1\r\nHost: test\r\n{extra}\r\n").encode()


# ---------------------------------------------------------------------------- pipelining


def test_pipelining_three_requests_in_one_packet(server):
    with server.conn() as c:
        c.send(get_bytes("/echo?i=1") + get_bytes("/echo?i=2") + get_bytes("/echo?i=3"))
        got = [c.read_response() for _ in range(3)]
        assert [r.status for r in got] == [200, 200, 200]
        assert [r.json()["args"]["i"] for r in got] == [["1"], ["2"], ["3"]]
        assert all(r.header("connection") is None for r in got)
        # Still the same open connection afterwards.
        assert c.get("/echo?i=4").json()["args"]["i"] == ["4"]


def test_pipelining_mixed_methods_bodies_and_errors_keep_order(server):
    batch = (build_request("POST", "/echo?i=1", body=b"first body")
             + build_request("HEAD", "/echo?i=2")
             + get_bytes("/no/such/route")
             + build_request("PUT", "/echo?i=4", [("Transfer-Encoding", "chunked")], chunked(b"chunk", b"ed"))
             + get_bytes("/textf"))
    with server.conn() as c:
        c.send(batch)
        r1 = c.read_response()
        r2 = c.read_response(head=True)
        r3 = c.read_response()
        r4 = c.read_response()
        r5 = c.read_response()
    assert r1.status == 200 and bytes.fromhex(r1.json()["body_hex"]) == b"first body"
    assert r2.status == 200 and r2.body == b"" and int(r2.header("content-length")) > 0
    assert_error(r3, 404, "not_found_404")
    assert r4.json()["method"] == "PUT" and bytes.fromhex(r4.json()["body_hex"]) == b"chunked"
    assert r5.status == 200 and r5.body == b"answer=42"


def test_pipelining_fifty_requests(server):
    with server.conn() as c:
        c.send(b"".join(get_bytes(f"/conv/int/{i}") for i in range(50)))
        values = [c.read_response().json()["value"] for _ in range(50)]
    assert values == list(range(50))


def test_pipelined_request_byte_by_byte(server):
    data = get_bytes("/echo?i=a") + build_request("POST", "/echo?i=b", body=b"xyz")
    with server.conn() as c:
        for i in range(len(data)):
            c.send(data[i:i + 1])
        a, b = c.read_response(), c.read_response()
    assert a.json()["args"]["i"] == ["a"]
    assert b.json()["args"]["i"] == ["b"] and b.json()["body_hex"] == b"xyz".hex()


def test_pipelined_after_malformed_request_is_not_answered(server):
    with server.conn() as c:
        c.send(get_bytes("/textf") + b"GET /textf HTTP/1.1\r\nHost: t\r\nBad Name: x\r\n\r\n" + get_bytes("/textf"))
        assert c.read_response().status == 200
        r = c.read_response()
        assert_error(r, 400, "bad_request_400")
        assert r.header("connection") == "close"
        assert c.closed_within(3), "connection must close after a malformed request"


def test_pipelined_after_connection_close_is_not_answered(server):
    with server.conn() as c:
        c.send(get_bytes("/textf") + get_bytes("/textf", "Connection: close\r\n") + get_bytes("/textf"))
        assert c.read_response().header("connection") is None
        r = c.read_response()
        assert r.status == 200 and r.header("connection") == "close"
        assert c.closed_within(3)


# ---------------------------------------------------------------------------- request bodies


def test_content_length_body_split_over_packets(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello")
        time.sleep(0.05)
        c.send(b" world")
        r = c.read_response()
    assert bytes.fromhex(r.json()["body_hex"]) == b"hello world"


def test_chunked_request_body(server):
    body = b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n"
    r = raw_exchange(server.port, build_request("POST", "/echo", [("Transfer-Encoding", "chunked")], body))
    assert r.status == 200
    j = r.json()
    assert bytes.fromhex(j["body_hex"]) == b"hello world" and j["body_len"] == 11


def test_chunked_request_body_trickled(server):
    data = build_request("POST", "/echo", [("Transfer-Encoding", "chunked")],
                         chunked(b"a" * 10, b"b" * 300, b"\x00\xff"))
    with server.conn() as c:
        for i in range(0, len(data), 7):
            c.send(data[i:i + 7])
        r = c.read_response()
    assert bytes.fromhex(r.json()["body_hex"]) == b"a" * 10 + b"b" * 300 + b"\x00\xff"


def test_binary_body_is_exact(server):
    body = bytes(range(256)) * 4
    r = server.request("POST", "/echo", body=body)
    assert r.json()["body_len"] == 1024 and bytes.fromhex(r.json()["body_hex"]) == body


def fnv1a(data: bytes) -> int:
    h = 2166136261
    for b in data:
        h = ((h ^ b) * 16777619) & 0xFFFFFFFF
    return h


def test_large_body_under_default_limit(server):
    body = bytes((i * 7) & 0xFF for i in range(256)) * (4 * 1024 * 5)  # 5 MiB
    r = server.request("POST", "/echo?nohex=1", body=body, timeout=30)
    j = r.json()
    assert j["body_len"] == len(body) and j["body_fnv"] == fnv1a(body)


# ---------------------------------------------------------------------------- HEAD and OPTIONS


def test_head_has_get_headers_and_no_body(server):
    with server.conn() as c:
        g = c.get("/textf")
        h = c.request("HEAD", "/textf")
        assert h.status == 200 and h.body == b""
        assert h.header("content-length") == g.header("content-length") == str(len(g.body))
        assert h.header("content-type") == g.header("content-type")
        # Nothing but the head was sent: the next response parses cleanly.
        assert c.get("/textf").body == b"answer=42"


def test_head_of_error_has_length_but_no_body(server):
    with server.conn() as c:
        h = c.request("HEAD", "/no/such/thing")
        assert h.status == 404 and h.body == b"" and int(h.header("content-length")) > 0
        assert c.get("/textf").status == 200


def test_options_lists_allowed_methods(server):
    with server.conn() as c:
        r = c.request("OPTIONS", "/multi")
        assert r.status == 204 and r.body == b""
        assert r.header("allow") == "GET, HEAD, POST, OPTIONS"
        assert r.header("content-length") is None
        r = c.request("OPTIONS", "/echo")
        assert r.header("allow") == "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS"
        assert c.get("/textf").status == 200


def test_options_on_unknown_path_is_404(server):
    assert_error(server.request("OPTIONS", "/nope"), 404, "not_found_404")


def test_options_asterisk_form(server):
    r = raw_exchange(server.port, b"OPTIONS * HTTP/1.1\r\nHost: test\r\n\r\n")
    assert r.status in (200, 204)


# ---------------------------------------------------------------------------- keep-alive and HTTP/1.0


def test_keep_alive_reuses_one_connection(server):
    with server.conn() as c:
        for i in range(10):
            r = c.get(f"/echo?n={i}")
            assert r.status == 200 and r.json()["args"]["n"] == [str(i)]
            assert r.header("connection") is None
        assert c.still_open()


def test_keep_alive_survives_application_errors(server):
    with server.conn() as c:
        assert c.get("/nope").status == 404
        assert c.request("POST", "/textf").status == 405
        assert c.get("/fail").status == 500
        assert c.get("/user/%zz").status == 400
        assert c.get("/textf").status == 200


def test_http10_gets_connection_close(server):
    with server.conn() as c:
        c.send(b"GET /textf HTTP/1.0\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body == b"answer=42"
        assert r.header("connection") == "close"
        assert c.closed_within(3)


def test_http10_keep_alive_stays_open(server):
    with server.conn() as c:
        for _ in range(3):
            c.send(b"GET /textf HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            r = c.read_response()
            assert r.status == 200 and r.header("connection") == "keep-alive"
        assert c.still_open()


def test_http11_connection_close(server):
    with server.conn() as c:
        r = c.get("/textf", headers={"Connection": "close"})
        assert r.status == 200 and r.header("connection") == "close"
        assert c.closed_within(3)


def test_http10_transfer_encoding_rejected(server):
    r = raw_exchange(server.port, b"POST /echo HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
    assert_error(r, 400, "bad_request_400")


# ---------------------------------------------------------------------------- Expect


def test_expect_100_continue(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
        interim = c.read_response()
        assert interim.status == 100 and interim.version == "HTTP/1.1"
        c.send(b"hello")
        r = c.read_response()
        assert r.status == 200 and bytes.fromhex(r.json()["body_hex"]) == b"hello"
        assert c.get("/textf").status == 200


def test_expect_100_continue_without_body_gets_no_interim(server):
    with server.conn() as c:
        r = c.get("/textf", headers={"Expect": "100-continue"})
        assert r.status == 200
        assert not r.raw.startswith(b"HTTP/1.1 100")


def test_expect_100_continue_over_limit_gets_413_not_100(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 20000000\r\nExpect: 100-continue\r\n\r\n")
        r = c.read_response()
        assert_error(r, 413, "payload_too_large_413")


def test_unknown_expectation_is_417(server):
    r = raw_exchange(server.port, get_bytes("/textf", "Expect: teapot\r\n"))
    assert_error(r, 417, "expectation_failed_417")


# ---------------------------------------------------------------------------- limits (defaults)


def assert_closed_error(c: Conn, status, name):
    r = c.read_response()
    body = assert_error(r, status, name)
    assert r.header("connection") == "close", r
    assert c.closed_within(4), "the connection must close after a protocol error"
    return body


def test_uri_too_long_414(server):
    with server.conn() as c:
        c.send(get_bytes("/echo?x=" + "a" * 9000))
        assert_closed_error(c, 414, "uri_too_long_414")


def test_headers_too_large_431(server):
    with server.conn() as c:
        c.send(get_bytes("/textf", "X-Big: " + "b" * 17000 + "\r\n"))
        assert_closed_error(c, 431, "request_header_fields_too_large_431")


def test_too_many_headers_431(server):
    extra = "".join(f"X-H{i}: v\r\n" for i in range(101))
    with server.conn() as c:
        c.send(get_bytes("/textf", extra))
        assert_closed_error(c, 431, "request_header_fields_too_large_431")


def test_hundred_headers_are_fine(server):
    extra = "".join(f"X-H{i}: v\r\n" for i in range(99))  # + Host = 100
    assert raw_exchange(server.port, get_bytes("/textf", extra)).status == 200


def test_body_over_limit_by_content_length_413_without_reading_it(server):
    with server.conn() as c:
        # Only the head is sent: the answer must not wait for 11 MiB.
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 11534336\r\n\r\n")
        assert_closed_error(c, 413, "payload_too_large_413")


@pytest.mark.parametrize("line", [
    b"THIS IS NOT HTTP",          # three words, but no HTTP-version
    b"GARBAGE",                   # one word
    b"get/ HTTP/1.1",             # no space between method and target
    b"FROB  /textf HTTP/1.1",     # two spaces
    b"FROB /textf HTTP/1.1 x",    # something after the version
    b"FR@B /textf HTTP/1.1",      # not a token
])
def test_malformed_request_line_400(server, line):
    # RFC 9112 3: a line that is not "method SP request-target SP
    # HTTP-version" is a bad request; 501 is only for a well-formed line whose
    # method the server does not implement.
    with server.conn() as c:
        c.send(line + b"\r\nHost: t\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_request_line_split_before_its_end(server):
    # The verdict waits for the whole line: the method alone does not say
    # whether the line is well-formed.
    with server.conn() as c:
        c.send(b"FROB /tex")
        time.sleep(0.2)
        c.send(b"tf HTTP/1.1\r\nHost: t\r\n\r\n")
        assert_closed_error(c, 501, "not_implemented_501")
    with server.conn() as c:
        c.send(b"THIS IS NOT")
        time.sleep(0.2)
        c.send(b" HTTP\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_garbage_bytes_400(server):
    with server.conn() as c:
        c.send(b"GET /textf HTTP/1.1\r\nHost: t\r\n\x01\x02\x03\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_bad_chunk_size_400(server):
    with server.conn() as c:
        c.send(build_request("POST", "/echo", [("Transfer-Encoding", "chunked")], b"zz\r\nhello\r\n0\r\n\r\n"))
        assert_closed_error(c, 400, "bad_request_400")


def test_whitespace_before_colon_400(server):
    with server.conn() as c:
        c.send(get_bytes("/textf", "X-Name : v\r\n"))
        assert_closed_error(c, 400, "bad_request_400")


# ---------------------------------------------------------------------------- smuggling vectors


def test_content_length_and_transfer_encoding_400(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"0\r\n\r\nGET /textf HTTP/1.1\r\nHost: t\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_transfer_encoding_then_content_length_400(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
               b"0\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_two_different_content_lengths_400(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc")
        assert_closed_error(c, 400, "bad_request_400")


def test_obs_fold_400(server):
    with server.conn() as c:
        c.send(b"GET /textf HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n  b\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


@pytest.mark.parametrize("data", [
    b"GET /textf HTTP/1.1\nHost: t\n\n",
    b"GET /textf HTTP/1.1\r\nHost: t\nX-A: b\r\n\r\n",
    b"GET /textf HTTP/1.1\r\nHost: t\r\nX-A: b\n\r\n",
], ids=["all-lf", "lf-after-header", "lf-before-end"])
def test_bare_lf_400(server, data):
    with server.conn() as c:
        c.send(data)
        assert_closed_error(c, 400, "bad_request_400")


@pytest.mark.parametrize("te", ["gzip", "gzip, chunked", "chunked, gzip", "identity"])
def test_unsupported_transfer_encoding_501(server, te):
    with server.conn() as c:
        c.send(f"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: {te}\r\n\r\n0\r\n\r\n".encode())
        r = c.read_response()
        # "chunked, gzip" makes chunked not final: 400 from llhttp is as good.
        assert r.status in ((400, 501) if te.startswith("chunked,") else (501,)), r
        assert_error(r, r.status)
        assert r.header("connection") == "close"
        assert c.closed_within(4)


@pytest.mark.parametrize("version", ["HTTP/2.0", "HTTP/3.0", "HTTP/1.2", "HTTP/0.9"])
def test_unsupported_version_505(server, version):
    with server.conn() as c:
        c.send(f"GET /textf {version}\r\nHost: t\r\n\r\n".encode())
        assert_closed_error(c, 505, "http_version_not_supported_505")


def test_unknown_method_501(server):
    with server.conn() as c:
        c.send(b"FROB /textf HTTP/1.1\r\nHost: t\r\n\r\n")
        assert_closed_error(c, 501, "not_implemented_501")


def test_missing_host_400(server):
    r = raw_exchange(server.port, b"GET /textf HTTP/1.1\r\n\r\n")
    assert_error(r, 400, "bad_request_400")


def test_duplicate_host_400(server):
    r = raw_exchange(server.port, b"GET /textf HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n")
    assert_error(r, 400, "bad_request_400")


def test_chunk_data_must_end_with_crlf(server):
    with server.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhelloXX0\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_empty_header_name_400(server):
    with server.conn() as c:
        c.send(b"GET /textf HTTP/1.1\r\nHost: t\r\n: no-name\r\n\r\n")
        assert_closed_error(c, 400, "bad_request_400")


def test_chunk_size_overflow_and_bad_content_length_400(server):
    for data in [b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n",
                 b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
                 b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\n",
                 b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n",
                 b"GET /te\x00xt HTTP/1.1\r\nHost: t\r\n\r\n",
                 b"GET /textf HTTP/1.1\r\nHost: t\r\nX: a\x00b\r\n\r\n"]:
        with server.conn() as c:
            c.send(data)
            assert_closed_error(c, 400, "bad_request_400")


def test_http10_without_host_is_fine(server):
    r = raw_exchange(server.port, b"GET /textf HTTP/1.0\r\n\r\n")
    assert r.status == 200


# ---------------------------------------------------------------------------- limits (configured)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    from conftest import _start
    d = tmp_path_factory.mktemp("small")
    srv = _start("vial-testapp", ["--workers", "1", "--max-body", "1K", "--max-uri", "256",
                                  "--max-header-size", "2K", "--max-headers", "10"], None, d, d, None)
    yield srv
    problems = srv.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def test_configured_body_limit_boundary(small):
    assert small.request("POST", "/echo?nohex=1", body=b"x" * 1024).json()["body_len"] == 1024
    with small.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1025\r\n\r\n")
        assert_closed_error(c, 413, "payload_too_large_413")


def test_configured_body_limit_chunked(small):
    with small.conn() as c:
        c.send(build_request("POST", "/echo", [("Transfer-Encoding", "chunked")],
                             chunked(b"a" * 600, b"b" * 600)))
        assert_closed_error(c, 413, "payload_too_large_413")
    # A chunked body just under the limit is fine.
    r = small.request("POST", "/echo?nohex=1", headers=[("Transfer-Encoding", "chunked")],
                      body=chunked(b"a" * 500, b"b" * 524))
    assert r.json()["body_len"] == 1024


def test_configured_body_limit_chunked_over_packets(small):
    with small.conn() as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(5):
                c.send(b"100\r\n" + b"z" * 256 + b"\r\n")  # 1280 bytes in all
                time.sleep(0.02)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert_closed_error(c, 413, "payload_too_large_413")


def test_configured_uri_limit(small):
    target = "/echo?x=" + "a" * (256 - len("/echo?x="))
    assert len(target) == 256 and small.get(target).status == 200
    with small.conn() as c:
        c.send(get_bytes(target + "a"))
        assert_closed_error(c, 414, "uri_too_long_414")


def test_configured_header_size_limit(small):
    assert small.get("/textf", headers={"X-A": "a" * 1500}).status == 200
    with small.conn() as c:
        c.send(get_bytes("/textf", "X-A: " + "a" * 2100 + "\r\n"))
        assert_closed_error(c, 431, "request_header_fields_too_large_431")


def test_configured_header_count_limit(small):
    nine = "".join(f"X-{i}: v\r\n" for i in range(9))
    assert raw_exchange(small.port, get_bytes("/textf", nine)).status == 200
    with small.conn() as c:
        c.send(get_bytes("/textf", nine + "X-10: v\r\n"))
        assert_closed_error(c, 431, "request_header_fields_too_large_431")


def test_error_bodies_are_json_with_request_id_and_server(small):
    """Every protocol error carries the JSON shape and the usual headers."""
    cases = [
        (get_bytes("/echo?x=" + "a" * 300), 414),
        (get_bytes("/textf", "X-A: " + "a" * 2100 + "\r\n"), 431),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n", 413),
        (b"GET /textf HTTP/1.1\nHost: t\n\n", 400),
        (b"GET /textf HTTP/2.0\r\nHost: t\r\n\r\n", 505),
        (b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ]
    for data, status in cases:
        r = raw_exchange(small.port, data)
        body = assert_error(r, status)
        assert set(body) == {"error", "message"}, body
        assert r.header("server") == "vial" and r.has("date") and r.has("x-request-id"), r
        assert r.header("content-length") == str(len(r.body))

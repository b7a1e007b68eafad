"""What a handler reads: query args, headers, cookies, bodies, JSON,
client address and the request id."""
import json
import re

import pytest

from conftest import assert_error, raw_exchange

GENERATED_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{10}$")


def test_query_args_decoding_and_repeats(server):
    j = server.get("/echo?a=1&a=2&b=x+y&c=%2B&d&e=&a%20b=3&g=%C3%A9&a=3").json()
    args = j["args"]
    assert args["a"] == ["1", "2", "3"]
    assert args["b"] == ["x y"]
    assert args["c"] == ["+"]
    assert args["d"] == [""]
    assert args["e"] == [""]
    assert args["a b"] == ["3"]
    assert args["g"] == ["é"]
    assert j["arg_first"]["a"] == "1"


def test_query_arg_with_malformed_escape_is_skipped(server):
    args = server.get("/echo?x=%zz&y=1&z=%4").json()["args"]
    assert args["x"] == [] and args["z"] == [] and args["y"] == ["1"]


def test_query_not_part_of_path(server):
    j = server.get("/echo?p=/x/y").json()
    assert j["path"] == "/echo" and j["target"] == "/echo?p=/x/y" and j["endpoint"] == "echo"


def test_headers_case_insensitive(server):
    j = server.get("/echo?h=X-Mixed-Case&h=x-mixed-case&h=HOST&h=X-Absent",
                   headers=[("x-MiXeD-cAsE", "Value")]).json()
    assert j["lookup"] == {"X-Mixed-Case": "Value", "x-mixed-case": "Value", "HOST": "test", "X-Absent": None}
    assert ["x-MiXeD-cAsE", "Value"] in j["headers"]  # names as sent


def test_header_whitespace_trimmed_and_empty_values(server):
    j = server.get("/echo?h=X-Pad&h=X-Empty", headers=[("X-Pad", "  padded \t"), ("X-Empty", "")]).json()
    assert j["lookup"] == {"X-Pad": "padded", "X-Empty": ""}


def test_repeated_headers_joined(server):
    j = server.get("/echo?h=X-Rep&h=Cookie&c=a&c=b",
                   headers=[("X-Rep", "a"), ("X-Rep", "b"), ("Cookie", "a=1"), ("Cookie", "b=2")]).json()
    assert j["lookup"]["X-Rep"] == "a, b"
    assert j["lookup"]["Cookie"] == "a=1; b=2"
    assert j["cookies"] == {"a": "1", "b": "2"}


def test_cookies_parsed(server):
    j = server.get("/echo?c=a&c=b&c=c&c=d&c=zz&c=sp",
                   headers={"Cookie": 'a=1; b="quoted"; c=x=y;d=; sp = spaced '}).json()
    assert j["cookies"] == {"a": "1", "b": "quoted", "c": "x=y", "d": "", "zz": None, "sp": "spaced"}


def test_first_cookie_of_a_name_wins(server):
    j = server.get("/echo?c=a", headers={"Cookie": "a=first; a=second"}).json()
    assert j["cookies"] == {"a": "first"}


def test_raw_body_with_nul_bytes(server):
    body = b"\x00abc\x00\xff\xfe"
    j = server.request("PATCH", "/echo", body=body).json()
    assert j["body_len"] == len(body) and bytes.fromhex(j["body_hex"]) == body


def test_empty_body(server):
    j = server.request("POST", "/echo", body=b"").json()
    assert j["body_len"] == 0 and j["body_hex"] == ""


def test_json_body(server):
    doc = {"a": [1, 2, {"b": None}], "u": "é\u2603", "n": -1.5, "t": True, "s": "x\"y\\z"}
    r = server.request("POST", "/json", headers={"Content-Type": "application/json"},
                       body=json.dumps(doc).encode())
    assert r.status == 200 and r.json() == {"received": doc}


@pytest.mark.parametrize("body,pattern", [
    (b"{bad", r"^invalid JSON at line 1"),
    (b'{"a":1,"a":2}', r"^invalid JSON"),  # duplicate keys are refused
    (b"[1,2", r"^invalid JSON"),
    (b"", r"^request body is empty"),
])
def test_invalid_json_is_400(server, body, pattern):
    r = server.request("POST", "/json", headers={"Content-Type": "application/json"}, body=body)
    assert_error(r, 400, "bad_request_400", re.compile(pattern))


def test_json_body_chunked(server):
    body = b'{"k": "chunked json"}'
    from conftest import chunked
    r = server.request("POST", "/json", headers=[("Transfer-Encoding", "chunked")],
                       body=chunked(body[:5], body[5:]))
    assert r.json() == {"received": {"k": "chunked json"}}


def test_client_address(server):
    assert server.get("/echo").json()["client"] == "127.0.0.1"


# ---------------------------------------------------------------------------- request id


def test_request_id_generated_on_every_response(server):
    ids = set()
    for path in ["/textf", "/no/such", "/fail", "/nocontent", "/slash", "/stream?n=2"]:
        r = server.get(path)
        rid = r.header("x-request-id")
        assert rid and GENERATED_ID.match(rid), (path, rid)
        ids.add(rid)
    r = server.request("HEAD", "/textf")
    ids.add(r.header("x-request-id"))
    assert len(ids) == 7, "request ids must be unique"


def test_request_id_on_protocol_errors(server):
    r = raw_exchange(server.port, b"GET /textf HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n")
    assert r.status == 400 and GENERATED_ID.match(r.header("x-request-id"))


@pytest.fixture(scope="module")
def proxied(tmp_path_factory):
    """A vial-testapp that believes its loopback peer is a proxy."""
    from conftest import _start
    d = tmp_path_factory.mktemp("proxied")
    srv = _start("vial-testapp", ["--workers", "1", "--trusted-proxies", "127.0.0.0/8"], None, d, d, None)
    yield srv
    problems = srv.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("rid", ["abc-123_x.Y", "a" * 23, "0"])
def test_sane_request_id_from_a_proxy_is_echoed(proxied, rid):
    r = proxied.get("/echo", headers={"X-Request-Id": rid})
    assert r.header("x-request-id") == rid
    assert r.json()["request_id"] == rid


@pytest.mark.parametrize("rid", ["abc-123_x.Y", "550e8400-e29b-41d4-a716-446655440000"])
def test_request_id_from_a_client_is_not_believed(server, rid):
    # Only a trusted proxy may name the request: a client could otherwise
    # make its requests' log lines pass for someone else's.
    r = server.get("/echo", headers={"X-Request-Id": rid})
    got = r.header("x-request-id")
    assert got != rid and GENERATED_ID.match(got), got
    assert r.json()["request_id"] == got


@pytest.mark.parametrize("rid", ["550e8400-e29b-41d4-a716-446655440000", "b" * 64])
def test_long_sane_request_id_is_echoed(proxied, rid):
    r = proxied.get("/echo", headers={"X-Request-Id": rid})
    assert r.header("x-request-id") == rid


@pytest.mark.parametrize("rid", ["has space", "a" * 65, "semi;colon", "quote\"", "caf\xe9", "a/b", "<x>"])
def test_insane_request_id_is_replaced(proxied, rid):
    r = proxied.get("/echo", headers={"X-Request-Id": rid})
    got = r.header("x-request-id")
    assert got != rid and GENERATED_ID.match(got), got
    assert r.json()["request_id"] == got


def test_empty_request_id_is_replaced(proxied):
    r = proxied.get("/echo", headers={"X-Request-Id": ""})
    assert GENERATED_ID.match(r.header("x-request-id"))


def test_client_address_from_a_proxy(proxied):
    assert proxied.get("/echo", headers={"X-Forwarded-For": "203.0.113.7"}).json()["client"] == "203.0.113.7"
    assert proxied.get("/echo", headers={"X-Real-IP": "203.0.113.8"}).json()["client"] == "203.0.113.8"
    # a range: anything in 127.0.0.0/8 is ours, so the hop before it is the client
    assert proxied.get("/echo", headers={"X-Forwarded-For": "203.0.113.9, 127.0.0.5"}).json()["client"] == "203.0.113.9"


def test_request_id_in_error_log_line(proxied):
    r = proxied.get("/fail", headers={"X-Request-Id": "fail-trace-1"})
    assert r.status == 500
    m = proxied.wait_log(r"ERROR +\[fail-trace-1\] .*handler failed")
    assert m, proxied.log()[-2000:]
    r = proxied.get("/noresp", headers={"X-Request-Id": "noresp-trace-1"})
    assert r.status == 500
    assert proxied.wait_log(r"ERROR +\[noresp-trace-1\] .*without a response")

"""Responses: common headers, helpers, errors, cookies, redirects and
streaming."""
import email.utils
import json
import re
import time

import pytest

from conftest import Closed, assert_error, raw_exchange

RFC1123 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                     r"\d{4} \d{2}:\d{2}:\d{2} GMT$")


def check_common(r):
    assert r.header("server") == "vial", r
    date = r.header("date")
    assert date and RFC1123.match(date), date
    t = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(t - time.time()) < 5, date
    assert len(r.header_all("date")) == 1 and len(r.header_all("server")) == 1


def test_server_and_date_on_every_response(server):
    responses = [
        server.get("/textf"), server.get("/nope"), server.request("POST", "/textf", body=b""),
        server.get("/nocontent"), server.get("/slash"), server.get("/stream?n=3"), server.get("/fail"),
        server.request("HEAD", "/textf"), server.request("OPTIONS", "/echo"),
        raw_exchange(server.port, b"GET / HTTP/2.0\r\n\r\n"),
        raw_exchange(server.port, b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999\r\n\r\n"),
    ]
    for r in responses:
        check_common(r)
        assert r.header("x-request-id"), r


def test_status_line_and_reason(server):
    r = server.get("/textf")
    assert (r.version, r.status, r.reason) == ("HTTP/1.1", 200, "OK")
    r = server.get("/status/299")
    assert r.status == 299 and r.body == b"status 299"
    assert server.get("/nope").reason == "Not Found"


def test_text_html_textf_and_content_types(server):
    r = server.get("/textf")
    assert r.header("content-type") == "text/plain; charset=utf-8" and r.body == b"answer=42"
    r = server.get("/html")
    assert r.header("content-type") == "text/html; charset=utf-8" and r.body == b"<p>hello</p>"


def test_binary_send_and_static(server):
    r = server.get("/bin")
    assert r.header("content-type") == "application/octet-stream"
    assert r.body == b"a\x00b\x00c\xff" and r.header("content-length") == "6"
    r = server.get("/static")
    assert r.body == b"static body, borrowed by vial_send_static\n" and r.header("content-type") == "text/plain"


def test_large_body(server):
    n = 3 * 1024 * 1024 + 7
    r = server.get(f"/big?n={n}", timeout=30)
    assert len(r.body) == n and r.header("content-length") == str(n)
    expect = (b"abcdefghijklmnopqrstuvwxyz" * (n // 26 + 1))[:n]
    assert r.body == expect


def test_no_content_204(server):
    with server.conn() as c:
        r = c.get("/nocontent")
        assert r.status == 204 and r.body == b""
        assert r.header("content-length") is None and r.header("content-type") is None
        r = c.request("DELETE", "/nocontent")
        assert r.status == 204
        assert c.get("/textf").status == 200  # framing intact


def test_status_304_has_no_body(server):
    with server.conn() as c:
        r = c.get("/status/304")
        assert r.status == 304 and r.body == b""
        assert c.get("/textf").body == b"answer=42"


def test_informational_status_is_refused_as_final_response(server):
    with server.conn(timeout=2) as c:
        c.send(b"GET /status/100 HTTP/1.1\r\nHost: t\r\n\r\n")
        r = c.read_response()
        assert r.status >= 200, r


def test_redirect(server):
    r = server.get("/redirect?to=/target%3Fx%3D1&code=301")
    assert r.status == 301 and r.header("location") == "/target?x=1"
    r = server.get("/redirect?to=https://example.com/")
    assert r.status == 302 and r.header("location") == "https://example.com/"
    for code in (303, 307, 308):
        assert server.get(f"/redirect?to=/x&code={code}").status == code


def test_redirect_refuses_bad_status_and_crlf(server):
    assert_error(server.get("/redirect?to=/x&code=200"), 400)
    assert_error(server.get("/redirect?to=/x&code=305"), 400)
    r = server.get("/redirect?to=/x%0D%0ASet-Cookie:%20evil=1")
    assert_error(r, 400)
    assert r.header("set-cookie") is None


def test_set_cookie_options(server):
    r = server.get("/cookies/set")
    assert r.json() == {"ok": [0, 0, 0], "bad_value": -2, "bad_name": -2}
    cookies = r.header_all("set-cookie")
    assert len(cookies) == 3, cookies
    assert cookies[0] == "plain=1; Path=/; HttpOnly; SameSite=Lax"
    m = re.fullmatch(r"opts=abc; Path=/api; Domain=example\.com; Max-Age=3600; Expires=(.+ GMT); "
                     r"Secure; SameSite=Strict", cookies[1])
    assert m, cookies[1]
    exp = email.utils.parsedate_to_datetime(m.group(1)).timestamp()
    assert abs(exp - (time.time() + 3600)) < 10
    assert cookies[2] == ("gone=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Secure; "
                          "HttpOnly; SameSite=None")


def test_headers_set_replace_add_and_refusals(server):
    r = server.get("/headers/set")
    assert json.loads(r.body) == {"one1": 0, "one2": 0, "m1": 0, "m2": 0, "content_length": -2,
                                  "connection": -2, "date": -2, "te": -2, "crlf": -2, "badname": -2}
    assert r.header_all("x-one") == ["2"]
    assert r.header_all("x-multi") == ["a", "b"]
    assert r.header_all("content-type") == ["application/x-custom"]
    assert r.header_all("content-length") == [str(len(r.body))]
    assert r.header("connection") is None and r.header("injected") is None
    assert len(r.header_all("date")) == 1


def test_content_type_set_before_body(server):
    r = server.get("/ctype_before")
    assert r.header("content-type") == "application/x-before"


def test_second_response_is_refused(server):
    r = server.get("/double")
    assert r.status == 200 and r.body == b"first" and r.header("x-rcs") == "0,-7"


# ---------------------------------------------------------------------------- errors


def test_handler_failure_is_500_json(server):
    r = server.get("/fail")
    body = assert_error(r, 500, "internal_server_error_500")
    assert set(body) == {"error", "message"}


def test_handler_without_response_is_500(server):
    assert_error(server.get("/noresp"), 500, "internal_server_error_500")


def test_unbalanced_json_writer_is_500(server):
    assert_error(server.get("/jw_bad"), 500, "internal_server_error_500")


@pytest.mark.parametrize("status,name", [(400, "bad_request_400"), (401, "unauthorized_401"),
                                         (403, "forbidden_403"), (409, "conflict_409"),
                                         (422, "unprocessable_entity_422"), (429, "too_many_requests_429"),
                                         (503, "service_unavailable_503")])
def test_abort_custom_status(server, status, name):
    r = server.get(f"/abort/{status}?msg=custom%20message")
    assert_error(r, status, name, "custom message")


def test_abort_without_message_uses_reason(server):
    assert_error(server.get("/abort/404"), 404, "not_found_404", "Not Found")


def test_abort_unknown_status_names(server):
    assert_error(server.get("/abort/499?msg=x"), 499, "client_error")
    assert_error(server.get("/abort/599?msg=x"), 599, "server_error")


def test_abort_with_non_error_status_becomes_500(server):
    assert_error(server.get("/abort/200?msg=x"), 500, "internal_server_error_500")


def test_abortf(server):
    assert_error(server.get("/abortf?x=abc"), 400, "bad_request_400", "bad value 'abc' (3 chars)")


def test_abort_json_extra_fields(server):
    r = server.get("/abort_json")
    assert r.status == 422
    assert r.json() == {"error": "unprocessable_entity_422", "message": "invalid fields",
                        "fields": {"name": "required"}, "code": 7}


def test_error_message_json_escaping(server):
    r = server.get("/abort/400?msg=%22quoted%22%0A%5Cback%01")
    assert_error(r, 400, message='"quoted"\n\\back\x01')


def test_html_error_page_for_browsers(server):
    r = server.get("/abort/404?msg=%3Cscript%3E", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status == 404 and r.header("content-type") == "text/html; charset=utf-8"
    assert b"<h1>404 Not Found</h1>" in r.body
    assert b"&lt;script&gt;" in r.body and b"<script>" not in r.body
    r = server.get("/nope", headers={"Accept": "text/html, application/json"})
    assert_error(r, 404, "not_found_404")


# ---------------------------------------------------------------------------- streaming


def lines(n, start=0):
    return "".join(f"line {i}\n" for i in range(start, n)).encode()


def test_stream_chunked_lines(server):
    r = server.get("/stream?n=1000")
    assert r.status == 200
    assert r.header("transfer-encoding") == "chunked" and r.header("content-length") is None
    assert r.header("content-type") == "text/plain; charset=utf-8"
    assert r.header("x-stream") == "lines" and r.header("x-after") == "app"
    assert r.body == lines(1000)
    assert len(r.chunks) > 1 and all(r.chunks)


def test_stream_with_bytes_written_by_handler(server):
    assert server.get("/stream?n=3&pre=1").body == b"begin\n" + lines(3)


def test_stream_empty(server):
    r = server.get("/stream?n=0")
    assert r.status == 200 and r.body == b"" and r.chunks == []


def test_stream_large_with_backpressure(server):
    n = 200000
    r = server.get(f"/stream?n={n}&per=1000", timeout=30)
    assert r.body == lines(n)


def test_stream_json(server):
    r = server.get("/stream_json?n=1000")
    assert r.header("transfer-encoding") == "chunked" and r.header("content-type") == "application/json"
    doc = json.loads(r.body)
    assert doc == [{"i": i, "s": "x\"y\n"} for i in range(1000)]


def test_stream_head_has_no_body(server):
    with server.conn() as c:
        r = c.request("HEAD", "/stream?n=100")
        assert r.status == 200 and r.body == b""
        assert r.header("content-length") is None
        # No chunk may follow the head: the next response must parse.
        assert c.get("/textf").body == b"answer=42"


def test_stream_http10_is_close_delimited(server):
    with server.conn() as c:
        c.send(b"GET /stream?n=50 HTTP/1.0\r\n\r\n")
        r = c.read_response()
    assert r.header("transfer-encoding") is None and r.header("content-length") is None
    assert r.header("connection") == "close"
    assert r.body == lines(50)


def test_stream_failure_truncates_and_closes(server):
    with server.conn() as c:
        c.send(b"GET /stream?n=100&fail_at=50&per=10 HTTP/1.1\r\nHost: t\r\n\r\n")
        with pytest.raises(Closed) as e:
            c.read_response()
    assert b"0\r\n\r\n" not in e.value.partial  # no false end of body
    assert b"line 49\n" in e.value.partial and b"line 50\n" not in e.value.partial


def test_pipelined_requests_wait_behind_a_stream(server):
    with server.conn() as c:
        c.send(b"GET /stream?n=3000 HTTP/1.1\r\nHost: t\r\n\r\nGET /textf HTTP/1.1\r\nHost: t\r\n\r\n"
               b"GET /stream_json?n=5 HTTP/1.1\r\nHost: t\r\n\r\n")
        a, b, d = c.read_response(), c.read_response(), c.read_response()
    assert a.body == lines(3000)
    assert b.body == b"answer=42"
    assert len(json.loads(d.body)) == 5


# ---------------------------------------------------------------------------- waiting streams

def read_until(c, want, limit=10.0):
    """Reads from a raw connection until `want` (bytes) arrived; returns all of it."""
    import time as _t
    buf, end = b"", _t.time() + limit
    c.sock.settimeout(0.2)
    while want not in buf and _t.time() < end:
        try:
            d = c.sock.recv(65536)
        except OSError:
            continue
        if not d:
            break
        buf += d
    return buf


def waits(server):
    body = server.get("/waits").body.decode()
    return dict(kv.split("=") for kv in body.split())


def test_waiting_stream_is_woken_from_another_connection(server):
    before = int(waits(server)["ended"])
    with server.conn() as c:
        c.send(b"GET /wait?n=2 HTTP/1.1\r\nHost: t\r\n\r\n")
        got = read_until(c, b"\r\n\r\n")
        got += read_until(c, b"\n", 5) if b"id=" not in got.split(b"\r\n\r\n", 1)[1] else b""
        head, body = got.split(b"\r\n\r\n", 1)
        assert b"Transfer-Encoding: chunked" in head
        sid = body.split(b"id=", 1)[1].split(b"\n", 1)[0].decode()
        assert int(sid) > 0
        assert server.request("POST", "/wake?id=" + sid).status == 204
        got = read_until(c, b"woken 1\n")
        assert b"woken 1\n" in got, got
        assert server.request("POST", "/wake?id=" + sid).status == 204
        got = read_until(c, b"0\r\n\r\n")
        assert b"woken 2\n" in got and got.endswith(b"0\r\n\r\n"), got
        # the connection goes on with the next request
        c.send(b"GET /waits HTTP/1.1\r\nHost: t\r\n\r\n")
        assert b"200 OK" in read_until(c, b"ended=")
    assert int(waits(server)["ended"]) == before + 1


def test_waiting_stream_does_not_spin(server):
    with server.conn() as c:
        c.send(b"GET /wait?n=5 HTTP/1.1\r\nHost: t\r\n\r\n")
        read_until(c, b"id=")
        calls = int(waits(server)["calls"])
        time.sleep(1.0)
        # Without a wake the function runs again only on a tick (5 s apart),
        # not in a loop.
        assert int(waits(server)["calls"]) - calls <= 1


def test_waiting_stream_ends_when_the_client_leaves(server):
    before = int(waits(server)["ended"])
    with server.conn() as c:
        c.send(b"GET /wait?n=5 HTTP/1.1\r\nHost: t\r\n\r\n")
        read_until(c, b"id=")
    for _ in range(50):
        if int(waits(server)["ended"]) == before + 1:
            break
        time.sleep(0.05)
    assert int(waits(server)["ended"]) == before + 1, "the stream's deferred functions must run at once"

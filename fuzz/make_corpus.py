#!/usr/bin/python3
"""Writes the seed corpora fuzz/corpus/<target>/ (run from anywhere; rewrites
the directories).  Seeds are meaningful inputs for each target; the fuzzer
mutates them.  Kept as a script so a seed can be read and changed as text.

http seeds start with the control byte of fuzz/http_fuzz.c (bits 0-1: split
schedule, bit 2: deferred writes, bits 3-4: how the connection ends: nothing,
EOF, timeout, reset; 5-7: schedule seed), then the bytes a client sends.
"""
import base64
import hashlib
import os
import shutil
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
UUID = "123e4567-e89b-12d3-a456-426614174000"


def r(method, target, *headers, body=b"", version="HTTP/1.1", cl=True, host=True):
    """A request; HTTP/1.1 ones get "Host: x" unless they name a Host or host=False."""
    b = body if isinstance(body, bytes) else body.encode()
    hs = list(headers)
    if host and version == "HTTP/1.1" and not any(x.lower().startswith("host:") for x in hs):
        hs.insert(0, "Host: x")
    if b and cl and not any(x.lower().startswith(("transfer-encoding", "content-length")) for x in hs):
        hs.append(f"Content-Length: {len(b)}")
    head = f"{method} {target} {version}\r\n" + "".join(x + "\r\n" for x in hs) + "\r\n"
    return head.encode("latin-1") + b


def chunked(*chunks, trailers=()):
    out = b""
    for c in chunks:
        c = c.encode() if isinstance(c, str) else c
        out += f"{len(c):x}\r\n".encode() + c + b"\r\n"
    out += b"0\r\n" + b"".join(t.encode() + b"\r\n" for t in trailers) + b"\r\n"
    return out


HTTP = {
    "get-root": r("GET", "/", "Host: x"),
    "user-args-cookie": r("GET", "/user/42?name=a&name=b%20c&q=x+y", "Host: x",
                          "User-Agent: fuzz/1.0", "Cookie: session=abc; other=1"),
    "user-int-overflow": r("GET", "/user/9223372036854775808", "Host: x"),
    "user-int-max": r("GET", "/user/009223372036854775807", "Host: x"),
    "price-float": r("GET", "/price/3.14", "Host: x"),
    "price-not-float": r("GET", "/price/3", "Host: x"),
    "obj-uuid": r("GET", f"/obj/{UUID}", "Host: x"),
    "obj-uuid-delete": r("DELETE", f"/obj/{UUID.upper()}", "Host: x"),
    "obj-bad-uuid": r("GET", "/obj/123e4567-e89b-12d3-a456-42661417400g", "Host: x"),
    "files-path": r("GET", "/files/a/b%2Fc/d.txt?x=1", "Host: x"),
    "files-edit": r("POST", "/files/a/b/edit", "Host: x", body="x=1"),
    "files-dotdot": r("GET", "/files/%2e%2e/%2e%2e/etc/passwd", "Host: x"),
    "files-leading-slash": r("GET", "/files/%2Fevil.example/x", "Host: x"),
    "echo-json": r("POST", "/echo/x%20y?a=1&a=2&b=&c=named", "Host: x",
                   "Content-Type: application/json", "Cookie: session=\"q\"; named=v; =x; ; b",
                   "X-Multi: a", "X-Multi: b", body='{"k":[1,2.5,"\\u00e9",null,true,{"n":{}}]}'),
    "echo-bad-json": r("PUT", "/echo/a%2Fb", "Content-Type: application/json", body="{\"a\":"),
    "echo-dup-json": r("PATCH", "/echo/d", "Content-Type: application/json", body='{"a":1,"a":2}'),
    "echo-chunked": r("POST", "/echo/c", "Transfer-Encoding: chunked",
                      body=chunked("hello ", "world")),
    "echo-chunk-ext": r("POST", "/echo/c", "Transfer-Encoding: chunked",
                        body=b"5;name=value\r\nhello\r\n0\r\n\r\n"),
    "echo-trailers": r("POST", "/echo/t", "Transfer-Encoding: chunked",
                       body=chunked("abc", trailers=("X-Trailer: one", "X-Other: two"))),
    "echo-binary-body": r("POST", "/echo/b", body=bytes(range(256))),
    "json-valid": r("POST", "/json", "Content-Type: application/json", body='{"a":[1,{"b":null}]}'),
    "json-invalid": r("POST", "/json", body="[1,2"),
    "json-empty": r("POST", "/json"),
    "json-deep": r("POST", "/json", body="[" * 70 + "]" * 70),
    "json-nul": r("POST", "/json", body='"a\\u0000b"'),
    "go-user": r("GET", "/go?to=h_user&id=7&extra=1", "Host: x"),
    "go-files": r("GET", "/go?to=h_files&rest=a/b%20c&s=4", "Host: x"),
    "go-api": r("GET", "/go?to=api.get_item&id=3&s=0", "Host: x"),
    "go-unknown": r("GET", "/go?to=nope", "Host: x"),
    "go-bad-status": r("GET", "/go?to=h_index&s=5", "Host: x"),
    "go-slash-rest": r("GET", "/go?to=h_files&rest=/evil.example", "Host: x"),
    "abort-fail": r("GET", "/abort/0"),
    "abort-noresp": r("GET", "/abort/1"),
    "abort-unbalanced": r("GET", "/abort/2"),
    "abort-teapot": r("GET", "/abort/3?m=%3Cscript%3E"),
    "abort-twice": r("GET", "/abort/4"),
    "abort-404-html": r("GET", "/abort/404?m=<b>x</b>", "Accept: text/html"),
    "abort-999": r("GET", "/abort/999"),
    "stream": r("GET", "/stream?n=5&size=100"),
    "stream-json": r("GET", "/stream?n=3&json=1"),
    "stream-fail": r("GET", "/stream?n=5&fail=2&pre=1"),
    "stream-big": r("GET", "/stream?n=2&size=40000"),
    "stream-pause": r("GET", "/stream?n=16&size=40000"),
    "stream-pause-fail": r("GET", "/stream?n=16&size=40000&fail=12"),
    "stream-pause-pipelined": r("GET", "/stream?n=8&size=40000&json=") + r("GET", "/user/1") +
                              r("GET", "/stream?n=8&size=40000", version="HTTP/1.0"),
    "stream-http10": r("GET", "/stream?n=2", version="HTTP/1.0"),
    "stream-head": r("HEAD", "/stream?n=2"),
    "big": r("GET", "/big/40000"),
    "big-static": r("GET", "/big/33000?static=1"),
    "big-head": r("HEAD", "/big/100"),
    "big-ctype": r("GET", "/big/10?ct=text/x%0d%0aEvil:%201"),
    "setc": r("GET", "/setc?n=a&v=b&p=/x&d=ex.com&secure=1&js=1&ss=2&hn=X-Y&hv=z&del=1"),
    "setc-inject": r("GET", "/setc?n=a%0d%0a&v=b;c&hn=X-Y&hv=a%0d%0aSet-Cookie:%20evil=1"),
    "setc-managed": r("GET", "/setc?hn=Content-Length&hv=0"),
    "setc-ctype": r("GET", "/setc?hn=content-type&hv=text/x%01"),
    "html": r("GET", "/html"),
    "not-found-html": r("GET", "/nothing/here", "Accept: text/html"),
    "items-put": r("PUT", "/items/5", body="x"),
    "items-delete": r("DELETE", "/items/5"),
    "items-405": r("GET", "/items/5"),
    "items-options": r("OPTIONS", "/items/5"),
    "options-star": r("OPTIONS", "*"),
    "slash-redirect": r("GET", "/slash?x=1"),
    "api-deep-redirect": r("GET", "/api/v1/deep/3"),
    "api-item": r("GET", "/api/v1/items/9?oid=" + UUID),
    "api-create": r("POST", "/api/v1/items", "Content-Type: application/json", body='{"n":1}'),
    "api-create-422": r("POST", "/api/v1/items", body="[]"),
    "api-any": r("GET", "/api/v1/any/a/b/c"),
    "api-404": r("GET", "/api/v1/nothing"),
    "api-deny": r("GET", "/api/v1/items/1", "X-Deny: 1"),
    "api-hook-fail": r("GET", "/api/v1/items/1", "X-Hook-Fail: 1"),
    "api-status": r("GET", "/api/v1/items/1", "X-Status: 299"),
    "api-errh-fail": r("GET", "/api/v1/items/x", "X-Errh-Fail: 1"),
    "api-405": r("DELETE", "/api/v1/items/1"),
    "admin-ok": r("GET", f"/api/v1/admin/{UUID}/x/", "Cookie: admin=1"),
    "admin-denied": r("GET", f"/api/v1/admin/{UUID}/x/"),
    "admin-redirect": r("GET", f"/api/v1/admin/{UUID}/x"),
    "hooked": r("GET", "/hooked"),
    "pipelined-3": r("GET", "/") + r("GET", "/user/1") + r("POST", "/json", body="[1]"),
    "pipelined-close-middle": r("GET", "/") + r("GET", "/", "Connection: close") + r("GET", "/"),
    "pipelined-stream": r("GET", "/stream?n=3&size=3000") + r("GET", "/big/5000") + r("HEAD", "/"),
    "pipelined-50": r("GET", "/") * 50,
    "http10": r("GET", "/", version="HTTP/1.0"),
    "http10-keepalive": r("GET", "/", "Connection: keep-alive", version="HTTP/1.0") + r("GET", "/"),
    "expect-continue": r("POST", "/echo/e", "Expect: 100-continue", body="data"),
    "expect-continue-413": r("POST", "/echo/e", "Expect: 100-continue", "Content-Length: 5000"),
    "expect-other": r("POST", "/echo/e", "Expect: fancy", body="data"),
    "head-root": r("HEAD", "/"),
    "request-id": r("GET", "/", "X-Request-Id: abc-123_x.y"),
    "request-id-bad": r("GET", "/", "X-Request-Id: " + "a" * 70),
    "percent-int": r("GET", "/user/%34%32"),
    "percent-nul": r("GET", "/echo/%00"),
    "percent-bad": r("GET", "/echo/%zz"),
    "percent-truncated": r("GET", "/echo/a%2"),
    "query-edge": r("GET", "/echo/q?a&b=&=c&&;a=1%&a=%41+%42&q=%"),
    "absolute-form": r("GET", "http://example.com/user/1?name=x", "Host: example.com"),
    "absolute-no-path": r("GET", "https://example.com", "Host: example.com"),
    "upgrade": r("GET", "/", "Connection: Upgrade", "Upgrade: websocket") + b"\x81\x00garbage",
    "connect": r("CONNECT", "example.com:443"),
    "unknown-method": r("BREW", "/"),
    "http2-version": r("GET", "/", version="HTTP/2.0"),
    "http09": b"GET /\r\n\r\n",
    "missing-host": r("GET", "/", host=False),
    "two-hosts": r("GET", "/", "Host: a", "Host: b"),
    "empty-header-name": b"GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n",
    "fragment": r("GET", "/user/1#frag"),
    "chunk-bare-lf": r("POST", "/echo/c", "Transfer-Encoding: chunked", body=b"3\nabc\n0\n\n"),
    "form-urlencoded": r("POST", "/form", "Content-Type: application/x-www-form-urlencoded",
                         body="a=1&a=%41+b&b=&c"),
    "form-multipart": r("POST", "/form", "Content-Type: multipart/form-data; boundary=XyZ",
                        body=b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue\r\n"
                             b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; "
                             b"filename=\"../../x\\\\evil.txt\"\r\nContent-Type: text/plain\r\n\r\n"
                             b"file\x00data\r\n--XyZ--\r\n"),
    "form-multipart-chunked": r("POST", "/form", "Content-Type: multipart/form-data; boundary=\"q q\"",
                                "Transfer-Encoding: chunked",
                                body=chunked("--q q\r\nContent-Disposition: form-data; name=a\r\n\r\n",
                                             "v\r\n--q q--")),
    "form-multipart-bad": r("POST", "/form", "Content-Type: multipart/form-data; boundary=",
                            body="--\r\n\r\n"),
    "form-multipart-toobig": r("POST", "/form", "Content-Type: multipart/form-data; boundary=b",
                               "Content-Length: 9000", cl=False) + b"--b\r\n",
    "form-no-type": r("POST", "/form", body="a=1"),
    "static-file": r("GET", "/static/a.txt"),
    "static-big": r("GET", "/static/big.bin"),
    "static-head": r("HEAD", "/static/big.bin"),
    "static-range": r("GET", "/static/big.bin", "Range: bytes=70000-70100"),
    "static-range-suffix": r("GET", "/static/a.txt", "Range: bytes=-5"),
    "static-range-bad": r("GET", "/static/a.txt", "Range: bytes=9-3"),
    "static-range-416": r("GET", "/static/a.txt", "Range: bytes=100-"),
    "static-range-multi": r("GET", "/static/a.txt", "Range: bytes=0-1,3-4"),
    "static-if-range": r("GET", "/static/a.txt", "Range: bytes=0-3",
                         "If-Range: Sun, 06 Nov 1994 08:49:37 GMT"),
    "static-ims": r("GET", "/static/sub/app.css", "If-Modified-Since: Sun, 06 Nov 2044 08:49:37 GMT"),
    "static-inm": r("GET", "/static/sub/app.css", "If-None-Match: \"x\", W/\"y\", *"),
    "static-dotdot": r("GET", "/static/../secret.txt"),
    "static-dotdot-encoded": r("GET", "/static/%2e%2e/secret.txt"),
    "static-dotdot-slash": r("GET", "/static/sub/..%2F..%2Fsecret.txt"),
    "static-symlink": r("GET", "/static/link"),
    "static-symlink-dir": r("GET", "/static/up/secret.txt"),
    "static-hidden": r("GET", "/static/sub/.hidden"),
    "static-dir": r("GET", "/static/sub"),
    "static-post": r("POST", "/static/a.txt", body="x"),
    "static-pipelined": r("GET", "/static/big.bin") + r("GET", "/static/a.txt", "Range: bytes=1-2"),
    "go-static": r("GET", "/go?to=static&rest=sub/app.css"),
    # smuggling and framing attacks: every one must be refused
    "cl-te": r("POST", "/echo/s", "Content-Length: 4", "Transfer-Encoding: chunked",
               body=b"0\r\n\r\nGET /smuggled HTTP/1.1\r\n\r\n", cl=False),
    "cl-cl": r("POST", "/echo/s", "Content-Length: 3", "Content-Length: 4", body=b"abcd", cl=False),
    "cl-list": r("POST", "/echo/s", "Content-Length: 3, 3", body=b"abc", cl=False),
    "cl-plus": r("POST", "/echo/s", "Content-Length: +3", body=b"abc", cl=False),
    "cl-negative": r("POST", "/echo/s", "Content-Length: -1", body=b"abc", cl=False),
    "cl-huge": r("POST", "/echo/s", "Content-Length: 99999999999999999999", cl=False),
    "te-gzip-chunked": r("POST", "/echo/s", "Transfer-Encoding: gzip, chunked", body=chunked("a")),
    "te-chunked-gzip": r("POST", "/echo/s", "Transfer-Encoding: chunked, gzip", body=chunked("a")),
    "te-two-fields": r("POST", "/echo/s", "Transfer-Encoding: chunked", "Transfer-Encoding: identity",
                       body=chunked("a")),
    "te-xchunked": r("POST", "/echo/s", "Transfer-Encoding: xchunked", body=chunked("a")),
    "te-http10": r("POST", "/echo/s", "Transfer-Encoding: chunked", body=chunked("a"),
                   version="HTTP/1.0"),
    "chunk-size-overflow": r("POST", "/echo/s", "Transfer-Encoding: chunked",
                             body=b"ffffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
    "chunk-bad-size": r("POST", "/echo/s", "Transfer-Encoding: chunked", body=b"zz\r\nabc\r\n0\r\n\r\n"),
    "chunk-over-limit": r("POST", "/echo/s", "Transfer-Encoding: chunked",
                          body=chunked("a" * 3000, "b" * 3000)),
    "obs-fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: one\r\n two\r\n\r\n",
    "space-before-colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "bare-lf": b"GET / HTTP/1.1\nHost: x\n\n",
    "bare-cr": b"GET / HTTP/1.1\rHost: x\r\n\r\n",
    "nul-in-header": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "header-no-colon": b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n",
    # limits (max_header_size 2K, 16 headers, URI 512, body 4K)
    "uri-too-long": r("GET", "/echo/" + "a" * 600),
    "header-too-large": r("GET", "/", "X-Big: " + "b" * 3000),
    "too-many-headers": r("GET", "/", *[f"X-H{i}: {i}" for i in range(20)]),
    "body-too-large": r("POST", "/echo/x", "Content-Length: 5000", body=b"x" * 5000, cl=False),
    "body-at-limit": r("POST", "/echo/x", body=b"y" * 4096),
    "pipelined-after-error": b"GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n" + r("GET", "/"),
    "leading-crlf": b"\r\n\r\n" + r("GET", "/user/1"),
    "post-then-crlf": r("POST", "/echo/p", body="x=1") + b"\r\n" + r("GET", "/user/2"),
    "partial-request": b"GET /user/1 HTTP/1.1\r\nHost: x\r\nX-Partial: ",
    "partial-body": r("POST", "/echo/p", "Content-Length: 100", cl=False) + b"only some",
    "many-small-headers": r("GET", "/echo/h", *[f"X-{i}: {'v' * 100}" for i in range(15)]),
}

# Control bytes: a spread over schedules, plus byte-by-byte and deferred
# writes for the inputs where incremental parsing matters most.
INCREMENTAL = {"echo-chunked", "echo-chunk-ext", "echo-trailers", "pipelined-3", "pipelined-stream",
               "expect-continue", "echo-json", "body-at-limit", "partial-request",
               "partial-body", "many-small-headers", "chunk-over-limit", "stream-big",
               "leading-crlf", "post-then-crlf", "stream-pause", "stream-pause-pipelined",
               "stream-pause-fail", "form-multipart", "form-multipart-chunked", "static-big",
               "static-pipelined", "form-multipart-toobig"}

URL = {
    "basic": "/user/42/x%2Fy/edit?a=1&b=2\nsession=abc; x=\"y\"\nx\n"
             "/user/<int:id>/<path:p>/edit\n/user/<id>\n/<path:p>\n/slash/\n",
    "converters": f"/o/{UUID}/3.5/7\n\n\n/o/<uuid:u>/<float:f>/<int:i>\n/o/<u>/<f>/<i>\n",
    "static-priority": "/a/b\n\n\n/a/b\n/a/<x>\n/<y>/b\n/<path:p>\n",
    "trailing-slash": "/dir\n\n\n/dir/\n",
    "path-middle": "/f/a/b/c/edit\n\n\n/f/<path:p>/edit\n/f/<path:p>\n",
    "two-paths": "/x/y/z\n\n\n/<path:a>/<path:b>\n",
    "escapes": "/%41%2f%zz/%00\n\n\n/<a>/<b>\n",
    "query": "/q?a=1&a=2;b=%20+x&&=&c&d=%\n\n\n/q\n",
    "cookies": "/\na=1; b = 2 ;c=\"q\"; d=\"; =e; f\nc\n/\n",
    "cookie-dup": "/\nsid=1; sid=2\nsid\n/\n",
    "bad-patterns": "/\n\n\nnoslash\n//\n/<int:>\n/<bad:x>\n/<x>/<x>\n/a<b>\n/%\n/<1x>\n/<int:x\n",
    "many-params": "/" + "/".join(f"v{i}" for i in range(33)) + "\n\n\n/" +
                   "/".join(f"<p{i}>" for i in range(33)) + "\n",
    "unicode-static": "/caf%C3%A9\n\n\n/caf\u00e9\n",
    "plus-path": "/a+b/c%2Bd\n\n\n/<x>/<y>\n",
    "uuid-case": f"/{UUID.upper()}\n\n\n/<uuid:u>\n",
    "int-boundary": "/9223372036854775807/9223372036854775808\n\n\n/<int:a>/<int:b>\n/<int:a>/<b>\n",
    "root": "/\n\n\n/\n/<x>\n",
    "too-many-segments": "/" + "a/" * 260 + "\n\n\n/" + "a/" * 256 + "<path:p>\n/<path:p>/\n",
    "empty-segments": "/a//b/\n\n\n/a/<path:p>\n/a\n",
}

JSON = {
    "ascii": b"hello, world",
    "controls": bytes(range(0x20)) + b'"\\/<>&\x7f',
    "utf8-valid": "caf\u00e9 \u20ac \U0001f600 \u2028\u2029".encode(),
    "utf8-boundaries": b"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
                       b"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
    "utf8-invalid": b"\xc0\x80\xc1\xbf\xe0\x80\x80\xed\xa0\x80\xf4\x90\x80\x80\xf5\xff\x80\xbf",
    "utf8-truncated": b"ok \xe2\x82",
    "utf8-mixed": b"a\xe2\x82\xacb\xe2\x82c\xf0\x9f\x98d",
    "json-doc": b'{"a":[1,2.5,-0.0,1e300,"x\\u0000y",null,true,false],"b":{"c":"\\u00e9<>&"}}',
    "json-reals": b"[0.1,1.0,1e-7,123456789012345678,-9223372036854775808,5e-324,1.7976931348623157e308]",
    "json-deep": b"[" * 70 + b"]" * 70,
    "json-string": b'"\\ud83d\\ude00 \\n\\t"',
    "program": bytes([0, 3, 3, ord("k"), ord("e"), ord("y"), 4, 5]) + b"hello" + bytes([1, 5]) +
               bytes(8) + bytes([6]) + b"\x00\x00\x00\x00\x00\x00\xf0\x3f" + bytes([7, 8, 2, 2]),
    "program-misuse": bytes([4, 1, 4, 1, 2, 2, 2, 0, 4, 1, 10, 3, 0]),
}

CONFIG = {
    "size": b"10M", "size-kib": b"16KiB", "size-g": b"1g", "size-plain": b"4096",
    "size-max": b"8589934591G", "size-overflow": b"18446744073709551616",
    "size-bad": b"1.5K", "size-b": b"10B",
    "dur-ms": b"500ms", "dur-s": b"10s", "dur-m": b"2m", "dur-h": b"1h", "dur-d": b"30d", "dur-plain": b"7",
    "dur-overflow": b"2562047788016h", "empty": b"", "space": b" 10",
    "flags": b"run\x00--port\x008080\x00--debug\x00--no-debug\x00--max-body=1M\x00pos\x00--unknown",
    "flags-missing-value": b"--port",
    "flags-app-key": b"--app.flag\x00--no-app.flag\x00--name=\x00--",
    "flags-config": b"--config=vial.ini\x00--CONFIG\x00x",
}


# schema seeds: see the comment at the top of fuzz/schema_fuzz.c for the layout.
S_NAMES = ["a", "b", "id", "name", "tags", "time", "n", "", "a.b", "[0]", "(root)", "\u00e9",
           "x y", "a[1]", "props", "L" * 120]
S_LIMITS = [0.0, 1.0, 2.0, 3.0, 8.0, 64.0, -1.0, 0.5, 1.5, -2.5, 100.0, 1e300,
            2.0 ** 53, 2.0 ** 63, -(2.0 ** 63), 2.0 ** 32]
S_TYPES = dict(any=0, string=1, int=2, number=3, bool=4, object=5, array=6, timestamp=7)
REQ, NUL, NONEMPTY = 1, 2, 4
S_CHECKS = dict(even=0, no_x=1, small=2, never=3)
S_ONEOF = dict(ab=0, empty=1, utf8=2, long=3)


def fld(name, typ, flags=0, lo=0.0, hi=0.0, schema=None, items=None, check=None, one_of=None):
    """One field: [name][type | flags | check? | one_of?][min | max][refs]."""
    d1 = S_TYPES[typ] | flags << 3 | (0x40 if check else 0) | (0x80 if one_of else 0)
    d2 = S_LIMITS.index(lo) | S_LIMITS.index(hi) << 4
    if schema is not None:
        d3 = schema
    elif items is not None:
        d3 = 4 | items
    else:
        d3 = 8
    d3 |= (S_CHECKS[check] << 4 if check else 0) | (S_ONEOF[one_of] << 6 if one_of else 0)
    return bytes([S_NAMES.index(name), d1, d2, d3])


def sch(schemas, body, items=(), ctl=0x10):
    """schemas: [(strict, [fields])], schema 0 the root; ctl: the control byte."""
    out = bytes([ctl, (len(schemas) - 1) | len(items) << 2]) + b"".join(items)
    for strict, fs in schemas:
        out += bytes([int(strict) | len(fs) << 1]) + b"".join(fs)
    return out + (body.encode() if isinstance(body, str) else body)


LOG = [
    (False, [fld("id", "string", REQ | NONEMPTY, hi=8.0), fld("name", "string", REQ),
             fld("n", "int", check="even"), fld("tags", "array", hi=2.0, items=0),
             fld("a", "array", REQ, lo=1.0, hi=100.0, schema=1)]),
    (True, [fld("time", "timestamp", REQ), fld("b", "string", REQ | NONEMPTY, one_of="ab"),
            fld("props", "object", schema=2)]),
    (True, [fld("n", "int", lo=0.0, hi=100.0), fld("id", "string", NUL)]),
]
LOG_ITEMS = [fld("tags", "string", lo=1.0, hi=3.0)]
TREE = [(True, [fld("n", "int", REQ), fld("a", "array", schema=0)])]
NAMES_STRICT = [(True, [fld("a.b", "int", REQ), fld("[0]", "string"), fld("(root)", "bool"),
                        fld("", "any", NUL), fld("\u00e9", "number", lo=-2.5, hi=1.5)])]

SCHEMA = {
    "log-valid": sch(LOG, '{"id":"ABC","name":"S","extra":1,"n":4,"tags":["a","bc"],'
                          '"a":[{"time":"2018-10-18T21:37:28-06:00","b":"a",'
                          '"props":{"n":52,"id":null}}]}', LOG_ITEMS),
    "log-every-problem": sch(LOG, '{"id":"   ","n":3,"tags":["a","","abcd"],'
                                  '"a":[{"time":"2018-10-18T21:37:28","b":"JUMP"},'
                                  '{"b":"b","props":{"n":"52","zzz":1}},'
                                  '{"time":"2018-10-18T21:37:28Z","b":"","props":[]},"x"]}',
                             LOG_ITEMS),
    "log-prefix": sch(LOG, '{"id":"TOOLONGID","name":null,"tags":[""],"a":[]}', LOG_ITEMS, ctl=0x11),
    "log-as-field": sch(LOG, '["ab","abcd",null,1]', LOG_ITEMS, ctl=0x0a),
    "tree": sch(TREE, '{"n":1,"a":[{"n":2,"a":[]},{"n":3,"a":[{"n":"x"},{"a":[{"n":4,"q":1}]}]}]}'),
    "tree-deep": sch(TREE, '{"n":0,"a":[' * 40 + '{"n":1}' + ']}' * 40),
    "int-2p53": sch([(False, [fld("n", "int", hi=2.0 ** 53), fld("id", "number", lo=-(2.0 ** 63), hi=2.0 ** 63)])],
                    '{"n":9007199254740993,"id":-9223372036854775808}'),
    "int-limits": sch([(False, [fld("n", "int", lo=-(2.0 ** 63), hi=2.0 ** 32),
                                fld("a", "number", lo=0.5, hi=1.5), fld("b", "int", lo=1.0)])],
                      '{"n":9223372036854775807,"a":1.5000000000000002,"b":0}'),
    "names-strict": sch(NAMES_STRICT, '{"a.b":1,"[0]":"x","(root)":true,"":null,"\u00e9":2,'
                                      '"a":{"b":1},"x.y":[1]}', ctl=0x10),
    "names-root-key": sch(NAMES_STRICT, '{"":1,"a.b":"1"}', ctl=0x13),
    "one-of-long": sch([(False, [fld("b", "string", REQ, one_of="long"),
                                 fld("a", "string", one_of="utf8"), fld("n", "string", one_of="empty")])],
                       '{"b":"zzz","a":"\u00e9","n":" "}'),
    "odd-bounds": sch([(False, [fld("a", "string", lo=-1.0, hi=1.5), fld("b", "array", lo=0.5),
                                fld("n", "string", lo=1e300), fld("id", "array", lo=-2.5, hi=-1.0),
                                fld("tags", "string", hi=1e300)])],
                      '{"a":"ab","b":[],"n":"x","id":[1],"tags":""}'),
    "long-names": sch([(False, [fld("L" * 120, "object", REQ, schema=0), fld("a", "any")])],
                      '{"' + "L" * 120 + '":{"' + "L" * 120 + '":{}}}', ctl=0x14),
    "object-check": sch([(False, [fld("props", "object", check="small", schema=1),
                                  fld("a", "array", check="small", schema=1),
                                  fld("n", "any", check="even"), fld("name", "string", check="no_x")]),
                         (False, [fld("b", "bool", NUL)])],
                        '{"props":{"b":true,"c":1,"d":2},"a":[{},{},{}],"n":3,"name":"x"}'),
    "nested-items": sch([(False, [fld("a", "array", items=0)])], '[[1],[[]],[[[2]]],3]',
                        [fld("a", "array", hi=3.0, items=0, check="small")], ctl=0x08),
    "types": sch([(True, [fld("a", "any"), fld("b", "bool"), fld("n", "number", NUL),
                          fld("id", "int"), fld("time", "timestamp"), fld("name", "string", NONEMPTY),
                          fld("tags", "array", NUL)])],
                 '{"a":[],"b":1,"n":null,"id":1.0,"time":"2018-10-18 21:37:28.123456z",'
                 '"name":"\\t\\n","tags":{},"x":"\\u0000"}'),
    "nul-string": sch([(False, [fld("name", "string", REQ, one_of="ab")])], '{"name":"a\\u0000b"}'),
    "not-json": sch(LOG, '{"id":', LOG_ITEMS),
    "empty-body": sch(LOG, b"", LOG_ITEMS),
    "duplicate-key": sch(LOG, '{"id":"a","id":"b"}', LOG_ITEMS),
    "top-level-scalar": sch(LOG, '"just a string"', LOG_ITEMS),
}


# page_fuzz: byte 0 = key shape (bits 0-1) and URL limit (bits 2-3), then the
# cursor, '\n', the query.  Cursors: canonical ones of each shape, and near
# misses (cut, padded, stray bits, bad lengths).
def _b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


def _int(v):
    return struct.pack(">q", v)


def _text(t):
    t = t.encode()
    n = len(t)
    return (bytes([n]) if n < 0x80 else bytes([0x80 | n & 0x7f, n >> 7])) + t


PAGE = {
    "int-int": b"\x00" + _b64u(_int(1) + _int(2)) + b"\nx=1&limit=5&after=zz",
    "int-int-min": b"\x04" + _b64u(_int(-2**63) + _int(2**63 - 1)) + b"\n",
    "int-int-cut": b"\x00" + _b64u(_int(1) + _int(2))[:-1] + b"\nlim%69t=1",
    "text-int": b"\x09" + _b64u(_text("Zo\u00eb & Co") + _int(7)) + b"\nq=a+b&z",
    "text-int-long": b"\x01" + _b64u(_text("x" * 300) + _int(7)) + b"\n",
    "text-int-badlen": b"\x01" + _b64u(bytes([0x82, 0x00]) + b"ab" + _int(7)) + b"\n",
    "text-text-int": b"\x0e" + _b64u(_text("a") + _text("") + _int(0)) + b"\n<x>=\"|\"&after=1",
    "int": b"\x03" + _b64u(_int(5)) + b"\n",
    "empty": b"\x00\n&&",
}


# ---------------------------------------------------------------- WebSocket
# ws_frame seeds: a control byte (bit 0: permessage-deflate, bits 1-2: the
# message limit 64/1000/70000/1M, bits 3-7: split seed), then client frames.

def wsf(b0, payload=b"", mask=True, lenform=0, key=b"\x37\xfa\x21\x3d"):
    """A client frame; lenform 2/8 forces a length form."""
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
    return head + key + bytes(b ^ key[i & 3] for i, b in enumerate(payload))


def _deflate(data):
    import zlib
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    return out[:-4]


def _ws_frame_seeds():
    import zlib
    text = lambda t: wsf(0x81, t.encode() if isinstance(t, str) else t)
    close = lambda code, reason=b"": wsf(0x88, struct.pack("!H", code) + reason)
    bomb = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = bomb.compress(b"\0" * (4 << 20)) + bomb.flush(zlib.Z_SYNC_FLUSH)
    seeds = {
        "echo": (0x06, text("Hello") + wsf(0x82, b"\x00\x01\xff") + close(1000, b"bye")),
        "lengths": (0x04, text("a" * 125) + text("b" * 126) + wsf(0x82, b"c" * 65536)),
        "fragments": (0x02, wsf(0x01, b"fra") + wsf(0x89, b"p") + wsf(0x00, b"") + wsf(0x80, b"gment")),
        "control": (0x02, wsf(0x89, b"") + wsf(0x8a, b"pong") + wsf(0x89, b"x" * 125)),
        "utf8": (0x02, wsf(0x01, "κό".encode()[:3]) + wsf(0x80, "κόσμε".encode()[3:])),
        "utf8-bad": (0x02, text(b"\xce\xba\xed\xa0\x80")),
        "close-empty": (0x02, wsf(0x88, b"")),
        "close-bad-code": (0x02, close(1005)),
        "close-one-byte": (0x02, wsf(0x88, b"\x03")),
        "close-bad-reason": (0x02, close(1000, b"\xff")),
        "unmasked": (0x02, wsf(0x81, b"x", mask=False)),
        "rsv": (0x02, wsf(0xf1, b"x")),
        "opcode": (0x02, wsf(0x83, b"")),
        "nonminimal": (0x02, wsf(0x81, b"x", lenform=2) + wsf(0x82, b"y", lenform=8)),
        "too-big": (0x00, wsf(0x82, b"z" * 65)),
        "too-big-fragments": (0x00, wsf(0x02, b"z" * 40) + wsf(0x80, b"z" * 40)),
        "deflate": (0x07, wsf(0xc1, _deflate(b"Hello, compressed world " * 10)) + wsf(0x81, b"plain")),
        "deflate-fragments": (0x07, wsf(0x41, _deflate(b"abc" * 500)[:20]) +
                              wsf(0x80, _deflate(b"abc" * 500)[20:])),
        "deflate-bomb": (0x03, wsf(0xc2, bomb[:-4])),
        "deflate-corrupt": (0x07, wsf(0xc1, b"\xff\xff\xff")),
        "deflate-rsv1-continuation": (0x07, wsf(0x41, b"\x02\x00") + wsf(0xc0, b"\x00")),
    }
    return {k: bytes([c]) + v for k, (c, v) in seeds.items()}


KEY = "dGhlIHNhbXBsZSBub25jZQ=="


def _ws_handshake_seeds():
    def hs(target="/ws", *extra, version="13", method="GET", http="HTTP/1.1", key=KEY):
        h = ["Host: localhost", "Upgrade: websocket", "Connection: Upgrade"]
        if key is not None:
            h.append("Sec-WebSocket-Key: " + key)
        if version is not None:
            h.append("Sec-WebSocket-Version: " + version)
        return r(method, target, *h, *extra, version=http, host=False)
    return {
        "ok": hs(),
        "ok-frames": hs() + wsf(0x81, b"hello") + wsf(0x89, b"p") + wsf(0x88, struct.pack("!H", 1000)),
        "ok-close-cmd": hs() + wsf(0x81, b"close") + wsf(0x88, struct.pack("!H", 1000)),
        "protocols": hs("/ws", "Sec-WebSocket-Protocol: superchat, chat"),
        "deflate": hs("/ws", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; "
                      "server_max_window_bits=10") + wsf(0xc1, _deflate(b"squeeze " * 40)),
        "deflate-offers": hs("/ws", "Sec-WebSocket-Extensions: x-foo; a=\"b,c\", permessage-deflate; "
                             "server_max_window_bits=8, permessage-deflate; server_no_context_takeover"),
        "auth-ok": hs("/auth", "X-Token: t") + wsf(0x81, b"hi"),
        "auth-refused": hs("/auth"),
        "origin-same": hs("/ws", "Origin: http://localhost"),
        "origin-foreign": hs("/ws", "Origin: https://evil.example"),
        "origin-any": hs("/any", "Origin: https://evil.example"),
        "plain-get": r("GET", "/ws"),
        "version-8": hs(version="8"),
        "no-version": hs(version=None),
        "no-key": hs(key=None),
        "bad-key": hs(key="not base64 at all!!!!!=="),
        "http10": hs(http="HTTP/1.0"),
        "post": hs(method="POST"),
        "head": hs(method="HEAD"),
        "no-connection": r("GET", "/ws", "Host: localhost", "Upgrade: websocket", "Sec-WebSocket-Key: " + KEY,
                           "Sec-WebSocket-Version: 13", host=False),
        "violation": hs() + wsf(0x81, b"x", mask=False),
        "hello-pipelined": r("GET", "/hello") + hs(),
    }


# args: a query string checked by vial_args_valid against fuzz/args_fuzz.c's
# documented parameters (n int -5..5 required, r number 0..1, b bool, k a|b,
# s 1..3 characters).
ARGS = {
    "ok": "n=3",
    "all": "n=-5&r=0.5&b=true&k=a&s=abc",
    "bad": "n=9&r=2&b=maybe&k=c&s=abcd",
    "escaped": "n=%094&r=1e0",
    "utf8": "n=1&s=%C3%A9%C3%A9",
    "hex": "r=0x1&n= 1",
    "zeros": "n=0000000000000000000005&r=-0",

# csv_fuzz: byte 0 = read schedule seed (bit 7: max_record 64), then the file.
_TRACKS_HEADER = ("id,name,album,album_id,artists,artist_ids,track_number,disc_number,explicit,danceability,"
                  "energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,"
                  "duration_ms,time_signature,year,release_date\n")
_TRACK = ("7lmeHLHBe4nmXzuXc0HDjk,Testify,The Battle Of Los Angeles,2eia0myWFgoHuttJytCxgX,"
          "\"['Rage Against The Machine']\",['2d0hyoQ5ynDBnkvAbJKORj'],1,1,False,0.47,0.978,7,-5.399,1,0.0727,"
          "0.0261,1.09e-05,0.356,0.503,117.906,210133,4.0,1999,1999-11-02\n")
CSV = {
    "tracks": "\x00" + _TRACKS_HEADER + _TRACK,
    "tracks-crlf-bom": "\x05\ufeff" + (_TRACKS_HEADER + _TRACK).replace("\n", "\r\n"),
    "quirks": "\x07" + _TRACKS_HEADER + 'x,"Two\nLines","A ""B"", C","[""Screamin\' Jay Hawkins"", \'AC\\\\DC\']",'
              "['a', 'b'],1,1,True,0.5,0.5,0,4.5,0,0,0,0,0,0,0.0,1000,0.0,0,0000\n",
    "errors": "\x11" + 'a,b"c,d\n"open,e\n"x"y,z\n,,\n\n\r\n"",""\n"unterminated',
    "small-max": "\x83" + "short,line\n" + "x" * 100 + ",long\nafter,it\n",
    "empty": "\x00",
}

# pylist_fuzz: byte 0 = the item limit, then the literal.
PYLIST = {
    "one": "\x10['Rage Against The Machine']",
    "two": "\x10['Crosby, Stills, Nash & Young', 'Earth, Wind & Fire']",
    "apostrophe": "\x10[\"Screamin' Jay Hawkins\"]",
    "escapes": "\x10['Rock \\'n\\' Roll \"Legends\"', 'AC\\\\DC', 'tab\\there', '\\xc9t\\u00e9 \\U0001F3B8', '\\101']",
    "utf8": "\x10['Beyonc\u00e9', '\u6771\u4eac\u306e\u591c', '\u041f\u0440\u0438\u0432\u0435\u0442']",
    "concat-trailing": "\x10[ 'a' \"b\" , 'c', ]",
    "empty": "\x10[]",
    "too-many": "\x01['a', 'b']",
    "broken": "\x10['Unclosed",
    "numbers": "\x10[1, 2]",
    "prefix": "\x10[r'a', b'b', " + "'" * 3 + "c" + "'" * 3 + "]",
    "surrogate": "\x10['\\ud800']",
    "words": "\x10AC/DC \u00c9T\u00c9 Stra\u00dfe \u0395\u039b\u03a0\u038a\u0394\u0391 \uff21 \U0001F3B8 x\u0301",
}


def write(target, seeds):
    d = os.path.join(ROOT, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())


def main():
    http = {}
    for i, (name, data) in enumerate(sorted(HTTP.items())):
        ctrl = int(hashlib.sha1(name.encode()).hexdigest()[:2], 16)
        http[name] = bytes([ctrl]) + data
        if name in INCREMENTAL:
            http[name + ".bytewise"] = bytes([0x01]) + data
            http[name + ".deferred"] = bytes([0x06 | (i % 8) << 5]) + data
            http[name + ".timeout"] = bytes([0x12]) + data
            http[name + ".eof"] = bytes([0x0c]) + data
            http[name + ".reset"] = bytes([0x1c | (i % 8) << 5]) + data
    write("http", http)
    write("url", URL)
    write("json", JSON)
    write("config", CONFIG)
    write("schema", SCHEMA)
    write("page", PAGE)
    write("args", ARGS)
    write("ws_frame", _ws_frame_seeds())
    write("ws_handshake", _ws_handshake_seeds())
    write("csv", CSV)
    write("pylist", PYLIST)


if __name__ == "__main__":
    main()

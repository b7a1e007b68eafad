"""
Web-layer tests of vial-server (and of vial-testapp for uploads): static
files, sessions, CSRF, security headers, multipart uploads.

  static files   MIME types, ETag/If-None-Match and Last-Modified/
                 If-Modified-Since → 304, Range → 206/416, If-Range, HEAD,
                 sendfile bodies byte for byte, Cache-Control from
                 --static-cache-control, and every path-traversal attempt
                 (dot segments plain and encoded, absolute paths,
                 backslashes, symlinks out of the root) → 404
  sessions       the dashboard's cookie (HttpOnly, SameSite=Lax, Secure only
                 behind a trusted proxy saying https), tampering → logged
                 out, server-side sessions in the database and in Redis seen
                 by a second instance, logout revoking them
  CSRF           dashboard form posts need the session's token (form field or
                 X-CSRF-Token); bearer/API-key requests are exempt
  headers        CSP, X-Frame-Options, nosniff, Referrer-Policy on HTML
  uploads        vial-testapp POST /upload: --max-upload (413, also
                 chunked), a 5 MiB file byte for byte, fields beside files,
                 malformed multipart → 400

Servers are vial-server on a fresh SQLite database (port 0, SECRET_KEY of
their own, the repo's migrations and templates); accounts are made through
POST /api/register.  Redis: $VIAL_TEST_REDIS_URL, else a throwaway one from
scripts/redis.sh (skipped when redis-server is missing, outside make test).
"""
from __future__ import annotations

import base64
import email.utils
import hashlib
import json
import os
import pathlib
import re
import secrets
import shutil
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import REPO, Conn, Server, build_request, chunked

MIGRATIONS_ROOT = REPO  # apps/<app>/migrations
TEMPLATES = REPO / "apps" / "dashboard" / "templates"
STATIC = REPO / "static"
PASSWORD = "correct horse battery staple"
HTTP_TIMEOUT = 30.0
CHEAP_ARGON2 = ("--password-opslimit", "1", "--password-memlimit", "64K")
NO_LIMITS = ("--ratelimit-register", "off", "--ratelimit-login", "off")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def new_secret() -> str:
    return base64.b64encode(os.urandom(48)).decode()


def uname(prefix="web") -> str:
    return f"{prefix}_{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------- servers


class Servers:
    """Starts vial programs for a module (or a test) and checks each one
    at teardown: exit 0 on SIGTERM, no sanitizer report."""

    def __init__(self, tmp: pathlib.Path):
        self.tmp = tmp
        self.started: list[Server] = []

    def start(self, *args, name="vial-server", env=None) -> Server:
        d = self.tmp / f"srv{len(self.started)}"
        d.mkdir()
        srv = Server(name, ["--workers", "2", *map(str, args)], env or {}, d, d, None)
        self.started.append(srv)
        try:
            srv.start()
        except RuntimeError as e:
            pytest.fail(str(e), pytrace=False)
        return srv

    def vial_server(self, db: pathlib.Path, *args, secret=None, static=STATIC, env=None) -> Server:
        """vial-server on the SQLite file `db` (shared when two get the same)."""
        e = {"SECRET_KEY": secret or new_secret()}
        e.update(env or {})
        srv = self.start("--database-url", f"sqlite:///{db}", "--migrations-root", MIGRATIONS_ROOT,
                         "--dashboard-templates", TEMPLATES, "--static-dir", static, *CHEAP_ARGON2, *NO_LIMITS,
                         *args, env=e)
        srv.secret = e["SECRET_KEY"]
        srv.db = db
        return srv

    def check(self):
        problems = []
        for srv in self.started:
            problems += srv.problems()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    s = Servers(tmp_path_factory.mktemp("web"))
    yield s
    s.check()


@pytest.fixture
def fresh_servers(tmp_path):
    s = Servers(tmp_path)
    yield s
    s.check()


@pytest.fixture(scope="module")
def web(servers, tmp_path_factory):
    """The dashboard as shipped: repo static/ and templates, cookie sessions,
    no trusted proxy, the Log API's writes guarded by tokens."""
    db = tmp_path_factory.mktemp("webdb") / "vial.db"
    return servers.vial_server(db, "--logs-protect", "writes")


# ---------------------------------------------------------------------------- a browser, roughly


class Browser:
    """A cookie jar on one server that follows no redirect by itself, with
    the dashboard's forms (CSRF token read from the page, like a browser)."""

    def __init__(self, srv: Server, headers: dict | None = None):
        self.srv = srv
        self.base = f"http://127.0.0.1:{srv.port}"
        self.s = requests.Session()
        self.s.trust_env = False
        self.s.headers.update(headers or {})

    def req(self, method, path, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT)
        kw.setdefault("allow_redirects", False)
        return self.s.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    @property
    def cookie(self) -> str | None:
        return self.s.cookies.get("session")

    def set_cookie(self, value):
        self.s.cookies.clear()
        if value is not None:
            self.s.cookies.set("session", value, domain="127.0.0.1", path="/")

    def token(self, page="/login") -> str:
        r = self.get(page)
        assert r.status_code == 200, (page, r.status_code, r.text[:300])
        m = CSRF_RE.search(r.text)
        assert m, f"no csrf_token in {page}"
        return m.group(1)

    def login(self, name, password=PASSWORD) -> requests.Response:
        tok = self.token("/login")
        r = self.post("/login", data={"csrf_token": tok, "username": name, "password": password})
        assert r.status_code == 303, (r.status_code, r.text[:500])
        assert r.headers["Location"].endswith("/explorer"), r.headers
        return r

    def logged_in_as(self) -> str | None:
        """The username the nav shows on /me, None when sent to /login."""
        r = self.get("/me")
        if r.status_code == 303:
            assert urllib.parse.urlsplit(r.headers["Location"]).path == "/login", r.headers
            return None
        assert r.status_code == 200, (r.status_code, r.text[:300])
        m = re.search(r'id="account">([^<]*)<', r.text)
        assert m, r.text[:500]
        return m.group(1)

    def close(self):
        self.s.close()


def register(srv: Server, name: str | None = None, password=PASSWORD) -> str:
    name = name or uname()
    r = requests.post(f"http://127.0.0.1:{srv.port}/api/register", json={"username": name, "password": password},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, (r.status_code, r.text)
    return name


def api_token(srv: Server, name: str, password=PASSWORD) -> str:
    r = requests.post(f"http://127.0.0.1:{srv.port}/api/login", json={"username": name, "password": password},
                      timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["access_token"]


def set_cookies(r) -> list[str]:
    """Every Set-Cookie of a raw (conftest) or requests response."""
    if hasattr(r, "header_all"):
        return r.header_all("set-cookie")
    return r.raw.headers.getlist("Set-Cookie")


def cookie_attrs(line: str) -> tuple[str, str, dict]:
    """'name=value; Path=/; HttpOnly' -> (name, value, {attr_lower: value or True})."""
    parts = [p.strip() for p in line.split(";")]
    name, _, value = parts[0].partition("=")
    attrs = {}
    for p in parts[1:]:
        k, eq, v = p.partition("=")
        attrs[k.lower()] = v if eq else True
    return name, value, attrs


def session_set_cookie(r) -> tuple[str, dict]:
    lines = [c for c in set_cookies(r) if c.startswith("session=")]
    assert len(lines) == 1, set_cookies(r)
    _, value, attrs = cookie_attrs(lines[0])
    return value, attrs


@pytest.fixture(scope="module")
def account(web):
    return register(web)


@pytest.fixture
def browser(web):
    b = Browser(web)
    yield b
    b.close()


@pytest.fixture
def logged_in(web, account):
    b = Browser(web)
    b.login(account)
    yield b
    b.close()


# ============================================================================ static files

BIG_SIZE = 3 * 1024 * 1024 + 123  # > 64 KiB: sent with sendfile
SECRET_TEXT = b"TOP SECRET: outside the static root\n"
FILES = {
    "index.html": b"<!doctype html><title>t</title><p>static page</p>\n",
    "style.css": b"body { color: #123; }\n",
    "app.js": b"console.log('static');\n",
    "module.mjs": b"export default 1;\n",
    "data.json": b'{"a": 1}\n',
    "pic.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4,
    "logo.PNG": b"\x89PNG\r\n\x1a\nupper",
    "icon.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "font.woff2": b"wOF2" + b"\0" * 60,
    "photo.jpeg": b"\xff\xd8\xff\xe0" + b"\0" * 10,
    "notes.txt": b"".join(b"line %04d of the notes\n" % i for i in range(200)),
    "archive.tar.gz": b"\x1f\x8b\x08\0" + b"\0" * 20,
    "app.wasm": b"\0asm\x01\0\0\0",
    "unknown.xyz": b"what am I",
    "noext": b"no extension",
    "empty.txt": b"",
    "a b.txt": b"with a space",
    "h\u00e9llo w\u00f6rld.txt".encode(): b"unicode name",
    "sub/dir/deep.txt": b"deep file",
    "exactly64k.bin": bytes((i * 7) & 0xFF for i in range(64 * 1024)),
    "just-over64k.bin": bytes((i * 13) & 0xFF for i in range(64 * 1024 + 1)),
}
MIME = {
    "index.html": "text/html; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "module.mjs": "text/javascript; charset=utf-8",
    "data.json": "application/json",
    "pic.png": "image/png",
    "logo.PNG": "image/png",
    "icon.svg": "image/svg+xml",
    "font.woff2": "font/woff2",
    "photo.jpeg": "image/jpeg",
    "notes.txt": "text/plain; charset=utf-8",
    "archive.tar.gz": "application/gzip",
    "app.wasm": "application/wasm",
    "unknown.xyz": "application/octet-stream",
    "noext": "application/octet-stream",
    "big.bin": "application/octet-stream",
}


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    """root/static holds the files; root/secret.txt and root/outside/ are
    what traversal attempts aim at; symlinks inside static/ point out."""
    root = tmp_path_factory.mktemp("staticroot")
    st = root / "static"
    for name, data in FILES.items():
        p = st / (name.decode() if isinstance(name, bytes) else name)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    big = os.urandom(BIG_SIZE)
    (st / "big.bin").write_bytes(big)
    (root / "secret.txt").write_bytes(SECRET_TEXT)
    (root / "outside").mkdir()
    (root / "outside" / "secret2.txt").write_bytes(SECRET_TEXT)
    (st / "link-out.txt").symlink_to("../secret.txt")
    (st / "link-abs.txt").symlink_to(root / "secret.txt")
    (st / "link-dir").symlink_to("../outside")
    (st / "link-abs-dir").symlink_to(root / "outside")
    (st / "sub" / "link-up.txt").symlink_to("../../secret.txt")
    (st / "link-passwd").symlink_to("/etc/passwd")
    (st / "big.bin").chmod(0o644)
    return root


def static_file(static_root, name) -> bytes:
    return (static_root / "static" / name).read_bytes()


@pytest.fixture(scope="module")
def proxied(servers, static_root, tmp_path_factory):
    """vial-server behind a trusted proxy (127.0.0.1), serving the temp
    static dir with a Cache-Control of its own."""
    db = tmp_path_factory.mktemp("proxdb") / "vial.db"
    return servers.vial_server(db, "--trusted-proxies", "127.0.0.1", "--static-cache-control",
                               "public, max-age=600", static=static_root / "static")


def get(srv, target, headers=None, method="GET"):
    return srv.request(method, target, headers=headers)


@pytest.mark.parametrize("name", sorted(MIME))
def test_static_mime_types(proxied, static_root, name):
    r = get(proxied, "/static/" + urllib.parse.quote(name))
    assert r.status == 200, r
    assert r.header("content-type") == MIME[name], r
    assert r.body == static_file(static_root, name)
    assert r.header("x-content-type-options") == "nosniff"
    assert r.header("accept-ranges") == "bytes"


def test_static_repo_assets(web):
    """The dashboard's own assets, with the default Cache-Control."""
    for path, ctype in (("css/app.css", "text/css; charset=utf-8"), ("js/explorer.js", "text/javascript; charset=utf-8")):
        r = get(web, "/static/" + path)
        assert r.status == 200, r
        assert r.header("content-type") == ctype
        assert r.body == (STATIC / path).read_bytes()
        assert r.header("cache-control") == "no-cache", "default static_cache_control"


def test_static_names_decoded(proxied, static_root):
    for name in ("a b.txt", "h\u00e9llo w\u00f6rld.txt", "sub/dir/deep.txt"):
        r = get(proxied, "/static/" + urllib.parse.quote(name))
        assert r.status == 200, (name, r)
        assert r.body == static_file(static_root, name)
    r = get(proxied, "/static/style.css?v=123")
    assert r.status == 200 and r.body == FILES["style.css"], "a query string is not part of the name"


def test_static_cache_control(proxied, web):
    assert get(proxied, "/static/style.css").header("cache-control") == "public, max-age=600"
    assert get(web, "/static/css/app.css").header("cache-control") == "no-cache"


def test_static_etag_if_none_match(proxied):
    r = get(proxied, "/static/notes.txt")
    etag = r.header("etag")
    assert etag and re.fullmatch(r'(W/)?"[^"]+"', etag), etag
    assert get(proxied, "/static/notes.txt").header("etag") == etag, "stable"
    assert get(proxied, "/static/style.css").header("etag") != etag, "per file"
    for inm in (etag, f'"nope", {etag}', "*", "W/" + etag if not etag.startswith("W/") else etag):
        nm = get(proxied, "/static/notes.txt", {"If-None-Match": inm})
        assert nm.status == 304, (inm, nm)
        assert nm.body == b""
        assert nm.header("content-length") in (None, "0"), nm
        assert nm.header("etag") == etag
        assert nm.header("cache-control") == "public, max-age=600"
    for inm in ('"nope"', '"' + etag.strip('"W/') + 'x"'):
        ok = get(proxied, "/static/notes.txt", {"If-None-Match": inm})
        assert ok.status == 200 and ok.body == FILES["notes.txt"], (inm, ok)


def test_static_last_modified_if_modified_since(proxied, static_root):
    r = get(proxied, "/static/notes.txt")
    lm = r.header("last-modified")
    assert lm and lm.endswith(" GMT"), lm
    mtime = (static_root / "static" / "notes.txt").stat().st_mtime
    assert email.utils.parsedate_to_datetime(lm).timestamp() == int(mtime)
    assert get(proxied, "/static/notes.txt", {"If-Modified-Since": lm}).status == 304
    later = email.utils.formatdate(mtime + 3600, usegmt=True)
    assert get(proxied, "/static/notes.txt", {"If-Modified-Since": later}).status == 304
    earlier = email.utils.formatdate(mtime - 3600, usegmt=True)
    r2 = get(proxied, "/static/notes.txt", {"If-Modified-Since": earlier})
    assert r2.status == 200 and r2.body == FILES["notes.txt"]
    assert get(proxied, "/static/notes.txt", {"If-Modified-Since": "yesterday"}).status == 200, "bad date ignored"
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
    r3 = get(proxied, "/static/notes.txt", {"If-None-Match": '"other"', "If-Modified-Since": later})
    assert r3.status == 200


def test_static_validators_follow_changes(fresh_servers, tmp_path):
    st = tmp_path / "st"
    st.mkdir()
    f = st / "f.txt"
    f.write_bytes(b"version one")
    srv = fresh_servers.vial_server(tmp_path / "v.db", static=st)
    r = get(srv, "/static/f.txt")
    etag, lm = r.header("etag"), r.header("last-modified")
    f.write_bytes(b"version two!")
    os.utime(f, (time.time() + 5, time.time() + 5))
    r2 = get(srv, "/static/f.txt", {"If-None-Match": etag})
    assert r2.status == 200 and r2.body == b"version two!", r2
    assert r2.header("etag") != etag
    r3 = get(srv, "/static/f.txt", {"If-Modified-Since": lm})
    assert r3.status == 200 and r3.body == b"version two!"


def test_static_range(proxied):
    data = FILES["notes.txt"]
    n = len(data)
    cases = [
        ("bytes=0-9", 0, 9),
        ("bytes=10-", 10, n - 1),
        ("bytes=-25", n - 25, n - 1),
        ("bytes=100-100", 100, 100),
        ("bytes=4000-999999", 4000, n - 1),  # the end is clamped
        (f"bytes=-{n + 50}", 0, n - 1),  # a suffix longer than the file: all of it
        ("bytes=5-99999999999999999999999", 5, n - 1),  # an end past 2^64
    ]
    for rng, a, b in cases:
        r = get(proxied, "/static/notes.txt", {"Range": rng})
        assert r.status == 206, (rng, r)
        assert r.header("content-range") == f"bytes {a}-{b}/{n}", (rng, r.headers)
        assert r.body == data[a:b + 1], rng
        assert int(r.header("content-length")) == b - a + 1
        assert r.header("content-type") == "text/plain; charset=utf-8"
        assert r.header("etag")


def test_static_range_unsatisfiable(proxied):
    n = len(FILES["notes.txt"])
    for rng in (f"bytes={n}-", f"bytes={n + 10}-{n + 20}", "bytes=-0", "bytes=99999999999999999999999-"):
        r = get(proxied, "/static/notes.txt", {"Range": rng})
        assert r.status == 416, (rng, r)
        assert r.header("content-range") == f"bytes */{n}", r.headers
    r = get(proxied, "/static/empty.txt", {"Range": "bytes=0-"})
    assert r.status == 416 and r.header("content-range") == "bytes */0", r


def test_static_range_ignored(proxied):
    """Forms that are not one satisfiable byte range get the whole file."""
    data = FILES["notes.txt"]
    for rng in ("bytes=0-1,5-6", "items=0-5", "bytes=abc", "bytes=9-3", "bytes=", "bytes=--5", "bytes=1-2x",
                "bytes=0x10-20"):
        r = get(proxied, "/static/notes.txt", {"Range": rng})
        assert r.status == 200, (rng, r)
        assert r.body == data and r.header("content-range") is None


def test_static_if_range(proxied):
    data = FILES["notes.txt"]
    etag = get(proxied, "/static/notes.txt").header("etag")
    lm = get(proxied, "/static/notes.txt").header("last-modified")
    r = get(proxied, "/static/notes.txt", {"Range": "bytes=0-4", "If-Range": etag})
    assert r.status == 206 and r.body == data[:5]
    r = get(proxied, "/static/notes.txt", {"Range": "bytes=0-4", "If-Range": lm})
    assert r.status == 206 and r.body == data[:5]
    r = get(proxied, "/static/notes.txt", {"Range": "bytes=0-4", "If-Range": '"stale"'})
    assert r.status == 200 and r.body == data, "a stale If-Range gets the whole file"
    r = get(proxied, "/static/notes.txt", {"Range": "bytes=0-4", "If-Range": "W/" + etag})
    assert r.status == 200 and r.body == data, "If-Range compares strongly: a weak tag never matches"
    old = email.utils.formatdate(email.utils.parsedate_to_datetime(lm).timestamp() - 60, usegmt=True)
    r = get(proxied, "/static/notes.txt", {"Range": "bytes=0-4", "If-Range": old})
    assert r.status == 200 and r.body == data, "the file changed since that date"
    r = get(proxied, "/static/notes.txt", {"Range": "bytes=0-4", "If-None-Match": etag})
    assert r.status == 304, "fresh cache: no body, ranged or not"


def test_static_head(proxied, static_root):
    for name in ("notes.txt", "big.bin", "empty.txt"):
        g = get(proxied, "/static/" + name)
        h = proxied.request("HEAD", "/static/" + name)
        assert h.status == 200 and h.body == b""
        size = (static_root / "static" / name).stat().st_size
        assert h.header("content-length") == str(size) == g.header("content-length"), (h, g)
        for k in ("content-type", "etag", "last-modified", "cache-control", "accept-ranges"):
            assert h.header(k) == g.header(k), k
    h = proxied.request("HEAD", "/static/notes.txt", headers={"Range": "bytes=5-9"})
    assert h.status == 206 and h.header("content-range").startswith("bytes 5-9/") and h.header("content-length") == "5"
    with proxied.conn() as c:  # a HEAD leaves the connection usable
        c.request("HEAD", "/static/big.bin")
        r = c.request("GET", "/static/style.css")
        assert r.status == 200 and r.body == FILES["style.css"]


def test_static_methods(proxied):
    r = proxied.request("POST", "/static/style.css", body=b"x")
    assert r.status == 405, r
    assert "GET" in (r.header("allow") or ""), r.headers


@pytest.mark.parametrize("name", ["big.bin", "exactly64k.bin", "just-over64k.bin"])
def test_static_large_file_identical(proxied, static_root, name):
    want = static_file(static_root, name)
    r = get(proxied, "/static/" + name)
    assert r.status == 200
    assert r.header("content-length") == str(len(want))
    assert hashlib.sha256(r.body).hexdigest() == hashlib.sha256(want).hexdigest()
    # through an ordinary client, streamed
    with requests.get(f"http://127.0.0.1:{proxied.port}/static/{name}", stream=True, timeout=HTTP_TIMEOUT) as rr:
        h = hashlib.sha256()
        for chunk in rr.iter_content(1 << 16):
            h.update(chunk)
    assert h.hexdigest() == hashlib.sha256(want).hexdigest()


def test_static_large_file_ranges_and_keepalive(proxied, static_root):
    big = static_file(static_root, "big.bin")
    with proxied.conn(timeout=20) as c:
        for a, b in ((0, 70000), (100_000, 1_300_000), (BIG_SIZE - 70_000, BIG_SIZE - 1)):
            r = c.request("GET", "/static/big.bin", headers={"Range": f"bytes={a}-{b}"})
            assert r.status == 206
            assert r.body == big[a:b + 1], (a, b)
        # pipelined: two sendfile bodies then a small one, in order
        c.send(build_request("GET", "/static/big.bin") + build_request("GET", "/static/just-over64k.bin")
               + build_request("GET", "/static/style.css"))
        assert c.read_response().body == big
        assert c.read_response().body == FILES["just-over64k.bin"]
        assert c.read_response().body == FILES["style.css"]


def test_static_large_file_parallel_and_slow_readers(proxied, static_root):
    """Eight clients at once, two of them reading slowly through a small
    receive buffer (sendfile meets a full socket): every body is exact."""
    import socket
    import threading
    want = hashlib.sha256(static_file(static_root, "big.bin")).hexdigest()
    results = {}

    def fetch(i):
        try:
            with Conn(proxied.port, timeout=30) as c:
                if i < 2:
                    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
                c.send(build_request("GET", "/static/big.bin"))
                if i < 2:
                    time.sleep(0.5)  # let the server's writes stall
                results[i] = hashlib.sha256(c.read_response().body).hexdigest()
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = repr(e)

    threads = [threading.Thread(target=fetch, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: want for i in range(8)}


TRAVERSALS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/.%2e/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/static/../../../../../../etc/passwd",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/sub/dir/..%2f..%2f..%2fsecret.txt",
    "/static/%252e%252e/secret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",
    "/static/..;/secret.txt",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc%2Fpasswd",
    "/static/ABSOLUTE",  # the secret's absolute path, encoded (filled in below)
    "/static/..\\secret.txt",
    "/static/..%5csecret.txt",
    "/static/%5c..%5c..%5csecret.txt",
    "/static/\\etc\\passwd",
    "/static/link-out.txt",
    "/static/link-abs.txt",
    "/static/link-dir/secret2.txt",
    "/static/link-abs-dir/secret2.txt",
    "/static/sub/link-up.txt",
    "/static/link-passwd",
    "/static/./style.css",
    "/static/sub/../style.css",
    "/static/sub",
    "/static/sub/",
    "/static/.",
    "/static/..",
    "/static/",
    "/static/missing.txt",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_static_traversal_is_404(proxied, static_root, target):
    if target == "/static/ABSOLUTE":
        target = "/static/" + urllib.parse.quote(str(static_root / "secret.txt"), safe="")
    for method in ("GET", "HEAD"):
        r = proxied.request(method, target)
        assert r.status == 404, (method, target, r)
        assert SECRET_TEXT not in r.body and b"root:" not in r.body


def test_static_nul_byte_refused(proxied):
    r = get(proxied, "/static/style.css%00.png")
    assert r.status in (400, 404), r
    assert FILES["style.css"] not in r.body


# ============================================================================ security headers

HTML_HEADERS = ("content-security-policy", "x-frame-options", "x-content-type-options", "referrer-policy")


def assert_security_headers(r, html=True):
    h = {k.lower(): v for k, v in (r.headers.items() if hasattr(r.headers, "items") else r.headers)}
    assert h.get("x-content-type-options") == "nosniff", h
    assert h.get("referrer-policy") in ("strict-origin-when-cross-origin", "no-referrer", "same-origin",
                                        "strict-origin"), h
    if html:
        csp = h.get("content-security-policy", "")
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp, csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, csp
        assert h.get("x-frame-options") == "DENY", h


def test_security_headers_on_pages(web, logged_in, browser):
    for path in ("/", "/login", "/register"):
        r = browser.get(path)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html"), (path, r.status_code)
        assert_security_headers(r)
    for path in ("/explorer", "/explorer?user=x&type=y", "/me"):
        r = logged_in.get(path)
        assert r.status_code == 200, (path, r.status_code)
        assert_security_headers(r)
        assert r.headers.get("Cache-Control") == "no-store", "logged-in pages are not cached"
    # error pages too
    tok = browser.token()
    r = browser.post("/login", data={"csrf_token": tok, "username": "", "password": ""})
    assert r.status_code == 400
    assert_security_headers(r)
    r = browser.post("/login", data={"username": "x", "password": "y"})
    assert r.status_code == 403
    assert_security_headers(r, html=r.headers.get("Content-Type", "").startswith("text/html"))


def test_security_headers_on_json_and_static(web, proxied):
    for r in (requests.get(f"http://127.0.0.1:{web.port}/health", timeout=HTTP_TIMEOUT),
              requests.get(f"http://127.0.0.1:{web.port}/logs?limit=1", timeout=HTTP_TIMEOUT),
              requests.get(f"http://127.0.0.1:{proxied.port}/static/app.js", timeout=HTTP_TIMEOUT)):
        assert_security_headers(r, html=False)
    r = requests.get(f"http://127.0.0.1:{proxied.port}/static/index.html", timeout=HTTP_TIMEOUT)
    assert_security_headers(r, html=True)  # an HTML file is a page: CSP and framing rules apply


def test_security_headers_configurable(fresh_servers, tmp_path):
    csp = "default-src 'none'; frame-ancestors 'none'"
    srv = fresh_servers.vial_server(tmp_path / "a.db", "--content-security-policy", csp)
    r = srv.get("/login")
    assert r.header("content-security-policy") == csp
    off = fresh_servers.vial_server(tmp_path / "b.db", "--no-security-headers")
    r = off.get("/login")
    assert r.status == 200
    for h in HTML_HEADERS:
        assert r.header(h) is None, (h, r.headers)


# ============================================================================ sessions

def test_session_cookie_attributes(web, account):
    r = web.get("/login")
    value, attrs = session_set_cookie(r)
    assert value
    assert attrs.get("httponly") is True, attrs
    assert str(attrs.get("samesite", "")).lower() == "lax", attrs
    assert attrs.get("path") == "/", attrs
    assert "secure" not in attrs, "plain HTTP, no proxy: not Secure"
    assert int(attrs.get("max-age", "0")) > 0
    b = Browser(web)
    try:
        r = b.login(account)
        value2, attrs2 = session_set_cookie(r)
        assert value2 != value
        assert attrs2.get("httponly") is True and str(attrs2.get("samesite")).lower() == "lax", attrs2
        assert b.logged_in_as() == account
        # an ordinary page view does not resend the cookie
        r = b.get("/explorer")
        assert r.status_code == 200
        assert not [c for c in set_cookies(r) if c.startswith("session=")], set_cookies(r)
    finally:
        b.close()


def test_session_cookie_secure_behind_trusted_proxy(proxied, web):
    r = proxied.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
    _, attrs = session_set_cookie(r)
    assert attrs.get("secure") is True, attrs
    assert attrs.get("httponly") is True and str(attrs.get("samesite")).lower() == "lax"
    r = proxied.get("/login", headers={"X-Forwarded-Proto": "http"})
    assert "secure" not in session_set_cookie(r)[1]
    r = proxied.get("/login")
    assert "secure" not in session_set_cookie(r)[1]
    # the login itself, through the proxy (requests keeps a Secure cookie for
    # https only: the jar is filled by hand, as the proxy's client would)
    name = register(proxied)
    b = Browser(proxied, headers={"X-Forwarded-Proto": "https"})
    try:
        r = b.get("/login")
        b.set_cookie(session_set_cookie(r)[0])
        tok = CSRF_RE.search(r.text).group(1)
        r = b.post("/login", data={"csrf_token": tok, "username": name, "password": PASSWORD})
        assert r.status_code == 303, (r.status_code, r.text[:300])
        value, attrs = session_set_cookie(r)
        assert attrs.get("secure") is True, attrs
        b.set_cookie(value)
        assert b.logged_in_as() == name
        # the logout's clearing cookie is Secure too
        tok = b.token("/explorer")
        r = b.post("/logout", data={"csrf_token": tok})
        assert r.status_code == 303
        assert session_set_cookie(r)[1].get("secure") is True
    finally:
        b.close()
    # the same header from an untrusted client is not believed
    r = web.get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "secure" not in session_set_cookie(r)[1], "X-Forwarded-Proto from a client that is not a trusted proxy"


def _b64d(s: str) -> bytes:
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def _b64e(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def test_session_tampered_cookie_is_logged_out(web, account):
    b = Browser(web)
    try:
        b.login(account)
        good = b.cookie
        assert b.logged_in_as() == account
        payload, _, mac = good.rpartition(".")
        data = json.loads(_b64d(payload))
        assert data["d"]["uid"] >= 1 and isinstance(data["e"], int), data
        other_uid = dict(data, d=dict(data["d"], uid=data["d"]["uid"] + 1))
        longer = dict(data, e=data["e"] + 10 * 365 * 86400)
        tampered = {
            "mac bit flipped": payload + "." + mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1],
            "payload changed (other uid), old mac": _b64e(json.dumps(other_uid, separators=(",", ":")).encode()) + "." + mac,
            "expiry pushed, old mac": _b64e(json.dumps(longer, separators=(",", ":")).encode()) + "." + mac,
            "no mac": payload,
            "empty mac": payload + ".",
            "mac only": "." + mac,
            "mac of another cookie": payload + "." + _b64e(hashlib.sha256(b"x").digest()),
            "truncated": good[:-5],
            "extra dot": payload + ".." + mac,
            "garbage": "not-a-session",
            "huge": "A" * 4090 + "." + mac,
            "bad base64": "!!!!." + mac,
        }
        for why, value in tampered.items():
            b.set_cookie(value)
            r = b.get("/explorer")
            assert r.status_code == 303, (why, r.status_code)
            assert urllib.parse.urlsplit(r.headers["Location"]).path == "/login", why
            assert b.logged_in_as() is None, why
            r = b.get("/explorer/stats")
            assert r.status_code == 401, (why, r.status_code)
        b.set_cookie(good)
        assert b.logged_in_as() == account, "the untouched cookie still works"
    finally:
        b.close()


def test_session_tampered_cookie_loses_csrf_token(web, account):
    """A forged cookie is an empty session: the old CSRF token goes with it."""
    b = Browser(web)
    try:
        b.login(account)
        tok = b.token("/explorer")
        payload, _, mac = b.cookie.rpartition(".")
        b.set_cookie(payload + "." + mac[::-1])
        r = b.post("/logout", data={"csrf_token": tok})
        assert r.status_code == 403, r.status_code
    finally:
        b.close()


def test_session_cookie_store_two_instances(fresh_servers, tmp_path):
    """Signed cookies need no store: an instance with the same secret
    accepts them, one with another secret does not."""
    db = tmp_path / "shared.db"
    secret = new_secret()
    a = fresh_servers.vial_server(db, secret=secret)
    b = fresh_servers.vial_server(db, secret=secret)
    c = fresh_servers.vial_server(db, secret=new_secret())
    name = register(a)
    ba = Browser(a)
    try:
        ba.login(name)
        for srv, want in ((b, name), (c, None)):
            bb = Browser(srv)
            bb.set_cookie(ba.cookie)
            assert bb.logged_in_as() == want, srv.port
            bb.close()
    finally:
        ba.close()


def test_session_logout_clears_the_cookie(logged_in, account):
    tok = logged_in.token("/explorer")
    r = logged_in.post("/logout", data={"csrf_token": tok})
    assert r.status_code == 303
    value, attrs = session_set_cookie(r)
    assert value == ""
    assert attrs.get("max-age") == "0" or email.utils.parsedate_to_datetime(attrs["expires"]).year < 2000, attrs
    assert attrs.get("httponly") is True and attrs.get("path") == "/"
    assert logged_in.logged_in_as() is None
    logged_in.login(account)


def test_session_lifetime(fresh_servers, tmp_path):
    """Both stores forget a session after --session-lifetime."""
    srvs = {store: fresh_servers.vial_server(tmp_path / f"{store}.db", "--session-lifetime", "2s",
                                             "--session-store", store)
            for store in ("cookie", "server")}
    browsers = {}
    for store, srv in srvs.items():
        name = register(srv)
        b = Browser(srv)
        r = b.login(name)
        assert session_set_cookie(r)[1].get("max-age") == "2", set_cookies(r)
        assert b.logged_in_as() == name
        browsers[store] = b
    time.sleep(3.2)
    for store, b in browsers.items():
        assert b.logged_in_as() is None, f"{store}: the session outlived its lifetime"
        b.close()


def test_session_default_max_age(web):
    _, attrs = session_set_cookie(web.get("/login"))
    assert attrs.get("max-age") == str(7 * 86400), attrs
    exp = email.utils.parsedate_to_datetime(attrs["expires"]).timestamp()
    assert abs(exp - (time.time() + 7 * 86400)) < 120, attrs


# ---------------------------------------------------------------------------- server-side sessions


def redis_url_or_skip(tmp_path_factory) -> tuple[str, pathlib.Path | None]:
    url = os.environ.get("VIAL_TEST_REDIS_URL")
    if url:
        return url, None
    if not shutil.which("redis-server"):
        if os.environ.get("VIAL_TEST_PG_DIR") or os.environ.get("MAKELEVEL"):
            pytest.fail("redis-server missing under make test", pytrace=False)
        pytest.skip("redis-server not installed (apt-get install redis-server) and VIAL_TEST_REDIS_URL unset")
    d = tmp_path_factory.mktemp("redis")
    p = subprocess.run([str(REPO / "scripts" / "redis.sh"), "start", str(d)], capture_output=True, text=True,
                       timeout=30)
    if p.returncode:
        pytest.fail(f"scripts/redis.sh start failed: {p.stderr}", pytrace=False)
    return p.stdout.strip(), d


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    url, d = redis_url_or_skip(tmp_path_factory)
    yield url
    if d is not None:
        subprocess.run([str(REPO / "scripts" / "redis.sh"), "stop", str(d)], capture_output=True, timeout=30)


def redis_cmd(url, *args) -> str:
    u = urllib.parse.urlsplit(url)
    argv = ["redis-cli", "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 6379), "-n",
            (u.path or "/0").lstrip("/") or "0"]
    if u.password:
        argv += ["-a", u.password, "--no-auth-warning"]
    p = subprocess.run(argv + list(args), capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def db_rows(db: pathlib.Path, sql, *args):
    c = sqlite3.connect(str(db), timeout=10)
    try:
        return c.execute(sql, args).fetchall()
    except sqlite3.OperationalError as e:
        if "no such table" in str(e):
            return None
        raise
    finally:
        c.close()


@pytest.mark.parametrize("store", ["database", "redis"])
def test_server_sessions_shared_between_instances(fresh_servers, tmp_path, tmp_path_factory, request, store):
    db = tmp_path / "shared.db"
    extra = ["--session-store", "server"]
    url = None
    if store == "redis":
        url = request.getfixturevalue("redis_url")
        extra += ["--redis-url", url]
    secret = new_secret()
    a = fresh_servers.vial_server(db, *extra, secret=secret)
    b = fresh_servers.vial_server(db, *extra, secret=secret)
    name = register(a)

    # an id the client makes up is never adopted (no fixation by a planted cookie)
    planted = secrets.token_urlsafe(32)[:43]
    bp = Browser(a)
    bp.set_cookie(planted)
    r = bp.get("/login")
    got, _ = session_set_cookie(r)
    assert got != planted and re.fullmatch(r"[A-Za-z0-9_-]{43}", got), got
    bp.close()

    ba = Browser(a)
    pre = ba.get("/login")
    pre_id, _ = session_set_cookie(pre)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", pre_id), f"a random 256-bit id, not data: {pre_id}"
    r = ba.login(name)
    sid, attrs = session_set_cookie(r)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", sid) and sid != pre_id, "a new id at login (no fixation)"
    assert attrs.get("httponly") is True and str(attrs.get("samesite")).lower() == "lax"

    if store == "database":
        rows = db_rows(db, "SELECT id, data FROM vial_sessions")
        ids = {r[0] for r in rows}
        assert sid in ids and pre_id not in ids, rows
        data = json.loads(dict(rows)[sid])
        assert isinstance(data.get("uid"), int)
    else:
        assert redis_cmd(url, "EXISTS", f"vial:sess:{sid}") == "1"
        assert redis_cmd(url, "EXISTS", f"vial:sess:{pre_id}") == "0", "the pre-login session is gone"
        assert 0 < int(redis_cmd(url, "TTL", f"vial:sess:{sid}")) <= 7 * 86400
        assert json.loads(redis_cmd(url, "GET", f"vial:sess:{sid}"))["uid"] >= 1
        rows = db_rows(db, "SELECT id FROM vial_sessions")
        assert not rows, f"Redis holds the sessions, not the database: {rows}"

    # log in on A, use the cookie on B
    bb = Browser(b)
    bb.set_cookie(sid)
    assert bb.logged_in_as() == name
    assert bb.get("/explorer").status_code == 200
    # a form on B with the token A's page gave
    tok = ba.token("/explorer")
    r = bb.post("/logout", data={"csrf_token": tok})
    assert r.status_code == 303, r.status_code
    # the logout on B ends the session everywhere: A no longer knows the id
    assert ba.logged_in_as() is None
    assert bb.logged_in_as() is None
    if store == "database":
        assert sid not in {r[0] for r in db_rows(db, "SELECT id FROM vial_sessions")}
    else:
        assert redis_cmd(url, "EXISTS", f"vial:sess:{sid}") == "0"
    # unknown or malformed ids are an empty session
    for bogus in (secrets.token_urlsafe(32)[:43], "short", "x" * 43 + "!", sid[:-1] + ("A" if sid[-1] != "A" else "B")):
        bb.set_cookie(bogus)
        assert bb.logged_in_as() is None, bogus
    ba.close()
    bb.close()


# ============================================================================ CSRF


def test_csrf_logout_needs_the_token(logged_in, account):
    tok = logged_in.token("/explorer")
    for why, data, headers in (
        ("no token", {}, {}),
        ("empty token", {"csrf_token": ""}, {}),
        ("wrong token", {"csrf_token": secrets.token_urlsafe(32)}, {}),
        ("shorter token", {"csrf_token": tok[:-1]}, {}),
        ("longer token", {"csrf_token": tok + "A"}, {}),
        ("wrong header", {}, {"X-CSRF-Token": secrets.token_urlsafe(32)}),
    ):
        r = logged_in.post("/logout", data=data, headers=headers)
        assert r.status_code == 403, (why, r.status_code, r.text[:200])
        assert logged_in.logged_in_as() == account, f"{why}: still logged in"
    r = logged_in.post("/logout", data={"csrf_token": tok})
    assert r.status_code == 303
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/login"
    assert logged_in.logged_in_as() is None
    logged_in.login(account)


def test_csrf_token_in_header(logged_in):
    tok = logged_in.token("/explorer")
    r = logged_in.post("/logout", headers={"X-CSRF-Token": tok})
    assert r.status_code == 303
    assert logged_in.logged_in_as() is None


def test_csrf_token_of_another_session(web, account):
    a, b = Browser(web), Browser(web)
    try:
        a.login(account)
        b.login(account)
        tok_b = b.token("/explorer")
        assert a.post("/logout", data={"csrf_token": tok_b}).status_code == 403
        assert a.logged_in_as() == account
    finally:
        a.close()
        b.close()


def test_csrf_login_and_register_forms(browser, account):
    """Login CSRF: the login and register forms need the token too."""
    r = browser.post("/login", data={"username": account, "password": PASSWORD})
    assert r.status_code == 403
    assert browser.logged_in_as() is None
    r = browser.post("/register", data={"username": uname(), "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 403
    # a cookie-less client cannot post either
    r = requests.post(f"{browser.base}/login", data={"csrf_token": "x", "username": account, "password": PASSWORD},
                      allow_redirects=False, timeout=HTTP_TIMEOUT)
    assert r.status_code == 403
    tok = browser.token("/register")
    name = uname()
    r = browser.post("/register", data={"csrf_token": tok, "username": name, "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert browser.logged_in_as() == name


def test_csrf_multipart_form(browser, account):
    """Forms posted as multipart/form-data carry the token just as well."""
    tok = browser.token("/login")
    fields = {"csrf_token": (None, tok), "username": (None, account), "password": (None, PASSWORD)}
    r = browser.post("/login", files=fields)
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert browser.logged_in_as() == account


def test_csrf_token_changes_with_the_session(logged_in, account):
    old = logged_in.token("/explorer")
    assert logged_in.post("/logout", data={"csrf_token": old}).status_code == 303
    assert logged_in.post("/login", data={"csrf_token": old, "username": account, "password": PASSWORD}).status_code == 403, \
        "the token of an ended session"
    logged_in.login(account)


def test_csrf_bearer_requests_exempt(web, logged_in, account):
    """A JSON API call with a bearer token (or API key) is not subject to CSRF,
    even with a session cookie in the jar, and a cookie alone does not make
    it authenticated."""
    token = api_token(web, account)
    body = {"userId": "csrf-user", "sessionId": "s", "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": "CLICK", "properties": {"locationX": 1, "locationY": 2}}]}
    r = logged_in.post("/logs", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, (r.status_code, r.text)
    r = logged_in.post("/logs", json=body)
    assert r.status_code == 401, "logs_protect=writes: the session cookie is no API credential"
    # on the CSRF-protected dashboard, an Authorization header skips the token check
    r = logged_in.post("/logout", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 303, r.status_code
    logged_in.login(account)


def test_csrf_safe_methods_change_nothing(logged_in, account):
    """GET and OPTIONS skip the token check, so they must not log out."""
    r = logged_in.get("/logout")
    assert r.status_code == 405, r.status_code
    r = logged_in.req("OPTIONS", "/logout")
    assert r.status_code in (200, 204), r.status_code
    r = logged_in.req("HEAD", "/logout")
    assert r.status_code == 405, r.status_code
    assert logged_in.logged_in_as() == account


def test_csrf_token_not_taken_from_the_query(logged_in, account):
    tok = logged_in.token("/explorer")
    r = logged_in.post("/logout?csrf_token=" + urllib.parse.quote(tok))
    assert r.status_code == 403, "a token in the URL (logs, Referer) is not accepted"
    assert logged_in.logged_in_as() == account


def test_csrf_text_plain_body(logged_in, account):
    """A cross-site <form enctype=text/plain> cannot pass for a form."""
    tok = logged_in.token("/explorer")
    r = logged_in.post("/logout", data=f"csrf_token={tok}", headers={"Content-Type": "text/plain"})
    assert r.status_code == 403, r.status_code
    assert logged_in.logged_in_as() == account


@pytest.mark.parametrize("auth", ["Basic dXNlcjpwYXNz", "Negotiate YIIB", "Digest username=\"u\""])
def test_csrf_browser_sent_authorization_not_exempt(logged_in, account, auth):
    r = logged_in.post("/logout", headers={"Authorization": auth})
    ok = r.status_code == 403 and logged_in.logged_in_as() == account
    if not ok:
        logged_in.login(account)
    assert ok, (auth, r.status_code)


# ============================================================================ escaping (templates end to end)

XSS = '"><img src=x onerror=alert(1)><script>alert(2)</script>'


def test_reflected_values_escaped(logged_in, browser):
    r = logged_in.get("/explorer", params={"user": XSS, "type": XSS})
    assert r.status_code == 200
    assert "<img src=x" not in r.text and "<script>alert" not in r.text
    assert 'value="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;"' in r.text or \
        "&lt;img src=x" in r.text, r.text[:2000]
    r = logged_in.get("/explorer", params={"start": XSS, "end": XSS})
    assert r.status_code == 400 and "<img src=x" not in r.text and "<script>alert" not in r.text
    tok = browser.token("/login")
    r = browser.post("/login", data={"csrf_token": tok, "username": XSS, "password": "whatever-password"})
    assert r.status_code == 401 and "<img src=x" not in r.text and "&lt;img src=x" in r.text
    tok = browser.token("/register")
    r = browser.post("/register", data={"csrf_token": tok, "username": XSS, "password": PASSWORD, "password2": PASSWORD})
    assert r.status_code == 400 and "<img src=x" not in r.text and "<script>alert" not in r.text


def test_stored_log_fields_escaped(web, logged_in, account):
    token = api_token(web, account)
    body = {"userId": "xss-user", "sessionId": XSS, "actions": [
        {"time": "2018-10-18T21:37:28-06:00", "type": XSS, "properties": {"viewedId": XSS}},
        {"time": "2018-10-18T21:37:29-06:00", "type": "NAVIGATE", "properties": {"pageFrom": XSS, "pageTo": XSS}}]}
    r = logged_in.post("/logs", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    r = logged_in.get("/explorer", params={"user": "xss-user"})
    assert r.status_code == 200
    assert r.text.count("xss-user") >= 2
    assert "<img src=x" not in r.text and "<script>alert" not in r.text
    assert r.text.count("&lt;img src=x onerror=alert(1)&gt;") >= 4, "every field shown, escaped"
    stats = logged_in.get("/explorer/stats", params={"user": "xss-user"})
    assert stats.status_code == 200 and stats.headers["Content-Type"] == "application/json"
    assert XSS in stats.json()["series"], "JSON carries the type as is (the chart draws it as text)"


# ============================================================================ uploads (vial-testapp)

MAX_UPLOAD = 8 * 1024 * 1024
MAX_BODY = 1024 * 1024


@pytest.fixture(scope="module")
def upload_dirs(tmp_path_factory):
    base = tmp_path_factory.mktemp("uploads")
    (base / "saved").mkdir()
    (base / "spool").mkdir()
    return base / "saved", base / "spool"


@pytest.fixture(scope="module")
def uploader(servers, upload_dirs):
    saved, spool = upload_dirs
    return servers.start("--max-upload", str(MAX_UPLOAD), "--max-body", str(MAX_BODY), "--upload-dir", spool,
                         "--testapp.upload-dir", saved, "--body-timeout", "5s", name="vial-testapp")


def multipart(parts, boundary="----vialtestboundary7MA4YWxk") -> tuple[bytes, str]:
    """parts: (name, value) text fields or (name, filename, content_type, bytes) files."""
    out = b""
    for p in parts:
        out += b"--" + boundary.encode() + b"\r\n"
        if len(p) == 2:
            out += f'Content-Disposition: form-data; name="{p[0]}"\r\n\r\n'.encode() + (
                p[1] if isinstance(p[1], bytes) else p[1].encode()) + b"\r\n"
        else:
            name, filename, ctype, data = p
            out += (f'Content-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                    f"Content-Type: {ctype}\r\n\r\n").encode() + data + b"\r\n"
    out += b"--" + boundary.encode() + b"--\r\n"
    return out, f"multipart/form-data; boundary={boundary}"


def post_upload(srv, body: bytes, ctype: str, chunk=False, timeout=30):
    headers = [("Content-Type", ctype)]
    if chunk:
        headers.append(("Transfer-Encoding", "chunked"))
        body = chunked(*[body[i:i + 65536] for i in range(0, len(body), 65536)])
    with Conn(srv.port, timeout=timeout) as c:
        try:
            c.send(build_request("POST", "/upload", headers, body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (413) and closed before the whole body was read
        return c.read_response()


def test_upload_5mib_identical_with_fields(uploader, upload_dirs):
    data = os.urandom(5 * 1024 * 1024)
    # bytes that look like the delimiter, inside the file
    data = data[:1000] + b"\r\n------vialtestboundary7MA4YWx" + data[1000:]
    small = b"\x00\x01\r\n--not-a-boundary\r\n\xff" * 10
    body, ctype = multipart([
        ("title", "holiday photos"),
        ("tag", "a"),
        ("tag", "b"),
        ("note", "line one\r\nline two \u00e9"),
        ("file", "../../../etc/passwd-look.bin", "application/octet-stream", data),
        ("other", "C:\\Users\\me\\small.dat", "image/png", small),
        ("empty", "empty.txt", "text/plain", b""),
    ])
    r = post_upload(uploader, body, ctype)
    assert r.status == 200, r
    j = r.json()
    assert j["fields"] == {"title": ["holiday photos"], "tag": ["a", "b"], "note": ["line one\r\nline two \u00e9"]}
    ups = {u["field"]: u for u in j["uploads"]}
    assert [u["field"] for u in j["uploads"]] == ["file", "other", "empty"]
    assert ups["file"]["filename"] == "passwd-look.bin", "the client's path is dropped"
    assert ups["other"]["filename"] == "small.dat"
    assert ups["file"]["content_type"] == "application/octet-stream"
    assert ups["other"]["content_type"] == "image/png"
    for field, want in (("file", data), ("other", small), ("empty", b"")):
        assert ups[field]["size"] == len(want), field
        saved = pathlib.Path(ups[field]["saved"])
        assert saved.parent == upload_dirs[0]
        assert hashlib.sha256(saved.read_bytes()).hexdigest() == hashlib.sha256(want).hexdigest(), field


def test_upload_through_requests(uploader, upload_dirs):
    data = os.urandom(300_000)
    r = requests.post(f"http://127.0.0.1:{uploader.port}/upload", data={"a": "1", "b": "two words"},
                      files={"doc": ("report.pdf", data, "application/pdf")}, timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    j = r.json()
    assert j["fields"] == {"a": ["1"], "b": ["two words"]}
    (u,) = j["uploads"]
    assert (u["field"], u["filename"], u["content_type"], u["size"]) == ("doc", "report.pdf", "application/pdf", len(data))
    assert pathlib.Path(u["saved"]).read_bytes() == data


def test_upload_chunked_within_limit(uploader):
    data = os.urandom(5 * 1024 * 1024 + 7)
    body, ctype = multipart([("k", "v"), ("file", "c.bin", "application/octet-stream", data)])
    r = post_upload(uploader, body, ctype, chunk=True)
    assert r.status == 200, r
    j = r.json()
    assert j["fields"] == {"k": ["v"]}
    assert j["uploads"][0]["size"] == len(data)
    assert pathlib.Path(j["uploads"][0]["saved"]).read_bytes() == data


def test_upload_multipart_not_bound_by_max_body(uploader):
    """Multipart bodies have their own limit; other bodies keep max_body."""
    data = os.urandom(2 * MAX_BODY)
    body, ctype = multipart([("file", "f.bin", "application/octet-stream", data)])
    r = post_upload(uploader, body, ctype)
    assert r.status == 200 and r.json()["uploads"][0]["size"] == len(data), r
    r = post_upload(uploader, b"a=" + b"x" * (2 * MAX_BODY), "application/x-www-form-urlencoded")
    assert r.status == 413, r


def test_upload_over_limit_413_before_the_body(uploader):
    """A Content-Length over --max-upload is refused from the headers alone."""
    with Conn(uploader.port, timeout=10) as c:
        c.send(build_request("POST", "/upload", [
            ("Content-Type", "multipart/form-data; boundary=xyz"),
            ("Content-Length", str(MAX_UPLOAD + 1))]))
        r = c.read_response()
        assert r.status == 413, r


def test_upload_over_limit_413(uploader):
    data = os.urandom(MAX_UPLOAD + 1024)
    body, ctype = multipart([("file", "big.bin", "application/octet-stream", data)])
    with Conn(uploader.port, timeout=20) as c:
        try:
            c.send(build_request("POST", "/upload", [("Content-Type", ctype)], body))
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading it all
        r = c.read_response()
        assert r.status == 413, r


def test_upload_over_limit_chunked_413(uploader):
    data = os.urandom(MAX_UPLOAD + 1024)
    body, ctype = multipart([("file", "big.bin", "application/octet-stream", data)])
    with Conn(uploader.port, timeout=20) as c:
        c.send(build_request("POST", "/upload", [("Content-Type", ctype), ("Transfer-Encoding", "chunked")]))
        try:
            for i in range(0, len(body), 256 * 1024):
                c.send(chunked(body[i:i + 256 * 1024])[:-5])  # one chunk, no terminator yet
            c.send(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
        assert r.status == 413, r
    # and the server is fine afterwards
    body, ctype = multipart([("a", "b")])
    assert post_upload(uploader, body, ctype).status == 200


def test_upload_spool_files_do_not_linger(uploader, upload_dirs):
    """Multipart bodies are spooled to unlinked files in --upload-dir."""
    body, ctype = multipart([("file", "f.bin", "application/octet-stream", os.urandom(200_000))])
    assert post_upload(uploader, body, ctype).status == 200
    assert list(upload_dirs[1].iterdir()) == []


MALFORMED = {
    "no boundary parameter": (b"--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n",
                              "multipart/form-data"),
    "empty boundary": (b"--\r\n\r\n", "multipart/form-data; boundary="),
    "boundary too long": (b"--" + b"b" * 71 + b"\r\n", "multipart/form-data; boundary=" + "b" * 71),
    "boundary never appears": (b"just some bytes", "multipart/form-data; boundary=zz"),
    "no closing delimiter": (b"--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue", "multipart/form-data; boundary=zz"),
    "part without headers end": (b"--zz\r\nContent-Disposition: form-data; name=\"a\"", "multipart/form-data; boundary=zz"),
    "part without a name": (b"--zz\r\nContent-Disposition: form-data\r\n\r\nv\r\n--zz--\r\n", "multipart/form-data; boundary=zz"),
    "garbage after delimiter": (b"--zzGARBAGE\r\n\r\nv\r\n--zz--\r\n", "multipart/form-data; boundary=zz"),
    "part headers too big": (b"--zz\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: " + b"p" * 9000 +
                             b"\r\n\r\nv\r\n--zz--\r\n", "multipart/form-data; boundary=zz"),
    "text field over 1 MiB": (b"--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n" + b"t" * (1024 * 1024 + 1) +
                              b"\r\n--zz--\r\n", "multipart/form-data; boundary=zz"),
    "too many parts": (b"".join(b"--zz\r\nContent-Disposition: form-data; name=\"f\"\r\n\r\nv\r\n" for _ in range(1001)) +
                       b"--zz--\r\n", "multipart/form-data; boundary=zz"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_upload_malformed_multipart_400(uploader, case):
    body, ctype = MALFORMED[case]
    r = post_upload(uploader, body, ctype)
    assert r.status == 400, (case, r)
    assert r.json()["message"], r


def test_upload_edge_cases_accepted(uploader):
    """What RFC 7578/2046 allow: a preamble, an epilogue, no CRLF before the
    first delimiter, a quoted boundary, unquoted parameters, transport padding."""
    ok = {
        "preamble and epilogue": (b"preamble text\r\n--zz\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zz--\r\nepilogue",
                                  "multipart/form-data; boundary=zz"),
        "quoted boundary": (b"--a b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--a b--\r\n",
                            'multipart/form-data; boundary="a b"'),
        "unquoted name": (b"--zz\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--zz--\r\n",
                          "multipart/form-data; boundary=zz"),
        "transport padding": (b"--zz  \r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--zz--\r\n",
                              "multipart/form-data; boundary=zz"),
        "no parts": (b"--zz--\r\n", "multipart/form-data; boundary=zz"),
    }
    for why, (body, ctype) in ok.items():
        r = post_upload(uploader, body, ctype)
        assert r.status == 200, (why, r)
        if why != "no parts":
            assert r.json()["fields"] == {"a": ["1"]}, (why, r.json())


def test_upload_slow_body_still_arrives(uploader):
    """A body sent in small pieces with pauses is reassembled exactly."""
    data = os.urandom(100_000)
    body, ctype = multipart([("file", "s.bin", "application/octet-stream", data)])
    with Conn(uploader.port, timeout=20) as c:
        c.send(build_request("POST", "/upload", [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
        for i in range(0, len(body), 25_000):
            c.send(body[i:i + 25_000])
            time.sleep(0.05)
        r = c.read_response()
    assert r.status == 200, r
    assert pathlib.Path(r.json()["uploads"][0]["saved"]).read_bytes() == data


def test_upload_expect_100_continue(uploader):
    data = os.urandom(50_000)
    body, ctype = multipart([("file", "e.bin", "application/octet-stream", data)])
    with Conn(uploader.port, timeout=10) as c:
        c.send(build_request("POST", "/upload", [("Content-Type", ctype), ("Content-Length", str(len(body))),
                                                  ("Expect", "100-continue")]))
        interim = c.read_response()
        assert interim.status == 100, interim
        c.send(body)
        r = c.read_response()
    assert r.status == 200 and r.json()["uploads"][0]["size"] == len(data)
    # over the limit: 413 instead of 100, before any body is sent
    with Conn(uploader.port, timeout=10) as c:
        c.send(build_request("POST", "/upload", [("Content-Type", ctype), ("Content-Length", str(MAX_UPLOAD + 1)),
                                                  ("Expect", "100-continue")]))
        assert c.read_response().status == 413


def test_upload_part_details(uploader):
    """Part headers in any case and order; a file part without Content-Type is
    text/plain (RFC 7578 4.4); an empty file input (filename="") is an upload."""
    body = (b"--zz\r\ncontent-disposition: form-data; filename=\"n.txt\"; name=\"f\"\r\n\r\nabc\r\n"
            b"--zz\r\nCONTENT-DISPOSITION: form-data; name=\"blank\"; filename=\"\"\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n\r\n"
            b"--zz\r\nContent-Disposition: form-data; name=\"caf\xc3\xa9\"\r\n\r\n\xe2\x82\xac\r\n--zz--\r\n")
    r = post_upload(uploader, body, "multipart/form-data; charset=utf-8; boundary=zz")
    assert r.status == 200, r
    j = r.json()
    assert j["fields"] == {"caf\u00e9": ["\u20ac"]}
    f, blank = j["uploads"]
    assert (f["field"], f["filename"], f["content_type"], f["size"]) == ("f", "n.txt", "text/plain", 3)
    assert (blank["field"], blank["filename"], blank["size"]) == ("blank", "", 0)


def test_upload_limit_is_inclusive(uploader):
    """A body of exactly --max-upload bytes is accepted, one more is not."""
    head, ctype = multipart([("file", "x.bin", "application/octet-stream", b"")])
    pad = MAX_UPLOAD - len(head)
    body, ctype = multipart([("file", "x.bin", "application/octet-stream", b"\xab" * pad)])
    assert len(body) == MAX_UPLOAD
    r = post_upload(uploader, body, ctype)
    assert r.status == 200 and r.json()["uploads"][0]["size"] == pad, r
    r = post_upload(uploader, body, ctype, chunk=True)
    assert r.status == 200 and r.json()["uploads"][0]["size"] == pad, r
    body, ctype = multipart([("file", "x.bin", "application/octet-stream", b"\xab" * (pad + 1))])
    r = post_upload(uploader, body, ctype)
    assert r.status == 413, r


def _spool_fds(pid, spool: pathlib.Path) -> list[str]:
    """The process's descriptors open on files in the spool directory."""
    out = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(spool)):
            out.append(target)
    return out


def test_upload_aborted_mid_body_leaks_nothing(uploader, upload_dirs):
    """Clients that vanish halfway through an upload leave no spool file and
    no open descriptor behind."""
    spool = upload_dirs[1]
    body, ctype = multipart([("file", "a.bin", "application/octet-stream", os.urandom(400_000))])
    ok, _ = multipart([("a", "b")])
    before = len(os.listdir(f"/proc/{uploader.proc.pid}/fd"))
    with Conn(uploader.port, timeout=5) as c:  # positive control: a spool file while it arrives
        c.send(build_request("POST", "/upload", [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
        c.send(body[:200_000])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and not _spool_fds(uploader.proc.pid, spool):
            time.sleep(0.02)
        assert _spool_fds(uploader.proc.pid, spool), "no spool descriptor seen during an upload"
    for _ in range(20):
        with Conn(uploader.port, timeout=5) as c:
            c.send(build_request("POST", "/upload", [("Content-Type", ctype), ("Content-Length", str(len(body)))]))
            c.send(body[:200_000])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _spool_fds(uploader.proc.pid, spool):
        time.sleep(0.05)
    assert _spool_fds(uploader.proc.pid, spool) == [], "spool files of aborted uploads still open"
    assert post_upload(uploader, ok, ctype).status == 200
    assert list(spool.iterdir()) == []
    # 21 aborted uploads leave nothing (their sockets close as the server
    # sees each end: on a loaded machine give it a moment)
    def fds():
        return len(os.listdir(f"/proc/{uploader.proc.pid}/fd"))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and fds() > before + 2:
        time.sleep(0.05)
    assert fds() <= before + 2, f"{fds()} descriptors open, {before} before"


# ============================================================================ under a URL prefix

URL_ATTR_RE = re.compile(r'\b(?:href|src|action|data-live|data-stats)="([^"]*)"')


def test_dashboard_under_a_prefix(fresh_servers, tmp_path):
    """Mounted at /MusicGroup (nginx keeping the prefix): every link, form,
    asset and script URL of the pages points under it, and works."""
    srv = fresh_servers.vial_server(tmp_path / "prefix.db", "--url-prefix", "/MusicGroup")
    name = register(srv)
    acts = [{"userId": name, "sessionId": f"S{i}",
             "actions": [{"time": f"2018-10-18T21:{i:02d}:00-06:00", "type": "CLICK",
                          "properties": {"locationX": i, "locationY": i}}]} for i in range(55)]
    r = requests.post(f"http://127.0.0.1:{srv.port}/MusicGroup/logs", json=acts, timeout=HTTP_TIMEOUT)
    assert r.status_code == 201, r.text
    b = Browser(srv)
    b.base += "/MusicGroup"
    seen = set()

    def check_page(path):
        r = b.get(path)
        assert r.status_code == 200, (path, r.status_code, r.text[:300])
        urls = URL_ATTR_RE.findall(r.text)
        assert urls, path
        for u in urls:
            u = u.replace("&amp;", "&")
            if u.startswith("data:") or u.startswith("#"):
                continue
            assert u.startswith("/MusicGroup/"), (path, u)
            seen.add(u)
        return r

    check_page("/login")
    check_page("/register")
    tok = b.token("/login")
    r = b.post("/login", data={"csrf_token": tok, "username": name, "password": PASSWORD})
    assert r.status_code == 303 and r.headers["Location"] in ("/MusicGroup/explorer",
                                                               f"http://127.0.0.1:{srv.port}/MusicGroup/explorer"), r.headers
    _, attrs = session_set_cookie(r)
    assert attrs.get("path") == "/MusicGroup", attrs
    page = check_page("/explorer")
    assert 'id="next"' in page.text, "55 logs make a second page"
    check_page("/me")
    # every URL found works: assets, the chart's stats, the next page, the live stream's handshake
    for u in sorted(seen):
        if "/logout" in u:
            continue
        vendor = u.split("?")[0].removeprefix("/MusicGroup/static/")
        if u.startswith("/MusicGroup/static/vendor/") and not (pathlib.Path(STATIC) / vendor).exists():
            continue  # npm's files are copied by `make build`'s assets step, not by every test run
        stream = "/live" in u
        r = b.s.get(f"http://127.0.0.1:{srv.port}{u}", timeout=HTTP_TIMEOUT, allow_redirects=False, stream=stream)
        try:
            assert r.status_code == 200 or (r.status_code == 303 and r.headers["Location"].startswith("/MusicGroup/")), \
                (u, r.status_code, r.headers)
        finally:
            r.close()
    # and the same app answers without the prefix (nginx stripping it), with URLs still under it
    r = requests.get(f"http://127.0.0.1:{srv.port}/login", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and 'action="/MusicGroup/login"' in r.text
    b.close()

"""
Helpers for the users / authentication tests (test_users.py, test_sqlmap.py):
databases on both backends, vial-server processes with a SECRET_KEY of
their own, a small `requests` client, hand-made JWTs and a Redis URL.

Each server gets a fresh database (a new SQLite file, or a new PostgreSQL
database vial_users_<random> on the cluster of VIAL_TEST_PG_URL, dropped at
teardown) and a fresh SECRET_KEY (48 random bytes, base64: the server uses
the 64 characters themselves as the HMAC key).

Client addresses: most servers here run with --trusted-proxies 127.0.0.1,
and every Client sends an X-Forwarded-For address of its own, so the
per-address rate limits and login counters of one test never leak into
another (they are shared by the whole process, or by a Redis).  Tests of
what happens without a trusted proxy start servers without it.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import os
import pathlib
import re
import secrets
import sqlite3
import subprocess
import time
import urllib.parse

import pytest
import requests

from conftest import REPO, Server, binary, clean_env, sanitizer_report
from logs_support import PgCluster as _LogsPgCluster, _under_make_test

MIGRATIONS_ROOT = REPO  # apps/<app>/migrations
HTTP_TIMEOUT = 30.0
# libsodium's minimum argon2id cost: fast servers for the tests that log in
# dozens of times (rate limits, sqlmap, PostgreSQL).  The hashing is the
# same code with other parameters; the SQLite contract server keeps the
# defaults (libsodium's "interactive": m=65536 KiB, t=2, p=1).
CHEAP_ARGON2 = ("--password-opslimit", "1", "--password-memlimit", "64K")
TRUST_LOOPBACK = ("--trusted-proxies", "127.0.0.1")
GOOD_PASSWORD = "correct horse battery staple"

_seq = itertools.count(1)
_used_addrs: set[str] = set()


def new_secret() -> str:
    return base64.b64encode(os.urandom(48)).decode()


def uname(prefix="u") -> str:
    """A username no other test uses (3..64 chars of [A-Za-z0-9_.-])."""
    return f"{prefix}_{next(_seq)}_{secrets.token_hex(3)}"


def fresh_addr() -> str:
    """A client address (sent as X-Forwarded-For) no other test uses, nor
    (with high probability) an earlier run sharing the same Redis."""
    while True:
        a, b, c = secrets.token_bytes(3)
        addr = f"10.{a}.{b}.{c}"
        if addr not in _used_addrs and c not in (0, 255):
            _used_addrs.add(addr)
            return addr


# ---------------------------------------------------------------------------- databases


def _need(var: str, what: str) -> str:
    v = os.environ.get(var)
    if v:
        return v
    if _under_make_test():
        pytest.fail(f"{var} is not set although this is `make test`: {what} cannot run", pytrace=False)
    pytest.skip(f"{what}: set {var} (make test does it)")


def pg_admin_url() -> str:
    return _need("VIAL_TEST_PG_URL", "the PostgreSQL users tests (scripts/pg.sh start DIR prints a URL)")


def redis_url() -> str:
    return _need("VIAL_TEST_REDIS_URL", "the shared-limit tests (scripts/redis.sh start DIR prints a URL)")


class PgCluster(_LogsPgCluster):
    """Databases on the test cluster, named vial_users_*."""

    def __init__(self, url: str):
        super().__init__(url, prefix="vial_users_")


class Database:
    """One fresh database: `url` for --database-url, direct SQL through
    `one`/`all`/`exec` ('?' placeholders on both backends)."""

    def __init__(self, backend: str, tmpdir: pathlib.Path, cluster: PgCluster | None = None):
        self.backend = backend
        self._cluster = cluster
        self._name = None
        self._pg = None
        if backend == "sqlite":
            self.path = (pathlib.Path(tmpdir) / "u.db").resolve()
            self.url = f"sqlite:///{self.path}"  # sqlite:////abs/path
            assert self.url.startswith("sqlite:////")
        else:
            self._name, self.url = cluster.create()

    def _conn(self):
        if self.backend == "sqlite":
            c = sqlite3.connect(str(self.path), timeout=10)
            c.isolation_level = None  # autocommit
            return c
        if self._pg is None:
            self._pg = self._cluster.psycopg2.connect(self.url, connect_timeout=5)
            self._pg.autocommit = True
        return self._pg

    def all(self, sql: str, *args) -> list[tuple]:
        if self.backend == "sqlite":
            c = self._conn()
            try:
                return c.execute(sql, args).fetchall()
            finally:
                c.close()
        with self._conn().cursor() as cur:
            cur.execute(sql.replace("?", "%s"), args)
            return cur.fetchall() if cur.description else []

    def one(self, sql: str, *args):
        rows = self.all(sql, *args)
        return rows[0] if rows else None

    def exec(self, sql: str, *args):
        self.all(sql, *args)

    def close(self):
        if self._pg is not None:
            self._pg.close()
            self._pg = None
        if self._name:
            self._cluster.drop(self._name)
            self._name = None


# ---------------------------------------------------------------------------- servers


def start_server(db: Database, tmpdir, *extra, secret: str | None = None, env: dict | None = None,
                 workers=2) -> Server:
    """vial-server on `db` (port 0) with SECRET_KEY=`secret`.  The caller
    stops it (Server.problems())."""
    e = {"SECRET_KEY": secret} if secret is not None else {}
    e.update(env or {})
    args = ["--workers", str(workers), "--database-url", db.url, "--migrations-root", str(MIGRATIONS_ROOT),
            *map(str, extra)]
    srv = Server("vial-server", args, e, tmpdir, tmpdir, None)
    try:
        srv.start()
    except RuntimeError as err:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        pytest.fail(str(err), pytrace=False)
    srv.secret = secret
    srv.db = db
    return srv


def createuser(db: Database, name: str, password: str | None, *flags, secret: str, cwd,
               timeout=30) -> subprocess.CompletedProcess:
    """`vial-server createuser [flags] NAME` with the password on stdin (not a tty)."""
    argv = [str(binary("vial-server")), "createuser", *flags, name, "--database-url", db.url,
            "--migrations-root", str(MIGRATIONS_ROOT)]
    p = subprocess.run(argv, input=None if password is None else password + "\n", capture_output=True,
                       text=True, env=clean_env({"SECRET_KEY": secret}), cwd=str(cwd), timeout=timeout)
    rep = sanitizer_report(p.stdout + p.stderr)
    if rep:
        pytest.fail(f"sanitizer report from createuser:\n{rep}", pytrace=False)
    return p


# ---------------------------------------------------------------------------- client


class Client:
    """A `requests` session on one server, from one client address."""

    def __init__(self, srv: Server, addr: str | None = "fresh"):
        self.srv = srv
        self.base = f"http://127.0.0.1:{srv.port}"
        self.s = requests.Session()
        self.s.trust_env = False  # no proxies: 127.0.0.1 only
        self.addr = fresh_addr() if addr == "fresh" else addr
        if self.addr:
            self.s.headers["X-Forwarded-For"] = self.addr

    def close(self):
        self.s.close()

    def req(self, method, path, token=None, key=None, headers=None, **kw) -> requests.Response:
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = f"Bearer {token}"
        if key is not None:
            h["X-API-Key"] = key
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.s.request(method, self.base + path, headers=h, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def put(self, path, **kw):
        return self.req("PUT", path, **kw)

    def post(self, path, **kw):
        return self.req("POST", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    # -- the contract, checked

    def register_raw(self, username, password, **kw) -> requests.Response:
        return self.post("/api/register", json={"username": username, "password": password}, **kw)

    def register(self, username, password=GOOD_PASSWORD) -> int:
        """201 {"message": "User registered successfully", "user_id": N} exactly; returns N."""
        r = self.register_raw(username, password)
        assert r.status_code == 201, (r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/json", r.headers
        body = r.json()
        assert set(body) == {"message", "user_id"}, body
        assert body["message"] == "User registered successfully", body
        assert type(body["user_id"]) is int and body["user_id"] > 0, body
        return body["user_id"]

    def login_raw(self, username, password, **kw) -> requests.Response:
        return self.post("/api/login", json={"username": username, "password": password}, **kw)

    def login(self, username, password=GOOD_PASSWORD) -> str:
        """200 {"access_token", "token_type": "Bearer", "expires_in"} exactly; returns the token."""
        r = self.login_raw(username, password)
        assert r.status_code == 200, (r.status_code, r.text)
        assert r.headers["Content-Type"] == "application/json", r.headers
        body = r.json()
        assert set(body) == {"access_token", "token_type", "expires_in"}, body
        assert body["token_type"] == "Bearer", body
        assert type(body["expires_in"]) is int and body["expires_in"] > 0, body
        tok = body["access_token"]
        assert isinstance(tok, str) and tok.count(".") == 2, tok
        return tok

    def user(self, password=GOOD_PASSWORD, prefix="u") -> "Account":
        name = uname(prefix)
        uid = self.register(name, password)
        return Account(uid, name, password, self.login(name, password))


class Account:
    def __init__(self, uid, name, password, token):
        self.id, self.name, self.password, self.token = uid, name, password, token

    def __repr__(self):
        return f"<Account {self.id} {self.name}>"


def error(r: requests.Response, status: int, message: str | re.Pattern | None = None) -> dict:
    """The common error shape {"error": "<name>_<status>", "message": "..."}."""
    assert r.status_code == status, (r.status_code, r.text[:1000])
    assert r.headers.get("Content-Type") == "application/json", r.headers
    body = r.json()
    assert isinstance(body, dict) and {"error", "message"} <= set(body), body
    assert isinstance(body["error"], str) and body["error"].endswith(f"_{status}"), body
    assert isinstance(body["message"], str) and body["message"], body
    if isinstance(message, re.Pattern):
        assert message.search(body["message"]), body
    elif message is not None:
        assert body["message"] == message, body
    return body


def unauthorized(r: requests.Response) -> dict:
    body = error(r, 401)
    assert (r.headers.get("WWW-Authenticate") or "").startswith("Bearer"), r.headers
    return body


def retry_after(r: requests.Response) -> int:
    """A 429's Retry-After: a whole number of seconds, at least 1."""
    error(r, 429)
    ra = r.headers.get("Retry-After")
    assert ra is not None and re.fullmatch(r"[0-9]+", ra), r.headers
    assert int(ra) >= 1, ra
    return int(ra)


LINK_RE = re.compile(r'^<([^>]*)>; rel="next"$')


def next_link(r: requests.Response) -> str | None:
    links = [v for k, v in r.raw.headers.items() if k.lower() == "link"]
    if not links:
        return None
    assert len(links) == 1, links
    m = LINK_RE.match(links[0])
    assert m, f"bad Link header {links[0]!r}"
    target = m.group(1)
    assert target.startswith("/api/users?"), target
    return target


# ---------------------------------------------------------------------------- JWT by hand


def b64url(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_json(obj) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")))


def hs256(key: str, signing_input: str) -> str:
    return b64url(hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest())


def make_jwt(header: dict, claims: dict, key: str | None) -> str:
    """header.payload.signature, HMAC-SHA256 with `key` (None: empty signature)."""
    si = b64url_json(header) + "." + b64url_json(claims)
    return si + "." + (hs256(key, si) if key is not None else "")


def claims_for(uid, **more) -> dict:
    now = int(time.time())
    c = {"sub": str(uid), "iat": now, "exp": now + 600}
    c.update(more)
    return {k: v for k, v in c.items() if v is not None}


def split_jwt(tok: str) -> tuple[dict, dict, str]:
    h, p, s = tok.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s)

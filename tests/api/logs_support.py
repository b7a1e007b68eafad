"""
Helpers for the Log REST API tests (test_logs.py): databases on both
backends, vial-server processes, a small `requests` client and RFC 3339
arithmetic.

Every test gets a database of its own: a fresh SQLite file, or a fresh
PostgreSQL database (CREATE DATABASE vial_logs_<random> on the cluster named
by VIAL_TEST_PG_URL, dropped at teardown).
"""
from __future__ import annotations

import base64
import datetime as dt
import os
import re
import secrets
import signal
import urllib.parse
from urllib.parse import quote

import pytest
import requests

from conftest import REPO, Server, sanitizer_report

MIGRATIONS_ROOT = REPO  # apps/<app>/migrations
HTTP_TIMEOUT = 30.0
FIELDS = ("id", "userId", "sessionId", "time", "log_type", "locationX", "locationY", "viewedId", "pageFrom",
          "pageTo")
PROPS = ("locationX", "locationY", "viewedId", "pageFrom", "pageTo")


def enc(s: str) -> str:
    """One path segment, percent-encoded (every reserved byte, '/' and '%' too)."""
    return quote(s, safe="")


# ---------------------------------------------------------------------------- databases


def _under_make_test() -> bool:
    # scripts/test.sh exports VIAL_TEST_PG_DIR with the URL; MAKELEVEL is set by make.
    return bool(os.environ.get("VIAL_TEST_PG_DIR") or os.environ.get("MAKELEVEL"))


def pg_admin_url() -> str:
    """The cluster URL, or fail (under make test) / skip (by hand) without one."""
    url = os.environ.get("VIAL_TEST_PG_URL")
    if url:
        return url
    if _under_make_test():
        pytest.fail("VIAL_TEST_PG_URL is not set although this is `make test` (VIAL_TEST_PG_DIR/MAKELEVEL "
                    "set): the throwaway PostgreSQL cluster did not start, so the PostgreSQL half of the "
                    "Log API tests cannot run", pytrace=False)
    pytest.skip("PostgreSQL: set VIAL_TEST_PG_URL (scripts/pg.sh start DIR prints one; make test does it)")


class PgCluster:
    """Creates and drops databases on the test cluster (python3-psycopg2),
    named `prefix` + random hex (the users tests use it too)."""

    def __init__(self, url: str, prefix: str = "vial_logs_"):
        try:
            import psycopg2
        except ImportError as e:  # pragma: no cover - deps.sh installs it
            msg = f"python3-psycopg2 is needed for the PostgreSQL tests ({e})"
            if _under_make_test():
                pytest.fail(msg, pytrace=False)
            pytest.skip(msg)
        self.url, self.prefix = url, prefix
        self.psycopg2 = psycopg2
        try:
            self.conn = psycopg2.connect(url, connect_timeout=5)
        except psycopg2.Error as e:
            pytest.fail(f"cannot connect to VIAL_TEST_PG_URL={url}: {e}", pytrace=False)
        self.conn.autocommit = True

    def create(self) -> tuple[str, str]:
        name = self.prefix + secrets.token_hex(6)
        with self.conn.cursor() as c:
            c.execute(f'CREATE DATABASE "{name}"')
        parts = urllib.parse.urlsplit(self.url)
        return name, urllib.parse.urlunsplit(parts._replace(path="/" + name))

    def drop(self, name: str):
        with self.conn.cursor() as c:
            # FORCE: a SIGKILLed server's sessions may not be gone yet.
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def close(self):
        self.conn.close()


class Database:
    """One fresh database: `url` for --database-url, dropped by `close()`."""

    def __init__(self, backend: str, tmpdir, cluster: PgCluster | None):
        self.backend = backend
        self._cluster = cluster
        self._name = None
        if backend == "sqlite":
            path = (tmpdir / "logs.db").resolve()
            self.url = f"sqlite:///{path}"  # sqlite:////abs/path
            assert self.url.startswith("sqlite:////")
        else:
            self._name, self.url = cluster.create()

    def close(self):
        if self._name:
            self._cluster.drop(self._name)
            self._name = None


# ---------------------------------------------------------------------------- servers


def server_args(db: Database, *extra) -> list[str]:
    return ["--workers", "2", "--database-url", db.url, "--migrations-root", str(MIGRATIONS_ROOT), *map(str, extra)]


def server_env() -> dict:
    """vial-server refuses to start without a secret key (the users app signs
    tokens with it): a fresh random one per server."""
    return {"SECRET_KEY": base64.b64encode(os.urandom(48)).decode()}


def start_server(db: Database, tmpdir, *extra) -> Server:
    """Starts vial-server on `db` (port 0, 2 workers).  The caller stops it."""
    srv = Server("vial-server", server_args(db, *extra), server_env(), tmpdir, tmpdir, None)
    try:
        srv.start()
    except RuntimeError as e:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        pytest.fail(str(e), pytrace=False)
    return srv


def sigkill(srv: Server):
    """SIGKILL (no graceful stop) of a server this test started, by its PID."""
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait(timeout=10)
    for f in (srv._err, srv._out):
        f.close()
    rep = sanitizer_report(srv.log())
    assert rep is None, f"sanitizer report before the kill:\n{rep}"
    assert srv.proc.returncode == -signal.SIGKILL, srv.proc.returncode


# ---------------------------------------------------------------------------- client


class Api:
    """A `requests` session on one server, with contract checks built in."""

    def __init__(self, srv: Server, keep_extra=False):
        self.srv = srv
        self.base = f"http://127.0.0.1:{srv.port}"
        self.s = requests.Session()
        self.s.trust_env = False  # no proxies: 127.0.0.1 only
        self.keep_extra = keep_extra

    def close(self):
        self.s.close()

    def req(self, method, path, **kw) -> requests.Response:
        kw.setdefault("timeout", HTTP_TIMEOUT)
        return self.s.request(method, self.base + path, **kw)

    def get(self, path, **kw):
        return self.req("GET", path, **kw)

    def delete(self, path, **kw):
        return self.req("DELETE", path, **kw)

    def post(self, body, **kw) -> requests.Response:
        if isinstance(body, (bytes, str)):
            kw.setdefault("headers", {"Content-Type": "application/json"})
            return self.req("POST", "/logs", data=body, **kw)
        return self.req("POST", "/logs", json=body, **kw)

    def store(self, body) -> dict:
        """POSTs a valid body; checks 201 {"stored", "first_id", "last_id"}."""
        r = self.post(body)
        assert r.status_code == 201, (r.status_code, r.text[:2000])
        assert r.headers["Content-Type"] == "application/json"
        j = r.json()
        assert set(j) == {"stored", "first_id", "last_id"}, j
        assert j["stored"] == count_actions(body), j
        assert j["last_id"] - j["first_id"] + 1 == j["stored"], j
        assert all(type(v) is int for v in j.values()), j
        return j

    def rows(self, path, params=None) -> list[dict]:
        """A list route without limit: 200, streamed, a JSON array of flat rows."""
        r = self.get(path, params=params)
        assert r.status_code == 200, (path, r.status_code, r.text[:500])
        assert r.headers["Content-Type"] == "application/json"
        rows = r.json()
        assert isinstance(rows, list), rows
        for row in rows:
            check_row(row, self.keep_extra)
        return rows

    def pages(self, path, limit, max_pages=100000) -> tuple[list[dict], int]:
        """Follows Link rel="next" from `path?limit=N`; returns (rows, pages)."""
        sep = "&" if "?" in path else "?"
        target = f"{path}{sep}limit={limit}"
        out, n = [], 0
        while target is not None:
            r = self.get(target)
            assert r.status_code == 200, (target, r.status_code, r.text[:500])
            assert "chunked" not in r.headers.get("Transfer-Encoding", ""), "a page should not be streamed"
            page = r.json()
            assert isinstance(page, list)
            for row in page:
                check_row(row, self.keep_extra)
            n += 1
            out += page
            target = next_link(r)
            if target is not None:
                assert len(page) == limit, (target, len(page), limit)
            else:
                assert len(page) <= limit
            assert n <= max_pages
        return out, n


LINK_RE = re.compile(r'^<([^>]*)>; rel="next"$')


def next_link(r: requests.Response) -> str | None:
    links = [v for k, v in r.raw.headers.items() if k.lower() == "link"]
    if not links:
        return None
    assert len(links) == 1, links
    m = LINK_RE.match(links[0])
    assert m, f"bad Link header {links[0]!r}"
    target = m.group(1)
    parts = urllib.parse.urlsplit(target)
    assert not parts.scheme and target.startswith("/"), target
    args = urllib.parse.parse_qs(parts.query)
    assert len(args.get("after", [])) == 1 and len(args.get("limit", [])) == 1, target
    return target


def error(r: requests.Response, status: int, name: str | None = None) -> dict:
    """The common error shape {"error": "<name>_<code>", "message": "..."}."""
    assert r.status_code == status, (r.status_code, r.text[:1000])
    assert r.headers.get("Content-Type") == "application/json", r.headers
    body = r.json()
    assert isinstance(body, dict) and {"error", "message"} <= set(body), body
    assert isinstance(body["error"], str) and body["error"].endswith(f"_{status}"), body
    if name is not None:
        assert body["error"] == name, body
    assert isinstance(body["message"], str) and body["message"], body
    return body


def bad_fields(r: requests.Response) -> dict:
    """A 400 from POST /logs; returns its "fields" (bad path → reason)."""
    body = error(r, 400, "bad_request_400")
    fields = body.get("fields")
    assert isinstance(fields, dict) and fields, body
    assert all(isinstance(v, str) and v for v in fields.values()), body
    return fields


# ---------------------------------------------------------------------------- rows


TIME_OUT_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")
TIME_IN_RE = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?([Zz]|[+-]\d\d:\d\d)$")
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def parse_time(s: str) -> tuple[int, int]:
    """RFC 3339 → (microseconds since the epoch, offset in minutes east)."""
    m = TIME_IN_RE.match(s)
    assert m, f"not RFC 3339 with an offset: {s!r}"
    y, mo, d, h, mi, se = (int(x) for x in m.groups()[:6])
    us = int((m.group(7) or "").ljust(6, "0")[:6])
    z = m.group(8)
    off = 0 if z in "Zz" else (1 if z[0] == "+" else -1) * (int(z[1:3]) * 60 + int(z[4:6]))
    local = dt.datetime(y, mo, d, h, mi, se, tzinfo=dt.timezone.utc)
    instant = local - dt.timedelta(minutes=off)
    delta = instant - EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + us, off


def fmt_time(instant_us: int, off_min: int = 0, z=True) -> str:
    """(instant, offset) → RFC 3339 with microseconds only when non-zero."""
    local = EPOCH + dt.timedelta(microseconds=instant_us + off_min * 60_000_000)
    s = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        s += f".{local.microsecond:06d}"
    if off_min == 0 and z:
        return s + "Z"
    a = abs(off_min)
    return s + f"{'-' if off_min < 0 else '+'}{a // 60:02d}:{a % 60:02d}"


def check_row(row: dict, keep_extra=False):
    """A flat log object with every field present (null where blank)."""
    assert isinstance(row, dict), row
    want = set(FIELDS) | ({"extra"} if keep_extra else set())
    assert set(row) == want, f"fields {sorted(row)} != {sorted(want)}"
    assert type(row["id"]) is int and row["id"] > 0, row
    for k in ("userId", "sessionId", "log_type"):
        assert isinstance(row[k], str) and row[k], row
    assert isinstance(row["time"], str) and TIME_OUT_RE.match(row["time"]), row
    for k in ("locationX", "locationY"):
        assert row[k] is None or type(row[k]) is int, row
    for k in ("viewedId", "pageFrom", "pageTo"):
        assert row[k] is None or (isinstance(row[k], str) and row[k]), row


def count_actions(body) -> int:
    logs = body if isinstance(body, list) else [body]
    return sum(len(o["actions"]) for o in logs)


def expected_rows(body, first_id: int, keep_extra=False) -> list[dict]:
    """The rows a valid body becomes, in id order (ids from first_id)."""
    out = []
    for o in body if isinstance(body, list) else [body]:
        for a in o["actions"]:
            props = a.get("properties") or {}
            row = {"id": first_id + len(out), "userId": o["userId"], "sessionId": o["sessionId"],
                   "time": a["time"], "log_type": a["type"]}
            for k in PROPS:
                row[k] = props.get(k)
            if keep_extra:
                extra = {k: v for k, v in props.items() if k not in PROPS}
                row["extra"] = extra or None
            out.append(row)
    return out


def same_time(a: str, b: str) -> bool:
    return parse_time(a) == parse_time(b)


def norm(row: dict) -> dict:
    """A row with its time as (instant, offset): equal rows compare equal
    whatever fraction digits or zero-offset spelling came back."""
    r = dict(row)
    r["time"] = parse_time(r["time"])
    return r


def assert_rows(got: list[dict], want: list[dict]):
    """Same rows, same order; times compared as instant + offset."""
    g, w = [norm(r) for r in got], [norm(r) for r in want]
    if g != w:
        gi, wi = [r["id"] for r in got], [r["id"] for r in want]
        assert gi == wi, f"ids {gi[:50]} != expected {wi[:50]}"
        for a, b in zip(g, w):
            assert a == b
    assert g == w


def ordered(rows: list[dict]) -> list[dict]:
    """Rows in the API's order: by instant, then id."""
    return sorted(rows, key=lambda r: (parse_time(r["time"])[0], r["id"]))


def log(user, session, *actions) -> dict:
    return {"userId": user, "sessionId": session, "actions": list(actions)}


def action(time_, type_, **props) -> dict:
    a = {"time": time_, "type": type_}
    if props:
        a["properties"] = props
    return a

"""Users, authentication and API security of vial-server (issue 5).

The contract (register, login, accounts, admin listing, API keys, createuser)
runs on SQLite and on PostgreSQL: one vial-server per backend for the whole
module (2 workers, fresh database, SECRET_KEY of its own, an admin made by
`vial-server createuser --admin`).  JWT tampering, interop with python3-jwt
and python3-argon2, rate limits, login backoff and Redis-shared limits run
on SQLite (they do not touch the database backend).

Servers run with --trusted-proxies 127.0.0.1 and every client sends its own
X-Forwarded-For, so per-address counters never leak between tests; the tests
about a client *without* a trusted proxy start servers without it.

The SQLite contract server hashes with libsodium's default argon2id cost
(~0.1-0.2 s per register or login); the others use the minimum cost
(users_support.CHEAP_ARGON2) to keep the suite fast.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import subprocess
import time

import argon2
import jwt
import pytest

from conftest import binary, clean_env
from users_support import (MIGRATIONS_ROOT, CHEAP_ARGON2, GOOD_PASSWORD, TRUST_LOOPBACK, Client, Database, PgCluster,
                           b64url, b64url_json, claims_for, createuser, error, fresh_addr, hs256, make_jwt,
                           new_secret, next_link, pg_admin_url, redis_url, retry_after, split_jwt,
                           start_server, uname, unauthorized)

BACKENDS = ("sqlite", "postgresql")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NO_SUCH_ID = 987654321


# ---------------------------------------------------------------------------- environments


class Env:
    """One vial-server on a fresh database, with an admin from createuser."""

    def __init__(self, backend, tmpdir, cluster, extra):
        self.backend = backend
        self.tmpdir = tmpdir
        self.db = Database(backend, tmpdir, cluster)
        self.secret = new_secret()
        self.srv = None
        self.clients = []
        self.srv = start_server(self.db, tmpdir, *TRUST_LOOPBACK, *extra, secret=self.secret)
        self.admin_name = uname("admin")
        self.admin_pw = "admin pw " + secrets.token_hex(8)
        self.createuser_run = createuser(self.db, self.admin_name, self.admin_pw, "--admin", secret=self.secret,
                                         cwd=tmpdir)
        p = self.createuser_run
        assert p.returncode == 0, (p.returncode, p.stdout, p.stderr)
        m = re.search(r"created admin '([^']+)' \(id (\d+)\)", p.stdout)
        assert m and m.group(1) == self.admin_name, p.stdout
        self.admin_id = int(m.group(2))
        self._admin_token = None

    def client(self, addr="fresh") -> Client:
        c = Client(self.srv, addr)
        self.clients.append(c)
        return c

    @property
    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.client().login(self.admin_name, self.admin_pw)
        return self._admin_token

    def close(self) -> list[str]:
        for c in self.clients:
            c.close()
        problems = self.srv.problems(0) if self.srv else []
        self.db.close()
        return problems


@pytest.fixture(scope="module")
def envs(tmp_path_factory):
    """envs(kind): the module's server of that kind, started on first use.
    kinds: "sqlite" (default argon2 cost), "postgresql", "limits" (SQLite,
    cheap argon2, for the rate-limit tests)."""
    made, cluster = {}, []

    def get(kind):
        if kind not in made:
            c = None
            if kind == "postgresql":
                if not cluster:
                    cluster.append(PgCluster(pg_admin_url()))
                c = cluster[0]
            backend = "postgresql" if kind == "postgresql" else "sqlite"
            extra = () if kind == "sqlite" else CHEAP_ARGON2
            made[kind] = Env(backend, tmp_path_factory.mktemp(kind), c, extra)
        return made[kind]

    yield get
    problems = []
    for e in made.values():
        problems += e.close()
    for c in cluster:
        c.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture(scope="module", params=BACKENDS)
def app(request, envs) -> Env:
    return envs(request.param)


@pytest.fixture(scope="module")
def sq(envs) -> Env:
    return envs("sqlite")


@pytest.fixture(scope="module")
def rl(envs) -> Env:
    return envs("limits")


class Servers:
    """Servers a test starts itself; stopped and checked at teardown."""

    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.started, self.dbs, self.clients = [], [], []

    def db(self, name="db") -> Database:
        d = self.tmp_path / name
        d.mkdir(exist_ok=True)
        db = Database("sqlite", d)
        self.dbs.append(db)
        return db

    def start(self, db, *extra, secret="new", env=None):
        srv = start_server(db, self.tmp_path, *extra, secret=new_secret() if secret == "new" else secret, env=env)
        self.started.append(srv)
        return srv

    def client(self, srv, addr="fresh") -> Client:
        c = Client(srv, addr)
        self.clients.append(c)
        return c

    def close(self):
        for c in self.clients:
            c.close()
        problems = []
        for s in self.started:
            problems += s.problems(0)
        for d in self.dbs:
            d.close()
        return problems


@pytest.fixture
def servers(tmp_path):
    s = Servers(tmp_path)
    yield s
    problems = s.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


def user_body(r, uid, name):
    """GET /api/users/:id → exactly {"user_id", "username", "created_at"}."""
    assert r.status_code == 200, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    body = r.json()
    assert set(body) == {"user_id", "username", "created_at"}, body
    assert body["user_id"] == uid and body["username"] == name, body
    assert TIME_RE.match(body["created_at"]), body
    return body


# ---------------------------------------------------------------------------- register


def test_register_contract_example(app):
    """The issue's own example: newuser / securepassword → 201, exactly the
    contract's body; stored as argon2id, never in clear; duplicates in any
    case → 409."""
    c = app.client()
    uid = c.register("newuser", "securepassword")
    name, pw_hash, role, created = app.db.one(
        "SELECT username, password_hash, role, created_at FROM users WHERE id = ?", uid)
    assert (name, role) == ("newuser", "user")
    assert pw_hash.startswith("$argon2id$v=19$"), pw_hash
    assert "securepassword" not in pw_hash
    assert TIME_RE.match(created), created
    tok = c.login("newuser", "securepassword")
    body = user_body(c.get(f"/api/users/{uid}", token=tok), uid, "newuser")
    made = time.mktime(time.strptime(body["created_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
    assert abs(made - time.time()) < 300, body

    for dup in ("newuser", "NEWUSER", "NewUser"):
        body = error(c.register_raw(dup, "another good password"), 409)
        assert body["error"] == "conflict_409", body
    assert app.db.one("SELECT count(*) FROM users WHERE lower(username) = 'newuser'")[0] == 1


def test_register_same_name_concurrently(app):
    """Both workers racing for one name (in different cases): one 201, the rest 409."""
    import concurrent.futures
    name = uname("race")
    clients = [app.client() for _ in range(6)]
    variants = [name, name.upper(), name.capitalize()] * 2
    with concurrent.futures.ThreadPoolExecutor(len(clients)) as ex:
        rs = list(ex.map(lambda cv: cv[0].register_raw(cv[1], GOOD_PASSWORD), zip(clients, variants)))
    codes = sorted(r.status_code for r in rs)
    assert codes == [201] + [409] * 5, [(r.status_code, r.text[:100]) for r in rs]
    assert app.db.one("SELECT count(*) FROM users WHERE lower(username) = lower(?)", name)[0] == 1


def test_register_weak_passwords(app):
    """400 with a message naming what is wrong; nothing is stored."""
    name = uname("weak")
    cases = [
        ("abc", r"too short"),
        ("Abc1234", r"too short"),           # 7 characters
        ("ééééééé", r"too short"),           # 7 characters, 14 bytes: characters count
        ("password123", r"too common"),      # the deny-list
        ("PassWord123", r"too common"),      # case-insensitively
        ("12345678", r"too common"),
        (name, r"same as the username"),
        (name.upper(), r"same as the username"),
        ("x" * 1025, r"too long"),
    ]
    c = app.client()
    for pw, why in cases:
        body = error(c.register_raw(name, pw), 400)
        assert body["error"] == "bad_request_400", body
        assert re.search(why, body["message"]), (pw[:20], body)
        assert "password" in body["message"], body
    assert app.db.one("SELECT count(*) FROM users WHERE username = ?", name)[0] == 0
    # 8 characters (16 bytes) are enough; the same name is then free to take.
    c2 = app.client()
    uid = c2.register(name, "éééééééé")
    assert c2.login(name, "éééééééé")
    assert uid > 0


def test_register_bad_requests(app):
    """Malformed bodies and bad usernames → 400, nothing stored."""
    bodies = [
        b"not json",
        b"[]",
        b'{"username": "valid_name"}',
        b'{"password": "a good password"}',
        b'{"username": 42, "password": "a good password"}',
        b'{"username": "valid_name", "password": null}',
        b'{"username": "valid_name", "password": "a good password", "role": "admin"}',  # strict schema
        b'{"username": "ab", "password": "a good password"}',
        b'{"username": "has space", "password": "a good password"}',
        ('{"username": "%s", "password": "a good password"}' % ("n" * 65)).encode(),
        b'{"username": "semi;colon\'--", "password": "a good password"}',
    ]
    before = app.db.one("SELECT count(*) FROM users")[0]
    c = None
    for i, b in enumerate(bodies):
        if i % 8 == 0:
            c = app.client()  # the register limit is 10 at once per address
        r = c.post("/api/register", data=b, headers={"Content-Type": "application/json"})
        error(r, 400)
    body = error(app.client().register_raw("ab", "a good password"), 400)
    assert "username" in body["message"], body
    assert app.db.one("SELECT count(*) FROM users")[0] == before


# ---------------------------------------------------------------------------- login


def test_login_contract(app):
    c = app.client()
    name = uname("login")
    uid = c.register(name)
    r = c.login_raw(name, GOOD_PASSWORD)
    assert r.status_code == 200
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    body = r.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}, body
    assert body["token_type"] == "Bearer" and body["expires_in"] == 3600, body  # jwt_ttl default 1h
    user_body(c.get(f"/api/users/{uid}", token=body["access_token"]), uid, name)
    # The name is matched case-insensitively, as it is unique case-insensitively.
    tok = c.login(name.upper())
    user_body(c.get(f"/api/users/{uid}", token=tok), uid, name)
    for bad in (b"", b"{}", b'{"username": "x"}', b'{"username": 1, "password": "p"}', b"[1]"):
        error(c.post("/api/login", data=bad, headers={"Content-Type": "application/json"}), 400)


def test_login_failures_are_identical(app):
    """Unknown user and wrong password: same status, headers and body, and
    (on the default-cost server) similar time: a dummy hash is verified."""
    c = app.client()
    name = uname("enum")
    c.register(name)
    wrong = c.login_raw(name, "not the password")
    unknown = c.login_raw(uname("nobody"), "not the password")
    unknown2 = c.login_raw(uname("nobody"), GOOD_PASSWORD)
    for r in (wrong, unknown, unknown2):
        error(r, 401, "invalid username or password")
    assert wrong.content == unknown.content == unknown2.content

    def shape(r):
        return sorted((k.lower(), v) for k, v in r.headers.items() if k.lower() not in ("date", "x-request-id"))
    assert shape(wrong) == shape(unknown) == shape(unknown2)
    if app.backend != "sqlite":
        return  # cheap argon2 there: nothing to time
    t_wrong, t_unknown = [], []
    for _ in range(3):  # 4 wrong passwords in all: under the 5 that start the backoff
        t0 = time.monotonic()
        assert c.login_raw(name, "not the password either").status_code == 401
        t_wrong.append(time.monotonic() - t0)
        t0 = time.monotonic()
        assert c.login_raw(uname("nobody"), "not the password").status_code == 401
        t_unknown.append(time.monotonic() - t0)
    fast, slow = min(min(t_wrong), min(t_unknown)), max(min(t_wrong), min(t_unknown))
    assert fast > 0.4 * slow, f"wrong password {t_wrong} vs unknown user {t_unknown}: timing tells them apart"


# ---------------------------------------------------------------------------- accounts


def test_get_user_rules(app):
    c = app.client()
    a, b = c.user(), c.user()
    user_body(c.get(f"/api/users/{a.id}", token=a.token), a.id, a.name)
    body = error(c.get(f"/api/users/{b.id}", token=a.token), 403)
    assert body["error"] == "forbidden_403", body
    user_body(c.get(f"/api/users/{b.id}", token=app.admin_token), b.id, b.name)
    user_body(c.get(f"/api/users/{app.admin_id}", token=app.admin_token), app.admin_id, app.admin_name)
    error(c.get(f"/api/users/{NO_SUCH_ID}", token=app.admin_token), 404)
    error(c.get("/api/users/0", token=app.admin_token), 404)
    # A non-admin asking for an id that is not theirs learns nothing: 403
    # whether or not it exists.
    error(c.get(f"/api/users/{NO_SUCH_ID}", token=a.token), 403)
    error(c.get("/api/users/abc", token=a.token), 404)  # not a route


def test_put_user_rules(app):
    c = app.client()
    a, b = c.user(), c.user()
    new = uname("renamed")
    r = c.put(f"/api/users/{a.id}", token=a.token, json={"username": new})
    assert r.status_code == 200, r.text
    assert r.json() == {"message": "User updated successfully"}
    user_body(c.get(f"/api/users/{a.id}", token=a.token), a.id, new)
    c.login(new)
    error(c.login_raw(a.name, GOOD_PASSWORD), 401)
    a.name = new

    error(c.put(f"/api/users/{b.id}", token=a.token, json={"username": uname()}), 403)
    user_body(c.get(f"/api/users/{b.id}", token=b.token), b.id, b.name)
    error(c.put(f"/api/users/{a.id}", token=a.token, json={"username": b.name.upper()}), 409)
    error(c.put(f"/api/users/{a.id}", token=a.token, json={"role": "admin"}), 403)
    error(c.get("/api/users", token=a.token), 403)
    for bad, why in (({}, "nothing to update"), ({"bogus": 1}, None), ({"username": "x"}, "username"),
                     ({"username": 5}, None), ({"password": "password123"}, "too common"),
                     ({"password": "short"}, "too short"), ({"password": a.name}, "same as the username"),
                     ({"username": "fresh_name_x1", "password": "fresh_name_x1"}, "same as the username")):
        body = error(c.put(f"/api/users/{a.id}", token=a.token, json=bad), 400)
        if why:
            assert why in body["message"], (bad, body)
    user_body(c.get(f"/api/users/{a.id}", token=a.token), a.id, a.name)  # nothing changed

    r = c.put(f"/api/users/{a.id}", token=a.token, json={"password": "a brand new passphrase"})
    assert r.status_code == 200, r.text
    error(c.login_raw(a.name, GOOD_PASSWORD), 401)
    c.login(a.name, "a brand new passphrase")

    # Admins act on anyone, and alone may change roles.
    name_b = uname("byadmin")
    assert c.put(f"/api/users/{b.id}", token=app.admin_token, json={"username": name_b}).status_code == 200
    user_body(c.get(f"/api/users/{b.id}", token=b.token), b.id, name_b)
    error(c.put(f"/api/users/{NO_SUCH_ID}", token=app.admin_token, json={"username": uname()}), 404)
    error(c.put(f"/api/users/{b.id}", token=app.admin_token, json={"role": "superuser"}), 400)
    assert c.put(f"/api/users/{b.id}", token=app.admin_token, json={"role": "admin"}).status_code == 200
    assert c.get("/api/users?limit=1", token=b.token).status_code == 200  # same token, new role at once
    assert c.put(f"/api/users/{b.id}", token=app.admin_token, json={"role": "user"}).status_code == 200
    error(c.get("/api/users?limit=1", token=b.token), 403)


def test_delete_user_rules(app):
    c = app.client()
    a, b, d = c.user(), c.user(), c.user()
    error(c.delete(f"/api/users/{b.id}", token=a.token), 403)
    user_body(c.get(f"/api/users/{b.id}", token=b.token), b.id, b.name)
    key = c.post(f"/api/users/{a.id}/api-keys", token=a.token).json()["key"]
    assert c.get(f"/api/users/{a.id}", key=key).status_code == 200

    r = c.delete(f"/api/users/{a.id}", token=a.token)
    assert r.status_code == 204 and r.content == b"", (r.status_code, r.content)
    # The deleted user's token and key stop working at once.
    body = unauthorized(c.get(f"/api/users/{a.id}", token=a.token))
    assert "no longer exists" in body["message"], body
    unauthorized(c.get(f"/api/users/{a.id}", key=key))
    error(c.login_raw(a.name, GOOD_PASSWORD), 401, "invalid username or password")
    error(c.get(f"/api/users/{a.id}", token=app.admin_token), 404)
    error(c.delete(f"/api/users/{a.id}", token=app.admin_token), 404)
    assert app.db.one("SELECT count(*) FROM api_keys WHERE user_id = ?", a.id)[0] == 0  # cascaded

    r = c.delete(f"/api/users/{d.id}", token=app.admin_token)
    assert r.status_code == 204 and r.content == b""
    unauthorized(c.get(f"/api/users/{d.id}", token=d.token))
    error(c.delete(f"/api/users/{NO_SUCH_ID}", token=app.admin_token), 404)

    # The name is free again; the new account gets a new id, and the old
    # token (sub = the old id) does not open it.
    new_id = app.client().register(a.name)
    assert new_id != a.id
    unauthorized(c.get(f"/api/users/{new_id}", token=a.token))
    unauthorized(c.get(f"/api/users/{a.id}", token=a.token))


def test_every_users_route_needs_credentials(app):
    c = app.client()
    a = c.user()
    now = int(time.time())
    expired = make_jwt({"alg": "HS256", "typ": "JWT"}, claims_for(a.id, iat=now - 7200, exp=now - 3600), app.secret)
    other_key = jwt.encode(claims_for(a.id), new_secret(), algorithm="HS256")
    routes = [("GET", "/api/users"), ("GET", f"/api/users/{a.id}"), ("PUT", f"/api/users/{a.id}"),
              ("DELETE", f"/api/users/{a.id}"), ("POST", f"/api/users/{a.id}/api-keys"),
              ("DELETE", "/api/api-keys/1")]
    creds = [
        ({}, "Bearer"),
        ({"Authorization": "Bearer garbage"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {expired}"}, 'Bearer error="invalid_token"'),
        ({"Authorization": f"Bearer {other_key}"}, 'Bearer error="invalid_token"'),
        ({"Authorization": "Basic dXNlcjpwYXNzd29yZA=="}, 'Bearer error="invalid_token"'),
        ({"Authorization": a.token}, 'Bearer error="invalid_token"'),  # no scheme
        ({"X-API-Key": "vk_" + secrets.token_urlsafe(32)}, 'Bearer error="invalid_token"'),
    ]
    for method, path in routes:
        for headers, www in creds:
            r = c.req(method, path, headers=headers, json={"username": uname()} if method == "PUT" else None)
            unauthorized(r)
            assert r.headers["WWW-Authenticate"] == www, (method, path, headers, r.headers)
    user_body(c.get(f"/api/users/{a.id}", token=a.token), a.id, a.name)  # untouched


def test_list_users_pagination(app):
    """Admin only; following Link rel="next" visits every account once, in id order."""
    fake_hash = argon2.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash("unused password")
    for _ in range(11):  # cheap accounts straight into the table
        app.db.exec("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, 'user', ?)",
                    uname("bulk"), fake_hash, "2024-01-01T12:00:00Z")
    c = app.client()
    a = c.user()
    want = app.db.all("SELECT id, username, role FROM users ORDER BY id")
    assert len(want) >= 12

    target, seen, pages = "/api/users?limit=4", [], 0
    while target:
        r = c.get(target, token=app.admin_token)
        assert r.status_code == 200, r.text
        page = r.json()
        assert isinstance(page, list) and 1 <= len(page) <= 4, page
        for row in page:
            assert set(row) == {"user_id", "username", "created_at", "role"}, row
            assert TIME_RE.match(row["created_at"]), row
        seen += [(row["user_id"], row["username"], row["role"]) for row in page]
        pages += 1
        nxt = next_link(r)
        if nxt:
            assert len(page) == 4
            assert nxt.startswith("/api/users?limit=4&after="), nxt
            cursor = nxt.split("after=", 1)[1]
            assert re.fullmatch(r"[A-Za-z0-9_-]+", cursor) and cursor != str(page[-1]["user_id"]), nxt
        target = nxt
        assert pages <= len(want)
    assert seen == [tuple(w) for w in want]
    assert pages == -(-len(want) // 4)

    everyone = c.get("/api/users", token=app.admin_token)  # default limit 100
    assert [u["user_id"] for u in everyone.json()] == [w[0] for w in want]
    assert next_link(everyone) is None
    assert c.get(f"/api/users?after={want[-1][0]}", token=app.admin_token).json() == []
    assert c.get("/api/users?limit=1000", token=app.admin_token).status_code == 200
    for bad in ("limit=0", "limit=1001", "limit=x", "limit=", "after=-1", "after=x", "limit=2.5", "after=",
                "after=AAAAAAAAAA", "after=AAAAAAAAAAAA"):
        error(c.get(f"/api/users?{bad}", token=app.admin_token), 400)

    # after= was a bare user id before cursors became opaque: one a client
    # stored still continues after that account, and links from there on
    # carry cursors
    r = c.get(f"/api/users?limit=2&after={want[1][0]}", token=app.admin_token)
    assert [u["user_id"] for u in r.json()] == [w[0] for w in want[2:4]]
    nxt = next_link(r)
    assert nxt.startswith("/api/users?limit=2&after=") and not nxt.endswith(str(want[3][0])), nxt
    assert [u["user_id"] for u in c.get(nxt, token=app.admin_token).json()] == [w[0] for w in want[4:6]]
    # other arguments stay in the link
    r = c.get("/api/users?limit=2&note=x%20y", token=app.admin_token)
    assert next_link(r).startswith("/api/users?note=x%20y&limit=2&after="), next_link(r)
    error(c.get("/api/users", token=a.token), 403)
    unauthorized(c.get("/api/users"))


# ---------------------------------------------------------------------------- API keys


def test_api_keys(app):
    c = app.client()
    a, b = c.user(), c.user()
    r = c.post(f"/api/users/{a.id}/api-keys", token=a.token)
    assert r.status_code == 201, r.text
    assert r.headers.get("Cache-Control") == "no-store"
    k1 = r.json()
    assert {"id", "key"} <= set(k1), k1
    assert type(k1["id"]) is int and isinstance(k1["key"], str) and len(k1["key"]) >= 32, k1
    # Stored hashed: the SHA-256 of the key, the key itself nowhere.
    row = app.db.one("SELECT * FROM api_keys WHERE id = ?", k1["id"])
    assert hashlib.sha256(k1["key"].encode()).hexdigest() in row, row
    assert not any(isinstance(v, str) and k1["key"] in v for v in row), row

    user_body(c.get(f"/api/users/{a.id}", key=k1["key"]), a.id, a.name)
    error(c.get(f"/api/users/{b.id}", key=k1["key"]), 403)
    error(c.get("/api/users", key=k1["key"]), 403)
    k2 = c.post(f"/api/users/{a.id}/api-keys", token=a.token, json={"name": "ci"}).json()
    assert k2["id"] != k1["id"] and k2["key"] != k1["key"] and k2.get("name") == "ci", k2
    error(c.post(f"/api/users/{b.id}/api-keys", token=a.token), 403)
    error(c.post(f"/api/users/{a.id}/api-keys", token=a.token, json={"name": 7}), 400)

    # Someone else's key id is "not found", like an id that does not exist.
    e1 = error(c.delete(f"/api/api-keys/{k1['id']}", token=b.token), 404)
    e2 = error(c.delete(f"/api/api-keys/{NO_SUCH_ID}", token=b.token), 404)
    assert e1["error"] == e2["error"] == "not_found_404"
    assert c.get(f"/api/users/{a.id}", key=k1["key"]).status_code == 200  # still valid

    r = c.delete(f"/api/api-keys/{k1['id']}", token=a.token)
    assert r.status_code == 204 and r.content == b""
    unauthorized(c.get(f"/api/users/{a.id}", key=k1["key"]))
    error(c.delete(f"/api/api-keys/{k1['id']}", token=a.token), 404)
    assert c.get(f"/api/users/{a.id}", key=k2["key"]).status_code == 200  # the other key lives on

    r = c.delete(f"/api/api-keys/{k2['id']}", token=app.admin_token)  # admins revoke anyone's
    assert r.status_code == 204
    unauthorized(c.get(f"/api/users/{a.id}", key=k2["key"]))
    assert app.db.one("SELECT count(*) FROM api_keys WHERE user_id = ?", a.id)[0] == 0

    # An admin may make a key for another account.
    k3 = c.post(f"/api/users/{b.id}/api-keys", token=app.admin_token)
    assert k3.status_code == 201, k3.text
    user_body(c.get(f"/api/users/{b.id}", key=k3.json()["key"]), b.id, b.name)


def test_api_key_for_unknown_user_is_404(app, request):
    r = app.client().post(f"/api/users/{NO_SUCH_ID}/api-keys", token=app.admin_token)
    error(r, 404)


# ---------------------------------------------------------------------------- createuser


def test_createuser_admin(app):
    """The fixture's admin came from `createuser --admin NAME` with the
    password on stdin: it can list users; the password was not echoed and
    is stored as argon2id."""
    p = app.createuser_run
    assert app.admin_pw not in p.stdout + p.stderr
    pw_hash, role = app.db.one("SELECT password_hash, role FROM users WHERE id = ?", app.admin_id)
    assert role == "admin" and pw_hash.startswith("$argon2id$"), (role, pw_hash)
    assert app.admin_pw not in pw_hash
    argon2.PasswordHasher().verify(pw_hash, app.admin_pw)
    c = app.client()
    r = c.get("/api/users", token=app.admin_token)
    assert r.status_code == 200
    assert {"user_id": app.admin_id, "username": app.admin_name, "role": "admin"}.items() <= \
        next(u for u in r.json() if u["user_id"] == app.admin_id).items()

    # Without --admin: a plain user.
    name = uname("cli")
    p = createuser(app.db, name, "a cli password", secret=app.secret, cwd=app.tmpdir)
    assert p.returncode == 0 and f"created user '{name}'" in p.stdout, (p.stdout, p.stderr)
    tok = c.login(name, "a cli password")
    error(c.get("/api/users", token=tok), 403)
    # Refusals: a weak password, a taken name (any case), no password, bad usage.
    p = createuser(app.db, uname("cli"), "short", "--admin", secret=app.secret, cwd=app.tmpdir)
    assert p.returncode == 1 and "too short" in p.stderr, (p.returncode, p.stderr)
    p = createuser(app.db, name.upper(), "another cli password", secret=app.secret, cwd=app.tmpdir)
    assert p.returncode == 1 and "taken" in p.stderr, (p.returncode, p.stderr)
    p = createuser(app.db, uname("cli"), None, secret=app.secret, cwd=app.tmpdir)
    assert p.returncode == 1 and "no password" in p.stderr, (p.returncode, p.stderr)
    p = createuser(app.db, "--bogus", "whatever pass", secret=app.secret, cwd=app.tmpdir)
    assert p.returncode == 2, (p.returncode, p.stderr)


# ---------------------------------------------------------------------------- secret key


def test_refuses_to_start_without_a_secret_key(servers, tmp_path):
    db = servers.db()
    for env, why in (({}, "secret_key is not set"), ({"SECRET_KEY": "x" * 31}, "must be 32")):
        p = subprocess.run([str(binary("vial-server")), "--port", "0", "--database-url", db.url,
                            "--migrations-root", str(MIGRATIONS_ROOT)], env=clean_env(env), cwd=str(tmp_path),
                           capture_output=True, text=True, timeout=15)
        assert p.returncode != 0 and why in p.stderr, (env, p.returncode, p.stderr)
    # --debug: a random per-process key, said loudly.
    srv = servers.start(db, "--debug", secret=None)
    assert srv.wait_log(r"random secret_key")


# ---------------------------------------------------------------------------- JWT tampering


def _tamper_cases(secret, tok, uid, other_uid):
    h, p, s = tok.split(".")
    header, claims, _ = split_jwt(tok)
    now = int(time.time())
    std = {"alg": "HS256", "typ": "JWT"}

    def signed(hdr, cl, key=secret):
        return make_jwt(hdr, cl, key)

    def raw_signed(hseg, pseg, key=secret):
        return f"{hseg}.{pseg}.{hs256(key, hseg + '.' + pseg)}"

    # Standard-alphabet base64 ('+' or '/') in the payload, correctly signed.
    extra, pseg = 0, b64url_json(claims)
    while "-" not in pseg and "_" not in pseg:
        extra += 1
        pseg = b64url_json(dict(claims, x="\xff\xfe?>" * extra))
    std_alpha = raw_signed(h, pseg.replace("-", "+").replace("_", "/"))
    # Padding on a segment whose length is not a multiple of 4, correctly signed.
    pad_p = b64url_json(claims)
    pad_p = pad_p + "=" * (-len(pad_p) % 4 or 4)
    # The last signature character carries 2 unused bits: set one.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    last = alphabet.index(s[-1])
    noncanon = s[:-1] + alphabet[last | 1 if last % 4 == 0 else last & ~3]
    from cryptography.hazmat.primitives.asymmetric import rsa
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return {
        "payload-sub-changed": f"{h}.{b64url_json(dict(claims, sub=str(other_uid)))}.{s}",
        "payload-exp-extended": f"{h}.{b64url_json(dict(claims, exp=claims['exp'] + 86400))}.{s}",
        "payload-reencoded-with-spaces": f"{h}.{b64url(__import__('json').dumps(claims))}.{s}",
        "header-alg-none-unsigned": f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{p}.",
        "header-alg-none-old-signature": f"{b64url_json({'alg': 'none', 'typ': 'JWT'})}.{p}.{s}",
        "header-alg-None-unsigned": f"{b64url_json({'alg': 'None'})}.{p}.",
        "header-alg-none-no-dot": f"{b64url_json({'alg': 'none'})}.{p}",
        "header-alg-none-signed-with-key": signed({"alg": "none", "typ": "JWT"}, claims),
        "header-alg-HS512": jwt.encode(claims, secret, algorithm="HS512"),
        "header-alg-HS384": jwt.encode(claims, secret, algorithm="HS384"),
        "header-alg-RS256-real": jwt.encode(claims, rsa_key, algorithm="RS256"),
        "header-alg-RS256-hmac-signature": signed({"alg": "RS256", "typ": "JWT"}, claims),
        "header-alg-lowercase": signed({"alg": "hs256", "typ": "JWT"}, claims),
        "header-alg-missing": signed({"typ": "JWT"}, claims),
        "header-alg-not-a-string": signed({"alg": ["HS256"]}, claims),
        "header-crit": signed(dict(std, crit=["exp"]), claims),
        "header-not-json": raw_signed(b64url("not json"), p),
        "header-array": raw_signed(b64url("[]"), p),
        "wrong-key": jwt.encode(claims, "wrong-key", algorithm="HS256"),
        "wrong-key-same-length": jwt.encode(claims, new_secret(), algorithm="HS256"),
        "key-prefix": signed(std, claims, secret[:32]),
        "key-empty": signed(std, claims, ""),
        "expired-an-hour-ago": signed(std, dict(claims, iat=now - 7200, exp=now - 3600)),
        "expired-beyond-leeway": signed(std, dict(claims, exp=now - 90)),
        "nbf-in-an-hour": signed(std, dict(claims, nbf=now + 3600)),
        "nbf-beyond-leeway": signed(std, dict(claims, nbf=now + 90)),
        "nbf-not-a-number": signed(std, dict(claims, nbf="0")),
        "exp-missing": signed(std, {k: v for k, v in claims.items() if k != "exp"}),
        "exp-string": signed(std, dict(claims, exp=str(now + 600))),
        "exp-null": signed(std, dict(claims, exp=None)),
        "sub-missing": signed(std, {k: v for k, v in claims.items() if k != "sub"}),
        "sub-integer": signed(std, dict(claims, sub=uid)),
        "sub-unknown-user": signed(std, dict(claims, sub=str(NO_SUCH_ID))),
        "sub-zero": signed(std, dict(claims, sub="0")),
        "sub-negative": signed(std, dict(claims, sub=f"-{uid}")),
        "sub-trailing-junk": signed(std, dict(claims, sub=f"{uid} OR 1=1")),
        "sub-empty": signed(std, dict(claims, sub="")),
        "payload-array": raw_signed(h, b64url("[1]")),
        "payload-not-json": raw_signed(h, b64url("{\"sub\":")),
        "payload-bad-base64-char": raw_signed(h, p[:5] + "*" + p[6:]),
        "payload-std-alphabet": std_alpha,
        "payload-padded": raw_signed(h, pad_p),
        "payload-length-mod-4-is-1": raw_signed(h, p + "A" * ((1 - len(p)) % 4)),
        "signature-noncanonical-bits": f"{h}.{p}.{noncanon}",
        "signature-truncated": f"{h}.{p}.{s[:-1]}",
        "signature-extended": f"{h}.{p}.{s}A",
        "signature-empty": f"{h}.{p}.",
        "signature-padded": f"{h}.{p}.{s}=",
        "signature-std-alphabet": f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}" if ("-" in s or "_" in s)
        else f"{h}.{p}.+{s[1:]}",
        "extra-dot": tok + ".",
        "extra-segment": tok + ".e30",
        "leading-dot": "." + tok,
        "two-segments": f"{h}.{p}",
        "one-segment": h,
        "only-dots": "..",
        "oversized": signed(std, dict(claims, pad="x" * 9000)),
        "space-inside": f"{h}.{p[:4]} {p[4:]}.{s}",
    }


# The reason each tampered token must be refused for (first prefix that matches).
REASONS = [
    ("payload-sub-changed", "signature"), ("payload-exp-extended", "signature"),
    ("payload-reencoded", "signature"), ("header-alg-none-no-dot", "malformed token"),
    ("header-alg", "algorithm is not HS256"), ("header-crit", "critical"), ("header-", "malformed token header"),
    ("wrong-key", "signature"), ("key-", "signature"), ("expired", "expired"), ("nbf", "not valid yet"),
    ("exp-", "no expiry"), ("sub-", "no longer exists"), ("payload-", "malformed token payload"),
    ("signature-", "signature"), ("space-inside", "token"), ("only-dots", "malformed token"),
    ("", "malformed token"),
]


def test_jwt_tampering_is_401(sq):
    """Every forged, altered or stale token → 401 invalid_token; the
    untouched token (and tokens within the leeway) still work, so the check
    can fail."""
    c = sq.client()
    a, b = c.user(), c.user()
    path = f"/api/users/{a.id}"
    user_body(c.get(path, token=a.token), a.id, a.name)
    cases = _tamper_cases(sq.secret, a.token, a.id, b.id)
    failures = []
    for name, tok in cases.items():
        r = c.get(path, headers={"Authorization": f"Bearer {tok}"})
        if r.status_code != 401 or r.headers.get("WWW-Authenticate") != 'Bearer error="invalid_token"':
            failures.append(f"{name}: {r.status_code} {r.text[:200]}")
            continue
        # ...and refused by the check meant to refuse it
        why = next(w for prefix, w in REASONS if name.startswith(prefix))
        if why not in r.json()["message"]:
            failures.append(f"{name}: refused, but for another reason: {r.json()['message']!r} (expected {why!r})")
    assert not failures, "accepted or mis-answered tampered tokens:\n" + "\n".join(failures)
    # The forged token does not open the account it names either.
    r = c.get(f"/api/users/{b.id}", headers={"Authorization": f"Bearer {cases['payload-sub-changed']}"})
    unauthorized(r)

    # Controls: these are valid and must be accepted.
    now = int(time.time())
    std = {"alg": "HS256", "typ": "JWT"}
    base = claims_for(a.id)
    controls = {
        "issued": a.token,
        "self-signed": make_jwt(std, base, sq.secret),
        "no-typ": make_jwt({"alg": "HS256"}, base, sq.secret),
        "exp-within-leeway": make_jwt(std, dict(base, exp=now - 5), sq.secret),
        "nbf-within-leeway": make_jwt(std, dict(base, nbf=now + 5), sq.secret),
        "exp-as-float": make_jwt(std, dict(base, exp=now + 600.5), sq.secret),
        "bearer-lower-case": None,
    }
    for name, tok in controls.items():
        if tok is None:
            r = c.get(path, headers={"Authorization": f"bearer {a.token}"})
        else:
            r = c.get(path, token=tok)
        assert r.status_code == 200, (name, r.status_code, r.text)


def test_jwt_extreme_times_are_decided_without_overflow(servers):
    db = servers.db()
    srv = servers.start(db, *CHEAP_ARGON2)
    servers.started.remove(srv)  # the sanitized build may die of this bug: stopped and checked here
    try:
        c = servers.client(srv, None)
        name = uname("far")
        uid = c.register(name)
        now = int(time.time())
        results = {}
        for label, claims in (("exp=2^63-1", {"sub": str(uid), "exp": 2**63 - 1}),
                              ("nbf=-2^63", {"sub": str(uid), "exp": now + 600, "nbf": -2**63})):
            tok = jwt.encode(claims, srv.secret, algorithm="HS256")
            try:
                results[label] = c.get(f"/api/users/{uid}", token=tok).status_code
            except Exception as e:  # the server died
                results[label] = repr(e)[:100]
        log = srv.log()
    finally:
        srv.stop()
    assert "runtime error" not in log, log[-2000:]
    assert results == {"exp=2^63-1": 200, "nbf=-2^63": 200}, results


def test_token_expires(servers):
    """A token issued with jwt_ttl=1s and no leeway stops working."""
    db = servers.db()
    srv = servers.start(db, *CHEAP_ARGON2, "--jwt-ttl", "1s", "--jwt-leeway", "0s")
    c = servers.client(srv, None)
    name = uname("ttl")
    uid = c.register(name)
    r = c.login_raw(name, GOOD_PASSWORD)
    assert r.status_code == 200 and r.json()["expires_in"] == 1, r.text
    tok = r.json()["access_token"]
    user_body(c.get(f"/api/users/{uid}", token=tok), uid, name)
    time.sleep(2.3)
    body = unauthorized(c.get(f"/api/users/{uid}", token=tok))
    assert "expired" in body["message"], body


# ---------------------------------------------------------------------------- interop


def test_server_tokens_verify_with_pyjwt(sq):
    c = sq.client()
    a = c.user()
    claims = jwt.decode(a.token, sq.secret, algorithms=["HS256"])
    assert claims["sub"] == str(a.id), claims
    assert claims["exp"] - claims["iat"] == 3600, claims
    assert abs(claims["iat"] - time.time()) < 120, claims
    assert jwt.get_unverified_header(a.token) == {"alg": "HS256", "typ": "JWT"}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(a.token, new_secret(), algorithms=["HS256"])


def test_pyjwt_tokens_are_accepted(sq):
    c = sq.client()
    a = c.user()
    now = int(time.time())
    for claims in ({"sub": str(a.id), "exp": now + 300},
                   {"sub": str(a.id), "iat": now, "nbf": now, "exp": now + 300, "jti": secrets.token_hex(8),
                    "aud": "vial", "iss": "python3-jwt"}):
        tok = jwt.encode(claims, sq.secret, algorithm="HS256")
        user_body(c.get(f"/api/users/{a.id}", token=tok), a.id, a.name)
    # and an admin token made the same way lists users
    tok = jwt.encode({"sub": str(sq.admin_id), "exp": now + 300}, sq.secret, algorithm="HS256")
    assert c.get("/api/users?limit=1", token=tok).status_code == 200


def test_server_hashes_verify_with_python_argon2(sq):
    c = sq.client()
    name = uname("hash")
    uid = c.register(name, "interop passphrase one")
    (h,) = sq.db.one("SELECT password_hash FROM users WHERE id = ?", uid)
    # libsodium's interactive defaults, in the standard encoding
    assert re.fullmatch(r"\$argon2id\$v=19\$m=65536,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}", h), h
    ph = argon2.PasswordHasher()
    assert ph.verify(h, "interop passphrase one")
    with pytest.raises(argon2.exceptions.VerifyMismatchError):
        ph.verify(h, "interop passphrase two")
    # a fresh salt every time
    uid2 = c.register(uname("hash"), "interop passphrase one")
    assert sq.db.one("SELECT password_hash FROM users WHERE id = ?", uid2)[0] != h


def test_python_argon2_hashes_log_in(sq):
    """Hashes made by python3-argon2 (type ID, its own parameters) verify in
    vial; the server then re-hashes them with its own parameters.  Other
    types are refused."""
    c = sq.client()
    hashers = {
        "default": argon2.PasswordHasher(),  # m=102400,t=2,p=8 in 21.1
        "p1": argon2.PasswordHasher(time_cost=3, memory_cost=32768, parallelism=1, type=argon2.Type.ID),
    }
    for label, ph in hashers.items():
        name, pw = uname("py" + label), f"python made {label} passphrase"
        h = ph.hash(pw)
        assert h.startswith("$argon2id$")
        sq.db.exec("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, 'user', ?)",
                   name, h, "2024-01-01T12:00:00Z")
        (uid,) = sq.db.one("SELECT id FROM users WHERE username = ?", name)
        tok = c.login(name, pw)
        user_body(c.get(f"/api/users/{uid}", token=tok), uid, name)
        error(c.login_raw(name, pw + "!"), 401)
        (h2,) = sq.db.one("SELECT password_hash FROM users WHERE id = ?", uid)
        assert h2 != h and "m=65536,t=2,p=1$" in h2, h2  # re-hashed with the server's parameters
        assert argon2.PasswordHasher().verify(h2, pw)
        c.login(name, pw)
    # argon2i (not id): refused like a wrong password.
    name = uname("pyi")
    h = argon2.PasswordHasher(type=argon2.Type.I).hash("an argon2i passphrase")
    sq.db.exec("INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, 'user', ?)",
               name, h, "2024-01-01T12:00:00Z")
    error(c.login_raw(name, "an argon2i passphrase"), 401, "invalid username or password")


# ---------------------------------------------------------------------------- rate limits and backoff
# On the "limits" server (cheap argon2, trusted loopback proxy): every test
# comes from addresses of its own.  The numbers are users.c's: register 10
# at once then 30/min per address; login 30 at once then 120/min per
# address; /api/* 120 at once then 600/min per user; login backoff after 5
# failures per account or 20 per address, 1 s doubling.


def test_register_limit_then_recovery(rl):
    c = rl.client()
    for _ in range(10):  # invalid bodies are cheap and still count
        error(c.post("/api/register", json={}), 400)
    r = c.register_raw(uname("lim"), GOOD_PASSWORD)
    ra = retry_after(r)
    assert r.json()["error"] == "too_many_requests_429"
    assert ra == 2, ra  # 30 per minute: one every 2 s
    assert rl.client().register(uname("lim")) > 0  # another address is not limited
    time.sleep(ra + 0.1)
    assert c.register(uname("lim")) > 0


def test_login_limit_then_recovery(rl):
    c = rl.client()
    name = uname("lim")
    rl.client().register(name)
    for _ in range(30):
        error(c.post("/api/login", json={"username": name}), 400)
    ra = retry_after(c.login_raw(name, GOOD_PASSWORD))
    assert ra == 1, ra
    rl.client().login(name)
    time.sleep(ra + 0.1)
    c.login(name)


def test_users_api_limit_per_user(rl):
    c = rl.client()
    a, b = c.user(), c.user()
    codes = [c.get(f"/api/users/{a.id}", token=a.token).status_code for _ in range(125)]
    assert codes.count(429) >= 1 and set(codes) == {200, 429}, codes
    first = codes.index(429)
    assert 115 <= first <= 125, first  # 120 at once (a few refill while we go)
    ra = retry_after(c.get(f"/api/users/{a.id}", token=a.token))
    assert ra == 1
    # per user, not per address: b from the same address is fine
    user_body(c.get(f"/api/users/{b.id}", token=b.token), b.id, b.name)
    time.sleep(ra + 0.05)
    user_body(c.get(f"/api/users/{a.id}", token=a.token), a.id, a.name)


def test_login_backoff_per_account(rl):
    c = rl.client()
    a = c.user()
    for _ in range(5):
        error(c.login_raw(a.name, "wrong password"), 401)
    ra = retry_after(c.login_raw(a.name, "wrong password"))
    assert ra == 1, ra
    # while backing off even the right password waits (no oracle), from any address
    assert retry_after(c.login_raw(a.name, GOOD_PASSWORD)) >= 1
    assert retry_after(rl.client().login_raw(a.name, GOOD_PASSWORD)) >= 1
    # the name's case does not escape it
    assert retry_after(c.login_raw(a.name.upper(), GOOD_PASSWORD)) >= 1
    # other accounts from the same address are not affected (5 < 20)
    other = rl.client().user()
    c.login(other.name)
    time.sleep(ra + 0.1)
    error(c.login_raw(a.name, "wrong password"), 401)  # one more try allowed...
    ra = retry_after(c.login_raw(a.name, GOOD_PASSWORD))
    assert ra == 2, ra  # ...and the wait doubles
    time.sleep(ra + 0.1)
    c.login(a.name)  # success resets the count:
    for _ in range(5):
        error(c.login_raw(a.name, "wrong password"), 401)
    assert retry_after(c.login_raw(a.name, "wrong password")) == 1


def test_login_backoff_for_unknown_names_too(rl):
    """An unknown name backs off like a real account: 429 tells nothing."""
    c = rl.client()
    ghost = uname("ghost")
    for _ in range(5):
        error(c.login_raw(ghost, "whatever it is"), 401)
    assert retry_after(c.login_raw(ghost, "whatever it is")) == 1


def test_login_backoff_per_address(rl):
    """20 failures from one address, each on a different name, back off the
    address: even a right password from there waits; other addresses do not."""
    real = rl.client().user()
    c = rl.client()
    for _ in range(20):
        error(c.login_raw(uname("spray"), "Summer2024!"), 401)
    ra = retry_after(c.login_raw(real.name, GOOD_PASSWORD))
    assert ra == 1, ra
    assert retry_after(c.login_raw(uname("spray"), "Summer2024!")) >= 1
    rl.client().login(real.name)
    time.sleep(ra + 0.1)
    c.login(real.name)


def test_own_login_does_not_reset_address_backoff(rl):
    mine = rl.client().user()
    c = rl.client()
    for _ in range(19):
        error(c.login_raw(uname("spray"), "Summer2024!"), 401)
    c.login(mine.name)  # the attacker's own account
    error(c.login_raw(uname("spray"), "Summer2024!"), 401)  # the 20th failure from this address
    retry_after(c.login_raw(uname("spray"), "Summer2024!"))


def test_forwarded_for_is_ignored_without_a_trusted_proxy(servers):
    """Without trusted_proxies a client cannot pick its address with
    X-Forwarded-For: spraying from "many" addresses still trips the
    per-address backoff of the real peer."""
    db = servers.db()
    srv = servers.start(db, *CHEAP_ARGON2)
    c = servers.client(srv, None)
    real = c.user()
    for i in range(20):
        r = c.login_raw(uname("spray"), "Summer2024!", headers={"X-Forwarded-For": f"198.51.100.{i + 1}"})
        error(r, 401)
    ra = retry_after(c.login_raw(real.name, GOOD_PASSWORD, headers={"X-Forwarded-For": "203.0.113.9"}))
    assert ra >= 1
    for _ in range(5):
        error(c.login_raw(uname("x"), "x", headers={"X-Forwarded-For": "203.0.113.10"}), 429)


# ---------------------------------------------------------------------------- shared limits (Redis)


def test_limits_shared_through_redis(servers):
    """Two instances on one database and one Redis enforce one login
    backoff and one rate limit."""
    url = redis_url()
    db = servers.db()
    a = servers.start(db, *CHEAP_ARGON2, *TRUST_LOOPBACK, "--redis-url", url)
    b = servers.start(db, *CHEAP_ARGON2, *TRUST_LOOPBACK, "--redis-url", url)
    addr = fresh_addr()
    ca, cb = servers.client(a, addr), servers.client(b, addr)
    name = uname("shared")
    ca.register(name)
    cb.login(name)
    for _ in range(5):
        error(ca.login_raw(name, "wrong password"), 401)
    assert retry_after(cb.login_raw(name, GOOD_PASSWORD)) == 1
    assert retry_after(servers.client(b).login_raw(name, GOOD_PASSWORD)) == 1  # any address
    # The register limit (10 at once per address) counts on both.
    addr2 = fresh_addr()
    ra, rb = servers.client(a, addr2), servers.client(b, addr2)
    for i in range(10):
        error((ra if i % 2 else rb).post("/api/register", json={}), 400)
    retry_after(ra.post("/api/register", json={}))
    retry_after(rb.post("/api/register", json={}))
    time.sleep(1.1)
    cb.login(name)  # the backoff has passed, on B too


def test_limits_without_redis_are_per_instance(servers):
    """Documented difference: without Redis each instance counts alone, so
    failures on A do not make B back off (n instances allow n times as many
    attempts)."""
    db = servers.db()
    a = servers.start(db, *CHEAP_ARGON2, *TRUST_LOOPBACK)
    b = servers.start(db, *CHEAP_ARGON2, *TRUST_LOOPBACK)
    addr = fresh_addr()
    ca, cb = servers.client(a, addr), servers.client(b, addr)
    name = uname("alone")
    ca.register(name)
    for _ in range(5):
        error(ca.login_raw(name, "wrong password"), 401)
    assert retry_after(ca.login_raw(name, GOOD_PASSWORD)) == 1
    cb.login(name)  # B saw none of it
    assert retry_after(ca.login_raw(name, GOOD_PASSWORD)) >= 1  # and B's success does not clear A

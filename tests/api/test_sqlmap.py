"""Debian's sqlmap against the users routes of vial-server, on loopback,
bounded, in batch mode: it must find no injection.

The server (SQLite, cheap argon2) runs with --trusted-proxies 127.0.0.1 and
sqlmap with a tamper script of ours that gives every payload request a
random X-Forwarded-For address (and, for the authenticated routes, one of
several admin tokens): users.c's limits are compile-time constants with no
setting to relax them (an API gap), and without this the per-address login
backoff, the register limit and the per-user API limit would answer most of
the scan with 429 and hide whatever the payloads did.  The test checks the
server's access log to show that the scan really reached the views.

A positive control first: the same sqlmap options against a deliberately
injectable login (Python's http.server + sqlite3, string-formatted SQL) must
report an injection, so a scan that cannot detect anything fails the test.
"""
from __future__ import annotations

import http.server
import json
import os
import re
import shutil
import sqlite3
import subprocess
import threading
import time

import pytest

from users_support import (CHEAP_ARGON2, TRUST_LOOPBACK, Client, Database, createuser, new_secret, start_server,
                           uname)

BUDGET_S = 110.0  # every sqlmap run of this module together (the ASan build is slower)
SQLMAP_OPTS = ["--batch", "--level", "2", "--risk", "1", "--timeout", "5", "--retries", "0", "--technique", "BEUST",
               "--time-sec", "1", "--threads", "1", "--disable-coloring", "--ignore-code", "401,429",
               "--skip-waf"]
PASSWORD = "sqlmap test passphrase"

TAMPER = '''
import random

from lib.core.enums import PRIORITY

__priority__ = PRIORITY.NORMAL
TOKENS = %s


def dependencies():
    pass


def tamper(payload, **kwargs):
    """A random client address (the server trusts 127.0.0.1 as a proxy) and
    one of several admin tokens for each payload request."""
    headers = kwargs.get("headers", {})
    headers["X-Forwarded-For"] = "10.%%d.%%d.%%d" %% (random.randrange(256), random.randrange(256),
                                                   random.randrange(1, 255))
    if TOKENS:
        headers["Authorization"] = "Bearer " + random.choice(TOKENS)
    return payload
'''


def _sqlmap() -> str:
    path = shutil.which("sqlmap")
    if path:
        return path
    if os.geteuid() == 0:  # idempotent: only when missing
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["sh", "-c", "dpkg -s sqlmap >/dev/null 2>&1 || apt-get install -y sqlmap"], env=env,
                       capture_output=True, timeout=600)
        path = shutil.which("sqlmap")
    if not path:
        pytest.fail("sqlmap is not installed (apt-get install sqlmap, or scripts/deps.sh test)", pytrace=False)
    return path


class Scanner:
    """Runs sqlmap with a shared deadline; keeps every transcript."""

    def __init__(self, tmp, tokens_by_name):
        self.exe = _sqlmap()
        self.tmp = tmp
        self.deadline = time.monotonic() + BUDGET_S
        self.tampers = {}
        tdir = tmp / "tamper"  # sqlmap wants a package
        tdir.mkdir(exist_ok=True)
        (tdir / "__init__.py").write_text("")
        for name, tokens in tokens_by_name.items():
            p = tdir / f"vial_{name}.py"
            p.write_text(TAMPER % repr(list(tokens)))
            self.tampers[name] = str(p)
        self.home = tmp / "home"
        self.home.mkdir(exist_ok=True)
        self.n = 0

    def run(self, url, *args, tamper=None) -> str:
        left = self.deadline - time.monotonic()
        assert left > 5, "sqlmap time budget used up"
        self.n += 1
        out_dir = self.tmp / f"sqlmap-out-{self.n}"
        argv = [self.exe, "-u", url, *SQLMAP_OPTS, "--output-dir", str(out_dir), *args]
        if tamper:
            argv += ["--tamper", self.tampers[tamper]]
        env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
        env["HOME"] = str(self.home)  # sqlmap's history and cache stay in tmp
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=min(60.0, left), env=env,
                               stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:  # subprocess.run kills it
            pytest.fail(f"sqlmap did not finish within its time: {argv}\n{(e.stdout or b'')[-3000:]!r}")
        out = p.stdout + p.stderr
        (self.tmp / f"sqlmap-{self.n}.log").write_text(" ".join(argv) + "\n\n" + out)
        return out


def verdict(out: str) -> str:
    """'vulnerable', 'clean', or raises if sqlmap did not really test."""
    assert "testing for SQL injection on" in out or "is vulnerable" in out, out[-3000:]
    assert "[CRITICAL]" not in out, out[-3000:]
    if re.search(r"identified the following injection point|is vulnerable\.|appears to be '[^']*' injectable", out):
        return "vulnerable"
    assert "all tested parameters do not appear to be injectable" in out, out[-3000:]
    return "clean"


# ---------------------------------------------------------------------------- a vulnerable control


class _Vulnerable(http.server.BaseHTTPRequestHandler):
    db = None
    lock = threading.Lock()

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        row = None
        try:
            name = json.loads(body)["username"]
            with self.lock:  # the bug on purpose: SQL made by string formatting
                row = self.db.execute(f"SELECT id FROM users WHERE username = '{name}'").fetchone()
        except Exception:
            pass
        out = b'{"ok":true}' if row else b'{"error":"unauthorized_401"}'
        self.send_response(200 if row else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


@pytest.fixture(scope="module")
def target(tmp_path_factory):
    """vial-server with two accounts, a token, and 20 admins' tokens (the
    per-user API limit allows 120 requests at once to each)."""
    tmp = tmp_path_factory.mktemp("sqlmap")
    db = Database("sqlite", tmp)
    secret = new_secret()
    srv = start_server(db, tmp, *CHEAP_ARGON2, *TRUST_LOOPBACK, secret=secret)
    clients = []
    try:
        def client():
            clients.append(Client(srv))
            return clients[-1]
        root = uname("root")
        p = createuser(db, root, PASSWORD, "--admin", secret=secret, cwd=tmp)
        assert p.returncode == 0, p.stderr
        root_tok = client().login(root, PASSWORD)
        admins = []
        for _ in range(20):
            c = client()
            name = uname("adm")
            uid = c.register(name, PASSWORD)
            assert c.put(f"/api/users/{uid}", token=root_tok, json={"role": "admin"}).status_code == 200
            admins.append(c.login(name, PASSWORD))
        c = client()
        user = "sqlmapuser"
        uid = c.register(user, PASSWORD)
        tok = c.login(user, PASSWORD)
        put_uid = c.register("sqlmap_put", PASSWORD)
        put_tok = c.login("sqlmap_put", PASSWORD)
        yield {"srv": srv, "db": db, "tmp": tmp, "uid": uid, "user": user, "token": tok, "admins": admins,
               "put_uid": put_uid, "put_token": put_tok,
               "base": f"http://127.0.0.1:{srv.port}"}
    finally:
        for c in clients:
            c.close()
        problems = srv.problems(0)
        db.close()
        if problems:
            pytest.fail("\n".join(problems), pytrace=False)


def test_sqlmap_finds_no_injection(target, tmp_path):
    scan = Scanner(tmp_path, {"xff": [], "admins": target["admins"]})
    json_h = ["-H", "Content-Type: application/json"]
    base, srv = target["base"], target["srv"]

    # The control: the same options do find a textbook injection.
    _Vulnerable.db = sqlite3.connect(":memory:", check_same_thread=False)
    _Vulnerable.db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, username TEXT)")
    _Vulnerable.db.execute("INSERT INTO users (username) VALUES ('alice')")
    vuln = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Vulnerable)
    th = threading.Thread(target=vuln.serve_forever, daemon=True)
    th.start()
    try:
        out = scan.run(f"http://127.0.0.1:{vuln.server_address[1]}/login", "--method", "POST", *json_h,
                       "--data", '{"username":"alice*","password":"x"}', "--code", "200")
    finally:
        vuln.shutdown()
        vuln.server_close()
        th.join(5)
    assert verdict(out) == "vulnerable", out[-3000:]

    log_before = len(srv.log())
    results = {}
    # Login: the base value logs in (200), so an injection that made the
    # lookup match would show as 200 for a payload.
    results["POST /api/login username"] = scan.run(
        f"{base}/api/login", "--method", "POST", *json_h, "--code", "200", "--data",
        json.dumps({"username": target["user"] + "*", "password": PASSWORD}), tamper="xff")
    # Register: the base name exists (409 every time, stable).
    results["POST /api/register username"] = scan.run(
        f"{base}/api/register", "--method", "POST", *json_h, "--data",
        json.dumps({"username": target["user"] + "*", "password": PASSWORD}), tamper="xff")
    # The account by id (path), with a bearer token.
    results["GET /api/users/<id>"] = scan.run(
        f"{base}/api/users/{target['uid']}*", "-H", f"Authorization: Bearer {target['token']}", "--code", "200",
        tamper="admins")
    # The admin listing's cursor parameters.
    results["GET /api/users?limit&after"] = scan.run(
        f"{base}/api/users?limit=5&after=1", "-p", "limit,after", "-H",
        f"Authorization: Bearer {target['admins'][0]}", "--code", "200", tamper="admins")
    # Renaming (the name goes into an UPDATE): the base renames to itself
    # (payloads that happen to be valid names rename it: another account).
    results["PUT /api/users/<id> username"] = scan.run(
        f"{base}/api/users/{target['put_uid']}", "--method", "PUT", *json_h, "-H",
        f"Authorization: Bearer {target['put_token']}", "--code", "200", "--data",
        json.dumps({"username": "sqlmap_put*"}), tamper="admins")

    verdicts = {k: verdict(v) for k, v in results.items()}
    assert all(v == "clean" for v in verdicts.values()), verdicts

    # The scan reached the views: many requests, hardly any stopped by a limit.
    log = srv.log()[log_before:]
    statuses = re.findall(r' ACCESS \S+ "[A-Z]+ [^"]*" (\d{3}) ', log)
    assert len(statuses) >= 500, len(statuses)
    n429 = statuses.count("429")
    assert n429 <= len(statuses) // 50, f"{n429} of {len(statuses)} requests answered 429"
    # ...and the account is intact.
    c = Client(srv)
    try:
        tok = c.login(target["user"], PASSWORD)
        r = c.get(f"/api/users/{target['uid']}", token=tok)
        assert r.status_code == 200 and r.json()["username"] == target["user"], r.text
    finally:
        c.close()
    # Payloads that are valid names ("8905") may register; nothing else got in.
    names = [r[0] for r in target["db"].all("SELECT username FROM users")]
    assert len(names) >= 23 and "sqlmapuser" in names, names
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_.-]{3,64}", n)]
    assert not bad, bad

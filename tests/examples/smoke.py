#!/usr/bin/python3
"""Smoke test of one program of examples/: what its comment promises, over real HTTP.

usage: smoke.py NAME BINARY      (run from the checkout: examples find their templates and
                                  migrations there, as they do for a user)

Starts BINARY on a free loopback port with one worker, its data in a temporary directory,
requests its routes and checks the answers, then stops it by PID with SIGTERM and checks
it exits 0 (in the sanitizer build that includes LeakSanitizer's verdict).
"""
import base64
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import requests

TIMEOUT = 10


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, what, detail=""):
    if not cond:
        detail = detail() if callable(detail) else detail
        raise AssertionError(f"{what}{': ' + str(detail) if detail else ''}")
    print("ok", what)


def expect(r, status, what):
    # r.text only on failure: decoding a binary body means guessing its charset (seconds)
    check(r.status_code == status, f"{what} -> {status}", lambda: f"got {r.status_code} {r.text[:300]}")
    return r


class Server:
    def __init__(self, binary, tmp, args=(), env=None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(os.path.join(tmp, "server.log"), "w+")
        self.proc = subprocess.Popen([binary, "--port", str(self.port), "--workers", "1",
                                      "--no-access-log", *args],
                                     env={**os.environ, **(env or {})},
                                     stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited at start with {self.proc.returncode}: {self.output()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("did not listen within 10 s")

    def output(self):
        self.log.seek(0)
        return self.log.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("did not stop within 10 s of SIGTERM")
        check(self.proc.returncode == 0, "clean exit on SIGTERM", f"{self.proc.returncode}: {self.output()}")


def secret():
    return {"SECRET_KEY": base64.b64encode(os.urandom(32)).decode()}


# ---------------------------------------------------------------- the examples

def json_api(binary, tmp):
    s = Server(binary, tmp)
    u = s.base
    r = expect(requests.post(f"{u}/books", json={"title": "Dune", "author": "Frank Herbert", "year": 1965},
                             timeout=TIMEOUT), 201, "POST /books")
    check(r.headers.get("Location") == "/books/1", "Location of the new book", r.headers.get("Location"))
    check(r.json() == {"id": 1, "title": "Dune", "author": "Frank Herbert", "year": 1965}, "the book", r.text)
    expect(requests.post(f"{u}/books", json={"title": "Emma", "author": "Jane Austen"}, timeout=TIMEOUT),
           201, "POST /books without a year")
    r = expect(requests.post(f"{u}/books", json={"title": "", "year": "soon", "isbn": 1}, timeout=TIMEOUT),
               400, "POST /books, invalid")
    fields = r.json().get("fields", {})
    check(set(fields) == {"title", "author", "year", "isbn"}, "every bad field named", r.text)
    expect(requests.post(f"{u}/books", data="{", timeout=TIMEOUT), 400, "POST /books, not JSON")
    r = expect(requests.get(f"{u}/books", timeout=TIMEOUT), 200, "GET /books")
    check([b["title"] for b in r.json()] == ["Dune", "Emma"] and r.json()[1]["year"] is None,
          "both books, no year as null", r.text)
    expect(requests.get(f"{u}/books/1", timeout=TIMEOUT), 200, "GET /books/1")
    expect(requests.delete(f"{u}/books/1", timeout=TIMEOUT), 204, "DELETE /books/1")
    r = expect(requests.get(f"{u}/books/1", timeout=TIMEOUT), 404, "GET /books/1 once deleted")
    check(r.json() == {"error": "not_found_404", "message": "no book with id 1"}, "the common error shape", r.text)
    expect(requests.get(f"{u}/books/x", timeout=TIMEOUT), 404, "GET /books/x (not an <int:>)")
    s.stop()


def notes(binary, tmp):
    s = Server(binary, tmp, env=secret())
    u = s.base
    b = requests.Session()
    r = expect(b.get(f"{u}/", timeout=TIMEOUT), 200, "GET /")
    check("Who are you?" in r.text, "the login form")
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)
    expect(b.post(f"{u}/login", data={"name": "Ann"}, timeout=TIMEOUT, allow_redirects=False), 403,
           "POST /login without the CSRF token")
    r = expect(b.post(f"{u}/login", data={"name": "", "csrf_token": token}, timeout=TIMEOUT), 400,
               "POST /login with an empty name")
    check("Tell me your name" in r.text, "the form's error shown")
    r = expect(b.post(f"{u}/login", data={"name": "Ann", "csrf_token": token}, timeout=TIMEOUT,
                      allow_redirects=False), 303, "POST /login")
    check(r.headers["Location"] == "/", "redirected home", r.headers["Location"])
    r = expect(b.get(f"{u}/", timeout=TIMEOUT), 200, "GET / logged in")
    check("Hello, Ann!" in r.text and "none yet" in r.text, "greeted, no notes", r.text)
    token = re.search(r'name="csrf_token" value="([^"]+)"', r.text).group(1)  # rotated with the session
    expect(b.post(f"{u}/notes", data={"note": "<b>milk</b>", "csrf_token": token}, timeout=TIMEOUT,
                  allow_redirects=False), 303, "POST /notes")
    r = b.get(f"{u}/", timeout=TIMEOUT)
    check("<li>&lt;b&gt;milk&lt;/b&gt;</li>" in r.text, "the note, escaped", r.text)
    r = expect(b.post(f"{u}/notes", data={"note": "x" * 101, "csrf_token": token}, timeout=TIMEOUT), 400,
               "POST /notes, too long")
    check('value="' + "x" * 101 + '"' in r.text, "the refused note offered again")
    for n in range(6):  # 100 characters, 400 bytes of UTF-8 each: the oldest goes, the cookie fits
        expect(b.post(f"{u}/notes", data={"note": str(n) + "😀" * 99, "csrf_token": token}, timeout=TIMEOUT,
                      allow_redirects=False), 303, f"POST /notes, a long one ({n})")
    r = b.get(f"{u}/", timeout=TIMEOUT)
    check(r.text.count("<li>") == 5 and "<li>5" in r.text and "milk" not in r.text,
          "the newest five notes kept, in the session", r.text)
    expect(requests.get(f"{u}/", timeout=TIMEOUT, cookies={"session": "forged"}), 200,
           "a forged session cookie reads as an empty session")
    expect(b.post(f"{u}/logout", data={"csrf_token": token}, timeout=TIMEOUT, allow_redirects=False), 303,
           "POST /logout")
    check("Who are you?" in b.get(f"{u}/", timeout=TIMEOUT).text, "logged out")
    s.stop()


def todo(binary, tmp):
    """On SQLite, then on PostgreSQL (a database of its own on the cluster of
    VIAL_TEST_PG_URL, which `make test` starts) so both migration folders are run."""
    todo_on(binary, tmp, f"sqlite:///{tmp}/todo.db")
    pg = os.environ.get("VIAL_TEST_PG_URL")
    if not pg:
        print("skip PostgreSQL: VIAL_TEST_PG_URL is not set (make test sets it)")
        return
    import urllib.parse
    import psycopg2
    name = "vial_example_todo_" + os.urandom(6).hex()
    admin = psycopg2.connect(pg, connect_timeout=5)
    admin.autocommit = True
    try:
        with admin.cursor() as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = urllib.parse.urlunsplit(urllib.parse.urlsplit(pg)._replace(path="/" + name))
        todo_on(binary, tmp, url)
    finally:
        with admin.cursor() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def todo_on(binary, tmp, database_url):
    print("on", database_url.split(":")[0])
    env = {"DATABASE_URL": database_url}
    out = subprocess.run([binary, "migrate"], env={**os.environ, **env}, capture_output=True, text=True,
                         timeout=TIMEOUT)
    check(out.returncode == 0 and "0001_todos" in out.stdout + out.stderr and
          "0002_todos_done" in out.stdout + out.stderr, "`todo migrate` applies both files",
          out.stdout + out.stderr)
    s = Server(binary, tmp, env=env)
    u = s.base
    r = expect(requests.post(f"{u}/todos", json={"title": "milk"}, timeout=TIMEOUT), 201, "POST /todos")
    t = r.json()
    check(t["id"] == 1 and t["title"] == "milk" and t["done"] is False and
          re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["created_at"]), "the new todo", r.text)
    expect(requests.post(f"{u}/todos", json={"title": "bread"}, timeout=TIMEOUT), 201, "POST /todos")
    r = expect(requests.post(f"{u}/todos", json={"title": " "}, timeout=TIMEOUT), 400, "POST /todos, blank")
    check("title" in r.json().get("fields", {}), "the field named", r.text)
    r = expect(requests.patch(f"{u}/todos/1", json={"done": True}, timeout=TIMEOUT), 200, "PATCH /todos/1")
    check(r.json()["done"] is True and r.json()["title"] == "milk", "done, title kept", r.text)
    r = expect(requests.get(f"{u}/todos?done=false", timeout=TIMEOUT), 200, "GET /todos?done=false")
    check([t["title"] for t in r.json()] == ["bread"], "only what is left to do", r.text)
    expect(requests.get(f"{u}/todos?done=maybe", timeout=TIMEOUT), 400, "GET /todos?done=maybe")
    expect(requests.get(f"{u}/todos/7", timeout=TIMEOUT), 404, "GET /todos/7")
    expect(requests.patch(f"{u}/todos/7", json={"done": True}, timeout=TIMEOUT), 404, "PATCH /todos/7")
    expect(requests.delete(f"{u}/todos/2", timeout=TIMEOUT), 204, "DELETE /todos/2")
    expect(requests.delete(f"{u}/todos/2", timeout=TIMEOUT), 404, "DELETE /todos/2 again")
    s.stop()
    s = Server(binary, tmp, env=env)  # the data outlives the process
    r = expect(requests.get(f"{s.base}/todos", timeout=TIMEOUT), 200, "GET /todos after a restart")
    check([t["title"] for t in r.json()] == ["milk"], "the todo kept", r.text)
    s.stop()


def jwt_auth(binary, tmp):
    # argon2id at its cheapest, as tests/api does: the same code, milliseconds per hash
    s = Server(binary, tmp, args=("--password-opslimit", "1", "--password-memlimit", "64K"), env=secret())
    u = s.base

    def login(name, password, status=200):
        return expect(requests.post(f"{u}/login", json={"username": name, "password": password},
                                    timeout=TIMEOUT), status, f"POST /login as {name}")

    r = login("ann", "correct horse")
    check(r.json()["token_type"] == "Bearer" and r.json()["expires_in"] == 3600, "a bearer token", r.text)
    ann = {"Authorization": "Bearer " + r.json()["access_token"]}
    bob = {"Authorization": "Bearer " + login("bob", "battery staple").json()["access_token"]}
    login("ann", "wrong", 401)
    login("nobody", "wrong", 401)
    r = expect(requests.get(f"{u}/me", headers=ann, timeout=TIMEOUT), 200, "GET /me with a token")
    check(r.json() == {"user": "ann", "role": "admin"}, "who ann is", r.text)
    r = expect(requests.get(f"{u}/me", timeout=TIMEOUT), 401, "GET /me without a token")
    check(r.headers.get("WWW-Authenticate", "").startswith("Bearer"), "WWW-Authenticate: Bearer")
    expect(requests.get(f"{u}/admin", headers=ann, timeout=TIMEOUT), 200, "GET /admin as an admin")
    expect(requests.get(f"{u}/admin", headers=bob, timeout=TIMEOUT), 403, "GET /admin as a user")
    tampered = {"Authorization": ann["Authorization"][:-2] + ("AA" if not ann["Authorization"].endswith("AA") else "BB")}
    expect(requests.get(f"{u}/me", headers=tampered, timeout=TIMEOUT), 401, "GET /me with a tampered token")
    s.stop()


def upload(binary, tmp):
    s = Server(binary, tmp, args=("--static-dir", f"{tmp}/files/in"))
    u = s.base
    r = expect(requests.get(f"{u}/", timeout=TIMEOUT), 200, "GET / (the form)")
    check('enctype=multipart/form-data' in r.text, "a multipart form")
    data = os.urandom(200000)
    r = expect(requests.post(f"{u}/upload", files={"file": ("photo.jpg", data, "image/jpeg")},
                             timeout=TIMEOUT), 201, "POST /upload")
    check(r.json() == {"filename": "photo.jpg", "size": len(data), "content_type": "image/jpeg",
                       "url": "/uploads/photo.jpg"}, "what was stored", r.text)
    check(open(f"{tmp}/files/in/photo.jpg", "rb").read() == data, "the file on disk")
    g = expect(requests.get(f"{u}/uploads/photo.jpg", timeout=TIMEOUT), 200, "GET /uploads/photo.jpg")
    check(g.content == data and g.headers["Content-Type"].startswith("image/jpeg"), "served back as sent")
    expect(requests.post(f"{u}/upload", files={"file": ("photo.jpg", b"x")}, timeout=TIMEOUT), 409,
           "POST /upload of an existing name")
    expect(requests.post(f"{u}/upload", files={"file": (".htaccess", b"x")}, timeout=TIMEOUT), 400,
           "POST /upload of a hidden file")
    expect(requests.post(f"{u}/upload", files={"other": ("a.txt", b"x")}, timeout=TIMEOUT), 400,
           "POST /upload without the field")
    expect(requests.get(f"{u}/uploads/..%2Fserver.log", timeout=TIMEOUT), 404, "no way out of the folder")
    s.stop()


def sse(binary, tmp):
    s = Server(binary, tmp)
    u = s.base
    check("EventSource" in expect(requests.get(f"{u}/app.js", timeout=TIMEOUT), 200, "GET /app.js").text,
          "the page's script")

    def events(stream, n):
        """The first n events of a stream, as dicts of their fields."""
        got, cur = [], {}
        for line in stream.iter_lines(chunk_size=1, decode_unicode=True):
            if line == "":
                if cur:
                    got.append(cur)
                    cur = {}
                if len(got) == n:
                    return got
            elif not line.startswith(":"):
                k, _, v = line.partition(": ")
                cur[k] = cur[k] + "\n" + v if k in cur else v
        return got

    with requests.get(f"{u}/events", stream=True, timeout=TIMEOUT) as live:
        check(live.status_code == 200 and live.headers["Content-Type"].startswith("text/event-stream"),
              "GET /events is an event stream", live.headers)
        for text in ("Hello, world", "two\nlines"):
            expect(requests.post(f"{u}/news", data=text.encode(), timeout=TIMEOUT), 201, "POST /news")
        got = events(live, 2)
        check(got == [{"event": "news", "id": "1", "data": "Hello, world"},
                      {"event": "news", "id": "2", "data": "two\nlines"}], "both arrive live", got)
    with requests.get(f"{u}/events", headers={"Last-Event-ID": "1"}, stream=True, timeout=TIMEOUT) as back:
        got = events(back, 1)
        check(got == [{"event": "news", "id": "2", "data": "two\nlines"}], "a reconnect gets what it missed", got)
    expect(requests.post(f"{u}/news", data=b"", timeout=TIMEOUT), 400, "POST /news, empty")
    s.stop()


def blueprint(binary, tmp):
    out = subprocess.run([binary, "routes"], capture_output=True, text=True, timeout=TIMEOUT)
    check(out.returncode == 0 and "api.get_item" in out.stdout and "api.admin.delete_item" in out.stdout,
          "`blueprint routes` lists the blueprints' endpoints", out.stdout + out.stderr)
    s = Server(binary, tmp)
    u = s.base
    check('href="/api/items"' in expect(requests.get(f"{u}/", timeout=TIMEOUT), 200, "GET /").text,
          "url_for into a blueprint")
    r = expect(requests.get(f"{u}/api/items", timeout=TIMEOUT), 200, "GET /api/items")
    check(r.json() == ["/api/items/1", "/api/items/2", "/api/items/3"], "the items' URLs", r.text)
    check(r.headers.get("X-API-Version") == "1", "the API's after-hook")
    r = expect(requests.get(f"{u}/api/items/9", timeout=TIMEOUT), 404, "GET /api/items/9")
    check(r.json() == {"status": 404, "detail": "no such item", "see": "/"}, "the API's error handler", r.text)
    r = expect(requests.get(f"{u}/nope", timeout=TIMEOUT), 404, "GET /nope")
    check(r.json()["error"] == "not_found_404", "outside /api, the built-in error shape", r.text)
    r = expect(requests.delete(f"{u}/api/admin/items/1", timeout=TIMEOUT), 403, "DELETE without the token")
    check(r.json()["detail"] == "admins only", "refused by the before-hook", r.text)
    expect(requests.delete(f"{u}/api/admin/items/1", headers={"X-Admin-Token": "let-me-in"}, timeout=TIMEOUT),
           204, "DELETE with the token")
    expect(requests.get(f"{u}/api/items/1", timeout=TIMEOUT), 404, "GET /api/items/1 once deleted")
    s.stop()


def main():
    name, binary = sys.argv[1], os.path.abspath(sys.argv[2])
    with tempfile.TemporaryDirectory(prefix=f"vial-example-{name}-") as tmp:
        try:
            globals()[name](binary, tmp)
        except (AssertionError, requests.RequestException) as e:
            print(f"FAIL {name}: {e}")
            log = os.path.join(tmp, "server.log")
            if os.path.exists(log):
                print("--- server output ---\n" + open(log).read()[-3000:])
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

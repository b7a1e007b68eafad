"""Helpers of the deployment suites (test_deploy.py, test_scale.py): real
processes on loopback ports, each started here and stopped by its PID.

Binaries come from $VIAL_BUILD_DIR (default <repo>/build).  PostgreSQL and
Redis are throwaway ones (scripts/pg.sh, scripts/redis.sh) in the test's
temporary directory, unless a test uses the cluster of VIAL_TEST_PG_URL.
"""
from __future__ import annotations

import http.client
import json
import os
import pathlib
import re
import signal
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD_DIR = pathlib.Path(os.environ.get("VIAL_BUILD_DIR") or (REPO / "build")).resolve()
SECRET = "deploy-tests-secret-0123456789abcdef0123456789"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")
_BARE_ENV = {"HOST", "PORT", "WORKERS", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LOG_LEVEL", "NOTIFY_SOCKET",
             "LISTEN_FDS", "LISTEN_PID", "WATCHDOG_USEC"}


def binary(name="vial-server") -> pathlib.Path:
    p = BUILD_DIR / name
    if not (p.is_file() and os.access(p, os.X_OK)):
        pytest.fail(f"{p} not found: build first (VIAL_BUILD_DIR={BUILD_DIR})", pytrace=False)
    return p


def clean_env(extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAL_") and k not in _BARE_ENV}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update({k: str(v) for k, v in extra.items()})
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except (ProcessLookupError, OSError):
        return False


def stop_pid(pid: int | None, sig=signal.SIGTERM, timeout=10.0) -> bool:
    """Signals a process this suite started and waits for it to go; SIGKILL
    after `timeout`.  True when it went by itself."""
    if not alive(pid):
        return True
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return True
    if wait_until(lambda: not alive(pid), timeout):
        return True
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_until(lambda: not alive(pid), 5)
    return False


class Resp:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<{self.status} {self.body[:300]!r}>"


def request(port, method, path, body=None, headers=None, timeout=10.0) -> Resp:
    h = dict(headers or {})
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
        h.setdefault("Content-Type", "application/json")
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=h)
        r = c.getresponse()
        return Resp(r.status, r.getheaders(), r.read())
    finally:
        c.close()


def sanitizer_report(text: str) -> str | None:
    for m in SANITIZER_MARKERS:
        i = text.find(m)
        if i >= 0:
            return text[max(0, i - 200):i + 3000]
    return None


class Server:
    """vial-server started here; followed through its pid file across
    reloads, stopped by PID.  `prefix` runs it under another program
    (strace, a seccomp launcher) that execs or traces it."""

    def __init__(self, tmp: pathlib.Path, name: str, args=(), env=None, port=None, prefix=(), cwd=None):
        self.tmp, self.name = tmp, name
        self.port = port or free_port()
        self.pid_file = tmp / f"{name}.pid"
        self.log_path = tmp / f"{name}.log"
        self.pid_file.unlink(missing_ok=True)
        argv = [*map(str, prefix), str(binary()), "run", "--port", str(self.port), "--pid-file", str(self.pid_file),
                "--migrations-root", str(REPO), "--dashboard-templates", str(REPO / "apps/dashboard/templates"),
                "--static-dir", str(REPO / "static"), *map(str, args)]
        self.argv = argv
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=self._log, cwd=str(cwd or tmp),
                                     env=clean_env({"SECRET_KEY": SECRET, **(env or {})}), start_new_session=True)

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def answers(self) -> bool:
        try:
            return request(self.port, "GET", "/healthz", timeout=2).status == 200
        except OSError:
            return False

    def wait_ready(self, timeout=30.0):
        ok = wait_until(lambda: self.proc.poll() is None and self.pid() and self.answers(), timeout)
        assert ok, f"{self.name} not serving within {timeout}s:\n{self.log()[-3000:]}"
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get(self, path, **kw) -> Resp:
        return request(self.port, "GET", path, **kw)

    def post(self, path, body=None, **kw) -> Resp:
        return request(self.port, "POST", path, body, **kw)

    def reload(self, timeout=30.0) -> int:
        """SIGHUP; waits until a new process serves and the old one has gone."""
        before = self.pid()
        os.kill(before, signal.SIGHUP)
        ok = wait_until(lambda: self.pid() not in (None, before) and not alive(before), timeout)
        assert ok, f"{self.name}: pid {before} did not hand over within {timeout}s:\n{self.log()[-3000:]}"
        return self.pid()

    def kill9(self):
        pid = self.pid()
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not alive(pid), 5)
        self.proc.poll()

    def stop(self, timeout=15.0) -> bool:
        # The server first: a wrapper (strace) exits by itself after it.
        ok = stop_pid(self.pid(), timeout=timeout)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            ok &= stop_pid(self.proc.pid, timeout=5)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self._log.close()
        return ok


def listening_port(log_text: str) -> int | None:
    m = re.search(r"listening on http://127\.0\.0\.1:(\d+) ", log_text)
    return int(m.group(1)) if m else None


class Pg:
    """A throwaway PostgreSQL cluster (scripts/pg.sh) in DIR."""

    def __init__(self, dir: pathlib.Path):
        self.dir = dir
        p = subprocess.run([str(REPO / "scripts/pg.sh"), "start", str(dir)], capture_output=True, text=True, timeout=120)
        if p.returncode:
            pytest.fail(f"cannot start PostgreSQL: {p.stderr[-2000:]}", pytrace=False)
        self.url = p.stdout.strip().splitlines()[-1]

    def stop(self):
        subprocess.run([str(REPO / "scripts/pg.sh"), "stop", str(self.dir)], capture_output=True, timeout=60)

    def start(self):
        p = subprocess.run([str(REPO / "scripts/pg.sh"), "start", str(self.dir)], capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p.stderr

    def destroy(self):
        subprocess.run([str(REPO / "scripts/pg.sh"), "destroy", str(self.dir)], capture_output=True, timeout=60)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.dir / "data/postmaster.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def query(self, sql):
        import psycopg2
        c = psycopg2.connect(self.url, connect_timeout=5)
        try:
            c.autocommit = True
            with c.cursor() as cur:
                cur.execute(sql)
                return cur.fetchall() if cur.description else None
        finally:
            c.close()


class Redis:
    """A throwaway Redis (scripts/redis.sh) in DIR, restarted on the same port."""

    def __init__(self, dir: pathlib.Path):
        self.dir = dir
        p = subprocess.run([str(REPO / "scripts/redis.sh"), "start", str(dir)], capture_output=True, text=True,
                           timeout=30)
        if p.returncode:
            pytest.fail(f"cannot start Redis: {p.stderr[-2000:]}", pytrace=False)
        self.url = p.stdout.strip().splitlines()[-1]
        self.port = int((dir / "port").read_text())

    def stop(self):
        subprocess.run([str(REPO / "scripts/redis.sh"), "stop", str(self.dir)], capture_output=True, timeout=30)

    def start(self):
        p = subprocess.run([str(REPO / "scripts/redis.sh"), "start", str(self.dir), str(self.port)],
                           capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, p.stderr


def nginx_conf(prefix: pathlib.Path, upstream: pathlib.Path, site: pathlib.Path, access_log="off") -> pathlib.Path:
    """A whole nginx.conf around the deploy files (in the http context),
    everything nginx writes under prefix; `daemon off`, so the pid of the
    started nginx is the master's."""
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    conf.write_text(f"""
worker_processes 2;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/logs/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {access_log};
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {upstream};
    include {site};
}}
""")
    return conf

"""Operations (issue 13): probes, JSON logs and log files, zero-downtime
reload, socket activation, systemd notices, and the supervisor's crash
isolation.

A reload hands the server to a new process, so these tests follow the
server by its pid file and stop what they started by PID at the end.
"""
from __future__ import annotations

import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import threading
import time

import pytest

from conftest import REPO, binary, clean_env, free_port, sanitized_build, sanitizer_report

SECRET = "ops-tests-secret-0123456789abcdef0123456789"


# ---------------------------------------------------------------------------- helpers


def wait_until(fn, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def read_pid(path: pathlib.Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def stop_pid(pid: int, timeout=10.0):
    """SIGTERM to a process this test started (or that took over from one), waits for it."""
    if pid and alive(pid):
        os.kill(pid, signal.SIGTERM)
        if not wait_until(lambda: not alive(pid), timeout):
            os.kill(pid, signal.SIGKILL)
            raise AssertionError(f"pid {pid} did not stop within {timeout}s of SIGTERM")


def get(port, path, timeout=5.0, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        c.close()


class Load:
    """Client threads sending requests until stopped: half of them on
    keep-alive connections, half on a new connection per request.  Every
    failure (no full response, or a status not in `ok`) is recorded."""

    def __init__(self, port, path="/textf", threads=4, ok=(200,)):
        self.port, self.path, self.ok = port, path, ok
        self.done = 0
        self.failures: list[str] = []
        self.lock = threading.Lock()
        self.running = True
        self.threads = [threading.Thread(target=self._run, args=(i % 2 == 0,), daemon=True)
                        for i in range(threads)]

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.running = False
        for t in self.threads:
            t.join(15)

    def _run(self, keep_alive):
        conn = None
        while self.running:
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                conn.request("GET", self.path)
                r = conn.getresponse()
                r.read()
                with self.lock:
                    if r.status in self.ok:
                        self.done += 1
                    else:
                        self.failures.append(f"status {r.status}")
                if not keep_alive or r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                with self.lock:
                    self.failures.append(repr(e))
                if conn:
                    conn.close()
                conn = None
                time.sleep(0.01)
        if conn:
            conn.close()

    def count(self):
        with self.lock:
            return self.done


class Daemon:
    """A server process started here that may hand itself over (reload):
    followed through its pid file, stopped by PID at the end."""

    def __init__(self, tmp_path, name="vial-testapp", args=(), env=None, port=None, cwd=None):
        self.tmp = tmp_path
        self.port = port or free_port()
        self.pid_file = tmp_path / f"{name}.pid"
        self.log_path = tmp_path / f"{name}-{time.monotonic_ns()}.log"
        argv = [str(binary(name)), "run", "--port", str(self.port), "--pid-file", str(self.pid_file), *map(str, args)]
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=self._log, cwd=str(cwd or tmp_path),
                                     env=clean_env(env), start_new_session=True)
        self.first_pid = self.proc.pid

    def wait_ready(self, timeout=15.0):
        ok = wait_until(lambda: self.proc.poll() is None and read_pid(self.pid_file) is not None and self._answers(),
                        timeout)
        assert ok, f"not serving within {timeout}s:\n{self.log()[-3000:]}"
        return self

    def _answers(self):
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
            return True
        except OSError:
            return False

    def pid(self):
        return read_pid(self.pid_file)

    def log(self):
        return self.log_path.read_text(errors="replace")

    def wait_log(self, pattern, timeout=10.0):
        rx = re.compile(pattern, re.M)
        return wait_until(lambda: rx.search(self.log()), timeout)

    def close(self):
        pids = {p for p in (self.pid(), self.proc.pid) if p}
        for p in pids:
            stop_pid(p)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()
        rep = sanitizer_report(self.log())
        assert rep is None, f"sanitizer report:\n{rep}"


@pytest.fixture
def daemons(tmp_path):
    made = []

    def make(*args, **kw):
        d = Daemon(tmp_path, args=args, **kw)
        made.append(d)
        return d

    yield make
    for d in made:
        d.close()


def vial_server_args(tmp_path):
    return ["--workers", "2", "--database-url", f"sqlite:///{tmp_path}/ops.db", "--migrations-root", str(REPO)]


class Redis:
    """A throwaway redis-server on a loopback port, stopped and started again on the same port."""

    def __init__(self, tmp_path):
        if not shutil.which("redis-server"):
            pytest.skip("redis-server not installed (scripts/deps.sh test installs it)")
        self.dir = tmp_path / "redis"
        self.dir.mkdir(exist_ok=True)
        self.port = free_port()
        self.proc = None
        self.start()

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen(["redis-server", "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", str(self.dir)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ok = wait_until(lambda: self._ping(), 10)
        assert ok, "redis-server did not start"

    def _ping(self):
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path)
    yield r
    r.stop()


# ---------------------------------------------------------------------------- probes


def test_healthz_and_readyz_with_the_database(start_server, tmp_path):
    srv = start_server(*vial_server_args(tmp_path), name="vial-server", env={"SECRET_KEY": SECRET})
    r = srv.get("/healthz")
    assert r.status == 200 and r.json() == {"status": "ok"}
    assert r.header("cache-control") == "no-store"
    r = srv.get("/readyz")
    assert r.status == 200, r
    assert r.json() == {"status": "ready", "checks": {"database": "ok"}}  # no Redis configured: no check
    assert r.header("cache-control") == "no-store"
    # HEAD works like GET for probes that use it
    assert srv.request("HEAD", "/readyz").status == 200


def test_probe_paths_are_settings_and_can_be_turned_off(start_server):
    srv = start_server("--healthz-path", "/live", "--readyz-path", "/ready")
    assert srv.get("/live").json() == {"status": "ok"}
    assert srv.get("/ready").json() == {"status": "ready", "checks": {}}
    assert srv.get("/healthz").status == 404
    srv = start_server("--health-checks=off")
    assert srv.get("/healthz").status == 404 and srv.get("/readyz").status == 404


def test_readyz_follows_redis_down_and_back(start_server, tmp_path, redis):
    srv = start_server(*vial_server_args(tmp_path), name="vial-server",
                       env={"SECRET_KEY": SECRET, "REDIS_URL": redis.url})
    r = srv.get("/readyz")
    assert r.status == 200 and r.json()["checks"] == {"database": "ok", "redis": "ok"}, r
    redis.stop()
    t0 = time.monotonic()
    r = srv.get("/readyz")
    assert time.monotonic() - t0 < 3, "a probe must not hang on a dead Redis"
    assert r.status == 503, r
    body = r.json()
    assert body["error"] and body["message"].startswith("not ready: redis")
    assert body["status"] == "unavailable" and body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] != "ok"
    assert r.header("retry-after") == "1"
    assert srv.get("/healthz").status == 200, "liveness does not depend on Redis"
    redis.start()
    assert wait_until(lambda: srv.get("/readyz").status == 200, 10), "readiness must come back by itself"


def _cookies(r) -> dict:
    out = {}
    for v in r.header_all("set-cookie"):
        k, _, rest = v.partition("=")
        out[k.strip()] = rest.split(";", 1)[0]
    return out


def _form_post(srv, path, fields: dict, jar: dict):
    import urllib.parse
    return srv.request("POST", path, headers={"Content-Type": "application/x-www-form-urlencoded",
                                             "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())},
                       body=urllib.parse.urlencode(fields).encode())


def test_pages_answer_503_while_the_session_store_is_down(start_server, tmp_path, redis):
    """session_store = server keeps sessions in Redis.  While it is down a
    logged-in user must not be sent to the login page as if logged out, a
    form must not be handed out with a CSRF token that was never stored, and
    a form post must not be refused as a forgery: all are 503."""
    srv = start_server(*vial_server_args(tmp_path), "--session-store", "server", name="vial-server",
                       env={"SECRET_KEY": SECRET, "REDIS_URL": redis.url})
    r = srv.request("POST", "/api/register", headers={"Content-Type": "application/json"},
                    body=json.dumps({"username": "sessuser", "password": "a long session password"}).encode())
    assert r.status == 201, r
    page = srv.get("/login")
    jar = _cookies(page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    r = _form_post(srv, "/login", {"csrf_token": token, "username": "sessuser", "password": "a long session password"},
                   jar)
    assert r.status == 303, r
    jar.update(_cookies(r))
    cookie = {"Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    me = srv.get("/me", headers=cookie)
    assert me.status == 200 and "sessuser" in me.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', me.text).group(1)
    redis.stop()
    r = srv.get("/me", headers=cookie)
    assert r.status == 503 and r.header("retry-after") == "1", r
    r = srv.get("/login")  # a new visitor: the session with its token cannot be stored
    assert r.status == 503, r
    r = _form_post(srv, "/logout", {"csrf_token": token}, jar)
    assert r.status == 503, r
    redis.start()
    # this Redis keeps nothing on disk: the session is gone, and a new login works again
    assert wait_until(lambda: srv.get("/login").status == 200, 10)
    r = srv.get("/me", headers=cookie)
    assert r.status == 303, r


def test_readyz_says_draining_during_drain_delay(start_server):
    srv = start_server("--workers", "1", "--drain-delay", "1500ms", expect_rc=None)
    assert srv.get("/readyz").status == 200
    srv.kill_with(signal.SIGTERM)
    assert srv.wait_log(r"drain_delay", 3)
    r = srv.get("/readyz")
    assert r.status == 503 and r.json()["status"] == "draining", r
    assert srv.get("/textf").status == 200, "serving goes on during the delay"
    assert srv.wait(10) == 0


# ---------------------------------------------------------------------------- logs


def test_json_log_lines_to_a_file_reopened_on_sigusr1(start_server, tmp_path):
    logf = tmp_path / "app.log"
    port = free_port()  # the listening line goes to the file, not to the stderr the fixture reads
    srv = start_server("--workers", "2", "--log-format", "json", "--log-file", logf, "--port", port, port=port)
    ids = []
    for i in range(5):
        r = srv.get(f"/textf?n={i}")
        ids.append(r.header("x-request-id"))
    r = srv.get("/log?m=hello%22there")
    assert r.status in (200, 204), r
    ids.append(r.header("x-request-id"))
    rotated = tmp_path / "app.log.1"
    # access lines are written once per loop turn: wait for each one
    assert wait_until(lambda: all(f'"status":200,' in l and i in l for i in ids for l in
                                  [next((x for x in logf.read_text().splitlines()
                                         if '"type":"access"' in x and i in x), "")]), 5)
    logf.rename(rotated)
    srv.kill_with(signal.SIGUSR1)
    assert wait_until(lambda: logf.exists() and "reopened" in logf.read_text(), 5), "SIGUSR1 must reopen log_file"
    after = srv.get("/textf?after=1").header("x-request-id")
    assert wait_until(lambda: after in logf.read_text(), 5)
    old, new = rotated.read_text(), logf.read_text()
    assert after not in old
    for text in (old, new):
        for line in text.splitlines():
            obj = json.loads(line)  # every line, diagnostics included, is one JSON object
            assert obj["time"].endswith("Z") and obj["level"] in ("debug", "info", "warn", "error")
    access = [json.loads(l) for l in old.splitlines() if '"type":"access"' in l]
    assert {a["request_id"] for a in access} >= set(ids)
    a = next(a for a in access if a["request_id"] == ids[0])
    assert a["method"] == "GET" and a["target"] == "/textf?n=0" and a["status"] == 200
    assert isinstance(a["bytes"], int) and isinstance(a["duration_us"], int) and a["client"] == "127.0.0.1"
    diag = [json.loads(l) for l in old.splitlines() if '"msg"' in l and "hello" in l]
    assert diag and diag[0]["request_id"] == ids[-1], "a request's diagnostic line carries its id"
    assert srv.log() == "" or "ACCESS" not in srv.log(), "with log_file nothing goes to the old stderr"


def test_bad_log_settings_are_start_errors(tmp_path):
    p = subprocess.run([str(binary("vial-testapp")), "run", "--port", "0", "--log-format", "xml"],
                       capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=20)
    assert p.returncode == 2 and "log_format" in p.stderr
    p = subprocess.run([str(binary("vial-testapp")), "run", "--port", "0", "--log-file", "/nonexistent/dir/x.log"],
                       capture_output=True, text=True, env=clean_env(), cwd=tmp_path, timeout=20)
    assert p.returncode == 2 and "log_file" in p.stderr


# ---------------------------------------------------------------------------- reload


def reload_and_wait(d: Daemon, timeout=20):
    before = d.pid()
    os.kill(before, signal.SIGHUP)
    ok = wait_until(lambda: d.pid() not in (None, before) and not alive(before), timeout)
    assert ok, f"pid {before} did not hand over within {timeout}s:\n{d.log()[-3000:]}"
    return d.pid()


def test_reload_under_load_loses_no_request(daemons):
    d = daemons("--workers", "2").wait_ready()
    pids = [d.pid()]
    with Load(d.port, threads=6) as load:
        wait_until(lambda: load.count() > 200, 10)
        for _ in range(3):
            pids.append(reload_and_wait(d))
            n = load.count()
            assert wait_until(lambda: load.count() > n + 100, 10), "no progress after a reload"
    assert load.failures == [], load.failures[:10]
    assert load.count() > 500
    assert len(set(pids)) == 4
    assert d.log().count("sockets handed over") == 3
    assert re.search(r"reload: pid \d+ serves; pid \d+ finishes its requests", d.log())


def test_reload_finishes_in_flight_requests(daemons):
    d = daemons("--workers", "1").wait_ready()
    out = {}

    def slow():
        out["r"] = get(d.port, "/slow?ms=1500", timeout=10)

    t = threading.Thread(target=slow)
    t.start()
    assert d.wait_log(r"slow: sleeping 1500 ms", 5)
    reload_and_wait(d)
    t.join(10)
    status, headers, body = out["r"]
    assert status == 200 and body == b"slept 1500 ms"
    assert get(d.port, "/textf")[0] == 200


def test_reload_closes_websockets_with_1001_and_new_ones_reach_the_new_generation(daemons):
    import asyncio
    import websockets
    d = daemons("--workers", "2").wait_ready()
    u = f"ws://127.0.0.1:{d.port}/ws/echo"

    async def go():
        old = [await websockets.connect(u, ping_interval=None) for _ in range(3)]
        for c in old:
            await c.send("before")
            assert await c.recv() == "before"
        before = d.pid()
        os.kill(before, signal.SIGHUP)
        for c in old:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(c.recv(), 15)
            assert c.close_code == 1001, c.close_code
        assert await asyncio.get_running_loop().run_in_executor(
            None, lambda: wait_until(lambda: d.pid() not in (None, before) and not alive(before), 15))
        async with websockets.connect(u, ping_interval=None) as c:
            await c.send("after")
            assert await c.recv() == "after"
    asyncio.run(asyncio.wait_for(go(), 40))


def test_reload_reads_the_configuration_again(daemons, tmp_path):
    ini = tmp_path / "vial.ini"
    ini.write_text("[testapp]\ngreeting = one\n")
    d = daemons("--workers", "1").wait_ready()
    assert json.loads(get(d.port, "/config?key=testapp.greeting")[2]) == {"testapp.greeting": "one"}
    ini.write_text("[testapp]\ngreeting = two\n")
    reload_and_wait(d)
    assert json.loads(get(d.port, "/config?key=testapp.greeting")[2]) == {"testapp.greeting": "two"}


def test_failed_reload_leaves_the_old_generation_serving(daemons, tmp_path):
    ini = tmp_path / "vial.ini"
    ini.write_text("max_body = 1M\n")
    d = daemons("--workers", "1").wait_ready()
    pid = d.pid()
    ini.write_text("max_body = a lot\n")  # the new generation refuses to start
    os.kill(pid, signal.SIGHUP)
    assert d.wait_log(r"reload failed: the new generation exited with status 2", 15), d.log()[-2000:]
    assert d.pid() == pid and alive(pid)
    assert get(d.port, "/textf")[0] == 200
    ini.write_text("max_body = 2M\n")
    reload_and_wait(d)  # and a good one afterwards still works
    assert get(d.port, "/textf")[0] == 200


# ---------------------------------------------------------------------------- systemd


class NotifySocket:
    """What sd_notify() sends, collected from a datagram socket like systemd's."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.msgs: list[str] = []
        self.running = True
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while self.running:
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
            except OSError:
                return

    def has(self, text):
        return any(text in m for m in list(self.msgs))

    def close(self):
        self.running = False
        self.t.join(2)
        self.sock.close()


def test_sd_notify_ready_reload_watchdog_stopping(daemons, tmp_path):
    ns = NotifySocket(tmp_path / "notify.sock")
    try:
        d = daemons("--workers", "1", env={"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "300000"}).wait_ready()
        first = d.pid()
        assert wait_until(lambda: ns.has("READY=1"), 5), ns.msgs
        assert any(f"MAINPID={first}" in m for m in ns.msgs), ns.msgs
        assert wait_until(lambda: sum("WATCHDOG=1" in m for m in ns.msgs) >= 3, 5), ns.msgs
        second = reload_and_wait(d)
        assert ns.has("RELOADING=1")
        assert any(f"MAINPID={second}" in m and "READY=1" in m for m in ns.msgs), ns.msgs
        n = sum("WATCHDOG=1" in m for m in ns.msgs)
        assert wait_until(lambda: sum("WATCHDOG=1" in m for m in ns.msgs) >= n + 2, 5), \
            "the new generation keeps the watchdog fed"
        stop_pid(second)
        assert wait_until(lambda: ns.has("STOPPING=1"), 5), ns.msgs
    finally:
        ns.close()


def test_socket_activation(tmp_path):
    tool = shutil.which("systemd-socket-activate")
    if not tool:
        pytest.skip("systemd-socket-activate not installed (package systemd)")
    port = free_port()
    log = tmp_path / "act.log"
    with open(log, "wb") as f:
        p = subprocess.Popen([tool, "-l", f"127.0.0.1:{port}", str(binary("vial-testapp")), "run", "--workers", "2"],
                             stdout=f, stderr=f, env=clean_env(), cwd=tmp_path, start_new_session=True)
    try:
        # systemd-socket-activate listens itself and starts the server on the first connection
        assert wait_until(lambda: b"sockets handed over" in log.read_bytes() or _try_get(port), 10)
        status, _, body = get(port, "/textf")
        assert status == 200
        assert wait_until(lambda: b"sockets handed over" in log.read_bytes(), 5), log.read_text()
        for _ in range(20):
            assert get(port, "/textf")[0] == 200
    finally:
        stop_pid(p.pid)
        p.wait(10)
    assert sanitizer_report(log.read_text(errors="replace")) is None


def _try_get(port):
    try:
        return get(port, "/textf", timeout=2)[0] == 200
    except OSError:
        return False


# ---------------------------------------------------------------------------- the supervisor

# Under AddressSanitizer the sanitizer owns SIGSEGV and SIGABRT (and reports
# the crash itself): the crash report tests run on the plain build.
needs_own_crash_handler = pytest.mark.skipif(sanitized_build(), reason="the sanitizer handles fatal signals")


@needs_own_crash_handler
def test_supervisor_replaces_a_crashed_process_and_names_the_request(daemons, redis):
    d = daemons("--processes", "3", "--workers", "1", "--testapp.crashes=on", env={"REDIS_URL": redis.url}).wait_ready()
    sup = d.pid()
    assert sup == d.first_pid, "the pid file holds the supervisor's pid"
    assert wait_until(lambda: len(children(sup)) == 3, 10), children(sup)
    before = set(children(sup))
    with Load(d.port, threads=4) as load:
        wait_until(lambda: load.count() > 100, 10)
        # the crashing request gets no response: its process dies under it
        with pytest.raises((OSError, http.client.HTTPException)):
            get(d.port, "/die?how=segv", timeout=5)
        m = d.wait_log(r"process (\d+) \(slot \d\) died of signal 11 \(Segmentation fault\) while serving request "
                       r"(\S+) \"GET /die\?how=segv\"", 10)
        assert m, d.log()[-3000:]
        assert re.search(r"FATAL: signal 11 \(SEGV\) in worker 0 while serving request " + re.escape(m.group(2)),
                         d.log()), "the process itself logs the request before it dies"
        assert int(m.group(1)) in before
        assert wait_until(lambda: len(children(sup)) == 3 and set(children(sup)) != before, 10)
        n = load.count()
        assert wait_until(lambda: load.count() > n + 100, 10), "the others keep serving"
        with pytest.raises((OSError, http.client.HTTPException)):
            get(d.port, "/die?how=abort", timeout=5)
        assert d.wait_log(r"died of signal 6 \(Aborted\) while serving request \S+ \"GET /die\?how=abort\"", 10)
        assert wait_until(lambda: len(children(sup)) == 3, 10)
    # A crash costs the requests on the dying process's connection, nothing else.
    assert len(load.failures) <= 8, load.failures
    assert load.count() > 300


@needs_own_crash_handler
def test_supervisor_aborts_a_hung_worker(daemons, redis):
    d = daemons("--processes", "2", "--workers", "1", "--hang-timeout", "1s", env={"REDIS_URL": redis.url}).wait_ready()
    sup = d.pid()
    assert wait_until(lambda: len(children(sup)) == 2, 10)
    out = {}

    def stuck():
        try:
            out["r"] = get(d.port, "/slow?ms=20000", timeout=15)
        except (OSError, http.client.HTTPException) as e:
            out["e"] = e

    t = threading.Thread(target=stuck)
    t.start()
    m = d.wait_log(r"worker 0 has not turned its loop for 1000 ms; in progress: request (\S+) \"GET /slow\?ms=20000\"", 10)
    assert m, d.log()[-3000:]
    assert d.wait_log(r"died of signal 6 \(Aborted\) while serving request " + re.escape(m.group(1)), 10)
    t.join(15)
    assert "e" in out, "the stuck request dies with its process"
    assert wait_until(lambda: len(children(sup)) == 2, 10)
    assert get(d.port, "/textf")[0] == 200


def test_supervisor_reload_replaces_every_process_without_losing_requests(daemons, redis):
    d = daemons("--processes", "2", "--workers", "1", env={"REDIS_URL": redis.url}).wait_ready()
    sup = d.pid()
    assert wait_until(lambda: len(children(sup)) == 2, 10)
    first = set(children(sup))
    with Load(d.port, threads=6) as load:
        wait_until(lambda: load.count() > 200, 10)
        os.kill(sup, signal.SIGHUP)
        assert d.wait_log(r"reload: the new generation serves", 20), d.log()[-3000:]
        assert wait_until(lambda: len(children(sup)) == 2 and not (set(children(sup)) & first), 15)
        n = load.count()
        assert wait_until(lambda: load.count() > n + 200, 10)
    assert load.failures == [], load.failures[:10]
    assert d.pid() == sup, "the supervisor stays; its processes change"


def test_supervisor_stops_when_the_first_generation_cannot_start(tmp_path):
    p = subprocess.run([str(binary("vial-server")), "run", "--port", "0", "--processes", "2",
                        "--database-url", "sqlite:////proc/no/such/dir/x.db"],
                       capture_output=True, text=True, env=clean_env({"SECRET_KEY": SECRET, "REDIS_URL": "redis://127.0.0.1:1/0"}),
                       cwd=tmp_path, timeout=30)
    assert p.returncode == 1, p.stderr[-2000:]
    assert "before it listened: stopping" in p.stderr


def test_more_than_one_process_needs_redis(tmp_path):
    p = subprocess.run([str(binary("vial-server")), "run", "--port", "0", "--processes", "2",
                        *vial_server_args(tmp_path)],
                       capture_output=True, text=True, env=clean_env({"SECRET_KEY": SECRET}), cwd=tmp_path, timeout=30)
    assert p.returncode == 1 and "needs redis_url" in p.stderr, p.stderr


# ---------------------------------------------------------------------------- the admin port


def test_metrics_port_serves_metrics_and_probes_only(daemons):
    mp = free_port()
    d = daemons("--workers", "2", "--metrics-port", mp).wait_ready()
    assert get(d.port, "/textf")[0] == 200
    assert get(d.port, "/metrics")[0] == 404, "with metrics_port, metrics leave the main port"
    assert get(d.port, "/readyz")[0] == 200, "probes stay on the main port too"
    status, headers, body = get(mp, "/metrics")
    assert status == 200 and headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert 'http_requests_total{method="GET",route="/textf",code="200"} 1' in body.decode()
    assert get(mp, "/healthz")[0] == 200 and get(mp, "/readyz")[0] == 200
    assert get(mp, "/textf")[0] == 404, "the app's routes are not served on the admin port"
    # requests on the admin port are not the app's traffic: only the main
    # port's 404 for /metrics is counted
    _, _, again = get(mp, "/metrics")
    assert 'http_requests_total{method="GET",route="(unmatched)",code="404"} 1\n' in again.decode()
    # a reload's generations overlap on the admin port
    reload_and_wait(d)
    assert get(mp, "/metrics")[0] == 200


def test_metrics_port_per_supervised_process(daemons, redis):
    mp = free_port()
    while any(not _port_free(mp + i) for i in range(2)):
        mp = free_port()
    d = daemons("--processes", "2", "--workers", "1", "--metrics-port", mp,
                env={"REDIS_URL": redis.url}).wait_ready()
    for i in range(2):
        assert wait_until(lambda: _try_status(mp + i, "/metrics") == 200, 10), f"process {i}: {d.log()[-2000:]}"


def _port_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _try_status(port, path):
    try:
        return get(port, path, timeout=2)[0]
    except OSError:
        return None

"""The server as a process: timeouts, slow clients, graceful shutdown,
configuration precedence, the command line, the access log, concurrency."""
import re
import signal
import socket
import threading
import time

import pytest

from conftest import REPO, assert_error, free_port, run_cli


# ---------------------------------------------------------------------------- timeouts


def test_stalled_headers_dropped_with_408_while_others_are_served(start_server):
    srv = start_server("--workers", "1", "--header-timeout", "1s")
    with srv.conn() as slow:
        t0 = time.monotonic()
        slow.send(b"GET /textf HTTP/1.1\r\nHost: t\r\nX-Half: ")
        # Meanwhile, on the same (only) worker, other clients are served at once.
        for i in range(5):
            t = time.monotonic()
            with srv.conn(timeout=2) as c:
                assert c.get(f"/echo?i={i}").status == 200
            assert time.monotonic() - t < 0.5
        r = slow.read_response()
        elapsed = time.monotonic() - t0
        assert_error(r, 408, "request_timeout_408")
        assert r.header("connection") == "close"
        assert slow.closed_within(3)
    assert 0.9 <= elapsed <= 3.0, elapsed


def test_header_timeout_is_not_extended_by_trickling(start_server):
    srv = start_server("--workers", "1", "--header-timeout", "1s")
    with srv.conn() as c:
        t0 = time.monotonic()
        c.send(b"GET /textf HTTP/1.1\r\n")
        got = None
        for i in range(40):  # one header byte every 100 ms, for up to 4 s
            try:
                c.send(b"X" if i % 2 else b"Y")
            except (BrokenPipeError, ConnectionResetError):
                break
            c.sock.settimeout(0.1)
            try:
                data = c.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                break
            got = data
            break
        elapsed = time.monotonic() - t0
    assert got is not None and got.startswith(b"HTTP/1.1 408 "), got
    assert elapsed < 2.5, elapsed


def test_stalled_body_dropped_with_408(start_server):
    srv = start_server("--workers", "1", "--body-timeout", "1s")
    with srv.conn() as c:
        t0 = time.monotonic()
        c.send(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc")
        r = c.read_response()
        elapsed = time.monotonic() - t0
        assert_error(r, 408, "request_timeout_408")
        assert c.closed_within(3)
    assert 0.9 <= elapsed <= 3.0, elapsed


def test_idle_keep_alive_connection_closed(start_server):
    srv = start_server("--workers", "1", "--idle-timeout", "1s")
    with srv.conn() as c:
        assert c.get("/textf").status == 200
        t0 = time.monotonic()
        assert c.closed_within(4), "idle connection was not closed"
        elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed <= 3.0, elapsed
    # A connection that never sends anything is closed as well.
    with srv.conn() as c:
        assert c.closed_within(4)
    # The server is still fine.
    assert srv.get("/textf").status == 200


def test_busy_connection_not_closed_by_idle_timeout(start_server):
    srv = start_server("--workers", "1", "--idle-timeout", "1s")
    with srv.conn() as c:
        for _ in range(8):  # 2 s of activity, 250 ms apart
            assert c.get("/textf").status == 200
            time.sleep(0.25)


def test_client_that_stops_reading_is_dropped_after_write_timeout(start_server):
    srv = start_server("--workers", "1", "--write-timeout", "1s")
    n = 48 * 1024 * 1024
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect(("127.0.0.1", srv.port))
    try:
        s.sendall(f"GET /big?n={n} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
        # Meanwhile the worker keeps serving others.
        time.sleep(0.3)
        assert srv.get("/textf", timeout=2).status == 200
        time.sleep(2.7)  # stall well past the write timeout
        total, head = 0, b""
        while True:
            try:
                b = s.recv(1 << 20)
            except ConnectionResetError:
                break
            if not b:
                break
            head = head or b[:12]
            total += len(b)
    finally:
        s.close()
    assert head == b"HTTP/1.1 200", head
    assert total < n, "the stalled connection should have been dropped"


# ---------------------------------------------------------------------------- shutdown


def _slow_request(srv, ms, out, expect_close=True):
    try:
        with srv.conn(timeout=10) as c:
            c.send(f"GET /slow?ms={ms} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
            out["response"] = c.read_response()
            if expect_close:
                out["closed"] = c.closed_within(3)
    except Exception as e:  # reported by the test
        out["error"] = e


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


def _graceful_shutdown(start_server, workers, sig):
    srv = start_server("--workers", str(workers), expect_rc=None)
    out = {}
    t = threading.Thread(target=_slow_request, args=(srv, 1500, out))
    t.start()
    assert srv.wait_log(r"slow: sleeping 1500 ms", timeout=5), "the slow request never reached its handler"
    srv.kill_with(sig)
    t.join(10)
    rc = srv.wait(8)
    assert "error" not in out, out.get("error")
    r = out["response"]
    assert r.status == 200 and r.body == b"slept 1500 ms"
    assert r.header("connection") == "close", r
    assert out["closed"], "the connection must close after the in-flight response"
    assert rc == 0, srv.log()[-2000:]
    assert _refused(srv.port), "new connections must be refused after shutdown"
    return r


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.parametrize("workers", [1, 2])
def test_graceful_shutdown_finishes_in_flight_request(start_server, sig, workers):
    _graceful_shutdown(start_server, workers, sig)


def test_shutdown_closes_idle_connections_promptly(start_server):
    srv = start_server("--workers", "2", expect_rc=None)
    conns = [srv.conn() for _ in range(4)]
    try:
        for c in conns:
            assert c.get("/textf").status == 200
        t0 = time.monotonic()
        srv.kill_with(signal.SIGTERM)
        for c in conns:
            assert c.closed_within(3)
        assert srv.wait(5) == 0
        assert time.monotonic() - t0 < 3
    finally:
        for c in conns:
            c.close()
    assert "stopped" in srv.log()


def test_shutdown_answers_pipelined_request_then_closes(start_server):
    """The request in the handler when SIGTERM arrives is answered with close;
    the one pipelined behind it is not started."""
    srv = start_server("--workers", "1", expect_rc=None)
    with srv.conn(timeout=10) as c:
        c.send(b"GET /slow?ms=800 HTTP/1.1\r\nHost: t\r\n\r\nGET /textf HTTP/1.1\r\nHost: t\r\n\r\n")
        assert srv.wait_log(r"slow: sleeping 800 ms", timeout=5)
        srv.kill_with(signal.SIGTERM)
        first = c.read_response()
        assert first.status == 200 and first.body == b"slept 800 ms"
        assert first.header("connection") == "close"
        assert c.closed_within(3), "the pipelined request behind must not be served while draining"
    assert srv.wait(8) == 0


# ---------------------------------------------------------------------------- configuration


def config_of(srv, *keys):
    return srv.get("/config?" + "&".join(f"key={k}" for k in keys)).json()


def test_config_defaults(start_server):
    srv = start_server()
    assert config_of(srv, "max_body", "header_timeout", "testapp.greeting", "host") == {
        "max_body": "10M", "header_timeout": "10s", "testapp.greeting": "hello", "host": "127.0.0.1"}


def test_config_precedence_flag_env_file_default(start_server, tmp_path):
    ini = tmp_path / "custom.ini"
    ini.write_text("max_body = 1M\nidle_timeout = 5s\n[testapp]\ngreeting = from-ini\n")
    keys = ("max_body", "idle_timeout", "testapp.greeting", "body_timeout")
    srv = start_server("--config", ini)
    assert config_of(srv, *keys) == {"max_body": "1M", "idle_timeout": "5s", "testapp.greeting": "from-ini",
                                     "body_timeout": "30s"}
    srv = start_server("--config", ini, env={"VIAL_MAX_BODY": "2M", "VIAL_TESTAPP_GREETING": "from-env"})
    assert config_of(srv, *keys) == {"max_body": "2M", "idle_timeout": "5s", "testapp.greeting": "from-env",
                                     "body_timeout": "30s"}
    srv = start_server("--config", ini, "--max-body", "3M", "--testapp.greeting=from-flag",
                       env={"VIAL_MAX_BODY": "2M", "VIAL_TESTAPP_GREETING": "from-env"})
    assert config_of(srv, *keys) == {"max_body": "3M", "idle_timeout": "5s", "testapp.greeting": "from-flag",
                                     "body_timeout": "30s"}


def test_config_value_is_enforced(start_server, tmp_path):
    ini = tmp_path / "limits.ini"
    ini.write_text("[vial]\nmax_body = 100\n")
    srv = start_server("--config", ini)
    assert srv.request("POST", "/echo?nohex=1", body=b"x" * 100).status == 200
    assert_error(srv.request("POST", "/echo", body=b"x" * 101), 413)


def test_vial_ini_in_working_directory_and_vial_config_env(start_server, tmp_path):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "vial.ini").write_text("max_body = 7K\n")
    srv = start_server(cwd=cwd)
    assert config_of(srv, "max_body") == {"max_body": "7K"}
    other = tmp_path / "other.ini"
    other.write_text("max_body = 8K\n")
    srv = start_server(cwd=cwd, env={"VIAL_CONFIG": str(other)})
    assert config_of(srv, "max_body") == {"max_body": "8K"}


def test_unprefixed_env_only_for_deployment_keys(start_server):
    srv = start_server(env={"MAX_BODY": "5K", "LOG_LEVEL": "debug"})
    assert config_of(srv, "max_body", "log_level") == {"max_body": "10M", "log_level": "debug"}


def test_port_precedence(start_server, tmp_path):
    p_ini, p_bare, p_env, p_flag = (free_port() for _ in range(4))
    ini = tmp_path / "port.ini"
    ini.write_text(f"port = {p_ini}\n")
    srv = start_server("--config", ini, port=p_ini)
    assert config_of(srv, "port") == {"port": str(p_ini)}
    srv = start_server("--config", ini, env={"PORT": str(p_bare)}, port=p_bare)
    assert config_of(srv, "port") == {"port": str(p_bare)}
    srv = start_server("--config", ini, env={"PORT": str(p_bare), "VIAL_PORT": str(p_env)}, port=p_env)
    assert config_of(srv, "port") == {"port": str(p_env)}
    srv = start_server("--config", ini, "--port", p_flag, env={"PORT": str(p_bare), "VIAL_PORT": str(p_env)},
                       port=p_flag)
    assert config_of(srv, "port") == {"port": str(p_flag)}


def test_port_in_use_is_a_startup_error(start_server):
    srv = start_server()
    p = run_cli(["--port", srv.port, "--workers", "1"], timeout=10)
    assert p.returncode == 1, p
    assert "cannot listen" in p.stderr
    assert srv.get("/textf").status == 200  # the first server is unaffected


@pytest.mark.parametrize("args", [["--max-body", "lots"], ["--header-timeout", "soon"], ["--log-level", "loud"],
                                  ["--port"]])
def test_bad_config_values_exit_2(args):
    p = run_cli(args, timeout=10)
    assert p.returncode == 2, (p.returncode, p.stderr)
    assert p.stderr.strip()


@pytest.mark.parametrize("args", [["--port", "99999", "--workers", "1"], ["--port", "0", "--workers", "-1"],
                                  ["--port", "0", "--workers", "1", "--host", "192.0.2.1"]])
def test_bad_listen_settings_exit_1(args):
    p = run_cli(args, timeout=15)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert "ERROR" in p.stderr


def test_missing_config_file_is_an_error():
    p = run_cli(["--config", "/nonexistent/vial.ini"], timeout=10)
    assert p.returncode == 2 and "/nonexistent/vial.ini" in p.stderr


# ---------------------------------------------------------------------------- command line


def parse_routes(out):
    rows = {}
    for line in out.splitlines()[2:]:
        cols = re.split(r"\s{2,}", line.strip())
        if len(cols) >= 3:
            rows[cols[-1]] = (cols[0], cols[1])
    return rows


def test_vial_server_routes():
    p = run_cli(["routes"], name="vial-server")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert re.match(r"Endpoint\s+Methods\s+Rule", lines[0]) and set(lines[1]) <= {"-", " "}
    rows = parse_routes(p.stdout)
    assert rows["/"][0] == "dashboard.home" and "GET" in rows["/"][1]
    assert rows["/health"][0] == "health" and "GET" in rows["/health"][1]


def test_testapp_routes_include_blueprints():
    p = run_cli(["routes"])
    assert p.returncode == 0
    rows = parse_routes(p.stdout)
    assert rows["/api/items/<int:id>"][0] == "api.item"
    assert rows["/api/v2/ping"][0] == "api.v2.v2_ping"
    assert rows["/slash/"][0] == "slash"


@pytest.mark.parametrize("cmd", [["help"], ["--help"], ["-h"]])
def test_help_exits_0(cmd):
    p = run_cli(cmd, name="vial-server")
    assert p.returncode == 0
    for key in ["--port", "--host", "--workers", "--max-body", "--header-timeout", "routes"]:
        assert key in p.stdout, key


def test_help_shows_value_sources(tmp_path):
    p = run_cli(["help", "--max-body", "3M"], env={"VIAL_WORKERS": "3"})
    assert re.search(r"--max-body .*\[flag: 3M\]", p.stdout), p.stdout
    assert re.search(r"--workers .*\[env: 3\]", p.stdout), p.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["--bogus", "1"], ["frobnicate"], ["routes", "extra"]])
def test_usage_errors_exit_2(args):
    p = run_cli(args, name="vial-server")
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "help" in p.stderr


def test_custom_command_gets_remaining_args_after_flags():
    p = run_cli(["echo-args", "--port", "1234", "one", "--testapp.greeting", "hi", "two"])
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["port=1234", "greeting=hi", "arg=one", "arg=two"]
    assert run_cli(["echo-args", "fail"]).returncode == 3


def test_vial_server_serves_health(start_server, tmp_path):
    # vial-server refuses to start without a secret key (sessions, tokens);
    # run from the checkout it finds its templates, static files and migrations.
    env = {"SECRET_KEY": "k" * 44, "DATABASE_URL": f"sqlite:///{tmp_path}/health.db"}
    srv = start_server("--workers", "1", name="vial-server", env=env, cwd=REPO)
    r = srv.get("/health")
    assert r.status == 200 and r.json()["status"] == "ok"
    r = srv.get("/")
    assert r.status == 200 and r.header("content-type").startswith("text/html")


def test_vial_server_migrate_from_elsewhere(tmp_path):
    """Started away from the checkout, vial-server still finds the apps'
    migration sets (through the source tree it was built from, or where
    `make install` put them), and `migrate` says what it applied."""
    env = {"SECRET_KEY": "k" * 44, "DATABASE_URL": f"sqlite:///{tmp_path}/m.db"}
    p = run_cli(["migrate"], name="vial-server", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["applied 0001_vial_sequences (vial_db)", "applied 0001_logs.sql (logs)",
                                     "applied 0003_logs_ids.sql (logs)", "applied 0002_users.sql (users)",
                                     "applied 0004_music.sql (music)", "applied 0005_music_search.sql (music)",
                                     "applied 0004_chat.sql (chat)"]
    assert "does not exist" not in p.stderr  # no migrations/ here, and none needed
    p = run_cli(["migrate"], name="vial-server", env=env, cwd=tmp_path)
    assert p.returncode == 0 and p.stdout == "database is up to date (sqlite)\n", (p.stdout, p.stderr)
    # a folder that is not there stops the start
    p = run_cli(["migrate", "--migrations-root", tmp_path / "nowhere"], name="vial-server", env=env, cwd=tmp_path)
    assert p.returncode == 1 and "the migrations of logs are not in" in p.stderr, p.stderr


# ---------------------------------------------------------------------------- logs


ACCESS = re.compile(r'^\S+Z ACCESS 127\.0\.0\.1 "GET /echo\?x=1&y=%20" 200 (\d+) (\d+)us access-id-1$', re.M)


def test_access_log_line(start_server):
    srv = start_server("--workers", "1", "--trusted-proxies", "127.0.0.1")
    r = srv.get("/echo?x=1&y=%20", headers={"X-Request-Id": "access-id-1"})
    m = srv.wait_log(ACCESS)
    assert m, srv.log()[-2000:]
    assert int(m.group(1)) == len(r.raw), "logged bytes should be what was sent"
    srv.get("/nope", headers={"X-Request-Id": "access-id-2"})
    assert srv.wait_log(r'ACCESS 127\.0\.0\.1 "GET /nope" 404 \d+ \d+us access-id-2$')
    srv.request("POST", "/echo", body=b"x", headers={"X-Request-Id": "access-id-3"})
    assert srv.wait_log(r'"POST /echo" 200 \d+ \d+us access-id-3$')
    # Protocol errors are logged too.
    with srv.conn() as c:
        c.send(b"GET /x HTTP/1.1\r\nHost: t\r\nX-Folded: a\r\n b\r\n\r\n")
        rid = c.read_response().header("x-request-id")
    assert srv.wait_log(r" 400 \d+ \d+us " + re.escape(rid) + "$")


def test_access_log_escapes_hostile_targets(start_server):
    srv = start_server("--workers", "1", "--trusted-proxies", "127.0.0.1")
    srv.get('/echo?q="quoted"\\', headers={"X-Request-Id": "esc-1"})
    m = srv.wait_log(r"^.*esc-1$")
    assert m and '\\x22quoted\\x22\\x5c' in m.group(0), m and m.group(0)


@pytest.mark.parametrize("how", ["flag", "env", "ini"])
def test_access_log_off(start_server, tmp_path, how):
    args, env = [], None
    if how == "flag":
        args = ["--no-access-log"]
    elif how == "env":
        env = {"VIAL_ACCESS_LOG": "off"}
    else:
        (tmp_path / "vial.ini").write_text("access_log = off\n")
    srv = start_server("--workers", "1", "--trusted-proxies", "127.0.0.1", *args, env=env)
    for _ in range(3):
        assert srv.get("/textf").status == 200
    srv.get("/fail", headers={"X-Request-Id": "still-logged"})
    assert srv.wait_log(r"\[still-logged\].*handler failed")  # errors are still logged
    assert srv.stop() == 0
    assert " ACCESS " not in srv.log(), srv.log()


def test_log_level_filters_diagnostics(start_server):
    port = free_port()
    srv = start_server("--workers", "1", "--log-level", "error", "--port", port,
                       "--trusted-proxies", "127.0.0.1", port=port)
    srv.get("/log?m=warned", headers={"X-Request-Id": "lvl-1"})
    srv.get("/fail", headers={"X-Request-Id": "lvl-2"})
    assert srv.wait_log(r"\[lvl-2\]")
    assert srv.stop() == 0
    log = srv.log()
    assert "testapp log: warned" not in log and "INFO" not in log


def test_app_log_line_with_request_id(server):
    r = server.get("/log?m=hello%20log")
    rid = r.header("x-request-id")
    assert server.wait_log(r"WARN +\[" + re.escape(rid) + r"\] testapp log: hello log$")


# ---------------------------------------------------------------------------- concurrency


def test_many_concurrent_keep_alive_clients(server):
    errors, workers = [], set()
    lock = threading.Lock()

    def client(k):
        try:
            with server.conn(timeout=10) as c:
                for i in range(10):
                    j = c.get(f"/echo?k={k}&i={i}").json()
                    assert j["args"] == {"k": [str(k)], "i": [str(i)]}
                    with lock:
                        workers.add(j["worker"])
        except Exception as e:
            with lock:
                errors.append(repr(e))

    threads = [threading.Thread(target=client, args=(k,)) for k in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors[:3]
    assert workers == {0, 1}, "both workers should have served connections"


def test_slow_handler_on_one_worker_does_not_block_the_other(start_server):
    srv = start_server("--workers", "2")
    out = {}
    t = threading.Thread(target=_slow_request, args=(srv, 2000, out, False))
    t.start()
    assert srv.wait_log(r"slow: sleeping 2000 ms", timeout=5)
    # 24 concurrent connections land on either worker (SO_REUSEPORT hashing):
    # those on the free worker must be answered while the slow handler runs.
    done, lock = [], threading.Lock()

    def one():
        with srv.conn(timeout=10) as c:
            r = c.get("/textf")
        with lock:
            done.append((r.status, "response" in out))

    clients = [threading.Thread(target=one) for _ in range(24)]
    for c in clients:
        c.start()
    for c in clients:
        c.join(15)
    t.join(10)
    assert out["response"].status == 200
    assert len(done) == 24 and all(status == 200 for status, _ in done)
    served_meanwhile = sum(1 for _, slow_done in done if not slow_done)
    assert served_meanwhile >= 1, "every connection waited for the slow handler"


# ---------------------------------------------------------------------------- sanitizer-only


def test_no_leak_at_exit(tmp_path):
    """Without the known-leak suppressions, a server that logged requests
    exits 0 with a clean LeakSanitizer report (ASan build only)."""
    from conftest import Server, sanitizer_report, sanitized_build
    if not sanitized_build():
        pytest.skip("needs the ASan build (VIAL_SANITIZE=ON)")
    srv = Server("vial-testapp", ["--workers", "2"], {"LSAN_OPTIONS": ""}, tmp_path, tmp_path)
    try:
        srv.start()
        for _ in range(4):
            assert srv.get("/textf").status == 200
    finally:
        rc = srv.stop()
    assert sanitizer_report(srv.log()) is None, sanitizer_report(srv.log())
    assert rc == 0


# ---------------------------------------------------------------------------- mounted under a prefix
# Behind `location /MusicGroup/ { proxy_pass http://vial; }` (nginx keeps the
# prefix) or `proxy_pass http://vial/;` (nginx strips it): routed either way,
# and every URL the app makes points back under the prefix.


def test_url_prefix_routes_with_or_without_it_and_urls_point_under_it(start_server):
    srv = start_server("--workers", "1", "--url-prefix", "/MusicGroup/")
    for path in ("/MusicGroup/urlfor", "/urlfor"):
        u = srv.get(path).json()
        assert u["echo"] == "/MusicGroup/echo" and u["api_item"] == "/MusicGroup/api/items/5?q=1", u
        assert u["user"] == "/MusicGroup/user/a%2Fb%20c" and u["int_bad"] is None, u
    assert srv.get("/MusicGroup/echo?x=1").json()["args"] == {"x": ["1"]}
    assert srv.get("/MusicGroup").status == 404  # the root itself is "/", which testapp does not route
    assert srv.get("/MusicGroupies/echo").status == 404  # a prefix of a segment is not the prefix
    # redirects: absolute paths of the app go under it, others are left alone
    for to, want in (("/x", "/MusicGroup/x"), ("/MusicGroup/x", "/MusicGroup/x"), ("/", "/MusicGroup/"),
                     ("https://example.com/x", "https://example.com/x"), ("//example.com/x", "//example.com/x"),
                     ("rel", "rel")):
        r = srv.get("/MusicGroup/redirect?to=" + to.replace("/", "%2F").replace(":", "%3A"))
        assert r.status == 302 and r.header("location") == want, (to, r.status, r.header("location"))
    # the trailing-slash redirect keeps the prefix, also when the path repeats it
    r = srv.get("/MusicGroup/slash?a=1")
    assert r.status == 308 and r.header("location") == "/MusicGroup/slash/?a=1"
    r = srv.get("/slash")
    assert r.status == 308 and r.header("location") == "/MusicGroup/slash/"
    # cookies without a path of their own belong to the prefix
    cookies = [v for k, v in srv.get("/MusicGroup/cookies/set").headers if k.lower() == "set-cookie"]
    plain = [c for c in cookies if c.startswith("plain=1;")]
    assert plain and "Path=/MusicGroup" in plain[0].split("; "), cookies
    assert any(c.startswith("opts=abc; Path=/api;") for c in cookies), cookies


def test_x_forwarded_prefix_only_from_a_trusted_proxy(start_server):
    srv = start_server("--workers", "1", "--trusted-proxies", "127.0.0.1")
    assert srv.get("/urlfor").json()["echo"] == "/echo"
    u = srv.get("/urlfor", headers={"X-Forwarded-Prefix": "/shop/"}).json()
    assert u["echo"] == "/shop/echo", u
    r = srv.get("/shop/redirect?to=%2Fx", headers={"X-Forwarded-Prefix": "/shop"})
    assert r.status == 302 and r.header("location") == "/shop/x"
    # a prefix that could break out of Location or Set-Cookie is ignored
    for bad in ("shop", "/a/../b", "/a//b", "/a b", "/a;b", "/a?b", "/./a"):
        assert srv.get("/urlfor", headers={"X-Forwarded-Prefix": bad}).json()["echo"] == "/echo", bad
    # the setting is the default a proxy's header overrides, "/" meaning the root
    srv2 = start_server("--workers", "1", "--trusted-proxies", "127.0.0.1", "--url-prefix", "/MusicGroup")
    assert srv2.get("/urlfor", headers={"X-Forwarded-Prefix": "/"}).json()["echo"] == "/echo"
    assert srv2.get("/urlfor").json()["echo"] == "/MusicGroup/echo"
    # not from a client that is not a trusted proxy
    srv3 = start_server("--workers", "1")
    assert srv3.get("/urlfor", headers={"X-Forwarded-Prefix": "/evil"}).json()["echo"] == "/echo"
    r = srv3.get("/redirect?to=%2Fx", headers={"X-Forwarded-Prefix": "/evil"})
    assert r.header("location") == "/x"


@pytest.mark.parametrize("bad", ["MusicGroup", "/a b", "/a?b", "/a#b"])
def test_bad_url_prefix_is_a_startup_error(bad):
    r = run_cli(["run", "--port", "0", "--url-prefix", bad])
    assert r.returncode != 0 and "url_prefix" in r.stderr, (r.returncode, r.stderr)

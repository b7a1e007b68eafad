"""Prometheus metrics of a running vial-server (issue 13).

One vial-server on a fresh SQLite database serves the module's tests; every
test reads /metrics before and after what it does and checks the difference,
so the tests do not depend on each other.  Requests whose counts are checked
go over one keep-alive connection: they are then served one after another
by one worker, which records each request before it reads the next one, so
every count is exact.

The exposition is checked by `promtool check metrics` (Prometheus' own
parser and linter: no error, no warning) and parsed here line by line
(format 0.0.4).  Access control runs on vial-testapp listening on a
non-loopback address of this machine (skipped when it has none), where
the scrape comes from that address: 403, unless metrics_allow names it.
"""
from __future__ import annotations

import ipaddress
import math
import os
import re
import shutil
import socket
import subprocess
import time

import pytest

from conftest import Conn, Server, build_request, run_cli
from users_support import CHEAP_ARGON2, Client, Database, new_secret, start_server, uname

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
CTYPE = "text/plain; version=0.0.4; charset=utf-8"
DEADLINE = 10.0  # waiting for the server to notice a closed connection

# ---------------------------------------------------------------------------- the text format

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_VALUE = r'"((?:[^"\\\n]|\\[\\"n])*)"'
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{((?:{_LABEL}={_VALUE},?)*)\}})? (\S+)$")
_PAIR = re.compile(rf"({_LABEL})={_VALUE}")
_NUMBER = re.compile(r"^(NaN|[+-]Inf|-?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)$")


def _unescape(s: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "\\": "\\", '"': '"'}[m.group(1)], s)


class Exposition:
    """A parsed /metrics text: families (help, type) and samples, with the
    format's rules asserted while parsing."""

    def __init__(self, text: str):
        self.text = text
        self.help: dict[str, str] = {}
        self.type: dict[str, str] = {}
        self.samples: list[tuple[str, dict, float]] = []
        assert text.endswith("\n") and "\n\n" not in text, text[-200:]
        family = None
        for line in text[:-1].split("\n"):
            if line.startswith("# HELP "):
                name, _, help_ = line[7:].partition(" ")
                assert re.fullmatch(_NAME, name), line
                assert name not in self.help, f"family {name} twice"
                self.help[name] = help_
                family = name
                continue
            if line.startswith("# TYPE "):
                name, _, type_ = line[7:].partition(" ")
                assert name == family and name not in self.type, line
                assert type_ in ("counter", "gauge", "histogram"), line
                self.type[name] = type_
                continue
            assert not line.startswith("#"), line
            m = _SAMPLE.match(line)
            assert m, f"malformed sample line {line!r}"
            name, labels_text, value = m.group(1), m.group(2) or "", m.group(4)
            assert _NUMBER.match(value), f"malformed value in {line!r}"
            labels = {}
            for k, v in _PAIR.findall(labels_text):
                assert k not in labels, f"label {k} twice in {line!r}"
                labels[k] = _unescape(v)
            assert family in self.type, f"sample before its TYPE: {line!r}"
            if self.type[family] == "histogram":
                assert name in (family + "_bucket", family + "_sum", family + "_count"), line
                assert ("le" in labels) == name.endswith("_bucket"), line
            else:
                assert name == family and "le" not in labels, line
            self.samples.append((name, labels, float(value)))
        self._check_histograms()

    def _check_histograms(self):
        series: dict[tuple, list] = {}
        for name, labels, v in self.samples:
            if name.endswith("_bucket") and self.type.get(name[:-7]) == "histogram":
                key = (name[:-7], tuple(sorted((k, x) for k, x in labels.items() if k != "le")))
                series.setdefault(key, []).append((labels["le"], v))
        for (fam, key), buckets in series.items():
            les = [float(le) for le, _ in buckets]
            assert les == sorted(les) and les[-1] == math.inf, (fam, key, les)
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), (fam, key, counts)  # cumulative
            assert self.value(fam + "_count", **dict(key)) == counts[-1], (fam, key)
            assert self.value(fam + "_sum", **dict(key)) is not None, (fam, key)
            for le, _ in buckets[:-1]:  # integers as other clients write them
                v = float(le)
                assert v != int(v) or le == str(int(v)), f"{fam}: le=\"{le}\", want \"{int(v)}\""

    def value(self, name, **labels):
        """The sample's value, or None when there is none."""
        for n, ls, v in self.samples:
            if n == name and ls == labels:
                return v
        return None

    def get(self, name, **labels) -> float:
        """The sample's value, 0 when absent (a series not made yet)."""
        v = self.value(name, **labels)
        return 0.0 if v is None else v

    def series(self, name) -> list[dict]:
        return [ls for n, ls, _ in self.samples if n == name]


def scrape(conn: Conn) -> tuple[Exposition, bytes]:
    """GET /metrics on `conn` (kept open): the parsed text and the response's bytes."""
    r = conn.get("/metrics")
    assert r.status == 200, r
    assert r.header("content-type") == CTYPE, r.headers
    assert r.header("cache-control") == "no-store", r.headers
    return Exposition(r.body.decode("utf-8")), r.raw


def promtool(text: str):
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail(f"{PROMTOOL} not found: apt-get install prometheus (scripts/deps.sh test)", pytrace=False)
    p = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not p.stdout.strip() and not p.stderr.strip(), (p.returncode, p.stdout, p.stderr)


# ---------------------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    d = tmp_path_factory.mktemp("metrics")
    db = Database("sqlite", d)
    before = time.time()
    s = start_server(db, d, *CHEAP_ARGON2, "--login-max-failures", "2", "--login-max-failures-ip", "1000",
                     secret=new_secret())
    s.launched = (before, time.time())
    yield s
    problems = s.problems()
    db.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def conn(srv):
    with srv.conn() as c:
        yield c


def store_logs(conn: Conn, n: int) -> list[int]:
    body = ('{"userId":"u","sessionId":"s","actions":['
            + ",".join('{"time":"2018-10-18T21:37:28Z","type":"A"}' for _ in range(n)) + "]}")
    r = conn.request("POST", "/logs", headers={"Content-Type": "application/json"}, body=body)
    assert r.status == 201, r
    j = r.json()
    return list(range(j["first_id"], j["last_id"] + 1))


# ---------------------------------------------------------------------------- format


def test_promtool_accepts_the_exposition(srv, conn):
    """After every kind of request, Prometheus' own checker finds nothing
    to say: no parse error, no lint warning."""
    ids = store_logs(conn, 2)
    assert conn.get(f"/logs/{ids[0]}").status == 200
    assert conn.get("/logs/987654321").status == 404
    assert conn.get("/no/such/path").status == 404
    assert conn.request("DELETE", "/health").status == 405
    assert conn.get("/health").status == 200
    r = conn.request("POST", "/api/login", headers={"Content-Type": "application/json"},
                     body='{"username":"nobody_here","password":"wrong password!"}')
    assert r.status == 401, r
    exp, _ = scrape(conn)
    promtool(exp.text)
    # The families every server has, typed.
    want = {
        "http_requests_total": "counter", "http_request_duration_seconds": "histogram",
        "http_requests_in_flight": "gauge", "http_connections_open": "gauge",
        "http_received_bytes_total": "counter", "http_sent_bytes_total": "counter",
        "process_cpu_seconds_total": "counter", "process_resident_memory_bytes": "gauge",
        "process_virtual_memory_bytes": "gauge", "process_open_fds": "gauge", "process_max_fds": "gauge",
        "process_start_time_seconds": "gauge", "vial_build_info": "gauge",
        "vial_db_queries_total": "counter", "vial_db_query_duration_seconds": "histogram",
        "vial_db_pool_waits_total": "counter", "vial_db_errors_total": "counter",
        "vial_redis_errors_total": "counter", "vial_failed_logins_total": "counter",
        "vial_logs_ingested_total": "counter",
    }
    for name, type_ in want.items():
        assert exp.type.get(name) == type_, (name, exp.type.get(name))
        assert exp.help[name], name
    # The default latency buckets, as other Prometheus clients write them.
    les = [ls["le"] for ls in exp.series("http_request_duration_seconds_bucket") if ls["route"] == "/health"]
    assert les == ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
                   "2.5", "5", "10", "+Inf"], les


def test_promtool_catches_what_the_checks_are_for():
    """promtool fails where it must (a label twice, a counter without
    _total), and so does the parser here (buckets that are not cumulative):
    their silence elsewhere means something."""
    bad = ['# HELP a_total h\n# TYPE a_total counter\na_total{x="1",x="2"} 1\n',
           '# HELP b h\n# TYPE b counter\nb 1\n']
    for text in bad:
        with pytest.raises(AssertionError):
            promtool(text)
    with pytest.raises(AssertionError):
        Exposition('# HELP c h\n# TYPE c histogram\nc_bucket{le="1"} 2\nc_bucket{le="+Inf"} 1\n'
                   'c_sum 1\nc_count 1\n')


# ---------------------------------------------------------------------------- requests


def test_requests_counted_by_route_pattern(srv, conn):
    ids = store_logs(conn, 3)
    before, _ = scrape(conn)
    for i in ids:
        assert conn.get(f"/logs/{i}").status == 200
    assert conn.get(f"/logs/{ids[0]}?pretty=1").status == 200
    for missing in (987654321, 987654322):
        assert conn.get(f"/logs/{missing}").status == 404
    assert conn.request("DELETE", f"/logs/{ids[2]}").status in (200, 204)
    assert conn.get("/logs/not-a-number").status == 404
    for i in range(5):
        assert conn.get(f"/definitely/not/here/{i}").status == 404
    assert conn.request("PUT", "/health").status == 405
    after, _ = scrape(conn)

    def delta(name, **labels):
        return after.get(name, **labels) - before.get(name, **labels)

    pat = "/logs/<int:id>"
    assert delta("http_requests_total", method="GET", route=pat, code="200") == 4
    assert delta("http_requests_total", method="GET", route=pat, code="404") == 2
    deleted = [ls for ls in after.series("http_requests_total") if ls["method"] == "DELETE" and ls["route"] == pat]
    assert len(deleted) == 1 and delta("http_requests_total", **deleted[0]) == 1, deleted
    assert delta("http_requests_total", method="GET", route="(unmatched)", code="404") == 6
    assert delta("http_requests_total", method="PUT", route="(unmatched)", code="405") == 1
    # The scrape before this one, counted once its response was queued.
    assert delta("http_requests_total", method="GET", route="/metrics", code="200") == 1
    # Durations by route: every method and code together.
    assert delta("http_request_duration_seconds_count", route=pat) == 7
    assert delta("http_request_duration_seconds_bucket", route=pat, le="+Inf") == 7
    assert delta("http_request_duration_seconds_count", route="(unmatched)") == 7
    assert delta("http_request_duration_seconds_sum", route=pat) >= 0
    # Routes are patterns, never paths: no id, no query, no unmatched path.
    routes = {ls["route"] for ls in after.series("http_requests_total")}
    assert pat in routes and "(unmatched)" in routes, routes
    assert not any(re.search(r"/\d+(/|$)|\?", r) for r in routes), routes
    for raw in [f"/logs/{i}" for i in ids] + ["987654321", "not-a-number", "/definitely", "pretty"]:
        assert raw not in after.text, raw
    # The one request in flight is the scrape.
    assert after.get("http_requests_in_flight") == 1


def test_db_queries_counted(srv, conn):
    before, _ = scrape(conn)
    ids = store_logs(conn, 5)
    for i in ids:
        assert conn.get(f"/logs/{i}").status == 200
    assert conn.get("/health").status == 200
    after, _ = scrape(conn)
    q = after.get("vial_db_queries_total", backend="sqlite") - before.get("vial_db_queries_total", backend="sqlite")
    assert q >= len(ids) + 2, q  # a statement at least per view
    # Each statement timed once, its rows closed before the next request.
    d = (after.get("vial_db_query_duration_seconds_count", backend="sqlite")
         - before.get("vial_db_query_duration_seconds_count", backend="sqlite"))
    assert d == q, (d, q)
    assert after.get("vial_db_errors_total", backend="sqlite") == before.get("vial_db_errors_total", backend="sqlite")
    assert after.value("vial_db_pool_waits_total", backend="sqlite") is not None
    assert after.value("vial_redis_errors_total") == 0  # no Redis configured


def test_logs_ingested(srv, conn):
    before, _ = scrape(conn)
    store_logs(conn, 7)
    store_logs(conn, 1)
    # refused batches store nothing and count nothing
    r = conn.request("POST", "/logs", headers={"Content-Type": "application/json"},
                     body='{"userId":"u","sessionId":"s","actions":[{"time":"yesterday","type":"A"}]}')
    assert r.status == 400, r
    after, _ = scrape(conn)
    assert after.get("vial_logs_ingested_total") - before.get("vial_logs_ingested_total") == 8


def test_failed_logins(srv, conn):
    c = Client(srv, addr=None)
    try:
        name = uname("m")
        c.register(name)
        before, _ = scrape(conn)
        statuses = []
        for pw in ("wrong password 1", "wrong password 2"):
            statuses.append(c.login_raw(name, pw).status_code)
        assert statuses == [401, 401], statuses
        assert c.login_raw(uname("ghost"), "whatever pw 123").status_code == 401  # unknown names too
        mid, _ = scrape(conn)
        assert mid.get("vial_failed_logins_total", reason="credentials") - \
            before.get("vial_failed_logins_total", reason="credentials") == 3
        assert mid.get("vial_failed_logins_total", reason="backoff") == \
            before.get("vial_failed_logins_total", reason="backoff")
        # Past --login-max-failures 2 the account waits (1 s, 2 s, ...): an
        # attempt during the wait is refused as "backoff", one after it is
        # checked (and fails) as "credentials".  Counted by what came back.
        more = []
        while 429 not in more and len(more) < 8:  # each 401 doubles the wait
            more.append(c.login_raw(name, "wrong password 3").status_code)
        more.append(c.login_raw(name, "wrong password 4").status_code)
        assert set(more) <= {401, 429} and 429 in more, more
        after, _ = scrape(conn)
        assert after.get("vial_failed_logins_total", reason="credentials") - \
            mid.get("vial_failed_logins_total", reason="credentials") == more.count(401)
        assert after.get("vial_failed_logins_total", reason="backoff") - \
            mid.get("vial_failed_logins_total", reason="backoff") == more.count(429)
        assert after.get("http_requests_total", method="POST", route="/api/login", code="429") - \
            mid.get("http_requests_total", method="POST", route="/api/login", code="429") == more.count(429)
    finally:
        c.close()


def test_process_and_build(srv, conn):
    exp, _ = scrape(conn)
    assert exp.get("process_open_fds") >= 3
    assert exp.get("process_max_fds") >= exp.get("process_open_fds")
    assert exp.get("process_resident_memory_bytes") > 1 << 20
    assert exp.get("process_virtual_memory_bytes") >= exp.get("process_resident_memory_bytes")
    assert exp.get("process_cpu_seconds_total") > 0
    t0, t1 = srv.launched
    start = exp.get("process_start_time_seconds")
    assert t0 - 1 <= start <= t1 + 1 and start <= time.time(), (t0, start, t1)
    # The same fds as the kernel counts (the listening sockets, the database,
    # this connection ...), give or take one opened meanwhile.
    fds = len(os.listdir(f"/proc/{srv.proc.pid}/fd"))
    assert abs(exp.get("process_open_fds") - fds) <= 2, (exp.get("process_open_fds"), fds)
    version = conn.get("/health").json()["version"]
    assert exp.series("vial_build_info") == [{"version": version}]
    assert exp.get("vial_build_info", version=version) == 1


def test_bytes_in_and_out(srv, conn):
    """On one connection every byte between two scrapes is known: the
    requests read after the first scrape's text was made, and the
    responses written after it."""
    first, first_raw = scrape(conn)
    body = ('{"userId":"bytes","sessionId":"s","actions":['
            + ",".join('{"time":"2018-10-18T21:37:28Z","type":"B"}' for _ in range(500)) + "]}")
    post = build_request("POST", "/logs", {"Content-Type": "application/json"}, body)
    assert len(post) > 20000
    conn.send(post)
    r = conn.read_response()
    assert r.status == 201, r
    scrape_req = build_request("GET", "/metrics")
    conn.send(scrape_req)
    r2 = conn.read_response()
    assert r2.status == 200, r2
    second = Exposition(r2.body.decode())
    din = second.get("http_received_bytes_total") - first.get("http_received_bytes_total")
    dout = second.get("http_sent_bytes_total") - first.get("http_sent_bytes_total")
    assert din == len(post) + len(scrape_req), (din, len(post), len(scrape_req))
    assert dout == len(first_raw) + len(r.raw), (dout, len(first_raw), len(r.raw))


def test_open_connections(srv):
    with srv.conn() as probe:
        # This one only, once the server noticed the others' ends.
        assert _settle(probe, "http_connections_open", 1) == 1
        held = [srv.conn() for _ in range(3)]
        try:
            for h in held:  # answered: accepted and counted
                assert h.get("/health").status == 200
            assert scrape(probe)[0].get("http_connections_open") == 4
        finally:
            for h in held:
                h.close()
        assert _settle(probe, "http_connections_open", 1) == 1


def _settle(probe, name, want):
    """Scrapes on `probe` until sample `name` is `want` (a closed
    connection is noticed by the server in its own time); the last value."""
    deadline = time.monotonic() + DEADLINE
    while True:
        n = scrape(probe)[0].get(name)
        if n == want or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def test_in_flight_request(testapps):
    """An exchange counts as in flight from its complete request until it
    is freed: a stream waiting for events is, until it ends."""
    s = testapps("127.0.0.1")
    with s.conn() as waiting, s.conn() as probe:
        assert scrape(probe)[0].get("http_requests_in_flight") == 1  # the scrape itself
        waiting.send(b"GET /wait?n=1 HTTP/1.1\r\nHost: t\r\n\r\n")
        seen = b""
        while not re.search(rb"id=(\d+)\n", seen):
            chunk = waiting.sock.recv(4096)
            assert chunk, seen
            seen += chunk
        stream_id = re.search(rb"id=(\d+)\n", seen).group(1).decode()
        exp, _ = scrape(probe)
        assert exp.get("http_requests_in_flight") == 2
        assert probe.request("POST", f"/wake?id={stream_id}").status == 204
        assert _settle(probe, "http_requests_in_flight", 1) == 1
        exp, _ = scrape(probe)
        assert exp.get("http_requests_total", method="GET", route="/wait", code="200") == 1
        assert exp.get("http_requests_total", method="POST", route="/wake", code="204") == 1


# ---------------------------------------------------------------------------- settings and access


def _local_address(family=socket.AF_INET) -> str | None:
    """An address of this machine that is not loopback (no packet sent)."""
    probe = "192.0.2.254" if family == socket.AF_INET else "2001:db8::1"
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.connect((probe, 9))
            addr = s.getsockname()[0]
    except OSError:
        return None
    if addr.startswith("127.") or addr in ("::1", "0.0.0.0", "::"):
        return None
    try:  # and we can listen on it
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.bind((addr, 0))
    except OSError:
        return None
    return addr


def _testapp(tmp_path, host, *args) -> Server:
    s = Server("vial-testapp", ["--host", host, "--workers", "1", *args], None, tmp_path, tmp_path)
    s.host = host
    try:
        s.start()
    except RuntimeError as e:
        if s.proc and s.proc.poll() is None:
            s.proc.kill()
            s.proc.wait()
        pytest.fail(str(e), pytrace=False)
    return s


@pytest.fixture
def testapps(tmp_path):
    started = []

    def start(host, *args):
        s = _testapp(tmp_path, host, *args)
        started.append(s)
        return s

    yield start
    problems = []
    for s in started:
        problems += s.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("family", [socket.AF_INET, socket.AF_INET6], ids=["ipv4", "ipv6"])
def test_access_from_another_address(testapps, family):
    addr = _local_address(family)
    if addr is None:
        pytest.skip("this machine has no non-loopback address of that family to listen on")
    bits = 24 if family == socket.AF_INET else 64
    net = str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))
    other = "198.51.100.0/24" if family == socket.AF_INET else "2001:db8:ffff::/48"
    cases = [((), 403), (("--metrics-allow", addr), 200), (("--metrics-allow", net), 200),
             (("--metrics-allow", f"{other}, {addr}"), 200), (("--metrics-allow", other), 403)]
    for args, want in cases:
        s = testapps(addr, *args)
        with Conn(s.port, addr) as c:
            assert c.sock.getsockname()[0] == addr  # the peer the server sees
            r = c.get("/metrics")
            assert r.status == want, (args, r)
            if want == 403:
                assert b"http_requests_total" not in r.body and b"# HELP" not in r.body, r
                assert c.get("/conv/int/7").status == 200  # the app answers as usual
            else:
                Exposition(r.body.decode())
        s.problems()


def test_loopback_and_other_address_on_one_server(testapps):
    addr = _local_address()
    if addr is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    s = testapps("0.0.0.0")
    with Conn(s.port, "127.0.0.1") as lo, Conn(s.port, addr) as far:
        assert far.get("/metrics").status == 403
        r = lo.get("/metrics")
        assert r.status == 200, r
        exp = Exposition(r.body.decode())
        # The refusal was counted like any answer.
        assert exp.get("http_requests_total", method="GET", route="/metrics", code="403") == 1
        promtool(exp.text)


def test_metrics_off(testapps):
    s = testapps("127.0.0.1", "--metrics=off")
    with s.conn() as c:
        assert c.get("/conv/int/1").status == 200
        assert c.get("/metrics").status == 404


def test_metrics_path(testapps):
    s = testapps("127.0.0.1", "--metrics-path", "/internal/prom")
    with s.conn() as c:
        assert c.get("/metrics").status == 404
        assert c.get("/conv/int/5").status == 200
        r = c.get("/internal/prom")
        assert r.status == 200 and r.header("content-type") == CTYPE, r
        exp = Exposition(r.body.decode())
        assert exp.get("http_requests_total", method="GET", route="/conv/int/<int:v>", code="200") == 1
        assert exp.get("http_requests_total", method="GET", route="(unmatched)", code="404") == 1
        promtool(exp.text)


@pytest.mark.parametrize("value", ["10.0.0.0/33", "not-an-address", "::1/200"])
def test_bad_metrics_allow_refused(value, tmp_path):
    p = run_cli(["routes", "--metrics-allow", value], cwd=tmp_path)
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "metrics_allow" in p.stderr, p.stderr

"""
Fixtures and raw-socket helpers for the vial API tests.

The tests talk HTTP over plain sockets on purpose: client libraries
normalize away exactly what is under test (framing, header case, bare LF,
pipelining, half-sent requests).

Binaries come from $VIAL_BUILD_DIR (default: <repo>/build).  Every server a
test starts runs with its stderr in a file; at teardown it is stopped with
SIGTERM, must exit 0 within a few seconds, and its log must not contain a
sanitizer report (the same suite runs against the ASan+UBSan build).
"""
from __future__ import annotations

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

TIMEOUT = 5.0  # default socket timeout (seconds)
START_TIMEOUT = 15.0  # a server must be listening within this
STOP_TIMEOUT = 8.0  # and exit 0 within this after SIGTERM
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer")

# Environment variables the server reads: scrubbed so the caller's shell
# cannot change what the tests see.
_BARE_ENV = {"HOST", "PORT", "WORKERS", "DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LOG_LEVEL"}


def binary(name: str) -> pathlib.Path:
    path = BUILD_DIR / name
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.fail(f"{path} not found: build first (VIAL_BUILD_DIR={BUILD_DIR})", pytrace=False)
    return path


def sanitized_build() -> bool:
    """True when BUILD_DIR was configured with VIAL_SANITIZE=ON."""
    try:
        cache = (BUILD_DIR / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"^VIAL_SANITIZE:BOOL=(ON|1|TRUE|YES)$", cache, re.M | re.I) is not None


# Leaks already reported and shown by a strict xfail test; suppressed (by a
# function in the allocation stack) everywhere else so one known bug does not
# fail every test.  Remove an entry once its bug is fixed (its xfail test then
# XPASSes and says so).
KNOWN_LEAKS: list[str] = []
_SUPPRESSIONS = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"vial-api-lsan-{os.getpid()}.supp"


def _suppressions_file() -> str:
    if not _SUPPRESSIONS.exists():
        _SUPPRESSIONS.write_text("".join(f"leak:{f}\n" for f in KNOWN_LEAKS))
    return str(_SUPPRESSIONS)


def clean_env(extra: dict | None = None, known_leaks=True) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAL_") and k not in _BARE_ENV}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:halt_on_error=1")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if known_leaks and KNOWN_LEAKS:
        # Suppressions match the allocation stack, which the fast unwinder
        # loses inside libuv callbacks.
        env["ASAN_OPTIONS"] += ":fast_unwind_on_malloc=0"
        lsan = env.get("LSAN_OPTIONS", "")
        env["LSAN_OPTIONS"] = (lsan + ":" if lsan else "") + f"suppressions={_suppressions_file()}:print_suppressions=0"
    if extra:
        env.update(extra)
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sanitizer_report(text: str) -> str | None:
    for m in SANITIZER_MARKERS:
        i = text.find(m)
        if i >= 0:
            return text[max(0, i - 200): i + 3000]
    return None


def run_cli(args, name="vial-testapp", env=None, cwd=None, timeout=20):
    """Runs a binary to completion; fails the test on a sanitizer report."""
    p = subprocess.run([str(binary(name)), *map(str, args)], capture_output=True, text=True,
                       env=clean_env(env), cwd=cwd, timeout=timeout)
    rep = sanitizer_report(p.stdout + p.stderr)
    if rep:
        pytest.fail(f"sanitizer report from {name} {args}:\n{rep}", pytrace=False)
    return p


# ---------------------------------------------------------------------------- server


class Server:
    """A vial program running in the background, its stderr in a file."""

    def __init__(self, name, args, env, cwd, logdir, port=None):
        self.name = name
        self.host = "127.0.0.1"
        self.args = [str(a) for a in args]
        self.env = clean_env(env)
        self.cwd = str(cwd)
        self.expect_port = port
        self.log_path = pathlib.Path(logdir) / f"{name}-{time.monotonic_ns()}.stderr"
        self.out_path = self.log_path.with_suffix(".stdout")
        self.proc = None
        self.port = None
        self.returncode = None

    def start(self):
        argv = [str(binary(self.name)), *self.args]
        if self.expect_port is None and not any(a == "--port" or a.startswith("--port=") for a in self.args):
            argv += ["--port", "0"]  # the kernel picks; the log line says which
        self._err = open(self.log_path, "wb")
        self._out = open(self.out_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, env=self.env,
                                     cwd=self.cwd, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode} at start:\n{self.log()}")
            if self.port is None:
                if self.expect_port is not None:
                    self.port = self.expect_port
                else:
                    m = re.search(r"listening on http://[^ ]*:(\d+) ", self.log())
                    if m:
                        self.port = int(m.group(1))
            if self.port is not None:
                try:
                    socket.create_connection((self.host, self.port), timeout=0.5).close()
                    return self
                except OSError:
                    pass
            time.sleep(0.02)
        self.proc.kill()
        self.proc.wait()
        raise RuntimeError(f"{self.name} did not start listening in {START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    def wait_log(self, pattern, timeout=3.0):
        """Waits until the log matches `pattern` (regex); returns the match."""
        deadline = time.monotonic() + timeout
        while True:
            if isinstance(pattern, str):
                pattern = re.compile(pattern, re.M)
            m = pattern.search(self.log())
            if m or time.monotonic() > deadline:
                return m
            time.sleep(0.02)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_with(self, sig):
        if self.running():
            self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Waits for exit; on timeout kills it (by PID) and returns None."""
        try:
            self.returncode = self.proc.wait(timeout=timeout)
            return self.returncode
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.proc is None:
            return None
        if self.running():
            self.proc.send_signal(sig)
        rc = self.wait(timeout)
        for f in (self._err, self._out):
            f.close()
        return rc

    def problems(self, expect_rc=0):
        """Stops the server if needed; returns a list of reasons to fail."""
        out = []
        was_running = self.running()
        rc = self.stop() if was_running else self.proc.returncode
        if not was_running:
            for f in (self._err, self._out):
                f.close()
        if rc is None:
            out.append(f"{self.name} did not exit within {STOP_TIMEOUT}s of SIGTERM (killed)")
        elif expect_rc is not None and rc != expect_rc:
            out.append(f"{self.name} exited with {rc}, expected {expect_rc}")
        rep = sanitizer_report(self.log())
        if rep:
            out.append(f"sanitizer report in {self.name}'s stderr:\n{rep}")
        if out:
            out.append(f"--- last lines of {self.log_path} ---\n" + "\n".join(self.log().splitlines()[-40:]))
        return out

    # convenience
    def conn(self, timeout=TIMEOUT) -> "Conn":
        return Conn(self.port, self.host, timeout)

    def request(self, method, target, **kw) -> "Response":
        with self.conn(kw.pop("timeout", TIMEOUT)) as c:
            return c.request(method, target, **kw)

    def get(self, target, **kw) -> "Response":
        return self.request("GET", target, **kw)


def _start(name, args, env, cwd, logdir, port):
    srv = Server(name, args, env, cwd, logdir, port)
    try:
        srv.start()
    except RuntimeError as e:
        if srv.proc and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
        pytest.fail(str(e), pytrace=False)
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A vial-testapp shared by the tests of one module (2 workers, defaults)."""
    d = tmp_path_factory.mktemp("server")
    srv = _start("vial-testapp", ["--workers", "2"], None, d, d, None)
    yield srv
    problems = srv.problems()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def start_server(tmp_path):
    """Factory: start_server("--workers", "1", "--header-timeout", "1s", env=..., port=...).

    Servers run in a scratch directory (no stray vial.ini) and are stopped
    and checked at teardown.  `expect_rc=None` skips the exit-status check
    for a server the test stopped (and checked) itself.
    """
    started = []

    def start(*args, name="vial-testapp", env=None, cwd=None, port=None, expect_rc=0):
        srv = _start(name, list(args), env, cwd or tmp_path, tmp_path, port)
        started.append((srv, expect_rc))
        return srv

    yield start
    problems = []
    for srv, rc in started:
        problems += srv.problems(rc)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


# ---------------------------------------------------------------------------- raw HTTP


class Closed(Exception):
    """The peer closed (or reset) the connection before a full response."""

    def __init__(self, msg, partial=b""):
        super().__init__(msg)
        self.partial = partial


class Response:
    def __init__(self):
        self.version = ""
        self.status = 0
        self.reason = ""
        self.headers: list[tuple[str, str]] = []
        self.body = b""
        self.raw = b""
        self.chunks: list[bytes] | None = None  # set when chunked
        self.trailers: list[tuple[str, str]] = []

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has(self, name):
        return self.header(name) is not None

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def json(self):
        ctype = self.header("content-type") or ""
        assert "json" in ctype, f"not JSON ({ctype!r}): {self.body[:300]!r}"
        return json.loads(self.body)

    def __repr__(self):
        return f"<Response {self.status} {self.headers} {self.body[:200]!r}>"


def build_request(method, target, headers=None, body=None, version="HTTP/1.1", host="test"):
    """Bytes of a request.  `headers`: dict or list of pairs, sent as given.
    Host is added unless given or host=None; Content-Length is added for a
    body unless a Content-Length or Transfer-Encoding header is given."""
    if isinstance(headers, dict):
        headers = list(headers.items())
    headers = list(headers or [])
    names = {k.lower() for k, _ in headers}
    lines = [f"{method} {target} {version}"]
    if host is not None and "host" not in names:
        lines.append(f"Host: {host}")
    if body is not None and "content-length" not in names and "transfer-encoding" not in names:
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if isinstance(body, str):
        body = body.encode()
    return head + (body or b"")


def chunked(*parts: bytes, trailer=b"") -> bytes:
    out = b""
    for p in parts:
        out += b"%x\r\n" % len(p) + p + b"\r\n"
    return out + b"0\r\n" + trailer + b"\r\n"


class Conn:
    """One client connection with a read buffer (pipelined responses stay
    in order in it).  Every read is bounded by the socket timeout."""

    def __init__(self, port, host="127.0.0.1", timeout=TIMEOUT):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data: bytes):
        self.sock.sendall(data)

    def _fill(self) -> bool:
        """Reads more into the buffer; False at EOF (or reset)."""
        if self.eof:
            return False
        try:
            b = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            b = b""
        if not b:
            self.eof = True
            return False
        self.buf += b
        return True

    def _line(self, raw: bytearray) -> bytes:
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = self.buf[: i + 1]
                self.buf = self.buf[i + 1:]
                raw += line
                assert line.endswith(b"\r\n"), f"server sent a bare LF line: {line!r}"
                return line[:-2]
            if not self._fill():
                raise Closed("connection closed mid-line", bytes(raw) + self.buf)

    def _exact(self, n: int, raw: bytearray) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise Closed(f"connection closed with {len(self.buf)} of {n} body bytes", bytes(raw) + self.buf)
        out, self.buf = self.buf[:n], self.buf[n:]
        raw += out
        return out

    def read_response(self, head=False) -> Response:
        """Reads one response (a 1xx interim response is returned as is)."""
        raw = bytearray()
        r = Response()
        status_line = self._line(raw).decode("latin-1")
        m = re.fullmatch(r"(HTTP/\d\.\d) (\d{3}) (.*)", status_line)
        assert m, f"bad status line {status_line!r}"
        r.version, r.status, r.reason = m.group(1), int(m.group(2)), m.group(3)
        while True:
            line = self._line(raw)
            if not line:
                break
            k, sep, v = line.decode("latin-1").partition(":")
            assert sep and k and k == k.strip(), f"bad header line {line!r}"
            r.headers.append((k, v.strip(" \t")))
        te = (r.header("transfer-encoding") or "").lower()
        cl = r.header("content-length")
        if head or r.status < 200 or r.status in (204, 304):
            pass
        elif te:
            assert te == "chunked", f"unexpected Transfer-Encoding {te!r}"
            assert cl is None, "both Content-Length and Transfer-Encoding in a response"
            r.chunks = []
            body = bytearray()
            while True:
                size_line = self._line(raw).decode("latin-1")
                size = int(size_line.split(";")[0].strip(), 16)
                if size == 0:
                    break
                data = self._exact(size, raw)
                r.chunks.append(data)
                body += data
                assert self._line(raw) == b"", "chunk not followed by CRLF"
            while True:
                t = self._line(raw)
                if not t:
                    break
                k, _, v = t.decode("latin-1").partition(":")
                r.trailers.append((k, v.strip()))
            r.body = bytes(body)
        elif cl is not None:
            assert len(r.header_all("content-length")) == 1, "several Content-Length headers"
            r.body = self._exact(int(cl), raw)
        else:
            while self._fill():
                pass
            r.body, self.buf = self.buf, b""
            raw += r.body
        r.raw = bytes(raw)
        return r

    def request(self, method, target, headers=None, body=None, version="HTTP/1.1", host="test"):
        self.send(build_request(method, target, headers, body, version, host))
        r = self.read_response(head=(method == "HEAD"))
        while 100 <= r.status < 200 and r.status != 101:
            r = self.read_response(head=(method == "HEAD"))
        return r

    def get(self, target, **kw):
        return self.request("GET", target, **kw)

    def read_all(self, timeout=TIMEOUT) -> bytes:
        """Everything until EOF (bounded by `timeout`)."""
        self.sock.settimeout(timeout)
        while self._fill():
            pass
        out, self.buf = self.buf, b""
        return out

    def closed_within(self, timeout) -> bool:
        """True if the server closes the connection within `timeout` seconds
        without sending anything more (data arriving is an assertion error)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                b = self.sock.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError):
                return True
            if not b:
                self.eof = True
                return True
            raise AssertionError(f"unexpected data while waiting for close: {b[:200]!r}")

    def still_open(self, wait=0.3) -> bool:
        """True if nothing arrives and the connection is not closed within `wait`."""
        return not self.closed_within(wait)


def raw_exchange(port, data: bytes, head=False, timeout=TIMEOUT):
    """Sends raw bytes on a fresh connection and reads one response."""
    with Conn(port, timeout=timeout) as c:
        c.send(data)
        return c.read_response(head=head)


def assert_error(r: Response, status: int, name: str | None = None, message=None):
    """The common error shape: {"error": "<name>", "message": "..."}."""
    assert r.status == status, r
    assert r.header("content-type") == "application/json", r
    body = r.json()
    assert set(body) >= {"error", "message"}, body
    if name is not None:
        assert body["error"] == name, body
    assert isinstance(body["message"], str) and body["message"], body
    if message is not None:
        if isinstance(message, re.Pattern):
            assert message.search(body["message"]), body
        else:
            assert body["message"] == message, body
    return body

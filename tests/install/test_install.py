"""
Installing vial and starting a project of one's own, as a user would
(issue 14): `cmake --install` into a temporary prefix (and a DESTDIR),
`vial new`, building the new project with pkg-config and with CMake outside
its tree, its tests, serving it, and `vial run --debug` reloading it on a
source change, showing a build error on the page and recovering.

Uses $VIAL_BUILD_DIR (default <repo>/build), already built.  Every process
started here runs in its own session and is stopped by its pid; every wait
is bounded.
"""
from __future__ import annotations

import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("VIAL_BUILD_DIR") or (REPO / "build")).resolve()
BUILD_TIMEOUT = 300  # a cold CMake configure + build of the project on a loaded machine
START_TIMEOUT = 20


def _sanitized() -> bool:
    try:
        cache = (BUILD / "CMakeCache.txt").read_text(errors="replace")
    except OSError:
        return False
    return re.search(r"^VIAL_SANITIZE:BOOL=(ON|1|TRUE|YES)$", cache, re.M | re.I) is not None


# Against the ASan+UBSan build, what links the installed library is built
# with the same flags (cc commands here, CMake through CFLAGS/LDFLAGS, which
# `vial` passes on), and every process must exit clean: no leak, no report.
SAN = "-fsanitize=address,undefined" if _sanitized() else ""


def sh(cmd, cwd=None, env=None, timeout=BUILD_TIMEOUT, check=True):
    r = subprocess.run(cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), capture_output=True,
                       text=True, timeout=timeout)
    if check and r.returncode != 0:
        pytest.fail(f"{cmd} failed ({r.returncode}):\n{r.stdout[-4000:]}\n{r.stderr[-4000:]}", pytrace=False)
    return r


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def user_env(prefix: pathlib.Path | None = None, **extra) -> dict:
    """The environment of a user's shell: none of vial's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("VIAL_") and k not in ("HOST", "PORT", "DATABASE_URL", "REDIS_URL",
                                                      "SECRET_KEY", "PKG_CONFIG_PATH", "CMAKE_PREFIX_PATH")}
    if prefix:
        env["PATH"] = f"{prefix}/bin:{env['PATH']}"
    if SAN:
        env["CFLAGS"] = env["LDFLAGS"] = SAN
        env["ASAN_OPTIONS"] = "detect_leaks=1:abort_on_error=0:halt_on_error=1"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def prefix():
    """vial installed into a temporary prefix (install_manifest.txt of the
    build is kept as it was: a developer's own `make uninstall` still works)."""
    for name in ("libvial.so", "libvial.a", "vial-server", "vial", "man/vial-server.1"):
        if not (BUILD / name).exists():
            pytest.fail(f"{BUILD / name} missing: build first", pytrace=False)
    manifest = BUILD / "install_manifest.txt"
    saved = manifest.read_bytes() if manifest.exists() else None
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vial-install-"))
    try:
        sh(["cmake", "--install", str(BUILD), "--prefix", str(tmp / "prefix")])
        yield tmp / "prefix"
    finally:
        if saved is None:
            manifest.unlink(missing_ok=True)
        else:
            manifest.write_bytes(saved)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def project(prefix):
    """`vial new notes` in a temporary folder."""
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="vial-project-"))
    try:
        r = sh([str(prefix / "bin/vial"), "new", "notes"], cwd=tmp, env=user_env())
        assert "Created notes/" in r.stdout
        assert "/build/" in (tmp / "notes/.gitignore").read_text()
        assert not (tmp / "notes/gitignore").exists()
        yield tmp / "notes"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Proc:
    """A process in its own session, stopped by pid (SIGTERM, then SIGKILL)."""

    def __init__(self, args, cwd, env, log):
        self.log = log
        self.p = subprocess.Popen(args, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                  stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)  # its own session: only what it started
                self.p.wait(timeout=5)
        out = self.output()
        for marker in ("ERROR: AddressSanitizer", "runtime error:", "LeakSanitizer"):
            assert marker not in out, out[-6000:]
        return self.p.returncode

    def output(self):
        return pathlib.Path(self.log).read_text(errors="replace")


def wait_http(url, proc: Proc, timeout=START_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.p.poll() is not None:
            pytest.fail(f"exited with {proc.p.returncode}:\n{proc.output()[-4000:]}", pytrace=False)
        try:
            return requests.get(url, timeout=5)
        except (requests.ConnectionError, requests.Timeout):
            # not listening yet; or `vial run --debug`'s socket, queueing
            # requests while the first build runs
            time.sleep(0.1)
    pytest.fail(f"{url} not answering after {timeout}s:\n{proc.output()[-4000:]}", pytrace=False)


# ------------------------------------------------------------------ the installed tree


def test_layout(prefix):
    lib = prefix / "lib"
    so = lib / "libvial.so.0.1.0"
    assert so.is_file() and not so.is_symlink()
    assert os.readlink(lib / "libvial.so.0") == "libvial.so.0.1.0"
    assert os.readlink(lib / "libvial.so") == "libvial.so.0"
    assert "SONAME               libvial.so.0" in sh(["objdump", "-p", str(so)]).stdout
    for f in ("lib/libvial.a", "include/vial.h", "lib/pkgconfig/vial.pc",
              "lib/cmake/vial/vialConfig.cmake", "lib/cmake/vial/vialConfigVersion.cmake",
              "share/vial/apps/dashboard/templates/base.html",
              "share/vial/apps/logs/migrations/sqlite", "share/vial/apps/users/migrations/postgresql",
              "share/vial/static", "share/vial/skeleton/CMakeLists.txt",
              "share/man/man1/vial-server.1", "share/man/man1/vial.1", "share/man/man7/vial.7"):
        assert (prefix / f).exists(), f
    for b in ("vial", "vial-server"):
        assert os.access(prefix / "bin" / b, os.X_OK)
    # Nothing private is installed: one header.
    assert [p.name for p in (prefix / "include").iterdir()] == ["vial.h"]


def test_man_pages(prefix):
    for page in ("man1/vial-server.1", "man1/vial.1", "man7/vial.7"):
        r = sh(["man", "--warnings", "-l", str(prefix / "share/man" / page)],
               env=user_env(MANWIDTH="100", MANPAGER="cat", PAGER="cat"))
        assert r.stderr.strip() == "", (page, r.stderr)
        assert len(r.stdout) > 2000
    # vial-server(1) lists every command and setting the binary has.
    text = sh(["man", "-l", str(prefix / "share/man/man1/vial-server.1")],
              env=user_env(MANWIDTH="200", MANPAGER="cat", PAGER="cat")).stdout
    helptext = sh([str(prefix / "bin/vial-server"), "help"], cwd=prefix, env=user_env()).stdout
    keys = re.findall(r"^  --([a-z0-9-]+)", helptext, re.M)
    assert len(keys) > 50
    for k in keys:
        assert f"--{k}" in text.replace("\u2010", "-"), k
    for cmd in ("run", "routes", "migrate", "createuser"):
        assert re.search(rf"^\s+{cmd}\b", text, re.M), cmd


def test_pkgconfig(prefix):
    env = user_env(PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig"))
    # The .pc is relocatable (${pcfiledir}/../..): compare normalized paths.
    r = [f[:2] + os.path.normpath(f[2:]) if f[:2] in ("-I", "-L") else f
         for f in sh(["pkg-config", "--cflags", "--libs", "vial"], env=env).stdout.split()]
    assert f"-I{prefix}/include" in r and f"-L{prefix}/lib" in r and "-lvial" in r
    static = sh(["pkg-config", "--static", "--libs", "vial"], env=env).stdout.split()
    for lib in ("-luv", "-linih", "-lsqlite3", "-lsodium", "-lhiredis", "-lz", "-ldl", "-lm"):
        assert lib in static, lib
    assert sh(["pkg-config", "--modversion", "vial"], env=env).stdout.strip() == "0.1.0"


def smoke_hello(exe: pathlib.Path, tmp: pathlib.Path):
    port = free_port()
    p = Proc([str(exe), "--port", str(port), "--workers", "1"], tmp, user_env(), tmp / "hello.log")
    try:
        r = wait_http(f"http://127.0.0.1:{port}/site/21", p)
        assert r.status_code == 200 and r.text == "Welcome, you are 21"
    finally:
        assert p.stop() == 0


def test_hello_with_pkgconfig_shared_and_static(prefix, tmp_path):
    env = user_env(PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig"))
    src = REPO / "examples/hello.c"
    sh(f'cc {SAN} -o hello {src} $(pkg-config --cflags --libs vial) -Wl,-rpath,{prefix}/lib', cwd=tmp_path, env=env)
    assert f"{prefix}/lib/libvial.so.0" in sh(["ldd", str(tmp_path / "hello")]).stdout
    smoke_hello(tmp_path / "hello", tmp_path)
    # Static: libvial.a and what pkg-config --static adds.
    sh(f'cc {SAN} -o hello-static {src} $(pkg-config --cflags vial) '
       f'$(pkg-config --static --libs vial | sed "s/-lvial /-l:libvial.a /")', cwd=tmp_path, env=env)
    assert "libvial" not in sh(["ldd", str(tmp_path / "hello-static")]).stdout
    smoke_hello(tmp_path / "hello-static", tmp_path)


def test_installed_server_finds_its_data(prefix, tmp_path):
    """Run from an unrelated folder, vial-server takes its pages, static files
    and migrations from <prefix>/share/vial, beside the binary."""
    helptext = sh([str(prefix / "bin/vial-server"), "help"], cwd=tmp_path, env=user_env()).stdout
    assert re.search(rf"--migrations-root .*\[default: {re.escape(str(prefix))}/bin/\.\./share/vial\]", helptext)
    port = free_port()
    p = Proc([str(prefix / "bin/vial-server"), "--port", str(port), "--debug", "--workers", "1",
              "--database-url", f"sqlite:///{tmp_path}/v.db"], tmp_path, user_env(), tmp_path / "server.log")
    try:
        r = wait_http(f"http://127.0.0.1:{port}/health", p)
        assert r.status_code == 200 and r.json()["status"] == "ok"
        r = requests.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert r.status_code == 200 and "<html" in r.text
        assert (prefix / "share/vial/static/css/app.css").is_file()
        assert requests.get(f"http://127.0.0.1:{port}/static/css/app.css", timeout=5).status_code == 200
        r = requests.post(f"http://127.0.0.1:{port}/api/register", timeout=10,
                          json={"username": "installed", "password": "a long enough password"})
        assert r.status_code == 201  # the users app's migrations were applied
    finally:
        assert p.stop() == 0


def test_destdir_relocatable_and_uninstall(tmp_path):
    """DESTDIR stages the tree; the staged tree works where it is; uninstall
    removes exactly the manifest's files and our own folders."""
    manifest = BUILD / "install_manifest.txt"
    saved = manifest.read_bytes() if manifest.exists() else None
    stage = tmp_path / "stage"
    try:
        sh(["cmake", "--install", str(BUILD), "--prefix", "/opt/vialtest"], env=user_env(DESTDIR=str(stage)))
        listed = manifest.read_text().split("\n")
        root = stage / "opt/vialtest"
        files = sorted("/" + str(p.relative_to(stage)) for p in root.rglob("*") if not p.is_dir())
        assert sorted(x for x in listed if x) == files  # listed without DESTDIR
        r = sh([str(root / "bin/vial"), "version"], env=user_env())
        assert f"prefix {root}" in r.stdout and f"data {root}/share/vial" in r.stdout
        (root / "lib/keep-me").write_text("not ours")  # a file of someone else's
        sh(["cmake", f"-DMANIFEST={manifest}", "-P", str(REPO / "cmake/uninstall.cmake")],
           env=user_env(DESTDIR=str(stage)))
        left = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        assert "lib/keep-me" in left
        assert not [x for x in left if "vial" in x], left  # share/vial, lib/cmake/vial gone
        assert all((root / x).is_dir() for x in left if x != "lib/keep-me")
        assert not manifest.exists()
    finally:
        if saved is not None:
            manifest.write_bytes(saved)


def test_cmake_package_version(prefix, tmp_path):
    """find_package(vial 0.1) finds it; an incompatible version does not."""
    for want, ok in (("0.1", True), ("0.1.0", True), ("0.2", False), ("1.0", False)):
        d = tmp_path / want
        d.mkdir()
        (d / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.16)\nproject(p C)\n"
            f"find_package(vial {want} REQUIRED)\n"
            "if(NOT TARGET vial::vial OR NOT TARGET vial::vial_static)\n  message(FATAL_ERROR no)\nendif()\n")
        r = sh(["cmake", "-S", str(d), "-B", str(d / "b"), f"-DCMAKE_PREFIX_PATH={prefix}"], check=False)
        assert (r.returncode == 0) == ok, (want, r.stderr[-2000:])


# ------------------------------------------------------------------ a project of one's own


def test_new_refuses_bad_names_and_existing_folders(prefix, tmp_path):
    vial = str(prefix / "bin/vial")
    for bad in ("Notes", "1x", "a b", "x/y", ""):
        r = sh([vial, "new", bad], cwd=tmp_path, env=user_env(), check=False)
        assert r.returncode != 0 and "not a project name" in r.stderr, bad
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken/file").write_text("x")
    r = sh([vial, "new", "taken"], cwd=tmp_path, env=user_env(), check=False)
    assert r.returncode != 0 and "not empty" in r.stderr


def test_project_cmake_out_of_tree_and_tests(prefix, project, tmp_path):
    """CMake outside the project's tree, as any CMake user would; ctest passes."""
    b = tmp_path / "build-notes"
    sh(["cmake", "-S", str(project), "-B", str(b), f"-DCMAKE_PREFIX_PATH={prefix}"], env=user_env())
    sh(["cmake", "--build", str(b), "-j2"], env=user_env())
    r = sh(["ctest", "--test-dir", str(b), "--output-on-failure"], env=user_env())
    assert "100% tests passed" in r.stdout
    # `vial test` does the same in build/, finding the prefix by itself.
    r = sh([str(prefix / "bin/vial"), "test"], cwd=project, env=user_env())
    assert "100% tests passed" in r.stdout
    r = sh([str(prefix / "bin/vial"), "routes"], cwd=project, env=user_env())
    for rule in ("/api/notes/<int:id>", "pages.add_note", "api.create_note"):
        assert rule in r.stdout
    # migrate applies the project's migration to data/notes.db (vial.ini);
    # dbshell opens that file in sqlite3.
    shutil.rmtree(project / "data", ignore_errors=True)
    r = sh([str(prefix / "bin/vial"), "migrate"], cwd=project, env=user_env())
    assert "0001_notes.sql" in r.stdout
    r = subprocess.run([str(prefix / "bin/vial"), "dbshell"], cwd=project, env=user_env(),
                       input="SELECT count(*) FROM notes;\n", capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr


def test_project_pkgconfig_serves(prefix, project, tmp_path):
    """cc + pkg-config, then the app's routes over HTTP: JSON, the page, the form."""
    env = user_env(PKG_CONFIG_PATH=str(prefix / "lib/pkgconfig"))
    exe = tmp_path / "notes"
    sh(f"cc {SAN} -Wall -Wextra -Werror -o {exe} src/app.c src/main.c -Isrc "
       f"$(pkg-config --cflags --libs vial) -Wl,-rpath,{prefix}/lib", cwd=project, env=env)
    port = free_port()
    db = tmp_path / "notes.db"
    p = Proc([str(exe), "--port", str(port), "--database-url", f"sqlite:///{db}"], project,
             user_env(SECRET_KEY="k" * 40), tmp_path / "notes.log")
    base = f"http://127.0.0.1:{port}"
    try:
        r = wait_http(base + "/api/notes", p)
        assert r.status_code == 200 and r.json() == []
        r = requests.post(base + "/api/notes", json={"text": "from the API"}, timeout=5)
        assert r.status_code == 201 and r.json()["text"] == "from the API"
        nid = r.json()["id"]
        r = requests.get(f"{base}/api/notes/{nid}", timeout=5)
        assert r.status_code == 200 and r.json()["text"] == "from the API"
        r = requests.get(base + "/api/notes/999", timeout=5)
        assert r.status_code == 404 and r.json()["error"] == "not_found_404"
        r = requests.post(base + "/api/notes", json={"text": ""}, timeout=5)
        assert r.status_code == 400 and "text" in r.json()["fields"]
        s = requests.Session()
        page = s.get(base + "/", timeout=5)
        assert page.status_code == 200 and "from the API" in page.text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        r = s.post(base + "/notes", data={"csrf_token": token, "text": "from the form"},
                   allow_redirects=False, timeout=5)
        assert r.status_code == 303 and r.headers["Location"] == "/"
        assert "from the form" in s.get(base + "/", timeout=5).text
        r = requests.post(base + "/notes", data={"text": "no token"}, allow_redirects=False, timeout=5)
        assert r.status_code == 403
        css = requests.get(base + "/static/style.css", timeout=5)
        assert css.status_code == 200 and "text/css" in css.headers["Content-Type"]
    finally:
        assert p.stop() == 0


# ------------------------------------------------------------------ vial run --debug


def edit(path: pathlib.Path, old: str, new: str):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def save(proc: Proc, path: pathlib.Path, old: str, new: str):
    """Edits a source as an editor saves it, then waits (bounded) until the
    watcher has noticed: it logs "building" only after it stopped the old
    app, so from then on no request can reach the old code."""
    before = proc.output().count(" * building ")
    edit(path, old, new)
    deadline = time.monotonic() + 30
    while proc.output().count(" * building ") <= before:
        assert time.monotonic() < deadline, proc.output()[-3000:]
        time.sleep(0.05)


def test_debug_reload(prefix, project, tmp_path):
    """Edit a source: the next request sees the change; a syntax error shows
    the compiler's message on the page; fixing it serves again; an app that
    builds but exits at start shows its own message.  The listening socket
    is the watcher's throughout: no request is refused."""
    port = free_port()
    shutil.rmtree(project / "data", ignore_errors=True)
    p = Proc([str(prefix / "bin/vial"), "run", "--debug", "--port", str(port)], project,
             user_env(), tmp_path / "run.log")
    base = f"http://127.0.0.1:{port}"
    app = project / "src/app.c"
    try:
        r = wait_http(base + "/api/notes/1", p, timeout=BUILD_TIMEOUT)
        assert r.status_code == 404 and r.json()["message"] == "no such note"

        save(p, app, '"no such note"', '"no such note, edited"')
        r = requests.get(base + "/api/notes/1", timeout=BUILD_TIMEOUT)
        assert r.status_code == 404 and r.json()["message"] == "no such note, edited"

        save(p, app, "return vial_jw_finish(w);\n}", "return vial_jw_finish(w)\n}")  # a missing ;
        r = requests.get(base + "/api/notes/1", timeout=BUILD_TIMEOUT)
        assert r.status_code == 500 and r.headers["Content-Type"].startswith("text/html")
        assert "Build failed" in r.text
        assert re.search(r"app\.c:\d+:\d+: error: expected (&#39;|‘);(&#39;|’)", r.text), r.text[-3000:]
        # Served again on every request until the next build.
        assert requests.get(base + "/", timeout=10).status_code == 500

        save(p, app, "return vial_jw_finish(w)\n}", "return vial_jw_finish(w);\n}")
        r = requests.get(base + "/api/notes/1", timeout=BUILD_TIMEOUT)
        assert r.status_code == 404 and r.json()["message"] == "no such note, edited"
        assert requests.get(base + "/", timeout=10).status_code == 200

        # It builds, but the app refuses to start: its own message is the page.
        save(p, app, '"/notes/<int:id>"', '"/notes/<bad:id>"')
        r = requests.get(base + "/api/notes/1", timeout=BUILD_TIMEOUT)
        assert r.status_code == 500 and "The app exited" in r.text
        assert "unknown converter" in r.text
        save(p, app, '"/notes/<bad:id>"', '"/notes/<int:id>"')
        assert requests.get(base + "/api/notes/1", timeout=BUILD_TIMEOUT).status_code == 404
    finally:
        edit_back = app.read_text().replace('"no such note, edited"', '"no such note"')
        app.write_text(edit_back)
        assert p.stop() == 0
    out = p.output()
    assert "sockets handed over" in out
    assert out.count("starting build/notes") >= 5


def test_single_file_run(prefix, tmp_path):
    """`vial run hello.c`: one file, built with cc and pkg-config into .vial/."""
    shutil.copy(REPO / "examples/hello.c", tmp_path / "hello.c")
    port = free_port()
    p = Proc([str(prefix / "bin/vial"), "run", "hello.c", "--port", str(port), "--workers", "1"],
             tmp_path, user_env(CC=f"cc {SAN}" if SAN else "cc"), tmp_path / "hello.log")
    try:
        r = wait_http(f"http://127.0.0.1:{port}/site/21", p, timeout=BUILD_TIMEOUT)
        assert r.status_code == 200 and r.text == "Welcome, you are 21"
    finally:
        assert p.stop() == 0
    assert (tmp_path / ".vial/hello").is_file()

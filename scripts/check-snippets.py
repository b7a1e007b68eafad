#!/usr/bin/python3
"""Compiles every C snippet of the documentation against the build's libvial.

usage: check-snippets.py --lib-dir DIR [--cc CC] [--cflags "..."] [--work DIR] FILE.md...

A fenced block whose info string starts with `c` is a snippet; the words after it say
what it is:

    ```c            a complete program: compiled, linked, and run as `prog routes`
                    (its routes must register: a malformed pattern or a duplicate
                    fails), in a scratch directory with a SECRET_KEY set.  When a
                    ```sh block follows (before the next C block), its lines `curl [-X M] localhost:5000/path
                    [-d 'form'] [-H 'Name: value']   # → text` are checked too
                    (and `python3 -m websockets ws://localhost:5000/path  # → text`:
                    the first message): the program is started on
                    a free port and each answer must contain its text (up to a
                    final "...")
    ```c fragment   file-scope code (handlers, schemas, callbacks) that a page shows
                    out of its program: compiled (-c) after `#include <vial.h>` and the
                    usual libc headers, unused static functions allowed
    ```c test       a cmocka test program: compiled, linked with cmocka, and run;
                    it must exit 0

Programs run in a scratch directory holding the files the page shows: a
block (any language) whose first line is a `file:` comment — `-- file: migrations/blog/
sqlite/0001_posts.sql`, `{# file: templates/hello.html #}` — is written there under that
path, so templates and migrations are tested as printed.

Every snippet is compiled with -Wall -Wextra -Werror (and the --cflags given, the
project's warning set), against include/vial.h next to this script and the libvial.so
in --lib-dir.  Prints one line per snippet, "N snippets, N failed" last; exits 1 if any
failed.  Blocks in other languages are not checked (```sh, ```jinja, ```nginx, ...).
"""
import argparse
import concurrent.futures
import os
import re
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELUDE = """#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vial.h>
"""


CURL = re.compile(r"^curl\s+(?:-X\s+(\w+)\s+)?localhost:5000(\S*)(?:\s+-d\s+'([^']*)')?"
                  r"((?:\s+-H\s+'[^']*')*)\s+#\s*→\s*(.+?)\s*$")


WS = re.compile(r"^python3 -m websockets\s+'?ws://localhost:5000([^'\s]*)'?\s+#\s*→\s*(.+?)\s*$")
FILE = re.compile(r"^(?:--|\{#|#)\s*file:\s*(\S+)")


def snippets(path):
    """Yields (line, kind, code, requests, files) for each ```c block of a Markdown file;
    `requests` are the (method, path, form body, headers, expected text) of the curl lines
    in the first ```sh block after a program (before the next C block), if there is one;
    `files` maps the paths of the page's blocks that start with a `file:` comment
    (`-- file: migrations/x.sql`, `{# file: templates/x.html #}`) to their text."""
    lines = open(path, encoding="utf-8").read().split("\n")
    blocks = []  # (fence line, info, body lines)
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\S*)(.*)$", lines[i])
        if m:
            indent, start = len(m.group(1)), i + 1
            body = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
                i += 1
            blocks.append((start, (m.group(2) + " " + m.group(3)).split(), body))
        i += 1
    files = {}  # every file the page shows, wherever it shows it
    for start, info, body in blocks:
        f = FILE.match(body[0]) if body else None
        if f:
            if f.group(1) in files:
                sys.exit(f"{path}:{start}: the page shows {f.group(1)} twice")
            files[f.group(1)] = "\n".join(body) + "\n"
    for n, (start, info, body) in enumerate(blocks):
        if not info or info[0] != "c":
            continue
        kind = info[1] if len(info) > 1 else "program"
        reqs = []
        sh = None  # the first ```sh block after the program, before the next C block
        for m in range(n + 1, len(blocks)):
            if blocks[m][1][:1] == ["c"]:
                break
            if blocks[m][1][:1] == ["sh"]:
                sh = blocks[m][2]
                break
        if kind == "program" and sh:
            for line in sh:
                c, w = CURL.match(line.strip()), WS.match(line.strip())
                if w:  # a WebSocket: its first message must hold the text
                    reqs.append(("WS", w.group(1) or "/", None, {}, w.group(2)))
                elif c:
                    headers = dict(h.split(": ", 1) for h in re.findall(r"-H\s+'([^']*)'", c.group(4)))
                    reqs.append((c.group(1) or ("POST" if c.group(3) is not None else "GET"),
                                 c.group(2) or "/", c.group(3), headers, c.group(5)))
                elif "# →" in line:  # a promise this checker cannot check: say so
                    reqs.append((None, line.strip(), None, None, None))
        yield start, kind, "\n".join(body) + "\n", reqs, files  # start: the fence's line


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_ws_message(port, path, expected):
    """Connects a WebSocket client (python3-websockets) and checks its first message."""
    import asyncio
    import websockets

    async def go():
        async with websockets.connect(f"ws://127.0.0.1:{port}{path}") as ws:
            return await ws.recv()

    try:
        got = asyncio.run(asyncio.wait_for(go(), 10))
    except Exception as e:  # refused handshake, timeout ...
        return f"WebSocket {path}: {e!r}"
    got = got.decode("utf-8", "replace") if isinstance(got, bytes) else got
    expected = expected[:-3] if expected.endswith("...") else expected
    return None if expected in got else f"WebSocket {path}: expected '{expected}' first, got '{got[:300]}'"


def serve_and_request(argv, cwd, env, reqs):
    """Starts the program on a free port, makes the requests, stops it with SIGTERM.
    Returns None, or what went wrong."""
    port = free_port()
    log = open(os.path.join(cwd, "server.log"), "w+")
    p = subprocess.Popen(argv + ["--port", str(port), "--workers", "1", "--no-access-log"],
                         cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while True:
            if p.poll() is not None:
                return f"exited at start ({p.returncode})"
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    return "did not listen within 10 s"
                time.sleep(0.05)
        for method, path, form, headers, expected in reqs:
            if method is None:
                return f"cannot check `{path}`: write it as curl [-X M] localhost:5000/path " \
                       "[-d '...'] [-H '...'] # → text, or drop the arrow"
            if method == "WS":
                why = first_ws_message(port, path, expected)
                if why:
                    return why
                continue
            data = form.encode() if form is not None else None
            rq = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method,
                                        headers=headers)
            try:
                with urllib.request.urlopen(rq, timeout=10) as r:
                    body = r.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as e:
                body = e.read().decode("utf-8", "replace")
            if expected.endswith("..."):  # "# {"error":"not_found_404",...": a start is enough
                expected = expected[:-3]
            if expected not in body:
                return f"curl {method} {path}: expected '{expected}' in the body, got '{body[:300]}'"
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            return "did not stop within 10 s of SIGTERM"
        if p.returncode:  # in the sanitizer build, also LeakSanitizer's verdict
            log.seek(0)
            return f"exited {p.returncode} on SIGTERM:\n{log.read()[-3000:]}"
        return None
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()


def pkg(*args):
    return shlex.split(subprocess.run(["pkg-config", *args], capture_output=True, text=True,
                                      check=True).stdout)


def check(job, opts, work):
    path, line, kind, code, reqs, files = job
    rel = os.path.relpath(path, ROOT)
    name = f"{rel}:{line}"  # compiler messages name the Markdown file and its lines
    base = os.path.join(work, re.sub(r"\W", "_", name))
    src = base + ".c"
    if kind not in ("program", "fragment", "test"):
        return name, False, f"unknown snippet kind '{kind}' (program, fragment, test)"
    with open(src, "w") as f:
        if kind == "fragment":
            f.write(PRELUDE + f'#line {line + 1} "{rel}"\n' + code)
        else:
            f.write(f'#line {line + 1} "{rel}"\n' + code)
    cflags = ["-std=gnu11", "-Wall", "-Wextra", "-Werror", *shlex.split(opts.cflags),
              "-I", os.path.join(ROOT, "include"), *pkg("--cflags", "jansson")]
    if kind == "fragment":
        cmd = [opts.cc, *cflags, "-Wno-unused-function", "-Wno-missing-prototypes", "-c", src,
               "-o", base + ".o"]
    else:
        libs = ["-L", opts.lib_dir, "-lvial", "-Wl,-rpath," + opts.lib_dir, *pkg("--libs", "jansson")]
        if kind == "test":
            cflags += pkg("--cflags", "cmocka")
            libs += pkg("--libs", "cmocka")
        cmd = [opts.cc, *cflags, src, "-o", base, *libs]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if r.returncode:
        return name, False, "does not compile:\n" + r.stderr[-4000:]
    if kind == "fragment":
        return name, True, "compiles"
    scratch = tempfile.mkdtemp(dir=work)
    for rel_path, text in files.items():  # the page's files (templates, migrations) as shown
        target = os.path.join(scratch, rel_path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as f:
            f.write(text)
    # make test's CMOCKA_* settings are for its own suites, not for the tutorial's test
    env = {k: v for k, v in os.environ.items() if not k.startswith("CMOCKA_")}
    env.update(SECRET_KEY="snippet-check-" + "k" * 32, LOG_LEVEL="warn")
    argv = [base] if kind == "test" else [base, "routes"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=scratch, env=env)
    except subprocess.TimeoutExpired:
        return name, False, "did not finish within 60 s"
    if r.returncode:
        return name, False, f"`{' '.join(os.path.basename(a) for a in argv)}` exited {r.returncode}:\n" + \
            (r.stdout + r.stderr)[-4000:]
    if kind == "test":
        return name, True, "runs its tests"
    if reqs:
        why = serve_and_request([base, "run"], scratch, env, reqs)
        if why:
            return name, False, why
        return name, True, f"compiles, links, registers its routes, answers its {len(reqs)} curl lines"
    return name, True, "compiles, links, registers its routes"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lib-dir", required=True, help="the directory holding libvial.so")
    ap.add_argument("--cc", default=os.environ.get("CC", "cc"))
    ap.add_argument("--cflags", default="", help="more compiler (and sanitizer) flags")
    ap.add_argument("--work", help="where to build (default: a temporary directory)")
    ap.add_argument("files", nargs="+")
    opts = ap.parse_args()
    opts.lib_dir = os.path.abspath(opts.lib_dir)
    jobs = [(os.path.abspath(p), *s) for p in opts.files for s in snippets(p)]
    work = opts.work or tempfile.mkdtemp(prefix="vial-snippets-")
    os.makedirs(work, exist_ok=True)
    failed = 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for name, ok, what in pool.map(lambda j: check(j, opts, work), jobs):
            print(f"{'ok  ' if ok else 'FAIL'} {name}: {what}")
            failed += not ok
    print(f"{len(jobs)} snippets, {failed} failed")
    if not opts.work:
        subprocess.run(["rm", "-rf", work])
    return 1 if failed or not jobs else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Compiles every C snippet of the documentation against the build's libvial.

usage: check-snippets.py --lib-dir DIR [--cc CC] [--cflags "..."] [--work DIR] FILE.md...

A fenced block whose info string starts with `c` is a snippet; the words after it say
what it is:

    ```c            a complete program: compiled, linked, and run as `prog routes`
                    (its routes must register: a malformed pattern or a duplicate
                    fails), in a scratch directory with a SECRET_KEY set
    ```c fragment   file-scope code (handlers, schemas, callbacks) that a page shows
                    out of its program: compiled (-c) after `#include <vial.h>` and the
                    usual libc headers, unused static functions allowed
    ```c test       a cmocka test program: compiled, linked with cmocka, and run;
                    it must exit 0

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
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PRELUDE = """#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vial.h>
"""


def snippets(path):
    """Yields (line, kind, code) for each ```c block of a Markdown file."""
    lines = open(path, encoding="utf-8").read().split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```c(?:\s+(\w+))?\s*$", lines[i])
        if m:
            indent, kind, start = len(m.group(1)), m.group(2) or "program", i + 1
            body = []
            i += 1
            while i < len(lines) and not re.match(r"^\s*```\s*$", lines[i]):
                body.append(lines[i][indent:] if lines[i][:indent].isspace() else lines[i])
                i += 1
            yield start, kind, "\n".join(body) + "\n"  # start: the fence's line number
        i += 1


def pkg(*args):
    return shlex.split(subprocess.run(["pkg-config", *args], capture_output=True, text=True,
                                      check=True).stdout)


def check(job, opts, work):
    path, line, kind, code = job
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
    env = {**os.environ, "SECRET_KEY": "snippet-check-" + "k" * 32, "LOG_LEVEL": "warn"}
    argv = [base] if kind == "test" else [base, "routes"]
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=scratch, env=env)
    except subprocess.TimeoutExpired:
        return name, False, "did not finish within 60 s"
    if r.returncode:
        return name, False, f"`{' '.join(os.path.basename(a) for a in argv)}` exited {r.returncode}:\n" + \
            (r.stdout + r.stderr)[-4000:]
    return name, True, "runs its tests" if kind == "test" else "compiles, links, registers its routes"


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

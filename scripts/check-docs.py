#!/usr/bin/python3
"""Keeps the documentation's promises about the API true.

usage: check-docs.py [ROOT]          (default: the checkout this script is in)

1. Every "coming from Flask" table (a Markdown table whose first header cell names Flask,
   in README.md and docs/*.md) names only vial identifiers that include/vial.h declares.
   `vial_jw_*` stands for any name with that prefix; `vial_backoff_check/fail/clear` for
   vial_backoff_check, vial_backoff_fail and vial_backoff_clear.
2. Every vial identifier in the inline code of docs/tutorial.md exists in vial.h too
   (its code blocks are compiled by check-snippets.py).
3. The hello world in README.md is examples/hello.c, as it says (without the file's
   opening comment), and the tutorial's minimal application (compiled and run by
   check-snippets.py) is at most 10 lines and is the one README shows.

Prints each problem and exits 1, or prints what it checked and exits 0.
"""
import glob
import os
import re
import sys

IDENT = re.compile(r"\b((?:vial|VIAL)_\w*)(\*|(?:/\w+)+)?")
# Names in prose that are not C identifiers of the API: SQL tables, metrics, settings.
NOT_API = {"vial_sessions", "vial_sequences", "vial_build_info"}


def header_names(path):
    """Every vial_ name that occurs in the header's code (comments stripped), and every
    VIAL_ name anywhere in it: environment variables (VIAL_MAX_BODY) are documented in
    its comments."""
    text = open(path, encoding="utf-8").read()
    code = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return set(re.findall(r"\bvial_\w+", code)) | set(re.findall(r"\bVIAL_\w+", text))


def expand(m):
    """The names one mention stands for, and whether it is a prefix (`vial_jw_*`)."""
    name, tail = m.group(1), m.group(2) or ""
    if tail == "*":
        return [name], True
    if tail.startswith("/"):
        stem = name.rsplit("_", 1)[0] + "_"
        return [name] + [stem + alt for alt in tail.strip("/").split("/")], False
    return [name], False


def check_mentions(where, text, names, problems):
    n = 0
    for m in IDENT.finditer(text):
        found, prefix = expand(m)
        for name in found:
            if name in NOT_API or name in ("vial_", "VIAL_"):
                continue
            n += 1
            ok = any(h.startswith(name) for h in names) if prefix else name in names
            if not ok:
                problems.append(f"{where}: `{name}{'*' if prefix else ''}` is not in include/vial.h")
    return n


def flask_tables(path):
    """Yields (line number, row text) for the body rows of tables headed by Flask."""
    lines = open(path, encoding="utf-8").read().split("\n")
    in_table = False
    for i, line in enumerate(lines):
        if not line.startswith("|"):
            in_table = False
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        if not in_table and i + 1 < len(lines) and re.match(r"^\|[-:| ]+\|$", lines[i + 1]):
            in_table = "flask" in cells[0].lower()
            continue
        if in_table and not re.match(r"^\|[-:| ]+\|$", line):
            yield i + 1, " | ".join(cells[1:])


def main():
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    names = header_names(os.path.join(root, "include", "vial.h"))
    problems = []
    rows = mentions = 0
    for md in [os.path.join(root, "README.md")] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))):
        rel = os.path.relpath(md, root)
        for line, row in flask_tables(md):
            rows += 1
            mentions += check_mentions(f"{rel}:{line}", row, names, problems)
    if rows == 0:
        problems.append("no Flask table found in README.md or docs/")

    tutorial = os.path.join(root, "docs", "tutorial.md")
    text = open(tutorial, encoding="utf-8").read()
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    spans = 0
    for i, line in enumerate(prose.split("\n")):
        for span in re.findall(r"`([^`]+)`", line):
            spans += check_mentions(f"docs/tutorial.md (prose) `{span}`", span, names, problems)

    readme = open(os.path.join(root, "README.md"), encoding="utf-8").read()
    first = re.search(r"```c\n(.*?)```", readme, flags=re.S)
    hello = open(os.path.join(root, "examples", "hello.c"), encoding="utf-8").read()
    hello_code = re.sub(r"\A/\*.*?\*/\n", "", hello, flags=re.S)
    if not first or first.group(1) != hello_code:
        problems.append("README.md: the first C block is not examples/hello.c (after its opening comment)")

    # The one-route hello the tutorial opens with stays as short as Flask's (issue 14).
    first_c = re.search(r"```c\n(.*?)```", text, flags=re.S)
    hello_lines = first_c.group(1).rstrip("\n").count("\n") + 1 if first_c else 0
    if not first_c or "vial_main" not in first_c.group(1) or hello_lines > 10:
        problems.append(f"docs/tutorial.md: the minimal application is {hello_lines} lines (at most 10)")
    elif first_c.group(1) not in re.findall(r"```c\n(.*?)```", readme, flags=re.S):
        problems.append("README.md: the ten-line hello is not the tutorial's minimal application")

    for p in problems:
        print(p)
    print(f"{rows} Flask table rows ({mentions} names), {spans} names in the tutorial's prose, "
          f"README hello: {'differs' if any(p.startswith('README.md: the first') for p in problems) else 'same'}, "
          f"minimal app: {hello_lines} lines; "
          f"{len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

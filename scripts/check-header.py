#!/usr/bin/python3
"""Checks the ownership rule of include/vial.h (issue 10, item 4).

usage: check-header.py [HEADER]        (default: include/vial.h next to this script)

Every function declared VIAL_API that returns a pointer must carry its own
comment — immediately above the declaration, nothing but comment lines in
between — that says who owns what it returns, with one of the words the
header's conventions define:

    Arena, Borrowed, Static, Owned by, New reference, Steals, caller frees

and a function whose name ends in `_malloc` must say the caller frees (its
result or what it stores).  Prints one line per declaration that breaks the
rule and exits 1; exits 0 when every pointer-returning function complies.
"""
import os
import re
import sys

WORDS = ("arena", "borrowed", "static", "owned by", "new reference", "steals",
         "caller frees")


def declarations(lines):
    """Yields (line number, name, comment text) for each pointer-returning
    VIAL_API function; the comment is the run of comment lines right above."""
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("VIAL_API"):
            # The declaration may span lines up to the ';'.
            decl = line
            j = i
            while ";" not in decl and j + 1 < len(lines):
                j += 1
                decl += " " + lines[j].strip()
            m = re.match(r"VIAL_API\s+(?:VIAL_NODISCARD\s+)?([^(]*?)\b(vial_[a-z0-9_]+)\s*\(", decl)
            if m and "*" in m.group(1):
                k = i - 1
                comment = []
                in_block = False
                while k >= 0:
                    t = lines[k].strip()
                    if t.endswith("*/") or in_block:
                        comment.append(t)
                        in_block = not t.startswith("/*")
                        k -= 1
                        continue
                    break
                yield i + 1, m.group(2), " ".join(reversed(comment))
            i = j + 1
            continue
        i += 1


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..", "include", "vial.h")
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    bad = 0
    total = 0
    for lineno, name, comment in declarations(lines):
        total += 1
        text = re.sub(r"\s+", " ", comment.lower())
        why = None
        if not comment:
            why = "no comment of its own right above it"
        elif not any(w in text for w in WORDS):
            why = "its comment does not say who owns the result (%s)" % ", ".join(WORDS)
        elif name.endswith("_malloc") and "caller frees" not in text:
            why = "a _malloc function must say the caller frees"
        if why:
            bad += 1
            print("%s:%d: %s: %s" % (path, lineno, name, why))
    if bad:
        print("check-header: %d of %d pointer-returning functions break the ownership rule" % (bad, total))
        return 1
    print("check-header: %d pointer-returning functions state ownership" % total)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/python3
"""Counts test results from the JUnit XML reports of every suite.

usage: summarize.py REPORT_DIR [BROKEN_SUITE...]

A ctest entry whose cmocka XML exists counts as its individual cmocka test
cases (so a unit file with 20 cases counts 20); one that crashed before
writing XML, or whose cases passed while the process failed (a sanitizer
report at exit), counts as a failure.  A suite that could not be built
counts as one failure.  Prints a line per suite and, last, "N passed, N failed";
exits 1 if anything failed.
"""
import glob
import os
import sys
import xml.etree.ElementTree as ET


def cases(path):
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None
    out = []
    for tc in root.iter("testcase"):
        bad = tc.find("failure") is not None or tc.find("error") is not None
        skipped = tc.find("skipped") is not None
        name = (tc.get("classname") or "") + "::" + (tc.get("name") or "")
        out.append((name, "skip" if skipped and not bad else ("fail" if bad else "pass")))
    return out


def main():
    rdir = sys.argv[1]
    broken = sys.argv[2:]
    total_p = total_f = 0
    lines = []
    failures = []
    for ctest in sorted(glob.glob(os.path.join(rdir, "*-ctest.xml"))):
        suite = os.path.basename(ctest)[: -len("-ctest.xml")]
        p = f = 0
        for name, res in cases(ctest) or []:
            tname = name.split("::")[-1]
            cm = glob.glob(os.path.join(rdir, suite, "*.xml"))
            # cmocka names its XML after the group, which our tests name after the binary
            inner = None
            for x in cm:
                if os.path.basename(x)[:-4] == tname:
                    inner = cases(x)
            if inner:
                ip = sum(1 for _, r in inner if r == "pass")
                ifl = sum(1 for _, r in inner if r == "fail")
                failures += [f"{suite}: {n}" for n, r in inner if r == "fail"]
                if res == "fail" and ifl == 0:
                    ifl = 1
                    failures.append(f"{suite}: {tname} (process failed)")
                p += ip
                f += ifl
            elif res == "fail":
                f += 1
                failures.append(f"{suite}: {tname}")
            elif res == "pass":
                p += 1
        lines.append((suite, p, f))
    for x in sorted(glob.glob(os.path.join(rdir, "*.xml"))):
        if x.endswith("-ctest.xml"):
            continue
        suite = os.path.basename(x)[:-4]
        res = cases(x)
        if res is None:
            lines.append((suite, 0, 1))
            failures.append(f"{suite}: report unreadable")
            continue
        p = sum(1 for _, r in res if r == "pass")
        f = sum(1 for _, r in res if r == "fail")
        failures += [f"{suite}: {n}" for n, r in res if r == "fail"]
        lines.append((suite, p, f))
    for b in broken:
        lines.append((b, 0, 1))
        failures.append(f"{b}: could not be built")
    for suite, p, f in lines:
        print(f"  {suite:<14} {p:5d} passed {f:4d} failed")
        total_p += p
        total_f += f
    if failures:
        print("failed:")
        for fl in failures[:50]:
            print("  " + fl)
    print(f"{total_p} passed, {total_f} failed")
    sys.exit(1 if total_f or not total_p else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Doxygen INPUT_FILTER for include/vial.h: reads its plain C comments as documentation.

usage: doxygen-filter.py FILE        (prints the filtered text; doxygen calls it per input)

vial.h is written to be read as a header, with ordinary /* */ comments, and stays that way;
this filter turns them into what Doxygen looks for, keeping every line where it was (so
Doxygen's warnings point at the header's real lines):

  - the opening comment becomes the file's documentation (@file);
  - a comment directly above a declaration (no blank line between) documents it, and when
    the comment is followed by several declarations before the next blank line, they form
    one member group sharing it (DISTRIBUTE_GROUP_DOC: `vial_text`, `vial_textf`,
    `vial_html` under "All response calls return 0 ...");
  - a comment after code on the same line documents that member (/**< */): struct fields,
    enum values, typedefs;
  - the X-macro list of error codes is spelled out as the enum it expands to, each code
    documented with its message;
  - comments followed by a blank line (section titles, overviews) stay plain comments.
"""
import re
import sys

COMMENT_START = re.compile(r"^(\s*)/\*(?![*!])")
ERRNO = re.compile(r'^\s*X\((\w+),\s*(-?\d+),\s*"([^"]*)"\)')


def strip_comments(lines):
    """Each line's code with comments (also those spanning lines) and strings blanked."""
    out, inside = [], False
    for line in lines:
        code, k = [], 0
        while k < len(line):
            if inside:
                e = line.find("*/", k)
                if e < 0:
                    k = len(line)
                else:
                    inside, k = False, e + 2
            elif line.startswith("/*", k):
                inside, k = True, k + 2
            elif line[k] == '"':
                e = k + 1
                while e < len(line) and line[e] != '"':
                    e += 2 if line[e] == "\\" else 1
                code.append('""')
                k = e + 1
            else:
                code.append(line[k])
                k += 1
        out.append("".join(code))
    return out


def comment_end(lines, i):
    """The index of the line on which the comment opening on line i ends."""
    j, k = i, lines[i].index("/*") + 2
    while lines[j].find("*/", k) < 0:
        j, k = j + 1, 0
    return j


def declaration_end(code, i):
    """The last line of the declaration or macro starting at line i (`code`: comments stripped)."""
    if code[i].lstrip().startswith("#"):
        while code[i].rstrip().endswith("\\") and i + 1 < len(code):
            i += 1
        return i
    depth = 0
    for j in range(i, len(code)):
        depth += code[j].count("{") + code[j].count("(") - code[j].count("}") - code[j].count(")")
        if depth <= 0 and code[j].rstrip().endswith(";"):
            return j
    return len(code) - 1


def is_code(line):
    s = line.strip()
    return bool(s) and not s.startswith(("/*", "*", "//", "#if", "#else", "#endif", "#undef", "}"))


def is_compound(code_line):
    """A struct, union or enum definition starts here (it takes a comment of its own)."""
    return "{" in code_line and re.match(r"\s*(typedef\s+)?(struct|union|enum)\b", code_line) is not None


def escape(text):
    """Doc text as Doxygen must see it to print it as written: '@x', '\\x' and '<tag>' are
    commands and HTML there.  Code spans (`...`) and indented code lines are left alone."""
    if re.match(r"\s*\*?\s{4,}\S", text):
        return text
    parts = text.split("`")
    for n in range(0, len(parts), 2):
        parts[n] = re.sub(r"([@\\])(?=\w)", r"\\\1", parts[n])
        parts[n] = re.sub(r"<(?=[A-Za-z/])", r"\\<", parts[n])
    return "`".join(parts)


def escape_comment(lines, out, i, k, end):
    """Escapes the doc comment whose text starts at column k of line i, ending on line `end`."""
    for j in range(i, end + 1):
        start = k if j == i else 0
        out[j] = out[j][:start] + escape(out[j][start:])


INDENTED = re.compile(r"^\s*\*  +\S")


def format_comment(lines, out, i, k, end):
    """A block doc comment: lines indented past the ` * ` margin (code examples, aligned
    lists) become a code block, shown as laid out; the rest is escaped text.  The
    block's commands go at the ends of existing lines, so no line moves."""
    runs, j = [], i + 1
    while j <= end:
        if INDENTED.match(lines[j]) and not lines[j].lstrip().startswith("*/"):
            run = j
            while j + 1 <= end and INDENTED.match(lines[j + 1]):
                j += 1
            runs.append((run, j))
        j += 1
    in_run = {n for a, b in runs for n in range(a, b + 1)}
    for t in range(i, end + 1):
        if t not in in_run:
            start = k if t == i else 0
            out[t] = out[t][:start] + escape(out[t][start:])
    for a, b in runs:
        body = " ".join(lines[a:b + 1])
        lang = "{.c}" if re.search(r";|//\s|\{\s*$|^\s*\*\s+(if|for|while|return)\b", body) else "{.unparsed}"
        out[a - 1] += " \\code" + lang
        if "*/" in out[b]:
            out[b] = out[b].replace("*/", "\\endcode */", 1)
        else:
            out[b] += " \\endcode"


def main():
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    errnos = []
    for line in lines:
        m = ERRNO.match(line)
        if m:
            errnos.append(m.groups())
    code = strip_comments(lines)
    out = list(lines)
    group_ends = set()  # lines that close a member group, marked once the rest is done
    i = 0
    first = True
    while i < len(lines):
        line = lines[i]
        m = COMMENT_START.match(line)
        if m:
            end = comment_end(lines, i)
            nxt = end + 1
            if first:
                out[i] = line.replace("/*", "/** @file", 1)
                first = False
            elif nxt < len(lines) and is_code(lines[nxt]):
                out[i] = line.replace("/*", "/**", 1)
                format_comment(lines, out, i, out[i].index("/**") + 3, end)
                # The declarations up to the next blank line or comment: more than one
                # shares the comment as a member group.
                decls, j = [], nxt
                while j < len(lines) and is_code(lines[j]) and not (decls and is_compound(code[j])):
                    if is_compound(code[j]):
                        decls.append((j, declaration_end(code, j)))
                        break
                    e = declaration_end(code, j)
                    decls.append((j, e))
                    j = e + 1
                if len(decls) > 1 and not m.group(1):
                    out[i] = "/**@{*/ " + out[i]
                    group_ends.add(decls[-1][1])
            i = end + 1
            continue
        first = False if line.strip() else first
        k = line.find("/*")
        if k > 0 and code[i].strip() and not line.startswith("#define VIAL_ERRNO_MAP") \
                and not ERRNO.match(line) and line[k:k + 3] not in ("/**", "/*!"):
            out[i] = line[:k] + "/**<" + line[k + 2:]
            end = comment_end(lines, i)
            escape_comment(lines, out, i, k + 4, end)
            i = end + 1
            continue
        if "VIAL_ERRNO_MAP(VIAL__ERRNO_ENUM)" in line and errnos:
            out[i] = " ".join(f"VIAL_E{n} = {v}, /**< {msg} */" for n, v, msg in errnos)
        i += 1
    for j in group_ends:  # at the start of the line after the group: never inside a #define
        if j + 1 < len(out):
            out[j + 1] = "/**@}*/ " + out[j + 1]
        else:
            out[j] += " /**@}*/"
    sys.stdout.write("\n".join(out))


if __name__ == "__main__":
    main()

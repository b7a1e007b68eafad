#!/usr/bin/python3
"""Check every #include (and, optionally, every call between libvial's
objects) against the module graph declared in docs/ARCHITECTURE.md.

Usage:
  scripts/check-layers.py [--root DIR] [--doc FILE] [--objects BUILD_DIR]
  scripts/check-layers.py --self-test

The graph is the markdown table between <!-- layers:begin --> and
<!-- layers:end --> in the "Module graph" section: one row per module
(folder src/<m>) or app (app:<a>, folder apps/<a> or a file apps/<a>.c),
each listing every module or app it may use. "May use" is not transitive.

Rules checked, for each #include of a .c/.h file under src/, apps/,
tests/unit/, fuzz/, examples/, bench/ and tests/api/:
  - everyone may include include/vial.h and headers outside the repo
    (an angle-bracket include that resolves nowhere in the repo);
  - src/<m>/: any header of src/<m>/, and the offered header src/<b>/<b>.h
    of every module b that m may use; every other header of a module is
    private to it. A file in a folder of src/ not in the table is reported;
  - apps/<a>/ (apps/server.c is app:server): its own folder's headers and
    apps/<b>/<b>.h of every app it may use; never anything under src/.
    A file of apps/ that belongs to no row is reported;
  - tests/unit/<m>/: tests/unit/unit.h, its own folder, any header of
    src/<m>/ and the offered header of any module (tests/unit/unit.h and
    other files directly in tests/unit/ get offered headers only);
    tests/unit/apps/<a>/ likewise any file of apps/<a>/ (an app is not in
    libvial: its tests include the .c they test);
  - fuzz/: offered headers of any module, no private ones, and files of
    apps/ (a parser an app owns is fuzzed from its own source);
  - examples/, bench/, tests/api/: vial.h only.
Quoted includes resolve as the compiler does here: the including file's
folder first, then src/, apps/, include/, tests/unit/ (angle brackets skip
the first step). A quoted include that resolves nowhere is an error.
Lines are matched textually: an #include in a comment or #if 0 counts.

--objects BUILD_DIR also runs nm over BUILD_DIR/CMakeFiles/vial_obj.dir/
src/<m>/*.o: a symbol defined in module b and referenced from module a
that may not use b is reported. This catches calling up through vial.h
(e.g. core calling vial_session()), which the include check cannot see.
Every global defined in src/ counts (today all are vial_* or vial__*).

--self-test checks the checker on temporary trees: a clean one, and one
per kind of planted violation, each of which must be reported alone.

Exit status: 0 clean, 1 violations, 2 unusable table or arguments.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

BEGIN, END = '<!-- layers:begin -->', '<!-- layers:end -->'
INCLUDE_DIRS = ('src', 'apps', 'include', 'tests/unit')
TREES = ('src', 'apps', 'tests/unit', 'fuzz', 'examples', 'bench', 'tests/api')
PUBLIC_HEADER = 'include/vial.h'
# `#  include "x.h"` is valid C: the directive name may be spaced from '#'.
INCLUDE_RE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')


class LayersError(Exception):
    """The table (or an argument) is unusable: not a violation, exit 2."""


def parse_table(doc_path):
    """Return {name: (folder, set of names it may use)} from the doc."""
    try:
        with open(doc_path, encoding='utf-8') as fh:
            text = fh.read()
    except OSError as e:
        raise LayersError(f'{doc_path}: cannot read: {e.strerror}')
    if BEGIN not in text or END not in text.split(BEGIN, 1)[1]:
        raise LayersError(f'{doc_path}: no table between {BEGIN} and {END}')
    body = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = [[c.strip() for c in line.strip().strip('|').split('|')]
            for line in body.splitlines() if line.strip().startswith('|')]
    if not rows:
        raise LayersError(f'{doc_path}: the layers markers hold no table')
    # Find columns by their header names so the prose columns may move.
    head = [h.lower() for h in rows[0]]
    try:
        c_name, c_folder, c_uses = (head.index(h) for h in ('module', 'folder', 'may use'))
    except ValueError:
        raise LayersError(f'{doc_path}: table header must have columns '
                          f'"module", "folder" and "may use", got {rows[0]}')
    graph = {}
    for row in rows[1:]:
        if all(set(c) <= set('-: ') for c in row):
            continue  # the |---|---| separator
        if len(row) <= max(c_name, c_folder, c_uses):
            raise LayersError(f'{doc_path}: short table row {row}')
        name, folder = row[c_name], row[c_folder].rstrip('/')
        uses = set(row[c_uses].replace(',', ' ').split())
        if name in graph:
            raise LayersError(f'{doc_path}: {name} is declared twice')
        app = name[4:] if name.startswith('app:') else None
        want = (f'apps/{app}', f'apps/{app}.c') if app else (f'src/{name}',)
        if folder not in want:
            raise LayersError(f'{doc_path}: {name}: folder {folder!r} should be '
                              + ' or '.join(want))
        graph[name] = (folder, uses)
    for name, (_, uses) in graph.items():
        for u in sorted(uses):
            if u not in graph:
                raise LayersError(f'{doc_path}: {name} may use {u}, which is not in the table')
            if u.startswith('app:') != name.startswith('app:'):
                raise LayersError(f'{doc_path}: {name} may use {u}: modules and apps '
                                  f'do not use each other (apps use vial.h)')
    return graph


def offered(folder):
    """The one header a module or app folder offers the others."""
    return f'{folder}/{os.path.basename(folder)}.h'


def owner(rel, graph):
    """Which table entry a repo path belongs to: (name or None, folder)."""
    parts = rel.split('/')
    if parts[0] == 'src':
        folder = '/'.join(parts[:2]) if len(parts) > 2 else 'src'
        return (parts[1] if folder in (f for f, _ in graph.values()) else None), folder
    if parts[0] == 'apps':
        for name, (folder, _) in graph.items():
            if rel == folder or rel.startswith(folder + '/'):
                return name, folder
        return None, '/'.join(parts[:2]) if len(parts) > 2 else rel
    return None, None


def resolve(root, including, delim, name):
    """The repo path an include names, or None if it is not in the repo."""
    dirs = ([os.path.dirname(including)] if delim == '"' else []) + list(INCLUDE_DIRS)
    for d in dirs:
        rel = os.path.normpath(os.path.join(d, name)).replace(os.sep, '/')
        if not rel.startswith('../') and os.path.isfile(os.path.join(root, rel)):
            return rel
    return None


def allowed(target, graph, who, may_use, own=(), tree='src'):
    """None if `who` may include repo file `target`, else why not.
    `own`: folders whose every header it may include; `tree`: 'src' for
    module headers, 'apps' for app headers; may_use None: any entry."""
    if any(target.startswith(f + '/') for f in own):
        return None
    if not target.startswith(tree + '/'):
        if tree == 'apps' and target.startswith('src/'):
            return 'apps must not include src/ (use vial.h)'
        return f'not a header of {tree}/ that this file may include'
    tname, tfolder = owner(target, graph)
    if tname is None:
        return f'{tfolder} is not declared in the table'
    why = None
    if may_use is not None and tname not in may_use:
        why = f'{who} may not use {tname} (not declared in the table)'
    if target != offered(tfolder):
        return f'private header of {tname}' + (f' (and {who} may not use {tname})' if why else '')
    return why


def judge(src, target, graph, who):
    """Why `src` may not include repo file `target`, or None if it may."""
    top, parts = src.split('/')[0], src.split('/')
    if target == PUBLIC_HEADER:
        return None
    if top in ('src', 'apps'):
        _, folder = owner(src, graph)
        own = [] if folder.endswith('.c') else [folder]   # apps/server.c: no folder
        return allowed(target, graph, who, graph[who][1], own, top)
    if src.startswith('tests/unit/'):
        if target == 'tests/unit/unit.h':
            return None
        # tests/unit/<m>/ tests <m> from inside: its privates are fair game.
        own = [os.path.dirname(src), 'src/' + parts[2]] if len(parts) > 3 else []
        if len(parts) > 4 and parts[2] == 'apps':  # tests/unit/apps/<a>/x.c
            own = [os.path.dirname(src), 'apps/' + parts[3]]
        return allowed(target, graph, who, None, own)
    if top == 'fuzz':
        return allowed(target, graph, who, None, ['apps'])
    return 'only vial.h and system headers are allowed here'


def source_files(root):
    for tree in TREES:
        for d, subdirs, files in os.walk(os.path.join(root, tree)):
            subdirs[:] = sorted(s for s in subdirs
                                if not s.startswith('.') and s != 'node_modules')
            rel_d = os.path.relpath(d, root).replace(os.sep, '/')
            for f in sorted(files):
                if f.endswith(('.c', '.h')):
                    yield f'{rel_d}/{f}'


def check_includes(root, graph):
    """Return (violations, files checked, includes checked)."""
    out, nfiles, nincl = [], 0, 0
    for src in source_files(root):
        nfiles += 1
        me, folder = owner(src, graph)
        if src.startswith(('src/', 'apps/')) and me is None:
            kind = 'module' if src.startswith('src/') else 'app'
            out.append(f'{src}:1: {folder}: undeclared {kind} '
                       f'(folder {folder} is not in the table)')
            continue  # nothing to judge its includes against
        who = me or os.path.dirname(src)   # e.g. core, app:logs, fuzz, tests/unit/db
        with open(os.path.join(root, src), encoding='utf-8', errors='replace') as fh:
            for lineno, line in enumerate(fh, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                nincl += 1
                delim, name = m.groups()
                target = resolve(root, src, delim, name)
                if target is None:
                    if delim == '"':
                        out.append(f'{src}:{lineno}: {who} includes {name}: '
                                   'does not resolve inside the repo')
                    continue  # <...> outside the repo: system or third party
                why = judge(src, target, graph, who)
                if why:
                    shown = name if name == target else f'{name} ({target})'
                    out.append(f'{src}:{lineno}: {who} includes {shown}: {why}')
    return out, nfiles, nincl


def nm_symbols(obj):
    """(defined globals, undefined references) of one object file."""
    res = subprocess.run(['nm', '-P', obj], capture_output=True, text=True)
    if res.returncode != 0:
        raise LayersError(f'nm {obj}: {res.stderr.strip()}')
    # U/w/v: used here, defined elsewhere; other capitals: a global defined
    # here (hidden visibility still counts); lower case: file-local.
    syms = [f[:2] for f in map(str.split, res.stdout.splitlines()) if len(f) >= 2]
    return ({n for n, t in syms if t.isupper() and t != 'U'},
            {n for n, t in syms if t in ('U', 'w', 'v')})


# The layers under the modules were a circle of files once (the session
# called the app, the loop made the app's workers, the serializer asked the
# loop whether it was stopping); inside these, files must form no cycle.
ACYCLIC = {'base', 'ops', 'json', 'loop', 'http', 'core'}


def file_cycles(calls):
    """Cycles among the files of one module: `calls` maps a file to the
    files it calls.  Each cycle is reported once, as its path."""
    out, seen = [], set()

    def walk(node, path):
        for nxt in sorted(calls.get(node, ())):
            if nxt in path:
                cyc = path[path.index(nxt):] + [nxt]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    out.append(cyc)
            elif len(path) < 32:
                walk(nxt, path + [nxt])

    for start in sorted(calls):
        walk(start, [start])
    return out


def check_objects(build, graph, root=None):
    """Return (violations, objects checked) for libvial's objects: calls
    between modules against the table, and call cycles between the files of
    one module (a file should not call a file that calls it back: the layers
    inside a module stay a tree, e.g. core's CLI starts the server, which
    dispatches, never the other way round)."""
    base = os.path.join(build, 'CMakeFiles', 'vial_obj.dir')
    objs = []
    # Only objects compiled from src/ are ours; llhttp's land under usr/.
    for d, subdirs, files in os.walk(os.path.join(base, 'src')):
        subdirs.sort()
        objs += [os.path.join(d, f) for f in sorted(files) if f.endswith('.o')]
    if root:
        # An object whose source is gone is a leftover of an older build.
        objs = [o for o in objs if os.path.exists(os.path.join(
            root, os.path.relpath(o, base)[:-len('.o')]))]
    if not objs:
        raise LayersError(f'no objects under {base}/src: build libvial first '
                          '(e.g. make -C BUILD_DIR vial_obj)')
    syms, where = {}, {}
    for o in objs:
        src = os.path.relpath(o, base).replace(os.sep, '/')[:-len('.o')]
        syms[src] = nm_symbols(o)
        for s in syms[src][0]:
            where[s] = src.split('/')[1]
    defined_in = {}
    for src, (defined, _) in syms.items():
        for s in defined:
            defined_in[s] = src
    out = []
    calls = {}
    for src, (_, undefined) in syms.items():
        a = src.split('/')[1]
        if a not in graph:
            out.append(f'{src}: {a} is not a declared module')
            continue
        for s in sorted(undefined):
            b = where.get(s)
            if b and b != a and b not in graph[a][1]:
                out.append(f'{src}: {a} calls {s} of {b}: not declared')
            elif b == a and defined_in[s] != src:
                calls.setdefault(src, set()).add(defined_in[s])
    for cyc in file_cycles({k: v for k, v in calls.items() if k.split('/')[1] in ACYCLIC}):
        out.append(f'{cyc[0]}: a call cycle inside module {cyc[0].split("/")[1]}: '
                   + ' -> '.join(c.split('/')[-1] for c in cyc))
    return out, len(objs)


# --- self-test --------------------------------------------------------------

def table(rows):
    lines = ['# x', '', BEGIN, '| module | folder | may use | what |', '|---|---|---|---|']
    lines += [f'| {n} | {f} | {u} | x |' for n, f, u in rows]
    return '\n'.join(lines + [END, ''])


GOOD_ROWS = [('base', 'src/base', ''), ('ops', 'src/ops', 'base'),
             ('core', 'src/core', 'base ops'), ('app:logs', 'apps/logs', ''),
             ('app:dashboard', 'apps/dashboard', 'app:logs'),
             ('app:server', 'apps/server.c', 'app:logs app:dashboard')]

DOC = 'docs/ARCHITECTURE.md'
# A tree that obeys GOOD_ROWS, using each allowed kind of include once.
GOOD_TREE = {
    DOC: table(GOOD_ROWS),
    'include/vial.h': '',
    'src/base/base.h': '#include <stddef.h>\n',
    'src/base/private.h': '#include "base.h"\n',
    'src/base/arena.c': '#include "base.h"\n#include "private.h"\n#include "vial.h"\n',
    'src/ops/ops.h': '#  include "base/base.h"\n',
    'src/ops/log.c': '#include "ops.h"\n#include "../base/base.h"\n#include <stdio.h>\n',
    'src/core/core.h': '#include <vial.h>\n',
    'src/core/app.c': '#include "core.h"\n#include "ops/ops.h"\n#include <uv.h>\n',
    'apps/logs/logs.h': '#include <vial.h>\n',
    'apps/logs/words.h': '',
    'apps/logs/logs.c': '#include "logs.h"\n#include "words.h"\n',
    'apps/dashboard/dashboard.h': '',
    'apps/dashboard/dashboard.c': '#include "dashboard.h"\n#include "logs/logs.h"\n',
    'apps/server.c': '#include "dashboard/dashboard.h"\n#include "logs/logs.h"\n',
    'tests/unit/unit.h': '#include "core/core.h"\n#include <cmocka.h>\n',
    'tests/unit/base/arena.c': '#include "unit.h"\n#include "base/private.h"\n'
                               '#include "ops/ops.h"\n',
    'fuzz/url_fuzz.c': '#include "base/base.h"\n',
    'examples/hello.c': '#include <vial.h>\n',
    'bench/b.c': '#include "vial.h"\n',
    'tests/api/app.c': '#include <vial.h>\n',
}

# (what is planted, files added to or replacing GOOD_TREE's, text expected
# in the one violation or table error it must cause, or a tuple for several)
PLANTED = [
    ('private header of another module', {'src/ops/bad.c': ' #  include "base/private.h"\n'},
     'src/ops/bad.c:1: ops includes base/private.h (src/base/private.h): private header of base'),
    ('undeclared module dependency', {'src/base/bad.c': '\n#include "ops/ops.h"\n'},
     'src/base/bad.c:2: base includes ops/ops.h (src/ops/ops.h): base may not use ops'),
    ('same, through angle brackets', {'src/base/bad.c': '#include <core/core.h>\n'},
     'base may not use core'),
    ('may use is not transitive', {DOC: table(GOOD_ROWS + [('web', 'src/web', 'core')]),
                                   'src/web/w.c': '#include "core/core.h"\n#include "base/base.h"\n'},
     'src/web/w.c:2: web includes base/base.h (src/base/base.h): web may not use base'),
    ('undeclared app-to-app include', {'apps/logs/bad.c': '#include "dashboard/dashboard.h"\n'},
     'app:logs may not use app:dashboard'),
    ('app including src/', {'apps/logs/bad.c': '#include "base/base.h"\n'},
     'apps must not include src/'),
    ('unresolvable quoted include', {'src/core/bad.c': '#include "nowhere.h"\n'},
     'src/core/bad.c:1: core includes nowhere.h: does not resolve inside the repo'),
    ('undeclared folder', {'src/extra/x.c': ''}, 'src/extra/x.c:1: src/extra: undeclared module'),
    ('header of an undeclared folder', {'src/extra/extra.h': '', 'src/core/bad.c': '#include "extra/extra.h"\n'},
     ('src/extra/extra.h:1: src/extra: undeclared module', 'src/extra is not declared in the table')),
    ("unit test including another module's private",
     {'tests/unit/ops/log.c': '#include "base/private.h"\n'}, 'private header of base'),
    ('fuzz target including a private header', {'fuzz/x_fuzz.c': '#include "base/private.h"\n'},
     'fuzz includes base/private.h (src/base/private.h): private header of base'),
    ('example including a module header', {'examples/x.c': '#include "core/core.h"\n'},
     'only vial.h and system headers'),
    ('missing table', {DOC: '# no table here\n'}, 'LayersError: '),
    ('row names an unknown module', {DOC: table(GOOD_ROWS + [('web', 'src/web', 'base session')])},
     'LayersError: ' + DOC + ': web may use session, which is not in the table'),
    ('module using an app', {DOC: table(GOOD_ROWS + [('web', 'src/web', 'app:logs')])},
     'modules and apps do not use each other'),
]


def make_tree(root, files):
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
        with open(os.path.join(root, rel), 'w') as fh:
            fh.write(text)


def self_test():
    def run(files):
        with tempfile.TemporaryDirectory(prefix='layers-') as root:
            make_tree(root, {**GOOD_TREE, **files})
            try:
                return check_includes(root, parse_table(os.path.join(root, DOC)))[0]
            except LayersError as e:   # relative path: the message must not vary
                return ['LayersError: ' + str(e).replace(root + '/', '')]

    got = run({})
    results = [('clean tree passes', not got, '; '.join(got) or 'no violations')]
    for label, files, expect in PLANTED:
        got, expect = run(files), expect if isinstance(expect, tuple) else (expect,)
        # Exactly the planted ones: a checker crying wolf on the rest fails too.
        ok = len(got) == len(expect) and all(any(e in g for g in got) for e in expect)
        results.append((label, ok, '; '.join(got) or 'not reported'))
    results.append(self_test_objects())
    for label, ok, seen in results:
        print(f'{"ok  " if ok else "FAIL"} {label}: {seen}')
    failed = sum(not ok for _, ok, _ in results)
    print(f'self-test: {failed} of {len(results)} cases FAILED' if failed
          else f'self-test: all {len(results)} cases pass')
    return 1 if failed else 0


def self_test_objects():
    """Base calling up into core must be reported; core calling down into
    base, and llhttp (outside src/) calling anything, must not."""
    graph = {'base': ('src/base', set()), 'core': ('src/core', {'base'})}
    sources = {'src/core/app.c': 'void vial_base_fn(void); void vial_core_fn(void) { vial_base_fn(); }',
               'src/base/arena.c': 'void vial_base_fn(void); void vial_base_fn(void) {}',
               'src/base/up.c': 'void vial_core_fn(void); void vial_up(void) { vial_core_fn(); }',
               'usr/llhttp.c': 'void vial_core_fn(void); void ll(void) { vial_core_fn(); }'}
    sources['src/core/a.c'] = 'void vial_b(void); void vial_a(void) { vial_b(); }'
    sources['src/core/b.c'] = 'void vial_a(void); void vial_b(void) { vial_a(); }'
    expect = ['src/base/up.c: base calls vial_core_fn of core: not declared',
              'src/core/a.c: a call cycle inside module core: a.c -> b.c -> a.c']
    label = 'objects: base calling up into core, a call cycle inside core'
    with tempfile.TemporaryDirectory(prefix='layers-obj-') as tmp:
        objdir = os.path.join(tmp, 'CMakeFiles', 'vial_obj.dir')
        for rel, text in sources.items():
            make_tree(tmp, {'c/' + rel: text})
            os.makedirs(os.path.dirname(os.path.join(objdir, rel)), exist_ok=True)
            # Hidden visibility as libvial is built: the symbols stay global.
            cc = subprocess.run(['cc', '-c', '-fvisibility=hidden', '-o',
                                 os.path.join(objdir, rel + '.o'), os.path.join(tmp, 'c', rel)],
                                capture_output=True, text=True)
            if cc.returncode != 0:
                return label, False, f'cc -c {rel}: {cc.stderr.strip()}'
        got = check_objects(tmp, graph)[0]
    return label, got == expect, '; '.join(got) or 'not reported'


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=here, help='repo root (default: %(default)s)')
    ap.add_argument('--doc', help='the doc with the table (default: ROOT/docs/ARCHITECTURE.md)')
    ap.add_argument('--objects', metavar='BUILD_DIR', help='also check calls between objects')
    ap.add_argument('--self-test', action='store_true', help='check this checker')
    args = ap.parse_args()
    if args.self_test:
        return self_test()
    root = os.path.abspath(args.root)
    try:
        graph = parse_table(args.doc or os.path.join(root, 'docs', 'ARCHITECTURE.md'))
        out, nfiles, nincl = check_includes(root, graph)
        summary = f'{nfiles} files, {nincl} includes'
        if args.objects:
            bad, nobj = check_objects(args.objects, graph, root)
            out += bad
            summary += f', {nobj} objects'
    except LayersError as e:
        print(f'check-layers: {e}', file=sys.stderr)
        return 2
    for line in out:
        print(line)
    if out:
        print(f'check-layers: {len(out)} violation(s) of the module graph ({summary} checked)')
        return 1
    print(f'check-layers: module graph respected ({summary} checked)')
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/python3
"""Writes the template cases, tests/cases/template/<case>/ (run from anywhere;
rewrites every case directory and _files/).  tests/unit/tpl/template.c runs
them.  Each case is `input` (+ `context.json`, + `plain` for a .txt name,
i.e. no autoescape), and `expected` or `error`.  Cases without an explicit
expectation get theirs from Jinja2 3.x (the oracle: python3-jinja2), with
autoescape for .html/.htm/.xml/.svg and ChainableUndefined, which is the
behaviour vial.h promises; the rest are vial's own (errors with
file:line:col, tojson, date, keys, url helpers) and written by hand.
Edit this file and rerun it rather than editing the generated files."""
import json, os, shutil
from jinja2 import Environment, FileSystemLoader, DictLoader, ChoiceLoader, ChainableUndefined

D = os.path.dirname(os.path.abspath(__file__))
FILES = os.path.join(D, "_files")

files = {
 "base.html": """<!DOCTYPE html>
<title>{% block title %}Site{% endblock %}</title>
<nav>{% include "nav.html" %}</nav>
<main>{% block main %}<p>empty</p>{% endblock %}</main>
<footer>{% block footer %}&copy; {{ year|default("now") }}{% endblock %}</footer>""",
 "layout.html": """{% extends "base.html" %}
{% set year = 2024 %}
{% block title %}{{ section }} - {{ super() }}{% endblock %}
{% block main %}<section>{% block content %}layout content{% endblock %}</section>{% endblock %}""",
 "page.html": """{% extends "layout.html" %}
this text is outside any block: not rendered
{% block title %}{{ title }} | {{ super() }}{% endblock %}
{% block content %}{{ super() }} / {% for p in posts %}<h2>{{ p.title }}</h2>{% endfor %}{% endblock %}""",
 "nav.html": """{% for item in nav|default([]) %}<a href="{{ item.href }}">{{ item.label }}</a>{% endfor %}""",
 "part.html": """[{{ who }}{% set who = "changed" %} {{ who }}{% if loop is defined %} #{{ loop.index }}{% endif %}{{ i }}]""",
 "plain.txt": """plain {{ "<b>" }}""",
 "row.html": """<tr><td>{{ f.id }}</td><td>{{ f.message }}</td></tr>""",
}

FORTUNES = [
 {"id": 11, "message": "<script>alert(\"This should not be displayed in a browser alert box.\");</script>"},
 {"id": 4, "message": "A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1"},
 {"id": 5, "message": "A computer program does what you tell it to do, not what you want it to do."},
 {"id": 2, "message": "A computer scientist is someone who fixes things that aren't broken."},
 {"id": 8, "message": "A list is only as strong as its weakest link. \u2014 Donald Knuth"},
 {"id": 0, "message": "Additional fortune added at request time."},
 {"id": 3, "message": "After enough decimal places, nobody gives a damn."},
 {"id": 7, "message": "Any program that runs right is obsolete."},
 {"id": 10, "message": "Computers make very fast, very accurate mistakes."},
 {"id": 6, "message": "Emacs is a nice operating system, but I prefer UNIX. \u2014 Tom Christaensen"},
 {"id": 9, "message": "Feature: A bug with seniority."},
 {"id": 1, "message": "fortune: No such file or directory"},
 {"id": 12, "message": "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"},
]

J = "jinja"
cases = []
def case(name, src, ctx=None, expect=J, ext="html"):
    cases.append((name, src, ctx, expect, ext))

# --- text, output, escaping
case("text-only", "Hello, world.\n<b>as is</b>")
case("trailing-newline-dropped", "one line\n")
case("escape-specials", "{{ s }}", {"s": "<a href=\"x\">Tom & Jerry's</a>"})
case("escape-in-txt-is-off", "{{ s }}", {"s": "<b>&'\"</b>"}, ext="txt")
case("safe-opts-out", "{{ s|safe }}|{{ s }}", {"s": "<i>x</i>"})
case("escape-is-idempotent", "{{ s|e|e }} {{ s|escape|safe }}", {"s": "<&>"})
case("fortunes", """<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>{% for f in fortunes|sort(attribute="message") %}<tr><td>{{ f.id }}</td><td>{{ f.message }}</td></tr>{% endfor %}</table></body></html>""", {"fortunes": FORTUNES})
case("fortunes-include-row", "<table>{% for f in fortunes %}{% include \"row.html\" %}{% endfor %}</table>", {"fortunes": FORTUNES[:3] + FORTUNES[-1:]})
case("japanese-roundtrip", "{{ s }} {{ s|length }} {{ s|upper }} {{ s|first }}{{ s|last }} {{ s|reverse }}", {"s": "日本語のテキスト"})
case("markup-concat", "{{ b|safe ~ \"<i>\" }} {{ \"<u>\" ~ x }} {{ (b|safe) + \"&\" }} {{ x ~ b|safe ~ x }}", {"x": "&", "b": "<b>"})
case("join-markup", "{{ xs|join(\"<br>\"|safe) }} {{ xs|join(\", \") }}", {"xs": ["<a>", "b&"]})
case("replace-markup", "{{ s|safe|replace(\"x\", \"<y>\") }} {{ s|replace(\"x\", \"<y>\") }}", {"s": "<x>"})
case("repr-escaped", "{{ xs }} {{ d }}", {"xs": ["it's", 1, None, True, 2.5], "d": {"k": "<v>"}})
case("numbers", "{{ 1 }} {{ 2.5 }} {{ 1.0 }} {{ 1e20 }} {{ 0.0001 }} {{ 1/3 }} {{ 10/2 }} {{ -0.0 }} {{ 3.0e-5 }} {{ 123456.789 }}")
case("literals", "{{ 'single' }} {{ \"dou\\\"ble\" }} {{ 'a\\tb\\\\' }} {{ 'x' 'y' }} {{ [1, 'a', [2]] }} {{ (1, 2)|join(',') }} {{ ()|length }} {{ (3,)|first }} {{ true }} {{ False }} {{ none }} {{ None }} {{ '\\u00e9\\x41' }}")

# --- expressions
case("arith", "{{ 1 + 2 * 3 }} {{ (1 + 2) * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2.5 * 2 }} {{ 7 / 2 }} {{ 1 - -1 }} {{ 'ab' * 3 }} {{ [1] + [2, 3] }} {{ 'a' + 'b' }}")
case("concat", "{{ 'a' ~ 1 ~ none ~ true ~ x ~ 2.5 }}", {})
case("compare", "{{ 1 < 2 }} {{ 2 <= 1 }} {{ 1 == 1.0 }} {{ 'a' != 'b' }} {{ 1 < 2 < 3 }} {{ 3 > 2 > 5 }} {{ 'abc' < 'abd' }} {{ [1, 2] < [1, 3] }} {{ true == 1 }}")
case("membership", "{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in d }} {{ 'z' not in d }} {{ 3 not in [1] }} {{ 'x' in undefinedvar }}", {"d": {"k": 1}})
case("logic", "{{ 0 or 'dflt' }} {{ 'a' and 'b' }} {{ none and 1 }} {{ not 0 }} {{ not not 'x' }} {{ x or y or 'last' }}")
case("ternary", "{{ 'yes' if n > 1 else 'no' }} {{ 'only' if false }}|{{ 'a' if 0 else 'b' if 1 else 'c' }}", {"n": 2})
case("unary-filter-precedence", "{{ -3|abs }} {{ -(3|abs) }} {{ -(x|length) }}", {"x": [1, 2]})
case("attribute-access", "{{ u.name }} {{ u['name'] }} {{ u.tags[0] }} {{ u.tags[-1] }} {{ u.tags.1 }} {{ u.missing }}|{{ u.missing.deeper }}|{{ u.tags[9] }}|{{ u['tags'][0] }}", {"u": {"name": "Ann", "tags": ["a", "b"]}})
case("undefined", "[{{ nope }}] [{{ nope.x.y }}] {{ nope is defined }} {{ nope is undefined }} {{ nope|default('d') }} {{ ''|default('e', true) }} {{ ''|default('e') }} {% if nope %}T{% else %}F{% endif %} {{ nope|length }}")
case("tests", "{{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 9 is divisibleby(4) }} {{ x is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1.5 is float }} {{ 1 is integer }} {{ d is mapping }} {{ d is sequence }} {{ x is not none }} {{ true is true }} {{ 0 is false }} {{ [1] is iterable }}", {"x": None, "d": {}})

# --- statements
case("if-elif-else", "{% for n in [0, 1, 2, 3] %}{% if n == 0 %}zero{% elif n == 1 %}one{% elif n == 2 %}two{% else %}many{% endif %};{% endfor %}")
case("loop-variables", "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.length }}/{{ loop.first }}/{{ loop.last }} {% endfor %}", {"xs": ["a", "b", "c"]})
case("for-else", "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in nope %}x{% else %}undefined is empty{% endfor %}")
case("for-dict-and-items", "{% for k in d %}{{ k }},{% endfor %} {% for k, v in d|items %}{{ k }}={{ v }};{% endfor %} {% for k, v in d.items() %}{{ k }}:{{ v }} {% endfor %}{% for v in d.values() %}{{ v }}{% endfor %}{% for k in d.keys() %}{{ k }}{% endfor %}", {"d": {"b": 1, "a": 2}})
case("for-string", "{% for c in s %}[{{ c }}]{% endfor %}", {"s": "añ日"})
case("for-unpack-pairs", "{% for a, b in pairs %}{{ a }}-{{ b }} {% endfor %}", {"pairs": [[1, 2], ["x", "y"]]})
case("for-nested-loop-shadowing", "{% for a in [1, 2] %}{% set outer = loop %}{% for b in 'xy' %}{{ outer.index }}{{ loop.index }}{{ b }} {% endfor %}{% endfor %}")
case("for-filter", "{% for x in xs if x.ok %}{{ loop.index }}/{{ loop.length }}:{{ x.n }} {% endfor %}", {"xs": [{"n": 1, "ok": True}, {"n": 2, "ok": False}, {"n": 3, "ok": True}]})
case("loop-cycle", "{% for x in [1, 2, 3] %}{{ loop.cycle('odd', 'even') }} {% endfor %}")
case("set-scoping", "{% set x = 'top' %}{% for i in [1, 2] %}{% set x = i %}{{ x }}{% endfor %} {{ x }} {% if true %}{% set x = 'if' %}{% endif %}{{ x }}")
case("set-persists-across-iterations", "{% for i in [1, 2, 3] %}{% if i > 1 %}{{ prev }}<{% endif %}{% set prev = i %}{{ i }} {% endfor %}[{{ prev }}]")
case("set-block", "{% set greeting %}Hi <b>{{ name }}</b>{% endset %}{{ greeting }}|{{ greeting|length }}", {"name": "<x>"})
case("whitespace-control", "a  {%- if true -%}  b  {%- endif -%}  c\n  {{- ' d ' -}}  \n e {#- comment -#} f {%+ if true %}g{% endif %}")
case("comments", "a{# {{ not rendered }} {% if %} #}b{#\nmulti\nline\n#}c")
case("raw", "{% raw %}{{ x }} {% if %}{% endraw %}|{%- raw -%}  {{ y }}  {%- endraw -%}  |")
case("include-context", "{% set who = 'outer' %}{% include 'part.html' %} {{ who }} {% for i in [1, 2] %}{% include 'part.html' %}{% endfor %}")
case("include-ignore-missing", "a{% include 'missing.html' ignore missing %}b")
case("include-without-context", "{% set who = 'outer' %}{% include 'part.html' without context %}", {"who": "ctx"})
case("include-txt-not-escaped", "{% include 'plain.txt' %} {{ '<b>' }}")
case("include-expression-name", "{% include name %}", {"name": "plain.txt", "who": "w"})
case("extends-three-levels", "{% extends 'page.html' %}{% block footer %}[{{ super() }}]{% endblock %}", {"title": "<T>", "section": "Blog", "posts": [{"title": "One"}, {"title": "Two & Three"}], "nav": [{"href": "/a?x=1&y=2", "label": "A"}]})
case("extends-page-directly", "{% extends 'page.html' %}", {"title": "P", "section": "S", "posts": []})
case("extends-variable-name", "{% extends layout %}{% block main %}child{% endblock %}", {"layout": "base.html"})
case("block-without-extends", "{% block a %}A{% block b %}B{% endblock %}{% endblock a %}")

# --- filters
case("filters-strings", "{{ 'hello world'|upper }} {{ 'ABC'|lower }} {{ 'hello big-world (x)'|title }} {{ 'hELLO wORLD'|capitalize }} [{{ '  pad  '|trim }}] [{{ 'xxhixx'|trim('x') }}] {{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '', 1) }} {{ 'abc'|replace('', '.') }} {{ 42|string ~ '!' }}")
case("filters-truncate", "{{ s|truncate(9) }}|{{ s|truncate(9, true) }}|{{ s|truncate(9, true, '~') }}|{{ s|truncate(20) }}|{{ s|truncate(12, leeway=0) }}|{{ s|truncate(length=13, end='') }}", {"s": "hello wonderful world"})
case("filters-numbers", "{{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 'ff'|int(base=16) }} {{ '0x1f'|int(0, 16) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'y'|float }} {{ 3|float }} {{ 2.5|round }} {{ 3.5|round }} {{ 3.14159|round(2) }} {{ 3.1|round(method='ceil') }} {{ 3.9|round(0, 'floor') }} {{ 5|round }} {{ -3|abs }} {{ -2.5|abs }}")
case("filters-round-like-python", "{{ 1234|round(-2) }} {{ 1250|round(-2) }} {{ -1251|round(-2) }} {{ 2.675|round(2) }} {{ 0.125|round(2) }} {{ 1250.0001|round(-2) }} {{ -0.4|round }} {{ -0.4|round(0, 'ceil') }} {{ -2.675|round(2, 'floor') }} {{ 1234|round(-2, 'ceil') }} {{ true|round(-1) }}")
case("filters-int-like-python", "{{ '010'|int(0, 0) }} {{ '0b101'|int(0, 0) }} {{ '0o17'|int(base=0) }} {{ '-0x10'|int(0, 0) }} {{ '12'|int(0, 2) }} {{ '0b1'|int(9, 16) }} {{ '1_000'|int }} {{ '1__0'|int(5) }} {{ '1.5'|int(0, 16) }} {{ '1_0.5'|float }}")
case("safe-in-lists", "{% set l = ['<a>'|safe, '<b>', x] %}{% for i in l %}{{ i }}{% endfor %} {{ l|join(', ') }} {{ l[0] }}{{ l|first }}{{ l|last }} {% for i in l|sort %}{{ i }}{% endfor %} {% for a, b in [[l[0], l[1]]] if a %}{{ a }}{{ b }}{% endfor %} {{ [x|safe][0] }}{{ x }}", {"x": "<c>"})
case("filters-sequences", "{{ xs|length }} {{ xs|count }} {{ xs|first }} {{ xs|last }} {{ xs|join }} {{ xs|join('|') }} {{ xs|sort|join(',') }} {{ xs|sort(true)|join(',') }} {{ xs|sort(case_sensitive=true)|join(',') }} {{ xs|reverse|join(',') }} {{ d|length }} {{ d|first }} {{ d|last }} {{ d|join(',') }} {{ d|sort|join(',') }} {{ ''|first }}|{{ []|last }}|", {"xs": ["b", "C", "a"], "d": {"y": 1, "x": 2}})
case("filters-attribute", "{{ users|sort(attribute='age')|join(', ', attribute='name') }} / {{ users|sort(attribute='name', reverse=true)|join(',', 'name') }}", {"users": [{"name": "bo", "age": 30}, {"name": "al", "age": 25}, {"name": "cy", "age": 30}]})
case("filters-urlencode", "{{ 'a b&c/d?é'|urlencode }} {{ d|urlencode }} {{ pairs|urlencode }}", {"d": {"q": "a b&c", "n": 1}, "pairs": [["x", "1"], ["y", "2 3"]]})
case("filters-chained-with-args", "{{ names|sort(reverse=true)|join(', ')|upper|truncate(10, true, '') }}", {"names": ["ann", "bob", "cyd"]})
case("filter-default-d", "{{ missing|d('x') }} {{ none|default('y') }} {{ none|default('y', true) }} {{ 0|default(5, boolean=true) }}")

# vial's own or deliberately different from Jinja (expected by hand)
case("filter-keys", "{{ d|keys|join(',') }} {{ nope|keys|length }}", {"d": {"b": 1, "a": 2}}, expect="b,a 0")
case("filter-tojson", "<script>var d = {{ d|tojson }};</script> {{ s|tojson }} {{ 1|tojson }} {{ [1, 2.5, none, true]|tojson }}", {"d": {"a": "</script>", "b": "Tom & Jerry's", "c": [1, None]}, "s": "x\"y"},
     expect="<script>var d = {\"a\":\"\\u003c/script\\u003e\",\"b\":\"Tom \\u0026 Jerry\\u0027s\",\"c\":[1,null]};</script> \"x\\\"y\" 1 [1,2.5,null,true]")
case("filter-date", "{{ 0|date }} | {{ 1577836800|date('%Y-%m-%d') }} | {{ '2018-10-18T21:37:28-06:00'|date('%d/%m/%Y %H:%M') }} | {{ '2018-10-18T21:37:28.5Z'|date('%H:%M:%S') }} | {{ 1.9|date('%S') }} | [{{ none|date }}]",
     expect="1970-01-01 00:00:00 | 2020-01-01 | 19/10/2018 03:37 | 21:37:28 | 01 | []")
case("url-helpers-without-request", "[{{ url_for('index') }}] {{ static('css/site.css') }} {{ static('/a b.js') }} [{{ request }}]", expect="[] /static/css/site.css /static/a%20b.js []")
case("set-block-safe-in-txt", "{% set x %}<b>{% endset %}{{ x }}", expect="<b>", ext="txt")

# --- errors: exact messages
def err(name, src, msg, ctx=None, ext="html"):
    cases.append((name, src, ctx, ("error", msg), ext))
err("error-unknown-filter", "line one\n  {{ x|uper }}", "error-unknown-filter.html:2:8: unknown filter 'uper'")
err("error-unknown-test", "{{ x is shiny }}", "error-unknown-test.html:1:9: unknown test 'shiny'")
err("error-unclosed-if", "{% if x %}\nyes\n", "error-unclosed-if.html:1:1: unclosed {% if %} (missing {% endif %})")
err("error-unexpected-end", "{% for x in xs %}\n{% if x %}\n{% endfor %}", "error-unexpected-end.html:3:4: unexpected {% endfor %} (the innermost open tag is the {% if %} of line 2, closed by {% endif %})")
err("error-stray-endif", "a\n{% endif %}", "error-stray-endif.html:2:4: unexpected {% endif %}")
err("error-unclosed-var", "ok\n  {{ x ", "error-unclosed-var.html:2:3: unclosed '{{' (missing '}}')")
err("error-unclosed-comment", "{# no end", "error-unclosed-comment.html:1:1: unclosed comment (missing '#}')")
err("error-unterminated-string", "{{ 'abc }}", "error-unterminated-string.html:1:4: unterminated string")
err("error-unknown-tag", "{% macro m() %}{% endmacro %}", "error-unknown-tag.html:1:4: unknown tag 'macro'")
err("error-expected-end", "{{ a b }}", "error-expected-end.html:1:6: expected '}}', got 'b'")
err("error-empty-expression", "{{ }}", "error-empty-expression.html:1:4: unexpected '}}'")
err("error-dict-literal", "{{ {'a': 1} }}", "error-dict-literal.html:1:4: dict literals are not supported")
err("error-unknown-function", "{{ foo(1) }}", "error-unknown-function.html:1:4: unknown function 'foo'")
err("error-method-call", "{{ s.upper() }}", "error-method-call.html:1:6: method calls are not supported: use the filter, x|upper")
err("error-filter-arity", "{{ s|truncate(1, 2, 3, 4, 5) }}", "error-filter-arity.html:1:6: filter 'truncate' takes at most 4 arguments")
err("error-filter-kwarg", "{{ s|join(sep=',') }}", "error-filter-kwarg.html:1:6: filter 'join' has no argument 'sep'")
err("error-filter-missing-arg", "{{ s|replace('a') }}", "error-filter-missing-arg.html:1:6: filter 'replace' needs the argument 'new'")
err("error-undefined-arith", "{{ 1 + count }}", "error-undefined-arith.html:1:6: 'count' is undefined")
err("error-type", "\n{{ 1 + 'a' }}", "error-type.html:2:6: unsupported operand types for +: 'int' and 'str'")
err("error-division-by-zero", "{{ 1 / 0 }}", "error-division-by-zero.html:1:6: division by zero")
err("error-not-iterable", "{% for x in 5 %}{% endfor %}", "error-not-iterable.html:1:13: 'int' object is not iterable")
err("error-unpack", "{% for a, b in [1] %}{% endfor %}", "error-unpack.html:1:1: cannot unpack 'int' into 2 variables")
err("error-filter-runtime", "{{ 'abc'|truncate(1) }}", "error-filter-runtime.html:1:10: filter 'truncate': expected length >= 3, got 1")
err("error-include-missing", "a\n {% include 'nope.html' %}", "error-include-missing.html:2:2: template 'nope.html' not found")
err("error-include-dotdot", "{% include '../x.html' %}", "error-include-dotdot.html:1:1: '../x.html': '..' in template names is refused")
err("error-extends-nested", "{% if x %}{% extends 'base.html' %}{% endif %}", "error-extends-nested.html:1:11: {% extends %} must be at the top level of the template")
err("error-block-twice", "{% block a %}{% endblock %}\n{% block a %}{% endblock %}", "error-block-twice.html:2:1: block 'a' defined twice")
err("error-endblock-name", "{% block a %}{% endblock b %}", "error-endblock-name.html:1:26: {% endblock b %} closes block 'a'")
err("error-super-outside", "{{ super() }}", "error-super-outside.html:1:4: super() used outside a block")
err("error-super-no-parent", "{% block a %}{{ super() }}{% endblock %}", "error-super-no-parent.html:1:17: block 'a' has no parent to call")
err("error-deep-expression", "{{ " + "(" * 70 + "1" + ")" * 70 + " }}", "error-deep-expression.html:1:68: expression nested too deeply (limit 64)")
err("error-deep-tags", "{% if 1 %}" * 50 + "{% endif %}" * 50, "error-deep-tags.html:1:481: tags nested too deeply (limit 48)")
err("error-bad-character", "{{ a ! b }}", "error-bad-character.html:1:6: unexpected character '!'")
err("error-compare-types", "{{ 1 < 'a' }}", "error-compare-types.html:1:6: '<' not supported between instances of 'int' and 'str'")
err("error-column-counts-characters", "日本語 {{ x|nope }}", "error-column-counts-characters.html:1:10: unknown filter 'nope'")

def main():
    for e in os.listdir(D):
        if os.path.isdir(os.path.join(D, e)):
            shutil.rmtree(os.path.join(D, e))
    os.makedirs(FILES)
    for n, s in files.items():
        with open(os.path.join(FILES, n), "w") as f:
            f.write(s + "\n")
    env = None
    for name, src, ctx, expect, ext in cases:
        d = os.path.join(D, name)
        os.makedirs(d)
        with open(os.path.join(d, "input"), "w") as f:
            f.write(src)
        if ext != "html":
            open(os.path.join(d, "plain"), "w").close()
        if ctx is not None:
            with open(os.path.join(d, "context.json"), "w") as f:
                json.dump(ctx, f, ensure_ascii=False, indent=1)
                f.write("\n")
        if expect == J:
            tname = name + "." + ext
            env = Environment(loader=ChoiceLoader([DictLoader({tname: src}), FileSystemLoader(FILES)]),
                              autoescape=lambda n: n is not None and n.rsplit(".", 1)[-1] in ("html", "htm", "xml", "svg"),
                              undefined=ChainableUndefined)
            out = env.get_template(tname).render(**(ctx or {}))
            with open(os.path.join(d, "expected"), "w") as f:
                f.write(out)
        elif isinstance(expect, tuple):
            with open(os.path.join(d, "error"), "w") as f:
                f.write(expect[1])
        else:
            with open(os.path.join(d, "expected"), "w") as f:
                f.write(expect)
    print(len(cases), "cases")

main()

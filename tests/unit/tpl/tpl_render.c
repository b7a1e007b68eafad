/*
 * Unit tests for src/tpl/tpl_render.c: AST + context → output —
 * autoescape (by template name, `safe`, markup staying markup through
 * concatenation, set blocks and lists), undefined values, loops (variables, else,
 * filters, unpacking, scoping), conditions, arithmetic and its errors
 * (with file:line:col), includes and extends from a templates directory,
 * application filters applied (results, failures), and the render budgets:
 * steps, memory, output, include/extends nesting and cycles.
 */
#include "unit.h"
#include "tpl/tpl_impl.h"

#include <dirent.h>
#include <stdlib.h>
#include <unistd.h>

static char tmpdir[] = "/tmp/vial-tplr-XXXXXX";
static vial_app *app;

static void write_tpl(const char *name, const char *content)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(content, f);
    fclose(f);
}

static int render(const char *name, const char *src, const char *ctx_json, char **out, char *err,
                  size_t errlen)
{
    json_t *ctx = ctx_json ? json_loads(ctx_json, 0, NULL) : NULL;
    if (ctx_json)
        assert_non_null(ctx);
    int rc = vial_template_render_string_malloc(app, NULL, name, src, ctx, out, NULL, err, errlen);
    json_decref(ctx);
    return rc;
}

static void out_as(const char *name, const char *src, const char *ctx, const char *want)
{
    char *out = NULL, err[512] = "";
    int rc = render(name, src, ctx, &out, err, sizeof err);
    if (rc || strcmp(out, want))
        print_error("%s\n got  [%s]\n want [%s]\n", src, rc ? err : out, want);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    free(out);
}

static void out_is(const char *src, const char *ctx, const char *want)
{
    out_as("r.html", src, ctx, want);
}

/* A render error whose message contains `want` (exact when `exact`). */
static void fails(const char *src, const char *ctx, int code, const char *want)
{
    char *out = NULL, err[512] = "";
    int rc = render("r.html", src, ctx, &out, err, sizeof err);
    if (rc != code || !strstr(err, want))
        print_error("%s\n got  %d [%s]\n want %d [%s]\n", src, rc, rc ? err : out, code, want);
    assert_int_equal(rc, code);
    assert_null(out);
    assert_non_null(strstr(err, want));
}

/* ------------------------------------------------------------------ autoescape */

static void test_autoescape_by_name(void **state)
{
    (void)state;
    const char *ctx = "{\"f\":[{\"id\":11,\"message\":\"<script>alert(\\\"This should not be "
                      "displayed in a browser alert box.\\\");</script>\"},"
                      "{\"id\":12,\"message\":\"\xe3\x83\x95\xe3\x83\xac\xe3\x83\xbc\xe3\x83\xa0\"},"
                      "{\"id\":13,\"message\":\"Tom & Jerry's\"}]}";
    out_as("f.html", "{% for x in f %}<tr><td>{{ x.id }}</td><td>{{ x.message }}</td></tr>{% endfor %}", ctx,
           "<tr><td>11</td><td>&lt;script&gt;alert(&#34;This should not be displayed in a "
           "browser alert box.&#34;);&lt;/script&gt;</td></tr>"
           "<tr><td>12</td><td>\xe3\x83\x95\xe3\x83\xac\xe3\x83\xbc\xe3\x83\xa0</td></tr>"
           "<tr><td>13</td><td>Tom &amp; Jerry&#39;s</td></tr>");
    /* the same as text: nothing escaped */
    out_as("f.txt", "{% for x in f %}{{ x.message }}|{% endfor %}", ctx,
           "<script>alert(\"This should not be displayed in a browser alert box.\");</script>|"
           "\xe3\x83\x95\xe3\x83\xac\xe3\x83\xbc\xe3\x83\xa0|Tom & Jerry's|");
    /* .htm .xml .svg escape too, whatever the case; other names do not */
    out_as("a.HTM", "{{ '<' }}", NULL, "&lt;");
    out_as("a.xml", "{{ '<' }}", NULL, "&lt;");
    out_as("a.svg", "{{ '<' }}", NULL, "&lt;");
    out_as("a.css", "{{ '<' }}", NULL, "<");
    out_as("html", "{{ '<' }}", NULL, "<");
    /* template text itself is never escaped; invalid UTF-8 passes through */
    out_as("a.html", "<b>{{ s }}</b>\xff\xfe", "{\"s\":\"ok\"}", "<b>ok</b>\xff\xfe");
}

static void test_safe_values(void **state)
{
    (void)state;
    out_is("{{ a }}|{{ a|safe }}|{{ a|e }}|{{ a|safe|e }}", "{\"a\":\"<i>&'\\\"\"}",
           "&lt;i&gt;&amp;&#39;&#34;|<i>&'\"|&lt;i&gt;&amp;&#39;&#34;|<i>&'\"");
    /* markup stays markup, and what joins it is escaped */
    out_is("{% set s = a|safe %}{{ s ~ b }}|{{ s + b }}|{{ b ~ s }}|{{ s|upper }}|{{ (s ~ b)|length }}",
           "{\"a\":\"<i>\",\"b\":\"<\"}", "<i>&lt;|<i>&lt;|&lt;<i>|<I>|7");
    /* a set block is markup: its text is not escaped twice */
    out_is("{% set s %}<b>{{ '<' }}</b>{% endset %}{{ s }}|{{ s|length }}", NULL, "<b>&lt;</b>|11");
    out_as("r.txt", "{% set s %}<b>{{ '<' }}</b>{% endset %}{{ s }}", NULL, "<b><</b>");
}

static json_t *f_box(json_t *value, json_t *args, const char **error)
{
    (void)args;
    (void)error;
    return json_pack("{s:O}", "v", value);
}

/*
 * A safe string stays safe in a list, as Jinja's Markup does: through
 * indexing, loops, unpacking, join, sort, reverse, first/last, + and *, an
 * include, and a dict holding the list.  Only the strings that were safe:
 * the same text from anywhere else is still escaped.
 */
static void test_safe_survives_list_literals(void **state)
{
    (void)state;
    const char *ctx = "{\"x\":\"<c>\"}";
    out_is("{% set l = ['<a>'|safe, '<b>'] %}{% for i in l %}{{ i }}{% endfor %}|{{ l|join(', ') }}", NULL,
           "<a>&lt;b&gt;|<a>, &lt;b&gt;");
    out_is("{% set l = ['<a>'|safe, '<b>', x, 1] %}{{ l[0] }}{{ l[1] }}{{ l[2] }}{{ l[-4] }}|{{ l|first }}"
           "{{ l|last }}|{% for i in l|reverse %}{{ i }}{% endfor %}|{{ l[0] ~ l[1] }}|{{ l[1] ~ l[2] }}",
           ctx, "<a>&lt;b&gt;&lt;c&gt;<a>|<a>1|1&lt;c&gt;&lt;b&gt;<a>|<a>&lt;b&gt;|&lt;b&gt;&lt;c&gt;");
    /* nested lists, set values, unpacking, a loop filter */
    out_is("{% set s = '<a>'|safe %}{% set l = [s, [s, '<b>']] %}{{ l[1][0] }}{{ l[1][1] }}"
           "{% for a, b in [l[1]] %}{{ a }}{{ b }}{% endfor %}|{% for i in ['<a>'|safe, '<b>'] if i %}{{ i }}{% endfor %}",
           NULL, "<a>&lt;b&gt;<a>&lt;b&gt;|<a>&lt;b&gt;");
    out_is("{% set l = ['<b>'|safe, '<a>'|safe, '<c>'] %}{% for i in l|sort %}{{ i }}{% endfor %}|"
           "{% for i in (l + ['<d>']) * 2 %}{{ i }}{% endfor %}",
           NULL, "<a><b>&lt;c&gt;|<b><a>&lt;c&gt;&lt;d&gt;<b><a>&lt;c&gt;&lt;d&gt;");
    out_is("{% set b %}<i>{{ '<' }}{% endset %}{% set l = [b] %}{{ l[0] }}", NULL, "<i>&lt;");
    out_is("{% set l = ['<a>'|safe, '<b>'] %}{{ l|join('<br>') }}|{{ l|join('<br>'|safe) }}", NULL,
           "<a>&lt;br&gt;&lt;b&gt;|<a><br>&lt;b&gt;");
    /* in a dict (an app filter's result holding the list) and in an include */
    assert_int_equal(vial_template_filter(app, "box", f_box), 0);
    out_is("{% set l = ['<a>'|safe] %}{{ (l|box).v[0] }}{{ ('<a>'|box).v }}", NULL, "<a>&lt;a&gt;");
    write_tpl("safe_inc.html", "{{ l[0] }}{{ l[1] }}");
    out_is("{% set l = ['<a>'|safe, '<b>'] %}{% include 'safe_inc.html' %}", NULL, "<a>&lt;b&gt;");
    /* what was not marked stays escaped: the context's string, the same text elsewhere */
    out_is("{% set l = [x|safe] %}{{ x }}{{ l[0] }}{{ [x][0] }}", ctx, "&lt;c&gt;<c>&lt;c&gt;");
    out_is("{% set l = ['<a>'|safe] %}{{ ['<a>'][0] }}{{ l[0]|e }}{{ l[0]|upper }}{{ '<a>' in l }}"
           "{{ l[0] == '<a>' }}",
           NULL, "&lt;a&gt;<a><A>TrueTrue");
    out_is("{% for i in l %}{% set l2 = [i] %}{{ l2[0] }}{% endfor %}{% set m = ['<a>'|safe] %}{{ l[0] }}",
           "{\"l\":[\"<a>\"]}", "&lt;a&gt;&lt;a&gt;");
    /* many of them (the render's table of safe strings grows) */
    char many[1024] = "{% set s = '<a>'|safe %}{% set l = [s";
    for (int i = 1; i < 100; i++)
        strcat(many, ",s");
    strcat(many, "] %}{{ l|join }}|{% for i in [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20] %}"
                 "{% set m = [i ~ '<'|safe] %}{{ m[0] }}{% endfor %}");
    char want[1024] = "";
    for (int i = 0; i < 100; i++)
        strcat(want, "<a>");
    strcat(want, "|");
    for (int i = 1; i <= 20; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%d<", i);
    out_is(many, NULL, want);
    /* and a template that does not escape prints the same text */
    out_as("r.txt", "{% set l = ['<a>'|safe, '<b>'] %}{{ l[0] }}{{ l[1] }}|{{ l|join(', ') }}", NULL,
           "<a><b>|<a>, <b>");
}

/* ------------------------------------------------------------------ names and values */

static void test_undefined(void **state)
{
    (void)state;
    out_is("[{{ x }}]|[{{ x.y.z }}]|[{{ x['y'] }}]|{{ x ~ 'a' }}|{{ x is defined }}|{{ (x or 'd') }}|"
           "{% if x %}t{% else %}f{% endif %}|{% for i in x %}{{ i }}{% else %}none{% endfor %}",
           NULL, "[]|[]|[]|a|False|d|f|none");
    fails("{{ count + 1 }}", NULL, VIAL_EINVAL, "r.html:1:10: 'count' is undefined");
    fails("{{ -x }}", NULL, VIAL_EINVAL, "'x' is undefined");
}

static void test_attribute_and_item_access(void **state)
{
    (void)state;
    out_is("{{ x.y }}|{{ x['y'] }}|{{ x.y.z }}|{{ x[0] }}|{{ x.items }}|{{ l[-1] }}|{{ l[9] }}|{{ s[1] }}|"
           "{{ s[-1] }}|{{ l.0 }}",
           "{\"x\":{\"y\":\"<v>\",\"items\":1},\"l\":[1,2],\"s\":\"h\xc3\xa9\"}",
           "&lt;v&gt;|&lt;v&gt;|||1|2||\xc3\xa9|\xc3\xa9|1");
    fails("{{ x[1:2] }}", "{\"x\":[1]}", VIAL_EPARSE, "r.html:1:7: slices are not supported");
}

/* ------------------------------------------------------------------ statements */

static void test_for_loops(void **state)
{
    (void)state;
    out_is("{% for x in [1,2,3] if x != 2 %}{{ loop.index }}/{{ loop.length }}{{ loop.first }}{{ loop.last }},{% endfor %}",
           NULL, "1/2TrueFalse,2/2FalseTrue,");
    out_is("{% for x in 'abc' %}{{ loop.cycle('o','e') }}{{ loop.revindex }}{{ loop.revindex0 }}{% endfor %}", NULL,
           "o32e21o10");
    out_is("{% for a, b in x %}{{ a }}{{ b }};{% endfor %}", "{\"x\":[[1,2],[3,4]]}", "12;34;");
    out_is("{% for k, v in m|items %}{{ k }}={{ v }};{% endfor %}|{% for k in m %}{{ k }}{% endfor %}|"
           "{% for c in 'h\xc3\xa9' %}[{{ c }}]{% endfor %}|{% for x in [] %}x{% else %}empty{% endfor %}",
           "{\"m\":{\"a\":1,\"b\":2}}", "a=1;b=2;|ab|[h][\xc3\xa9]|empty");
    /* the inner loop's `loop` shadows the outer one */
    out_is("{% for i in [1,2] %}{% for j in [3] %}{{ loop.index }}{{ i }}{{ j }}{% endfor %}{{ loop.index }}{% endfor %}",
           NULL, "11311232");
    fails("{% for a, b in x %}{% endfor %}", "{\"x\":[[1,2,3]]}", VIAL_EINVAL,
          "r.html:1:1: cannot unpack 3 values into 2 variables");
    fails("{% for x in y %}{% endfor %}", "{\"y\":5}", VIAL_EINVAL, "r.html:1:13: 'int' object is not iterable");
}

static void test_scoping(void **state)
{
    (void)state;
    /* a loop's variables and sets stay inside it */
    out_is("{% for x in [1,2] %}{{ x }}{% endfor %}[{{ x }}]", NULL, "12[]");
    out_is("{% set x = 5 %}{% for x in [1,2] %}{{ x }}{% endfor %}{{ x }}", NULL, "125");
    out_is("{% set x = 1 %}{% for i in [1,2] %}{% set x = i %}{% endfor %}{{ x }}", NULL, "1");
    /* but a set inside one iteration is seen by that iteration */
    out_is("{% for i in [1,2] %}{% set y = i * 10 %}{{ y }};{% endfor %}", NULL, "10;20;");
    /* a set shadows the context */
    out_is("{{ x }}{% set x = 'mine' %}{{ x }}", "{\"x\":\"ctx\"}", "ctxmine");
}

static void test_conditions(void **state)
{
    (void)state;
    out_is("{% if x %}a{% elif y %}b{% elif z %}c{% else %}d{% endif %}", "{\"z\":1}", "c");
    out_is("{{ 'x' if false }}|{{ 'y' if true else 'z' }}|{{ 1 if none else 2 }}", NULL, "|y|2");
    out_is("{{ not none }}|{{ not 1 and 2 }}|{{ 0 or '' or 'c' }}|{{ 1 and 0 }}", NULL, "True|False|c|0");
    out_is("{{ 1 < 2 < 3 }}|{{ 3 > 2 > 2 }}|{{ 1 == 1 == 1 }}", NULL, "True|False|True");
    out_is("{{ 1 in [1,2] }}|{{ 'b' in 'abc' }}|{{ 'a' in m }}|{{ 3 not in [1,2] }}|{{ '' in 'abc' }}",
           "{\"m\":{\"a\":1}}", "True|True|True|True|True");
    fails("{{ 1 in 5 }}", NULL, VIAL_EINVAL, "r.html:1:6: argument of type 'int' is not iterable");
    fails("{{ 1 < 'a' }}", NULL, VIAL_EINVAL, "r.html:1:6: '<' not supported between instances of 'int' and 'str'");
}

/* ------------------------------------------------------------------ arithmetic */

static void test_arithmetic(void **state)
{
    (void)state;
    out_is("{{ 3/2 }}|{{ 4/2 }}|{{ 7//2 }}|{{ -7//2 }}|{{ -7%3 }}|{{ 7%-3 }}", NULL, "1.5|2.0|3|-4|2|-2");
    out_is("{{ 1.5//0.5 }}|{{ 7.5%2 }}|{{ -7.5%2 }}", NULL, "3.0|1.5|0.5");
    out_is("{{ 'ab' * 3 }}|{{ [1] * 3 }}|{{ 3 * 'x' }}|{{ 'a' ~ 1 ~ none ~ true }}|{{ [1] + [2] }}|{{ 'a' + 'b' }}",
           NULL, "ababab|[1, 1, 1]|xxx|a1NoneTrue|[1, 2]|ab");
    out_is("{{ 'x' * -1 }}|{{ [1] * 0 }}", NULL, "|[]");
    fails("{{ 10/0 }}", NULL, VIAL_EINVAL, "r.html:1:6: division by zero");
    fails("{{ 10//0 }}", NULL, VIAL_EINVAL, "r.html:1:6: division by zero");
    fails("{{ 10%0 }}", NULL, VIAL_EINVAL, "r.html:1:6: modulo by zero");
    fails("{{ 'a' + 1 }}", NULL, VIAL_EINVAL, "r.html:1:8: unsupported operand types for +: 'str' and 'int'");
    fails("{{ -'a' }}", NULL, VIAL_EINVAL, "r.html:1:4: bad operand type for unary -: 'str'");
}

static void test_integer_overflow_becomes_float(void **state)
{
    (void)state;
    /* no wrap-around (UBSan would see one); Python's big ints become floats */
    out_is("{{ x + 1 }}|{{ x * 2 }}", "{\"x\":9223372036854775807}", "9.223372036854776e+18|1.8446744073709552e+19");
    out_is("{{ -y }}|{{ y // -1 }}|{{ y % -1 }}|{{ y - 1 }}", "{\"y\":-9223372036854775808}",
           "9.223372036854776e+18|9.223372036854776e+18|0|-9.223372036854776e+18");
}

/* ------------------------------------------------------------------ includes and extends */

static void test_include_and_extends(void **state)
{
    (void)state;
    write_tpl("part.html", "[{{ who }}]");
    write_tpl("part.txt", "<{{ who }}>");
    write_tpl("base.html", "<h1>{% block title %}Base{% endblock %}</h1>{% block body %}{% endblock %}");
    out_is("{% include 'part.html' %}", "{\"who\":\"<me>\"}", "[&lt;me&gt;]");
    /* the included template's own name decides its escaping */
    out_is("{% include 'part.txt' %}", "{\"who\":\"<me>\"}", "<<me>>");
    out_is("{% include 'nope.html' ignore missing %}ok", NULL, "ok");
    out_is("{% set who = 'set' %}{% include 'part.html' without context %}", NULL, "[]");
    out_is("{% set who = 'set' %}{% include 'part.html' %}", NULL, "[set]");
    out_is("{% extends 'base.html' %}{% block title %}{{ super() }} + child{% endblock %}ignored", NULL,
           "<h1>Base + child</h1>");
    out_is("{% extends name %}", "{\"name\":\"base.html\"}", "<h1>Base</h1>");
    fails("{% include 'nope.html' %}", NULL, VIAL_ENOENT, "r.html:1:1: template 'nope.html' not found");
    fails("{% include '../x.html' %}", NULL, VIAL_EINVAL, "'../x.html': '..' in template names is refused");
}

/* ------------------------------------------------------------------ application filters */

static json_t *f_shout(json_t *value, json_t *args, const char **error)
{
    (void)error;
    const char *s = json_string_value(value);
    json_int_t n = json_array_size(args) ? json_integer_value(json_array_get(args, 0)) : 1;
    char buf[128];
    snprintf(buf, sizeof buf, "%s%.*s", s ? s : "?", (int)n, "!!!!!!!!!!");
    return json_string(buf);
}

static json_t *f_fail(json_t *value, json_t *args, const char **error)
{
    (void)value;
    (void)args;
    *error = "nope";
    return NULL;
}

static json_t *f_wrap(json_t *value, json_t *args, const char **error)
{
    (void)args;
    (void)error;
    return json_pack("{s:O}", "v", value);
}

static void test_application_filters(void **state)
{
    (void)state;
    vial_app *a = app;
    assert_int_equal(vial_template_filter(a, "shout", f_shout), 0);
    assert_int_equal(vial_template_filter(a, "fail", f_fail), 0);
    assert_int_equal(vial_template_filter(a, "wrap", f_wrap), 0);
    assert_int_equal(vial_template_filter(a, "upper", f_shout), 0); /* replaces the builtin */
    out_is("{{ 'hi'|shout }} {{ 'hi'|shout(3) }} {{ 'x'|upper }}", NULL, "hi! hi!!! x!");
    /* results are values like any other: escaped, navigable */
    out_is("{{ ('<'|wrap).v }} {{ 5|wrap|tojson }} {{ x|wrap }}", NULL, "&lt; {\"v\":5} {&#39;v&#39;: None}");
    fails("{{ 1|fail }}", NULL, VIAL_EINVAL, "r.html:1:6: filter 'fail' failed: nope");
}

/* ------------------------------------------------------------------ budgets */

static const char *xs = "{\"xs\":[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,"
                        "25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,"
                        "49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64]}";

static void test_step_budget(void **state)
{
    (void)state;
    /* nested loops multiply */
    fails("{% for a in xs %}{% for b in xs %}{% for c in xs %}{% for d in xs %}{% for e in xs %}"
          "{% endfor %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}",
          xs, VIAL_ERANGE, "template needs too much work (more than 20000000 steps)");
    /* thousands of variables in one scope: the lookups are charged */
    vial__tplmod *m = vial__tplmod_get(app);
    size_t cap = 5000 * 40;
    char *many = malloc(cap);
    many[0] = '\0';
    for (int i = 0, o = 0; i < 5000; i++)
        o += snprintf(many + o, cap - (size_t)o, "{%% set v%d = %d %%}", i, i);
    m->lim.max_steps = 200000;
    fails(many, NULL, VIAL_ERANGE, "too much work");
    m->lim.max_steps = 20000000;
    out_is(strcat(many, "{{ v4999 }}"), NULL, "4999");
    free(many);
}

static void test_memory_budget(void **state)
{
    (void)state;
    char dbl[1024] = "{% set s = 'xxxxxxxxxxxxxxxx' %}";
    for (int i = 0; i < 30; i++)
        strcat(dbl, "{% set s = s ~ s %}");
    fails(dbl, NULL, VIAL_ETOOBIG, "template needs too much memory");
    /* temporaries of every iteration add up */
    fails("{% for a in xs %}{% for b in xs %}{% set s = 'x' * 100000 %}{% endfor %}{% endfor %}", xs,
          VIAL_ETOOBIG, "too much memory");
    fails("{{ 'x' * 1000000000000 }}", NULL, VIAL_ETOOBIG, "too much memory");
    fails("{{ [1, 2] * 100000000000 }}", NULL, VIAL_ETOOBIG, "too much memory");
    /* a smaller limit is honoured */
    vial__tplmod *m = vial__tplmod_get(app);
    m->lim.max_memory = 4096;
    fails("{{ 'x' * 5000 }}", NULL, VIAL_ETOOBIG, "template needs too much memory (more than 4096 bytes)");
    m->lim.max_memory = (size_t)128 << 20;
}

static void test_output_budget(void **state)
{
    (void)state;
    vial__tplmod *m = vial__tplmod_get(app);
    m->lim.max_output = 1000;
    fails("{% for a in xs %}{% for b in xs %}ab{% endfor %}{% endfor %}", xs, VIAL_ETOOBIG,
          "r.html:1:35: output larger than 1000 bytes");
    fails("{{ 'x' * 2000 }}", NULL, VIAL_ETOOBIG, "output larger than");
    char *out = NULL, err[256];
    assert_int_equal(render("r.html", "{{ 'x' * 999 }}|", NULL, &out, err, sizeof err), 0);
    assert_int_equal(strlen(out), 1000); /* exactly the limit is fine */
    free(out);
    m->lim.max_output = (size_t)64 << 20;
}

static void test_nesting_budget(void **state)
{
    (void)state;
    write_tpl("self.html", "x{% include 'self.html' %}");
    fails("{% include 'self.html' %}", NULL, VIAL_ERANGE,
          "self.html:1:2: templates nested too deeply (16 levels of include/extends)");
    write_tpl("loop-a.html", "{% extends 'loop-b.html' %}");
    write_tpl("loop-b.html", "{% extends 'loop-a.html' %}");
    fails("{% include 'loop-a.html' %}", NULL, VIAL_EINVAL,
          "loop-b.html:1:12: circular {% extends %}: 'loop-a.html' again");
    /* a doubling include tree: the depth limit, or the step budget */
    write_tpl("twice.html", "{% include 'twice.html' %}{% include 'twice.html' %}");
    fails("{% include 'twice.html' %}", NULL, VIAL_ERANGE, "nested too deeply");
    write_tpl("twice2.html", "{% set d = (d or 0) + 1 %}{% if d < 14 %}"
                             "{% include 'twice2.html' %}{% include 'twice2.html' %}{% endif %}");
    vial__tplmod *m = vial__tplmod_get(app);
    m->lim.max_steps = 100000;
    fails("{% include 'twice2.html' %}", NULL, VIAL_ERANGE, "too much work");
    m->lim.max_steps = 20000000;
    /* deep but legal nesting renders */
    char src[4096] = "", end[1024] = "";
    for (int i = 0; i < 40; i++) {
        strcat(src, "{% if true %}");
        strcat(end, "{% endif %}");
    }
    strcat(src, "deep");
    strcat(src, end);
    out_is(src, NULL, "deep");
}

static void test_render_into_buffer(void **state)
{
    (void)state;
    /* vial__tpl_render appends; a failed render reports its error */
    vial__tplmod *m = vial__tplmod_get(app);
    char err[256];
    int code;
    const char *src = "{{ a }}-{{ 1/b }}";
    vial__tpl *t = vial__tpl_compile(m, "b.txt", src, strlen(src), err, sizeof err, &code);
    assert_non_null(t);
    vial__buf out = { 0 };
    vial__buf_puts(&out, ">");
    json_t *ctx = json_pack("{s:s,s:i}", "a", "x", "b", 2);
    assert_int_equal(vial__tpl_render(m, NULL, t, ctx, &out, err, sizeof err), 0);
    vial__buf_nul(&out);
    assert_string_equal(out.p, ">x-0.5");
    json_object_set_new(ctx, "b", json_integer(0));
    assert_int_equal(vial__tpl_render(m, NULL, t, ctx, &out, err, sizeof err), VIAL_EINVAL);
    assert_string_equal(err, "b.txt:1:13: division by zero");
    /* no context at all: every name is undefined */
    out.n = 0;
    assert_int_equal(vial__tpl_render(m, NULL, t, NULL, &out, err, sizeof err), VIAL_EINVAL);
    assert_string_equal(err, "b.txt:1:13: 'b' is undefined");
    json_decref(ctx);
    vial__buf_free(&out);
    vial__tpl_release(t);
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(tmpdir))
        return -1;
    app = vial_app_new("tpl-render");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "templates_dir", tmpdir);
    vial_configure(app, 0, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vial_app_free(app);
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char path[600];
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_autoescape_by_name),
        cmocka_unit_test(test_safe_values),
        cmocka_unit_test(test_safe_survives_list_literals),
        cmocka_unit_test(test_undefined),
        cmocka_unit_test(test_attribute_and_item_access),
        cmocka_unit_test(test_for_loops),
        cmocka_unit_test(test_scoping),
        cmocka_unit_test(test_conditions),
        cmocka_unit_test(test_arithmetic),
        cmocka_unit_test(test_integer_overflow_becomes_float),
        cmocka_unit_test(test_include_and_extends),
        cmocka_unit_test(test_application_filters),
        cmocka_unit_test(test_step_budget),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_output_budget),
        cmocka_unit_test(test_nesting_budget),
        cmocka_unit_test(test_render_into_buffer),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

/*
 * Unit tests for src/tpl/tpl_parse.c: source → tokens → AST, through
 * vial__tpl_compile() and the public string renderer — syntax errors
 * reported as "name:line:column: message" (columns in characters, the
 * opening line of an unclosed tag), string and number literals, whitespace
 * control, raw blocks and comments, the nesting and size limits checked at
 * compile time, filter argument binding (arity, keywords, custom filters
 * positional only), vial__tpl_where() and the autoescape rule for names.
 */
#include "unit.h"
#include "tpl/tpl_impl.h"

#include <stdlib.h>

static vial_app *app;

static int render(const char *name, const char *src, const char *ctx_json, char **out, char *err,
                  size_t errlen)
{
    json_t *ctx = ctx_json ? json_loads(ctx_json, 0, NULL) : NULL;
    int rc = vial_template_render_string_malloc(app, NULL, name, src, ctx, out, NULL, err, errlen);
    json_decref(ctx);
    return rc;
}

static void out_is(const char *src, const char *ctx, const char *want)
{
    char *out = NULL, err[512] = "";
    int rc = render("t.html", src, ctx, &out, err, sizeof err);
    if (rc || strcmp(out, want))
        print_error("%s\n got  [%s]\n want [%s]\n", src, rc ? err : out, want);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    free(out);
}

/* A compile error: the exact message, and no output. */
static void syntax_error(const char *src, const char *want)
{
    char *out = NULL, err[512] = "";
    int rc = render("t.html", src, NULL, &out, err, sizeof err);
    if (rc != VIAL_EPARSE || strcmp(err, want))
        print_error("%s\n got  %d [%s]\n want [%s]\n", src, rc, rc ? err : out, want);
    assert_int_equal(rc, VIAL_EPARSE);
    assert_null(out);
    assert_string_equal(err, want);
}

/* ------------------------------------------------------------------ errors */

static void test_errors_name_line_and_column(void **state)
{
    (void)state;
    syntax_error("line1\n  {{ x|nope }}", "t.html:2:8: unknown filter 'nope'");
    /* columns count characters, not bytes */
    syntax_error("\xc3\xa9\xe2\x82\xac{{ x|nope }}", "t.html:1:8: unknown filter 'nope'");
    syntax_error("a\n\nb {{ 1 2 }}", "t.html:3:8: expected '}}', got a number");
    /* an unclosed tag is reported where it opened */
    syntax_error("x\n{% if a %}\n{% for b in c %}{% endfor %}", "t.html:2:1: unclosed {% if %} (missing {% endif %})");
    syntax_error("{% if x %}\n{% for y in z %}\n{% endif %}",
                 "t.html:3:4: unexpected {% endif %} (the innermost open tag is the {% for %} of "
                 "line 2, closed by {% endfor %})");
}

static void test_expression_errors(void **state)
{
    (void)state;
    syntax_error("{{ }}", "t.html:1:4: unexpected '}}'");
    syntax_error("{{ 1 + }}", "t.html:1:8: unexpected '}}'");
    syntax_error("{{ x if }}", "t.html:1:9: unexpected '}}'");
    syntax_error("{{ (1 }}", "t.html:1:7: expected ')', got '}}'");
    syntax_error("{{ [1, 2 }}", "t.html:1:10: expected ',' or ']', got '}}'");
    syntax_error("{{ x[ }}", "t.html:1:7: unexpected '}}'");
    syntax_error("{{ x. }}", "t.html:1:7: expected an attribute name after '.', got '}}'");
    syntax_error("{{ x | }}", "t.html:1:8: expected a filter name, got '}}'");
    syntax_error("{{ {'a': 1} }}", "t.html:1:4: dict literals are not supported");
    syntax_error("{{ x.upper() }}", "t.html:1:6: method calls are not supported: use the filter, x|upper");
    syntax_error("{{ foo(1) }}", "t.html:1:4: unknown function 'foo'");
    syntax_error("{{ x is shiny }}", "t.html:1:9: unknown test 'shiny'");
    syntax_error("{{ 2 ** 3 }}", "t.html:1:7: unexpected '*'");
    syntax_error("{{ x ! y }}", "t.html:1:6: unexpected character '!'");
    syntax_error("{{ url_for() }}", "t.html:1:11: url_for() takes an endpoint and keyword arguments");
    syntax_error("{{ static() }}", "t.html:1:10: static() takes one argument");
}

static void test_statement_errors(void **state)
{
    (void)state;
    syntax_error("{% macro m() %}{% endmacro %}", "t.html:1:4: unknown tag 'macro'");
    syntax_error("{% endfor %}", "t.html:1:4: unexpected {% endfor %}");
    syntax_error("{% if x %}a{% else %}b{% else %}c{% endif %}",
                 "t.html:1:26: unexpected {% else %} (the innermost open tag is the {% if %} of "
                 "line 1, closed by {% endif %})");
    syntax_error("{% for x in %}{% endfor %}", "t.html:1:13: unexpected '%}'");
    syntax_error("{% for 1 in x %}{% endfor %}", "t.html:1:8: expected a loop variable name, got a number");
    syntax_error("{% set = 1 %}", "t.html:1:8: expected a variable name, got '='");
    syntax_error("{% set x 1 %}", "t.html:1:10: expected '=' or '%}', got a number");
    syntax_error("{% set x %}a", "t.html:1:1: unclosed {% set %} (missing {% endset %})");
    syntax_error("{% set x = 1 %}{% endset %}", "t.html:1:19: unexpected {% endset %}");
    syntax_error("{% include %}", "t.html:1:12: unexpected '%}'");
    syntax_error("{% block %}{% endblock %}", "t.html:1:10: expected a block name, got '%}'");
    syntax_error("{% block a %}{% endblock b %}", "t.html:1:26: {% endblock b %} closes block 'a'");
    syntax_error("{% block a %}{% endblock %}{% block a %}{% endblock %}", "t.html:1:28: block 'a' defined twice");
    syntax_error("{% extends 'a' %}{% extends 'b' %}", "t.html:1:18: {% extends %} used twice");
    syntax_error("{% if true %}{% extends 'a' %}{% endif %}",
                 "t.html:1:14: {% extends %} must be at the top level of the template");
}

static void test_lexical_errors(void **state)
{
    (void)state;
    syntax_error("{{ 'ab", "t.html:1:4: unterminated string");
    syntax_error("{{ \"\\x4\" }}", "t.html:1:5: truncated \\x escape in a string");
    syntax_error("{{ '\\u12' }}", "t.html:1:5: truncated \\u escape in a string");
    syntax_error("{{ 12345678901234567890123456789012345678901234567890123456789012345678 }}",
                 "t.html:1:4: number too long");
    syntax_error("{# unclosed", "t.html:1:1: unclosed comment (missing '#}')");
    syntax_error("ok\n{% raw %}{{ x }}", "t.html:2:1: unclosed {% raw %} (missing {% endraw %})");
    syntax_error("{{ x", "t.html:1:1: unclosed '{{' (missing '}}')");
    syntax_error("{% if x", "t.html:1:1: unclosed '{%' (missing '%}')");
}

/* ------------------------------------------------------------------ filter arguments */

static json_t *f_echo(json_t *value, json_t *args, const char **error)
{
    (void)error;
    return json_pack("[O,O]", value, args);
}

static void test_filter_argument_binding(void **state)
{
    (void)state;
    syntax_error("{{ x|replace('a') }}", "t.html:1:6: filter 'replace' needs the argument 'new'");
    syntax_error("{{ x|join(sep=',') }}", "t.html:1:6: filter 'join' has no argument 'sep'");
    syntax_error("{{ x|truncate(1,2,3,4,5) }}", "t.html:1:6: filter 'truncate' takes at most 4 arguments");
    syntax_error("{{ x|default(1, boolean=true, z=1) }}", "t.html:1:6: filter 'default' has no argument 'z'");
    /* keywords bind by name, in any order */
    out_is("{{ 'hello world foo'|truncate(end='!', leeway=0, length=9) }}", NULL, "hello!");
    out_is("{{ ''|default(boolean=true, default_value='d') }}", NULL, "d");
    /* an app's filter takes positional arguments only */
    assert_int_equal(vial_template_filter(app, "echo", f_echo), 0);
    out_is("{{ 1|echo }}|{{ 'a'|echo(2, 'b') }}", NULL, "[1, []]|[&#39;a&#39;, [2, &#39;b&#39;]]");
    syntax_error("{{ 1|echo(n=1) }}", "t.html:1:6: filter 'echo' takes positional arguments only");
}

/* ------------------------------------------------------------------ literals */

static void test_string_literals(void **state)
{
    (void)state;
    /* Python's escapes; unknown ones stay as written */
    out_is("{{ '\\u00e9\\U0001F600\\101\\x41\\q\\t|' }}", NULL, "\xc3\xa9\xf0\x9f\x98\x80" "AA\\q\t|");
    out_is("{{ \"it's\" }}|{{ 'say \\'hi\\'' }}|{{ \"a\\\"b\" }}", NULL, "it&#39;s|say &#39;hi&#39;|a&#34;b");
    /* a lone surrogate cannot be encoded: the replacement character */
    out_is("{{ '\\uD800' }}", NULL, "\xef\xbf\xbd");
    /* backslash-newline joins lines */
    out_is("{{ 'a\\\nb' }}", NULL, "ab");
    /* adjacent literals concatenate */
    out_is("{{ 'a' \"b\" 'c' }}", NULL, "abc");
}

static void test_number_literals(void **state)
{
    (void)state;
    out_is("{{ 1e3 }}|{{ 1.5e-3 }}|{{ 2E2 }}|{{ 0.5 }}", NULL, "1000.0|0.0015|200.0|0.5");
    out_is("{{ 9223372036854775807 }}", NULL, "9223372036854775807");
    /* past int64: a float, as close as it gets */
    out_is("{{ 9223372036854775808 }}", NULL, "9.223372036854776e+18");
    /* after a '.', digits are subscripts: x.0.1 is x[0][1] */
    out_is("{{ x.0.1 }}|{{ x.0 }}", "{\"x\":[[1,2]]}", "2|[1, 2]");
    /* "1." is not a float literal */
    syntax_error("{{ 1. }}", "t.html:1:7: expected an attribute name after '.', got '}}'");
}

/* ------------------------------------------------------------------ whitespace, raw, comments */

static void test_whitespace_control(void **state)
{
    (void)state;
    out_is("a  {%- if true -%}  b  {%- endif -%}  c|{{- ' d ' -}} |  {{ 'e' }}", NULL, "abc| d |  e");
    out_is("{%+ if true %} a {% endif +%} b", NULL, " a  b");
    out_is("x\n  {{- 'y' }}\n", NULL, "xy");
    /* the template's last newline is dropped, a block tag's own is kept */
    out_is("x\n", NULL, "x");
    out_is("{% if true %}\nline\n{% endif %}\nend", NULL, "\nline\n\nend");
}

static void test_raw_and_comments(void **state)
{
    (void)state;
    out_is("{% raw %}{{ x }}{% if %}{% endraw %}|{# {{ x }} {% if %} #}|{%- raw -%}  r  {%- endraw -%}  |",
           NULL, "{{ x }}{% if %}||r|");
    out_is("a{# multi\nline #}b", NULL, "ab");
    out_is("a {#- trimmed -#} b", NULL, "ab");
}

/* ------------------------------------------------------------------ limits */

static void test_expression_depth_limit(void **state)
{
    (void)state;
    char src[1024] = "{{ ", end[512] = "";
    for (int i = 0; i < 60; i++) {
        strcat(src, "(");
        strcat(end, ")");
    }
    strcat(src, "1");
    strcat(src, end);
    strcat(src, " }}");
    out_is(src, NULL, "1");
    char deep[1024] = "{{ ";
    for (int i = 0; i < 70; i++)
        strcat(deep, "(");
    strcat(deep, "1 }}");
    char *out = NULL, err[256];
    assert_int_equal(render("t.html", deep, NULL, &out, err, sizeof err), VIAL_EPARSE);
    assert_non_null(strstr(err, "expression nested too deeply (limit 64)"));
}

static void test_tag_depth_limit(void **state)
{
    (void)state;
    char ok[4096] = "", ok_end[1024] = "";
    for (int i = 0; i < VIAL__TPL_MAX_STMT_DEPTH; i++) {
        strcat(ok, "{% if true %}");
        strcat(ok_end, "{% endif %}");
    }
    strcat(ok, "deep");
    strcat(ok, ok_end);
    out_is(ok, NULL, "deep");
    char bad[4096] = "";
    for (int i = 0; i <= VIAL__TPL_MAX_STMT_DEPTH; i++)
        strcat(bad, "{% if true %}");
    char *out = NULL, err[256];
    assert_int_equal(render("t.html", bad, NULL, &out, err, sizeof err), VIAL_EPARSE);
    assert_non_null(strstr(err, "tags nested too deeply (limit 48)"));
}

static void test_block_count_limit(void **state)
{
    (void)state;
    size_t cap = 4100 * 40;
    char *many = malloc(cap);
    many[0] = '\0';
    for (int i = 0, o = 0; i < VIAL__TPL_MAX_BLOCKS; i++)
        o += snprintf(many + o, cap - (size_t)o, "{%% block b%d %%}{%% endblock %%}", i);
    out_is(many, NULL, "");
    strcat(many, "{% block last %}{% endblock %}");
    char *out = NULL, err[256];
    assert_int_equal(render("t.html", many, NULL, &out, err, sizeof err), VIAL_EPARSE);
    assert_non_null(strstr(err, "too many blocks (limit 4096)"));
    free(many);
}

static void test_source_size_limit(void **state)
{
    (void)state;
    vial__tplmod *m = vial__tplmod_get(app);
    size_t n = VIAL__TPL_MAX_SOURCE + 1;
    char *src = malloc(n + 1);
    memset(src, 'x', n);
    src[n] = '\0';
    char err[256];
    int code = 0;
    assert_null(vial__tpl_compile(m, "big.html", src, n, err, sizeof err, &code));
    assert_int_not_equal(code, 0);
    assert_non_null(strstr(err, "big.html"));
    /* exactly the limit compiles */
    vial__tpl *t = vial__tpl_compile(m, "big.html", src, n - 1, err, sizeof err, &code);
    assert_non_null(t);
    vial__tpl_release(t);
    free(src);
}

/* ------------------------------------------------------------------ the compile API */

static void test_compile_and_release(void **state)
{
    (void)state;
    vial__tplmod *m = vial__tplmod_get(app);
    char err[256] = "";
    int code = 0;
    vial__tpl *t = vial__tpl_compile(m, "page.HTML", "<p>{{ x }}</p>", 14, err, sizeof err, &code);
    assert_non_null(t);
    assert_true(t->autoescape);
    assert_string_equal(t->name, "page.HTML");
    vial__tpl_retain(t); /* a render holds it while the cache lets go */
    vial__tpl_release(t);
    vial__buf out = { 0 };
    json_t *ctx = json_pack("{s:s}", "x", "<");
    assert_int_equal(vial__tpl_render(m, NULL, t, ctx, &out, err, sizeof err), 0);
    vial__buf_nul(&out);
    assert_string_equal(out.p, "<p>&lt;</p>");
    vial__buf_free(&out);
    json_decref(ctx);
    vial__tpl_release(t);
    /* the source is copied: the caller's buffer may go */
    char src[] = "{{ 1 + 1 }}";
    t = vial__tpl_compile(m, "copy.txt", src, strlen(src), err, sizeof err, &code);
    assert_false(t->autoescape);
    memset(src, 0, sizeof src);
    assert_int_equal(vial__tpl_render(m, NULL, t, NULL, &out, err, sizeof err), 0);
    vial__buf_nul(&out);
    assert_string_equal(out.p, "2");
    vial__buf_free(&out);
    vial__tpl_release(t);
    /* a syntax error: NULL, the message, the code */
    code = 0;
    assert_null(vial__tpl_compile(m, "bad.html", "{% if %}", 8, err, sizeof err, &code));
    assert_int_equal(code, VIAL_EPARSE);
    assert_string_equal(err, "bad.html:1:7: unexpected '%}'");
}

static void test_where(void **state)
{
    (void)state;
    vial__tplmod *m = vial__tplmod_get(app);
    char err[64];
    int code;
    const char src[] = "ab\n\xc3\xa9x\n\nz";
    vial__tpl *t = vial__tpl_compile(m, "w.txt", src, sizeof src - 1, err, sizeof err, &code);
    assert_non_null(t);
    char where[64];
    assert_true(vial__tpl_where(t, 0, where, sizeof where) > 0);
    assert_string_equal(where, "w.txt:1:1: ");
    vial__tpl_where(t, 2, where, sizeof where); /* the newline itself ends line 1 */
    assert_string_equal(where, "w.txt:1:3: ");
    vial__tpl_where(t, 5, where, sizeof where); /* after a two-byte character */
    assert_string_equal(where, "w.txt:2:2: ");
    vial__tpl_where(t, 8, where, sizeof where);
    assert_string_equal(where, "w.txt:4:1: ");
    /* a short buffer is cut, not overrun */
    char tiny[6];
    vial__tpl_where(t, 0, tiny, sizeof tiny);
    assert_int_equal(strlen(tiny), 5);
    vial__tpl_release(t);
}

static void test_autoescape_names(void **state)
{
    (void)state;
    static const char *const yes[] = { "a.html", "a.htm", "a.xml", "a.svg", "dir/a.HTML", "x.Svg" };
    static const char *const no[] = { "a.txt", "a.css", "html", "a.html.txt", "a.js", "", ".htmlx" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(yes); i++)
        assert_true(vial__tpl_autoescape_name(yes[i]));
    for (size_t i = 0; i < VIAL__ARRAY_LEN(no); i++)
        assert_false(vial__tpl_autoescape_name(no[i]));
}

static int setup(void **state)
{
    (void)state;
    app = vial_app_new("tpl-parse");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vial_app_free(app);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors_name_line_and_column),
        cmocka_unit_test(test_expression_errors),
        cmocka_unit_test(test_statement_errors),
        cmocka_unit_test(test_lexical_errors),
        cmocka_unit_test(test_filter_argument_binding),
        cmocka_unit_test(test_string_literals),
        cmocka_unit_test(test_number_literals),
        cmocka_unit_test(test_whitespace_control),
        cmocka_unit_test(test_raw_and_comments),
        cmocka_unit_test(test_expression_depth_limit),
        cmocka_unit_test(test_tag_depth_limit),
        cmocka_unit_test(test_block_count_limit),
        cmocka_unit_test(test_source_size_limit),
        cmocka_unit_test(test_compile_and_release),
        cmocka_unit_test(test_where),
        cmocka_unit_test(test_autoescape_names),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

/*
 * Unit tests for src/tpl/tpl_filters.c: the builtin filters and tests,
 * one case per filter family — their defaults, edge cases and errors.
 * Unless a comment says otherwise the expected output is what Jinja2 3.x
 * (autoescape on, as for a .html template) renders for the same source;
 * the documented differences (ASCII-only case mapping, compact tojson,
 * keys, date) are checked as vial's own.
 */
#include "unit.h"
#include "tpl/tpl_impl.h"

#include <stdlib.h>

static vial_app *app;

static void out_ctx(const char *name, const char *src, const char *ctx_json, const char *want)
{
    json_t *ctx = ctx_json ? json_loads(ctx_json, 0, NULL) : NULL;
    if (ctx_json)
        assert_non_null(ctx);
    char *out = NULL, err[512] = "";
    int rc = vial_template_render_string_malloc(app, NULL, name, src, ctx, &out, NULL, err, sizeof err);
    if (rc || strcmp(out, want))
        print_error("%s\n got  [%s]\n want [%s]\n", src, rc ? err : out, want);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    free(out);
    json_decref(ctx);
}

static void out_is(const char *src, const char *want)
{
    out_ctx("f.html", src, NULL, want);
}

/* A render error: its code and its exact message. */
static void fails(const char *src, const char *ctx_json, int code, const char *want)
{
    json_t *ctx = ctx_json ? json_loads(ctx_json, 0, NULL) : NULL;
    char *out = NULL, err[512] = "";
    int rc = vial_template_render_string_malloc(app, NULL, "f.html", src, ctx, &out, NULL, err, sizeof err);
    if (rc != code || strcmp(err, want))
        print_error("%s\n got  %d [%s]\n want %d [%s]\n", src, rc, rc ? err : out, code, want);
    assert_int_equal(rc, code);
    assert_null(out);
    assert_string_equal(err, want);
    json_decref(ctx);
}

/* ------------------------------------------------------------------ strings */

static void test_escape_safe_string(void **state)
{
    (void)state;
    out_is("{{ '<b>'|e }}|{{ '<b>'|e|e }}|{{ '<b>'|safe|e }}|{{ 42|e }}|{{ none|e }}|"
           "{{ '<'|string }}|{{ '<'|safe|string }}",
           "&lt;b&gt;|&lt;b&gt;|<b>|42|None|&lt;|<");
    out_is("{{ '&\"\\'<>'|escape }}", "&amp;&#34;&#39;&lt;&gt;");
    out_is("{{ true|string }}|{{ none|string }}|{{ 1.0|string }}|{{ x|string }}|{{ (x|string)|length }}",
           "True|None|1.0||0");
}

static void test_case_mapping(void **state)
{
    (void)state;
    out_is("{{ 'hello WORLD'|title }}|{{ 'hello-world (foo)'|title }}|{{ 'hELLO'|capitalize }}|"
           "{{ 'a<b'|upper }}",
           "Hello World|Hello-World (Foo)|Hello|A&lt;B");
    out_is("{{ 'a\\tb'|title }}|{{ \"don't stop\"|title }}|{{ 'x{y[z<w'|title }}|{{ 'a.b'|title }}",
           "A\tB|Don&#39;t Stop|X{Y[Z&lt;W|A.b");
    out_is("{{ 12|title }}|{{ none|upper }}|{{ true|lower }}|{{ 1.5|capitalize }}", "12|NONE|true|1.5");
    /* vial's documented difference: ASCII letters only (Jinja: "école é", "ÉCOLE") */
    out_is("{{ '\xc3\x89" "COLE \xc3\xa9'|lower }}|{{ '\xc3\xa9" "cole'|upper }}",
           "\xc3\x89" "cole \xc3\xa9|\xc3\xa9" "COLE");
}

static void test_trim(void **state)
{
    (void)state;
    out_is("[{{ '  x  '|trim }}]|{{ 'xxaxx'|trim('x') }}|[{{ ' \\t\\n '|trim }}]|{{ 'abcba'|trim('ab') }}",
           "[x]|a|[]|c");
}

static void test_truncate(void **state)
{
    (void)state;
    out_is("{{ 'abc'|truncate(5) }}|{{ 'hello world foo'|truncate(9) }}|"
           "{{ 'hello world foo'|truncate(9, true) }}|{{ 'hello world foo'|truncate(9,false,'!',0) }}",
           "abc|hello...|hello ...|hello!");
    /* counted in characters; within length + leeway nothing is cut */
    out_is("{{ 'h\xc3\xa9llo w\xc3\xb6rld'|truncate(7,true,'\xe2\x80\xa6',0) }}|"
           "{{ 'hello world'|truncate(8) }}|{{ 'a'|truncate(3) }}",
           "h\xc3\xa9llo \xe2\x80\xa6|hello world|a");
    fails("{{ 'hello'|truncate(2) }}", NULL, VIAL_EINVAL,
          "f.html:1:12: filter 'truncate': expected length >= 3, got 2");
    fails("{{ 'hello'|truncate(5, leeway=-1) }}", NULL, VIAL_EINVAL,
          "f.html:1:12: filter 'truncate': expected leeway >= 0, got -1");
    fails("{{ 'x'|truncate('a') }}", NULL, VIAL_EINVAL,
          "f.html:1:8: filter 'truncate': length must be an integer, not 'str'");
}

static void test_replace(void **state)
{
    (void)state;
    out_is("{{ 'abcabc'|replace('b','<') }}|{{ 'abc'|replace('','-') }}|{{ 'aaaa'|replace('a','b',2) }}|"
           "{{ 'abc'|replace('b','x',0) }}|{{ 'abc'|replace('','-',2) }}|{{ ''|replace('','-') }}|"
           "{{ 'h\xc3\xa9'|replace('','.') }}|{{ 'aaa'|replace('a','aa') }}",
           "a&lt;ca&lt;c|-a-b-c-|bbaa|abc|-a-bc|-|.h.\xc3\xa9.|aaaaaa");
    /* markup: with autoescape, a safe operand makes the replacement happen on
     * escaped text and the result safe */
    out_is("{{ '<a>'|safe|replace('a','&') }}|{{ 'a&b'|replace('&','<br>'|safe) }}", "<&amp;>|a<br>b");
    /* without autoescape, plain text */
    out_ctx("f.txt", "{{ '<a>'|safe|replace('a','&') }}|{{ '<'|e|replace('&','X') }}", NULL, "<&>|Xlt;");
}

static void test_urlencode(void **state)
{
    (void)state;
    out_ctx("f.html", "{{ x|urlencode }}|{{ y|urlencode }}|{{ 'a b&c/d'|urlencode }}|{{ '\xc3\xa9~_.-'|urlencode }}",
            "{\"x\":{\"a b\":\"c&d\",\"e\":1},\"y\":[[\"a\",\"b c\"],[\"d\",\"\xc3\xa9\"]]}",
            "a+b=c%26d&amp;e=1|a=b+c&amp;d=%C3%A9|a%20b%26c/d|%C3%A9~_.-");
    out_is("{{ 12|urlencode }}|{{ none|urlencode }}|{{ '/a b/'|urlencode }}", "12|None|/a%20b/");
    fails("{{ [1, 2]|urlencode }}", NULL, VIAL_EINVAL,
          "f.html:1:11: filter 'urlencode': expected a dict or a list of pairs");
}

/* ------------------------------------------------------------------ defaults and numbers */

static void test_default(void **state)
{
    (void)state;
    out_is("{{ x|default('d') }}|{{ ''|default('d') }}|{{ ''|default('d',true) }}|{{ 0|d('z',true) }}|"
           "{{ none|default('n') }}|{{ x|default }}",
           "d||d|z|None|");
    out_is("{{ 'x'|default(none) }}|{{ x|default(none) }}|{{ x|default(1)|default(2) }}|"
           "{{ false|default('d', true) }}|{{ []|d('e',true) }}",
           "x|None|1|d|e");
    /* an undefined attribute chain is undefined too */
    out_is("{{ x.y.z|default('deep') }}", "deep");
}

static void test_length(void **state)
{
    (void)state;
    out_ctx("f.html", "{{ 'h\xc3\xa9llo'|length }}|{{ [1,2]|count }}|{{ x|length }}|{{ m|length }}|{{ '\xff\xfe'|length }}",
            "{\"m\":{\"a\":1,\"b\":2}}", "5|2|0|2|2");
    fails("{{ 5|length }}", NULL, VIAL_EINVAL, "f.html:1:6: filter 'length': object of type 'int' has no len()");
    fails("{{ none|length }}", NULL, VIAL_EINVAL,
          "f.html:1:9: filter 'length': object of type 'NoneType' has no len()");
}

static void test_int(void **state)
{
    (void)state;
    out_is("{{ '42'|int }}|{{ ' 42 '|int }}|{{ '3.7'|int }}|{{ 'x'|int }}|{{ 'x'|int(7) }}|"
           "{{ '0x1A'|int(0,16) }}|{{ 'ff'|int(0,16) }}|{{ '1e3'|int }}|{{ 3.9|int }}|{{ -3.9|int }}|"
           "{{ true|int }}|{{ none|int }}",
           "42|42|3|0|7|26|255|1000|3|-3|1|0");
    out_is("{{ '+5'|int }}|{{ ' -12 '|int }}|{{ '1.5e2'|int }}|{{ '-0'|int }}|{{ 'z'|int(0,36) }}", "5|-12|150|0|35");
    /* past int64: the default (Python would have a big int) */
    out_is("{{ '99999999999999999999'|int }}|{{ 1e300|int(-1) }}|{{ 'nan'|int(-2) }}", "0|-1|-2");
    fails("{{ 'x'|int(0, 1) }}", NULL, VIAL_EINVAL, "f.html:1:8: filter 'int': base must be 0 or 2..36");
}

static void test_float(void **state)
{
    (void)state;
    out_is("{{ '3.5'|float }}|{{ 'x'|float }}|{{ 'x'|float(1.5) }}|{{ '1e3'|float }}|{{ 'inf'|float }}|"
           "{{ 'nan'|float }}|{{ '0x10'|float }}|{{ 3|float }}|{{ true|float }}",
           "3.5|0.0|1.5|1000.0|inf|nan|0.0|3.0|1.0");
    out_is("{{ ' 2.5 '|float }}|{{ '2.5x'|float(9) }}|{{ '1e400'|float }}|{{ '-inf'|float }}|"
           "{{ 'infinity'|float }}|{{ 'NaN'|float }}",
           "2.5|9|inf|-inf|inf|nan");
}

static void test_round(void **state)
{
    (void)state;
    /* half to even, as Python */
    out_is("{{ 2.5|round }}|{{ 3.5|round }}|{{ -2.5|round }}|{{ 2.5|round(0) }}", "2.0|4.0|-2.0|2.0");
    out_is("{{ 0.1|round(1) }}|{{ 1.005|round(2) }}|{{ 0.125|round(2) }}|{{ 0.375|round(2) }}", "0.1|1.0|0.12|0.38");
    out_is("{{ 42|round(2,'floor') }}|{{ 1.5|round(0,'ceil') }}|{{ 12345|round(-1,'floor') }}|"
           "{{ -1.5|round(0,'floor') }}",
           "42.0|2.0|12340.0|-2.0");
    /* an int rounded to 0 or more places stays an int */
    out_is("{{ true|round }}|{{ 42|round }}|{{ 5|round(1) }}|{{ 42.0|round }}", "1|42|5|42.0");
    fails("{{ 'x'|round }}", NULL, VIAL_EINVAL, "f.html:1:8: filter 'round': cannot round 'str'");
    fails("{{ 1|round(0,'up') }}", NULL, VIAL_EINVAL,
          "f.html:1:6: filter 'round': method must be 'common', 'ceil' or 'floor'");
}

/*
 * round() as Python's round() decides it: an int stays an int whatever the
 * precision (ties to even, exactly), and a float is rounded on its exact
 * binary value, not on the scaled double (2.675 is really
 * 2.67499999999999982..., so 2.67; 2.675 * 100 == 267.5 would give 2.68).
 */
static void test_round_like_python(void **state)
{
    (void)state;
    out_is("{{ 1234|round(-2) }}|{{ 1250|round(-2) }}|{{ 1350|round(-2) }}|{{ -1251|round(-2) }}|"
           "{{ 15|round(-1) }}|{{ 25|round(-1) }}|{{ true|round(-1) }}|{{ 1234|round(-400) }}",
           "1200|1200|1400|-1300|20|20|0|0");
    out_is("{{ 2.675|round(2) }}|{{ -2.675|round(2) }}|{{ 0.285|round(2) }}|{{ 1.15|round(1) }}|"
           "{{ 123456789.123456789|round(5) }}|{{ 0.1|round(20) }}",
           "2.67|-2.67|0.28|1.1|123456789.12346|0.1");
    /* a float to tens, hundreds...: a fraction puts 50.5 past the tie */
    out_is("{{ 1250.0|round(-2) }}|{{ 1250.0001|round(-2) }}|{{ 1350.0|round(-2) }}|{{ 50.0|round(-2) }}|"
           "{{ 50.5|round(-2) }}|{{ 999.9|round(-3) }}|{{ 1234.5|round(-2) }}|{{ 123.456|round(-5) }}",
           "1200.0|1300.0|1400.0|0.0|100.0|1000.0|1200.0|0.0");
    /* signs of zero: round() keeps them; ceil and floor go through an int, which has none */
    out_is("{{ -0.4|round }}|{{ -0.5|round(-1) }}|{{ -0.0|round(2) }}|{{ -0.4|round(0,'ceil') }}|"
           "{{ -0.0|round(1,'ceil') }}|{{ -0.4|round(0,'floor') }}",
           "-0.0|-0.0|-0.0|0.0|0.0|-1.0");
    out_is("{{ 2.675|round(2,'floor') }}|{{ 2.675|round(2,'ceil') }}|{{ -2.675|round(2,'floor') }}|"
           "{{ -2.675|round(2,'ceil') }}|{{ 1234|round(-2,'ceil') }}|{{ -1234|round(-2,'ceil') }}|"
           "{{ 1234|round(-2,'floor') }}",
           "2.67|2.68|-2.68|-2.67|1300.0|-1200.0|1200.0");
    /* Python's bounds: past 323 places a float is its own rounding, past -308 a zero */
    out_is("{{ 2.5|round(400) }}|{{ 1e308|round(-309) }}|{{ -1e308|round(-309) }}|{{ 1e300|round(-299) }}|"
           "{{ 1e16|round(-1) }}|{{ 5e-324|round(323) }}|{{ 1.5|round(-9223372036854775807) }}",
           "2.5|0.0|-0.0|1e+300|1e+16|0.0|0.0");
    fails("{{ 1.5e308|round(-308) }}", NULL, VIAL_EINVAL,
          "f.html:1:12: filter 'round': rounded value too large to represent");
    /* vial's own: an int rounded past int64 becomes a float (Jinja: 9223372036854775810) */
    out_is("{{ 9223372036854775807|round(-1) }}|{{ 5000000000000000000|round(-19) }}|"
           "{{ 5000000000000000001|round(-19) }}|{{ -9223372036854775807|round(-18) }}",
           "9.223372036854776e+18|0|1e+19|-9000000000000000000");
}

/*
 * int() with a base as Python's int(s, base), then Jinja's fallback on
 * int(float(s)) whatever the base: base 0 reads 0x/0o/0b and refuses a
 * leading zero ('010' is then 10 through float()), bases 16, 8 and 2 accept
 * their own prefix, single underscores separate digits.
 */
static void test_int_base_like_python(void **state)
{
    (void)state;
    out_is("{{ '010'|int(0, 0) }}|{{ '0b101'|int(0, 0) }}|{{ '12'|int(0, 2) }}", "10|5|12");
    out_is("{{ '0o17'|int(0,0) }}|{{ '0X1f'|int(4,0) }}|{{ '-0x10'|int(0,0) }}|{{ '017'|int(0,8) }}|"
           "{{ '0o17'|int(0,8) }}|{{ '0b1'|int(9,2) }}|{{ '0b1'|int(9,16) }}|{{ '0x1A'|int(0,10) }}",
           "15|31|-16|15|15|1|177|0");
    out_is("{{ '000'|int(5,0) }}|{{ '0_0'|int(5,0) }}|{{ '08'|int(4,0) }}|{{ '0b'|int(4,0) }}|"
           "{{ '0b2'|int(4,0) }}|{{ '0 8'|int(4,0) }}|{{ '+0b1'|int(4,0) }}|{{ '- 1'|int(4) }}",
           "0|0|8|4|4|4|1|4");
    out_is("{{ ' 1_000 '|int }}|{{ '1__0'|int(5) }}|{{ '_1'|int(5) }}|{{ '1_'|int(5) }}|"
           "{{ '0x_1f'|int(0,0) }}|{{ '1_000.5'|int }}|{{ '1_.5'|int(5) }}",
           "1000|5|5|5|31|1000|5");
    out_is("{{ '1e3'|int(0,16) }}|{{ '1.5'|int(0,16) }}|{{ '1.5e2'|int(0,36) }}|{{ '1e3'|int(0,0) }}|"
           "{{ '9223372036854775807'|int }}|{{ '-9223372036854775808'|int }}",
           "483|1|150|1000|9223372036854775807|-9223372036854775808");
    /* float(), which int() falls back on: underscores too, but no hex and no nan(...) */
    out_is("{{ '1_0.5'|float }}|{{ '1__0'|float(2) }}|{{ 'nan(1)'|float(3) }}|{{ '0x1p3'|float(4) }}|"
           "{{ '1_e3'|float(5) }}|{{ ' -Infinity '|float }}",
           "10.5|2|3|4|5|-inf");
}

static void test_abs(void **state)
{
    (void)state;
    out_is("{{ -5|abs }}|{{ 5.5|abs }}|{{ -0.0|abs }}|{{ true|abs }}", "5|5.5|0.0|1");
    /* the one int64 whose absolute value does not fit: a float (no overflow) */
    out_ctx("f.html", "{{ x|abs }}", "{\"x\":-9223372036854775808}", "9.223372036854776e+18");
    fails("{{ 'x'|abs }}", NULL, VIAL_EINVAL, "f.html:1:8: filter 'abs': bad operand type for abs(): 'str'");
}

/* ------------------------------------------------------------------ sequences */

static void test_first_last(void **state)
{
    (void)state;
    out_ctx("f.html", "{{ 'ab'|first }}|{{ 'ab'|last }}|{{ [1,2]|first }}|{{ [1,2]|last }}|{{ x|first }}|"
                      "{{ x|last }}|{{ ''|first }}|{{ []|first }}|{{ 'h\xc3\xa9'|last }}|{{ m|first }}|{{ m|last }}",
            "{\"m\":{\"b\":1,\"a\":2}}", "a|b|1|2|||||\xc3\xa9|b|a");
    fails("{{ 5|first }}", NULL, VIAL_EINVAL, "f.html:1:6: filter 'first': 'int' object is not iterable");
}

static void test_join(void **state)
{
    (void)state;
    out_is("{{ [1,2,3]|join('<') }}|{{ ['<a>','b']|join }}|{{ ['a','b']|join('<br>'|safe) }}|"
           "{{ 'abc'|join('-') }}|{{ x|join(',') }}",
           "1&lt;2&lt;3|&lt;a&gt;b|a<br>b|a-b-c|");
    out_ctx("f.html", "{{ x|join(', ', attribute='n') }}",
            "{\"x\":[{\"n\":\"a\"},{\"m\":1},{\"n\":2},3]}", "a, , 2, ");
    out_ctx("f.txt", "{{ ['<','>']|join('&') }}", NULL, "<&>");
    fails("{{ 5|join }}", NULL, VIAL_EINVAL, "f.html:1:6: filter 'join': 'int' object is not iterable");
}

static void test_sort(void **state)
{
    (void)state;
    out_is("{{ [3,1,2]|sort }}|{{ ['b','A','a','B']|sort }}|{{ ['b','A','a','B']|sort(case_sensitive=true) }}|"
           "{{ [3,1,2]|sort(reverse=true) }}|{{ 'cba'|sort|join }}|{{ [1.5, 1, true, 0]|sort }}",
           "[1, 2, 3]|[&#39;A&#39;, &#39;a&#39;, &#39;b&#39;, &#39;B&#39;]|"
           "[&#39;A&#39;, &#39;B&#39;, &#39;a&#39;, &#39;b&#39;]|[3, 2, 1]|abc|[0, 1, True, 1.5]");
    /* stable, by attribute, reversed stably too */
    out_ctx("f.html", "{{ x|sort(attribute='n')|join(',', attribute='v') }}|"
                      "{{ x|sort(attribute='n', reverse=true)|join(',', attribute='v') }}",
            "{\"x\":[{\"n\":2,\"v\":\"b\"},{\"n\":1,\"v\":\"a\"},{\"n\":2,\"v\":\"c\"}]}", "a,b,c|b,c,a");
    fails("{{ [1,'a']|sort }}", NULL, VIAL_EINVAL, "f.html:1:12: filter 'sort': cannot sort values of different types");
    fails("{{ 5|sort }}", NULL, VIAL_EINVAL, "f.html:1:6: filter 'sort': 'int' object is not iterable");
}

static void test_reverse(void **state)
{
    (void)state;
    /* a list comes back as a list (Jinja2 gives an iterator) */
    out_is("{{ 'abc'|reverse }}|{{ [1,2,3]|reverse }}|{{ 'h\xc3\xa9llo'|reverse }}|{{ ''|reverse }}|{{ []|reverse }}",
           "cba|[3, 2, 1]|oll\xc3\xa9h||[]");
    out_is("{{ '<a>'|safe|reverse }}", ">a<");
}

static void test_items_and_keys(void **state)
{
    (void)state;
    /* vial's own: lists (Jinja2's items is a generator; keys is not a filter) */
    out_ctx("f.html", "{{ x|items }}|{{ x|keys }}|{% for k, v in x|items %}{{ k }}={{ v }};{% endfor %}|{{ u|items }}",
            "{\"x\":{\"b\":1,\"a\":2}}", "[[&#39;b&#39;, 1], [&#39;a&#39;, 2]]|[&#39;b&#39;, &#39;a&#39;]|b=1;a=2;|[]");
    fails("{{ 5|items }}", NULL, VIAL_EINVAL, "f.html:1:6: filter 'items': expected a mapping, got 'int'");
}

/* ------------------------------------------------------------------ tojson and date (vial's own) */

static void test_tojson(void **state)
{
    (void)state;
    /* compact; < > & ' escaped so it is safe inside <script>; the result is safe */
    out_ctx("f.html", "{{ x|tojson }}|{{ 'x'|tojson }}|{{ none|tojson }}|{{ [1,2.5,true]|tojson }}|{{ 1|tojson }}|"
                      "{{ '\xc3\xa9<'|tojson }}|{{ [[[]]]|tojson }}",
            "{\"x\":{\"a\":\"<'&>\"}}",
            "{\"a\":\"\\u003c\\u0027\\u0026\\u003e\"}|\"x\"|null|[1,2.5,true]|1|\"\xc3\xa9\\u003c\"|[[[]]]");
    out_is("{{ (1e300*1e300)|tojson }}", "null");
    fails("{{ x|tojson }}", NULL, VIAL_EINVAL, "f.html:1:6: 'x' is undefined");
}

static void test_date(void **state)
{
    (void)state;
    out_ctx("f.html", "{{ x|date }}|{{ x|date('%d.%m.%Y') }}|{{ y|date('%Y') }}|{{ z|date('%H:%M:%S') }}",
            "{\"x\":\"2018-10-18T21:37:28-06:00\",\"y\":\"2018-10-18T21:37:28.5\","
            "\"z\":\"1969-12-31T23:59:59.5Z\"}",
            "2018-10-19 03:37:28|19.10.2018|2018|23:59:59");
    out_is("{{ 0|date }}|{{ -1|date }}|{{ 1.9|date('%S') }}|{{ -0.5|date('%S') }}|{{ none|date }}|{{ x|date }}|"
           "{{ 0|date('') }}",
           "1970-01-01 00:00:00|1969-12-31 23:59:59|01|59|||");
    fails("{{ ''|date }}", NULL, VIAL_EINVAL, "f.html:1:7: filter 'date': not an RFC 3339 time: ''");
    fails("{{ 99999999999999|date }}", NULL, VIAL_EINVAL, "f.html:1:19: filter 'date': time out of range");
    fails("{{ true|date }}", NULL, VIAL_EINVAL,
          "f.html:1:9: filter 'date': expected an RFC 3339 string or epoch seconds, got 'bool'");
}

/* ------------------------------------------------------------------ tests */

static void test_type_tests(void **state)
{
    (void)state;
    out_ctx("f.html", "{{ none is none }}|{{ x is defined }}|{{ x is undefined }}|{{ 1 is number }}|{{ true is number }}|"
                      "{{ 1.0 is integer }}|{{ 1 is float }}|{{ 'a' is string }}|{{ m is mapping }}|{{ 'a' is sequence }}|"
                      "{{ x is iterable }}|{{ 1 is iterable }}|{{ true is true }}|{{ 1 is true }}|{{ false is false }}|"
                      "{{ 1 is boolean }}|{{ 1 is not none }}",
            "{\"m\":{}}",
            "True|False|True|True|True|False|False|True|True|True|True|False|True|False|True|False|True");
}

static void test_divisibility_tests(void **state)
{
    (void)state;
    out_is("{{ 5 is odd }}|{{ -3 is odd }}|{{ 4 is even }}|{{ 10 is divisibleby 3 }}|{{ 9 is divisibleby(3) }}|"
           "{{ 4.0 is even }}|{{ true is odd }}|{{ 7.5 is divisibleby 2.5 }}",
           "True|True|True|False|True|True|True|True");
    /* INT64_MIN % -1 would trap in C: answered without dividing */
    out_ctx("f.html", "{{ x is divisibleby(-1) }}", "{\"x\":-9223372036854775808}", "True");
    fails("{{ 5 is divisibleby 0 }}", NULL, VIAL_EINVAL, "f.html:1:6: test 'divisibleby': modulo by zero");
    fails("{{ 5.0 is divisibleby 0 }}", NULL, VIAL_EINVAL, "f.html:1:8: test 'divisibleby': modulo by zero");
    fails("{{ 'a' is odd }}", NULL, VIAL_EINVAL, "f.html:1:8: test 'odd' needs numbers, not 'str'");
    /* the operand that is not a number is named, whichever side it is on (a bool is a number) */
    fails("{{ true is divisibleby 'x' }}", NULL, VIAL_EINVAL,
          "f.html:1:9: test 'divisibleby' needs numbers, not 'str'");
    fails("{{ 2.5 is divisibleby none }}", NULL, VIAL_EINVAL,
          "f.html:1:8: test 'divisibleby' needs numbers, not 'NoneType'");
    fails("{{ none is divisibleby true }}", NULL, VIAL_EINVAL,
          "f.html:1:9: test 'divisibleby' needs numbers, not 'NoneType'");
}

/* ------------------------------------------------------------------ the tables */

static void test_filter_and_test_tables(void **state)
{
    (void)state;
    static const char *const names[] = { "abs", "capitalize", "count", "d", "date", "default", "e",
                                         "escape", "first", "float", "int", "items", "join", "keys",
                                         "last", "length", "lower", "replace", "reverse", "round",
                                         "safe", "sort", "string", "title", "tojson", "trim",
                                         "truncate", "upper", "urlencode" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(names); i++) {
        const vial__tfilter_def *d = vial__tpl_filter_find(names[i], strlen(names[i]));
        assert_non_null(d);
        assert_string_equal(d->name, names[i]);
        assert_true(d->nrequired <= d->nparams && d->nparams <= VIAL__TF_MAX_PARAMS);
    }
    assert_null(vial__tpl_filter_find("upp", 3)); /* whole names only */
    assert_null(vial__tpl_filter_find("uppers", 6));
    assert_null(vial__tpl_filter_find("UPPER", 5));
    assert_non_null(vial__tpl_filter_find("upperX", 5));
    const vial__ttest_def *t = vial__tpl_test_find("divisibleby", 11);
    assert_non_null(t);
    assert_int_equal(t->nargs, 1);
    assert_int_equal(vial__tpl_test_find("odd", 3)->nargs, 0);
    assert_null(vial__tpl_test_find("od", 2));
    assert_ptr_equal(vial__tpl_test_at(0), vial__tpl_test_find("defined", 7));
}

static int setup(void **state)
{
    (void)state;
    app = vial_app_new("tpl-filters");
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
        cmocka_unit_test(test_escape_safe_string),
        cmocka_unit_test(test_case_mapping),
        cmocka_unit_test(test_trim),
        cmocka_unit_test(test_truncate),
        cmocka_unit_test(test_replace),
        cmocka_unit_test(test_urlencode),
        cmocka_unit_test(test_default),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_int),
        cmocka_unit_test(test_float),
        cmocka_unit_test(test_round),
        cmocka_unit_test(test_round_like_python),
        cmocka_unit_test(test_int_base_like_python),
        cmocka_unit_test(test_abs),
        cmocka_unit_test(test_first_last),
        cmocka_unit_test(test_join),
        cmocka_unit_test(test_sort),
        cmocka_unit_test(test_reverse),
        cmocka_unit_test(test_items_and_keys),
        cmocka_unit_test(test_tojson),
        cmocka_unit_test(test_date),
        cmocka_unit_test(test_type_tests),
        cmocka_unit_test(test_divisibility_tests),
        cmocka_unit_test(test_filter_and_test_tables),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

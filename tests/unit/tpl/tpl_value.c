/*
 * Unit tests for src/tpl/tpl_value.c, called directly with a hand-made
 * render state: values as Python sees them — str() and repr() spellings
 * (floats, None/True, lists and dicts, quotes and control characters in
 * strings), truthiness, == and ordering (ints and floats compared
 * exactly, lists lexicographically, what cannot be ordered), UTF-8
 * stepping over invalid bytes, markupsafe's HTML escaping, conversion
 * to and from jansson, and the render budget (first error kept, steps,
 * memory charged to the byte).
 */
#include "unit.h"
#include "tpl/tpl_impl.h"

#include <math.h>
#include <stdlib.h>

static vial_app *app;
static vial__tplmod *mod;
static vial__tpl *tpl;

static char errbuf[256];

static void r_init(vial__trender *r)
{
    memset(r, 0, sizeof *r);
    r->mod = mod;
    r->app = app;
    r->tpl = tpl;
    r->lim = *vial__tplmod_limits(mod);
    errbuf[0] = '\0';
    r->errbuf = errbuf;
    r->errlen = sizeof errbuf;
}

static void r_fini(vial__trender *r)
{
    for (size_t i = 0; i < r->nkeep; i++)
        json_decref(r->keep[i]);
    free(r->keep);
    vial__arena_reset(&r->ar);
}

static vial__tval tv_int(int64_t i)
{
    return (vial__tval){ .t = TV_INT, .u.i = i };
}
static vial__tval tv_real(double d)
{
    return (vial__tval){ .t = TV_REAL, .u.d = d };
}
static vial__tval tv_bool(bool b)
{
    return (vial__tval){ .t = TV_BOOL, .u.b = b };
}
static vial__tval tv_str(const char *s)
{
    return (vial__tval){ .t = TV_STR, .u.s = { s, strlen(s) } };
}

/* str() of v, as a malloc'd C string. */
static char *str_of(const vial__tval *v)
{
    vial__trender r;
    r_init(&r);
    vial__buf b = { 0 };
    assert_int_equal(vial__tr_str_into(&r, 0, v, &b), 0);
    vial__buf_nul(&b);
    r_fini(&r);
    return b.p;
}

static void str_is(vial__tval v, const char *want)
{
    char *s = str_of(&v);
    if (strcmp(s, want))
        print_error("got [%s], want [%s]\n", s, want);
    assert_string_equal(s, want);
    free(s);
}

/* str() of a JSON value given as text (containers: their repr). */
static void json_str_is(const char *json, const char *want)
{
    json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    str_is(vial__tv_from_json(j), want);
    json_decref(j);
}

/* ------------------------------------------------------------------ str() and repr() */

static void test_str_of_scalars(void **state)
{
    (void)state;
    str_is((vial__tval){ .t = TV_NONE }, "None");
    str_is((vial__tval){ .t = TV_UNDEF }, "");
    str_is(tv_bool(true), "True");
    str_is(tv_bool(false), "False");
    str_is(tv_int(0), "0");
    str_is(tv_int(-5), "-5");
    str_is(tv_int(INT64_MAX), "9223372036854775807");
    str_is(tv_int(INT64_MIN), "-9223372036854775808");
    str_is(tv_str("as is <&>"), "as is <&>");
}

static void test_str_of_floats_like_python(void **state)
{
    (void)state;
    /* Python's repr(float): shortest round trip, fixed notation for
     * exponents -4..15 */
    static const struct {
        double d;
        const char *s;
    } f[] = {
        { 1.0, "1.0" }, { 0.5, "0.5" }, { 100.0, "100.0" }, { 1e15, "1000000000000000.0" },
        { 1e16, "1e+16" }, { 1e22, "1e+22" }, { 0.0001, "0.0001" }, { 0.00001, "1e-05" },
        { 0.1 + 0.2, "0.30000000000000004" }, { 123456789.123, "123456789.123" },
        { -2.5, "-2.5" }, { 1.7976931348623157e308, "1.7976931348623157e+308" },
        { 5e-324, "5e-324" }, { 1.5e-7, "1.5e-07" }, { 12345678901234567.0, "1.2345678901234568e+16" },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(f); i++)
        str_is(tv_real(f[i].d), f[i].s);
    str_is(tv_real(0.0), "0.0");
    str_is(tv_real(-0.0), "-0.0");
    str_is(tv_real(INFINITY), "inf");
    str_is(tv_real(-INFINITY), "-inf");
    str_is(tv_real(NAN), "nan");
}

static void test_repr_of_containers(void **state)
{
    (void)state;
    json_str_is("[1, \"a\", null, true, 1.5, {\"k\": [1]}]", "[1, 'a', None, True, 1.5, {'k': [1]}]");
    json_str_is("[]", "[]");
    json_str_is("{}", "{}");
    /* Python's choice of quotes, and its escapes */
    json_str_is("[\"it's\", \"say \\\"hi\\\"\", \"both ' \\\"\"]",
                "[\"it's\", 'say \"hi\"', 'both \\' \"']");
    json_str_is("[\"a\\nb\\t\\r\\u0001\\u007f\\\\\"]", "['a\\nb\\t\\r\\x01\\x7f\\\\']");
    json_str_is("[\"caf\xc3\xa9\"]", "['caf\xc3\xa9']");
    json_str_is("{\"it's\": 1}", "{\"it's\": 1}");
    /* nesting is cut off, not recursed forever */
    char deep[200] = "";
    for (int i = 0; i < 40; i++)
        strcat(deep, "[");
    for (int i = 0; i < 40; i++)
        strcat(deep, "]");
    json_t *j = json_loads(deep, 0, NULL);
    vial__tval v = vial__tv_from_json(j);
    char *s = str_of(&v);
    assert_non_null(strstr(s, "[...]"));
    assert_int_equal(s[0], '[');
    free(s);
    json_decref(j);
}

static void test_loop_value(void **state)
{
    (void)state;
    struct vial__tloop l = { .index0 = 1, .length = 3 };
    vial__tval v = { .t = TV_LOOP, .u.loop = &l };
    str_is(v, "<LoopContext 2/3>");
    assert_string_equal(vial__tv_type_name(&v), "LoopContext");
    assert_true(vial__tv_truthy(&v));
    json_t *j = vial__tv_to_json(&v);
    assert_int_equal(json_integer_value(json_object_get(j, "index")), 2);
    assert_int_equal(json_integer_value(json_object_get(j, "index0")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "length")), 3);
    assert_true(json_is_false(json_object_get(j, "first")));
    assert_true(json_is_false(json_object_get(j, "last")));
    json_decref(j);
}

static void test_tr_str(void **state)
{
    (void)state;
    vial__trender r;
    r_init(&r);
    vial__tval in = tv_str("same"), out;
    assert_int_equal(vial__tr_str(&r, 0, &in, &out), 0);
    assert_ptr_equal(out.u.s.p, in.u.s.p); /* a string is its own str() */
    vial__tval undef = { .t = TV_UNDEF, .u.s = { "name", 4 } };
    assert_int_equal(vial__tr_str(&r, 0, &undef, &out), 0);
    assert_int_equal(out.t, TV_STR);
    assert_int_equal(out.u.s.n, 0);
    vial__tval i = tv_int(-42);
    assert_int_equal(vial__tr_str(&r, 0, &i, &out), 0);
    assert_int_equal(out.u.s.n, 3);
    assert_string_equal(out.u.s.p, "-42"); /* NUL-terminated, in the render's arena */
    assert_false(out.safe);
    r_fini(&r);
}

/* ------------------------------------------------------------------ truth, equality, order */

static void test_truthiness(void **state)
{
    (void)state;
    json_t *empty_a = json_array(), *full_a = json_pack("[i]", 1), *empty_o = json_object(),
           *full_o = json_pack("{s:i}", "k", 1);
    const struct {
        vial__tval v;
        bool truthy;
    } t[] = {
        { { .t = TV_UNDEF }, false }, { { .t = TV_NONE }, false }, { tv_bool(false), false },
        { tv_bool(true), true },      { tv_int(0), false },        { tv_int(-1), true },
        { tv_real(0.0), false },      { tv_real(-0.0), false },    { tv_real(0.1), true },
        { tv_real(NAN), true },       { tv_str(""), false },       { tv_str("0"), true },
        { { .t = TV_ARR, .u.j = empty_a }, false }, { { .t = TV_ARR, .u.j = full_a }, true },
        { { .t = TV_OBJ, .u.j = empty_o }, false }, { { .t = TV_OBJ, .u.j = full_o }, true },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(t); i++) {
        if (vial__tv_truthy(&t[i].v) != t[i].truthy)
            print_error("case %zu\n", i);
        assert_int_equal(vial__tv_truthy(&t[i].v), t[i].truthy);
    }
    json_decref(empty_a);
    json_decref(full_a);
    json_decref(empty_o);
    json_decref(full_o);
}

static void test_equality(void **state)
{
    (void)state;
    vial__tval a, b;
    a = tv_int(1), b = tv_real(1.0);
    assert_true(vial__tv_equal(&a, &b));
    a = tv_bool(true), b = tv_int(1);
    assert_true(vial__tv_equal(&a, &b)); /* bools are ints */
    /* exact: 2^53 + 1 is not the double 2^53 */
    a = tv_int(9007199254740993), b = tv_real(9007199254740992.0);
    assert_false(vial__tv_equal(&a, &b));
    a = tv_int(INT64_MAX), b = tv_real(9223372036854775807.0); /* that double is 2^63 */
    assert_false(vial__tv_equal(&a, &b));
    a = tv_real(NAN), b = tv_real(NAN);
    assert_false(vial__tv_equal(&a, &b));
    a = tv_str("a"), b = tv_int(0);
    assert_false(vial__tv_equal(&a, &b));
    /* lengths, not C strings */
    a = (vial__tval){ .t = TV_STR, .u.s = { "a\0b", 3 } }, b = (vial__tval){ .t = TV_STR, .u.s = { "a\0c", 3 } };
    assert_false(vial__tv_equal(&a, &b));
    a = (vial__tval){ .t = TV_NONE }, b = (vial__tval){ .t = TV_NONE };
    assert_true(vial__tv_equal(&a, &b));
    a = (vial__tval){ .t = TV_NONE }, b = (vial__tval){ .t = TV_UNDEF };
    assert_false(vial__tv_equal(&a, &b));
    /* containers compare as Python's: 1 == 1.0 inside them too */
    json_t *x = json_loads("[1, {\"k\": [true, 2.0]}]", 0, NULL), *y = json_loads("[1.0, {\"k\": [1, 2]}]", 0, NULL),
           *z = json_loads("[1.0, {\"k\": [1, 3]}]", 0, NULL);
    a = vial__tv_from_json(x), b = vial__tv_from_json(y);
    assert_true(vial__tv_equal(&a, &b));
    b = vial__tv_from_json(z);
    assert_false(vial__tv_equal(&a, &b));
    json_decref(x);
    json_decref(y);
    json_decref(z);
}

static int cmp(vial__tval a, vial__tval b, bool casefold)
{
    return vial__tv_compare(&a, &b, casefold);
}

static void test_ordering(void **state)
{
    (void)state;
    assert_int_equal(cmp(tv_int(3), tv_real(3.5), false), -1);
    assert_int_equal(cmp(tv_int(4), tv_real(3.5), false), 1);
    assert_int_equal(cmp(tv_int(-3), tv_real(-3.5), false), 1);
    assert_int_equal(cmp(tv_real(3.0), tv_int(3), false), 0);
    assert_int_equal(cmp(tv_int(9007199254740993), tv_real(9007199254740992.0), false), 1);
    assert_int_equal(cmp(tv_int(INT64_MAX), tv_real(9.3e18), false), -1);
    assert_int_equal(cmp(tv_int(INT64_MIN), tv_real(-9.3e18), false), 1);
    assert_int_equal(cmp(tv_bool(false), tv_int(1), false), -1);
    assert_int_equal(cmp(tv_real(NAN), tv_int(1), false), 2);
    assert_int_equal(cmp(tv_int(1), tv_real(NAN), false), 2);
    /* strings: by byte (so by code point), case folded when asked */
    assert_int_equal(cmp(tv_str("B"), tv_str("a"), false), -1);
    assert_int_equal(cmp(tv_str("B"), tv_str("a"), true), 1);
    assert_int_equal(cmp(tv_str("ab"), tv_str("abc"), false), -1);
    assert_int_equal(cmp(tv_str("\xc3\xa9"), tv_str("z"), false), 1);
    assert_int_equal(cmp(tv_str("a"), tv_int(1), false), 2);
    assert_int_equal(cmp((vial__tval){ .t = TV_NONE }, (vial__tval){ .t = TV_NONE }, false), 2);
    /* lists: lexicographic; nested lists are not ordered */
    json_t *a = json_loads("[1, 2]", 0, NULL), *b = json_loads("[1, 3]", 0, NULL), *c = json_loads("[1]", 0, NULL),
           *d = json_loads("[1, [2]]", 0, NULL), *e = json_loads("[1, [3]]", 0, NULL);
    assert_int_equal(cmp(vial__tv_from_json(a), vial__tv_from_json(b), false), -1);
    assert_int_equal(cmp(vial__tv_from_json(c), vial__tv_from_json(a), false), -1);
    assert_int_equal(cmp(vial__tv_from_json(a), vial__tv_from_json(a), false), 0);
    assert_int_equal(cmp(vial__tv_from_json(d), vial__tv_from_json(e), false), 2);
    assert_int_equal(cmp(vial__tv_from_json(d), vial__tv_from_json(d), false), 0);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(d);
    json_decref(e);
}

static void test_numbers_and_type_names(void **state)
{
    (void)state;
    bool is_int;
    int64_t i;
    double d;
    vial__tval v = tv_bool(true);
    assert_true(vial__tv_num(&v, &is_int, &i, &d));
    assert_true(is_int);
    assert_int_equal(i, 1);
    v = tv_real(2.5);
    assert_true(vial__tv_num(&v, &is_int, &i, &d));
    assert_false(is_int);
    assert_true(d == 2.5);
    v = tv_str("1");
    assert_false(vial__tv_num(&v, &is_int, &i, &d));
    static const struct {
        uint8_t t;
        const char *name;
    } n[] = { { TV_UNDEF, "undefined" }, { TV_NONE, "NoneType" }, { TV_BOOL, "bool" },
              { TV_INT, "int" },         { TV_REAL, "float" },    { TV_STR, "str" },
              { TV_ARR, "list" },        { TV_OBJ, "dict" } };
    for (size_t k = 0; k < VIAL__ARRAY_LEN(n); k++) {
        vial__tval x = { .t = n[k].t };
        assert_string_equal(vial__tv_type_name(&x), n[k].name);
    }
}

/* ------------------------------------------------------------------ jansson */

static void test_json_conversions(void **state)
{
    (void)state;
    json_t *j = json_loads("[\"s\", 7, 2.5, true, false, null, [1], {\"a\": 1}]", 0, NULL);
    static const uint8_t types[] = { TV_STR, TV_INT, TV_REAL, TV_BOOL, TV_BOOL, TV_NONE, TV_ARR, TV_OBJ };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(types); i++) {
        json_t *e = json_array_get(j, i);
        vial__tval v = vial__tv_from_json(e);
        assert_int_equal(v.t, types[i]);
        json_t *back = vial__tv_to_json(&v);
        assert_true(json_equal(back, e));
        json_decref(back);
    }
    /* strings with NULs keep their length */
    vial__tval s = { .t = TV_STR, .u.s = { "a\0b", 3 } };
    json_t *js = vial__tv_to_json(&s);
    assert_int_equal(json_string_length(js), 3);
    json_decref(js);
    /* what JSON cannot say becomes null */
    vial__tval inf = tv_real(INFINITY), undef = { .t = TV_UNDEF };
    json_t *a = vial__tv_to_json(&inf), *b = vial__tv_to_json(&undef);
    assert_true(json_is_null(a));
    assert_true(json_is_null(b));
    json_decref(a);
    json_decref(b);
    /* arrays and objects are shared, with a reference */
    vial__tval arr = vial__tv_from_json(json_array_get(j, 6));
    json_t *same = vial__tv_to_json(&arr);
    assert_ptr_equal(same, json_array_get(j, 6));
    json_decref(same);
    json_decref(j);
}

/* ------------------------------------------------------------------ UTF-8 and escaping */

static void test_utf8_stepping(void **state)
{
    (void)state;
    assert_int_equal(vial__utf8_step("a", 1), 1);
    assert_int_equal(vial__utf8_step("\xc3\xa9", 2), 2);
    assert_int_equal(vial__utf8_step("\xe2\x82\xac", 3), 3);
    assert_int_equal(vial__utf8_step("\xf0\x9f\x98\x80", 4), 4);
    /* invalid bytes step one at a time: a stray continuation, a cut
     * sequence, a bad continuation, a byte no UTF-8 has */
    assert_int_equal(vial__utf8_step("\x80x", 2), 1);
    assert_int_equal(vial__utf8_step("\xe2\x82", 2), 1);
    assert_int_equal(vial__utf8_step("\xe2x\xac", 3), 1);
    assert_int_equal(vial__utf8_step("\xff", 1), 1);
    assert_int_equal(vial__utf8_len("", 0), 0);
    assert_int_equal(vial__utf8_len("h\xc3\xa9llo", 6), 5);
    assert_int_equal(vial__utf8_len("\xff\xfe", 2), 2);
    assert_int_equal(vial__utf8_len("a\xe2\x82", 3), 3);
}

static void test_html_escaping(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    vial__buf_puts(&b, "pre:");
    assert_int_equal(vial__tr_escape_into(&b, "&<>\"'", 5), 0);
    assert_int_equal(vial__tr_escape_into(&b, "|plain text|", 12), 0);
    assert_int_equal(vial__tr_escape_into(&b, "", 0), 0);
    assert_int_equal(vial__tr_escape_into(&b, "a&&b", 4), 0);
    vial__buf_nul(&b);
    assert_string_equal(b.p, "pre:&amp;&lt;&gt;&#34;&#39;|plain text|a&amp;&amp;b");
    /* escaping is not idempotent: that is what `safe` is for */
    b.n = 0;
    assert_int_equal(vial__tr_escape_into(&b, "&amp;", 5), 0);
    vial__buf_nul(&b);
    assert_string_equal(b.p, "&amp;amp;");
    /* a long string with escapes at both ends */
    b.n = 0;
    char big[5001];
    memset(big, 'x', 5000);
    big[0] = '<';
    big[4999] = '>';
    big[5000] = '\0';
    assert_int_equal(vial__tr_escape_into(&b, big, 5000), 0);
    assert_int_equal(b.n, 5000 + 3 + 3);
    assert_memory_equal(b.p, "&lt;xx", 6);
    assert_memory_equal(b.p + b.n - 6, "xx&gt;", 6);
    vial__buf_free(&b);
}

/* ------------------------------------------------------------------ the budget */

static void test_first_error_is_kept(void **state)
{
    (void)state;
    vial__trender r;
    r_init(&r);
    assert_int_equal(vial__tr_error(&r, 2, VIAL_EINVAL, "first %d", 1), VIAL_EINVAL);
    assert_int_equal(vial__tr_error(&r, 0, VIAL_ERANGE, "second"), VIAL_EINVAL);
    assert_int_equal(r.err, VIAL_EINVAL);
    assert_string_equal(errbuf, "v.html:2:1: first 1"); /* where, in the template's source */
    /* nothing is allocated once the render has failed */
    assert_null(vial__tr_alloc(&r, 0, 8));
    r_fini(&r);
    /* no error buffer is fine */
    r_init(&r);
    r.errbuf = NULL;
    r.errlen = 0;
    assert_int_equal(vial__tr_error(&r, 0, VIAL_EIO, "x"), VIAL_EIO);
    r_fini(&r);
}

static void test_step_budget(void **state)
{
    (void)state;
    vial__trender r;
    r_init(&r);
    r.lim.max_steps = 10;
    assert_int_equal(vial__tr_steps(&r, 0, 10), 0);
    assert_int_equal(vial__tr_steps(&r, 0, 1), VIAL_ERANGE);
    assert_string_equal(errbuf, "v.html:1:1: template needs too much work (more than 10 steps)");
    r_fini(&r);
}

static void test_memory_budget(void **state)
{
    (void)state;
    vial__trender r;
    r_init(&r);
    r.lim.max_memory = 1000;
    assert_int_equal(vial__tr_charge(&r, 0, 600), 0);
    assert_int_equal(vial__tr_charge(&r, 0, 400), 0); /* exactly the limit */
    assert_int_equal(r.mem, 1000);
    assert_int_equal(vial__tr_charge(&r, 0, 1), VIAL_ETOOBIG);
    assert_string_equal(errbuf, "v.html:1:1: template needs too much memory (more than 1000 bytes)");
    r_fini(&r);
    r_init(&r);
    r.lim.max_memory = 1000;
    assert_int_equal(vial__tr_charge(&r, 0, SIZE_MAX), VIAL_ETOOBIG); /* no overflow */
    r_fini(&r);
    /* allocations and kept values are charged */
    r_init(&r);
    r.lim.max_memory = 200;
    vial__tval s;
    assert_int_equal(vial__tr_strval(&r, 0, "abc", 3, true, &s), 0);
    assert_string_equal(s.u.s.p, "abc");
    assert_true(s.safe);
    assert_int_equal(r.mem, 4);
    assert_int_equal(vial__tr_keep(&r, 0, json_array()), 0);
    assert_int_equal(r.mem, 68);
    assert_int_equal(vial__tr_keep(&r, 0, json_array()), 0);
    assert_int_equal(vial__tr_keep(&r, 0, json_array()), 0);
    assert_int_equal(r.mem, 196);
    assert_int_equal(vial__tr_keep(&r, 0, json_array()), VIAL_ETOOBIG); /* 196 + 64 > 200 */
    assert_int_equal(r.nkeep, 3); /* the refused one was released (ASan: no leak) */
    r_fini(&r);
    r_init(&r);
    assert_int_equal(vial__tr_keep(&r, 0, NULL), VIAL_ENOMEM);
    r_fini(&r);
}

static int setup(void **state)
{
    (void)state;
    app = vial_app_new("tpl-value");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    mod = vial__tplmod_get(app);
    char err[128];
    int code;
    tpl = vial__tpl_compile(mod, "v.html", "x\ny", 3, err, sizeof err, &code);
    return tpl ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vial__tpl_release(tpl);
    vial_app_free(app);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_of_scalars),
        cmocka_unit_test(test_str_of_floats_like_python),
        cmocka_unit_test(test_repr_of_containers),
        cmocka_unit_test(test_loop_value),
        cmocka_unit_test(test_tr_str),
        cmocka_unit_test(test_truthiness),
        cmocka_unit_test(test_equality),
        cmocka_unit_test(test_ordering),
        cmocka_unit_test(test_numbers_and_type_names),
        cmocka_unit_test(test_json_conversions),
        cmocka_unit_test(test_utf8_stepping),
        cmocka_unit_test(test_html_escaping),
        cmocka_unit_test(test_first_error_is_kept),
        cmocka_unit_test(test_step_budget),
        cmocka_unit_test(test_memory_budget),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

/* Unit tests for src/json/writer.c: the streaming writer and escaping. */
#include "unit.h"

#include <math.h>

static char *written(vial_jw *w)
{
    vial__buf_nul(w->out);
    return w->out->p;
}

static void test_nesting_and_commas(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    vial_jw w;
    vial__jw_init(&w, &b);
    vial_jw_object(&w);
    vial_jw_key(&w, "a");
    vial_jw_int(&w, 1);
    vial_jw_key(&w, "list");
    vial_jw_array(&w);
    vial_jw_int(&w, -9223372036854775807 - 1);
    vial_jw_str(&w, "x");
    vial_jw_null(&w);
    vial_jw_bool(&w, 1);
    vial_jw_bool(&w, 0);
    vial_jw_object(&w);
    vial_jw_end(&w);
    vial_jw_array(&w);
    vial_jw_end(&w);
    vial_jw_end(&w);
    vial_jw_key(&w, "s");
    vial_jw_str(&w, NULL);
    vial_jw_end(&w);
    assert_int_equal(vial_jw_error(&w), 0);
    assert_string_equal(written(&w),
                        "{\"a\":1,\"list\":[-9223372036854775808,\"x\",null,true,false,{},[]],\"s\":null}");
    vial__buf_free(&b);
}

static void test_misuse_is_sticky(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    vial_jw w;
    vial__jw_init(&w, &b);
    vial_jw_object(&w);
    vial_jw_int(&w, 1); /* a value without a key */
    assert_int_equal(vial_jw_error(&w), VIAL_ESTATE);
    vial_jw_key(&w, "k");
    vial_jw_end(&w);
    assert_string_equal(written(&w), "{"); /* nothing after the first error */
    vial__buf_free(&b);

    vial__jw_init(&w, &b);
    vial_jw_end(&w); /* closing what was never opened */
    assert_int_equal(vial_jw_error(&w), VIAL_ESTATE);
    vial__buf_free(&b);

    vial__jw_init(&w, &b);
    vial_jw_int(&w, 1);
    vial_jw_int(&w, 2); /* two top-level values */
    assert_int_equal(vial_jw_error(&w), VIAL_ESTATE);
    vial__buf_free(&b);

    vial__jw_init(&w, &b);
    vial_jw_object(&w);
    vial_jw_key(&w, "a");
    vial_jw_key(&w, "b"); /* key after key */
    assert_int_equal(vial_jw_error(&w), VIAL_ESTATE);
    vial__buf_free(&b);

    vial__jw_init(&w, &b);
    for (int i = 0; i < 100; i++)
        vial_jw_array(&w); /* deeper than the stack */
    assert_int_equal(vial_jw_error(&w), VIAL_ESTATE);
    vial__buf_free(&b);
}

static void check_escape(const char *in, size_t n, const char *want)
{
    vial__buf b = { 0 };
    assert_int_equal(vial__json_escape(&b, in, n), 0);
    vial__buf_nul(&b);
    assert_string_equal(b.p, want);
    /* and it parses back (jansson validates UTF-8) */
    json_error_t e;
    char *doc = NULL;
    assert_true(asprintf(&doc, "[%s]", b.p) > 0);
    json_t *j = json_loads(doc, JSON_ALLOW_NUL, &e);
    assert_non_null(j);
    json_decref(j);
    free(doc);
    vial__buf_free(&b);
}

static void test_escaping(void **state)
{
    (void)state;
    check_escape("plain", 5, "\"plain\"");
    check_escape("q\"b\\s/", 6, "\"q\\\"b\\\\s/\"");
    check_escape("\n\r\t\b\f", 5, "\"\\n\\r\\t\\b\\f\"");
    check_escape("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    check_escape("a\0b", 3, "\"a\\u0000b\"");
    check_escape("</script>&", 10, "\"\\u003c/script\\u003e\\u0026\"");
    check_escape("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14, "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* invalid UTF-8 becomes U+FFFD: lone continuation, overlong, surrogate, truncated, > U+10FFFF */
    check_escape("\x80", 1, "\"\xef\xbf\xbd\"");
    check_escape("\xc0\xaf", 2, "\"\xef\xbf\xbd\xef\xbf\xbd\"");
    check_escape("\xed\xa0\x80", 3, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
    check_escape("ab\xe2\x82", 4, "\"ab\xef\xbf\xbd\xef\xbf\xbd\"");
    check_escape("\xf4\x90\x80\x80", 4, "\"\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\"");
}

static void test_numbers(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    vial_jw w;
    vial__jw_init(&w, &b);
    vial_jw_array(&w);
    vial_jw_double(&w, 0.1);
    vial_jw_double(&w, 3.0);
    vial_jw_double(&w, -2.5e-300);
    vial_jw_double(&w, NAN);
    vial_jw_double(&w, INFINITY);
    vial_jw_double(&w, 1e21);
    vial_jw_end(&w);
    assert_string_equal(written(&w), "[0.1,3.0,-2.5e-300,null,null,1e+21]");
    vial__buf_free(&b);
}

/* What the writer printed before the fast path: the shortest of %.15g,
 * %.16g, %.17g that reads back. */
static void printf_shortest(double v, char *out, size_t cap)
{
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, cap, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void check_fixed(double v)
{
    char fast[32], slow[40];
    size_t n = vial__fmt_double_fixed(v, fast);
    printf_shortest(v, slow, sizeof slow);
    if (n) {
        assert_int_equal(n, strlen(fast));
        if (strtod(fast, NULL) != v || strcmp(fast, slow))
            fail_msg("%.17g: fast path %s, printf %s", v, fast, slow);
    } else {
        /* declined: printf needs an exponent or more than 15 digits */
        double a = fabs(v);
        bool expo = strchr(slow, 'e') != NULL;
        size_t sig = 0;
        for (const char *p = slow; *p && *p != 'e'; p++)
            sig += *p >= '0' && *p <= '9';
        if (!(expo || a < 1e-4 || a >= 1e15 || sig > 15 || v == 0))
            fail_msg("%.17g declined, printf %s", v, slow);
    }
}

static void test_fixed_doubles(void **state)
{
    (void)state;
    static const double cases[] = { 0.1, 0.5, 1.0, -1.0, 3.0, 100.0, 120.034, 0.512, -60.0, -5.0211, 0.0001,
                                     0.00012345, 9.99e-05, 123456789012345.0, 1e15, 999999999999999.0,
                                     0.3333333333333333, 2.0 / 3.0, 1e-300, 0.0, -0.0, 4294967296.5,
                                     1.7976931348623157e308, 5e-324, 0.1 + 0.2, 1234.5678, 0.000999 };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        check_fixed(cases[i]);
    char out[32];
    assert_int_equal(vial__fmt_double_fixed(120.034, out), 7);
    assert_string_equal(out, "120.034");
    assert_int_equal(vial__fmt_double_fixed(-0.0001, out), 7);
    assert_string_equal(out, "-0.0001");
    assert_int_equal(vial__fmt_double_fixed(0.0, out), 0);
    /* decimals as a dataset writes them, and random bit patterns */
    uint64_t x = 88172645463325252u;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int digits = (int)(x % 9);
        double d = (double)(int64_t)(x >> 20 & 0xfffffff) / pow(10, digits);
        check_fixed((x & 1) ? -d : d);
        double r;
        uint64_t bits = x * 0x9e3779b97f4a7c15u;
        memcpy(&r, &bits, sizeof r);
        if (isfinite(r))
            check_fixed(r);
        check_fixed((double)(x % 1000000) / 1000.0 + 0.001 * (double)(x % 7));
    }
}

static void test_jansson_value(void **state)
{
    (void)state;
    json_t *v = json_pack("{s:[i,f,s,b,n],s:{s:s}}", "a", 1, 2.5, "x\"y", 1, "o", "k", "v");
    vial__buf b = { 0 };
    vial_jw w;
    vial__jw_init(&w, &b);
    vial_jw_value(&w, v);
    json_t *back = json_loads(written(&w), 0, NULL);
    assert_non_null(back);
    assert_true(json_equal(v, back));
    json_decref(back);
    json_decref(v);
    vial__buf_free(&b);
}

static int j_handler(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 201);
    vial_jw_object(w);
    vial_jw_key(w, "message");
    vial_jw_str(w, "Hello, World!");
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int j_unbalanced(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    return 0; /* forgot vial_jw_end and vial_jw_finish: the framework notices */
}

static void test_in_response(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_get(app, "/j", j_handler);
    vial_get(app, "/bad", j_unbalanced);
    vial_test_resp *r = get(app, "/j");
    assert_int_equal(vial_test_status(r), 201);
    assert_string_equal(vial_test_header(r, "Content-Type"), "application/json");
    assert_string_equal(vial_test_body(r, NULL), "{\"message\":\"Hello, World!\"}");
    vial_test_free(r);
    r = get(app, "/bad");
    assert_int_equal(vial_test_status(r), 500);
    assert_non_null(strstr(vial_test_body(r, NULL), "internal_server_error_500"));
    vial_test_free(r);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nesting_and_commas),
        cmocka_unit_test(test_misuse_is_sticky),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_fixed_doubles),
        cmocka_unit_test(test_jansson_value),
        cmocka_unit_test(test_in_response),
    };
    return RUN_GROUP(tests);
}

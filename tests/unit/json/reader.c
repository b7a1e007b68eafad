/* Unit tests for src/json/reader.c: the pull JSON reader. */
#include "unit.h"

static vial__arena arena;

static vial_jr *reader(const char *text)
{
    static vial_jr r;
    vial__arena_reset(&arena);
    vial__jr_init(&r, text, strlen(text), &arena);
    return &r;
}

static bool span_is(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(s, want, n) == 0;
}

static void test_walk(void **state)
{
    (void)state;
    vial_jr *r = reader(" {\"name\": \"vial\", \"n\": -42, \"pi\": 3.5e0, \"ok\": true, \"no\": false,"
                        " \"nil\": null, \"list\": [1, [2], {}], \"skip\": {\"deep\": [[[]]]}} ");
    const char *k, *s;
    size_t kn, sn;
    int64_t i;
    double d;
    int b;
    assert_int_equal(vial_jr_peek(r), VIAL_JR_OBJECT);
    assert_true(vial_jr_object(r));
    assert_true(vial_jr_key(r, &k, &kn) && span_is(k, kn, "name"));
    assert_int_equal(vial_jr_int(r, &i), 0); /* wrong type: left in place */
    assert_true(vial_jr_str(r, &s, &sn) && span_is(s, sn, "vial"));
    assert_true(vial_jr_key(r, &k, &kn) && span_is(k, kn, "n"));
    assert_true(vial_jr_int(r, &i));
    assert_true(i == -42);
    assert_true(vial_jr_key(r, &k, &kn) && span_is(k, kn, "pi"));
    assert_int_equal(vial_jr_int(r, &i), 0); /* not written as an integer */
    assert_true(vial_jr_double(r, &d));
    assert_true(d == 3.5);
    assert_true(vial_jr_key(r, NULL, NULL));
    assert_true(vial_jr_bool(r, &b) && b == 1);
    assert_true(vial_jr_key(r, NULL, NULL));
    assert_true(vial_jr_bool(r, &b) && b == 0);
    assert_true(vial_jr_key(r, NULL, NULL));
    assert_true(vial_jr_null(r));
    assert_true(vial_jr_key(r, &k, &kn) && span_is(k, kn, "list"));
    assert_true(vial_jr_array(r));
    int n = 0;
    while (vial_jr_more(r))
        n++; /* elements left unread are skipped */
    assert_int_equal(n, 3);
    assert_true(vial_jr_key(r, &k, &kn) && span_is(k, kn, "skip"));
    assert_false(vial_jr_key(r, &k, &kn)); /* the object ends; "skip" was skipped */
    assert_int_equal(vial_jr_finish(r), 0);
    assert_null(vial_jr_error(r));
}

static void test_escapes_decoded(void **state)
{
    (void)state;
    vial_jr *r = reader("[\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\", \"\\u00e9\\u20ac\\ud83d\\ude00\", \"caf\xc3\xa9\", "
                        "\"\\u0000x\"]");
    const char *s;
    size_t n;
    assert_true(vial_jr_array(r));
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_str(r, &s, &n));
    assert_true(span_is(s, n, "a\"b\\c/d\b\f\n\r\t"));
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_str(r, &s, &n));
    assert_true(span_is(s, n, "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_str(r, &s, NULL)); /* NUL-terminated copy */
    assert_string_equal(s, "caf\xc3\xa9");
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_str(r, &s, &n));
    assert_int_equal(n, 2);
    assert_true(s[0] == '\0' && s[1] == 'x');
    assert_false(vial_jr_more(r));
    assert_int_equal(vial_jr_finish(r), 0);
}

static void test_integers(void **state)
{
    (void)state;
    int64_t v;
    vial_jr *r = reader("[9223372036854775807, -9223372036854775808, 9223372036854775808, -0, 0, 1e2]");
    assert_true(vial_jr_array(r));
    assert_true(vial_jr_more(r) && vial_jr_int(r, &v) && v == INT64_MAX);
    assert_true(vial_jr_more(r) && vial_jr_int(r, &v) && v == INT64_MIN);
    assert_true(vial_jr_more(r));
    assert_false(vial_jr_int(r, &v)); /* too big: left, not an error */
    assert_int_equal(vial_jr_peek(r), VIAL_JR_NUMBER);
    assert_true(vial_jr_more(r) && vial_jr_int(r, &v) && v == 0);
    assert_true(vial_jr_more(r) && vial_jr_int(r, &v) && v == 0);
    assert_true(vial_jr_more(r));
    assert_false(vial_jr_int(r, &v));
    assert_false(vial_jr_more(r));
    assert_int_equal(vial_jr_finish(r), 0);
}

static void test_skip_raw(void **state)
{
    (void)state;
    vial_jr *r = reader("{\"a\": {\"b\": [1, \"x\", {\"c\": null}]} , \"d\": 2}");
    const char *raw;
    size_t n;
    assert_true(vial_jr_object(r));
    assert_true(vial_jr_key(r, NULL, NULL));
    assert_true(vial_jr_skip(r, &raw, &n));
    assert_true(span_is(raw, n, "{\"b\": [1, \"x\", {\"c\": null}]}"));
    assert_int_equal(vial_jr_finish(r), 0); /* the rest is validated */
}

static void test_close_early(void **state)
{
    (void)state;
    vial_jr *r = reader("{\"a\": [1, 2, 3], \"b\": 1}");
    assert_true(vial_jr_object(r));
    assert_true(vial_jr_key(r, NULL, NULL));
    assert_true(vial_jr_array(r));
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_leave(r));
    const char *k;
    size_t kn;
    assert_true(vial_jr_key(r, &k, &kn) && span_is(k, kn, "b"));
    assert_int_equal(vial_jr_finish(r), 0);

    /* stopping early still validates what follows */
    r = reader("{\"a\": [1, 2, 3], \"b\": tru}");
    assert_true(vial_jr_object(r));
    assert_int_equal(vial_jr_finish(r), VIAL_EPARSE);
}

static void test_top_level_scalars(void **state)
{
    (void)state;
    const char *s;
    size_t n;
    vial_jr *r = reader("  \"just a string\"\n");
    assert_true(vial_jr_str(r, &s, &n) && span_is(s, n, "just a string"));
    assert_int_equal(vial_jr_finish(r), 0);
    r = reader("12");
    assert_int_equal(vial_jr_finish(r), 0);
}

static void invalid(const char *text, const char *why)
{
    vial_jr *r = reader(text);
    if (vial_jr_finish(r) != VIAL_EPARSE)
        fail_msg("accepted: %s", text);
    const char *e = vial_jr_error(r);
    assert_non_null(e);
    if (why && !strstr(e, why))
        fail_msg("%s: error '%s' lacks '%s'", text, e, why);
}

static void test_invalid(void **state)
{
    (void)state;
    invalid("", "unexpected end");
    invalid("   ", "unexpected end");
    invalid("{", "unexpected end");
    invalid("{\"a\" 1}", "':'");
    invalid("{\"a\": 1,}", "string key");
    invalid("{a: 1}", "string key");
    invalid("[1,]", NULL);
    invalid("[1 2]", "','");
    invalid("{\"a\": 1 \"b\": 2}", "','");
    invalid("[1]]", "after the JSON value");
    invalid("01", "after the JSON value");
    invalid("-", "invalid number");
    invalid("1.", "invalid number");
    invalid(".5", "invalid number");
    invalid("1e", "invalid number");
    invalid("+1", "invalid number");
    invalid("tru", "literal");
    invalid("nul", "literal");
    invalid("\"abc", "unterminated");
    invalid("\"a\tb\"", "control character");
    invalid("\"\\x\"", "invalid escape");
    invalid("\"\\u12\"", "\\u escape");
    invalid("\"\\ud800\"", "\\u escape");
    invalid("\"\\udc00\"", "\\u escape");
    invalid("\"\\ud800\\u0041\"", "\\u escape");
    invalid("\"\xc3\"", "UTF-8");
    invalid("\"\xc0\xaf\"", "UTF-8");         /* overlong */
    invalid("\"\xed\xa0\x80\"", "UTF-8");     /* encoded surrogate */
    invalid("\"\xf4\x90\x80\x80\"", "UTF-8"); /* above U+10FFFF */
    invalid("\"\xff\"", "UTF-8");
    invalid("{\"a\":\n  [1, x]}", "line 2 column 7");
}

static void test_depth_limit(void **state)
{
    (void)state;
    size_t n = VIAL__JR_MAX_DEPTH;
    char *deep = malloc(2 * n + 3);
    memset(deep, '[', n);
    memset(deep + n, ']', n);
    deep[2 * n] = '\0';
    vial_jr *r = reader(deep);
    assert_int_equal(vial_jr_finish(r), 0);
    memset(deep, '[', n + 1); /* one more level */
    memset(deep + n + 1, ']', n + 1);
    deep[2 * n + 2] = '\0';
    r = reader(deep);
    assert_int_equal(vial_jr_finish(r), VIAL_EPARSE);
    assert_non_null(strstr(vial_jr_error(r), "nested too deeply"));
    free(deep);
}

static void test_misuse(void **state)
{
    (void)state;
    vial_jr *r = reader("[1, 2]");
    assert_true(vial_jr_array(r));
    assert_false(vial_jr_key(r, NULL, NULL));
    assert_int_equal(vial_jr_finish(r), VIAL_ESTATE);
    assert_non_null(strstr(vial_jr_error(r), "outside an object"));
}

static int h_sum(vial_req *req)
{
    vial_jr *r = vial_jr_body(req);
    int64_t sum = 0, v;
    if (vial_jr_array(r))
        while (vial_jr_more(r))
            if (vial_jr_int(r, &v))
                sum += v;
    if (vial_jr_finish(r))
        return vial_abort(req, 400, vial_jr_error(r));
    return vial_textf(req, 200, "%lld", (long long)sum);
}

static void test_body(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("jr");
    assert_non_null(app);
    vial_post(app, "/sum", h_sum);
    vial_test_resp *t = vial_test(app, "POST", "/sum", NULL, "[1, 2, \"x\", 39]", 15);
    assert_int_equal(vial_test_status(t), 200);
    assert_string_equal(vial_test_body(t, NULL), "42");
    vial_test_free(t);
    t = vial_test(app, "POST", "/sum", NULL, "[1, 2", 5);
    assert_int_equal(vial_test_status(t), 400);
    assert_non_null(strstr(vial_test_body(t, NULL), "invalid JSON at line 1 column 6: unexpected end of input"));
    vial_test_free(t);
    t = vial_test(app, "POST", "/sum", NULL, NULL, 0);
    assert_int_equal(vial_test_status(t), 400);
    assert_non_null(strstr(vial_test_body(t, NULL), "body is empty"));
    vial_test_free(t);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_walk),
        cmocka_unit_test(test_escapes_decoded),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_skip_raw),
        cmocka_unit_test(test_close_early),
        cmocka_unit_test(test_top_level_scalars),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_misuse),
        cmocka_unit_test(test_body),
    };
    int rc = RUN_GROUP(tests);
    vial__arena_reset(&arena);
    return rc;
}

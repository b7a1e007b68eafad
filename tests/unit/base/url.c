/* Unit tests for src/core/url.c: percent-decoding/encoding, query strings,
 * cookies. */
#include "unit.h"

static void test_decode(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(vial_url_decode("a%20b", 5, out, 0), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(vial_url_decode("a+b", 3, out, 0), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(vial_url_decode("a+b", 3, out, 1), 3);
    assert_string_equal(out, "a b");
    assert_int_equal(vial_url_decode("%2f%2F", 6, out, 0), 2);
    assert_string_equal(out, "//");
    assert_int_equal(vial_url_decode("%C3%A9", 6, out, 0), 2);
    assert_string_equal(out, "\xc3\xa9");
    /* malformed escapes: truncated, non-hex, at the very end */
    assert_int_equal(vial_url_decode("%", 1, out, 0), VIAL_EPARSE);
    assert_int_equal(vial_url_decode("%2", 2, out, 0), VIAL_EPARSE);
    assert_int_equal(vial_url_decode("%g0", 3, out, 0), VIAL_EPARSE);
    assert_int_equal(vial_url_decode("ab%", 3, out, 0), VIAL_EPARSE);
    /* length-bounded: bytes past n are not read */
    assert_int_equal(vial_url_decode("ab%41", 2, out, 0), 2);
    assert_string_equal(out, "ab");
    /* %00 decodes to a NUL byte inside the returned length */
    assert_int_equal(vial_url_decode("a%00b", 5, out, 0), 3);
    assert_int_equal(out[1], 0);
}

static void test_encode(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    assert_int_equal(vial__url_encode_into(&b, "a b/c?d=é~", strlen("a b/c?d=é~"), 0), 0);
    vial__buf_nul(&b);
    assert_string_equal(b.p, "a%20b%2Fc%3Fd%3D%C3%A9~");
    b.n = 0;
    vial__url_encode_into(&b, "a b/c:@", 7, 1);
    vial__buf_nul(&b);
    assert_string_equal(b.p, "a%20b%2Fc:@");
    b.n = 0;
    vial__url_encode_into(&b, "a b/c", 5, 2);
    vial__buf_nul(&b);
    assert_string_equal(b.p, "a%20b/c");
    vial__buf_free(&b);
}

static void test_query(void **state)
{
    (void)state;
    vial__arena a = { 0 };
    vial__arg *args;
    size_t n;
    const char *q = "a=1&b=x+y&a=2&empty=&flag&c=%41%42;d=4&&bad=%zz&e=%26";
    assert_int_equal(vial__parse_query(&a, q, strlen(q), &args, &n), 0);
    assert_int_equal(n, 8); /* "bad" is skipped, empty pieces ignored */
    const char *want[][2] = { { "a", "1" }, { "b", "x y" }, { "a", "2" }, { "empty", "" },
                              { "flag", "" }, { "c", "AB" }, { "d", "4" }, { "e", "&" } };
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(args[i].name, want[i][0]);
        assert_string_equal(args[i].value, want[i][1]);
    }
    assert_int_equal(vial__parse_query(&a, "", 0, &args, &n), 0);
    assert_int_equal(n, 0);
    vial__arena_reset(&a);
}

static void test_cookie(void **state)
{
    (void)state;
    const char *h = "a=1; session=\"abc def\"; b = 2 ;c=; a=shadowed";
    vial__str v = vial__cookie_find(h, strlen(h), "a");
    assert_int_equal(v.n, 1);
    assert_memory_equal(v.p, "1", 1);
    v = vial__cookie_find(h, strlen(h), "session");
    assert_int_equal(v.n, 7);
    assert_memory_equal(v.p, "abc def", 7);
    v = vial__cookie_find(h, strlen(h), "b");
    assert_int_equal(v.n, 1);
    assert_memory_equal(v.p, "2", 1);
    v = vial__cookie_find(h, strlen(h), "c");
    assert_non_null(v.p);
    assert_int_equal(v.n, 0);
    v = vial__cookie_find(h, strlen(h), "sess");
    assert_null(v.p);
    v = vial__cookie_find("novalue; x=1", 12, "novalue");
    assert_null(v.p);
    v = vial__cookie_find("novalue; x=1", 12, "x");
    assert_int_equal(v.n, 1);
}

static int args_handler(vial_req *req)
{
    const char *vals[4], *k, *v;
    size_t n = vial_args(req, "a", vals, 4);
    size_t all = 0;
    while (vial_arg_at(req, all, &k, &v))
        all++;
    assert_int_equal(all, 3);
    return vial_textf(req, 200, "%zu:%s,%s|b=%s|c=%s|ck=%s|%s", n, n > 0 ? vals[0] : "",
                      n > 1 ? vals[1] : "", vial_arg(req, "b"), vial_arg(req, "c") ? "yes" : "no",
                      vial_cookie(req, "ck"), vial_url_encode(req, "a/b c"));
}

static void test_request_accessors(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_configure(app, 0, NULL);
    vial_get(app, "/q", args_handler);
    vial_test_resp *r = vial_test(app, "GET", "/q?a=1&b=h%C3%A9llo+w&a=x%2By",
                                  "Cookie: other=1; ck=\"val\"\r\n", NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "2:1,x+y|b=h\xc3\xa9llo w|c=no|ck=val|a%2Fb%20c");
    vial_test_free(r);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_cookie),
        cmocka_unit_test(test_request_accessors),
    };
    return RUN_GROUP(tests);
}

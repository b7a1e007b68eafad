/* Unit tests for src/core/response.c: response helpers, headers, cookies,
 * redirects, streams, serialization details. */
#include "unit.h"

static int h_headers(vial_req *req)
{
    assert_int_equal(vial_text(req, 200, "x"), 0);
    assert_int_equal(vial_text(req, 200, "again"), VIAL_ESTATE); /* one response only */
    assert_int_equal(vial_set_header(req, "X-One", "1"), 0);
    assert_int_equal(vial_set_header(req, "X-One", "2"), 0); /* replaces */
    assert_int_equal(vial_add_header(req, "X-Many", "a"), 0);
    assert_int_equal(vial_add_header(req, "X-Many", "b"), 0); /* appends */
    assert_int_equal(vial_set_header(req, "Content-Length", "5"), VIAL_EINVAL);
    assert_int_equal(vial_set_header(req, "Connection", "close"), VIAL_EINVAL);
    assert_int_equal(vial_set_header(req, "X-Evil", "a\r\nSet-Cookie: x=1"), VIAL_EINVAL);
    assert_int_equal(vial_set_header(req, "Bad Name", "v"), VIAL_EINVAL);
    assert_int_equal(vial_set_header(req, "Content-Type", "text/x-custom"), 0);
    assert_string_equal(vial_resp_header(req, "x-one"), "2");
    assert_int_equal(vial_resp_status(req), 200);
    assert_int_equal(vial_set_status(req, 202), 0);
    return 0;
}

static int h_cookies(vial_req *req)
{
    vial_cookie_opts o = { .max_age = 3600, .secure = 1, .samesite = VIAL_SAMESITE_STRICT,
                           .path = "/app" };
    assert_int_equal(vial_set_cookie(req, "sid", "abc123", &o), 0);
    assert_int_equal(vial_set_cookie(req, "plain", "v", NULL), 0);
    vial_cookie_opts del = { .max_age = -1 };
    assert_int_equal(vial_set_cookie(req, "old", "", &del), 0);
    assert_int_equal(vial_set_cookie(req, "bad", "a;b", NULL), VIAL_EINVAL);
    assert_int_equal(vial_set_cookie(req, "bad=name", "v", NULL), VIAL_EINVAL);
    return vial_no_content(req);
}

static int h_redirect(vial_req *req)
{
    assert_int_equal(vial_redirect(req, 200, "/x"), VIAL_EINVAL);
    assert_int_equal(vial_redirect(req, 302, "/x\r\ny"), VIAL_EINVAL);
    return vial_redirect(req, 303, "/target?a=1");
}

static int h_send(vial_req *req)
{
    static const char bin[] = { 'a', 0, 'b' };
    return vial_send(req, 200, "application/octet-stream", bin, sizeof bin);
}

static int h_big(vial_req *req)
{
    /* larger than the copy threshold: queued by reference */
    char *p = vial_alloc(req, 100000);
    memset(p, 'z', 100000);
    return vial_send(req, 200, "text/plain", p, 100000);
}

static int counter;
static int stream_step(vial_req *req, void *ud)
{
    int *left = ud;
    vial_jw *w = vial_stream_jw(req);
    if (*left == 3)
        vial_jw_array(w);
    vial_jw_int(w, *left);
    if (--*left == 0) {
        vial_jw_end(w);
        return 0;
    }
    counter++;
    return 1;
}

static int h_stream(vial_req *req)
{
    int *left = vial_alloc(req, sizeof *left);
    *left = 3;
    return vial_stream(req, 200, "application/json", stream_step, left);
}

static int stream_fail(vial_req *req, void *ud)
{
    (void)ud;
    vial_write(req, "partial", 7);
    return -1;
}

static int h_stream_fail(vial_req *req)
{
    return vial_stream(req, 200, "text/plain", stream_fail, NULL);
}

/* Two documents built in buffers, then the response: each buffer is its
 * own, and none of them is the body. */
static int h_jw_buffer(vial_req *req)
{
    vial_jw *a = vial_jw_buffer(req), *b = vial_jw_buffer(req);
    assert_non_null(a);
    assert_non_null(b);
    vial_jw_array(a);
    assert_null(vial_jw_text(a, NULL)); /* not balanced yet */
    for (int i = 0; i < 3000; i++) /* past the pool block */
        vial_jw_int(a, i);
    vial_jw_end(a);
    vial_jw_object(b);
    vial_jw_key(b, "k");
    vial_jw_str(b, "<v>");
    vial_jw_end(b);
    size_t an, bn;
    const char *at = vial_jw_text(a, &an), *bt = vial_jw_text(b, &bn);
    assert_non_null(at);
    assert_int_equal(an, strlen(at));
    assert_memory_equal(at, "[0,1,2,", 7);
    assert_string_equal(at + an - 6, ",2999]");
    assert_string_equal(bt, "{\"k\":\"\\u003cv\\u003e\"}");
    assert_int_equal(bn, strlen(bt));
    vial_jw_int(b, 1); /* a second value: the writer's error */
    assert_null(vial_jw_text(b, &bn));
    assert_int_equal(bn, 0);
    assert_null(vial_jw_text(NULL, NULL));
    assert_false(vial_responded(req));
    return vial_textf(req, 200, "%zu", an);
}

static vial_app *build(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_get(app, "/headers", h_headers);
    vial_get(app, "/cookies", h_cookies);
    vial_get(app, "/redirect", h_redirect);
    vial_get(app, "/send", h_send);
    vial_get(app, "/big", h_big);
    vial_get(app, "/stream", h_stream);
    vial_get(app, "/stream-fail", h_stream_fail);
    vial_get(app, "/jw-buffer", h_jw_buffer);
    return app;
}

static void test_headers(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/headers");
    assert_int_equal(vial_test_status(r), 202);
    assert_string_equal(vial_test_header(r, "X-One"), "2");
    assert_string_equal(vial_test_header(r, "Content-Type"), "text/x-custom");
    assert_string_equal(vial_test_header(r, "Server"), "vial");
    assert_int_equal(strlen(vial_test_header(r, "Date")), 29);
    assert_non_null(vial_test_header(r, "X-Request-Id"));
    size_t n;
    const char *out = vial_test_output(r, &n);
    assert_non_null(strstr(out, "X-Many: a\r\nX-Many: b\r\n"));
    assert_null(strstr(out, "X-Evil"));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_cookies(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/cookies");
    assert_int_equal(vial_test_status(r), 204);
    size_t n;
    const char *out = vial_test_output(r, &n);
    assert_non_null(strstr(out, "Set-Cookie: sid=abc123; Path=/app; Max-Age=3600; Expires="));
    assert_non_null(strstr(out, "; Secure; HttpOnly; SameSite=Strict\r\n"));
    assert_non_null(strstr(out, "Set-Cookie: plain=v; Path=/; HttpOnly; SameSite=Lax\r\n"));
    assert_non_null(strstr(out, "Set-Cookie: old=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"));
    assert_null(strstr(out, "Content-Length")); /* 204 carries no length */
    assert_null(strstr(out, "\r\nContent-Type:"));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_redirect_and_bodies(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/redirect");
    assert_int_equal(vial_test_status(r), 303);
    assert_string_equal(vial_test_header(r, "Location"), "/target?a=1");
    vial_test_free(r);
    r = get(app, "/send");
    size_t n;
    const char *b = vial_test_body(r, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(b, "a\0b", 3);
    vial_test_free(r);
    r = get(app, "/big");
    b = vial_test_body(r, &n);
    assert_int_equal(n, 100000);
    assert_int_equal(b[0], 'z');
    assert_int_equal(b[99999], 'z');
    vial_test_free(r);
    vial_app_free(app);
}

static void test_stream(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/stream");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Transfer-Encoding"), "chunked");
    assert_null(vial_test_header(r, "Content-Length"));
    assert_string_equal(vial_test_body(r, NULL), "[3,2,1]");
    size_t n;
    const char *out = vial_test_output(r, &n);
    assert_true(n > 5 && memcmp(out + n - 5, "0\r\n\r\n", 5) == 0);
    vial_test_free(r);
    /* HEAD: the head only, the stream function never runs */
    counter = 0;
    r = vial_test(app, "HEAD", "/stream", NULL, NULL, 0);
    out = vial_test_output(r, &n);
    assert_int_equal(counter, 0);
    assert_true(n > 4 && memcmp(out + n - 4, "\r\n\r\n", 4) == 0);
    assert_null(strstr(out, "0\r\n\r\n0"));
    vial_test_free(r);
    /* HTTP/1.0: no chunked framing, the body ends with the connection */
    r = vial_test_raw(app, "GET /stream HTTP/1.0\r\n\r\n", 24);
    out = vial_test_output(r, &n);
    assert_null(strstr(out, "Transfer-Encoding"));
    assert_non_null(strstr(out, "Connection: close"));
    assert_true(n > 7 && memcmp(out + n - 7, "[3,2,1]", 7) == 0);
    vial_test_free(r);
    /* a failing stream ends without the final chunk: the client sees truncation */
    r = get(app, "/stream-fail");
    out = vial_test_output(r, &n);
    assert_non_null(strstr(out, "7\r\npartial\r\n"));
    assert_null(strstr(out, "0\r\n\r\n"));
    vial_test_free(r);
    vial_app_free(app);
}

static int h_page(vial_req *req)
{
    if (vial_arg(req, "own"))
        vial_set_header(req, "X-Frame-Options", "SAMEORIGIN");
    return vial_html(req, 200, "<p>hi</p>");
}

static void test_security_headers(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_get(app, "/page", h_page);
    vial_test_resp *r = get(app, "/page");
    assert_string_equal(vial_test_header(r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(vial_test_header(r, "Referrer-Policy"), "strict-origin-when-cross-origin");
    assert_string_equal(vial_test_header(r, "X-Frame-Options"), "DENY");
    assert_non_null(strstr(vial_test_header(r, "Content-Security-Policy"), "default-src 'self'"));
    vial_test_free(r);
    r = get(app, "/page?own=1"); /* the handler's own value wins */
    assert_string_equal(vial_test_header(r, "X-Frame-Options"), "SAMEORIGIN");
    vial_test_free(r);
    r = get(app, "/send"); /* not HTML: no CSP, no frame options */
    assert_null(vial_test_header(r, "Content-Security-Policy"));
    assert_null(vial_test_header(r, "X-Frame-Options"));
    assert_string_equal(vial_test_header(r, "X-Content-Type-Options"), "nosniff");
    vial_test_free(r);
    vial_app_free(app);
    app = build();
    vial_config_set(app, "security_headers", "off");
    vial_configure(app, 0, NULL);
    vial_get(app, "/page", h_page);
    r = get(app, "/page");
    assert_null(vial_test_header(r, "X-Frame-Options"));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_status_tables(void **state)
{
    (void)state;
    assert_string_equal(vial_error_name(404), "not_found_404");
    assert_string_equal(vial_error_name(400), "bad_request_400");
    assert_string_equal(vial_error_name(405), "method_not_allowed_405");
    assert_string_equal(vial_error_name(500), "internal_server_error_500");
    assert_string_equal(vial_error_name(599), "server_error");
    assert_string_equal(vial_status_reason(431), "Request Header Fields Too Large");
    assert_string_equal(vial_strerror(VIAL_ENOMEM), "out of memory");
    assert_string_equal(vial_strerror(0), "success");
    assert_string_equal(vial_strerror(12345), "unknown error");
}

static void test_jw_buffer(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/jw-buffer");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "13891");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_arena_and_buf(void **state)
{
    (void)state;
    vial__pool pool = { .max = 4 };
    vial__arena a = { .pool = &pool };
    char *small = vial__arena_alloc(&a, 10);
    memset(small, 1, 10);
    char *big = vial__arena_alloc(&a, 100000); /* own block */
    memset(big, 2, 100000);
    for (int i = 0; i < 1000; i++)
        assert_non_null(vial__arena_alloc(&a, 100));
    assert_null(vial__arena_alloc(&a, (size_t)1 << 62)); /* refused, not overflowed */
    assert_int_equal(((uintptr_t)vial__arena_alloc(&a, 3)) % 16, 0);
    vial__arena_reset(&a);
    assert_true(pool.n >= 1); /* standard blocks went back to the pool */
    vial__buf b = { .pool = &pool };
    assert_int_equal(vial__buf_append(&b, "abc", 3), 0);
    assert_true(b.pooled);
    char chunk[5000];
    memset(chunk, 'x', sizeof chunk);
    assert_int_equal(vial__buf_append(&b, chunk, sizeof chunk), 0);
    assert_int_equal(vial__buf_append(&b, chunk, sizeof chunk), 0); /* leaves the pool block */
    assert_false(b.pooled);
    assert_int_equal(b.n, 10003);
    assert_memory_equal(b.p, "abcxx", 5);
    vial__buf_free(&b);
    vial__pool_drain(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_redirect_and_bodies),
        cmocka_unit_test(test_stream),
        cmocka_unit_test(test_security_headers),
        cmocka_unit_test(test_status_tables),
        cmocka_unit_test(test_arena_and_buf),
        cmocka_unit_test(test_jw_buffer),
    };
    return RUN_GROUP(tests);
}

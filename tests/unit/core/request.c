/*
 * Unit tests for src/core/request.c: what a handler reads, through the
 * in-process test client — method, path and target, route parameters,
 * query arguments, headers (repeats joined, cookies with "; "), cookies,
 * the body, the client address behind trusted proxies (X-Forwarded-For,
 * X-Forwarded-Proto), request ids sent by clients accepted or refused,
 * locals and module state (vial__req_ext, vial__req_state), the arena
 * helpers (vial_realloc growing in place or copying), finishers and
 * upgrade requests.
 */
#include "unit.h"

#include <fcntl.h>
#include <regex.h>
#include <stdlib.h>
#include <unistd.h>

static vial_app *new_app(void)
{
    vial_app *app = vial_app_new("t");
    assert_non_null(app);
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    return app;
}

static vial_test_resp *req(vial_app *app, const char *method, const char *target,
                           const char *headers, const char *body)
{
    vial_test_resp *r = vial_test(app, method, target, headers, body, body ? strlen(body) : 0);
    assert_non_null(r);
    return r;
}

/* Runs a request and checks a 200 with body `want`. */
static void check(vial_app *app, const char *target, const char *headers, const char *want)
{
    vial_test_resp *r = req(app, "GET", target, headers, NULL);
    if (vial_test_status(r) != 200 || strcmp(vial_test_body(r, NULL), want))
        print_error("GET %s: %d [%s], want [%s]\n", target, vial_test_status(r),
                    vial_test_body(r, NULL), want);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), want);
    vial_test_free(r);
}

/* NULL shown as "(null)", without handing NULL to printf. */
#define S(x) ((x) ? (x) : "(null)")

static bool matches(const char *s, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = s && regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    if (!ok)
        print_error("[%s] does not match /%s/\n", s ? s : "(null)", pattern);
    return ok;
}

/* ------------------------------------------------------------------ line and path */

static vial_app *seen_app;

static int h_line(vial_req *r)
{
    seen_app = vial_app_of(r);
    return vial_textf(r, 200, "%s|%s|%s|%s|%d", vial_method(r), vial_path(r), vial_target(r),
                      vial_endpoint(r), vial_worker_id(r));
}

static void test_method_path_target(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST | VIAL_DELETE, "/p/<path:rest>", h_line,
               "line");
    check(app, "/p/a%20b/c?x=%41", NULL, "GET|/p/a b/c|/p/a%20b/c?x=%41|line|0");
    assert_ptr_equal(seen_app, app);
    vial_test_resp *r = req(app, "DELETE", "/p/x", NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "DELETE|/p/x|/p/x|line|0");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_null_request_is_safe(void **state)
{
    (void)state;
    assert_null(vial_method(NULL));
    assert_null(vial_path(NULL));
    assert_null(vial_target(NULL));
    assert_null(vial_app_of(NULL));
    assert_null(vial_endpoint(NULL));
    assert_int_equal(vial_worker_id(NULL), -1);
    assert_null(vial_param(NULL, "x"));
    assert_int_equal(vial_param_int(NULL, "x"), 0);
    assert_null(vial_arg(NULL, "x"));
    assert_int_equal(vial_args(NULL, "x", NULL, 0), 0);
    assert_null(vial_header(NULL, "x"));
    assert_int_equal(vial_header_at(NULL, 0, NULL, NULL), 0);
    assert_null(vial_cookie(NULL, "x"));
    size_t n = 99;
    assert_null(vial_body(NULL, &n));
    assert_int_equal(n, 0);
    assert_null(vial_client_addr(NULL));
    assert_string_equal(vial_scheme(NULL), "http");
    assert_null(vial_request_id(NULL));
    assert_int_equal(vial_set_local(NULL, "k", NULL), VIAL_EINVAL);
    assert_null(vial_local(NULL, "k"));
    assert_null(vial_alloc(NULL, 1));
    assert_null(vial_strdup(NULL, "x"));
    assert_null(vial_strndup(NULL, "x", 1));
    assert_null(vial_sprintf(NULL, "x"));
    assert_int_equal(vial_defer(NULL, free, NULL), VIAL_EINVAL);
    assert_null(vial_url_encode(NULL, "x"));
    assert_null(vial__req_pool(NULL));
}

/* ------------------------------------------------------------------ parameters */

static int h_params(vial_req *r)
{
    vial__buf b = { 0 };
    const char *name, *value;
    for (size_t i = 0; vial_param_at(r, i, &name, &value); i++)
        vial__buf_printf(&b, "%s=%s;", name, value);
    vial__buf_printf(&b, "|%s|%" PRId64 "|%.2f|%s|%" PRId64 "|%d", S(vial_param(r, "name")),
                     vial_param_int(r, "age"), vial_param_float(r, "h"),
                     vial_param(r, "nope") ? "?" : "null", vial_param_int(r, "nope"),
                     vial_param_at(r, 4, NULL, NULL));
    vial__buf_nul(&b);
    int rc = vial_text(r, 200, b.p);
    vial__buf_free(&b);
    return rc;
}

static void test_params(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/u/<name>/<int:age>/x/<float:h>/<path:rest>", h_params);
    check(app, "/u/b%2Fob/42/x/1.5/r/e%20st", NULL,
          "name=b/ob;age=42;h=1.5;rest=r/e st;|b/ob|42|1.50|null|0|0");
    /* a string parameter read as an int is 0, not garbage */
    vial_get(app, "/s/<name>", h_params);
    check(app, "/s/abc", NULL, "name=abc;|abc|0|0.00|null|0|0");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ query arguments */

static int h_args(vial_req *r)
{
    const char *vals[2];
    size_t n = vial_args(r, "a", vals, 2);
    size_t none = vial_args(r, "a", NULL, 0);
    vial__buf b = { 0 };
    vial__buf_printf(&b, "%zu/%zu:%s,%s|", n, none, n > 0 ? vals[0] : "-", n > 1 ? vals[1] : "-");
    const char *k, *v;
    for (size_t i = 0; vial_arg_at(r, i, &k, &v); i++)
        vial__buf_printf(&b, "[%s=%s]", k, v);
    vial__buf_printf(&b, "|%s|%s", vial_arg(r, "missing") ? "?" : "null",
                     vial_arg(r, NULL) ? "?" : "null");
    vial__buf_nul(&b);
    int rc = vial_text(r, 200, b.p);
    vial__buf_free(&b);
    return rc;
}

static void test_args(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/q", h_args);
    /* three values of a, only two asked for: the count says three */
    check(app, "/q?a=1&b=x+y&a=%26&flag&a=3&e=", NULL,
          "3/3:1,&|[a=1][b=x y][a=&][flag=][a=3][e=]|null|null");
    check(app, "/q", NULL, "0/0:-,-||null|null");
    check(app, "/q?", NULL, "0/0:-,-||null|null");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ headers and cookies */

static int h_headers(vial_req *r)
{
    vial__buf b = { 0 };
    vial__buf_printf(&b, "%s|%s|%s|%s|%s|", S(vial_header(r, "x-a")), S(vial_header(r, "X-B")),
                     S(vial_header(r, "cookie")), vial_header(r, "x-missing") ? "?" : "null",
                     S(vial_cookie(r, "c2")));
    const char *name, *value;
    for (size_t i = 0; vial_header_at(r, i, &name, &value); i++)
        if (strcasecmp(name, "host") && strcasecmp(name, "content-length"))
            vial__buf_printf(&b, "[%s:%s]", name, value);
    vial__buf_nul(&b);
    int rc = vial_text(r, 200, b.p);
    vial__buf_free(&b);
    return rc;
}

static void test_repeated_headers_joined(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/h", h_headers);
    check(app, "/h",
          "X-A: 1\r\nx-b: only\r\nx-a: 2\r\nCookie: c1=one\r\nX-A:  3 \r\nCOOKIE: c2=two\r\n",
          "1, 2, 3|only|c1=one; c2=two|null|two|"
          "[X-A:1][x-b:only][x-a:2][Cookie:c1=one][X-A:3][COOKIE:c2=two]");
    /* an empty first value keeps its place: ", 2", not "2" (a field that
     * must appear once, like Sec-WebSocket-Key, must not pass as one) */
    check(app, "/h", "X-A:\r\nX-A: 2\r\n", ", 2|(null)|(null)|null|(null)|[X-A:][X-A:2]");
    vial_app_free(app);
}

static int h_cookies(vial_req *r)
{
    return vial_textf(r, 200, "%s|%s|%s|%s", S(vial_cookie(r, "session")),
                      vial_cookie(r, "sess") ? "?" : "null", S(vial_cookie(r, "empty")),
                      vial_cookie(r, NULL) ? "?" : "null");
}

static void test_cookies(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/c", h_cookies);
    check(app, "/c", "Cookie: a=1; session=\"x y\"; empty=\r\n", "x y|null||null");
    /* no Cookie header at all */
    vial_test_resp *r = req(app, "GET", "/c", NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "(null)|null|(null)|null");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ body */

static int h_body(vial_req *r)
{
    size_t n;
    const char *b = vial_body(r, &n);
    vial__buf out = { 0 };
    vial__buf_printf(&out, "%zu:", n);
    for (size_t i = 0; i < n; i++)
        vial__buf_printf(&out, "%02x", (unsigned char)b[i]);
    vial__buf_printf(&out, ":%d", b[n] == '\0'); /* NUL-terminated */
    vial__buf_nul(&out);
    int rc = vial_text(r, 200, out.p);
    vial__buf_free(&out);
    return rc;
}

static void test_body(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST, "/b", h_body, "b");
    vial_test_resp *r = vial_test(app, "POST", "/b", NULL, "a\0b", 3);
    assert_string_equal(vial_test_body(r, NULL), "3:610062:1");
    vial_test_free(r);
    r = req(app, "POST", "/b", NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "0::1"); /* "" rather than NULL */
    vial_test_free(r);
    r = req(app, "GET", "/b", NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "0::1");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ client address */

static int h_client(vial_req *r)
{
    return vial_textf(r, 200, "%s|%s", vial_client_addr(r), vial_scheme(r));
}

static void test_client_addr_untrusted_peer(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/ip", h_client);
    /* no trusted proxies: the headers are anyone's to forge */
    check(app, "/ip", "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n", "127.0.0.1|http");
    vial_app_free(app);
    /* trusted proxies, but the peer is not one of them */
    app = new_app();
    vial_config_set(app, "trusted_proxies", "10.0.0.1");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_get(app, "/ip", h_client);
    check(app, "/ip", "X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n", "127.0.0.1|http");
    check(app, "/ip", "X-Real-IP: 1.2.3.4\r\n", "127.0.0.1|http");
    vial_app_free(app);
}

static void test_client_addr_through_trusted_proxies(void **state)
{
    (void)state;
    vial_app *app = new_app();
    /* the test client's peer is 127.0.0.1 */
    vial_config_set(app, "trusted_proxies", " 127.0.0.0/8 ,10.0.0.2,,10.0.0.3");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_get(app, "/ip", h_client);
    check(app, "/ip", "X-Forwarded-For: 1.2.3.4\r\n", "1.2.3.4|http");
    /* the rightmost address that is not ours: what is left of it is client-supplied */
    check(app, "/ip", "X-Forwarded-For: 6.6.6.6, 1.2.3.4, 10.0.0.2\r\n", "1.2.3.4|http");
    check(app, "/ip", "X-Forwarded-For: 6.6.6.6,\t1.2.3.4 ,10.0.0.3, 10.0.0.2\r\n", "1.2.3.4|http");
    /* empty members are skipped */
    check(app, "/ip", "X-Forwarded-For: , 1.2.3.4, ,\r\n", "1.2.3.4|http");
    /* every hop one of ours: the peer */
    check(app, "/ip", "X-Forwarded-For: 10.0.0.2, 10.0.0.3\r\n", "127.0.0.1|http");
    check(app, "/ip", "X-Forwarded-For: ,\r\n", "127.0.0.1|http");
    check(app, "/ip", NULL, "127.0.0.1|http");
    /* without X-Forwarded-For, a trusted proxy's X-Real-IP (nginx) */
    check(app, "/ip", "X-Real-IP: 8.8.4.4\r\n", "8.8.4.4|http");
    check(app, "/ip", "X-Real-IP: 8.8.4.4\r\nX-Forwarded-For: 1.2.3.4\r\n", "1.2.3.4|http");
    check(app, "/ip", "X-Real-IP: 8.8.4.4, 1.1.1.1\r\n", "127.0.0.1|http");
    /* two X-Forwarded-For headers read as one list */
    check(app, "/ip", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-For: 5.5.5.5, 10.0.0.2\r\n",
          "5.5.5.5|http");
    /* the scheme a trusted proxy reports */
    check(app, "/ip", "X-Forwarded-Proto: https\r\n", "127.0.0.1|https");
    check(app, "/ip", "X-Forwarded-Proto: HTTPS\r\n", "127.0.0.1|https");
    check(app, "/ip", "X-Forwarded-Proto: http\r\n", "127.0.0.1|http");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ request ids */

static int h_reqid(vial_req *r)
{
    const char *a = vial_request_id(r), *b = vial_request_id(r);
    assert_ptr_equal(a, b); /* stable within the request */
    return vial_text(r, 200, a);
}

#define GENERATED "^[0-9a-f]{8}-[0-9a-f]{10}$"

static void test_request_id_from_client_accepted(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/id", h_reqid);
    /* From a client that is not a trusted proxy, an id is not believed. */
    vial_test_resp *plain = req(app, "GET", "/id", "X-Request-Id: trace-42_a.B\r\n", NULL);
    assert_string_not_equal(vial_test_body(plain, NULL), "trace-42_a.B");
    vial_test_free(plain);
    vial_config_set(app, "trusted_proxies", "127.0.0.1");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_test_resp *r = req(app, "GET", "/id", "X-Request-Id: trace-42_a.B\r\n", NULL);
    assert_string_equal(vial_test_body(r, NULL), "trace-42_a.B");
    assert_string_equal(vial_test_header(r, "X-Request-Id"), "trace-42_a.B");
    vial_test_free(r);
    char id64[100] = "X-Request-Id: ";
    memset(id64 + 14, 'k', 64);
    strcpy(id64 + 78, "\r\n");
    r = req(app, "GET", "/id", id64, NULL);
    assert_int_equal(strlen(vial_test_body(r, NULL)), 64);
    vial_test_free(r);
    /* of two, the first one counts */
    r = req(app, "GET", "/id", "x-request-id: first\r\nX-Request-Id: second\r\n", NULL);
    assert_string_equal(vial_test_body(r, NULL), "first");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_request_id_from_client_refused(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/id", h_reqid);
    static const char *const bad[] = {
        "X-Request-Id: has space\r\n", "X-Request-Id: quo\"te\r\n", "X-Request-Id: a/b\r\n",
        "X-Request-Id: caf\xc3\xa9\r\n", "X-Request-Id: \r\n",
        "X-Request-Id: kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\r\n", /* 65 */
        "X-Request-Id: bad id\r\nX-Request-Id: good\r\n", /* the first is the one */
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        vial_test_resp *r = req(app, "GET", "/id", bad[i], NULL);
        assert_true(matches(vial_test_body(r, NULL), GENERATED));
        assert_string_equal(vial_test_header(r, "X-Request-Id"), vial_test_body(r, NULL));
        vial_test_free(r);
    }
    vial_app_free(app);
}

static void test_generated_ids_count_up(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/id", h_reqid);
    vial_test_resp *r1 = req(app, "GET", "/id", NULL, NULL), *r2 = req(app, "GET", "/id", NULL, NULL);
    const char *a = vial_test_body(r1, NULL), *b = vial_test_body(r2, NULL);
    assert_true(matches(a, GENERATED));
    assert_true(matches(b, GENERATED));
    assert_memory_equal(a, b, 9); /* the worker's prefix */
    assert_int_equal(strtoull(b + 9, NULL, 16), strtoull(a + 9, NULL, 16) + 1);
    vial_test_free(r1);
    vial_test_free(r2);
    vial_app_free(app);
}

static int h_log(vial_req *r)
{
    vial_req_log(r, VIAL_LOG_ERROR, "tagged %d", 7);
    return vial_text(r, 200, vial_request_id(r));
}

static void test_req_log_is_tagged(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_config_set(app, "trusted_proxies", "127.0.0.1"); /* so its X-Request-Id is believed */
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_get(app, "/log", h_log);
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    int saved = dup(2);
    dup2(p[1], 2);
    vial_test_resp *r = req(app, "GET", "/log", "X-Request-Id: abc-1\r\n", NULL);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    char buf[4096];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, " ERROR [abc-1] tagged 7\n"));
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ locals and module state */

static const char mod_key[] = "who"; /* a module key that spells a local's name */
static const char other_key = 0;

static int h_locals(vial_req *r)
{
    char key[8] = "who";
    assert_int_equal(vial_set_local(r, key, "first"), 0);
    strcpy(key, "xxx"); /* the key was copied */
    assert_string_equal(vial_local(r, "who"), "first");
    assert_int_equal(vial_set_local(r, "who", "second"), 0); /* replaces */
    assert_int_equal(vial_set_local(r, "n", NULL), 0);
    assert_null(vial_local(r, "n"));
    assert_null(vial_local(r, "unknown"));
    assert_null(vial_local(r, NULL));
    assert_int_equal(vial_set_local(r, NULL, "x"), VIAL_EINVAL);
    /* module state lives beside locals without colliding with them */
    assert_null(vial__req_ext(r, mod_key));
    assert_int_equal(vial__req_ext_set(r, mod_key, "module"), 0);
    assert_string_equal(vial_local(r, "who"), "second");
    assert_string_equal(vial__req_ext(r, mod_key), "module");
    assert_int_equal(vial__req_ext_set(r, mod_key, "module2"), 0);
    assert_string_equal(vial__req_ext(r, mod_key), "module2");
    assert_null(vial__req_ext(r, &other_key));
    /* state made on first use: zeroed, aligned, the same block after */
    unsigned char *s = vial__req_state(r, &other_key, 100);
    assert_non_null(s);
    assert_true(((uintptr_t)s % _Alignof(max_align_t)) == 0);
    for (int i = 0; i < 100; i++)
        assert_int_equal(s[i], 0);
    memset(s, 0xee, 100);
    assert_ptr_equal(vial__req_state(r, &other_key, 100), s);
    assert_ptr_equal(vial__req_ext(r, &other_key), s);
    return vial_text(r, 200, vial_local(r, "who"));
}

static void test_locals_and_module_state(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/l", h_locals);
    check(app, "/l", NULL, "second");
    check(app, "/l", NULL, "second"); /* again, on a recycled request */
    vial_app_free(app);
}

/* ------------------------------------------------------------------ arena helpers */

static int h_arena(vial_req *r)
{
    char *p = vial_alloc(r, 10);
    memset(p, 'x', 10);
    char *s = vial_strndup(r, "ab\0cd", 5); /* stops at the NUL */
    char *t = vial_strndup(r, "abcdef", 3);
    char *u = vial_strdup(r, "dup");
    char *big = vial_sprintf(r, "%0500d|%s", 0, "tail");
    return vial_textf(r, 200, "%s|%s|%s|%zu|%s|%s", s, t, u, strlen(big), big + 501,
                      vial_url_encode(r, "a b/ü"));
}

static void test_arena_helpers(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/a", h_arena);
    check(app, "/a", NULL, "ab|abc|dup|505|tail|a%20b%2F%C3%BC");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ finishers */

static int h_realloc(vial_req *req)
{
    /* NULL grows from nothing; a smaller size keeps the block */
    int *v = vial_realloc(req, NULL, 0, 4 * sizeof *v);
    assert_non_null(v);
    assert_ptr_equal(vial_realloc(req, v, 4 * sizeof *v, 2 * sizeof *v), v);
    /* the newest allocation grows where it is */
    for (int i = 0; i < 4; i++)
        v[i] = i;
    int *w = vial_realloc(req, v, 4 * sizeof *v, 8 * sizeof *v);
    assert_ptr_equal(w, v);
    /* one allocated after it: now it is copied, contents kept */
    char *other = vial_alloc(req, 10);
    assert_non_null(other);
    size_t cap = 8;
    for (int i = 4; i < 100000; i++) {
        if ((size_t)i == cap) {
            int *g = vial_realloc(req, w, cap * sizeof *w, 2 * cap * sizeof *w);
            assert_non_null(g);
            w = g;
            cap *= 2;
        }
        w[i] = i;
    }
    for (int i = 0; i < 100000; i++)
        if (w[i] != i)
            fail_msg("w[%d] = %d", i, w[i]);
    assert_null(vial_realloc(NULL, w, 4, 8));
    assert_null(vial_realloc(req, NULL, 0, (size_t)1 << 62)); /* refused, not overflowed */
    return vial_text(req, 200, "ok");
}

static void test_arena_realloc(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/r", h_realloc);
    expect(app, "GET", "/r", 200, "ok");
    expect(app, "GET", "/r", 200, "ok"); /* a reset arena serves the next one */
    vial_app_free(app);
}

static char fin_trace[64];

static void fin_a(vial_req *r, void *arg)
{
    strcat(fin_trace, arg);
    (void)r;
}

static void fin_replace(vial_req *r, void *arg)
{
    strcat(fin_trace, arg);
    vial__req_reset_response(r);
    vial_text(r, 202, "replaced");
}

static int h_after(vial_req *r)
{
    strcat(fin_trace, "H");
    return 0;
}

static int h_finish(vial_req *r)
{
    assert_int_equal(vial__req_on_finish(r, fin_a, "1"), 0);
    assert_int_equal(vial__req_on_finish(r, vial_arg(r, "replace") ? fin_replace : fin_a, "2"), 0);
    strcat(fin_trace, "V");
    return vial_text(r, 201, "view");
}

static void test_finishers_run_in_order_after_hooks(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/f", h_finish);
    vial_after_request(app, h_after);
    fin_trace[0] = '\0';
    vial_test_resp *r = req(app, "GET", "/f", NULL, NULL);
    assert_int_equal(vial_test_status(r), 201);
    assert_string_equal(fin_trace, "VH12"); /* first registered first, after the after-hooks */
    vial_test_free(r);
    /* a finisher may replace the response */
    fin_trace[0] = '\0';
    r = req(app, "GET", "/f?replace=1", NULL, NULL);
    assert_int_equal(vial_test_status(r), 202);
    assert_string_equal(vial_test_body(r, NULL), "replaced");
    assert_string_equal(fin_trace, "VH12");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ upgrades */

static int closed_protos;

static void p_attach(void *ud, const vial__transport *tp, void *tp_ud, vial__outq *out)
{
    (void)ud, (void)tp, (void)tp_ud, (void)out;
}
static void p_received(void *ud, const char *d, size_t n)
{
    (void)ud, (void)d, (void)n;
}
static void p_close(void *ud)
{
    closed_protos++;
    free(ud);
}

static const vial__proto good_proto = { .attach = p_attach, .received = p_received, .close = p_close };
static const vial__proto bad_proto = { .attach = p_attach, .received = p_received }; /* no close */

static int h_upgrade(vial_req *r)
{
    assert_int_equal(vial__req_upgrade(r, &bad_proto, NULL), VIAL_EINVAL);
    assert_int_equal(vial__req_upgrade(r, NULL, NULL), VIAL_EINVAL);
    assert_int_equal(vial__req_upgrade(NULL, &good_proto, NULL), VIAL_EINVAL);
    assert_int_equal(vial__req_upgrade(r, &good_proto, malloc(8)), 0);
    assert_int_equal(vial__req_upgrade(r, &good_proto, NULL), VIAL_ESTATE);
    return vial_text(r, 200, "not a 101"); /* so the switch never happens */
}

static void test_upgrade_not_taken_closes_state(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/up", h_upgrade);
    closed_protos = 0;
    check(app, "/up", NULL, "not a 101");
    assert_int_equal(closed_protos, 1); /* its state freed, not leaked */
    vial_app_free(app);
}

static int h_pool(vial_req *r)
{
    vial__pool *p = vial__req_pool(r);
    return vial_text(r, 200, p && p == vial__test_worker(vial_app_of(r))->pool ? "pool" : "none");
}

static void test_request_pool_is_the_workers(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/pool", h_pool);
    check(app, "/pool", NULL, "pool");
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_method_path_target),
        cmocka_unit_test(test_null_request_is_safe),
        cmocka_unit_test(test_params),
        cmocka_unit_test(test_args),
        cmocka_unit_test(test_repeated_headers_joined),
        cmocka_unit_test(test_cookies),
        cmocka_unit_test(test_body),
        cmocka_unit_test(test_client_addr_untrusted_peer),
        cmocka_unit_test(test_client_addr_through_trusted_proxies),
        cmocka_unit_test(test_request_id_from_client_accepted),
        cmocka_unit_test(test_request_id_from_client_refused),
        cmocka_unit_test(test_generated_ids_count_up),
        cmocka_unit_test(test_req_log_is_tagged),
        cmocka_unit_test(test_locals_and_module_state),
        cmocka_unit_test(test_arena_helpers),
        cmocka_unit_test(test_arena_realloc),
        cmocka_unit_test(test_finishers_run_in_order_after_hooks),
        cmocka_unit_test(test_upgrade_not_taken_closes_state),
        cmocka_unit_test(test_request_pool_is_the_workers),
    };
    return RUN_GROUP(tests);
}

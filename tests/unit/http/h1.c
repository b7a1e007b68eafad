/* Unit tests for src/http/h1.c: the HTTP/1.1 session, driven without sockets:
 * pipelining, bodies, limits, smuggling defences, every byte-split. */
#include "unit.h"

static int echo(vial_req *req)
{
    size_t n;
    const char *b = vial_body(req, &n);
    return vial_textf(req, 200, "%s %s [%.*s]", vial_method(req), vial_path(req), (int)n, b);
}

static vial_app *app_with_limits(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "max_body", "64");
    vial_config_set(app, "max_header_size", "1K");
    vial_config_set(app, "max_headers", "10");
    vial_config_set(app, "max_uri", "256");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST, "/<path:p>", echo, "echo");
    vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST, "/", echo, "root");
    return app;
}

/* Drops the lines that legitimately differ between two runs. */
static char *normalized(const char *out, size_t n)
{
    vial__buf b = { 0 };
    const char *p = out, *end = out + n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl + 1 : end;
        if (strncmp(p, "Date: ", 6) && strncmp(p, "X-Request-Id: ", 14))
            vial__buf_append(&b, p, (size_t)(le - p));
        p = le;
    }
    vial__buf_nul(&b);
    return b.p;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Every HTTP/1.1 request needs exactly one Host: add it after each request
 * line, so the cases below stay about what they test. */
static char *with_host(const char *req)
{
    vial__buf b = { 0 };
    const char *p = req, *hit;
    while ((hit = strstr(p, "HTTP/1.1\r\n"))) {
        vial__buf_append(&b, p, (size_t)(hit + 10 - p));
        vial__buf_puts(&b, "Host: t\r\n");
        p = hit + 10;
    }
    vial__buf_puts(&b, p);
    vial__buf_nul(&b);
    return b.p;
}

static char *raw(vial_app *app, const char *req0)
{
    char *req = with_host(req0);
    vial_test_resp *r = vial_test_raw(app, req, strlen(req));
    free(req);
    assert_non_null(r);
    size_t n;
    const char *o = vial_test_output(r, &n);
    char *s = normalized(o, n);
    vial_test_free(r);
    return s;
}

static void expect_status(vial_app *app, const char *req, const char *status_line)
{
    char *out = raw(app, req);
    if (strncmp(out, status_line, strlen(status_line)) != 0)
        print_error("request %s\ngot: %s\n", req, out);
    assert_true(strncmp(out, status_line, strlen(status_line)) == 0);
    /* every error carries the JSON shape and closes the connection */
    if (status_line[9] >= '4') {
        if (!strstr(out, "Connection: close\r\n"))
            print_error("request %s\ngot: %s\n", req, out);
        assert_non_null(strstr(out, "{\"error\":\""));
        assert_non_null(strstr(out, "Connection: close\r\n"));
    }
    free(out);
}

static void test_pipelining_in_order(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    char *out = raw(app, "GET /a HTTP/1.1\r\n\r\n"
                         "POST /b HTTP/1.1\r\nContent-Length: 3\r\n\r\nxyz"
                         "GET /c HTTP/1.1\r\n\r\n");
    assert_int_equal(count(out, "HTTP/1.1 200 OK"), 3);
    char *a = strstr(out, "GET /a []"), *b = strstr(out, "POST /b [xyz]"), *c = strstr(out, "GET /c []");
    assert_true(a && b && c && a < b && b < c);
    assert_null(strstr(out, "Connection: close"));
    free(out);
    vial_app_free(app);
}

static void test_chunked_body(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    char *out = raw(app, "POST /u HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                         "3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n"
                         "GET /after HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(out, "POST /u [abcdefg]"));
    assert_non_null(strstr(out, "GET /after []"));
    free(out);
    vial_app_free(app);
}

static void test_limits(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    char big[2048];
    /* URI over max_uri */
    snprintf(big, sizeof big, "GET /%0300d HTTP/1.1\r\n\r\n", 0);
    expect_status(app, big, "HTTP/1.1 414 ");
    /* header section over max_header_size */
    snprintf(big, sizeof big, "GET / HTTP/1.1\r\nX-Big: %01100d\r\n\r\n", 0);
    expect_status(app, big, "HTTP/1.1 431 ");
    /* more than max_headers */
    strcpy(big, "GET / HTTP/1.1\r\n");
    for (int i = 0; i < 11; i++)
        sprintf(big + strlen(big), "X-H%d: v\r\n", i);
    strcat(big, "\r\n");
    expect_status(app, big, "HTTP/1.1 431 ");
    /* body: declared too large (answered before it arrives), and chunked growing past it */
    expect_status(app, "POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n", "HTTP/1.1 413 ");
    expect_status(app, "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", "HTTP/1.1 400 ");
    snprintf(big, sizeof big, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n%064d\r\n1\r\nx\r\n0\r\n\r\n", 0);
    expect_status(app, big, "HTTP/1.1 413 ");
    /* exactly at the limits is fine */
    snprintf(big, sizeof big, "POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\n%064d", 0);
    expect_status(app, big, "HTTP/1.1 200 ");
    vial_app_free(app);
}

static void test_smuggling_and_malformed(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    expect_status(app, "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  "HTTP/1.1 400 ");
    expect_status(app, "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
                  "HTTP/1.1 400 ");
    expect_status(app, "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n", "HTTP/1.1 400 ");   /* obs-fold */
    expect_status(app, "GET / HTTP/1.1\nHost: x\n\n", "HTTP/1.1 400 ");             /* bare LF */
    expect_status(app, "GET / HTTP/1.1\r\nHost : x\r\n\r\n", "HTTP/1.1 400 ");       /* space before colon */
    expect_status(app, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                  "HTTP/1.1 501 ");
    expect_status(app, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", "HTTP/1.1 501 ");
    expect_status(app, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "GET / HTTP/2.0\r\n\r\n", "HTTP/1.1 505 ");
    expect_status(app, "GET / HTTP/1.2\r\n\r\n", "HTTP/1.1 505 ");
    expect_status(app, "G@T / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    /* 501 only for a well-formed line whose method is not implemented; a
     * line that is not "method SP target SP version" is 400 (RFC 9112 3). */
    expect_status(app, "FROB / HTTP/1.1\r\n\r\n", "HTTP/1.1 501 ");
    expect_status(app, "get / HTTP/1.1\r\n\r\n", "HTTP/1.1 501 ");
    expect_status(app, "THIS IS NOT HTTP\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "GARBAGE\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "FROB  / HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "FROB / HTTP/1.1 x\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "FROB / HTTP/1.1\n\n", "HTTP/1.1 400 ");
    expect_status(app, "\r\n\r\nFROB / HTTP/1.1\r\n\r\n", "HTTP/1.1 501 ");
    expect_status(app, "GET / HTTP/1.1\r\n\r\nFROB / HTTP/1.1\r\n\r\n", "HTTP/1.1 ");
    expect_status(app, "GET nope HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "GET / HTTP/1.1\r\nX: a\001b\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 400 ");
    expect_status(app, "GET / HTTP/1.1\r\nExpect: magic\r\n\r\n", "HTTP/1.1 417 ");
    /* chunk data must be followed by CRLF (llhttp strict mode) */
    expect_status(app, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
                  "HTTP/1.1 400 ");
    expect_status(app, "GET / HTTP/1.1\r\n: no-name\r\n\r\n", "HTTP/1.1 400 ");
    expect_status(app, "GET /x#frag HTTP/1.1\r\n\r\n", "HTTP/1.1 400 ");
    /* nothing after an error is answered */
    char *out = raw(app, "GET / HTTP/1.1\r\nHost : x\r\n\r\nGET /second HTTP/1.1\r\n\r\n");
    assert_null(strstr(out, "/second"));
    assert_int_equal(count(out, "HTTP/1.1 "), 1);
    free(out);
    vial_app_free(app);
}

static void test_host_rules(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    /* raw bytes, no Host added: RFC 9112 3.2 */
    const char *none = "GET / HTTP/1.1\r\n\r\n";
    const char *two = "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
    const char *ten = "GET / HTTP/1.0\r\n\r\n";
    vial_test_resp *r = vial_test_raw(app, none, strlen(none));
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "missing Host header"));
    vial_test_free(r);
    r = vial_test_raw(app, two, strlen(two));
    assert_int_equal(vial_test_status(r), 400);
    vial_test_free(r);
    r = vial_test_raw(app, ten, strlen(ten)); /* HTTP/1.0 may omit it */
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    /* OPTIONS * asks about the server */
    char *out = raw(app, "OPTIONS * HTTP/1.1\r\n\r\n");
    assert_true(strncmp(out, "HTTP/1.1 204 ", 13) == 0);
    assert_non_null(strstr(out, "Allow: GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS\r\n"));
    free(out);
    out = raw(app, "GET * HTTP/1.1\r\n\r\n");
    assert_true(strncmp(out, "HTTP/1.1 400 ", 13) == 0);
    free(out);
    /* absolute-form without a path means "/" */
    out = raw(app, "GET http://example.com?q=1 HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(out, "GET / []"));
    free(out);
    vial_app_free(app);
}

static void test_connection_semantics(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    char *out = raw(app, "GET /a HTTP/1.0\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    assert_int_equal(count(out, "HTTP/1.1 200"), 1); /* 1.0 without keep-alive: one answer, close */
    assert_non_null(strstr(out, "Connection: close"));
    free(out);
    out = raw(app, "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n");
    assert_int_equal(count(out, "HTTP/1.1 200"), 2);
    assert_non_null(strstr(out, "Connection: keep-alive"));
    free(out);
    out = raw(app, "GET /a HTTP/1.1\r\nConnection: close\r\n\r\nGET /b HTTP/1.1\r\n\r\n");
    assert_int_equal(count(out, "HTTP/1.1 200"), 1);
    free(out);
    out = raw(app, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi");
    assert_true(strncmp(out, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK", 40) == 0);
    free(out);
    /* absolute-form target */
    out = raw(app, "GET http://example.com/abs?x=1 HTTP/1.1\r\n\r\n");
    assert_non_null(strstr(out, "GET /abs []"));
    free(out);
    vial_app_free(app);
}

/* Practice 15: the same bytes split at every position give the same answers. */
static void feed_split(vial_app *app, const char *req, size_t len, size_t step, vial__buf *out);

typedef struct split_out {
    vial__buf *out;
    vial__outq q;
    bool closed;
} split_out;

static void t_write(void *ud)
{
    split_out *o = ud;
    struct iovec iov[64];
    while (o->q.bytes) {
        size_t n = vial__outq_iov(&o->q, iov, 64), tot = 0;
        for (size_t i = 0; i < n; i++) {
            vial__buf_append(o->out, iov[i].iov_base, iov[i].iov_len);
            tot += iov[i].iov_len;
        }
        vial__outq_consume(&o->q, tot);
    }
}

static void t_close(void *ud, bool now)
{
    (void)now;
    ((split_out *)ud)->closed = true;
}

static void t_phase(void *ud, int phase)
{
    (void)ud;
    (void)phase;
}

static const vial__transport split_tp = { .want_write = t_write, .want_close = t_close,
                                          .phase = t_phase };

/* Feeds the bytes through a session the way a connection does: into the
 * session's own buffer once it has one, else from outside (copied). */
static void feed_split(vial_app *app, const char *req, size_t len, size_t first, vial__buf *out)
{
    const vial__proto *p = &vial__h1_proto;
    vial__worker *w = vial__test_worker(app);
    void *s = vial__h1_new(&app->lim.h1, &vial__core_handler, w, w->pool, "127.0.0.1");
    assert_non_null(s);
    split_out o = { .out = out };
    o.q.coal.pool = w->pool;
    p->attach(s, &split_tp, &o, &o.q);
    size_t off = 0;
    while (off < len && !o.closed) {
        size_t n = off == 0 ? first : 1; /* a first chunk, then byte by byte */
        if (n > len - off)
            n = len - off;
        if (n == 0)
            n = 1;
        char *buf;
        size_t room;
        int rc = p->rbuf(s, n, &buf, &room);
        if (rc < 0)
            break;
        if (rc > 0) {
            p->received(s, req + off, n);
        } else {
            memcpy(buf, req + off, n);
            p->received(s, buf, n);
        }
        off += n;
    }
    t_write(&o);
    p->close(s);
    vial__outq_free(&o.q);
}

static void test_every_split(void **state)
{
    (void)state;
    vial_app *app = app_with_limits();
    static const char *reqs[] = {
        "GET /a%20b?x=1 HTTP/1.1\r\nCookie: a=1\r\n\r\n"
        "POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello"
        "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nX-Trailer: one\r\nX-Other: two\r\n\r\n"
        "GET /last HTTP/1.1\r\nConnection: close\r\n\r\n",
        "GET / HTTP/1.1\r\nX-A: a\r\n b\r\n\r\n",
        "\r\n\r\nGET /lead HTTP/1.1\r\n\r\n", /* fuzz: CRLFs before a request line */
        "POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n",
    };
    vial_test_resp *warm = vial_test(app, "GET", "/", NULL, NULL, 0); /* creates the test worker */
    vial_test_free(warm);
    for (size_t k = 0; k < VIAL__ARRAY_LEN(reqs); k++) {
        char *req = with_host(reqs[k]);
        size_t len = strlen(req);
        vial__buf ref = { 0 };
        feed_split(app, req, len, len, &ref);
        char *want = normalized(ref.p, ref.n);
        /* the reference itself is right: 4 answers, or one refusal */
        assert_int_equal(count(want, "HTTP/1.1 "), k == 0 ? 4 : 1);
        static const char *const mark[] = { "POST /c [ab]", " 400 ", "GET /lead []", " 413 " };
        assert_non_null(strstr(want, mark[k]));
        for (size_t first = 1; first < len; first++) {
            vial__buf got = { 0 };
            feed_split(app, req, len, first, &got);
            char *g = normalized(got.p ? got.p : "", got.n);
            if (strcmp(g, want))
                print_error("split at %zu differs:\n%s\n---\n%s\n", first, g, want);
            assert_string_equal(g, want);
            free(g);
            vial__buf_free(&got);
        }
        free(want);
        free(req);
        vial__buf_free(&ref);
    }
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pipelining_in_order),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_smuggling_and_malformed),
        cmocka_unit_test(test_connection_semantics),
        cmocka_unit_test(test_host_rules),
        cmocka_unit_test(test_every_split),
    };
    return RUN_GROUP(tests);
}

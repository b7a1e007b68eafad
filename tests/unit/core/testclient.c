/*
 * Unit tests for src/core/testclient.c: the in-process client itself —
 * the request vial_test() writes (Host, Content-Length rules), raw
 * pipelined input and the first response picked out of it, 1xx interim
 * responses skipped, chunked bodies decoded, HEAD without a body, bodies
 * larger than one read, streams and file responses run to their end,
 * a closed connection ending the input, start-up hooks run once, and the
 * accessors' NULL handling.
 */
#include "unit.h"

#include <fcntl.h>
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

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* Echoes what the server saw of the request line, framing headers and body. */
static int h_echo(vial_req *req)
{
    size_t n;
    const char *b = vial_body(req, &n);
    const char *cl = vial_header(req, "content-length"), *te = vial_header(req, "transfer-encoding");
    return vial_textf(req, 200, "%s %s host=%s cl=%s te=%s body=%.*s", vial_method(req),
                      vial_target(req), vial_header(req, "host"), cl ? cl : "-", te ? te : "-",
                      (int)n, b);
}

static int h_len(vial_req *req)
{
    size_t n;
    const char *b = vial_body(req, &n);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (unsigned char)b[i];
    return vial_textf(req, 200, "%zu %zu", n, sum);
}

static void test_request_framing(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST | VIAL_DELETE, "/e", h_echo, "e");
    /* GET without a body: no Content-Length */
    vial_test_resp *r = vial_test(app, "GET", "/e?x=1", NULL, NULL, 0);
    assert_string_equal(vial_test_body(r, NULL), "GET /e?x=1 host=localhost cl=- te=- body=");
    vial_test_free(r);
    /* other methods say Content-Length: 0 */
    r = vial_test(app, "DELETE", "/e", NULL, NULL, 0);
    assert_string_equal(vial_test_body(r, NULL), "DELETE /e host=localhost cl=0 te=- body=");
    vial_test_free(r);
    r = vial_test(app, "POST", "/e", "X-A: 1\r\n", "abc", 3);
    assert_string_equal(vial_test_body(r, NULL), "POST /e host=localhost cl=3 te=- body=abc");
    vial_test_free(r);
    /* a body of the caller's own framing */
    const char chunked[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    r = vial_test(app, "POST", "/e", "Transfer-Encoding: chunked\r\n", chunked, sizeof chunked - 1);
    assert_string_equal(vial_test_body(r, NULL), "POST /e host=localhost cl=- te=chunked body=abcde");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_refuses_missing_arguments(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_null(vial_test(NULL, "GET", "/", NULL, NULL, 0));
    assert_null(vial_test(app, NULL, "/", NULL, NULL, 0));
    assert_null(vial_test(app, "GET", NULL, NULL, NULL, 0));
    assert_null(vial_test_raw(NULL, "x", 1));
    assert_int_equal(vial_test_status(NULL), 0);
    assert_null(vial_test_header(NULL, "x"));
    size_t n = 7;
    assert_string_equal(vial_test_body(NULL, &n), "");
    assert_int_equal(n, 0);
    n = 7;
    assert_string_equal(vial_test_output(NULL, &n), "");
    assert_int_equal(n, 0);
    vial_test_free(NULL);
    vial_app_free(app);
}

static void test_pipelined_raw_input(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST, "/e", h_echo, "e");
    const char raw[] = "POST /e HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nfirstGET /e?2 "
                       "HTTP/1.1\r\nHost: b\r\n\r\nGET /nope HTTP/1.1\r\nHost: c\r\n\r\n";
    vial_test_resp *r = vial_test_raw(app, raw, sizeof raw - 1);
    size_t n;
    const char *out = vial_test_output(r, &n);
    assert_int_equal(strlen(out), n);
    assert_int_equal(count(out, "HTTP/1.1 "), 3);
    /* responses in request order */
    const char *a = strstr(out, "body=first"), *b = strstr(out, "GET /e?2 host=b"),
               *c = strstr(out, "HTTP/1.1 404");
    assert_true(a && b && c && a < b && b < c);
    /* the accessors describe the first response */
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "POST /e host=a cl=5 te=- body=first");
    assert_string_equal(vial_test_header(r, "content-type"), "text/plain; charset=utf-8");
    assert_string_equal(vial_test_header(r, "CONTENT-LENGTH"), "35");
    assert_null(vial_test_header(r, "x-nope"));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_closed_connection_ends_input(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_GET, "/e", h_echo, "e");
    const char raw[] = "GET /e HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                       "GET /e HTTP/1.1\r\nHost: b\r\n\r\n";
    vial_test_resp *r = vial_test_raw(app, raw, sizeof raw - 1);
    const char *out = vial_test_output(r, NULL);
    assert_int_equal(count(out, "HTTP/1.1 "), 1);
    assert_non_null(strstr(out, "Connection: close\r\n"));
    vial_test_free(r);
    /* a refused head: the session reads no more */
    char big[40000];
    memset(big, 'a', sizeof big);
    memcpy(big, "GET /e HTTP/1.1\r\nHost: a\r\nX-Big: ", 33);
    vial_test_resp *r2 = vial_test_raw(app, big, sizeof big);
    assert_int_equal(vial_test_status(r2), 431);
    assert_int_equal(count(vial_test_output(r2, NULL), "HTTP/1.1 "), 1);
    vial_test_free(r2);
    vial_app_free(app);
}

static void test_interim_responses_skipped(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_POST, "/e", h_echo, "e");
    vial_test_resp *r = vial_test(app, "POST", "/e", "Expect: 100-continue\r\n", "xy", 2);
    const char *out = vial_test_output(r, NULL);
    assert_true(!strncmp(out, "HTTP/1.1 100 Continue\r\n\r\n", 25));
    assert_int_equal(vial_test_status(r), 200); /* the final response, not the 100 */
    assert_string_equal(vial_test_body(r, NULL), "POST /e host=localhost cl=2 te=- body=xy");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ bodies */

static int h_stream_step(vial_req *req, void *ud)
{
    int *n = vial_local(req, "n");
    (void)ud;
    if (*n == 5)
        return 0;
    char part[16];
    int k = snprintf(part, sizeof part, "part%d;", (*n)++);
    vial_write(req, part, (size_t)k);
    return 1;
}

static int h_stream(vial_req *req)
{
    int *n = vial_alloc(req, sizeof *n);
    *n = 0;
    vial_set_local(req, "n", n);
    return vial_stream(req, 200, "text/plain", h_stream_step, NULL);
}

static void test_chunked_stream_decoded(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/s", h_stream);
    vial_test_resp *r = get(app, "/s");
    assert_string_equal(vial_test_header(r, "Transfer-Encoding"), "chunked");
    size_t n;
    assert_string_equal(vial_test_body(r, &n), "part0;part1;part2;part3;part4;");
    assert_int_equal(n, 30);
    assert_non_null(strstr(vial_test_output(r, NULL), "6\r\npart0;\r\n"));
    assert_non_null(strstr(vial_test_output(r, NULL), "\r\n0\r\n\r\n"));
    vial_test_free(r);
    /* and a stream for HTTP/1.0: no chunks, the body runs to the close */
    const char raw[] = "GET /s HTTP/1.0\r\n\r\n";
    r = vial_test_raw(app, raw, sizeof raw - 1);
    assert_null(vial_test_header(r, "Transfer-Encoding"));
    assert_string_equal(vial_test_body(r, NULL), "part0;part1;part2;part3;part4;");
    vial_test_free(r);
    vial_app_free(app);
}

static int h_text(vial_req *req)
{
    return vial_text(req, 200, "0123456789");
}

static void test_head_has_no_body(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/t", h_text);
    vial_get(app, "/s", h_stream);
    vial_test_resp *r = vial_test(app, "HEAD", "/t", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Length"), "10");
    size_t n;
    assert_string_equal(vial_test_body(r, &n), "");
    assert_int_equal(n, 0);
    vial_test_free(r);
    /* raw input starting with HEAD is read the same way */
    const char raw[] = "HEAD /s HTTP/1.1\r\nHost: h\r\n\r\n";
    r = vial_test_raw(app, raw, sizeof raw - 1);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "");
    assert_null(strstr(vial_test_output(r, NULL), "part0"));
    vial_test_free(r);
    vial_app_free(app);
}

static int h_nocontent(vial_req *req)
{
    return vial_no_content(req);
}

static void test_bodyless_statuses(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_DELETE, "/x", h_nocontent, "x");
    vial_test_resp *r = vial_test(app, "DELETE", "/x", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 204);
    assert_string_equal(vial_test_body(r, NULL), "");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_large_request_body(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_route(vial_app_bp(app), VIAL_POST, "/len", h_len, "len");
    size_t n = 300000; /* several 64 KiB reads */
    unsigned char *body = malloc(n);
    size_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        body[i] = (unsigned char)(i * 7);
        sum += body[i];
    }
    vial_test_resp *r = vial_test(app, "POST", "/len", NULL, body, n);
    char want[64];
    snprintf(want, sizeof want, "%zu %zu", n, sum);
    assert_string_equal(vial_test_body(r, NULL), want);
    vial_test_free(r);
    free(body);
    vial_app_free(app);
}

static char file_path[] = "/tmp/vial-tc-XXXXXX";
static size_t file_size = 3u << 20; /* over the 1 MiB the client reads at a time */

static int h_file(vial_req *req)
{
    int fd = open(file_path, O_RDONLY);
    if (fd < 0)
        return -1;
    return vial__resp_file(req, 200, "application/octet-stream", fd, 1, file_size - 2);
}

static void test_file_response_read_to_end(void **state)
{
    (void)state;
    int fd = mkstemp(file_path);
    assert_true(fd >= 0);
    unsigned char *data = malloc(file_size);
    for (size_t i = 0; i < file_size; i++)
        data[i] = (unsigned char)(i % 251);
    assert_int_equal(write(fd, data, file_size), (ssize_t)file_size);
    close(fd);
    vial_app *app = new_app();
    vial_get(app, "/f", h_file);
    vial_test_resp *r = get(app, "/f");
    size_t n;
    const char *b = vial_test_body(r, &n);
    assert_int_equal(n, file_size - 2);
    assert_memory_equal(b, data + 1, file_size - 2);
    vial_test_free(r);
    vial_app_free(app);
    unlink(file_path);
    free(data);
}

/* ------------------------------------------------------------------ the app's life */

static int starts;

static int on_start_ok(vial_app *app)
{
    (void)app;
    starts++;
    return 0;
}

static int on_start_fail(vial_app *app)
{
    (void)app;
    return VIAL_EIO;
}

static void test_start_hooks_run_once(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/t", h_text);
    starts = 0;
    assert_int_equal(vial_on_start(app, on_start_ok), 0);
    expect(app, "GET", "/t", 200, "0123456789");
    expect(app, "GET", "/t", 200, "0123456789");
    assert_int_equal(starts, 1);
    vial_app_free(app);
    /* an app that cannot start answers nothing */
    app = new_app();
    vial_get(app, "/t", h_text);
    vial_on_start(app, on_start_fail);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    vial_test_resp *r = vial_test(app, "GET", "/t", NULL, NULL, 0);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_null(r);
    vial_app_free(app);
}

static void test_registration_error_answers_nothing(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/t", h_text);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* the error is logged */
    int rc = vial_get(app, "/bad/<int:", h_text);
    vial_test_resp *r = vial_test(app, "GET", "/t", NULL, NULL, 0);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_int_equal(rc, VIAL_EPATTERN);
    assert_null(r);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_framing),
        cmocka_unit_test(test_refuses_missing_arguments),
        cmocka_unit_test(test_pipelined_raw_input),
        cmocka_unit_test(test_closed_connection_ends_input),
        cmocka_unit_test(test_interim_responses_skipped),
        cmocka_unit_test(test_chunked_stream_decoded),
        cmocka_unit_test(test_head_has_no_body),
        cmocka_unit_test(test_bodyless_statuses),
        cmocka_unit_test(test_large_request_body),
        cmocka_unit_test(test_file_response_read_to_end),
        cmocka_unit_test(test_start_hooks_run_once),
        cmocka_unit_test(test_registration_error_answers_nothing),
    };
    return RUN_GROUP(tests);
}

/*
 * Unit tests for src/ops/log.c: diagnostics and the access log, read back
 * from stderr (captured with a pipe and dup2) — the line formats, the
 * level threshold, over-long lines cut at a newline, control characters,
 * quotes and backslashes in a request target escaped so a client cannot
 * forge log lines, and batching: access lines held until a flush, a full
 * buffer or a diagnostic (which keeps the order), and written at once on
 * threads that do not batch.
 */
#include "unit.h"

#include <fcntl.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <unistd.h>

static int saved_stderr = -1, pipe_r = -1;

/* Redirects fd 2 into a non-blocking pipe. */
static void capture(void)
{
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    fcntl(p[1], F_SETPIPE_SZ, 1 << 20); /* room for the batching cases */
    saved_stderr = dup(2);
    assert_true(saved_stderr >= 0);
    assert_int_equal(dup2(p[1], 2), 2);
    close(p[1]);
    pipe_r = p[0];
}

/* What has been written to fd 2 so far (malloc'd, NUL-terminated). */
static char *captured(void)
{
    vial__buf b = { 0 };
    char tmp[4096];
    ssize_t r;
    while ((r = read(pipe_r, tmp, sizeof tmp)) > 0)
        vial__buf_append(&b, tmp, (size_t)r);
    vial__buf_nul(&b);
    return b.p;
}

/* Puts stderr back; returns what was captured since the last captured(). */
static char *release(void)
{
    dup2(saved_stderr, 2);
    close(saved_stderr);
    char *s = captured();
    close(pipe_r);
    pipe_r = -1;
    return s;
}

static bool matches(const char *s, const char *pattern)
{
    regex_t re;
    assert_int_equal(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0);
    bool ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    if (!ok)
        print_error("[%s] does not match /%s/\n", s, pattern);
    return ok;
}

static size_t lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static int reset_logging(void **state)
{
    (void)state;
    vial__log_level = VIAL_LOG_INFO;
    vial__log_set_batched(false);
    return 0;
}

#define TS "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"

static void test_diagnostic_line_format(void **state)
{
    (void)state;
    capture();
    vial_log(VIAL_LOG_INFO, "hello %s %d", "world", 42);
    vial_log(VIAL_LOG_WARN, "careful");
    vial_log(VIAL_LOG_ERROR, "broken");
    char *s = release();
    assert_true(matches(s, "^" TS " INFO  hello world 42\n" TS " WARN  careful\n" TS
                           " ERROR broken\n$"));
    free(s);
}

static void vlog(int level, const char *reqid, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vial__vlog(level, reqid, fmt, ap);
    va_end(ap);
}

static void test_diagnostic_with_request_id(void **state)
{
    (void)state;
    capture();
    vlog(VIAL_LOG_ERROR, "abcd1234-0000000007", "query failed: %s", "timeout");
    vlog(VIAL_LOG_INFO, NULL, "untagged");
    char *s = release();
    assert_true(matches(s, "^" TS " ERROR \\[abcd1234-0000000007\\] query failed: timeout\n"
                           TS " INFO  untagged\n$"));
    free(s);
}

static void test_level_threshold(void **state)
{
    (void)state;
    vial__log_level = VIAL_LOG_WARN;
    capture();
    vial_log(VIAL_LOG_DEBUG, "no");
    vial_log(VIAL_LOG_INFO, "no");
    vial_log(VIAL_LOG_WARN, "yes1");
    vial_log(VIAL_LOG_ERROR, "yes2");
    vial_log(99, "yes3"); /* out of range, above: an error */
    char *s = release();
    assert_null(strstr(s, "no"));
    assert_true(matches(s, "WARN  yes1\n.* ERROR yes2\n.* ERROR yes3\n$"));
    assert_int_equal(lines(s), 3);
    free(s);
    vial__log_level = VIAL_LOG_DEBUG;
    capture();
    vial_log(VIAL_LOG_DEBUG, "dbg");
    vial_log(-1, "below every level");
    s = release();
    assert_true(matches(s, "^" TS " DEBUG dbg\n$"));
    free(s);
}

static void test_long_line_is_cut(void **state)
{
    (void)state;
    char *msg = malloc(5001);
    memset(msg, 'm', 5000);
    msg[5000] = '\0';
    capture();
    vial_log(VIAL_LOG_ERROR, "%s", msg);
    vial_log(VIAL_LOG_ERROR, "next");
    char *s = release();
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    assert_int_equal(nl - s + 1, 2047); /* one line, cut, still ending in a newline */
    assert_true(matches(nl + 1, "^" TS " ERROR next\n$"));
    free(s);
    free(msg);
}

static void log_access(const char *client, const char *method, const char *target, size_t tlen,
                   int status, size_t bytes, const char *reqid)
{
    vial__access a = { .client = client, .method = method, .target = target,
                       .target_len = tlen, .status = status, .bytes = bytes,
                       .t0_ns = vial__now_ns(), .reqid = reqid };
    vial__access_log(&a);
}

static void test_access_line_format(void **state)
{
    (void)state;
    capture();
    log_access("127.0.0.1", "GET", "/logs?x=1", 9, 200, 1234, "abcd1234-0000000001");
    char *s = release();
    assert_true(matches(s, "^" TS " ACCESS 127\\.0\\.0\\.1 \"GET /logs\\?x=1\" 200 1234 [0-9]+us "
                           "abcd1234-0000000001\n$"));
    free(s);
}

static void test_access_line_missing_fields(void **state)
{
    (void)state;
    capture();
    /* an unusable request line: no method, no target, no id */
    log_access(NULL, NULL, NULL, 0, 400, 99, NULL);
    char *s = release();
    assert_true(matches(s, "^" TS " ACCESS - \"- \" 400 99 [0-9]+us -\n$"));
    free(s);
}

static void test_access_target_escaped(void **state)
{
    (void)state;
    /* CR LF would start a forged line; quotes would end the field early */
    const char t[] = "/a\"b\\c\x01\x7f\r\n2024-01-01T00:00:00.000Z ACCESS forged\x00z\xc3\xa9";
    capture();
    log_access("::1", "POST", t, sizeof t - 1, 201, 0, "id");
    char *s = release();
    assert_int_equal(lines(s), 1);
    assert_non_null(strstr(s, "\"POST /a\\x22b\\x5cc\\x01\\x7f\\x0d\\x0a2024-01-01T00:00:00.000Z "
                              "ACCESS forged\\x00z\xc3\xa9\" 201 0 "));
    free(s);
}

static void test_access_duration(void **state)
{
    (void)state;
    vial__access a = { .client = "c", .method = "GET", .target = "/", .target_len = 1,
                       .status = 200, .reqid = "r" };
    a.t0_ns = vial__now_ns() - 5000000; /* began 5 ms ago */
    capture();
    vial__access_log(&a);
    char *s = release();
    char *us = strstr(s, "us r\n");
    assert_non_null(us);
    const char *d = us;
    while (d > s && d[-1] >= '0' && d[-1] <= '9')
        d--;
    assert_true(strtoull(d, NULL, 10) >= 5000); /* nanoseconds shown as microseconds */
    free(s);
}

static void test_batched_lines_wait_for_flush(void **state)
{
    (void)state;
    vial__log_set_batched(true);
    capture();
    log_access("c", "GET", "/one", 4, 200, 1, "r1");
    log_access("c", "GET", "/two", 4, 200, 1, "r2");
    char *s = captured();
    assert_string_equal(s, ""); /* held in the thread's buffer */
    free(s);
    vial__log_flush();
    s = captured();
    assert_int_equal(lines(s), 2);
    assert_non_null(strstr(s, "/one"));
    assert_true(strstr(s, "/one") < strstr(s, "/two"));
    free(s);
    vial__log_flush(); /* nothing left: writes nothing */
    s = release();
    assert_string_equal(s, "");
    free(s);
    vial__log_set_batched(false);
}

static void test_diagnostic_flushes_batch_first(void **state)
{
    (void)state;
    vial__log_set_batched(true);
    capture();
    log_access("c", "GET", "/before", 7, 200, 1, "r");
    vial_log(VIAL_LOG_WARN, "diagnostic");
    char *s = release();
    char *a = strstr(s, "/before"), *d = strstr(s, "diagnostic");
    assert_non_null(a);
    assert_non_null(d);
    assert_true(a < d); /* the access line that came first is written first */
    free(s);
    vial__log_set_batched(false);
}

static void test_full_batch_is_written(void **state)
{
    (void)state;
    vial__log_set_batched(true);
    char target[200];
    memset(target, 't', sizeof target);
    target[0] = '/';
    capture();
    int n = 0;
    char *s = NULL;
    /* well past 16 KiB of lines without a flush */
    for (; n < 200; n++)
        log_access("c", "GET", target, sizeof target, 200, 1, "r");
    s = captured();
    size_t early = lines(s);
    assert_true(early > 0);   /* the buffer did not wait for the loop turn */
    assert_true(early < 200); /* but it did batch */
    free(s);
    vial__log_thread_end(); /* writes the rest and frees the buffer */
    s = release();
    assert_int_equal(early + lines(s), 200);
    free(s);
    vial__log_set_batched(false);
}

static void *other_thread(void *arg)
{
    (void)arg;
    /* a thread that never asked for batching writes each line at once */
    log_access("t", "GET", "/thread", 7, 200, 1, "r");
    vial__log_thread_end();
    return NULL;
}

static void test_unbatched_thread_writes_at_once(void **state)
{
    (void)state;
    vial__log_set_batched(true); /* this thread's setting does not leak into others */
    capture();
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, other_thread, NULL), 0);
    pthread_join(th, NULL);
    char *s = release();
    assert_non_null(strstr(s, "\"GET /thread\""));
    free(s);
    vial__log_thread_end();
    vial__log_set_batched(false);
}

static void test_now_ns_is_monotonic(void **state)
{
    (void)state;
    uint64_t a = vial__now_ns();
    for (int i = 0; i < 1000; i++) {
        uint64_t b = vial__now_ns();
        assert_true(b >= a);
        a = b;
    }
    assert_true(a > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_diagnostic_line_format, reset_logging),
        cmocka_unit_test_setup(test_diagnostic_with_request_id, reset_logging),
        cmocka_unit_test_setup(test_level_threshold, reset_logging),
        cmocka_unit_test_setup(test_long_line_is_cut, reset_logging),
        cmocka_unit_test_setup(test_access_line_format, reset_logging),
        cmocka_unit_test_setup(test_access_line_missing_fields, reset_logging),
        cmocka_unit_test_setup(test_access_target_escaped, reset_logging),
        cmocka_unit_test_setup(test_access_duration, reset_logging),
        cmocka_unit_test_setup(test_batched_lines_wait_for_flush, reset_logging),
        cmocka_unit_test_setup(test_diagnostic_flushes_batch_first, reset_logging),
        cmocka_unit_test_setup(test_full_batch_is_written, reset_logging),
        cmocka_unit_test_setup(test_unbatched_thread_writes_at_once, reset_logging),
        cmocka_unit_test_setup(test_now_ns_is_monotonic, reset_logging),
    };
    return RUN_GROUP(tests);
}

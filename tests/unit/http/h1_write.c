/*
 * Unit tests for src/http/h1_write.c: HTTP/1.1 serialization, driven with
 * hand-made exchanges (no session, no app): the head (status line, Server,
 * Date, Content-Type, Content-Length, Connection), HEAD keeping the length
 * and dropping the body, 1xx/204/304 without a body, HTTP/1.0 and
 * "Connection: close", the app's headers (xh) written before the handler's,
 * bodies of 32 KiB and more queued by reference, file regions, and the
 * chunked framing of streams.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define LARGE (32 * 1024)

static void msg_init(vial__msg *m, int status)
{
    memset(m, 0, sizeof *m);
    m->rh_tail = &m->rh;
    m->file_fd = -1;
    m->body_fd = -1;
    m->status = status;
    m->http_minor = 1;
    m->keep_alive = true;
    m->method = "GET";
}

static void msg_fini(vial__msg *m)
{
    vial__buf_free(&m->body_out);
    if (m->file_fd >= 0)
        close(m->file_fd);
    vial__arena_reset(&m->arena);
}

static void add_rh(vial__msg *m, const char *name, const char *value)
{
    vial__rhdr *h = vial__arena_alloc(&m->arena, sizeof *h);
    *h = (vial__rhdr){ name, value, NULL };
    *m->rh_tail = h;
    m->rh_tail = &h->next;
}

static void add_xh(vial__msg *m, const char *name, const char *value)
{
    m->xh[m->nxh].name = (vial__str){ name, strlen(name) };
    m->xh[m->nxh].value = (vial__str){ value, strlen(value) };
    m->nxh++;
}

/* Everything queued, as a client would read it, with the Date value
 * (checked for its shape) replaced by "<date>".  Empties the queue. */
static char *wire(vial__outq *q, size_t *len)
{
    vial__buf all = { 0 };
    while (q->bytes) {
        int fd;
        uint64_t off;
        size_t n;
        if (vial__outq_head_file(q, &fd, &off, &n))
            assert_int_equal(vial__outq_file_chunk(q, 1 << 20), 0);
        struct iovec iov[64];
        size_t k = vial__outq_iov(q, iov, 64), total = 0;
        for (size_t i = 0; i < k; i++) {
            vial__buf_append(&all, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        vial__outq_consume(q, total);
    }
    vial__buf out = { 0 };
    const char *p = all.p, *end = all.p + all.n;
    while (p && p < end) {
        const char *d = memmem(p, (size_t)(end - p), "\r\nDate: ", 8);
        if (!d) {
            vial__buf_append(&out, p, (size_t)(end - p));
            break;
        }
        vial__buf_append(&out, p, (size_t)(d - p) + 8);
        assert_true(end - d >= 8 + 29 + 2);
        assert_memory_equal(d + 8 + 25, " GMT\r\n", 6);
        vial__buf_puts(&out, "<date>");
        p = d + 8 + 29;
    }
    vial__buf_nul(&out);
    vial__buf_free(&all);
    if (len)
        *len = out.n;
    return out.p;
}

static int temp_file(const char *s)
{
    char path[] = "/tmp/vial-h1w-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    unlink(path);
    assert_int_equal(write(fd, s, strlen(s)), (ssize_t)strlen(s));
    return fd;
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) != -1;
}

#define HEAD200 "HTTP/1.1 200 OK\r\nServer: vial\r\nDate: <date>\r\n"

static void test_plain_response(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.ctype = "text/plain; charset=utf-8";
    vial__buf_puts(&m.body_out, "hello");
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    size_t raw = q.bytes;
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Type: text/plain; charset=utf-8\r\n"
                                   "Content-Length: 5\r\n\r\nhello");
    assert_int_equal(m.bytes_out, raw); /* head and body counted */
    assert_true(m.keep_alive);
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_empty_body_has_zero_length(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Length: 0\r\n\r\n"); /* no Content-Type when unset */
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_head_keeps_length_drops_body(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.head = true;
    m.ctype = "application/json";
    vial__buf_puts(&m.body_out, "{\"a\":1}");
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Type: application/json\r\nContent-Length: 7\r\n\r\n");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_bodyless_statuses_send_no_body(void **state)
{
    (void)state;
    static const int codes[] = { 204, 304, 100 };
    static const char *const lines[] = { "HTTP/1.1 204 No Content\r\n", "HTTP/1.1 304 Not Modified\r\n",
                                         "HTTP/1.1 100 Continue\r\n" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(codes); i++) {
        vial__msg m;
        msg_init(&m, codes[i]);
        m.ctype = "text/html";
        vial__buf_puts(&m.body_out, "must not be sent");
        vial__outq q = { 0 };
        assert_int_equal(vial__h1_write(&m, &q, false), 0);
        char *s = wire(&q, NULL);
        char want[256];
        snprintf(want, sizeof want, "%sServer: vial\r\nDate: <date>\r\n\r\n", lines[i]);
        assert_string_equal(s, want); /* no Content-Type, no Content-Length, no body */
        free(s);
        vial__outq_free(&q);
        msg_fini(&m);
    }
}

static void test_unknown_status_reason(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 299);
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    assert_true(!strncmp(s, "HTTP/1.1 299 Unknown\r\n", 22));
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_connection_close_when_asked(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, true), 0); /* `last` */
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Length: 0\r\nConnection: close\r\n\r\n");
    assert_false(m.keep_alive);
    free(s);
    msg_fini(&m);
    /* or when the exchange says the client does not keep the connection */
    msg_init(&m, 200);
    m.keep_alive = false;
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    s = wire(&q, NULL);
    assert_non_null(strstr(s, "\r\nConnection: close\r\n\r\n"));
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_http10(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.http_minor = 0;
    vial__buf_puts(&m.body_out, "x");
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    /* the status line stays HTTP/1.1 (RFC 9110 2.5); keep-alive is said */
    assert_string_equal(s, HEAD200 "Content-Length: 1\r\nConnection: keep-alive\r\n\r\nx");
    free(s);
    msg_fini(&m);
    msg_init(&m, 200);
    m.http_minor = 0;
    m.keep_alive = false;
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Length: 0\r\nConnection: close\r\n\r\n");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_app_headers_before_handler_headers(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 201);
    m.ctype = "text/plain";
    add_rh(&m, "Location", "/items/1");
    add_rh(&m, "Set-Cookie", "a=1");
    add_rh(&m, "Set-Cookie", "b=2");
    add_xh(&m, "X-Request-Id", "abc");
    add_xh(&m, "X-Content-Type-Options", "nosniff");
    vial__buf_puts(&m.body_out, "ok");
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    assert_string_equal(s, "HTTP/1.1 201 Created\r\nServer: vial\r\nDate: <date>\r\n"
                           "Content-Type: text/plain\r\nContent-Length: 2\r\n"
                           "X-Request-Id: abc\r\nX-Content-Type-Options: nosniff\r\n"
                           "Location: /items/1\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n\r\nok");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_xh_values_are_length_bounded(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    /* slices: only n bytes are written, whatever follows them */
    m.xh[0].name = (vial__str){ "X-Idxxxx", 4 };
    m.xh[0].value = (vial__str){ "12345", 3 };
    m.nxh = 1;
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    assert_non_null(strstr(s, "\r\nX-Id: 123\r\n\r\n"));
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_big_head_is_sized(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    char *ct = malloc(3001), *val = malloc(2001);
    memset(ct, 'c', 3000);
    ct[3000] = '\0';
    memset(val, 'v', 2000);
    val[2000] = '\0';
    m.ctype = ct;
    for (int i = 0; i < 40; i++)
        add_rh(&m, "X-Long-Header-Name", val);
    for (int i = 0; i < VIAL__MSG_XH; i++)
        add_xh(&m, "X-App", val);
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, true), 0); /* ASan: nothing past the reservation */
    size_t n;
    char *s = wire(&q, &n);
    assert_int_equal(n, strlen(HEAD200) + 14 + 3000 + 2 + 19 + 46 * (2 + 2000 + 2) +
                            40 * strlen("X-Long-Header-Name") + VIAL__MSG_XH * strlen("X-App") + 19 + 2);
    assert_true(n > 95000);
    free(s);
    free(ct);
    free(val);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_small_body_is_copied(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    vial__buf_puts(&m.body_out, "small");
    char *p = m.body_out.p;
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    assert_ptr_equal(m.body_out.p, p); /* the exchange keeps its buffer */
    assert_int_equal(q.nsegs, 1);      /* head and body: one segment */
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_large_body_moves_by_reference(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    char *body = malloc(LARGE);
    for (size_t i = 0; i < LARGE; i++)
        body[i] = (char)('a' + i % 26);
    vial__buf_append(&m.body_out, body, LARGE);
    char *p = m.body_out.p;
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    assert_null(m.body_out.p); /* handed to the queue, not copied */
    assert_int_equal(m.body_out.n, 0);
    assert_int_equal(q.nsegs, 2);
    assert_ptr_equal(q.segs[1].owned, p);
    size_t n;
    char *s = wire(&q, &n);
    assert_non_null(strstr(s, "Content-Length: 32768\r\n\r\n"));
    assert_memory_equal(s + n - LARGE, body, LARGE);
    free(s);
    free(body);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_large_static_body_is_copied_once(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    char *body = malloc(LARGE + 10);
    memset(body, 's', LARGE + 10);
    m.static_body = body;
    m.static_len = LARGE + 10;
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    assert_int_equal(q.nsegs, 2);
    assert_ptr_not_equal(q.segs[1].owned, body); /* the queue owns its own copy */
    memset(body, 'X', LARGE + 10);                /* the borrowed body may go away */
    size_t n;
    char *s = wire(&q, &n);
    assert_int_equal(s[n - 1], 's');
    assert_int_equal(s[n - LARGE - 10], 's');
    free(s);
    free(body);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_small_static_body(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.static_body = "static!";
    m.static_len = 7;
    vial__buf_puts(&m.body_out, "ignored"); /* a static body wins */
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Length: 7\r\n\r\nstatic!");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_file_region(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 206);
    int fd = temp_file("0123456789");
    m.file_fd = fd;
    m.file_off = 3;
    m.file_len = 4;
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    assert_int_equal(m.file_fd, -1); /* the queue has it now */
    assert_int_equal(q.nsegs, 2);
    assert_int_equal(q.segs[1].fd, fd);
    size_t raw = q.bytes;
    assert_int_equal(m.bytes_out, raw);
    char *s = wire(&q, NULL);
    assert_string_equal(s, "HTTP/1.1 206 Partial Content\r\nServer: vial\r\nDate: <date>\r\n"
                           "Content-Length: 4\r\n\r\n3456");
    assert_false(fd_open(fd));
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_file_region_head_and_304(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.head = true;
    int fd = temp_file("0123456789");
    m.file_fd = fd;
    m.file_len = 10;
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    assert_false(fd_open(fd)); /* not needed: closed at once */
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Length: 10\r\n\r\n");
    free(s);
    msg_fini(&m);
    msg_init(&m, 304);
    fd = temp_file("0123456789");
    m.file_fd = fd;
    m.file_len = 10;
    assert_int_equal(vial__h1_write(&m, &q, false), 0);
    assert_false(fd_open(fd));
    s = wire(&q, NULL);
    assert_string_equal(s, "HTTP/1.1 304 Not Modified\r\nServer: vial\r\nDate: <date>\r\n\r\n");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_pipelined_responses_coalesce(void **state)
{
    (void)state;
    vial__outq q = { 0 };
    for (int i = 0; i < 10; i++) {
        vial__msg m;
        msg_init(&m, 200);
        vial__buf_printf(&m.body_out, "r%d", i);
        assert_int_equal(vial__h1_write(&m, &q, false), 0);
        msg_fini(&m);
    }
    assert_int_equal(q.nsegs, 1); /* ten responses, one iovec */
    char *s = wire(&q, NULL);
    assert_non_null(strstr(s, "\r\n\r\nr0HTTP/1.1 200 OK"));
    assert_non_null(strstr(s, "\r\n\r\nr9"));
    free(s);
    vial__outq_free(&q);
}

static void test_upgrade_response(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 101);
    add_rh(&m, "Upgrade", "websocket");
    vial__outq q = { 0 };
    assert_int_equal(vial__h1_write(&m, &q, true), 0); /* even when last: Upgrade, not close */
    char *s = wire(&q, NULL);
    assert_string_equal(s, "HTTP/1.1 101 Switching Protocols\r\nServer: vial\r\nDate: <date>\r\n"
                           "Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

/* ------------------------------------------------------------------ streams */

static void test_stream_chunks(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.ctype = "text/csv";
    vial__outq q = { 0 };
    vial__buf_puts(&m.body_out, "hello");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_true(m.stream_head_sent);
    assert_int_equal(m.body_out.n, 0); /* consumed */
    char big[26];
    memset(big, 'z', sizeof big);
    vial__buf_append(&m.body_out, big, sizeof big);
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_int_equal(vial__h1_chunk(&m, &q), 0); /* nothing written: no empty chunk */
    assert_int_equal(vial__h1_end(&m, &q), 0);
    size_t raw = q.bytes;
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Content-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   "5\r\nhello\r\n1a\r\nzzzzzzzzzzzzzzzzzzzzzzzzzz\r\n0\r\n\r\n");
    /* bytes_out counts the head and the data; the framing is the queue's */
    assert_true(m.bytes_out > 31 && m.bytes_out < raw);
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_stream_large_chunk_by_reference(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    vial__outq q = { 0 };
    char *data = malloc(LARGE);
    memset(data, 'L', LARGE);
    vial__buf_append(&m.body_out, data, LARGE);
    char *p = m.body_out.p;
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_null(m.body_out.p);
    bool found = false;
    for (size_t i = 0; i < q.nsegs; i++)
        found |= q.segs[i].owned == p;
    assert_true(found);
    /* the stream goes on with a fresh buffer */
    vial__buf_puts(&m.body_out, "end");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_int_equal(vial__h1_end(&m, &q), 0);
    size_t n;
    char *s = wire(&q, &n);
    assert_non_null(strstr(s, "\r\n\r\n8000\r\nLLLL"));
    assert_string_equal(s + n - 17, "LL\r\n3\r\nend\r\n0\r\n\r\n");
    free(s);
    free(data);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_stream_head_request(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.head = true;
    vial__outq q = { 0 };
    vial__buf_puts(&m.body_out, "not sent");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_true(m.stream_done); /* the head alone */
    assert_int_equal(m.body_out.n, 0);
    vial__buf_puts(&m.body_out, "still not sent");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_int_equal(vial__h1_end(&m, &q), 0);
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Transfer-Encoding: chunked\r\n\r\n");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_stream_http10_is_delimited_by_close(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.http_minor = 0;
    vial__outq q = { 0 };
    vial__buf_puts(&m.body_out, "part1,");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_false(m.keep_alive);
    vial__buf_puts(&m.body_out, "part2");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    assert_int_equal(vial__h1_end(&m, &q), 0);
    char *s = wire(&q, NULL);
    /* no chunked coding for 1.0: raw bytes, then the close */
    assert_string_equal(s, HEAD200 "Connection: close\r\n\r\npart1,part2");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

static void test_stream_connection_close(void **state)
{
    (void)state;
    vial__msg m;
    msg_init(&m, 200);
    m.keep_alive = false;
    vial__outq q = { 0 };
    vial__buf_puts(&m.body_out, "x");
    assert_int_equal(vial__h1_chunk(&m, &q), 0);
    char *s = wire(&q, NULL);
    assert_string_equal(s, HEAD200 "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                                   "1\r\nx\r\n");
    free(s);
    vial__outq_free(&q);
    msg_fini(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_response),
        cmocka_unit_test(test_empty_body_has_zero_length),
        cmocka_unit_test(test_head_keeps_length_drops_body),
        cmocka_unit_test(test_bodyless_statuses_send_no_body),
        cmocka_unit_test(test_unknown_status_reason),
        cmocka_unit_test(test_connection_close_when_asked),
        cmocka_unit_test(test_http10),
        cmocka_unit_test(test_app_headers_before_handler_headers),
        cmocka_unit_test(test_xh_values_are_length_bounded),
        cmocka_unit_test(test_big_head_is_sized),
        cmocka_unit_test(test_small_body_is_copied),
        cmocka_unit_test(test_large_body_moves_by_reference),
        cmocka_unit_test(test_large_static_body_is_copied_once),
        cmocka_unit_test(test_small_static_body),
        cmocka_unit_test(test_file_region),
        cmocka_unit_test(test_file_region_head_and_304),
        cmocka_unit_test(test_pipelined_responses_coalesce),
        cmocka_unit_test(test_upgrade_response),
        cmocka_unit_test(test_stream_chunks),
        cmocka_unit_test(test_stream_large_chunk_by_reference),
        cmocka_unit_test(test_stream_head_request),
        cmocka_unit_test(test_stream_http10_is_delimited_by_close),
        cmocka_unit_test(test_stream_connection_close),
    };
    return RUN_GROUP(tests);
}

/*
 * Unit tests for src/rt/ws.c through the in-process test client (which
 * switches protocols after a 101 as a server connection does): the
 * handshake's every refusal (426 for plain HTTP and other versions, 400
 * for a malformed handshake, 403 for a foreign Origin, 405 for other
 * methods) and acceptance (accept key, subprotocols, permessage-deflate),
 * the route's upgrade callback, and a connection's life: echo, pings,
 * compressed messages, the close handshake, violations answered with a
 * close frame, and close() called exactly once.
 */
#include "unit.h"
#include "rt/rt.h"

#include <stdlib.h>
#include <zlib.h>

static vial_app *app;
static int opened, closed, last_code;
static char last_reason[128];
static int send_bad_text_rc;

static void on_open(vial_ws *ws)
{
    opened++;
    assert_int_equal(vial_ws_id(ws), 0); /* no server: no id */
    assert_ptr_equal(vial_ws_app(ws), app);
}

static void on_message(vial_ws *ws, const char *data, size_t len, int binary)
{
    assert_int_equal(data[len], 0);
    if (!binary && !strcmp(data, "close-me")) {
        assert_int_equal(vial_ws_close(ws, 4000, "as you wish"), 0);
        assert_int_equal(vial_ws_send_text(ws, "too late"), VIAL_ECLOSED);
        return;
    }
    if (!binary && !strcmp(data, "bad-text")) {
        send_bad_text_rc = vial_ws_send(ws, "\xff", 1, 0);
        return;
    }
    if (!binary && !strcmp(data, "ping-me")) {
        assert_int_equal(vial_ws_ping(ws, "abc", 3), 0);
        char p[126] = { 0 };
        assert_int_equal(vial_ws_ping(ws, p, 126), VIAL_EINVAL);
        return;
    }
    if (!binary && !strcmp(data, "bad-close")) {
        assert_int_equal(vial_ws_close(ws, 1005, NULL), VIAL_EINVAL);
        assert_int_equal(vial_ws_close(ws, 999, NULL), VIAL_EINVAL);
        assert_int_equal(vial_ws_close(ws, 0, "reason without code"), VIAL_EINVAL);
        return;
    }
    if (!binary && !strcmp(data, "proto")) {
        const char *p = vial_ws_protocol(ws);
        vial_ws_send_text(ws, p ? p : "(none)");
        return;
    }
    /* pub/sub: "sub:T", "unsub:T", "pub:T:data" (published from the
     * handler: without a server it is delivered at once, on this thread) */
    if (!binary && !strncmp(data, "sub:", 4)) {
        assert_int_equal(vial_ws_subscribe(ws, data + 4), 0);
        assert_int_equal(vial_ws_subscribe(ws, data + 4), 0); /* once is one subscription */
        return;
    }
    if (!binary && !strncmp(data, "unsub:", 6)) {
        int rc = vial_ws_unsubscribe(ws, data + 6);
        vial_ws_send_text(ws, rc == 0 ? "unsubscribed" : rc == VIAL_ENOENT ? "not subscribed" : "?");
        return;
    }
    if (!binary && !strncmp(data, "pub:", 4)) {
        char topic[64];
        const char *colon = strchr(data + 4, ':');
        assert_non_null(colon);
        snprintf(topic, sizeof topic, "%.*s", (int)(colon - data - 4), data + 4);
        assert_int_equal(vial_publish(vial_ws_app(ws), topic, colon + 1, strlen(colon + 1)), 0);
        return;
    }
    if (!binary && !strcmp(data, "ctx")) {
        /* a request context for this call: arena memory, the same object
         * for the whole call */
        vial_req *r = vial_ws_request(ws);
        assert_non_null(r);
        assert_ptr_equal(vial_ws_request(ws), r);
        assert_ptr_equal(vial_app_of(r), app);
        char *p = vial_strdup(r, "context ok");
        vial_ws_send_text(ws, p);
        return;
    }
    if (!binary && !strcmp(data, "ud")) {
        vial_ws_send_text(ws, vial_ws_ud(ws) ? (const char *)vial_ws_ud(ws) : "(null)");
        return;
    }
    assert_int_equal(vial_ws_send(ws, data, len, binary), 0);
}

static void on_close(vial_ws *ws, int code, const char *reason)
{
    closed++;
    last_code = code;
    snprintf(last_reason, sizeof last_reason, "%s", reason);
    free(vial_ws_ud(ws) == (void *)"static" ? NULL : NULL);
}

static int auth_upgrade(vial_req *req, void **ud)
{
    const char *t = vial_header(req, "x-token");
    if (!t || strcmp(t, "letmein"))
        return vial_abort(req, 401, "token required");
    *ud = (void *)"authorized";
    return 0;
}

static int guard_upgrade(vial_req *req, void **ud)
{
    (void)ud;
    return vial_auth_require(req, NULL); /* 1 once it answered 401 (no auth set up: no identity) */
}

static int fail_upgrade(vial_req *req, void **ud)
{
    (void)req;
    (void)ud;
    return VIAL_EINVAL;
}

static const vial_ws_handlers echo = { .open = on_open, .message = on_message, .close = on_close };
static const vial_ws_handlers guarded = { .upgrade = auth_upgrade, .open = on_open,
                                          .message = on_message, .close = on_close };
static const vial_ws_handlers guard_direct = { .upgrade = guard_upgrade, .message = on_message,
                                               .close = on_close };
static const vial_ws_handlers failing = { .upgrade = fail_upgrade, .message = on_message,
                                          .close = on_close };

static int hello(vial_req *req)
{
    return vial_text(req, 200, "hi");
}

static int setup(void **state)
{
    (void)state;
    app = vial_app_new("ws-test");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "ws_allowed_origins", "https://friend.example, http://other.example:8080/");
    vial_config_set(app, "ws_compression_threshold", "0");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_int_equal(vial_websocket(app, "/echo", &echo), 0);
    static const char *const protos[] = { "chat", "superchat", NULL };
    assert_int_equal(vial_ws_route(vial_app_bp(app), "/proto", &echo,
                                   &(vial_ws_opts){ .protocols = protos, .endpoint = "proto" }), 0);
    assert_int_equal(vial_ws_route(vial_app_bp(app), "/any", &echo,
                                   &(vial_ws_opts){ .any_origin = 1 }), 0);
    assert_int_equal(vial_websocket(app, "/auth", &guarded), 0);
    assert_int_equal(vial_websocket(app, "/failing", &failing), 0);
    assert_int_equal(vial_websocket(app, "/guard", &guard_direct), 0);
    assert_int_equal(vial_websocket(app, "/room/<int:id>", &echo), 0);
    vial_get(app, "/hello", hello);
    /* registration errors */
    assert_int_equal(vial_websocket(app, "/nomsg", &(vial_ws_handlers){ .open = on_open }), VIAL_EINVAL);
    static const char *const badp[] = { "has space", NULL };
    vial_bp *bp = vial_bp_new("b");
    assert_int_equal(vial_ws_route(bp, "/x", &echo, &(vial_ws_opts){ .protocols = badp }), VIAL_EINVAL);
    vial_bp_free(bp);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vial_app_free(app);
    return 0;
}

#define KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* A handshake with the standard headers, `extra` added ("" for none),
 * followed by `tail` bytes (frames). */
static vial_test_resp *shake(const char *method, const char *target, const char *extra,
                             const void *tail, size_t tn)
{
    static char req[8192];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: " KEY "\r\n"
                     "Sec-WebSocket-Version: 13\r\n%s\r\n",
                     method, target, extra);
    assert_true(n > 0 && (size_t)n + tn < sizeof req);
    if (tn)
        memcpy(req + n, tail, tn);
    vial_test_resp *r = vial_test_raw(app, req, (size_t)n + tn);
    assert_non_null(r);
    return r;
}

static vial_test_resp *raw(const char *req)
{
    vial_test_resp *r = vial_test_raw(app, req, strlen(req));
    assert_non_null(r);
    return r;
}

static void expect_error(vial_test_resp *r, int status)
{
    if (vial_test_status(r) != status)
        fail_msg("status %d, want %d: %s", vial_test_status(r), status, vial_test_body(r, NULL));
    assert_string_equal(vial_test_header(r, "content-type"), "application/json");
    json_t *j = json_loads(vial_test_body(r, NULL), 0, NULL);
    assert_non_null(j);
    assert_non_null(json_string_value(json_object_get(j, "error")));
    assert_non_null(json_string_value(json_object_get(j, "message")));
    json_decref(j);
    vial_test_free(r);
}

/* ---------------------------------------------------------------- handshake */

static void test_accept_key(void **state)
{
    (void)state;
    char out[29];
    vial__ws_accept_key(KEY, strlen(KEY), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 section 1.3 */
}

static void test_handshake_ok(void **state)
{
    (void)state;
    int o = opened, c = closed;
    vial_test_resp *r = shake("GET", "/echo", "", NULL, 0);
    assert_int_equal(vial_test_status(r), 101);
    assert_string_equal(vial_test_header(r, "upgrade"), "websocket");
    assert_string_equal(vial_test_header(r, "connection"), "Upgrade");
    assert_string_equal(vial_test_header(r, "sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_null(vial_test_header(r, "sec-websocket-protocol"));
    assert_null(vial_test_header(r, "sec-websocket-extensions"));
    assert_null(vial_test_header(r, "content-length"));
    vial_test_free(r);
    /* opened, and the connection's end is reported as abnormal (no close frame) */
    assert_int_equal(opened, o + 1);
    assert_int_equal(closed, c + 1);
    assert_int_equal(last_code, 1006);
    /* token lists and case in Upgrade/Connection */
    r = raw("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: keep-alive, UPGRADE\r\n"
            "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n");
    assert_int_equal(vial_test_status(r), 101);
    vial_test_free(r);
    r = shake("GET", "/room/7", "", NULL, 0);
    assert_int_equal(vial_test_status(r), 101);
    vial_test_free(r);
}

static void test_handshake_refused(void **state)
{
    (void)state;
    int o = opened;
    /* plain HTTP on a WebSocket route: 426 with what to upgrade to */
    vial_test_resp *r = vial_test(app, "GET", "/echo", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 426);
    assert_string_equal(vial_test_header(r, "upgrade"), "websocket");
    assert_string_equal(vial_test_header(r, "sec-websocket-version"), "13");
    expect_error(r, 426);
    expect_error(raw("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"), 426);
    /* another version, or none: 426 with the one we speak */
    r = raw("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 8\r\n\r\n");
    assert_string_equal(vial_test_header(r, "sec-websocket-version"), "13");
    expect_error(r, 426);
    expect_error(raw("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\n\r\n"), 426);
    /* malformed: 400 */
    expect_error(raw("GET /echo HTTP/1.0\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);
    expect_error(raw("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);
    expect_error(raw("GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\n"
                     "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n"), 400);
    static const char *const keys[] = {
        NULL,                          /* missing */
        "dGhlIHNhbXBsZSBub25jZQ",      /* unpadded */
        "dGhlIHNhbXBsZSBub25j",        /* 15 bytes */
        "dGhlIHNhbXBsZSBub25jZQ==x",
        "dGhlIHNhbXBsZSBub25*ZQ==",    /* not base64 */
        "dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==", /* two */
        "",
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char req[512];
        snprintf(req, sizeof req,
                 "GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "%s%s%sSec-WebSocket-Version: 13\r\n\r\n",
                 keys[i] ? "Sec-WebSocket-Key: " : "", keys[i] ? keys[i] : "", keys[i] ? "\r\n" : "");
        expect_error(raw(req), 400);
    }
    /* other methods: the route answers GET only */
    r = shake("POST", "/echo", "Content-Length: 0\r\n", NULL, 0);
    assert_int_equal(vial_test_status(r), 405);
    vial_test_free(r);
    r = shake("HEAD", "/echo", "", NULL, 0);
    assert_int_equal(vial_test_status(r), 400);
    vial_test_free(r);
    assert_int_equal(opened, o); /* none of them opened anything */
}

static void test_origin(void **state)
{
    (void)state;
    static const struct {
        const char *target, *origin, *host;
        int status;
    } cases[] = {
        { "/echo", NULL, "localhost", 101 },                         /* not a browser */
        { "/echo", "http://localhost", "localhost", 101 },
        { "/echo", "HTTP://LocalHost", "localhost", 101 },
        { "/echo", "https://localhost", "localhost", 101 },           /* TLS ended before us */
        { "/echo", "http://localhost:80", "localhost", 101 },
        { "/echo", "http://localhost:8080", "localhost:8080", 101 },
        { "/echo", "http://localhost", "localhost:8080", 403 },
        { "/echo", "http://localhost:8081", "localhost:8080", 403 },
        { "/echo", "http://evil.example", "localhost", 403 },        /* cross-site hijacking */
        { "/echo", "http://localhost.evil.example", "localhost", 403 },
        { "/echo", "null", "localhost", 403 },
        { "/echo", "file://", "localhost", 403 },
        { "/echo", "http://localhost/path", "localhost", 403 },
        { "/echo", "http://[::1]:5000", "[::1]:5000", 101 },
        { "/echo", "http://[::1]:5000", "[::1]:5001", 403 },
        { "/echo", "https://friend.example", "localhost", 101 },     /* ws_allowed_origins */
        { "/echo", "https://FRIEND.example", "localhost", 101 },
        { "/echo", "http://friend.example", "localhost", 403 },
        { "/echo", "http://other.example:8080", "localhost", 101 },
        { "/any", "http://evil.example", "localhost", 101 },         /* any_origin */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        snprintf(req, sizeof req,
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: " KEY "\r\nSec-WebSocket-Version: 13\r\n%s%s%s\r\n",
                 cases[i].target, cases[i].host, cases[i].origin ? "Origin: " : "",
                 cases[i].origin ? cases[i].origin : "", cases[i].origin ? "\r\n" : "");
        vial_test_resp *r = raw(req);
        if (vial_test_status(r) != cases[i].status)
            fail_msg("Origin %s, Host %s: %d, want %d", cases[i].origin, cases[i].host,
                     vial_test_status(r), cases[i].status);
        if (cases[i].status == 403)
            expect_error(r, 403);
        else
            vial_test_free(r);
    }
}

static void test_subprotocols(void **state)
{
    (void)state;
    static const struct {
        const char *offer, *want;
    } cases[] = {
        { "superchat, chat", "chat" }, /* the server's preference wins */
        { "superchat", "superchat" },
        { "other, superchat", "superchat" },
        { "Chat", NULL },              /* case matters */
        { "other", NULL },
        { NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char extra[128] = "";
        if (cases[i].offer)
            snprintf(extra, sizeof extra, "Sec-WebSocket-Protocol: %s\r\n", cases[i].offer);
        vial_test_resp *r = shake("GET", "/proto", extra, NULL, 0);
        assert_int_equal(vial_test_status(r), 101);
        const char *got = vial_test_header(r, "sec-websocket-protocol");
        if (cases[i].want)
            assert_string_equal(got, cases[i].want);
        else
            assert_null(got);
        vial_test_free(r);
    }
    /* a route without protocols never picks one */
    vial_test_resp *r = shake("GET", "/echo", "Sec-WebSocket-Protocol: chat\r\n", NULL, 0);
    assert_null(vial_test_header(r, "sec-websocket-protocol"));
    vial_test_free(r);
}

static void test_upgrade_callback(void **state)
{
    (void)state;
    int o = opened, c = closed;
    expect_error(shake("GET", "/auth", "", NULL, 0), 401);
    expect_error(shake("GET", "/auth", "X-Token: wrong\r\n", NULL, 0), 401);
    assert_int_equal(closed, c); /* refused: nothing was accepted, no close() */
    /* accepted: the user data is the connection's */
    static const unsigned char ud_frame[] = { 0x81, 0x82, 0, 0, 0, 0, 'u', 'd' };
    vial_test_resp *r = shake("GET", "/auth", "X-Token: letmein\r\n", ud_frame, sizeof ud_frame);
    assert_int_equal(vial_test_status(r), 101);
    size_t n;
    const char *b = vial_test_body(r, &n);
    assert_int_equal(n, 2 + 10);
    assert_memory_equal(b, "\x81\x0a" "authorized", 12);
    vial_test_free(r);
    assert_int_equal(opened, o + 1);
    assert_int_equal(closed, c + 1);
    /* a callback returning vial_auth_require()'s 1 refuses with its answer */
    expect_error(shake("GET", "/guard", "", NULL, 0), 401);
    /* a failing callback is a 500 */
    r = shake("GET", "/failing", "", NULL, 0);
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
}

/* ---------------------------------------------------------------- frames in process */

/* A masked client frame appended to `b`. */
static void cframe(vial__buf *b, unsigned b0, const void *p, size_t n)
{
    static const uint8_t mask[4] = { 0x11, 0x22, 0x33, 0x44 };
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)b0;
    if (n > 0xffff) {
        h[1] = 0x80 | 127;
        for (int k = 0; k < 8; k++)
            h[2 + k] = (unsigned char)((uint64_t)n >> (56 - 8 * k));
        hl = 10;
    } else if (n > 125) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = (unsigned char)(0x80 | n);
    }
    memcpy(h + hl, mask, 4);
    vial__buf_append(b, h, hl + 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(((const unsigned char *)p)[i] ^ mask[i & 3]);
        vial__buf_append(b, &c, 1);
    }
}

/* The server frames after the 101, as "op:payload|" (compressed payloads
 * inflated, marked with z). */
static char *server_frames(vial_test_resp *r)
{
    size_t n;
    const char *b = vial_test_body(r, &n);
    vial__buf t = { 0 };
    z_stream z = { 0 };
    inflateInit2(&z, -15);
    size_t off = 0;
    while (off < n) {
        vial__wsf f;
        int hl = vial__wsf_parse((const unsigned char *)b + off, n - off, &f);
        assert_true(hl > 0);
        assert_false(f.masked); /* servers never mask */
        assert_true(f.fin);
        off += (size_t)hl;
        assert_true(off + f.len <= n);
        if (f.rsv & 4) {
            char in[8192], out[8192];
            memcpy(in, b + off, f.len);
            memcpy(in + f.len, "\x00\x00\xff\xff", 4);
            z.next_in = (unsigned char *)in;
            z.avail_in = (uInt)f.len + 4;
            z.next_out = (unsigned char *)out;
            z.avail_out = sizeof out;
            assert_int_equal(inflate(&z, Z_SYNC_FLUSH), Z_OK);
            vial__buf_printf(&t, "%xz:", f.op);
            vial__buf_append(&t, out, sizeof out - z.avail_out);
        } else {
            vial__buf_printf(&t, "%x:", f.op);
            if (f.op == VIAL__WS_CLOSE && f.len >= 2) {
                vial__buf_printf(&t, "%u", (unsigned)(unsigned char)b[off] << 8 | (unsigned char)b[off + 1]);
                vial__buf_append(&t, b + off + 2, f.len - 2);
            } else {
                vial__buf_append(&t, b + off, f.len);
            }
        }
        vial__buf_puts(&t, "|");
        off += f.len;
    }
    inflateEnd(&z);
    vial__buf_nul(&t);
    return t.p;
}

static void converse(const char *target, const char *extra, vial__buf *frames, const char *want)
{
    vial_test_resp *r = shake("GET", target, extra, frames->p, frames->n);
    assert_int_equal(vial_test_status(r), 101);
    char *got = server_frames(r);
    if (strcmp(got ? got : "", want))
        fail_msg("got  %s\nwant %s", got ? got : "", want);
    free(got);
    vial_test_free(r);
    vial__buf_free(frames);
}

static void test_echo(void **state)
{
    (void)state;
    vial__buf f = { 0 };
    cframe(&f, 0x81, "hello", 5);
    cframe(&f, 0x82, "\x01\x02", 2);
    cframe(&f, 0x01, "frag", 4);
    cframe(&f, 0x89, "mid", 3); /* a ping inside a fragmented message: answered at once */
    cframe(&f, 0x80, "ment", 4);
    cframe(&f, 0x8a, "unsolicited", 11); /* ignored */
    cframe(&f, 0x81, "ping-me", 7);
    cframe(&f, 0x88, "\x03\xe8" "done", 6);
    cframe(&f, 0x81, "after close", 11); /* never read */
    int c = closed;
    converse("/echo", "", &f, "1:hello|2:\x01\x02|a:mid|1:fragment|9:abc|8:1000|");
    assert_int_equal(closed, c + 1);
    assert_int_equal(last_code, 1000);
    assert_string_equal(last_reason, "done");
    /* a close without a code is answered without one */
    cframe(&f, 0x88, "", 0);
    converse("/echo", "", &f, "8:|");
    assert_int_equal(last_code, 1005);
}

static void test_server_close(void **state)
{
    (void)state;
    vial__buf f = { 0 };
    cframe(&f, 0x81, "close-me", 8);
    cframe(&f, 0x81, "dropped: the server is closing", 30);
    cframe(&f, 0x88, "\x0f\xa0", 2);
    int c = closed;
    converse("/echo", "", &f, "8:4000as you wish|");
    assert_int_equal(closed, c + 1);
    assert_int_equal(last_code, 4000); /* the client's answer */
    cframe(&f, 0x81, "bad-text", 8);
    cframe(&f, 0x81, "bad-close", 9);
    converse("/echo", "", &f, "");
    assert_int_equal(send_bad_text_rc, VIAL_EINVAL);
}

/* A subscribed connection gets what is published on its topics as text
 * frames (the route has no event handler), once however often it
 * subscribed, and nothing after unsubscribing; subscriptions go with the
 * connection (ASan: nothing leaks, nothing is delivered to a freed one). */
static void test_subscribe(void **state)
{
    (void)state;
    vial__buf f = { 0 };
    cframe(&f, 0x81, "sub:news", 8);
    cframe(&f, 0x81, "sub:sport", 9);
    cframe(&f, 0x81, "pub:news:hello", 14);
    cframe(&f, 0x81, "pub:weather:nobody", 18);
    cframe(&f, 0x81, "pub:sport:goal", 14);
    cframe(&f, 0x81, "unsub:news", 10);
    cframe(&f, 0x81, "unsub:news", 10);
    cframe(&f, 0x81, "pub:news:unheard", 16);
    cframe(&f, 0x81, "pub:sport:again", 15);
    cframe(&f, 0x81, "ctx", 3);
    cframe(&f, 0x81, "ctx", 3);
    cframe(&f, 0x88, "\x03\xe8", 2);
    converse("/echo", "", &f, "1:hello|1:goal|1:unsubscribed|1:not subscribed|1:again|1:context ok|1:context ok|8:1000|");
    /* the connection is gone: its subscriptions too */
    assert_int_equal(vial_publish_wanted(app, "sport"), 0);
    assert_int_equal(vial_ws_subscribe(NULL, "x"), VIAL_EINVAL);
    assert_int_equal(vial_ws_unsubscribe(NULL, "x"), VIAL_EINVAL);
}

static void test_violations(void **state)
{
    (void)state;
    static const struct {
        unsigned b0;
        const char *payload;
        size_t n;
        bool masked;
        const char *want;
    } cases[] = {
        { 0x81, "x", 1, false, "8:1002client frames must be masked|" },
        { 0xc1, "x", 1, true, "8:1002RSV1 set without permessage-deflate|" },
        { 0x83, "", 0, true, "8:1002reserved opcode|" },
        { 0x80, "x", 1, true, "8:1002continuation frame with nothing to continue|" },
        { 0x81, "\xed\xa0\x80", 3, true, "8:1007text message is not valid UTF-8|" },
        { 0x88, "\x03", 1, true, "8:1002close payload of one byte|" },
        { 0x88, "\x03\xed", 2, true, "8:1002invalid close code|" },
        { 0x88, "\x03\xe8\xff", 3, true, "8:1007close reason is not valid UTF-8|" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        vial__buf f = { 0 };
        cframe(&f, 0x81, "ok", 2);
        if (cases[i].masked) {
            cframe(&f, cases[i].b0, cases[i].payload, cases[i].n);
        } else {
            unsigned char h[2] = { (unsigned char)cases[i].b0, (unsigned char)cases[i].n };
            vial__buf_append(&f, h, 2);
            vial__buf_append(&f, cases[i].payload, cases[i].n);
        }
        cframe(&f, 0x81, "never", 5);
        int c = closed;
        char want[128];
        snprintf(want, sizeof want, "1:ok|%s", cases[i].want);
        converse("/echo", "", &f, want);
        assert_int_equal(closed, c + 1);
        assert_int_equal(last_code, atoi(cases[i].want + 2));
    }
}

static void test_limit(void **state)
{
    (void)state;
    /* the settings are read at start: a fresh app reads them */
    vial_app *saved = app;
    app = vial_app_new("ws-limit");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "ws_max_message", "1K");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_int_equal(vial_websocket(app, "/echo", &echo), 0);
    char p[1025];
    memset(p, 'a', sizeof p);
    vial__buf f = { 0 };
    cframe(&f, 0x82, p, 1024);
    cframe(&f, 0x82, p, 1025);
    char want[1100];
    snprintf(want, sizeof want, "2:%.1024s|8:1009message over the size limit|", p);
    converse("/echo", "", &f, want);
    vial_app_free(app);
    app = saved;
}

static void test_compression(void **state)
{
    (void)state;
    /* the client offers permessage-deflate: messages go both ways compressed */
    char sq[221] = "", pl[181] = "", tiny[] = "tiny";
    for (int i = 0; i < 20; i++)
        strcat(sq, "squeeze me ");
    for (int i = 0; i < 30; i++)
        strcat(pl, "plain ");
    vial__buf f = { 0 };
    z_stream z = { 0 };
    deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    unsigned char out[512];
    z.next_in = (unsigned char *)sq;
    z.avail_in = (uInt)strlen(sq);
    z.next_out = out;
    z.avail_out = sizeof out;
    deflate(&z, Z_SYNC_FLUSH);
    deflateEnd(&z);
    cframe(&f, 0xc1, out, sizeof out - z.avail_out - 4);
    cframe(&f, 0x81, pl, strlen(pl)); /* uncompressed messages stay allowed */
    cframe(&f, 0x81, tiny, 4);        /* compression would make it longer: sent as it is */
    vial_test_resp *r = shake("GET", "/echo", "Sec-WebSocket-Extensions: permessage-deflate; "
                              "client_max_window_bits\r\n", f.p, f.n);
    assert_int_equal(vial_test_status(r), 101);
    assert_string_equal(vial_test_header(r, "sec-websocket-extensions"),
                        "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    char *got = server_frames(r);
    char want[600];
    snprintf(want, sizeof want, "1z:%s|1z:%s|1:tiny|", sq, pl);
    assert_string_equal(got, want);
    free(got);
    vial_test_free(r);
    /* without an offer: no compression, RSV1 is a violation */
    converse("/echo", "", &f, "8:1002RSV1 set without permessage-deflate|");
}

static void test_not_serving(void **state)
{
    (void)state;
    assert_int_equal(vial_ws_send_to(app, 1, "x", 1, 0), VIAL_ESTATE);
    assert_int_equal(vial_ws_send_to(app, 0, "x", 1, 0), VIAL_EINVAL);
    assert_int_equal(vial_ws_send_to(NULL, 1, "x", 1, 0), VIAL_EINVAL);
    assert_int_equal(vial_ws_send(NULL, "x", 1, 0), VIAL_EINVAL);
    assert_null(vial_ws_ud(NULL));
    assert_null(vial_ws_protocol(NULL));
    assert_int_equal(vial_ws_id(NULL), 0);
    /* a plain route next to WebSocket ones is unaffected */
    expect(app, "GET", "/hello", 200, "hi");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_handshake_ok),
        cmocka_unit_test(test_handshake_refused),
        cmocka_unit_test(test_origin),
        cmocka_unit_test(test_subprotocols),
        cmocka_unit_test(test_upgrade_callback),
        cmocka_unit_test(test_echo),
        cmocka_unit_test(test_server_close),
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_compression),
        cmocka_unit_test(test_not_serving),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

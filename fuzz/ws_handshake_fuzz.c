/*
 * ws_handshake_fuzz.c — the WebSocket handshake (src/rt/ws.c) and what
 * follows it, through the in-process test client (the real HTTP/1.1
 * session, routing and the switch to the WebSocket after a 101).
 *
 * Input: the bytes a client sends on one connection — a request to one of
 * the app's WebSocket routes (/ws, with subprotocols; /auth, whose upgrade
 * callback wants "X-Token: t"; /any, any origin) or its plain route, and
 * whatever follows (frames, pipelined requests).
 * Properties checked (abort() on violation):
 *  - the output starts with a well-formed status line;
 *  - a 101 carries Upgrade: websocket, the Sec-WebSocket-Accept of the
 *    request's one valid Sec-WebSocket-Key, a subprotocol only from the
 *    route's list and only one the client offered, and an extension only
 *    when one was offered; after it come only well-formed server frames
 *    (unmasked, FIN, known opcodes, nothing after a close frame);
 *  - a refused handshake to a WebSocket route is 400, 401, 403, 405 or
 *    426 (426 with Sec-WebSocket-Version: 13), in the common JSON error
 *    shape;
 *  - the route's close() comes exactly once for every accepted upgrade.
 */
#include "rt/rt.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "ws_handshake_fuzz: " __VA_ARGS__);                                    \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

static vial_app *app;
static int accepted, closed;

static void on_message(vial_ws *ws, const char *d, size_t n, int binary)
{
    if (!binary && n == 5 && !memcmp(d, "close", 5))
        vial_ws_close(ws, 1000, "bye");
    else
        vial_ws_send(ws, d, n, binary);
}

static void on_close(vial_ws *ws, int code, const char *reason)
{
    (void)ws;
    (void)code;
    (void)reason;
    closed++;
}

static int upgrade(vial_req *req, void **ud)
{
    (void)ud;
    const char *t = vial_header(req, "x-token");
    if (!t || strcmp(t, "t"))
        return vial_abort(req, 401, "token required");
    accepted++;
    return 0;
}

static int count_upgrade(vial_req *req, void **ud)
{
    (void)req;
    (void)ud;
    accepted++;
    return 0;
}

static int hello(vial_req *req)
{
    return vial_text(req, 200, "hi");
}

static const vial_ws_handlers plain = { .upgrade = count_upgrade, .message = on_message, .close = on_close };
static const vial_ws_handlers guarded = { .upgrade = upgrade, .message = on_message, .close = on_close };
static const char *const protocols[] = { "chat", "superchat", NULL };

static void setup(void)
{
    app = vial_app_new("ws-fuzz");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "ws_compression_threshold", "0");
    vial_config_set(app, "ws_max_message", "64K");
    vial_configure(app, 0, NULL);
    vial_ws_route(vial_app_bp(app), "/ws", &plain, &(vial_ws_opts){ .protocols = protocols });
    vial_websocket(app, "/auth", &guarded);
    vial_ws_route(vial_app_bp(app), "/any", &plain, &(vial_ws_opts){ .any_origin = 1 });
    vial_get(app, "/hello", hello);
}

/* The value of the request header `name` (first occurrence), copied. */
static bool req_header(const char *req, size_t n, const char *name, char *out, size_t cap, int *count)
{
    size_t nl = strlen(name);
    bool found = false;
    *count = 0;
    const char *end = req + n;
    const char *p = memchr(req, '\n', n);
    while (p && ++p < end) {
        const char *le = memchr(p, '\n', (size_t)(end - p));
        if (!le || le == p || (le == p + 1 && *p == '\r'))
            break; /* end of the head */
        if ((size_t)(le - p) > nl + 1 && vial__strneq_ci(p, name, nl) && p[nl] == ':') {
            (*count)++;
            if (!found) {
                const char *v = p + nl + 1, *ve = le;
                while (v < ve && (*v == ' ' || *v == '\t'))
                    v++;
                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                size_t vn = (size_t)(ve - v) < cap - 1 ? (size_t)(ve - v) : cap - 1;
                memcpy(out, v, vn);
                out[vn] = 0;
                found = true;
            }
        }
        p = le;
    }
    return found;
}

static bool starts(const char *p, size_t n, const char *prefix)
{
    size_t k = strlen(prefix);
    return n >= k && !memcmp(p, prefix, k);
}

static void check_frames(const char *b, size_t n)
{
    bool closed_frame = false;
    size_t off = 0;
    while (off < n) {
        if (closed_frame)
            die("bytes after the server's close frame");
        vial__wsf f;
        int hl = vial__wsf_parse((const unsigned char *)b + off, n - off, &f);
        if (hl <= 0)
            die("a malformed server frame at %zu of %zu", off, n);
        if (f.masked || !f.fin || (f.rsv & 3))
            die("a server frame masked, fragmented or with RSV2/3");
        if (f.op != 1 && f.op != 2 && f.op != 8 && f.op != 9 && f.op != 10)
            die("a server frame of opcode %d", f.op);
        if (f.op >= 8 && (f.len > 125 || f.rsv))
            die("a bad server control frame");
        off += (size_t)hl;
        if (f.len > n - off)
            die("a server frame cut short");
        if (f.op == 8) {
            closed_frame = true;
            if (f.len == 1)
                die("a close payload of one byte");
            if (f.len >= 2) {
                unsigned code = (unsigned)(unsigned char)b[off] << 8 | (unsigned char)b[off + 1];
                if (!vial__ws_close_code_ok(code))
                    die("server close code %u", code);
                if (!vial_utf8_valid(b + off + 2, f.len - 2))
                    die("a server close reason that is not UTF-8");
            }
        }
        if (f.op == 1 && !(f.rsv & 4) && !vial_utf8_valid(b + off, f.len))
            die("server text that is not UTF-8");
        off += f.len;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!app)
        setup();
    if (size > 65536)
        return 0;
    int a0 = accepted, c0 = closed;
    vial_test_resp *r = vial_test_raw(app, data, size);
    if (!r)
        die("test client failed");
    size_t on;
    const char *out = vial_test_output(r, &on);
    if (on && (on < 12 || memcmp(out, "HTTP/1.1 ", 9)))
        die("output does not start with a status line");
    const char *req = (const char *)data;
    size_t rn = size;
    while (rn && (*req == '\r' || *req == '\n')) { /* empty lines before a request are skipped */
        req++;
        rn--;
    }
    bool ws_route = starts(req, rn, "GET /ws ") || starts(req, rn, "GET /auth ") ||
                    starts(req, rn, "GET /any ");
    int status = vial_test_status(r);
    if (status == 101) {
        const char *up = vial_test_header(r, "upgrade");
        const char *acc = vial_test_header(r, "sec-websocket-accept");
        if (!up || strcmp(up, "websocket") || !acc)
            die("a 101 without Upgrade: websocket and an accept key");
        char key[128], want[29];
        int nkeys;
        if (!req_header(req, rn, "sec-websocket-key", key, sizeof key, &nkeys) || nkeys != 1 ||
            strlen(key) != 24)
            die("a 101 for a request without one valid key");
        vial__ws_accept_key(key, 24, want);
        if (strcmp(acc, want))
            die("accept key %s for key %s, want %s", acc, key, want);
        const char *proto = vial_test_header(r, "sec-websocket-protocol");
        if (proto) {
            char offered[512];
            int np;
            if (strcmp(proto, "chat") && strcmp(proto, "superchat"))
                die("subprotocol %s is not the route's", proto);
            if (!req_header(req, rn, "sec-websocket-protocol", offered, sizeof offered, &np))
                die("a subprotocol nobody offered");
        }
        char ext[512];
        int ne;
        if (vial_test_header(r, "sec-websocket-extensions") &&
            !req_header(req, rn, "sec-websocket-extensions", ext, sizeof ext, &ne))
            die("an extension nobody offered");
        size_t bn;
        const char *body = vial_test_body(r, &bn);
        check_frames(body, bn);
    } else if (ws_route && status) {
        if (status != 400 && status != 401 && status != 403 && status != 405 && status != 426 &&
            status != 413 && status != 414 && status != 431 && status != 501 && status != 505)
            die("a WebSocket route answered %d", status);
        if (status == 426) {
            const char *v = vial_test_header(r, "sec-websocket-version");
            if (!v || strcmp(v, "13"))
                die("a 426 without Sec-WebSocket-Version: 13");
        }
        const char *ct = vial_test_header(r, "content-type");
        if (ct && !strcmp(ct, "application/json")) {
            json_t *j = json_loads(vial_test_body(r, NULL), 0, NULL);
            if (!j || !json_string_value(json_object_get(j, "error")) ||
                !json_string_value(json_object_get(j, "message")))
                die("an error body not in the common shape");
            json_decref(j);
        }
    }
    vial_test_free(r);
    if (closed - c0 != accepted - a0)
        die("%d upgrades accepted, %d closes", accepted - a0, closed - c0);
    return 0;
}

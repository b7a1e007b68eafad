/*
 * ws.c — WebSocket endpoints (RFC 6455, with RFC 7692 compression): the
 * route kind, the handshake its view checks, and the protocol object
 * (vial__ws_proto) the connection speaks after the 101.
 *
 * A WebSocket route is an ordinary GET route whose view is ws_view(): the
 * blueprint's before-hooks run first (an auth guard refuses as it would a
 * view), then the handshake is checked — anything but a well-formed
 * upgrade is refused before the 101, in the common error shape — then the
 * route's own `upgrade` callback may refuse as a view does, and the
 * connection is handed to a vial_ws (vial__req_upgrade).
 *
 * After the 101 the vial_ws is the connection's protocol: reads go to the
 * frame reader (ws_frame.c), messages to the route's handlers, on the
 * connection's worker thread; frames are written straight into the
 * connection's output queue (no allocation per frame: small frames are
 * copied into the queue's pooled buffer).  Reads land in the worker's
 * scratch space (rbuf offers none), the reader unmasks into its message
 * buffer, a pool block given back after each message, and the output
 * buffer is given back once written, so an idle WebSocket holds only its
 * vial_ws (no buffer) — the 10,000-idle-connections budget.
 *
 * Liveness uses the loop's tick (VIAL__PH_OPEN: timeout() every tick): a
 * ping after ws_ping_interval without a byte from the client, closing when
 * the pong (or any byte) has not come within ws_pong_timeout; closing an
 * idle connection after ws_idle_timeout without a message; giving up on a
 * close handshake the client does not finish.  The tick is made short
 * enough for these settings at start (at most 5 s).
 *
 * Backpressure: reading stops while the connection has more than
 * max_pending_output unsent (so an echo to a client that does not read
 * stalls instead of growing), and a send that would put more than
 * ws_max_queue in the queue closes the connection with 1008 instead of
 * growing memory (a client that does not read what a broadcast sends it).
 *
 * Other threads reach a WebSocket only by id (vial_ws_send_to): a post to
 * its worker, which finds it with vial__conn_find(); framing and the
 * compressor stay on that worker.  Topics (vial_ws_subscribe) arrive the
 * same way: pub/sub posts a message once per worker, and delivers it here
 * to each subscribed connection (vial__ws_deliver).
 *
 * Handlers get a request context on demand (vial_ws_request): one of the
 * worker's recycled requests (core's vial__req_context), ended when the
 * outermost handler call returns, so the database and the kv store work
 * in handlers as in views.
 */
#include "rt.h"

#include <stdlib.h>
#include <time.h>

#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define BIG_FRAME (64 * 1024) /* payloads from here on are queued as their own segment */
#define ID_CONN_BITS 54       /* vial_ws_id: worker above, connection id below (as vial_stream_id) */

/* ------------------------------------------------------------------ settings */

typedef struct ws_cfg {
    uint64_t max_message, max_queue;
    uint64_t ping_ms, pong_ms, idle_ms;
    uint64_t deflate_min;
    bool deflate, takeover;
    bool any_origin;  /* ws_allowed_origins = * */
    char **origins;   /* NULL-terminated */
} ws_cfg;

/* The module's state on an app: made for every app (vial__app_module_keys),
 * read at start. */
typedef struct ws_app {
    int slot; /* the per-worker state (vial_worker_slot) */
    ws_cfg cfg;
    /* vial_ws_connections, vial_ws_messages_total{direction}: recorded on
     * the connection's worker into its own slot (no lock, no atomic RMW) */
    vial_metric *m_conns, *m_msgs;
    int64_t s_conns, s_in, s_out;
} ws_app;

static const char app_key = 0, route_key = 0;

static void origins_free(char **o)
{
    for (char **p = o; p && *p; p++)
        free(*p);
    free(o);
}

static void ws_app_free(void *p)
{
    ws_app *wa = p;
    origins_free(wa->cfg.origins);
    free(wa);
}

/* ------------------------------------------------------------------ per-worker state */

/*
 * What a worker lends its WebSockets: zlib streams for messages that take
 * no context over (a deflater per window size, shared, reset after each
 * message; inflaters lent for a message's duration) and the buffer a
 * message is compressed into.  Made on the first handshake of the worker.
 */
#define SPARE_INFLATERS 4
typedef struct ws_worker {
    vial__pool *pool;
    vial__wsz *inflaters[SPARE_INFLATERS];
    int ninflaters;
    vial__wsz *deflaters[16]; /* by window bits */
    vial__buf zbuf;
    /* A broadcast sends one message to many connections of the worker:
     * without context takeover its compressed form is the same for every
     * connection with the same window, so the last one is kept — `zsrc`
     * the message, `zbuf` what it compressed to with `zbits` (0: nothing
     * kept) — and a message equal to it (memcmp: far cheaper than deflate)
     * is not compressed again. */
    vial__buf zsrc;
    int zbits;
} ws_worker;

static void *worker_init(vial_app *app, int worker, void *ud)
{
    VIAL__UNUSED(app);
    VIAL__UNUSED(worker);
    VIAL__UNUSED(ud);
    return calloc(1, sizeof(ws_worker));
}

static void worker_fini(void *state, void *ud)
{
    VIAL__UNUSED(ud);
    ws_worker *w = state;
    for (int i = 0; i < w->ninflaters; i++)
        vial__wsz_free(w->inflaters[i]);
    for (int i = 0; i < 16; i++)
        vial__wsz_free(w->deflaters[i]);
    vial__buf_free(&w->zbuf);
    vial__buf_free(&w->zsrc);
    free(w);
}

static const struct {
    const char *key, *def, *help;
} keys[] = {
    { "ws_max_message", "1M", "largest WebSocket message accepted, after inflating (1009 above)" },
    { "ws_max_queue", "4M",
      "most a WebSocket may have waiting to be sent; past it the client is not reading: closed with 1008" },
    { "ws_ping_interval", "25s", "ping a WebSocket client silent this long (0: never)" },
    { "ws_pong_timeout", "10s",
      "close (1011) a WebSocket whose client sends nothing this long after a ping; also how long a close waits for the client's" },
    { "ws_idle_timeout", "0", "close (1001) a WebSocket without a message from the client this long (0: never)" },
    { "ws_allowed_origins", "",
      "browser origins allowed to open WebSockets besides the same origin (comma-separated, * for any)" },
    { "ws_compression", "on", "accept permessage-deflate (RFC 7692) when a client offers it" },
    { "ws_compression_takeover", "off",
      "keep compression context between messages (better ratio, ~300 KiB per connection)" },
    { "ws_compression_threshold", "1K", "send messages shorter than this uncompressed" },
};

static int parse_cfg(vial_app *app, ws_cfg *c)
{
    struct {
        const char *key;
        bool duration;
        uint64_t *out;
        int64_t min;
    } items[] = {
        { "ws_max_message", false, &c->max_message, 1 },
        { "ws_max_queue", false, &c->max_queue, 1024 },
        { "ws_ping_interval", true, &c->ping_ms, 0 },
        { "ws_pong_timeout", true, &c->pong_ms, 1 },
        { "ws_idle_timeout", true, &c->idle_ms, 0 },
        { "ws_compression_threshold", false, &c->deflate_min, 0 },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(items); i++) {
        const char *v = vial_config(app, items[i].key);
        int64_t x = items[i].duration ? vial__parse_duration_ms(v) : vial__parse_size(v);
        if (x < items[i].min) {
            vial_log(VIAL_LOG_ERROR, "config %s: bad value '%s' (%s)", items[i].key, v ? v : "",
                     items[i].duration ? "a duration like 25s" : "a size like 1M");
            return VIAL_EINVAL;
        }
        *items[i].out = (uint64_t)x;
    }
    c->deflate = vial_config_bool(app, "ws_compression", 1);
    c->takeover = vial_config_bool(app, "ws_compression_takeover", 0);
    origins_free(c->origins);
    c->origins = NULL;
    c->any_origin = false;
    const char *o = vial_config(app, "ws_allowed_origins");
    size_t n = 0;
    c->origins = calloc(o ? strlen(o) / 2 + 2 : 1, sizeof *c->origins);
    if (!c->origins)
        return VIAL_ENOMEM;
    for (const char *p = o ? o : ""; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        size_t len = (size_t)(e - p);
        while (len && p[len - 1] == '/')
            len--; /* "https://a.example/" names the origin https://a.example */
        if (len == 1 && *p == '*')
            c->any_origin = true;
        else if (len && !(c->origins[n++] = strndup(p, len)))
            return VIAL_ENOMEM;
        p = e;
    }
    return 0;
}

/* At start: read the settings once, and make the loop's tick short enough
 * for them (pings, pong and idle deadlines are checked on ticks). */
static int ws_start(vial_app *app)
{
    ws_app *wa = vial__app_ext(app, &app_key);
    if (!wa)
        return 0;
    int rc = parse_cfg(app, &wa->cfg);
    if (rc)
        return rc;
    uint64_t tick = 5000;
    uint64_t d[] = { wa->cfg.ping_ms, wa->cfg.pong_ms, wa->cfg.idle_ms };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(d); i++)
        if (d[i] && d[i] / 2 < tick)
            tick = d[i] / 2;
    if (tick < 50)
        tick = 50;
    vial__loop_cfg *lc = &app->lim.loop;
    if (!lc->tick_ms || tick < lc->tick_ms)
        lc->tick_ms = tick;
    return 0;
}

static int declare(vial_app *app)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(keys); i++) {
        int rc = vial__config_define(app->cfg, keys[i].key, keys[i].def, keys[i].help,
                                     VIAL__CFG_BUILTIN);
        if (rc && rc != VIAL_EEXIST)
            return rc;
    }
    ws_app *wa = calloc(1, sizeof *wa);
    if (!wa)
        return VIAL_ENOMEM;
    int rc = vial_worker_slot(app, worker_init, worker_fini, NULL);
    if (rc < 0 || vial__app_ext_set(app, &app_key, wa, ws_app_free)) {
        free(wa);
        return rc < 0 ? rc : VIAL_ENOMEM;
    }
    wa->slot = rc;
    static const char *const dir[] = { "direction", NULL };
    wa->m_conns = vial_gauge(app, "vial_ws_connections", "Open WebSocket connections.", NULL);
    wa->m_msgs = vial_counter(app, "vial_ws_messages_total",
                              "WebSocket data messages, received (in) and sent (out).", dir);
    wa->s_conns = vial_metric_series(app, wa->m_conns, NULL);
    wa->s_in = vial_metric_series(app, wa->m_msgs, (const char *const[]){ "in", NULL });
    wa->s_out = vial_metric_series(app, wa->m_msgs, (const char *const[]){ "out", NULL });
    return vial_on_start(app, ws_start);
}

__attribute__((constructor)) static void ws_keys(void)
{
    vial__app_module_keys(declare);
}

/* ------------------------------------------------------------------ routes */

typedef struct ws_route {
    vial_ws_handlers h;
    char **protocols; /* NULL-terminated copies, in the server's order of preference */
    bool any_origin;
} ws_route;

static void route_free(void *p)
{
    ws_route *rt = p;
    if (!rt)
        return;
    origins_free(rt->protocols);
    free(rt);
}

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *s))
            return false;
    return true;
}

/* ------------------------------------------------------------------ the connection */

/* One topic a WebSocket is subscribed to: the subscription and its name
 * (pubsub.c keeps the name too, but vial__sub is opaque: unsubscribing by
 * name needs our own copy). */
typedef struct ws_topic {
    vial__sub *sub;
    char *name;
} ws_topic;

struct vial_ws {
    const vial__transport *tp;
    void *tp_ud;
    vial__outq *out;
    vial_app *app;
    const ws_route *route;
    const ws_cfg *cfg;
    const ws_app *wa;
    ws_worker *w;
    void *ud;
    const char *protocol;   /* the route's copy, or NULL */
    uint64_t id;
    int worker;
    vial__wsr rd;
    vial__wsd_params dp;
    bool deflate;           /* permessage-deflate negotiated */
    vial__wsz *inf, *def;   /* this connection's, or lent by the worker for a message */
    bool inf_lent;
    size_t inflight;        /* unsent bytes the connection holds outside `out` */
    struct ws_topic *topics; /* pub/sub subscriptions (vial_ws_subscribe), malloc'd */
    vial__worker *cw;       /* core's worker state (request contexts) */
    char *client;           /* the peer's address, for request contexts (malloc'd) */
    vial_req *ctx;          /* vial_ws_request() of the handler call in progress */
    int depth;              /* handler calls in progress (one may start another: a close) */
    size_t ntopics, captopics;
    uint64_t last_rx, last_msg, ping_at, close_at; /* monotonic ms */
    bool attached, awaiting_pong, close_sent, close_rcvd, notified, failed;
};

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Around every handler call: the request context (vial_ws_request) lives
 * until the outermost call returns. */
static void enter(vial_ws *ws)
{
    ws->depth++;
}

static void leave(vial_ws *ws)
{
    if (--ws->depth == 0 && ws->ctx) {
        vial_req *r = ws->ctx;
        ws->ctx = NULL;
        vial__req_context_end(r);
    }
}

/* The route's close handler, once: the last call for this connection. */
static void notify_close(vial_ws *ws, unsigned code, const char *reason)
{
    if (ws->notified)
        return;
    ws->notified = true;
    if (ws->route->h.close) {
        enter(ws);
        ws->route->h.close(ws, (int)code, reason ? reason : "");
        leave(ws);
    }
}

static size_t queued(const vial_ws *ws)
{
    return ws->inflight + ws->out->bytes;
}

/* One frame into the output queue: header and payload side by side in
 * the queue's buffer; a large payload as its own segment. */
static int put_frame(vial_ws *ws, unsigned op, const void *data, size_t len, bool compressed)
{
    unsigned char h[10];
    size_t hl = vial__wsf_head(h, op, compressed, len);
    if (len < BIG_FRAME) {
        char *dst = vial__outq_reserve(ws->out, hl + len);
        if (!dst)
            return VIAL_ENOMEM;
        memcpy(dst, h, hl);
        if (len)
            memcpy(dst + hl, data, len);
        vial__outq_commit(ws->out, hl + len);
    } else {
        char *p = malloc(len);
        if (!p)
            return VIAL_ENOMEM;
        memcpy(p, data, len);
        int rc = vial__outq_append(ws->out, h, hl);
        if (rc) {
            free(p);
            return rc;
        }
        rc = vial__outq_take(ws->out, p, len);
        if (rc)
            return rc; /* the header went out alone: the stream is broken */
    }
    ws->tp->want_write(ws->tp_ud);
    return 0;
}

static void send_close(vial_ws *ws, unsigned code, const char *reason)
{
    if (ws->close_sent || !ws->attached)
        return;
    ws->close_sent = true;
    ws->close_at = now_ms();
    unsigned char p[125];
    size_t n = 0;
    if (code && code != VIAL__WS_C_NO_STATUS) {
        p[0] = (unsigned char)(code >> 8);
        p[1] = (unsigned char)code;
        n = 2;
        size_t rl = reason ? strlen(reason) : 0;
        if (rl > 123) {
            rl = 123;
            while (rl && ((unsigned char)reason[rl] & 0xc0) == 0x80)
                rl--; /* cut on a character boundary */
        }
        if (rl)
            memcpy(p + 2, reason, rl);
        n += rl;
    }
    put_frame(ws, VIAL__WS_CLOSE, p, n, false);
}

/* Fails the connection (a violation, a timeout, a full queue): a close
 * frame with the reason, the handler told, and the TCP connection closed
 * once the frame is written, without waiting for the client's. */
static void fail_conn(vial_ws *ws, unsigned code, const char *why)
{
    if (ws->failed)
        return;
    ws->failed = true;
    send_close(ws, code, why);
    notify_close(ws, code, why);
    ws->tp->want_close(ws->tp_ud, false);
}

/* The queue bound: a send that would pass ws_max_queue closes instead. */
static int room_for(vial_ws *ws, size_t len)
{
    if (queued(ws) + len + 14 <= ws->cfg->max_queue)
        return 0;
    fail_conn(ws, VIAL__WS_C_POLICY, "send queue full: the client is not reading");
    return VIAL_ECLOSED;
}

static vial__wsz *worker_deflater(ws_worker *w, int bits)
{
    if (!w->deflaters[bits])
        w->deflaters[bits] = vial__wsz_deflater(bits);
    return w->deflaters[bits];
}

static int send_message(vial_ws *ws, unsigned op, const void *data, size_t len)
{
    vial__metric_add_on(ws->app, ws->worker, ws->wa->m_msgs, ws->wa->s_out, 1);
    if (!ws->deflate || len < ws->cfg->deflate_min)
        return put_frame(ws, op, data, len, false);
    ws_worker *w = ws->w;
    int rc = 0;
    bool shared = ws->dp.server_no_takeover;
    if (shared && w->zbits == ws->dp.server_bits && w->zsrc.n == len && !memcmp(w->zsrc.p, data, len)) {
        /* compressed already, for another connection of this broadcast */
    } else {
        vial__wsz *z;
        if (shared)
            z = worker_deflater(w, ws->dp.server_bits);
        else
            z = ws->def ? ws->def : (ws->def = vial__wsz_deflater(ws->dp.server_bits));
        if (!z)
            return VIAL_ENOMEM;
        w->zbits = 0;
        w->zbuf.n = 0;
        rc = vial__wsz_deflate(z, data, len, &w->zbuf);
        if (shared) {
            vial__wsz_reset(z);
            w->zsrc.n = 0;
            if (!rc && len <= BIG_FRAME && !vial__buf_append(&w->zsrc, data, len))
                w->zbits = ws->dp.server_bits;
        }
    }
    if (!rc && w->zbuf.n >= len && shared)
        rc = put_frame(ws, op, data, len, false); /* it would only grow: as it is (no context to keep in step) */
    else if (!rc)
        rc = put_frame(ws, op, w->zbuf.p, w->zbuf.n, true);
    if (w->zbuf.cap > 4 * BIG_FRAME) {
        vial__buf_free(&w->zbuf); /* a worker keeps no huge buffer for one big message */
        w->zbits = 0;
    }
    if (rc && !ws->dp.server_no_takeover)
        fail_conn(ws, VIAL__WS_C_INTERNAL, "out of memory"); /* the shared context is lost */
    return rc;
}

/* ------------------------------------------------------------------ what the reader reports */

static int on_message(void *ud, int op, char *data, size_t len)
{
    vial_ws *ws = ud;
    if (ws->close_sent || ws->notified)
        return 0; /* the server is closing: read on only for the client's close */
    ws->last_msg = now_ms();
    vial__metric_add_on(ws->app, ws->worker, ws->wa->m_msgs, ws->wa->s_in, 1);
    enter(ws);
    ws->route->h.message(ws, data, len, op == VIAL__WS_BINARY);
    leave(ws);
    return 0;
}

static int on_control(void *ud, int op, const char *data, size_t len, unsigned code)
{
    vial_ws *ws = ud;
    if (op == VIAL__WS_PING) {
        if (!ws->close_sent && !room_for(ws, len))
            put_frame(ws, VIAL__WS_PONG, data, len, false); /* echoes the payload */
        return 0;
    }
    if (op == VIAL__WS_PONG)
        return 0; /* liveness counts any byte (received()); unsolicited pongs are fine */
    /* CLOSE: answer with the same code (none for none), then the server
     * closes the TCP connection first, as RFC 6455 7.1.1 wants. */
    ws->close_rcvd = true;
    send_close(ws, code, NULL);
    notify_close(ws, code, data);
    ws->tp->want_close(ws->tp_ud, false);
    VIAL__UNUSED(len);
    return 1;
}

static int on_inflate(void *ud, const char *in, size_t n, bool fin, vial__buf *out, uint64_t limit)
{
    vial_ws *ws = ud;
    if (!ws->inf) {
        if (ws->dp.client_no_takeover && ws->w->ninflaters) {
            ws->inf = ws->w->inflaters[--ws->w->ninflaters];
            ws->inf_lent = true;
        } else {
            ws->inf = vial__wsz_inflater();
            ws->inf_lent = ws->dp.client_no_takeover;
        }
        if (!ws->inf)
            return VIAL__WS_C_INTERNAL;
    }
    int rc = vial__wsz_inflate(ws->inf, in, n, fin, out, limit);
    if (fin && !rc && ws->dp.client_no_takeover) {
        /* No context to keep: the stream goes back to the worker. */
        vial__wsz_reset(ws->inf);
        if (ws->w->ninflaters < SPARE_INFLATERS)
            ws->w->inflaters[ws->w->ninflaters++] = ws->inf;
        else
            vial__wsz_free(ws->inf);
        ws->inf = NULL;
    }
    return rc;
}

static const vial__wsr_ops reader_plain = { on_message, on_control, NULL };
static const vial__wsr_ops reader_deflate = { on_message, on_control, on_inflate };

/* ------------------------------------------------------------------ the protocol */

static void ws_attach(void *ud, const vial__transport *tp, void *tp_ud, vial__outq *out)
{
    vial_ws *ws = ud;
    ws->tp = tp;
    ws->tp_ud = tp_ud;
    ws->out = out;
    ws->attached = true;
    vial__metric_add_on(ws->app, ws->worker, ws->wa->m_conns, ws->wa->s_conns, 1);
    uint64_t cid = tp->id ? tp->id(tp_ud) : 0;
    ws->id = cid ? (uint64_t)ws->worker << ID_CONN_BITS | cid : 0;
    ws->last_rx = ws->last_msg = now_ms();
    tp->phase(tp_ud, VIAL__PH_OPEN);
    if (ws->route->h.open) {
        enter(ws);
        ws->route->h.open(ws);
        leave(ws);
    }
    if (tp->stopping && tp->stopping(tp_ud))
        send_close(ws, VIAL__WS_C_AWAY, "server shutting down");
}

static int ws_rbuf(void *ud, size_t min, char **buf, size_t *room)
{
    VIAL__UNUSED(ud);
    VIAL__UNUSED(min);
    VIAL__UNUSED(buf);
    VIAL__UNUSED(room);
    return 1; /* reads land in the worker's scratch space; the reader copies what it keeps */
}

static void ws_received(void *ud, const char *data, size_t n)
{
    vial_ws *ws = ud;
    if (ws->failed || ws->close_rcvd)
        return; /* nothing after a close is read */
    ws->last_rx = now_ms();
    ws->awaiting_pong = false;
    int rc = vial__wsr_feed(&ws->rd, data, n);
    if (rc >= 1000)
        fail_conn(ws, (unsigned)rc, ws->rd.why);
}

static void ws_eof(void *ud)
{
    vial_ws *ws = ud;
    /* The client went without a close frame (or after ours). */
    notify_close(ws, ws->close_rcvd ? VIAL__WS_C_NORMAL : VIAL__WS_C_ABNORMAL, "");
    ws->tp->want_close(ws->tp_ud, false);
}

static void ws_drained(void *ud)
{
    vial_ws *ws = ud;
    ws->inflight = 0;
    if (!ws->out->bytes)
        vial__buf_release(&ws->out->coal); /* nothing queued: the buffer goes back to the pool */
}

static void ws_timeout(void *ud)
{
    vial_ws *ws = ud;
    const ws_cfg *c = ws->cfg;
    uint64_t now = now_ms();
    if (ws->failed || ws->close_rcvd)
        return;
    if (ws->close_sent) {
        if (now - ws->close_at >= c->pong_ms) {
            /* The client did not finish the close handshake. */
            notify_close(ws, VIAL__WS_C_ABNORMAL, "no close frame from the client");
            ws->tp->want_close(ws->tp_ud, true);
        }
        return;
    }
    if (ws->awaiting_pong && now - ws->ping_at >= c->pong_ms) {
        fail_conn(ws, VIAL__WS_C_INTERNAL, "keepalive ping timeout");
        return;
    }
    if (c->idle_ms && now - ws->last_msg >= c->idle_ms) {
        send_close(ws, VIAL__WS_C_AWAY, "idle timeout");
        return;
    }
    if (c->ping_ms && !ws->awaiting_pong && now - ws->last_rx >= c->ping_ms) {
        if (put_frame(ws, VIAL__WS_PING, NULL, 0, false) == 0) {
            ws->awaiting_pong = true;
            ws->ping_at = now;
        }
    }
}

static bool ws_drain(void *ud)
{
    vial_ws *ws = ud;
    /* Graceful stop: 1001 to the client, then wait for its close (bounded
     * by shutdown_timeout, which the loop enforces). */
    send_close(ws, VIAL__WS_C_AWAY, "server shutting down");
    return false;
}

static bool ws_wants_read(void *ud, size_t unsent)
{
    vial_ws *ws = ud;
    ws->inflight = unsent > ws->out->bytes ? unsent - ws->out->bytes : 0;
    return unsent < ws->app->lim.loop.max_pending_output && !ws->close_rcvd && !ws->failed;
}

static void drop_topics(vial_ws *ws)
{
    for (size_t i = 0; i < ws->ntopics; i++) {
        vial__unsubscribe(ws->topics[i].sub);
        free(ws->topics[i].name);
    }
    free(ws->topics);
    ws->topics = NULL;
    ws->ntopics = ws->captopics = 0;
}

static void ws_free(vial_ws *ws)
{
    /* Before the struct goes: a delivery running now (this worker) sees the
     * subscription marked and skips it; later ones never find it. */
    drop_topics(ws);
    if (ws->attached)
        vial__metric_add_on(ws->app, ws->worker, ws->wa->m_conns, ws->wa->s_conns, -1);
    vial__wsr_free(&ws->rd);
    if (ws->inf) {
        if (ws->inf_lent && ws->w->ninflaters < SPARE_INFLATERS) {
            vial__wsz_reset(ws->inf);
            ws->w->inflaters[ws->w->ninflaters++] = ws->inf;
        } else {
            vial__wsz_free(ws->inf);
        }
    }
    vial__wsz_free(ws->def);
    free(ws->client);
    free(ws);
}

static void ws_close(void *ud)
{
    vial_ws *ws = ud;
    notify_close(ws, ws->close_rcvd ? VIAL__WS_C_NORMAL : VIAL__WS_C_ABNORMAL, "");
    ws_free(ws);
}

const vial__proto vial__ws_proto = {
    .attach = ws_attach,
    .rbuf = ws_rbuf,
    .received = ws_received,
    .eof = ws_eof,
    .drained = ws_drained,
    .timeout = ws_timeout,
    .drain = ws_drain,
    .wants_read = ws_wants_read,
    .close = ws_close,
};

/* ------------------------------------------------------------------ the handshake */

static bool ows(char c)
{
    return c == ' ' || c == '\t';
}

/* True when the comma-separated list `list` holds `tok` (trimmed). */
static bool has_token(const char *list, const char *tok, bool ci)
{
    size_t tn = strlen(tok);
    for (const char *p = list; p && *p;) {
        while (ows(*p) || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && ows(t[-1]))
            t--;
        size_t n = (size_t)(t - p);
        if (n == tn && (ci ? vial__strneq_ci(p, tok, n) : !memcmp(p, tok, n)))
            return true;
        p = e;
    }
    return false;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/* base64 of 16 bytes: 22 characters and "==". */
static bool key_ok(const char *k)
{
    if (!k || strlen(k) != 24 || k[22] != '=' || k[23] != '=')
        return false;
    for (int i = 0; i < 22; i++)
        if (b64val((unsigned char)k[i]) < 0)
            return false;
    return true;
}

void vial__ws_accept_key(const char *key, size_t n, char out[29])
{
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    unsigned char d[VIAL__SHA1_LEN + 1];
    vial__sha1 s;
    vial__sha1_init(&s);
    vial__sha1_update(&s, key, n);
    vial__sha1_update(&s, WS_GUID, sizeof WS_GUID - 1);
    vial__sha1_final(&s, d);
    d[20] = 0;
    char *o = out;
    for (int i = 0; i < 21; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (unsigned)d[i + 1] << 8 | d[i + 2];
        *o++ = b64[v >> 18];
        *o++ = b64[(v >> 12) & 63];
        *o++ = b64[(v >> 6) & 63];
        *o++ = b64[v & 63];
    }
    out[27] = '='; /* 20 bytes: the last group holds two */
    out[28] = 0;
}

/* Splits "host[:port]" ("[v6]:port" too); *port 0 when absent, -1 when malformed. */
static void split_authority(const char *a, size_t n, vial__str *host, long *port)
{
    const char *colon = NULL;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (rb && rb + 1 < a + n && rb[1] == ':')
            colon = rb + 1;
        else if (!rb || rb + 1 != a + n)
            *port = -1;
    } else {
        colon = memchr(a, ':', n);
    }
    *host = (vial__str){ a, colon ? (size_t)(colon - a) : n };
    if (!colon) {
        if (*port != -1)
            *port = 0;
        return;
    }
    long v = 0;
    const char *p = colon + 1, *e = a + n;
    if (p == e || e - p > 5)
        v = -1;
    for (; p < e && v >= 0; p++)
        v = *p >= '0' && *p <= '9' ? v * 10 + (*p - '0') : -1;
    *port = v > 65535 ? -1 : v;
}

/* Same origin: the Origin's host and port are the request's Host (the
 * port the Origin's scheme implies when either leaves it out); or the
 * Origin is one of ws_allowed_origins. */
static bool origin_ok(vial_req *req, const char *origin, const ws_cfg *c)
{
    if (c->any_origin)
        return true;
    size_t on = strlen(origin);
    for (char **a = c->origins; a && *a; a++)
        if (strlen(*a) == on && vial__strneq_ci(*a, origin, on))
            return true;
    long dflt;
    const char *auth;
    if (on > 7 && vial__strneq_ci(origin, "http://", 7)) {
        dflt = 80;
        auth = origin + 7;
    } else if (on > 8 && vial__strneq_ci(origin, "https://", 8)) {
        dflt = 443;
        auth = origin + 8;
    } else {
        return false; /* "null", file://, another scheme: never the same origin */
    }
    const char *host = vial_header(req, "host");
    if (!host || strpbrk(auth, "/?#@"))
        return false;
    vial__str oh, hh;
    long op = 0, hp = 0;
    split_authority(auth, strlen(auth), &oh, &op);
    split_authority(host, strlen(host), &hh, &hp);
    if (op < 0 || hp < 0 || !oh.n || oh.n != hh.n || !vial__strneq_ci(oh.p, hh.p, oh.n))
        return false;
    return (op ? op : dflt) == (hp ? hp : dflt);
}

static int refuse_426(vial_req *req, const char *why)
{
    int rc = vial_abort(req, 426, why);
    vial_set_header(req, "Upgrade", "websocket");
    vial_set_header(req, "Sec-WebSocket-Version", "13");
    return rc;
}

static int ws_view(vial_req *req)
{
    const ws_route *rt = vial_route_ud(req);
    ws_app *wa = vial__app_ext(vial_app_of(req), &app_key);
    if (!rt || !wa)
        return VIAL_ESTATE;
    const ws_cfg *c = &wa->cfg;
    const char *up = vial_header(req, "upgrade");
    if (!up || !has_token(up, "websocket", true))
        return refuse_426(req, "this is a WebSocket endpoint: upgrade to websocket");
    if (strcmp(vial_method(req), "GET") || req->m.http_minor != 1)
        return vial_abort(req, 400, "a WebSocket handshake is a GET over HTTP/1.1");
    const char *conn = vial_header(req, "connection");
    if (!conn || !has_token(conn, "upgrade", true))
        return vial_abort(req, 400, "a WebSocket handshake needs Connection: Upgrade");
    const char *ver = vial_header(req, "sec-websocket-version");
    if (!ver || strcmp(ver, "13"))
        return refuse_426(req, "unsupported Sec-WebSocket-Version: this server speaks 13");
    /* RFC 6455 11.3.1: the key appears once; two (even one empty) is no
     * key at all, and the joined value fails key_ok(). */
    const char *key = vial_header(req, "sec-websocket-key");
    if (!key_ok(key))
        return vial_abort(req, 400, "Sec-WebSocket-Key must be the base64 of 16 bytes");
    const char *origin = vial_header(req, "origin");
    if (origin && !rt->any_origin && !origin_ok(req, origin, c))
        return vial_abort(req, 403, "cross-origin WebSocket refused: Origin not allowed");
    ws_worker *w = vial_worker_get(req, wa->slot);
    if (!w)
        return vial_abort(req, 503, "out of memory");
    w->pool = vial__req_pool(req);

    vial_ws *ws = calloc(1, sizeof *ws);
    if (!ws)
        return vial_abort(req, 503, "out of memory");
    ws->app = vial_app_of(req);
    ws->route = rt;
    ws->cfg = c;
    ws->wa = wa;
    ws->cw = req->w;
    if (req->m.client && !(ws->client = strdup(req->m.client))) {
        free(ws);
        return vial_abort(req, 503, "out of memory");
    }
    ws->w = w;
    ws->worker = req->w->id;
    if (rt->h.upgrade) {
        /* The app's own checks, like a view: answering refuses. */
        int rc = rt->h.upgrade(req, &ws->ud);
        if (rc || vial_responded(req)) {
            free(ws->client);
            free(ws);
            /* `return vial_auth_require(req, ...)` refuses too (it returns 1
             * once it has answered): the answer stands, not a 500. */
            return vial_responded(req) ? 0 : rc;
        }
    }
    /* From here on the handler's close() is owed, whatever happens. */
    const char *offered = vial_header(req, "sec-websocket-protocol");
    for (char **p = rt->protocols; offered && p && *p && !ws->protocol; p++)
        if (has_token(offered, *p, false))
            ws->protocol = *p;
    char ext[160];
    const char *exts = vial_header(req, "sec-websocket-extensions");
    ws->deflate = c->deflate && exts &&
                  vial__wsd_negotiate(exts, c->takeover, &ws->dp, ext, sizeof ext) == 1;
    vial__wsr_init(&ws->rd, ws->deflate ? &reader_deflate : &reader_plain, ws, c->max_message,
                   w->pool);
    if (vial__req_upgrade(req, &vial__ws_proto, ws)) {
        ws_close(ws);
        return VIAL_ESTATE;
    }
    char accept[29];
    vial__ws_accept_key(key, strlen(key), accept);
    int rc = vial_set_header(req, "Upgrade", "websocket");
    if (!rc)
        rc = vial_set_header(req, "Sec-WebSocket-Accept", accept);
    if (!rc && ws->protocol)
        rc = vial_set_header(req, "Sec-WebSocket-Protocol", ws->protocol);
    if (!rc && ws->deflate)
        rc = vial_set_header(req, "Sec-WebSocket-Extensions", ext);
    if (!rc)
        rc = vial_send(req, 101, NULL, NULL, 0);
    return rc; /* on failure the exchange closes the vial_ws (1006 to the handler) */
}

/* ------------------------------------------------------------------ the public API */

/* What the API document says of a WebSocket route its app did not
 * describe: the handshake's answers (ws_view). */
static const vial_doc ws_doc = {
    .summary = "WebSocket endpoint",
    .description = "A GET with `Upgrade: websocket` (RFC 6455, permessage-deflate) switches the "
                   "connection to the WebSocket protocol.",
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(101, "switching to the WebSocket protocol"),
        VIAL_RESPONSE(400, "a malformed handshake"),
        VIAL_RESPONSE(403, "an Origin of another site"),
        VIAL_RESPONSE(426, "a plain HTTP request, or another WebSocket version"),
        VIAL_RESPONSE_END },
};

int vial_ws_route(vial_bp *bp, const char *pattern, const vial_ws_handlers *h,
                  const vial_ws_opts *opts)
{
    if (!bp || !pattern || !h || !h->message)
        return VIAL_EINVAL;
    ws_route *rt = calloc(1, sizeof *rt);
    if (!rt)
        return VIAL_ENOMEM;
    rt->h = *h;
    rt->any_origin = opts && opts->any_origin;
    size_t n = 0;
    while (opts && opts->protocols && opts->protocols[n])
        n++;
    rt->protocols = calloc(n + 1, sizeof *rt->protocols);
    if (!rt->protocols) {
        route_free(rt);
        return VIAL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        if (!is_token(opts->protocols[i])) {
            vial__bp_set_error(bp, "WebSocket route '%s': subprotocol '%s' is not a token", pattern,
                               opts->protocols[i]);
            route_free(rt);
            return VIAL_EINVAL;
        }
        if (!(rt->protocols[i] = strdup(opts->protocols[i]))) {
            route_free(rt);
            return VIAL_ENOMEM;
        }
    }
    int rc = vial__bp_ext_set(bp, &route_key, rt, route_free);
    if (rc) {
        route_free(rt);
        return rc;
    }
    /* The blueprint owns `rt` now (freed with it, whatever happens below). */
    return vial_route_add(bp, VIAL_GET, pattern, ws_view,
                          &(vial_route_opts){ .endpoint = opts ? opts->endpoint : NULL, .ud = rt,
                                              .doc = opts && opts->doc ? opts->doc : &ws_doc });
}

static int usable(const vial_ws *ws)
{
    if (!ws)
        return VIAL_EINVAL;
    if (!ws->attached)
        return VIAL_ESTATE;
    if (ws->close_sent || ws->notified || ws->failed)
        return VIAL_ECLOSED;
    return 0;
}

int vial_ws_send(vial_ws *ws, const void *data, size_t len, int binary)
{
    int rc = usable(ws);
    if (rc)
        return rc;
    if (!data && len)
        return VIAL_EINVAL;
    if (!binary) {
        uint32_t st = 0;
        if (vial__utf8_feed(&st, data, len) || st)
            return VIAL_EINVAL; /* a client would fail the connection with 1007 */
    }
    if ((rc = room_for(ws, len)))
        return rc;
    return send_message(ws, binary ? VIAL__WS_BINARY : VIAL__WS_TEXT, data, len);
}

int vial_ws_send_text(vial_ws *ws, const char *text)
{
    if (!text)
        return VIAL_EINVAL;
    return vial_ws_send(ws, text, strlen(text), 0);
}

int vial_ws_ping(vial_ws *ws, const void *data, size_t len)
{
    int rc = usable(ws);
    if (rc)
        return rc;
    if (len > 125 || (!data && len))
        return VIAL_EINVAL;
    if ((rc = room_for(ws, len)))
        return rc;
    return put_frame(ws, VIAL__WS_PING, data, len, false);
}

int vial_ws_close(vial_ws *ws, int code, const char *reason)
{
    int rc = usable(ws);
    if (rc)
        return rc;
    if (code && (code < 1000 || !vial__ws_close_code_ok((unsigned)code)))
        return VIAL_EINVAL;
    size_t rl = reason ? strlen(reason) : 0;
    uint32_t st = 0;
    if (rl > 123 || (rl && !code) || (rl && (vial__utf8_feed(&st, (const unsigned char *)reason, rl) || st)))
        return VIAL_EINVAL;
    send_close(ws, code ? (unsigned)code : VIAL__WS_C_NO_STATUS, reason);
    return 0;
}

void *vial_ws_ud(vial_ws *ws)
{
    return ws ? ws->ud : NULL;
}

void vial_ws_set_ud(vial_ws *ws, void *ud)
{
    if (ws)
        ws->ud = ud;
}

const char *vial_ws_protocol(vial_ws *ws)
{
    return ws ? ws->protocol : NULL;
}

vial_app *vial_ws_app(vial_ws *ws)
{
    return ws ? ws->app : NULL;
}

uint64_t vial_ws_id(vial_ws *ws)
{
    return ws ? ws->id : 0;
}

typedef struct ws_post {
    uint64_t id;
    size_t len;
    int binary;
    char data[];
} ws_post;

static void send_on_worker(void *arg)
{
    ws_post *p = arg;
    vial__conn *c = vial__conn_find(p->id & ((UINT64_C(1) << ID_CONN_BITS) - 1));
    vial_ws *ws = c ? vial__conn_proto(c, &vial__ws_proto) : NULL;
    if (ws)
        vial_ws_send(ws, p->data, p->len, p->binary);
    free(p);
}

int vial_ws_send_to(vial_app *app, uint64_t id, const void *data, size_t len, int binary)
{
    if (!app || !id || (!data && len) || len > SIZE_MAX - sizeof(ws_post))
        return VIAL_EINVAL;
    vial__server *srv = app->server;
    if (!srv)
        return VIAL_ESTATE;
    if (!binary) {
        uint32_t st = 0;
        if (vial__utf8_feed(&st, data, len) || st)
            return VIAL_EINVAL;
    }
    ws_post *p = malloc(sizeof *p + len);
    if (!p)
        return VIAL_ENOMEM;
    p->id = id;
    p->len = len;
    p->binary = binary;
    if (len)
        memcpy(p->data, data, len);
    int rc = vial__post(srv, (int)(id >> ID_CONN_BITS), send_on_worker, p);
    if (rc)
        free(p);
    return rc;
}

void vial__ws_deliver(void *target, const char *topic, const char *data, size_t len)
{
    vial_ws *ws = target;
    if (usable(ws))
        return;
    if (ws->route->h.event) {
        enter(ws);
        ws->route->h.event(ws, topic, data, len);
        leave(ws);
    } else
        vial_ws_send(ws, data, len, 0);
}

/* ------------------------------------------------------------------ topics */

int vial_ws_subscribe(vial_ws *ws, const char *topic)
{
    int rc = usable(ws);
    if (rc)
        return rc;
    if (!topic || !*topic)
        return VIAL_EINVAL;
    for (size_t i = 0; i < ws->ntopics; i++)
        if (!strcmp(ws->topics[i].name, topic))
            return 0; /* once is enough: a message is delivered once */
    if (ws->ntopics == ws->captopics) {
        size_t cap = ws->captopics ? ws->captopics * 2 : 4;
        ws_topic *v = realloc(ws->topics, cap * sizeof *v);
        if (!v)
            return VIAL_ENOMEM;
        ws->topics = v;
        ws->captopics = cap;
    }
    char *name = strdup(topic);
    if (!name)
        return VIAL_ENOMEM;
    vial__sub *sub = vial__subscribe(ws->app, ws->worker, topic, vial__ws_deliver, ws);
    if (!sub) {
        free(name);
        return VIAL_ENOMEM;
    }
    ws->topics[ws->ntopics++] = (ws_topic){ sub, name };
    return 0;
}

int vial_ws_unsubscribe(vial_ws *ws, const char *topic)
{
    if (!ws || !topic)
        return VIAL_EINVAL;
    for (size_t i = 0; i < ws->ntopics; i++)
        if (!strcmp(ws->topics[i].name, topic)) {
            vial__unsubscribe(ws->topics[i].sub);
            free(ws->topics[i].name);
            ws->topics[i] = ws->topics[--ws->ntopics];
            return 0;
        }
    return VIAL_ENOENT;
}

vial_req *vial_ws_request(vial_ws *ws)
{
    if (!ws || !ws->depth || !ws->cw)
        return NULL;
    if (!ws->ctx)
        ws->ctx = vial__req_context(ws->cw, ws->client);
    return ws->ctx;
}

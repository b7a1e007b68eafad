/*
 * sse.c — Server-Sent Events: a text/event-stream response that stays open
 * and sends events as they happen, from the app (vial_sse_send) or from
 * topics it subscribed to (vial_sse_subscribe; each published message
 * becomes an event, or whatever the stream's format callback makes of it).
 *
 * The response is a stream that waits (VIAL_STREAM_WAIT): between events
 * it costs no CPU, and a client that leaves ends it at once (the deferred
 * clean-up unsubscribes).  Events are framed into a queue of the stream's
 * own (malloc'd: the request's arena lives as long as the stream, so
 * nothing per event may come from it), and the stream function, woken on
 * the stream's worker, hands the queue to the connection.  Published
 * messages arrive on that worker already (src/rt/pubsub.c posts them
 * there), so the wake is a direct call, not another post.  The queue is
 * bounded (sse_max_queue): a client that stops reading while events keep
 * coming is closed rather than let grow.  On a tick with nothing sent for
 * sse_heartbeat, a comment line keeps proxies from timing the stream out.
 *
 * Resuming: a client reconnecting sends Last-Event-ID with the id of the
 * last event it saw; the stream's replay callback gets it once, at the
 * start, and sends what was missed.
 */
#include "rt.h"

#include <stdlib.h>

#define QUEUE_KEEP (64u << 10) /* a queue buffer larger than this is given back once sent */

struct vial_sse {
    vial_req *req;
    vial_app *app;
    uint64_t conn_id;   /* on this worker (0: the in-process test client) */
    int worker;
    vial__buf q;        /* framed events the stream has not handed over yet */
    size_t max_queue;
    uint64_t heartbeat_ns, last_ns;
    vial_sse_format_fn format;
    void *ud;
    vial__sub **subs;
    size_t nsubs, capsubs;
    bool started;       /* the stream function ran: sends must wake it */
    bool batching;      /* inside a delivery: wake once, after */
    bool ended, failed, gone;
    bool counted;       /* in vial_sse_streams */
};

/* vial_sse_streams, on every app (set with the keys) */
typedef struct sse_mx {
    vial_metric *streams;
    int64_t s_streams;
} sse_mx;
static const char mx_key = 0;

static void count_stream(vial_sse *s, int d)
{
    sse_mx *mx = vial__app_ext(s->app, &mx_key);
    if (mx)
        vial__metric_add_on(s->app, s->worker, mx->streams, mx->s_streams, d);
}

static void wake(vial_sse *s)
{
    if (!s->started || s->batching || !s->conn_id)
        return;
    vial__conn *c = vial__conn_find(s->conn_id);
    if (c)
        vial__h1_wake(vial__conn_proto(c, &vial__h1_proto));
}

/* Ends the stream abruptly (a client that does not read, a failed
 * callback): the connection goes now, its request's clean-up runs. */
static void fail(vial_sse *s)
{
    if (s->failed)
        return;
    s->failed = true;
    vial__buf_free(&s->q);
    vial__conn *c = s->conn_id ? vial__conn_find(s->conn_id) : NULL;
    if (c)
        vial__conn_abort(c);
}

static int step(vial_req *req, void *ud)
{
    vial_sse *s = ud;
    s->started = true;
    if (s->failed)
        return -1;
    bool sent = false;
    if (s->q.n) {
        int rc = vial_write(req, s->q.p, s->q.n);
        if (rc)
            return rc;
        s->q.n = 0;
        if (s->q.cap > QUEUE_KEEP)
            vial__buf_free(&s->q);
        sent = true;
    }
    if (s->ended)
        return 0;
    uint64_t now = vial__now_ns();
    if (!sent && s->heartbeat_ns && now - s->last_ns >= s->heartbeat_ns) {
        static const char beat[] = ": keep-alive\n\n";
        int rc = vial_write(req, beat, sizeof beat - 1);
        if (rc)
            return rc;
        sent = true;
    }
    if (sent)
        s->last_ns = now;
    return VIAL_STREAM_WAIT;
}

static void sse_end(void *arg)
{
    vial_sse *s = arg;
    s->gone = true;
    if (s->counted)
        count_stream(s, -1);
    s->counted = false;
    for (size_t i = 0; i < s->nsubs; i++)
        vial__unsubscribe(s->subs[i]);
    free(s->subs);
    s->subs = NULL;
    s->nsubs = 0;
    vial__buf_free(&s->q);
}

/* A message published on a topic the stream subscribed to, on its worker. */
static void deliver(void *target, const char *topic, const char *data, size_t len)
{
    vial_sse *s = target;
    if (s->failed || s->ended || s->gone)
        return;
    size_t before = s->q.n;
    s->batching = true;
    int rc = s->format ? s->format(s, topic, data, len, s->ud) : vial_sse_send(s, NULL, NULL, data, len);
    s->batching = false;
    if (rc < 0) {
        vial_req_log(s->req, VIAL_LOG_WARN, "SSE: the format callback failed (%d); closing the stream", rc);
        fail(s);
    } else if (s->q.n > s->max_queue) {
        vial_req_log(s->req, VIAL_LOG_WARN,
                     "SSE: %zu bytes of events wait for a client that does not read (sse_max_queue %zu); closing",
                     s->q.n, s->max_queue);
        fail(s);
    } else if (s->q.n > before) {
        wake(s);
    }
}

static bool field_ok(const char *v)
{
    return !v || !v[strcspn(v, "\r\n")];
}

int vial_sse_send(vial_sse *s, const char *event, const char *id, const char *data, size_t len)
{
    if (!s || (!data && len) || !field_ok(event) || !field_ok(id))
        return VIAL_EINVAL;
    if (s->failed || s->gone)
        return VIAL_ECLOSED;
    if (s->ended)
        return VIAL_ESTATE;
    vial__buf *q = &s->q;
    int rc = 0;
    if (event)
        rc |= vial__buf_puts(q, "event: ") | vial__buf_puts(q, event) | vial__buf_puts(q, "\n");
    if (id)
        rc |= vial__buf_puts(q, "id: ") | vial__buf_puts(q, id) | vial__buf_puts(q, "\n");
    /* One data: line per line of the data; CRLF, LF and CR all end a line
     * (as the client splits them), so none can end the event early. */
    const char *p = data ? data : "", *end = p + len;
    for (;;) {
        const char *e = p;
        while (e < end && *e != '\n' && *e != '\r')
            e++;
        rc |= vial__buf_puts(q, "data: ") | vial__buf_append(q, p, (size_t)(e - p)) | vial__buf_puts(q, "\n");
        if (e == end)
            break;
        if (*e == '\r' && e + 1 < end && e[1] == '\n')
            e++;
        p = e + 1; /* a line break at the very end leaves one empty line, as sent */
    }
    rc |= vial__buf_puts(q, "\n");
    if (rc)
        return VIAL_ENOMEM;
    wake(s);
    return 0;
}

int vial_sse_comment(vial_sse *s, const char *text)
{
    if (!s || !field_ok(text))
        return VIAL_EINVAL;
    if (s->failed || s->gone)
        return VIAL_ECLOSED;
    if (s->ended)
        return VIAL_ESTATE;
    if (vial__buf_puts(&s->q, ":") || (text && *text && (vial__buf_puts(&s->q, " ") || vial__buf_puts(&s->q, text))) ||
        vial__buf_puts(&s->q, "\n\n"))
        return VIAL_ENOMEM;
    wake(s);
    return 0;
}

int vial_sse_subscribe(vial_sse *s, const char *topic)
{
    if (!s || !topic)
        return VIAL_EINVAL;
    if (s->failed || s->gone || s->ended)
        return VIAL_ESTATE;
    if (s->nsubs == s->capsubs) {
        size_t cap = s->capsubs ? s->capsubs * 2 : 4;
        vial__sub **v = realloc(s->subs, cap * sizeof *v);
        if (!v)
            return VIAL_ENOMEM;
        s->subs = v;
        s->capsubs = cap;
    }
    vial__sub *sub = vial__subscribe(s->app, s->worker, topic, deliver, s);
    if (!sub)
        return VIAL_ENOMEM;
    s->subs[s->nsubs++] = sub;
    return 0;
}

int vial_sse_end(vial_sse *s)
{
    if (!s)
        return VIAL_EINVAL;
    s->ended = true;
    s->batching = false;
    /* The last events go out, then the final chunk. */
    if (s->started && s->conn_id) {
        vial__conn *c = vial__conn_find(s->conn_id);
        if (c)
            vial__h1_wake(vial__conn_proto(c, &vial__h1_proto));
    }
    return 0;
}

vial_req *vial_sse_req(vial_sse *s)
{
    return s ? s->req : NULL;
}

vial_sse *vial_sse_begin(vial_req *req, const vial_sse_opts *opts)
{
    static const vial_sse_opts none = { 0 };
    if (!req)
        return NULL;
    if (!opts)
        opts = &none;
    vial_app *app = vial_app_of(req);
    vial_sse *s = vial_alloc(req, sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->req = req;
    s->app = app;
    s->worker = vial_worker_id(req);
    s->conn_id = req->m.conn_id;
    s->format = opts->format;
    s->ud = opts->ud;
    int64_t retry = opts->retry_ms ? opts->retry_ms : vial_config_duration_ms(app, "sse_retry", 0);
    int64_t beat = opts->heartbeat_ms ? opts->heartbeat_ms : vial_config_duration_ms(app, "sse_heartbeat", 15000);
    int64_t maxq = opts->max_queue ? (int64_t)opts->max_queue : vial_config_size(app, "sse_max_queue", 8 << 20);
    s->heartbeat_ns = beat > 0 ? (uint64_t)beat * 1000000u : 0;
    s->max_queue = maxq > 0 ? (size_t)maxq : 8u << 20;
    s->last_ns = vial__now_ns();
    if (vial_defer(req, sse_end, s))
        return NULL;
    s->counted = true; /* sse_end, deferred, takes it back */
    count_stream(s, 1);
    if (vial_stream(req, 200, "text/event-stream", step, s))
        return NULL;
    /* Proxies must neither cache nor buffer it. */
    if (vial_set_header(req, "Cache-Control", "no-cache") || vial_set_header(req, "X-Accel-Buffering", "no"))
        return NULL;
    if (retry > 0 && vial__buf_printf(&s->q, "retry: %" PRId64 "\n\n", retry))
        return NULL;
    for (const char *const *t = opts->topics; t && *t; t++)
        if (vial_sse_subscribe(s, *t)) {
            s->failed = true; /* the stream function ends it at once */
            return s;
        }
    const char *last = vial_header(req, "Last-Event-ID");
    if (opts->replay && last && *last && field_ok(last)) {
        int rc = opts->replay(s, last, s->ud);
        if (rc < 0) {
            vial_req_log(req, VIAL_LOG_WARN, "SSE: replay after id '%s' failed (%d); closing the stream", last, rc);
            s->failed = true; /* the stream function ends it at once */
        }
    }
    return s;
}

/* The settings, on every app (the module has no set-up call). */
static int declare_keys(vial_app *app)
{
    sse_mx *mx = calloc(1, sizeof *mx);
    if (!mx || vial__app_ext_set(app, &mx_key, mx, free)) {
        free(mx);
        return VIAL_ENOMEM;
    }
    mx->streams = vial_gauge(app, "vial_sse_streams", "Open Server-Sent Events streams.", NULL);
    mx->s_streams = vial_metric_series(app, mx->streams, NULL);
    return vial_config_define(app, "sse_heartbeat", "15s",
                              "a comment line on Server-Sent Events streams idle this long (0: none; "
                              "checked on the 5 s tick)") ||
                   vial_config_define(app, "sse_retry", "0",
                                      "the retry: (reconnect delay) each SSE stream starts with (0: none)") ||
                   vial_config_define(app, "sse_max_queue", "8M",
                                      "events queued for an SSE client that does not read before it is closed")
               ? VIAL_EINVAL
               : 0;
}

__attribute__((constructor)) static void sse_keys(void)
{
    vial__app_module_keys(declare_keys);
}

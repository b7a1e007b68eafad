/*
 * serve.c — where the three lower layers meet the app: core's state per
 * worker thread, the vial__handler HTTP sessions answer through, and the
 * loop callbacks that give every new connection an HTTP/1.1 session.
 *
 * Requests are recycled per worker: a finished vial_req keeps its response
 * buffer's pool block and goes on a short spare list, so a keep-alive
 * request costs no malloc, as when the request lived inside the session;
 * but a request is its own object now, so nothing stops a protocol from
 * holding several at once.
 *
 * The headers every response carries (X-Request-Id, and the security
 * defaults a handler did not set itself) are added here, once the handler,
 * its hooks and finishers have had their say: policy is the app's, the
 * serializer in src/http only spells what it is given.
 */
#include "core.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_SPARE 16 /* finished requests kept per worker */

/* ------------------------------------------------------------------ workers */

vial__worker *vial__worker_new(vial_app *app, int id, vial__pool *pool)
{
    vial__worker *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->id = id;
    w->app = app;
    w->pool = pool;
    w->id_prefix = vial__random_u32();
    return w;
}

static void req_destroy(vial_req *req)
{
    vial__buf_free(&req->m.body_out);
    free(req);
}

void vial__worker_free(vial__worker *w)
{
    if (!w)
        return;
    if (w->slots) {
        for (size_t i = 0; i < w->app->nslots; i++)
            if (w->slots[i] && w->app->slots[i].fini)
                w->app->slots[i].fini(w->slots[i], w->app->slots[i].ud);
        free(w->slots);
    }
    while (w->spare) {
        vial_req *r = w->spare;
        w->spare = r->next_spare;
        req_destroy(r);
    }
    free(w);
}

/* ------------------------------------------------------------------ the handler */

static void msg_free(void *ud, vial__msg *m);

static vial__msg *msg_new(void *ud)
{
    vial__worker *w = ud;
    vial_req *req = w->spare;
    if (req) {
        w->spare = req->next_spare;
        w->nspare--;
    } else if (!(req = malloc(sizeof *req))) {
        return NULL;
    } else {
        req->m.body_out = (vial__buf){ .pool = w->pool };
    }
    /* Everything starts from zero but the response buffer, whose block is
     * kept from the request before, and the arrays whose length says what
     * of them is in use (the app's headers, the request id). */
    vial__buf body_out = req->m.body_out;
    memset(req, 0, offsetof(vial_req, m.xh));
    memset(&req->app, 0, offsetof(vial_req, reqid) - offsetof(vial_req, app));
    req->m.body_out = body_out;
    req->m.body_out.n = 0;
    req->m.arena.pool = w->pool;
    req->m.rh_tail = &req->m.rh;
    req->m.file_fd = -1;
    req->m.body_fd = -1;
    req->app = w->app;
    req->w = w;
    if (w->app->access_log || w->app->metrics_on) /* the readers of t0 */
        req->t0_ns = vial__now_ns();
    if (w->app->metrics_on)
        vial__metrics_begin(req);
    return &req->m;
}

/* ------------------------------------------------------------------ request contexts */

vial_req *vial__req_context(vial__worker *w, const char *client)
{
    vial__msg *m = msg_new(w);
    if (!m)
        return NULL;
    vial_req *req = vial__req_of(m);
    if (w->app->metrics_on)
        vial__metrics_end(req); /* not a request in flight: nothing to count */
    m->method = "GET";
    m->method_bit = VIAL_GET;
    m->target = m->path_raw = (vial__str){ "", 0 };
    m->query_raw = (vial__str){ "", 0 };
    m->http_minor = 1;
    m->client = client;
    return req;
}

void vial__req_context_end(vial_req *req)
{
    /* What a view's request gets after the view: the finishers (the
     * database's request transaction commits there), then msg_free's
     * deferred functions and the arena reset. */
    while (req->finishers) {
        vial__finisher *f = req->finishers;
        req->finishers = f->next;
        f->fn(req, f->arg);
    }
    if (req->app->metrics_on)
        vial__metrics_begin(req); /* msg_free ends it: the gauge stays as it was */
    msg_free(req->w, &req->m);
}

static void msg_free(void *ud, vial__msg *m)
{
    vial__worker *w = ud;
    vial_req *req = vial__req_of(m);
    if (req->app->metrics_on)
        vial__metrics_end(req);
    if (m->file_fd >= 0) /* a file response that never went out */
        close(m->file_fd);
    m->file_fd = -1;
    /* Deferred work runs last-in first-out, before the arena goes. */
    while (req->defers) {
        vial__defer *d = req->defers;
        req->defers = d->next;
        d->fn(d->arg);
    }
    if (m->upgrade_proto) /* a switch that did not happen: its state must not leak */
        m->upgrade_proto->close(m->upgrade_ud);
    m->upgrade_proto = NULL;
    if (req->body_map)
        munmap(req->body_map, m->body_len);
    req->body_map = NULL;
    if (m->body_fd >= 0) /* the spooled upload disappears with its descriptor */
        close(m->body_fd);
    m->body_fd = -1;
    vial__arena_reset(&m->arena);
    /* Keep a pool block's worth of response buffer for the next request;
     * give back anything that grew past it. */
    if (m->body_out.cap > VIAL__BLOCK_SIZE)
        vial__buf_release(&m->body_out);
    if (w->nspare < MAX_SPARE) {
        req->next_spare = w->spare;
        w->spare = req;
        w->nspare++;
    } else {
        req_destroy(req);
    }
}

static bool has_header(const vial__msg *m, const char *lname)
{
    for (const vial__rhdr *h = m->rh; h; h = h->next)
        if (vial__streq_ci(h->name, strlen(h->name), lname))
            return true;
    return false;
}

#define STR(lit) ((vial__str){ (lit), sizeof(lit) - 1 })

static void add_xh(vial__msg *m, vial__str name, vial__str value)
{
    if (m->nxh < VIAL__MSG_XH) {
        m->xh[m->nxh].name = name;
        m->xh[m->nxh].value = value;
        m->nxh++;
    }
}

/* The headers every response carries, added last, after the handler, its
 * hooks and finishers had their say. */
static void finish_response(vial_req *req)
{
    vial__msg *m = &req->m;
    m->nxh = 0; /* an error page may have replaced a response */
    const char *id = vial_request_id(req);
    add_xh(m, STR("X-Request-Id"), (vial__str){ id, req->reqid_len });
    const vial_app *app = req->app;
    if (!app->security_headers)
        return;
    /* Safe defaults a handler (or hook) can override by setting its own. */
    bool html = m->ctype && !strncmp(m->ctype, "text/html", 9);
    if (!m->rh || !has_header(m, "x-content-type-options"))
        add_xh(m, STR("X-Content-Type-Options"), STR("nosniff"));
    if (!m->rh || !has_header(m, "referrer-policy"))
        add_xh(m, STR("Referrer-Policy"), STR("strict-origin-when-cross-origin"));
    if (html && app->csp && !has_header(m, "content-security-policy"))
        add_xh(m, STR("Content-Security-Policy"), (vial__str){ app->csp, strlen(app->csp) });
    if (html && !has_header(m, "x-frame-options"))
        add_xh(m, STR("X-Frame-Options"), STR("DENY"));
}

/* What a crash report names (proc.c): the request on this thread. */
static void serving(vial_req *req, vial__serving *s)
{
    s->reqid = vial_request_id(req);
    s->method = req->m.method ? req->m.method : "-";
    s->target = req->m.target.p;
    s->target_len = req->m.target.n;
    vial__proc_serving(s);
}

static void on_request(void *ud, vial__msg *m)
{
    VIAL__UNUSED(ud);
    vial_req *req = vial__req_of(m);
    vial__serving s;
    serving(req, &s);
    vial__app_dispatch(req);
    finish_response(req);
    vial__proc_serving(NULL);
}

static void on_admin_request(void *ud, vial__msg *m)
{
    VIAL__UNUSED(ud);
    vial_req *req = vial__req_of(m);
    vial__serving s;
    serving(req, &s);
    vial__admin_dispatch(req);
    finish_response(req);
    vial__proc_serving(NULL);
}

static void on_error(void *ud, vial__msg *m, int status, const char *why)
{
    VIAL__UNUSED(ud);
    vial_req *req = vial__req_of(m);
    vial__app_protocol_error(req, status, why);
    finish_response(req);
}

static int on_stream(void *ud, vial__msg *m)
{
    VIAL__UNUSED(ud);
    vial_req *req = vial__req_of(m);
    vial__serving s;
    serving(req, &s);
    int r = req->stream_fn(req, req->stream_ud);
    vial__proc_serving(NULL);
    if (r >= 0 && req->jw && req->jw->err)
        r = req->jw->err;
    if (r < 0)
        vial_req_log(req, VIAL_LOG_ERROR, "stream ended with error %d; closing the connection", r);
    return r;
}

static void on_done(void *ud, vial__msg *m)
{
    VIAL__UNUSED(ud);
    vial_req *req = vial__req_of(m);
    if (req->app->metrics_on && !req->admin) /* scrapes are not the app's traffic */
        vial__metrics_done(req);
    if (!req->app->access_log)
        return;
    vial__access a = {
        .client = m->method ? vial_client_addr(req) : m->client,
        .method = m->method,
        .target = m->target.p,
        .target_len = m->target.n,
        .status = m->status,
        .bytes = m->bytes_out,
        .t0_ns = req->t0_ns,
        .reqid = vial_request_id(req),
    };
    vial__access_log(&a);
}

const vial__handler vial__core_handler = { msg_new, msg_free, on_request, on_error, on_stream, on_done };
static const vial__handler admin_handler = { msg_new, msg_free, on_admin_request, on_error, on_stream, on_done };

/* ------------------------------------------------------------------ serving */

static void *worker_start(void *ud, int id, vial__pool *pool)
{
    return vial__worker_new(ud, id, pool);
}

static void worker_stop(void *ud, void *ws)
{
    VIAL__UNUSED(ud);
    vial__worker_free(ws);
}

static const vial__proto *accept_conn(void *ws, const char *client, bool admin, void **pud)
{
    vial__worker *w = ws;
    *pud = vial__h1_new(&w->app->lim.h1, admin ? &admin_handler : &vial__core_handler, w, w->pool, client);
    return *pud ? &vial__h1_proto : NULL;
}

static const vial__loop_ops loop_ops = { worker_start, worker_stop, accept_conn, NULL };

int vial__serve(vial_app *app)
{
    int64_t port = vial_config_int(app, "port", -1);
    if (port < 0 || port > 65535) {
        vial_log(VIAL_LOG_ERROR, "config port: '%s' is not a port number", vial_config(app, "port"));
        return 1;
    }
    int64_t nw = vial_config_int(app, "workers", -1);
    if (nw < 0 || nw > 1024) {
        vial_log(VIAL_LOG_ERROR, "config workers: '%s' is not 0..1024", vial_config(app, "workers"));
        return 1;
    }
    int rc = vial__loop_serve(&app->lim.loop, &loop_ops, app, &app->server);
    app->served = true;
    return rc;
}

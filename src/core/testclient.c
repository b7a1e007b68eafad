/*
 * testclient.c — Flask's test_client for vial: requests run through the
 * real HTTP/1.1 session (llhttp, limits, routing, hooks, serialization)
 * over a transport that writes into memory, in the calling thread.  The
 * unit tests and the fuzz target use it; so can applications' own tests.
 */
#include "core.h"

#include <stdlib.h>

struct vial_test_resp {
    vial__buf out;   /* everything written */
    int status;
    size_t head_len; /* of the first response's head */
    vial__buf body;  /* decoded body of the first response */
    vial__buf hdrs;  /* the first response's header lines, NUL-terminated */
    bool closed;
    /* the transport's side */
    vial__outq q;
    int phase;
    /* a protocol switch (a 101) waiting for the end of the read */
    const vial__proto *next;
    void *next_ud;
    char *rest;
    size_t rest_n;
};

static void t_want_write(void *ud)
{
    vial_test_resp *r = ud;
    vial__outq *q = &r->q;
    struct iovec iov[64];
    while (q->bytes) {
        int fd;
        uint64_t off;
        size_t len;
        if (vial__outq_head_file(q, &fd, &off, &len) && vial__outq_file_chunk(q, 1 << 20))
            break; /* an unreadable file: the output ends here */
        size_t n = vial__outq_iov(q, iov, 64), total = 0;
        for (size_t i = 0; i < n; i++) {
            vial__buf_append(&r->out, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        vial__outq_consume(q, total);
    }
}

static void t_want_close(void *ud, bool now)
{
    VIAL__UNUSED(now);
    vial_test_resp *r = ud;
    r->closed = true;
}

static void t_phase(void *ud, int phase)
{
    vial_test_resp *r = ud;
    r->phase = phase;
}

/* A 101: once the read that brought the request is processed, the
 * connection speaks `proto` (run() switches), as a server connection does
 * once the 101 is written; so a WebSocket runs in process too. */
static int t_upgrade(void *ud, const vial__proto *proto, void *pud, const char *rest, size_t n)
{
    vial_test_resp *r = ud;
    if (r->next || (n && !(r->rest = malloc(n)))) {
        proto->close(pud);
        return VIAL_ENOMEM;
    }
    if (n)
        memcpy(r->rest, rest, n);
    r->rest_n = n;
    r->next = proto;
    r->next_ud = pud;
    t_want_write(r); /* the 101 goes out first */
    return 0;
}

/* No stop signal and no connection id: a memory transport has neither. */
static const vial__transport test_transport = { .want_write = t_want_write,
                                                .want_close = t_want_close,
                                                .phase = t_phase,
                                                .upgrade = t_upgrade };

/* After a 101: the old protocol goes, the new one takes the connection
 * and the bytes that came after the request. */
static void switch_proto(vial_test_resp *r, const vial__proto **p, void **s)
{
    (*p)->close(*s);
    *p = r->next;
    *s = r->next_ud;
    r->next = NULL;
    r->next_ud = NULL;
    (*p)->attach(*s, &test_transport, r, &r->q);
    char *rest = r->rest;
    size_t n = r->rest_n;
    r->rest = NULL;
    r->rest_n = 0;
    if (n && !r->closed)
        (*p)->received(*s, rest, n);
    free(rest);
    t_want_write(r);
}

static const char *find_crlf2(const char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++)
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' && p[i + 3] == '\n')
            return p + i;
    return NULL;
}

/* Finds the first final response (101 included) and decodes its body;
 * after a 101 the body is everything the new protocol wrote. */
static void parse_first(vial_test_resp *r, bool head)
{
    const char *p = r->out.p, *end = r->out.p + r->out.n;
    while (p && p < end) {
        const char *he = find_crlf2(p, (size_t)(end - p));
        if (!he || end - p < 12 || memcmp(p, "HTTP/1.", 7) != 0)
            return;
        int status = atoi(p + 9);
        const char *next = he + 4;
        if (status >= 100 && status < 200 && status != 101) {
            p = next;
            continue;
        }
        r->status = status;
        /* Header lines become "name\0value\0" pairs. */
        const char *line = memchr(p, '\n', (size_t)(he - p));
        while (line && line < he) {
            const char *ls = line + 1;
            const char *le = memchr(ls, '\r', (size_t)(he + 2 - ls));
            if (!le)
                break;
            const char *colon = memchr(ls, ':', (size_t)(le - ls));
            if (colon) {
                const char *v = colon + 1;
                while (v < le && *v == ' ')
                    v++;
                vial__buf_append(&r->hdrs, ls, (size_t)(colon - ls));
                vial__buf_append(&r->hdrs, "", 1);
                vial__buf_append(&r->hdrs, v, (size_t)(le - v));
                vial__buf_append(&r->hdrs, "", 1);
            }
            line = le + 1;
        }
        vial__buf_append(&r->hdrs, "", 1);
        r->head_len = (size_t)(next - r->out.p);
        const char *te = vial_test_header(r, "transfer-encoding");
        const char *cl = vial_test_header(r, "content-length");
        if (head || status == 204 || status == 304) {
            /* no body */
        } else if (te && strstr(te, "chunked")) {
            const char *q = next;
            while (q < end) {
                char *e;
                unsigned long n = strtoul(q, &e, 16);
                const char *nl = memchr(q, '\n', (size_t)(end - q));
                if (!nl || e == q)
                    break;
                q = nl + 1;
                if (n == 0 || (size_t)(end - q) < n)
                    break;
                vial__buf_append(&r->body, q, n);
                q += n + 2;
            }
        } else if (cl) {
            size_t n = (size_t)strtoull(cl, NULL, 10);
            if (n > (size_t)(end - next))
                n = (size_t)(end - next);
            vial__buf_append(&r->body, next, n);
        } else {
            vial__buf_append(&r->body, next, (size_t)(end - next));
        }
        vial__buf_nul(&r->body);
        return;
    }
}

/* The test client's worker and its block pool, made on first use and hung
 * on the app, which frees them with itself. */
typedef struct test_state {
    vial__worker *w;
    vial__pool pool;
} test_state;

static const char test_key = 0;

static void test_state_free(void *p)
{
    test_state *t = p;
    vial__worker_free(t->w);
    vial__pool_drain(&t->pool);
    free(t);
}

vial__worker *vial__test_worker(vial_app *app)
{
    test_state *t = vial__app_ext(app, &test_key);
    if (t)
        return t->w;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->pool.max = 1024;
    if (!(t->w = vial__worker_new(app, 0, &t->pool)) ||
        vial__app_ext_set(app, &test_key, t, test_state_free)) {
        test_state_free(t);
        return NULL;
    }
    return t->w;
}

static vial_test_resp *run(vial_app *app, const char *bytes, size_t len, bool head)
{
    if (!app)
        return NULL;
    if (vial__app_compile(app)) {
        vial_log(VIAL_LOG_ERROR, "test client: cannot compile routes: %s",
                 app->error ? app->error : "?");
        return NULL;
    }
    vial__worker *w = vial__test_worker(app);
    if (!w)
        return NULL;
    /* Like a server, the app is started once: migrations, opened files ... */
    if (!app->started && vial__run_start_hooks(app)) {
        vial_log(VIAL_LOG_ERROR, "test client: the app's start-up hooks failed");
        return NULL;
    }
    vial_test_resp *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    const vial__proto *p = &vial__h1_proto;
    void *s = vial__h1_new(&app->lim.h1, &vial__core_handler, w, w->pool, "127.0.0.1");
    if (!s) {
        free(r);
        return NULL;
    }
    r->q.coal.pool = w->pool;
    p->attach(s, &test_transport, r, &r->q);
    /* As a connection does: into the session's own buffer when it has one,
     * else from "scratch" (here: the caller's bytes), which it copies. */
    size_t off = 0;
    while (off < len && !r->closed) {
        size_t chunk = len - off;
        if (chunk > 65536)
            chunk = 65536;
        char *buf;
        size_t room;
        int rc = p->rbuf(s, chunk, &buf, &room);
        if (rc < 0)
            break; /* refused (it answered 431): it reads no more */
        if (rc > 0) {
            p->received(s, bytes + off, chunk);
        } else {
            if (chunk > room)
                chunk = room;
            memcpy(buf, bytes + off, chunk);
            p->received(s, buf, chunk);
        }
        off += chunk;
        /* A stream runs to its end: the "client" reads everything at once. */
        while (r->phase == VIAL__PH_WRITE && !r->closed) {
            p->drained(s);
            t_want_write(r);
        }
        if (r->next)
            switch_proto(r, &p, &s);
    }
    t_want_write(r);
    if (r->next) /* a 101 on the last read: switch, then the connection ends */
        switch_proto(r, &p, &s);
    p->close(s);
    vial__outq_free(&r->q);
    vial__buf_nul(&r->out);
    parse_first(r, head);
    return r;
}

vial_test_resp *vial_test_raw(vial_app *app, const void *bytes, size_t len)
{
    return run(app, bytes, len, len >= 5 && !memcmp(bytes, "HEAD ", 5));
}

vial_test_resp *vial_test(vial_app *app, const char *method, const char *target,
                          const char *headers, const void *body, size_t body_len)
{
    if (!app || !method || !target)
        return NULL;
    vial__buf b = { 0 };
    int rc = vial__buf_printf(&b, "%s %s HTTP/1.1\r\nHost: localhost\r\n", method, target);
    if (!rc && headers)
        rc = vial__buf_puts(&b, headers);
    if (!rc && (body || strcmp(method, "GET")) && !(headers && strcasestr(headers, "transfer-encoding")))
        rc = vial__buf_printf(&b, "Content-Length: %zu\r\n", body ? body_len : 0);
    if (!rc)
        rc = vial__buf_puts(&b, "\r\n");
    if (!rc && body)
        rc = vial__buf_append(&b, body, body_len);
    vial_test_resp *r = rc ? NULL : run(app, b.p, b.n, !strcmp(method, "HEAD"));
    vial__buf_free(&b);
    return r;
}

int vial_test_status(const vial_test_resp *r)
{
    return r ? r->status : 0;
}

const char *vial_test_header(const vial_test_resp *r, const char *name)
{
    if (!r || !r->hdrs.p || !name)
        return NULL;
    size_t nl = strlen(name);
    for (const char *p = r->hdrs.p; p < r->hdrs.p + r->hdrs.n && *p;) {
        const char *v = p + strlen(p) + 1;
        if (strlen(p) == nl && vial__strneq_ci(p, name, nl))
            return v;
        p = v + strlen(v) + 1;
    }
    return NULL;
}

const char *vial_test_body(const vial_test_resp *r, size_t *len)
{
    if (len)
        *len = r ? r->body.n : 0;
    return r && r->body.p ? r->body.p : "";
}

const char *vial_test_output(const vial_test_resp *r, size_t *len)
{
    if (len)
        *len = r ? r->out.n : 0;
    return r && r->out.p ? r->out.p : "";
}

void vial_test_free(vial_test_resp *r)
{
    if (!r)
        return;
    vial__buf_free(&r->out);
    vial__buf_free(&r->body);
    vial__buf_free(&r->hdrs);
    free(r);
}

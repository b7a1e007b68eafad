/*
 * http.c — one HTTP/1.1 session: llhttp glue, limits, pipelining.
 *
 * The session owns a read buffer.  New bytes are appended after what is
 * already there and only the new bytes are fed to llhttp, so every span
 * llhttp reports (URL, header names and values) is contiguous in the
 * buffer; spans are kept as offsets, not pointers, which survives moving
 * the buffer.  llhttp pauses at the end of each message (on_message_complete
 * returns HPE_PAUSED); the request is then dispatched outside any parser
 * callback, and parsing resumes at the next pipelined request only once the
 * response is queued.  Responses therefore leave in request order, and the
 * whole batch read in one go is answered with one write.
 *
 * Limits are checked before any arithmetic on wire data: URI length (414),
 * header bytes and count (431), body size (413, before reading a byte of
 * it when Content-Length says so).  Request smuggling vectors are refused:
 * llhttp rejects CL+TE, duplicate Content-Length, bare LF and bad chunk
 * sizes; this file adds obs-fold, whitespace before the colon, transfer
 * codings other than chunked (501) and versions other than 1.x (505).
 *
 * Nothing here does I/O: a vial__transport moves the bytes, so the test
 * client and the fuzz target run exactly this code without sockets.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define RBUF_BODY_CAP (256 * 1024) /* read buffer size while a big body arrives */

static llhttp_settings_t settings;
static void protocol_error(vial__session *s, llhttp_errno_t err);

static inline vial__session *S(llhttp_t *p)
{
    return p->data;
}

static void set_phase(vial__session *s, int phase)
{
    if (s->phase == phase)
        return;
    s->phase = phase;
    if (s->tp->phase)
        s->tp->phase(s, phase);
}

static int fail(vial__session *s, int status, const char *msg)
{
    if (!s->pending_status) {
        s->pending_status = status;
        s->pending_msg = msg;
    }
    return -1; /* llhttp turns this into HPE_USER */
}

/* ------------------------------------------------------------------ llhttp callbacks */

static void body_file_drop(vial__session *s)
{
    if (s->body_fd >= 0)
        close(s->body_fd);
    s->body_fd = -1;
    s->body_file_len = 0;
}

/* An unnamed temporary file in upload_dir (gone when closed). */
static int spool_open(const char *dir)
{
    int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return fd;
    char path[4096];
    snprintf(path, sizeof path, "%s/vial-upload-XXXXXX", dir);
    fd = mkostemp(path, O_CLOEXEC);
    if (fd >= 0)
        unlink(path);
    return fd;
}

static int on_message_begin(llhttp_t *p)
{
    vial__session *s = S(p);
    body_file_drop(s);
    s->in_msg = true;
    s->url_off = s->url_len = 0;
    s->nhs = 0;
    s->hdr_bytes = 0;
    s->in_value = false;
    s->hdrs_done = false;
    s->expect_continue = false;
    s->pending_status = 0;
    s->pending_msg = NULL;
    s->body.n = 0;
    set_phase(s, VIAL__PH_HEADERS);
    return 0;
}

static int count_header_bytes(vial__session *s, size_t len)
{
    s->hdr_bytes += len;
    if (s->hdr_bytes > s->app->lim.max_header_bytes)
        return fail(s, 431, "request headers are too large");
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    vial__session *s = S(p);
    uint32_t off = (uint32_t)(at - s->rbuf);
    if (s->url_len == 0)
        s->url_off = off;
    s->url_len += (uint32_t)len;
    if (s->url_len > s->app->lim.max_uri)
        return fail(s, 414, "request URI is too long");
    return count_header_bytes(s, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    vial__session *s = S(p);
    if (s->hdrs_done)
        return count_header_bytes(s, len); /* a trailer: counted, not kept (RFC 9110 6.5.1) */
    uint32_t off = (uint32_t)(at - s->rbuf);
    struct vial__hspan *h = s->nhs ? &s->hs[s->nhs - 1] : NULL;
    if (h && !s->in_value && h->noff + h->nlen == off) {
        h->nlen += (uint32_t)len; /* the name continues from the last read */
    } else {
        if (s->nhs >= s->app->lim.max_headers)
            return fail(s, 431, "too many request headers");
        if (s->nhs == s->hs_cap) {
            size_t cap = s->hs_cap ? s->hs_cap * 2 : 16;
            struct vial__hspan *n = realloc(s->hs, cap * sizeof *n);
            if (!n)
                return fail(s, 500, "out of memory");
            s->hs = n;
            s->hs_cap = cap;
        }
        s->hs[s->nhs++] = (struct vial__hspan){ off, (uint32_t)len, 0, 0 };
        s->in_value = false;
    }
    return count_header_bytes(s, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    vial__session *s = S(p);
    if (s->hdrs_done)
        return count_header_bytes(s, len);
    uint32_t off = (uint32_t)(at - s->rbuf);
    struct vial__hspan *h = &s->hs[s->nhs - 1];
    if (!s->in_value) {
        h->voff = off;
        h->vlen = (uint32_t)len;
        s->in_value = true;
    } else if (h->voff + h->vlen == off) {
        h->vlen += (uint32_t)len;
    } else {
        /* A second piece of the same value that is not adjacent: the line
         * was folded (obs-fold), which RFC 9112 lets a server reject and
         * which proxies disagree about. */
        return fail(s, 400, "obsolete line folding in a header");
    }
    return count_header_bytes(s, len);
}

static bool is_ws(char c)
{
    return c == ' ' || c == '\t';
}

static const struct vial__hspan *find_hdr(const vial__session *s, const char *name, size_t from)
{
    for (size_t i = from; i < s->nhs; i++)
        if (vial__streq_ci(s->rbuf + s->hs[i].noff, s->hs[i].nlen, name))
            return &s->hs[i];
    return NULL;
}

/* Every coding listed in every Transfer-Encoding field must be "chunked". */
static bool te_supported(const vial__session *s)
{
    for (size_t i = 0; i < s->nhs; i++) {
        const struct vial__hspan *h = &s->hs[i];
        if (!vial__streq_ci(s->rbuf + h->noff, h->nlen, "transfer-encoding"))
            continue;
        const char *v = s->rbuf + h->voff, *end = v + h->vlen;
        while (v < end) {
            while (v < end && (is_ws(*v) || *v == ','))
                v++;
            const char *t = v;
            while (v < end && *v != ',')
                v++;
            const char *te = v;
            while (te > t && is_ws(te[-1]))
                te--;
            if (te > t && !vial__streq_ci(t, (size_t)(te - t), "chunked"))
                return false;
        }
    }
    return true;
}

static int on_headers_complete(llhttp_t *p)
{
    vial__session *s = S(p);
    const vial__limits *lim = &s->app->lim;
    /* Trailer fields of a chunked body arrive through the same callbacks
     * later; they are not kept (their bytes may already be compacted away). */
    s->hdrs_done = true;
    if (p->http_major != 1)
        return fail(s, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
    size_t hosts = 0;
    s->reqid_hdr = 0;
    for (size_t i = 0; i < s->nhs; i++) {
        const char *n = s->rbuf + s->hs[i].noff;
        if (s->hs[i].nlen == 0)
            return fail(s, 400, "a header without a name");
        for (uint32_t k = 0; k < s->hs[i].nlen; k++)
            if (is_ws(n[k]))
                return fail(s, 400, "whitespace in a header name");
        hosts += vial__streq_ci(n, s->hs[i].nlen, "host");
        if (!s->reqid_hdr && vial__streq_ci(n, s->hs[i].nlen, "x-request-id"))
            s->reqid_hdr = (uint32_t)i + 1; /* found once here, not per lookup */
    }
    /* RFC 9112 3.2: exactly one Host in HTTP/1.1 (a server MUST answer 400). */
    if (p->http_minor >= 1 && hosts != 1)
        return fail(s, 400, hosts ? "more than one Host header" : "missing Host header");
    if (p->flags & F_TRANSFER_ENCODING) {
        if (p->http_minor == 0)
            return fail(s, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (!te_supported(s))
            return fail(s, 501, "unsupported transfer coding (only chunked is implemented)");
    }
    bool has_body = (p->flags & F_CHUNKED) || ((p->flags & F_CONTENT_LENGTH) && p->content_length);
    /* Uploads (multipart/form-data) stream to a temporary file under their
     * own limit; everything else is held in memory under max_body. */
    const struct vial__hspan *ct = find_hdr(s, "content-type", 0);
    bool multipart = has_body && ct && ct->vlen >= 19 &&
                     vial__strneq_ci(s->rbuf + ct->voff, "multipart/form-data", 19);
    uint64_t limit = multipart ? lim->max_upload : lim->max_body;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > limit)
        return fail(s, 413, "request body is larger than the limit");
    if (multipart && (s->body_fd = spool_open(lim->upload_dir)) < 0)
        return fail(s, 503, "cannot create a temporary file for the upload");
    const struct vial__hspan *ex = find_hdr(s, "expect", 0);
    if (ex) {
        const char *v = s->rbuf + ex->voff;
        size_t vn = ex->vlen;
        while (vn && is_ws(v[vn - 1]))
            vn--;
        if (!vial__streq_ci(v, vn, "100-continue"))
            return fail(s, 417, "only the 100-continue expectation is supported");
        s->expect_continue = has_body && p->http_minor >= 1;
    }
    if (s->body_fd < 0 && (p->flags & F_CONTENT_LENGTH) && p->content_length &&
        vial__buf_reserve(&s->body, (size_t)p->content_length))
        return fail(s, 503, "out of memory for the request body");
    /* The spans end here; body bytes after this point may be dropped from the
     * read buffer once copied (see compact()). */
    uint32_t end = s->url_off + s->url_len;
    for (size_t i = 0; i < s->nhs; i++) {
        uint32_t e = s->hs[i].vlen ? s->hs[i].voff + s->hs[i].vlen : s->hs[i].noff + s->hs[i].nlen;
        if (e > end)
            end = e;
    }
    s->spans_end = end;
    if (s->expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (vial__outq_append(&s->out, cont, sizeof cont - 1))
            return fail(s, 503, "out of memory");
        s->tp->want_write(s);
    }
    if (has_body)
        set_phase(s, VIAL__PH_BODY);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    vial__session *s = S(p);
    if (s->body_fd >= 0) {
        if (s->body_file_len + len > s->app->lim.max_upload)
            return fail(s, 413, "upload is larger than the limit");
        while (len) {
            ssize_t w = write(s->body_fd, at, len);
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return fail(s, 507, "cannot store the upload (disk full?)");
            at += w;
            len -= (size_t)w;
            s->body_file_len += (uint64_t)w;
        }
        return 0;
    }
    if (s->body.n + len > s->app->lim.max_body)
        return fail(s, 413, "request body is larger than the limit");
    if (vial__buf_append(&s->body, at, len))
        return fail(s, 503, "out of memory for the request body");
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    VIAL__UNUSED(p);
    return HPE_PAUSED; /* dispatch outside the parser; see process() */
}

static void settings_init(void)
{
    /* Written once, identically, by whichever thread comes first. */
    static atomic_int done;
    if (atomic_load_explicit(&done, memory_order_acquire))
        return;
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_message_begin = on_message_begin;
    st.on_url = on_url;
    st.on_header_field = on_header_field;
    st.on_header_value = on_header_value;
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_message_complete;
    settings = st;
    atomic_store_explicit(&done, 1, memory_order_release);
}

/* ------------------------------------------------------------------ session lifecycle */

int vial__session_init(vial__session *s, vial__worker *w, const vial__transport *tp, void *ud,
                       const char *client)
{
    memset(s, 0, sizeof *s);
    settings_init();
    llhttp_t *p = malloc(sizeof *p);
    if (!p)
        return VIAL_ENOMEM;
    llhttp_init(p, HTTP_REQUEST, &settings);
    p->data = s;
    s->parser = p;
    s->tp = tp;
    s->tp_ud = ud;
    s->w = w;
    s->app = w->app;
    s->client = client;
    s->arena.pool = &w->pool;
    s->body.pool = &w->pool;
    s->resp_body.pool = &w->pool;
    s->out.coal.pool = &w->pool;
    s->phase = VIAL__PH_IDLE;
    s->body_fd = -1;
    return 0;
}

static void rbuf_release(vial__session *s)
{
    if (s->rbuf_pooled)
        vial__pool_put(&s->w->pool, s->rbuf);
    else
        free(s->rbuf);
    s->rbuf = NULL;
    s->rcap = s->rlen = s->fed = 0;
    s->rbuf_pooled = false;
}

static void request_release(vial__session *s)
{
    if (!s->req_live)
        return;
    vial__req_end(&s->req);
    s->req_live = false;
    vial__arena_reset(&s->arena);
    /* Keep a pool block's worth of buffer for the next request; give back
     * anything that grew past it. */
    if (s->resp_body.cap > VIAL__BLOCK_SIZE)
        vial__buf_release(&s->resp_body);
    s->resp_body.n = 0;
    if (s->body.cap > VIAL__BLOCK_SIZE)
        vial__buf_release(&s->body);
    s->body.n = 0;
}

void vial__session_free(vial__session *s)
{
    request_release(s);
    body_file_drop(s);
    rbuf_release(s);
    vial__buf_free(&s->body);
    vial__buf_free(&s->resp_body);
    vial__outq_free(&s->out);
    vial__arena_reset(&s->arena);
    free(s->hs);
    free(s->parser);
    s->parser = NULL;
}

void vial__session_idle_trim(vial__session *s)
{
    if (s->in_msg || s->req_live || s->rlen || s->out.bytes)
        return;
    /* Pool blocks go back (pointer pushes); the small malloc'd arrays (header
     * spans, output segments: a few hundred bytes) stay, or every keep-alive
     * request would pay for malloc/free pairs. */
    rbuf_release(s);
    vial__buf_release(&s->body);
    vial__buf_release(&s->resp_body);
    vial__buf_release(&s->out.coal);
}

int vial__session_rbuf(vial__session *s, size_t min)
{
    /* While a large body streams in, read in big gulps: it is copied out at
     * once, so the buffer does not grow with the body. */
    llhttp_t *p = s->parser;
    size_t want = s->rlen + min;
    if (s->phase == VIAL__PH_BODY && p->content_length > VIAL__BLOCK_SIZE)
        want = s->rlen + (p->content_length < RBUF_BODY_CAP ? (size_t)p->content_length
                                                             : RBUF_BODY_CAP);
    if (want <= s->rcap)
        return 0;
    if (!s->rbuf && want <= VIAL__BLOCK_SIZE) {
        s->rbuf = vial__pool_get(&s->w->pool);
        if (!s->rbuf)
            return VIAL_ENOMEM;
        s->rcap = VIAL__BLOCK_SIZE;
        s->rbuf_pooled = true;
        return 0;
    }
    /* Headers beyond a block (up to the limit) or a body gulp. */
    size_t cap = s->rcap ? s->rcap * 2 : VIAL__BLOCK_SIZE;
    while (cap < want)
        cap *= 2;
    size_t hard = s->app->lim.max_header_bytes + RBUF_BODY_CAP + VIAL__BLOCK_SIZE;
    if (cap > hard)
        cap = hard;
    if (cap < want) {
        /* Only a header section can get here (bodies are copied out as they
         * arrive): it is too large however it is counted. */
        s->pending_status = 431;
        s->pending_msg = "request headers are too large";
        protocol_error(s, HPE_USER);
        return VIAL_ETOOBIG;
    }
    char *n = malloc(cap);
    if (!n)
        return VIAL_ENOMEM;
    if (s->rlen)
        memcpy(n, s->rbuf, s->rlen);
    if (s->rbuf_pooled)
        vial__pool_put(&s->w->pool, s->rbuf);
    else
        free(s->rbuf);
    s->rbuf = n;
    s->rcap = cap;
    s->rbuf_pooled = false;
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

/* Trims trailing whitespace of a span and NUL-terminates it in place.  The
 * byte after a span is always a delimiter llhttp has consumed ('\r', ':' or
 * ' '), so overwriting it is safe once the message is complete. */
static vial__str span_z(vial__session *s, uint32_t off, uint32_t len)
{
    char *p = s->rbuf + off;
    while (len && is_ws(p[len - 1]))
        len--;
    p[len] = '\0';
    return (vial__str){ p, len };
}

static int fill_request(vial__session *s, vial_req *req)
{
    llhttp_t *p = s->parser;
    unsigned m = p->method;
    req->method = llhttp_method_name((llhttp_method_t)m);
    req->method_bit = vial__method_bit(req->method, strlen(req->method));
    req->head = req->method_bit == VIAL_HEAD;
    req->http_minor = p->http_minor;
    req->keep_alive = llhttp_should_keep_alive(p) != 0;
    req->target = span_z(s, s->url_off, s->url_len);
    req->nhdrs = s->nhs;
    req->reqid_hdr = s->reqid_hdr;
    if (s->nhs) {
        req->hdrs = vial__arena_alloc(&s->arena, s->nhs * sizeof *req->hdrs);
        if (!req->hdrs)
            return VIAL_ENOMEM;
        for (size_t i = 0; i < s->nhs; i++) {
            const struct vial__hspan *h = &s->hs[i];
            req->hdrs[i].name = span_z(s, h->noff, h->nlen);
            if (h->vlen)
                req->hdrs[i].value = span_z(s, h->voff, h->vlen);
            else
                req->hdrs[i].value = (vial__str){ "", 0 };
        }
    }
    if (s->body_fd >= 0) {
        /* The request owns the spooled body from here; vial_body() maps it. */
        req->body_fd = s->body_fd;
        req->body_len = (size_t)s->body_file_len;
        s->body_fd = -1;
        s->body_file_len = 0;
    } else if (s->body.n) {
        if (vial__buf_nul(&s->body))
            return VIAL_ENOMEM;
        req->body = s->body.p;
        req->body_len = s->body.n;
    }
    /* origin-form "/p?q", absolute-form "http://host/p?q", asterisk-form "*"
     * (OPTIONS only; answered by the app for the whole server). */
    const char *t = req->target.p;
    size_t tn = req->target.n;
    if (memchr(t, '#', tn))
        return VIAL_EPARSE; /* a fragment never belongs in a request target */
    if (tn == 1 && t[0] == '*' && req->method_bit == VIAL_OPTIONS) {
        req->path_raw = (vial__str){ t, 1 };
        req->query_raw = (vial__str){ "", 0 };
        return 0;
    }
    if (tn >= 7 && (vial__strneq_ci(t, "http://", 7) || (tn >= 8 && vial__strneq_ci(t, "https://", 8)))) {
        const char *a = strstr(t, "://") + 3;
        const char *rest = a;
        while (rest < t + tn && *rest != '/' && *rest != '?')
            rest++;
        if (rest == a)
            return VIAL_EPARSE; /* no authority */
        if (rest == t + tn || *rest == '?') {
            /* "http://host" or "http://host?q": the path is "/" (RFC 9112 3.2.2) */
            req->path_raw = (vial__str){ "/", 1 };
            req->query_raw = rest < t + tn ? (vial__str){ rest + 1, (size_t)(t + tn - rest - 1) }
                                           : (vial__str){ "", 0 };
            return 0;
        }
        tn -= (size_t)(rest - t);
        t = rest;
    }
    if (tn == 0 || t[0] != '/')
        return VIAL_EPARSE;
    const char *q = memchr(t, '?', tn);
    req->path_raw = (vial__str){ t, q ? (size_t)(q - t) : tn };
    req->query_raw = q ? (vial__str){ q + 1, tn - (size_t)(q + 1 - t) } : (vial__str){ "", 0 };
    return 0;
}

static void request_done(vial__session *s)
{
    vial_req *req = &s->req;
    if (s->app->access_log)
        vial__access_log(req, s->bytes_out);
    if (!req->keep_alive || s->draining)
        s->closing = true;
    request_release(s);
    s->consumed = s->msg_end;
    s->in_msg = false;
    s->paused = false;
    set_phase(s, s->closing ? VIAL__PH_CLOSING : VIAL__PH_IDLE);
}

/* Runs the request that llhttp just completed. */
static void dispatch(vial__session *s)
{
    vial_req *req = &s->req;
    vial__req_start(req, s);
    s->req_live = true;
    s->bytes_out = 0;
    set_phase(s, VIAL__PH_HANDLER);
    int rc = fill_request(s, req);
    if (rc) {
        /* Refused before routing, like a parse error: answer and close. */
        req->keep_alive = false;
        vial__app_protocol_error(req, rc == VIAL_ENOMEM ? 503 : 400,
                                 rc == VIAL_ENOMEM ? "out of memory" : "malformed request target");
    } else {
        vial__app_dispatch(req);
    }

    if (req->streaming) {
        int r = vial__resp_stream_step(req);
        if (r > 0) {
            s->paused = true;
            set_phase(s, VIAL__PH_WRITE);
            return;
        }
        if (r < 0) {
            vial_req_log(req, VIAL_LOG_ERROR, "stream ended with error %d; closing the connection", r);
            req->keep_alive = false;
        }
    } else if (vial__resp_finish(req)) {
        vial_req_log(req, VIAL_LOG_ERROR, "out of memory writing the response; closing");
        req->keep_alive = false;
    }
    const vial__proto *proto = req->upgrade_proto;
    void *ud = req->upgrade_ud;
    int status = req->status;
    bool switching = proto && status == 101 && req->keep_alive && s->tp->upgrade;
    request_done(s);
    if (!proto) {
        if (status == 101)
            s->closing = true; /* a 101 nobody takes over: nothing more to say */
        return;
    }
    if (!switching) {
        proto->on_close(ud);
        if (status == 101)
            s->closing = true;
        return;
    }
    /* The bytes after this request are the new protocol's, not HTTP. */
    s->upgraded = true;
    s->closing = true;
    s->tp->upgrade(s, proto, ud, s->rbuf + s->msg_end, s->rlen - s->msg_end);
    s->rlen = s->fed = s->consumed = s->msg_end = 0;
}

/* Answers a request the parser refused, then closes. */
static void protocol_error(vial__session *s, llhttp_errno_t err)
{
    int status = s->pending_status;
    const char *msg = s->pending_msg;
    if (!status) {
        switch (err) {
        case HPE_INVALID_TRANSFER_ENCODING:
        case HPE_UNEXPECTED_CONTENT_LENGTH:
        case HPE_INVALID_CONTENT_LENGTH:
            status = 400;
            msg = llhttp_get_error_reason(s->parser);
            break;
        case HPE_INVALID_METHOD:
            status = 501;
            msg = "unknown request method";
            break;
        case HPE_INVALID_VERSION:
            status = 505;
            msg = "unsupported HTTP version";
            break;
        default:
            status = 400;
            msg = llhttp_get_error_reason(s->parser);
        }
    }
    if (!msg)
        msg = "malformed request";
    vial_req *req = &s->req;
    if (s->req_live)
        request_release(s);
    vial__req_start(req, s);
    s->req_live = true;
    s->bytes_out = 0;
    req->keep_alive = false;
    req->http_minor = 1;
    /* The request line may be usable for the access log. */
    if (s->url_len && s->url_off + s->url_len <= s->fed)
        req->target = (vial__str){ vial__arena_strndup(&s->arena, s->rbuf + s->url_off, s->url_len),
                                   s->url_len };
    vial__app_protocol_error(req, status, msg);
    s->closing = true;
    if (vial__resp_finish(req))
        s->dead = true;
    s->msg_end = s->fed;
    request_done(s);
    s->rlen = s->fed = s->consumed = 0; /* nothing after an error is parsed */
}

/*
 * Drops bytes nobody needs any more from the front of the read buffer:
 * everything before the current message, and a body's bytes already copied
 * out.  Offsets of the spans still in use shift with the data.
 */
static void compact(vial__session *s)
{
    size_t from = s->consumed, gap_from = 0, gap_to = 0;
    if (!s->in_msg && !s->req_live)
        from = s->fed;
    else if (s->in_msg && !s->req_live && s->phase == VIAL__PH_BODY && s->spans_end < s->fed) {
        gap_from = s->spans_end;
        gap_to = s->fed;
    }
    if (from == 0 && gap_to == 0)
        return;
    if (gap_to) {
        memmove(s->rbuf + gap_from, s->rbuf + gap_to, s->rlen - gap_to);
        s->rlen -= gap_to - gap_from;
        s->fed -= gap_to - gap_from;
    }
    if (from) {
        memmove(s->rbuf, s->rbuf + from, s->rlen - from);
        s->rlen -= from;
        s->fed -= from;
        /* Between messages `from` is `fed`, past `consumed` (llhttp also ate
         * the CRLFs it skips before a request line). */
        s->consumed = s->consumed >= from ? s->consumed - from : 0;
        s->msg_end = s->msg_end >= from ? s->msg_end - from : 0;
        s->spans_end = s->spans_end >= from ? s->spans_end - (uint32_t)from : 0;
        if (s->url_len)
            s->url_off -= (uint32_t)from;
        for (size_t i = 0; i < s->nhs; i++) {
            s->hs[i].noff -= (uint32_t)from;
            if (s->hs[i].vlen)
                s->hs[i].voff -= (uint32_t)from;
        }
    }
}

static void process(vial__session *s)
{
    llhttp_t *p = s->parser;
    while (!s->paused && !s->closing && !s->dead && !s->upgraded && s->fed < s->rlen) {
        const char *start = s->rbuf + s->fed;
        llhttp_errno_t err = llhttp_execute(p, start, s->rlen - s->fed);
        if (err == HPE_OK) {
            s->fed = s->rlen;
            break;
        }
        if (err == HPE_PAUSED) {
            s->fed = (size_t)(llhttp_get_error_pos(p) - s->rbuf);
            llhttp_resume(p);
            s->msg_end = s->fed;
            dispatch(s);
            continue;
        }
        if (err == HPE_PAUSED_UPGRADE) {
            /* No handler took the connection over: go on speaking HTTP. */
            s->fed = (size_t)(llhttp_get_error_pos(p) - s->rbuf);
            llhttp_resume_after_upgrade(p);
            continue;
        }
        protocol_error(s, err);
        break;
    }
    if (s->upgraded)
        return; /* the transport has switched protocols */
    if (!s->dead)
        compact(s);
    if (s->out.bytes)
        s->tp->want_write(s);
    if (s->closing && !s->out.bytes && !s->paused)
        s->tp->want_close(s);
}

void vial__session_received(vial__session *s, size_t n)
{
    s->rlen += n;
    /* Slowloris and friends: a header section that keeps growing without
     * ending is refused once the buffer cannot hold more. */
    process(s);
}

void vial__session_eof(vial__session *s)
{
    if (s->req_live || s->out.bytes) {
        /* Finish writing what was asked for, then go. */
        s->closing = true;
        if (!s->out.bytes && !s->paused)
            s->tp->want_close(s);
        return;
    }
    s->closing = true;
    s->tp->want_close(s);
}

void vial__session_drained(vial__session *s)
{
    if (s->dead)
        return;
    if (s->paused && s->req_live && s->req.streaming) {
        int r = vial__resp_stream_step(&s->req);
        if (r > 0) {
            if (s->out.bytes)
                s->tp->want_write(s);
            return;
        }
        if (r < 0) {
            vial_req_log(&s->req, VIAL_LOG_ERROR, "stream ended with error %d; closing the connection",
                         r);
            s->req.keep_alive = false;
        }
        request_done(s);
        process(s); /* pipelined requests that waited behind the stream */
        return;
    }
    if (s->closing && !s->out.bytes)
        s->tp->want_close(s);
}

void vial__session_timeout(vial__session *s)
{
    if (s->dead)
        return;
    switch (s->phase) {
    case VIAL__PH_HEADERS:
    case VIAL__PH_BODY:
        /* Tell the client why, then go: 408 is what a waiting client (or a
         * proxy) can act upon. */
        s->pending_status = 408;
        s->pending_msg = s->phase == VIAL__PH_HEADERS ? "timed out reading the request headers"
                                                      : "timed out reading the request body";
        protocol_error(s, HPE_USER);
        if (s->out.bytes)
            s->tp->want_write(s);
        else
            s->tp->want_close(s);
        break;
    default:
        s->closing = true;
        s->dead = true;
        s->tp->want_close(s);
    }
}

void vial__session_abort(vial__session *s)
{
    s->dead = true;
    s->closing = true;
    if (s->req_live)
        request_release(s);
}

bool vial__session_streaming(const vial__session *s)
{
    return s->paused && s->req_live && s->req.streaming;
}

bool vial__session_wants_read(const vial__session *s, size_t unsent)
{
    return !s->closing && !s->dead && !s->paused && unsent < s->app->lim.max_pending_output;
}

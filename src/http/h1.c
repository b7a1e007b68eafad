/*
 * h1.c — one HTTP/1.1 session: llhttp glue, limits, pipelining, and the
 * protocol face (vial__h1_proto) a connection drives.
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
 * Nothing here does I/O and nothing here calls the app: a vial__transport
 * moves the bytes (so the test client and the fuzz target run exactly this
 * code without sockets), and the vial__handler the session was made with
 * supplies exchanges and answers them.
 */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <llhttp.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#define RBUF_BODY_CAP (256 * 1024) /* read buffer size while a big body arrives */
#define STREAM_BUFFERED (256 * 1024) /* a stream produces until this much is unsent */

typedef struct h1 {
    const vial__h1_cfg *cfg;
    const vial__handler *h;
    void *hud;
    vial__pool *pool;
    const char *client;
    /* the transport, from attach() */
    const vial__transport *tp;
    void *tp_ud;
    vial__outq *out;
    void *parser; /* llhttp_t */
    /* input: rbuf[0..rlen) holds bytes read; [0..fed) went to llhttp;
     * [0..consumed) belongs to finished requests and may be dropped;
     * msg_end is the end of the message being answered */
    char *rbuf;
    size_t rlen, rcap, fed, consumed, msg_end;
    uint32_t spans_end;
    uint32_t reqid_hdr; /* 1 + index of the X-Request-Id header, 0: none */
    bool rbuf_pooled, in_msg;
    /* the request being parsed; spans are offsets into rbuf */
    uint32_t url_off, url_len;
    struct hspan { uint32_t noff, nlen, voff, vlen; } *hs;
    size_t nhs, hs_cap;
    size_t hdr_bytes;
    bool in_value, hdrs_done;
    int body_fd;        /* >= 0: a multipart body being written to a temporary file */
    uint64_t body_file_len;
    int pending_status; /* protocol error found in a callback */
    const char *pending_msg;
    bool expect_continue;
    bool line_wait;     /* llhttp refused the method: waiting for the whole line to tell 400 from 501 */
    /* The body of the request being parsed.  HTTP/1.1 answers one request
     * at a time, so its exchange borrows this buffer until it is freed. */
    vial__buf body;
    /* state */
    int phase;
    bool closing;       /* respond, flush, close */
    bool paused;        /* waiting for a stream to end */
    bool parked;        /* that stream waits for events (VIAL__STREAM_WAIT) */
    bool dead;          /* transport gone */
    bool draining;      /* server shutting down: finish and close */
    bool upgraded;      /* handed to another protocol: parse nothing more */
    vial__msg *msg;     /* the exchange being answered, NULL between requests */
} h1;

static llhttp_settings_t settings;
static void protocol_error(h1 *s, llhttp_errno_t err);

static inline h1 *S(llhttp_t *p)
{
    return p->data;
}

static void set_phase(h1 *s, int phase)
{
    if (s->phase == phase)
        return;
    s->phase = phase;
    if (s->tp)
        s->tp->phase(s->tp_ud, phase);
}

static int fail(h1 *s, int status, const char *msg)
{
    if (!s->pending_status) {
        s->pending_status = status;
        s->pending_msg = msg;
    }
    return -1; /* llhttp turns this into HPE_USER */
}

/* ------------------------------------------------------------------ llhttp callbacks */

static void body_file_drop(h1 *s)
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
    h1 *s = S(p);
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

static int count_header_bytes(h1 *s, size_t len)
{
    s->hdr_bytes += len;
    if (s->hdr_bytes > s->cfg->max_header_bytes)
        return fail(s, 431, "request headers are too large");
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    h1 *s = S(p);
    uint32_t off = (uint32_t)(at - s->rbuf);
    if (s->url_len == 0)
        s->url_off = off;
    s->url_len += (uint32_t)len;
    if (s->url_len > s->cfg->max_uri)
        return fail(s, 414, "request URI is too long");
    return count_header_bytes(s, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    h1 *s = S(p);
    if (s->hdrs_done)
        return count_header_bytes(s, len); /* a trailer: counted, not kept (RFC 9110 6.5.1) */
    uint32_t off = (uint32_t)(at - s->rbuf);
    struct hspan *h = s->nhs ? &s->hs[s->nhs - 1] : NULL;
    if (h && !s->in_value && h->noff + h->nlen == off) {
        h->nlen += (uint32_t)len; /* the name continues from the last read */
    } else {
        if (s->nhs >= s->cfg->max_headers)
            return fail(s, 431, "too many request headers");
        if (s->nhs == s->hs_cap) {
            size_t cap = s->hs_cap ? s->hs_cap * 2 : 16;
            struct hspan *n = realloc(s->hs, cap * sizeof *n);
            if (!n)
                return fail(s, 500, "out of memory");
            s->hs = n;
            s->hs_cap = cap;
        }
        s->hs[s->nhs++] = (struct hspan){ off, (uint32_t)len, 0, 0 };
        s->in_value = false;
    }
    return count_header_bytes(s, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    h1 *s = S(p);
    if (s->hdrs_done)
        return count_header_bytes(s, len);
    uint32_t off = (uint32_t)(at - s->rbuf);
    struct hspan *h = &s->hs[s->nhs - 1];
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

static const struct hspan *find_hdr(const h1 *s, const char *name, size_t from)
{
    for (size_t i = from; i < s->nhs; i++)
        if (vial__streq_ci(s->rbuf + s->hs[i].noff, s->hs[i].nlen, name))
            return &s->hs[i];
    return NULL;
}

/* Every coding listed in every Transfer-Encoding field must be "chunked". */
static bool te_supported(const h1 *s)
{
    for (size_t i = 0; i < s->nhs; i++) {
        const struct hspan *h = &s->hs[i];
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
    h1 *s = S(p);
    const vial__h1_cfg *lim = s->cfg;
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
    const struct hspan *ct = find_hdr(s, "content-type", 0);
    bool multipart = has_body && ct && ct->vlen >= 19 &&
                     vial__strneq_ci(s->rbuf + ct->voff, "multipart/form-data", 19);
    uint64_t limit = multipart ? lim->max_upload : lim->max_body;
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > limit)
        return fail(s, 413, "request body is larger than the limit");
    if (multipart && (s->body_fd = spool_open(lim->upload_dir)) < 0)
        return fail(s, 503, "cannot create a temporary file for the upload");
    const struct hspan *ex = find_hdr(s, "expect", 0);
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
        if (vial__outq_append(s->out, cont, sizeof cont - 1))
            return fail(s, 503, "out of memory");
        s->tp->want_write(s->tp_ud);
    }
    if (has_body)
        set_phase(s, VIAL__PH_BODY);
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    h1 *s = S(p);
    if (s->body_fd >= 0) {
        if (s->body_file_len + len > s->cfg->max_upload)
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
    if (s->body.n + len > s->cfg->max_body)
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

static void want_write(h1 *s)
{
    if (s->tp && s->out->bytes)
        s->tp->want_write(s->tp_ud);
}

static void want_close(h1 *s)
{
    if (s->tp)
        s->tp->want_close(s->tp_ud, s->dead);
}

void *vial__h1_new(const vial__h1_cfg *cfg, const vial__handler *h, void *hud, vial__pool *pool,
                   const char *client)
{
    settings_init();
    h1 *s = calloc(1, sizeof *s);
    llhttp_t *p = malloc(sizeof *p);
    if (!s || !p) {
        free(s);
        free(p);
        return NULL;
    }
    llhttp_init(p, HTTP_REQUEST, &settings);
    p->data = s;
    s->parser = p;
    s->cfg = cfg;
    s->h = h;
    s->hud = hud;
    s->pool = pool;
    s->client = client;
    s->body.pool = pool;
    s->phase = VIAL__PH_IDLE;
    s->body_fd = -1;
    return s;
}

static void h1_attach(void *ud, const vial__transport *tp, void *tp_ud, vial__outq *out)
{
    h1 *s = ud;
    s->tp = tp;
    s->tp_ud = tp_ud;
    s->out = out;
}

static void rbuf_release(h1 *s)
{
    if (s->rbuf_pooled)
        vial__pool_put(s->pool, s->rbuf);
    else
        free(s->rbuf);
    s->rbuf = NULL;
    s->rcap = s->rlen = s->fed = 0;
    s->rbuf_pooled = false;
}

/* The exchange is over: give it back, keep a pool block's worth of body
 * buffer for the next request and give back anything that grew past it. */
static void msg_release(h1 *s)
{
    if (!s->msg)
        return;
    vial__msg *m = s->msg;
    s->msg = NULL;
    s->h->msg_free(s->hud, m);
    if (s->body.cap > VIAL__BLOCK_SIZE)
        vial__buf_release(&s->body);
    s->body.n = 0;
}

static void h1_close(void *ud)
{
    h1 *s = ud;
    s->dead = true;
    msg_release(s);
    body_file_drop(s);
    rbuf_release(s);
    vial__buf_free(&s->body);
    free(s->hs);
    free(s->parser);
    free(s);
}

static void h1_idle(void *ud)
{
    h1 *s = ud;
    if (s->in_msg || s->msg || s->rlen)
        return;
    /* Pool blocks go back (pointer pushes); the small malloc'd array of
     * header spans (a few hundred bytes) stays, or every keep-alive request
     * would pay for a malloc/free pair. */
    rbuf_release(s);
    vial__buf_release(&s->body);
}

/* Room to read into: at least `min` bytes at s->rbuf + s->rlen. */
static int rbuf_reserve(h1 *s, size_t min)
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
        s->rbuf = vial__pool_get(s->pool);
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
    size_t hard = s->cfg->max_header_bytes + RBUF_BODY_CAP + VIAL__BLOCK_SIZE;
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
        vial__pool_put(s->pool, s->rbuf);
    else
        free(s->rbuf);
    s->rbuf = n;
    s->rcap = cap;
    s->rbuf_pooled = false;
    return 0;
}

/* The connection asks where to read: into the parse buffer when there is
 * one (no copy), else into its scratch space (an idle connection holds no
 * buffer; received() copies what arrives). */
static int h1_rbuf(void *ud, size_t min, char **buf, size_t *room)
{
    h1 *s = ud;
    if (!s->rbuf)
        return 1;
    if (s->closing || s->dead || s->upgraded || rbuf_reserve(s, min))
        return -1;
    *buf = s->rbuf + s->rlen;
    *room = s->rcap - s->rlen;
    return 0;
}

/* ------------------------------------------------------------------ dispatch */

/* Trims trailing whitespace of a span and NUL-terminates it in place.  The
 * byte after a span is always a delimiter llhttp has consumed ('\r', ':' or
 * ' '), so overwriting it is safe once the message is complete. */
static vial__str span_z(h1 *s, uint32_t off, uint32_t len)
{
    char *p = s->rbuf + off;
    while (len && is_ws(p[len - 1]))
        len--;
    p[len] = '\0';
    return (vial__str){ p, len };
}

static int fill_request(h1 *s, vial__msg *m)
{
    llhttp_t *p = s->parser;
    unsigned mt = p->method;
    m->method = llhttp_method_name((llhttp_method_t)mt);
    m->method_bit = vial__method_bit(m->method, strlen(m->method));
    m->head = m->method_bit == VIAL_HEAD;
    m->http_minor = p->http_minor;
    m->keep_alive = llhttp_should_keep_alive(p) != 0;
    m->target = span_z(s, s->url_off, s->url_len);
    m->nhdrs = s->nhs;
    m->reqid_hdr = s->reqid_hdr;
    if (s->nhs) {
        m->hdrs = vial__arena_alloc(&m->arena, s->nhs * sizeof *m->hdrs);
        if (!m->hdrs)
            return VIAL_ENOMEM;
        for (size_t i = 0; i < s->nhs; i++) {
            const struct hspan *h = &s->hs[i];
            m->hdrs[i].name = span_z(s, h->noff, h->nlen);
            if (h->vlen)
                m->hdrs[i].value = span_z(s, h->voff, h->vlen);
            else
                m->hdrs[i].value = (vial__str){ "", 0 };
        }
    }
    if (s->body_fd >= 0) {
        /* The exchange owns the spooled body from here; vial_body() maps it. */
        m->body_fd = s->body_fd;
        m->body_len = (size_t)s->body_file_len;
        s->body_fd = -1;
        s->body_file_len = 0;
    } else if (s->body.n) {
        if (vial__buf_nul(&s->body))
            return VIAL_ENOMEM;
        m->body = s->body.p;
        m->body_len = s->body.n;
    }
    /* origin-form "/p?q", absolute-form "http://host/p?q", asterisk-form "*"
     * (OPTIONS only; answered by the app for the whole server). */
    const char *t = m->target.p;
    size_t tn = m->target.n;
    if (memchr(t, '#', tn))
        return VIAL_EPARSE; /* a fragment never belongs in a request target */
    if (tn == 1 && t[0] == '*' && m->method_bit == VIAL_OPTIONS) {
        m->path_raw = (vial__str){ t, 1 };
        m->query_raw = (vial__str){ "", 0 };
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
            m->path_raw = (vial__str){ "/", 1 };
            m->query_raw = rest < t + tn ? (vial__str){ rest + 1, (size_t)(t + tn - rest - 1) }
                                         : (vial__str){ "", 0 };
            return 0;
        }
        tn -= (size_t)(rest - t);
        t = rest;
    }
    if (tn == 0 || t[0] != '/')
        return VIAL_EPARSE;
    const char *q = memchr(t, '?', tn);
    m->path_raw = (vial__str){ t, q ? (size_t)(q - t) : tn };
    m->query_raw = q ? (vial__str){ q + 1, tn - (size_t)(q + 1 - t) } : (vial__str){ "", 0 };
    return 0;
}

static void request_done(h1 *s)
{
    vial__msg *m = s->msg;
    s->h->done(s->hud, m);
    if (!m->keep_alive || s->draining)
        s->closing = true;
    msg_release(s);
    s->consumed = s->msg_end;
    s->in_msg = false;
    s->paused = false;
    set_phase(s, s->closing ? VIAL__PH_CLOSING : VIAL__PH_IDLE);
}

/* The Connection: close decision for the response about to be written: the
 * client's, ours, or the server's (a stop signal may have arrived while the
 * handler ran; the worker hears about it only after). */
static bool last_response(h1 *s)
{
    if (!s->draining && s->tp && s->tp->stopping && s->tp->stopping(s->tp_ud))
        s->draining = true;
    return s->closing || s->draining;
}

/*
 * Advances a stream: frames what it wrote, then asks for more until enough
 * output is queued, the stream waits for events, or it ends.  Returns 1
 * while more is to come, VIAL__STREAM_WAIT when it waits, 0 when the final
 * chunk is queued, negative on failure (the caller closes the connection: a
 * truncated chunked body is the only honest signal once the head has gone
 * out).
 */
static int stream_step(h1 *s)
{
    vial__msg *m = s->msg;
    if (!m->stream_head_sent && last_response(s))
        m->keep_alive = false;
    /* What the handler wrote before returning goes first (with the head). */
    if (vial__h1_chunk(m, s->out))
        goto oom;
    while (!m->stream_done && s->out->bytes < STREAM_BUFFERED) {
        int r = s->h->stream(s->hud, m);
        /* What was written before a failure still goes out: the missing
         * final chunk is what tells the client the body is incomplete. */
        if (vial__h1_chunk(m, s->out))
            goto oom;
        if (r < 0)
            return r; /* the handler logged why */
        if (r == 0)
            m->stream_done = true;
        else if (r == VIAL__STREAM_WAIT)
            return VIAL__STREAM_WAIT;
    }
    if (!m->stream_done)
        return 1;
    if (vial__h1_end(m, s->out))
        goto oom;
    return 0;
oom:
    vial_log(VIAL_LOG_ERROR, "out of memory framing a streamed response; closing");
    return VIAL_ENOMEM;
}

/* A canned answer for when not even an exchange can be had. */
static void out_of_memory(h1 *s)
{
    static const char oom[] = "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n"
                              "Connection: close\r\n\r\n";
    vial__outq_append(s->out, oom, sizeof oom - 1);
    s->closing = true;
}

/* Runs the request that llhttp just completed. */
static void dispatch(h1 *s)
{
    vial__msg *m = s->h->msg_new(s->hud);
    if (!m) {
        out_of_memory(s);
        return;
    }
    s->msg = m;
    m->client = s->client;
    m->conn_id = s->tp && s->tp->id ? s->tp->id(s->tp_ud) : 0;
    set_phase(s, VIAL__PH_HANDLER);
    int rc = fill_request(s, m);
    if (rc) {
        /* Refused before routing, like a parse error: answer and close. */
        m->keep_alive = false;
        s->h->error(s->hud, m, rc == VIAL_ENOMEM ? 503 : 400,
                    rc == VIAL_ENOMEM ? "out of memory" : "malformed request target");
    } else {
        s->h->request(s->hud, m);
    }

    if (m->streaming) {
        int r = stream_step(s);
        if (r > 0) {
            s->paused = true;
            s->parked = r == VIAL__STREAM_WAIT;
            set_phase(s, s->parked ? VIAL__PH_WAIT : VIAL__PH_WRITE);
            return;
        }
        if (r < 0)
            m->keep_alive = false;
    } else if (vial__h1_write(m, s->out, last_response(s))) {
        vial_log(VIAL_LOG_ERROR, "out of memory writing the response; closing");
        m->keep_alive = false;
    }
    const vial__proto *proto = m->upgrade_proto;
    void *ud = m->upgrade_ud;
    int status = m->status;
    bool switching = proto && status == 101 && m->keep_alive && s->tp && s->tp->upgrade;
    m->upgrade_proto = NULL;
    request_done(s);
    if (!proto) {
        if (status == 101)
            s->closing = true; /* a 101 nobody takes over: nothing more to say */
        return;
    }
    if (!switching) {
        proto->close(ud);
        if (status == 101)
            s->closing = true;
        return;
    }
    /* The bytes after this request are the new protocol's, not HTTP.  The
     * connection closes this session once the 101 is written. */
    s->upgraded = true;
    s->closing = true;
    if (s->tp->upgrade(s->tp_ud, proto, ud, s->rbuf + s->msg_end, s->rlen - s->msg_end)) {
        s->upgraded = false; /* could not switch: close instead */
        return;
    }
    s->rlen = s->fed = s->consumed = s->msg_end = 0;
}

/* Answers a request the parser refused, then closes. */
static void protocol_error(h1 *s, llhttp_errno_t err)
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
    msg_release(s);
    vial__msg *m = s->h->msg_new(s->hud);
    if (!m) {
        out_of_memory(s);
        s->rlen = s->fed = s->consumed = 0;
        return;
    }
    s->msg = m;
    m->client = s->client;
    m->keep_alive = false;
    m->http_minor = 1;
    /* The request line may be usable for the access log. */
    if (s->url_len && s->url_off + s->url_len <= s->fed)
        m->target = (vial__str){ vial__arena_strndup(&m->arena, s->rbuf + s->url_off, s->url_len),
                                 s->url_len };
    s->h->error(s->hud, m, status, msg);
    s->closing = true;
    if (vial__h1_write(m, s->out, true))
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
static void compact(h1 *s)
{
    size_t from = s->consumed, gap_from = 0, gap_to = 0;
    if (!s->in_msg && !s->msg)
        from = s->fed;
    else if (s->in_msg && !s->msg && s->phase == VIAL__PH_BODY && s->spans_end < s->fed) {
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

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/*
 * llhttp stops at the method when it does not know it.  RFC 9110 15.6.2 and
 * RFC 9112 3 separate two cases: a well-formed request line whose method
 * the server does not implement is 501; a line that is not
 * "method SP request-target SP HTTP-version" at all is 400.  Returns the
 * status, or 0 while the line is still incomplete.
 */
static int refused_line_status(const h1 *s)
{
    size_t i = s->consumed;
    while (i < s->rlen && (s->rbuf[i] == '\r' || s->rbuf[i] == '\n'))
        i++; /* empty lines before a request are skipped (RFC 9112 2.2) */
    const unsigned char *p = (const unsigned char *)s->rbuf + i, *e = (const unsigned char *)s->rbuf + s->rlen;
    const unsigned char *eol = memchr(p, '\n', (size_t)(e - p));
    if (!eol)
        return (size_t)(e - p) > s->cfg->max_uri + 64 ? 400 : 0;
    if (eol == p || eol[-1] != '\r')
        return 400; /* a bare LF */
    e = eol - 1;
    const unsigned char *m = p;
    while (p < e && tchar(*p))
        p++;
    if (p == m || p >= e || *p++ != ' ')
        return 400;
    const unsigned char *t = p;
    while (p < e && *p > ' ' && *p != 0x7f)
        p++;
    if (p == t || p >= e || *p++ != ' ')
        return 400;
    if (e - p != 8 || memcmp(p, "HTTP/", 5) || p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' ||
        p[7] > '9')
        return 400;
    return 501;
}

static void process(h1 *s)
{
    llhttp_t *p = s->parser;
    if (s->line_wait && !s->closing && !s->dead) {
        int status = refused_line_status(s);
        if (!status)
            return; /* the rest of the line is still to come (the header timeout bounds it) */
        s->line_wait = false;
        s->pending_status = status;
        s->pending_msg = status == 501 ? "unknown request method" : "malformed request line";
        protocol_error(s, HPE_USER);
        want_write(s);
        want_close(s);
        return;
    }
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
        if (err == HPE_INVALID_METHOD && !s->pending_status) {
            s->fed = s->rlen;
            s->line_wait = true;
            process(s); /* answers now if the whole line is here */
            return;
        }
        protocol_error(s, err);
        break;
    }
    if (s->upgraded)
        return; /* the connection switches protocols once the 101 is out */
    if (!s->dead)
        compact(s);
    want_write(s);
    if (s->closing && !s->paused)
        want_close(s);
}

static void h1_received(void *ud, const char *data, size_t n)
{
    h1 *s = ud;
    if (s->closing || s->dead || s->upgraded)
        return; /* nothing after a close (or a 101) is read as HTTP */
    if (!s->rbuf || data != s->rbuf + s->rlen) {
        /* Read into the connection's scratch space: keep what arrived. */
        if (rbuf_reserve(s, n)) {
            /* Refused (431, answered) or out of memory (nothing to say). */
            if (!s->closing)
                s->closing = s->dead = true;
            want_write(s);
            want_close(s);
            return;
        }
        memcpy(s->rbuf + s->rlen, data, n);
    }
    s->rlen += n;
    process(s);
}

static void h1_eof(void *ud)
{
    h1 *s = ud;
    if (s->parked) {
        /* The client left while its stream waited for events (an SSE tab
         * closed): nothing will read what comes, so end it now. */
        s->dead = s->closing = true;
        want_close(s);
        return;
    }
    if (s->line_wait && !s->closing) {
        /* The line will never end: it was not a request line. */
        s->line_wait = false;
        s->pending_status = 400;
        s->pending_msg = "malformed request line";
        protocol_error(s, HPE_USER);
        want_write(s);
    }
    /* Finish writing what was asked for (a stream included), then go. */
    s->closing = true;
    if (!s->paused)
        want_close(s);
}

/* Runs a stream on (its output drained, or it was woken); ends the request
 * when it is complete. */
static void stream_on(h1 *s)
{
    int r = stream_step(s);
    if (r > 0) {
        s->parked = r == VIAL__STREAM_WAIT;
        set_phase(s, s->parked ? VIAL__PH_WAIT : VIAL__PH_WRITE);
        want_write(s);
        return;
    }
    s->parked = false;
    if (r < 0)
        s->msg->keep_alive = false;
    request_done(s);
    process(s); /* pipelined requests that waited behind the stream */
}

static void h1_drained(void *ud)
{
    h1 *s = ud;
    if (s->dead || !s->paused || s->parked || !s->msg || !s->msg->streaming)
        return;
    stream_on(s);
}

void vial__h1_wake(void *ud)
{
    h1 *s = ud;
    if (!s || s->dead || !s->parked || !s->msg)
        return;
    s->parked = false;
    stream_on(s);
}

static void h1_timeout(void *ud)
{
    h1 *s = ud;
    if (s->dead)
        return;
    switch (s->phase) {
    case VIAL__PH_WAIT:
        /* A tick while a stream waits for events: its chance to send a
         * heartbeat, or to notice what it waits for has gone. */
        vial__h1_wake(s);
        break;
    case VIAL__PH_HEADERS:
    case VIAL__PH_BODY:
        /* Tell the client why, then go: 408 is what a waiting client (or a
         * proxy) can act upon. */
        s->pending_status = 408;
        s->pending_msg = s->phase == VIAL__PH_HEADERS ? "timed out reading the request headers"
                                                      : "timed out reading the request body";
        protocol_error(s, HPE_USER);
        want_write(s);
        want_close(s);
        break;
    default:
        s->closing = true;
        s->dead = true;
        want_close(s);
    }
}

static bool h1_drain(void *ud)
{
    h1 *s = ud;
    s->draining = true;
    /* A stream that waits for events (SSE, a live tail) has no end of its
     * own: the server stopping is its end, not the shutdown timeout.  It
     * ends cleanly, with the final chunk, so its client reconnects
     * (elsewhere) instead of seeing a truncated body. */
    if (s->parked && s->msg && !s->dead) {
        s->msg->stream_done = true;
        vial__h1_wake(s);
    }
    return s->phase == VIAL__PH_IDLE && !s->rlen && !s->msg;
}

static bool h1_wants_read(void *ud, size_t unsent)
{
    h1 *s = ud;
    /* A waiting stream keeps reading, so a client that leaves is noticed at
     * once; what it sends meanwhile waits, up to a block. */
    return !s->closing && !s->dead && !s->upgraded && unsent < s->cfg->max_pending_output &&
           (!s->paused || (s->parked && s->rlen < VIAL__BLOCK_SIZE));
}

const vial__proto vial__h1_proto = {
    .attach = h1_attach,
    .rbuf = h1_rbuf,
    .received = h1_received,
    .eof = h1_eof,
    .drained = h1_drained,
    .timeout = h1_timeout,
    .idle = h1_idle,
    .drain = h1_drain,
    .wants_read = h1_wants_read,
    .close = h1_close,
};

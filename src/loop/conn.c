/*
 * conn.c — one TCP connection on a worker's loop: reads handed to the
 * protocol speaking on it (into its own buffer when it offers one),
 * gathered writes, timeouts, protocol switches, lingering close.
 *
 * Writes: output is first tried with uv_try_write (one writev, no request
 * allocation — the usual case for a small response); whatever the kernel
 * does not take moves, as a whole queue, into `inflight` for uv_write, and
 * new output accumulates behind it in the connection's queue.  So the bytes
 * libuv is sending are never moved or freed under it.
 *
 * Deferred writes: the responses to what a read brought are not written in
 * the read callback but at the end of the loop turn (the worker's uv_check
 * handle calls vial__conn_flush_deferred), for every connection served in
 * that turn, back to back.  A handler that blocks (a database round trip)
 * would otherwise wake the idle client once per response, and waking a
 * process on another CPU is most of what a small write costs; now the
 * client is woken once per turn.  Only the plain case waits: a connection
 * that is already writing, closing, streaming, upgrading or holding more
 * than max_pending_output is pumped at once.  A protocol's own output
 * (tp_want_write: WebSocket frames, from any callback of the
 * turn) waits the same way, so frames for one connection coalesce.
 *
 * Timeouts: a connection sits in at most one of the worker's timeout lists,
 * chosen from the protocol's phase and the connection's state (idle,
 * reading headers, reading a body, writing, lingering).  The worker's sweep
 * timer expires list heads.
 *
 * Closing: a connection is never freed inside its own callback chain;
 * vial__conn_close() marks it and uv_close() frees it in close_cb.  After a
 * response with "Connection: close" the write side is shut down and the
 * read side drained briefly (lingering close), so a client still sending a
 * body it was refused (413) gets to read the answer instead of a reset.
 */
#include "loop_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/sendfile.h>

#define IOV_BATCH 64
#define PUMP_ROUNDS 16 /* stream rounds per callback before yielding to other connections */

_Thread_local vial__wctx *vial__current_wctx;

/* A sample for the app's metrics, on this worker's cells (no lock). */
static inline void metric(vial__conn *c, vial__mfamily *f, int64_t series, double v)
{
    const vial__loop_cfg *cfg = c->wc->srv->cfg;
    if (cfg->metrics)
        vial__metrics_add(cfg->metrics, c->wc->id, f, series, v);
}

static size_t max_pending(const vial__conn *c)
{
    return c->wc->srv->cfg->max_pending_output;
}

/* ------------------------------------------------------------------ timeout lists */

void vial__tlist_remove(vial__wctx *wc, vial__conn *c)
{
    if (c->list == VIAL__TL_NONE)
        return;
    vial__tlist *l = &wc->lists[c->list];
    if (c->prev)
        c->prev->next = c->next;
    else
        l->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        l->tail = c->prev;
    c->prev = c->next = NULL;
    c->list = VIAL__TL_NONE;
}

static void tlist_add(vial__wctx *wc, vial__conn *c, int list)
{
    vial__tlist_remove(wc, c);
    if (list == VIAL__TL_NONE)
        return;
    vial__tlist *l = &wc->lists[list];
    c->deadline = uv_now(&wc->loop) + l->timeout_ms;
    c->list = list;
    c->prev = l->tail;
    c->next = NULL;
    if (l->tail)
        l->tail->next = c;
    else
        l->head = c;
    l->tail = c;
}

/* Which clock runs now. */
static int wanted_list(const vial__conn *c)
{
    if (c->lingering)
        return VIAL__TL_LINGER;
    if (c->writing)
        return VIAL__TL_WRITE;
    switch (c->phase) {
    case VIAL__PH_IDLE: return c->wc->stopping ? VIAL__TL_DRAIN : VIAL__TL_IDLE;
    case VIAL__PH_HEADERS: return VIAL__TL_HEADERS;
    case VIAL__PH_BODY: return VIAL__TL_BODY;
    case VIAL__PH_WRITE: return VIAL__TL_WRITE;
    case VIAL__PH_OPEN:
    case VIAL__PH_WAIT: return VIAL__TL_TICK;
    default: return VIAL__TL_NONE; /* a handler runs */
    }
}

static void rearm(vial__conn *c)
{
    if (c->closed)
        return;
    int l = wanted_list(c);
    /* The header timeout is absolute (from the request's first byte):
     * re-arming on every trickled byte would let a slowloris client live
     * forever. */
    if (l == c->list && l == VIAL__TL_HEADERS)
        return;
    tlist_add(c->wc, c, l);
}

/* ------------------------------------------------------------------ closing */

static void on_close(uv_handle_t *h)
{
    vial__conn *c = (vial__conn *)h;
    vial__wctx *wc = c->wc;
    /* Exactly once, after the last callback: the protocol frees its state. */
    if (c->proto)
        c->proto->close(c->proto_ud);
    if (c->next_proto)
        c->next_proto->close(c->next_ud); /* a switch that never happened */
    free(c->pending_in);
    vial__outq_free(&c->out);
    vial__outq_free(&c->inflight);
    wc->slots[c->slot] = NULL;
    wc->gens[c->slot]++;
    wc->free_slots[wc->nfree++] = c->slot;
    wc->nconns--;
    metric(c, wc->srv->cfg->m_conns, wc->srv->cfg->m_conns_s, -1);
    free(c);
    if (wc->stopping && wc->nconns == 0)
        uv_async_send(&wc->wake); /* let the worker finish stopping */
}

static void flush_unlink(vial__conn *c)
{
    vial__wctx *wc = c->wc;
    if (!c->flush_queued)
        return;
    if (c->fprev)
        c->fprev->fnext = c->fnext;
    else
        wc->flush_head = c->fnext;
    if (c->fnext)
        c->fnext->fprev = c->fprev;
    else
        wc->flush_tail = c->fprev;
    c->fprev = c->fnext = NULL;
    c->flush_queued = false;
}

static void hard_close(vial__conn *c)
{
    if (c->closed)
        return;
    c->closed = true;
    flush_unlink(c);
    vial__tlist_remove(c->wc, c);
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

void vial__conn_abort(vial__conn *c)
{
    hard_close(c);
}

static void linger_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    VIAL__UNUSED(h);
    VIAL__UNUSED(suggested);
    static _Thread_local char sink[4096];
    *buf = uv_buf_init(sink, sizeof sink);
}

static void linger_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    VIAL__UNUSED(buf);
    if (nread < 0)
        hard_close((vial__conn *)st); /* EOF or error: the client has our answer */
}

static void on_shutdown(uv_shutdown_t *r, int status)
{
    vial__conn *c = r->data;
    if (c->closed)
        return;
    if (status < 0) {
        hard_close(c);
        return;
    }
    if (uv_read_start((uv_stream_t *)&c->tcp, linger_alloc, linger_read))
        hard_close(c);
}

/* Graceful close: after everything queued is written, shut down our side
 * and linger until the client closes (bounded by VIAL__LINGER_MS). */
void vial__conn_close(vial__conn *c)
{
    if (c->closed || c->lingering)
        return;
    c->closing = true;
    if (c->abort) {
        hard_close(c);
        return;
    }
    if (c->writing || c->out.bytes || c->inflight.bytes)
        return; /* on_write comes back through pump() */
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = false;
    c->sreq.data = c;
    if (uv_shutdown(&c->sreq, (uv_stream_t *)&c->tcp, on_shutdown)) {
        hard_close(c);
        return;
    }
    c->lingering = true;
    rearm(c);
}

/* ------------------------------------------------------------------ writing */

static void pump(vial__conn *c);
static void read_start(vial__conn *c);
static void switch_proto(vial__conn *c);

static void on_write(uv_write_t *r, int status)
{
    vial__conn *c = r->data;
    c->writing = false;
    if (c->closed)
        return;
    if (status < 0) {
        hard_close(c);
        return;
    }
    /* uv_write sent exactly the iovecs it was given. */
    struct iovec iov[IOV_BATCH];
    size_t n = vial__outq_iov(&c->inflight, iov, IOV_BATCH), sent = 0;
    for (size_t i = 0; i < n; i++)
        sent += iov[i].iov_len;
    vial__outq_consume(&c->inflight, sent);
    metric(c, c->wc->srv->cfg->m_bytes_out, c->wc->srv->cfg->m_bytes_out_s, (double)sent);
    pump(c);
}

/* Starts uv_write on what `inflight` holds (at most IOV_BATCH iovecs).  A
 * file at the front is read into memory first (64 KiB): uv_write cannot
 * send a file, and the socket is full anyway when we get here. */
static int start_write(vial__conn *c)
{
    int fd;
    uint64_t off;
    size_t len;
    if (vial__outq_head_file(&c->inflight, &fd, &off, &len) &&
        vial__outq_file_chunk(&c->inflight, 64 * 1024))
        return UV_EIO;
    uv_buf_t bufs[IOV_BATCH];
    struct iovec iov[IOV_BATCH];
    size_t n = vial__outq_iov(&c->inflight, iov, IOV_BATCH);
    for (size_t i = 0; i < n; i++)
        bufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
    c->wreq.data = c;
    int rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, bufs, (unsigned)n, on_write);
    if (rc == 0)
        c->writing = true;
    return rc;
}

/*
 * Writes from `q` while the socket takes it: memory with one writev per
 * batch (uv_try_write), files with sendfile(2).  Returns 1 when `q` is
 * empty, 0 when the socket is full (the rest stays queued), -1 when the
 * connection died.
 */
static int send_now(vial__conn *c, vial__outq *q)
{
    while (q->bytes) {
        int fd;
        uint64_t off;
        size_t len;
        if (vial__outq_head_file(q, &fd, &off, &len)) {
            uv_os_fd_t sock;
            if (uv_fileno((uv_handle_t *)&c->tcp, &sock)) {
                hard_close(c);
                return -1;
            }
            off_t o = (off_t)off;
            ssize_t n = sendfile(sock, fd, &o, len < (1u << 20) ? len : (1u << 20));
            if (n > 0) {
                vial__outq_consume(q, (size_t)n);
                metric(c, c->wc->srv->cfg->m_bytes_out, c->wc->srv->cfg->m_bytes_out_s, (double)n);
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && errno == EAGAIN)
                return 0;
            /* 0: the file shrank under us; the promised length cannot be kept. */
            hard_close(c);
            return -1;
        }
        uv_buf_t bufs[IOV_BATCH];
        struct iovec iov[IOV_BATCH];
        size_t n = vial__outq_iov(q, iov, IOV_BATCH);
        for (size_t i = 0; i < n; i++)
            bufs[i] = uv_buf_init(iov[i].iov_base, (unsigned)iov[i].iov_len);
        int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, (unsigned)n);
        if (w == UV_EAGAIN || w == 0)
            return 0;
        if (w < 0) {
            hard_close(c);
            return -1;
        }
        vial__outq_consume(q, (size_t)w);
        metric(c, c->wc->srv->cfg->m_bytes_out, c->wc->srv->cfg->m_bytes_out_s, (double)w);
    }
    return 1;
}

/* Writes what the protocol queued (`may_try`: synchronously first).  What
 * the socket does not take moves, as a whole queue, into `inflight` for
 * uv_write, and the protocol gets a fresh queue at the same address
 * (keeping its pool binding).  Returns false once the connection died. */
static bool flush_out(vial__conn *c, bool may_try)
{
    vial__outq *q = &c->out;
    int r = may_try ? send_now(c, q) : 0;
    if (r < 0)
        return false;
    if (!q->bytes)
        return true;
    vial__outq_free(&c->inflight);
    c->inflight = *q;
    memset(q, 0, sizeof *q);
    q->coal.pool = c->inflight.coal.pool;
    if (start_write(c)) {
        hard_close(c);
        return false;
    }
    rearm(c);
    return true;
}

/*
 * The single place output moves: write what is queued; when everything is
 * out, switch protocols if one waits, or let the protocol produce more (a
 * stream) or resume parsing, a bounded number of rounds (then yield
 * through an asynchronous write so one fast stream does not starve the
 * worker's other connections).  Protocol callbacks made from here may ask
 * for another round (want_pump) but never re-enter.
 */
static void pump(vial__conn *c)
{
    if (c->in_pump) {
        c->want_pump = true;
        return;
    }
    c->in_pump = true;
    for (int round = 0; !c->closed; round++) {
        c->want_pump = false;
        if (c->writing)
            break; /* on_write calls back */
        if (c->inflight.bytes) {
            /* Older output first: what a previous write left (a file
             * continues by sendfile while the socket takes it). */
            int r = round < PUMP_ROUNDS ? send_now(c, &c->inflight) : 0;
            if (r < 0)
                break;
            if (r == 0) {
                if (start_write(c)) {
                    hard_close(c);
                    break;
                }
                rearm(c);
                break;
            }
        }
        if (!flush_out(c, round < PUMP_ROUNDS))
            break;
        if (c->writing)
            break;
        /* Everything is written. */
        if (c->upgrading) {
            switch_proto(c);
            continue;
        }
        if (c->abort) {
            c->in_pump = false;
            vial__conn_close(c);
            return;
        }
        if (c->proto->drained) {
            c->proto->drained(c->proto_ud);
            if (c->out.bytes || c->upgrading || c->want_pump)
                continue;
        }
        if (c->closing) {
            c->in_pump = false;
            vial__conn_close(c);
            return;
        }
        if (!c->want_pump)
            break;
    }
    c->in_pump = false;
    if (c->closed)
        return;
    rearm(c);
    /* Reading resumes once output no longer piles up (and stops while a
     * stream or a slow reader holds the connection). */
    size_t unsent = c->out.bytes + c->inflight.bytes;
    bool want = c->proto->wants_read ? c->proto->wants_read(c->proto_ud, unsent)
                                     : unsent < max_pending(c);
    want = want && !c->closing && !c->lingering && !c->upgrading;
    if (want && !c->reading) {
        read_start(c);
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = false;
    }
}

/* An idle keep-alive connection gives its buffers back to the pool. */
static void trim_if_idle(vial__conn *c)
{
    if (c->closed || c->phase != VIAL__PH_IDLE || c->writing || c->inflight.bytes || c->out.bytes)
        return;
    if (c->proto->idle)
        c->proto->idle(c->proto_ud);
    vial__buf_release(&c->out.coal);
}

/* After a read: write now, or at the end of the loop turn when nothing but
 * plain output is pending (see "Deferred writes" at the top). */
static void pump_after_read(vial__conn *c)
{
    bool plain = c->out.bytes && !c->writing && !c->inflight.bytes && !c->closing &&
                 !c->upgrading && c->phase != VIAL__PH_WRITE && c->out.bytes < max_pending(c);
    if (!plain) {
        pump(c);
        return;
    }
    if (c->flush_queued)
        return;
    vial__wctx *wc = c->wc;
    c->flush_queued = true;
    c->fnext = NULL;
    c->fprev = wc->flush_tail;
    if (wc->flush_tail)
        wc->flush_tail->fnext = c;
    else
        wc->flush_head = c;
    wc->flush_tail = c;
}

void vial__conn_flush_deferred(vial__wctx *wc)
{
    vial__conn *c;
    while ((c = wc->flush_head)) {
        flush_unlink(c);
        pump(c);
        trim_if_idle(c);
    }
}

/* ------------------------------------------------------------------ the transport a protocol sees */

/* A protocol queued output (a WebSocket frame): written at the
 * end of the loop turn like a response, so that what one turn queues for a
 * connection leaves in one write — a broadcast of several messages to
 * thousands of subscribers costs one write per subscriber, not one per
 * message and subscriber (bench/ws.sh fan-out: 8.4 -> 1.5 us per delivery). */
static void tp_want_write(void *ud)
{
    pump_after_read(ud);
}

static void tp_want_close(void *ud, bool now)
{
    vial__conn *c = ud;
    c->closing = true;
    if (now)
        c->abort = true;
    pump(c);
}

static void tp_phase(void *ud, int phase)
{
    vial__conn *c = ud;
    c->phase = phase;
    rearm(c);
}

static int tp_upgrade(void *ud, const vial__proto *proto, void *pud, const char *rest, size_t n)
{
    vial__conn *c = ud;
    if (c->upgrading || c->closed) {
        proto->close(pud);
        return VIAL_ESTATE;
    }
    if (n) {
        c->pending_in = malloc(n);
        if (!c->pending_in) {
            proto->close(pud);
            return VIAL_ENOMEM;
        }
        memcpy(c->pending_in, rest, n);
        c->pending_n = n;
    }
    c->next_proto = proto; /* from here on, close(pud) is guaranteed */
    c->next_ud = pud;
    c->upgrading = true;
    pump(c);
    return 0;
}

static bool tp_stopping(void *ud)
{
    vial__conn *c = ud;
    return atomic_load_explicit(&c->wc->srv->stop, memory_order_relaxed) != 0;
}

static uint64_t tp_id(void *ud)
{
    return vial__conn_id(ud);
}

static const vial__transport conn_transport = { tp_want_write, tp_want_close, tp_phase, tp_upgrade,
                                                tp_stopping, tp_id };

/* The 101 is on the wire: the connection now speaks the new protocol.  The
 * old one is closed here, from pump(), never inside its own callbacks. */
static void switch_proto(vial__conn *c)
{
    c->upgrading = false;
    c->closing = false; /* the old protocol's life is over, the connection's is not */
    const vial__proto *old = c->proto;
    void *old_ud = c->proto_ud;
    c->proto = c->next_proto;
    c->proto_ud = c->next_ud;
    c->next_proto = NULL;
    c->next_ud = NULL;
    old->close(old_ud);
    c->phase = VIAL__PH_OPEN;
    c->proto->attach(c->proto_ud, &conn_transport, c, &c->out);
    rearm(c);
    if (c->pending_n && !c->closed) {
        char *p = c->pending_in;
        size_t n = c->pending_n;
        c->pending_in = NULL;
        c->pending_n = 0;
        c->proto->received(c->proto_ud, p, n);
        free(p);
    }
}

/* ------------------------------------------------------------------ reading */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    VIAL__UNUSED(suggested);
    vial__conn *c = (vial__conn *)h;
    char *p;
    size_t room;
    int r = c->proto->rbuf ? c->proto->rbuf(c->proto_ud, 1024, &p, &room) : 1;
    if (r > 0) {
        /* Nothing buffered: read into the worker's scratch space and let the
         * protocol copy only what arrives (an EOF or a reset costs nothing). */
        *buf = uv_buf_init(c->wc->scratch, VIAL__SCRATCH_SIZE);
    } else if (r < 0) {
        *buf = uv_buf_init(NULL, 0); /* read_cb sees UV_ENOBUFS */
    } else {
        *buf = uv_buf_init(p, (unsigned)room);
    }
}

static void on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
    vial__conn *c = (vial__conn *)st;
    if (c->closed)
        return;
    if (nread > 0) {
        metric(c, c->wc->srv->cfg->m_bytes_in, c->wc->srv->cfg->m_bytes_in_s, (double)nread);
        if (c->phase == VIAL__PH_BODY)
            tlist_add(c->wc, c, VIAL__TL_BODY); /* body timeout is per read */
        c->in_pump = true; /* batch: the protocol's writes wait for the end */
        c->proto->received(c->proto_ud, buf->base, (size_t)nread);
        c->in_pump = false;
        if (!c->closed)
            pump_after_read(c);
    } else if (nread == 0) {
        return; /* EAGAIN: nothing more for now */
    } else if (nread == UV_EOF) {
        c->in_pump = true;
        if (c->proto->eof)
            c->proto->eof(c->proto_ud);
        c->in_pump = false;
        if (!c->closed) {
            c->closing = true;
            pump(c);
        }
        return;
    } else if (nread == UV_ENOBUFS) {
        /* The protocol refused to grow its buffer (it answered 431, or it
         * is finishing): it reads no more, so close after the output. */
        if (!c->closed) {
            c->closing = true;
            pump(c);
        }
        return;
    } else {
        hard_close(c); /* reset by peer etc. */
        return;
    }
    trim_if_idle(c);
}

static void read_start(vial__conn *c)
{
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = true;
    else
        hard_close(c);
}

/* ------------------------------------------------------------------ accept */

static int slot_take(vial__wctx *wc, vial__conn *c)
{
    if (!wc->nfree) {
        uint32_t n = wc->nslots ? wc->nslots * 2 : 256;
        vial__conn **s = realloc(wc->slots, n * sizeof *s);
        if (!s)
            return VIAL_ENOMEM;
        wc->slots = s;
        uint32_t *g = realloc(wc->gens, n * sizeof *g);
        if (!g)
            return VIAL_ENOMEM;
        wc->gens = g;
        uint32_t *f = realloc(wc->free_slots, n * sizeof *f);
        if (!f)
            return VIAL_ENOMEM;
        wc->free_slots = f;
        for (uint32_t i = n; i-- > wc->nslots;) {
            wc->slots[i] = NULL;
            wc->gens[i] = 1;
            wc->free_slots[wc->nfree++] = i;
        }
        wc->nslots = n;
    }
    c->slot = wc->free_slots[--wc->nfree];
    c->gen = wc->gens[c->slot];
    wc->slots[c->slot] = c;
    return 0;
}

static void format_peer(vial__conn *c)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    strcpy(c->client, "-");
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len))
        return;
    if (ss.ss_family == AF_INET)
        uv_ip4_name((struct sockaddr_in *)&ss, c->client, sizeof c->client);
    else if (ss.ss_family == AF_INET6)
        uv_ip6_name((struct sockaddr_in6 *)&ss, c->client, sizeof c->client);
}

void vial__conn_accept(vial__wctx *wc, uv_stream_t *server, bool admin)
{
    vial__conn *c = calloc(1, sizeof *c);
    if (!c) {
        vial_log(VIAL_LOG_ERROR, "out of memory accepting a connection");
        return;
    }
    c->wc = wc;
    c->list = VIAL__TL_NONE;
    c->phase = VIAL__PH_IDLE;
    c->out.coal.pool = &wc->pool;
    c->inflight.coal.pool = &wc->pool;
    if (uv_tcp_init(&wc->loop, &c->tcp)) {
        free(c);
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&c->tcp) || slot_take(wc, c)) {
        c->closed = true;
        c->slot = UINT32_MAX;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    format_peer(c);
    c->proto = wc->srv->ops->accept(wc->wstate, c->client, admin, &c->proto_ud);
    if (!c->proto) {
        wc->slots[c->slot] = NULL;
        wc->free_slots[wc->nfree++] = c->slot;
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    wc->nconns++;
    metric(c, wc->srv->cfg->m_conns, wc->srv->cfg->m_conns_s, 1);
    uv_tcp_nodelay(&c->tcp, 1);
    c->proto->attach(c->proto_ud, &conn_transport, c, &c->out);
    if (wc->stopping)
        vial__conn_drain(c);
    if (c->closed)
        return;
    rearm(c);
    read_start(c);
}

/* ------------------------------------------------------------------ expiry, drain, cross-thread */

void vial__conn_expire(vial__conn *c)
{
    vial__tlist_remove(c->wc, c);
    if ((c->phase == VIAL__PH_OPEN || c->phase == VIAL__PH_WAIT) && !c->writing && !c->lingering) {
        /* A tick, not a deadline: the protocol checks its own liveness
         * (pings, heartbeats) and the connection goes on. */
        c->in_pump = true;
        if (c->proto->timeout)
            c->proto->timeout(c->proto_ud);
        c->in_pump = false;
        if (!c->closed) {
            rearm(c);
            pump(c);
        }
        return;
    }
    if (c->lingering || c->writing || c->phase == VIAL__PH_WRITE || c->phase == VIAL__PH_IDLE ||
        !c->proto->timeout) {
        hard_close(c); /* a stalled reader, an idle client: reset */
        return;
    }
    c->in_pump = true;
    c->proto->timeout(c->proto_ud);
    c->in_pump = false;
    if (!c->closed) {
        c->closing = true;
        pump(c);
    }
}

void vial__conn_drain(vial__conn *c)
{
    if (c->closed)
        return;
    bool idle = c->proto->drain ? c->proto->drain(c->proto_ud) : true;
    if (idle && !c->writing && !c->out.bytes && !c->inflight.bytes) {
        if (c->proto->drain && c->phase == VIAL__PH_IDLE)
            rearm(c); /* VIAL__TL_DRAIN: a last request may be on its way */
        else
            hard_close(c);
    }
}

void *vial__conn_proto(vial__conn *c, const vial__proto *p)
{
    return c && !c->closed && c->proto == p ? c->proto_ud : NULL;
}

uint64_t vial__conn_id(const vial__conn *c)
{
    return (uint64_t)(c->gen & VIAL__CONN_GEN_MASK) << 32 | c->slot;
}

int vial__conn_worker(const vial__conn *c)
{
    return c->wc->id;
}

vial__conn *vial__conn_find(uint64_t id)
{
    vial__wctx *wc = vial__current_wctx;
    if (!wc)
        return NULL;
    uint32_t slot = (uint32_t)id, gen = (uint32_t)(id >> 32);
    if (slot >= wc->nslots || (wc->gens[slot] & VIAL__CONN_GEN_MASK) != gen)
        return NULL;
    vial__conn *c = wc->slots[slot];
    return c && !c->closed ? c : NULL;
}

int vial__conn_send(vial__conn *c, const void *data, size_t len)
{
    if (!c || c->closed || c->closing)
        return VIAL_ECLOSED;
    int rc = vial__outq_append(&c->out, data, len);
    if (rc)
        return rc;
    pump(c);
    return 0;
}

/*
 * ws_load.c — the WebSocket load generator of bench/ws.sh (one thread, libuv).
 *
 * Echo mode (the default): opens --conns connections (at most --connecting
 * handshakes in flight, so a listen backlog does not turn into SYN retries),
 * and once every one is open, each keeps --depth messages in flight and sends
 * --msgs in all: a message goes out when an echo comes back.  Every echo is
 * checked against what was sent (same bytes, same order per connection); a
 * missing, changed or reordered echo counts as a mismatch, so a fast number
 * cannot hide a loss.  The measured phase is bounded both in messages and in
 * time (--time-limit): the line says complete=0 when time ran out first.
 *
 * Around the measured phase only (not the handshakes), it reads utime+stime of
 * the server processes given with --pid (/proc/PID/stat, which sums all their
 * threads) and its own rusage, and prints one line:
 *   result conns=.. open=.. msgs=.. recv=.. mismatches=.. errors=.. secs=..
 *          msgs_per_s=.. p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..
 *          srv_ticks=.. srv_us_per_msg=.. srv_user_us_per_msg=.. cli_us_per_msg=..
 *          complete=0|1
 * Latency is per message: from the write that carries it to the read that
 * brings its echo back (the client's own queueing included, as a user sees it).
 *
 * Idle mode (--idle): opens --conns connections, completes every handshake,
 * writes "ready open=N failed=F" to --status (or stdout), then holds them
 * (answering pings) for --hold seconds or until SIGTERM/SIGINT.
 *
 * Fan-out mode (--fanout): opens --conns subscribers of a broadcast endpoint
 * (every message one client sends reaches every client, the sender
 * included), at most --connect-limit seconds for all the handshakes (what
 * was reached is measured and reported: open=..), then the first open one
 * also publishes: message k carries its number and the publisher's clock
 * (uv_hrtime) "<k>:<ns>:xxx.." (--size bytes), at most --window messages
 * not yet received by every subscriber.  Each subscriber must receive every
 * message, once, in order, intact (else mismatches=..).  A warm-up round of
 * --msgs/4+1 messages, then --rounds rounds of --msgs, each bounded by
 * --time-limit, one line each (server CPU read around each round):
 *   warmup|result round=.. subs=.. msgs=.. expected=.. recv=.. mismatches=..
 *          errors=.. secs=.. deliveries_per_s=.. pubs_per_s=.. p50_us=..
 *          p90_us=.. p99_us=.. p999_us=.. max_us=.. srv_ticks=..
 *          srv_us_per_msg=.. srv_user_us_per_msg=.. cli_us_per_msg=..
 *          connect_secs=.. complete=0|1
 * where the per-message figures are per delivery (one message received by
 * one subscriber) and latency is from the publisher's write to each
 * subscriber's read.  Socket.IO: the publisher emits "pub", subscribers get
 * "msg" events.
 *
 * Protocols: --proto ws sends plain RFC 6455 text frames; --proto socketio
 * speaks Socket.IO 5 over Engine.IO 4 on the websocket transport alone
 * (/socket.io/?EIO=4&transport=websocket: the open packet "0{...}", a "40"
 * namespace connect, then events 42["echo","<payload>"] answered by the same
 * event; the server's "2" pings answered with "3").  Payloads are ASCII, so
 * the JSON string needs no escaping.
 *
 * Client frames are masked (RFC 6455 5.3), no extension is offered, and the
 * 101's Sec-WebSocket-Accept is checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#define MAX_PIDS 8

enum proto { P_WS, P_SOCKETIO };
enum state { S_CONNECTING, S_HANDSHAKE, S_EIO_OPEN, S_SIO_CONNECT, S_OPEN, S_CLOSED };

typedef struct conn {
    uv_tcp_t tcp;
    uv_connect_t creq;
    int id;
    enum state state;
    char key[32]; /* Sec-WebSocket-Key, base64 of 16 bytes */
    char *in;     /* unparsed input */
    size_t in_len, in_cap;
    char *msg; /* a fragmented message being reassembled */
    size_t msg_len, msg_cap;
    int msg_op;
    char *out; /* frames built during one read, written once */
    size_t out_len, out_cap;
    uint64_t sent, recv;  /* messages of the measured phase */
    uint64_t *ts;         /* send times, a ring of depth entries */
    uint32_t mask_state;  /* xorshift for the masking keys */
} conn;

/* Fan-out state: published messages are numbered from 0 across rounds;
 * cnt[k % ring] counts the subscribers that received k, and `fully` is the
 * first message some subscriber still lacks. */
#define LAT_US 200000 /* latency histogram: 1 us buckets up to 200 ms, then 1 ms up to 200 s */
#define LAT_MS 200000
static struct {
    conn *pub;
    int subs, round, rounds;
    uint64_t published, fully, round_first, round_end;
    uint32_t *cnt;
    uint64_t ring;
    uint32_t *hist_us, *hist_ms;
    uint64_t nlat, max_ns, recv, bad;
    uint64_t tconn0, tconn1;
} fo;
static void fanout_got(conn *c, const char *data, size_t len);
static void fanout_start(void);
static void fanout_round_end(int complete);

static struct {
    const char *host, *path, *status;
    int port, conns, depth, size, connecting, idle, hold;
    double time_limit;
    int fanout, window, rounds;
    double connect_limit;
    uint64_t msgs;
    enum proto proto;
    int pids[MAX_PIDS], npids;
} opt = { "127.0.0.1", NULL, NULL, 0, 64, 1, 64, 200, 0, 60, 60.0, 0, 8, 3, 120.0, 10000, P_WS, { 0 }, 0 };

static uv_loop_t *loop;
static conn *conns;
static int next_to_connect, in_progress, nopen, nfailed, nclosed_early;
static int measuring, done_conns, finished, tried_all;
static uint64_t t0, t1, mismatches, errors, total_recv;
static uint64_t *lat; /* ns, one per echo of the measured phase */
static size_t nlat, lat_cap;
static long srv0, srv1, usr0, usr1;
static struct rusage ru0, ru1;
static uv_timer_t limit_timer, hold_timer;
static uv_signal_t sigterm, sigint;
static char first_error[256];

static void fail(conn *c, const char *fmt, ...);
static void start_measuring(void);
static void finish(int complete);

static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n);
    if (!p) {
        fprintf(stderr, "ws-load: out of memory\n");
        exit(2);
    }
    return p;
}

static void reserve(char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n *= 2;
    *buf = xrealloc(*buf, n);
    *cap = n;
}

/* ------------------------------------------------------------------ /proc */

/* utime+stime of the --pid processes, in clock ticks; *user gets utime alone */
static long proc_ticks(long *user)
{
    long sum = 0;
    *user = 0;
    for (int i = 0; i < opt.npids; i++) {
        char path[64], buf[1024];
        snprintf(path, sizeof path, "/proc/%d/stat", opt.pids[i]);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
            continue;
        buf[n] = 0;
        char *p = strrchr(buf, ')'); /* comm may hold spaces and parentheses */
        unsigned long ut = 0, st = 0;
        /* after "pid (comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
        if (p && sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
            sum += (long)(ut + st), *user += (long)ut;
    }
    return sum;
}

/* ------------------------------------------------------------------ frames */

static uint32_t xs(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

/* Appends one masked client frame to c->out. */
static void put_frame(conn *c, int opcode, const char *data, size_t len)
{
    reserve(&c->out, &c->out_cap, c->out_len + len + 14);
    unsigned char *p = (unsigned char *)c->out + c->out_len;
    *p++ = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        *p++ = (unsigned char)(0x80 | len);
    } else if (len < 65536) {
        *p++ = 0x80 | 126;
        *p++ = (unsigned char)(len >> 8);
        *p++ = (unsigned char)len;
    } else {
        *p++ = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            *p++ = (unsigned char)((uint64_t)len >> (8 * i));
    }
    uint32_t m = xs(&c->mask_state);
    unsigned char mk[4] = { (unsigned char)m, (unsigned char)(m >> 8), (unsigned char)(m >> 16),
                            (unsigned char)(m >> 24) };
    memcpy(p, mk, 4);
    p += 4;
    for (size_t i = 0; i < len; i++)
        p[i] = (unsigned char)data[i] ^ mk[i & 3];
    c->out_len = (size_t)(p + len - (unsigned char *)c->out);
}

/* The payload of message SEQ of connection C, in the wire form of the
 * protocol (the Socket.IO event around it).  Returns its length. */
static size_t payload(conn *c, uint64_t seq, char *buf, size_t cap)
{
    char body[65536];
    size_t size = (size_t)opt.size < sizeof body ? (size_t)opt.size : sizeof body - 1;
    int n = snprintf(body, sizeof body, "c%d:m%" PRIu64 ":", c->id, seq);
    size_t len = (size_t)n;
    if (len < size) {
        memset(body + len, 'x', size - len);
        len = size;
    }
    if (opt.proto == P_SOCKETIO) {
        int m = snprintf(buf, cap, "42[\"echo\",\"%.*s\"]", (int)len, body);
        return (size_t)m < cap ? (size_t)m : cap - 1;
    }
    len = len < cap ? len : cap;
    memcpy(buf, body, len);
    return len;
}

static void send_message(conn *c)
{
    static char buf[65600];
    size_t len = payload(c, c->sent, buf, sizeof buf);
    put_frame(c, 1, buf, len);
    c->ts[c->sent % (uint64_t)opt.depth] = uv_hrtime();
    c->sent++;
}

typedef struct {
    uv_write_t req;
    char data[];
} wreq;

static void on_written(uv_write_t *req, int status)
{
    conn *c = req->data;
    if (status < 0 && c->state != S_CLOSED)
        fail(c, "write: %s", uv_strerror(status));
    free(req);
}

/* Writes what put_frame gathered: at once when the socket takes it, else
 * through a queued write of a copy. */
static void flush(conn *c)
{
    if (!c->out_len || c->state == S_CLOSED)
        return;
    uv_buf_t b = uv_buf_init(c->out, (unsigned)c->out_len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n < 0 && n != UV_EAGAIN) {
        c->out_len = 0;
        fail(c, "write: %s", uv_strerror(n));
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    if (done < c->out_len) {
        size_t rest = c->out_len - done;
        wreq *w = xrealloc(NULL, sizeof *w + rest);
        memcpy(w->data, c->out + done, rest);
        w->req.data = c;
        uv_buf_t rb = uv_buf_init(w->data, (unsigned)rest);
        int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &rb, 1, on_written);
        if (rc < 0) {
            free(w);
            c->out_len = 0;
            fail(c, "write: %s", uv_strerror(rc));
            return;
        }
    }
    c->out_len = 0;
}

/* ------------------------------------------------------------------ lifecycle */

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

static void close_conn(conn *c)
{
    if (c->state == S_CLOSED)
        return;
    enum state was = c->state;
    c->state = S_CLOSED;
    if (was != S_OPEN)
        in_progress--;
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void connect_more(void);

static void fail(conn *c, const char *fmt, ...)
{
    if (c->state == S_CLOSED)
        return;
    if (!first_error[0]) {
        va_list ap;
        va_start(ap, fmt);
        int n = snprintf(first_error, sizeof first_error, "conn %d: ", c->id);
        vsnprintf(first_error + n, sizeof first_error - (size_t)n, fmt, ap);
        va_end(ap);
    }
    errors++;
    enum state was = c->state;
    close_conn(c);
    if (was == S_OPEN) {
        nclosed_early++;
        if (opt.fanout) {
            if (measuring)
                fanout_round_end(0); /* a subscriber lost: the round cannot complete */
            return;
        }
        if (measuring && c->recv < opt.msgs)
            done_conns++; /* it will send no more */
        if (measuring && done_conns == nopen)
            finish(0);
    } else {
        nfailed++;
        if (!tried_all)
            connect_more();
    }
}

static void became_open(conn *c)
{
    c->state = S_OPEN;
    in_progress--;
    nopen++;
    connect_more();
}

static void stop_loop(uv_timer_t *t)
{
    uv_stop(t->loop);
}

/* Every connection was tried: start the measured phase or report the idle ones. */
static void all_tried(void)
{
    if (opt.idle) {
        FILE *f = opt.status ? fopen(opt.status, "a") : stdout;
        if (f) {
            fprintf(f, "ready open=%d failed=%d%s%s\n", nopen, nfailed, first_error[0] ? " first_error=" : "",
                    first_error);
            fflush(f);
            if (f != stdout)
                fclose(f);
        }
        uv_timer_start(&hold_timer, stop_loop, (uint64_t)opt.hold * 1000, 0);
        return;
    }
    if (opt.fanout)
        fanout_start();
    else
        start_measuring();
}

/* ------------------------------------------------------------------ reading */

static void got_message(conn *c, int op, const char *data, size_t len)
{
    if (opt.proto == P_SOCKETIO) {
        if (c->state == S_EIO_OPEN) {
            if (len < 1 || data[0] != '0') {
                fail(c, "expected the Engine.IO open packet, got '%.*s'", (int)(len < 60 ? len : 60), data);
                return;
            }
            c->state = S_SIO_CONNECT;
            put_frame(c, 1, "40", 2);
            return;
        }
        if (len == 1 && data[0] == '2') { /* Engine.IO ping */
            put_frame(c, 1, "3", 1);
            return;
        }
        if (c->state == S_SIO_CONNECT) {
            if (len >= 2 && data[0] == '4' && data[1] == '0') {
                became_open(c);
            } else {
                fail(c, "expected the Socket.IO connect, got '%.*s'", (int)(len < 60 ? len : 60), data);
            }
            return;
        }
    }
    if (c->state != S_OPEN || opt.idle)
        return;
    (void)op;
    if (opt.fanout) {
        fanout_got(c, data, len);
        return;
    }
    if (!measuring || c->recv >= c->sent) {
        mismatches++; /* an echo of nothing sent */
        return;
    }
    uint64_t now = uv_hrtime();
    static char want[65600];
    size_t wl = payload(c, c->recv, want, sizeof want);
    if (wl != len || memcmp(want, data, len) != 0)
        mismatches++;
    if (nlat < lat_cap)
        lat[nlat++] = now - c->ts[c->recv % (uint64_t)opt.depth];
    c->recv++;
    total_recv++;
    if (c->sent < opt.msgs) {
        send_message(c);
    } else if (c->recv == opt.msgs) {
        done_conns++;
        if (done_conns == nopen)
            finish(nclosed_early == 0);
    }
}

/* Parses every whole frame in c->in; returns 0, or -1 when the connection failed. */
static int parse_frames(conn *c)
{
    size_t off = 0;
    while (c->state != S_CLOSED) {
        const unsigned char *p = (const unsigned char *)c->in + off;
        size_t avail = c->in_len - off;
        if (avail < 2)
            break;
        int fin = p[0] & 0x80, op = p[0] & 0x0f;
        if ((p[0] & 0x70) || (p[1] & 0x80)) {
            fail(c, "server frame with RSV bits or a mask");
            return -1;
        }
        uint64_t len = p[1] & 0x7f;
        size_t h = 2;
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | p[2 + i];
            h = 10;
        }
        if (len > (1u << 24)) {
            fail(c, "frame of %" PRIu64 " bytes", len);
            return -1;
        }
        if (avail < h + len)
            break;
        const char *data = (const char *)p + h;
        off += h + (size_t)len;
        if (op == 8) {
            fail(c, "the server closed (code %d)", len >= 2 ? (p[h] << 8 | p[h + 1]) : 0);
            return -1;
        } else if (op == 9) {
            put_frame(c, 10, data, (size_t)len);
        } else if (op == 10) {
            /* unsolicited pong: ignored */
        } else if (op == 1 || op == 2) {
            if (fin) {
                got_message(c, op, data, (size_t)len);
            } else {
                c->msg_op = op;
                c->msg_len = 0;
                reserve(&c->msg, &c->msg_cap, (size_t)len);
                memcpy(c->msg, data, (size_t)len);
                c->msg_len = (size_t)len;
            }
        } else if (op == 0) {
            reserve(&c->msg, &c->msg_cap, c->msg_len + (size_t)len);
            memcpy(c->msg + c->msg_len, data, (size_t)len);
            c->msg_len += (size_t)len;
            if (fin)
                got_message(c, c->msg_op, c->msg, c->msg_len);
        } else {
            fail(c, "opcode %d", op);
            return -1;
        }
    }
    if (c->state == S_CLOSED)
        return -1;
    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
    return 0;
}

static void accept_value(const char *key, char out[64])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char cat[128];
    unsigned char sha[SHA_DIGEST_LENGTH];
    int n = snprintf(cat, sizeof cat, "%s%s", key, guid);
    SHA1((const unsigned char *)cat, (size_t)n, sha);
    EVP_EncodeBlock((unsigned char *)out, sha, SHA_DIGEST_LENGTH);
}

static int handshake_done(conn *c)
{
    char *end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
    if (!end) {
        if (c->in_len > 8192)
            fail(c, "no end of the handshake response in 8 KiB");
        return 0;
    }
    size_t hl = (size_t)(end + 4 - c->in);
    if (c->in_len < 12 || memcmp(c->in, "HTTP/1.1 101", 12) != 0) {
        char *eol = memchr(c->in, '\r', hl);
        fail(c, "handshake answered '%.*s'", (int)(eol ? eol - c->in : 40), c->in);
        return -1;
    }
    char want[64];
    accept_value(c->key, want);
    int ok = 0;
    for (char *l = memchr(c->in, '\n', hl); l && l < end; l = memchr(l + 1, '\n', (size_t)(end - l))) {
        static const char h[] = "\nsec-websocket-accept:";
        if ((size_t)(end - l) > sizeof h && strncasecmp(l, h, sizeof h - 1) == 0) {
            char *v = l + sizeof h - 1;
            while (*v == ' ')
                v++;
            ok = strncmp(v, want, strlen(want)) == 0;
        }
    }
    if (!ok) {
        fail(c, "wrong or missing Sec-WebSocket-Accept");
        return -1;
    }
    memmove(c->in, c->in + hl, c->in_len - hl);
    c->in_len -= hl;
    if (opt.proto == P_SOCKETIO) {
        c->state = S_EIO_OPEN;
    } else {
        became_open(c);
    }
    return 1;
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
    conn *c = h->data;
    (void)hint;
    reserve(&c->in, &c->in_cap, c->in_len + 65536);
    *buf = uv_buf_init(c->in + c->in_len, (unsigned)(c->in_cap - c->in_len));
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    conn *c = s->data;
    (void)buf;
    if (n == 0)
        return;
    if (n < 0) {
        fail(c, "read: %s", n == UV_EOF ? "the server closed the connection" : uv_strerror((int)n));
        return;
    }
    c->in_len += (size_t)n;
    if (c->state == S_HANDSHAKE && handshake_done(c) <= 0)
        return;
    if (parse_frames(c) == 0)
        flush(c);
}

/* ------------------------------------------------------------------ connecting */

static void b64(const unsigned char *in, size_t n, char *out)
{
    EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static void on_connect(uv_connect_t *req, int status)
{
    conn *c = req->data;
    if (c->state == S_CLOSED)
        return; /* cut off by --connect-limit */
    if (status < 0) {
        c->state = S_HANDSHAKE; /* counted as in progress: fail() settles it */
        fail(c, "connect: %s", uv_strerror(status));
        return;
    }
    c->state = S_HANDSHAKE;
    unsigned char raw[16];
    for (int i = 0; i < 16; i += 4) {
        uint32_t r = xs(&c->mask_state);
        memcpy(raw + i, &r, 4);
    }
    b64(raw, 16, c->key);
    char req_text[512];
    int n = snprintf(req_text, sizeof req_text,
                     "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     opt.path, opt.host, opt.port, c->key);
    reserve(&c->out, &c->out_cap, (size_t)n);
    memcpy(c->out, req_text, (size_t)n);
    c->out_len = (size_t)n;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    flush(c);
}

static void connect_more(void)
{
    while (next_to_connect < opt.conns && in_progress < opt.connecting) {
        conn *c = &conns[next_to_connect];
        c->id = next_to_connect++;
        c->mask_state = 2463534242u ^ (uint32_t)(c->id * 2654435761u);
        if (!c->mask_state)
            c->mask_state = 1;
        c->ts = xrealloc(NULL, sizeof *c->ts * (size_t)opt.depth);
        c->state = S_CONNECTING;
        uv_tcp_init(loop, &c->tcp);
        uv_tcp_nodelay(&c->tcp, 1);
        c->tcp.data = c;
        c->creq.data = c;
        struct sockaddr_in a;
        uv_ip4_addr(opt.host, opt.port, &a);
        in_progress++;
        int rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&a, on_connect);
        if (rc < 0) {
            c->state = S_HANDSHAKE;
            fail(c, "connect: %s", uv_strerror(rc));
        }
    }
    if (next_to_connect >= opt.conns && in_progress == 0 && !tried_all) {
        tried_all = 1;
        all_tried();
    }
}

/* ------------------------------------------------------------------ measuring */

static void on_limit(uv_timer_t *t)
{
    (void)t;
    if (measuring)
        finish(0);
    else {
        fprintf(stderr, "ws-load: time limit reached while connecting (%d open, %d failed)\n", nopen, nfailed);
        finish(0);
    }
}

static void start_measuring(void)
{
    if (measuring || finished)
        return;
    if (nopen == 0) {
        finish(0);
        return;
    }
    measuring = 1;
    srv0 = proc_ticks(&usr0);
    getrusage(RUSAGE_SELF, &ru0);
    t0 = uv_hrtime();
    for (int i = 0; i < opt.conns; i++) {
        conn *c = &conns[i];
        if (c->state != S_OPEN)
            continue;
        for (int k = 0; k < opt.depth && c->sent < opt.msgs; k++)
            send_message(c);
        flush(c);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct(double p)
{
    if (!nlat)
        return 0;
    size_t i = (size_t)(p * (double)(nlat - 1) + 0.5);
    return (double)lat[i] / 1e3;
}

static void finish(int complete)
{
    if (finished)
        return;
    finished = 1;
    t1 = uv_hrtime();
    srv1 = proc_ticks(&usr1);
    getrusage(RUSAGE_SELF, &ru1);
    uv_stop(loop);
    if (!measuring)
        t0 = t1;
    qsort(lat, nlat, sizeof *lat, cmp_u64);
    double secs = (double)(t1 - t0) / 1e9;
    long hz = sysconf(_SC_CLK_TCK);
    double srv_us = total_recv ? (double)(srv1 - srv0) / (double)hz * 1e6 / (double)total_recv : 0;
    double usr_us = total_recv ? (double)(usr1 - usr0) / (double)hz * 1e6 / (double)total_recv : 0;
    double cli = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t sent = 0;
    for (int i = 0; i < opt.conns; i++)
        sent += conns[i].sent;
    printf("result conns=%d open=%d failed=%d closed=%d msgs=%" PRIu64 " recv=%" PRIu64 " mismatches=%" PRIu64
           " errors=%" PRIu64 " secs=%.3f msgs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f"
           " max_us=%.1f srv_ticks=%ld srv_us_per_msg=%.3f srv_user_us_per_msg=%.3f cli_us_per_msg=%.3f complete=%d\n",
           opt.conns, nopen, nfailed, nclosed_early, sent, total_recv, mismatches,
           errors, secs, secs > 0 ? (double)total_recv / secs : 0, pct(0.5), pct(0.9), pct(0.99), pct(0.999),
           nlat ? (double)lat[nlat - 1] / 1e3 : 0, srv1 - srv0, srv_us, usr_us, total_recv ? cli * 1e6 / (double)total_recv : 0,
           complete);
    if (first_error[0])
        printf("first_error %s\n", first_error);
    fflush(stdout);
}

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    if (opt.fanout) {
        if (measuring)
            fanout_round_end(0);
    } else if (!opt.idle)
        finish(0);
    uv_stop(loop);
}


/* ------------------------------------------------------------------ fan-out */

/* The body of published message K sent at T ns: "<k>:<t>:" and 'x' up to
 * --size; in the wire form of the protocol (EVENT is the Socket.IO event
 * around it).  Returns its length. */
static size_t fanout_body(uint64_t k, uint64_t t, const char *event, char *buf, size_t cap)
{
    char body[65536];
    size_t size = (size_t)opt.size < sizeof body ? (size_t)opt.size : sizeof body - 1;
    size_t len = (size_t)snprintf(body, sizeof body, "%" PRIu64 ":%" PRIu64 ":", k, t);
    if (len < size) {
        memset(body + len, 'x', size - len);
        len = size;
    }
    if (opt.proto == P_SOCKETIO) {
        int m = snprintf(buf, cap, "42[\"%s\",\"%.*s\"]", event, (int)len, body);
        return (size_t)m < cap ? (size_t)m : cap - 1;
    }
    len = len < cap ? len : cap;
    memcpy(buf, body, len);
    return len;
}

/* Publishes while fewer than --window messages lack a subscriber and the
 * round has more to send; one write per message (its clock read just before). */
static void fanout_publish(void)
{
    static char buf[65600];
    conn *p = fo.pub;
    while (p->state == S_OPEN && fo.published < fo.round_end && fo.published - fo.fully < (uint64_t)opt.window) {
        size_t len = fanout_body(fo.published, uv_hrtime(), "pub", buf, sizeof buf);
        put_frame(p, 1, buf, len);
        fo.published++;
        flush(p);
    }
}

static void fanout_got(conn *c, const char *data, size_t len)
{
    uint64_t now = uv_hrtime();
    if (!measuring) {
        fo.bad++; /* nothing was published */
        return;
    }
    const char *b = data, *end = data + len;
    if (opt.proto == P_SOCKETIO) {
        static const char pre[] = "42[\"msg\",\"";
        if (len < sizeof pre || memcmp(data, pre, sizeof pre - 1) != 0) {
            fo.bad++;
            return;
        }
        b += sizeof pre - 1;
    }
    /* "<k>:<t>:": parsed by hand (the frame is not NUL-terminated) */
    uint64_t k = 0, t = 0;
    const char *q = b;
    while (q < end && *q >= '0' && *q <= '9')
        k = k * 10 + (uint64_t)(*q++ - '0');
    int ok = q > b && q < end && *q == ':';
    const char *r = ++q;
    while (ok && q < end && *q >= '0' && *q <= '9')
        t = t * 10 + (uint64_t)(*q++ - '0');
    ok = ok && q > r && q < end && *q == ':';
    if (ok) {
        static char want[65600];
        size_t wl = fanout_body(k, t, "msg", want, sizeof want);
        ok = wl == len && memcmp(want, data, len) == 0;
    }
    if (!ok || k != c->recv || k >= fo.published) {
        fo.bad++; /* changed, missing, duplicated, reordered or never published */
        if (ok && k > c->recv && k < fo.published)
            c->recv = k + 1; /* resynchronise: the gap is counted once */
        return;
    }
    c->recv++;
    fo.recv++;
    uint64_t ns = now > t ? now - t : 0, us = ns / 1000;
    if (us < LAT_US)
        fo.hist_us[us]++;
    else
        fo.hist_ms[us / 1000 < LAT_MS ? us / 1000 : LAT_MS - 1]++;
    fo.nlat++;
    if (ns > fo.max_ns)
        fo.max_ns = ns;
    uint64_t moved = fo.fully;
    if (++fo.cnt[k % fo.ring] == (uint32_t)fo.subs) {
        while (fo.fully < fo.published && fo.cnt[fo.fully % fo.ring] == (uint32_t)fo.subs)
            fo.cnt[fo.fully++ % fo.ring] = 0;
    }
    if (fo.fully == fo.round_end)
        fanout_round_end(1);
    else if (fo.fully != moved)
        fanout_publish();
}

static double fanout_pct(double p)
{
    if (!fo.nlat)
        return 0;
    uint64_t want = (uint64_t)(p * (double)(fo.nlat - 1)) + 1, seen = 0;
    for (uint64_t i = 0; i < LAT_US; i++)
        if ((seen += fo.hist_us[i]) >= want)
            return (double)i + 0.5;
    for (uint64_t i = 0; i < LAT_MS; i++)
        if ((seen += fo.hist_ms[i]) >= want)
            return (double)i * 1000 + 500;
    return (double)fo.max_ns / 1e3;
}

static void fanout_round_timeout(uv_timer_t *t)
{
    (void)t;
    fanout_round_end(0);
}

static void fanout_round_begin(void)
{
    uint64_t n = fo.round == 0 ? opt.msgs / 4 + 1 : opt.msgs;
    memset(fo.hist_us, 0, LAT_US * sizeof *fo.hist_us);
    memset(fo.hist_ms, 0, LAT_MS * sizeof *fo.hist_ms);
    fo.nlat = fo.max_ns = fo.recv = fo.bad = 0;
    errors = 0;
    fo.round_first = fo.published;
    fo.round_end = fo.published + n;
    measuring = 1;
    srv0 = proc_ticks(&usr0);
    getrusage(RUSAGE_SELF, &ru0);
    t0 = uv_hrtime();
    uv_timer_start(&limit_timer, fanout_round_timeout, (uint64_t)(opt.time_limit * 1000), 0);
    fanout_publish();
}

static void fanout_round_end(int complete)
{
    if (!measuring)
        return;
    measuring = 0;
    uv_timer_stop(&limit_timer);
    t1 = uv_hrtime();
    srv1 = proc_ticks(&usr1);
    getrusage(RUSAGE_SELF, &ru1);
    double secs = (double)(t1 - t0) / 1e9;
    long hz = sysconf(_SC_CLK_TCK);
    double d = fo.recv ? (double)fo.recv : 1;
    double cli = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
    uint64_t msgs = fo.round_end - fo.round_first;
    printf("%s round=%d subs=%d conns=%d failed=%d msgs=%" PRIu64 " published=%" PRIu64 " expected=%" PRIu64
           " recv=%" PRIu64 " mismatches=%" PRIu64 " errors=%" PRIu64 " secs=%.3f deliveries_per_s=%.0f"
           " pubs_per_s=%.0f p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f srv_ticks=%ld"
           " srv_us_per_msg=%.3f srv_user_us_per_msg=%.3f cli_us_per_msg=%.3f window=%d connect_secs=%.1f"
           " complete=%d\n",
           fo.round == 0 ? "warmup" : "result", fo.round, fo.subs, opt.conns, nfailed, msgs,
           fo.published - fo.round_first, msgs * (uint64_t)fo.subs, fo.recv, fo.bad, errors, secs,
           secs > 0 ? (double)fo.recv / secs : 0, secs > 0 ? (double)(fo.fully - fo.round_first) / secs : 0,
           fanout_pct(0.5), fanout_pct(0.9), fanout_pct(0.99), fanout_pct(0.999), (double)fo.max_ns / 1e3,
           srv1 - srv0, (double)(srv1 - srv0) / (double)hz * 1e6 / d, (double)(usr1 - usr0) / (double)hz * 1e6 / d,
           cli * 1e6 / d, opt.window, (double)(fo.tconn1 - fo.tconn0) / 1e9, complete);
    if (first_error[0])
        printf("first_error %s\n", first_error);
    fflush(stdout);
    if (!complete || fo.bad || ++fo.round > fo.rounds) {
        finished = 1; /* an incomplete round leaves stragglers: no round after it */
        uv_stop(loop);
        return;
    }
    fanout_round_begin();
}

/* Every connection was tried (or --connect-limit cut it short): the open
 * ones are the subscribers, the first of them publishes too. */
static void fanout_start(void)
{
    uv_timer_stop(&limit_timer);
    fo.tconn1 = uv_hrtime();
    for (int i = 0; i < opt.conns && !fo.pub; i++)
        if (conns[i].state == S_OPEN)
            fo.pub = &conns[i];
    fo.subs = 0;
    for (int i = 0; i < opt.conns; i++)
        fo.subs += conns[i].state == S_OPEN;
    fo.rounds = opt.rounds;
    if (!fo.pub) {
        printf("result round=0 subs=0 conns=%d failed=%d complete=0\nfirst_error %s\n", opt.conns, nfailed,
               first_error[0] ? first_error : "no connection opened");
        fflush(stdout);
        finished = 1;
        uv_stop(loop);
        return;
    }
    fanout_round_begin();
}

/* Handshakes still unfinished after --connect-limit are abandoned; the
 * rounds go on with the subscribers reached (the report says how many). */
static void on_connect_limit(uv_timer_t *t)
{
    (void)t;
    if (tried_all)
        return;
    fprintf(stderr, "ws-load: %d of %d subscribers open after %.0f s, going on with them\n", nopen, opt.conns,
            opt.connect_limit);
    next_to_connect = opt.conns;
    for (int i = 0; i < opt.conns; i++)
        if (conns[i].state != S_OPEN && conns[i].state != S_CLOSED && conns[i].ts) /* ts: was started */
            close_conn(&conns[i]);
    tried_all = 1;
    fanout_start();
}

/* ------------------------------------------------------------------ main */

static void usage(void)
{
    fprintf(stderr,
            "usage: ws-load --port P [--host 127.0.0.1] [--path /echo] [--proto ws|socketio]\n"
            "               [--conns 64] [--msgs 10000] [--depth 1] [--size 64] [--connecting 200]\n"
            "               [--time-limit 60] [--pid PID]... [--idle [--hold 60] [--status FILE]]\n"
            "               [--fanout [--window 8] [--rounds 3] [--connect-limit 120]]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (ARG("--port"))
            opt.port = atoi(v);
        else if (ARG("--host"))
            opt.host = v;
        else if (ARG("--path"))
            opt.path = v;
        else if (ARG("--proto")) {
            if (strcmp(v, "ws") == 0)
                opt.proto = P_WS;
            else if (strcmp(v, "socketio") == 0)
                opt.proto = P_SOCKETIO;
            else
                usage();
        } else if (ARG("--conns"))
            opt.conns = atoi(v);
        else if (ARG("--msgs"))
            opt.msgs = strtoull(v, NULL, 10);
        else if (ARG("--depth"))
            opt.depth = atoi(v);
        else if (ARG("--size"))
            opt.size = atoi(v);
        else if (ARG("--connecting"))
            opt.connecting = atoi(v);
        else if (ARG("--time-limit"))
            opt.time_limit = atof(v);
        else if (ARG("--window"))
            opt.window = atoi(v);
        else if (ARG("--rounds"))
            opt.rounds = atoi(v);
        else if (ARG("--connect-limit"))
            opt.connect_limit = atof(v);
        else if (ARG("--hold"))
            opt.hold = atoi(v);
        else if (ARG("--status"))
            opt.status = v;
        else if (ARG("--pid")) {
            if (opt.npids < MAX_PIDS)
                opt.pids[opt.npids++] = atoi(v);
        } else if (strcmp(a, "--idle") == 0)
            opt.idle = 1;
        else if (strcmp(a, "--fanout") == 0)
            opt.fanout = 1;
        else
            usage();
#undef ARG
    }
    if (!opt.port || opt.conns < 1 || opt.depth < 1 || opt.window < 1 || opt.rounds < 1 || opt.size < 1 || opt.size > 65000 || opt.connecting < 1)
        usage();
    if (!opt.path)
        opt.path = opt.proto == P_SOCKETIO ? "/socket.io/?EIO=4&transport=websocket"
                   : opt.fanout              ? "/broadcast"
                                             : "/echo";

    /* 10,000 connections need as many descriptors: raise the soft limit to the hard one. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);

    loop = uv_default_loop();
    conns = calloc((size_t)opt.conns, sizeof *conns);
    if (!conns)
        return 2;
    if (opt.fanout) {
        fo.ring = (uint64_t)opt.window;
        fo.cnt = calloc(fo.ring, sizeof *fo.cnt);
        fo.hist_us = calloc(LAT_US, sizeof *fo.hist_us);
        fo.hist_ms = calloc(LAT_MS, sizeof *fo.hist_ms);
        if (!fo.cnt || !fo.hist_us || !fo.hist_ms)
            return 2;
    } else if (!opt.idle) {
        lat_cap = (size_t)opt.conns * opt.msgs;
        if (lat_cap > 50u * 1000 * 1000)
            lat_cap = 50u * 1000 * 1000;
        lat = malloc(lat_cap * sizeof *lat);
        if (!lat)
            return 2;
    }
    uv_timer_init(loop, &limit_timer);
    uv_timer_init(loop, &hold_timer);
    uv_signal_init(loop, &sigterm);
    uv_signal_init(loop, &sigint);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigint, on_signal, SIGINT);
    if (opt.fanout) {
        fo.tconn0 = uv_hrtime();
        uv_timer_start(&limit_timer, on_connect_limit, (uint64_t)(opt.connect_limit * 1000), 0);
    } else if (!opt.idle)
        uv_timer_start(&limit_timer, on_limit, (uint64_t)(opt.time_limit * 1000), 0);
    connect_more();
    uv_run(loop, UV_RUN_DEFAULT); /* echo: until finish(); idle: until --hold ran out or a signal;
                                     fanout: until the last round */
    if (opt.idle) {
        FILE *f = opt.status ? fopen(opt.status, "a") : stdout;
        if (f) {
            int still = 0;
            for (int i = 0; i < opt.conns; i++)
                still += conns[i].state == S_OPEN;
            fprintf(f, "end open=%d errors=%" PRIu64 "\n", still, errors);
            if (f != stdout)
                fclose(f);
        }
    }
    return 0;
}

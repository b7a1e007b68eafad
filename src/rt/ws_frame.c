/*
 * ws_frame.c — WebSocket framing (RFC 6455 section 5) as pure functions
 * over bytes: decoding and writing frame headers, unmasking, incremental
 * UTF-8 validation, close codes, and the reader that turns a client's
 * byte stream into messages and control frames.
 *
 * The reader knows no connection and no clock: ws.c feeds it what a read
 * brought, the unit tests and fuzz/ws_frame_fuzz.c feed it bytes split
 * anywhere and check that the outcome does not depend on the split.  Every
 * rule a client can break is checked the moment the byte that breaks it
 * arrives (a header as soon as it is complete, UTF-8 byte by byte, the size
 * limit on the announced length), so nothing invalid is buffered first.
 *
 * Memory: the reader holds a partial header (14 bytes) and a control
 * payload (125) in itself; a data message is unmasked straight into `msg`
 * (one pass: copy and XOR together), a pool block for the usual small
 * message, given back as soon as the message is delivered, so a connection
 * between messages holds no buffer.
 */
#include "rt.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ headers */

int vial__wsf_parse(const unsigned char *p, size_t n, vial__wsf *f)
{
    if (n < 2)
        return 0;
    unsigned len7 = p[1] & 0x7f;
    bool masked = p[1] & 0x80;
    size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (masked ? 4 : 0);
    if (n < hl)
        return 0;
    f->fin = p[0] & 0x80;
    f->rsv = (p[0] >> 4) & 7;
    f->op = p[0] & 0x0f;
    f->masked = masked;
    size_t i = 2;
    if (len7 == 126) {
        f->len = (uint64_t)p[2] << 8 | p[3];
        if (f->len < 126)
            return -VIAL__WS_C_PROTOCOL; /* not the shortest form */
        i = 4;
    } else if (len7 == 127) {
        uint64_t len = 0;
        for (int k = 0; k < 8; k++)
            len = len << 8 | p[2 + k];
        if (len >> 63 || len <= 0xffff)
            return -VIAL__WS_C_PROTOCOL; /* top bit set, or not the shortest form */
        f->len = len;
        i = 10;
    } else {
        f->len = len7;
    }
    if (masked)
        memcpy(f->mask, p + i, 4);
    else
        memset(f->mask, 0, 4);
    return (int)hl;
}

size_t vial__wsf_head(unsigned char out[10], unsigned op, bool compressed, uint64_t len)
{
    out[0] = (unsigned char)(0x80 | (compressed ? 0x40 : 0) | (op & 0x0f));
    if (len < 126) {
        out[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        out[1] = 126;
        out[2] = (unsigned char)(len >> 8);
        out[3] = (unsigned char)len;
        return 4;
    }
    out[1] = 127;
    for (int k = 0; k < 8; k++)
        out[2 + k] = (unsigned char)(len >> (56 - 8 * k));
    return 10;
}

void vial__ws_unmask(unsigned char *dst, const unsigned char *src, size_t n, const uint8_t mask[4],
                     uint64_t off)
{
    unsigned char m[8];
    for (int k = 0; k < 8; k++)
        m[k] = mask[(off + (uint64_t)k) & 3];
    size_t i = 0;
    /* Eight bytes at a time: a multiple of four keeps the mask in phase. */
    if (n >= 8) {
        uint64_t m64;
        memcpy(&m64, m, 8);
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            memcpy(&w, src + i, 8);
            w ^= m64;
            memcpy(dst + i, &w, 8);
        }
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ m[i & 3];
}

bool vial__ws_close_code_ok(unsigned code)
{
    if (code >= 1000 && code <= 1014)
        return code != 1004 && code != 1005 && code != 1006; /* reserved, or never on the wire */
    return code >= 3000 && code <= 4999;
}

/* ------------------------------------------------------------------ UTF-8 */

/*
 * The state is 0 between characters; inside one it packs how many
 * continuation bytes are still due and the range the next one must fall
 * in (RFC 3629's table: E0 needs A0-BF, ED 80-9F — no surrogates —, F0
 * 90-BF, F4 80-8F), so an overlong form, a surrogate or a code point past
 * U+10FFFF fails at the first byte that makes it one.  UINT32_MAX: failed.
 */
#define UTF8_BAD UINT32_MAX
#define UTF8_ST(need, lo, hi) ((uint32_t)(need) << 16 | (uint32_t)(lo) << 8 | (uint32_t)(hi))

int vial__utf8_feed(uint32_t *st, const unsigned char *p, size_t n)
{
    uint32_t s = *st;
    const unsigned char *e = p + n;
    if (s == UTF8_BAD)
        return -1;
    while (p < e) {
        if (s == 0) {
            /* ASCII runs, eight bytes at a time: most text is ASCII. */
            while (e - p >= 8) {
                uint64_t w;
                memcpy(&w, p, 8);
                if (w & UINT64_C(0x8080808080808080))
                    break;
                p += 8;
            }
            if (p == e)
                break;
            unsigned c = *p++;
            if (c < 0x80)
                continue;
            if (c < 0xc2)
                goto bad; /* a continuation byte, or C0/C1 (overlong) */
            if (c < 0xe0)
                s = UTF8_ST(1, 0x80, 0xbf);
            else if (c < 0xf0)
                s = UTF8_ST(2, c == 0xe0 ? 0xa0 : 0x80, c == 0xed ? 0x9f : 0xbf);
            else if (c < 0xf5)
                s = UTF8_ST(3, c == 0xf0 ? 0x90 : 0x80, c == 0xf4 ? 0x8f : 0xbf);
            else
                goto bad;
        } else {
            unsigned c = *p++;
            if (c < ((s >> 8) & 0xff) || c > (s & 0xff))
                goto bad;
            unsigned need = (s >> 16) - 1;
            s = need ? UTF8_ST(need, 0x80, 0xbf) : 0;
        }
    }
    *st = s;
    return 0;
bad:
    *st = UTF8_BAD;
    return -1;
}

/* ------------------------------------------------------------------ the reader */

void vial__wsr_init(vial__wsr *r, const vial__wsr_ops *ops, void *ud, uint64_t max_message,
                    vial__pool *pool)
{
    memset(r, 0, sizeof *r);
    r->ops = ops;
    r->ud = ud;
    r->max_message = max_message;
    r->msg.pool = pool;
}

void vial__wsr_free(vial__wsr *r)
{
    vial__buf_free(&r->msg);
}

static int fail(vial__wsr *r, int code, const char *why)
{
    r->err = code;
    r->why = why;
    return code;
}

/* A compressed message's wire size may exceed the limit: incompressible
 * data grows by 5 bytes per stored block, and a compressor with little
 * memory (python-websockets' memLevel 5) makes blocks of ~2 KiB.  Its
 * bytes are inflated as they come, never buffered: the inflated size is
 * what the limit bounds; this only keeps a message from going on forever. */
static uint64_t wire_limit(const vial__wsr *r, bool compressed)
{
    uint64_t m = r->max_message;
    return compressed ? 2 * m + 65536 : m;
}

/* The rules a header breaks on its face, in a fixed order. */
static int check_header(vial__wsr *r)
{
    const vial__wsf *f = &r->f;
    if (f->rsv & 3)
        return fail(r, VIAL__WS_C_PROTOCOL, "RSV2/RSV3 set without an extension that defines them");
    if ((f->op > 2 && f->op < 8) || f->op > 10)
        return fail(r, VIAL__WS_C_PROTOCOL, "reserved opcode");
    if (!f->masked)
        return fail(r, VIAL__WS_C_PROTOCOL, "client frames must be masked");
    if (f->op >= 8) {
        if (!f->fin)
            return fail(r, VIAL__WS_C_PROTOCOL, "fragmented control frame");
        if (f->len > 125)
            return fail(r, VIAL__WS_C_PROTOCOL, "control frame payload over 125 bytes");
        if (f->rsv)
            return fail(r, VIAL__WS_C_PROTOCOL, "RSV1 on a control frame");
        return 0;
    }
    if (f->op == VIAL__WS_CONT) {
        if (!r->in_msg)
            return fail(r, VIAL__WS_C_PROTOCOL, "continuation frame with nothing to continue");
        if (f->rsv)
            return fail(r, VIAL__WS_C_PROTOCOL, "RSV1 on a continuation frame");
    } else {
        if (r->in_msg)
            return fail(r, VIAL__WS_C_PROTOCOL, "new data frame inside a fragmented message");
        if (f->rsv && !r->ops->inflate)
            return fail(r, VIAL__WS_C_PROTOCOL, "RSV1 set without permessage-deflate");
        r->in_msg = true;
        r->msg_op = f->op;
        r->compressed = f->rsv & 4;
        r->wire = 0;
        r->utf8 = 0;
    }
    if (f->len > wire_limit(r, r->compressed) - r->wire)
        return fail(r, VIAL__WS_C_TOO_BIG, "message over the size limit");
    r->wire += f->len;
    return 0;
}

/* Validates `n` new bytes of a text message at msg.p + from. */
static int check_text(vial__wsr *r, size_t from)
{
    if (r->msg_op == VIAL__WS_TEXT &&
        vial__utf8_feed(&r->utf8, (const unsigned char *)r->msg.p + from, r->msg.n - from))
        return fail(r, VIAL__WS_C_BAD_DATA, "text message is not valid UTF-8");
    return 0;
}

/*
 * After inflating into msg.p + from: the verdict on the new bytes.  When
 * inflating passed the limit, the text up to the limit is checked first,
 * so that invalid UTF-8 before the limit wins over the limit as it would
 * have, had the same bytes come in smaller reads (the outcome must not
 * depend on how the input was split).
 */
static int inflated(vial__wsr *r, size_t from, int rc)
{
    if (rc == VIAL__WS_C_TOO_BIG && r->msg_op == VIAL__WS_TEXT) {
        size_t end = r->msg.n < r->max_message ? r->msg.n : (size_t)r->max_message;
        if (end > from &&
            vial__utf8_feed(&r->utf8, (const unsigned char *)r->msg.p + from, end - from))
            return fail(r, VIAL__WS_C_BAD_DATA, "text message is not valid UTF-8");
    }
    if (rc)
        return fail(r, rc, rc == VIAL__WS_C_TOO_BIG ? "message over the size limit"
                           : rc == VIAL__WS_C_BAD_DATA ? "corrupt compressed data"
                                                       : "out of memory");
    return check_text(r, from);
}

static int end_message(vial__wsr *r)
{
    if (r->compressed) {
        size_t from = r->msg.n;
        if (inflated(r, from, r->ops->inflate(r->ud, NULL, 0, true, &r->msg, r->max_message)))
            return r->err;
    }
    if (r->msg_op == VIAL__WS_TEXT && r->utf8)
        return fail(r, VIAL__WS_C_BAD_DATA, "text message ends inside a UTF-8 sequence");
    if (vial__buf_nul(&r->msg))
        return fail(r, VIAL__WS_C_INTERNAL, "out of memory");
    int op = r->msg_op;
    r->in_msg = false;
    r->compressed = false;
    r->wire = 0;
    int rc = r->ops->message(r->ud, op, r->msg.p, r->msg.n);
    r->msg.n = 0;
    vial__buf_release(&r->msg); /* between messages a connection holds no buffer */
    if (rc)
        r->err = VIAL__WSR_STOPPED;
    return r->err;
}

static int end_control(vial__wsr *r)
{
    const vial__wsf *f = &r->f;
    size_t n = r->cn;
    r->cbuf[n] = 0;
    int rc;
    if (f->op == VIAL__WS_CLOSE) {
        unsigned code = VIAL__WS_C_NO_STATUS;
        const char *reason = (const char *)r->cbuf;
        size_t rn = 0;
        if (n == 1)
            return fail(r, VIAL__WS_C_PROTOCOL, "close payload of one byte");
        if (n >= 2) {
            code = (unsigned)r->cbuf[0] << 8 | r->cbuf[1];
            if (!vial__ws_close_code_ok(code))
                return fail(r, VIAL__WS_C_PROTOCOL, "invalid close code");
            reason += 2;
            rn = n - 2;
            uint32_t st = 0;
            if (vial__utf8_feed(&st, (const unsigned char *)reason, rn) || st)
                return fail(r, VIAL__WS_C_BAD_DATA, "close reason is not valid UTF-8");
        }
        r->ops->control(r->ud, VIAL__WS_CLOSE, reason, rn, code);
        r->err = VIAL__WSR_STOPPED; /* nothing after a close is read */
        return r->err;
    }
    rc = r->ops->control(r->ud, f->op, (const char *)r->cbuf, n, 0);
    if (rc)
        r->err = VIAL__WSR_STOPPED;
    return r->err;
}

/* The frame is complete: a control frame, or the end of a data frame. */
static int end_frame(vial__wsr *r)
{
    r->in_frame = false;
    if (r->f.op >= 8)
        return end_control(r);
    if (r->f.fin)
        return end_message(r);
    return 0;
}

/* Payload bytes of a data frame. */
static int data(vial__wsr *r, const unsigned char *p, size_t take)
{
    if (r->compressed) {
        unsigned char tmp[4096];
        while (take) {
            size_t k = take < sizeof tmp ? take : sizeof tmp;
            vial__ws_unmask(tmp, p, k, r->f.mask, r->off);
            size_t from = r->msg.n;
            int rc = r->ops->inflate(r->ud, (const char *)tmp, k, false, &r->msg, r->max_message);
            if (inflated(r, from, rc))
                return r->err;
            r->off += k;
            r->left -= k;
            p += k;
            take -= k;
        }
        return 0;
    }
    if (vial__buf_reserve(&r->msg, take))
        return fail(r, VIAL__WS_C_INTERNAL, "out of memory");
    size_t from = r->msg.n;
    vial__ws_unmask((unsigned char *)r->msg.p + from, p, take, r->f.mask, r->off);
    r->msg.n += take;
    r->off += take;
    r->left -= take;
    return check_text(r, from);
}

/* A header is complete in `h`: check it and start its payload. */
static int begin_frame(vial__wsr *r)
{
    if (check_header(r))
        return r->err;
    r->in_frame = true;
    r->left = r->f.len;
    r->off = 0;
    r->cn = 0;
    if (r->left == 0)
        return end_frame(r);
    return 0;
}

int vial__wsr_feed(vial__wsr *r, const char *in, size_t n)
{
    const unsigned char *p = (const unsigned char *)in;
    while (n && !r->err) {
        if (!r->in_frame) {
            int hl;
            if (r->hn == 0) {
                /* The usual case: the whole header is in this read. */
                hl = vial__wsf_parse(p, n, &r->f);
                if (hl == 0) {
                    memcpy(r->hbuf, p, n); /* n < 14 here */
                    r->hn = (uint8_t)n;
                    return 0;
                }
                if (hl > 0) {
                    p += hl;
                    n -= (size_t)hl;
                }
            } else {
                size_t old = r->hn, k = VIAL__WSF_HEAD_MAX - old < n ? VIAL__WSF_HEAD_MAX - old : n;
                memcpy(r->hbuf + old, p, k);
                hl = vial__wsf_parse(r->hbuf, old + k, &r->f);
                if (hl == 0) {
                    r->hn = (uint8_t)(old + k);
                    return 0;
                }
                if (hl > 0) {
                    p += (size_t)hl - old; /* only what the header took from this read */
                    n -= (size_t)hl - old;
                    r->hn = 0;
                }
            }
            if (hl < 0)
                return fail(r, -hl, "frame length not in its shortest form");
            begin_frame(r);
            continue;
        }
        size_t take = r->left < n ? (size_t)r->left : n;
        if (r->f.op >= 8) {
            vial__ws_unmask(r->cbuf + r->cn, p, take, r->f.mask, r->off);
            r->cn = (uint8_t)(r->cn + take);
            r->off += take;
            r->left -= take;
        } else if (data(r, p, take)) {
            break;
        }
        p += take;
        n -= take;
        if (r->left == 0)
            end_frame(r);
    }
    return r->err;
}

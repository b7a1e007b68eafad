/*
 * h1_write.c — HTTP/1.1 serialization: an exchange's response onto the
 * wire.
 *
 * The head is written straight into the output queue's coalesce buffer
 * (sized once, filled with memcpy), and a small body is copied behind it,
 * so a typical response — and a whole pipelined batch of them — leaves in a
 * single write.  Bodies of 32 KiB and more are queued by reference, files
 * as regions for sendfile.  What the response says (status, headers, which
 * defaults apply) was decided by the handler; this file only spells it.
 */
#include "http.h"

#include <stdlib.h>
#include <unistd.h>

#define LARGE_BODY (32 * 1024) /* queue by reference above this */
/* A body that large was malloc'd, never a pool block, so the queue may free() it. */
_Static_assert(LARGE_BODY > VIAL__BLOCK_SIZE, "large bodies must not be pool blocks");

static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}
#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

/*
 * Writes the status line and headers.  `body_len` < 0 means chunked (or,
 * for HTTP/1.0, delimited by closing the connection).
 */
static int write_head(vial__msg *m, vial__outq *out, int64_t body_len, bool last)
{
    const char *reason = vial_status_reason(m->status);
    size_t rlen = strlen(reason), clen = m->ctype ? strlen(m->ctype) : 0;
    size_t need = 192 + rlen + clen;
    for (unsigned i = 0; i < m->nxh; i++)
        need += m->xh[i].name.n + m->xh[i].value.n + 4;
    for (vial__rhdr *h = m->rh; h; h = h->next)
        need += strlen(h->name) + strlen(h->value) + 4;
    char *o0 = vial__outq_reserve(out, need);
    if (!o0)
        return VIAL_ENOMEM;
    char *o = o0;
    o = PUTS(o, "HTTP/1.1 ");
    char num[24];
    int st = m->status;
    num[0] = (char)('0' + st / 100 % 10);
    num[1] = (char)('0' + st / 10 % 10);
    num[2] = (char)('0' + st % 10);
    num[3] = ' ';
    o = put(o, num, 4);
    o = put(o, reason, rlen);
    o = PUTS(o, "\r\nServer: vial\r\nDate: ");
    o = put(o, vial__http_date(), 29);
    o = PUTS(o, "\r\n");
    bool bodyless = vial__status_bodyless(m->status);
    if (m->ctype && !bodyless) {
        o = PUTS(o, "Content-Type: ");
        o = put(o, m->ctype, clen);
        o = PUTS(o, "\r\n");
    }
    if (body_len >= 0) {
        if (!bodyless) {
            o = PUTS(o, "Content-Length: ");
            o = put(o, num, vial__u64toa((uint64_t)body_len, num));
            o = PUTS(o, "\r\n");
        }
    } else if (m->http_minor >= 1) {
        o = PUTS(o, "Transfer-Encoding: chunked\r\n");
    } else {
        m->keep_alive = false; /* HTTP/1.0: the body ends when we close */
    }
    for (unsigned i = 0; i < m->nxh; i++) {
        o = put(o, m->xh[i].name.p, m->xh[i].name.n);
        o = PUTS(o, ": ");
        o = put(o, m->xh[i].value.p, m->xh[i].value.n);
        o = PUTS(o, "\r\n");
    }
    for (vial__rhdr *h = m->rh; h; h = h->next) {
        o = put(o, h->name, strlen(h->name));
        o = PUTS(o, ": ");
        o = put(o, h->value, strlen(h->value));
        o = PUTS(o, "\r\n");
    }
    if (m->status == 101) {
        o = PUTS(o, "Connection: Upgrade\r\n");
    } else if (!m->keep_alive || last) {
        o = PUTS(o, "Connection: close\r\n");
        m->keep_alive = false;
    } else if (m->http_minor == 0) {
        o = PUTS(o, "Connection: keep-alive\r\n");
    }
    o = PUTS(o, "\r\n");
    size_t n = (size_t)(o - o0);
    vial__outq_commit(out, n);
    m->bytes_out += n;
    return 0;
}

int vial__h1_write(vial__msg *m, vial__outq *out, bool last)
{
    if (m->file_fd >= 0) {
        int fd = m->file_fd;
        m->file_fd = -1;
        size_t len = vial__status_bodyless(m->status) ? 0 : m->file_len;
        int rc = write_head(m, out, (int64_t)len, last);
        if (rc || m->head || len == 0) {
            close(fd);
            return rc;
        }
        m->bytes_out += len;
        return vial__outq_file(out, fd, m->file_off, len);
    }
    const char *body = m->static_body ? m->static_body : m->body_out.p;
    size_t len = m->static_body ? m->static_len : m->body_out.n;
    if (vial__status_bodyless(m->status))
        len = 0;
    int rc = write_head(m, out, (int64_t)len, last);
    if (rc || m->head || len == 0)
        return rc;
    m->bytes_out += len;
    if (len >= LARGE_BODY && !m->static_body) {
        /* Hand the buffer itself to the queue; the exchange gets a new one. */
        char *p = m->body_out.p;
        m->body_out.p = NULL;
        m->body_out.n = m->body_out.cap = 0;
        m->body_out.pooled = false;
        return vial__outq_take(out, p, len);
    }
    if (len >= LARGE_BODY) {
        char *copy = malloc(len);
        if (!copy)
            return VIAL_ENOMEM;
        memcpy(copy, body, len);
        return vial__outq_take(out, copy, len);
    }
    return vial__outq_append(out, body, len);
}

int vial__h1_chunk(vial__msg *m, vial__outq *out)
{
    if (!m->stream_head_sent) {
        m->stream_head_sent = true;
        int rc = write_head(m, out, -1, !m->keep_alive);
        if (rc)
            return rc;
        if (m->head) {
            m->stream_done = true; /* HEAD: the head alone, no chunks */
            m->body_out.n = 0;
            return 0;
        }
    }
    size_t len = m->body_out.n;
    if (len == 0 || m->head)
        return 0;
    int rc = 0;
    if (m->http_minor >= 1) {
        static const char hex[] = "0123456789abcdef";
        char hdr[24], tmp[20];
        size_t k = 0, h = 0, v = len;
        do {
            tmp[k++] = hex[v & 15];
            v >>= 4;
        } while (v);
        while (k)
            hdr[h++] = tmp[--k];
        hdr[h++] = '\r';
        hdr[h++] = '\n';
        rc = vial__outq_append(out, hdr, h);
    }
    if (!rc) {
        if (len >= LARGE_BODY) {
            char *p = m->body_out.p;
            m->body_out.p = NULL;
            m->body_out.n = m->body_out.cap = 0;
            m->body_out.pooled = false;
            rc = vial__outq_take(out, p, len);
        } else {
            rc = vial__outq_append(out, m->body_out.p, len);
            m->body_out.n = 0;
        }
    }
    if (!rc && m->http_minor >= 1)
        rc = vial__outq_append(out, "\r\n", 2);
    m->bytes_out += len;
    return rc;
}

int vial__h1_end(vial__msg *m, vial__outq *out)
{
    if (m->http_minor >= 1 && !m->head)
        return vial__outq_append(out, "0\r\n\r\n", 5);
    return 0;
}

/*
 * buf.c — growable byte buffers, small string helpers and the output queue.
 *
 * Every function here reports allocation failure as VIAL_ENOMEM and leaves
 * the buffer as it was, so callers can answer 500 instead of crashing.
 */
#include "internal.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int vial__buf_reserve(vial__buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->n - 1)
        return VIAL_ENOMEM;
    size_t need = b->n + extra + 1; /* +1: room for vial__buf_nul() */
    if (need <= b->cap)
        return 0;
    if (!b->p && b->pool && need <= VIAL__BLOCK_SIZE) {
        b->p = vial__pool_get(b->pool);
        if (!b->p)
            return VIAL_ENOMEM;
        b->cap = VIAL__BLOCK_SIZE;
        b->pooled = true;
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    char *p;
    if (b->pooled) {
        p = malloc(cap);
        if (!p)
            return VIAL_ENOMEM;
        memcpy(p, b->p, b->n);
        vial__pool_put(b->pool, b->p);
        b->pooled = false;
    } else {
        p = realloc(b->p, cap);
        if (!p)
            return VIAL_ENOMEM;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

int vial__buf_append(vial__buf *b, const void *d, size_t n)
{
    if (n == 0)
        return 0;
    int rc = vial__buf_reserve(b, n);
    if (rc)
        return rc;
    memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}

int vial__buf_puts(vial__buf *b, const char *s)
{
    return vial__buf_append(b, s, strlen(s));
}

int vial__buf_vprintf(vial__buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int rc = vial__buf_reserve(b, 128);
    if (rc) {
        va_end(ap2);
        return rc;
    }
    int n = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return VIAL_EINVAL;
    }
    if ((size_t)n >= b->cap - b->n) {
        rc = vial__buf_reserve(b, (size_t)n);
        if (rc) {
            va_end(ap2);
            return rc;
        }
        vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap2);
    }
    va_end(ap2);
    b->n += (size_t)n;
    return 0;
}

int vial__buf_printf(vial__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = vial__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int vial__buf_nul(vial__buf *b)
{
    int rc = vial__buf_reserve(b, 0);
    if (rc)
        return rc;
    b->p[b->n] = '\0';
    return 0;
}

void vial__buf_release(vial__buf *b)
{
    if (b->pooled)
        vial__pool_put(b->pool, b->p);
    else
        free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->pooled = false;
}

void vial__buf_free(vial__buf *b)
{
    vial__buf_release(b);
    b->pool = NULL;
}

static inline int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool vial__streq_ci(const char *a, size_t an, const char *b)
{
    size_t i = 0;
    for (; i < an; i++) {
        if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    }
    return b[i] == '\0';
}

bool vial__strneq_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

size_t vial__u64toa(uint64_t v, char *out)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* ------------------------------------------------------------------ output queue */

/*
 * Invariant: segments are written in order; a segment with owned == NULL
 * refers to [off, off+len) of `coal`.  Appending small data extends the
 * last segment when it is the tail of `coal`, so a run of small responses
 * (pipelining) becomes a single iovec.
 */

static int seg_room(vial__outq *q)
{
    if (q->nsegs < q->cap)
        return 0;
    size_t cap = q->cap ? q->cap * 2 : 8;
    vial__oseg *s = realloc(q->segs, cap * sizeof *s);
    if (!s)
        return VIAL_ENOMEM;
    q->segs = s;
    q->cap = cap;
    return 0;
}

/* Reserves `n` bytes in the coalesce buffer and a segment slot, so that the
 * matching vial__outq_commit() cannot fail. */
char *vial__outq_reserve(vial__outq *q, size_t n)
{
    if (seg_room(q) || vial__buf_reserve(&q->coal, n))
        return NULL;
    return q->coal.p + q->coal.n;
}

void vial__outq_commit(vial__outq *q, size_t n)
{
    if (n == 0)
        return;
    vial__oseg *last = q->nsegs ? &q->segs[q->nsegs - 1] : NULL;
    if (last && !last->owned && last->fd < 0 && last->off + last->len == q->coal.n)
        last->len += n;
    else
        q->segs[q->nsegs++] = (vial__oseg){ NULL, -1, q->coal.n, n };
    q->coal.n += n;
    q->bytes += n;
}

int vial__outq_append(vial__outq *q, const void *d, size_t n)
{
    if (n == 0)
        return 0;
    char *dst = vial__outq_reserve(q, n);
    if (!dst)
        return VIAL_ENOMEM;
    memcpy(dst, d, n);
    vial__outq_commit(q, n);
    return 0;
}

int vial__outq_take(vial__outq *q, char *p, size_t n)
{
    if (n == 0) {
        free(p);
        return 0;
    }
    int rc = seg_room(q);
    if (rc) {
        free(p);
        return rc;
    }
    q->segs[q->nsegs++] = (vial__oseg){ p, -1, 0, n };
    q->bytes += n;
    return 0;
}

int vial__outq_file(vial__outq *q, int fd, uint64_t off, size_t len)
{
    if (len == 0) {
        close(fd);
        return 0;
    }
    int rc = seg_room(q);
    if (rc) {
        close(fd);
        return rc;
    }
    q->segs[q->nsegs++] = (vial__oseg){ NULL, fd, off, len };
    q->bytes += len;
    return 0;
}

bool vial__outq_head_file(const vial__outq *q, int *fd, uint64_t *off, size_t *len)
{
    if (!q->nsegs || q->segs[0].fd < 0)
        return false;
    *fd = q->segs[0].fd;
    *off = q->segs[0].off + q->head_off;
    *len = q->segs[0].len - q->head_off;
    return true;
}

int vial__outq_file_chunk(vial__outq *q, size_t max)
{
    int fd;
    uint64_t off;
    size_t len;
    if (!vial__outq_head_file(q, &fd, &off, &len))
        return 0;
    size_t n = len < max ? len : max;
    char *p = malloc(n);
    if (!p)
        return VIAL_ENOMEM;
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, p + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) { /* the file shrank or failed under us */
            free(p);
            return VIAL_EIO;
        }
        got += (size_t)r;
    }
    if (seg_room(q)) {
        free(p);
        return VIAL_ENOMEM;
    }
    /* The file segment now starts after the chunk; the chunk goes first. */
    vial__oseg *f = &q->segs[0];
    f->off = off + n;
    f->len = len - n;
    q->head_off = 0;
    memmove(q->segs + 1, q->segs, q->nsegs * sizeof *q->segs);
    q->segs[0] = (vial__oseg){ p, -1, 0, n };
    q->nsegs++;
    if (q->segs[1].len == 0) { /* the whole file is in memory now */
        close(q->segs[1].fd);
        memmove(q->segs + 1, q->segs + 2, (q->nsegs - 2) * sizeof *q->segs);
        q->nsegs--;
    }
    return 0;
}

size_t vial__outq_iov(const vial__outq *q, struct iovec *iov, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < q->nsegs && k < max; i++) {
        const vial__oseg *s = &q->segs[i];
        if (s->fd >= 0)
            break; /* files go by sendfile */
        const char *base = s->owned ? s->owned : q->coal.p;
        size_t skip = i == 0 ? q->head_off : 0;
        iov[k].iov_base = (void *)(base + s->off + skip);
        iov[k].iov_len = s->len - skip;
        k++;
    }
    return k;
}

void vial__outq_consume(vial__outq *q, size_t n)
{
    q->bytes -= n;
    size_t i = 0;
    while (n > 0 && i < q->nsegs) {
        vial__oseg *s = &q->segs[i];
        size_t left = s->len - q->head_off;
        if (n < left) {
            q->head_off += n;
            n = 0;
            break;
        }
        n -= left;
        q->head_off = 0;
        free(s->owned);
        if (s->fd >= 0)
            close(s->fd);
        i++;
    }
    if (i) {
        memmove(q->segs, q->segs + i, (q->nsegs - i) * sizeof *q->segs);
        q->nsegs -= i;
    }
    /* Once nothing refers to the coalesce buffer it can start over. */
    bool coal_used = false;
    for (size_t j = 0; j < q->nsegs; j++)
        coal_used |= q->segs[j].owned == NULL && q->segs[j].fd < 0;
    if (!coal_used)
        q->coal.n = 0;
}

void vial__outq_free(vial__outq *q)
{
    for (size_t i = 0; i < q->nsegs; i++) {
        free(q->segs[i].owned);
        if (q->segs[i].fd >= 0)
            close(q->segs[i].fd);
    }
    free(q->segs);
    vial__buf_free(&q->coal);
    memset(q, 0, sizeof *q);
}

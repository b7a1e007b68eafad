/*
 * outq.c — the output queue: bytes waiting to be written on a connection,
 * in order.  The protocol that answers (src/http) appends to it, the
 * connection (src/loop) writes it; neither needs to know the other.
 *
 * Every function reports allocation failure as VIAL_ENOMEM and leaves the
 * queue as it was.
 */
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

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

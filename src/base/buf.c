/*
 * buf.c — growable byte buffers.
 *
 * Every function here reports allocation failure as VIAL_ENOMEM and leaves
 * the buffer as it was, so callers can answer 500 instead of crashing.
 */
#include "base.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int vial__buf_grow(vial__buf *b, size_t extra)
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

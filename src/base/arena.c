/*
 * arena.c — the per-request arena and the per-worker block pool.
 *
 * A request allocates freely from its arena and never frees; the whole
 * arena goes at once when the response is finished (h2o's mem pool, lwan's
 * per-request world).  The first block of every arena is a standard
 * VIAL__BLOCK_SIZE block from the worker's pool, so a small request costs no
 * malloc at all; larger needs get their own malloc'd blocks.
 */
#include "base.h"

#include <stdlib.h>

struct vial__arena_blk {
    vial__arena_blk *next;
    size_t cap, used;
    bool pooled;
    max_align_t data[];
};

#define BLK_HDR offsetof(vial__arena_blk, data)
#define ALIGN 16u
/* Refuse absurd requests outright instead of overflowing size arithmetic. */
#define ARENA_MAX_ALLOC ((size_t)1 << 40)

void *vial__pool_get(vial__pool *pool)
{
    if (pool && pool->n)
        return pool->free[--pool->n];
    return malloc(VIAL__BLOCK_SIZE);
}

void vial__pool_put(vial__pool *pool, void *block)
{
    if (!block)
        return;
    if (pool && pool->n < pool->max) {
        if (pool->n == pool->cap) {
            size_t cap = pool->cap ? pool->cap * 2 : 16;
            void **f = realloc(pool->free, cap * sizeof *f);
            if (!f) {
                free(block);
                return;
            }
            pool->free = f;
            pool->cap = cap;
        }
        pool->free[pool->n++] = block;
        return;
    }
    free(block);
}

void vial__pool_drain(vial__pool *pool)
{
    for (size_t i = 0; i < pool->n; i++)
        free(pool->free[i]);
    free(pool->free);
    pool->free = NULL;
    pool->n = pool->cap = 0;
}

static vial__arena_blk *blk_new(vial__arena *a, size_t need)
{
    vial__arena_blk *b;
    if (need <= VIAL__BLOCK_SIZE - BLK_HDR) {
        b = vial__pool_get(a->pool);
        if (!b)
            return NULL;
        b->cap = VIAL__BLOCK_SIZE - BLK_HDR;
        b->pooled = true;
    } else {
        /* Grow geometrically with the arena so many medium allocations do
         * not each become a malloc. */
        size_t cap = need;
        if (a->total > cap && a->total < ARENA_MAX_ALLOC)
            cap = a->total;
        b = malloc(BLK_HDR + cap);
        if (!b)
            return NULL;
        b->cap = cap;
        b->pooled = false;
    }
    b->used = 0;
    b->next = a->head;
    a->head = b;
    return b;
}

void *vial__arena_alloc(vial__arena *a, size_t size)
{
    if (size > ARENA_MAX_ALLOC)
        return NULL;
    size_t n = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n == 0)
        n = ALIGN;
    vial__arena_blk *b = a->head;
    if (!b || b->cap - b->used < n) {
        /* A big allocation gets its own block behind the current one so the
         * current block's free space is not wasted. */
        if (b && n > (VIAL__BLOCK_SIZE - BLK_HDR) / 4 && b->cap - b->used >= 256) {
            vial__arena_blk *big = malloc(BLK_HDR + n);
            if (!big)
                return NULL;
            big->cap = big->used = n;
            big->pooled = false;
            big->next = b->next;
            b->next = big;
            a->total += n;
            return big->data;
        }
        b = blk_new(a, n);
        if (!b)
            return NULL;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    a->total += n;
    return p;
}

void *vial__arena_realloc(vial__arena *a, void *p, size_t old, size_t size)
{
    if (!p)
        return vial__arena_alloc(a, size);
    if (size <= old)
        return p;
    size_t o = (old + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    size_t n = (size + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    vial__arena_blk *b = a->head;
    /* The newest allocation of the current block grows where it is, so a
     * vector doubled again and again costs no copies while nothing else
     * is allocated in between. */
    if (b && size <= ARENA_MAX_ALLOC && (char *)p + o == (char *)b->data + b->used &&
        b->cap - b->used >= n - o) {
        b->used += n - o;
        a->total += n - o;
        return p;
    }
    /* A large vector sits alone in a block of its own (see above): the
     * block itself is realloc'd, which for large sizes remaps pages
     * instead of copying them (a 10,000-row ingest grows its rows this way). */
    if (size > ARENA_MAX_ALLOC)
        return NULL;
    for (vial__arena_blk **link = &a->head, *own; (own = *link); link = &own->next) {
        if ((void *)own->data != p)
            continue;
        if (own->pooled || own->used != o)
            break; /* shares its block: copy below */
        vial__arena_blk *grown = realloc(own, BLK_HDR + n);
        if (!grown)
            return NULL;
        *link = grown;
        a->total += n - o;
        grown->cap = grown->used = n;
        return grown->data;
    }
    void *q = vial__arena_alloc(a, size);
    if (q)
        memcpy(q, p, old);
    return q;
}

char *vial__arena_strndup(vial__arena *a, const char *s, size_t n)
{
    char *p = vial__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *vial__arena_vsprintf(vial__arena *a, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    char tmp[256];
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return NULL;
    }
    char *p = vial__arena_alloc(a, (size_t)n + 1);
    if (p) {
        if ((size_t)n < sizeof tmp)
            memcpy(p, tmp, (size_t)n + 1);
        else
            vsnprintf(p, (size_t)n + 1, fmt, ap2);
    }
    va_end(ap2);
    return p;
}

void vial__arena_reset(vial__arena *a)
{
    vial__arena_blk *b = a->head;
    while (b) {
        vial__arena_blk *next = b->next;
        if (b->pooled)
            vial__pool_put(a->pool, b);
        else
            free(b);
        b = next;
    }
    a->head = NULL;
    a->total = 0;
}

/*
 * base.h — what the base module offers every other module: slices, growable
 * buffers, the per-worker block pool, the per-request arena, the output
 * queue, URL coding and the small string codecs.  Nothing here knows about
 * requests, connections or apps; base depends on nothing but libc.
 *
 * Naming: `vial__` for internal (non-static) functions and types, as
 * libuv's `uv__`; nothing here is part of the API, and -fvisibility=hidden
 * keeps it out of the shared library's symbol table.  Every module header
 * includes this one first: it defines VIAL_BUILDING, which turns VIAL_API
 * into "exported".
 */
#ifndef VIAL_BASE_H
#define VIAL_BASE_H

#define VIAL_BUILDING 1
#include "vial.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#define VIAL__UNUSED(x) ((void)(x))
#define VIAL__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
/* The struct that holds `ptr` as its member `member`. */
#define VIAL__CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/* ------------------------------------------------------------------ slices and buffers (buf.c) */

/* A non-owning view: `p` is not NUL-terminated unless stated. */
typedef struct vial__str {
    const char *p;
    size_t n;
} vial__str;

struct vial__pool;
/*
 * A growable byte buffer.  `p` is NULL until the first append.  With `pool`
 * set, the first VIAL__BLOCK_SIZE bytes come from that block pool (no
 * malloc on the hot path) and vial__buf_release() gives the block back;
 * growing past a block moves to malloc.  Every call reports allocation
 * failure as VIAL_ENOMEM and leaves the buffer as it was.
 */
typedef struct vial__buf {
    char *p;
    size_t n, cap;
    struct vial__pool *pool;
    bool pooled; /* p is a pool block */
} vial__buf;

/* Grows `b` for `extra` more bytes (the slow path of vial__buf_reserve). */
int vial__buf_grow(vial__buf *b, size_t extra);
/* Room for `extra` more bytes and the byte vial__buf_nul() needs. */
static inline int vial__buf_reserve(vial__buf *b, size_t extra)
{
    if (b->cap > b->n && extra < b->cap - b->n)
        return 0;
    return vial__buf_grow(b, extra);
}
int vial__buf_append(vial__buf *b, const void *d, size_t n);
int vial__buf_puts(vial__buf *b, const char *s);
int vial__buf_printf(vial__buf *b, const char *fmt, ...) VIAL_PRINTF(2, 3);
int vial__buf_vprintf(vial__buf *b, const char *fmt, va_list ap);
void vial__buf_free(vial__buf *b);
/* Frees the storage but keeps the pool binding (for idle connections). */
void vial__buf_release(vial__buf *b);
/* Ensures p[n] == '\0' without counting it. */
int vial__buf_nul(vial__buf *b);

/* vial__buf_append with the common case (room already there) inlined: the
 * JSON writer and the serializer call it for every token. */
static inline int vial__buf_add(vial__buf *b, const void *d, size_t n)
{
    if (b->cap > b->n + n) { /* keeps the byte vial__buf_nul() needs */
        memcpy(b->p + b->n, d, n);
        b->n += n;
        return 0;
    }
    return vial__buf_append(b, d, n);
}

/* ------------------------------------------------------------------ strings (str.c) */

/* Case-insensitive ASCII compare of a slice with a C string. */
bool vial__streq_ci(const char *a, size_t an, const char *b);
bool vial__strneq_ci(const char *a, const char *b, size_t n);
/* Writes the decimal form of v into out (room for 21 bytes); returns length. */
size_t vial__u64toa(uint64_t v, char *out);
/* The value of a hex digit, or -1. */
int vial__hexval(int c);
/* Length of the valid UTF-8 sequence at p (lead byte >= 0x80, ending before
 * e), or 0: no overlongs, no surrogates, nothing above U+10FFFF. */
size_t vial__utf8_seq(const unsigned char *p, const unsigned char *e);
/* Code points in n bytes of valid UTF-8. */
size_t vial__utf8_chars(const char *s, size_t n);
/* base64url into/out of a buffer (appended).  Decoding is strict; returns
 * VIAL_EPARSE for anything that is not canonical base64url. */
int vial__b64url_encode(vial__buf *out, const void *data, size_t n);
int vial__b64url_decode(vial__buf *out, const char *s, size_t n);

/* ------------------------------------------------------------------ block pool and arena (arena.c) */

/*
 * Per-worker cache of fixed-size blocks for read buffers, write buffers and
 * first arena blocks.  Idle keep-alive connections give their blocks back,
 * so 10,000 idle connections hold no buffers at all.  One thread only.
 */
#define VIAL__BLOCK_SIZE 8192
typedef struct vial__pool {
    void **free;
    size_t n, cap, max;
} vial__pool;

void *vial__pool_get(vial__pool *pool);
void vial__pool_put(vial__pool *pool, void *block);
void vial__pool_drain(vial__pool *pool);

typedef struct vial__arena_blk vial__arena_blk;
typedef struct vial__arena {
    vial__arena_blk *head; /* newest block first */
    vial__pool *pool;      /* where the standard-size first block comes from */
    size_t total;          /* bytes handed out, for the memory limit */
} vial__arena;

void *vial__arena_alloc(vial__arena *a, size_t size);
/* Grows the allocation `p` of `old` bytes to `size` (in place when it is the
 * newest); NULL when out of memory, `p` then still valid. */
void *vial__arena_realloc(vial__arena *a, void *p, size_t old, size_t size);
char *vial__arena_strndup(vial__arena *a, const char *s, size_t n);
char *vial__arena_vsprintf(vial__arena *a, const char *fmt, va_list ap);
/* Frees everything; the arena can be used again. */
void vial__arena_reset(vial__arena *a);

/* ------------------------------------------------------------------ URLs (url.c) */

/* A query argument or form field: decoded, NUL-terminated, arena. */
typedef struct vial__arg {
    const char *name, *value;
} vial__arg;

/* mode 0: query component, 1: one path segment, 2: a path (keeps '/'). */
int vial__url_encode_into(vial__buf *out, const char *s, size_t n, int mode);
int vial__parse_query(vial__arena *a, const char *q, size_t n, vial__arg **out, size_t *nout);
/* The value of cookie `name` in a Cookie header, or {NULL, 0}. */
vial__str vial__cookie_find(const char *h, size_t n, const char *name);

/* ------------------------------------------------------------------ address lists (net.c) */

/* "127.0.0.1/8, 10.0.0.0/8, ::1" — addresses and CIDR ranges, IPv4 and IPv6. */
typedef struct vial__netlist vial__netlist;
/* Parses a comma- or space-separated list (empty: an empty list).  0, or
 * VIAL_EPARSE with the offending item in `why`, or VIAL_ENOMEM. */
int vial__netlist_parse(const char *text, vial__netlist **out, char *why, size_t whylen);
/* True when `n` bytes of the address string `addr` fall in one of the
 * ranges (an IPv4-mapped IPv6 address counts as IPv4). */
bool vial__netlist_match(const vial__netlist *l, const char *addr, size_t n);
/* True for 127.0.0.0/8 and ::1. */
bool vial__netlist_loopback(const char *addr);
void vial__netlist_free(vial__netlist *l);

/* ------------------------------------------------------------------ output queue (outq.c) */

/*
 * Bytes waiting to be written on a connection, in order.  Small pieces are
 * coalesced into one buffer; large bodies are queued by reference (owned);
 * files are queued as regions and sent with sendfile.  `vial__outq_iov()`
 * gathers the memory at the front for one writev.
 */
typedef struct vial__oseg {
    char *owned;     /* free()d when written; NULL for the coalesce buffer */
    int fd;          /* >= 0: a file region (closed when written), sent with sendfile */
    uint64_t off;    /* into `owned`, the coalesce buffer, or the file */
    size_t len;
} vial__oseg;

typedef struct vial__outq {
    vial__buf coal;
    vial__oseg *segs;
    size_t nsegs, cap;
    size_t bytes;    /* total not yet written */
    size_t head_off; /* bytes of segs[0] already written */
} vial__outq;

int vial__outq_append(vial__outq *q, const void *d, size_t n);
/* Moves `p` (malloc'd, `n` bytes) into the queue. */
int vial__outq_take(vial__outq *q, char *p, size_t n);
/* Fills up to `max` iovecs with the memory segments at the front (stopping
 * at a file segment); returns the count. */
size_t vial__outq_iov(const vial__outq *q, struct iovec *iov, size_t max);
/* Queues `len` bytes of file `fd` from `off`; takes `fd` (closed when sent
 * or on failure). */
int vial__outq_file(vial__outq *q, int fd, uint64_t off, size_t len);
/* True when the front segment is a file: *fd, *off, *len give what is left. */
bool vial__outq_head_file(const vial__outq *q, int *fd, uint64_t *off, size_t *len);
/* Reads up to `max` bytes of the front file segment into memory, queued in
 * its place (for transports without sendfile, or while a socket is full). */
int vial__outq_file_chunk(vial__outq *q, size_t max);
/* Drops `n` written bytes from the front. */
void vial__outq_consume(vial__outq *q, size_t n);
void vial__outq_free(vial__outq *q);
/* Reserves room in the coalesce buffer for a direct write; returns NULL on OOM. */
char *vial__outq_reserve(vial__outq *q, size_t n);
void vial__outq_commit(vial__outq *q, size_t n);

#endif /* VIAL_BASE_H */

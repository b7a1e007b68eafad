/*
 * ops.h — what the ops module offers the others: diagnostics, the access
 * log and request ids.  It sits right above base so that every layer,
 * the loop included, can log; it knows nothing of requests as objects:
 * callers hand it plain values.
 */
#ifndef VIAL_OPS_H
#define VIAL_OPS_H

#include "../base/base.h"

/* ------------------------------------------------------------------ diagnostics (log.c) */

/* Lines below this level are dropped (set from the log_level setting). */
extern int vial__log_level;
/* Lines are JSON objects (log_format = json), else text. */
extern bool vial__log_json;
/* One diagnostic line to stderr, tagged with `reqid` when not NULL. */
void vial__vlog(int level, const char *reqid, const char *fmt, va_list ap);
/* Opens `path` for appending onto stderr (NULL or "": leaves stderr as it
 * is); 0 or -errno.  vial__log_reopen() opens the same path again (after
 * logrotate moved the file: SIGUSR1); vial__log_file() is the path or NULL. */
int vial__log_open(const char *path);
int vial__log_reopen(void);
const char *vial__log_file(void);

/* ------------------------------------------------------------------ access log (log.c) */

/* What one access-log line says about a finished request. */
typedef struct vial__access {
    const char *client;   /* address, or "-" */
    const char *method;   /* NULL: the request line was unusable */
    const char *target;   /* as sent (escaped when written) */
    size_t target_len;
    int status;
    size_t bytes;         /* of the response, head included */
    uint64_t t0_ns;       /* CLOCK_MONOTONIC when the request began */
    const char *reqid;
} vial__access;

/* Appends the line to the calling thread's buffer; event-loop threads
 * write the buffer once per loop turn (vial__log_flush), others at once. */
void vial__access_log(const vial__access *a);
void vial__log_flush(void);
/* Event-loop threads batch access lines and flush once per loop turn. */
void vial__log_set_batched(bool batched);
/* Writes and frees the calling thread's access-log buffer (thread exit). */
void vial__log_thread_end(void);
/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t vial__now_ns(void);

/* ------------------------------------------------------------------ request ids (reqid.c) */

#define VIAL__REQID_MAX 72 /* a client's id may be 64 characters; ours are 19 */

/* True when a client's X-Request-Id may be used as ours: 1..64 characters
 * of [A-Za-z0-9._-] (anything else could forge log lines or headers). */
bool vial__reqid_ok(const char *s, size_t n);
/* Writes a fresh id, "<8 hex of per-process randomness>-<10 hex of
 * counter>", into out (VIAL__REQID_MAX bytes); returns its length. */
size_t vial__reqid_make(char *out, uint32_t prefix, uint64_t counter);
/* 32 bits from the system's random source (a fallback mix of pid and time
 * when it cannot be read): per-worker id prefixes, generator seeds. */
uint32_t vial__random_u32(void);

/* ------------------------------------------------------------------ metrics (metrics.c) */

/* Worker slots (the last one is shared by every other thread, under a lock). */
#define VIAL__METRICS_SLOTS 1025
enum { VIAL__M_COUNTER, VIAL__M_GAUGE, VIAL__M_HISTOGRAM };
typedef struct vial__metrics vial__metrics;
typedef struct vial__mfamily vial__mfamily;
typedef double (*vial__mread_fn)(void *ud);

vial__metrics *vial__metrics_new(void);
void vial__metrics_free(vial__metrics *m);
/* Declares a metric: `labels` NULL-terminated (or NULL), `bounds` the
 * histogram's ascending upper bounds (NULL: latency buckets from 0.5 ms to
 * 10 s).  NULL with *why on a bad name, a duplicate or out of memory. */
vial__mfamily *vial__metrics_family(vial__metrics *m, int type, const char *name, const char *help,
                                    const char *const *labels, const double *bounds, size_t nbounds,
                                    const char **why);
/* A metric without labels whose value is read at scrape time (process
 * metrics, open connections). */
int vial__metrics_reader(vial__mfamily *f, vial__mread_fn read, void *ud);
/* The series for `values` (one per label, in order), made on first use
 * (under a lock): a handle to record with, >= 0, or a VIAL_E* code.  Keep
 * it: recording with it takes no lock. */
int64_t vial__metrics_series(vial__metrics *m, vial__mfamily *f, const char *const *values);
/* Adds `v` to a counter or gauge series, or observes `v` in a histogram's,
 * in worker `slot`'s cells (the calling thread must be that worker; any
 * other slot number records in the shared slot under the lock). */
void vial__metrics_add(vial__metrics *m, int slot, const vial__mfamily *f, int64_t series, double v);
/* The cells of `series` in worker `slot`'s chunk (made on first use), which
 * stay where they are until vial__metrics_free: a per-request path resolves
 * them once and records into them with vial__metrics_record, skipping
 * vial__metrics_add's lookup (two atomic loads and a call per sample).  NULL
 * when out of memory, `series` < 0 or `slot` is not a worker's. */
_Atomic double *vial__metrics_cells(vial__metrics *m, int slot, int64_t series);
/* vial__metrics_add into cells from vial__metrics_cells of a series of `f`;
 * only their worker's thread records there. */
void vial__metrics_record(_Atomic double *c, const vial__mfamily *f, double v);
/* The same for a counter's or gauge's cell, inline: one owner thread, so a
 * relaxed load and store, no read-modify-write (the scrape reads a value
 * that is at most one sample old). */
static inline void vial__metrics_bump(_Atomic double *c, double v)
{
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + v, memory_order_relaxed);
}
/* Appends the exposition (text format 0.0.4) of every metric with a
 * series to `out`, NUL-terminated. */
int vial__metrics_write(vial__metrics *m, vial__buf *out);

#endif /* VIAL_OPS_H */

/*
 * metrics.c — the metrics registry: counters, gauges and histograms with
 * labels, kept per worker thread and summed when scraped, and their
 * Prometheus text exposition (format 0.0.4).
 *
 * Why per worker: a request records a few values, and an atomic
 * read-modify-write or a lock shared by every worker would cost more than
 * the recording itself (and bounce a cache line between cores).  Each
 * worker owns a slot; only that worker's thread writes its cells, with a
 * relaxed load and store (a plain move on x86-64), and the scrape reads
 * every slot with relaxed loads, so it never blocks a worker and a value it
 * reads is at worst a few requests old.  Threads that are not workers
 * (commands, background threads) share one more slot under a mutex.
 *
 * A series is one combination of label values; it owns a run of cells (one
 * for a counter or gauge; for a histogram one per bucket, then the sum and
 * the count).  Cells live in chunks that never move once made, so a scrape
 * may read a chunk while its worker makes the next one.
 */
#include "ops.h"

#include <math.h>
#include <pthread.h>
#include <stdlib.h>

#define CHUNK_CELLS 1024
#define MAX_CHUNKS 64 /* 65,536 cells per slot */

typedef struct mseries {
    char **values; /* label values, copied */
    size_t base;   /* first cell */
} mseries;

struct vial__mfamily {
    int type;
    char *name, *help;
    char **labels;
    size_t nlabels;
    double *bounds; /* histogram upper bounds, ascending (+Inf implied) */
    size_t nbounds;
    size_t ncells;  /* per series */
    mseries *series;
    size_t nseries, cap;
    vial__mfamily *next;
    vial__mread_fn read; /* a value computed at scrape time instead of cells */
    void *read_ud;
};

typedef struct mslot {
    _Atomic(_Atomic double *) chunks[MAX_CHUNKS];
} mslot;

struct vial__metrics {
    pthread_mutex_t mu;         /* families, series, the shared slot */
    vial__mfamily *families, **tail;
    size_t ncells;              /* cells handed out so far */
    /* Made by their worker on its first sample: an idle server with 1,024
     * possible workers holds one pointer each. */
    _Atomic(mslot *) slots[VIAL__METRICS_SLOTS];
};

vial__metrics *vial__metrics_new(void)
{
    vial__metrics *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    pthread_mutex_init(&m->mu, NULL);
    m->tail = &m->families;
    return m;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

void vial__metrics_free(vial__metrics *m)
{
    if (!m)
        return;
    for (vial__mfamily *f = m->families, *next; f; f = next) {
        next = f->next;
        for (size_t i = 0; i < f->nseries; i++)
            strv_free(f->series[i].values, f->nlabels);
        free(f->series);
        strv_free(f->labels, f->nlabels);
        free(f->bounds);
        free(f->name);
        free(f->help);
        free(f);
    }
    for (size_t s = 0; s < VIAL__METRICS_SLOTS; s++) {
        mslot *sl = atomic_load_explicit(&m->slots[s], memory_order_relaxed);
        for (size_t c = 0; sl && c < MAX_CHUNKS; c++)
            free((void *)atomic_load_explicit(&sl->chunks[c], memory_order_relaxed));
        free(sl);
    }
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* ------------------------------------------------------------------ declaring */

static bool name_ok(const char *s, bool label)
{
    if (!s || !*s || (*s >= '0' && *s <= '9') || (label && s[0] == '_' && s[1] == '_'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || (!label && *s == ':')))
            return false;
    return true;
}

static const double default_bounds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                         0.1,    0.25,  0.5,    1,     2.5,  5,     10 };

vial__mfamily *vial__metrics_family(vial__metrics *m, int type, const char *name, const char *help,
                                    const char *const *labels, const double *bounds, size_t nbounds,
                                    const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (!m || type < VIAL__M_COUNTER || type > VIAL__M_HISTOGRAM || !name_ok(name, false) ||
        !help) {
        *why = "a metric needs a type, a name of [a-zA-Z_:][a-zA-Z0-9_:]* and help text";
        return NULL;
    }
    size_t nl = 0;
    while (labels && labels[nl]) {
        if (!name_ok(labels[nl], true) || !strcmp(labels[nl], "le")) {
            *why = "label names are [a-zA-Z_][a-zA-Z0-9_]*, not __... and not le";
            return NULL;
        }
        for (size_t i = 0; i < nl; i++) {
            if (!strcmp(labels[i], labels[nl])) {
                *why = "a label name appears twice";
                return NULL;
            }
        }
        nl++;
    }
    if (type == VIAL__M_HISTOGRAM && !bounds) {
        bounds = default_bounds;
        nbounds = VIAL__ARRAY_LEN(default_bounds);
    }
    for (size_t i = 0; type == VIAL__M_HISTOGRAM && i < nbounds; i++) {
        if (!isfinite(bounds[i]) || (i && bounds[i] <= bounds[i - 1])) {
            *why = "histogram bounds must be finite and ascending";
            return NULL;
        }
    }
    /* A series' cells (buckets, +Inf, sum, count) live in one chunk. */
    if (type == VIAL__M_HISTOGRAM && nbounds > CHUNK_CELLS - 3) {
        *why = "a histogram has at most 1021 bounds";
        return NULL;
    }
    pthread_mutex_lock(&m->mu);
    for (vial__mfamily *f = m->families; f; f = f->next) {
        if (!strcmp(f->name, name)) {
            pthread_mutex_unlock(&m->mu);
            *why = "a metric of that name exists";
            return NULL;
        }
    }
    vial__mfamily *f = calloc(1, sizeof *f);
    bool ok = f && (f->name = strdup(name)) && (f->help = strdup(help)) &&
              (!nl || (f->labels = calloc(nl, sizeof *f->labels)));
    for (size_t i = 0; ok && i < nl; i++)
        ok = (f->labels[i] = strdup(labels[i])) != NULL;
    if (ok && type == VIAL__M_HISTOGRAM) {
        ok = (f->bounds = malloc(nbounds * sizeof *f->bounds)) != NULL;
        if (ok)
            memcpy(f->bounds, bounds, nbounds * sizeof *f->bounds);
    }
    if (!ok) {
        pthread_mutex_unlock(&m->mu);
        if (f) {
            strv_free(f->labels, nl);
            free(f->name);
            free(f->help);
            free(f);
        }
        *why = "out of memory";
        return NULL;
    }
    f->type = type;
    f->nlabels = nl;
    f->nbounds = type == VIAL__M_HISTOGRAM ? nbounds : 0;
    f->ncells = type == VIAL__M_HISTOGRAM ? nbounds + 3 : 1; /* buckets, +Inf, sum, count */
    *m->tail = f;
    m->tail = &f->next;
    pthread_mutex_unlock(&m->mu);
    return f;
}

int vial__metrics_reader(vial__mfamily *f, vial__mread_fn read, void *ud)
{
    if (!f || f->nlabels || f->type == VIAL__M_HISTOGRAM)
        return VIAL_EINVAL;
    f->read = read;
    f->read_ud = ud;
    return 0;
}

int64_t vial__metrics_series(vial__metrics *m, vial__mfamily *f, const char *const *values)
{
    if (!m || !f)
        return VIAL_EINVAL;
    for (size_t i = 0; i < f->nlabels; i++)
        if (!values || !values[i])
            return VIAL_EINVAL;
    pthread_mutex_lock(&m->mu);
    for (size_t s = 0; s < f->nseries; s++) {
        size_t i = 0;
        while (i < f->nlabels && !strcmp(f->series[s].values[i], values[i]))
            i++;
        if (i == f->nlabels) {
            int64_t base = (int64_t)f->series[s].base;
            pthread_mutex_unlock(&m->mu);
            return base;
        }
    }
    int64_t rc = VIAL_ENOMEM;
    if (m->ncells + f->ncells > (size_t)CHUNK_CELLS * MAX_CHUNKS) {
        rc = VIAL_ETOOBIG;
        goto out;
    }
    if (f->nseries == f->cap) {
        size_t cap = f->cap ? f->cap * 2 : 4;
        mseries *n = realloc(f->series, cap * sizeof *n);
        if (!n)
            goto out;
        f->series = n;
        f->cap = cap;
    }
    char **v = f->nlabels ? calloc(f->nlabels, sizeof *v) : NULL;
    if (f->nlabels && !v)
        goto out;
    for (size_t i = 0; i < f->nlabels; i++) {
        if (!(v[i] = strdup(values[i]))) {
            strv_free(v, f->nlabels);
            goto out;
        }
    }
    /* A series' cells never straddle two chunks: the scrape reads them with
     * one chunk pointer. */
    size_t base = m->ncells;
    if (base / CHUNK_CELLS != (base + f->ncells - 1) / CHUNK_CELLS)
        base = (base / CHUNK_CELLS + 1) * CHUNK_CELLS;
    f->series[f->nseries++] = (mseries){ v, base };
    m->ncells = base + f->ncells;
    rc = (int64_t)base;
out:
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ------------------------------------------------------------------ recording */

static _Atomic double *cells(vial__metrics *m, int slot, size_t base)
{
    /* Slots and chunks are made by the slot's own thread only (or under the
     * shared mutex), so nobody races to make them; they are published with
     * release for the scrape. */
    mslot *sl = atomic_load_explicit(&m->slots[slot], memory_order_acquire);
    if (!sl) {
        if (!(sl = calloc(1, sizeof *sl)))
            return NULL;
        atomic_store_explicit(&m->slots[slot], sl, memory_order_release);
    }
    _Atomic(_Atomic double *) *cp = &sl->chunks[base / CHUNK_CELLS];
    _Atomic double *c = atomic_load_explicit(cp, memory_order_acquire);
    if (!c) {
        c = calloc(CHUNK_CELLS, sizeof *c);
        if (!c)
            return NULL;
        atomic_store_explicit(cp, c, memory_order_release);
    }
    return c + base % CHUNK_CELLS;
}

void vial__metrics_record(_Atomic double *c, const vial__mfamily *f, double v)
{
    if (f->type != VIAL__M_HISTOGRAM) {
        vial__metrics_bump(c, v);
        return;
    }
    size_t b = 0;
    while (b < f->nbounds && v > f->bounds[b])
        b++;
    vial__metrics_bump(&c[b], 1); /* non-cumulative here; the scrape accumulates */
    vial__metrics_bump(&c[f->nbounds + 1], v);
    vial__metrics_bump(&c[f->nbounds + 2], 1);
}

void vial__metrics_add(vial__metrics *m, int slot, const vial__mfamily *f, int64_t series, double v)
{
    if (!m || !f || series < 0)
        return;
    if (slot < 0 || slot >= VIAL__METRICS_SLOTS - 1) {
        pthread_mutex_lock(&m->mu);
        _Atomic double *c = cells(m, VIAL__METRICS_SLOTS - 1, (size_t)series);
        if (c)
            vial__metrics_record(c, f, v);
        pthread_mutex_unlock(&m->mu);
        return;
    }
    _Atomic double *c = cells(m, slot, (size_t)series);
    if (c)
        vial__metrics_record(c, f, v); /* else out of memory: a lost sample, not a failed request */
}

_Atomic double *vial__metrics_cells(vial__metrics *m, int slot, int64_t series)
{
    if (!m || series < 0 || slot < 0 || slot >= VIAL__METRICS_SLOTS - 1)
        return NULL;
    return cells(m, slot, (size_t)series);
}

/* ------------------------------------------------------------------ exposition */

static double read_cell(vial__metrics *m, size_t cell)
{
    double sum = 0;
    for (size_t s = 0; s < VIAL__METRICS_SLOTS; s++) {
        mslot *sl = atomic_load_explicit(&m->slots[s], memory_order_acquire);
        _Atomic double *c =
            sl ? atomic_load_explicit(&sl->chunks[cell / CHUNK_CELLS], memory_order_acquire) : NULL;
        if (c)
            sum += atomic_load_explicit(&c[cell % CHUNK_CELLS], memory_order_relaxed);
    }
    return sum;
}

/* The shortest text that reads back as exactly `v` ("0.0005", not
 * "0.00050000000000000001"). */
static void shortest(char *out, size_t cap, double v)
{
    for (int p = 1; p <= 17; p++) {
        snprintf(out, cap, "%.*g", p, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

/* A value or a bucket's bound as Prometheus clients write them: integers
 * in full ("10", not "1e+01"), others as the shortest text, NaN, +Inf and
 * -Inf spelled out. */
static void number(char *out, size_t cap, double v)
{
    if (isnan(v))
        snprintf(out, cap, "NaN");
    else if (isinf(v))
        snprintf(out, cap, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (fabs(v) < 9e15 && v == (double)(int64_t)v) /* in range before the cast */
        snprintf(out, cap, "%" PRId64, (int64_t)v);
    else
        shortest(out, cap, v);
}

static void put_value(vial__buf *b, double v)
{
    char t[40];
    number(t, sizeof t, v);
    vial__buf_puts(b, t);
}

/* Label values escape backslash, double quote and line feed; help text
 * backslash and line feed (format 0.0.4). */
static void put_escaped(vial__buf *b, const char *s, bool quote)
{
    for (; *s; s++) {
        if (*s == '\\')
            vial__buf_puts(b, "\\\\");
        else if (*s == '\n')
            vial__buf_puts(b, "\\n");
        else if (*s == '"' && quote)
            vial__buf_puts(b, "\\\"");
        else
            vial__buf_add(b, s, 1);
    }
}

static void put_labels(vial__buf *b, const vial__mfamily *f, const mseries *s, const char *le)
{
    if (!f->nlabels && !le)
        return;
    vial__buf_puts(b, "{");
    for (size_t i = 0; i < f->nlabels; i++) {
        vial__buf_printf(b, "%s%s=\"", i ? "," : "", f->labels[i]);
        put_escaped(b, s->values[i], true);
        vial__buf_puts(b, "\"");
    }
    if (le)
        vial__buf_printf(b, "%sle=\"%s\"", f->nlabels ? "," : "", le);
    vial__buf_puts(b, "}");
}

int vial__metrics_write(vial__metrics *m, vial__buf *b)
{
    static const char *const types[] = { "counter", "gauge", "histogram" };
    pthread_mutex_lock(&m->mu);
    for (const vial__mfamily *f = m->families; f; f = f->next) {
        if (!f->nseries && !f->read)
            continue; /* nothing recorded yet: no sample to show */
        vial__buf_printf(b, "# HELP %s ", f->name);
        put_escaped(b, f->help, false);
        vial__buf_printf(b, "\n# TYPE %s %s\n", f->name, types[f->type]);
        if (f->read) {
            vial__buf_puts(b, f->name);
            vial__buf_puts(b, " ");
            put_value(b, f->read(f->read_ud));
            vial__buf_puts(b, "\n");
            continue;
        }
        for (size_t i = 0; i < f->nseries; i++) {
            const mseries *s = &f->series[i];
            if (f->type != VIAL__M_HISTOGRAM) {
                vial__buf_puts(b, f->name);
                put_labels(b, f, s, NULL);
                vial__buf_puts(b, " ");
                put_value(b, read_cell(m, s->base));
                vial__buf_puts(b, "\n");
                continue;
            }
            /* A series nothing was observed in yet (a route not called)
             * is left out: fifty routes would otherwise be 850 lines of 0. */
            if (read_cell(m, s->base + f->nbounds + 2) == 0)
                continue;
            double cum = 0;
            char le[40];
            for (size_t k = 0; k <= f->nbounds; k++) {
                cum += read_cell(m, s->base + k);
                if (k < f->nbounds)
                    number(le, sizeof le, f->bounds[k]);
                else
                    strcpy(le, "+Inf");
                vial__buf_printf(b, "%s_bucket", f->name);
                put_labels(b, f, s, le);
                vial__buf_puts(b, " ");
                put_value(b, cum);
                vial__buf_puts(b, "\n");
            }
            vial__buf_printf(b, "%s_sum", f->name);
            put_labels(b, f, s, NULL);
            vial__buf_puts(b, " ");
            put_value(b, read_cell(m, s->base + f->nbounds + 1));
            vial__buf_printf(b, "\n%s_count", f->name);
            put_labels(b, f, s, NULL);
            vial__buf_puts(b, " ");
            /* The count is the +Inf bucket: read once, they cannot differ. */
            put_value(b, cum);
            vial__buf_puts(b, "\n");
        }
    }
    pthread_mutex_unlock(&m->mu);
    return vial__buf_nul(b);
}

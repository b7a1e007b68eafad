/*
 * Unit tests for src/ops/metrics.c: the metrics registry — metric and
 * label name validation, duplicates, histogram bounds; series handles;
 * values recorded in worker slots and the shared slot summed at scrape
 * (from several threads at once, while a scrape runs); histograms
 * (cumulative buckets, +Inf, _sum, _count, default and custom bounds, a
 * series nothing was observed in left out); readers; label value and help
 * escaping; number formatting (integers without exponent, the shortest
 * text of a double, NaN and +Inf/-Inf spelled as Prometheus reads them);
 * and the whole exposition parsed back line by line against text format
 * 0.0.4.
 */
#include "unit.h"

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <regex.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ helpers */

/* The exposition of `m` (malloc'd, NUL-terminated). */
static char *scrape(vial__metrics *m)
{
    vial__buf b = {0};
    assert_int_equal(vial__metrics_write(m, &b), 0);
    assert_non_null(b.p);
    assert_int_equal(strlen(b.p), b.n); /* no NUL inside */
    return b.p;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == '\n')
            return true;
    return false;
}

#define assert_line(text, line)                                                                    \
    do {                                                                                           \
        if (!has_line((text), (line)))                                                             \
            print_error("line [%s] not in:\n%s\n", (line), (text));                                \
        assert_true(has_line((text), (line)));                                                     \
    } while (0)

#define assert_no_line(text, line)                                                                 \
    do {                                                                                           \
        if (has_line((text), (line)))                                                              \
            print_error("line [%s] unexpectedly in:\n%s\n", (line), (text));                       \
        assert_false(has_line((text), (line)));                                                    \
    } while (0)

/* The value of the sample line that starts with `prefix` + " "; fails when
 * there is none. */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = text; (p = strstr(p, prefix)); p++) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            char *end;
            double v = strtod(p + n + 1, &end);
            assert_true(*end == '\n');
            return v;
        }
    }
    print_error("no sample [%s] in:\n%s\n", prefix, text);
    fail();
    return 0;
}

static vial__mfamily *family(vial__metrics *m, int type, const char *name,
                             const char *const *labels)
{
    const char *why = "unset";
    vial__mfamily *f = vial__metrics_family(m, type, name, "help", labels, NULL, 0, &why);
    if (!f)
        print_error("%s: %s\n", name, why);
    assert_non_null(f);
    assert_null(why);
    return f;
}

/* NULL, and a reason, for a refused declaration. */
static void refused(vial__metrics *m, int type, const char *name, const char *help,
                    const char *const *labels, const double *bounds, size_t nbounds)
{
    const char *why = NULL;
    vial__mfamily *f = vial__metrics_family(m, type, name, help, labels, bounds, nbounds, &why);
    if (f)
        print_error("'%s' was accepted\n", name ? name : "(null)");
    assert_null(f);
    assert_non_null(why);
    assert_true(strlen(why) > 0);
}

/* ------------------------------------------------------------------ declaring */

static void test_metric_names(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    assert_non_null(m);
    static const char *const bad[] = {"",     "1abc", "9",    "a-b", "a b", "a.b", "caf\xc3\xa9",
                                      "a{b}", "a\"b", "a\nb", "-x"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++)
        refused(m, VIAL__M_COUNTER, bad[i], "help", NULL, NULL, 0);
    refused(m, VIAL__M_COUNTER, NULL, "help", NULL, NULL, 0);
    /* Help text is required (an empty one is fine), the type must be one of three. */
    refused(m, VIAL__M_COUNTER, "no_help_total", NULL, NULL, NULL, 0);
    refused(m, -1, "bad_type", "help", NULL, NULL, 0);
    refused(m, VIAL__M_HISTOGRAM + 1, "bad_type", "help", NULL, NULL, 0);
    refused(NULL, VIAL__M_COUNTER, "no_registry_total", "help", NULL, NULL, 0);
    /* Every good shape: colons, underscores first, digits after the first. */
    static const char *const good[] = {"a",     "_",     "_a",       ":a",
                                       "a:b:c", "A_Z09", "x9_total", "job:http_requests:rate5m"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(good); i++)
        family(m, VIAL__M_GAUGE, good[i], NULL);
    /* The why pointer is optional. */
    assert_null(vial__metrics_family(m, VIAL__M_COUNTER, "1bad", "h", NULL, NULL, 0, NULL));
    assert_non_null(vial__metrics_family(m, VIAL__M_COUNTER, "ok_total", "", NULL, NULL, 0, NULL));
    vial__metrics_free(m);
    vial__metrics_free(NULL);
}

static void test_label_names(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    static const char *const bad[] = {"", "1a", "a:b", "a-b", "__name__", "__x", "le", "a b"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        const char *labels[] = {"ok", bad[i], NULL};
        refused(m, VIAL__M_COUNTER, "c_total", "help", labels, NULL, 0);
    }
    /* A label named twice would make samples no parser accepts. */
    refused(m, VIAL__M_COUNTER, "c_total", "help", (const char *[]){"a", "b", "a", NULL}, NULL, 0);
    /* None of those refusals took the name. */
    static const char *const good[] = {"a", "_a", "a_", "A9", "route", "_", NULL};
    vial__mfamily *f = family(m, VIAL__M_COUNTER, "c_total", good);
    const char *const v[] = {"1", "2", "3", "4", "5", "6"};
    vial__metrics_add(m, 0, f, vial__metrics_series(m, f, v), 1);
    char *s = scrape(m);
    assert_line(s, "c_total{a=\"1\",_a=\"2\",a_=\"3\",A9=\"4\",route=\"5\",_=\"6\"} 1");
    free(s);
    vial__metrics_free(m);
}

static void test_duplicate_names(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *f = family(m, VIAL__M_COUNTER, "dup_total", NULL);
    const char *why = NULL;
    /* The same name again, of any type, is refused and the first one kept. */
    for (int type = VIAL__M_COUNTER; type <= VIAL__M_HISTOGRAM; type++) {
        assert_null(vial__metrics_family(m, type, "dup_total", "other", NULL, NULL, 0, &why));
        assert_non_null(strstr(why, "exists"));
    }
    /* Names differing in case or by a suffix are other names. */
    family(m, VIAL__M_COUNTER, "Dup_total", NULL);
    family(m, VIAL__M_COUNTER, "dup_total2", NULL);
    vial__metrics_add(m, 0, f, vial__metrics_series(m, f, NULL), 2);
    char *s = scrape(m);
    assert_line(s, "# HELP dup_total help");
    assert_line(s, "# TYPE dup_total counter");
    assert_line(s, "dup_total 2");
    assert_null(strstr(s, "other"));
    free(s);
    vial__metrics_free(m);
}

static void test_histogram_bounds_checked(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const double descending[] = {1, 0.5}, equal[] = {1, 1}, nan_[] = {0.1, NAN},
                 inf[] = {1, INFINITY}, ninf[] = {-INFINITY, 1};
    refused(m, VIAL__M_HISTOGRAM, "h_seconds", "help", NULL, descending, 2);
    refused(m, VIAL__M_HISTOGRAM, "h_seconds", "help", NULL, equal, 2);
    refused(m, VIAL__M_HISTOGRAM, "h_seconds", "help", NULL, nan_, 2);
    refused(m, VIAL__M_HISTOGRAM, "h_seconds", "help", NULL, inf, 2);
    refused(m, VIAL__M_HISTOGRAM, "h_seconds", "help", NULL, ninf, 2);
    /* Bounds are copied: the caller's array may go. */
    double *mine = malloc(3 * sizeof *mine);
    mine[0] = -1;
    mine[1] = 0;
    mine[2] = 1;
    const char *why = NULL;
    vial__mfamily *f =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "h_seconds", "help", NULL, mine, 3, &why);
    assert_non_null(f);
    mine[1] = 99;
    free(mine);
    vial__metrics_add(m, 0, f, vial__metrics_series(m, f, NULL), -0.5);
    char *s = scrape(m);
    assert_line(s, "h_seconds_bucket{le=\"-1\"} 0");
    assert_line(s, "h_seconds_bucket{le=\"0\"} 1");
    assert_line(s, "h_seconds_bucket{le=\"1\"} 1");
    assert_line(s, "h_seconds_bucket{le=\"+Inf\"} 1");
    free(s);
    vial__metrics_free(m);
}

/* A series' cells live in one chunk of 1,024: a histogram needs one per
 * bound, +Inf, sum and count, so at most 1,021 bounds; more must be
 * refused, not recorded past the chunk's end. */
static void test_histogram_bucket_limit(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    size_t n = 5000;
    double *b = malloc(n * sizeof *b);
    for (size_t i = 0; i < n; i++)
        b[i] = (double)i;
    refused(m, VIAL__M_HISTOGRAM, "wide", "help", NULL, b, n);
    refused(m, VIAL__M_HISTOGRAM, "wide", "help", NULL, b, 1022);
    const char *why = NULL;
    vial__mfamily *f =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "wide", "help", NULL, b, 1021, &why);
    assert_non_null(f);
    /* Two series: the second starts a chunk of its own.  Observations in
     * the first and last buckets of each. */
    const char *const labels[] = {"k", NULL};
    vial__mfamily *g =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "wide2", "help", labels, b, 1021, &why);
    assert_non_null(g);
    int64_t s1 = vial__metrics_series(m, g, (const char *[]){"1"});
    int64_t s2 = vial__metrics_series(m, g, (const char *[]){"2"});
    assert_true(s1 >= 0 && s2 >= 0 && s1 != s2);
    for (int slot = -1; slot < 2; slot++) {
        vial__metrics_add(m, slot, g, s1, -1);
        vial__metrics_add(m, slot, g, s2, 1e9);
        vial__metrics_add(m, slot, f, vial__metrics_series(m, f, NULL), 1020);
    }
    char *s = scrape(m);
    assert_line(s, "wide2_bucket{k=\"1\",le=\"0\"} 3");
    assert_line(s, "wide2_bucket{k=\"1\",le=\"+Inf\"} 3");
    assert_line(s, "wide2_bucket{k=\"2\",le=\"1020\"} 0");
    assert_line(s, "wide2_bucket{k=\"2\",le=\"+Inf\"} 3");
    assert_line(s, "wide2_sum{k=\"2\"} 3000000000");
    assert_line(s, "wide2_count{k=\"1\"} 3");
    assert_line(s, "wide_bucket{le=\"1019\"} 0");
    assert_line(s, "wide_bucket{le=\"1020\"} 3");
    assert_line(s, "wide_count 3");
    free(s);
    free(b);
    vial__metrics_free(m);
}

/* ------------------------------------------------------------------ series */

static void test_series_handles(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const char *const labels[] = {"method", "code", NULL};
    vial__mfamily *f = family(m, VIAL__M_COUNTER, "req_total", labels);
    int64_t a = vial__metrics_series(m, f, (const char *[]){"GET", "200"});
    int64_t b = vial__metrics_series(m, f, (const char *[]){"GET", "404"});
    int64_t c = vial__metrics_series(m, f, (const char *[]){"POST", "200"});
    assert_true(a >= 0 && b >= 0 && c >= 0);
    assert_true(a != b && b != c && a != c);
    /* The same values find the same series (compared, not by pointer). */
    char get[] = "GET", ok[] = "200";
    assert_int_equal(vial__metrics_series(m, f, (const char *[]){get, ok}), a);
    /* Values are copied. */
    get[0] = 'X';
    assert_int_equal(vial__metrics_series(m, f, (const char *[]){"GET", "200"}), a);
    /* Missing values. */
    assert_int_equal(vial__metrics_series(m, f, NULL), VIAL_EINVAL);
    assert_int_equal(vial__metrics_series(m, f, (const char *[]){"GET", NULL}), VIAL_EINVAL);
    assert_int_equal(vial__metrics_series(NULL, f, (const char *[]){"GET", "200"}), VIAL_EINVAL);
    assert_int_equal(vial__metrics_series(m, NULL, NULL), VIAL_EINVAL);
    /* Without labels: one series, whatever is passed. */
    vial__mfamily *g = family(m, VIAL__M_GAUGE, "g", NULL);
    int64_t s = vial__metrics_series(m, g, NULL);
    assert_true(s >= 0);
    assert_int_equal(vial__metrics_series(m, g, (const char *[]){"ignored"}), s);
    /* Recording with a bad handle or family is a no-op, not a crash. */
    vial__metrics_add(m, 0, f, -1, 5);
    vial__metrics_add(m, 0, NULL, a, 5);
    vial__metrics_add(NULL, 0, f, a, 5);
    vial__metrics_add(m, 0, f, a, 1);
    vial__metrics_add(m, 0, f, c, 2);
    char *t = scrape(m);
    assert_line(t, "req_total{method=\"GET\",code=\"200\"} 1");
    assert_line(t, "req_total{method=\"GET\",code=\"404\"} 0");
    assert_line(t, "req_total{method=\"POST\",code=\"200\"} 2");
    assert_line(t, "g 0");
    assert_null(strstr(t, "XET"));
    free(t);
    vial__metrics_free(m);
}

/* The registry holds 65,536 cells per slot: past that a series is refused
 * (VIAL_ETOOBIG) and those made before keep working. */
static void test_series_run_out(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    double b[1000];
    for (size_t i = 0; i < VIAL__ARRAY_LEN(b); i++)
        b[i] = (double)i;
    const char *const labels[] = {"n", NULL};
    const char *why = NULL;
    vial__mfamily *h = vial__metrics_family(m, VIAL__M_HISTOGRAM, "big", "help", labels, b,
                                            VIAL__ARRAY_LEN(b), &why);
    assert_non_null(h);
    int64_t last = -1, rc = 0;
    int made = 0;
    char name[16];
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof name, "%d", i);
        rc = vial__metrics_series(m, h, (const char *[]){name});
        if (rc < 0)
            break;
        assert_true(rc > last);
        last = rc;
        made++;
    }
    /* 1,003 cells each: one series per chunk of 1,024, 64 chunks. */
    assert_int_equal(made, 64);
    assert_int_equal(rc, VIAL_ETOOBIG);
    /* Each one records into cells of its own, in a worker slot and the shared one. */
    for (int i = 0; i < made; i++) {
        snprintf(name, sizeof name, "%d", i);
        int64_t s = vial__metrics_series(m, h, (const char *[]){name});
        vial__metrics_add(m, 3, h, s, i);
        vial__metrics_add(m, -1, h, s, 1e6);
    }
    char *t = scrape(m);
    for (int i = 0; i < made; i++) {
        char line[96];
        snprintf(line, sizeof line, "big_bucket{n=\"%d\",le=\"%d\"} 1", i, i);
        assert_line(t, line);
        snprintf(line, sizeof line, "big_count{n=\"%d\"} 2", i);
        assert_line(t, line);
        snprintf(line, sizeof line, "big_sum{n=\"%d\"} %d", i, 1000000 + i);
        assert_line(t, line);
    }
    free(t);
    /* A counter needs one cell: there may be room left at the end, but
     * not forever. */
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "c_total", labels);
    int ok = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(name, sizeof name, "%d", i);
        rc = vial__metrics_series(m, c, (const char *[]){name});
        if (rc < 0)
            break;
        ok++;
    }
    assert_int_equal(rc, VIAL_ETOOBIG);
    assert_int_equal(ok, 65536 - 63 * 1024 - 1003);
    vial__metrics_free(m);
}

/* ------------------------------------------------------------------ recording and summing */

static void test_counter_and_gauge(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "c_total", NULL);
    vial__mfamily *g = family(m, VIAL__M_GAUGE, "g", NULL);
    int64_t cs = vial__metrics_series(m, c, NULL), gs = vial__metrics_series(m, g, NULL);
    vial__metrics_add(m, 0, c, cs, 1);
    vial__metrics_add(m, 0, c, cs, 2.5);
    vial__metrics_add(m, 0, g, gs, 10);
    vial__metrics_add(m, 1, g, gs, -3);
    vial__metrics_add(m, 0, g, gs, -10);
    char *s = scrape(m);
    assert_line(s, "# TYPE c_total counter");
    assert_line(s, "# TYPE g gauge");
    assert_line(s, "c_total 3.5");
    assert_line(s, "g -3");
    free(s);
    vial__metrics_free(m);
}

static void test_sum_across_slots(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "c_total", NULL);
    int64_t s = vial__metrics_series(m, c, NULL);
    /* Worker slots 0..1023; anything else (negative, the shared slot's own
     * number, past the end) records in the shared slot. */
    const int slots[] = {0,
                         1,
                         2,
                         511,
                         VIAL__METRICS_SLOTS - 2,
                         -1,
                         -1000,
                         VIAL__METRICS_SLOTS - 1,
                         VIAL__METRICS_SLOTS,
                         1 << 20};
    double want = 0;
    for (size_t i = 0; i < VIAL__ARRAY_LEN(slots); i++) {
        vial__metrics_add(m, slots[i], c, s, (double)(1u << i));
        want += (double)(1u << i);
        char *t = scrape(m);
        assert_true(sample(t, "c_total") == want);
        free(t);
    }
    assert_true(want == 1023);
    vial__metrics_free(m);
}

#define THREADS 6
#define ROUNDS 200000

typedef struct worker_arg {
    vial__metrics *m;
    vial__mfamily *c, *h, *g;
    int64_t cs, hs, gs;
    int slot;
} worker_arg;

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < ROUNDS; i++) {
        vial__metrics_add(a->m, a->slot, a->c, a->cs, 1);
        if (i % 100 == 0) {
            vial__metrics_add(a->m, a->slot, a->h, a->hs, (double)(i % 3)); /* 0, 1 or 2 */
            vial__metrics_add(a->m, a->slot, a->g, a->gs, 1);
            vial__metrics_add(a->m, a->slot, a->g, a->gs, -1);
        }
    }
    return NULL;
}

static _Atomic bool scraping;
static _Atomic int thread_failures; /* cmocka's asserts belong to the main thread */

/* The value of the labelless sample `name`, or NaN when there is none
 * (no assertion: for threads). */
static double find_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = text; (p = strstr(p, name)); p++)
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    return NAN;
}

static void *scraper(void *p)
{
    vial__metrics *m = p;
    int n = 0;
    while (atomic_load(&scraping) || n < 3) {
        vial__buf b = {0};
        /* Every snapshot, however torn between slots, is a well-formed one
         * whose counter never goes past the total. */
        if (vial__metrics_write(m, &b) || !b.p ||
            !(find_value(b.p, "c_total") <= (double)THREADS * ROUNDS))
            atomic_fetch_add(&thread_failures, 1);
        vial__buf_free(&b);
        n++;
    }
    return NULL;
}

/* Worker threads each on a slot of their own, two more sharing the shared
 * slot, and a scrape running all the while: nothing is lost. */
static void test_concurrent_workers(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const double bounds[] = {0.5, 1.5};
    const char *why = NULL;
    worker_arg a[THREADS];
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "c_total", NULL);
    vial__mfamily *g = family(m, VIAL__M_GAUGE, "g", NULL);
    vial__mfamily *h =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "h", "help", NULL, bounds, 2, &why);
    assert_non_null(h);
    for (int i = 0; i < THREADS; i++) {
        a[i] = (worker_arg){m, c, h, g, vial__metrics_series(m, c, NULL),
                            vial__metrics_series(m, h, NULL), vial__metrics_series(m, g, NULL),
                            /* 4 workers on slots 0, 7, 14, 1023; 2 on the shared slot */
                            i < 3    ? i * 7
                            : i == 3 ? VIAL__METRICS_SLOTS - 2
                                     : -1};
    }
    pthread_t th[THREADS], sc;
    atomic_store(&scraping, true);
    assert_int_equal(pthread_create(&sc, NULL, scraper, m), 0);
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &a[i]), 0);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    atomic_store(&scraping, false);
    pthread_join(sc, NULL);
    assert_int_equal(atomic_load(&thread_failures), 0);
    char *t = scrape(m);
    assert_true(sample(t, "c_total") == (double)THREADS * ROUNDS);
    assert_true(sample(t, "g") == 0);
    /* Per thread 2000 observations: i = 0, 100, 200, ...: i % 3 cycles 0, 1, 2. */
    int per = ROUNDS / 100, zeros = 0, ones = 0, twos = 0;
    for (int i = 0; i < ROUNDS; i += 100)
        *(i % 3 == 0 ? &zeros : i % 3 == 1 ? &ones : &twos) += 1;
    assert_int_equal(zeros + ones + twos, per);
    assert_true(sample(t, "h_bucket{le=\"0.5\"}") == (double)THREADS * zeros);
    assert_true(sample(t, "h_bucket{le=\"1.5\"}") == (double)THREADS * (zeros + ones));
    assert_true(sample(t, "h_bucket{le=\"+Inf\"}") == (double)THREADS * per);
    assert_true(sample(t, "h_count") == (double)THREADS * per);
    assert_true(sample(t, "h_sum") == (double)THREADS * (ones + 2 * twos));
    free(t);
    vial__metrics_free(m);
}

/* Series made by one thread while others record in theirs (new chunks
 * published as the scrape reads). */
typedef struct maker_arg {
    vial__metrics *m;
    vial__mfamily *f;
    int slot, id;
} maker_arg;

static void *maker(void *p)
{
    maker_arg *a = p;
    char v[32];
    for (int i = 0; i < 1500; i++) {
        snprintf(v, sizeof v, "%d-%d", a->id, i);
        int64_t s = vial__metrics_series(a->m, a->f, (const char *[]){v});
        if (s < 0)
            atomic_fetch_add(&thread_failures, 1);
        vial__metrics_add(a->m, a->slot, a->f, s, i + 1);
    }
    return NULL;
}

static void test_concurrent_series(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *f = family(m, VIAL__M_COUNTER, "s_total", (const char *[]){"k", NULL});
    maker_arg a[4];
    pthread_t th[4], sc;
    atomic_store(&scraping, true);
    /* The scraper reads "c_total": give it one. */
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "c_total", NULL);
    vial__metrics_add(m, -1, c, vial__metrics_series(m, c, NULL), 0);
    assert_int_equal(pthread_create(&sc, NULL, scraper, m), 0);
    for (int i = 0; i < 4; i++) {
        a[i] = (maker_arg){m, f, i == 3 ? -1 : i, i};
        assert_int_equal(pthread_create(&th[i], NULL, maker, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    atomic_store(&scraping, false);
    pthread_join(sc, NULL);
    assert_int_equal(atomic_load(&thread_failures), 0);
    char *t = scrape(m);
    char line[64];
    for (int id = 0; id < 4; id++) {
        for (int i = 0; i < 1500; i += 499) {
            snprintf(line, sizeof line, "s_total{k=\"%d-%d\"} %d", id, i, i + 1);
            assert_line(t, line);
        }
    }
    free(t);
    vial__metrics_free(m);
}

/* ------------------------------------------------------------------ histograms */

static void test_histogram_buckets(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const double bounds[] = {1, 2, 5};
    const char *why = NULL;
    vial__mfamily *h = vial__metrics_family(m, VIAL__M_HISTOGRAM, "lat_seconds", "Latency.",
                                            (const char *[]){"route", NULL}, bounds, 3, &why);
    assert_non_null(h);
    int64_t s = vial__metrics_series(m, h, (const char *[]){"/a"});
    /* Upper bounds are inclusive (le); below the first goes in the first;
     * past the last only in +Inf. */
    const double obs[] = {0.5, 1, -1, 1.5, 2, 3, 10, 1e300};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(obs); i++)
        vial__metrics_add(m, (int)i % 3, h, s, obs[i]);
    char *t = scrape(m);
    const char *want = "# HELP lat_seconds Latency.\n"
                       "# TYPE lat_seconds histogram\n"
                       "lat_seconds_bucket{route=\"/a\",le=\"1\"} 3\n"
                       "lat_seconds_bucket{route=\"/a\",le=\"2\"} 5\n"
                       "lat_seconds_bucket{route=\"/a\",le=\"5\"} 6\n"
                       "lat_seconds_bucket{route=\"/a\",le=\"+Inf\"} 8\n"
                       "lat_seconds_sum{route=\"/a\"} 1e+300\n"
                       "lat_seconds_count{route=\"/a\"} 8\n";
    assert_string_equal(t, want);
    free(t);
    vial__metrics_free(m);
}

static void test_histogram_default_bounds(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const char *why = NULL;
    vial__mfamily *h =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "d_seconds", "help", NULL, NULL, 0, &why);
    assert_non_null(h);
    int64_t s = vial__metrics_series(m, h, NULL);
    vial__metrics_add(m, 0, h, s, 0.0005);
    vial__metrics_add(m, 0, h, s, 0.003);
    vial__metrics_add(m, 0, h, s, 11);
    char *t = scrape(m);
    static const char *const les[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                      "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};
    static const int cum[] = {1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    /* In this order, one after the other. */
    const char *p = t;
    for (size_t i = 0; i < VIAL__ARRAY_LEN(les); i++) {
        char line[96];
        snprintf(line, sizeof line, "\nd_seconds_bucket{le=\"%s\"} %d\n", les[i], cum[i]);
        const char *q = strstr(p, line);
        if (!q)
            print_error("%s not after its predecessor in:\n%s\n", line, t);
        assert_non_null(q);
        p = q + 1;
    }
    assert_non_null(strstr(p, "\nd_seconds_bucket{le=\"+Inf\"} 3\nd_seconds_sum "));
    assert_true(sample(t, "d_seconds_sum") == 0.0 + 0.0005 + 0.003 + 11);
    assert_true(sample(t, "d_seconds_count") == 3);
    free(t);
    vial__metrics_free(m);
}

static void test_histogram_without_bounds(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const double none[] = {0};
    const char *why = NULL;
    vial__mfamily *h =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "only_inf", "help", NULL, none, 0, &why);
    assert_non_null(h);
    int64_t s = vial__metrics_series(m, h, NULL);
    vial__metrics_add(m, 0, h, s, 4);
    vial__metrics_add(m, 0, h, s, -4.25);
    char *t = scrape(m);
    assert_string_equal(t,
                        "# HELP only_inf help\n# TYPE only_inf histogram\n"
                        "only_inf_bucket{le=\"+Inf\"} 2\nonly_inf_sum -0.25\nonly_inf_count 2\n");
    free(t);
    vial__metrics_free(m);
}

/* A histogram series nothing was observed in is left out; its family's
 * HELP and TYPE stay.  A family without any series is left out entirely. */
static void test_empty_series_skipped(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const double b[] = {1};
    const char *why = NULL;
    vial__mfamily *h = vial__metrics_family(m, VIAL__M_HISTOGRAM, "h", "help",
                                            (const char *[]){"r", NULL}, b, 1, &why);
    family(m, VIAL__M_COUNTER, "never_total", NULL);
    family(m, VIAL__M_GAUGE, "never_gauge", NULL);
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "zero_total", NULL);
    vial__metrics_series(m, c, NULL); /* a counter series at 0 is shown */
    int64_t used = vial__metrics_series(m, h, (const char *[]){"used"});
    vial__metrics_series(m, h, (const char *[]){"idle"});
    char *t = scrape(m);
    assert_string_equal(t, "# HELP h help\n# TYPE h histogram\n"
                           "# HELP zero_total help\n# TYPE zero_total counter\nzero_total 0\n");
    free(t);
    vial__metrics_add(m, 5, h, used, 0.5);
    t = scrape(m);
    assert_string_equal(t, "# HELP h help\n# TYPE h histogram\n"
                           "h_bucket{r=\"used\",le=\"1\"} 1\nh_bucket{r=\"used\",le=\"+Inf\"} 1\n"
                           "h_sum{r=\"used\"} 0.5\nh_count{r=\"used\"} 1\n"
                           "# HELP zero_total help\n# TYPE zero_total counter\nzero_total 0\n");
    free(t);
    vial__metrics_free(m);
}

/* ------------------------------------------------------------------ readers */

static double read_ud(void *ud)
{
    return *(double *)ud;
}

static void test_readers(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *g = family(m, VIAL__M_GAUGE, "open_fds", NULL);
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "cpu_seconds_total", NULL);
    vial__mfamily *l = family(m, VIAL__M_GAUGE, "labelled", (const char *[]){"a", NULL});
    const char *why = NULL;
    vial__mfamily *h =
        vial__metrics_family(m, VIAL__M_HISTOGRAM, "hist", "help", NULL, NULL, 0, &why);
    double v = 7, w = 0.25;
    assert_int_equal(vial__metrics_reader(g, read_ud, &v), 0);
    assert_int_equal(vial__metrics_reader(c, read_ud, &w), 0);
    /* Only for a gauge or counter without labels. */
    assert_int_equal(vial__metrics_reader(l, read_ud, &v), VIAL_EINVAL);
    assert_int_equal(vial__metrics_reader(h, read_ud, &v), VIAL_EINVAL);
    assert_int_equal(vial__metrics_reader(NULL, read_ud, &v), VIAL_EINVAL);
    /* Read at every scrape, shown without any series. */
    char *t = scrape(m);
    assert_string_equal(t, "# HELP open_fds help\n# TYPE open_fds gauge\nopen_fds 7\n"
                           "# HELP cpu_seconds_total help\n# TYPE cpu_seconds_total counter\n"
                           "cpu_seconds_total 0.25\n");
    free(t);
    v = 12;
    w = NAN;
    t = scrape(m);
    assert_line(t, "open_fds 12");
    assert_line(t, "cpu_seconds_total NaN");
    free(t);
    vial__metrics_free(m);
}

/* ------------------------------------------------------------------ text */

static void test_label_values_escaped(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *f = family(m, VIAL__M_COUNTER, "esc_total", (const char *[]){"path", "q", NULL});
    int64_t s = vial__metrics_series(m, f, (const char *[]){"C:\\dir\\", "say \"hi\"\nbye"});
    int64_t e = vial__metrics_series(m, f, (const char *[]){"", "\t{},=\xc3\xa9"});
    vial__metrics_add(m, 0, f, s, 1);
    vial__metrics_add(m, 0, f, e, 2);
    char *t = scrape(m);
    assert_line(t, "esc_total{path=\"C:\\\\dir\\\\\",q=\"say \\\"hi\\\"\\nbye\"} 1");
    /* Tabs, braces, commas, equals signs and UTF-8 go as they are. */
    assert_line(t, "esc_total{path=\"\",q=\"\t{},=\xc3\xa9\"} 2");
    free(t);
    vial__metrics_free(m);
}

static void test_help_escaped(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    const char *why = NULL;
    vial__mfamily *f =
        vial__metrics_family(m, VIAL__M_GAUGE, "helpful", "Back\\slash, \"quotes\" and a\nnewline.",
                             NULL, NULL, 0, &why);
    assert_non_null(f);
    vial__metrics_series(m, f, NULL);
    vial__mfamily *e = vial__metrics_family(m, VIAL__M_GAUGE, "helpless", "", NULL, NULL, 0, &why);
    vial__metrics_series(m, e, NULL);
    char *t = scrape(m);
    /* In help text only backslash and line feed are escaped (format 0.0.4). */
    assert_string_equal(t, "# HELP helpful Back\\\\slash, \"quotes\" and a\\nnewline.\n"
                           "# TYPE helpful gauge\nhelpful 0\n"
                           "# HELP helpless \n# TYPE helpless gauge\nhelpless 0\n");
    free(t);
    vial__metrics_free(m);
}

/* The text of gauge value `v` (0 + v is v itself). */
static char *formatted(double v)
{
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *g = family(m, VIAL__M_GAUGE, "v", NULL);
    vial__metrics_add(m, 0, g, vial__metrics_series(m, g, NULL), v);
    char *t = scrape(m);
    vial__metrics_free(m);
    const char *prefix = "# HELP v help\n# TYPE v gauge\nv ";
    assert_true(!strncmp(t, prefix, strlen(prefix)));
    size_t n = strlen(t);
    assert_true(t[n - 1] == '\n');
    t[n - 1] = '\0';
    memmove(t, t + strlen(prefix), n - strlen(prefix));
    return t;
}

static void check_format(double v, const char *want)
{
    char *got = formatted(v);
    if (strcmp(got, want))
        print_error("%.17g formatted as [%s], want [%s]\n", v, got, want);
    assert_string_equal(got, want);
    /* And reads back as itself. */
    if (!isnan(v))
        assert_true(strtod(got, NULL) == v);
    free(got);
}

static void test_number_format(void **state)
{
    (void)state;
    check_format(0, "0");
    check_format(-0.0, "0");
    check_format(1, "1");
    check_format(-1, "-1");
    check_format(42, "42");
    check_format(1e6, "1000000");
    check_format(123456789012, "123456789012");
    check_format(1e15, "1000000000000000");
    check_format(4503599627370496.0, "4503599627370496"); /* 2^52 */
    check_format(-8999999999999998.0, "-8999999999999998");
    check_format(0.5, "0.5");
    check_format(0.1, "0.1");
    check_format(0.0005, "0.0005");
    check_format(2.5, "2.5");
    check_format(-0.25, "-0.25");
    check_format(1.0 / 3, "0.3333333333333333");
    check_format(0.1 + 0.2, "0.30000000000000004");
    check_format(123456.789, "123456.789");
    check_format(1e-9, "1e-09");
    check_format(1.5e300, "1.5e+300");
    check_format(5e-324, "5e-324");
    check_format(1e20, "1e+20");
    check_format(DBL_MAX, "1.7976931348623157e+308");
    check_format(INFINITY, "+Inf");
    check_format(-INFINITY, "-Inf");
    check_format(NAN, "NaN");
}

/* ------------------------------------------------------------------ the exposition, parsed back */

typedef struct parsed {
    char name[128];
    char labels[16][2][128]; /* name, unescaped value */
    int nlabels;
    double value;
} parsed;

/* Parses one sample line per format 0.0.4; false on anything malformed. */
static bool parse_sample(const char *line, parsed *p)
{
    memset(p, 0, sizeof *p);
    const char *s = line;
    size_t n = 0;
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_' || *s == ':'))
        return false;
    while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
           *s == '_' || *s == ':') {
        if (n + 1 >= sizeof p->name)
            return false;
        p->name[n++] = *s++;
    }
    if (*s == '{') {
        s++;
        while (*s != '}') {
            if (p->nlabels == 16)
                return false;
            char *ln = p->labels[p->nlabels][0], *lv = p->labels[p->nlabels][1];
            n = 0;
            if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_'))
                return false;
            while ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                   (*s >= '0' && *s <= '9') || *s == '_')
                ln[n++] = *s++;
            if (*s++ != '=' || *s++ != '"')
                return false;
            n = 0;
            while (*s != '"') {
                if (!*s || *s == '\n' || n + 2 >= 128)
                    return false;
                if (*s == '\\') {
                    s++;
                    if (*s == 'n')
                        lv[n++] = '\n';
                    else if (*s == '\\' || *s == '"')
                        lv[n++] = *s;
                    else
                        return false;
                    s++;
                } else {
                    lv[n++] = *s++;
                }
            }
            s++;
            for (int i = 0; i < p->nlabels; i++)
                if (!strcmp(p->labels[i][0], ln))
                    return false; /* a label twice */
            p->nlabels++;
            if (*s == ',')
                s++;
            else if (*s != '}')
                return false;
        }
        s++;
    }
    if (*s++ != ' ')
        return false;
    if (!strcmp(s, "NaN"))
        p->value = NAN;
    else if (!strcmp(s, "+Inf"))
        p->value = INFINITY;
    else if (!strcmp(s, "-Inf"))
        p->value = -INFINITY;
    else {
        char *end;
        if (!*s || *s == ' ' || *s == '+' || !strcmp(s, "inf") || !strcmp(s, "nan"))
            return false;
        p->value = strtod(s, &end);
        if (*end || isnan(p->value) || isinf(p->value))
            return false;
    }
    return true;
}

static const char *label(const parsed *p, const char *name)
{
    for (int i = 0; i < p->nlabels; i++)
        if (!strcmp(p->labels[i][0], name))
            return p->labels[i][1];
    return NULL;
}

/* Checks the whole text: HELP then TYPE for each family, once; its samples
 * after them, named after it (histograms: _bucket with le, _sum, _count);
 * buckets ascending in le and cumulative, +Inf last and equal to _count.
 * Returns the number of samples. */
static int check_exposition(const char *text)
{
    char *copy = strdup(text), *save = NULL;
    assert_true(strlen(text) > 0 && text[strlen(text) - 1] == '\n');
    assert_null(strstr(text, "\n\n"));
    char family_name[128] = "", type[16] = "";
    char seen[64][128];
    int nseen = 0, samples = 0;
    double last_le = -INFINITY, last_cum = 0;
    bool after_inf = true;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line[strlen(line) - 1] == ' ' && strncmp(line, "# HELP", 6))
            fail_msg("trailing space: [%s]", line);
        if (!strncmp(line, "# HELP ", 7)) {
            assert_true(after_inf); /* the last histogram series was complete */
            char *sp = strchr(line + 7, ' ');
            assert_non_null(sp);
            snprintf(family_name, sizeof family_name, "%.*s", (int)(sp - line - 7), line + 7);
            for (int i = 0; i < nseen; i++)
                if (!strcmp(seen[i], family_name))
                    fail_msg("family %s twice", family_name);
            assert_true(nseen < 64);
            strcpy(seen[nseen++], family_name);
            type[0] = '\0';
            continue;
        }
        if (!strncmp(line, "# TYPE ", 7)) {
            char nm[128], ty[32];
            assert_int_equal(sscanf(line + 7, "%127s %31s", nm, ty), 2);
            assert_string_equal(nm, family_name); /* right after its HELP */
            assert_true(!type[0]);
            assert_true(!strcmp(ty, "counter") || !strcmp(ty, "gauge") || !strcmp(ty, "histogram"));
            strcpy(type, ty);
            continue;
        }
        assert_true(line[0] != '#');
        parsed p;
        if (!parse_sample(line, &p))
            fail_msg("malformed sample line [%s]", line);
        assert_true(type[0] != '\0');
        samples++;
        size_t fl = strlen(family_name);
        if (strcmp(type, "histogram")) {
            assert_string_equal(p.name, family_name);
            assert_null(label(&p, "le"));
            continue;
        }
        assert_true(!strncmp(p.name, family_name, fl));
        const char *suffix = p.name + fl, *le = label(&p, "le");
        if (!strcmp(suffix, "_bucket")) {
            assert_non_null(le);
            double v = !strcmp(le, "+Inf") ? INFINITY : strtod(le, NULL);
            if (after_inf) { /* a new series */
                last_le = -INFINITY;
                last_cum = 0;
            }
            assert_true(v > last_le);
            assert_true(p.value >= last_cum);
            last_le = v;
            last_cum = p.value;
            after_inf = isinf(v);
        } else if (!strcmp(suffix, "_sum")) {
            assert_true(after_inf);
            assert_null(le);
        } else if (!strcmp(suffix, "_count")) {
            assert_true(after_inf);
            assert_null(le);
            assert_true(p.value == last_cum);
        } else {
            fail_msg("sample %s in histogram %s", p.name, family_name);
        }
    }
    assert_true(after_inf);
    free(copy);
    return samples;
}

static void test_exposition_parses_back(void **state)
{
    (void)state;
    vial__metrics *m = vial__metrics_new();
    vial__mfamily *c = family(m, VIAL__M_COUNTER, "http_requests_total",
                              (const char *[]){"method", "route", "code", NULL});
    vial__mfamily *g = family(m, VIAL__M_GAUGE, "in_flight", NULL);
    const double b[] = {0.01, 0.1, 1};
    const char *why = NULL;
    vial__mfamily *h = vial__metrics_family(m, VIAL__M_HISTOGRAM, "dur_seconds", "Durations.",
                                            (const char *[]){"route", NULL}, b, 3, &why);
    vial__mfamily *d = vial__metrics_family(m, VIAL__M_HISTOGRAM, "default_seconds", "Defaults.",
                                            NULL, NULL, 0, &why);
    double fds = 9;
    vial__mfamily *r = family(m, VIAL__M_GAUGE, "fds", NULL);
    vial__metrics_reader(r, read_ud, &fds);
    static const char *const routes[] = {"/items/<int:id>", "/a \"quoted\" \\ route\n",
                                         "(unmatched)"};
    static const char *const methods[] = {"GET", "POST"};
    static const char *const codes[] = {"200", "404", "500"};
    int want_samples = 1 + 1; /* in_flight, fds */
    for (size_t i = 0; i < 3; i++) {
        int64_t hs = vial__metrics_series(m, h, (const char *[]){routes[i]});
        for (size_t j = 0; j < 2; j++) {
            for (size_t k = 0; k < 3; k++) {
                int64_t s =
                    vial__metrics_series(m, c, (const char *[]){methods[j], routes[i], codes[k]});
                for (size_t n = 0; n <= i + j + k; n++)
                    vial__metrics_add(m, (int)n, c, s, 1);
                vial__metrics_add(m, 2, h, hs, 0.003 * (double)(i + 1) * (double)(k * 10 + 1));
                want_samples++;
            }
        }
        want_samples += 3 + 1 + 2;
    }
    vial__metrics_add(m, 0, g, vial__metrics_series(m, g, NULL), 1);
    int64_t ds = vial__metrics_series(m, d, NULL);
    vial__metrics_add(m, 1, d, ds, 0.2);
    vial__metrics_add(m, 1, d, ds, 20);
    want_samples += 14 + 1 + 2;
    char *t = scrape(m);
    assert_int_equal(check_exposition(t), want_samples);
    /* And the values read back through the parser: every counter series. */
    char *copy = strdup(t), *save = NULL;
    int checked = 0;
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        parsed p;
        if (line[0] == '#' || !parse_sample(line, &p) || strcmp(p.name, "http_requests_total"))
            continue;
        assert_int_equal(p.nlabels, 3);
        size_t i = 0, j = 0, k = 0;
        while (i < 3 && strcmp(routes[i], label(&p, "route")))
            i++;
        while (j < 2 && strcmp(methods[j], label(&p, "method")))
            j++;
        while (k < 3 && strcmp(codes[k], label(&p, "code")))
            k++;
        assert_true(i < 3 && j < 2 && k < 3);
        assert_true(p.value == (double)(i + j + k + 1));
        checked++;
    }
    assert_int_equal(checked, 18);
    free(copy);
    /* Families come in the order they were declared. */
    const char *pc = strstr(t, "# HELP http_requests_total"), *pg = strstr(t, "# HELP in_flight"),
               *ph = strstr(t, "# HELP dur_seconds"), *pd = strstr(t, "# HELP default_seconds"),
               *pf = strstr(t, "# HELP fds");
    assert_true(pc == t && pc < pg && pg < ph && ph < pd && pd < pf);
    free(t);
    /* Appends to what the buffer holds, NUL-terminated. */
    vial__buf buf = {0};
    vial__buf_puts(&buf, "before\n");
    assert_int_equal(vial__metrics_write(m, &buf), 0);
    assert_true(!strncmp(buf.p, "before\n# HELP http_requests_total ", 34));
    assert_int_equal(strlen(buf.p), buf.n);
    vial__buf_free(&buf);
    vial__metrics_free(m);
}

/* The checker itself must catch what it is there for. */
static void test_parser_rejects(void **state)
{
    (void)state;
    parsed p;
    assert_true(parse_sample("a{b=\"c\\\"\\\\\\n\"} 1.5", &p));
    assert_string_equal(label(&p, "b"), "c\"\\\n");
    assert_true(p.value == 1.5);
    assert_true(parse_sample("a NaN", &p) && isnan(p.value));
    assert_true(parse_sample("a -Inf", &p) && isinf(p.value) && p.value < 0);
    assert_false(parse_sample("a inf", &p));
    assert_false(parse_sample("a nan", &p));
    assert_false(parse_sample("a{b=\"c\"} ", &p));
    assert_false(parse_sample("a{b=\"c\",b=\"d\"} 1", &p));
    assert_false(parse_sample("a{b=\"c\\x\"} 1", &p));
    assert_false(parse_sample("a{b=c} 1", &p));
    assert_false(parse_sample("1a 1", &p));
    assert_false(parse_sample("a 1 ", &p));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metric_names),
        cmocka_unit_test(test_label_names),
        cmocka_unit_test(test_duplicate_names),
        cmocka_unit_test(test_histogram_bounds_checked),
        cmocka_unit_test(test_histogram_bucket_limit),
        cmocka_unit_test(test_series_handles),
        cmocka_unit_test(test_series_run_out),
        cmocka_unit_test(test_counter_and_gauge),
        cmocka_unit_test(test_sum_across_slots),
        cmocka_unit_test(test_concurrent_workers),
        cmocka_unit_test(test_concurrent_series),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_histogram_default_bounds),
        cmocka_unit_test(test_histogram_without_bounds),
        cmocka_unit_test(test_empty_series_skipped),
        cmocka_unit_test(test_readers),
        cmocka_unit_test(test_label_values_escaped),
        cmocka_unit_test(test_help_escaped),
        cmocka_unit_test(test_number_format),
        cmocka_unit_test(test_exposition_parses_back),
        cmocka_unit_test(test_parser_rejects),
    };
    return RUN_GROUP(tests);
}

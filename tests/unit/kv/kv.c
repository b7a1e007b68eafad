/*
 * Unit tests for src/kv/kv.c: counters, values and token buckets with
 * expiry — in this process (on a fake monotonic clock, so windows, expiry
 * and refills are checked to the millisecond without sleeping), shared by
 * threads, and in Redis when VIAL_TEST_REDIS_URL is set (skipped
 * otherwise): the same operations, binary values, the database chosen by
 * the URL, a window that does not slide, and VIAL_EDBDOWN while Redis is
 * unreachable.
 *
 * kv.c is compiled into this file (as h2o's tests do) so that its clock
 * can be replaced and its statics (the URL parser, the store) reached.
 */
#include "unit.h"

#include <pthread.h>
#include <time.h>

static int64_t fake_ms = -1; /* the monotonic clock kv.c sees; -1: the real one */

static int fake_clock_gettime(clockid_t id, struct timespec *ts)
{
    if (fake_ms < 0 || id != CLOCK_MONOTONIC)
        return clock_gettime(id, ts);
    ts->tv_sec = fake_ms / 1000;
    ts->tv_nsec = (long)(fake_ms % 1000) * 1000000;
    return 0;
}

#define clock_gettime fake_clock_gettime
#include "kv/kv.c"
#undef clock_gettime

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ fixtures */

typedef struct fixture {
    vial_app *app;
    vial__pool pool;
    vial__worker *w;
    vial_req *req;
} fixture;

/* An app with the kv module (redis_url as given) started, and one request
 * made by hand on a worker of its own. */
static void fx_open(fixture *f, const char *redis_url)
{
    memset(f, 0, sizeof *f);
    f->app = vial_app_new("kv");
    assert_non_null(f->app);
    vial_config_set(f->app, "log_level", "error");
    vial_config_set(f->app, "access_log", "off");
    assert_int_equal(vial_configure(f->app, 0, NULL), 0);
    assert_null(vial_kv_backend(f->app)); /* before init */
    assert_int_equal(vial_kv_init(f->app), 0);
    assert_int_equal(vial_kv_init(f->app), 0); /* modules share one */
    if (redis_url)
        vial_config_set(f->app, "redis_url", redis_url);
    assert_int_equal(vial__run_start_hooks(f->app), 0);
    f->pool.max = 16;
    f->w = vial__worker_new(f->app, 0, &f->pool);
    f->req = vial__req_of(vial__core_handler.msg_new(f->w));
}

/* Ends the request (its arena goes) and starts another. */
static void fx_next(fixture *f)
{
    vial__core_handler.msg_free(f->w, &f->req->m);
    f->req = vial__req_of(vial__core_handler.msg_new(f->w));
}

static void fx_close(fixture *f)
{
    vial__core_handler.msg_free(f->w, &f->req->m);
    vial__worker_free(f->w);
    vial__pool_drain(&f->pool);
    vial_app_free(f->app);
    fake_ms = -1;
}

static int64_t incr(fixture *f, const char *key, int64_t by, int64_t ttl)
{
    int64_t v = -12345;
    assert_int_equal(vial_kv_incr(f->req, key, by, ttl, &v), 0);
    return v;
}

/* The value of `key` as a string, or NULL for VIAL_ENOENT. */
static const char *kv_value(fixture *f, const char *key)
{
    const char *v = (const char *)1;
    size_t n = 99;
    int rc = vial_kv_get(f->req, key, &v, &n);
    if (rc == VIAL_ENOENT) {
        assert_null(v);
        assert_int_equal(n, 0);
        return NULL;
    }
    assert_int_equal(rc, 0);
    assert_int_equal(v[n], '\0');
    return v;
}

static int take(fixture *f, const char *key, double per_minute, double burst, int64_t *retry)
{
    int64_t r = -1;
    int rc = vial_kv_take(f->req, key, per_minute, burst, &r);
    if (retry)
        *retry = r;
    if (rc == 1)
        assert_int_equal(r, 0);
    return rc;
}

/* ------------------------------------------------------------------ one key, several uses */

static const char *plain_key(const char *name)
{
    return name;
}

static void kv_is(fixture *f, const char *key, const char *want, size_t n)
{
    const char *v;
    size_t len;
    assert_int_equal(vial_kv_get(f->req, key, &v, &len), 0);
    assert_int_equal(len, n);
    assert_memory_equal(v, want, n);
}

/*
 * One key used as a counter and as a value, answered as Redis answers: a
 * counter reads as its decimal text, a value that is an integer (as Redis
 * spells one) counts on, any other value refuses to count (VIAL_EDB:
 * Redis's "not an integer or out of range") and stays, and a token bucket
 * is another type that neither reads nor counts.  `key` names the keys
 * (the Redis tests prefix them).
 */
static void mixed_uses(fixture *f, const char *(*key)(const char *))
{
    int64_t v = 0;
    assert_int_equal(incr(f, key("m1"), 5, 0), 5);
    kv_is(f, key("m1"), "5", 1);
    assert_int_equal(incr(f, key("m1"), -7, 0), -2);
    kv_is(f, key("m1"), "-2", 2);
    static const struct {
        const char *set;
        int64_t by, want;
    } counts[] = { { "7", 2, 9 },
                   { "-5", 1, -4 },
                   { "0", 1, 1 },
                   { "9007199254740992", 0, 9007199254740992 },
                   { "-9007199254740991", -1, -9007199254740992 } };
    /* (not larger: Redis's answer passes through a Lua number, a double) */
    for (size_t i = 0; i < VIAL__ARRAY_LEN(counts); i++) {
        assert_int_equal(vial_kv_set(f->req, key("m2"), counts[i].set, strlen(counts[i].set), 0), 0);
        assert_int_equal(incr(f, key("m2"), counts[i].by, 0), counts[i].want);
        char text[24];
        snprintf(text, sizeof text, "%" PRId64, counts[i].want);
        kv_is(f, key("m2"), text, strlen(text));
    }
    /* past int64 either way */
    assert_int_equal(vial_kv_set(f->req, key("m2"), "9223372036854775807", 19, 0), 0);
    assert_int_equal(vial_kv_incr(f->req, key("m2"), 1, 0, &v), VIAL_EDB);
    kv_is(f, key("m2"), "9223372036854775807", 19);
    assert_int_equal(incr(f, key("m2"), INT64_MIN, 0), -1);
    assert_int_equal(vial_kv_incr(f->req, key("m2"), INT64_MIN, 0, &v), VIAL_EDB);
    kv_is(f, key("m2"), "-1", 2);
    static const struct {
        const char *p;
        size_t n;
    } bad[] = { { "x", 1 },      { "07", 2 }, { " 5", 2 },    { "5 ", 2 },  { "+5", 2 }, { "-0", 2 },
                { "", 0 },       { "-", 1 },  { "1e3", 3 },   { "5\0", 2 }, { "0x10", 4 },
                { "18446744073709551616", 20 }, { "9223372036854775808", 19 } };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        assert_int_equal(vial_kv_set(f->req, key("m3"), bad[i].p, bad[i].n, 0), 0);
        v = 77;
        if (vial_kv_incr(f->req, key("m3"), 1, 0, &v) != VIAL_EDB)
            print_error("value [%.*s] counted\n", (int)bad[i].n, bad[i].p);
        assert_int_equal(vial_kv_incr(f->req, key("m3"), 1, 0, &v), VIAL_EDB);
        assert_int_equal(v, 77);
        kv_is(f, key("m3"), bad[i].p, bad[i].n);
    }
    /* a value set over a counter replaces it */
    assert_int_equal(incr(f, key("m4"), 3, 0), 3);
    assert_int_equal(vial_kv_set(f->req, key("m4"), "abc", 3, 0), 0);
    kv_is(f, key("m4"), "abc", 3);
    assert_int_equal(vial_kv_incr(f->req, key("m4"), 1, 0, &v), VIAL_EDB);
    /* a bucket is another type; a value set over it replaces it */
    const char *s;
    assert_int_equal(take(f, key("m5"), 60, 5, NULL), 1);
    assert_int_equal(vial_kv_get(f->req, key("m5"), &s, NULL), VIAL_EDB);
    assert_int_equal(vial_kv_incr(f->req, key("m5"), 1, 0, &v), VIAL_EDB);
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* Redis's WRONGTYPE is logged */
    int taken = vial_kv_take(f->req, key("m4"), 60, 5, NULL);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_int_equal(taken, VIAL_EDB);
    kv_is(f, key("m4"), "abc", 3);
    assert_int_equal(vial_kv_set(f->req, key("m5"), "1", 1, 0), 0);
    assert_int_equal(incr(f, key("m5"), 1, 0), 2);
    for (int i = 1; i <= 5; i++) {
        char k[4];
        snprintf(k, sizeof k, "m%d", i);
        assert_int_equal(vial_kv_del(f->req, key(k)), 0);
    }
}

/* ------------------------------------------------------------------ in process */

static void test_memory_backend_and_refusals(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    assert_string_equal(vial_kv_backend(f.app), "memory");
    int64_t v;
    const char *s;
    assert_int_equal(vial_kv_incr(NULL, "k", 1, 0, &v), VIAL_EINVAL);
    assert_int_equal(vial_kv_incr(f.req, NULL, 1, 0, &v), VIAL_EINVAL);
    assert_int_equal(vial_kv_get(f.req, "k", NULL, NULL), VIAL_EINVAL);
    assert_int_equal(vial_kv_get(NULL, "k", &s, NULL), VIAL_EINVAL);
    assert_int_equal(vial_kv_set(f.req, "k", NULL, 3, 0), VIAL_EINVAL);
    assert_int_equal(vial_kv_set(f.req, NULL, "x", 1, 0), VIAL_EINVAL);
    assert_int_equal(vial_kv_del(f.req, NULL), VIAL_EINVAL);
    int64_t retry = 77;
    assert_int_equal(vial_kv_take(f.req, "b", 0, 1, &retry), VIAL_EINVAL);
    assert_int_equal(retry, 0);
    assert_int_equal(vial_kv_take(f.req, "b", 60, 0.5, NULL), VIAL_EINVAL);
    assert_int_equal(vial_kv_take(f.req, NULL, 60, 1, NULL), VIAL_EINVAL);
    assert_int_equal(vial_kv_init(NULL), VIAL_EINVAL);
    fx_close(&f);
    /* an app without the module */
    vial_app *bare = vial_app_new("bare");
    assert_null(vial_kv_backend(bare));
    vial_app_free(bare);
}

static void test_counter_counts(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    assert_int_equal(incr(&f, "c", 1, 0), 1);
    assert_int_equal(incr(&f, "c", 1, 0), 2);
    assert_int_equal(incr(&f, "c", 5, 0), 7);
    assert_int_equal(incr(&f, "c", -10, 0), -3);
    assert_int_equal(incr(&f, "other", 1, 0), 1);
    assert_int_equal(vial_kv_incr(f.req, "c", 1, 0, NULL), 0); /* value not wanted */
    assert_int_equal(incr(&f, "c", 0, 0), -2);
    fx_close(&f);
}

static void test_counter_window_is_fixed(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    fake_ms = 1000000;
    assert_int_equal(incr(&f, "w", 1, 1000), 1); /* the window starts now */
    fake_ms += 600;
    assert_int_equal(incr(&f, "w", 1, 1000), 2); /* a later hit does not move it */
    fake_ms += 399;
    assert_int_equal(incr(&f, "w", 1, 1000), 3);
    fake_ms += 1; /* 1000 ms after the first hit */
    assert_int_equal(incr(&f, "w", 1, 1000), 1);
    fake_ms += 999;
    assert_int_equal(incr(&f, "w", 1, 1000), 2);
    fake_ms += 1;
    assert_int_equal(incr(&f, "w", 1, 1000), 1);
    /* no ttl: no window */
    assert_int_equal(incr(&f, "forever", 1, 0), 1);
    fake_ms += 1000000000;
    assert_int_equal(incr(&f, "forever", 1, 0), 2);
    /* a ttl given later starts a window then */
    assert_int_equal(incr(&f, "forever", 1, 50), 3);
    fake_ms += 50;
    assert_int_equal(incr(&f, "forever", 1, 0), 1);
    fx_close(&f);
}

static void test_values(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    assert_null(kv_value(&f, "v"));
    assert_int_equal(vial_kv_set(f.req, "v", "a\0b", 3, 0), 0);
    const char *v;
    size_t n;
    assert_int_equal(vial_kv_get(f.req, "v", &v, &n), 0);
    assert_int_equal(n, 3); /* NULs kept */
    assert_memory_equal(v, "a\0b\0", 4);
    assert_int_equal(vial_kv_get(f.req, "v", &v, NULL), 0); /* len may be NULL */
    /* replaced */
    assert_int_equal(vial_kv_set(f.req, "v", "second", 6, 0), 0);
    assert_string_equal(kv_value(&f, "v"), "second");
    /* empty */
    assert_int_equal(vial_kv_set(f.req, "empty", NULL, 0, 0), 0);
    assert_string_equal(kv_value(&f, "empty"), "");
    /* the copy handed out belongs to the request: still valid after a change */
    const char *before = kv_value(&f, "v");
    assert_int_equal(vial_kv_set(f.req, "v", "third", 5, 0), 0);
    assert_string_equal(before, "second");
    fx_next(&f);
    assert_string_equal(kv_value(&f, "v"), "third"); /* the store outlives requests */
    fx_close(&f);
}

static void test_value_expiry(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    fake_ms = 5000000;
    assert_int_equal(vial_kv_set(f.req, "t", "x", 1, 300), 0);
    fake_ms += 299;
    assert_string_equal(kv_value(&f, "t"), "x");
    fake_ms += 1;
    assert_null(kv_value(&f, "t"));
    /* setting again without a ttl clears the old one */
    assert_int_equal(vial_kv_set(f.req, "u", "1", 1, 100), 0);
    assert_int_equal(vial_kv_set(f.req, "u", "2", 1, 0), 0);
    fake_ms += 100000;
    assert_string_equal(kv_value(&f, "u"), "2");
    fx_close(&f);
}

static void test_delete(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    assert_int_equal(vial_kv_del(f.req, "never-there"), 0);
    assert_int_equal(vial_kv_set(f.req, "d", "x", 1, 0), 0);
    assert_int_equal(incr(&f, "n", 41, 0), 41);
    assert_int_equal(vial_kv_del(f.req, "d"), 0);
    assert_int_equal(vial_kv_del(f.req, "n"), 0);
    assert_null(kv_value(&f, "d"));
    assert_int_equal(incr(&f, "n", 1, 0), 1); /* starts over */
    fx_close(&f);
}

static void test_token_bucket(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    fake_ms = 9000000;
    int64_t retry;
    /* burst 3, one a second */
    assert_int_equal(take(&f, "b", 60, 3, NULL), 1);
    assert_int_equal(take(&f, "b", 60, 3, NULL), 1);
    assert_int_equal(take(&f, "b", 60, 3, NULL), 1);
    assert_int_equal(take(&f, "b", 60, 3, &retry), 0);
    assert_int_equal(retry, 1000);
    fake_ms += 400;
    assert_int_equal(take(&f, "b", 60, 3, &retry), 0);
    assert_int_equal(retry, 600); /* the refill so far counts */
    fake_ms += 600;
    assert_int_equal(take(&f, "b", 60, 3, NULL), 1);
    assert_int_equal(take(&f, "b", 60, 3, &retry), 0);
    assert_int_equal(retry, 1000);
    /* a long pause refills up to the burst, not beyond */
    fake_ms += 3600 * 1000;
    for (int i = 0; i < 3; i++)
        assert_int_equal(take(&f, "b", 60, 3, NULL), 1);
    assert_int_equal(take(&f, "b", 60, 3, NULL), 0);
    /* buckets are separate */
    assert_int_equal(take(&f, "b2", 60, 1, NULL), 1);
    assert_int_equal(take(&f, "b2", 60, 1, NULL), 0);
    fx_close(&f);
}

static void test_token_bucket_fractional_rate(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    fake_ms = 100000;
    int64_t retry;
    /* 90 a minute: one every 666.7 ms */
    assert_int_equal(take(&f, "f", 90, 1, NULL), 1);
    assert_int_equal(take(&f, "f", 90, 1, &retry), 0);
    assert_int_equal(retry, 667);
    fake_ms += 666;
    assert_int_equal(take(&f, "f", 90, 1, &retry), 0);
    assert_int_equal(retry, 1);
    fake_ms += 1;
    assert_int_equal(take(&f, "f", 90, 1, NULL), 1);
    fx_close(&f);
}

static void test_counter_and_value_share_a_key(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    mixed_uses(&f, plain_key);
    /* a counter's window and a value's expiry are the key's one expiry, as in Redis */
    fake_ms = 2000000;
    assert_int_equal(vial_kv_set(f.req, "e", "10", 2, 100), 0);
    assert_int_equal(incr(&f, "e", 1, 5000), 11); /* the value's expiry stays */
    fake_ms += 100;
    assert_null(kv_value(&f, "e"));
    assert_int_equal(incr(&f, "e", 1, 50), 1);
    assert_int_equal(vial_kv_set(f.req, "e", "20", 2, 0), 0); /* set without a ttl clears it */
    fake_ms += 1000;
    assert_int_equal(incr(&f, "e", 1, 0), 21);
    fx_close(&f);
}

static void test_expired_entries_dropped(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    kvmod *k = mod_of(f.app);
    fake_ms = 1000;
    char key[32];
    for (int i = 0; i < 5000; i++) { /* enough to grow the table */
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(vial_kv_set(f.req, key, key, strlen(key), i % 2 ? 10 : 0), 0);
    }
    assert_int_equal(k->mem.n, 5000);
    assert_true(k->mem.nbuckets > 1024);
    fake_ms += 10;
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        const char *v = kv_value(&f, key);
        if (i % 2) {
            assert_null(v);
        } else {
            assert_non_null(v);
            assert_string_equal(v, key);
        }
    }
    assert_int_equal(k->mem.n, 2500); /* the expired half is gone, not just hidden */
    fx_close(&f);
}

typedef struct tharg {
    vial_app *app;
    const char *key, *bucket;
    int id;
    int64_t max;
    int errors;
} tharg;

static void *hammer(void *p)
{
    tharg *a = p;
    vial__pool pool = { .max = 4 };
    vial__worker *w = vial__worker_new(a->app, a->id, &pool);
    vial_req *req = vial__req_of(vial__core_handler.msg_new(w));
    for (int i = 0; i < 2000; i++) {
        int64_t v;
        if (vial_kv_incr(req, a->key, 1, 0, &v))
            a->errors++;
        else if (v > a->max)
            a->max = v;
        if (vial_kv_take(req, a->bucket, 1, 1000, NULL) < 0)
            a->errors++;
    }
    vial__core_handler.msg_free(w, &req->m);
    vial__worker_free(w);
    vial__pool_drain(&pool);
    return NULL;
}

static void test_shared_by_threads(void **state)
{
    (void)state;
    fixture f;
    fx_open(&f, NULL);
    pthread_t th[4];
    tharg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (tharg){ f.app, "shared", "bucket", i + 1, 0, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    int64_t max = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
        if (args[i].max > max)
            max = args[i].max;
    }
    assert_int_equal(max, 8000); /* no increment lost */
    assert_int_equal(incr(&f, "shared", 0, 0), 8000);
    /* 8000 takes from a bucket of 1000 that refills once a minute: 1000 got through */
    int64_t retry;
    assert_int_equal(take(&f, "bucket", 1, 1000, &retry), 0);
    fx_close(&f);
}

/* ------------------------------------------------------------------ the Redis URL */

static void test_redis_url_parsing(void **state)
{
    (void)state;
    kvmod k;
    memset(&k, 0, sizeof k);
    assert_int_equal(parse_redis_url("redis://localhost", &k), 0);
    assert_string_equal(k.host, "localhost");
    assert_int_equal(k.port, 6379);
    assert_int_equal(k.dbnum, 0);
    assert_string_equal(k.password, "");
    memset(&k, 0, sizeof k);
    assert_int_equal(parse_redis_url("redis://:s3cret@10.1.2.3:6380/4", &k), 0);
    assert_string_equal(k.host, "10.1.2.3");
    assert_int_equal(k.port, 6380);
    assert_int_equal(k.dbnum, 4);
    assert_string_equal(k.password, "s3cret");
    memset(&k, 0, sizeof k);
    assert_int_equal(parse_redis_url("redis://user:pw@h/", &k), 0);
    assert_string_equal(k.password, "pw");
    assert_string_equal(k.host, "h");
    assert_int_equal(k.dbnum, 0);
    static const char *const bad[] = { "http://h", "redis://", "redis://:6379", "redis://h:0",
                                       "redis://h:70000", "redis://h:-1", "redis://h/-2",
                                       "rediss://h" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        memset(&k, 0, sizeof k);
        assert_int_equal(parse_redis_url(bad[i], &k), VIAL_EINVAL);
    }
}

static void test_bad_redis_url_stops_start(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("kv");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    assert_int_equal(vial_kv_init(app), 0);
    vial_config_set(app, "redis_url", "http://localhost:6379");
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    int rc = vial__run_start_hooks(app);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_int_equal(rc, VIAL_EINVAL);
    vial_app_free(app);
}

static void test_unreachable_redis_is_dbdown(void **state)
{
    (void)state;
    /* a port nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", ntohs(a.sin_port));
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* "not reachable" warnings */
    fixture f;
    fx_open(&f, url);
    assert_string_equal(vial_kv_backend(f.app), "redis");
    int64_t v;
    const char *s;
    int r_incr = vial_kv_incr(f.req, "k", 1, 0, &v);
    int r_get = vial_kv_get(f.req, "k", &s, NULL);
    int r_set = vial_kv_set(f.req, "k", "x", 1, 0);
    int r_del = vial_kv_del(f.req, "k");
    int r_take = vial_kv_take(f.req, "k", 60, 1, NULL);
    fx_close(&f);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_int_equal(r_incr, VIAL_EDBDOWN);
    assert_int_equal(r_get, VIAL_EDBDOWN);
    assert_int_equal(r_set, VIAL_EDBDOWN);
    assert_int_equal(r_del, VIAL_EDBDOWN);
    assert_int_equal(r_take, VIAL_EDBDOWN);
}

/* ------------------------------------------------------------------ Redis (VIAL_TEST_REDIS_URL) */

static char prefix[40];

static const char *rkey(const char *name)
{
    static char k[8][96];
    static int i;
    i = (i + 1) % 8;
    snprintf(k[i], sizeof k[i], "%s%s", prefix, name);
    return k[i];
}

static int redis_setup(void **state)
{
    (void)state;
    if (!getenv("VIAL_TEST_REDIS_URL"))
        return 0;
    snprintf(prefix, sizeof prefix, "vial-unit-%08x:", vial__random_u32());
    return 0;
}

#define NEED_REDIS()                                                           \
    const char *url = getenv("VIAL_TEST_REDIS_URL");                           \
    if (!url || !*url) {                                                       \
        skip();                                                                \
        return;                                                                \
    }

static void test_redis_operations(void **state)
{
    (void)state;
    NEED_REDIS();
    fixture f;
    fx_open(&f, url);
    assert_string_equal(vial_kv_backend(f.app), "redis");
    assert_int_equal(incr(&f, rkey("c"), 1, 0), 1);
    assert_int_equal(incr(&f, rkey("c"), 4, 0), 5);
    assert_int_equal(incr(&f, rkey("c"), -6, 0), -1);
    assert_null(kv_value(&f, rkey("missing")));
    assert_int_equal(vial_kv_set(f.req, rkey("v"), "a\0b\r\n", 5, 0), 0);
    const char *v;
    size_t n;
    assert_int_equal(vial_kv_get(f.req, rkey("v"), &v, &n), 0);
    assert_int_equal(n, 5);
    assert_memory_equal(v, "a\0b\r\n", 5);
    assert_int_equal(vial_kv_set(f.req, rkey("e"), NULL, 0, 0), 0);
    assert_string_equal(kv_value(&f, rkey("e")), "");
    assert_int_equal(vial_kv_del(f.req, rkey("v")), 0);
    assert_null(kv_value(&f, rkey("v")));
    assert_int_equal(vial_kv_del(f.req, rkey("v")), 0);
    vial_kv_del(f.req, rkey("c"));
    vial_kv_del(f.req, rkey("e"));
    fx_close(&f);
}

static void test_redis_counter_and_value_share_a_key(void **state)
{
    (void)state;
    NEED_REDIS();
    fixture f;
    fx_open(&f, url);
    mixed_uses(&f, rkey);
    fx_close(&f);
}

static void test_redis_expiry(void **state)
{
    (void)state;
    NEED_REDIS();
    fixture f;
    fx_open(&f, url);
    assert_int_equal(vial_kv_set(f.req, rkey("t"), "x", 1, 60000), 0);
    assert_string_equal(kv_value(&f, rkey("t")), "x");
    assert_int_equal(vial_kv_set(f.req, rkey("s"), "x", 1, 30), 0);
    assert_int_equal(incr(&f, rkey("w"), 1, 30), 1);
    usleep(150000); /* well past 30 ms */
    assert_null(kv_value(&f, rkey("s")));
    assert_int_equal(incr(&f, rkey("w"), 1, 30), 1); /* a new window */
    vial_kv_del(f.req, rkey("t"));
    vial_kv_del(f.req, rkey("w"));
    fx_close(&f);
}

/* A second connection of our own, to look behind vial's back. */
static redisContext *direct(const char *url, int db)
{
    kvmod k;
    memset(&k, 0, sizeof k);
    assert_int_equal(parse_redis_url(url, &k), 0);
    redisContext *c = redisConnect(k.host, k.port);
    assert_non_null(c);
    assert_int_equal(c->err, 0);
    redisReply *r = redisCommand(c, "SELECT %d", db);
    assert_non_null(r);
    freeReplyObject(r);
    return c;
}

static void test_redis_window_does_not_slide(void **state)
{
    (void)state;
    NEED_REDIS();
    fixture f;
    fx_open(&f, url);
    redisContext *c = direct(url, 0);
    assert_int_equal(incr(&f, rkey("win"), 1, 100000), 1);
    assert_int_equal(incr(&f, rkey("win"), 1, 5000), 2); /* the expiry set by the first stays */
    redisReply *r = redisCommand(c, "PTTL %s", rkey("win"));
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    assert_true(r->integer > 5000 && r->integer <= 100000);
    freeReplyObject(r);
    vial_kv_del(f.req, rkey("win"));
    redisFree(c);
    fx_close(&f);
}

static void test_redis_database_from_url(void **state)
{
    (void)state;
    NEED_REDIS();
    char url3[256];
    snprintf(url3, sizeof url3, "%.*s/3", (int)(strrchr(url, '/') - url), url);
    fixture f;
    fx_open(&f, url3);
    assert_int_equal(vial_kv_set(f.req, rkey("db"), "three", 5, 0), 0);
    redisContext *c0 = direct(url, 0), *c3 = direct(url, 3);
    redisReply *r = redisCommand(c3, "GET %s", rkey("db"));
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "three");
    freeReplyObject(r);
    r = redisCommand(c0, "GET %s", rkey("db"));
    assert_int_equal(r->type, REDIS_REPLY_NIL);
    freeReplyObject(r);
    vial_kv_del(f.req, rkey("db"));
    redisFree(c0);
    redisFree(c3);
    fx_close(&f);
}

static void test_redis_token_bucket(void **state)
{
    (void)state;
    NEED_REDIS();
    fixture f;
    fx_open(&f, url);
    int64_t retry;
    assert_int_equal(take(&f, rkey("b"), 1, 2, NULL), 1);
    assert_int_equal(take(&f, rkey("b"), 1, 2, NULL), 1);
    assert_int_equal(take(&f, rkey("b"), 1, 2, &retry), 0);
    assert_true(retry > 50000 && retry <= 60000); /* one a minute */
    /* a fast bucket refills */
    assert_int_equal(take(&f, rkey("fast"), 60000, 1, NULL), 1);
    usleep(20000);
    assert_int_equal(take(&f, rkey("fast"), 60000, 1, NULL), 1);
    vial_kv_del(f.req, rkey("b"));
    vial_kv_del(f.req, rkey("fast"));
    fx_close(&f);
}

static void test_redis_shared_by_threads(void **state)
{
    (void)state;
    NEED_REDIS();
    fixture f;
    fx_open(&f, url);
    const char *key = rkey("shared"), *bucket = rkey("bucket");
    pthread_t th[3];
    tharg args[3];
    for (int i = 0; i < 3; i++) {
        args[i] = (tharg){ f.app, key, bucket, i + 1, 0, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, hammer, &args[i]), 0);
    }
    for (int i = 0; i < 3; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].errors, 0);
    }
    assert_int_equal(incr(&f, key, 0, 0), 6000);
    vial_kv_del(f.req, key);
    vial_kv_del(f.req, bucket);
    fx_close(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_backend_and_refusals),
        cmocka_unit_test(test_counter_counts),
        cmocka_unit_test(test_counter_window_is_fixed),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_value_expiry),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_token_bucket),
        cmocka_unit_test(test_token_bucket_fractional_rate),
        cmocka_unit_test(test_counter_and_value_share_a_key),
        cmocka_unit_test(test_expired_entries_dropped),
        cmocka_unit_test(test_shared_by_threads),
        cmocka_unit_test(test_redis_url_parsing),
        cmocka_unit_test(test_bad_redis_url_stops_start),
        cmocka_unit_test(test_unreachable_redis_is_dbdown),
        cmocka_unit_test(test_redis_operations),
        cmocka_unit_test(test_redis_counter_and_value_share_a_key),
        cmocka_unit_test(test_redis_expiry),
        cmocka_unit_test(test_redis_window_does_not_slide),
        cmocka_unit_test(test_redis_database_from_url),
        cmocka_unit_test(test_redis_token_bucket),
        cmocka_unit_test(test_redis_shared_by_threads),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, redis_setup, NULL);
}

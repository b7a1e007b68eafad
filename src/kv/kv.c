/*
 * kv.c — small shared state with expiry: counters, values and token
 * buckets, for rate limits, login protection and sessions.
 *
 * Without REDIS_URL the store lives in this process (one table, one mutex:
 * every worker sees the same counts).  With REDIS_URL=redis://host:port/db
 * it lives in Redis, so several vial-server instances behind a load
 * balancer share one limit and one session store; each worker holds its
 * own hiredis connection (a vial_worker_slot), reconnecting after failures
 * at most once a second.  Token buckets run as one Lua script, atomically,
 * on Redis's clock.
 */
#include "kv.h"

#include <hiredis/hiredis.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#define MEM_MAX_ENTRIES (1u << 20) /* beyond this, new keys are refused (limits fail open) */

/* A copy in the request's arena that keeps NULs (vial_strndup stops at one). */
static const char *arena_copy(vial_req *req, const char *p, size_t n)
{
    return vial__arena_strndup(&req->m.arena, p, n);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------------ the in-process store */

/*
 * A key holds one thing, as in Redis: a string — bytes, or a number since
 * its last increment (formatted when read) — or a token bucket (a hash in
 * Redis).  So a counter reads as its decimal text and a value that is an
 * integer counts on; using a key as the other type fails as Redis does.
 */
enum { M_NEW, M_STR, M_BUCKET };

typedef struct ment {
    char *key;
    uint64_t expires; /* monotonic ms; 0: never */
    uint8_t type;
    bool is_num;      /* M_STR: `counter` holds it, not `val` */
    int64_t counter;
    double tokens;
    uint64_t ts;
    char *val;
    size_t len;
    struct ment *next;
} ment;

typedef struct memstore {
    pthread_mutex_t mu;
    ment **buckets;
    size_t nbuckets, n;
} memstore;

static uint64_t hash_key(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void ment_free(ment *e)
{
    free(e->key);
    free(e->val);
    free(e);
}

/* Finds `key` (dropping it if expired); with `create`, makes it.  Called
 * with the mutex held. */
static ment *mem_find(memstore *m, const char *key, bool create)
{
    if (!m->buckets) {
        m->nbuckets = 1024;
        m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
        if (!m->buckets)
            return NULL;
    }
    uint64_t now = now_ms();
    ment **pp = &m->buckets[hash_key(key) & (m->nbuckets - 1)];
    while (*pp) {
        ment *e = *pp;
        if (e->expires && e->expires <= now) { /* expired entries go on sight */
            *pp = e->next;
            ment_free(e);
            m->n--;
            continue;
        }
        if (!strcmp(e->key, key))
            return e;
        pp = &e->next;
    }
    if (!create || m->n >= MEM_MAX_ENTRIES)
        return NULL;
    if (m->n >= m->nbuckets * 2) {
        size_t nb = m->nbuckets * 2;
        ment **b = calloc(nb, sizeof *b);
        if (b) {
            for (size_t i = 0; i < m->nbuckets; i++) {
                for (ment *e = m->buckets[i], *next; e; e = next) {
                    next = e->next;
                    ment **slot = &b[hash_key(e->key) & (nb - 1)];
                    e->next = *slot;
                    *slot = e;
                }
            }
            free(m->buckets);
            m->buckets = b;
            m->nbuckets = nb;
            pp = &m->buckets[hash_key(key) & (m->nbuckets - 1)];
        }
    }
    ment *e = calloc(1, sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return NULL;
    }
    e->next = *pp;
    *pp = e;
    m->n++;
    return e;
}

/* Redis's reading of a string as an integer (string2ll): an optional '-',
 * no '+', no blanks, no leading zero, within int64. */
static bool redis_int(const char *s, size_t n, int64_t *out)
{
    size_t i = n && s[0] == '-';
    if (i == n || s[i] < '0' || s[i] > '9' || (s[i] == '0' && n != 1))
        return false;
    uint64_t v = 0, lim = i ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || v > (lim - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = s[0] == '-' ? -(int64_t)(v - 1) - 1 : (int64_t)v;
    return true;
}

static void mem_del(memstore *m, const char *key)
{
    if (!m->buckets)
        return;
    for (ment **pp = &m->buckets[hash_key(key) & (m->nbuckets - 1)]; *pp; pp = &(*pp)->next) {
        if (!strcmp((*pp)->key, key)) {
            ment *e = *pp;
            *pp = e->next;
            ment_free(e);
            m->n--;
            return;
        }
    }
}

/* ------------------------------------------------------------------ module state */

typedef struct kvmod kvmod;
struct kvmod {
    bool redis;
    char host[256];
    int port, dbnum;
    char password[256];
    int slot;
    memstore mem;
    vial_app *app;
    vial_metric *errors; /* vial_redis_errors_total */
    int64_t errors_s;
};

static const char ext_key = 0;

static void kvmod_free(void *p)
{
    kvmod *k = p;
    for (size_t i = 0; i < k->mem.nbuckets; i++)
        for (ment *e = k->mem.buckets[i], *next; e; e = next) {
            next = e->next;
            ment_free(e);
        }
    free(k->mem.buckets);
    pthread_mutex_destroy(&k->mem.mu);
    free(k);
}

typedef struct rconn {
    redisContext *c;
    uint64_t retry_at;
    char script_sha[41];
    kvmod *k;       /* NULL on a connection being set up */
    vial_req *req;  /* the request using it now (metrics go to its worker) */
} rconn;

static void *rconn_init(vial_app *app, int worker, void *ud)
{
    VIAL__UNUSED(app);
    VIAL__UNUSED(worker);
    VIAL__UNUSED(ud);
    return calloc(1, sizeof(rconn));
}

static void rconn_fini(void *state, void *ud)
{
    VIAL__UNUSED(ud);
    rconn *r = state;
    if (r->c)
        redisFree(r->c);
    free(r);
}

/* redis://[:password@]host[:port][/db] */
static int parse_redis_url(const char *url, kvmod *k)
{
    if (strncmp(url, "redis://", 8))
        return VIAL_EINVAL;
    const char *p = url + 8;
    const char *at = strchr(p, '@');
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        const char *pw = colon ? colon + 1 : p;
        snprintf(k->password, sizeof k->password, "%.*s", (int)(at - pw), pw);
        p = at + 1;
    }
    const char *slash = strchr(p, '/');
    const char *end = slash ? slash : p + strlen(p);
    const char *colon = memchr(p, ':', (size_t)(end - p));
    snprintf(k->host, sizeof k->host, "%.*s", (int)((colon ? colon : end) - p), p);
    k->port = colon ? atoi(colon + 1) : 6379;
    k->dbnum = slash && slash[1] ? atoi(slash + 1) : 0;
    if (!k->host[0] || k->port <= 0 || k->port > 65535 || k->dbnum < 0)
        return VIAL_EINVAL;
    return 0;
}

static redisReply *rcall(rconn *r, int argc, const char **argv, const size_t *lens);

static redisContext *rconnect(const kvmod *k)
{
    struct timeval tv = { 1, 0 };
    redisContext *c = redisConnectWithTimeout(k->host, k->port, tv);
    if (!c || c->err) {
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, tv);
    rconn tmp = { .c = c };
    if (k->password[0]) {
        const char *argv[] = { "AUTH", k->password };
        redisReply *rep = rcall(&tmp, 2, argv, NULL);
        bool ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            redisFree(tmp.c);
            return NULL;
        }
    }
    if (k->dbnum) {
        char db[16];
        snprintf(db, sizeof db, "%d", k->dbnum);
        const char *argv[] = { "SELECT", db };
        redisReply *rep = rcall(&tmp, 2, argv, NULL);
        bool ok = rep && rep->type != REDIS_REPLY_ERROR;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            redisFree(tmp.c);
            return NULL;
        }
    }
    return tmp.c;
}

static redisReply *rcall(rconn *r, int argc, const char **argv, const size_t *lens)
{
    if (!r->c)
        return NULL;
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);
    if (r->k && (!rep || rep->type == REDIS_REPLY_ERROR))
        vial_metric_add_series(r->k->app, r->req, r->k->errors, r->k->errors_s, 1);
    if (!rep) {
        /* The connection broke: drop it, come back later. */
        redisFree(r->c);
        r->c = NULL;
        r->retry_at = now_ms() + 1000;
    }
    return rep;
}

static kvmod *mod_of(vial_app *app)
{
    return vial__app_ext(app, &ext_key);
}

/* The worker's Redis connection, (re)connected; NULL when Redis is down. */
static rconn *redis_of(vial_req *req, kvmod *k)
{
    rconn *r = vial_worker_get(req, k->slot);
    if (!r)
        return NULL;
    r->k = k;
    r->req = req;
    if (!r->c && now_ms() >= r->retry_at) {
        r->c = rconnect(k);
        if (!r->c) {
            vial_metric_add_series(k->app, req, k->errors, k->errors_s, 1);
            r->retry_at = now_ms() + 1000;
            vial_req_log(req, VIAL_LOG_WARN, "redis %s:%d unreachable", k->host, k->port);
        }
    }
    return r->c ? r : NULL;
}

/* /readyz, when Redis is configured: the worker's connection answers PING. */
static int kv_ready(vial_req *req, void *ud, char *why, size_t whylen)
{
    kvmod *k = ud;
    rconn *r = redis_of(req, k);
    if (!r) {
        snprintf(why, whylen, "redis %s:%d unreachable", k->host, k->port);
        return VIAL_EDBDOWN;
    }
    const char *argv[] = { "PING" };
    redisReply *rep = rcall(r, 1, argv, NULL);
    int rc = 0;
    if (!rep) {
        snprintf(why, whylen, "redis %s:%d: connection lost", k->host, k->port);
        rc = VIAL_EDBDOWN;
    } else if (rep->type == REDIS_REPLY_ERROR) {
        snprintf(why, whylen, "redis: %s", rep->str);
        rc = VIAL_EDB;
    }
    if (rep)
        freeReplyObject(rep);
    return rc;
}

static int kv_start(vial_app *app)
{
    kvmod *k = mod_of(app);
    const char *url = vial_config(app, "redis_url");
    k->redis = url && *url;
    if (!k->redis)
        return 0;
    if (parse_redis_url(url, k)) {
        vial_log(VIAL_LOG_ERROR, "redis_url '%s': expected redis://[:password@]host[:port][/db]", url);
        return VIAL_EINVAL;
    }
    int rc = vial_ready_check(app, "redis", kv_ready, k);
    if (rc && rc != VIAL_EEXIST) /* EEXIST: started before (the test client) */
        return rc;
    redisContext *c = rconnect(k);
    if (!c)
        vial_log(VIAL_LOG_WARN, "redis %s:%d is not reachable yet; shared limits and sessions will "
                                "answer 503 or fail open until it is", k->host, k->port);
    else
        redisFree(c);
    return 0;
}

int vial_kv_init(vial_app *app)
{
    if (!app)
        return VIAL_EINVAL;
    if (mod_of(app))
        return 0; /* modules share it */
    kvmod *k = calloc(1, sizeof *k);
    if (!k)
        return VIAL_ENOMEM;
    pthread_mutex_init(&k->mem.mu, NULL);
    int rc = vial__app_ext_set(app, &ext_key, k, kvmod_free);
    if (rc) {
        pthread_mutex_destroy(&k->mem.mu);
        free(k);
        return rc;
    }
    if ((rc = vial__config_define_env(app, "redis_url", "",
                                 "redis://host:port/db: share limits and sessions between instances")))
        return rc;
    k->slot = vial_worker_slot(app, rconn_init, rconn_fini, NULL);
    if (k->slot < 0)
        return k->slot;
    k->app = app;
    k->errors = vial_counter(app, "vial_redis_errors_total",
                             "Redis commands and connections that failed", NULL);
    k->errors_s = vial_metric_series(app, k->errors, NULL);
    return vial_on_start(app, kv_start);
}

/* ------------------------------------------------------------------ operations */

int vial_kv_incr(vial_req *req, const char *key, int64_t by, int64_t ttl_ms, int64_t *value)
{
    kvmod *k = req ? mod_of(req->app) : NULL;
    if (!k || !key)
        return VIAL_EINVAL;
    if (k->redis) {
        rconn *r = redis_of(req, k);
        if (!r)
            return VIAL_EDBDOWN;
        /* INCRBY, then set the expiry only when the key has none, so a
         * window does not slide with every hit. */
        static const char script[] = "local v = redis.call('INCRBY', KEYS[1], ARGV[1]) "
                                     "if tonumber(ARGV[2]) > 0 and redis.call('PTTL', KEYS[1]) < 0 then "
                                     "redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return v";
        char bys[24], ttls[24];
        snprintf(bys, sizeof bys, "%" PRId64, by);
        snprintf(ttls, sizeof ttls, "%" PRId64, ttl_ms);
        const char *argv[] = { "EVAL", script, "1", key, bys, ttls };
        redisReply *rep = rcall(r, 6, argv, NULL);
        if (!rep)
            return VIAL_EDBDOWN;
        int rc = rep->type == REDIS_REPLY_INTEGER ? 0 : VIAL_EDB;
        if (!rc && value)
            *value = rep->integer;
        freeReplyObject(rep);
        return rc;
    }
    int rc = 0;
    pthread_mutex_lock(&k->mem.mu);
    ment *e = mem_find(&k->mem, key, true);
    int64_t n = 0;
    if (!e)
        rc = VIAL_ENOMEM;
    else if (e->type == M_BUCKET) /* Redis: WRONGTYPE */
        rc = VIAL_EDB;
    else if (e->type == M_STR && !e->is_num && !redis_int(e->val, e->len, &n))
        rc = VIAL_EDB; /* Redis: "value is not an integer or out of range" */
    else if (__builtin_add_overflow(e->is_num ? e->counter : n, by, &n))
        rc = VIAL_EDB; /* Redis: "increment or decrement would overflow" */
    if (!rc) {
        if (!e->expires && ttl_ms > 0)
            e->expires = now_ms() + (uint64_t)ttl_ms;
        free(e->val);
        e->val = NULL;
        e->len = 0;
        e->type = M_STR;
        e->is_num = true;
        e->counter = n;
        if (value)
            *value = n;
    }
    pthread_mutex_unlock(&k->mem.mu);
    return rc;
}

int vial_kv_get(vial_req *req, const char *key, const char **value, size_t *len)
{
    kvmod *k = req ? mod_of(req->app) : NULL;
    if (!k || !key || !value)
        return VIAL_EINVAL;
    *value = NULL;
    if (len)
        *len = 0;
    if (k->redis) {
        rconn *r = redis_of(req, k);
        if (!r)
            return VIAL_EDBDOWN;
        const char *argv[] = { "GET", key };
        redisReply *rep = rcall(r, 2, argv, NULL);
        if (!rep)
            return VIAL_EDBDOWN;
        int rc = 0;
        if (rep->type == REDIS_REPLY_NIL) {
            rc = VIAL_ENOENT;
        } else if (rep->type == REDIS_REPLY_STRING) {
            *value = arena_copy(req, rep->str, rep->len);
            if (!*value)
                rc = VIAL_ENOMEM;
            else if (len)
                *len = rep->len;
        } else {
            rc = VIAL_EDB;
        }
        freeReplyObject(rep);
        return rc;
    }
    int rc = VIAL_ENOENT;
    pthread_mutex_lock(&k->mem.mu);
    ment *e = mem_find(&k->mem, key, false);
    if (e && e->type == M_BUCKET) {
        rc = VIAL_EDB; /* Redis: WRONGTYPE */
    } else if (e && e->type == M_STR) {
        char num[24];
        const char *p = e->val;
        size_t n = e->len;
        if (e->is_num) {
            n = (size_t)snprintf(num, sizeof num, "%" PRId64, e->counter);
            p = num;
        }
        *value = arena_copy(req, p, n);
        rc = *value ? 0 : VIAL_ENOMEM;
        if (!rc && len)
            *len = n;
    }
    pthread_mutex_unlock(&k->mem.mu);
    return rc;
}

int vial_kv_set(vial_req *req, const char *key, const void *value, size_t len, int64_t ttl_ms)
{
    kvmod *k = req ? mod_of(req->app) : NULL;
    if (!k || !key || (!value && len))
        return VIAL_EINVAL;
    if (k->redis) {
        rconn *r = redis_of(req, k);
        if (!r)
            return VIAL_EDBDOWN;
        char ttls[24];
        snprintf(ttls, sizeof ttls, "%" PRId64, ttl_ms);
        const char *argv[] = { "SET", key, value ? value : "", "PX", ttls };
        size_t lens[] = { 3, strlen(key), len, 2, strlen(ttls) };
        redisReply *rep = rcall(r, ttl_ms > 0 ? 5 : 3, argv, lens);
        if (!rep)
            return VIAL_EDBDOWN;
        int rc = rep->type == REDIS_REPLY_ERROR ? VIAL_EDB : 0;
        freeReplyObject(rep);
        return rc;
    }
    char *copy = malloc(len + 1);
    if (!copy)
        return VIAL_ENOMEM;
    if (len)
        memcpy(copy, value, len);
    copy[len] = '\0';
    pthread_mutex_lock(&k->mem.mu);
    ment *e = mem_find(&k->mem, key, true);
    if (e) {
        free(e->val);
        e->val = copy;
        e->len = len;
        e->type = M_STR;
        e->is_num = false;
        e->expires = ttl_ms > 0 ? now_ms() + (uint64_t)ttl_ms : 0;
    }
    pthread_mutex_unlock(&k->mem.mu);
    if (!e) {
        free(copy);
        return VIAL_ENOMEM;
    }
    return 0;
}

int vial_kv_del(vial_req *req, const char *key)
{
    kvmod *k = req ? mod_of(req->app) : NULL;
    if (!k || !key)
        return VIAL_EINVAL;
    if (k->redis) {
        rconn *r = redis_of(req, k);
        if (!r)
            return VIAL_EDBDOWN;
        const char *argv[] = { "DEL", key };
        redisReply *rep = rcall(r, 2, argv, NULL);
        if (!rep)
            return VIAL_EDBDOWN;
        freeReplyObject(rep);
        return 0;
    }
    pthread_mutex_lock(&k->mem.mu);
    mem_del(&k->mem, key);
    pthread_mutex_unlock(&k->mem.mu);
    return 0;
}

int vial_kv_take(vial_req *req, const char *key, double per_minute, double burst, int64_t *retry_after_ms)
{
    kvmod *k = req ? mod_of(req->app) : NULL;
    if (retry_after_ms)
        *retry_after_ms = 0;
    if (!k || !key || per_minute <= 0 || burst < 1)
        return VIAL_EINVAL;
    double rate = per_minute / 60000.0; /* tokens per ms */
    if (k->redis) {
        rconn *r = redis_of(req, k);
        if (!r)
            return VIAL_EDBDOWN;
        static const char script[] =
            "local t = redis.call('TIME') "
            "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "
            "local rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]) "
            "local b = redis.call('HMGET', KEYS[1], 't', 'ts') "
            "local tokens = tonumber(b[1]) or burst "
            "local ts = tonumber(b[2]) or now "
            "tokens = math.min(burst, tokens + math.max(0, now - ts) * rate) "
            "local ok, wait = 0, 0 "
            "if tokens >= 1 then tokens = tokens - 1 ok = 1 "
            "else wait = math.ceil((1 - tokens) / rate) end "
            "redis.call('HSET', KEYS[1], 't', tostring(tokens), 'ts', tostring(now)) "
            "redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate) + 1000) "
            "return {ok, wait}";
        char rs[40], bs[40];
        snprintf(rs, sizeof rs, "%.17g", rate);
        snprintf(bs, sizeof bs, "%.17g", burst);
        const char *argv[] = { "EVAL", script, "1", key, rs, bs };
        redisReply *rep = rcall(r, 6, argv, NULL);
        if (!rep)
            return VIAL_EDBDOWN;
        int rc = VIAL_EDB;
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_INTEGER) {
            rc = rep->element[0]->integer ? 1 : 0;
            if (!rc && retry_after_ms)
                *retry_after_ms = rep->element[1]->integer;
        } else if (rep->type == REDIS_REPLY_ERROR) {
            vial_req_log(req, VIAL_LOG_ERROR, "redis: %s", rep->str);
        }
        freeReplyObject(rep);
        return rc;
    }
    int rc = 1;
    pthread_mutex_lock(&k->mem.mu);
    ment *e = mem_find(&k->mem, key, true);
    if (!e) {
        rc = VIAL_ENOMEM;
    } else if (e->type == M_STR) {
        rc = VIAL_EDB; /* Redis: WRONGTYPE */
    } else {
        uint64_t now = now_ms();
        if (e->type == M_NEW) {
            e->type = M_BUCKET;
            e->tokens = burst;
            e->ts = now;
        }
        e->tokens = fmin(burst, e->tokens + (double)(now - e->ts) * rate);
        e->ts = now;
        if (e->tokens >= 1) {
            e->tokens -= 1;
        } else {
            rc = 0;
            if (retry_after_ms)
                *retry_after_ms = (int64_t)ceil((1 - e->tokens) / rate);
        }
        e->expires = now + (uint64_t)ceil(burst / rate) + 1000;
    }
    pthread_mutex_unlock(&k->mem.mu);
    return rc;
}

int vial__kv_redis_addr(vial_app *app, vial__redis_addr *out)
{
    if (!mod_of(app))
        return 0;
    const char *url = vial_config(app, "redis_url");
    if (!url || !*url)
        return 0;
    kvmod *tmp = calloc(1, sizeof *tmp); /* parse_redis_url's target; its store stays unused */
    if (!tmp)
        return VIAL_ENOMEM;
    int rc = parse_redis_url(url, tmp);
    if (!rc) {
        memset(out, 0, sizeof *out);
        memcpy(out->host, tmp->host, sizeof out->host);
        memcpy(out->password, tmp->password, sizeof out->password);
        out->port = tmp->port;
        out->db = tmp->dbnum;
    }
    free(tmp);
    return rc ? rc : 1;
}

const char *vial_kv_backend(vial_app *app)
{
    kvmod *k = mod_of(app);
    return !k ? NULL : k->redis ? "redis" : "memory";
}

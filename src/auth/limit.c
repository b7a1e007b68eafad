/*
 * limit.c — rate limits and login protection in the shared store (kv.c):
 * in this process by default, in Redis with REDIS_URL so that instances
 * behind a load balancer enforce one limit together.
 *
 * Rate limits are token buckets.  Login protection (vial_backoff_*) counts
 * failures per key and, past a few free ones, makes the next attempt wait
 * a doubling delay from the last failure rather than locking the key: a
 * lock-out would let anyone lock any account by guessing badly on purpose.
 * Both fail open when the store is unreachable, so a Redis outage does not
 * become a login outage.
 */
#include "auth_impl.h"

#include <math.h>
#include <stdlib.h>

static int check(vial_req *req, const char *key, const vial_limit *lim, int64_t *wait_ms)
{
    int64_t wait = 0;
    int rc = vial_kv_take(req, key, lim->per_minute, lim->burst, &wait);
    if (rc < 0) {
        /* Fail open, loudly: an unreachable store must not become an outage. */
        vial_req_log(req, VIAL_LOG_WARN, "rate limit %s: store unavailable (%s); allowing",
                     lim->name, vial_strerror(rc));
        return 1;
    }
    if (rc == 0 && wait > *wait_ms)
        *wait_ms = wait;
    return rc;
}

int vial_ratelimit(vial_req *req, const vial_limit *lim)
{
    if (!req || !lim || lim->per_minute <= 0 || lim->burst < 1)
        return 0; /* per_minute 0: switched off */
    const char *ip = vial_client_addr(req);
    int64_t wait = 0;
    bool ok = true;
    char key[300];
    if (lim->by & VIAL_LIMIT_IP) {
        snprintf(key, sizeof key, "vial:rl:%s:ip:%s", lim->name, ip);
        ok = check(req, key, lim, &wait) && ok;
    }
    if (lim->by & VIAL_LIMIT_USER) {
        const vial_identity *id = vial_auth(req);
        if (id && id->key_id)
            snprintf(key, sizeof key, "vial:rl:%s:key:%" PRId64, lim->name, id->key_id);
        else if (id)
            snprintf(key, sizeof key, "vial:rl:%s:user:%" PRId64, lim->name, id->user_id);
        else
            snprintf(key, sizeof key, "vial:rl:%s:anon:%s", lim->name, ip);
        ok = check(req, key, lim, &wait) && ok;
    }
    if (ok)
        return 0;
    char ra[24];
    snprintf(ra, sizeof ra, "%" PRId64, (wait + 999) / 1000 > 0 ? (wait + 999) / 1000 : 1);
    vial_abortf(req, 429, "too many requests; retry in %s s", ra);
    vial_set_header(req, "Retry-After", ra);
    return 1;
}

static int limit_hook(vial_req *req, void *ud)
{
    vial_ratelimit(req, ud); /* answering skips the view */
    return 0;
}

int vial_ratelimit_guard(vial_bp *bp, const vial_limit *lim)
{
    if (!bp || !lim)
        return VIAL_EINVAL;
    return vial__bp_before_data(bp, limit_hook, (void *)lim, NULL);
}

/* ------------------------------------------------------------------ login backoff */

#define BACKOFF_MAX_S 900                    /* default longest wait */
#define BACKOFF_WINDOW_MS (24 * 3600 * 1000LL) /* default memory of failures */

/* "vial:<name>:<key>:<suffix>"; 0, or VIAL_EINVAL when it does not fit (a
 * key cut short could share another's count). */
static int backoff_key(char *out, size_t cap, const vial_backoff *b, const char *key, char suffix)
{
    int n = snprintf(out, cap, "vial:%s:%s:%c", b->name, key, suffix);
    return n > 0 && (size_t)n < cap ? 0 : VIAL_EINVAL;
}

static int64_t window_ms(const vial_backoff *b)
{
    return b->window_ms > 0 ? b->window_ms : BACKOFF_WINDOW_MS;
}

static int64_t now_ms(void)
{
    return vial_time_now().us / 1000;
}

int64_t vial_backoff_check(vial_req *req, const vial_backoff *b, const char *key)
{
    if (!req || !b || !b->name || !key)
        return VIAL_EINVAL;
    char k[512];
    int64_t fails = 0;
    if (backoff_key(k, sizeof k, b, key, 'n'))
        return VIAL_EINVAL;
    int rc = vial_kv_incr(req, k, 0, window_ms(b), &fails);
    int64_t free_failures = b->free_failures > 0 ? b->free_failures : 1;
    if (rc || fails < free_failures) {
        if (rc)
            vial_req_log(req, VIAL_LOG_WARN, "backoff %s: store unavailable (%s); allowing",
                         b->name, vial_strerror(rc));
        return 0;
    }
    const char *last = NULL;
    if (backoff_key(k, sizeof k, b, key, 't') || vial_kv_get(req, k, &last, NULL))
        return 0;
    int64_t shift = fails - free_failures;
    int64_t max_s = b->max_wait_s > 0 ? b->max_wait_s : BACKOFF_MAX_S;
    int64_t wait_s = shift >= 30 ? max_s : (int64_t)1 << shift;
    if (wait_s > max_s)
        wait_s = max_s;
    int64_t until = strtoll(last, NULL, 10) + wait_s * 1000, now = now_ms();
    return until > now ? (until - now + 999) / 1000 : 0;
}

int vial_backoff_fail(vial_req *req, const vial_backoff *b, const char *key)
{
    if (!req || !b || !b->name || !key)
        return VIAL_EINVAL;
    char k[512], v[24];
    int rc = backoff_key(k, sizeof k, b, key, 'n');
    if (!rc)
        rc = vial_kv_incr(req, k, 1, window_ms(b), NULL);
    if (!rc)
        rc = backoff_key(k, sizeof k, b, key, 't');
    if (!rc) {
        int n = snprintf(v, sizeof v, "%" PRId64, now_ms());
        rc = vial_kv_set(req, k, v, (size_t)n, window_ms(b));
    }
    return rc;
}

int vial_backoff_clear(vial_req *req, const vial_backoff *b, const char *key)
{
    if (!req || !b || !b->name || !key)
        return VIAL_EINVAL;
    char k[512];
    int rc = backoff_key(k, sizeof k, b, key, 'n');
    if (!rc)
        rc = vial_kv_del(req, k);
    if (!rc && !(rc = backoff_key(k, sizeof k, b, key, 't')))
        rc = vial_kv_del(req, k);
    return rc;
}

/*
 * limit.c — rate limits as token buckets in the shared store (kv.c): in
 * this process by default, in Redis with REDIS_URL so that instances
 * behind a load balancer enforce one limit together.
 */
#include "auth_impl.h"

#include <math.h>

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

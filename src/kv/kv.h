/*
 * kv.h — what the key-value module offers the others.  Its API is public
 * (vial_kv_* in vial.h: counters, values, token buckets with expiry, in
 * this process or in Redis); modules that use it (auth's rate limits and
 * login protection, web's server-side sessions) include this header to
 * say so.  Pub/sub across instances (src/rt) reaches the same Redis with
 * connections of its own (asynchronous, on its own thread): it takes the
 * address from here, so REDIS_URL is read in one place.
 */
#ifndef VIAL_KV_H
#define VIAL_KV_H

#include "../core/core.h"

/* Where the app's Redis is (from redis_url). */
typedef struct vial__redis_addr {
    char host[256];
    int port, db;
    char password[256];
} vial__redis_addr;

/* 1 with *out filled when the app's store is Redis (vial_kv_init() was
 * called and redis_url is set), 0 when it is not, VIAL_EINVAL when the URL
 * is malformed (the start has refused it already).  Any thread after the
 * configuration is loaded. */
int vial__kv_redis_addr(vial_app *app, vial__redis_addr *out);

#endif /* VIAL_KV_H */

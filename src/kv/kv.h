/*
 * kv.h — what the key-value module offers the others.  Its API is public
 * (vial_kv_* in vial.h: counters, values, token buckets with expiry, in
 * this process or in Redis); modules that use it (auth's rate limits and
 * login protection, web's server-side sessions) include this header to
 * say so.  Pub/sub across instances (src/rt) will be offered here.
 */
#ifndef VIAL_KV_H
#define VIAL_KV_H

#include "../core/core.h"

#endif /* VIAL_KV_H */

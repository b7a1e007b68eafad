/*
 * auth_impl.h — private to the auth module (crypto.c, guard.c, limit.c):
 * the app's auth state.
 */
#ifndef VIAL_AUTH_IMPL_H
#define VIAL_AUTH_IMPL_H

#include "auth.h"

#include <pthread.h>
#include <sodium.h>

struct vial__auth {
    unsigned char secret[128];
    size_t secret_len;
    int64_t leeway_s;
    const vial_auth_ops *ops;
    int cache_slot; /* per-worker cache of verified tokens */
    /* HMAC-SHA-256 under the secret with its keyed blocks already hashed
     * (vial__auth_keys, at start): copied for each token. */
    crypto_auth_hmacsha256_state jwt_hmac;
    bool jwt_hmac_ready;
};

/* Prepares the token key from `secret` (call after setting it). */
void vial__auth_keys(vial__auth *a);

#endif /* VIAL_AUTH_IMPL_H */

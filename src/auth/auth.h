/*
 * auth.h — inside the auth module (crypto.c, guard.c, limit.c).
 */
#ifndef VIAL_AUTH_H
#define VIAL_AUTH_H

#include "../core/core.h"
#include "../kv/kv.h"

#include <pthread.h>
#include <sodium.h>

typedef struct vial__auth {
    unsigned char secret[128];
    size_t secret_len;
    int64_t leeway_s;
    const vial_auth_ops *ops;
    int cache_slot; /* per-worker cache of verified tokens */
    /* HMAC-SHA-256 under the secret with its keyed blocks already hashed
     * (vial__auth_keys, at start): copied for each token. */
    crypto_auth_hmacsha256_state jwt_hmac;
    bool jwt_hmac_ready;
} vial__auth;

/* The app's auth state (NULL before vial_auth_init). */
const vial__auth *vial__auth_of(const vial_app *app);

/* HMAC-SHA256 of `data` under a key derived from the app secret for
 * `purpose` ("session", "csrf"): one secret, separate keys. */
int vial__auth_mac(const vial__auth *a, const char *purpose, const void *data, size_t n,
                   unsigned char mac[32]);

/* Prepares the token key from `secret` (call after setting it). */
void vial__auth_keys(vial__auth *a);


#endif

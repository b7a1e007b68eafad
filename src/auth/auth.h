/*
 * auth.h — what the auth module offers the others: message authentication
 * under the app's secret, with a key per purpose.  The web module's signed
 * session cookies and CSRF tokens use it; the secret itself, the token
 * machinery and the identity cache stay private to src/auth (auth_impl.h).
 */
#ifndef VIAL_AUTH_H
#define VIAL_AUTH_H

#include "../core/core.h"
#include "../kv/kv.h"

typedef struct vial__auth vial__auth;

/* The app's auth state (NULL before vial_auth_init). */
const vial__auth *vial__auth_of(const vial_app *app);

/* HMAC-SHA256 of `data` under a key derived from the app secret for
 * `purpose` ("session", "csrf"): one secret, separate keys, so a value made
 * for one purpose is never accepted for another. */
int vial__auth_mac(const vial__auth *a, const char *purpose, const void *data, size_t n,
                   unsigned char mac[32]);

#endif /* VIAL_AUTH_H */

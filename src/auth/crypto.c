/*
 * crypto.c — the auth module's primitives: randomness, constant-time
 * comparison, argon2id password hashing and HS256 JSON Web Tokens, all on
 * libsodium (HMAC-SHA-256: crypto_auth_hmacsha256_*, which takes keys of any
 * length, as RFC 2104 does).  Not OpenSSL: loading libcrypto alone costs a
 * server ~1.4 MiB of RSS (its relocations), over the idle budget.
 *
 * JWT verification follows RFC 8725's advice: the algorithm is pinned (the
 * header must say HS256; "none" and everything else are refused before any
 * signature work), the signature is compared in constant time, "exp" is
 * required, and clock skew is bounded by a configured leeway.
 */
#include "auth_impl.h"

#include <sodium.h>
#include <stdlib.h>
#include <time.h>

static void init_sodium(void)
{
    if (sodium_init() < 0)
        vial_log(VIAL_LOG_ERROR, "libsodium failed to initialize");
}

static void sodium_once(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, init_sodium);
}

int vial_random(void *buf, size_t n)
{
    sodium_once();
    randombytes_buf(buf, n);
    return 0;
}

int vial_equal_ct(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}

/* ------------------------------------------------------------------ passwords */

static void limits(vial_app *app, unsigned long long *ops, size_t *mem)
{
    int64_t o = vial_config_int(app, "password_opslimit", 0);
    int64_t m = vial__parse_size(vial_config(app, "password_memlimit"));
    *ops = o > 0 ? (unsigned long long)o : crypto_pwhash_OPSLIMIT_INTERACTIVE;
    *mem = m > 0 ? (size_t)m : crypto_pwhash_MEMLIMIT_INTERACTIVE;
    if (*ops < crypto_pwhash_OPSLIMIT_MIN)
        *ops = crypto_pwhash_OPSLIMIT_MIN;
    if (*mem < crypto_pwhash_MEMLIMIT_MIN)
        *mem = crypto_pwhash_MEMLIMIT_MIN;
}

int vial_password_hash(vial_app *app, const char *password, char out[VIAL_PASSWORD_HASH_MAX])
{
    _Static_assert(crypto_pwhash_STRBYTES <= VIAL_PASSWORD_HASH_MAX, "hash buffer");
    if (!password)
        return VIAL_EINVAL;
    sodium_once();
    unsigned long long ops;
    size_t mem;
    limits(app, &ops, &mem);
    /* Memory-hard on purpose: this is where a failure means "out of memory". */
    if (crypto_pwhash_str_alg(out, password, strlen(password), ops, mem,
                              crypto_pwhash_ALG_ARGON2ID13) != 0)
        return VIAL_ENOMEM;
    return 0;
}

int vial_password_verify(const char *hash, const char *password)
{
    if (!hash || !password)
        return 0;
    sodium_once();
    if (strncmp(hash, "$argon2id$", 10) != 0)
        return 0;
    return crypto_pwhash_str_verify(hash, password, strlen(password)) == 0;
}

int vial_password_needs_rehash(vial_app *app, const char *hash)
{
    unsigned long long ops;
    size_t mem;
    limits(app, &ops, &mem);
    return crypto_pwhash_str_needs_rehash(hash, ops, mem) != 0;
}

/* ------------------------------------------------------------------ derived keys */

/* HMAC-SHA-256 of `data` under `key` (any length). */
static void hmac256(const void *key, size_t klen, const void *data, size_t n,
                    unsigned char mac[32])
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, klen);
    crypto_auth_hmacsha256_update(&st, data, n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
}

int vial__auth_mac(const vial__auth *a, const char *purpose, const void *data, size_t n,
                   unsigned char mac[32])
{
    unsigned char key[32];
    /* key = HMAC(secret, "vial:" purpose): tokens, sessions and CSRF never
     * share a key, so one can never be passed off as another. */
    char label[64];
    int ln = snprintf(label, sizeof label, "vial:%s", purpose);
    if (ln < 0 || (size_t)ln >= sizeof label)
        return VIAL_EINVAL;
    hmac256(a->secret, a->secret_len, label, (size_t)ln, key);
    hmac256(key, sizeof key, data, n, mac);
    sodium_memzero(key, sizeof key);
    return 0;
}

/* ------------------------------------------------------------------ JWT */

void vial__auth_keys(vial__auth *a)
{
    /* HMAC's two keyed blocks (key ^ ipad, key ^ opad) are hashed once here;
     * each token then costs only its own blocks. */
    crypto_auth_hmacsha256_init(&a->jwt_hmac, a->secret, a->secret_len);
    a->jwt_hmac_ready = true;
}

static int hs256(const vial__auth *a, const char *data, size_t n, unsigned char mac[32])
{
    if (!a->jwt_hmac_ready) {
        hmac256(a->secret, a->secret_len, data, n, mac);
        return 0;
    }
    crypto_auth_hmacsha256_state st = a->jwt_hmac;
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)data, n);
    crypto_auth_hmacsha256_final(&st, mac);
    sodium_memzero(&st, sizeof st);
    return 0;
}

/* base64url of {"alg":"HS256","typ":"JWT"}: the header vial_jwt_issue_malloc
 * writes, as most libraries do. */
static const char jwt_header_b64[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";

int vial_jwt_issue_malloc(vial_app *app, json_t *claims, int64_t ttl_s, char **token)
{
    const vial__auth *a = vial__auth_of(app);
    if (!a || !token || ttl_s <= 0 || (claims && !json_is_object(claims)))
        return VIAL_EINVAL;
    *token = NULL;
    json_t *c = claims ? json_deep_copy(claims) : json_object();
    if (!c)
        return VIAL_ENOMEM;
    int64_t now = (int64_t)time(NULL);
    json_object_set_new(c, "iat", json_integer(now));
    json_object_set_new(c, "exp", json_integer(now + ttl_s));
    char *payload = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    if (!payload)
        return VIAL_ENOMEM;
    vial__buf b = { 0 };
    int rc = vial__buf_add(&b, jwt_header_b64, sizeof jwt_header_b64 - 1);
    if (!rc)
        rc = vial__buf_add(&b, ".", 1);
    if (!rc)
        rc = vial__b64url_encode(&b, payload, strlen(payload));
    free(payload);
    unsigned char mac[32];
    if (!rc)
        rc = hs256(a, b.p, b.n, mac);
    if (!rc)
        rc = vial__buf_add(&b, ".", 1);
    if (!rc)
        rc = vial__b64url_encode(&b, mac, sizeof mac);
    if (!rc)
        rc = vial__buf_nul(&b);
    if (rc) {
        vial__buf_free(&b);
        return rc;
    }
    *token = b.p; /* malloc'd, NUL-terminated */
    return 0;
}

int vial_jwt_verify(vial_app *app, const char *token, json_t **claims, const char **why)
{
    static const char *dummy;
    if (!why)
        why = &dummy;
    if (claims)
        *claims = NULL;
    const vial__auth *a = vial__auth_of(app);
    if (!a || !token) {
        *why = "no token";
        return VIAL_EINVAL;
    }
    size_t n = strlen(token);
    const char *d1 = memchr(token, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', n - (size_t)(d2 + 1 - token)) || n > 8192) {
        *why = "malformed token";
        return VIAL_EINVAL;
    }
    json_t *h = NULL, *p = NULL;
    unsigned char small[1024], *pl = NULL;
    int rc = VIAL_EINVAL;
    size_t hn = (size_t)(d1 - token);
    /* The algorithm is pinned before anything else is believed.  The usual
     * header is recognized by its bytes; any other is decoded and parsed. */
    if (hn != sizeof jwt_header_b64 - 1 || memcmp(token, jwt_header_b64, hn)) {
        unsigned char hb[512];
        ptrdiff_t hl = vial_b64url_decode(token, hn, hb, sizeof hb);
        if (hl < 0 || !(h = json_loadb((const char *)hb, (size_t)hl, 0, NULL)) || !json_is_object(h)) {
            *why = "malformed token header";
            goto out;
        }
        json_t *alg = json_object_get(h, "alg");
        if (!json_is_string(alg) || strcmp(json_string_value(alg), "HS256")) {
            *why = "token algorithm is not HS256";
            goto out;
        }
        json_t *crit = json_object_get(h, "crit");
        if (crit) {
            *why = "token header has unsupported critical extensions";
            goto out;
        }
    }
    unsigned char mac[32], sig[32];
    size_t sn = strlen(d2 + 1);
    if (sn != 43 || vial_b64url_decode(d2 + 1, sn, sig, sizeof sig) != 32 ||
        hs256(a, token, (size_t)(d2 - token), mac) ||
        !vial_equal_ct(mac, sig, 32)) {
        *why = "token signature is invalid";
        goto out;
    }
    size_t pn = (size_t)(d2 - d1 - 1), plen = pn * 3 / 4; /* what pn characters decode to */
    pl = plen <= sizeof small ? small : malloc(plen);
    if (!pl) {
        *why = "out of memory";
        goto out;
    }
    if (vial_b64url_decode(d1 + 1, pn, pl, plen) != (ptrdiff_t)plen ||
        !(p = json_loadb((const char *)pl, plen, 0, NULL)) || !json_is_object(p)) {
        *why = "malformed token payload";
        goto out;
    }
    /* Compared as doubles against now ± leeway: any JSON number works,
     * however large, without integer overflow. */
    double now = (double)time(NULL), leeway = (double)a->leeway_s;
    json_t *exp = json_object_get(p, "exp"), *nbf = json_object_get(p, "nbf");
    if (!json_is_number(exp)) {
        *why = "token has no expiry";
        goto out;
    }
    if (json_number_value(exp) < now - leeway) {
        *why = "token expired";
        goto out;
    }
    if (nbf && (!json_is_number(nbf) || json_number_value(nbf) > now + leeway)) {
        *why = "token not valid yet";
        goto out;
    }
    rc = 0;
    if (claims) {
        *claims = p;
        p = NULL;
    }
out:
    json_decref(h);
    json_decref(p);
    if (pl != small)
        free(pl);
    return rc;
}

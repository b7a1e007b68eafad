/*
 * guard.c — the auth module's set-up and request side: loading the secret
 * key at start, turning a bearer token or an API key into an identity (via
 * the app's callbacks), and the guards that answer 401/403.
 */
#include "auth_impl.h"

#include <stdlib.h>
#include <time.h>

static const char ext_key = 0;

const vial__auth *vial__auth_of(const vial_app *app)
{
    return vial__app_ext(app, &ext_key);
}

/*
 * Verified tokens, per worker: a client sends the same token with every
 * request, and re-checking its HMAC and re-parsing its JSON each time costs
 * ~3 µs, most of a small request.  Direct-mapped by the token's tail (see
 * token_slot), compared in full and in constant time (the cached tokens are other
 * clients' credentials, and anyone can aim at a slot: the hash is not
 * keyed), kept only until the token's expiry.  Only successful
 * verifications are cached; the identity is still looked up per request
 * (from_token), so a deleted user's token stops working at once.
 */
#define TOKEN_CACHE_BITS 8
#define TOKEN_CACHE (1u << TOKEN_CACHE_BITS)

typedef struct tcache_ent {
    char *token;
    size_t len;
    json_t *claims;
    int64_t exp;
} tcache_ent;

typedef struct tcache {
    tcache_ent e[TOKEN_CACHE];
} tcache;

static void *tcache_init(vial_app *app, int worker, void *ud)
{
    VIAL__UNUSED(app);
    VIAL__UNUSED(worker);
    VIAL__UNUSED(ud);
    return calloc(1, sizeof(tcache));
}

static void tcache_fini(void *state, void *ud)
{
    VIAL__UNUSED(ud);
    tcache *c = state;
    for (size_t i = 0; i < TOKEN_CACHE; i++) {
        free(c->e[i].token);
        json_decref(c->e[i].claims);
    }
    free(c);
}

/* The slot of a token: from its last eight characters, which are the end
 * of the signature (an HMAC: as good as random for valid tokens, and an
 * invalid one is never cached).  Hashing the whole token cost more than
 * the rest of a cache hit. */
static size_t token_slot(const char *s, size_t n)
{
    uint64_t w = 0;
    if (n >= 8)
        memcpy(&w, s + n - 8, 8); /* a fixed size: one load, not a call */
    else
        memcpy(&w, s, n);
    return (size_t)((w * 0x9e3779b97f4a7c15ull) >> (64 - TOKEN_CACHE_BITS));
}

static inline uint64_t word_xor(const char *a, const char *b)
{
    uint64_t x, y;
    memcpy(&x, a, 8);
    memcpy(&y, b, 8);
    return x ^ y;
}

/* Whether two tokens of length n are equal, in time that depends only on n:
 * 32 bytes a turn into four independent accumulators, then eight at a time,
 * the tail as the last eight bytes again (overlapping: equality is all that
 * is asked); no early exit.  sodium_memcmp goes byte by byte through
 * volatile pointers (~4% of a guarded request). */
static bool same_token(const char *a, const char *b, size_t n)
{
    uint64_t d0 = 0, d1 = 0, d2 = 0, d3 = 0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        d0 |= word_xor(a + i, b + i);
        d1 |= word_xor(a + i + 8, b + i + 8);
        d2 |= word_xor(a + i + 16, b + i + 16);
        d3 |= word_xor(a + i + 24, b + i + 24);
    }
    for (; i + 8 <= n; i += 8)
        d0 |= word_xor(a + i, b + i);
    if (i < n) {
        if (n >= 8)
            d1 |= word_xor(a + n - 8, b + n - 8);
        else
            for (; i < n; i++)
                d1 |= (uint64_t)((unsigned char)a[i] ^ (unsigned char)b[i]);
    }
    uint64_t d = d0 | d1 | d2 | d3;
    __asm__ volatile("" : "+r"(d)); /* the compiler cannot turn the loop into an early exit */
    return d == 0;
}

/* vial_jwt_verify through the worker's cache.  tok is NUL-terminated at n.
 * *claims is a new reference when *owned is set, else the cache's own
 * (borrowed for this request: nothing before the end of authenticate()
 * touches the cache again, and jansson's reference counts are atomic
 * operations, ~8% of a cache hit). */
static int verify_cached(vial_req *req, const vial__auth *a, const char *tok, size_t n,
                         json_t **claims, bool *owned, const char **why)
{
    tcache *c = a->cache_slot >= 0 ? vial_worker_get(req, a->cache_slot) : NULL;
    tcache_ent *e = c ? &c->e[token_slot(tok, n)] : NULL;
    int64_t now = (int64_t)time(NULL);
    *owned = false;
    if (e && e->token && e->len == n && same_token(e->token, tok, n)) {
        if (e->exp >= now - a->leeway_s) {
            *claims = e->claims;
            return 0;
        }
        *why = "token expired";
        return VIAL_EINVAL;
    }
    if (strlen(tok) != n) { /* a NUL inside the header: what follows it would be unchecked */
        *why = "malformed token";
        return VIAL_EINVAL;
    }
    int rc = vial_jwt_verify(req->app, tok, claims, why);
    if (rc == 0)
        *owned = true;
    if (rc || !e)
        return rc;
    char *copy = malloc(n + 1);
    if (copy) {
        memcpy(copy, tok, n + 1);
        free(e->token);
        json_decref(e->claims);
        e->token = copy;
        e->len = n;
        e->claims = json_incref(*claims);
        double exp = json_number_value(json_object_get(*claims, "exp"));
        e->exp = exp > 4e18 ? INT64_MAX / 2 : (int64_t)exp; /* verified finite above */
    }
    return 0;
}

static int auth_start(vial_app *app)
{
    vial__auth *a = vial__app_ext(app, &ext_key);
    const char *key = vial_config(app, "secret_key");
    size_t n = key ? strlen(key) : 0;
    /* Only serving needs the real key: tokens and sessions made by a
     * throwaway key would die with the process.  Commands (createuser,
     * migrate) sign nothing. */
    bool serving = app->command && !strcmp(app->command, "run");
    if (n == 0) {
        if (!app->debug && serving) {
            vial_log(VIAL_LOG_ERROR, "secret_key is not set: set SECRET_KEY (32+ random bytes, e.g. "
                                     "`head -c 32 /dev/urandom | base64`) or run with --debug");
            return VIAL_EINVAL;
        }
        vial_random(a->secret, 32);
        a->secret_len = 32;
        if (serving)
            vial_log(VIAL_LOG_WARN, "debug mode: a random secret_key for this process (tokens die with it)");
    } else {
        if (n < 32 || n > sizeof a->secret) {
            vial_log(VIAL_LOG_ERROR, "secret_key must be 32 to %zu bytes long (it is %zu)",
                     sizeof a->secret, n);
            return VIAL_EINVAL;
        }
        memcpy(a->secret, key, n);
        a->secret_len = n;
    }
    int64_t leeway = vial__parse_duration_ms(vial_config(app, "jwt_leeway"));
    if (leeway < 0) {
        vial_log(VIAL_LOG_ERROR, "jwt_leeway: '%s' is not a duration", vial_config(app, "jwt_leeway"));
        return VIAL_EINVAL;
    }
    a->leeway_s = leeway / 1000;
    vial__auth_keys(a);
    return 0;
}

/* The credentials the app's callbacks accept, as the API document's
 * security schemes (vial_auth_guard names them for its blueprint). */
static int declare_schemes(vial_app *app, const vial_auth_ops *ops)
{
    int rc = 0;
    if (ops && ops->from_token)
        rc = vial_security_scheme(app, "bearer", "{\"type\": \"http\", \"scheme\": \"bearer\", "
                                  "\"bearerFormat\": \"JWT\", \"description\": \"an HS256 token "
                                  "(Authorization: Bearer <token>)\"}");
    if (!rc && ops && ops->from_api_key)
        rc = vial_security_scheme(app, "api_key", "{\"type\": \"apiKey\", \"in\": \"header\", "
                                  "\"name\": \"X-API-Key\", \"description\": \"an API key\"}");
    return rc;
}

int vial_auth_init(vial_app *app, const vial_auth_ops *ops)
{
    if (!app)
        return VIAL_EINVAL;
    vial__auth *have = vial__app_ext(app, &ext_key);
    if (have) {
        /* Already set up (sessions need the secret too): keep one, take the
         * callbacks if these bring some. */
        if (ops && have->ops && have->ops != ops)
            return VIAL_EEXIST;
        if (ops)
            have->ops = ops;
        return declare_schemes(app, ops);
    }
    vial__auth *a = calloc(1, sizeof *a);
    if (!a)
        return VIAL_ENOMEM;
    a->ops = ops;
    a->leeway_s = 30;
    a->cache_slot = vial_worker_slot(app, tcache_init, tcache_fini, NULL);
    int rc = vial_kv_init(app); /* rate limits and login protection live there */
    if (rc) {
        free(a);
        return rc;
    }
    rc = vial__app_ext_set(app, &ext_key, a, free);
    if (rc) {
        free(a);
        return rc;
    }
    if ((rc = vial__config_define_env(app, "secret_key", "",
                                 "key that signs tokens and sessions (32+ bytes; required unless --debug)")) ||
        (rc = vial_config_define(app, "jwt_leeway", "30s", "clock skew allowed on token times")) ||
        (rc = vial_config_define(app, "jwt_ttl", "1h", "lifetime of issued access tokens")) ||
        (rc = vial_config_define(app, "password_opslimit", "0",
                                 "argon2id passes (0: libsodium's interactive default)")) ||
        (rc = vial_config_define(app, "password_memlimit", "0",
                                 "argon2id memory, e.g. 64M (0: libsodium's interactive default)")))
        return rc;
    if ((rc = declare_schemes(app, ops)))
        return rc;
    return vial_on_start(app, auth_start);
}

/* ------------------------------------------------------------------ identities */

typedef struct authstate {
    bool done;
    vial_identity id;
    bool ok;
    const char *error;
    bool sent_credentials;
} authstate;

static const char state_key = 0;

static authstate *state_of(vial_req *req)
{
    return vial__req_state(req, &state_key, sizeof(authstate));
}

/* "authorization" in any case, from 13 bytes: two overlapping eight-byte
 * words.  Every byte of the name is a letter, for which OR 0x20 lowercases
 * and maps no other byte onto it. */
static bool is_authorization(const char *p)
{
    static const uint64_t lc = 0x2020202020202020ull;
    uint64_t x, y, wx, wy;
    memcpy(&x, p, 8);
    memcpy(&y, p + 5, 8);
    memcpy(&wx, "authoriz", 8);
    memcpy(&wy, "rization", 8);
    return ((x | lc) == wx) & ((y | lc) == wy);
}

/* The Authorization header's value (NUL-terminated) and its length, read
 * from the parsed headers rather than through vial_header and strlen (a
 * token is ~200 bytes).  A repeated header takes vial_header's way, which
 * joins the copies with commas (then not a bearer token). */
static const char *authorization(vial_req *req, size_t *len)
{
    const vial__hdr *found = NULL;
    for (size_t i = 0; i < req->m.nhdrs; i++) {
        const vial__hdr *h = &req->m.hdrs[i];
        if (h->name.n == 13 && is_authorization(h->name.p)) {
            if (found) {
                const char *v = vial_header(req, "authorization");
                *len = v ? strlen(v) : 0;
                return v;
            }
            found = h;
        }
    }
    if (!found)
        return NULL;
    *len = found->value.n;
    return found->value.p;
}

/* strncasecmp(v, "Bearer ", 7), inline: "bearer" is all letters (see
 * is_authorization); the space is compared exactly.  v is NUL-terminated,
 * so with n >= 7 its first eight bytes are readable; the eighth is masked
 * off.  Constants come from eight-byte arrays, which the compiler folds:
 * assembling them from 7-byte copies stalled store-to-load forwarding. */
static bool is_bearer(const char *v, size_t n)
{
    static const unsigned char lc_b[8] = { 0x20, 0x20, 0x20, 0x20, 0x20, 0x20, 0, 0 };
    static const unsigned char keep_b[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0 };
    uint64_t x, w, lc, keep;
    if (n < 7)
        return false;
    memcpy(&x, v, 8);
    memcpy(&w, "bearer ", 8); /* with its NUL */
    memcpy(&lc, lc_b, 8);
    memcpy(&keep, keep_b, 8);
    return ((x | lc) & keep) == w;
}

static void authenticate(vial_req *req, authstate *s)
{
    const vial__auth *a = vial__auth_of(req->app);
    s->done = true;
    if (!a) {
        s->error = "authentication is not configured";
        return;
    }
    size_t alen = 0;
    const char *authz = authorization(req, &alen);
    const char *key = authz ? NULL : vial_header(req, "x-api-key");
    if (authz) {
        s->sent_credentials = true;
        if (!is_bearer(authz, alen)) {
            s->error = "Authorization must be 'Bearer <token>'";
            return;
        }
        const char *tok = authz + 7;
        while (*tok == ' ')
            tok++;
        json_t *claims = NULL;
        const char *why = NULL;
        bool owned = false;
        if (verify_cached(req, a, tok, alen - (size_t)(tok - authz), &claims, &owned, &why)) {
            s->error = why;
            return;
        }
        memset(&s->id, 0, sizeof s->id);
        s->id.via = "token";
        int rc = a->ops && a->ops->from_token ? a->ops->from_token(req, claims, &s->id) : VIAL_ENOENT;
        if (owned)
            json_decref(claims);
        if (rc == 0) {
            s->ok = true;
        } else {
            s->error = rc == VIAL_ENOENT ? "the token's user no longer exists" : "cannot check the token now";
            if (rc != VIAL_ENOENT)
                s->error = NULL; /* not the client's fault: answered as 503 */
        }
        return;
    }
    if (key) {
        s->sent_credentials = true;
        memset(&s->id, 0, sizeof s->id);
        s->id.via = "api_key";
        int rc = a->ops && a->ops->from_api_key ? a->ops->from_api_key(req, key, &s->id) : VIAL_ENOENT;
        if (rc == 0)
            s->ok = true;
        else
            s->error = rc == VIAL_ENOENT ? "unknown or revoked API key" : NULL;
        return;
    }
    s->error = "authentication required (Authorization: Bearer <token> or X-API-Key)";
}

const vial_identity *vial_auth(vial_req *req)
{
    if (!req)
        return NULL;
    authstate *s = state_of(req);
    if (!s)
        return NULL;
    if (!s->done)
        authenticate(req, s);
    return s->ok ? &s->id : NULL;
}

const char *vial_auth_error(vial_req *req)
{
    authstate *s = req ? state_of(req) : NULL;
    if (!s)
        return "out of memory";
    if (!s->done)
        authenticate(req, s);
    return s->ok ? NULL : s->error;
}

/* The next role of a comma-separated list, without the blanks around it.
 * An empty item is no role: it must not let in an identity whose role is "". */
static bool next_role(const char **p, const char **item, size_t *len)
{
    while (**p) {
        const char *s = *p, *e = strchr(s, ',');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        *p = s + n + (e != NULL);
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
            n--;
        if (n) {
            *item = s;
            *len = n;
            return true;
        }
    }
    return false;
}

static bool role_in(const char *role, const char *roles)
{
    if (!roles)
        return true;
    if (!role)
        return false;
    size_t n = strlen(role), len;
    const char *item;
    for (const char *p = roles; next_role(&p, &item, &len);)
        if (len == n && !memcmp(item, role, n))
            return true;
    return false;
}

/* The 403 says the roles as a sentence ("admin, editor or owner"), not
 * the list as the code spelled it. */
static void refuse(vial_req *req, const char *roles)
{
    size_t count = 0, len, i = 0;
    const char *item;
    for (const char *p = roles; next_role(&p, &item, &len);)
        count++;
    char *text = count ? vial_alloc(req, 3 * strlen(roles) + 8) : NULL, *o = text;
    if (!text) {
        vial_abort(req, 403, count ? "this needs another role" : "no role may do this");
        return;
    }
    for (const char *p = roles; next_role(&p, &item, &len); i++) {
        const char *sep = !i ? "" : i + 1 == count ? " or " : ", ";
        memcpy(o, sep, strlen(sep));
        o += strlen(sep);
        memcpy(o, item, len);
        o += len;
    }
    *o = '\0';
    vial_abortf(req, 403, "this needs the %s role", text);
}

int vial_auth_require(vial_req *req, const char *roles)
{
    const vial_identity *id = vial_auth(req);
    if (!id) {
        authstate *s = state_of(req);
        if (s && s->done && s->sent_credentials && !s->error) {
            vial_abort(req, 503, "cannot check credentials now; try again shortly");
            vial_set_header(req, "Retry-After", "1");
            return 1;
        }
        vial_abort(req, 401, vial_auth_error(req));
        vial_set_header(req, "WWW-Authenticate",
                        s && s->sent_credentials ? "Bearer error=\"invalid_token\"" : "Bearer");
        return 1;
    }
    if (!role_in(id->role, roles)) {
        refuse(req, roles);
        return 1;
    }
    return 0;
}

static int guard_hook(vial_req *req, void *ud)
{
    vial_auth_require(req, ud); /* answering skips the view */
    return 0;
}

int vial_auth_guard(vial_bp *bp, const char *roles)
{
    if (!bp)
        return VIAL_EINVAL;
    char *copy = roles ? strdup(roles) : NULL;
    if (roles && !copy)
        return VIAL_ENOMEM;
    int rc = vial__bp_before_data(bp, guard_hook, copy, free);
    if (rc) {
        free(copy);
        return rc;
    }
    /* The API document: the blueprint's routes need a token or a key. */
    return vial_bp_security(bp, "bearer,api_key");
}

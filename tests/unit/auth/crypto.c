/* Unit tests for src/auth/crypto.c (and the key set-up of guard.c):
 * argon2id hash/verify/needs_rehash, HS256 JWT issue/verify and every
 * rejection path, strict base64url, constant-time comparison. */
#include "unit.h"
#include "auth/auth_impl.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define KEY "0123456789abcdef0123456789abcdef-unit-test-key"

/* An app with the auth module started; `leeway` may be NULL (default). */
static vial_app *auth_app(const char *key, const char *leeway, int cheap)
{
    vial_app *app = vial_app_new("t");
    assert_non_null(app);
    assert_int_equal(vial_auth_init(app, NULL), 0);
    if (key)
        assert_int_equal(vial_config_set(app, "secret_key", key), 0);
    if (leeway)
        assert_int_equal(vial_config_set(app, "jwt_leeway", leeway), 0);
    if (cheap) { /* libsodium's minimum: fast tests */
        assert_int_equal(vial_config_set(app, "password_opslimit", "1"), 0);
        assert_int_equal(vial_config_set(app, "password_memlimit", "64K"), 0);
    }
    return app;
}

static vial_app *started(const char *key, const char *leeway)
{
    vial_app *app = auth_app(key, leeway, 1);
    assert_int_equal(vial__app_apply_config(app), 0);
    assert_int_equal(vial__run_start_hooks(app), 0);
    return app;
}

static char *b64(const void *data, size_t n)
{
    vial__buf b = { 0 };
    assert_int_equal(vial__b64url_encode(&b, data, n), 0);
    assert_int_equal(vial__buf_nul(&b), 0);
    char *s = strdup(b.p ? b.p : "");
    vial__buf_free(&b);
    return s;
}

/* header.payload.signature from JSON texts, HMAC-SHA256 with `key` (NULL: no signature). */
static char *make_token(const char *header, const char *payload, const char *key)
{
    char *h = b64(header, strlen(header)), *p = b64(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *si = malloc(n);
    snprintf(si, n, "%s.%s", h, p);
    char *sig = strdup("");
    if (key) {
        unsigned char mac[32];
        unsigned int len = 32;
        assert_non_null(HMAC(EVP_sha256(), key, (int)strlen(key), (unsigned char *)si, strlen(si), mac, &len));
        free(sig);
        sig = b64(mac, len);
    }
    char *tok = malloc(strlen(si) + strlen(sig) + 2);
    sprintf(tok, "%s.%s", si, sig);
    free(h);
    free(p);
    free(si);
    free(sig);
    return tok;
}

static char *payload_fmt(const char *fmt, ...) VIAL_PRINTF(1, 2);
static char *payload_fmt(const char *fmt, ...)
{
    static char buf[16][512];
    static int i;
    char *out = buf[i++ % 16];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, sizeof buf[0], fmt, ap);
    va_end(ap);
    return out;
}

static long long now_s(void)
{
    return (long long)time(NULL);
}

/* verify → VIAL_EINVAL with a reason containing `why`. */
static void rejected(vial_app *app, const char *tok, const char *why)
{
    json_t *claims = (json_t *)0x1;
    const char *reason = NULL;
    int rc = vial_jwt_verify(app, tok, &claims, &reason);
    if (rc != VIAL_EINVAL || !reason || !strstr(reason, why))
        print_error("token %.120s: rc %d, reason %s (expected %s)\n", tok, rc, reason ? reason : "-", why);
    assert_int_equal(rc, VIAL_EINVAL);
    assert_null(claims);
    assert_non_null(reason);
    assert_non_null(strstr(reason, why));
}

static void accepted(vial_app *app, const char *tok)
{
    json_t *claims = NULL;
    const char *reason = NULL;
    int rc = vial_jwt_verify(app, tok, &claims, &reason);
    if (rc)
        print_error("token %.120s refused: %s\n", tok, reason ? reason : "-");
    assert_int_equal(rc, 0);
    assert_true(json_is_object(claims));
    json_decref(claims);
}

#define HS256 "{\"alg\":\"HS256\",\"typ\":\"JWT\"}"

/* ------------------------------------------------------------------ passwords */

static void test_password_hash_verify(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL);
    char h1[VIAL_PASSWORD_HASH_MAX], h2[VIAL_PASSWORD_HASH_MAX];
    assert_int_equal(vial_password_hash(app, "correct horse", h1), 0);
    assert_int_equal(strncmp(h1, "$argon2id$v=19$m=64,t=1,p=1$", 28), 0);
    assert_null(strstr(h1, "correct horse"));
    assert_int_equal(vial_password_verify(h1, "correct horse"), 1);
    assert_int_equal(vial_password_verify(h1, "correct horsE"), 0);
    assert_int_equal(vial_password_verify(h1, "correct horse "), 0);
    assert_int_equal(vial_password_verify(h1, ""), 0);
    /* a fresh salt each time */
    assert_int_equal(vial_password_hash(app, "correct horse", h2), 0);
    assert_string_not_equal(h1, h2);
    assert_int_equal(vial_password_verify(h2, "correct horse"), 1);
    /* empty and non-ASCII passwords are just bytes */
    assert_int_equal(vial_password_hash(app, "", h2), 0);
    assert_int_equal(vial_password_verify(h2, ""), 1);
    assert_int_equal(vial_password_verify(h2, "x"), 0);
    assert_int_equal(vial_password_hash(app, "pässwörd ✓", h2), 0);
    assert_int_equal(vial_password_verify(h2, "pässwörd ✓"), 1);
    assert_int_equal(vial_password_verify(h2, "passwords ✓"), 0);
    /* malformed and foreign hashes never verify */
    assert_int_equal(vial_password_hash(app, NULL, h2), VIAL_EINVAL);
    assert_int_equal(vial_password_verify(NULL, "x"), 0);
    assert_int_equal(vial_password_verify(h1, NULL), 0);
    assert_int_equal(vial_password_verify("", "correct horse"), 0);
    assert_int_equal(vial_password_verify("$argon2id$garbage", "correct horse"), 0);
    char cut[VIAL_PASSWORD_HASH_MAX];
    snprintf(cut, sizeof cut, "%.*s", (int)strlen(h1) - 3, h1);
    assert_int_equal(vial_password_verify(cut, "correct horse"), 0);
    char flipped[VIAL_PASSWORD_HASH_MAX];
    strcpy(flipped, h1);
    flipped[strlen(flipped) - 2] = flipped[strlen(flipped) - 2] == 'A' ? 'B' : 'A';
    assert_int_equal(vial_password_verify(flipped, "correct horse"), 0);
    /* argon2i with the same parameters is refused: argon2id only */
    char other[VIAL_PASSWORD_HASH_MAX];
    strcpy(other, "$argon2i$");
    strcat(other, h1 + strlen("$argon2id$"));
    assert_int_equal(vial_password_verify(other, "correct horse"), 0);
    vial_app_free(app);
}

static void test_password_interop_vectors(void **state)
{
    (void)state;
    /* Made by python3-argon2: PasswordHasher(time_cost=1, memory_cost=8,
     * parallelism=1).hash("x"), and with parallelism=2 / argon2i. */
    assert_int_equal(vial_password_verify("$argon2id$v=19$m=8,t=1,p=1$N44KMZnh9ac3yDSa9t8obQ$dRj+pGiBz2mm6mAQWPapIA",
                                          "x"), 1);
    assert_int_equal(vial_password_verify("$argon2id$v=19$m=8,t=1,p=1$N44KMZnh9ac3yDSa9t8obQ$dRj+pGiBz2mm6mAQWPapIA",
                                          "y"), 0);
}

static void test_password_needs_rehash(void **state)
{
    (void)state;
    vial_app *cheap = started(KEY, NULL);
    char h[VIAL_PASSWORD_HASH_MAX];
    assert_int_equal(vial_password_hash(cheap, "correct horse", h), 0);
    assert_int_equal(vial_password_needs_rehash(cheap, h), 0);

    /* the defaults (libsodium interactive: t=2, m=64 MiB) want it re-hashed */
    vial_app *dflt = auth_app(KEY, NULL, 0);
    assert_int_equal(vial__run_start_hooks(dflt), 0);
    assert_int_equal(vial_password_needs_rehash(dflt, h), 1);
    char hd[VIAL_PASSWORD_HASH_MAX];
    assert_int_equal(vial_password_hash(dflt, "correct horse", hd), 0);
    assert_int_equal(strncmp(hd, "$argon2id$v=19$m=65536,t=2,p=1$", 31), 0);
    assert_int_equal(vial_password_needs_rehash(dflt, hd), 0);
    assert_int_equal(vial_password_needs_rehash(cheap, hd), 1);
    /* old hashes still verify after the parameters change */
    assert_int_equal(vial_password_verify(h, "correct horse"), 1);
    /* a python3-argon2 hash with its own parameters */
    assert_int_equal(vial_password_needs_rehash(
                         dflt, "$argon2id$v=19$m=8,t=1,p=1$N44KMZnh9ac3yDSa9t8obQ$dRj+pGiBz2mm6mAQWPapIA"),
                     1);
    vial_app_free(cheap);
    vial_app_free(dflt);
}

/* ------------------------------------------------------------------ key set-up */

static void test_secret_key_required(void **state)
{
    (void)state;
    /* none, too short, too long: refused unless debug */
    const char *bad[] = { NULL, "", "0123456789abcdef0123456789abcde" /* 31 */, NULL };
    char long_key[130];
    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    bad[3] = long_key;
    for (size_t i = 0; i < 4; i++) {
        vial_app *app = auth_app(bad[i], NULL, 1);
        assert_int_equal(vial__app_apply_config(app), 0);
        app->command = "run"; /* a missing key only matters to a server */
        assert_int_equal(vial__run_start_hooks(app), VIAL_EINVAL);
        vial_app_free(app);
    }
    /* commands other than run (createuser, migrate) sign nothing: no key needed */
    vial_app *cli = auth_app(NULL, NULL, 1);
    assert_int_equal(vial__app_apply_config(cli), 0);
    cli->command = "createuser";
    assert_int_equal(vial__run_start_hooks(cli), 0);
    vial_app_free(cli);
    /* 32 bytes is enough */
    vial_app *app = started("0123456789abcdef0123456789abcdef", NULL);
    vial_app_free(app);
    /* bad leeway */
    app = auth_app(KEY, "soon", 1);
    assert_int_equal(vial__app_apply_config(app), 0);
    assert_int_equal(vial__run_start_hooks(app), VIAL_EINVAL);
    vial_app_free(app);
    /* debug: a random key per process; tokens work within it, not across */
    vial_app *d1 = auth_app(NULL, NULL, 1), *d2 = auth_app(NULL, NULL, 1);
    assert_int_equal(vial_config_set(d1, "debug", "on"), 0);
    assert_int_equal(vial_config_set(d2, "debug", "on"), 0);
    assert_int_equal(vial__app_apply_config(d1), 0);
    assert_int_equal(vial__app_apply_config(d2), 0);
    assert_int_equal(vial__run_start_hooks(d1), 0);
    assert_int_equal(vial__run_start_hooks(d2), 0);
    char *tok = NULL;
    assert_int_equal(vial_jwt_issue_malloc(d1, NULL, 60, &tok), 0);
    accepted(d1, tok);
    rejected(d2, tok, "signature");
    free(tok);
    vial_app_free(d1);
    vial_app_free(d2);
}

/* ------------------------------------------------------------------ JWT */

static void test_jwt_round_trip(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL);
    json_t *in = json_pack("{s:s, s:s, s:i}", "sub", "42", "role", "admin", "exp", 1); /* exp is replaced */
    char *tok = NULL;
    long long t0 = now_s();
    assert_int_equal(vial_jwt_issue_malloc(app, in, 600, &tok), 0);
    assert_int_equal(json_integer_value(json_object_get(in, "exp")), 1); /* claims borrowed, not changed */
    json_decref(in);
    assert_non_null(tok);
    /* three base64url segments, the header exactly HS256/JWT */
    const char *d1 = strchr(tok, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    assert_null(strchr(d2 + 1, '.'));
    assert_int_equal(strspn(tok, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."), strlen(tok));
    vial__buf hb = { 0 };
    assert_int_equal(vial__b64url_decode(&hb, tok, (size_t)(d1 - tok)), 0);
    assert_int_equal(vial__buf_nul(&hb), 0);
    assert_string_equal(hb.p, HS256);
    vial__buf_free(&hb);

    json_t *claims = NULL;
    const char *why = "untouched";
    assert_int_equal(vial_jwt_verify(app, tok, &claims, &why), 0);
    assert_string_equal(json_string_value(json_object_get(claims, "sub")), "42");
    assert_string_equal(json_string_value(json_object_get(claims, "role")), "admin");
    long long iat = json_integer_value(json_object_get(claims, "iat"));
    long long exp = json_integer_value(json_object_get(claims, "exp"));
    assert_true(iat >= t0 && iat <= now_s());
    assert_int_equal(exp - iat, 600);
    json_decref(claims);
    /* claims and why are optional */
    assert_int_equal(vial_jwt_verify(app, tok, NULL, NULL), 0);
    free(tok);

    /* no claims: just iat and exp */
    assert_int_equal(vial_jwt_issue_malloc(app, NULL, 1, &tok), 0);
    assert_int_equal(vial_jwt_verify(app, tok, &claims, NULL), 0);
    assert_int_equal(json_object_size(claims), 2);
    json_decref(claims);
    free(tok);

    /* a token made outside vial with the same key verifies */
    char *ext = make_token(HS256, payload_fmt("{\"sub\":\"7\",\"exp\":%lld}", now_s() + 60), KEY);
    accepted(app, ext);
    free(ext);
    vial_app_free(app);
}

static void test_jwt_issue_errors(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL);
    char *tok = (char *)0x1;
    json_t *arr = json_array();
    assert_int_equal(vial_jwt_issue_malloc(app, NULL, 0, &tok), VIAL_EINVAL);
    assert_int_equal(vial_jwt_issue_malloc(app, NULL, -5, &tok), VIAL_EINVAL);
    assert_int_equal(vial_jwt_issue_malloc(app, arr, 60, &tok), VIAL_EINVAL);
    assert_int_equal(vial_jwt_issue_malloc(app, NULL, 60, NULL), VIAL_EINVAL);
    json_decref(arr);
    /* an app without the auth module neither issues nor verifies */
    vial_app *bare = vial_app_new("bare");
    assert_int_equal(vial_jwt_issue_malloc(bare, NULL, 60, &tok), VIAL_EINVAL);
    assert_int_equal(vial_jwt_issue_malloc(app, NULL, 60, &tok), 0);
    const char *why = NULL;
    assert_int_equal(vial_jwt_verify(bare, tok, NULL, &why), VIAL_EINVAL);
    assert_non_null(why);
    assert_int_equal(vial_jwt_verify(app, NULL, NULL, &why), VIAL_EINVAL);
    free(tok);
    vial_app_free(bare);
    vial_app_free(app);
}

static void test_jwt_rejections(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL); /* leeway 30 s */
    long long now = now_s();
    char *good_payload = strdup(payload_fmt("{\"sub\":\"1\",\"exp\":%lld}", now + 600));
    struct {
        const char *header, *payload, *key, *why;
    } cases[] = {
        /* the algorithm is pinned */
        { "{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload, NULL, "algorithm" },
        { "{\"alg\":\"none\",\"typ\":\"JWT\"}", good_payload, KEY, "algorithm" },
        { "{\"alg\":\"None\"}", good_payload, NULL, "algorithm" },
        { "{\"alg\":\"HS512\",\"typ\":\"JWT\"}", good_payload, KEY, "algorithm" },
        { "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", good_payload, KEY, "algorithm" },
        { "{\"alg\":\"hs256\"}", good_payload, KEY, "algorithm" },
        { "{\"alg\":\"HS256 \"}", good_payload, KEY, "algorithm" },
        { "{\"typ\":\"JWT\"}", good_payload, KEY, "algorithm" },
        { "{\"alg\":null}", good_payload, KEY, "algorithm" },
        { "{\"alg\":[\"HS256\"]}", good_payload, KEY, "algorithm" },
        { "{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", good_payload, KEY, "critical" },
        /* header and payload must be JSON objects */
        { "[\"HS256\"]", good_payload, KEY, "header" },
        { "not json", good_payload, KEY, "header" },
        { "", good_payload, KEY, "header" },
        { HS256, "[1,2]", KEY, "payload" },
        { HS256, "{\"sub\":", KEY, "payload" },
        { HS256, "", KEY, "payload" },
        /* keys */
        { HS256, good_payload, "another key of thirty-two bytes or more", "signature" },
        { HS256, good_payload, "0123456789abcdef0123456789abcdef", "signature" }, /* a prefix of KEY */
        { HS256, good_payload, "", "signature" },
        { HS256, good_payload, NULL, "signature" },
        /* times */
        { HS256, payload_fmt("{\"sub\":\"1\"}"), KEY, "no expiry" },
        { HS256, payload_fmt("{\"exp\":\"%lld\"}", now + 600), KEY, "no expiry" },
        { HS256, payload_fmt("{\"exp\":null}"), KEY, "no expiry" },
        { HS256, payload_fmt("{\"exp\":%lld}", now - 31 - 2), KEY, "expired" },
        { HS256, payload_fmt("{\"exp\":%lld}", now - 86400), KEY, "expired" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *tok = make_token(cases[i].header, cases[i].payload, cases[i].key);
        rejected(app, tok, cases[i].why);
        free(tok);
    }
    const char *later[] = {
        payload_fmt("{\"exp\":%lld,\"nbf\":%lld}", now + 600, now + 3600),
        payload_fmt("{\"exp\":%lld,\"nbf\":%lld}", now + 600, now + 33),
        payload_fmt("{\"exp\":%lld,\"nbf\":\"0\"}", now + 600),
        payload_fmt("{\"exp\":%lld,\"nbf\":null}", now + 600),
    };
    for (size_t i = 0; i < 4; i++) {
        char *tok = make_token(HS256, later[i], KEY);
        rejected(app, tok, "not valid yet");
        free(tok);
    }
    /* within the leeway (and exp as a real number) is fine */
    const char *fine[] = {
        payload_fmt("{\"exp\":%lld}", now - 20),
        payload_fmt("{\"exp\":%lld,\"nbf\":%lld}", now + 600, now + 20),
        payload_fmt("{\"exp\":%lld.5}", now + 600),
        payload_fmt("{\"exp\":%lld,\"nbf\":%lld.0}", now + 600, now),
    };
    for (size_t i = 0; i < 4; i++) {
        char *tok = make_token(HS256, fine[i], KEY);
        accepted(app, tok);
        free(tok);
    }
    free(good_payload);
    vial_app_free(app);
}

/* Far but representable times in a correctly signed token.  (Times near
 * +-2^63 are a known bug, shown by tests/api/test_users.py: they overflow
 * in vial_jwt_verify and would abort this sanitized test.) */
static void test_jwt_far_times(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL);
    long long now = now_s();
    char *t = make_token(HS256, "{\"exp\":1000000000000000000}", KEY);
    accepted(app, t); /* the far future */
    free(t);
    t = make_token(HS256, payload_fmt("{\"exp\":%lld,\"nbf\":-1000000000000000000}", now + 60), KEY);
    accepted(app, t); /* valid since the far past */
    free(t);
    t = make_token(HS256, "{\"exp\":-1000000000000000000}", KEY);
    rejected(app, t, "expired");
    free(t);
    t = make_token(HS256, "{\"exp\":0}", KEY);
    rejected(app, t, "expired");
    free(t);
    t = make_token(HS256, payload_fmt("{\"exp\":%lld,\"nbf\":1000000000000000000}", now + 60), KEY);
    rejected(app, t, "not valid yet");
    free(t);
    vial_app_free(app);
}

static void test_jwt_tampering(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL);
    json_t *in = json_pack("{s:s}", "sub", "1");
    char *tok = NULL;
    assert_int_equal(vial_jwt_issue_malloc(app, in, 600, &tok), 0);
    json_decref(in);
    accepted(app, tok);
    size_t n = strlen(tok);
    const char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char buf[9000];

    /* every single-character change is refused */
    const char *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (size_t i = 0; i < n; i++) {
        if (tok[i] == '.')
            continue;
        strcpy(buf, tok);
        const char *at = strchr(alphabet, tok[i]);
        buf[i] = alphabet[(at - alphabet + 1) % 64];
        assert_int_equal(vial_jwt_verify(app, buf, NULL, NULL), VIAL_EINVAL);
    }
    /* the payload of another user with this signature */
    char *other = b64("{\"sub\":\"2\",\"exp\":9999999999}", 28);
    snprintf(buf, sizeof buf, "%.*s.%s%s", (int)(d1 - tok), tok, other, d2);
    rejected(app, buf, "signature");
    free(other);
    /* structure */
    snprintf(buf, sizeof buf, "%s.", tok);
    rejected(app, buf, "malformed");
    snprintf(buf, sizeof buf, "%s.e30", tok);
    rejected(app, buf, "malformed");
    snprintf(buf, sizeof buf, ".%s", tok);
    rejected(app, buf, "malformed");
    snprintf(buf, sizeof buf, "%.*s", (int)(d2 - tok), tok);
    rejected(app, buf, "malformed");
    rejected(app, "", "malformed");
    rejected(app, "..", "header");
    rejected(app, "abc", "malformed");
    /* signature encodings: padding, standard alphabet, wrong length, stray bits */
    snprintf(buf, sizeof buf, "%s=", tok);
    rejected(app, buf, "signature");
    snprintf(buf, sizeof buf, "%.*s", (int)n - 1, tok);
    rejected(app, buf, "signature");
    snprintf(buf, sizeof buf, "%sA", tok);
    rejected(app, buf, "signature");
    snprintf(buf, sizeof buf, "%sAAAA", tok); /* 35 bytes */
    rejected(app, buf, "signature");
    strcpy(buf, tok);
    /* 32 bytes = 43 characters, the last carrying 2 unused bits: set one */
    char *last = buf + n - 1;
    int v = (int)(strchr(alphabet, *last) - alphabet);
    assert_int_equal(v & 3, 0);
    *last = alphabet[v | 1];
    rejected(app, buf, "signature");
    strcpy(buf, tok);
    for (char *p = buf + (d2 - tok); *p; p++)
        *p = *p == '-' ? '+' : *p == '_' ? '/' : *p;
    if (strcmp(buf, tok))
        rejected(app, buf, "signature");
    /* oversized: refused before any work */
    memset(buf, 'A', sizeof buf - 1);
    buf[sizeof buf - 1] = '\0';
    buf[10] = buf[20] = '.';
    rejected(app, buf, "malformed");
    free(tok);
    vial_app_free(app);
}

/* The usual header is recognized by its bytes (no decoding, no JSON); any
 * other spelling goes through the parser and is judged the same way. */
static void test_jwt_other_headers(void **state)
{
    (void)state;
    vial_app *app = started(KEY, NULL);
    char *payload = strdup(payload_fmt("{\"sub\":\"1\",\"exp\":%lld}", now_s() + 600));
    const char *ok[] = { "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", "{\"typ\":\"JWT\",\"alg\":\"HS256\"}",
                         "{\"alg\":\"HS256\"}", "{ \"alg\" : \"HS256\", \"kid\" : \"k1\" }" };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char *tok = make_token(ok[i], payload, KEY);
        accepted(app, tok);
        free(tok);
    }
    /* a header past 512 bytes decoded is refused */
    char big[700];
    snprintf(big, sizeof big, "{\"alg\":\"HS256\",\"x\":\"%0600d\"}", 0);
    char *tok = make_token(big, payload, KEY);
    rejected(app, tok, "header");
    free(tok);
    /* the usual header with a signature one character short or long */
    tok = make_token("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, KEY);
    size_t n = strlen(tok);
    char *cut = strndup(tok, n - 1);
    rejected(app, cut, "signature");
    char *longer = malloc(n + 2);
    memcpy(longer, tok, n);
    memcpy(longer + n, "A", 2);
    rejected(app, longer, "signature");
    free(cut);
    free(longer);
    free(tok);
    free(payload);
    vial_app_free(app);
}

static void test_jwt_leeway_setting(void **state)
{
    (void)state;
    long long now = now_s();
    vial_app *strict = started(KEY, "0s"), *loose = started(KEY, "5m");
    char *t1 = make_token(HS256, payload_fmt("{\"exp\":%lld}", now - 2), KEY);
    char *t2 = make_token(HS256, payload_fmt("{\"exp\":%lld}", now - 200), KEY);
    char *t3 = make_token(HS256, payload_fmt("{\"exp\":%lld,\"nbf\":%lld}", now + 900, now + 200), KEY);
    rejected(strict, t1, "expired");
    accepted(loose, t1);
    accepted(loose, t2);
    rejected(strict, t3, "not valid yet");
    accepted(loose, t3);
    free(t1);
    free(t2);
    free(t3);
    vial_app_free(strict);
    vial_app_free(loose);
}

/* ------------------------------------------------------------------ base64url */

static void test_b64url_vectors(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } v[] = { { "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" }, { "foob", "Zm9vYg" },
              { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" }, { "\xff\xff\xfe", "___-" } };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        char *e = b64(v[i].in, strlen(v[i].in));
        assert_string_equal(e, v[i].out);
        free(e);
        vial__buf b = { 0 };
        assert_int_equal(vial__b64url_decode(&b, v[i].out, strlen(v[i].out)), 0);
        assert_int_equal(b.n, strlen(v[i].in));
        assert_memory_equal(b.n ? b.p : "", v[i].in, b.n);
        vial__buf_free(&b);
    }
    /* round trips of random bytes, every length mod 3 */
    unsigned char raw[100];
    for (size_t n = 0; n <= sizeof raw; n++) {
        vial_random(raw, n);
        char *e = b64(raw, n);
        assert_int_equal(strlen(e), (n * 4 + 2) / 3);
        vial__buf b = { 0 };
        assert_int_equal(vial__b64url_decode(&b, e, strlen(e)), 0);
        assert_int_equal(b.n, n);
        if (n)
            assert_memory_equal(b.p, raw, n);
        vial__buf_free(&b);
        free(e);
    }
}

static void test_b64url_strict(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg==", "Zm8=", "Zm9v=", "=",                 /* padding */
        "Zh", "Zm9", "Zm9vYh", "-_9",                   /* non-canonical: unused bits set */
        "Z", "Zm9vY", "AAAAA",                          /* a length that is 1 mod 4 */
        "Zm+v", "Zm/v", "Zm9 v", "Zm9v\n", " Zm9v", "Zm.v", "Zm9v!", "Zm9\xc3\xa9", /* outside the alphabet */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vial__buf b = { 0 };
        int rc = vial__b64url_decode(&b, bad[i], strlen(bad[i]));
        if (rc != VIAL_EPARSE)
            print_error("accepted %s\n", bad[i]);
        assert_int_equal(rc, VIAL_EPARSE);
        vial__buf_free(&b);
    }
    /* an embedded NUL counts as a character: refused */
    vial__buf b = { 0 };
    assert_int_equal(vial__b64url_decode(&b, "Zm\0v", 4), VIAL_EPARSE);
    vial__buf_free(&b);
    /* only `n` bytes are read */
    b = (vial__buf){ 0 };
    assert_int_equal(vial__b64url_decode(&b, "Zm9v!!!", 4), 0);
    assert_int_equal(b.n, 3);
    assert_memory_equal(b.p, "foo", 3);
    vial__buf_free(&b);
    b = (vial__buf){ 0 };
    assert_int_equal(vial__b64url_decode(&b, "", 0), 0);
    assert_int_equal(b.n, 0);
    vial__buf_free(&b);
}

/* ------------------------------------------------------------------ randomness and comparison */

static void test_random(void **state)
{
    (void)state;
    unsigned char a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };
    assert_int_equal(vial_random(a, sizeof a), 0);
    assert_int_equal(vial_random(b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_int_equal(vial_random(a, 0), 0);
}

static double elapsed(const unsigned char *x, const unsigned char *y, size_t n, int *result)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    *result = vial_equal_ct(x, y, n);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
}

static void test_equal_ct(void **state)
{
    (void)state;
    unsigned char a[64], b[64];
    vial_random(a, sizeof a);
    memcpy(b, a, sizeof b);
    assert_int_equal(vial_equal_ct(a, b, sizeof a), 1);
    assert_int_equal(vial_equal_ct(a, b, 0), 1);
    for (size_t i = 0; i < sizeof a; i++) {
        for (int bit = 0; bit < 8; bit++) {
            b[i] ^= (unsigned char)(1u << bit);
            assert_int_equal(vial_equal_ct(a, b, sizeof a), 0);
            assert_int_equal(vial_equal_ct(a, b, i), 1); /* before the difference */
            b[i] ^= (unsigned char)(1u << bit);
        }
    }
    /* Time does not depend on where the bytes differ: a difference in the
     * first byte costs about as much as none (memcmp would stop at once). */
    size_t n = 4u << 20;
    unsigned char *x = malloc(n), *y = malloc(n);
    assert_non_null(x);
    assert_non_null(y);
    memset(x, 0x5a, n);
    memcpy(y, x, n);
    double same = 1e9, first = 1e9;
    int r;
    for (int i = 0; i < 15; i++) {
        y[0] = 0x5a;
        double t = elapsed(x, y, n, &r);
        assert_int_equal(r, 1);
        same = t < same ? t : same;
        y[0] = 0x00;
        t = elapsed(x, y, n, &r);
        assert_int_equal(r, 0);
        first = t < first ? t : first;
    }
    if (first < 0.5 * same)
        print_error("differ at byte 0: %.6f s, equal: %.6f s\n", first, same);
    assert_true(first >= 0.5 * same);
    free(x);
    free(y);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_hash_verify),
        cmocka_unit_test(test_password_interop_vectors),
        cmocka_unit_test(test_password_needs_rehash),
        cmocka_unit_test(test_secret_key_required),
        cmocka_unit_test(test_jwt_round_trip),
        cmocka_unit_test(test_jwt_issue_errors),
        cmocka_unit_test(test_jwt_rejections),
        cmocka_unit_test(test_jwt_tampering),
        cmocka_unit_test(test_jwt_leeway_setting),
        cmocka_unit_test(test_jwt_other_headers),
        cmocka_unit_test(test_jwt_far_times),
        cmocka_unit_test(test_b64url_vectors),
        cmocka_unit_test(test_b64url_strict),
        cmocka_unit_test(test_random),
        cmocka_unit_test(test_equal_ct),
    };
    return RUN_GROUP(tests);
}

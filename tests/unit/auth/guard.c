/*
 * Unit tests for src/auth/guard.c: who is calling, through the test client
 * and an app with vial_auth_init() and a stub vial_auth_ops — bearer
 * tokens and API keys, which one wins, the 401 (with its WWW-Authenticate
 * forms), 403 and 503 answers, role lists, the blueprint guard, the secret
 * key checks at start, and the per-worker cache of verified tokens: hits
 * still look the identity up, a token that only shares a cached token's
 * slot, length or tail is never taken for it, and a cached token expires.
 *
 * guard.c is compiled into this file so that the cache's clock (time())
 * can be moved forward and its slot function reached.
 */
#include "unit.h"
#include "auth/auth_impl.h"

#include <time.h>

static time_t clock_ahead; /* seconds the cache's clock runs ahead of the real one */

static time_t guard_time(time_t *t)
{
    time_t now = time(NULL) + clock_ahead;
    if (t)
        *t = now;
    return now;
}

#define time(t) guard_time(t)
#include "auth/guard.c"
#undef time

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef-unit-test-secret"

/* ------------------------------------------------------------------ the app's side */

static int token_lookups;

static const char *claim_str(json_t *claims, const char *k)
{
    return json_string_value(json_object_get(claims, k));
}

static int ops_from_token(vial_req *req, json_t *claims, vial_identity *id)
{
    token_lookups++;
    const char *sub = claim_str(claims, "sub");
    if (!sub || !strcmp(sub, "deleted"))
        return VIAL_ENOENT;
    if (!strcmp(sub, "dbdown"))
        return VIAL_EDBDOWN;
    id->user_id = json_integer_value(json_object_get(claims, "uid"));
    id->subject = vial_strdup(req, sub);
    id->role = claim_str(claims, "role") ? vial_strdup(req, claim_str(claims, "role")) : NULL;
    return 0;
}

static int ops_from_key(vial_req *req, const char *key, vial_identity *id)
{
    (void)req;
    if (!strcmp(key, "boom"))
        return VIAL_EIO;
    if (!strncmp(key, "key-", 4)) { /* "key-<role>-<id>" */
        id->user_id = 100;
        id->key_id = atoi(strrchr(key, '-') + 1);
        id->subject = vial_sprintf(req, "key:%" PRId64, id->key_id);
        id->role = vial_strndup(req, key + 4, (size_t)(strrchr(key, '-') - key - 4));
        return 0;
    }
    return VIAL_ENOENT;
}

static const vial_auth_ops ops = { ops_from_token, ops_from_key };
static const vial_auth_ops other_ops = { ops_from_token, NULL };

static int h_me(vial_req *req)
{
    if (vial_auth_require(req, NULL))
        return 0;
    const vial_identity *id = vial_auth(req);
    assert_ptr_equal(id, vial_auth(req)); /* authenticated once per request */
    assert_null(vial_auth_error(req));
    return vial_textf(req, 200, "%" PRId64 "|%s|%s|%s|%" PRId64, id->user_id, id->subject,
                      id->role ? id->role : "-", id->via, id->key_id);
}

static int h_staff(vial_req *req)
{
    if (vial_auth_require(req, " admin ,editor"))
        return 0;
    return vial_text(req, 200, "staff");
}

static int h_trio(vial_req *req)
{
    if (vial_auth_require(req, "admin,\teditor ,, owner ,"))
        return 0;
    return vial_text(req, 200, "trio");
}

static int h_nobody(vial_req *req)
{
    if (vial_auth_require(req, ""))
        return 0;
    return vial_text(req, 200, "nobody gets here");
}

static int h_peek(vial_req *req)
{
    const vial_identity *id = vial_auth(req);
    const char *err = vial_auth_error(req);
    return vial_textf(req, 200, "%s|%s", id ? id->subject : "-", err ? err : "-");
}

static int views;

static int h_guarded(vial_req *req)
{
    views++;
    return vial_text(req, 200, "inside");
}

static vial_app *new_app(void)
{
    vial_app *app = vial_app_new("auth");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "secret_key", SECRET);
    vial_config_set(app, "jwt_leeway", "0s");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_int_equal(vial_auth_init(app, &ops), 0);
    vial_get(app, "/me", h_me);
    vial_get(app, "/staff", h_staff);
    vial_get(app, "/trio", h_trio);
    vial_get(app, "/nobody", h_nobody);
    vial_get(app, "/peek", h_peek);
    vial_bp *bp = vial_bp_new("admin");
    char roles[16] = "admin";
    assert_int_equal(vial_auth_guard(bp, roles), 0);
    strcpy(roles, "nobody"); /* the guard keeps its own copy */
    vial_get(bp, "/x", h_guarded);
    vial_register(app, bp, "/admin");
    assert_int_equal(vial__run_start_hooks(app), 0);
    return app;
}

/* A token with exactly these claims, signed with SECRET (HS256). */
static char *sign(const char *claims_json)
{
    static const char head[] = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    size_t cn = strlen(claims_json);
    char *tok = malloc(sizeof head + VIAL_B64URL_LEN(cn) + 1 + 44);
    strcpy(tok, head);
    strcat(tok, ".");
    vial_b64url_encode(claims_json, cn, tok + strlen(tok));
    unsigned char mac[32];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, (const unsigned char *)SECRET, strlen(SECRET));
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)tok, strlen(tok));
    crypto_auth_hmacsha256_final(&st, mac);
    strcat(tok, ".");
    vial_b64url_encode(mac, 32, tok + strlen(tok));
    return tok;
}

/* A token for `sub` with `role`, valid for an hour. */
static char *issue(vial_app *app, const char *sub, int uid, const char *role)
{
    json_t *c = json_pack("{s:s,s:i}", "sub", sub, "uid", uid);
    if (role)
        json_object_set_new(c, "role", json_string(role));
    char *tok = NULL;
    assert_int_equal(vial_jwt_issue_malloc(app, c, 3600, &tok), 0);
    json_decref(c);
    return tok;
}

static vial_test_resp *call(vial_app *app, const char *path, const char *scheme, const char *tok,
                            const char *key)
{
    char h[4096] = "";
    if (tok)
        snprintf(h, sizeof h, "Authorization: %s%s\r\n", scheme ? scheme : "Bearer ", tok);
    if (key)
        snprintf(h + strlen(h), sizeof h - strlen(h), "X-API-Key: %s\r\n", key);
    vial_test_resp *r = vial_test(app, "GET", path, h, NULL, 0);
    assert_non_null(r);
    return r;
}

/* The "message" of an error response. */
static char *message(vial_test_resp *r)
{
    json_t *j = json_loads(vial_test_body(r, NULL), 0, NULL);
    assert_non_null(j);
    char *m = strdup(json_string_value(json_object_get(j, "message")));
    json_decref(j);
    return m;
}

static void expect_error(vial_test_resp *r, int status, const char *msg, const char *www)
{
    if (vial_test_status(r) != status)
        print_error("status %d, body %s\n", vial_test_status(r), vial_test_body(r, NULL));
    assert_int_equal(vial_test_status(r), status);
    char *m = message(r);
    assert_string_equal(m, msg);
    free(m);
    if (www)
        assert_string_equal(vial_test_header(r, "WWW-Authenticate"), www);
    else
        assert_null(vial_test_header(r, "WWW-Authenticate"));
    vial_test_free(r);
}

static void expect_ok(vial_test_resp *r, const char *body)
{
    if (vial_test_status(r) != 200)
        print_error("status %d, body %s\n", vial_test_status(r), vial_test_body(r, NULL));
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), body);
    vial_test_free(r);
}

#define BEARER_INVALID "Bearer error=\"invalid_token\""

/* ------------------------------------------------------------------ identities */

static void test_bearer_token(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *tok = issue(app, "alice", 7, "user");
    expect_ok(call(app, "/me", NULL, tok, NULL), "7|alice|user|token|0");
    /* the scheme is case-insensitive; extra spaces before the token are fine */
    expect_ok(call(app, "/me", "bearer ", tok, NULL), "7|alice|user|token|0");
    expect_ok(call(app, "/me", "BEARER    ", tok, NULL), "7|alice|user|token|0");
    free(tok);
    vial_app_free(app);
}

static void test_api_key(void **state)
{
    (void)state;
    vial_app *app = new_app();
    expect_ok(call(app, "/me", NULL, NULL, "key-admin-42"), "100|key:42|admin|api_key|42");
    expect_error(call(app, "/me", NULL, NULL, "nope"), 401, "unknown or revoked API key",
                 BEARER_INVALID);
    vial_app_free(app);
}

static void test_bearer_wins_over_api_key(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *tok = issue(app, "alice", 7, "user");
    expect_ok(call(app, "/me", NULL, tok, "key-admin-42"), "7|alice|user|token|0");
    /* a bad bearer is not rescued by a good key */
    expect_error(call(app, "/me", NULL, "garbage", "key-admin-42"), 401, "malformed token",
                 BEARER_INVALID);
    free(tok);
    vial_app_free(app);
}

static void test_no_credentials(void **state)
{
    (void)state;
    vial_app *app = new_app();
    expect_error(call(app, "/me", NULL, NULL, NULL), 401,
                 "authentication required (Authorization: Bearer <token> or X-API-Key)", "Bearer");
    expect_ok(call(app, "/peek", NULL, NULL, NULL),
              "-|authentication required (Authorization: Bearer <token> or X-API-Key)");
    vial_app_free(app);
}

static void test_refused_tokens(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *expired = sign("{\"sub\":\"alice\",\"exp\":1000}");
    expect_error(call(app, "/me", NULL, expired, NULL), 401, "token expired", BEARER_INVALID);
    char *no_exp = sign("{\"sub\":\"alice\"}");
    expect_error(call(app, "/me", NULL, no_exp, NULL), 401, "token has no expiry", BEARER_INVALID);
    char *early = sign("{\"sub\":\"alice\",\"exp\":99999999999,\"nbf\":99999999998}");
    expect_error(call(app, "/me", NULL, early, NULL), 401, "token not valid yet", BEARER_INVALID);
    char *good = sign("{\"sub\":\"alice\",\"uid\":3,\"exp\":99999999999}");
    expect_ok(call(app, "/me", NULL, good, NULL), "3|alice|-|token|0");
    /* another app's secret */
    vial_app *other = vial_app_new("other");
    vial_config_set(other, "secret_key", "another-secret-another-secret-another");
    vial_configure(other, 0, NULL);
    vial_auth_init(other, &ops);
    vial__run_start_hooks(other);
    char *foreign = issue(other, "alice", 7, "admin");
    expect_error(call(app, "/me", NULL, foreign, NULL), 401, "token signature is invalid",
                 BEARER_INVALID);
    vial_app_free(other);
    free(expired);
    free(no_exp);
    free(early);
    free(good);
    free(foreign);
    vial_app_free(app);
}

static void test_authorization_not_bearer(void **state)
{
    (void)state;
    vial_app *app = new_app();
    const char *msg = "Authorization must be 'Bearer <token>'";
    expect_error(call(app, "/me", "Basic ", "YWxpY2U6cHc=", NULL), 401, msg, BEARER_INVALID);
    expect_error(call(app, "/me", "Bearer", "", NULL), 401, msg, BEARER_INVALID);
    expect_error(call(app, "/me", "Bearerx", "tok", NULL), 401, msg, BEARER_INVALID);
    expect_error(call(app, "/me", "Bearer:", "tok", NULL), 401, msg, BEARER_INVALID);
    /* "Bearer " and nothing after it (the trailing space is not part of the value) */
    expect_error(call(app, "/me", "Bearer ", "", NULL), 401, msg, BEARER_INVALID);
    vial_app_free(app);
}

static void test_repeated_authorization_headers(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *tok = issue(app, "alice", 7, "user");
    char h[2048];
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\nauthorization: Bearer %s\r\n", tok, tok);
    vial_test_resp *r = vial_test(app, "GET", "/me", h, NULL, 0);
    /* joined with a comma: not one bearer token */
    assert_int_equal(vial_test_status(r), 401);
    vial_test_free(r);
    free(tok);
    vial_app_free(app);
}

static void test_deleted_user_and_store_down(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *deleted = issue(app, "deleted", 1, "admin");
    expect_error(call(app, "/me", NULL, deleted, NULL), 401, "the token's user no longer exists",
                 BEARER_INVALID);
    /* not the client's fault: 503 and come back, no WWW-Authenticate */
    char *down = issue(app, "dbdown", 1, "admin");
    vial_test_resp *r = call(app, "/me", NULL, down, NULL);
    assert_string_equal(vial_test_header(r, "Retry-After"), "1");
    expect_error(r, 503, "cannot check credentials now; try again shortly", NULL);
    r = call(app, "/me", NULL, NULL, "boom");
    assert_string_equal(vial_test_header(r, "Retry-After"), "1");
    expect_error(r, 503, "cannot check credentials now; try again shortly", NULL);
    free(deleted);
    free(down);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ roles */

static void test_role_lists(void **state)
{
    (void)state;
    vial_app *app = new_app();
    static const struct {
        const char *role;
        int status;
    } cases[] = { { "admin", 200 }, { "editor", 200 }, { "user", 403 }, { "Admin", 403 },
                  { "adm", 403 },   { "administrator", 403 }, { "admin,editor", 403 },
                  { NULL, 403 } };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(cases); i++) {
        char *tok = issue(app, "u", 1, cases[i].role);
        vial_test_resp *r = call(app, "/staff", NULL, tok, NULL);
        if (vial_test_status(r) != cases[i].status)
            print_error("role %s: %d\n", cases[i].role ? cases[i].role : "(none)",
                        vial_test_status(r));
        assert_int_equal(vial_test_status(r), cases[i].status);
        if (cases[i].status == 403) {
            char *m = message(r);
            assert_string_equal(m, "this needs the admin or editor role"); /* as a person writes it */
            free(m);
            assert_null(vial_test_header(r, "WWW-Authenticate"));
        }
        vial_test_free(r);
        free(tok);
    }
    /* empty items are no role: an identity whose role is "" does not get in through them */
    static const struct {
        const char *role;
        int status;
    } trio[] = { { "owner", 200 }, { "editor", 200 }, { "admin", 200 }, { "", 403 }, { " ", 403 } };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(trio); i++) {
        char *tok = issue(app, "u", 1, trio[i].role);
        vial_test_resp *r = call(app, "/trio", NULL, tok, NULL);
        if (vial_test_status(r) != trio[i].status)
            print_error("role [%s]: %d\n", trio[i].role, vial_test_status(r));
        assert_int_equal(vial_test_status(r), trio[i].status);
        if (trio[i].status == 403) {
            char *m = message(r);
            assert_string_equal(m, "this needs the admin, editor or owner role");
            free(m);
        }
        vial_test_free(r);
        free(tok);
    }
    /* an empty list admits nobody */
    char *tok = issue(app, "u", 1, "admin");
    vial_test_resp *r = call(app, "/nobody", NULL, tok, NULL);
    assert_int_equal(vial_test_status(r), 403);
    char *m = message(r);
    assert_string_equal(m, "no role may do this");
    free(m);
    vial_test_free(r);
    free(tok);
    /* a guard's single role */
    tok = issue(app, "u", 1, "user");
    r = call(app, "/admin/x", NULL, tok, NULL);
    assert_int_equal(vial_test_status(r), 403);
    m = message(r);
    assert_string_equal(m, "this needs the admin role");
    free(m);
    vial_test_free(r);
    free(tok);
    vial_app_free(app);
}

static void test_blueprint_guard(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *user = issue(app, "u", 1, "user"), *admin = issue(app, "a", 2, "admin");
    views = 0;
    vial_test_resp *r = call(app, "/admin/x", NULL, NULL, NULL);
    assert_int_equal(vial_test_status(r), 401);
    assert_string_equal(vial_test_header(r, "WWW-Authenticate"), "Bearer");
    vial_test_free(r);
    r = call(app, "/admin/x", NULL, user, NULL);
    assert_int_equal(vial_test_status(r), 403);
    vial_test_free(r);
    assert_int_equal(views, 0); /* the guard answered: the view never ran */
    expect_ok(call(app, "/admin/x", NULL, admin, NULL), "inside");
    assert_int_equal(views, 1);
    assert_int_equal(vial_auth_guard(NULL, "admin"), VIAL_EINVAL);
    free(user);
    free(admin);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ set-up */

static void test_init_rules(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("init");
    assert_int_equal(vial_auth_init(NULL, &ops), VIAL_EINVAL);
    assert_null(vial__auth_of(app));
    assert_int_equal(vial_auth_init(app, NULL), 0); /* sessions: no callbacks yet */
    assert_int_equal(vial_auth_init(app, &ops), 0); /* the callbacks come later */
    assert_ptr_equal(vial__auth_of(app)->ops, &ops);
    assert_int_equal(vial_auth_init(app, &ops), 0);
    assert_int_equal(vial_auth_init(app, &other_ops), VIAL_EEXIST);
    assert_int_equal(vial_auth_init(app, NULL), 0); /* keeps the callbacks */
    assert_ptr_equal(vial__auth_of(app)->ops, &ops);
    assert_non_null(vial_config(app, "jwt_ttl"));
    assert_string_equal(vial_kv_backend(app), "memory"); /* limits need the store */
    vial_app_free(app);
}

static int h_plain(vial_req *req)
{
    if (vial_auth_require(req, NULL))
        return 0;
    return vial_text(req, 200, "?");
}

static void test_not_configured(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("bare");
    vial_config_set(app, "access_log", "off");
    vial_configure(app, 0, NULL);
    vial_get(app, "/p", h_plain);
    vial_test_resp *r = vial_test(app, "GET", "/p", "X-API-Key: k\r\n", NULL, 0);
    expect_error(r, 401, "authentication is not configured", "Bearer");
    vial_app_free(app);
}

static int start_with(const char *secret, const char *leeway, bool debug)
{
    vial_app *app = vial_app_new("start");
    vial_config_set(app, "log_level", "error");
    if (secret)
        vial_config_set(app, "secret_key", secret);
    if (leeway)
        vial_config_set(app, "jwt_leeway", leeway);
    if (debug)
        vial_config_set(app, "debug", "on");
    vial_configure(app, 0, NULL);
    vial_auth_init(app, &ops);
    app->command = "run"; /* as vial_run() would have it */
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2);
    int rc = vial__run_start_hooks(app);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    app->command = NULL;
    vial_app_free(app);
    return rc;
}

static void test_secret_key_checked_at_start(void **state)
{
    (void)state;
    assert_int_equal(start_with(SECRET, NULL, false), 0);
    assert_int_equal(start_with("too-short", NULL, false), VIAL_EINVAL);
    char longer[200];
    memset(longer, 'k', 199);
    longer[199] = '\0';
    assert_int_equal(start_with(longer, NULL, false), VIAL_EINVAL); /* over 128 bytes */
    assert_int_equal(start_with(NULL, NULL, false), VIAL_EINVAL);   /* serving needs one */
    assert_int_equal(start_with(NULL, NULL, true), 0);              /* except in debug */
    assert_int_equal(start_with(SECRET, "soon", false), VIAL_EINVAL);
}

/* ------------------------------------------------------------------ the token cache */

/* The test client's worker's cache. */
static tcache *cache_of(vial_app *app)
{
    const vial__auth *a = vial__auth_of(app);
    vial__worker *w = vial__test_worker(app);
    return w && w->slots && a->cache_slot >= 0 ? w->slots[a->cache_slot] : NULL;
}

static void test_cache_hit_still_looks_up_identity(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *tok = issue(app, "alice", 7, "user");
    token_lookups = 0;
    for (int i = 0; i < 3; i++)
        expect_ok(call(app, "/me", NULL, tok, NULL), "7|alice|user|token|0");
    assert_int_equal(token_lookups, 3); /* a deleted user's token must stop at once */
    tcache *c = cache_of(app);
    assert_non_null(c);
    tcache_ent *e = &c->e[token_slot(tok, strlen(tok))];
    assert_non_null(e->token);
    assert_string_equal(e->token, tok);
    free(tok);
    vial_app_free(app);
}

static void test_cache_never_mistakes_a_token(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *tok = issue(app, "alice", 7, "admin");
    expect_ok(call(app, "/me", NULL, tok, NULL), "7|alice|admin|token|0"); /* cached now */
    size_t n = strlen(tok);
    /* same length, same tail (so the same slot), one byte different: at the
     * start, in each of the 32-byte lanes, just before the tail */
    size_t at[] = { 0, 5, 13, 40, 63, 64 + 17, n / 2, n - 9 };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(at); i++) {
        char *bad = strdup(tok);
        bad[at[i]] = bad[at[i]] == 'A' ? 'B' : 'A';
        assert_int_equal(token_slot(bad, n), token_slot(tok, n));
        vial_test_resp *r = call(app, "/me", NULL, bad, NULL);
        if (vial_test_status(r) != 401)
            print_error("a token changed at %zu passed\n", at[i]);
        assert_int_equal(vial_test_status(r), 401);
        vial_test_free(r);
        free(bad);
    }
    /* a prefix of the cached token (a shorter one in the same slot is impossible,
     * but a shorter one is never compared as the longer) */
    char *cut = strndup(tok, n - 1);
    vial_test_resp *r = call(app, "/me", NULL, cut, NULL);
    assert_int_equal(vial_test_status(r), 401);
    vial_test_free(r);
    free(cut);
    /* the genuine one still works */
    expect_ok(call(app, "/me", NULL, tok, NULL), "7|alice|admin|token|0");
    free(tok);
    vial_app_free(app);
}

static void test_cache_slot_shared_by_two_tokens(void **state)
{
    (void)state;
    vial_app *app = new_app();
    /* issue tokens until two land in the same slot */
    char *toks[600] = { 0 };
    int a = -1, b = -1;
    for (int i = 0; i < 600 && a < 0; i++) {
        char sub[16];
        snprintf(sub, sizeof sub, "u%d", i);
        toks[i] = issue(app, sub, i, "user");
        for (int j = 0; j < i; j++)
            if (token_slot(toks[j], strlen(toks[j])) == token_slot(toks[i], strlen(toks[i]))) {
                a = j;
                b = i;
                break;
            }
    }
    assert_true(a >= 0);
    char want_a[64], want_b[64];
    snprintf(want_a, sizeof want_a, "%d|u%d|user|token|0", a, a);
    snprintf(want_b, sizeof want_b, "%d|u%d|user|token|0", b, b);
    /* each evicts the other; neither ever gets the other's claims */
    for (int round = 0; round < 3; round++) {
        expect_ok(call(app, "/me", NULL, toks[a], NULL), want_a);
        expect_ok(call(app, "/me", NULL, toks[b], NULL), want_b);
    }
    for (int i = 0; i < 600; i++)
        free(toks[i]);
    vial_app_free(app);
}

static void test_cached_token_expires(void **state)
{
    (void)state;
    vial_app *app = new_app();
    char *tok = issue(app, "alice", 7, "user"); /* valid for an hour */
    expect_ok(call(app, "/me", NULL, tok, NULL), "7|alice|user|token|0"); /* cached */
    clock_ahead = 3601; /* only the cache's clock moves: only the cache can say so */
    expect_error(call(app, "/me", NULL, tok, NULL), 401, "token expired", BEARER_INVALID);
    clock_ahead = 3000; /* well inside the hour */
    expect_ok(call(app, "/me", NULL, tok, NULL), "7|alice|user|token|0");
    clock_ahead = 0;
    free(tok);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bearer_token),
        cmocka_unit_test(test_api_key),
        cmocka_unit_test(test_bearer_wins_over_api_key),
        cmocka_unit_test(test_no_credentials),
        cmocka_unit_test(test_refused_tokens),
        cmocka_unit_test(test_authorization_not_bearer),
        cmocka_unit_test(test_repeated_authorization_headers),
        cmocka_unit_test(test_deleted_user_and_store_down),
        cmocka_unit_test(test_role_lists),
        cmocka_unit_test(test_blueprint_guard),
        cmocka_unit_test(test_init_rules),
        cmocka_unit_test(test_not_configured),
        cmocka_unit_test(test_secret_key_checked_at_start),
        cmocka_unit_test(test_cache_hit_still_looks_up_identity),
        cmocka_unit_test(test_cache_never_mistakes_a_token),
        cmocka_unit_test(test_cache_slot_shared_by_two_tokens),
        cmocka_unit_test(test_cached_token_expires),
    };
    return RUN_GROUP(tests);
}

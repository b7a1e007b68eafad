/*
 * users.c — the users blueprint of vial-server: registration, login with
 * JWT, accounts, roles and API keys, on the auth module.
 *
 *   POST   /api/register                {"username", "password"} → 201
 *   POST   /api/login                   → {"access_token", "token_type", "expires_in"}
 *   GET    /api/users                   admin: all accounts, cursor-paginated
 *   GET    /api/users/<int:id>          self or admin
 *   PUT    /api/users/<int:id>          self or admin (role: admin only)
 *   DELETE /api/users/<int:id>          self or admin → 204
 *   POST   /api/users/<int:id>/api-keys self or admin → {"id", "key"} (shown once)
 *   DELETE /api/api-keys/<int:id>       its owner or admin → 204
 *   vial-server createuser [--admin] NAME   (password from the terminal or stdin)
 *
 * Tokens carry only the user id ("sub"); every authenticated request looks
 * the user up again, so deleting an account (or changing its role) takes
 * effect at once.  Login failures are counted per account and per address
 * in the shared store: past 5 (20 per address, within a day) further
 * attempts wait a doubling delay (429 + Retry-After) instead of locking the
 * account for good; a success clears the account's count.  Unknown names and wrong passwords
 * get the same answer in the same time (a dummy hash is verified).
 */
#include "users.h"

#include <ctype.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common_passwords.h"

#define MAX_PASSWORD 1024  /* argon2 cost is per byte too: bound it */

/* vial_failed_logins_total{reason}: wrong credentials, or refused while
 * an account or address waits out its backoff. */
static vial_metric *failed_logins;
static int64_t failed_credentials, failed_backoff;
static char dummy_hash[VIAL_PASSWORD_HASH_MAX];

/* Limits, from the settings (see users_register). */
static vial_limit register_limit = { "register", 30, 10, VIAL_LIMIT_IP };
static vial_limit login_limit = { "login", 120, 30, VIAL_LIMIT_IP };
static vial_limit api_limit = { "users-api", 600, 120, VIAL_LIMIT_USER };
/* Login backoff per account and per address (free failures from the
 * settings; the store keys are those this app used before the helper). */
static vial_backoff user_backoff = { "login:user", 5, 0, 0 };
static vial_backoff ip_backoff = { "login:ip", 20, 0, 0 };

/* "PER_MINUTE:BURST" or "off" (per_minute 0 disables the limit). */
static int parse_limit(vial_app *app, const char *key, vial_limit *l)
{
    const char *v = vial_config(app, key);
    if (!strcmp(v, "off")) {
        l->per_minute = 0;
        return 0;
    }
    char *end;
    double pm = strtod(v, &end);
    double burst = *end == ':' ? strtod(end + 1, &end) : -1;
    if (*end || pm <= 0 || burst < 1) {
        vial_log(VIAL_LOG_ERROR, "%s: '%s' is not PER_MINUTE:BURST (e.g. 120:30) or off", key, v);
        return VIAL_EINVAL;
    }
    l->per_minute = pm;
    l->burst = burst;
    return 0;
}

/* ------------------------------------------------------------------ helpers */

void users_now_rfc3339(char out[40])
{
    vial_time t = vial_time_now();
    t.us -= t.us % 1000000;
    vial_time_format(t, out);
}

static const char *username_problem(const char *u)
{
    size_t n = strlen(u);
    if (n < 3 || n > 64)
        return "username must be 3 to 64 characters";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (!(isalnum(c) || c == '_' || c == '.' || c == '-'))
            return "username may contain letters, digits, '_', '.' and '-' only";
    }
    return NULL;
}

/* The policy: 8+ characters, not a common password, not the username. */
static const char *password_problem(const char *pw, const char *username)
{
    size_t bytes = strlen(pw), chars = 0;
    for (size_t i = 0; i < bytes; i++)
        chars += ((unsigned char)pw[i] & 0xc0) != 0x80;
    if (chars < 8)
        return "password is too short: use at least 8 characters";
    if (bytes > MAX_PASSWORD)
        return "password is too long: use at most 1024 bytes";
    if (username && !strcasecmp(pw, username))
        return "password must not be the same as the username";
    for (const char *const *c = common_passwords; *c; c++)
        if (!strcasecmp(pw, *c))
            return "password is too common: it appears in lists of breached passwords";
    return NULL;
}

static const char *text_field(json_t *body, const char *name)
{
    json_t *v = json_object_get(body, name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void key_hash(const char *key, char hex[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
    vial_hex_encode(h, sizeof h, hex);
}

/* Writes a user as the API shows it. */
static void user_json(vial_jw *w, vial_rows *r, bool with_role)
{
    vial_jw_object(w);
    vial_jw_key(w, "user_id");
    vial_jw_int(w, vial_rows_int(r, 0));
    vial_jw_key(w, "username");
    vial_jw_str(w, vial_rows_text(r, 1));
    vial_jw_key(w, "created_at");
    vial_jw_str(w, vial_rows_text(r, 2));
    if (with_role) {
        vial_jw_key(w, "role");
        vial_jw_str(w, vial_rows_text(r, 3));
    }
    vial_jw_end(w);
}

/* ------------------------------------------------------------------ identities (auth callbacks) */

static int from_token(vial_req *req, json_t *claims, vial_identity *id)
{
    json_t *sub = json_object_get(claims, "sub");
    if (!json_is_string(sub))
        return VIAL_ENOENT;
    char *end;
    long long uid = strtoll(json_string_value(sub), &end, 10);
    if (*end || uid <= 0)
        return VIAL_ENOENT;
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_rows *r = vial_db_query(db, "SELECT role FROM users WHERE id = $1", VIAL_ARGS(VIAL_INT(uid)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    if (rc == 1) {
        id->user_id = uid;
        id->subject = vial_strdup(req, json_string_value(sub));
        id->role = vial_strdup(req, vial_rows_text(r, 0));
    }
    vial_rows_close(r);
    return rc == 1 ? 0 : rc == 0 ? VIAL_ENOENT : rc;
}

static int from_api_key(vial_req *req, const char *key, vial_identity *id)
{
    if (strlen(key) > 200)
        return VIAL_ENOENT;
    char hex[65];
    key_hash(key, hex);
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_rows *r = vial_db_query(db,
                                 "SELECT k.id, u.id, u.role FROM api_keys k JOIN users u ON u.id = k.user_id "
                                 "WHERE k.key_hash = $1",
                                 VIAL_ARGS(VIAL_TEXT(hex)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    if (rc == 1) {
        id->key_id = vial_rows_int(r, 0);
        id->user_id = vial_rows_int(r, 1);
        id->role = vial_strdup(req, vial_rows_text(r, 2));
        id->subject = vial_sprintf(req, "key:%" PRId64, id->key_id);
    }
    vial_rows_close(r);
    return rc == 1 ? 0 : rc == 0 ? VIAL_ENOENT : rc;
}

static const vial_auth_ops auth_ops = { from_token, from_api_key };

/* The caller, if it may act on account `uid` (itself, or an admin). */
static const vial_identity *self_or_admin(vial_req *req, int64_t uid)
{
    if (vial_auth_require(req, NULL))
        return NULL;
    const vial_identity *id = vial_auth(req);
    if (id->user_id != uid && strcmp(id->role, "admin")) {
        vial_abort(req, 403, "you may only act on your own account");
        return NULL;
    }
    return id;
}

/* ------------------------------------------------------------------ schemas */

/* The request bodies, checked by the views through their routes' docs
 * (vial_body_json_valid(req, NULL)): what /openapi.json shows is what is
 * enforced.  The rules for names and passwords beyond these are in
 * username_problem() and password_problem(). */
static const vial_field creds_f[] = {
    VIAL_FIELD("username", VIAL_F_STRING, VIAL_REQUIRED,
               .doc = "3..64 characters of A-Z a-z 0-9 _ . - (compared without case)"),
    VIAL_FIELD("password", VIAL_F_STRING, VIAL_REQUIRED,
               .doc = "8..1024 bytes; not a common password, not the username"),
    VIAL_FIELD_END,
};
static const vial_schema creds_schema = { creds_f, VIAL_SCHEMA_STRICT };

static const char *const roles[] = { "user", "admin", NULL };
static const vial_field update_f[] = {
    VIAL_FIELD("username", VIAL_F_STRING, 0, .doc = "a new username (same rules as at registration)"),
    VIAL_FIELD("password", VIAL_F_STRING, 0, .doc = "a new password (same rules as at registration)"),
    VIAL_FIELD("role", VIAL_F_STRING, 0, .one_of = roles, .doc = "admins only"),
    VIAL_FIELD_END,
};
static const vial_schema update_schema = { update_f, VIAL_SCHEMA_STRICT };

static const vial_field key_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_NULLABLE, .max = 100, .doc = "a label for the key"),
    VIAL_FIELD_END,
};
static const vial_schema key_schema = { key_f, VIAL_SCHEMA_STRICT };

/* ------------------------------------------------------------------ the API document */

/* What the views answer, as the document shows it. */
static const vial_field registered_f[] = {
    VIAL_FIELD("message", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("user_id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema registered_schema = { registered_f, 0 };
static const vial_field token_f[] = {
    VIAL_FIELD("access_token", VIAL_F_STRING, VIAL_REQUIRED, .doc = "an HS256 JWT; send it as Authorization: Bearer"),
    VIAL_FIELD("token_type", VIAL_F_STRING, VIAL_REQUIRED, .one_of = (const char *const[]){ "Bearer", NULL }),
    VIAL_FIELD("expires_in", VIAL_F_INT, VIAL_REQUIRED, .doc = "seconds (the jwt_ttl setting)"),
    VIAL_FIELD_END,
};
static const vial_schema token_schema = { token_f, 0 };
static const vial_field user_f[] = {
    VIAL_FIELD("user_id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("username", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("created_at", VIAL_F_TIMESTAMP, VIAL_REQUIRED),
    VIAL_FIELD("role", VIAL_F_STRING, 0, .one_of = roles, .doc = "in the admin's list only"),
    VIAL_FIELD_END,
};
static const vial_schema user_schema = { user_f, 0 };
static const vial_field users_f = VIAL_FIELD("users", VIAL_F_ARRAY, 0, .schema = &user_schema,
                                             .doc = "a page of accounts in id order; a Link header "
                                                    "(rel=\"next\") points at the next one");
static const vial_field message_f[] = {
    VIAL_FIELD("message", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema message_schema = { message_f, 0 };
static const vial_field newkey_f[] = {
    VIAL_FIELD("id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("key", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the key itself (vk_...): shown this once, "
                                                            "send it as X-API-Key"),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("created_at", VIAL_F_TIMESTAMP, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema newkey_schema = { newkey_f, 0 };
static const vial_field page_q[] = {
    VIAL_FIELD("limit", VIAL_F_INT, 0, .min = 1, .max = 1000, .doc = "accounts per page (default 100)"),
    VIAL_FIELD("after", VIAL_F_STRING, 0, .doc = "the cursor of the Link header's next page"),
    VIAL_FIELD_END,
};
static const vial_field id_p[] = {
    VIAL_FIELD("id", VIAL_F_INT, 0, .doc = "a user id"),
    VIAL_FIELD_END,
};
static const vial_field key_id_p[] = {
    VIAL_FIELD("id", VIAL_F_INT, 0, .doc = "an API key id"),
    VIAL_FIELD_END,
};

#define R_LIMITED { 429, "over the rate limit (Retry-After says when to come back)", NULL, NULL, NULL }
#define R_NODB { 503, "the database is unavailable", NULL, NULL, NULL }
#define R_END { 0, NULL, NULL, NULL, NULL }
static const vial_doc register_doc = {
    .summary = "Create an account",
    .description = "Registers a user with the role `user`. Limited per client address (ratelimit_register).",
    .body = &creds_schema,
    .responses = (const vial_response_doc[]){
        { 201, "the account exists", &registered_schema, NULL, NULL },
        { 400, "the username or password breaks a rule", NULL, NULL, NULL },
        { 409, "the username is taken", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
    .security = "",
};
static const vial_doc login_doc = {
    .summary = "Sign in: a bearer token",
    .description = "Exchanges a username and password for a JWT. After 5 failures for an account "
                   "(20 for an address) each attempt waits a doubling delay.",
    .body = &creds_schema,
    .responses = (const vial_response_doc[]){
        { 200, "a token", &token_schema, NULL, NULL },
        { 401, "invalid username or password", NULL, NULL, NULL },
        { 429, "too many failed logins or requests (Retry-After)", NULL, NULL, NULL },
        R_NODB, R_END },
    .security = "",
};
static const vial_doc list_users_doc = {
    .summary = "List accounts (admin)",
    .query = page_q,
    .responses = (const vial_response_doc[]){
        { 200, "a page of accounts", NULL, &users_f, NULL },
        { 403, "the caller is not an admin", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
};
static const vial_doc get_user_doc = {
    .summary = "Read an account (self or admin)",
    .params = id_p,
    .responses = (const vial_response_doc[]){
        { 200, "the account", &user_schema, NULL, NULL },
        { 403, "another user's account", NULL, NULL, NULL },
        { 404, "no user with this id", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
};
static const vial_doc update_user_doc = {
    .summary = "Change an account (self or admin)",
    .description = "Changes the username, the password, or (admins only) the role.",
    .params = id_p,
    .body = &update_schema,
    .responses = (const vial_response_doc[]){
        { 200, "changed", &message_schema, NULL, NULL },
        { 400, "nothing to change, or a rule broken", NULL, NULL, NULL },
        { 403, "another user's account, or a role change by a non-admin", NULL, NULL, NULL },
        { 404, "no user with this id", NULL, NULL, NULL },
        { 409, "the username is taken", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
};
static const vial_doc delete_user_doc = {
    .summary = "Delete an account (self or admin)",
    .description = "Its tokens and API keys stop working at once.",
    .params = id_p,
    .responses = (const vial_response_doc[]){
        { 204, "deleted", NULL, NULL, NULL },
        { 403, "another user's account", NULL, NULL, NULL },
        { 404, "no user with this id", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
};
static const vial_doc create_key_doc = {
    .summary = "Create an API key (self or admin)",
    .description = "The key is returned once; only its hash is stored. The body is optional.",
    .params = id_p,
    .body = &key_schema,
    .flags = VIAL_DOC_BODY_OPTIONAL,
    .responses = (const vial_response_doc[]){
        { 201, "the new key", &newkey_schema, NULL, NULL },
        { 403, "another user's account", NULL, NULL, NULL },
        { 404, "no user with this id", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
};
static const vial_doc delete_key_doc = {
    .summary = "Revoke an API key (its owner or admin)",
    .params = key_id_p,
    .responses = (const vial_response_doc[]){
        { 204, "revoked", NULL, NULL, NULL },
        { 404, "no such key (or not yours: ids reveal nothing)", NULL, NULL, NULL },
        R_LIMITED, R_NODB, R_END },
};

/* ------------------------------------------------------------------ registration and login */

static int insert_user(vial_db *db, const char *username, const char *hash, const char *role,
                       int64_t *id)
{
    char created[40];
    users_now_rfc3339(created);
    vial_rows *r = vial_db_query(db,
                                 "INSERT INTO users (username, password_hash, role, created_at) "
                                 "VALUES ($1, $2, $3, $4) RETURNING id",
                                 VIAL_ARGS(VIAL_TEXT(username), VIAL_TEXT(hash), VIAL_TEXT(role),
                                           VIAL_TEXT(created)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    if (rc == 1)
        *id = vial_rows_int(r, 0);
    vial_rows_close(r);
    return rc == 1 ? 0 : rc < 0 ? rc : VIAL_EDB;
}


/* Checked before anything else about the request, so that malformed
 * attempts count as much as well-formed ones. */
int users_limit_register(vial_req *req)
{
    return vial_ratelimit(req, &register_limit);
}

int users_limit_login(vial_req *req)
{
    return vial_ratelimit(req, &login_limit);
}

int users_create(vial_req *req, const char *username, const char *password, int64_t *id,
                 const char **why)
{
    *why = username_problem(username);
    if (*why)
        return 400;
    if ((*why = password_problem(password, username)))
        return 400;
    char hash[VIAL_PASSWORD_HASH_MAX];
    if (vial_password_hash(vial_app_of(req), password, hash)) {
        *why = "out of memory hashing the password";
        return 503;
    }
    vial_db *db = vial_db_get(req);
    if (!db) {
        *why = "the database is unavailable; try again shortly";
        return 503;
    }
    int rc = insert_user(db, username, hash, "user", id);
    sodium_memzero(hash, sizeof hash);
    if (rc == VIAL_EUNIQUE) {
        *why = vial_sprintf(req, "the username '%s' is taken", username);
        return 409;
    }
    if (rc) {
        vial_req_log(req, VIAL_LOG_ERROR, "register: %s", vial_db_error(db));
        *why = "the database is unavailable; try again shortly";
        return 503;
    }
    return 0;
}

static int register_user(vial_req *req)
{
    if (users_limit_register(req))
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    int64_t id = 0;
    const char *why = NULL;
    int status = users_create(req, text_field(body, "username"), text_field(body, "password"), &id, &why);
    if (status)
        return vial_abort(req, status, why);
    vial_jw *w = vial_jw_begin(req, 201);
    vial_jw_object(w);
    vial_jw_key(w, "message");
    vial_jw_str(w, "User registered successfully");
    vial_jw_key(w, "user_id");
    vial_jw_int(w, id);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

int users_authenticate(vial_req *req, const char *username, const char *password, int64_t *uid,
                       int64_t *retry_after_s)
{
    *retry_after_s = 0;
    char lower[65];
    size_t i = 0;
    for (; username[i] && i < 64; i++)
        lower[i] = (char)tolower((unsigned char)username[i]);
    lower[i] = '\0';
    const char *addr = vial_client_addr(req);
    int64_t wu = vial_backoff_check(req, &user_backoff, lower);
    int64_t wi = vial_backoff_check(req, &ip_backoff, addr);
    int64_t wait = wu > wi ? wu : wi;
    if (wait > 0) {
        *retry_after_s = wait;
        vial_metric_add_series(vial_app_of(req), req, failed_logins, failed_backoff, 1);
        return 429;
    }
    vial_db *db = vial_db_get(req);
    if (!db)
        return 503;
    vial_rows *r = vial_db_query(db, "SELECT id, password_hash FROM users WHERE lower(username) = lower($1)",
                                 VIAL_ARGS(VIAL_TEXT(username)));
    int found = r ? vial_rows_next(r) : -1;
    if (found < 0)
        return 503;
    *uid = found ? vial_rows_int(r, 0) : 0;
    char *hash = vial_strdup(req, found ? vial_rows_text(r, 1) : dummy_hash);
    vial_rows_close(r);
    /* Unknown names are checked against a dummy hash: same work, same time. */
    bool ok = strlen(password) <= MAX_PASSWORD && vial_password_verify(hash, password) == 1 && found == 1;
    if (!ok) {
        vial_metric_add_series(vial_app_of(req), req, failed_logins, failed_credentials, 1);
        vial_backoff_fail(req, &user_backoff, lower);
        vial_backoff_fail(req, &ip_backoff, addr);
        return 401;
    }
    /* Only the account's count is forgiven: the address count runs out with
     * its window, or a client could log into its own account every few
     * guesses and spray passwords over everyone else's for ever. */
    vial_backoff_clear(req, &user_backoff, lower);
    if (vial_password_needs_rehash(vial_app_of(req), hash)) {
        char fresh[VIAL_PASSWORD_HASH_MAX];
        if (!vial_password_hash(vial_app_of(req), password, fresh))
            vial_db_exec(db, "UPDATE users SET password_hash = $1 WHERE id = $2",
                         VIAL_ARGS(VIAL_TEXT(fresh), VIAL_INT(*uid)));
    }
    return 0;
}

static int login(vial_req *req)
{
    if (users_limit_login(req))
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    int64_t uid = 0, retry = 0;
    int status = users_authenticate(req, text_field(body, "username"), text_field(body, "password"), &uid,
                                    &retry);
    if (status == 429) {
        char ra[24];
        snprintf(ra, sizeof ra, "%lld", (long long)retry);
        vial_abortf(req, 429, "too many failed logins; retry in %s s", ra);
        vial_set_header(req, "Retry-After", ra);
        return 0;
    }
    if (status == 401)
        return vial_abort(req, 401, "invalid username or password");
    if (status)
        return vial_db_unavailable(req);
    int64_t ttl = vial_config_duration_ms(vial_app_of(req), "jwt_ttl", 3600000) / 1000;
    if (ttl <= 0)
        ttl = 3600;
    json_t *claims = json_pack("{s:s}", "sub", vial_sprintf(req, "%" PRId64, uid));
    char *token = NULL;
    int rc = claims ? vial_jwt_issue_malloc(vial_app_of(req), claims, ttl, &token) : VIAL_ENOMEM;
    json_decref(claims);
    if (rc)
        return vial_abort(req, 500, "cannot issue a token");
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "access_token");
    vial_jw_str(w, token);
    vial_jw_key(w, "token_type");
    vial_jw_str(w, "Bearer");
    vial_jw_key(w, "expires_in");
    vial_jw_int(w, ttl);
    vial_jw_end(w);
    free(token);
    vial_set_header(req, "Cache-Control", "no-store");
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ accounts */

static int get_user(vial_req *req)
{
    int64_t uid = vial_param_int(req, "id");
    const vial_identity *me = self_or_admin(req, uid);
    if (!me)
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT id, username, created_at, role FROM users WHERE id = $1",
                                 VIAL_ARGS(VIAL_INT(uid)));
    if (!r)
        return vial_db_abort(req, db);
    int rc = vial_rows_next(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    if (rc == 0)
        return vial_abortf(req, 404, "no user with id %" PRId64, uid);
    vial_jw *w = vial_jw_begin(req, 200);
    user_json(w, r, false);
    return vial_jw_finish(w);
}

int users_get(vial_req *req, int64_t uid, users_account *out)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_rows *r = vial_db_query(db, "SELECT id, username, role, created_at FROM users WHERE id = $1",
                                 VIAL_ARGS(VIAL_INT(uid)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    if (rc == 1) {
        out->id = vial_rows_int(r, 0);
        out->username = vial_strdup(req, vial_rows_text(r, 1));
        out->role = vial_strdup(req, vial_rows_text(r, 2));
        out->created_at = vial_strdup(req, vial_rows_text(r, 3));
        if (!out->username || !out->role || !out->created_at)
            rc = VIAL_ENOMEM;
    }
    vial_rows_close(r);
    return rc == 1 ? 0 : rc == 0 ? VIAL_ENOENT : rc;
}

int users_current(vial_req *req, bool session, users_account *out)
{
    /* The dashboard's login first (a browser page), then what the auth
     * module reads: a bearer token or an API key. */
    json_t *s = session ? vial_session(req) : NULL;
    json_t *uid = s ? json_object_get(s, "uid") : NULL;
    if (json_is_integer(uid)) {
        int rc = users_get(req, (int64_t)json_integer_value(uid), out);
        if (rc != VIAL_ENOENT)
            return rc;
    }
    const vial_identity *id = vial_auth(req);
    if (!id) /* credentials sent and refused, or none sent */
        return vial_header(req, "authorization") || vial_header(req, "x-api-key") ? VIAL_EINVAL : VIAL_ENOENT;
    return users_get(req, id->user_id, out);
}

int users_name_exists(vial_req *req, const char *username)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_rows *r = vial_db_query(db, "SELECT 1 FROM users WHERE lower(username) = lower($1)",
                                 VIAL_ARGS(VIAL_TEXT(username)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    vial_rows_close(r);
    return rc;
}

static int update_user(vial_req *req)
{
    int64_t uid = vial_param_int(req, "id");
    const vial_identity *me = self_or_admin(req, uid);
    if (!me)
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    const char *username = text_field(body, "username"), *password = text_field(body, "password"),
               *role = text_field(body, "role");
    if (!username && !password && !role)
        return vial_abort(req, 400, "nothing to update: send username, password or role");
    if (role && strcmp(me->role, "admin"))
        return vial_abort(req, 403, "only an admin may change a role");
    const char *why;
    if (username && (why = username_problem(username)))
        return vial_abort(req, 400, why);
    if (vial_db_tx(req))
        return 0;
    vial_db *db = vial_db_get(req);
    vial_rows *r = vial_db_query(db, "SELECT username FROM users WHERE id = $1", VIAL_ARGS(VIAL_INT(uid)));
    if (!r)
        return vial_db_abort(req, db);
    int rc = vial_rows_next(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    if (rc == 0)
        return vial_abortf(req, 404, "no user with id %" PRId64, uid);
    const char *current = vial_strdup(req, vial_rows_text(r, 0));
    vial_rows_close(r);
    if (password && (why = password_problem(password, username ? username : current)))
        return vial_abort(req, 400, why);
    if (username) {
        int n = vial_db_exec(db, "UPDATE users SET username = $1 WHERE id = $2",
                             VIAL_ARGS(VIAL_TEXT(username), VIAL_INT(uid)));
        if (n < 0 && vial_db_errcode(db) == VIAL_EUNIQUE)
            return vial_abortf(req, 409, "the username '%s' is taken", username);
        if (n < 0)
            return vial_db_abort(req, db);
    }
    if (password) {
        char hash[VIAL_PASSWORD_HASH_MAX];
        if (vial_password_hash(vial_app_of(req), password, hash))
            return vial_abort(req, 503, "out of memory hashing the password");
        if (vial_db_exec(db, "UPDATE users SET password_hash = $1 WHERE id = $2",
                         VIAL_ARGS(VIAL_TEXT(hash), VIAL_INT(uid))) < 0)
            return vial_db_abort(req, db);
    }
    if (role && vial_db_exec(db, "UPDATE users SET role = $1 WHERE id = $2",
                             VIAL_ARGS(VIAL_TEXT(role), VIAL_INT(uid))) < 0)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "message");
    vial_jw_str(w, "User updated successfully");
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int delete_user(vial_req *req)
{
    int64_t uid = vial_param_int(req, "id");
    if (!self_or_admin(req, uid))
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    int n = vial_db_exec(db, "DELETE FROM users WHERE id = $1", VIAL_ARGS(VIAL_INT(uid)));
    if (n < 0)
        return vial_db_abort(req, db);
    if (n == 0)
        return vial_abortf(req, 404, "no user with id %" PRId64, uid);
    return vial_no_content(req);
}

/* Accounts in id order, up to 1,000 a page. */
static const vial_page_spec by_id = {
    .keys = { VIAL_T_INT }, .nkeys = 1, .default_limit = 100, .max_limit = 1000 };

static int list_users(vial_req *req)
{
    if (vial_auth_require(req, "admin"))
        return 0;
    /* Before cursors were opaque, after= was a bare user id; clients that
     * stored one still get the page after it.  A cursor is never all
     * digits: an id's 8 bytes start with zeros, spelled "AAAA". */
    const char *a = vial_arg(req, "after");
    bool bare = a && *a && strspn(a, "0123456789") == strlen(a) && strlen(a) <= 18;
    vial_page pg;
    const char *why = NULL;
    int rc = vial_page_parse(req, &by_id, vial_arg(req, "limit"), bare ? NULL : a, &pg, &why);
    if (rc)
        return vial_abort(req, rc == VIAL_EPARSE ? 400 : 503, why);
    if (bare)
        pg.after[0] = VIAL_INT(strtoll(a, NULL, 10));
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT id, username, created_at, role FROM users WHERE id > $1 "
                                     "ORDER BY id LIMIT $2",
                                 VIAL_ARGS(pg.after[0], VIAL_INT(pg.limit + 1)));
    if (!r)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    const char *next = NULL;
    int64_t n = 0;
    bool more = false;
    while ((rc = vial_rows_next(r)) > 0) {
        if (n == pg.limit) {
            more = true;
            break;
        }
        user_json(w, r, true);
        if (++n == pg.limit)
            next = vial_page_cursor(req, &pg, (vial_val[]){ VIAL_INT(vial_rows_int(r, 0)) });
    }
    if (rc < 0)
        return vial_db_abort(req, db);
    vial_jw_end(w);
    if (more && vial_page_link(req, &pg, next))
        return vial_abort(req, 503, "out of memory");
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ API keys */

static int create_key(vial_req *req)
{
    int64_t uid = vial_param_int(req, "id");
    if (!self_or_admin(req, uid))
        return 0;
    size_t blen;
    vial_body(req, &blen);
    json_t *body = blen ? vial_body_json_valid(req, NULL) : NULL;
    if (blen && !body)
        return 0;
    const char *name = body ? text_field(body, "name") : NULL;
    /* 32 random bytes, base64url: the key is shown once, only its hash kept. */
    unsigned char raw[32];
    vial_random(raw, sizeof raw);
    char b64[VIAL_B64URL_LEN(sizeof raw) + 1], key[80], hex[65], created[40];
    vial_b64url_encode(raw, sizeof raw, b64);
    sodium_memzero(raw, sizeof raw);
    snprintf(key, sizeof key, "vk_%s", b64);
    key_hash(key, hex);
    users_now_rfc3339(created);
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db,
                                 "INSERT INTO api_keys (user_id, key_hash, name, created_at) "
                                 "VALUES ($1, $2, $3, $4) RETURNING id",
                                 VIAL_ARGS(VIAL_INT(uid), VIAL_TEXT(hex), VIAL_TEXT(name), VIAL_TEXT(created)));
    if (!r) {
        if (vial_db_errcode(db) == VIAL_EFKEY)
            return vial_abortf(req, 404, "no user with id %" PRId64, uid);
        return vial_db_abort(req, db);
    }
    if (vial_rows_next(r) != 1) {
        /* SQLite reports the constraint when the row is stepped. */
        if (vial_db_errcode(db) == VIAL_EFKEY)
            return vial_abortf(req, 404, "no user with id %" PRId64, uid);
        return vial_db_abort(req, db);
    }
    int64_t kid = vial_rows_int(r, 0);
    vial_rows_close(r);
    vial_jw *w = vial_jw_begin(req, 201);
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, kid);
    vial_jw_key(w, "key");
    vial_jw_str(w, key);
    vial_jw_key(w, "name");
    vial_jw_str(w, name);
    vial_jw_key(w, "created_at");
    vial_jw_str(w, created);
    vial_jw_end(w);
    sodium_memzero(key, sizeof key);
    vial_set_header(req, "Cache-Control", "no-store");
    return vial_jw_finish(w);
}

static int delete_key(vial_req *req)
{
    if (vial_auth_require(req, NULL))
        return 0;
    const vial_identity *me = vial_auth(req);
    int64_t kid = vial_param_int(req, "id");
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT user_id FROM api_keys WHERE id = $1", VIAL_ARGS(VIAL_INT(kid)));
    if (!r)
        return vial_db_abort(req, db);
    int rc = vial_rows_next(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    int64_t owner = rc ? vial_rows_int(r, 0) : 0;
    vial_rows_close(r);
    /* Someone else's key is "not found" for you: ids reveal nothing. */
    if (rc == 0 || (owner != me->user_id && strcmp(me->role, "admin")))
        return vial_abortf(req, 404, "no API key with id %" PRId64, kid);
    if (vial_db_exec(db, "DELETE FROM api_keys WHERE id = $1", VIAL_ARGS(VIAL_INT(kid))) < 0)
        return vial_db_abort(req, db);
    return vial_no_content(req);
}

/* ------------------------------------------------------------------ browser sessions */

/* The session member holding the logged-in account's id. */
#define SESSION_UID "uid"

int users_session_login(vial_req *req, int64_t uid)
{
    json_t *s = vial_session(req);
    if (!s)
        return VIAL_EDBDOWN;
    vial_session_rotate(req);
    return json_object_set_new(s, SESSION_UID, json_integer((json_int_t)uid)) ? VIAL_ENOMEM : 0;
}

int64_t users_session_uid(vial_req *req, users_account *out)
{
    json_t *s = vial_session(req);
    json_t *uid = s ? json_object_get(s, SESSION_UID) : NULL;
    if (!json_is_integer(uid))
        return 0;
    users_account a;
    int rc = users_get(req, (int64_t)json_integer_value(uid), out ? out : &a);
    if (rc == VIAL_ENOENT)
        json_object_del(s, SESSION_UID); /* the account is gone: so is the login */
    return rc ? 0 : (out ? out : &a)->id;
}

/* ------------------------------------------------------------------ CLI: createuser */

static int cmd_createuser(vial_app *app, int argc, char **argv)
{
    bool admin = false;
    const char *name = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--admin"))
            admin = true;
        else if (argv[i][0] != '-' && !name)
            name = argv[i];
        else {
            fprintf(stderr, "usage: createuser [--admin] USERNAME\n");
            return 2;
        }
    }
    if (!name) {
        fprintf(stderr, "usage: createuser [--admin] USERNAME\n");
        return 2;
    }
    const char *why = username_problem(name);
    if (why) {
        fprintf(stderr, "createuser: %s\n", why);
        return 1;
    }
    char pw[MAX_PASSWORD + 2], again[MAX_PASSWORD + 2];
    int rc = vial_prompt_password("Password: ", pw, sizeof pw);
    if (rc) {
        fprintf(stderr, "createuser: %s\n",
                rc == VIAL_ETOOBIG ? "password is too long: use at most 1024 bytes" : "no password given");
        return 1;
    }
    if (isatty(STDIN_FILENO) &&
        (vial_prompt_password("Again: ", again, sizeof again) || strcmp(pw, again))) {
        sodium_memzero(pw, sizeof pw);
        sodium_memzero(again, sizeof again);
        fprintf(stderr, "createuser: the passwords differ\n");
        return 1;
    }
    if ((why = password_problem(pw, name))) {
        fprintf(stderr, "createuser: %s\n", why);
        return 1;
    }
    char hash[VIAL_PASSWORD_HASH_MAX];
    rc = vial_password_hash(app, pw, hash);
    sodium_memzero(pw, sizeof pw);
    sodium_memzero(again, sizeof again);
    if (rc) {
        fprintf(stderr, "createuser: cannot hash the password\n");
        return 1;
    }
    vial_db *db = vial_db_open(app);
    if (!db)
        return 1;
    int64_t id = 0;
    rc = insert_user(db, name, hash, admin ? "admin" : "user", &id);
    if (rc == VIAL_EUNIQUE)
        fprintf(stderr, "createuser: the username '%s' is taken\n", name);
    else if (rc)
        fprintf(stderr, "createuser: %s\n", vial_db_error(db));
    else
        printf("created %s '%s' (id %" PRId64 ")\n", admin ? "admin" : "user", name, id);
    vial_db_close(db);
    return rc ? 1 : 0;
}

/* ------------------------------------------------------------------ registration */

static int users_start(vial_app *app)
{
    if (parse_limit(app, "ratelimit_register", &register_limit) ||
        parse_limit(app, "ratelimit_login", &login_limit) || parse_limit(app, "ratelimit_api", &api_limit))
        return VIAL_EINVAL;
    user_backoff.free_failures = vial_config_int(app, "login_max_failures", 5);
    ip_backoff.free_failures = vial_config_int(app, "login_max_failures_ip", 20);
    if (user_backoff.free_failures < 1 || ip_backoff.free_failures < 1) {
        vial_log(VIAL_LOG_ERROR, "login_max_failures and login_max_failures_ip must be at least 1");
        return VIAL_EINVAL;
    }
    /* The hash an unknown username is checked against, with the live
     * parameters, so its cost matches a real account's. */
    return vial_password_hash(app, "no such user: this never matches", dummy_hash) ? VIAL_ENOMEM : 0;
}


int users_register(vial_app *app)
{
    int rc = vial_auth_init(app, &auth_ops);
    if (!rc)
        rc = vial_db_migrations(app, "users", "apps/users/migrations");
    if (!rc)
        rc = vial_config_define(app, "ratelimit_register", "30:10",
                                "registrations per minute and burst, per address (or off)");
    if (!rc)
        rc = vial_config_define(app, "ratelimit_login", "120:30",
                                "login attempts per minute and burst, per address (or off)");
    if (!rc)
        rc = vial_config_define(app, "ratelimit_api", "600:120",
                                "/api/users calls per minute and burst, per caller (or off)");
    if (!rc)
        rc = vial_config_define(app, "login_max_failures", "5",
                                "failed logins per account before a doubling wait");
    if (!rc)
        rc = vial_config_define(app, "login_max_failures_ip", "20",
                                "failed logins per address (within a day) before a doubling wait");
    if (!rc)
        rc = vial_on_start(app, users_start);
    static const char *const reason[] = { "reason", NULL };
    if (!rc && !(failed_logins = vial_counter(app, "vial_failed_logins_total",
                                              "Logins refused: wrong credentials, or during a backoff",
                                              reason)))
        rc = VIAL_EINVAL;
    if (!rc) {
        failed_credentials = vial_metric_series(app, failed_logins, (const char *[]){ "credentials" });
        failed_backoff = vial_metric_series(app, failed_logins, (const char *[]){ "backoff" });
    }
    if (!rc)
        rc = vial_command(app, "createuser", cmd_createuser,
                          "createuser [--admin] NAME: add an account (password from the terminal or stdin)");
    if (rc)
        return rc;
    vial_bp *bp = vial_bp_new("users");
    if (!bp)
        return VIAL_ENOMEM;
    static const vial_route_def routes[] = {
        VIAL_ROUTE(VIAL_POST, "/register", register_user, "register_user", &register_doc),
        VIAL_ROUTE(VIAL_POST, "/login", login, "login", &login_doc),
        VIAL_ROUTE(VIAL_GET, "/users", list_users, "list_users", &list_users_doc),
        VIAL_ROUTE(VIAL_GET, "/users/<int:id>", get_user, "get_user", &get_user_doc),
        VIAL_ROUTE(VIAL_PUT, "/users/<int:id>", update_user, "update_user", &update_user_doc),
        VIAL_ROUTE(VIAL_DELETE, "/users/<int:id>", delete_user, "delete_user", &delete_user_doc),
        VIAL_ROUTE(VIAL_POST, "/users/<int:id>/api-keys", create_key, "create_key", &create_key_doc),
        VIAL_ROUTE(VIAL_DELETE, "/api-keys/<int:id>", delete_key, "delete_key", &delete_key_doc),
        VIAL_ROUTE_END,
    };
    rc |= vial_route_table(bp, routes);
    /* Every route but registration and login checks a token or key itself
     * (vial_auth_require: self or admin), so the blueprint carries no guard. */
    rc |= vial_bp_security(bp, "bearer,api_key");
    rc |= vial_bp_describe(bp, "Accounts, roles, bearer tokens and API keys.");
    rc |= vial_openapi_schema(app, &creds_schema, "Credentials", NULL);
    rc |= vial_openapi_schema(app, &user_schema, "User", "an account as the API shows it");
    rc |= vial_openapi_schema(app, &update_schema, "UserUpdate", NULL);
    rc |= vial_ratelimit_guard(bp, &api_limit);
    rc |= vial_register(app, bp, "/api");
    return rc ? VIAL_EINVAL : 0;
}

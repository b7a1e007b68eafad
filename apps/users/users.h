/*
 * users.h — the users blueprint of vial-server (apps/users/users.c).
 */
#ifndef VIAL_APPS_USERS_H
#define VIAL_APPS_USERS_H

#include <vial.h>

#include <stdbool.h>

/* Sets up the auth module with vial-server's accounts and registers the
 * /api blueprint, the createuser command and the migration set "users"
 * (apps/users/migrations, under migrations_root).  Needs vial_db_init(app). */
int users_register(vial_app *app);
/*
 * Shared by the JSON API and the dashboard's forms.
 * users_create(): 0 and the new id, or an HTTP status (400 weak/invalid,
 * 409 taken, 503) with the reason in *why (static or arena).
 * users_authenticate(): 0 and the account's id; 401 wrong name or
 * password (the same for both, in the same time); 429 while the account or
 * address must wait (*retry_after_s); 503 database down.
 * Callers first call users_limit_register()/users_limit_login(): nonzero
 * when the address's rate limit answered the request (429) already.
 */
int users_limit_register(vial_req *req);
int users_limit_login(vial_req *req);
int users_create(vial_req *req, const char *username, const char *password, int64_t *id,
                 const char **why);
int users_authenticate(vial_req *req, const char *username, const char *password, int64_t *uid,
                       int64_t *retry_after_s);
/* An account as the pages show it (strings: Arena). */
typedef struct users_account {
    int64_t id;
    const char *username, *role, *created_at;
} users_account;
/* The account `uid`: 0 and *out filled, VIAL_ENOENT when there is no such
 * account, another VIAL_E* when the database failed. */
int users_get(vial_req *req, int64_t uid, users_account *out);
/*
 * The browser session's login (the dashboard's pages, and the JSON routes
 * they call): users_session_login() records account `uid` in the session
 * (after rotating it: no fixation); users_session_uid() is that account's
 * id (and, with `out`, the account), or 0 when the session has none or the
 * account is gone (the login is then dropped).  A database failure reads
 * as 0.
 */
int users_session_login(vial_req *req, int64_t uid);
int64_t users_session_uid(vial_req *req, users_account *out);

/* Now as RFC 3339 to the second, the way accounts, keys and the records
 * other apps keep for them (playlists) show their times.  `out` needs 40
 * bytes. */
void users_now_rfc3339(char out[40]);
/* The caller's account: the dashboard's login (session cookie, when
 * `session`: a route without CSRF protection that changes something must
 * not take it, a cross-site form would ride it), else a bearer token or API
 * key.  0 and *out; VIAL_ENOENT when the caller sent none (anonymous);
 * VIAL_EINVAL when it sent credentials that are not valid
 * (vial_auth_error() says why); another VIAL_E* when the database failed. */
int users_current(vial_req *req, bool session, users_account *out);
/* 1 when an account is named `username` (case-insensitive, as logins
 * compare), 0 when none is, or VIAL_E*. */
int users_name_exists(vial_req *req, const char *username);

#endif

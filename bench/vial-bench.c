/*
 * vial-bench.c — the TechEmpower-style endpoints used by bench/ to compare
 * vial with its peers.  Rules followed (see ../shared/BENCHMARKS.md):
 * /plaintext composes the whole response per request (the body is a static
 * buffer, which the rules allow); /json builds and serializes a fresh
 * object per request with the JSON writer; /db reads one random World row
 * per request with a prepared statement (no caching of rows) and returns it
 * as an object.  Access logging is off by default, as the rules require.
 *
 *   vial-bench --port 8090 --workers 1
 *   DB_PATH=/tmp/world.db vial-bench ...           SQLite world table
 *   DATABASE_URL=postgresql://... vial-bench ...   PostgreSQL world table
 *   /json-auth: /json behind a bearer-token guard; /token mints a token for it
 */
#include <vial.h>

#include <stdio.h>
#include <stdlib.h>

static const char hello[] = "Hello, World!";

static int plaintext(vial_req *req)
{
    return vial_send_static(req, 200, "text/plain", hello, sizeof hello - 1);
}

static int json(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "message");
    vial_jw_str(w, hello);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* 1..10000, uniformly enough, per worker thread without locks. */
static int64_t random_id(void)
{
    static _Thread_local uint64_t s = 0x9e3779b97f4a7c15ull;
    s ^= s << 13;
    s ^= s >> 7;
    s ^= s << 17;
    return (int64_t)(s % 10000) + 1;
}

static int db(vial_req *req)
{
    vial_db *d = vial_db_get(req);
    if (!d)
        return 0;
    vial_rows *r = vial_db_query(d, "SELECT id, randomNumber FROM world WHERE id = $1",
                                 VIAL_ARGS(VIAL_INT(random_id())));
    if (!r || vial_rows_next(r) != 1)
        return vial_db_abort(req, d);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, vial_rows_int(r, 0));
    vial_jw_key(w, "randomNumber");
    vial_jw_int(w, vial_rows_int(r, 1));
    vial_jw_end(w);
    vial_rows_close(r);
    return vial_jw_finish(w);
}

/* Token verification cost: /json behind vial_auth_require.  The identity
 * callback accepts any valid token without a database, so the difference
 * to /json is the auth module's own cost (header parsing, the per-worker
 * verified-token cache, HMAC on a miss). */
static int bench_from_token(vial_req *req, json_t *claims, vial_identity *id)
{
    (void)req;
    id->user_id = (int64_t)strtoll(json_string_value(json_object_get(claims, "sub")), NULL, 10);
    id->role = "user";
    return 0;
}

static const vial_auth_ops bench_auth = { bench_from_token, NULL };

static int json_auth(vial_req *req)
{
    if (vial_auth_require(req, NULL))
        return 0;
    return json(req);
}

static int token(vial_req *req)
{
    json_t *claims = json_pack("{s:s}", "sub", "1");
    char *t = NULL;
    int rc = vial_jwt_issue(vial_req_app(req), claims, 24 * 3600, &t);
    json_decref(claims);
    if (rc)
        return rc;
    rc = vial_text(req, 200, t);
    free(t);
    return rc;
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("vial-bench");
    if (!app || vial_db_init(app))
        return 1;
    /* Defaults only: flags and environment (--port, DATABASE_URL) still win. */
    vial_config_default(app, "access_log", "off");
    vial_config_default(app, "auto_migrate", "off"); /* the world table is the harness's */
    if (vial_auth_init(app, &bench_auth))
        return 1;
    /* A benchmark-only signing key (tokens of this program guard nothing). */
    vial_config_default(app, "secret_key", "vial-bench only: not a secret, not for production!!");
    const char *path = getenv("DB_PATH");
    if (path) {
        char url[4200];
        snprintf(url, sizeof url, "sqlite://%s%s", path[0] == '/' ? "/" : "/", path);
        vial_config_default(app, "database_url", url);
    }
    vial_get(app, "/plaintext", plaintext);
    vial_get(app, "/json", json);
    vial_get(app, "/db", db);
    vial_get(app, "/json-auth", json_auth);
    vial_get(app, "/token", token);
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

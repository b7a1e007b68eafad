/*
 * vial-bench.c — the TechEmpower-style endpoints used by bench/ to compare
 * vial with its peers.  Rules followed (see ../shared/BENCHMARKS.md):
 * /plaintext composes the whole response per request (the body is a static
 * buffer, which the rules allow); /json builds and serializes a fresh
 * object per request with the JSON writer; /db reads one random World row
 * per request with a prepared statement (no caching of rows) and returns it
 * as an object; /fortunes reads every Fortune row per request (prepared
 * statement, no caching), adds the request-time fortune, sorts by message
 * (strcmp on the UTF-8 bytes) and renders templates/fortunes.html, which
 * HTML-escapes every message.  Access logging is off by default, as the
 * rules require.
 *
 *   vial-bench --port 8090 --workers 1
 *   DB_PATH=/tmp/world.db vial-bench ...           SQLite world table
 *   DATABASE_URL=postgresql://... vial-bench ...   PostgreSQL world table
 *   VIAL_TEMPLATES_DIR=bench/templates vial-bench  where fortunes.html is (the
 *       default: bench/templates found from the executable, see main())
 *   /json-auth: /json behind a bearer-token guard; /token mints a token for it
 */
#include <vial.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* TechEmpower Fortunes: all rows, one more added at request time, sorted by
 * message in the application, rendered through a template that escapes. */
typedef struct fortune {
    const char *message; /* borrowed from obj */
    json_t *obj;         /* {"id": ..., "message": ...} */
} fortune;

static int by_message(const void *a, const void *b)
{
    return strcmp(((const fortune *)a)->message, ((const fortune *)b)->message);
}

static json_t *fortune_new(int64_t id, const char *message, size_t len)
{
    json_t *o = json_object();
    /* set_new steals the value, even when it fails */
    if (!o || json_object_set_new_nocheck(o, "id", json_integer(id)) ||
        json_object_set_new_nocheck(o, "message", json_stringn(message, len))) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int fortunes(vial_req *req)
{
    vial_db *d = vial_db_get(req);
    if (!d)
        return 0;
    vial_rows *r = vial_db_query(d, "SELECT id, message FROM fortune", VIAL_NOARGS);
    if (!r)
        return vial_db_abort(req, d);
    size_t n = 0, cap = 16;
    fortune *f = malloc(cap * sizeof *f);
    json_t *list = json_array();
    int rc = f && list ? 0 : VIAL_ENOMEM;
    while (!rc && (rc = vial_rows_next(r)) == 1) {
        rc = 0;
        if (n + 1 == cap) { /* room for the request-time row too */
            fortune *nf = realloc(f, 2 * cap * sizeof *f);
            if (!nf) {
                rc = VIAL_ENOMEM;
                break;
            }
            f = nf;
            cap *= 2;
        }
        json_t *o = fortune_new(vial_rows_int(r, 0), vial_rows_text(r, 1), vial_rows_len(r, 1));
        if (!o) {
            rc = VIAL_ENOMEM;
            break;
        }
        f[n].obj = o;
        f[n++].message = json_string_value(json_object_get(o, "message"));
    }
    vial_rows_close(r);
    static const char extra[] = "Additional fortune added at request time.";
    json_t *o = rc ? NULL : fortune_new(0, extra, sizeof extra - 1);
    if (o) {
        f[n].obj = o;
        f[n++].message = json_string_value(json_object_get(o, "message"));
        qsort(f, n, sizeof *f, by_message);
    }
    for (size_t i = 0; i < n; i++) /* the list owns them from here */
        json_array_append_new(list, f[i].obj);
    free(f);
    if (!o) {
        json_decref(list);
        /* a database error (vial_db_error() tells) or out of memory */
        return rc < 0 && rc != VIAL_ENOMEM ? vial_db_abort(req, d) : vial_abort(req, 500, NULL);
    }
    return vial_render_take(req, 200, "fortunes.html", json_pack("{s:o}", "fortunes", list));
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
    /* templates_dir: VIAL_TEMPLATES_DIR (or --templates-dir) wins; the default
     * is the bench/templates directory next to this source file, looked up
     * from the executable: <exe dir>/../bench/templates (a build directory
     * inside the checkout, as build-*), then <exe dir>/templates. */
    char exe[PATH_MAX], dir[PATH_MAX + 32];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el > 0) {
        exe[el] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        static const char *const rel[] = { "/../bench/templates", "/templates" };
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            struct stat st;
            snprintf(dir, sizeof dir, "%s%s", exe, rel[i]);
            if (stat(dir, &st) == 0 && S_ISDIR(st.st_mode)) {
                vial_config_default(app, "templates_dir", dir);
                break;
            }
        }
    }
    const char *path = getenv("DB_PATH");
    if (path) {
        char url[4200];
        snprintf(url, sizeof url, "sqlite://%s%s", path[0] == '/' ? "/" : "/", path);
        vial_config_default(app, "database_url", url);
    }
    vial_get(app, "/plaintext", plaintext);
    vial_get(app, "/json", json);
    vial_get(app, "/db", db);
    vial_get(app, "/fortunes", fortunes);
    vial_get(app, "/json-auth", json_auth);
    vial_get(app, "/token", token);
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

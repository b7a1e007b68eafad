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

/* 1..10000, uniformly enough, per worker thread without locks.  Each
 * thread seeds its generator from the system's random source on first use:
 * a fixed seed made every worker repeat the others' sequence and every run
 * repeat the last (TechEmpower's verifier checks that ids are random). */
static int64_t random_id(void)
{
    static _Thread_local uint64_t s;
    while (s == 0) /* xorshift's one forbidden state */
        vial_random(&s, sizeof s);
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
 * message in the application, rendered through a template that escapes.
 *
 * Each worker keeps the jansson containers of its last answer and refills
 * them: every request reads all rows again and overwrites each object's id
 * and message with them (a row deleted since is gone, one added shows), and
 * the list holds exactly this request's fortunes.  Only the allocations are
 * reused: fresh {"id","message"} objects cost 7 malloc/free pairs per row,
 * a third of the request's CPU time. */
typedef struct fortune {
    const char *message; /* the string inside msg */
    json_t *obj, *id, *msg; /* {"id": id, "message": msg}, owned by the pool */
} fortune;

typedef struct fortune_pool {
    json_t *ctx, *list; /* {"fortunes": list}; the list borrows f[0..n) */
    fortune *f;         /* f[0..made): objects made so far, reused in any order */
    size_t made, cap;
} fortune_pool;

static int fortune_slot = -1;

static void *fortune_pool_new(vial_app *app, int worker, void *ud)
{
    (void)app, (void)worker, (void)ud;
    fortune_pool *p = calloc(1, sizeof *p);
    if (p && (p->list = json_array()) && (p->ctx = json_object()) &&
        !json_object_set_nocheck(p->ctx, "fortunes", p->list))
        return p;
    if (p) {
        json_decref(p->ctx);
        json_decref(p->list);
    }
    free(p);
    return NULL;
}

static void fortune_pool_free(void *state, void *ud)
{
    (void)ud;
    fortune_pool *p = state;
    for (size_t i = 0; i < p->made; i++)
        json_decref(p->f[i].obj);
    free(p->f);
    json_decref(p->ctx);
    json_decref(p->list);
    free(p);
}

static int by_message(const void *a, const void *b)
{
    return strcmp(((const fortune *)a)->message, ((const fortune *)b)->message);
}

/* Sets slot i of the pool to (id, message), making its object on first use. */
static int fortune_set(fortune_pool *p, size_t i, int64_t id, const char *message, size_t len)
{
    if (i == p->cap) {
        size_t cap = p->cap ? 2 * p->cap : 16;
        fortune *nf = realloc(p->f, cap * sizeof *nf);
        if (!nf)
            return VIAL_ENOMEM;
        p->f = nf;
        p->cap = cap;
    }
    fortune *f = &p->f[i];
    if (i == p->made) {
        json_t *o = json_object();
        f->id = json_integer(id);
        f->msg = json_stringn_nocheck(message, len);
        int bad = !o || !f->id || !f->msg || json_object_set_nocheck(o, "id", f->id) ||
                  json_object_set_nocheck(o, "message", f->msg);
        /* the object holds its own references; f->id and f->msg live as long
         * as it does, and only this pool changes it */
        json_decref(f->id);
        json_decref(f->msg);
        if (bad) {
            json_decref(o);
            return VIAL_ENOMEM;
        }
        f->obj = o;
        p->made++;
    } else if (json_integer_set(f->id, id) || json_string_setn_nocheck(f->msg, message, len)) {
        return VIAL_ENOMEM;
    }
    f->message = json_string_value(f->msg);
    return 0;
}

static int fortunes(vial_req *req)
{
    fortune_pool *p = vial_worker_get(req, fortune_slot);
    vial_db *d = vial_db_get(req);
    if (!d)
        return 0;
    if (!p)
        return vial_abort(req, 500, NULL);
    vial_rows *r = vial_db_query(d, "SELECT id, message FROM fortune", VIAL_NOARGS);
    if (!r)
        return vial_db_abort(req, d);
    size_t n = 0;
    int rc;
    while ((rc = vial_rows_next(r)) == 1) {
        rc = fortune_set(p, n, vial_rows_int(r, 0), vial_rows_text(r, 1), vial_rows_len(r, 1));
        if (rc)
            break;
        n++;
    }
    vial_rows_close(r);
    static const char extra[] = "Additional fortune added at request time.";
    if (!rc && !(rc = fortune_set(p, n, 0, extra, sizeof extra - 1)))
        n++;
    if (rc) /* a database error (vial_db_error() tells) or out of memory */
        return rc < 0 && rc != VIAL_ENOMEM ? vial_db_abort(req, d) : vial_abort(req, 500, NULL);
    qsort(p->f, n, sizeof *p->f, by_message);
    json_array_clear(p->list);
    for (size_t i = 0; i < n; i++)
        if (json_array_append(p->list, p->f[i].obj))
            return vial_abort(req, 500, NULL);
    rc = vial_render(req, 200, "fortunes.html", p->ctx);
    json_array_clear(p->list);
    return rc;
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
    int rc = vial_jwt_issue_malloc(vial_app_of(req), claims, 24 * 3600, &t);
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
    if ((fortune_slot = vial_worker_slot(app, fortune_pool_new, fortune_pool_free, NULL)) < 0)
        return 1;
    vial_get(app, "/fortunes", fortunes);
    vial_get(app, "/json-auth", json_auth);
    vial_get(app, "/token", token);
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

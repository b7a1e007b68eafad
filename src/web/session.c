/*
 * session.c — sessions (signed cookies, or server-side in Redis or the
 * database) and CSRF tokens.
 *
 * A session is loaded on first use in a request and compared, serialized,
 * with what was loaded when the response is finished (a finisher, before
 * the head is written): only a changed session is saved and its cookie
 * sent, so ordinary page views cost no store writes and no Set-Cookie.
 */
#include "web.h"

#include <sodium.h>
#include <stdlib.h>
#include <time.h>

#define COOKIE_MAX 4000 /* browsers keep ~4 KiB per cookie */

enum { STORE_COOKIE, STORE_REDIS, STORE_DB };

typedef struct sessmod {
    int store;
    char *cookie;
    int64_t lifetime_s;
} sessmod;

static const char ext_key = 0;

static void sessmod_free(void *p)
{
    sessmod *m = p;
    free(m->cookie);
    free(m);
}

typedef struct sess {
    sessmod *m;
    json_t *data;
    char *loaded;    /* compact JSON as loaded (to detect changes) */
    const char *id;  /* server-side id, or NULL */
    bool cleared, rotate;
} sess;

/* ------------------------------------------------------------------ cookie format */

/* base64url(json {"d": data, "e": expiry}) "." base64url(mac) */
static char *seal(const vial__auth *a, json_t *data, int64_t exp)
{
    json_t *o = json_pack("{s:O,s:I}", "d", data, "e", (json_int_t)exp);
    char *js = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!js)
        return NULL;
    vial__buf b = { 0 };
    unsigned char mac[32];
    int rc = vial__b64url_encode(&b, js, strlen(js));
    free(js);
    if (!rc)
        rc = vial__auth_mac(a, "session", b.p, b.n, mac);
    if (!rc)
        rc = vial__buf_add(&b, ".", 1);
    if (!rc)
        rc = vial__b64url_encode(&b, mac, 32);
    if (!rc)
        rc = vial__buf_nul(&b);
    if (rc) {
        vial__buf_free(&b);
        return NULL;
    }
    return b.p;
}

/* The data of a sealed cookie, or NULL when forged, expired or malformed. */
static json_t *unseal(const vial__auth *a, const char *v)
{
    const char *dot = strrchr(v, '.');
    if (!dot || strlen(v) > COOKIE_MAX)
        return NULL;
    unsigned char mac[32];
    vial__buf sig = { 0 }, js = { 0 };
    json_t *out = NULL, *o = NULL;
    if (vial__auth_mac(a, "session", v, (size_t)(dot - v), mac) ||
        vial__b64url_decode(&sig, dot + 1, strlen(dot + 1)) || sig.n != 32 ||
        !vial_equal_ct(mac, sig.p, 32))
        goto out;
    if (vial__b64url_decode(&js, v, (size_t)(dot - v)) ||
        !(o = json_loadb(js.p ? js.p : "", js.n, 0, NULL)))
        goto out;
    json_t *d = json_object_get(o, "d"), *e = json_object_get(o, "e");
    if (json_is_object(d) && json_is_integer(e) && json_integer_value(e) >= (json_int_t)time(NULL))
        out = json_incref(d);
out:
    json_decref(o);
    vial__buf_free(&sig);
    vial__buf_free(&js);
    return out;
}

/* ------------------------------------------------------------------ server-side stores */

static bool id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n != 43)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = id[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              c == '_'))
            return false;
    }
    return true;
}

static const char *new_id(vial_req *req)
{
    unsigned char raw[32];
    vial_random(raw, sizeof raw);
    vial__buf b = { 0 };
    if (vial__b64url_encode(&b, raw, sizeof raw)) {
        vial__buf_free(&b);
        return NULL;
    }
    const char *id = vial_strndup(req, b.p, b.n);
    vial__buf_free(&b);
    return id;
}

/* Loads a server-side session: 0 found, VIAL_ENOENT none, other: store down. */
static int store_load(vial_req *req, sess *s, const char *id, json_t **data)
{
    const char *text = NULL;
    size_t len = 0;
    if (s->m->store == STORE_REDIS) {
        char key[80];
        snprintf(key, sizeof key, "vial:sess:%s", id);
        int rc = vial_kv_get(req, key, &text, &len);
        if (rc)
            return rc;
    } else {
        vial_db *db = vial_db_get(req);
        if (!db)
            return VIAL_EDBDOWN;
        vial_rows *r = vial_db_query(db, "SELECT data FROM vial_sessions WHERE id = $1 AND expires_at >= $2",
                                     VIAL_ARGS(VIAL_TEXT(id), VIAL_INT(time(NULL))));
        if (!r)
            return vial_db_errcode(db);
        int rc = vial_rows_next(r);
        if (rc == 1) {
            len = vial_rows_len(r, 0);
            text = vial__arena_strndup(&req->m.arena, vial_rows_text(r, 0), len);
        }
        vial_rows_close(r);
        if (rc != 1)
            return rc < 0 ? rc : VIAL_ENOENT;
        if (!text)
            return VIAL_ENOMEM;
    }
    *data = json_loadb(text, len, 0, NULL);
    if (!json_is_object(*data)) {
        json_decref(*data);
        *data = NULL;
        return VIAL_ENOENT;
    }
    return 0;
}

static int store_save(vial_req *req, sess *s, const char *id, const char *js)
{
    if (s->m->store == STORE_REDIS) {
        char key[80];
        snprintf(key, sizeof key, "vial:sess:%s", id);
        return vial_kv_set(req, key, js, strlen(js), s->m->lifetime_s * 1000);
    }
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    int64_t exp = (int64_t)time(NULL) + s->m->lifetime_s;
    int n = vial_db_exec(db, "UPDATE vial_sessions SET data = $2, expires_at = $3 WHERE id = $1",
                         VIAL_ARGS(VIAL_TEXT(id), VIAL_TEXT(js), VIAL_INT(exp)));
    if (n == 0)
        n = vial_db_exec(db, "INSERT INTO vial_sessions (id, data, expires_at) VALUES ($1, $2, $3)",
                         VIAL_ARGS(VIAL_TEXT(id), VIAL_TEXT(js), VIAL_INT(exp)));
    /* Expired rows go now and then, not on every save. */
    if (n >= 0 && randombytes_uniform(100) == 0)
        vial_db_exec(db, "DELETE FROM vial_sessions WHERE expires_at < $1", VIAL_ARGS(VIAL_INT(time(NULL))));
    return n < 0 ? vial_db_errcode(db) : 0;
}

static void store_delete(vial_req *req, sess *s, const char *id)
{
    if (s->m->store == STORE_REDIS) {
        char key[80];
        snprintf(key, sizeof key, "vial:sess:%s", id);
        vial_kv_del(req, key);
    } else {
        vial_db *db = vial_db_get(req);
        if (db)
            vial_db_exec(db, "DELETE FROM vial_sessions WHERE id = $1", VIAL_ARGS(VIAL_TEXT(id)));
    }
}

/* ------------------------------------------------------------------ per request */

static void set_cookie(vial_req *req, sess *s, const char *value, int64_t max_age)
{
    vial_cookie_opts o = { .max_age = max_age, .secure = !strcmp(vial_scheme(req), "https"),
                           .samesite = VIAL_SAMESITE_LAX };
    if (vial_set_cookie(req, s->m->cookie, value, &o))
        vial_req_log(req, VIAL_LOG_ERROR, "session: cannot set the cookie");
}

static void finish(vial_req *req, void *arg)
{
    sess *s = arg;
    const vial__auth *a = vial__auth_of(vial_app_of(req));
    if (s->cleared) {
        if (s->id)
            store_delete(req, s, s->id);
        set_cookie(req, s, "", -1);
        return;
    }
    char *now = json_dumps(s->data, JSON_COMPACT | JSON_SORT_KEYS);
    if (!now)
        return;
    bool changed = strcmp(now, s->loaded ? s->loaded : "{}") != 0 || s->rotate;
    if (!changed) {
        free(now);
        return;
    }
    if (s->m->store == STORE_COOKIE) {
        char *v = seal(a, s->data, (int64_t)time(NULL) + s->m->lifetime_s);
        if (v && strlen(v) > COOKIE_MAX)
            vial_req_log(req, VIAL_LOG_ERROR, "session: %zu bytes do not fit a cookie; not saved "
                                              "(use session_store = server)", strlen(v));
        else if (v)
            set_cookie(req, s, v, s->m->lifetime_s);
        free(v);
    } else {
        if (s->rotate && s->id)
            store_delete(req, s, s->id);
        const char *id = (!s->id || s->rotate) ? new_id(req) : s->id;
        if (id && store_save(req, s, id, now) == 0) {
            set_cookie(req, s, id, s->m->lifetime_s);
        } else {
            vial_req_log(req, VIAL_LOG_ERROR, "session: cannot save (store unavailable)");
            /* What the view did with the session did not happen (a login
             * that is not kept, a CSRF token nobody can check): the answer
             * is a 503, not the view's success. */
            if (vial_resp_status(req) < 500 && vial_abort(req, 503, "the session store is unavailable; try again "
                                                               "shortly") == 0)
                vial_set_header(req, "Retry-After", "1");
        }
    }
    free(now);
}

static void release(void *arg)
{
    sess *s = arg;
    json_decref(s->data);
    free(s->loaded);
}

static sess *load(vial_req *req)
{
    sess *s = vial_local(req, "vial.session");
    if (s)
        return s;
    vial_app *app = vial_app_of(req);
    sessmod *m = vial__app_ext(app, &ext_key);
    const vial__auth *a = vial__auth_of(app);
    if (!m || !a) {
        vial_req_log(req, VIAL_LOG_ERROR, "vial_session() without vial_session_init()");
        return NULL;
    }
    s = vial_alloc(req, sizeof *s);
    if (!s)
        return NULL;
    memset(s, 0, sizeof *s);
    s->m = m;
    const char *c = vial_cookie(req, m->cookie);
    if (c && *c) {
        if (m->store == STORE_COOKIE) {
            s->data = unseal(a, c);
        } else if (id_ok(c)) {
            int rc = store_load(req, s, c, &s->data);
            if (rc == 0)
                s->id = c;
            else if (rc != VIAL_ENOENT)
                return NULL; /* the store is down: no session rather than a wrong one */
        }
    }
    if (!s->data && !(s->data = json_object()))
        return NULL;
    s->loaded = json_dumps(s->data, JSON_COMPACT | JSON_SORT_KEYS);
    if (vial_defer(req, release, s) || vial__req_on_finish(req, finish, s) ||
        vial_set_local(req, "vial.session", s)) {
        return NULL;
    }
    return s;
}

json_t *vial_session(vial_req *req)
{
    sess *s = req ? load(req) : NULL;
    return s ? s->data : NULL;
}

int vial_session_clear(vial_req *req)
{
    sess *s = req ? load(req) : NULL;
    if (!s)
        return VIAL_EDBDOWN;
    json_object_clear(s->data);
    s->cleared = true;
    return 0;
}

int vial_session_rotate(vial_req *req)
{
    sess *s = req ? load(req) : NULL;
    if (!s)
        return VIAL_EDBDOWN;
    s->rotate = true;
    return 0;
}

/* ------------------------------------------------------------------ CSRF */

const char *vial_csrf_token(vial_req *req)
{
    json_t *d = vial_session(req);
    if (!d)
        return NULL;
    json_t *t = json_object_get(d, "_csrf");
    if (!json_is_string(t)) {
        unsigned char raw[32];
        vial_random(raw, sizeof raw);
        vial__buf b = { 0 };
        if (vial__b64url_encode(&b, raw, sizeof raw) || vial__buf_nul(&b)) {
            vial__buf_free(&b);
            return NULL;
        }
        json_object_set_new(d, "_csrf", json_string(b.p));
        vial__buf_free(&b);
        t = json_object_get(d, "_csrf");
    }
    return json_string_value(t);
}

static int csrf_hook(vial_req *req, void *ud)
{
    VIAL__UNUSED(ud);
    unsigned m = req->m.method_bit;
    if (m == VIAL_GET || m == VIAL_HEAD || m == VIAL_OPTIONS)
        return 0;
    /* A bearer token or an API key is never added by a browser on its own,
     * so such a request is not a cross-site forgery.  Basic, Digest and
     * Negotiate credentials are: they get no exemption. */
    const char *authz = vial_header(req, "authorization");
    if ((authz && vial__strneq_ci(authz, "bearer ", 7)) || vial_header(req, "x-api-key"))
        return 0;
    const char *sent = vial_header(req, "x-csrf-token");
    if (!sent)
        sent = vial_form(req, "csrf_token");
    json_t *d = vial_session(req);
    if (!d) { /* the token cannot be checked: the store is down, not the client wrong */
        if (vial_abort(req, 503, "the session store is unavailable; try again shortly") == 0)
            vial_set_header(req, "Retry-After", "1");
        return 0;
    }
    json_t *t = json_object_get(d, "_csrf");
    const char *want = json_string_value(t);
    if (!sent || !want || strlen(sent) != strlen(want) || !vial_equal_ct(sent, want, strlen(want))) {
        vial_abort(req, 403, "missing or wrong CSRF token (reload the form and try again)");
        return 0; /* answered: the view is skipped */
    }
    return 0;
}

int vial_csrf_protect(vial_bp *bp)
{
    return bp ? vial__bp_before_data(bp, csrf_hook, NULL, NULL) : VIAL_EINVAL;
}

/* ------------------------------------------------------------------ setup */

static int session_start(vial_app *app)
{
    sessmod *m = vial__app_ext(app, &ext_key);
    const char *store = vial_config(app, "session_store");
    free(m->cookie);
    m->cookie = strdup(vial_config(app, "session_cookie"));
    m->lifetime_s = vial_config_duration_ms(app, "session_lifetime", 7 * 86400000LL) / 1000;
    if (!m->cookie)
        return VIAL_ENOMEM;
    if (!strcmp(store, "cookie")) {
        m->store = STORE_COOKIE;
    } else if (!strcmp(store, "server")) {
        const char *kv = vial_kv_backend(app);
        m->store = kv && !strcmp(kv, "redis") ? STORE_REDIS : STORE_DB;
        if (m->store == STORE_DB) {
            /* The table comes from the migration set below; here only
             * whether there is a database to keep it in. */
            vial_db *db = vial_db_open(app);
            if (!db) {
                vial_log(VIAL_LOG_ERROR, "session_store = server needs redis_url or a database");
                return VIAL_EDBDOWN;
            }
            vial_db_close(db);
        }
    } else {
        vial_log(VIAL_LOG_ERROR, "session_store: '%s' is not cookie or server", store);
        return VIAL_EINVAL;
    }
    return 0;
}

/* The database store's table, as a migration, so that it is made once,
 * under the migration lock, and recorded like every other table.  IF NOT
 * EXISTS: databases from before kept it made at start. */
static const vial__migration migrations[] = {
    { "0001_vial_sessions", "CREATE TABLE IF NOT EXISTS vial_sessions ("
                            " id TEXT PRIMARY KEY, data TEXT NOT NULL, expires_at BIGINT NOT NULL)" },
    { NULL, NULL },
};

/* Whether session_start will pick the database store.  Asked when the
 * migrations run, which may be before the kv module has started, so this
 * reads its setting rather than vial_kv_backend(). */
static bool uses_db_store(vial_app *app)
{
    const char *store = vial_config(app, "session_store");
    const char *redis = vial_config(app, "redis_url");
    return store && !strcmp(store, "server") && !(redis && *redis);
}

int vial_session_init(vial_app *app)
{
    if (!app)
        return VIAL_EINVAL;
    if (vial__app_ext(app, &ext_key))
        return VIAL_EEXIST;
    int rc = vial_auth_init(app, NULL); /* the secret key */
    if (rc)
        return rc;
    sessmod *m = calloc(1, sizeof *m);
    if (!m)
        return VIAL_ENOMEM;
    if ((rc = vial__app_ext_set(app, &ext_key, m, sessmod_free))) {
        free(m);
        return rc;
    }
    if ((rc = vial_config_define(app, "session_cookie", "session", "name of the session cookie")) ||
        (rc = vial_config_define(app, "session_lifetime", "7d", "how long a session lasts")) ||
        (rc = vial_config_define(app, "session_store", "cookie",
                                 "cookie (signed, in the browser) or server (Redis with redis_url, else the database)")) ||
        (rc = vial__db_builtin_migrations(app, "vial_session", migrations, uses_db_store)))
        return rc;
    return vial_on_start(app, session_start);
}

/*
 * db.c — the backend-neutral half of the database module: settings,
 * per-worker connections, the public query API, transactions (explicit and
 * request-scoped), error mapping to HTTP statuses, rows as JSON, and the
 * per-connection statement cache.
 *
 * A worker's connection is a vial_worker_slot() whose state is the vial_db
 * itself, created unconnected; vial_db_get() connects (or reconnects) on
 * use, so a database that is down at start-up costs 503s, not a crash, and
 * comes back by itself.
 */
#include "db_impl.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* ------------------------------------------------------------------ module settings */

typedef struct dbmod {
    vial__dburl url;
    pthread_mutex_t mu;   /* the first vial_db_open may run on several threads at once */
    bool parsed;
    int slot;
    vial__dbmx mx;
    unsigned up_gen; /* bumped (atomically) by every successful (re)connect */
} dbmod;

static const char ext_key = 0;

static dbmod *mod_of(const vial_app *app)
{
    return vial__app_ext(app, &ext_key);
}

static void mod_free(void *p)
{
    dbmod *m = p;
    vial__dburl_free(&m->url);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void vial__dburl_free(vial__dburl *u)
{
    free(u->path);
    free(u->conninfo);
    u->path = u->conninfo = NULL;
}

int vial__dburl_parse(const char *url, vial__dburl *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (!url || !*url) {
        snprintf(why, whylen, "database_url is empty");
        return VIAL_EINVAL;
    }
    if (!strncmp(url, "sqlite://", 9)) {
        const char *p = url + 9;
        out->backend = VIAL__DB_SQLITE;
        if (!strcmp(p, ":memory:") || !strcmp(p, "/:memory:")) {
            out->path = strdup(":memory:");
        } else if (*p == '/' && p[1]) {
            /* sqlite:///rel/path → "rel/path"; sqlite:////abs → "/abs" */
            out->path = strdup(p + 1);
        } else {
            snprintf(why, whylen, "expected sqlite:///relative/path, sqlite:////absolute/path or sqlite://:memory:");
            return VIAL_EINVAL;
        }
        return out->path ? 0 : VIAL_ENOMEM;
    }
    if (!strncmp(url, "postgresql://", 13) || !strncmp(url, "postgres://", 11)) {
        out->backend = VIAL__DB_PG;
        out->conninfo = strdup(url);
        return out->conninfo ? 0 : VIAL_ENOMEM;
    }
    snprintf(why, whylen, "unsupported database_url scheme (sqlite:// or postgresql://)");
    return VIAL_EINVAL;
}

static int parse_url(vial_app *app, dbmod *m)
{
    pthread_mutex_lock(&m->mu);
    if (m->parsed) {
        pthread_mutex_unlock(&m->mu);
        return 0;
    }
    char why[160];
    const char *url = vial_config(app, "database_url");
    if (vial__dburl_parse(url, &m->url, why, sizeof why)) {
        pthread_mutex_unlock(&m->mu);
        vial_log(VIAL_LOG_ERROR, "database_url '%s': %s", url ? url : "", why);
        return VIAL_EINVAL;
    }
    m->parsed = true;
    /* Every series carries the backend, so one dashboard compares them. */
    const char *backend[] = { m->url.backend == VIAL__DB_PG ? "postgresql" : "sqlite", NULL };
    m->mx.s_queries = vial_metric_series(app, m->mx.queries, backend);
    m->mx.s_duration = vial_metric_series(app, m->mx.duration, backend);
    m->mx.s_waits = vial_metric_series(app, m->mx.waits, backend);
    m->mx.s_errors = vial_metric_series(app, m->mx.errors, backend);
    pthread_mutex_unlock(&m->mu);
    return 0;
}

/* ------------------------------------------------------------------ connections */

static vial_db *db_new(vial_app *app)
{
    dbmod *m = mod_of(app);
    if (!m || parse_url(app, m))
        return NULL;
    vial_db *db = calloc(1, sizeof *db);
    if (!db)
        return NULL;
    db->app = app;
    db->ops = m->url.backend == VIAL__DB_PG ? &vial__pg_ops : &vial__sqlite_ops;
    db->mx = &m->mx;
    return db;
}

int vial__db_connect(vial_db *db)
{
    db->err = 0;
    if (db->impl && !db->broken)
        return 0;
    dbmod *m = mod_of(db->app);
    unsigned gen = __atomic_load_n(&m->up_gen, __ATOMIC_ACQUIRE);
    int rc;
    if (db->impl) {
        rc = db->ops->ensure(db);
    } else {
        /* Do not hammer a database that just refused us: one try per
         * second, unless another worker has reached it since (the database
         * is back: waiting out the second would answer 503 for nothing). */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
        if (now < db->next_retry_ms && gen == db->fail_gen)
            return vial__db_fail(db, VIAL_EDBDOWN, "database unavailable (retrying shortly)");
        rc = db->ops->connect(db, &m->url);
        if (rc) {
            db->next_retry_ms = now + 1000;
            db->fail_gen = gen;
        }
    }
    if (!rc)
        __atomic_fetch_add(&m->up_gen, 1, __ATOMIC_RELEASE);
    return rc;
}

static void rows_close_all(vial_db *db)
{
    while (db->open)
        vial_rows_close(db->open);
}

static void db_free(vial_db *db)
{
    if (!db)
        return;
    rows_close_all(db);
    if (db->impl)
        db->ops->disconnect(db);
    free(db);
}

static void *slot_init(vial_app *app, int worker, void *ud)
{
    VIAL__UNUSED(worker);
    VIAL__UNUSED(ud);
    return db_new(app);
}

static void slot_fini(void *state, void *ud)
{
    VIAL__UNUSED(ud);
    db_free(state);
}

vial_db *vial_db_open(vial_app *app)
{
    vial_db *db = db_new(app);
    if (!db)
        return NULL;
    db->standalone = true;
    if (vial__db_connect(db)) {
        vial_log(VIAL_LOG_ERROR, "cannot open the database: %s", db->errmsg);
        db_free(db);
        return NULL;
    }
    return db;
}

void vial_db_close(vial_db *db)
{
    if (db && db->in_tx)
        vial_db_rollback(db);
    db_free(db);
}

const char *vial_db_backend(const vial_db *db)
{
    return db ? db->ops->name : NULL;
}

/* Request end: nothing a handler left open survives into the next request. */
static void request_done(void *arg)
{
    vial_db *db = arg;
    rows_close_all(db);
    if (db->in_tx) {
        vial_req_log(db->req, VIAL_LOG_WARN, "request ended inside a transaction: rolled back");
        vial_db_rollback(db);
    }
    db->req = NULL;
}

vial_db *vial_db_get(vial_req *req)
{
    if (!req)
        return NULL;
    dbmod *m = mod_of(req->app);
    if (!m) {
        vial_req_log(req, VIAL_LOG_ERROR, "vial_db_get() without vial_db_init()");
        vial_abort(req, 500, NULL);
        return NULL;
    }
    vial_db *db = vial_worker_get(req, m->slot);
    if (!db) {
        vial_db_unavailable(req);
        return NULL;
    }
    if (db->req != req) {
        if (vial_defer(req, request_done, db)) {
            vial_abort(req, 503, "out of memory");
            return NULL;
        }
        db->req = req;
        if (db->impl && !db->broken && !db->in_tx && db->ops->check_idle)
            db->ops->check_idle(db);
    }
    if (vial__db_connect(db)) {
        vial_req_log(req, VIAL_LOG_ERROR, "database: %s", db->errmsg);
        vial_db_unavailable(req);
        return NULL;
    }
    return db;
}

/* ------------------------------------------------------------------ errors */

int vial__db_fail(vial_db *db, int code, const char *fmt, ...)
{
    db->err = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->errmsg, sizeof db->errmsg, fmt, ap);
    va_end(ap);
    /* libpq messages end with a newline */
    size_t n = strlen(db->errmsg);
    while (n && (db->errmsg[n - 1] == '\n' || db->errmsg[n - 1] == ' '))
        db->errmsg[--n] = '\0';
    return code;
}

int vial_db_errcode(const vial_db *db)
{
    return db ? db->err : VIAL_EINVAL;
}

const char *vial_db_error(const vial_db *db)
{
    return db ? db->errmsg : "no database";
}

int vial_db_unavailable(vial_req *req)
{
    int rc = vial_abort(req, 503, "the database is unavailable; try again shortly");
    vial_set_header(req, "Retry-After", "1");
    return rc;
}

int vial_db_abort(vial_req *req, vial_db *db)
{
    int code = db ? db->err : VIAL_EDB;
    const char *msg = db ? db->errmsg : "database error";
    switch (code) {
    case VIAL_EUNIQUE:
        return vial_abortf(req, 409, "already exists (%s)", msg);
    case VIAL_EFKEY:
        return vial_abortf(req, 409, "refers to something that does not exist, or is still referred to (%s)", msg);
    case VIAL_ECHECK:
    case VIAL_EBADVALUE:
        return vial_abortf(req, 400, "value rejected: %s", msg);
    case VIAL_EDBDOWN:
    case VIAL_EBUSY:
        vial_req_log(req, VIAL_LOG_WARN, "database: %s", msg);
        return vial_db_unavailable(req);
    default:
        vial_req_log(req, VIAL_LOG_ERROR, "database: %s", msg);
        return vial_abort(req, 500, "database error");
    }
}

/* ------------------------------------------------------------------ queries */

void vial__db_track(vial_db *db, vial_rows *r)
{
    r->db = db;
    r->next_open = db->open;
    if (db->open)
        db->open->prev_open = &r->next_open;
    r->prev_open = &db->open;
    db->open = r;
}

/* ------------------------------------------------------------------ metrics */

/* Series of a metric declared when metrics are off are negative:
 * vial_metric_add_series() refuses them, costing a comparison. */
void vial__db_count(vial_db *db, uint64_t t0_ns, int rc)
{
    const vial__dbmx *x = db->mx;
    vial_metric_add_series(db->app, db->req, x->queries, x->s_queries, 1);
    vial_metric_add_series(db->app, db->req, x->duration, x->s_duration,
                           (double)(vial__now_ns() - t0_ns) / 1e9);
    if (rc < 0)
        vial_metric_add_series(db->app, db->req, x->errors, x->s_errors, 1);
}

void vial__db_waited(vial_db *db)
{
    vial_metric_add_series(db->app, db->req, db->mx->waits, db->mx->s_waits, 1);
}

/* Every statement goes through here: a statement with rows is timed until
 * they are closed (SQLite does its work while they are read). */
static int run(vial_db *db, const char *sql, const vial_val *args, size_t nargs, vial_rows **rows,
               bool once)
{
    uint64_t t0 = vial__now_ns();
    int rc = db->ops->run(db, sql, args, nargs, rows, once);
    if (rows && *rows && rc >= 0)
        (*rows)->t0_ns = t0;
    else
        vial__db_count(db, t0, rc);
    return rc;
}

static int check_args(vial_db *db, const vial_val *args, size_t nargs)
{
    if (nargs && !args)
        return vial__db_fail(db, VIAL_EINVAL, "arguments missing");
    for (size_t i = 0; i < nargs; i++)
        if (args[i].type < VIAL_T_NULL || args[i].type > VIAL_T_JSON)
            return vial__db_fail(db, VIAL_EINVAL, "argument $%zu has an unknown type", i + 1);
    return 0;
}

int vial_db_exec_dynamic(vial_db *db, const char *sql, const vial_val *args, size_t nargs)
{
    if (!db || !sql)
        return VIAL_EINVAL;
    int rc = check_args(db, args, nargs);
    if (!rc)
        rc = vial__db_connect(db);
    if (rc)
        return rc;
    db->err = 0;
    return run(db, sql, args, nargs, NULL, false);
}

int vial__db_run_once(vial_db *db, const char *sql, const vial_val *args, size_t nargs,
                      vial_rows **rows)
{
    int rc = check_args(db, args, nargs);
    if (!rc)
        rc = vial__db_connect(db);
    if (rc)
        return rc;
    db->err = 0;
    return run(db, sql, args, nargs, rows, true);
}

vial_rows *vial_db_query_dynamic(vial_db *db, const char *sql, const vial_val *args, size_t nargs)
{
    if (!db || !sql)
        return NULL;
    if (check_args(db, args, nargs) || vial__db_connect(db))
        return NULL;
    db->err = 0;
    vial_rows *r = NULL;
    if (run(db, sql, args, nargs, &r, false) < 0)
        return NULL;
    return r;
}

vial_rows *vial_db_one_dynamic(vial_req *req, vial_db *db, const char *sql, const vial_val *args,
                               size_t nargs, const char *notfound)
{
    if (!req)
        return NULL;
    if (!db) {
        if (!vial_responded(req))
            vial_db_unavailable(req);
        return NULL;
    }
    vial_rows *r = vial_db_query_dynamic(db, sql, args, nargs);
    int rc = r ? vial_rows_next(r) : -1;
    if (rc == 1)
        return r;
    vial_rows_close(r);
    if (rc == 0)
        vial_abort(req, 404, notfound);
    else
        vial_db_abort(req, db);
    return NULL;
}

int vial_db_script(vial_db *db, const char *sql)
{
    if (!db || !sql)
        return VIAL_EINVAL;
    int rc = vial__db_connect(db);
    if (rc)
        return rc;
    db->err = 0;
    return db->ops->script(db, sql);
}

int vial_db_bulk_mode(vial_db *db, int on)
{
    if (!db)
        return VIAL_EINVAL;
    int rc = vial__db_connect(db);
    if (rc)
        return rc;
    db->err = 0;
    return db->ops->bulk_mode(db, on != 0);
}

int64_t vial_db_last_id(vial_db *db)
{
    return db && db->impl ? db->ops->last_id(db) : 0;
}

/* ------------------------------------------------------------------ transactions */

int vial_db_begin(vial_db *db)
{
    if (!db)
        return VIAL_EINVAL;
    if (db->in_tx)
        return vial__db_fail(db, VIAL_ESTATE, "a transaction is already open");
    int rc = vial__db_connect(db);
    if (rc)
        return rc;
    db->err = 0;
    rc = db->ops->begin ? db->ops->begin(db) : db->ops->script(db, "BEGIN");
    if (rc == 0)
        db->in_tx = true;
    return rc;
}

int vial_db_commit(vial_db *db)
{
    if (!db || !db->in_tx)
        return db ? vial__db_fail(db, VIAL_ESTATE, "no transaction is open") : VIAL_EINVAL;
    int rc = vial_db_script(db, "COMMIT");
    db->in_tx = false;
    if (rc && !db->broken) {
        /* A failed COMMIT leaves nothing committed; make sure nothing stays
         * open, and report the commit's error, not the rollback's. */
        int code = db->err;
        char msg[sizeof db->errmsg];
        memcpy(msg, db->errmsg, sizeof msg);
        vial_db_script(db, "ROLLBACK");
        db->err = code;
        memcpy(db->errmsg, msg, sizeof msg);
    }
    if (db->ops->end)
        db->ops->end(db);
    return rc;
}

int vial_db_rollback(vial_db *db)
{
    if (!db || !db->in_tx)
        return db ? vial__db_fail(db, VIAL_ESTATE, "no transaction is open") : VIAL_EINVAL;
    db->in_tx = false;
    rows_close_all(db);
    int rc = vial_db_script(db, "ROLLBACK");
    if (db->ops->end)
        db->ops->end(db);
    return db->broken ? 0 : rc; /* a dropped connection rolled back by itself */
}

static void tx_finish(vial_req *req, void *arg)
{
    vial_db *db = arg;
    if (!db->in_tx)
        return;
    int status = vial_resp_status(req);
    if (status == 0 || status >= 400) {
        vial_db_rollback(db);
        return;
    }
    rows_close_all(db);
    if (vial_db_commit(db)) {
        /* The client must not read success for a write that is not there. */
        vial__req_reset_response(req);
        vial_db_abort(req, db);
    }
}

int vial_db_tx(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    int rc = vial_db_begin(db);
    if (rc) {
        vial_db_abort(req, db);
        return rc;
    }
    if (vial__req_on_finish(req, tx_finish, db)) {
        vial_db_rollback(db);
        vial_abort(req, 503, "out of memory");
        return VIAL_ENOMEM;
    }
    return 0;
}

/* ------------------------------------------------------------------ rows */

int vial_rows_next(vial_rows *r)
{
    return r ? r->db->ops->next(r) : VIAL_EINVAL;
}

size_t vial_rows_ncols(const vial_rows *r)
{
    return r ? r->ncols : 0;
}

const char *vial_rows_name(const vial_rows *r, size_t col)
{
    return r && col < r->ncols ? r->db->ops->name_of(r, col) : NULL;
}

int vial_rows_col(const vial_rows *r, const char *name)
{
    for (size_t i = 0; r && name && i < r->ncols; i++)
        if (!strcmp(r->db->ops->name_of(r, i), name))
            return (int)i;
    return -1;
}

vial_type vial_rows_type(vial_rows *r, size_t col)
{
    return r && col < r->ncols ? r->db->ops->type_of(r, col) : VIAL_T_NULL;
}

int vial_rows_isnull(vial_rows *r, size_t col)
{
    return !r || col >= r->ncols || r->db->ops->isnull(r, col);
}

int64_t vial_rows_int(vial_rows *r, size_t col)
{
    return r && col < r->ncols ? r->db->ops->get_int(r, col) : 0;
}

double vial_rows_double(vial_rows *r, size_t col)
{
    return r && col < r->ncols ? r->db->ops->get_double(r, col) : 0.0;
}

int vial_rows_bool(vial_rows *r, size_t col)
{
    return vial_rows_int(r, col) != 0;
}

const char *vial_rows_text(vial_rows *r, size_t col)
{
    size_t n;
    return r && col < r->ncols ? r->db->ops->get_text(r, col, &n) : NULL;
}

size_t vial_rows_len(vial_rows *r, size_t col)
{
    size_t n = 0;
    if (r && col < r->ncols)
        r->db->ops->get_text(r, col, &n);
    return n;
}

void vial_rows_jw_row(vial_rows *r, vial_jw *w)
{
    if (!r || !w)
        return;
    vial_jw_object(w);
    for (size_t i = 0; i < r->ncols; i++) {
        vial_jw_key(w, r->db->ops->name_of(r, i));
        size_t n;
        const char *t;
        switch (r->db->ops->type_of(r, i)) {
        case VIAL_T_NULL: vial_jw_null(w); break;
        case VIAL_T_INT: vial_jw_int(w, r->db->ops->get_int(r, i)); break;
        case VIAL_T_DOUBLE: vial_jw_double(w, r->db->ops->get_double(r, i)); break;
        case VIAL_T_BOOL: vial_jw_bool(w, r->db->ops->get_int(r, i) != 0); break;
        case VIAL_T_JSON:
            t = r->db->ops->get_text(r, i, &n);
            vial_jw_raw(w, t, n);
            break;
        default:
            t = r->db->ops->get_text(r, i, &n);
            vial_jw_strn(w, t ? t : "", n);
        }
    }
    vial_jw_end(w);
}

int64_t vial_rows_jw(vial_rows *r, vial_jw *w)
{
    if (!r || !w)
        return VIAL_EINVAL;
    int64_t count = 0;
    int rc;
    vial_jw_array(w);
    while ((rc = vial_rows_next(r)) > 0) {
        vial_rows_jw_row(r, w);
        count++;
    }
    vial_jw_end(w);
    if (rc < 0)
        return rc;
    return vial_jw_error(w) ? vial_jw_error(w) : count;
}

json_t *vial_rows_json(vial_rows *r)
{
    if (!r)
        return NULL;
    json_t *arr = json_array();
    int rc;
    while (arr && (rc = vial_rows_next(r)) > 0) {
        json_t *o = json_object();
        for (size_t i = 0; o && i < r->ncols; i++) {
            size_t n;
            const char *t;
            json_t *v;
            switch (r->db->ops->type_of(r, i)) {
            case VIAL_T_NULL: v = json_null(); break;
            case VIAL_T_INT: v = json_integer((json_int_t)r->db->ops->get_int(r, i)); break;
            case VIAL_T_DOUBLE: v = json_real(r->db->ops->get_double(r, i)); break;
            case VIAL_T_BOOL: v = json_boolean(r->db->ops->get_int(r, i) != 0); break;
            case VIAL_T_JSON:
                t = r->db->ops->get_text(r, i, &n);
                v = json_loadb(t, n, JSON_DECODE_ANY, NULL);
                break;
            default:
                t = r->db->ops->get_text(r, i, &n);
                v = json_stringn_nocheck(t ? t : "", n);
            }
            if (!v || json_object_set_new(o, r->db->ops->name_of(r, i), v)) {
                json_decref(o);
                o = NULL;
            }
        }
        if (!o || json_array_append_new(arr, o)) {
            json_decref(arr);
            return NULL;
        }
    }
    if (arr && rc < 0) {
        json_decref(arr);
        return NULL;
    }
    return arr;
}

void vial_rows_close(vial_rows *r)
{
    if (!r)
        return;
    *r->prev_open = r->next_open;
    if (r->next_open)
        r->next_open->prev_open = r->prev_open;
    vial_db *db = r->db;
    uint64_t t0 = r->t0_ns;
    db->ops->rows_free(r);
    if (t0)
        vial__db_count(db, t0, 0);
}

/* ------------------------------------------------------------------ statement cache */

struct vial__stmt_cache {
    vial__cached *ents;
    size_t n, cap; /* open addressing, cap a power of two */
};

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

size_t vial__cache_size(const vial__stmt_cache *c)
{
    return c ? c->n : 0;
}

vial__cached *vial__cache_find(vial__stmt_cache **cp, const char *sql)
{
    vial__stmt_cache *c = *cp;
    if (!c || !c->cap)
        return NULL;
    size_t i = hash(sql) & (c->cap - 1);
    while (c->ents[i].sql) {
        if (!strcmp(c->ents[i].sql, sql))
            return &c->ents[i];
        i = (i + 1) & (c->cap - 1);
    }
    return NULL;
}

vial__cached *vial__cache_add(vial__stmt_cache **cp, const char *sql, void *stmt)
{
    vial__stmt_cache *c = *cp;
    if (!c && !(c = *cp = calloc(1, sizeof *c)))
        return NULL;
    if ((c->n + 1) * 2 > c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        vial__cached *e = calloc(cap, sizeof *e);
        if (!e)
            return NULL;
        for (size_t k = 0; k < c->cap; k++) {
            if (!c->ents[k].sql)
                continue;
            size_t j = hash(c->ents[k].sql) & (cap - 1);
            while (e[j].sql)
                j = (j + 1) & (cap - 1);
            e[j] = c->ents[k];
        }
        free(c->ents);
        c->ents = e;
        c->cap = cap;
    }
    char *copy = strdup(sql);
    if (!copy)
        return NULL;
    size_t i = hash(sql) & (c->cap - 1);
    while (c->ents[i].sql)
        i = (i + 1) & (c->cap - 1);
    c->ents[i] = (vial__cached){ copy, stmt, false, -1 };
    c->n++;
    return &c->ents[i];
}

void vial__cache_clear(vial__stmt_cache **cp, void (*fin)(void *stmt))
{
    vial__stmt_cache *c = *cp;
    if (!c)
        return;
    for (size_t i = 0; i < c->cap; i++) {
        if (c->ents[i].sql) {
            if (fin)
                fin(c->ents[i].stmt);
            free(c->ents[i].sql);
        }
    }
    free(c->ents);
    free(c);
    *cp = NULL;
}

/* ------------------------------------------------------------------ setup */

/* /readyz: the worker's own connection answers SELECT 1. */
static int ready(vial_req *req, void *ud, char *why, size_t whylen)
{
    dbmod *m = ud;
    vial_db *db = vial_worker_get(req, m->slot);
    if (!db) {
        snprintf(why, whylen, "no connection");
        return VIAL_EDBDOWN;
    }
    vial_rows *r = NULL;
    int rc = vial__db_connect(db);
    if (!rc)
        rc = run(db, "SELECT 1", NULL, 0, &r, false);
    if (!rc && vial_rows_next(r) != 1)
        rc = db->err ? db->err : VIAL_EDB;
    vial_rows_close(r);
    if (rc)
        snprintf(why, whylen, "%s", *db->errmsg ? db->errmsg : vial_strerror(rc));
    return rc < 0 ? rc : 0;
}

static int on_start(vial_app *app)
{
    dbmod *m = mod_of(app);
    if (parse_url(app, m))
        return VIAL_EINVAL;
    if (m->url.backend == VIAL__DB_SQLITE && strcmp(m->url.path, ":memory:")) {
        /* Create the directory of the database file (data/ by default). */
        char *dir = strdup(m->url.path);
        if (!dir)
            return VIAL_ENOMEM;
        for (char *p = dir + 1; *p; p++) {
            if (*p == '/') {
                *p = '\0';
                if (mkdir(dir, 0755) && errno != EEXIST) {
                    vial_log(VIAL_LOG_ERROR, "cannot create %s: %s", dir, strerror(errno));
                    free(dir);
                    return VIAL_EIO;
                }
                *p = '/';
            }
        }
        free(dir);
    }
    /* `migrate` applies them itself, saying what it applied. */
    const char *cmd = vial_app_command(app);
    if (!vial_config_bool(app, "auto_migrate", 1) || (cmd && !strcmp(cmd, "migrate")))
        return 0;
    vial_db *db = vial_db_open(app);
    if (!db)
        return VIAL_EDBDOWN;
    int rc = vial__migrate(app, db, false);
    vial_db_close(db);
    return rc;
}

static int cmd_migrate(vial_app *app, int argc, char **argv)
{
    if (argc > 0) {
        fprintf(stderr, "migrate: unexpected argument '%s'\n", argv[0]);
        return 2;
    }
    vial_db *db = vial_db_open(app);
    if (!db)
        return 1;
    int rc = vial__migrate(app, db, true);
    vial_db_close(db);
    return rc ? 1 : 0;
}

int vial_db_init(vial_app *app)
{
    if (!app)
        return VIAL_EINVAL;
    vial__sqlite_global_init();
    if (mod_of(app))
        return VIAL_EEXIST;
    dbmod *m = calloc(1, sizeof *m);
    if (!m)
        return VIAL_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    int rc = vial__config_define_env(app, "database_url", "sqlite:///data/vial.db",
                                "sqlite:///path, sqlite://:memory: or postgresql://user:pass@host/db");
    if (!rc)
        rc = vial_config_define(app, "migrations_dir", "migrations",
                                "directory with sqlite/ and postgresql/ migration files, applied after every other set");
    if (!rc)
        rc = vial_config_define(app, "migrations_root", ".",
                                "where the relative folders of vial_db_migrations() sets are found");
    if (!rc)
        rc = vial_config_define(app, "auto_migrate", "on", "apply pending migrations at start");
    if (!rc)
        rc = vial_config_define(app, "db_timeout", "30s", "PostgreSQL statement_timeout");
    if (!rc)
        rc = vial_config_define(app, "sqlite_synchronous", "normal",
                                "SQLite synchronous: normal (survives process crashes) or full (power loss too)");
    if (!rc)
        rc = vial_config_define(app, "db_connect_timeout", "5s", "PostgreSQL connect timeout");
    if (!rc)
        rc = vial__app_ext_set(app, &ext_key, m, mod_free);
    if (rc) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return rc;
    }
    static const char *const backend[] = { "backend", NULL };
    m->mx.queries = vial_counter(app, "vial_db_queries_total", "SQL statements run", backend);
    m->mx.duration = vial_histogram(app, "vial_db_query_duration_seconds",
                                    "SQL statement time, until its rows were closed", backend, NULL, 0);
    m->mx.waits = vial_counter(app, "vial_db_pool_waits_total",
                               "statements that waited for a connection or the writer lock", backend);
    m->mx.errors = vial_counter(app, "vial_db_errors_total", "SQL statements that failed", backend);
    m->slot = vial_worker_slot(app, slot_init, slot_fini, NULL);
    if (m->slot < 0)
        return m->slot;
    if ((rc = vial_ready_check(app, "database", ready, m)))
        return rc;
    if ((rc = vial_on_start(app, on_start)))
        return rc;
    return vial_command(app, "migrate", cmd_migrate, "apply pending database migrations");
}

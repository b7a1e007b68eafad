/*
 * sqlite.c — the SQLite backend: one connection per worker on the same
 * file, WAL mode (readers never block the writer), a busy timeout for the
 * rare concurrent write, foreign keys on, prepared statements cached per
 * connection.
 *
 * Placeholders are written $1, $2 ... as for PostgreSQL; SQLite treats
 * "$1" as a named parameter, and each parameter is bound by the number in
 * its name, so order and repetition in the SQL do not matter.
 *
 * Durability: with synchronous=NORMAL in WAL mode a committed transaction
 * survives the process being killed (kill -9): the WAL is written before
 * COMMIT returns and only fsync to the device is deferred.  Surviving power
 * loss needs sqlite_synchronous=full.
 */
#include "db.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>


typedef struct srows {
    vial_rows base;
    sqlite3_stmt *st;
    vial__cached *ce; /* NULL: finalize when done */
} srows;

/* ------------------------------------------------------------------ errors */

static int map_error(vial_db *db, int rc)
{
    sqlite3 *s = db->impl;
    int ext = s ? sqlite3_extended_errcode(s) : rc;
    const char *msg = s ? sqlite3_errmsg(s) : sqlite3_errstr(rc);
    int code;
    switch (ext) {
    case SQLITE_CONSTRAINT_UNIQUE:
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_ROWID:
        code = VIAL_EUNIQUE;
        break;
    case SQLITE_CONSTRAINT_FOREIGNKEY:
        code = VIAL_EFKEY;
        break;
    default:
        switch (ext & 0xff) {
        case SQLITE_CONSTRAINT: code = VIAL_ECHECK; break;
        case SQLITE_MISMATCH:
        case SQLITE_TOOBIG:
        case SQLITE_RANGE: code = VIAL_EBADVALUE; break;
        case SQLITE_BUSY:
        case SQLITE_LOCKED: code = VIAL_EBUSY; break;
        case SQLITE_CANTOPEN:
        case SQLITE_NOTADB: code = VIAL_EDBDOWN; break;
        case SQLITE_NOMEM: code = VIAL_ENOMEM; break;
        default: code = VIAL_EDB;
        }
    }
    return vial__db_fail(db, code, "%s", msg);
}

/* ------------------------------------------------------------------ connection */

/*
 * ":memory:" must be one database for every worker, so it is a named
 * shared-cache memory database, kept alive by one connection that lives as
 * long as the process.
 */
static pthread_mutex_t keeper_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *keeper;
static const char mem_uri[] = "file:vial-memdb?mode=memory&cache=shared";

static int s_connect(vial_db *db, const vial__dburl *url)
{
    bool mem = !strcmp(url->path, ":memory:");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (mem) {
        flags |= SQLITE_OPEN_URI;
        pthread_mutex_lock(&keeper_mu);
        if (!keeper && sqlite3_open_v2(mem_uri, &keeper, flags, NULL) != SQLITE_OK) {
            sqlite3_close(keeper);
            keeper = NULL;
        }
        pthread_mutex_unlock(&keeper_mu);
    }
    sqlite3 *s = NULL;
    int rc = sqlite3_open_v2(mem ? mem_uri : url->path, &s, flags, NULL);
    if (rc != SQLITE_OK) {
        vial__db_fail(db, VIAL_EDBDOWN, "cannot open %s: %s", url->path,
                      s ? sqlite3_errmsg(s) : sqlite3_errstr(rc));
        sqlite3_close(s);
        return VIAL_EDBDOWN;
    }
    sqlite3_extended_result_codes(s, 1);
    sqlite3_busy_timeout(s, 5000);
    db->impl = s;
    const char *sync = vial_config(db->app, "sqlite_synchronous");
    bool full = sync && !strcasecmp(sync, "full");
    char pragmas[200];
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s; PRAGMA foreign_keys=ON;",
             full ? "FULL" : "NORMAL");
    char *err = NULL;
    if (sqlite3_exec(s, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        vial__db_fail(db, VIAL_EDBDOWN, "cannot configure %s: %s", url->path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(s);
        db->impl = NULL;
        return VIAL_EDBDOWN;
    }
    return 0;
}

static void fin_stmt(void *st)
{
    sqlite3_finalize(st);
}

static void s_disconnect(vial_db *db)
{
    vial__cache_clear((vial__stmt_cache **)&db->cache, fin_stmt);
    sqlite3_close(db->impl);
    db->impl = NULL;
}

static int s_ensure(vial_db *db)
{
    return db->impl ? 0 : VIAL_EDBDOWN;
}

static int s_script(vial_db *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db->impl, sql, NULL, NULL, &err);
    sqlite3_free(err);
    return rc == SQLITE_OK ? 0 : map_error(db, rc);
}

/* ------------------------------------------------------------------ statements */

static int bind(vial_db *db, sqlite3_stmt *st, const vial_val *args, size_t nargs, bool copy)
{
    /* SQLite counts distinct names, so "$1 ... $1" is one placeholder. */
    int count = sqlite3_bind_parameter_count(st);
    if ((size_t)count != nargs)
        return vial__db_fail(db, VIAL_EINVAL, "the statement has %d placeholder(s), %zu value(s) given",
                             count, nargs);
    sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
    for (int j = 1; j <= count; j++) {
        const char *name = sqlite3_bind_parameter_name(st, j);
        long k = j;
        if (name) {
            char *end;
            k = name[0] == '$' ? strtol(name + 1, &end, 10) : 0;
            if (name[0] != '$' || *end || k < 1)
                return vial__db_fail(db, VIAL_EINVAL, "placeholder %s: write $1, $2 ...", name);
        }
        if ((size_t)k > nargs)
            return vial__db_fail(db, VIAL_EINVAL, "placeholder $%ld has no value (%zu given)", k, nargs);
        const vial_val *v = &args[k - 1];
        int rc;
        switch (v->type) {
        case VIAL_T_INT:
        case VIAL_T_BOOL: rc = sqlite3_bind_int64(st, j, v->u.i); break;
        case VIAL_T_DOUBLE: rc = sqlite3_bind_double(st, j, v->u.d); break;
        case VIAL_T_TEXT:
        case VIAL_T_JSON:
            rc = v->u.s.p ? sqlite3_bind_text64(st, j, v->u.s.p,
                                                v->u.s.n == (size_t)-1 ? strlen(v->u.s.p) : v->u.s.n,
                                                how, SQLITE_UTF8)
                          : sqlite3_bind_null(st, j);
            break;
        case VIAL_T_BLOB:
            rc = v->u.s.p ? sqlite3_bind_blob64(st, j, v->u.s.p, v->u.s.n, how)
                          : sqlite3_bind_null(st, j);
            break;
        default: rc = sqlite3_bind_null(st, j);
        }
        if (rc != SQLITE_OK)
            return map_error(db, rc);
    }
    return 0;
}

static void release(sqlite3_stmt *st, vial__cached *ce)
{
    if (ce) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        ce->busy = false;
    } else {
        sqlite3_finalize(st);
    }
}

static int s_run(vial_db *db, const char *sql, const vial_val *args, size_t nargs, vial_rows **rows,
                 bool once)
{
    sqlite3 *s = db->impl;
    vial__stmt_cache **cache = (vial__stmt_cache **)&db->cache;
    vial__cached *ce = vial__cache_find(cache, sql);
    sqlite3_stmt *st = NULL;
    if (ce && !ce->busy) {
        st = ce->stmt;
    } else {
        /* Not cached yet, or in use by rows still open (a nested query of
         * the same SQL): prepare a statement of its own. */
        bool keep = !ce && !once && vial__cache_size(*cache) < VIAL__DB_CACHE_MAX;
        const char *tail = NULL;
        int rc = sqlite3_prepare_v3(s, sql, -1, keep ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
        if (rc != SQLITE_OK)
            return map_error(db, rc);
        if (!st)
            return vial__db_fail(db, VIAL_EINVAL, "empty SQL statement");
        while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';' || *tail == '\r'))
            tail++;
        if (tail && *tail) {
            sqlite3_finalize(st);
            return vial__db_fail(db, VIAL_EINVAL, "one statement per call (use vial_db_script for several)");
        }
        ce = NULL;
        if (keep) {
            ce = vial__cache_add(cache, sql, st);
            if (!ce) {
                sqlite3_finalize(st);
                return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
            }
        }
    }
    int rc = bind(db, st, args, nargs, rows != NULL);
    if (rc) {
        release(st, ce);
        return rc;
    }
    if (!rows) {
        int step;
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            ;
        if (step != SQLITE_DONE) {
            rc = map_error(db, step);
            release(st, ce);
            return rc;
        }
        int64_t changes = sqlite3_changes64(s);
        release(st, ce);
        return changes > INT32_MAX ? INT32_MAX : (int)changes;
    }
    srows *r = calloc(1, sizeof *r);
    if (!r) {
        release(st, ce);
        return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
    }
    r->st = st;
    r->ce = ce;
    if (ce)
        ce->busy = true;
    r->base.ncols = (size_t)sqlite3_column_count(st);
    r->base.impl = r;
    vial__db_track(db, &r->base);
    *rows = &r->base;
    return 0;
}

static int64_t s_last_id(vial_db *db)
{
    return sqlite3_last_insert_rowid(db->impl);
}

/* ------------------------------------------------------------------ rows */

static int s_next(vial_rows *rb)
{
    srows *r = (srows *)rb;
    int rc = sqlite3_step(r->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return map_error(rb->db, rc);
}

static const char *s_name(const vial_rows *rb, size_t col)
{
    return sqlite3_column_name(((const srows *)rb)->st, (int)col);
}

static bool decl_has(sqlite3_stmt *st, int col, const char *what)
{
    const char *d = sqlite3_column_decltype(st, col);
    return d && strcasestr(d, what);
}

static vial_type s_type(vial_rows *rb, size_t col)
{
    sqlite3_stmt *st = ((srows *)rb)->st;
    switch (sqlite3_column_type(st, (int)col)) {
    case SQLITE_INTEGER: return decl_has(st, (int)col, "BOOL") ? VIAL_T_BOOL : VIAL_T_INT;
    case SQLITE_FLOAT: return VIAL_T_DOUBLE;
    case SQLITE_TEXT: return decl_has(st, (int)col, "JSON") ? VIAL_T_JSON : VIAL_T_TEXT;
    case SQLITE_BLOB: return VIAL_T_BLOB;
    default: return VIAL_T_NULL;
    }
}

static int s_isnull(vial_rows *rb, size_t col)
{
    return sqlite3_column_type(((srows *)rb)->st, (int)col) == SQLITE_NULL;
}

static int64_t s_int(vial_rows *rb, size_t col)
{
    return sqlite3_column_int64(((srows *)rb)->st, (int)col);
}

static double s_double(vial_rows *rb, size_t col)
{
    return sqlite3_column_double(((srows *)rb)->st, (int)col);
}

static const char *s_text(vial_rows *rb, size_t col, size_t *len)
{
    sqlite3_stmt *st = ((srows *)rb)->st;
    if (sqlite3_column_type(st, (int)col) == SQLITE_NULL) {
        *len = 0;
        return NULL;
    }
    const char *t = (const char *)sqlite3_column_text(st, (int)col);
    *len = (size_t)sqlite3_column_bytes(st, (int)col);
    return t;
}

static void s_rows_free(vial_rows *rb)
{
    srows *r = (srows *)rb;
    release(r->st, r->ce);
    free(r);
}

const vial__dbops vial__sqlite_ops = {
    .name = "sqlite",
    .connect = s_connect,
    .disconnect = s_disconnect,
    .ensure = s_ensure,
    .script = s_script,
    .run = s_run,
    .last_id = s_last_id,
    .next = s_next,
    .name_of = s_name,
    .type_of = s_type,
    .isnull = s_isnull,
    .get_int = s_int,
    .get_double = s_double,
    .get_text = s_text,
    .rows_free = s_rows_free,
};

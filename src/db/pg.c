/*
 * pg.c — the PostgreSQL backend (libpq): one connection per worker,
 * statements prepared once per connection (PQprepare) and executed with
 * PQexecPrepared, parameters sent out of band — never spliced into SQL.
 *
 * A connection the server dropped (restart, admin shutdown, network) is
 * marked broken when a call fails; the failing request gets 503 and the
 * next use reconnects (PQreset) and re-prepares lazily.  Queries are
 * synchronous on the worker, as handlers are; statement_timeout (db_timeout)
 * bounds how long one can hold a worker.
 *
 * libpq is not linked: it is loaded (dlopen) on the first connection.  It
 * brings ~20 libraries (GnuTLS, Kerberos, LDAP, ...) whose constructors
 * alone cost ~4 MiB of RSS, which a server on SQLite should not pay.
 */
#include "db_impl.h"

#include <dlfcn.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ loading libpq */

#define PQ_FUNCS(X)                                                                            \
    X(PQclear) X(PQcmdTuples) X(PQconnectdbParams) X(PQerrorMessage) X(PQexec)                 \
    X(PQexecParams) X(PQexecPrepared) X(PQfinish) X(PQfname) X(PQftype) X(PQgetisnull)        \
    X(PQgetlength) X(PQgetvalue) X(PQnfields) X(PQntuples) X(PQprepare) X(PQreset)            \
    X(PQresultErrorField) X(PQresultErrorMessage) X(PQresultStatus) X(PQsetNoticeProcessor)   \
    X(PQstatus) X(PQputCopyData) X(PQputCopyEnd) X(PQgetResult) X(PQsocket) X(PQconsumeInput)

static struct {
#define PQ_FIELD(f) __typeof__(f) *f;
    PQ_FUNCS(PQ_FIELD)
#undef PQ_FIELD
} pq;
static char pq_error[256]; /* why loading failed; "" when it worked */

static void pq_load(void)
{
    void *h = dlopen("libpq.so.5", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        snprintf(pq_error, sizeof pq_error, "%s", e ? e : "libpq.so.5 not found");
        return;
    }
#define PQ_SYM(f)                                                                              \
    if (!(*(void **)&pq.f = dlsym(h, #f))) {                                                   \
        snprintf(pq_error, sizeof pq_error, "libpq.so.5 has no %s", #f);                       \
        return;                                                                                \
    }
    PQ_FUNCS(PQ_SYM)
#undef PQ_SYM
}

/* 0 once libpq is loaded (every worker may call this first, at once). */
static int pq_ready(vial_db *db)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, pq_load);
    if (pq_error[0])
        return vial__db_fail(db, VIAL_EDBDOWN, "cannot load the PostgreSQL client library: %s",
                             pq_error);
    return 0;
}

typedef struct prows {
    vial_rows base;
    PGresult *res;
    int row, nrows;
} prows;

/* Type OIDs from pg_type.h (stable across releases). */
enum { OID_BOOL = 16, OID_BYTEA = 17, OID_INT8 = 20, OID_INT2 = 21, OID_INT4 = 23, OID_OID = 26,
       OID_JSON = 114, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_NUMERIC = 1700, OID_JSONB = 3802 };

/* ------------------------------------------------------------------ errors */

static int fail_res(vial_db *db, PGresult *res)
{
    PGconn *c = db->impl;
    const char *state = res ? pq.PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    const char *msg = res ? pq.PQresultErrorMessage(res) : NULL;
    if (!msg || !*msg)
        msg = pq.PQerrorMessage(c);
    int code = VIAL_EDB;
    if (pq.PQstatus(c) == CONNECTION_BAD) {
        db->broken = true;
        code = VIAL_EDBDOWN;
    } else if (state) {
        if (!strcmp(state, "23505"))
            code = VIAL_EUNIQUE;
        else if (!strcmp(state, "23503"))
            code = VIAL_EFKEY;
        else if (!strncmp(state, "23", 2))
            code = VIAL_ECHECK;
        else if (!strncmp(state, "22", 2))
            code = VIAL_EBADVALUE;
        else if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3)) {
            code = VIAL_EDBDOWN;
            db->broken = true;
        } else if (!strcmp(state, "57014") || !strcmp(state, "40001") || !strcmp(state, "40P01") ||
                   !strcmp(state, "55P03") || !strncmp(state, "53", 2))
            code = VIAL_EBUSY;
    }
    return vial__db_fail(db, code, "%s", msg);
}

/* ------------------------------------------------------------------ connection */

/* Server NOTICEs ("relation already exists, skipping") are not errors. */
static void on_notice(void *arg, const char *message)
{
    VIAL__UNUSED(arg);
    size_t n = strlen(message);
    vial_log(VIAL_LOG_DEBUG, "postgresql: %.*s", (int)(n && message[n - 1] == '\n' ? n - 1 : n), message);
}

static int p_connect(vial_db *db, const vial__dburl *url)
{
    if (pq_ready(db))
        return VIAL_EDBDOWN;
    char timeout[32], options[64];
    int64_t st = vial__parse_duration_ms(vial_config(db->app, "db_timeout"));
    int64_t ct = vial__parse_duration_ms(vial_config(db->app, "db_connect_timeout"));
    snprintf(options, sizeof options, "-c statement_timeout=%lld", (long long)(st > 0 ? st : 30000));
    snprintf(timeout, sizeof timeout, "%lld", (long long)(ct > 0 ? (ct + 999) / 1000 : 5));
    const char *keys[] = { "dbname", "connect_timeout", "options", "application_name",
                           "client_encoding", NULL };
    const char *vals[] = { url->conninfo, timeout, options, "vial", "UTF8", NULL };
    PGconn *c = pq.PQconnectdbParams(keys, vals, 1);
    if (!c)
        return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
    if (pq.PQstatus(c) != CONNECTION_OK) {
        vial__db_fail(db, VIAL_EDBDOWN, "cannot connect to PostgreSQL: %s", pq.PQerrorMessage(c));
        pq.PQfinish(c);
        return VIAL_EDBDOWN;
    }
    pq.PQsetNoticeProcessor(c, on_notice, NULL);
    db->impl = c;
    db->broken = false;
    return 0;
}

static void p_disconnect(vial_db *db)
{
    vial__cache_clear((vial__stmt_cache **)&db->cache, free);
    pq.PQfinish(db->impl);
    db->impl = NULL;
}

static int p_ensure(vial_db *db)
{
    if (!db->broken)
        return 0;
    /* Prepared statements died with the old session. */
    vial__cache_clear((vial__stmt_cache **)&db->cache, free);
    db->in_tx = false;
    pq.PQreset(db->impl);
    if (pq.PQstatus(db->impl) != CONNECTION_OK)
        return vial__db_fail(db, VIAL_EDBDOWN, "cannot reconnect to PostgreSQL: %s",
                             pq.PQerrorMessage(db->impl));
    db->broken = false;
    vial_log(VIAL_LOG_INFO, "reconnected to PostgreSQL");
    return 0;
}

/* A server restart (or an idle-session timeout, or an administrator's
 * pg_terminate_backend) ends the session while the worker is idle: the
 * server's FATAL message and EOF wait unread in the socket, and the next
 * query would fail with them — a 503 for a request that came after the
 * database was back.  An idle connection has nothing to read, so anything
 * readable is that goodbye (one poll(), no round trip); the connection is
 * marked broken and p_ensure() reconnects before the request's first
 * statement. */
static void p_check_idle(vial_db *db)
{
    PGconn *c = db->impl;
    struct pollfd p = { .fd = pq.PQsocket(c), .events = POLLIN };
    if (p.fd < 0 || poll(&p, 1, 0) <= 0)
        return;
    if (!pq.PQconsumeInput(c) || pq.PQstatus(c) == CONNECTION_BAD) {
        vial_log(VIAL_LOG_INFO, "the PostgreSQL server closed an idle connection; reconnecting");
        db->broken = true;
    }
}

static int p_script(vial_db *db, const char *sql)
{
    PGresult *res = pq.PQexec(db->impl, sql);
    ExecStatusType s = pq.PQresultStatus(res);
    int rc = (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK) ? 0 : fail_res(db, res);
    pq.PQclear(res);
    return rc;
}

/* A bulk load (vial_db_bulk_mode): memory for the index builds and sorts
 * of this session, as a loading script would SET it, and no statement
 * timeout: db_timeout guards requests, while one statement of a load (a
 * million search documents, an index) may rightly take minutes.  RESET
 * gives back the session's settings (db_timeout is a connection option). */
static int p_bulk_mode(vial_db *db, bool on)
{
    return p_script(db, on ? "SET maintenance_work_mem = '512MB'; SET work_mem = '64MB'; SET statement_timeout = 0"
                           : "RESET maintenance_work_mem; RESET work_mem; RESET statement_timeout");
}

/* ------------------------------------------------------------------ statements */

static int p_run(vial_db *db, const char *sql, const vial_val *args, size_t nargs, vial_rows **rows,
                 bool once)
{
    PGconn *c = db->impl;
    vial__stmt_cache **cache = (vial__stmt_cache **)&db->cache;
    vial__cached *ce = vial__cache_find(cache, sql);
    /* SQL that will not repeat runs as an unnamed statement (PQexecParams),
     * so neither side accumulates prepared statements. */
    bool unnamed = !ce && (once || vial__cache_size(*cache) >= VIAL__DB_CACHE_MAX);
    if (!ce && !unnamed) {
        static _Thread_local unsigned seq;
        char name[32];
        snprintf(name, sizeof name, "vial_%u", ++seq);
        PGresult *res = pq.PQprepare(c, name, sql, 0, NULL);
        if (pq.PQresultStatus(res) != PGRES_COMMAND_OK) {
            int rc = fail_res(db, res);
            pq.PQclear(res);
            return rc;
        }
        pq.PQclear(res);
        char *n = strdup(name);
        if (!n || !(ce = vial__cache_add(cache, sql, n))) {
            free(n);
            return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        }
    }
    if (nargs > 65535)
        return vial__db_fail(db, VIAL_EINVAL, "too many parameters");
    /* Parameters travel as text (binary for blobs); numbers are formatted
     * here into one scratch buffer. */
    const char *vals_s[16];
    int lens_s[16], fmts_s[16];
    const char **vals = nargs <= 16 ? vals_s : calloc(nargs, sizeof *vals);
    int *lens = nargs <= 16 ? lens_s : calloc(nargs, sizeof *lens);
    int *fmts = nargs <= 16 ? fmts_s : calloc(nargs, sizeof *fmts);
    char scratch_s[16 * 32];
    char *scratch = nargs <= 16 ? scratch_s : malloc(nargs * 32);
    char **copies = NULL;
    size_t ncopies = 0;
    int rc = 0;
    if (nargs > 16 && (!vals || !lens || !fmts || !scratch)) {
        rc = vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nargs; i++) {
        const vial_val *v = &args[i];
        char *num = scratch + i * 32;
        fmts[i] = 0;
        lens[i] = 0;
        switch (v->type) {
        case VIAL_T_NULL: vals[i] = NULL; break;
        case VIAL_T_INT:
            if (v->u.i < 0) {
                num[0] = '-';
                vial__u64toa((uint64_t)0 - (uint64_t)v->u.i, num + 1);
            } else {
                vial__u64toa((uint64_t)v->u.i, num);
            }
            vals[i] = num;
            break;
        case VIAL_T_BOOL: vals[i] = v->u.i ? "true" : "false"; break;
        case VIAL_T_DOUBLE:
            snprintf(num, 32, "%.17g", v->u.d);
            vals[i] = num;
            break;
        case VIAL_T_BLOB:
            vals[i] = v->u.s.p;
            lens[i] = (int)v->u.s.n;
            fmts[i] = 1;
            break;
        default: /* TEXT, JSON */
            if (!v->u.s.p) {
                vals[i] = NULL;
            } else if (v->u.s.n == (size_t)-1) {
                vals[i] = v->u.s.p;
            } else {
                if (memchr(v->u.s.p, '\0', v->u.s.n)) {
                    rc = vial__db_fail(db, VIAL_EBADVALUE, "text value $%zu contains a NUL byte", i + 1);
                    goto out;
                }
                char **cp = realloc(copies, (ncopies + 1) * sizeof *cp);
                char *z = cp ? strndup(v->u.s.p, v->u.s.n) : NULL;
                if (cp)
                    copies = cp;
                if (!z) {
                    rc = vial__db_fail(db, VIAL_ENOMEM, "out of memory");
                    goto out;
                }
                copies[ncopies++] = z;
                vals[i] = z;
            }
        }
    }
    PGresult *res = unnamed ? pq.PQexecParams(c, sql, (int)nargs, NULL, vals, lens, fmts, 0)
                            : pq.PQexecPrepared(c, ce->stmt, (int)nargs, vals, lens, fmts, 0);
    ExecStatusType st = pq.PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        rc = fail_res(db, res);
        pq.PQclear(res);
        goto out;
    }
    if (!rows) {
        const char *t = pq.PQcmdTuples(res);
        rc = (t && *t) ? atoi(t) : pq.PQntuples(res);
        pq.PQclear(res);
        goto out;
    }
    prows *r = calloc(1, sizeof *r);
    if (!r) {
        pq.PQclear(res);
        rc = vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        goto out;
    }
    r->res = res;
    r->row = -1;
    r->nrows = pq.PQntuples(res);
    r->base.ncols = (size_t)pq.PQnfields(res);
    r->base.impl = r;
    vial__db_track(db, &r->base);
    *rows = &r->base;
out:
    for (size_t i = 0; i < ncopies; i++)
        free(copies[i]);
    free(copies);
    if (scratch != scratch_s)
        free(scratch);
    if (vals != vals_s)
        free(vals);
    if (lens != lens_s)
        free(lens);
    if (fmts != fmts_s)
        free(fmts);
    return rc;
}

static int64_t p_last_id(vial_db *db)
{
    VIAL__UNUSED(db);
    return 0; /* PostgreSQL: INSERT ... RETURNING id */
}

/* ------------------------------------------------------------------ rows */

static int p_next(vial_rows *rb)
{
    prows *r = (prows *)rb;
    if (r->row + 1 >= r->nrows) {
        r->row = r->nrows;
        return 0;
    }
    r->row++;
    return 1;
}

static const char *p_name(const vial_rows *rb, size_t col)
{
    return pq.PQfname(((const prows *)rb)->res, (int)col);
}

static int p_isnull(vial_rows *rb, size_t col)
{
    prows *r = (prows *)rb;
    return r->row < 0 || r->row >= r->nrows || pq.PQgetisnull(r->res, r->row, (int)col);
}

static vial_type p_type(vial_rows *rb, size_t col)
{
    if (p_isnull(rb, col))
        return VIAL_T_NULL;
    switch (pq.PQftype(((prows *)rb)->res, (int)col)) {
    case OID_BOOL: return VIAL_T_BOOL;
    case OID_INT2:
    case OID_INT4:
    case OID_INT8:
    case OID_OID: return VIAL_T_INT;
    case OID_FLOAT4:
    case OID_FLOAT8:
    case OID_NUMERIC: return VIAL_T_DOUBLE;
    case OID_JSON:
    case OID_JSONB: return VIAL_T_JSON;
    case OID_BYTEA: return VIAL_T_BLOB;
    default: return VIAL_T_TEXT;
    }
}

static const char *p_text(vial_rows *rb, size_t col, size_t *len)
{
    prows *r = (prows *)rb;
    if (p_isnull(rb, col)) {
        *len = 0;
        return NULL;
    }
    *len = (size_t)pq.PQgetlength(r->res, r->row, (int)col);
    return pq.PQgetvalue(r->res, r->row, (int)col);
}

static int64_t p_int(vial_rows *rb, size_t col)
{
    size_t n;
    const char *t = p_text(rb, col, &n);
    if (!t)
        return 0;
    if (pq.PQftype(((prows *)rb)->res, (int)col) == OID_BOOL)
        return t[0] == 't';
    return strtoll(t, NULL, 10);
}

static double p_double(vial_rows *rb, size_t col)
{
    size_t n;
    const char *t = p_text(rb, col, &n);
    return t ? strtod(t, NULL) : 0.0;
}

static void p_rows_free(vial_rows *rb)
{
    prows *r = (prows *)rb;
    pq.PQclear(r->res);
    free(r);
}

/* ------------------------------------------------------------------ COPY */

/* One value in COPY's text format: \N for NULL; backslash, tab, newline and
 * carriage return escaped in text; bytea as \\x + hex. */
static int copy_value(vial_db *db, vial__buf *out, const vial_val *v, size_t row, size_t col)
{
    char num[40];
    switch (v->type) {
    case VIAL_T_NULL: return vial__buf_add(out, "\\N", 2);
    case VIAL_T_INT:
        if (v->u.i < 0) {
            num[0] = '-';
            return vial__buf_add(out, num, 1 + vial__u64toa((uint64_t)0 - (uint64_t)v->u.i, num + 1));
        }
        return vial__buf_add(out, num, vial__u64toa((uint64_t)v->u.i, num));
    case VIAL_T_BOOL: return vial__buf_add(out, v->u.i ? "t" : "f", 1);
    case VIAL_T_DOUBLE: return vial__buf_add(out, num, (size_t)snprintf(num, sizeof num, "%.17g", v->u.d));
    case VIAL_T_BLOB: {
        static const char hex[] = "0123456789abcdef";
        if (!v->u.s.p)
            return vial__buf_add(out, "\\N", 2);
        if (vial__buf_reserve(out, 3 + 2 * v->u.s.n))
            return VIAL_ENOMEM;
        vial__buf_add(out, "\\\\x", 3);
        const unsigned char *b = (const unsigned char *)v->u.s.p;
        for (size_t i = 0; i < v->u.s.n; i++) {
            char h[2] = { hex[b[i] >> 4], hex[b[i] & 15] };
            vial__buf_add(out, h, 2);
        }
        return 0;
    }
    default: { /* TEXT, JSON */
        if (!v->u.s.p)
            return vial__buf_add(out, "\\N", 2);
        const char *p = v->u.s.p;
        size_t n = v->u.s.n == (size_t)-1 ? strlen(p) : v->u.s.n;
        if (vial__buf_reserve(out, n + 16))
            return VIAL_ENOMEM;
        size_t run = 0;
        for (size_t i = 0; i < n; i++) {
            char e;
            switch (p[i]) {
            case '\\': e = '\\'; break;
            case '\t': e = 't'; break;
            case '\n': e = 'n'; break;
            case '\r': e = 'r'; break;
            case '\0':
                return vial__db_fail(db, VIAL_EBADVALUE, "row %zu, column %zu: text contains a NUL byte",
                                     row + 1, col + 1);
            default: continue;
            }
            char esc[2] = { '\\', e };
            if (vial__buf_add(out, p + run, i - run) || vial__buf_add(out, esc, 2))
                return VIAL_ENOMEM;
            run = i + 1;
        }
        return vial__buf_add(out, p + run, n - run);
    }
    }
}

/*
 * Bulk load with COPY FROM STDIN (text format): the cluster spends 3.5 µs
 * of CPU per log row this way against 9.0 µs for the same row as
 * parameters of a multi-row INSERT (bench/logs.sh).  Rows go out in ~256 KiB messages.  A bad row fails the whole
 * COPY (and the transaction), with the usual SQLSTATE mapping.
 */
static int p_copy(vial_db *db, const char *table, const char *const *cols, size_t ncols,
                  const vial_val *vals, size_t nrows)
{
    PGconn *c = db->impl;
    vial__buf b = { 0 };
    int rc = vial__buf_printf(&b, "COPY %s (", table);
    for (size_t i = 0; i < ncols && !rc; i++)
        rc = vial__buf_printf(&b, "%s%s", i ? ", " : "", cols[i]);
    if (!rc)
        rc = vial__buf_puts(&b, ") FROM STDIN");
    if (!rc)
        rc = vial__buf_nul(&b);
    if (rc) {
        vial__buf_free(&b);
        return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
    }
    PGresult *res = pq.PQexec(c, b.p);
    if (pq.PQresultStatus(res) != PGRES_COPY_IN) {
        rc = fail_res(db, res);
        pq.PQclear(res);
        vial__buf_free(&b);
        return rc;
    }
    pq.PQclear(res);
    b.n = 0;
    /* On a bad value the COPY is abandoned with its message (the server then
     * fails it); a failed send means the connection is gone. */
    int code = 0;
    char why[256] = "";
    for (size_t r = 0; r < nrows && !code; r++) {
        for (size_t k = 0; k < ncols && !code; k++) {
            if (k && vial__buf_add(&b, "\t", 1))
                code = VIAL_ENOMEM;
            else
                code = copy_value(db, &b, &vals[r * ncols + k], r, k);
        }
        if (!code && vial__buf_add(&b, "\n", 1))
            code = VIAL_ENOMEM;
        if (!code && (b.n >= 256 * 1024 || r + 1 == nrows)) {
            if (pq.PQputCopyData(c, b.p, (int)b.n) != 1)
                code = VIAL_EDBDOWN;
            b.n = 0;
        }
    }
    vial__buf_free(&b);
    if (code == VIAL_EBADVALUE)
        snprintf(why, sizeof why, "%s", vial_db_error(db));
    else if (code == VIAL_ENOMEM)
        snprintf(why, sizeof why, "out of memory");
    int sent = code == VIAL_EDBDOWN ? -1 : pq.PQputCopyEnd(c, code ? why : NULL);
    rc = 0;
    while ((res = pq.PQgetResult(c))) {
        if (!rc && !code && pq.PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = fail_res(db, res);
        pq.PQclear(res);
    }
    if (code == VIAL_EDBDOWN || (!rc && sent != 1))
        return fail_res(db, NULL);
    if (code)
        return vial__db_fail(db, code, "%s", why);
    return rc;
}

/* ------------------------------------------------------------------ bulk inserts */

/* The protocol counts parameters in 16 bits (65,535 per statement). */
#define PG_MAX_PARAMS 60000

/*
 * COPY for plain batches; multi-row INSERTs ("VALUES ($1..$k), ($k+1..)")
 * under the parameter ceiling when the database numbers the rows and the
 * numbers must come back (RETURNING), or for a single row.  Ids from a
 * reserved block are written into every row: a sequence's block has no
 * "largest + 1" to lean on here.
 */
static int p_bulk(vial_db *db, vial__bulk *bk)
{
    if (bk->first_id)
        for (size_t r = 0; r < bk->nrows; r++)
            bk->vals[r * bk->ncols] = VIAL_INT(bk->first_id + (int64_t)r);
    if (!bk->returning && bk->nrows > 1)
        return p_copy(db, bk->table, bk->cols, bk->ncols, bk->vals, bk->nrows);
    size_t per = PG_MAX_PARAMS / bk->ncols;
    vial__buf sql = { 0 };
    bool any = false;
    int rc = 0;
    for (size_t r = 0; r < bk->nrows && !rc; r += per) {
        size_t rows = bk->nrows - r < per ? bk->nrows - r : per;
        sql.n = 0;
        if (vial__bulk_sql(bk, rows, false, bk->returning, &sql)) {
            rc = vial__db_fail(db, VIAL_ENOMEM, "out of memory");
            break;
        }
        vial_rows *res = NULL;
        int n = p_run(db, sql.p, bk->vals + r * bk->ncols, rows * bk->ncols,
                      bk->returning ? &res : NULL, true);
        if (n < 0) {
            rc = n;
            break;
        }
        while (res && p_next(res) > 0) {
            int64_t id = p_int(res, 0);
            if (!any || id < bk->first)
                bk->first = id;
            if (!any || id > bk->last)
                bk->last = id;
            any = true;
        }
        vial_rows_close(res);
    }
    vial__buf_free(&sql);
    return rc;
}

static int p_reserve_ids(vial_db *db, const char *seq, int64_t n, int64_t *first)
{
    vial_rows *r = NULL;
    int rc = p_run(db, "SELECT vial_reserve_ids($1, $2)",
                   (const vial_val[]){ VIAL_TEXT(seq), VIAL_INT(n) }, 2, &r, false);
    if (rc < 0)
        return rc;
    if (p_next(r) == 1 && !p_isnull(r, 0))
        *first = p_int(r, 0);
    else
        rc = vial__db_fail(db, VIAL_EDB, "vial_reserve_ids(%s) returned nothing", seq);
    vial_rows_close(r);
    return rc;
}

/* Taken inside each migration's transaction, so concurrent starts apply
 * one file at a time and see each other's work. */
static int p_lock_migrations(vial_db *db)
{
    return p_script(db, "SELECT pg_advisory_xact_lock(7418893302)");
}

/*
 * The db module's own set: vial_batch_ids() sequences are real SEQUENCEs
 * (CREATE SEQUENCE name), and a block is nextval plus setval to its end.
 * Those two must not interleave with another reservation, yet a lock held
 * to the end of the transaction would serialize whole ingests: so a
 * session-level advisory lock around the two calls only, released on
 * every way out (nextval and setval are not undone by a rollback, and a
 * failing statement would otherwise leave the lock held).
 */
static const vial__migration p_migrations[] = {
    { "0001_vial_sequences",
      "CREATE FUNCTION vial_reserve_ids(seq regclass, n BIGINT) RETURNS BIGINT AS $$\n"
      "DECLARE\n"
      "    first BIGINT;\n"
      "BEGIN\n"
      "    IF n IS NULL OR n < 1 THEN\n"
      "        RAISE EXCEPTION 'vial_reserve_ids: n must be at least 1, not %', n;\n"
      "    END IF;\n"
      "    PERFORM pg_advisory_lock(7418893303);\n"
      "    BEGIN\n"
      "        first := nextval(seq);\n"
      "        IF n > 1 THEN\n"
      "            PERFORM setval(seq, first + n - 1);\n"
      "        END IF;\n"
      "    EXCEPTION WHEN OTHERS OR QUERY_CANCELED THEN\n"
      "        PERFORM pg_advisory_unlock(7418893303);\n"
      "        RAISE;\n"
      "    END;\n"
      "    PERFORM pg_advisory_unlock(7418893303);\n"
      "    RETURN first;\n"
      "END;\n"
      "$$ LANGUAGE plpgsql;\n" },
    { NULL, NULL },
};

const vial__dbops vial__pg_ops = {
    .name = "postgresql",
    .connect = p_connect,
    .disconnect = p_disconnect,
    .ensure = p_ensure,
    .check_idle = p_check_idle,
    .script = p_script,
    .run = p_run,
    .bulk = p_bulk,
    .reserve_ids = p_reserve_ids,
    .bulk_mode = p_bulk_mode,
    .lock_migrations = p_lock_migrations,
    .migrations = p_migrations,
    .last_id = p_last_id,
    .next = p_next,
    .name_of = p_name,
    .type_of = p_type,
    .isnull = p_isnull,
    .get_int = p_int,
    .get_double = p_double,
    .get_text = p_text,
    .rows_free = p_rows_free,
};

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
#include "db_impl.h"

#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>


typedef struct sstmt sstmt;
typedef struct srows {
    vial_rows base;
    sstmt *s;
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

static void global_init_once(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

void vial__sqlite_global_init(void)
{
    /* Memory statistics take a global mutex on every SQLite allocation;
     * vial never reads them.  Only possible before SQLite initializes, so
     * a program that already used SQLite keeps the default (harmless). */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, global_init_once);
}

/*
 * ":memory:" must be one database for every worker, so it is a named
 * shared-cache memory database, kept alive by one connection that lives as
 * long as the process.
 */
static pthread_mutex_t keeper_mu = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *keeper;
static const char mem_uri[] = "file:vial-memdb?mode=memory&cache=shared";

/*
 * Per database file, for the life of the process: the writer lock and the
 * checkpointer.
 *
 * One writer at a time: worker threads that want to write queue on a mutex
 * instead of polling SQLite's file lock.  SQLite's own busy handler sleeps
 * 1, 2, 5, 10 ... ms between polls, so a worker waiting out a 20 ms ingest
 * commit would leave the file idle for up to as long again.  Other
 * processes on the same file still meet the busy handler (on_busy, with
 * short sleeps).
 *
 * Checkpoints run on a thread of their own, not in the request that happens
 * to cross the WAL threshold: a checkpoint copies megabytes into the
 * database file and fsyncs it, which would otherwise stall an ingest
 * request for tens of milliseconds.  Workers' connections only signal it
 * (sqlite3_wal_hook); it checkpoints PASSIVE, never blocking writers.
 */
typedef struct sfile {
    char *path;
    pthread_mutex_t write_mu;
    bool has_ckpt;     /* not for ":memory:" */
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool pending;
    struct sfile *next;
} sfile;

/* A connection's own state (vial_db.shared). */
typedef struct sconn {
    sfile *file;
    bool locked;           /* holds file->write_mu */
    uint64_t busy_since;   /* on_busy: when this wait began (ms) */
} sconn;

static pthread_mutex_t files_mu = PTHREAD_MUTEX_INITIALIZER;
static sfile *files;

/* ~32 MiB of WAL (4 KiB pages) starts a checkpoint.  Fewer, larger
 * checkpoints mean fewer passes and syncs per ingested row; larger still
 * lets the WAL file itself grow (~90 MB at 16000 pages under ingest). */
#define CKPT_PAGES 8000
#define BUSY_TIMEOUT_MS 5000

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Another process holds the file: poll every 0.1 ms at first, then every
 * millisecond, for up to BUSY_TIMEOUT_MS. */
static int on_busy(void *arg, int n)
{
    sconn *c = arg;
    if (n == 0)
        c->busy_since = now_ms();
    else if (now_ms() - c->busy_since > BUSY_TIMEOUT_MS)
        return 0;
    struct timespec ts = { 0, n < 20 ? 100000 : 1000000 };
    nanosleep(&ts, NULL);
    return 1;
}

static void *ckpt_main(void *arg)
{
    sfile *c = arg;
    sqlite3 *s = NULL;
    if (sqlite3_open_v2(c->path, &s, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        vial_log(VIAL_LOG_ERROR, "sqlite checkpointer: cannot open %s: %s", c->path, sqlite3_errmsg(s));
        sqlite3_close(s);
        return NULL;
    }
    sqlite3_busy_timeout(s, 1000);
    for (;;) {
        pthread_mutex_lock(&c->mu);
        while (!c->pending) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += 5; /* and now and then anyway, for a quiet WAL */
            if (pthread_cond_timedwait(&c->cv, &c->mu, &ts))
                break;
        }
        c->pending = false;
        pthread_mutex_unlock(&c->mu);
        /* A connection that has not read since the file went into WAL mode
         * has not opened the WAL, and a checkpoint on it quietly does
         * nothing (this thread may have started before the first
         * connection turned WAL on): a read first. */
        sqlite3_exec(s, "SELECT 1 FROM sqlite_master LIMIT 1", NULL, NULL, NULL);
        /* The bulk is copied while writers go on, in two passes: the second
         * copies what was appended during the first, so that less is left
         * for the last pass below. */
        int log = 0, done = 0, rc = SQLITE_OK;
        for (int pass = 0; pass < 2 && rc == SQLITE_OK; pass++)
            rc = sqlite3_wal_checkpoint_v2(s, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
        if (rc == SQLITE_OK && log >= CKPT_PAGES) {
            /* The WAL starts over only when a transaction *begins* after the
             * whole WAL was copied.  With this process's writers queued on
             * write_mu the next one has always begun by then, and the WAL
             * grew to gigabytes under ingest.  So the last frames are copied
             * with our writers held off (20-50 ms in ingest runs), and the
             * next transaction begins on a fully copied WAL and rewinds it. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_sec += BUSY_TIMEOUT_MS / 1000;
            if (pthread_mutex_timedlock(&c->write_mu, &ts) == 0) {
                rc = sqlite3_wal_checkpoint_v2(s, NULL, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
                if (rc == SQLITE_OK && done == log && log > 4 * CKPT_PAGES)
                    /* A WAL file that grew big (a burst, or other processes'
                     * readers) shrinks back while nothing of ours writes. */
                    sqlite3_wal_checkpoint_v2(s, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
                pthread_mutex_unlock(&c->write_mu);
            }
        }
        /* Signals raised meanwhile were about the WAL just copied. */
        pthread_mutex_lock(&c->mu);
        c->pending = false;
        pthread_mutex_unlock(&c->mu);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            vial_log(VIAL_LOG_WARN, "sqlite checkpoint of %s: %s", c->path, sqlite3_errmsg(s));
    }
    return NULL;
}

static sfile *file_for(const char *path, bool mem)
{
    pthread_mutex_lock(&files_mu);
    sfile *c = files;
    while (c && strcmp(c->path, path))
        c = c->next;
    if (!c && (c = calloc(1, sizeof *c)) && (c->path = strdup(path))) {
        pthread_mutex_init(&c->write_mu, NULL);
        pthread_mutex_init(&c->mu, NULL);
        pthread_cond_init(&c->cv, NULL);
        if (!mem && pthread_create(&c->th, NULL, ckpt_main, c) == 0) {
            pthread_setname_np(c->th, "vial-checkpoint"); /* top -H, perf */
            pthread_detach(c->th);
            c->has_ckpt = true;
        }
        if (mem || c->has_ckpt) {
            c->next = files;
            files = c;
        } else {
            free(c->path);
            free(c);
            c = NULL;
        }
    } else if (c && !c->path) {
        free(c);
        c = NULL;
    }
    pthread_mutex_unlock(&files_mu);
    return c;
}

static int on_wal(void *arg, sqlite3 *s, const char *name, int pages)
{
    VIAL__UNUSED(s);
    VIAL__UNUSED(name);
    sfile *c = arg;
    if (pages >= CKPT_PAGES) {
        pthread_mutex_lock(&c->mu);
        c->pending = true;
        pthread_cond_signal(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    return SQLITE_OK;
}

/* Takes the file's writer lock, waiting at most BUSY_TIMEOUT_MS (a thread
 * that already holds it through another connection would wait forever). */
static int writer_lock(vial_db *db)
{
    sconn *c = db->shared;
    if (!c || c->locked)
        return 0;
    if (pthread_mutex_trylock(&c->file->write_mu) == 0) {
        c->locked = true;
        return 0;
    }
    vial__db_waited(db);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += BUSY_TIMEOUT_MS / 1000;
    if (pthread_mutex_timedlock(&c->file->write_mu, &ts))
        return vial__db_fail(db, VIAL_EBUSY,
                             "database is locked: another transaction of this process kept it for %d s",
                             BUSY_TIMEOUT_MS / 1000);
    c->locked = true;
    return 0;
}

static void writer_unlock(vial_db *db)
{
    sconn *c = db->shared;
    if (c && c->locked) {
        c->locked = false;
        pthread_mutex_unlock(&c->file->write_mu);
    }
}
/*
 * Switches the file to WAL (a no-op when it already is).  The switch needs
 * the file to itself, and SQLite answers "database is locked" at once,
 * without its busy handler, when another process or connection opens the
 * same new file at that moment (instances starting together on a fresh
 * database): wait and retry, up to the same 5 s the busy handler allows.
 */
static int set_wal(sqlite3 *s, char **err)
{
    int rc = SQLITE_OK;
    for (int waited_ms = 0;; waited_ms += 2) {
        sqlite3_free(*err);
        *err = NULL;
        rc = sqlite3_exec(s, "PRAGMA journal_mode=WAL", NULL, NULL, err);
        int prim = rc & 0xff;
        if ((prim != SQLITE_BUSY && prim != SQLITE_LOCKED) || waited_ms >= 5000)
            return rc;
        struct timespec ts = { 0, 2000000 };
        nanosleep(&ts, NULL);
    }
}


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
    sconn *sc = calloc(1, sizeof *sc);
    if (!sc || !(sc->file = file_for(mem ? mem_uri : url->path, mem))) {
        free(sc);
        sqlite3_close(s);
        return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
    }
    sqlite3_busy_handler(s, on_busy, sc);
    db->impl = s;
    db->shared = sc;
    const char *sync = vial_config(db->app, "sqlite_synchronous");
    bool full = sync && !strcasecmp(sync, "full");
    char pragmas[400];
    /* Reads go through a shared memory map (no copy per page read); each
     * connection keeps a 16 MiB page cache for the write path. */
    snprintf(pragmas, sizeof pragmas,
             "PRAGMA synchronous=%s; PRAGMA foreign_keys=ON; "
             "PRAGMA cache_size=-16384; PRAGMA mmap_size=1073741824; PRAGMA temp_store=MEMORY;",
             full ? "FULL" : "NORMAL");
    char *err = NULL;
    if (set_wal(s, &err) != SQLITE_OK || sqlite3_exec(s, pragmas, NULL, NULL, &err) != SQLITE_OK) {
        vial__db_fail(db, VIAL_EDBDOWN, "cannot configure %s: %s", url->path, err ? err : "?");
        sqlite3_free(err);
        sqlite3_close(s);
        free(sc);
        db->impl = db->shared = NULL;
        return VIAL_EDBDOWN;
    }
    if (sc->file->has_ckpt)
        sqlite3_wal_hook(s, on_wal, sc->file); /* replaces automatic checkpoints */
    return 0;
}

static void fin_sstmt(void *p);

static void s_disconnect(vial_db *db)
{
    vial__cache_clear((vial__stmt_cache **)&db->cache, fin_sstmt);
    sqlite3_close(db->impl);
    writer_unlock(db);
    free(db->shared);
    db->impl = db->shared = NULL;
}

static int s_script(vial_db *db, const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(db->impl, sql, NULL, NULL, &err);
    sqlite3_free(err);
    return rc == SQLITE_OK ? 0 : map_error(db, rc);
}

/* A bulk load (vial_db_bulk_mode): a page cache of 256 MiB instead of 16,
 * so that a transaction of a million rows does not spill dirty pages into
 * the WAL before it commits and index builds sort in memory; and helper
 * threads for those sorts (SQLite's own, for CREATE INDEX), one per other
 * core, up to three. */
static int s_bulk_mode(vial_db *db, bool on)
{
    char sql[120];
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    int helpers = cores > 1 ? (int)(cores - 1 < 3 ? cores - 1 : 3) : 0;
    snprintf(sql, sizeof sql, "PRAGMA cache_size=%d; PRAGMA threads=%d;", on ? -262144 : -16384, on ? helpers : 0);
    return s_script(db, sql);
}

/* Write transactions: the process's writer lock first, then SQLite's
 * (IMMEDIATE, so a transaction that reads before it writes never fails
 * halfway with SQLITE_BUSY_SNAPSHOT). */
static int s_begin(vial_db *db)
{
    int rc = writer_lock(db);
    if (rc)
        return rc;
    rc = s_script(db, "BEGIN IMMEDIATE");
    if (rc)
        writer_unlock(db);
    return rc;
}

static int s_ensure(vial_db *db)
{
    return db->impl ? 0 : VIAL_EDBDOWN;
}

/* ------------------------------------------------------------------ statements */

/*
 * A prepared statement plus the map from its placeholders to argument
 * numbers, worked out once at prepare time: SQLite numbers distinct names
 * in order of first appearance, so "$2 ... $1" has its own order, and
 * looking names up per bind would cost every row of a bulk insert.
 */
typedef struct sstmt {
    sqlite3_stmt *st;
    int n;           /* placeholders */
    uint16_t map[];  /* placeholder j (0-based) binds argument map[j] */
} sstmt;

static void fin_sstmt(void *p)
{
    sstmt *s = p;
    if (s) {
        sqlite3_finalize(s->st);
        free(s);
    }
}

static sstmt *prepare(vial_db *db, const char *sql, bool persistent)
{
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v3(db->impl, sql, -1, persistent ? SQLITE_PREPARE_PERSISTENT : 0, &st, &tail);
    if (rc != SQLITE_OK) {
        map_error(db, rc);
        return NULL;
    }
    if (!st) {
        vial__db_fail(db, VIAL_EINVAL, "empty SQL statement");
        return NULL;
    }
    while (tail && (*tail == ' ' || *tail == '\n' || *tail == '\t' || *tail == ';' || *tail == '\r'))
        tail++;
    if (tail && *tail) {
        sqlite3_finalize(st);
        vial__db_fail(db, VIAL_EINVAL, "one statement per call (use vial_db_script for several)");
        return NULL;
    }
    int n = sqlite3_bind_parameter_count(st);
    sstmt *s = malloc(sizeof *s + (size_t)n * sizeof s->map[0]);
    if (!s) {
        sqlite3_finalize(st);
        vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        return NULL;
    }
    s->st = st;
    s->n = n;
    for (int j = 1; j <= n; j++) {
        const char *name = sqlite3_bind_parameter_name(st, j);
        long k = j;
        if (name) {
            char *end;
            k = name[0] == '$' ? strtol(name + 1, &end, 10) : 0;
            if (name[0] != '$' || *end || k < 1 || k > 65535) {
                vial__db_fail(db, VIAL_EINVAL, "placeholder %s: write $1, $2 ...", name);
                fin_sstmt(s);
                return NULL;
            }
        }
        s->map[j - 1] = (uint16_t)(k - 1);
    }
    return s;
}

static int bind(vial_db *db, const sstmt *s, const vial_val *args, size_t nargs, bool copy)
{
    /* SQLite counts distinct names, so "$1 ... $1" is one placeholder. */
    if ((size_t)s->n != nargs)
        return vial__db_fail(db, VIAL_EINVAL, "the statement has %d placeholder(s), %zu value(s) given",
                             s->n, nargs);
    sqlite3_destructor_type how = copy ? SQLITE_TRANSIENT : SQLITE_STATIC;
    for (int j = 1; j <= s->n; j++) {
        size_t k = s->map[j - 1];
        if (k >= nargs)
            return vial__db_fail(db, VIAL_EINVAL, "placeholder $%zu has no value (%zu given)", k + 1, nargs);
        const vial_val *v = &args[k];
        sqlite3_stmt *st = s->st;
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

static void release(sstmt *s, vial__cached *ce)
{
    if (ce) {
        sqlite3_reset(s->st);
        sqlite3_clear_bindings(s->st);
        ce->busy = false;
    } else {
        fin_sstmt(s);
    }
}

/* The statement for `sql`: the cached one if free, else a new one (cached
 * when there is room and the SQL may repeat). */
static sstmt *lookup(vial_db *db, const char *sql, bool once, vial__cached **cep)
{
    vial__stmt_cache **cache = (vial__stmt_cache **)&db->cache;
    vial__cached *ce = vial__cache_find(cache, sql);
    if (ce && !ce->busy) {
        *cep = ce;
        return ce->stmt;
    }
    /* Not cached yet, or in use by rows still open (a nested query of the
     * same SQL): prepare a statement of its own. */
    bool keep = !ce && !once && vial__cache_size(*cache) < VIAL__DB_CACHE_MAX;
    sstmt *s = prepare(db, sql, keep);
    *cep = NULL;
    if (s && keep) {
        *cep = vial__cache_add(cache, sql, s);
        if (!*cep) {
            fin_sstmt(s);
            vial__db_fail(db, VIAL_ENOMEM, "out of memory");
            return NULL;
        }
    }
    return s;
}

static int step_done(vial_db *db, sstmt *s)
{
    int step;
    while ((step = sqlite3_step(s->st)) == SQLITE_ROW)
        ;
    return step == SQLITE_DONE ? 0 : map_error(db, step);
}

static int s_run(vial_db *db, const char *sql, const vial_val *args, size_t nargs, vial_rows **rows,
                 bool once)
{
    vial__cached *ce;
    sstmt *s = lookup(db, sql, once, &ce);
    if (!s)
        return db->err;
    int rc = bind(db, s, args, nargs, rows != NULL);
    if (rc) {
        release(s, ce);
        return rc;
    }
    if (!rows) {
        /* A write outside a transaction queues for the writer lock too. */
        bool lock = !db->in_tx && !sqlite3_stmt_readonly(s->st);
        if (lock && (rc = writer_lock(db))) {
            release(s, ce);
            return rc;
        }
        rc = step_done(db, s);
        int64_t changes = sqlite3_changes64(db->impl);
        if (lock)
            writer_unlock(db);
        release(s, ce);
        return rc ? rc : changes > INT32_MAX ? INT32_MAX : (int)changes;
    }
    srows *r = calloc(1, sizeof *r);
    if (!r) {
        release(s, ce);
        return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
    }
    r->s = s;
    r->ce = ce;
    if (ce)
        ce->busy = true;
    r->base.ncols = (size_t)sqlite3_column_count(s->st);
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
    int rc = sqlite3_step(r->s->st);
    if (rc == SQLITE_ROW)
        return 1;
    if (rc == SQLITE_DONE)
        return 0;
    return map_error(rb->db, rc);
}

static const char *s_name(const vial_rows *rb, size_t col)
{
    return sqlite3_column_name(((const srows *)rb)->s->st, (int)col);
}

static bool decl_has(sqlite3_stmt *st, int col, const char *what)
{
    const char *d = sqlite3_column_decltype(st, col);
    return d && strcasestr(d, what);
}

static vial_type s_type(vial_rows *rb, size_t col)
{
    sqlite3_stmt *st = ((srows *)rb)->s->st;
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
    return sqlite3_column_type(((srows *)rb)->s->st, (int)col) == SQLITE_NULL;
}

static int64_t s_int(vial_rows *rb, size_t col)
{
    return sqlite3_column_int64(((srows *)rb)->s->st, (int)col);
}

static double s_double(vial_rows *rb, size_t col)
{
    return sqlite3_column_double(((srows *)rb)->s->st, (int)col);
}

static const char *s_text(vial_rows *rb, size_t col, size_t *len)
{
    sqlite3_stmt *st = ((srows *)rb)->s->st;
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
    release(r->s, r->ce);
    free(r);
}

/* ------------------------------------------------------------------ bulk inserts */

/* One statement, bound and stepped for each of `nrows` rows of `ncols`
 * values.  With `first` and `last`: the smallest and largest rowid the
 * rows got. */
static int exec_many(vial_db *db, const char *sql, const vial_val *vals, size_t nrows, size_t ncols,
                     int64_t *first, int64_t *last)
{
    vial__cached *ce;
    sstmt *s = lookup(db, sql, false, &ce);
    if (!s)
        return db->err;
    int rc = 0;
    for (size_t r = 0; r < nrows && !rc; r++) {
        rc = bind(db, s, vals + r * ncols, ncols, false);
        if (!rc)
            rc = step_done(db, s);
        sqlite3_reset(s->st);
        if (!rc && first) {
            int64_t id = sqlite3_last_insert_rowid(db->impl);
            if (r == 0 || id < *first)
                *first = id;
            if (r == 0 || id > *last)
                *last = id;
        }
    }
    release(s, ce);
    return rc;
}

/* Rows go in as INSERTs of SQLITE_CHUNK_MAX rows each, then of 64, 8 and 1
 * for the rest, so a batch of any size uses at most four cached statements
 * per table.  One statement per row spends most of its time opening
 * cursors, seeking each B-tree from its root and halting; within one
 * statement the cursors stay on the leaves being appended to.  The largest
 * share of the log ingest gain in bench/README.md (logs: 2.44 -> 1.90 us of
 * server CPU per action). */
#define SQLITE_CHUNK_MAX 512

static int insert_chunks(vial_db *db, const vial__bulk *bk)
{
    size_t most = (size_t)sqlite3_limit(db->impl, SQLITE_LIMIT_VARIABLE_NUMBER, -1) / bk->ncols;
    if (most == 0)
        return vial__db_fail(db, VIAL_EINVAL, "%zu columns: more values than a statement may bind",
                             bk->ncols);
    static const size_t sizes[] = { SQLITE_CHUNK_MAX, 64, 8, 1 };
    vial__buf sql = { 0 };
    size_t r = 0;
    int rc = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes && r < bk->nrows && !rc; i++) {
        size_t size = sizes[i];
        size_t n = size > most ? 0 : (bk->nrows - r) / size;
        if (n == 0)
            continue;
        sql.n = 0;
        rc = vial__bulk_sql(bk, size, true, NULL, &sql);
        if (rc)
            rc = vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        else
            rc = exec_many(db, sql.p, bk->vals + r * bk->ncols, n, size * bk->ncols, NULL, NULL);
        r += n * size;
    }
    vial__buf_free(&sql);
    return rc;
}

/*
 * A reserved block: only the first row carries its id.  A NULL in an
 * INTEGER PRIMARY KEY is numbered largest + 1, so the rest follow on from
 * it, while an explicit id costs a seek per row to rule out a clash (~3%
 * of log ingest).  That holds only while nothing else writes between the
 * rows (the transaction has the write lock), no row above the block exists
 * and the id column really is the rowid; the last row is checked for all
 * three: its id must be the block's last.
 */
static int check_block(vial_db *db, const vial__bulk *bk)
{
    int64_t want = bk->first_id + (int64_t)bk->nrows - 1;
    int64_t got = sqlite3_last_insert_rowid(db->impl);
    bool id_ok = false;
    vial__buf sql = { 0 };
    if (got == want) {
        if (vial__buf_printf(&sql, "SELECT %s FROM %s WHERE rowid = last_insert_rowid()", bk->cols[0],
                             bk->table) ||
            vial__buf_nul(&sql)) {
            vial__buf_free(&sql);
            return vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        }
        vial_rows *r = NULL;
        int rc = s_run(db, sql.p, NULL, 0, &r, false);
        vial__buf_free(&sql);
        if (rc)
            return rc;
        rc = s_next(r);
        id_ok = rc == 1 && sqlite3_column_type(((srows *)r)->s->st, 0) == SQLITE_INTEGER &&
                s_int(r, 0) == want;
        vial_rows_close(r);
        if (rc < 0)
            return rc;
    }
    if (id_ok)
        return 0;
    vial__db_fail(db, VIAL_EDB,
                  "%s: ids %" PRId64 "..%" PRId64 " were reserved, but the last row stored did "
                  "not get %" PRId64 " (its rowid is %" PRId64 "): a row above the block, or %s is "
                  "not the table's INTEGER PRIMARY KEY; nothing of the batch may stay",
                  bk->table, bk->first_id, want, want, got, bk->cols[0]);
    vial_log(VIAL_LOG_ERROR, "batch: %s", db->errmsg);
    return VIAL_EDB;
}

static int s_bulk(vial_db *db, vial__bulk *bk)
{
    if (bk->returning) {
        /* Row by row: SQLite tells each row's id after its step. */
        vial__buf sql = { 0 };
        int rc = vial__bulk_sql(bk, 1, false, NULL, &sql);
        rc = rc ? vial__db_fail(db, VIAL_ENOMEM, "out of memory")
                : exec_many(db, sql.p, bk->vals, bk->nrows, bk->ncols, &bk->first, &bk->last);
        vial__buf_free(&sql);
        return rc;
    }
    if (bk->first_id)
        bk->vals[0] = VIAL_INT(bk->first_id);
    int rc = insert_chunks(db, bk);
    return !rc && bk->first_id && bk->nrows > 1 ? check_block(db, bk) : rc;
}

/* The counter lives in a row of vial_sequences; the caller's transaction
 * holds the write lock, so the update is the whole reservation. */
static int s_reserve_ids(vial_db *db, const char *seq, int64_t n, int64_t *first)
{
    vial_rows *r = NULL;
    int rc = s_run(db, "UPDATE vial_sequences SET next_id = next_id + $2 WHERE name = $1 "
                       "RETURNING next_id - $2",
                   (const vial_val[]){ VIAL_TEXT(seq), VIAL_INT(n) }, 2, &r, false);
    if (rc)
        return rc;
    rc = s_next(r);
    if (rc == 1)
        *first = s_int(r, 0);
    vial_rows_close(r);
    if (rc == 0)
        return vial__db_fail(db, VIAL_ENOENT,
                             "no sequence %s (a migration declares it: INSERT INTO vial_sequences "
                             "(name) VALUES ('%s'))",
                             seq, seq);
    return rc < 0 ? rc : 0;
}

/* The db module's own set: where vial_batch_ids() sequences live.  WITHOUT
 * ROWID: one B-tree, one seek per reservation. */
static const vial__migration s_migrations[] = {
    { "0001_vial_sequences", "CREATE TABLE vial_sequences (\n"
                             "    name    TEXT PRIMARY KEY,\n"
                             "    next_id INTEGER NOT NULL DEFAULT 1 CHECK (next_id >= 1)\n"
                             ") WITHOUT ROWID;\n" },
    { NULL, NULL },
};

const vial__dbops vial__sqlite_ops = {
    .name = "sqlite",
    .connect = s_connect,
    .disconnect = s_disconnect,
    .ensure = s_ensure,
    .script = s_script,
    .begin = s_begin,
    .end = writer_unlock,
    .run = s_run,
    .bulk = s_bulk,
    .reserve_ids = s_reserve_ids,
    .bulk_mode = s_bulk_mode,
    .migrations = s_migrations,
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

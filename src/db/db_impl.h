/*
 * db_impl.h — private to the database module: the backend vtable and the
 * shared connection/rows structs.  db.c holds everything backend-neutral (the
 * public API, per-worker connections, transactions, error mapping, JSON
 * output); sqlite.c and pg.c implement the vtable — every difference
 * between the backends lives behind it; migrate.c applies the migration
 * sets; batch.c is the bulk-insert API.
 */
#ifndef VIAL_DB_IMPL_H
#define VIAL_DB_IMPL_H

#include "db.h"

typedef struct vial__dbops vial__dbops;

/* Parsed database_url. */
typedef struct vial__dburl {
    int backend; /* 0 sqlite, 1 postgresql */
    char *path;  /* sqlite: file path or ":memory:" */
    char *conninfo; /* postgresql: the URL as given (libpq parses URIs) */
} vial__dburl;

enum { VIAL__DB_SQLITE, VIAL__DB_PG };

struct vial_db {
    const vial__dbops *ops;
    vial_app *app;
    void *impl;        /* sqlite3 * or PGconn * */
    void *cache;       /* the backend's prepared-statement cache */
    void *shared;      /* the backend's per-connection state (SQLite: the file's writer lock) */
    bool in_tx;
    bool broken;       /* PostgreSQL: the connection dropped; reconnect on next use */
    uint64_t next_retry_ms;
    unsigned fail_gen; /* the module's up_gen when connecting last failed */
    int err;
    char errmsg[512];
    vial_rows *open;   /* rows not yet closed (closed at request end) */
    vial_req *req;     /* the request currently using the connection */
    bool standalone;   /* from vial_db_open() */
    const struct vial__dbmx *mx; /* the module's metrics series for this backend */
};

/* The module's metrics, their series made for the configured backend. */
typedef struct vial__dbmx {
    vial_metric *queries, *duration, *waits, *errors;
    int64_t s_queries, s_duration, s_waits, s_errors;
} vial__dbmx;

/* Rows: backend data behind a common header. */
struct vial_rows {
    vial_db *db;
    vial_rows *next_open, **prev_open;
    size_t ncols;
    void *impl;
    uint64_t t0_ns; /* when its statement started: a query lasts until its rows close */
};

/* A batch as vial_batch_finish() hands it to the backend. */
typedef struct vial__bulk {
    const char *table;
    const char *const *cols; /* with first_id: cols[0] is the id column */
    size_t ncols;
    vial_val *vals;          /* nrows * ncols, row by row */
    size_t nrows;
    /* The database numbers the rows and the caller wants the numbers back:
     * the backend reports the smallest and largest in first/last. */
    const char *returning;
    int64_t first, last;
    /* > 0: the ids first_id .. first_id + nrows - 1 were reserved for the
     * rows, in order.  Column 0 is NULL in every row; the backend stores
     * the ids as it likes best and makes sure each row got its own. */
    int64_t first_id;
} vial__bulk;

struct vial__dbops {
    const char *name; /* for messages, and the folder of a set's migrations */
    int (*connect)(vial_db *db, const vial__dburl *url);
    void (*disconnect)(vial_db *db);
    /* true if the connection can be used (reconnects when broken) */
    int (*ensure)(vial_db *db);
    /* At a request's first use of an idle connection: notice a connection
     * the server closed meanwhile (marks it broken); NULL: nothing to check. */
    void (*check_idle)(vial_db *db);
    int (*script)(vial_db *db, const char *sql);
    /* Starts a transaction (NULL: "BEGIN"); `end` runs after COMMIT or
     * ROLLBACK, whatever they returned (NULL: nothing to do). */
    int (*begin)(vial_db *db);
    void (*end)(vial_db *db);
    /* A prepared, bound statement; rows==NULL asks for the change count.
     * `once`: SQL that will not repeat (bulk inserts): do not cache it. */
    int (*run)(vial_db *db, const char *sql, const vial_val *args, size_t nargs, vial_rows **rows,
               bool once);
    /* Writes a batch (vial_batch_finish), in the caller's transaction. */
    int (*bulk)(vial_db *db, vial__bulk *bk);
    /* Inside a transaction: reserves `n` consecutive ids of the sequence
     * `seq` and returns the first in *first.  Once the transaction commits
     * no later reservation hands them out again (PostgreSQL: not even if
     * it rolls back). */
    int (*reserve_ids)(vial_db *db, const char *seq, int64_t n, int64_t *first);
    /* vial_db_bulk_mode(): resources for loading a lot on this connection
     * (on), or the usual ones again (off). */
    int (*bulk_mode)(vial_db *db, bool on);
    /* Inside the transaction a migration runs in: waits until no other
     * process is migrating the database.  NULL: beginning the transaction
     * already did (SQLite takes the write lock at BEGIN IMMEDIATE). */
    int (*lock_migrations)(vial_db *db);
    /* The db module's own migrations on this backend (the id sequences),
     * applied before every other set. */
    const vial__migration *migrations;
    int64_t (*last_id)(vial_db *db);
    int (*next)(vial_rows *r);
    const char *(*name_of)(const vial_rows *r, size_t col);
    vial_type (*type_of)(vial_rows *r, size_t col);
    int (*isnull)(vial_rows *r, size_t col);
    int64_t (*get_int)(vial_rows *r, size_t col);
    double (*get_double)(vial_rows *r, size_t col);
    const char *(*get_text)(vial_rows *r, size_t col, size_t *len);
    void (*rows_free)(vial_rows *r);
};

extern const vial__dbops vial__sqlite_ops;
/* Process-wide SQLite settings, before any connection exists. */
void vial__sqlite_global_init(void);
extern const vial__dbops vial__pg_ops;

/* Records an error on `db`; returns `code`. */
int vial__db_fail(vial_db *db, int code, const char *fmt, ...) VIAL_PRINTF(3, 4);
/* Counts a statement of `db` that began at t0_ns (rc < 0: it failed). */
void vial__db_count(vial_db *db, uint64_t t0_ns, int rc);
/* A statement of `db` waited for a connection or the writer lock. */
void vial__db_waited(vial_db *db);
/* Links new rows into the connection's open list. */
void vial__db_track(vial_db *db, vial_rows *r);
int vial__dburl_parse(const char *url, vial__dburl *out, char *why, size_t whylen);
void vial__dburl_free(vial__dburl *u);

/* Runs SQL that will not be seen again (not cached).  rows may be NULL. */
int vial__db_run_once(vial_db *db, const char *sql, const vial_val *args, size_t nargs,
                      vial_rows **rows);
/* Connects (or reconnects) a connection before a call that bypasses the
 * public entry points; clears the last error. */
int vial__db_connect(vial_db *db);

/* batch.c: "INSERT INTO t (a, b) VALUES ($1, $2), ..." for `rows` rows of
 * `bk`, with "RETURNING <returning>" when that is not NULL.  `anon`: "?"
 * placeholders, numbered in order (SQLite), instead of $n. */
int vial__bulk_sql(const vial__bulk *bk, size_t rows, bool anon, const char *returning,
                   vial__buf *sql);
#define VIAL__DB_CACHE_MAX 512 /* statements cached per connection; more run uncached */

/* migrate.c: applies every pending migration of every set (verbose: as
 * the migrate command, printing what it applied). */
int vial__migrate(vial_app *app, vial_db *db, bool verbose);

/* A hash map from SQL text to a backend statement, per connection. */
typedef struct vial__stmt_cache vial__stmt_cache;
typedef struct vial__cached {
    char *sql;
    void *stmt;    /* sqlite3_stmt *, or a malloc'd statement name for PostgreSQL */
    bool busy;     /* rows are reading it right now */
    int nparams;
} vial__cached;
vial__cached *vial__cache_find(vial__stmt_cache **c, const char *sql);
vial__cached *vial__cache_add(vial__stmt_cache **c, const char *sql, void *stmt);
size_t vial__cache_size(const vial__stmt_cache *c);
/* Calls `fin(stmt)` for every entry and empties the cache. */
void vial__cache_clear(vial__stmt_cache **c, void (*fin)(void *stmt));

#endif /* VIAL_DB_IMPL_H */

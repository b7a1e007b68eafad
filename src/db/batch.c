/*
 * batch.c — bulk inserts.
 *
 * The log ingest writes thousands of rows per request; one round trip per
 * row would cost PostgreSQL a network hop each and SQLite a statement
 * lookup each.  SQLite gets cached multi-row INSERTs (sqlite_chunks below);
 * PostgreSQL gets COPY, or multi-row INSERT statements
 * ("VALUES ($1..$k), ($k+1..)"), each under the protocol's 65,535-parameter
 * ceiling, with RETURNING for the ids.  The SQL text is built here from
 * checked identifiers only; every value is still a bound parameter.
 */
#include "db_impl.h"

#include <stdlib.h>

#define PG_MAX_PARAMS 60000

struct vial_batch {
    vial_db *db;
    const char *table, *const *cols, *id_col;
    size_t ncols;
    vial_val *vals; /* nrows * ncols */
    size_t nrows, cap;
    int err;
};

static bool ident_ok(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return true;
}

vial_batch *vial_db_batch(vial_db *db, const char *table, const char *const *columns, size_t ncols,
                          const char *id_column)
{
    if (!db || !ident_ok(table) || !columns || ncols == 0 || ncols > 1000 ||
        (id_column && !ident_ok(id_column))) {
        if (db)
            vial__db_fail(db, VIAL_EINVAL, "vial_db_batch: bad table or column names");
        return NULL;
    }
    for (size_t i = 0; i < ncols; i++) {
        if (!ident_ok(columns[i])) {
            vial__db_fail(db, VIAL_EINVAL, "vial_db_batch: bad column name");
            return NULL;
        }
    }
    vial_batch *b = calloc(1, sizeof *b);
    if (!b) {
        vial__db_fail(db, VIAL_ENOMEM, "out of memory");
        return NULL;
    }
    b->db = db;
    b->table = table;
    b->cols = columns;
    b->ncols = ncols;
    b->id_col = id_column;
    return b;
}

int vial_batch_add(vial_batch *b, const vial_val *row)
{
    if (!b || !row)
        return VIAL_EINVAL;
    if (b->err)
        return b->err;
    if (b->nrows == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        vial_val *v = realloc(b->vals, cap * b->ncols * sizeof *v);
        if (!v)
            return b->err = vial__db_fail(b->db, VIAL_ENOMEM, "out of memory");
        b->vals = v;
        b->cap = cap;
    }
    memcpy(b->vals + b->nrows * b->ncols, row, b->ncols * sizeof *row);
    b->nrows++;
    return 0;
}

/* "INSERT INTO t (a, b) VALUES " + one "($1, $2)" group per row + RETURNING.
 * `anon`: "(?, ?)" instead (SQLite numbers them in order): a third of the
 * text for SQLite's big statements, and no printf per placeholder. */
static int build_sql(vial_batch *b, size_t rows, bool anon, vial__buf *sql)
{
    int rc = vial__buf_printf(sql, "INSERT INTO %s (", b->table);
    for (size_t c = 0; c < b->ncols && !rc; c++)
        rc = vial__buf_printf(sql, "%s%s", c ? ", " : "", b->cols[c]);
    if (!rc)
        rc = vial__buf_puts(sql, ") VALUES ");
    size_t k = 1;
    for (size_t r = 0; r < rows && !rc; r++) {
        rc = vial__buf_puts(sql, r ? ", (" : "(");
        for (size_t c = 0; c < b->ncols && !rc; c++)
            rc = anon ? vial__buf_puts(sql, c ? ", ?" : "?")
                      : vial__buf_printf(sql, "%s$%zu", c ? ", " : "", k++);
        if (!rc)
            rc = vial__buf_puts(sql, ")");
    }
    if (!rc && b->id_col && strcmp(vial_db_backend(b->db), "postgresql") == 0)
        rc = vial__buf_printf(sql, " RETURNING %s", b->id_col);
    if (!rc)
        rc = vial__buf_nul(sql);
    return rc;
}

/* SQLite: rows go in as INSERTs of SQLITE_CHUNK_MAX rows each, then of 64, 8
 * and 1 for the rest, so a batch of any size uses at most four cached
 * statements per table.  One statement per row spends most of its time
 * opening cursors, seeking each B-tree from its root and halting; within
 * one statement the cursors stay on the leaves being appended to.  The
 * largest share of the log ingest gain in bench/README.md (logs: 2.44 ->
 * 1.90 us of server CPU per action). */
#define SQLITE_CHUNK_MAX 512

static int sqlite_chunks(vial_batch *b, vial__buf *sql)
{
    vial_db *db = b->db;
    size_t most = db->ops->max_params ? db->ops->max_params(db) / b->ncols : 1;
    if (most == 0)
        return vial__db_fail(db, VIAL_EINVAL, "%zu columns: more values than a statement may bind",
                             b->ncols);
    static const size_t sizes[] = { SQLITE_CHUNK_MAX, 64, 8, 1 };
    size_t r = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes && r < b->nrows; i++) {
        size_t size = sizes[i];
        if (size > most)
            continue;
        size_t n = (b->nrows - r) / size;
        if (n == 0)
            continue;
        sql->n = 0;
        int rc = build_sql(b, size, true, sql);
        if (!rc)
            rc = db->ops->exec_many(db, sql->p, b->vals + r * b->ncols, n, size * b->ncols);
        if (rc)
            return rc;
        r += n * size;
    }
    return 0;
}

static void note_id(int64_t id, int64_t *first, int64_t *last, bool *any)
{
    if (!*any || id < *first)
        *first = id;
    if (!*any || id > *last)
        *last = id;
    *any = true;
}

int64_t vial_batch_finish(vial_batch *b, int64_t *first_id, int64_t *last_id)
{
    if (!b)
        return VIAL_EINVAL;
    vial_db *db = b->db;
    int64_t rc = b->err;
    int64_t first = 0, last = 0;
    bool any = false;
    vial__buf sql = { 0 };
    if (rc || b->nrows == 0)
        goto out;
    if (strcmp(vial_db_backend(db), "sqlite") == 0) {
        if (!b->id_col) {
            if ((rc = sqlite_chunks(b, &sql)))
                goto out;
        } else {
            if ((rc = build_sql(b, 1, false, &sql)))
                goto out;
            for (size_t r = 0; r < b->nrows; r++) {
                int n = vial_db_exec_dynamic(db, sql.p, b->vals + r * b->ncols, b->ncols);
                if (n < 0) {
                    rc = n;
                    goto out;
                }
                note_id(vial_db_last_id(db), &first, &last, &any);
            }
        }
    } else if (!b->id_col && db->ops->copy_in && b->nrows > 1) {
        if ((rc = db->ops->copy_in(db, b->table, b->cols, b->ncols, b->vals, b->nrows)))
            goto out;
    } else {
        size_t per = PG_MAX_PARAMS / b->ncols;
        for (size_t r = 0; r < b->nrows; r += per) {
            size_t rows = b->nrows - r < per ? b->nrows - r : per;
            sql.n = 0;
            if ((rc = build_sql(b, rows, false, &sql)))
                goto out;
            if (b->id_col) {
                vial_rows *res = NULL;
                if (vial__db_run_once(db, sql.p, b->vals + r * b->ncols, rows * b->ncols, &res) <
                    0) {
                    rc = vial_db_errcode(db);
                    goto out;
                }
                while (vial_rows_next(res) > 0)
                    note_id(vial_rows_int(res, 0), &first, &last, &any);
                vial_rows_close(res);
            } else {
                int n = vial__db_run_once(db, sql.p, b->vals + r * b->ncols, rows * b->ncols, NULL);
                if (n < 0) {
                    rc = n;
                    goto out;
                }
            }
        }
    }
    rc = (int64_t)b->nrows;
out:
    if (first_id)
        *first_id = first;
    if (last_id)
        *last_id = last;
    vial__buf_free(&sql);
    free(b->vals);
    free(b);
    return rc;
}

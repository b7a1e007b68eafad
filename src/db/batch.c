/*
 * batch.c — bulk inserts: the public vial_batch API.
 *
 * The log ingest writes thousands of rows per request; one round trip per
 * row would cost PostgreSQL a network hop each and SQLite a statement
 * lookup each.  This file collects the rows, reserves a block of ids when
 * the caller asked for them (vial_batch_ids) and hands everything to the
 * backend's bulk operation, which writes it its own way (SQLite: cached
 * multi-row INSERTs; PostgreSQL: COPY).  The SQL text is built here from
 * checked identifiers only; every value is still a bound parameter.
 */
#include "db_impl.h"

#include <stdlib.h>

struct vial_batch {
    vial_db *db;
    const char *table, *const *cols, *id_col;
    size_t ncols;       /* the caller's columns */
    const char *seq;    /* vial_batch_ids(): ids come from this sequence */
    const char **cols_id; /* with `seq`: id_col, then the caller's columns */
    size_t width;       /* values stored per row: ncols, + 1 for the id with `seq` */
    vial_val *vals;     /* nrows * width */
    size_t nrows, cap;
    int err;
};

static bool ident_ok(const char *s)
{
    if (!s || !*s || (*s >= '0' && *s <= '9'))
        return false;
    size_t n = 0;
    for (; *s; s++, n++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return false;
    return n <= 63; /* PostgreSQL would cut longer names silently */
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
    b->ncols = b->width = ncols;
    b->id_col = id_column;
    return b;
}

/* Errors of a batch stick: every later call returns the first one, so the
 * caller may check only vial_batch_finish(). */
static int fail(vial_batch *b, int code, const char *why)
{
    if (!b->err)
        b->err = vial__db_fail(b->db, code, "%s", why);
    return b->err;
}

int vial_batch_ids(vial_batch *b, const char *sequence)
{
    if (!b)
        return VIAL_EINVAL;
    if (b->err)
        return b->err;
    if (!ident_ok(sequence))
        return fail(b, VIAL_EINVAL, "vial_batch_ids: bad sequence name");
    if (!b->id_col)
        return fail(b, VIAL_EINVAL, "vial_batch_ids: name the id column in vial_db_batch()");
    if (b->nrows || b->seq)
        return fail(b, VIAL_ESTATE, "vial_batch_ids: call it once, before the first row");
    for (size_t i = 0; i < b->ncols; i++)
        if (!strcmp(b->cols[i], b->id_col))
            return fail(b, VIAL_EINVAL, "vial_batch_ids: the id column is filled by the batch: "
                                        "leave it out of the columns");
    if (!(b->cols_id = malloc((b->ncols + 1) * sizeof *b->cols_id)))
        return fail(b, VIAL_ENOMEM, "out of memory");
    b->cols_id[0] = b->id_col;
    memcpy(b->cols_id + 1, b->cols, b->ncols * sizeof *b->cols);
    b->seq = sequence;
    b->width = b->ncols + 1;
    return 0;
}

int vial_batch_add(vial_batch *b, const vial_val *row)
{
    if (!b || !row)
        return VIAL_EINVAL;
    if (b->err)
        return b->err;
    if (b->nrows == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        vial_val *v = realloc(b->vals, cap * b->width * sizeof *v);
        if (!v)
            return fail(b, VIAL_ENOMEM, "out of memory");
        b->vals = v;
        b->cap = cap;
    }
    vial_val *dst = b->vals + b->nrows * b->width;
    if (b->seq) /* the id, filled by the backend at finish */
        *dst++ = VIAL_NULL;
    memcpy(dst, row, b->ncols * sizeof *row);
    b->nrows++;
    return 0;
}

int vial__bulk_sql(const vial__bulk *bk, size_t rows, bool anon, const char *returning,
                   vial__buf *sql)
{
    int rc = vial__buf_printf(sql, "INSERT INTO %s (", bk->table);
    for (size_t c = 0; c < bk->ncols && !rc; c++)
        rc = vial__buf_printf(sql, "%s%s", c ? ", " : "", bk->cols[c]);
    if (!rc)
        rc = vial__buf_puts(sql, ") VALUES ");
    size_t k = 1;
    for (size_t r = 0; r < rows && !rc; r++) {
        rc = vial__buf_puts(sql, r ? ", (" : "(");
        for (size_t c = 0; c < bk->ncols && !rc; c++)
            rc = anon ? vial__buf_puts(sql, c ? ", ?" : "?")
                      : vial__buf_printf(sql, "%s$%zu", c ? ", " : "", k++);
        if (!rc)
            rc = vial__buf_puts(sql, ")");
    }
    if (!rc && returning)
        rc = vial__buf_printf(sql, " RETURNING %s", returning);
    if (!rc)
        rc = vial__buf_nul(sql);
    return rc;
}

/* Rolls back without losing the error that made us roll back. */
static void rollback_keeping_error(vial_db *db)
{
    int code = db->err;
    char msg[sizeof db->errmsg];
    memcpy(msg, db->errmsg, sizeof msg);
    vial_db_rollback(db);
    db->err = code;
    memcpy(db->errmsg, msg, sizeof msg);
}

/*
 * With ids, the reservation and the rows go together: in the caller's
 * transaction, or else in one of the batch's own, so that no other writer
 * comes between them (SQLite numbers all but the first row itself, which
 * relies on that) and a failure leaves neither rows nor a half-used block
 * behind.  The block itself is never given back.
 */
static int write_with_ids(vial_batch *b, vial__bulk *bk)
{
    vial_db *db = b->db;
    bool own = !db->in_tx;
    int rc = own ? vial_db_begin(db) : 0;
    if (!rc)
        rc = db->ops->reserve_ids(db, b->seq, (int64_t)b->nrows, &bk->first_id);
    if (!rc) {
        uint64_t t0 = vial__now_ns();
        rc = db->ops->bulk(db, bk);
        vial__db_count(db, t0, rc);
    }
    if (own) {
        if (rc)
            rollback_keeping_error(db);
        else
            rc = vial_db_commit(db);
    }
    bk->first = bk->first_id;
    bk->last = bk->first_id + (int64_t)b->nrows - 1;
    return rc;
}

int64_t vial_batch_finish(vial_batch *b, int64_t *first_id, int64_t *last_id)
{
    if (!b)
        return VIAL_EINVAL;
    vial_db *db = b->db;
    vial__bulk bk = { .table = b->table,
                      .cols = b->seq ? b->cols_id : b->cols,
                      .ncols = b->width,
                      .vals = b->vals,
                      .nrows = b->nrows,
                      .returning = b->seq ? NULL : b->id_col };
    int64_t rc = b->err;
    if (!rc && b->nrows > 0 && !(rc = vial__db_connect(db))) {
        if (b->seq) {
            rc = write_with_ids(b, &bk);
        } else {
            uint64_t t0 = vial__now_ns();
            rc = db->ops->bulk(db, &bk);
            vial__db_count(db, t0, (int)rc);
        }
        if (!rc)
            rc = (int64_t)b->nrows;
    }
    if (first_id)
        *first_id = rc > 0 ? bk.first : 0;
    if (last_id)
        *last_id = rc > 0 ? bk.last : 0;
    free(b->cols_id);
    free(b->vals);
    free(b);
    return rc;
}

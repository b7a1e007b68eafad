/* Unit tests for src/db/sqlite.c beyond what db.c, batch.c and migrate.c
 * cover on both backends: the id block of vial_batch_ids() — only its first
 * row carries an id and SQLite numbers the rest, so the check of the last
 * row must fail loudly when anything puts the ids out of step — the
 * vial_sequences reservation, the backend's own migration set, and the
 * bulk-load mode (a bigger page cache and sort threads, and back). */
#include "dbtest.h"

static void db_routes(vial_app *app)
{
    (void)app;
}

static const char *const owner_cols[] = { "name", "age" };

static int64_t batch3(vial_db *db, const char *table, const char *const *cols, const char *seq,
                      int64_t *first)
{
    vial_batch *bt = vial_db_batch(db, table, cols, 2, "id");
    assert_non_null(bt);
    assert_int_equal(vial_batch_ids(bt, seq), 0);
    static const char *const names[] = { "a", "b", "c" };
    for (int i = 0; i < 3; i++) {
        vial_val row[] = { VIAL_TEXT(names[i]), VIAL_INT(i) };
        assert_int_equal(vial_batch_add(bt, row), 0);
    }
    return vial_batch_finish(bt, first, NULL);
}

/* A row above the block (written around the sequence): SQLite numbers the
 * block's rows after it, and the batch must refuse to keep them. */
static void test_row_above_block(void **state)
{
    backend *b = *state;
    vial_db *db = vial_db_open(b->app);
    assert_int_equal(vial_db_script(db, "INSERT INTO vial_sequences (name) VALUES ('owners_seq');"
                                        "INSERT INTO owners (id, name) VALUES (1000, 'squatter')"),
                     0);
    int64_t first = -1;
    assert_int_equal(batch3(db, "owners", owner_cols, "owners_seq", &first), VIAL_EDB);
    assert_int_equal(first, 0);
    assert_int_equal(vial_db_errcode(db), VIAL_EDB);
    assert_non_null(strstr(vial_db_error(db), "ids 1..3 were reserved"));
    assert_non_null(strstr(vial_db_error(db), "rowid is 1002"));
    assert_false(db->in_tx);
    assert_int_equal(db_int(db, "SELECT count(*) FROM owners"), 1); /* nothing of the batch */
    /* inside the caller's transaction: the error, for the caller to roll back */
    assert_int_equal(vial_db_begin(db), 0);
    assert_int_equal(batch3(db, "owners", owner_cols, "owners_seq", NULL), VIAL_EDB);
    assert_int_equal(vial_db_rollback(db), 0);
    assert_int_equal(db_int(db, "SELECT count(*) FROM owners"), 1);
    /* moved out of the way, blocks go in again */
    assert_int_equal(vial_db_exec(db, "DELETE FROM owners", VIAL_NOARGS), 1);
    assert_int_equal(vial_db_exec(db, "UPDATE vial_sequences SET next_id = 2000", VIAL_NOARGS), 1);
    assert_int_equal(batch3(db, "owners", owner_cols, "owners_seq", &first), 3);
    assert_int_equal(first, 2000);
    assert_int_equal(db_int(db, "SELECT max(id) FROM owners"), 2002);
    vial_db_close(db);
}

/* An id column that is not the rowid ("INT PRIMARY KEY" is not an alias):
 * SQLite would store NULL for all but the first row. */
static void test_id_not_rowid(void **state)
{
    backend *b = *state;
    vial_db *db = vial_db_open(b->app);
    assert_int_equal(vial_db_script(db, "INSERT INTO vial_sequences (name) VALUES ('loose_seq');"
                                        "CREATE TABLE loose (id INT PRIMARY KEY, name TEXT, age INTEGER)"),
                     0);
    assert_int_equal(batch3(db, "loose", owner_cols, "loose_seq", NULL), VIAL_EDB);
    assert_non_null(strstr(vial_db_error(db), "not the table's INTEGER PRIMARY KEY"));
    assert_int_equal(db_int(db, "SELECT count(*) FROM loose"), 0);
    /* one row needs no numbering by SQLite: its explicit id stands */
    vial_batch *bt = vial_db_batch(db, "loose", owner_cols, 2, "id");
    vial_batch_ids(bt, "loose_seq");
    vial_val row[] = { VIAL_TEXT("solo"), VIAL_INT(1) };
    vial_batch_add(bt, row);
    int64_t first = 0;
    assert_int_equal(vial_batch_finish(bt, &first, NULL), 1);
    assert_int_equal(db_int(db, "SELECT id FROM loose WHERE name = 'solo'"), first);
    vial_db_close(db);
}

static void test_reserve(void **state)
{
    backend *b = *state;
    vial_db *db = vial_db_open(b->app);
    /* the db module's own migration made the table, WITHOUT ROWID */
    assert_int_equal(db_int(db, "SELECT count(*) FROM sqlite_master WHERE name = 'vial_sequences' "
                                "AND sql LIKE '%WITHOUT ROWID%'"),
                     1);
    assert_int_equal(vial_db_exec(db, "INSERT INTO vial_sequences (name) VALUES ('s')", VIAL_NOARGS), 1);
    int64_t first = 0;
    assert_int_equal(db->ops->reserve_ids(db, "s", 5, &first), 0);
    assert_int_equal(first, 1);
    assert_int_equal(db->ops->reserve_ids(db, "s", 1, &first), 0);
    assert_int_equal(first, 6);
    assert_int_equal(db_int(db, "SELECT next_id FROM vial_sequences WHERE name = 's'"), 7);
    /* an undeclared sequence says how to declare it */
    assert_int_equal(db->ops->reserve_ids(db, "nope", 1, &first), VIAL_ENOENT);
    assert_non_null(strstr(vial_db_error(db), "INSERT INTO vial_sequences (name) VALUES ('nope')"));
    vial_db_close(db);
}

static void test_bulk_mode(void **state)
{
    backend *b = *state;
    vial_db *db = vial_db_open(b->app);
    assert_int_equal(db_int(db, "PRAGMA cache_size"), -16384);
    assert_int_equal(vial_db_bulk_mode(db, 1), 0);
    assert_int_equal(db_int(db, "PRAGMA cache_size"), -262144);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    assert_int_equal(db_int(db, "PRAGMA threads"), cores > 1 ? (cores - 1 < 3 ? cores - 1 : 3) : 0);
    /* it works inside a transaction too, and the connection still writes */
    assert_int_equal(vial_db_begin(db), 0);
    assert_int_equal(vial_db_exec(db, "INSERT INTO owners (name) VALUES ('x')", VIAL_NOARGS), 1);
    assert_int_equal(vial_db_bulk_mode(db, 0), 0);
    assert_int_equal(vial_db_commit(db), 0);
    assert_int_equal(db_int(db, "PRAGMA cache_size"), -16384);
    assert_int_equal(db_int(db, "PRAGMA threads"), 0);
    assert_int_equal(vial_db_bulk_mode(NULL, 1), VIAL_EINVAL);
    vial_db_close(db);
}

#define SQLITE_ONLY(t) cmocka_unit_test_prestate_setup_teardown(t, db_setup, db_teardown, &sqlite_b)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SQLITE_ONLY(test_row_above_block),
        SQLITE_ONLY(test_id_not_rowid),
        SQLITE_ONLY(test_reserve),
        SQLITE_ONLY(test_bulk_mode),
    };
    return RUN_GROUP(tests);
}

/* Unit tests for src/db/batch.c, on SQLite and PostgreSQL (dbtest.h): bulk
 * inserts with and without ids coming back, every chunk edge, every type,
 * a bad row undoing the batch; ids from a sequence (vial_batch_ids): blocks
 * in row order, never reused after the newest rows are deleted, the
 * batch's own transaction, misuse refused, concurrent batches getting
 * disjoint blocks. */
#include "dbtest.h"

#include <pthread.h>

static void db_routes(vial_app *app)
{
    (void)app;
}

static void test_batch(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    static const char *const cols[] = { "name", "age" };
    /* 25,000 rows: PostgreSQL needs two multi-row statements for them */
    assert_int_equal(vial_db_begin(db), 0);
    vial_batch *bt = vial_db_batch(db, "owners", cols, 2, "id");
    assert_non_null(bt);
    char (*names)[16] = malloc(25000 * 16);
    for (int i = 0; i < 25000; i++) {
        snprintf(names[i], 16, "n%d", i);
        vial_val row[] = { VIAL_TEXT(names[i]), VIAL_INT(i % 100) };
        assert_int_equal(vial_batch_add(bt, row), 0);
    }
    int64_t first = 0, last = 0;
    assert_int_equal(vial_batch_finish(bt, &first, &last), 25000);
    assert_int_equal(vial_db_commit(db), 0);
    assert_int_equal(last - first, 24999);
    vial_rows *r = vial_db_query(db, "SELECT count(*), min(id), max(id) FROM owners", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), 25000);
    assert_int_equal(vial_rows_int(r, 1), first);
    assert_int_equal(vial_rows_int(r, 2), last);
    vial_rows_close(r);
    /* one bad row: nothing of the batch stays (with the transaction) */
    assert_int_equal(vial_db_begin(db), 0);
    bt = vial_db_batch(db, "owners", cols, 2, NULL);
    vial_val ok[] = { VIAL_TEXT("fresh"), VIAL_INT(1) };
    vial_val bad[] = { VIAL_TEXT(NULL), VIAL_INT(1) }; /* NOT NULL */
    vial_batch_add(bt, ok);
    vial_batch_add(bt, bad);
    assert_true(vial_batch_finish(bt, NULL, NULL) < 0);
    assert_int_equal(vial_db_errcode(db), VIAL_ECHECK);
    assert_int_equal(vial_db_rollback(db), 0);
    r = vial_db_query(db, "SELECT count(*) FROM owners WHERE name = 'fresh'", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), 0);
    vial_rows_close(r);
    /* identifiers are checked */
    static const char *const evil[] = { "name); DROP TABLE owners; --" };
    assert_null(vial_db_batch(db, "owners", evil, 1, NULL));
    assert_null(vial_db_batch(db, "owners x", cols, 2, NULL));
    free(names);
    vial_db_close(db);
}

/* Without ids the SQLite bulk path goes in multi-row statements of 512, 64,
 * 8 and 1 rows: every size around those edges stores each row once, in
 * order, with its own values. */
static void test_batch_chunk_sizes(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    static const char *const cols[] = { "name", "age" };
    static const size_t sizes[] = { 1, 7, 8, 9, 63, 64, 65, 511, 512, 513, 585, 1100, 2047 };
    char name[48];
    char (*names)[48] = malloc(2047 * sizeof *names); /* text is borrowed until the batch ends */
    assert_non_null(names);
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        size_t n = sizes[s];
        assert_int_equal(vial_db_exec(db, "DELETE FROM owners", VIAL_NOARGS) >= 0, 1);
        assert_int_equal(vial_db_begin(db), 0);
        vial_batch *bt = vial_db_batch(db, "owners", cols, 2, NULL);
        assert_non_null(bt);
        for (size_t i = 0; i < n; i++) {
            snprintf(names[i], sizeof names[i], "r%zu-%zu", n, i);
            vial_val row[] = { VIAL_TEXT(names[i]), VIAL_INT((int64_t)(i * 7 % 1000)) };
            assert_int_equal(vial_batch_add(bt, row), 0);
        }
        assert_int_equal(vial_batch_finish(bt, NULL, NULL), (int64_t)n);
        assert_int_equal(vial_db_commit(db), 0);
        vial_rows *r = vial_db_query(db, "SELECT name, age FROM owners ORDER BY id", VIAL_NOARGS);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(vial_rows_next(r), 1);
            snprintf(name, sizeof name, "r%zu-%zu", n, i);
            assert_string_equal(vial_rows_text(r, 0), name);
            assert_int_equal(vial_rows_int(r, 1), (int64_t)(i * 7 % 1000));
        }
        assert_int_equal(vial_rows_next(r), 0);
        vial_rows_close(r);
    }
    free(names);
    vial_db_close(db);
}

/* The bulk path carries every type as the single-row path does (COPY on
 * PostgreSQL: text with its own escapes, bytea in hex, \N for NULL). */
static void test_batch_every_type(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    static const char blob[] = { 0, '\\', '\t', (char)255 };
    static const char *const texts[] = { "tab\there", "new\nline", "cr\rlf", "back\\slash", "\\N", "\\.",
                                         "end\\", "caf\xc3\xa9 '\"" };
    static const char *const cols[] = { "i", "d", "t", "b", "flag", "j" };
    assert_int_equal(vial_db_exec(db, "DELETE FROM kinds", VIAL_NOARGS) >= 0, 1);
    assert_int_equal(vial_db_begin(db), 0);
    vial_batch *bt = vial_db_batch(db, "kinds", cols, 6, NULL);
    assert_non_null(bt);
    for (size_t k = 0; k < 8; k++) {
        vial_val row[] = { VIAL_INT(k ? -(int64_t)k * 1000000007LL : INT64_MIN), VIAL_DOUBLE(0.1 * (double)k),
                           VIAL_TEXT(texts[k]), VIAL_BLOB(blob, sizeof blob), VIAL_BOOL(k & 1),
                           ((vial_val){ .type = VIAL_T_JSON, .u.s = { "{\"a\": \"x\\ty\"}", (size_t)-1 } }) };
        assert_int_equal(vial_batch_add(bt, row), 0);
    }
    vial_val nulls[] = { VIAL_NULL, VIAL_NULL, VIAL_TEXT(NULL), VIAL_NULL, VIAL_BOOL(0), VIAL_NULL };
    assert_int_equal(vial_batch_add(bt, nulls), 0);
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), 9);
    assert_int_equal(vial_db_commit(db), 0);
    vial_rows *r = vial_db_query(db, "SELECT i, d, t, b, flag, j FROM kinds ORDER BY id", VIAL_NOARGS);
    for (size_t k = 0; k < 8; k++) {
        assert_int_equal(vial_rows_next(r), 1);
        assert_int_equal(vial_rows_int(r, 0), k ? -(int64_t)k * 1000000007LL : INT64_MIN);
        assert_true(vial_rows_double(r, 1) == 0.1 * (double)k);
        assert_string_equal(vial_rows_text(r, 2), texts[k]);
        assert_int_equal(vial_rows_bool(r, 4), (int)(k & 1));
        json_t *j = json_loads(vial_rows_text(r, 5), 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "a")), "x\ty");
        json_decref(j);
    }
    assert_int_equal(vial_rows_next(r), 1);
    for (size_t c = 0; c < 4; c++)
        assert_true(vial_rows_isnull(r, c));
    assert_int_equal(vial_rows_next(r), 0);
    vial_rows_close(r);
    /* the bytes of the blobs, compared by the database */
    r = vial_db_query(db, "SELECT count(*) FROM kinds WHERE b = $1", VIAL_ARGS(VIAL_BLOB(blob, sizeof blob)));
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), 8);
    vial_rows_close(r);
    if (b == &sqlite_b) { /* SQLite text may hold NUL bytes */
        vial_db_close(db);
        return;
    }
    /* PostgreSQL text cannot: refused, not cut */
    assert_int_equal(vial_db_begin(db), 0);
    bt = vial_db_batch(db, "kinds", cols, 6, NULL);
    for (int k = 0; k < 2; k++) {
        vial_val row[] = { VIAL_INT(k), VIAL_NULL, VIAL_TEXTN("a\0b", 3), VIAL_NULL, VIAL_BOOL(0), VIAL_NULL };
        vial_batch_add(bt, row);
    }
    assert_true(vial_batch_finish(bt, NULL, NULL) < 0);
    assert_int_equal(vial_db_errcode(db), VIAL_EBADVALUE);
    assert_int_equal(vial_db_rollback(db), 0);
    r = vial_db_query(db, "SELECT count(*) FROM kinds", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), 9);
    vial_rows_close(r);
    vial_db_close(db);
}

/* A sequence for vial_batch_ids(), as an app's migration declares it. */
static void declare_seq(backend *b, vial_db *db, const char *name)
{
    char sql[160];
    if (b == &pg_b)
        snprintf(sql, sizeof sql, "CREATE SEQUENCE %s", name);
    else
        snprintf(sql, sizeof sql, "INSERT INTO vial_sequences (name) VALUES ('%s')", name);
    assert_int_equal(vial_db_script(db, sql), 0);
}

static const char *const owner_cols[] = { "name", "age" };

/* A batch of n owners "<tag>-<i>" with ids from owners_seq; returns what
 * finish returned, the block in *first and *last. */
static int64_t owners_with_ids(vial_db *db, const char *tag, size_t n, int64_t *first, int64_t *last)
{
    char (*names)[64] = malloc((n ? n : 1) * sizeof *names);
    assert_non_null(names);
    vial_batch *bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_non_null(bt);
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), 0);
    for (size_t i = 0; i < n; i++) {
        snprintf(names[i], sizeof names[i], "%s-%zu", tag, i);
        vial_val row[] = { VIAL_TEXT(names[i]), VIAL_INT((int64_t)i % 100) };
        assert_int_equal(vial_batch_add(bt, row), 0);
    }
    int64_t rc = vial_batch_finish(bt, first, last);
    free(names);
    return rc;
}

/* Every owner "<tag>-<i>" has id first + i. */
static void check_block(vial_db *db, const char *tag, size_t n, int64_t first)
{
    char like[40];
    snprintf(like, sizeof like, "%s-%%", tag);
    vial_rows *r = vial_db_query(db, "SELECT id, name FROM owners WHERE name LIKE $1 ORDER BY id",
                                 VIAL_ARGS(VIAL_TEXT(like)));
    assert_non_null(r);
    char want[64];
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(vial_rows_next(r), 1);
        assert_int_equal(vial_rows_int(r, 0), first + (int64_t)i);
        snprintf(want, sizeof want, "%s-%zu", tag, i);
        assert_string_equal(vial_rows_text(r, 1), want);
    }
    assert_int_equal(vial_rows_next(r), 0);
    vial_rows_close(r);
}

static void test_batch_ids(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    declare_seq(b, db, "owners_seq");
    /* blocks follow each other, rows numbered in order across SQLite's
     * chunk statements (512, 64, 8, 1) */
    static const size_t sizes[] = { 1, 2, 513, 1100, 9 };
    int64_t first = 0, last = 0, prev = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof *sizes; s++) {
        char tag[16];
        snprintf(tag, sizeof tag, "s%zu", s);
        assert_int_equal(vial_db_begin(db), 0);
        assert_int_equal(owners_with_ids(db, tag, sizes[s], &first, &last), (int64_t)sizes[s]);
        assert_int_equal(vial_db_commit(db), 0);
        assert_int_equal(first, prev + 1);
        assert_int_equal(last, first + (int64_t)sizes[s] - 1);
        check_block(db, tag, sizes[s], first);
        prev = last;
    }
    /* the newest rows deleted: their ids are still not handed out again */
    assert_int_equal(vial_db_exec(db, "DELETE FROM owners WHERE id > $1", VIAL_ARGS(VIAL_INT(prev - 600))), 600);
    assert_int_equal(owners_with_ids(db, "after", 600, &first, &last), 600);
    assert_int_equal(first, prev + 1);
    check_block(db, "after", 600, first);
    prev = last;
    /* outside a transaction the batch opens and commits its own */
    assert_false(db->in_tx);
    assert_int_equal(owners_with_ids(db, "own", 3, &first, &last), 3);
    assert_false(db->in_tx);
    check_block(db, "own", 3, prev + 1);
    prev = last;
    /* a bad row: nothing of the batch stays, the error is the row's */
    vial_batch *bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), 0);
    vial_val ok[] = { VIAL_TEXT("fine"), VIAL_INT(1) }, bad[] = { VIAL_TEXT("neg"), VIAL_INT(-1) };
    vial_batch_add(bt, ok);
    vial_batch_add(bt, bad);
    assert_int_equal(vial_batch_finish(bt, &first, &last), VIAL_ECHECK);
    assert_int_equal(vial_db_errcode(db), VIAL_ECHECK);
    assert_int_equal(first, 0);
    assert_false(db->in_tx);
    assert_int_equal(db_int(db, "SELECT count(*) FROM owners WHERE name IN ('fine', 'neg')"), 0);
    /* and the next block still comes after every committed one */
    assert_int_equal(owners_with_ids(db, "last", 2, &first, &last), 2);
    assert_true(first > prev);
    check_block(db, "last", 2, first);
    vial_db_close(db);
}

static void test_batch_ids_misuse(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    declare_seq(b, db, "owners_seq");
    vial_val row[] = { VIAL_TEXT("x"), VIAL_INT(1) };
    /* no id column named */
    vial_batch *bt = vial_db_batch(db, "owners", owner_cols, 2, NULL);
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), VIAL_EINVAL);
    assert_int_equal(vial_batch_add(bt, row), VIAL_EINVAL); /* the error sticks */
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), VIAL_EINVAL);
    /* the id column among the columns */
    static const char *const with_id[] = { "id", "name" };
    bt = vial_db_batch(db, "owners", with_id, 2, "id");
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), VIAL_EINVAL);
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), VIAL_EINVAL);
    /* after a row, or twice */
    bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_int_equal(vial_batch_add(bt, row), 0);
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), VIAL_ESTATE);
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), VIAL_ESTATE);
    bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), 0);
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), VIAL_ESTATE);
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), VIAL_ESTATE);
    /* names are identifiers */
    bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_int_equal(vial_batch_ids(bt, "owners_seq'); DROP TABLE owners; --"), VIAL_EINVAL);
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), VIAL_EINVAL);
    /* a sequence nobody declared: refused, nothing stored */
    bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_int_equal(vial_batch_ids(bt, "no_such_seq"), 0);
    assert_int_equal(vial_batch_add(bt, row), 0);
    int64_t first = -1;
    assert_true(vial_batch_finish(bt, &first, NULL) < 0);
    assert_int_equal(first, 0);
    assert_false(db->in_tx);
    assert_int_equal(db_int(db, "SELECT count(*) FROM owners"), 0);
    /* an empty batch reserves nothing */
    bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
    assert_int_equal(vial_batch_ids(bt, "owners_seq"), 0);
    assert_int_equal(vial_batch_finish(bt, NULL, NULL), 0);
    int64_t last = 0;
    assert_int_equal(owners_with_ids(db, "a", 1, &first, &last), 1);
    assert_int_equal(first, 1);
    vial_db_close(db);
}

/* Workers of one process, each on its own connection, ingesting at once. */
#define THREADS 4
#define BATCHES 25
#define ROWS 40

typedef struct worker {
    vial_app *app;
    int n;
    int64_t first[BATCHES], last[BATCHES];
    int failed;
} worker;

static void *ingest(void *arg)
{
    worker *w = arg;
    vial_db *db = vial_db_open(w->app);
    if (!db) {
        w->failed = 1;
        return NULL;
    }
    for (int i = 0; i < BATCHES && !w->failed; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "w%d-%d", w->n, i);
        char names[ROWS][24];
        bool tx = i % 2; /* half in the caller's transaction, half in the batch's own */
        if (tx && vial_db_begin(db)) {
            w->failed = 2;
            break;
        }
        vial_batch *bt = vial_db_batch(db, "owners", owner_cols, 2, "id");
        if (!bt || vial_batch_ids(bt, "owners_seq")) {
            w->failed = 3;
            break;
        }
        for (int k = 0; k < ROWS; k++) {
            snprintf(names[k], sizeof names[k], "%s-%d", tag, k);
            vial_val row[] = { VIAL_TEXT(names[k]), VIAL_INT(k) };
            vial_batch_add(bt, row);
        }
        if (vial_batch_finish(bt, &w->first[i], &w->last[i]) != ROWS || (tx && vial_db_commit(db)))
            w->failed = 4;
    }
    vial_db_close(db);
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static void test_batch_ids_concurrent(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    declare_seq(b, db, "owners_seq");
    worker w[THREADS];
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (worker){ .app = b->app, .n = i };
        assert_int_equal(pthread_create(&th[i], NULL, ingest, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    int64_t firsts[THREADS * BATCHES];
    for (int i = 0; i < THREADS; i++) {
        if (w[i].failed)
            print_error("worker %d failed (%d): %s\n", i, w[i].failed, vial_db_error(db));
        assert_int_equal(w[i].failed, 0);
        for (int k = 0; k < BATCHES; k++) {
            assert_int_equal(w[i].last[k] - w[i].first[k], ROWS - 1);
            firsts[i * BATCHES + k] = w[i].first[k];
        }
    }
    /* the blocks are disjoint: sorted, each starts past the one before */
    qsort(firsts, THREADS * BATCHES, sizeof *firsts, cmp_i64);
    for (int i = 1; i < THREADS * BATCHES; i++)
        assert_true(firsts[i] >= firsts[i - 1] + ROWS);
    assert_int_equal(db_int(db, "SELECT count(DISTINCT id) FROM owners"), THREADS * BATCHES * ROWS);
    for (int i = 0; i < THREADS; i++) {
        char tag[16];
        snprintf(tag, sizeof tag, "w%d-%d", i, BATCHES - 1);
        check_block(db, tag, ROWS, w[i].first[BATCHES - 1]);
    }
    vial_db_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_batch),     BOTH(test_batch_chunk_sizes), BOTH(test_batch_every_type),
        BOTH(test_batch_ids), BOTH(test_batch_ids_misuse),  BOTH(test_batch_ids_concurrent),
    };
    return RUN_GROUP(tests);
}

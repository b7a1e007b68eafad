/* Unit tests for src/db/pg.c beyond what db.c, batch.c and migrate.c cover
 * on both backends: reconnecting after a server restart, the db module's
 * own vial_reserve_ids() (blocks, refusals, and the advisory lock it holds
 * only during a reservation, released on every way out), the migration
 * lock, and the bulk-load mode (the session's sort memory, and back).  They need VIAL_TEST_PG_URL (and VIAL_TEST_PG_DIR for the restart). */
#include "dbtest.h"

static int h_count(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT count(*) FROM owners", VIAL_NOARGS);
    if (!r || vial_rows_next(r) != 1)
        return vial_db_abort(req, db);
    return vial_textf(req, 200, "%" PRId64, vial_rows_int(r, 0));
}

static void db_routes(vial_app *app)
{
    vial_get(app, "/count", h_count);
}

static void test_reconnect(void **state)
{
    backend *b = *state;
    if (b != &pg_b || !getenv("VIAL_TEST_PG_DIR"))
        skip(); /* needs a cluster this test may restart */
    vial_app *app = b->app;
    expect(app, "GET", "/count", 200, "0");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s/scripts/pg.sh restart %s", getenv("VIAL_SOURCE_DIR"),
             getenv("VIAL_TEST_PG_DIR"));
    assert_int_equal(system(cmd), 0);
    vial_test_resp *r = get(app, "/count");
    assert_int_equal(vial_test_status(r), 503);
    assert_non_null(strstr(vial_test_body(r, NULL), "service_unavailable_503"));
    assert_string_equal(vial_test_header(r, "Retry-After"), "1");
    vial_test_free(r);
    expect(app, "GET", "/count", 200, "0");
}

/* 1 when another session could take the reservation lock right now. */
static int lock_free(vial_db *other)
{
    int64_t got = db_int(other, "SELECT pg_try_advisory_lock(7418893303)::int");
    if (got)
        db_int(other, "SELECT pg_advisory_unlock(7418893303)::int");
    return (int)got;
}

static void test_reserve(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app), *other = vial_db_open(b->app);
    assert_int_equal(vial_db_script(db, "CREATE SEQUENCE s; CREATE SEQUENCE small MAXVALUE 10"), 0);
    int64_t first = 0;
    assert_int_equal(db->ops->reserve_ids(db, "s", 5, &first), 0);
    assert_int_equal(first, 1);
    assert_int_equal(db->ops->reserve_ids(db, "s", 1, &first), 0);
    assert_int_equal(first, 6);
    /* a rolled-back transaction does not give its block back */
    assert_int_equal(vial_db_begin(db), 0);
    assert_int_equal(db->ops->reserve_ids(db, "s", 10, &first), 0);
    assert_int_equal(first, 7);
    assert_int_equal(vial_db_rollback(db), 0);
    assert_int_equal(db->ops->reserve_ids(db, "s", 1, &first), 0);
    assert_int_equal(first, 17);
    assert_true(lock_free(other));
    /* refusals leave the lock free: no block, no sequence, past MAXVALUE */
    assert_true(db->ops->reserve_ids(db, "s", 0, &first) < 0);
    assert_true(lock_free(other));
    assert_true(db->ops->reserve_ids(db, "no_such_seq", 3, &first) < 0);
    assert_true(lock_free(other));
    assert_true(db->ops->reserve_ids(db, "small", 20, &first) < 0);
    assert_true(lock_free(other));
    /* while another session holds it, a reservation waits (here: times out) */
    assert_int_equal(db_int(other, "SELECT pg_advisory_lock(7418893303)::text = ''"), 1);
    assert_int_equal(vial_db_script(db, "SET statement_timeout = 200"), 0);
    assert_int_equal(db->ops->reserve_ids(db, "s", 1, &first), VIAL_EBUSY);
    assert_int_equal(vial_db_script(db, "RESET statement_timeout"), 0);
    db_int(other, "SELECT pg_advisory_unlock(7418893303)::int");
    assert_int_equal(db->ops->reserve_ids(db, "s", 1, &first), 0);
    assert_int_equal(first, 18); /* the timed-out call took nothing */
    vial_db_close(other);
    vial_db_close(db);
}

static void test_migration_lock(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app), *other = vial_db_open(b->app);
    assert_int_equal(vial_db_begin(db), 0);
    assert_int_equal(db->ops->lock_migrations(db), 0);
    assert_int_equal(db_int(other, "SELECT pg_try_advisory_xact_lock(7418893302)::int"), 0);
    assert_int_equal(vial_db_commit(db), 0); /* released with the transaction */
    assert_int_equal(db_int(other, "SELECT pg_try_advisory_xact_lock(7418893302)::int"), 1);
    /* the function the db module's own set made */
    assert_int_equal(db_int(db, "SELECT count(*) FROM schema_migrations WHERE version = '0001_vial_sequences'"), 1);
    assert_int_equal(db_int(db, "SELECT count(*) FROM pg_proc WHERE proname = 'vial_reserve_ids'"), 1);
    vial_db_close(other);
    vial_db_close(db);
}

static void test_bulk_mode(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    int64_t before = db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'");
    int64_t timeout = db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'");
    assert_true(timeout > 0); /* db_timeout */
    assert_int_equal(vial_db_bulk_mode(db, 1), 0);
    /* a load's long statements are not cut off by the requests' timeout */
    assert_int_equal(db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'"), 0);
    assert_int_equal(db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'"),
                     512 * 1024);
    assert_int_equal(db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'work_mem'"), 64 * 1024);
    assert_int_equal(vial_db_bulk_mode(db, 0), 0);
    assert_int_equal(db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'maintenance_work_mem'"),
                     before);
    assert_int_equal(db_int(db, "SELECT setting::bigint FROM pg_settings WHERE name = 'statement_timeout'"),
                     timeout);
    vial_db_close(db);
}

#define PG_ONLY(t) cmocka_unit_test_prestate_setup_teardown(t, db_setup, db_teardown, &pg_b)

int main(void)
{
    const struct CMUnitTest tests[] = {
        PG_ONLY(test_reconnect),
        PG_ONLY(test_reserve),
        PG_ONLY(test_migration_lock),
        PG_ONLY(test_bulk_mode),
    };
    return RUN_GROUP(tests);
}

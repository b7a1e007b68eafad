/* Unit tests for src/db/db.c, the same cases on SQLite and on PostgreSQL
 * (dbtest.h): binding every type, NULLs, JSON output, request and explicit
 * transactions, constraint violations → 4xx, fetch-one-or-404
 * (vial_db_one), database_url parsing. */
#include "dbtest.h"

/* ---- handlers */

static int h_insert_owner(vial_req *req)
{
    if (vial_db_tx(req))
        return 0;
    vial_db *db = vial_db_get(req);
    const char *name = vial_arg(req, "name");
    const char *age = vial_arg(req, "age");
    int rc = vial_db_exec(db, "INSERT INTO owners (name, age) VALUES ($1, $2)",
                          VIAL_ARGS(VIAL_TEXT(name), age ? VIAL_INT(atoll(age)) : VIAL_NULL));
    if (rc < 0)
        return vial_db_abort(req, db);
    if (vial_arg(req, "fail"))
        return -1; /* after the write: must roll back */
    if (vial_arg(req, "abort"))
        return vial_abort(req, 422, "changed my mind");
    return vial_text(req, 201, "created");
}

static int h_insert_pet(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    int rc = vial_db_exec(db, "INSERT INTO pets (owner, name) VALUES ($1, $2)",
                          VIAL_ARGS(VIAL_INT(atoll(vial_arg(req, "owner"))), VIAL_TEXT(vial_arg(req, "name"))));
    return rc < 0 ? vial_db_abort(req, db) : vial_no_content(req);
}

static int h_count(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT count(*) FROM owners", VIAL_NOARGS);
    if (!r || vial_rows_next(r) != 1)
        return vial_db_abort(req, db);
    return vial_textf(req, 200, "%" PRId64, vial_rows_int(r, 0)); /* rows closed at request end */
}

static int h_owners(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT name, age FROM owners ORDER BY name", VIAL_NOARGS);
    if (!r)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    int64_t n = vial_rows_jw(r, w);
    vial_rows_close(r);
    return n < 0 ? (int)n : vial_jw_finish(w);
}

/* /one?name=...: an owner's age, or whatever vial_db_one answered. */
static int h_one(vial_req *req)
{
    vial_db *db = vial_arg(req, "nodb") ? NULL : vial_db_get(req);
    vial_rows *r = vial_arg(req, "bad")
                       ? vial_db_one(req, db, "SELECT age FROM nowhere_at_all WHERE name = $1",
                                     VIAL_ARGS(VIAL_TEXT(vial_arg(req, "name"))), "no such owner")
                       : vial_db_one(req, db, "SELECT age FROM owners WHERE name = $1",
                                     VIAL_ARGS(VIAL_TEXT(vial_arg(req, "name"))),
                                     vial_arg(req, "plain") ? NULL : "no such owner");
    if (!r)
        return 0;
    return vial_textf(req, 200, "%" PRId64, vial_rows_int(r, 0));
}

static void db_routes(vial_app *app)
{
    vial_get(app, "/owner", h_insert_owner);
    vial_get(app, "/pet", h_insert_pet);
    vial_get(app, "/count", h_count);
    vial_get(app, "/owners", h_owners);
    vial_get(app, "/one", h_one);
}

/* ---- tests */

static void test_bind_every_type(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    assert_non_null(db);
    assert_string_equal(vial_db_backend(db), b->name);
    static const char blob[] = { 0, 1, 2, (char)255 };
    const char *evil = "Robert'); DROP TABLE kinds; -- \"quoted\" caf\xc3\xa9";
    int rc = vial_db_exec(db, "INSERT INTO kinds (i, d, t, b, flag, j) VALUES ($1, $2, $3, $4, $5, $6)",
                          VIAL_ARGS(VIAL_INT(-9007199254740993LL), VIAL_DOUBLE(0.1), VIAL_TEXT(evil),
                                    VIAL_BLOB(blob, sizeof blob), VIAL_BOOL(1),
                                    ((vial_val){ .type = VIAL_T_JSON, .u.s = { "{\"a\": [1, 2]}", (size_t)-1 } })));
    assert_int_equal(rc, 1);
    rc = vial_db_exec(db, "INSERT INTO kinds (i, d, t, b, flag, j) VALUES ($1, $2, $3, $4, $5, $6)",
                      VIAL_ARGS(VIAL_NULL, VIAL_NULL, VIAL_TEXT(NULL), VIAL_NULL, VIAL_BOOL(0), VIAL_NULL));
    assert_int_equal(rc, 1);
    /* a value passed twice and out of order */
    vial_rows *r = vial_db_query(db, "SELECT i, d, t, flag, $2 AS two, $1 AS one FROM kinds WHERE t = $1",
                                 VIAL_ARGS(VIAL_TEXT(evil), VIAL_INT(2)));
    assert_non_null(r);
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), -9007199254740993LL);
    assert_true(vial_rows_double(r, 1) == 0.1);
    assert_string_equal(vial_rows_text(r, 2), evil);
    assert_int_equal(vial_rows_type(r, 3), VIAL_T_BOOL);
    assert_true(vial_rows_bool(r, 3));
    assert_int_equal(vial_rows_int(r, 4), 2);
    assert_string_equal(vial_rows_text(r, 5), evil);
    assert_int_equal(vial_rows_col(r, "flag"), 3);
    assert_int_equal(vial_rows_col(r, "nope"), -1);
    assert_int_equal(vial_rows_next(r), 0);
    vial_rows_close(r);
    /* NULLs read as NULL / 0 and are told apart */
    r = vial_db_query(db, "SELECT i, d, t, b, j FROM kinds WHERE i IS NULL", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    for (size_t c = 0; c < 5; c++) {
        assert_true(vial_rows_isnull(r, c));
        assert_int_equal(vial_rows_type(r, c), VIAL_T_NULL);
    }
    assert_null(vial_rows_text(r, 2));
    assert_int_equal(vial_rows_int(r, 0), 0);
    vial_rows_close(r);
    /* rows as JSON: every column present, NULL as null, types kept */
    vial__buf out = { 0 };
    vial_jw w;
    vial__jw_init(&w, &out);
    r = vial_db_query(db, "SELECT i, d, t, flag, j FROM kinds ORDER BY id", VIAL_NOARGS);
    assert_int_equal(vial_rows_jw(r, &w), 2);
    vial_rows_close(r);
    vial__buf_nul(&out);
    json_t *j = json_loads(out.p, 0, NULL);
    assert_non_null(j);
    json_t *expect = json_pack("[{s:I,s:f,s:s,s:b,s:{s:[i,i]}},{s:n,s:n,s:n,s:b,s:n}]",
                               "i", (json_int_t)-9007199254740993LL, "d", 0.1, "t", evil, "flag", 1,
                               "j", "a", 1, 2, "i", "d", "t", "flag", 0, "j");
    if (!json_equal(j, expect))
        print_error("got %s\n", out.p);
    assert_true(json_equal(j, expect));
    json_decref(j);
    json_decref(expect);
    vial__buf_free(&out);
    /* the injection attempt was data, not SQL */
    r = vial_db_query(db, "SELECT count(*) FROM kinds", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), 2);
    vial_rows_close(r);
    vial_db_close(db);
}

static void test_argument_errors(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    assert_true(vial_db_exec(db, "INSERT INTO owners (name) VALUES ($1)", VIAL_NOARGS) < 0);
    if (b == &sqlite_b) {
        assert_int_equal(vial_db_errcode(db), VIAL_EINVAL);
        assert_int_equal(vial_db_exec(db, "SELECT $1", VIAL_ARGS(VIAL_INT(1), VIAL_INT(2))), VIAL_EINVAL);
    }
    assert_true(vial_db_exec(db, "SELEKT 1", VIAL_NOARGS) < 0);
    assert_non_null(strstr(vial_db_error(db), "SELEKT") ? "x" : (strstr(vial_db_error(db), "syntax") ? "x" : NULL));
    /* text with an explicit length */
    assert_int_equal(vial_db_exec(db, "INSERT INTO owners (name) VALUES ($1)", VIAL_ARGS(VIAL_TEXTN("abcdef", 3))), 1);
    vial_rows *r = vial_db_query(db, "SELECT name FROM owners", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_string_equal(vial_rows_text(r, 0), "abc");
    assert_int_equal(vial_rows_len(r, 0), 3);
    vial_rows_close(r);
    vial_db_close(db);
}

static void test_request_transactions(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_app *app = b->app;
    expect(app, "GET", "/owner?name=ann&age=30", 201, "created");
    expect(app, "GET", "/owner?name=bob&age=40&fail=1", 500, NULL);  /* handler failed */
    expect(app, "GET", "/owner?name=cat&age=50&abort=1", 422, NULL); /* handler aborted */
    expect(app, "GET", "/count", 200, "1");                          /* both rolled back */
    expect(app, "GET", "/owners", 200, "[{\"name\":\"ann\",\"age\":30}]");
}

static void test_constraints(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_app *app = b->app;
    expect(app, "GET", "/owner?name=ann&age=30", 201, NULL);
    vial_test_resp *r = get(app, "/owner?name=ann&age=31"); /* UNIQUE */
    assert_int_equal(vial_test_status(r), 409);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"error\":\"conflict_409\""));
    vial_test_free(r);
    expect(app, "GET", "/owner?name=dan&age=-1", 400, NULL); /* CHECK */
    expect(app, "GET", "/owner?age=5", 400, NULL);           /* NOT NULL */
    expect(app, "GET", "/pet?owner=999&name=rex", 409, NULL); /* FOREIGN KEY */
    expect(app, "GET", "/count", 200, "1");
}

static void test_explicit_transactions(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    assert_int_equal(vial_db_begin(db), 0);
    assert_int_equal(vial_db_begin(db), VIAL_ESTATE);
    assert_int_equal(vial_db_exec(db, "INSERT INTO owners (name) VALUES ('x')", VIAL_NOARGS), 1);
    assert_int_equal(vial_db_rollback(db), 0);
    assert_int_equal(vial_db_commit(db), VIAL_ESTATE);
    assert_int_equal(vial_db_begin(db), 0);
    assert_int_equal(vial_db_exec(db, "INSERT INTO owners (name) VALUES ('y')", VIAL_NOARGS), 1);
    assert_int_equal(vial_db_commit(db), 0);
    vial_rows *r = vial_db_query(db, "SELECT name FROM owners", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_string_equal(vial_rows_text(r, 0), "y");
    assert_int_equal(vial_rows_next(r), 0);
    /* nested use of the same SQL while its rows are open */
    vial_rows *r2 = vial_db_query(db, "SELECT name FROM owners", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r2), 1);
    vial_rows_close(r2);
    vial_rows_close(r);
    vial_db_close(db);
}

static void test_bad_url(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "log_level", "error");
    vial_db_init(app);
    vial_config_set(app, "database_url", "mysql://nope");
    vial_command(app, "noop", noop_cmd, NULL);
    char *argv[] = { "t", "noop", NULL };
    assert_int_equal(vial_run(app, 2, argv), 1);
    vial_app_free(app);
    vial__dburl u;
    char why[100];
    assert_int_equal(vial__dburl_parse("sqlite:///data/vial.db", &u, why, sizeof why), 0);
    assert_string_equal(u.path, "data/vial.db");
    vial__dburl_free(&u);
    assert_int_equal(vial__dburl_parse("sqlite:////var/x.db", &u, why, sizeof why), 0);
    assert_string_equal(u.path, "/var/x.db");
    vial__dburl_free(&u);
    assert_int_equal(vial__dburl_parse("sqlite://:memory:", &u, why, sizeof why), 0);
    assert_string_equal(u.path, ":memory:");
    vial__dburl_free(&u);
    assert_int_equal(vial__dburl_parse("sqlite://", &u, why, sizeof why), VIAL_EINVAL);
}

static void test_one(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_app *app = b->app;
    expect(app, "GET", "/owner?name=ann&age=30", 201, "created");
    expect(app, "GET", "/one?name=ann", 200, "30");
    /* no row: 404 in the common error shape, with the message given */
    expect(app, "GET", "/one?name=bob", 404,
           "{\"error\":\"not_found_404\",\"message\":\"no such owner\"}");
    vial_test_resp *r = get(app, "/one?name=bob&plain=1");
    assert_int_equal(vial_test_status(r), 404);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"message\":\"Not Found\""));
    vial_test_free(r);
    /* a failing query: the database's error, not a 404 */
    expect(app, "GET", "/one?name=ann&bad=1", 500, NULL);
    /* no connection */
    expect(app, "GET", "/one?name=ann&nodb=1", 503, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_bind_every_type), BOTH(test_argument_errors),       BOTH(test_request_transactions),
        BOTH(test_constraints),     BOTH(test_explicit_transactions), BOTH(test_one),
        cmocka_unit_test(test_bad_url),
    };
    return RUN_GROUP(tests);
}

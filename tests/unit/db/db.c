/* Unit tests for src/db/: the same cases on SQLite and on PostgreSQL
 * (VIAL_TEST_PG_URL, set by `make test`, which starts a throwaway cluster):
 * binding every type, NULLs, JSON output, request transactions, constraint
 * violations → 4xx, migrations (up, no-op, failure), reconnect. */
#include "unit.h"
#include "db/db_impl.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct backend {
    const char *name;
    char url[512];
    char dir[64]; /* migrations */
    vial_app *app;
} backend;

static backend sqlite_b = { .name = "sqlite" }, pg_b = { .name = "postgresql" };

static void put_file(const char *dir, const char *sub, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static const char *m1_sqlite =
    "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i INTEGER, d REAL, t TEXT, b BLOB, flag BOOLEAN, j JSON);\n"
    "CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0));\n"
    "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL REFERENCES owners(id), name TEXT NOT NULL);\n";
static const char *m1_pg =
    "CREATE TABLE kinds (id BIGSERIAL PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA, flag BOOLEAN, j JSONB);\n"
    "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0));\n"
    "CREATE TABLE pets (id BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL REFERENCES owners(id), name TEXT NOT NULL);\n";
static const char *m2 = "CREATE INDEX pets_owner ON pets(owner);\n";

static int noop(vial_app *app, int argc, char **argv)
{
    (void)app, (void)argc, (void)argv;
    return 0;
}

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

static vial_app *make_app(backend *b)
{
    vial_app *app = vial_app_new("dbtest");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_db_init(app), 0);
    vial_config_set(app, "database_url", b->url);
    vial_config_set(app, "migrations_dir", b->dir);
    vial_command(app, "noop", noop, NULL);
    vial_get(app, "/owner", h_insert_owner);
    vial_get(app, "/pet", h_insert_pet);
    vial_get(app, "/count", h_count);
    vial_get(app, "/owners", h_owners);
    char *argv[] = { "t", "noop", NULL };
    assert_int_equal(vial_run(app, 2, argv), 0); /* runs the start hook: migrations */
    return app;
}

static int setup(void **state)
{
    backend *b = *state;
    if (b == &pg_b) {
        const char *u = getenv("VIAL_TEST_PG_URL");
        if (!u || !*u) {
            print_message("VIAL_TEST_PG_URL is not set: PostgreSQL cases skipped\n");
            return 0;
        }
        snprintf(b->url, sizeof b->url, "%s", u);
        /* a clean database for every test */
        vial_app *app = vial_app_new("clean");
        vial_db_init(app);
        vial_config_set(app, "database_url", b->url);
        vial_config_set(app, "log_level", "error");
        vial_config_set(app, "auto_migrate", "off");
        vial_configure(app, 0, NULL);
        vial_db *db = vial_db_open(app);
        assert_non_null(db);
        assert_int_equal(vial_db_script(db, "DROP SCHEMA public CASCADE; CREATE SCHEMA public;"), 0);
        vial_db_close(db);
        vial_app_free(app);
    } else {
        snprintf(b->url, sizeof b->url, "sqlite:////tmp/vial-dbtest-%d.db", (int)getpid());
        unlink(b->url + 10);
        char wal[600];
        snprintf(wal, sizeof wal, "%s-wal", b->url + 10);
        unlink(wal);
        snprintf(wal, sizeof wal, "%s-shm", b->url + 10);
        unlink(wal);
    }
    snprintf(b->dir, sizeof b->dir, "/tmp/vial-mig-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    put_file(b->dir, "sqlite", "0001_init.sql", m1_sqlite);
    put_file(b->dir, "postgresql", "0001_init.sql", m1_pg);
    put_file(b->dir, "sqlite", "0002_index.sql", m2);
    put_file(b->dir, "postgresql", "0002_index.sql", m2);
    b->app = make_app(b);
    return 0;
}

static int teardown(void **state)
{
    backend *b = *state;
    vial_app_free(b->app);
    b->app = NULL;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", b->dir);
    assert_int_equal(system(cmd), 0);
    if (b == &sqlite_b)
        unlink(b->url + 10);
    return 0;
}

#define SKIP_IF_NO_PG(b)                                                                \
    do {                                                                                \
        if ((b) == &pg_b && !getenv("VIAL_TEST_PG_URL"))                                \
            skip();                                                                     \
    } while (0)

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

static void test_migrations(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    vial_db *db = vial_db_open(b->app);
    /* applied once at start; a second run is a no-op */
    char *argv[] = { "t", "migrate", NULL };
    FILE *saved = stdout;
    stdout = fopen("/dev/null", "w");
    assert_int_equal(vial_run(b->app, 2, argv), 0);
    fclose(stdout);
    stdout = saved;
    vial_rows *r = vial_db_query(db, "SELECT version FROM schema_migrations ORDER BY version", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_string_equal(vial_rows_text(r, 0), "0001_init");
    assert_int_equal(vial_rows_next(r), 1);
    assert_string_equal(vial_rows_text(r, 0), "0002_index");
    assert_int_equal(vial_rows_next(r), 0);
    vial_rows_close(r);
    /* a failing migration leaves nothing behind and names the file */
    const char *bad = "CREATE TABLE half (id INTEGER);\nCREATE TABLE broken (id INTEGER REFERENCES nowhere_at_all(id));\nTHIS IS NOT SQL;\n";
    put_file(b->dir, b->name, "0003_bad.sql", bad);
    int rc = vial_run(b->app, 2, argv);
    assert_int_equal(rc, 1);
    r = vial_db_query(db, "SELECT count(*) FROM schema_migrations", VIAL_NOARGS);
    assert_int_equal(vial_rows_next(r), 1);
    assert_int_equal(vial_rows_int(r, 0), 2);
    vial_rows_close(r);
    assert_true(vial_db_exec(db, "SELECT * FROM half", VIAL_NOARGS) < 0); /* rolled back */
    /* fixed, it applies */
    put_file(b->dir, b->name, "0003_bad.sql", "CREATE TABLE half (id INTEGER);\n");
    stdout = fopen("/dev/null", "w");
    assert_int_equal(vial_run(b->app, 2, argv), 0);
    fclose(stdout);
    stdout = saved;
    assert_int_equal(vial_db_exec(db, "SELECT * FROM half", VIAL_NOARGS), 0);
    vial_db_close(db);
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

static void test_bad_url(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "log_level", "error");
    vial_db_init(app);
    vial_config_set(app, "database_url", "mysql://nope");
    vial_command(app, "noop", noop, NULL);
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

#define BOTH(t)                                                                            \
    cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &sqlite_b),               \
        cmocka_unit_test_prestate_setup_teardown(t, setup, teardown, &pg_b)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_bind_every_type),  BOTH(test_argument_errors), BOTH(test_request_transactions),
        BOTH(test_constraints),      BOTH(test_migrations),      BOTH(test_explicit_transactions),
        BOTH(test_reconnect),        BOTH(test_batch), BOTH(test_batch_chunk_sizes), BOTH(test_batch_every_type),           cmocka_unit_test(test_bad_url),
    };
    return RUN_GROUP(tests);
}

/*
 * dbtest.h — what the tests of src/db/ share: the two backends (SQLite in a
 * temporary file; PostgreSQL at VIAL_TEST_PG_URL, set by `make test`, which
 * starts a throwaway cluster — its cases are skipped without it), a fresh
 * database and a migrations_dir with a small schema per case, and an app
 * started on it.  A test file defines db_routes() for the routes its cases
 * call through the test client.
 */
#ifndef VIAL_DBTEST_H
#define VIAL_DBTEST_H

#include "unit.h"
#include "db/db_impl.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct backend {
    const char *name;
    char url[512];
    char dir[64]; /* migrations_dir */
    vial_app *app;
} backend;

static backend sqlite_b __attribute__((unused)) = { .name = "sqlite" };
static backend pg_b __attribute__((unused)) = { .name = "postgresql" };

static void db_routes(vial_app *app);

static inline void put_file(const char *dir, const char *sub, const char *name, const char *text)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, sub);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static inline int noop_cmd(vial_app *app, int argc, char **argv)
{
    (void)app, (void)argc, (void)argv;
    return 0;
}

/* An app on b's database, configured but not started. */
static inline vial_app *db_app(const backend *b)
{
    vial_app *app = vial_app_new("dbtest");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_db_init(app), 0);
    vial_config_set(app, "database_url", b->url);
    vial_config_set(app, "migrations_dir", b->dir);
    vial_command(app, "noop", noop_cmd, NULL);
    return app;
}

/* Runs the start hooks (migrations) through a command that does nothing:
 * vial_run's exit status. */
static inline int db_start(vial_app *app)
{
    char *argv[] = { "t", "noop", NULL };
    return vial_run(app, 2, argv);
}

/* vial_run(app, "migrate") with its output in `out` (NULL: dropped). */
static inline int db_migrate_cmd(vial_app *app, char *out, size_t outlen)
{
    char *argv[] = { "t", "migrate", NULL };
    fflush(stdout);
    FILE *saved = stdout;
    char tmp[] = "/tmp/vial-migout-XXXXXX";
    int fd = mkstemp(tmp);
    assert_true(fd >= 0);
    stdout = fdopen(fd, "w+");
    int rc = vial_run(app, 2, argv);
    fflush(stdout);
    if (out) {
        rewind(stdout);
        size_t n = fread(out, 1, outlen - 1, stdout);
        out[n] = '\0';
    }
    fclose(stdout);
    stdout = saved;
    unlink(tmp);
    return rc;
}

static inline int64_t db_int(vial_db *db, const char *sql)
{
    vial_rows *r = vial_db_query_dynamic(db, sql, NULL, 0);
    if (!r)
        print_error("%s: %s\n", sql, vial_db_error(db));
    assert_non_null(r);
    assert_int_equal(vial_rows_next(r), 1);
    int64_t v = vial_rows_int(r, 0);
    vial_rows_close(r);
    return v;
}

/* An empty database for b (SQLite: a new file; PostgreSQL: a new public
 * schema). */
static inline void db_clean(backend *b)
{
    if (b == &pg_b) {
        snprintf(b->url, sizeof b->url, "%s", getenv("VIAL_TEST_PG_URL"));
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
        return;
    }
    snprintf(b->url, sizeof b->url, "sqlite:////tmp/vial-dbtest-%d.db", (int)getpid());
    static const char *const ext[] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < 3; i++) {
        char f[600];
        snprintf(f, sizeof f, "%s%s", b->url + 10, ext[i]);
        unlink(f);
    }
}

static const char *const dbtest_m1_sqlite __attribute__((unused)) =
    "CREATE TABLE kinds (id INTEGER PRIMARY KEY, i INTEGER, d REAL, t TEXT, b BLOB, flag BOOLEAN, j JSON);\n"
    "CREATE TABLE owners (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0));\n"
    "CREATE TABLE pets (id INTEGER PRIMARY KEY, owner INTEGER NOT NULL REFERENCES owners(id), name TEXT NOT NULL);\n";
static const char *const dbtest_m1_pg __attribute__((unused)) =
    "CREATE TABLE kinds (id BIGSERIAL PRIMARY KEY, i BIGINT, d DOUBLE PRECISION, t TEXT, b BYTEA, flag BOOLEAN, j JSONB);\n"
    "CREATE TABLE owners (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, age INTEGER CHECK (age >= 0));\n"
    "CREATE TABLE pets (id BIGSERIAL PRIMARY KEY, owner BIGINT NOT NULL REFERENCES owners(id), name TEXT NOT NULL);\n";
static const char *const dbtest_m2 __attribute__((unused)) = "CREATE INDEX pets_owner ON pets(owner);\n";

/* Per case: a clean database, a migrations_dir with 0001_init and
 * 0002_index, and b->app started on them (its routes from db_routes). */
static inline int db_setup(void **state)
{
    backend *b = *state;
    if (b == &pg_b && !getenv("VIAL_TEST_PG_URL")) {
        print_message("VIAL_TEST_PG_URL is not set: PostgreSQL cases skipped\n");
        return 0;
    }
    db_clean(b);
    snprintf(b->dir, sizeof b->dir, "/tmp/vial-mig-XXXXXX");
    assert_non_null(mkdtemp(b->dir));
    put_file(b->dir, "sqlite", "0001_init.sql", dbtest_m1_sqlite);
    put_file(b->dir, "postgresql", "0001_init.sql", dbtest_m1_pg);
    put_file(b->dir, "sqlite", "0002_index.sql", dbtest_m2);
    put_file(b->dir, "postgresql", "0002_index.sql", dbtest_m2);
    b->app = db_app(b);
    db_routes(b->app);
    assert_int_equal(db_start(b->app), 0);
    return 0;
}

static inline int db_teardown(void **state)
{
    backend *b = *state;
    vial_app_free(b->app);
    b->app = NULL;
    if (b->dir[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", b->dir);
        assert_int_equal(system(cmd), 0);
        b->dir[0] = '\0';
    }
    if (b == &sqlite_b && b->url[0])
        unlink(b->url + 10);
    return 0;
}

#define SKIP_IF_NO_PG(b)                                                                \
    do {                                                                                \
        if ((b) == &pg_b && !getenv("VIAL_TEST_PG_URL"))                                \
            skip();                                                                     \
    } while (0)

#define BOTH(t)                                                                          \
    cmocka_unit_test_prestate_setup_teardown(t, db_setup, db_teardown, &sqlite_b),       \
        cmocka_unit_test_prestate_setup_teardown(t, db_setup, db_teardown, &pg_b)

#endif /* VIAL_DBTEST_H */

/* Unit tests for src/db/migrate.c, on SQLite and PostgreSQL (dbtest.h):
 * applying, re-running as a no-op, a failing file leaving nothing behind;
 * the order of sets (the db module's own, registered folders and modules'
 * embedded sets in registration order, migrations_dir last; files in name
 * order), a version in two sets refused before anything applies, missing
 * folders, the migrate command's report, concurrent migrators. */
#include "dbtest.h"

#include <pthread.h>

static void db_routes(vial_app *app)
{
    (void)app;
}

/* <base>/<set>/<backend>/<name> */
static void set_file(const char *base, const char *set, const char *kind, const char *name,
                     const char *text)
{
    char dir[256];
    snprintf(dir, sizeof dir, "%s/%s", base, set);
    mkdir(dir, 0755);
    put_file(dir, kind, name, text);
}

/* The same file for both backends. */
static void set_both(const char *base, const char *set, const char *name, const char *text)
{
    set_file(base, set, "sqlite", name, text);
    set_file(base, set, "postgresql", name, text);
}

static char *path_of(const backend *b, const char *set)
{
    static char p[512];
    snprintf(p, sizeof p, "%s/%s", b->dir, set);
    return p;
}

/* The versions in schema_migrations, in version order, joined by spaces. */
static void applied_versions(vial_db *db, char *out, size_t len)
{
    vial_rows *r = vial_db_query(db, "SELECT version FROM schema_migrations ORDER BY version", VIAL_NOARGS);
    assert_non_null(r);
    out[0] = '\0';
    while (vial_rows_next(r) > 0)
        snprintf(out + strlen(out), len - strlen(out), "%s%s", out[0] ? " " : "", vial_rows_text(r, 0));
    vial_rows_close(r);
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
    assert_string_equal(vial_rows_text(r, 0), "0001_vial_sequences"); /* the db module's own */
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
    assert_int_equal(vial_rows_int(r, 0), 3);
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


#define TRAIL(what) "INSERT INTO trail (n, what) SELECT count(*) + 1, '" what "' FROM trail;\n"

static const vial__migration beta[] = { { "0001_beta", TRAIL("beta") }, { NULL, NULL } };
static const vial__migration delta[] = { { "0001_delta", TRAIL("delta") }, { NULL, NULL } };
static bool never(vial_app *app)
{
    (void)app;
    return false;
}

static void test_order(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    db_clean(b);
    /* alpha's first file needs the db module's own set to have run */
    set_file(b->dir, "alpha", "sqlite", "0005_alpha_a.sql",
             "CREATE TABLE trail (n INTEGER PRIMARY KEY, what TEXT NOT NULL);\n"
             "INSERT INTO trail (n, what) SELECT 1, 'sequences:' || count(*) FROM sqlite_master "
             "WHERE name = 'vial_sequences';\n");
    set_file(b->dir, "alpha", "postgresql", "0005_alpha_a.sql",
             "CREATE TABLE trail (n INTEGER PRIMARY KEY, what TEXT NOT NULL);\n"
             "INSERT INTO trail (n, what) SELECT 1, 'sequences:' || count(*) FROM pg_proc "
             "WHERE proname = 'vial_reserve_ids';\n");
    set_both(b->dir, "alpha", "0010_alpha_b.sql", TRAIL("alpha_b"));
    set_both(b->dir, "gamma", "0002_gamma.sql", TRAIL("gamma"));
    put_file(b->dir, "sqlite", "0099_last.sql", TRAIL("last"));
    put_file(b->dir, "postgresql", "0099_last.sql", TRAIL("last"));
    vial_app *app = db_app(b);
    assert_int_equal(vial_db_migrations(app, "alpha", path_of(b, "alpha")), 0);
    assert_int_equal(vial__db_builtin_migrations(app, "beta", beta, NULL), 0);
    assert_int_equal(vial__db_builtin_migrations(app, "delta", delta, never), 0);
    assert_int_equal(vial_db_migrations(app, "gamma", path_of(b, "gamma")), 0);
    assert_int_equal(vial_db_migrations(app, "gamma", path_of(b, "alpha")), VIAL_EEXIST);
    assert_int_equal(vial_db_migrations(app, "", "x"), VIAL_EINVAL);
    /* the trail table is made by alpha, so migrations_dir's 0001_init
     * (kinds, owners, pets) just rides along; no version repeats */
    assert_int_equal(db_start(app), 0);
    vial_db *db = vial_db_open(app);
    vial_rows *r = vial_db_query(db, "SELECT what FROM trail ORDER BY n", VIAL_NOARGS);
    static const char *const want[] = { "sequences:1", "alpha_b", "beta", "gamma", "last" };
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(vial_rows_next(r), 1);
        assert_string_equal(vial_rows_text(r, 0), want[i]);
    }
    assert_int_equal(vial_rows_next(r), 0);
    vial_rows_close(r);
    char v[512];
    applied_versions(db, v, sizeof v);
    assert_string_equal(v, "0001_beta 0001_init 0001_vial_sequences 0002_gamma 0002_index 0005_alpha_a "
                           "0010_alpha_b 0099_last");
    vial_db_close(db);
    vial_app_free(app);
}

static void test_duplicate_versions(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    db_clean(b);
    set_both(b->dir, "one", "0007_same.sql", "CREATE TABLE one (id INTEGER);\n");
    set_both(b->dir, "two", "0007_same.sql", "CREATE TABLE two (id INTEGER);\n");
    vial_app *app = db_app(b);
    vial_db_migrations(app, "one", path_of(b, "one"));
    vial_db_migrations(app, "two", path_of(b, "two"));
    assert_int_equal(db_start(app), 1);
    vial_app_free(app);
    /* refused before anything was applied, the db module's own set included */
    app = db_app(b);
    vial_config_set(app, "auto_migrate", "off");
    assert_int_equal(db_start(app), 0);
    vial_db *db = vial_db_open(app);
    assert_true(vial_db_exec(db, "SELECT * FROM schema_migrations", VIAL_NOARGS) < 0);
    vial_db_close(db);
    vial_app_free(app);
    /* an embedded set against migrations_dir (0001_init) */
    static const vial__migration clash[] = { { "0001_init", "SELECT 1" }, { NULL, NULL } };
    app = db_app(b);
    vial__db_builtin_migrations(app, "clash", clash, NULL);
    assert_int_equal(db_start(app), 1);
    vial_app_free(app);
}

static void test_folders(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    db_clean(b);
    /* relative folders are found under migrations_root */
    set_both(b->dir, "rel", "0003_rel.sql", "CREATE TABLE rel (id INTEGER);\n");
    /* a set with files for the other backend only applies nothing here */
    set_file(b->dir, "other", b == &pg_b ? "sqlite" : "postgresql", "0004_other.sql",
             "CREATE TABLE other (id INTEGER);\n");
    vial_app *app = db_app(b);
    vial_config_set(app, "migrations_root", b->dir);
    vial_db_migrations(app, "rel", "rel");
    vial_db_migrations(app, "other", path_of(b, "other"));
    assert_int_equal(db_start(app), 0);
    vial_db *db = vial_db_open(app);
    assert_int_equal(vial_db_exec(db, "SELECT * FROM rel", VIAL_NOARGS), 0);
    assert_true(vial_db_exec(db, "SELECT * FROM other", VIAL_NOARGS) < 0);
    vial_db_close(db);
    vial_app_free(app);
    /* a registered folder that is not there stops the start */
    app = db_app(b);
    vial_config_set(app, "migrations_root", b->dir);
    vial_db_migrations(app, "gone", "not/there");
    assert_int_equal(db_start(app), 1);
    vial_app_free(app);
    /* a missing migrations_dir does not (an app may keep none there) */
    app = db_app(b);
    vial_config_set(app, "migrations_dir", "/nonexistent/vial-migrations");
    assert_int_equal(db_start(app), 0);
    vial_app_free(app);
}

static void test_migrate_command(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    db_clean(b);
    vial_app *app = db_app(b); /* auto_migrate on: `migrate` still does the applying */
    char out[1024], want[1024];
    assert_int_equal(db_migrate_cmd(app, out, sizeof out), 0);
    assert_string_equal(out, "applied 0001_vial_sequences (vial_db)\n"
                             "applied 0001_init.sql (migrations_dir)\n"
                             "applied 0002_index.sql (migrations_dir)\n");
    assert_int_equal(db_migrate_cmd(app, out, sizeof out), 0);
    snprintf(want, sizeof want, "database is up to date (%s)\n", b->name);
    assert_string_equal(out, want);
    vial_app_free(app);
}

#define MIGRATORS 4

typedef struct migrator {
    vial_app *app;
    int rc;
} migrator;

static void *migrate_main(void *arg)
{
    migrator *m = arg;
    vial_db *db = vial_db_open(m->app);
    m->rc = db ? vial__migrate(m->app, db, false) : -1;
    vial_db_close(db);
    return NULL;
}

/* Instances starting at once: each file applies once (0001_init would
 * fail a second time: CREATE TABLE without IF NOT EXISTS). */
static void test_concurrent(void **state)
{
    backend *b = *state;
    SKIP_IF_NO_PG(b);
    db_clean(b);
    set_both(b->dir, "more", "0005_more.sql", "CREATE TABLE more (id INTEGER);\n");
    vial_app *app = db_app(b);
    vial_db_migrations(app, "more", path_of(b, "more"));
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    migrator m[MIGRATORS];
    pthread_t th[MIGRATORS];
    for (int i = 0; i < MIGRATORS; i++) {
        m[i] = (migrator){ app, 1 };
        assert_int_equal(pthread_create(&th[i], NULL, migrate_main, &m[i]), 0);
    }
    for (int i = 0; i < MIGRATORS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(m[i].rc, 0);
    }
    vial_db *db = vial_db_open(app);
    char v[512];
    applied_versions(db, v, sizeof v);
    assert_string_equal(v, "0001_init 0001_vial_sequences 0002_index 0005_more");
    vial_db_close(db);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_migrations),     BOTH(test_order),           BOTH(test_duplicate_versions),
        BOTH(test_folders),        BOTH(test_migrate_command), BOTH(test_concurrent),
    };
    return RUN_GROUP(tests);
}

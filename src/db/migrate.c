/*
 * migrate.c — versioned SQL migrations.
 *
 * Files live in <migrations_dir>/<backend>/NNNN_name.sql (backend: sqlite
 * or postgresql) and are applied in name order, each in its own
 * transaction together with its row in schema_migrations, so a file either
 * applies completely or leaves the database as it was.  Re-running is a
 * no-op.  Several instances starting at once are serialized: SQLite by
 * BEGIN IMMEDIATE (the write lock), PostgreSQL by an advisory lock taken
 * inside each transaction, with the applied check repeated under the lock.
 */
#include "db_impl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>

#define ADVISORY_KEY "7418893302"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool valid_name(const char *n)
{
    size_t l = strlen(n);
    if (l < 6 || strcmp(n + l - 4, ".sql"))
        return false;
    size_t d = 0;
    while (n[d] >= '0' && n[d] <= '9')
        d++;
    return d >= 1 && n[d] == '_';
}

static char *read_file(const char *path, char *why, size_t whylen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(why, whylen, "cannot open: %s", strerror(errno));
        return NULL;
    }
    vial__buf b = { 0 };
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (vial__buf_append(&b, chunk, n))
            break;
    bool err = ferror(f);
    fclose(f);
    if (err || vial__buf_nul(&b)) {
        snprintf(why, whylen, "cannot read");
        vial__buf_free(&b);
        return NULL;
    }
    return b.p ? b.p : strdup("");
}

static int applied(vial_db *db, const char *version)
{
    vial_rows *r = vial_db_query(db, "SELECT 1 FROM schema_migrations WHERE version = $1",
                                 VIAL_ARGS(VIAL_TEXT(version)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    vial_rows_close(r);
    return rc; /* 1 applied, 0 not, <0 error */
}

int vial__migrate(vial_app *app, vial_db *db, bool verbose)
{
    const char *dir = vial_config(app, "migrations_dir");
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, vial_db_backend(db));
    int rc = vial_db_script(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                " version TEXT PRIMARY KEY,"
                                " applied_at TEXT NOT NULL)");
    if (rc) {
        vial_log(VIAL_LOG_ERROR, "migrate: cannot create schema_migrations: %s", vial_db_error(db));
        return rc;
    }
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) {
            if (verbose)
                printf("no migrations in %s\n", path);
            else
                vial_log(VIAL_LOG_WARN, "migrate: %s does not exist (migrations_dir = %s): nothing applied",
                         path, dir);
            return 0;
        }
        vial_log(VIAL_LOG_ERROR, "migrate: cannot read %s: %s", path, strerror(errno));
        return VIAL_EIO;
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!valid_name(e->d_name)) {
            if (e->d_name[0] != '.')
                vial_log(VIAL_LOG_WARN, "migrate: ignoring %s/%s (expected NNNN_name.sql)", path, e->d_name);
            continue;
        }
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn || !(nn[n] = strdup(e->d_name))) {
            free(nn ? nn : names);
            closedir(d);
            return VIAL_ENOMEM;
        }
        names = nn;
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    bool pg = !strcmp(vial_db_backend(db), "postgresql");
    int done = 0;
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        char version[256];
        snprintf(version, sizeof version, "%.*s", (int)(strlen(names[i]) - 4), names[i]);
        int a = applied(db, version);
        if (a != 0) {
            rc = a < 0 ? a : 0;
            if (rc)
                vial_log(VIAL_LOG_ERROR, "migrate: %s", vial_db_error(db));
            continue;
        }
        char file[4600], why[160];
        snprintf(file, sizeof file, "%s/%s", path, names[i]);
        char *sql = read_file(file, why, sizeof why);
        if (!sql) {
            vial_log(VIAL_LOG_ERROR, "migrate: %s: %s", file, why);
            rc = VIAL_EIO;
            break;
        }
        /* Take the lock, re-check under it, apply, record: all or nothing. */
        rc = vial_db_script(db, pg ? "BEGIN; SELECT pg_advisory_xact_lock(" ADVISORY_KEY ")"
                                   : "BEGIN IMMEDIATE");
        if (!rc)
            db->in_tx = true;
        if (!rc && (a = applied(db, version)) != 0) {
            vial_db_rollback(db);
            free(sql);
            if (a < 0) {
                rc = a;
                vial_log(VIAL_LOG_ERROR, "migrate: %s", vial_db_error(db));
            }
            continue; /* another instance applied it meanwhile */
        }
        if (!rc)
            rc = vial_db_script(db, sql);
        if (!rc) {
            int r = pg ? vial_db_exec(db, "INSERT INTO schema_migrations (version, applied_at) "
                                          "VALUES ($1, to_char(now() AT TIME ZONE 'UTC', "
                                          "'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'))",
                                      VIAL_ARGS(VIAL_TEXT(version)))
                       : vial_db_exec(db, "INSERT INTO schema_migrations (version, applied_at) "
                                          "VALUES ($1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
                                      VIAL_ARGS(VIAL_TEXT(version)));
            rc = r < 0 ? r : 0;
        }
        if (!rc)
            rc = vial_db_commit(db);
        if (rc) {
            char msg[sizeof db->errmsg];
            snprintf(msg, sizeof msg, "%s", vial_db_error(db));
            if (db->in_tx)
                vial_db_rollback(db);
            vial_log(VIAL_LOG_ERROR, "migration %s failed (nothing of it was applied): %s", file, msg);
        } else {
            done++;
            if (verbose)
                printf("applied %s\n", names[i]);
            else
                vial_log(VIAL_LOG_INFO, "migrate: applied %s", names[i]);
        }
        free(sql);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (!rc && verbose && done == 0)
        printf("database is up to date (%s)\n", vial_db_backend(db));
    return rc;
}

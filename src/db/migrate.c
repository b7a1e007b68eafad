/*
 * migrate.c — migration sets and applying them.
 *
 * A set is either a folder with sqlite/ and postgresql/ subfolders of
 * NNNN_name.sql files (vial_db_migrations(), and the migrations_dir
 * setting), or a module's embedded SQL (vial__db_builtin_migrations(); the
 * db module's own come from the backend).  Order: the db module's own set,
 * the registered sets in registration order, migrations_dir last; files in
 * name order within a set.  Versions (file stems) are recorded in
 * schema_migrations as they always were, so one version may appear in one
 * set only: the plan is refused before anything is applied otherwise.
 *
 * Each migration runs in its own transaction together with its row in
 * schema_migrations, so it applies completely or not at all.  Several
 * instances starting at once are serialized by the backend's migration
 * lock, taken inside each transaction, with the applied check repeated
 * under it.
 */
#include "db_impl.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

/* ------------------------------------------------------------------ registration */

typedef struct mset {
    char *name;
    char *dir;                   /* a folder set; NULL for a module's embedded one */
    const vial__migration *list; /* embedded */
    bool (*when)(vial_app *app);
} mset;

typedef struct msets {
    mset *v;
    size_t n;
} msets;

static const char ext_key = 0;

static void msets_free(void *p)
{
    msets *m = p;
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].name);
        free(m->v[i].dir);
    }
    free(m->v);
    free(m);
}

/* The app's sets, kept apart from the rest of the module's state so that
 * modules and apps may register theirs before or after vial_db_init(). */
static msets *sets_of(vial_app *app, bool create)
{
    msets *m = vial__app_ext(app, &ext_key);
    if (m || !create)
        return m;
    if (!(m = calloc(1, sizeof *m)))
        return NULL;
    if (vial__app_ext_set(app, &ext_key, m, msets_free)) {
        free(m);
        return NULL;
    }
    return m;
}

static int add_set(vial_app *app, const char *name, const char *dir, const vial__migration *list,
                   bool (*when)(vial_app *))
{
    if (!app || !name || !*name || (!dir && !list) || (dir && !*dir))
        return VIAL_EINVAL;
    msets *m = sets_of(app, true);
    if (!m)
        return VIAL_ENOMEM;
    for (size_t i = 0; i < m->n; i++)
        if (!strcmp(m->v[i].name, name))
            return VIAL_EEXIST;
    mset *v = realloc(m->v, (m->n + 1) * sizeof *v);
    if (!v)
        return VIAL_ENOMEM;
    m->v = v;
    mset *s = &v[m->n];
    *s = (mset){ .name = strdup(name), .dir = dir ? strdup(dir) : NULL, .list = list, .when = when };
    if (!s->name || (dir && !s->dir)) {
        free(s->name);
        free(s->dir);
        return VIAL_ENOMEM;
    }
    m->n++;
    return 0;
}

int vial_db_migrations(vial_app *app, const char *name, const char *dir)
{
    return add_set(app, name, dir, NULL, NULL);
}

int vial__db_builtin_migrations(vial_app *app, const char *name, const vial__migration *list,
                                bool (*when)(vial_app *app))
{
    return list ? add_set(app, name, NULL, list, when) : VIAL_EINVAL;
}

/* ------------------------------------------------------------------ the plan */

/* One migration to apply, in order. */
typedef struct step {
    const char *set;
    char *version;   /* file stem or embedded version */
    char *file;      /* a file's path; NULL: `sql` */
    const char *sql;
} step;

typedef struct plan {
    step *v;
    size_t n;
} plan;

static void plan_free(plan *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->v[i].version);
        free(p->v[i].file);
    }
    free(p->v);
    p->v = NULL;
    p->n = 0;
}

static int plan_add(plan *p, const char *set, const char *version, size_t vlen, char *file,
                    const char *sql)
{
    step *v = realloc(p->v, (p->n + 1) * sizeof *v);
    if (!v) {
        free(file);
        return VIAL_ENOMEM;
    }
    p->v = v;
    char *ver = strndup(version, vlen);
    if (!ver) {
        free(file);
        return VIAL_ENOMEM;
    }
    v[p->n++] = (step){ set, ver, file, sql };
    return 0;
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

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The NNNN_name.sql files of `path`, in name order.  A folder that does
 * not exist is VIAL_ENOENT (nothing logged: the caller knows whether that
 * matters). */
static int add_folder(plan *p, const char *set, const char *path)
{
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            return VIAL_ENOENT;
        vial_log(VIAL_LOG_ERROR, "migrate: cannot read %s: %s", path, strerror(errno));
        return VIAL_EIO;
    }
    char **names = NULL;
    size_t n = 0;
    int rc = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!valid_name(e->d_name)) {
            if (e->d_name[0] != '.')
                vial_log(VIAL_LOG_WARN, "migrate: ignoring %s/%s (expected NNNN_name.sql)", path,
                         e->d_name);
            continue;
        }
        char **nn = realloc(names, (n + 1) * sizeof *nn);
        if (!nn) {
            rc = VIAL_ENOMEM;
            break;
        }
        names = nn;
        if (!(names[n] = strdup(e->d_name))) {
            rc = VIAL_ENOMEM;
            break;
        }
        n++;
    }
    closedir(d);
    if (!rc)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++) {
        char *file = malloc(strlen(path) + strlen(names[i]) + 2);
        if (!file) {
            rc = VIAL_ENOMEM;
            break;
        }
        sprintf(file, "%s/%s", path, names[i]);
        rc = plan_add(p, set, names[i], strlen(names[i]) - 4, file, NULL);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int add_list(plan *p, const char *set, const vial__migration *list)
{
    int rc = 0;
    for (; list && list->version && !rc; list++)
        rc = plan_add(p, set, list->version, strlen(list->version), NULL, list->sql);
    return rc;
}

/* A registered folder, relative ones found under migrations_root. */
static char *set_path(vial_app *app, const char *dir, const char *backend)
{
    const char *root = dir[0] == '/' ? NULL : vial_config(app, "migrations_root");
    vial__buf b = { 0 };
    int rc = root && *root && strcmp(root, ".") ? vial__buf_printf(&b, "%s/", root) : 0;
    if (!rc)
        rc = vial__buf_printf(&b, "%s%s%s", dir, backend ? "/" : "", backend ? backend : "");
    if (!rc)
        rc = vial__buf_nul(&b);
    if (rc) {
        vial__buf_free(&b);
        return NULL;
    }
    return b.p;
}

static int add_registered(vial_app *app, plan *p, const mset *s, const char *backend)
{
    if (s->list)
        return !s->when || s->when(app) ? add_list(p, s->name, s->list) : 0;
    char *top = set_path(app, s->dir, NULL), *path = set_path(app, s->dir, backend);
    int rc = top && path ? 0 : VIAL_ENOMEM;
    struct stat st;
    if (!rc && stat(top, &st) != 0) {
        int e = errno;
        /* The app asked for these: serving without its tables is worse
         * than not starting. */
        if (s->dir[0] == '/')
            vial_log(VIAL_LOG_ERROR, "migrate: the migrations of %s are not in %s (%s)", s->name, top,
                     strerror(e));
        else
            vial_log(VIAL_LOG_ERROR, "migrate: the migrations of %s are not in %s (%s; relative "
                                     "folders are found under migrations_root = %s)",
                     s->name, top, strerror(e), vial_config(app, "migrations_root"));
        rc = VIAL_ENOENT;
    } else if (!rc && (rc = add_folder(p, s->name, path)) == VIAL_ENOENT) {
        vial_log(VIAL_LOG_WARN, "migrate: %s has no %s/ folder: none of its migrations apply to %s",
                 top, backend, backend);
        rc = 0;
    }
    free(top);
    free(path);
    return rc;
}

/* Only when the app has no set of its own is a missing migrations_dir
 * likely a mistake worth a warning (the default "migrations" of an app
 * that keeps its migrations elsewhere is simply not there). */
static int add_migrations_dir(vial_app *app, plan *p, const char *backend, bool own_folders,
                              bool verbose)
{
    const char *dir = vial_config(app, "migrations_dir");
    if (!dir || !*dir)
        return 0;
    char *path = malloc(strlen(dir) + strlen(backend) + 2);
    if (!path)
        return VIAL_ENOMEM;
    sprintf(path, "%s/%s", dir, backend);
    int rc = add_folder(p, "migrations_dir", path);
    if (rc == VIAL_ENOENT) {
        rc = 0;
        if (own_folders)
            vial_log(VIAL_LOG_DEBUG, "migrate: no %s (migrations_dir): only the app's sets apply", path);
        else if (verbose)
            printf("no migrations in %s\n", path);
        else
            vial_log(VIAL_LOG_WARN, "migrate: %s does not exist (migrations_dir = %s): none of the "
                                    "app's migrations applied", path, dir);
    }
    free(path);
    return rc;
}

static int make_plan(vial_app *app, vial_db *db, plan *p, bool verbose)
{
    const char *backend = db->ops->name;
    msets *m = sets_of(app, false);
    bool own_folders = false;
    int rc = add_list(p, "vial_db", db->ops->migrations);
    for (size_t i = 0; m && i < m->n && !rc; i++) {
        own_folders |= m->v[i].dir != NULL;
        rc = add_registered(app, p, &m->v[i], backend);
    }
    if (!rc)
        rc = add_migrations_dir(app, p, backend, own_folders, verbose);
    /* A version recorded as applied would hide the other set's migration. */
    for (size_t i = 0; i < p->n && !rc; i++) {
        for (size_t j = i + 1; j < p->n; j++) {
            if (!strcmp(p->v[i].version, p->v[j].version)) {
                vial_log(VIAL_LOG_ERROR,
                         "migrate: version %s is in both %s and %s: versions are recorded by name, "
                         "so each must be unique across all migration sets (nothing applied)",
                         p->v[i].version, p->v[i].set, p->v[j].set);
                rc = VIAL_EEXIST;
                break;
            }
        }
    }
    return rc;
}

/* ------------------------------------------------------------------ applying */

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

/* A transaction no other migrating process runs beside. */
static int begin_locked(vial_db *db)
{
    int rc = vial_db_begin(db);
    if (!rc && db->ops->lock_migrations && (rc = db->ops->lock_migrations(db)))
        vial_db_rollback(db);
    return rc;
}

/* Rolls back, keeping the message of what failed. */
static void rollback_quietly(vial_db *db, char *msg, size_t len)
{
    snprintf(msg, len, "%s", vial_db_error(db));
    if (db->in_tx)
        vial_db_rollback(db);
}

/* 1 applied, 0 already there (another instance was first), <0 failed. */
static int apply(vial_db *db, const step *s, bool verbose)
{
    char why[160], msg[sizeof db->errmsg];
    char *text = NULL;
    const char *sql = s->sql;
    if (s->file && !(sql = text = read_file(s->file, why, sizeof why))) {
        vial_log(VIAL_LOG_ERROR, "migrate: %s: %s", s->file, why);
        return VIAL_EIO;
    }
    /* applied_at in the format schema_migrations always had, from here
     * rather than from SQL that differs by backend */
    char at[32];
    struct tm tm;
    time_t now = time(NULL);
    strftime(at, sizeof at, "%Y-%m-%dT%H:%M:%SZ", gmtime_r(&now, &tm));
    int rc = begin_locked(db);
    int a = rc ? rc : applied(db, s->version);
    if (!rc && a != 0) {
        rollback_quietly(db, msg, sizeof msg);
        free(text);
        if (a < 0)
            vial_log(VIAL_LOG_ERROR, "migrate: %s", msg);
        return a < 0 ? a : 0;
    }
    if (!rc)
        rc = vial_db_script(db, sql);
    if (!rc) {
        int n = vial_db_exec(db, "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)",
                             VIAL_ARGS(VIAL_TEXT(s->version), VIAL_TEXT(at)));
        rc = n < 0 ? n : 0;
    }
    if (!rc)
        rc = vial_db_commit(db);
    free(text);
    if (rc) {
        rollback_quietly(db, msg, sizeof msg);
        vial_log(VIAL_LOG_ERROR, "migration %s of %s failed (nothing of it was applied): %s",
                 s->file ? s->file : s->version, s->set, msg);
        return rc;
    }
    if (verbose)
        printf("applied %s%s (%s)\n", s->version, s->file ? ".sql" : "", s->set);
    else
        vial_log(VIAL_LOG_INFO, "migrate: applied %s%s (%s)", s->version, s->file ? ".sql" : "", s->set);
    return 1;
}

int vial__migrate(vial_app *app, vial_db *db, bool verbose)
{
    plan p = { 0 };
    int rc = make_plan(app, db, &p, verbose);
    if (rc) {
        plan_free(&p);
        return rc;
    }
    /* Created under the lock too: two first starts must not race to it. */
    rc = begin_locked(db);
    if (!rc)
        rc = vial_db_script(db, "CREATE TABLE IF NOT EXISTS schema_migrations ("
                                " version TEXT PRIMARY KEY,"
                                " applied_at TEXT NOT NULL)");
    if (!rc)
        rc = vial_db_commit(db);
    if (rc) {
        char msg[sizeof db->errmsg];
        rollback_quietly(db, msg, sizeof msg);
        vial_log(VIAL_LOG_ERROR, "migrate: cannot create schema_migrations: %s", msg);
        plan_free(&p);
        return rc;
    }
    int done = 0;
    for (size_t i = 0; i < p.n && rc == 0; i++) {
        int a = applied(db, p.v[i].version);
        if (a == 0)
            a = apply(db, &p.v[i], verbose);
        else if (a > 0)
            continue;
        else
            vial_log(VIAL_LOG_ERROR, "migrate: %s", vial_db_error(db));
        if (a < 0)
            rc = a;
        else
            done += a;
    }
    plan_free(&p);
    if (!rc && verbose && done == 0)
        printf("database is up to date (%s)\n", db->ops->name);
    return rc;
}

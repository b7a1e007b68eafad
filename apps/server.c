/*
 * server.c — main of vial-server, the reference system.
 *
 * Composes the application's blueprints on the database module (SQLite by
 * default, PostgreSQL by DATABASE_URL): the Log REST API (apps/logs), users
 * and tokens (apps/users), the dashboard pages (apps/dashboard), the chat
 * (apps/chat), static files, and a JSON health check.
 */
#include <vial.h>

#include "chat/chat.h"
#include "dashboard/dashboard.h"
#include "logs/logs.h"
#include "users/users.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef VIAL_DATADIR
#define VIAL_DATADIR "/usr/local/share/vial"
#endif
#ifndef VIAL_BIN_TO_DATA
#define VIAL_BIN_TO_DATA "../share/vial"
#endif
#ifndef VIAL_SOURCE_DIR
#define VIAL_SOURCE_DIR "."
#endif

static time_t started;

static int health(vial_req *req)
{
    /* The health check touches the database: a server that cannot reach it
     * is not healthy (503), which is what a load balancer needs to know. */
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db, "SELECT 1", VIAL_NOARGS);
    if (!r || vial_rows_next(r) != 1)
        return vial_db_abort(req, db);
    vial_rows_close(r);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "status");
    vial_jw_str(w, "ok");
    vial_jw_key(w, "version");
    vial_jw_str(w, VIAL_VERSION_STRING);
    vial_jw_key(w, "uptime_s");
    vial_jw_int(w, (int64_t)(time(NULL) - started));
    vial_jw_key(w, "worker");
    vial_jw_int(w, vial_worker_id(req));
    vial_jw_key(w, "database");
    vial_jw_str(w, vial_db_backend(db));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* The dashboard's pages, static files and migrations: those of the working
 * directory when it is a checkout (make run), else those `make install` put
 * beside the binary (bin/../share/vial: wherever the tree was installed or
 * unpacked — a DESTDIR, a moved prefix, a .deb), else those of the prefix
 * configured at build time, else those of the source tree this binary was
 * built from.  The apps' migration sets (apps/<app>/migrations) are found
 * under migrations_root, which is that same place.  Only defaults:
 * vial.ini, the environment and flags win. */
static int data_dirs(vial_app *app)
{
    static const char *const keys[][2] = { { "dashboard_templates", "/apps/dashboard/templates" },
                                           { "static_dir", "/static" },
                                           { "migrations_dir", "/migrations" },
                                           { "migrations_root", "" } };
    char beside[4096] = "";
    ssize_t n = readlink("/proc/self/exe", beside, sizeof beside - 1);
    if (n > 0) {
        beside[n] = '\0';
        char *slash = strrchr(beside, '/');
        if (slash && (size_t)(slash - beside) + sizeof "/" VIAL_BIN_TO_DATA < sizeof beside)
            strcpy(slash + 1, VIAL_BIN_TO_DATA);
        else
            beside[0] = '\0';
    }
    const char *const bases[] = { ".", beside, VIAL_DATADIR, VIAL_SOURCE_DIR };
    char path[8192];
    for (size_t b = 0; b < sizeof bases / sizeof bases[0]; b++) {
        if (!bases[b][0])
            continue;
        snprintf(path, sizeof path, "%s/apps/dashboard/templates/base.html", bases[b]);
        if (access(path, R_OK) != 0)
            continue;
        if (b == 0)
            return 0; /* the built-in relative defaults */
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            snprintf(path, sizeof path, "%s%s", bases[b], keys[i][1]);
            if (vial_config_default(app, keys[i][0], path))
                return 1;
        }
        return 0;
    }
    return 0; /* nowhere: the dashboard says so at start */
}

int main(int argc, char **argv)
{
    started = time(NULL);
    vial_app *app = vial_app_new("vial-server");
    if (!app)
        return 1;
    if (vial_db_init(app))
        return 1;
    if (logs_register(app) || users_register(app) || dashboard_register(app) || chat_register(app) ||
        vial_static(app, "/static", NULL))
        return 1;
    vial_get(app, "/health", health);
    if (data_dirs(app))
        return 1;
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

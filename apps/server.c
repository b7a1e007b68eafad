/*
 * server.c — main of vial-server, the reference system.
 *
 * Composes the application's blueprints on the database module (SQLite by
 * default, PostgreSQL by DATABASE_URL): the Log REST API (apps/logs), users
 * and tokens (apps/users), the music catalogue (apps/music), the dashboard
 * pages (apps/dashboard), the chat (apps/chat), static files, and a JSON health check.
 */
#include <vial.h>

#include "chat/chat.h"
#include "dashboard/dashboard.h"
#include "logs/logs.h"
#include "music/music.h"
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

static const vial_field health_f[] = {
    VIAL_FIELD("status", VIAL_F_STRING, VIAL_REQUIRED, .one_of = (const char *const[]){ "ok", NULL }),
    VIAL_FIELD("version", VIAL_F_STRING, VIAL_REQUIRED, .doc = "vial's version"),
    VIAL_FIELD("uptime_s", VIAL_F_INT, VIAL_REQUIRED, .doc = "seconds since the process started"),
    VIAL_FIELD("worker", VIAL_F_INT, VIAL_REQUIRED, .doc = "the worker thread that answered"),
    VIAL_FIELD("database", VIAL_F_STRING, VIAL_REQUIRED,
               .one_of = (const char *const[]){ "sqlite", "postgresql", NULL }),
    VIAL_FIELD_END,
};
static const vial_schema health_s = { health_f, 0 };
static const vial_response_doc health_r[] = {
    { 200, "the server and its database answer", &health_s, NULL, NULL },
    { 503, "the database does not answer", NULL, NULL, NULL },
    { 0, NULL, NULL, NULL, NULL },
};
static const vial_doc health_doc = {
    .summary = "Health check with a database round trip",
    .description = "Runs `SELECT 1`: a server that cannot reach its database is not healthy. "
                   "(/healthz and /readyz are the probes without and with every check.)",
    .responses = health_r,
    .security = "",
};

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
    if (logs_register(app) || users_register(app) || music_register(app) || dashboard_register(app) ||
        chat_register(app) ||
        vial_static(app, "/static", NULL))
        return 1;
    vial_route_add(vial_app_bp(app), VIAL_GET, "/health", health,
                   &(vial_route_opts){ .endpoint = "health", .doc = &health_doc });
    /* The API document of every route above and the page that shows it
     * (Swagger UI from npm, copied into static/vendor by `make assets`). */
    if (vial_openapi_info(app, "vial-server", VIAL_VERSION_STRING,
                          "The reference system built on vial: the user-activity Log REST API, "
                          "accounts and tokens, and the dashboard's pages.") ||
        vial_openapi_serve(app, "/openapi.json", "/docs", "/static/vendor/swagger-ui"))
        return 1;
    if (data_dirs(app))
        return 1;
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

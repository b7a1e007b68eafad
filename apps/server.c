/*
 * server.c — main of vial-server, the reference system.
 *
 * Composes the application's blueprints on the database module (SQLite by
 * default, PostgreSQL by DATABASE_URL).  Until the apps land (logs, users,
 * chat, music) it serves a home page and a JSON health check.
 */
#include <vial.h>

#include "logs/logs.h"
#include "users/users.h"

#include <time.h>

static time_t started;

static const char home_html[] =
    "<!doctype html>\n"
    "<html lang=\"en\"><head><meta charset=\"utf-8\"><title>vial-server</title>\n"
    "<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:3em auto;padding:0 1em}"
    "code{background:#f3f3f3;padding:.1em .3em}</style></head>\n"
    "<body><h1>vial-server</h1>\n"
    "<p>A Flask-style web framework in C, and the system built on it.</p>\n"
    "<ul><li><a href=\"/health\"><code>GET /health</code></a> &mdash; JSON health check</li></ul>\n"
    "</body></html>\n";

static int home(vial_req *req)
{
    return vial_send_static(req, 200, "text/html; charset=utf-8", home_html, sizeof home_html - 1);
}

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

int main(int argc, char **argv)
{
    started = time(NULL);
    vial_app *app = vial_app_new("vial-server");
    if (!app)
        return 1;
    if (vial_db_init(app))
        return 1;
    if (logs_register(app) || users_register(app) || vial_static(app, "/static", NULL))
        return 1;
    vial_get(app, "/", home);
    vial_get(app, "/health", health);
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

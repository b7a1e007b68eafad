/*
 * health.c — /healthz and /readyz, as Kubernetes probes and load balancers
 * read them.
 *
 * /healthz says the process serves: it answers 200 whenever a worker can
 * run a view, draining or not, so a liveness probe never restarts a server
 * that is merely waiting for its database.  /readyz says whether this
 * instance should get traffic: 503 while it drains (a reload or a stop:
 * the balancer moves on before the sockets close) or while any readiness
 * check fails.  Modules add the checks (the database's SELECT 1, Redis's
 * PING); a check runs on the worker thread of the probe, with that
 * worker's own connections, so it tests exactly what requests will use.
 */
#include "core.h"

#include <stdlib.h>

#define WHY_MAX 200

struct vial__check {
    char *name;
    vial_ready_fn fn;
    void *ud;
};

int vial_ready_check(vial_app *app, const char *name, vial_ready_fn fn, void *ud)
{
    if (!app || !name || !*name || !fn)
        return VIAL_EINVAL;
    if (app->server)
        return VIAL_EBUSY; /* workers read the list without a lock */
    for (size_t i = 0; i < app->nchecks; i++)
        if (!strcmp(app->checks[i].name, name))
            return VIAL_EEXIST;
    vial__check *c = realloc(app->checks, (app->nchecks + 1) * sizeof *c);
    if (!c)
        return VIAL_ENOMEM;
    app->checks = c;
    char *copy = strdup(name);
    if (!copy)
        return VIAL_ENOMEM;
    app->checks[app->nchecks++] = (vial__check){ copy, fn, ud };
    return 0;
}

void vial__checks_free(vial_app *app)
{
    for (size_t i = 0; i < app->nchecks; i++)
        free(app->checks[i].name);
    free(app->checks);
    app->checks = NULL;
    app->nchecks = 0;
}

int vial__healthz_view(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "status");
    vial_jw_str(w, "ok");
    vial_jw_end(w);
    int rc = vial_jw_finish(w);
    vial_set_header(req, "Cache-Control", "no-store");
    return rc;
}

static int unready(vial_req *req, const char *why, json_t *extra)
{
    int rc = vial_abort_json(req, 503, why, extra);
    vial_set_header(req, "Retry-After", "1");
    vial_set_header(req, "Cache-Control", "no-store");
    return rc;
}

int vial__readyz_view(vial_req *req)
{
    vial_app *app = req->app;
    if (app->server && vial__server_stopping(app->server))
        return unready(req, "draining: this instance is stopping or reloading",
                       json_pack("{s:s}", "status", "draining"));
    json_t *checks = json_object();
    if (!checks)
        return vial_abort(req, 503, "out of memory");
    char first[WHY_MAX + 64] = "";
    for (size_t i = 0; i < app->nchecks; i++) {
        char why[WHY_MAX] = "";
        int rc = app->checks[i].fn(req, app->checks[i].ud, why, sizeof why);
        if (rc && !*why)
            snprintf(why, sizeof why, "%s", vial_strerror(rc));
        json_object_set_new(checks, app->checks[i].name, json_string(rc ? why : "ok"));
        if (rc && !*first)
            snprintf(first, sizeof first, "not ready: %s: %s", app->checks[i].name, why);
    }
    if (*first)
        return unready(req, first, json_pack("{s:s,s:o}", "status", "unavailable", "checks", checks));
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "status");
    vial_jw_str(w, "ready");
    vial_jw_key(w, "checks");
    vial_jw_value(w, checks);
    vial_jw_end(w);
    json_decref(checks);
    int rc = vial_jw_finish(w);
    vial_set_header(req, "Cache-Control", "no-store");
    return rc;
}

/* The admin port (metrics_port) answers the operator's paths only: a
 * firewall rule for it then covers exactly those. */
void vial__admin_dispatch(vial_req *req)
{
    vial_app *app = req->app;
    const vial__msg *m = &req->m;
    req->admin = true;
    const char *path = vial_path(req);
    bool get = m->method && (!strcmp(m->method, "GET") || !strcmp(m->method, "HEAD"));
    const char *mp = vial_config(app, "metrics_path"), *hz = vial_config(app, "healthz_path"),
               *rz = vial_config(app, "readyz_path");
    bool probes = vial_config_bool(app, "health_checks", 1);
    if (!path || (!(app->metrics_on && mp && !strcmp(path, mp)) &&
                  !(probes && ((hz && !strcmp(path, hz)) || (rz && !strcmp(path, rz)))))) {
        vial_abort(req, 404, "the admin port serves metrics_path, healthz_path and readyz_path");
        return;
    }
    if (!get) {
        vial_abort(req, 405, "GET or HEAD");
        vial_set_header(req, "Allow", "GET, HEAD");
        return;
    }
    if (app->metrics_on && mp && !strcmp(path, mp))
        vial__metrics_view(req);
    else if (hz && !strcmp(path, hz))
        vial__healthz_view(req);
    else
        vial__readyz_view(req);
}

/*
 * app.c — the application: blueprints, hooks, error handlers, dispatch,
 * reverse routing, configuration defaults and the command line.
 *
 * Registration (routes, hooks, handlers) only records declarations on the
 * blueprint they were made on; vial__app_compile() walks the blueprint tree
 * once, applies prefixes and names, and builds the router.  Errors found at
 * registration are returned and remembered, and vial_run() refuses to start
 * while one stands, so a typo in a pattern cannot yield a server that
 * silently lacks a route.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ built-in configuration */

#define BARE (VIAL__CFG_BUILTIN | VIAL__CFG_BARE_ENV) /* also HOST, PORT... without VIAL_ */
static const struct {
    const char *key, *def, *help;
    unsigned flags;
} builtin_keys[] = {
    { "host", "127.0.0.1", "address to listen on", BARE },
    { "port", "5000", "TCP port to listen on", BARE },
    { "workers", "0", "worker threads (0: one per CPU core)", BARE },
    { "debug", "off", "debug mode: detailed errors, no caching", VIAL__CFG_BUILTIN },
    { "log_level", "info", "debug, info, warn or error", BARE },
    { "access_log", "on", "one log line per request", VIAL__CFG_BUILTIN },
    { "log_format", "text", "text, or json: one JSON object per line", BARE },
    { "log_file", "", "append the log to this file (reopened on SIGUSR1) instead of stderr", BARE },
    { "max_body", "10M", "largest request body accepted (413 above)", VIAL__CFG_BUILTIN },
    { "max_upload", "100M", "largest multipart/form-data body (streamed to a temporary file)", VIAL__CFG_BUILTIN },
    { "upload_dir", "/tmp", "where multipart bodies are spooled (unlinked files)", VIAL__CFG_BUILTIN },
    { "max_header_size", "16K", "largest request line + headers (431 above)", VIAL__CFG_BUILTIN },
    { "max_headers", "100", "most request headers accepted (431 above)", VIAL__CFG_BUILTIN },
    { "max_uri", "8K", "longest request target (414 above)", VIAL__CFG_BUILTIN },
    { "header_timeout", "10s", "time allowed to send the request headers", VIAL__CFG_BUILTIN },
    { "body_timeout", "30s", "longest pause while sending the request body", VIAL__CFG_BUILTIN },
    { "idle_timeout", "60s", "keep-alive connections idle longer are closed", VIAL__CFG_BUILTIN },
    { "write_timeout", "30s", "longest stall while the client reads a response", VIAL__CFG_BUILTIN },
    { "shutdown_timeout", "10s", "time in-flight requests get on SIGTERM/SIGINT", VIAL__CFG_BUILTIN },
    { "drain_delay", "0s", "on SIGTERM/SIGINT, serve on this long with /readyz answering 503 (so load "
      "balancers stop sending) before draining", VIAL__CFG_BUILTIN },
    { "max_pending_output", "4M", "stop reading a connection while this much is unsent", VIAL__CFG_BUILTIN },
    { "backlog", "1024", "listen(2) backlog per worker", VIAL__CFG_BUILTIN },
    { "processes", "0", "run this many server processes under a supervisor that replaces any that "
      "dies (0: one process, no supervisor); more than 1 needs redis_url for shared state", BARE },
    { "reload_timeout", "60s", "how long a new generation may take to listen on SIGHUP before the "
      "old one serves on", VIAL__CFG_BUILTIN },
    { "hang_timeout", "60s", "with processes: a worker whose loop stops turning this long is "
      "aborted and its process replaced (0: never)", VIAL__CFG_BUILTIN },
    { "pid_file", "", "write the serving process's pid here (the supervisor's with processes)",
      VIAL__CFG_BUILTIN },
    { "trusted_proxies", "",
      "proxy addresses and CIDR ranges (127.0.0.1/8, 10.0.0.0/8, ::1) whose X-Forwarded-For, "
      "X-Real-IP, X-Forwarded-Proto, X-Forwarded-Prefix and X-Request-Id are believed", VIAL__CFG_BUILTIN },
    { "security_headers", "on", "add nosniff, Referrer-Policy, and for HTML CSP and X-Frame-Options", VIAL__CFG_BUILTIN },
    { "url_prefix", "", "the path the app is mounted at behind a proxy (e.g. /MusicGroup): routed "
      "with or without it, put back in url_for, redirects, Link headers and cookie paths",
      VIAL__CFG_BUILTIN },
    { "metrics", "on", "keep request, connection and process metrics and serve them at metrics_path",
      VIAL__CFG_BUILTIN },
    { "metrics_path", "/metrics", "where the Prometheus metrics are served", VIAL__CFG_BUILTIN },
    { "metrics_port", "0", "serve metrics_path, healthz_path and readyz_path on this port (to anyone "
      "who reaches it) instead of metrics on the main port; with processes, process i uses "
      "metrics_port + i (0: none)", VIAL__CFG_BUILTIN },
    { "metrics_allow", "",
      "networks besides loopback that may read the metrics (addresses and CIDR ranges)",
      VIAL__CFG_BUILTIN },
    { "health_checks", "on", "serve healthz_path (the process serves) and readyz_path (its database "
      "and Redis answer, and it is not draining)", VIAL__CFG_BUILTIN },
    { "healthz_path", "/healthz", "the liveness probe", VIAL__CFG_BUILTIN },
    { "readyz_path", "/readyz", "the readiness probe (503 with the reason when not ready)",
      VIAL__CFG_BUILTIN },
    { "content_security_policy",
      "default-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; "
      "base-uri 'self'; form-action 'self'",
      "Content-Security-Policy of HTML responses", VIAL__CFG_BUILTIN },
};

/*
 * Settings of modules that have no set-up call (the template module: an app
 * just renders).  Such a module adds its declarer before main, from a
 * constructor in its object, so every app of a program that links it has
 * the keys before flags, environment and file are read, and core names
 * none of them.  Written before main only, read after.
 */
static int (*module_keys[8])(vial_app *app);
static size_t nmodule_keys;

void vial__app_module_keys(int (*declare)(vial_app *app))
{
    for (size_t i = 0; i < nmodule_keys; i++)
        if (module_keys[i] == declare)
            return;
    if (nmodule_keys < VIAL__ARRAY_LEN(module_keys))
        module_keys[nmodule_keys++] = declare;
}

/* ------------------------------------------------------------------ app */

static void bp_init(vial_bp *bp, vial_app *app)
{
    memset(bp, 0, sizeof *bp);
    bp->app = app;
}

vial_app *vial_app_new(const char *name)
{
    vial_app *app = calloc(1, sizeof *app);
    if (!app)
        return NULL;
    app->name = strdup(name ? name : "vial");
    app->cfg = vial__config_new();
    if (!app->name || !app->cfg) {
        vial_app_free(app);
        return NULL;
    }
    bp_init(&app->root, app);
    app->root.name = strdup("");
    app->root.prefix = strdup("");
    if (!app->root.name || !app->root.prefix) {
        vial_app_free(app);
        return NULL;
    }
    for (size_t i = 0; i < VIAL__ARRAY_LEN(builtin_keys); i++) {
        if (vial__config_define(app->cfg, builtin_keys[i].key, builtin_keys[i].def,
                                builtin_keys[i].help, builtin_keys[i].flags)) {
            vial_app_free(app);
            return NULL;
        }
    }
    /* The registry first: modules declare their metrics with their keys. */
    if (vial__metrics_init(app)) {
        vial_app_free(app);
        return NULL;
    }
    for (size_t i = 0; i < nmodule_keys; i++) {
        if (module_keys[i](app)) {
            vial_app_free(app);
            return NULL;
        }
    }
    app->dirty = true;
    if (vial__app_apply_config(app)) {
        vial_app_free(app);
        return NULL;
    }
    return app;
}

static void free_trusted(vial_app *app);

static void route_free(vial__route *r)
{
    if (!r)
        return;
    free(r->pattern);
    free(r->endpoint);
    vial__segs_free(r->segs, r->nsegs);
    free(r);
}

static void bp_clear(vial_bp *bp)
{
    for (size_t i = 0; i < bp->nchildren; i++)
        vial_bp_free(bp->children[i]);
    free(bp->children);
    for (size_t i = 0; i < bp->nroutes; i++)
        route_free(bp->routes[i]);
    free(bp->routes);
    for (size_t i = 0; i < bp->nbefore; i++)
        if (bp->before[i].ud_free)
            bp->before[i].ud_free(bp->before[i].ud);
    free(bp->before);
    free(bp->after);
    free(bp->errh);
    free(bp->name);
    free(bp->prefix);
    free(bp->error);
    free(bp->doc);
    free(bp->security);
    for (vial__ext *e = bp->exts, *next; e; e = next) {
        next = e->next;
        if (e->free_fn)
            e->free_fn(e->data);
        free(e);
    }
}

static void compiled_free(vial_app *app)
{
    vial__router_free(app->router);
    app->router = NULL;
    for (size_t i = 0; i < app->nall_routes; i++)
        route_free(app->all_routes[i]);
    free(app->all_routes);
    app->all_routes = NULL;
    app->nall_routes = 0;
}

void vial_app_free(vial_app *app)
{
    if (!app)
        return;
    /* Module data first, newest first, while everything it may still use
     * (worker slots, settings, other modules' data) is there: the test
     * client's worker, for one, runs the slots' finalizers. */
    for (vial__ext *e = atomic_load(&app->exts), *next; e; e = next) {
        next = e->next;
        if (e->free_fn)
            e->free_fn(e->data);
        free(e);
    }
    compiled_free(app);
    bp_clear(&app->root);
    vial__metrics_fini(app);
    vial__checks_free(app);
    free(app->url_prefix);
    free(app->route_dur);
    vial__config_free(app->cfg);
    free(app->cmds);
    free(app->slots);
    free(app->start_fns);
    free(app->lim.upload_dir);
    free(app->csp);
    free_trusted(app);
    free(app->error);
    free(app->name);
    free(app);
}

/* ------------------------------------------------------------------ blueprints */

vial_bp *vial_bp_new(const char *name)
{
    if (!name || !*name || strchr(name, '.'))
        return NULL; /* names join endpoints with '.' */
    vial_bp *bp = malloc(sizeof *bp);
    if (!bp)
        return NULL;
    bp_init(bp, NULL);
    bp->name = strdup(name);
    if (!bp->name) {
        free(bp);
        return NULL;
    }
    return bp;
}

void vial_bp_free(vial_bp *bp)
{
    if (!bp)
        return;
    bp_clear(bp);
    free(bp);
}

vial_bp *vial_app_bp(vial_app *app)
{
    return app ? &app->root : NULL;
}

vial_bp *vial_bp_self(vial_bp *bp)
{
    return bp;
}

static vial_app *bp_app(vial_bp *bp)
{
    while (bp && !bp->app && bp->parent)
        bp = bp->parent;
    return bp ? bp->app : NULL;
}

static void mark_dirty(vial_bp *bp)
{
    vial_app *app = bp_app(bp);
    if (app)
        app->dirty = true;
}

void vial__bp_set_error(vial_bp *bp, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vial_log(VIAL_LOG_ERROR, "%s", msg);
    if (!bp->error)
        bp->error = strdup(msg);
}

static void set_app(vial_bp *bp, vial_app *app)
{
    bp->app = app;
    for (size_t i = 0; i < bp->nchildren; i++)
        set_app(bp->children[i], app);
}

static bool prefix_ok(const char *p)
{
    if (!*p)
        return true;
    if (p[0] != '/' || p[strlen(p) - 1] == '/')
        return false;
    return !strstr(p, "//") && !strpbrk(p, "<>%?# ");
}

int vial_bp_register(vial_bp *parent, vial_bp *bp, const char *url_prefix)
{
    if (!bp)
        return VIAL_EINVAL;
    if (!parent || bp->parent || bp == parent) {
        if (!bp->parent && bp != parent)
            vial_bp_free(bp);
        return VIAL_EINVAL;
    }
    if (!url_prefix)
        url_prefix = "";
    if (!prefix_ok(url_prefix)) {
        vial__bp_set_error(parent, "blueprint '%s': bad URL prefix '%s' (\"\" or \"/x\", no trailing slash)",
                           bp->name, url_prefix);
        vial_bp_free(bp);
        return VIAL_EPATTERN;
    }
    for (size_t i = 0; i < parent->nchildren; i++) {
        if (!strcmp(parent->children[i]->name, bp->name)) {
            vial__bp_set_error(parent, "blueprint name '%s' registered twice", bp->name);
            vial_bp_free(bp);
            return VIAL_EEXIST;
        }
    }
    vial_bp **kids = realloc(parent->children, (parent->nchildren + 1) * sizeof *kids);
    char *pre = strdup(url_prefix);
    if (!kids || !pre) {
        free(pre);
        if (kids)
            parent->children = kids;
        vial_bp_free(bp);
        return VIAL_ENOMEM;
    }
    parent->children = kids;
    free(bp->prefix);
    bp->prefix = pre;
    bp->parent = parent;
    parent->children[parent->nchildren++] = bp;
    set_app(bp, bp_app(parent));
    mark_dirty(parent);
    return 0;
}

static bool same_shape(const vial__route *a, const vial__route *b)
{
    if (a->nsegs != b->nsegs)
        return false;
    for (size_t i = 0; i < a->nsegs; i++) {
        if (a->segs[i].kind != b->segs[i].kind)
            return false;
        if (a->segs[i].kind == VIAL__SEG_STATIC && strcmp(a->segs[i].text, b->segs[i].text))
            return false;
    }
    return true;
}

int vial_route(vial_bp *bp, unsigned methods, const char *pattern, vial_handler fn,
               const char *endpoint)
{
    return vial_route_add(bp, methods, pattern, fn, &(vial_route_opts){ .endpoint = endpoint });
}

void *vial_route_ud(vial_req *req)
{
    return req && req->route ? req->route->ud : NULL;
}

int vial_route_add(vial_bp *bp, unsigned methods, const char *pattern, vial_handler fn,
                   const vial_route_opts *opts)
{
    static const vial_route_opts none;
    if (!opts)
        opts = &none;
    const char *endpoint = opts->endpoint;
    if (!bp || !fn || !pattern)
        return VIAL_EINVAL;
    const unsigned all = VIAL_GET | VIAL_HEAD | VIAL_POST | VIAL_PUT | VIAL_DELETE | VIAL_PATCH |
                         VIAL_OPTIONS;
    if (!methods || (methods & ~all)) {
        vial__bp_set_error(bp, "route %s: bad method set 0x%x", pattern, methods);
        return VIAL_EINVAL;
    }
    vial__route *r = calloc(1, sizeof *r);
    if (!r)
        return VIAL_ENOMEM;
    const char *why = NULL;
    int rc = vial__pattern_parse(pattern, &r->segs, &r->nsegs, &r->nparams, &why);
    if (rc) {
        if (rc == VIAL_EPATTERN)
            vial__bp_set_error(bp, "route '%s': %s", pattern, why);
        route_free(r);
        return rc;
    }
    r->methods = methods;
    r->fn = fn;
    r->ud = opts->ud;
    r->doc = opts->doc;
    r->bp = bp;
    r->pattern = strdup(pattern);
    r->endpoint = strdup(endpoint ? endpoint : pattern);
    if (!r->pattern || !r->endpoint) {
        route_free(r);
        return VIAL_ENOMEM;
    }
    if (strchr(r->endpoint, '.')) {
        vial__bp_set_error(bp, "route '%s': endpoint '%s' may not contain '.'", pattern, r->endpoint);
        route_free(r);
        return VIAL_EINVAL;
    }
    for (size_t i = 0; i < bp->nroutes; i++) {
        if ((bp->routes[i]->methods & methods) && same_shape(bp->routes[i], r)) {
            vial__bp_set_error(bp, "route '%s' duplicates '%s' for the same method", pattern,
                               bp->routes[i]->pattern);
            route_free(r);
            return VIAL_EEXIST;
        }
    }
    vial__route **rs = realloc(bp->routes, (bp->nroutes + 1) * sizeof *rs);
    if (!rs) {
        route_free(r);
        return VIAL_ENOMEM;
    }
    bp->routes = rs;
    vial_app *app = bp_app(bp);
    r->order = app ? app->route_seq++ : bp->nroutes;
    bp->routes[bp->nroutes++] = r;
    mark_dirty(bp);
    return 0;
}

int vial_route_table(vial_bp *bp, const vial_route_def *defs)
{
    if (!bp || !defs)
        return VIAL_EINVAL;
    int first = 0;
    for (const vial_route_def *d = defs; d->methods; d++) {
        int rc = vial_route_add(bp, d->methods, d->pattern, d->fn,
                                &(vial_route_opts){ .endpoint = d->endpoint, .ud = d->ud, .doc = d->doc });
        if (rc && !first)
            first = rc;
    }
    return first;
}

static int push_fn(vial_handler **arr, size_t *n, vial_handler fn)
{
    if (!fn)
        return VIAL_EINVAL;
    vial_handler *a = realloc(*arr, (*n + 1) * sizeof *a);
    if (!a)
        return VIAL_ENOMEM;
    a[(*n)++] = fn;
    *arr = a;
    return 0;
}

static int push_hook(vial_bp *bp, vial__hook h)
{
    vial__hook *a = realloc(bp->before, (bp->nbefore + 1) * sizeof *a);
    if (!a)
        return VIAL_ENOMEM;
    a[bp->nbefore++] = h;
    bp->before = a;
    return 0;
}

int vial_bp_before(vial_bp *bp, vial_handler fn)
{
    if (!bp || !fn)
        return VIAL_EINVAL;
    return push_hook(bp, (vial__hook){ .fn = fn });
}

int vial__bp_before_data(vial_bp *bp, int (*fn)(vial_req *, void *), void *ud, void (*ud_free)(void *))
{
    if (!bp || !fn)
        return VIAL_EINVAL;
    return push_hook(bp, (vial__hook){ .fn_data = fn, .ud = ud, .ud_free = ud_free });
}

int vial_bp_after(vial_bp *bp, vial_handler fn)
{
    return bp ? push_fn(&bp->after, &bp->nafter, fn) : VIAL_EINVAL;
}

int vial_bp_errorhandler(vial_bp *bp, int status, vial_error_handler fn)
{
    if (!bp || !fn || status < 0 || (status && (status < 400 || status > 599)))
        return VIAL_EINVAL;
    for (size_t i = 0; i < bp->nerrh; i++) {
        if (bp->errh[i].status == status) {
            bp->errh[i].fn = fn;
            return 0;
        }
    }
    vial__errh *e = realloc(bp->errh, (bp->nerrh + 1) * sizeof *e);
    if (!e)
        return VIAL_ENOMEM;
    e[bp->nerrh++] = (vial__errh){ status, fn };
    bp->errh = e;
    return 0;
}

/* ------------------------------------------------------------------ compile */

static const char *first_error(vial_bp *bp)
{
    if (bp->error)
        return bp->error;
    for (size_t i = 0; i < bp->nchildren; i++) {
        const char *e = first_error(bp->children[i]);
        if (e)
            return e;
    }
    return NULL;
}

static int compile_bp(vial_app *app, vial_bp *bp, const char *prefix, const char *names)
{
    char full_prefix[1024], full_names[512];
    snprintf(full_prefix, sizeof full_prefix, "%s%s", prefix, bp->prefix ? bp->prefix : "");
    if (bp == &app->root)
        full_names[0] = '\0';
    else
        snprintf(full_names, sizeof full_names, "%s%s.", names, bp->name);
    for (size_t i = 0; i < bp->nroutes; i++) {
        const vial__route *d = bp->routes[i];
        vial__route *r = calloc(1, sizeof *r);
        if (!r)
            return VIAL_ENOMEM;
        size_t pl = strlen(full_prefix) + strlen(d->pattern) + 1;
        size_t el = strlen(full_names) + strlen(d->endpoint) + 1;
        r->pattern = malloc(pl);
        r->endpoint = malloc(el);
        if (!r->pattern || !r->endpoint) {
            route_free(r);
            return VIAL_ENOMEM;
        }
        /* "/api" + "/" is "/api/", as in Flask. */
        snprintf(r->pattern, pl, "%s%s", full_prefix, d->pattern);
        snprintf(r->endpoint, el, "%s%s", full_names, d->endpoint);
        r->methods = d->methods;
        r->fn = d->fn;
        r->ud = d->ud;
        r->doc = d->doc;
        r->idx = app->nall_routes;
        r->bp = bp;
        r->order = d->order;
        const char *why = NULL;
        int rc = vial__pattern_parse(r->pattern, &r->segs, &r->nsegs, &r->nparams, &why);
        if (!rc)
            rc = vial__router_add(app->router, r, &why);
        if (rc) {
            if (why)
                vial__bp_set_error(&app->root, "route %s (%s): %s", r->pattern, r->endpoint, why);
            route_free(r);
            return rc;
        }
        vial__route **all = realloc(app->all_routes, (app->nall_routes + 1) * sizeof *all);
        if (!all) {
            route_free(r);
            return VIAL_ENOMEM;
        }
        app->all_routes = all;
        app->all_routes[app->nall_routes++] = r;
    }
    for (size_t i = 0; i < bp->nchildren; i++) {
        int rc = compile_bp(app, bp->children[i], full_prefix, full_names);
        if (rc)
            return rc;
    }
    return 0;
}

/* True when a compiled route answers GET at `path` itself (the same
 * pattern, prefixes included). */
static bool routed_get(const vial_app *app, const char *path)
{
    vial__route probe = { 0 };
    const char *why = NULL;
    if (vial__pattern_parse(path, &probe.segs, &probe.nsegs, &probe.nparams, &why))
        return false;
    bool found = false;
    for (size_t i = 0; !found && i < app->nall_routes; i++)
        found = (app->all_routes[i]->methods & VIAL_GET) && same_shape(app->all_routes[i], &probe);
    vial__segs_free(probe.segs, probe.nsegs);
    return found;
}

/* A route core serves (metrics, probes) is a route of the app's like any
 * other (listed by `routes`); an app that answers GET at the same path
 * keeps its own.  True when the route was added. */
static bool builtin_route(vial_app *app, const char *path, vial_handler fn, const char *endpoint,
                          const vial_doc *doc)
{
    if (!path || !*path || routed_get(app, path))
        return false;
    return vial_route_add(&app->root, VIAL_GET, path, fn,
                          &(vial_route_opts){ .endpoint = endpoint, .doc = doc }) == 0;
}

static int compile_routes(vial_app *app);

int vial__app_compile(vial_app *app)
{
    if (app->dirty || !app->router) {
        int rc = compile_routes(app);
        if (rc)
            return rc;
    } else if (app->error) {
        return VIAL_EINVAL;
    }
    bool added = false;
    if (app->metrics_on && !app->metrics_route && app->lim.loop.admin_port == 0) {
        app->metrics_route = true;
        added |= builtin_route(app, vial_config(app, "metrics_path"), vial__metrics_view, "metrics",
                               &vial__metrics_doc);
    }
    if (!app->health_route && vial_config_bool(app, "health_checks", 1)) {
        app->health_route = true;
        added |= builtin_route(app, vial_config(app, "healthz_path"), vial__healthz_view, "healthz",
                               &vial__healthz_doc);
        added |= builtin_route(app, vial_config(app, "readyz_path"), vial__readyz_view, "readyz",
                               &vial__readyz_doc);
    }
    return added ? compile_routes(app) : 0;
}

static int compile_routes(vial_app *app)
{
    const char *e = first_error(&app->root);
    if (e) {
        free(app->error);
        app->error = strdup(e);
        return VIAL_EINVAL;
    }
    compiled_free(app);
    app->router = vial__router_new();
    if (!app->router)
        return VIAL_ENOMEM;
    int rc = compile_bp(app, &app->root, "", "");
    if (rc) {
        e = first_error(&app->root);
        free(app->error);
        app->error = strdup(e ? e : vial_strerror(rc));
        compiled_free(app);
        return rc;
    }
    if ((rc = vial__metrics_routes(app)))
        return rc;
    app->dirty = false;
    return 0;
}

/* ------------------------------------------------------------------ configuration */

static void free_trusted(vial_app *app)
{
    vial__netlist_free(app->trusted);
    app->trusted = NULL;
}

static int parse_trusted(vial_app *app)
{
    char why[200];
    vial__netlist *l = NULL;
    int rc = vial__netlist_parse(vial_config(app, "trusted_proxies"), &l, why, sizeof why);
    if (rc) {
        if (rc == VIAL_EPARSE)
            vial_log(VIAL_LOG_ERROR, "config trusted_proxies: %s", why);
        return VIAL_EINVAL;
    }
    free_trusted(app);
    app->trusted = l;
    return 0;
}

int vial__app_apply_config(vial_app *app)
{
    vial__h1_cfg *h = &app->lim.h1;
    vial__loop_cfg *lc = &app->lim.loop;
    uint64_t max_header = 0, max_headers = 0, max_uri = 0, max_pending = 0;
    struct {
        const char *key;
        bool duration;
        uint64_t *out;
        int64_t min;
    } items[] = {
        { "max_body", false, &h->max_body, 0 },
        { "max_upload", false, &h->max_upload, 0 },
        { "max_header_size", false, &max_header, 256 },
        { "max_headers", false, &max_headers, 1 },
        { "max_uri", false, &max_uri, 16 },
        { "header_timeout", true, &lc->header_timeout_ms, 1 },
        { "body_timeout", true, &lc->body_timeout_ms, 1 },
        { "idle_timeout", true, &lc->idle_timeout_ms, 1 },
        { "write_timeout", true, &lc->write_timeout_ms, 1 },
        { "shutdown_timeout", true, &lc->shutdown_timeout_ms, 0 },
        { "reload_timeout", true, &lc->reload_timeout_ms, 1 },
        { "drain_delay", true, &lc->drain_delay_ms, 0 },
        { "hang_timeout", true, &lc->hang_timeout_ms, 0 },
        { "max_pending_output", false, &max_pending, 4096 },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(items); i++) {
        const char *v = vial_config(app, items[i].key);
        int64_t x = items[i].duration ? vial__parse_duration_ms(v) : vial__parse_size(v);
        bool is_count = items[i].out == &max_header || items[i].out == &max_headers ||
                        items[i].out == &max_uri || items[i].out == &max_pending;
        if (x < items[i].min || (is_count && x > (int64_t)UINT32_MAX)) {
            vial_log(VIAL_LOG_ERROR, "config %s: bad value '%s' (%s)", items[i].key, v ? v : "",
                     items[i].duration ? "a duration like 10s or 500ms" : "a size like 16K or 10M");
            return VIAL_EINVAL;
        }
        *items[i].out = (uint64_t)x;
    }
    h->max_header_bytes = (size_t)max_header;
    h->max_headers = (size_t)max_headers;
    h->max_uri = (size_t)max_uri;
    h->max_pending_output = lc->max_pending_output = (size_t)max_pending;
    free(app->lim.upload_dir);
    app->lim.upload_dir = strdup(vial_config(app, "upload_dir"));
    if (!app->lim.upload_dir)
        return VIAL_ENOMEM;
    h->upload_dir = app->lim.upload_dir;
    /* The URI is part of the header section: keep the two limits coherent. */
    if (h->max_uri > h->max_header_bytes)
        h->max_uri = h->max_header_bytes;
    const char *lv = vial_config(app, "log_level");
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    int level = -1;
    for (int i = 0; i < 4; i++)
        if (lv && !strcasecmp(lv, levels[i]))
            level = i;
    if (level < 0) {
        vial_log(VIAL_LOG_ERROR, "config log_level: '%s' is not debug, info, warn or error",
                 lv ? lv : "");
        return VIAL_EINVAL;
    }
    vial__log_level = level;
    const char *lf = vial_config(app, "log_format");
    if (!lf || (strcmp(lf, "text") && strcmp(lf, "json"))) {
        vial_log(VIAL_LOG_ERROR, "config log_format: '%s' is not text or json", lf ? lf : "");
        return VIAL_EINVAL;
    }
    vial__log_json = !strcmp(lf, "json");
    const char *file = vial_config(app, "log_file");
    const char *now = vial__log_file();
    if (file && *file && !(now && !strcmp(now, file))) {
        int e = vial__log_open(file);
        if (e) {
            vial_log(VIAL_LOG_ERROR, "config log_file: cannot open '%s': %s", file, strerror(-e));
            return VIAL_EINVAL;
        }
    }
    app->debug = vial_config_bool(app, "debug", 0);
    app->access_log = vial_config_bool(app, "access_log", 1);
    app->security_headers = vial_config_bool(app, "security_headers", 1);
    lc->name = app->name;
    lc->host = vial_config(app, "host");
    lc->port = vial_config_int(app, "port", -1);
    lc->workers = vial_config_int(app, "workers", -1);
    lc->backlog = (int)vial_config_int(app, "backlog", 1024);
    lc->pid_file = vial_config(app, "pid_file");
    lc->admin_port = vial_config_int(app, "metrics_port", -1);
    if (lc->admin_port < 0 || lc->admin_port > 65535) {
        vial_log(VIAL_LOG_ERROR, "config metrics_port: '%s' is not a port number (0: none)",
                 vial_config(app, "metrics_port"));
        return VIAL_EINVAL;
    }

    lc->debug = app->debug;
    const char *csp = vial_config(app, "content_security_policy");
    if (csp && strpbrk(csp, "\r\n")) {
        vial_log(VIAL_LOG_ERROR, "content_security_policy may not contain line breaks");
        return VIAL_EINVAL;
    }
    free(app->csp);
    app->csp = csp && *csp ? strdup(csp) : NULL;
    const char *up = vial_config(app, "url_prefix");
    size_t upn = up ? strlen(up) : 0;
    while (upn > 0 && up[upn - 1] == '/')
        upn--;
    if (upn && (up[0] != '/' || strpbrk(up, " \t\r\n\"<>?#;,"))) {
        vial_log(VIAL_LOG_ERROR, "config url_prefix: '%s' is not an absolute path like /MusicGroup", up);
        return VIAL_EINVAL;
    }
    free(app->url_prefix);
    app->url_prefix = strndup(up ? up : "", upn);
    if (!app->url_prefix)
        return VIAL_ENOMEM;
    if (vial__metrics_configure(app))
        return VIAL_EINVAL;
    return parse_trusted(app);
}

int vial_configure(vial_app *app, int argc, char **argv)
{
    if (!app)
        return VIAL_EINVAL;
    /* Work on a copy: the caller's argv stays as it was. */
    char **copy = NULL;
    if (argc > 0 && argv) {
        copy = calloc((size_t)argc + 1, sizeof *copy);
        if (!copy)
            return VIAL_ENOMEM;
        memcpy(copy, argv, (size_t)argc * sizeof *copy);
    }
    int n = argc > 0 ? argc : 0;
    int rc = vial__config_load(app->cfg, &n, copy);
    free(copy);
    if (rc)
        return rc;
    return vial__app_apply_config(app);
}

/* ------------------------------------------------------------------ workers */

int vial_worker_slot(vial_app *app, vial_worker_init_fn init, vial_worker_fini_fn fini, void *ud)
{
    if (!app || !init)
        return VIAL_EINVAL;
    if (app->server)
        return VIAL_ESTATE;
    vial__slot *s = realloc(app->slots, (app->nslots + 1) * sizeof *s);
    if (!s)
        return VIAL_ENOMEM;
    app->slots = s;
    s[app->nslots] = (vial__slot){ init, fini, ud };
    return (int)app->nslots++;
}

void *vial_worker_get(vial_req *req, int slot)
{
    if (!req || slot < 0 || (size_t)slot >= req->app->nslots)
        return NULL;
    vial__worker *w = req->w;
    if (!w->slots) {
        w->slots = calloc(req->app->nslots, sizeof *w->slots);
        if (!w->slots)
            return NULL;
    }
    if (!w->slots[slot]) {
        const vial__slot *s = &req->app->slots[slot];
        w->slots[slot] = s->init(req->app, w->id, s->ud);
    }
    return w->slots[slot];
}

void *vial__app_ext(const vial_app *app, const void *key)
{
    if (!app)
        return NULL;
    vial_app *a = (vial_app *)app; /* atomic loads need a non-const object */
    for (const vial__ext *e = atomic_load_explicit(&a->exts, memory_order_acquire); e; e = e->next)
        if (e->key == key)
            return e->data;
    return NULL;
}

/* Entries are only ever pushed at the head, published with release order,
 * so a worker walking the list sees either the old head or a complete new
 * entry (templates set theirs up on first use, possibly while serving). */
int vial__app_ext_set(vial_app *app, const void *key, void *data, void (*free_fn)(void *))
{
    vial__ext *e = calloc(1, sizeof *e);
    if (!e)
        return VIAL_ENOMEM;
    *e = (vial__ext){ key, data, free_fn, NULL };
    vial__ext *head = atomic_load_explicit(&app->exts, memory_order_relaxed);
    do
        e->next = head;
    while (!atomic_compare_exchange_weak_explicit(&app->exts, &head, e, memory_order_release,
                                                  memory_order_relaxed));
    return 0;
}

void *vial__bp_ext(const vial_bp *bp, const void *key)
{
    for (const vial__ext *e = bp ? bp->exts : NULL; e; e = e->next)
        if (e->key == key)
            return e->data;
    return NULL;
}

int vial__bp_ext_set(vial_bp *bp, const void *key, void *data, void (*free_fn)(void *))
{
    vial__ext *e = bp ? calloc(1, sizeof *e) : NULL;
    if (!e)
        return bp ? VIAL_ENOMEM : VIAL_EINVAL;
    *e = (vial__ext){ key, data, free_fn, bp->exts };
    bp->exts = e;
    return 0;
}

const char *vial_app_command(vial_app *app)
{
    return app ? app->command : NULL;
}

int vial_on_start(vial_app *app, vial_start_fn fn)
{
    if (!app || !fn)
        return VIAL_EINVAL;
    vial_start_fn *s = realloc(app->start_fns, (app->nstart + 1) * sizeof *s);
    if (!s)
        return VIAL_ENOMEM;
    s[app->nstart++] = fn;
    app->start_fns = s;
    return 0;
}

int vial__run_start_hooks(vial_app *app)
{
    app->started = true;
    for (size_t i = 0; i < app->nstart; i++) {
        int rc = app->start_fns[i](app);
        if (rc) {
            vial_log(VIAL_LOG_ERROR, "%s: start-up check failed (%d); not starting", app->name, rc);
            return rc;
        }
    }
    return 0;
}

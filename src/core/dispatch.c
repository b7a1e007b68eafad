/*
 * dispatch.c — one request through the app: routing result, before-hooks
 * from the root blueprint inward, the view, after-hooks from the innermost
 * out, finishers; errors through the blueprints' error handlers (innermost
 * first) down to the built-in JSON/HTML page; reverse routing (url_for).
 */
#include "core.h"

#include <stdlib.h>

/* The blueprint chain of a request, root first. */
static size_t bp_chain(const vial_req *req, vial_bp **out, size_t max)
{
    vial_bp *tmp[32];
    size_t n = 0;
    for (vial_bp *b = req->route ? req->route->bp : &req->app->root; b && n < 32; b = b->parent)
        tmp[n++] = b;
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

int vial_abort_json(vial_req *req, int status, const char *message, json_t *extra)
{
    if (!req) {
        json_decref(extra);
        return VIAL_EINVAL;
    }
    if (status < 400 || status > 599)
        status = 500;
    char *msg = message ? vial_strdup(req, message) : NULL;
    if (req->m.streaming && req->m.stream_head_sent) {
        json_decref(extra);
        return VIAL_ESTATE; /* the status line has gone out */
    }
    vial__req_reset_response(req);
    if (!req->in_error) {
        vial_bp *chain[32];
        size_t n = bp_chain(req, chain, 32);
        vial_error_handler fn = NULL;
        for (size_t i = n; i-- > 0 && !fn;) {
            for (size_t k = 0; k < chain[i]->nerrh; k++)
                if (chain[i]->errh[k].status == status)
                    fn = chain[i]->errh[k].fn;
            for (size_t k = 0; k < chain[i]->nerrh && !fn; k++)
                if (chain[i]->errh[k].status == 0)
                    fn = chain[i]->errh[k].fn;
        }
        if (fn) {
            req->in_error = true;
            int rc = fn(req, status, msg ? msg : vial_status_reason(status));
            req->in_error = false;
            if (rc == 0 && req->m.responded) {
                json_decref(extra);
                return 0;
            }
            vial_req_log(req, VIAL_LOG_ERROR, "error handler for %d failed; using the built-in page",
                         status);
            vial__req_reset_response(req);
        }
    }
    int rc = vial__resp_builtin_error(req, status, msg, extra);
    json_decref(extra);
    return rc;
}

int vial_abort(vial_req *req, int status, const char *message)
{
    return vial_abort_json(req, status, message, NULL);
}

int vial_abortf(vial_req *req, int status, const char *fmt, ...)
{
    if (!req || !fmt)
        return VIAL_EINVAL;
    va_list ap;
    va_start(ap, fmt);
    char *m = vial__arena_vsprintf(&req->m.arena, fmt, ap);
    va_end(ap);
    return vial_abort_json(req, status, m, NULL);
}

/* In debug mode (and only then) a failure shows where it happened: the
 * traceback-equivalent of a C handler is its route, its result and the
 * request it was given. */
static json_t *debug_info(vial_req *req, const char *what, int rc)
{
    json_t *h = json_object();
    for (size_t i = 0; h && i < req->m.nhdrs; i++)
        json_object_set_new(h, req->m.hdrs[i].name.p, json_string(req->m.hdrs[i].value.p));
    return json_pack("{s:{s:s,s:s?,s:s?,s:i,s:s,s:s,s:s?,s:o*}}", "debug", "failure", what, "endpoint",
                     req->route ? req->route->endpoint : NULL, "route",
                     req->route ? req->route->pattern : NULL, "result", rc, "meaning",
                     rc < 0 ? vial_strerror(rc) : "a non-zero handler result", "method",
                     req->m.method ? req->m.method : "-", "target", req->m.target.p, "headers", h);
}

static void fail_500(vial_req *req, const char *what, int rc)
{
    vial_req_log(req, VIAL_LOG_ERROR, "%s %s: %s (%d)", req->m.method, req->m.target.p, what, rc);
    int r = req->app->debug ? vial_abort_json(req, 500, what, debug_info(req, what, rc))
                            : vial_abort(req, 500, "internal server error");
    if (r != 0)
        vial__resp_builtin_error(req, 500, NULL, NULL);
}

static void allow_header(vial_req *req, unsigned allowed)
{
    char buf[128];
    size_t n = 0;
    for (unsigned b = 1; b <= VIAL_OPTIONS; b <<= 1) {
        if (!(allowed & b))
            continue;
        const char *m = vial__method_name(b);
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s", n ? ", " : "", m);
    }
    vial_set_header(req, "Allow", buf);
}

void vial__app_dispatch(vial_req *req)
{
    vial_app *app = req->app;
    vial__match m;
    /* Behind a proxy at a prefix that did not strip it: route without it. */
    if (vial__under_root(req, req->m.path_raw.p, req->m.path_raw.n)) {
        size_t rn = strlen(vial_script_root(req));
        if (req->m.path_raw.n == rn)
            req->m.path_raw = (vial__str){ "/", 1 };
        else
            req->m.path_raw = (vial__str){ req->m.path_raw.p + rn, req->m.path_raw.n - rn };
        req->path_dec = NULL;
    }
    if (req->m.path_raw.n == 1 && req->m.path_raw.p[0] == '*') {
        /* OPTIONS * asks about the server as a whole. */
        memset(&m, 0, sizeof m);
        m.allowed = VIAL_GET | VIAL_HEAD | VIAL_POST | VIAL_PUT | VIAL_DELETE | VIAL_PATCH | VIAL_OPTIONS;
    } else {
        vial__router_match(app->router, &req->m.arena, req->m.path_raw.p, req->m.path_raw.n, req->m.method_bit,
                           &m);
    }
    req->route = m.route;
    req->params = m.params;

    vial_bp *chain[32];
    size_t n = bp_chain(req, chain, 32);
    int rc = 0;
    for (size_t i = 0; i < n && !req->m.responded && rc == 0; i++) {
        for (size_t k = 0; k < chain[i]->nbefore && !req->m.responded && rc == 0; k++) {
            const vial__hook *h = &chain[i]->before[k];
            rc = h->fn ? h->fn(req) : h->fn_data(req, h->ud);
        }
    }
    if (rc) {
        fail_500(req, "before-request hook failed", rc);
    } else if (!req->m.responded) {
        if (m.bad_escape) {
            vial_abort(req, 400, "malformed percent-escape in the path");
        } else if (m.route) {
            rc = m.route->fn(req);
            if (rc)
                fail_500(req, "handler failed", rc);
            else if (!req->m.responded)
                fail_500(req, "handler returned without a response", 0);
            else if (req->jw && !req->m.streaming && (rc = vial_jw_finish(req->jw)) != 0)
                fail_500(req, "unbalanced or invalid JSON written", rc);
        } else if (req->m.method_bit == VIAL_OPTIONS && m.allowed) {
            vial_no_content(req);
            allow_header(req, m.allowed);
        } else if (m.allowed) {
            vial_abortf(req, 405, "%s is not allowed here", req->m.method);
            allow_header(req, m.allowed);
        } else if (m.redirect_slash) {
            /* The root explicitly: a path under it that repeats it
             * (/a/a/x at root /a) must not look already rooted. */
            const char *root = vial_script_root(req);
            const char *loc = req->m.query_raw.n
                                  ? vial_sprintf(req, "%s%.*s/?%.*s", root, (int)req->m.path_raw.n,
                                                 req->m.path_raw.p, (int)req->m.query_raw.n,
                                                 req->m.query_raw.p)
                                  : vial_sprintf(req, "%s%.*s/", root, (int)req->m.path_raw.n, req->m.path_raw.p);
            if (!loc || vial_redirect(req, 308, loc))
                fail_500(req, "redirect failed", VIAL_ENOMEM);
        } else {
            vial_abort(req, 404, "the requested URL was not found on the server");
        }
    }
    for (size_t i = n; i-- > 0;) {
        for (size_t k = chain[i]->nafter; k-- > 0;) {
            rc = chain[i]->after[k](req);
            if (rc) {
                fail_500(req, "after-request hook failed", rc);
                break;
            }
        }
    }
    while (req->finishers) {
        vial__finisher *f = req->finishers;
        req->finishers = f->next;
        f->fn(req, f->arg);
    }
}

void vial__app_protocol_error(vial_req *req, int status, const char *message)
{
    /* No route: the root blueprint's handlers, if any, render it. */
    req->route = NULL;
    if (vial_abort(req, status, message) != 0)
        vial__resp_builtin_error(req, status, message, NULL);
}

/* ------------------------------------------------------------------ url_for */

const char *vial_url_for(vial_req *req, const char *endpoint, ...)
{
    if (!req || !endpoint)
        return NULL;
    const char *kv[64];
    size_t nkv = 0;
    va_list ap;
    va_start(ap, endpoint);
    for (;;) {
        const char *k = va_arg(ap, const char *);
        if (!k)
            break;
        const char *v = va_arg(ap, const char *);
        if (!v || nkv + 2 > VIAL__ARRAY_LEN(kv)) {
            va_end(ap);
            return NULL;
        }
        kv[nkv++] = k;
        kv[nkv++] = v;
    }
    va_end(ap);
    return vial__url_for_kv(req, endpoint, kv, nkv);
}

const char *vial__url_for_kv(vial_req *req, const char *endpoint, const char **kv, size_t nkv)
{
    if (!req || !endpoint)
        return NULL;
    /* A relative name (".view") resolves inside the current blueprint. */
    const char *name = endpoint;
    if (endpoint[0] == '.' && req->route) {
        const char *cur = req->route->endpoint;
        const char *dot = strrchr(cur, '.');
        name = dot ? vial_sprintf(req, "%.*s%s", (int)(dot - cur), cur, endpoint)
                   : endpoint + 1;
        if (!name)
            return NULL;
    }
    const vial__route *r = vial__router_find_endpoint(req->app->router, name);
    if (!r)
        return NULL;
    vial__buf b = { 0 };
    int rc = vial__buf_puts(&b, vial_script_root(req));
    if (!rc)
        rc = vial__url_build(r, kv, nkv, &b);
    const char *out = rc ? NULL : vial__arena_strndup(&req->m.arena, b.p ? b.p : "", b.n);
    vial__buf_free(&b);
    return out;
}

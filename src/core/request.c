/*
 * request.c — what a handler can read from a request.
 *
 * Header names and values are slices into the connection's read buffer,
 * which stays untouched until the response is finished; accessors copy into
 * the arena only when they must hand out a NUL-terminated string.  Parsing
 * that not every handler needs (query arguments, JSON body, decoded path)
 * happens on first use and is cached on the request.
 */
#include "core.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>
#include <time.h>

const char *vial_method(vial_req *req)
{
    return req ? req->m.method : NULL;
}

const char *vial_target(vial_req *req)
{
    if (!req || !req->m.target.p)
        return NULL;
    return req->m.target.p; /* NUL-terminated by http.c */
}

const char *vial_path(vial_req *req)
{
    if (!req)
        return NULL;
    if (!req->path_dec) {
        char *d = vial__arena_alloc(&req->m.arena, req->m.path_raw.n + 1);
        if (!d)
            return NULL;
        ptrdiff_t n = vial_url_decode(req->m.path_raw.p, req->m.path_raw.n, d, 0);
        if (n < 0) {
            /* Only reachable for requests answered before routing; show the
             * raw form rather than nothing. */
            memcpy(d, req->m.path_raw.p, req->m.path_raw.n);
            d[req->m.path_raw.n] = '\0';
        }
        req->path_dec = d;
    }
    return req->path_dec;
}

vial_app *vial_app_of(vial_req *req)
{
    return req ? req->app : NULL;
}

const char *vial_endpoint(vial_req *req)
{
    return req && req->route ? req->route->endpoint : NULL;
}

int vial_worker_id(vial_req *req)
{
    return req ? req->w->id : -1;
}

/* ------------------------------------------------------------------ params */

static const vial__str *param(vial_req *req, const char *name)
{
    if (!req || !req->route || !name)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < req->route->nsegs; i++) {
        const vial__seg *s = &req->route->segs[i];
        if (s->kind == VIAL__SEG_STATIC)
            continue;
        if (!strcmp(s->text, name))
            return &req->params[k];
        k++;
    }
    return NULL;
}

const char *vial_param(vial_req *req, const char *name)
{
    const vial__str *p = param(req, name);
    return p ? p->p : NULL;
}

int64_t vial_param_int(vial_req *req, const char *name)
{
    const vial__str *p = param(req, name);
    if (!p)
        return 0;
    /* The router only matched digits that fit an int64. */
    return (int64_t)strtoll(p->p, NULL, 10);
}

int vial_param_at(vial_req *req, size_t i, const char **name, const char **value)
{
    if (!req || !req->route || i >= req->route->nparams)
        return 0;
    size_t k = 0;
    for (size_t s = 0; s < req->route->nsegs; s++) {
        const vial__seg *seg = &req->route->segs[s];
        if (seg->kind == VIAL__SEG_STATIC)
            continue;
        if (k == i) {
            if (name)
                *name = seg->text;
            if (value)
                *value = req->params[k].p;
            return 1;
        }
        k++;
    }
    return 0;
}

double vial_param_float(vial_req *req, const char *name)
{
    const vial__str *p = param(req, name);
    return p ? strtod(p->p, NULL) : 0.0;
}

/* ------------------------------------------------------------------ query */

static int load_args(vial_req *req)
{
    if (req->args_done)
        return 0;
    int rc = vial__parse_query(&req->m.arena, req->m.query_raw.p, req->m.query_raw.n, &req->args,
                               &req->nargs);
    if (rc == 0)
        req->args_done = true;
    return rc;
}

const char *vial_arg(vial_req *req, const char *name)
{
    if (!req || !name || load_args(req))
        return NULL;
    for (size_t i = 0; i < req->nargs; i++)
        if (!strcmp(req->args[i].name, name))
            return req->args[i].value;
    return NULL;
}

size_t vial_args(vial_req *req, const char *name, const char **out, size_t max)
{
    if (!req || !name || load_args(req))
        return 0;
    size_t n = 0;
    for (size_t i = 0; i < req->nargs; i++) {
        if (strcmp(req->args[i].name, name))
            continue;
        if (n < max && out)
            out[n] = req->args[i].value;
        n++;
    }
    return n;
}

int vial_arg_at(vial_req *req, size_t i, const char **name, const char **value)
{
    if (!req || load_args(req) || i >= req->nargs)
        return 0;
    if (name)
        *name = req->args[i].name;
    if (value)
        *value = req->args[i].value;
    return 1;
}

/* ------------------------------------------------------------------ headers */

const char *vial_header(vial_req *req, const char *name)
{
    if (!req || !name)
        return NULL;
    const vial__hdr *first = NULL;
    size_t count = 0, total = 0;
    for (size_t i = 0; i < req->m.nhdrs; i++) {
        const vial__hdr *h = &req->m.hdrs[i];
        if (vial__streq_ci(h->name.p, h->name.n, name)) {
            if (!first)
                first = h;
            count++;
            total += h->value.n + 2;
        }
    }
    if (!first)
        return NULL;
    if (count == 1)
        return first->value.p; /* NUL-terminated in place by http.c */
    /* RFC 9110 5.3: repeated fields combine with commas; Cookie uses "; ". */
    bool cookie = vial__streq_ci(name, strlen(name), "cookie");
    char *out = vial__arena_alloc(&req->m.arena, total + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    bool more = false; /* not `o`: an empty first value still gets its comma */
    for (size_t i = 0; i < req->m.nhdrs; i++) {
        const vial__hdr *h = &req->m.hdrs[i];
        if (!vial__streq_ci(h->name.p, h->name.n, name))
            continue;
        if (more) {
            out[o++] = cookie ? ';' : ',';
            out[o++] = ' ';
        }
        memcpy(out + o, h->value.p, h->value.n);
        o += h->value.n;
        more = true;
    }
    out[o] = '\0';
    return out;
}

int vial_header_at(vial_req *req, size_t i, const char **name, const char **value)
{
    if (!req || i >= req->m.nhdrs)
        return 0;
    if (name)
        *name = req->m.hdrs[i].name.p;
    if (value)
        *value = req->m.hdrs[i].value.p;
    return 1;
}

const char *vial_cookie(vial_req *req, const char *name)
{
    const char *h = vial_header(req, "cookie");
    if (!h || !name)
        return NULL;
    vial__str v = vial__cookie_find(h, strlen(h), name);
    return v.p ? vial__arena_strndup(&req->m.arena, v.p, v.n) : NULL;
}

/* ------------------------------------------------------------------ body */

const char *vial_body(vial_req *req, size_t *len)
{
    if (len)
        *len = req ? req->m.body_len : 0;
    if (!req)
        return NULL;
    if (req->m.body_fd >= 0 && !req->body_map && req->m.body_len) {
        /* A spooled upload: mapped, not read, so a 100 MiB body costs
         * address space and page cache, not heap. */
        void *m = mmap(NULL, req->m.body_len, PROT_READ, MAP_PRIVATE, req->m.body_fd, 0);
        if (m == MAP_FAILED) {
            if (len)
                *len = 0;
            return "";
        }
        req->body_map = m;
    }
    if (req->body_map)
        return req->body_map;
    return req->m.body ? req->m.body : "";
}

/* ------------------------------------------------------------------ identity */

static bool trusted(const vial_app *app, const char *addr, size_t n)
{
    return vial__netlist_match(app->trusted, addr, n);
}

/* Whether the peer is one of our proxies: then, and only then, what it
 * says about the client (its address, scheme, request id) is believed. */
static bool from_proxy(vial_req *req)
{
    if (!req->proxy_known) {
        req->proxy_known = true;
        req->from_proxy = req->app->trusted && req->m.client &&
                          trusted(req->app, req->m.client, strlen(req->m.client));
    }
    return req->from_proxy;
}

const char *vial_client_addr(vial_req *req)
{
    if (!req)
        return NULL;
    if (!from_proxy(req))
        return req->m.client;
    /* Walk X-Forwarded-For from the right: the first hop that is not one of
     * our proxies is the client; anything further left is client-supplied. */
    const char *xff = vial_header(req, "x-forwarded-for");
    if (!xff) {
        /* nginx's other convention: one address, set by the proxy. */
        const char *real = vial_header(req, "x-real-ip");
        return real && *real && !strpbrk(real, " ,") ? real : req->m.client;
    }
    const char *end = xff + strlen(xff);
    while (end > xff) {
        const char *start = end;
        while (start > xff && start[-1] != ',')
            start--;
        const char *a = start, *b = end;
        while (a < b && (*a == ' ' || *a == '\t'))
            a++;
        while (b > a && (b[-1] == ' ' || b[-1] == '\t'))
            b--;
        if (b > a && !trusted(req->app, a, (size_t)(b - a)))
            return vial_strndup(req, a, (size_t)(b - a));
        end = start > xff ? start - 1 : xff;
    }
    return req->m.client;
}

const char *vial_scheme(vial_req *req)
{
    if (req && from_proxy(req)) {
        const char *p = vial_header(req, "x-forwarded-proto");
        if (p && !strncasecmp(p, "https", 5))
            return "https";
    }
    return "http";
}

/* A prefix a proxy may give: an absolute path of safe characters, no
 * empty, "." or ".." segments (it goes into Location and Set-Cookie). */
static bool prefix_ok(const char *p, size_t n)
{
    if (!n || p[0] != '/' || n > 256)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c >= 0x7f || strchr("\"<>\\^`{|};,?#", c))
            return false;
        if (c == '/') {
            size_t k = i + 1;
            while (k < n && p[k] != '/')
                k++;
            size_t seg = k - i - 1;
            if ((seg == 0 && k < n) || (seg == 1 && p[i + 1] == '.') ||
                (seg == 2 && p[i + 1] == '.' && p[i + 2] == '.'))
                return false;
        }
    }
    return true;
}

const char *vial_script_root(vial_req *req)
{
    if (!req)
        return "";
    if (req->script_root)
        return req->script_root;
    req->script_root = req->app->url_prefix ? req->app->url_prefix : "";
    const char *h = from_proxy(req) ? vial_header(req, "x-forwarded-prefix") : NULL;
    if (h) {
        size_t n = strlen(h);
        while (n > 1 && h[n - 1] == '/')
            n--;
        if (n == 1 && h[0] == '/')
            req->script_root = "";
        else if (prefix_ok(h, n))
            req->script_root = vial_strndup(req, h, n);
    }
    if (!req->script_root)
        req->script_root = "";
    return req->script_root;
}

bool vial__under_root(vial_req *req, const char *path, size_t n)
{
    const char *root = vial_script_root(req);
    size_t rn = strlen(root);
    return rn && n >= rn && !memcmp(path, root, rn) && (n == rn || path[rn] == '/');
}

const char *vial_request_id(vial_req *req)
{
    if (!req)
        return NULL;
    if (req->reqid_set)
        return req->reqid;
    /* A client could otherwise plant an id to confuse the logs of someone
     * else's requests: only our proxies' ids are carried on. */
    if (req->m.reqid_hdr && req->m.reqid_hdr <= req->m.nhdrs && from_proxy(req)) {
        const vial__hdr *h = &req->m.hdrs[req->m.reqid_hdr - 1];
        if (vial__reqid_ok(h->value.p, h->value.n) && h->value.n < sizeof req->reqid) {
            memcpy(req->reqid, h->value.p, h->value.n);
            req->reqid[h->value.n] = '\0';
            req->reqid_len = (uint8_t)h->value.n;
            req->reqid_set = true;
            return req->reqid;
        }
    }
    req->reqid_len = (uint8_t)vial__reqid_make(req->reqid, req->w->id_prefix, ++req->w->req_counter);
    req->reqid_set = true;
    return req->reqid;
}

void vial_req_log(vial_req *req, int level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vial__vlog(level, req ? vial_request_id(req) : NULL, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------------ request locals */

int vial_set_local(vial_req *req, const char *key, void *value)
{
    if (!req || !key)
        return VIAL_EINVAL;
    for (vial__local *l = req->locals; l; l = l->next) {
        if (!l->is_module && !strcmp(l->key, key)) {
            l->value = value;
            return 0;
        }
    }
    vial__local *l = vial__arena_alloc(&req->m.arena, sizeof *l);
    if (!l || !(l->key = vial_strdup(req, key)))
        return VIAL_ENOMEM;
    l->is_module = false;
    l->value = value;
    l->next = req->locals;
    req->locals = l;
    return 0;
}

void *vial_local(vial_req *req, const char *key)
{
    for (vial__local *l = req && key ? req->locals : NULL; l; l = l->next)
        if (!l->is_module && !strcmp(l->key, key))
            return l->value;
    return NULL;
}

void *vial__req_ext(vial_req *req, const void *key)
{
    for (vial__local *l = req->locals; l; l = l->next)
        if (l->is_module && l->key == key)
            return l->value;
    return NULL;
}

int vial__req_ext_set(vial_req *req, const void *key, void *value)
{
    for (vial__local *l = req->locals; l; l = l->next) {
        if (l->is_module && l->key == key) {
            l->value = value;
            return 0;
        }
    }
    vial__local *l = vial__arena_alloc(&req->m.arena, sizeof *l);
    if (!l)
        return VIAL_ENOMEM;
    *l = (vial__local){ key, true, value, req->locals };
    req->locals = l;
    return 0;
}

void *vial__req_state(vial_req *req, const void *key, size_t size)
{
    void *v = vial__req_ext(req, key);
    if (v)
        return v;
    struct {
        vial__local l;
        max_align_t data[];
    } *both = vial__arena_alloc(&req->m.arena, sizeof *both + size);
    if (!both)
        return NULL;
    memset(both->data, 0, size);
    both->l = (vial__local){ key, true, both->data, req->locals };
    req->locals = &both->l;
    return both->data;
}

vial__pool *vial__req_pool(vial_req *req)
{
    return req && req->w ? req->w->pool : NULL;
}

/* ------------------------------------------------------------------ arena */

void *vial_alloc(vial_req *req, size_t size)
{
    return req ? vial__arena_alloc(&req->m.arena, size) : NULL;
}

void *vial_realloc(vial_req *req, void *p, size_t old, size_t size)
{
    return req ? vial__arena_realloc(&req->m.arena, p, old, size) : NULL;
}

char *vial_strdup(vial_req *req, const char *s)
{
    return req && s ? vial__arena_strndup(&req->m.arena, s, strlen(s)) : NULL;
}

char *vial_strndup(vial_req *req, const char *s, size_t n)
{
    if (!req || !s)
        return NULL;
    const char *z = memchr(s, '\0', n);
    return vial__arena_strndup(&req->m.arena, s, z ? (size_t)(z - s) : n);
}

char *vial_sprintf(vial_req *req, const char *fmt, ...)
{
    if (!req || !fmt)
        return NULL;
    va_list ap;
    va_start(ap, fmt);
    char *p = vial__arena_vsprintf(&req->m.arena, fmt, ap);
    va_end(ap);
    return p;
}

int vial_defer(vial_req *req, void (*fn)(void *), void *arg)
{
    if (!req || !fn)
        return VIAL_EINVAL;
    vial__defer *d = vial__arena_alloc(&req->m.arena, sizeof *d);
    if (!d)
        return VIAL_ENOMEM;
    d->fn = fn;
    d->arg = arg;
    d->next = req->defers;
    req->defers = d;
    return 0;
}

int vial__req_on_finish(vial_req *req, void (*fn)(vial_req *, void *), void *arg)
{
    vial__finisher *f = vial__arena_alloc(&req->m.arena, sizeof *f);
    if (!f)
        return VIAL_ENOMEM;
    f->fn = fn;
    f->arg = arg;
    f->next = NULL;
    vial__finisher **pp = &req->finishers;
    while (*pp)
        pp = &(*pp)->next;
    *pp = f;
    return 0;
}

/* ------------------------------------------------------------------ upgrade */

int vial__req_upgrade(vial_req *req, const vial__proto *proto, void *ud)
{
    if (!req || !proto || !proto->attach || !proto->received || !proto->close)
        return VIAL_EINVAL;
    if (req->m.upgrade_proto)
        return VIAL_ESTATE;
    req->m.upgrade_proto = proto;
    req->m.upgrade_ud = ud;
    return 0;
}

/* ------------------------------------------------------------------ URLs */

const char *vial_url_encode(vial_req *req, const char *s)
{
    if (!req || !s)
        return NULL;
    vial__buf b = { 0 };
    if (vial__url_encode_into(&b, s, strlen(s), 0)) {
        vial__buf_free(&b);
        return NULL;
    }
    char *r = vial__arena_strndup(&req->m.arena, b.p ? b.p : "", b.n);
    vial__buf_free(&b);
    return r;
}

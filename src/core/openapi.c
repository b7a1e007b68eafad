/*
 * openapi.c — the app's OpenAPI 3.1 document, built from the route table,
 * and the routes that serve it (/openapi.json, the /docs page).
 *
 * The route table is the source: every compiled route appears, documented
 * or not, with its methods and its path parameters typed by the pattern's
 * converters, so a route cannot be missing from the document.  What a
 * route says about itself (vial_doc) adds a summary, the request body and
 * query parameters — the very vial_schema / vial_field rules the handler
 * validates with, translated by src/json/jsonschema.c — and responses.
 * Security requirements come from the blueprint (vial_auth_guard marks its
 * blueprint) or from the route's doc.
 *
 * The document is built per request of /openapi.json: it is small, asked
 * for rarely, and its server URL depends on the request's script root
 * (X-Forwarded-Prefix).  Building only reads what registration wrote
 * before serving, so workers may build at once without a lock.
 */
#include "core.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ app settings */

typedef struct openapi_ext {
    char *title, *version, *description;
    json_t *schemes;    /* name → Security Scheme Object */
    struct named {
        const vial_schema *s;
        char *name, *doc;
    } *named;           /* vial_openapi_schema */
    size_t nnamed;
    char *json_path, *docs_path, *init_path, *ui_url;
} openapi_ext;

static const char ext_key = 0;

static void ext_free(void *p)
{
    openapi_ext *x = p;
    if (!x)
        return;
    free(x->title);
    free(x->version);
    free(x->description);
    json_decref(x->schemes);
    for (size_t i = 0; i < x->nnamed; i++) {
        free(x->named[i].name);
        free(x->named[i].doc);
    }
    free(x->named);
    free(x->json_path);
    free(x->docs_path);
    free(x->init_path);
    free(x->ui_url);
    free(x);
}

static openapi_ext *ext_get(vial_app *app, bool create)
{
    openapi_ext *x = vial__app_ext(app, &ext_key);
    if (x || !create)
        return x;
    x = calloc(1, sizeof *x);
    if (!x || !(x->schemes = json_object()) || vial__app_ext_set(app, &ext_key, x, ext_free)) {
        ext_free(x);
        return NULL;
    }
    return x;
}

/* Replaces *dst with a copy of `s` (NULL leaves it). */
static int set_str(char **dst, const char *s)
{
    if (!s)
        return 0;
    char *c = strdup(s);
    if (!c)
        return VIAL_ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}

int vial_openapi_info(vial_app *app, const char *title, const char *version, const char *description)
{
    openapi_ext *x = app ? ext_get(app, true) : NULL;
    if (!x)
        return app ? VIAL_ENOMEM : VIAL_EINVAL;
    int rc = set_str(&x->title, title);
    if (!rc)
        rc = set_str(&x->version, version);
    if (!rc)
        rc = set_str(&x->description, description);
    return rc;
}

int vial_security_scheme(vial_app *app, const char *name, const char *scheme_json)
{
    if (!app || !name || !*name || !scheme_json)
        return VIAL_EINVAL;
    for (const char *p = name; *p; p++)
        if (*p == ',' || *p == ' ')
            return VIAL_EINVAL; /* names are listed comma-separated */
    json_t *v = json_loads(scheme_json, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(v) || !json_is_string(json_object_get(v, "type"))) {
        json_decref(v);
        return VIAL_EINVAL;
    }
    openapi_ext *x = ext_get(app, true);
    if (!x || json_object_set_new(x->schemes, name, v)) {
        if (!x)
            json_decref(v);
        return VIAL_ENOMEM;
    }
    return 0;
}

int vial_openapi_schema(vial_app *app, const vial_schema *schema, const char *name,
                        const char *description)
{
    if (!app || !schema || !name || !*name)
        return VIAL_EINVAL;
    openapi_ext *x = ext_get(app, true);
    if (!x)
        return VIAL_ENOMEM;
    struct named *nn = realloc(x->named, (x->nnamed + 1) * sizeof *nn);
    if (!nn)
        return VIAL_ENOMEM;
    x->named = nn;
    struct named e = { schema, strdup(name), description ? strdup(description) : NULL };
    if (!e.name || (description && !e.doc)) {
        free(e.name);
        free(e.doc);
        return VIAL_ENOMEM;
    }
    x->named[x->nnamed++] = e;
    return 0;
}

int vial_bp_describe(vial_bp *bp, const char *description)
{
    return bp && description ? set_str(&bp->doc, description) : VIAL_EINVAL;
}

int vial_bp_security(vial_bp *bp, const char *schemes)
{
    return bp && schemes ? set_str(&bp->security, schemes) : VIAL_EINVAL;
}

int vial_route_document(vial_bp *bp, const char *endpoint, const vial_doc *doc)
{
    if (!bp || !endpoint)
        return VIAL_EINVAL;
    for (size_t i = 0; i < bp->nroutes; i++) {
        vial__route *d = bp->routes[i];
        if (strcmp(d->endpoint, endpoint))
            continue;
        d->doc = doc;
        /* Compiled already (a module documenting its route at start): the
         * compiled copy is the one requests and the document read. */
        vial_app *app = bp->app;
        for (vial_bp *b = bp; !app && b->parent; b = b->parent)
            app = b->parent->app;
        for (size_t k = 0; app && k < app->nall_routes; k++)
            if (app->all_routes[k]->bp == bp && app->all_routes[k]->order == d->order)
                app->all_routes[k]->doc = doc;
        return 0;
    }
    return VIAL_ENOENT;
}

const vial_doc *vial_route_doc(vial_req *req)
{
    return req && req->route ? req->route->doc : NULL;
}

/* ------------------------------------------------------------------ the document */

typedef struct build {
    vial_app *app;
    openapi_ext *x;
    json_t *doc, *paths, *tags_used, *schemas;
    vial__jsdefs defs;
    bool oom;
} build;

static void put(build *b, json_t *o, const char *key, json_t *v)
{
    if (!v || json_object_set_new(o, key, v))
        b->oom = true;
}

static void append(build *b, json_t *a, json_t *v)
{
    if (!v || json_array_append_new(a, v))
        b->oom = true;
}

/* "/users/<int:id>/keys" → "/users/{id}/keys"; malloc'd. */
static char *path_template(const char *pattern)
{
    size_t n = strlen(pattern);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (pattern[i] != '<') {
            out[k++] = pattern[i];
            continue;
        }
        const char *close = strchr(pattern + i, '>');
        if (!close)
            break; /* a compiled pattern has its '>' */
        const char *name = pattern + i + 1;
        const char *colon = memchr(name, ':', (size_t)(close - name));
        if (colon)
            name = colon + 1;
        out[k++] = '{';
        memcpy(out + k, name, (size_t)(close - name));
        k += (size_t)(close - name);
        out[k++] = '}';
        i = (size_t)(close - pattern);
    }
    out[k] = '\0';
    return out;
}

static const vial_field *doc_field(const vial_field *list, const char *name)
{
    for (const vial_field *f = list; f && f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

static json_t *path_param(build *b, const vial__seg *seg, const vial_doc *doc)
{
    const vial_field *f = doc ? doc_field(doc->params, seg->text) : NULL;
    json_t *schema = NULL;
    switch (seg->kind) {
    case VIAL__SEG_INT: /* digits only: a sign does not match */
        schema = json_pack("{s:s,s:s,s:i}", "type", "integer", "format", "int64", "minimum", 0);
        break;
    case VIAL__SEG_FLOAT:
        schema = json_pack("{s:s,s:i}", "type", "number", "minimum", 0);
        break;
    case VIAL__SEG_UUID:
        schema = json_pack("{s:s,s:s}", "type", "string", "format", "uuid");
        break;
    default: /* string, path: the doc's rule when it has one */
        if (f && f->type != VIAL_F_ANY)
            schema = vial__jsonschema_field(&b->defs, f, false);
        else
            schema = json_pack("{s:s,s:i}", "type", "string", "minLength", 1);
        break;
    }
    json_t *p = json_pack("{s:s,s:s,s:b,s:o}", "name", seg->text, "in", "path", "required", 1,
                          "schema", schema);
    if (p && f && f->doc)
        put(b, p, "description", json_string(f->doc));
    else if (p && seg->kind == VIAL__SEG_PATH)
        put(b, p, "description", json_string("the rest of the path, slashes included"));
    if (!p)
        b->oom = true;
    return p;
}

static json_t *query_param(build *b, const vial_field *f)
{
    json_t *p = json_pack("{s:s,s:s}", "name", f->name, "in", "query");
    if (!p) {
        b->oom = true;
        return NULL;
    }
    if (f->flags & VIAL_REQUIRED)
        put(b, p, "required", json_true());
    if (f->doc)
        put(b, p, "description", json_string(f->doc));
    put(b, p, "schema", vial__jsonschema_field(&b->defs, f, false));
    return p;
}

static json_t *error_ref(void)
{
    return json_pack("{s:{s:{s:s}}}", "application/json", "schema", "$ref",
                     "#/components/schemas/Error");
}

static json_t *response(build *b, const vial_response_doc *r)
{
    const char *desc = r->description ? r->description : vial_status_reason(r->status);
    json_t *o = json_pack("{s:s}", "description", desc && *desc ? desc : "response");
    if (!o) {
        b->oom = true;
        return NULL;
    }
    json_t *schema = r->schema  ? vial__jsonschema_object(&b->defs, r->schema)
                     : r->field ? vial__jsonschema_field(&b->defs, r->field, true)
                                : NULL;
    if (schema)
        put(b, o, "content",
            json_pack("{s:{s:o}}", r->content_type ? r->content_type : "application/json", "schema",
                      schema));
    else if (r->content_type)
        put(b, o, "content", json_pack("{s:{}}", r->content_type));
    else if (r->status >= 400)
        put(b, o, "content", error_ref());
    return o;
}

/* Adds `status` with `desc` and the error shape unless it is declared. */
static void default_error(build *b, json_t *responses, int status, const char *desc)
{
    char key[8];
    snprintf(key, sizeof key, "%d", status);
    if (!json_object_get(responses, key))
        put(b, responses, key, json_pack("{s:s,s:o}", "description", desc, "content", error_ref()));
}

/* The scheme names a route needs: its doc's, else the nearest
 * blueprint's ("" or NULL: none). */
static const char *route_security(const vial__route *r)
{
    if (r->doc && r->doc->security)
        return r->doc->security;
    for (const vial_bp *bp = r->bp; bp; bp = bp->parent)
        if (bp->security)
            return bp->security;
    return NULL;
}

/* [{"bearer": []}, {"api_key": []}] for "bearer,api_key" (names the app
 * never declared are left out: the document must not name a scheme it does
 * not define); NULL when none remain. */
static json_t *security_list(build *b, const char *names, bool optional)
{
    json_t *list = json_array();
    if (!list) {
        b->oom = true;
        return NULL;
    }
    if (optional)
        append(b, list, json_object());
    size_t real = 0;
    for (const char *p = names; p && *p;) {
        size_t n = strcspn(p, ",");
        char name[128];
        size_t s = 0, e = n;
        while (s < e && p[s] == ' ')
            s++;
        while (e > s && p[e - 1] == ' ')
            e--;
        if (e > s && e - s < sizeof name) {
            memcpy(name, p + s, e - s);
            name[e - s] = '\0';
            if (b->x && json_object_get(b->x->schemes, name)) {
                append(b, list, json_pack("{s:[]}", name));
                real++;
            }
        }
        p += n + (p[n] == ',');
    }
    if (!real) {
        json_decref(list);
        return NULL;
    }
    return list;
}

static json_t *operation(build *b, const vial__route *r, const char *op_id)
{
    const vial_doc *d = r->doc;
    json_t *op = json_pack("{s:s}", "operationId", op_id);
    if (!op) {
        b->oom = true;
        return NULL;
    }
    /* The blueprint is the tag: the endpoint up to its last dot. */
    const char *dot = strrchr(r->endpoint, '.');
    if (dot) {
        json_t *tag = json_stringn(r->endpoint, (size_t)(dot - r->endpoint));
        put(b, op, "tags", json_pack("[O]", tag));
        if (tag && !json_object_get(b->tags_used, json_string_value(tag)))
            put(b, b->tags_used, json_string_value(tag),
                r->bp->doc ? json_string(r->bp->doc) : json_null());
        json_decref(tag);
    }
    if (d && d->summary)
        put(b, op, "summary", json_string(d->summary));
    if (d && d->description)
        put(b, op, "description", json_string(d->description));
    if (d && (d->flags & VIAL_DOC_DEPRECATED))
        put(b, op, "deprecated", json_true());

    json_t *params = json_array();
    if (!params) {
        b->oom = true;
        json_decref(op);
        return NULL;
    }
    bool typed = false;
    for (size_t i = 0; i < r->nsegs; i++) {
        if (r->segs[i].kind == VIAL__SEG_STATIC)
            continue;
        typed |= r->segs[i].kind != VIAL__SEG_STRING && r->segs[i].kind != VIAL__SEG_PATH;
        append(b, params, path_param(b, &r->segs[i], d));
    }
    for (const vial_field *f = d ? d->query : NULL; f && f->name; f++)
        append(b, params, query_param(b, f));
    if (json_array_size(params))
        put(b, op, "parameters", params);
    else
        json_decref(params);

    bool has_body = d && (d->body || d->body_field);
    if (has_body) {
        json_t *schema = d->body ? vial__jsonschema_object(&b->defs, d->body)
                                 : vial__jsonschema_field(&b->defs, d->body_field, true);
        if (schema && d->body && (d->flags & VIAL_DOC_BODY_OR_ARRAY))
            schema = json_pack("{s:[O,{s:s,s:o,s:i}]}", "oneOf", schema, "type", "array", "items",
                               schema, "minItems", 1);
        put(b, op, "requestBody",
            json_pack("{s:b,s:{s:{s:o}}}", "required", !(d->flags & VIAL_DOC_BODY_OPTIONAL), "content",
                      d->body_type ? d->body_type : "application/json", "schema", schema));
    }

    json_t *responses = json_object();
    if (!responses) {
        b->oom = true;
        json_decref(op);
        return NULL;
    }
    for (const vial_response_doc *rd = d ? d->responses : NULL; rd && rd->status; rd++) {
        char key[8];
        if (rd->status < 100 || rd->status > 599)
            continue;
        snprintf(key, sizeof key, "%d", rd->status);
        put(b, responses, key, response(b, rd));
    }
    if (!json_object_size(responses))
        put(b, responses, "default", json_pack("{s:s}", "description", "not documented"));
    /* What vial itself answers for the route, unless the doc says more. */
    if (has_body)
        default_error(b, responses, 400, "the body is not valid JSON or breaks the schema "
                                         "(\"fields\" names every problem)");
    else if (d && d->query)
        default_error(b, responses, 400, "a query parameter breaks its rule "
                                         "(\"fields\" names every problem)");
    const char *sec = route_security(r);
    json_t *slist = sec && *sec ? security_list(b, sec, d && (d->flags & VIAL_DOC_AUTH_OPTIONAL)) : NULL;
    if (slist) {
        put(b, op, "security", slist);
        default_error(b, responses, 401, "no valid credentials (WWW-Authenticate says which)");
    } else {
        /* Said explicitly: the route needs nothing (as far as the route
         * table and its doc know). */
        put(b, op, "security", json_array());
    }
    if (typed)
        default_error(b, responses, 404, "a path parameter does not convert (the route does not match)");
    put(b, op, "responses", responses);
    return op;
}

static int cmp_route(const void *a, const void *b)
{
    const vial__route *x = *(vial__route *const *)a, *y = *(vial__route *const *)b;
    int c = strcmp(x->pattern, y->pattern);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

/* The methods a route is documented with: HEAD and OPTIONS only when
 * registered on their own (vial answers them for every GET route). */
static unsigned doc_methods(unsigned m)
{
    if (m & VIAL_GET)
        m &= ~(unsigned)VIAL_HEAD;
    return m;
}

static void add_route(build *b, const vial__route *r)
{
    if (r->doc && (r->doc->flags & VIAL_DOC_HIDDEN))
        return;
    char *key = path_template(r->pattern);
    if (!key) {
        b->oom = true;
        return;
    }
    json_t *item = json_object_get(b->paths, key);
    if (!item) {
        item = json_object();
        put(b, b->paths, key, item);
        if (!item) {
            free(key);
            return;
        }
    }
    unsigned ms = doc_methods(r->methods);
    int nm = __builtin_popcount(ms);
    for (unsigned bit = 1; bit <= VIAL_OPTIONS; bit <<= 1) {
        if (!(ms & bit))
            continue;
        char lower[16];
        const char *name = vial__method_name(bit);
        size_t n = strlen(name);
        for (size_t i = 0; i <= n && i < sizeof lower; i++)
            lower[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        lower[sizeof lower - 1] = '\0';
        /* Two routes that differ only in their parameters' types ("/x/<int:id>"
         * and "/x/<name>") are one path in OpenAPI: the first registered is
         * documented. */
        if (json_object_get(item, lower))
            continue;
        char *op_id = nm > 1 ? NULL : r->endpoint;
        char buf[512];
        if (nm > 1) {
            snprintf(buf, sizeof buf, "%s_%s", r->endpoint, lower);
            op_id = buf;
        }
        put(b, item, lower, operation(b, r, op_id));
    }
    free(key);
}

static json_t *error_schema(void)
{
    return json_pack(
        "{s:s,s:s,s:[s,s],s:{s:{s:s,s:s},s:{s:s,s:s}}}", "type", "object", "description",
        "The common error shape of every API error; some errors add members (\"fields\" for "
        "validation problems).",
        "required", "error", "message", "properties", "error", "type", "string", "description",
        "the status as a name: not_found_404, bad_request_400", "message", "type", "string",
        "description", "what went wrong, for a person");
}

json_t *vial_openapi(vial_app *app, vial_req *req)
{
    if (!app)
        return NULL;
    /* Serving: compiled already, and nothing may change it now. */
    if (!req && vial__app_compile(app))
        return NULL;
    build b = { .app = app, .x = ext_get(app, false) };
    b.doc = json_object();
    b.paths = json_object();
    b.tags_used = json_object();
    b.schemas = json_object();
    if (!b.doc || !b.paths || !b.tags_used || !b.schemas) {
        json_decref(b.doc);
        json_decref(b.paths);
        json_decref(b.tags_used);
        json_decref(b.schemas);
        return NULL;
    }
    vial__jsdefs_init(&b.defs, b.schemas, "#/components/schemas/");
    put(&b, b.schemas, "Error", error_schema());
    for (size_t i = 0; b.x && i < b.x->nnamed; i++)
        if (vial__jsdefs_name(&b.defs, b.x->named[i].s, b.x->named[i].name, b.x->named[i].doc))
            b.oom = true;

    put(&b, b.doc, "openapi", json_string("3.1.0"));
    json_t *info = json_pack("{s:s,s:s}", "title", b.x && b.x->title ? b.x->title : app->name,
                             "version", b.x && b.x->version ? b.x->version : "0.0.0");
    if (info && b.x && b.x->description)
        put(&b, info, "description", json_string(b.x->description));
    put(&b, b.doc, "info", info);
    const char *root = req ? vial_script_root(req) : app->url_prefix;
    put(&b, b.doc, "servers", json_pack("[{s:s}]", "url", root && *root ? root : "/"));

    size_t n = app->nall_routes;
    vial__route **rs = malloc((n ? n : 1) * sizeof *rs);
    if (!rs) {
        b.oom = true;
    } else {
        if (n)
            memcpy(rs, app->all_routes, n * sizeof *rs);
        qsort(rs, n, sizeof *rs, cmp_route);
        for (size_t i = 0; i < n && !b.oom; i++)
            add_route(&b, rs[i]);
        free(rs);
    }

    json_t *tags = json_array();
    const char *tname;
    json_t *tdesc;
    json_object_foreach(b.tags_used, tname, tdesc) {
        json_t *t = json_pack("{s:s}", "name", tname);
        if (t && json_is_string(tdesc))
            put(&b, t, "description", json_incref(tdesc));
        append(&b, tags, t);
    }
    json_decref(b.tags_used);
    if (tags && json_array_size(tags))
        put(&b, b.doc, "tags", tags);
    else
        json_decref(tags);
    put(&b, b.doc, "paths", b.paths);
    json_t *components = json_pack("{s:o}", "schemas", b.schemas);
    if (components && b.x && json_object_size(b.x->schemes))
        put(&b, components, "securitySchemes", json_deep_copy(b.x->schemes));
    put(&b, b.doc, "components", components);
    bool failed = b.oom || b.defs.oom;
    vial__jsdefs_fini(&b.defs);
    if (failed) {
        json_decref(b.doc);
        return NULL;
    }
    return b.doc;
}

/* ------------------------------------------------------------------ serving it */

static int openapi_view(vial_req *req)
{
    json_t *d = vial_openapi(req->app, req);
    if (!d)
        return vial_abort(req, 503, "cannot build the API document (out of memory)");
    vial_set_header(req, "Cache-Control", "no-cache");
    return vial_json_take(req, 200, d);
}

/* The page loads Swagger UI and this script from files, never inline code,
 * so the default Content-Security-Policy (default-src 'self') holds.  The
 * document's URL comes from the page's data attribute. */
static const char init_js[] =
    "/* vial: starts Swagger UI on the element that names the document. */\n"
    "\"use strict\";\n"
    "(function () {\n"
    "  var el = document.getElementById(\"swagger-ui\");\n"
    "  if (typeof SwaggerUIBundle !== \"function\") {\n"
    "    el.textContent = \"Swagger UI did not load (\" + el.getAttribute(\"data-ui\") +\n"
    "      \"): the document itself is at \" + el.getAttribute(\"data-spec\");\n"
    "    return;\n"
    "  }\n"
    "  window.ui = SwaggerUIBundle({\n"
    "    url: el.getAttribute(\"data-spec\"),\n"
    "    domNode: el,\n"
    "    deepLinking: true,\n"
    "    presets: [SwaggerUIBundle.presets.apis],\n"
    "    layout: \"BaseLayout\"\n"
    "  });\n"
    "})();\n";

static int init_view(vial_req *req)
{
    vial_set_header(req, "Cache-Control", "no-cache");
    return vial_send_static(req, 200, "text/javascript; charset=utf-8", init_js, sizeof init_js - 1);
}

static int docs_view(vial_req *req)
{
    openapi_ext *x = ext_get(req->app, false);
    const char *spec = vial_url_for(req, "openapi", NULL);
    const char *init = vial_url_for(req, "openapi_docs_init", NULL);
    if (!x || !spec || !init)
        return vial_abort(req, 500, "the API document's routes are missing");
    /* An absolute ui_url is the app's own path: under the script root. */
    const char *ui = x->ui_url[0] == '/' ? vial_sprintf(req, "%s%s", vial_script_root(req), x->ui_url)
                                         : x->ui_url;
    const char *title = x->title ? x->title : req->app->name;
    vial__buf h = { .pool = NULL };
    const char *u = ui ? ui : "";
    int err = vial__buf_puts(&h, "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    err |= vial__html_escape(&h, title);
    err |= vial__buf_puts(&h, " — API</title>\n<link rel=\"stylesheet\" href=\"");
    err |= vial__html_escape(&h, u);
    err |= vial__buf_puts(&h, "/swagger-ui.css\">\n</head>\n<body>\n<div id=\"swagger-ui\" data-spec=\"");
    err |= vial__html_escape(&h, spec);
    err |= vial__buf_puts(&h, "\" data-ui=\"");
    err |= vial__html_escape(&h, u);
    err |= vial__buf_puts(&h, "\"><noscript>The API document is <a href=\"");
    err |= vial__html_escape(&h, spec);
    err |= vial__buf_puts(&h, "\">here</a>.</noscript></div>\n<script src=\"");
    err |= vial__html_escape(&h, u);
    err |= vial__buf_puts(&h, "/swagger-ui-bundle.js\"></script>\n<script src=\"");
    err |= vial__html_escape(&h, init);
    err |= vial__buf_puts(&h, "\"></script>\n</body>\n</html>\n");
    int rc = err || !ui ? vial_abort(req, 503, "out of memory")
                        : vial_send(req, 200, "text/html; charset=utf-8", h.p, h.n);
    vial__buf_free(&h);
    return rc;
}

static const vial_response_doc openapi_r[] = {
    { 200, "this document", NULL, NULL, "application/json" },
    { 0, NULL, NULL, NULL, NULL },
};
static const vial_doc openapi_doc = {
    .summary = "The OpenAPI 3.1 document of this API",
    .description = "Built from the route table: every route, with the schemas its handlers validate with.",
    .responses = openapi_r,
    .security = "",
};
static const vial_response_doc docs_r[] = {
    { 200, "an interactive page over the document (Swagger UI)", NULL, NULL, "text/html" },
    { 0, NULL, NULL, NULL, NULL },
};
static const vial_doc docs_doc = {
    .summary = "API documentation page",
    .responses = docs_r,
    .security = "",
};
static const vial_response_doc init_r[] = {
    { 200, "the script that starts Swagger UI on the documentation page", NULL, NULL,
      "text/javascript" },
    { 0, NULL, NULL, NULL, NULL },
};
static const vial_doc init_doc = {
    .summary = "Documentation page script",
    .responses = init_r,
    .security = "",
};

int vial_openapi_serve(vial_app *app, const char *json_path, const char *docs_path, const char *ui_url)
{
    if (!app || (docs_path && (!*docs_path || !ui_url)))
        return VIAL_EINVAL;
    openapi_ext *x = ext_get(app, true);
    if (!x)
        return VIAL_ENOMEM;
    if (x->json_path)
        return VIAL_EEXIST;
    if (set_str(&x->json_path, json_path ? json_path : "/openapi.json"))
        return VIAL_ENOMEM;
    int rc = vial_route_add(&app->root, VIAL_GET, x->json_path, openapi_view,
                            &(vial_route_opts){ .endpoint = "openapi", .doc = &openapi_doc });
    if (rc || !docs_path)
        return rc;
    size_t n = strlen(docs_path);
    const char *sep = docs_path[n - 1] == '/' ? "" : "/";
    x->init_path = malloc(n + sizeof "/init.js");
    if (!x->init_path || set_str(&x->docs_path, docs_path) || set_str(&x->ui_url, ui_url))
        return VIAL_ENOMEM;
    snprintf(x->init_path, n + sizeof "/init.js", "%s%sinit.js", docs_path, sep);
    /* A trailing slash in ui_url would double it in the page's URLs. */
    size_t ul = strlen(x->ui_url);
    while (ul > 1 && x->ui_url[ul - 1] == '/')
        x->ui_url[--ul] = '\0';
    if ((rc = vial_route_add(&app->root, VIAL_GET, x->docs_path, docs_view,
                             &(vial_route_opts){ .endpoint = "openapi_docs", .doc = &docs_doc })))
        return rc;
    return vial_route_add(&app->root, VIAL_GET, x->init_path, init_view,
                          &(vial_route_opts){ .endpoint = "openapi_docs_init", .doc = &init_doc });
}

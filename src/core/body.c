/*
 * body.c — the request body as JSON, the three ways a view takes it: a
 * jansson tree (vial_body_json, parsed once and cached), the pull reader
 * over it (vial_jr_body, for bodies too big for a tree), and the tree
 * checked against a schema (vial_body_json_valid, answering 400 itself).
 * The JSON module does the parsing and checking; this file ties it to the
 * request: its body, its arena, its error responses.
 */
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

json_t *vial_body_json(vial_req *req)
{
    if (!req)
        return NULL;
    if (req->json_done)
        return req->json;
    req->json_done = true;
    if (req->m.body_len == 0) {
        req->json_err = "request body is empty (expected JSON)";
        return NULL;
    }
    json_error_t e;
    size_t blen;
    const char *body = vial_body(req, &blen);
    req->json = json_loadb(body, blen, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &e);
    if (!req->json) {
        req->json_err = vial_sprintf(req, "invalid JSON at line %d column %d: %s", e.line,
                                     e.column, e.text);
        return NULL;
    }
    /* Owned by the request: released with it. */
    if (vial_defer(req, (void (*)(void *))json_decref, req->json)) {
        json_decref(req->json);
        req->json = NULL;
        req->json_err = "out of memory";
    }
    return req->json;
}

const char *vial_body_json_error(vial_req *req)
{
    return req ? req->json_err : NULL;
}

vial_jr *vial_jr_text(vial_req *req, const char *text, size_t len)
{
    if (!req || (!text && len))
        return NULL;
    vial_jr *r = vial__arena_alloc(&req->m.arena, sizeof *r);
    if (!r)
        return NULL;
    vial__jr_init(r, text ? text : "", len, &req->m.arena);
    return r;
}

vial_jr *vial_jr_body(vial_req *req)
{
    size_t n;
    const char *body = vial_body(req, &n);
    vial_jr *r = vial_jr_text(req, body, n);
    if (r && n == 0)
        vial__jr_fail_plain(r, "request body is empty (expected JSON)");
    return r;
}

json_t *vial_body_json_valid(vial_req *req, const vial_schema *schema)
{
    const vial_field *field = NULL;
    if (!schema) {
        /* The route's documented body: what the API document shows is what
         * is checked. */
        const vial_doc *d = vial_route_doc(req);
        schema = d ? d->body : NULL;
        field = d && !schema ? d->body_field : NULL;
        if (!schema && !field) {
            vial_req_log(req, VIAL_LOG_ERROR, "vial_body_json_valid(req, NULL) on route %s, which "
                         "documents no body schema", vial_endpoint(req) ? vial_endpoint(req) : "(none)");
            vial_abort(req, 500, "cannot validate the body");
            return NULL;
        }
    }
    json_t *j = vial_body_json(req);
    if (!j) {
        vial_abort(req, 400, vial_body_json_error(req));
        return NULL;
    }
    json_t *errors = json_object();
    if (!errors) {
        vial_abort(req, 503, "out of memory");
        return NULL;
    }
    const vial_doc *d = vial_route_doc(req);
    bool batch = schema && json_is_array(j) && d && d->body == schema && (d->flags & VIAL_DOC_BODY_OR_ARRAY);
    int n = 0;
    if (batch && json_array_size(j) == 0) {
        n = json_object_set_new(errors, "(root)", json_string("must not be an empty array")) ? VIAL_ENOMEM : 1;
    } else if (batch) {
        /* A batch: each element against the schema, problems under "[i]". */
        for (size_t i = 0; i < json_array_size(j) && n >= 0; i++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "[%zu]", i);
            int r = vial_validate(schema, json_array_get(j, i), prefix, errors);
            n = r < 0 ? r : n + r;
        }
    } else {
        n = schema ? vial_validate(schema, j, "", errors) : vial_validate_field(field, j, "", errors);
    }
    if (n == 0) {
        json_decref(errors);
        return j;
    }
    if (n < 0) {
        json_decref(errors);
        if (n == VIAL_ENOMEM) {
            vial_abort(req, 503, "out of memory");
        } else {
            vial_req_log(req, VIAL_LOG_ERROR, "body validation failed: %s (a schema names a field twice)",
                         vial_strerror(n));
            vial_abort(req, 500, "cannot validate the body");
        }
        return NULL;
    }
    vial_abort_json(req, 400, "invalid body", json_pack("{s:o}", "fields", errors));
    return NULL;
}

/* `s` spelled as a JSON number: -?digits, and unless `integer` an optional
 * fraction and exponent.  strtoll/strtod alone would also take leading
 * blanks, '+', hex, "inf" and "nan". */
static bool number_syntax(const char *s, bool integer)
{
    if (*s == '-')
        s++;
    if (*s < '0' || *s > '9')
        return false;
    while (*s >= '0' && *s <= '9')
        s++;
    if (integer)
        return !*s;
    if (*s == '.') {
        s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    if (*s == 'e' || *s == 'E') {
        s++;
        if (*s == '+' || *s == '-')
            s++;
        if (*s < '0' || *s > '9')
            return false;
        while (*s >= '0' && *s <= '9')
            s++;
    }
    return !*s;
}

/* A query value as the JSON value its field's type reads it as; NULL (with
 * *why) when it does not convert. */
static json_t *arg_value(const vial_field *f, const char *s, const char **why)
{
    switch (f->type) {
    case VIAL_F_INT: {
        char *end;
        errno = 0;
        long long v = number_syntax(s, true) ? strtoll(s, &end, 10) : 0;
        if (!number_syntax(s, true) || errno) {
            *why = "must be an integer";
            return NULL;
        }
        return json_integer((json_int_t)v);
    }
    case VIAL_F_NUMBER: {
        char *end;
        double v = number_syntax(s, false) ? strtod(s, &end) : 0;
        if (!number_syntax(s, false) || !isfinite(v)) {
            *why = "must be a number";
            return NULL;
        }
        return json_real(v);
    }
    case VIAL_F_BOOL:
        if (!strcmp(s, "true") || !strcmp(s, "1"))
            return json_true();
        if (!strcmp(s, "false") || !strcmp(s, "0"))
            return json_false();
        *why = "must be true or false";
        return NULL;
    case VIAL_F_OBJECT:
    case VIAL_F_ARRAY:
        *why = "cannot be given in the query";
        return NULL;
    default: { /* strings, timestamps, anything: the text */
        json_t *v = json_string(s);
        if (!v)
            *why = "must be UTF-8 text"; /* (or out of memory, which is far less likely) */
        return v;
    }
    }
}

int vial_args_valid(vial_req *req)
{
    const vial_doc *d = vial_route_doc(req);
    if (!d || !d->query)
        return 0;
    json_t *errors = json_object();
    if (!errors) {
        vial_abort(req, 503, "out of memory");
        return 1;
    }
    int total = 0;
    for (const vial_field *f = d->query; f->name && total >= 0; f++) {
        const char *s = vial_arg(req, f->name);
        if (!s) {
            if (f->flags & VIAL_REQUIRED)
                total += json_object_set_new(errors, f->name, json_string("required")) ? 0 : 1;
            continue;
        }
        const char *why = NULL;
        json_t *v = arg_value(f, s, &why);
        if (!v) {
            if (why)
                total += json_object_set_new(errors, f->name, json_string(why)) ? 0 : 1;
            else
                total = VIAL_ENOMEM;
            continue;
        }
        int r = vial_validate_field(f, v, f->name, errors);
        json_decref(v);
        total = r < 0 ? r : total + r;
    }
    if (total == 0) {
        json_decref(errors);
        return 0;
    }
    if (total < 0) {
        json_decref(errors);
        vial_abort(req, total == VIAL_ENOMEM ? 503 : 500, "cannot check the query");
        return 1;
    }
    vial_abort_json(req, 400, "invalid query", json_pack("{s:o}", "fields", errors));
    return 1;
}

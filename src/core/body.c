/*
 * body.c — the request body as JSON, the three ways a view takes it: a
 * jansson tree (vial_body_json, parsed once and cached), the pull reader
 * over it (vial_jr_body, for bodies too big for a tree), and the tree
 * checked against a schema (vial_body_json_valid, answering 400 itself).
 * The JSON module does the parsing and checking; this file ties it to the
 * request: its body, its arena, its error responses.
 */
#include "core.h"

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
    int n = vial_validate(schema, j, "", errors);
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

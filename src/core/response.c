/*
 * response.c — building responses and serializing them onto the wire.
 *
 * A handler's response stays in the request (status, header list, body
 * buffer) until the after-hooks have run; only then is it serialized into
 * the connection's output queue.  That is what lets hooks add headers,
 * HEAD drop the body but keep its length, and error handlers replace a
 * half-built response.  Small bodies are copied behind the headers so a
 * typical response leaves in a single write; large ones are queued by
 * reference.
 */
#include "internal.h"

#include <stdlib.h>
#include <unistd.h>
#include <time.h>

#define LARGE_BODY (32 * 1024) /* queue by reference above this */
/* A body that large was malloc'd, never a pool block, so the queue may free() it. */
_Static_assert(LARGE_BODY > VIAL__BLOCK_SIZE, "large bodies must not be pool blocks");

/* ------------------------------------------------------------------ status table */

static const struct {
    int code;
    const char *reason, *name;
} statuses[] = {
    { 100, "Continue", "continue_100" },
    { 101, "Switching Protocols", "switching_protocols_101" },
    { 200, "OK", "ok_200" },
    { 201, "Created", "created_201" },
    { 202, "Accepted", "accepted_202" },
    { 204, "No Content", "no_content_204" },
    { 206, "Partial Content", "partial_content_206" },
    { 301, "Moved Permanently", "moved_permanently_301" },
    { 302, "Found", "found_302" },
    { 303, "See Other", "see_other_303" },
    { 304, "Not Modified", "not_modified_304" },
    { 307, "Temporary Redirect", "temporary_redirect_307" },
    { 308, "Permanent Redirect", "permanent_redirect_308" },
    { 400, "Bad Request", "bad_request_400" },
    { 401, "Unauthorized", "unauthorized_401" },
    { 403, "Forbidden", "forbidden_403" },
    { 404, "Not Found", "not_found_404" },
    { 405, "Method Not Allowed", "method_not_allowed_405" },
    { 406, "Not Acceptable", "not_acceptable_406" },
    { 408, "Request Timeout", "request_timeout_408" },
    { 409, "Conflict", "conflict_409" },
    { 410, "Gone", "gone_410" },
    { 411, "Length Required", "length_required_411" },
    { 412, "Precondition Failed", "precondition_failed_412" },
    { 413, "Content Too Large", "payload_too_large_413" },
    { 414, "URI Too Long", "uri_too_long_414" },
    { 415, "Unsupported Media Type", "unsupported_media_type_415" },
    { 416, "Range Not Satisfiable", "range_not_satisfiable_416" },
    { 417, "Expectation Failed", "expectation_failed_417" },
    { 422, "Unprocessable Content", "unprocessable_entity_422" },
    { 426, "Upgrade Required", "upgrade_required_426" },
    { 429, "Too Many Requests", "too_many_requests_429" },
    { 431, "Request Header Fields Too Large", "request_header_fields_too_large_431" },
    { 500, "Internal Server Error", "internal_server_error_500" },
    { 501, "Not Implemented", "not_implemented_501" },
    { 502, "Bad Gateway", "bad_gateway_502" },
    { 503, "Service Unavailable", "service_unavailable_503" },
    { 504, "Gateway Timeout", "gateway_timeout_504" },
    { 505, "HTTP Version Not Supported", "http_version_not_supported_505" },
    { 507, "Insufficient Storage", "insufficient_storage_507" },
};

static int status_index(int status)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(statuses); i++)
        if (statuses[i].code == status)
            return (int)i;
    return -1;
}

const char *vial_status_reason(int status)
{
    int i = status_index(status);
    if (i >= 0)
        return statuses[i].reason;
    if (status >= 500)
        return "Server Error";
    if (status >= 400)
        return "Client Error";
    return "Unknown";
}

const char *vial_error_name(int status)
{
    int i = status_index(status);
    if (i >= 0)
        return statuses[i].name;
    return status >= 500 ? "server_error" : "client_error";
}

/* ------------------------------------------------------------------ Date */

static _Thread_local struct {
    time_t sec;
    char text[32];
} date_cache;

const char *vial__http_date(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    if (ts.tv_sec != date_cache.sec || !date_cache.text[0]) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        strftime(date_cache.text, sizeof date_cache.text, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        date_cache.sec = ts.tv_sec;
    }
    return date_cache.text;
}

/* ------------------------------------------------------------------ building */

/* RFC 9110 5.5: a field value is visible characters, spaces and tabs; CR and
 * LF would split the response, other controls make clients reject it. */
static bool header_text_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return false;
    }
    return true;
}

static bool token_ok(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c <= ' ' || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}

static void drop_file(vial_req *req)
{
    if (req->file_fd >= 0)
        close(req->file_fd);
    req->file_fd = -1;
}

void vial__req_reset_response(vial_req *req)
{
    drop_file(req);
    req->status = 0;
    req->responded = false;
    req->streaming = false;
    req->ctype = NULL;
    req->rh = NULL;
    req->rh_tail = &req->rh;
    req->body_out->n = 0;
    req->static_body = NULL;
    req->static_len = 0;
    req->jw = NULL;
}

static int begin(vial_req *req, int status, const char *ctype)
{
    if (!req)
        return VIAL_EINVAL;
    if (req->responded)
        return VIAL_ESTATE;
    /* 1xx are interim; only 101 (a protocol switch) may end a request. */
    if (status < 200 ? status != 101 : status > 999)
        return VIAL_EINVAL;
    req->status = status;
    if (ctype || !req->ctype)
        req->ctype = ctype; /* a Content-Type header set earlier stays unless replaced */
    req->responded = true;
    req->body_out->n = 0;
    req->static_body = NULL;
    return 0;
}

int vial_send(vial_req *req, int status, const char *content_type, const void *data, size_t len)
{
    if (content_type && !header_text_ok(content_type))
        return VIAL_EINVAL;
    int rc = begin(req, status, content_type ? vial_strdup(req, content_type) : NULL);
    if (rc)
        return rc;
    rc = vial__buf_append(req->body_out, data, len);
    if (rc)
        req->responded = false;
    return rc;
}

int vial__resp_file(vial_req *req, int status, const char *content_type, int fd, uint64_t off,
                    size_t len)
{
    int rc = begin(req, status, content_type ? vial_strdup(req, content_type) : NULL);
    if (rc) {
        close(fd);
        return rc;
    }
    req->file_fd = fd;
    req->file_off = off;
    req->file_len = len;
    return 0;
}

int vial_send_static(vial_req *req, int status, const char *content_type, const void *data,
                     size_t len)
{
    if (content_type && !header_text_ok(content_type))
        return VIAL_EINVAL;
    int rc = begin(req, status, content_type ? vial_strdup(req, content_type) : NULL);
    if (rc)
        return rc;
    req->static_body = data;
    req->static_len = len;
    return 0;
}

int vial_text(vial_req *req, int status, const char *text)
{
    int rc = begin(req, status, "text/plain; charset=utf-8");
    if (rc)
        return rc;
    rc = text ? vial__buf_puts(req->body_out, text) : 0;
    if (rc)
        req->responded = false;
    return rc;
}

int vial_html(vial_req *req, int status, const char *html)
{
    int rc = begin(req, status, "text/html; charset=utf-8");
    if (rc)
        return rc;
    rc = html ? vial__buf_puts(req->body_out, html) : 0;
    if (rc)
        req->responded = false;
    return rc;
}

int vial_textf(vial_req *req, int status, const char *fmt, ...)
{
    int rc = begin(req, status, "text/plain; charset=utf-8");
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = vial__buf_vprintf(req->body_out, fmt, ap);
    va_end(ap);
    if (rc)
        req->responded = false;
    return rc;
}

vial_jw *vial_jw_begin(vial_req *req, int status)
{
    if (begin(req, status, "application/json"))
        return NULL;
    vial_jw *w = vial__arena_alloc(req->arena, sizeof *w);
    if (!w) {
        req->responded = false;
        return NULL;
    }
    vial__jw_init(w, req->body_out, req);
    req->jw = w;
    return w;
}

int vial_jw_finish(vial_jw *w)
{
    if (!w)
        return VIAL_ENOMEM; /* vial_jw_begin() failed */
    if (w->err)
        return w->err;
    if (w->depth != 0 || !w->need_comma)
        return VIAL_ESTATE; /* unbalanced, or no value at all */
    return 0;
}

int vial_json(vial_req *req, int status, json_t *value)
{
    if (!value)
        return VIAL_EINVAL;
    vial_jw *w = vial_jw_begin(req, status);
    if (!w)
        return req && req->responded ? VIAL_ESTATE : VIAL_ENOMEM;
    vial_jw_value(w, value);
    int rc = vial_jw_finish(w);
    if (rc)
        vial__req_reset_response(req);
    return rc;
}

int vial_json_take(vial_req *req, int status, json_t *value)
{
    int rc = value ? vial_json(req, status, value) : VIAL_ENOMEM;
    json_decref(value);
    return rc;
}

int vial_no_content(vial_req *req)
{
    return begin(req, 204, NULL);
}

int vial_redirect(vial_req *req, int status, const char *location)
{
    if (!location || !header_text_ok(location) ||
        !(status == 301 || status == 302 || status == 303 || status == 307 || status == 308))
        return VIAL_EINVAL;
    int rc = begin(req, status, "text/plain; charset=utf-8");
    if (rc)
        return rc;
    rc = vial_set_header(req, "Location", location);
    if (!rc)
        rc = vial__buf_printf(req->body_out, "Redirecting to %s\n", location);
    if (rc)
        vial__req_reset_response(req);
    return rc;
}

static bool managed_header(const char *name)
{
    static const char *const managed[] = { "content-length", "transfer-encoding", "date",
                                           "connection" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(managed); i++)
        if (vial__streq_ci(name, strlen(name), managed[i]))
            return true;
    return false;
}

static int add_header(vial_req *req, const char *name, const char *value, bool replace)
{
    if (!req || !name || !value || !token_ok(name) || !header_text_ok(value) ||
        managed_header(name))
        return VIAL_EINVAL;
    if (vial__streq_ci(name, strlen(name), "content-type")) {
        const char *v = vial_strdup(req, value);
        if (!v)
            return VIAL_ENOMEM;
        req->ctype = v;
        return 0;
    }
    if (replace) {
        for (vial__rhdr **pp = &req->rh; *pp;) {
            if (vial__streq_ci((*pp)->name, strlen((*pp)->name), name)) {
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
        req->rh_tail = &req->rh;
        while (*req->rh_tail)
            req->rh_tail = &(*req->rh_tail)->next;
    }
    vial__rhdr *h = vial__arena_alloc(req->arena, sizeof *h);
    if (!h)
        return VIAL_ENOMEM;
    h->name = vial_strdup(req, name);
    h->value = vial_strdup(req, value);
    if (!h->name || !h->value)
        return VIAL_ENOMEM;
    h->next = NULL;
    *req->rh_tail = h;
    req->rh_tail = &h->next;
    return 0;
}

int vial_set_header(vial_req *req, const char *name, const char *value)
{
    return add_header(req, name, value, true);
}

int vial_add_header(vial_req *req, const char *name, const char *value)
{
    return add_header(req, name, value, false);
}

const char *vial_resp_header(vial_req *req, const char *name)
{
    if (!req || !name)
        return NULL;
    if (vial__streq_ci(name, strlen(name), "content-type"))
        return req->ctype;
    for (vial__rhdr *h = req->rh; h; h = h->next)
        if (vial__streq_ci(h->name, strlen(h->name), name))
            return h->value;
    return NULL;
}

int vial_resp_status(vial_req *req)
{
    return req && req->responded ? req->status : 0;
}

int vial_set_status(vial_req *req, int status)
{
    if (!req || !req->responded)
        return VIAL_ESTATE;
    if (status < 200 || status > 999)
        return VIAL_EINVAL;
    req->status = status;
    return 0;
}

int vial_responded(vial_req *req)
{
    return req && req->responded;
}

static bool cookie_value_ok(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* RFC 6265 cookie-octet */
        if (!(c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
              (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e)))
            return false;
    }
    return true;
}

static bool attr_ok(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == ';' || *s == 0x7f)
            return false;
    return true;
}

int vial_set_cookie(vial_req *req, const char *name, const char *value, const vial_cookie_opts *o)
{
    static const vial_cookie_opts defaults;
    if (!o)
        o = &defaults;
    if (!req || !name || !value || !token_ok(name) || !cookie_value_ok(value) ||
        (o->path && !attr_ok(o->path)) || (o->domain && !attr_ok(o->domain)))
        return VIAL_EINVAL;
    vial__buf b = { 0 };
    int rc = vial__buf_printf(&b, "%s=%s; Path=%s", name, value, o->path ? o->path : "/");
    if (!rc && o->domain)
        rc = vial__buf_printf(&b, "; Domain=%s", o->domain);
    if (!rc && o->max_age != 0) {
        time_t t = o->max_age < 0 ? 0 : time(NULL) + (time_t)o->max_age;
        struct tm tm;
        gmtime_r(&t, &tm);
        char exp[40];
        strftime(exp, sizeof exp, "%a, %d %b %Y %H:%M:%S GMT", &tm);
        rc = vial__buf_printf(&b, "; Max-Age=%" PRId64 "; Expires=%s",
                              o->max_age < 0 ? (int64_t)0 : o->max_age, exp);
    }
    if (!rc && o->secure)
        rc = vial__buf_puts(&b, "; Secure");
    if (!rc && !o->not_httponly)
        rc = vial__buf_puts(&b, "; HttpOnly");
    if (!rc) {
        const char *ss = o->samesite == VIAL_SAMESITE_STRICT ? "Strict"
                         : o->samesite == VIAL_SAMESITE_NONE ? "None"
                                                             : "Lax";
        rc = vial__buf_printf(&b, "; SameSite=%s", ss);
    }
    if (!rc)
        rc = vial__buf_nul(&b);
    if (!rc)
        rc = add_header(req, "Set-Cookie", b.p, false);
    vial__buf_free(&b);
    return rc;
}

/* ------------------------------------------------------------------ streams */

int vial_stream(vial_req *req, int status, const char *content_type, vial_stream_fn fn, void *ud)
{
    if (!fn || (content_type && !header_text_ok(content_type)))
        return VIAL_EINVAL;
    int rc = begin(req, status, content_type ? vial_strdup(req, content_type) : NULL);
    if (rc)
        return rc;
    req->streaming = true;
    req->stream_fn = fn;
    req->stream_ud = ud;
    return 0;
}

int vial_write(vial_req *req, const void *data, size_t len)
{
    if (!req || !req->responded || req->static_body)
        return VIAL_ESTATE;
    return vial__buf_append(req->body_out, data, len);
}

vial_jw *vial_stream_jw(vial_req *req)
{
    if (!req || !req->streaming)
        return NULL;
    if (!req->jw) {
        req->jw = vial__arena_alloc(req->arena, sizeof *req->jw);
        if (!req->jw)
            return NULL;
        vial__jw_init(req->jw, req->body_out, req);
    }
    return req->jw;
}

/* ------------------------------------------------------------------ built-in errors */

static bool wants_html(vial_req *req)
{
    const char *a = vial_header(req, "accept");
    return a && strstr(a, "text/html") && !strstr(a, "application/json");
}

static void html_escape(vial__buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': vial__buf_puts(b, "&lt;"); break;
        case '>': vial__buf_puts(b, "&gt;"); break;
        case '&': vial__buf_puts(b, "&amp;"); break;
        case '"': vial__buf_puts(b, "&quot;"); break;
        case '\'': vial__buf_puts(b, "&#39;"); break;
        default: vial__buf_append(b, s, 1);
        }
    }
}

int vial__resp_builtin_error(vial_req *req, int status, const char *message, json_t *extra)
{
    vial__req_reset_response(req);
    if (!message)
        message = vial_status_reason(status);
    int rc;
    if (req->method && wants_html(req)) {
        rc = begin(req, status, "text/html; charset=utf-8");
        if (rc)
            return rc;
        vial__buf *b = req->body_out;
        vial__buf_printf(b, "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                            "<title>%d %s</title></head>\n<body><h1>%d %s</h1>\n<p>",
                         status, vial_status_reason(status), status, vial_status_reason(status));
        html_escape(b, message);
        vial__buf_puts(b, "</p>\n");
        json_t *dbg = json_object_get(extra, "debug");
        if (dbg) { /* debug mode only (app.c decides) */
            char *d = json_dumps(dbg, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
            vial__buf_puts(b, "<h2>Debug</h2>\n<pre>");
            html_escape(b, d ? d : "");
            vial__buf_puts(b, "</pre>\n");
            free(d);
        }
        rc = vial__buf_puts(b, "</body></html>\n");
    } else {
        vial_jw *w = vial_jw_begin(req, status);
        if (!w)
            return VIAL_ENOMEM;
        vial_jw_object(w);
        vial_jw_key(w, "error");
        vial_jw_str(w, vial_error_name(status));
        vial_jw_key(w, "message");
        vial_jw_str(w, message);
        if (json_is_object(extra)) {
            const char *k;
            json_t *v;
            json_object_foreach(extra, k, v) {
                if (!strcmp(k, "error") || !strcmp(k, "message"))
                    continue;
                vial_jw_key(w, k);
                vial_jw_value(w, v);
            }
        }
        vial_jw_end(w);
        rc = vial_jw_finish(w);
    }
    return rc;
}

/* ------------------------------------------------------------------ serialization */

static bool bodyless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

static char *put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}
#define PUTS(o, lit) put((o), (lit), sizeof(lit) - 1)

static bool has_header(const vial_req *req, const char *lname)
{
    for (const vial__rhdr *h = req->rh; h; h = h->next)
        if (vial__streq_ci(h->name, strlen(h->name), lname))
            return true;
    return false;
}

/*
 * Writes the status line and headers.  `body_len` < 0 means chunked (or,
 * for HTTP/1.0, delimited by closing the connection).
 */
static int write_head(vial_req *req, int64_t body_len)
{
    vial__session *s = req->s;
    const char *reason = vial_status_reason(req->status);
    const char *rid = vial_request_id(req);
    size_t need = 256 + strlen(reason) + strlen(rid) + (req->ctype ? strlen(req->ctype) : 0);
    for (vial__rhdr *h = req->rh; h; h = h->next)
        need += strlen(h->name) + strlen(h->value) + 4;
    const vial_app *app = req->app;
    bool html = req->ctype && !strncmp(req->ctype, "text/html", 9);
    if (app->security_headers)
        need += 128 + (app->csp ? strlen(app->csp) + 32 : 0);
    char *o0 = vial__outq_reserve(&s->out, need);
    if (!o0)
        return VIAL_ENOMEM;
    char *o = o0;
    o = PUTS(o, "HTTP/1.1 ");
    char num[24];
    int st = req->status;
    num[0] = (char)('0' + st / 100 % 10);
    num[1] = (char)('0' + st / 10 % 10);
    num[2] = (char)('0' + st % 10);
    num[3] = ' ';
    o = put(o, num, 4);
    o = put(o, reason, strlen(reason));
    o = PUTS(o, "\r\nServer: " VIAL__SERVER_NAME "\r\nDate: ");
    o = put(o, vial__http_date(), 29);
    o = PUTS(o, "\r\n");
    if (req->ctype && !bodyless(req->status)) {
        o = PUTS(o, "Content-Type: ");
        o = put(o, req->ctype, strlen(req->ctype));
        o = PUTS(o, "\r\n");
    }
    if (body_len >= 0) {
        if (!bodyless(req->status)) {
            o = PUTS(o, "Content-Length: ");
            o = put(o, num, vial__u64toa((uint64_t)body_len, num));
            o = PUTS(o, "\r\n");
        }
    } else if (req->http_minor >= 1) {
        o = PUTS(o, "Transfer-Encoding: chunked\r\n");
    } else {
        req->keep_alive = false; /* HTTP/1.0: the body ends when we close */
    }
    o = PUTS(o, "X-Request-Id: ");
    o = put(o, rid, strlen(rid));
    o = PUTS(o, "\r\n");
    for (vial__rhdr *h = req->rh; h; h = h->next) {
        o = put(o, h->name, strlen(h->name));
        o = PUTS(o, ": ");
        o = put(o, h->value, strlen(h->value));
        o = PUTS(o, "\r\n");
    }
    /* Safe defaults a handler (or hook) can override by setting its own. */
    if (app->security_headers) {
        if (!has_header(req, "x-content-type-options"))
            o = PUTS(o, "X-Content-Type-Options: nosniff\r\n");
        if (!has_header(req, "referrer-policy"))
            o = PUTS(o, "Referrer-Policy: strict-origin-when-cross-origin\r\n");
        if (html && app->csp && !has_header(req, "content-security-policy")) {
            o = PUTS(o, "Content-Security-Policy: ");
            o = put(o, app->csp, strlen(app->csp));
            o = PUTS(o, "\r\n");
        }
        if (html && !has_header(req, "x-frame-options"))
            o = PUTS(o, "X-Frame-Options: DENY\r\n");
    }
    /* A stop signal may have arrived while the handler ran (the worker
     * hears about it only after): say goodbye in this response already. */
    if (!s->draining && vial__server_stopping(req->app))
        s->draining = true;
    if (req->status == 101) {
        o = PUTS(o, "Connection: Upgrade\r\n");
    } else if (!req->keep_alive || s->closing || s->draining) {
        o = PUTS(o, "Connection: close\r\n");
        req->keep_alive = false;
    } else if (req->http_minor == 0) {
        o = PUTS(o, "Connection: keep-alive\r\n");
    }
    o = PUTS(o, "\r\n");
    size_t n = (size_t)(o - o0);
    vial__outq_commit(&s->out, n);
    s->bytes_out += n;
    return 0;
}

int vial__resp_finish(vial_req *req)
{
    vial__session *s = req->s;
    if (req->file_fd >= 0) {
        int fd = req->file_fd;
        req->file_fd = -1;
        size_t len = bodyless(req->status) ? 0 : req->file_len;
        int rc = write_head(req, (int64_t)len);
        if (rc || req->head || len == 0) {
            close(fd);
            return rc;
        }
        s->bytes_out += len;
        return vial__outq_file(&s->out, fd, req->file_off, len);
    }
    const char *body = req->static_body ? req->static_body : req->body_out->p;
    size_t len = req->static_body ? req->static_len : req->body_out->n;
    if (bodyless(req->status))
        len = 0;
    int rc = write_head(req, (int64_t)len);
    if (rc || req->head || len == 0)
        return rc;
    s->bytes_out += len;
    if (len >= LARGE_BODY && !req->static_body) {
        /* Hand the buffer itself to the queue; the session gets a new one. */
        char *p = req->body_out->p;
        req->body_out->p = NULL;
        req->body_out->n = req->body_out->cap = 0;
        return vial__outq_take(&s->out, p, len);
    }
    if (len >= LARGE_BODY) {
        char *copy = malloc(len);
        if (!copy)
            return VIAL_ENOMEM;
        memcpy(copy, body, len);
        return vial__outq_take(&s->out, copy, len);
    }
    return vial__outq_append(&s->out, body, len);
}

/* Frames what the stream callback wrote as one chunk. */
static int emit_chunk(vial_req *req)
{
    vial__session *s = req->s;
    size_t len = req->body_out->n;
    if (len == 0)
        return 0;
    int rc = 0;
    if (req->http_minor >= 1) {
        char hdr[24];
        static const char hex[] = "0123456789abcdef";
        size_t k = 0;
        char tmp[20];
        size_t v = len;
        do {
            tmp[k++] = hex[v & 15];
            v >>= 4;
        } while (v);
        size_t h = 0;
        while (k)
            hdr[h++] = tmp[--k];
        hdr[h++] = '\r';
        hdr[h++] = '\n';
        rc = vial__outq_append(&s->out, hdr, h);
    }
    if (!rc) {
        if (len >= LARGE_BODY) {
            char *p = req->body_out->p;
            req->body_out->p = NULL;
            req->body_out->n = req->body_out->cap = 0;
            rc = vial__outq_take(&s->out, p, len);
        } else {
            rc = vial__outq_append(&s->out, req->body_out->p, len);
            req->body_out->n = 0;
        }
    }
    if (!rc && req->http_minor >= 1)
        rc = vial__outq_append(&s->out, "\r\n", 2);
    s->bytes_out += len;
    return rc;
}

/*
 * Advances a stream: on the first call writes the head (and any bytes the
 * handler already wrote); then calls the stream function until the output
 * queue holds enough to write or the stream ends.  Returns 1 while more is
 * to come, 0 when the final chunk is queued, negative on failure (the
 * caller closes the connection: a truncated chunked body is the only honest
 * signal once the head has gone out).
 */
int vial__resp_stream_step(vial_req *req)
{
    vial__session *s = req->s;
    if (!req->stream_head_sent) {
        req->stream_head_sent = true;
        if (write_head(req, -1))
            return VIAL_ENOMEM;
        if (req->head) {
            req->stream_done = true; /* HEAD: the head alone, no chunks */
            return 0;
        }
        if (emit_chunk(req))
            return VIAL_ENOMEM;
    }
    while (!req->stream_done && s->out.bytes < 256 * 1024) {
        int r = req->stream_fn(req, req->stream_ud);
        /* What was written before a failure still goes out: the missing
         * final chunk is what tells the client the body is incomplete. */
        if (emit_chunk(req))
            return VIAL_ENOMEM;
        if (r < 0)
            return r;
        if (req->jw && req->jw->err)
            return req->jw->err;
        if (r == 0)
            req->stream_done = true;
    }
    if (!req->stream_done)
        return 1;
    if (req->http_minor >= 1 && !req->head && vial__outq_append(&s->out, "0\r\n\r\n", 5))
        return VIAL_ENOMEM;
    return 0;
}

/*
 * response.c — what a handler writes: status, headers, cookies, bodies,
 * streams, and the built-in error pages.
 *
 * A handler's response stays in the exchange (status, header list, body
 * buffer) until the after-hooks have run; only then does the protocol
 * serialize it (src/http).  That is what lets hooks add headers, HEAD drop
 * the body but keep its length, and error handlers replace a half-built
 * response.
 */
#include "core.h"

#include <stdlib.h>
#include <unistd.h>
#include <time.h>

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
    if (req->m.file_fd >= 0)
        close(req->m.file_fd);
    req->m.file_fd = -1;
}

void vial__req_reset_response(vial_req *req)
{
    drop_file(req);
    req->m.status = 0;
    req->m.responded = false;
    req->m.streaming = false;
    req->m.ctype = NULL;
    req->m.rh = NULL;
    req->m.rh_tail = &req->m.rh;
    req->m.body_out.n = 0;
    req->m.static_body = NULL;
    req->m.static_len = 0;
    req->jw = NULL;
}

static int begin(vial_req *req, int status, const char *ctype)
{
    if (!req)
        return VIAL_EINVAL;
    if (req->m.responded)
        return VIAL_ESTATE;
    /* 1xx are interim; only 101 (a protocol switch) may end a request. */
    if (status < 200 ? status != 101 : status > 999)
        return VIAL_EINVAL;
    req->m.status = status;
    if (ctype || !req->m.ctype)
        req->m.ctype = ctype; /* a Content-Type header set earlier stays unless replaced */
    req->m.responded = true;
    req->m.body_out.n = 0;
    req->m.static_body = NULL;
    return 0;
}

int vial_send(vial_req *req, int status, const char *content_type, const void *data, size_t len)
{
    if (content_type && !header_text_ok(content_type))
        return VIAL_EINVAL;
    int rc = begin(req, status, content_type ? vial_strdup(req, content_type) : NULL);
    if (rc)
        return rc;
    rc = vial__buf_append(&req->m.body_out, data, len);
    if (rc)
        req->m.responded = false;
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
    req->m.file_fd = fd;
    req->m.file_off = off;
    req->m.file_len = len;
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
    req->m.static_body = data;
    req->m.static_len = len;
    return 0;
}

int vial_text(vial_req *req, int status, const char *text)
{
    int rc = begin(req, status, "text/plain; charset=utf-8");
    if (rc)
        return rc;
    rc = text ? vial__buf_puts(&req->m.body_out, text) : 0;
    if (rc)
        req->m.responded = false;
    return rc;
}

int vial_html(vial_req *req, int status, const char *html)
{
    int rc = begin(req, status, "text/html; charset=utf-8");
    if (rc)
        return rc;
    rc = html ? vial__buf_puts(&req->m.body_out, html) : 0;
    if (rc)
        req->m.responded = false;
    return rc;
}

int vial_textf(vial_req *req, int status, const char *fmt, ...)
{
    int rc = begin(req, status, "text/plain; charset=utf-8");
    if (rc)
        return rc;
    va_list ap;
    va_start(ap, fmt);
    rc = vial__buf_vprintf(&req->m.body_out, fmt, ap);
    va_end(ap);
    if (rc)
        req->m.responded = false;
    return rc;
}

vial_jw *vial_jw_begin(vial_req *req, int status)
{
    if (begin(req, status, "application/json"))
        return NULL;
    vial_jw *w = vial__arena_alloc(&req->m.arena, sizeof *w);
    if (!w) {
        req->m.responded = false;
        return NULL;
    }
    vial__jw_init(w, &req->m.body_out);
    req->jw = w;
    return w;
}

/* A writer over its own buffer, for JSON that is not (yet) a response: a
 * page handed to a template, a value to store.  The buffer is released by
 * a deferred function; its first 8 KiB come from the worker's pool. */
typedef struct jw_buffer {
    vial_jw w;
    vial__buf b;
} jw_buffer;

static void jw_buffer_release(void *p)
{
    vial__buf_release(p);
}

vial_jw *vial_jw_buffer(vial_req *req)
{
    jw_buffer *x = req ? vial__arena_alloc(&req->m.arena, sizeof *x) : NULL;
    if (!x)
        return NULL;
    x->b = (vial__buf){ .pool = vial__req_pool(req) };
    vial__jw_init(&x->w, &x->b);
    return vial_defer(req, jw_buffer_release, &x->b) ? NULL : &x->w;
}

int vial_jw_clear(vial_jw *w)
{
    /* Only a buffer writer: its buffer sits right behind it (jw_buffer). */
    if (!w || w->out != &((jw_buffer *)(void *)w)->b)
        return VIAL_EINVAL;
    w->out->n = 0;
    vial__jw_init(w, w->out);
    return 0;
}

const char *vial_jw_text(vial_jw *w, size_t *len)
{
    if (len)
        *len = 0;
    if (vial_jw_finish(w) || vial__buf_nul(w->out))
        return NULL;
    if (len)
        *len = w->out->n;
    return w->out->p;
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
        return req && req->m.responded ? VIAL_ESTATE : VIAL_ENOMEM;
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
    /* An absolute path of the app's goes under the prefix it is mounted
     * at (url_for's already are). */
    if (location[0] == '/' && location[1] != '/' && *vial_script_root(req) &&
        !vial__under_root(req, location, strlen(location))) {
        location = vial_sprintf(req, "%s%s", vial_script_root(req), location);
        if (!location)
            return VIAL_ENOMEM;
    }
    int rc = begin(req, status, "text/plain; charset=utf-8");
    if (rc)
        return rc;
    rc = vial_set_header(req, "Location", location);
    if (!rc)
        rc = vial__buf_printf(&req->m.body_out, "Redirecting to %s\n", location);
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
        req->m.ctype = v;
        return 0;
    }
    if (replace) {
        for (vial__rhdr **pp = &req->m.rh; *pp;) {
            if (vial__streq_ci((*pp)->name, strlen((*pp)->name), name)) {
                *pp = (*pp)->next;
            } else {
                pp = &(*pp)->next;
            }
        }
        req->m.rh_tail = &req->m.rh;
        while (*req->m.rh_tail)
            req->m.rh_tail = &(*req->m.rh_tail)->next;
    }
    vial__rhdr *h = vial__arena_alloc(&req->m.arena, sizeof *h);
    if (!h)
        return VIAL_ENOMEM;
    h->name = vial_strdup(req, name);
    h->value = vial_strdup(req, value);
    if (!h->name || !h->value)
        return VIAL_ENOMEM;
    h->next = NULL;
    *req->m.rh_tail = h;
    req->m.rh_tail = &h->next;
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
        return req->m.ctype;
    for (vial__rhdr *h = req->m.rh; h; h = h->next)
        if (vial__streq_ci(h->name, strlen(h->name), name))
            return h->value;
    return NULL;
}

int vial_resp_status(vial_req *req)
{
    return req && req->m.responded ? req->m.status : 0;
}

int vial_set_status(vial_req *req, int status)
{
    if (!req || !req->m.responded)
        return VIAL_ESTATE;
    if (status < 200 || status > 999)
        return VIAL_EINVAL;
    req->m.status = status;
    return 0;
}

int vial_responded(vial_req *req)
{
    return req && req->m.responded;
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
    const char *root = vial_script_root(req);
    int rc = vial__buf_printf(&b, "%s=%s; Path=%s", name, value, o->path ? o->path : *root ? root : "/");
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
    req->m.streaming = true;
    req->stream_fn = fn;
    req->stream_ud = ud;
    return 0;
}

_Static_assert(VIAL_STREAM_WAIT == VIAL__STREAM_WAIT, "one meaning for 'wait' in both layers");

uint64_t vial_stream_id(vial_req *req)
{
    if (!req || !req->m.conn_id)
        return 0;
    return (uint64_t)req->w->id << 54 | req->m.conn_id;
}

static void wake_on_worker(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    vial__conn *c = vial__conn_find(id & ((UINT64_C(1) << 54) - 1));
    vial__h1_wake(vial__conn_proto(c, &vial__h1_proto));
}

int vial_stream_wake(vial_app *app, uint64_t id)
{
    if (!app || !id)
        return VIAL_EINVAL;
    _Static_assert(sizeof(uintptr_t) >= sizeof(uint64_t), "ids travel as pointers");
    vial__server *srv = vial__server_hold(&app->server);
    int rc = srv ? vial__post(srv, (int)(id >> 54), wake_on_worker, (void *)(uintptr_t)id) : VIAL_ESTATE;
    vial__server_release();
    return rc;
}

int vial_write(vial_req *req, const void *data, size_t len)
{
    if (!req || !req->m.responded || req->m.static_body)
        return VIAL_ESTATE;
    return vial__buf_append(&req->m.body_out, data, len);
}

vial_jw *vial_stream_jw(vial_req *req)
{
    if (!req || !req->m.streaming)
        return NULL;
    if (!req->jw) {
        req->jw = vial__arena_alloc(&req->m.arena, sizeof *req->jw);
        if (!req->jw)
            return NULL;
        vial__jw_init(req->jw, &req->m.body_out);
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
    if (req->m.method && wants_html(req)) {
        rc = begin(req, status, "text/html; charset=utf-8");
        if (rc)
            return rc;
        vial__buf *b = &req->m.body_out;
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

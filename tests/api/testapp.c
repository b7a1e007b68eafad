/*
 * testapp.c — the program the API tests (tests/api/test_*.py) drive over raw
 * sockets.  Every framework feature sits behind a route, and most routes
 * answer with JSON describing what the framework handed the handler, so the
 * tests can check parsing, routing and rendering from the outside.
 *
 *   vial-testapp --port 0 --workers 2 --header-timeout 1s
 *
 * Routes (see main() for the full table, or `vial-testapp routes`):
 *   /echo            method, path, target, args, headers, cookies, body (JSON)
 *   /json            the JSON body echoed back, or 400 with vial_body_json_error()
 *   /conv/...        typed converters; /user/<userId>; /files/<path:p>
 *   /slash/          declared with a trailing slash (308 for /slash)
 *   /api/...         a blueprint with its own hooks and error handler
 *   /fail /noresp    handler failures (500)
 *   /abort/<code>    vial_abort;  /abort_json  vial_abort_json with extras
 *   /cookies/set /redirect /nocontent /headers/set /status/<code> /bin ...
 *   /urlfor          vial_url_for results as JSON
 *   /stream?n=N      chunked text, N numbered lines;  /stream_json?n=N
 *   /sse?topic=T     Server-Sent Events of topics (replays after a numeric
 *                    Last-Event-ID); POST /publish?topic=T; /sse_state
 *   /slow?ms=N       sleeps N ms (graceful shutdown tests)
 *   /config?key=K    vial_config() values
 *   /upload          multipart form: fields and uploads as JSON, each upload
 *                    saved under testapp.upload_dir when that is set
 *   /ws/echo         WebSocket echo; text commands: "id" (vial_ws_id), "close-me"
 *                    "sub T" / "unsub T" (pub/sub topic T; answered "ok ..."),
 *                    (closes 4000), "protocol", "whoami", "flood N SIZE"
 *                    (N binary messages at once), "bad-text" (sends invalid UTF-8)
 *   /ws/chat         the same with subprotocols chat.v2, chat.v1
 *   /ws/auth         the same, refused (401) without a bearer token or X-API-Key
 *   /ws/broadcast    POST ?ids=1,2 with a text body: vial_ws_send_to each id from
 *                    another thread; {"sent": N}
 * Every WebSocket's close is logged: "ws closed <id> <code> <reason>".
 */
#include <vial.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_KEYS 64
#define MAX_VALUES 64

/* ------------------------------------------------------------------ helpers */

/* An integer query argument, `def` when absent or not a number. */
static long long arg_ll(vial_req *req, const char *name, long long def)
{
    const char *v = vial_arg(req, name);
    if (!v || !*v)
        return def;
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || *end)
        return def;
    return x;
}

/*
 * The public API has no iterator over query arguments, so the distinct
 * names are recovered from the raw target; vial_args() then gives the
 * framework's decoded values for each.
 */
static size_t query_keys(vial_req *req, const char **keys, size_t max)
{
    const char *t = vial_target(req);
    const char *q = t ? strchr(t, '?') : NULL;
    size_t n = 0;
    if (!q)
        return 0;
    q++;
    while (*q) {
        size_t len = strcspn(q, "&;");
        size_t kl = strcspn(q, "=&;");
        if (kl > len)
            kl = len;
        if (len > 0 && n < max) {
            char *k = vial_alloc(req, kl + 1);
            if (k && vial_url_decode(q, kl, k, 1) >= 0) {
                int dup = 0;
                for (size_t i = 0; i < n; i++)
                    if (!strcmp(keys[i], k))
                        dup = 1;
                if (!dup)
                    keys[n++] = k;
            }
        }
        q += len;
        if (*q)
            q++;
    }
    return n;
}

/* Appends `item` to the comma-separated response header `name`. */
static void trace(vial_req *req, const char *item)
{
    if (!vial_header(req, "X-Trace-Hooks"))
        return;
    const char *old = vial_resp_header(req, "X-Hook-Order");
    const char *v = old ? vial_sprintf(req, "%s,%s", old, item) : item;
    if (v)
        vial_set_header(req, "X-Hook-Order", v);
}

/* ------------------------------------------------------------------ echo */

static int echo(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "method");
    vial_jw_str(w, vial_method(req));
    vial_jw_key(w, "path");
    vial_jw_str(w, vial_path(req));
    vial_jw_key(w, "target");
    vial_jw_str(w, vial_target(req));
    vial_jw_key(w, "endpoint");
    vial_jw_str(w, vial_endpoint(req));
    vial_jw_key(w, "client");
    vial_jw_str(w, vial_client_addr(req));
    vial_jw_key(w, "request_id");
    vial_jw_str(w, vial_request_id(req));
    vial_jw_key(w, "worker");
    vial_jw_int(w, vial_worker_id(req));

    /* Query arguments: {name: [values...]}. */
    const char *keys[MAX_KEYS];
    size_t nk = query_keys(req, keys, MAX_KEYS);
    vial_jw_key(w, "args");
    vial_jw_object(w);
    for (size_t i = 0; i < nk; i++) {
        const char *vals[MAX_VALUES];
        size_t nv = vial_args(req, keys[i], vals, MAX_VALUES);
        vial_jw_key(w, keys[i]);
        vial_jw_array(w);
        for (size_t k = 0; k < nv && k < MAX_VALUES; k++)
            vial_jw_str(w, vals[k]);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "arg_first");
    vial_jw_object(w);
    for (size_t i = 0; i < nk; i++) {
        vial_jw_key(w, keys[i]);
        vial_jw_str(w, vial_arg(req, keys[i]));
    }
    vial_jw_end(w);

    /* Headers as received, in order: [[name, value], ...]. */
    vial_jw_key(w, "headers");
    vial_jw_array(w);
    const char *hn, *hv;
    for (size_t i = 0; vial_header_at(req, i, &hn, &hv); i++) {
        vial_jw_array(w);
        vial_jw_str(w, hn);
        vial_jw_str(w, hv);
        vial_jw_end(w);
    }
    vial_jw_end(w);

    /* ?h=Name looks a header up by name (case-insensitive lookup). */
    const char *hs[MAX_VALUES];
    size_t nh = vial_args(req, "h", hs, MAX_VALUES);
    vial_jw_key(w, "lookup");
    vial_jw_object(w);
    for (size_t i = 0; i < nh && i < MAX_VALUES; i++) {
        vial_jw_key(w, hs[i]);
        vial_jw_str(w, vial_header(req, hs[i]));
    }
    vial_jw_end(w);

    /* ?c=name looks a cookie up. */
    const char *cs[MAX_VALUES];
    size_t nc = vial_args(req, "c", cs, MAX_VALUES);
    vial_jw_key(w, "cookies");
    vial_jw_object(w);
    for (size_t i = 0; i < nc && i < MAX_VALUES; i++) {
        vial_jw_key(w, cs[i]);
        vial_jw_str(w, vial_cookie(req, cs[i]));
    }
    vial_jw_end(w);

    size_t blen;
    const char *body = vial_body(req, &blen);
    vial_jw_key(w, "body_len");
    vial_jw_int(w, (int64_t)blen);
    vial_jw_key(w, "body_hex");
    size_t hexn = vial_arg(req, "nohex") ? 0 : blen;
    char *hex = vial_alloc(req, hexn * 2 + 1);
    if (!hex)
        return VIAL_ENOMEM;
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < hexn; i++) {
        hex[2 * i] = digits[(unsigned char)body[i] >> 4];
        hex[2 * i + 1] = digits[(unsigned char)body[i] & 15];
    }
    hex[2 * hexn] = '\0';
    vial_jw_str(w, hex);
    /* FNV-1a of the body, for bodies too large to echo. */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < blen; i++)
        h = (h ^ (unsigned char)body[i]) * 16777619u;
    vial_jw_key(w, "body_fnv");
    vial_jw_int(w, h);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int json_echo(vial_req *req)
{
    json_t *v = vial_body_json(req);
    if (!v)
        return vial_abort(req, 400, vial_body_json_error(req));
    json_t *out = json_pack("{sO}", "received", v);
    return vial_json_take(req, 200, out);
}

/* ------------------------------------------------------------------ converters */

static int conv_int(vial_req *req)
{
    json_t *o = json_pack("{sIss}", "value", (json_int_t)vial_param_int(req, "v"), "raw",
                          vial_param(req, "v"));
    return vial_json_take(req, 200, o);
}

static int conv_float(vial_req *req)
{
    json_t *o = json_pack("{sfss}", "value", vial_param_float(req, "v"), "raw", vial_param(req, "v"));
    return vial_json_take(req, 200, o);
}

static int conv_uuid(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ss}", "value", vial_param(req, "v")));
}

static int conv_str(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ssss}", "value", vial_param(req, "s"), "kind", "param"));
}

static int conv_str_special(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ssss}", "value", "special", "kind", "static"));
}

static int user(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ssss}", "userId", vial_param(req, "userId"), "path",
                                              vial_path(req)));
}

static int files(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ssss}", "p", vial_param(req, "p"), "view", "files"));
}

static int files_edit(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ssss}", "p", vial_param(req, "p"), "view", "edit"));
}

static int two_params(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{sIss}", "id", (json_int_t)vial_param_int(req, "id"),
                                              "name", vial_param(req, "name")));
}

static int slash(vial_req *req)
{
    return vial_text(req, 200, "slash view");
}

static int multi_get(vial_req *req)
{
    return vial_text(req, 200, "multi GET");
}

static int multi_post(vial_req *req)
{
    return vial_text(req, 201, "multi POST");
}

/* ------------------------------------------------------------------ hooks and blueprints */

static int app_before(vial_req *req)
{
    trace(req, "app-before");
    if (vial_header(req, "X-Before-Answer"))
        return vial_text(req, 202, "answered by the app before-hook");
    if (vial_header(req, "X-Before-Fail"))
        return -1;
    return 0;
}

static int app_after(vial_req *req)
{
    trace(req, "app-after");
    if (vial_header(req, "X-After-Fail"))
        return -1;
    return vial_set_header(req, "X-After", "app");
}

static int api_before(vial_req *req)
{
    trace(req, "bp-before");
    if (vial_arg(req, "deny"))
        return vial_abort(req, 403, "denied by the api before-hook");
    return vial_set_header(req, "X-BP-Before", "1");
}

static int api_after(vial_req *req)
{
    trace(req, "bp-after");
    return vial_set_header(req, "X-BP-After", "1");
}

static int api_error(vial_req *req, int status, const char *message)
{
    vial_jw *w = vial_jw_begin(req, status);
    vial_jw_object(w);
    vial_jw_key(w, "error");
    vial_jw_str(w, "api_error");
    vial_jw_key(w, "status");
    vial_jw_int(w, status);
    vial_jw_key(w, "message");
    vial_jw_str(w, message);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int api_ok(vial_req *req)
{
    trace(req, "view");
    return vial_json_take(req, 200, json_pack("{ssss}", "bp", "api", "endpoint", vial_endpoint(req)));
}

static int item(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{sIss}", "id", (json_int_t)vial_param_int(req, "id"),
                                              "endpoint", vial_endpoint(req)));
}

static int api_fail(vial_req *req)
{
    return vial_abort(req, 409, "conflict in the api");
}

static int api_crash(vial_req *req)
{
    return -1;
}

static int api_urls(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "relative_item");
    vial_jw_str(w, vial_url_for(req, ".item", "id", "7", NULL));
    vial_jw_key(w, "v2_ping");
    vial_jw_str(w, vial_url_for(req, "api.v2.v2_ping", NULL));
    vial_jw_key(w, "relative_missing");
    vial_jw_str(w, vial_url_for(req, ".nope", NULL));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int v2_ping(vial_req *req)
{
    return vial_json_take(req, 200, json_pack("{ss}", "endpoint", vial_endpoint(req)));
}

static int teapot_handler(vial_req *req, int status, const char *message)
{
    return vial_textf(req, status, "custom %d handler: %s", status, message);
}

static int failing_handler(vial_req *req, int status, const char *message)
{
    return -1; /* the built-in error page must be used instead */
}

/* ------------------------------------------------------------------ errors */

static int fail(vial_req *req)
{
    return -5;
}

static int noresp(vial_req *req)
{
    return 0;
}

static int abort_status(vial_req *req)
{
    return vial_abort(req, (int)vial_param_int(req, "status"), vial_arg(req, "msg"));
}

static int abortf_view(vial_req *req)
{
    const char *x = vial_arg(req, "x");
    return vial_abortf(req, 400, "bad value '%s' (%d chars)", x ? x : "", x ? (int)strlen(x) : 0);
}

static int abort_json(vial_req *req)
{
    json_t *extra = json_pack("{s{ss}sssi}", "fields", "name", "required", "error", "must not override",
                              "code", 7);
    return vial_abort_json(req, 422, "invalid fields", extra);
}

static int jw_bad(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "unbalanced");
    vial_jw_int(w, 1);
    return 0; /* no end, no finish: the framework must notice */
}

static int double_respond(vial_req *req)
{
    int first = vial_text(req, 200, "first");
    int second = vial_text(req, 500, "second");
    char v[64];
    snprintf(v, sizeof v, "%d,%d", first, second);
    vial_set_header(req, "X-Rcs", v);
    return 0;
}

/* ------------------------------------------------------------------ response helpers */

static int cookies_set(vial_req *req)
{
    int r1 = vial_set_cookie(req, "plain", "1", NULL);
    vial_cookie_opts o = { .max_age = 3600,
                           .path = "/api",
                           .domain = "example.com",
                           .secure = 1,
                           .not_httponly = 1,
                           .samesite = VIAL_SAMESITE_STRICT };
    int r2 = vial_set_cookie(req, "opts", "abc", &o);
    vial_cookie_opts gone = { .max_age = -1, .samesite = VIAL_SAMESITE_NONE, .secure = 1 };
    int r3 = vial_set_cookie(req, "gone", "", &gone);
    int bad_value = vial_set_cookie(req, "bad", "a;b", NULL);
    int bad_name = vial_set_cookie(req, "b@d", "x", NULL);
    return vial_json_take(req, 200, json_pack("{s[iii]sisi}", "ok", r1, r2, r3, "bad_value",
                                              bad_value, "bad_name", bad_name));
}

static int redirect(vial_req *req)
{
    const char *to = vial_arg(req, "to");
    int code = (int)arg_ll(req, "code", 302);
    int rc = vial_redirect(req, code, to ? to : "/");
    if (rc)
        return vial_abortf(req, 400, "vial_redirect refused: %d", rc);
    return 0;
}

static int nocontent(vial_req *req)
{
    return vial_no_content(req);
}

static int headers_set(vial_req *req)
{
    int r_one1 = vial_set_header(req, "X-One", "1");
    int r_one2 = vial_set_header(req, "x-one", "2"); /* replaces, case-insensitively */
    int r_m1 = vial_add_header(req, "X-Multi", "a");
    int r_m2 = vial_add_header(req, "X-Multi", "b");
    int r_cl = vial_set_header(req, "Content-Length", "5");
    int r_conn = vial_set_header(req, "Connection", "close");
    int r_date = vial_set_header(req, "Date", "yesterday");
    int r_te = vial_set_header(req, "Transfer-Encoding", "gzip");
    int r_crlf = vial_set_header(req, "X-Evil", "a\r\nInjected: 1");
    int r_badname = vial_set_header(req, "X Bad", "1");
    json_t *o = json_pack("{sisisisisisisisisisi}", "one1", r_one1, "one2", r_one2, "m1", r_m1, "m2",
                          r_m2, "content_length", r_cl, "connection", r_conn, "date", r_date, "te",
                          r_te, "crlf", r_crlf, "badname", r_badname);
    if (!o)
        return -1;
    char *s = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    if (!s)
        return -1;
    int rc = vial_send(req, 200, "application/json", s, strlen(s));
    free(s);
    /* Headers may be set after the body too; Content-Type replaces the body's. */
    if (!rc)
        rc = vial_set_header(req, "Content-Type", "application/x-custom");
    return rc;
}

/* Content-Type set before a body sent with content_type NULL. */
static int ctype_before(vial_req *req)
{
    int rc = vial_set_header(req, "Content-Type", "application/x-before");
    if (rc)
        return rc;
    return vial_send(req, 200, NULL, "data", 4);
}

static int status_view(vial_req *req)
{
    int code = (int)vial_param_int(req, "code");
    int rc = vial_textf(req, code, "status %d", code);
    if (rc)
        return vial_abortf(req, 400, "status %d refused: %d", code, rc);
    return 0;
}

static int bin(vial_req *req)
{
    static const char data[] = { 'a', 0, 'b', 0, 'c', (char)0xff };
    return vial_send(req, 200, "application/octet-stream", data, sizeof data);
}

static const char static_text[] = "static body, borrowed by vial_send_static\n";

static int static_view(vial_req *req)
{
    return vial_send_static(req, 200, "text/plain", static_text, sizeof static_text - 1);
}

static int textf(vial_req *req)
{
    return vial_textf(req, 200, "%s=%d", "answer", 42);
}

static int html(vial_req *req)
{
    return vial_html(req, 200, "<p>hello</p>");
}

/* /big?n=N: N bytes of 'a'..'z' repeating (large bodies go out by reference). */
static int big(vial_req *req)
{
    long long n = arg_ll(req, "n", 100000);
    if (n < 0 || n > 64 * 1024 * 1024)
        return vial_abort(req, 400, "n out of range");
    char *p = vial_alloc(req, (size_t)n + 1);
    if (!p)
        return VIAL_ENOMEM;
    for (long long i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    return vial_send(req, 200, "text/plain", p, (size_t)n);
}

static int url_encode_view(vial_req *req)
{
    const char *s = vial_arg(req, "s");
    return vial_text(req, 200, vial_url_encode(req, s ? s : ""));
}

static int urlfor(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "echo");
    vial_jw_str(w, vial_url_for(req, "echo", NULL));
    vial_jw_key(w, "echo_query");
    vial_jw_str(w, vial_url_for(req, "echo", "x", "1", "y", "a b&c", NULL));
    vial_jw_key(w, "user");
    vial_jw_str(w, vial_url_for(req, "user", "userId", "a/b c", NULL));
    vial_jw_key(w, "files");
    vial_jw_str(w, vial_url_for(req, "files", "p", "dir/sub dir/f.txt", NULL));
    vial_jw_key(w, "int");
    vial_jw_str(w, vial_url_for(req, "conv_int", "v", "42", NULL));
    vial_jw_key(w, "int_bad");
    vial_jw_str(w, vial_url_for(req, "conv_int", "v", "abc", NULL));
    vial_jw_key(w, "missing_param");
    vial_jw_str(w, vial_url_for(req, "conv_int", NULL));
    vial_jw_key(w, "unknown");
    vial_jw_str(w, vial_url_for(req, "no_such_endpoint", NULL));
    vial_jw_key(w, "api_item");
    vial_jw_str(w, vial_url_for(req, "api.item", "id", "5", "q", "1", NULL));
    vial_jw_key(w, "slash");
    vial_jw_str(w, vial_url_for(req, "slash", NULL));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ streams */

struct lines {
    long long i, n, fail_at, per_call;
};

static int lines_next(vial_req *req, void *ud)
{
    struct lines *st = ud;
    for (long long k = 0; k < st->per_call && st->i < st->n; k++, st->i++) {
        if (st->fail_at >= 0 && st->i == st->fail_at)
            return -1;
        char line[48];
        int len = snprintf(line, sizeof line, "line %lld\n", st->i);
        if (vial_write(req, line, (size_t)len))
            return -1;
    }
    return st->i < st->n ? 1 : 0;
}

/* /stream?n=N[&per=K][&fail_at=I][&pre=1] */
static int stream(vial_req *req)
{
    struct lines *st = vial_alloc(req, sizeof *st);
    if (!st)
        return VIAL_ENOMEM;
    st->i = 0;
    st->n = arg_ll(req, "n", 10);
    st->per_call = arg_ll(req, "per", 7);
    st->fail_at = arg_ll(req, "fail_at", -1);
    if (st->per_call < 1)
        st->per_call = 1;
    int rc = vial_stream(req, 200, "text/plain; charset=utf-8", lines_next, st);
    if (rc)
        return rc;
    vial_set_header(req, "X-Stream", "lines");
    if (vial_arg(req, "pre"))
        return vial_write(req, "begin\n", 6);
    return 0;
}

struct jlines {
    long long i, n;
    int started;
};

static int json_next(vial_req *req, void *ud)
{
    struct jlines *st = ud;
    vial_jw *w = vial_stream_jw(req);
    if (!w)
        return -1;
    if (!st->started) {
        vial_jw_array(w);
        st->started = 1;
    }
    for (int k = 0; k < 25 && st->i < st->n; k++, st->i++) {
        vial_jw_object(w);
        vial_jw_key(w, "i");
        vial_jw_int(w, st->i);
        vial_jw_key(w, "s");
        vial_jw_str(w, "x\"y\n");
        vial_jw_end(w);
    }
    if (st->i < st->n)
        return 1;
    vial_jw_end(w);
    return 0;
}

static int stream_json(vial_req *req)
{
    struct jlines *st = vial_alloc(req, sizeof *st);
    if (!st)
        return VIAL_ENOMEM;
    st->i = 0;
    st->n = arg_ll(req, "n", 10);
    st->started = 0;
    return vial_stream(req, 200, "application/json", json_next, st);
}

/* /wait?n=N: a stream that waits for events.  Its first chunk is
 * "id=<stream id>\n"; each wake (POST /wake?id=) adds "woken K\n", each
 * tick without a wake "tick\n"; it ends after N wakes.  /waits tells how
 * many waiting streams have ended (their deferred functions ran) and how
 * often their functions were called in all. */
static atomic_int waits_ended, wait_calls;

struct waiter {
    long long n, woken;
    bool sent_id;
};

static void forget_waiter(long long *count);

static void waiter_end(void *arg)
{
    forget_waiter(arg); /* its count goes with the request's arena */
    atomic_fetch_add(&waits_ended, 1);
}

static int wait_next(vial_req *req, void *ud)
{
    struct waiter *st = ud;
    atomic_fetch_add(&wait_calls, 1);
    char line[64];
    int len;
    if (!st->sent_id) {
        st->sent_id = true;
        len = snprintf(line, sizeof line, "id=%" PRIu64 "\n", vial_stream_id(req));
        return vial_write(req, line, (size_t)len) ? -1 : VIAL_STREAM_WAIT;
    }
    /* Called again: by a wake (counted by /wake in the request's locals) or
     * by a tick. */
    long long *wakes = vial_local(req, "wakes");
    long long now = wakes ? __atomic_load_n(wakes, __ATOMIC_SEQ_CST) : 0;
    if (now > st->woken) {
        st->woken = now;
        len = snprintf(line, sizeof line, "woken %lld\n", st->woken);
    } else {
        len = snprintf(line, sizeof line, "tick\n");
    }
    if (vial_write(req, line, (size_t)len))
        return -1;
    return st->woken >= st->n ? 0 : VIAL_STREAM_WAIT;
}

/* The wakes of every waiting stream, by stream id (a test has few). */
static struct {
    uint64_t id;
    long long *count;
} wake_counts[64];
static pthread_mutex_t wake_mu = PTHREAD_MUTEX_INITIALIZER;

static void forget_waiter(long long *count)
{
    pthread_mutex_lock(&wake_mu);
    for (size_t i = 0; i < 64; i++)
        if (wake_counts[i].count == count)
            wake_counts[i].id = 0, wake_counts[i].count = NULL;
    pthread_mutex_unlock(&wake_mu);
}

static int wait_stream(vial_req *req)
{
    struct waiter *st = vial_alloc(req, sizeof *st);
    long long *count = vial_alloc(req, sizeof *count);
    if (!st || !count)
        return VIAL_ENOMEM;
    *st = (struct waiter){ .n = arg_ll(req, "n", 1) };
    *count = 0;
    int rc = vial_stream(req, 200, "text/plain; charset=utf-8", wait_next, st);
    if (rc || (rc = vial_set_local(req, "wakes", count)) || (rc = vial_defer(req, waiter_end, count)))
        return rc;
    uint64_t id = vial_stream_id(req);
    pthread_mutex_lock(&wake_mu);
    for (size_t i = 0; i < 64; i++) {
        if (!wake_counts[i].id || wake_counts[i].id == id) {
            wake_counts[i].id = id;
            wake_counts[i].count = count;
            break;
        }
    }
    pthread_mutex_unlock(&wake_mu);
    return 0;
}

/* POST /wake?id=ID: counts a wake for the stream and wakes it (the count
 * is written under the lock; the stream reads it on its own worker after
 * the wake, which the post's queue orders after this write). */
static int wake(vial_req *req)
{
    const char *ids = vial_arg(req, "id");
    uint64_t id = ids ? strtoull(ids, NULL, 10) : 0;
    bool found = false;
    pthread_mutex_lock(&wake_mu);
    for (size_t i = 0; i < 64 && id; i++) {
        if (wake_counts[i].id == id) {
            __atomic_add_fetch(wake_counts[i].count, 1, __ATOMIC_SEQ_CST);
            found = true;
        }
    }
    pthread_mutex_unlock(&wake_mu);
    if (!found)
        return vial_abort(req, 404, "no such waiting stream");
    int rc = vial_stream_wake(vial_app_of(req), id);
    return rc ? vial_abortf(req, 500, "wake: %s", vial_strerror(rc)) : vial_no_content(req);
}

static int waits(vial_req *req)
{
    return vial_textf(req, 200, "ended=%d calls=%d", atomic_load(&waits_ended), atomic_load(&wait_calls));
}

/* ------------------------------------------------------------------ Server-Sent Events, topics */

/* GET /sse?topic=T (repeatable): an SSE stream subscribed to the topics,
 * each message one event.  With Last-Event-ID N (a number) it first
 * replays events "replayed" N+1..N+3.  /sse_state tells how many streams
 * are open and ended, and whether a publish on ?topic= would reach anyone
 * (vial_publish_wanted).  POST /publish?topic=T publishes the body. */
static atomic_int sse_open, sse_ended;

static void sse_gone(void *arg)
{
    (void)arg;
    atomic_fetch_sub(&sse_open, 1);
    atomic_fetch_add(&sse_ended, 1);
}

static int sse_replay(vial_sse *s, const char *last, void *ud)
{
    (void)ud;
    char *end;
    long long n = strtoll(last, &end, 10);
    if (*end)
        return 0;
    for (long long i = n + 1; i <= n + 3; i++) {
        char id[24], data[40];
        snprintf(id, sizeof id, "%lld", i);
        snprintf(data, sizeof data, "missed %lld", i);
        int rc = vial_sse_send(s, "replayed", id, data, strlen(data));
        if (rc)
            return rc;
    }
    return 0;
}

static int sse_view(vial_req *req)
{
    const char *topics[9];
    size_t n = vial_args(req, "topic", topics, 8);
    topics[n < 8 ? n : 8] = NULL;
    if (vial_defer(req, sse_gone, NULL))
        return VIAL_ENOMEM;
    atomic_fetch_add(&sse_open, 1);
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .topics = topics, .replay = sse_replay });
    if (!s)
        return VIAL_ENOMEM;
    const char *hello = vial_arg(req, "hello");
    return hello ? vial_sse_send(s, "hello", NULL, hello, strlen(hello)) : 0;
}

static int sse_state(vial_req *req)
{
    const char *t = vial_arg(req, "topic");
    return vial_textf(req, 200, "open=%d ended=%d wanted=%d", atomic_load(&sse_open), atomic_load(&sse_ended),
                      t ? vial_publish_wanted(vial_app_of(req), t) : -1);
}

static int publish_view(vial_req *req)
{
    const char *t = vial_arg(req, "topic");
    size_t n;
    const char *body = vial_body(req, &n);
    long long times = arg_ll(req, "times", 1);
    if (!t)
        return vial_abort(req, 400, "topic?");
    for (long long i = 0; i < times; i++) {
        int rc = vial_publish(vial_app_of(req), t, body, n);
        if (rc)
            return vial_abortf(req, 500, "publish: %s", vial_strerror(rc));
    }
    return vial_no_content(req);
}

/* ------------------------------------------------------------------ misc */

static int slow(vial_req *req)
{
    long long ms = arg_ll(req, "ms", 1000);
    if (ms < 0 || ms > 30000)
        return vial_abort(req, 400, "ms out of range");
    /* Tests wait for this line to know the handler is running. */
    vial_req_log(req, VIAL_LOG_WARN, "slow: sleeping %lld ms", ms);
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    return vial_textf(req, 200, "slept %lld ms", ms);
}

/* A handler that crashes the process (testapp.crashes = on only): the
 * crash isolation tests' segfault and abort. */
static int die(vial_req *req)
{
    if (!vial_config_bool(vial_app_of(req), "testapp.crashes", 0))
        return vial_abort(req, 403, "testapp.crashes is off");
    const char *how = vial_arg(req, "how");
    vial_req_log(req, VIAL_LOG_WARN, "die: %s", how ? how : "segv");
    if (how && !strcmp(how, "abort"))
        abort();
    volatile int *volatile p = NULL;
    return *p;
}

static int config_view(vial_req *req)
{
    vial_app *app = vial_app_of(req);
    const char *keys[MAX_VALUES];
    size_t n = vial_args(req, "key", keys, MAX_VALUES);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    for (size_t i = 0; i < n && i < MAX_VALUES; i++) {
        vial_jw_key(w, keys[i]);
        vial_jw_str(w, vial_config(app, keys[i]));
    }
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int log_view(vial_req *req)
{
    const char *m = vial_arg(req, "m");
    vial_req_log(req, VIAL_LOG_WARN, "testapp log: %s", m ? m : "");
    return vial_text(req, 200, "logged");
}

/* Form fields {name: [values]} and uploads [{field, filename, content_type,
 * size, saved}] of a form body; 400 with vial_form_error() when it is not
 * one.  With testapp.upload_dir set, every upload is copied there with
 * vial_upload_save() (as upload-<n>, n counting the process's uploads). */
static int upload(vial_req *req)
{
    static atomic_uint seq;
    const char *err = vial_form_error(req);
    if (err)
        return vial_abort(req, 400, err);
    /* Saved first: a failure is a 500 before any JSON is written. */
    const char *dir = vial_config(vial_app_of(req), "testapp.upload_dir");
    const char *saved[MAX_VALUES] = { 0 };
    const vial_upload *u;
    for (size_t i = 0; (u = vial_upload_at(req, i)) && i < MAX_VALUES && dir && *dir; i++) {
        saved[i] = vial_sprintf(req, "%s/upload-%u", dir, atomic_fetch_add(&seq, 1) + 1);
        int rc = saved[i] ? vial_upload_save(req, u, saved[i]) : VIAL_ENOMEM;
        if (rc)
            return vial_abortf(req, 500, "cannot save the upload: %s", vial_strerror(rc));
    }
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "fields");
    vial_jw_object(w);
    const char *name, *prev;
    for (size_t i = 0; vial_form_at(req, i, &name, NULL); i++) {
        size_t first = 0;
        while (first < i && vial_form_at(req, first, &prev, NULL) && strcmp(prev, name))
            first++;
        if (first < i)
            continue; /* listed with its first occurrence */
        const char *vals[MAX_VALUES];
        size_t n = vial_forms(req, name, vals, MAX_VALUES);
        vial_jw_key(w, name);
        vial_jw_array(w);
        for (size_t k = 0; k < n && k < MAX_VALUES; k++)
            vial_jw_str(w, vals[k]);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "uploads");
    vial_jw_array(w);
    for (size_t i = 0; (u = vial_upload_at(req, i)); i++) {
        vial_jw_object(w);
        vial_jw_key(w, "field");
        vial_jw_str(w, u->field);
        vial_jw_key(w, "filename");
        vial_jw_str(w, u->filename);
        vial_jw_key(w, "content_type");
        vial_jw_str(w, u->content_type);
        vial_jw_key(w, "size");
        vial_jw_int(w, (int64_t)u->size);
        vial_jw_key(w, "saved");
        vial_jw_str(w, i < MAX_VALUES ? saved[i] : NULL); /* null when not saved */
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ WebSocket */

static void ws_message(vial_ws *ws, const char *data, size_t len, int binary)
{
    if (!binary) {
        unsigned long n, size;
        if (!strcmp(data, "id")) {
            char b[32];
            snprintf(b, sizeof b, "%" PRIu64, vial_ws_id(ws));
            vial_ws_send_text(ws, b);
            return;
        }
        if (!strcmp(data, "close-me")) {
            vial_ws_close(ws, 4000, "as you wish");
            return;
        }
        if (!strncmp(data, "sub ", 4) || !strncmp(data, "unsub ", 6)) {
            /* pub/sub: answered "ok <cmd>" or the error, so a client knows
             * the subscription is in place before it publishes */
            bool sub = data[0] == 's';
            int rc = sub ? vial_ws_subscribe(ws, data + 4) : vial_ws_unsubscribe(ws, data + 6);
            char b[160];
            snprintf(b, sizeof b, "%s %s", rc ? "error" : "ok", rc ? vial_strerror(rc) : data);
            vial_ws_send_text(ws, b);
            return;
        }
        if (!strcmp(data, "protocol")) {
            const char *p = vial_ws_protocol(ws);
            vial_ws_send_text(ws, p ? p : "");
            return;
        }
        if (!strcmp(data, "whoami")) {
            const char *who = vial_ws_ud(ws);
            vial_ws_send_text(ws, who ? who : "anonymous");
            return;
        }
        if (!strcmp(data, "bad-text")) {
            int rc = vial_ws_send(ws, "\xff", 1, 0);
            vial_ws_send_text(ws, vial_strerror(rc));
            return;
        }
        if (sscanf(data, "flood %lu %lu", &n, &size) == 2 && size <= (16ul << 20)) {
            char *buf = malloc(size ? size : 1);
            if (!buf)
                return;
            memset(buf, 'f', size);
            unsigned long i = 0;
            int rc = 0;
            for (; i < n && !(rc = vial_ws_send(ws, buf, size, 1)); i++) {
            }
            free(buf);
            vial_log(VIAL_LOG_INFO, "ws flood: %lu of %lu sent (%s)", i, n, vial_strerror(rc));
            return;
        }
    }
    vial_ws_send(ws, data, len, binary);
}

static void ws_close_cb(vial_ws *ws, int code, const char *reason)
{
    vial_log(VIAL_LOG_INFO, "ws closed %" PRIu64 " %d %s", vial_ws_id(ws), code, reason);
    free(vial_ws_ud(ws));
}

static int ws_auth_upgrade(vial_req *req, void **ud)
{
    if (vial_auth_require(req, NULL))
        return 0; /* 401 answered: refused before the 101 */
    const vial_identity *id = vial_auth(req);
    *ud = strdup(id->subject);
    return *ud ? 0 : VIAL_ENOMEM;
}

static const vial_ws_handlers ws_echo_h = { .message = ws_message, .close = ws_close_cb };
static const vial_ws_handlers ws_auth_h = { .upgrade = ws_auth_upgrade, .message = ws_message,
                                            .close = ws_close_cb };

typedef struct broadcast {
    vial_app *app;
    const char *ids, *body;
    size_t len;
    int sent;
} broadcast;

static void *broadcast_thread(void *arg)
{
    broadcast *b = arg;
    for (const char *p = b->ids; *p;) {
        char *end;
        unsigned long long id = strtoull(p, &end, 10);
        if (end == p)
            break;
        if (vial_ws_send_to(b->app, id, b->body, b->len, 0) == 0)
            b->sent++;
        p = *end == ',' ? end + 1 : end;
    }
    return NULL;
}

/* Sends the body to every id from a thread of its own: any thread may. */
static int ws_broadcast(vial_req *req)
{
    broadcast b = { vial_app_of(req), vial_arg(req, "ids"), NULL, 0, 0 };
    b.body = vial_body(req, &b.len);
    if (!b.ids)
        return vial_abort(req, 400, "ids required");
    pthread_t th;
    if (pthread_create(&th, NULL, broadcast_thread, &b))
        return vial_abort(req, 503, "cannot start a thread");
    pthread_join(th, NULL);
    json_t *j = json_pack("{si}", "sent", b.sent);
    return vial_json_take(req, 200, j);
}

static int from_token(vial_req *req, json_t *claims, vial_identity *id)
{
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    if (!sub)
        return VIAL_ENOENT;
    id->user_id = 1;
    id->subject = vial_strdup(req, sub);
    id->role = "user";
    id->via = "token";
    return id->subject ? 0 : VIAL_ENOMEM;
}

static int from_api_key(vial_req *req, const char *key, vial_identity *id)
{
    (void)req;
    if (strcmp(key, "testapp-key"))
        return VIAL_ENOENT;
    id->user_id = 2;
    id->subject = "key:1";
    id->role = "user";
    id->via = "api_key";
    id->key_id = 1;
    return 0;
}

static const vial_auth_ops auth_ops = { from_token, from_api_key };

static int cmd_echo_args(vial_app *app, int argc, char **argv)
{
    printf("port=%s\n", vial_config(app, "port"));
    printf("greeting=%s\n", vial_config(app, "testapp.greeting"));
    for (int i = 0; i < argc; i++)
        printf("arg=%s\n", argv[i]);
    return argc > 0 && !strcmp(argv[0], "fail") ? 3 : 0;
}

/* ------------------------------------------------------------------ main */

static int check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "testapp: %s: %s\n", what, vial_strerror(rc));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("vial-testapp");
    if (!app)
        return 1;
    int bad = 0;
    const unsigned all = VIAL_GET | VIAL_POST | VIAL_PUT | VIAL_DELETE | VIAL_PATCH;
    bad |= check(vial_config_define(app, "testapp.greeting", "hello", "greeting shown by echo-args"),
                 "define");
    bad |= check(vial_config_define(app, "testapp.crashes", "off", "GET /die crashes the process"), "define");
    bad |= check(vial_config_define(app, "testapp.upload_dir", "", "where /upload saves uploads (empty: nowhere)"),
                 "define");
    bad |= check(vial_route(vial_app_bp(app), all, "/echo", echo, "echo"), "/echo");
    bad |= check(vial_post(app, "/json", json_echo), "/json");
    bad |= check(vial_get(app, "/conv/int/<int:v>", conv_int), "conv_int");
    bad |= check(vial_get(app, "/conv/float/<float:v>", conv_float), "conv_float");
    bad |= check(vial_get(app, "/conv/uuid/<uuid:v>", conv_uuid), "conv_uuid");
    bad |= check(vial_get(app, "/conv/str/<s>", conv_str), "conv_str");
    bad |= check(vial_get(app, "/conv/str/special", conv_str_special), "conv_str_special");
    bad |= check(vial_get(app, "/user/<userId>", user), "user");
    bad |= check(vial_get(app, "/files/<path:p>", files), "files");
    bad |= check(vial_get(app, "/files/<path:p>/edit", files_edit), "files_edit");
    bad |= check(vial_get(app, "/things/<int:id>/<string:name>", two_params), "two_params");
    bad |= check(vial_get(app, "/slash/", slash), "slash");
    bad |= check(vial_get(app, "/multi", multi_get), "multi_get");
    bad |= check(vial_post(app, "/multi", multi_post), "multi_post");
    bad |= check(vial_get(app, "/fail", fail), "fail");
    bad |= check(vial_get(app, "/noresp", noresp), "noresp");
    bad |= check(vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST, "/abort/<int:status>",
                            abort_status, "abort_status"),
                 "abort_status");
    bad |= check(vial_get(app, "/abortf", abortf_view), "abortf");
    bad |= check(vial_get(app, "/abort_json", abort_json), "abort_json");
    bad |= check(vial_get(app, "/jw_bad", jw_bad), "jw_bad");
    bad |= check(vial_get(app, "/double", double_respond), "double");
    bad |= check(vial_get(app, "/cookies/set", cookies_set), "cookies_set");
    bad |= check(vial_get(app, "/redirect", redirect), "redirect");
    bad |= check(vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST | VIAL_DELETE, "/nocontent",
                            nocontent, "nocontent"),
                 "nocontent");
    bad |= check(vial_get(app, "/headers/set", headers_set), "headers_set");
    bad |= check(vial_get(app, "/ctype_before", ctype_before), "ctype_before");
    bad |= check(vial_get(app, "/status/<int:code>", status_view), "status");
    bad |= check(vial_get(app, "/bin", bin), "bin");
    bad |= check(vial_get(app, "/static", static_view), "static");
    bad |= check(vial_get(app, "/textf", textf), "textf");
    bad |= check(vial_get(app, "/html", html), "html");
    bad |= check(vial_get(app, "/big", big), "big");
    bad |= check(vial_get(app, "/urlencode", url_encode_view), "urlencode");
    bad |= check(vial_get(app, "/urlfor", urlfor), "urlfor");
    bad |= check(vial_get(app, "/stream", stream), "stream");
    bad |= check(vial_get(app, "/wait", wait_stream), "wait");
    bad |= check(vial_post(app, "/wake", wake), "wake");
    bad |= check(vial_get(app, "/waits", waits), "waits");
    bad |= check(vial_get(app, "/sse", sse_view), "sse");
    bad |= check(vial_get(app, "/sse_state", sse_state), "sse_state");
    bad |= check(vial_post(app, "/publish", publish_view), "publish");
    bad |= check(vial_get(app, "/stream_json", stream_json), "stream_json");
    bad |= check(vial_get(app, "/slow", slow), "slow");
    bad |= check(vial_get(app, "/config", config_view), "config");
    bad |= check(vial_get(app, "/die", die), "die");
    bad |= check(vial_get(app, "/log", log_view), "log");
    bad |= check(vial_post(app, "/upload", upload), "upload");
    /* WebSocket: tokens signed with a fixed test key (the tests mint them) */
    bad |= check(vial_auth_init(app, &auth_ops), "auth");
    bad |= check(vial_config_default(app, "secret_key", "testapp-secret-key-for-the-api-tests-0123"),
                 "secret");
    bad |= check(vial_websocket(app, "/ws/echo", &ws_echo_h), "/ws/echo");
    static const char *const chat_protocols[] = { "chat.v2", "chat.v1", NULL };
    bad |= check(vial_ws_route(vial_app_bp(app), "/ws/chat", &ws_echo_h,
                               &(vial_ws_opts){ .protocols = chat_protocols, .endpoint = "ws_chat" }),
                 "/ws/chat");
    bad |= check(vial_websocket(app, "/ws/auth", &ws_auth_h), "/ws/auth");
    bad |= check(vial_post(app, "/ws/broadcast", ws_broadcast), "/ws/broadcast");

    bad |= check(vial_before_request(app, app_before), "app before");
    bad |= check(vial_after_request(app, app_after), "app after");
    bad |= check(vial_errorhandler(app, 418, teapot_handler), "418 handler");
    bad |= check(vial_errorhandler(app, 451, failing_handler), "451 handler");

    vial_bp *api = vial_bp_new("api");
    vial_bp *v2 = vial_bp_new("v2");
    if (!api || !v2)
        return 1;
    bad |= check(vial_get(api, "/ok", api_ok), "api ok");
    bad |= check(vial_route(api, VIAL_GET, "/items/<int:id>", item, "item"), "api item");
    bad |= check(vial_get(api, "/fail", api_fail), "api fail");
    bad |= check(vial_get(api, "/crash", api_crash), "api crash");
    bad |= check(vial_get(api, "/urls", api_urls), "api urls");
    bad |= check(vial_before_request(api, api_before), "api before");
    bad |= check(vial_after_request(api, api_after), "api after");
    bad |= check(vial_errorhandler(api, 0, api_error), "api errors");
    bad |= check(vial_get(v2, "/ping", v2_ping), "v2 ping");
    bad |= check(vial_register(api, v2, "/v2"), "register v2");
    bad |= check(vial_register(app, api, "/api"), "register api");

    bad |= check(vial_command(app, "echo-args", cmd_echo_args, "print config and arguments"),
                 "command");
    if (bad) {
        vial_app_free(app);
        return 1;
    }
    int rc = vial_run(app, argc, argv);
    vial_app_free(app);
    return rc;
}

/*
 * Unit tests for src/core/dispatch.c: one request through the app — the
 * before-hooks from the root blueprint inward and the after-hooks from the
 * innermost out (and what a hook that answers or fails does to the rest),
 * the answers with no view (404, 405 and OPTIONS with Allow, OPTIONS *,
 * HEAD, the trailing-slash redirect, a bad escape), handler failures and
 * fail_500's debug payload (in debug mode only), the error handlers
 * (innermost blueprint first, a status before the catch-all, down to the
 * built-in JSON/HTML page), protocol errors, and url_for with relative
 * endpoints.
 */
#include "unit.h"

#include <stdlib.h>

static char trace[256];

static void tr(const char *s)
{
    strncat(trace, s, sizeof trace - strlen(trace) - 1);
}

static int app_before(vial_req *req)
{
    (void)req;
    tr("A<");
    return 0;
}
static int app_after(vial_req *req)
{
    tr(">A");
    return vial_set_header(req, "X-App", "1");
}
static int bp_before(vial_req *req)
{
    vial_set_local(req, "who", "blueprint");
    tr("B<");
    if (vial_arg(req, "deny"))
        return vial_abort(req, 403, "denied by the blueprint");
    if (vial_arg(req, "break"))
        return VIAL_EIO;
    return 0;
}
static int bp_after(vial_req *req)
{
    (void)req;
    tr(">B");
    return 0;
}
static int after2(vial_req *req)
{
    (void)req;
    tr(">b");
    return 0;
}
static int after_fails(vial_req *req)
{
    (void)req;
    tr(">F");
    return VIAL_EIO;
}
static int v1_before(vial_req *req)
{
    (void)req;
    tr("C<");
    return 0;
}
static int view(vial_req *req)
{
    tr("V");
    const char *who = vial_local(req, "who");
    if (who)
        vial_set_header(req, "X-Who", who);
    return vial_text(req, 200, vial_endpoint(req));
}
static int fails(vial_req *req)
{
    (void)req;
    return -1;
}
static int silent(vial_req *req)
{
    (void)req;
    return 0;
}
static int aborts(vial_req *req)
{
    return vial_abort_json(req, 422, "bad thing", json_pack("{s:{s:s}}", "fields", "a", "required"));
}
static int half_json(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "open");
    vial_jw_int(w, 1);
    return 0; /* the object is never closed */
}
static int bp_err(vial_req *req, int status, const char *msg)
{
    return vial_textf(req, status, "bp says %d: %s", status, msg);
}
static int app_err(vial_req *req, int status, const char *msg)
{
    return vial_textf(req, status, "app says %d: %s", status, msg);
}
static int bad_err(vial_req *req, int status, const char *msg)
{
    (void)req;
    (void)status;
    (void)msg;
    return -1; /* a failing error handler: the built-in page is used */
}

/*
 *   /  /fails  /silent  /aborts  /half            root: A hooks
 *   /api/thing  /api/missing                        api: B hooks, 404 handler
 *   /api/v1/deep                                    api.v1: C before-hook
 */
static vial_bp *api_bp;

static vial_app *build(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_before_request(app, app_before);
    vial_after_request(app, app_after);
    vial_get(app, "/", view);
    vial_get(app, "/fails", fails);
    vial_get(app, "/silent", silent);
    vial_get(app, "/aborts", aborts);
    vial_get(app, "/half", half_json);
    vial_bp *api = api_bp = vial_bp_new("api");
    vial_bp *v1 = vial_bp_new("v1");
    vial_before_request(api, bp_before);
    vial_after_request(api, bp_after);
    vial_errorhandler(api, 404, bp_err);
    vial_get(api, "/thing", view);
    vial_before_request(v1, v1_before);
    vial_get(v1, "/deep", view);
    vial_get(api, "/missing", aborts);
    assert_int_equal(vial_register(api, v1, "/v1"), 0);
    assert_int_equal(vial_register(app, api, "/api"), 0);
    return app;
}

/* ------------------------------------------------------------------ hooks */

static void test_hooks_order(void **state)
{
    (void)state;
    vial_app *app = build();
    trace[0] = 0;
    vial_test_resp *r = get(app, "/api/thing");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "api.view");
    assert_string_equal(trace, "A<B<V>B>A");
    assert_string_equal(vial_test_header(r, "X-App"), "1");
    assert_string_equal(vial_test_header(r, "X-Who"), "blueprint"); /* request locals */
    vial_test_free(r);
    trace[0] = 0;
    r = get(app, "/api/v1/deep");
    assert_string_equal(vial_test_body(r, NULL), "api.v1.view");
    assert_string_equal(trace, "A<B<C<V>B>A"); /* a nested blueprint runs its parents' hooks, outer first */
    vial_test_free(r);
    /* a before-hook that answers skips the view and the inner hooks, not the after-hooks */
    trace[0] = 0;
    r = get(app, "/api/v1/deep?deny=1");
    assert_int_equal(vial_test_status(r), 403);
    assert_string_equal(trace, "A<B<>B>A");
    vial_test_free(r);
    /* outside every blueprint (no route): the root's hooks only */
    trace[0] = 0;
    expect(app, "GET", "/api/nothing-here", 404, NULL);
    assert_string_equal(trace, "A<>A");
    vial_app_free(app);
}

static void test_hooks_of_one_blueprint(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_after_request(vial_app_bp(app), after2);
    trace[0] = 0;
    expect(app, "GET", "/", 200, "view");
    /* before-hooks in registration order, after-hooks in reverse (as Flask's) */
    assert_string_equal(trace, "A<V>b>A");
    vial_app_free(app);
}

static void test_hook_failures(void **state)
{
    (void)state;
    vial_app *app = build();
    /* a before-hook that fails: 500, no view, no inner hook; every after-hook still runs */
    trace[0] = 0;
    vial_test_resp *r = get(app, "/api/v1/deep?break=1");
    assert_int_equal(vial_test_status(r), 500);
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"internal_server_error_500\",\"message\":\"internal server error\"}");
    assert_string_equal(trace, "A<B<>B>A");
    assert_string_equal(vial_test_header(r, "X-App"), "1");
    vial_test_free(r);
    /* an after-hook that fails: 500 in place of the view's answer; that blueprint's
     * other after-hooks are skipped, the outer blueprints' still run */
    vial_after_request(api_bp, after_fails); /* the last registered runs first */
    trace[0] = 0;
    r = get(app, "/api/thing");
    assert_int_equal(vial_test_status(r), 500);
    assert_string_equal(trace, "A<B<V>F>A");
    assert_string_equal(vial_test_header(r, "X-App"), "1");
    assert_null(vial_test_header(r, "X-Who")); /* the view's headers went with its answer */
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ answers without a view */

static int opt_view(vial_req *req)
{
    return vial_text(req, 200, "my own OPTIONS");
}

static void test_not_found_and_not_allowed(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_route(vial_app_bp(app), VIAL_PUT | VIAL_DELETE, "/", view, "write");
    vial_route(vial_app_bp(app), VIAL_OPTIONS, "/opt", opt_view, "opt");
    expect(app, "GET", "/nowhere", 404,
           "{\"error\":\"not_found_404\",\"message\":\"the requested URL was not found on the server\"}");
    /* 405 lists what the path allows, in a fixed order; its page goes through the handlers */
    vial_test_resp *r = vial_test(app, "PATCH", "/", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 405);
    assert_string_equal(vial_test_header(r, "Allow"), "GET, HEAD, PUT, DELETE, OPTIONS");
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"method_not_allowed_405\",\"message\":\"PATCH is not allowed here\"}");
    vial_test_free(r);
    vial_errorhandler(app, 405, app_err);
    r = vial_test(app, "PATCH", "/", NULL, NULL, 0);
    assert_string_equal(vial_test_body(r, NULL), "app says 405: PATCH is not allowed here");
    assert_string_equal(vial_test_header(r, "Allow"), "GET, HEAD, PUT, DELETE, OPTIONS");
    vial_test_free(r);
    /* OPTIONS: 204 and Allow, hooks included; unless the route answers OPTIONS itself */
    trace[0] = 0;
    r = vial_test(app, "OPTIONS", "/", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 204);
    assert_string_equal(vial_test_header(r, "Allow"), "GET, HEAD, PUT, DELETE, OPTIONS");
    assert_string_equal(trace, "A<>A");
    vial_test_free(r);
    expect(app, "OPTIONS", "/opt", 200, "my own OPTIONS");
    /* OPTIONS * asks about the server: every method */
    const char star[] = "OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n";
    r = vial_test_raw(app, star, sizeof star - 1);
    assert_int_equal(vial_test_status(r), 204);
    assert_string_equal(vial_test_header(r, "Allow"), "GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS");
    vial_test_free(r);
    /* HEAD: the GET view, body dropped, length kept */
    trace[0] = 0;
    r = vial_test(app, "HEAD", "/api/thing", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Length"), "8");
    size_t n;
    vial_test_body(r, &n);
    assert_int_equal(n, 0);
    assert_string_equal(trace, "A<B<V>B>A");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_trailing_slash_redirect(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_get(app, "/dir/", view);
    trace[0] = 0;
    vial_test_resp *r = get(app, "/dir");
    assert_int_equal(vial_test_status(r), 308);
    assert_string_equal(vial_test_header(r, "Location"), "/dir/");
    assert_string_equal(trace, "A<>A"); /* hooks see the redirect like any answer */
    vial_test_free(r);
    r = get(app, "/dir?a=1&b=%20");
    assert_int_equal(vial_test_status(r), 308);
    assert_string_equal(vial_test_header(r, "Location"), "/dir/?a=1&b=%20"); /* the query, as sent */
    vial_test_free(r);
    expect(app, "GET", "/dir/", 200, "view");
    vial_app_free(app);
}

static int echo(vial_req *req)
{
    return vial_text(req, 200, vial_param(req, "name"));
}

static void test_bad_escape_is_400(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_get(app, "/u/<name>", echo);
    expect(app, "GET", "/u/a%20b", 200, "a b");
    trace[0] = 0;
    expect(app, "GET", "/u/a%zzb", 400,
           "{\"error\":\"bad_request_400\",\"message\":\"malformed percent-escape in the path\"}");
    assert_string_equal(trace, "A<>A");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ failures */

static void test_handler_failures(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/fails");
    assert_int_equal(vial_test_status(r), 500);
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"internal_server_error_500\",\"message\":\"internal server error\"}");
    vial_test_free(r);
    expect(app, "GET", "/silent", 500, NULL); /* returned 0 without answering */
    /* JSON left unbalanced is not sent as if it were whole */
    expect(app, "GET", "/half", 500,
           "{\"error\":\"internal_server_error_500\",\"message\":\"internal server error\"}");
    vial_app_free(app);
}

static void test_debug_page(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/fails");
    assert_null(strstr(vial_test_body(r, NULL), "debug")); /* production: nothing revealed */
    vial_test_free(r);
    r = get(app, "/api/thing?break=1");
    assert_null(strstr(vial_test_body(r, NULL), "debug"));
    vial_test_free(r);
    vial_config_set(app, "debug", "on");
    vial_configure(app, 0, NULL);
    r = vial_test(app, "GET", "/fails?x=<b>", "Accept: text/html\r\nX-Probe: 1\r\n", NULL, 0);
    const char *b = vial_test_body(r, NULL);
    assert_int_equal(vial_test_status(r), 500);
    assert_non_null(strstr(b, "<h2>Debug</h2>"));
    assert_non_null(strstr(b, "&quot;endpoint&quot;: &quot;fails&quot;"));
    assert_non_null(strstr(b, "/fails?x=&lt;b&gt;")); /* escaped */
    assert_non_null(strstr(b, "X-Probe"));
    vial_test_free(r);
    r = get(app, "/fails"); /* API clients get the same as JSON */
    json_t *j = json_loads(vial_test_body(r, NULL), 0, NULL);
    json_t *d = json_object_get(j, "debug");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "handler failed");
    assert_string_equal(json_string_value(json_object_get(d, "failure")), "handler failed");
    assert_string_equal(json_string_value(json_object_get(d, "route")), "/fails");
    assert_int_equal(json_integer_value(json_object_get(d, "result")), -1);
    assert_string_equal(json_string_value(json_object_get(d, "method")), "GET");
    assert_string_equal(json_string_value(json_object_get(d, "target")), "/fails");
    json_decref(j);
    vial_test_free(r);
    /* each failure says what it was; a VIAL_E* result is spelled out */
    r = get(app, "/api/thing?break=1");
    j = json_loads(vial_test_body(r, NULL), 0, NULL);
    d = json_object_get(j, "debug");
    assert_string_equal(json_string_value(json_object_get(d, "failure")), "before-request hook failed");
    assert_string_equal(json_string_value(json_object_get(d, "endpoint")), "api.view");
    assert_string_equal(json_string_value(json_object_get(d, "meaning")), vial_strerror(VIAL_EIO));
    json_decref(j);
    vial_test_free(r);
    r = get(app, "/silent");
    j = json_loads(vial_test_body(r, NULL), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "debug"), "failure")),
                        "handler returned without a response");
    json_decref(j);
    vial_test_free(r);
    /* errors that are no failure carry no debug payload, even in debug mode */
    r = get(app, "/nowhere");
    assert_null(strstr(vial_test_body(r, NULL), "debug"));
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ error handlers */

static void test_error_handlers(void **state)
{
    (void)state;
    vial_app *app = build();
    /* 404 outside any blueprint: the built-in JSON shape */
    vial_test_resp *r = get(app, "/nowhere");
    assert_int_equal(vial_test_status(r), 404);
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"not_found_404\",\"message\":\"the requested URL was not found on the server\"}");
    assert_string_equal(vial_test_header(r, "X-App"), "1"); /* after-hooks run for errors too */
    vial_test_free(r);
    /* the app gets a catch-all handler */
    vial_errorhandler(app, 0, app_err);
    expect(app, "GET", "/nowhere", 404, "app says 404: the requested URL was not found on the server");
    /* a blueprint's handler wins inside its routes */
    expect(app, "GET", "/api/missing", 422, "app says 422: bad thing");
    vial_errorhandler(vial_app_bp(app), 422, bad_err);
    r = get(app, "/aborts");
    assert_int_equal(vial_test_status(r), 422); /* bad_err failed: built-in page with the extra fields */
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"unprocessable_entity_422\",\"message\":\"bad thing\",\"fields\":{\"a\":\"required\"}}");
    vial_test_free(r);
    vial_app_free(app);
}

static int not_found_in_v1(vial_req *req)
{
    return vial_abort(req, 404, "no such deep thing");
}
static int v1_err(vial_req *req, int status, const char *msg)
{
    return vial_textf(req, status, "v1 says %d: %s", status, msg);
}
static int root_404(vial_req *req, int status, const char *msg)
{
    return vial_textf(req, status, "root 404: %s", msg);
}
static int api_any(vial_req *req, int status, const char *msg)
{
    return vial_textf(req, status, "api any %d: %s", status, msg);
}
static int mute_err(vial_req *req, int status, const char *msg)
{
    (void)req;
    (void)status;
    (void)msg;
    return 0; /* claims success, answers nothing */
}
static int abort_err(vial_req *req, int status, const char *msg)
{
    (void)status;
    (void)msg;
    return vial_abort(req, 503, "the handler itself gave up"); /* no handler runs again */
}
static int with_status(vial_req *req)
{
    return vial_abort(req, atoi(vial_arg(req, "s")), NULL);
}

static void test_error_handler_chain(void **state)
{
    (void)state;
    /* root: 404; api: every status; api.v1: 404 */
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_bp *a = vial_bp_new("api"), *v1 = vial_bp_new("v1");
    vial_get(app, "/status", with_status);
    vial_get(a, "/gone", not_found_in_v1);
    vial_get(a, "/status", with_status);
    vial_get(v1, "/gone", not_found_in_v1);
    vial_get(v1, "/status", with_status);
    vial_errorhandler(a, 0, api_any);
    vial_errorhandler(v1, 404, v1_err);
    vial_errorhandler(app, 404, root_404);
    assert_int_equal(vial_register(a, v1, "/v1"), 0);
    assert_int_equal(vial_register(app, a, "/api"), 0);
    /* innermost first: v1's own 404 */
    expect(app, "GET", "/api/v1/gone", 404, "v1 says 404: no such deep thing");
    /* v1 has no 409: its parent's catch-all beats the root's handlers */
    expect(app, "GET", "/api/v1/status?s=409", 409, "api any 409: Conflict");
    /* within one blueprint a handler for the status beats the catch-all, whatever the order */
    vial_errorhandler(a, 409, v1_err);
    expect(app, "GET", "/api/status?s=409", 409, "v1 says 409: Conflict");
    expect(app, "GET", "/api/gone", 404, "api any 404: no such deep thing");
    /* outside the blueprints: the root's; no route at all: the root's too */
    expect(app, "GET", "/status?s=404", 404, "root 404: Not Found");
    expect(app, "GET", "/api/nothing", 404, "root 404: the requested URL was not found on the server");
    expect(app, "GET", "/status?s=409", 409, NULL);
    /* statuses that are no error become 500 */
    expect(app, "GET", "/status?s=302", 500,
           "{\"error\":\"internal_server_error_500\",\"message\":\"Internal Server Error\"}");
    /* a handler that answers nothing, or aborts itself: the built-in page, no recursion */
    vial_errorhandler(app, 429, mute_err);
    expect(app, "GET", "/status?s=429", 429,
           "{\"error\":\"too_many_requests_429\",\"message\":\"Too Many Requests\"}");
    vial_errorhandler(app, 410, abort_err);
    expect(app, "GET", "/status?s=410", 503,
           "{\"error\":\"service_unavailable_503\",\"message\":\"the handler itself gave up\"}");
    vial_app_free(app);
}

static void test_browser_gets_html(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = vial_test(app, "GET", "/nowhere?<x>", "Accept: text/html,*/*\r\n", NULL, 0);
    assert_int_equal(vial_test_status(r), 404);
    assert_string_equal(vial_test_header(r, "Content-Type"), "text/html; charset=utf-8");
    assert_non_null(strstr(vial_test_body(r, NULL), "<h1>404 Not Found</h1>"));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_protocol_errors_use_the_root_handlers(void **state)
{
    (void)state;
    vial_app *app = build();
    const char bad[] = "GET /api/thing HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n";
    vial_test_resp *r = vial_test_raw(app, bad, sizeof bad - 1);
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"error\":\"bad_request_400\""));
    vial_test_free(r);
    vial_errorhandler(vial_app_bp(app), 0, app_err);
    trace[0] = 0;
    r = vial_test_raw(app, bad, sizeof bad - 1);
    assert_int_equal(vial_test_status(r), 400);
    assert_true(!strncmp(vial_test_body(r, NULL), "app says 400: ", 14));
    assert_string_equal(trace, ""); /* refused before routing: no hook ran */
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ url_for */

static int urls(vial_req *req)
{
    const char *list[] = {
        vial_url_for(req, ".view", NULL),
        vial_url_for(req, ".other", "id", "7", NULL),
        vial_url_for(req, "view", NULL),
        vial_url_for(req, "api.view", NULL),
        vial_url_for(req, "api.v1.view", NULL),
        vial_url_for(req, ".nope", NULL),
        vial_url_for(req, ".other", NULL),            /* its parameter is missing */
        vial_url_for(req, ".other", "id", NULL, NULL), /* a NULL value */
        vial_url_for(req, NULL),
    };
    char out[512] = "";
    for (size_t i = 0; i < VIAL__ARRAY_LEN(list); i++) {
        strcat(out, list[i] ? list[i] : "NULL");
        strcat(out, "|");
    }
    return vial_text(req, 200, out);
}

static int other(vial_req *req)
{
    return vial_text(req, 200, vial_param(req, "id"));
}

static int urls_in_404(vial_req *req, int status, const char *msg)
{
    (void)msg;
    const char *u = vial_url_for(req, ".view", NULL), *v = vial_url_for(req, "api.view", NULL);
    return vial_textf(req, status, "%s|%s", u ? u : "NULL", v ? v : "NULL");
}

static void test_url_for_relative_endpoints(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_bp *a = vial_bp_new("x"), *b = vial_bp_new("y");
    vial_get(a, "/", view);
    vial_get(a, "/urls", urls);
    vial_get(a, "/o/<int:id>", other);
    vial_get(b, "/", view);
    vial_get(b, "/urls", urls);
    vial_get(b, "/o/<int:id>", other);
    assert_int_equal(vial_register(a, b, "/y"), 0);
    assert_int_equal(vial_register(app, a, "/x"), 0);
    vial_get(app, "/urls", urls);
    vial_get(app, "/o/<int:id>", other);
    /* ".name" is a sibling of the current endpoint, in its blueprint */
    expect(app, "GET", "/x/urls", 200, "/x/|/x/o/7|/|/api/thing|/api/v1/deep|NULL|NULL|NULL|NULL|");
    expect(app, "GET", "/x/y/urls", 200, "/x/y/|/x/y/o/7|/|/api/thing|/api/v1/deep|NULL|NULL|NULL|NULL|");
    /* at the root ".name" is the root's "name" */
    expect(app, "GET", "/urls", 200, "/|/o/7|/|/api/thing|/api/v1/deep|NULL|NULL|NULL|NULL|");
    /* no route (a 404): nothing is relative to it, absolute names still resolve */
    vial_errorhandler(app, 404, urls_in_404);
    expect(app, "GET", "/nowhere", 404, "NULL|/api/thing");
    assert_null(vial_url_for(NULL, "view", NULL));
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_order),
        cmocka_unit_test(test_hooks_of_one_blueprint),
        cmocka_unit_test(test_hook_failures),
        cmocka_unit_test(test_not_found_and_not_allowed),
        cmocka_unit_test(test_trailing_slash_redirect),
        cmocka_unit_test(test_bad_escape_is_400),
        cmocka_unit_test(test_handler_failures),
        cmocka_unit_test(test_debug_page),
        cmocka_unit_test(test_error_handlers),
        cmocka_unit_test(test_error_handler_chain),
        cmocka_unit_test(test_browser_gets_html),
        cmocka_unit_test(test_protocol_errors_use_the_root_handlers),
        cmocka_unit_test(test_url_for_relative_endpoints),
    };
    return RUN_GROUP(tests);
}

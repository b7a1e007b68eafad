/* Unit tests for src/core/app.c: blueprints, hooks, error handlers,
 * handler failures, deferred work, per-worker state.  (The route table
 * and commands are tests/unit/core/cli.c's.) */
#include "unit.h"

#include <stdlib.h>

static int trace_fd_calls;
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
    return 0;
}
static int bp_after(vial_req *req)
{
    (void)req;
    tr(">B");
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
    vial_bp *api = vial_bp_new("api");
    vial_bp *v1 = vial_bp_new("v1");
    vial_before_request(api, bp_before);
    vial_after_request(api, bp_after);
    vial_errorhandler(api, 404, bp_err);
    vial_get(api, "/thing", view);
    vial_get(v1, "/deep", view);
    vial_get(api, "/missing", aborts);
    assert_int_equal(vial_register(api, v1, "/v1"), 0);
    assert_int_equal(vial_register(app, api, "/api"), 0);
    return app;
}

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
    assert_string_equal(trace, "A<B<V>B>A"); /* nested blueprint inherits the parent's hooks */
    vial_test_free(r);
    /* a before-hook that answers skips the view but not the after-hooks */
    trace[0] = 0;
    r = get(app, "/api/thing?deny=1");
    assert_int_equal(vial_test_status(r), 403);
    assert_string_equal(trace, "A<B<>B>A");
    vial_test_free(r);
    vial_app_free(app);
}

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
    vial_errorhandler(vial_app_bp(app), 422, bad_err);
    r = get(app, "/aborts");
    assert_int_equal(vial_test_status(r), 422); /* bad_err failed: built-in page with the extra fields */
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"unprocessable_entity_422\",\"message\":\"bad thing\",\"fields\":{\"a\":\"required\"}}");
    vial_test_free(r);
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

static void test_handler_failures(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/fails");
    assert_int_equal(vial_test_status(r), 500);
    assert_string_equal(vial_test_body(r, NULL),
                        "{\"error\":\"internal_server_error_500\",\"message\":\"internal server error\"}");
    vial_test_free(r);
    expect(app, "GET", "/silent", 500, NULL);
    vial_app_free(app);
}

static int deferred;
static void bump(void *arg)
{
    deferred += *(int *)arg;
}
static int with_defer(vial_req *req)
{
    static int one = 1, ten = 10;
    assert_int_equal(vial_defer(req, bump, &one), 0);
    assert_int_equal(vial_defer(req, bump, &ten), 0);
    return vial_abort(req, 409, "conflict");
}

static void test_debug_page(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_test_resp *r = get(app, "/fails");
    assert_null(strstr(vial_test_body(r, NULL), "debug")); /* production: nothing revealed */
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
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "debug"), "route")), "/fails");
    json_decref(j);
    vial_test_free(r);
    vial_app_free(app);
}

static void test_defer(void **state)
{
    (void)state;
    vial_app *app = build();
    vial_get(app, "/defer", with_defer);
    deferred = 0;
    expect(app, "GET", "/defer", 409, NULL);
    assert_int_equal(deferred, 11);
    vial_app_free(app);
}

static int inits, finis;
static void *slot_init(vial_app *app, int worker, void *ud)
{
    (void)app;
    (void)ud;
    inits++;
    int *p = malloc(sizeof *p);
    *p = 100 + worker;
    return p;
}
static void slot_fini(void *state, void *ud)
{
    (void)ud;
    finis++;
    free(state);
}
static int slot_view(vial_req *req)
{
    int slot = vial_config(vial_app_of(req), "x_slot")[0] - '0';
    int *v = vial_worker_get(req, slot);
    return vial_textf(req, 200, "%d", v ? *v : -1);
}

static void test_worker_slots(void **state)
{
    (void)state;
    vial_app *app = build();
    int slot = vial_worker_slot(app, slot_init, slot_fini, NULL);
    assert_true(slot >= 0 && slot < 10);
    char s[2] = { (char)('0' + slot), 0 };
    vial_config_set(app, "x_slot", s);
    vial_get(app, "/slot", slot_view);
    inits = finis = 0;
    expect(app, "GET", "/slot", 200, "100");
    expect(app, "GET", "/slot", 200, "100");
    assert_int_equal(inits, 1); /* created once per worker, on first use */
    vial_app_free(app);
    assert_int_equal(finis, 1);
}

static void test_registration_errors(void **state)
{
    (void)state;
    vial_app *app = build();
    assert_null(vial_bp_new("has.dot"));
    vial_bp *a = vial_bp_new("x");
    assert_int_equal(vial_register(app, a, "/trailing/"), VIAL_EPATTERN); /* a is freed */
    vial_bp *b = vial_bp_new("api"); /* name taken */
    assert_int_equal(vial_register(app, b, "/other"), VIAL_EEXIST);
    assert_int_equal(vial_errorhandler(app, 200, app_err), VIAL_EINVAL);
    vial_app_free(app);
    vial_app_free(NULL);
    vial_bp_free(NULL);
}

int main(void)
{
    (void)trace_fd_calls;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hooks_order),
        cmocka_unit_test(test_error_handlers),
        cmocka_unit_test(test_browser_gets_html),
        cmocka_unit_test(test_handler_failures),
        cmocka_unit_test(test_debug_page),
        cmocka_unit_test(test_defer),
        cmocka_unit_test(test_worker_slots),
        cmocka_unit_test(test_registration_errors),
    };
    return RUN_GROUP(tests);
}

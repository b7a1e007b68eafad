/* Unit tests for src/core/app.c: registration (blueprints, error
 * handlers), deferred work, per-worker state.  Running a request through
 * hooks and error handlers is tests/unit/core/dispatch.c's, the command
 * line tests/unit/core/cli.c's. */
#include "unit.h"

#include <stdlib.h>

static int view(vial_req *req)
{
    return vial_text(req, 200, vial_endpoint(req));
}
static int app_err(vial_req *req, int status, const char *msg)
{
    return vial_textf(req, status, "app says %d: %s", status, msg);
}

static vial_app *build(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_get(app, "/", view);
    vial_bp *api = vial_bp_new("api");
    vial_get(api, "/thing", view);
    assert_int_equal(vial_register(app, api, "/api"), 0);
    return app;
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

static int ud_view(vial_req *req)
{
    const char *ud = vial_route_ud(req);
    return vial_textf(req, 200, "%s %s %s", vial_endpoint(req), ud ? ud : "-",
                      vial_route_doc(req) ? vial_route_doc(req)->summary : "-");
}

/* A table adds each route with its endpoint, data and doc; a bad entry is
 * reported (the first error) and the others still go in. */
static void test_route_table(void **state)
{
    (void)state;
    static const vial_doc d = { .summary = "documented" };
    static char one[] = "one";
    static const vial_route_def routes[] = {
        VIAL_ROUTE(VIAL_GET, "/a", ud_view, "a", &d, .ud = one),
        VIAL_ROUTE(VIAL_GET | VIAL_POST, "/b/<int:id>", ud_view, NULL, NULL),
        VIAL_ROUTE(VIAL_GET, "/c/<int:x", ud_view, "bad", NULL),
        VIAL_ROUTE(VIAL_GET, "/d", ud_view, "d", NULL),
        VIAL_ROUTE_END,
    };
    vial_app *app = vial_app_new("t");
    vial_bp *bp = vial_bp_new("tbl");
    assert_int_equal(vial_route_table(bp, routes), VIAL_EPATTERN);
    assert_int_equal(vial_route_table(NULL, routes), VIAL_EINVAL);
    assert_int_equal(bp->nroutes, 3);
    assert_int_equal(vial_register(app, bp, ""), 0);
    vial_bp *ok = vial_bp_new("ok");
    static const vial_route_def good[] = { VIAL_ROUTE(VIAL_GET, "/a", ud_view, "a", &d, .ud = one),
                                           VIAL_ROUTE(VIAL_POST, "/b/<int:id>", ud_view, NULL, NULL),
                                           VIAL_ROUTE_END };
    vial_app *app2 = vial_app_new("t2");
    vial_config_set(app2, "access_log", "off");
    vial_configure(app2, 0, NULL);
    assert_int_equal(vial_route_table(ok, good), 0);
    assert_int_equal(vial_register(app2, ok, "/t"), 0);
    expect(app2, "GET", "/t/a", 200, "ok.a one documented");
    expect(app2, "POST", "/t/b/7", 200, "ok./b/<int:id> - -");
    vial_app_free(app2);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defer),
        cmocka_unit_test(test_worker_slots),
        cmocka_unit_test(test_registration_errors),
        cmocka_unit_test(test_route_table),
    };
    return RUN_GROUP(tests);
}

/* Unit tests for src/auth/limit.c: rate limits (429 with Retry-After) and
 * the login backoff (free failures, then a doubling wait, per key), on the
 * in-process store. */
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>

static const vial_limit two = { "two", 60, 2, VIAL_LIMIT_IP };
static const vial_backoff login = { "t:login", 3, 4, 0 };

static int h_limited(vial_req *req)
{
    if (vial_ratelimit(req, &two))
        return 0;
    return vial_text(req, 200, "ok");
}

/* /bo/<op>/<key>: check, fail or clear; answers the wait. */
static int h_backoff(vial_req *req)
{
    const char *op = vial_param(req, "op"), *key = vial_param(req, "key");
    if (!strcmp(op, "fail"))
        assert_int_equal(vial_backoff_fail(req, &login, key), 0);
    else if (!strcmp(op, "clear"))
        assert_int_equal(vial_backoff_clear(req, &login, key), 0);
    return vial_textf(req, 200, "%" PRId64, vial_backoff_check(req, &login, key));
}

static int h_misuse(vial_req *req)
{
    char key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(vial_backoff_check(req, NULL, "k"), VIAL_EINVAL);
    assert_int_equal(vial_backoff_check(req, &login, NULL), VIAL_EINVAL);
    assert_int_equal(vial_backoff_check(req, &login, key), VIAL_EINVAL); /* would be cut short */
    assert_int_equal(vial_backoff_fail(req, &login, key), VIAL_EINVAL);
    assert_int_equal(vial_backoff_clear(NULL, &login, "k"), VIAL_EINVAL);
    return vial_text(req, 200, "ok");
}

static vial_app *make(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_kv_init(app), 0);
    vial_configure(app, 0, NULL);
    vial_get(app, "/limited", h_limited);
    vial_get(app, "/bo/<op>/<key>", h_backoff);
    vial_get(app, "/misuse", h_misuse);
    return app;
}

static long wait_of(vial_app *app, const char *op, const char *key)
{
    char target[200];
    snprintf(target, sizeof target, "/bo/%s/%s", op, key);
    vial_test_resp *r = get(app, target);
    assert_int_equal(vial_test_status(r), 200);
    long w = strtol(vial_test_body(r, NULL), NULL, 10);
    vial_test_free(r);
    return w;
}

static void test_ratelimit(void **state)
{
    (void)state;
    vial_app *app = make();
    for (int i = 0; i < 2; i++)
        expect(app, "GET", "/limited", 200, "ok");
    vial_test_resp *r = get(app, "/limited");
    assert_int_equal(vial_test_status(r), 429);
    assert_string_equal(vial_test_header(r, "Retry-After"), "1");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_backoff_doubles_after_free_failures(void **state)
{
    (void)state;
    vial_app *app = make();
    assert_int_equal(wait_of(app, "check", "alice"), 0);
    assert_int_equal(wait_of(app, "fail", "alice"), 0);
    assert_int_equal(wait_of(app, "fail", "alice"), 0);
    /* the third failure uses up the free ones: 1 s, then 2, then 4 (the most) */
    assert_int_equal(wait_of(app, "fail", "alice"), 1);
    assert_int_equal(wait_of(app, "fail", "alice"), 2);
    assert_int_equal(wait_of(app, "fail", "alice"), 4);
    assert_int_equal(wait_of(app, "fail", "alice"), 4);
    /* keys are separate */
    assert_int_equal(wait_of(app, "check", "bob"), 0);
    assert_int_equal(wait_of(app, "check", "alice"), 4);
    /* a success forgets them */
    assert_int_equal(wait_of(app, "clear", "alice"), 0);
    assert_int_equal(wait_of(app, "fail", "alice"), 0);
    expect(app, "GET", "/misuse", 200, "ok");
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit),
        cmocka_unit_test(test_backoff_doubles_after_free_failures),
    };
    return RUN_GROUP(tests);
}

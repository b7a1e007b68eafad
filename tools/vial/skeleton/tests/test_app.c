/*
 * @NAME@'s tests: every request goes through the app in-process with
 * vial's test client (vial_test), parsed, routed and rendered exactly as
 * the server does, against an SQLite database in memory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "app.h"

static int setup(void **state)
{
    vial_app *app = app_create();
    if (!app)
        return -1;
    vial_config_set(app, "database_url", "sqlite://:memory:");
    vial_config_set(app, "secret_key", "a-test-key-of-at-least-thirty-two-bytes");
    *state = app;
    return 0;
}

static int teardown(void **state)
{
    /* "sqlite://:memory:" is one database for the whole process (every
     * worker of a server sees it): empty it for the next test. */
    vial_db *db = vial_db_open(*state);
    if (db) {
        vial_db_exec(db, "DELETE FROM notes", VIAL_NOARGS);
        vial_db_close(db);
    }
    vial_app_free(*state);
    return 0;
}

static vial_test_resp *post_json(vial_app *app, const char *path, const char *json)
{
    return vial_test(app, "POST", path, "Content-Type: application/json\r\n", json, strlen(json));
}

static void test_api(void **state)
{
    vial_app *app = *state;
    vial_test_resp *r = post_json(app, "/api/notes", "{\"text\": \"buy milk\"}");
    assert_int_equal(vial_test_status(r), 201);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"text\":\"buy milk\""));
    vial_test_free(r);

    r = vial_test(app, "GET", "/api/notes/1", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "content-type"), "application/json");
    assert_non_null(strstr(vial_test_body(r, NULL), "buy milk"));
    vial_test_free(r);

    r = vial_test(app, "GET", "/api/notes/42", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 404);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"error\":\"not_found_404\""));
    vial_test_free(r);
}

static void test_api_validation(void **state)
{
    vial_test_resp *r = post_json(*state, "/api/notes", "{\"text\": \"\"}");
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"text\""));
    vial_test_free(r);

    /* A form's body is not JSON: refused before it is read. */
    r = vial_test(*state, "POST", "/api/notes", "Content-Type: text/plain\r\n", "{}", 2);
    assert_int_equal(vial_test_status(r), 415);
    vial_test_free(r);
}

/* Copies the value after `key` up to `end` into out. */
static void cut(const char *s, const char *key, char end, char *out, size_t cap)
{
    const char *p = strstr(s, key);
    assert_non_null(p);
    p += strlen(key);
    size_t n = strcspn(p, (char[]){ end, '\0' });
    assert_true(n < cap);
    memcpy(out, p, n);
    out[n] = '\0';
}

static void test_page_and_form(void **state)
{
    vial_app *app = *state;
    vial_test_resp *r = vial_test(app, "GET", "/", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    const char *page = vial_test_body(r, NULL);
    assert_non_null(strstr(page, "No notes yet."));
    char cookie[1024], token[256];
    cut(vial_test_header(r, "set-cookie"), "", ';', cookie, sizeof cookie);
    cut(page, "name=\"csrf_token\" value=\"", '"', token, sizeof token);
    vial_test_free(r);

    char headers[1400], body[512];
    snprintf(headers, sizeof headers,
             "Content-Type: application/x-www-form-urlencoded\r\nCookie: %s\r\n", cookie);
    snprintf(body, sizeof body, "csrf_token=%s&text=%%3Cb%%3Ehello%%3C%%2Fb%%3E", token);
    r = vial_test(app, "POST", "/notes", headers, body, strlen(body));
    assert_int_equal(vial_test_status(r), 303);
    assert_string_equal(vial_test_header(r, "location"), "/");
    vial_test_free(r);

    /* The note is on the page, HTML-escaped. */
    r = vial_test(app, "GET", "/", NULL, NULL, 0);
    assert_non_null(strstr(vial_test_body(r, NULL), "&lt;b&gt;hello&lt;/b&gt;"));
    vial_test_free(r);

    /* A form without the session's token is refused. */
    r = vial_test(app, "POST", "/notes", "Content-Type: application/x-www-form-urlencoded\r\n",
                  "text=x", 6);
    assert_int_equal(vial_test_status(r), 403);
    vial_test_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_api, setup, teardown),
        cmocka_unit_test_setup_teardown(test_api_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_page_and_form, setup, teardown),
    };
    return cmocka_run_group_tests_name("@NAME@", tests, NULL, NULL);
}

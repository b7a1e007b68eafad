/* Unit tests for src/web/session.c: signed cookie sessions (tamper and
 * expiry read as empty), server-side sessions (database, its table from
 * the module's migration set; Redis when VIAL_TEST_REDIS_URL is set),
 * rotation, clearing, CSRF. */
#include "unit.h"

#include <stdlib.h>
#include <unistd.h>

static int h_count(vial_req *req)
{
    json_t *s = vial_session(req);
    if (!s)
        return vial_abort(req, 503, "no session");
    json_int_t n = json_integer_value(json_object_get(s, "n")) + 1;
    json_object_set_new(s, "n", json_integer(n));
    return vial_textf(req, 200, "%lld", (long long)n);
}

static int h_peek(vial_req *req)
{
    json_t *s = vial_session(req);
    return vial_textf(req, 200, "%lld", (long long)json_integer_value(json_object_get(s, "n")));
}

static int h_logout(vial_req *req)
{
    vial_session_clear(req);
    return vial_text(req, 200, "bye");
}

static int h_rotate(vial_req *req)
{
    vial_session_rotate(req);
    return vial_text(req, 200, "rotated");
}

static int h_form(vial_req *req)
{
    return vial_text(req, 200, vial_csrf_token(req));
}

static int h_post(vial_req *req)
{
    return vial_text(req, 200, "posted");
}

static vial_app *make(const char *store, const char *db, const char *redis)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "secret_key", "0123456789abcdef0123456789abcdef-test-key");
    vial_db_init(app);
    vial_config_set(app, "database_url", db);
    vial_session_init(app);
    vial_config_set(app, "session_store", store);
    if (redis)
        vial_config_set(app, "redis_url", redis);
    vial_configure(app, 0, NULL);
    vial_get(app, "/count", h_count);
    vial_get(app, "/peek", h_peek);
    vial_get(app, "/logout", h_logout);
    vial_get(app, "/rotate", h_rotate);
    vial_get(app, "/form", h_form);
    vial_bp *bp = vial_bp_new("forms");
    vial_post(bp, "/post", h_post);
    vial_csrf_protect(bp);
    vial_register(app, bp, "");
    return app;
}

/* "session=<value>" from the response's Set-Cookie, or NULL. */
static char *cookie_of(vial_test_resp *r)
{
    const char *sc = vial_test_header(r, "Set-Cookie");
    if (!sc)
        return NULL;
    const char *semi = strchr(sc, ';');
    return strndup(sc, semi ? (size_t)(semi - sc) : strlen(sc));
}

static vial_test_resp *with_cookie(vial_app *app, const char *method, const char *target, const char *cookie,
                                   const char *extra, const char *body)
{
    char h[2048];
    snprintf(h, sizeof h, "%s%s%s%s", cookie ? "Cookie: " : "", cookie ? cookie : "", cookie ? "\r\n" : "",
             extra ? extra : "");
    return vial_test(app, method, target, h, body, body ? strlen(body) : 0);
}

static void roundtrip(vial_app *app, bool server)
{
    vial_test_resp *r = get(app, "/count");
    assert_string_equal(vial_test_body(r, NULL), "1");
    char *c = cookie_of(r);
    assert_non_null(c);
    assert_non_null(strstr(vial_test_header(r, "Set-Cookie"), "HttpOnly; SameSite=Lax"));
    vial_test_free(r);
    r = with_cookie(app, "GET", "/count", c, NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "2");
    char *c2 = cookie_of(r);
    vial_test_free(r);
    if (server) { /* the id stays; the data moved on in the store */
        assert_string_equal(c, c2);
    }
    /* reading without changing sends no cookie */
    r = with_cookie(app, "GET", "/peek", c2, NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "2");
    assert_null(vial_test_header(r, "Set-Cookie"));
    vial_test_free(r);
    /* rotation: a new id (server) with the same data */
    r = with_cookie(app, "GET", "/rotate", c2, NULL, NULL);
    char *c3 = cookie_of(r);
    assert_non_null(c3);
    if (server)
        assert_string_not_equal(c3, c2);
    vial_test_free(r);
    r = with_cookie(app, "GET", "/peek", c3, NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "2");
    vial_test_free(r);
    if (server) { /* the old id is gone */
        r = with_cookie(app, "GET", "/peek", c2, NULL, NULL);
        assert_string_equal(vial_test_body(r, NULL), "0");
        vial_test_free(r);
    }
    /* logout clears the cookie and the data */
    r = with_cookie(app, "GET", "/logout", c3, NULL, NULL);
    assert_non_null(strstr(vial_test_header(r, "Set-Cookie"), "Max-Age=0"));
    vial_test_free(r);
    if (server) {
        r = with_cookie(app, "GET", "/peek", c3, NULL, NULL);
        assert_string_equal(vial_test_body(r, NULL), "0");
        vial_test_free(r);
    }
    free(c);
    free(c2);
    free(c3);
}

static void test_cookie_sessions(void **state)
{
    (void)state;
    vial_app *app = make("cookie", "sqlite://:memory:", NULL);
    roundtrip(app, false);
    /* tampering: flip one character of the payload → empty session */
    vial_test_resp *r = get(app, "/count");
    char *c = cookie_of(r);
    vial_test_free(r);
    char *eq = strchr(c, '=');
    eq[3] = eq[3] == 'A' ? 'B' : 'A';
    r = with_cookie(app, "GET", "/peek", c, NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "0");
    vial_test_free(r);
    /* another key's cookie is not valid here */
    vial_app *other = make("cookie", "sqlite://:memory:", NULL);
    vial_config_set(other, "secret_key", "a-completely-different-key-of-32-bytes-or-more");
    r = get(other, "/count");
    char *oc = cookie_of(r);
    vial_test_free(r);
    r = with_cookie(app, "GET", "/peek", oc, NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "0");
    vial_test_free(r);
    free(oc);
    free(c);
    vial_app_free(other);
    vial_app_free(app);
}

static void test_server_sessions_db(void **state)
{
    (void)state;
    char db[80];
    snprintf(db, sizeof db, "sqlite:////tmp/vial-sess-%d.db", (int)getpid());
    vial_app *app = make("server", db, NULL);
    roundtrip(app, true);
    /* the table came from the session module's migration set */
    vial_db *d = vial_db_open(app);
    vial_rows *rows = vial_db_query(d, "SELECT count(*) FROM schema_migrations WHERE version = $1",
                                    VIAL_ARGS(VIAL_TEXT("0001_vial_sessions")));
    assert_int_equal(vial_rows_next(rows), 1);
    assert_int_equal(vial_rows_int(rows, 0), 1);
    vial_rows_close(rows);
    vial_db_close(d);
    /* a made-up id reads as empty and is not trusted */
    vial_test_resp *r = with_cookie(app, "GET", "/peek", "session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                                    NULL, NULL);
    assert_string_equal(vial_test_body(r, NULL), "0");
    vial_test_free(r);
    vial_app_free(app);
    unlink(db + 10);
}

static void test_server_sessions_redis(void **state)
{
    (void)state;
    const char *redis = getenv("VIAL_TEST_REDIS_URL");
    if (!redis)
        skip();
    vial_app *app = make("server", "sqlite://:memory:", redis);
    roundtrip(app, true);
    /* sessions in Redis: the database store's table is not made */
    vial_db *d = vial_db_open(app);
    assert_true(vial_db_exec(d, "SELECT 1 FROM vial_sessions", VIAL_NOARGS) < 0);
    vial_db_close(d);
    vial_app_free(app);
}

static void test_csrf(void **state)
{
    (void)state;
    vial_app *app = make("cookie", "sqlite://:memory:", NULL);
    vial_test_resp *r = get(app, "/form");
    char *c = cookie_of(r);
    char token[100];
    snprintf(token, sizeof token, "%s", vial_test_body(r, NULL));
    vial_test_free(r);
    const char *form = "Content-Type: application/x-www-form-urlencoded\r\n";
    char body[200];
    snprintf(body, sizeof body, "csrf_token=%s&x=1", token);
    r = with_cookie(app, "POST", "/post", c, form, body);
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    r = with_cookie(app, "POST", "/post", c, form, "x=1"); /* missing */
    assert_int_equal(vial_test_status(r), 403);
    vial_test_free(r);
    r = with_cookie(app, "POST", "/post", c, form, "csrf_token=wrong&x=1");
    assert_int_equal(vial_test_status(r), 403);
    vial_test_free(r);
    char hdr[200];
    snprintf(hdr, sizeof hdr, "X-CSRF-Token: %s\r\n", token);
    r = with_cookie(app, "POST", "/post", c, hdr, "{}"); /* header form */
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    r = with_cookie(app, "POST", "/post", NULL, form, body); /* token without its session */
    assert_int_equal(vial_test_status(r), 403);
    vial_test_free(r);
    r = with_cookie(app, "POST", "/post", NULL, "Authorization: Bearer x\r\n", "{}"); /* API clients */
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    free(c);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cookie_sessions),
        cmocka_unit_test(test_server_sessions_db),
        cmocka_unit_test(test_server_sessions_redis),
        cmocka_unit_test(test_csrf),
    };
    return RUN_GROUP(tests);
}

/* Unit tests for src/core/router.c: patterns, matching, converters,
 * precedence, 405/OPTIONS, trailing slashes, reverse routing. */
#include "unit.h"

static int echo_params(vial_req *req)
{
    /* "name=value;..." for every parameter of the matched route */
    vial__buf b = { 0 };
    const char *name, *value;
    vial__buf_printf(&b, "%s:", vial_endpoint(req));
    for (size_t i = 0; vial_param_at(req, i, &name, &value); i++) {
        assert_string_equal(vial_param(req, name), value);
        vial__buf_printf(&b, "%s=%s;", name, value);
    }
    vial__buf_nul(&b);
    int rc = vial_text(req, 200, b.p);
    vial__buf_free(&b);
    return rc;
}

static int h_int(vial_req *req)
{
    return vial_textf(req, 200, "int:%" PRId64, vial_param_int(req, "n"));
}

static int h_float(vial_req *req)
{
    return vial_textf(req, 200, "float:%.2f", vial_param_float(req, "x"));
}

static int h_post(vial_req *req)
{
    return vial_text(req, 201, "posted");
}

static vial_app *make_app(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/", echo_params, "root"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/user/<userId>", echo_params, "user"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/user/me", echo_params, "me"), 0);
    assert_int_equal(vial_get(app, "/n/<int:n>", h_int), 0);
    assert_int_equal(vial_get(app, "/f/<float:x>", h_float), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/u/<uuid:id>", echo_params, "uuid"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/files/<path:rest>", echo_params, "files"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/p/<path:p>/edit", echo_params, "edit"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/dir/", echo_params, "dir"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/t/<a>/x/<b>", echo_params, "two"), 0);
    assert_int_equal(vial_post(app, "/user/<userId>", h_post), 0);
    return app;
}

static void test_static_and_params(void **state)
{
    (void)state;
    vial_app *app = make_app();
    expect(app, "GET", "/", 200, "root:");
    expect(app, "GET", "/user/alice", 200, "user:userId=alice;");
    /* static beats a parameter regardless of registration order */
    expect(app, "GET", "/user/me", 200, "me:");
    expect(app, "GET", "/t/1/x/2", 200, "two:a=1;b=2;");
    expect(app, "GET", "/nope", 404, NULL);
    expect(app, "GET", "/user", 404, NULL);
    expect(app, "GET", "/user/", 404, NULL); /* empty segment is not a string value */
    vial_app_free(app);
}

static void test_decoding_after_split(void **state)
{
    (void)state;
    vial_app *app = make_app();
    /* %2F stays inside one segment, decoded to '/' */
    expect(app, "GET", "/user/a%2Fb", 200, "user:userId=a/b;");
    expect(app, "GET", "/user/caf%C3%A9", 200, "user:userId=caf\xc3\xa9;");
    /* '+' in a path is a plus (RFC 3986), not a space */
    expect(app, "GET", "/user/a+b", 200, "user:userId=a+b;");
    expect(app, "GET", "/user/a%20b", 200, "user:userId=a b;");
    /* malformed escapes and NUL bytes are refused */
    expect(app, "GET", "/user/a%2", 400, NULL);
    expect(app, "GET", "/user/a%zz", 400, NULL);
    expect(app, "GET", "/user/a%00b", 400, NULL);
    /* the query does not take part in matching */
    expect(app, "GET", "/user/bob?x=1/2", 200, "user:userId=bob;");
    vial_app_free(app);
}

static void test_converters(void **state)
{
    (void)state;
    vial_app *app = make_app();
    expect(app, "GET", "/n/42", 200, "int:42");
    expect(app, "GET", "/n/0042", 200, "int:42");
    expect(app, "GET", "/n/9223372036854775807", 200, "int:9223372036854775807");
    expect(app, "GET", "/n/9223372036854775808", 404, NULL); /* does not fit int64 */
    expect(app, "GET", "/n/-1", 404, NULL);
    expect(app, "GET", "/n/4x", 404, NULL);
    expect(app, "GET", "/n/", 404, NULL);
    expect(app, "GET", "/f/1.50", 200, "float:1.50");
    expect(app, "GET", "/f/1", 404, NULL);
    expect(app, "GET", "/f/.5", 404, NULL);
    expect(app, "GET", "/u/123e4567-e89b-12d3-a456-426614174000", 200,
           "uuid:id=123e4567-e89b-12d3-a456-426614174000;");
    expect(app, "GET", "/u/123e4567-e89b-12d3-a456-42661417400", 404, NULL);
    expect(app, "GET", "/u/123e4567xe89b-12d3-a456-426614174000", 404, NULL);
    expect(app, "GET", "/files/a/b/c.txt", 200, "files:rest=a/b/c.txt;");
    expect(app, "GET", "/files/a%2Fb", 200, "files:rest=a/b;");
    expect(app, "GET", "/files/", 404, NULL);
    expect(app, "GET", "/p/x/y/edit", 200, "edit:p=x/y;");
    vial_app_free(app);
}

static void test_methods(void **state)
{
    (void)state;
    vial_app *app = make_app();
    expect(app, "POST", "/user/x", 201, "posted");
    vial_test_resp *r = vial_test(app, "DELETE", "/user/x", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 405);
    assert_string_equal(vial_test_header(r, "Allow"), "GET, HEAD, POST, OPTIONS");
    assert_non_null(strstr(vial_test_body(r, NULL), "\"error\":\"method_not_allowed_405\""));
    vial_test_free(r);
    r = vial_test(app, "OPTIONS", "/user/x", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 204);
    assert_string_equal(vial_test_header(r, "Allow"), "GET, HEAD, POST, OPTIONS");
    vial_test_free(r);
    r = vial_test(app, "HEAD", "/user/x", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Length"), "14"); /* "user:userId=x;" */
    size_t n;
    vial_test_body(r, &n);
    assert_int_equal(n, 0);
    vial_test_free(r);
    /* a method vial has no bit for still gets 405 on an existing path */
    r = vial_test(app, "PROPFIND", "/user/x", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 405);
    vial_test_free(r);
    expect(app, "PROPFIND", "/nothing", 404, NULL);
    vial_app_free(app);
}

static void test_trailing_slash(void **state)
{
    (void)state;
    vial_app *app = make_app();
    expect(app, "GET", "/dir/", 200, "dir:");
    vial_test_resp *r = get(app, "/dir?a=1");
    assert_int_equal(vial_test_status(r), 308);
    assert_string_equal(vial_test_header(r, "Location"), "/dir/?a=1");
    vial_test_free(r);
    r = vial_test(app, "POST", "/dir", NULL, "x", 1);
    assert_int_equal(vial_test_status(r), 308); /* 308 keeps the method */
    vial_test_free(r);
    vial_app_free(app);
}

/* A path one segment short of the routing limit is not redirected to a
 * slashed form the router would refuse to route (found by url_fuzz). */
static void test_slash_redirect_at_segment_limit(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET, "/<path:p>/", echo_params, "slashed"), 0);
    char path[2 * 256 + 1];
    for (int i = 0; i < 256; i++)
        memcpy(path + 2 * i, "/a", 2);
    path[2 * 256] = '\0';
    vial_test_resp *r = get(app, path + 2); /* 255 segments: the slashed form routes */
    assert_int_equal(vial_test_status(r), 308);
    vial_test_free(r);
    r = get(app, path); /* 256: "/a.../a/" would be 257 */
    assert_int_equal(vial_test_status(r), 404);
    vial_test_free(r);
    vial_app_free(app);
}

static void test_pattern_errors(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_bp *root = vial_app_bp(app);
    assert_int_equal(vial_route(root, VIAL_GET, "nope", h_int, "a"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a//b", h_int, "b"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a/<int:x", h_int, "c"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a/<bogus:x>", h_int, "d"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a/x<y>", h_int, "e"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a/<x>/<x>", h_int, "f"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a/<1x>", h_int, "g"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/a b", h_int, "h"), VIAL_EPATTERN);
    assert_int_equal(vial_route(root, VIAL_GET, "/ok/<a>", h_int, "i"), 0);
    /* the same shape and method twice, whatever the parameter names */
    assert_int_equal(vial_route(root, VIAL_GET, "/ok/<b>", h_float, "j"), VIAL_EEXIST);
    assert_int_equal(vial_route(root, 0, "/m", h_int, "k"), VIAL_EINVAL);
    /* a standing error stops the app from starting */
    char *argv[] = { "t", "routes", NULL };
    assert_int_equal(vial_run(app, 2, argv), 1);
    vial_app_free(app);
}

static void test_blueprint_duplicates_across_prefixes(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_bp *a = vial_bp_new("a");
    vial_bp *b = vial_bp_new("b");
    assert_int_equal(vial_get(a, "/x", h_int), 0);
    assert_int_equal(vial_get(b, "/api/x", h_float), 0);
    assert_int_equal(vial_register(app, a, "/api"), 0);
    assert_int_equal(vial_register(app, b, ""), 0);
    /* both end up at GET /api/x: found when compiling */
    assert_int_equal(vial__app_compile(app), VIAL_EEXIST);
    vial_app_free(app);
}

static int url_for_handler(vial_req *req)
{
    const char *a = vial_url_for(req, "user", "userId", "a b/c", NULL);
    const char *b = vial_url_for(req, "files", "rest", "x y/z", "q", "1&2", NULL);
    const char *c = vial_url_for(req, "h_int", "n", "12", NULL);
    const char *d = vial_url_for(req, "h_int", "n", "twelve", NULL); /* not an int */
    const char *e = vial_url_for(req, "nosuch", NULL);
    const char *f = vial_url_for(req, "user", NULL);                  /* missing param */
    const char *g = vial_url_for(req, "dir", NULL);
    const char *h = vial_url_for(req, "files", "rest", "/lead", NULL); /* fuzz: leading slash */
    return vial_textf(req, 200, "%s|%s|%s|%s|%s|%s|%s|%s", a, b, c, d ? d : "NULL",
                      e ? e : "NULL", f ? f : "NULL", g, h);
}

static void test_url_for(void **state)
{
    (void)state;
    vial_app *app = make_app();
    assert_int_equal(vial_get(app, "/urls", url_for_handler), 0);
    expect(app, "GET", "/urls", 200,
           "/user/a%20b%2Fc|/files/x%20y/z?q=1%262|/n/12|NULL|NULL|NULL|/dir/|/files/%2Flead");
    expect(app, "GET", "/files/%2Flead", 200, "files:rest=/lead;");
    vial_app_free(app);
}

static void test_router_direct(void **state)
{
    (void)state;
    /* The trie alone: routes added in any order, matched by priority. */
    vial__router *r = vial__router_new();
    vial__route routes[3] = { 0 };
    const char *pats[3] = { "/a/<path:p>", "/a/<int:n>", "/a/<s>" };
    const char *why;
    for (int i = 0; i < 3; i++) {
        routes[i].methods = VIAL_GET;
        routes[i].fn = h_int;
        routes[i].endpoint = (char *)pats[i];
        assert_int_equal(vial__pattern_parse(pats[i], &routes[i].segs, &routes[i].nsegs,
                                             &routes[i].nparams, &why), 0);
        assert_int_equal(vial__router_add(r, &routes[i], &why), 0);
    }
    vial__arena a = { 0 };
    vial__match m;
    vial__router_match(r, &a, "/a/7", 4, VIAL_GET, &m);
    assert_ptr_equal(m.route, &routes[1]);
    vial__router_match(r, &a, "/a/x", 4, VIAL_GET, &m);
    assert_ptr_equal(m.route, &routes[2]);
    vial__router_match(r, &a, "/a/x/y", 6, VIAL_GET, &m);
    assert_ptr_equal(m.route, &routes[0]);
    assert_string_equal(m.params[0].p, "x/y");
    vial__router_match(r, &a, "/a/x", 4, VIAL_POST, &m);
    assert_null(m.route);
    assert_int_equal(m.allowed, VIAL_GET | VIAL_HEAD | VIAL_OPTIONS);
    vial__arena_reset(&a);
    for (int i = 0; i < 3; i++)
        vial__segs_free(routes[i].segs, routes[i].nsegs);
    vial__router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_static_and_params),
        cmocka_unit_test(test_decoding_after_split),
        cmocka_unit_test(test_converters),
        cmocka_unit_test(test_methods),
        cmocka_unit_test(test_trailing_slash),
        cmocka_unit_test(test_slash_redirect_at_segment_limit),
        cmocka_unit_test(test_pattern_errors),
        cmocka_unit_test(test_blueprint_duplicates_across_prefixes),
        cmocka_unit_test(test_url_for),
        cmocka_unit_test(test_router_direct),
    };
    return RUN_GROUP(tests);
}

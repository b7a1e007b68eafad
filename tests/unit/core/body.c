/*
 * Unit tests for src/core/body.c: the request body as JSON —
 * vial_body_json (parsed once and cached, its errors: empty, invalid,
 * duplicate keys, a scalar at the top), the pull reader over the body
 * (vial_jr_body on an empty body, vial_jr_text), and vial_body_json_valid
 * answering 400 in the common error shape (invalid JSON, or "invalid
 * body" with every bad field) and 500 for a broken schema.
 */
#include "unit.h"

static vial_app *app;

static vial_test_resp *post(const char *target, const char *body)
{
    vial_test_resp *r = vial_test(app, "POST", target, "Content-Type: application/json\r\n", body,
                                  body ? strlen(body) : 0);
    assert_non_null(r);
    return r;
}

/* The response body as JSON (a new reference). */
static json_t *json_of(vial_test_resp *r)
{
    json_error_t e;
    json_t *j = json_loads(vial_test_body(r, NULL), 0, &e);
    if (!j)
        print_error("not JSON: [%s]\n", vial_test_body(r, NULL));
    assert_non_null(j);
    return j;
}

/* ------------------------------------------------------------------ vial_body_json */

static int h_json(vial_req *req)
{
    json_t *a = vial_body_json(req), *b = vial_body_json(req);
    assert_ptr_equal(a, b); /* cached: parsed once */
    if (!a) {
        const char *e1 = vial_body_json_error(req), *e2 = vial_body_json_error(req);
        assert_ptr_equal(e1, e2);
        return vial_textf(req, 200, "error: %s", e1);
    }
    assert_null(vial_body_json_error(req));
    char *dump = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
    int rc = vial_textf(req, 200, "ok: %s", dump);
    free(dump);
    return rc;
}

static void check_json(const char *body, const char *want)
{
    vial_test_resp *r = post("/json", body);
    assert_int_equal(vial_test_status(r), 200);
    const char *got = vial_test_body(r, NULL);
    if (strncmp(got, want, strlen(want)))
        print_error("body [%s]: got [%s], want a prefix [%s]\n", body ? body : "(none)", got, want);
    assert_true(!strncmp(got, want, strlen(want)));
    vial_test_free(r);
}

static void test_body_json_parsed_and_cached(void **state)
{
    (void)state;
    check_json("{\"b\": [1, 2.5, null], \"a\": \"x\"}", "ok: {\"a\":\"x\",\"b\":[1,2.5,null]}");
    check_json("[true]", "ok: [true]");
    /* "\u0000" is allowed inside strings */
    check_json("{\"a\":\"x\\u0000y\"}", "ok: {\"a\":\"x\\u0000y\"}");
}

static void test_body_json_empty(void **state)
{
    (void)state;
    check_json(NULL, "error: request body is empty (expected JSON)");
    check_json("", "error: request body is empty (expected JSON)");
}

static void test_body_json_errors(void **state)
{
    (void)state;
    check_json("{\"a\":", "error: invalid JSON at line 1 column 5: ");
    check_json("{\"a\": 1,\n \"b\" 2}", "error: invalid JSON at line 2 column 6: ");
    check_json("{\"a\":1,\"a\":2}", "error: invalid JSON at line 1 column ");
    vial_test_resp *r = post("/json", "{\"a\":1,\"a\":2}");
    assert_non_null(strstr(vial_test_body(r, NULL), "duplicate"));
    vial_test_free(r);
    /* only an object or an array at the top */
    check_json("42", "error: invalid JSON at line 1 column ");
    check_json("{} x", "error: invalid JSON at line 1 column ");
}

static int h_json_twice_in_hooks(vial_req *req)
{
    /* the before-hook parsed it already: the view gets the same tree */
    json_t *seen = vial_local(req, "parsed");
    return vial_text(req, 200, seen == vial_body_json(req) && seen ? "same" : "different");
}

static int before_parse(vial_req *req)
{
    if (!strcmp(vial_path(req), "/hooked"))
        vial_set_local(req, "parsed", vial_body_json(req));
    return 0;
}

static void test_body_json_shared_by_hook_and_view(void **state)
{
    (void)state;
    vial_test_resp *r = post("/hooked", "{\"k\":1}");
    assert_string_equal(vial_test_body(r, NULL), "same");
    vial_test_free(r);
    assert_null(vial_body_json(NULL));
    assert_null(vial_body_json_error(NULL));
}

/* ------------------------------------------------------------------ the pull reader */

static int h_jr(vial_req *req)
{
    vial_jr *r = vial_jr_body(req);
    assert_non_null(r);
    int64_t v = 0;
    int got = vial_jr_int(r, &v);
    int rc = vial_jr_finish(r);
    const char *err = vial_jr_error(r);
    return vial_textf(req, 200, "%d %" PRId64 " %d %s", got, v, rc, err ? err : "-");
}

static void test_jr_body(void **state)
{
    (void)state;
    vial_test_resp *r = post("/jr", "42");
    assert_string_equal(vial_test_body(r, NULL), "1 42 0 -"); /* any value at the top */
    vial_test_free(r);
    r = post("/jr", NULL);
    char want[128];
    snprintf(want, sizeof want, "0 0 %d request body is empty (expected JSON)", VIAL_EPARSE);
    assert_string_equal(vial_test_body(r, NULL), want);
    vial_test_free(r);
    r = post("/jr", "4x");
    assert_non_null(strstr(vial_test_body(r, NULL), "invalid JSON at line 1 column"));
    vial_test_free(r);
}

static int h_jr_text(vial_req *req)
{
    assert_null(vial_jr_text(req, NULL, 3)); /* bytes promised, none given */
    assert_null(vial_jr_text(NULL, "1", 1));
    vial_jr *none = vial_jr_text(req, NULL, 0);
    assert_non_null(none);
    int empty_rc = vial_jr_finish(none);
    const char text[] = "[1, \"two\"]trailing";
    vial_jr *r = vial_jr_text(req, text, 10); /* only the array: length-bounded */
    assert_non_null(r);
    int64_t one = 0;
    const char *two = NULL;
    size_t n = 0;
    assert_true(vial_jr_array(r));
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_int(r, &one));
    assert_true(vial_jr_more(r));
    assert_true(vial_jr_str(r, &two, &n));
    assert_false(vial_jr_more(r));
    return vial_textf(req, 200, "%d|%" PRId64 "|%.*s|%d", empty_rc, one, (int)n, two,
                      vial_jr_finish(r));
}

static void test_jr_text(void **state)
{
    (void)state;
    vial_test_resp *r = post("/jr_text", NULL);
    char want[64];
    snprintf(want, sizeof want, "%d|1|two|0", VIAL_EPARSE);
    assert_string_equal(vial_test_body(r, NULL), want);
    vial_test_free(r);
}

/* ------------------------------------------------------------------ vial_body_json_valid */

static const vial_field item_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 8),
    VIAL_FIELD("qty", VIAL_F_INT, VIAL_REQUIRED, .min = 1, .max = 10),
    VIAL_FIELD_END,
};
static const vial_schema item = { item_f, VIAL_SCHEMA_STRICT };

static const vial_field twice_f[] = {
    VIAL_FIELD("a", VIAL_F_INT, 0),
    VIAL_FIELD("a", VIAL_F_STRING, 0),
    VIAL_FIELD_END,
};
static const vial_schema twice = { twice_f, 0 };

static int h_valid(vial_req *req)
{
    json_t *j = vial_body_json_valid(req, strcmp(vial_path(req), "/valid") ? &twice : &item);
    if (!j)
        return 0; /* answered */
    assert_ptr_equal(j, vial_body_json(req));
    return vial_textf(req, 201, "%s x%" JSON_INTEGER_FORMAT,
                      json_string_value(json_object_get(j, "name")),
                      json_integer_value(json_object_get(j, "qty")));
}

static void test_valid_body_passes(void **state)
{
    (void)state;
    vial_test_resp *r = post("/valid", "{\"name\":\"pen\",\"qty\":3}");
    assert_int_equal(vial_test_status(r), 201);
    assert_string_equal(vial_test_body(r, NULL), "pen x3");
    vial_test_free(r);
}

static void test_valid_body_missing_or_broken(void **state)
{
    (void)state;
    vial_test_resp *r = post("/valid", NULL);
    assert_int_equal(vial_test_status(r), 400);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "bad_request_400");
    assert_string_equal(json_string_value(json_object_get(j, "message")),
                        "request body is empty (expected JSON)");
    assert_null(json_object_get(j, "fields"));
    json_decref(j);
    vial_test_free(r);
    r = post("/valid", "{\"name\":");
    assert_int_equal(vial_test_status(r), 400);
    j = json_of(r);
    assert_true(!strncmp(json_string_value(json_object_get(j, "message")),
                         "invalid JSON at line 1 column 8: ", 33));
    json_decref(j);
    vial_test_free(r);
}

static void test_invalid_body_lists_every_field(void **state)
{
    (void)state;
    vial_test_resp *r = post("/valid", "{\"name\":\"  \",\"qty\":11,\"extra\":true}");
    assert_int_equal(vial_test_status(r), 400);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "bad_request_400");
    assert_string_equal(json_string_value(json_object_get(j, "message")), "invalid body");
    json_t *f = json_object_get(j, "fields");
    assert_true(json_is_object(f));
    assert_int_equal(json_object_size(f), 3);
    assert_non_null(json_object_get(f, "name"));
    assert_non_null(json_object_get(f, "qty"));
    assert_non_null(json_object_get(f, "extra"));
    json_decref(j);
    vial_test_free(r);
    /* the body need not be an object for the schema to say so */
    r = post("/valid", "[1]");
    assert_int_equal(vial_test_status(r), 400);
    j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "invalid body");
    assert_true(json_object_size(json_object_get(j, "fields")) >= 1);
    json_decref(j);
    vial_test_free(r);
}

static void test_broken_schema_is_500(void **state)
{
    (void)state;
    vial_test_resp *r = post("/twice", "{\"a\":1}");
    assert_int_equal(vial_test_status(r), 500);
    json_t *j = json_of(r);
    assert_string_equal(json_string_value(json_object_get(j, "message")), "cannot validate the body");
    json_decref(j);
    vial_test_free(r);
}

static int setup(void **state)
{
    (void)state;
    app = vial_app_new("body");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error"); /* the broken schema logs, as it should */
    vial_configure(app, 0, NULL);
    vial_post(app, "/json", h_json);
    vial_post(app, "/hooked", h_json_twice_in_hooks);
    vial_before_request(app, before_parse);
    vial_post(app, "/jr", h_jr);
    vial_post(app, "/jr_text", h_jr_text);
    vial_route(vial_app_bp(app), VIAL_POST, "/valid", h_valid, "valid");
    vial_route(vial_app_bp(app), VIAL_POST, "/twice", h_valid, "twice");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vial_app_free(app);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_json_parsed_and_cached),
        cmocka_unit_test(test_body_json_empty),
        cmocka_unit_test(test_body_json_errors),
        cmocka_unit_test(test_body_json_shared_by_hook_and_view),
        cmocka_unit_test(test_jr_body),
        cmocka_unit_test(test_jr_text),
        cmocka_unit_test(test_valid_body_passes),
        cmocka_unit_test(test_valid_body_missing_or_broken),
        cmocka_unit_test(test_invalid_body_lists_every_field),
        cmocka_unit_test(test_broken_schema_is_500),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

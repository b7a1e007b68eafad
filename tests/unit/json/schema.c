/* Unit tests for src/json/schema.c: every bad field reported by path. */
#include "unit.h"

static const char *const kinds[] = { "CLICK", "VIEW", "NAVIGATE", NULL };

static const char *even(json_t *v)
{
    return json_integer_value(v) % 2 ? "must be even" : NULL;
}

static const vial_field props_f[] = {
    VIAL_FIELD("locationX", VIAL_F_INT, 0, .min = 0, .max = 10000),
    VIAL_FIELD("viewedId", VIAL_F_STRING, VIAL_NULLABLE),
    VIAL_FIELD_END,
};
static const vial_schema props = { props_f, VIAL_SCHEMA_STRICT };

static const vial_field action_f[] = {
    VIAL_FIELD("time", VIAL_F_TIMESTAMP, VIAL_REQUIRED),
    VIAL_FIELD("type", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .one_of = kinds),
    VIAL_FIELD("properties", VIAL_F_OBJECT, 0, .schema = &props),
    VIAL_FIELD_END,
};
static const vial_schema action = { action_f, VIAL_SCHEMA_STRICT };

static const vial_field tag_rule = VIAL_FIELD("tag", VIAL_F_STRING, 0, .min = 1, .max = 3);

static const vial_field log_f[] = {
    VIAL_FIELD("userId", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 8),
    VIAL_FIELD("sessionId", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("count", VIAL_F_INT, 0, .check = even),
    VIAL_FIELD("ratio", VIAL_F_NUMBER, 0, .min = 0, .max = 1),
    VIAL_FIELD("ok", VIAL_F_BOOL, 0),
    VIAL_FIELD("tags", VIAL_F_ARRAY, 0, .items = &tag_rule, .max = 2),
    VIAL_FIELD("actions", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &action, .min = 1, .max = 10000),
    VIAL_FIELD_END,
};
static const vial_schema log_schema = { log_f, 0 };

static json_t *errors_for(const char *body, const char *prefix)
{
    json_t *v = json_loads(body, 0, NULL);
    assert_non_null(v);
    json_t *e = json_object();
    int n = vial_validate(&log_schema, v, prefix, e);
    assert_int_equal((size_t)n, json_object_size(e));
    json_decref(v);
    return e;
}

static void expect_reason(json_t *e, const char *path, const char *reason)
{
    json_t *r = json_object_get(e, path);
    if (!r) {
        char *d = json_dumps(e, 0);
        print_error("no error for %s in %s\n", path, d);
        free(d);
    }
    assert_non_null(r);
    assert_string_equal(json_string_value(r), reason);
}

static void test_valid(void **state)
{
    (void)state;
    json_t *e = errors_for("{\"userId\":\"ABC\",\"sessionId\":\"S\",\"extra\":1,"
                           "\"actions\":[{\"time\":\"2018-10-18T21:37:28-06:00\",\"type\":\"CLICK\","
                           "\"properties\":{\"locationX\":52,\"viewedId\":null}}]}", "");
    assert_int_equal(json_object_size(e), 0); /* unknown "extra" ignored: schema not strict */
    json_decref(e);
}

static void test_every_problem_listed(void **state)
{
    (void)state;
    json_t *e = errors_for("{\"userId\":\"   \",\"count\":3,\"ratio\":1.5,\"ok\":\"yes\","
                           "\"tags\":[\"a\",\"\",\"abcd\"],"
                           "\"actions\":[{\"time\":\"2018-10-18T21:37:28\",\"type\":\"JUMP\"},"
                           "{\"type\":\"VIEW\",\"properties\":{\"locationX\":\"52\",\"zzz\":1}},"
                           "{\"time\":\"2018-10-18T21:37:28Z\",\"type\":\"\",\"properties\":[]},"
                           "\"notanobject\"]}", "");
    expect_reason(e, "userId", "must not be empty");
    expect_reason(e, "sessionId", "required");
    expect_reason(e, "count", "must be even");
    expect_reason(e, "ratio", "must be between 0 and 1");
    expect_reason(e, "ok", "must be true or false");
    expect_reason(e, "tags", "must have 0..2 items");
    expect_reason(e, "actions[0].time", "not an RFC 3339 timestamp with an offset");
    expect_reason(e, "actions[0].type", "must be one of: CLICK VIEW NAVIGATE");
    expect_reason(e, "actions[1].time", "required");
    expect_reason(e, "actions[1].properties.locationX", "must be an integer");
    expect_reason(e, "actions[1].properties.zzz", "unknown field");
    expect_reason(e, "actions[2].type", "must not be empty");
    expect_reason(e, "actions[2].properties", "must be an object");
    expect_reason(e, "actions[3]", "must be an object");
    json_decref(e);
}

static void test_prefix_and_bounds(void **state)
{
    (void)state;
    json_t *e = errors_for("{\"userId\":\"TOOLONGID\",\"sessionId\":null,\"tags\":[\"\"],\"actions\":[]}", "[0]");
    expect_reason(e, "[0].userId", "length must be 0..8 characters");
    expect_reason(e, "[0].sessionId", "must not be null");
    expect_reason(e, "[0].tags[0]", "length must be 1..3 characters");
    expect_reason(e, "[0].actions", "must not be empty");
    json_decref(e);
    /* a non-object body */
    json_t *v = json_loads("[1]", 0, NULL), *errs = json_object();
    assert_int_equal(vial_validate(&log_schema, v, "", errs), 1);
    expect_reason(errs, "(root)", "must be an object");
    json_decref(errs);
    json_decref(v);
    /* characters, not bytes */
    e = errors_for("{\"userId\":\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\","
                   "\"sessionId\":\"s\",\"actions\":[{\"time\":\"2018-10-18T21:37:28Z\",\"type\":\"VIEW\"}]}", "");
    assert_int_equal(json_object_size(e), 0);
    json_decref(e);
}

static const vial_field body_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("age", VIAL_F_INT, 0, .min = 0, .max = 150),
    VIAL_FIELD_END,
};
static const vial_schema body_schema = { body_f, VIAL_SCHEMA_STRICT };

static int h_valid(vial_req *req)
{
    json_t *j = vial_req_json_valid(req, &body_schema);
    if (!j)
        return 0;
    return vial_textf(req, 200, "hello %s", json_string_value(json_object_get(j, "name")));
}

static void test_request_body(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_configure(app, 0, NULL);
    vial_post(app, "/v", h_valid);
    const char *ok = "{\"name\":\"ann\",\"age\":3}";
    vial_test_resp *r = vial_test(app, "POST", "/v", NULL, ok, strlen(ok));
    assert_string_equal(vial_test_body(r, NULL), "hello ann");
    vial_test_free(r);
    const char *bad = "{\"age\":-1,\"x\":true}";
    r = vial_test(app, "POST", "/v", NULL, bad, strlen(bad));
    assert_int_equal(vial_test_status(r), 400);
    json_t *j = json_loads(vial_test_body(r, NULL), 0, NULL);
    json_t *want = json_pack("{s:s,s:s,s:{s:s,s:s,s:s}}", "error", "bad_request_400", "message", "invalid body",
                             "fields", "name", "required", "age", "must be between 0 and 150", "x", "unknown field");
    assert_true(json_equal(j, want));
    json_decref(j);
    json_decref(want);
    vial_test_free(r);
    r = vial_test(app, "POST", "/v", NULL, "{\"name\":", 8);
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "invalid JSON at line 1"));
    vial_test_free(r);
    r = vial_test(app, "POST", "/v", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "request body is empty"));
    vial_test_free(r);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_every_problem_listed),
        cmocka_unit_test(test_prefix_and_bounds),
        cmocka_unit_test(test_request_body),
    };
    return RUN_GROUP(tests);
}

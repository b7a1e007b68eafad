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
    json_t *j = vial_body_json_valid(req, &body_schema);
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

/* Regressions found by fuzz/schema_fuzz.c (inputs in fuzz/regression/schema/). */

static json_t *errors_of(const vial_schema *s, const char *body, const char *prefix, int *n)
{
    json_t *v = json_loads(body, JSON_DECODE_ANY, NULL);
    assert_non_null(v);
    json_t *e = json_object();
    *n = vial_validate(s, v, prefix, e);
    json_decref(v);
    return e;
}

static const vial_field exact_f[] = {
    VIAL_FIELD("i", VIAL_F_INT, 0, .max = 9007199254740992.0),          /* 2^53 */
    VIAL_FIELD("big", VIAL_F_INT, 0, .min = -9223372036854775808.0, .max = 9223372036854775808.0),
    VIAL_FIELD("num", VIAL_F_NUMBER, 0, .min = 0.5, .max = 1.5),
    VIAL_FIELD("s", VIAL_F_STRING, 0, .min = -1, .max = 1.5),            /* was a cast of -1 to size_t */
    VIAL_FIELD("huge", VIAL_F_STRING, 0, .min = 1e300),
    VIAL_FIELD("arr", VIAL_F_ARRAY, 0, .min = 0.5),
    VIAL_FIELD_END,
};
static const vial_schema exact = { exact_f, 0 };

static void test_bounds_exact(void **state)
{
    (void)state;
    int n;
    json_t *e = errors_of(&exact, "{\"i\":9007199254740993,\"big\":9223372036854775807,\"num\":1,"
                                  "\"s\":\"ab\",\"huge\":\"x\",\"arr\":[]}", "", &n);
    assert_int_equal(n, 4);
    expect_reason(e, "i", "must be between 0 and 9.00719925474099e+15"); /* 2^53 + 1 > 2^53 */
    expect_reason(e, "s", "length must be -1..1.5 characters");
    expect_reason(e, "huge", "must be at least 1e+300 characters");
    expect_reason(e, "arr", "must not be empty");
    json_decref(e);
    e = errors_of(&exact, "{\"i\":9007199254740992,\"big\":-9223372036854775808,\"num\":0.5,"
                          "\"s\":\"a\",\"arr\":[1]}", "", &n);
    assert_int_equal(n, 0);
    json_decref(e);
}

static const char *never(json_t *v)
{
    (void)v;
    return "never valid";
}

static const vial_field inner_f[] = { VIAL_FIELD("x", VIAL_F_INT, 0), VIAL_FIELD_END };
static const vial_schema inner = { inner_f, 0 };
static const vial_field checked_f[] = {
    VIAL_FIELD("o", VIAL_F_OBJECT, 0, .schema = &inner, .check = never),
    VIAL_FIELD_END,
};
static const vial_schema checked = { checked_f, 0 };

static void test_object_check_with_schema(void **state)
{
    (void)state;
    int n;
    json_t *e = errors_of(&checked, "{\"o\":{\"x\":1}}", "", &n); /* the check was skipped */
    assert_int_equal(n, 1);
    expect_reason(e, "o", "never valid");
    json_decref(e);
    e = errors_of(&checked, "{\"o\":{\"x\":\"1\"}}", "", &n); /* problems inside come first */
    assert_int_equal(n, 1);
    expect_reason(e, "o.x", "must be an integer");
    json_decref(e);
}

static const char *const long_list[] = {
    "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    "b", NULL,
};
static const vial_field listed_f[] = {
    VIAL_FIELD("c", VIAL_F_STRING, 0, .one_of = long_list),
    VIAL_FIELD_END,
};
static const vial_schema listed = { listed_f, 0 };

static void test_one_of_long_list(void **state)
{
    (void)state;
    int n;
    /* the reason used to be cut inside a UTF-8 character: json_string()
     * refused it and validation failed with VIAL_ENOMEM (a 503) */
    json_t *e = errors_of(&listed, "{\"c\":\"z\"}", "", &n);
    assert_int_equal(n, 1);
    const char *why = json_string_value(json_object_get(e, "c"));
    assert_non_null(why);
    assert_int_equal(strncmp(why, "must be one of: x\xc3\xa9", 19), 0);
    assert_string_equal(why + strlen(why) - 4, " ...");
    json_decref(e);
}

static const vial_field deep_f[] = {
    VIAL_FIELD("a", VIAL_F_INT, 0),
    VIAL_FIELD("LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL"
               "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL", VIAL_F_ANY, 0),
    VIAL_FIELD_END,
};
static const vial_schema deep = { deep_f, 0 };

static void test_nested_too_deeply_counts(void **state)
{
    (void)state;
    char prefix[480];
    memset(prefix, 'P', sizeof prefix - 1);
    prefix[sizeof prefix - 1] = '\0';
    int n;
    json_t *e = errors_of(&deep, "{\"a\":\"x\"}", prefix, &n);
    assert_int_equal(n, 2); /* the "a" problem used to be dropped from the count */
    assert_int_equal(json_object_size(e), 2);
    expect_reason(e, prefix, "nested too deeply");
    json_decref(e);
    /* a prefix past the path limit is not cut (it was, possibly inside a
     * UTF-8 character): its members are too deep */
    char longer[600];
    memset(longer, 'P', sizeof longer - 1);
    longer[sizeof longer - 1] = '\0';
    e = errors_of(&deep, "{}", longer, &n);
    assert_int_equal(n, 1);
    expect_reason(e, longer, "nested too deeply");
    json_decref(e);
}

/* Two rules for "a", both recursing: every level visited the subtree twice
 * (2^depth; a 22-deep body took over 5 s).  Such a schema is refused. */
static const vial_schema twice;
static const vial_field twice_f[] = {
    VIAL_FIELD("a", VIAL_F_ARRAY, 0, .schema = &twice),
    VIAL_FIELD("a", VIAL_F_ARRAY, 0, .schema = &twice, .max = 3),
    VIAL_FIELD_END,
};
static const vial_schema twice = { twice_f, 0 };
static const vial_field holder_f[] = {
    VIAL_FIELD("t", VIAL_F_OBJECT, 0, .schema = &twice),
    VIAL_FIELD_END,
};
static const vial_schema holder = { holder_f, 0 };

static int h_twice(vial_req *req)
{
    json_t *j = vial_body_json_valid(req, &holder);
    return j ? vial_text(req, 200, "ok") : 0;
}

static void test_field_named_twice(void **state)
{
    (void)state;
    int n;
    json_t *e = errors_of(&twice, "{}", "", &n);
    assert_int_equal(n, VIAL_EINVAL);
    json_decref(e);
    e = errors_of(&holder, "{}", "", &n); /* not reached: fine */
    assert_int_equal(n, 0);
    json_decref(e);
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_configure(app, 0, NULL);
    vial_post(app, "/v", h_twice);
    const char *body = "{\"t\":{\"a\":[]}}";
    vial_test_resp *r = vial_test(app, "POST", "/v", NULL, body, strlen(body));
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
    vial_app_free(app);
}

/* A positive minimum alone is "at least" for numbers as for lengths;
 * bounds no value meets are the schema's mistake. */
static const vial_schema at_least = { (const vial_field[]){
    VIAL_FIELD("n", VIAL_F_INT, 0, .min = 1),
    VIAL_FIELD("x", VIAL_F_NUMBER, 0, .min = 0.5),
    VIAL_FIELD("neg", VIAL_F_INT, 0, .min = -3), /* -3..0 */
    VIAL_FIELD_END }, 0 };
static const vial_schema impossible = { (const vial_field[]){
    VIAL_FIELD("n", VIAL_F_INT, 0, .min = 5, .max = 3), VIAL_FIELD_END }, 0 };

static void test_min_alone_and_impossible_bounds(void **state)
{
    (void)state;
    int n;
    json_t *e = errors_of(&at_least, "{\"n\":9007199254740993,\"x\":1e300,\"neg\":-3}", "", &n);
    assert_int_equal(n, 0);
    json_decref(e);
    e = errors_of(&at_least, "{\"n\":0,\"x\":0.25,\"neg\":1}", "", &n);
    assert_int_equal(n, 3);
    assert_string_equal(json_string_value(json_object_get(e, "n")), "must be at least 1");
    assert_string_equal(json_string_value(json_object_get(e, "x")), "must be at least 0.5");
    assert_string_equal(json_string_value(json_object_get(e, "neg")), "must be between -3 and 0");
    json_decref(e);
    e = errors_of(&impossible, "{\"n\":4}", "", &n);
    assert_int_equal(n, VIAL_EINVAL);
    json_decref(e);
    static const vial_field bad = VIAL_FIELD("f", VIAL_F_NUMBER, 0, .min = 2, .max = 1);
    json_t *v = json_integer(1), *errs = json_object();
    assert_int_equal(vial_validate_field(&bad, v, "f", errs), VIAL_EINVAL);
    json_decref(v);
    json_decref(errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_every_problem_listed),
        cmocka_unit_test(test_prefix_and_bounds),
        cmocka_unit_test(test_request_body),
        cmocka_unit_test(test_bounds_exact),
        cmocka_unit_test(test_object_check_with_schema),
        cmocka_unit_test(test_one_of_long_list),
        cmocka_unit_test(test_nested_too_deeply_counts),
        cmocka_unit_test(test_field_named_twice),
        cmocka_unit_test(test_min_alone_and_impossible_bounds),
    };
    return RUN_GROUP(tests);
}

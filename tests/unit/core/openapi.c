/*
 * Unit tests for src/core/openapi.c: the OpenAPI document built from the
 * route table — undocumented routes with their typed path parameters and
 * methods, operationIds, blueprints as tags, docs attached at registration
 * or after compiling, security from blueprints and docs, hidden routes —
 * and what the docs drive at run time: vial_body_json_valid(req, NULL)
 * with the route's schema (batches too), vial_args_valid() on the query,
 * and the routes vial_openapi_serve() adds (/openapi.json, /docs).
 * (An independent validator checks vial-server's document in
 * tests/api/test_openapi.py.)
 */
#include "unit.h"

static int ok(vial_req *req)
{
    return vial_text(req, 200, "ok");
}

static json_t *at(json_t *doc, const char *path, const char *method)
{
    json_t *item = json_object_get(json_object_get(doc, "paths"), path);
    return method ? json_object_get(item, method) : item;
}

static const char *str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static void test_undocumented_routes_appear_typed(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("t");
    assert_int_equal(vial_get(app, "/items/<int:id>/<uuid:u>/<float:f>/<name>/<path:rest>", ok), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_GET | VIAL_POST | VIAL_HEAD, "/both", ok, "both"), 0);
    assert_int_equal(vial_route(vial_app_bp(app), VIAL_HEAD, "/head", ok, "head_only"), 0);
    json_t *d = vial_openapi(app, NULL);
    assert_non_null(d);
    assert_string_equal(str(d, "openapi"), "3.1.0");
    assert_string_equal(str(json_object_get(d, "info"), "title"), "t");
    assert_string_equal(str(json_object_get(d, "info"), "version"), "0.0.0");
    json_t *op = at(d, "/items/{id}/{u}/{f}/{name}/{rest}", "get");
    assert_non_null(op);
    assert_string_equal(str(op, "operationId"), "ok");
    json_t *ps = json_object_get(op, "parameters");
    assert_int_equal(json_array_size(ps), 5);
    const char *want[][2] = { { "id", "integer" }, { "u", "string" }, { "f", "number" },
                              { "name", "string" }, { "rest", "string" } };
    for (size_t i = 0; i < 5; i++) {
        json_t *p = json_array_get(ps, i);
        assert_string_equal(str(p, "name"), want[i][0]);
        assert_string_equal(str(p, "in"), "path");
        assert_true(json_is_true(json_object_get(p, "required")));
        assert_string_equal(str(json_object_get(p, "schema"), "type"), want[i][1]);
    }
    assert_string_equal(str(json_object_get(json_array_get(ps, 1), "schema"), "format"), "uuid");
    /* typed parameters that do not convert are a 404, said for the route */
    assert_non_null(json_object_get(json_object_get(op, "responses"), "404"));
    assert_non_null(json_object_get(json_object_get(op, "responses"), "default"));
    assert_int_equal(json_array_size(json_object_get(op, "security")), 0);
    /* several methods: one operation each, ids told apart; HEAD only alone */
    assert_string_equal(str(at(d, "/both", "get"), "operationId"), "both_get");
    assert_string_equal(str(at(d, "/both", "post"), "operationId"), "both_post");
    assert_null(at(d, "/both", "head"));
    assert_string_equal(str(at(d, "/head", "head"), "operationId"), "head_only");
    /* core's own routes are documented too */
    assert_non_null(json_object_get(at(d, "/healthz", "get"), "summary"));
    assert_non_null(json_object_get(at(d, "/metrics", "get"), "summary"));
    assert_non_null(json_object_get(json_object_get(json_object_get(d, "components"), "schemas"), "Error"));
    json_decref(d);
    vial_app_free(app);
}

static const vial_field item_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED, .max = 5),
    VIAL_FIELD_END,
};
static const vial_schema item = { item_f, VIAL_SCHEMA_STRICT };
static const vial_field list_f = VIAL_FIELD("items", VIAL_F_ARRAY, 0, .schema = &item);
static const vial_field query_f[] = {
    VIAL_FIELD("limit", VIAL_F_INT, VIAL_REQUIRED, .min = 1, .max = 10, .doc = "how many"),
    VIAL_FIELD("ratio", VIAL_F_NUMBER, 0, .min = 0, .max = 1),
    VIAL_FIELD("deep", VIAL_F_BOOL, 0),
    VIAL_FIELD("kind", VIAL_F_STRING, 0, .one_of = (const char *const[]){ "a", "b", NULL }),
    VIAL_FIELD_END,
};
static const vial_doc create_doc = {
    .summary = "Create items",
    .description = "One or many.",
    .body = &item,
    .flags = VIAL_DOC_BODY_OR_ARRAY,
    .responses = (const vial_response_doc[]){ { 201, "made", &item, NULL, NULL },
                                              { 409, NULL, NULL, NULL, NULL },
                                              { 0, NULL, NULL, NULL, NULL } },
};
static const vial_doc list_doc = {
    .summary = "List items",
    .query = query_f,
    .security = "bearer",
    .responses = (const vial_response_doc[]){ { 200, "the items", NULL, &list_f, NULL },
                                              { 0, NULL, NULL, NULL, NULL } },
};
static const vial_doc hidden_doc = { .summary = "secret", .flags = VIAL_DOC_HIDDEN };
static const vial_doc late_doc = { .summary = "Documented late", .security = "" };

static int create(vial_req *req)
{
    json_t *b = vial_body_json_valid(req, NULL);
    if (!b)
        return 0;
    return vial_json(req, 201, b);
}

static int list(vial_req *req)
{
    if (vial_args_valid(req))
        return 0;
    const vial_doc *d = vial_route_doc(req);
    return vial_textf(req, 200, "%s", d ? d->summary : "-");
}

static int nodoc_body(vial_req *req)
{
    return vial_body_json_valid(req, NULL) ? vial_text(req, 200, "?") : 0;
}

static vial_app *docs_app(void)
{
    vial_app *app = vial_app_new("docs");
    vial_bp *api = vial_bp_new("api");
    assert_non_null(app);
    assert_non_null(api);
    assert_int_equal(vial_route_add(api, VIAL_POST, "/items", create,
                                    &(vial_route_opts){ .endpoint = "create", .doc = &create_doc }), 0);
    assert_int_equal(vial_route_add(api, VIAL_GET, "/items", list,
                                    &(vial_route_opts){ .endpoint = "list", .doc = &list_doc }), 0);
    assert_int_equal(vial_route_add(api, VIAL_GET, "/secret", ok,
                                    &(vial_route_opts){ .endpoint = "secret", .doc = &hidden_doc }), 0);
    assert_int_equal(vial_route_add(api, VIAL_GET, "/late", list, &(vial_route_opts){ .endpoint = "late" }), 0);
    assert_int_equal(vial_post(api, "/nodoc", nodoc_body), 0);
    assert_int_equal(vial_bp_describe(api, "The API."), 0);
    assert_int_equal(vial_bp_security(api, "bearer,unknown"), 0);
    assert_int_equal(vial_register(app, api, "/api"), 0);
    assert_int_equal(vial_openapi_schema(app, &item, "Item", "one item"), 0);
    assert_int_equal(vial_openapi_info(app, "Docs", "1.2.3", "About."), 0);
    assert_int_equal(vial_security_scheme(app, "bearer", "{\"type\": \"http\", \"scheme\": \"bearer\"}"), 0);
    return app;
}

static void test_docs_in_the_document(void **state)
{
    (void)state;
    vial_app *app = docs_app();
    json_t *d = vial_openapi(app, NULL);
    assert_non_null(d);
    json_t *info = json_object_get(d, "info");
    assert_string_equal(str(info, "title"), "Docs");
    assert_string_equal(str(info, "version"), "1.2.3");
    assert_string_equal(str(info, "description"), "About.");
    json_t *tags = json_object_get(d, "tags");
    assert_int_equal(json_array_size(tags), 1);
    assert_string_equal(str(json_array_get(tags, 0), "name"), "api");
    assert_string_equal(str(json_array_get(tags, 0), "description"), "The API.");

    json_t *c = at(d, "/api/items", "post");
    assert_string_equal(str(c, "operationId"), "api.create");
    assert_string_equal(str(c, "summary"), "Create items");
    assert_string_equal(json_string_value(json_array_get(json_object_get(c, "tags"), 0)), "api");
    json_t *rb = json_object_get(c, "requestBody");
    assert_true(json_is_true(json_object_get(rb, "required")));
    json_t *one_of = json_object_get(json_object_get(json_object_get(json_object_get(rb, "content"),
                                                                     "application/json"), "schema"), "oneOf");
    assert_string_equal(str(json_array_get(one_of, 0), "$ref"), "#/components/schemas/Item");
    assert_string_equal(str(json_object_get(json_array_get(one_of, 1), "items"), "$ref"),
                        "#/components/schemas/Item");
    json_t *resp = json_object_get(c, "responses");
    assert_string_equal(str(json_object_get(resp, "409"), "description"), "Conflict"); /* the reason phrase */
    assert_non_null(json_object_get(resp, "400"));  /* a body: vial answers 400 for a bad one */
    assert_non_null(json_object_get(resp, "401"));  /* the blueprint's security */
    /* only the schemes the app declared are named */
    json_t *sec = json_object_get(c, "security");
    assert_int_equal(json_array_size(sec), 1);
    assert_non_null(json_object_get(json_array_get(sec, 0), "bearer"));
    json_t *item_def = json_object_get(json_object_get(json_object_get(d, "components"), "schemas"), "Item");
    assert_string_equal(str(item_def, "description"), "one item");

    json_t *l = at(d, "/api/items", "get");
    json_t *q = json_array_get(json_object_get(l, "parameters"), 0);
    assert_string_equal(str(q, "name"), "limit");
    assert_string_equal(str(q, "in"), "query");
    assert_string_equal(str(q, "description"), "how many");
    assert_true(json_is_true(json_object_get(q, "required")));
    assert_null(json_object_get(json_object_get(q, "schema"), "description"));
    json_t *ok200 = json_object_get(json_object_get(l, "responses"), "200");
    assert_string_equal(str(json_object_get(json_object_get(json_object_get(ok200, "content"), "application/json"),
                                            "schema"), "type"), "array");
    assert_null(at(d, "/api/secret", NULL)); /* hidden */
    json_decref(d);

    /* a doc attached once compiled reaches the document and the view */
    assert_int_equal(vial_route_document(vial_app_bp(app), "late", &late_doc), VIAL_ENOENT);
    vial_bp *api = NULL;
    for (size_t i = 0; i < vial_app_bp(app)->nchildren; i++)
        api = vial_app_bp(app)->children[i];
    assert_int_equal(vial_route_document(api, "late", &late_doc), 0);
    expect(app, "GET", "/api/late", 200, "Documented late");
    d = vial_openapi(app, NULL);
    assert_string_equal(str(at(d, "/api/late", "get"), "summary"), "Documented late");
    assert_int_equal(json_array_size(json_object_get(at(d, "/api/late", "get"), "security")), 0);
    json_decref(d);
    vial_app_free(app);
}

static void body_is(vial_app *app, const char *body, int status, const char *want)
{
    vial_test_resp *r = vial_test(app, "POST", "/api/items", "Content-Type: application/json\r\n", body,
                                  strlen(body));
    assert_non_null(r);
    const char *got = vial_test_body(r, NULL);
    if (vial_test_status(r) != status || !strstr(got, want))
        print_error("%s → %d %s\n", body, vial_test_status(r), got);
    assert_int_equal(vial_test_status(r), status);
    assert_non_null(strstr(got, want));
    vial_test_free(r);
}

static void test_views_validate_with_their_docs(void **state)
{
    (void)state;
    vial_app *app = docs_app();
    body_is(app, "{\"name\": \"abc\"}", 201, "\"name\"");
    body_is(app, "{\"name\": \"abcdef\", \"x\": 1}", 400,
            "\"fields\":{\"name\":\"length must be 0..5 characters\",\"x\":\"unknown field\"}");
    body_is(app, "[{\"name\": \"a\"}, {\"name\": \"b\"}]", 201, "[");
    body_is(app, "[{\"name\": \"a\"}, {}]", 400, "\"[1].name\":\"required\"");
    body_is(app, "[]", 400, "must not be an empty array");
    body_is(app, "nope", 400, "invalid JSON");
    /* a view asking for its documented schema without one is a bug: 500 */
    vial_test_resp *r = vial_test(app, "POST", "/api/nodoc", NULL, "{}", 2);
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);

    expect(app, "GET", "/api/items?limit=3&ratio=0.5&deep=true&kind=a", 200, "List items");
    expect(app, "GET", "/api/items?limit=3&unknown=1", 200, "List items");
    r = get(app, "/api/items?limit=30&ratio=x&deep=maybe&kind=c");
    assert_int_equal(vial_test_status(r), 400);
    const char *b = vial_test_body(r, NULL);
    assert_non_null(strstr(b, "\"error\":\"bad_request_400\",\"message\":\"invalid query\""));
    assert_non_null(strstr(b, "\"limit\":\"must be between 1 and 10\""));
    assert_non_null(strstr(b, "\"ratio\":\"must be a number\""));
    assert_non_null(strstr(b, "\"deep\":\"must be true or false\""));
    assert_non_null(strstr(b, "\"kind\":\"must be one of: a b\""));
    vial_test_free(r);
    r = get(app, "/api/items");
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"limit\":\"required\""));
    vial_test_free(r);
    /* JSON number syntax only: no blanks, '+', hex, inf or nan (strtod would) */
    static const char *const refused[] = { "limit=1x", "limit=%201", "limit=%2B1", "limit=%091", "limit=",
                                           "limit=1&ratio=0x1", "limit=1&ratio=inf", "limit=1&ratio=nan",
                                           "limit=1&ratio=.5", "limit=1&ratio=1e", "limit=1&ratio=1e999" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(refused); i++) {
        char t[96];
        snprintf(t, sizeof t, "/api/items?%s", refused[i]);
        r = get(app, t);
        if (vial_test_status(r) != 400)
            print_error("%s: %d\n", t, vial_test_status(r));
        assert_int_equal(vial_test_status(r), 400);
        assert_non_null(strstr(vial_test_body(r, NULL), i < 5 ? "\"limit\":\"must be an integer\""
                                                              : "\"ratio\":\"must be a number\""));
        vial_test_free(r);
    }
    expect(app, "GET", "/api/items?limit=-0&ratio=1E-1", 400, NULL); /* -0 parses, and is below 1 */
    expect(app, "GET", "/api/items?limit=01&ratio=5e-1", 200, "List items");
    vial_app_free(app);
}

static void test_security_schemes(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("s");
    assert_int_equal(vial_security_scheme(app, "k", "not json"), VIAL_EINVAL);
    assert_int_equal(vial_security_scheme(app, "k", "[1]"), VIAL_EINVAL);
    assert_int_equal(vial_security_scheme(app, "k", "{\"in\": \"header\"}"), VIAL_EINVAL); /* no type */
    assert_int_equal(vial_security_scheme(app, "a,b", "{\"type\": \"http\"}"), VIAL_EINVAL);
    assert_int_equal(vial_security_scheme(app, "k", "{\"type\": \"apiKey\", \"in\": \"header\", \"name\": \"K\"}"), 0);
    static const vial_doc opt = { .summary = "x", .security = " k ", .flags = VIAL_DOC_AUTH_OPTIONAL };
    assert_int_equal(vial_route_add(vial_app_bp(app), VIAL_GET, "/x", ok, &(vial_route_opts){ .doc = &opt }), 0);
    json_t *d = vial_openapi(app, NULL);
    json_t *sec = json_object_get(at(d, "/x", "get"), "security");
    char *s = json_dumps(sec, JSON_COMPACT);
    assert_string_equal(s, "[{},{\"k\":[]}]");
    free(s);
    assert_string_equal(str(json_object_get(json_object_get(json_object_get(d, "components"), "securitySchemes"), "k"),
                            "name"), "K");
    json_decref(d);
    vial_app_free(app);
}

static void test_serving(void **state)
{
    (void)state;
    vial_app *app = docs_app();
    assert_int_equal(vial_openapi_serve(app, NULL, "/docs", NULL), VIAL_EINVAL); /* a page needs its UI */
    assert_int_equal(vial_openapi_serve(app, NULL, "/docs", "/ui/"), 0);
    assert_int_equal(vial_openapi_serve(app, NULL, NULL, NULL), VIAL_EEXIST);
    vial_test_resp *r = get(app, "/openapi.json");
    assert_int_equal(vial_test_status(r), 200);
    json_t *d = json_loads(vial_test_body(r, NULL), 0, NULL);
    assert_non_null(d);
    assert_non_null(at(d, "/openapi.json", "get"));
    assert_non_null(at(d, "/docs", "get"));
    assert_non_null(at(d, "/docs/init.js", "get"));
    assert_string_equal(str(json_array_get(json_object_get(d, "servers"), 0), "url"), "/");
    json_decref(d);
    vial_test_free(r);
    r = get(app, "/docs");
    assert_int_equal(vial_test_status(r), 200);
    const char *page = vial_test_body(r, NULL);
    assert_non_null(strstr(page, "<title>Docs — API</title>"));
    assert_non_null(strstr(page, "href=\"/ui/swagger-ui.css\""));
    assert_non_null(strstr(page, "data-spec=\"/openapi.json\""));
    assert_non_null(strstr(page, "<script src=\"/ui/swagger-ui-bundle.js\"></script>"));
    assert_non_null(strstr(page, "<script src=\"/docs/init.js\"></script>"));
    assert_null(strstr(page, "<script>"));
    assert_non_null(strstr(vial_test_header(r, "Content-Security-Policy"), "default-src 'self'"));
    vial_test_free(r);
    r = get(app, "/docs/init.js");
    assert_int_equal(vial_test_status(r), 200);
    assert_non_null(strstr(vial_test_header(r, "Content-Type"), "text/javascript"));
    vial_test_free(r);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_undocumented_routes_appear_typed),
        cmocka_unit_test(test_docs_in_the_document),
        cmocka_unit_test(test_views_validate_with_their_docs),
        cmocka_unit_test(test_security_schemes),
        cmocka_unit_test(test_serving),
    };
    return RUN_GROUP(tests);
}

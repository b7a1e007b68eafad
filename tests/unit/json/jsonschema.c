/*
 * Unit tests for src/json/jsonschema.c: validation schemas as JSON Schema
 * 2020-12 — each field type and rule, nullable values, strict objects,
 * named definitions shared by reference, recursive schemas (which must end
 * in a reference, not loop), and component names made safe and unique.
 */
#include "unit.h"

/* `v` serialized with sorted keys, compared with the expected text. */
static void same(json_t *v, const char *want)
{
    assert_non_null(v);
    char *got = json_dumps(v, JSON_SORT_KEYS | JSON_COMPACT);
    json_t *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    char *norm = json_dumps(w, JSON_SORT_KEYS | JSON_COMPACT);
    if (strcmp(got, norm))
        print_error("got  %s\nwant %s\n", got, norm);
    assert_string_equal(got, norm);
    free(got);
    free(norm);
    json_decref(w);
}

static const char *const kinds[] = { "CLICK", "VIEW", NULL };
static const vial_field props_f[] = {
    VIAL_FIELD("x", VIAL_F_INT, 0, .min = 0, .max = 100),
    VIAL_FIELD_END,
};
static const vial_schema props = { props_f, 0 };
static const vial_field tag = VIAL_FIELD("tag", VIAL_F_STRING, 0, .min = 1, .max = 3);
static const vial_field all_f[] = {
    VIAL_FIELD("s", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .max = 8, .doc = "a name"),
    VIAL_FIELD("kind", VIAL_F_STRING, VIAL_NULLABLE, .one_of = kinds),
    VIAL_FIELD("n", VIAL_F_INT, 0),
    VIAL_FIELD("ratio", VIAL_F_NUMBER, 0, .min = 0, .max = 1),
    VIAL_FIELD("ok", VIAL_F_BOOL, VIAL_REQUIRED),
    VIAL_FIELD("at", VIAL_F_TIMESTAMP, 0),
    VIAL_FIELD("any", VIAL_F_ANY, VIAL_NULLABLE),
    VIAL_FIELD("tags", VIAL_F_ARRAY, 0, .items = &tag, .min = 1, .max = 2),
    VIAL_FIELD("props", VIAL_F_OBJECT, 0, .schema = &props),
    VIAL_FIELD("blob", VIAL_F_OBJECT, 0),
    VIAL_FIELD("s", VIAL_F_INT, 0), /* named twice: validation refuses; the first is shown */
    VIAL_FIELD_END,
};
static const vial_schema all = { all_f, VIAL_SCHEMA_STRICT };

static void test_every_type_and_rule(void **state)
{
    (void)state;
    json_t *j = vial_schema_jsonschema(&all);
    same(j, "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\", \"type\": \"object\","
            " \"additionalProperties\": false, \"required\": [\"s\", \"ok\"], \"properties\": {"
            "  \"s\": {\"type\": \"string\", \"maxLength\": 8, \"pattern\": \"[^ \\\\t\\\\n\\\\r]\","
            "         \"description\": \"a name\"},"
            "  \"kind\": {\"type\": [\"string\", \"null\"], \"enum\": [\"CLICK\", \"VIEW\", null]},"
            "  \"n\": {\"type\": \"integer\", \"format\": \"int64\"},"
            "  \"ratio\": {\"type\": \"number\", \"minimum\": 0.0, \"maximum\": 1.0},"
            "  \"ok\": {\"type\": \"boolean\"},"
            "  \"at\": {\"type\": \"string\", \"format\": \"date-time\"},"
            "  \"any\": {},"
            "  \"tags\": {\"type\": \"array\", \"minItems\": 1, \"maxItems\": 2,"
            "            \"items\": {\"type\": \"string\", \"minLength\": 1, \"maxLength\": 3}},"
            "  \"props\": {\"type\": \"object\", \"properties\": {"
            "             \"x\": {\"type\": \"integer\", \"format\": \"int64\", \"minimum\": 0.0, \"maximum\": 100.0}}},"
            "  \"blob\": {\"type\": \"object\"}}}");
    json_decref(j);
    assert_null(vial_schema_jsonschema(NULL));
}

/* The validator's notion of a bounded string: min only, max only. */
static void test_one_sided_bounds(void **state)
{
    (void)state;
    static const vial_field f[] = {
        VIAL_FIELD("lo", VIAL_F_STRING, 0, .min = 2),
        VIAL_FIELD("hi", VIAL_F_ARRAY, 0, .max = 5),
        VIAL_FIELD("big", VIAL_F_STRING, 0, .max = 1e300), /* clamped to an integer JSON Schema takes */
        VIAL_FIELD("atleast", VIAL_F_INT, 0, .min = 1),   /* a positive minimum alone: no maximum */
        VIAL_FIELD("upto0", VIAL_F_NUMBER, 0, .min = -3), /* -3..0 */
        VIAL_FIELD_END,
    };
    static const vial_schema s = { f, 0 };
    json_t *j = vial_schema_jsonschema(&s);
    json_t *p = json_object_get(j, "properties");
    same(json_object_get(p, "lo"), "{\"type\": \"string\", \"minLength\": 2}");
    same(json_object_get(p, "hi"), "{\"type\": \"array\", \"maxItems\": 5}");
    same(json_object_get(p, "big"), "{\"type\": \"string\", \"maxLength\": 9007199254740992}");
    same(json_object_get(p, "atleast"), "{\"type\": \"integer\", \"format\": \"int64\", \"minimum\": 1.0}");
    same(json_object_get(p, "upto0"), "{\"type\": \"number\", \"minimum\": -3.0, \"maximum\": 0.0}");
    json_decref(j);
}

/* A tree: a node holds nodes.  The translation ends with a reference. */
static const vial_schema node;
static const vial_field node_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("children", VIAL_F_ARRAY, 0, .schema = &node),
    VIAL_FIELD("parent", VIAL_F_OBJECT, VIAL_NULLABLE, .schema = &node),
    VIAL_FIELD_END,
};
static const vial_schema node = { node_f, 0 };

static void test_recursive_schema_is_a_definition(void **state)
{
    (void)state;
    json_t *j = vial_schema_jsonschema(&node);
    same(j, "{\"$schema\": \"https://json-schema.org/draft/2020-12/schema\","
            " \"$ref\": \"#/$defs/Schema\", \"$defs\": {\"Schema\": {\"type\": \"object\","
            "  \"required\": [\"name\"], \"properties\": {"
            "   \"name\": {\"type\": \"string\"},"
            "   \"children\": {\"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/Schema\"}},"
            "   \"parent\": {\"anyOf\": [{\"$ref\": \"#/$defs/Schema\"}, {\"type\": \"null\"}]}}}}}");
    json_decref(j);
}

/* Named schemas (the OpenAPI components): one definition, referenced by
 * every use; names made safe and unique; descriptions kept. */
static void test_named_definitions(void **state)
{
    (void)state;
    static const vial_field pair_f[] = {
        VIAL_FIELD("a", VIAL_F_OBJECT, 0, .schema = &props),
        VIAL_FIELD("b", VIAL_F_OBJECT, 0, .schema = &props),
        VIAL_FIELD("c", VIAL_F_OBJECT, 0, .schema = &node),
        VIAL_FIELD_END,
    };
    static const vial_schema pair = { pair_f, 0 };
    json_t *defs = json_pack("{s:{}}", "Point");
    vial__jsdefs d;
    vial__jsdefs_init(&d, defs, "#/components/schemas/");
    assert_int_equal(vial__jsdefs_name(&d, &props, "Point", "a point"), 0);
    assert_int_equal(vial__jsdefs_name(&d, &props, "Other", NULL), 0); /* the first name stays */
    assert_int_equal(vial__jsdefs_name(&d, &node, "a node/tree", NULL), 0);
    json_t *j = vial__jsonschema_object(&d, &pair);
    assert_false(d.oom);
    same(j, "{\"type\": \"object\", \"properties\": {"
            " \"a\": {\"$ref\": \"#/components/schemas/Point2\"},"
            " \"b\": {\"$ref\": \"#/components/schemas/Point2\"},"
            " \"c\": {\"$ref\": \"#/components/schemas/a_node_tree\"}}}");
    same(json_object_get(defs, "Point2"),
         "{\"type\": \"object\", \"description\": \"a point\", \"properties\": {"
         " \"x\": {\"type\": \"integer\", \"format\": \"int64\", \"minimum\": 0.0, \"maximum\": 100.0}}}");
    json_t *tree = json_object_get(defs, "a_node_tree");
    assert_non_null(tree);
    same(json_object_get(json_object_get(tree, "properties"), "children"),
         "{\"type\": \"array\", \"items\": {\"$ref\": \"#/components/schemas/a_node_tree\"}}");
    assert_int_equal(json_object_size(defs), 3);
    json_decref(j);
    vial__jsdefs_fini(&d);
    json_decref(defs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_type_and_rule),
        cmocka_unit_test(test_one_sided_bounds),
        cmocka_unit_test(test_recursive_schema_is_a_definition),
        cmocka_unit_test(test_named_definitions),
    };
    return RUN_GROUP(tests);
}

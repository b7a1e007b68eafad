/*
 * Unit tests for apps/chat/proto.c (the chat's client frames): every
 * error code a frame can earn and the ref it keeps, the limits counted in
 * characters (not bytes), control characters, the error frame and the ref
 * added to a shared frame, and the rate bucket (burst, then the rate).
 * The file is included: an app's sources are not in libvial.
 */
#include "unit.h"

#include "../../../../apps/chat/proto.c"

static const char *parse_code(const char *frame, json_t **ref_out)
{
    chat_cmd c;
    const char *code = NULL;
    char why[200] = "";
    int rc = chat_parse(frame, strlen(frame), &c, &code, why, sizeof why);
    if (ref_out)
        *ref_out = c.ref ? json_incref(c.ref) : NULL;
    chat_cmd_free(&c);
    if (rc == 0)
        return "ok";
    assert_true(why[0] != '\0'); /* every error says why */
    return code;
}

static void test_codes(void **state)
{
    (void)state;
    static const struct {
        const char *frame, *code;
    } cases[] = {
        { "{", "bad_json" },
        { "", "bad_json" },
        { "{\"type\":\"hello\",\"type\":\"join\"}", "bad_json" },   /* duplicate keys */
        { "{\"type\":\"hello\",\"name\":\"a\\u0000b\"}", "bad_json" }, /* NUL */
        { "[]", "bad_request" },
        { "\"hello\"", "bad_request" },
        { "{}", "bad_request" },
        { "{\"type\":null}", "bad_request" },
        { "{\"type\":\"hello\",\"ref\":[1]}", "bad_request" },
        { "{\"type\":\"hello\",\"ref\":1.5}", "bad_request" },
        { "{\"type\":\"Hello\"}", "unknown_type" },
        { "{\"type\":\"hello \"}", "unknown_type" },
        { "{\"type\":\"hello\"}", "ok" },
        { "{\"type\":\"hello\",\"name\":\"alice\",\"extra\":1}", "ok" }, /* unknown members: ignored */
        { "{\"type\":\"hello\",\"name\":5}", "bad_request" },
        { "{\"type\":\"hello\",\"name\":\"\"}", "bad_name" },
        { "{\"type\":\"hello\",\"name\":\" a\"}", "bad_name" },
        { "{\"type\":\"hello\",\"name\":\"a\\tb\"}", "bad_name" },
        { "{\"type\":\"hello\",\"name\":\"a\\u0085b\"}", "bad_name" }, /* C1 control */
        { "{\"type\":\"create\"}", "bad_request" },
        { "{\"type\":\"create\",\"channel\":\"\"}", "bad_channel" },
        { "{\"type\":\"create\",\"channel\":\"a\\nb\"}", "bad_channel" },
        { "{\"type\":\"create\",\"channel\":\"a b/c\"}", "ok" },
        { "{\"type\":\"join\",\"channel\":1}", "bad_request" },
        { "{\"type\":\"leave\",\"channel\":\"x\"}", "ok" },
        { "{\"type\":\"message\",\"channel\":\"x\"}", "bad_request" },
        { "{\"type\":\"message\",\"channel\":\"x\",\"text\":false}", "bad_request" },
        { "{\"type\":\"message\",\"channel\":\"x\",\"text\":\"\"}", "bad_text" },
        { "{\"type\":\"message\",\"channel\":\"x\",\"text\":\"line\\nbreak\"}", "ok" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = parse_code(cases[i].frame, NULL);
        if (strcmp(got, cases[i].code))
            fail_msg("%s: %s, want %s", cases[i].frame, got, cases[i].code);
    }
}

static void test_ref_kept_on_errors(void **state)
{
    (void)state;
    json_t *ref;
    assert_string_equal(parse_code("{\"type\":\"nope\",\"ref\":\"r1\"}", &ref), "unknown_type");
    assert_string_equal(json_string_value(ref), "r1");
    json_decref(ref);
    assert_string_equal(parse_code("{\"type\":\"message\",\"channel\":\"\",\"ref\":42}", &ref), "bad_channel");
    assert_int_equal(json_integer_value(ref), 42);
    json_decref(ref);
    assert_string_equal(parse_code("{\"type\":\"hello\",\"ref\":null}", &ref), "ok");
    assert_null(ref);
}

/* Limits count characters: 2000 four-byte characters are a valid text,
 * 2001 one-byte ones are not. */
static void test_limits_in_characters(void **state)
{
    (void)state;
    char *s = malloc(8001);
    for (int i = 0; i < 2000; i++)
        memcpy(s + 4 * i, "\xf0\x9f\x98\x80", 4);
    assert_null(chat_check_text(s, 8000));
    memset(s, 'x', 2001);
    assert_non_null(chat_check_text(s, 2001));
    assert_null(chat_check_text(s, 2000));
    assert_null(chat_check_channel(s, 64));
    assert_non_null(chat_check_channel(s, 65));
    assert_null(chat_check_name(s, 32));
    assert_non_null(chat_check_name(s, 33));
    assert_non_null(chat_check_text("\xff", 1)); /* not UTF-8 */
    assert_null(chat_check_channel("\xe6\x97\xa5\xe6\x9c\xac", 6));
    free(s);
}

static void test_frames(void **state)
{
    (void)state;
    json_t *ref = json_string("c\"1");
    char *e = chat_error_frame_malloc("bad_text", "too long", ref);
    assert_string_equal(e, "{\"type\":\"error\",\"code\":\"bad_text\",\"message\":\"too long\",\"ref\":\"c\\\"1\"}");
    free(e);
    e = chat_error_frame_malloc("bad_json", "x", NULL);
    assert_string_equal(e, "{\"type\":\"error\",\"code\":\"bad_json\",\"message\":\"x\",\"ref\":null}");
    free(e);
    size_t n;
    const char *f = "{\"type\":\"channel\",\"channel\":\"a\"}";
    char *w = chat_with_ref_malloc(f, strlen(f), ref, &n);
    assert_string_equal(w, "{\"type\":\"channel\",\"channel\":\"a\",\"ref\":\"c\\\"1\"}");
    assert_int_equal(n, strlen(w));
    free(w);
    json_decref(ref);
}

static void test_bucket(void **state)
{
    (void)state;
    chat_bucket b = { 0 };
    uint64_t t = 1000000000;
    for (int i = 0; i < 5; i++)
        assert_true(chat_bucket_take(&b, 2, 5, t)); /* the burst */
    assert_false(chat_bucket_take(&b, 2, 5, t));
    assert_false(chat_bucket_take(&b, 2, 5, t + 400000000)); /* 0.8 of a token */
    assert_true(chat_bucket_take(&b, 2, 5, t + 500000000));  /* one at 2/s */
    assert_false(chat_bucket_take(&b, 2, 5, t + 500000000));
    for (int i = 0; i < 5; i++) /* a long pause refills to the burst, not beyond */
        assert_true(chat_bucket_take(&b, 2, 5, t + 60000000000ull));
    assert_false(chat_bucket_take(&b, 2, 5, t + 60000000000ull));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes),
        cmocka_unit_test(test_ref_kept_on_errors),
        cmocka_unit_test(test_limits_in_characters),
        cmocka_unit_test(test_frames),
        cmocka_unit_test(test_bucket),
    };
    return RUN_GROUP(tests);
}

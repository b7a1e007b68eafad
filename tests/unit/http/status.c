/*
 * Unit tests for src/http/status.c: HTTP's vocabulary — reason phrases and
 * the error names of the common error shape (with their fallbacks for
 * codes not in the table), method names and bits, which statuses carry no
 * body, and the cached Date header value.
 */
#include "unit.h"

#include <pthread.h>
#include <regex.h>
#include <time.h>

static void test_reason_phrases(void **state)
{
    (void)state;
    static const struct {
        int code;
        const char *reason;
    } known[] = {
        { 100, "Continue" }, { 101, "Switching Protocols" }, { 200, "OK" },
        { 201, "Created" }, { 204, "No Content" }, { 206, "Partial Content" },
        { 301, "Moved Permanently" }, { 304, "Not Modified" }, { 308, "Permanent Redirect" },
        { 400, "Bad Request" }, { 401, "Unauthorized" }, { 404, "Not Found" },
        { 405, "Method Not Allowed" }, { 413, "Content Too Large" },
        { 416, "Range Not Satisfiable" }, { 422, "Unprocessable Content" },
        { 429, "Too Many Requests" }, { 431, "Request Header Fields Too Large" },
        { 500, "Internal Server Error" }, { 503, "Service Unavailable" },
        { 505, "HTTP Version Not Supported" }, { 507, "Insufficient Storage" },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(known); i++)
        assert_string_equal(vial_status_reason(known[i].code), known[i].reason);
}

static void test_reason_fallbacks(void **state)
{
    (void)state;
    assert_string_equal(vial_status_reason(599), "Server Error");
    assert_string_equal(vial_status_reason(518), "Server Error");
    assert_string_equal(vial_status_reason(499), "Client Error");
    assert_string_equal(vial_status_reason(418), "Client Error");
    assert_string_equal(vial_status_reason(299), "Unknown");
    assert_string_equal(vial_status_reason(0), "Unknown");
    assert_string_equal(vial_status_reason(-1), "Unknown");
}

static void test_error_names(void **state)
{
    (void)state;
    assert_string_equal(vial_error_name(404), "not_found_404");
    assert_string_equal(vial_error_name(400), "bad_request_400");
    assert_string_equal(vial_error_name(413), "payload_too_large_413"); /* the old name stays */
    assert_string_equal(vial_error_name(422), "unprocessable_entity_422");
    assert_string_equal(vial_error_name(500), "internal_server_error_500");
    assert_string_equal(vial_error_name(418), "client_error");
    assert_string_equal(vial_error_name(599), "server_error");
}

static void test_every_name_ends_with_its_code(void **state)
{
    (void)state;
    int known = 0;
    for (int code = 100; code < 600; code++) {
        const char *name = vial_error_name(code);
        if (!strcmp(name, "client_error") || !strcmp(name, "server_error"))
            continue;
        known++;
        char suffix[8];
        snprintf(suffix, sizeof suffix, "_%d", code);
        size_t n = strlen(name), s = strlen(suffix);
        assert_true(n > s);
        assert_string_equal(name + n - s, suffix);
        /* a name is lower-case snake case */
        for (size_t i = 0; i < n; i++)
            assert_true((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
                        name[i] == '_');
        /* and a code with a name has a reason phrase of its own */
        assert_string_not_equal(vial_status_reason(code), "Unknown");
        assert_string_not_equal(vial_status_reason(code), "Client Error");
        assert_string_not_equal(vial_status_reason(code), "Server Error");
    }
    assert_int_equal(known, 40);
}

static void test_method_bits(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        unsigned bit;
    } m[] = { { "GET", VIAL_GET },     { "HEAD", VIAL_HEAD },     { "POST", VIAL_POST },
              { "PUT", VIAL_PUT },     { "DELETE", VIAL_DELETE }, { "PATCH", VIAL_PATCH },
              { "OPTIONS", VIAL_OPTIONS } };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(m); i++) {
        assert_int_equal(vial__method_bit(m[i].name, strlen(m[i].name)), m[i].bit);
        assert_string_equal(vial__method_name(m[i].bit), m[i].name);
    }
}

static void test_method_bit_refusals(void **state)
{
    (void)state;
    assert_int_equal(vial__method_bit("get", 3), 0); /* methods are case-sensitive */
    assert_int_equal(vial__method_bit("Get", 3), 0);
    assert_int_equal(vial__method_bit("TRACE", 5), 0);
    assert_int_equal(vial__method_bit("CONNECT", 7), 0);
    assert_int_equal(vial__method_bit("", 0), 0);
    assert_int_equal(vial__method_bit("GETS", 4), 0);
    assert_int_equal(vial__method_bit("GE", 2), 0);
    /* length-bounded: the slice, not the C string */
    assert_int_equal(vial__method_bit("GETX", 3), VIAL_GET);
    assert_int_equal(vial__method_bit("POST /", 4), VIAL_POST);
}

static void test_method_name_refusals(void **state)
{
    (void)state;
    assert_null(vial__method_name(0));
    assert_null(vial__method_name(VIAL_GET | VIAL_POST)); /* one bit only */
    assert_null(vial__method_name(1u << 7));
    assert_null(vial__method_name(1u << 31));
}

static void test_bodyless_statuses(void **state)
{
    (void)state;
    assert_true(vial__status_bodyless(100));
    assert_true(vial__status_bodyless(101));
    assert_true(vial__status_bodyless(199));
    assert_true(vial__status_bodyless(204));
    assert_true(vial__status_bodyless(304));
    assert_false(vial__status_bodyless(200));
    assert_false(vial__status_bodyless(205));
    assert_false(vial__status_bodyless(206));
    assert_false(vial__status_bodyless(303));
    assert_false(vial__status_bodyless(404));
    assert_false(vial__status_bodyless(500));
}

static void test_http_date_format(void **state)
{
    (void)state;
    const char *d = vial__http_date();
    assert_int_equal(strlen(d), 29);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), [0-9]{2} "
                             "(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) [0-9]{4} "
                             "[0-2][0-9]:[0-5][0-9]:[0-6][0-9] GMT$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    assert_int_equal(regexec(&re, d, 0, NULL, 0), 0);
    regfree(&re);
    /* it is now, in GMT (the parse is locale-independent in the C locale) */
    struct tm tm = { 0 };
    const char *end = strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    assert_non_null(end);
    assert_int_equal(*end, '\0');
    time_t t = timegm(&tm), now = time(NULL);
    assert_true(t <= now + 1 && t >= now - 5);
}

static void test_http_date_cached_per_thread(void **state)
{
    (void)state;
    const char *a = vial__http_date(), *b = vial__http_date();
    assert_ptr_equal(a, b); /* the same buffer, rewritten at most once a second */
}

static void *date_in_thread(void *arg)
{
    *(const char **)arg = vial__http_date();
    return NULL;
}

static void test_http_date_thread_buffers_differ(void **state)
{
    (void)state;
    const char *mine = vial__http_date(), *theirs = NULL;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, date_in_thread, &theirs), 0);
    pthread_join(th, NULL);
    assert_non_null(theirs);
    assert_ptr_not_equal(mine, theirs); /* no thread rewrites another's header */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_phrases),
        cmocka_unit_test(test_reason_fallbacks),
        cmocka_unit_test(test_error_names),
        cmocka_unit_test(test_every_name_ends_with_its_code),
        cmocka_unit_test(test_method_bits),
        cmocka_unit_test(test_method_bit_refusals),
        cmocka_unit_test(test_method_name_refusals),
        cmocka_unit_test(test_bodyless_statuses),
        cmocka_unit_test(test_http_date_format),
        cmocka_unit_test(test_http_date_cached_per_thread),
        cmocka_unit_test(test_http_date_thread_buffers_differ),
    };
    return RUN_GROUP(tests);
}

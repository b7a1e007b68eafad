/*
 * Unit tests for src/ops/reqid.c: request ids — the format of the ones we
 * make (8 hex digits of per-process randomness, '-', the low 40 bits of a
 * counter in 10 hex digits), and which ids sent by a client are accepted
 * (1..64 characters of [A-Za-z0-9._-]; anything else could forge log lines
 * or headers).
 */
#include "unit.h"

static void test_make_format(void **state)
{
    (void)state;
    char out[VIAL__REQID_MAX];
    memset(out, 'x', sizeof out);
    assert_int_equal(vial__reqid_make(out, 0xdeadbeef, 1), 19);
    assert_string_equal(out, "deadbeef-0000000001");
    assert_int_equal(vial__reqid_make(out, 0, 0), 19);
    assert_string_equal(out, "00000000-0000000000");
    assert_int_equal(vial__reqid_make(out, 0x0102a0ff, 0x123456789aull), 19);
    assert_string_equal(out, "0102a0ff-123456789a");
    assert_int_equal(vial__reqid_make(out, UINT32_MAX, 0xffffffffffull), 19);
    assert_string_equal(out, "ffffffff-ffffffffff");
}

static void test_make_counter_wraps_at_40_bits(void **state)
{
    (void)state;
    char out[VIAL__REQID_MAX];
    vial__reqid_make(out, 0x00000001, (1ull << 40) + 5);
    assert_string_equal(out, "00000001-0000000005");
    vial__reqid_make(out, 0x00000001, UINT64_MAX);
    assert_string_equal(out, "00000001-ffffffffff");
}

static void test_made_ids_pass_validation(void **state)
{
    (void)state;
    char out[VIAL__REQID_MAX];
    for (uint64_t c = 0; c < 2000; c += 7) {
        size_t n = vial__reqid_make(out, vial__random_u32(), c * 0x10001);
        assert_true(vial__reqid_ok(out, n));
        assert_int_equal(strlen(out), n);
    }
}

static void test_client_ids_accepted(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "a", "Z", "0", "-", "_", ".", "req-1", "550e8400-e29b-41d4-a716-446655440000",
        "trace.id_42-X", "...",
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(ok); i++)
        assert_true(vial__reqid_ok(ok[i], strlen(ok[i])));
    char s64[65];
    memset(s64, 'a', 64);
    s64[64] = '\0';
    assert_true(vial__reqid_ok(s64, 64));
}

static void test_client_ids_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "a b", "a\tb", "a\r\nX-Evil: 1", "a\"b", "a'b", "a/b", "a:b", "a+b", "a=b", "a;b",
        "a,b", "a\\b", "<x>", "caf\xc3\xa9", "\x7f", "a%20b", "{x}",
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        if (vial__reqid_ok(bad[i], strlen(bad[i])))
            print_error("accepted [%s]\n", bad[i]);
        assert_false(vial__reqid_ok(bad[i], strlen(bad[i])));
    }
    assert_false(vial__reqid_ok("", 0));
    char s65[66];
    memset(s65, 'a', 65);
    s65[65] = '\0';
    assert_false(vial__reqid_ok(s65, 65));
    /* the length is what is checked: a NUL inside it is refused */
    assert_false(vial__reqid_ok("ab\0cd", 5));
    assert_true(vial__reqid_ok("ab\0cd", 2));
}

static void test_random_varies(void **state)
{
    (void)state;
    uint32_t first = vial__random_u32();
    bool differs = false;
    for (int i = 0; i < 16 && !differs; i++)
        differs = vial__random_u32() != first;
    assert_true(differs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_make_format),
        cmocka_unit_test(test_make_counter_wraps_at_40_bits),
        cmocka_unit_test(test_made_ids_pass_validation),
        cmocka_unit_test(test_client_ids_accepted),
        cmocka_unit_test(test_client_ids_refused),
        cmocka_unit_test(test_random_varies),
    };
    return RUN_GROUP(tests);
}

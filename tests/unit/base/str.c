/*
 * Unit tests for src/base/str.c: error strings, the ASCII case-insensitive
 * compares, integer formatting, UTF-8 validation (overlongs, surrogates,
 * code points above U+10FFFF, truncated sequences, stray continuation
 * bytes), code point counting, and the base64url and hex codecs: round
 * trips, non-canonical input refused with VIAL_EPARSE, short buffers with
 * VIAL_ETOOBIG, and decoders that never read past their input.
 */
#include "unit.h"

#include <stdlib.h>

static void test_strerror(void **state)
{
    (void)state;
    assert_string_equal(vial_strerror(0), "success");
    assert_string_equal(vial_strerror(VIAL_ENOMEM), "out of memory");
    assert_string_equal(vial_strerror(VIAL_EPARSE), "parse error");
    assert_string_equal(vial_strerror(VIAL_EBADVALUE), "value rejected by the database");
    assert_string_equal(vial_strerror(1), "unknown error");
    assert_string_equal(vial_strerror(-20), "unknown error");
    /* every code in the map has its own message */
    for (int e = -1; e >= -19; e--)
        assert_string_not_equal(vial_strerror(e), "unknown error");
}

static void test_streq_ci(void **state)
{
    (void)state;
    assert_true(vial__streq_ci("Content-Type", 12, "content-type"));
    assert_true(vial__streq_ci("X-API-KEY", 9, "x-api-key"));
    assert_true(vial__streq_ci("", 0, ""));
    /* the slice is length-bounded, the C string must end with it */
    assert_true(vial__streq_ci("hostname", 4, "HOST"));
    assert_false(vial__streq_ci("host", 4, "hostname"));
    assert_false(vial__streq_ci("hostname", 8, "host"));
    assert_false(vial__streq_ci("abc", 3, "abd"));
    /* only ASCII letters fold: '[' (0x5b) is not '{' (0x7b), '@' not '`' */
    assert_false(vial__streq_ci("[", 1, "{"));
    assert_false(vial__streq_ci("@", 1, "`"));
    /* bytes above 0x7f compare exactly */
    assert_false(vial__streq_ci("\xc3\x89", 2, "\xc3\xa9"));
    assert_true(vial__streq_ci("\xc3\xa9", 2, "\xc3\xa9"));
    /* a NUL in the slice does not end it early */
    assert_false(vial__streq_ci("a\0b", 3, "a"));
}

static void test_strneq_ci(void **state)
{
    (void)state;
    assert_true(vial__strneq_ci("Bearer xyz", "bEARER abc", 6));
    assert_false(vial__strneq_ci("Bearer xyz", "bEARER abc", 8));
    assert_true(vial__strneq_ci("anything", "else", 0));
    assert_false(vial__strneq_ci("Z", "z\x01", 2));
}

static void test_u64toa(void **state)
{
    (void)state;
    char out[21];
    assert_int_equal(vial__u64toa(0, out), 1);
    assert_string_equal(out, "0");
    assert_int_equal(vial__u64toa(9, out), 1);
    assert_int_equal(vial__u64toa(10, out), 2);
    assert_string_equal(out, "10");
    assert_int_equal(vial__u64toa(1234567890, out), 10);
    assert_string_equal(out, "1234567890");
    assert_int_equal(vial__u64toa(UINT64_MAX, out), 20);
    assert_string_equal(out, "18446744073709551615");
}

static void test_hexval(void **state)
{
    (void)state;
    assert_int_equal(vial__hexval('0'), 0);
    assert_int_equal(vial__hexval('9'), 9);
    assert_int_equal(vial__hexval('a'), 10);
    assert_int_equal(vial__hexval('F'), 15);
    assert_int_equal(vial__hexval('g'), -1);
    assert_int_equal(vial__hexval('G'), -1);
    assert_int_equal(vial__hexval('/'), -1);
    assert_int_equal(vial__hexval(':'), -1);
    assert_int_equal(vial__hexval('@'), -1);
    assert_int_equal(vial__hexval('`'), -1);
    assert_int_equal(vial__hexval(0), -1);
    assert_int_equal(vial__hexval(0xff), -1);
}

#define VALID(s) assert_int_equal(vial_utf8_valid((s), sizeof(s) - 1), 1)
#define INVALID(s) assert_int_equal(vial_utf8_valid((s), sizeof(s) - 1), 0)

static void test_utf8_valid_boundaries(void **state)
{
    (void)state;
    VALID("");
    VALID("plain ASCII \x01\x7f");
    VALID("\x00"); /* NUL is a valid code point */
    VALID("\xc2\x80");         /* U+0080, the first two-byte */
    VALID("\xdf\xbf");         /* U+07FF */
    VALID("\xe0\xa0\x80");     /* U+0800, the first three-byte */
    VALID("\xed\x9f\xbf");     /* U+D7FF, just below the surrogates */
    VALID("\xee\x80\x80");     /* U+E000, just above them */
    VALID("\xef\xbf\xbf");     /* U+FFFF */
    VALID("\xf0\x90\x80\x80"); /* U+10000, the first four-byte */
    VALID("\xf4\x8f\xbf\xbf"); /* U+10FFFF, the last code point */
    VALID("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
}

static void test_utf8_count(void **state)
{
    (void)state;
    assert_int_equal(vial_utf8_count("", 0), 0);
    assert_int_equal(vial_utf8_count("abc", 3), 3);
    assert_int_equal(vial_utf8_count("h\xc3\xa9llo", 6), 5);            /* é: 2 bytes, 1 character */
    assert_int_equal(vial_utf8_count("\xe2\x82\xac\xf0\x9f\x98\x80", 7), 2); /* €, U+1F600 */
    assert_int_equal(vial_utf8_count("a\0b", 3), 3);                    /* NUL is a character */
    assert_int_equal(vial_utf8_count("\xc3", 1), VIAL_EINVAL);           /* truncated */
    assert_int_equal(vial_utf8_count("\xed\xa0\x80", 3), VIAL_EINVAL);   /* a surrogate */
    assert_int_equal(vial_utf8_count("\xc0\xaf", 2), VIAL_EINVAL);       /* overlong */
    assert_int_equal(vial_utf8_count(NULL, 0), VIAL_EINVAL);
}

static void test_utf8_overlongs(void **state)
{
    (void)state;
    INVALID("\xc0\x80");         /* U+0000 in two bytes ("modified UTF-8") */
    INVALID("\xc0\xaf");         /* '/' in two bytes: the classic traversal trick */
    INVALID("\xc1\xbf");         /* U+007F */
    INVALID("\xe0\x80\xaf");     /* '/' in three bytes */
    INVALID("\xe0\x9f\xbf");     /* U+07FF in three bytes */
    INVALID("\xf0\x80\x80\xaf"); /* '/' in four bytes */
    INVALID("\xf0\x8f\xbf\xbf"); /* U+FFFF in four bytes */
}

static void test_utf8_surrogates(void **state)
{
    (void)state;
    INVALID("\xed\xa0\x80");                 /* U+D800 */
    INVALID("\xed\xaf\xbf");                 /* U+DBFF */
    INVALID("\xed\xb0\x80");                 /* U+DC00 */
    INVALID("\xed\xbf\xbf");                 /* U+DFFF */
    INVALID("\xed\xa0\xbd\xed\xb8\x80");     /* a CESU-8 pair */
}

static void test_utf8_above_max(void **state)
{
    (void)state;
    INVALID("\xf4\x90\x80\x80"); /* U+110000 */
    INVALID("\xf5\x80\x80\x80");
    INVALID("\xf7\xbf\xbf\xbf");
    INVALID("\xf8\x88\x80\x80\x80"); /* old five-byte forms */
    INVALID("\xfc\x84\x80\x80\x80\x80");
    INVALID("\xfe");
    INVALID("\xff");
}

static void test_utf8_truncated_and_stray(void **state)
{
    (void)state;
    INVALID("\xc3");
    INVALID("\xe2\x82");
    INVALID("\xf0\x9f\x98");
    INVALID("abc\xe2\x82"); /* truncated at the very end */
    INVALID("\xe2\x82x");   /* a non-continuation where one is due */
    INVALID("\xf0\x9f\x98x");
    INVALID("\x80");        /* a continuation byte alone */
    INVALID("a\xbf");
    INVALID("\xc3\xa9\xa9");
    /* length-bounded: a valid sequence cut by n is invalid, bytes past n unread */
    assert_int_equal(vial_utf8_valid("\xc3\xa9", 1), 0);
    assert_int_equal(vial_utf8_valid("ok\xff", 2), 1);
    assert_int_equal(vial_utf8_valid(NULL, 0), 0);
}

static void test_utf8_seq_lengths(void **state)
{
    (void)state;
    const unsigned char two[] = "\xc3\xa9", three[] = "\xe2\x82\xac", four[] = "\xf0\x9f\x98\x80";
    assert_int_equal(vial__utf8_seq(two, two + 2), 2);
    assert_int_equal(vial__utf8_seq(three, three + 3), 3);
    assert_int_equal(vial__utf8_seq(four, four + 4), 4);
    assert_int_equal(vial__utf8_seq(four, four + 3), 0); /* `e` bounds it */
    assert_int_equal(vial__utf8_seq(two, two + 1), 0);
}

static void test_utf8_chars(void **state)
{
    (void)state;
    assert_int_equal(vial__utf8_chars("", 0), 0);
    assert_int_equal(vial__utf8_chars("abc", 3), 3);
    const char *s = "caf\xc3\xa9 \xe2\x82\xac\xf0\x9f\x98\x80";
    assert_int_equal(vial__utf8_chars(s, strlen(s)), 7);
}

static void test_hex_round_trip(void **state)
{
    (void)state;
    unsigned char bytes[256], back[256];
    for (int i = 0; i < 256; i++)
        bytes[i] = (unsigned char)i;
    char hex[513];
    assert_int_equal(vial_hex_encode(bytes, 256, hex), 512);
    assert_int_equal(hex[512], '\0');
    assert_memory_equal(hex, "000102", 6);
    assert_memory_equal(hex + 506, "fdfeff", 6);
    assert_int_equal(vial_hex_decode(hex, 512, back, sizeof back), 256);
    assert_memory_equal(back, bytes, 256);
    /* upper case decodes too */
    unsigned char out[4];
    assert_int_equal(vial_hex_decode("DEADbeef", 8, out, 4), 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
    /* the empty string */
    assert_int_equal(vial_hex_encode("", 0, hex), 0);
    assert_string_equal(hex, "");
    assert_int_equal(vial_hex_decode("", 0, out, 0), 0);
}

static void test_hex_refusals(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(vial_hex_decode("abc", 3, out, 8), VIAL_EPARSE);  /* odd */
    assert_int_equal(vial_hex_decode("zz", 2, out, 8), VIAL_EPARSE);
    assert_int_equal(vial_hex_decode("0g", 2, out, 8), VIAL_EPARSE);
    assert_int_equal(vial_hex_decode(" 0", 2, out, 8), VIAL_EPARSE);
    assert_int_equal(vial_hex_decode("0x12", 4, out, 8), VIAL_EPARSE);
    assert_int_equal(vial_hex_decode(NULL, 0, out, 8), VIAL_EPARSE);
    assert_int_equal(vial_hex_decode("a\0", 2, out, 8), VIAL_EPARSE);
    /* too little room: refused, not truncated */
    assert_int_equal(vial_hex_decode("00112233", 8, out, 3), VIAL_ETOOBIG);
    assert_int_equal(vial_hex_decode("00112233", 8, out, 4), 4);
    /* bytes past n are not read */
    assert_int_equal(vial_hex_decode("ffzz", 2, out, 8), 1);
    assert_int_equal(out[0], 0xff);
}

static void test_b64url_known_vectors(void **state)
{
    (void)state;
    /* RFC 4648 section 10, in the URL alphabet, unpadded */
    static const char *const vec[][2] = {
        { "", "" },         { "f", "Zg" },         { "fo", "Zm8" },       { "foo", "Zm9v" },
        { "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
    };
    char enc[32];
    unsigned char dec[32];
    for (size_t i = 0; i < VIAL__ARRAY_LEN(vec); i++) {
        size_t n = strlen(vec[i][0]);
        assert_int_equal(vial_b64url_encode(vec[i][0], n, enc), strlen(vec[i][1]));
        assert_string_equal(enc, vec[i][1]);
        assert_int_equal(VIAL_B64URL_LEN(n), strlen(vec[i][1]));
        assert_int_equal(vial_b64url_decode(vec[i][1], strlen(vec[i][1]), dec, sizeof dec),
                         (ptrdiff_t)n);
        assert_memory_equal(dec, vec[i][0], n);
    }
    /* '-' and '_' where standard base64 has '+' and '/' */
    assert_int_equal(vial_b64url_encode("\xfb\xff\xbf", 3, enc), 4);
    assert_string_equal(enc, "-_-_");
}

static void test_b64url_round_trip_every_length(void **state)
{
    (void)state;
    unsigned char data[64], back[64];
    char enc[VIAL_B64URL_LEN(64) + 1];
    for (int i = 0; i < 64; i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= 64; n++) {
        size_t e = vial_b64url_encode(data, n, enc);
        assert_int_equal(e, VIAL_B64URL_LEN(n));
        assert_int_equal(enc[e], '\0');
        assert_int_equal(vial_b64url_decode(enc, e, back, n), (ptrdiff_t)n); /* exact room */
        assert_memory_equal(back, data, n);
        vial__buf b = { 0 };
        assert_int_equal(vial__b64url_encode(&b, data, n), 0);
        assert_int_equal(b.n, e);
        assert_memory_equal(b.p, enc, e);
        vial__buf d = { 0 };
        assert_int_equal(vial__b64url_decode(&d, b.p, b.n), 0);
        assert_int_equal(d.n, n);
        if (n)
            assert_memory_equal(d.p, data, n);
        vial__buf_free(&b);
        vial__buf_free(&d);
    }
}

static void test_b64url_non_canonical_refused(void **state)
{
    (void)state;
    unsigned char out[16];
    /* padding, the standard alphabet, whitespace */
    assert_int_equal(vial_b64url_decode("Zg==", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm8=", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("+/+/", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm9 ", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm9\n", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm9vZm\n\n", 8, out, 16), VIAL_EPARSE);
    /* a length no encoder produces */
    assert_int_equal(vial_b64url_decode("Z", 1, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm9vY", 5, out, 16), VIAL_EPARSE);
    /* stray low bits: "Zh" and "Zg" would both mean "f" */
    assert_int_equal(vial_b64url_decode("Zh", 2, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm9", 3, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm8", 3, out, 16), 2);
    /* NUL and high bytes */
    assert_int_equal(vial_b64url_decode("Zm\0v", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode("Zm\xc3\xa9", 4, out, 16), VIAL_EPARSE);
    assert_int_equal(vial_b64url_decode(NULL, 0, out, 16), VIAL_EPARSE);
    /* the buffer variants refuse the same */
    vial__buf b = { 0 };
    assert_int_equal(vial__b64url_decode(&b, "Zh", 2), VIAL_EPARSE);
    assert_int_equal(vial__b64url_decode(&b, "Z", 1), VIAL_EPARSE);
    assert_int_equal(vial__b64url_decode(&b, "Zg==", 4), VIAL_EPARSE);
    assert_int_equal(b.n, 0);
    vial__buf_free(&b);
}

static void test_b64url_short_buffer(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(vial_b64url_decode("Zm9vYmFy", 8, out, 5), VIAL_ETOOBIG);
    assert_int_equal(vial_b64url_decode("Zm9vYmE", 7, out, 4), VIAL_ETOOBIG);
    assert_int_equal(vial_b64url_decode("Zm9vYmE", 7, out, 5), 5);
    assert_int_equal(vial_b64url_decode("", 0, out, 0), 0);
}

static void test_b64url_appends_to_buffer(void **state)
{
    (void)state;
    vial__buf b = { 0 };
    vial__buf_puts(&b, "prefix.");
    assert_int_equal(vial__b64url_encode(&b, "foobar", 6), 0);
    vial__buf_nul(&b);
    assert_string_equal(b.p, "prefix.Zm9vYmFy");
    vial__buf d = { 0 };
    vial__buf_puts(&d, ">");
    assert_int_equal(vial__b64url_decode(&d, "Zm9v", 4), 0);
    vial__buf_nul(&d);
    assert_string_equal(d.p, ">foo");
    vial__buf_free(&b);
    vial__buf_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_streq_ci),
        cmocka_unit_test(test_strneq_ci),
        cmocka_unit_test(test_u64toa),
        cmocka_unit_test(test_hexval),
        cmocka_unit_test(test_utf8_valid_boundaries),
        cmocka_unit_test(test_utf8_count),
        cmocka_unit_test(test_utf8_overlongs),
        cmocka_unit_test(test_utf8_surrogates),
        cmocka_unit_test(test_utf8_above_max),
        cmocka_unit_test(test_utf8_truncated_and_stray),
        cmocka_unit_test(test_utf8_seq_lengths),
        cmocka_unit_test(test_utf8_chars),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_refusals),
        cmocka_unit_test(test_b64url_known_vectors),
        cmocka_unit_test(test_b64url_round_trip_every_length),
        cmocka_unit_test(test_b64url_non_canonical_refused),
        cmocka_unit_test(test_b64url_short_buffer),
        cmocka_unit_test(test_b64url_appends_to_buffer),
    };
    return RUN_GROUP(tests);
}

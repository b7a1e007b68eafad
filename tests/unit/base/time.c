/* Unit tests for src/base/time.c: RFC 3339 in, the same offset out. */
#include "unit.h"

#include <time.h>

static void roundtrip(const char *in, const char *out)
{
    vial_time t;
    assert_int_equal(vial_time_parse(in, strlen(in), INT32_MIN, &t), 0);
    char buf[40];
    size_t n = vial_time_format(t, buf);
    assert_int_equal(n, strlen(out));
    assert_string_equal(buf, out);
}

static void test_parse_format(void **state)
{
    (void)state;
    roundtrip("2018-10-18T21:37:28-06:00", "2018-10-18T21:37:28-06:00");
    roundtrip("2018-10-18T21:37:28.5+05:30", "2018-10-18T21:37:28.500000+05:30");
    roundtrip("2018-10-18T21:37:28.123456789Z", "2018-10-18T21:37:28.123456Z");
    roundtrip("2018-10-18t21:37:28z", "2018-10-18T21:37:28Z");
    roundtrip("2018-10-18 21:37:28+00:00", "2018-10-18T21:37:28Z");
    roundtrip("1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z");
    roundtrip("2000-02-29T00:00:00-23:59", "2000-02-29T00:00:00-23:59");
    roundtrip("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z");
    roundtrip("9999-12-31T23:59:59+14:00", "9999-12-31T23:59:59+14:00");
}

static void test_instants(void **state)
{
    (void)state;
    vial_time a, b;
    /* the same instant written in two offsets */
    assert_int_equal(vial_time_parse("2018-10-18T21:37:28-06:00", 25, INT32_MIN, &a), 0);
    assert_int_equal(vial_time_parse("2018-10-19T03:37:28Z", 20, INT32_MIN, &b), 0);
    assert_true(a.us == b.us);
    assert_int_equal(a.offset_s, -6 * 3600);
    assert_true(b.us == (int64_t)1539920248 * 1000000);
    assert_int_equal(vial_time_parse("1970-01-01T00:00:00Z", 20, INT32_MIN, &a), 0);
    assert_true(a.us == 0);
}

static void test_rejects(void **state)
{
    (void)state;
    static const char *bad[] = {
        "2018-10-18T21:37:28",         /* no offset */
        "2018-10-18",                  /* no time */
        "2018-13-01T00:00:00Z",        /* month */
        "2018-02-29T00:00:00Z",        /* not a leap year */
        "2018-04-31T00:00:00Z",        /* day */
        "2018-10-18T24:00:00Z",        /* hour */
        "2018-10-18T21:60:00Z",        /* minute */
        "2018-10-18T21:37:60Z",        /* leap second */
        "2018-10-18T21:37:28.Z",       /* empty fraction */
        "2018-10-18T21:37:28+0600",    /* offset without colon */
        "2018-10-18T21:37:28+24:00",   /* offset hour */
        "2018-10-18T21:37:28Zjunk",    /* trailing bytes */
        "18-10-18T21:37:28Z",          /* short year */
        "2018-10-18X21:37:28Z",        /* separator */
        "+2018-10-18T21:37:28Z",
        "",
    };
    vial_time t;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        if (vial_time_parse(bad[i], strlen(bad[i]), INT32_MIN, &t) == 0)
            print_error("accepted: %s\n", bad[i]);
        assert_int_equal(vial_time_parse(bad[i], strlen(bad[i]), INT32_MIN, &t), VIAL_EPARSE);
    }
    /* a configured default zone makes offset-less times acceptable */
    assert_int_equal(vial_time_parse("2018-10-18T21:37:28", 19, 3600, &t), 0);
    assert_int_equal(t.offset_s, 3600);
    /* length-bounded: bytes past n are not read */
    assert_int_equal(vial_time_parse("2018-10-18T21:37:28Z", 19, INT32_MIN, &t), VIAL_EPARSE);
}

static void test_now(void **state)
{
    (void)state;
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    vial_time t = vial_time_now();
    clock_gettime(CLOCK_REALTIME, &after);
    assert_int_equal(t.offset_s, 0);
    assert_true(t.us >= (int64_t)before.tv_sec * 1000000 + before.tv_nsec / 1000);
    assert_true(t.us <= (int64_t)after.tv_sec * 1000000 + after.tv_nsec / 1000);
    /* formats in UTC, and parses back to the same instant */
    char buf[40];
    size_t n = vial_time_format(t, buf);
    assert_int_equal(buf[n - 1], 'Z');
    vial_time back;
    assert_int_equal(vial_time_parse(buf, n, INT32_MIN, &back), 0);
    assert_true(back.us == t.us && back.offset_s == 0);
}

/* The digits written by hand are what printf writes: the old formatting,
 * over instants from year 0 to 9999 and every offset form. */
static void test_format_matches_printf(void **state)
{
    (void)state;
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        int64_t us = (int64_t)(x % 315537897600000000ull) - 62135596800000000ll; /* 0001..9999 */
        if (i % 3 == 0)
            us -= us % 1000000; /* whole seconds too */
        int32_t off = i % 5 == 0 ? 0 : (int32_t)((int64_t)(x >> 40) % (24 * 3600)) / 60 * 60;
        vial_time t = { us, off };
        char got[40], want[64];
        size_t n = vial_time_format(t, got);
        /* the reference: printf, as the function did before */
        int64_t local = us + (int64_t)off * 1000000, secs = local / 1000000, frac = local % 1000000;
        if (frac < 0)
            frac += 1000000, secs--;
        int64_t days = secs / 86400, rem = secs % 86400;
        if (rem < 0)
            rem += 86400, days--;
        vial_time day = { days * 86400000000ll, 0 };
        char ymd[40];
        vial_time_format(day, ymd); /* its date part only: checked against printf below */
        int yy, mm, dd;
        assert_int_equal(sscanf(ymd, "%d-%d-%d", &yy, &mm, &dd), 3);
        int k = snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02d", yy, mm, dd, (int)(rem / 3600),
                         (int)(rem / 60 % 60), (int)(rem % 60));
        if (frac)
            k += snprintf(want + k, sizeof want - (size_t)k, ".%06d", (int)frac);
        if (!off)
            snprintf(want + k, sizeof want - (size_t)k, "Z");
        else
            snprintf(want + k, sizeof want - (size_t)k, "%c%02d:%02d", off < 0 ? '-' : '+', abs(off) / 3600,
                     abs(off) / 60 % 60);
        assert_string_equal(got, want);
        assert_int_equal(n, strlen(want));
        /* and it reads back as the same instant and offset */
        vial_time back;
        assert_int_equal(vial_time_parse(got, n, INT32_MIN, &back), 0);
        assert_true(back.us == us && back.offset_s == off);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),
        cmocka_unit_test(test_instants),
        cmocka_unit_test(test_rejects),
        cmocka_unit_test(test_now),
        cmocka_unit_test(test_format_matches_printf),
    };
    return RUN_GROUP(tests);
}

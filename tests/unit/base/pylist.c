/*
 * Unit tests for src/base/pylist.c: Python list literals of strings as
 * str(list) writes them — both quotes, every escape Python knows (and an
 * unknown one kept as written), adjacent literals, whitespace and trailing
 * commas, UTF-8 passed through — and every refusal with its reason and
 * position: not a list, not a string, unterminated strings and lists,
 * text after the list, bad \x \u \U, NUL, lone surrogates, \N{...},
 * invalid UTF-8, and too many items.  Items never need more room than
 * their literal: `out` of exactly n + 1 bytes is checked with a canary.
 */
#include "unit.h"

#include <stdlib.h>

/* Parses `lit` into a buffer of exactly n + 1 bytes (plus a canary) and
 * returns the items joined with '|', or "!<why>@<at>" / "!TOOBIG". */
static char *parse(const char *lit, size_t n, size_t max)
{
    static char res[4096];
    char *out = malloc(n + 2);
    assert_non_null(out);
    out[n + 1] = '#';
    const char *items[64];
    size_t lens[64], at = 99;
    const char *why = "unset";
    int rc = vial_pylist_parse(lit, n, out, items, lens, max, &why, &at);
    assert_int_equal(out[n + 1], '#');
    if (rc == VIAL_ETOOBIG) {
        snprintf(res, sizeof res, "!TOOBIG");
    } else if (rc < 0) {
        assert_int_equal(rc, VIAL_EPARSE);
        assert_non_null(why);
        assert_true(at <= n);
        snprintf(res, sizeof res, "!%s@%zu", why, at);
    } else {
        assert_null(why);
        size_t k = 0;
        res[0] = '\0';
        for (int i = 0; i < rc; i++) {
            assert_int_equal(strlen(items[i]), lens[i]);
            k += (size_t)snprintf(res + k, sizeof res - k, "%s%s", i ? "|" : "", items[i]);
        }
        if (rc == 0)
            snprintf(res, sizeof res, "(empty)");
    }
    free(out);
    return res;
}

#define OK(lit, want) assert_string_equal(parse(lit, strlen(lit), 64), want)

static void test_lists(void **state)
{
    (void)state;
    OK("[]", "(empty)");
    OK("  [ ]  ", "(empty)");
    OK("['A']", "A");
    OK("['A', 'B']", "A|B");
    OK("['Crosby, Stills, Nash & Young', 'x']", "Crosby, Stills, Nash & Young|x");
    OK("[\"Screamin' Jay Hawkins\"]", "Screamin' Jay Hawkins");
    OK("['The \"Fabulous\" Thunderbirds']", "The \"Fabulous\" Thunderbirds");
    OK("['a',]", "a");
    OK("[\n  'a' ,\n\t'b'\n]", "a|b");
    OK("['', '']", "|");
    /* UTF-8 as it is */
    OK("['Beyoncé', '坂本龍一', 'Emoji 🎸']", "Beyoncé|坂本龍一|Emoji 🎸");
    /* adjacent literals are one string */
    OK("['a' \"b\" 'c', 'd']", "abc|d");
    /* an id list */
    OK("['3WrFJ7ztbogyGnTHbHJFl2', '0lmnQ3b1ORi5Da1z9r4xhE']", "3WrFJ7ztbogyGnTHbHJFl2|0lmnQ3b1ORi5Da1z9r4xhE");
}

static void test_escapes(void **state)
{
    (void)state;
    OK("['Rock \\'n\\' Roll \"Legends\"']", "Rock 'n' Roll \"Legends\"");
    OK("['AC\\\\DC']", "AC\\DC");
    OK("['a\\tb\\nc\\rd']", "a\tb\nc\rd");
    OK("['\\a\\b\\f\\v']", "\a\b\f\v");
    OK("['\\x41\\xe9']", "Aé");
    OK("['\\u00e9\\u6771']", "é東");
    OK("['\\U0001F3B8']", "🎸");
    OK("['\\101\\7\\777']", "A\a\xc7\xbf");
    /* a line continuation */
    OK("['ab\\\ncd']", "abcd");
    OK("['ab\\\r\ncd']", "abcd");
    /* unknown escapes stay as written, as in Python */
    OK("['\\q\\d\\ ']", "\\q\\d\\ ");
    OK("['\\\"']", "\"");
}

static void test_refusals(void **state)
{
    (void)state;
    OK("", "!not a list: no '['@0");
    OK("'a'", "!not a list: no '['@0");
    OK("['a'", "!unterminated list: no ']'@4");
    OK("['a' 'b", "!unterminated string@7");
    OK("['a'", "!unterminated list: no ']'@4");
    OK("[a]", "!an item is not a string literal@1");
    OK("[1, 'a']", "!an item is not a string literal@1");
    OK("['a', None]", "!an item is not a string literal@6");
    OK("[r'a']", "!an item is not a string literal@1");
    OK("['a' x]", "!expected ',' or ']' after an item@5");
    OK("['a'] x", "!text after the list@6");
    OK("['a'][]", "!text after the list@5");
    OK("[,]", "!an item is not a string literal@1");
    OK("['a',,]", "!an item is not a string literal@5");
    OK("['a\nb']", "!line break inside a string@3");
    OK("['\\x4']", "!\\x needs two hex digits@2");
    OK("['\\u12g4']", "!\\u needs four hex digits@2");
    OK("['\\U0010FFFF\\U00110000']", "!escape beyond U+10FFFF@12");
    OK("['\\ud800']", "!a lone surrogate is not UTF-8@2");
    OK("['\\x00']", "!NUL in a string@2");
    OK("['\\0']", "!NUL in a string@2");
    OK("['\\N{DASH}']", "!named escapes (\\N{...}) are not supported@2");
    OK("['\xff']", "!not UTF-8@2");
    OK("['\xc3']", "!not UTF-8@2");
    OK("['\\", "!unterminated string@3");
    assert_string_equal(parse("['a\0b']", 7, 64), "!NUL in a string@3");
    /* too many items */
    assert_string_equal(parse("['a', 'b', 'c']", 15, 2), "!TOOBIG");
    assert_string_equal(parse("['a', 'b']", 10, 2), "a|b");
    assert_int_equal(vial_pylist_parse(NULL, 0, NULL, NULL, NULL, 1, NULL, NULL), VIAL_EINVAL);
}

static void test_optional_outputs(void **state)
{
    (void)state;
    /* items, lens, why and at may all be NULL */
    char out[32];
    assert_int_equal(vial_pylist_parse("['x', 'yz']", 11, out, NULL, NULL, 8, NULL, NULL), 2);
    assert_memory_equal(out, "x\0yz\0", 5);
    assert_int_equal(vial_pylist_parse("[x]", 3, out, NULL, NULL, 8, NULL, NULL), VIAL_EPARSE);
}

static void test_worst_case_room(void **state)
{
    (void)state;
    /* the tightest literals: empty strings and one-character ones */
    char lit[256];
    size_t n = 0;
    lit[n++] = '[';
    for (int i = 0; i < 40; i++)
        n += (size_t)snprintf(lit + n, sizeof lit - n, "%s''", i ? "," : "");
    lit[n++] = ']';
    char *out = malloc(n + 1);
    assert_int_equal(vial_pylist_parse(lit, n, out, NULL, NULL, 64, NULL, NULL), 40);
    free(out);
    assert_string_equal(parse("['a''b''c']", 11, 8), "abc");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists),           cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_refusals),        cmocka_unit_test(test_optional_outputs),
        cmocka_unit_test(test_worst_case_room),
    };
    return RUN_GROUP(tests);
}

/*
 * pylist_fuzz.c — Python list literals of strings (src/base/pylist.c, the
 * artists and artist_ids columns of tracks_features.csv) and search words
 * (src/base/words.c, what the importer indexes them as).
 *
 * Input: byte 0 is the item limit (max, 0..255); the rest is the literal.
 * Properties checked (abort() on violation):
 *  - the result is a count within the limit, VIAL_ETOOBIG or VIAL_EPARSE
 *    with a reason and an offset inside the input; nothing else;
 *  - the items are NUL-terminated, of the length they claim, valid UTF-8
 *    without NUL, inside `out` (n + 1 bytes, an exact allocation) and in
 *    order;
 *  - the items written back as Python writes them (repr: single quotes
 *    unless the item holds one and no double quote, escapes for the
 *    backslash, the quote and control characters) parse to the same items;
 *  - vial_fold_words: never longer than its input, NUL-terminated, single
 *    spaces between words and none at either end, no upper-case ASCII, and
 *    folding the result again changes nothing.
 */
#include "base/base.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "pylist_fuzz: " __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

#define MAX_ITEMS 256

/* Parses `s` into exact allocations; returns the result, items in *items,
 * *lens (the caller frees *out). */
static int parse(const char *s, size_t n, size_t max, char **out, const char **items, size_t *lens)
{
    char *copy = malloc(n ? n : 1), *o = malloc(n + 1);
    if (!copy || !o)
        abort();
    memcpy(copy, s, n);
    const char *why = NULL;
    size_t at = (size_t)-1;
    int rc = vial_pylist_parse(copy, n, o, items, lens, max, &why, &at);
    if (rc == VIAL_EPARSE) {
        if (!why || !*why || at > n)
            die("refused without a reason or at %zu of %zu", at, n);
    } else if (rc == VIAL_ETOOBIG) {
        if (max >= MAX_ITEMS)
            die("too big under the largest limit");
    } else if (rc < 0 || (size_t)rc > max) {
        die("returned %d (max %zu)", rc, max);
    } else {
        const char *prev_end = o;
        for (int i = 0; i < rc; i++) {
            if (!items[i] || items[i] < prev_end || items[i] + lens[i] > o + n)
                die("item %d outside out or out of order", i);
            if (items[i][lens[i]] != '\0' || memchr(items[i], '\0', lens[i]))
                die("item %d: NUL inside or none after", i);
            if (!vial_utf8_valid(items[i], lens[i]))
                die("item %d: not UTF-8", i);
            prev_end = items[i] + lens[i] + 1;
        }
    }
    free(copy);
    *out = o;
    return rc;
}

static void put(vial__buf *b, const char *p, size_t n)
{
    if (vial__buf_append(b, p, n))
        abort();
}

/* repr(str) as CPython writes it, for valid UTF-8 without NUL. */
static void repr(vial__buf *b, const char *s, size_t n)
{
    char q = memchr(s, '\'', n) && !memchr(s, '"', n) ? '"' : '\'';
    put(b, &q, 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[8];
        if (c == '\\' || c == (unsigned char)q) {
            e[0] = '\\';
            e[1] = (char)c;
            put(b, e, 2);
        } else if (c == '\n' || c == '\r' || c == '\t') {
            e[0] = '\\';
            e[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            put(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(e, sizeof e, "\\x%02x", c);
            put(b, e, 4);
        } else {
            put(b, (const char *)&s[i], 1);
        }
    }
    put(b, &q, 1);
}

static void words(const char *s, size_t n)
{
    char *o = malloc(n + 1);
    if (!o)
        abort();
    size_t k = vial_fold_words(s, n, o);
    if (k > n || o[k] != '\0')
        die("fold_words: %zu bytes from %zu, or no NUL", k, n);
    if (k && (o[0] == ' ' || o[k - 1] == ' '))
        die("fold_words: a space at an end");
    for (size_t i = 0; i < k; i++) {
        if (o[i] == ' ' && o[i + 1] == ' ')
            die("fold_words: two spaces");
        if (o[i] >= 'A' && o[i] <= 'Z')
            die("fold_words: upper-case ASCII left");
        if (o[i] == '\0')
            die("fold_words: NUL inside");
    }
    char *o2 = malloc(k + 1);
    if (!o2)
        abort();
    size_t k2 = vial_fold_words(o, k, o2);
    if (k2 != k || memcmp(o, o2, k))
        die("fold_words: folding '%s' again gave '%s'", o, o2);
    free(o2);
    free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!size)
        return 0;
    size_t max = data[0];
    const char *s = (const char *)data + 1;
    size_t n = size - 1;

    const char *items[MAX_ITEMS];
    size_t lens[MAX_ITEMS];
    char *out;
    int rc = parse(s, n, max, &out, items, lens);
    if (rc >= 0) {
        /* written back as Python would, under the largest limit */
        vial__buf b = { 0 };
        put(&b, "[", 1);
        for (int i = 0; i < rc; i++) {
            if (i)
                put(&b, ", ", 2);
            repr(&b, items[i], lens[i]);
        }
        put(&b, "]", 1);
        const char *items2[MAX_ITEMS];
        size_t lens2[MAX_ITEMS];
        char *out2;
        int rc2 = parse(b.p, b.n, MAX_ITEMS, &out2, items2, lens2);
        if (rc2 != rc)
            die("written back as %.*s: %d items, not %d", (int)b.n, b.p, rc2, rc);
        for (int i = 0; i < rc; i++)
            if (lens2[i] != lens[i] || memcmp(items2[i], items[i], lens[i]))
                die("item %d written back as %.*s reads differently", i, (int)b.n, b.p);
        free(out2);
        vial__buf_free(&b);
    }
    free(out);
    words(s, n);
    return 0;
}

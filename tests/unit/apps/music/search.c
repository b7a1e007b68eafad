/*
 * Unit tests for apps/music/search.c (what a music search means): the
 * words of a query, the FTS5 query of each tier of a ranked search (the
 * string PostgreSQL's music_fts() parses too), and the search document's
 * rowid that orders a tier.  The file is included: an app's sources are
 * not in libvial.
 */
#include "unit.h"

#include "../../../../apps/music/search.c"

static void test_rowid(void **state)
{
    (void)state;
    assert_int_equal(music_doc_rowid(7, "love"), (INT64_C(1) << 32) | 7);
    assert_int_equal(music_doc_rowid(7, "love me tender"), (INT64_C(3) << 32) | 7);
    assert_int_equal(music_doc_rowid(9, ""), 9);
    /* the id keeps its 32 bits whatever the name */
    assert_int_equal(music_doc_rowid(INT64_C(0xfffffffe), "a b") & MUSIC_DOC_IDMASK, INT64_C(0xfffffffe));
    char many[1200] = "";
    for (int i = 0; i < 300; i++)
        strcat(many, i ? " w" : "w");
    assert_int_equal(music_doc_rowid(1, many) >> 32, MUSIC_DOC_MAXLEN);
    /* fewer words sort first, then the id, and every rank fits its tier's bits */
    assert_true(music_doc_rowid(1000, "love") < music_doc_rowid(1, "my love"));
    assert_true(music_doc_rowid(1, "love") < music_doc_rowid(2, "hate"));
    assert_true(music_doc_rowid(INT64_C(0xffffffff), many) < INT64_C(1) << MUSIC_TIER_SHIFT);
}

static void test_words(void **state)
{
    (void)state;
    const char *q = "  Love, NIGHT! Beyoncé ";
    char out[64];
    size_t n, used = music_search_words(q, strlen(q), out, &n);
    assert_int_equal(n, 3);
    assert_int_equal(used, strlen("love night beyonce") + 1);
    assert_string_equal(out, "love");
    assert_string_equal(out + 5, "night");
    assert_string_equal(out + 11, "beyonce");
    /* punctuation only: no words */
    assert_int_equal(music_search_words("?!", 2, out, &n), 0);
    assert_int_equal(n, 0);
    /* at most MUSIC_MAX_WORDS */
    char many[200] = "";
    for (int i = 0; i < 20; i++)
        strcat(many, "ab ");
    char big[200];
    music_search_words(many, strlen(many), big, &n);
    assert_int_equal(n, MUSIC_MAX_WORDS);
}

static const char *tier_q(int tier)
{
    static char out[512];
    static const char words[] = "love\0nig";
    return music_search_query(out, sizeof out, words, 2, tier) ? out : NULL;
}

static void test_tiers(void **state)
{
    (void)state;
    assert_string_equal(tier_q(MUSIC_TIER_ANY), "{name artists album}: (\"love\" \"nig\"*)");
    assert_string_equal(tier_q(0), "{name}: (\"love\" \"nig\")");
    assert_string_equal(tier_q(1), "{name}: (\"love\" \"nig\"*) NOT ({name}: (\"love\" \"nig\"))");
    assert_string_equal(tier_q(2), "{name artists}: (\"love\" \"nig\") NOT ({name}: (\"love\" \"nig\"*))");
    assert_string_equal(tier_q(3), "{name artists}: (\"love\" \"nig\"*) NOT ({name}: (\"love\" \"nig\"*) OR "
                                   "{name artists}: (\"love\" \"nig\"))");
    assert_string_equal(tier_q(4), "{name artists album}: (\"love\" \"nig\") NOT ({name artists}: (\"love\" \"nig\"*))");
    assert_string_equal(tier_q(5), "{name artists album}: (\"love\" \"nig\"*) NOT ({name artists}: (\"love\" \"nig\"*) OR "
                                   "{name artists album}: (\"love\" \"nig\"))");
    assert_null(tier_q(MUSIC_TIERS));
    assert_null(tier_q(-2));
}

static void test_limits(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(music_search_query(out, sizeof out, "", 0, 0), 0); /* no words */
    /* too small a buffer: 0, never a cut query */
    assert_int_equal(music_search_query(out, 10, "love", 1, 5), 0);
    /* MUSIC_SEARCH_CAP is room enough for the longest tier of the most words */
    char q[600], words[601], big[MUSIC_SEARCH_CAP(600)];
    memset(q, 'x', sizeof q);
    for (size_t i = 36; i < sizeof q; i += 37)
        q[i] = ' ';
    size_t nw, wl = music_search_words(q, sizeof q, words, &nw);
    assert_int_equal(nw, MUSIC_MAX_WORDS);
    for (int t = MUSIC_TIER_ANY; t < MUSIC_TIERS; t++)
        assert_true(music_search_query(big, MUSIC_SEARCH_CAP(wl), words, nw, t) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rowid),
        cmocka_unit_test(test_words),
        cmocka_unit_test(test_tiers),
        cmocka_unit_test(test_limits),
    };
    return RUN_GROUP(tests);
}

/*
 * search.c — what `q` means: the FTS5 queries of a search and the order of
 * its results (the same strings drive PostgreSQL's music_fts(), see the
 * migration).
 *
 * A search is its words (vial_fold_words), all of which a song must have in
 * its name, its artists' names or its album's name, the last word also as
 * a prefix ("love nig" finds "Love at Night").  Ranked, a song comes
 *   in tier 0 when the words are in its name, the last one whole;
 *   1: in its name, the last one as a prefix only;
 *   2: in its name and artists' names, the last one whole;
 *   3: the same, the last one as a prefix only;
 *   4: anywhere (the album too), the last one whole;  5: the rest;
 * and within a tier the song with fewer words in its name first ("Love"
 * before "Love Me Tender"), then the older song.
 *
 * Why tiers and not bm25: bm25 scores every match before the first page
 * can be cut (sqlite3's .timer: 141 ms for the 108,097 matches of love*
 * among 1.2M generated songs, ~1.3 µs a match).  Here the search document's rowid is the order within a tier
 * (music_doc_rowid: the name's word count above the song's id), so each
 * tier's query reads its matches in index order and stops at the page:
 * the first page of "love" reads 51 index entries, not 108,000 scores.
 * Whole-word tiers come first also because a prefix reads the index of
 * every word it starts (FTS5 merges them), a whole word one.
 */
#include "music_impl.h"

#include <stdio.h>
#include <string.h>

int64_t music_doc_rowid(int64_t song_id, const char *name_words)
{
    int64_t words = 0;
    for (const char *p = name_words; *p; p++)
        words += *p != ' ' && (p == name_words || p[-1] == ' ');
    if (words > MUSIC_DOC_MAXLEN)
        words = MUSIC_DOC_MAXLEN;
    return words << 32 | (song_id & MUSIC_DOC_IDMASK);
}

/* The columns of a match set. */
static const char *const cols[] = { "{name}", "{name artists}", "{name artists album}" };

/* Appends the words as one FTS5 phrase group: {cols}: ("w1" "w2"*). */
static void group(char *out, size_t cap, size_t *o, const char *words, size_t nwords, int col, bool prefix)
{
    size_t n = *o;
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s: (", cols[col]);
    const char *w = words;
    for (size_t i = 0; i < nwords; i++) {
        size_t wl = strlen(w);
        n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, "%s\"%s\"%s", i ? " " : "", w,
                              prefix && i + 1 == nwords ? "*" : "");
        w += wl + 1;
    }
    n += (size_t)snprintf(out + n, n < cap ? cap - n : 0, ")");
    *o = n;
}

size_t music_search_query(char *out, size_t cap, const char *words, size_t nwords, int tier)
{
    if (!nwords || tier < MUSIC_TIER_ANY || tier >= MUSIC_TIERS)
        return 0;
    size_t o = 0;
    if (tier == MUSIC_TIER_ANY) {
        group(out, cap, &o, words, nwords, 2, true);
        return o < cap ? o : 0;
    }
    /* Tier t is the set (columns t / 2, whole or prefix by t % 2) without
     * the earlier tiers' songs.  The sets nest (whole ⊂ prefix, name ⊂
     * name+artists ⊂ all), so the earlier tiers are the union of at most
     * two sets: the prefix set of the columns before, and for a prefix tier
     * the whole-word set of its own columns. */
    int col = tier / 2;
    bool prefix = tier % 2;
    group(out, cap, &o, words, nwords, col, prefix);
    if (tier > 0) {
        o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, " NOT (");
        bool any = false;
        if (col > 0) {
            group(out, cap, &o, words, nwords, col - 1, true);
            any = true;
        }
        if (prefix) {
            if (any)
                o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, " OR ");
            group(out, cap, &o, words, nwords, col, false);
        }
        o += (size_t)snprintf(out + o, o < cap ? cap - o : 0, ")");
    }
    return o < cap ? o : 0;
}

size_t music_search_words(const char *q, size_t n, char *out, size_t *nwords)
{
    size_t wn = vial_fold_words(q, n, out); /* out: n + 1 bytes, words with single spaces */
    size_t count = 0, o = 0;
    for (size_t i = 0; i < wn && count < MUSIC_MAX_WORDS;) {
        size_t e = i;
        while (e < wn && out[e] != ' ')
            e++;
        memmove(out + o, out + i, e - i);
        o += e - i;
        out[o++] = '\0';
        count++;
        i = e + 1;
    }
    *nwords = count;
    return o;
}

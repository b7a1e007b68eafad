/*
 * words.c — search words (vial_fold_words): text folded to the words a
 * search should match, lower-case, Latin letters without their diacritics,
 * separated by single spaces.
 *
 * Search needs one notion of a word that both SQLite FTS5 and PostgreSQL's
 * text search index the same way, whatever their tokenizers and the
 * database's locale would do: so the folding happens here, once, before
 * text reaches either, and the database only splits on spaces (FTS5's
 * "ascii" tokenizer, PostgreSQL's array_to_tsvector).  "Beyoncé" and
 * "BEYONCE" both become "beyonce", "Mötley Crüe" "motley crue", "AC/DC"
 * "ac dc", fullwidth "ＡＢＣ" "abc"; Greek and Cyrillic are lower-cased (and
 * Greek loses its accents); scripts without case stay as they are.
 *
 * A word is a run of letters and digits: ASCII letters and digits, and any
 * other code point except the punctuation, symbol, space and emoji blocks
 * listed in is_separator() — so a script this file knows nothing about
 * still makes words.  Combining accents, variation selectors and
 * zero-width characters vanish without splitting a word.  Invalid UTF-8
 * separates words.  The result is never longer than the input.
 */
#include "base.h"

/* Latin letters U+00C0..U+024F and U+1E00..U+1EFF as ASCII (generated with Python's
 * unicodedata: NFKD, ASCII letters kept, lower-cased; ligatures and letters without a
 * decomposition spelled out: ß ss, æ ae, ø o, ł l, þ th ...).  "": no ASCII form, the letter
 * stays; "-": not a letter (× ÷). */
static const char latin1[400][3] = {
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", "-", "o", "u", "u", "u", "u", "y", "th", "ss",
    "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
    "d", "n", "o", "o", "o", "o", "o", "-", "o", "u", "u", "u", "u", "y", "th", "y",
    "a", "a", "a", "a", "a", "a", "c", "c", "c", "c", "c", "c", "c", "c", "d", "d",
    "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "g", "g", "g", "g",
    "g", "g", "g", "g", "h", "h", "h", "h", "i", "i", "i", "i", "i", "i", "i", "i",
    "i", "i", "ij", "ij", "j", "j", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l",
    "l", "l", "l", "n", "n", "n", "n", "n", "n", "n", "ng", "ng", "o", "o", "o", "o",
    "o", "o", "oe", "oe", "r", "r", "r", "r", "r", "r", "s", "s", "s", "s", "s", "s",
    "s", "s", "t", "t", "t", "t", "t", "t", "u", "u", "u", "u", "u", "u", "u", "u",
    "u", "u", "u", "u", "w", "w", "y", "y", "y", "z", "z", "z", "z", "z", "z", "s",
    "b", "b", "", "", "", "", "o", "", "", "", "", "", "", "", "e", "e",
    "e", "f", "f", "", "", "", "i", "i", "", "", "", "", "", "", "", "",
    "o", "o", "", "", "", "", "", "", "", "", "", "", "", "", "", "u",
    "u", "", "", "", "", "z", "z", "z", "", "", "", "", "", "", "", "w",
    "", "", "", "", "dz", "dz", "dz", "lj", "lj", "lj", "nj", "nj", "nj", "a", "a", "i",
    "i", "o", "o", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "e", "a", "a",
    "a", "a", "ae", "ae", "g", "g", "g", "g", "k", "k", "o", "o", "o", "o", "z", "z",
    "j", "dz", "dz", "dz", "g", "g", "", "w", "n", "n", "a", "a", "ae", "ae", "o", "o",
    "a", "a", "a", "a", "e", "e", "e", "e", "i", "i", "i", "i", "o", "o", "o", "o",
    "r", "r", "r", "r", "u", "u", "u", "u", "s", "s", "t", "t", "y", "y", "h", "h",
    "", "", "", "", "", "", "a", "a", "e", "e", "o", "o", "o", "o", "o", "o",
    "o", "o", "y", "y", "", "", "", "", "db", "qp", "", "c", "c", "", "", "",
    "", "", "", "", "", "", "e", "e", "", "", "", "", "", "", "", "",
};
static const char latin2[256][3] = {
    "a", "a", "b", "b", "b", "b", "b", "b", "c", "c", "d", "d", "d", "d", "d", "d",
    "d", "d", "d", "d", "e", "e", "e", "e", "e", "e", "e", "e", "e", "e", "f", "f",
    "g", "g", "h", "h", "h", "h", "h", "h", "h", "h", "h", "h", "i", "i", "i", "i",
    "k", "k", "k", "k", "k", "k", "l", "l", "l", "l", "l", "l", "l", "l", "m", "m",
    "m", "m", "m", "m", "n", "n", "n", "n", "n", "n", "n", "n", "o", "o", "o", "o",
    "o", "o", "o", "o", "p", "p", "p", "p", "r", "r", "r", "r", "r", "r", "r", "r",
    "s", "s", "s", "s", "s", "s", "s", "s", "s", "s", "t", "t", "t", "t", "t", "t",
    "t", "t", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "v", "v", "v", "v",
    "w", "w", "w", "w", "w", "w", "w", "w", "w", "w", "x", "x", "x", "x", "y", "y",
    "z", "z", "z", "z", "z", "z", "h", "t", "w", "y", "a", "s", "", "", "ss", "",
    "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a", "a",
    "a", "a", "a", "a", "a", "a", "a", "a", "e", "e", "e", "e", "e", "e", "e", "e",
    "e", "e", "e", "e", "e", "e", "e", "e", "i", "i", "i", "i", "o", "o", "o", "o",
    "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o", "o",
    "o", "o", "o", "o", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u", "u",
    "u", "u", "y", "y", "y", "y", "y", "y", "y", "y", "", "", "", "", "", "",
};
/* Greek and Cyrillic letters that fold to another (lower case, accents and
 * diaeresis off; й stays й, ё becomes е), sorted by code point. */
static const uint16_t greek_cyr[][2] = {
    { 0x0370, 0x0371 }, { 0x0372, 0x0373 }, { 0x0374, 0x02b9 }, { 0x0376, 0x0377 },
    { 0x037f, 0x03f3 }, { 0x0386, 0x03b1 }, { 0x0388, 0x03b5 }, { 0x0389, 0x03b7 },
    { 0x038a, 0x03b9 }, { 0x038c, 0x03bf }, { 0x038e, 0x03c5 }, { 0x038f, 0x03c9 },
    { 0x0390, 0x03b9 }, { 0x0391, 0x03b1 }, { 0x0392, 0x03b2 }, { 0x0393, 0x03b3 },
    { 0x0394, 0x03b4 }, { 0x0395, 0x03b5 }, { 0x0396, 0x03b6 }, { 0x0397, 0x03b7 },
    { 0x0398, 0x03b8 }, { 0x0399, 0x03b9 }, { 0x039a, 0x03ba }, { 0x039b, 0x03bb },
    { 0x039c, 0x03bc }, { 0x039d, 0x03bd }, { 0x039e, 0x03be }, { 0x039f, 0x03bf },
    { 0x03a0, 0x03c0 }, { 0x03a1, 0x03c1 }, { 0x03a3, 0x03c3 }, { 0x03a4, 0x03c4 },
    { 0x03a5, 0x03c5 }, { 0x03a6, 0x03c6 }, { 0x03a7, 0x03c7 }, { 0x03a8, 0x03c8 },
    { 0x03a9, 0x03c9 }, { 0x03aa, 0x03b9 }, { 0x03ab, 0x03c5 }, { 0x03ac, 0x03b1 },
    { 0x03ad, 0x03b5 }, { 0x03ae, 0x03b7 }, { 0x03af, 0x03b9 }, { 0x03b0, 0x03c5 },
    { 0x03c2, 0x03c3 }, { 0x03ca, 0x03b9 }, { 0x03cb, 0x03c5 }, { 0x03cc, 0x03bf },
    { 0x03cd, 0x03c5 }, { 0x03ce, 0x03c9 }, { 0x03cf, 0x03d7 }, { 0x03d3, 0x03d2 },
    { 0x03d4, 0x03d2 }, { 0x03d8, 0x03d9 }, { 0x03da, 0x03db }, { 0x03dc, 0x03dd },
    { 0x03de, 0x03df }, { 0x03e0, 0x03e1 }, { 0x03e2, 0x03e3 }, { 0x03e4, 0x03e5 },
    { 0x03e6, 0x03e7 }, { 0x03e8, 0x03e9 }, { 0x03ea, 0x03eb }, { 0x03ec, 0x03ed },
    { 0x03ee, 0x03ef }, { 0x03f4, 0x03b8 }, { 0x03f7, 0x03f8 }, { 0x03f9, 0x03f2 },
    { 0x03fa, 0x03fb }, { 0x03fd, 0x037b }, { 0x03fe, 0x037c }, { 0x03ff, 0x037d },
    { 0x0400, 0x0435 }, { 0x0401, 0x0435 }, { 0x0402, 0x0452 }, { 0x0403, 0x0433 },
    { 0x0404, 0x0454 }, { 0x0405, 0x0455 }, { 0x0406, 0x0456 }, { 0x0407, 0x0456 },
    { 0x0408, 0x0458 }, { 0x0409, 0x0459 }, { 0x040a, 0x045a }, { 0x040b, 0x045b },
    { 0x040c, 0x043a }, { 0x040d, 0x0438 }, { 0x040e, 0x0443 }, { 0x040f, 0x045f },
    { 0x0410, 0x0430 }, { 0x0411, 0x0431 }, { 0x0412, 0x0432 }, { 0x0413, 0x0433 },
    { 0x0414, 0x0434 }, { 0x0415, 0x0435 }, { 0x0416, 0x0436 }, { 0x0417, 0x0437 },
    { 0x0418, 0x0438 }, { 0x0419, 0x0439 }, { 0x041a, 0x043a }, { 0x041b, 0x043b },
    { 0x041c, 0x043c }, { 0x041d, 0x043d }, { 0x041e, 0x043e }, { 0x041f, 0x043f },
    { 0x0420, 0x0440 }, { 0x0421, 0x0441 }, { 0x0422, 0x0442 }, { 0x0423, 0x0443 },
    { 0x0424, 0x0444 }, { 0x0425, 0x0445 }, { 0x0426, 0x0446 }, { 0x0427, 0x0447 },
    { 0x0428, 0x0448 }, { 0x0429, 0x0449 }, { 0x042a, 0x044a }, { 0x042b, 0x044b },
    { 0x042c, 0x044c }, { 0x042d, 0x044d }, { 0x042e, 0x044e }, { 0x042f, 0x044f },
    { 0x0450, 0x0435 }, { 0x0451, 0x0435 }, { 0x0453, 0x0433 }, { 0x0457, 0x0456 },
    { 0x045c, 0x043a }, { 0x045d, 0x0438 }, { 0x045e, 0x0443 }, { 0x0460, 0x0461 },
    { 0x0462, 0x0463 }, { 0x0464, 0x0465 }, { 0x0466, 0x0467 }, { 0x0468, 0x0469 },
    { 0x046a, 0x046b }, { 0x046c, 0x046d }, { 0x046e, 0x046f }, { 0x0470, 0x0471 },
    { 0x0472, 0x0473 }, { 0x0474, 0x0475 }, { 0x0476, 0x0475 }, { 0x0477, 0x0475 },
    { 0x0478, 0x0479 }, { 0x047a, 0x047b }, { 0x047c, 0x047d }, { 0x047e, 0x047f },
    { 0x0480, 0x0481 }, { 0x048a, 0x048b }, { 0x048c, 0x048d }, { 0x048e, 0x048f },
    { 0x0490, 0x0491 }, { 0x0492, 0x0493 }, { 0x0494, 0x0495 }, { 0x0496, 0x0497 },
    { 0x0498, 0x0499 }, { 0x049a, 0x049b }, { 0x049c, 0x049d }, { 0x049e, 0x049f },
    { 0x04a0, 0x04a1 }, { 0x04a2, 0x04a3 }, { 0x04a4, 0x04a5 }, { 0x04a6, 0x04a7 },
    { 0x04a8, 0x04a9 }, { 0x04aa, 0x04ab }, { 0x04ac, 0x04ad }, { 0x04ae, 0x04af },
    { 0x04b0, 0x04b1 }, { 0x04b2, 0x04b3 }, { 0x04b4, 0x04b5 }, { 0x04b6, 0x04b7 },
    { 0x04b8, 0x04b9 }, { 0x04ba, 0x04bb }, { 0x04bc, 0x04bd }, { 0x04be, 0x04bf },
    { 0x04c0, 0x04cf }, { 0x04c1, 0x0436 }, { 0x04c2, 0x0436 }, { 0x04c3, 0x04c4 },
    { 0x04c5, 0x04c6 }, { 0x04c7, 0x04c8 }, { 0x04c9, 0x04ca }, { 0x04cb, 0x04cc },
    { 0x04cd, 0x04ce }, { 0x04d0, 0x0430 }, { 0x04d1, 0x0430 }, { 0x04d2, 0x0430 },
    { 0x04d3, 0x0430 }, { 0x04d4, 0x04d5 }, { 0x04d6, 0x0435 }, { 0x04d7, 0x0435 },
    { 0x04d8, 0x04d9 }, { 0x04da, 0x04d9 }, { 0x04db, 0x04d9 }, { 0x04dc, 0x0436 },
    { 0x04dd, 0x0436 }, { 0x04de, 0x0437 }, { 0x04df, 0x0437 }, { 0x04e0, 0x04e1 },
    { 0x04e2, 0x0438 }, { 0x04e3, 0x0438 }, { 0x04e4, 0x0438 }, { 0x04e5, 0x0438 },
    { 0x04e6, 0x043e }, { 0x04e7, 0x043e }, { 0x04e8, 0x04e9 }, { 0x04ea, 0x04e9 },
    { 0x04eb, 0x04e9 }, { 0x04ec, 0x044d }, { 0x04ed, 0x044d }, { 0x04ee, 0x0443 },
    { 0x04ef, 0x0443 }, { 0x04f0, 0x0443 }, { 0x04f1, 0x0443 }, { 0x04f2, 0x0443 },
    { 0x04f3, 0x0443 }, { 0x04f4, 0x0447 }, { 0x04f5, 0x0447 }, { 0x04f6, 0x04f7 },
    { 0x04f8, 0x044b }, { 0x04f9, 0x044b }, { 0x04fa, 0x04fb }, { 0x04fc, 0x04fd },
    { 0x04fe, 0x04ff },
};

/* What a code point becomes: SEP splits words, DROP vanishes, KEEP stays. */
enum { KEEP, SEP, DROP };

static int kind(uint32_t cp)
{
    if (cp < 0x80)
        return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') ? KEEP : SEP;
    if (cp < 0xc0 || cp == 0xd7 || cp == 0xf7)
        return SEP; /* C1 controls, Latin-1 punctuation and symbols, × ÷ */
    if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x1ab0 && cp <= 0x1aff) || (cp >= 0x1dc0 && cp <= 0x1dff) ||
        (cp >= 0x20d0 && cp <= 0x20ff) || (cp >= 0xfe20 && cp <= 0xfe2f))
        return DROP; /* combining marks */
    if ((cp >= 0x200b && cp <= 0x200f) || (cp >= 0x2060 && cp <= 0x2064) || cp == 0xfeff ||
        (cp >= 0xfe00 && cp <= 0xfe0f) || (cp >= 0xe0000 && cp <= 0xe01ef))
        return DROP; /* zero-width, joiners, variation selectors, tags */
    if ((cp >= 0x2b0 && cp <= 0x2ff) ||     /* spacing modifier letters (ˈ ʻ) */
        (cp >= 0x2000 && cp <= 0x2bff) ||   /* punctuation, symbols, arrows, math, shapes, dingbats */
        (cp >= 0x2e00 && cp <= 0x2e7f) ||   /* supplemental punctuation */
        (cp >= 0x3000 && cp <= 0x303f) ||   /* CJK symbols and punctuation */
        cp == 0x30a0 || cp == 0x30fb ||     /* katakana double hyphen, middle dot */
        (cp >= 0xfe10 && cp <= 0xfe1f) || (cp >= 0xfe30 && cp <= 0xfe6f) ||
        (cp >= 0xff00 && cp <= 0xff0f) || (cp >= 0xff1a && cp <= 0xff20) ||
        (cp >= 0xff3b && cp <= 0xff40) || (cp >= 0xff5b && cp <= 0xff65) ||
        (cp >= 0xfff0 && cp <= 0xffff) ||   /* specials */
        (cp >= 0x1f000 && cp <= 0x1faff))   /* emoji, playing cards, symbols */
        return SEP;
    return KEEP;
}

static size_t put_utf8(uint32_t cp, char *o)
{
    unsigned char *p = (unsigned char *)o;
    if (cp < 0x800) {
        p[0] = (unsigned char)(0xc0 | cp >> 6);
        p[1] = (unsigned char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (unsigned char)(0xe0 | cp >> 12);
        p[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        p[2] = (unsigned char)(0x80 | (cp & 0x3f));
        return 3;
    }
    p[0] = (unsigned char)(0xf0 | cp >> 18);
    p[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
    p[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
    p[3] = (unsigned char)(0x80 | (cp & 0x3f));
    return 4;
}

static uint32_t greek_cyr_fold(uint32_t cp)
{
    size_t lo = 0, hi = VIAL__ARRAY_LEN(greek_cyr);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (greek_cyr[mid][0] == cp)
            return greek_cyr[mid][1];
        if (greek_cyr[mid][0] < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return cp;
}

size_t vial_fold_words(const char *s, size_t n, char *out)
{
    if (!s || !out) {
        if (out)
            *out = '\0';
        return 0;
    }
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    char *o = out;
    bool gap = false; /* a separator since the last word character */
    while (p < e) {
        uint32_t cp;
        size_t k = 1;
        if (*p < 0x80) {
            cp = *p;
        } else if ((k = vial__utf8_seq(p, e)) == 0) {
            k = 1;
            gap = true; /* invalid UTF-8: a separator */
            p++;
            continue;
        } else {
            cp = k == 2 ? (uint32_t)(p[0] & 0x1f) << 6 | (p[1] & 0x3f)
               : k == 3 ? (uint32_t)(p[0] & 0x0f) << 12 | (uint32_t)(p[1] & 0x3f) << 6 | (p[2] & 0x3f)
                        : (uint32_t)(p[0] & 0x07) << 18 | (uint32_t)(p[1] & 0x3f) << 12 |
                              (uint32_t)(p[2] & 0x3f) << 6 | (p[3] & 0x3f);
        }
        p += k;
        int what = kind(cp);
        if (what == DROP)
            continue;
        if (what == SEP) {
            gap = true;
            continue;
        }
        /* The folded form: ASCII text, or one code point. */
        const char *ascii = NULL;
        if (cp >= 0xc0 && cp < 0x250)
            ascii = latin1[cp - 0xc0];
        else if (cp >= 0x1e00 && cp < 0x1f00)
            ascii = latin2[cp - 0x1e00];
        else if (cp >= 0xff10 && cp <= 0xff5a)
            cp -= 0xfee0; /* fullwidth digits and letters: ASCII */
        else if (cp >= 0x370 && cp < 0x500)
            cp = greek_cyr_fold(cp);
        if (ascii && !*ascii)
            ascii = NULL; /* a Latin letter without an ASCII form: itself */
        /* A fold can land on a separator (U+0374 Greek numeral sign is
         * canonically U+02B9, a modifier letter): judged as its folded form,
         * so folding the output again changes nothing. */
        if (!ascii && (what = kind(cp)) != KEEP) {
            gap |= what == SEP;
            continue;
        }
        if (ascii && !strcmp(ascii, "-")) {
            gap = true;
            continue;
        }
        if (gap && o > out)
            *o++ = ' ';
        gap = false;
        if (ascii) {
            for (; *ascii; ascii++)
                *o++ = *ascii;
        } else if (cp < 0x80) {
            *o++ = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
        } else {
            o += put_utf8(cp, o);
        }
    }
    *o = '\0';
    return (size_t)(o - out);
}

/*
 * Unit tests for src/rt/ws_frame.c: frame headers (7-, 16- and 64-bit
 * lengths, lengths not in their shortest form, the top bit), unmasking at
 * every offset, close codes, the incremental UTF-8 validator (failing at
 * the first bad byte, across pieces), and the reader against every rule a
 * client can break — each stream fed whole, split at every byte position
 * and byte by byte, with the same outcome every time (the Autobahn
 * categories 1-7 and 9 as our own cases).
 */
#include "unit.h"
#include "rt/rt.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ building client frames */

typedef struct stream {
    unsigned char *p;
    size_t n, cap;
} stream;

static void put(stream *s, const void *d, size_t n)
{
    if (s->n + n > s->cap) {
        s->cap = (s->n + n) * 2 + 64;
        s->p = realloc(s->p, s->cap);
        assert_non_null(s->p);
    }
    memcpy(s->p + s->n, d, n);
    s->n += n;
}

/* A frame as a client sends it: b0 is FIN|RSV|opcode; `lenform` 0 picks
 * the shortest length form, 2 or 8 forces that one (non-minimal). */
static void frame_x(stream *s, unsigned b0, const void *payload, size_t len, bool masked, int lenform)
{
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)b0;
    unsigned m = masked ? 0x80 : 0;
    if (lenform == 8 || (lenform == 0 && len > 0xffff)) {
        h[1] = (unsigned char)(m | 127);
        for (int k = 0; k < 8; k++)
            h[2 + k] = (unsigned char)((uint64_t)len >> (56 - 8 * k));
        hl = 10;
    } else if (lenform == 2 || (lenform == 0 && len > 125)) {
        h[1] = (unsigned char)(m | 126);
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        hl = 4;
    } else {
        h[1] = (unsigned char)(m | len);
    }
    static const uint8_t mask[4] = { 0x37, 0xfa, 0x21, 0x3d };
    if (masked) {
        memcpy(h + hl, mask, 4);
        hl += 4;
    }
    put(s, h, hl);
    unsigned char *p = malloc(len + 1);
    memcpy(p, payload, len);
    if (masked)
        for (size_t i = 0; i < len; i++)
            p[i] ^= mask[i & 3];
    put(s, p, len);
    free(p);
}

static void frame(stream *s, unsigned b0, const void *payload, size_t len)
{
    frame_x(s, b0, payload, len, true, 0);
}

static void text(stream *s, const char *t)
{
    frame(s, 0x81, t, strlen(t));
}

static void close_frame(stream *s, int code, const char *reason, size_t rlen)
{
    unsigned char p[130];
    size_t n = 0;
    if (code >= 0) {
        p[0] = (unsigned char)(code >> 8);
        p[1] = (unsigned char)code;
        n = 2;
        memcpy(p + 2, reason, rlen);
        n += rlen;
    }
    frame(s, 0x88, p, n);
}

/* ------------------------------------------------------------------ running the reader */

typedef struct transcript {
    vial__buf t;
    int stop_after; /* stop the reader after this many messages (0: never) */
    int messages;
} transcript;

static int on_message(void *ud, int op, char *data, size_t len)
{
    transcript *tr = ud;
    assert_int_equal(data[len], 0);
    vial__buf_printf(&tr->t, "%s%zu:", op == VIAL__WS_TEXT ? "T" : "B", len);
    vial__buf_append(&tr->t, data, len < 40 ? len : 40);
    vial__buf_puts(&tr->t, "|");
    tr->messages++;
    return tr->stop_after && tr->messages >= tr->stop_after;
}

static int on_control(void *ud, int op, const char *data, size_t len, unsigned code)
{
    transcript *tr = ud;
    if (op == VIAL__WS_CLOSE)
        vial__buf_printf(&tr->t, "C%u:", code);
    else
        vial__buf_puts(&tr->t, op == VIAL__WS_PING ? "PING:" : "PONG:");
    vial__buf_append(&tr->t, data, len);
    vial__buf_puts(&tr->t, "|");
    return 0;
}

static const vial__wsr_ops ops = { on_message, on_control, NULL };

/* Feeds `s` in the pieces `cuts` says (ascending offsets), each piece a
 * malloc'd copy of exactly its size (ASan sees any read past it);
 * returns the transcript ending in "=<result>". */
static char *run_cuts(const stream *s, const size_t *cuts, size_t ncuts, uint64_t max, int stop_after)
{
    vial__pool pool = { .max = 8 };
    transcript tr = { { 0 }, stop_after, 0 };
    vial__wsr r;
    vial__wsr_init(&r, &ops, &tr, max, &pool);
    int rc = 0;
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : s->n;
        if (end < at)
            continue;
        char *piece = malloc(end - at + 1);
        memcpy(piece, s->p + at, end - at);
        rc = vial__wsr_feed(&r, piece, end - at);
        free(piece);
        at = end;
    }
    vial__buf_printf(&tr.t, "=%d", rc);
    vial__buf_nul(&tr.t);
    vial__wsr_free(&r);
    vial__pool_drain(&pool);
    return tr.t.p;
}

/* Feeds `s` whole, then split at every position, then byte by byte;
 * asserts one outcome and returns it (free it). */
static char *run(const stream *s, uint64_t max)
{
    char *whole = run_cuts(s, NULL, 0, max, 0);
    /* every position of small streams; of large ones, ~2000 spread over it
     * (quadratic otherwise) */
    size_t stride = s->n / 2000 + 1;
    for (size_t c = 0; c <= s->n; c += (c < 64 || s->n - c < 64) ? 1 : stride) {
        char *o = run_cuts(s, &c, 1, max, 0);
        if (strcmp(o, whole))
            fail_msg("split at %zu: %s\nwhole: %s", c, o, whole);
        free(o);
    }
    size_t *cuts = malloc((s->n + 1) * sizeof *cuts);
    for (size_t c = 0; c <= s->n; c++)
        cuts[c] = c;
    char *o = run_cuts(s, cuts, s->n + 1, max, 0);
    if (strcmp(o, whole))
        fail_msg("byte by byte: %s\nwhole: %s", o, whole);
    free(o);
    free(cuts);
    return whole;
}

static void expect_run(stream *s, uint64_t max, const char *want)
{
    char *got = run(s, max);
    if (strcmp(got, want))
        fail_msg("got  %s\nwant %s", got, want);
    free(got);
    free(s->p);
    memset(s, 0, sizeof *s);
}

/* ------------------------------------------------------------------ headers */

static void test_header_lengths(void **state)
{
    (void)state;
    static const uint64_t lens[] = { 0, 1, 125, 126, 127, 0xffff, 0x10000, UINT64_C(1) << 40 };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        unsigned char h[10];
        size_t hl = vial__wsf_head(h, VIAL__WS_BINARY, i & 1, lens[i]);
        assert_int_equal(hl, lens[i] < 126 ? 2 : lens[i] <= 0xffff ? 4 : 10);
        /* a server header reads back (unmasked: the reader would refuse
         * it, the parser itself does not judge) */
        for (size_t n = 0; n < hl; n++) {
            unsigned char *cut = malloc(n ? n : 1);
            memcpy(cut, h, n);
            vial__wsf f;
            assert_int_equal(vial__wsf_parse(cut, n, &f), 0); /* more needed, nothing read past n */
            free(cut);
        }
        vial__wsf f;
        assert_int_equal(vial__wsf_parse(h, hl, &f), (int)hl);
        assert_true(f.fin);
        assert_int_equal(f.op, VIAL__WS_BINARY);
        assert_int_equal(f.rsv, (i & 1) ? 4 : 0);
        assert_false(f.masked);
        assert_true(f.len == lens[i]);
    }
}

static void test_header_not_minimal(void **state)
{
    (void)state;
    /* 16-bit form for 125 bytes, 64-bit form for 0xffff: 1002 */
    unsigned char a[] = { 0x82, 0xfe, 0x00, 0x7d, 1, 2, 3, 4 };
    unsigned char b[] = { 0x82, 0xff, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4 };
    unsigned char c[] = { 0x82, 0xff, 0x80, 0, 0, 0, 0, 1, 0, 0, 1, 2, 3, 4 }; /* top bit */
    unsigned char d[] = { 0x82, 0xfe, 0x00, 0x7e, 1, 2, 3, 4 };               /* 126: fine */
    vial__wsf f;
    assert_int_equal(vial__wsf_parse(a, sizeof a, &f), -1002);
    assert_int_equal(vial__wsf_parse(b, sizeof b, &f), -1002);
    assert_int_equal(vial__wsf_parse(c, sizeof c, &f), -1002);
    assert_int_equal(vial__wsf_parse(d, sizeof d, &f), 8);
    assert_true(f.masked);
    assert_int_equal(f.len, 126);
    assert_memory_equal(f.mask, "\1\2\3\4", 4);
}

static void test_unmask(void **state)
{
    (void)state;
    const uint8_t mask[4] = { 0xa1, 0x02, 0xf3, 0x44 };
    unsigned char src[100], dst[100], inplace[100];
    for (size_t i = 0; i < sizeof src; i++)
        src[i] = (unsigned char)(i * 7 + 1);
    for (uint64_t off = 0; off < 9; off++) {
        for (size_t n = 0; n <= sizeof src; n++) {
            vial__ws_unmask(dst, src, n, mask, off);
            memcpy(inplace, src, n);
            vial__ws_unmask(inplace, inplace, n, mask, off);
            for (size_t i = 0; i < n; i++)
                assert_int_equal(dst[i], src[i] ^ mask[(off + i) & 3]);
            assert_memory_equal(dst, inplace, n);
        }
    }
}

static void test_close_codes(void **state)
{
    (void)state;
    static const unsigned ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013,
                                   1014, 3000, 3999, 4000, 4999 };
    static const unsigned bad[] = { 0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000,
                                    65535 };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        assert_true(vial__ws_close_code_ok(ok[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(vial__ws_close_code_ok(bad[i]));
}

/* ------------------------------------------------------------------ UTF-8 */

/* The index of the byte at which validation fails (fed one at a time),
 * n when it does not fail, n + 1 when valid so far but incomplete. */
static size_t utf8_fail_at(const char *s, size_t n)
{
    uint32_t st = 0;
    for (size_t i = 0; i < n; i++)
        if (vial__utf8_feed(&st, (const unsigned char *)s + i, 1))
            return i;
    return st ? n + 1 : n;
}

static void test_utf8(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t fail; /* SIZE_MAX: valid */
    } cases[] = {
        { "hello", SIZE_MAX },
        { "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5", SIZE_MAX }, /* κόσμε */
        { "\xf0\x90\x80\x80 \xf4\x8f\xbf\xbf \xef\xbf\xbf", SIZE_MAX },
        { "\xed\x9f\xbf \xee\x80\x80", SIZE_MAX },                   /* around the surrogates */
        { "\xc0\xaf", 0 },                                           /* overlong '/' */
        { "\xc1\xbf", 0 },
        { "\xe0\x80\xaf", 1 },                                       /* overlong, 3 bytes */
        { "\xf0\x80\x80\xaf", 1 },                                   /* overlong, 4 bytes */
        { "\xed\xa0\x80", 1 },                                       /* U+D800 */
        { "\xed\xbf\xbf", 1 },                                       /* U+DFFF */
        { "\xf4\x90\x80\x80", 1 },                                   /* U+110000: fails at 0x90 */
        { "\xf5\x80\x80\x80", 0 },
        { "\xff", 0 },
        { "ab\x80", 2 },                                             /* stray continuation */
        { "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited", 12 }, /* Autobahn 6.4.x */
        { "\xe1\x41", 1 },                                           /* continuation missing */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n = strlen(cases[i].s);
        size_t want = cases[i].fail == SIZE_MAX ? n : cases[i].fail;
        assert_int_equal(utf8_fail_at(cases[i].s, n), want);
        /* whole: the same verdict */
        uint32_t st = 0;
        int r = vial__utf8_feed(&st, (const unsigned char *)cases[i].s, n);
        assert_int_equal(r == 0 && st == 0, cases[i].fail == SIZE_MAX);
        assert_int_equal(r == 0 && st == 0, vial_utf8_valid(cases[i].s, n));
    }
    /* truncated sequences are incomplete, not invalid, until more comes */
    assert_int_equal(utf8_fail_at("\xe2\x82", 2), 3);
    assert_int_equal(utf8_fail_at("\xf0\x9f\x98", 3), 4);
    /* once failed, it stays failed */
    uint32_t st = 0;
    assert_int_equal(vial__utf8_feed(&st, (const unsigned char *)"\xff", 1), -1);
    assert_int_equal(vial__utf8_feed(&st, (const unsigned char *)"a", 1), -1);
    /* random bytes: the same verdict as vial_utf8_valid, whole or split */
    srand(7);
    for (int t = 0; t < 20000; t++) {
        unsigned char b[24];
        size_t n = (size_t)(rand() % 24);
        for (size_t i = 0; i < n; i++) {
            int k = rand() % 4;
            b[i] = (unsigned char)(k == 0 ? rand() % 0x80 : k == 1 ? 0x80 + rand() % 0x40 : rand());
        }
        bool valid = vial_utf8_valid((const char *)b, n);
        size_t cut = n ? (size_t)rand() % n : 0;
        st = 0;
        int r = vial__utf8_feed(&st, b, cut);
        if (!r)
            r = vial__utf8_feed(&st, b + cut, n - cut);
        assert_int_equal(r == 0 && st == 0, valid);
    }
}

/* ------------------------------------------------------------------ the reader */

static void test_messages(void **state)
{
    (void)state;
    stream s = { 0 };
    /* Autobahn 1.x: text and binary of every length form, empty included */
    text(&s, "Hello");
    frame(&s, 0x82, "\x7f\x01\xff", 3);
    frame(&s, 0x81, "", 0);
    char big[70000];
    memset(big, 'x', sizeof big);
    frame(&s, 0x82, big, 126);
    frame(&s, 0x81, big, 65535);
    frame(&s, 0x82, big, 65536);
    expect_run(&s, 1 << 20,
               "T5:Hello|B3:\x7f\x01\xff|T0:|B126:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|"
               "T65535:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|"
               "B65536:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx|=0");
}

static void test_fragments_and_control(void **state)
{
    (void)state;
    stream s = { 0 };
    /* Autobahn 5.x: fragments, pings between them, empty fragments */
    frame(&s, 0x01, "fra", 3);
    frame(&s, 0x89, "ping!", 5);
    frame(&s, 0x00, "", 0);
    frame(&s, 0x00, "gme", 3);
    frame(&s, 0x8a, "unsolicited", 11);
    frame(&s, 0x80, "nted", 4);
    frame(&s, 0x02, "b1", 2);
    frame(&s, 0x80, "b2", 2);
    frame(&s, 0x89, "", 0);
    char p125[125];
    memset(p125, 'p', sizeof p125);
    frame(&s, 0x89, p125, 125);
    expect_run(&s, 1 << 20,
               "PING:ping!|PONG:unsolicited|T10:fragmented|B4:b1b2|PING:|PING:"
               "ppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp"
               "pppppppppppppppppppppppppppppppppppppppppp|=0");
}

static void test_violations(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        int kind;
        const char *want;
    } cases[] = {
        { "unmasked", 1, "=1002" },
        { "rsv1 without deflate", 2, "=1002" },
        { "rsv2", 3, "=1002" },
        { "rsv3 on a ping", 4, "=1002" },
        { "opcode 3", 5, "=1002" },
        { "opcode 0xb", 6, "=1002" },
        { "fragmented ping", 7, "=1002" },
        { "ping of 126 bytes", 8, "=1002" },
        { "continuation first", 9, "=1002" },
        { "text inside a fragmented message", 10, "=1002" },
        { "16-bit length for 5 bytes", 11, "=1002" },
        { "64-bit length for 200 bytes", 12, "=1002" },
        { "close of one byte", 13, "=1002" },
        { "rsv on a continuation", 14, "=1002" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        stream s = { 0 };
        text(&s, "ok");
        char p200[200] = { 0 };
        switch (cases[i].kind) {
        case 1: frame_x(&s, 0x81, "x", 1, false, 0); break;
        case 2: frame(&s, 0xc1, "x", 1); break;
        case 3: frame(&s, 0xa1, "x", 1); break;
        case 4: frame(&s, 0x99, "", 0); break;
        case 5: frame(&s, 0x83, "", 0); break;
        case 6: frame(&s, 0x8b, "", 0); break;
        case 7: frame(&s, 0x09, "", 0); break;
        case 8: frame(&s, 0x89, p200, 126); break;
        case 9: frame(&s, 0x80, "x", 1); break;
        case 10: frame(&s, 0x01, "a", 1); text(&s, "b"); break;
        case 11: frame_x(&s, 0x81, "hello", 5, true, 2); break;
        case 12: frame_x(&s, 0x82, p200, 200, true, 8); break;
        case 13: frame(&s, 0x88, "\x03", 1); break;
        case 14: frame(&s, 0x01, "a", 1); frame(&s, 0xc0, "b", 1); break;
        }
        text(&s, "never");
        char want[64];
        snprintf(want, sizeof want, "T2:ok|%s", cases[i].want);
        char *got = run(&s, 1 << 20);
        if (strcmp(got, want))
            fail_msg("%s: got %s, want %s", cases[i].name, got, want);
        free(got);
        free(s.p);
    }
}

static void test_close(void **state)
{
    (void)state;
    stream s = { 0 };
    close_frame(&s, 1000, "bye", 3);
    text(&s, "after the close: never read");
    frame_x(&s, 0x81, "x", 1, false, 0); /* not even a violation counts after it */
    expect_run(&s, 1 << 20, "C1000:bye|=1");
    close_frame(&s, -1, NULL, 0);
    expect_run(&s, 1 << 20, "C1005:|=1");
    static const int valid[] = { 1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999 };
    for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
        close_frame(&s, valid[i], "", 0);
        char want[32];
        snprintf(want, sizeof want, "C%d:|=1", valid[i]);
        expect_run(&s, 1 << 20, want);
    }
    static const int invalid[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535 };
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
        close_frame(&s, invalid[i], "", 0);
        expect_run(&s, 1 << 20, "=1002");
    }
    /* a reason of invalid UTF-8: 1007; of 123 bytes: fine */
    close_frame(&s, 1000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80", 14);
    expect_run(&s, 1 << 20, "=1007");
    char r123[123];
    memset(r123, 'r', sizeof r123);
    close_frame(&s, 1001, r123, 123);
    char *got = run(&s, 1 << 20);
    assert_int_equal(strlen(got), strlen("C1001:|=1") + 123);
    free(got);
    free(s.p);
}

static void test_utf8_messages(void **state)
{
    (void)state;
    stream s = { 0 };
    /* Autobahn 6.x: valid text split inside a character across fragments */
    frame(&s, 0x01, "\xce", 1);
    frame(&s, 0x00, "\xba\xe1", 2);
    frame(&s, 0x80, "\xbd\xb9", 2);
    expect_run(&s, 1 << 20, "T5:\xce\xba\xe1\xbd\xb9|=0");
    /* invalid in the first fragment: fails there, before the rest */
    frame(&s, 0x01, "ok\xed\xa0\x80", 5);
    frame(&s, 0x80, "more", 4);
    expect_run(&s, 1 << 20, "=1007");
    /* a sequence completed wrongly in a later fragment */
    frame(&s, 0x01, "a\xf4", 2);
    frame(&s, 0x80, "\x90\x80\x80", 3);
    expect_run(&s, 1 << 20, "=1007");
    /* a message ending inside a character */
    frame(&s, 0x81, "abc\xe2\x82", 5);
    expect_run(&s, 1 << 20, "=1007");
    /* binary is not checked */
    frame(&s, 0x82, "\xff\xfe", 2);
    expect_run(&s, 1 << 20, "B2:\xff\xfe|=0");
}

static void test_fail_fast(void **state)
{
    (void)state;
    /* The verdict comes with the byte that decides it, not at the end of
     * the frame: feed a 1000-byte text frame whose 3rd payload byte is bad,
     * without the rest. */
    stream s = { 0 };
    char p[1000];
    memset(p, 'a', sizeof p);
    p[2] = (char)0xff;
    frame(&s, 0x81, p, sizeof p);
    vial__wsr r;
    transcript tr = { { 0 }, 0, 0 };
    vial__wsr_init(&r, &ops, &tr, 1 << 20, NULL);
    assert_int_equal(vial__wsr_feed(&r, (const char *)s.p, 8 + 2), 0);
    assert_int_equal(vial__wsr_feed(&r, (const char *)s.p + 10, 1), 1007);
    assert_non_null(r.why);
    vial__wsr_free(&r);
    vial__buf_free(&tr.t);
    free(s.p);
    /* an announced length over the limit fails at the header, before any
     * payload byte arrives */
    s = (stream){ 0 };
    unsigned char h[] = { 0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4 };
    put(&s, h, sizeof h);
    vial__wsr_init(&r, &ops, &tr, 1 << 20, NULL);
    assert_int_equal(vial__wsr_feed(&r, (const char *)s.p, s.n), 1009);
    assert_null(r.msg.p); /* nothing was buffered */
    vial__wsr_free(&r);
    free(s.p);
}

static void test_limit(void **state)
{
    (void)state;
    stream s = { 0 };
    char p[300];
    memset(p, 'z', sizeof p);
    /* exactly at the limit: fine; one byte over: 1009 */
    frame(&s, 0x82, p, 256);
    expect_run(&s, 256, "B256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz|=0");
    frame(&s, 0x82, p, 257);
    expect_run(&s, 256, "=1009");
    /* fragments whose running total passes the limit: 1009 at the header
     * of the fragment that would pass it */
    frame(&s, 0x02, p, 200);
    frame(&s, 0x00, p, 56);
    frame(&s, 0x80, p, 1);
    expect_run(&s, 256, "=1009");
    frame(&s, 0x02, p, 200);
    frame(&s, 0x80, p, 56);
    text(&s, "next");
    expect_run(&s, 256, "B256:zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz|T4:next|=0");
}

static void test_stop(void **state)
{
    (void)state;
    stream s = { 0 };
    text(&s, "one");
    text(&s, "two");
    char *o = run_cuts(&s, NULL, 0, 1 << 20, 1);
    assert_string_equal(o, "T3:one|=1");
    free(o);
    free(s.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_lengths),
        cmocka_unit_test(test_header_not_minimal),
        cmocka_unit_test(test_unmask),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_messages),
        cmocka_unit_test(test_fragments_and_control),
        cmocka_unit_test(test_violations),
        cmocka_unit_test(test_close),
        cmocka_unit_test(test_utf8_messages),
        cmocka_unit_test(test_fail_fast),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_stop),
    };
    return RUN_GROUP(tests);
}

/*
 * Unit tests for src/rt/ws_deflate.c: permessage-deflate negotiation
 * (RFC 7692 section 7: parameters, duplicates, values, declining an offer
 * for the next one, no context takeover asked for whatever the offer),
 * compressing and inflating with and without context takeover, inflating
 * in pieces of every size, corrupt data, the decompression-bomb limit,
 * and compressed frames through the frame reader (split anywhere, text
 * checked after inflating, fragments, the limit).
 */
#include "unit.h"
#include "rt/rt.h"

#include <stdlib.h>
#include <zlib.h>

static int nego(const char *offers, bool takeover, vial__wsd_params *p, char *resp)
{
    memset(p, 0, sizeof *p);
    resp[0] = 0;
    return vial__wsd_negotiate(offers, takeover, p, resp, 160);
}

static void test_negotiate(void **state)
{
    (void)state;
    vial__wsd_params p;
    char r[160];
    assert_int_equal(nego("permessage-deflate", true, &p, r), 1);
    assert_string_equal(r, "permessage-deflate");
    assert_false(p.server_no_takeover);
    assert_false(p.client_no_takeover);
    assert_int_equal(p.server_bits, 15);
    /* without takeover the server asks for none, both ways, offered or not */
    assert_int_equal(nego("permessage-deflate; client_max_window_bits", false, &p, r), 1);
    assert_string_equal(r, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    assert_true(p.server_no_takeover && p.client_no_takeover);
    /* what the client asks for is granted and said back */
    assert_int_equal(nego("permessage-deflate; server_no_context_takeover; client_no_context_takeover",
                          true, &p, r), 1);
    assert_string_equal(r, "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    assert_int_equal(nego("permessage-deflate; server_max_window_bits=10", true, &p, r), 1);
    assert_string_equal(r, "permessage-deflate; server_max_window_bits=10");
    assert_int_equal(p.server_bits, 10);
    assert_int_equal(nego("PerMessage-Deflate ; Server_Max_Window_Bits = \"12\"", true, &p, r), 1);
    assert_int_equal(p.server_bits, 12);
    /* 8 cannot be honoured by zlib: that offer is declined, the next taken */
    assert_int_equal(nego("permessage-deflate; server_max_window_bits=8, permessage-deflate", true, &p, r), 1);
    assert_string_equal(r, "permessage-deflate");
    assert_int_equal(p.server_bits, 15);
    assert_int_equal(nego("permessage-deflate; server_max_window_bits=8", true, &p, r), 0);
    /* other extensions and their parameters are read past */
    assert_int_equal(nego("x-webkit-deflate-frame; no_context_takeover, foo; a=\"b,c\"; d, "
                          "permessage-deflate; client_max_window_bits=9", true, &p, r), 1);
    assert_string_equal(r, "permessage-deflate");
    /* invalid offers are declined */
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits",      /* a value is required */
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=08",
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=7",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
        "permessage-deflate; mystery",
        "permessage-deflate;;",
        "permessage-deflate; a=\"unterminated",
        "deflate",
        "",
        ",,,",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (nego(bad[i], true, &p, r) != 0)
            fail_msg("accepted %s", bad[i]);
    assert_int_equal(vial__wsd_negotiate(NULL, true, &p, r, sizeof r), 0);
}

/* ------------------------------------------------------------------ zlib streams */

static void fill(unsigned char *b, size_t n, unsigned seed)
{
    /* compressible but not trivially: words from a small alphabet */
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = (unsigned char)("the quick brown fox jumps over lazy dogs "[(seed >> 16) % 41]);
    }
}

static void test_round_trip(void **state)
{
    (void)state;
    for (int takeover = 0; takeover < 2; takeover++) {
        vial__wsz *d = vial__wsz_deflater(15), *inf = vial__wsz_inflater();
        assert_non_null(d);
        assert_non_null(inf);
        for (unsigned m = 0; m < 20; m++) {
            size_t n = m == 0 ? 0 : (size_t)(m * m * 397);
            unsigned char *msg = malloc(n + 1);
            fill(msg, n, m);
            vial__buf z = { 0 }, out = { 0 };
            assert_int_equal(vial__wsz_deflate(d, msg, n, &z), 0);
            /* RFC 7692: the 00 00 ff ff tail is not on the wire */
            assert_false(z.n >= 4 && !memcmp(z.p + z.n - 4, "\x00\x00\xff\xff", 4));
            /* inflate in pieces of varying size */
            size_t piece = 1 + m % 7;
            for (size_t off = 0; off < z.n; off += piece)
                assert_int_equal(vial__wsz_inflate(inf, z.p + off, z.n - off < piece ? z.n - off : piece,
                                                   false, &out, 1 << 20), 0);
            assert_int_equal(vial__wsz_inflate(inf, NULL, 0, true, &out, 1 << 20), 0);
            assert_int_equal(out.n, n);
            if (n)
                assert_memory_equal(out.p, msg, n);
            if (!takeover) {
                vial__wsz_reset(d);
                vial__wsz_reset(inf);
            }
            vial__buf_free(&z);
            vial__buf_free(&out);
            free(msg);
        }
        vial__wsz_free(d);
        vial__wsz_free(inf);
    }
    /* no deflater with a window zlib cannot make */
    assert_null(vial__wsz_deflater(8));
    assert_null(vial__wsz_deflater(16));
    vial__wsz *d9 = vial__wsz_deflater(9);
    assert_non_null(d9);
    vial__wsz_free(d9);
}

/* Compresses n bytes with zlib directly (raw deflate, sync flush, the tail
 * dropped), as a client would. */
static vial__buf compress_raw(const void *data, size_t n, int level)
{
    z_stream z = { 0 };
    assert_int_equal(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    vial__buf b = { 0 };
    vial__buf_reserve(&b, deflateBound(&z, n) + 64);
    z.next_in = (unsigned char *)data;
    z.avail_in = (uInt)n;
    z.next_out = (unsigned char *)b.p;
    z.avail_out = (uInt)(b.cap - 1);
    assert_int_equal(deflate(&z, Z_SYNC_FLUSH), Z_OK);
    b.n = b.cap - 1 - z.avail_out;
    deflateEnd(&z);
    assert_true(b.n >= 4);
    b.n -= 4;
    return b;
}

static void test_bomb(void **state)
{
    (void)state;
    /* 16 MiB of zeros compress to ~16 KiB; the limit is 1 MiB */
    size_t n = 16u << 20;
    unsigned char *zeros = calloc(1, n);
    vial__buf z = compress_raw(zeros, n, 9);
    free(zeros);
    assert_true(z.n < 64 * 1024);
    vial__wsz *inf = vial__wsz_inflater();
    vial__buf out = { 0 };
    int rc = 0;
    for (size_t off = 0; off < z.n && !rc; off += 1000)
        rc = vial__wsz_inflate(inf, z.p + off, z.n - off < 1000 ? z.n - off : 1000, false, &out, 1 << 20);
    assert_int_equal(rc, 1009);
    /* it stopped at the limit: at most one byte past it was made */
    assert_true(out.n <= (1u << 20) + 1);
    assert_true(out.cap <= (2u << 20) + 64);
    vial__buf_free(&out);
    vial__wsz_free(inf);
    vial__buf_free(&z);
    /* exactly at the limit: fine */
    unsigned char m[5000];
    fill(m, sizeof m, 3);
    z = compress_raw(m, sizeof m, 6);
    inf = vial__wsz_inflater();
    assert_int_equal(vial__wsz_inflate(inf, z.p, z.n, true, &out, sizeof m), 0);
    assert_int_equal(out.n, sizeof m);
    vial__wsz_reset(inf);
    out.n = 0;
    assert_int_equal(vial__wsz_inflate(inf, z.p, z.n, true, &out, sizeof m - 1), 1009);
    vial__buf_free(&out);
    vial__wsz_free(inf);
    vial__buf_free(&z);
}

static void test_corrupt(void **state)
{
    (void)state;
    vial__wsz *inf = vial__wsz_inflater();
    vial__buf out = { 0 };
    /* block type 3 is reserved */
    assert_int_equal(vial__wsz_inflate(inf, "\xff\xff\xff", 3, true, &out, 1 << 20), 1007);
    vial__buf_free(&out);
    vial__wsz_free(inf);
    /* a final block (BFINAL) ends the client's stream; the next message starts a new one */
    z_stream zs = { 0 };
    deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    unsigned char buf[256];
    zs.next_in = (unsigned char *)"final";
    zs.avail_in = 5;
    zs.next_out = buf;
    zs.avail_out = sizeof buf;
    assert_int_equal(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t fn = sizeof buf - zs.avail_out;
    deflateEnd(&zs);
    inf = vial__wsz_inflater();
    for (int i = 0; i < 2; i++) {
        out = (vial__buf){ 0 };
        assert_int_equal(vial__wsz_inflate(inf, (char *)buf, fn, true, &out, 100), 0);
        assert_int_equal(out.n, 5);
        assert_memory_equal(out.p, "final", 5);
        vial__buf_free(&out);
    }
    vial__wsz_free(inf);
}

/* ------------------------------------------------------------------ compressed frames through the reader */

typedef struct rdr {
    vial__wsz *inf;
    vial__buf t;
} rdr;

static int r_message(void *ud, int op, char *data, size_t len)
{
    rdr *x = ud;
    vial__buf_printf(&x->t, "%c%zu:", op == VIAL__WS_TEXT ? 'T' : 'B', len);
    vial__buf_append(&x->t, data, len < 24 ? len : 24);
    vial__buf_puts(&x->t, "|");
    return 0;
}

static int r_control(void *ud, int op, const char *data, size_t len, unsigned code)
{
    rdr *x = ud;
    vial__buf_printf(&x->t, "ctl%d/%u:", op, code);
    vial__buf_append(&x->t, data, len);
    vial__buf_puts(&x->t, "|");
    return 0;
}

static int r_inflate(void *ud, const char *in, size_t n, bool fin, vial__buf *out, uint64_t limit)
{
    rdr *x = ud;
    return vial__wsz_inflate(x->inf, in, n, fin, out, limit);
}

static const vial__wsr_ops rops = { r_message, r_control, r_inflate };

static void put_frame(vial__buf *s, unsigned b0, const void *p, size_t n)
{
    static const uint8_t mask[4] = { 9, 0x80, 0x7f, 0xee };
    unsigned char h[14];
    size_t hl = 2;
    h[0] = (unsigned char)b0;
    if (n > 0xffff) {
        h[1] = 0x80 | 127;
        for (int k = 0; k < 8; k++)
            h[2 + k] = (unsigned char)((uint64_t)n >> (56 - 8 * k));
        hl = 10;
    } else if (n > 125) {
        h[1] = 0x80 | 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = (unsigned char)(0x80 | n);
    }
    memcpy(h + hl, mask, 4);
    vial__buf_append(s, h, hl + 4);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)(((const unsigned char *)p)[i] ^ mask[i & 3]);
        vial__buf_append(s, &c, 1);
    }
}

static char *read_stream(const vial__buf *s, size_t cut, uint64_t max)
{
    rdr x = { vial__wsz_inflater(), { 0 } };
    vial__wsr r;
    vial__wsr_init(&r, &rops, &x, max, NULL);
    char *a = malloc(cut + 1), *b = malloc(s->n - cut + 1);
    memcpy(a, s->p, cut);
    memcpy(b, s->p + cut, s->n - cut);
    int rc = vial__wsr_feed(&r, a, cut);
    if (!rc)
        rc = vial__wsr_feed(&r, b, s->n - cut);
    free(a);
    free(b);
    vial__buf_printf(&x.t, "=%d", rc);
    vial__buf_nul(&x.t);
    vial__wsr_free(&r);
    vial__wsz_free(x.inf);
    return x.t.p;
}

static void expect_stream(vial__buf *s, uint64_t max, const char *want)
{
    for (size_t cut = 0; cut <= s->n; cut++) {
        char *got = read_stream(s, cut, max);
        if (strcmp(got, want))
            fail_msg("split at %zu: got %s, want %s", cut, got, want);
        free(got);
    }
    vial__buf_free(s);
}

static void test_reader_compressed(void **state)
{
    (void)state;
    vial__buf s = { 0 };
    /* context taken over: the second message refers to the first */
    z_stream zs = { 0 };
    deflateInit2(&zs, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
    const char *msgs[] = { "Hello, compressed world", "Hello, compressed world again", "" };
    for (int i = 0; i < 3; i++) {
        unsigned char out[256];
        zs.next_in = (unsigned char *)msgs[i];
        zs.avail_in = (uInt)strlen(msgs[i]);
        zs.next_out = out;
        zs.avail_out = sizeof out;
        deflate(&zs, Z_SYNC_FLUSH);
        size_t n = sizeof out - zs.avail_out;
        n = n >= 4 ? n - 4 : 0; /* a flush with nothing new makes nothing: an empty payload */
        put_frame(&s, 0xc1, out, n);
        if (i == 0)
            put_frame(&s, 0x89, "p", 1); /* a ping between messages */
    }
    deflateEnd(&zs);
    /* an uncompressed message between compressed ones */
    put_frame(&s, 0x82, "raw", 3);
    expect_stream(&s, 1 << 20,
                  "T23:Hello, compressed world|ctl9/0:p|T29:Hello, compressed world |T0:|B3:raw|=0");

    /* a compressed message in fragments: RSV1 on the first only */
    unsigned char big[3000];
    fill(big, sizeof big, 11);
    vial__buf z = compress_raw(big, sizeof big, 6);
    size_t third = z.n / 3;
    put_frame(&s, 0x41, z.p, third);
    put_frame(&s, 0x00, z.p + third, third);
    put_frame(&s, 0x80, z.p + 2 * third, z.n - 2 * third);
    char want[64];
    snprintf(want, sizeof want, "T3000:%.24s|=0", (char *)big);
    expect_stream(&s, 1 << 20, want);
    /* RSV1 on a continuation: 1002 */
    put_frame(&s, 0x41, z.p, third);
    put_frame(&s, 0xc0, z.p + third, z.n - third);
    expect_stream(&s, 1 << 20, "=1002");
    /* over the limit once inflated: 1009 */
    put_frame(&s, 0xc1, z.p, z.n);
    expect_stream(&s, 2999, "=1009");
    vial__buf_free(&z);
    /* invalid UTF-8 appears only after inflating: 1007 */
    z = compress_raw("ok \xed\xa0\x80 surrogate", 16, 6);
    put_frame(&s, 0xc1, z.p, z.n);
    expect_stream(&s, 1 << 20, "=1007");
    vial__buf_free(&z);
    /* invalid UTF-8 before the limit wins over the limit, however the
     * compressed bytes are split (found by fuzz/ws_frame_fuzz.c: read
     * whole, one inflate call passed the limit before the text was checked) */
    char bad[4000];
    memset(bad, 'a', sizeof bad);
    bad[3] = (char)0xff;
    z = compress_raw(bad, sizeof bad, 6);
    put_frame(&s, 0xc1, z.p, z.n);
    expect_stream(&s, 100, "=1007");
    vial__buf_free(&z);
    /* corrupt compressed data: 1007 */
    put_frame(&s, 0xc2, "\xff\xff\xff\xff", 4);
    expect_stream(&s, 1 << 20, "=1007");
    /* RSV2 stays reserved even with deflate */
    put_frame(&s, 0xe1, "x", 1);
    expect_stream(&s, 1 << 20, "=1002");
}

static void test_reader_bomb(void **state)
{
    (void)state;
    size_t n = 8u << 20;
    unsigned char *zeros = calloc(1, n);
    vial__buf z = compress_raw(zeros, n, 9);
    free(zeros);
    vial__buf s = { 0 };
    put_frame(&s, 0xc2, z.p, z.n);
    vial__buf_free(&z);
    rdr x = { vial__wsz_inflater(), { 0 } };
    vial__wsr r;
    vial__wsr_init(&r, &rops, &x, 1 << 20, NULL);
    assert_int_equal(vial__wsr_feed(&r, s.p, s.n), 1009);
    assert_true(r.msg.n <= (1u << 20) + 1);
    vial__wsr_free(&r);
    vial__wsz_free(x.inf);
    vial__buf_free(&x.t);
    vial__buf_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_bomb),
        cmocka_unit_test(test_corrupt),
        cmocka_unit_test(test_reader_compressed),
        cmocka_unit_test(test_reader_bomb),
    };
    return RUN_GROUP(tests);
}

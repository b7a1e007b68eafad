/*
 * Unit tests for src/rt/sha1.c: FIPS 180 test vectors, agreement with
 * OpenSSL's SHA-1 for every length around the block and padding
 * boundaries and for input fed in pieces of every size (the accept key
 * built on it is tested in ws.c).
 */
#include "unit.h"
#include "rt/rt.h"

#include <openssl/sha.h>
#include <stdlib.h>

static void hex(const unsigned char *d, char out[41])
{
    for (int i = 0; i < 20; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void test_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } v[] = {
        { "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
        { "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
        { "The quick brown fox jumps over the lazy dog",
          "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12" },
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        unsigned char d[20];
        char h[41];
        vial__sha1_digest(v[i].in, strlen(v[i].in), d);
        hex(d, h);
        assert_string_equal(h, v[i].out);
    }
    /* a million 'a' (FIPS 180-2 appendix A.3), in pieces */
    vial__sha1 s;
    vial__sha1_init(&s);
    char a[1000];
    memset(a, 'a', sizeof a);
    for (int i = 0; i < 1000; i++)
        vial__sha1_update(&s, a, sizeof a);
    unsigned char d[20];
    char h[41];
    vial__sha1_final(&s, d);
    hex(d, h);
    assert_string_equal(h, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

static void test_against_openssl(void **state)
{
    (void)state;
    unsigned char buf[300];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    /* every length through four blocks: 55/56/63/64 are the padding edges */
    for (size_t n = 0; n <= sizeof buf; n++) {
        unsigned char ours[20], theirs[20];
        vial__sha1_digest(buf, n, ours);
        SHA1(buf, n, theirs);
        assert_memory_equal(ours, theirs, 20);
        /* the same bytes fed in pieces of every size */
        for (size_t piece = 1; piece <= 70 && n; piece += 3) {
            vial__sha1 s;
            vial__sha1_init(&s);
            for (size_t off = 0; off < n; off += piece)
                vial__sha1_update(&s, buf + off, n - off < piece ? n - off : piece);
            vial__sha1_final(&s, ours);
            assert_memory_equal(ours, theirs, 20);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_against_openssl),
    };
    return RUN_GROUP(tests);
}

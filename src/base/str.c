/*
 * str.c — small string codecs every layer needs once: error messages,
 * ASCII case-insensitive compares, integer formatting, UTF-8 validation,
 * base64url and hex.
 *
 * Each codec exists exactly here; the JSON reader, the schema checks, the
 * auth module's tokens and cookies, the pagination cursors and the apps all
 * call these.  Decoders are strict (one canonical spelling per value) and
 * never read past the end of their input.
 */
#include "base.h"

const char *vial_strerror(int err)
{
    switch (err) {
    case 0: return "success";
#define VIAL__ERRNO_STR(name, val, msg) case val: return msg;
    VIAL_ERRNO_MAP(VIAL__ERRNO_STR)
#undef VIAL__ERRNO_STR
    default: return "unknown error";
    }
}

static inline int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool vial__streq_ci(const char *a, size_t an, const char *b)
{
    size_t i = 0;
    for (; i < an; i++) {
        if (!b[i] || lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    }
    return b[i] == '\0';
}

bool vial__strneq_ci(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return false;
    return true;
}

size_t vial__u64toa(uint64_t v, char *out)
{
    char tmp[21];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return n;
}

/* ------------------------------------------------------------------ UTF-8 */

size_t vial__utf8_seq(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if ((size_t)(e - p) < n || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if ((p[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

int vial_utf8_valid(const char *s, size_t n)
{
    if (!s)
        return 0;
    const unsigned char *p = (const unsigned char *)s, *e = p + n;
    while (p < e) {
        if (*p < 0x80) {
            p++;
            continue;
        }
        size_t k = vial__utf8_seq(p, e);
        if (!k)
            return 0;
        p += k;
    }
    return 1;
}

int64_t vial_utf8_count(const char *s, size_t n)
{
    return vial_utf8_valid(s, n) ? (int64_t)vial__utf8_chars(s, n) : VIAL_EINVAL;
}

size_t vial__utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

/* ------------------------------------------------------------------ hex */

int vial__hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t vial_hex_encode(const void *data, size_t n, char *out)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex[p[i] >> 4];
        out[2 * i + 1] = hex[p[i] & 15];
    }
    out[2 * n] = '\0';
    return 2 * n;
}

ptrdiff_t vial_hex_decode(const char *s, size_t n, void *out, size_t cap)
{
    if (!s || n % 2)
        return VIAL_EPARSE;
    if (n / 2 > cap)
        return VIAL_ETOOBIG;
    unsigned char *o = out;
    for (size_t i = 0; i < n; i += 2) {
        int hi = vial__hexval((unsigned char)s[i]), lo = vial__hexval((unsigned char)s[i + 1]);
        if (hi < 0 || lo < 0)
            return VIAL_EPARSE;
        o[i / 2] = (unsigned char)(hi << 4 | lo);
    }
    return (ptrdiff_t)(n / 2);
}

/* ------------------------------------------------------------------ base64url (RFC 4648 section 5, no padding) */

static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Each base64url character's value + 1; 0 for everything else. */
static const unsigned char b64u_val[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15,
    ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22,
    ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29,
    ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42, ['q'] = 43,
    ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48, ['w'] = 49, ['x'] = 50,
    ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57,
    ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['-'] = 63, ['_'] = 64,
};

size_t vial_b64url_encode(const void *data, size_t n, char *out)
{
    const unsigned char *p = data;
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[v >> 12 & 63];
        out[o++] = b64u[v >> 6 & 63];
        out[o++] = b64u[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[v >> 12 & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64u[v >> 18];
        out[o++] = b64u[v >> 12 & 63];
        out[o++] = b64u[v >> 6 & 63];
    }
    out[o] = '\0';
    return o;
}

/* The decoded size of n base64url characters (n % 4 != 1). */
static size_t b64url_size(size_t n)
{
    return n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
}

/* Strict: the base64url alphabet, no padding, no stray bits.  Writes
 * b64url_size(n) bytes to `out`; -1 when `s` is not canonical base64url. */
static int b64url_decode_to(const char *s, size_t n, unsigned char *out)
{
    const unsigned char *u = (const unsigned char *)s;
    if (n % 4 == 1)
        return -1;
    size_t i = 0;
    for (; i + 4 <= n; i += 4) {
        unsigned a = b64u_val[u[i]], b = b64u_val[u[i + 1]], c = b64u_val[u[i + 2]],
                 d = b64u_val[u[i + 3]];
        if (!a || !b || !c || !d)
            return -1;
        uint32_t v = (uint32_t)(a - 1) << 18 | (uint32_t)(b - 1) << 12 | (uint32_t)(c - 1) << 6 |
                     (d - 1);
        *out++ = (unsigned char)(v >> 16);
        *out++ = (unsigned char)(v >> 8);
        *out++ = (unsigned char)v;
    }
    size_t r = n - i; /* 0, 2 or 3 characters left: 1 or 2 bytes */
    if (r) {
        unsigned a = b64u_val[u[i]], b = b64u_val[u[i + 1]], c = r == 3 ? b64u_val[u[i + 2]] : 1;
        if (!a || !b || !c)
            return -1;
        uint32_t v = (uint32_t)(a - 1) << 18 | (uint32_t)(b - 1) << 12 | (uint32_t)(c - 1) << 6;
        *out++ = (unsigned char)(v >> 16);
        if (r == 3)
            *out = (unsigned char)(v >> 8);
        if (v & (r == 3 ? 0xffu : 0xffffu))
            return -1; /* non-canonical trailing bits */
    }
    return 0;
}

ptrdiff_t vial_b64url_decode(const char *s, size_t n, void *out, size_t cap)
{
    if (!s || n % 4 == 1)
        return VIAL_EPARSE;
    if (b64url_size(n) > cap)
        return VIAL_ETOOBIG;
    if (b64url_decode_to(s, n, out))
        return VIAL_EPARSE;
    return (ptrdiff_t)b64url_size(n);
}

int vial__b64url_encode(vial__buf *out, const void *data, size_t n)
{
    if (vial__buf_reserve(out, VIAL_B64URL_LEN(n) + 1))
        return VIAL_ENOMEM;
    out->n += vial_b64url_encode(data, n, out->p + out->n);
    return 0;
}

int vial__b64url_decode(vial__buf *out, const char *s, size_t n)
{
    if (n % 4 == 1)
        return VIAL_EPARSE;
    size_t len = b64url_size(n);
    if (vial__buf_reserve(out, len + 1))
        return VIAL_ENOMEM;
    if (b64url_decode_to(s, n, (unsigned char *)out->p + out->n))
        return VIAL_EPARSE;
    out->n += len;
    return 0;
}

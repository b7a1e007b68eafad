/*
 * url.c — percent-decoding and -encoding, query strings, cookies.
 *
 * Decoding never trusts the input: a '%' not followed by two hex digits is
 * an error (the caller answers 400), never a read past the end.
 */
#include "base.h"

ptrdiff_t vial_url_decode(const char *s, size_t n, char *out, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3)
                return VIAL_EPARSE;
            int hi = vial__hexval((unsigned char)s[i + 1]), lo = vial__hexval((unsigned char)s[i + 2]);
            if (hi < 0 || lo < 0)
                return VIAL_EPARSE;
            out[o++] = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out[o++] = ' ';
        } else {
            out[o++] = c;
        }
    }
    out[o] = '\0';
    return (ptrdiff_t)o;
}

/* Unreserved characters of RFC 3986 section 2.3. */
static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters allowed unencoded in a path segment (pchar minus unreserved). */
static bool seg_safe(unsigned char c)
{
    return unreserved(c) || c == '!' || c == '$' || c == '&' || c == '\'' || c == '(' ||
           c == ')' || c == '*' || c == '+' || c == ',' || c == ';' || c == '=' || c == ':' ||
           c == '@';
}

/* mode 0: query component (unreserved only), 1: path segment, 2: path (keeps '/'). */
int vial__url_encode_into(vial__buf *out, const char *s, size_t n, int mode)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = vial__buf_reserve(out, n * 3);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bool keep = mode == 0 ? unreserved(c) : (seg_safe(c) || (mode == 2 && c == '/'));
        if (keep) {
            out->p[out->n++] = (char)c;
        } else {
            out->p[out->n++] = '%';
            out->p[out->n++] = hex[c >> 4];
            out->p[out->n++] = hex[c & 15];
        }
    }
    return 0;
}

/*
 * Splits "a=1&b=&c&a=2" into decoded pairs in the arena.  A key without '='
 * has the value "".  Pairs whose escapes are malformed are skipped rather
 * than failing the whole request (browsers send such URLs; Werkzeug is
 * equally lenient).
 */
int vial__parse_query(vial__arena *a, const char *q, size_t n, vial__arg **out, size_t *nout)
{
    size_t count = n ? 1 : 0;
    for (size_t i = 0; i < n; i++)
        count += q[i] == '&' || q[i] == ';';
    vial__arg *args = count ? vial__arena_alloc(a, count * sizeof *args) : NULL;
    if (count && !args)
        return VIAL_ENOMEM;
    size_t k = 0, i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && q[j] != '&' && q[j] != ';')
            j++;
        if (j > i) {
            const char *eq = memchr(q + i, '=', j - i);
            size_t kn = eq ? (size_t)(eq - (q + i)) : j - i;
            const char *v = eq ? eq + 1 : q + j;
            size_t vn = eq ? (size_t)(q + j - v) : 0;
            char *kd = vial__arena_alloc(a, kn + 1), *vd = vial__arena_alloc(a, vn + 1);
            if (!kd || !vd)
                return VIAL_ENOMEM;
            if (vial_url_decode(q + i, kn, kd, 1) >= 0 && vial_url_decode(v, vn, vd, 1) >= 0) {
                args[k].name = kd;
                args[k].value = vd;
                k++;
            }
        }
        i = j + 1;
    }
    *out = args;
    *nout = k;
    return 0;
}

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/*
 * Finds cookie `name` in a Cookie header ("a=b; c=\"d\"").  Returns the value
 * (quotes removed) as a slice, or p == NULL.  The first occurrence wins, as
 * browsers send the most specific path first.
 */
vial__str vial__cookie_find(const char *h, size_t n, const char *name)
{
    size_t nl = strlen(name);
    size_t i = 0;
    while (i < n) {
        while (i < n && (is_ows(h[i]) || h[i] == ';'))
            i++;
        size_t ks = i;
        while (i < n && h[i] != '=' && h[i] != ';')
            i++;
        size_t ke = i;
        while (ke > ks && is_ows(h[ke - 1]))
            ke--;
        if (i >= n || h[i] != '=') {
            continue;
        }
        i++; /* '=' */
        while (i < n && is_ows(h[i]))
            i++;
        size_t vs = i;
        while (i < n && h[i] != ';')
            i++;
        size_t ve = i;
        while (ve > vs && is_ows(h[ve - 1]))
            ve--;
        if (ve - vs >= 2 && h[vs] == '"' && h[ve - 1] == '"') {
            vs++;
            ve--;
        }
        if (ke - ks == nl && memcmp(h + ks, name, nl) == 0)
            return (vial__str){ h + vs, ve - vs };
    }
    return (vial__str){ NULL, 0 };
}

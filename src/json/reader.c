/*
 * reader.c — the pull JSON reader (vial_jr): walks a document value by
 * value without building a tree.
 *
 * Why not jansson for this: a 10,000-action log body is ~1.2 MB and turns
 * into ~100,000 jansson objects, each a malloc and a hash table, only to be
 * read once and thrown away.  The reader validates the same grammar (RFC
 * 8259, UTF-8, no lone surrogates) in one pass and hands strings over as
 * spans of the text itself; only strings with escapes are decoded, into the
 * arena.
 *
 * State is small: the position, one bit per open container (object or
 * array), whether the current container has had a member yet, and whether
 * a value is due next.  A value the caller does not read is skipped when it
 * moves on, so "read what you care about" is the whole contract.
 */
#include "json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* Bytes that can appear in a string as they are: everything but '"', '\\',
 * controls, and non-ASCII (which is validated as UTF-8 on the slow path). */
static const uint8_t plain[256] = {
#define R4(x) x, x, x, x
#define R16(x) R4(x), R4(x), R4(x), R4(x)
    R16(0), R16(0),                          /* 0x00-0x1f */
    1, 1, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x20-0x2f: '"' */
    R16(1),                                  /* 0x30-0x3f */
    R16(1),                                  /* 0x40-0x4f */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 1, /* 0x50-0x5f: '\\' */
    R16(1), R16(1),                          /* 0x60-0x7f */
    R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0), R16(0),
#undef R16
#undef R4
};

static void fail(vial_jr *r, const char *at, const char *why)
{
    if (!r->err) {
        r->err = why;
        r->err_at = at;
    }
}

static inline const char *ws(vial_jr *r)
{
    const char *p = r->p, *e = r->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    r->p = p;
    return p;
}

static inline bool top_is_object(const vial_jr *r)
{
    unsigned d = r->depth - 1;
    return (r->stack[d / 64] >> (d % 64)) & 1;
}

static bool push(vial_jr *r, bool object)
{
    if (r->depth >= VIAL__JR_MAX_DEPTH) {
        fail(r, r->p, "nested too deeply");
        return false;
    }
    unsigned d = r->depth++;
    uint64_t bit = (uint64_t)1 << (d % 64);
    r->stack[d / 64] = object ? r->stack[d / 64] | bit : r->stack[d / 64] & ~bit;
    return true;
}

static bool hex4(const char *p, const char *e, unsigned *out)
{
    if (e - p < 4)
        return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = vial__hexval((unsigned char)p[i]);
        if (h < 0)
            return false;
        v = v << 4 | (unsigned)h;
    }
    *out = v;
    return true;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A \u escape at p (pointing at 'u'): the code point and the bytes it took,
 * pairing surrogates; false for bad hex or a lone surrogate. */
static bool unicode_escape(const char *p, const char *e, unsigned *cp, size_t *used)
{
    unsigned hi, lo;
    if (!hex4(p + 1, e, &hi))
        return false;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return false;
    if (hi < 0xd800 || hi > 0xdbff) {
        *cp = hi;
        *used = 5;
        return true;
    }
    if (e - p < 11 || p[5] != '\\' || p[6] != 'u' || !hex4(p + 7, e, &lo) || lo < 0xdc00 || lo > 0xdfff)
        return false;
    *cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    *used = 11;
    return true;
}

/*
 * The string whose opening quote is at r->p.  With `s` set, hands it over:
 * a span of the text when it has no escapes, else decoded into the arena
 * (NUL-terminated).  `nul_term` asks for a NUL-terminated copy either way.
 */
static bool string(vial_jr *r, const char **s, size_t *n, bool nul_term)
{
    const unsigned char *p = (const unsigned char *)r->p + 1, *e = (const unsigned char *)r->end;
    const unsigned char *start = p;
    bool escaped = false;
    for (;;) {
        while (p < e && plain[*p])
            p++;
        if (p >= e) {
            fail(r, (const char *)start - 1, "unterminated string");
            return false;
        }
        unsigned c = *p;
        if (c == '"')
            break;
        if (c == '\\') {
            escaped = true;
            if (p + 1 >= e) {
                fail(r, (const char *)p, "unterminated string");
                return false;
            }
            c = p[1];
            if (c == 'u') {
                unsigned cp;
                size_t used;
                if (!unicode_escape((const char *)p + 1, (const char *)e, &cp, &used)) {
                    fail(r, (const char *)p, "invalid \\u escape (bad hex digits or a lone surrogate)");
                    return false;
                }
                p += 1 + used;
            } else if (c == '"' || c == '\\' || c == '/' || c == 'b' || c == 'f' || c == 'n' ||
                       c == 'r' || c == 't') {
                p += 2;
            } else {
                fail(r, (const char *)p, "invalid escape in string");
                return false;
            }
        } else if (c < 0x20) {
            fail(r, (const char *)p, "control character in string (escape it)");
            return false;
        } else {
            size_t k = vial__utf8_seq(p, e);
            if (!k) {
                fail(r, (const char *)p, "invalid UTF-8 in string");
                return false;
            }
            p += k;
        }
    }
    r->p = (const char *)p + 1;
    if (!s)
        return true;
    size_t len = (size_t)(p - start);
    if (!escaped) {
        if (nul_term) {
            char *c = vial__arena_strndup(r->arena, (const char *)start, len);
            if (!c) {
                fail(r, (const char *)start, "out of memory");
                r->oom = true;
                return false;
            }
            *s = c;
        } else {
            *s = (const char *)start;
        }
        if (n)
            *n = len;
        return true;
    }
    /* Decoded text is never longer than its escaped form. */
    char *out = vial__arena_alloc(r->arena, len + 1), *o = out;
    if (!out) {
        fail(r, (const char *)start, "out of memory");
        r->oom = true;
        return false;
    }
    for (const unsigned char *q = start; q < p;) {
        if (*q != '\\') {
            *o++ = (char)*q++;
            continue;
        }
        char c = (char)q[1];
        if (c == 'u') {
            unsigned cp;
            size_t used;
            unicode_escape((const char *)q + 1, (const char *)p, &cp, &used); /* validated above */
            o += put_utf8(o, cp);
            q += 1 + used;
            continue;
        }
        *o++ = c == 'b' ? '\b' : c == 'f' ? '\f' : c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
        q += 2;
    }
    *o = '\0';
    *s = out;
    if (n)
        *n = (size_t)(o - out);
    return true;
}

/* The number at r->p (RFC 8259 grammar): its span and whether it is written
 * as an integer (no fraction, no exponent).  Does not move r->p. */
static bool number(vial_jr *r, const char **end, bool *integer)
{
    const char *p = r->p, *e = r->end;
    *integer = true;
    if (p < e && *p == '-')
        p++;
    if (p >= e || *p < '0' || *p > '9')
        goto bad;
    if (*p == '0') {
        p++;
    } else {
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && *p == '.') {
        *integer = false;
        p++;
        if (p >= e || *p < '0' || *p > '9')
            goto bad;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        *integer = false;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (p >= e || *p < '0' || *p > '9')
            goto bad;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
    }
    *end = p;
    return true;
bad:
    fail(r, r->p, "invalid number");
    return false;
}

static bool literal(vial_jr *r, const char *word, size_t n)
{
    if ((size_t)(r->end - r->p) < n || memcmp(r->p, word, n)) {
        fail(r, r->p, "invalid literal (expected true, false or null)");
        return false;
    }
    r->p += n;
    return true;
}

/* After a value: the container's member is complete. */
static inline void value_done(vial_jr *r)
{
    r->pending = false;
}

/* "key": — the colon included.  r->p is at the opening quote. */
static bool member_key(vial_jr *r, const char **k, size_t *n)
{
    if (r->p >= r->end || *r->p != '"') {
        fail(r, r->p, r->p >= r->end ? "unexpected end of input" : "expected a string key");
        return false;
    }
    if (!string(r, k, n, false))
        return false;
    const char *p = ws(r);
    if (p >= r->end || *p != ':') {
        fail(r, p, "expected ':' after the key");
        return false;
    }
    r->p = p + 1;
    return true;
}

/* Skips the due value, validating it, nesting included; iterative so deep
 * documents cost no C stack. */
static bool skip_value(vial_jr *r, const char **raw, size_t *rawlen)
{
    unsigned base = r->depth;
    const char *p = ws(r);
    const char *begin = p;
    for (;;) {
        /* A value is due at p. */
        p = ws(r);
        if (p >= r->end) {
            fail(r, p, "unexpected end of input");
            return false;
        }
        switch (*p) {
        case '{':
            r->p = p + 1;
            if (!push(r, true))
                return false;
            p = ws(r);
            if (p < r->end && *p == '}') {
                r->p = p + 1;
                r->depth--;
                break;
            }
            if (!member_key(r, NULL, NULL))
                return false;
            continue;
        case '[':
            r->p = p + 1;
            if (!push(r, false))
                return false;
            p = ws(r);
            if (p < r->end && *p == ']') {
                r->p = p + 1;
                r->depth--;
                break;
            }
            continue;
        case '"':
            if (!string(r, NULL, NULL, false))
                return false;
            break;
        case 't':
            if (!literal(r, "true", 4))
                return false;
            break;
        case 'f':
            if (!literal(r, "false", 5))
                return false;
            break;
        case 'n':
            if (!literal(r, "null", 4))
                return false;
            break;
        default: {
            const char *e;
            bool integer;
            if (!number(r, &e, &integer))
                return false;
            r->p = e;
            break;
        }
        }
        /* A value ended: close containers or move to the next member. */
        for (;;) {
            if (r->depth == base) {
                value_done(r);
                if (raw)
                    *raw = begin;
                if (rawlen)
                    *rawlen = (size_t)(r->p - begin);
                return true;
            }
            p = ws(r);
            bool obj = top_is_object(r);
            if (p < r->end && *p == ',') {
                r->p = p + 1;
                if (obj) {
                    ws(r);
                    if (!member_key(r, NULL, NULL))
                        return false;
                }
                break; /* the next value is due */
            }
            if (p < r->end && *p == (obj ? '}' : ']')) {
                r->p = p + 1;
                r->depth--;
                continue;
            }
            fail(r, p, p >= r->end ? "unexpected end of input" : obj ? "expected ',' or '}'" : "expected ',' or ']'");
            return false;
        }
    }
}

/* ------------------------------------------------------------------ public API */

void vial__jr_init(vial_jr *r, const char *text, size_t len, vial__arena *arena)
{
    memset(r, 0, sizeof *r);
    r->p = r->start = text;
    r->end = text + len;
    r->arena = arena;
    r->pending = true;
}

void vial__jr_fail_plain(vial_jr *r, const char *why)
{
    fail(r, r->p, why);
    r->msg = (char *)r->err; /* no line and column to give */
}

/* The caller is between values inside a container it is walking: skip a
 * value it left unread. */
static bool settle(vial_jr *r)
{
    return !r->pending || skip_value(r, NULL, NULL);
}

vial_jr_type vial_jr_peek(vial_jr *r)
{
    if (!r || r->err || !r->pending)
        return VIAL_JR_NONE;
    const char *p = ws(r);
    if (p >= r->end)
        return VIAL_JR_NONE;
    switch (*p) {
    case '{':
        return VIAL_JR_OBJECT;
    case '[':
        return VIAL_JR_ARRAY;
    case '"':
        return VIAL_JR_STRING;
    case 't':
    case 'f':
        return VIAL_JR_BOOL;
    case 'n':
        return VIAL_JR_NULL;
    default:
        return *p == '-' || (*p >= '0' && *p <= '9') ? VIAL_JR_NUMBER : VIAL_JR_NONE;
    }
}

static int enter(vial_jr *r, bool object)
{
    if (vial_jr_peek(r) != (object ? VIAL_JR_OBJECT : VIAL_JR_ARRAY))
        return 0;
    r->p++;
    if (!push(r, object))
        return 0;
    r->pending = false;
    r->first = true;
    return 1;
}

int vial_jr_object(vial_jr *r)
{
    return enter(r, true);
}

int vial_jr_array(vial_jr *r)
{
    return enter(r, false);
}

static void misuse(vial_jr *r, const char *why)
{
    fail(r, r->p, why);
    r->misuse = true;
}

/* Closing the innermost container: its parent's member is complete. */
static void leave(vial_jr *r)
{
    r->depth--;
    r->first = false;
    value_done(r);
}

int vial_jr_key(vial_jr *r, const char **key, size_t *len)
{
    if (!r || r->err)
        return 0;
    if (r->depth == 0 || !top_is_object(r)) {
        misuse(r, "vial_jr_key outside an object");
        return 0;
    }
    if (!settle(r))
        return 0;
    const char *p = ws(r);
    if (p < r->end && *p == '}') {
        r->p = p + 1;
        leave(r);
        return 0;
    }
    if (!r->first) {
        if (p >= r->end || *p != ',') {
            fail(r, p, p >= r->end ? "unexpected end of input" : "expected ',' or '}'");
            return 0;
        }
        r->p = p + 1;
        ws(r);
    }
    const char *k;
    size_t n;
    if (!member_key(r, &k, &n))
        return 0;
    if (key)
        *key = k;
    if (len)
        *len = n;
    r->first = false;
    r->pending = true;
    return 1;
}

int vial_jr_more(vial_jr *r)
{
    if (!r || r->err)
        return 0;
    if (r->depth == 0 || top_is_object(r)) {
        misuse(r, "vial_jr_more outside an array");
        return 0;
    }
    if (!settle(r))
        return 0;
    const char *p = ws(r);
    if (p < r->end && *p == ']') {
        r->p = p + 1;
        leave(r);
        return 0;
    }
    if (!r->first) {
        if (p >= r->end || *p != ',') {
            fail(r, p, p >= r->end ? "unexpected end of input" : "expected ',' or ']'");
            return 0;
        }
        r->p = p + 1;
    }
    r->first = false;
    r->pending = true;
    return 1;
}

int vial_jr_leave(vial_jr *r)
{
    if (!r || r->err || r->depth == 0)
        return 0;
    /* Read members until the container ends; their values are skipped. */
    if (top_is_object(r))
        while (vial_jr_key(r, NULL, NULL))
            ;
    else
        while (vial_jr_more(r))
            ;
    return r->err ? 0 : 1;
}

int vial_jr_str(vial_jr *r, const char **s, size_t *len)
{
    if (vial_jr_peek(r) != VIAL_JR_STRING)
        return 0;
    const char *tmp;
    if (!string(r, s ? s : &tmp, len, len == NULL))
        return 0;
    value_done(r);
    return 1;
}

int vial_jr_int(vial_jr *r, int64_t *v)
{
    if (vial_jr_peek(r) != VIAL_JR_NUMBER)
        return 0;
    const char *e;
    bool integer;
    if (!number(r, &e, &integer) || !integer)
        return 0;
    const char *p = r->p;
    bool neg = *p == '-';
    p += neg;
    uint64_t u = 0;
    for (; p < e; p++) {
        unsigned d = (unsigned)(*p - '0');
        if (u > (UINT64_MAX - d) / 10)
            return 0;
        u = u * 10 + d;
    }
    if (u > (uint64_t)INT64_MAX + neg)
        return 0; /* out of range: left for the caller to report */
    if (v)
        *v = neg ? (int64_t)(0 - u) : (int64_t)u;
    r->p = e;
    value_done(r);
    return 1;
}

int vial_jr_double(vial_jr *r, double *v)
{
    if (vial_jr_peek(r) != VIAL_JR_NUMBER)
        return 0;
    const char *e;
    bool integer;
    if (!number(r, &e, &integer))
        return 0;
    /* strtod needs a terminated copy: the text may go on with digits of
     * something else only in invalid JSON, but it may not be terminated. */
    size_t n = (size_t)(e - r->p);
    char small[64];
    char *buf = n < sizeof small ? small : vial__arena_alloc(r->arena, n + 1);
    if (!buf) {
        fail(r, r->p, "out of memory");
        r->oom = true;
        return 0;
    }
    memcpy(buf, r->p, n);
    buf[n] = '\0';
    double d = strtod(buf, NULL);
    if (!isfinite(d))
        return 0; /* overflows a double */
    if (v)
        *v = d;
    r->p = e;
    value_done(r);
    return 1;
}

int vial_jr_bool(vial_jr *r, int *v)
{
    if (vial_jr_peek(r) != VIAL_JR_BOOL)
        return 0;
    bool t = *r->p == 't';
    if (!literal(r, t ? "true" : "false", t ? 4 : 5))
        return 0;
    if (v)
        *v = t;
    value_done(r);
    return 1;
}

int vial_jr_null(vial_jr *r)
{
    if (vial_jr_peek(r) != VIAL_JR_NULL || !literal(r, "null", 4))
        return 0;
    value_done(r);
    return 1;
}

int vial_jr_skip(vial_jr *r, const char **raw, size_t *len)
{
    if (!r || r->err || !r->pending)
        return 0;
    return skip_value(r, raw, len) ? 1 : 0;
}

int vial_jr_finish(vial_jr *r)
{
    if (!r)
        return VIAL_EINVAL;
    while (!r->err && r->depth > 0) {
        /* The caller stopped early: validate the rest of the document. */
        if (!vial_jr_leave(r))
            break;
    }
    if (!r->err && r->pending)
        skip_value(r, NULL, NULL);
    if (!r->err) {
        const char *p = ws(r);
        if (p < r->end)
            fail(r, p, "unexpected text after the JSON value");
    }
    if (!r->err)
        return 0;
    return r->oom ? VIAL_ENOMEM : r->misuse ? VIAL_ESTATE : VIAL_EPARSE;
}

const char *vial_jr_error(vial_jr *r)
{
    if (!r)
        return "no JSON reader (out of memory)";
    if (!r->err)
        return NULL;
    if (r->msg)
        return r->msg;
    if (r->misuse || r->oom)
        return r->err;
    /* Line and column (1-based, in bytes) only now that they are needed. */
    int line = 1, col = 1;
    for (const char *p = r->start; p < r->err_at; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    char buf[160];
    snprintf(buf, sizeof buf, "invalid JSON at line %d column %d: %s", line, col, r->err);
    r->msg = vial__arena_strndup(r->arena, buf, strlen(buf));
    return r->msg ? r->msg : r->err;
}

/*
 * pylist.c — Python list literals of strings (vial_pylist_parse), the way
 * pandas and str(list) write a list column into CSV: ['A', "B's"].
 *
 * Data exported from Python keeps turning up with such columns, so this is
 * a general reader of that one shape rather than a helper of one importer:
 * the grammar is Python's own for a list display whose items are string
 * literals — either quote, the backslash escapes Python knows (octal, \x,
 * \u, \U, line continuations; unknown ones stay as written, as in Python;
 * \N{name} alone is refused: it would need Unicode's name table),
 * adjacent literals concatenated, a trailing comma — and nothing else
 * (no prefixes, no triple quotes, no numbers or None).  Items are decoded
 * to UTF-8 without ever growing, so the caller's buffer is as long as the
 * input.  Anything Python would read differently, or that UTF-8 cannot
 * hold (a lone surrogate), is refused with a reason and its position.
 */
#include "base.h"

static bool space(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int hexdig(int c)
{
    return vial__hexval(c);
}

/* Writes code point `cp` as UTF-8; 0, or -1 for what UTF-8 cannot hold. */
static int put_cp(uint32_t cp, char **o)
{
    unsigned char *p = (unsigned char *)*o;
    if (cp >= 0xd800 && cp <= 0xdfff)
        return -1;
    if (cp < 0x80) {
        *p++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *p++ = (unsigned char)(0xc0 | cp >> 6);
        *p++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *p++ = (unsigned char)(0xe0 | cp >> 12);
        *p++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *p++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else if (cp <= 0x10ffff) {
        *p++ = (unsigned char)(0xf0 | cp >> 18);
        *p++ = (unsigned char)(0x80 | (cp >> 12 & 0x3f));
        *p++ = (unsigned char)(0x80 | (cp >> 6 & 0x3f));
        *p++ = (unsigned char)(0x80 | (cp & 0x3f));
    } else {
        return -1;
    }
    *o = (char *)p;
    return 0;
}

typedef struct lit {
    const char *s, *e, *p; /* input, its end, the position */
    char *o;               /* output */
    const char *why;
} lit;

static int fail(lit *l, const char *why, const char *at)
{
    l->why = why;
    l->p = at;
    return VIAL_EPARSE;
}

/* One string literal at l->p (its quote), decoded onto l->o. */
static int string_lit(lit *l)
{
    const char q = *l->p++;
    for (;;) {
        if (l->p >= l->e)
            return fail(l, "unterminated string", l->p);
        unsigned char c = (unsigned char)*l->p;
        if (c == (unsigned char)q) {
            l->p++;
            return 0;
        }
        if (c == '\n' || c == '\r')
            return fail(l, "line break inside a string", l->p);
        if (c >= 0x80) {
            size_t k = vial__utf8_seq((const unsigned char *)l->p, (const unsigned char *)l->e);
            if (!k)
                return fail(l, "not UTF-8", l->p);
            memcpy(l->o, l->p, k);
            l->o += k;
            l->p += k;
            continue;
        }
        if (c == 0)
            return fail(l, "NUL in a string", l->p);
        if (c != '\\') {
            *l->o++ = (char)c;
            l->p++;
            continue;
        }
        const char *esc = l->p++;
        if (l->p >= l->e)
            return fail(l, "unterminated string", l->p);
        c = (unsigned char)*l->p++;
        uint32_t cp;
        switch (c) {
        case '\n': continue; /* a line continuation */
        case '\r':
            if (l->p < l->e && *l->p == '\n')
                l->p++;
            continue;
        case '\\': case '\'': case '"': cp = c; break;
        case 'a': cp = '\a'; break;
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;
        case 'v': cp = '\v'; break;
        case '0': case '1': case '2': case '3': case '4': case '5': case '6': case '7':
            cp = c - '0';
            for (int k = 0; k < 2 && l->p < l->e && *l->p >= '0' && *l->p <= '7'; k++)
                cp = cp * 8 + (uint32_t)(*l->p++ - '0');
            break;
        case 'x': case 'u': case 'U': {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            cp = 0;
            for (int k = 0; k < digits; k++) {
                int h = l->p < l->e ? hexdig((unsigned char)*l->p) : -1;
                if (h < 0)
                    return fail(l, c == 'x' ? "\\x needs two hex digits" : c == 'u' ? "\\u needs four hex digits"
                                                                                     : "\\U needs eight hex digits",
                                esc);
                cp = cp * 16 + (uint32_t)h;
                l->p++;
            }
            break;
        }
        case 'N':
            return fail(l, "named escapes (\\N{...}) are not supported", esc);
        default:
            /* Python keeps an unknown escape as written. */
            *l->o++ = '\\';
            l->p--;
            continue;
        }
        if (cp == 0)
            return fail(l, "NUL in a string", esc);
        if (put_cp(cp, &l->o))
            return fail(l, cp > 0x10ffff ? "escape beyond U+10FFFF" : "a lone surrogate is not UTF-8", esc);
    }
}

static void skip_space(lit *l)
{
    while (l->p < l->e && space((unsigned char)*l->p))
        l->p++;
}

int vial_pylist_parse(const char *s, size_t n, char *out, const char **items, size_t *lens, size_t max,
                      const char **why, size_t *at)
{
    const char *dummy_why;
    size_t dummy_at;
    if (!why)
        why = &dummy_why;
    if (!at)
        at = &dummy_at;
    *why = NULL;
    *at = 0;
    if (!s || !out) {
        *why = "no input";
        return VIAL_EINVAL;
    }
    lit l = { .s = s, .e = s + n, .p = s, .o = out };
    size_t count = 0;
    int rc = 0;
    skip_space(&l);
    if (l.p >= l.e || *l.p != '[') {
        rc = fail(&l, "not a list: no '['", l.p);
        goto done;
    }
    l.p++;
    for (;;) {
        skip_space(&l);
        if (l.p >= l.e) {
            rc = fail(&l, "unterminated list: no ']'", l.p);
            goto done;
        }
        if (*l.p == ']') {
            l.p++;
            break;
        }
        if (*l.p != '\'' && *l.p != '"') {
            rc = fail(&l, "an item is not a string literal", l.p);
            goto done;
        }
        if (count == max) {
            rc = VIAL_ETOOBIG;
            l.why = "too many items";
            goto done;
        }
        char *item = l.o;
        /* Adjacent literals are one string, as in Python. */
        do {
            if ((rc = string_lit(&l)))
                goto done;
            skip_space(&l);
        } while (l.p < l.e && (*l.p == '\'' || *l.p == '"'));
        if (lens)
            lens[count] = (size_t)(l.o - item);
        *l.o++ = '\0';
        if (items)
            items[count] = item;
        count++;
        if (l.p < l.e && *l.p == ',') {
            l.p++;
            continue;
        }
        skip_space(&l);
        if (l.p < l.e && *l.p == ']')
            continue;
        rc = fail(&l, l.p < l.e ? "expected ',' or ']' after an item" : "unterminated list: no ']'", l.p);
        goto done;
    }
    skip_space(&l);
    if (l.p < l.e)
        rc = fail(&l, "text after the list", l.p);
done:
    if (rc) {
        *why = l.why;
        *at = (size_t)(l.p - s);
        return rc;
    }
    return (int)count;
}

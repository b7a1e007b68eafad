/*
 * writer.c — the streaming JSON writer (the hot path of every JSON
 * response) and JSON string escaping.
 *
 * The writer appends straight into a byte buffer: the response body, or a
 * stream's next chunk.  It tracks nesting in a fixed stack so commas and
 * colons are placed for the caller, and it makes misuse sticky instead of
 * producing invalid JSON: after the first error every call is a no-op and
 * vial_jw_finish() reports it.
 */
#include "json.h"

#include <math.h>

void vial__jw_init(vial_jw *w, vial__buf *out)
{
    /* The nesting stack is written before it is read: no need to clear it. */
    w->out = out;
    w->depth = 0;
    w->need_comma = w->need_value = false;
    w->err = 0;
}

static inline bool put(vial_jw *w, const char *s, size_t n)
{
    if (vial__buf_add(w->out, s, n)) {
        w->err = VIAL_ENOMEM;
        return false;
    }
    return true;
}

/* Called before every value: places the comma, checks a key preceded a
 * value inside objects. */
static bool before_value(vial_jw *w)
{
    if (w->err)
        return false;
    if (w->depth && w->stack[w->depth - 1] == 'o') {
        if (!w->need_value) {
            w->err = VIAL_ESTATE; /* a value in an object needs a key first */
            return false;
        }
        w->need_value = false;
        return true;
    }
    if (w->depth == 0 && w->need_comma) {
        w->err = VIAL_ESTATE; /* a second top-level value */
        return false;
    }
    if (w->need_comma && !put(w, ",", 1))
        return false;
    return true;
}

static void after_value(vial_jw *w)
{
    w->need_comma = true;
}

/*
 * Escapes per RFC 8259: quote, backslash and controls; everything else is
 * copied.  Invalid UTF-8 becomes U+FFFD so the output is always valid JSON
 * (clients such as browsers reject the document otherwise).  '<', '>' and
 * '&' are escaped too, so JSON embedded in a <script> cannot close it.
 */
/* 1 for bytes that leave the fast path: controls, '"', '\\', '<', '>', '&'
 * and everything >= 0x80 (UTF-8 is validated, not copied blindly). */
static const uint8_t special[256] = {
    [0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1, ['<'] = 1, ['>'] = 1, ['&'] = 1, [0x80 ... 0xff] = 1,
};

int vial__json_escape(vial__buf *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case is 6 output bytes per input byte; reserving the likely size
     * once keeps the plain-ASCII loop free of capacity checks. */
    if (vial__buf_reserve(out, n + 2))
        return VIAL_ENOMEM;
    out->p[out->n++] = '"';
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && !special[(unsigned char)s[j]])
            j++;
        if (j > i && vial__buf_add(out, s + i, j - i))
            return VIAL_ENOMEM;
        i = j;
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        char esc[12];
        size_t en = 0;
        if (c < 0x80) {
            switch (c) {
            case '"': esc[0] = '\\'; esc[1] = '"'; en = 2; break;
            case '\\': esc[0] = '\\'; esc[1] = '\\'; en = 2; break;
            case '\n': esc[0] = '\\'; esc[1] = 'n'; en = 2; break;
            case '\r': esc[0] = '\\'; esc[1] = 'r'; en = 2; break;
            case '\t': esc[0] = '\\'; esc[1] = 't'; en = 2; break;
            case '\b': esc[0] = '\\'; esc[1] = 'b'; en = 2; break;
            case '\f': esc[0] = '\\'; esc[1] = 'f'; en = 2; break;
            default:
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                en = 6;
            }
            i++;
        } else {
            /* Validate one UTF-8 sequence (RFC 3629: no overlongs, no
             * surrogates, nothing above U+10FFFF). */
            size_t len = 0;
            uint32_t cp = 0, min = 0;
            if (c >= 0xc2 && c <= 0xdf) { len = 2; cp = c & 0x1f; min = 0x80; }
            else if (c >= 0xe0 && c <= 0xef) { len = 3; cp = c & 0x0f; min = 0x800; }
            else if (c >= 0xf0 && c <= 0xf4) { len = 4; cp = c & 0x07; min = 0x10000; }
            bool ok = len && i + len <= n;
            for (size_t k = 1; ok && k < len; k++) {
                unsigned char cc = (unsigned char)s[i + k];
                if ((cc & 0xc0) != 0x80)
                    ok = false;
                else
                    cp = cp << 6 | (cc & 0x3f);
            }
            ok = ok && cp >= min && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
            if (ok) {
                memcpy(esc, s + i, len);
                en = len;
                i += len;
            } else {
                memcpy(esc, "\xef\xbf\xbd", 3); /* U+FFFD */
                en = 3;
                i++;
            }
        }
        if (vial__buf_add(out, esc, en))
            return VIAL_ENOMEM;
    }
    if (vial__buf_add(out, "\"", 1))
        return VIAL_ENOMEM;
    return 0;
}

static void open_(vial_jw *w, char kind)
{
    if (!before_value(w))
        return;
    if (w->depth >= VIAL__JW_MAX_DEPTH) {
        w->err = VIAL_ESTATE;
        return;
    }
    w->stack[w->depth++] = (uint8_t)kind;
    w->need_comma = false;
    put(w, kind == 'o' ? "{" : "[", 1);
}

void vial_jw_object(vial_jw *w)
{
    if (w)
        open_(w, 'o');
}

void vial_jw_array(vial_jw *w)
{
    if (w)
        open_(w, 'a');
}

void vial_jw_end(vial_jw *w)
{
    if (!w || w->err)
        return;
    if (w->depth == 0 || w->need_value) {
        w->err = VIAL_ESTATE;
        return;
    }
    char k = (char)w->stack[--w->depth];
    put(w, k == 'o' ? "}" : "]", 1);
    after_value(w);
}

void vial_jw_key(vial_jw *w, const char *key)
{
    if (!w || w->err)
        return;
    if (!key || w->depth == 0 || w->stack[w->depth - 1] != 'o' || w->need_value) {
        w->err = VIAL_ESTATE;
        return;
    }
    if (w->need_comma && !put(w, ",", 1))
        return;
    if (vial__json_escape(w->out, key, strlen(key))) {
        w->err = VIAL_ENOMEM;
        return;
    }
    put(w, ":", 1);
    w->need_value = true;
    w->need_comma = true;
}

void vial_jw_strn(vial_jw *w, const char *s, size_t n)
{
    if (!w || !before_value(w))
        return;
    if (vial__json_escape(w->out, s, n))
        w->err = VIAL_ENOMEM;
    after_value(w);
}

void vial_jw_str(vial_jw *w, const char *s)
{
    if (!s)
        vial_jw_null(w);
    else
        vial_jw_strn(w, s, strlen(s));
}

void vial_jw_int(vial_jw *w, int64_t v)
{
    if (!w || !before_value(w))
        return;
    char tmp[24];
    size_t n;
    if (v < 0) {
        tmp[0] = '-';
        n = 1 + vial__u64toa((uint64_t)0 - (uint64_t)v, tmp + 1);
    } else {
        n = vial__u64toa((uint64_t)v, tmp);
    }
    put(w, tmp, n);
    after_value(w);
}

/* Powers of ten a double holds exactly (up to 1e22; 1e17 is enough here). */
static const double pow10_exact[] = { 1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                      1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17 };

/* The common case without printf: a value that some decimal of at most
 * 15 significant digits in plain notation reads back as — what "%.15g"
 * prints for it, as 15-digit decimals are distinct doubles (DBL_DIG).
 * The fewest decimals k for which m / 10^k == |v|, m an integer: both are
 * exact doubles, so the division is correctly rounded, as reading the
 * text "m e-k" back is.  Returns the length, or 0 (the value needs more
 * digits or an exponent; printf then). */
size_t vial__fmt_double_fixed(double v, char out[32])
{
    double a = fabs(v);
    if (!(a >= 1e-4 && a < 1e15))
        return 0; /* %g's exponent form, or zero (-0 keeps its sign there) */
    for (int k = 0; k <= 17; k++) {
        double m = nearbyint(a * pow10_exact[k]);
        if (m >= 1e15)
            return 0; /* more than 15 digits */
        if (m / pow10_exact[k] != a)
            continue;
        char digits[24];
        int nd = 0;
        for (uint64_t u = (uint64_t)m; u; u /= 10)
            digits[nd++] = (char)('0' + u % 10); /* reversed */
        size_t o = 0;
        if (v < 0)
            out[o++] = '-';
        if (nd <= k) { /* 0.000ddd */
            out[o++] = '0';
            out[o++] = '.';
            for (int z = nd; z < k; z++)
                out[o++] = '0';
            while (nd)
                out[o++] = digits[--nd];
        } else {
            while (nd > k)
                out[o++] = digits[--nd];
            if (k) {
                out[o++] = '.';
                while (nd)
                    out[o++] = digits[--nd];
            }
        }
        /* the fewest k leaves no trailing zero, unless rounding in a*10^k
         * skipped it: trim what printf would not print */
        if (k)
            while (out[o - 1] == '0')
                o--;
        if (out[o - 1] == '.')
            o--;
        out[o] = '\0';
        return o;
    }
    return 0;
}

void vial_jw_double(vial_jw *w, double v)
{
    if (!w || !before_value(w))
        return;
    if (!isfinite(v)) {
        put(w, "null", 4);
    } else {
        /* %.17g round-trips every double; the shortest form that still
         * reads back the same value, without printf when it is short. */
        char tmp[40];
        size_t n = vial__fmt_double_fixed(v, tmp);
        for (int prec = 15; !n && prec <= 17; prec++) {
            n = (size_t)snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (prec < 17 && strtod(tmp, NULL) != v)
                n = 0;
        }
        /* Keep it a JSON number that reads back as a float in Python/JS. */
        bool plain_int = !memchr(tmp, '.', n) && !memchr(tmp, 'e', n) && !memchr(tmp, 'n', n);
        put(w, tmp, n);
        if (plain_int)
            put(w, ".0", 2);
    }
    after_value(w);
}

void vial_jw_bool(vial_jw *w, int v)
{
    if (!w || !before_value(w))
        return;
    if (v)
        put(w, "true", 4);
    else
        put(w, "false", 5);
    after_value(w);
}

void vial_jw_null(vial_jw *w)
{
    if (!w || !before_value(w))
        return;
    put(w, "null", 4);
    after_value(w);
}

void vial_jw_raw(vial_jw *w, const char *json, size_t n)
{
    if (!w || !before_value(w))
        return;
    put(w, json, n);
    after_value(w);
}

void vial_jw_value(vial_jw *w, json_t *v)
{
    if (!w || w->err)
        return;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        vial_jw_object(w);
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            vial_jw_key(w, k);
            vial_jw_value(w, x);
        }
        vial_jw_end(w);
        break;
    }
    case JSON_ARRAY: {
        vial_jw_array(w);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) vial_jw_value(w, x);
        vial_jw_end(w);
        break;
    }
    case JSON_STRING: vial_jw_strn(w, json_string_value(v), json_string_length(v)); break;
    case JSON_INTEGER: vial_jw_int(w, (int64_t)json_integer_value(v)); break;
    case JSON_REAL: vial_jw_double(w, json_real_value(v)); break;
    case JSON_TRUE: vial_jw_bool(w, 1); break;
    case JSON_FALSE: vial_jw_bool(w, 0); break;
    case JSON_NULL: vial_jw_null(w); break;
    default: w->err = VIAL_EINVAL;
    }
}

int vial_jw_error(const vial_jw *w)
{
    return w ? w->err : VIAL_EINVAL;
}

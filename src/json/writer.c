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

void vial_jw_double(vial_jw *w, double v)
{
    if (!w || !before_value(w))
        return;
    if (!isfinite(v)) {
        put(w, "null", 4);
    } else {
        /* %.17g round-trips every double; trim to the shortest form that
         * still reads back the same value. */
        char tmp[40];
        int n = 0;
        for (int prec = 15; prec <= 17; prec++) {
            n = snprintf(tmp, sizeof tmp, "%.*g", prec, v);
            if (strtod(tmp, NULL) == v)
                break;
        }
        /* Keep it a JSON number that reads back as a float in Python/JS. */
        bool plain_int = !strpbrk(tmp, ".eEn");
        put(w, tmp, (size_t)n);
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

/*
 * json_fuzz.c — the JSON writer (src/json/writer.c) on arbitrary bytes.
 *
 * Three checks, each abort()ing on a violation:
 *  1. vial__json_escape() of the whole input is always a JSON string that
 *     jansson parses back, contains no raw control byte, '<', '>' or '&',
 *     and decodes to exactly what an independent reference produces: the
 *     input with each byte that does not start a valid UTF-8 sequence
 *     (RFC 3629: no overlongs, surrogates or code points past U+10FFFF)
 *     replaced by U+FFFD.
 *  2. If the input parses as JSON (jansson), vial_jw_value() writes it back
 *     as JSON that parses to an equal value.
 *  3. The input as a program for the streaming writer (objects, arrays,
 *     keys, strings cut from the input, numbers, misuse included): once the
 *     writer reports no error and a balanced document, the output parses;
 *     after an error, nothing more is written.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "json_fuzz: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

/* ------------------------------------------------------------------ 1. escaping */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 (written from RFC 3629
 * section 4's table, independently of writer.c). */
static size_t utf8_valid(const uint8_t *s, size_t n)
{
    uint8_t c = s[0];
    if (c < 0x80)
        return 1;
#define CONT(i) (n > (i) && s[i] >= 0x80 && s[i] <= 0xbf)
    if (c >= 0xc2 && c <= 0xdf)
        return CONT(1) ? 2 : 0;
    if (c == 0xe0)
        return n > 2 && s[1] >= 0xa0 && s[1] <= 0xbf && CONT(2) ? 3 : 0;
    if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef)
        return CONT(1) && CONT(2) ? 3 : 0;
    if (c == 0xed)
        return n > 2 && s[1] >= 0x80 && s[1] <= 0x9f && CONT(2) ? 3 : 0;
    if (c == 0xf0)
        return n > 3 && s[1] >= 0x90 && s[1] <= 0xbf && CONT(2) && CONT(3) ? 4 : 0;
    if (c >= 0xf1 && c <= 0xf3)
        return CONT(1) && CONT(2) && CONT(3) ? 4 : 0;
    if (c == 0xf4)
        return n > 3 && s[1] >= 0x80 && s[1] <= 0x8f && CONT(2) && CONT(3) ? 4 : 0;
#undef CONT
    return 0;
}

static void reference(const uint8_t *s, size_t n, vial__buf *out)
{
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_valid(s + i, n - i);
        if (k) {
            vial__buf_append(out, s + i, k);
            i += k;
        } else {
            vial__buf_append(out, "\xef\xbf\xbd", 3);
            i++;
        }
    }
}

static void check_escape(const uint8_t *data, size_t size)
{
    vial__buf out = { 0 };
    if (vial__json_escape(&out, (const char *)data, size))
        die("escape failed");
    if (out.n < 2 || out.p[0] != '"' || out.p[out.n - 1] != '"')
        die("escape did not produce a quoted string");
    for (size_t i = 0; i < out.n; i++) {
        unsigned char c = (unsigned char)out.p[i];
        if (c < 0x20 || c == '<' || c == '>' || c == '&')
            die("raw byte 0x%02x in the escaped output at %zu", c, i);
    }
    json_error_t e;
    json_t *j = json_loadb(out.p, out.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!j)
        die("escaped output is not JSON: %s (line %d col %d): %.*s", e.text, e.line, e.column,
            (int)(out.n > 200 ? 200 : out.n), out.p);
    if (!json_is_string(j))
        die("escaped output is not a JSON string");
    vial__buf ref = { 0 };
    reference(data, size, &ref);
    if (json_string_length(j) != ref.n || (ref.n && memcmp(json_string_value(j), ref.p, ref.n)))
        die("escaped string decodes to something else than the input (%zu vs %zu bytes)",
            json_string_length(j), ref.n);
    json_decref(j);
    vial__buf_free(&ref);
    vial__buf_free(&out);
}

/* ------------------------------------------------------------------ 2. jansson values */

static void check_value(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    if (!in)
        return;
    vial__buf out = { 0 };
    vial_jw w;
    vial__jw_init(&w, &out);
    vial_jw_value(&w, in);
    if (w.err == 0) {
        if (w.depth != 0 || !w.need_comma)
            die("vial_jw_value left the writer unbalanced");
        json_t *back = json_loadb(out.p, out.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!back)
            die("vial_jw_value wrote invalid JSON: %s: %.*s", e.text,
                (int)(out.n > 300 ? 300 : out.n), out.p);
        if (!json_equal(in, back)) {
            char *a = json_dumps(in, JSON_ENCODE_ANY), *b = json_dumps(back, JSON_ENCODE_ANY);
            die("round trip changed the value: %s -> %s", a ? a : "?", b ? b : "?");
        }
        json_decref(back);
    } else if (w.err != VIAL_ESTATE) {
        die("vial_jw_value failed: %s", vial_strerror(w.err)); /* only nesting > 64 may fail */
    }
    vial__buf_free(&out);
    json_decref(in);
}

/* ------------------------------------------------------------------ 3. writer programs */

static void run_program(const uint8_t *data, size_t size)
{
    vial__buf out = { 0 };
    vial_jw w;
    vial__jw_init(&w, &out);
    size_t i = 0;
    while (i < size) {
        uint8_t op = data[i++];
        size_t before = out.n;
        int err_before = w.err;
        size_t n = i < size ? data[i] % 32 : 0;
        if (n > size - i)
            n = size - i;
        switch (op % 12) {
        case 0: vial_jw_object(&w); break;
        case 1: vial_jw_array(&w); break;
        case 2: vial_jw_end(&w); break;
        case 3: { /* key: a NUL-free C string cut from the input */
            char key[33];
            size_t k = 0;
            for (size_t j = 0; j < n; j++)
                if (data[i + j])
                    key[k++] = (char)data[i + j];
            key[k] = '\0';
            vial_jw_key(&w, key);
            i += n;
            break;
        }
        case 4:
            vial_jw_strn(&w, (const char *)data + i, n);
            i += n;
            break;
        case 5: {
            int64_t v = 0;
            for (size_t j = 0; j < 8 && i < size; j++)
                v = (int64_t)((uint64_t)v << 8 | data[i++]);
            vial_jw_int(&w, v);
            break;
        }
        case 6: {
            double d = 0;
            if (size - i >= sizeof d) {
                memcpy(&d, data + i, sizeof d);
                i += sizeof d;
            }
            vial_jw_double(&w, d);
            break;
        }
        case 7: vial_jw_bool(&w, op & 16); break;
        case 8: vial_jw_null(&w); break;
        case 9: vial_jw_str(&w, NULL); break;
        case 10: vial_jw_key(&w, NULL); break;
        default: {
            /* A small double from digits, so ordinary values show up too. */
            double d = (double)(int8_t)op / 8.0;
            if (op & 1)
                d = d * 1e300 * 1e10; /* ±inf, written as null */
            vial_jw_double(&w, d);
            break;
        }
        }
        if (err_before && out.n != before)
            die("the writer wrote after an error");
        if (w.err && w.err != VIAL_ESTATE)
            die("writer error %s", vial_strerror(w.err));
    }
    if (!w.err && w.depth == 0 && w.need_comma) {
        json_error_t e;
        json_t *j = json_loadb(out.p, out.n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!j)
            die("a complete document is not JSON: %s: %.*s", e.text,
                (int)(out.n > 300 ? 300 : out.n), out.p);
        json_decref(j);
    }
    vial__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_escape(data, size);
    check_value(data, size);
    run_program(data, size);
    return 0;
}

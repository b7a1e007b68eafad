/*
 * reader_fuzz.c — the pull JSON reader (src/json/reader.c) against jansson.
 *
 * The first byte picks how the document is walked; the rest is the
 * document.  The walk rebuilds the document as a jansson tree from what the
 * reader hands over, reading some values with vial_jr_skip() (whose raw text
 * is parsed by jansson on its own), stopping early in some containers
 * (vial_jr_leave) or leaving values unread.  Checks, each abort()ing:
 *  1. The reader accepts exactly the documents jansson accepts (JSON_DECODE_ANY
 *     | JSON_ALLOW_NUL), save for known differences: keys with \u0000
 *     (jansson refuses them), integers past int64 and numbers past a double
 *     (jansson refuses; the reader leaves them to the caller), and a raw NUL
 *     byte (jansson takes it for the end of the input; the reader refuses).
 *  2. When both accept and the walk read everything, the rebuilt tree equals
 *     jansson's.
 *  3. A raw span from vial_jr_skip() is itself a whole JSON value.
 *  4. An error message names a line and column inside the document.
 */
#include "core/core.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "reader_fuzz: " __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

typedef struct walk {
    vial_jr *r;
    uint8_t mode;
    unsigned counter;
    bool partial;   /* something was not read into the tree */
    bool nul_key;   /* a key with \u0000 */
    bool huge;      /* a number neither int64 nor double */
} walk;

static bool decide(walk *w, unsigned bit)
{
    /* Deterministic per input: mode bits gate, the counter varies. */
    w->counter++;
    return (w->mode >> bit & 1) && (w->counter * 2654435761u >> 29) == bit % 8;
}

static json_t *build(walk *w, unsigned depth)
{
    vial_jr *r = w->r;
    if (decide(w, 0)) {
        const char *raw;
        size_t n;
        if (!vial_jr_skip(r, &raw, &n))
            return NULL;
        json_error_t e;
        json_t *v = json_loadb(raw, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
        if (!v) {
            if (strstr(e.text, "NUL") || strstr(e.text, "too big") || strstr(e.text, "overflow")) {
                w->partial = true;
                return json_null();
            }
            die("a skipped span is not JSON (%s): %.*s", e.text, (int)(n > 200 ? 200 : n), raw);
        }
        return v;
    }
    switch (vial_jr_peek(r)) {
    case VIAL_JR_OBJECT: {
        if (!vial_jr_object(r))
            return NULL;
        json_t *o = json_object();
        const char *k;
        size_t kn;
        while (vial_jr_key(r, &k, &kn)) {
            if (memchr(k, '\0', kn))
                w->nul_key = true;
            if (depth > 64 && decide(w, 1)) {
                w->partial = true;
                vial_jr_leave(r);
                break;
            }
            if (decide(w, 2)) {
                w->partial = true; /* left unread: skipped by the next key */
                continue;
            }
            json_t *v = build(w, depth + 1);
            if (!v)
                break;
            json_object_setn_new_nocheck(o, k, kn, v);
        }
        return o;
    }
    case VIAL_JR_ARRAY: {
        if (!vial_jr_array(r))
            return NULL;
        json_t *a = json_array();
        while (vial_jr_more(r)) {
            if (decide(w, 3)) {
                w->partial = true;
                vial_jr_leave(r);
                break;
            }
            json_t *v = build(w, depth + 1);
            if (!v)
                break;
            json_array_append_new(a, v);
        }
        return a;
    }
    case VIAL_JR_STRING: {
        const char *s;
        size_t n;
        if (decide(w, 4)) {
            /* The NUL-terminated form: equal up to the first NUL. */
            if (!vial_jr_str(r, &s, NULL))
                return NULL;
            w->partial = true;
            return json_string_nocheck(s);
        }
        return vial_jr_str(r, &s, &n) ? json_stringn_nocheck(s, n) : NULL;
    }
    case VIAL_JR_NUMBER: {
        int64_t i;
        double d;
        if (vial_jr_int(r, &i))
            return json_integer(i);
        if (r->err)
            return NULL;
        if (vial_jr_double(r, &d)) {
            /* jansson keeps a number written as an integer that overflows
             * int64 as an error, not a real. */
            return json_real(d);
        }
        if (r->err)
            return NULL;
        w->huge = true;
        return vial_jr_skip(r, NULL, NULL) ? json_null() : NULL;
    }
    case VIAL_JR_BOOL: {
        int b;
        return vial_jr_bool(r, &b) ? json_boolean(b) : NULL;
    }
    case VIAL_JR_NULL:
        return vial_jr_null(r) ? json_null() : NULL;
    default:
        /* Not a value: let skip report why. */
        vial_jr_skip(r, NULL, NULL);
        return NULL;
    }
}

/* jansson writes integers past int64 as errors; the reader reads them as
 * doubles when they fit one.  Finds whether the document has such a number. */
static bool big_integer(const char *s, size_t n)
{
    size_t digits = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] >= '0' && s[i] <= '9') {
            if (++digits >= 19)
                return true;
        } else {
            digits = 0;
        }
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *doc = (const char *)data + 1;
    size_t n = size - 1;
    vial__arena arena = { 0 };
    vial_jr r;
    vial__jr_init(&r, doc, n, &arena);
    walk w = { .r = &r, .mode = data[0] };
    json_t *mine = build(&w, 0);
    int rc = vial_jr_finish(&r);
    if (rc != 0 && rc != VIAL_EPARSE)
        die("finish returned %d (%s)", rc, vial_jr_error(&r));
    if ((rc == 0) != (vial_jr_error(&r) == NULL))
        die("finish and error disagree");

    json_error_t e;
    json_t *theirs = json_loadb(doc, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    bool exempt = w.nul_key || w.huge || big_integer(doc, n) ||
                  (theirs == NULL && (strstr(e.text, "NUL byte in object key") || strstr(e.text, "too big") ||
                                      strstr(e.text, "overflow") || strstr(e.text, "depth")));
    if (!exempt) {
        if (rc == 0 && !theirs)
            die("reader accepted what jansson refuses: %s", e.text);
        /* jansson stops at a raw NUL byte as if the input ended there;
         * the reader refuses it like any other stray byte. */
        if (rc != 0 && theirs && !memchr(doc, '\0', n))
            die("reader refused what jansson accepts: %s", vial_jr_error(&r));
    }
    if (rc == 0 && theirs && !exempt && !w.partial) {
        if (!mine)
            die("accepted but nothing built");
        if (!json_equal(mine, theirs)) {
            char *a = json_dumps(mine, JSON_ENCODE_ANY), *b = json_dumps(theirs, JSON_ENCODE_ANY);
            die("trees differ:\n mine   %.300s\n jansson %.300s", a ? a : "?", b ? b : "?");
        }
    }
    if (rc != 0) {
        const char *msg = vial_jr_error(&r);
        int line, col;
        if (sscanf(msg, "invalid JSON at line %d column %d", &line, &col) != 2)
            die("error without a position: %s", msg);
        int lines = 1;
        for (size_t i = 0; i < n; i++)
            lines += doc[i] == '\n';
        if (line < 1 || line > lines || col < 1 || (size_t)col > n + 1)
            die("error position %d:%d outside the document: %s", line, col, msg);
    }
    json_decref(mine);
    json_decref(theirs);
    vial__arena_reset(&arena);
    return 0;
}

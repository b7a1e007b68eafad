/*
 * json.h — what the JSON module offers the others: the writer and reader
 * structs (so callers can place them in an arena) and their initializers.
 *
 * The module sits under core: it writes into any buffer and reads any
 * text, and knows nothing of requests.  Core puts a writer over the
 * response body (vial_jw_begin, the built-in error bodies) and a reader
 * over the request body (vial_jr_body); the db module writes rows with it.
 */
#ifndef VIAL_JSON_H
#define VIAL_JSON_H

#include "../base/base.h"

/* The pull reader (reader.c).  jansson allows 2048 levels; so do we. */
#define VIAL__JR_MAX_DEPTH 2048
struct vial_jr {
    const char *p, *start, *end;
    vial__arena *arena; /* decoded strings, the error message */
    const char *err;    /* what went wrong (static text), NULL while fine */
    const char *err_at;
    char *msg;          /* the formatted error, made on first ask */
    unsigned depth;     /* containers open */
    bool pending;       /* a value is due next */
    bool first;         /* the innermost container has had no member yet */
    bool misuse, oom;
    uint64_t stack[VIAL__JR_MAX_DEPTH / 64]; /* bit per level: 1 = object */
};
/* A reader over `len` bytes of `text` (borrowed), decoding into `arena`. */
void vial__jr_init(vial_jr *r, const char *text, size_t len, vial__arena *arena);
/* Fails the reader with `why` (static), reported without a position. */
void vial__jr_fail_plain(vial_jr *r, const char *why);

/* The streaming writer (writer.c). */
#define VIAL__JW_MAX_DEPTH 64
struct vial_jw {
    vial__buf *out;      /* where bytes go */
    uint8_t stack[VIAL__JW_MAX_DEPTH]; /* 'o' object, 'a' array */
    uint32_t depth;
    bool need_comma, need_value; /* after a key: a value must follow */
    int err;
};
/* A writer appending to `out` (borrowed, must outlive the writer). */
void vial__jw_init(vial_jw *w, vial__buf *out);
/* Appends `s` as a JSON string body (no quotes), escaped. */
int vial__json_escape(vial__buf *out, const char *s, size_t n);

#endif /* VIAL_JSON_H */

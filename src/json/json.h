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
/* `v` in plain notation with the fewest decimals that read back as v, when
 * that is at most 15 significant digits and %g would not use an exponent
 * (then it is what "%.15g" prints); else 0.  out: NUL-terminated. */
size_t vial__fmt_double_fixed(double v, char out[32]);
/* Appends `s` as a JSON string body (no quotes), escaped. */
int vial__json_escape(vial__buf *out, const char *s, size_t n);

/* Validation schemas as JSON Schema 2020-12 (jsonschema.c).  Named and
 * recursive schemas go to `defs` (borrowed: the caller's object) and are
 * referenced as `ref_prefix` + name ("#/$defs/", "#/components/schemas/").
 * The functions return new references, or NULL and set `oom`; a
 * translation that set `oom` anywhere is incomplete. */
struct vial__jsdef {
    const vial_schema *s;
    char *name;  /* its definition's name, NULL: written inline */
    const char *doc; /* its description (borrowed) */
    bool active; /* being translated (met again: recursion) */
    bool done;   /* its definition is in defs */
};
typedef struct vial__jsdefs {
    json_t *defs;
    const char *ref_prefix;
    struct vial__jsdef *tab;
    size_t n, cap;
    bool oom;
} vial__jsdefs;
void vial__jsdefs_init(vial__jsdefs *d, json_t *defs, const char *ref_prefix);
void vial__jsdefs_fini(vial__jsdefs *d);
/* Makes `s` a definition named `name` (made unique, copied) with `doc`
 * (borrowed).  0 or VIAL_ENOMEM; naming a schema twice keeps the first. */
int vial__jsdefs_name(vial__jsdefs *d, const vial_schema *s, const char *name, const char *doc);
json_t *vial__jsonschema_object(vial__jsdefs *d, const vial_schema *s);
/* `with_doc`: the field's `doc` as "description" (a query parameter keeps
 * it on the parameter instead). */
json_t *vial__jsonschema_field(vial__jsdefs *d, const vial_field *f, bool with_doc);

/* A number field's upper bound applies unless only a positive minimum is
 * given (.min = 1 alone: "at least 1", as for lengths; 1..0 would refuse
 * every value). */
static inline bool vial__num_has_max(const vial_field *f)
{
    return f->max != 0 || f->min <= 0;
}

#endif /* VIAL_JSON_H */

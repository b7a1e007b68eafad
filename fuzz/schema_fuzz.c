/*
 * schema_fuzz.c — JSON body validation (src/json/schema.c) with schemas and
 * bodies both taken from the input.
 *
 * Input layout (bytes past the end read as 0):
 *   [0]      control: bits 0-2 the path prefix (prefixes[] below), bit 3 also
 *            vial_validate_field() against item rule 0, bit 4 also the body
 *            as a request through vial_body_json_valid()
 *   [1]      bits 0-1: 1 + number of extra schemas (1..4), bits 2-4: item
 *            rules (0..4)
 *   then     4 bytes per item rule, then per schema one head byte (bit 0
 *            VIAL_SCHEMA_STRICT, bits 1-3 the number of fields, 0..7)
 *            followed by 4 bytes per field; schema 0 is the root
 *   rest     the JSON body
 * A field is [name][type|flags|check?|one_of?][min|max][refs]: the name,
 * limits, one_of lists and checks come from the fixed tables below (names
 * with '.', '[', "(root)", non-ASCII; limits that are negative, fractional,
 * 2^53, 2^63, 1e300).  Fields refer to schemas and item rules by index, so
 * schemas can nest and recurse (trees) and arrays can hold arrays.
 *
 * Checks (abort() on violation):
 *  - vial_validate() agrees with an independent reference validator written
 *    from vial.h's contract: the same number of problems, the same error
 *    object (paths and reasons; first reason per path), so a body is
 *    accepted exactly when it satisfies the schema (required members
 *    present, types right, bounds compared exactly, integers included,
 *    one_of, non-empty, strict members, checks);
 *  - every error path is a real place in the body: parsed back (trying
 *    every way of splitting keys that contain '.' or '['), it reaches an
 *    existing value — or, for "required", a missing member of an existing
 *    object;
 *  - a schema that names a field twice, or gives one bounds no value meets,
 *    is refused (VIAL_EINVAL) exactly when
 *    the reference meets one (without that, a recursive schema took time
 *    exponential in the body's depth);
 *  - validation never changes the value, is deterministic, and returns the
 *    same count without an errors object;
 *  - vial_validate_field() likewise against an item rule;
 *  - through the in-process test client, vial_body_json_valid() answers 200
 *    exactly for bodies that parse and validate, else 400 with "fields"
 *    equal to vial_validate()'s errors (or, for JSON that does not parse,
 *    no "fields" at all; 500 for a schema naming a field twice).
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "schema_fuzz: " __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

/* The longest path schema.c builds (its PATH_MAX_LEN, buffer size with the
 * NUL): a longer one is "nested too deeply" at its parent. */
#define PATH_LIMIT 512

#define MAX_SCHEMAS 4
#define MAX_ITEMS 4
#define MAX_FIELDS 7

/* ------------------------------------------------------------------ tables */

#define LONG_NAME                                                                              \
    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLLL" \
    "LLLLLLLLLLLLLLLLLLLLLLLLLLLLLL" /* 120 */

static const char *const names[16] = {
    "a", "b", "id", "name", "tags", "time", "n", "", "a.b", "[0]", "(root)", "\xc3\xa9",
    "x y", "a[1]", "props", LONG_NAME,
};

static const double limits[16] = {
    0, 1, 2, 3, 8, 64, -1, 0.5, 1.5, -2.5, 100, 1e300,
    9007199254740992.0,    /* 2^53: 2^53+1 is not a double */
    9223372036854775808.0, /* 2^63: just past INT64_MAX */
    -9223372036854775808.0, 4294967296.0,
};

static const char *const oneof_ab[] = { "a", "b", NULL };
static const char *const oneof_empty[] = { "", NULL };
static const char *const oneof_utf8[] = { "\xc3\xa9", "x y", NULL };
/* longer than the 128-byte reason buffer, cut inside a 2-byte character */
static const char *const oneof_long[] = {
    "x\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
    "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9",
    "b", NULL,
};
static const char *const *const oneofs[4] = { oneof_ab, oneof_empty, oneof_utf8, oneof_long };

static const char *c_even(json_t *v)
{
    return json_is_integer(v) && json_integer_value(v) % 2 ? "must be even" : NULL;
}
static const char *c_no_x(json_t *v)
{
    return json_is_string(v) && memchr(json_string_value(v), 'x', json_string_length(v))
               ? "must not contain x" : NULL;
}
static const char *c_small(json_t *v)
{
    return json_object_size(v) > 2 || json_array_size(v) > 2 ? "too big" : NULL;
}
static const char *c_never(json_t *v)
{
    VIAL__UNUSED(v);
    return "never valid";
}
static const char *(*const checks[4])(json_t *) = { c_even, c_no_x, c_small, c_never };

#define LONG_PREFIX                                                                            \
    "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP" \
    "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP" \
    "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP" \
    "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP" \
    "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP" \
    "PPPPPPPPPPPPPPPPPPPPPPPPPP" /* 476 */

static const char *const prefixes[8] = { "", "[0]", "body", "a.b[3]", LONG_PREFIX, "", "[0]", "" };

/* ------------------------------------------------------------------ the schema from the input */

typedef struct {
    const uint8_t *p;
    size_t n, i;
} reader;

static uint8_t next(reader *r)
{
    return r->i < r->n ? r->p[r->i++] : 0;
}

static vial_schema schemas[MAX_SCHEMAS];
static vial_field fields[MAX_SCHEMAS][MAX_FIELDS + 1];
static vial_field items[MAX_ITEMS];
static size_t nschemas, nitems;

static void read_field(reader *r, vial_field *f)
{
    uint8_t d0 = next(r), d1 = next(r), d2 = next(r), d3 = next(r);
    *f = (vial_field){ .name = names[d0 % 16], .type = (vial_ftype)(d1 & 7),
                       .flags = (d1 >> 3) & 7u, .min = limits[d2 & 15], .max = limits[d2 >> 4] };
    if (d1 & 0x40)
        f->check = checks[(d3 >> 4) & 3];
    if (d1 & 0x80)
        f->one_of = oneofs[d3 >> 6];
    if (!(d3 & 8)) {
        if ((d3 & 4) && f->type == VIAL_F_ARRAY) {
            if (nitems)
                f->items = &items[(d3 & 3) % nitems];
        } else {
            f->schema = &schemas[(d3 & 3) % nschemas];
        }
    }
}

static void read_schemas(reader *r)
{
    uint8_t b = next(r);
    nschemas = 1 + (b & 3);
    nitems = ((size_t)b >> 2 & 7) % (MAX_ITEMS + 1);
    for (size_t i = 0; i < nitems; i++)
        read_field(r, &items[i]);
    for (size_t s = 0; s < nschemas; s++) {
        uint8_t h = next(r);
        size_t nf = (h >> 1) & 7;
        for (size_t i = 0; i < nf; i++)
            read_field(r, &fields[s][i]);
        fields[s][nf] = (vial_field)VIAL_FIELD_END;
        schemas[s] = (vial_schema){ fields[s], h & 1 ? VIAL_SCHEMA_STRICT : 0 };
    }
}

/* ------------------------------------------------------------------ the reference validator */

/* Problems in the order found: (path, reason).  The error object keeps the
 * first reason per path; the count is every problem. */
typedef struct {
    char **path, **why;
    size_t n, cap;
    bool bad_schema; /* a schema reached names a field twice: VIAL_EINVAL */
} problems;

static void emit(problems *ps, const char *path, const char *why)
{
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 16;
        ps->path = realloc(ps->path, ps->cap * sizeof *ps->path);
        ps->why = realloc(ps->why, ps->cap * sizeof *ps->why);
        if (!ps->path || !ps->why)
            die("out of memory");
    }
    ps->path[ps->n] = strdup(path);
    ps->why[ps->n] = strdup(why);
    if (!ps->path[ps->n] || !ps->why[ps->n])
        die("out of memory");
    ps->n++;
}

static void problems_free(problems *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->path[i]);
        free(ps->why[i]);
    }
    free(ps->path);
    free(ps->why);
    *ps = (problems){ 0 };
}

/* "base.name" ("name" at the top), or NULL when PATH_LIMIT is reached. */
static char *member_path(const char *base, const char *name)
{
    size_t b = strlen(base), k = strlen(name), len = b + (b ? 1 : 0) + k;
    if (len >= PATH_LIMIT)
        return NULL;
    char *s = malloc(len + 1);
    if (!s)
        die("out of memory");
    memcpy(s, base, b);
    if (b)
        s[b++] = '.';
    memcpy(s + b, name, k + 1);
    return s;
}

static char *item_path(const char *base, size_t i)
{
    char num[32];
    int k = snprintf(num, sizeof num, "[%zu]", i);
    size_t b = strlen(base);
    if (b + (size_t)k >= PATH_LIMIT)
        return NULL;
    char *s = malloc(b + (size_t)k + 1);
    if (!s)
        die("out of memory");
    memcpy(s, base, b);
    memcpy(s + b, num, (size_t)k + 1);
    return s;
}

/* Code points in valid UTF-8 (jansson has validated it). */
static size_t code_points(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n;) {
        unsigned char b = (unsigned char)s[i];
        i += b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
        c++;
    }
    return c;
}

/* value < bound (-1), > bound (1) or neither (0), exactly: long double
 * holds every int64 and every double. */
static int compare(json_t *v, double bound)
{
    long double x = json_is_integer(v) ? (long double)json_integer_value(v)
                                       : (long double)json_real_value(v);
    long double b = bound;
    return x < b ? -1 : x > b ? 1 : 0;
}

static bool has_bounds(const vial_field *f)
{
    return !(f->min == 0 && f->max == 0);
}

/* Bounds no value meets: the schema is refused (VIAL_EINVAL). */
static bool impossible(const vial_field *f)
{
    return has_bounds(f) && f->max != 0 && f->min > f->max;
}

/* A number's maximum applies unless only a positive minimum is given. */
static bool num_max(const vial_field *f)
{
    return f->max != 0 || f->min <= 0;
}

static size_t ref_object(const vial_schema *s, json_t *obj, const char *path, problems *ps);

static size_t ref_value(const vial_field *f, json_t *v, const char *path, problems *ps)
{
    size_t before = ps->n;
    char why[256];
    if (json_is_null(v)) {
        if (!(f->flags & VIAL_NULLABLE))
            emit(ps, path, "must not be null");
        return ps->n - before;
    }
    switch (f->type) {
    case VIAL_F_ANY:
        break;
    case VIAL_F_STRING: {
        if (!json_is_string(v)) {
            emit(ps, path, "must be a string");
            return 1;
        }
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (strlen(s) != n) {
            emit(ps, path, "must not contain NUL characters");
            return 1;
        }
        double chars = (double)code_points(s, n);
        if (has_bounds(f) && (chars < f->min || (f->max > 0 && chars > f->max))) {
            if (f->max > 0)
                snprintf(why, sizeof why, "length must be %g..%g characters", f->min, f->max);
            else
                snprintf(why, sizeof why, "must be at least %g characters", f->min);
            emit(ps, path, why);
            return 1;
        }
        if (f->flags & VIAL_NONEMPTY) {
            bool blank = true;
            for (size_t i = 0; i < n; i++)
                if (!strchr(" \t\r\n", s[i]))
                    blank = false;
            if (blank) {
                emit(ps, path, "must not be empty");
                return 1;
            }
        }
        if (f->one_of) {
            bool found = false;
            for (size_t i = 0; f->one_of[i]; i++)
                if (!strcmp(f->one_of[i], s))
                    found = true;
            if (!found) {
                /* the full list; the implementation may shorten it */
                vial__buf b = { 0 };
                vial__buf_append(&b, "must be one of:", 15);
                for (size_t i = 0; f->one_of[i]; i++) {
                    vial__buf_append(&b, " ", 1);
                    vial__buf_append(&b, f->one_of[i], strlen(f->one_of[i]));
                }
                vial__buf_nul(&b);
                emit(ps, path, b.p);
                vial__buf_free(&b);
                return 1;
            }
        }
        break;
    }
    case VIAL_F_INT:
    case VIAL_F_NUMBER:
        if (f->type == VIAL_F_INT && !json_is_integer(v)) {
            emit(ps, path, "must be an integer");
            return 1;
        }
        if (f->type == VIAL_F_NUMBER && !json_is_integer(v) && !json_is_real(v)) {
            emit(ps, path, "must be a number");
            return 1;
        }
        if (has_bounds(f) && (compare(v, f->min) < 0 || (num_max(f) && compare(v, f->max) > 0))) {
            if (num_max(f))
                snprintf(why, sizeof why, "must be between %.15g and %.15g", f->min, f->max);
            else
                snprintf(why, sizeof why, "must be at least %.15g", f->min);
            emit(ps, path, why);
            return 1;
        }
        break;
    case VIAL_F_BOOL:
        if (!json_is_true(v) && !json_is_false(v)) {
            emit(ps, path, "must be true or false");
            return 1;
        }
        break;
    case VIAL_F_TIMESTAMP: {
        vial_time t;
        if (!json_is_string(v) ||
            vial_time_parse(json_string_value(v), json_string_length(v), INT32_MIN, &t)) {
            emit(ps, path, "not an RFC 3339 timestamp with an offset");
            return 1;
        }
        break;
    }
    case VIAL_F_OBJECT:
        if (!json_is_object(v)) {
            emit(ps, path, "must be an object");
            return 1;
        }
        if (f->schema && (ref_object(f->schema, v, path, ps) || ps->bad_schema))
            return ps->n - before;
        break;
    case VIAL_F_ARRAY: {
        if (!json_is_array(v)) {
            emit(ps, path, "must be an array");
            return 1;
        }
        double n = (double)json_array_size(v);
        if (has_bounds(f) && (n < f->min || (f->max > 0 && n > f->max))) {
            if (n == 0)
                snprintf(why, sizeof why, "must not be empty");
            else if (f->max > 0)
                snprintf(why, sizeof why, "must have %g..%g items", f->min, f->max);
            else
                snprintf(why, sizeof why, "must have at least %g items", f->min);
            emit(ps, path, why);
            return 1;
        }
        if (f->schema || f->items) {
            for (size_t i = 0; i < json_array_size(v); i++) {
                char *sub = item_path(path, i);
                if (!sub) {
                    emit(ps, path, "nested too deeply");
                    return ps->n - before;
                }
                if (f->schema)
                    ref_object(f->schema, json_array_get(v, i), sub, ps);
                else
                    ref_value(f->items, json_array_get(v, i), sub, ps);
                free(sub);
                if (ps->bad_schema)
                    return 0;
            }
            if (ps->n > before)
                return ps->n - before;
        }
        break;
    }
    }
    if (f->check) {
        const char *reason = f->check(v);
        if (reason)
            emit(ps, path, reason);
    }
    return ps->n - before;
}

static size_t ref_object(const vial_schema *s, json_t *obj, const char *path, problems *ps)
{
    size_t before = ps->n;
    for (size_t i = 0; s->fields[i].name; i++)
        for (size_t j = i + 1; s->fields[j].name; j++)
            if (!strcmp(s->fields[i].name, s->fields[j].name))
                ps->bad_schema = true;
    for (const vial_field *f = s->fields; f->name; f++)
        if (impossible(f) || (f->items && impossible(f->items)))
            ps->bad_schema = true;
    if (ps->bad_schema)
        return 0; /* stops everything: the whole validation fails */
    if (!json_is_object(obj)) {
        emit(ps, path, "must be an object");
        return 1;
    }
    for (const vial_field *f = s->fields; f->name; f++) {
        char *sub = member_path(path, f->name);
        if (!sub) {
            emit(ps, path, "nested too deeply");
            return ps->n - before;
        }
        json_t *v = json_object_get(obj, f->name);
        if (v)
            ref_value(f, v, sub, ps);
        else if (f->flags & VIAL_REQUIRED)
            emit(ps, sub, "required");
        free(sub);
        if (ps->bad_schema)
            return 0;
    }
    if (s->flags & VIAL_SCHEMA_STRICT) {
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
            bool declared = false;
            for (const vial_field *f = s->fields; f->name; f++)
                declared |= !strcmp(f->name, k);
            if (declared)
                continue;
            char *sub = member_path(path, k);
            if (!sub) {
                emit(ps, path, "nested too deeply");
                return ps->n - before;
            }
            emit(ps, sub, "unknown field");
            free(sub);
        }
    }
    return ps->n - before;
}

/* ------------------------------------------------------------------ paths are real */

/* Whether `s` (what is left of an error path) leads from `v` (NULL: a
 * missing member) to a place the reason can be about.  Keys may contain
 * '.' and '[', so every split is tried. */
static bool reaches(json_t *v, const char *s, bool top, const char *why, int depth)
{
    if (depth > 600)
        return false;
    if (!*s)
        return v || !strcmp(why, "required");
    if (!v)
        return false;
    if (*s == '[' && json_is_array(v)) {
        char *end;
        unsigned long long i = strtoull(s + 1, &end, 10);
        if (s[1] >= '0' && s[1] <= '9' && *end == ']' &&
            i < json_array_size(v) && reaches(json_array_get(v, i), end + 1, false, why, depth + 1))
            return true;
    }
    if (json_is_object(v)) {
        const char *k = s;
        if (!top) {
            if (*s != '.')
                return false;
            k++;
        }
        for (const char *e = k;; e++) {
            if (!*e || *e == '.' || *e == '[') {
                json_t *m = json_object_getn(v, k, (size_t)(e - k));
                if ((m || !*e) && reaches(m, e, false, why, depth + 1))
                    return true;
            }
            if (!*e)
                break;
        }
    }
    return false;
}

static void check_paths(json_t *errors, json_t *body, const char *prefix)
{
    const char *key;
    json_t *why;
    size_t plen = strlen(prefix);
    json_object_foreach(errors, key, why) {
        const char *w = json_string_value(why);
        if (!w || !*w)
            die("no reason for %s", key);
        if (!strcmp(key, "(root)") && !*prefix && reaches(body, "", true, w, 0))
            continue;
        if (strncmp(key, prefix, plen) || !reaches(body, key + plen, !*prefix, w, 0))
            die("error path '%s' (%s) is not a place in the body", key, w);
    }
}

/* ------------------------------------------------------------------ comparing */

/* The implementation's error object against the reference's problems. */
static void compare_errors(int n, json_t *errors, problems *ps, const char *what)
{
    if (ps->bad_schema || n == VIAL_EINVAL) {
        if (!ps->bad_schema || n != VIAL_EINVAL)
            die("%s returned %d; the reference %s a broken schema (a field named twice, impossible bounds)", what, n,
                ps->bad_schema ? "met" : "did not meet");
        return;
    }
    if (n < 0)
        die("%s failed: %s", what, vial_strerror(n));
    if ((size_t)n != ps->n) {
        char *d = json_dumps(errors, JSON_SORT_KEYS);
        die("%s counted %d problems, the reference %zu (first: %s: %s); errors %s", what, n,
            ps->n, ps->n ? ps->path[0] : "-", ps->n ? ps->why[0] : "-", d ? d : "?");
    }
    json_t *want = json_object();
    for (size_t i = 0; i < ps->n; i++) {
        const char *key = *ps->path[i] ? ps->path[i] : "(root)";
        if (!json_object_get(want, key))
            json_object_set_new(want, key, json_string(ps->why[i]));
    }
    if (json_object_size(want) != json_object_size(errors)) {
        char *a = json_dumps(errors, JSON_SORT_KEYS), *b = json_dumps(want, JSON_SORT_KEYS);
        die("%s: errors %s, reference %s", what, a ? a : "?", b ? b : "?");
    }
    const char *key;
    json_t *w;
    json_object_foreach(want, key, w) {
        json_t *got = json_object_get(errors, key);
        const char *g = json_string_value(got), *e = json_string_value(w);
        if (!g)
            die("%s: no error at '%s' (reference: %s)", what, key, e);
        if (strcmp(g, e)) {
            /* a long one_of list may be shortened: entries dropped, " ..." */
            size_t k = strlen(g);
            bool shortened = !strncmp(e, "must be one of:", 15) && k > 4 &&
                             !strcmp(g + k - 4, " ...") && !strncmp(g, e, k - 4) &&
                             (e[k - 4] == ' ');
            if (!shortened)
                die("%s: at '%s' the reason is \"%s\", the reference says \"%s\"", what, key, g, e);
        }
    }
    json_decref(want);
}

/* ------------------------------------------------------------------ the request path */

static vial_app *app;

static int h_valid(vial_req *req)
{
    json_t *j = vial_body_json_valid(req, &schemas[0]);
    if (!j)
        return 0;
    return vial_text(req, 200, "ok");
}

static void check_request(const uint8_t *body, size_t len)
{
    vial_test_resp *r = vial_test(app, "POST", "/v", "Content-Type: application/json\r\n", body, len);
    if (!r)
        die("test client out of memory");
    int st = vial_test_status(r);
    json_t *resp = json_loads(vial_test_body(r, NULL), 0, NULL);
    json_t *v = json_loadb((const char *)body, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (!v) {
        if (st != 400 || !resp || json_object_get(resp, "fields"))
            die("JSON that does not parse: status %d, body %s", st, vial_test_body(r, NULL));
    } else {
        json_t *errors = json_object();
        int n = vial_validate(&schemas[0], v, "", errors);
        if (n == VIAL_EINVAL && st != 500)
            die("a schema with a field named twice: status %d", st);
        if (n < 0 && n != VIAL_EINVAL)
            die("vial_validate failed: %s", vial_strerror(n));
        if (n == 0 && st != 200)
            die("a valid body got %d: %s", st, vial_test_body(r, NULL));
        if (n > 0 && (st != 400 || !resp || !json_equal(json_object_get(resp, "fields"), errors)))
            die("an invalid body got %d: %s", st, vial_test_body(r, NULL));
        json_decref(errors);
        json_decref(v);
    }
    json_decref(resp);
    vial_test_free(r);
}

/* ------------------------------------------------------------------ entry points */

static void app_free(void)
{
    vial_app_free(app);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    VIAL__UNUSED(argc);
    VIAL__UNUSED(argv);
    vial__log_level = VIAL_LOG_ERROR + 1;
    app = vial_app_new("fuzz");
    if (!app)
        die("vial_app_new failed");
    vial_config_set(app, "access_log", "off");
    vial_route(vial_app_bp(app), VIAL_POST, "/v", h_valid, "valid");
    if (vial_configure(app, 0, NULL))
        die("vial_configure failed");
    atexit(app_free);
    return 0;
}

/* Runs one validation (schema, or field when `field` is set) and checks it. */
static void run(const vial_schema *schema, const vial_field *field, json_t *v, const char *prefix)
{
    json_t *copy = json_deep_copy(v);
    json_t *errors = json_object(), *again = json_object();
    problems ps = { 0 };
    int n, n2, n3;
    if (schema) {
        n = vial_validate(schema, v, prefix, errors);
        n2 = vial_validate(schema, v, prefix, again);
        n3 = vial_validate(schema, v, prefix, NULL);
        ref_object(schema, v, prefix, &ps);
    } else {
        n = vial_validate_field(field, v, prefix, errors);
        n2 = vial_validate_field(field, v, prefix, again);
        n3 = vial_validate_field(field, v, prefix, NULL);
        if (impossible(field) || (field->items && impossible(field->items)))
            ps.bad_schema = true;
        else
            ref_value(field, v, prefix, &ps);
    }
    const char *what = schema ? "vial_validate" : "vial_validate_field";
    if (n != n2 || n != n3 || !json_equal(errors, again))
        die("%s is not deterministic (%d, %d, %d without errors)", what, n, n2, n3);
    if (!json_equal(copy, v))
        die("%s changed the value", what);
    compare_errors(n, errors, &ps, what);
    if (n >= 0)
        check_paths(errors, v, prefix);
    problems_free(&ps);
    json_decref(errors);
    json_decref(again);
    json_decref(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size, 0 };
    uint8_t ctl = next(&r);
    read_schemas(&r);
    const uint8_t *body = data + r.i;
    size_t blen = size - r.i;
    const char *prefix = prefixes[ctl & 7];

    json_t *v = json_loadb((const char *)body, blen,
                           JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, NULL);
    if (v) {
        run(&schemas[0], NULL, v, prefix);
        if ((ctl & 8) && nitems)
            run(NULL, &items[0], v, prefix);
        json_decref(v);
    }
    if (ctl & 16)
        check_request(body, blen);
    return 0;
}

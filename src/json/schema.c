/*
 * schema.c — validation of parsed JSON against declared schemas.
 *
 * Every problem is reported, not just the first, keyed by its path in the
 * body as sent ("actions[3].time", "[0].userId"), so a client can fix a
 * whole request in one round trip.  Validation never changes the value.
 */
#include "json.h"

#include <math.h>

#define PATH_MAX_LEN 512

static int add(json_t *errors, const char *path, const char *why)
{
    if (!errors)
        return 1;
    const char *key = *path ? path : "(root)";
    if (json_object_get(errors, key))
        return 1; /* first reason per path wins */
    return json_object_set_new(errors, key, json_string(why)) ? VIAL_ENOMEM : 1;
}

static bool bounded(const vial_field *f)
{
    return f->min != 0 || f->max != 0;
}

/* A length or count against the bounds, as doubles: bounds may be negative,
 * fractional or huge (a cast to size_t would be undefined). */
static bool count_outside(const vial_field *f, size_t n)
{
    double x = (double)n;
    return x < f->min || (f->max > 0 && x > f->max);
}

/* An integer against a double bound, exactly: converting the integer to a
 * double rounds above 2^53 (9007199254740993 would pass a max of 2^53). */
static bool int_below(json_int_t x, double d)
{
    if (isnan(d) || d < -0x1p63)
        return false;
    if (d >= 0x1p63)
        return true;
    return x < (json_int_t)ceil(d); /* d in [-2^63, 2^63): ceil(d) fits */
}

static bool int_above(json_int_t x, double d)
{
    if (isnan(d) || d >= 0x1p63)
        return false;
    if (d < -0x1p63)
        return true;
    return x > (json_int_t)floor(d);
}

/* "must be one of: a b c", with whole values only: when the list does not
 * fit, it ends with " ..." (cutting inside a UTF-8 character would make the
 * reason invalid UTF-8, which jansson refuses). */
static void one_of_reason(const char *const *one_of, char *why, size_t size)
{
    size_t k = (size_t)snprintf(why, size, "must be one of:");
    for (const char *const *o = one_of; *o; o++) {
        size_t len = strlen(*o);
        if (k + 1 + len + sizeof " ..." > size) {
            memcpy(why + k, " ...", sizeof " ...");
            return;
        }
        why[k++] = ' ';
        memcpy(why + k, *o, len + 1);
        k += len;
    }
}

static int check_value(const vial_field *f, json_t *v, const char *path, json_t *errors);

/* Problems found so far plus the result of one more add(): a failure wins. */
static int add_total(int total, int r)
{
    return r < 0 ? r : total + r;
}

static int sub_path(char *out, const char *base, const char *name, size_t index, bool is_index)
{
    int n = is_index ? snprintf(out, PATH_MAX_LEN, "%s[%zu]", base, index)
                     : snprintf(out, PATH_MAX_LEN, "%s%s%s", base, *base ? "." : "", name);
    return n < 0 || n >= PATH_MAX_LEN ? -1 : 0;
}

/* A schema that names a field twice is refused: both rules would apply to
 * the one member, and in a recursive schema (a tree) every level would
 * visit the subtree once per copy — exponential in the body's depth. */
static bool names_a_field_twice(const vial_schema *s)
{
    for (const vial_field *f = s->fields; f && f->name; f++)
        for (const vial_field *g = s->fields; g != f; g++)
            if (!strcmp(f->name, g->name))
                return true;
    return false;
}

/* Bounds that no value meets (min above max: .min = 1 with .max left 0
 * reads as 1..0) are the schema's mistake, not the client's: refused
 * loudly rather than answering every request 400. */
static bool impossible_bounds(const vial_field *f)
{
    return bounded(f) && f->max != 0 && f->min > f->max;
}

static bool schema_broken(const vial_schema *s)
{
    if (names_a_field_twice(s))
        return true;
    for (const vial_field *f = s->fields; f && f->name; f++)
        if (impossible_bounds(f) || (f->items && impossible_bounds(f->items)))
            return true;
    return false;
}

static int check_object(const vial_schema *s, json_t *obj, const char *path, json_t *errors)
{
    if (schema_broken(s))
        return VIAL_EINVAL;
    if (!json_is_object(obj))
        return add(errors, path, "must be an object");
    int total = 0;
    char sub[PATH_MAX_LEN];
    for (const vial_field *f = s->fields; f && f->name; f++) {
        if (sub_path(sub, path, f->name, 0, false))
            return add_total(total, add(errors, path, "nested too deeply"));
        json_t *v = json_object_get(obj, f->name);
        int r = v ? check_value(f, v, sub, errors)
                  : (f->flags & VIAL_REQUIRED) ? add(errors, sub, "required") : 0;
        if (r < 0)
            return r;
        total += r;
    }
    if (s->flags & VIAL_SCHEMA_STRICT) {
        const char *k;
        json_t *v;
        json_object_foreach(obj, k, v) {
            bool known = false;
            for (const vial_field *f = s->fields; f && f->name && !known; f++)
                known = !strcmp(f->name, k);
            if (!known) {
                if (sub_path(sub, path, k, 0, false))
                    return add_total(total, add(errors, path, "nested too deeply"));
                int r = add(errors, sub, "unknown field");
                if (r < 0)
                    return r;
                total += r;
            }
        }
    }
    return total;
}

static int check_value(const vial_field *f, json_t *v, const char *path, json_t *errors)
{
    if (json_is_null(v))
        return (f->flags & VIAL_NULLABLE) ? 0 : add(errors, path, "must not be null");
    char why[128];
    switch (f->type) {
    case VIAL_F_ANY:
        break;
    case VIAL_F_STRING: {
        if (!json_is_string(v))
            return add(errors, path, "must be a string");
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);
        if (memchr(s, '\0', n))
            return add(errors, path, "must not contain NUL characters");
        if (bounded(f) && count_outside(f, vial__utf8_chars(s, n))) {
            if (f->max > 0)
                snprintf(why, sizeof why, "length must be %g..%g characters", f->min, f->max);
            else
                snprintf(why, sizeof why, "must be at least %g characters", f->min);
            return add(errors, path, why);
        }
        if (f->flags & VIAL_NONEMPTY) {
            bool blank = true;
            for (size_t i = 0; i < n && blank; i++)
                blank = s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r';
            if (blank)
                return add(errors, path, "must not be empty");
        }
        if (f->one_of) {
            bool ok = false;
            for (const char *const *o = f->one_of; *o && !ok; o++)
                ok = !strcmp(*o, s);
            if (!ok) {
                one_of_reason(f->one_of, why, sizeof why);
                return add(errors, path, why);
            }
        }
        break;
    }
    case VIAL_F_INT:
    case VIAL_F_NUMBER: {
        if (f->type == VIAL_F_INT ? !json_is_integer(v) : !json_is_number(v))
            return add(errors, path, f->type == VIAL_F_INT ? "must be an integer" : "must be a number");
        bool outside;
        if (json_is_integer(v)) {
            json_int_t x = json_integer_value(v);
            outside = int_below(x, f->min) || (vial__num_has_max(f) && int_above(x, f->max));
        } else {
            double x = json_real_value(v);
            outside = x < f->min || (vial__num_has_max(f) && x > f->max);
        }
        if (bounded(f) && outside) {
            if (vial__num_has_max(f))
                snprintf(why, sizeof why, "must be between %.15g and %.15g", f->min, f->max);
            else
                snprintf(why, sizeof why, "must be at least %.15g", f->min);
            return add(errors, path, why);
        }
        break;
    }
    case VIAL_F_BOOL:
        if (!json_is_boolean(v))
            return add(errors, path, "must be true or false");
        break;
    case VIAL_F_TIMESTAMP: {
        vial_time t;
        if (!json_is_string(v) ||
            vial_time_parse(json_string_value(v), json_string_length(v), INT32_MIN, &t))
            return add(errors, path, "not an RFC 3339 timestamp with an offset");
        break;
    }
    case VIAL_F_OBJECT:
        if (!json_is_object(v))
            return add(errors, path, "must be an object");
        if (f->schema) {
            int r = check_object(f->schema, v, path, errors);
            if (r)
                return r; /* problems inside: the field's own check waits */
        }
        break;
    case VIAL_F_ARRAY: {
        if (!json_is_array(v))
            return add(errors, path, "must be an array");
        size_t n = json_array_size(v);
        if (bounded(f) && count_outside(f, n)) {
            if (n == 0)
                return add(errors, path, "must not be empty");
            if (f->max > 0)
                snprintf(why, sizeof why, "must have %g..%g items", f->min, f->max);
            else
                snprintf(why, sizeof why, "must have at least %g items", f->min);
            return add(errors, path, why);
        }
        int total = 0;
        char sub[PATH_MAX_LEN];
        for (size_t i = 0; i < n; i++) {
            if (sub_path(sub, path, NULL, i, true))
                return add_total(total, add(errors, path, "nested too deeply"));
            json_t *item = json_array_get(v, i);
            int r = 0;
            if (f->schema)
                r = check_object(f->schema, item, sub, errors);
            else if (f->items)
                r = check_value(f->items, item, sub, errors);
            if (r < 0)
                return r;
            total += r;
        }
        if (total)
            return total;
        break;
    }
    }
    if (f->check) {
        const char *reason = f->check(v);
        if (reason)
            return add(errors, path, reason);
    }
    return 0;
}

int vial_validate(const vial_schema *schema, json_t *value, const char *prefix, json_t *errors)
{
    if (!schema)
        return VIAL_EINVAL;
    /* not copied: a prefix near PATH_MAX_LEN makes its members "nested too
     * deeply" instead of being cut (possibly inside a UTF-8 character) */
    return check_object(schema, value, prefix ? prefix : "", errors);
}

int vial_validate_field(const vial_field *field, json_t *value, const char *path, json_t *errors)
{
    if (!field || impossible_bounds(field) || (field->items && impossible_bounds(field->items)))
        return VIAL_EINVAL;
    if (!value)
        return (field->flags & VIAL_REQUIRED) ? add(errors, path ? path : "", "required") : 0;
    return check_value(field, value, path ? path : "", errors);
}

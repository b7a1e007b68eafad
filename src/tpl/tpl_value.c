/*
 * tpl_value.c — template values as Python sees them, and the render's
 * budget.
 *
 * Values: conversion from and to jansson, truthiness, ==, ordering (ints
 * and floats compared exactly, strings by code point, lists
 * lexicographically), str() and repr() in Python's spelling (None, True,
 * 1.0, 1e+16, ['a', 1]), UTF-8 stepping, and markupsafe's HTML escaping.
 * Budget: the first error of a render (with its file:line:col), the step
 * counter, and arena allocations and kept jansson values charged against
 * the memory limit.  Both the renderer and the filters use these.
 */
#include "tpl_impl.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ budget and errors */

int vial__tr_error(vial__trender *r, uint32_t pos, int code, const char *fmt, ...)
{
    if (r->err)
        return r->err;
    r->err = code;
    if (r->errbuf && r->errlen) {
        int w = vial__tpl_where(r->tpl, pos, r->errbuf, r->errlen);
        if (w >= 0 && (size_t)w < r->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(r->errbuf + w, r->errlen - (size_t)w, fmt, ap);
            va_end(ap);
        }
    }
    return code;
}

static int oom(vial__trender *r, uint32_t pos)
{
    return vial__tr_error(r, pos, VIAL_ENOMEM, "out of memory");
}

int vial__tr_steps(vial__trender *r, uint32_t pos, uint64_t n)
{
    r->steps += n;
    if (r->steps > r->lim.max_steps)
        return vial__tr_error(r, pos, VIAL_ERANGE,
                              "template needs too much work (more than %" PRIu64 " steps)",
                              r->lim.max_steps);
    return 0;
}

int vial__tr_charge(vial__trender *r, uint32_t pos, size_t n)
{
    if (n > r->lim.max_memory || r->mem > r->lim.max_memory - n)
        return vial__tr_error(r, pos, VIAL_ETOOBIG,
                              "template needs too much memory (more than %zu bytes)",
                              r->lim.max_memory);
    r->mem += n;
    return 0;
}

void *vial__tr_alloc(vial__trender *r, uint32_t pos, size_t n)
{
    if (r->err || vial__tr_charge(r, pos, n))
        return NULL;
    void *p = vial__arena_alloc(&r->ar, n ? n : 1);
    if (!p)
        oom(r, pos);
    return p;
}

int vial__tr_keep(vial__trender *r, uint32_t pos, json_t *j)
{
    if (!j)
        return oom(r, pos);
    if (vial__tr_charge(r, pos, 64)) {
        json_decref(j);
        return r->err;
    }
    if (r->nkeep == r->capkeep) {
        size_t cap = r->capkeep ? r->capkeep * 2 : 16;
        json_t **k = realloc(r->keep, cap * sizeof *k);
        if (!k) {
            json_decref(j);
            return oom(r, pos);
        }
        r->keep = k;
        r->capkeep = cap;
    }
    r->keep[r->nkeep++] = j;
    return 0;
}

int vial__tr_strval(vial__trender *r, uint32_t pos, const char *p, size_t n, bool safe,
                    vial__tval *out)
{
    char *s = vial__tr_alloc(r, pos, n + 1);
    if (!s)
        return r->err;
    if (n)
        memcpy(s, p, n);
    s[n] = '\0';
    out->t = TV_STR;
    out->safe = safe;
    out->u.s.p = s;
    out->u.s.n = n;
    return 0;
}

/* ------------------------------------------------------------------ values */

static size_t safe_slot(const json_t *j, size_t cap)
{
    uint64_t h = (uint64_t)(uintptr_t)j * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 32) & (cap - 1);
}

static bool safe_has(const vial__trender *r, const json_t *j)
{
    for (size_t i = safe_slot(j, r->capsafe);; i = (i + 1) & (r->capsafe - 1)) {
        if (r->safe[i] == j)
            return true;
        if (!r->safe[i])
            return false;
    }
}

static int safe_add(vial__trender *r, uint32_t pos, json_t *j)
{
    if (2 * (r->nsafe + 1) > r->capsafe) { /* at most half full: probes stay short */
        size_t cap = r->capsafe ? 2 * r->capsafe : 16;
        if (vial__tr_charge(r, pos, cap * sizeof *r->safe))
            return r->err;
        json_t **t = calloc(cap, sizeof *t);
        if (!t)
            return oom(r, pos);
        for (size_t i = 0; i < r->capsafe; i++) {
            if (!r->safe[i])
                continue;
            size_t k = safe_slot(r->safe[i], cap);
            while (t[k])
                k = (k + 1) & (cap - 1);
            t[k] = r->safe[i];
        }
        free(r->safe);
        r->safe = t;
        r->capsafe = cap;
    }
    size_t k = safe_slot(j, r->capsafe);
    while (r->safe[k] && r->safe[k] != j)
        k = (k + 1) & (r->capsafe - 1);
    if (!r->safe[k]) {
        r->safe[k] = json_incref(j);
        r->nsafe++;
    }
    return 0;
}

void vial__tr_safe_free(vial__trender *r)
{
    for (size_t i = 0; i < r->capsafe; i++)
        json_decref(r->safe[i]);
    free(r->safe);
    r->safe = NULL;
    r->nsafe = r->capsafe = 0;
}

vial__tval vial__tr_from_json(const vial__trender *r, json_t *j)
{
    vial__tval v = vial__tv_from_json(j);
    if (v.t == TV_STR && r->nsafe && safe_has(r, j))
        v.safe = true;
    return v;
}

json_t *vial__tr_to_json(vial__trender *r, uint32_t pos, const vial__tval *v)
{
    json_t *j = vial__tv_to_json(v);
    if (!j) {
        oom(r, pos);
        return NULL;
    }
    if (v->t == TV_STR && v->safe && safe_add(r, pos, j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

vial__tval vial__tv_from_json(json_t *j)
{
    vial__tval v = { 0 };
    switch (json_typeof(j)) {
    case JSON_STRING:
        v.t = TV_STR;
        v.u.s.p = json_string_value(j);
        v.u.s.n = json_string_length(j);
        break;
    case JSON_INTEGER:
        v.t = TV_INT;
        v.u.i = (int64_t)json_integer_value(j);
        break;
    case JSON_REAL:
        v.t = TV_REAL;
        v.u.d = json_real_value(j);
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        v.t = TV_BOOL;
        v.u.b = json_is_true(j);
        break;
    case JSON_ARRAY:
        v.t = TV_ARR;
        v.u.j = j;
        break;
    case JSON_OBJECT:
        v.t = TV_OBJ;
        v.u.j = j;
        break;
    default: v.t = TV_NONE; break;
    }
    return v;
}

json_t *vial__tv_to_json(const vial__tval *v)
{
    switch (v->t) {
    case TV_BOOL: return json_boolean(v->u.b);
    case TV_INT: return json_integer((json_int_t)v->u.i);
    case TV_REAL: return isfinite(v->u.d) ? json_real(v->u.d) : json_null();
    case TV_STR: return json_stringn_nocheck(v->u.s.p, v->u.s.n);
    case TV_ARR:
    case TV_OBJ: return json_incref(v->u.j);
    case TV_LOOP: {
        const struct vial__tloop *l = v->u.loop;
        return json_pack("{sI sI sI sb sb}", "index", (json_int_t)l->index0 + 1, "index0",
                         (json_int_t)l->index0, "length", (json_int_t)l->length, "first",
                         l->index0 == 0, "last", l->index0 + 1 == l->length);
    }
    default: return json_null();
    }
}

bool vial__tv_truthy(const vial__tval *v)
{
    switch (v->t) {
    case TV_BOOL: return v->u.b;
    case TV_INT: return v->u.i != 0;
    case TV_REAL: return v->u.d != 0;
    case TV_STR: return v->u.s.n != 0;
    case TV_ARR: return json_array_size(v->u.j) != 0;
    case TV_OBJ: return json_object_size(v->u.j) != 0;
    case TV_LOOP: return true;
    default: return false;
    }
}

const char *vial__tv_type_name(const vial__tval *v)
{
    switch (v->t) {
    case TV_UNDEF: return "undefined";
    case TV_NONE: return "NoneType";
    case TV_BOOL: return "bool";
    case TV_INT: return "int";
    case TV_REAL: return "float";
    case TV_STR: return "str";
    case TV_ARR: return "list";
    case TV_OBJ: return "dict";
    default: return "LoopContext";
    }
}

/* Numbers as Python sees them: bools are ints. */
bool vial__tv_num(const vial__tval *v, bool *is_int, int64_t *i, double *d)
{
    switch (v->t) {
    case TV_BOOL: *is_int = true; *i = v->u.b; *d = v->u.b; return true;
    case TV_INT: *is_int = true; *i = v->u.i; *d = (double)v->u.i; return true;
    case TV_REAL: *is_int = false; *i = 0; *d = v->u.d; return true;
    default: return false;
    }
}

/* Compares an int with a double exactly (a big int is not rounded first). */
static int cmp_int_real(int64_t i, double d)
{
    if (isnan(d))
        return 2;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    double fl = floor(d);
    int64_t di = (int64_t)fl;
    if (i < di)
        return -1;
    if (i > di)
        return 1;
    return fl < d ? -1 : 0;
}

static int cmp_num(const vial__tval *a, const vial__tval *b)
{
    bool ai = false, bi = false;
    int64_t x = 0, y = 0;
    double dx = 0, dy = 0;
    vial__tv_num(a, &ai, &x, &dx);
    vial__tv_num(b, &bi, &y, &dy);
    if (ai && bi)
        return x < y ? -1 : x > y;
    if (ai)
        return cmp_int_real(x, dy);
    if (bi) {
        int c = cmp_int_real(y, dx);
        return c == 2 ? 2 : -c;
    }
    if (isnan(dx) || isnan(dy))
        return 2;
    return dx < dy ? -1 : dx > dy;
}

static bool is_num(const vial__tval *v)
{
    return v->t == TV_BOOL || v->t == TV_INT || v->t == TV_REAL;
}

static bool json_equal_py(json_t *a, json_t *b, int depth);

bool vial__tv_equal(const vial__tval *a, const vial__tval *b)
{
    if (is_num(a) && is_num(b))
        return cmp_num(a, b) == 0;
    if (a->t != b->t)
        return false;
    switch (a->t) {
    case TV_UNDEF:
    case TV_NONE: return true;
    case TV_STR: return a->u.s.n == b->u.s.n && !memcmp(a->u.s.p, b->u.s.p, a->u.s.n);
    case TV_ARR:
    case TV_OBJ: return json_equal_py(a->u.j, b->u.j, 0);
    case TV_LOOP: return a->u.loop == b->u.loop;
    default: return false;
    }
}

static bool json_equal_py(json_t *a, json_t *b, int depth)
{
    if (a == b)
        return true;
    if (depth > 64)
        return json_equal(a, b);
    if (json_is_array(a) && json_is_array(b)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_equal_py(json_array_get(a, i), json_array_get(b, i), depth + 1))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *k;
        size_t kn;
        json_t *x;
        json_object_keylen_foreach(a, k, kn, x) {
            json_t *y = json_object_getn(b, k, kn);
            if (!y || !json_equal_py(x, y, depth + 1))
                return false;
        }
        return true;
    }
    vial__tval va = vial__tv_from_json(a), vb = vial__tv_from_json(b);
    if (va.t == TV_ARR || va.t == TV_OBJ || vb.t == TV_ARR || vb.t == TV_OBJ)
        return false;
    return vial__tv_equal(&va, &vb);
}

static int cmp_bytes(const char *a, size_t an, const char *b, size_t bn, bool casefold)
{
    size_t n = an < bn ? an : bn;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (casefold) {
            if (x >= 'A' && x <= 'Z')
                x = (unsigned char)(x + 32);
            if (y >= 'A' && y <= 'Z')
                y = (unsigned char)(y + 32);
        }
        if (x != y)
            return x < y ? -1 : 1;
    }
    return an < bn ? -1 : an > bn;
}

int vial__tv_compare(const vial__tval *a, const vial__tval *b, bool casefold)
{
    if (is_num(a) && is_num(b))
        return cmp_num(a, b);
    if (a->t == TV_STR && b->t == TV_STR)
        return cmp_bytes(a->u.s.p, a->u.s.n, b->u.s.p, b->u.s.n, casefold);
    if (a->t == TV_ARR && b->t == TV_ARR) {
        size_t an = json_array_size(a->u.j), bn = json_array_size(b->u.j);
        for (size_t i = 0; i < an && i < bn; i++) {
            vial__tval x = vial__tv_from_json(json_array_get(a->u.j, i));
            vial__tval y = vial__tv_from_json(json_array_get(b->u.j, i));
            if (vial__tv_equal(&x, &y))
                continue;
            /* nested lists compare one level deep here: deeper ones are
             * unordered (Python would recurse; nobody sorts such data) */
            if (x.t == TV_ARR || y.t == TV_ARR)
                return 2;
            return vial__tv_compare(&x, &y, casefold);
        }
        return an < bn ? -1 : an > bn;
    }
    return 2;
}

/* ------------------------------------------------------------------ UTF-8 and strings */

size_t vial__utf8_step(const char *s, size_t n)
{
    unsigned char c = (unsigned char)s[0];
    size_t want = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (want > n)
        return 1;
    for (size_t i = 1; i < want; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            return 1;
    return want;
}

size_t vial__utf8_len(const char *s, size_t n)
{
    size_t count = 0;
    for (size_t i = 0; i < n; count++)
        i += vial__utf8_step(s + i, n - i);
    return count;
}

/* Python's repr(float): the shortest digits that read back the same,
 * fixed notation for exponents -4..15 ("1.0", "0.0001"), else "1e+16". */
static size_t fmt_real(double d, char *out, size_t outlen)
{
    if (isnan(d))
        return (size_t)snprintf(out, outlen, "nan");
    if (isinf(d))
        return (size_t)snprintf(out, outlen, d < 0 ? "-inf" : "inf");
    if (d == 0)
        return (size_t)snprintf(out, outlen, signbit(d) ? "-0.0" : "0.0");
    char e[40];
    int prec = 1;
    for (; prec < 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, d);
        if (strtod(e, NULL) == d)
            break;
    }
    snprintf(e, sizeof e, "%.*e", prec - 1, d);
    const char *ep = strchr(e, 'e');
    int exp10 = ep ? atoi(ep + 1) : 0;
    if (exp10 >= -4 && exp10 < 16) {
        int decimals = prec - 1 - exp10;
        if (decimals < 1)
            return (size_t)snprintf(out, outlen, "%.0f.0", d);
        return (size_t)snprintf(out, outlen, "%.*f", decimals, d);
    }
    return (size_t)snprintf(out, outlen, "%s", e);
}

static int repr_str(vial__buf *b, const char *s, size_t n)
{
    bool sq = memchr(s, '\'', n) != NULL, dq = memchr(s, '"', n) != NULL;
    char q = sq && !dq ? '"' : '\'';
    int rc = vial__buf_add(b, &q, 1);
    for (size_t i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[8];
        if (c == '\\' || c == (unsigned char)q) {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            rc = vial__buf_add(b, tmp, 2);
        } else if (c == '\n') {
            rc = vial__buf_add(b, "\\n", 2);
        } else if (c == '\r') {
            rc = vial__buf_add(b, "\\r", 2);
        } else if (c == '\t') {
            rc = vial__buf_add(b, "\\t", 2);
        } else if (c < 0x20 || c == 0x7f) {
            snprintf(tmp, sizeof tmp, "\\x%02x", c);
            rc = vial__buf_add(b, tmp, 4);
        } else {
            rc = vial__buf_add(b, (const char *)&c, 1);
        }
    }
    return rc ? rc : vial__buf_add(b, &q, 1);
}

/* Python's repr() of a JSON value (how Jinja prints a list or a dict). */
static int repr_json(vial__trender *r, uint32_t pos, vial__buf *b, json_t *j, int depth)
{
    if (vial__tr_steps(r, pos, 1))
        return r->err;
    if (b->n > r->lim.max_output)
        return vial__tr_error(r, pos, VIAL_ETOOBIG, "output larger than %zu bytes",
                              r->lim.max_output);
    int rc = 0;
    switch (json_typeof(j)) {
    case JSON_ARRAY: {
        if (depth > 32)
            return vial__buf_puts(b, "[...]");
        rc = vial__buf_add(b, "[", 1);
        size_t i;
        json_t *x;
        json_array_foreach(j, i, x) {
            if (i && !rc)
                rc = vial__buf_add(b, ", ", 2);
            if (!rc)
                rc = repr_json(r, pos, b, x, depth + 1);
            if (rc)
                return rc;
        }
        return rc ? rc : vial__buf_add(b, "]", 1);
    }
    case JSON_OBJECT: {
        if (depth > 32)
            return vial__buf_puts(b, "{...}");
        rc = vial__buf_add(b, "{", 1);
        const char *k;
        size_t kn;
        json_t *x;
        bool first = true;
        json_object_keylen_foreach(j, k, kn, x) {
            if (!first && !rc)
                rc = vial__buf_add(b, ", ", 2);
            first = false;
            if (!rc)
                rc = repr_str(b, k, kn);
            if (!rc)
                rc = vial__buf_add(b, ": ", 2);
            if (!rc)
                rc = repr_json(r, pos, b, x, depth + 1);
            if (rc)
                return rc;
        }
        return rc ? rc : vial__buf_add(b, "}", 1);
    }
    case JSON_STRING: return repr_str(b, json_string_value(j), json_string_length(j));
    default: {
        vial__tval v = vial__tv_from_json(j);
        return vial__tr_str_into(r, pos, &v, b);
    }
    }
}

int vial__tr_str_into(vial__trender *r, uint32_t pos, const vial__tval *v, vial__buf *b)
{
    char tmp[48];
    size_t n;
    int rc;
    switch (v->t) {
    case TV_STR: rc = vial__buf_add(b, v->u.s.p, v->u.s.n); break;
    case TV_UNDEF: return 0;
    case TV_NONE: rc = vial__buf_add(b, "None", 4); break;
    case TV_BOOL: rc = v->u.b ? vial__buf_add(b, "True", 4) : vial__buf_add(b, "False", 5); break;
    case TV_INT: {
        /* the hot case of {{ row.id }}: no printf */
        uint64_t u = v->u.i < 0 ? 0 - (uint64_t)v->u.i : (uint64_t)v->u.i;
        tmp[0] = '-';
        n = vial__u64toa(u, tmp + 1);
        rc = v->u.i < 0 ? vial__buf_add(b, tmp, n + 1) : vial__buf_add(b, tmp + 1, n);
        break;
    }
    case TV_REAL:
        n = fmt_real(v->u.d, tmp, sizeof tmp);
        rc = vial__buf_add(b, tmp, n);
        break;
    case TV_ARR:
    case TV_OBJ:
        if ((rc = repr_json(r, pos, b, v->u.j, 0)) && r->err)
            return r->err;
        break;
    default:
        n = (size_t)snprintf(tmp, sizeof tmp, "<LoopContext %zu/%zu>", v->u.loop->index0 + 1,
                             v->u.loop->length);
        rc = vial__buf_add(b, tmp, n);
        break;
    }
    return rc ? oom(r, pos) : 0;
}

int vial__tr_str(vial__trender *r, uint32_t pos, const vial__tval *v, vial__tval *out)
{
    if (v->t == TV_STR) {
        *out = *v;
        return 0;
    }
    static const vial__tval empty = { .t = TV_STR, .u.s = { "", 0 } };
    if (v->t == TV_UNDEF) {
        *out = empty;
        return 0;
    }
    vial__buf b = { 0 };
    int rc = vial__tr_str_into(r, pos, v, &b);
    if (!rc)
        rc = vial__tr_strval(r, pos, b.p ? b.p : "", b.n, false, out);
    vial__buf_free(&b);
    return rc;
}

/* The characters markupsafe escapes, and what it writes for them. */
static const char *const html_esc[256] = {
    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&#34;", ['\''] = "&#39;",
};
/* strlen(html_esc[c]) - 1: the bytes an escape adds */
static const uint8_t html_esc_extra[256] = {
    ['&'] = 4, ['<'] = 3, ['>'] = 3, ['"'] = 4, ['\''] = 4,
};

int vial__tr_escape_into(vial__buf *b, const char *s, size_t n)
{
    /* Counting first makes one capacity check per string instead of one
     * per run and escape (messages in a table row: most have no escape). */
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += html_esc_extra[(unsigned char)s[i]];
    if (!extra)
        return vial__buf_add(b, s, n);
    if (extra > SIZE_MAX - n || vial__buf_reserve(b, n + extra))
        return VIAL_ENOMEM;
    char *o = b->p + b->n;
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!html_esc_extra[c])
            continue;
        memcpy(o, s + run, i - run);
        o += i - run;
        memcpy(o, html_esc[c], html_esc_extra[c] + 1u);
        o += html_esc_extra[c] + 1u;
        run = i + 1;
    }
    memcpy(o, s + run, n - run);
    b->n += n + extra;
    return 0;
}


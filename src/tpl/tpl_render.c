/*
 * tpl_render.c — runs a compiled template: scopes, expressions, loops,
 * includes, inheritance (block chains and super()), and HTML escaping of
 * everything printed unless it is marked safe.
 *
 * Semantics follow Jinja2 where vial.h does not say otherwise: Python's
 * truthiness, ==, <, str() and repr() (None, True, 1.0, ['a', 1]);
 * `and`/`or` return an operand; a `for` loop and a block are scopes (a
 * {% set %} inside does not leak out), `if` is not; an included template
 * sees the includer's variables but its own sets stay inside.  Undefined
 * names render as empty and are falsy; attribute access on them is still
 * undefined (Jinja's ChainableUndefined), but arithmetic on them is an
 * error that names the variable.
 *
 * Every render has a budget (template.h): steps (nodes, expressions, loop
 * iterations, elements touched by filters), memory for temporaries, output
 * bytes, include/extends nesting and recursion depth.  Exceeding one fails
 * the render with a message; nothing here can loop or recurse without
 * bound, whatever the template says.
 */
#include "tpl_impl.h"

#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ scopes */

typedef struct tbind {
    const char *p;
    size_t n;
    vial__tval v;
} tbind;

#define FRAME_INLINE 6

struct vial__tframe {
    vial__tframe *up;
    tbind *v;
    size_t n, cap;
    bool isolated; /* {% include ... without context %}: no outer names, no context */
    tbind inl[FRAME_INLINE];
};

/* Block chains of one extends tree: for each block name, its definitions
 * from the most derived template to the base. */
#define CHAIN_MAX 32

typedef struct tchain {
    const char *p;
    size_t n, len;
    const vial__tpl *tpl[CHAIN_MAX];
    const vial__tnode *node[CHAIN_MAX];
} tchain;

struct vial__tblocks {
    tchain **v;
    size_t n, cap;
    const vial__tpl *tpls[CHAIN_MAX]; /* the extends chain so far (cycles) */
    size_t ntpls;
    bool defining; /* running an extending template's top level: blocks do not render */
};

struct vial__tblock_ctx {
    tchain *c;
    size_t k; /* which definition is rendering; super() renders k + 1 */
};

static int render_body(vial__trender *r, const vial__tbody *b);
static int eval(vial__trender *r, const vial__texpr *x, vial__tval *v);

static int oom(vial__trender *r, uint32_t pos)
{
    return vial__tr_error(r, pos, VIAL_ENOMEM, "out of memory");
}

/* One unit of work (the hot path of vial__tr_steps). */
static inline int step(vial__trender *r, uint32_t pos)
{
    if (++r->steps <= r->lim.max_steps)
        return 0;
    return vial__tr_steps(r, pos, 0);
}

/* ------------------------------------------------------------------ output */

static int out_check(vial__trender *r, uint32_t pos)
{
    if (r->out->n > r->lim.max_output)
        return vial__tr_error(r, pos, VIAL_ETOOBIG, "output larger than %zu bytes",
                              r->lim.max_output);
    return 0;
}

static int out_add(vial__trender *r, uint32_t pos, const char *p, size_t n)
{
    if (n > r->lim.max_output - (r->out->n < r->lim.max_output ? r->out->n : r->lim.max_output))
        return vial__tr_error(r, pos, VIAL_ETOOBIG, "output larger than %zu bytes",
                              r->lim.max_output);
    return vial__buf_add(r->out, p, n) ? oom(r, pos) : 0;
}

static int out_escape(vial__trender *r, uint32_t pos, const char *p, size_t n)
{
    if (n > r->lim.max_output - (r->out->n < r->lim.max_output ? r->out->n : r->lim.max_output))
        return vial__tr_error(r, pos, VIAL_ETOOBIG, "output larger than %zu bytes",
                              r->lim.max_output);
    if (vial__tr_escape_into(r->out, p, n))
        return oom(r, pos);
    return out_check(r, pos);
}

/* Prints a value: escaped in an autoescaping template unless it is safe. */
static int emit(vial__trender *r, uint32_t pos, const vial__tval *v)
{
    bool esc = r->tpl->autoescape;
    if (v->t == TV_STR)
        return esc && !v->safe ? out_escape(r, pos, v->u.s.p, v->u.s.n)
                               : out_add(r, pos, v->u.s.p, v->u.s.n);
    if (v->t == TV_UNDEF)
        return 0;
    if (!esc || v->t == TV_INT || v->t == TV_REAL || v->t == TV_BOOL || v->t == TV_NONE) {
        if (vial__tr_str_into(r, pos, v, r->out))
            return r->err ? r->err : oom(r, pos);
        return out_check(r, pos);
    }
    vial__tval s;
    if (vial__tr_str(r, pos, v, &s))
        return r->err;
    return out_escape(r, pos, s.u.s.p, s.u.s.n);
}

/* ------------------------------------------------------------------ scopes */

static void frame_push(vial__trender *r, vial__tframe *f, bool isolated)
{
    f->up = r->top;
    f->v = f->inl;
    f->n = 0;
    f->cap = FRAME_INLINE;
    f->isolated = isolated;
    r->top = f;
}

static int frame_set(vial__trender *r, uint32_t pos, vial__tframe *f, const char *p, size_t n,
                     const vial__tval *v)
{
    r->steps += f->n / 8; /* thousands of variables in one scope pay for the scans */
    for (size_t i = 0; i < f->n; i++) {
        if (f->v[i].n == n && !memcmp(f->v[i].p, p, n)) {
            f->v[i].v = *v;
            return 0;
        }
    }
    if (f->n == f->cap) {
        tbind *nv = vial__tr_alloc(r, pos, 2 * f->cap * sizeof *nv);
        if (!nv)
            return r->err;
        memcpy(nv, f->v, f->n * sizeof *nv);
        f->v = nv;
        f->cap *= 2;
    }
    f->v[f->n++] = (tbind){ p, n, *v };
    return 0;
}

static int build_request(vial__trender *r, uint32_t pos)
{
    vial_req *req = r->req;
    json_t *o = json_object(), *args = json_object();
    const char *ep = vial_endpoint(req);
    const char *m = vial_method(req), *path = vial_path(req);
    int bad = !o || !args;
    if (!bad) {
        bad |= json_object_set_new(o, "method", json_stringn_nocheck(m ? m : "", m ? strlen(m) : 0));
        bad |= json_object_set_new(o, "path",
                                   json_stringn_nocheck(path ? path : "", path ? strlen(path) : 0));
        bad |= json_object_set_new(o, "endpoint",
                                   ep ? json_stringn_nocheck(ep, strlen(ep)) : json_null());
        const char *k, *val;
        for (size_t i = 0; !bad && vial_arg_at(req, i, &k, &val); i++)
            if (!json_object_get(args, k))
                bad |= json_object_set_new_nocheck(args, k, json_stringn_nocheck(val, strlen(val)));
        bad |= json_object_set(o, "args", args);
    }
    json_decref(args);
    if (bad) {
        json_decref(o);
        return oom(r, pos);
    }
    r->request = o;
    return 0;
}

static int lookup(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    const char *p = x->u.name.p;
    size_t n = x->u.name.n;
    bool ctx = true;
    for (const vial__tframe *f = r->top; f; f = f->up) {
        r->steps += f->n / 8;
        for (size_t i = f->n; i-- > 0;) {
            if (f->v[i].n == n && !memcmp(f->v[i].p, p, n)) {
                *v = f->v[i].v;
                return 0;
            }
        }
        if (f->isolated) {
            ctx = false;
            break;
        }
    }
    if (ctx && r->ctx) {
        json_t *j = json_object_getn(r->ctx, p, n);
        if (j) {
            *v = vial__tv_from_json(j);
            return 0;
        }
    }
    if (r->req && n == 7 && !memcmp(p, "request", 7)) {
        if (!r->request && build_request(r, x->pos))
            return r->err;
        *v = vial__tv_from_json(r->request);
        return 0;
    }
    v->t = TV_UNDEF;
    v->safe = false;
    v->u.s.p = p;
    v->u.s.n = n;
    return 0;
}

static vial__tval undefined_named(const char *p, size_t n)
{
    vial__tval v = { .t = TV_UNDEF };
    v.u.s.p = p;
    v.u.s.n = n;
    return v;
}

static int undefined_error(vial__trender *r, uint32_t pos, const vial__tval *v)
{
    if (v->u.s.p && v->u.s.n)
        return vial__tr_error(r, pos, VIAL_EINVAL, "'%.*s' is undefined",
                              (int)(v->u.s.n > 60 ? 60 : v->u.s.n), v->u.s.p);
    return vial__tr_error(r, pos, VIAL_EINVAL, "value is undefined");
}

/* ------------------------------------------------------------------ attribute and item access */

static bool loop_attr(const struct vial__tloop *l, const char *p, size_t n, vial__tval *v)
{
#define IS(s) (n == sizeof(s) - 1 && !memcmp(p, s, n))
    v->safe = false;
    if (IS("index") || IS("index0") || IS("revindex") || IS("revindex0") || IS("length") ||
        IS("depth") || IS("depth0")) {
        v->t = TV_INT;
        v->u.i = IS("index")      ? (int64_t)l->index0 + 1
                 : IS("index0")   ? (int64_t)l->index0
                 : IS("revindex") ? (int64_t)(l->length - l->index0)
                 : IS("revindex0") ? (int64_t)(l->length - l->index0 - 1)
                 : IS("length")   ? (int64_t)l->length
                 : IS("depth")    ? 1
                                  : 0;
        return true;
    }
    if (IS("first") || IS("last")) {
        v->t = TV_BOOL;
        v->u.b = IS("first") ? l->index0 == 0 : l->index0 + 1 == l->length;
        return true;
    }
    return false;
#undef IS
}

static void getattr(const vial__trender *r, const vial__tval *o, const char *p, size_t n,
                    vial__tval *v)
{
    if (o->t == TV_OBJ) {
        json_t *j = json_object_getn(o->u.j, p, n);
        if (j) {
            *v = vial__tr_from_json(r, j);
            return;
        }
    } else if (o->t == TV_LOOP && loop_attr(o->u.loop, p, n, v)) {
        return;
    }
    *v = undefined_named(p, n);
}

/* The code point at index i (negative: from the end) as a slice. */
static bool str_index(const vial__tval *s, int64_t i, vial__tval *v)
{
    size_t len = vial__utf8_len(s->u.s.p, s->u.s.n);
    if (i < 0)
        i += (int64_t)len;
    if (i < 0 || (uint64_t)i >= len)
        return false;
    size_t off = 0;
    for (int64_t k = 0; k < i; k++)
        off += vial__utf8_step(s->u.s.p + off, s->u.s.n - off);
    v->t = TV_STR;
    v->safe = s->safe;
    v->u.s.p = s->u.s.p + off;
    v->u.s.n = vial__utf8_step(s->u.s.p + off, s->u.s.n - off);
    return true;
}

static int getitem(vial__trender *r, uint32_t pos, const vial__tval *o, const vial__tval *k,
                   vial__tval *v)
{
    char tmp[24];
    bool is_int = k->t == TV_INT || k->t == TV_BOOL;
    int64_t i = k->t == TV_INT ? k->u.i : k->t == TV_BOOL ? k->u.b : 0;
    switch (o->t) {
    case TV_OBJ:
    case TV_LOOP:
        if (k->t == TV_STR) {
            getattr(r, o, k->u.s.p, k->u.s.n, v);
            return 0;
        }
        if (is_int && o->t == TV_OBJ) {
            /* JSON keys are strings: obj[3] finds "3" */
            int n = snprintf(tmp, sizeof tmp, "%" PRId64, i);
            json_t *j = json_object_getn(o->u.j, tmp, (size_t)n);
            if (j) {
                *v = vial__tr_from_json(r, j);
                return 0;
            }
        }
        break;
    case TV_ARR:
        if (is_int) {
            size_t n = json_array_size(o->u.j);
            if (i < 0)
                i += (int64_t)n;
            if (i >= 0 && (uint64_t)i < n) {
                *v = vial__tr_from_json(r, json_array_get(o->u.j, (size_t)i));
                return 0;
            }
        }
        break;
    case TV_STR:
        if (is_int) {
            if (vial__tr_steps(r, pos, o->u.s.n / 64))
                return r->err;
            if (str_index(o, i, v))
                return 0;
        }
        break;
    default: break;
    }
    *v = undefined_named(k->t == TV_STR ? k->u.s.p : NULL, k->t == TV_STR ? k->u.s.n : 0);
    return 0;
}

/* ------------------------------------------------------------------ operators */

static int type_error(vial__trender *r, uint32_t pos, const char *op, const vial__tval *a,
                      const vial__tval *b)
{
    if (a->t == TV_UNDEF)
        return undefined_error(r, pos, a);
    if (b && b->t == TV_UNDEF)
        return undefined_error(r, pos, b);
    if (b)
        return vial__tr_error(r, pos, VIAL_EINVAL, "unsupported operand types for %s: '%s' and '%s'",
                              op, vial__tv_type_name(a), vial__tv_type_name(b));
    return vial__tr_error(r, pos, VIAL_EINVAL, "bad operand type for unary %s: '%s'", op,
                          vial__tv_type_name(a));
}

static void set_int(vial__tval *v, int64_t i)
{
    v->t = TV_INT;
    v->safe = false;
    v->u.i = i;
}

static void set_real(vial__tval *v, double d)
{
    v->t = TV_REAL;
    v->safe = false;
    v->u.d = d;
}

static void set_bool(vial__tval *v, bool b)
{
    v->t = TV_BOOL;
    v->safe = false;
    v->u.b = b;
}

/*
 * Joins two strings.  In an autoescaping template, joining with a safe
 * string escapes the other one first and the result is safe (markupsafe's
 * Markup + str); otherwise the result is a plain string.
 */
static int concat(vial__trender *r, uint32_t pos, const vial__tval *a, const vial__tval *b,
                  vial__tval *v)
{
    bool markup = r->tpl->autoescape && (a->safe || b->safe);
    vial__buf tmp = { 0 };
    int rc = 0;
    const vial__tval *parts[2] = { a, b };
    for (int i = 0; i < 2 && !rc; i++) {
        if (markup && !parts[i]->safe)
            rc = vial__tr_escape_into(&tmp, parts[i]->u.s.p, parts[i]->u.s.n);
        else
            rc = vial__buf_add(&tmp, parts[i]->u.s.p, parts[i]->u.s.n);
    }
    if (rc)
        rc = oom(r, pos);
    else
        rc = vial__tr_strval(r, pos, tmp.p ? tmp.p : "", tmp.n, markup, v);
    vial__buf_free(&tmp);
    return rc;
}

static int repeat(vial__trender *r, uint32_t pos, const vial__tval *s, int64_t times,
                  vial__tval *v)
{
    if (times <= 0 || (s->t == TV_STR ? s->u.s.n == 0 : json_array_size(s->u.j) == 0)) {
        if (s->t == TV_STR)
            return vial__tr_strval(r, pos, "", 0, s->safe, v);
        json_t *a = json_array();
        if (vial__tr_keep(r, pos, a))
            return r->err;
        v->t = TV_ARR;
        v->u.j = a;
        return 0;
    }
    size_t unit = s->t == TV_STR ? s->u.s.n : json_array_size(s->u.j) * 16;
    if ((uint64_t)times > r->lim.max_memory / unit)
        return vial__tr_error(r, pos, VIAL_ETOOBIG,
                              "template needs too much memory (more than %zu bytes)",
                              r->lim.max_memory);
    if (vial__tr_steps(r, pos, (uint64_t)times * unit / 64 + 1))
        return r->err;
    if (s->t == TV_STR) {
        size_t n = s->u.s.n * (size_t)times;
        char *p = vial__tr_alloc(r, pos, n + 1);
        if (!p)
            return r->err;
        for (int64_t i = 0; i < times; i++)
            memcpy(p + (size_t)i * s->u.s.n, s->u.s.p, s->u.s.n);
        p[n] = '\0';
        v->t = TV_STR;
        v->safe = s->safe;
        v->u.s.p = p;
        v->u.s.n = n;
        return 0;
    }
    json_t *a = json_array();
    if (vial__tr_keep(r, pos, a) || vial__tr_charge(r, pos, unit * (size_t)times))
        return r->err;
    for (int64_t i = 0; i < times; i++)
        if (json_array_extend(a, s->u.j))
            return oom(r, pos);
    v->t = TV_ARR;
    v->u.j = a;
    return 0;
}

static int arith(vial__trender *r, const vial__texpr *x, const vial__tval *a,
                 const vial__tval *b, vial__tval *v)
{
    uint32_t pos = x->pos;
    int op = x->sub;
    if (op == '~') {
        vial__tval sa, sb;
        if (vial__tr_str(r, pos, a, &sa) || vial__tr_str(r, pos, b, &sb))
            return r->err;
        return concat(r, pos, &sa, &sb, v);
    }
    char opname[3] = { (char)op, 0, 0 };
    if (op == 'F')
        memcpy(opname, "//", 3);
    bool ai = false, bi = false;
    int64_t x1 = 0, y1 = 0;
    double dx = 0, dy = 0;
    if (vial__tv_num(a, &ai, &x1, &dx) && vial__tv_num(b, &bi, &y1, &dy)) {
        bool ints = ai && bi;
        int64_t res;
        switch (op) {
        case '+':
            if (ints && !__builtin_add_overflow(x1, y1, &res))
                set_int(v, res);
            else
                set_real(v, dx + dy);
            return 0;
        case '-':
            if (ints && !__builtin_sub_overflow(x1, y1, &res))
                set_int(v, res);
            else
                set_real(v, dx - dy);
            return 0;
        case '*':
            if (ints && !__builtin_mul_overflow(x1, y1, &res))
                set_int(v, res);
            else
                set_real(v, dx * dy);
            return 0;
        case '/':
            if (dy == 0)
                return vial__tr_error(r, pos, VIAL_EINVAL, "division by zero");
            set_real(v, dx / dy);
            return 0;
        case 'F':
        case '%':
            if (ints ? y1 == 0 : dy == 0)
                return vial__tr_error(r, pos, VIAL_EINVAL, "%s by zero",
                                      op == '%' ? "modulo" : "division");
            if (ints && !(x1 == INT64_MIN && y1 == -1)) {
                int64_t q = x1 / y1, m = x1 % y1;
                if (m != 0 && ((m < 0) != (y1 < 0))) {
                    q--;
                    m += y1;
                }
                set_int(v, op == 'F' ? q : m);
            } else if (ints) {
                if (op == 'F')
                    set_real(v, -(double)INT64_MIN);
                else
                    set_int(v, 0);
            } else if (op == 'F') {
                set_real(v, floor(dx / dy));
            } else {
                double m = fmod(dx, dy);
                if (m != 0 && ((m < 0) != (dy < 0)))
                    m += dy;
                set_real(v, m);
            }
            return 0;
        default: break;
        }
    }
    if (op == '+' && a->t == TV_STR && b->t == TV_STR)
        return concat(r, pos, a, b, v);
    if (op == '+' && a->t == TV_ARR && b->t == TV_ARR) {
        json_t *n = json_array();
        if (vial__tr_keep(r, pos, n) ||
            vial__tr_steps(r, pos, json_array_size(a->u.j) + json_array_size(b->u.j)) ||
            vial__tr_charge(r, pos, 16 * (json_array_size(a->u.j) + json_array_size(b->u.j))))
            return r->err;
        if (json_array_extend(n, a->u.j) || json_array_extend(n, b->u.j))
            return oom(r, pos);
        v->t = TV_ARR;
        v->u.j = n;
        return 0;
    }
    if (op == '*') {
        const vial__tval *seq = (a->t == TV_STR || a->t == TV_ARR) ? a : b;
        const vial__tval *cnt = seq == a ? b : a;
        if ((seq->t == TV_STR || seq->t == TV_ARR) && (cnt->t == TV_INT || cnt->t == TV_BOOL))
            return repeat(r, pos, seq, cnt->t == TV_INT ? cnt->u.i : cnt->u.b, v);
    }
    return type_error(r, pos, opname, a, b);
}

static int contains(vial__trender *r, uint32_t pos, const vial__tval *needle,
                    const vial__tval *hay, bool *res)
{
    *res = false;
    switch (hay->t) {
    case TV_STR:
        if (needle->t != TV_STR)
            return vial__tr_error(r, pos, VIAL_EINVAL,
                                  "'in <string>' requires a string on the left, not '%s'",
                                  vial__tv_type_name(needle));
        if (vial__tr_steps(r, pos, hay->u.s.n / 64))
            return r->err;
        *res = needle->u.s.n == 0 ||
               memmem(hay->u.s.p, hay->u.s.n, needle->u.s.p, needle->u.s.n) != NULL;
        return 0;
    case TV_ARR: {
        size_t i;
        json_t *x;
        if (vial__tr_steps(r, pos, json_array_size(hay->u.j)))
            return r->err;
        json_array_foreach(hay->u.j, i, x) {
            vial__tval e = vial__tv_from_json(x);
            if (vial__tv_equal(&e, needle)) {
                *res = true;
                break;
            }
        }
        return 0;
    }
    case TV_OBJ:
        *res = needle->t == TV_STR && json_object_getn(hay->u.j, needle->u.s.p, needle->u.s.n);
        return 0;
    case TV_UNDEF: return 0;
    default:
        return vial__tr_error(r, pos, VIAL_EINVAL, "argument of type '%s' is not iterable",
                              vial__tv_type_name(hay));
    }
}

static int compare_op(vial__trender *r, uint32_t pos, int op, const vial__tval *a,
                      const vial__tval *b, bool *res)
{
    switch (op) {
    case 'E': *res = vial__tv_equal(a, b); return 0;
    case 'N': *res = !vial__tv_equal(a, b); return 0;
    case 'i': return contains(r, pos, a, b, res);
    case 'n':
        if (contains(r, pos, a, b, res))
            return r->err;
        *res = !*res;
        return 0;
    default: break;
    }
    if (a->t == TV_UNDEF)
        return undefined_error(r, pos, a);
    if (b->t == TV_UNDEF)
        return undefined_error(r, pos, b);
    int c = vial__tv_compare(a, b, false);
    const char *name = op == '<' ? "<" : op == 'L' ? "<=" : op == '>' ? ">" : ">=";
    if (c == 2)
        return vial__tr_error(r, pos, VIAL_EINVAL,
                              "'%s' not supported between instances of '%s' and '%s'", name,
                              vial__tv_type_name(a), vial__tv_type_name(b));
    *res = op == '<' ? c < 0 : op == 'L' ? c <= 0 : op == '>' ? c > 0 : c >= 0;
    return 0;
}

/* A comparison, possibly the last link of a chain (a < b < c). */
static int eval_cmp(vial__trender *r, const vial__texpr *x, bool *res, vial__tval *right)
{
    vial__tval left;
    if (x->chain) {
        bool prev;
        if (eval_cmp(r, x->a, &prev, &left))
            return r->err;
        if (!prev) {
            *res = false;
            return 0;
        }
    } else if (eval(r, x->a, &left)) {
        return r->err;
    }
    if (eval(r, x->b, right))
        return r->err;
    return compare_op(r, x->pos, x->sub, &left, right, res);
}

/* ------------------------------------------------------------------ calls */

static int render_block(vial__trender *r, tchain *c, size_t k);

static int call_super(vial__trender *r, const vial__texpr *x)
{
    vial__tblock_ctx *b = r->block;
    if (!b)
        return vial__tr_error(r, x->pos, VIAL_EINVAL, "super() used outside a block");
    if (b->k + 1 >= b->c->len)
        return vial__tr_error(r, x->pos, VIAL_EINVAL, "block '%.*s' has no parent to call",
                              (int)b->c->n, b->c->p);
    return render_block(r, b->c, b->k + 1);
}

/* The URL of a file under static/: the script root (behind a proxy at a
 * prefix), static_url_path (default "/static") + the path,
 * percent-encoded with its slashes kept. */
static int static_path(vial__trender *r, uint32_t pos, const char *p, size_t n, vial__tval *v)
{
    vial__buf b = { 0 };
    const char *prefix = vial_config(r->app, "static_url_path");
    int rc = vial__buf_puts(&b, vial_script_root(r->req));
    if (!rc)
        rc = vial__buf_puts(&b, prefix && *prefix ? prefix : "/static");
    if (!rc && (!b.n || b.p[b.n - 1] != '/'))
        rc = vial__buf_add(&b, "/", 1);
    size_t skip = n && p[0] == '/';
    if (!rc)
        rc = vial__url_encode_into(&b, p + skip, n - skip, 2);
    rc = rc ? oom(r, pos) : vial__tr_strval(r, pos, b.p, b.n, false, v);
    vial__buf_free(&b);
    return rc;
}

static int url_for(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    const vial__tcall *c = &x->u.call;
    vial__tval ep;
    if (eval(r, c->args[0], &ep))
        return r->err;
    if (ep.t != TV_STR)
        return vial__tr_error(r, x->pos, VIAL_EINVAL, "url_for() needs an endpoint name");
    size_t nkw = c->nargs - c->npos;
    const char **kv = nkw ? vial__tr_alloc(r, x->pos, 2 * nkw * sizeof *kv) : NULL;
    if (nkw && !kv)
        return r->err;
    size_t nkv = 0;
    const char *filename = NULL;
    for (size_t i = 0; i < nkw; i++) {
        vial__tval a, s;
        if (eval(r, c->args[c->npos + i], &a))
            return r->err;
        if (a.t == TV_UNDEF || a.t == TV_NONE)
            continue; /* Flask drops None values */
        if (vial__tr_str(r, x->pos, &a, &s) ||
            vial__tr_strval(r, x->pos, s.u.s.p, s.u.s.n, false, &s))
            return r->err;
        kv[nkv++] = c->kw[c->npos + i];
        kv[nkv++] = s.u.s.p;
        if (!strcmp(c->kw[c->npos + i], "filename"))
            filename = s.u.s.p;
    }
    vial__tval e0;
    if (vial__tr_strval(r, x->pos, ep.u.s.p, ep.u.s.n, false, &e0))
        return r->err;
    const char *url = NULL;
    if (r->req) {
        url = vial__url_for_kv(r->req, e0.u.s.p, kv, nkv);
        if (!url && !strcmp(e0.u.s.p, "static") && filename) /* Flask's url_for('static', filename=...) */
            return static_path(r, x->pos, filename, strlen(filename), v);
        if (!url)
            return vial__tr_error(r, x->pos, VIAL_EINVAL,
                                  "url_for('%.*s'): no such endpoint, or a parameter is "
                                  "missing or does not fit",
                                  (int)(ep.u.s.n > 80 ? 80 : ep.u.s.n), ep.u.s.p);
    }
    if (!url) {
        *v = undefined_named(NULL, 0);
        return 0;
    }
    v->t = TV_STR;
    v->safe = false;
    v->u.s.p = url;
    v->u.s.n = strlen(url);
    return 0;
}

static int static_url(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    vial__tval a, s;
    if (eval(r, x->u.call.args[0], &a) || vial__tr_str(r, x->pos, &a, &s))
        return r->err;
    return static_path(r, x->pos, s.u.s.p, s.u.s.n, v);
}

static int dict_view(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    vial__tval o;
    if (eval(r, x->a, &o))
        return r->err;
    json_t *a = json_array();
    if (vial__tr_keep(r, x->pos, a))
        return r->err;
    v->t = TV_ARR;
    v->safe = false;
    v->u.j = a;
    if (o.t == TV_UNDEF)
        return 0;
    if (o.t != TV_OBJ)
        return vial__tr_error(r, x->pos, VIAL_EINVAL, "'%s' object has no method '%s'",
                              vial__tv_type_name(&o), x->u.call.name);
    if (vial__tr_steps(r, x->pos, json_object_size(o.u.j)) ||
        vial__tr_charge(r, x->pos, 48 * json_object_size(o.u.j)))
        return r->err;
    const char *k;
    size_t kn;
    json_t *val;
    json_object_keylen_foreach(o.u.j, k, kn, val) {
        json_t *e;
        if (x->u.call.id == TF_KEYS)
            e = json_stringn_nocheck(k, kn);
        else if (x->u.call.id == TF_VALUES)
            e = json_incref(val);
        else if ((e = json_array()) &&
                 (json_array_append_new(e, json_stringn_nocheck(k, kn)) ||
                  json_array_append(e, val))) {
            json_decref(e);
            e = NULL;
        }
        if (!e || json_array_append_new(a, e))
            return oom(r, x->pos);
    }
    return 0;
}

static int call(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    const vial__tcall *c = &x->u.call;
    switch (c->id) {
    case TF_URL_FOR: return url_for(r, x, v);
    case TF_STATIC: return static_url(r, x, v);
    case TF_SUPER: {
        size_t mark = r->out->n;
        if (call_super(r, x))
            return r->err;
        int rc = vial__tr_strval(r, x->pos, r->out->p + mark, r->out->n - mark, true, v);
        r->out->n = mark;
        return rc;
    }
    case TF_CYCLE: {
        vial__tval l;
        if (eval(r, x->a, &l))
            return r->err;
        if (l.t != TV_LOOP)
            return vial__tr_error(r, x->pos, VIAL_EINVAL, "cycle() is a method of loop");
        return eval(r, c->args[l.u.loop->index0 % c->npos], v);
    }
    default: return dict_view(r, x, v);
    }
}

static int apply_custom(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    const vial__tcall *c = &x->u.call;
    json_t *args = json_array(), *val = vial__tv_to_json(v);
    int rc = 0;
    if (!args || !val)
        rc = oom(r, x->pos);
    for (size_t i = 0; i < c->nargs && !rc; i++) {
        vial__tval a;
        if (eval(r, c->args[i], &a)) {
            rc = r->err;
            break;
        }
        json_t *j = vial__tv_to_json(&a);
        if (!j || json_array_append_new(args, j))
            rc = oom(r, x->pos);
    }
    json_t *res = NULL;
    if (!rc) {
        const char *why = NULL;
        res = c->custom(val, args, &why);
        if (!res)
            rc = vial__tr_error(r, x->pos, VIAL_EINVAL, "filter '%s' failed: %s", c->name,
                                why ? why : "no reason given");
    }
    json_decref(args);
    json_decref(val);
    if (rc)
        return rc;
    if (vial__tr_keep(r, x->pos, res))
        return r->err;
    *v = vial__tr_from_json(r, res);
    return 0;
}

static int apply_filter(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    const vial__tcall *c = &x->u.call;
    if (c->custom)
        return apply_custom(r, x, v);
    vial__tval a[VIAL__TF_MAX_PARAMS];
    for (size_t i = 0; i < c->nargs; i++) {
        if (!c->args[i])
            a[i] = undefined_named(NULL, 0); /* omitted: the filter's default */
        else if (eval(r, c->args[i], &a[i]))
            return r->err;
    }
    return c->fn(r, x, v, a);
}

/* ------------------------------------------------------------------ expressions */

static int eval(vial__trender *r, const vial__texpr *x, vial__tval *v)
{
    if (step(r, x->pos))
        return r->err;
    vial__tval a, b;
    bool res;
    switch (x->op) {
    case TX_LIT: *v = x->u.lit; return 0;
    case TX_NAME: return lookup(r, x, v);
    case TX_ATTR:
        if (eval(r, x->a, &a))
            return r->err;
        getattr(r, &a, x->u.name.p, x->u.name.n, v);
        return 0;
    case TX_ITEM:
        if (eval(r, x->a, &a) || eval(r, x->b, &b))
            return r->err;
        return getitem(r, x->pos, &a, &b, v);
    case TX_LIST: {
        json_t *arr = json_array();
        if (vial__tr_keep(r, x->pos, arr) || vial__tr_charge(r, x->pos, 16 * x->u.call.nargs))
            return r->err;
        for (size_t i = 0; i < x->u.call.nargs; i++) {
            if (eval(r, x->u.call.args[i], &a))
                return r->err;
            json_t *j = vial__tr_to_json(r, x->pos, &a);
            if (!j)
                return r->err;
            if (json_array_append_new(arr, j))
                return oom(r, x->pos);
        }
        v->t = TV_ARR;
        v->safe = false;
        v->u.j = arr;
        return 0;
    }
    case TX_NOT:
        if (eval(r, x->a, &a))
            return r->err;
        set_bool(v, !vial__tv_truthy(&a));
        return 0;
    case TX_NEG:
    case TX_POS:
        if (eval(r, x->a, &a))
            return r->err;
        if (a.t == TV_INT || a.t == TV_BOOL) {
            int64_t i = a.t == TV_INT ? a.u.i : a.u.b;
            if (x->op == TX_POS)
                set_int(v, i);
            else if (i == INT64_MIN)
                set_real(v, -(double)i);
            else
                set_int(v, -i);
        } else if (a.t == TV_REAL) {
            set_real(v, x->op == TX_NEG ? -a.u.d : a.u.d);
        } else {
            return type_error(r, x->pos, x->op == TX_NEG ? "-" : "+", &a, NULL);
        }
        return 0;
    case TX_BIN:
        if (eval(r, x->a, &a) || eval(r, x->b, &b))
            return r->err;
        return arith(r, x, &a, &b, v);
    case TX_AND:
    case TX_OR:
        if (eval(r, x->a, &a))
            return r->err;
        if (vial__tv_truthy(&a) == (x->op == TX_OR)) {
            *v = a;
            return 0;
        }
        return eval(r, x->b, v);
    case TX_COND:
        if (eval(r, x->b, &b))
            return r->err;
        if (vial__tv_truthy(&b))
            return eval(r, x->a, v);
        if (x->c)
            return eval(r, x->c, v);
        *v = undefined_named(NULL, 0);
        return 0;
    case TX_CMP:
        if (eval_cmp(r, x, &res, &b))
            return r->err;
        set_bool(v, res);
        return 0;
    case TX_FILTER:
        if (eval(r, x->a, v))
            return r->err;
        return apply_filter(r, x, v);
    case TX_TEST: {
        if (eval(r, x->a, &a))
            return r->err;
        if (x->u.call.nargs && eval(r, x->u.call.args[0], &b))
            return r->err;
        const vial__ttest_def *t = vial__tpl_test_at(x->u.call.id);
        if (t->fn(r, x, &a, x->u.call.nargs ? &b : NULL, &res))
            return r->err;
        set_bool(v, x->sub ? !res : res);
        return 0;
    }
    case TX_CALL: return call(r, x, v);
    default: return vial__tr_error(r, x->pos, VIAL_EINVAL, "bad expression");
    }
}

/* ------------------------------------------------------------------ statements */

static int render_tpl(vial__trender *r, const vial__tpl *t);

static int render_block(vial__trender *r, tchain *c, size_t k)
{
    vial__tblock_ctx ctx = { c, k }, *saved_block = r->block;
    const vial__tpl *saved_tpl = r->tpl;
    bool saved_def = r->blocks->defining;
    vial__tframe f;
    frame_push(r, &f, false);
    r->block = &ctx;
    r->tpl = c->tpl[k];
    r->blocks->defining = false;
    int rc = render_body(r, &c->node[k]->u.block.body);
    r->blocks->defining = saved_def;
    r->tpl = saved_tpl;
    r->block = saved_block;
    r->top = f.up;
    return rc;
}

static tchain *find_chain(vial__trender *r, const char *p, size_t n)
{
    vial__tblocks *bt = r->blocks;
    r->steps += bt->n / 8; /* a template with thousands of blocks pays for the scans */
    for (size_t i = 0; i < bt->n; i++)
        if (bt->v[i]->n == n && !memcmp(bt->v[i]->p, p, n))
            return bt->v[i];
    return NULL;
}

static int register_blocks(vial__trender *r, const vial__tpl *t)
{
    vial__tblocks *bt = r->blocks;
    for (size_t i = 0; i < t->nblocks; i++) {
        const vial__tnode *b = t->blocks[i];
        tchain *c = find_chain(r, b->u.block.name.p, b->u.block.name.n);
        if (!c) {
            if (bt->n == bt->cap) {
                size_t cap = bt->cap ? bt->cap * 2 : 8;
                tchain **nv = vial__tr_alloc(r, b->pos, cap * sizeof *nv);
                if (!nv)
                    return r->err;
                if (bt->n)
                    memcpy(nv, bt->v, bt->n * sizeof *nv);
                bt->v = nv;
                bt->cap = cap;
            }
            if (!(c = vial__tr_alloc(r, b->pos, sizeof *c)))
                return r->err;
            c->p = b->u.block.name.p;
            c->n = b->u.block.name.n;
            c->len = 0;
            bt->v[bt->n++] = c;
        }
        if (c->len == CHAIN_MAX)
            return vial__tr_error(r, b->pos, VIAL_ERANGE, "too many levels of {%% extends %%}");
        c->tpl[c->len] = t;
        c->node[c->len] = b;
        c->len++;
    }
    return step(r, 0);
}

/* Loads a template named by a value, for include/extends.  NULL with the
 * error set, or with *missing when it does not exist and that is allowed. */
static vial__tpl *load_named(vial__trender *r, uint32_t pos, const vial__tval *name,
                             const char *what, bool ignore_missing, bool *missing)
{
    *missing = false;
    if (name->t != TV_STR) {
        if (name->t == TV_UNDEF)
            undefined_error(r, pos, name);
        else
            vial__tr_error(r, pos, VIAL_EINVAL, "%s needs a template name, not '%s'", what,
                           vial__tv_type_name(name));
        return NULL;
    }
    if (r->calls >= r->lim.max_calls) {
        vial__tr_error(r, pos, VIAL_ERANGE, "templates nested too deeply (%d levels of "
                                            "include/extends)", r->lim.max_calls);
        return NULL;
    }
    if (vial__tr_steps(r, pos, 16))
        return NULL;
    char msg[512];
    int code;
    vial__tpl *t = vial__tpl_load(r->mod, name->u.s.p, name->u.s.n, msg, sizeof msg, &code);
    if (t)
        return t;
    if (code == VIAL_ENOENT && ignore_missing) {
        *missing = true;
        return NULL;
    }
    if (code == VIAL_ENOENT || code == VIAL_EINVAL) {
        vial__tr_error(r, pos, code, "%s", msg);
    } else if (!r->err) {
        /* a syntax error in that template: its own position says more */
        r->err = code;
        if (r->errbuf && r->errlen)
            snprintf(r->errbuf, r->errlen, "%s", msg);
    }
    return NULL;
}

static int render_include(vial__trender *r, const vial__tnode *n)
{
    vial__tval name;
    if (eval(r, n->u.include.name, &name))
        return r->err;
    bool missing;
    vial__tpl *t = load_named(r, n->pos, &name, "{% include %}", n->u.include.ignore_missing,
                              &missing);
    if (!t)
        return missing ? 0 : r->err;
    vial__tframe f;
    frame_push(r, &f, n->u.include.without_context);
    /* Jinja passes the includer's variables but not its `loop` */
    vial__tval hidden = undefined_named("loop", 4);
    if (frame_set(r, n->pos, &f, "loop", 4, &hidden)) {
        r->top = f.up;
        vial__tpl_release(t);
        return r->err;
    }
    vial__tblocks bt = { .tpls = { t }, .ntpls = 1 };
    vial__tblocks *saved_bt = r->blocks;
    vial__tblock_ctx *saved_block = r->block;
    r->blocks = &bt;
    r->block = NULL;
    r->calls++;
    int rc = render_tpl(r, t);
    r->calls--;
    r->blocks = saved_bt;
    r->block = saved_block;
    r->top = f.up;
    vial__tpl_release(t);
    return rc;
}

static int render_parent(vial__trender *r, const vial__tpl *t)
{
    vial__tval name;
    if (eval(r, t->extends, &name))
        return r->err;
    vial__tblocks *bt = r->blocks;
    if (name.t == TV_STR) {
        for (size_t i = 0; i < bt->ntpls; i++) {
            if (strlen(bt->tpls[i]->name) == name.u.s.n &&
                !memcmp(bt->tpls[i]->name, name.u.s.p, name.u.s.n))
                return vial__tr_error(r, t->extends->pos, VIAL_EINVAL,
                                      "circular {%% extends %%}: '%s' again",
                                      bt->tpls[i]->name);
        }
    }
    bool missing;
    vial__tpl *parent = load_named(r, t->extends->pos, &name, "{% extends %}", false, &missing);
    if (!parent)
        return r->err;
    if (bt->ntpls == CHAIN_MAX) {
        vial__tpl_release(parent);
        return vial__tr_error(r, t->extends->pos, VIAL_ERANGE,
                              "too many levels of {%% extends %%}");
    }
    bt->tpls[bt->ntpls++] = parent;
    r->calls++;
    int rc = render_tpl(r, parent);
    r->calls--;
    bt->ntpls--;
    vial__tpl_release(parent);
    return rc;
}

/*
 * A template that extends another runs its top level only for its
 * effects (sets visible to the parent, as in Jinja): its text is dropped
 * and its blocks are definitions, rendered where the parent places them.
 */
static int render_tpl(vial__trender *r, const vial__tpl *t)
{
    const vial__tpl *saved = r->tpl;
    r->tpl = t;
    int rc = register_blocks(r, t);
    if (!rc && t->extends) {
        size_t mark = r->out->n;
        bool saved_def = r->blocks->defining;
        r->blocks->defining = true;
        rc = render_body(r, &t->body);
        r->blocks->defining = saved_def;
        r->out->n = mark;
        if (!rc)
            rc = render_parent(r, t);
    } else if (!rc) {
        rc = render_body(r, &t->body);
    }
    r->tpl = saved;
    return rc;
}

static int bind_targets(vial__trender *r, const vial__tnode *n, vial__tframe *f,
                        const vial__tval *item)
{
    size_t nt = n->u.for_.ntargets;
    if (nt == 1) {
        f->v[0].v = *item;
        return 0;
    }
    if (item->t != TV_ARR)
        return vial__tr_error(r, n->pos, VIAL_EINVAL, "cannot unpack '%s' into %zu variables",
                              vial__tv_type_name(item), nt);
    size_t have = json_array_size(item->u.j);
    if (have != nt)
        return vial__tr_error(r, n->pos, VIAL_EINVAL,
                              "cannot unpack %zu values into %zu variables", have, nt);
    for (size_t i = 0; i < nt; i++)
        f->v[i].v = vial__tr_from_json(r, json_array_get(item->u.j, i));
    return 0;
}

static int render_for(vial__trender *r, const vial__tnode *n)
{
    vial__tval it;
    if (eval(r, n->u.for_.iter, &it))
        return r->err;
    json_t *arr = NULL;
    vial__tval *items = NULL;
    size_t len = 0;
    switch (it.t) {
    case TV_ARR:
        arr = it.u.j;
        len = json_array_size(arr);
        break;
    case TV_OBJ: {
        len = json_object_size(it.u.j);
        if (len && !(items = vial__tr_alloc(r, n->pos, len * sizeof *items)))
            return r->err;
        size_t i = 0;
        const char *k;
        size_t kn;
        json_t *x;
        json_object_keylen_foreach(it.u.j, k, kn, x) {
            if (i == len)
                break;
            items[i++] = (vial__tval){ .t = TV_STR, .u.s = { k, kn } };
        }
        len = i;
        break;
    }
    case TV_STR: {
        len = vial__utf8_len(it.u.s.p, it.u.s.n);
        if (len && !(items = vial__tr_alloc(r, n->pos, len * sizeof *items)))
            return r->err;
        size_t off = 0;
        for (size_t i = 0; i < len; i++) {
            size_t w = vial__utf8_step(it.u.s.p + off, it.u.s.n - off);
            items[i] = (vial__tval){ .t = TV_STR, .safe = it.safe, .u.s = { it.u.s.p + off, w } };
            off += w;
        }
        break;
    }
    case TV_UNDEF: break;
    default:
        return vial__tr_error(r, n->u.for_.iter->pos, VIAL_EINVAL, "'%s' object is not iterable",
                              vial__tv_type_name(&it));
    }

    vial__tframe f;
    frame_push(r, &f, false);
    struct vial__tloop loop = { 0, len };
    size_t nt = n->u.for_.ntargets;
    vial__tval undef = undefined_named(NULL, 0);
    vial__tval lv = { .t = TV_LOOP, .u.loop = &loop };
    int rc = 0;
    /* Slots 0..nt-1 hold the targets and nt holds `loop`; later sets in
     * the body add after them (FRAME_INLINE > VIAL__TPL_MAX_TARGETS is not
     * needed: frame_set grows the frame). */
    for (size_t i = 0; i < nt && !rc; i++)
        rc = frame_set(r, n->pos, &f, n->u.for_.targets[i].p, n->u.for_.targets[i].n, &undef);
    if (!rc)
        rc = frame_set(r, n->pos, &f, "loop", 4, &lv);
    if (!rc && f.n != nt + 1)
        rc = vial__tr_error(r, n->pos, VIAL_EINVAL,
                            "loop variables must be distinct and not named 'loop'");

    if (!rc && n->u.for_.filter) {
        /* "for x in xs if cond": loop.length counts what passes */
        vial__tval *kept = len ? vial__tr_alloc(r, n->pos, len * sizeof *kept) : NULL;
        size_t nk = 0;
        if (len && !kept)
            rc = r->err;
        for (size_t i = 0; i < len && !rc; i++) {
            vial__tval item = arr ? vial__tr_from_json(r, json_array_get(arr, i)) : items[i];
            vial__tval c;
            if (!(rc = step(r, n->pos)) && !(rc = bind_targets(r, n, &f, &item)) &&
                !(rc = eval(r, n->u.for_.filter, &c)) && vial__tv_truthy(&c))
                kept[nk++] = item;
        }
        items = kept;
        arr = NULL;
        len = loop.length = nk;
    }
    for (size_t i = 0; i < len && !rc; i++) {
        loop.index0 = i;
        f.n = nt + 1; /* as in Jinja, a set in the body lasts one iteration */
        vial__tval item = arr ? vial__tr_from_json(r, json_array_get(arr, i)) : items[i];
        if (!(rc = step(r, n->pos)) && !(rc = bind_targets(r, n, &f, &item)))
            rc = render_body(r, &n->u.for_.body);
    }
    r->top = f.up;
    if (!rc && len == 0 && n->u.for_.els.n)
        rc = render_body(r, &n->u.for_.els);
    return rc;
}

static int render_node(vial__trender *r, const vial__tnode *n)
{
    if (step(r, n->pos))
        return r->err;
    vial__tval v;
    switch (n->kind) {
    case TN_TEXT: return out_add(r, n->pos, n->u.text.p, n->u.text.n);
    case TN_OUT:
        if (n->u.expr->op == TX_CALL && n->u.expr->u.call.id == TF_SUPER)
            return call_super(r, n->u.expr); /* straight into the output */
        if (eval(r, n->u.expr, &v))
            return r->err;
        return emit(r, n->u.expr->pos, &v);
    case TN_IF:
        /* an elif chain is walked, not recursed into */
        for (;;) {
            if (eval(r, n->u.if_.cond, &v))
                return r->err;
            if (vial__tv_truthy(&v))
                return render_body(r, &n->u.if_.then);
            if (n->u.if_.els.n == 1 && n->u.if_.els.v[0]->kind == TN_IF) {
                n = n->u.if_.els.v[0];
                if (step(r, n->pos))
                    return r->err;
                continue;
            }
            return render_body(r, &n->u.if_.els);
        }
    case TN_FOR: return render_for(r, n);
    case TN_SET:
        if (eval(r, n->u.set.value, &v))
            return r->err;
        return frame_set(r, n->pos, r->top, n->u.set.name.p, n->u.set.name.n, &v);
    case TN_SETBLOCK: {
        size_t mark = r->out->n;
        vial__tframe f;
        frame_push(r, &f, false);
        int rc = render_body(r, &n->u.set.body);
        r->top = f.up;
        if (!rc)
            rc = vial__tr_strval(r, n->pos, r->out->p + mark, r->out->n - mark,
                                 r->tpl->autoescape, &v);
        r->out->n = mark;
        return rc ? rc : frame_set(r, n->pos, r->top, n->u.set.name.p, n->u.set.name.n, &v);
    }
    case TN_INCLUDE: {
        bool saved_def = r->blocks->defining;
        r->blocks->defining = false;
        int rc = render_include(r, n);
        r->blocks->defining = saved_def;
        return rc;
    }
    case TN_BLOCK: {
        if (r->blocks->defining)
            return 0;
        tchain *c = find_chain(r, n->u.block.name.p, n->u.block.name.n);
        if (!c)
            return render_body(r, &n->u.block.body);
        return render_block(r, c, 0);
    }
    default: return 0;
    }
}

static int render_body(vial__trender *r, const vial__tbody *b)
{
    if (++r->depth > r->lim.max_depth) {
        r->depth--;
        return vial__tr_error(r, b->n ? b->v[0]->pos : 0, VIAL_ERANGE,
                              "templates nested too deeply (recursion limit %d)",
                              r->lim.max_depth);
    }
    int rc = 0;
    for (size_t i = 0; i < b->n && !rc; i++)
        rc = render_node(r, b->v[i]);
    r->depth--;
    return rc;
}

/* ------------------------------------------------------------------ entry point */

int vial__tpl_render(vial__tplmod *m, vial_req *req, const vial__tpl *t, json_t *ctx,
                     vial__buf *out, char *err, size_t errlen)
{
    vial__trender r = { 0 };
    r.mod = m;
    r.app = m->app;
    r.req = req;
    r.ctx = json_is_object(ctx) ? ctx : NULL;
    r.out = out;
    r.lim = m->lim;
    if (r.lim.max_calls > CHAIN_MAX - 1)
        r.lim.max_calls = CHAIN_MAX - 1;
    r.ar.pool = vial__req_pool(req);
    r.errbuf = err;
    r.errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    r.tpl = t;
    vial__tframe root;
    frame_push(&r, &root, false);
    vial__tblocks bt = { .tpls = { t }, .ntpls = 1 };
    r.blocks = &bt;
    int rc = render_tpl(&r, t);
    for (size_t i = 0; i < r.nkeep; i++)
        json_decref(r.keep[i]);
    free(r.keep);
    vial__tr_safe_free(&r);
    json_decref(r.request);
    vial__arena_reset(&r.ar);
    if (rc && !r.err)
        r.err = rc;
    return rc ? r.err : 0;
}

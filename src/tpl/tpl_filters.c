/*
 * tpl_filters.c — the builtin filters and tests of the template language.
 *
 * Each filter turns the value in *v into its result, reading its bound
 * arguments from `a` (an omitted argument is TV_UNDEF with no name, and the
 * filter applies its documented default).  Behaviour follows Jinja2's
 * filters of the same name, with these documented differences: case
 * mapping (upper, lower, title, capitalize) changes ASCII letters only;
 * tojson writes compact JSON (no indent); `date` and `keys` are vial's own;
 * integers are int64, so where Python would make a bigger one, round gives
 * a float and int its default.  Filters whose work grows with their input
 * charge the render's step budget per element, and all temporaries come
 * from the render's arena, so a hostile template cannot make a filter run
 * or allocate without bound.
 */
#include "tpl_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define OMITTED(v) ((v)->t == TV_UNDEF && !(v)->u.s.p)

static int ferr(vial__trender *r, const vial__texpr *x, const char *fmt, ...) VIAL_PRINTF(3, 4);

static int ferr(vial__trender *r, const vial__texpr *x, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return vial__tr_error(r, x->pos, VIAL_EINVAL, "filter '%s': %s", x->u.call.name, msg);
}

static int oom(vial__trender *r, const vial__texpr *x)
{
    return vial__tr_error(r, x->pos, VIAL_ENOMEM, "out of memory");
}

static int int_arg(vial__trender *r, const vial__texpr *x, const vial__tval *a, int64_t def,
                   const char *what, int64_t *out)
{
    if (OMITTED(a) || a->t == TV_NONE)
        *out = def;
    else if (a->t == TV_INT)
        *out = a->u.i;
    else if (a->t == TV_BOOL)
        *out = a->u.b;
    else if (a->t == TV_REAL && isfinite(a->u.d) && fabs(a->u.d) < 9e18)
        *out = (int64_t)a->u.d;
    else
        return ferr(r, x, "%s must be an integer, not '%s'", what, vial__tv_type_name(a));
    return 0;
}

/* str() of an argument; an omitted one is `def`. */
static int str_arg(vial__trender *r, const vial__texpr *x, const vial__tval *a, const char *def,
                   vial__tval *out)
{
    if (OMITTED(a)) {
        *out = (vial__tval){ .t = TV_STR, .u.s = { def, strlen(def) } };
        return 0;
    }
    return vial__tr_str(r, x->pos, a, out);
}

static int set_buf(vial__trender *r, const vial__texpr *x, vial__buf *b, bool safe, vial__tval *v)
{
    int rc = vial__tr_strval(r, x->pos, b->p ? b->p : "", b->n, safe, v);
    vial__buf_free(b);
    return rc;
}

/* Grows a temporary and fails the render when it passes the memory limit. */
static int buf_check(vial__trender *r, const vial__texpr *x, vial__buf *b)
{
    if (b->n > r->lim.max_memory) {
        vial__buf_free(b);
        return vial__tr_error(r, x->pos, VIAL_ETOOBIG,
                              "template needs too much memory (more than %zu bytes)",
                              r->lim.max_memory);
    }
    return 0;
}

static int new_array(vial__trender *r, const vial__texpr *x, vial__tval *v, json_t **out)
{
    json_t *a = json_array();
    if (vial__tr_keep(r, x->pos, a))
        return r->err;
    v->t = TV_ARR;
    v->safe = false;
    v->u.j = a;
    *out = a;
    return 0;
}

/* ------------------------------------------------------------------ strings */

static int f_escape(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    if (v->t == TV_STR && v->safe)
        return 0;
    vial__tval s;
    if (vial__tr_str(r, x->pos, v, &s))
        return r->err;
    vial__buf b = { 0 };
    if (vial__tr_escape_into(&b, s.u.s.p, s.u.s.n)) {
        vial__buf_free(&b);
        return oom(r, x);
    }
    return set_buf(r, x, &b, true, v);
}

static int f_safe(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    if (vial__tr_str(r, x->pos, v, v))
        return r->err;
    v->safe = true;
    return 0;
}

static int f_string(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    return vial__tr_str(r, x->pos, v, v);
}

enum { CASE_UPPER, CASE_LOWER, CASE_TITLE, CASE_CAPITALIZE };

static int recase(vial__trender *r, const vial__texpr *x, vial__tval *v, int mode)
{
    vial__tval s;
    if (vial__tr_str(r, x->pos, v, &s))
        return r->err;
    char *p = vial__tr_alloc(r, x->pos, s.u.s.n + 1);
    if (!p)
        return r->err;
    bool start = true;
    for (size_t i = 0; i < s.u.s.n; i++) {
        unsigned char c = (unsigned char)s.u.s.p[i];
        bool up;
        switch (mode) {
        case CASE_UPPER: up = true; break;
        case CASE_LOWER: up = false; break;
        case CASE_CAPITALIZE: up = i == 0; break;
        default:
            /* Jinja's title: a word starts after whitespace or one of -({[< */
            up = start;
            start = c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' ||
                    c == '-' || c == '(' || c == '{' || c == '[' || c == '<';
            break;
        }
        if (up && c >= 'a' && c <= 'z')
            c = (unsigned char)(c - 32);
        else if (!up && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c + 32);
        p[i] = (char)c;
    }
    p[s.u.s.n] = '\0';
    v->t = TV_STR;
    v->safe = s.safe;
    v->u.s.p = p;
    v->u.s.n = s.u.s.n;
    return 0;
}

static int f_upper(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    return recase(r, x, v, CASE_UPPER);
}

static int f_lower(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    return recase(r, x, v, CASE_LOWER);
}

static int f_title(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    return recase(r, x, v, CASE_TITLE);
}

static int f_capitalize(vial__trender *r, const vial__texpr *x, vial__tval *v,
                        const vial__tval *a)
{
    (void)a;
    return recase(r, x, v, CASE_CAPITALIZE);
}

static int f_trim(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    vial__tval s, chars;
    if (vial__tr_str(r, x->pos, v, &s) || str_arg(r, x, &a[0], " \t\n\r\f\v", &chars))
        return r->err;
    const char *p = s.u.s.p;
    size_t n = s.u.s.n;
    while (n && memchr(chars.u.s.p, p[0], chars.u.s.n)) {
        p++;
        n--;
    }
    while (n && memchr(chars.u.s.p, p[n - 1], chars.u.s.n))
        n--;
    v->t = TV_STR;
    v->safe = s.safe;
    v->u.s.p = p;
    v->u.s.n = n;
    return 0;
}

/* Byte offset of code point `k` in s (or n). */
static size_t cp_offset(const char *s, size_t n, size_t k)
{
    size_t off = 0;
    for (size_t i = 0; i < k && off < n; i++)
        off += vial__utf8_step(s + off, n - off);
    return off;
}

static int f_truncate(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    int64_t length = 0, leeway = 0;
    vial__tval s, end;
    if (int_arg(r, x, &a[0], 255, "length", &length) ||
        str_arg(r, x, &a[2], "...", &end) || int_arg(r, x, &a[3], 5, "leeway", &leeway) ||
        vial__tr_str(r, x->pos, v, &s))
        return r->err;
    bool killwords = !OMITTED(&a[1]) && vial__tv_truthy(&a[1]);
    size_t endlen = vial__utf8_len(end.u.s.p, end.u.s.n);
    if (length < (int64_t)endlen)
        return ferr(r, x, "expected length >= %zu, got %" PRId64, endlen, length);
    if (leeway < 0)
        return ferr(r, x, "expected leeway >= 0, got %" PRId64, leeway);
    if (vial__tr_steps(r, x->pos, s.u.s.n / 64))
        return r->err;
    size_t len = vial__utf8_len(s.u.s.p, s.u.s.n);
    if ((uint64_t)len <= (uint64_t)length + (uint64_t)leeway) {
        *v = s;
        return 0;
    }
    size_t cut = cp_offset(s.u.s.p, s.u.s.n, (size_t)length - endlen);
    if (!killwords) {
        /* s[:cut].rsplit(' ', 1)[0] */
        for (size_t i = cut; i-- > 0;) {
            if (s.u.s.p[i] == ' ') {
                cut = i;
                break;
            }
        }
    }
    char *p = vial__tr_alloc(r, x->pos, cut + end.u.s.n + 1);
    if (!p)
        return r->err;
    memcpy(p, s.u.s.p, cut);
    memcpy(p + cut, end.u.s.p, end.u.s.n);
    p[cut + end.u.s.n] = '\0';
    v->t = TV_STR;
    v->safe = s.safe;
    v->u.s.p = p;
    v->u.s.n = cut + end.u.s.n;
    return 0;
}

static int replace_into(vial__trender *r, const vial__texpr *x, vial__buf *b, const vial__tval *s,
                        const vial__tval *old, const vial__tval *new, int64_t count)
{
    const char *p = s->u.s.p, *end = p + s->u.s.n;
    int rc = 0;
    if (old->u.s.n == 0) {
        /* Python: "abc".replace("", "-") == "-a-b-c-" */
        int64_t done = 0;
        while (!rc && (count < 0 || done < count)) {
            rc = vial__buf_add(b, new->u.s.p, new->u.s.n);
            done++;
            if (rc || p == end)
                break;
            size_t w = vial__utf8_step(p, (size_t)(end - p));
            rc = vial__buf_add(b, p, w);
            p += w;
            if (!rc && (rc = buf_check(r, x, b)))
                return rc;
        }
        return rc ? rc : vial__buf_add(b, p, (size_t)(end - p));
    }
    int64_t done = 0;
    while (!rc && p < end && (count < 0 || done < count)) {
        const char *hit = memmem(p, (size_t)(end - p), old->u.s.p, old->u.s.n);
        if (!hit)
            break;
        rc = vial__buf_add(b, p, (size_t)(hit - p));
        if (!rc)
            rc = vial__buf_add(b, new->u.s.p, new->u.s.n);
        p = hit + old->u.s.n;
        done++;
        if (!rc && (rc = buf_check(r, x, b)))
            return rc;
    }
    return rc ? rc : vial__buf_add(b, p, (size_t)(end - p));
}

/* Escapes a plain string into a new safe one (markupsafe's escape()). */
static int to_markup(vial__trender *r, const vial__texpr *x, const vial__tval *in,
                     vial__tval *out)
{
    if (in->safe) {
        *out = *in;
        return 0;
    }
    vial__buf b = { 0 };
    if (vial__tr_escape_into(&b, in->u.s.p, in->u.s.n)) {
        vial__buf_free(&b);
        return oom(r, x);
    }
    return set_buf(r, x, &b, true, out);
}

static int f_replace(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    vial__tval s, old, new;
    int64_t count = -1; /* set below; initialised for gcc -O3's flow analysis */
    if (vial__tr_str(r, x->pos, v, &s) || vial__tr_str(r, x->pos, &a[0], &old) ||
        vial__tr_str(r, x->pos, &a[1], &new) || int_arg(r, x, &a[2], -1, "count", &count))
        return r->err;
    if (vial__tr_steps(r, x->pos, s.u.s.n / 16 + 1))
        return r->err;
    /* Jinja: with autoescape, a safe string (or safe arguments) make the
     * replacement happen on escaped text and the result is safe. */
    bool markup = r->tpl->autoescape && (s.safe || old.safe || new.safe);
    if (markup && (to_markup(r, x, &s, &s) || to_markup(r, x, &old, &old) ||
                   to_markup(r, x, &new, &new)))
        return r->err;
    vial__buf b = { 0 };
    int rc = replace_into(r, x, &b, &s, &old, &new, count);
    if (rc) {
        vial__buf_free(&b);
        return r->err ? r->err : oom(r, x);
    }
    if (buf_check(r, x, &b))
        return r->err;
    return set_buf(r, x, &b, markup, v);
}

/* ------------------------------------------------------------------ defaults and numbers */

static int f_default(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)r;
    (void)x;
    bool boolean = !OMITTED(&a[1]) && vial__tv_truthy(&a[1]);
    if (v->t == TV_UNDEF || (boolean && !vial__tv_truthy(v))) {
        if (OMITTED(&a[0]))
            *v = (vial__tval){ .t = TV_STR, .u.s = { "", 0 } };
        else
            *v = a[0];
    }
    return 0;
}

static int f_length(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    int64_t n;
    switch (v->t) {
    case TV_STR:
        if (vial__tr_steps(r, x->pos, v->u.s.n / 64))
            return r->err;
        n = (int64_t)vial__utf8_len(v->u.s.p, v->u.s.n);
        break;
    case TV_ARR: n = (int64_t)json_array_size(v->u.j); break;
    case TV_OBJ: n = (int64_t)json_object_size(v->u.j); break;
    case TV_UNDEF: n = 0; break;
    default: return ferr(r, x, "object of type '%s' has no len()", vial__tv_type_name(v));
    }
    *v = (vial__tval){ .t = TV_INT, .u.i = n };
    return 0;
}

/* The whitespace Python's int() and float() ignore around a number (ASCII). */
static void py_strip(const char **s, size_t *n)
{
#define PY_SPACE(c) ((c) == ' ' || ((c) >= '\t' && (c) <= '\r'))
    while (*n && PY_SPACE((unsigned char)(*s)[0])) {
        (*s)++;
        (*n)--;
    }
    while (*n && PY_SPACE((unsigned char)(*s)[*n - 1]))
        (*n)--;
#undef PY_SPACE
}

/*
 * Python's int(s, base), for results within int64.  Not strtoll: base 0
 * reads 0x/0o/0b prefixes (bases 16, 8 and 2 accept theirs too) and refuses
 * a leading zero on a decimal number that is not all zeros ("010" is no
 * octal), and single underscores may separate digits ("1_000").
 */
static bool parse_int(const char *s, size_t n, int base, int64_t *out)
{
    py_strip(&s, &n);
    size_t i = 0;
    bool neg = false;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    char pfx = i + 1 < n && s[i] == '0' ? (char)(s[i + 1] | 0x20) : 0;
    bool zeros_only = false;
    if (base == 0) {
        if (i >= n || s[i] != '0')
            base = 10;
        else if (pfx == 'x' || pfx == 'o' || pfx == 'b')
            base = pfx == 'x' ? 16 : pfx == 'o' ? 8 : 2;
        else {
            base = 10;
            zeros_only = true;
        }
    }
    if ((base == 16 && pfx == 'x') || (base == 8 && pfx == 'o') || (base == 2 && pfx == 'b')) {
        i += 2;
        if (i < n && s[i] == '_') /* "0x_1f": one underscore after the prefix */
            i++;
    }
    uint64_t v = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    size_t digits = 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '_') {
            if (!digits || s[i - 1] == '_')
                return false;
            continue;
        }
        unsigned d = c >= '0' && c <= '9'   ? (unsigned)(c - '0')
                     : c >= 'a' && c <= 'z' ? c - 'a' + 10u
                     : c >= 'A' && c <= 'Z' ? c - 'A' + 10u
                                            : 99u;
        if (d >= (unsigned)base || (zeros_only && d) || v > (lim - d) / (unsigned)base)
            return false;
        v = v * (unsigned)base + d;
        digits++;
    }
    if (!digits || s[n - 1] == '_')
        return false;
    *out = neg && v ? -(int64_t)(v - 1) - 1 : (int64_t)v;
    return true;
}

/* Python's float(s): decimal forms with underscores between digits, inf,
 * infinity and nan; not the hex floats and nan(...) that strtod also takes. */
static bool parse_real(const char *s, size_t n, double *out)
{
    char tmp[400];
    py_strip(&s, &n);
    if (!n || n >= sizeof tmp)
        return false;
    size_t o = 0;
    bool word = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '_') {
            if (!i || i + 1 == n || s[i - 1] < '0' || s[i - 1] > '9' || s[i + 1] < '0' ||
                s[i + 1] > '9')
                return false;
            continue;
        }
        if (!c || !strchr("0123456789+-.eE", c))
            word = true;
        tmp[o++] = c;
    }
    tmp[o] = '\0';
    if (word) {
        const char *w = tmp + (tmp[0] == '+' || tmp[0] == '-');
        if (strcasecmp(w, "inf") && strcasecmp(w, "infinity") && strcasecmp(w, "nan"))
            return false;
    }
    char *end;
    double d = strtod(tmp, &end);
    if (end != tmp + o || end == tmp)
        return false;
    *out = d;
    return true;
}

static int f_int(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    int64_t base = 10;
    if (int_arg(r, x, &a[1], 10, "base", &base))
        return r->err;
    if (base != 0 && (base < 2 || base > 36))
        return ferr(r, x, "base must be 0 or 2..36");
    vial__tval def = OMITTED(&a[0]) ? (vial__tval){ .t = TV_INT, .u.i = 0 } : a[0];
    int64_t i;
    double d;
    switch (v->t) {
    case TV_INT: return 0;
    case TV_BOOL: *v = (vial__tval){ .t = TV_INT, .u.i = v->u.b }; return 0;
    case TV_REAL:
        if (isfinite(v->u.d) && fabs(v->u.d) < 9.2e18)
            *v = (vial__tval){ .t = TV_INT, .u.i = (int64_t)v->u.d };
        else
            *v = def;
        return 0;
    case TV_STR:
        /* Jinja falls back on int(float(s)), whatever the base ("1.5") */
        if (parse_int(v->u.s.p, v->u.s.n, (int)base, &i))
            *v = (vial__tval){ .t = TV_INT, .u.i = i };
        else if (parse_real(v->u.s.p, v->u.s.n, &d) && isfinite(d) && fabs(d) < 9.2e18)
            *v = (vial__tval){ .t = TV_INT, .u.i = (int64_t)d };
        else
            *v = def;
        return 0;
    default: *v = def; return 0;
    }
}

static int f_float(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)r;
    (void)x;
    vial__tval def = OMITTED(&a[0]) ? (vial__tval){ .t = TV_REAL, .u.d = 0 } : a[0];
    double d;
    switch (v->t) {
    case TV_INT: *v = (vial__tval){ .t = TV_REAL, .u.d = (double)v->u.i }; return 0;
    case TV_BOOL: *v = (vial__tval){ .t = TV_REAL, .u.d = v->u.b }; return 0;
    case TV_REAL: return 0;
    case TV_STR:
        *v = parse_real(v->u.s.p, v->u.s.n, &d) ? (vial__tval){ .t = TV_REAL, .u.d = d } : def;
        return 0;
    default: *v = def; return 0;
    }
}

/*
 * Python's round(x, nd) for a finite double.  Python decides on the exact
 * binary value, ties to even, through the correctly rounded decimal form
 * (float.__round__ goes through dtoa): 2.675 is really 2.67499999999999982...
 * and rounds to 2.67, where rounding the scaled double (267.5) would give
 * 2.68.  glibc's printf converts exactly and rounds ties to even, so "%.*f"
 * is that form for nd >= 0; for nd < 0 the exact integer digits are rounded
 * here.  False when the result does not fit a double (Python's
 * OverflowError).
 */
static bool round_decimal(double x, int64_t nd, double *out)
{
    /* Python's bounds: past them x is its own rounding, or a signed zero */
    if (nd > 323) {
        *out = x;
        return true;
    }
    if (nd < -308) {
        *out = 0.0 * x;
        return true;
    }
    char buf[720];
    if (nd >= 0) {
        snprintf(buf, sizeof buf, "%.*f", (int)nd, x);
    } else {
        char d[320];
        double ip = trunc(x);
        size_t len = (size_t)snprintf(d, sizeof d, "%.0f", fabs(ip)), k = (size_t)-nd;
        size_t keep = 0, o = 0;
        bool up = false;
        if (len >= k) { /* else |x| < 10**len <= 10**k / 10: rounds to 0 */
            keep = len - k;
            bool above = x != ip; /* a fraction puts a 5... past the tie */
            for (size_t i = keep + 1; i < len && !above; i++)
                above = d[i] != '0';
            up = d[keep] > '5' ||
                 (d[keep] == '5' && (above || (keep && (d[keep - 1] - '0') % 2)));
            for (size_t i = keep; up && i-- > 0;) {
                up = d[i] == '9';
                d[i] = up ? '0' : (char)(d[i] + 1);
            }
        }
        if (signbit(x))
            buf[o++] = '-';
        if (up || keep) { /* %.0f writes no leading zero: keep > 0 is not 0 */
            if (up) /* the carry ran out of digits */
                buf[o++] = '1';
            memcpy(buf + o, d, keep);
            memset(buf + o + keep, '0', k);
            o += keep + k;
        } else {
            buf[o++] = '0';
        }
        buf[o] = '\0';
    }
    errno = 0;
    double r = strtod(buf, NULL);
    if (errno == ERANGE && fabs(r) >= 1)
        return false;
    *out = r;
    return true;
}

/* Python's round(i, -k) for k > 0: exact, ties to even.  False when the
 * result is past int64 (Python has big ints); *big then holds it. */
static bool round_int(int64_t i, int64_t k, int64_t *out, double *big)
{
    uint64_t u = i < 0 ? 0 - (uint64_t)i : (uint64_t)i;
    if (k >= 19) { /* 10**19 is past int64: 0, or ±10**19 above half of it */
        *out = 0;
        *big = i < 0 ? -1e19 : 1e19;
        return k > 19 || u <= 5000000000000000000u;
    }
    uint64_t p = 1;
    for (int64_t j = 0; j < k; j++)
        p *= 10;
    uint64_t q = u / p, rem = u % p;
    if (rem > p - rem || (rem == p - rem && q % 2))
        q++;
    u = q * p; /* at most 2**63 + 10**18: no wrap */
    *big = i < 0 ? -(double)u : (double)u;
    if (u > (uint64_t)INT64_MAX + (i < 0))
        return false;
    *out = i < 0 ? (int64_t)(0 - u) : (int64_t)u;
    return true;
}

static int f_round(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    int64_t prec = 0; /* set below; initialised for gcc -O3's flow analysis */
    vial__tval method;
    if (int_arg(r, x, &a[0], 0, "precision", &prec) || str_arg(r, x, &a[1], "common", &method))
        return r->err;
    int m;
    if (method.u.s.n == 6 && !memcmp(method.u.s.p, "common", 6))
        m = 0;
    else if (method.u.s.n == 4 && !memcmp(method.u.s.p, "ceil", 4))
        m = 1;
    else if (method.u.s.n == 5 && !memcmp(method.u.s.p, "floor", 5))
        m = 2;
    else
        return ferr(r, x, "method must be 'common', 'ceil' or 'floor'");
    if (prec > 400) /* past Python's own bounds (323, -308): no difference, no overflow */
        prec = 400;
    if (prec < -400)
        prec = -400;
    bool is_int = v->t == TV_INT || v->t == TV_BOOL;
    double d;
    if (v->t == TV_INT)
        d = (double)v->u.i;
    else if (v->t == TV_BOOL)
        d = v->u.b;
    else if (v->t == TV_REAL)
        d = v->u.d;
    else
        return ferr(r, x, "cannot round '%s'", vial__tv_type_name(v));
    if (m == 0) {
        /* Jinja's 'common' is Python's round(): an int stays an int */
        if (is_int) {
            int64_t i = v->t == TV_INT ? v->u.i : v->u.b;
            double big;
            if (prec >= 0 || round_int(i, -prec, &i, &big))
                *v = (vial__tval){ .t = TV_INT, .u.i = i };
            else /* past int64: a float, as + does */
                *v = (vial__tval){ .t = TV_REAL, .u.d = big };
            return 0;
        }
        if (isfinite(d) && !round_decimal(d, prec, &d))
            return ferr(r, x, "rounded value too large to represent");
        *v = (vial__tval){ .t = TV_REAL, .u.d = d };
        return 0;
    }
    /* Jinja: math.ceil/floor(value * 10**precision) / 10**precision */
    if (prec > 300)
        prec = 300;
    if (prec < -300)
        prec = -300;
    double scale = pow(10.0, (double)prec), y = d * scale;
    if (isfinite(y) && isfinite(scale) && scale != 0) {
        /* + 0.0: math.ceil() returns an int, which has no -0 */
        y = (m == 1 ? ceil(y) : floor(y)) + 0.0;
        d = y / scale;
    }
    *v = (vial__tval){ .t = TV_REAL, .u.d = d };
    return 0;
}

static int f_abs(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    if (v->t == TV_INT || v->t == TV_BOOL) {
        int64_t i = v->t == TV_INT ? v->u.i : v->u.b;
        if (i == INT64_MIN)
            *v = (vial__tval){ .t = TV_REAL, .u.d = -(double)i };
        else
            *v = (vial__tval){ .t = TV_INT, .u.i = i < 0 ? -i : i };
        return 0;
    }
    if (v->t == TV_REAL) {
        v->u.d = fabs(v->u.d);
        return 0;
    }
    return ferr(r, x, "bad operand type for abs(): '%s'", vial__tv_type_name(v));
}

/* ------------------------------------------------------------------ sequences */

/*
 * The elements of an iterable: a list's items, a dict's keys, a string's
 * characters.  Undefined is empty.  Returns the count (or -1 after an
 * error); elements go into an arena array.
 */
static int64_t elements(vial__trender *r, const vial__texpr *x, const vial__tval *v,
                        vial__tval **out)
{
    size_t n = 0;
    vial__tval *e = NULL;
    switch (v->t) {
    case TV_ARR: {
        n = json_array_size(v->u.j);
        if (n && !(e = vial__tr_alloc(r, x->pos, n * sizeof *e)))
            return -1;
        for (size_t i = 0; i < n; i++)
            e[i] = vial__tr_from_json(r, json_array_get(v->u.j, i));
        break;
    }
    case TV_OBJ: {
        n = json_object_size(v->u.j);
        if (n && !(e = vial__tr_alloc(r, x->pos, n * sizeof *e)))
            return -1;
        size_t i = 0;
        const char *k;
        size_t kn;
        json_t *val;
        json_object_keylen_foreach(v->u.j, k, kn, val) {
            if (i < n)
                e[i++] = (vial__tval){ .t = TV_STR, .u.s = { k, kn } };
        }
        n = i;
        break;
    }
    case TV_STR: {
        n = vial__utf8_len(v->u.s.p, v->u.s.n);
        if (n && !(e = vial__tr_alloc(r, x->pos, n * sizeof *e)))
            return -1;
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            size_t w = vial__utf8_step(v->u.s.p + off, v->u.s.n - off);
            e[i] = (vial__tval){ .t = TV_STR, .safe = v->safe, .u.s = { v->u.s.p + off, w } };
            off += w;
        }
        break;
    }
    case TV_UNDEF: break;
    default:
        ferr(r, x, "'%s' object is not iterable", vial__tv_type_name(v));
        return -1;
    }
    if (vial__tr_steps(r, x->pos, n)) /* also fails when an allocation above did */
        return -1;
    *out = e;
    return (int64_t)n;
}

static int array_of(vial__trender *r, const vial__texpr *x, const vial__tval *e, size_t n,
                    vial__tval *v)
{
    json_t *arr = NULL;
    if (new_array(r, x, v, &arr))
        return r->err;
    for (size_t i = 0; i < n; i++) {
        json_t *j = vial__tr_to_json(r, x->pos, &e[i]);
        if (!j)
            return r->err;
        if (json_array_append_new(arr, j))
            return oom(r, x);
    }
    return 0;
}

static int f_first(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    bool last = x->u.call.name[0] == 'l';
    if (v->t == TV_ARR) {
        size_t n = json_array_size(v->u.j);
        if (n) {
            *v = vial__tr_from_json(r, json_array_get(v->u.j, last ? n - 1 : 0));
            return 0;
        }
    } else if (v->t == TV_STR && v->u.s.n) {
        if (vial__tr_steps(r, x->pos, v->u.s.n / 64))
            return r->err;
        size_t off = last ? cp_offset(v->u.s.p, v->u.s.n,
                                      vial__utf8_len(v->u.s.p, v->u.s.n) - 1)
                          : 0;
        v->u.s.p += off;
        v->u.s.n = vial__utf8_step(v->u.s.p, v->u.s.n - off);
        return 0;
    } else if (v->t == TV_OBJ) {
        vial__tval *e;
        int64_t n = elements(r, x, v, &e);
        if (n < 0)
            return r->err;
        if (n) {
            *v = e[last ? n - 1 : 0];
            return 0;
        }
    } else if (v->t != TV_UNDEF && v->t != TV_STR && v->t != TV_ARR) {
        return ferr(r, x, "'%s' object is not iterable", vial__tv_type_name(v));
    }
    *v = (vial__tval){ .t = TV_UNDEF };
    return 0;
}

static int f_join(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    vial__tval sep, *e;
    if (str_arg(r, x, &a[0], "", &sep))
        return r->err;
    vial__tval attr;
    bool by_attr = !OMITTED(&a[1]);
    if (by_attr && vial__tr_str(r, x->pos, &a[1], &attr))
        return r->err;
    int64_t n = elements(r, x, v, &e);
    if (n < 0)
        return r->err;
    bool markup = false;
    for (int64_t i = 0; i < n; i++) {
        if (by_attr) {
            vial__tval o = e[i];
            e[i] = (vial__tval){ .t = TV_UNDEF };
            if (o.t == TV_OBJ) {
                json_t *j = json_object_getn(o.u.j, attr.u.s.p, attr.u.s.n);
                if (j)
                    e[i] = vial__tr_from_json(r, j);
            }
        }
        if (vial__tr_str(r, x->pos, &e[i], &e[i]))
            return r->err;
        markup |= e[i].safe;
    }
    /* Jinja: with autoescape, one safe part makes the others escaped */
    markup = r->tpl->autoescape && (markup || sep.safe);
    vial__buf b = { 0 };
    int rc = 0;
    for (int64_t i = 0; i < n && !rc; i++) {
        if (i)
            rc = markup && !sep.safe ? vial__tr_escape_into(&b, sep.u.s.p, sep.u.s.n)
                                     : vial__buf_add(&b, sep.u.s.p, sep.u.s.n);
        if (!rc)
            rc = markup && !e[i].safe ? vial__tr_escape_into(&b, e[i].u.s.p, e[i].u.s.n)
                                      : vial__buf_add(&b, e[i].u.s.p, e[i].u.s.n);
        if (!rc && (rc = buf_check(r, x, &b)))
            return rc;
    }
    if (rc) {
        vial__buf_free(&b);
        return oom(r, x);
    }
    return set_buf(r, x, &b, markup, v);
}

typedef struct sort_ctx {
    bool casefold, reverse, bad;
} sort_ctx;

/* Ordering for the merge: reversed when asked, so that equal elements
 * still keep their original order (Python's sorted(reverse=True)). */
static int sort_cmp(sort_ctx *c, const vial__tval *a, const vial__tval *b)
{
    int k = vial__tv_compare(a, b, c->casefold);
    if (k == 2) {
        c->bad = true;
        return 0;
    }
    return c->reverse ? -k : k;
}

/* A stable merge sort of keys[] carrying items[] along. */
static void merge_sort(sort_ctx *c, vial__tval *keys, vial__tval *items, vial__tval *tk,
                       vial__tval *ti, size_t n)
{
    if (n < 2)
        return;
    size_t h = n / 2;
    merge_sort(c, keys, items, tk, ti, h);
    merge_sort(c, keys + h, items + h, tk, ti, n - h);
    size_t i = 0, j = h, o = 0;
    while (i < h && j < n) {
        if (sort_cmp(c, &keys[j], &keys[i]) < 0) {
            tk[o] = keys[j];
            ti[o++] = items[j++];
        } else {
            tk[o] = keys[i];
            ti[o++] = items[i++];
        }
    }
    while (i < h) {
        tk[o] = keys[i];
        ti[o++] = items[i++];
    }
    while (j < n) {
        tk[o] = keys[j];
        ti[o++] = items[j++];
    }
    memcpy(keys, tk, n * sizeof *keys);
    memcpy(items, ti, n * sizeof *items);
}

static int f_sort(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    bool reverse = !OMITTED(&a[0]) && vial__tv_truthy(&a[0]);
    bool case_sensitive = !OMITTED(&a[1]) && vial__tv_truthy(&a[1]);
    vial__tval attr, *items;
    bool by_attr = !OMITTED(&a[2]);
    if (by_attr && vial__tr_str(r, x->pos, &a[2], &attr))
        return r->err;
    int64_t n = elements(r, x, v, &items);
    if (n < 0)
        return r->err;
    size_t un = (size_t)n;
    vial__tval *keys = un ? vial__tr_alloc(r, x->pos, 3 * un * sizeof *keys) : NULL;
    vial__tval *tmp_items = un ? vial__tr_alloc(r, x->pos, un * sizeof *keys) : NULL;
    if (un && (!keys || !tmp_items))
        return r->err;
    for (size_t i = 0; i < un; i++) {
        keys[i] = items[i];
        if (by_attr) {
            keys[i] = (vial__tval){ .t = TV_UNDEF };
            if (items[i].t == TV_OBJ) {
                json_t *j = json_object_getn(items[i].u.j, attr.u.s.p, attr.u.s.n);
                if (j)
                    keys[i] = vial__tv_from_json(j);
            }
        }
    }
    uint64_t work = 0;
    for (size_t m = un; m > 1; m /= 2)
        work += un;
    if (vial__tr_steps(r, x->pos, work))
        return r->err;
    sort_ctx c = { !case_sensitive, reverse, false };
    if (un > 1)
        merge_sort(&c, keys, items, keys + un, tmp_items, un);
    if (c.bad)
        return ferr(r, x, "cannot sort values of different types");
    return array_of(r, x, items, un, v);
}

static int f_reverse(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    vial__tval *e;
    bool str = v->t == TV_STR, safe = v->safe;
    int64_t n = elements(r, x, v, &e);
    if (n < 0)
        return r->err;
    if (str) {
        char *p = vial__tr_alloc(r, x->pos, v->u.s.n + 1);
        if (!p)
            return r->err;
        size_t o = 0;
        for (int64_t i = n; i-- > 0;) {
            memcpy(p + o, e[i].u.s.p, e[i].u.s.n);
            o += e[i].u.s.n;
        }
        p[o] = '\0';
        *v = (vial__tval){ .t = TV_STR, .safe = safe, .u.s = { p, o } };
        return 0;
    }
    for (int64_t i = 0; i < n / 2; i++) {
        vial__tval t = e[i];
        e[i] = e[n - 1 - i];
        e[n - 1 - i] = t;
    }
    return array_of(r, x, e, (size_t)n, v);
}

static int f_items(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    bool keys_only = x->u.call.name[0] == 'k';
    if (v->t != TV_OBJ && v->t != TV_UNDEF)
        return ferr(r, x, "expected a mapping, got '%s'", vial__tv_type_name(v));
    json_t *obj = v->t == TV_OBJ ? v->u.j : NULL, *arr = NULL;
    if (new_array(r, x, v, &arr))
        return r->err;
    if (!obj)
        return 0;
    if (vial__tr_steps(r, x->pos, json_object_size(obj)))
        return r->err;
    const char *k;
    size_t kn;
    json_t *val;
    json_object_keylen_foreach(obj, k, kn, val) {
        json_t *key = json_stringn_nocheck(k, kn), *e = key;
        if (key && !keys_only) {
            e = json_array();
            if (!e || json_array_append_new(e, key) || json_array_append(e, val)) {
                json_decref(e);
                return oom(r, x);
            }
        }
        if (!e || json_array_append_new(arr, e))
            return oom(r, x);
    }
    return 0;
}

/* ------------------------------------------------------------------ encodings */

static void jw_tval(vial_jw *w, const vial__tval *v)
{
    switch (v->t) {
    case TV_STR: vial_jw_strn(w, v->u.s.p, v->u.s.n); break;
    case TV_INT: vial_jw_int(w, v->u.i); break;
    case TV_REAL: vial_jw_double(w, v->u.d); break;
    case TV_BOOL: vial_jw_bool(w, v->u.b); break;
    case TV_ARR:
    case TV_OBJ: vial_jw_value(w, v->u.j); break;
    case TV_LOOP: {
        json_t *j = vial__tv_to_json(v);
        if (j)
            vial_jw_value(w, j);
        else
            vial_jw_null(w);
        json_decref(j);
        break;
    }
    default: vial_jw_null(w); break;
    }
}

/*
 * JSON safe to put in HTML, also inside <script>: < > & ' become \u003c
 * \u003e \u0026 \u0027 (they can only occur inside strings, so the JSON
 * stays the same value).  The result is safe.  indent is accepted and
 * ignored: the output is compact.
 */
static int f_tojson(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    (void)a;
    if (v->t == TV_UNDEF)
        return v->u.s.p ? vial__tr_error(r, x->pos, VIAL_EINVAL, "'%.*s' is undefined",
                                         (int)(v->u.s.n > 60 ? 60 : v->u.s.n), v->u.s.p)
                        : ferr(r, x, "value is undefined");
    if ((v->t == TV_ARR || v->t == TV_OBJ) &&
        vial__tr_steps(r, x->pos, json_is_array(v->u.j) ? json_array_size(v->u.j)
                                                        : json_object_size(v->u.j)))
        return r->err;
    vial__buf raw = { 0 }, b = { 0 };
    vial_jw w;
    vial__jw_init(&w, &raw);
    jw_tval(&w, v);
    int rc = vial_jw_error(&w);
    if (rc) {
        vial__buf_free(&raw);
        return rc == VIAL_ENOMEM ? oom(r, x) : ferr(r, x, "value nested too deeply");
    }
    if (buf_check(r, x, &raw))
        return r->err;
    size_t run = 0;
    for (size_t i = 0; i < raw.n && !rc; i++) {
        const char *e;
        switch (raw.p[i]) {
        case '<': e = "\\u003c"; break;
        case '>': e = "\\u003e"; break;
        case '&': e = "\\u0026"; break;
        case '\'': e = "\\u0027"; break;
        default: continue;
        }
        rc = vial__buf_add(&b, raw.p + run, i - run);
        if (!rc)
            rc = vial__buf_add(&b, e, 6);
        run = i + 1;
    }
    if (!rc && raw.n > run)
        rc = vial__buf_add(&b, raw.p + run, raw.n - run);
    vial__buf_free(&raw);
    if (rc) {
        vial__buf_free(&b);
        return oom(r, x);
    }
    return set_buf(r, x, &b, true, v);
}

/* Python's urllib quote(): unreserved characters stay, and '/' too
 * unless `for_qs`, which also writes spaces as '+'. */
static int quote_into(vial__buf *b, const char *s, size_t n, bool for_qs)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char tmp[3];
        int rc;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || (c == '/' && !for_qs)) {
            rc = vial__buf_add(b, (const char *)&c, 1);
        } else if (c == ' ' && for_qs) {
            rc = vial__buf_add(b, "+", 1);
        } else {
            tmp[0] = '%';
            tmp[1] = hex[c >> 4];
            tmp[2] = hex[c & 15];
            rc = vial__buf_add(b, tmp, 3);
        }
        if (rc)
            return rc;
    }
    return 0;
}

static int f_urlencode(vial__trender *r, const vial__texpr *x, vial__tval *v,
                       const vial__tval *a)
{
    (void)a;
    vial__buf b = { 0 };
    int rc = 0;
    if (v->t == TV_OBJ || v->t == TV_ARR) {
        /* a dict, or a list of (key, value) pairs → k=v&k=v */
        size_t n = v->t == TV_OBJ ? json_object_size(v->u.j) : json_array_size(v->u.j);
        if (vial__tr_steps(r, x->pos, n))
            return r->err;
        void *it = v->t == TV_OBJ ? json_object_iter(v->u.j) : NULL;
        for (size_t i = 0; i < n && !rc; i++) {
            vial__tval k, val;
            if (v->t == TV_OBJ) {
                k = (vial__tval){ .t = TV_STR,
                                  .u.s = { json_object_iter_key(it), json_object_iter_key_len(it) } };
                val = vial__tv_from_json(json_object_iter_value(it));
                it = json_object_iter_next(v->u.j, it);
            } else {
                json_t *pair = json_array_get(v->u.j, i);
                if (!json_is_array(pair) || json_array_size(pair) != 2) {
                    vial__buf_free(&b);
                    return ferr(r, x, "expected a dict or a list of pairs");
                }
                k = vial__tv_from_json(json_array_get(pair, 0));
                val = vial__tv_from_json(json_array_get(pair, 1));
            }
            if (vial__tr_str(r, x->pos, &k, &k) || vial__tr_str(r, x->pos, &val, &val)) {
                vial__buf_free(&b);
                return r->err;
            }
            if (i)
                rc = vial__buf_add(&b, "&", 1);
            if (!rc)
                rc = quote_into(&b, k.u.s.p, k.u.s.n, true);
            if (!rc)
                rc = vial__buf_add(&b, "=", 1);
            if (!rc)
                rc = quote_into(&b, val.u.s.p, val.u.s.n, true);
            if (!rc && (rc = buf_check(r, x, &b)))
                return rc;
        }
    } else {
        vial__tval s;
        if (vial__tr_str(r, x->pos, v, &s))
            return r->err;
        rc = quote_into(&b, s.u.s.p, s.u.s.n, false);
    }
    if (rc) {
        vial__buf_free(&b);
        return oom(r, x);
    }
    return set_buf(r, x, &b, false, v);
}

/*
 * date(format="%Y-%m-%d %H:%M:%S"): an RFC 3339 string (an offset is
 * optional: without one the time is UTC) or epoch seconds, formatted with
 * strftime in UTC.  Undefined and none render as "".
 */
static int f_date(vial__trender *r, const vial__texpr *x, vial__tval *v, const vial__tval *a)
{
    vial__tval fmt;
    if (str_arg(r, x, &a[0], "%Y-%m-%d %H:%M:%S", &fmt))
        return r->err;
    if (v->t == TV_UNDEF || v->t == TV_NONE) {
        *v = (vial__tval){ .t = TV_STR, .u.s = { "", 0 } };
        return 0;
    }
    int64_t secs;
    if (v->t == TV_INT) {
        secs = v->u.i;
    } else if (v->t == TV_REAL && isfinite(v->u.d) && fabs(v->u.d) < 1e17) {
        secs = (int64_t)floor(v->u.d);
    } else if (v->t == TV_STR) {
        vial_time t;
        if (vial_time_parse(v->u.s.p, v->u.s.n, 0, &t))
            return ferr(r, x, "not an RFC 3339 time: '%.*s'", (int)(v->u.s.n > 40 ? 40 : v->u.s.n),
                        v->u.s.p);
        secs = t.us / 1000000 - (t.us % 1000000 < 0);
    } else {
        return ferr(r, x, "expected an RFC 3339 string or epoch seconds, got '%s'",
                    vial__tv_type_name(v));
    }
    if (fmt.u.s.n > 256 || memchr(fmt.u.s.p, '\0', fmt.u.s.n))
        return ferr(r, x, "format too long or containing NUL");
    char f[260], out[8192];
    memcpy(f, fmt.u.s.p, fmt.u.s.n);
    f[fmt.u.s.n] = '\0';
    struct tm tm;
    time_t tt = (time_t)secs;
    if (secs < -62135596800LL || secs > 253402300799LL || !gmtime_r(&tt, &tm))
        return ferr(r, x, "time out of range");
    /* 256 format bytes cannot expand past 8 KiB; 0 is then an empty result */
    size_t n = fmt.u.s.n ? strftime(out, sizeof out, f, &tm) : 0;
    return vial__tr_strval(r, x->pos, out, n, false, v);
}

/* ------------------------------------------------------------------ tables */

/* Sorted by name for reading; looked up linearly at compile time only. */
static const vial__tfilter_def filters[] = {
    { "abs", f_abs, { 0 }, 0, 0 },
    { "capitalize", f_capitalize, { 0 }, 0, 0 },
    { "count", f_length, { 0 }, 0, 0 },
    { "d", f_default, { "default_value", "boolean" }, 2, 0 },
    { "date", f_date, { "format" }, 1, 0 },
    { "default", f_default, { "default_value", "boolean" }, 2, 0 },
    { "e", f_escape, { 0 }, 0, 0 },
    { "escape", f_escape, { 0 }, 0, 0 },
    { "first", f_first, { 0 }, 0, 0 },
    { "float", f_float, { "default" }, 1, 0 },
    { "int", f_int, { "default", "base" }, 2, 0 },
    { "items", f_items, { 0 }, 0, 0 },
    { "join", f_join, { "d", "attribute" }, 2, 0 },
    { "keys", f_items, { 0 }, 0, 0 },
    { "last", f_first, { 0 }, 0, 0 },
    { "length", f_length, { 0 }, 0, 0 },
    { "lower", f_lower, { 0 }, 0, 0 },
    { "replace", f_replace, { "old", "new", "count" }, 3, 2 },
    { "reverse", f_reverse, { 0 }, 0, 0 },
    { "round", f_round, { "precision", "method" }, 2, 0 },
    { "safe", f_safe, { 0 }, 0, 0 },
    { "sort", f_sort, { "reverse", "case_sensitive", "attribute" }, 3, 0 },
    { "string", f_string, { 0 }, 0, 0 },
    { "title", f_title, { 0 }, 0, 0 },
    { "tojson", f_tojson, { "indent" }, 1, 0 },
    { "trim", f_trim, { "chars" }, 1, 0 },
    { "truncate", f_truncate, { "length", "killwords", "end", "leeway" }, 4, 0 },
    { "upper", f_upper, { 0 }, 0, 0 },
    { "urlencode", f_urlencode, { 0 }, 0, 0 },
};

const vial__tfilter_def *vial__tpl_filter_find(const char *name, size_t n)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(filters); i++)
        if (strlen(filters[i].name) == n && !memcmp(filters[i].name, name, n))
            return &filters[i];
    return NULL;
}

static int t_type(vial__trender *r, const vial__texpr *x, const vial__tval *v,
                  const vial__tval *a, bool *res)
{
    (void)r;
    (void)a;
    const char *n = x->u.call.name;
    if (!strcmp(n, "defined"))
        *res = v->t != TV_UNDEF;
    else if (!strcmp(n, "undefined"))
        *res = v->t == TV_UNDEF;
    else if (!strcmp(n, "none"))
        *res = v->t == TV_NONE;
    else if (!strcmp(n, "boolean"))
        *res = v->t == TV_BOOL;
    else if (!strcmp(n, "true"))
        *res = v->t == TV_BOOL && v->u.b;
    else if (!strcmp(n, "false"))
        *res = v->t == TV_BOOL && !v->u.b;
    else if (!strcmp(n, "string"))
        *res = v->t == TV_STR;
    else if (!strcmp(n, "number"))
        *res = v->t == TV_INT || v->t == TV_REAL || v->t == TV_BOOL;
    else if (!strcmp(n, "integer"))
        *res = v->t == TV_INT;
    else if (!strcmp(n, "float"))
        *res = v->t == TV_REAL;
    else if (!strcmp(n, "mapping"))
        *res = v->t == TV_OBJ;
    else if (!strcmp(n, "sequence"))
        *res = v->t == TV_STR || v->t == TV_ARR || v->t == TV_OBJ;
    else /* iterable */
        *res = v->t == TV_STR || v->t == TV_ARR || v->t == TV_OBJ || v->t == TV_UNDEF;
    return 0;
}

static int t_divisible(vial__trender *r, const vial__texpr *x, const vial__tval *v,
                       const vial__tval *a, bool *res)
{
    const char *n = x->u.call.name;
    vial__tval two = { .t = TV_INT, .u.i = 2 };
    const vial__tval *d = a ? a : &two;
    double dv, dd;
    bool vnum = v->t == TV_INT || v->t == TV_REAL || v->t == TV_BOOL;
    if (!vnum || (d->t != TV_INT && d->t != TV_REAL && d->t != TV_BOOL))
        return vial__tr_error(r, x->pos, VIAL_EINVAL, "test '%s' needs numbers, not '%s'", n,
                              vial__tv_type_name(vnum ? d : v));
    if (v->t != TV_REAL && d->t != TV_REAL) {
        int64_t iv = v->t == TV_INT ? v->u.i : v->u.b, id = d->t == TV_INT ? d->u.i : d->u.b;
        if (id == 0)
            return vial__tr_error(r, x->pos, VIAL_EINVAL, "test '%s': modulo by zero", n);
        bool zero = id == -1 || iv % id == 0;
        *res = strcmp(n, "odd") ? zero : !zero;
        return 0;
    }
    dv = v->t == TV_REAL ? v->u.d : v->t == TV_INT ? (double)v->u.i : v->u.b;
    dd = d->t == TV_REAL ? d->u.d : d->t == TV_INT ? (double)d->u.i : d->u.b;
    if (dd == 0)
        return vial__tr_error(r, x->pos, VIAL_EINVAL, "test '%s': modulo by zero", n);
    bool zero = fmod(dv, dd) == 0;
    *res = strcmp(n, "odd") ? zero : !zero;
    return 0;
}

static const vial__ttest_def tests[] = {
    { "defined", 0, t_type },     { "undefined", 0, t_type }, { "none", 0, t_type },
    { "boolean", 0, t_type },     { "true", 0, t_type },      { "false", 0, t_type },
    { "string", 0, t_type },      { "number", 0, t_type },    { "integer", 0, t_type },
    { "float", 0, t_type },       { "mapping", 0, t_type },   { "sequence", 0, t_type },
    { "iterable", 0, t_type },    { "even", 0, t_divisible }, { "odd", 0, t_divisible },
    { "divisibleby", 1, t_divisible },
};

const vial__ttest_def *vial__tpl_test_find(const char *name, size_t n)
{
    for (size_t i = 0; i < VIAL__ARRAY_LEN(tests); i++)
        if (strlen(tests[i].name) == n && !memcmp(tests[i].name, name, n))
            return &tests[i];
    return NULL;
}

const vial__ttest_def *vial__tpl_test_at(int id)
{
    return &tests[id];
}

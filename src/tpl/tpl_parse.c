/*
 * tpl_parse.c — template source → AST: the lexer and the recursive-descent
 * parser of the Jinja2 subset described in vial.h ("templates").
 *
 * The lexer cuts the source into text and tags ({{ }}, {% %}, {# #}),
 * applies whitespace control ({%- -%}), copies {% raw %} bodies verbatim and
 * tokenizes the expressions inside tags; a tag ends at the first `}}` / `%}`
 * that is not inside a string literal.  The parser follows Jinja's grammar
 * and precedence (parse_condexpr ... parse_unary), resolves filters and
 * tests by name (so an unknown filter is a compile error with its line and
 * column, not a render-time surprise), binds filter arguments to parameters,
 * and enforces the nesting limits of template.h.  Those limits are what keep
 * every later recursion (the renderer's included) bounded.
 *
 * Everything the AST needs lives in the template's arena; the token array is
 * the only temporary and is freed before returning.
 */
#include "tpl_impl.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

/* ------------------------------------------------------------------ tokens */

enum { K_EOF, K_TEXT, K_VBEGIN, K_VEND, K_BBEGIN, K_BEND, K_NAME, K_INT, K_REAL, K_STR, K_OP };

/* Two-character operators get one-letter codes (single characters are themselves). */
enum { OP_EQ = 'E', OP_NE = 'N', OP_LE = 'L', OP_GE = 'G', OP_FLOORDIV = 'F' };

typedef struct tok {
    uint8_t k;
    int op;
    uint32_t pos;
    const char *p; /* NAME/TEXT: a slice of the source; STR: decoded, in the arena */
    size_t n;
    int64_t i;
    double d;
} tok;

typedef struct parser {
    vial__tplmod *m;
    vial__tpl *t;
    tok *toks;
    size_t ntoks, cap, i;
    char *err;
    size_t errlen;
    int code;
    int edepth;
    /* open tags, for "unclosed" and "unexpected" messages */
    struct {
        const char *tag;
        uint32_t pos;
    } open[VIAL__TPL_MAX_STMT_DEPTH + 1];
    int nopen;
    size_t nblocks, capblocks;
} parser;

static int perr(parser *p, uint32_t pos, const char *fmt, ...) VIAL_PRINTF(3, 4);

static int perr(parser *p, uint32_t pos, const char *fmt, ...)
{
    if (p->code)
        return p->code;
    p->code = VIAL_EPARSE;
    if (p->err && p->errlen) {
        int w = vial__tpl_where(p->t, pos, p->err, p->errlen);
        if (w >= 0 && (size_t)w < p->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + w, p->errlen - (size_t)w, fmt, ap);
            va_end(ap);
        }
    }
    return p->code;
}

static int oom(parser *p)
{
    if (!p->code) {
        p->code = VIAL_ENOMEM;
        if (p->err && p->errlen)
            snprintf(p->err, p->errlen, "%s: out of memory", p->t->name);
    }
    return p->code;
}

static void *palloc(parser *p, size_t n)
{
    void *x = vial__arena_alloc(&p->t->ar, n);
    if (!x) {
        oom(p);
        return NULL;
    }
    memset(x, 0, n);
    return x;
}

static tok *push(parser *p, int k, size_t pos)
{
    if (p->ntoks == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        tok *nt = realloc(p->toks, cap * sizeof *nt);
        if (!nt) {
            oom(p);
            return NULL;
        }
        p->toks = nt;
        p->cap = cap;
    }
    tok *t = &p->toks[p->ntoks++];
    memset(t, 0, sizeof *t);
    t->k = (uint8_t)k;
    t->pos = (uint32_t)pos;
    return t;
}

/* ------------------------------------------------------------------ lexer */

static bool is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}
static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int put_utf8(vial__buf *b, uint32_t cp)
{
    char u[4];
    size_t n;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD; /* not encodable: the replacement character */
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return vial__buf_append(b, u, n);
}

/*
 * A string literal with Python's escapes (Jinja decodes literals as
 * "unicode-escape"): \\ \' \" \a \b \f \n \r \t \v, octal \ooo, \xhh,
 * \uhhhh, \Uhhhhhhhh and backslash-newline; any other backslash stays.
 * Returns the index after the closing quote, or 0 after an error.
 */
static size_t lex_string(parser *p, const char *s, size_t n, size_t j, tok *t)
{
    char q = s[j];
    size_t start = j++;
    vial__buf b = { 0 };
    int rc = 0;
    while (j < n && s[j] != q && !rc) {
        if (s[j] != '\\' || j + 1 >= n) {
            size_t k = j;
            while (k < n && s[k] != q && s[k] != '\\')
                k++;
            if (k == j)
                k++;
            rc = vial__buf_append(&b, s + j, k - j);
            j = k;
            continue;
        }
        char c = s[j + 1];
        static const char esc[] = "\\'\"abfnrtv";
        static const char map[] = "\\'\"\a\b\f\n\r\t\v";
        const char *simple = c ? strchr(esc, c) : NULL;
        if (simple) {
            rc = vial__buf_append(&b, &map[simple - esc], 1);
            j += 2;
        } else if (c == '\n') {
            j += 2;
        } else if (c >= '0' && c <= '7') {
            uint32_t v = 0;
            size_t k = j + 1;
            for (int d = 0; d < 3 && k < n && s[k] >= '0' && s[k] <= '7'; d++, k++)
                v = v * 8 + (uint32_t)(s[k] - '0');
            rc = put_utf8(&b, v);
            j = k;
        } else if (c == 'x' || c == 'u' || c == 'U') {
            int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
            uint32_t v = 0;
            for (int d = 0; d < digits; d++) {
                int h = j + 2 + (size_t)d < n ? hexval(s[j + 2 + (size_t)d]) : -1;
                if (h < 0) {
                    vial__buf_free(&b);
                    perr(p, (uint32_t)j, "truncated \\%c escape in a string", c);
                    return 0;
                }
                v = (v << 4) | (uint32_t)h;
            }
            rc = put_utf8(&b, v);
            j += 2 + (size_t)digits;
        } else {
            rc = vial__buf_append(&b, s + j, 2);
            j += 2;
        }
    }
    if (rc) {
        vial__buf_free(&b);
        oom(p);
        return 0;
    }
    if (j >= n) {
        vial__buf_free(&b);
        perr(p, (uint32_t)start, "unterminated string");
        return 0;
    }
    t->k = K_STR;
    t->n = b.n;
    char *d = vial__arena_alloc(&p->t->ar, b.n + 1);
    if (!d) {
        vial__buf_free(&b);
        oom(p);
        return 0;
    }
    if (b.n)
        memcpy(d, b.p, b.n);
    d[b.n] = '\0';
    t->p = d;
    vial__buf_free(&b);
    return j + 1;
}

/* A number: digits [. digits] [e [+-] digits].  After a '.', only the
 * integer part is taken, so `a.0.1` is two subscripts, not a.(0.1). */
static size_t lex_number(parser *p, const char *s, size_t n, size_t j, tok *t, bool after_dot)
{
    size_t k = j;
    while (k < n && is_digit(s[k]))
        k++;
    bool real = false;
    if (!after_dot) {
        if (k + 1 < n && s[k] == '.' && is_digit(s[k + 1])) {
            real = true;
            k++;
            while (k < n && is_digit(s[k]))
                k++;
        }
        if (k < n && (s[k] == 'e' || s[k] == 'E')) {
            size_t e = k + 1;
            if (e < n && (s[e] == '+' || s[e] == '-'))
                e++;
            if (e < n && is_digit(s[e])) {
                real = true;
                k = e;
                while (k < n && is_digit(s[k]))
                    k++;
            }
        }
    }
    char tmp[64];
    if (k - j >= sizeof tmp) {
        perr(p, (uint32_t)j, "number too long");
        return 0;
    }
    memcpy(tmp, s + j, k - j);
    tmp[k - j] = '\0';
    if (!real) {
        errno = 0;
        long long v = strtoll(tmp, NULL, 10);
        if (errno == 0) {
            t->k = K_INT;
            t->i = v;
            return k;
        }
        /* Past int64: a float, as close as it gets (Python has bigints). */
    }
    t->k = K_REAL;
    t->d = strtod(tmp, NULL);
    return k;
}

/*
 * Tokenizes the inside of a tag starting at j, up to and including its end
 * delimiter.  Returns the index after the tag, or 0 when the source ends
 * first or on an error.  *strip_after: the tag ended with '-'.
 */
static size_t lex_tag(parser *p, const char *s, size_t n, size_t j, char kind, bool *strip_after)
{
    while (j < n) {
        while (j < n && is_ws(s[j]))
            j++;
        if (j >= n)
            break;
        /* the end delimiter, optionally with whitespace control */
        char close = kind == '{' ? '}' : '%';
        size_t e = j;
        bool strip = false;
        if ((s[e] == '-' || (kind == '%' && s[e] == '+')) && e + 2 < n && s[e + 1] == close &&
            s[e + 2] == '}') {
            strip = s[e] == '-';
            e++;
        }
        if (e + 1 < n && s[e] == close && s[e + 1] == '}') {
            if (!push(p, kind == '{' ? K_VEND : K_BEND, j))
                return 0;
            *strip_after = strip;
            return e + 2;
        }
        tok *t = push(p, K_OP, j);
        if (!t)
            return 0;
        char c = s[j];
        if (is_alpha(c)) {
            size_t k = j;
            while (k < n && (is_alpha(s[k]) || is_digit(s[k])))
                k++;
            t->k = K_NAME;
            t->p = s + j;
            t->n = k - j;
            j = k;
        } else if (is_digit(c)) {
            bool after_dot = p->ntoks >= 2 && p->toks[p->ntoks - 2].k == K_OP &&
                             p->toks[p->ntoks - 2].op == '.';
            if (!(j = lex_number(p, s, n, j, t, after_dot)))
                return 0;
        } else if (c == '\'' || c == '"') {
            if (!(j = lex_string(p, s, n, j, t)))
                return 0;
        } else {
            char d = j + 1 < n ? s[j + 1] : '\0';
            int op = 0;
            if (c == '=' && d == '=')
                op = OP_EQ;
            else if (c == '!' && d == '=')
                op = OP_NE;
            else if (c == '<' && d == '=')
                op = OP_LE;
            else if (c == '>' && d == '=')
                op = OP_GE;
            else if (c == '/' && d == '/')
                op = OP_FLOORDIV;
            if (op) {
                j += 2;
            } else if (strchr("+-*/%~<>=()[]{},.:|", c) && c) {
                op = c;
                j++;
            } else if ((unsigned char)c >= 0x20 && (unsigned char)c < 0x7f) {
                perr(p, (uint32_t)j, "unexpected character '%c'", c);
                return 0;
            } else {
                perr(p, (uint32_t)j, "unexpected byte 0x%02x", (unsigned char)c);
                return 0;
            }
            t->op = op;
        }
    }
    return 0;
}

/* Finds "{% endraw %}" (with optional - / + and spaces) from j.  Returns
 * its start, and in *end the index after it; (size_t)-1 when missing. */
static size_t find_endraw(const char *s, size_t n, size_t j, size_t *end, bool *strip_before,
                          bool *strip_after)
{
    for (; j + 1 < n; j++) {
        if (s[j] != '{' || s[j + 1] != '%')
            continue;
        size_t k = j + 2;
        *strip_before = k < n && s[k] == '-';
        if (k < n && (s[k] == '-' || s[k] == '+'))
            k++;
        while (k < n && is_ws(s[k]))
            k++;
        if (n - k < 6 || memcmp(s + k, "endraw", 6) != 0)
            continue;
        k += 6;
        while (k < n && is_ws(s[k]))
            k++;
        *strip_after = k < n && s[k] == '-';
        if (k < n && (s[k] == '-' || s[k] == '+'))
            k++;
        if (k + 1 < n && s[k] == '%' && s[k + 1] == '}') {
            *end = k + 2;
            return j;
        }
    }
    return (size_t)-1;
}

static int emit_text(parser *p, const char *s, size_t a, size_t b)
{
    if (b <= a)
        return 0;
    tok *t = push(p, K_TEXT, a);
    if (!t)
        return p->code;
    t->p = s + a;
    t->n = b - a;
    return 0;
}

static int lex(parser *p)
{
    const char *s = p->t->src;
    size_t n = p->t->len;
    /* Jinja drops one trailing newline (keep_trailing_newline=False). */
    if (n && s[n - 1] == '\n') {
        n--;
        if (n && s[n - 1] == '\r')
            n--;
    }
    size_t pos = 0;
    bool lstrip = false;
    while (pos < n) {
        size_t i = pos;
        const char *q = NULL;
        while (i + 1 < n) {
            const char *c = memchr(s + i, '{', n - i - 1);
            if (!c)
                break;
            if (c[1] == '{' || c[1] == '%' || c[1] == '#') {
                q = c;
                break;
            }
            i = (size_t)(c - s) + 1;
        }
        size_t ts = q ? (size_t)(q - s) : n;
        size_t a = pos, b = ts;
        if (lstrip)
            while (a < b && is_ws(s[a]))
                a++;
        lstrip = false;
        if (q && ts + 2 < n && s[ts + 2] == '-')
            while (b > a && is_ws(s[b - 1]))
                b--;
        if (emit_text(p, s, a, b))
            return p->code;
        if (!q)
            break;
        char kind = s[ts + 1];
        size_t j = ts + 2;
        if (j < n && (s[j] == '-' || (kind != '{' && s[j] == '+')))
            j++;
        if (kind == '#') {
            const char *e = j <= n ? memmem(s + j, n - j, "#}", 2) : NULL;
            if (!e)
                return perr(p, (uint32_t)ts, "unclosed comment (missing '#}')");
            size_t ep = (size_t)(e - s);
            lstrip = ep > j && s[ep - 1] == '-';
            pos = ep + 2;
            continue;
        }
        size_t first = p->ntoks;
        if (!push(p, kind == '{' ? K_VBEGIN : K_BBEGIN, ts))
            return p->code;
        bool strip = false;
        size_t after = lex_tag(p, s, n, j, kind, &strip);
        if (!after) {
            if (p->code)
                return p->code;
            return perr(p, (uint32_t)ts, kind == '{' ? "unclosed '{{' (missing '}}')"
                                                     : "unclosed '{%%' (missing '%%}')");
        }
        lstrip = strip;
        pos = after;
        if (kind == '%' && p->ntoks == first + 3 && p->toks[first + 1].k == K_NAME &&
            p->toks[first + 1].n == 3 && !memcmp(p->toks[first + 1].p, "raw", 3)) {
            p->ntoks = first;
            size_t end;
            bool sb, sa;
            size_t er = find_endraw(s, n, pos, &end, &sb, &sa);
            if (er == (size_t)-1)
                return perr(p, (uint32_t)ts, "unclosed {%% raw %%} (missing {%% endraw %%})");
            size_t ca = pos, cb = er;
            if (lstrip)
                while (ca < cb && is_ws(s[ca]))
                    ca++;
            if (sb)
                while (cb > ca && is_ws(s[cb - 1]))
                    cb--;
            if (emit_text(p, s, ca, cb))
                return p->code;
            lstrip = sa;
            pos = end;
        }
    }
    return push(p, K_EOF, n) ? 0 : p->code;
}

/* ------------------------------------------------------------------ parser helpers */

static tok *cur(parser *p)
{
    return &p->toks[p->i];
}

static bool is_name(const tok *t, const char *kw)
{
    return t->k == K_NAME && t->n == strlen(kw) && !memcmp(t->p, kw, t->n);
}

static bool is_op(const tok *t, int op)
{
    return t->k == K_OP && t->op == op;
}

static bool accept_op(parser *p, int op)
{
    if (is_op(cur(p), op)) {
        p->i++;
        return true;
    }
    return false;
}

static bool accept_name(parser *p, const char *kw)
{
    if (is_name(cur(p), kw)) {
        p->i++;
        return true;
    }
    return false;
}

/* A short description of a token for messages. */
static const char *describe(const tok *t, char *buf, size_t n)
{
    switch (t->k) {
    case K_EOF: return "end of template";
    case K_TEXT: return "text";
    case K_VBEGIN: return "'{{'";
    case K_BBEGIN: return "'{%'";
    case K_VEND: return "'}}'";
    case K_BEND: return "'%}'";
    case K_NAME: snprintf(buf, n, "'%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p); return buf;
    case K_INT:
    case K_REAL: return "a number";
    case K_STR: return "a string";
    default: break;
    }
    switch (t->op) {
    case OP_EQ: return "'=='";
    case OP_NE: return "'!='";
    case OP_LE: return "'<='";
    case OP_GE: return "'>='";
    case OP_FLOORDIV: return "'//'";
    default: snprintf(buf, n, "'%c'", t->op); return buf;
    }
}

static int expect_op(parser *p, int op, const char *what)
{
    if (accept_op(p, op))
        return 0;
    char b[64];
    return perr(p, cur(p)->pos, "expected %s, got %s", what, describe(cur(p), b, sizeof b));
}

static int expect_end(parser *p, int k)
{
    if (cur(p)->k == k) {
        p->i++;
        return 0;
    }
    char b[64];
    return perr(p, cur(p)->pos, "expected '%s', got %s", k == K_VEND ? "}}" : "%}",
                describe(cur(p), b, sizeof b));
}

static bool is_keyword(const tok *t)
{
    static const char *const kw[] = { "and", "or", "not", "in", "is", "if", "else" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(kw); i++)
        if (is_name(t, kw[i]))
            return true;
    return false;
}

static int expect_ident(parser *p, vial__tname *out, const char *what)
{
    tok *t = cur(p);
    if (t->k != K_NAME || is_keyword(t)) {
        char b[64];
        return perr(p, t->pos, "expected %s, got %s", what, describe(t, b, sizeof b));
    }
    out->p = t->p;
    out->n = t->n;
    p->i++;
    return 0;
}

static uint16_t xdepth(const vial__texpr *x)
{
    return x ? x->depth : 0;
}

/* Sets x->depth from its children; fails past the expression limit. */
static int fix_depth(parser *p, vial__texpr *x)
{
    unsigned d = xdepth(x->a);
    if (xdepth(x->b) > d)
        d = xdepth(x->b);
    if (xdepth(x->c) > d)
        d = xdepth(x->c);
    if (x->op == TX_LIST || x->op == TX_FILTER || x->op == TX_TEST || x->op == TX_CALL)
        for (size_t i = 0; i < x->u.call.nargs; i++)
            if (xdepth(x->u.call.args[i]) > d)
                d = xdepth(x->u.call.args[i]);
    if (d + 1 > VIAL__TPL_MAX_EXPR_DEPTH)
        return perr(p, x->pos, "expression nested too deeply (limit %d)",
                    VIAL__TPL_MAX_EXPR_DEPTH);
    x->depth = (uint16_t)(d + 1);
    return 0;
}

static vial__texpr *mk(parser *p, int op, uint32_t pos, vial__texpr *a, vial__texpr *b,
                       vial__texpr *c)
{
    vial__texpr *x = palloc(p, sizeof *x);
    if (!x)
        return NULL;
    x->op = (uint8_t)op;
    x->pos = pos;
    x->a = a;
    x->b = b;
    x->c = c;
    return fix_depth(p, x) ? NULL : x;
}

/* A growable array of pointers in the template arena (doubling; the
 * abandoned copies stay in the arena, at most as much again). */
typedef struct pvec {
    void **v;
    size_t n, cap;
} pvec;

static int pvec_push(parser *p, pvec *v, void *x)
{
    if (v->n == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 4;
        void **nv = palloc(p, cap * sizeof *nv);
        if (!nv)
            return p->code;
        if (v->n)
            memcpy(nv, v->v, v->n * sizeof *nv);
        v->v = nv;
        v->cap = cap;
    }
    v->v[v->n++] = x;
    return 0;
}

/* ------------------------------------------------------------------ expressions */

static vial__texpr *parse_expr(parser *p);
static vial__texpr *parse_unary(parser *p, bool with_filter);
static vial__texpr *parse_primary(parser *p);

static int enter(parser *p)
{
    if (++p->edepth > VIAL__TPL_MAX_EXPR_DEPTH)
        return perr(p, cur(p)->pos, "expression nested too deeply (limit %d)",
                    VIAL__TPL_MAX_EXPR_DEPTH);
    return 0;
}

/*
 * Call arguments "(a, b, k=v)" after the '(' was consumed.  Positional ones
 * first; names of keyword arguments go to *kw (NULL for positional).
 */
static int parse_args(parser *p, pvec *args, pvec *kw, size_t *npos)
{
    *npos = 0;
    bool seen_kw = false;
    while (!accept_op(p, ')')) {
        tok *t = cur(p);
        const char *name = NULL;
        if (t->k == K_NAME && !is_keyword(t) && is_op(&p->toks[p->i + 1], '=')) {
            char *nm = vial__arena_strndup(&p->t->ar, t->p, t->n);
            if (!nm)
                return oom(p);
            name = nm;
            p->i += 2;
            seen_kw = true;
        } else if (seen_kw) {
            return perr(p, t->pos, "positional argument after a keyword argument");
        }
        vial__texpr *e = parse_expr(p);
        if (!e)
            return p->code;
        if (pvec_push(p, args, e) || pvec_push(p, kw, (void *)name))
            return p->code;
        if (!name)
            (*npos)++;
        if (!accept_op(p, ',')) {
            if (expect_op(p, ')', "',' or ')'"))
                return p->code;
            break;
        }
    }
    return 0;
}

static int bind_filter(parser *p, vial__texpr *x, const vial__tfilter_def *d, pvec *args,
                       pvec *kw, size_t npos)
{
    vial__tcall *c = &x->u.call;
    if (npos > (size_t)d->nparams)
        return perr(p, x->pos, "filter '%s' takes at most %d argument%s", d->name, d->nparams,
                    d->nparams == 1 ? "" : "s");
    c->nargs = (size_t)d->nparams;
    c->args = c->nargs ? palloc(p, c->nargs * sizeof *c->args) : NULL;
    if (c->nargs && !c->args)
        return p->code;
    for (size_t i = 0; i < args->n; i++) {
        size_t slot = i;
        if (kw->v[i]) {
            const char *name = kw->v[i];
            for (slot = 0; slot < (size_t)d->nparams; slot++)
                if (!strcmp(d->params[slot], name))
                    break;
            if (slot == (size_t)d->nparams)
                return perr(p, x->pos, "filter '%s' has no argument '%s'", d->name, name);
            if (c->args[slot])
                return perr(p, x->pos, "filter '%s' got argument '%s' twice", d->name, name);
        }
        c->args[slot] = args->v[i];
    }
    for (int i = 0; i < d->nrequired; i++)
        if (!c->args[i])
            return perr(p, x->pos, "filter '%s' needs the argument '%s'", d->name, d->params[i]);
    return 0;
}

static vial__texpr *parse_filter(parser *p, vial__texpr *x)
{
    uint32_t pos = cur(p)->pos;
    vial__tname name;
    if (expect_ident(p, &name, "a filter name"))
        return NULL;
    vial__texpr *f = mk(p, TX_FILTER, pos, x, NULL, NULL);
    if (!f)
        return NULL;
    pvec args = { 0 }, kw = { 0 };
    size_t npos = 0;
    if (accept_op(p, '(') && parse_args(p, &args, &kw, &npos))
        return NULL;
    vial__tcall *c = &f->u.call;
    char *nm = vial__arena_strndup(&p->t->ar, name.p, name.n);
    if (!nm) {
        oom(p);
        return NULL;
    }
    c->name = nm;
    for (size_t i = 0; i < p->m->nfilters; i++) {
        if (!strcmp(p->m->filters[i].name, nm)) {
            if (npos != args.n) {
                perr(p, pos, "filter '%s' takes positional arguments only", nm);
                return NULL;
            }
            c->custom = p->m->filters[i].fn;
            c->args = (vial__texpr **)args.v;
            c->nargs = c->npos = args.n;
            return fix_depth(p, f) ? NULL : f;
        }
    }
    const vial__tfilter_def *d = vial__tpl_filter_find(name.p, name.n);
    if (!d) {
        perr(p, pos, "unknown filter '%s'", nm);
        return NULL;
    }
    c->fn = d->fn;
    if (bind_filter(p, f, d, &args, &kw, npos))
        return NULL;
    return fix_depth(p, f) ? NULL : f;
}

static vial__texpr *parse_test(parser *p, vial__texpr *x)
{
    uint32_t pos = cur(p)->pos;
    p->i++; /* is */
    bool neg = accept_name(p, "not");
    tok *t = cur(p);
    if (t->k != K_NAME) {
        char b[64];
        perr(p, t->pos, "expected a test name, got %s", describe(t, b, sizeof b));
        return NULL;
    }
    /* "x is none", "x is true": the keywords are test names here */
    const vial__ttest_def *d = vial__tpl_test_find(t->p, t->n);
    if (!d) {
        perr(p, t->pos, "unknown test '%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p);
        return NULL;
    }
    p->i++;
    vial__texpr *e = mk(p, TX_TEST, pos, x, NULL, NULL);
    if (!e)
        return NULL;
    e->sub = neg;
    e->u.call.name = d->name;
    e->u.call.id = (int)(d - vial__tpl_test_at(0));
    vial__texpr *arg = NULL;
    if (accept_op(p, '(')) {
        pvec args = { 0 }, kw = { 0 };
        size_t npos;
        if (parse_args(p, &args, &kw, &npos))
            return NULL;
        if (npos != args.n || args.n != (size_t)d->nargs) {
            perr(p, pos, "test '%s' takes %d argument%s", d->name, d->nargs,
                 d->nargs == 1 ? "" : "s");
            return NULL;
        }
        arg = args.n ? args.v[0] : NULL;
    } else if (d->nargs == 1) {
        t = cur(p);
        /* Jinja also takes one bare argument: "x is divisibleby 3" */
        if ((t->k == K_NAME && !is_keyword(t)) || t->k == K_STR || t->k == K_INT ||
            t->k == K_REAL || is_op(t, '(') || is_op(t, '[')) {
            if (enter(p))
                return NULL;
            arg = parse_primary(p);
            p->edepth--;
            if (!arg)
                return NULL;
        } else {
            perr(p, pos, "test '%s' needs an argument", d->name);
            return NULL;
        }
    }
    if (arg) {
        e->u.call.args = palloc(p, sizeof *e->u.call.args);
        if (!e->u.call.args)
            return NULL;
        e->u.call.args[0] = arg;
        e->u.call.nargs = e->u.call.npos = 1;
    }
    return fix_depth(p, e) ? NULL : e;
}

static bool name_is(const vial__texpr *x, const char *s)
{
    return x->u.name.n == strlen(s) && !memcmp(x->u.name.p, s, x->u.name.n);
}

/* obj(...) after the '(' token: only the functions vial knows. */
static vial__texpr *parse_call(parser *p, vial__texpr *callee)
{
    uint32_t pos = cur(p)->pos;
    p->i++; /* ( */
    pvec args = { 0 }, kw = { 0 };
    size_t npos = 0;
    if (parse_args(p, &args, &kw, &npos))
        return NULL;
    int id = -1;
    vial__texpr *obj = NULL;
    if (callee->op == TX_NAME) {
        if (name_is(callee, "url_for"))
            id = TF_URL_FOR;
        else if (name_is(callee, "static"))
            id = TF_STATIC;
        else if (name_is(callee, "super"))
            id = TF_SUPER;
        if (id < 0) {
            perr(p, callee->pos, "unknown function '%.*s'", (int)callee->u.name.n,
                 callee->u.name.p);
            return NULL;
        }
    } else if (callee->op == TX_ATTR) {
        obj = callee->a;
        if (name_is(callee, "items"))
            id = TF_ITEMS;
        else if (name_is(callee, "keys"))
            id = TF_KEYS;
        else if (name_is(callee, "values"))
            id = TF_VALUES;
        else if (name_is(callee, "cycle"))
            id = TF_CYCLE;
        if (id < 0) {
            if (vial__tpl_filter_find(callee->u.name.p, callee->u.name.n))
                perr(p, callee->pos, "method calls are not supported: use the filter, x|%.*s",
                     (int)callee->u.name.n, callee->u.name.p);
            else
                perr(p, callee->pos, "unknown method '%.*s'", (int)callee->u.name.n,
                     callee->u.name.p);
            return NULL;
        }
    } else {
        perr(p, pos, "this expression cannot be called");
        return NULL;
    }
    static const char *const names[] = { "url_for", "static", "super", "items", "keys",
                                         "values", "cycle" };
    bool ok;
    switch (id) {
    case TF_URL_FOR: ok = npos == 1; break;
    case TF_STATIC: ok = npos == 1 && args.n == 1; break;
    case TF_CYCLE: ok = npos >= 1 && npos == args.n; break;
    default: ok = args.n == 0; break;
    }
    if (!ok) {
        const char *want = id == TF_URL_FOR ? "an endpoint and keyword arguments"
                           : id == TF_STATIC ? "one argument"
                           : id == TF_CYCLE  ? "positional arguments"
                                             : "no arguments";
        perr(p, pos, "%s() takes %s", names[id], want);
        return NULL;
    }
    vial__texpr *x = mk(p, TX_CALL, callee->pos, obj, NULL, NULL);
    if (!x)
        return NULL;
    x->u.call.name = names[id];
    x->u.call.id = id;
    x->u.call.args = (vial__texpr **)args.v;
    x->u.call.kw = (const char **)kw.v;
    x->u.call.nargs = args.n;
    x->u.call.npos = npos;
    return fix_depth(p, x) ? NULL : x;
}

static vial__texpr *parse_postfix(parser *p, vial__texpr *x)
{
    while (x) {
        tok *t = cur(p);
        if (is_op(t, '.')) {
            p->i++;
            tok *a = cur(p);
            if (a->k == K_NAME) {
                vial__texpr *e = mk(p, TX_ATTR, a->pos, x, NULL, NULL);
                if (!e)
                    return NULL;
                e->u.name.p = a->p;
                e->u.name.n = a->n;
                p->i++;
                x = e;
            } else if (a->k == K_INT) {
                vial__texpr *k = mk(p, TX_LIT, a->pos, NULL, NULL, NULL);
                if (!k)
                    return NULL;
                k->u.lit.t = TV_INT;
                k->u.lit.u.i = a->i;
                p->i++;
                x = mk(p, TX_ITEM, a->pos, x, k, NULL);
            } else {
                char b[64];
                perr(p, a->pos, "expected an attribute name after '.', got %s",
                     describe(a, b, sizeof b));
                return NULL;
            }
        } else if (is_op(t, '[')) {
            p->i++;
            vial__texpr *k = parse_expr(p);
            if (!k)
                return NULL;
            if (is_op(cur(p), ':')) {
                perr(p, cur(p)->pos, "slices are not supported");
                return NULL;
            }
            if (expect_op(p, ']', "']'"))
                return NULL;
            x = mk(p, TX_ITEM, t->pos, x, k, NULL);
        } else if (is_op(t, '(')) {
            x = parse_call(p, x);
        } else {
            break;
        }
    }
    return x;
}

static vial__texpr *parse_filter_expr(parser *p, vial__texpr *x)
{
    while (x) {
        tok *t = cur(p);
        if (is_op(t, '|')) {
            p->i++;
            x = parse_filter(p, x);
        } else if (is_name(t, "is")) {
            x = parse_test(p, x);
        } else if (is_op(t, '(')) {
            x = parse_call(p, x);
        } else {
            break;
        }
    }
    return x;
}

static vial__texpr *lit(parser *p, uint32_t pos, vial__tval v)
{
    vial__texpr *x = mk(p, TX_LIT, pos, NULL, NULL, NULL);
    if (x)
        x->u.lit = v;
    return x;
}

/* [a, b, c] or (a, b) after the opening bracket. */
static vial__texpr *parse_list(parser *p, uint32_t pos, int close, vial__texpr *first)
{
    pvec items = { 0 };
    if (first && pvec_push(p, &items, first))
        return NULL;
    while (!accept_op(p, close)) {
        vial__texpr *e = parse_expr(p);
        if (!e || pvec_push(p, &items, e))
            return NULL;
        if (!accept_op(p, ',')) {
            if (expect_op(p, close, close == ']' ? "',' or ']'" : "',' or ')'"))
                return NULL;
            break;
        }
    }
    vial__texpr *x = mk(p, TX_LIST, pos, NULL, NULL, NULL);
    if (!x)
        return NULL;
    x->u.call.args = (vial__texpr **)items.v;
    x->u.call.nargs = items.n;
    return fix_depth(p, x) ? NULL : x;
}

static vial__texpr *parse_primary(parser *p)
{
    tok *t = cur(p);
    vial__tval v = { 0 };
    switch (t->k) {
    case K_NAME:
        if (is_name(t, "true") || is_name(t, "True") || is_name(t, "false") ||
            is_name(t, "False")) {
            v.t = TV_BOOL;
            v.u.b = t->p[0] == 't' || t->p[0] == 'T';
            p->i++;
            return lit(p, t->pos, v);
        }
        if (is_name(t, "none") || is_name(t, "None")) {
            v.t = TV_NONE;
            p->i++;
            return lit(p, t->pos, v);
        }
        if (is_keyword(t))
            break;
        {
            vial__texpr *x = mk(p, TX_NAME, t->pos, NULL, NULL, NULL);
            if (!x)
                return NULL;
            x->u.name.p = t->p;
            x->u.name.n = t->n;
            p->i++;
            return x;
        }
    case K_STR: {
        /* adjacent literals concatenate, as in Python */
        size_t n = 0, k = p->i;
        while (p->toks[k].k == K_STR)
            n += p->toks[k++].n;
        if (k == p->i + 1) {
            v.u.s.p = t->p;
            v.u.s.n = t->n;
        } else {
            char *s = palloc(p, n + 1);
            if (!s)
                return NULL;
            size_t o = 0;
            for (size_t j = p->i; j < k; j++) {
                memcpy(s + o, p->toks[j].p, p->toks[j].n);
                o += p->toks[j].n;
            }
            v.u.s.p = s;
            v.u.s.n = n;
        }
        v.t = TV_STR;
        p->i = k;
        return lit(p, t->pos, v);
    }
    case K_INT:
        v.t = TV_INT;
        v.u.i = t->i;
        p->i++;
        return lit(p, t->pos, v);
    case K_REAL:
        v.t = TV_REAL;
        v.u.d = t->d;
        p->i++;
        return lit(p, t->pos, v);
    case K_OP:
        if (t->op == '(') {
            p->i++;
            if (is_op(cur(p), ')'))
                return parse_list(p, t->pos, ')', NULL); /* () is an empty tuple */
            vial__texpr *e = parse_expr(p);
            if (!e)
                return NULL;
            if (accept_op(p, ','))
                return parse_list(p, t->pos, ')', e);
            return expect_op(p, ')', "')'") ? NULL : e;
        }
        if (t->op == '[') {
            p->i++;
            return parse_list(p, t->pos, ']', NULL);
        }
        if (t->op == '{') {
            perr(p, t->pos, "dict literals are not supported");
            return NULL;
        }
        break;
    default: break;
    }
    char b[64];
    perr(p, t->pos, "unexpected %s", describe(t, b, sizeof b));
    return NULL;
}

static vial__texpr *parse_unary(parser *p, bool with_filter)
{
    tok *t = cur(p);
    vial__texpr *x;
    if (is_op(t, '-') || is_op(t, '+')) {
        p->i++;
        if (enter(p)) /* "- - - x" recurses here */
            return NULL;
        vial__texpr *a = parse_unary(p, false);
        p->edepth--;
        x = a ? mk(p, t->op == '-' ? TX_NEG : TX_POS, t->pos, a, NULL, NULL) : NULL;
    } else {
        x = parse_primary(p);
    }
    x = parse_postfix(p, x);
    if (with_filter)
        x = parse_filter_expr(p, x);
    return x;
}

static vial__texpr *parse_math2(parser *p)
{
    vial__texpr *x = parse_unary(p, true);
    while (x) {
        tok *t = cur(p);
        if (!(is_op(t, '*') || is_op(t, '/') || is_op(t, OP_FLOORDIV) || is_op(t, '%')))
            break;
        p->i++;
        vial__texpr *y = parse_unary(p, true);
        if (!y)
            return NULL;
        x = mk(p, TX_BIN, t->pos, x, y, NULL);
        if (x)
            x->sub = (uint8_t)t->op;
    }
    return x;
}

static vial__texpr *parse_concat(parser *p)
{
    vial__texpr *x = parse_math2(p);
    while (x && is_op(cur(p), '~')) {
        uint32_t pos = cur(p)->pos;
        p->i++;
        vial__texpr *y = parse_math2(p);
        if (!y)
            return NULL;
        x = mk(p, TX_BIN, pos, x, y, NULL);
        if (x)
            x->sub = '~';
    }
    return x;
}

static vial__texpr *parse_math1(parser *p)
{
    vial__texpr *x = parse_concat(p);
    while (x) {
        tok *t = cur(p);
        if (!(is_op(t, '+') || is_op(t, '-')))
            break;
        p->i++;
        vial__texpr *y = parse_concat(p);
        if (!y)
            return NULL;
        x = mk(p, TX_BIN, t->pos, x, y, NULL);
        if (x)
            x->sub = (uint8_t)t->op;
    }
    return x;
}

static vial__texpr *parse_compare(parser *p)
{
    vial__texpr *x = parse_math1(p);
    bool chain = false;
    while (x) {
        tok *t = cur(p);
        int sub;
        if (t->k == K_OP && (t->op == OP_EQ || t->op == OP_NE || t->op == '<' ||
                             t->op == OP_LE || t->op == '>' || t->op == OP_GE)) {
            sub = t->op;
            p->i++;
        } else if (is_name(t, "in")) {
            sub = 'i';
            p->i++;
        } else if (is_name(t, "not") && is_name(&p->toks[p->i + 1], "in")) {
            sub = 'n';
            p->i += 2;
        } else {
            break;
        }
        vial__texpr *y = parse_math1(p);
        if (!y)
            return NULL;
        x = mk(p, TX_CMP, t->pos, x, y, NULL);
        if (!x)
            return NULL;
        x->sub = (uint8_t)sub;
        x->chain = chain;
        chain = true;
    }
    return x;
}

static vial__texpr *parse_not(parser *p)
{
    tok *t = cur(p);
    if (is_name(t, "not")) {
        p->i++;
        if (enter(p))
            return NULL;
        vial__texpr *a = parse_not(p);
        p->edepth--;
        return a ? mk(p, TX_NOT, t->pos, a, NULL, NULL) : NULL;
    }
    return parse_compare(p);
}

static vial__texpr *parse_and(parser *p)
{
    vial__texpr *x = parse_not(p);
    while (x && is_name(cur(p), "and")) {
        uint32_t pos = cur(p)->pos;
        p->i++;
        vial__texpr *y = parse_not(p);
        x = y ? mk(p, TX_AND, pos, x, y, NULL) : NULL;
    }
    return x;
}

static vial__texpr *parse_or(parser *p)
{
    vial__texpr *x = parse_and(p);
    while (x && is_name(cur(p), "or")) {
        uint32_t pos = cur(p)->pos;
        p->i++;
        vial__texpr *y = parse_and(p);
        x = y ? mk(p, TX_OR, pos, x, y, NULL) : NULL;
    }
    return x;
}

/* Jinja's parse_condexpr: "a if cond else b", else optional. */
static vial__texpr *parse_expr(parser *p)
{
    if (enter(p))
        return NULL;
    vial__texpr *x = parse_or(p);
    while (x && is_name(cur(p), "if")) {
        uint32_t pos = cur(p)->pos;
        p->i++;
        vial__texpr *cond = parse_or(p);
        if (!cond)
            return NULL;
        vial__texpr *other = NULL;
        if (accept_name(p, "else") && !(other = parse_expr(p)))
            return NULL;
        x = mk(p, TX_COND, pos, x, cond, other);
    }
    p->edepth--;
    return x;
}

/* ------------------------------------------------------------------ statements */

static int parse_body(parser *p, const char *const *enders, size_t nenders, vial__tbody *out,
                      int *which);

static vial__tnode *node(parser *p, int kind, uint32_t pos)
{
    vial__tnode *n = palloc(p, sizeof *n);
    if (n) {
        n->kind = (uint8_t)kind;
        n->pos = pos;
    }
    return n;
}

static int open_tag(parser *p, const char *tag, uint32_t pos)
{
    if (p->nopen >= VIAL__TPL_MAX_STMT_DEPTH)
        return perr(p, pos, "tags nested too deeply (limit %d)", VIAL__TPL_MAX_STMT_DEPTH);
    p->open[p->nopen].tag = tag;
    p->open[p->nopen].pos = pos;
    p->nopen++;
    return 0;
}

/* Consumes "{% <ender>" and expects "%}" right after (endblock may name
 * its block: handled by the caller). */
static int close_tag(parser *p)
{
    p->i += 2;
    return 0;
}

/* The body ended at the end of the template while `tag` was open. */
static int unclosed(parser *p, const char *tag, const char *end, uint32_t pos)
{
    return perr(p, pos, "unclosed {%% %s %%} (missing {%% %s %%})", tag, end);
}

static int parse_if(parser *p, uint32_t pos, vial__tnode **out)
{
    static const char *const enders[] = { "elif", "else", "endif" };
    if (open_tag(p, "if", pos))
        return p->code;
    vial__tnode *n = node(p, TN_IF, pos), *first = n;
    if (!n)
        return p->code;
    for (;;) {
        if (!(n->u.if_.cond = parse_expr(p)) || expect_end(p, K_BEND))
            return p->code;
        int which;
        if (parse_body(p, enders, 3, &n->u.if_.then, &which))
            return p->code;
        if (which < 0)
            return unclosed(p, "if", "endif", pos);
        uint32_t tpos = cur(p)->pos;
        close_tag(p);
        if (which == 0) { /* elif: a nested if alone in the else branch */
            vial__tnode *e = node(p, TN_IF, tpos);
            vial__tnode **v = palloc(p, sizeof *v);
            if (!e || !v)
                return p->code;
            v[0] = e;
            n->u.if_.els.v = v;
            n->u.if_.els.n = 1;
            n = e;
            continue;
        }
        if (which == 1) {
            static const char *const end[] = { "endif" };
            if (expect_end(p, K_BEND) || parse_body(p, end, 1, &n->u.if_.els, &which))
                return p->code;
            if (which < 0)
                return unclosed(p, "if", "endif", pos);
            close_tag(p);
        }
        break;
    }
    p->nopen--;
    *out = first;
    return expect_end(p, K_BEND);
}

static int parse_for(parser *p, uint32_t pos, vial__tnode **out)
{
    vial__tnode *n = node(p, TN_FOR, pos);
    if (!n || open_tag(p, "for", pos))
        return p->code;
    do {
        if (n->u.for_.ntargets == VIAL__TPL_MAX_TARGETS)
            return perr(p, cur(p)->pos, "too many loop variables (limit %d)",
                        VIAL__TPL_MAX_TARGETS);
        if (expect_ident(p, &n->u.for_.targets[n->u.for_.ntargets++], "a loop variable name"))
            return p->code;
    } while (accept_op(p, ','));
    if (!accept_name(p, "in")) {
        char b[64];
        return perr(p, cur(p)->pos, "expected 'in', got %s", describe(cur(p), b, sizeof b));
    }
    /* no conditional expression here: "for x in xs if cond" filters */
    if (enter(p))
        return p->code;
    n->u.for_.iter = parse_or(p);
    p->edepth--;
    if (!n->u.for_.iter)
        return p->code;
    if (accept_name(p, "if") && !(n->u.for_.filter = parse_expr(p)))
        return p->code;
    if (is_name(cur(p), "recursive"))
        return perr(p, cur(p)->pos, "recursive loops are not supported");
    if (expect_end(p, K_BEND))
        return p->code;
    static const char *const enders[] = { "else", "endfor" };
    int which;
    if (parse_body(p, enders, 2, &n->u.for_.body, &which))
        return p->code;
    if (which < 0)
        return unclosed(p, "for", "endfor", pos);
    close_tag(p);
    if (which == 0) {
        static const char *const end[] = { "endfor" };
        if (expect_end(p, K_BEND) || parse_body(p, end, 1, &n->u.for_.els, &which))
            return p->code;
        if (which < 0)
            return unclosed(p, "for", "endfor", pos);
        close_tag(p);
    }
    p->nopen--;
    *out = n;
    return expect_end(p, K_BEND);
}

static int parse_set(parser *p, uint32_t pos, vial__tnode **out)
{
    vial__tnode *n = node(p, TN_SET, pos);
    if (!n || expect_ident(p, &n->u.set.name, "a variable name"))
        return p->code;
    if (is_op(cur(p), ','))
        return perr(p, cur(p)->pos, "{%% set %%} with several names is not supported");
    if (accept_op(p, '=')) {
        if (!(n->u.set.value = parse_expr(p)))
            return p->code;
        *out = n;
        return expect_end(p, K_BEND);
    }
    if (cur(p)->k != K_BEND) {
        char b[64];
        return perr(p, cur(p)->pos, "expected '=' or '%%}', got %s",
                    describe(cur(p), b, sizeof b));
    }
    p->i++;
    n->kind = TN_SETBLOCK;
    if (open_tag(p, "set", pos))
        return p->code;
    static const char *const end[] = { "endset" };
    int which;
    if (parse_body(p, end, 1, &n->u.set.body, &which))
        return p->code;
    if (which < 0)
        return unclosed(p, "set", "endset", pos);
    close_tag(p);
    p->nopen--;
    *out = n;
    return expect_end(p, K_BEND);
}

static int parse_include(parser *p, uint32_t pos, vial__tnode **out)
{
    vial__tnode *n = node(p, TN_INCLUDE, pos);
    if (!n || !(n->u.include.name = parse_expr(p)))
        return p->code;
    for (;;) {
        if (accept_name(p, "ignore")) {
            if (!accept_name(p, "missing"))
                return perr(p, cur(p)->pos, "expected 'missing' after 'ignore'");
            n->u.include.ignore_missing = true;
        } else if (accept_name(p, "with") || accept_name(p, "without")) {
            bool without = is_name(&p->toks[p->i - 1], "without");
            if (!accept_name(p, "context"))
                return perr(p, cur(p)->pos, "expected 'context'");
            n->u.include.without_context = without;
        } else {
            break;
        }
    }
    *out = n;
    return expect_end(p, K_BEND);
}

static int parse_block(parser *p, uint32_t pos, vial__tnode **out)
{
    vial__tnode *n = node(p, TN_BLOCK, pos);
    if (!n || expect_ident(p, &n->u.block.name, "a block name"))
        return p->code;
    /* Jinja's modifiers: blocks always see the enclosing scope here, and a
     * required block is simply one the base leaves empty. */
    while (accept_name(p, "scoped") || accept_name(p, "required"))
        ;
    if (expect_end(p, K_BEND))
        return p->code;
    vial__tpl *t = p->t;
    if (t->nblocks == VIAL__TPL_MAX_BLOCKS) /* the check below is quadratic */
        return perr(p, pos, "too many blocks (limit %d)", VIAL__TPL_MAX_BLOCKS);
    for (size_t i = 0; i < t->nblocks; i++) {
        const vial__tname *o = &t->blocks[i]->u.block.name;
        if (o->n == n->u.block.name.n && !memcmp(o->p, n->u.block.name.p, o->n))
            return perr(p, pos, "block '%.*s' defined twice", (int)o->n, o->p);
    }
    pvec bl = { (void **)t->blocks, t->nblocks, p->capblocks };
    if (pvec_push(p, &bl, n))
        return p->code;
    t->blocks = (vial__tnode **)bl.v;
    t->nblocks = bl.n;
    p->capblocks = bl.cap;
    if (open_tag(p, "block", pos))
        return p->code;
    static const char *const end[] = { "endblock" };
    int which;
    if (parse_body(p, end, 1, &n->u.block.body, &which))
        return p->code;
    if (which < 0)
        return unclosed(p, "block", "endblock", pos);
    close_tag(p);
    tok *nm = cur(p);
    if (nm->k == K_NAME) {
        if (nm->n != n->u.block.name.n || memcmp(nm->p, n->u.block.name.p, nm->n))
            return perr(p, nm->pos, "{%% endblock %.*s %%} closes block '%.*s'",
                        (int)(nm->n > 40 ? 40 : nm->n), nm->p, (int)n->u.block.name.n,
                        n->u.block.name.p);
        p->i++;
    }
    p->nopen--;
    *out = n;
    return expect_end(p, K_BEND);
}

static int parse_extends(parser *p, uint32_t pos)
{
    if (p->nopen)
        return perr(p, pos, "{%% extends %%} must be at the top level of the template");
    if (p->t->extends)
        return perr(p, pos, "{%% extends %%} used twice");
    if (!(p->t->extends = parse_expr(p)))
        return p->code;
    return expect_end(p, K_BEND);
}

static unsigned line_of(const vial__tpl *t, uint32_t pos)
{
    unsigned line = 1;
    for (uint32_t i = 0; i < pos && i < t->len; i++)
        line += t->src[i] == '\n';
    return line;
}

/* A statement after "{%" NAME (p->i at the name). */
static int parse_stmt(parser *p, vial__tnode **out)
{
    tok *t = cur(p);
    uint32_t pos = p->toks[p->i - 1].pos;
    *out = NULL;
    p->i++;
    if (is_name(t, "if"))
        return parse_if(p, pos, out);
    if (is_name(t, "for"))
        return parse_for(p, pos, out);
    if (is_name(t, "set"))
        return parse_set(p, pos, out);
    if (is_name(t, "include"))
        return parse_include(p, pos, out);
    if (is_name(t, "block"))
        return parse_block(p, pos, out);
    if (is_name(t, "extends"))
        return parse_extends(p, pos);
    static const char *const enders[] = { "elif", "else", "endif", "endfor", "endblock",
                                          "endset", "endraw" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(enders); i++) {
        if (!is_name(t, enders[i]))
            continue;
        if (p->nopen) {
            const char *tag = p->open[p->nopen - 1].tag;
            return perr(p, t->pos, "unexpected {%% %s %%} (the innermost open tag is the "
                                   "{%% %s %%} of line %u, closed by {%% end%s %%})",
                        enders[i], tag, line_of(p->t, p->open[p->nopen - 1].pos), tag);
        }
        return perr(p, t->pos, "unexpected {%% %s %%}", enders[i]);
    }
    return perr(p, t->pos, "unknown tag '%.*s'", (int)(t->n > 40 ? 40 : t->n), t->p);
}

/*
 * Parses nodes until "{% <one of enders>" (left unconsumed, *which = its
 * index) or the end of the template (*which = -1).
 */
static int parse_body(parser *p, const char *const *enders, size_t nenders, vial__tbody *out,
                      int *which)
{
    pvec v = { 0 };
    *which = -1;
    for (;;) {
        tok *t = cur(p);
        vial__tnode *n = NULL;
        if (t->k == K_EOF)
            break;
        if (t->k == K_TEXT) {
            if (!(n = node(p, TN_TEXT, t->pos)))
                return p->code;
            n->u.text.p = t->p;
            n->u.text.n = t->n;
            p->i++;
        } else if (t->k == K_VBEGIN) {
            p->i++;
            if (!(n = node(p, TN_OUT, t->pos)) || !(n->u.expr = parse_expr(p)) ||
                expect_end(p, K_VEND))
                return p->code;
        } else if (t->k == K_BBEGIN) {
            tok *name = &p->toks[p->i + 1];
            if (name->k != K_NAME) {
                char b[64];
                return perr(p, name->pos, "expected a tag name, got %s",
                            describe(name, b, sizeof b));
            }
            for (size_t i = 0; i < nenders; i++) {
                if (is_name(name, enders[i])) {
                    *which = (int)i;
                    goto done;
                }
            }
            p->i++;
            if (parse_stmt(p, &n))
                return p->code;
        } else {
            char b[64];
            return perr(p, t->pos, "unexpected %s", describe(t, b, sizeof b));
        }
        if (n && pvec_push(p, &v, n))
            return p->code;
    }
done:
    out->v = (vial__tnode **)v.v;
    out->n = v.n;
    return 0;
}

/* ------------------------------------------------------------------ entry point */

int vial__tpl_where(const vial__tpl *t, uint32_t pos, char *out, size_t outlen)
{
    unsigned line = 1, col = 1;
    if (pos > t->len)
        pos = (uint32_t)t->len;
    for (uint32_t i = 0; i < pos; i++) {
        unsigned char c = (unsigned char)t->src[i];
        if (c == '\n') {
            line++;
            col = 1;
        } else if ((c & 0xC0) != 0x80) {
            col++; /* columns count characters, not UTF-8 bytes */
        }
    }
    return snprintf(out, outlen, "%s:%u:%u: ", t->name, line, col);
}

vial__tpl *vial__tpl_compile(vial__tplmod *m, const char *name, const char *src, size_t len,
                             char *err, size_t errlen, int *code)
{
    *code = 0;
    if (err && errlen)
        err[0] = '\0';
    if (len > VIAL__TPL_MAX_SOURCE) {
        *code = VIAL_ETOOBIG;
        if (err && errlen)
            snprintf(err, errlen, "%s: template larger than %u bytes", name,
                     VIAL__TPL_MAX_SOURCE);
        return NULL;
    }
    vial__tpl *t = calloc(1, sizeof *t);
    if (!t) {
        *code = VIAL_ENOMEM;
        return NULL;
    }
    atomic_init(&t->refs, 1);
    t->name = strdup(name);
    t->src = malloc(len + 1);
    if (!t->name || !t->src) {
        vial__tpl_release(t);
        *code = VIAL_ENOMEM;
        return NULL;
    }
    memcpy(t->src, src, len);
    t->src[len] = '\0';
    t->len = len;
    t->autoescape = vial__tpl_autoescape_name(name);

    parser p = { .m = m, .t = t, .err = err, .errlen = errlen };
    if (lex(&p) == 0) {
        int which;
        if (parse_body(&p, NULL, 0, &t->body, &which) == 0 && cur(&p)->k != K_EOF) {
            char b[64];
            perr(&p, cur(&p)->pos, "unexpected %s", describe(cur(&p), b, sizeof b));
        }
    }
    free(p.toks);
    if (p.code) {
        *code = p.code;
        vial__tpl_release(t);
        return NULL;
    }
    return t;
}

void vial__tpl_retain(vial__tpl *t)
{
    atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void vial__tpl_release(vial__tpl *t)
{
    if (!t || atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) != 1)
        return;
    vial__arena_reset(&t->ar);
    free(t->name);
    free(t->src);
    free(t);
}

bool vial__tpl_autoescape_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || strchr(dot, '/'))
        return false;
    return !strcasecmp(dot, ".html") || !strcasecmp(dot, ".htm") || !strcasecmp(dot, ".xml") ||
           !strcasecmp(dot, ".svg");
}

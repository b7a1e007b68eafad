/*
 * url_fuzz.c — percent-decoding/encoding, route patterns, matching, reverse
 * routing, query strings and cookie lookup (url.c, router.c).
 *
 * Input: the whole input is first percent-decoded and re-encoded as is.
 * Then it is read as lines:
 *   line 0   a request path, optionally "?query"
 *   line 1   a Cookie header
 *   line 2   a cookie name
 *   line 3+  route patterns (up to 12), route i answering a method set
 *            derived from i
 * Properties checked (abort() on violation):
 *  - vial_url_decode writes at most n + 1 bytes, NUL-terminates, and
 *    decode(encode(x)) == x for the three encoding modes, whose output uses
 *    only the characters each mode allows;
 *  - a matched route gets nparams NUL-free, NUL-terminated values that fit
 *    their converters; vial__url_build() from those values succeeds and the
 *    URL it builds matches again (the same route and values when the route
 *    alone is in the router and has at most one <path:>);
 *  - a slash redirect is only offered when the path plus "/" has a route;
 *  - one match takes at most 8 MiB of arena, whatever the path;
 *  - query pairs and cookie values are slices/strings inside their input.
 */
#include "core/core.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "url_fuzz: " __VA_ARGS__);                                             \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

#define MAX_ROUTES 12
#define MATCH_MEMORY_MAX (8u << 20)

static vial__pool pool = { .max = 64 };

static int dummy_view(vial_req *req)
{
    VIAL__UNUSED(req);
    return 0;
}

/* ------------------------------------------------------------------ decoding and encoding */

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_upper_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* Decodes into an exactly sized heap buffer, so ASan sees any overrun. */
static ptrdiff_t decode(const char *s, size_t n, int plus, char **out)
{
    char *o = malloc(n + 1);
    if (!o)
        abort();
    ptrdiff_t r = vial_url_decode(s, n, o, plus);
    if (r >= 0) {
        if ((size_t)r > n)
            die("decoded length %td exceeds the input length %zu", r, n);
        if (o[r] != '\0')
            die("decoded output is not NUL-terminated");
    } else if (r != VIAL_EPARSE) {
        die("vial_url_decode returned %td", r);
    }
    *out = o;
    return r;
}

static void roundtrip(const char *s, size_t n)
{
    for (int mode = 0; mode < 3; mode++) {
        vial__buf e = { 0 };
        if (vial__url_encode_into(&e, s, n, mode))
            abort();
        for (size_t i = 0; i < e.n; i++) {
            unsigned char c = (unsigned char)e.p[i];
            if (c == '%') {
                if (i + 2 >= e.n || !is_upper_hex(e.p[i + 1]) || !is_upper_hex(e.p[i + 2]))
                    die("mode %d: malformed escape in the encoding", mode);
                i += 2;
                continue;
            }
            bool ok = mode == 0 ? unreserved(c)
                                : (unreserved(c) || strchr("!$&'()*+,;=:@", c) ||
                                   (mode == 2 && c == '/'));
            if (!ok || c == 0)
                die("mode %d: byte 0x%02x left unencoded", mode, c);
        }
        char *d;
        /* Mode 0 (query) may be decoded as a form: it never leaves a '+'. */
        ptrdiff_t dn = decode(e.p ? e.p : "", e.n, mode == 0, &d);
        if (dn < 0 || (size_t)dn != n || memcmp(d, s, n))
            die("mode %d: decode(encode(x)) != x", mode);
        free(d);
        vial__buf_free(&e);
    }
}

/* ------------------------------------------------------------------ routes */

typedef struct froute {
    vial__route r;
    char endpoint[8];
} froute;

static bool all_digits(const char *s, size_t n)
{
    if (!n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* A raw NUL in the path never comes from llhttp (it refuses control bytes in
 * the target); only a decoded one (%00) must be refused by the router. */
static bool raw_nul;

static void check_param(const vial__seg *seg, const vial__str *v)
{
    if (!v->p)
        die("parameter %s has no value", seg->text);
    if (v->p[v->n] != '\0' || (!raw_nul && memchr(v->p, '\0', v->n)))
        die("parameter %s: NUL inside or no NUL after", seg->text);
    const char *dot;
    switch (seg->kind) {
    case VIAL__SEG_INT:
        if (!all_digits(v->p, v->n))
            die("<int:%s> got '%s'", seg->text, v->p);
        break;
    case VIAL__SEG_FLOAT:
        dot = memchr(v->p, '.', v->n);
        if (!dot || !all_digits(v->p, (size_t)(dot - v->p)) ||
            !all_digits(dot + 1, v->n - (size_t)(dot - v->p) - 1))
            die("<float:%s> got '%s'", seg->text, v->p);
        break;
    case VIAL__SEG_UUID:
        if (v->n != 36)
            die("<uuid:%s> got '%s'", seg->text, v->p);
        break;
    case VIAL__SEG_STRING:
    case VIAL__SEG_PATH:
        if (v->n == 0)
            die("<%s> matched an empty value", seg->text);
        break;
    default: break;
    }
}

static unsigned methods_of(size_t i)
{
    return (1u << (i % 7)) | (i % 2 ? VIAL_GET : 0);
}

/* Builds the URL of `route` from `params` (plus two extra query pairs from
 * the request's arguments) and matches it again. */
static void reverse(vial__arena *a, const vial__router *full, const vial__route *route,
                    unsigned method_bit, const vial__str *params, const vial__arg *args,
                    size_t nargs)
{
    const char *kv[2 * 32 + 4];
    size_t nkv = 0, k = 0, npath = 0;
    bool lead_slash = false;
    for (size_t i = 0; i < route->nsegs; i++) {
        const vial__seg *s = &route->segs[i];
        if (s->kind == VIAL__SEG_STATIC)
            continue;
        npath += s->kind == VIAL__SEG_PATH;
        lead_slash |= s->kind == VIAL__SEG_PATH && params[k].p[0] == '/';
        kv[nkv++] = s->text;
        kv[nkv++] = params[k++].p;
    }
    for (size_t i = 0; i < nargs && i < 2; i++) {
        kv[nkv++] = args[i].name;
        kv[nkv++] = args[i].value;
    }
    vial__buf url = { 0 };
    int rc = vial__url_build(route, kv, nkv, &url);
    if (rc == VIAL_EINVAL && lead_slash) {
        /* Refusing a <path:> value that starts with '/' is one right answer
         * (it would build "//host..."); encoding that slash is the other. */
        vial__buf_free(&url);
        return;
    }
    if (rc)
        die("url_build failed (%s) for values the route matched", vial_strerror(rc));
    if (vial__buf_nul(&url))
        abort();
    const char *q = memchr(url.p, '?', url.n);
    size_t pn = q ? (size_t)(q - url.p) : url.n;

    size_t slashes = 0;
    for (size_t i = 0; i < pn; i++)
        slashes += url.p[i] == '/';
    if (slashes > 256) {
        /* Decoded %2Fs became separators: more segments than any route has. */
        vial__buf_free(&url);
        return;
    }
    vial__match m2;
    vial__router_match(full, a, url.p, pn, method_bit, &m2);
    if (!m2.route)
        die("the built URL '%s' matches no route", url.p);

    /* Alone in a router, the route must match its own URL with the same values. */
    vial__router *solo = vial__router_new();
    if (!solo)
        abort();
    const char *why = NULL;
    if (vial__router_add(solo, (vial__route *)route, &why))
        die("re-adding a route failed: %s", why);
    vial__match m3;
    vial__router_match(solo, a, url.p, pn, method_bit, &m3);
    if (m3.route != route)
        die("the built URL '%s' does not match its own route '%s'", url.p, route->pattern);
    if (npath <= 1) {
        for (size_t i = 0; i < route->nparams; i++)
            if (m3.params[i].n != params[i].n || memcmp(m3.params[i].p, params[i].p, params[i].n))
                die("'%s': parameter %zu was '%s', rebuilt as '%s' from '%s'", route->pattern, i,
                    params[i].p, m3.params[i].p, url.p);
    }
    vial__router_free(solo);
    vial__buf_free(&url);
}

static void routing(vial__arena *a, char **lines, size_t nlines, const char *path, size_t pathn,
                    const char *query, size_t qn)
{
    froute routes[MAX_ROUTES];
    size_t nr = 0;
    vial__router *r = vial__router_new();
    if (!r)
        abort();
    for (size_t i = 3; i < nlines && nr < MAX_ROUTES; i++) {
        froute *fr = &routes[nr];
        memset(fr, 0, sizeof *fr);
        const char *why = NULL;
        int rc = vial__pattern_parse(lines[i], &fr->r.segs, &fr->r.nsegs, &fr->r.nparams, &why);
        if (rc) {
            if (rc != VIAL_EPATTERN || !why)
                die("pattern_parse: %s without a reason", vial_strerror(rc));
            continue;
        }
        size_t np = 0;
        for (size_t k = 0; k < fr->r.nsegs; k++) {
            if (!fr->r.segs[k].text)
                die("segment without text");
            np += fr->r.segs[k].kind != VIAL__SEG_STATIC;
        }
        if (np != fr->r.nparams)
            die("nparams %zu but %zu parameter segments", fr->r.nparams, np);
        snprintf(fr->endpoint, sizeof fr->endpoint, "r%zu", nr);
        fr->r.methods = methods_of(i);
        fr->r.fn = dummy_view;
        fr->r.pattern = lines[i];
        fr->r.endpoint = fr->endpoint;
        fr->r.order = nr;
        rc = vial__router_add(r, &fr->r, &why);
        if (rc) {
            vial__segs_free(fr->r.segs, fr->r.nsegs);
            continue;
        }
        if (vial__router_find_endpoint(r, fr->endpoint) != &fr->r)
            die("endpoint %s not found after adding it", fr->endpoint);
        nr++;
    }

    vial__arg *args = NULL;
    size_t nargs = 0;
    if (vial__parse_query(a, query, qn, &args, &nargs))
        abort();

    for (unsigned b = 0; b <= 7; b++) {
        unsigned bit = b ? 1u << (b - 1) : 0;
        vial__match m;
        size_t before = a->total;
        vial__router_match(r, a, path, pathn, bit, &m);
        /* Matching may copy the path a few times over, not once per way of
         * cutting it between <path:> parameters (a request could then cost
         * hundreds of MB and seconds). */
        if (a->total - before > MATCH_MEMORY_MAX)
            die("matching a %zu-byte path took %zu KiB of arena (backtracking over <path:> spans)",
                pathn, (a->total - before) >> 10);
        if (m.route) {
            if (!(m.route->methods & bit) && !(bit == VIAL_HEAD && (m.route->methods & VIAL_GET)))
                die("route %s matched for a method it does not answer", m.route->pattern);
            if (m.bad_escape)
                die("a route matched a path with a bad escape");
            size_t k = 0;
            for (size_t i = 0; i < m.route->nsegs; i++)
                if (m.route->segs[i].kind != VIAL__SEG_STATIC)
                    check_param(&m.route->segs[i], &m.params[k++]);
            if (!raw_nul)
                reverse(a, r, m.route, bit, m.params, args, nargs);
        }
        if (m.redirect_slash) {
            if (m.route || m.allowed)
                die("a slash redirect offered for a path that has a route");
            char *p2 = vial__arena_alloc(a, pathn + 2);
            if (!p2)
                abort();
            memcpy(p2, path, pathn);
            p2[pathn] = '/';
            vial__match m2;
            vial__router_match(r, a, p2, pathn + 1, 0, &m2);
            if (!m2.allowed)
                die("slash redirect to a path with no route");
        }
    }
    vial__router_free(r);
    for (size_t i = 0; i < nr; i++)
        vial__segs_free(routes[i].r.segs, routes[i].r.nsegs);

    for (size_t i = 0; i < nargs; i++) {
        if (!args[i].name || !args[i].value)
            die("query pair %zu incomplete", i);
        if (strlen(args[i].name) > qn || strlen(args[i].value) > qn)
            die("query pair %zu longer than the query", i);
    }
}

static void cookies(const char *h, size_t n, const char *name)
{
    vial__str v = vial__cookie_find(h, n, name);
    if (!v.p)
        return;
    if (v.p < h || v.p + v.n > h + n)
        die("cookie value outside the header");
    if (memchr(v.p, ';', v.n))
        die("cookie value contains ';'");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    for (int plus = 0; plus < 2; plus++) {
        char *d;
        decode(s, size, plus, &d);
        free(d);
    }
    roundtrip(s, size);

    /* Lines, NUL-terminated copies. */
    char *copy = malloc(size + 1);
    if (!copy)
        abort();
    memcpy(copy, data, size);
    copy[size] = '\0';
    char *lines[3 + MAX_ROUTES];
    size_t lens[3 + MAX_ROUTES];
    size_t nlines = 0;
    char *p = copy, *end = copy + size;
    while (nlines < VIAL__ARRAY_LEN(lines)) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        lines[nlines] = p;
        lens[nlines] = nl ? (size_t)(nl - p) : (size_t)(end - p);
        nlines++;
        if (!nl)
            break;
        *nl = '\0';
        p = nl + 1;
    }
    static const char empty[] = "";
    while (nlines < 3) {
        lines[nlines] = (char *)empty;
        lens[nlines++] = 0;
    }

    vial__arena a = { .pool = &pool };
    raw_nul = memchr(lines[0], '\0', lens[0]) != NULL;
    const char *q = memchr(lines[0], '?', lens[0]);
    size_t pathn = q ? (size_t)(q - lines[0]) : lens[0];
    routing(&a, lines, nlines, lines[0], pathn, q ? q + 1 : "", q ? lens[0] - pathn - 1 : 0);
    cookies(lines[1], lens[1], lines[2]);
    cookies(lines[1], lens[1], "session");
    vial__arena_reset(&a);
    free(copy);
    return 0;
}

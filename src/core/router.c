/*
 * router.c — route patterns, the compiled route trie, and reverse routing.
 *
 * Patterns are parsed once at registration; the app compiles all routes
 * (blueprint prefixes applied) into a trie of path segments before serving.
 * Matching splits the raw path on '/' first and percent-decodes each
 * segment after, so "/user/a%2Fb" reaches <userId> as "a/b"; only a <path:>
 * parameter spans segments.  At each node children are tried in a fixed
 * priority (static, int, float, uuid, string, path) with backtracking, so
 * the most specific route wins regardless of registration order, as in
 * Werkzeug.
 */
#include "core.h"

#include <errno.h>
#include <stdlib.h>

#define MAX_PARAMS 32
#define MAX_SEGS 256

/* ------------------------------------------------------------------ patterns */

static bool name_ok(const char *s, size_t n)
{
    if (n == 0 || (s[0] >= '0' && s[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_'))
            return false;
    }
    return true;
}

static const struct {
    const char *name;
    enum vial__seg_kind kind;
} converters[] = {
    { "string", VIAL__SEG_STRING }, { "int", VIAL__SEG_INT },   { "float", VIAL__SEG_FLOAT },
    { "path", VIAL__SEG_PATH },     { "uuid", VIAL__SEG_UUID },
};

void vial__segs_free(vial__seg *segs, size_t n)
{
    if (!segs)
        return;
    for (size_t i = 0; i < n; i++)
        free(segs[i].text);
    free(segs);
}

int vial__pattern_parse(const char *pattern, vial__seg **out, size_t *nout, size_t *nparams,
                        const char **why)
{
    *out = NULL;
    *nout = *nparams = 0;
    if (!pattern || pattern[0] != '/') {
        *why = "a pattern must start with '/'";
        return VIAL_EPATTERN;
    }
    size_t cap = 1;
    for (const char *p = pattern; *p; p++)
        cap += *p == '/';
    if (cap > MAX_SEGS) {
        *why = "too many segments";
        return VIAL_EPATTERN;
    }
    vial__seg *segs = calloc(cap, sizeof *segs);
    if (!segs)
        return VIAL_ENOMEM;
    size_t n = 0, np = 0;
    const char *p = pattern + 1;
    for (;;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        vial__seg *s = &segs[n];
        if (len == 0 && end) {
            *why = "empty segment ('//') in pattern";
            goto bad;
        }
        if (len && p[0] == '<') {
            if (p[len - 1] != '>') {
                *why = "a parameter must fill its whole segment: '<kind:name>'";
                goto bad;
            }
            const char *in = p + 1;
            size_t inl = len - 2;
            const char *colon = memchr(in, ':', inl);
            s->kind = VIAL__SEG_STRING;
            if (colon) {
                size_t kl = (size_t)(colon - in);
                bool found = false;
                for (size_t c = 0; c < VIAL__ARRAY_LEN(converters); c++) {
                    if (strlen(converters[c].name) == kl && !memcmp(converters[c].name, in, kl)) {
                        s->kind = converters[c].kind;
                        found = true;
                    }
                }
                if (!found) {
                    *why = "unknown converter (int, float, string, path, uuid)";
                    goto bad;
                }
                inl -= kl + 1;
                in = colon + 1;
            }
            if (!name_ok(in, inl)) {
                *why = "parameter names are C identifiers";
                goto bad;
            }
            for (size_t j = 0; j < n; j++) {
                if (segs[j].kind != VIAL__SEG_STATIC && strlen(segs[j].text) == inl &&
                    !memcmp(segs[j].text, in, inl)) {
                    *why = "the same parameter name twice";
                    goto bad;
                }
            }
            if (++np > MAX_PARAMS) {
                *why = "too many parameters";
                goto bad;
            }
            s->text = strndup(in, inl);
        } else {
            for (size_t j = 0; j < len; j++) {
                unsigned char c = (unsigned char)p[j];
                if (c == '<' || c == '>' || c == '%' || c == '?' || c == '#' || c <= ' ' ||
                    c == 0x7f) {
                    *why = "static text may not contain < > % ? # spaces or controls";
                    goto bad;
                }
            }
            s->kind = VIAL__SEG_STATIC;
            s->text = strndup(p, len);
        }
        if (!s->text) {
            vial__segs_free(segs, n);
            return VIAL_ENOMEM;
        }
        n++;
        if (!end)
            break;
        p = end + 1;
    }
    *out = segs;
    *nout = n;
    *nparams = np;
    return 0;
bad:
    vial__segs_free(segs, n);
    return VIAL_EPATTERN;
}

/* ------------------------------------------------------------------ the trie */

#define NMETHODS 7

typedef struct rnode {
    enum vial__seg_kind kind;
    char *text; /* static text */
    size_t tlen;
    struct rnode **kids; /* sorted by kind: static first, path last */
    size_t nkids;
    const vial__route *by_method[NMETHODS];
    unsigned methods;
} rnode;

typedef struct ep_ent {
    const char *name;
    const vial__route *route;
} ep_ent;

struct vial__router {
    rnode root;
    ep_ent *eps; /* open addressing, power-of-two size */
    size_t neps, eps_cap;
};

vial__router *vial__router_new(void)
{
    return calloc(1, sizeof(vial__router));
}

static void node_free(rnode *n)
{
    for (size_t i = 0; i < n->nkids; i++) {
        node_free(n->kids[i]);
        free(n->kids[i]);
    }
    free(n->kids);
    free(n->text);
}

void vial__router_free(vial__router *r)
{
    if (!r)
        return;
    node_free(&r->root);
    free(r->eps);
    free(r);
}

static int bit_index(unsigned bit)
{
    for (int i = 0; i < NMETHODS; i++)
        if (bit == (1u << i))
            return i;
    return -1;
}

static rnode *child_for(rnode *n, const vial__seg *s)
{
    for (size_t i = 0; i < n->nkids; i++) {
        rnode *k = n->kids[i];
        if (k->kind == s->kind && (k->kind != VIAL__SEG_STATIC || !strcmp(k->text, s->text)))
            return k;
    }
    rnode *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->kind = s->kind;
    if (s->kind == VIAL__SEG_STATIC) {
        k->text = strdup(s->text);
        if (!k->text) {
            free(k);
            return NULL;
        }
        k->tlen = strlen(k->text);
    }
    rnode **kids = realloc(n->kids, (n->nkids + 1) * sizeof *kids);
    if (!kids) {
        free(k->text);
        free(k);
        return NULL;
    }
    n->kids = kids;
    size_t pos = n->nkids;
    while (pos > 0 && n->kids[pos - 1]->kind > k->kind)
        pos--;
    memmove(&n->kids[pos + 1], &n->kids[pos], (n->nkids - pos) * sizeof *kids);
    n->kids[pos] = k;
    n->nkids++;
    return k;
}

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int ep_put(vial__router *r, const vial__route *route)
{
    if ((r->neps + 1) * 2 > r->eps_cap) {
        size_t cap = r->eps_cap ? r->eps_cap * 2 : 64;
        ep_ent *e = calloc(cap, sizeof *e);
        if (!e)
            return VIAL_ENOMEM;
        for (size_t i = 0; i < r->eps_cap; i++) {
            if (!r->eps[i].name)
                continue;
            size_t j = hash_str(r->eps[i].name) & (cap - 1);
            while (e[j].name)
                j = (j + 1) & (cap - 1);
            e[j] = r->eps[i];
        }
        free(r->eps);
        r->eps = e;
        r->eps_cap = cap;
    }
    size_t j = hash_str(route->endpoint) & (r->eps_cap - 1);
    while (r->eps[j].name) {
        if (!strcmp(r->eps[j].name, route->endpoint)) {
            /* Flask allows one view under several rules; url_for builds the
             * first.  Two different views cannot share an endpoint. */
            return r->eps[j].route->fn == route->fn ? 0 : VIAL_EEXIST;
        }
        j = (j + 1) & (r->eps_cap - 1);
    }
    r->eps[j] = (ep_ent){ route->endpoint, route };
    r->neps++;
    return 0;
}

const vial__route *vial__router_find_endpoint(const vial__router *r, const char *endpoint)
{
    if (!r || !r->eps_cap || !endpoint)
        return NULL;
    size_t j = hash_str(endpoint) & (r->eps_cap - 1);
    while (r->eps[j].name) {
        if (!strcmp(r->eps[j].name, endpoint))
            return r->eps[j].route;
        j = (j + 1) & (r->eps_cap - 1);
    }
    return NULL;
}

int vial__router_add(vial__router *r, vial__route *route, const char **why)
{
    rnode *n = &r->root;
    for (size_t i = 0; i < route->nsegs; i++) {
        n = child_for(n, &route->segs[i]);
        if (!n)
            return VIAL_ENOMEM;
    }
    for (int b = 0; b < NMETHODS; b++) {
        if ((route->methods & (1u << b)) && n->by_method[b]) {
            *why = "the same path and method are already routed";
            return VIAL_EEXIST;
        }
    }
    int rc = ep_put(r, route);
    if (rc) {
        *why = rc == VIAL_EEXIST ? "the endpoint name is taken by another handler"
                                 : "out of memory";
        return rc;
    }
    for (int b = 0; b < NMETHODS; b++)
        if (route->methods & (1u << b))
            n->by_method[b] = route;
    n->methods |= route->methods;
    return 0;
}

/* ------------------------------------------------------------------ matching */

typedef struct seg_in {
    const char *raw; /* into the path */
    size_t rawn;
    const char *dec; /* decoded (== raw when no escapes) */
    size_t decn;
} seg_in;

/* A captured value: decoded already (one segment), or a raw span of
 * several segments (<path:>) decoded only once the whole match succeeds. */
typedef struct capture {
    const char *p;
    size_t n;
    bool raw;
} capture;

#define MATCH_STEPS 20000 /* walk() calls per match: bounds <path:> backtracking */

typedef struct mstate {
    const seg_in *segs;
    size_t nsegs;
    unsigned method_bit;
    capture params[MAX_PARAMS];
    size_t np;
    size_t steps;
    vial__match *m;
    vial__arena *a;
    const char *path;
} mstate;

static bool all_digits(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

static bool conv_int(const char *s, size_t n)
{
    if (!all_digits(s, n))
        return false;
    /* Must fit int64: strip leading zeros, then compare lengths/digits. */
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    static const char max[] = "9223372036854775807";
    if (n != sizeof max - 1)
        return n < sizeof max - 1;
    return memcmp(s, max, n) <= 0;
}

static bool conv_float(const char *s, size_t n)
{
    const char *dot = memchr(s, '.', n);
    if (!dot)
        return false;
    return all_digits(s, (size_t)(dot - s)) && all_digits(dot + 1, n - (size_t)(dot - s) - 1);
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool conv_uuid(const char *s, size_t n)
{
    if (n != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!is_hex(s[i])) {
            return false;
        }
    }
    return true;
}

static bool conv_ok(enum vial__seg_kind k, const char *s, size_t n)
{
    switch (k) {
    case VIAL__SEG_INT: return conv_int(s, n);
    case VIAL__SEG_FLOAT: return conv_float(s, n);
    case VIAL__SEG_UUID: return conv_uuid(s, n);
    case VIAL__SEG_STRING: return n > 0;
    default: return false;
    }
}

static bool finish(mstate *st, const rnode *n)
{
    if (!n->methods)
        return false;
    unsigned allowed = n->methods;
    if (allowed & VIAL_GET)
        allowed |= VIAL_HEAD;
    allowed |= VIAL_OPTIONS;
    st->m->allowed |= allowed;
    int b = bit_index(st->method_bit);
    const vial__route *r = b >= 0 ? n->by_method[b] : NULL;
    if (!r && st->method_bit == VIAL_HEAD)
        r = n->by_method[bit_index(VIAL_GET)];
    if (!r)
        return false;
    st->m->route = r;
    if (st->np) {
        vial__str *ps = vial__arena_alloc(st->a, st->np * sizeof *ps);
        if (!ps) {
            st->m->route = NULL;
            return false;
        }
        for (size_t i = 0; i < st->np; i++) {
            const capture *cp = &st->params[i];
            char *c = vial__arena_alloc(st->a, cp->n + 1);
            ptrdiff_t dn = (ptrdiff_t)cp->n;
            if (c && cp->raw)
                dn = vial_url_decode(cp->p, cp->n, c, 0); /* escapes were checked per segment */
            else if (c)
                memcpy(c, cp->p, cp->n), c[cp->n] = '\0';
            if (!c || dn < 0) {
                st->m->route = NULL;
                return false;
            }
            ps[i] = (vial__str){ c, (size_t)dn };
        }
        st->m->params = ps;
    }
    return true;
}

static bool walk(mstate *st, const rnode *n, size_t i)
{
    if (++st->steps > MATCH_STEPS)
        return false; /* a pathological route set: give up rather than burn CPU */
    if (i == st->nsegs)
        return finish(st, n);
    const seg_in *s = &st->segs[i];
    for (size_t k = 0; k < n->nkids; k++) {
        const rnode *kid = n->kids[k];
        if (kid->kind == VIAL__SEG_STATIC) {
            if (kid->tlen == s->decn && !memcmp(kid->text, s->dec, s->decn) && walk(st, kid, i + 1))
                return true;
        } else if (kid->kind == VIAL__SEG_PATH) {
            if (s->rawn == 0)
                continue;
            /* Shortest first (Werkzeug's non-greedy match): "/<path:p>/edit"
             * gets ".../edit" before "/<path:p>" swallows it. */
            for (size_t j = i + 1; j <= st->nsegs; j++) {
                const seg_in *last = &st->segs[j - 1];
                size_t rawn = (size_t)(last->raw + last->rawn - s->raw);
                st->params[st->np++] = (capture){ s->raw, rawn, true };
                bool ok = walk(st, kid, j);
                st->np--;
                if (ok)
                    return true;
            }
        } else if (conv_ok(kid->kind, s->dec, s->decn)) {
            st->params[st->np++] = (capture){ s->dec, s->decn, false };
            bool ok = walk(st, kid, i + 1);
            st->np--;
            if (ok)
                return true;
        }
    }
    return false;
}

void vial__router_match(const vial__router *r, vial__arena *a, const char *path, size_t n,
                        unsigned method_bit, vial__match *m)
{
    memset(m, 0, sizeof *m);
    if (n == 0 || path[0] != '/') {
        return;
    }
    size_t nsegs = 1;
    for (size_t i = 1; i < n; i++)
        nsegs += path[i] == '/';
    if (nsegs > MAX_SEGS)
        return; /* no route has that many segments */
    /* +1: room for the trailing-slash probe below. */
    seg_in *segs = vial__arena_alloc(a, (nsegs + 1) * sizeof *segs);
    if (!segs)
        return;
    size_t k = 0, i = 1;
    while (k < nsegs) {
        size_t j = i;
        while (j < n && path[j] != '/')
            j++;
        seg_in *s = &segs[k++];
        s->raw = path + i;
        s->rawn = j - i;
        if (memchr(s->raw, '%', s->rawn)) {
            char *d = vial__arena_alloc(a, s->rawn + 1);
            if (!d)
                return;
            ptrdiff_t dn = vial_url_decode(s->raw, s->rawn, d, 0);
            if (dn < 0 || memchr(d, '\0', (size_t)dn)) {
                m->bad_escape = true;
                return;
            }
            s->dec = d;
            s->decn = (size_t)dn;
        } else {
            s->dec = s->raw;
            s->decn = s->rawn;
        }
        i = j + 1;
    }
    mstate st = { .segs = segs, .nsegs = nsegs, .method_bit = method_bit, .m = m, .a = a,
                  .path = path };
    if (walk(&st, &r->root, 0) || m->allowed)
        return;
    /* "/foo" when only "/foo/" exists: Flask's strict-slashes redirect.  Not
     * when "/foo/" would be one segment too many to route. */
    if (segs[nsegs - 1].rawn != 0 && nsegs < MAX_SEGS) {
        segs[nsegs] = (seg_in){ path + n, 0, path + n, 0 };
        vial__match probe;
        memset(&probe, 0, sizeof probe);
        st.m = &probe;
        st.nsegs = nsegs + 1;
        st.method_bit = 0;
        walk(&st, &r->root, 0);
        m->redirect_slash = probe.allowed != 0;
    }
}

/* ------------------------------------------------------------------ reverse routing */

static const char *kv_get(const char **kv, size_t nkv, const char *name, bool *used)
{
    for (size_t i = 0; i + 1 < nkv; i += 2) {
        if (!strcmp(kv[i], name)) {
            used[i / 2] = true;
            return kv[i + 1];
        }
    }
    return NULL;
}

int vial__url_build(const vial__route *route, const char **kv, size_t nkv, vial__buf *out)
{
    bool used_small[32] = { 0 };
    bool *used = nkv / 2 <= 32 ? used_small : calloc(nkv / 2 + 1, 1);
    if (!used)
        return VIAL_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < route->nsegs && !rc; i++) {
        const vial__seg *s = &route->segs[i];
        if ((rc = vial__buf_append(out, "/", 1)))
            break;
        if (s->kind == VIAL__SEG_STATIC) {
            rc = vial__url_encode_into(out, s->text, strlen(s->text), 1);
            continue;
        }
        const char *v = kv_get(kv, nkv, s->text, used);
        if (!v) {
            rc = VIAL_ENOENT;
            break;
        }
        size_t vn = strlen(v);
        if (s->kind == VIAL__SEG_PATH) {
            /* A leading '/' would make an empty segment, which <path:> does
             * not match; as %2F it decodes back to the same value. */
            if (vn && v[0] == '/') {
                rc = vial__buf_puts(out, "%2F");
                v++;
                vn--;
                if (!rc && vn)
                    rc = vial__url_encode_into(out, v, vn, 2);
            } else {
                rc = vn ? vial__url_encode_into(out, v, vn, 2) : VIAL_EINVAL;
            }
        } else if (!conv_ok(s->kind, v, vn)) {
            rc = VIAL_EINVAL;
        } else {
            rc = vial__url_encode_into(out, v, vn, 1);
        }
    }
    char sep = '?';
    for (size_t i = 0; i + 1 < nkv && !rc; i += 2) {
        if (used[i / 2])
            continue;
        if ((rc = vial__buf_append(out, &sep, 1)))
            break;
        sep = '&';
        rc = vial__url_encode_into(out, kv[i], strlen(kv[i]), 0);
        if (!rc)
            rc = vial__buf_append(out, "=", 1);
        if (!rc)
            rc = vial__url_encode_into(out, kv[i + 1], strlen(kv[i + 1]), 0);
    }
    if (used != used_small)
        free(used);
    return rc;
}

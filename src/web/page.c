/*
 * page.c — keyset pagination: ?limit=N&after=CURSOR in, a page of rows and
 * `Link: <...>; rel="next"` out, for any list ordered by a unique tuple of
 * integer, floating-point and text keys ((time, id), (id), (name, id),
 * (tempo, id)).
 *
 * Keyset rather than OFFSET: a page is one indexed range scan however deep
 * the client has paged, and rows arriving meanwhile neither repeat nor
 * vanish.  The cursor is the last row's keys, so it must survive a round
 * trip through a client: it is opaque (base64url of 8 big-endian bytes per
 * integer, the 8 bytes of the IEEE 754 value per double — exact, so the
 * next page starts right after the row whatever its digits — a LEB128
 * length and the bytes per text) and decoded strictly,
 * so a tampered or truncated one is a 400 rather than a query at some
 * position nobody handed out.  A position is all it encodes, so it needs no
 * signature: any well-formed cursor is a place a client could have reached.
 * An integer-only cursor is the same bytes the logs API used before this
 * helper existed, so links already handed out keep working.
 *
 * The next link is the request's own path and query as sent (only limit and
 * after replaced), so filters in either survive paging without each route
 * rebuilding its URL.
 */
#include "web.h"

#include <math.h>
#include <stdlib.h>

/* Raw cursor bytes: room for text keys of a couple of kilobytes, and still
 * a URL (2,731 characters) well below the default max_uri. */
#define CURSOR_MAX 2048

static const char bad_after[] = "after is not a cursor this API handed out";

static bool spec_ok(const vial_page_spec *s)
{
    if (!s || s->nkeys < 1 || s->nkeys > VIAL_PAGE_MAX_KEYS || s->max_limit < 1 ||
        s->default_limit < 0 || s->default_limit > s->max_limit)
        return false;
    for (size_t k = 0; k < s->nkeys; k++)
        if (s->keys[k] != VIAL_T_INT && s->keys[k] != VIAL_T_DOUBLE && s->keys[k] != VIAL_T_TEXT)
            return false;
    return true;
}

/* ------------------------------------------------------------------ the cursor */

static size_t text_len(const vial_val *v)
{
    return v->u.s.n == (size_t)-1 ? strlen(v->u.s.p) : v->u.s.n;
}

const char *vial_page_cursor(vial_req *req, const vial_page *page, const vial_val *keys)
{
    if (!req || !page || !keys || !spec_ok(page->spec))
        return NULL;
    const vial_page_spec *s = page->spec;
    unsigned char raw[CURSOR_MAX];
    size_t n = 0;
    for (size_t k = 0; k < s->nkeys; k++) {
        if (keys[k].type != s->keys[k])
            return NULL;
        if (s->keys[k] == VIAL_T_INT || s->keys[k] == VIAL_T_DOUBLE) {
            if (n + 8 > sizeof raw)
                return NULL;
            uint64_t v = (uint64_t)keys[k].u.i;
            if (s->keys[k] == VIAL_T_DOUBLE) {
                if (isnan(keys[k].u.d))
                    return NULL; /* no row sorts at NaN */
                memcpy(&v, &keys[k].u.d, 8);
            }
            for (int i = 0; i < 8; i++)
                raw[n++] = (unsigned char)(v >> (56 - 8 * i));
            continue;
        }
        if (!keys[k].u.s.p)
            return NULL;
        size_t len = text_len(&keys[k]);
        if (len > sizeof raw || n + 2 + len > sizeof raw)
            return NULL;
        if (len < 0x80) {
            raw[n++] = (unsigned char)len;
        } else {
            raw[n++] = (unsigned char)(0x80 | (len & 0x7f));
            raw[n++] = (unsigned char)(len >> 7);
        }
        memcpy(raw + n, keys[k].u.s.p, len);
        n += len;
    }
    char *out = vial_alloc(req, VIAL_B64URL_LEN(n) + 1);
    if (out)
        vial_b64url_encode(raw, n, out);
    return out;
}

/* Fills page->after from a cursor; 0 or VIAL_EPARSE / VIAL_ENOMEM. */
static int decode(vial_req *req, const vial_page_spec *s, const char *after, vial_page *page)
{
    unsigned char raw[CURSOR_MAX];
    ptrdiff_t len = vial_b64url_decode(after, strlen(after), raw, sizeof raw);
    if (len < 0)
        return VIAL_EPARSE;
    size_t at = 0, n = (size_t)len;
    for (size_t k = 0; k < s->nkeys; k++) {
        if (s->keys[k] == VIAL_T_INT || s->keys[k] == VIAL_T_DOUBLE) {
            if (n - at < 8)
                return VIAL_EPARSE;
            uint64_t v = 0;
            for (int i = 0; i < 8; i++)
                v = v << 8 | raw[at++];
            if (s->keys[k] == VIAL_T_INT) {
                page->after[k] = VIAL_INT((int64_t)v);
                continue;
            }
            double d;
            memcpy(&d, &v, 8);
            if (isnan(d))
                return VIAL_EPARSE;
            page->after[k] = VIAL_DOUBLE(d);
            continue;
        }
        if (at >= n)
            return VIAL_EPARSE;
        size_t tl = raw[at++];
        if (tl & 0x80) {
            /* Two bytes at most, and canonical: one spelling per length. */
            if (at >= n || raw[at] == 0 || raw[at] & 0x80)
                return VIAL_EPARSE;
            tl = (tl & 0x7f) | (size_t)raw[at++] << 7;
        }
        if (n - at < tl || memchr(raw + at, '\0', tl) ||
            !vial_utf8_valid((const char *)raw + at, tl))
            return VIAL_EPARSE;
        char *t = vial_strndup(req, (const char *)raw + at, tl);
        if (!t)
            return VIAL_ENOMEM;
        page->after[k] = VIAL_TEXTN(t, tl);
        at += tl;
    }
    return at == n ? 0 : VIAL_EPARSE;
}

int vial_page_parse(vial_req *req, const vial_page_spec *spec, const char *limit, const char *after,
                    vial_page *page, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (!req || !page || !spec_ok(spec)) {
        *why = "invalid pagination spec";
        return VIAL_EINVAL;
    }
    memset(page, 0, sizeof *page);
    page->spec = spec;
    page->limit = spec->default_limit;
    /* Without a cursor: the smallest keys, so `(a, b) > ($1, $2)` matches
     * every row and one SQL text serves the first page and the rest. */
    for (size_t k = 0; k < spec->nkeys; k++)
        page->after[k] = spec->keys[k] == VIAL_T_INT      ? VIAL_INT(INT64_MIN)
                         : spec->keys[k] == VIAL_T_DOUBLE ? VIAL_DOUBLE(-INFINITY)
                                                          : VIAL_TEXTN("", 0);
    if (limit) {
        char *end;
        long long v = strtoll(limit, &end, 10);
        if (!*limit || *end || v < 1 || v > spec->max_limit) {
            *why = vial_sprintf(req, "limit must be an integer from 1 to %" PRId64,
                                spec->max_limit);
            return *why ? VIAL_EPARSE : VIAL_ENOMEM;
        }
        page->limit = v;
    }
    if (after) {
        int rc = decode(req, spec, after, page);
        if (rc) {
            *why = rc == VIAL_ENOMEM ? "out of memory" : bad_after;
            return rc;
        }
        page->has_after = 1;
    }
    return 0;
}

int vial_page_args(vial_req *req, const vial_page_spec *spec, vial_page *page)
{
    const char *why = NULL;
    int rc = vial_page_parse(req, spec, vial_arg(req, "limit"), vial_arg(req, "after"), page, &why);
    if (!rc)
        return 0;
    if (rc == VIAL_EINVAL)
        vial_req_log(req, VIAL_LOG_ERROR, "vial_page_args: %s", why);
    vial_abort(req, rc == VIAL_EPARSE ? 400 : rc == VIAL_ENOMEM ? 503 : 500,
               rc == VIAL_EINVAL ? NULL : why);
    return 1;
}

/* ------------------------------------------------------------------ the next link */

/* Bytes copied from the request target as they are, except those that may
 * not stand in a URI (and would end a Link's <...>): those are escaped. */
static const bool unsafe[256] = {
    [0 ... 0x20] = true, ['"'] = true, ['<'] = true, ['>'] = true, ['\\'] = true, ['^'] = true,
    ['`'] = true, ['{'] = true, ['|'] = true, ['}'] = true, [0x7f ... 0xff] = true,
};

static char *copy_uri(char *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (unsafe[c]) {
            *o++ = '%';
            *o++ = hex[c >> 4];
            *o++ = hex[c & 15];
        } else {
            *o++ = (char)c;
        }
    }
    return o;
}

/* Whether a raw query argument ("lim%69t=5") is limit or after, compared
 * decoded as vial_arg() would. */
static bool is_paging_arg(const char *s, size_t n)
{
    const char *eq = memchr(s, '=', n);
    size_t kn = eq ? (size_t)(eq - s) : n;
    char name[16];
    if (kn >= sizeof name) /* "after" spelled with every byte escaped is 15 */
        return false;
    ptrdiff_t dn = vial_url_decode(s, kn, name, 1);
    return dn == 5 && (!memcmp(name, "limit", 5) || !memcmp(name, "after", 5));
}

const char *vial_page_url(vial_req *req, int64_t limit, const char *cursor)
{
    if (!req || !cursor)
        return NULL;
    const vial__str *path = &req->m.path_raw, *query = &req->m.query_raw;
    const char *root = vial_script_root(req); /* routing took it off the path */
    size_t cn = strlen(cursor), rn = strlen(root);
    char *url = vial_alloc(req, 3 * (path->n + query->n + cn) + rn + 48);
    if (!url)
        return NULL;
    memcpy(url, root, rn);
    char *o = copy_uri(url + rn, path->p, path->n);
    char sep = '?';
    for (size_t i = 0; i < query->n;) {
        const char *a = query->p + i, *amp = memchr(a, '&', query->n - i);
        size_t an = amp ? (size_t)(amp - a) : query->n - i;
        i += an + 1;
        if (!an || is_paging_arg(a, an))
            continue;
        *o++ = sep;
        sep = '&';
        o = copy_uri(o, a, an);
    }
    if (limit > 0) {
        o += sprintf(o, "%climit=%" PRId64, sep, limit);
        sep = '&';
    }
    *o++ = sep;
    memcpy(o, "after=", 6);
    o += 6;
    /* A cursor of this module is base64url already; anything else is
     * escaped like the target. */
    for (size_t i = 0; i < cn; i++) {
        unsigned char c = (unsigned char)cursor[i];
        if (unsafe[c] || c == '&' || c == '#' || c == '%' || c == '+' || c == '=')
            o += sprintf(o, "%%%02X", c);
        else
            *o++ = (char)c;
    }
    *o = '\0';
    return url;
}

int vial_page_link(vial_req *req, const vial_page *page, const char *cursor)
{
    if (!req || !page || !cursor)
        return VIAL_EINVAL;
    const char *url = vial_page_url(req, page->limit, cursor);
    const char *link = url ? vial_sprintf(req, "<%s>; rel=\"next\"", url) : NULL;
    return link ? vial_set_header(req, "Link", link) : VIAL_ENOMEM;
}

/*
 * page_fuzz.c — the pagination helper (src/web/page.c): cursors coming back
 * from clients, and the next link built from a request's query.
 *
 * Input: byte 0 picks the key shape (bits 0-1: (int, int), (text, int),
 * (text, text, int), (int)) and the limit the URL carries (bits 2-3); the
 * rest, up to the first '\n', is the cursor as a client would send it in
 * ?after=; what follows is the request's query string (bytes HTTP does not
 * allow in a target are percent-encoded first).
 * Properties checked (abort() on violation):
 *  - vial_page_parse accepts a cursor or answers VIAL_EPARSE with the one
 *    message, never anything else;
 *  - an accepted cursor is canonical: encoding its keys again gives the
 *    very same text (one spelling per position), and its text keys are
 *    UTF-8 without NUL, of the length they claim;
 *  - the next URL is the path, then the query's arguments other than limit
 *    and after in order, then limit and after, and holds no byte that may
 *    not stand in a URI or would end a Link's <...>.
 */
#include "core/core.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "page_fuzz: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

static const vial_page_spec specs[4] = {
    { .keys = { VIAL_T_INT, VIAL_T_INT }, .nkeys = 2, .max_limit = 100 },
    { .keys = { VIAL_T_TEXT, VIAL_T_INT }, .nkeys = 2, .default_limit = 10, .max_limit = 100 },
    { .keys = { VIAL_T_TEXT, VIAL_T_TEXT, VIAL_T_INT }, .nkeys = 3, .max_limit = 100 },
    { .keys = { VIAL_T_INT }, .nkeys = 1, .default_limit = 1, .max_limit = 1 },
};

/* The case being run (the view reads it). */
static const vial_page_spec *spec;
static const char *cursor;
static int64_t url_limit;
static int ran;

static bool uri_safe(unsigned char c)
{
    return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}", c);
}

static void check_cursor(vial_req *req)
{
    vial_page pg;
    const char *why = NULL;
    int rc = vial_page_parse(req, spec, NULL, cursor, &pg, &why);
    if (rc == VIAL_EPARSE) {
        if (!why || strcmp(why, "after is not a cursor this API handed out"))
            die("a refused cursor says '%s'", why ? why : "(nothing)");
        return;
    }
    if (rc)
        die("vial_page_parse returned %d", rc);
    if (!pg.has_after)
        die("a cursor was given, has_after is 0");
    for (size_t k = 0; k < spec->nkeys; k++) {
        const vial_val *v = &pg.after[k];
        if (v->type != spec->keys[k])
            die("key %zu has type %d", k, (int)v->type);
        if (v->type == VIAL_T_TEXT &&
            (strlen(v->u.s.p) != v->u.s.n || !vial_utf8_valid(v->u.s.p, v->u.s.n)))
            die("text key %zu is not NUL-free UTF-8 of its length", k);
    }
    const char *again = vial_page_cursor(req, &pg, pg.after);
    if (!again || strcmp(again, cursor))
        die("cursor '%s' encodes back as '%s'", cursor, again ? again : "(null)");
}

static bool paging_name(const char *a, size_t n)
{
    const char *eq = memchr(a, '=', n);
    size_t kn = eq ? (size_t)(eq - a) : n;
    char *name = malloc(kn + 1);
    if (!name)
        abort();
    ptrdiff_t dn = vial_url_decode(a, kn, name, 1);
    bool is = dn == 5 && (!memcmp(name, "limit", 5) || !memcmp(name, "after", 5));
    free(name);
    return is;
}

static void check_url(vial_req *req)
{
    const char *url = vial_page_url(req, url_limit, "C-_9");
    if (!url)
        die("no URL");
    for (const char *p = url; *p; p++)
        if (!uri_safe((unsigned char)*p))
            die("URL '%s' holds byte 0x%02x", url, (unsigned char)*p);
    if (strncmp(url, "/p", 2))
        die("URL '%s' lost the path", url);
    /* What is left of the query, in order, then limit and after. */
    const vial__str *q = &req->m.query_raw;
    size_t cap = 3 * q->n + 64, w = 0;
    char *want = malloc(cap), sep = '?';
    if (!want)
        abort();
    for (size_t i = 0; i < q->n;) {
        const char *a = q->p + i, *amp = memchr(a, '&', q->n - i);
        size_t an = amp ? (size_t)(amp - a) : q->n - i;
        i += an + 1;
        if (!an || paging_name(a, an))
            continue;
        want[w++] = sep;
        sep = '&';
        /* every byte of the target is URI-safe already but for those the
         * builder escapes; compare on the escaped form */
        for (size_t j = 0; j < an; j++) {
            unsigned char c = (unsigned char)a[j];
            w += uri_safe(c) ? (size_t)snprintf(want + w, 4, "%c", c)
                             : (size_t)snprintf(want + w, 4, "%%%02X", c);
        }
    }
    if (url_limit > 0) {
        w += (size_t)snprintf(want + w, cap - w, "%climit=%" PRId64, sep, url_limit);
        sep = '&';
    }
    snprintf(want + w, cap - w, "%cafter=C-_9", sep);
    if (strcmp(url + 2, want))
        die("URL '%s', expected '/p%s'", url, want);
    free(want);
}

static int view(vial_req *req)
{
    check_cursor(req);
    check_url(req);
    ran++;
    return vial_text(req, 200, "ok");
}

static vial_app *app(void)
{
    static vial_app *a;
    if (!a) {
        a = vial_app_new("page_fuzz");
        if (!a)
            abort();
        vial_config_set(a, "access_log", "off");
        vial_config_set(a, "log_level", "error");
        vial_configure(a, 0, NULL);
        vial_get(a, "/p", view);
    }
    return a;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    static const int64_t limits[4] = { 0, 1, 50, 100 };
    spec = &specs[data[0] & 3];
    url_limit = limits[data[0] >> 2 & 3];
    const uint8_t *rest = data + 1, *nl = memchr(rest, '\n', size - 1);
    size_t cn = nl ? (size_t)(nl - rest) : size - 1;
    char *c = malloc(cn + 1);
    if (!c)
        abort();
    memcpy(c, rest, cn);
    c[cn] = '\0';
    cursor = c;
    /* The query: bytes a request target may not carry are escaped. */
    const uint8_t *qs = nl ? nl + 1 : rest + cn;
    size_t qn = (size_t)(data + size - qs);
    char *target = malloc(3 * qn + 16);
    if (!target)
        abort();
    size_t t = (size_t)sprintf(target, "/p?");
    for (size_t i = 0; i < qn; i++) {
        unsigned char b = qs[i];
        if (b <= 0x20 || b >= 0x7f || b == '#')
            t += (size_t)sprintf(target + t, "%%%02X", b);
        else
            target[t++] = (char)b;
    }
    target[t] = '\0';
    int before = ran;
    vial_test_resp *r = vial_test(app(), "GET", target, NULL, NULL, 0);
    if (!r)
        abort();
    /* A target llhttp refuses is not ours to judge; one it takes must
     * reach the view. */
    if (vial_test_status(r) == 200 && ran != before + 1)
        die("the view did not run");
    vial_test_free(r);
    free(target);
    free(c);
    return 0;
}

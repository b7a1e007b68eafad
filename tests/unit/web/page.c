/* Unit tests for src/web/page.c: cursors out and back in (integer, double
 * and text keys), tampered and truncated cursors, limits, and the next
 * Link keeping the request's other query arguments. */
#include "unit.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static const vial_page_spec by_time = {
    .keys = { VIAL_T_INT, VIAL_T_INT }, .nkeys = 2, .default_limit = 0, .max_limit = 10000 };
static const vial_page_spec by_name = {
    .keys = { VIAL_T_TEXT, VIAL_T_INT }, .nkeys = 2, .default_limit = 3, .max_limit = 50 };
static const vial_page_spec by_tempo = {
    .keys = { VIAL_T_DOUBLE, VIAL_T_INT }, .nkeys = 2, .default_limit = 5, .max_limit = 50 };
static const vial_page_spec bad_spec = { .keys = { VIAL_T_BLOB }, .nkeys = 1, .max_limit = 5 };

/* What /enc encodes (set by the test before the request). */
static const vial_page_spec *enc_spec;
static vial_val enc_keys[2];

static int h_enc(vial_req *req)
{
    vial_page pg = { .spec = enc_spec };
    const char *c = vial_page_cursor(req, &pg, enc_keys);
    return c ? vial_text(req, 200, c) : vial_abort(req, 422, "no cursor");
}

/* Echoes the parsed page: "limit=N after=a|b" with text keys in brackets. */
static int echo(vial_req *req, const vial_page *pg)
{
    char out[4200];
    int n = snprintf(out, sizeof out, "limit=%" PRId64 " has=%d", pg->limit, pg->has_after);
    for (size_t k = 0; k < pg->spec->nkeys; k++) {
        const vial_val *v = &pg->after[k];
        if (v->type == VIAL_T_INT)
            n += snprintf(out + n, sizeof out - (size_t)n, " %" PRId64, v->u.i);
        else if (v->type == VIAL_T_DOUBLE)
            n += snprintf(out + n, sizeof out - (size_t)n, " %.17g%s", v->u.d,
                          v->u.d == 0 && signbit(v->u.d) ? "(neg)" : "");
        else
            n += snprintf(out + n, sizeof out - (size_t)n, " [%.*s]", (int)v->u.s.n, v->u.s.p);
    }
    return vial_text(req, 200, out);
}

static int h_time(vial_req *req)
{
    vial_page pg;
    if (vial_page_args(req, &by_time, &pg))
        return 0;
    return echo(req, &pg);
}

static int h_name(vial_req *req)
{
    vial_page pg;
    if (vial_page_args(req, &by_name, &pg))
        return 0;
    return echo(req, &pg);
}

static int h_tempo(vial_req *req)
{
    vial_page pg;
    if (vial_page_args(req, &by_tempo, &pg))
        return 0;
    return echo(req, &pg);
}

static int h_bad_spec(vial_req *req)
{
    vial_page pg;
    if (vial_page_args(req, &bad_spec, &pg))
        return 0;
    return vial_text(req, 200, "unreachable");
}

/* A list of 10 rows (name "n<id>", id), paged the way the header shows. */
static int h_items(vial_req *req)
{
    vial_page pg;
    if (vial_page_args(req, &by_name, &pg))
        return 0;
    char names[10][8], out[200];
    size_t o = 0;
    const char *next = NULL;
    int64_t n = 0;
    for (int id = 1; id <= 10; id++) {
        snprintf(names[id - 1], sizeof names[0], "n%02d", id);
        /* (name, id) > after */
        int c = strcmp(names[id - 1], pg.after[0].u.s.p);
        if (c < 0 || (c == 0 && id <= pg.after[1].u.i))
            continue;
        if (n == pg.limit) {
            assert_int_equal(vial_page_link(req, &pg, next), 0);
            break;
        }
        o += (size_t)snprintf(out + o, sizeof out - o, "%d,", id);
        if (++n == pg.limit)
            next = vial_page_cursor(req, &pg, (vial_val[]){ VIAL_TEXT(names[id - 1]), VIAL_INT(id) });
    }
    out[o] = '\0';
    return vial_text(req, 200, out);
}

static int h_url(vial_req *req)
{
    const char *l = vial_arg(req, "want_limit");
    const char *u = vial_page_url(req, l ? atoll(l) : 0, "C_u-r");
    return vial_text(req, 200, u ? u : "(null)");
}

static vial_app *make(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    vial_get(app, "/enc", h_enc);
    vial_get(app, "/time", h_time);
    vial_get(app, "/name", h_name);
    vial_get(app, "/tempo", h_tempo);
    vial_get(app, "/bad", h_bad_spec);
    vial_get(app, "/items/<path:rest>", h_items);
    vial_get(app, "/url/<path:rest>", h_url);
    return app;
}

static char *body_of(vial_app *app, const char *target, int status)
{
    vial_test_resp *r = get(app, target);
    if (vial_test_status(r) != status)
        print_error("%s: %d %s\n", target, vial_test_status(r), vial_test_body(r, NULL));
    assert_int_equal(vial_test_status(r), status);
    char *b = strdup(vial_test_body(r, NULL));
    vial_test_free(r);
    return b;
}

static char *cursor_of(vial_app *app, const vial_page_spec *spec, vial_val a, vial_val b)
{
    enc_spec = spec;
    enc_keys[0] = a;
    enc_keys[1] = b;
    return body_of(app, "/enc", 200);
}

static void roundtrip(vial_app *app, const char *path, const vial_page_spec *spec, vial_val a,
                      vial_val b, const char *want)
{
    char *c = cursor_of(app, spec, a, b), target[6000];
    snprintf(target, sizeof target, "%s?after=%s", path, c);
    char *got = body_of(app, target, 200);
    assert_string_equal(got, want);
    free(got);
    free(c);
}

static void test_roundtrip_integers(void **state)
{
    (void)state;
    vial_app *app = make();
    roundtrip(app, "/time", &by_time, VIAL_INT(1), VIAL_INT(2), "limit=0 has=1 1 2");
    roundtrip(app, "/time", &by_time, VIAL_INT(INT64_MIN), VIAL_INT(INT64_MAX),
              "limit=0 has=1 -9223372036854775808 9223372036854775807");
    roundtrip(app, "/time", &by_time, VIAL_INT(-1), VIAL_INT(0), "limit=0 has=1 -1 0");
    /* the logs API's cursors from before this helper: 16 bytes, big-endian */
    char *c = cursor_of(app, &by_time, VIAL_INT(1), VIAL_INT(2));
    assert_string_equal(c, "AAAAAAAAAAEAAAAAAAAAAg");
    free(c);
    /* without a cursor: the smallest keys; the default limit */
    char *got = body_of(app, "/time", 200);
    assert_string_equal(got, "limit=0 has=0 -9223372036854775808 -9223372036854775808");
    free(got);
    got = body_of(app, "/name?limit=50", 200);
    assert_string_equal(got, "limit=50 has=0 [] -9223372036854775808");
    free(got);
    vial_app_free(app);
}

static void test_roundtrip_doubles(void **state)
{
    (void)state;
    vial_app *app = make();
    /* exact: every bit of the value comes back */
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(117.906), VIAL_INT(3), "limit=5 has=1 117.90600000000001 3");
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(0.1 + 0.2), VIAL_INT(1),
              "limit=5 has=1 0.30000000000000004 1");
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(-60.0), VIAL_INT(-1), "limit=5 has=1 -60 -1");
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(3.48e-06), VIAL_INT(0), "limit=5 has=1 3.4800000000000001e-06 0");
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(-0.0), VIAL_INT(0), "limit=5 has=1 -0(neg) 0");
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(INFINITY), VIAL_INT(0), "limit=5 has=1 inf 0");
    roundtrip(app, "/tempo", &by_tempo, VIAL_DOUBLE(4.9e-324), VIAL_INT(0), "limit=5 has=1 4.9406564584124654e-324 0");
    /* without a cursor: -inf, below every value */
    char *got = body_of(app, "/tempo", 200);
    assert_string_equal(got, "limit=5 has=0 -inf -9223372036854775808");
    free(got);
    /* no cursor for NaN (no row sorts there), nor for an int where a double goes */
    enc_spec = &by_tempo;
    enc_keys[0] = VIAL_DOUBLE(NAN);
    enc_keys[1] = VIAL_INT(1);
    free(body_of(app, "/enc", 422));
    enc_keys[0] = VIAL_INT(1);
    free(body_of(app, "/enc", 422));
    /* and a planted NaN is refused like any other tampering */
    unsigned char raw[16];
    uint64_t bits;
    double nan = NAN;
    memcpy(&bits, &nan, 8);
    for (int i = 0; i < 8; i++)
        raw[i] = (unsigned char)(bits >> (56 - 8 * i));
    memset(raw + 8, 0, 8);
    char c[40], target[100];
    vial_b64url_encode(raw, 16, c);
    snprintf(target, sizeof target, "/tempo?after=%s", c);
    free(body_of(app, target, 400));
    memset(raw, 0, 8);
    raw[0] = 0x40; /* 2.0: fine */
    vial_b64url_encode(raw, 16, c);
    snprintf(target, sizeof target, "/tempo?after=%s", c);
    got = body_of(app, target, 200);
    assert_string_equal(got, "limit=5 has=1 2 0");
    free(got);
    vial_app_free(app);
}

static void test_roundtrip_text(void **state)
{
    (void)state;
    vial_app *app = make();
    roundtrip(app, "/name", &by_name, VIAL_TEXT("Zoë & Co/ü?"), VIAL_INT(7), "limit=3 has=1 [Zoë & Co/ü?] 7");
    roundtrip(app, "/name", &by_name, VIAL_TEXT(""), VIAL_INT(0), "limit=3 has=1 [] 0");
    /* lengths around the one- and two-byte length forms, up to the limit */
    static const size_t lens[] = { 127, 128, 255, 2000, 2037 };
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char *t = malloc(lens[i] + 1), want[2100];
        memset(t, 'x', lens[i]);
        t[lens[i]] = '\0';
        snprintf(want, sizeof want, "limit=3 has=1 [%s] 42", t);
        roundtrip(app, "/name", &by_name, VIAL_TEXTN(t, lens[i]), VIAL_INT(42), want);
        free(t);
    }
    /* text keys over the size limit, and keys of the wrong type, get no cursor */
    char *big = malloc(2100);
    memset(big, 'y', 2099);
    big[2099] = '\0';
    enc_spec = &by_name;
    enc_keys[0] = VIAL_TEXT(big);
    enc_keys[1] = VIAL_INT(1);
    free(body_of(app, "/enc", 422));
    free(big);
    enc_keys[0] = VIAL_INT(1);
    free(body_of(app, "/enc", 422));
    enc_keys[0] = VIAL_TEXT(NULL);
    free(body_of(app, "/enc", 422));
    enc_spec = &bad_spec;
    free(body_of(app, "/enc", 422));
    vial_app_free(app);
}

/* A cursor made of raw bytes, to plant what the encoder never writes. */
static void expect_bad(vial_app *app, const char *path, const void *raw, size_t n)
{
    char c[400], target[500];
    vial_b64url_encode(raw, n, c);
    snprintf(target, sizeof target, "%s?after=%s", path, c);
    vial_test_resp *r = get(app, target);
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(strstr(vial_test_body(r, NULL), "\"error\":\"bad_request_400\""));
    assert_non_null(strstr(vial_test_body(r, NULL), "after is not a cursor this API handed out"));
    vial_test_free(r);
}

static void test_tampered_cursors(void **state)
{
    (void)state;
    vial_app *app = make();
    char *c = cursor_of(app, &by_time, VIAL_INT(12345), VIAL_INT(678));
    size_t n = strlen(c);
    char bad[64][80];
    size_t nb = 0;
    snprintf(bad[nb++], 80, "%.*s", (int)n - 1, c);           /* truncated */
    snprintf(bad[nb++], 80, "%sA", c);                         /* one more */
    snprintf(bad[nb++], 80, "%s=", c);                         /* padding */
    snprintf(bad[nb++], 80, "!%s", c + 1);                     /* not base64url */
    snprintf(bad[nb++], 80, "%.5s.%s", c, c + 6);
    snprintf(bad[nb++], 80, "%.10s%%00%s", c, c + 11);         /* a NUL */
    snprintf(bad[nb++], 80, "%.10s/%s", c, c + 11);
    snprintf(bad[nb++], 80, "%.21sh", c);                      /* stray trailing bits */
    snprintf(bad[nb++], 80, "%s", "");
    snprintf(bad[nb++], 80, "%s", "x");
    snprintf(bad[nb++], 80, "%s", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    for (size_t i = 0; i < nb; i++) {
        char target[200];
        snprintf(target, sizeof target, "/time?after=%.80s", bad[i]);
        vial_test_resp *r = get(app, target);
        if (vial_test_status(r) != 400)
            print_error("%s: %d\n", target, vial_test_status(r));
        assert_int_equal(vial_test_status(r), 400);
        vial_test_free(r);
    }
    free(c);

    /* text keys: the length must fit, be canonical, and the text UTF-8
     * without NULs */
    const unsigned char id[8] = { 0, 0, 0, 0, 0, 0, 0, 9 };
    unsigned char raw[300];
    expect_bad(app, "/name", (const unsigned char[]){ 5, 'a', 'b' }, 3); /* too short */
    raw[0] = 2, raw[1] = 'a', raw[2] = 'b';
    memcpy(raw + 3, id, 8);
    roundtrip(app, "/name", &by_name, VIAL_TEXT("ab"), VIAL_INT(9), "limit=3 has=1 [ab] 9");
    expect_bad(app, "/name", raw, 10);                  /* the id cut short */
    raw[11] = 0;
    expect_bad(app, "/name", raw, 12);                  /* a byte too many */
    raw[0] = 2, raw[1] = 0xc3, raw[2] = 0x28;           /* not UTF-8 */
    expect_bad(app, "/name", raw, 11);
    raw[0] = 2, raw[1] = 'a', raw[2] = '\0';            /* a NUL */
    expect_bad(app, "/name", raw, 11);
    raw[0] = 0x82, raw[1] = 0x00, raw[2] = 'a', raw[3] = 'b'; /* length 2 in two bytes */
    memcpy(raw + 4, id, 8);
    expect_bad(app, "/name", raw, 12);
    raw[0] = 0x80, raw[1] = 0x80, raw[2] = 0x01;        /* three length bytes */
    expect_bad(app, "/name", raw, 3);
    expect_bad(app, "/name", raw, 0);                   /* nothing */
    /* an integer-only cursor is not a (text, id) one */
    c = cursor_of(app, &by_time, VIAL_INT(1), VIAL_INT(2));
    char target[200];
    snprintf(target, sizeof target, "/name?after=%.100s", c);
    free(body_of(app, target, 400));
    free(c);
    vial_app_free(app);
}

static void test_limits(void **state)
{
    (void)state;
    vial_app *app = make();
    static const char *const bad[] = { "0", "51", "x", "", "-1", "1.5", "99999999999999999999", "2x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char target[100];
        snprintf(target, sizeof target, "/name?limit=%s", bad[i]);
        vial_test_resp *r = get(app, target);
        assert_int_equal(vial_test_status(r), 400);
        assert_non_null(strstr(vial_test_body(r, NULL), "limit must be an integer from 1 to 50"));
        vial_test_free(r);
    }
    char *got = body_of(app, "/name?limit=1", 200);
    assert_string_equal(got, "limit=1 has=0 [] -9223372036854775808");
    free(got);
    /* a spec the helper cannot serve is the route's bug: 500 */
    free(body_of(app, "/bad", 500));
    vial_app_free(app);
}

static const char *link_of(vial_test_resp *r)
{
    return vial_test_header(r, "Link");
}

static void test_link_walks_every_row_once(void **state)
{
    (void)state;
    vial_app *app = make();
    /* other query arguments stay, in their order and spelling; limit and
     * after (however spelled) are replaced */
    char target[600] = "/items/a%2Fb?q=x+y&lim%69t=4&z=%C3%BC&after=&f";
    char seen[200] = "";
    int pages = 0;
    while (*target) {
        vial_test_resp *r = get(app, target);
        if (pages == 0) {
            /* "after=" empty is not a cursor */
            assert_int_equal(vial_test_status(r), 400);
            vial_test_free(r);
            snprintf(target, sizeof target, "/items/a%%2Fb?q=x+y&lim%%69t=4&z=%%C3%%BC&f");
            pages++;
            continue;
        }
        assert_int_equal(vial_test_status(r), 200);
        strcat(seen, vial_test_body(r, NULL));
        const char *l = link_of(r);
        target[0] = '\0';
        if (l) {
            const char *want = "</items/a%2Fb?q=x+y&z=%C3%BC&f&limit=4&after=";
            assert_memory_equal(l, want, strlen(want));
            assert_non_null(strstr(l, ">; rel=\"next\""));
            size_t n = strlen(l) - strlen("<>; rel=\"next\"");
            memcpy(target, l + 1, n);
            target[n] = '\0';
        }
        vial_test_free(r);
        pages++;
    }
    assert_string_equal(seen, "1,2,3,4,5,6,7,8,9,10,");
    assert_int_equal(pages, 1 + 3);
    /* the last page is full and has no successor: no Link */
    vial_test_resp *r = get(app, "/items/x?limit=10");
    assert_string_equal(vial_test_body(r, NULL), "1,2,3,4,5,6,7,8,9,10,");
    assert_null(link_of(r));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_url(void **state)
{
    (void)state;
    vial_app *app = make();
    char *u = body_of(app, "/url/p?a=1&limit=9&after=zz&b", 200);
    assert_string_equal(u, "/url/p?a=1&b&after=C_u-r");
    free(u);
    u = body_of(app, "/url/p?want_limit=25", 200);
    assert_string_equal(u, "/url/p?want_limit=25&limit=25&after=C_u-r");
    free(u);
    u = body_of(app, "/url/p", 200);
    assert_string_equal(u, "/url/p?after=C_u-r");
    free(u);
    /* what may not stand in a URI (or would end the Link's <...>) is
     * escaped; what was escaped stays as sent */
    const char *raw = "GET /url/a%3Cb?x=<y>&&q=\"|\" HTTP/1.1\r\nHost: t\r\n\r\n";
    vial_test_resp *r = vial_test_raw(app, raw, strlen(raw));
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "/url/a%3Cb?x=%3Cy%3E&q=%22%7C%22&after=C_u-r");
    vial_test_free(r);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_integers),
        cmocka_unit_test(test_roundtrip_doubles),
        cmocka_unit_test(test_roundtrip_text),
        cmocka_unit_test(test_tampered_cursors),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_link_walks_every_row_once),
        cmocka_unit_test(test_url),
    };
    return RUN_GROUP(tests);
}

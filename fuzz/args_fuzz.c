/*
 * args_fuzz.c — the query checked against a route's documented parameters
 * (vial_args_valid in src/core/body.c: each value converted to its field's
 * type, then the field's rule).
 *
 * Input: a query string (bytes a request target may not carry are
 * percent-encoded first) sent to a route documenting five parameters.
 * Property checked (abort() on violation): vial_args_valid() lets the
 * request through exactly when an independent reference, reading the same
 * values with vial_arg(), finds every rule kept:
 *   n  integer, required, -5..5      (-?digits, nothing else)
 *   r  number, 0..1                  (JSON number syntax, finite)
 *   b  true / false / 1 / 0
 *   k  one of "a", "b"
 *   s  1..3 characters of UTF-8
 * and when it refuses, the answer is a 400 "invalid query" in the common
 * shape whose "fields" name only documented parameters.
 */
#include "core/core.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "args_fuzz: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

static const vial_field query_f[] = {
    VIAL_FIELD("n", VIAL_F_INT, VIAL_REQUIRED, .min = -5, .max = 5),
    VIAL_FIELD("r", VIAL_F_NUMBER, 0, .min = 0, .max = 1),
    VIAL_FIELD("b", VIAL_F_BOOL, 0),
    VIAL_FIELD("k", VIAL_F_STRING, 0, .one_of = (const char *const[]){ "a", "b", NULL }),
    VIAL_FIELD("s", VIAL_F_STRING, 0, .min = 1, .max = 3),
    VIAL_FIELD_END,
};
static const vial_doc doc = { .summary = "fuzzed", .query = query_f };

static bool digits(const char **p)
{
    if (**p < '0' || **p > '9')
        return false;
    while (**p >= '0' && **p <= '9')
        (*p)++;
    return true;
}

static bool ref_int(const char *s)
{
    bool neg = *s == '-';
    const char *p = s + neg;
    if (!digits(&p) || *p)
        return false;
    const char *d = s + neg;
    while (*d == '0' && d[1])
        d++; /* leading zeros: the same number */
    if (strlen(d) > 1)
        return false; /* 10 or more: out of -5..5, whether or not it fits int64 */
    return *d - '0' <= 5;
}

static bool ref_number(const char *s)
{
    const char *p = s + (*s == '-');
    if (!digits(&p))
        return false;
    if (*p == '.') {
        p++;
        if (!digits(&p))
            return false;
    }
    if (*p == 'e' || *p == 'E') {
        p++;
        p += *p == '+' || *p == '-';
        if (!digits(&p))
            return false;
    }
    if (*p)
        return false;
    double v = strtod(s, NULL);
    return isfinite(v) && v >= 0 && v <= 1;
}

static bool ref_ok(vial_req *req)
{
    const char *n = vial_arg(req, "n"), *r = vial_arg(req, "r"), *b = vial_arg(req, "b"),
               *k = vial_arg(req, "k"), *s = vial_arg(req, "s");
    if (!n || !ref_int(n))
        return false;
    if (r && !ref_number(r))
        return false;
    if (b && strcmp(b, "true") && strcmp(b, "false") && strcmp(b, "1") && strcmp(b, "0"))
        return false;
    if (k && strcmp(k, "a") && strcmp(k, "b"))
        return false;
    if (s) {
        size_t len = strlen(s);
        if (!vial_utf8_valid(s, len))
            return false;
        size_t chars = 0;
        for (size_t i = 0; i < len; i++)
            chars += ((unsigned char)s[i] & 0xC0) != 0x80;
        if (chars < 1 || chars > 3)
            return false;
    }
    return true;
}

static int view(vial_req *req)
{
    bool want = ref_ok(req);
    int got = vial_args_valid(req);
    if (got != 0 && got != 1)
        die("vial_args_valid returned %d", got);
    if ((got == 0) != want)
        die("query '%s': vial_args_valid %s, the reference %s", vial_target(req),
            got ? "refused" : "accepted", want ? "accepts" : "refuses");
    return got ? 0 : vial_text(req, 200, "ok");
}

static vial_app *app(void)
{
    static vial_app *a;
    if (!a) {
        a = vial_app_new("args_fuzz");
        if (!a)
            abort();
        vial_config_set(a, "access_log", "off");
        vial_config_set(a, "log_level", "error");
        vial_configure(a, 0, NULL);
        vial_route_add(vial_app_bp(a), VIAL_GET, "/q", view, &(vial_route_opts){ .doc = &doc });
    }
    return a;
}

static void check_refusal(vial_test_resp *r)
{
    json_t *body = json_loads(vial_test_body(r, NULL), 0, NULL);
    json_t *fields = json_object_get(body, "fields");
    if (!json_is_object(fields) || json_object_size(fields) == 0 ||
        strcmp(json_string_value(json_object_get(body, "message")) ?: "", "invalid query"))
        die("a refusal is not a 400 \"invalid query\" with fields: %s", vial_test_body(r, NULL));
    const char *key;
    json_t *v;
    json_object_foreach(fields, key, v) {
        bool known = false;
        for (const vial_field *f = query_f; f->name && !known; f++)
            known = !strcmp(f->name, key);
        if (!known || !json_is_string(v))
            die("fields names '%s'", key);
    }
    json_decref(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *target = malloc(3 * size + 8);
    if (!target)
        abort();
    size_t t = (size_t)sprintf(target, "/q?");
    for (size_t i = 0; i < size; i++) {
        unsigned char b = data[i];
        if (b <= 0x20 || b >= 0x7f || b == '#')
            t += (size_t)sprintf(target + t, "%%%02X", b);
        else
            target[t++] = (char)b;
    }
    target[t] = '\0';
    vial_test_resp *r = vial_test(app(), "GET", target, NULL, NULL, 0);
    if (!r)
        abort();
    int st = vial_test_status(r);
    if (st == 400 && strstr(vial_test_body(r, NULL), "invalid query"))
        check_refusal(r);
    else if (st != 200 && st != 400) /* 400: a target llhttp refuses */
        die("status %d for %s", st, target);
    vial_test_free(r);
    free(target);
    return 0;
}

/*
 * template_fuzz.c — the template engine (src/web/template.c, tpl_parse.c,
 * tpl_render.c, tpl_value.c, tpl_filters.c).
 *
 * Input: the whole input is template source (NUL bytes included), compiled
 * as "f.html" (autoescaped) and rendered twice with a fixed context: strings
 * full of HTML specials and non-ASCII text, numbers, nested objects and
 * arrays, null and booleans.  A directory of fixed templates is available
 * to {% include %} and {% extends %}: a three-level layout with blocks, a
 * partial, a plain-text file, and templates that include or extend
 * themselves.  One render runs inside a request (through the in-process
 * test client) so url_for(), static() and request are live; the other has
 * no request.  The render budget is lowered (steps, memory, output) so one
 * input cannot take long whatever it does.
 * Properties checked (abort() on violation):
 *  - compiling either succeeds or fails with a message "f.html:L:C: ..."
 *    whose line and column lie inside the input;
 *  - a render either succeeds, with the output NUL-terminated at its
 *    length, or fails with a non-empty message;
 *  - rendering is deterministic: the two renders without a request give
 *    the same result, byte for byte (or the same error);
 *  - the output of a template without `safe`, `tojson`, `raw`, set blocks,
 *    super(), includes or extends in an autoescaped name never contains a
 *    '<' or '"' that the template text itself did not contain.
 */
#include "tpl/tpl.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "template_fuzz: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

static vial_app *app;
static vial__tplmod *mod;
static json_t *ctx;
static char dir[] = "/tmp/vial-template-fuzz-XXXXXX";
static vial__tpl *current; /* what the request handler renders */

static const char *const files[][2] = {
    { "base.html", "<title>{% block title %}T{% endblock %}</title>{% include 'nav.html' %}"
                   "<main>{% block main %}{{ s }}{% endblock %}</main>{% block foot %}{% endblock %}" },
    { "layout.html", "{% extends 'base.html' %}{% set lv = 1 %}{% block title %}L {{ super() }}"
                     "{% endblock %}{% block main %}<section>{% block content %}c{% endblock %}"
                     "</section>{% endblock %}" },
    { "child.html", "{% extends 'layout.html' %}{% block content %}{{ super() }}{{ n }}"
                    "{% for u in users %}{{ u.name }}{% endfor %}{% endblock %}" },
    { "nav.html", "{% for k, v in obj|items %}<a href=\"{{ v }}\">{{ k }}</a>{% endfor %}" },
    { "part.html", "[{{ s }}{% set s = 'x' %}{{ s }}{{ loop is defined }}]" },
    { "plain.txt", "raw <{{ s }}>" },
    { "self.html", "{% include 'self.html' %}" },
    { "loop-a.html", "{% extends 'loop-b.html' %}" },
    { "loop-b.html", "{% extends 'loop-a.html' %}" },
    { "bad.html", "{% if %}" },
};

static json_t *f_custom(json_t *value, json_t *args, const char **error)
{
    if (json_array_size(args) > 2) {
        *error = "too many";
        return NULL;
    }
    return json_pack("[O,O]", value, args);
}

static int h_render(vial_req *req)
{
    vial__buf b = { 0 };
    char err[256];
    int rc = vial__tpl_render(mod, req, current, ctx, &b, err, sizeof err);
    if (rc) {
        vial__buf_free(&b);
        if (!err[0])
            die("a render inside a request failed without a message");
        return vial_abort(req, 500, err);
    }
    rc = vial_send(req, 200, "text/html", b.p ? b.p : "", b.n);
    vial__buf_free(&b);
    return rc;
}

static int h_user(vial_req *req)
{
    return vial_text(req, 200, vial_param(req, "name"));
}

static void remove_dir(void)
{
    char path[256];
    for (size_t i = 0; i < VIAL__ARRAY_LEN(files); i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        unlink(path);
    }
    rmdir(dir);
    vial_app_free(app);
    json_decref(ctx);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    VIAL__UNUSED(argc);
    VIAL__UNUSED(argv);
    vial__log_level = VIAL_LOG_ERROR + 1;
    if (!mkdtemp(dir))
        die("mkdtemp failed");
    for (size_t i = 0; i < VIAL__ARRAY_LEN(files); i++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, files[i][0]);
        FILE *f = fopen(path, "w");
        if (!f || fputs(files[i][1], f) < 0 || fclose(f))
            die("cannot write %s", path);
    }
    app = vial_app_new("fuzz");
    if (!app)
        die("vial_app_new failed");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "templates_dir", dir);
    vial_route(vial_app_bp(app), VIAL_GET, "/r/<int:id>", h_render, "page");
    vial_route(vial_app_bp(app), VIAL_GET, "/u/<name>", h_user, "user");
    if (vial_configure(app, 0, NULL))
        die("vial_configure failed");
    if (vial_template_filter(app, "custom", f_custom))
        die("vial_template_filter failed");
    mod = vial__tplmod_get(app);
    if (!mod)
        die("no module state");
    /* small budgets: every input finishes in milliseconds */
    vial__tplmod_limits(mod)->max_steps = 200000;
    vial__tplmod_limits(mod)->max_memory = 8u << 20;
    vial__tplmod_limits(mod)->max_output = 1u << 20;
    ctx = json_loads("{\"s\": \"<script>alert('x') & \\\"y\\\"</script>\","
                     " \"jp\": \"\\u65e5\\u672c\\u8a9e\", \"n\": 42, \"f\": -2.5, \"big\": 9223372036854775807,"
                     " \"z\": 0, \"t\": true, \"nil\": null, \"empty\": \"\","
                     " \"xs\": [3, 1, 2, \"<b>\", 1.5, null, [1, [2]]],"
                     " \"users\": [{\"name\": \"<ann>\", \"age\": 30}, {\"name\": \"bob&\", \"age\": 25}],"
                     " \"obj\": {\"a\": \"/x?y=1&z=2\", \"b\": {\"c\": [\"d\"]}},"
                     " \"when\": \"2018-10-18T21:37:28-06:00\", \"epoch\": 1577836800,"
                     " \"layout\": \"child.html\"}",
                     0, NULL);
    if (!ctx)
        die("bad context");
    atexit(remove_dir);
    return 0;
}

/* "f.html:L:C: ..." with L:C inside the source. */
static void check_message(const char *err, const char *src, size_t size)
{
    unsigned line, col;
    if (sscanf(err, "f.html:%u:%u: ", &line, &col) != 2)
        return; /* errors from an included template name that template */
    unsigned lines = 1;
    for (size_t i = 0; i < size; i++)
        lines += src[i] == '\n';
    if (line < 1 || line > lines || col < 1 || col > size + 1)
        die("message points outside the input: %s", err);
}

static bool contains(const char *s, size_t n, const char *what)
{
    return memmem(s, n, what, strlen(what)) != NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *src = (const char *)data;
    char err[512];
    int code;
    vial__tpl *t = vial__tpl_compile(mod, "f.html", src, size, err, sizeof err, &code);
    if (!t) {
        if (code != VIAL_EPARSE && code != VIAL_ENOMEM && code != VIAL_ETOOBIG)
            die("compile failed with %d", code);
        if (!err[0])
            die("compile failed without a message");
        check_message(err, src, size);
        return 0;
    }

    vial__buf out[2] = { { 0 }, { 0 } };
    char errs[2][512];
    int rcs[2];
    for (int i = 0; i < 2; i++) {
        rcs[i] = vial__tpl_render(mod, NULL, t, ctx, &out[i], errs[i], sizeof errs[i]);
        if (rcs[i] && !errs[i][0])
            die("render failed (%d) without a message", rcs[i]);
        if (!rcs[i])
            vial__buf_nul(&out[i]);
        else
            check_message(errs[i], src, size);
    }
    if (rcs[0] != rcs[1] || (rcs[0] && strcmp(errs[0], errs[1])) ||
        (!rcs[0] && (out[0].n != out[1].n || (out[0].n && memcmp(out[0].p, out[1].p, out[0].n)))))
        die("two renders differ");

    /* Autoescape: without a way to mark text safe, '<' and '"' in the output
     * come from the template's own text. */
    if (!rcs[0] && out[0].n) {
        static const char *const unsafe[] = { "safe", "tojson", "raw", "endset", "super",
                                              "include", "extends", "custom", "{%" };
        bool plain = true;
        for (size_t i = 0; i < VIAL__ARRAY_LEN(unsafe) && plain; i++)
            plain = !contains(src, size, unsafe[i]);
        if (plain && ((memchr(out[0].p, '<', out[0].n) && !memchr(src, '<', size)) ||
                      (memchr(out[0].p, '"', out[0].n) && !memchr(src, '"', size))))
            die("unescaped '<' or '\"' in the output");
    }
    vial__buf_free(&out[0]);
    vial__buf_free(&out[1]);

    /* once more inside a request: url_for, static and request */
    current = t;
    vial_test_resp *r = vial_test(app, "GET", "/r/7?q=%3Cx%3E&q=2", NULL, NULL, 0);
    if (!r)
        die("test client out of memory");
    int st = vial_test_status(r);
    if (st != 200 && st != 500)
        die("status %d", st);
    vial_test_free(r);
    current = NULL;
    vial__tpl_release(t);
    return 0;
}

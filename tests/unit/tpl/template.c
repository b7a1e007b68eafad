/*
 * Unit tests for src/tpl/template.c: the template module's public face —
 * loading templates from templates_dir and the folders apps and blueprints
 * add (names checked, missing files, directories, the search order), the
 * templates_dir setting declared on every app, the cache of compiled
 * templates and debug-mode reloading (includes and extends too), rendering
 * as a response (content types,
 * statuses, url_for and request inside a real request, errors as 500s),
 * registering filters, threads sharing compiled templates, and API misuse.
 * The stages have their own mirrors: tpl_parse.c, tpl_render.c,
 * tpl_filters.c, tpl_value.c.
 *
 * Most behaviour is data-driven: tests/cases/template/<case>/ holds `input`
 * (the template, named "<case>.html" in messages, or "<case>.txt" — no
 * autoescape — when a file `plain` exists), an optional `context.json`, and
 * either `expected` (the exact output; most were produced by Jinja2 itself,
 * so they double as a conformance check) or `error` (the exact message,
 * with file:line:col).  _files/ holds the templates they include and
 * extend.  test_cases runs them all through the public API.
 */
#include "unit.h"
#include "tpl/tpl_impl.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *p = malloc(cap + 1);
    size_t r;
    while (p && (r = fread(p + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *np = realloc(p, (cap *= 2) + 1);
            if (!np) {
                free(p);
                p = NULL;
            }
            p = np;
        }
    }
    fclose(f);
    if (p)
        p[n] = '\0';
    if (len)
        *len = n;
    return p;
}

static void spit(const char *path, const char *s)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fputs(s, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

static const char *cases_dir(void)
{
    static char dir[1024];
    const char *src = getenv("VIAL_SOURCE_DIR");
    snprintf(dir, sizeof dir, "%s/tests/cases/template", src ? src : "..");
    return dir;
}

static vial_app *new_app(const char *templates)
{
    vial_app *app = vial_app_new("tpl");
    assert_non_null(app);
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    if (templates)
        vial_config_set(app, "templates_dir", templates);
    return app;
}

static int render_src(vial_app *app, const char *name, const char *src, const char *ctx_json,
                      char **out, char *err, size_t errlen)
{
    json_t *ctx = ctx_json ? json_loads(ctx_json, 0, NULL) : NULL;
    if (ctx_json)
        assert_non_null(ctx);
    size_t len;
    int rc = vial_template_render_string_malloc(app, NULL, name, src, ctx, out, &len, err, errlen);
    if (!rc)
        assert_int_equal(strlen(*out), len);
    json_decref(ctx);
    return rc;
}

/* Renders `src` and checks the output. */
static void expect_out(vial_app *app, const char *name, const char *src, const char *ctx,
                       const char *want)
{
    char *out = NULL, err[512];
    int rc = render_src(app, name, src, ctx, &out, err, sizeof err);
    if (rc)
        print_error("%s: %s\n", src, err);
    assert_int_equal(rc, 0);
    if (strcmp(out, want))
        print_error("%s:\n got  [%s]\n want [%s]\n", src, out, want);
    assert_string_equal(out, want);
    free(out);
}

static void expect_err(vial_app *app, const char *name, const char *src, const char *ctx,
                       int code, const char *want)
{
    char *out = NULL, err[512];
    int rc = render_src(app, name, src, ctx, &out, err, sizeof err);
    if (rc == 0)
        print_error("%s: rendered [%s], expected an error\n", src, out);
    assert_int_equal(rc, code);
    assert_null(out);
    if (want && !strstr(err, want))
        print_error("%s:\n got  [%s]\n want [%s]\n", src, err, want);
    if (want)
        assert_non_null(strstr(err, want));
}

/* ------------------------------------------------------------------ data-driven cases */

static void test_cases(void **state)
{
    (void)state;
    char files[1100], path[1400];
    snprintf(files, sizeof files, "%s/_files", cases_dir());
    vial_app *app = new_app(files);
    DIR *d = opendir(cases_dir());
    if (!d)
        print_error("cannot open %s (set VIAL_SOURCE_DIR)\n", cases_dir());
    assert_non_null(d);
    struct dirent *de;
    int ran = 0, failed = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || de->d_name[0] == '_')
            continue;
        char name[300];
        snprintf(path, sizeof path, "%s/%s/plain", cases_dir(), de->d_name);
        snprintf(name, sizeof name, "%s.%s", de->d_name, access(path, F_OK) ? "html" : "txt");
        snprintf(path, sizeof path, "%s/%s/input", cases_dir(), de->d_name);
        char *src = slurp(path, NULL);
        if (!src)
            continue;
        snprintf(path, sizeof path, "%s/%s/context.json", cases_dir(), de->d_name);
        char *ctx = slurp(path, NULL);
        snprintf(path, sizeof path, "%s/%s/expected", cases_dir(), de->d_name);
        char *want = slurp(path, NULL);
        snprintf(path, sizeof path, "%s/%s/error", cases_dir(), de->d_name);
        char *want_err = slurp(path, NULL);
        char *out = NULL, err[512];
        int rc = render_src(app, name, src, ctx, &out, err, sizeof err);
        ran++;
        if (want && (rc || strcmp(out, want))) {
            failed++;
            print_error("case %s:\n got  [%s]\n want [%s]\n", de->d_name, rc ? err : out, want);
        } else if (want_err && (!rc || strcmp(err, want_err))) {
            failed++;
            print_error("case %s:\n got  [%s]\n want [%s]\n", de->d_name, rc ? err : out,
                        want_err);
        } else if (!want && !want_err) {
            failed++;
            print_error("case %s: neither expected nor error\n", de->d_name);
        }
        free(out);
        free(src);
        free(ctx);
        free(want);
        free(want_err);
    }
    closedir(d);
    vial_app_free(app);
    print_message("%d template cases, %d failed\n", ran, failed);
    assert_true(ran >= 90);
    assert_int_equal(failed, 0);
}

/* ------------------------------------------------------------------ responses */

static int h_page(vial_req *req)
{
    json_t *ctx = json_pack("{s:s}", "name", "<World>");
    return vial_render_take(req, 200, vial_arg(req, "t") ? vial_arg(req, "t") : "page.html",
                            ctx);
}

static int h_user(vial_req *req)
{
    return vial_textf(req, 200, "user %" PRId64, vial_param_int(req, "id"));
}

static int h_null(vial_req *req)
{
    return vial_render_take(req, 201, "page.html", NULL);
}

static int h_status(vial_req *req)
{
    json_t *ctx = json_object();
    int rc = vial_render(req, 404, "page.html", ctx);
    json_decref(ctx);
    return rc;
}

static char tmpdir[] = "/tmp/vial-tpl-XXXXXX";

/* Writes a file under tmpdir atomically (a rename), so a concurrent
 * render sees the old or the new content, never a half-written file. */
static void tmpfile_write(const char *name, const char *content)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    spit(tmp, content);
    assert_int_equal(rename(tmp, path), 0);
}

static vial_app *request_app(void)
{
    vial_app *app = new_app(tmpdir);
    vial_get(app, "/page", h_page);
    vial_get(app, "/user/<int:id>", h_user);
    vial_get(app, "/null", h_null);
    vial_get(app, "/status", h_status);
    return app;
}

static void test_render_response(void **state)
{
    (void)state;
    tmpfile_write("page.html", "<h1>Hello {{ name }}!</h1>");
    tmpfile_write("page.txt", "Hello {{ name }}!");
    tmpfile_write("broken.html", "line 1\n{{ name|nope }}");
    tmpfile_write("req.html",
                  "{{ request.method }} {{ request.path }} {{ request.endpoint }} "
                  "{{ request.args.t }} {{ request.args.q }}|{{ url_for('h_user', id=42) }}|"
                  "{{ url_for('h_user', id=7, tab='a b') }}|{{ url_for('.h_page') }}|"
                  "{{ static('app.js') }}|{{ url_for('static', filename='img/x.png') }}");
    tmpfile_write("badurl.html", "{{ url_for('h_user') }}");
    vial_app *app = request_app();
    vial_test_resp *r = get(app, "/page");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Type"), "text/html; charset=utf-8");
    assert_string_equal(vial_test_body(r, NULL), "<h1>Hello &lt;World&gt;!</h1>");
    vial_test_free(r);

    r = get(app, "/page?t=page.txt");
    assert_string_equal(vial_test_header(r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(vial_test_body(r, NULL), "Hello <World>!");
    vial_test_free(r);

    r = get(app, "/page?t=req.html&q=x%26y");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL),
                        "GET /page h_page req.html x&amp;y|/user/42|/user/7?tab=a%20b|/page|"
                        "/static/app.js|/static/img/x.png");
    vial_test_free(r);

    /* a template error is a 500; the message stays in the log unless debug */
    r = get(app, "/page?t=broken.html");
    assert_int_equal(vial_test_status(r), 500);
    assert_null(strstr(vial_test_body(r, NULL), "nope"));
    vial_test_free(r);
    r = get(app, "/page?t=badurl.html");
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
    r = get(app, "/page?t=missing.html");
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
    r = get(app, "/page?t=../etc/passwd");
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
    r = get(app, "/null");
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
    r = get(app, "/status");
    assert_int_equal(vial_test_status(r), 404);
    assert_string_equal(vial_test_body(r, NULL), "<h1>Hello !</h1>");
    vial_test_free(r);
    vial_app_free(app);

    app = request_app();
    vial_config_set(app, "debug", "on");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    r = get(app, "/page?t=broken.html");
    assert_int_equal(vial_test_status(r), 500);
    assert_non_null(strstr(vial_test_body(r, NULL), "broken.html:2:9: unknown filter"));
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ filter registration */

static json_t *f_ident(json_t *value, json_t *args, const char **error)
{
    (void)args;
    (void)error;
    return json_incref(value);
}

/* Registering; applying them is tpl_render.c's, binding tpl_parse.c's. */
static void test_filter_registration(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    assert_int_equal(vial_template_filter(app, "ident", f_ident), 0);
    assert_int_equal(vial_template_filter(app, "ident", f_ident), 0); /* again: replaced */
    assert_int_equal(vial_template_filter(app, "upper", f_ident), 0); /* a builtin's name */
    assert_int_equal(vial_template_filter(app, "", f_ident), VIAL_EINVAL);
    assert_int_equal(vial_template_filter(app, "a-b", f_ident), VIAL_EINVAL);
    assert_int_equal(vial_template_filter(app, "9a", f_ident), VIAL_EINVAL);
    assert_int_equal(vial_template_filter(app, NULL, f_ident), VIAL_EINVAL);
    assert_int_equal(vial_template_filter(app, "ok", NULL), VIAL_EINVAL);
    assert_int_equal(vial_template_filter(NULL, "ok", f_ident), VIAL_EINVAL);
    expect_out(app, "a.html", "{{ '<x>'|ident }}|{{ 'y'|upper }}", NULL, "&lt;x&gt;|y");
    /* a refused registration added nothing */
    expect_err(app, "a.html", "{{ 1|ok }}", NULL, VIAL_EPARSE, "a.html:1:6: unknown filter 'ok'");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ debug reload */

static void touch_later(const char *name, int seconds)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    struct timespec ts[2] = { st.st_atim, st.st_mtim };
    ts[0].tv_sec += seconds;
    ts[1].tv_sec += seconds;
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void render_file(vial_app *app, const char *name, const char *want)
{
    char *out = NULL, err[512];
    int rc = vial_template_render_malloc(app, NULL, name, NULL, &out, NULL, err, sizeof err);
    if (rc)
        print_error("%s: %s\n", name, err);
    assert_int_equal(rc, 0);
    assert_string_equal(out, want);
    free(out);
}

static void test_debug_reload(void **state)
{
    (void)state;
    tmpfile_write("r-base.html", "[{% block b %}base v1{% endblock %}]");
    tmpfile_write("r-page.html", "{% extends 'r-base.html' %}{% block b %}page v1 "
                                 "{% include 'r-part.html' %}{% endblock %}");
    tmpfile_write("r-part.html", "part v1");
    vial_app *plain = new_app(tmpdir), *debug = new_app(tmpdir);
    vial_config_set(debug, "debug", "on");
    assert_int_equal(vial_configure(debug, 0, NULL), 0);
    render_file(plain, "r-page.html", "[page v1 part v1]");
    render_file(debug, "r-page.html", "[page v1 part v1]");

    tmpfile_write("r-page.html", "{% extends 'r-base.html' %}{% block b %}page v2 "
                                 "{% include 'r-part.html' %} {{ super() }}{% endblock %}");
    touch_later("r-page.html", 10);
    render_file(plain, "r-page.html", "[page v1 part v1]"); /* compiled once, cached */
    render_file(debug, "r-page.html", "[page v2 part v1 base v1]");

    /* a change in an included or extended file shows up too */
    tmpfile_write("r-part.html", "part v2");
    touch_later("r-part.html", 20);
    tmpfile_write("r-base.html", "<{% block b %}base v2{% endblock %}>");
    touch_later("r-base.html", 20);
    render_file(debug, "r-page.html", "<page v2 part v2 base v2>");
    render_file(plain, "r-page.html", "[page v1 part v1]");

    /* a broken edit is reported, and fixing it recovers */
    tmpfile_write("r-part.html", "{{ oops");
    touch_later("r-part.html", 30);
    char *out = NULL, err[512];
    assert_int_equal(vial_template_render_malloc(debug, NULL, "r-page.html", NULL, &out, NULL, err,
                                          sizeof err),
                     VIAL_EPARSE);
    assert_string_equal(err, "r-part.html:1:1: unclosed '{{' (missing '}}')");
    tmpfile_write("r-part.html", "part v3");
    touch_later("r-part.html", 40);
    render_file(debug, "r-page.html", "<page v2 part v3 base v2>");
    vial_app_free(plain);
    vial_app_free(debug);
}

/* ------------------------------------------------------------------ template folders */

static void dir_write(const char *dir, const char *name, const char *content)
{
    char path[700];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    spit(path, content);
}

static void test_folders(void **state)
{
    (void)state;
    char a[600], b[600], c[600], path[700];
    snprintf(a, sizeof a, "%s/fa", tmpdir);
    snprintf(b, sizeof b, "%s/fb", tmpdir);
    snprintf(c, sizeof c, "%s/fc", tmpdir);
    assert_int_equal(mkdir(a, 0700), 0);
    assert_int_equal(mkdir(b, 0700), 0);
    assert_int_equal(mkdir(c, 0700), 0);
    dir_write(a, "base.html", "<A {% block b %}{% endblock %}>");
    dir_write(b, "base.html", "[B {% block b %}{% endblock %}]");
    dir_write(b, "page.html", "{% extends 'base.html' %}{% block b %}page{% endblock %}");
    dir_write(c, "base.html", "(C)");
    dir_write(c, "only.html", "C only {% include 'page.html' %}");

    vial_app *plain = new_app(a), *debug = new_app(a);
    vial_config_set(debug, "debug", "on");
    assert_int_equal(vial_configure(debug, 0, NULL), 0);
    vial_app *apps[] = { plain, debug };
    for (size_t i = 0; i < 2; i++) {
        vial_bp *bp = vial_bp_new("bp");
        assert_int_equal(vial_template_folder(apps[i], b), 0);
        assert_int_equal(vial_template_folder(bp, c), 0);
        assert_int_equal(vial_template_folder(apps[i], b), 0); /* again: no-op */
        assert_int_equal(vial_register(apps[i], bp, "/bp"), 0);
        assert_int_equal(vial_template_folder(apps[i], ""), VIAL_EINVAL);
        assert_int_equal(vial_template_folder(apps[i], NULL), VIAL_EINVAL);
        /* templates_dir first, then the folders in the order they came */
        render_file(apps[i], "page.html", "<A page>");
        render_file(apps[i], "only.html", "C only <A page>");
        char *out = NULL, err[512];
        assert_int_equal(vial_template_render_malloc(apps[i], NULL, "none.html", NULL, &out, NULL, err,
                                                     sizeof err),
                         VIAL_ENOENT);
        assert_string_equal(err, "template 'none.html' not found");
    }
    /* the app's file gone: the folder's shows (debug rereads; the cache
     * keeps what it compiled) */
    snprintf(path, sizeof path, "%s/base.html", a);
    assert_int_equal(unlink(path), 0);
    render_file(debug, "page.html", "[B page]");
    render_file(plain, "page.html", "<A page>");
    /* and a file that now shadows a folder's is picked up too */
    dir_write(a, "only.html", "A only");
    render_file(debug, "only.html", "A only");
    render_file(plain, "only.html", "C only <A page>");
    vial_app_free(plain);
    vial_app_free(debug);

    static const char *const files[] = { "fa/only.html", "fb/base.html", "fb/page.html", "fc/base.html",
                                         "fc/only.html" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", tmpdir, files[i]);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(rmdir(a), 0);
    assert_int_equal(rmdir(b), 0);
    assert_int_equal(rmdir(c), 0);
}

/* The module declares templates_dir on every app, before any template
 * call: flags and the environment reach it. */
static void test_templates_dir_setting(void **state)
{
    (void)state;
    vial_app *app = vial_app_new("tpl");
    assert_string_equal(vial_config(app, "templates_dir"), "templates");
    char *argv[] = { "--templates-dir", "/elsewhere", NULL };
    int argc = 2;
    assert_int_equal(vial_configure(app, argc, argv), 0);
    assert_string_equal(vial_config(app, "templates_dir"), "/elsewhere");
    vial_app_free(app);
    setenv("VIAL_TEMPLATES_DIR", "/from-env", 1);
    app = vial_app_new("tpl");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_string_equal(vial_config(app, "templates_dir"), "/from-env");
    unsetenv("VIAL_TEMPLATES_DIR");
    vial_app_free(app);
}

/* ------------------------------------------------------------------ threads */

typedef struct tharg {
    vial_app *app;
    json_t *ctx;
    const char *want;
    int bad;
} tharg;

static void *render_many(void *p)
{
    tharg *a = p;
    for (int i = 0; i < 300; i++) {
        char *out = NULL, err[256];
        if (vial_template_render_malloc(a->app, NULL, "th.html", a->ctx, &out, NULL, err, sizeof err) ||
            strcmp(out, a->want))
            a->bad++;
        free(out);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    tmpfile_write("th-base.html", "<ul>{% block items %}{% endblock %}</ul>");
    tmpfile_write("th.html", "{% extends 'th-base.html' %}{% block items %}{% for x in xs %}"
                             "<li class=\"{{ loop.cycle('a', 'b') }}\">{{ x|upper }}"
                             "{% include 'th-part.html' %}</li>{% endfor %}{% endblock %}");
    tmpfile_write("th-part.html", "({{ x|lower }})");
    vial_app *app = new_app(tmpdir);
    json_t *ctx = json_pack("{s:[s,s,s]}", "xs", "<x>", "y", "z");
    char *want = NULL, err[256];
    assert_int_equal(vial_template_render_malloc(app, NULL, "th.html", ctx, &want, NULL, err, sizeof err),
                     0);
    assert_string_equal(want, "<ul><li class=\"a\">&lt;X&gt;(&lt;x&gt;)</li><li class=\"b\">Y(y)</li>"
                              "<li class=\"a\">Z(z)</li></ul>");
    pthread_t th[4];
    tharg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (tharg){ app, ctx, want, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &args[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    /* debug mode: the stat-and-maybe-recompile path under the same load */
    vial_app *dbg = new_app(tmpdir);
    vial_config_set(dbg, "debug", "on");
    vial_configure(dbg, 0, NULL);
    for (int i = 0; i < 4; i++) {
        args[i] = (tharg){ dbg, ctx, want, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, render_many, &args[i]), 0);
    }
    for (int i = 0; i < 40; i++) {
        tmpfile_write("th-part.html", "({{ x|lower }})");
        touch_later("th-part.html", i + 1);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].bad, 0);
    }
    free(want);
    json_decref(ctx);
    vial_app_free(app);
    vial_app_free(dbg);
}

/* ------------------------------------------------------------------ API */

static void test_api_misuse(void **state)
{
    (void)state;
    vial_app *app = new_app(tmpdir);
    char *out = (char *)1, err[256];
    size_t len = 99;
    assert_int_equal(vial_template_render_malloc(NULL, NULL, "a.html", NULL, &out, &len, err, sizeof err),
                     VIAL_EINVAL);
    assert_null(out);
    assert_int_equal(len, 0);
    assert_int_equal(vial_template_render_malloc(app, NULL, NULL, NULL, &out, &len, err, sizeof err),
                     VIAL_EINVAL);
    assert_int_equal(vial_template_render_malloc(app, NULL, "a.html", NULL, NULL, &len, err, sizeof err),
                     VIAL_EINVAL);
    assert_int_equal(vial_template_render_string_malloc(app, NULL, "a", NULL, NULL, &out, &len, err,
                                                 sizeof err),
                     VIAL_EINVAL);
    json_t *arr = json_array();
    assert_int_equal(vial_template_render_string_malloc(app, NULL, "a", "x", arr, &out, &len, err,
                                                 sizeof err),
                     VIAL_EINVAL);
    assert_string_equal(err, "a: the context must be a JSON object");
    json_decref(arr);
    /* no error buffer, no name: still fine */
    assert_int_equal(vial_template_render_string_malloc(app, NULL, NULL, "{{ x", NULL, &out, NULL, NULL,
                                                 0),
                     VIAL_EPARSE);
    assert_int_equal(vial_template_render_string_malloc(app, NULL, NULL, "{{ x", NULL, &out, NULL, err,
                                                 sizeof err),
                     VIAL_EPARSE);
    assert_string_equal(err, "<string>:1:1: unclosed '{{' (missing '}}')");
    /* a short error buffer truncates */
    char small[12];
    assert_int_equal(vial_template_render_string_malloc(app, NULL, "abc.html", "{{ x|nope }}", NULL, &out,
                                                 NULL, small, sizeof small),
                     VIAL_EPARSE);
    assert_string_equal(small, "abc.html:1:");
    /* names */
    static const char *const bad[] = { "../x.html", "a/../../x", "/etc/passwd", "", ".." };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++)
        assert_int_equal(vial_template_render_malloc(app, NULL, bad[i], NULL, &out, NULL, err, sizeof err),
                         VIAL_EINVAL);
    assert_int_equal(vial_template_render_malloc(app, NULL, "nope.html", NULL, &out, NULL, err,
                                          sizeof err),
                     VIAL_ENOENT);
    assert_string_equal(err, "template 'nope.html' not found");
    /* a directory is not a template */
    char sub[600];
    snprintf(sub, sizeof sub, "%s/dir.html", tmpdir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(vial_template_render_malloc(app, NULL, "dir.html", NULL, &out, NULL, err,
                                          sizeof err),
                     VIAL_ENOENT);
    assert_string_equal(err, "template 'dir.html' not found (not a regular file)");
    assert_int_equal(rmdir(sub), 0);
    tmpfile_write("dots..html", "dots ok");
    render_file(app, "dots..html", "dots ok");
    render_file(app, "./dots..html", "dots ok");
    /* an empty template is an empty string, not NULL */
    tmpfile_write("empty.html", "");
    render_file(app, "empty.html", "");
    /* the setting is declared by the first template call */
    assert_non_null(vial_config(app, "templates_dir"));
    vial_app_free(app);
}

static void test_default_templates_dir(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    char *out = NULL, err[256];
    /* a fresh app looks in ./templates */
    assert_int_equal(vial_template_render_malloc(app, NULL, "surely-missing.html", NULL, &out, NULL, err,
                                          sizeof err),
                     VIAL_ENOENT);
    assert_string_equal(vial_config(app, "templates_dir"), "templates");
    vial_app_free(app);
}

static int setup_tmp(void **state)
{
    (void)state;
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown_tmp(void **state)
{
    (void)state;
    DIR *d = opendir(tmpdir);
    struct dirent *de;
    char path[600];
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", tmpdir, de->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(tmpdir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_render_response),
        cmocka_unit_test(test_filter_registration),
        cmocka_unit_test(test_debug_reload),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_api_misuse),
        cmocka_unit_test(test_default_templates_dir),
        cmocka_unit_test(test_folders),
        cmocka_unit_test(test_templates_dir_setting),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup_tmp, teardown_tmp);
}

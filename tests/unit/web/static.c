/*
 * Unit tests for src/web/static.c: static files through the test client,
 * from a temporary tree — the validators (ETag, Last-Modified) and the
 * 304s they earn (If-None-Match in all its forms, If-Modified-Since in the
 * three HTTP date formats), single byte ranges (206, 416, ignored forms,
 * If-Range), MIME types, HEAD, large files sent as file regions, and no
 * way out of the directory: "..", encoded or not, absolute or empty
 * segments, symlinks pointing outside.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static char base[] = "/tmp/vial-static-XXXXXX";
static char root[600];
static vial_app *app;
static char *big;
#define BIG_SIZE (200 * 1024)

static void put_file(const char *rel, const void *data, size_t n)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
}

static void set_mtime(const char *rel, time_t t)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    struct timespec ts[2] = { { t, 0 }, { t, 0 } };
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void symlink_in_root(const char *target, const char *rel)
{
    char path[800];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    assert_int_equal(symlink(target, path), 0);
}

/* 2021-01-01 00:00:00 UTC */
#define MTIME 1609459200
#define MTIME_HTTP "Fri, 01 Jan 2021 00:00:00 GMT"

static int h_url(vial_req *req)
{
    return vial_text(req, 200, vial_url_for(req, "static", "filename", "css/app.css", NULL));
}

static int setup(void **state)
{
    (void)state;
    if (!mkdtemp(base))
        return -1;
    snprintf(root, sizeof root, "%s/root", base);
    mkdir(root, 0755);
    char p[800];
    snprintf(p, sizeof p, "%s/css", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/sub", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/v1.2", root);
    mkdir(p, 0755);
    snprintf(p, sizeof p, "%s/outside.txt", base);
    FILE *f = fopen(p, "w");
    fputs("SECRET OUTSIDE", f);
    fclose(f);
    put_file("hello.txt", "hello world\n", 12);
    set_mtime("hello.txt", MTIME);
    put_file("css/app.css", "body{}", 6);
    put_file("UPPER.PNG", "\x89PNG", 4);
    put_file("noext", "raw", 3);
    put_file("v1.2/README", "readme", 6);
    put_file("app.webmanifest", "{}", 2);
    put_file("empty.txt", "", 0);
    big = malloc(BIG_SIZE);
    for (size_t i = 0; i < BIG_SIZE; i++)
        big[i] = (char)('a' + (i * 7) % 26);
    put_file("big.bin", big, BIG_SIZE);
    symlink_in_root("../outside.txt", "escape.txt");
    snprintf(p, sizeof p, "%s/outside.txt", base);
    symlink_in_root(p, "absolute.txt");
    symlink_in_root("../../outside.txt", "sub/up.txt");
    symlink_in_root("/etc", "etc");
    app = vial_app_new("static");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_configure(app, 0, NULL);
    if (vial_static(app, NULL, root))
        return -1;
    vial_get(app, "/url", h_url);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    vial_app_free(app);
    free(big);
    char cmd[700];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    return system(cmd) == 0 ? 0 : -1;
}

static vial_test_resp *fetch(const char *method, const char *path, const char *headers)
{
    vial_test_resp *r = vial_test(app, method, path, headers, NULL, 0);
    assert_non_null(r);
    return r;
}

static void expect_status(const char *path, const char *headers, int status)
{
    vial_test_resp *r = fetch("GET", path, headers);
    if (vial_test_status(r) != status)
        print_error("GET %s [%s]: %d\n", path, headers ? headers : "", vial_test_status(r));
    assert_int_equal(vial_test_status(r), status);
    assert_null(strstr(vial_test_body(r, NULL), "SECRET"));
    assert_null(strstr(vial_test_body(r, NULL), "root:"));
    vial_test_free(r);
}

static char *etag_of(const char *path)
{
    vial_test_resp *r = fetch("GET", path, NULL);
    char *e = strdup(vial_test_header(r, "ETag"));
    vial_test_free(r);
    return e;
}

/* ------------------------------------------------------------------ plain GET and HEAD */

static void test_get_file(void **state)
{
    (void)state;
    vial_test_resp *r = fetch("GET", "/static/hello.txt", NULL);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "hello world\n");
    assert_string_equal(vial_test_header(r, "Content-Type"), "text/plain; charset=utf-8");
    assert_string_equal(vial_test_header(r, "Content-Length"), "12");
    assert_string_equal(vial_test_header(r, "Last-Modified"), MTIME_HTTP);
    assert_string_equal(vial_test_header(r, "Cache-Control"), "no-cache");
    assert_string_equal(vial_test_header(r, "Accept-Ranges"), "bytes");
    assert_string_equal(vial_test_header(r, "X-Content-Type-Options"), "nosniff");
    const char *etag = vial_test_header(r, "ETag");
    assert_non_null(etag);
    assert_int_equal(etag[0], '"');
    assert_int_equal(etag[strlen(etag) - 1], '"');
    vial_test_free(r);
    r = fetch("GET", "/static/empty.txt", NULL);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Length"), "0");
    vial_test_free(r);
}

static void test_etag_changes_with_the_file(void **state)
{
    (void)state;
    put_file("changing.txt", "one", 3);
    set_mtime("changing.txt", MTIME);
    char *a = etag_of("/static/changing.txt");
    put_file("changing.txt", "two!", 4); /* another size */
    set_mtime("changing.txt", MTIME);
    char *b = etag_of("/static/changing.txt");
    set_mtime("changing.txt", MTIME + 1); /* another time */
    char *c = etag_of("/static/changing.txt");
    assert_string_not_equal(a, b);
    assert_string_not_equal(b, c);
    char *d = etag_of("/static/changing.txt"); /* and stays put while the file does */
    assert_string_equal(c, d);
    free(d);
    free(a);
    free(b);
    free(c);
}

static void test_mime_types(void **state)
{
    (void)state;
    static const char *const cases[][2] = {
        { "/static/css/app.css", "text/css; charset=utf-8" },
        { "/static/UPPER.PNG", "image/png" },
        { "/static/noext", "application/octet-stream" },
        { "/static/v1.2/README", "application/octet-stream" }, /* a dot in a directory name */
        { "/static/app.webmanifest", "application/manifest+json" },
        { "/static/big.bin", "application/octet-stream" },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(cases); i++) {
        vial_test_resp *r = fetch("GET", cases[i][0], NULL);
        assert_int_equal(vial_test_status(r), 200);
        assert_string_equal(vial_test_header(r, "Content-Type"), cases[i][1]);
        vial_test_free(r);
    }
}

static void test_head(void **state)
{
    (void)state;
    vial_test_resp *r = fetch("HEAD", "/static/hello.txt", NULL);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Length"), "12");
    assert_non_null(vial_test_header(r, "ETag"));
    size_t n;
    vial_test_output(r, &n);
    assert_null(strstr(vial_test_output(r, NULL), "hello world"));
    vial_test_free(r);
    /* the large-file path too: the length, no bytes */
    r = fetch("HEAD", "/static/big.bin", NULL);
    assert_int_equal(vial_test_status(r), 200);
    char want[32];
    snprintf(want, sizeof want, "%d", BIG_SIZE);
    assert_string_equal(vial_test_header(r, "Content-Length"), want);
    vial_test_output(r, &n);
    assert_true(n < 1000);
    vial_test_free(r);
}

static void test_large_file(void **state)
{
    (void)state;
    vial_test_resp *r = fetch("GET", "/static/big.bin", NULL);
    assert_int_equal(vial_test_status(r), 200);
    size_t n;
    const char *b = vial_test_body(r, &n);
    assert_int_equal(n, BIG_SIZE);
    assert_memory_equal(b, big, BIG_SIZE);
    vial_test_free(r);
}

static void test_only_get_and_head(void **state)
{
    (void)state;
    vial_test_resp *r = vial_test(app, "POST", "/static/hello.txt", NULL, "x", 1);
    assert_int_equal(vial_test_status(r), 405);
    vial_test_free(r);
}

/* ------------------------------------------------------------------ validators */

static void test_if_none_match(void **state)
{
    (void)state;
    char *etag = etag_of("/static/hello.txt");
    char h[512];
    const char *forms[] = { "%s", "W/%s", "\"other\", %s", "\"a\",%s ,\"b\"", "*" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(forms); i++) {
        char v[300];
        snprintf(v, sizeof v, forms[i], etag);
        snprintf(h, sizeof h, "If-None-Match: %s\r\n", v);
        vial_test_resp *r = fetch("GET", "/static/hello.txt", h);
        if (vial_test_status(r) != 304)
            print_error("If-None-Match: %s → %d\n", v, vial_test_status(r));
        assert_int_equal(vial_test_status(r), 304);
        assert_string_equal(vial_test_body(r, NULL), "");
        assert_string_equal(vial_test_header(r, "ETag"), etag);
        assert_null(vial_test_header(r, "Content-Length"));
        vial_test_free(r);
    }
    expect_status("/static/hello.txt", "If-None-Match: \"nope\"\r\n", 200);
    expect_status("/static/hello.txt", "If-None-Match: \"unterminated\r\n", 200);
    /* If-None-Match wins over If-Modified-Since */
    snprintf(h, sizeof h, "If-None-Match: \"nope\"\r\nIf-Modified-Since: %s\r\n",
             "Fri, 01 Jan 2100 00:00:00 GMT");
    expect_status("/static/hello.txt", h, 200);
    free(etag);
}

static void test_if_modified_since(void **state)
{
    (void)state;
    expect_status("/static/hello.txt", "If-Modified-Since: " MTIME_HTTP "\r\n", 304);
    expect_status("/static/hello.txt", "If-Modified-Since: Sat, 01 Jan 2050 00:00:00 GMT\r\n", 304);
    expect_status("/static/hello.txt", "If-Modified-Since: Thu, 31 Dec 2020 23:59:59 GMT\r\n", 200);
    /* the two obsolete formats */
    expect_status("/static/hello.txt", "If-Modified-Since: Thursday, 31-Dec-37 23:59:59 GMT\r\n", 304);
    expect_status("/static/hello.txt", "If-Modified-Since: Fri Dec 31 23:59:59 2049\r\n", 304);
    expect_status("/static/hello.txt", "If-Modified-Since: Thu Dec 31 23:59:59 2020\r\n", 200);
    /* nonsense is ignored */
    expect_status("/static/hello.txt", "If-Modified-Since: yesterday\r\n", 200);
    expect_status("/static/hello.txt", "If-Modified-Since: " MTIME_HTTP " trailing\r\n", 200);
}

/* ------------------------------------------------------------------ ranges */

static void expect_range(const char *path, const char *range, const char *body, const char *cr)
{
    char h[256];
    snprintf(h, sizeof h, "Range: %s\r\n", range);
    vial_test_resp *r = fetch("GET", path, h);
    if (vial_test_status(r) != 206)
        print_error("Range: %s → %d\n", range, vial_test_status(r));
    assert_int_equal(vial_test_status(r), 206);
    assert_string_equal(vial_test_body(r, NULL), body);
    assert_string_equal(vial_test_header(r, "Content-Range"), cr);
    char len[24];
    snprintf(len, sizeof len, "%zu", strlen(body));
    assert_string_equal(vial_test_header(r, "Content-Length"), len);
    vial_test_free(r);
}

static void test_ranges(void **state)
{
    (void)state;
    expect_range("/static/hello.txt", "bytes=0-4", "hello", "bytes 0-4/12");
    expect_range("/static/hello.txt", "bytes=6-", "world\n", "bytes 6-11/12");
    expect_range("/static/hello.txt", "bytes=-3", "ld\n", "bytes 9-11/12");
    expect_range("/static/hello.txt", "bytes=10-100", "d\n", "bytes 10-11/12");
    expect_range("/static/hello.txt", "bytes=-100", "hello world\n", "bytes 0-11/12");
    expect_range("/static/hello.txt", "bytes=11-11", "\n", "bytes 11-11/12");
}

static void test_range_of_large_file(void **state)
{
    (void)state;
    /* over 64 KiB: a file region from the offset */
    vial_test_resp *r = fetch("GET", "/static/big.bin", "Range: bytes=50000-179999\r\n");
    assert_int_equal(vial_test_status(r), 206);
    size_t n;
    const char *b = vial_test_body(r, &n);
    assert_int_equal(n, 130000);
    assert_memory_equal(b, big + 50000, 130000);
    char cr[64];
    snprintf(cr, sizeof cr, "bytes 50000-179999/%d", BIG_SIZE);
    assert_string_equal(vial_test_header(r, "Content-Range"), cr);
    vial_test_free(r);
    r = fetch("GET", "/static/big.bin", "Range: bytes=-10\r\n");
    b = vial_test_body(r, &n);
    assert_int_equal(n, 10);
    assert_memory_equal(b, big + BIG_SIZE - 10, 10);
    vial_test_free(r);
}

static void test_range_not_satisfiable(void **state)
{
    (void)state;
    static const char *const bad[] = { "bytes=12-", "bytes=12-20", "bytes=-0", "bytes=99999999999999999999-" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        char h[128];
        snprintf(h, sizeof h, "Range: %s\r\n", bad[i]);
        vial_test_resp *r = fetch("GET", "/static/hello.txt", h);
        assert_int_equal(vial_test_status(r), 416);
        assert_string_equal(vial_test_header(r, "Content-Range"), "bytes */12");
        vial_test_free(r);
    }
    vial_test_resp *r = fetch("GET", "/static/empty.txt", "Range: bytes=0-0\r\n");
    assert_int_equal(vial_test_status(r), 416);
    assert_string_equal(vial_test_header(r, "Content-Range"), "bytes */0");
    vial_test_free(r);
}

static void test_range_forms_ignored(void **state)
{
    (void)state;
    /* several ranges, backwards, other units, junk: the whole file */
    static const char *const ignored[] = { "bytes=0-1,3-4", "bytes=5-2", "items=0-1", "bytes=x-1",
                                           "bytes=1-2x", "bytes= 0-1", "bytes=-x", "bytes=-1-2" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(ignored); i++) {
        char h[128];
        snprintf(h, sizeof h, "Range: %s\r\n", ignored[i]);
        vial_test_resp *r = fetch("GET", "/static/hello.txt", h);
        if (vial_test_status(r) != 200)
            print_error("Range: %s → %d\n", ignored[i], vial_test_status(r));
        assert_int_equal(vial_test_status(r), 200);
        assert_string_equal(vial_test_body(r, NULL), "hello world\n");
        assert_null(vial_test_header(r, "Content-Range"));
        vial_test_free(r);
    }
}

static void test_if_range(void **state)
{
    (void)state;
    char *etag = etag_of("/static/hello.txt");
    char h[512];
    snprintf(h, sizeof h, "Range: bytes=0-4\r\nIf-Range: %s\r\n", etag);
    vial_test_resp *r = fetch("GET", "/static/hello.txt", h);
    assert_int_equal(vial_test_status(r), 206);
    vial_test_free(r);
    /* the client's copy is another version: the whole file */
    r = fetch("GET", "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: \"old\"\r\n");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "hello world\n");
    vial_test_free(r);
    r = fetch("GET", "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: W/\"weak\"\r\n");
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    r = fetch("GET", "/static/hello.txt", "Range: bytes=0-4\r\nIf-Range: " MTIME_HTTP "\r\n");
    assert_int_equal(vial_test_status(r), 206);
    vial_test_free(r);
    r = fetch("GET", "/static/hello.txt",
              "Range: bytes=0-4\r\nIf-Range: Thu, 31 Dec 2020 00:00:00 GMT\r\n");
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    /* a date matches only exactly (RFC 9110 13.1.5): a later one is not this version's */
    r = fetch("GET", "/static/hello.txt",
              "Range: bytes=0-4\r\nIf-Range: Sat, 02 Jan 2021 00:00:00 GMT\r\n");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "hello world\n");
    vial_test_free(r);
    r = fetch("GET", "/static/hello.txt",
              "Range: bytes=0-4\r\nIf-Range: Fri, 01 Jan 2021 00:00:01 GMT\r\n");
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    /* the same instant in the obsolete formats is the same date */
    r = fetch("GET", "/static/hello.txt",
              "Range: bytes=0-4\r\nIf-Range: Friday, 01-Jan-21 00:00:00 GMT\r\n");
    assert_int_equal(vial_test_status(r), 206);
    vial_test_free(r);
    /* and a fresh cache beats a range */
    snprintf(h, sizeof h, "Range: bytes=0-4\r\nIf-None-Match: %s\r\n", etag);
    r = fetch("GET", "/static/hello.txt", h);
    assert_int_equal(vial_test_status(r), 304);
    vial_test_free(r);
    free(etag);
}

/* ------------------------------------------------------------------ staying inside */

static void test_traversal_refused(void **state)
{
    (void)state;
    static const char *const paths[] = {
        "/static/../outside.txt",       "/static/%2e%2e/outside.txt",  "/static/%2E%2E/outside.txt",
        "/static/..%2Foutside.txt",     "/static/..%2foutside.txt",    "/static/css/../hello.txt",
        "/static/css/%2e%2e/../outside.txt", "/static/./hello.txt", "/static/%2e/hello.txt",
        "/static//etc/passwd",          "/static/%2Fetc%2Fpasswd",     "/static/css//app.css",
        "/static/sub/..",               "/static/..",                   "/static/hello.txt/",
        "/static/css/..%2Fhello.txt",
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(paths); i++)
        expect_status(paths[i], NULL, 404); /* never the file outside (checked there) */
}

static void test_symlinks_out_refused(void **state)
{
    (void)state;
    expect_status("/static/escape.txt", NULL, 404);   /* ../outside.txt */
    expect_status("/static/absolute.txt", NULL, 404); /* an absolute path */
    expect_status("/static/sub/up.txt", NULL, 404);   /* ../../outside.txt, one level down */
    expect_status("/static/etc/passwd", NULL, 404);   /* through a linked directory */
}

static void test_not_files(void **state)
{
    (void)state;
    expect_status("/static/css", NULL, 404);
    expect_status("/static/nope.txt", NULL, 404);
    expect_status("/static/css/nope.css", NULL, 404);
    expect_status("/static/", NULL, 404);
    expect_status("/static/hello.txt%00.png", NULL, 400);
}

/* A FIFO in the static directory: opening it for reading would wait for a
 * writer forever, so it is opened non-blocking and refused as no file. */
static void test_fifo_is_404(void **state)
{
    (void)state;
    char p[800];
    snprintf(p, sizeof p, "%s/pipe", root);
    assert_int_equal(mkfifo(p, 0644), 0);
    expect_status("/static/pipe", NULL, 404);
    unlink(p);
}

/* ------------------------------------------------------------------ mounting */

static void test_url_for_static(void **state)
{
    (void)state;
    expect(app, "GET", "/url", 200, "/static/css/app.css");
}

static void test_mount_rules(void **state)
{
    (void)state;
    assert_int_equal(vial_static(NULL, NULL, root), VIAL_EINVAL);
    assert_int_equal(vial_static(app, "/again", root), VIAL_EEXIST); /* one mount per app */
}

static int h_url2(vial_req *req)
{
    return vial_text(req, 200, vial_url_for(req, "static", "filename", "a b.txt", NULL));
}

static void test_prefix_dir_setting_and_cache_control(void **state)
{
    (void)state;
    vial_app *a = vial_app_new("static2");
    vial_config_set(a, "access_log", "off");
    vial_config_set(a, "static_dir", root); /* the setting, not an argument */
    vial_config_set(a, "static_cache_control", "public, max-age=60");
    vial_configure(a, 0, NULL);
    assert_int_equal(vial_static(a, "/assets", NULL), 0);
    vial_get(a, "/url", h_url2);
    vial_test_resp *r = vial_test(a, "GET", "/assets/hello.txt", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Cache-Control"), "public, max-age=60");
    vial_test_free(r);
    r = vial_test(a, "GET", "/static/hello.txt", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 404);
    vial_test_free(r);
    expect(a, "GET", "/url", 200, "/assets/a%20b.txt");
    vial_app_free(a);
}

static void test_missing_directory(void **state)
{
    (void)state;
    vial_app *a = vial_app_new("static3");
    vial_config_set(a, "access_log", "off");
    vial_config_set(a, "log_level", "error"); /* the missing directory is a warning */
    vial_configure(a, 0, NULL);
    assert_int_equal(vial_static(a, NULL, "/nonexistent/vial/static"), 0);
    vial_test_resp *r = vial_test(a, "GET", "/static/hello.txt", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 404);
    vial_test_free(r);
    vial_app_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_file),
        cmocka_unit_test(test_etag_changes_with_the_file),
        cmocka_unit_test(test_mime_types),
        cmocka_unit_test(test_head),
        cmocka_unit_test(test_large_file),
        cmocka_unit_test(test_only_get_and_head),
        cmocka_unit_test(test_if_none_match),
        cmocka_unit_test(test_if_modified_since),
        cmocka_unit_test(test_ranges),
        cmocka_unit_test(test_range_of_large_file),
        cmocka_unit_test(test_range_not_satisfiable),
        cmocka_unit_test(test_range_forms_ignored),
        cmocka_unit_test(test_if_range),
        cmocka_unit_test(test_traversal_refused),
        cmocka_unit_test(test_symlinks_out_refused),
        cmocka_unit_test(test_not_files),
        cmocka_unit_test(test_fifo_is_404),
        cmocka_unit_test(test_url_for_static),
        cmocka_unit_test(test_mount_rules),
        cmocka_unit_test(test_prefix_dir_setting_and_cache_control),
        cmocka_unit_test(test_missing_directory),
    };
    return cmocka_run_group_tests_name(VIAL_TEST_NAME, tests, setup, teardown);
}

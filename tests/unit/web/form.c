/* Unit tests for src/web/form.c (and the spooling of multipart bodies in
 * src/core/http.c): urlencoded and multipart fields, uploads, limits. */
#include "unit.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char saved_path[64];

static int h_form(vial_req *req)
{
    if (vial_form_error(req))
        return vial_abort(req, 400, vial_form_error(req));
    const char *vals[4];
    size_t n = vial_forms(req, "tag", vals, 4);
    const vial_upload *u = vial_upload_get(req, "doc");
    if (u) {
        int rc = vial_upload_save(req, u, saved_path);
        if (rc)
            return vial_abortf(req, 500, "save: %s", vial_strerror(rc));
    }
    return vial_textf(req, 200, "name=%s tags=%zu:%s,%s file=%s/%s/%s/%" PRIu64 " data=%.*s",
                      vial_form(req, "name"), n, n > 0 ? vals[0] : "", n > 1 ? vals[1] : "",
                      u ? u->field : "-", u ? u->filename : "-", u ? u->content_type : "-",
                      u ? u->size : 0, u ? (int)u->size : 0, u ? vial_upload_data(req, u) : "");
}

static vial_app *make(void)
{
    vial_app *app = vial_app_new("t");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "max_upload", "2K");
    vial_configure(app, 0, NULL);
    vial_post(app, "/f", h_form);
    return app;
}

static void test_urlencoded(void **state)
{
    (void)state;
    vial_app *app = make();
    const char *b = "name=Zo%C3%AB+B&tag=a&tag=b%26c";
    vial_test_resp *r = vial_test(app, "POST", "/f", "Content-Type: application/x-www-form-urlencoded\r\n",
                                  b, strlen(b));
    assert_string_equal(vial_test_body(r, NULL),
                        "name=Zo\xc3\xab B tags=2:a,b&c file=-/-/-/0 data=");
    vial_test_free(r);
    r = vial_test(app, "POST", "/f", "Content-Type: text/plain\r\n", "x", 1);
    assert_int_equal(vial_test_status(r), 400);
    vial_test_free(r);
    vial_app_free(app);
}

static void test_multipart_upload(void **state)
{
    (void)state;
    snprintf(saved_path, sizeof saved_path, "/tmp/vial-upload-test-%d", (int)getpid());
    unlink(saved_path);
    vial_app *app = make();
    const char *b = "preamble\r\n--XyZ\r\n"
                    "Content-Disposition: form-data; name=\"name\"\r\n\r\n"
                    "ann\r\n--XyZ\r\n"
                    "Content-Disposition: form-data; name=\"tag\"\r\n\r\nt1\r\n--XyZ\r\n"
                    "Content-Disposition: form-data; name=\"doc\"; filename=\"../../etc/evil name.txt\"\r\n"
                    "Content-Type: text/csv\r\n\r\n"
                    "a,b\r\n1,2\r\n--XyZ--\r\nepilogue";
    vial_test_resp *r = vial_test(app, "POST", "/f", "Content-Type: multipart/form-data; boundary=XyZ\r\n",
                                  b, strlen(b));
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL),
                        "name=ann tags=1:t1, file=doc/evil name.txt/text/csv/8 data=a,b\r\n1,2");
    vial_test_free(r);
    struct stat st;
    assert_int_equal(stat(saved_path, &st), 0);
    assert_int_equal(st.st_size, 8);
    /* saving twice refuses to overwrite */
    r = vial_test(app, "POST", "/f", "Content-Type: multipart/form-data; boundary=XyZ\r\n", b, strlen(b));
    assert_int_equal(vial_test_status(r), 500);
    vial_test_free(r);
    unlink(saved_path);
    vial_app_free(app);
}

static void test_multipart_errors_and_limits(void **state)
{
    (void)state;
    vial_app *app = make();
    const char *bad[] = {
        "--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nno end",
        "nothing here",
        "--XyZ\r\nContent-Disposition: form-data\r\n\r\nx\r\n--XyZ--",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        vial_test_resp *r = vial_test(app, "POST", "/f", "Content-Type: multipart/form-data; boundary=XyZ\r\n",
                                      bad[i], strlen(bad[i]));
        assert_int_equal(vial_test_status(r), 400);
        vial_test_free(r);
    }
    vial_test_resp *r = vial_test(app, "POST", "/f", "Content-Type: multipart/form-data\r\n", "x", 1);
    assert_int_equal(vial_test_status(r), 400); /* no boundary */
    vial_test_free(r);
    /* over max_upload (2K): refused before the body is read */
    char *big = malloc(5000);
    memset(big, 'x', 5000);
    r = vial_test(app, "POST", "/f", "Content-Type: multipart/form-data; boundary=XyZ\r\n", big, 5000);
    assert_int_equal(vial_test_status(r), 413);
    vial_test_free(r);
    /* and chunked, counted as it arrives */
    vial__buf raw = { 0 };
    vial__buf_puts(&raw, "POST /f HTTP/1.1\r\nHost: t\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++) {
        vial__buf_puts(&raw, "3e8\r\n");
        vial__buf_append(&raw, big, 1000);
        vial__buf_puts(&raw, "\r\n");
    }
    vial__buf_puts(&raw, "0\r\n\r\n");
    r = vial_test_raw(app, raw.p, raw.n);
    assert_int_equal(vial_test_status(r), 413);
    vial_test_free(r);
    vial__buf_free(&raw);
    free(big);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urlencoded),
        cmocka_unit_test(test_multipart_upload),
        cmocka_unit_test(test_multipart_errors_and_limits),
    };
    return RUN_GROUP(tests);
}

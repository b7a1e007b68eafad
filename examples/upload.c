/*
 * upload.c — file uploads: a form, multipart bodies saved to a folder, the files served back.
 *
 *   ./build/examples/upload                   # files go to data/uploads (--static-dir DIR)
 *   curl -F 'file=@photo.jpg' localhost:5000/upload   # 201 {"filename": "photo.jpg", "url": ...}
 *   curl localhost:5000/uploads/photo.jpg
 *
 * Multipart bodies stream to an unlinked temporary file while they arrive (up to max_upload,
 * 100M by default: 413 above), so a large upload never sits in memory.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <vial.h>

static const char form[] =
    "<!doctype html><title>Upload</title>"
    "<form method=post action=upload enctype=multipart/form-data>"
    "<input type=file name=file> <button>Upload</button></form>";

static int home(vial_req *req)
{
    return vial_html(req, 200, form);
}

/* Names we are willing to store: letters, digits, '-', '_' and inner dots (no "..", no
 * hidden files), at most 100 bytes. */
static int safe_name(const char *s)
{
    size_t n = strlen(s);
    if (!n || n > 100 || s[0] == '.' || strstr(s, ".."))
        return 0;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == n;
}

static int upload(vial_req *req)
{
    const vial_upload *u = vial_upload_get(req, "file");
    if (!u)
        return vial_abort(req, 400, vial_form_error(req) ? vial_form_error(req) : "no file in field 'file'");
    if (!safe_name(u->filename))
        return vial_abort(req, 400, "file names are letters, digits, '-', '_' and '.'");
    const char *dir = vial_config(vial_app_of(req), "static_dir");
    int rc = vial_upload_save(req, u, vial_sprintf(req, "%s/%s", dir, u->filename));
    if (rc == VIAL_EEXIST)
        return vial_abortf(req, 409, "%s exists already", u->filename);
    if (rc)
        return rc; /* 500, logged */
    const char *url = vial_url_for(req, "static", "filename", u->filename, NULL);
    vial_set_header(req, "Location", url);
    return vial_json_take(req, 201, json_pack("{s:s, s:I, s:s?, s:s}", "filename", u->filename,
                                              "size", (json_int_t)u->size, "content_type",
                                              u->content_type, "url", url));
}

/* Creates the folder and its parents (mkdir -p). */
static int make_folder(vial_app *app)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", vial_config(app, "static_dir"));
    for (char *p = path + 1;; p++) {
        char c = *p;
        if (c && c != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) && errno != EEXIST) {
            vial_log(VIAL_LOG_ERROR, "cannot create %s: %s", path, strerror(errno));
            return 1;
        }
        if (!c)
            return 0;
        *p = c;
    }
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("upload");
    vial_on_start(app, make_folder);                     /* before vial_static opens it */
    vial_static(app, "/uploads", NULL);                  /* serves the static_dir setting */
    vial_config_default(app, "static_dir", "data/uploads");
    vial_get(app, "/", home);
    vial_post(app, "/upload", upload);
    return vial_main(app, argc, argv);
}

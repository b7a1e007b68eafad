/*
 * static.c — static files: /static/... from a directory, with validators
 * (ETag, Last-Modified → 304), byte ranges (206/416), MIME types and
 * sendfile for large bodies.
 *
 * Path traversal is impossible by construction, not by filtering: the
 * directory is opened once, and every file is opened relative to it with
 * openat2(RESOLVE_BENEATH), which the kernel refuses for any path — "..",
 * an absolute symlink, a symlink climbing out — that would leave the tree.
 * Where openat2 is missing (kernels before 5.6) each component is opened
 * with O_NOFOLLOW instead, refusing symlinks altogether.  ".." and "."
 * segments are rejected before either, so a refusal is always a plain 404.
 */
#include "web.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define SMALL_FILE (64 * 1024) /* read into memory below this, sendfile above */

typedef struct staticmod {
    char *dir;
    int root; /* O_PATH descriptor of the directory, -1 if missing */
    char *cache_control;
} staticmod;

static const char ext_key = 0;

static void staticmod_free(void *p)
{
    staticmod *m = p;
    if (m->root >= 0)
        close(m->root);
    free(m->dir);
    free(m->cache_control);
    free(m);
}

static const struct {
    const char *ext, *type;
} mime[] = {
    { "html", "text/html; charset=utf-8" },  { "htm", "text/html; charset=utf-8" },
    { "css", "text/css; charset=utf-8" },    { "js", "text/javascript; charset=utf-8" },
    { "mjs", "text/javascript; charset=utf-8" }, { "json", "application/json" },
    { "map", "application/json" },           { "txt", "text/plain; charset=utf-8" },
    { "csv", "text/csv; charset=utf-8" },    { "xml", "application/xml" },
    { "svg", "image/svg+xml" },              { "png", "image/png" },
    { "jpg", "image/jpeg" },                 { "jpeg", "image/jpeg" },
    { "gif", "image/gif" },                  { "webp", "image/webp" },
    { "avif", "image/avif" },                { "ico", "image/x-icon" },
    { "woff", "font/woff" },                 { "woff2", "font/woff2" },
    { "ttf", "font/ttf" },                   { "otf", "font/otf" },
    { "wasm", "application/wasm" },          { "pdf", "application/pdf" },
    { "zip", "application/zip" },            { "gz", "application/gzip" },
    { "mp4", "video/mp4" },                  { "webm", "video/webm" },
    { "mp3", "audio/mpeg" },                 { "ogg", "audio/ogg" },
    { "wav", "audio/wav" },                  { "webmanifest", "application/manifest+json" },
};

static const char *mime_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    const char *slash = strrchr(name, '/');
    if (!dot || (slash && dot < slash))
        return "application/octet-stream";
    for (size_t i = 0; i < VIAL__ARRAY_LEN(mime); i++)
        if (!strcasecmp(dot + 1, mime[i].ext))
            return mime[i].type;
    return "application/octet-stream";
}

/* No empty, "." or ".." segments, nothing absolute. */
static bool clean_path(const char *p)
{
    if (!*p || *p == '/')
        return false;
    for (const char *s = p; *s;) {
        const char *e = strchr(s, '/');
        size_t n = e ? (size_t)(e - s) : strlen(s);
        if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
            return false;
        if (!e)
            break;
        s = e + 1;
    }
    return true;
}

/* openat without openat2: one component at a time, never following links. */
static int open_walk(int root, const char *path)
{
    char *copy = strdup(path);
    if (!copy)
        return -1;
    int dir = root;
    char *save = NULL;
    int fd = -1;
    for (char *seg = strtok_r(copy, "/", &save); seg; seg = strtok_r(NULL, "/", &save)) {
        bool last = save == NULL || *save == '\0';
        int next = openat(dir, seg, (last ? O_RDONLY | O_NONBLOCK : O_PATH | O_DIRECTORY) | O_NOFOLLOW |
                                        O_CLOEXEC);
        if (dir != root)
            close(dir);
        if (next < 0)
            break;
        if (last) {
            fd = next;
            break;
        }
        dir = next;
    }
    free(copy);
    return fd;
}

static int open_beneath(int root, const char *path)
{
    static atomic_int no_openat2;
    if (!atomic_load_explicit(&no_openat2, memory_order_relaxed)) {
        /* O_NONBLOCK: opening a FIFO (or a device) someone left in the
         * directory must not block the worker; it is refused right after,
         * as not a regular file.  Regular files ignore the flag. */
        struct open_how how = { .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
                                .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS };
        long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
        if (fd >= 0 || errno != ENOSYS)
            return (int)fd;
        atomic_store(&no_openat2, 1);
    }
    return open_walk(root, path);
}

static void http_date(time_t t, char out[40])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 40, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

/* RFC 9110 HTTP-date (IMF-fixdate; the two obsolete forms too). */
static bool parse_http_date(const char *s, time_t *out)
{
    struct tm tm;
    static const char *const formats[] = { "%a, %d %b %Y %H:%M:%S GMT", "%A, %d-%b-%y %H:%M:%S GMT",
                                           "%a %b %e %H:%M:%S %Y" };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(formats); i++) {
        memset(&tm, 0, sizeof tm);
        const char *end = strptime(s, formats[i], &tm);
        if (end && *end == '\0') {
            *out = timegm(&tm);
            return true;
        }
    }
    return false;
}

/* If-None-Match: a list of entity tags or "*"; weak comparison (RFC 9110
 * 13.1.2). */
static bool etag_matches(const char *header, const char *etag)
{
    const char *want = etag[0] == 'W' ? etag + 2 : etag;
    size_t wn = strlen(want);
    for (const char *p = header; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (*p == '*')
            return true;
        if (p[0] == 'W' && p[1] == '/')
            p += 2;
        const char *e = p;
        if (*e == '"') {
            e = strchr(e + 1, '"');
            if (!e)
                return false;
            e++;
        } else {
            while (*e && *e != ',')
                e++;
        }
        if ((size_t)(e - p) == wn && !memcmp(p, want, wn))
            return true;
        p = e;
    }
    return false;
}

/* "bytes=a-b" | "bytes=a-" | "bytes=-n", one range.  Returns 1 and the
 * range, 0 when the header should be ignored (unsupported forms, several
 * ranges), -1 when unsatisfiable. */
static int parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
    if (strncmp(h, "bytes=", 6))
        return 0;
    const char *p = h + 6;
    if (strchr(p, ','))
        return 0; /* multipart/byteranges is not offered: send the whole file */
    char *end;
    if (*p == '-') {
        if (p[1] < '0' || p[1] > '9')
            return 0;
        unsigned long long n = strtoull(p + 1, &end, 10);
        if (*end)
            return 0;
        if (n == 0 || size == 0)
            return -1;
        *from = n >= size ? 0 : size - n;
        *to = size - 1;
        return 1;
    }
    if (*p < '0' || *p > '9')
        return 0;
    unsigned long long a = strtoull(p, &end, 10);
    if (*end != '-')
        return 0;
    p = end + 1;
    unsigned long long b = size ? size - 1 : 0;
    if (*p) {
        if (*p < '0' || *p > '9')
            return 0;
        b = strtoull(p, &end, 10);
        if (*end || b < a)
            return 0;
    }
    if (a >= size)
        return -1;
    *from = a;
    *to = b >= size ? size - 1 : b;
    return 1;
}

static int serve(vial_req *req)
{
    staticmod *m = vial__app_ext(req->app, &ext_key);
    const char *name = vial_param(req, "filename");
    if (!m || m->root < 0 || !name || !clean_path(name))
        return vial_abort(req, 404, "no such file");
    int fd = open_beneath(m->root, name);
    if (fd < 0)
        return vial_abort(req, 404, "no such file");
    struct stat st;
    if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
        close(fd);
        return vial_abort(req, 404, "no such file");
    }
    char etag[80], lastmod[40];
    snprintf(etag, sizeof etag, "\"%llx-%llx-%llx\"", (unsigned long long)st.st_ino,
             (unsigned long long)st.st_size,
             (unsigned long long)st.st_mtim.tv_sec * 1000000000ull + (unsigned long long)st.st_mtim.tv_nsec);
    http_date(st.st_mtime, lastmod);
    const char *type = mime_of(name);

    /* Validators first: a fresh cache needs no body at all. */
    const char *inm = vial_header(req, "if-none-match");
    const char *ims = vial_header(req, "if-modified-since");
    time_t since;
    bool not_modified = inm ? etag_matches(inm, etag)
                            : ims && parse_http_date(ims, &since) && st.st_mtime <= since;
    uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
    int status = 200;
    const char *range = vial_header(req, "range");
    if (!not_modified && range && (req->m.method_bit == VIAL_GET || req->m.method_bit == VIAL_HEAD)) {
        /* If-Range: the range only holds for the version the client has.
         * A date names a version only when it is exactly its Last-Modified
         * (RFC 9110 13.1.5): a file can go back to an older mtime (a deploy
         * that keeps mtimes), and a client holding the later version would
         * splice two files. */
        const char *ir = vial_header(req, "if-range");
        time_t ird;
        bool same = !ir || !strcmp(ir, etag) ||
                    (ir[0] != '"' && ir[0] != 'W' && parse_http_date(ir, &ird) && st.st_mtime == ird);
        int pr = same ? parse_range(range, size, &from, &to) : 0;
        if (pr < 0) {
            close(fd);
            char cr[48];
            snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
            vial_abortf(req, 416, "the range is outside the file (%llu bytes)", (unsigned long long)size);
            vial_set_header(req, "Content-Range", cr);
            return 0;
        }
        if (pr > 0)
            status = 206;
    }
    int rc;
    if (not_modified) {
        close(fd);
        rc = vial_send(req, 304, NULL, NULL, 0);
    } else {
        uint64_t len = size ? to - from + 1 : 0;
        if (len <= SMALL_FILE) {
            char *buf = vial_alloc(req, len ? len : 1);
            ssize_t got = buf ? pread(fd, buf, len, (off_t)from) : -1;
            close(fd);
            if (got < 0 || (uint64_t)got != len)
                return vial_abort(req, 500, "cannot read the file");
            rc = vial_send_static(req, status, type, buf, len);
        } else {
            rc = vial__resp_file(req, status, type, fd, from, len);
        }
        if (!rc && status == 206) {
            char cr[80];
            snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
                     (unsigned long long)to, (unsigned long long)size);
            rc = vial_set_header(req, "Content-Range", cr);
        }
    }
    if (rc)
        return rc;
    vial_set_header(req, "ETag", etag);
    vial_set_header(req, "Last-Modified", lastmod);
    vial_set_header(req, "Cache-Control", m->cache_control);
    vial_set_header(req, "Accept-Ranges", "bytes");
    vial_set_header(req, "X-Content-Type-Options", "nosniff");
    return 0;
}

static int static_start(vial_app *app)
{
    staticmod *m = vial__app_ext(app, &ext_key);
    const char *dir = m->dir ? m->dir : vial_config(app, "static_dir");
    free(m->cache_control);
    m->cache_control = strdup(vial_config(app, "static_cache_control"));
    if (!m->cache_control)
        return VIAL_ENOMEM;
    if (m->root >= 0)
        close(m->root);
    m->root = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    const char *cmd = vial_app_command(app);
    if (m->root < 0 && (!cmd || !strcmp(cmd, "run")))
        vial_log(VIAL_LOG_WARN, "static files: cannot open %s (%s): /static answers 404", dir,
                 strerror(errno));
    return 0;
}

static const vial_doc static_doc = {
    .summary = "Static files",
    .description = "A file under static_dir, with ETag / Last-Modified revalidation (304) and "
                   "single byte ranges (206).",
    .params = (const vial_field[]){
        VIAL_FIELD("filename", VIAL_F_STRING, 0, .doc = "a path under static_dir; nothing outside it"),
        VIAL_FIELD_END },
    .responses = (const vial_response_doc[]){
        { 200, "the file, its media type from its extension", NULL, NULL, "application/octet-stream" },
        { 206, "the byte range asked for (Range)", NULL, NULL, "application/octet-stream" },
        { 304, "not modified since the ETag or date the client has", NULL, NULL, NULL },
        { 404, "no such file", NULL, NULL, NULL },
        { 416, "a range outside the file", NULL, NULL, NULL },
        { 0, NULL, NULL, NULL, NULL } },
    .security = "",
};

int vial_static(vial_app *app, const char *url_prefix, const char *dir)
{
    if (!app)
        return VIAL_EINVAL;
    if (vial__app_ext(app, &ext_key))
        return VIAL_EEXIST; /* one static mount per app */
    staticmod *m = calloc(1, sizeof *m);
    if (!m)
        return VIAL_ENOMEM;
    m->root = -1;
    if (dir && !(m->dir = strdup(dir))) {
        free(m);
        return VIAL_ENOMEM;
    }
    int rc = vial__app_ext_set(app, &ext_key, m, staticmod_free);
    if (rc) {
        free(m->dir);
        free(m);
        return rc;
    }
    if ((rc = vial_config_define(app, "static_dir", "static", "directory served at /static")) ||
        (rc = vial_config_define(app, "static_cache_control", "no-cache",
                                 "Cache-Control of static files (e.g. public, max-age=86400)")) ||
        (rc = vial_on_start(app, static_start)))
        return rc;
    char pattern[256];
    snprintf(pattern, sizeof pattern, "%s/<path:filename>", url_prefix ? url_prefix : "/static");
    return vial_route_add(vial_app_bp(app), VIAL_GET, pattern, serve,
                          &(vial_route_opts){ .endpoint = "static", .doc = &static_doc });
}

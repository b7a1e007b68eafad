/*
 * http_fuzz.c — arbitrary bytes through parse + route + respond.
 *
 * Input: byte 0 is a control byte; the rest is what a client sends on one
 * connection (requests, pipelined or not, valid or not).  Every input runs
 * twice against the same app:
 *
 *  1. vial_test_raw(): the public in-process test client, the whole buffer
 *     in one read.
 *  2. the same HTTP/1.1 session (src/http/h1.c, through vial__h1_proto)
 *     driven by a fuzz transport that mimics src/loop/conn.c: the bytes arrive in pieces whose sizes come from the control
 *     byte (one split, byte by byte, or pseudo-random chunks), writes can be
 *     deferred and partial (so output piles up and reading pauses on
 *     max_pending_output), idle buffers are trimmed, and the connection ends
 *     with EOF or a header/body timeout.
 *
 * Beyond what ASan/UBSan catch, two properties are checked (abort() on a
 * violation, so libFuzzer keeps the input):
 *  - split invariance: run 2 writes exactly what run 1 wrote (Date and
 *    X-Request-Id values aside).  How the bytes were cut into reads must
 *    never change a response; a difference means a span, offset or
 *    compaction went wrong in h1.c.
 *  - well-formed output: cut at the boundaries the session reports, each
 *    response parses with llhttp as exactly one final response (after any
 *    100 Continue), so nothing a client sends or a handler echoes can split
 *    or corrupt the response stream.
 *
 *  - confinement: no static-file response ever shows the file that sits
 *    next to the static root (symlinks inside the root point at it).
 *
 * The app has routes for every converter, a blueprint with a nested one,
 * hooks and error handlers, JSON in and out, redirects and url_for, aborts,
 * streams, large bodies, cookies and headers from the query, forms and
 * multipart uploads, and static files (ranges, conditionals, sendfile).
 * Limits are set small (max_body 4K, max_upload 8K, headers 2K/16, URI 512,
 * pending output 4K) so every limit path is reachable with short inputs.
 */
#include "core/core.h"

#include <llhttp.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vial_app *app;
static vial__worker *worker; /* run 2's worker (run 1 uses the test client's) */
static vial__pool pool;      /* and its block pool */
static vial__handler fuzz_handler; /* vial__core_handler, marking each response done */
static void fz_done(void *ud, vial__msg *m);

/* Bytes the big and streaming handlers may still produce in this run, so a
 * hundred pipelined /stream requests cannot make one input take seconds.
 * Both runs start from the same budget and spend it identically. */
static size_t budget;
/* Set when a stream callback aborted: the response is truncated on purpose. */
static bool stream_aborted;

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "http_fuzz: " __VA_ARGS__);                                            \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

/* ------------------------------------------------------------------ handlers */

static int64_t arg_int(vial_req *req, const char *name, int64_t def, int64_t lo, int64_t hi)
{
    const char *v = vial_arg(req, name);
    if (!v)
        return def;
    int64_t x = strtoll(v, NULL, 10);
    return x < lo ? lo : x > hi ? hi : x;
}

static size_t spend(size_t want)
{
    if (want > budget)
        want = budget;
    budget -= want;
    return want;
}

static int h_index(vial_req *req)
{
    return vial_text(req, 200, "hello");
}

static int h_user(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, vial_param_int(req, "id"));
    vial_jw_key(w, "raw");
    vial_jw_str(w, vial_param(req, "id"));
    vial_jw_key(w, "name");
    vial_jw_str(w, vial_arg(req, "name"));
    const char *names[4];
    size_t n = vial_args(req, "name", names, 4);
    vial_jw_key(w, "names");
    vial_jw_array(w);
    for (size_t i = 0; i < n && i < 4; i++)
        vial_jw_str(w, names[i]);
    vial_jw_end(w);
    vial_jw_key(w, "count");
    vial_jw_int(w, (int64_t)n);
    vial_jw_key(w, "ua");
    vial_jw_str(w, vial_header(req, "user-agent"));
    vial_jw_key(w, "session");
    vial_jw_str(w, vial_cookie(req, "session"));
    vial_jw_key(w, "self");
    const char *q = vial_arg(req, "q");
    vial_jw_str(w, vial_url_for(req, "h_user", "id", vial_param(req, "id"), "q", q ? q : "", NULL));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int h_price(vial_req *req)
{
    return vial_textf(req, 200, "%.17g %s\n", vial_param_float(req, "x"), vial_param(req, "x"));
}

static int h_obj(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "oid");
    vial_jw_str(w, vial_param(req, "oid"));
    vial_jw_key(w, "method");
    vial_jw_str(w, vial_method(req));
    vial_jw_key(w, "x");
    vial_jw_double(w, vial_param_float(req, "oid")); /* not a float param: 0.0 */
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int h_files(vial_req *req)
{
    const char *rest = vial_param(req, "rest");
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "rest");
    vial_jw_str(w, rest);
    vial_jw_key(w, "path");
    vial_jw_str(w, vial_path(req));
    vial_jw_key(w, "target");
    vial_jw_str(w, vial_target(req));
    vial_jw_key(w, "endpoint");
    vial_jw_str(w, vial_endpoint(req));
    vial_jw_key(w, "url");
    vial_jw_str(w, vial_url_for(req, "h_files", "rest", rest, NULL));
    vial_jw_key(w, "enc");
    vial_jw_str(w, vial_url_encode(req, rest));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int h_files_edit(vial_req *req)
{
    return vial_textf(req, 200, "edit %s\n", vial_param(req, "rest"));
}

static int h_echo(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "method");
    vial_jw_str(w, vial_method(req));
    vial_jw_key(w, "path");
    vial_jw_str(w, vial_path(req));
    vial_jw_key(w, "target");
    vial_jw_str(w, vial_target(req));
    vial_jw_key(w, "client");
    vial_jw_str(w, vial_client_addr(req));
    vial_jw_key(w, "worker");
    vial_jw_int(w, vial_worker_id(req));
    vial_jw_key(w, "name");
    vial_jw_str(w, vial_param(req, "name"));
    vial_jw_key(w, "nope");
    vial_jw_str(w, vial_param(req, "nope"));
    vial_jw_key(w, "headers");
    vial_jw_array(w);
    const char *hn, *hv;
    for (size_t i = 0; vial_header_at(req, i, &hn, &hv); i++) {
        vial_jw_array(w);
        vial_jw_str(w, hn);
        vial_jw_str(w, hv);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "joined");
    vial_jw_str(w, vial_header(req, "x-multi"));
    vial_jw_key(w, "args");
    vial_jw_object(w);
    static const char *const keys[] = { "a", "b", "q", "" };
    for (size_t k = 0; k < VIAL__ARRAY_LEN(keys); k++) {
        const char *vals[3];
        size_t n = vial_args(req, keys[k], vals, 3);
        vial_jw_key(w, keys[k]);
        vial_jw_array(w);
        for (size_t i = 0; i < n && i < 3; i++)
            vial_jw_str(w, vals[i]);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "cookies");
    vial_jw_object(w);
    const char *cn = vial_arg(req, "c");
    vial_jw_key(w, "session");
    vial_jw_str(w, vial_cookie(req, "session"));
    vial_jw_key(w, "named");
    vial_jw_str(w, cn ? vial_cookie(req, cn) : NULL);
    vial_jw_end(w);
    size_t blen;
    const char *body = vial_body(req, &blen);
    vial_jw_key(w, "body");
    vial_jw_strn(w, body, blen);
    const char *ct = vial_header(req, "content-type");
    if (ct && strstr(ct, "json")) {
        json_t *j = vial_body_json(req);
        vial_jw_key(w, "json");
        if (j)
            vial_jw_value(w, j);
        else
            vial_jw_str(w, vial_body_json_error(req));
        vial_jw_key(w, "again");
        vial_jw_bool(w, vial_body_json(req) == j); /* cached */
    }
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int h_json(vial_req *req)
{
    json_t *j = vial_body_json(req);
    if (!j)
        return vial_abort_json(req, 400, vial_body_json_error(req),
                               json_pack("{s:s, s:i}", "hint", "send JSON", "code", 7));
    return vial_json(req, 200, j);
}

static int h_go(vial_req *req)
{
    const char *to = vial_arg(req, "to"), *id = vial_arg(req, "id"), *rest = vial_arg(req, "rest");
    const char *url = vial_url_for(req, to ? to : "h_index", "id", id ? id : "1", "rest",
                                   rest ? rest : "x", "filename", rest ? rest : "a.txt", "extra",
                                   vial_arg(req, "extra") ? "1" : "", NULL);
    if (!url)
        return vial_abortf(req, 404, "no URL for '%s'", to ? to : "");
    static const int codes[] = { 301, 302, 303, 307, 308, 200 };
    int code = codes[arg_int(req, "s", 1, 0, 5)];
    int rc = vial_redirect(req, code, url);
    return rc == VIAL_EINVAL ? vial_text(req, 400, "bad redirect") : rc;
}

static int h_abort(vial_req *req)
{
    int64_t code = vial_param_int(req, "code");
    const char *m = vial_arg(req, "m");
    switch (code) {
    case 0: return -1;                /* handler failure: 500 */
    case 1: return 0;                 /* no response: 500 */
    case 2: {                         /* unbalanced JSON: 500 */
        vial_jw *w = vial_jw_begin(req, 200);
        vial_jw_object(w);
        return 0;
    }
    case 3: return vial_abortf(req, 418, "teapot %s", m ? m : "-");
    case 4: {                         /* a second response is refused */
        int rc = vial_text(req, 200, "first");
        if (rc)
            return rc;
        return vial_text(req, 201, "second") == VIAL_ESTATE ? 0 : -1;
    }
    default: return vial_abort(req, (int)(code > 100000 ? 100000 : code), m);
    }
}

typedef struct stream_st {
    int n, i, fail_at;
    size_t size;
    bool json;
} stream_st;

static int stream_fn(vial_req *req, void *ud)
{
    stream_st *st = ud;
    if (st->i == st->fail_at) {
        stream_aborted = true;
        return -1;
    }
    if (st->json) {
        vial_jw *w = vial_stream_jw(req);
        if (st->i == 0)
            vial_jw_array(w);
        if (st->i < st->n) {
            vial_jw_object(w);
            vial_jw_key(w, "i");
            vial_jw_int(w, st->i);
            vial_jw_key(w, "t");
            vial_jw_str(w, vial_target(req));
            vial_jw_end(w);
        }
        if (st->i + 1 >= st->n) {
            vial_jw_end(w);
            st->i++;
            return 0;
        }
        st->i++;
        return 1;
    }
    if (st->i >= st->n)
        return 0;
    size_t len = spend(st->size);
    char buf[1024];
    memset(buf, 'a' + st->i % 26, sizeof buf);
    for (size_t off = 0; off < len; off += sizeof buf)
        if (vial_write(req, buf, len - off < sizeof buf ? len - off : sizeof buf))
            return -1;
    st->i++;
    return budget ? 1 : 0;
}

static int h_stream(vial_req *req)
{
    stream_st *st = vial_alloc(req, sizeof *st);
    if (!st)
        return VIAL_ENOMEM;
    st->n = (int)arg_int(req, "n", 3, 0, 16);
    st->size = (size_t)arg_int(req, "size", 10, 0, 40000);
    st->fail_at = (int)arg_int(req, "fail", -1, -1, 16);
    st->json = vial_arg(req, "json") != NULL;
    st->i = 0;
    int rc = vial_stream(req, 200, st->json ? "application/json" : "text/plain", stream_fn, st);
    if (rc)
        return rc;
    /* Bytes written before the first callback go out with the head. */
    if (!st->json && vial_arg(req, "pre"))
        return vial_write(req, "pre\n", 4);
    return 0;
}

static char big_body[70000];

static int h_big(vial_req *req)
{
    size_t n = spend((size_t)(vial_param_int(req, "n") % (int64_t)sizeof big_body));
    if (vial_arg(req, "static"))
        return vial_send_static(req, 200, "application/octet-stream", big_body, n);
    return vial_send(req, 200, vial_arg(req, "ct"), big_body, n);
}

static int h_setc(vial_req *req)
{
    vial_cookie_opts o = { 0 };
    o.path = vial_arg(req, "p");
    o.domain = vial_arg(req, "d");
    o.secure = vial_arg(req, "secure") != NULL;
    o.not_httponly = vial_arg(req, "js") != NULL;
    o.samesite = (enum vial_samesite)arg_int(req, "ss", 0, 0, 3);
    o.max_age = vial_arg(req, "del") ? -1 : 0; /* no clock-dependent Expires */
    const char *n = vial_arg(req, "n"), *v = vial_arg(req, "v");
    int c1 = vial_set_cookie(req, n ? n : "k", v ? v : "v", &o);
    const char *hn = vial_arg(req, "hn"), *hv = vial_arg(req, "hv");
    int c2 = vial_set_header(req, hn ? hn : "X-A", hv ? hv : "b");
    int c3 = vial_add_header(req, hn ? hn : "X-A", hv ? hv : "c");
    return vial_textf(req, 200, "%d %d %d %s\n", c1, c2, c3,
                      vial_resp_header(req, hn ? hn : "X-A") ? "set" : "unset");
}

static int h_html(vial_req *req)
{
    return vial_html(req, 200, "<p>hi</p>");
}

static int h_items(vial_req *req)
{
    if (!strcmp(vial_method(req), "DELETE"))
        return vial_no_content(req);
    return vial_textf(req, 200, "%s %" PRId64 "\n", vial_method(req), vial_param_int(req, "id"));
}

static int h_slash(vial_req *req)
{
    return vial_text(req, 200, "slash");
}

static int err_405(vial_req *req, int status, const char *message)
{
    return vial_textf(req, status, "405: %s\n", message);
}

static int root_before(vial_req *req)
{
    if (!strcmp(vial_path(req), "/hooked"))
        return vial_text(req, 200, "answered by a hook");
    return 0;
}

/* The API blueprint. */
static int api_before(vial_req *req)
{
    if (vial_header(req, "x-hook-fail"))
        return -1;
    if (vial_header(req, "x-deny"))
        return vial_abort(req, 401, "denied by the api hook");
    return 0;
}

static int api_after(vial_req *req)
{
    int rc = vial_set_header(req, "X-Api", "1");
    const char *st = vial_header(req, "x-status");
    if (!rc && st) {
        long x = strtol(st, NULL, 10);
        vial_set_status(req, (int)(x < 200 ? 200 : x > 599 ? 599 : x));
    }
    return rc;
}

static int api_404(vial_req *req, int status, const char *message)
{
    return vial_textf(req, status, "api: no %s (%s)\n", vial_path(req), message);
}

static int api_any_error(vial_req *req, int status, const char *message)
{
    if (vial_header(req, "x-errh-fail"))
        return -1; /* falls back to the built-in page */
    vial_jw *w = vial_jw_begin(req, status);
    vial_jw_object(w);
    vial_jw_key(w, "api_error");
    vial_jw_int(w, status);
    vial_jw_key(w, "message");
    vial_jw_str(w, message);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int get_item(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, vial_param_int(req, "id"));
    vial_jw_key(w, "self");
    vial_jw_str(w, vial_url_for(req, ".get_item", "id", vial_param(req, "id"), NULL));
    vial_jw_key(w, "root");
    vial_jw_str(w, vial_url_for(req, "h_obj", "oid", vial_arg(req, "oid") ? vial_arg(req, "oid") : "", NULL));
    vial_jw_end(w);
    return vial_jw_finish(w);
}

static int create_item(vial_req *req)
{
    json_t *j = vial_body_json(req);
    if (!json_is_object(j))
        return vial_abort_json(req, 422, j ? "expected an object" : vial_body_json_error(req), NULL);
    json_t *out = json_deep_copy(j);
    json_object_set_new(out, "created", json_true());
    return vial_json_take(req, 201, out);
}

static int api_any(vial_req *req)
{
    return vial_textf(req, 200, "any %s\n", vial_param(req, "p"));
}

static int admin_before(vial_req *req)
{
    const char *c = vial_cookie(req, "admin");
    if (!c || strcmp(c, "1"))
        return vial_abort(req, 403, "admins only");
    return 0;
}

static int admin_x(vial_req *req)
{
    return vial_textf(req, 200, "admin %s\n", vial_param(req, "u"));
}

/* Forms: urlencoded and multipart bodies (multipart ones are spooled to a
 * temporary file by http.c while they arrive). */
static int h_form(vial_req *req)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "a");
    vial_jw_str(w, vial_form(req, "a"));
    const char *vals[3];
    size_t n = vial_forms(req, "a", vals, 3);
    vial_jw_key(w, "count");
    vial_jw_int(w, (int64_t)n);
    vial_jw_key(w, "error");
    vial_jw_str(w, vial_form_error(req));
    vial_jw_key(w, "fields");
    vial_jw_array(w);
    const char *fn, *fv;
    for (size_t i = 0; i < 8 && vial_form_at(req, i, &fn, &fv); i++) {
        vial_jw_array(w);
        vial_jw_str(w, fn);
        vial_jw_str(w, fv);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "uploads");
    vial_jw_array(w);
    const vial_upload *u;
    for (size_t i = 0; i < 8 && (u = vial_upload_at(req, i)); i++) {
        const char *data = vial_upload_data(req, u);
        vial_jw_object(w);
        vial_jw_key(w, "field");
        vial_jw_str(w, u->field);
        vial_jw_key(w, "filename");
        vial_jw_str(w, u->filename);
        vial_jw_key(w, "type");
        vial_jw_str(w, u->content_type);
        vial_jw_key(w, "size");
        vial_jw_int(w, (int64_t)u->size);
        vial_jw_key(w, "data");
        vial_jw_strn(w, data, data ? (size_t)(u->size < 64 ? u->size : 64) : 0);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "first");
    u = vial_upload_get(req, "f");
    vial_jw_str(w, u ? u->filename : NULL);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/*
 * Static files are served from <tmp>/root.  Next to it lies a secret file
 * that symlinks inside the root point to; no request may ever show it.
 */
static char static_tmp[64], static_root[80];
#define SECRET "TOPSECRET-outside-the-static-root"

static void put_file(const char *dir, const char *name, const char *data, size_t n)
{
    char path[160];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f))
        die("setup: cannot write %s", path);
}

static void remove_static(void)
{
    static const char *const files[] = { "root/a.txt", "root/big.bin", "root/sub/app.css",
                                         "root/sub/.hidden", "root/link", "root/up", "secret.txt",
                                         "root/sub", "root" };
    char path[160];
    for (size_t i = 0; i < VIAL__ARRAY_LEN(files); i++) {
        snprintf(path, sizeof path, "%s/%s", static_tmp, files[i]);
        if (unlink(path))
            rmdir(path);
    }
    rmdir(static_tmp);
}

static void make_static(void)
{
    static char big[100000]; /* past 64 KiB: goes out with sendfile */
    snprintf(static_tmp, sizeof static_tmp, "/tmp/vial-fuzz-XXXXXX");
    if (!mkdtemp(static_tmp))
        die("setup: mkdtemp");
    atexit(remove_static);
    snprintf(static_root, sizeof static_root, "%s/root", static_tmp);
    char sub[100];
    snprintf(sub, sizeof sub, "%s/sub", static_root);
    if (mkdir(static_root, 0700) || mkdir(sub, 0700))
        die("setup: mkdir");
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (char)('a' + i % 23);
    put_file(static_tmp, "secret.txt", SECRET "\n", sizeof SECRET);
    put_file(static_root, "a.txt", "hello static\n", 13);
    put_file(static_root, "big.bin", big, sizeof big);
    put_file(static_root, "sub/app.css", "body{}\n", 7);
    put_file(static_root, "sub/.hidden", "hidden\n", 7);
    char path[160];
    snprintf(path, sizeof path, "%s/link", static_root);
    if (symlink("../secret.txt", path))
        die("setup: symlink");
    snprintf(path, sizeof path, "%s/up", static_root);
    if (symlink("..", path))
        die("setup: symlink");
}

static void check(int rc, const char *what)
{
    if (rc)
        die("setup: %s: %s", what, vial_strerror(rc));
}

static void build_app(void)
{
    app = vial_app_new("fuzz");
    if (!app)
        die("setup: vial_app_new");
    static const char *const cfg[][2] = {
        { "max_body", "4K" },        { "max_header_size", "2K" },
        { "max_headers", "16" },     { "max_uri", "512" },
        { "max_pending_output", "4K" }, { "max_upload", "8K" },
        { "access_log", "off" },
        { "log_level", "error" },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(cfg); i++)
        check(vial_config_set(app, cfg[i][0], cfg[i][1]), cfg[i][0]);
    check(vial_configure(app, 0, NULL), "vial_configure");
    /* Handlers that fail log at ERROR; thousands of lines a second would only
     * slow the fuzzer down, so nothing is logged at all. */
    vial__log_level = VIAL_LOG_ERROR + 1;

    check(vial_get(app, "/", h_index), "/");
    check(vial_get(app, "/user/<int:id>", h_user), "user");
    check(vial_get(app, "/price/<float:x>", h_price), "price");
    check(vial_route(VIAL_BP(app), VIAL_GET | VIAL_DELETE, "/obj/<uuid:oid>", h_obj, "h_obj"), "obj");
    check(vial_get(app, "/files/<path:rest>", h_files), "files");
    check(vial_route(VIAL_BP(app), VIAL_GET | VIAL_POST, "/files/<path:rest>/edit", h_files_edit,
                     "h_files_edit"),
          "files edit");
    check(vial_route(VIAL_BP(app), VIAL_GET | VIAL_POST | VIAL_PUT | VIAL_PATCH | VIAL_DELETE,
                     "/echo/<name>", h_echo, "h_echo"),
          "echo");
    check(vial_post(app, "/json", h_json), "json");
    check(vial_get(app, "/go", h_go), "go");
    check(vial_get(app, "/abort/<int:code>", h_abort), "abort");
    check(vial_get(app, "/stream", h_stream), "stream");
    check(vial_get(app, "/big/<int:n>", h_big), "big");
    check(vial_get(app, "/setc", h_setc), "setc");
    check(vial_get(app, "/html", h_html), "html");
    check(vial_route(VIAL_BP(app), VIAL_PUT | VIAL_DELETE | VIAL_PATCH, "/items/<int:id>", h_items,
                     "h_items"),
          "items");
    check(vial_get(app, "/slash/", h_slash), "slash");
    check(vial_get(app, "/hooked", h_index), "hooked"); /* same view, second rule */
    check(vial_post(app, "/form", h_form), "form");
    make_static();
    check(vial_static(app, "/static", static_root), "static");
    check(vial_before_request(app, root_before), "before");
    check(vial_errorhandler(app, 405, err_405), "405");

    vial_bp *api = vial_bp_new("api");
    if (!api)
        die("setup: vial_bp_new");
    check(vial_get(api, "/items/<int:id>", get_item), "api items");
    check(vial_post(api, "/items", create_item), "api create");
    check(vial_get(api, "/any/<path:p>", api_any), "api any");
    check(vial_get(api, "/deep/<int:x>/", h_slash), "api deep");
    check(vial_before_request(api, api_before), "api before");
    check(vial_after_request(api, api_after), "api after");
    check(vial_errorhandler(api, 404, api_404), "api 404");
    check(vial_errorhandler(api, 0, api_any_error), "api any error");
    vial_bp *admin = vial_bp_new("admin");
    if (!admin)
        die("setup: vial_bp_new");
    check(vial_get(admin, "/<uuid:u>/x/", admin_x), "admin x");
    check(vial_before_request(admin, admin_before), "admin before");
    check(vial_register(api, admin, "/admin"), "register admin");
    check(vial_register(app, api, "/api/v1"), "register api");

    for (size_t i = 0; i < sizeof big_body; i++)
        big_body[i] = (char)('A' + i % 26);
    check(vial__app_compile(app), "compile");
    pool.max = 1024;
    worker = vial__worker_new(app, 0, &pool);
    fuzz_handler = vial__core_handler;
    fuzz_handler.done = fz_done;
    if (!worker)
        die("setup: worker");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    VIAL__UNUSED(argc);
    VIAL__UNUSED(argv);
    build_app();
    return 0;
}

/* ------------------------------------------------------------------ the fuzz transport */

typedef struct resp_mark {
    size_t end;     /* offset in `out` where this response ends */
    bool head;      /* answered a HEAD request: a head without its body */
    bool from_static; /* answered by the static files route */
} resp_mark;

typedef struct fconn {
    void *s;            /* the HTTP/1.1 session (vial__h1_proto's state) */
    vial__outq q;       /* what the session queued, not yet "written" */
    int phase;          /* the session's, from tp_phase */
    vial__buf out;      /* everything "written to the socket" */
    resp_mark *marks;
    size_t nmarks, cap;
    bool deferred;      /* writes wait for the driver instead of happening at once */
    bool closed;        /* want_close was called */
    bool dead;          /* want_close(now): the session gave up on the connection */
    bool cut_short;     /* a stream was still running when the end came */
    bool killed;        /* the end event killed the connection (timeout, reset) */
    bool bad;           /* out of memory in the transport */
    uint32_t rng;
} fconn;

static const vial__proto *const P = &vial__h1_proto;
static fconn *current; /* the connection being driven (one at a time) */

static uint32_t rnd(fconn *c)
{
    /* xorshift32: deterministic per input */
    uint32_t x = c->rng;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return c->rng = x;
}

/* Writes up to `max` queued bytes, as one writev that may be short. */
static void write_some(fconn *c, size_t max)
{
    vial__outq *q = &c->q;
    while (q->bytes && max) {
        int fd;
        uint64_t foff;
        size_t flen;
        /* A file segment (sendfile) is read into memory in pieces first. */
        if (vial__outq_head_file(q, &fd, &foff, &flen) &&
            vial__outq_file_chunk(q, 1 + rnd(c) % 65536)) {
            c->bad = true;
            return;
        }
        struct iovec iov[16];
        size_t n = vial__outq_iov(q, iov, 16), total = 0;
        for (size_t i = 0; i < n && max; i++) {
            size_t k = iov[i].iov_len < max ? iov[i].iov_len : max;
            if (vial__buf_append(&c->out, iov[i].iov_base, k))
                c->bad = true;
            total += k;
            max -= k;
        }
        vial__outq_consume(q, total);
    }
}

static void write_all(fconn *c)
{
    write_some(c, SIZE_MAX);
}

static void tp_want_write(void *ud)
{
    fconn *c = ud;
    if (!c->deferred)
        write_all(c);
}

static void tp_want_close(void *ud, bool now)
{
    fconn *c = ud;
    c->closed = true;
    if (now)
        c->dead = true;
}

static void tp_phase(void *ud, int phase)
{
    ((fconn *)ud)->phase = phase;
}

static const vial__transport fuzz_transport = {
    .want_write = tp_want_write, .want_close = tp_want_close, .phase = tp_phase,
};

/* The app's handler, with a mark recorded as each response is complete in
 * the queue: where it ends, and what the checks need to know about it. */
static void fz_done(void *ud, vial__msg *m)
{
    fconn *c = current;
    if (c->nmarks == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        resp_mark *mk = realloc(c->marks, cap * sizeof *mk);
        if (!mk) {
            c->bad = true;
            vial__core_handler.done(ud, m);
            return;
        }
        c->marks = mk;
        c->cap = cap;
    }
    const vial__route *r = vial__req_of(m)->route;
    c->marks[c->nmarks++] = (resp_mark){ c->out.n + c->q.bytes, m->head,
                                         r && r->endpoint && !strcmp(r->endpoint, "static") };
    vial__core_handler.done(ud, m);
}


/* What conn.c's pump does once the socket took everything: let a stream
 * produce its next chunks, until it waits or ends. */
static void pump(fconn *c)
{
    write_all(c);
    while (c->s && !c->closed && c->phase == VIAL__PH_WRITE) {
        P->drained(c->s);
        write_all(c);
    }
}

enum { SPLIT_ONE, SPLIT_BYTES, SPLIT_SMALL, SPLIT_LARGE };
enum { END_NONE, END_EOF, END_TIMEOUT, END_ABORT };

/*
 * Feeds `data` to a session the way conn.c does.  ctrl bits: 0-1 the split
 * schedule, 2 deferred/partial writes, 3-4 how the connection ends (input
 * simply ends, EOF, the phase's timeout fires, the peer resets), 5-7 seed
 * the schedule.  With deferred writes the end comes before the last writes,
 * so a stream can be cut off while it waits for the socket.  Returns the
 * length of the output written before the end event (for the comparison
 * with run 1).
 */
static size_t drive(fconn *c, uint8_t ctrl, const uint8_t *data, size_t len)
{
    int split = ctrl & 3, end = (ctrl >> 3) & 3;
    c->deferred = (ctrl >> 2) & 1;
    c->rng = 0x9e3779b9u ^ ((uint32_t)ctrl << 24) ^ (uint32_t)len;
    size_t one_at = len ? rnd(c) % (len + 1) : 0;
    size_t off = 0;
    while (off < len && !c->closed) {
        if (!P->wants_read(c->s, c->q.bytes)) {
            /* conn.c stops reading; the client's bytes wait in the socket. */
            pump(c);
            if (!P->wants_read(c->s, c->q.bytes))
                break;
            continue;
        }
        char *buf;
        size_t room;
        int rb = P->rbuf(c->s, 1024, &buf, &room);
        if (rb < 0)
            break; /* the session answered 431 and closes */
        size_t chunk;
        switch (split) {
        case SPLIT_ONE: chunk = off < one_at ? one_at - off : len - off; break;
        case SPLIT_BYTES: chunk = 1; break;
        case SPLIT_SMALL: chunk = 1 + rnd(c) % 64; break;
        default: chunk = 1 + rnd(c) % 4096; break;
        }
        if (chunk > len - off)
            chunk = len - off;
        if (rb > 0) {
            /* No buffer held (idle): conn.c reads into its scratch space and
             * the session copies what arrived. */
            if (chunk > 65536)
                chunk = 65536;
            P->received(c->s, (const char *)data + off, chunk);
        } else {
            if (chunk > room)
                chunk = room;
            memcpy(buf, data + off, chunk);
            P->received(c->s, buf, chunk);
        }
        off += chunk;
        if (c->deferred) {
            /* A slow reader: a short write now and then. */
            if (rnd(c) % 4 == 0)
                write_some(c, rnd(c) % 2048);
            if (rnd(c) % 4 == 0)
                pump(c);
        } else {
            pump(c);
        }
        if (c->phase == VIAL__PH_IDLE && !c->q.bytes)
            P->idle(c->s);
    }
    bool abrupt = end != END_NONE && !c->closed;
    if (c->deferred && abrupt)
        write_all(c); /* a stream may still be waiting to write more */
    else
        pump(c);
    c->cut_short = c->phase == VIAL__PH_WRITE;
    size_t before_end = c->out.n;
    if (abrupt) {
        switch (end) {
        case END_EOF: P->eof(c->s); break;
        case END_TIMEOUT: P->timeout(c->s); break; /* 408 in headers or body */
        default:
            /* The peer reset: the connection closes the session at once. */
            P->close(c->s);
            c->s = NULL;
            c->dead = true;
            break;
        }
        c->killed = c->dead;
        pump(c);
    }
    return before_end;
}

/* ------------------------------------------------------------------ checks */

/* Blanks the values of Date and X-Request-Id header lines (they differ
 * between runs by design) into a new buffer. */
static void normalize(const char *p, size_t n, vial__buf *out)
{
    static const char *const names[] = { "\r\nDate: ", "\r\nX-Request-Id: " };
    size_t i = 0;
    while (i < n) {
        bool hit = false;
        for (size_t k = 0; k < 2 && !hit; k++) {
            size_t nl = strlen(names[k]);
            if (n - i >= nl && !memcmp(p + i, names[k], nl)) {
                vial__buf_append(out, p + i, nl);
                i += nl;
                while (i < n && p[i] != '\r')
                    i++;
                hit = true;
            }
        }
        if (!hit)
            vial__buf_append(out, p + i++, 1);
    }
}

typedef struct vstate {
    bool head;
    int begun, completed, finals;
    int status;      /* of the last final response */
    bool keep_alive; /* of the last final response */
} vstate;

static int v_begin(llhttp_t *p)
{
    ((vstate *)p->data)->begun++;
    return 0;
}

static int v_headers(llhttp_t *p)
{
    vstate *v = p->data;
    if (p->status_code >= 100 && p->status_code < 200)
        return 0;
    v->finals++;
    v->status = p->status_code;
    v->keep_alive = llhttp_should_keep_alive(p);
    return v->head ? 1 : 0; /* 1: no body follows (HEAD) */
}

static int v_complete(llhttp_t *p)
{
    ((vstate *)p->data)->completed++;
    return 0;
}

/* Parses one response span; returns an error text or NULL.  `out`, if not
 * NULL, receives the parser's view of the last final response. */
static const char *check_span(const char *p, size_t n, bool head, bool last, int want_finals,
                              bool may_truncate, vstate *out)
{
    llhttp_settings_t st;
    llhttp_settings_init(&st);
    st.on_message_begin = v_begin;
    st.on_headers_complete = v_headers;
    st.on_message_complete = v_complete;
    llhttp_t parser;
    llhttp_init(&parser, HTTP_RESPONSE, &st);
    vstate v = { .head = head };
    parser.data = &v;
    llhttp_errno_t err = n ? llhttp_execute(&parser, p, n) : HPE_OK;
    if (err != HPE_OK)
        return llhttp_get_error_reason(&parser);
    if (v.completed != v.begun) {
        /* Only a body delimited by the end of the connection may be open. */
        if (llhttp_message_needs_eof(&parser)) {
            if (!last)
                return "a response delimited by EOF is followed by more output";
            if (llhttp_finish(&parser) != HPE_OK)
                return "bad EOF";
        } else if (!(may_truncate && last)) {
            return "a response is incomplete";
        }
    }
    if (want_finals >= 0 && v.finals != want_finals)
        return "not exactly one final response";
    if (out)
        *out = v;
    return NULL;
}

static void check_output(const fconn *c)
{
    const char *out = c->out.p ? c->out.p : "";
    size_t start = 0;
    for (size_t i = 0; i < c->nmarks; i++) {
        size_t end = c->marks[i].end;
        if (end < start || end > c->out.n)
            die("response mark %zu out of order (%zu..%zu of %zu)", i, start, end, c->out.n);
        bool last = i + 1 == c->nmarks && end == c->out.n;
        const char *why = check_span(out + start, end - start, c->marks[i].head, last, 1,
                                     stream_aborted, NULL);
        if (why)
            die("response %zu (bytes %zu..%zu) is malformed: %s", i, start, end, why);
        /* Only the static route is checked: other handlers echo what the
         * client sent, and the fuzzer soon learns to send the secret. */
        if (c->marks[i].from_static && memmem(out + start, end - start, SECRET, sizeof SECRET - 1))
            die("response %zu served a file from outside the static root", i);
        start = end;
    }
    /* After the last response only interim responses (100 Continue for a body
     * that never came) may follow. */
    if (start < c->out.n) {
        /* ... or, on a connection killed mid-stream, the stream so far. */
        bool cut = c->killed && c->cut_short;
        const char *why = check_span(out + start, c->out.n - start, false, true, cut ? -1 : 0, cut,
                                     NULL);
        if (why)
            die("output after the last response is malformed: %s", why);
    }
}

/*
 * A request that is wrong in two ways may be refused for either, depending on
 * which one the bytes read so far show first: a 600-byte target with a bad
 * character is a 414 when it arrives byte by byte (the length limit trips
 * first) and a 400 when llhttp sees it whole.  That is no bug, so outputs may
 * differ in their last response when in both runs it is a 4xx/5xx closing the
 * connection, and everything before it is identical.
 */
static bool same_but_last_error(const fconn *c, const char *o1, size_t n1, size_t n2)
{
    if (!c->nmarks || c->marks[c->nmarks - 1].end != n2)
        return false;
    size_t start = c->nmarks > 1 ? c->marks[c->nmarks - 2].end : 0;
    const char *o2 = c->out.p;
    if (start > n1)
        return false;
    /* The responses before the last are compared (with Date/X-Request-Id
     * blanked) by the caller's rule, applied to the prefixes. */
    vial__buf a = { 0 }, b = { 0 };
    normalize(o1, start, &a);
    normalize(o2, start, &b);
    bool same = a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n));
    vial__buf_free(&a);
    vial__buf_free(&b);
    if (!same)
        return false;
    vstate v1, v2;
    if (check_span(o1 + start, n1 - start, false, true, 1, false, &v1) ||
        check_span(o2 + start, n2 - start, false, true, 1, false, &v2))
        return false;
    return v1.status >= 400 && v2.status >= 400 && !v1.keep_alive && !v2.keep_alive;
}

/* ------------------------------------------------------------------ entry */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t ctrl = data[0];
    const uint8_t *req = data + 1;
    size_t len = size - 1;

    /* Run 1: the public test client, one read. */
    budget = 1u << 20;
    vial_test_resp *r = vial_test_raw(app, req, len);
    if (!r)
        return 0; /* out of memory */
    size_t n1;
    const char *o1 = vial_test_output(r, &n1);
    (void)vial_test_status(r);
    (void)vial_test_header(r, "content-type");
    (void)vial_test_body(r, NULL);

    /* Run 2: the same session in pieces. */
    budget = 1u << 20;
    stream_aborted = false;
    fconn *c = calloc(1, sizeof *c);
    if (!c || !(c->s = vial__h1_new(&app->lim.h1, &fuzz_handler, worker, worker->pool, "127.0.0.1"))) {
        free(c);
        vial_test_free(r);
        return 0;
    }
    c->q.coal.pool = worker->pool;
    current = c;
    P->attach(c->s, &fuzz_transport, c, &c->q);
    size_t n2 = drive(c, ctrl, req, len);
    if (c->s)
        P->close(c->s);
    vial__outq_free(&c->q);
    static int dump = -1;
    if (dump < 0)
        dump = getenv("VIAL_FUZZ_DUMP") != NULL;
    if (dump)
        fprintf(stderr, "--- output (%zu bytes, %zu responses):\n%.*s\n", c->out.n, c->nmarks,
                (int)c->out.n, c->out.p ? c->out.p : "");

    if (!c->bad) {
        vial__buf a = { 0 }, b = { 0 };
        normalize(o1, n1, &a);
        normalize(c->out.p ? c->out.p : "", n2, &b);
        /* Cut short, run 2 wrote a prefix of run 1's output. */
        size_t cmp = c->cut_short && b.n < a.n ? b.n : a.n;
        if ((cmp != b.n || (cmp && memcmp(a.p, b.p, cmp))) && !same_but_last_error(c, o1, n1, n2)) {
            size_t k = 0;
            while (k < a.n && k < b.n && a.p[k] == b.p[k])
                k++;
            fprintf(stderr, "--- whole input (%zu bytes):\n%.*s\n--- in pieces (%zu bytes):\n%.*s\n",
                    n1, (int)n1, o1, n2, (int)n2, c->out.p ? c->out.p : "");
            die("split invariance: output differs at byte %zu (ctrl 0x%02x)", k, ctrl);
        }
        vial__buf_free(&a);
        vial__buf_free(&b);
        check_output(c);
    }
    vial__buf_free(&c->out);
    free(c->marks);
    free(c);
    vial_test_free(r);
    return 0;
}

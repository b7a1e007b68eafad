/*
 * Unit tests for src/core/serve.c: core's workers and the handler HTTP
 * sessions answer through — requests recycled per worker without any state
 * leaking from one to the next (locals, module state, headers, status,
 * defers, parsed body and arguments), what a fresh exchange starts with,
 * the spare list's cap, clean-ups at the end of an exchange (defers last
 * in first out, files, upgrades), the headers every response carries
 * (X-Request-Id, the security defaults and their overrides), the access
 * log line, per-worker slots, and vial__serve's refusals.
 */
#include "unit.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static vial_app *new_app(void)
{
    vial_app *app = vial_app_new("t");
    assert_non_null(app);
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    return app;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* ------------------------------------------------------------------ recycling */

static vial_req *seen[2];
static char trace[128];
static const char mod_key = 0;

static void deferred(void *arg)
{
    strcat(trace, arg);
}

static int h_dirty(vial_req *req)
{
    seen[0] = req;
    vial_set_local(req, "leak", "yes");
    *(int *)vial__req_state(req, &mod_key, sizeof(int)) = 42;
    vial_arg(req, "a");
    vial_body_json(req);
    vial_defer(req, deferred, "1");
    vial_defer(req, deferred, "2");
    vial_set_header(req, "X-Leak", "yes");
    vial_set_cookie(req, "leak", "1", NULL);
    strcat(trace, "A");
    return vial_html(req, 418, "<p>dirty</p>");
}

static int h_clean(vial_req *req)
{
    seen[1] = req;
    strcat(trace, "B");
    const char *leaks[8];
    int n = 0;
    if (vial_local(req, "leak"))
        leaks[n++] = "local";
    if (vial__req_ext(req, &mod_key))
        leaks[n++] = "module state";
    if (vial_arg(req, "a"))
        leaks[n++] = "args";
    if (vial_body_json(req))
        leaks[n++] = "json";
    if (vial_resp_header(req, "X-Leak") || vial_resp_header(req, "Set-Cookie"))
        leaks[n++] = "response headers";
    if (vial_resp_status(req) || vial_responded(req))
        leaks[n++] = "status";
    if (vial_param(req, "id"))
        leaks[n++] = "params";
    if (strcmp(vial_endpoint(req), "h_clean"))
        leaks[n++] = "endpoint";
    vial__buf b = { 0 };
    for (int i = 0; i < n; i++)
        vial__buf_printf(&b, "%s;", leaks[i]);
    vial__buf_nul(&b);
    int rc = vial_text(req, 200, n ? b.p : "clean");
    vial__buf_free(&b);
    return rc;
}

static void test_state_never_leaks_to_next_request(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_post(app, "/dirty/<int:id>", h_dirty);
    vial_post(app, "/clean", h_clean);
    trace[0] = '\0';
    vial_test_resp *r = vial_test(app, "POST", "/dirty/7?a=1", "X-Request-Id: first\r\n",
                                  "{\"j\":1}", 7);
    assert_int_equal(vial_test_status(r), 418);
    assert_string_equal(trace, "A21"); /* defers ran once, last registered first */
    vial_test_free(r);
    r = vial_test(app, "POST", "/clean", NULL, NULL, 0);
    assert_ptr_equal(seen[0], seen[1]); /* the same request object, recycled */
    assert_string_equal(vial_test_body(r, NULL), "clean");
    assert_int_equal(vial_test_status(r), 200);
    assert_null(vial_test_header(r, "X-Leak"));
    assert_null(vial_test_header(r, "Set-Cookie"));
    assert_string_not_equal(vial_test_header(r, "X-Request-Id"), "first");
    assert_string_equal(trace, "A21B"); /* and never again */
    vial_test_free(r);
    vial_app_free(app);
}

static void test_pipelined_requests_do_not_share_state(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_post(app, "/dirty/<int:id>", h_dirty);
    vial_post(app, "/clean", h_clean);
    trace[0] = '\0';
    const char raw[] = "POST /dirty/1?a=2 HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
                       "POST /clean HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n";
    vial_test_resp *r = vial_test_raw(app, raw, sizeof raw - 1);
    size_t n;
    const char *out = vial_test_output(r, &n);
    assert_int_equal(count(out, "HTTP/1.1 "), 2);
    assert_non_null(strstr(out, "\r\n\r\nclean"));
    assert_int_equal(count(out, "X-Leak"), 1);
    assert_string_equal(trace, "A21B");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ exchanges, driven directly */

static void test_fresh_exchange(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial__pool pool = { .max = 64 };
    vial__worker *w = vial__worker_new(app, 3, &pool);
    assert_non_null(w);
    vial__msg *m = vial__core_handler.msg_new(w);
    assert_non_null(m);
    vial_req *req = vial__req_of(m);
    assert_ptr_equal(req->app, app);
    assert_ptr_equal(req->w, w);
    assert_int_equal(vial_worker_id(req), 3);
    assert_ptr_equal(m->arena.pool, &pool);
    assert_ptr_equal(m->rh_tail, &m->rh);
    assert_int_equal(m->file_fd, -1);
    assert_int_equal(m->body_fd, -1);
    assert_int_equal(m->status, 0);
    assert_int_equal(m->nxh, 0);
    assert_ptr_equal(m->body_out.pool, &pool);
    /* dirty it the way a request would */
    vial__buf_puts(&m->body_out, "response");
    char *block = m->body_out.p;
    m->status = 500;
    m->responded = true;
    m->nxh = 2;
    req->reqid_set = true;
    assert_int_equal(vial_set_local(req, "k", "v"), 0);
    vial__core_handler.msg_free(w, m);
    assert_int_equal(w->nspare, 1);
    /* the next exchange is the same object, clean, keeping its buffer's block */
    vial__msg *m2 = vial__core_handler.msg_new(w);
    assert_ptr_equal(m2, m);
    assert_int_equal(w->nspare, 0);
    assert_int_equal(m2->status, 0);
    assert_false(m2->responded);
    assert_int_equal(m2->nxh, 0);
    assert_false(vial__req_of(m2)->reqid_set);
    assert_null(vial_local(vial__req_of(m2), "k"));
    assert_ptr_equal(m2->body_out.p, block);
    assert_int_equal(m2->body_out.n, 0);
    vial__core_handler.msg_free(w, m2);
    vial__worker_free(w);
    vial__pool_drain(&pool);
    vial_app_free(app);
}

static void test_grown_response_buffer_is_released(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial__pool pool = { .max = 64 };
    vial__worker *w = vial__worker_new(app, 0, &pool);
    vial__msg *m = vial__core_handler.msg_new(w);
    char big[3 * VIAL__BLOCK_SIZE];
    memset(big, 'b', sizeof big);
    vial__buf_append(&m->body_out, big, sizeof big); /* past one block: malloc'd */
    vial__core_handler.msg_free(w, m);
    m = vial__core_handler.msg_new(w);
    assert_null(m->body_out.p); /* not kept: an idle worker holds no big buffers */
    assert_ptr_equal(m->body_out.pool, &pool);
    vial__core_handler.msg_free(w, m);
    vial__worker_free(w);
    vial__pool_drain(&pool);
    vial_app_free(app);
}

static void test_spare_list_is_capped(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial__pool pool = { .max = 64 };
    vial__worker *w = vial__worker_new(app, 0, &pool);
    vial__msg *m[20];
    for (int i = 0; i < 20; i++) {
        m[i] = vial__core_handler.msg_new(w);
        vial__buf_puts(&m[i]->body_out, "x"); /* each holds a pool block */
    }
    for (int i = 0; i < 20; i++)
        vial__core_handler.msg_free(w, m[i]);
    assert_int_equal(w->nspare, 16); /* the rest were freed (ASan: no leak) */
    vial__worker_free(w);
    vial__pool_drain(&pool);
    vial_app_free(app);
}

static int closes;
static void u_close(void *ud)
{
    closes++;
    free(ud);
}
static void u_nop(void *ud, const vial__transport *tp, void *tu, vial__outq *o)
{
    (void)ud, (void)tp, (void)tu, (void)o;
}
static void u_recv(void *ud, const char *d, size_t n)
{
    (void)ud, (void)d, (void)n;
}
static const vial__proto up_proto = { .attach = u_nop, .received = u_recv, .close = u_close };

static void test_exchange_cleanups(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial__pool pool = { .max = 64 };
    vial__worker *w = vial__worker_new(app, 0, &pool);
    vial__msg *m = vial__core_handler.msg_new(w);
    vial_req *req = vial__req_of(m);
    char path[] = "/tmp/vial-serve-XXXXXX";
    int ffd = mkstemp(path);
    unlink(path);
    int bfd = dup(ffd);
    m->file_fd = ffd; /* a file response that never went out */
    m->body_fd = bfd; /* a spooled upload */
    trace[0] = '\0';
    vial_defer(req, deferred, "x");
    vial_defer(req, deferred, "y");
    vial_defer(req, deferred, "z");
    closes = 0;
    assert_int_equal(vial__req_upgrade(req, &up_proto, malloc(4)), 0);
    vial__core_handler.msg_free(w, m);
    assert_string_equal(trace, "zyx");
    assert_int_equal(closes, 1);
    assert_int_equal(fcntl(ffd, F_GETFD), -1);
    assert_int_equal(fcntl(bfd, F_GETFD), -1);
    vial__worker_free(w);
    vial__pool_drain(&pool);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ headers on every response */

static int h_text(vial_req *req)
{
    return vial_text(req, 200, "t");
}
static int h_html(vial_req *req)
{
    return vial_html(req, 200, "<p>h</p>");
}
static int h_html_own(vial_req *req)
{
    vial_set_header(req, "x-frame-options", "SAMEORIGIN");
    vial_set_header(req, "Referrer-Policy", "no-referrer");
    vial_set_header(req, "Content-Security-Policy", "default-src 'none'");
    vial_set_header(req, "X-Content-Type-Options", "nosniff");
    return vial_html(req, 200, "<p>own</p>");
}
static int h_replaced(vial_req *req)
{
    vial_text(req, 200, "first");
    return vial_abort(req, 409, "then an error");
}

static const char *hdr(vial_test_resp *r, const char *name)
{
    return vial_test_header(r, name);
}

static void test_security_defaults(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/text", h_text);
    vial_get(app, "/html", h_html);
    vial_test_resp *r = get(app, "/text");
    assert_string_equal(hdr(r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(hdr(r, "Referrer-Policy"), "strict-origin-when-cross-origin");
    assert_null(hdr(r, "Content-Security-Policy")); /* HTML only */
    assert_null(hdr(r, "X-Frame-Options"));
    assert_non_null(hdr(r, "X-Request-Id"));
    vial_test_free(r);
    r = get(app, "/html");
    assert_string_equal(hdr(r, "X-Content-Type-Options"), "nosniff");
    assert_string_equal(hdr(r, "X-Frame-Options"), "DENY");
    assert_true(!strncmp(hdr(r, "Content-Security-Policy"), "default-src 'self';", 19));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_security_headers_overridden(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/own", h_html_own);
    vial_test_resp *r = get(app, "/own");
    size_t n;
    const char *out = vial_test_output(r, &n);
    /* the handler's own, each once, whatever the case of its name */
    assert_int_equal(count(out, "rame-options:"), 1);
    assert_non_null(strstr(out, "x-frame-options: SAMEORIGIN\r\n"));
    assert_int_equal(count(out, "Referrer-Policy:"), 1);
    assert_non_null(strstr(out, "Referrer-Policy: no-referrer\r\n"));
    assert_int_equal(count(out, "Content-Security-Policy:"), 1);
    assert_non_null(strstr(out, "Content-Security-Policy: default-src 'none'\r\n"));
    assert_int_equal(count(out, "X-Content-Type-Options:"), 1);
    vial_test_free(r);
    vial_app_free(app);
}

static void test_security_headers_configured(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_config_set(app, "content_security_policy", "default-src https:");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_get(app, "/html", h_html);
    vial_test_resp *r = get(app, "/html");
    assert_string_equal(hdr(r, "Content-Security-Policy"), "default-src https:");
    vial_test_free(r);
    vial_config_set(app, "content_security_policy", "");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    r = get(app, "/html");
    assert_null(hdr(r, "Content-Security-Policy"));
    assert_string_equal(hdr(r, "X-Frame-Options"), "DENY");
    vial_test_free(r);
    /* switched off: the request id only */
    vial_config_set(app, "security_headers", "off");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    r = get(app, "/html");
    assert_null(hdr(r, "X-Content-Type-Options"));
    assert_null(hdr(r, "Referrer-Policy"));
    assert_null(hdr(r, "X-Frame-Options"));
    assert_non_null(hdr(r, "X-Request-Id"));
    vial_test_free(r);
    vial_app_free(app);
}

static void test_headers_on_errors_once(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/replaced", h_replaced);
    /* a response replaced by an error page: the headers once, not twice */
    vial_test_resp *r = get(app, "/replaced");
    assert_int_equal(vial_test_status(r), 409);
    const char *out = vial_test_output(r, NULL);
    assert_int_equal(count(out, "X-Request-Id:"), 1);
    assert_int_equal(count(out, "X-Content-Type-Options:"), 1);
    vial_test_free(r);
    /* no route */
    r = get(app, "/nowhere");
    assert_int_equal(vial_test_status(r), 404);
    assert_non_null(hdr(r, "X-Request-Id"));
    assert_string_equal(hdr(r, "X-Content-Type-Options"), "nosniff");
    vial_test_free(r);
    /* a request the protocol refused before any routing */
    const char bad[] = "GET / HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n";
    r = vial_test_raw(app, bad, sizeof bad - 1);
    assert_int_equal(vial_test_status(r), 400);
    assert_non_null(hdr(r, "X-Request-Id"));
    assert_string_equal(hdr(r, "Referrer-Policy"), "strict-origin-when-cross-origin");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ the access log */

static char *capture_access(vial_app *app, const char *raw)
{
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    int saved = dup(2);
    dup2(p[1], 2);
    vial_test_resp *r = vial_test_raw(app, raw, strlen(raw));
    vial__log_flush();
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    vial__buf b = { 0 };
    char tmp[4096];
    ssize_t n;
    while ((n = read(p[0], tmp, sizeof tmp)) > 0)
        vial__buf_append(&b, tmp, (size_t)n);
    close(p[0]);
    vial__buf_nul(&b);
    size_t out_len;
    vial_test_output(r, &out_len);
    vial_test_free(r);
    return b.p;
}

static void test_access_log_line(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_config_set(app, "access_log", "on");
    vial_config_set(app, "trusted_proxies", "127.0.0.1");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    vial_get(app, "/text", h_text);
    char *log = capture_access(app, "GET /text?q=1 HTTP/1.1\r\nHost: t\r\nX-Request-Id: log-1\r\n"
                                    "X-Forwarded-For: 9.8.7.6\r\n\r\n");
    /* the client behind the proxy, the target as sent, the status, the id */
    assert_non_null(strstr(log, " ACCESS 9.8.7.6 \"GET /text?q=1\" 200 "));
    assert_non_null(strstr(log, "us log-1\n"));
    free(log);
    /* an unusable request line: no method, no target; the peer, not X-Forwarded-For */
    log = capture_access(app, "BREW / HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: 9.8.7.6\r\n\r\n");
    assert_non_null(strstr(log, " ACCESS 127.0.0.1 \"- \" 501 "));
    free(log);
    vial_config_set(app, "access_log", "off");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    log = capture_access(app, "GET /text HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_null(strstr(log, "ACCESS"));
    free(log);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ per-worker slots */

static int inits, finis;
static int token;

static void *slot_init(vial_app *app, int worker, void *ud)
{
    (void)app;
    assert_int_equal(worker, 0);
    assert_ptr_equal(ud, &token);
    inits++;
    return malloc(16);
}

static void slot_fini(void *st, void *ud)
{
    assert_ptr_equal(ud, &token);
    finis++;
    free(st);
}

static int slot_no;

static int h_slot(vial_req *req)
{
    void *a = vial_worker_get(req, slot_no), *b = vial_worker_get(req, slot_no);
    assert_ptr_equal(a, b);
    return vial_text(req, 200, a ? "state" : "none");
}

static void test_worker_slots_made_once_released_once(void **state)
{
    (void)state;
    vial_app *app = new_app();
    slot_no = vial_worker_slot(app, slot_init, slot_fini, &token);
    assert_true(slot_no >= 0);
    vial_get(app, "/slot", h_slot);
    inits = finis = 0;
    expect(app, "GET", "/slot", 200, "state");
    expect(app, "GET", "/slot", 200, "state");
    assert_int_equal(inits, 1);
    assert_int_equal(finis, 0);
    vial_app_free(app); /* the test client's worker goes with the app */
    assert_int_equal(finis, 1);
}

/* ------------------------------------------------------------------ vial__serve refusals */

static void test_serve_refuses_bad_port_and_workers(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "port", "70000");
    int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
    dup2(devnull, 2); /* the refusals are logged */
    int rc1 = vial__serve(app);
    vial_config_set(app, "port", "not-a-port");
    int rc2 = vial__serve(app);
    vial_config_set(app, "port", "0");
    vial_config_set(app, "workers", "2000");
    int rc3 = vial__serve(app);
    dup2(saved, 2);
    close(saved);
    close(devnull);
    assert_int_equal(rc1, 1);
    assert_int_equal(rc2, 1);
    assert_int_equal(rc3, 1);
    assert_null(app->server);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_never_leaks_to_next_request),
        cmocka_unit_test(test_pipelined_requests_do_not_share_state),
        cmocka_unit_test(test_fresh_exchange),
        cmocka_unit_test(test_grown_response_buffer_is_released),
        cmocka_unit_test(test_spare_list_is_capped),
        cmocka_unit_test(test_exchange_cleanups),
        cmocka_unit_test(test_security_defaults),
        cmocka_unit_test(test_security_headers_overridden),
        cmocka_unit_test(test_security_headers_configured),
        cmocka_unit_test(test_headers_on_errors_once),
        cmocka_unit_test(test_access_log_line),
        cmocka_unit_test(test_worker_slots_made_once_released_once),
        cmocka_unit_test(test_serve_refuses_bad_port_and_workers),
    };
    return RUN_GROUP(tests);
}

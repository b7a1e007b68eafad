/*
 * Unit tests for src/core/metrics.c, through the in-process test client:
 * http_requests_total{method,route,code} labelled with the route pattern
 * (never the raw path), requests no route took, status codes and methods;
 * http_request_duration_seconds per route; requests in flight; process_*
 * and vial_build_info; GET /metrics (its headers, loopback peers, the
 * metrics_allow networks, 403 to anyone else — sessions with other peers
 * are made here the way the test client makes its own); the settings
 * metrics (off: no route, nothing recorded), metrics_path and
 * metrics_allow; and the public API: app counters, gauges and histograms,
 * recorded from views, commands and other threads, and bad declarations
 * refusing the start.
 */
#include "unit.h"

#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------------ helpers */

static vial_app *new_app_with(const char *const *settings)
{
    vial_app *app = vial_app_new("t");
    assert_non_null(app);
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    for (size_t i = 0; settings && settings[i]; i += 2)
        vial_config_set(app, settings[i], settings[i + 1]);
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    return app;
}

static vial_app *new_app(void)
{
    return new_app_with(NULL);
}

/* Runs `stmt` with fd 2 going to /dev/null: errors the code under test logs
 * on purpose stay off the test's output. */
#define QUIET(stmt)                                                                                \
    do {                                                                                           \
        fflush(stderr);                                                                            \
        int se_ = dup(2), null_ = open("/dev/null", O_WRONLY);                                     \
        dup2(null_, 2);                                                                            \
        stmt;                                                                                      \
        fflush(stderr);                                                                            \
        dup2(se_, 2);                                                                              \
        close(se_);                                                                                \
        close(null_);                                                                              \
    } while (0)

static vial_test_resp *req(vial_app *app, const char *method, const char *target, int status)
{
    vial_test_resp *r = vial_test(app, method, target, NULL, NULL, 0);
    assert_non_null(r);
    if (vial_test_status(r) != status)
        print_error("%s %s: %d, want %d\n", method, target, vial_test_status(r), status);
    assert_int_equal(vial_test_status(r), status);
    return r;
}

static void call(vial_app *app, const char *method, const char *target, int status)
{
    vial_test_free(req(app, method, target, status));
}

/* The body of GET `path` (default /metrics): 200, Prometheus text. */
static char *scrape_at(vial_app *app, const char *path)
{
    vial_test_resp *r = req(app, "GET", path, 200);
    assert_string_equal(vial_test_header(r, "content-type"),
                        "text/plain; version=0.0.4; charset=utf-8");
    char *s = strdup(vial_test_body(r, NULL));
    vial_test_free(r);
    return s;
}

static char *scrape(vial_app *app)
{
    return scrape_at(app, "/metrics");
}

/* The value of the sample `series` (name and labels as written), or -1
 * when the text has no such line. */
static double value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)); p++) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            char *end;
            double v = strtod(p + n + 1, &end);
            assert_true(*end == '\n');
            return v;
        }
    }
    return -1;
}

#define assert_value(text, series, want)                                                           \
    do {                                                                                           \
        double v_ = value((text), (series));                                                       \
        if (v_ != (double)(want))                                                                  \
            print_error("%s = %g, want %g in:\n%s\n", (series), v_, (double)(want), (text));       \
        assert_true(v_ == (double)(want));                                                         \
    } while (0)

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p++)
        n++;
    return n;
}

/* ------------------------------------------------------------------ views */

static int h_item(vial_req *r)
{
    return vial_textf(r, 200, "item %" PRId64, vial_param_int(r, "id"));
}

static int h_create(vial_req *r)
{
    return vial_text(r, 201, "made");
}

static int h_boom(vial_req *r)
{
    return vial_abort(r, 503, "down");
}

static int h_fail(vial_req *r)
{
    (void)r;
    return VIAL_EIO; /* a failing view: 500 */
}

static int h_file(vial_req *r)
{
    return vial_text(r, 200, vial_param(r, "rest"));
}

static int h_plain(vial_req *r)
{
    return vial_text(r, 200, "plain");
}

static vial_app *shop(const char *const *settings)
{
    vial_app *app = new_app_with(settings);
    assert_int_equal(vial_get(app, "/items/<int:id>", h_item), 0);
    assert_int_equal(vial_post(app, "/items", h_create), 0);
    assert_int_equal(vial_get(app, "/boom", h_boom), 0);
    assert_int_equal(vial_get(app, "/fail", h_fail), 0);
    assert_int_equal(vial_get(app, "/files/<path:rest>", h_file), 0);
    assert_int_equal(vial_get(app, "/plain", h_plain), 0);
    vial_bp *bp = vial_bp_new("api");
    assert_int_equal(vial_get(bp, "/users/<name>", h_plain), 0);
    assert_int_equal(vial_register(app, bp, "/api/v1"), 0);
    return app;
}

/* ------------------------------------------------------------------ the request metrics */

static void test_route_label_is_the_pattern(void **state)
{
    (void)state;
    vial_app *app = shop(NULL);
    call(app, "GET", "/items/1", 200);
    call(app, "GET", "/items/2", 200);
    call(app, "GET", "/items/12345?color=red", 200);
    call(app, "GET", "/files/a/b/c.txt", 200);
    call(app, "GET", "/files/x", 200);
    call(app, "GET", "/api/v1/users/alice", 200);
    call(app, "GET", "/api/v1/users/bob%20smith", 200);
    char *t = scrape(app);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/items/<int:id>\",code=\"200\"}",
                 3);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/files/<path:rest>\",code=\"200\"}",
                 2);
    /* A blueprint's routes carry their prefix. */
    assert_value(
        t, "http_requests_total{method=\"GET\",route=\"/api/v1/users/<name>\",code=\"200\"}", 2);
    /* No raw path, parameter value or query anywhere. */
    static const char *const raw[] = {"/items/1", "/items/2", "12345", "color",   "a/b",
                                      "c.txt",    "alice",    "bob",   "/files/x"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(raw); i++) {
        if (strstr(t, raw[i]))
            print_error("raw '%s' in:\n%s\n", raw[i], t);
        assert_null(strstr(t, raw[i]));
    }
    /* One series per pattern, however many paths. */
    assert_int_equal(count(t, "route=\"/items/<int:id>\",code"), 1);
    free(t);
    vial_app_free(app);
}

static void test_unmatched_requests(void **state)
{
    (void)state;
    vial_app *app = shop(NULL);
    char path[64];
    for (int i = 0; i < 50; i++) {
        snprintf(path, sizeof path, "/nothing/%d", i);
        call(app, "GET", path, 404);
    }
    call(app, "GET", "/items/abc", 404); /* the converter refuses: no route */
    call(app, "GET", "/items/1/", 404);
    call(app, "DELETE", "/items/1", 405); /* the path exists, not for this method */
    char *t = scrape(app);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"(unmatched)\",code=\"404\"}", 52);
    assert_value(t, "http_requests_total{method=\"DELETE\",route=\"(unmatched)\",code=\"405\"}", 1);
    assert_null(strstr(t, "/nothing"));
    assert_null(strstr(t, "abc"));
    assert_value(t, "http_request_duration_seconds_count{route=\"(unmatched)\"}", 53);
    /* Nothing was counted for the pattern the paths resemble. */
    assert_int_equal(
        value(t, "http_requests_total{method=\"GET\",route=\"/items/<int:id>\",code=\"200\"}"), -1);
    free(t);
    vial_app_free(app);
}

static void test_codes_and_methods(void **state)
{
    (void)state;
    vial_app *app = shop(NULL);
    call(app, "POST", "/items", 201);
    call(app, "POST", "/items", 201);
    call(app, "GET", "/boom", 503);
    QUIET(call(app, "GET", "/fail", 500));
    vial_test_resp *r = vial_test(app, "HEAD", "/items/7", NULL, NULL, 0);
    assert_int_equal(vial_test_status(r), 200);
    vial_test_free(r);
    call(app, "GET", "/items/7", 200);
    call(app, "OPTIONS", "/items/7", 204);
    /* A request the parser refuses has no method: "-". */
    const char bad[] = "GET /items/7 HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n";
    vial_test_resp *b = vial_test_raw(app, bad, sizeof bad - 1);
    assert_int_equal(vial_test_status(b), 400);
    vial_test_free(b);
    const char propfind[] = "PROPFIND /items/7 HTTP/1.1\r\nHost: x\r\n\r\n";
    b = vial_test_raw(app, propfind, sizeof propfind - 1);
    assert_int_equal(vial_test_status(b), 405);
    vial_test_free(b);
    const char brew[] = "BREW /items/7 HTTP/1.1\r\nHost: x\r\n\r\n";
    b = vial_test_raw(app, brew, sizeof brew - 1);
    assert_int_equal(vial_test_status(b), 501);
    vial_test_free(b);
    char *t = scrape(app);
    assert_value(t, "http_requests_total{method=\"POST\",route=\"/items\",code=\"201\"}", 2);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/boom\",code=\"503\"}", 1);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/fail\",code=\"500\"}", 1);
    assert_value(t, "http_requests_total{method=\"HEAD\",route=\"/items/<int:id>\",code=\"200\"}",
                 1);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/items/<int:id>\",code=\"200\"}",
                 1);
    assert_value(t, "http_requests_total{method=\"-\",route=\"(unmatched)\",code=\"400\"}", 1);
    /* Automatic OPTIONS answers are no route's. */
    assert_value(t, "http_requests_total{method=\"OPTIONS\",route=\"(unmatched)\",code=\"204\"}",
                 1);
    /* A method vial routes nothing for is named by its text; one the
     * parser does not know is "-". */
    assert_value(t, "http_requests_total{method=\"PROPFIND\",route=\"(unmatched)\",code=\"405\"}",
                 1);
    assert_value(t, "http_requests_total{method=\"-\",route=\"(unmatched)\",code=\"501\"}", 1);
    /* The durations, per route (every method and code together). */
    assert_value(t, "http_request_duration_seconds_count{route=\"/items\"}", 2);
    assert_value(t, "http_request_duration_seconds_count{route=\"/boom\"}", 1);
    free(t);
    vial_app_free(app);
}

static void test_duration_histogram(void **state)
{
    (void)state;
    vial_app *app = shop(NULL);
    for (int i = 0; i < 7; i++)
        call(app, "GET", "/plain", 200);
    for (int i = 0; i < 3; i++)
        call(app, "GET", "/items/9", 200);
    char *t = scrape(app);
    assert_value(t, "http_request_duration_seconds_count{route=\"/plain\"}", 7);
    assert_value(t, "http_request_duration_seconds_bucket{route=\"/plain\",le=\"+Inf\"}", 7);
    assert_value(t, "http_request_duration_seconds_count{route=\"/items/<int:id>\"}", 3);
    assert_value(t, "http_request_duration_seconds_bucket{route=\"/items/<int:id>\",le=\"+Inf\"}",
                 3);
    double sum = value(t, "http_request_duration_seconds_sum{route=\"/plain\"}");
    assert_true(sum >= 0);
    /* The default latency buckets, written as Prometheus clients write them. */
    static const char *const les[] = {"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                      "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};
    double prev = 0;
    for (size_t i = 0; i < VIAL__ARRAY_LEN(les); i++) {
        char s[128];
        snprintf(s, sizeof s, "http_request_duration_seconds_bucket{route=\"/plain\",le=\"%s\"}",
                 les[i]);
        double v = value(t, s);
        if (v < 0)
            print_error("no %s in:\n%s\n", s, t);
        assert_true(v >= prev && v <= 7);
        prev = v;
    }
    /* Routes nobody called have no samples (the /metrics scrape itself is
     * counted once its response is queued: after this text was made). */
    assert_null(strstr(t, "_bucket{route=\"/boom\""));
    assert_null(strstr(t, "_count{route=\"/fail\""));
    assert_null(strstr(t, "_count{route=\"/metrics\""));
    assert_null(strstr(t, "_count{route=\"(unmatched)\""));
    free(t);
    t = scrape(app);
    assert_value(t, "http_request_duration_seconds_count{route=\"/metrics\"}", 1);
    free(t);
    vial_app_free(app);
}

static void test_the_metrics_view(void **state)
{
    (void)state;
    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    vial_app *app = shop(NULL);
    clock_gettime(CLOCK_REALTIME, &after);
    call(app, "GET", "/plain", 200);
    vial_test_resp *r = req(app, "GET", "/metrics", 200);
    assert_string_equal(vial_test_header(r, "cache-control"), "no-store");
    const char *t = vial_test_body(r, NULL);
    /* The scrape itself is the one request in flight. */
    assert_value(t, "http_requests_in_flight", 1);
    /* No sockets here: no connections or bytes. */
    assert_value(t, "http_connections_open", 0);
    assert_value(t, "http_received_bytes_total", 0);
    assert_value(t, "http_sent_bytes_total", 0);
    /* The process. */
    assert_true(value(t, "process_open_fds") >= 3);
    assert_true(value(t, "process_max_fds") >= value(t, "process_open_fds"));
    assert_true(value(t, "process_resident_memory_bytes") > 0);
    assert_true(value(t, "process_virtual_memory_bytes") >=
                value(t, "process_resident_memory_bytes"));
    assert_true(value(t, "process_cpu_seconds_total") >= 0);
    double start = value(t, "process_start_time_seconds");
    assert_true(start >= (double)before.tv_sec && start <= (double)after.tv_sec + 1);
    char build[96];
    snprintf(build, sizeof build, "vial_build_info{version=\"%s\"}", VIAL_VERSION_STRING);
    assert_value(t, build, 1);
    /* Every family says what it is. */
    static const char *const types[] = {
        "http_requests_total counter",
        "http_request_duration_seconds histogram",
        "http_requests_in_flight gauge",
        "http_connections_open gauge",
        "http_received_bytes_total counter",
        "http_sent_bytes_total counter",
        "process_cpu_seconds_total counter",
        "process_resident_memory_bytes gauge",
        "process_virtual_memory_bytes gauge",
        "process_open_fds gauge",
        "process_max_fds gauge",
        "process_start_time_seconds gauge",
        "vial_build_info gauge",
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(types); i++) {
        char line[128];
        snprintf(line, sizeof line, "\n# TYPE %s\n", types[i]);
        if (!strstr(t, line) && strncmp(t, line + 1, strlen(line + 1)))
            print_error("no [%s] in:\n%s\n", line + 1, t);
        assert_true(strstr(t, line) || !strncmp(t, line + 1, strlen(line + 1)));
    }
    vial_test_free(r);
    /* The next scrape again sees only itself in flight, and counts the last one. */
    char *u = scrape(app);
    assert_value(u, "http_requests_in_flight", 1);
    assert_value(u, "http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"}", 1);
    free(u);
    /* HEAD of it (answered by the GET route) is counted as a HEAD. */
    vial_test_resp *h = vial_test(app, "HEAD", "/metrics", NULL, NULL, 0);
    assert_int_equal(vial_test_status(h), 200);
    vial_test_free(h);
    u = scrape(app);
    assert_value(u, "http_requests_total{method=\"HEAD\",route=\"/metrics\",code=\"200\"}", 1);
    assert_value(u, "http_requests_total{method=\"GET\",route=\"/metrics\",code=\"200\"}", 2);
    free(u);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ who may read */

/* A session from `peer`, made as the test client makes its own (which is
 * always 127.0.0.1). */
typedef struct peer_conn {
    vial__buf out;
    vial__outq q;
    bool closed;
    int phase;
} peer_conn;

static void p_write(void *ud)
{
    peer_conn *c = ud;
    struct iovec iov[64];
    while (c->q.bytes) {
        size_t n = vial__outq_iov(&c->q, iov, 64), total = 0;
        for (size_t i = 0; i < n; i++) {
            vial__buf_append(&c->out, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        vial__outq_consume(&c->q, total);
    }
}

static void p_close(void *ud, bool now)
{
    (void)now;
    ((peer_conn *)ud)->closed = true;
}

static void p_phase(void *ud, int phase)
{
    ((peer_conn *)ud)->phase = phase;
}

static const vial__transport peer_transport = {
    .want_write = p_write, .want_close = p_close, .phase = p_phase};

/* The status of GET `path` (with `headers`, "Name: value\r\n"...) from
 * `peer`; the response (head and body) in `out` when not NULL (free it). */
static int get_from(vial_app *app, const char *peer, const char *path, const char *headers,
                    char **out)
{
    assert_int_equal(vial__app_compile(app), 0);
    vial__worker *w = vial__test_worker(app);
    assert_non_null(w);
    peer_conn c = {0};
    c.q.coal.pool = w->pool;
    void *s = vial__h1_new(&app->lim.h1, &vial__core_handler, w, w->pool, peer);
    assert_non_null(s);
    const vial__proto *p = &vial__h1_proto;
    p->attach(s, &peer_transport, &c, &c.q);
    char reqtext[512];
    int n = snprintf(reqtext, sizeof reqtext, "GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path,
                     headers ? headers : "");
    char *buf;
    size_t room;
    int rc = p->rbuf(s, (size_t)n, &buf, &room);
    assert_true(rc >= 0);
    if (rc > 0) {
        p->received(s, reqtext, (size_t)n);
    } else {
        assert_true(room >= (size_t)n);
        memcpy(buf, reqtext, (size_t)n);
        p->received(s, buf, (size_t)n);
    }
    p_write(&c);
    p->close(s);
    vial__outq_free(&c.q);
    vial__buf_nul(&c.out);
    assert_non_null(c.out.p);
    assert_true(!strncmp(c.out.p, "HTTP/1.1 ", 9));
    int status = atoi(c.out.p + 9);
    if (out)
        *out = c.out.p;
    else
        vial__buf_free(&c.out);
    return status;
}

static void test_loopback_peers_may_read(void **state)
{
    (void)state;
    vial_app *app = shop(NULL);
    static const char *const ok[] = {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(ok); i++) {
        char *out = NULL;
        assert_int_equal(get_from(app, ok[i], "/metrics", NULL, &out), 200);
        assert_non_null(strstr(out, "\r\n\r\n# HELP "));
        assert_non_null(strstr(out, "\nprocess_open_fds "));
        free(out);
    }
    vial_app_free(app);
}

static void test_others_get_403(void **state)
{
    (void)state;
    vial_app *app = shop(NULL);
    static const char *const no[] = {"10.1.2.3", "192.168.0.7",     "8.8.8.8", "2001:db8::1",
                                     "::2",      "::ffff:10.1.2.3", "fe80::1"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(no); i++) {
        char *out = NULL;
        assert_int_equal(get_from(app, no[i], "/metrics", NULL, &out), 403);
        /* The error, not the metrics. */
        assert_null(strstr(out, "http_requests_total"));
        assert_null(strstr(out, "# HELP"));
        free(out);
    }
    /* The app's other routes answer them as usual. */
    assert_int_equal(get_from(app, "10.1.2.3", "/plain", NULL, NULL), 200);
    /* A forwarded address is never believed here, even from a trusted proxy. */
    vial_config_set(app, "trusted_proxies", "10.0.0.0/8");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_int_equal(get_from(app, "10.1.2.3", "/metrics",
                              "X-Forwarded-For: 127.0.0.1\r\nX-Real-IP: 127.0.0.1\r\n", NULL),
                     403);
    /* The refusals are counted like any answer. */
    char *t = scrape(app);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/metrics\",code=\"403\"}",
                 VIAL__ARRAY_LEN(no) + 1);
    free(t);
    vial_app_free(app);
}

static void test_metrics_allow(void **state)
{
    (void)state;
    vial_app *app =
        shop((const char *[]){"metrics_allow", "10.0.0.0/8, 192.168.1.7 2001:db8::/32", NULL});
    static const struct {
        const char *peer;
        int status;
    } cases[] = {
        {"10.1.2.3", 200},    {"10.255.255.255", 200},  {"11.0.0.1", 403},
        {"192.168.1.7", 200}, {"192.168.1.8", 403},     {"2001:db8::1", 200},
        {"2001:db9::1", 403}, {"::ffff:10.9.9.9", 200}, {"127.0.0.1", 200},
        {"::1", 200},
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(cases); i++) {
        int st = get_from(app, cases[i].peer, "/metrics", NULL, NULL);
        if (st != cases[i].status)
            print_error("%s: %d, want %d\n", cases[i].peer, st, cases[i].status);
        assert_int_equal(st, cases[i].status);
    }
    /* A narrower list, configured again, takes the place of the old one. */
    vial_config_set(app, "metrics_allow", "10.1.2.3");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_int_equal(get_from(app, "10.1.2.3", "/metrics", NULL, NULL), 200);
    assert_int_equal(get_from(app, "10.1.2.4", "/metrics", NULL, NULL), 403);
    assert_int_equal(get_from(app, "192.168.1.7", "/metrics", NULL, NULL), 403);
    /* A list that does not parse is a configuration error. */
    static const char *const bad[] = {"10.0.0.0/33", "not-an-address", "10.0.0.0/", "::1/129",
                                      "10.0.0.1/-1"};
    for (size_t i = 0; i < VIAL__ARRAY_LEN(bad); i++) {
        vial_config_set(app, "metrics_allow", bad[i]);
        int rc;
        QUIET(rc = vial_configure(app, 0, NULL));
        if (rc != VIAL_EINVAL)
            print_error("metrics_allow '%s' accepted\n", bad[i]);
        assert_int_equal(rc, VIAL_EINVAL);
    }
    vial_app_free(app);
}

/* ------------------------------------------------------------------ settings */

static int h_own_metrics(vial_req *r)
{
    return vial_text(r, 200, "the app's own");
}

static vial_metric *jobs;

static int h_job(vial_req *r)
{
    int rc = vial_metric_add(vial_app_of(r), r, jobs, (const char *[]){"mail"}, 1);
    return vial_textf(r, 200, "%d", rc);
}

static void test_metrics_off(void **state)
{
    (void)state;
    vial_app *app = shop((const char *[]){"metrics", "off", NULL});
    jobs = vial_counter(app, "app_jobs_total", "Jobs.", (const char *[]){"kind", NULL});
    assert_non_null(jobs); /* declaring works either way */
    assert_int_equal(vial_get(app, "/job", h_job), 0);
    /* No /metrics route. */
    call(app, "GET", "/metrics", 404);
    call(app, "GET", "/items/1", 200);
    call(app, "GET", "/nothing", 404);
    /* Recording answers 0 and records nothing. */
    vial_test_resp *r = req(app, "GET", "/job", 200);
    assert_string_equal(vial_test_body(r, NULL), "0");
    vial_test_free(r);
    assert_int_equal(vial_metric_add(app, NULL, jobs, (const char *[]){"mail"}, 5), 0);
    /* Switched on afterwards, the metrics show nothing of the above. */
    vial_config_set(app, "metrics", "on");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    char *t = scrape(app);
    assert_null(strstr(t, "/items/"));
    assert_null(strstr(t, "(unmatched)"));
    assert_value(t, "app_jobs_total{kind=\"mail\"}", 0);
    assert_value(t, "http_requests_in_flight", 1);
    free(t);
    vial_app_free(app);

    /* Off, the path is free for the app. */
    app = new_app_with((const char *[]){"metrics", "off", NULL});
    assert_int_equal(vial_get(app, "/metrics", h_own_metrics), 0);
    r = req(app, "GET", "/metrics", 200);
    assert_string_equal(vial_test_body(r, NULL), "the app's own");
    vial_test_free(r);
    vial_app_free(app);
}

/* An app that routes the metrics path itself keeps it (core.h: "an app
 * that took the path itself keeps it"): its view answers, the app starts. */
static void test_app_route_at_metrics_path(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_int_equal(vial_get(app, "/metrics", h_own_metrics), 0);
    vial_test_resp *r = vial_test(app, "GET", "/metrics", NULL, NULL, 0);
    assert_non_null(r);
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_body(r, NULL), "the app's own");
    vial_test_free(r);
    vial_app_free(app);
}

static void test_metrics_path(void **state)
{
    (void)state;
    vial_app *app = shop((const char *[]){"metrics_path", "/internal/prom", NULL});
    call(app, "GET", "/metrics", 404);
    call(app, "GET", "/plain", 200);
    char *t = scrape_at(app, "/internal/prom");
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/plain\",code=\"200\"}", 1);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"(unmatched)\",code=\"404\"}", 1);
    free(t);
    t = scrape_at(app, "/internal/prom");
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/internal/prom\",code=\"200\"}", 1);
    free(t);
    /* Still loopback only. */
    assert_int_equal(get_from(app, "10.0.0.1", "/internal/prom", NULL, NULL), 403);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ the public API */

static vial_metric *m_count, *m_depth, *m_lat;
static int64_t m_lat_fast;

static int h_work(vial_req *r)
{
    vial_app *app = vial_app_of(r);
    const char *kind = vial_arg(r, "kind");
    int rc = vial_metric_add(app, r, m_count, (const char *[]){kind ? kind : "none", "x"}, 1);
    rc |= vial_metric_add(app, r, m_depth, NULL, 2);
    rc |= vial_metric_add_series(app, r, m_lat, m_lat_fast, 0.05);
    return rc ? vial_abort(r, 500, "metric") : vial_text(r, 200, "ok");
}

typedef struct bg_arg {
    vial_app *app;
    int rc;
} bg_arg;

static void *background(void *p)
{
    bg_arg *a = p;
    for (int i = 0; i < 1000; i++)
        a->rc |= vial_metric_add(a->app, NULL, m_count, (const char *[]){"bg", "x"}, 1);
    return NULL;
}

static void test_app_metrics(void **state)
{
    (void)state;
    vial_app *app = new_app();
    m_count =
        vial_counter(app, "app_work_total", "Work done.", (const char *[]){"kind", "extra", NULL});
    m_depth = vial_gauge(app, "app_queue_depth", "Queued.", NULL);
    const double bounds[] = {0.01, 0.1, 1};
    m_lat = vial_histogram(app, "app_work_seconds", "Work time.", (const char *[]){"speed", NULL},
                           bounds, 3);
    vial_metric *dflt = vial_histogram(app, "app_default_seconds", "Defaults.", NULL, NULL, 0);
    assert_non_null(m_count);
    assert_non_null(m_depth);
    assert_non_null(m_lat);
    assert_non_null(dflt);
    m_lat_fast = vial_metric_series(app, m_lat, (const char *[]){"fast"});
    assert_true(m_lat_fast >= 0);
    assert_int_equal(vial_metric_series(app, m_lat, (const char *[]){"fast"}), m_lat_fast);
    assert_int_equal(vial_get(app, "/work", h_work), 0);
    call(app, "GET", "/work?kind=a", 200);
    call(app, "GET", "/work?kind=a", 200);
    call(app, "GET", "/work?kind=b%22q%5C", 200); /* b"q\ */
    call(app, "GET", "/work", 200);
    /* From the main thread outside a request, and from another thread. */
    assert_int_equal(vial_metric_add(app, NULL, m_depth, NULL, -1.5), 0);
    assert_int_equal(vial_metric_add(app, NULL, m_lat, (const char *[]){"slow"}, 5), 0);
    assert_int_equal(vial_metric_add(app, NULL, dflt, NULL, 0.002), 0);
    bg_arg a = {app, 0};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, background, &a), 0);
    pthread_join(th, NULL);
    assert_int_equal(a.rc, 0);
    char *t = scrape(app);
    assert_true(strstr(t, "\n# HELP app_work_total Work done.\n# TYPE app_work_total counter\n") !=
                NULL);
    assert_value(t, "app_work_total{kind=\"a\",extra=\"x\"}", 2);
    assert_value(t, "app_work_total{kind=\"b\\\"q\\\\\",extra=\"x\"}", 1);
    assert_value(t, "app_work_total{kind=\"none\",extra=\"x\"}", 1);
    assert_value(t, "app_work_total{kind=\"bg\",extra=\"x\"}", 1000);
    assert_true(strstr(t, "\n# TYPE app_queue_depth gauge\n") != NULL);
    assert_value(t, "app_queue_depth", 8 - 1.5);
    assert_true(strstr(t, "\n# TYPE app_work_seconds histogram\n") != NULL);
    assert_value(t, "app_work_seconds_bucket{speed=\"fast\",le=\"0.01\"}", 0);
    assert_value(t, "app_work_seconds_bucket{speed=\"fast\",le=\"0.1\"}", 4);
    assert_value(t, "app_work_seconds_bucket{speed=\"fast\",le=\"1\"}", 4);
    assert_value(t, "app_work_seconds_bucket{speed=\"fast\",le=\"+Inf\"}", 4);
    assert_value(t, "app_work_seconds_count{speed=\"fast\"}", 4);
    assert_value(t, "app_work_seconds_sum{speed=\"fast\"}", 0.0 + 0.05 + 0.05 + 0.05 + 0.05);
    assert_value(t, "app_work_seconds_bucket{speed=\"slow\",le=\"1\"}", 0);
    assert_value(t, "app_work_seconds_bucket{speed=\"slow\",le=\"+Inf\"}", 1);
    assert_value(t, "app_work_seconds_sum{speed=\"slow\"}", 5);
    assert_value(t, "app_default_seconds_bucket{le=\"0.001\"}", 0);
    assert_value(t, "app_default_seconds_bucket{le=\"0.0025\"}", 1);
    assert_value(t, "app_default_seconds_bucket{le=\"10\"}", 1);
    /* App metrics come after core's. */
    assert_true(strstr(t, "# HELP app_work_total") > strstr(t, "# HELP vial_build_info"));
    free(t);
    vial_app_free(app);
}

static void test_app_metric_misuse(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_metric *c = vial_counter(app, "app_total", "help", (const char *[]){"k", NULL});
    assert_non_null(c);
    assert_null(vial_counter(NULL, "x_total", "help", NULL));
    assert_null(vial_gauge(NULL, "x", "help", NULL));
    assert_null(vial_histogram(NULL, "x", "help", NULL, NULL, 0));
    /* Label values missing, a bad handle, no metric. */
    assert_int_equal(vial_metric_add(app, NULL, c, NULL, 1), VIAL_EINVAL);
    assert_int_equal(vial_metric_add(app, NULL, c, (const char *[]){NULL}, 1), VIAL_EINVAL);
    assert_int_equal(vial_metric_add(app, NULL, NULL, NULL, 1), VIAL_EINVAL);
    assert_int_equal(vial_metric_add(NULL, NULL, c, (const char *[]){"v"}, 1), VIAL_EINVAL);
    assert_int_equal(vial_metric_series(app, NULL, NULL), VIAL_EINVAL);
    assert_int_equal(vial_metric_series(NULL, c, (const char *[]){"v"}), VIAL_EINVAL);
    assert_int_equal(vial_metric_add_series(app, NULL, c, -1, 1), VIAL_EINVAL);
    assert_int_equal(vial_metric_add_series(app, NULL, NULL, 0, 1), VIAL_EINVAL);
    /* None of that recorded anything; the app still starts. */
    call(app, "GET", "/nothing", 404);
    char *t = scrape(app);
    assert_null(strstr(t, "app_total{"));
    assert_true(strstr(t, "# HELP app_total") == NULL);
    free(t);
    vial_app_free(app);
}

/* vial_run() with stderr captured (into `err`). */
static int run_captured(vial_app *app, const char *cmd, char *err, size_t cap)
{
    fflush(stderr);
    FILE *e = tmpfile();
    assert_non_null(e);
    int se = dup(2);
    dup2(fileno(e), 2);
    char *argv[] = {"t", (char *)cmd, NULL};
    int rc = vial_run(app, 2, argv);
    fflush(stderr);
    dup2(se, 2);
    close(se);
    rewind(e);
    size_t n = fread(err, 1, cap - 1, e);
    err[n] = '\0';
    fclose(e);
    return rc;
}

static const double descending[] = {2, 1};

static void test_bad_declarations_refuse_start(void **state)
{
    (void)state;
    static const struct {
        int type; /* 0 counter, 1 gauge, 2 histogram */
        const char *name, *label;
        const double *bounds;
        size_t nbounds;
        const char *says;
    } cases[] = {
        {0, "bad-name_total", NULL, NULL, 0, "metric bad-name_total: "},
        {1, "9lives", NULL, NULL, 0, "metric 9lives: "},
        {0, "http_requests_total", NULL, NULL, 0,
         "metric http_requests_total: a metric of that name exists"},
        {1, "process_open_fds", NULL, NULL, 0,
         "metric process_open_fds: a metric of that name exists"},
        {0, "ok_total", "le", NULL, 0, "metric ok_total: label names"},
        {0, "ok_total", "__reserved", NULL, 0, "metric ok_total: label names"},
        {2, "h_seconds", NULL, descending, 2, "metric h_seconds: histogram bounds"},
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(cases); i++) {
        vial_app *app = new_app();
        assert_int_equal(vial_get(app, "/plain", h_plain), 0);
        const char *labels[] = {cases[i].label, NULL};
        vial_metric *m = NULL;
        QUIET(m = cases[i].type == 0   ? vial_counter(app, cases[i].name, "help", labels)
                  : cases[i].type == 1 ? vial_gauge(app, cases[i].name, "help", labels)
                                       : vial_histogram(app, cases[i].name, "help", labels,
                                                        cases[i].bounds, cases[i].nbounds));
        assert_null(m);
        char err[4096];
        int rc = run_captured(app, "routes", err, sizeof err);
        if (rc != 1 || !strstr(err, "cannot start: ") || !strstr(err, cases[i].says))
            print_error("case %zu: rc %d, stderr [%s]\n", i, rc, err);
        assert_int_equal(rc, 1);
        assert_non_null(strstr(err, "t: cannot start: "));
        assert_non_null(strstr(err, cases[i].says));
        /* The test client refuses too. */
        vial_test_resp *r;
        QUIET(r = vial_test(app, "GET", "/plain", NULL, NULL, 0));
        assert_null(r);
        vial_app_free(app);
    }
    /* Good declarations do not stop it. */
    vial_app *app = new_app();
    assert_non_null(vial_counter(app, "fine_total", "help", NULL));
    char err[4096];
    fflush(stdout);
    int so = dup(1), null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    int rc = run_captured(app, "routes", err, sizeof err);
    fflush(stdout);
    dup2(so, 1);
    close(so);
    close(null);
    assert_int_equal(rc, 0);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ routes compiled again */

/* Routes added after the first request (the test client compiles again):
 * every request is still counted under its own pattern. */
static void test_routes_added_later(void **state)
{
    (void)state;
    vial_app *app = new_app();
    assert_int_equal(vial_get(app, "/a", h_plain), 0);
    vial_bp *bp = vial_bp_new("b");
    assert_int_equal(vial_get(bp, "/b", h_plain), 0);
    assert_int_equal(vial_register(app, bp, ""), 0);
    call(app, "GET", "/b", 200);
    call(app, "GET", "/a", 200);
    /* A root route: compiled before the blueprint's, it takes /b's place. */
    assert_int_equal(vial_get(app, "/c", h_plain), 0);
    call(app, "GET", "/c", 200);
    call(app, "GET", "/b", 200);
    call(app, "GET", "/c", 200);
    char *t = scrape(app);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/a\",code=\"200\"}", 1);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/b\",code=\"200\"}", 2);
    assert_value(t, "http_requests_total{method=\"GET\",route=\"/c\",code=\"200\"}", 2);
    assert_value(t, "http_request_duration_seconds_count{route=\"/b\"}", 2);
    assert_value(t, "http_request_duration_seconds_count{route=\"/c\"}", 2);
    free(t);
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_label_is_the_pattern),
        cmocka_unit_test(test_unmatched_requests),
        cmocka_unit_test(test_codes_and_methods),
        cmocka_unit_test(test_duration_histogram),
        cmocka_unit_test(test_the_metrics_view),
        cmocka_unit_test(test_loopback_peers_may_read),
        cmocka_unit_test(test_others_get_403),
        cmocka_unit_test(test_metrics_allow),
        cmocka_unit_test(test_metrics_off),
        cmocka_unit_test(test_app_route_at_metrics_path),
        cmocka_unit_test(test_metrics_path),
        cmocka_unit_test(test_app_metrics),
        cmocka_unit_test(test_app_metric_misuse),
        cmocka_unit_test(test_bad_declarations_refuse_start),
        cmocka_unit_test(test_routes_added_later),
    };
    return RUN_GROUP(tests);
}

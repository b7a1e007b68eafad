/*
 * metrics.c — the app's metrics: the HTTP ones core records for every
 * request, the process and build ones, the public API apps declare and
 * record their own with, and the /metrics view.
 *
 * The registry (src/ops/metrics.c) keeps every value per worker without
 * locks; what this file adds is finding a request's series without a lock
 * either: the duration histogram's series are made per route when routes
 * are compiled, and http_requests_total{method,route,code} series are
 * found through a small per-worker cache keyed by (route, method, code),
 * so only the first request of a kind takes the registry's mutex.
 */
#include "core.h"

#include <dirent.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define UNMATCHED "(unmatched)" /* the route label of requests no route took */

/* ------------------------------------------------------------------ process and build */

static double process_cpu(void *ud)
{
    VIAL__UNUSED(ud);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru))
        return 0;
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

static double statm_field(int which)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (!f)
        return 0;
    int n = fscanf(f, "%lu %lu", &size, &resident);
    fclose(f);
    if (n != 2)
        return 0;
    return (double)(which ? resident : size) * (double)sysconf(_SC_PAGESIZE);
}

static double process_rss(void *ud)
{
    VIAL__UNUSED(ud);
    return statm_field(1);
}

static double process_vsize(void *ud)
{
    VIAL__UNUSED(ud);
    return statm_field(0);
}

static double process_open_fds(void *ud)
{
    VIAL__UNUSED(ud);
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    double n = 0;
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static double process_max_fds(void *ud)
{
    VIAL__UNUSED(ud);
    struct rlimit rl;
    return getrlimit(RLIMIT_NOFILE, &rl) ? 0 : (double)rl.rlim_cur;
}

static double process_start(void *ud)
{
    return *(double *)ud;
}

/* ------------------------------------------------------------------ set-up */

typedef struct appmetrics {
    vial__metrics *reg;
    vial__mfamily *requests, *duration, *in_flight, *conns, *bytes_in, *bytes_out;
    int64_t in_flight_s, conns_s, bytes_in_s, bytes_out_s;
    double started; /* seconds since the epoch */
    uint64_t gen;   /* route compilations: a new one empties the workers' caches */
    vial__netlist *allow;
} appmetrics;

static int family(appmetrics *am, vial__mfamily **out, int type, const char *name, const char *help,
                  const char *const *labels)
{
    const char *why;
    *out = vial__metrics_family(am->reg, type, name, help, labels, NULL, 0, &why);
    if (!*out)
        vial_log(VIAL_LOG_ERROR, "metric %s: %s", name, why);
    return *out ? 0 : VIAL_ENOMEM;
}

int vial__metrics_init(vial_app *app)
{
    appmetrics *am = calloc(1, sizeof *am);
    if (!am || !(am->reg = vial__metrics_new())) {
        free(am);
        return VIAL_ENOMEM;
    }
    app->metrics = am;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    am->started = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
    static const char *const req_labels[] = { "method", "route", "code", NULL };
    static const char *const route_label[] = { "route", NULL };
    static const char *const version_label[] = { "version", NULL };
    vial__mfamily *f;
    int rc = 0;
    rc |= family(am, &am->requests, VIAL__M_COUNTER, "http_requests_total",
                 "Requests answered, by method, route pattern and status code.", req_labels);
    rc |= family(am, &am->duration, VIAL__M_HISTOGRAM, "http_request_duration_seconds",
                 "Time from a request's exchange to its response queued, by route pattern.",
                 route_label);
    rc |= family(am, &am->in_flight, VIAL__M_GAUGE, "http_requests_in_flight",
                 "Requests received and not yet answered.", NULL);
    rc |= family(am, &am->conns, VIAL__M_GAUGE, "http_connections_open", "Open client connections.",
                 NULL);
    rc |= family(am, &am->bytes_in, VIAL__M_COUNTER, "http_received_bytes_total",
                 "Bytes read from client connections.", NULL);
    rc |= family(am, &am->bytes_out, VIAL__M_COUNTER, "http_sent_bytes_total",
                 "Bytes written to client connections.", NULL);
    if (rc)
        return VIAL_ENOMEM;
    am->in_flight_s = vial__metrics_series(am->reg, am->in_flight, NULL);
    am->conns_s = vial__metrics_series(am->reg, am->conns, NULL);
    am->bytes_in_s = vial__metrics_series(am->reg, am->bytes_in, NULL);
    am->bytes_out_s = vial__metrics_series(am->reg, am->bytes_out, NULL);
    static const struct {
        int type;
        const char *name, *help;
        vial__mread_fn read;
    } proc[] = {
        { VIAL__M_COUNTER, "process_cpu_seconds_total", "User and system CPU time spent, in seconds.",
          process_cpu },
        { VIAL__M_GAUGE, "process_resident_memory_bytes", "Resident memory size in bytes.", process_rss },
        { VIAL__M_GAUGE, "process_virtual_memory_bytes", "Virtual memory size in bytes.", process_vsize },
        { VIAL__M_GAUGE, "process_open_fds", "Number of open file descriptors.", process_open_fds },
        { VIAL__M_GAUGE, "process_max_fds", "Maximum number of open file descriptors.", process_max_fds },
        { VIAL__M_GAUGE, "process_start_time_seconds",
          "Start time of the process since unix epoch in seconds.", process_start },
    };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(proc); i++) {
        if (family(am, &f, proc[i].type, proc[i].name, proc[i].help, NULL))
            return VIAL_ENOMEM;
        vial__metrics_reader(f, proc[i].read, proc[i].read == process_start ? &am->started : NULL);
    }
    if (family(am, &f, VIAL__M_GAUGE, "vial_build_info", "The vial version this server runs (always 1).",
               version_label))
        return VIAL_ENOMEM;
    const char *v[] = { VIAL_VERSION_STRING };
    int64_t s = vial__metrics_series(am->reg, f, v);
    vial__metrics_add(am->reg, -1, f, s, 1);
    return s < 0 ? (int)s : 0;
}

void vial__metrics_fini(vial_app *app)
{
    appmetrics *am = app->metrics;
    if (!am)
        return;
    vial__metrics_free(am->reg);
    vial__netlist_free(am->allow);
    free(am);
    app->metrics = NULL;
}

int vial__metrics_configure(vial_app *app)
{
    appmetrics *am = app->metrics;
    char why[200];
    vial__netlist *l = NULL;
    int rc = vial__netlist_parse(vial_config(app, "metrics_allow"), &l, why, sizeof why);
    if (rc) {
        if (rc == VIAL_EPARSE)
            vial_log(VIAL_LOG_ERROR, "config metrics_allow: %s", why);
        return VIAL_EINVAL;
    }
    vial__netlist_free(am->allow);
    am->allow = l;
    app->metrics_on = vial_config_bool(app, "metrics", 1);
    app->lim.loop.metrics = app->metrics_on ? am->reg : NULL;
    app->lim.loop.m_conns = am->conns;
    app->lim.loop.m_conns_s = am->conns_s;
    app->lim.loop.m_bytes_in = am->bytes_in;
    app->lim.loop.m_bytes_in_s = am->bytes_in_s;
    app->lim.loop.m_bytes_out = am->bytes_out;
    app->lim.loop.m_bytes_out_s = am->bytes_out_s;
    return 0;
}

/* The duration histogram's series of every compiled route (and, last, of
 * requests no route took): made once, when the routes are compiled. */
int vial__metrics_routes(vial_app *app)
{
    appmetrics *am = app->metrics;
    am->gen++; /* route indexes may have moved (routes added, test client) */
    free(app->route_dur);
    app->route_dur = malloc((app->nall_routes + 1) * sizeof *app->route_dur);
    if (!app->route_dur)
        return VIAL_ENOMEM;
    for (size_t i = 0; i <= app->nall_routes; i++) {
        const char *v[] = { i < app->nall_routes ? app->all_routes[i]->pattern : UNMATCHED };
        app->route_dur[i] = vial__metrics_series(am->reg, am->duration, v);
        if (app->route_dur[i] < 0)
            return (int)app->route_dur[i];
    }
    return 0;
}

/* ------------------------------------------------------------------ recording */

/* Requests in flight: two samples per request, so the worker keeps its cell
 * (metrics that cost a fixed share of a /json request: issue 13's budget). */
static void in_flight(vial_req *req, double v)
{
    appmetrics *am = req->app->metrics;
    vial__worker *w = req->w;
    if (!w->m_inflight)
        w->m_inflight = vial__metrics_cells(am->reg, w->id, am->in_flight_s);
    if (w->m_inflight)
        vial__metrics_bump(w->m_inflight, v);
    else /* not a worker's slot (or out of memory): the shared slot, under the lock */
        vial__metrics_add(am->reg, w->id, am->in_flight, am->in_flight_s, v);
}

void vial__metrics_begin(vial_req *req)
{
    in_flight(req, 1);
}

void vial__metrics_end(vial_req *req)
{
    in_flight(req, -1);
}

void vial__metrics_done(vial_req *req)
{
    vial_app *app = req->app;
    appmetrics *am = app->metrics;
    vial__worker *w = req->w;
    const vial__msg *m = &req->m;
    size_t ridx = req->route ? req->route->idx : app->nall_routes;
    if (ridx > app->nall_routes)
        ridx = app->nall_routes;
    if (w->mcache_gen != am->gen) {
        memset(w->mcache, 0, sizeof w->mcache);
        w->mcache_gen = am->gen;
    }
    double secs = app->route_dur ? (double)(vial__now_ns() - req->t0_ns) / 1e9 : 0;
    /* A method vial has no bit for is rare and named by its text: no cache. */
    uint64_t key = ((uint64_t)ridx + 1) << 40 | (uint64_t)m->method_bit << 24 | (uint32_t)m->status;
    size_t h = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 55); /* 9 bits: 512 entries */
    if (m->method_bit && w->mcache[h].key == key) {
        vial__metrics_bump(w->mcache[h].requests, 1);
        if (w->mcache[h].duration)
            vial__metrics_record(w->mcache[h].duration, am->duration, secs);
        return;
    }
    char code[12];
    snprintf(code, sizeof code, "%d", m->status);
    const char *v[] = { m->method ? m->method : "-",
                        ridx < app->nall_routes ? app->all_routes[ridx]->pattern : UNMATCHED, code };
    int64_t series = vial__metrics_series(am->reg, am->requests, v);
    int64_t dseries = app->route_dur ? app->route_dur[ridx] : -1;
    vial__metrics_add(am->reg, w->id, am->requests, series, 1);
    if (dseries >= 0)
        vial__metrics_add(am->reg, w->id, am->duration, dseries, secs);
    /* Cached only when every cell it needs resolved: a worker's slot, memory. */
    _Atomic double *rc = vial__metrics_cells(am->reg, w->id, series);
    _Atomic double *dc = dseries >= 0 ? vial__metrics_cells(am->reg, w->id, dseries) : NULL;
    if (m->method_bit && rc && (dseries < 0 || dc)) {
        w->mcache[h].key = key;
        w->mcache[h].requests = rc;
        w->mcache[h].duration = dc;
    }
}

/* ------------------------------------------------------------------ the public API */

static vial_metric *declare(vial_app *app, int type, const char *name, const char *help,
                            const char *const *labels, const double *bounds, size_t nbounds)
{
    if (!app || !app->metrics)
        return NULL;
    appmetrics *am = app->metrics;
    const char *why;
    vial__mfamily *f = vial__metrics_family(am->reg, type, name, help, labels, bounds, nbounds, &why);
    if (!f) {
        /* Remembered as a registration error, so vial_run() refuses to
         * start with a metric that would silently record nothing. */
        char msg[300];
        snprintf(msg, sizeof msg, "metric %s: %s", name ? name : "(null)", why);
        vial_log(VIAL_LOG_ERROR, "%s", msg);
        if (!app->root.error)
            app->root.error = strdup(msg);
    }
    return (vial_metric *)f;
}

vial_metric *vial_counter(vial_app *app, const char *name, const char *help, const char *const *labels)
{
    return declare(app, VIAL__M_COUNTER, name, help, labels, NULL, 0);
}

vial_metric *vial_gauge(vial_app *app, const char *name, const char *help, const char *const *labels)
{
    return declare(app, VIAL__M_GAUGE, name, help, labels, NULL, 0);
}

vial_metric *vial_histogram(vial_app *app, const char *name, const char *help,
                            const char *const *labels, const double *bounds, size_t nbounds)
{
    return declare(app, VIAL__M_HISTOGRAM, name, help, labels, bounds, nbounds);
}

int64_t vial_metric_series(vial_app *app, vial_metric *m, const char *const *values)
{
    if (!app || !app->metrics || !m)
        return VIAL_EINVAL;
    return vial__metrics_series(((appmetrics *)app->metrics)->reg, (vial__mfamily *)m, values);
}

int vial_metric_add_series(vial_app *app, vial_req *req, vial_metric *m, int64_t series, double v)
{
    if (!app || !app->metrics || !m || series < 0)
        return VIAL_EINVAL;
    if (!app->metrics_on)
        return 0;
    vial__metrics_add(((appmetrics *)app->metrics)->reg, req ? req->w->id : -1, (vial__mfamily *)m,
                      series, v);
    return 0;
}

void vial__metric_add_on(vial_app *app, int worker, vial_metric *m, int64_t series, double v)
{
    if (app && app->metrics && app->metrics_on && m && series >= 0)
        vial__metrics_add(((appmetrics *)app->metrics)->reg, worker, (vial__mfamily *)m, series, v);
}

int vial_metric_add(vial_app *app, vial_req *req, vial_metric *m, const char *const *values, double v)
{
    int64_t s = vial_metric_series(app, m, values);
    return s < 0 ? (int)s : vial_metric_add_series(app, req, m, s, v);
}

/* ------------------------------------------------------------------ /metrics */

int vial__metrics_view(vial_req *req)
{
    appmetrics *am = req->app->metrics;
    /* Who may read: the machine itself and the networks metrics_allow
     * names — never the X-Forwarded-For a client writes. */
    const char *peer = req->m.client;
    if (!req->admin && !vial__netlist_loopback(peer) && !(peer && vial__netlist_match(am->allow, peer, strlen(peer))))
        return vial_abort(req, 403, "metrics are served to loopback and the metrics_allow networks");
    vial__buf b = { .pool = NULL };
    int rc = vial__metrics_write(am->reg, &b);
    if (!rc)
        rc = vial_send(req, 200, "text/plain; version=0.0.4; charset=utf-8", b.p ? b.p : "", b.n);
    vial__buf_free(&b);
    vial_set_header(req, "Cache-Control", "no-store");
    return rc;
}

static const vial_response_doc metrics_r[] = {
    { 200, "the Prometheus text exposition format", NULL, NULL,
      "text/plain; version=0.0.4; charset=utf-8" },
    { 403, "not from loopback or a metrics_allow network", NULL, NULL, NULL },
    { 0, NULL, NULL, NULL, NULL },
};
const vial_doc vial__metrics_doc = {
    .summary = "Prometheus metrics",
    .description = "Requests by route and status, durations, connections and process figures. "
                   "Served to loopback and the metrics_allow networks only (or on metrics_port).",
    .responses = metrics_r,
    .security = "",
};

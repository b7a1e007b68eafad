/*
 * core.h — what core offers the modules above it (kv, db, auth, tpl, web,
 * rt): the request as a struct, per-request and per-app module state, the
 * hook and finisher points, configuration, and the app's compiled routes.
 *
 * Core is where a request becomes an app's business: src/http hands it an
 * exchange (vial__msg) through the handler in serve.c, app.c routes it and
 * runs hooks, views and error handlers, request.c and response.c are what
 * a view reads and writes.  Modules reach a request through the public API
 * first and through this header only for what the API does not give.
 */
#ifndef VIAL_CORE_H
#define VIAL_CORE_H

#include "../http/http.h"
#include "../json/json.h"

/* ------------------------------------------------------------------ config (config.c) */

typedef struct vial__config vial__config;
vial__config *vial__config_new(void);
void vial__config_free(vial__config *c);
/* Key flags: builtin (listed first by help), and `bare_env`: also read
 * from the environment without the VIAL_ prefix (PORT, DATABASE_URL). */
enum { VIAL__CFG_BUILTIN = 1u << 0, VIAL__CFG_BARE_ENV = 1u << 1 };
int vial__config_define(vial__config *c, const char *key, const char *def, const char *help,
                        unsigned flags);
/* Source levels, lowest first. */
enum { VIAL__CFG_DEFAULT, VIAL__CFG_FILE, VIAL__CFG_ENV, VIAL__CFG_FLAG, VIAL__CFG_SET };
int vial__config_put(vial__config *c, const char *key, const char *value, int level);
const char *vial__config_get(const vial__config *c, const char *key);
/* Parses flags out of argv (removing them); loads file and environment.
 * Leaves the positional arguments in argv[0..*argc). */
int vial__config_load(vial__config *c, int *argc, char **argv);
void vial__config_help(const vial__config *c, FILE *out);
/* "10M" → 10485760; "1.5K" is refused; returns -1 on error. */
int64_t vial__parse_size(const char *s);
/* "10s", "500ms", "2m", "7" (seconds) → milliseconds; -1 on error. */
int64_t vial__parse_duration_ms(const char *s);
/* Declares a setting a module owns that is also read as a bare environment
 * variable (DATABASE_URL, REDIS_URL, SECRET_KEY): modules declare their own
 * keys, core hard-codes none of them. */
int vial__config_define_env(vial_app *app, const char *key, const char *def, const char *help);
/* Adds `declare(app)`, run by every vial_app_new() after the built-in
 * keys: the settings of a module without a set-up call.  Call it from a
 * constructor (before main); at most 8 modules. */
void vial__app_module_keys(int (*declare)(vial_app *app));

/* ------------------------------------------------------------------ routing (router.c) */

enum vial__seg_kind { VIAL__SEG_STATIC, VIAL__SEG_INT, VIAL__SEG_FLOAT, VIAL__SEG_UUID,
                      VIAL__SEG_STRING, VIAL__SEG_PATH };

typedef struct vial__seg {
    enum vial__seg_kind kind;
    char *text; /* static text, or the parameter's name */
} vial__seg;

typedef struct vial__route {
    unsigned methods;
    vial_handler fn;
    void *ud;       /* vial_route_ud() */
    char *pattern;  /* full pattern, prefixes included */
    char *endpoint; /* full endpoint, blueprint names included */
    vial_bp *bp;
    vial__seg *segs;
    size_t nsegs;
    size_t nparams;
    const vial_doc *doc; /* vial_route_opts.doc / vial_route_document (borrowed) */
    size_t order; /* registration order, for `routes` */
    size_t idx;   /* position in the app's compiled routes (metrics) */
} vial__route;

typedef struct vial__router vial__router;

/* Parses a pattern into segments.  Returns 0 or VIAL_EPATTERN with a reason. */
int vial__pattern_parse(const char *pattern, vial__seg **segs, size_t *nsegs, size_t *nparams,
                        const char **why);
void vial__segs_free(vial__seg *segs, size_t n);

vial__router *vial__router_new(void);
void vial__router_free(vial__router *r);
/* Adds a route (the router takes ownership of nothing; routes outlive it). */
int vial__router_add(vial__router *r, vial__route *route, const char **why);

typedef struct vial__match {
    const vial__route *route; /* NULL: no route for this method */
    vial__str *params;        /* nparams decoded values, NUL-terminated (arena) */
    unsigned allowed;         /* methods the path answers (for 405 / OPTIONS) */
    bool redirect_slash;      /* the path + "/" exists */
    bool bad_escape;          /* malformed percent-escape or %00 in the path */
} vial__match;

/* Matches a raw path (no query) for `method_bit` (0 for an unknown method). */
void vial__router_match(const vial__router *r, vial__arena *a, const char *path, size_t n,
                        unsigned method_bit, vial__match *m);
const vial__route *vial__router_find_endpoint(const vial__router *r, const char *endpoint);
/* Appends the URL of `route` built from name/value pairs to `out`. */
int vial__url_build(const vial__route *route, const char **kv, size_t nkv, vial__buf *out);
/* vial_url_for with name/value pairs in an array (templates): arena string or NULL. */
const char *vial__url_for_kv(vial_req *req, const char *endpoint, const char **kv, size_t nkv);

/* ------------------------------------------------------------------ app and blueprints (app.c) */

/* A before-hook: a plain handler, or a function with data (guards). */
typedef struct vial__hook {
    vial_handler fn;
    int (*fn_data)(vial_req *req, void *ud);
    void *ud;
    void (*ud_free)(void *);
} vial__hook;

/* Adds a before-hook with data to `bp`; `ud_free(ud)` runs when the app is
 * freed (NULL: nothing to free). */
int vial__bp_before_data(vial_bp *bp, int (*fn)(vial_req *, void *), void *ud, void (*ud_free)(void *));

typedef struct vial__errh {
    int status;
    vial_error_handler fn;
} vial__errh;

struct vial_bp {
    char *name;
    char *prefix; /* relative to the parent, set by vial_bp_register() */
    vial_app *app;
    vial_bp *parent;
    vial_bp **children;
    size_t nchildren;
    vial__route **routes; /* patterns relative to this blueprint */
    size_t nroutes;
    vial__hook *before;
    vial_handler *after;
    size_t nbefore, nafter;
    vial__errh *errh;
    size_t nerrh;
    char *error; /* first registration error, reported by vial_run() */
    struct vial__ext *exts; /* module data (vial__bp_ext) */
    char *doc;      /* vial_bp_describe: the tag's description */
    char *security; /* vial_bp_security: scheme names its routes need; NULL: the parent's */
};

typedef struct vial__cmd {
    const char *name, *help;
    vial_command_fn fn;
} vial__cmd;

/* Module data hung on the app (the database module's settings, ...),
 * found by the address of a static key. */
typedef struct vial__ext {
    const void *key;
    void *data;
    void (*free_fn)(void *);
    struct vial__ext *next;
} vial__ext;
void *vial__app_ext(const vial_app *app, const void *key);
int vial__app_ext_set(vial_app *app, const void *key, void *data, void (*free_fn)(void *));
/* The same on a blueprint, registered or not (its template folders):
 * `free_fn(data)` runs when the blueprint is freed.  Set before serving
 * only; read without a lock after. */
void *vial__bp_ext(const vial_bp *bp, const void *key);
int vial__bp_ext_set(vial_bp *bp, const void *key, void *data, void (*free_fn)(void *));

typedef struct vial__slot {
    vial_worker_init_fn init;
    vial_worker_fini_fn fini;
    void *ud;
} vial__slot;

/* Limits and timeouts, read from the configuration once at start. */
typedef struct vial__limits {
    vial__h1_cfg h1;          /* what every HTTP/1.1 session is given */
    vial__loop_cfg loop;      /* what the server is given */
    char *upload_dir;
} vial__limits;

struct vial_app {
    char *name;
    vial_bp root;
    vial__config *cfg;
    vial__router *router;
    vial__route **all_routes; /* compiled, full patterns */
    size_t nall_routes;
    bool dirty;     /* routes changed since the last compile */
    bool started;   /* start hooks ran */
    const char *command; /* "run", "routes", a custom command; NULL: none (test client) */
    char *error;    /* first registration error anywhere */
    size_t route_seq;
    vial__cmd *cmds;
    size_t ncmds;
    vial__slot *slots;
    size_t nslots;
    vial_start_fn *start_fns;
    size_t nstart;
    _Atomic(vial__ext *) exts; /* modules may add theirs while workers read */
    vial__limits lim;
    bool debug, access_log;
    vial__netlist *trusted; /* trusted_proxies, parsed with the configuration */
    bool security_headers;
    char *csp;      /* content_security_policy */
    char *url_prefix; /* normalized: "" or "/x" (no trailing slash) */
    vial__server *server;             /* while serving (src/loop; see vial__server_hold) */
    bool served;                      /* a vial_run() served and stopped */
    /* metrics (metrics.c) */
    struct appmetrics *metrics;
    bool metrics_on, metrics_route;
    /* readiness checks (health.c) */
    struct vial__check *checks;
    size_t nchecks;
    bool health_route;
    int64_t *route_dur; /* the duration histogram's series per compiled route, + unmatched */
};

/* Runs the vial_on_start() hooks (vial_run does, the test client on first
 * use).  Returns the first failure. */
int vial__run_start_hooks(vial_app *app);
/* Compiles the blueprint tree into the router (idempotent while clean). */
int vial__app_compile(vial_app *app);
/* Reads limits/log level from the configuration into app->lim etc. */
int vial__app_apply_config(vial_app *app);
/* Routes and runs one parsed request; always leaves a response (or stream). */
void vial__app_dispatch(vial_req *req);
/* Renders an error without any route context (protocol errors). */
void vial__app_protocol_error(vial_req *req, int status, const char *message);
void vial__bp_set_error(vial_bp *bp, const char *fmt, ...) VIAL_PRINTF(2, 3);

/* ------------------------------------------------------------------ workers (serve.c) */

/* Core's state per worker thread: the requests it recycles, its module
 * slots, its request-id counter. */
typedef struct vial__worker {
    int id;
    vial_app *app;
    vial__pool *pool;    /* the thread's block pool (the loop's, or the test client's) */
    void **slots;        /* per-worker state, see vial_worker_slot() */
    uint64_t req_counter;
    uint32_t id_prefix;
    vial_req *spare;     /* finished requests kept for reuse */
    size_t nspare;
    /* The cells of http_requests_total by (route, method, code) and of the
     * route's duration histogram on this worker, so a request finds them
     * without the registry's lock or lookup (metrics.c) */
    struct {
        uint64_t key;
        _Atomic double *requests, *duration;
    } mcache[512];
    uint64_t mcache_gen;         /* the route compilation the cache was filled under */
    _Atomic double *m_inflight;  /* this worker's http_requests_in_flight cell, once resolved */
} vial__worker;

vial__worker *vial__worker_new(vial_app *app, int id, vial__pool *pool);
void vial__worker_free(vial__worker *w);
/* The handler HTTP sessions answer through (ud: a vial__worker). */
extern const vial__handler vial__core_handler;
/* Serves the app until SIGINT/SIGTERM.  Returns a process exit status. */
int vial__serve(vial_app *app);
/* A request context for code that runs on worker `w`'s thread outside any
 * exchange (a WebSocket's handlers, src/rt): a recycled vial_req with its
 * arena, the worker's slots (the database connection), no headers, method
 * GET, `client` (Borrowed: must outlive the context) as the peer.  It is
 * not counted as a request.  NULL when out of memory.  End it on the same
 * thread with vial__req_context_end(): the finishers run (a request
 * transaction commits), then the deferred functions, then it is recycled. */
vial_req *vial__req_context(vial__worker *w, const char *client);
void vial__req_context_end(vial_req *req);
/* The in-process test client's worker (testclient.c), made on first use,
 * freed with the app; NULL when out of memory. */
vial__worker *vial__test_worker(vial_app *app);

/* ------------------------------------------------------------------ probes (health.c) */

typedef struct vial__check vial__check;
/* A request on the admin port: metrics_path, healthz_path, readyz_path,
 * else 404 (the app's routes are not served there). */
void vial__admin_dispatch(vial_req *req);
int vial__healthz_view(vial_req *req); /* GET healthz_path */
int vial__readyz_view(vial_req *req);  /* GET readyz_path */
void vial__checks_free(vial_app *app);

/* ------------------------------------------------------------------ metrics (metrics.c) */

int vial__metrics_init(vial_app *app);
void vial__metrics_fini(vial_app *app);
/* Reads metrics, metrics_allow; hands the loop what it records. */
int vial__metrics_configure(vial_app *app);
/* Makes the per-route series once the routes are compiled. */
int vial__metrics_routes(vial_app *app);
void vial__metrics_begin(vial_req *req); /* an exchange begins (in flight) */
void vial__metrics_done(vial_req *req);  /* its response is queued (count, duration) */
void vial__metrics_end(vial_req *req);   /* it is freed */
int vial__metrics_view(vial_req *req);   /* GET /metrics */
/* Records like vial_metric_add_series(), into worker `worker`'s slot
 * without a lock: for code running on that worker's thread outside any
 * request (a WebSocket's frames, a pub/sub delivery).  Nothing when
 * metrics are off or `m` is NULL. */
void vial__metric_add_on(vial_app *app, int worker, vial_metric *m, int64_t series, double v);

/* ------------------------------------------------------------------ the request */

typedef struct vial__defer {
    void (*fn)(void *);
    void *arg;
    struct vial__defer *next;
} vial__defer;

typedef struct vial__finisher {
    void (*fn)(vial_req *req, void *arg);
    void *arg;
    struct vial__finisher *next;
} vial__finisher;

/* Per-request state of a module (vial__req_ext), found by a static key. */
typedef struct vial__local {
    const void *key;   /* a string for vial_set_local(), a static address for modules */
    bool is_module;
    void *value;
    struct vial__local *next;
} vial__local;

/*
 * A request: the exchange the protocol filled (`m`, first, so a vial__msg
 * from the protocol converts back), and what core and the modules keep
 * about it.  Allocated by the worker (vial__core_handler.msg_new), reset
 * between uses; everything it points to lives in m.arena.
 */
struct vial_req {
    vial__msg m;
    vial_app *app;
    vial__worker *w;
    vial_req *next_spare;
    char *path_dec;
    json_t *json;
    const char *json_err;
    bool json_done;
    void *body_map;     /* a spooled body's mapping, made on first use */
    vial__arg *args;
    size_t nargs;
    bool args_done;
    /* routing */
    const vial__route *route;
    vial__str *params;
    /* response state kept by core */
    bool in_error;
    vial_stream_fn stream_fn;
    void *stream_ud;
    vial_jw *jw;
    vial__finisher *finishers; /* see vial__req_on_finish() */
    vial__local *locals;       /* vial_set_local(), vial__req_ext() */
    vial__defer *defers;
    uint64_t t0_ns;
    bool proxy_known, from_proxy; /* the peer is a trusted proxy (computed once) */
    bool admin;                   /* arrived on the admin port (metrics_port) */
    const char *script_root;      /* vial_script_root(), once known */
    bool reqid_set;
    uint8_t reqid_len;
    char reqid[VIAL__REQID_MAX]; /* last: not cleared between requests */
};

/* `path` is the script root or under it (never true at the root). */
bool vial__under_root(vial_req *req, const char *path, size_t n);

static inline vial_req *vial__req_of(vial__msg *m)
{
    return VIAL__CONTAINER_OF(m, vial_req, m);
}

/* A module's state for this request (NULL until set); `key` is the address
 * of a static in the module.  Set returns VIAL_ENOMEM on failure. */
void *vial__req_ext(vial_req *req, const void *key);
int vial__req_ext_set(vial_req *req, const void *key, void *value);
/* The module's state for this request: `size` bytes, zeroed, made on first
 * use (one arena allocation with its entry), found by `key` after.  NULL
 * when out of memory. */
void *vial__req_state(vial_req *req, const void *key, size_t size);
/* Runs `fn(req, arg)` after the after-hooks and before the response is
 * serialized (first registered first); it may replace the response.  The
 * database's request transaction commits here, so a failed commit can still
 * turn a 201 into an error.  Returns VIAL_ENOMEM when it cannot register. */
int vial__req_on_finish(vial_req *req, void (*fn)(vial_req *, void *), void *arg);
/* Asks that after this request's 101 response the connection be handed to
 * `proto` (src/loop's vial__proto) with `ud`.  The handler then answers
 * with status 101 and its Upgrade header.  If the response is not a 101,
 * or the transport cannot switch, `proto->close(ud)` is called instead, so
 * `ud` is never leaked. */
int vial__req_upgrade(vial_req *req, const vial__proto *proto, void *ud);
/* A response whose body is `len` bytes of file `fd` from `off`, sent with
 * sendfile.  Takes `fd` (closed when sent, replaced or the request ends). */
int vial__resp_file(vial_req *req, int status, const char *content_type, int fd, uint64_t off,
                    size_t len);
/* Renders the built-in error body (JSON or HTML by Accept). */
int vial__resp_builtin_error(vial_req *req, int status, const char *message, json_t *extra);
void vial__req_reset_response(vial_req *req);
/* Appends `s` to `b` with & < > " ' as HTML entities; 0 or VIAL_ENOMEM. */
int vial__html_escape(vial__buf *b, const char *s);
/* The documentation of the routes core adds itself (health.c, metrics.c). */
extern const vial_doc vial__healthz_doc, vial__readyz_doc, vial__metrics_doc;
/* The block pool of the request's worker (for buffers that live as long as
 * the request). */
vial__pool *vial__req_pool(vial_req *req);

#endif /* VIAL_CORE_H */

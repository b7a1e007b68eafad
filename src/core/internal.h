/*
 * internal.h — declarations shared inside libvial; never installed.
 *
 * Naming: `vial__` for non-static internal functions and types (libuv's
 * `uv__` rule); nothing here is part of the API, and -fvisibility=hidden
 * keeps it out of the shared library's symbol table.
 *
 * The layering (data flows down, nothing calls up):
 *   loop.c    workers, listeners, signals, shutdown            (libuv)
 *   conn.c    one TCP connection: reads, writes, timeouts      (libuv)
 *   http.c    one HTTP/1.1 session: llhttp, limits, pipelining (no I/O)
 *   app.c     routing result → hooks → handler → error pages
 *   router.c  the compiled route trie, url_for
 *   request.c / response.c / url.c / config.c / log.c / arena.c / buf.c
 * http.c knows nothing of sockets: the test client and the fuzz target
 * drive the same session code with a transport that writes into memory.
 */
#ifndef VIAL_INTERNAL_H
#define VIAL_INTERNAL_H

#define VIAL_BUILDING 1
#include "vial.h"

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#define VIAL__UNUSED(x) ((void)(x))
#define VIAL__ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------ slices and buffers */

/* A non-owning view: `p` is not NUL-terminated unless stated. */
typedef struct vial__str {
    const char *p;
    size_t n;
} vial__str;

struct vial__pool;
/*
 * A growable byte buffer.  `p` is NULL until the first append.  With `pool`
 * set, the first VIAL__BLOCK_SIZE bytes come from that block pool (no
 * malloc on the hot path) and vial__buf_release() gives the block back;
 * growing past a block moves to malloc.
 */
typedef struct vial__buf {
    char *p;
    size_t n, cap;
    struct vial__pool *pool;
    bool pooled; /* p is a pool block */
} vial__buf;

int vial__buf_reserve(vial__buf *b, size_t extra);
int vial__buf_append(vial__buf *b, const void *d, size_t n);
int vial__buf_puts(vial__buf *b, const char *s);
int vial__buf_printf(vial__buf *b, const char *fmt, ...) VIAL_PRINTF(2, 3);
int vial__buf_vprintf(vial__buf *b, const char *fmt, va_list ap);
void vial__buf_free(vial__buf *b);
/* Frees the storage but keeps the pool binding (for idle connections). */
void vial__buf_release(vial__buf *b);
/* Ensures p[n] == '\0' without counting it. */
int vial__buf_nul(vial__buf *b);

/* vial__buf_append with the common case (room already there) inlined: the
 * JSON writer and the serializer call it for every token. */
static inline int vial__buf_add(vial__buf *b, const void *d, size_t n)
{
    if (b->cap > b->n + n) { /* keeps the byte vial__buf_nul() needs */
        memcpy(b->p + b->n, d, n);
        b->n += n;
        return 0;
    }
    return vial__buf_append(b, d, n);
}

/* Case-insensitive ASCII compare of a slice with a C string. */
bool vial__streq_ci(const char *a, size_t an, const char *b);
bool vial__strneq_ci(const char *a, const char *b, size_t n);
/* Writes the decimal form of v into out (room for 21 bytes); returns length. */
size_t vial__u64toa(uint64_t v, char *out);

/* ------------------------------------------------------------------ block pool and arena */

/*
 * Per-worker cache of fixed-size blocks for read buffers, write buffers and
 * first arena blocks.  Idle keep-alive connections give their blocks back,
 * so 10,000 idle connections hold no buffers at all.
 */
#define VIAL__BLOCK_SIZE 8192
typedef struct vial__pool {
    void **free;
    size_t n, cap, max;
} vial__pool;

void *vial__pool_get(vial__pool *pool);
void vial__pool_put(vial__pool *pool, void *block);
void vial__pool_drain(vial__pool *pool);

typedef struct vial__arena_blk vial__arena_blk;
typedef struct vial__arena {
    vial__arena_blk *head; /* newest block first */
    vial__pool *pool;      /* where the standard-size first block comes from */
    size_t total;          /* bytes handed out, for the memory limit */
} vial__arena;

void *vial__arena_alloc(vial__arena *a, size_t size);
char *vial__arena_strndup(vial__arena *a, const char *s, size_t n);
char *vial__arena_vsprintf(vial__arena *a, const char *fmt, va_list ap);
/* Frees everything; the arena can be used again. */
void vial__arena_reset(vial__arena *a);

/* ------------------------------------------------------------------ logging */

extern int vial__log_level;
void vial__vlog(int level, const char *reqid, const char *fmt, va_list ap);
/* Access log lines are buffered per thread and written once per loop turn. */
void vial__access_log(vial_req *req, size_t bytes);
void vial__log_flush(void);
/* Event-loop threads batch access lines and flush once per loop turn. */
void vial__log_set_batched(bool batched);
/* Writes and frees the calling thread's access-log buffer (thread exit). */
void vial__log_thread_end(void);

/* ------------------------------------------------------------------ config */

typedef struct vial__config vial__config;
vial__config *vial__config_new(void);
void vial__config_free(vial__config *c);
int vial__config_define(vial__config *c, const char *key, const char *def, const char *help,
                        bool builtin);
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

/* ------------------------------------------------------------------ URLs (url.c) */

struct vial__arg;
typedef struct vial__form vial__form;

/* mode 0: query component, 1: one path segment, 2: a path (keeps '/'). */
int vial__url_encode_into(vial__buf *out, const char *s, size_t n, int mode);
int vial__parse_query(vial__arena *a, const char *q, size_t n, struct vial__arg **out, size_t *nout);
vial__str vial__cookie_find(const char *h, size_t n, const char *name);

/* ------------------------------------------------------------------ routing */

enum vial__seg_kind { VIAL__SEG_STATIC, VIAL__SEG_INT, VIAL__SEG_FLOAT, VIAL__SEG_UUID,
                      VIAL__SEG_STRING, VIAL__SEG_PATH };

typedef struct vial__seg {
    enum vial__seg_kind kind;
    char *text; /* static text, or the parameter's name */
} vial__seg;

typedef struct vial__route {
    unsigned methods;
    vial_handler fn;
    char *pattern;  /* full pattern, prefixes included */
    char *endpoint; /* full endpoint, blueprint names included */
    vial_bp *bp;
    vial__seg *segs;
    size_t nsegs;
    size_t nparams;
    size_t order; /* registration order, for `routes` */
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

/* ------------------------------------------------------------------ app and blueprints */

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

typedef struct vial__finisher {
    void (*fn)(vial_req *req, void *arg);
    void *arg;
    struct vial__finisher *next;
} vial__finisher;

typedef struct vial__slot {
    vial_worker_init_fn init;
    vial_worker_fini_fn fini;
    void *ud;
} vial__slot;

/* Limits and timeouts, read from the configuration once at start. */
typedef struct vial__limits {
    uint64_t max_body;
    uint64_t max_upload;    /* multipart bodies, which go to a temporary file */
    char *upload_dir;
    size_t max_header_bytes, max_headers, max_uri;
    uint64_t header_timeout_ms, body_timeout_ms, idle_timeout_ms, write_timeout_ms;
    uint64_t shutdown_timeout_ms;
    size_t max_pending_output; /* stop reading past this much unsent output */
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
    char **trusted; /* trusted_proxies, parsed at start (NULL-terminated) */
    bool security_headers;
    char *csp;      /* content_security_policy */
    struct vial__worker *test_worker; /* the in-process test client's worker */
    struct vial__server *server;      /* while serving */
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

/* ------------------------------------------------------------------ workers */

/* Serves until SIGINT/SIGTERM (loop.c).  Returns a process exit status. */
int vial__serve(vial_app *app);
/* True once a stop signal arrived (any thread; a relaxed atomic read). */
bool vial__server_stopping(const vial_app *app);

typedef struct vial__worker vial__worker;
struct vial__worker {
    int id;
    vial_app *app;
    vial__pool pool;
    void **slots;        /* per-worker state, see vial_worker_slot() */
    uint64_t req_counter;
    uint32_t id_prefix;
    void *loop_ctx;      /* loop.c's per-worker data (NULL for the test client) */
};

vial__worker *vial__worker_new(vial_app *app, int id);
void vial__worker_free(vial__worker *w);

/* ------------------------------------------------------------------ output queue */

/*
 * Bytes waiting to be written on a connection, in order.  Small pieces are
 * coalesced into one buffer; large bodies are queued by reference (owned).
 * `vial__outq_iov()` gathers everything for one writev.
 */
typedef struct vial__oseg {
    char *owned;     /* free()d when written; NULL for the coalesce buffer */
    int fd;          /* >= 0: a file region (closed when written), sent with sendfile */
    uint64_t off;    /* into `owned`, the coalesce buffer, or the file */
    size_t len;
} vial__oseg;

typedef struct vial__outq {
    vial__buf coal;
    vial__oseg *segs;
    size_t nsegs, cap;
    size_t bytes;    /* total not yet written */
    size_t head_off; /* bytes of segs[0] already written */
} vial__outq;

int vial__outq_append(vial__outq *q, const void *d, size_t n);
/* Moves `p` (malloc'd, `n` bytes) into the queue. */
int vial__outq_take(vial__outq *q, char *p, size_t n);
/* Fills up to `max` iovecs with the memory segments at the front (stopping
 * at a file segment); returns the count. */
size_t vial__outq_iov(const vial__outq *q, struct iovec *iov, size_t max);
/* Queues `len` bytes of file `fd` from `off`; takes `fd` (closed when sent
 * or on failure). */
int vial__outq_file(vial__outq *q, int fd, uint64_t off, size_t len);
/* True when the front segment is a file: *fd, *off, *len give what is left. */
bool vial__outq_head_file(const vial__outq *q, int *fd, uint64_t *off, size_t *len);
/* Reads up to `max` bytes of the front file segment into memory, queued in
 * its place (for transports without sendfile, or while a socket is full). */
int vial__outq_file_chunk(vial__outq *q, size_t max);
/* Drops `n` written bytes from the front. */
void vial__outq_consume(vial__outq *q, size_t n);
void vial__outq_free(vial__outq *q);
/* Reserves room in the coalesce buffer for a direct write; returns NULL on OOM. */
char *vial__outq_reserve(vial__outq *q, size_t n);
void vial__outq_commit(vial__outq *q, size_t n);

/* ------------------------------------------------------------------ HTTP session */

typedef struct vial__session vial__session;
struct vial__conn;
struct vial__proto;

/* What the session needs from whatever carries its bytes. */
typedef struct vial__transport {
    /* New output is queued in s->out; write some of it soon. */
    void (*want_write)(vial__session *s);
    /* The session has finished with the connection (after flushing). */
    void (*want_close)(vial__session *s);
    /* A phase with a timeout began (see enum vial__phase). */
    void (*phase)(vial__session *s, int phase);
    /* A 101 response is queued and the connection now belongs to `proto`;
     * `rest` holds bytes the peer already sent after the request (the
     * transport copies them).  NULL: the transport cannot switch, and the
     * session closes instead. */
    void (*upgrade)(vial__session *s, const struct vial__proto *proto, void *ud,
                    const char *rest, size_t n);
} vial__transport;

/*
 * A protocol that takes a connection over after "101 Switching Protocols"
 * (WebSocket).  The connection calls these on its own thread; `conn` is the
 * handle for vial__conn_send() / vial__conn_close() and stays valid until
 * on_close returns.
 */
typedef struct vial__proto {
    void (*on_open)(void *ud, struct vial__conn *conn);
    void (*on_data)(void *ud, const char *data, size_t n);
    void (*on_drain)(void *ud); /* everything queued was written */
    void (*on_close)(void *ud); /* last call: free ud here */
} vial__proto;

enum vial__phase { VIAL__PH_IDLE, VIAL__PH_HEADERS, VIAL__PH_BODY, VIAL__PH_HANDLER,
                   VIAL__PH_WRITE, VIAL__PH_CLOSING };

typedef struct vial__hdr {
    vial__str name, value;
} vial__hdr;

typedef struct vial__defer {
    void (*fn)(void *);
    void *arg;
    struct vial__defer *next;
} vial__defer;

typedef struct vial__local {
    const char *key;
    void *value;
    struct vial__local *next;
} vial__local;

typedef struct vial__rhdr {
    const char *name, *value; /* arena */
    struct vial__rhdr *next;
} vial__rhdr;

typedef struct vial__arg {
    const char *name, *value; /* arena, decoded */
} vial__arg;

/* The pull reader (src/json/reader.c).  jansson allows 2048 levels; so do we. */
#define VIAL__JR_MAX_DEPTH 2048
struct vial_jr {
    const char *p, *start, *end;
    vial__arena *arena; /* decoded strings, the error message */
    vial_req *req;
    const char *err;    /* what went wrong (static text), NULL while fine */
    const char *err_at;
    char *msg;          /* the formatted error, made on first ask */
    unsigned depth;     /* containers open */
    bool pending;       /* a value is due next */
    bool first;         /* the innermost container has had no member yet */
    bool misuse, oom;
    uint64_t stack[VIAL__JR_MAX_DEPTH / 64]; /* bit per level: 1 = object */
};
void vial__jr_init(vial_jr *r, const char *text, size_t len, vial__arena *arena);

struct vial_jw {
    vial__buf *out;      /* where bytes go */
    uint8_t stack[64];   /* 'o' object, 'a' array */
    uint32_t depth;
    bool need_comma, need_value; /* after a key: a value must follow */
    int err;
    vial_req *req;
};

struct vial_req {
    vial__session *s;
    vial_app *app;
    vial__worker *w;
    vial__arena *arena;
    /* request line */
    unsigned method_bit; /* 0: a method vial has no bit for */
    const char *method;
    vial__str target, path_raw, query_raw;
    char *path_dec;
    uint8_t http_minor;
    bool keep_alive, head, upgrade;
    /* headers and body */
    vial__hdr *hdrs;
    size_t nhdrs;
    uint32_t reqid_hdr; /* copied from the session */
    char *body;
    size_t body_len;
    int body_fd;        /* multipart: the temporary file holding the body (owned) */
    void *body_map;     /* its mapping, made on first use */
    struct vial__form *form; /* parsed form, see form.c */
    json_t *json;
    const char *json_err;
    bool json_done;
    vial__arg *args;
    size_t nargs;
    bool args_done;
    /* routing */
    const vial__route *route;
    vial__str *params;
    /* response */
    int status;
    bool responded, in_error, streaming, stream_done, stream_head_sent;
    const char *ctype;
    vial__rhdr *rh, **rh_tail;
    vial__buf *body_out; /* the session's response body buffer */
    const void *static_body;
    size_t static_len;
    int file_fd; /* >= 0: the body is this file region (owned; see vial__resp_file) */
    uint64_t file_off;
    size_t file_len;
    vial_stream_fn stream_fn;
    void *stream_ud;
    vial_jw *jw;
    vial__finisher *finishers; /* see vial__req_on_finish() */
    struct vial__local *locals; /* vial_set_local() */
    const struct vial__proto *upgrade_proto; /* see vial__req_upgrade() */
    void *upgrade_ud;
    vial__defer *defers;
    char reqid[72]; /* a client's id may be 64 characters */
    bool reqid_set;
    uint64_t t0_ns;
    const char *client;
};

struct vial__session {
    const vial__transport *tp;
    void *tp_ud;
    vial__worker *w;
    vial_app *app;
    void *parser; /* llhttp_t, opaque here */
    /* input: rbuf[0..rlen) holds bytes read; [0..fed) went to llhttp;
     * [0..consumed) belongs to finished requests and may be dropped;
     * msg_end is the end of the message being answered */
    char *rbuf;
    size_t rlen, rcap, fed, consumed, msg_end;
    uint32_t spans_end;
    uint32_t reqid_hdr; /* 1 + index of the X-Request-Id header, 0: none */
    bool rbuf_pooled, in_msg;
    /* the request being parsed; spans are offsets into rbuf */
    uint32_t url_off, url_len;
    struct vial__hspan { uint32_t noff, nlen, voff, vlen; } *hs;
    size_t nhs, hs_cap;
    size_t hdr_bytes;
    bool in_value, hdrs_done;
    int body_fd;        /* >= 0: a multipart body being written to a temporary file */
    uint64_t body_file_len;
    int pending_status; /* protocol error found in a callback */
    const char *pending_msg;
    bool expect_continue;
    vial__buf body;
    /* state */
    int phase;
    bool closing;       /* respond, flush, close */
    bool paused;        /* waiting for a stream to end */
    bool dead;          /* transport gone */
    bool draining;      /* server shutting down: finish and close */
    bool upgraded;      /* handed to another protocol: parse nothing more */
    vial_req req;
    bool req_live;
    vial__arena arena;
    vial__buf resp_body;
    vial__outq out;
    uint64_t bytes_out; /* of the current response, for the access log */
    const char *client;
};

int vial__session_init(vial__session *s, vial__worker *w, const vial__transport *tp, void *ud,
                       const char *client);
void vial__session_free(vial__session *s);
/* Room to read into: at least `min` bytes at s->rbuf + s->rlen. */
int vial__session_rbuf(vial__session *s, size_t min);
/* `n` new bytes were placed at rbuf + rlen: parse and answer what is complete. */
void vial__session_received(vial__session *s, size_t n);
/* The peer half-closed (EOF). */
void vial__session_eof(vial__session *s);
/* The transport wrote everything queued: resume streams and parsing. */
void vial__session_drained(vial__session *s);
/* Gives back buffers while the connection is idle. */
void vial__session_idle_trim(vial__session *s);
/* A timeout of the current phase fired. */
void vial__session_timeout(vial__session *s);
/* The transport is gone: run deferred work, release the request. */
void vial__session_abort(vial__session *s);
/* True when a stream wants more output (the transport calls _drained). */
bool vial__session_streaming(const vial__session *s);
/* False while reading more would only pile up: closing, paused behind a
 * stream, or `unsent` (all output the transport has not written yet) over
 * the limit. */
bool vial__session_wants_read(const vial__session *s, size_t unsent);

/* ------------------------------------------------------------------ request/response internals */

/* Asks that after this request's 101 response the connection be handed to
 * `proto`.  The handler then answers with status 101 and its Upgrade header.
 * If the response is not a 101, or the transport cannot switch, `proto`'s
 * on_close(ud) is called instead so `ud` is never leaked. */
int vial__req_upgrade(vial_req *req, const struct vial__proto *proto, void *ud);
void vial__req_start(vial_req *req, vial__session *s);
/* Runs `fn(req, arg)` after the after-hooks and before the response is
 * serialized (first registered first); it may replace the response.  The
 * database's request transaction commits here, so a failed commit can still
 * turn a 201 into an error.  Returns VIAL_ENOMEM when it cannot register. */
int vial__req_on_finish(vial_req *req, void (*fn)(vial_req *, void *), void *arg);
void vial__req_end(vial_req *req);
/* Serializes the response into the session's output queue. */
int vial__resp_finish(vial_req *req);
/* Serializes the status line and headers of a stream, then the first chunk. */
int vial__resp_stream_step(vial_req *req);
/* A response whose body is `len` bytes of file `fd` from `off`, sent with
 * sendfile.  Takes `fd` (closed when sent, replaced or the request ends). */
int vial__resp_file(vial_req *req, int status, const char *content_type, int fd, uint64_t off,
                    size_t len);
/* Renders the built-in error body (JSON or HTML by Accept). */
int vial__resp_builtin_error(vial_req *req, int status, const char *message, json_t *extra);
/* The current HTTP Date header value (cached per second, per thread). */
const char *vial__http_date(void);
/* Method name → bit (0 if none). */
unsigned vial__method_bit(const char *m, size_t n);
const char *vial__method_name(unsigned bit);
void vial__req_reset_response(vial_req *req);

/* JSON writer over any buffer (used by vial_jw_begin and for error bodies). */
void vial__jw_init(vial_jw *w, vial__buf *out, vial_req *req);
/* JSON string escaping. */
int vial__json_escape(vial__buf *out, const char *s, size_t n);

/* Server Date header etc. */
#define VIAL__SERVER_NAME "vial"

#endif /* VIAL_INTERNAL_H */

/*
 * vial.h — the public API of libvial, a Flask-style web framework in C.
 *
 * This header is the contract: what is not declared here is not part of the
 * API.  Conventions that hold for every declaration below:
 *
 *  - Names: `vial_` for functions and types, `VIAL_` for macros and
 *    constants.  Types are opaque; you hold pointers, never structs.
 *    Reading the request: vial_<what it returns>(req, ...) — vial_method,
 *    vial_path, vial_param, vial_arg, vial_header, vial_cookie, vial_body,
 *    vial_body_json, vial_form — and vial_app_of(req), since vial_app is the
 *    type.  Reading back the response being built: vial_resp_<what>(req).
 *    Building the response: verbs (vial_text, vial_json, vial_abort,
 *    vial_set_header).
 *  - Errors: one convention.  A call that can fail returns an int (or, for
 *    sizes, a ptrdiff_t/int64_t): 0, or a non-negative result where the
 *    comment says so (a count, 1/0 for yes/no), on success; a negative
 *    VIAL_E* code on failure (see vial_strerror()).  A call returning a
 *    pointer returns NULL on failure.  Guards that may answer the request
 *    themselves (vial_auth_require, vial_ratelimit, vial_db_tx) return 0
 *    when the request may go on and 1 once they have answered it.  Nothing in the
 *    library calls exit() or abort() on bad input or on allocation failure.
 *  - Ownership: every pointer that crosses the API says who owns it, in the
 *    comment of the function that hands it out.  "Arena": the memory
 *    belongs to the request and stays valid until the response is finished
 *    (the handler never frees it).  "Borrowed": the callee does not keep it
 *    past the call, or the caller does not free what it is given, as
 *    stated.  "Static": lives for the whole program.  "Steals": ownership
 *    (or a jansson reference) moves to the callee, even when the call
 *    fails.  "New reference": a jansson value the caller must json_decref.
 *    Functions that return memory the caller must free() end in `_malloc`.
 *  - Threads: handlers run on the worker thread that owns the connection.
 *    A vial_req is used by one thread only.  Registration calls (routes,
 *    hooks, config) are made before vial_run() and are not thread-safe.
 *  - Documentation: the comment right above a declaration (no blank line
 *    between) documents it, and the declarations after it up to the next
 *    blank line; a comment after a field documents the field.  `make docs`
 *    builds the API reference from these comments and fails (as `make test`
 *    does) on a public name without one.
 */
#ifndef VIAL_H
#define VIAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <jansson.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(VIAL_BUILDING) && defined(__GNUC__)
#define VIAL_API __attribute__((visibility("default")))
#else
#define VIAL_API
#endif

#if defined(__GNUC__)
#define VIAL_NODISCARD __attribute__((warn_unused_result))
#define VIAL_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define VIAL_NODISCARD
#define VIAL_PRINTF(f, a)
#endif

/* The version of the API this header declares. */
#define VIAL_VERSION_MAJOR 0
#define VIAL_VERSION_MINOR 1
#define VIAL_VERSION_PATCH 0
#define VIAL_VERSION_STRING "0.1.0"

/* ------------------------------------------------------------------ errors */

/* One list, expanded into the enum and into vial_strerror(). */
#define VIAL_ERRNO_MAP(X)                                                     \
    X(NOMEM, -1, "out of memory")                                             \
    X(INVAL, -2, "invalid argument")                                          \
    X(EXIST, -3, "already exists")                                            \
    X(NOENT, -4, "no such entry")                                             \
    X(RANGE, -5, "value out of range")                                        \
    X(PATTERN, -6, "malformed route pattern")                                 \
    X(STATE, -7, "call not valid in this state")                              \
    X(IO, -8, "input/output error")                                           \
    X(PARSE, -9, "parse error")                                               \
    X(TOOBIG, -10, "too large")                                               \
    X(CLOSED, -11, "connection closed")                                       \
    X(SYS, -12, "system call failed")                                         \
    X(UNIQUE, -13, "unique constraint violated")                              \
    X(FKEY, -14, "foreign key constraint violated")                           \
    X(CHECK, -15, "NOT NULL or CHECK constraint violated")                    \
    X(DBDOWN, -16, "database unavailable")                                    \
    X(BUSY, -17, "database busy or statement timed out")                      \
    X(DB, -18, "database error")                                              \
    X(BADVALUE, -19, "value rejected by the database")

enum {
#define VIAL__ERRNO_ENUM(name, val, msg) VIAL_E##name = (val),
    VIAL_ERRNO_MAP(VIAL__ERRNO_ENUM)
#undef VIAL__ERRNO_ENUM
};

/* Returns a static string describing `err` (0 or a VIAL_E* code). */
VIAL_API const char *vial_strerror(int err);

/* ------------------------------------------------------------------ types */

typedef struct vial_app vial_app; /* the application: routes, config, run */
typedef struct vial_bp vial_bp;   /* a blueprint: routes + hooks under a prefix */
typedef struct vial_req vial_req; /* one request and its response */
typedef struct vial_jw vial_jw;   /* a streaming JSON writer */
typedef struct vial_jr vial_jr;   /* a pull JSON reader */
typedef struct vial_test_resp vial_test_resp; /* an in-process test response */

/*
 * A handler answers a request.  It returns 0 once it has produced a response
 * (every response call below returns 0 on success, so `return vial_text(...)`
 * reads naturally).  Any other return value fails the request: the client
 * gets a 500 in the common error shape and the failure is logged with the
 * request id.  Returning 0 without a response is also a 500.
 */
typedef int (*vial_handler)(vial_req *req);

/*
 * An error handler renders the response for an error status (404, 500, ...).
 * `message` is borrowed for the call.  Same return convention as handlers;
 * if it fails, the built-in JSON/HTML error response is used.
 */
typedef int (*vial_error_handler)(vial_req *req, int status, const char *message);

/* HTTP methods, as a bit set for vial_route(). */
enum {
    VIAL_GET = 1u << 0,
    VIAL_HEAD = 1u << 1,
    VIAL_POST = 1u << 2,
    VIAL_PUT = 1u << 3,
    VIAL_DELETE = 1u << 4,
    VIAL_PATCH = 1u << 5,
    VIAL_OPTIONS = 1u << 6,
};

/* ------------------------------------------------------------------ app */

/*
 * Creates an application, owned by the caller: free it with vial_app_free()
 * (NULL is a no-op).  `name` is copied; it appears in logs and in
 * `vial-server routes`.  Reads no configuration yet: that happens in
 * vial_run() / vial_configure().
 */
VIAL_API VIAL_NODISCARD vial_app *vial_app_new(const char *name);
/* Frees the app and everything registered on it (Owned by the caller of
 * vial_app_new until then). */
VIAL_API void vial_app_free(vial_app *app);

/*
 * The command line entry point.  `prog [command] [--key value]...`:
 *   run (default)   serve HTTP until SIGINT/SIGTERM, then drain and return 0
 *   routes          print the route table and return 0
 *   help            list commands and configuration keys
 *   <custom>        a command added with vial_command()
 * Flags set configuration keys (`--port 8080`, `--port=8080`, `--debug`);
 * see "configuration" below for the precedence.  Returns a process exit
 * status: 0 on a clean stop, 1 on a start-up error (message on stderr), 2 on
 * a usage error.  Does not free the app.
 */
VIAL_API int vial_run(vial_app *app, int argc, char **argv);
/*
 * What a main() returns: vial_run(), then vial_app_free().  Steals `app`,
 * so the shortest program is also the one that frees what it made:
 *     vial_app *app = vial_app_new("hello");
 *     vial_get(app, "/", hello);
 *     return vial_main(app, argc, argv);
 * A NULL `app` (vial_app_new() out of memory; the registration calls in
 * between accept NULL and do nothing) prints "out of memory" and returns 1.
 */
VIAL_API int vial_main(vial_app *app, int argc, char **argv);

/*
 * Loads configuration (defaults < config file < environment < `argv` flags)
 * without running anything; vial_run() calls it.  `argv` may be NULL.
 * Returns 0 or a VIAL_E* code after logging what was wrong.
 */
VIAL_API int vial_configure(vial_app *app, int argc, char **argv);

/*
 * Adds a CLI command.  `fn` receives the arguments after the command name
 * with configuration flags already consumed.  `name` and `help` are
 * borrowed and must outlive the app (string literals).
 */
typedef int (*vial_command_fn)(vial_app *app, int argc, char **argv);
VIAL_API int vial_command(vial_app *app, const char *name, vial_command_fn fn,
                          const char *help);
/*
 * For commands that need a secret: prints `prompt` (NULL: "Password: ") to
 * stderr and reads a line from the terminal with echo off, or reads a line
 * from stdin without a prompt when it is not a terminal (a pipe, a
 * script).  The line, without its end, goes into `buf` (`cap` bytes with
 * the NUL).  Returns 0; VIAL_EIO at end of input; VIAL_ETOOBIG for a line
 * that does not fit (it is consumed, `buf` cleared).  Wipe `buf` when done.
 */
VIAL_API int vial_prompt_password(const char *prompt, char *buf, size_t cap);

/* ------------------------------------------------------------------ routing */

/*
 * Blueprints group routes, hooks and error handlers under a URL prefix.
 * vial_bp_new() returns a blueprint owned by the caller until it is passed
 * to vial_register(), which moves it into the app (or into a parent
 * blueprint); an unregistered blueprint is freed with vial_bp_free().
 * `name` is copied and prefixes its endpoints: "logs.get_log".
 */
VIAL_API VIAL_NODISCARD vial_bp *vial_bp_new(const char *name);
VIAL_API void vial_bp_free(vial_bp *bp);

/* The app's root blueprint (no prefix).  Borrowed; lives as long as the app. */
VIAL_API vial_bp *vial_app_bp(vial_app *app);
/* The identity (returns `bp`, still Owned by whoever owned it); lets the
 * macros below take an app or a blueprint. */
VIAL_API vial_bp *vial_bp_self(vial_bp *bp);
/* A vial_app * or vial_bp * as the blueprint routes are added to. */
#define VIAL_BP(x)                                                             \
    _Generic((x), vial_app *: vial_app_bp, vial_bp *: vial_bp_self)(x)

/*
 * Registers `bp` under `url_prefix` ("" or "/api"; no trailing slash) in
 * `parent` (an app's root blueprint or another blueprint).  Steals `bp`:
 * after the call, even a failing one, the app owns it.
 */
VIAL_API int vial_bp_register(vial_bp *parent, vial_bp *bp, const char *url_prefix);
#define vial_register(x, bp, prefix) vial_bp_register(VIAL_BP(x), (bp), (prefix))

/*
 * Adds a route.  `pattern` is a path with typed parameters:
 *   /site/<int:Age>   digits, fits int64         vial_param_int()
 *   /p/<float:x>      digits '.' digits          vial_param_float()
 *   /u/<name>         <string:name>: one non-empty segment
 *   /f/<path:rest>    the rest of the path, slashes included
 *   /o/<uuid:id>      8-4-4-4-12 hex digits
 * A value that does not convert makes the route not match (404, as Flask).
 * A pattern ending in '/' also answers its slash-less form with a 308
 * redirect.  `endpoint` names the route for vial_url_for() (copied; NULL
 * means the pattern); the vial_get()... macros use the handler's name.
 * Errors (malformed pattern, the same path and method twice) are returned
 * here and also remembered: vial_run() refuses to start while one stands.
 */
VIAL_API int vial_route(vial_bp *bp, unsigned methods, const char *pattern,
                        vial_handler fn, const char *endpoint);

struct vial_doc;

/*
 * What else a route can say; zero means "not set".  `ud` lets one view
 * serve several routes: it reads the route's own data with vial_route_ud().
 */
typedef struct vial_route_opts {
    const char *endpoint; /* name for vial_url_for() (copied); NULL: the pattern */
    void *ud;             /* handed to the view (borrowed: must outlive the app) */
    /* What the route says about itself in the OpenAPI document, and the
     * request body schema vial_body_json_valid(req, NULL) checks (see "API
     * documentation" below).  Borrowed: must outlive the app (a static). */
    const struct vial_doc *doc;
} vial_route_opts;
/* vial_route() with options; `opts` is borrowed for the call (NULL: none). */
VIAL_API int vial_route_add(vial_bp *bp, unsigned methods, const char *pattern,
                            vial_handler fn, const vial_route_opts *opts);
/* The matched route's vial_route_opts.ud, or NULL.  Borrowed (it is the
 * pointer given at registration). */
VIAL_API void *vial_route_ud(vial_req *req);

/*
 * A blueprint's routes as one table, each with its documentation:
 *
 *     static const vial_route_def routes[] = {
 *         VIAL_ROUTE(VIAL_GET, "/items", list, "list", &list_doc),
 *         VIAL_ROUTE(VIAL_GET, "/by/<kind>", list, "by_kind", &by_kind_doc, .ud = &KIND),
 *         VIAL_ROUTE_END };
 *     rc = vial_route_table(bp, routes);
 *
 * Every pointer is borrowed and must outlive the app (a static table).
 */
typedef struct vial_route_def {
    unsigned methods;           /* VIAL_GET | ...; 0 ends a table */
    const char *pattern;        /* as vial_route() */
    vial_handler fn;            /* the view */
    const char *endpoint;       /* name for vial_url_for(); NULL: the pattern */
    const struct vial_doc *doc; /* the route in the API document (NULL: none) */
    void *ud;                   /* vial_route_ud() */
} vial_route_def;
/* A table entry with designated initializers (so -Wextra stays quiet);
 * `.ud = ...` may follow the doc. */
#define VIAL_ROUTE(m, pat, f, ep, d, ...)                                      \
    { .methods = (m), .pattern = (pat), .fn = (f), .endpoint = (ep), .doc = (d), __VA_ARGS__ }
#define VIAL_ROUTE_END { .methods = 0 }
/* Adds every route of `defs` (up to the entry with methods 0) with
 * vial_route_add().  Returns 0, or the first error (the routes after it
 * are still added, so vial_run() reports every bad one). */
VIAL_API int vial_route_table(vial_bp *bp, const vial_route_def *defs);

/* A route for one method on an app or a blueprint, its endpoint the
 * handler's name: vial_get(app, "/", index) is the endpoint "index". */
#define vial_get(x, pat, fn) vial_route(VIAL_BP(x), VIAL_GET, (pat), (fn), #fn)
#define vial_post(x, pat, fn) vial_route(VIAL_BP(x), VIAL_POST, (pat), (fn), #fn)
#define vial_put(x, pat, fn) vial_route(VIAL_BP(x), VIAL_PUT, (pat), (fn), #fn)
#define vial_delete(x, pat, fn) vial_route(VIAL_BP(x), VIAL_DELETE, (pat), (fn), #fn)
#define vial_patch(x, pat, fn) vial_route(VIAL_BP(x), VIAL_PATCH, (pat), (fn), #fn)

/*
 * Hooks of a blueprint run for its routes (the root blueprint's for all).
 * Before-hooks run outermost first; one that answers (vial_responded())
 * skips the rest and the view.  After-hooks run innermost first once the
 * response exists and may change its headers.  A hook that returns non-zero
 * fails the request (500).
 */
VIAL_API int vial_bp_before(vial_bp *bp, vial_handler fn);
VIAL_API int vial_bp_after(vial_bp *bp, vial_handler fn);
#define vial_before_request(x, fn) vial_bp_before(VIAL_BP(x), (fn))
#define vial_after_request(x, fn) vial_bp_after(VIAL_BP(x), (fn))

/*
 * Renders errors with `status` (0: every status) raised inside the
 * blueprint's routes; the innermost matching handler wins.  Errors outside
 * any route (404, 405, malformed requests) use the root blueprint's.
 */
VIAL_API int vial_bp_errorhandler(vial_bp *bp, int status, vial_error_handler fn);
#define vial_errorhandler(x, status, fn) vial_bp_errorhandler(VIAL_BP(x), (status), (fn))

/* ------------------------------------------------------------------ request */

/* The method ("GET").  Static (or Arena, for a method vial has no constant for). */
VIAL_API const char *vial_method(vial_req *req);
/* The decoded path ("/user/a b").  Arena. */
VIAL_API const char *vial_path(vial_req *req);
/* The request target as sent, query included ("/user/a%20b?x=1").  Arena. */
VIAL_API const char *vial_target(vial_req *req);
/* The app serving the request.  Borrowed. */
VIAL_API vial_app *vial_app_of(vial_req *req);
/* The endpoint name of the matched route ("logs.get_log"), or NULL.
 * Borrowed from the app's route table (lives as long as the app). */
VIAL_API const char *vial_endpoint(vial_req *req);

/*
 * Route parameters, percent-decoded after the path was split on '/'
 * (so "/user/a%2Fb" gives "a/b").  NULL if the route has no such
 * parameter.  Arena.
 */
VIAL_API const char *vial_param(vial_req *req, const char *name);
/* The value of an <int:> / <float:> parameter (0 when absent). */
VIAL_API int64_t vial_param_int(vial_req *req, const char *name);
VIAL_API double vial_param_float(vial_req *req, const char *name);

/* Iterates the route parameters in pattern order: returns 1 and sets
 * name/value for index `i`, 0 past the end.  Arena. */
VIAL_API int vial_param_at(vial_req *req, size_t i, const char **name, const char **value);

/*
 * Query arguments, decoded ('+' is a space).  vial_arg() returns the first
 * value of `name` or NULL; vial_args() stores up to `max` values in `out`
 * and returns how many there are in all (which may exceed `max`).  Arena.
 */
VIAL_API const char *vial_arg(vial_req *req, const char *name);
VIAL_API size_t vial_args(vial_req *req, const char *name, const char **out, size_t max);
/* Iterates all query arguments in order (repeats included). */
VIAL_API int vial_arg_at(vial_req *req, size_t i, const char **name, const char **value);

/* A request header by case-insensitive name, or NULL.  Repeated headers are
 * joined with ", " (cookies with "; ").  Arena. */
VIAL_API const char *vial_header(vial_req *req, const char *name);
/* Iterates headers: returns 1 and sets name/value for index `i`, else 0. */
VIAL_API int vial_header_at(vial_req *req, size_t i, const char **name, const char **value);
/* A cookie from the Cookie header, or NULL.  Arena. */
VIAL_API const char *vial_cookie(vial_req *req, const char *name);

/* The raw body; `*len` receives its size (0 if none).  Arena; NUL-terminated. */
VIAL_API const char *vial_body(vial_req *req, size_t *len);

/*
 * The body parsed as JSON (parsed once, cached).  Returns a Borrowed
 * reference owned by the request (do not json_decref it), or NULL when the
 * body is missing or not valid JSON; vial_body_json_error() then says why.
 */
VIAL_API json_t *vial_body_json(vial_req *req);
/* NULL, or why vial_body_json() found no JSON ("invalid JSON at line 1
 * column 2: ...").  Arena. */
VIAL_API const char *vial_body_json_error(vial_req *req);

/* The client's address: the peer ("127.0.0.1", "::1"; the in-process test
 * client is 127.0.0.1), or — when the peer is one of the trusted_proxies —
 * the last address in X-Forwarded-For that is not a trusted proxy (or
 * X-Real-IP when there is no X-Forwarded-For).  Arena. */
VIAL_API const char *vial_client_addr(vial_req *req);
/* "https" when a trusted proxy says so (X-Forwarded-Proto), else "http".
 * Static. */
VIAL_API const char *vial_scheme(vial_req *req);
/* The path the app is mounted at behind a proxy ("" at the root, else like
 * "/MusicGroup", no trailing slash): the X-Forwarded-Prefix a trusted proxy
 * sent, else the url_prefix setting.  A request whose path starts with it
 * is routed without it (so a proxy may strip it or not), and vial_url_for,
 * redirects to absolute paths, pagination Link headers and the default
 * cookie path put it back.  Arena or Static. */
VIAL_API const char *vial_script_root(vial_req *req);
/* This request's id: the X-Request-Id a trusted proxy sent, if it looks
 * sane, otherwise generated (a client that is not a trusted proxy cannot
 * set it).  Sent back in X-Request-Id and written in the access log.
 * Owned by the request (valid until the response is finished, like Arena). */
VIAL_API const char *vial_request_id(vial_req *req);
/* The worker thread's index, 0..workers-1 (the test client is worker 0). */
VIAL_API int vial_worker_id(vial_req *req);

/*
 * Values that live as long as the request (Flask's `g`): a before-hook
 * stores the current user, the view reads it.  `key` is copied; `value` is
 * borrowed (point into the arena or at something longer-lived).  Setting a
 * key again replaces it; vial_local() returns NULL for an unknown key.
 */
VIAL_API int vial_set_local(vial_req *req, const char *key, void *value);
/* The value stored under `key`, or NULL.  Borrowed: it is what was given to
 * vial_set_local(). */
VIAL_API void *vial_local(vial_req *req, const char *key);

/* ------------------------------------------------------------------ arena */

/* `size` bytes of Arena memory: it lives until the response is finished;
 * never free it.  NULL only on allocation failure (as below). */
VIAL_API VIAL_NODISCARD void *vial_alloc(vial_req *req, size_t size);
/* Grows the Arena allocation `p` of `old` bytes to `size` bytes (NULL `p`:
 * as vial_alloc): a vector built while a body is read.  The newest
 * allocation grows where it is; any other is copied, its old bytes staying
 * unused until the request ends, so doubling keeps the waste below the
 * final size.  Arena; NULL when out of memory (`p` is still valid). */
VIAL_API VIAL_NODISCARD void *vial_realloc(vial_req *req, void *p, size_t old, size_t size);
/* An Arena copy of `s`. */
VIAL_API VIAL_NODISCARD char *vial_strdup(vial_req *req, const char *s);
/* An Arena copy of at most `n` bytes of `s` (stops at a NUL), NUL-terminated. */
VIAL_API VIAL_NODISCARD char *vial_strndup(vial_req *req, const char *s, size_t n);
/* printf into Arena memory. */
VIAL_API VIAL_NODISCARD char *vial_sprintf(vial_req *req, const char *fmt, ...)
    VIAL_PRINTF(2, 3);
/* Runs `fn(arg)` when the request ends (finalize a statement, give back a
 * connection), last registered first.  Returns VIAL_ENOMEM and does not
 * register when out of memory; the caller must then clean up itself. */
VIAL_API int vial_defer(vial_req *req, void (*fn)(void *), void *arg);

/* ------------------------------------------------------------------ response */

/*
 * All response calls return 0 on success.  A second response for the same
 * request returns VIAL_ESTATE and changes nothing.  Bodies are copied unless
 * the name says otherwise.  Content types: text → "text/plain;
 * charset=utf-8", html → "text/html; charset=utf-8", json →
 * "application/json".
 */
VIAL_API int vial_text(vial_req *req, int status, const char *text);
VIAL_API int vial_textf(vial_req *req, int status, const char *fmt, ...) VIAL_PRINTF(3, 4);
VIAL_API int vial_html(vial_req *req, int status, const char *html);
/* Any content type (copied); `data` may contain NULs. */
VIAL_API int vial_send(vial_req *req, int status, const char *content_type,
                       const void *data, size_t len);
/* Borrows `data`: it must stay valid until the response is finished. */
VIAL_API int vial_send_static(vial_req *req, int status, const char *content_type,
                              const void *data, size_t len);
/* Serializes `value` now; the caller keeps its reference. */
VIAL_API int vial_json(vial_req *req, int status, json_t *value);
/* Serializes `value` and steals the reference (NULL → 500). */
VIAL_API int vial_json_take(vial_req *req, int status, json_t *value);
/* 204 No Content. */
VIAL_API int vial_no_content(vial_req *req);
/* A redirect (301, 302, 303, 307 or 308) to `location` (copied). */
VIAL_API int vial_redirect(vial_req *req, int status, const char *location);

/*
 * An error response in the common shape,
 *   {"error": "not_found_404", "message": "no log with id 42"}
 * (an HTML page for clients that prefer text/html), after giving the
 * blueprint's error handlers the chance to render it.  `message` is copied;
 * NULL uses the status's reason phrase.
 */
VIAL_API int vial_abort(vial_req *req, int status, const char *message);
VIAL_API int vial_abortf(vial_req *req, int status, const char *fmt, ...) VIAL_PRINTF(3, 4);
/* As vial_abort(), merging the members of the object `extra` into the JSON
 * body (e.g. "fields").  Steals `extra` (may be NULL). */
VIAL_API int vial_abort_json(vial_req *req, int status, const char *message, json_t *extra);
/* The error name of a status: "not_found_404".  Static. */
VIAL_API const char *vial_error_name(int status);
/* The reason phrase of a status: "Not Found".  Static. */
VIAL_API const char *vial_status_reason(int status);

/*
 * Response headers.  vial_set_header() replaces a header of the same name,
 * vial_add_header() appends another.  Both copy.  Content-Length, Date,
 * Connection and Transfer-Encoding are managed by vial and refused
 * (VIAL_EINVAL).  Headers may be set before or after the body and in
 * after-hooks; names that are not tokens and values with control characters (CR, LF,
 * NUL..US except tab, DEL) are refused.
 */
VIAL_API int vial_set_header(vial_req *req, const char *name, const char *value);
VIAL_API int vial_add_header(vial_req *req, const char *name, const char *value);
/* A response header already set, or NULL.  Arena. */
VIAL_API const char *vial_resp_header(vial_req *req, const char *name);
/* The response status so far (0 while no response exists). */
VIAL_API int vial_resp_status(vial_req *req);
/* Changes the status of an existing response (after-hooks). */
VIAL_API int vial_set_status(vial_req *req, int status);
/* 1 once a response exists. */
VIAL_API int vial_responded(vial_req *req);

/* A cookie's SameSite attribute (DEFAULT: Lax). */
enum vial_samesite { VIAL_SAMESITE_DEFAULT = 0, VIAL_SAMESITE_LAX, VIAL_SAMESITE_STRICT, VIAL_SAMESITE_NONE };
/* Cookie attributes.  Zeroed means: Path=/, HttpOnly, SameSite=Lax,
 * session cookie, not Secure. */
typedef struct vial_cookie_opts {
    int64_t max_age;      /* seconds; 0 = session cookie; <0 = delete now */
    const char *path;     /* NULL = "/" */
    const char *domain;   /* NULL = host only */
    int secure;           /* 1 = Secure */
    int not_httponly;     /* 1 = readable by scripts */
    enum vial_samesite samesite; /* DEFAULT = Lax */
} vial_cookie_opts;
/* Adds a Set-Cookie header.  `opts` may be NULL.  Names must be tokens and
 * values cookie-octets (VIAL_EINVAL otherwise). */
VIAL_API int vial_set_cookie(vial_req *req, const char *name, const char *value,
                             const vial_cookie_opts *opts);

/*
 * Streamed responses (Transfer-Encoding: chunked) for bodies too large to
 * build in memory.  vial_stream() sends the status and headers and returns;
 * afterwards the connection calls `fn(req, ud)` each time its send buffer
 * has room.  `fn` calls vial_write() (or writes JSON with vial_stream_jw())
 * and returns 1 to be called again, 0 when the body is complete, or a
 * negative value to abort (the connection is closed without the final
 * chunk, so the client sees a truncated body rather than a false end).
 * A stream that waits for events (Server-Sent Events, a live tail) returns
 * VIAL_STREAM_WAIT: what it wrote goes out and `fn` is not called again
 * until vial_stream_wake() — from any thread — or the next tick (every
 * few seconds: the moment for a heartbeat), with no CPU spent meanwhile; a
 * client that disconnects while it waits ends the stream at once.
 * The request and its arena live until the stream ends; pipelined requests
 * behind it wait.  `fn` is never called after the client has gone; deferred
 * functions run either way.
 */
typedef int (*vial_stream_fn)(vial_req *req, void *ud);
#define VIAL_STREAM_WAIT 2
VIAL_API int vial_stream(vial_req *req, int status, const char *content_type,
                         vial_stream_fn fn, void *ud);
/* Appends body bytes to a streamed response (copied). */
VIAL_API int vial_write(vial_req *req, const void *data, size_t len);
/* The id of this request's stream, for vial_stream_wake() from elsewhere;
 * 0 where there is none to wake (the in-process test client). */
VIAL_API uint64_t vial_stream_id(vial_req *req);
/* Has the stream `id` called again soon, on its own worker, if it waits
 * (VIAL_STREAM_WAIT); nothing if it has ended or is busy.  Any thread.
 * Returns 0, VIAL_ESTATE when the app is not serving, VIAL_ENOMEM. */
VIAL_API int vial_stream_wake(vial_app *app, uint64_t id);

/* ------------------------------------------------------------------ topics (pub/sub) */

/*
 * vial_publish() delivers a message to every subscriber of `topic` (an SSE
 * stream that called vial_sse_subscribe(), a WebSocket that called
 * vial_ws_subscribe()) in this process, each on the
 * worker that owns it, and — when the app uses the kv store
 * (vial_kv_init(), which vial_auth_init() calls) with REDIS_URL set — to
 * every subscriber of every instance sharing that Redis (channel
 * "<pubsub_prefix><topic>").  Any thread.  Messages of one publisher arrive
 * in the order published; `topic` and `data` are Borrowed (copied before
 * it returns).  With nobody subscribed in the process and no Redis, a
 * publish costs a couple of atomic loads.  While Redis is unreachable the
 * message still reaches this instance's subscribers; what the others
 * missed is counted in the log, and the connection comes back by itself.
 * Returns 0, VIAL_EINVAL, VIAL_ENOMEM, or VIAL_ETOOBIG when 64 MiB already
 * wait to be sent to Redis (delivered here all the same).
 */
VIAL_API int vial_publish(vial_app *app, const char *topic, const void *data, size_t len);
/* 1 when a publish on `topic` may reach someone (a subscriber in this
 * process, or Redis is configured, so other instances may listen), else 0:
 * lets a publisher skip building a message nobody would read.  Any thread. */
VIAL_API int vial_publish_wanted(vial_app *app, const char *topic);

/* ------------------------------------------------------------------ Server-Sent Events */

/*
 * A text/event-stream response that stays open and sends events as they
 * happen:
 *     vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .replay = missed });
 *     if (!s) return VIAL_ENOMEM;
 *     return vial_sse_subscribe(s, "news");   // each message: "data: ...\n\n"
 * It waits without spinning (a VIAL_STREAM_WAIT stream), ends at once when
 * the client leaves (subscriptions go with it), sends ": keep-alive" when
 * nothing was sent for sse_heartbeat (checked on the server's 5 s tick), and
 * closes a client that stops reading once sse_max_queue bytes of events
 * wait for it.  Every vial_sse_* call is made on the stream's worker: in the
 * view, or in the stream's callbacks; from elsewhere, publish to a topic.
 */
typedef struct vial_sse vial_sse;
/* Turns one published message into events with vial_sse_send() (none is
 * fine: a filter).  Runs on the stream's worker, outside any view: do not
 * take request arena memory per message (it lives as long as the stream).
 * `topic` and `data` (NUL-terminated) are Borrowed for the call.  A
 * negative return closes the stream. */
typedef int (*vial_sse_format_fn)(vial_sse *s, const char *topic, const char *data, size_t len,
                                  void *ud);
/* Sends what a client resuming after event `last_id` (its Last-Event-ID
 * header, Borrowed for the call) missed; called once, inside
 * vial_sse_begin().  A negative return closes the stream. */
typedef int (*vial_sse_replay_fn)(vial_sse *s, const char *last_id, void *ud);
/* What vial_sse_begin() may be told; zeroed fields mean the settings. */
typedef struct vial_sse_opts {
    const char *const *topics; /* NULL-terminated, Borrowed (copied): subscribed before the
                                  replay runs, so nothing published meanwhile is missed */
    int64_t retry_ms;          /* "retry:" sent first; 0: the sse_retry setting (default: none) */
    int64_t heartbeat_ms;      /* 0: sse_heartbeat (15 s); < 0: no heartbeat */
    size_t max_queue;          /* bytes; 0: sse_max_queue (8M) */
    vial_sse_replay_fn replay; /* NULL: Last-Event-ID is ignored */
    vial_sse_format_fn format; /* NULL: each message is one event, its data the message */
    void *ud;                  /* Borrowed: given to the callbacks; must live as long as the
                                  stream (request arena memory does) */
} vial_sse_opts;
/* Answers the request with a 200 text/event-stream (Cache-Control:
 * no-cache) and runs the replay.  `opts` may be NULL; it is Borrowed (read
 * during the call).  Returns the stream, Arena (valid until the stream
 * ends, which is when the request's deferred functions run), or NULL when
 * out of memory or the request already has a response. */
VIAL_API vial_sse *vial_sse_begin(vial_req *req, const vial_sse_opts *opts);
/* Queues one event: "event:" when `event` is not NULL, "id:" when `id` is
 * not NULL (neither may hold CR or LF: VIAL_EINVAL), and one "data:" line
 * per line of `data` (split at CRLF, LF or CR).  All Borrowed (copied).
 * VIAL_ECLOSED once the client has gone. */
VIAL_API int vial_sse_send(vial_sse *s, const char *event, const char *id, const char *data, size_t len);
/* Queues a comment line ": text" (no CR or LF; Borrowed): clients ignore it. */
VIAL_API int vial_sse_comment(vial_sse *s, const char *text);
/* Subscribes the stream to `topic` (Borrowed: copied) until it ends. */
VIAL_API int vial_sse_subscribe(vial_sse *s, const char *topic);
/* Ends the stream once what is queued has gone out (the final chunk). */
VIAL_API int vial_sse_end(vial_sse *s);
/* The stream's request: Borrowed (Arena-lived, as the stream). */
VIAL_API vial_req *vial_sse_req(vial_sse *s);
/* ------------------------------------------------------------------ WebSocket */

/*
 * WebSocket endpoints (RFC 6455, permessage-deflate of RFC 7692):
 *
 *     static void echo(vial_ws *ws, const char *data, size_t len, int binary)
 *     {
 *         vial_ws_send(ws, data, len, binary);
 *     }
 *     static const vial_ws_handlers echo_ws = { .message = echo };
 *     vial_websocket(app, "/echo", &echo_ws);
 *
 * A WebSocket route answers GET.  The blueprint's before-hooks run first
 * (vial_auth_guard refuses as it would for a view), then the handshake is
 * checked: anything but a WebSocket upgrade is refused before the 101 in
 * the common error shape — 426 with "Upgrade: websocket" for plain HTTP,
 * 426 with "Sec-WebSocket-Version: 13" for another version, 400 for a
 * malformed handshake, 403 for a browser page of a foreign origin (the
 * Origin's host:port must be the request's Host, or listed in
 * ws_allowed_origins; a request without Origin is not a browser's and
 * passes).  Then `upgrade` may refuse like a view.  Subprotocols: the
 * server takes the first of opts->protocols the client offers (none if it
 * offers none of them).  Compression is negotiated when the client offers
 * it (ws_compression).
 *
 * Handlers run on the connection's worker thread, one call at a time per
 * connection, like views; they must not block it.  A vial_ws is valid
 * from open() until close() returns; keep its id (vial_ws_id), not the
 * pointer, to reach it later or from another thread (vial_ws_send_to).
 *
 * Settings: ws_max_message (1M: larger messages, after inflating, close
 * the connection with 1009 before they are read), ws_max_queue (4M: a
 * send that would queue more for a client that does not read closes it
 * with 1008), ws_ping_interval (25s: ping a client silent that long; 0
 * never), ws_pong_timeout (10s: close with 1011 a client silent that long
 * after a ping; also how long a close waits for the client's),
 * ws_idle_timeout (0: close with 1001 after that long without a message),
 * ws_allowed_origins ("": same origin only; "*": any),
 * ws_compression (on), ws_compression_takeover (off: no compression
 * context is kept between messages, so an idle connection holds no zlib
 * state), ws_compression_threshold (1K: shorter messages go uncompressed).
 * On SIGTERM every client gets a close with 1001 and shutdown_timeout to
 * answer it.
 */
typedef struct vial_ws vial_ws; /* one WebSocket connection */

/* The functions of a WebSocket endpoint: `message` is required. */
typedef struct vial_ws_handlers {
    /* Optional.  Before the 101, like a view: answer (vial_abort,
     * vial_auth_require ...) to refuse; return 0 without answering to
     * accept, setting *ud to the connection's user data.  Once it accepts,
     * close() is owed and comes exactly once, even if the switch then
     * fails.  A non-zero return fails the request (500): free what you
     * made. */
    int (*upgrade)(vial_req *req, void **ud);
    /* Optional: the 101 is out; sending is possible from here on. */
    void (*open)(vial_ws *ws);
    /* Required: a complete message.  `data` is Borrowed for the call (the
     * connection's buffer), NUL-terminated after `len` bytes; text
     * (binary == 0) is valid UTF-8. */
    void (*message)(vial_ws *ws, const char *data, size_t len, int binary);
    /* Optional: a message on a topic the connection subscribed to (pub/sub:
     * vial_ws_subscribe); `topic` and `data` are Borrowed for the
     * call.  Without it such messages are sent to the client as text. */
    void (*event)(vial_ws *ws, const char *topic, const char *data, size_t len);
    /* Optional: the last call — the close code the client sent (1005: none),
     * the one the server failed the connection with (1002, 1007, 1008,
     * 1009, 1011 ...), or 1006 when the connection ended without a close
     * frame; `reason` Borrowed for the call.  Free the user data here. */
    void (*close)(vial_ws *ws, int code, const char *reason);
} vial_ws_handlers;

/* What else a WebSocket route can say (vial_ws_route); zero: not set. */
typedef struct vial_ws_opts {
    const char *endpoint;            /* name for vial_url_for() (copied); NULL: the pattern */
    const char *const *protocols;    /* subprotocols, preferred first, NULL-terminated (copied) */
    int any_origin;                  /* 1: no Origin check (an API meant for any site) */
    /* The route in the API document (borrowed, must outlive the app); NULL:
     * a generic "WebSocket endpoint" with its 101, 400, 403 and 426. */
    const struct vial_doc *doc;
} vial_ws_opts;

/* Adds a WebSocket endpoint at `pattern` (typed parameters as vial_route;
 * vial_param() works in `upgrade`).  `h` is copied; its functions must
 * outlive the app.  `opts` Borrowed for the call (NULL: none). */
VIAL_API int vial_ws_route(vial_bp *bp, const char *pattern, const vial_ws_handlers *h,
                           const vial_ws_opts *opts);
#define vial_websocket(x, pattern, handlers) vial_ws_route(VIAL_BP(x), (pattern), (handlers), NULL)

/*
 * Sending, on the connection's worker (in a handler).  The bytes are
 * copied into the connection's output queue; text must be valid UTF-8
 * (VIAL_EINVAL otherwise).  0, VIAL_ESTATE before open(), VIAL_ECLOSED
 * once the connection is closing — including when this send would pass
 * ws_max_queue, which closes it with 1008 — or VIAL_ENOMEM.
 */
VIAL_API int vial_ws_send(vial_ws *ws, const void *data, size_t len, int binary);
VIAL_API int vial_ws_send_text(vial_ws *ws, const char *text);
/* A ping with up to 125 bytes of payload (the pong is not reported). */
VIAL_API int vial_ws_ping(vial_ws *ws, const void *data, size_t len);
/* Starts the close handshake: `code` 1000, 1001 ... or 3000-4999 (0: no
 * code), `reason` up to 123 bytes of UTF-8 (NULL: none; Borrowed).  Messages
 * that arrive afterwards are dropped; close() comes with the client's
 * answer (or 1006 when it does not answer within ws_pong_timeout). */
VIAL_API int vial_ws_close(vial_ws *ws, int code, const char *reason);
/* The user data (what `upgrade` set, or vial_ws_set_ud).  Borrowed: the
 * pointer as given. */
VIAL_API void *vial_ws_ud(vial_ws *ws);
VIAL_API void vial_ws_set_ud(vial_ws *ws, void *ud);
/* The subprotocol agreed, or NULL.  Static for the app's life (the
 * route's copy). */
VIAL_API const char *vial_ws_protocol(vial_ws *ws);
/* The app.  Borrowed. */
VIAL_API vial_app *vial_ws_app(vial_ws *ws);
/* The connection's id for vial_ws_send_to(): the worker in the top 10
 * bits, the connection below (as vial_stream_id); 0 where there is no
 * server (the in-process test client). */
VIAL_API uint64_t vial_ws_id(vial_ws *ws);
/* Sends a message to the WebSocket `id` from any thread: `data` is copied,
 * then framed (and compressed) on the connection's worker.  0 once queued
 * for that worker (nothing happens if the connection has gone meanwhile),
 * VIAL_ESTATE when the app is not serving, VIAL_EINVAL (text not UTF-8, no
 * such worker), VIAL_ENOMEM. */
VIAL_API int vial_ws_send_to(vial_app *app, uint64_t id, const void *data, size_t len, int binary);
/*
 * Pub/sub for WebSockets: the connection receives every message published
 * on `topic` (vial_publish, from any thread, any worker, and with
 * REDIS_URL any instance) on its own worker — through the route's event()
 * handler when it has one, else sent to the client as a text frame (a
 * message that is not valid UTF-8 is then dropped).  A message published
 * once is copied once per worker that has subscribers, not per
 * subscriber.  Subscribing twice to one topic is one subscription.  Every
 * subscription ends with the connection; call these on the connection's
 * worker (in a handler).  `topic` Borrowed (copied).  0, VIAL_EINVAL,
 * VIAL_ESTATE before open(), VIAL_ECLOSED once closing, VIAL_ENOMEM;
 * unsubscribe: VIAL_ENOENT when not subscribed.
 */
VIAL_API int vial_ws_subscribe(vial_ws *ws, const char *topic);
VIAL_API int vial_ws_unsubscribe(vial_ws *ws, const char *topic);
/*
 * A request context for the handler call in progress (open, message,
 * event, close), as a view has one: vial_alloc() and the other Arena
 * calls, vial_db_get() (the worker's connection; a vial_db_tx commits when
 * the handler returns), vial_kv_*(), vial_publish().  It has no headers,
 * method GET, the peer's address (vial_client_addr); what
 * is written into its response goes nowhere.  Arena: valid until the
 * handler returns (then its rows are closed, an open transaction rolled
 * back, its memory freed); made on first use, the same for the whole
 * call.  NULL outside a handler or when out of memory.
 */
VIAL_API vial_req *vial_ws_request(vial_ws *ws);

/* ------------------------------------------------------------------ JSON writer */

/*
 * A streaming JSON writer that appends straight into the response body, so
 * large results are never built as a tree.  Commas and nesting are tracked
 * for you.  Usage:
 *     vial_jw *w = vial_jw_begin(req, 200);
 *     vial_jw_object(w);
 *       vial_jw_key(w, "message"); vial_jw_str(w, "Hello, World!");
 *     vial_jw_end(w);
 *     return vial_jw_finish(w);
 * The writer is arena memory.  Errors are sticky: calls after a misuse
 * (a value where a key is needed, unbalanced ends) do nothing and
 * vial_jw_finish() returns VIAL_ESTATE, so one check at the end suffices.
 * Strings must be UTF-8; invalid sequences are written as U+FFFD.
 * Non-finite doubles are written as null.
 */
VIAL_API VIAL_NODISCARD vial_jw *vial_jw_begin(vial_req *req, int status);
/* 0 once the writer wrote one complete, balanced value; else its error. */
VIAL_API int vial_jw_finish(vial_jw *w);
/* A writer whose output collects in memory instead of a response (a page
 * of rows for a template, a document to store).  Arena (its buffer lives
 * until the response is finished); NULL when out of memory. */
VIAL_API vial_jw *vial_jw_buffer(vial_req *req);
/* The JSON text once the writer wrote one complete, balanced value,
 * NUL-terminated, `len` (may be NULL) bytes; NULL before that or after an
 * error.  Borrowed from the writer: valid until it writes more or the
 * response is finished. */
VIAL_API const char *vial_jw_text(vial_jw *w, size_t *len);
/* Empties a vial_jw_buffer() writer so it writes a new value, keeping its
 * memory: one writer for many small documents (a row each).  The text
 * vial_jw_text() returned before is gone.  VIAL_EINVAL for other writers. */
VIAL_API int vial_jw_clear(vial_jw *w);
/* Inside a stream callback: a writer whose output goes into the next chunk.
 * Nesting state persists across calls for the life of the stream.  Arena. */
VIAL_API vial_jw *vial_stream_jw(vial_req *req);

/* The tokens of the document, in order: each call writes one (with the comma
 * it needs); vial_jw_key() only inside an object, before each value. */
VIAL_API void vial_jw_object(vial_jw *w);
VIAL_API void vial_jw_array(vial_jw *w);
VIAL_API void vial_jw_end(vial_jw *w); /* closes the innermost object or array */
VIAL_API void vial_jw_key(vial_jw *w, const char *key);
VIAL_API void vial_jw_str(vial_jw *w, const char *s); /* NULL writes null */
VIAL_API void vial_jw_strn(vial_jw *w, const char *s, size_t n);
VIAL_API void vial_jw_int(vial_jw *w, int64_t v);
VIAL_API void vial_jw_double(vial_jw *w, double v);
VIAL_API void vial_jw_bool(vial_jw *w, int v);
VIAL_API void vial_jw_null(vial_jw *w);
/* Writes a jansson value (borrowed). */
VIAL_API void vial_jw_value(vial_jw *w, json_t *v);
/* Writes `json` verbatim as one value; the caller vouches it is valid JSON. */
VIAL_API void vial_jw_raw(vial_jw *w, const char *json, size_t n);
/* Error state: 0, or VIAL_ESTATE / VIAL_ENOMEM. */
VIAL_API int vial_jw_error(const vial_jw *w);

/* ------------------------------------------------------------------ JSON reader */

/*
 * A pull reader for bodies too big or too hot for a tree (vial_body_json):
 * the handler walks the document and takes each value as it comes.  No
 * allocation except for strings with escapes, which are decoded into the
 * arena; other strings are handed over as spans of the body itself.
 *     vial_jr *r = vial_jr_body(req);
 *     const char *k; size_t kn;
 *     if (vial_jr_object(r))
 *         while (vial_jr_key(r, &k, &kn))
 *             if (kn == 4 && !memcmp(k, "name", 4) && !vial_jr_str(r, &name, NULL))
 *                 ... "name must be a string" ...
 *     if (vial_jr_finish(r)) return vial_abort(req, 400, vial_jr_error(r));
 *
 * Values the caller does not read are skipped (and still validated) when
 * it moves on with vial_jr_key/vial_jr_more; vial_jr_finish validates the
 * rest of the document.  The grammar is RFC 8259's, as vial_body_json's:
 * strings must be UTF-8 without lone surrogates, depth at most 2048.  Unlike
 * vial_body_json, any value may be at the top, and duplicate keys are not
 * detected (each is handed over in turn).
 *
 * Typed reads return 1 and consume the value when it has that type, else 0
 * and leave it, so a wrong type can be reported and skipped.  Syntax errors
 * are sticky: every call then returns 0 and vial_jr_error() says where.
 * The reader and everything it hands out are arena memory.
 */
typedef enum vial_jr_type {
    VIAL_JR_NONE,   /* no value due here (or an error) */
    VIAL_JR_OBJECT, VIAL_JR_ARRAY, VIAL_JR_STRING, VIAL_JR_NUMBER, VIAL_JR_BOOL, VIAL_JR_NULL
} vial_jr_type;
/* A reader over the request body (an empty body is an error).  Arena; NULL
 * only when out of memory. */
VIAL_API vial_jr *vial_jr_body(vial_req *req);
/* A reader over any text (Borrowed: it must outlive the reader).  Arena;
 * NULL only when out of memory. */
VIAL_API vial_jr *vial_jr_text(vial_req *req, const char *json, size_t len);
/* The type of the value due next. */
VIAL_API vial_jr_type vial_jr_peek(vial_jr *r);
/* Enters an object or array: 1, or 0 when the value is not one. */
VIAL_API int vial_jr_object(vial_jr *r);
VIAL_API int vial_jr_array(vial_jr *r);
/* The next key of the innermost object (1), or 0 at its end (closed).  The
 * key is not NUL-terminated: use `len`. */
VIAL_API int vial_jr_key(vial_jr *r, const char **key, size_t *len);
/* 1 when the innermost array has another element (read it next), 0 at its
 * end (closed). */
VIAL_API int vial_jr_more(vial_jr *r);
/* Skips the rest of the innermost object or array and closes it. */
VIAL_API int vial_jr_leave(vial_jr *r);
/* A string: with `len`, a span that is not NUL-terminated; with `len`
 * NULL, a NUL-terminated copy (cut at an escaped \u0000). */
VIAL_API int vial_jr_str(vial_jr *r, const char **s, size_t *len);
/* A number written as an integer that fits int64_t (else 0, left). */
VIAL_API int vial_jr_int(vial_jr *r, int64_t *v);
/* Any number that fits a double (else 0, left). */
VIAL_API int vial_jr_double(vial_jr *r, double *v);
VIAL_API int vial_jr_bool(vial_jr *r, int *v);
VIAL_API int vial_jr_null(vial_jr *r);
/* Skips the due value, validating it; `raw` receives its text (a span). */
VIAL_API int vial_jr_skip(vial_jr *r, const char **raw, size_t *len);
/* Validates whatever the caller left unread and that nothing follows the
 * value: 0, VIAL_EPARSE (invalid JSON), VIAL_ESTATE (a call out of place,
 * e.g. vial_jr_key in an array) or VIAL_ENOMEM. */
VIAL_API int vial_jr_finish(vial_jr *r);
/* NULL, or why the document was refused: "invalid JSON at line L column
 * C: ..." (arena). */
VIAL_API const char *vial_jr_error(vial_jr *r);

/* ------------------------------------------------------------------ URLs */

/*
 * Builds the URL of `endpoint` ("site" or "logs.get_log") from name/value
 * pairs ending with NULL; values are percent-encoded, and pairs that are
 * not route parameters become query arguments (as Flask's url_for).
 * Returns an arena string, or NULL if the endpoint is unknown, a parameter
 * is missing, or a value does not fit its converter.
 */
VIAL_API const char *vial_url_for(vial_req *req, const char *endpoint, ...);

/*
 * Percent-decodes `n` bytes of `s` into `out` (room for n + 1 bytes), with
 * '+' as space when `plus_is_space`.  Returns the decoded length, or VIAL_EPARSE on a
 * malformed escape.  The output is NUL-terminated and may contain NULs.
 */
VIAL_API ptrdiff_t vial_url_decode(const char *s, size_t n, char *out, int plus_is_space);
/* Percent-encodes everything but RFC 3986 unreserved characters.  Arena. */
VIAL_API const char *vial_url_encode(vial_req *req, const char *s);

/* ------------------------------------------------------------------ string codecs */

/*
 * The codecs libvial uses itself, for apps that need them (cursors, keys,
 * identifiers).  They work on caller buffers and allocate nothing.
 * Decoders are strict: one canonical spelling per value, and VIAL_EPARSE
 * for anything else.
 */
/* 1 when the n bytes are valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF), else 0. */
VIAL_API int vial_utf8_valid(const char *s, size_t n);
/* The number of characters (Unicode code points) of n bytes of UTF-8, as a
 * length limit counts them ("1..2000 characters"); VIAL_EINVAL when the
 * bytes are not valid UTF-8 (as vial_utf8_valid). */
VIAL_API int64_t vial_utf8_count(const char *s, size_t n);
/* The length of the base64url (RFC 4648 section 5, unpadded) form of n bytes. */
#define VIAL_B64URL_LEN(n) (((n) * 4 + 2) / 3)
/* Writes the base64url of n bytes into `out` (VIAL_B64URL_LEN(n) + 1 bytes,
 * NUL-terminated); returns its length. */
VIAL_API size_t vial_b64url_encode(const void *data, size_t n, char *out);
/* Decodes n characters into `out` (room for `cap` bytes); returns the byte
 * count, VIAL_EPARSE when `s` is not canonical unpadded base64url, or
 * VIAL_ETOOBIG when it does not fit. */
VIAL_API ptrdiff_t vial_b64url_decode(const char *s, size_t n, void *out, size_t cap);
/* Writes n bytes as lower-case hex into `out` (2n + 1 bytes, NUL-terminated);
 * returns 2n. */
VIAL_API size_t vial_hex_encode(const void *data, size_t n, char *out);
/* Decodes n hex digits (either case) into `out` (room for `cap` bytes);
 * returns the byte count, VIAL_EPARSE for an odd length or a non-hex
 * character, or VIAL_ETOOBIG for too little room. */
VIAL_API ptrdiff_t vial_hex_decode(const char *s, size_t n, void *out, size_t cap);

/* ------------------------------------------------------------------ CSV, list literals, search words */

/*
 * A streaming RFC 4180 reader: records come one at a time from a file
 * descriptor or a read callback, in memory bounded by the largest record,
 * so a file of any size (or a pipe) is read the same way.  Fields are
 * separated by commas (or opts->sep), records by CRLF, LF or CR; a field
 * may be quoted with '"', and inside quotes separators, line breaks and
 * doubled quotes ("") are data.  A UTF-8 byte order mark at the very start
 * is skipped; blank lines are no records.  Bytes are handed over as they
 * are (check UTF-8 yourself, vial_utf8_valid).
 *
 * A malformed record does not stop the reader: vial_csv_next() returns
 * VIAL_EPARSE (or VIAL_ETOOBIG past max_record), vial_csv_line() and
 * vial_csv_error() say where and why, and the next call goes on with the
 * line after it (after the line it started on when a quote never closed,
 * so one stray quote costs one line rather than the rest of the file).
 *
 *     vial_csv *c = vial_csv_fd(fd, NULL);
 *     int rc;
 *     while ((rc = vial_csv_next(c)) != 0) {
 *         if (rc == VIAL_EPARSE || rc == VIAL_ETOOBIG) {
 *             fprintf(stderr, "line %" PRId64 ", column %zu: %s\n", vial_csv_line(c),
 *                     vial_csv_error_column(c), vial_csv_error(c));
 *             continue;
 *         }
 *         if (rc < 0)
 *             break;                              // VIAL_EIO, VIAL_ENOMEM
 *         size_t len;
 *         const char *name = vial_csv_field(c, 1, &len);
 *     }
 *     vial_csv_free(c);
 */
typedef struct vial_csv vial_csv;
/* A reader's options (zeroed, or NULL where one is taken: the defaults). */
typedef struct vial_csv_opts {
    char sep;          /* the field separator; 0: ',' (not '"', CR or LF) */
    size_t max_record; /* the longest record, in bytes; 0: 1 MiB */
} vial_csv_opts;
/* Reads from `fd` (which stays open: the caller closes it).  Owned by the
 * caller: free it with vial_csv_free().  NULL when out of memory, for a
 * negative fd or a bad separator.  `opts` is borrowed for the call (NULL:
 * defaults). */
VIAL_API VIAL_NODISCARD vial_csv *vial_csv_fd(int fd, const vial_csv_opts *opts);
/* Reads through `read(ud, buf, cap)`, which returns the number of bytes it
 * put in `buf` (at most `cap`), 0 at the end of the input, or a negative
 * number on an error. */
typedef ptrdiff_t (*vial_csv_read_fn)(void *ud, char *buf, size_t cap);
/* The same over a callback (`ud` is borrowed and must outlive the reader).
 * Owned by the caller: free it with vial_csv_free(). */
VIAL_API VIAL_NODISCARD vial_csv *vial_csv_new(vial_csv_read_fn read, void *ud,
                                               const vial_csv_opts *opts);
/* Moves to the next record: 1 when one is current, 0 at the end of the
 * input, VIAL_EPARSE for a malformed record and VIAL_ETOOBIG for one longer
 * than max_record (both skipped: call again to go on), VIAL_EIO when a read
 * failed, VIAL_ENOMEM. */
VIAL_API int vial_csv_next(vial_csv *c);
/* The number of fields of the current record (0 when none is current). */
VIAL_API size_t vial_csv_count(const vial_csv *c);
/* Field `i` (from 0) of the current record, decoded (no quotes, "" as ")
 * and NUL-terminated; `len` (may be NULL) gets its length, which counts
 * NUL bytes the data may hold.  NULL past the last field.  Borrowed from
 * the reader: valid until the next vial_csv_next(). */
VIAL_API const char *vial_csv_field(const vial_csv *c, size_t i, size_t *len);
/* The line the current or refused record starts on (from 1; line breaks
 * inside quoted fields count). */
VIAL_API int64_t vial_csv_line(const vial_csv *c);
/* Bytes of the input consumed so far (the records read, with their line
 * ends): progress against a file's size. */
VIAL_API uint64_t vial_csv_offset(const vial_csv *c);
/* Why the last record was refused ("quote inside an unquoted field"), or
 * NULL after a good one.  Static. */
VIAL_API const char *vial_csv_error(const vial_csv *c);
/* The field (from 1) where the refused record went wrong; 0 after a good one. */
VIAL_API size_t vial_csv_error_column(const vial_csv *c);
/* Frees the reader (NULL is a no-op); the fd is not closed. */
VIAL_API void vial_csv_free(vial_csv *c);

/*
 * A Python list literal of strings, as str(list) and pandas write a list
 * column: ['A', "B's", 'tab\there'].  The grammar is Python's for a list of
 * string literals: either quote; the escapes \\ \' \" \a \b \f \n \r \t \v,
 * octal \ooo, \xhh, \uXXXX, \UXXXXXXXX and line continuations; an unknown
 * escape kept as written, as Python does; adjacent literals concatenated;
 * whitespace and a trailing comma.  Refused (VIAL_EPARSE): anything else —
 * other values, prefixes (r'', b''), triple quotes, \N{...} — and strings
 * UTF-8 cannot hold (invalid bytes, a lone surrogate, NUL).
 *
 * The items are decoded into `out`, which needs n + 1 bytes (an item never
 * takes more room than its literal), each NUL-terminated; `items[i]` (may
 * be NULL) points at the i-th in `out`, `lens[i]` (may be NULL) gets its
 * length.  Returns the number of items (0 for []), VIAL_ETOOBIG for more
 * than `max`, or VIAL_EPARSE with a Static reason in *why and the byte
 * offset where it went wrong in *at (both may be NULL).
 */
VIAL_API int vial_pylist_parse(const char *s, size_t n, char *out, const char **items, size_t *lens,
                               size_t max, const char **why, size_t *at);

/*
 * Search words: writes `s` (n bytes) into `out` (n + 1 bytes: the result is
 * never longer) as the words a search should match, lower-case, Latin
 * letters without their diacritics (é e, ß ss, ø o, fullwidth Ａ a), Greek
 * and Cyrillic lower-cased (Greek without accents, ё as е), separated by
 * single spaces with none at either end.  A word is a run of letters and
 * digits: ASCII ones and every other code point but punctuation, symbols,
 * spaces and emoji; combining accents and zero-width characters vanish;
 * invalid UTF-8 separates.  "AC/DC" gives "ac dc", "Beyoncé" "beyonce".
 * Returns the length written (the NUL not counted).
 */
VIAL_API size_t vial_fold_words(const char *s, size_t n, char *out);

/* ------------------------------------------------------------------ configuration */

/*
 * Every setting is a string key with a default.  The value in effect comes
 * from, highest first: command-line flag (--max-body 1M), environment
 * (VIAL_MAX_BODY; HOST, PORT, WORKERS, DATABASE_URL, REDIS_URL, SECRET_KEY
 * and LOG_LEVEL also without the prefix), the config file (vial.ini in the
 * working directory, or --config / VIAL_CONFIG), the default.  Built-in keys are
 * listed by `prog help`; apps declare theirs with vial_config_define()
 * before vial_run().  Sizes accept K/M/G suffixes, durations ms/s/m/h/d.
 * A key whose default is "on"/"off" (or true/false, yes/no) is a switch:
 * `--debug` sets it, `--no-debug` clears it.
 */
VIAL_API int vial_config_define(vial_app *app, const char *key, const char *def,
                                const char *help);
/* The value in effect, or NULL for an unknown key.  Borrowed; valid until
 * the app is freed or the key is set again. */
VIAL_API const char *vial_config(vial_app *app, const char *key);
/* Sets a value at the highest precedence (copied): flags cannot change it. */
VIAL_API int vial_config_set(vial_app *app, const char *key, const char *value);
/* Changes a key's default (copied): file, environment and flags still win. */
VIAL_API int vial_config_default(vial_app *app, const char *key, const char *value);
/* Typed reads; `def` when unset or unparsable. */
VIAL_API int64_t vial_config_int(vial_app *app, const char *key, int64_t def);
VIAL_API int vial_config_bool(vial_app *app, const char *key, int def);
/* A duration in milliseconds ("30s", "500ms", "2m", "1h"; a bare number is
 * seconds) or a size in bytes ("16K", "10M"); `def` when unset or invalid. */
VIAL_API int64_t vial_config_duration_ms(vial_app *app, const char *key, int64_t def);
VIAL_API int64_t vial_config_size(vial_app *app, const char *key, int64_t def);

/* ------------------------------------------------------------------ per-worker state */

/*
 * State that each worker thread owns (a database connection, a cache) is
 * created on first use by `init(app, worker_id, ud)` and released by
 * `fini(state, ud)` when the worker stops.  vial_worker_slot() is called
 * before vial_run() and returns a slot number (>= 0) or a VIAL_E* code.
 * vial_worker_get() returns the calling worker's state for that slot, or
 * NULL when init failed (it is retried on the next call).
 */
typedef void *(*vial_worker_init_fn)(vial_app *app, int worker_id, void *ud);
typedef void (*vial_worker_fini_fn)(void *state, void *ud);
VIAL_API int vial_worker_slot(vial_app *app, vial_worker_init_fn init,
                              vial_worker_fini_fn fini, void *ud);
/* The calling worker's state for `slot`, or NULL.  Borrowed: it is Owned by
 * the worker (released by `fini` when it stops). */
VIAL_API void *vial_worker_get(vial_req *req, int slot);

/*
 * Runs `fn(app)` once the configuration is loaded, before `run` listens
 * (and before `migrate`-style commands run their body), in registration
 * order.  A non-zero return stops the start with exit status 1 — the place
 * to open files, check a database, apply migrations.
 */
typedef int (*vial_start_fn)(vial_app *app);
VIAL_API int vial_on_start(vial_app *app, vial_start_fn fn);
/* The command vial_run() is running ("run", "migrate", ...), NULL outside it.
 * Borrowed: valid while it runs. */
VIAL_API const char *vial_app_command(vial_app *app);

/* ------------------------------------------------------------------ database */

/*
 * One API over SQLite (the embedded default) and PostgreSQL, chosen by the
 * `database_url` setting (env DATABASE_URL):
 *   sqlite:///data/vial.db      relative path (created, with its directory)
 *   sqlite:////var/lib/x.db     absolute path
 *   sqlite://:memory:           one in-memory database shared by all workers
 *   postgresql://user:pass@host:port/dbname
 * Each worker thread owns its own connection (no locks on the hot path),
 * opened on first use; statements are prepared once and cached per
 * connection.  SQLite runs in WAL mode with foreign keys ON; PostgreSQL
 * connections come back by themselves after a server restart (the request
 * that found it gone gets 503, later ones succeed).
 *
 * SQL is written with PostgreSQL-style placeholders, $1 $2 ..., on both
 * backends.  Values are always bound, never spliced into SQL text: the
 * query macros accept only a string literal as SQL (a variable does not
 * compile), so building SQL from input takes a deliberate detour through
 * vial_db_query_dynamic().
 *
 *     vial_rows *r = vial_db_query(db, "SELECT id, name FROM users WHERE id = $1",
 *                                  VIAL_ARGS(VIAL_INT(id)));
 *     if (!r) return vial_db_abort(req, db);
 *     while (vial_rows_next(r) > 0) ... vial_rows_int(r, 0) ... vial_rows_text(r, 1)
 */
typedef struct vial_db vial_db;
typedef struct vial_rows vial_rows;

/* The type of a bound value or a column. */
typedef enum vial_type { VIAL_T_NULL = 0, VIAL_T_INT, VIAL_T_DOUBLE, VIAL_T_TEXT, VIAL_T_BLOB,
                         VIAL_T_BOOL, VIAL_T_JSON } vial_type;

/* A value to bind.  Text and blobs are borrowed for the duration of the
 * call that binds them. */
typedef struct vial_val {
    vial_type type; /* says which member of `u` holds the value */
    union {
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t n; /* (size_t)-1: NUL-terminated */
        } s;
    } u; /* i: INT, BOOL; d: DOUBLE; s: TEXT, BLOB, JSON */
} vial_val;

/* Values to bind, by type: VIAL_INT(42), VIAL_TEXT(name), VIAL_NULL ... */
#define VIAL_NULL ((vial_val){ .type = VIAL_T_NULL })
#define VIAL_INT(v) ((vial_val){ .type = VIAL_T_INT, .u.i = (int64_t)(v) })
#define VIAL_DOUBLE(v) ((vial_val){ .type = VIAL_T_DOUBLE, .u.d = (double)(v) })
#define VIAL_BOOL(v) ((vial_val){ .type = VIAL_T_BOOL, .u.i = !!(v) })
/* A NULL pointer binds SQL NULL. */
#define VIAL_TEXT(p) ((vial_val){ .type = VIAL_T_TEXT, .u.s = { (p), (size_t)-1 } })
#define VIAL_TEXTN(p, n) ((vial_val){ .type = VIAL_T_TEXT, .u.s = { (p), (n) } })
#define VIAL_BLOB(p, n) ((vial_val){ .type = VIAL_T_BLOB, .u.s = { (const char *)(p), (n) } })
/* The arguments of a query: VIAL_ARGS(VIAL_INT(1), VIAL_TEXT(s)); none: VIAL_NOARGS. */
#define VIAL_ARGS(...)                                                         \
    (const vial_val[]){ __VA_ARGS__ }, (sizeof((const vial_val[]){ __VA_ARGS__ }) / sizeof(vial_val))
#define VIAL_NOARGS NULL, 0

/*
 * Connects the app to its database: declares the settings database_url
 * (default sqlite:///data/vial.db), migrations_dir (default "migrations"),
 * migrations_root ("."), auto_migrate (on), db_timeout (PostgreSQL
 * statement_timeout, 30s) and sqlite_synchronous (normal); adds the
 * `migrate` command (applies what is pending and prints it); and, when
 * auto_migrate is on, applies pending migrations before serving.  Call once
 * before vial_run().
 */
VIAL_API int vial_db_init(vial_app *app);

/*
 * Migrations are SQL files named NNNN_name.sql in a folder's sqlite/ and
 * postgresql/ subfolders (the one matching database_url applies), grouped
 * in sets, applied in this order:
 *   1. the db module's own set (the tables behind vial_batch_ids());
 *   2. the sets registered with vial_db_migrations() and those the modules
 *      register themselves (the session module's vial_sessions table, when
 *      session_store = server keeps sessions in the database), in
 *      registration order;
 *   3. the migrations_dir folder, for simple apps that keep one folder.
 * Within a set, files apply in name order.  Each applies in its own
 * transaction together with its row in schema_migrations (version = the
 * file stem, "0001_logs"), so it applies completely or not at all; several
 * instances starting at once apply each file once.  Versions must be unique
 * across all sets: the app refuses to start when two sets carry the same
 * one.  A registered folder that does not exist also stops the start.
 *
 * Registers the folder `dir` as the set `name` (both copied; VIAL_EEXIST
 * for a name already registered).  A relative `dir` is found under the
 * migrations_root setting (default: the working directory), so an
 * installed program can point every app's folder at its data directory at
 * once.  Call before vial_run(), before or after vial_db_init().
 */
VIAL_API int vial_db_migrations(vial_app *app, const char *name, const char *dir);

/*
 * The calling worker's connection, (re)connected if needed.  Borrowed: it
 * belongs to the worker.  Rows left open and a transaction left running are
 * closed/rolled back when the request ends.  Returns NULL when the database
 * cannot be reached; vial_db_unavailable(req) has then already answered 503.
 */
VIAL_API vial_db *vial_db_get(vial_req *req);

/* A connection outside any request (CLI commands), Owned by the caller:
 * free it with vial_db_close() (NULL is a no-op).  NULL when the database
 * cannot be reached (logged). */
VIAL_API VIAL_NODISCARD vial_db *vial_db_open(vial_app *app);
VIAL_API void vial_db_close(vial_db *db);
/* "sqlite" or "postgresql", for messages and logs (Static).  Code that must
 * differ by backend belongs in src/db, behind the backend's operations. */
VIAL_API const char *vial_db_backend(const vial_db *db);

/* Runs a statement; returns the number of rows changed (>= 0) or VIAL_E*. */
#define vial_db_exec(db, sql, ...) vial_db_exec_dynamic((db), "" sql "", __VA_ARGS__)
/* Runs a query; returns its rows, or NULL (see vial_db_error()).  The rows
 * are read with vial_rows_*() and must be closed with vial_rows_close()
 * (or are closed when the request ends). */
#define vial_db_query(db, sql, ...) vial_db_query_dynamic((db), "" sql "", __VA_ARGS__)
/* The same, for SQL built at run time.  Never build SQL from input: values
 * belong in `args`.  `sql` is borrowed. */
VIAL_API int vial_db_exec_dynamic(vial_db *db, const char *sql, const vial_val *args, size_t nargs);
/* Rows Owned by the caller until vial_rows_close() (or the end of the
 * request, which closes what is left open); NULL on error (see
 * vial_db_error()).  `sql` and `args` are borrowed for the call. */
VIAL_API vial_rows *vial_db_query_dynamic(vial_db *db, const char *sql, const vial_val *args,
                                          size_t nargs);
/* Runs several ;-separated statements without parameters (DDL, scripts). */
VIAL_API int vial_db_script(vial_db *db, const char *sql);
/*
 * Gives this connection what loading a lot of rows needs (on = 1), or the
 * usual again (on = 0): on SQLite a 256 MiB page cache instead of 16, so a
 * transaction of a million rows keeps its pages until it commits, and
 * helper threads for the sorts of CREATE INDEX; on PostgreSQL the
 * session's maintenance_work_mem (512MB) and work_mem (64MB), and no
 * statement_timeout (db_timeout is for requests; a load's statement may
 * take minutes).  For import commands on their own connection
 * (vial_db_open), not for a worker's.
 * Returns 0 or VIAL_E*.
 */
VIAL_API int vial_db_bulk_mode(vial_db *db, int on);
/* The rowid of the last INSERT on this connection (SQLite); on PostgreSQL
 * use INSERT ... RETURNING id. */
VIAL_API int64_t vial_db_last_id(vial_db *db);

/*
 * Fetch one row or answer: returns the rows positioned on the first row,
 * Owned by the caller until vial_rows_close() (or the end of the request);
 * or NULL once the request is answered — 404 in the common error shape
 * with `notfound` (copied; NULL: "Not Found") when there is no row,
 * vial_db_abort() when the query fails, 503 when `db` is NULL (a failed
 * vial_db_get(), which has answered already).  `sql`, `args` borrowed.
 *
 *     vial_rows *r = vial_db_one(req, db, "SELECT name FROM users WHERE id = $1",
 *                                VIAL_ARGS(VIAL_INT(id)), "no such user");
 *     if (!r)
 *         return 0;
 */
#define vial_db_one(req, db, sql, ...) vial_db_one_dynamic((req), (db), "" sql "", __VA_ARGS__)
/* The same for SQL built at run time: never from input.  Owned by the
 * caller as above; NULL after answering. */
VIAL_API vial_rows *vial_db_one_dynamic(vial_req *req, vial_db *db, const char *sql,
                                        const vial_val *args, size_t nargs, const char *notfound);

/*
 * Bulk inserts, the fast path for ingest: rows are added one by one and
 * written at vial_batch_finish() — on SQLite as cached multi-row INSERTs
 * (512 rows each, then 64, 8, 1), on PostgreSQL through COPY, or as
 * multi-row INSERTs of up to ~60,000 values when ids must come back.
 * Run it inside a transaction (vial_db_tx) for all-or-nothing.  `table` and
 * `columns` are identifiers ([A-Za-z_][A-Za-z0-9_]*, at most 63), checked;
 * the arrays are borrowed until finish.  Text values in rows are borrowed
 * until finish too (they usually point into the parsed request body).
 * With `id_column` set, finish reports the first and last id the database
 * assigned (NULL: not needed).  The batch is freed by finish, whatever it
 * returns.
 */
typedef struct vial_batch vial_batch;
/* A batch Owned by the caller until vial_batch_finish() frees it; NULL on a
 * bad table or column name, or when out of memory (see vial_db_error()). */
VIAL_API VIAL_NODISCARD vial_batch *vial_db_batch(vial_db *db, const char *table,
                                                  const char *const *columns, size_t ncols,
                                                  const char *id_column);
/*
 * Ids from a sequence: at finish the batch reserves one block of as many
 * ids as it has rows from `sequence` and writes them, in row order, into
 * the `id_column` named in vial_db_batch() (leave it out of `columns`);
 * finish reports the block in first_id/last_id.  A sequence never hands
 * out again an id a committed batch got, not even after the rows holding
 * the newest ids were deleted, and concurrent batches get disjoint blocks
 * (the ids of a batch that rolled back may come again on SQLite; nobody
 * saw them).  The reservation and the rows go in one transaction: the
 * caller's, or else one the batch opens and commits itself.
 *
 * A sequence is declared by a migration: on SQLite a row of vial_sequences
 * (INSERT INTO vial_sequences (name) VALUES ('orders_id_seq'); next_id
 * says where it starts, 1 by default), on PostgreSQL a plain SEQUENCE of
 * that name (CREATE SEQUENCE orders_id_seq).  On SQLite the id column must
 * be the table's INTEGER PRIMARY KEY: only the first row carries its id
 * and SQLite numbers the others, which is cheaper than checking each
 * explicit id for a clash; finish checks that the last row got the
 * block's last id and fails (VIAL_EDB, logged) if anything came between.
 * Call once, before the first row; `sequence` is borrowed until finish.
 * Errors stick to the batch (finish returns them too).
 */
VIAL_API int vial_batch_ids(vial_batch *b, const char *sequence);
/* Adds a row of `ncols` values (the array is copied, text is borrowed). */
VIAL_API int vial_batch_add(vial_batch *b, const vial_val *row);
/* Writes the rows; returns how many, or VIAL_E* (see vial_db_error()). */
VIAL_API int64_t vial_batch_finish(vial_batch *b, int64_t *first_id, int64_t *last_id);

/* The last error on `db`: a VIAL_E* code (0: none). */
VIAL_API int vial_db_errcode(const vial_db *db);
/* The database's message for it ("" when none).  Borrowed: valid until the
 * next call on `db`. */
VIAL_API const char *vial_db_error(const vial_db *db);

/*
 * Answers the request for the last error on `db`: unique or foreign-key
 * violations → 409, NOT NULL / CHECK / bad value → 400, database down or
 * busy → 503, anything else → 500 (the database's message is logged, not
 * shown).  Returns like vial_abort().
 */
VIAL_API int vial_db_abort(vial_req *req, vial_db *db);
/* The 503 answered when vial_db_get() fails.  Returns like vial_abort(). */
VIAL_API int vial_db_unavailable(vial_req *req);

/*
 * Transactions.  Not nested: begin inside a transaction is VIAL_ESTATE.
 * On SQLite a transaction is a write transaction from its start (BEGIN
 * IMMEDIATE, after the process's writer lock): it never fails halfway with
 * "database is locked", and the workers of one process queue for the file
 * instead of polling it.  Plain reads need no transaction (each statement
 * sees one snapshot); VIAL_EBUSY after 5 s of waiting.
 */
VIAL_API int vial_db_begin(vial_db *db);
VIAL_API int vial_db_commit(vial_db *db);
VIAL_API int vial_db_rollback(vial_db *db);
/*
 * A transaction for the rest of the request: committed after the handler
 * and the after-hooks if the response status is below 400, rolled back
 * otherwise (a failing handler, an abort, a validation error).  If the
 * commit fails, the response is replaced by the error (409/503/500), so a
 * client never sees success for a write that was not committed.  Returns
 * 0, or non-zero after answering 503 when the database is unavailable.
 */
VIAL_API int vial_db_tx(vial_req *req);

/*
 * Reading rows.  vial_rows_next() returns 1 when a row is current, 0 at the
 * end, negative on error.  Columns are numbered from 0.  Text is borrowed
 * until the next vial_rows_next()/vial_rows_close(); NULL reads as NULL
 * (text), 0 (numbers) and vial_rows_isnull() tells them apart.
 */
VIAL_API int vial_rows_next(vial_rows *r);
VIAL_API size_t vial_rows_ncols(const vial_rows *r);
/* The name of column `col`, or NULL.  Borrowed: valid until the rows are
 * closed. */
VIAL_API const char *vial_rows_name(const vial_rows *r, size_t col);
/* The column with that name, or -1. */
VIAL_API int vial_rows_col(const vial_rows *r, const char *name);
VIAL_API vial_type vial_rows_type(vial_rows *r, size_t col);
VIAL_API int vial_rows_isnull(vial_rows *r, size_t col);
VIAL_API int64_t vial_rows_int(vial_rows *r, size_t col);
VIAL_API double vial_rows_double(vial_rows *r, size_t col);
VIAL_API int vial_rows_bool(vial_rows *r, size_t col);
/* The column as text (NUL-terminated; vial_rows_len() for the length of
 * values with NULs), NULL for SQL NULL.  Borrowed: valid until the next
 * vial_rows_next() or vial_rows_close(). */
VIAL_API const char *vial_rows_text(vial_rows *r, size_t col);
VIAL_API size_t vial_rows_len(vial_rows *r, size_t col);
/* Writes the current row as an object ({"id": 1, "note": null}). */
VIAL_API void vial_rows_jw_row(vial_rows *r, vial_jw *w);
/* Writes every remaining row as an array of objects; returns the number of
 * rows written or VIAL_E*. */
VIAL_API int64_t vial_rows_jw(vial_rows *r, vial_jw *w);
/* NULL is a no-op. */
VIAL_API void vial_rows_close(vial_rows *r);

/* ------------------------------------------------------------------ validation */

/*
 * Schemas describe a JSON body once (marshmallow's job); vial_validate()
 * checks a value and lists every problem by path, e.g.
 *   {"actions[3].time": "not an RFC 3339 timestamp with an offset"}.
 *
 *     static const vial_field action_f[] = {
 *         VIAL_FIELD("time", VIAL_F_TIMESTAMP, VIAL_REQUIRED),
 *         VIAL_FIELD("type", VIAL_F_STRING, VIAL_REQUIRED, .max = 64),
 *         VIAL_FIELD_END };
 *     static const vial_schema action = { action_f, VIAL_SCHEMA_STRICT };
 */
/* The JSON type a field must have (TIMESTAMP: an RFC 3339 string with an offset). */
typedef enum vial_ftype { VIAL_F_ANY = 0, VIAL_F_STRING, VIAL_F_INT, VIAL_F_NUMBER, VIAL_F_BOOL,
                          VIAL_F_OBJECT, VIAL_F_ARRAY, VIAL_F_TIMESTAMP } vial_ftype;
/* vial_field.flags. */
enum {
    VIAL_REQUIRED = 1u << 0, /* absent → "required" */
    VIAL_NULLABLE = 1u << 1, /* null accepted (else "must not be null") */
    VIAL_NONEMPTY = 1u << 2, /* strings: at least one non-space character */
};
/* vial_schema.flags. */
enum { VIAL_SCHEMA_STRICT = 1u << 0 /* unknown members are errors, else ignored */ };

struct vial_schema;
/* One member's rule (VIAL_FIELD() fills it); an array of them ends with VIAL_FIELD_END. */
typedef struct vial_field {
    const char *name;   /* NULL ends a field list */
    vial_ftype type;    /* the JSON type required */
    unsigned flags;     /* VIAL_REQUIRED, VIAL_NULLABLE, VIAL_NONEMPTY */
    /* INT/NUMBER: value bounds; STRING: length in characters; ARRAY: items.
     * Checked when either is non-zero (0/0: unbounded); max 0 with a
     * positive min means no maximum ("at least min"), for numbers too. */
    double min;
    double max; /* see min */
    const char *const *one_of;         /* STRING: allowed values, NULL-terminated */
    const struct vial_schema *schema;  /* OBJECT, or ARRAY of objects */
    const struct vial_field *items;    /* ARRAY of non-objects: the item rule */
    /* Extra check: return NULL if fine, else a static reason. */
    const char *(*check)(json_t *value);
    /* What the field means, for the API document (its JSON Schema
     * "description"); not used by validation. */
    const char *doc;
} vial_field;

/* An object's rules. */
typedef struct vial_schema {
    const vial_field *fields; /* ends with VIAL_FIELD_END */
    unsigned flags;           /* VIAL_SCHEMA_STRICT */
} vial_schema;

/* A field with designated initializers (so -Wextra stays quiet); options
 * follow as .min = 1, .max = 64, .one_of = ..., .schema = &s, .items = &f. */
#define VIAL_FIELD(n, t, f, ...) { .name = (n), .type = (t), .flags = (f), __VA_ARGS__ }
#define VIAL_FIELD_END { .name = NULL }

/*
 * Validates `value` (borrowed) against `schema`; each problem is added to
 * the object `errors` as "<path>": "<reason>", paths starting at `prefix`
 * ("" for the body itself, "[0]" for the first element of an array body:
 * "[0].actions[3].time").  Returns the number of problems (0: valid), or
 * VIAL_ENOMEM, or VIAL_EINVAL for a schema (nested ones included) that
 * names a field twice or gives a field bounds no value meets (min above a
 * non-zero max).  Only the first reason per path is kept.
 */
VIAL_API int vial_validate(const vial_schema *schema, json_t *value, const char *prefix,
                           json_t *errors);
/* Validates one value against a field rule (for top-level arrays etc.). */
VIAL_API int vial_validate_field(const vial_field *field, json_t *value, const char *path,
                                 json_t *errors);
/*
 * The request's JSON body if it is valid against `schema` (borrowed, owned
 * by the request).  Otherwise answers 400 — "invalid JSON" with the parse
 * position, or "invalid body" with a "fields" object naming every bad field
 * — and returns NULL; the handler then returns 0.  (A broken schema, see
 * vial_validate, gives a 500, logged.)
 */
VIAL_API json_t *vial_body_json_valid(vial_req *req, const vial_schema *schema);
/*
 * The same with `schema` NULL: the body schema documented for the matched
 * route (vial_doc.body, or .body_field), so the schema the API document
 * shows is the one the handler checks.  A route without one answers 500
 * (logged): that is a programming error.
 */

/*
 * The JSON Schema (2020-12) of `schema`: {"type": "object", "properties":
 * ..., "required": [...], "additionalProperties": false when STRICT}, with
 * "$schema" and, for a recursive schema, "$defs".  What the checks
 * mean in JSON Schema terms: lengths (in characters) → minLength/maxLength,
 * bounds → minimum/maximum, one_of → enum, NULLABLE → "null" among the
 * types, TIMESTAMP → string with format date-time, NONEMPTY → a pattern
 * that needs a non-blank character.  A field's `check` function has no
 * JSON Schema form and is left out.  New reference, or NULL when out of
 * memory (or `schema` is NULL).
 */
VIAL_API json_t *vial_schema_jsonschema(const vial_schema *schema);

/* ------------------------------------------------------------------ API documentation (OpenAPI) */

/*
 * vial describes an app as an OpenAPI 3.1 document built from its route
 * table: every route appears, with its methods, its path parameters typed
 * from the pattern (<int:id> is an integer, <uuid:u> a string of format
 * uuid), its endpoint as operationId ("logs.get_log"; "<endpoint>_<method>"
 * for a route that answers several methods) and its blueprint as tag.  A
 * route says more with a vial_doc: a summary, its request body and query
 * parameters as the same vial_schema / vial_field rules the handler
 * validates with, and its responses.
 *
 *     static const vial_response_doc created[] = {
 *         VIAL_RESPONSE(201, "the account", .schema = &user_schema),
 *         VIAL_RESPONSE(409, "the name is taken"),   // no schema: the common error shape
 *         VIAL_RESPONSE_END };
 *     static const vial_doc register_doc = {
 *         .summary = "Create an account", .body = &creds_schema, .responses = created };
 *     vial_route_add(bp, VIAL_POST, "/register", register_user,
 *                    &(vial_route_opts){ .endpoint = "register", .doc = &register_doc });
 *     // in the view: the documented schema, so the two cannot drift apart
 *     json_t *body = vial_body_json_valid(req, NULL);
 *
 * Every pointer in these structs is borrowed and must outlive the app:
 * declare them `static const`.
 */
typedef struct vial_response_doc {
    int status;               /* 100..599; 0 ends a list */
    const char *description;  /* NULL: the status's reason phrase */
    const vial_schema *schema;/* a JSON object body */
    const vial_field *field;  /* or any JSON body as a field rule (an array of
                               * objects: .type = VIAL_F_ARRAY, .schema = &item) */
    /* NULL: application/json when there is a schema or field, and for
     * statuses >= 400 without one the common error shape
     * {"error": ..., "message": ...}; otherwise the media type of a body
     * that has no schema here ("text/html", "text/event-stream"). */
    const char *content_type;
} vial_response_doc;
/* A response with designated initializers (so -Wextra stays quiet):
 * VIAL_RESPONSE(201, "the item", .schema = &item), and VIAL_RESPONSE_END
 * to close a list. */
#define VIAL_RESPONSE(st, desc, ...) { .status = (st), .description = (desc), __VA_ARGS__ }
#define VIAL_RESPONSE_END { .status = 0 }

/* vial_doc.flags. */
enum {
    VIAL_DOC_HIDDEN = 1u << 0,        /* left out of the document */
    VIAL_DOC_DEPRECATED = 1u << 1,    /* still served, marked deprecated */
    VIAL_DOC_AUTH_OPTIONAL = 1u << 2, /* `security` may be sent, need not be */
    VIAL_DOC_BODY_OPTIONAL = 1u << 3, /* an empty body is accepted too */
    /* `body` as one object or a non-empty array of them (a batch):
     * vial_body_json_valid(req, NULL) checks each element, its problems
     * reported under "[i]." */
    VIAL_DOC_BODY_OR_ARRAY = 1u << 4,
};

/* What a route says about itself: its docstring, request body, query and
 * path parameters, responses and security (see the example above). */
typedef struct vial_doc {
    const char *summary;          /* one line */
    const char *description;      /* longer, CommonMark */
    /* The request body: a JSON object (what vial_body_json_valid(req, NULL)
     * checks), or with `body_type` a form's fields. */
    const vial_schema *body;
    const vial_field *body_field; /* or a JSON body that is not one object */
    const char *body_type;        /* NULL: application/json; or
                                   * "application/x-www-form-urlencoded",
                                   * "multipart/form-data" */
    const vial_field *query;      /* query parameters, VIAL_FIELD_END-terminated:
                                   * checked by vial_args_valid() */
    /* Path parameters by name: a description (`doc`), and for <string:> /
     * <path:> parameters a rule (a TIMESTAMP, one_of ...).  The pattern's
     * converter decides the type of <int:>, <float:> and <uuid:> ones. */
    const vial_field *params;
    const vial_response_doc *responses; /* ends with { 0 } */
    /* Security scheme names, comma-separated ("bearer,api_key": either
     * one); NULL: the blueprint's (vial_auth_guard sets it); "": none. */
    const char *security;
    unsigned flags;               /* VIAL_DOC_* */
} vial_doc;

/* Attaches `doc` (borrowed, must outlive the app) to the route of `bp`
 * whose endpoint (as given to vial_route, without blueprint names) is
 * `endpoint`: for routes added by something else (vial_static, a
 * table-driven registration).  VIAL_ENOENT when there is none. */
VIAL_API int vial_route_document(vial_bp *bp, const char *endpoint, const vial_doc *doc);
/* The matched route's vial_doc, or NULL.  Borrowed (it is the pointer
 * given at registration). */
VIAL_API const vial_doc *vial_route_doc(vial_req *req);
/*
 * Names `schema` (borrowed, must outlive the app) in the app's document:
 * it becomes the component #/components/schemas/<name> with `description`
 * (copied; may be NULL), referenced wherever it is used.  Unnamed schemas
 * are written inline, except a recursive one, which gets a generated name.
 * `name` is copied; characters OpenAPI refuses in a component name become
 * '_', and a name already taken gets a number.
 */
VIAL_API int vial_openapi_schema(vial_app *app, const vial_schema *schema, const char *name,
                                 const char *description);
/* The blueprint's tag description in the document (copied). */
VIAL_API int vial_bp_describe(vial_bp *bp, const char *description);
/* The document's title (default: the app's name), version (default
 * "0.0.0") and description; each copied, NULL leaves it unchanged. */
VIAL_API int vial_openapi_info(vial_app *app, const char *title, const char *version,
                               const char *description);
/*
 * Declares a security scheme routes may name in vial_doc.security:
 * `scheme_json` is an OpenAPI Security Scheme Object as JSON text (copied),
 * e.g. {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}.
 * vial_auth_init() declares "bearer" (JWT) and "api_key" (X-API-Key), and
 * vial_auth_guard() makes them the blueprint's; the session module declares
 * "session" (its cookie).  VIAL_EINVAL for text that is not a JSON object
 * with a "type"; declaring a name again replaces it.
 */
VIAL_API int vial_security_scheme(vial_app *app, const char *name, const char *scheme_json);
/* The blueprint's routes need one of `schemes` (comma-separated names; ""
 * none), unless a route's vial_doc says otherwise.  Copied. */
VIAL_API int vial_bp_security(vial_bp *bp, const char *schemes);
/*
 * The OpenAPI 3.1 document of the app's routes: a New reference, or NULL
 * when out of memory or the routes do not compile.  `req` may be NULL;
 * when given, the document's server URL is the request's script root
 * (vial_script_root: behind a proxy that mounts the app at a path).
 */
VIAL_API json_t *vial_openapi(vial_app *app, vial_req *req);
/*
 * Serves the document at `json_path` (NULL: "/openapi.json", endpoint
 * "openapi") and, when `docs_path` is not NULL ("/docs"), an interactive
 * page there (endpoint "openapi_docs") made of Swagger UI — whose files
 * the app serves itself at `ui_url` (swagger-ui-bundle.js and
 * swagger-ui.css from npm's swagger-ui-dist; vial-server's are in
 * /static/vendor/swagger-ui) — and a small script of vial's at
 * `docs_path`/init.js, so the page needs no inline script and works under
 * the default Content-Security-Policy.  Strings copied.
 */
VIAL_API int vial_openapi_serve(vial_app *app, const char *json_path, const char *docs_path,
                                const char *ui_url);
/*
 * Checks the query string against the matched route's vial_doc.query:
 * each value must convert to its field's type (INT: an integer; NUMBER; BOOL:
 * true/false/1/0; STRING and TIMESTAMP as text) and pass the field's rule.
 * 0 when it does (or nothing is documented); otherwise answers 400 "invalid
 * query" with a "fields" object naming every bad parameter and returns 1,
 * like vial_auth_require.  Parameters not documented are ignored.
 */
VIAL_API int vial_args_valid(vial_req *req);

/* ------------------------------------------------------------------ forms and uploads */

/*
 * Form bodies: application/x-www-form-urlencoded and multipart/form-data,
 * parsed on first use.  Multipart bodies never sit in memory: they stream
 * to an unlinked temporary file in upload_dir while they arrive (limit
 * max_upload, 413 above; other bodies keep max_body) and are mapped from
 * there.  Field values are decoded, NUL-terminated, arena.
 */
VIAL_API const char *vial_form(vial_req *req, const char *name);
VIAL_API size_t vial_forms(vial_req *req, const char *name, const char **out, size_t max);
VIAL_API int vial_form_at(vial_req *req, size_t i, const char **name, const char **value);
/* NULL, or why the body could not be read as a form (arena). */
VIAL_API const char *vial_form_error(vial_req *req);

/* A file part of a multipart body.  Strings are arena; `filename` is the
 * client's name reduced to its last path component ("" if none was sent). */
typedef struct vial_upload {
    const char *field;        /* the form field's name */
    const char *filename;     /* as sent, last path component only */
    const char *content_type; /* as sent */
    uint64_t size;            /* bytes */
    uint64_t offset;          /* where its bytes start in the request body */
} vial_upload;
/* The first upload of `field`, or NULL.  Arena. */
VIAL_API const vial_upload *vial_upload_get(vial_req *req, const char *field);
/* The i-th upload of the body (any field), or NULL past the last.  Arena. */
VIAL_API const vial_upload *vial_upload_at(vial_req *req, size_t i);
/* Copies an upload to a new file `path` (mode 0644; an existing file is
 * VIAL_EEXIST): kernel to kernel, never through a user buffer. */
VIAL_API int vial_upload_save(vial_req *req, const vial_upload *u, const char *path);
/* Its bytes (borrowed, valid until the response is finished). */
VIAL_API const char *vial_upload_data(vial_req *req, const vial_upload *u);

/* ------------------------------------------------------------------ sessions and CSRF */

/*
 * Sessions: a JSON object per browser, read with vial_session() and saved
 * when the response is finished if it changed.  By default the data lives
 * in the cookie itself, signed (HMAC-SHA256 with a key derived from
 * secret_key) with its expiry inside, so a tampered or expired cookie reads
 * as an empty session.  With session_store = server the cookie holds only a
 * random 256-bit id and the data lives in Redis (when redis_url is set, so
 * every instance behind a load balancer sees it) or else in the database
 * (table vial_sessions, made by the session module's own migration set).
 * Cookies are HttpOnly, SameSite=Lax, Secure when the request came over
 * HTTPS (vial_scheme).  Settings: session_cookie ("session"),
 * session_lifetime ("7d"), session_store ("cookie" or "server").  Needs
 * vial_db_init() for the database store; calls vial_auth_init() and
 * vial_kv_init() itself.
 */
VIAL_API int vial_session_init(vial_app *app);
/* The session object: borrowed, owned by the request (modify it in place).
 * NULL when out of memory or the server-side store is unreachable. */
VIAL_API json_t *vial_session(vial_req *req);
/* Ends the session (logout): its data is dropped and the cookie cleared. */
VIAL_API int vial_session_clear(vial_req *req);
/* Moves the data to a new session id (after a login: no session fixation). */
VIAL_API int vial_session_rotate(vial_req *req);

/*
 * CSRF: vial_csrf_token() returns the session's token (creating it), for a
 * hidden "csrf_token" form field or an X-CSRF-Token header.
 * vial_csrf_protect(bp) refuses POST/PUT/PATCH/DELETE on the blueprint's
 * routes with 403 unless the token matches (constant-time) — except
 * requests authenticated by Authorization or X-API-Key, which a browser
 * does not add on its own.  Arena string / 0 or VIAL_E*.
 */
VIAL_API const char *vial_csrf_token(vial_req *req);
VIAL_API int vial_csrf_protect(vial_bp *bp);

/* ------------------------------------------------------------------ pagination */

/*
 * Keyset pagination for lists ordered by a unique tuple of keys — (time,
 * id), (id), (name, id), (tempo, id): a page is `?limit=N`, the next one
 * `?limit=N&after=CURSOR`, where the cursor holds the keys of the last row
 * shown.  Cursors are opaque to clients (base64url of a compact encoding)
 * and checked when they come back: a tampered or truncated one is a 400 in
 * the common error shape.  Each page that has a successor says so with
 * `Link: </path?other=args&limit=N&after=CURSOR>; rel="next"`, the
 * request's own path and query with only limit and after replaced.
 *
 *     static const vial_page_spec by_id = { .keys = { VIAL_T_INT }, .nkeys = 1,
 *                                           .default_limit = 100, .max_limit = 1000 };
 *     vial_page pg;
 *     if (vial_page_args(req, &by_id, &pg))
 *         return 0;                                   // 400 answered
 *     vial_rows *r = vial_db_query(db, "SELECT id, name FROM t WHERE id > $1 ORDER BY id LIMIT $2",
 *                                  VIAL_ARGS(pg.after[0], VIAL_INT(pg.limit + 1)));
 *     const char *next = NULL;
 *     for (int64_t n = 0; vial_rows_next(r) > 0; n++) {
 *         if (n == pg.limit) {                        // one row more: a next page exists
 *             vial_page_link(req, &pg, next);
 *             break;
 *         }
 *         ... write the row ...
 *         if (n + 1 == pg.limit)
 *             next = vial_page_cursor(req, &pg, (vial_val[]){ VIAL_INT(vial_rows_int(r, 0)) });
 *     }
 */
#define VIAL_PAGE_MAX_KEYS 4
/* A route's pagination, declared once (a static). */
typedef struct vial_page_spec {
    vial_type keys[VIAL_PAGE_MAX_KEYS]; /* VIAL_T_INT, VIAL_T_DOUBLE (not NaN) or VIAL_T_TEXT,
                                           in ORDER BY order */
    size_t nkeys;                       /* 1..VIAL_PAGE_MAX_KEYS */
    int64_t default_limit;              /* without ?limit; 0: none (the list is not paged) */
    int64_t max_limit;                  /* ?limit is accepted from 1 to this */
} vial_page_spec;
/* One request's page.  Text in `after` is Arena memory. */
typedef struct vial_page {
    const vial_page_spec *spec;          /* the spec it was parsed with */
    int64_t limit;                       /* rows on this page; 0: no limit */
    int has_after;                       /* 1 when a cursor was given */
    vial_val after[VIAL_PAGE_MAX_KEYS];  /* continue after these keys; without a
                                            cursor the smallest: INT64_MIN, -inf, "" */
} vial_page;
/* Fills `page` from `limit` and `after` strings (NULL: absent).  Returns 0;
 * VIAL_EPARSE for a bad limit or cursor with the 400 message in *why
 * (Static or Arena); VIAL_EINVAL for a bad spec; VIAL_ENOMEM. */
VIAL_API int vial_page_parse(vial_req *req, const vial_page_spec *spec, const char *limit,
                             const char *after, vial_page *page, const char **why);
/* vial_page_parse() of the request's ?limit and ?after: 0, or the request
 * was answered (400 for a bad limit or cursor) and the result is 1. */
VIAL_API int vial_page_args(vial_req *req, const vial_page_spec *spec, vial_page *page);
/* The cursor for the row whose keys are `keys` (page->spec->nkeys values of
 * the spec's types; text is read during the call only, so call it before
 * the next vial_rows_next()).  Arena; NULL for keys that do not match the
 * spec, text keys over ~2 KiB in all, or when out of memory. */
VIAL_API const char *vial_page_cursor(vial_req *req, const vial_page *page, const vial_val *keys);
/* The request's own path and query (as sent; limit and after dropped) with
 * limit=N (when limit > 0) and after=`cursor` appended.  Arena. */
VIAL_API const char *vial_page_url(vial_req *req, int64_t limit, const char *cursor);
/* Sets `Link: <vial_page_url(req, page->limit, cursor)>; rel="next"`. */
VIAL_API int vial_page_link(vial_req *req, const vial_page *page, const char *cursor);

/* ------------------------------------------------------------------ static files */

/*
 * Serves the files under `dir` (NULL: the static_dir setting, default
 * "static") at `url_prefix` ("/static" when NULL) as the route endpoint
 * "static" (url_for("static", "filename", "css/app.css", NULL)).  GET and
 * HEAD; MIME type by extension; ETag and Last-Modified with If-None-Match /
 * If-Modified-Since → 304; single byte ranges (Range, If-Range) → 206 or
 * 416; Cache-Control from static_cache_control (default "no-cache": always
 * revalidate); bodies over 64 KiB go out with sendfile.  No path can leave
 * the directory: "..", encoded or not, and symlinks pointing out of it are
 * 404s.  One mount per app.
 */
VIAL_API int vial_static(vial_app *app, const char *url_prefix, const char *dir);

/* ------------------------------------------------------------------ templates */

/*
 * Templates: a Jinja2 subset, from the `templates_dir` setting (default
 * "templates") and then from the folders apps and blueprints add with
 * vial_template_folder(), compiled on first use and cached for the life of
 * the app; with --debug a template is recompiled when its file (or one it
 * includes or extends) changes.  Names are paths relative to those
 * directories ("logs/explorer.html"); ".." and absolute names are refused.
 *
 *   {{ expr }}  {% if %}/{% elif %}/{% else %}/{% endif %}
 *   {% for x in xs %} ... {% else %} ... {% endfor %}   (loop.index, loop.index0,
 *       loop.first, loop.last, loop.length; "for k, v in obj|items")
 *   {% set x = expr %}  {% include "name" %}  {% extends "base.html" %}
 *   {% block name %}...{% endblock %}  {{ super() }}  {% raw %}...{% endraw %}
 *   {# comment #}  whitespace control with {%- -%} / {{- -}}
 * Expressions: literals ("s", 'i', 1, 2.5, true, false, none, [..]),
 * variables, a.b, a[expr], filters x|f(args), function calls url_for(...) and
 * static(...), ==, !=, <, <=, >, >=, in, not in, and, or, not, + - * / %,
 * ~ (string concat), ternary "a if cond else b", tests "x is defined",
 * "x is none".
 * Filters: escape (e), safe, default(d) (d), length, upper, lower, title,
 * capitalize, trim, join(sep), first, last, sort, reverse, replace(a, b),
 * truncate(n), int, float, string, round(n), abs, items, keys, tojson,
 * urlencode, date(format) (an RFC 3339 string or epoch seconds, strftime
 * format in UTC), plus those added with vial_template_filter().
 * Globals: url_for(endpoint, key=value...) → vial_url_for; static(path) →
 * the URL of a static file; request (method, path, endpoint, args).
 *
 * Output is HTML-escaped by default in .html/.htm/.xml/.svg templates (XSS safe:
 * & < > " ' are escaped); `|safe` opts out.  Undefined variables render as
 * empty (and are falsy); attribute access on undefined is undefined, not an
 * error.  Errors (syntax, unknown filter, bad include) name the file, line
 * and column.
 *
 * The context is a jansson object (a value built with json_pack(), a row set
 * converted with vial_rows_json(), a parsed body ...); it is borrowed.
 */

/* Renders `name` with `ctx` as the response: text/html; charset=utf-8 (or
 * text/plain for other extensions).  A template error becomes a 500 with
 * the error logged (and shown, in debug mode).  Returns like vial_text(). */
VIAL_API int vial_render(vial_req *req, int status, const char *name, json_t *ctx);
/* As vial_render(), stealing `ctx` (NULL → 500). */
VIAL_API int vial_render_take(vial_req *req, int status, const char *name, json_t *ctx);
/*
 * Renders outside a response (or outside any request, with req == NULL:
 * url_for is then unavailable).  Returns 0 and a malloc'd NUL-terminated
 * string in *out (caller frees), or a VIAL_E* code with a message such as
 * "logs/x.html:12:7: unknown filter 'uper'" in `err`.
 */
VIAL_API int vial_template_render_malloc(vial_app *app, vial_req *req, const char *name, json_t *ctx,
                                  char **out, size_t *len, char *err, size_t errlen);
/* The same for template source given as a string (named `name` in errors);
 * includes/extends still resolve against templates_dir. */
VIAL_API int vial_template_render_string_malloc(vial_app *app, vial_req *req, const char *name,
                                         const char *src, json_t *ctx, char **out, size_t *len,
                                         char *err, size_t errlen);
/*
 * Adds `dir` (copied; relative to the working directory unless absolute) to
 * the places templates are looked up (Flask's Blueprint(template_folder=)):
 * a blueprint ships its pages in its own folder, and the app can still
 * override one with a file of the same name in templates_dir.  Lookups try
 * templates_dir, then the app's folders, then each blueprint's, blueprints
 * in the order they were registered (depth first), folders in the order
 * they were added.  The blueprint need not be registered yet; adding a
 * folder twice is a no-op.  Call before vial_run() serves (a vial_on_start()
 * hook may, to use a setting): VIAL_ESTATE after.
 */
VIAL_API int vial_bp_template_folder(vial_bp *bp, const char *dir);
#define vial_template_folder(x, dir) vial_bp_template_folder(VIAL_BP(x), (dir))
/*
 * Adds a filter: `fn(value, args)` returns a new reference, or NULL with
 * *error set to a static message (the render fails with it).  `value` and
 * `args` (an array, possibly empty) are borrowed.  Call before vial_run().
 */
typedef json_t *(*vial_filter_fn)(json_t *value, json_t *args, const char **error);
VIAL_API int vial_template_filter(vial_app *app, const char *name, vial_filter_fn fn);
/* Rows as a jansson array of objects (NULL → null), consuming what is left
 * of `r`.  New reference, NULL on error. */
VIAL_API json_t *vial_rows_json(vial_rows *r);

/* ------------------------------------------------------------------ auth */

/* Bytes from the operating system's CSPRNG (libsodium).  Returns 0. */
VIAL_API int vial_random(void *buf, size_t n);
/* 1 if the n bytes are equal, 0 if not, in time that does not depend on
 * where they differ. */
VIAL_API int vial_equal_ct(const void *a, const void *b, size_t n);

/*
 * Passwords are hashed with argon2id (libsodium), a fresh salt each time,
 * the parameters inside the encoded result ("$argon2id$v=19$m=65536,t=2,
 * p=1$...$..."), so they can be raised later (password_opslimit,
 * password_memlimit) and still verify; other argon2 libraries verify these
 * strings too.  A hash is at most VIAL_PASSWORD_HASH_MAX bytes with its NUL.
 */
#define VIAL_PASSWORD_HASH_MAX 128
VIAL_API int vial_password_hash(vial_app *app, const char *password,
                                char out[VIAL_PASSWORD_HASH_MAX]);
/* 1 when `password` matches `hash`, 0 when not (a malformed hash also
 * gives 0), negative on failure (out of memory). */
VIAL_API int vial_password_verify(const char *hash, const char *password);
/* 1 when `hash` was made with other parameters than the configured ones:
 * re-hash the password after a successful login. */
VIAL_API int vial_password_needs_rehash(vial_app *app, const char *hash);

/*
 * JSON Web Tokens, HS256 only, signed with the `secret_key` setting (env
 * SECRET_KEY, at least 32 bytes).  Without one the app refuses to start,
 * except with --debug, which uses a random per-process key.
 * vial_jwt_issue_malloc() adds "iat" and "exp" (now + ttl_s) to a copy of
 * `claims` (borrowed) and returns a malloc'd token in *token.
 * vial_jwt_verify() accepts only {"alg":"HS256"} (never "none" or another
 * algorithm), checks the signature in constant time and "exp"/"nbf" with
 * the jwt_leeway setting (default 30s); it returns 0 and the claims (a new
 * reference) or VIAL_EINVAL with a static reason in *why.
 */
VIAL_API int vial_jwt_issue_malloc(vial_app *app, json_t *claims, int64_t ttl_s, char **token);
VIAL_API int vial_jwt_verify(vial_app *app, const char *token, json_t **claims, const char **why);

/*
 * Who is calling.  The auth module reads "Authorization: Bearer <JWT>" or
 * "X-API-Key: <key>" and asks the app (vial_auth_ops) to turn the token's
 * claims or the key into an identity, so a deleted user's token or a
 * revoked key stops working at once.  Strings point into the request arena.
 */
typedef struct vial_identity {
    int64_t user_id;     /* the app's id of the user (also for an API key) */
    const char *subject; /* the token's "sub", or "key:<id>" */
    const char *role;    /* "admin", "user", or an app's own */
    const char *via;     /* "token" or "api_key" */
    int64_t key_id;      /* for "api_key" */
} vial_identity;

/* How the app turns credentials into an identity (vial_auth_init). */
typedef struct vial_auth_ops {
    /* A token whose signature and expiry checked out: fill `id` from its
     * claims (borrowed) and the app's records.  Return 0, VIAL_ENOENT when
     * the user no longer exists (401), or another error (503). */
    int (*from_token)(vial_req *req, json_t *claims, vial_identity *id);
    /* An X-API-Key value: 0 and `id` filled, VIAL_ENOENT when unknown or
     * revoked (401), another error (503). */
    int (*from_api_key)(vial_req *req, const char *key, vial_identity *id);
} vial_auth_ops;

/* Sets up the auth module: settings secret_key, jwt_leeway, jwt_ttl,
 * password_opslimit, password_memlimit; `ops` is borrowed (static) and may
 * be NULL for apps that only sign and verify tokens. */
VIAL_API int vial_auth_init(vial_app *app, const vial_auth_ops *ops);
/* The caller's identity (authenticated on first call), or NULL: none sent,
 * or not valid (vial_auth_error() says why).  Arena. */
VIAL_API const vial_identity *vial_auth(vial_req *req);
/* NULL, or why the credentials sent were refused ("token expired").
 * Static. */
VIAL_API const char *vial_auth_error(vial_req *req);
/*
 * 0 when the request carries a valid identity whose role is one of `roles`
 * ("admin,editor"; NULL: any role).  Otherwise the request is answered —
 * 401 with WWW-Authenticate: Bearer, or 403 for the wrong role — and the
 * result is non-zero: `if (vial_auth_require(req, "admin")) return 0;`
 */
VIAL_API int vial_auth_require(vial_req *req, const char *roles);
/* The same check on every route of `bp` (a before-hook).  `roles` is copied. */
VIAL_API int vial_auth_guard(vial_bp *bp, const char *roles);

/* ------------------------------------------------------------------ shared state and rate limits */

/*
 * Counters, values and token buckets with expiry, shared by every worker of
 * the process — or, with the redis_url setting (env REDIS_URL), by every
 * instance using that Redis.  vial_kv_init() declares redis_url (call it
 * before vial_run(); vial_auth_init() and the session module call it too).
 * Keys are strings; values are bytes.  Calls return 0 or a VIAL_E* code
 * (VIAL_EDBDOWN while Redis is unreachable).
 */
VIAL_API int vial_kv_init(vial_app *app);
/* Adds `by` to a counter and returns the new value in *value; the first add
 * starts its `ttl_ms` (0: none): a fixed window.  A key is one thing, as in
 * Redis: a counter reads (vial_kv_get) as its decimal text, a value that is
 * such a text counts on, and any other value, a token bucket or an int64
 * overflow is VIAL_EDB. */
VIAL_API int vial_kv_incr(vial_req *req, const char *key, int64_t by, int64_t ttl_ms, int64_t *value);
/* 0 and the value in *value (an Arena copy, NUL-terminated; `len` may be
 * NULL), or VIAL_ENOENT. */
VIAL_API int vial_kv_get(vial_req *req, const char *key, const char **value, size_t *len);
/* Stores a copy of `value` for `ttl_ms` (0: no expiry). */
VIAL_API int vial_kv_set(vial_req *req, const char *key, const void *value, size_t len, int64_t ttl_ms);
VIAL_API int vial_kv_del(vial_req *req, const char *key);
/* Takes one token from the bucket `key` (capacity `burst`, refilled at
 * `per_minute`): 1 taken, 0 empty (*retry_after_ms says when one will be
 * there), negative on failure. */
VIAL_API int vial_kv_take(vial_req *req, const char *key, double per_minute, double burst,
                          int64_t *retry_after_ms);
/* "memory" or "redis" (NULL before vial_kv_init).  Static. */
VIAL_API const char *vial_kv_backend(vial_app *app);

/*
 * A rate limit: `burst` requests at once, `per_minute` sustained, counted
 * per client address (VIAL_LIMIT_IP), per caller identity — user or API
 * key, falling back to the address when anonymous (VIAL_LIMIT_USER), or
 * both.  Over the limit a request gets 429 with Retry-After.  `name`
 * separates limits that count the same callers.
 */
typedef struct vial_limit {
    const char *name;  /* "login": keeps its counts apart from other limits' */
    double per_minute; /* sustained rate */
    double burst;      /* requests allowed at once */
    unsigned by;       /* VIAL_LIMIT_IP, VIAL_LIMIT_USER or both */
} vial_limit;
enum { VIAL_LIMIT_IP = 1u << 0, VIAL_LIMIT_USER = 1u << 1 };
/* 0 within the limit; otherwise answers 429 and returns non-zero (like
 * vial_auth_require).  If the store is unreachable the request passes: a
 * limiter must not take the service down with it. */
VIAL_API int vial_ratelimit(vial_req *req, const vial_limit *lim);
/* The limit on every route of `bp` (a before-hook); `lim` is borrowed and
 * must outlive the app (a static). */
VIAL_API int vial_ratelimit_guard(vial_bp *bp, const vial_limit *lim);

/*
 * Login protection: a doubling wait instead of a lock-out.  Failures are
 * counted per key (an account, an address) in the shared store; once a key
 * has `free_failures` of them, each further attempt must wait 1 s, 2 s,
 * 4 s ... (at most `max_wait_s`) after its last failure.  Failures are
 * forgotten `window_ms` after the first.  The store being unreachable lets
 * everyone through (logged), as with vial_ratelimit.
 *
 *     static const vial_backoff per_account = { "login:user", 5, 0, 0 };
 *     int64_t wait = vial_backoff_check(req, &per_account, name);
 *     if (wait > 0) ... 429 with Retry-After: wait ...
 *     if (bad password) vial_backoff_fail(req, &per_account, name);
 *     else vial_backoff_clear(req, &per_account, name);
 */
typedef struct vial_backoff {
    const char *name;       /* separates uses of the store: "login:user" */
    int64_t free_failures;  /* failures before the first wait (0: 1) */
    int64_t max_wait_s;     /* the longest wait (0: 900 s) */
    int64_t window_ms;      /* how long failures count (0: a day) */
} vial_backoff;
/* Seconds `key` must still wait before another attempt (Retry-After), 0
 * when it may go ahead; VIAL_EINVAL for a missing argument or a key too
 * long to store. */
VIAL_API int64_t vial_backoff_check(vial_req *req, const vial_backoff *b, const char *key);
/* Counts a failed attempt for `key` (0 or VIAL_E*). */
VIAL_API int vial_backoff_fail(vial_req *req, const vial_backoff *b, const char *key);
/* Forgets `key`'s failures, after a success (0 or VIAL_E*). */
VIAL_API int vial_backoff_clear(vial_req *req, const vial_backoff *b, const char *key);

/* ------------------------------------------------------------------ time */

/*
 * An instant with the UTC offset it was written with, so it can be shown
 * again exactly as sent: RFC 3339 in, RFC 3339 out.
 */
typedef struct vial_time {
    int64_t us;        /* microseconds since 1970-01-01T00:00:00Z */
    int32_t offset_s;  /* the offset it was given in, seconds east of UTC */
} vial_time;

/*
 * Parses RFC 3339 ("2018-10-18T21:37:28-06:00", fractions up to
 * microseconds, 'Z', lower-case 't'/'z' and a space separator accepted).
 * Without an offset it is refused unless `default_offset_s` is not
 * INT32_MIN.  Returns 0 or VIAL_EPARSE.
 */
VIAL_API int vial_time_parse(const char *s, size_t n, int32_t default_offset_s, vial_time *out);
/* The current time (the system clock, to the microsecond) in UTC. */
VIAL_API vial_time vial_time_now(void);
/* Formats as RFC 3339 in the original offset, with microseconds only when
 * non-zero ("2018-10-18T21:37:28.120000-06:00").  `out` needs 33 bytes.
 * Returns the length. */
VIAL_API size_t vial_time_format(vial_time t, char *out);

/* ------------------------------------------------------------------ metrics */

/*
 * Prometheus metrics.  Every app keeps, per route pattern as registered
 * (never the raw path), http_requests_total{method,route,code} and
 * http_request_duration_seconds{route}, plus requests in flight, open
 * connections, bytes in and out, process_* and vial_build_info, and serves
 * them at metrics_path (GET /metrics, text format 0.0.4) to loopback and the
 * metrics_allow networks (403 to anyone else).  Values are kept per worker
 * without locks and summed when scraped.  Settings: metrics (on),
 * metrics_path, metrics_allow.
 *
 * An app adds its own: declare before vial_run() (names [a-zA-Z_:]
 * [a-zA-Z0-9_:]*, counters ending in _total, units in the name: _seconds,
 * _bytes), then record from views.  A recording with `req` goes to the
 * request's worker without a lock; with req == NULL (a command, a
 * background thread) to a shared slot under a lock.
 */
typedef struct vial_metric vial_metric;
/* A counter, gauge or histogram with the label names `labels`
 * (NULL-terminated, or NULL), Owned by the app (never freed by the
 * caller); NULL on a bad or duplicate name (also remembered: vial_run()
 * refuses to start).  Histogram `bounds` are ascending upper bounds (NULL:
 * latency buckets from 0.5 ms to 10 s). */
VIAL_API vial_metric *vial_counter(vial_app *app, const char *name, const char *help,
                                   const char *const *labels);
/* A gauge: see vial_counter (Owned by the app). */
VIAL_API vial_metric *vial_gauge(vial_app *app, const char *name, const char *help,
                                 const char *const *labels);
/* A histogram: see vial_counter (Owned by the app). */
VIAL_API vial_metric *vial_histogram(vial_app *app, const char *name, const char *help,
                                     const char *const *labels, const double *bounds,
                                     size_t nbounds);
/* Adds `v` to a counter (v >= 0) or gauge (any sign), or observes `v` in a
 * histogram, for the label values `values` (one per label, in order;
 * NULL without labels).  With labels each call finds its series under a
 * short lock; a hot path keeps vial_metric_series() instead. */
VIAL_API int vial_metric_add(vial_app *app, vial_req *req, vial_metric *m, const char *const *values,
                             double v);
/* The series of `values`, made on first use: a handle (>= 0) to record
 * with vial_metric_add_series() without any lock, or a VIAL_E* code. */
VIAL_API int64_t vial_metric_series(vial_app *app, vial_metric *m, const char *const *values);
VIAL_API int vial_metric_add_series(vial_app *app, vial_req *req, vial_metric *m, int64_t series,
                                    double v);

/* ------------------------------------------------------------------ health */

/*
 * Probes.  GET /healthz answers 200 {"status":"ok"} while the process
 * serves; GET /readyz 200 {"status":"ready","checks":{...}} when every
 * readiness check passes, else 503 with the common error shape, the failing
 * check's reason, "status" ("unavailable" or "draining") and "checks".
 * Settings: health_checks (on), healthz_path, readyz_path.  The database
 * module adds the check "database", the kv module "redis" (when redis_url
 * is set).
 *
 * A check runs on the probe's worker thread: 0 when what it checks
 * answers, else a VIAL_E* code and a short reason written to `why` (NUL-
 * terminated, at most `whylen` bytes).  It must answer quickly (a
 * connection timeout, not a retry loop).
 */
typedef int (*vial_ready_fn)(vial_req *req, void *ud, char *why, size_t whylen);
/* Adds a readiness check named `name` (copied) before vial_run();
 * VIAL_EEXIST for a name already added.  `ud` is borrowed. */
VIAL_API int vial_ready_check(vial_app *app, const char *name, vial_ready_fn fn, void *ud);

/* ------------------------------------------------------------------ logging */

enum { VIAL_LOG_DEBUG = 0, VIAL_LOG_INFO, VIAL_LOG_WARN, VIAL_LOG_ERROR };
/* Writes one line to stderr when `level` is at or above log_level. */
VIAL_API void vial_log(int level, const char *fmt, ...) VIAL_PRINTF(2, 3);
/* As vial_log(), tagged with the request's id. */
VIAL_API void vial_req_log(vial_req *req, int level, const char *fmt, ...) VIAL_PRINTF(3, 4);

/* ------------------------------------------------------------------ test client */

/*
 * Flask's test_client: runs a request through the app in the calling
 * thread, parsing, routing and rendering exactly as the server does, with
 * no sockets.  `headers` is "Name: value\r\n..." or NULL; `body` may be
 * NULL.  Returns a response Owned by the caller (free it with
 * vial_test_free()), or NULL when out of memory.  A streamed response is
 * run to its end.
 */
VIAL_API VIAL_NODISCARD vial_test_resp *vial_test(vial_app *app, const char *method,
                                                  const char *target, const char *headers,
                                                  const void *body, size_t body_len);
/* Feeds raw bytes as if read from one connection (pipelining included);
 * everything the server wrote is in vial_test_output().  A 101 switches
 * protocols as a server connection does (a WebSocket handshake followed by
 * frames runs them through the WebSocket); the response's body is then
 * what the new protocol wrote.  Owned by the caller, as vial_test(). */
VIAL_API VIAL_NODISCARD vial_test_resp *vial_test_raw(vial_app *app, const void *bytes,
                                                      size_t len);
VIAL_API int vial_test_status(const vial_test_resp *r);
/* A header of the first response (case-insensitive), or NULL.  Owned by r. */
VIAL_API const char *vial_test_header(const vial_test_resp *r, const char *name);
/* The decoded body of the first response (chunks joined), NUL-terminated.
 * Owned by r. */
VIAL_API const char *vial_test_body(const vial_test_resp *r, size_t *len);
/* Everything written on the connection.  Owned by r. */
VIAL_API const char *vial_test_output(const vial_test_resp *r, size_t *len);
VIAL_API void vial_test_free(vial_test_resp *r);

#ifdef __cplusplus
}
#endif
#endif /* VIAL_H */

/*
 * http.h — what the wire-protocol module offers the others: the exchange a
 * protocol hands up (vial__msg: one request and the response it gets), the
 * handler the app registers to answer it, and HTTP/1.1 as a vial__proto.
 *
 * The protocol layer never calls the app: it asks the vial__handler it was
 * given for a fresh exchange, fills in the request, calls handler->request,
 * and serializes whatever response the handler left in the exchange.  An
 * exchange is its own object, not part of the session, so a protocol that
 * multiplexes (HTTP/2) can hold many at once; HTTP/1.1 holds one at a time,
 * which is what keeps pipelined responses in order.
 */
#ifndef VIAL_HTTP_H
#define VIAL_HTTP_H

#include "../loop/loop.h"

/* ------------------------------------------------------------------ methods, statuses, dates (status.c) */

/* Method name → its VIAL_GET... bit (0 for a method vial has no bit for). */
unsigned vial__method_bit(const char *m, size_t n);
/* VIAL_GET... bit → "GET"...; NULL for anything else. */
const char *vial__method_name(unsigned bit);
/* The current HTTP Date header value (29 characters; cached per second,
 * per thread). */
const char *vial__http_date(void);
/* True for statuses whose responses carry no body (1xx, 204, 304). */
static inline bool vial__status_bodyless(int status)
{
    return status < 200 || status == 204 || status == 304;
}

/* ------------------------------------------------------------------ the exchange */

/* A request header: slices of the protocol's read buffer, NUL-terminated
 * in place, valid until the exchange is freed. */
typedef struct vial__hdr {
    vial__str name, value;
} vial__hdr;

/* A response header (arena or static strings). */
typedef struct vial__rhdr {
    const char *name, *value;
    struct vial__rhdr *next;
} vial__rhdr;

#define VIAL__MSG_XH 6 /* room for the app's own headers in an exchange */

/*
 * One request and its response.  The handler allocates it (msg_new), with
 * `arena`, `body_out` and `file_fd`/`body_fd` (-1) set up; the protocol
 * fills the request part, the handler the response part, the protocol
 * serializes it and gives it back (msg_free).
 */
typedef struct vial__msg {
    vial__arena arena;          /* everything the exchange allocates */
    /* ---- request, set by the protocol */
    const char *method;         /* NULL: the request line was unusable */
    unsigned method_bit;
    vial__str target;           /* as sent, NUL-terminated */
    vial__str path_raw, query_raw;
    uint8_t http_minor;
    bool keep_alive;            /* the client allows another request (the handler may clear it) */
    bool head;                  /* HEAD: the body is dropped, its length kept */
    vial__hdr *hdrs;
    size_t nhdrs;
    uint32_t reqid_hdr;         /* 1 + index of the X-Request-Id header, 0: none */
    const char *body;           /* the body in memory (NUL-terminated), or NULL */
    size_t body_len;
    int body_fd;                /* or: a body spooled to a temporary file (owned by the exchange) */
    const char *client;         /* the peer's address */
    uint64_t conn_id;           /* the connection's id on its worker (vial__conn_find), 0: none */
    /* ---- response, set by the handler */
    int status;
    bool responded, streaming;
    const char *ctype;          /* Content-Type, or NULL */
    vial__rhdr *rh, **rh_tail;  /* the handler's other headers, in order */
    vial__buf body_out;         /* the body (or a stream's next chunk) */
    const void *static_body;    /* or: a body borrowed until the exchange is freed */
    size_t static_len;
    int file_fd;                /* or: a file region, sent with sendfile (owned) */
    uint64_t file_off;
    size_t file_len;
    /* After a 101: the protocol that takes the connection over. */
    const vial__proto *upgrade_proto;
    void *upgrade_ud;
    /* ---- kept by the protocol */
    bool stream_head_sent, stream_done;
    uint64_t bytes_out;         /* written for this response, head included */
    /* Headers the app adds to every response (request id, security
     * defaults), written before the handler's: lengths known, nothing
     * copied, nothing allocated.  Last, so that resetting an exchange can
     * skip the array (only nxh matters). */
    uint8_t nxh;
    struct {
        vial__str name, value;
    } xh[VIAL__MSG_XH];
} vial__msg;

/*
 * How a protocol reaches the app; `ud` is the handler's (core: the worker).
 * All calls come on the connection's thread.
 */
typedef struct vial__handler {
    /* A fresh exchange, or NULL when out of memory. */
    vial__msg *(*msg_new)(void *ud);
    /* The exchange is finished: run its clean-ups and take it back. */
    void (*msg_free)(void *ud, vial__msg *m);
    /* A complete request: leave a response (or a stream, or a 101 with
     * upgrade_proto set) in `m`. */
    void (*request)(void *ud, vial__msg *m);
    /* A request the protocol refused (malformed, over a limit, timed out):
     * render `status` with `why` into `m`. */
    void (*error)(void *ud, vial__msg *m, int status, const char *why);
    /* The next part of a streamed body, appended to m->body_out: 1 more to
     * come, VIAL__STREAM_WAIT nothing now (call again after vial__h1_wake()
     * or at the next tick), 0 the body is complete, < 0 failed (the
     * connection is cut). */
    int (*stream)(void *ud, vial__msg *m);
    /* The response is queued (the access log). */
    void (*done)(void *ud, vial__msg *m);
} vial__handler;

/* ------------------------------------------------------------------ HTTP/1.1 (h1.c, h1_write.c) */

/* Limits of one session, read from the configuration once at start. */
typedef struct vial__h1_cfg {
    uint64_t max_body;
    uint64_t max_upload;        /* multipart bodies, which go to a temporary file */
    const char *upload_dir;
    size_t max_header_bytes, max_headers, max_uri;
    size_t max_pending_output;  /* stop reading past this much unsent output */
} vial__h1_cfg;

#define VIAL__STREAM_WAIT 2

/* HTTP/1.1 as a protocol on a connection; its state from vial__h1_new(). */
extern const vial__proto vial__h1_proto;
/* A stream of this session waits (VIAL__STREAM_WAIT): call it again now.
 * On the connection's thread (a cross-thread post finds the session with
 * vial__conn_find() and vial__conn_proto()).  Nothing when none waits. */
void vial__h1_wake(void *session);

/* A session for a new connection from `client` (borrowed, outlives it);
 * `cfg`, `h` are borrowed for its life.  NULL when out of memory. */
void *vial__h1_new(const vial__h1_cfg *cfg, const vial__handler *h, void *hud, vial__pool *pool,
                   const char *client);

/* Serializes the response of `m` (status line, headers, body) into `out`.
 * `last`: say "Connection: close" (m->keep_alive is cleared too). */
int vial__h1_write(vial__msg *m, vial__outq *out, bool last);
/* Frames what a stream wrote into m->body_out as one chunk (the head
 * first, on the first call; "Connection: close" unless m->keep_alive). */
int vial__h1_chunk(vial__msg *m, vial__outq *out);
/* The last chunk of a stream. */
int vial__h1_end(vial__msg *m, vial__outq *out);

#endif /* VIAL_HTTP_H */

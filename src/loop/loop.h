/*
 * loop.h — what the loop module offers the others: the server (listening
 * sockets, worker threads, signals, graceful stop), connections as a
 * protocol sees them, and cross-thread posts.
 *
 * The loop moves bytes and knows no protocol.  Whatever speaks on a
 * connection is a vial__proto: HTTP/1.1 (src/http) from the first byte,
 * another one (WebSocket, src/rt) after an upgrade.  The protocol appends
 * its output to the connection's queue and calls the vial__transport the
 * connection gave it; the connection writes the queue, runs the timeouts
 * of the phase the protocol is in, and calls the protocol back.  The test
 * client (src/core/testclient.c) is a second transport, in memory, so a
 * protocol runs the same code with and without sockets.
 *
 * Threads: everything here runs on the worker thread that owns the
 * connection, except vial__post(), which any
 * thread may call.
 */
#ifndef VIAL_LOOP_H
#define VIAL_LOOP_H

#include "../ops/ops.h"

typedef struct vial__conn vial__conn;
typedef struct vial__server vial__server;
struct vial__proto;

/* The phase a protocol is in; the connection arms that phase's timeout. */
enum vial__phase {
    VIAL__PH_IDLE,    /* between requests: idle_timeout */
    VIAL__PH_HEADERS, /* reading a request head: header_timeout, absolute */
    VIAL__PH_BODY,    /* reading a body: body_timeout, per read */
    VIAL__PH_HANDLER, /* running a handler: no timeout */
    VIAL__PH_WRITE,   /* waiting for the client to read (a stream): write_timeout */
    VIAL__PH_CLOSING, /* finishing: no timeout */
    VIAL__PH_OPEN,    /* a long-lived protocol (WebSocket): timeout() every tick_ms, which it
                         uses for its own liveness checks (pings, idle); the connection stays */
    VIAL__PH_WAIT,    /* a response waiting for events (a parked stream, SSE): ticks as OPEN */
};

/*
 * What carries a protocol's bytes.  `tp_ud` is the transport's own pointer,
 * given to the protocol in attach(); for a server connection it is the
 * vial__conn.
 */
typedef struct vial__transport {
    /* New output is in the queue: write it soon (this loop turn). */
    void (*want_write)(void *tp_ud);
    /* Close once everything queued is written (`now`: at once, dropping it). */
    void (*want_close)(void *tp_ud, bool now);
    /* The protocol entered `phase` (enum vial__phase). */
    void (*phase)(void *tp_ud, int phase);
    /*
     * Once everything queued is written (a 101 response), the connection
     * belongs to `proto` with `ud`; `rest` holds bytes already read that
     * belong to it (copied).  The current protocol gets close() first.
     * Returns 0, or non-zero when this transport cannot switch: the caller
     * then closes, and `proto->close(ud)` has been called so `ud` never
     * leaks.
     */
    int (*upgrade)(void *tp_ud, const struct vial__proto *proto, void *ud, const char *rest,
                   size_t n);
    /* True once the server is stopping: answer this request with
     * "Connection: close" (a relaxed read; any thread may have asked). */
    bool (*stopping)(void *tp_ud);
    /* The connection's id for vial__conn_find() on its worker (0: the
     * transport has none, e.g. the in-process test client). */
    uint64_t (*id)(void *tp_ud);
} vial__transport;

/*
 * A protocol speaking on a connection.  The connection calls these on its
 * own thread, never re-entrantly, and close() exactly once, last.  Only
 * attach, received and close are required.
 */
typedef struct vial__proto {
    /* The protocol takes the connection: output goes to `out`, requests
     * for writing, closing and switching to `tp`. */
    void (*attach)(void *ud, const vial__transport *tp, void *tp_ud, vial__outq *out);
    /* Room to read into, at least `min` bytes at *buf (*room bytes in
     * all); non-zero: nothing to offer (reads then land in a scratch
     * buffer and received() gets a pointer into it).  Lets HTTP/1.1 read
     * straight into its parse buffer. */
    int (*rbuf)(void *ud, size_t min, char **buf, size_t *room);
    /* `n` bytes arrived at `data`: in the buffer rbuf() gave, or elsewhere
     * (copy what must be kept). */
    void (*received)(void *ud, const char *data, size_t n);
    /* The peer half-closed (EOF).  NULL: close. */
    void (*eof)(void *ud);
    /* Everything queued has been written: produce more (streams), or
     * resume.  NULL: nothing to do. */
    void (*drained)(void *ud);
    /* The timeout of the current phase fired.  NULL: close. */
    void (*timeout)(void *ud);
    /* The connection is idle: give back buffers.  NULL: nothing. */
    void (*idle)(void *ud);
    /* The server is stopping: finish what is in progress, then close.
     * Returns true when nothing is in progress (the connection closes at
     * once).  NULL: close at once. */
    bool (*drain)(void *ud);
    /* False while reading more would only pile up (`unsent`: bytes the
     * connection has not written yet).  NULL: unsent < max_pending_output. */
    bool (*wants_read)(void *ud, size_t unsent);
    /* Last call: free `ud`. */
    void (*close)(void *ud);
} vial__proto;

/* ------------------------------------------------------------------ the server (loop.c) */

typedef struct vial__loop_cfg {
    const char *name; /* for the log: "<name>: listening on ..." */
    const char *host;
    int64_t port;     /* 0: any free port */
    /* A second, admin port (metrics, probes) on host, 0: none.  Bound by
     * each process itself with SO_REUSEPORT (a reload's generations
     * overlap on it); under a supervisor process i takes admin_port + i. */
    int64_t admin_port;
    int64_t workers;  /* 0: one per core */
    int backlog;
    bool debug;       /* shown in the listening line */
    uint64_t idle_timeout_ms, header_timeout_ms, body_timeout_ms, write_timeout_ms;
    uint64_t shutdown_timeout_ms;
    uint64_t drain_delay_ms; /* a stop serves on this long, announced, before it drains */
    uint64_t tick_ms;  /* how often long-lived protocols are called back (0: 5 s) */
    size_t max_pending_output;
    /* The process: the binary and arguments a reload or a supervisor
     * starts again (argv NULL-terminated), the pid file, how long a new
     * generation may take to listen, and (supervisor) how long a worker
     * may go without its loop turning before it is aborted (0: never). */
    const char *exe;
    char **argv;
    const char *pid_file;
    uint64_t reload_timeout_ms, hang_timeout_ms;
    /* What the loop records (NULL: nothing): open connections, bytes in/out. */
    vial__metrics *metrics;
    vial__mfamily *m_conns, *m_bytes_in, *m_bytes_out;
    int64_t m_conns_s, m_bytes_in_s, m_bytes_out_s;
} vial__loop_cfg;

/* What runs on top of the loop, called on each worker's thread. */
typedef struct vial__loop_ops {
    /* Before the worker accepts (on the main thread, before the worker's
     * own starts): its state for the layers above, or NULL to stop the
     * start.  `pool` is the worker's block pool: every buffer of its
     * connections and requests comes from it (one thread only). */
    void *(*worker_start)(void *ud, int worker_id, vial__pool *pool);
    /* After its last connection closed. */
    void (*worker_stop)(void *ud, void *wstate);
    /* A new connection from `client` (an address string that lives as long
     * as the connection), on the main port or (`admin`) the admin port: the
     * protocol that speaks first, and its state in *pud; NULL refuses it
     * (closed at once). */
    const vial__proto *(*accept)(void *wstate, const char *client, bool admin, void **pud);
    /* Once per loop turn, before the loop waits (optional). */
    void (*turn)(void *wstate);
} vial__loop_ops;

/* Serves until SIGINT/SIGTERM (a second one forces), then drains.  Sets
 * *srv while serving (NULL again before it returns).  Returns a process
 * exit status: 0 clean stop, 1 start-up failure (logged). */
int vial__loop_serve(const vial__loop_cfg *cfg, const vial__loop_ops *ops, void *ud,
                     vial__server **srv);
/* True once the server drains (a stop or a reload began); any thread. */
bool vial__server_stopping(const vial__server *srv);

/* ------------------------------------------------------------------ the process (proc.c, supervise.c) */

/*
 * Signals of a server: SIGTERM/SIGINT drain and stop (again: at once),
 * SIGHUP reloads (a new generation from the binary on disk takes the
 * listening sockets; this one drains once it listens), SIGUSR1 reopens the
 * log file.  Under systemd it notifies READY, RELOADING, STOPPING and
 * WATCHDOG, and takes its sockets from socket activation.
 */

/* What a worker thread is serving, for the crash report (the strings must
 * live until the next call); NULL: nothing. */
typedef struct vial__serving {
    const char *reqid, *method, *target;
    size_t target_len;
} vial__serving;
void vial__proc_serving(const vial__serving *s);
/* An sd_notify() state (NOTIFY_SOCKET set), e.g. "READY=1". */
void vial__notify(const char *fmt, ...) VIAL_PRINTF(1, 2);
/* Runs `nproc` server processes from cfg->exe and cfg->argv on sockets
 * it owns; replaces one that dies, reloads them all on SIGHUP, forwards
 * SIGTERM/SIGINT/SIGUSR1.  `workers` is each process's thread count.
 * Returns the exit status. */
int vial__supervise(const vial__loop_cfg *cfg, int nproc, int workers);
/* True in a process a supervisor started (VIAL_SUPERVISED). */
bool vial__supervised_env(void);

/* ------------------------------------------------------------------ connections (conn.c) */

/* A connection's id: slot (low 32 bits) and generation (22 bits above), so
 * a stale id finds nothing instead of a reused slot.  The top 10 bits are
 * 0: the layers above put the worker there for ids that cross threads. */
#define VIAL__CONN_GEN_MASK 0x3fffffu
uint64_t vial__conn_id(const vial__conn *c);
/* The worker the connection lives on. */
int vial__conn_worker(const vial__conn *c);
/* On the calling worker's thread: the connection with `id`, or NULL when it
 * has gone (or lives on another worker). */
vial__conn *vial__conn_find(uint64_t id);
/* Queues bytes on a connection (its own thread only) and writes them soon.
 * VIAL_ECLOSED once it is closing. */
int vial__conn_send(vial__conn *c, const void *data, size_t len);
/* Closes after writing what is queued (lingering close). */
void vial__conn_close(vial__conn *c);
/* Closes now, dropping what is queued (a client that stopped reading while
 * a stream's events pile up); the protocol's close() follows. */
void vial__conn_abort(vial__conn *c);
/* The state of the protocol speaking on `c` when that protocol is `p`
 * (vial__h1_proto, a WebSocket's), else NULL: how a cross-thread post that
 * found a connection by id reaches the protocol object behind it. */
void *vial__conn_proto(vial__conn *c, const vial__proto *p);

/* ------------------------------------------------------------------ cross-thread posts (loop.c) */

/* Runs `fn(arg)` on worker `worker`'s thread soon.  Safe from any thread.
 * Returns VIAL_ENOMEM (nothing queued) or VIAL_EINVAL (no such worker). */
int vial__post(vial__server *srv, int worker, void (*fn)(void *arg), void *arg);
/* For a thread that is not a worker: the server *where points to, held
 * (it cannot finish stopping, and its workers' inboxes stay valid) until
 * vial__server_release(); NULL when none serves (release all the same).
 * The loop clears *where under the same lock before it tears down. */
vial__server *vial__server_hold(vial__server *const *where);
void vial__server_release(void);
/* The number of workers serving. */
int vial__server_workers(const vial__server *srv);

#endif /* VIAL_LOOP_H */

/*
 * loop_impl.h — private to the loop module (loop.c, conn.c): the libuv
 * structures behind vial__server and vial__conn.
 *
 * One vial__wctx per worker thread: its own uv loop, its own SO_REUSEPORT
 * listening socket, its connections, and the timeout lists that bound every
 * phase of a connection.  Nothing in a wctx is touched by another thread
 * except the inbox (a mutex-protected queue that only cross-thread posts
 * use) and the stop flag.
 */
#ifndef VIAL_LOOP_IMPL_H
#define VIAL_LOOP_IMPL_H

#include "loop.h"

#include <uv.h>

struct vial__wctx;

#define VIAL__LINGER_MS 2000 /* lingering close: how long to drain a closing client */
#define VIAL__SCRATCH_SIZE (64 * 1024)

/* An intrusive list of connections sharing one timeout: appending at the
 * tail on every (re)arm keeps it sorted by deadline, so expiry only ever
 * looks at the head and each arm/disarm is O(1). */
typedef struct vial__tlist {
    vial__conn *head, *tail;
    uint64_t timeout_ms;
} vial__tlist;

enum { VIAL__TL_IDLE, VIAL__TL_HEADERS, VIAL__TL_BODY, VIAL__TL_WRITE, VIAL__TL_LINGER,
       VIAL__TL_TICK, VIAL__TL_DRAIN, VIAL__TL_COUNT, VIAL__TL_NONE = -1 };
/* Draining, an idle keep-alive connection stays this long: a request the
 * client sent as we stopped is still answered (Connection: close) instead
 * of meeting a closed socket, which a proxy could not retry safely. */
#define VIAL__DRAIN_IDLE_MS 200

typedef struct vial__postmsg {
    void (*fn)(void *arg);
    void *arg;
    struct vial__postmsg *next;
} vial__postmsg;

typedef struct vial__wctx {
    int id;
    void *wstate;           /* the layers above: what ops->worker_start returned */
    vial__pool pool;        /* blocks for every buffer of this thread's connections */
    struct vial__server *srv;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_tcp_t *listeners;    /* one or more: see assign_listeners() */
    int nlisteners, nlisteners_open;
    uv_tcp_t admin;         /* worker 0: the admin port's listener */
    bool admin_open;
    uv_async_t wake;
    uv_timer_t sweep;
    uv_prepare_t prep;
    uv_check_t check;
    /* Connections whose output waits for the end of this loop turn (see
     * conn.c, "Deferred writes"), in the order they were served. */
    vial__conn *flush_head, *flush_tail;
    /* Reads land here when a connection holds no buffer (idle keep-alive,
     * EOF, upgraded protocols), so 10,000 closing clients cost no memory. */
    char *scratch;
    vial__tlist lists[VIAL__TL_COUNT];
    /* connection table: slot → conn, with generations so stale ids miss */
    vial__conn **slots;
    uint32_t *gens;
    uint32_t nslots, *free_slots, nfree;
    size_t nconns;
    /* cross-thread inbox */
    uv_mutex_t inbox_mu;
    vial__postmsg *inbox, **inbox_tail;
    bool started;           /* worker_start succeeded: worker_stop is due */
    bool stopping, forced;
    uint64_t stop_deadline;
    int start_rc;
} vial__wctx;

struct vial__server {
    const vial__loop_cfg *cfg;
    const vial__loop_ops *ops;
    void *ud;
    int nworkers;
    vial__wctx *workers;
    atomic_int stop;     /* 0 run, 1 drain, 2 force */
    atomic_bool leaving; /* a stop is announced (drain_delay): /readyz says so, serving goes on */
    atomic_int finished; /* workers whose loop has returned */
    uv_async_t *done;    /* wakes the main thread when one does */
    /* The listening sockets as bound or inherited: never given to libuv
     * (workers get duplicates), so they outlive the workers' listeners and
     * a reload can hand them on. */
    int *lfds, nlfds;
    uv_loop_t *main_loop;
    struct vial__gen *next; /* a reload's new generation, until it serves or fails */
    uv_timer_t reload_timer, watchdog, leave_timer;
};

/* ------------------------------------------------------------------ proc.c (the process) */

/* The listening sockets: handed over, or bound (one per worker, nw):
 * their count and the descriptors in *fds (malloc'd); <= 0 on failure
 * (logged). */
int vial__listen_sockets(const vial__loop_cfg *cfg, int nw, int **fds, bool *inherited);
/* The heartbeat of worker `worker`'s loop (every sweep). */
void vial__sb_beat(int worker);
/* The scoreboard: the supervisor's (VIAL_SCOREBOARD_FD) or our own. */
int vial__sb_attach(int nworkers);
/* Every worker's loop turned within `max_age_ms`. */
bool vial__sb_fresh(uint64_t max_age_ms, int nworkers);
/* A fatal signal on a worker thread logs the request it was serving. */
void vial__proc_crash_handlers(void);
/* Listening: writes pid_file, tells our starter (a generation before us
 * or a supervisor, through VIAL_READY_FD) or systemd. */
void vial__proc_ready(const vial__loop_cfg *cfg, const char *status);
void vial__pid_file_remove(const char *path);
/* The sockets handed to us (VIAL_LISTEN_FDS, or systemd's LISTEN_FDS):
 * their count with the descriptors in *fds (malloc'd), 0 for none, < 0 on
 * a bad hand-over (logged). */
int vial__proc_inherited(int **fds);
/* systemd's watchdog interval for us, 0 when it watches nothing. */
uint64_t vial__watchdog_usec(void);
/* True in a process a supervisor started (it reloads us, not SIGHUP). */
bool vial__proc_supervised(void);

/* A generation: a process of the binary started with the listening
 * sockets.  `on_ready` when it listens, `on_exit` when it exits (also
 * after on_ready); both on the loop's thread.  `supervised_slot` >= 0
 * gives it a shared scoreboard of `sb_cells` cells and leaves systemd to
 * the supervisor.  NULL when it cannot be started (logged).  The handle
 * lives until the process exited and vial__gen_forget() was called. */
typedef struct vial__gen vial__gen;
typedef void (*vial__gen_cb)(vial__gen *g, void *ud);
vial__gen *vial__gen_spawn(uv_loop_t *loop, const vial__loop_cfg *cfg, const int *fds, int nfds,
                           int supervised_slot, uint32_t sb_cells, vial__gen_cb on_ready,
                           vial__gen_cb on_exit, void *ud);
long vial__gen_pid(const vial__gen *g);
bool vial__gen_is_ready(const vial__gen *g);
bool vial__gen_exited(const vial__gen *g, int64_t *status, int *signo);
void vial__gen_kill(vial__gen *g, int signo);
/* Other callbacks from now on. */
void vial__gen_retarget(vial__gen *g, vial__gen_cb on_ready, vial__gen_cb on_exit, void *ud);
/* No more callbacks; frees the handle once the process has exited (the
 * process itself runs on). */
void vial__gen_forget(vial__gen *g);
/* The requests its scoreboard shows in progress (the crashed one marked),
 * as text in out; its length. */
size_t vial__gen_describe(const vial__gen *g, char *out, size_t cap);
/* A worker whose loop has not turned for max_age_ms (its thread id in
 * *tid), or -1. */
int vial__gen_hung(const vial__gen *g, uint64_t max_age_ms, long *tid);
void vial__gen_signal_thread(vial__gen *g, long tid, int signo);

struct vial__conn {
    uv_tcp_t tcp; /* first: the handle's address is the conn's */
    vial__wctx *wc;
    /* The protocol speaking on the connection, and its state. */
    const vial__proto *proto;
    void *proto_ud;
    vial__outq out;      /* what the protocol queued */
    vial__outq inflight; /* what uv_write is sending; untouchable until write_cb */
    int phase;           /* the protocol's, enum vial__phase */
    vial__conn *prev, *next; /* timeout list links */
    vial__conn *fprev, *fnext; /* the worker's flush list */
    bool flush_queued;
    int list;
    uint64_t deadline;
    uint32_t slot, gen;
    uv_write_t wreq;
    uv_shutdown_t sreq;
    bool writing, reading, closing, closed, lingering, in_pump, want_pump;
    bool abort;          /* want_close(now): reset instead of lingering */
    /* A switch of protocol waiting for the output before it (a 101). */
    const vial__proto *next_proto;
    void *next_ud;
    char *pending_in;    /* bytes that followed the upgrade request */
    size_t pending_n;
    bool upgrading;
    char client[48];
};

/* conn.c */
void vial__conn_accept(vial__wctx *wc, uv_stream_t *server, bool admin);
void vial__conn_expire(vial__conn *c);
/* Stop mode: idle connections close now, busy ones finish their request. */
void vial__conn_drain(vial__conn *c);
void vial__tlist_remove(vial__wctx *wc, vial__conn *c);
/* End of a loop turn: writes the output of every connection served in it. */
void vial__conn_flush_deferred(vial__wctx *wc);
/* The worker whose loop runs on the calling thread (NULL on others). */
extern _Thread_local vial__wctx *vial__current_wctx;

#endif

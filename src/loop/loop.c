/*
 * loop.c — the server: listening sockets, worker threads, signals, the
 * sweep timer, cross-thread posts and graceful shutdown.
 *
 * Each worker owns a libuv loop and its own SO_REUSEPORT listening socket,
 * so the kernel spreads new connections over workers and a connection
 * lives and dies on one thread: no locks on the request path.  The sockets
 * are bound in the main thread before any worker starts, so "address in
 * use" is reported at once with exit status 1.
 *
 * Shutdown (SIGINT/SIGTERM): workers close their listeners, close idle
 * connections, let in-flight requests finish with "Connection: close", and
 * force-close whatever remains after shutdown_timeout.  A second signal
 * forces at once.  vial_run() then returns 0.
 */
#include "loop_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ cross-thread posts */

int vial__post(vial__server *srv, int worker, void (*fn)(void *), void *arg)
{
    if (!srv || worker < 0 || worker >= srv->nworkers || !fn)
        return VIAL_EINVAL;
    vial__postmsg *p = malloc(sizeof *p);
    if (!p)
        return VIAL_ENOMEM;
    p->fn = fn;
    p->arg = arg;
    p->next = NULL;
    vial__wctx *wc = &srv->workers[worker];
    uv_mutex_lock(&wc->inbox_mu);
    *wc->inbox_tail = p;
    wc->inbox_tail = &p->next;
    uv_mutex_unlock(&wc->inbox_mu);
    uv_async_send(&wc->wake);
    return 0;
}

/* Readers: threads posting from outside the workers; the writer: a server
 * about to free what they post into. */
static pthread_rwlock_t hold_lock = PTHREAD_RWLOCK_INITIALIZER;

vial__server *vial__server_hold(vial__server *const *where)
{
    pthread_rwlock_rdlock(&hold_lock);
    return *where;
}

void vial__server_release(void)
{
    pthread_rwlock_unlock(&hold_lock);
}

static void run_inbox(vial__wctx *wc)
{
    uv_mutex_lock(&wc->inbox_mu);
    vial__postmsg *p = wc->inbox;
    wc->inbox = NULL;
    wc->inbox_tail = &wc->inbox;
    uv_mutex_unlock(&wc->inbox_mu);
    while (p) {
        vial__postmsg *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

bool vial__server_stopping(const vial__server *srv)
{
    return srv && (atomic_load_explicit(&srv->stop, memory_order_relaxed) != 0 ||
                   atomic_load_explicit(&srv->leaving, memory_order_relaxed));
}

int vial__server_workers(const vial__server *srv)
{
    return srv ? srv->nworkers : 0;
}

/* ------------------------------------------------------------------ worker loop */

static void close_walk(uv_handle_t *h, void *arg)
{
    VIAL__UNUSED(arg);
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void force_close_all(vial__wctx *wc)
{
    for (uint32_t i = 0; i < wc->nslots; i++)
        if (wc->slots[i])
            vial__conn_abort(wc->slots[i]);
}

static void maybe_finish(vial__wctx *wc)
{
    if (wc->stopping && wc->nconns == 0) {
        /* Everything is closed: closing our own handles ends uv_run(). */
        uv_walk(&wc->loop, close_walk, NULL);
    }
}

static void begin_stop(vial__wctx *wc)
{
    if (!wc->stopping) {
        wc->stopping = true;
        wc->stop_deadline = uv_now(&wc->loop) + wc->srv->cfg->shutdown_timeout_ms;
        for (int i = 0; i < wc->nlisteners_open; i++)
            if (!uv_is_closing((uv_handle_t *)&wc->listeners[i]))
                uv_close((uv_handle_t *)&wc->listeners[i], NULL);
        if (wc->admin_open && !uv_is_closing((uv_handle_t *)&wc->admin))
            uv_close((uv_handle_t *)&wc->admin, NULL);
        for (uint32_t i = 0; i < wc->nslots; i++)
            if (wc->slots[i])
                vial__conn_drain(wc->slots[i]);
    }
    if (atomic_load(&wc->srv->stop) >= 2 && !wc->forced) {
        wc->forced = true;
        force_close_all(wc);
    }
    maybe_finish(wc);
}

static void on_wake(uv_async_t *a)
{
    vial__wctx *wc = a->data;
    run_inbox(wc);
    if (atomic_load(&wc->srv->stop))
        begin_stop(wc);
}

static void on_sweep(uv_timer_t *t)
{
    vial__wctx *wc = t->data;
    uint64_t now = uv_now(&wc->loop);
    vial__sb_beat(wc->id);
    for (int l = 0; l < VIAL__TL_COUNT; l++) {
        vial__conn *c;
        while ((c = wc->lists[l].head) && c->deadline <= now)
            vial__conn_expire(c);
    }
    if (wc->stopping && !wc->forced && now >= wc->stop_deadline) {
        vial_log(VIAL_LOG_WARN, "worker %d: shutdown timeout, closing %zu connection(s)", wc->id,
                 wc->nconns);
        wc->forced = true;
        force_close_all(wc);
    }
    maybe_finish(wc);
}

static void on_prepare(uv_prepare_t *p)
{
    vial__wctx *wc = p->data;
    if (wc->srv->ops->turn)
        wc->srv->ops->turn(wc->wstate);
    /* Output queued outside the poll phase (a timer's ping or heartbeat, a
     * write completion, a close callback) goes out before the loop blocks:
     * the check handle would only run after the next event. */
    vial__conn_flush_deferred(wc);
    vial__log_flush(); /* access log: one write per loop turn */
}

static void on_check(uv_check_t *h)
{
    vial__conn_flush_deferred(h->data); /* the responses of this turn, back to back */
}

static void on_connection(uv_stream_t *server, int status)
{
    vial__wctx *wc = server->data;
    if (status < 0) {
        /* EMFILE and friends: libuv keeps listening; say it, rarely. */
        static _Thread_local uint64_t last;
        uint64_t now = uv_now(&wc->loop);
        if (now - last > 5000) {
            vial_log(VIAL_LOG_WARN, "worker %d: accept failed: %s", wc->id, uv_strerror(status));
            last = now;
        }
        return;
    }
    vial__conn_accept(wc, server, (uv_tcp_t *)server == &wc->admin);
}

static void worker_main(void *arg)
{
    vial__wctx *wc = arg;
    vial__current_wctx = wc;
    vial__sb_beat(wc->id);
    vial__log_set_batched(true);
    uv_run(&wc->loop, UV_RUN_DEFAULT);
    vial__log_thread_end();
    atomic_fetch_add(&wc->srv->finished, 1);
    uv_async_send(wc->srv->done);
}

static uint64_t sweep_interval(const vial__loop_cfg *l)
{
    uint64_t m = l->header_timeout_ms;
    if (l->body_timeout_ms < m)
        m = l->body_timeout_ms;
    if (l->idle_timeout_ms < m)
        m = l->idle_timeout_ms;
    if (l->write_timeout_ms < m)
        m = l->write_timeout_ms;
    m /= 4;
    return m < 50 ? 50 : m > 1000 ? 1000 : m;
}

static int worker_init(vial__wctx *wc, vial__server *srv, int id, const int *fds, int nfds, int admin_fd)
{
    const vial__loop_cfg *cfg = srv->cfg;
    wc->srv = srv;
    wc->id = id;
    wc->pool.max = 1024; /* 8 MiB of free blocks per worker at most */
    wc->wstate = srv->ops->worker_start(srv->ud, id, &wc->pool);
    if (!wc->wstate)
        return VIAL_ENOMEM;
    wc->started = true;
    wc->scratch = malloc(VIAL__SCRATCH_SIZE);
    if (!wc->scratch)
        return VIAL_ENOMEM;
    wc->inbox_tail = &wc->inbox;
    wc->lists[VIAL__TL_IDLE].timeout_ms = cfg->idle_timeout_ms;
    wc->lists[VIAL__TL_HEADERS].timeout_ms = cfg->header_timeout_ms;
    wc->lists[VIAL__TL_BODY].timeout_ms = cfg->body_timeout_ms;
    wc->lists[VIAL__TL_WRITE].timeout_ms = cfg->write_timeout_ms;
    wc->lists[VIAL__TL_LINGER].timeout_ms = VIAL__LINGER_MS;
    wc->lists[VIAL__TL_TICK].timeout_ms = cfg->tick_ms ? cfg->tick_ms : 5000;
    wc->lists[VIAL__TL_DRAIN].timeout_ms = VIAL__DRAIN_IDLE_MS;
    int rc;
    if ((rc = uv_mutex_init(&wc->inbox_mu)) || (rc = uv_loop_init(&wc->loop)))
        return VIAL_ESYS;
    wc->listeners = calloc((size_t)nfds, sizeof *wc->listeners);
    if (!wc->listeners)
        return VIAL_ENOMEM;
    wc->nlisteners = nfds;
    for (int i = 0; i < nfds; i++) {
        uv_tcp_init(&wc->loop, &wc->listeners[i]);
        wc->listeners[i].data = wc;
        wc->nlisteners_open++;
        if ((rc = uv_tcp_open(&wc->listeners[i], fds[i])) ||
            (rc = uv_listen((uv_stream_t *)&wc->listeners[i], cfg->backlog > 0 ? cfg->backlog : 1024,
                            on_connection))) {
            vial_log(VIAL_LOG_ERROR, "worker %d: listen: %s", id, uv_strerror(rc));
            return VIAL_ESYS;
        }
    }
    if (admin_fd >= 0) {
        uv_tcp_init(&wc->loop, &wc->admin);
        wc->admin.data = wc;
        wc->admin_open = true;
        if ((rc = uv_tcp_open(&wc->admin, admin_fd)) ||
            (rc = uv_listen((uv_stream_t *)&wc->admin, 128, on_connection))) {
            vial_log(VIAL_LOG_ERROR, "admin port: listen: %s", uv_strerror(rc));
            return VIAL_ESYS;
        }
    }
    uv_async_init(&wc->loop, &wc->wake, on_wake);
    wc->wake.data = wc;
    uv_timer_init(&wc->loop, &wc->sweep);
    wc->sweep.data = wc;
    uint64_t iv = sweep_interval(cfg);
    uv_timer_start(&wc->sweep, on_sweep, iv, iv);
    uv_prepare_init(&wc->loop, &wc->prep);
    wc->prep.data = wc;
    uv_prepare_start(&wc->prep, on_prepare);
    uv_check_init(&wc->loop, &wc->check);
    wc->check.data = wc;
    uv_check_start(&wc->check, on_check);
    return 0;
}

static void worker_fini(vial__wctx *wc)
{
    if (wc->started) {
        /* Drain anything posted after the loop stopped. */
        run_inbox(wc);
        uv_loop_close(&wc->loop);
        uv_mutex_destroy(&wc->inbox_mu);
        free(wc->slots);
        free(wc->scratch);
        free(wc->gens);
        free(wc->free_slots);
        free(wc->listeners);
        wc->srv->ops->worker_stop(wc->srv->ud, wc->wstate);
        vial__pool_drain(&wc->pool);
        wc->started = false;
    }
}

/* A worker whose initialization failed half-way: give back what the layers
 * above made for it (its half-made libuv loop goes with the process). */
static void worker_undo(vial__wctx *wc)
{
    if (wc->started)
        wc->srv->ops->worker_stop(wc->srv->ud, wc->wstate);
    wc->started = false;
    free(wc->scratch);
    wc->scratch = NULL;
    free(wc->listeners);
    wc->listeners = NULL;
    vial__pool_drain(&wc->pool);
}

/* ------------------------------------------------------------------ listening sockets */

static int resolve(const char *host, int port, struct sockaddr_storage *ss, socklen_t *len)
{
    struct addrinfo hints = { 0 }, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc || !res) {
        vial_log(VIAL_LOG_ERROR, "cannot resolve host '%s': %s", host, gai_strerror(rc));
        return VIAL_EINVAL;
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static int bind_one(const struct sockaddr_storage *ss, socklen_t len, bool reuseport, int *out)
{
    int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    if (bind(fd, (const struct sockaddr *)ss, len) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    *out = fd;
    return 0;
}

static void set_port(struct sockaddr_storage *ss, int port)
{
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
}

static int get_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    return ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                         : ((struct sockaddr_in6 *)&ss)->sin6_port);
}

/*
 * Binds one socket per worker.  A probe bind without SO_REUSEPORT first, so
 * that another server already on the port is an error instead of silently
 * sharing its traffic.
 */
static int open_listeners(const vial__loop_cfg *cfg, int n, int *fds, int *port_out)
{
    const char *host = cfg->host;
    int64_t port = cfg->port;
    if (port < 0 || port > 65535) {
        vial_log(VIAL_LOG_ERROR, "config port: %" PRId64 " is not a port number", port);
        return VIAL_EINVAL;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    int rc = resolve(host, (int)port, &ss, &len);
    if (rc)
        return rc;
    if (port != 0) {
        int probe;
        int e = bind_one(&ss, len, false, &probe);
        if (e) {
            vial_log(VIAL_LOG_ERROR, "cannot listen on %s:%d: %s", host, (int)port, strerror(-e));
            return VIAL_ESYS;
        }
        close(probe);
    }
    for (int i = 0; i < n; i++) {
        int e = bind_one(&ss, len, true, &fds[i]);
        if (e) {
            vial_log(VIAL_LOG_ERROR, "cannot listen on %s:%d: %s", host, (int)port, strerror(-e));
            while (i-- > 0)
                close(fds[i]);
            return VIAL_ESYS;
        }
        if (i == 0 && port == 0) {
            port = get_port(fds[0]); /* the other workers share the port the kernel chose */
            set_port(&ss, (int)port);
        }
    }
    *port_out = (int)port;
    return 0;
}

/*
 * Which sockets each worker accepts on.  Bound here, there is one per
 * worker; handed over (a reload, a supervisor, systemd) there are as many
 * as the giver had: with more sockets than workers a worker takes several
 * (every socket must be accepted from, or its queue would wait forever),
 * with fewer, workers share them.  Workers get duplicates: libuv closes
 * what it is given, and the originals must stay open for a reload.
 */
static int assign_listeners(const int *lfds, int nl, int w, int nw, int *out, int *nout)
{
    int n = 0;
    if (nl >= nw) {
        for (int j = w; j < nl; j += nw)
            out[n++] = lfds[j];
    } else {
        out[n++] = lfds[w % nl];
    }
    for (int i = 0; i < n; i++) {
        int d = fcntl(out[i], F_DUPFD_CLOEXEC, 3);
        if (d < 0) {
            while (i-- > 0)
                close(out[i]);
            return VIAL_ESYS;
        }
        out[i] = d;
    }
    *nout = n;
    return 0;
}

/* The admin port: this process's own socket (a supervised process i takes
 * admin_port + i), SO_REUSEPORT so a reload's two generations can both
 * hold it while they overlap. */
static int open_admin(const vial__loop_cfg *cfg, int *fd, int *port)
{
    int p = (int)cfg->admin_port;
    const char *slot = getenv("VIAL_SUPERVISED");
    if (slot)
        p += atoi(slot);
    struct sockaddr_storage ss;
    socklen_t len;
    if (p > 65535 || resolve(cfg->host, p, &ss, &len))
        return VIAL_EINVAL;
    int e = bind_one(&ss, len, true, fd);
    if (!e && listen(*fd, 128) < 0)
        e = -errno;
    if (e) {
        if (*fd >= 0)
            close(*fd);
        *fd = -1;
        vial_log(VIAL_LOG_ERROR, "cannot listen on the admin port %s:%d: %s", cfg->host, p, strerror(-e));
        return VIAL_ESYS;
    }
    *port = p;
    return 0;
}

/* The address of a listening socket, for the log line. */
static void sock_name(int fd, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    char host[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (!getsockname(fd, (struct sockaddr *)&ss, &len)) {
        if (ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        } else if (ss.ss_family == AF_INET6) {
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        }
    }
    bool v6 = strchr(host, ':') != NULL;
    snprintf(out, cap, "http://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

int vial__listen_sockets(const vial__loop_cfg *cfg, int nw, int **fds, bool *inherited)
{
    int n = vial__proc_inherited(fds);
    *inherited = n > 0;
    if (n != 0)
        return n;
    *fds = calloc((size_t)nw, sizeof **fds);
    if (!*fds)
        return VIAL_ENOMEM;
    int port;
    if (open_listeners(cfg, nw, *fds, &port)) {
        free(*fds);
        *fds = NULL;
        return VIAL_ESYS;
    }
    /* Listening from here, not from the workers' uv_listen(): a process we
     * hand them to (a reload, a supervisor's) takes listening sockets. */
    for (int i = 0; i < nw; i++) {
        if (listen((*fds)[i], cfg->backlog > 0 ? cfg->backlog : 1024) < 0) {
            vial_log(VIAL_LOG_ERROR, "listen: %s", strerror(errno));
            for (int j = 0; j < nw; j++)
                close((*fds)[j]);
            free(*fds);
            *fds = NULL;
            return VIAL_ESYS;
        }
    }
    return nw;
}

/* ------------------------------------------------------------------ signals */

static void wake_all(vial__server *srv)
{
    for (int i = 0; i < srv->nworkers; i++)
        uv_async_send(&srv->workers[i].wake);
}

static void on_leave(uv_timer_t *t)
{
    vial__server *srv = t->data;
    vial_log(VIAL_LOG_INFO, "drain_delay over: finishing in-flight requests");
    if (atomic_load(&srv->stop) == 0)
        atomic_store(&srv->stop, 1);
    wake_all(srv);
}

static void on_signal(uv_signal_t *h, int signum)
{
    vial__server *srv = h->data;
    /* drain_delay: say we are leaving (/readyz 503) and serve on a while,
     * so a load balancer stops sending before the listeners close. */
    if (srv->cfg->drain_delay_ms && !atomic_load(&srv->leaving) && atomic_load(&srv->stop) == 0) {
        atomic_store(&srv->leaving, true);
        vial__notify("STOPPING=1");
        vial_log(VIAL_LOG_INFO, "%s: serving %" PRIu64 " ms more (drain_delay), then finishing in-flight "
                                "requests (again to start now)",
                 signum == SIGINT ? "SIGINT" : "SIGTERM", srv->cfg->drain_delay_ms);
        uv_timer_start(&srv->leave_timer, on_leave, srv->cfg->drain_delay_ms, 0);
        return;
    }
    uv_timer_stop(&srv->leave_timer);
    int prev = atomic_fetch_add(&srv->stop, 1);
    if (prev == 0) {
        vial__notify("STOPPING=1");
        vial_log(VIAL_LOG_INFO, "%s: finishing in-flight requests (again to force)",
                 signum == SIGINT ? "SIGINT" : "SIGTERM");
    } else {
        vial_log(VIAL_LOG_INFO, "stopping now");
    }
    wake_all(srv);
}

static void on_usr1(uv_signal_t *h, int signum)
{
    VIAL__UNUSED(h);
    VIAL__UNUSED(signum);
    int e = vial__log_reopen();
    if (e)
        vial_log(VIAL_LOG_ERROR, "SIGUSR1: cannot reopen the log file %s: %s", vial__log_file(),
                 strerror(-e));
    else if (vial__log_file())
        vial_log(VIAL_LOG_INFO, "SIGUSR1: log file reopened");
}

/* --- reload: a new generation takes the sockets, this one drains */

static void reload_ready(vial__gen *g, void *ud)
{
    vial__server *srv = ud;
    uv_timer_stop(&srv->reload_timer);
    long pid = vial__gen_pid(g);
    vial__gen_forget(g);
    srv->next = NULL;
    /* systemd follows the new process from here (NotifyAccess=all). */
    vial__notify("MAINPID=%ld\nREADY=1\nSTATUS=reloaded: pid %ld serves", pid, pid);
    vial_log(VIAL_LOG_INFO, "reload: pid %ld serves; pid %ld finishes its requests", pid, (long)getpid());
    if (atomic_load(&srv->stop) == 0)
        atomic_store(&srv->stop, 1);
    wake_all(srv);
}

static void reload_exit(vial__gen *g, void *ud)
{
    vial__server *srv = ud;
    int64_t status;
    int signo;
    vial__gen_exited(g, &status, &signo);
    uv_timer_stop(&srv->reload_timer);
    vial__gen_forget(g);
    srv->next = NULL;
    if (signo)
        vial_log(VIAL_LOG_ERROR, "reload failed: the new generation died of signal %d (%s); this one serves on",
                 signo, strsignal(signo));
    else
        vial_log(VIAL_LOG_ERROR, "reload failed: the new generation exited with status %d before it listened; "
                                 "this one serves on",
                 (int)status);
    vial__notify("READY=1\nSTATUS=reload failed; serving with the previous generation");
}

static void reload_timeout(uv_timer_t *t)
{
    vial__server *srv = t->data;
    if (!srv->next)
        return;
    vial_log(VIAL_LOG_ERROR, "reload: the new generation (pid %ld) did not listen within %" PRIu64
                             " ms: stopping it",
             vial__gen_pid(srv->next), srv->cfg->reload_timeout_ms);
    vial__gen_kill(srv->next, SIGKILL); /* reload_exit follows */
}

static void on_hup(uv_signal_t *h, int signum)
{
    VIAL__UNUSED(signum);
    vial__server *srv = h->data;
    if (vial__supervised_env()) {
        vial_log(VIAL_LOG_WARN, "SIGHUP: this process is supervised; send it to the supervisor");
        return;
    }
    if (srv->next || atomic_load(&srv->stop)) {
        vial_log(VIAL_LOG_WARN, "SIGHUP: a reload or a stop is already under way");
        return;
    }
    if (!srv->cfg->exe || !srv->cfg->argv) {
        vial_log(VIAL_LOG_WARN, "SIGHUP: no binary to reload from");
        return;
    }
    vial__notify("RELOADING=1\nSTATUS=reloading");
    vial_log(VIAL_LOG_INFO, "SIGHUP: starting a new generation of %s", srv->cfg->exe);
    srv->next = vial__gen_spawn(srv->main_loop, srv->cfg, srv->lfds, srv->nlfds, -1, 0, reload_ready,
                                reload_exit, srv);
    if (!srv->next) {
        vial__notify("READY=1\nSTATUS=reload failed; serving with the previous generation");
        return;
    }
    uint64_t to = srv->cfg->reload_timeout_ms ? srv->cfg->reload_timeout_ms : 60000;
    uv_timer_start(&srv->reload_timer, reload_timeout, to, 0);
}

/* --- systemd's watchdog: pinged while every worker's loop turns */

static void on_watchdog(uv_timer_t *t)
{
    vial__server *srv = t->data;
    uint64_t usec = vial__watchdog_usec();
    if (usec && vial__sb_fresh(usec / 1000, srv->nworkers))
        vial__notify("WATCHDOG=1");
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* ------------------------------------------------------------------ serve */

static void on_done(uv_async_t *a)
{
    VIAL__UNUSED(a); /* wakes the main loop so it re-checks srv.finished */
}

int vial__loop_serve(const vial__loop_cfg *cfg, const vial__loop_ops *ops, void *ud,
                     vial__server **srv_out)
{
    int64_t nw = cfg->workers;
    if (nw < 0 || nw > 1024) {
        vial_log(VIAL_LOG_ERROR, "config workers: %" PRId64 " is not 0..1024", nw);
        return 1;
    }
    if (nw == 0)
        nw = (int64_t)uv_available_parallelism();
    signal(SIGPIPE, SIG_IGN);
    raise_fd_limit();

    vial__server srv = { .cfg = cfg, .ops = ops, .ud = ud, .nworkers = 0 };
    bool inherited = false;
    srv.nlfds = vial__listen_sockets(cfg, (int)nw, &srv.lfds, &inherited);
    if (srv.nlfds <= 0)
        return 1;
    int status = 1, started = 0, inited = 0, admin_fd = -1, admin_port = 0;
    if (cfg->admin_port > 0 && open_admin(cfg, &admin_fd, &admin_port))
        goto out_fds;
    srv.workers = calloc((size_t)nw, sizeof *srv.workers);
    int *mine = calloc((size_t)srv.nlfds + 1, sizeof *mine);
    if (!srv.workers || !mine || vial__sb_attach((int)nw)) {
        free(mine);
        goto out_fds;
    }
    vial__proc_crash_handlers();

    uv_loop_t main_loop;
    uv_signal_t sigint, sigterm, sigusr1, sighup;
    uv_async_t done;
    uv_loop_init(&main_loop);
    srv.main_loop = &main_loop;
    uv_signal_init(&main_loop, &sigint);
    uv_signal_init(&main_loop, &sigterm);
    uv_signal_init(&main_loop, &sigusr1);
    uv_signal_init(&main_loop, &sighup);
    uv_async_init(&main_loop, &done, on_done);
    uv_timer_init(&main_loop, &srv.reload_timer);
    uv_timer_init(&main_loop, &srv.watchdog);
    uv_timer_init(&main_loop, &srv.leave_timer);
    srv.leave_timer.data = &srv;
    sigint.data = sigterm.data = sighup.data = &srv;
    srv.reload_timer.data = srv.watchdog.data = &srv;
    srv.done = &done;
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    uv_signal_start(&sigusr1, on_usr1, SIGUSR1);
    uv_signal_start(&sighup, on_hup, SIGHUP);
    if (srv_out)
        *srv_out = &srv;

    for (; inited < nw; inited++) {
        int nmine = 0;
        if (assign_listeners(srv.lfds, srv.nlfds, inited, (int)nw, mine, &nmine)) {
            vial_log(VIAL_LOG_ERROR, "worker %d: cannot duplicate a listening socket: %s", inited,
                     strerror(errno));
            break;
        }
        if (worker_init(&srv.workers[inited], &srv, inited, mine, nmine, inited == 0 ? admin_fd : -1)) {
            for (int i = srv.workers[inited].nlisteners_open; i < nmine; i++)
                close(mine[i]); /* the ones libuv never took */
            worker_undo(&srv.workers[inited]);
            break;
        }
    }
    free(mine);
    srv.nworkers = inited;
    if (inited == nw) {
        for (; started < nw; started++) {
            if (uv_thread_create(&srv.workers[started].thread, worker_main, &srv.workers[started])) {
                vial_log(VIAL_LOG_ERROR, "cannot start worker thread %d", started);
                break;
            }
        }
    }
    if (started == nw) {
        char where[128];
        sock_name(srv.lfds[0], where, sizeof where);
        vial_log(VIAL_LOG_INFO, "%s: listening on %s (pid %ld, %d worker%s%s%s)", cfg->name, where,
                 (long)getpid(), (int)nw, nw == 1 ? "" : "s", cfg->debug ? ", debug" : "",
                 inherited ? ", sockets handed over" : "");
        if (admin_fd >= 0)
            vial_log(VIAL_LOG_INFO, "%s: admin port (metrics, probes) %d", cfg->name, admin_port);
        vial__proc_ready(cfg, "serving");
        uint64_t usec = vial__watchdog_usec();
        if (usec)
            uv_timer_start(&srv.watchdog, on_watchdog, usec / 2000, usec / 2000 ? usec / 2000 : 1);
        status = 0;
    } else {
        atomic_store(&srv.stop, 2);
        for (int i = 0; i < started; i++)
            uv_async_send(&srv.workers[i].wake);
    }
    /* The main thread answers signals (a second one forces) until every
     * worker has finished. */
    while (atomic_load(&srv.finished) < started)
        uv_run(&main_loop, UV_RUN_ONCE);
    for (int i = 0; i < started; i++)
        uv_thread_join(&srv.workers[i].thread);
    /* No thread may post into what goes next. */
    pthread_rwlock_wrlock(&hold_lock);
    if (srv_out)
        *srv_out = NULL;
    pthread_rwlock_unlock(&hold_lock);
    for (int i = 0; i < inited; i++) {
        if (i >= started) { /* initialized, never run: close its handles */
            uv_walk(&srv.workers[i].loop, close_walk, NULL);
            uv_run(&srv.workers[i].loop, UV_RUN_DEFAULT);
        }
        worker_fini(&srv.workers[i]);
    }
    if (srv.next) { /* a reload still starting: it may not outlive us half-made */
        vial__gen_kill(srv.next, SIGKILL);
        vial__gen_forget(srv.next);
        srv.next = NULL;
    }
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_close((uv_handle_t *)&sigusr1, NULL);
    uv_close((uv_handle_t *)&sighup, NULL);
    uv_close((uv_handle_t *)&done, NULL);
    uv_close((uv_handle_t *)&srv.reload_timer, NULL);
    uv_close((uv_handle_t *)&srv.watchdog, NULL);
    uv_close((uv_handle_t *)&srv.leave_timer, NULL);
    uv_run(&main_loop, UV_RUN_DEFAULT);
    uv_loop_close(&main_loop);
    if (status == 0) {
        vial__pid_file_remove(cfg->pid_file);
        vial_log(VIAL_LOG_INFO, "%s: stopped", cfg->name);
    }
out_fds:
    for (int i = 0; i < srv.nlfds; i++)
        close(srv.lfds[i]);
    free(srv.lfds);
    free(srv.workers);
    return status;
}

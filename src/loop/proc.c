/*
 * proc.c — the process around the server: systemd (readiness, reload and
 * stop notices, the watchdog, socket activation), listening sockets handed
 * from one generation of the server to the next, the scoreboard a crash is
 * explained from, and the small supervisor of --processes.
 *
 * A generation is a process started from the binary's path with the
 * original arguments (so a reload runs a new binary and re-reads the
 * configuration), given the listening sockets as descriptors 3.. (the
 * VIAL_LISTEN_FDS count, the layout of systemd's LISTEN_FDS) and the write
 * end of a pipe (VIAL_READY_FD) it writes one byte to once it listens.  The
 * sockets stay open in the process that hands them over, so the kernel's
 * queue of connections not yet accepted survives the hand-over: nothing is
 * refused, nothing is reset.  Until the byte arrives the old generation
 * serves; a new one that exits or stays silent past reload_timeout is
 * stopped and the old one carries on.
 *
 * The scoreboard is one cell per worker thread: a heartbeat the worker's
 * loop writes every sweep, and (under a supervisor) the request it is
 * running.  A supervised process gets it as shared memory (a memfd), so
 * the supervisor can name the request a crashed or hung process was
 * serving; alone, a process keeps it in its own memory for its watchdog.
 * A fatal signal on a worker thread writes that thread's request to stderr
 * (with write(2) only) before the process dies of it.
 *
 * libsystemd is loaded when systemd asked for something (NOTIFY_SOCKET,
 * LISTEN_FDS): a server started by hand does not carry it.
 */
#include "loop_impl.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#define ENV_LISTEN "VIAL_LISTEN_FDS"
#define ENV_READY "VIAL_READY_FD"
#define ENV_SB "VIAL_SCOREBOARD_FD"

/* ------------------------------------------------------------------ systemd */

static struct {
    bool tried;
    void *h;
    int (*notify)(int unset_environment, const char *state);
    int (*listen_fds)(int unset_environment);
    int (*is_socket)(int fd, int family, int type, int listening);
} sd;

static bool sd_load(void)
{
    if (!sd.tried) {
        sd.tried = true;
        sd.h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
        if (sd.h) {
            *(void **)&sd.notify = dlsym(sd.h, "sd_notify");
            *(void **)&sd.listen_fds = dlsym(sd.h, "sd_listen_fds");
            *(void **)&sd.is_socket = dlsym(sd.h, "sd_is_socket");
            if (!sd.notify || !sd.listen_fds || !sd.is_socket) {
                dlclose(sd.h);
                sd.h = NULL;
            }
        }
        if (!sd.h)
            vial_log(VIAL_LOG_WARN, "systemd asked for notifications or gave sockets, but libsystemd.so.0 "
                                    "cannot be loaded");
    }
    return sd.h != NULL;
}

void vial__notify(const char *fmt, ...)
{
    if (!getenv("NOTIFY_SOCKET") || !sd_load())
        return;
    char state[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(state, sizeof state, fmt, ap);
    va_end(ap);
    sd.notify(0, state);
}

uint64_t vial__watchdog_usec(void)
{
    /* sd_watchdog_enabled()'s rules: WATCHDOG_PID, when set, must be us (a
     * generation started by a reload gets the variable without it). */
    const char *us = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
    if (!us || !getenv("NOTIFY_SOCKET"))
        return 0;
    if (pid && strtol(pid, NULL, 10) != (long)getpid())
        return 0;
    return strtoull(us, NULL, 10);
}

/* ------------------------------------------------------------------ inherited sockets */

static int env_int(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return -1;
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 0 || n > 65535 ? -1 : (int)n;
}

static bool is_listening_stream(int fd)
{
    int type = 0, acc = 0;
    socklen_t l = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l) || type != SOCK_STREAM)
        return false;
    l = sizeof acc;
    return !getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &l) && acc;
}

int vial__proc_inherited(int **out)
{
    *out = NULL;
    int n = env_int(ENV_LISTEN);
    unsetenv(ENV_LISTEN); /* not for the processes we start */
    const char *who = "the previous generation";
    if (n < 0 && getenv("LISTEN_FDS")) {
        if (!sd_load())
            return VIAL_ESYS;
        n = sd.listen_fds(1);
        who = "systemd";
        if (n < 0) {
            vial_log(VIAL_LOG_ERROR, "socket activation: %s", strerror(-n));
            return VIAL_ESYS;
        }
    }
    if (n <= 0)
        return 0;
    int *fds = malloc((size_t)n * sizeof *fds);
    if (!fds)
        return VIAL_ENOMEM;
    for (int i = 0; i < n; i++) {
        int fd = SD_LISTEN_FDS_START + i;
        if (!is_listening_stream(fd)) {
            vial_log(VIAL_LOG_ERROR, "descriptor %d from %s is not a listening TCP socket", fd, who);
            free(fds);
            return VIAL_EINVAL;
        }
        fcntl(fd, F_SETFD, FD_CLOEXEC);
        fds[i] = fd;
    }
    *out = fds;
    return n;
}

/* ------------------------------------------------------------------ the scoreboard */

typedef struct sbcell {
    _Atomic uint64_t beat_ms;   /* CLOCK_MONOTONIC: the worker's loop last turned */
    _Atomic int32_t tid;        /* the worker thread, for a hung one's SIGABRT */
    _Atomic uint32_t busy;      /* reqid/what below describe a request in progress */
    char reqid[VIAL__REQID_MAX];
    char what[120];             /* "METHOD target", cut */
} sbcell;

typedef struct vial__sb {
    uint32_t ncells;
    _Atomic int32_t crashed; /* worker + 1 that took a fatal signal, 0: none */
    _Atomic int32_t signo;
    sbcell cell[];
} vial__sb;

static vial__sb *sb;       /* this process's, shared or not */
static bool sb_shared;     /* a supervisor reads it: requests are copied in */
static _Thread_local const vial__serving *serving; /* this thread's request */

static size_t sb_size(uint32_t n)
{
    return sizeof(vial__sb) + (size_t)n * sizeof(sbcell);
}

static uint64_t mono_ms(void)
{
    return vial__now_ns() / 1000000u;
}

int vial__sb_attach(int nworkers)
{
    int fd = env_int(ENV_SB);
    unsetenv(ENV_SB);
    if (sb_shared)
        return sb->ncells >= (uint32_t)nworkers ? 0 : VIAL_EINVAL;
    if (fd >= 0) {
        struct stat st;
        void *p = MAP_FAILED;
        if (!fstat(fd, &st) && (size_t)st.st_size >= sb_size(0))
            p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            vial_log(VIAL_LOG_ERROR, "cannot map the supervisor's scoreboard: %s", strerror(errno));
            return VIAL_ESYS;
        }
        sb = p;
        if (sb->ncells < (uint32_t)nworkers) {
            vial_log(VIAL_LOG_ERROR, "the supervisor's scoreboard has %u cells for %d workers", sb->ncells,
                     nworkers);
            return VIAL_EINVAL;
        }
        sb_shared = true;
        return 0;
    }
    if (sb && !sb_shared && sb->ncells >= (uint32_t)nworkers)
        return 0; /* served before, in this process (tests) */
    if (!sb_shared)
        free(sb);
    sb = calloc(1, sb_size((uint32_t)nworkers));
    if (!sb)
        return VIAL_ENOMEM;
    sb->ncells = (uint32_t)nworkers;
    return 0;
}

void vial__sb_beat(int worker)
{
    if (sb && worker >= 0 && (uint32_t)worker < sb->ncells) {
        atomic_store_explicit(&sb->cell[worker].beat_ms, mono_ms(), memory_order_relaxed);
        if (!atomic_load_explicit(&sb->cell[worker].tid, memory_order_relaxed))
            atomic_store(&sb->cell[worker].tid, (int32_t)syscall(SYS_gettid));
    }
}

bool vial__sb_fresh(uint64_t max_age_ms, int nworkers)
{
    uint64_t now = mono_ms();
    for (int i = 0; sb && i < nworkers && (uint32_t)i < sb->ncells; i++)
        if (now - atomic_load(&sb->cell[i].beat_ms) > max_age_ms)
            return false;
    return true;
}

static void copy_cut(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
    dst[n] = '\0';
}

void vial__proc_serving(const vial__serving *s)
{
    serving = s;
    if (!sb_shared)
        return;
    vial__wctx *wc = vial__current_wctx;
    if (!wc || (uint32_t)wc->id >= sb->ncells)
        return;
    sbcell *c = &sb->cell[wc->id];
    if (!s) {
        atomic_store_explicit(&c->busy, 0, memory_order_release);
        return;
    }
    atomic_store_explicit(&c->busy, 0, memory_order_relaxed);
    copy_cut(c->reqid, sizeof c->reqid, s->reqid ? s->reqid : "-", s->reqid ? strlen(s->reqid) : 1);
    char what[sizeof c->what];
    size_t m = s->method ? strlen(s->method) : 0;
    copy_cut(what, sizeof what, s->method ? s->method : "", m);
    if (m + 1 < sizeof what) {
        what[m] = ' ';
        copy_cut(what + m + 1, sizeof what - m - 1, s->target ? s->target : "", s->target_len);
    }
    memcpy(c->what, what, sizeof what);
    atomic_store_explicit(&c->busy, 1, memory_order_release);
}

/* --- async-signal-safe output for the fatal-signal handler */

typedef struct sigline {
    char b[512];
    size_t n;
} sigline;

static void sl_puts(sigline *l, const char *s)
{
    for (; s && *s && l->n < sizeof l->b - 1; s++)
        l->b[l->n++] = *s;
}

static void sl_putn(sigline *l, const char *s, size_t n)
{
    for (size_t i = 0; s && i < n && l->n < sizeof l->b - 1; i++)
        l->b[l->n++] = (unsigned char)s[i] < 0x20 ? '?' : s[i];
}

static void sl_int(sigline *l, long v)
{
    char d[24];
    int k = 0;
    unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
    do
        d[k++] = (char)('0' + u % 10);
    while ((u /= 10) && k < 23);
    if (v < 0)
        d[k++] = '-';
    while (k && l->n < sizeof l->b - 1)
        l->b[l->n++] = d[--k];
}

static void on_fatal(int sig)
{
    int saved = errno;
    vial__wctx *wc = vial__current_wctx;
    const vial__serving *s = serving;
    sigline l = { .n = 0 };
    sl_puts(&l, "FATAL: signal ");
    sl_int(&l, sig);
    sl_puts(&l, " (");
    sl_puts(&l, sigabbrev_np(sig));
    sl_puts(&l, ")");
    if (wc) {
        sl_puts(&l, " in worker ");
        sl_int(&l, wc->id);
    }
    if (s) {
        sl_puts(&l, " while serving request ");
        sl_puts(&l, s->reqid);
        sl_puts(&l, " \"");
        sl_puts(&l, s->method);
        sl_puts(&l, " ");
        sl_putn(&l, s->target, s->target_len > 200 ? 200 : s->target_len);
        sl_puts(&l, "\"");
    } else {
        sl_puts(&l, wc ? " between requests" : " outside the workers");
    }
    l.b[l.n++] = '\n';
    ssize_t w = write(2, l.b, l.n);
    (void)w;
    if (sb && wc && (uint32_t)wc->id < sb->ncells) {
        atomic_store(&sb->signo, sig);
        atomic_store(&sb->crashed, wc->id + 1);
    }
    errno = saved;
    /* SA_RESETHAND put the default action back: die of the same signal, so
     * the parent (a supervisor, systemd) sees what happened. */
    raise(sig);
}

void vial__proc_crash_handlers(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return; /* the sanitizer's report says more than we could */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    return;
#endif
#endif
    static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal;
    sa.sa_flags = (int)SA_RESETHAND | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < VIAL__ARRAY_LEN(sigs); i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ------------------------------------------------------------------ readiness */

static int write_pid_file(const char *path)
{
    if (!path || !*path)
        return 0;
    char tmp[4096], line[32];
    snprintf(tmp, sizeof tmp, "%s.%ld.tmp", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
    bool ok = write(fd, line, (size_t)n) == n;
    close(fd);
    if (!ok || rename(tmp, path)) {
        int e = errno;
        unlink(tmp);
        return -e;
    }
    return 0;
}

void vial__pid_file_remove(const char *path)
{
    if (!path || !*path)
        return;
    char line[32] = "";
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t n = read(fd, line, sizeof line - 1);
    close(fd);
    /* A generation that took over rewrote it: leave its file alone. */
    if (n > 0 && strtol(line, NULL, 10) == (long)getpid())
        unlink(path);
}

bool vial__proc_supervised(void)
{
    return sb_shared;
}

void vial__proc_ready(const vial__loop_cfg *cfg, const char *status)
{
    /* Under a supervisor the pid file is the supervisor's. */
    int e = vial__supervised_env() ? 0 : write_pid_file(cfg->pid_file);
    if (e)
        vial_log(VIAL_LOG_WARN, "pid_file %s: %s", cfg->pid_file, strerror(-e));
    int fd = env_int(ENV_READY);
    unsetenv(ENV_READY);
    if (fd >= 0) {
        /* The generation before us, or a supervisor, tells systemd. */
        ssize_t w = write(fd, "R", 1);
        (void)w;
        close(fd);
        return;
    }
    vial__notify("READY=1\nSTATUS=%s\nMAINPID=%ld", status, (long)getpid());
}

/* ------------------------------------------------------------------ starting a generation */

struct vial__gen {
    uv_process_t proc;
    uv_pipe_t ready;
    char byte;
    bool ready_open, proc_open, got_ready, exited;
    int64_t status;
    int signo;
    long pid;
    int sbfd;
    vial__sb *sb;           /* the supervisor's view of the child's scoreboard */
    size_t sbsize;
    vial__gen_cb on_ready, on_exit;
    void *ud;
};

static void gen_maybe_free(vial__gen *g)
{
    if (g->ready_open || g->proc_open)
        return;
    if (g->sb)
        munmap(g->sb, g->sbsize);
    if (g->sbfd >= 0)
        close(g->sbfd);
    free(g);
}

static void on_ready_closed(uv_handle_t *h)
{
    vial__gen *g = h->data;
    g->ready_open = false;
    gen_maybe_free(g);
}

static void on_proc_closed(uv_handle_t *h)
{
    vial__gen *g = h->data;
    g->proc_open = false;
    gen_maybe_free(g);
}

static void ready_alloc(uv_handle_t *h, size_t sz, uv_buf_t *buf)
{
    VIAL__UNUSED(sz);
    vial__gen *g = h->data;
    *buf = uv_buf_init(&g->byte, 1);
}

static void ready_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    VIAL__UNUSED(buf);
    vial__gen *g = s->data;
    if (n == 0)
        return;
    uv_close((uv_handle_t *)s, on_ready_closed);
    if (n > 0 && !g->got_ready && !g->exited) {
        g->got_ready = true;
        if (g->on_ready)
            g->on_ready(g, g->ud);
    }
}

static void on_exit_cb(uv_process_t *p, int64_t status, int signo)
{
    vial__gen *g = p->data;
    g->exited = true;
    g->status = status;
    g->signo = signo;
    uv_close((uv_handle_t *)p, on_proc_closed);
    if (g->on_exit)
        g->on_exit(g, g->ud);
}

/* The environment of a new generation: ours, minus what systemd meant for
 * us alone, plus the hand-over variables. */
static char **child_env(const char *const *extra, size_t nextra, bool keep_notify)
{
    extern char **environ;
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + nextra + 1, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    static const char *const drop[] = { "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=", "WATCHDOG_PID=",
                                        ENV_LISTEN "=", ENV_READY "=", ENV_SB "=", "VIAL_SUPERVISED=" };
    for (size_t i = 0; i < n; i++) {
        bool skip = !keep_notify && (!strncmp(environ[i], "NOTIFY_SOCKET=", 14) ||
                                     !strncmp(environ[i], "WATCHDOG_USEC=", 14));
        for (size_t d = 0; d < VIAL__ARRAY_LEN(drop) && !skip; d++)
            skip = !strncmp(environ[i], drop[d], strlen(drop[d]));
        if (!skip)
            env[k++] = environ[i];
    }
    for (size_t i = 0; i < nextra; i++)
        env[k++] = (char *)extra[i];
    return env;
}

vial__gen *vial__gen_spawn(uv_loop_t *loop, const vial__loop_cfg *cfg, const int *fds, int nfds,
                           int supervised_slot, uint32_t sb_cells, vial__gen_cb on_ready,
                           vial__gen_cb on_exit, void *ud)
{
    vial__gen *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->sbfd = -1;
    g->on_ready = on_ready;
    g->on_exit = on_exit;
    g->ud = ud;
    int pfd[2] = { -1, -1 };
    char e_listen[40], e_ready[40], e_sb[40], e_sup[40];
    const char *extra[4];
    size_t nextra = 0;
    uv_stdio_container_t *stdio = calloc((size_t)nfds + 5, sizeof *stdio);
    char **env = NULL;
    int rc = VIAL_ESYS;
    if (!stdio || pipe2(pfd, O_CLOEXEC))
        goto fail;
    if (supervised_slot >= 0) {
        g->sbfd = memfd_create("vial-scoreboard", MFD_CLOEXEC);
        g->sbsize = sb_size(sb_cells);
        if (g->sbfd < 0 || ftruncate(g->sbfd, (off_t)g->sbsize))
            goto fail;
        g->sb = mmap(NULL, g->sbsize, PROT_READ | PROT_WRITE, MAP_SHARED, g->sbfd, 0);
        if (g->sb == MAP_FAILED) {
            g->sb = NULL;
            goto fail;
        }
        g->sb->ncells = sb_cells;
    }
    int n = 0;
    for (; n < 3; n++)
        stdio[n] = (uv_stdio_container_t){ .flags = UV_INHERIT_FD, .data.fd = n };
    for (int i = 0; i < nfds; i++, n++)
        stdio[n] = (uv_stdio_container_t){ .flags = UV_INHERIT_FD, .data.fd = fds[i] };
    snprintf(e_listen, sizeof e_listen, ENV_LISTEN "=%d", nfds);
    extra[nextra++] = e_listen;
    snprintf(e_ready, sizeof e_ready, ENV_READY "=%d", n);
    extra[nextra++] = e_ready;
    stdio[n++] = (uv_stdio_container_t){ .flags = UV_INHERIT_FD, .data.fd = pfd[1] };
    if (g->sb) {
        snprintf(e_sb, sizeof e_sb, ENV_SB "=%d", n);
        extra[nextra++] = e_sb;
        stdio[n++] = (uv_stdio_container_t){ .flags = UV_INHERIT_FD, .data.fd = g->sbfd };
        snprintf(e_sup, sizeof e_sup, "VIAL_SUPERVISED=%d", supervised_slot);
        extra[nextra++] = e_sup;
    }
    env = child_env(extra, nextra, supervised_slot < 0);
    if (!env)
        goto fail;
    uv_process_options_t o = { 0 };
    o.file = cfg->exe;
    o.args = cfg->argv;
    o.env = env;
    o.exit_cb = on_exit_cb;
    o.stdio_count = n;
    o.stdio = stdio;
    g->proc.data = g;
    int e = uv_spawn(loop, &g->proc, &o);
    if (e) {
        vial_log(VIAL_LOG_ERROR, "cannot start %s: %s", cfg->exe, uv_strerror(e));
        /* libuv wants even a failed spawn's handle closed */
        g->proc_open = true;
        uv_close((uv_handle_t *)&g->proc, on_proc_closed);
        close(pfd[0]);
        close(pfd[1]);
        free(stdio);
        free(env);
        return NULL;
    }
    g->proc_open = true;
    g->pid = g->proc.pid;
    close(pfd[1]);
    pfd[1] = -1;
    uv_pipe_init(loop, &g->ready, 0);
    g->ready.data = g;
    g->ready_open = true;
    if (uv_pipe_open(&g->ready, pfd[0]) || uv_read_start((uv_stream_t *)&g->ready, ready_alloc, ready_read)) {
        uv_close((uv_handle_t *)&g->ready, on_ready_closed);
        vial__gen_kill(g, SIGKILL);
    }
    free(stdio);
    free(env);
    return g;
fail:
    rc = errno ? -errno : rc;
    vial_log(VIAL_LOG_ERROR, "cannot prepare a new generation: %s", strerror(-rc));
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    free(stdio);
    free(env);
    gen_maybe_free(g);
    return NULL;
}

long vial__gen_pid(const vial__gen *g)
{
    return g->pid;
}

bool vial__gen_exited(const vial__gen *g, int64_t *status, int *signo)
{
    if (status)
        *status = g->status;
    if (signo)
        *signo = g->signo;
    return g->exited;
}

bool vial__gen_is_ready(const vial__gen *g)
{
    return g->got_ready;
}

void vial__gen_kill(vial__gen *g, int signo)
{
    if (!g->exited)
        uv_process_kill(&g->proc, signo);
}

void vial__gen_retarget(vial__gen *g, vial__gen_cb on_ready, vial__gen_cb on_exit, void *ud)
{
    g->on_ready = on_ready;
    g->on_exit = on_exit;
    g->ud = ud;
}

bool vial__supervised_env(void)
{
    return getenv("VIAL_SUPERVISED") != NULL;
}

void vial__gen_forget(vial__gen *g)
{
    g->on_ready = g->on_exit = NULL;
    if (g->ready_open && !uv_is_closing((uv_handle_t *)&g->ready))
        uv_close((uv_handle_t *)&g->ready, on_ready_closed);
    if (g->proc_open && !uv_is_closing((uv_handle_t *)&g->proc))
        uv_close((uv_handle_t *)&g->proc, on_proc_closed);
}

size_t vial__gen_describe(const vial__gen *g, char *out, size_t cap)
{
    if (!cap)
        return 0;
    out[0] = '\0';
    if (!g->sb)
        return 0;
    size_t n = 0;
    int crashed = atomic_load(&g->sb->crashed);
    for (uint32_t i = 0; i < g->sb->ncells && n + 1 < cap; i++) {
        sbcell *c = &g->sb->cell[i];
        if (!atomic_load_explicit(&c->busy, memory_order_acquire))
            continue;
        char id[sizeof c->reqid], what[sizeof c->what];
        memcpy(id, c->reqid, sizeof id);
        memcpy(what, c->what, sizeof what);
        id[sizeof id - 1] = what[sizeof what - 1] = '\0';
        int k = snprintf(out + n, cap - n, "%s%s request %s \"%s\" (worker %u)", n ? "; " : "",
                         crashed == (int)i + 1 ? "while serving" : "in progress:", id, what, i);
        if (k < 0)
            break;
        n += (size_t)k < cap - n ? (size_t)k : cap - n - 1;
    }
    return n;
}

int vial__gen_hung(const vial__gen *g, uint64_t max_age_ms, long *tid)
{
    if (!g->sb || !g->got_ready || g->exited)
        return -1;
    uint64_t now = mono_ms();
    for (uint32_t i = 0; i < g->sb->ncells; i++) {
        uint64_t b = atomic_load(&g->sb->cell[i].beat_ms);
        if (b && now - b > max_age_ms) {
            *tid = atomic_load(&g->sb->cell[i].tid);
            return (int)i;
        }
    }
    return -1;
}

void vial__gen_signal_thread(vial__gen *g, long tid, int signo)
{
    if (!g->exited && tid > 0)
        syscall(SYS_tgkill, (pid_t)g->pid, (pid_t)tid, signo);
}

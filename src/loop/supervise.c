/*
 * supervise.c — --processes N: a small process that owns the listening
 * sockets and runs N server processes on them, like nginx's master or
 * gunicorn's arbiter.  It opens no database and runs no view, so a
 * handler's segfault, an abort or the OOM killer takes one process, never
 * the sockets: the others keep accepting from the same queues while the
 * supervisor logs what died (its signal, and from the process's scoreboard
 * the request it was serving) and starts another at once.
 *
 * Every process accepts from every socket, so none of the kernel's queued
 * connections waits for a dead one.  SIGHUP starts a whole new generation
 * and retires the old one (SIGTERM: it drains) only once every new process
 * listens; a generation that fails leaves the old one serving.  A worker
 * whose loop stops turning for hang_timeout is aborted on its own thread
 * (tgkill), so its crash report names the request it was stuck in.
 */
#include "loop_impl.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define RESTART_WINDOW_MS 10000 /* more than RESTART_BURST deaths in it: */
#define RESTART_BURST 5
#define RESTART_DELAY_MS 1000   /* wait this long before the next start */
#define ABORT_GRACE_MS 5000     /* a hung process that outlives its SIGABRT gets SIGKILL */

typedef struct sup sup;

typedef struct pslot {
    sup *s;
    int idx;
    vial__gen *cur, *next; /* serving; starting in a reload */
    uint64_t window_start;
    int deaths;
    uint64_t start_at;     /* > 0: start a process then (after a burst of deaths) */
    uint64_t aborted_at;   /* a hung process was sent SIGABRT then */
} pslot;

struct sup {
    const vial__loop_cfg *cfg;
    int nproc, workers;
    int *fds, nfds;
    uv_loop_t loop;
    pslot *slots;
    int nold;              /* retired processes still draining */
    int stop;              /* stop signals received */
    bool serving;          /* the first generation listened */
    bool failed;           /* the first generation did not */
    bool reloading;
    int next_ready;
    uv_timer_t tick, reload_timer, watchdog;
    uv_signal_t sig[5];
};

static uint64_t now_ms(sup *s)
{
    return uv_now(&s->loop);
}

static int alive(sup *s)
{
    int n = s->nold;
    for (int i = 0; i < s->nproc; i++)
        n += (s->slots[i].cur != NULL) + (s->slots[i].next != NULL);
    return n;
}

static void maybe_done(sup *s)
{
    if ((s->stop || s->failed) && alive(s) == 0)
        uv_stop(&s->loop);
}

static void each_child(sup *s, int signo)
{
    for (int i = 0; i < s->nproc; i++) {
        if (s->slots[i].cur)
            vial__gen_kill(s->slots[i].cur, signo);
        if (s->slots[i].next)
            vial__gen_kill(s->slots[i].next, signo);
    }
}

static void describe_exit(vial__gen *g, char *out, size_t cap)
{
    int64_t status;
    int signo;
    vial__gen_exited(g, &status, &signo);
    int n = signo ? snprintf(out, cap, "died of signal %d (%s)", signo, strsignal(signo))
                  : snprintf(out, cap, "exited with status %d", (int)status);
    if (n > 0 && (size_t)n < cap) {
        out[n++] = ' ';
        size_t k = vial__gen_describe(g, out + n, cap - (size_t)n);
        if (!k)
            out[n - 1] = '\0';
    }
}

/* ------------------------------------------------------------------ processes */

static void start_slot(pslot *p);

static void retired_exit(vial__gen *g, void *ud)
{
    sup *s = ud;
    vial__gen_forget(g);
    s->nold--;
    maybe_done(s);
}

static void first_ready(sup *s)
{
    for (int i = 0; i < s->nproc; i++)
        if (!s->slots[i].cur || !vial__gen_is_ready(s->slots[i].cur))
            return;
    s->serving = true;
    vial_log(VIAL_LOG_INFO, "supervisor %ld: %d processes serving", (long)getpid(), s->nproc);
    vial__proc_ready(s->cfg, "serving");
}

static void cur_ready(vial__gen *g, void *ud)
{
    pslot *p = ud;
    sup *s = p->s;
    if (s->serving)
        vial_log(VIAL_LOG_INFO, "process %ld (slot %d) serves", vial__gen_pid(g), p->idx);
    else
        first_ready(s);
}

static void cur_exit(vial__gen *g, void *ud)
{
    pslot *p = ud;
    sup *s = p->s;
    char why[1024];
    describe_exit(g, why, sizeof why);
    vial__gen_forget(g);
    p->cur = NULL;
    p->aborted_at = 0;
    if (s->stop) {
        maybe_done(s);
        return;
    }
    if (!s->serving) {
        /* The first generation could not start: the configuration, the
         * database, the binary.  Say so and stop, as one process would. */
        vial_log(VIAL_LOG_ERROR, "process of slot %d %s before it listened: stopping", p->idx, why);
        s->failed = true;
        each_child(s, SIGTERM);
        maybe_done(s);
        return;
    }
    vial_log(VIAL_LOG_ERROR, "process %ld (slot %d) %s; starting another", vial__gen_pid(g), p->idx, why);
    uint64_t now = now_ms(s);
    if (now - p->window_start > RESTART_WINDOW_MS) {
        p->window_start = now;
        p->deaths = 0;
    }
    if (++p->deaths > RESTART_BURST) {
        vial_log(VIAL_LOG_WARN, "slot %d: %d deaths within %d s; next start in %d ms", p->idx, p->deaths,
                 RESTART_WINDOW_MS / 1000, RESTART_DELAY_MS);
        p->start_at = now + RESTART_DELAY_MS;
        return;
    }
    start_slot(p);
}

static void start_slot(pslot *p)
{
    sup *s = p->s;
    p->start_at = 0;
    p->cur = vial__gen_spawn(&s->loop, s->cfg, s->fds, s->nfds, p->idx, (uint32_t)s->workers, cur_ready,
                             cur_exit, p);
    if (!p->cur)
        p->start_at = now_ms(s) + RESTART_DELAY_MS;
}

/* ------------------------------------------------------------------ reload */

static void reload_end(sup *s, bool ok)
{
    s->reloading = false;
    uv_timer_stop(&s->reload_timer);
    if (ok)
        vial__notify("READY=1\nSTATUS=reloaded");
    else
        vial__notify("READY=1\nSTATUS=reload failed; serving with the previous generation");
}

static void next_exit(vial__gen *g, void *ud);

static void next_ready(vial__gen *g, void *ud)
{
    pslot *p = ud;
    sup *s = p->s;
    VIAL__UNUSED(g);
    if (++s->next_ready < s->nproc)
        return;
    /* Every new process listens: retire the old ones (they drain). */
    for (int i = 0; i < s->nproc; i++) {
        pslot *q = &s->slots[i];
        if (q->cur) {
            vial__gen_retarget(q->cur, NULL, retired_exit, s);
            vial__gen_kill(q->cur, SIGTERM);
            s->nold++;
        }
        q->cur = q->next;
        q->next = NULL;
        vial__gen_retarget(q->cur, cur_ready, cur_exit, q);
        q->start_at = 0;
        q->aborted_at = 0;
    }
    vial_log(VIAL_LOG_INFO, "reload: the new generation serves; the previous one finishes its requests");
    reload_end(s, true);
}

static void reload_fail(sup *s, const char *why)
{
    vial_log(VIAL_LOG_ERROR, "reload failed: %s; the previous generation serves on", why);
    for (int i = 0; i < s->nproc; i++) {
        pslot *q = &s->slots[i];
        if (q->next) {
            vial__gen_retarget(q->next, NULL, retired_exit, s);
            vial__gen_kill(q->next, SIGKILL);
            q->next = NULL;
            s->nold++;
        }
    }
    reload_end(s, false);
}

static void next_exit(vial__gen *g, void *ud)
{
    pslot *p = ud;
    sup *s = p->s;
    char why[1024], msg[1100];
    describe_exit(g, why, sizeof why);
    vial__gen_forget(g);
    p->next = NULL;
    snprintf(msg, sizeof msg, "a new process (slot %d) %s", p->idx, why);
    reload_fail(s, msg);
    maybe_done(s);
}

static void reload_timeout(uv_timer_t *t)
{
    sup *s = t->data;
    if (s->reloading)
        reload_fail(s, "the new generation did not listen within reload_timeout");
}

static void reload(sup *s)
{
    if (s->reloading || s->stop || !s->serving) {
        vial_log(VIAL_LOG_WARN, "SIGHUP: a reload, a start or a stop is already under way");
        return;
    }
    vial__notify("RELOADING=1\nSTATUS=reloading");
    vial_log(VIAL_LOG_INFO, "SIGHUP: starting a new generation of %d processes", s->nproc);
    s->reloading = true;
    s->next_ready = 0;
    for (int i = 0; i < s->nproc; i++) {
        pslot *p = &s->slots[i];
        p->next = vial__gen_spawn(&s->loop, s->cfg, s->fds, s->nfds, i, (uint32_t)s->workers, next_ready,
                                  next_exit, p);
        if (!p->next) {
            reload_fail(s, "a process could not be started");
            return;
        }
    }
    uint64_t to = s->cfg->reload_timeout_ms ? s->cfg->reload_timeout_ms : 60000;
    uv_timer_start(&s->reload_timer, reload_timeout, to, 0);
}

/* ------------------------------------------------------------------ timers and signals */

static void on_tick(uv_timer_t *t)
{
    sup *s = t->data;
    uint64_t now = now_ms(s);
    for (int i = 0; i < s->nproc && !s->stop; i++) {
        pslot *p = &s->slots[i];
        if (!p->cur && p->start_at && now >= p->start_at)
            start_slot(p);
        if (!p->cur || !s->cfg->hang_timeout_ms)
            continue;
        if (p->aborted_at) {
            if (now - p->aborted_at > ABORT_GRACE_MS)
                vial__gen_kill(p->cur, SIGKILL);
            continue;
        }
        long tid = 0;
        int w = vial__gen_hung(p->cur, s->cfg->hang_timeout_ms, &tid);
        if (w < 0)
            continue;
        char what[1024];
        vial__gen_describe(p->cur, what, sizeof what);
        vial_log(VIAL_LOG_ERROR, "process %ld (slot %d): worker %d has not turned its loop for %" PRIu64
                                 " ms%s%s: aborting it",
                 vial__gen_pid(p->cur), i, w, s->cfg->hang_timeout_ms, *what ? "; " : "", what);
        vial__gen_signal_thread(p->cur, tid, SIGABRT);
        p->aborted_at = now;
    }
}

static void on_watchdog(uv_timer_t *t)
{
    VIAL__UNUSED(t);
    vial__notify("WATCHDOG=1");
}

static void on_sig(uv_signal_t *h, int signo)
{
    sup *s = h->data;
    switch (signo) {
    case SIGHUP:
        reload(s);
        return;
    case SIGUSR1: {
        int e = vial__log_reopen();
        if (e)
            vial_log(VIAL_LOG_ERROR, "SIGUSR1: cannot reopen the log file: %s", strerror(-e));
        each_child(s, SIGUSR1);
        return;
    }
    default:
        if (s->stop++ == 0) {
            vial__notify("STOPPING=1");
            vial_log(VIAL_LOG_INFO, "SIG%s: stopping %d processes (again to force)", sigabbrev_np(signo),
                     alive(s));
        }
        /* A second signal forces the serving processes (retired ones got
         * theirs and finish within shutdown_timeout). */
        each_child(s, SIGTERM);
        maybe_done(s);
    }
}

int vial__supervise(const vial__loop_cfg *cfg, int nproc, int workers)
{
    if (nproc < 1 || nproc > 256) {
        vial_log(VIAL_LOG_ERROR, "processes: %d is not 1..256", nproc);
        return 1;
    }
    if (!cfg->exe || !cfg->argv) {
        vial_log(VIAL_LOG_ERROR, "processes: the binary's path is unknown");
        return 1;
    }
    if (workers <= 0)
        workers = (int)uv_available_parallelism();
    signal(SIGPIPE, SIG_IGN);
    sup s = { .cfg = cfg, .nproc = nproc, .workers = workers };
    bool inherited;
    s.nfds = vial__listen_sockets(cfg, workers, &s.fds, &inherited);
    if (s.nfds <= 0)
        return 1;
    s.slots = calloc((size_t)nproc, sizeof *s.slots);
    if (!s.slots) {
        free(s.fds);
        return 1;
    }
    uv_loop_init(&s.loop);
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGQUIT };
    for (size_t i = 0; i < VIAL__ARRAY_LEN(sigs); i++) {
        uv_signal_init(&s.loop, &s.sig[i]);
        s.sig[i].data = &s;
        uv_signal_start(&s.sig[i], on_sig, sigs[i]);
    }
    uv_timer_init(&s.loop, &s.tick);
    uv_timer_init(&s.loop, &s.reload_timer);
    uv_timer_init(&s.loop, &s.watchdog);
    s.tick.data = s.reload_timer.data = s.watchdog.data = &s;
    uv_timer_start(&s.tick, on_tick, 250, 250);
    uint64_t usec = vial__watchdog_usec();
    if (usec)
        uv_timer_start(&s.watchdog, on_watchdog, usec / 2000, usec / 2000 ? usec / 2000 : 1);
    vial_log(VIAL_LOG_INFO, "supervisor %ld: starting %d processes of %d workers%s", (long)getpid(), nproc,
             workers, inherited ? " on handed-over sockets" : "");
    for (int i = 0; i < nproc; i++) {
        s.slots[i] = (pslot){ .s = &s, .idx = i, .window_start = 0 };
        start_slot(&s.slots[i]);
        if (!s.slots[i].cur) {
            s.failed = true;
            each_child(&s, SIGTERM);
            break;
        }
    }
    if (!s.failed || alive(&s))
        uv_run(&s.loop, UV_RUN_DEFAULT);
    for (size_t i = 0; i < VIAL__ARRAY_LEN(sigs); i++)
        uv_close((uv_handle_t *)&s.sig[i], NULL);
    uv_close((uv_handle_t *)&s.tick, NULL);
    uv_close((uv_handle_t *)&s.reload_timer, NULL);
    uv_close((uv_handle_t *)&s.watchdog, NULL);
    uv_run(&s.loop, UV_RUN_DEFAULT);
    uv_loop_close(&s.loop);
    for (int i = 0; i < s.nfds; i++)
        close(s.fds[i]);
    free(s.fds);
    free(s.slots);
    if (s.failed)
        return 1;
    vial__pid_file_remove(cfg->pid_file);
    vial_log(VIAL_LOG_INFO, "supervisor %ld: stopped", (long)getpid());
    return 0;
}

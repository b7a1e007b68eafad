/*
 * Unit tests for src/loop/loop.c: the server, driven through
 * vial__loop_serve() with a tiny line protocol of its own (no HTTP, no app)
 * on a loopback port, in a thread — workers started and stopped once each,
 * the worker count (and its refusals), cross-thread posts landing on the
 * right worker's thread, a port already in use refused before any worker
 * starts, a worker that cannot start, and graceful stop: idle connections
 * closed at once, an in-flight one allowed to finish, a second signal or
 * the shutdown timeout forcing the rest.
 */
#include "unit.h"
#include "loop/loop_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ------------------------------------------------------------------ a server run */

typedef struct run {
    vial__loop_cfg cfg;
    vial__server *srv;
    int rc;
    pthread_t th;
    int fail_worker;        /* worker_start returns NULL for this id (-1: none) */
    atomic_int started, stopped, accepted, closed, turns;
    atomic_uint started_ids; /* bit per worker id */
    atomic_int oddities;     /* what the callbacks found wrong (no asserts off the test thread) */
} run;

typedef struct wstate {
    run *r;
    int id;
} wstate;

static void *w_start(void *ud, int id, vial__pool *pool)
{
    run *r = ud;
    if (!pool)
        atomic_fetch_add(&r->oddities, 1);
    if (id == r->fail_worker)
        return NULL;
    wstate *w = malloc(sizeof *w);
    w->r = r;
    w->id = id;
    atomic_fetch_add(&r->started, 1);
    atomic_fetch_or(&r->started_ids, 1u << id);
    return w;
}

static void w_stop(void *ud, void *ws)
{
    run *r = ud;
    if (((wstate *)ws)->r != r)
        atomic_fetch_add(&r->oddities, 1);
    atomic_fetch_add(&r->stopped, 1);
    free(ws);
}

static void w_turn(void *ws)
{
    atomic_fetch_add(&((wstate *)ws)->r->turns, 1);
}

/* ---- the line protocol: "ping" → "pong", "slow" starts a request that
 * only a post finishes, "quit" closes */
typedef struct line {
    vial__conn *conn;
    wstate *w;
    bool busy;
} line;

static line *_Atomic busy_line;       /* the one in-flight request */
static _Atomic(uint64_t) busy_conn_id;
static atomic_int busy_worker = -1;

static void l_attach(void *ud, const vial__transport *tp, void *tp_ud, vial__outq *out)
{
    (void)tp;
    (void)out;
    ((line *)ud)->conn = tp_ud;
}

static void l_received(void *ud, const char *d, size_t n)
{
    line *l = ud;
    if (n >= 4 && !memcmp(d, "ping", 4)) {
        vial__conn_send(l->conn, "pong", 4);
    } else if (n >= 4 && !memcmp(d, "slow", 4)) {
        l->busy = true;
        atomic_store(&busy_conn_id, vial__conn_id(l->conn));
        atomic_store(&busy_worker, vial__conn_worker(l->conn));
        atomic_store(&busy_line, l);
    } else if (n >= 4 && !memcmp(d, "quit", 4)) {
        vial__conn_close(l->conn);
    }
}

static bool l_drain(void *ud)
{
    return !((line *)ud)->busy; /* idle: close now; busy: let it finish */
}

static void l_close(void *ud)
{
    line *l = ud;
    atomic_fetch_add(&l->w->r->closed, 1);
    line *expected = l;
    atomic_compare_exchange_strong(&busy_line, &expected, NULL);
    free(l);
}

static const vial__proto line_proto = { .attach = l_attach, .received = l_received,
                                        .drain = l_drain, .close = l_close };

static const vial__proto *w_accept(void *ws, const char *client, bool admin, void **pud)
{
    wstate *w = ws;
    if (strcmp(client, "127.0.0.1"))
        atomic_fetch_add(&w->r->oddities, 1);
    line *l = calloc(1, sizeof *l);
    l->w = w;
    *pud = l;
    atomic_fetch_add(&w->r->accepted, 1);
    return &line_proto;
}

static const vial__loop_ops ops = { w_start, w_stop, w_accept, w_turn };

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    return ntohs(a.sin_port);
}

static void run_init(run *r, int workers)
{
    memset(r, 0, sizeof *r);
    r->fail_worker = -1;
    r->cfg = (vial__loop_cfg){ .name = "looptest", .host = "127.0.0.1", .port = free_port(),
                               .workers = workers, .backlog = 64,
                               .idle_timeout_ms = 60000, .header_timeout_ms = 60000,
                               .body_timeout_ms = 60000, .write_timeout_ms = 60000,
                               .shutdown_timeout_ms = 20000, .max_pending_output = 1 << 20 };
    atomic_store(&busy_line, NULL);
    atomic_store(&busy_worker, -1);
}

static void *serve_main(void *arg)
{
    run *r = arg;
    r->rc = vial__loop_serve(&r->cfg, &ops, r, &r->srv);
    return NULL;
}

static void run_start(run *r)
{
    assert_int_equal(pthread_create(&r->th, NULL, serve_main, r), 0);
}

static int run_join(run *r)
{
    pthread_join(r->th, NULL);
    assert_int_equal(atomic_load(&r->oddities), 0);
    return r->rc;
}

static int dial(const run *r)
{
    for (int i = 0; i < 250; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r->cfg.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            struct timeval tv = { 10, 0 };
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            return fd;
        }
        close(fd);
        usleep(20000);
    }
    fail_msg("cannot connect to the test server");
    return -1;
}

/* Sends `msg` and reads the reply (up to `want` bytes). */
static char *ask(int fd, const char *msg, size_t want)
{
    static char buf[64];
    assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
    size_t n = 0;
    while (n < want) {
        ssize_t k = read(fd, buf + n, want - n);
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    buf[n] = '\0';
    return buf;
}

/* True once the peer has closed (EOF or reset) within the receive timeout. */
static bool sees_close(int fd)
{
    char c;
    ssize_t k;
    while ((k = read(fd, &c, 1)) > 0)
        ;
    return k == 0 || (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* True while the connection is open with nothing to read. */
static bool still_open(int fd)
{
    char c;
    ssize_t k = recv(fd, &c, 1, MSG_DONTWAIT);
    return k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

static void wait_for(atomic_int *v, int at_least)
{
    for (int i = 0; i < 1000 && atomic_load(v) < at_least; i++)
        usleep(10000);
    assert_true(atomic_load(v) >= at_least);
}

/* Silences the loop's own log lines (listening, stopping) for a test. */
static int quiet(void **state)
{
    (void)state;
    vial__log_level = VIAL_LOG_ERROR + 1;
    return 0;
}

/* ------------------------------------------------------------------ lifecycle */

static void test_workers_start_and_stop_once(void **state)
{
    (void)state;
    run r;
    run_init(&r, 3);
    run_start(&r);
    int fd = dial(&r);
    assert_string_equal(ask(fd, "ping", 4), "pong");
    assert_int_equal(atomic_load(&r.started), 3);
    assert_int_equal(atomic_load(&r.started_ids), 7); /* ids 0, 1 and 2 */
    assert_int_equal(vial__server_workers(r.srv), 3);
    assert_true(atomic_load(&r.turns) > 0); /* ops->turn runs every loop turn */
    close(fd);
    kill(getpid(), SIGTERM);
    assert_int_equal(run_join(&r), 0);
    assert_int_equal(atomic_load(&r.stopped), 3);
    assert_int_equal(atomic_load(&r.closed), atomic_load(&r.accepted));
    assert_null(r.srv); /* cleared before returning */
}

static void test_zero_workers_means_one_per_core(void **state)
{
    (void)state;
    run r;
    run_init(&r, 0);
    run_start(&r);
    int fd = dial(&r);
    assert_string_equal(ask(fd, "ping", 4), "pong");
    assert_int_equal(vial__server_workers(r.srv), (int)uv_available_parallelism());
    close(fd);
    kill(getpid(), SIGTERM);
    assert_int_equal(run_join(&r), 0);
    assert_int_equal(atomic_load(&r.stopped), (int)uv_available_parallelism());
}

static void test_bad_worker_counts_refused(void **state)
{
    (void)state;
    run r;
    run_init(&r, -1);
    assert_int_equal(vial__loop_serve(&r.cfg, &ops, &r, &r.srv), 1);
    r.cfg.workers = 1025;
    assert_int_equal(vial__loop_serve(&r.cfg, &ops, &r, &r.srv), 1);
    assert_int_equal(atomic_load(&r.started), 0);
    assert_null(r.srv);
    r.cfg.workers = 1;
    r.cfg.port = 65536;
    assert_int_equal(vial__loop_serve(&r.cfg, &ops, &r, &r.srv), 1);
    assert_int_equal(atomic_load(&r.started), 0);
}

static void test_port_in_use_refused(void **state)
{
    (void)state;
    for (int reuseport = 0; reuseport < 2; reuseport++) {
        /* someone else listens there already, with or without SO_REUSEPORT:
         * the probe bind says so instead of silently sharing their traffic */
        int other = socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        if (reuseport)
            setsockopt(other, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(other, (struct sockaddr *)&a, sizeof a), 0);
        assert_int_equal(listen(other, 4), 0);
        socklen_t l = sizeof a;
        getsockname(other, (struct sockaddr *)&a, &l);
        run r;
        run_init(&r, 2);
        r.cfg.port = ntohs(a.sin_port);
        assert_int_equal(vial__loop_serve(&r.cfg, &ops, &r, &r.srv), 1);
        assert_int_equal(atomic_load(&r.started), 0); /* refused before any worker */
        assert_null(r.srv);
        close(other);
    }
}

static void test_worker_that_cannot_start(void **state)
{
    (void)state;
    run r;
    run_init(&r, 3);
    r.fail_worker = 1;
    assert_int_equal(vial__loop_serve(&r.cfg, &ops, &r, &r.srv), 1);
    /* the one that started is stopped again; nothing else was made */
    assert_int_equal(atomic_load(&r.started), 1);
    assert_int_equal(atomic_load(&r.stopped), 1);
    assert_null(r.srv);
    /* and the port is free again */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)r.cfg.port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    close(fd);
}

/* ------------------------------------------------------------------ posts */

static atomic_int posted_ran, posted_worker_seen[4];
static pthread_t main_thread;

static void on_worker(void *arg)
{
    int want = (int)(intptr_t)arg;
    /* on that worker's own thread, never the caller's */
    if (vial__current_wctx && vial__current_wctx->id == want && !pthread_equal(pthread_self(), main_thread))
        atomic_fetch_add(&posted_worker_seen[want], 1);
    atomic_fetch_add(&posted_ran, 1);
}

static void test_posts_run_on_their_worker(void **state)
{
    (void)state;
    run r;
    run_init(&r, 3);
    run_start(&r);
    int fd = dial(&r);
    assert_string_equal(ask(fd, "ping", 4), "pong");
    main_thread = pthread_self();
    atomic_store(&posted_ran, 0);
    for (int i = 0; i < 3; i++)
        atomic_store(&posted_worker_seen[i], 0);
    for (int round = 0; round < 10; round++)
        for (int i = 0; i < 3; i++)
            assert_int_equal(vial__post(r.srv, i, on_worker, (void *)(intptr_t)i), 0);
    wait_for(&posted_ran, 30);
    for (int i = 0; i < 3; i++)
        assert_int_equal(atomic_load(&posted_worker_seen[i]), 10);
    /* refusals */
    assert_int_equal(vial__post(r.srv, 3, on_worker, NULL), VIAL_EINVAL);
    assert_int_equal(vial__post(r.srv, -1, on_worker, NULL), VIAL_EINVAL);
    assert_int_equal(vial__post(r.srv, 0, NULL, NULL), VIAL_EINVAL);
    assert_int_equal(vial__post(NULL, 0, on_worker, NULL), VIAL_EINVAL);
    assert_int_equal(vial__server_workers(NULL), 0);
    close(fd);
    kill(getpid(), SIGTERM);
    assert_int_equal(run_join(&r), 0);
}

/* ------------------------------------------------------------------ graceful stop */

static void finish_busy(void *arg)
{
    (void)arg;
    line *l = atomic_load(&busy_line);
    if (!l)
        return;
    l->busy = false;
    vial__conn_send(l->conn, "done", 4);
    vial__conn_close(l->conn);
}

/* Starts a server with one in-flight and one idle connection, then stops
 * it: the idle one closes at once, the busy one stays.  */
static void stop_with_inflight(run *r, int *busy_fd, int *idle_fd)
{
    run_start(r);
    *busy_fd = dial(r);
    assert_int_equal(write(*busy_fd, "slow", 4), 4);
    for (int i = 0; i < 1000 && !atomic_load(&busy_line); i++)
        usleep(10000);
    assert_non_null(atomic_load(&busy_line));
    *idle_fd = dial(r);
    assert_string_equal(ask(*idle_fd, "ping", 4), "pong");
    kill(getpid(), SIGTERM);
    assert_true(sees_close(*idle_fd)); /* idle: closed at once */
}

static void test_graceful_stop_lets_inflight_finish(void **state)
{
    (void)state;
    run r;
    run_init(&r, 2);
    int busy, idle;
    stop_with_inflight(&r, &busy, &idle);
    assert_true(still_open(busy)); /* in flight: not closed with the idle ones */
    /* the request completes (through a post: the loop still runs them) */
    assert_int_equal(vial__post(r.srv, atomic_load(&busy_worker), finish_busy, NULL), 0);
    assert_string_equal(ask(busy, "", 4), "done");
    assert_true(sees_close(busy));
    close(busy);
    close(idle);
    assert_int_equal(run_join(&r), 0);
    assert_int_equal(atomic_load(&r.stopped), 2);
    assert_int_equal(atomic_load(&r.closed), atomic_load(&r.accepted));
}

static void test_second_signal_forces(void **state)
{
    (void)state;
    run r;
    run_init(&r, 2);
    int busy, idle;
    stop_with_inflight(&r, &busy, &idle);
    assert_true(still_open(busy));
    kill(getpid(), SIGTERM); /* again: stop now */
    assert_true(sees_close(busy));
    close(busy);
    close(idle);
    assert_int_equal(run_join(&r), 0);
    assert_int_equal(atomic_load(&r.closed), atomic_load(&r.accepted));
}

static void test_shutdown_timeout_forces(void **state)
{
    (void)state;
    run r;
    run_init(&r, 1);
    r.cfg.shutdown_timeout_ms = 100;
    int busy, idle;
    stop_with_inflight(&r, &busy, &idle);
    assert_true(sees_close(busy)); /* never finished: closed by the timeout */
    close(busy);
    close(idle);
    assert_int_equal(run_join(&r), 0);
    assert_int_equal(atomic_load(&r.stopped), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_workers_start_and_stop_once, quiet),
        cmocka_unit_test_setup(test_zero_workers_means_one_per_core, quiet),
        cmocka_unit_test_setup(test_bad_worker_counts_refused, quiet),
        cmocka_unit_test_setup(test_port_in_use_refused, quiet),
        cmocka_unit_test_setup(test_worker_that_cannot_start, quiet),
        cmocka_unit_test_setup(test_posts_run_on_their_worker, quiet),
        cmocka_unit_test_setup(test_graceful_stop_lets_inflight_finish, quiet),
        cmocka_unit_test_setup(test_second_signal_forces, quiet),
        cmocka_unit_test_setup(test_shutdown_timeout_forces, quiet),
    };
    return RUN_GROUP(tests);
}

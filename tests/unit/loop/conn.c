/* Unit tests for src/loop/conn.c and loop.c: a real server on a loopback
 * port, in a thread: protocol switch after 101 (the WebSocket path),
 * cross-thread posts to a connection, graceful stop on SIGTERM. */
#include "unit.h"
#include "loop/loop.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

static int port;
static vial_app *app;
static atomic_int opened, closed_count;
static _Atomic(uint64_t) conn_id;
static _Atomic(int) conn_worker;

/* ---- an echo protocol: upper-cases what it receives */
typedef struct echo {
    vial__conn *conn;
} echo;

static void e_attach(void *ud, const vial__transport *tp, void *tp_ud, vial__outq *out)
{
    (void)tp;
    (void)out;
    echo *e = ud;
    e->conn = tp_ud; /* a server connection's transport data is the connection */
    atomic_store(&conn_id, vial__conn_id(e->conn));
    atomic_store(&conn_worker, vial__conn_worker(e->conn));
    atomic_fetch_add(&opened, 1);
}

static void e_data(void *ud, const char *d, size_t n)
{
    echo *e = ud;
    char buf[256];
    if (n > sizeof buf)
        n = sizeof buf;
    for (size_t i = 0; i < n; i++)
        buf[i] = (char)((d[i] >= 'a' && d[i] <= 'z') ? d[i] - 32 : d[i]);
    if (n == 4 && !memcmp(d, "quit", 4)) {
        vial__conn_close(e->conn);
        return;
    }
    vial__conn_send(e->conn, buf, n);
}

static void e_close(void *ud)
{
    free(ud);
    atomic_fetch_add(&closed_count, 1);
}

static const vial__proto echo_proto = { .attach = e_attach, .received = e_data, .close = e_close };

static int upgrade(vial_req *req)
{
    const char *u = vial_header(req, "upgrade");
    if (!u || strcmp(u, "echo"))
        return vial_abort(req, 426, "Upgrade: echo required");
    echo *e = calloc(1, sizeof *e);
    if (!e || vial__req_upgrade(req, &echo_proto, e))
        return -1;
    vial_set_header(req, "Upgrade", "echo");
    return vial_send(req, 101, NULL, NULL, 0);
}

static int hello(vial_req *req)
{
    return vial_text(req, 200, "hi");
}

static void *serve(void *arg)
{
    (void)arg;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    char *argv[] = { "t", "run", "--port", ps, "--workers", "2", "--no-access-log", NULL };
    intptr_t rc = vial_run(app, 7, argv);
    return (void *)rc;
}

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

static int dial(void)
{
    for (int i = 0; i < 100; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            struct timeval tv = { 5, 0 };
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            return fd;
        }
        close(fd);
        usleep(20000);
    }
    fail_msg("cannot connect to the test server");
    return -1;
}

/* Reads until `want` appears (or EOF/timeout); returns what was read. */
static char *read_until(int fd, const char *want)
{
    static char buf[8192];
    size_t n = 0;
    buf[0] = 0;
    while (n < sizeof buf - 1 && !strstr(buf, want)) {
        ssize_t r = read(fd, buf + n, sizeof buf - 1 - n);
        if (r <= 0)
            break;
        n += (size_t)r;
        buf[n] = 0;
    }
    return buf;
}

static void post_hello(void *arg)
{
    vial__conn *c = vial__conn_find((uint64_t)(uintptr_t)arg);
    if (c)
        vial__conn_send(c, "POSTED", 6);
}

static void test_upgrade_and_posts(void **state)
{
    (void)state;
    int fd = dial();
    const char req[] = "GET /up HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char *got = read_until(fd, "EARLY");
    assert_non_null(strstr(got, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(got, "Connection: Upgrade\r\n"));
    assert_non_null(strstr(got, "Upgrade: echo\r\n"));
    assert_non_null(strstr(got, "\r\n\r\nEARLY")); /* bytes sent with the request reach the protocol */
    assert_int_equal(write(fd, "more", 4), 4);
    assert_string_equal(read_until(fd, "MORE"), "MORE");

    /* another thread queues bytes onto the connection through its worker */
    uint64_t id = atomic_load(&conn_id);
    vial__server *srv = app->server;
    assert_non_null(srv);
    assert_int_equal(vial__post(srv, atomic_load(&conn_worker), post_hello,
                                       (void *)(uintptr_t)id), 0);
    assert_string_equal(read_until(fd, "POSTED"), "POSTED");
    /* a stale id misses */
    assert_int_equal(vial__post(srv, atomic_load(&conn_worker), post_hello,
                                       (void *)(uintptr_t)(id + (1ull << 32))), 0);

    assert_int_equal(write(fd, "quit", 4), 4);
    char *rest = read_until(fd, "\x01"); /* until EOF */
    assert_string_equal(rest, "");
    close(fd);
    for (int i = 0; i < 100 && atomic_load(&closed_count) < 1; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&opened), 1);
    assert_int_equal(atomic_load(&closed_count), 1);
}

static void test_refused_upgrade_stays_http(void **state)
{
    (void)state;
    int fd = dial();
    const char req[] = "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
                       "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    char *got = read_until(fd, "hi");
    assert_non_null(strstr(got, "HTTP/1.1 426 "));
    assert_non_null(strstr(got, "HTTP/1.1 200 OK"));
    close(fd);
}

static void test_client_peer_closes_upgraded(void **state)
{
    (void)state;
    int before = atomic_load(&closed_count);
    int fd = dial();
    const char req[] = "GET /up HTTP/1.1\r\nHost: x\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    read_until(fd, "\r\n\r\n");
    close(fd); /* the protocol hears it through on_close */
    for (int i = 0; i < 200 && atomic_load(&closed_count) == before; i++)
        usleep(10000);
    assert_int_equal(atomic_load(&closed_count), before + 1);
}

int main(void)
{
    app = vial_app_new("conn-test");
    vial_config_set(app, "log_level", "warn");
    vial_get(app, "/up", upgrade);
    vial_get(app, "/hello", hello);
    port = free_port();
    pthread_t th;
    /* The server thread takes SIGTERM through libuv; keep it off this one. */
    pthread_create(&th, NULL, serve, NULL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_upgrade_and_posts),
        cmocka_unit_test(test_refused_upgrade_stays_http),
        cmocka_unit_test(test_client_peer_closes_upgraded),
    };
    int rc = RUN_GROUP(tests);
    kill(getpid(), SIGTERM);
    void *status;
    pthread_join(th, &status);
    vial_app_free(app);
    if ((intptr_t)status != 0) {
        fprintf(stderr, "vial_run returned %ld after SIGTERM\n", (long)(intptr_t)status);
        return 1;
    }
    return rc;
}

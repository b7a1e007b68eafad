/*
 * Unit tests for src/auth/limit.c: rate limits through the test client —
 * 429 with Retry-After over the limit, counted per client address
 * (VIAL_LIMIT_IP, the address behind trusted proxies), per caller
 * (VIAL_LIMIT_USER: user, API key, or the address when anonymous) or
 * both, limits kept apart by name, a switched-off limit, the blueprint
 * guard skipping the view, and failing open when the store is down; and
 * the login backoff (vial_backoff_*): free failures, then a doubling wait
 * up to its longest, per key, forgotten after a success.
 *
 * The buckets refill at one a minute, so no request here waits for a
 * refill and none depends on how fast the machine is.
 */
#include "unit.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef-limit-secret"

static int ops_from_token(vial_req *req, json_t *claims, vial_identity *id)
{
    id->user_id = json_integer_value(json_object_get(claims, "uid"));
    id->subject = vial_strdup(req, json_string_value(json_object_get(claims, "sub")));
    id->role = "user";
    return 0;
}

static int ops_from_key(vial_req *req, const char *key, vial_identity *id)
{
    (void)req;
    /* "k<key id>u<user id>" */
    if (key[0] != 'k' || !strchr(key, 'u'))
        return VIAL_ENOENT;
    id->key_id = atoi(key + 1);
    id->user_id = atoi(strchr(key, 'u') + 1);
    id->subject = "key";
    id->role = "user";
    return 0;
}

static const vial_auth_ops ops = { ops_from_token, ops_from_key };

static const vial_limit by_ip = { "ip", 1, 2, VIAL_LIMIT_IP };
static const vial_limit by_ip_other = { "other", 1, 2, VIAL_LIMIT_IP };
static const vial_limit by_user = { "user", 1, 2, VIAL_LIMIT_USER };
static const vial_limit by_both = { "both", 1, 3, VIAL_LIMIT_IP | VIAL_LIMIT_USER };
static const vial_limit off = { "off", 0, 1, VIAL_LIMIT_IP };
static const vial_limit tiny_burst = { "tiny", 60, 0.5, VIAL_LIMIT_IP };
static const vial_limit guarded = { "guard", 1, 1, VIAL_LIMIT_IP };

static int views;

static int limited(vial_req *req, const vial_limit *lim)
{
    if (vial_ratelimit(req, lim))
        return 0;
    views++;
    return vial_text(req, 200, "ok");
}

static int h_ip(vial_req *req) { return limited(req, &by_ip); }
static int h_ip_other(vial_req *req) { return limited(req, &by_ip_other); }
static int h_user(vial_req *req) { return limited(req, &by_user); }
static int h_both(vial_req *req) { return limited(req, &by_both); }
static int h_off(vial_req *req) { return limited(req, &off); }
static int h_tiny(vial_req *req) { return limited(req, &tiny_burst); }
static int h_null(vial_req *req) { return limited(req, NULL); }

static int h_guarded(vial_req *req)
{
    views++;
    return vial_text(req, 200, "inside");
}

static vial_app *new_app(const char *redis_url)
{
    vial_app *app = vial_app_new("limit");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "secret_key", SECRET);
    vial_config_set(app, "trusted_proxies", "127.0.0.1"); /* X-Forwarded-For says who calls */
    if (redis_url)
        vial_config_set(app, "redis_url", redis_url);
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    assert_int_equal(vial_auth_init(app, &ops), 0);
    vial_get(app, "/ip", h_ip);
    vial_get(app, "/ip-other", h_ip_other);
    vial_get(app, "/user", h_user);
    vial_get(app, "/both", h_both);
    vial_get(app, "/off", h_off);
    vial_get(app, "/tiny", h_tiny);
    vial_get(app, "/null", h_null);
    vial_bp *bp = vial_bp_new("g");
    assert_int_equal(vial_ratelimit_guard(bp, &guarded), 0);
    vial_get(bp, "/x", h_guarded);
    vial_register(app, bp, "/g");
    assert_int_equal(vial__run_start_hooks(app), 0);
    return app;
}

static char *token(vial_app *app, int uid)
{
    json_t *c = json_pack("{s:s,s:i}", "sub", "someone", "uid", uid);
    char *tok = NULL;
    assert_int_equal(vial_jwt_issue_malloc(app, c, 3600, &tok), 0);
    json_decref(c);
    return tok;
}

/* GET `path` as `ip`, with a bearer token or an API key; returns the status. */
static int hit(vial_app *app, const char *path, const char *ip, const char *tok, const char *key)
{
    char h[2048] = "";
    if (ip)
        snprintf(h, sizeof h, "X-Forwarded-For: %s\r\n", ip);
    if (tok)
        snprintf(h + strlen(h), sizeof h - strlen(h), "Authorization: Bearer %s\r\n", tok);
    if (key)
        snprintf(h + strlen(h), sizeof h - strlen(h), "X-API-Key: %s\r\n", key);
    vial_test_resp *r = vial_test(app, "GET", path, h, NULL, 0);
    assert_non_null(r);
    int status = vial_test_status(r);
    vial_test_free(r);
    return status;
}

static void test_over_the_limit_is_429(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    views = 0;
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 200);
    vial_test_resp *r = vial_test(app, "GET", "/ip", "X-Forwarded-For: 1.1.1.1\r\n", NULL, 0);
    assert_int_equal(vial_test_status(r), 429);
    /* one token a minute: the next one is about a minute away */
    const char *ra = vial_test_header(r, "Retry-After");
    assert_non_null(ra);
    assert_true(atoi(ra) >= 59 && atoi(ra) <= 60);
    json_t *j = json_loads(vial_test_body(r, NULL), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(j, "error")), "too_many_requests_429");
    char want[64];
    snprintf(want, sizeof want, "too many requests; retry in %s s", ra);
    assert_string_equal(json_string_value(json_object_get(j, "message")), want);
    json_decref(j);
    vial_test_free(r);
    assert_int_equal(views, 2); /* the refused request never reached the view */
    vial_app_free(app);
}

static void test_per_ip(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 429);
    /* another address has its own bucket */
    assert_int_equal(hit(app, "/ip", "2.2.2.2", NULL, NULL), 200);
    /* an identity does not change the address's count */
    char *tok = token(app, 5);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", tok, NULL), 429);
    /* and without a proxy header it is the peer's */
    assert_int_equal(hit(app, "/ip", NULL, NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", NULL, NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", NULL, NULL, NULL), 429);
    free(tok);
    vial_app_free(app);
}

static void test_limits_apart_by_name(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", "1.1.1.1", NULL, NULL), 429);
    assert_int_equal(hit(app, "/ip-other", "1.1.1.1", NULL, NULL), 200);
    vial_app_free(app);
}

static void test_per_user(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    char *u1 = token(app, 1), *u2 = token(app, 2);
    /* a user's requests count together from any address */
    assert_int_equal(hit(app, "/user", "1.1.1.1", u1, NULL), 200);
    assert_int_equal(hit(app, "/user", "2.2.2.2", u1, NULL), 200);
    assert_int_equal(hit(app, "/user", "3.3.3.3", u1, NULL), 429);
    /* another user is not affected, even from the same address */
    assert_int_equal(hit(app, "/user", "1.1.1.1", u2, NULL), 200);
    /* API keys count per key, not per user */
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, "k10u1"), 200);
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, "k10u1"), 200);
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, "k10u1"), 429);
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, "k11u1"), 200);
    free(u1);
    free(u2);
    vial_app_free(app);
}

static void test_per_user_anonymous_falls_back_to_address(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, NULL), 429);
    assert_int_equal(hit(app, "/user", "2.2.2.2", NULL, NULL), 200);
    /* refused credentials count as anonymous */
    assert_int_equal(hit(app, "/user", "1.1.1.1", NULL, "nope"), 429);
    /* and anonymous callers do not use up a user's bucket */
    char *u = token(app, 9);
    assert_int_equal(hit(app, "/user", "1.1.1.1", u, NULL), 200);
    free(u);
    vial_app_free(app);
}

static void test_ip_and_user_both_count(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    char *u1 = token(app, 1), *u2 = token(app, 2);
    /* burst 3: the address runs out first when users share it */
    assert_int_equal(hit(app, "/both", "1.1.1.1", u1, NULL), 200);
    assert_int_equal(hit(app, "/both", "1.1.1.1", u2, NULL), 200);
    assert_int_equal(hit(app, "/both", "1.1.1.1", u1, NULL), 200);
    assert_int_equal(hit(app, "/both", "1.1.1.1", u2, NULL), 429);
    /* the user runs out first when it moves between addresses */
    assert_int_equal(hit(app, "/both", "2.2.2.2", u1, NULL), 200);
    assert_int_equal(hit(app, "/both", "3.3.3.3", u1, NULL), 429);
    free(u1);
    free(u2);
    vial_app_free(app);
}

static void test_switched_off(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    for (int i = 0; i < 10; i++) {
        assert_int_equal(hit(app, "/off", "1.1.1.1", NULL, NULL), 200);
        assert_int_equal(hit(app, "/tiny", "1.1.1.1", NULL, NULL), 200); /* burst < 1: off */
        assert_int_equal(hit(app, "/null", "1.1.1.1", NULL, NULL), 200);
    }
    vial_app_free(app);
}

static void test_blueprint_guard(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    views = 0;
    assert_int_equal(hit(app, "/g/x", "1.1.1.1", NULL, NULL), 200);
    assert_int_equal(hit(app, "/g/x", "1.1.1.1", NULL, NULL), 429);
    assert_int_equal(views, 1);
    assert_int_equal(vial_ratelimit_guard(NULL, &guarded), VIAL_EINVAL);
    assert_int_equal(vial_ratelimit_guard(vial_app_bp(app), NULL), VIAL_EINVAL);
    vial_app_free(app);
}

static void test_store_down_fails_open(void **state)
{
    (void)state;
    /* a Redis nobody listens on */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(fd, (struct sockaddr *)&a, sizeof a);
    socklen_t l = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &l);
    close(fd);
    char url[64];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d/0", ntohs(a.sin_port));
    int p[2];
    assert_int_equal(pipe2(p, O_NONBLOCK), 0);
    int saved = dup(2);
    dup2(p[1], 2);
    vial_app *app = new_app(url);
    vial_config_set(app, "log_level", "warn");
    vial_configure(app, 0, NULL);
    int statuses[5];
    for (int i = 0; i < 5; i++)
        statuses[i] = hit(app, "/ip", "1.1.1.1", NULL, NULL);
    dup2(saved, 2);
    close(saved);
    close(p[1]);
    char buf[8192];
    ssize_t n = read(p[0], buf, sizeof buf - 1);
    close(p[0]);
    buf[n > 0 ? n : 0] = '\0';
    for (int i = 0; i < 5; i++)
        assert_int_equal(statuses[i], 200); /* over the burst, yet allowed */
    /* loudly */
    assert_non_null(strstr(buf, "rate limit ip: store unavailable (database unavailable); allowing"));
    vial_app_free(app);
}

static void test_redis_limit(void **state)
{
    (void)state;
    const char *url = getenv("VIAL_TEST_REDIS_URL");
    if (!url || !*url) {
        skip();
        return;
    }
    vial_app *app = new_app(url);
    /* a fresh address per run: the bucket lives in Redis across runs */
    char ip[32];
    uint32_t r = vial__random_u32();
    snprintf(ip, sizeof ip, "10.%u.%u.%u", r >> 24, (r >> 16) & 255, (r >> 8) & 255);
    assert_int_equal(hit(app, "/ip", ip, NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", ip, NULL, NULL), 200);
    assert_int_equal(hit(app, "/ip", ip, NULL, NULL), 429);
    vial_app_free(app);
    /* a second instance shares the limit */
    app = new_app(url);
    assert_int_equal(hit(app, "/ip", ip, NULL, NULL), 429);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ login backoff */

static const vial_backoff login = { "t:login", 3, 4, 0 };

/* /bo/<op>/<key>: check, fail or clear; answers the wait. */
static int h_backoff(vial_req *req)
{
    const char *op = vial_param(req, "op"), *key = vial_param(req, "key");
    if (!strcmp(op, "fail"))
        assert_int_equal(vial_backoff_fail(req, &login, key), 0);
    else if (!strcmp(op, "clear"))
        assert_int_equal(vial_backoff_clear(req, &login, key), 0);
    return vial_textf(req, 200, "%" PRId64, vial_backoff_check(req, &login, key));
}

static int h_misuse(vial_req *req)
{
    char key[600];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    assert_int_equal(vial_backoff_check(req, NULL, "k"), VIAL_EINVAL);
    assert_int_equal(vial_backoff_check(req, &login, NULL), VIAL_EINVAL);
    assert_int_equal(vial_backoff_check(req, &login, key), VIAL_EINVAL); /* would be cut short */
    assert_int_equal(vial_backoff_fail(req, &login, key), VIAL_EINVAL);
    assert_int_equal(vial_backoff_clear(NULL, &login, "k"), VIAL_EINVAL);
    return vial_text(req, 200, "ok");
}

static vial_app *backoff_app(void)
{
    vial_app *app = vial_app_new("backoff");
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_kv_init(app), 0);
    vial_configure(app, 0, NULL);
    vial_get(app, "/bo/<op>/<key>", h_backoff);
    vial_get(app, "/misuse", h_misuse);
    return app;
}

static long wait_of(vial_app *app, const char *op, const char *key)
{
    char target[200];
    snprintf(target, sizeof target, "/bo/%s/%s", op, key);
    vial_test_resp *r = get(app, target);
    assert_int_equal(vial_test_status(r), 200);
    long w = strtol(vial_test_body(r, NULL), NULL, 10);
    vial_test_free(r);
    return w;
}

static void test_backoff_doubles_after_free_failures(void **state)
{
    (void)state;
    vial_app *app = backoff_app();
    assert_int_equal(wait_of(app, "check", "alice"), 0);
    assert_int_equal(wait_of(app, "fail", "alice"), 0);
    assert_int_equal(wait_of(app, "fail", "alice"), 0);
    /* the third failure uses up the free ones: 1 s, then 2, then 4 (the most) */
    assert_int_equal(wait_of(app, "fail", "alice"), 1);
    assert_int_equal(wait_of(app, "fail", "alice"), 2);
    assert_int_equal(wait_of(app, "fail", "alice"), 4);
    assert_int_equal(wait_of(app, "fail", "alice"), 4);
    /* keys are separate */
    assert_int_equal(wait_of(app, "check", "bob"), 0);
    assert_int_equal(wait_of(app, "check", "alice"), 4);
    /* a success forgets them */
    assert_int_equal(wait_of(app, "clear", "alice"), 0);
    assert_int_equal(wait_of(app, "fail", "alice"), 0);
    expect(app, "GET", "/misuse", 200, "ok");
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_over_the_limit_is_429),
        cmocka_unit_test(test_per_ip),
        cmocka_unit_test(test_limits_apart_by_name),
        cmocka_unit_test(test_per_user),
        cmocka_unit_test(test_per_user_anonymous_falls_back_to_address),
        cmocka_unit_test(test_ip_and_user_both_count),
        cmocka_unit_test(test_switched_off),
        cmocka_unit_test(test_blueprint_guard),
        cmocka_unit_test(test_store_down_fails_open),
        cmocka_unit_test(test_redis_limit),
        cmocka_unit_test(test_backoff_doubles_after_free_failures),
    };
    return RUN_GROUP(tests);
}

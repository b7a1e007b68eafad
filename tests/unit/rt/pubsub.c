/*
 * Unit tests for src/rt/pubsub.c: topics.  Without a server (the in-process
 * test client's single worker): delivery, unsubscription (also from inside
 * a delivery), many topics and subscribers, what vial_publish_wanted says.
 * With a server (vial__serve in a thread, 2 workers): every subscriber gets
 * each message on the thread of the worker it subscribed on, in the order
 * one publisher published, from several publishing threads at once; an
 * unsubscribed one gets nothing more.  With VIAL_TEST_REDIS_URL: a message
 * published by another app (another instance) reaches the served app's
 * subscribers through Redis, in order, also the very first one of an
 * instance still connecting; one published by the served app itself
 * reaches them once, not twice.
 */
#include "unit.h"
#include "rt/rt.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ------------------------------------------------------------------ what subscribers saw */

#define MAX_SEEN 20000

typedef struct seen {
    int target;
    pthread_t thread;
    char topic[32];
    char data[32];
} seen;

static seen log_[MAX_SEEN];
static atomic_int nlog;

static void record(void *target, const char *topic, const char *data, size_t len)
{
    int i = atomic_fetch_add(&nlog, 1);
    if (i >= MAX_SEEN)
        return;
    log_[i].target = (int)(intptr_t)target;
    log_[i].thread = pthread_self();
    snprintf(log_[i].topic, sizeof log_[i].topic, "%s", topic);
    snprintf(log_[i].data, sizeof log_[i].data, "%.*s", (int)len, data);
}

static int count_for(int target)
{
    int n = 0;
    for (int i = 0; i < atomic_load(&nlog) && i < MAX_SEEN; i++)
        n += log_[i].target == target;
    return n;
}

static vial_app *new_app(const char *redis_url)
{
    vial_app *app = vial_app_new("t");
    assert_non_null(app);
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    vial_config_set(app, "port", "0");
    vial_config_set(app, "host", "127.0.0.1");
    vial_config_set(app, "workers", "2");
    assert_int_equal(vial_kv_init(app), 0);
    if (redis_url)
        vial_config_set(app, "redis_url", redis_url);
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    atomic_store(&nlog, 0);
    return app;
}

static void pub(vial_app *app, const char *topic, const char *data)
{
    assert_int_equal(vial_publish(app, topic, data, strlen(data)), 0);
}

/* ------------------------------------------------------------------ without a server */

static void test_delivers_to_the_topic_only(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    assert_int_equal(vial_publish_wanted(app, "a"), 0);
    pub(app, "a", "nobody"); /* costs nothing, reaches nobody */
    vial__sub *a = vial__subscribe(app, 0, "a", record, (void *)1);
    vial__sub *b = vial__subscribe(app, 0, "b", record, (void *)2);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal(vial_publish_wanted(app, "a"), 1);
    pub(app, "a", "one");
    pub(app, "b", "two");
    assert_int_equal(atomic_load(&nlog), 2);
    assert_int_equal(log_[0].target, 1);
    assert_string_equal(log_[0].topic, "a");
    assert_string_equal(log_[0].data, "one");
    assert_int_equal(log_[1].target, 2);
    assert_string_equal(log_[1].data, "two");
    vial__unsubscribe(a);
    assert_int_equal(vial_publish_wanted(app, "a"), 0);
    pub(app, "a", "gone");
    assert_int_equal(atomic_load(&nlog), 2);
    vial__unsubscribe(b);
    pub(app, "b", "gone");
    assert_int_equal(atomic_load(&nlog), 2);
    /* a message with NULs and no terminator of its own */
    vial__sub *c = vial__subscribe(app, 0, "c", record, (void *)3);
    assert_int_equal(vial_publish(app, "c", "x\0y", 3), 0);
    assert_int_equal(atomic_load(&nlog), 3);
    assert_int_equal(vial_publish(app, "c", NULL, 0), 0);
    assert_int_equal(atomic_load(&nlog), 4);
    assert_int_equal(vial_publish(app, "c", NULL, 1), VIAL_EINVAL);
    assert_int_equal(vial_publish(app, NULL, "x", 1), VIAL_EINVAL);
    vial__unsubscribe(c);
    vial_app_free(app);
}

static void test_many_topics_and_subscribers(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    enum { TOPICS = 300, PER = 3 };
    vial__sub *subs[TOPICS][PER];
    char name[32];
    for (int t = 0; t < TOPICS; t++)
        for (int k = 0; k < PER; k++) {
            snprintf(name, sizeof name, "topic-%d", t);
            subs[t][k] = vial__subscribe(app, 0, name, record, (void *)(intptr_t)(t * PER + k));
            assert_non_null(subs[t][k]);
        }
    for (int t = 0; t < TOPICS; t++) {
        snprintf(name, sizeof name, "topic-%d", t);
        pub(app, name, name);
    }
    assert_int_equal(atomic_load(&nlog), TOPICS * PER);
    for (int i = 0; i < TOPICS * PER; i++) {
        snprintf(name, sizeof name, "topic-%d", log_[i].target / PER);
        assert_string_equal(log_[i].topic, name); /* each got its own topic's message */
        assert_string_equal(log_[i].data, name);
    }
    /* Half unsubscribe: the other half still gets messages. */
    for (int t = 0; t < TOPICS; t++)
        for (int k = 0; k < PER; k += 2)
            vial__unsubscribe(subs[t][k]);
    atomic_store(&nlog, 0);
    for (int t = 0; t < TOPICS; t++) {
        snprintf(name, sizeof name, "topic-%d", t);
        pub(app, name, "again");
    }
    assert_int_equal(atomic_load(&nlog), TOPICS);
    for (int i = 0; i < TOPICS; i++)
        assert_int_equal(log_[i].target % PER, 1);
    for (int t = 0; t < TOPICS; t++)
        vial__unsubscribe(subs[t][1]);
    for (int t = 0; t < TOPICS; t++) {
        snprintf(name, sizeof name, "topic-%d", t);
        assert_int_equal(vial_publish_wanted(app, name), 0);
    }
    vial_app_free(app);
}

/* A subscriber that, when called, ends itself and another subscriber of
 * the same topic (what an SSE stream's clean-up does when its client goes
 * during a delivery). */
static vial__sub *victims[3];
static int calls_of[3];

static void ender(void *target, const char *topic, const char *data, size_t len)
{
    (void)topic, (void)data, (void)len;
    int me = (int)(intptr_t)target;
    calls_of[me]++;
    if (me == 0) {
        vial__unsubscribe(victims[0]);
        vial__unsubscribe(victims[1]);
        vial__unsubscribe(victims[1]); /* twice: nothing more happens */
    }
}

static void test_unsubscribing_during_a_delivery(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    /* Newest first: 2, 1, 0 — make 0 run before 1 by subscribing it last. */
    victims[1] = vial__subscribe(app, 0, "t", ender, (void *)1);
    victims[2] = vial__subscribe(app, 0, "t", ender, (void *)2);
    victims[0] = vial__subscribe(app, 0, "t", ender, (void *)0);
    pub(app, "t", "m");
    assert_int_equal(calls_of[0], 1);
    assert_int_equal(calls_of[1], 0); /* ended before its turn */
    assert_int_equal(calls_of[2], 1);
    pub(app, "t", "m");
    assert_int_equal(calls_of[0], 1);
    assert_int_equal(calls_of[1], 0);
    assert_int_equal(calls_of[2], 2);
    vial__unsubscribe(victims[2]);
    assert_int_equal(vial_publish_wanted(app, "t"), 0);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ with a server */

typedef struct served {
    vial_app *app;
    pthread_t th;
    int rc;
} served;

static void *serve_main(void *arg)
{
    served *s = arg;
    s->rc = vial__serve(s->app);
    return NULL;
}

static void serve(served *s, vial_app *app)
{
    s->app = app;
    assert_int_equal(vial__run_start_hooks(app), 0);
    assert_int_equal(vial__app_compile(app), 0);
    assert_int_equal(pthread_create(&s->th, NULL, serve_main, s), 0);
    for (int i = 0; i < 500 && !__atomic_load_n(&app->server, __ATOMIC_ACQUIRE); i++)
        usleep(10000);
    assert_non_null(app->server);
    usleep(50000); /* the workers' loops are up */
}

static void unserve(served *s)
{
    kill(getpid(), SIGTERM);
    pthread_join(s->th, NULL);
    assert_int_equal(s->rc, 0);
}

/* Subscriptions are made on the worker that owns the subscriber: a post
 * to it subscribes there and says which thread that was. */
typedef struct on_worker {
    vial_app *app;
    int worker;
    const char *topic;
    int target;
    vial__sub *sub;
    bool unsubscribe;
    pthread_t thread;
    atomic_int done;
} on_worker;

static void subscribe_there(void *arg)
{
    on_worker *o = arg;
    o->thread = pthread_self();
    if (o->unsubscribe)
        vial__unsubscribe(o->sub);
    else
        o->sub = vial__subscribe(o->app, o->worker, o->topic, record, (void *)(intptr_t)o->target);
    atomic_store(&o->done, 1);
}

static void run_on(on_worker *o)
{
    atomic_store(&o->done, 0);
    assert_int_equal(vial__post(o->app->server, o->worker, subscribe_there, o), 0);
    for (int i = 0; i < 500 && !atomic_load(&o->done); i++)
        usleep(2000);
    assert_true(atomic_load(&o->done));
}

static bool wait_count(int want, int ms)
{
    for (int i = 0; i < ms / 5 && atomic_load(&nlog) < want; i++)
        usleep(5000);
    usleep(20000); /* and nothing more comes */
    return atomic_load(&nlog) == want;
}

typedef struct publisher {
    vial_app *app;
    int id, n;
} publisher;

static void *publish_many(void *arg)
{
    publisher *p = arg;
    char data[32];
    for (int i = 0; i < p->n; i++) {
        snprintf(data, sizeof data, "%d:%d", p->id, i);
        if (vial_publish(p->app, "orders", data, strlen(data)))
            abort();
    }
    return NULL;
}

static void test_workers_get_messages_in_order_on_their_threads(void **state)
{
    (void)state;
    vial_app *app = new_app(NULL);
    served s;
    serve(&s, app);
    /* Two subscribers on worker 0, one on worker 1, one elsewhere. */
    on_worker o[4] = { { .app = app, .worker = 0, .topic = "orders", .target = 10 }, { .app = app, .worker = 0, .topic = "orders", .target = 11 }, { .app = app, .worker = 1, .topic = "orders", .target = 12 },
                       { .app = app, .worker = 1, .topic = "other", .target = 13 } };
    for (int i = 0; i < 4; i++) {
        run_on(&o[i]);
        assert_non_null(o[i].sub);
    }
    assert_false(pthread_equal(o[0].thread, o[2].thread));
    enum { PUBS = 3, EACH = 1000 };
    publisher p[PUBS];
    pthread_t th[PUBS];
    for (int i = 0; i < PUBS; i++) {
        p[i] = (publisher){ app, i, EACH };
        assert_int_equal(pthread_create(&th[i], NULL, publish_many, &p[i]), 0);
    }
    for (int i = 0; i < PUBS; i++)
        pthread_join(th[i], NULL);
    assert_true(wait_count(3 * PUBS * EACH, 5000));
    /* Per subscriber and publisher, in order; each on its worker's thread. */
    for (int t = 10; t <= 12; t++) {
        int next[PUBS] = { 0 };
        for (int i = 0; i < atomic_load(&nlog); i++) {
            if (log_[i].target != t)
                continue;
            assert_true(pthread_equal(log_[i].thread, o[t - 10].thread));
            int pid, k;
            assert_int_equal(sscanf(log_[i].data, "%d:%d", &pid, &k), 2);
            assert_int_equal(k, next[pid]);
            next[pid]++;
        }
        for (int i = 0; i < PUBS; i++)
            assert_int_equal(next[i], EACH);
    }
    assert_int_equal(count_for(13), 0);
    /* Unsubscribed on worker 1: its only subscriber of "orders" is gone. */
    o[2].unsubscribe = true;
    run_on(&o[2]);
    atomic_store(&nlog, 0);
    pub(app, "orders", "after");
    assert_true(wait_count(2, 2000));
    assert_int_equal(count_for(12), 0);
    for (int i = 0; i < 4; i++)
        if (i != 2) {
            o[i].unsubscribe = true;
            run_on(&o[i]);
        }
    assert_int_equal(vial_publish_wanted(app, "orders"), 0);
    unserve(&s);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ Redis */

static void test_redis_reaches_another_instance_once(void **state)
{
    (void)state;
    const char *url = getenv("VIAL_TEST_REDIS_URL");
    if (!url || !*url) {
        print_message("skipped: VIAL_TEST_REDIS_URL is not set\n");
        return;
    }
    char prefix[64];
    snprintf(prefix, sizeof prefix, "unit-%d:", (int)getpid()); /* not another run's */
    vial_app *app = new_app(url);
    vial_config_set(app, "pubsub_prefix", prefix);
    vial_app *other = new_app(url); /* another instance: never served here */
    vial_config_set(other, "pubsub_prefix", prefix);
    served s;
    serve(&s, app);
    on_worker o[2] = { { .app = app, .worker = 0, .topic = "news", .target = 20 }, { .app = app, .worker = 1, .topic = "news", .target = 21 } };
    for (int i = 0; i < 2; i++)
        run_on(&o[i]);
    assert_int_equal(vial_publish_wanted(other, "anything"), 1); /* Redis: someone may listen */
    /* Until the Redis thread has SUBSCRIBEd, publishes from elsewhere are
     * lost (as Redis pub/sub is): publish until one arrives. */
    int tries = 0;
    while (atomic_load(&nlog) == 0 && tries++ < 200) {
        pub(other, "news", "hello");
        usleep(20000);
    }
    assert_true(atomic_load(&nlog) > 0);
    usleep(100000);
    atomic_store(&nlog, 0);
    for (int i = 0; i < 50; i++) {
        char d[16];
        snprintf(d, sizeof d, "m%d", i);
        pub(other, "news", d);
    }
    assert_true(wait_count(100, 5000));
    int next[2] = { 0 };
    for (int i = 0; i < 100; i++) {
        char want[16];
        int t = log_[i].target - 20;
        snprintf(want, sizeof want, "m%d", next[t]++);
        assert_string_equal(log_[i].data, want); /* in order */
    }
    /* The first publish of an instance whose Redis connection is still
     * being made is held until it is up, not lost. */
    vial_app *fresh = new_app(url); /* (clears the record) */
    vial_config_set(fresh, "pubsub_prefix", prefix);
    pub(fresh, "news", "first words");
    assert_true(wait_count(2, 3000));
    assert_string_equal(log_[0].data, "first words");
    vial_app_free(fresh);
    /* Published by the served app itself: delivered here at once, and not
     * a second time when Redis echoes it back. */
    atomic_store(&nlog, 0);
    pub(app, "news", "own");
    assert_true(wait_count(2, 2000));
    usleep(300000);
    assert_int_equal(atomic_load(&nlog), 2);
    for (int i = 0; i < 2; i++) {
        o[i].unsubscribe = true;
        run_on(&o[i]);
    }
    unserve(&s);
    vial_app_free(other);
    vial_app_free(app);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_delivers_to_the_topic_only),
        cmocka_unit_test(test_many_topics_and_subscribers),
        cmocka_unit_test(test_unsubscribing_during_a_delivery),
        cmocka_unit_test(test_workers_get_messages_in_order_on_their_threads),
        cmocka_unit_test(test_redis_reaches_another_instance_once),
    };
    return RUN_GROUP(tests);
}

/*
 * pubsub.c — topics: a message published on a topic from any thread reaches
 * every subscriber in this process, on the worker that owns it, and — with
 * REDIS_URL set — every subscriber of every other instance through Redis.
 *
 * Subscribers (an SSE stream, a WebSocket) live on one worker each, so each
 * worker keeps its own table of topics and subscribers that only its thread
 * touches: no locks.  What crosses threads is a summary: per hash slot of
 * the topic name, one bit per worker that has a topic in that slot.  A
 * publisher hashes the topic, reads the slot's bits (relaxed-cost atomic
 * loads, never a lock) and posts the message once to each worker whose bit
 * is set (vial__post; one post per worker per message, however many
 * subscribers the worker has).  A worker that got a message for a topic it
 * no longer has (it went meanwhile, or two names share a slot) finds
 * nothing in its own table and drops it.  Before the slot, one counter of
 * subscriptions in the process: with none, a publish costs one atomic load
 * (the log ingest publishes for every stored batch).
 *
 * Across instances: a dedicated thread with its own libuv loop holds two
 * asynchronous hiredis connections (libuv adapter), one SUBSCRIBEd to the
 * channel "<pubsub_prefix><topic>" of every topic this process has a
 * subscriber for, one that PUBLISHes.  Workers never wait on Redis: a
 * publish is copied onto the thread's queue and delivered locally at once;
 * the thread sends it, tagged with this process's random instance id so
 * that it is not delivered twice when it comes back.  When Redis goes away
 * the thread says so in the log, counts what it could not send (logged when
 * it is back: other instances lost those), and reconnects every second,
 * subscribing again to every topic of the moment.
 *
 * Without a server (the in-process test client) there is one worker, the
 * calling thread, and a publish delivers at once.
 */
#include "rt.h"

#include <hiredis/async.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <uv.h>

#define SLOTS 4096        /* hash slots of the cross-thread summary */
#define MAX_WORKERS 1024  /* the most `workers` allows */
#define WORDS (MAX_WORKERS / 64)
#define RETRY_MS 1000     /* reconnecting to Redis */
#define MAX_QUEUED (64u << 20) /* bytes waiting for the Redis thread before publishes are dropped */

static uint64_t hash_topic(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------------ state */

typedef struct topic {
    struct topic *next; /* hash chain */
    uint64_t h;
    vial__sub *subs;    /* doubly linked, newest first */
    size_t nsubs;
    size_t len;
    char name[];
} topic;

struct vial__sub {
    struct psmod *m;
    topic *t;
    vial__deliver_fn deliver; /* NULL once unsubscribed during a delivery */
    void *target;
    int worker;
    vial__sub *prev, *next;
    vial__sub *dead_next;     /* on the worker's list of subscriptions to free */
};

/* One worker's table: only that worker's thread touches it. */
typedef struct wtab {
    topic **b;
    size_t nb, n;
    uint32_t *slot_topics; /* SLOTS: this worker's topics per summary slot */
    int delivering;        /* unsubscriptions meanwhile are only marked */
    vial__sub *dead;
} wtab;

typedef struct rps rps;

/* gcc accepts atomic builtins on plain words, clang wants the type to say so */
typedef _Atomic uint64_t maskword;

typedef struct psmod {
    vial_app *app;
    pthread_mutex_t mu;          /* making the tables, setting up Redis */
    _Atomic(maskword *) mask;    /* SLOTS * WORDS: bit w of a slot = worker w has a topic there */
    wtab *w;                     /* MAX_WORKERS, made with `mask` */
    atomic_long nsubs;           /* subscriptions in the process */
    atomic_int redis_state;      /* 0: not looked at yet, 1: none, 2: Redis */
    rps *r;
    char prefix[64];
    vial_metric *m_deliveries; /* vial_pubsub_deliveries_total, per worker slot */
    int64_t s_deliveries;
} psmod;

/* A message on its way to the workers: one copy, shared by every post. */
typedef struct psmsg {
    atomic_int refs;
    psmod *m;
    size_t tlen, len;
    char *data;
    char topic[]; /* NUL-terminated, then the data (NUL-terminated too) */
} psmsg;

static const char ext_key = 0;

/* The worker the calling thread is (set by its first subscription): a
 * post carries only the message, the thread knows where it runs. */
static _Thread_local int tl_worker = -1;

static psmod *mod_of(vial_app *app)
{
    return app ? vial__app_ext(app, &ext_key) : NULL;
}

static void redis_stop(rps *r);
static int redis_setup(psmod *m);
static void redis_topic(psmod *m, const char *name, size_t len, int delta);
static int redis_publish(psmod *m, const char *name, size_t tlen, const void *data, size_t len);

static void mod_free(void *p)
{
    psmod *m = p;
    if (m->r)
        redis_stop(m->r);
    if (m->w) {
        for (size_t i = 0; i < MAX_WORKERS; i++) {
            wtab *t = &m->w[i];
            for (size_t j = 0; j < t->nb; j++)
                for (topic *tp = t->b[j], *next; tp; tp = next) {
                    next = tp->next;
                    for (vial__sub *s = tp->subs, *sn; s; s = sn) {
                        sn = s->next;
                        free(s);
                    }
                    free(tp);
                }
            free(t->b);
            free(t->slot_topics);
        }
        free(m->w);
    }
    free(atomic_load(&m->mask));
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* The tables, made with the first subscription (an app that never
 * subscribes pays nothing; calloc'd pages nobody touches cost no RSS). */
static int tables(psmod *m)
{
    if (atomic_load_explicit(&m->mask, memory_order_acquire))
        return 0;
    int rc = 0;
    pthread_mutex_lock(&m->mu);
    if (!atomic_load(&m->mask)) {
        m->w = calloc(MAX_WORKERS, sizeof *m->w);
        maskword *mask = calloc((size_t)SLOTS * WORDS, sizeof *mask);
        if (!m->w || !mask) {
            free(m->w);
            m->w = NULL;
            free(mask);
            rc = VIAL_ENOMEM;
        } else {
            atomic_store_explicit(&m->mask, mask, memory_order_release);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* ------------------------------------------------------------------ a worker's table */

static topic *wt_find(wtab *t, const char *name, size_t len, uint64_t h)
{
    if (!t->nb)
        return NULL;
    for (topic *tp = t->b[h & (t->nb - 1)]; tp; tp = tp->next)
        if (tp->h == h && tp->len == len && !memcmp(tp->name, name, len))
            return tp;
    return NULL;
}

static topic *wt_add(psmod *m, wtab *t, int worker, const char *name, size_t len, uint64_t h)
{
    if (!t->slot_topics && !(t->slot_topics = calloc(SLOTS, sizeof *t->slot_topics)))
        return NULL;
    if (t->n >= t->nb) { /* grow to keep chains short */
        size_t nb = t->nb ? t->nb * 2 : 16;
        topic **b = calloc(nb, sizeof *b);
        if (!b)
            return NULL;
        for (size_t i = 0; i < t->nb; i++)
            for (topic *tp = t->b[i], *next; tp; tp = next) {
                next = tp->next;
                tp->next = b[tp->h & (nb - 1)];
                b[tp->h & (nb - 1)] = tp;
            }
        free(t->b);
        t->b = b;
        t->nb = nb;
    }
    topic *tp = calloc(1, sizeof *tp + len + 1);
    if (!tp)
        return NULL;
    tp->h = h;
    tp->len = len;
    memcpy(tp->name, name, len);
    tp->next = t->b[h & (t->nb - 1)];
    t->b[h & (t->nb - 1)] = tp;
    t->n++;
    size_t slot = h & (SLOTS - 1);
    if (t->slot_topics[slot]++ == 0)
        atomic_fetch_or(&atomic_load(&m->mask)[slot * WORDS + (size_t)worker / 64],
                        UINT64_C(1) << (worker % 64));
    redis_topic(m, name, len, +1);
    return tp;
}

static void wt_remove_topic(psmod *m, wtab *t, int worker, topic *tp)
{
    topic **pp = &t->b[tp->h & (t->nb - 1)];
    while (*pp != tp)
        pp = &(*pp)->next;
    *pp = tp->next;
    t->n--;
    size_t slot = tp->h & (SLOTS - 1);
    if (--t->slot_topics[slot] == 0)
        atomic_fetch_and(&atomic_load(&m->mask)[slot * WORDS + (size_t)worker / 64],
                         ~(UINT64_C(1) << (worker % 64)));
    redis_topic(m, tp->name, tp->len, -1);
    free(tp);
}

static void sub_free(psmod *m, wtab *t, vial__sub *s)
{
    topic *tp = s->t;
    if (s->prev)
        s->prev->next = s->next;
    else
        tp->subs = s->next;
    if (s->next)
        s->next->prev = s->prev;
    if (--tp->nsubs == 0)
        wt_remove_topic(m, t, s->worker, tp);
    free(s);
}

vial__sub *vial__subscribe(vial_app *app, int worker, const char *topic_name, vial__deliver_fn deliver,
                           void *target)
{
    psmod *m = mod_of(app);
    if (!m || !topic_name || !deliver || worker < 0 || worker >= MAX_WORKERS || tables(m))
        return NULL;
    if (!atomic_load_explicit(&m->redis_state, memory_order_acquire))
        redis_setup(m); /* the topic must reach Redis's SUBSCRIBE list */
    tl_worker = worker;
    wtab *t = &m->w[worker];
    size_t len = strlen(topic_name);
    uint64_t h = hash_topic(topic_name, len);
    vial__sub *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    topic *tp = wt_find(t, topic_name, len, h);
    if (!tp && !(tp = wt_add(m, t, worker, topic_name, len, h))) {
        free(s);
        return NULL;
    }
    *s = (vial__sub){ .m = m, .t = tp, .deliver = deliver, .target = target, .worker = worker, .next = tp->subs };
    if (tp->subs)
        tp->subs->prev = s;
    tp->subs = s;
    tp->nsubs++;
    /* After the slot's bit: a publisher that sees the count sees the bit. */
    atomic_fetch_add(&m->nsubs, 1);
    return s;
}

void vial__unsubscribe(vial__sub *s)
{
    if (!s || !s->deliver)
        return;
    psmod *m = s->m;
    wtab *t = &m->w[s->worker];
    s->deliver = NULL;
    atomic_fetch_sub(&m->nsubs, 1);
    if (t->delivering) { /* the list is being walked: free it after */
        s->dead_next = t->dead;
        t->dead = s;
        return;
    }
    sub_free(m, t, s);
}

/* ------------------------------------------------------------------ delivering */

/* On the worker's thread: every subscriber of the message's topic there. */
static void deliver_here(psmod *m, int worker, const char *name, size_t tlen, const char *data, size_t len)
{
    if (worker < 0 || worker >= MAX_WORKERS || !m->w)
        return;
    wtab *t = &m->w[worker];
    topic *tp = wt_find(t, name, tlen, hash_topic(name, tlen));
    if (!tp)
        return; /* gone meanwhile, or another name of the same slot */
    t->delivering++;
    size_t n = 0;
    for (vial__sub *s = tp->subs; s; s = s->next)
        if (s->deliver) {
            s->deliver(s->target, tp->name, data, len);
            n++;
        }
    /* Once per message and worker, not per subscriber. */
    if (n)
        vial__metric_add_on(m->app, worker, m->m_deliveries, m->s_deliveries, (double)n);
    /* Subscriptions ended by the callbacks go now (their topic with the
     * last of them), not while the list was walked. */
    if (--t->delivering == 0) {
        while (t->dead) {
            vial__sub *s = t->dead;
            t->dead = s->dead_next;
            sub_free(m, t, s);
        }
    }
}

static void msg_unref(psmsg *msg)
{
    if (atomic_fetch_sub(&msg->refs, 1) == 1)
        free(msg);
}

static void on_post(void *arg)
{
    psmsg *msg = arg;
    deliver_here(msg->m, tl_worker, msg->topic, msg->tlen, msg->data, msg->len);
    msg_unref(msg);
}

static int deliver_on(psmod *m, vial__server *srv, maskword *mask, const char *name, size_t tlen,
                      const void *data, size_t len);

/* Delivers to this process's subscribers (any thread). */
static int deliver_local(psmod *m, const char *name, size_t tlen, const void *data, size_t len)
{
    if (atomic_load_explicit(&m->nsubs, memory_order_acquire) <= 0)
        return 0;
    maskword *mask = atomic_load_explicit(&m->mask, memory_order_acquire);
    if (!mask)
        return 0;
    vial__server *srv = vial__server_hold(&m->app->server);
    int rc = 0;
    if (srv)
        rc = deliver_on(m, srv, mask, name, tlen, data, len);
    else if (!m->app->served) /* the in-process test client: one worker, this thread */
        deliver_here(m, 0, name, tlen, data, len);
    vial__server_release();
    return rc;
}

static int deliver_on(psmod *m, vial__server *srv, maskword *mask, const char *name, size_t tlen,
                      const void *data, size_t len)
{
    int nw = vial__server_workers(srv);
    size_t slot = hash_topic(name, tlen) & (SLOTS - 1);
    uint64_t bits[WORDS];
    int n = 0;
    for (int i = 0; i < (nw + 63) / 64; i++) {
        bits[i] = atomic_load_explicit(&mask[slot * WORDS + (size_t)i], memory_order_acquire);
        n += __builtin_popcountll(bits[i]);
    }
    if (!n)
        return 0;
    psmsg *msg = malloc(sizeof *msg + tlen + 1 + len + 1);
    if (!msg)
        return VIAL_ENOMEM;
    atomic_init(&msg->refs, n);
    msg->m = m;
    msg->tlen = tlen;
    msg->len = len;
    memcpy(msg->topic, name, tlen);
    msg->topic[tlen] = '\0';
    msg->data = msg->topic + tlen + 1;
    if (len)
        memcpy(msg->data, data, len);
    msg->data[len] = '\0';
    int rc = 0;
    for (int i = 0; i < (nw + 63) / 64; i++)
        for (uint64_t b = bits[i]; b; b &= b - 1) {
            int w = i * 64 + __builtin_ctzll(b);
            if (w >= nw || vial__post(srv, w, on_post, msg)) {
                rc = w >= nw ? rc : VIAL_ENOMEM;
                msg_unref(msg);
            }
        }
    return rc;
}

int vial_publish(vial_app *app, const char *topic_name, const void *data, size_t len)
{
    psmod *m = mod_of(app);
    if (!m || !topic_name || (!data && len))
        return VIAL_EINVAL;
    int rs = atomic_load_explicit(&m->redis_state, memory_order_acquire);
    /* The common case of an app nobody listens to: one load more. */
    if (rs == 1 && atomic_load_explicit(&m->nsubs, memory_order_relaxed) <= 0)
        return 0;
    if (!rs)
        rs = redis_setup(m);
    size_t tlen = strlen(topic_name);
    int rc = deliver_local(m, topic_name, tlen, data, len);
    if (rs == 2) {
        int rc2 = redis_publish(m, topic_name, tlen, data, len);
        if (!rc)
            rc = rc2;
    }
    return rc;
}

int vial_publish_wanted(vial_app *app, const char *topic_name)
{
    psmod *m = mod_of(app);
    if (!m || !topic_name)
        return 0;
    int rs = atomic_load_explicit(&m->redis_state, memory_order_acquire);
    if (!rs)
        rs = redis_setup(m);
    if (rs == 2)
        return 1; /* other instances may listen */
    if (atomic_load_explicit(&m->nsubs, memory_order_acquire) <= 0)
        return 0;
    maskword *mask = atomic_load_explicit(&m->mask, memory_order_acquire);
    if (!mask)
        return 0;
    size_t slot = hash_topic(topic_name, strlen(topic_name)) & (SLOTS - 1);
    for (size_t i = 0; i < WORDS; i++)
        if (atomic_load_explicit(&mask[slot * WORDS + i], memory_order_relaxed))
            return 1;
    return 0;
}

/* ------------------------------------------------------------------ Redis: the event glue */

/*
 * hiredis's asynchronous API on the thread's libuv loop.  Not hiredis's
 * own libuv adapter: the one Debian ships (0.14) ignores a poll error, and
 * libuv reports a refused connect (Redis down) as one, so a reconnect
 * attempt would hang forever.  Here an error lets hiredis look at the
 * socket, which is how it learns the connect failed.
 */
typedef struct uvev {
    redisAsyncContext *ac;
    uv_poll_t h;
    int events;
} uvev;

static void ev_poll(uv_poll_t *h, int status, int events)
{
    uvev *e = h->data;
    if (status < 0) /* libuv stopped the handle: let hiredis find the error */
        events = e->events & UV_WRITABLE ? UV_WRITABLE : UV_READABLE;
    if (e->ac && (events & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (events & UV_WRITABLE))
        redisAsyncHandleWrite(e->ac);
}

static void ev_set(uvev *e, int add, int del)
{
    e->events = (e->events | add) & ~del;
    if (e->events)
        uv_poll_start(&e->h, e->events, ev_poll);
    else
        uv_poll_stop(&e->h);
}

static void ev_add_read(void *p) { ev_set(p, UV_READABLE, 0); }
static void ev_del_read(void *p) { ev_set(p, 0, UV_READABLE); }
static void ev_add_write(void *p) { ev_set(p, UV_WRITABLE, 0); }
static void ev_del_write(void *p) { ev_set(p, 0, UV_WRITABLE); }

static void ev_closed(uv_handle_t *h)
{
    free(h->data);
}

static void ev_cleanup(void *p)
{
    uvev *e = p;
    e->ac = NULL;
    uv_close((uv_handle_t *)&e->h, ev_closed);
}

static int ev_attach(redisAsyncContext *ac, uv_loop_t *loop)
{
    uvev *e = calloc(1, sizeof *e);
    if (!e)
        return VIAL_ENOMEM;
    if (uv_poll_init_socket(loop, &e->h, ac->c.fd)) {
        free(e);
        return VIAL_ESYS;
    }
    e->h.data = e;
    e->ac = ac;
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ------------------------------------------------------------------ Redis: the thread */

enum { RQ_PUBLISH, RQ_TOPIC };

/* A job for the Redis thread: a message to PUBLISH, or a topic whose
 * SUBSCRIBE to bring in line with this process's subscribers. */
typedef struct rq {
    struct rq *next;
    int kind;
    size_t tlen, len;
    char *data;
    char topic[];
} rq;

/* A topic this process has subscribers for, with how many workers have it. */
typedef struct rtopic {
    struct rtopic *next;
    long count;
    size_t len;
    char name[];
} rtopic;

struct rps {
    psmod *m;
    vial__redis_addr addr;
    unsigned char instance[8]; /* tags what this process publishes */
    pthread_t th;
    uv_loop_t loop;
    uv_async_t async;
    uv_timer_t retry;
    /* the thread's own */
    redisAsyncContext *sub, *pub;
    bool sub_up, pub_up, ever_up, down;
    rq *held, **held_tail; /* publishes waiting for a connection being made */
    size_t held_bytes;
    /* shared, under mu */
    pthread_mutex_t mu;
    rq *head, **tail;
    size_t queued;
    uint64_t lost; /* publishes other instances did not get since last said */
    bool stopping;
    rtopic *topics;
};

static rtopic **rtopic_find(rps *r, const char *name, size_t len)
{
    rtopic **pp = &r->topics;
    while (*pp && ((*pp)->len != len || memcmp((*pp)->name, name, len)))
        pp = &(*pp)->next;
    return pp;
}

static void enqueue(rps *r, rq *j, size_t bytes)
{
    j->next = NULL;
    *r->tail = j;
    r->tail = &j->next;
    r->queued += bytes;
}

static rq *job_new(int kind, const char *name, size_t tlen, const void *data, size_t len)
{
    rq *j = malloc(sizeof *j + tlen + 1 + len);
    if (!j)
        return NULL;
    j->kind = kind;
    j->tlen = tlen;
    j->len = len;
    memcpy(j->topic, name, tlen);
    j->topic[tlen] = '\0';
    j->data = j->topic + tlen + 1;
    if (len)
        memcpy(j->data, data, len);
    return j;
}

/* A worker gained its first subscriber of a topic (+1) or lost its last
 * (-1); the process's count of such workers going 0 <-> 1 changes what the
 * thread is SUBSCRIBEd to. */
static void redis_topic(psmod *m, const char *name, size_t len, int delta)
{
    rps *r = m->r;
    if (!r)
        return;
    rq *j = job_new(RQ_TOPIC, name, len, NULL, 0);
    pthread_mutex_lock(&r->mu);
    rtopic **pp = rtopic_find(r, name, len);
    bool change = false;
    if (!*pp && delta > 0 && (*pp = calloc(1, sizeof **pp + len + 1))) {
        (*pp)->len = len;
        memcpy((*pp)->name, name, len);
    }
    if (*pp) {
        (*pp)->count += delta;
        change = (delta > 0 && (*pp)->count == 1) || (*pp)->count <= 0;
        if ((*pp)->count <= 0) {
            rtopic *gone = *pp;
            *pp = gone->next;
            free(gone);
        }
    }
    if (change && j) {
        enqueue(r, j, 0);
        j = NULL;
    }
    pthread_mutex_unlock(&r->mu);
    free(j);
    if (change)
        uv_async_send(&r->async);
}

static int redis_publish(psmod *m, const char *name, size_t tlen, const void *data, size_t len)
{
    rps *r = m->r;
    rq *j = job_new(RQ_PUBLISH, name, tlen, data, len);
    pthread_mutex_lock(&r->mu);
    bool ok = j && r->queued + len <= MAX_QUEUED;
    if (ok)
        enqueue(r, j, len);
    else
        r->lost++; /* said by the thread when it reports */
    pthread_mutex_unlock(&r->mu);
    if (!ok) {
        free(j);
        return j ? VIAL_ETOOBIG : VIAL_ENOMEM;
    }
    uv_async_send(&r->async);
    return 0;
}

static void on_message(redisAsyncContext *ac, void *reply, void *priv)
{
    VIAL__UNUSED(priv);
    rps *r = ac->data;
    redisReply *rep = reply;
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
        rep->element[0]->type != REDIS_REPLY_STRING || strcmp(rep->element[0]->str, "message"))
        return; /* subscribe/unsubscribe confirmations, or the connection went */
    const redisReply *ch = rep->element[1], *pl = rep->element[2];
    size_t plen = strlen(r->m->prefix);
    if (ch->type != REDIS_REPLY_STRING || pl->type != REDIS_REPLY_STRING || (size_t)ch->len < plen ||
        memcmp(ch->str, r->m->prefix, plen) || pl->len < 8)
        return;
    if (!memcmp(pl->str, r->instance, 8))
        return; /* ours, delivered here when it was published */
    deliver_local(r->m, ch->str + plen, (size_t)ch->len - plen, pl->str + 8, (size_t)pl->len - 8);
}

static void send_topic(rps *r, const char *name, size_t len, bool subscribe)
{
    char stack[256];
    size_t plen = strlen(r->m->prefix);
    char *ch = plen + len <= sizeof stack ? stack : malloc(plen + len);
    if (!ch)
        return;
    memcpy(ch, r->m->prefix, plen);
    memcpy(ch + plen, name, len);
    const char *argv[] = { subscribe ? "SUBSCRIBE" : "UNSUBSCRIBE", ch };
    size_t lens[] = { strlen(argv[0]), plen + len };
    redisAsyncCommandArgv(r->sub, on_message, NULL, 2, argv, lens);
    if (ch != stack)
        free(ch);
}

static void send_publish(rps *r, rq *j)
{
    size_t plen = strlen(r->m->prefix);
    char *ch = malloc(plen + j->tlen + 8 + j->len);
    if (!ch) {
        r->lost++;
        return;
    }
    char *payload = ch + plen + j->tlen;
    memcpy(ch, r->m->prefix, plen);
    memcpy(ch + plen, j->topic, j->tlen);
    memcpy(payload, r->instance, 8);
    memcpy(payload + 8, j->data, j->len);
    const char *argv[] = { "PUBLISH", ch, payload };
    size_t lens[] = { 7, plen + j->tlen, 8 + j->len };
    /* hiredis formats the command into its buffer at once */
    if (redisAsyncCommandArgv(r->pub, NULL, NULL, 3, argv, lens) != REDIS_OK)
        r->lost++;
    free(ch);
}

static void report_lost(rps *r, const char *when)
{
    pthread_mutex_lock(&r->mu);
    uint64_t lost = r->lost;
    r->lost = 0;
    pthread_mutex_unlock(&r->mu);
    if (lost)
        vial_log(VIAL_LOG_WARN,
                 "pub/sub: %" PRIu64 " message%s published %s reached only this instance, not the others",
                 lost, lost == 1 ? "" : "s", when);
}

static void flush_held(rps *r, bool send);

static void on_jobs(uv_async_t *a)
{
    rps *r = a->data;
    pthread_mutex_lock(&r->mu);
    rq *j = r->head;
    r->head = NULL;
    r->tail = &r->head;
    r->queued = 0;
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    uint64_t lost = 0;
    for (rq *next; j; j = next) {
        next = j->next;
        if (stopping) {
            /* nothing more is sent */
        } else if (j->kind == RQ_PUBLISH) {
            if (r->pub_up) {
                send_publish(r, j);
            } else if (!r->down && r->held_bytes + j->len <= MAX_QUEUED) {
                /* connecting (the first time, or again): not lost yet */
                j->next = NULL;
                *r->held_tail = j;
                r->held_tail = &j->next;
                r->held_bytes += j->len;
                continue;
            } else {
                lost++;
            }
        } else if (r->sub_up) {
            pthread_mutex_lock(&r->mu);
            bool want = *rtopic_find(r, j->topic, j->tlen) != NULL;
            pthread_mutex_unlock(&r->mu);
            send_topic(r, j->topic, j->tlen, want);
        } /* else: every topic is subscribed when the connection is back */
        free(j);
    }
    if (lost) {
        pthread_mutex_lock(&r->mu);
        r->lost += lost;
        pthread_mutex_unlock(&r->mu);
    }
    if (stopping) {
        flush_held(r, false);
        redisAsyncContext *c = r->sub;
        r->sub = NULL;
        if (c)
            redisAsyncFree(c);
        c = r->pub;
        r->pub = NULL;
        if (c)
            redisAsyncFree(c);
        uv_close((uv_handle_t *)&r->retry, NULL);
        uv_close((uv_handle_t *)&r->async, NULL);
    } else if (r->pub_up) {
        report_lost(r, "while Redis was unreachable");
    }
}

static void connect_both(rps *r);

static void on_retry(uv_timer_t *t)
{
    connect_both(t->data);
}

/* The publishes held while connecting: sent (`send`), or lost. */
static void flush_held(rps *r, bool send)
{
    uint64_t lost = 0;
    for (rq *j = r->held, *next; j; j = next) {
        next = j->next;
        if (send)
            send_publish(r, j);
        else
            lost++;
        free(j);
    }
    r->held = NULL;
    r->held_tail = &r->held;
    r->held_bytes = 0;
    if (lost) {
        pthread_mutex_lock(&r->mu);
        r->lost += lost;
        pthread_mutex_unlock(&r->mu);
    }
}

static void went_down(rps *r, const char *why)
{
    flush_held(r, false);
    if (!r->down) {
        r->down = true;
        vial_log(VIAL_LOG_WARN,
                 "pub/sub: %s Redis at %s:%d (%s); retrying every second, and until then messages "
                 "published here reach only this instance",
                 r->ever_up ? "lost the connection to" : "cannot reach", r->addr.host, r->addr.port, why);
    }
    if (!uv_is_closing((uv_handle_t *)&r->retry))
        uv_timer_start(&r->retry, on_retry, RETRY_MS, 0);
}

static void on_auth(redisAsyncContext *ac, void *reply, void *priv)
{
    VIAL__UNUSED(priv);
    VIAL__UNUSED(ac);
    redisReply *rep = reply;
    if (rep && rep->type == REDIS_REPLY_ERROR)
        vial_log(VIAL_LOG_ERROR, "pub/sub: Redis refused the password: %s", rep->str);
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rps *r = ac->data;
    bool is_sub = ac == r->sub;
    if (status != REDIS_OK) { /* hiredis frees the context after this */
        *(is_sub ? &r->sub : &r->pub) = NULL;
        went_down(r, ac->errstr[0] ? ac->errstr : "connect failed");
        return;
    }
    *(is_sub ? &r->sub_up : &r->pub_up) = true;
    if (!is_sub)
        flush_held(r, true);
    if (is_sub) {
        /* Every topic of the moment; later changes come as jobs. */
        pthread_mutex_lock(&r->mu);
        size_t n = 0;
        for (rtopic *t = r->topics; t; t = t->next)
            n++;
        rtopic **list = n ? malloc(n * sizeof *list) : NULL;
        size_t k = 0;
        for (rtopic *t = r->topics; list && t; t = t->next) {
            rtopic *c = malloc(sizeof *c + t->len);
            if (c) {
                memcpy(c->name, t->name, t->len);
                c->len = t->len;
                list[k++] = c;
            }
        }
        pthread_mutex_unlock(&r->mu);
        for (size_t i = 0; i < k; i++) {
            send_topic(r, list[i]->name, list[i]->len, true);
            free(list[i]);
        }
        free(list);
    }
    if (r->sub_up && r->pub_up) {
        if (r->down || !r->ever_up)
            vial_log(VIAL_LOG_INFO, "pub/sub: %s Redis at %s:%d", r->ever_up ? "reconnected to" : "connected to",
                     r->addr.host, r->addr.port);
        r->down = false;
        r->ever_up = true;
        report_lost(r, "while Redis was unreachable");
    }
}

static void on_disconnect(const redisAsyncContext *cac, int status)
{
    VIAL__UNUSED(status);
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    rps *r = ac->data;
    if (ac == r->sub) {
        r->sub = NULL;
        r->sub_up = false;
    } else if (ac == r->pub) {
        r->pub = NULL;
        r->pub_up = false;
    } else {
        return; /* freed on purpose (stopping) */
    }
    pthread_mutex_lock(&r->mu);
    bool stopping = r->stopping;
    pthread_mutex_unlock(&r->mu);
    if (!stopping)
        went_down(r, ac->errstr[0] ? ac->errstr : "connection closed");
}

static redisAsyncContext *connect_one(rps *r)
{
    redisAsyncContext *c = redisAsyncConnect(r->addr.host, r->addr.port);
    if (!c)
        return NULL;
    if (c->err) {
        went_down(r, c->errstr);
        redisAsyncFree(c);
        return NULL;
    }
    c->data = r;
    if (ev_attach(c, &r->loop)) {
        redisAsyncFree(c);
        return NULL;
    }
    redisAsyncSetConnectCallback(c, on_connect);
    redisAsyncSetDisconnectCallback(c, on_disconnect);
    if (r->addr.password[0]) {
        const char *argv[] = { "AUTH", r->addr.password };
        redisAsyncCommandArgv(c, on_auth, NULL, 2, argv, NULL);
    }
    return c;
}

static void connect_both(rps *r)
{
    if (!r->sub)
        r->sub = connect_one(r);
    if (!r->pub)
        r->pub = connect_one(r);
    if ((!r->sub || !r->pub) && !uv_is_closing((uv_handle_t *)&r->retry))
        uv_timer_start(&r->retry, on_retry, RETRY_MS, 0);
}

static void *rthread(void *arg)
{
    rps *r = arg;
    connect_both(r);
    uv_run(&r->loop, UV_RUN_DEFAULT);
    uv_loop_close(&r->loop);
    return NULL;
}

/* Looks once whether this app has Redis (the kv module's REDIS_URL) and
 * starts the thread when it does.  Returns the state: 1 none, 2 Redis. */
static int redis_setup(psmod *m)
{
    pthread_mutex_lock(&m->mu);
    int st = atomic_load(&m->redis_state);
    if (st) {
        pthread_mutex_unlock(&m->mu);
        return st;
    }
    st = 1;
    vial__redis_addr addr;
    const char *prefix = vial_config(m->app, "pubsub_prefix");
    snprintf(m->prefix, sizeof m->prefix, "%s", prefix ? prefix : "vial:");
    rps *r = vial__kv_redis_addr(m->app, &addr) == 1 ? calloc(1, sizeof *r) : NULL;
    if (r) {
        r->m = m;
        r->addr = addr;
        uint32_t a = vial__random_u32(), b = vial__random_u32();
        memcpy(r->instance, &a, 4);
        memcpy(r->instance + 4, &b, 4);
        r->tail = &r->head;
        r->held_tail = &r->held;
        pthread_mutex_init(&r->mu, NULL);
        bool ok = !uv_loop_init(&r->loop);
        if (ok && uv_async_init(&r->loop, &r->async, on_jobs)) {
            uv_loop_close(&r->loop);
            ok = false;
        }
        if (ok) {
            r->async.data = r;
            uv_timer_init(&r->loop, &r->retry);
            r->retry.data = r;
            pthread_attr_t at;
            pthread_attr_init(&at);
            pthread_attr_setstacksize(&at, 256 << 10);
            ok = !pthread_create(&r->th, &at, rthread, r);
            pthread_attr_destroy(&at);
            if (!ok) {
                uv_close((uv_handle_t *)&r->async, NULL);
                uv_close((uv_handle_t *)&r->retry, NULL);
                uv_run(&r->loop, UV_RUN_DEFAULT);
                uv_loop_close(&r->loop);
            }
        }
        if (ok) {
            m->r = r;
            st = 2;
        } else {
            vial_log(VIAL_LOG_ERROR, "pub/sub: cannot start the Redis thread; topics reach only this instance");
            pthread_mutex_destroy(&r->mu);
            free(r);
        }
    }
    atomic_store_explicit(&m->redis_state, st, memory_order_release);
    pthread_mutex_unlock(&m->mu);
    return st;
}

static void redis_stop(rps *r)
{
    pthread_mutex_lock(&r->mu);
    r->stopping = true;
    pthread_mutex_unlock(&r->mu);
    uv_async_send(&r->async);
    pthread_join(r->th, NULL);
    for (rq *j = r->head, *next; j; j = next) {
        next = j->next;
        free(j);
    }
    for (rtopic *t = r->topics, *next; t; t = next) {
        next = t->next;
        free(t);
    }
    pthread_mutex_destroy(&r->mu);
    free(r);
}

/* ------------------------------------------------------------------ set-up */

/* Every app gets the module's state and settings (like tpl's): publishing
 * needs no set-up call, and a server that never subscribes pays for a
 * mutex and a few words. */
static int declare_keys(vial_app *app)
{
    psmod *m = calloc(1, sizeof *m);
    if (!m)
        return VIAL_ENOMEM;
    m->app = app;
    pthread_mutex_init(&m->mu, NULL);
    int rc = vial__app_ext_set(app, &ext_key, m, mod_free);
    if (rc) {
        pthread_mutex_destroy(&m->mu);
        free(m);
        return rc;
    }
    m->m_deliveries = vial_counter(app, "vial_pubsub_deliveries_total",
                                   "Published messages handed to a subscriber (WebSocket or SSE stream) here.",
                                   NULL);
    m->s_deliveries = vial_metric_series(app, m->m_deliveries, NULL);
    return vial_config_define(app, "pubsub_prefix", "vial:",
                              "Redis channel prefix of pub/sub topics (instances sharing topics use the same)");
}

__attribute__((constructor)) static void pubsub_keys(void)
{
    vial__app_module_keys(declare_keys);
}

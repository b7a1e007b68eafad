/*
 * stream.c — the live tail: GET /logs/stream answers with Server-Sent
 * Events, one `event: log` per stored log (its `data:` the log's JSON as
 * the list routes show it, its `id:` the log's id), optionally only those
 * of one user and/or one log type, on every instance (vial_publish goes
 * through Redis when REDIS_URL is set).
 *
 * An ingest publishes once per stored batch, after COMMIT, and only when
 * someone anywhere may listen (vial_publish_wanted): the message is every
 * log of the batch as a record of its fields.  Each stream, on its own
 * worker, writes the logs that pass its filters with rows.c's one writer
 * into events.
 *
 * A client that reconnects with Last-Event-ID gets the logs with a larger
 * id that it missed (up to REPLAY_MAX, in id order) before the live ones;
 * the stream is subscribed before that query runs, so a batch stored
 * meanwhile arrives too, and its logs the replay already sent are skipped.
 */
#include "logs_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_MAX 10000

/* ------------------------------------------------------------------ the message */

/*
 * A batch travels as the logs' fields, not as JSON: building it costs the
 * ingest a copy of each row (the JSON of 10,000 logs would cost it a
 * quarter more CPU again), and each stream writes — with rows.c's one
 * writer — only the logs that pass its filters.  A record: id, time (µs),
 * offset (s), which of locationX/Y are there, locationX, locationY, then
 * userId, sessionId, log_type, viewedId, pageFrom, pageTo and extra, each
 * a 4-byte length (NO_TEXT: null) and its bytes; integers little-endian.
 */
#define NO_TEXT 0xffffffffu
#define REC_FIXED (8 + 8 + 4 + 1 + 8 + 8)

static unsigned char *put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 8;
}

static unsigned char *put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
    return p + 4;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static unsigned char *put_text(unsigned char *p, logs_span v)
{
    p = put_u32(p, v.p ? (uint32_t)v.n : NO_TEXT);
    if (v.p && v.n)
        memcpy(p, v.p, v.n);
    return p + (v.p ? v.n : 0);
}

/* Reads a text field; false when the record is cut short. */
static bool get_text(const unsigned char **p, const unsigned char *end, logs_span *v)
{
    if (end - *p < 4)
        return false;
    uint32_t n = get_u32(*p);
    *p += 4;
    if (n == NO_TEXT) {
        *v = (logs_span){ NULL, 0 };
        return true;
    }
    if ((size_t)(end - *p) < n)
        return false;
    *v = (logs_span){ (const char *)*p, n };
    *p += n;
    return true;
}

void logs_publish(vial_req *req, size_t n, int64_t first_id,
                  void (*fields)(size_t i, logs_fields *f, void *ud), void *ud)
{
    if (vial_resp_status(req) != 201)
        return; /* rolled back (a failed COMMIT turned the 201 into an error) */
    size_t cap = n * 160, len = 0;
    unsigned char *msg = malloc(cap);
    if (!msg)
        goto oom;
    for (size_t i = 0; i < n; i++) {
        logs_fields f;
        fields(i, &f, ud);
        const logs_span *texts[7] = { &f.user, &f.session, &f.type, &f.viewed, &f.from, &f.to, &f.extra };
        size_t need = REC_FIXED + 7 * 4;
        for (int k = 0; k < 7; k++) {
            if (texts[k]->p && texts[k]->n >= NO_TEXT)
                goto oom; /* 4 GiB in one field: cannot be sent */
            need += texts[k]->p ? texts[k]->n : 0;
        }
        if (len + need > cap) {
            size_t nc = cap * 2 > len + need ? cap * 2 : len + need;
            unsigned char *m = realloc(msg, nc);
            if (!m)
                goto oom;
            msg = m;
            cap = nc;
        }
        unsigned char *p = msg + len;
        p = put_u64(p, (uint64_t)f.id);
        p = put_u64(p, (uint64_t)f.t.us);
        p = put_u32(p, (uint32_t)f.t.offset_s);
        *p++ = (unsigned char)((f.has_lx ? 1 : 0) | (f.has_ly ? 2 : 0) | (f.has_time ? 4 : 0));
        p = put_u64(p, (uint64_t)f.lx);
        p = put_u64(p, (uint64_t)f.ly);
        for (int k = 0; k < 7; k++)
            p = put_text(p, *texts[k]);
        len = (size_t)(p - msg);
    }
    int rc = vial_publish(vial_app_of(req), LOGS_TOPIC, msg, len);
    if (rc)
        vial_req_log(req, VIAL_LOG_WARN, "publishing logs %" PRId64 "..: %s", first_id, vial_strerror(rc));
    free(msg);
    return;
oom:
    vial_req_log(req, VIAL_LOG_WARN, "out of memory: logs %" PRId64 "..%" PRId64 " are not sent to live tails",
                 first_id, first_id + (int64_t)n - 1);
    free(msg);
}

/* ------------------------------------------------------------------ the stream */

typedef struct tail {
    const char *user, *type; /* NULL: any */
    size_t user_n, type_n;
    int64_t replayed;        /* the largest id the replay sent (0: none) */
    vial_jw *w;              /* one buffer writer for every event of the stream */
} tail;

static bool same(const char *want, size_t want_n, logs_span v)
{
    return !want || (v.p && want_n == v.n && !memcmp(want, v.p, v.n));
}

static int send_log(vial_sse *s, tail *t, int64_t id, const logs_fields *f, vial_rows *r)
{
    vial_jw_clear(t->w);
    if (f)
        logs_write_fields(t->w, f, logs_settings.keep_unknown);
    else
        logs_write_row(t->w, r, logs_settings.keep_unknown);
    size_t jl;
    const char *json = vial_jw_text(t->w, &jl);
    if (!json)
        return VIAL_ENOMEM;
    char idbuf[24];
    snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
    return vial_sse_send(s, "log", idbuf, json, jl);
}

/* A batch published by an ingest, here or on another instance. */
static int format(vial_sse *s, const char *topic, const char *data, size_t len, void *ud)
{
    (void)topic;
    tail *t = ud;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    while (p < end) {
        if ((size_t)(end - p) < REC_FIXED)
            return VIAL_EPARSE; /* not ours: another program on the same channel */
        logs_fields f;
        f.id = (int64_t)get_u64(p);
        f.t.us = (int64_t)get_u64(p + 8);
        f.t.offset_s = (int32_t)get_u32(p + 16);
        f.has_lx = p[20] & 1;
        f.has_ly = p[20] & 2;
        f.has_time = p[20] & 4;
        f.lx = (int64_t)get_u64(p + 21);
        f.ly = (int64_t)get_u64(p + 29);
        p += REC_FIXED;
        logs_span *texts[7] = { &f.user, &f.session, &f.type, &f.viewed, &f.from, &f.to, &f.extra };
        for (int k = 0; k < 7; k++)
            if (!get_text(&p, end, texts[k]))
                return VIAL_EPARSE;
        if (f.id <= t->replayed || !same(t->user, t->user_n, f.user) || !same(t->type, t->type_n, f.type))
            continue;
        int rc = send_log(s, t, f.id, &f, NULL);
        if (rc)
            return rc;
    }
    return 0;
}

/* What a client reconnecting after log `last_id` missed, oldest first. */
static int replay(vial_sse *s, const char *last_id, void *ud)
{
    tail *t = ud;
    char *end;
    long long after = strtoll(last_id, &end, 10);
    if (*end || after < 0)
        return 0; /* not one of our ids: nothing to replay */
    static const char *const sql[4] = {
        LOGS_SELECT "id > $1 ORDER BY id LIMIT $2",
        LOGS_SELECT "id > $1 AND user_id = $3 ORDER BY id LIMIT $2",
        LOGS_SELECT "id > $1 AND log_type = $3 ORDER BY id LIMIT $2",
        LOGS_SELECT "id > $1 AND user_id = $3 AND log_type = $4 ORDER BY id LIMIT $2",
    };
    vial_req *req = vial_sse_req(s);
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_val args[4] = { VIAL_INT(after), VIAL_INT(REPLAY_MAX) };
    size_t nargs = 2;
    if (t->user)
        args[nargs++] = VIAL_TEXTN(t->user, t->user_n);
    if (t->type)
        args[nargs++] = VIAL_TEXTN(t->type, t->type_n);
    vial_rows *r = vial_db_query_dynamic(db, sql[(t->user ? 1 : 0) | (t->type ? 2 : 0)], args, nargs);
    if (!r)
        return vial_db_errcode(db);
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        int64_t id = vial_rows_int(r, LOGS_COL_ID);
        if ((rc = send_log(s, t, id, NULL, r)))
            break;
        t->replayed = id;
    }
    vial_rows_close(r);
    return rc < 0 ? rc : 0;
}

int logs_stream(vial_req *req)
{
    if (logs_guarded(req, false))
        return 0;
    return logs_live(req, vial_arg(req, "user"), vial_arg(req, "type"));
}

int logs_live(vial_req *req, const char *user, const char *type)
{
    tail *t = vial_alloc(req, sizeof *t);
    if (!t)
        return vial_abort(req, 503, "out of memory");
    *t = (tail){ .w = vial_jw_buffer(req) };
    if (!t->w)
        return vial_abort(req, 503, "out of memory");
    if (user && *user)
        t->user = user, t->user_n = strlen(user);
    if (type && *type)
        t->type = type, t->type_n = strlen(type);
    static const char *const topics[] = { LOGS_TOPIC, NULL };
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .topics = topics, .replay = replay, .format = format, .ud = t });
    return s ? 0 : vial_abort(req, 503, "out of memory");
}

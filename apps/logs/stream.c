/*
 * stream.c — the live tail: GET /logs/stream answers with Server-Sent
 * Events, one `event: log` per stored log (its `data:` the log's JSON as
 * the list routes show it, its `id:` the log's id), optionally only those
 * of one user and/or one log type, on every instance (vial_publish goes
 * through Redis when REDIS_URL is set).
 *
 * An ingest publishes once per stored batch, after COMMIT, and only when
 * someone anywhere may listen (vial_publish_wanted): the message is every
 * log of the batch as a record — id, userId and log_type (what the
 * streams filter on, without parsing JSON per subscriber) and the JSON
 * written by rows.c's one writer.  Each stream turns the records that
 * pass its filters into events on its own worker.
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

/* A record: id (8 bytes), the lengths of userId, log_type and the JSON
 * (4 bytes each, little-endian), then those bytes. */
#define REC_HEAD 20

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_i64(unsigned char *p, int64_t v)
{
    put_u32(p, (uint32_t)((uint64_t)v & 0xffffffffu));
    put_u32(p + 4, (uint32_t)((uint64_t)v >> 32));
}

static int64_t get_i64(const unsigned char *p)
{
    return (int64_t)((uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32);
}

void logs_publish(vial_req *req, size_t n, int64_t first_id,
                  void (*fields)(size_t i, logs_fields *f, void *ud), void *ud)
{
    if (vial_resp_status(req) != 201)
        return; /* rolled back (a failed COMMIT turned the 201 into an error) */
    vial_jw *w = vial_jw_buffer(req);
    size_t cap = n * 320, len = 0;
    unsigned char *msg = w ? malloc(cap) : NULL;
    if (!msg) {
        vial_req_log(req, VIAL_LOG_WARN, "out of memory: logs %" PRId64 "..%" PRId64 " are not sent to live tails",
                     first_id, first_id + (int64_t)n - 1);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        logs_fields f;
        fields(i, &f, ud);
        vial_jw_clear(w);
        logs_write_fields(w, &f, logs_settings.keep_unknown);
        size_t jl;
        const char *json = vial_jw_text(w, &jl);
        size_t need = REC_HEAD + f.user.n + f.type.n + jl;
        if (!json || f.user.n > UINT32_MAX || f.type.n > UINT32_MAX || jl > UINT32_MAX)
            goto oom;
        if (len + need > cap) {
            size_t nc = cap * 2 > len + need ? cap * 2 : len + need;
            unsigned char *m = realloc(msg, nc);
            if (!m)
                goto oom;
            msg = m;
            cap = nc;
        }
        unsigned char *p = msg + len;
        put_i64(p, f.id);
        put_u32(p + 8, (uint32_t)f.user.n);
        put_u32(p + 12, (uint32_t)f.type.n);
        put_u32(p + 16, (uint32_t)jl);
        p += REC_HEAD;
        memcpy(p, f.user.p, f.user.n);
        memcpy(p + f.user.n, f.type.p, f.type.n);
        memcpy(p + f.user.n + f.type.n, json, jl);
        len += need;
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
} tail;

static bool same(const char *want, size_t want_n, const unsigned char *p, uint32_t n)
{
    return !want || (want_n == n && !memcmp(want, p, n));
}

/* A batch published by an ingest, here or on another instance. */
static int format(vial_sse *s, const char *topic, const char *data, size_t len, void *ud)
{
    (void)topic;
    tail *t = ud;
    const unsigned char *p = (const unsigned char *)data, *end = p + len;
    while ((size_t)(end - p) >= REC_HEAD) {
        int64_t id = get_i64(p);
        uint32_t un = get_u32(p + 8), tn = get_u32(p + 12), jn = get_u32(p + 16);
        p += REC_HEAD;
        if ((uint64_t)un + tn + jn > (uint64_t)(end - p))
            return VIAL_EPARSE; /* not ours: another program on the same channel */
        const unsigned char *user = p, *type = p + un, *json = p + un + tn;
        p += (size_t)un + tn + jn;
        if (id <= t->replayed || !same(t->user, t->user_n, user, un) || !same(t->type, t->type_n, type, tn))
            continue;
        char idbuf[24];
        snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
        int rc = vial_sse_send(s, "log", idbuf, (const char *)json, jn);
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
    vial_jw *w = vial_jw_buffer(req);
    int rc = w ? 0 : VIAL_ENOMEM;
    while (!rc && (rc = vial_rows_next(r)) > 0) {
        vial_jw_clear(w);
        logs_write_row(w, r, logs_settings.keep_unknown);
        size_t jl;
        const char *json = vial_jw_text(w, &jl);
        int64_t id = vial_rows_int(r, LOGS_COL_ID);
        char idbuf[24];
        snprintf(idbuf, sizeof idbuf, "%" PRId64, id);
        rc = json ? vial_sse_send(s, "log", idbuf, json, jl) : VIAL_ENOMEM;
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
    *t = (tail){ 0 };
    if (user && *user)
        t->user = user, t->user_n = strlen(user);
    if (type && *type)
        t->type = type, t->type_n = strlen(type);
    static const char *const topics[] = { LOGS_TOPIC, NULL };
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .topics = topics, .replay = replay, .format = format, .ud = t });
    return s ? 0 : vial_abort(req, 503, "out of memory");
}

/*
 * store.c — the chat's SQL (SQLite or PostgreSQL, the same statements):
 * channels, messages, and keeping only the last CHAT_HISTORY messages of a
 * channel.  Each function takes the request (a view's, or a WebSocket
 * handler's vial_ws_request) and uses its worker's connection.
 *
 * Trimming runs with every insert: one DELETE that finds the 101st newest
 * id through the (channel_id, id) index, so a channel never holds more
 * than 100 rows and the cost does not grow with its age.  Both statements
 * are one transaction: a message is acknowledged (sent back, published)
 * only after it committed.
 */
#include "chat_impl.h"

#include <stdlib.h>
#include <string.h>

int chat_channel_create(vial_req *req, const char *name, int64_t *id)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_rows *r = vial_db_query(db, "INSERT INTO chat_channels (name, created_us) VALUES ($1, $2) RETURNING id",
                                 VIAL_ARGS(VIAL_TEXT(name), VIAL_INT(vial_time_now().us)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    if (rc == 1)
        *id = vial_rows_int(r, 0);
    vial_rows_close(r);
    return rc == 1 ? 0 : rc == 0 ? VIAL_EDB : rc;
}

int chat_channel_find(vial_req *req, const char *name, int64_t *id)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    vial_rows *r = vial_db_query(db, "SELECT id FROM chat_channels WHERE name = $1", VIAL_ARGS(VIAL_TEXT(name)));
    if (!r)
        return vial_db_errcode(db);
    int rc = vial_rows_next(r);
    if (rc == 1)
        *id = vial_rows_int(r, 0);
    vial_rows_close(r);
    return rc == 1 ? 0 : rc == 0 ? VIAL_ENOENT : rc;
}

/* Every row of `r` made into a JSON value by `fn`, as an array (a new
 * reference), `r` closed; NULL with *rc on failure. */
static json_t *collect(vial_rows *r, json_t *(*fn)(vial_rows *r, void *ud), void *ud, int *rc)
{
    json_t *a = json_array();
    int k = 0;
    while (a && (k = vial_rows_next(r)) == 1) {
        if (json_array_append_new(a, fn(r, ud))) { /* a NULL value fails too */
            json_decref(a);
            a = NULL;
        }
    }
    *rc = !a ? VIAL_ENOMEM : k < 0 ? k : 0;
    vial_rows_close(r);
    if (*rc) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static json_t *channel_name(vial_rows *r, void *ud)
{
    (void)ud;
    return json_string(vial_rows_text(r, 0));
}

static json_t *channel_with_count(vial_rows *r, void *ud)
{
    (void)ud;
    return json_pack("{s:s,s:I}", "name", vial_rows_text(r, 0), "messages", (json_int_t)vial_rows_int(r, 1));
}

typedef struct message_row {
    const char *channel;
    int64_t *last;
} message_row;

static json_t *message_of(vial_rows *r, void *ud)
{
    message_row *mr = ud;
    chat_msg m = { .id = vial_rows_int(r, 0), .channel = mr->channel, .name = vial_rows_text(r, 1),
                   .text = vial_rows_text(r, 2), .time_us = vial_rows_int(r, 3) };
    *mr->last = m.id;
    return chat_message_json(&m);
}

json_t *chat_channels(vial_req *req, bool counts, int *rc)
{
    vial_db *db = vial_db_get(req);
    if (!db) {
        *rc = VIAL_EDBDOWN;
        return NULL;
    }
    vial_rows *r = counts ? vial_db_query(db, "SELECT c.name, (SELECT count(*) FROM chat_messages m "
                                              "WHERE m.channel_id = c.id) FROM chat_channels c ORDER BY c.id",
                                          VIAL_NOARGS)
                          : vial_db_query(db, "SELECT name FROM chat_channels ORDER BY id", VIAL_NOARGS);
    if (!r) {
        *rc = vial_db_errcode(db);
        return NULL;
    }
    return collect(r, counts ? channel_with_count : channel_name, NULL, rc);
}

int chat_message_add(vial_req *req, int64_t channel_id, const char *channel, const char *name,
                     const char *text, chat_msg *out)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return VIAL_EDBDOWN;
    /* One transaction, one commit (half the WAL appends and lock round
     * trips of two autocommits), committed before the caller acknowledges. */
    int rc = vial_db_begin(db);
    if (rc)
        return rc;
    int64_t now = vial_time_now().us;
    vial_rows *r = vial_db_query(db,
                                 "INSERT INTO chat_messages (channel_id, name, text, time_us) "
                                 "VALUES ($1, $2, $3, $4) RETURNING id",
                                 VIAL_ARGS(VIAL_INT(channel_id), VIAL_TEXT(name), VIAL_TEXT(text), VIAL_INT(now)));
    rc = r ? vial_rows_next(r) : vial_db_errcode(db);
    if (rc == 1)
        *out = (chat_msg){ .id = vial_rows_int(r, 0), .time_us = now, .channel = channel, .name = name,
                           .text = text };
    if (r)
        vial_rows_close(r);
    if (rc == 1) {
        /* Keep the last CHAT_HISTORY. */
        int d = vial_db_exec(db,
                             "DELETE FROM chat_messages WHERE channel_id = $1 AND id <= "
                             "(SELECT id FROM chat_messages WHERE channel_id = $1 ORDER BY id DESC LIMIT 1 OFFSET $2)",
                             VIAL_ARGS(VIAL_INT(channel_id), VIAL_INT(CHAT_HISTORY)));
        rc = d < 0 ? d : vial_db_commit(db);
        if (!rc)
            return 0;
    } else if (rc == 0) {
        rc = VIAL_EDB;
    }
    vial_db_rollback(db);
    return rc;
}

json_t *chat_message_json(const chat_msg *m)
{
    char t[40];
    vial_time_format((vial_time){ .us = m->time_us, .offset_s = 0 }, t);
    return json_pack("{s:I,s:s,s:s,s:s,s:s}", "id", (json_int_t)m->id, "channel", m->channel, "name", m->name,
                     "text", m->text, "time", t);
}

char *chat_message_frame_malloc(const chat_msg *m, size_t *len)
{
    char t[40];
    vial_time_format((vial_time){ .us = m->time_us, .offset_s = 0 }, t);
    /* jansson keeps members in insertion order: "type" first, which the
     * SSE events cut off (CHAT_FRAME_SKIP). */
    json_t *o = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s}", "type", "message", "id", (json_int_t)m->id, "channel",
                          m->channel, "name", m->name, "text", m->text, "time", t);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s)
        *len = strlen(s);
    return s;
}

json_t *chat_messages(vial_req *req, int64_t channel_id, const char *channel, int64_t after,
                      int64_t limit, int64_t *last, int *rc)
{
    *last = after;
    vial_db *db = vial_db_get(req);
    if (!db) {
        *rc = VIAL_EDBDOWN;
        return NULL;
    }
    vial_rows *r;
    if (after > INT64_MIN)
        r = vial_db_query(db,
                          "SELECT id, name, text, time_us FROM chat_messages WHERE channel_id = $1 AND id > $2 "
                          "ORDER BY id LIMIT $3",
                          VIAL_ARGS(VIAL_INT(channel_id), VIAL_INT(after), VIAL_INT(limit ? limit : CHAT_HISTORY)));
    else /* the last ones, oldest first */
        r = vial_db_query(db,
                          "SELECT id, name, text, time_us FROM (SELECT id, name, text, time_us FROM chat_messages "
                          "WHERE channel_id = $1 ORDER BY id DESC LIMIT $2) AS t ORDER BY id",
                          VIAL_ARGS(VIAL_INT(channel_id), VIAL_INT(limit ? limit : CHAT_HISTORY)));
    if (!r) {
        *rc = vial_db_errcode(db);
        return NULL;
    }
    message_row mr = { channel, last };
    return collect(r, message_of, &mr, rc);
}

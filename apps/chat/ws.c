/*
 * ws.c — the chat's WebSocket endpoint, GET /ws/chat: JSON text frames,
 * each an object with a "type" (the protocol is in README.md).
 *
 * A connection says hello (its display name: the account's for a logged-in
 * client, a free one of its choice for an anonymous one), then creates,
 * joins and leaves channels and sends messages.  Each joined channel is a
 * pub/sub topic the connection is subscribed to (vial_ws_subscribe), so a
 * message stored by any connection or POST on any worker or instance
 * reaches it on its own worker; the frame published is the one sent, as
 * is.  The sender gets its copy at once, with its "ref", and skips the
 * echo by the origin tag the payload carries.  Joining subscribes before
 * it reads the history, and remembers the history's last id, so a message
 * stored meanwhile arrives once: in the history, or after it.
 *
 * A problem with a frame is an error frame and the connection stays open;
 * a binary frame closes it with 1003, a client over chat_rate/chat_burst
 * with 1008.  The database and the name store are reached through the
 * handler's request context (vial_ws_request).
 */
#include "chat_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct member {
    char *channel;
    int64_t id;   /* the channel's row (channels are never deleted) */
    int64_t last; /* the newest id sent to this client (history): older live copies are skipped */
} member;

typedef struct conn {
    char origin[CHAT_ORIGIN_LEN + 1]; /* random: tells this connection's own publishes apart */
    char *user;                       /* the account's name, or NULL (anonymous) */
    char *name;                       /* after hello */
    bool holds_name;                  /* an anonymous name held in the store */
    member *m;
    size_t nm, cap;
    chat_bucket bucket;
    uint64_t refreshed_ns;
} conn;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static member *find_member(conn *c, const char *channel)
{
    for (size_t i = 0; i < c->nm; i++)
        if (!strcmp(c->m[i].channel, channel))
            return &c->m[i];
    return NULL;
}

/* ------------------------------------------------------------------ sending */

static void send_error(vial_ws *ws, const char *code, const char *message, json_t *ref)
{
    char *f = chat_error_frame_malloc(code, message, ref);
    if (f)
        vial_ws_send_text(ws, f);
    free(f);
}

static void send_unavailable(vial_ws *ws, int rc, json_t *ref)
{
    char why[160];
    snprintf(why, sizeof why, "the chat's storage failed (%s): try again", vial_strerror(rc));
    send_error(ws, "unavailable", why, ref);
}

/* Sends `o` (stolen) with the command's ref as its last member. */
static void send_obj(vial_ws *ws, json_t *o, json_t *ref)
{
    if (o && ref)
        json_object_set(o, "ref", ref);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s)
        vial_ws_send_text(ws, s);
    else
        send_error(ws, "unavailable", "out of memory", ref);
    free(s);
}

/* A frame built once for everyone, sent to this client with its ref. */
static void send_frame(vial_ws *ws, const char *frame, size_t len, json_t *ref)
{
    if (!ref) {
        vial_ws_send(ws, frame, len, 0);
        return;
    }
    size_t n;
    char *f = chat_with_ref_malloc(frame, len, ref, &n);
    if (f)
        vial_ws_send(ws, f, n, 0);
    free(f);
}

/* ------------------------------------------------------------------ commands */

static void hello(vial_ws *ws, conn *c, const chat_cmd *cmd)
{
    if (c->name) {
        send_error(ws, "bad_request", "hello was said already", cmd->ref);
        return;
    }
    vial_req *req = vial_ws_request(ws);
    if (!req) {
        send_error(ws, "unavailable", "out of memory", cmd->ref);
        return;
    }
    const char *name = cmd->name;
    if (c->user) {
        if (name && strcasecmp(name, c->user)) {
            char why[120];
            snprintf(why, sizeof why, "logged in as %s: that is your name here", c->user);
            send_error(ws, "bad_name", why, cmd->ref);
            return;
        }
        name = c->user;
    } else if (!name) {
        send_error(ws, "bad_request", "missing \"name\": an anonymous client chooses one", cmd->ref);
        return;
    }
    char *mine = strdup(name);
    if (!mine) {
        send_error(ws, "unavailable", "out of memory", cmd->ref);
        return;
    }
    if (!c->user) {
        int rc = chat_name_claim(req, mine);
        if (rc) {
            free(mine);
            if (rc == VIAL_EEXIST)
                send_error(ws, "name_taken", "that name is in use: choose another", cmd->ref);
            else
                send_unavailable(ws, rc, cmd->ref);
            return;
        }
        c->holds_name = true;
        c->refreshed_ns = now_ns();
    }
    /* Subscribed before the list is read: a channel created meanwhile is
     * in the list, or announced after it. */
    int rc = vial_ws_subscribe(ws, CHAT_TOPIC);
    json_t *list = rc ? NULL : chat_channels(req, false, &rc);
    if (!list) { /* no hello after all: the client may say it again */
        vial_ws_unsubscribe(ws, CHAT_TOPIC);
        if (c->holds_name)
            chat_name_release(req, mine);
        c->holds_name = false;
        free(mine);
        send_unavailable(ws, rc, cmd->ref);
        return;
    }
    c->name = mine;
    send_obj(ws, json_pack("{s:s,s:s,s:o}", "type", "welcome", "name", c->name, "channels", list), cmd->ref);
}

static void create(vial_ws *ws, conn *c, const chat_cmd *cmd)
{
    (void)c;
    vial_req *req = vial_ws_request(ws);
    int64_t id;
    int rc = req ? chat_channel_create(req, cmd->channel, &id) : VIAL_ENOMEM;
    if (rc == VIAL_EUNIQUE) {
        send_error(ws, "channel_exists", "a channel of that name exists: join it", cmd->ref);
        return;
    }
    if (rc) {
        send_unavailable(ws, rc, cmd->ref);
        return;
    }
    char *f = chat_channel_frame_malloc(cmd->channel);
    if (!f) {
        send_error(ws, "unavailable", "out of memory", cmd->ref);
        return;
    }
    send_frame(ws, f, strlen(f), cmd->ref);
    chat_publish_channel(vial_ws_app(ws), c->origin, f);
    free(f);
}

static void join(vial_ws *ws, conn *c, const chat_cmd *cmd)
{
    vial_req *req = vial_ws_request(ws);
    int64_t id;
    int rc = req ? chat_channel_find(req, cmd->channel, &id) : VIAL_ENOMEM;
    if (rc == VIAL_ENOENT) {
        send_error(ws, "no_such_channel", "no channel of that name: create it first", cmd->ref);
        return;
    }
    if (rc) {
        send_unavailable(ws, rc, cmd->ref);
        return;
    }
    member *m = find_member(c, cmd->channel);
    if (!m) { /* joining again only sends the history again */
        if (c->nm == CHAT_JOINED_MAX) {
            send_error(ws, "bad_request", "in 256 channels already: leave one first", cmd->ref);
            return;
        }
        if (c->nm == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 4;
            member *v = realloc(c->m, cap * sizeof *v);
            if (!v) {
                send_error(ws, "unavailable", "out of memory", cmd->ref);
                return;
            }
            c->m = v;
            c->cap = cap;
        }
        char *topic = vial_sprintf(req, "chat:%s", cmd->channel);
        char *name = strdup(cmd->channel);
        if (!topic || !name || (rc = vial_ws_subscribe(ws, topic))) {
            free(name);
            send_error(ws, "unavailable", "out of memory", cmd->ref);
            return;
        }
        m = &c->m[c->nm++];
        *m = (member){ .channel = name, .id = id, .last = 0 };
    }
    int64_t last;
    json_t *msgs = chat_messages(req, id, cmd->channel, INT64_MIN, CHAT_HISTORY, &last, &rc);
    if (!msgs) {
        send_unavailable(ws, rc, cmd->ref);
        return;
    }
    if (last > m->last)
        m->last = last;
    send_obj(ws, json_pack("{s:s,s:s,s:o}", "type", "history", "channel", cmd->channel, "messages", msgs),
             cmd->ref);
}

static void leave(vial_ws *ws, conn *c, const chat_cmd *cmd)
{
    member *m = find_member(c, cmd->channel);
    if (!m) {
        send_error(ws, "not_joined", "not in that channel", cmd->ref);
        return;
    }
    vial_req *req = vial_ws_request(ws);
    char *topic = req ? vial_sprintf(req, "chat:%s", cmd->channel) : NULL;
    if (topic)
        vial_ws_unsubscribe(ws, topic);
    free(m->channel);
    *m = c->m[--c->nm];
    send_obj(ws, json_pack("{s:s,s:s}", "type", "left", "channel", cmd->channel), cmd->ref);
}

static void message(vial_ws *ws, conn *c, const chat_cmd *cmd)
{
    vial_req *req = vial_ws_request(ws);
    int64_t id;
    int rc;
    member *mb = find_member(c, cmd->channel);
    if (!mb) {
        rc = req ? chat_channel_find(req, cmd->channel, &id) : VIAL_ENOMEM;
        if (rc == 0)
            send_error(ws, "not_joined", "join the channel before sending to it", cmd->ref);
        else if (rc == VIAL_ENOENT)
            send_error(ws, "no_such_channel", "no channel of that name", cmd->ref);
        else
            send_unavailable(ws, rc, cmd->ref);
        return;
    }
    chat_msg msg;
    rc = req ? chat_message_add(req, mb->id, cmd->channel, c->name, cmd->text, &msg) : VIAL_ENOMEM;
    if (rc) {
        send_unavailable(ws, rc, cmd->ref);
        return;
    }
    chat_count(req, true);
    size_t len;
    char *f = chat_message_frame_malloc(&msg, &len);
    if (!f) {
        send_error(ws, "unavailable", "stored, but out of memory to send it", cmd->ref);
        return;
    }
    send_frame(ws, f, len, cmd->ref);
    chat_publish_message(vial_ws_app(ws), c->origin, &msg, f, len);
    free(f);
}

/* ------------------------------------------------------------------ the handlers */

static int on_upgrade(vial_req *req, void **ud)
{
    const char *user;
    if (chat_who(req, true, &user))
        return 0; /* answered: refused before the 101 */
    conn *c = calloc(1, sizeof *c);
    if (!c || (user && !(c->user = strdup(user)))) {
        free(c);
        return VIAL_ENOMEM;
    }
    unsigned char r[CHAT_ORIGIN_LEN / 2];
    vial_random(r, sizeof r);
    vial_hex_encode(r, sizeof r, c->origin);
    *ud = c;
    return 0;
}

static void on_message(vial_ws *ws, const char *data, size_t len, int binary)
{
    conn *c = vial_ws_ud(ws);
    if (binary) {
        vial_ws_close(ws, 1003, "binary frames are not part of the chat protocol: send JSON text");
        return;
    }
    uint64_t now = now_ns();
    if (chat_settings.rate > 0 && !chat_bucket_take(&c->bucket, chat_settings.rate, chat_settings.burst, now)) {
        vial_ws_close(ws, 1008, "rate limit exceeded (chat_rate, chat_burst)");
        return;
    }
    chat_cmd cmd;
    const char *code;
    char why[200];
    if (chat_parse(data, len, &cmd, &code, why, sizeof why)) {
        send_error(ws, code, why, cmd.ref);
        chat_cmd_free(&cmd);
        return;
    }
    if (!c->name && cmd.type != CHAT_HELLO) {
        send_error(ws, "hello_first", "say hello first: {\"type\":\"hello\",\"name\":...}", cmd.ref);
        chat_cmd_free(&cmd);
        return;
    }
    /* A live client keeps its anonymous name held (the hold expires only
     * for an instance that died with the connection open). */
    if (c->holds_name && now - c->refreshed_ns > (uint64_t)chat_settings.name_ttl_ms * 250000u) {
        vial_req *req = vial_ws_request(ws);
        if (req)
            chat_name_refresh(req, c->name);
        c->refreshed_ns = now;
    }
    switch (cmd.type) {
    case CHAT_HELLO:
        hello(ws, c, &cmd);
        break;
    case CHAT_CREATE:
        create(ws, c, &cmd);
        break;
    case CHAT_JOIN:
        join(ws, c, &cmd);
        break;
    case CHAT_LEAVE:
        leave(ws, c, &cmd);
        break;
    case CHAT_MESSAGE:
        message(ws, c, &cmd);
        break;
    }
    chat_cmd_free(&cmd);
}

/* A published frame: "<origin> <frame>" on "chat", "<origin> <id> <frame>"
 * on "chat:<channel>". */
static void on_event(vial_ws *ws, const char *topic, const char *data, size_t len)
{
    conn *c = vial_ws_ud(ws);
    if (len < CHAT_ORIGIN_LEN + 2 || data[CHAT_ORIGIN_LEN] != ' ' || !memcmp(data, c->origin, CHAT_ORIGIN_LEN))
        return; /* malformed, or this connection's own: it has its copy */
    const char *p = data + CHAT_ORIGIN_LEN + 1, *end = data + len;
    if (!strcmp(topic, CHAT_TOPIC)) {
        vial_ws_send(ws, p, (size_t)(end - p), 0);
        return;
    }
    member *m = !strncmp(topic, "chat:", 5) ? find_member(c, topic + 5) : NULL;
    if (!m)
        return; /* left meanwhile */
    char *sp;
    long long id = strtoll(p, &sp, 10);
    if (sp == p || sp >= end || *sp != ' ')
        return;
    if (id <= m->last)
        return; /* sent with the history already */
    m->last = id;
    vial_ws_send(ws, sp + 1, (size_t)(end - sp - 1), 0);
}

static void on_close(vial_ws *ws, int code, const char *reason)
{
    (void)code;
    (void)reason;
    conn *c = vial_ws_ud(ws);
    if (!c)
        return;
    if (c->holds_name) {
        vial_req *req = vial_ws_request(ws);
        if (req)
            chat_name_release(req, c->name);
    }
    for (size_t i = 0; i < c->nm; i++)
        free(c->m[i].channel);
    free(c->m);
    free(c->name);
    free(c->user);
    free(c);
    vial_ws_set_ud(ws, NULL);
}

static const vial_ws_handlers handlers = {
    .upgrade = on_upgrade, .message = on_message, .event = on_event, .close = on_close,
};

/* The endpoint in the API document: the handshake's answers, and the
 * protocol in brief (README.md has it in full, with an example session). */
static const vial_doc ws_doc = {
    .summary = "The chat protocol (WebSocket)",
    .description =
        "A GET with `Upgrade: websocket` (RFC 6455, permessage-deflate) opens a chat connection: JSON "
        "text frames, each an object with a `type`.\n\n"
        "- `{\"type\": \"hello\", \"name\": \"alice\"}` first (a logged-in client may leave out `name`) "
        "→ `{\"type\": \"welcome\", \"name\", \"channels\": [...]}`\n"
        "- `{\"type\": \"create\", \"channel\"}` → every client that said hello gets "
        "`{\"type\": \"channel\", \"channel\"}`\n"
        "- `{\"type\": \"join\", \"channel\"}` → `{\"type\": \"history\", \"channel\", \"messages\": [...]}` "
        "(the last 100, oldest first); `{\"type\": \"leave\", \"channel\"}` → `{\"type\": \"left\", \"channel\"}`\n"
        "- `{\"type\": \"message\", \"channel\", \"text\", \"ref\"}` → every member gets "
        "`{\"type\": \"message\", \"id\", \"channel\", \"name\", \"text\", \"time\"}`, the sender's copy "
        "with its `ref`\n"
        "- a problem: `{\"type\": \"error\", \"code\", \"message\", \"ref\"}`, the connection stays open\n\n"
        "A binary frame closes the connection with 1003, a client over `chat_rate` / `chat_burst` with "
        "1008, a message over ws_max_message (1 MiB) with 1009. Anonymous clients choose a display name unless "
        "`chat_anonymous` is off.",
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(101, "switching to the chat protocol"),
        VIAL_RESPONSE(400, "a malformed handshake"),
        VIAL_RESPONSE(401, "credentials were sent and refused, or none were and chat_anonymous is off"),
        VIAL_RESPONSE(403, "an Origin of another site"),
        VIAL_RESPONSE(426, "a plain HTTP request, or another WebSocket version"),
        VIAL_RESPONSE(503, "the database is unavailable"),
        VIAL_RESPONSE_END },
    .security = "bearer,api_key,session",
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};

int chat_ws_register(vial_bp *bp)
{
    return vial_ws_route(bp, "/ws/chat", &handlers, &(vial_ws_opts){ .endpoint = "ws", .doc = &ws_doc });
}

/*
 * api.c — the chat's HTTP API and Server-Sent Events, beside the
 * WebSocket: for bots, other processes and clients that only read.
 *
 *   GET  /api/chat/channels                  [{"name","messages"}], oldest channel first
 *   POST /api/chat/channels                  {"name"} → 201 {"name","messages":0}
 *   GET  /api/chat/channels/<name>/messages  oldest first; ?limit (1..100, default 100),
 *                                            ?after (the cursor of Link: rel="next")
 *   POST /api/chat/channels/<name>/messages  {"name","text"} → 201, the stored message,
 *                                            published to the channel's members everywhere
 *   GET  /api/chat/channels/<name>/events    SSE: one "message" event per message, id: its
 *                                            id, data: its JSON; Last-Event-ID replays
 *
 * Errors are the common shape with the chat protocol's code beside it:
 * {"error":"bad_request_400","message":"...","code":"bad_text"}.
 */
#include "chat_impl.h"

#include <stdlib.h>
#include <string.h>

static int fail(vial_req *req, int status, const char *code, const char *message)
{
    return vial_abort_json(req, status, message, json_pack("{s:s}", "code", code));
}

static int fail_store(vial_req *req, int rc)
{
    if (rc == VIAL_EDBDOWN || rc == VIAL_EBUSY)
        return vial_db_unavailable(req);
    return vial_abortf(req, 503, "the chat's storage failed: %s", vial_strerror(rc));
}

/* The channel named by the path: 0 and its id, or 1 once answered (404, 503). */
static int channel_of(vial_req *req, const char **name, int64_t *id)
{
    *name = vial_param(req, "name");
    const char *why = chat_check_channel(*name, strlen(*name));
    if (why)
        return fail(req, 404, "no_such_channel", why), 1;
    int rc = chat_channel_find(req, *name, id);
    if (rc == VIAL_ENOENT)
        return fail(req, 404, "no_such_channel", "no channel of that name"), 1;
    if (rc)
        return fail_store(req, rc), 1;
    return 0;
}

/* A string member of the JSON body: 0 and *out, or 1 once answered (400). */
static int body_str(vial_req *req, json_t *body, const char *key, bool required, const char **out)
{
    json_t *v = json_object_get(body, key);
    *out = NULL;
    if (!v && !required)
        return 0;
    if (!json_is_string(v))
        return fail(req, 400, "bad_request",
                    vial_sprintf(req, v ? "\"%s\" must be a string" : "missing \"%s\"", key)), 1;
    *out = json_string_value(v);
    return 0;
}

static json_t *body_object(vial_req *req)
{
    json_t *b = vial_body_json(req);
    if (!b) {
        const char *why = vial_body_json_error(req);
        fail(req, 400, "bad_json", why ? why : "the body must be a JSON object");
        return NULL;
    }
    if (!json_is_object(b)) {
        fail(req, 400, "bad_request", "the body must be a JSON object");
        return NULL;
    }
    return b;
}

/* ------------------------------------------------------------------ channels */

static int list_channels(vial_req *req)
{
    const char *user;
    if (chat_who(req, true, &user))
        return 0;
    int rc;
    json_t *a = chat_channels(req, true, &rc);
    return a ? vial_json_take(req, 200, a) : fail_store(req, rc);
}

static int create_channel(vial_req *req)
{
    const char *user, *name;
    if (chat_who(req, false, &user))
        return 0;
    json_t *b = body_object(req);
    if (!b || body_str(req, b, "name", true, &name))
        return 0;
    const char *why = chat_check_channel(name, json_string_length(json_object_get(b, "name")));
    if (why || strlen(name) != json_string_length(json_object_get(b, "name")))
        return fail(req, 400, "bad_channel", why ? why : "a channel name may not contain NUL");
    int64_t id;
    int rc = chat_channel_create(req, name, &id);
    if (rc == VIAL_EUNIQUE)
        return fail(req, 409, "channel_exists", "a channel of that name exists");
    if (rc)
        return fail_store(req, rc);
    char *f = chat_channel_frame_malloc(name);
    if (f) {
        chat_publish_channel(vial_app_of(req), "http", f);
        free(f);
    }
    const char *loc = vial_url_for(req, "chat.channel_messages", "name", name, NULL);
    if (loc)
        vial_set_header(req, "Location", loc);
    return vial_json_take(req, 201, json_pack("{s:s,s:i}", "name", name, "messages", 0));
}

/* ------------------------------------------------------------------ messages */

static const vial_page_spec by_id = { .keys = { VIAL_T_INT }, .nkeys = 1, .default_limit = CHAT_HISTORY,
                                      .max_limit = CHAT_HISTORY };

static int list_messages(vial_req *req)
{
    const char *user, *name;
    int64_t id;
    if (chat_who(req, true, &user) || channel_of(req, &name, &id))
        return 0;
    vial_page pg;
    if (vial_page_args(req, &by_id, &pg))
        return 0;
    int64_t after = pg.after[0].u.i > 0 ? pg.after[0].u.i : 0, last;
    int rc;
    /* One more than the page: whether a next page exists. */
    json_t *a = chat_messages(req, id, name, after, pg.limit + 1, &last, &rc);
    if (!a)
        return fail_store(req, rc);
    if ((int64_t)json_array_size(a) > pg.limit) {
        json_array_remove(a, json_array_size(a) - 1);
        json_t *lastm = json_array_get(a, json_array_size(a) - 1);
        const char *next = vial_page_cursor(
            req, &pg, (vial_val[]){ VIAL_INT(json_integer_value(json_object_get(lastm, "id"))) });
        if (next)
            vial_page_link(req, &pg, next);
    }
    return vial_json_take(req, 200, a);
}

static int post_message(vial_req *req)
{
    const char *user, *name, *sender, *text;
    int64_t id;
    if (chat_who(req, false, &user) || channel_of(req, &name, &id))
        return 0;
    json_t *b = body_object(req);
    if (!b || body_str(req, b, "name", !user, &sender) || body_str(req, b, "text", true, &text))
        return 0;
    if (user) {
        if (sender && strcmp(sender, user))
            return fail(req, 400, "bad_name", vial_sprintf(req, "logged in as %s: that is your name here", user));
        sender = user;
    } else {
        const char *why = chat_check_name(sender, json_string_length(json_object_get(b, "name")));
        if (why || strlen(sender) != json_string_length(json_object_get(b, "name")))
            return fail(req, 400, "bad_name", why ? why : "a name may not contain NUL");
    }
    size_t tn = json_string_length(json_object_get(b, "text"));
    const char *why = chat_check_text(text, tn);
    if (why || strlen(text) != tn)
        return fail(req, 400, "bad_text", why ? why : "a message's text may not contain NUL");
    if (!user) {
        /* A bot may not speak as an account, nor as a connected client. */
        int used = chat_name_in_use(req, sender);
        if (used < 0)
            return fail_store(req, used);
        if (used)
            return fail(req, 409, "name_taken", "that name is an account's or a connected client's");
    }
    chat_msg m;
    int rc = chat_message_add(req, id, name, sender, text, &m);
    if (rc)
        return fail_store(req, rc);
    chat_count(req, false);
    size_t len;
    char *f = chat_message_frame_malloc(&m, &len);
    if (f) {
        chat_publish_message(vial_app_of(req), "http", &m, f, len);
        free(f);
    }
    return vial_json_take(req, 201, chat_message_json(&m));
}

/* ------------------------------------------------------------------ events */

typedef struct tail {
    int64_t channel_id;
    const char *channel;
    int64_t replayed; /* the newest id the replay sent: live copies up to it are skipped */
} tail;

static int send_event(vial_sse *s, int64_t id, const char *json, size_t len)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%" PRId64, id);
    return vial_sse_send(s, "message", ids, json, len);
}

/* A published frame "<origin> <id> {"type":"message",...}": the event's
 * data is the message object, the frame without its "type". */
static int format(vial_sse *s, const char *topic, const char *data, size_t len, void *ud)
{
    (void)topic;
    tail *t = ud;
    const char *p = data + CHAT_ORIGIN_LEN + 1, *end = data + len;
    if (len < CHAT_ORIGIN_LEN + 2)
        return 0;
    char *sp;
    long long id = strtoll(p, &sp, 10);
    if (sp == p || sp >= end || *sp != ' ' || id <= t->replayed)
        return 0;
    const char *frame = sp + 1;
    size_t fl = (size_t)(end - frame);
    if (fl <= CHAT_FRAME_SKIP || memcmp(frame, "{\"type\":\"message\",", CHAT_FRAME_SKIP))
        return 0;
    char stack[4096];
    char *buf = fl <= sizeof stack ? stack : malloc(fl);
    if (!buf)
        return VIAL_ENOMEM;
    buf[0] = '{';
    memcpy(buf + 1, frame + CHAT_FRAME_SKIP, fl - CHAT_FRAME_SKIP);
    int rc = send_event(s, id, buf, fl - CHAT_FRAME_SKIP + 1);
    if (buf != stack)
        free(buf);
    return rc;
}

static int replay(vial_sse *s, const char *last_id, void *ud)
{
    tail *t = ud;
    char *end;
    long long after = strtoll(last_id, &end, 10);
    if (*end || after < 0)
        return 0; /* not one of our ids: nothing to replay */
    vial_req *req = vial_sse_req(s);
    int64_t last;
    int rc;
    json_t *a = chat_messages(req, t->channel_id, t->channel, after, CHAT_HISTORY, &last, &rc);
    if (!a)
        return rc;
    size_t i;
    json_t *m;
    json_array_foreach(a, i, m)
    {
        char *js = json_dumps(m, JSON_COMPACT);
        rc = js ? send_event(s, json_integer_value(json_object_get(m, "id")), js, strlen(js)) : VIAL_ENOMEM;
        free(js);
        if (rc)
            break;
    }
    json_decref(a);
    t->replayed = last;
    return rc;
}

static int events(vial_req *req)
{
    const char *user, *name;
    int64_t id;
    if (chat_who(req, true, &user) || channel_of(req, &name, &id))
        return 0;
    tail *t = vial_alloc(req, sizeof *t);
    const char *topic = vial_sprintf(req, "chat:%s", name);
    if (!t || !topic)
        return vial_abort(req, 503, "out of memory");
    *t = (tail){ .channel_id = id, .channel = name };
    const char *topics[] = { topic, NULL };
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .topics = topics, .replay = replay, .format = format,
                                                        .ud = t });
    return s ? 0 : vial_abort(req, 503, "out of memory");
}

/* ------------------------------------------------------------------ the API document */

/* What the routes take and answer, as /openapi.json shows it.  The views
 * check bodies themselves, with the chat protocol's error codes and the
 * rules of proto.c (chat_check_*): these schemas restate them, and are not
 * what the views validate with (vial_validate has no place for a "code"). */
static const vial_field new_channel_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED, .min = 1, .max = CHAT_CHANNEL_MAX,
               .doc = "1..64 characters, any UTF-8 but control characters; unique"),
    VIAL_FIELD_END,
};
static const vial_schema new_channel_schema = { new_channel_f, 0 };
static const vial_field new_message_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, 0, .min = 1, .max = CHAT_NAME_MAX,
               .doc = "the sender's display name: required when anonymous (1..32 characters, no control "
                      "characters, no space at either end, not an account's nor a connected client's); "
                      "with credentials the account's username, or left out"),
    VIAL_FIELD("text", VIAL_F_STRING, VIAL_REQUIRED, .min = 1, .max = CHAT_TEXT_MAX,
               .doc = "1..2000 characters"),
    VIAL_FIELD_END,
};
static const vial_schema new_message_schema = { new_message_f, 0 };

static const vial_field channel_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("messages", VIAL_F_INT, VIAL_REQUIRED, .min = 0, .max = CHAT_HISTORY,
               .doc = "messages kept (the last 100)"),
    VIAL_FIELD_END,
};
static const vial_schema channel_schema = { channel_f, 0 };
static const vial_field channels_f = VIAL_FIELD("channels", VIAL_F_ARRAY, 0, .schema = &channel_schema,
                                                .doc = "oldest channel first");
static const vial_field message_f[] = {
    VIAL_FIELD("id", VIAL_F_INT, VIAL_REQUIRED, .doc = "increasing with time, across channels"),
    VIAL_FIELD("channel", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the sender's display name"),
    VIAL_FIELD("text", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("time", VIAL_F_TIMESTAMP, VIAL_REQUIRED, .doc = "when it was stored (UTC)"),
    VIAL_FIELD_END,
};
static const vial_schema message_schema = { message_f, 0 };
static const vial_field messages_f = VIAL_FIELD("messages", VIAL_F_ARRAY, 0, .schema = &message_schema,
                                                .doc = "oldest first; a Link header (rel=\"next\") points at "
                                                       "the next page while newer ones follow");

static const vial_field channel_p[] = {
    VIAL_FIELD("name", VIAL_F_STRING, 0, .min = 1, .max = CHAT_CHANNEL_MAX, .doc = "a channel's name"),
    VIAL_FIELD_END,
};
static const vial_field page_q[] = {
    VIAL_FIELD("limit", VIAL_F_INT, 0, .min = 1, .max = CHAT_HISTORY, .doc = "messages per page (default 100)"),
    VIAL_FIELD("after", VIAL_F_STRING, 0, .doc = "the opaque cursor of the Link header's next page"),
    VIAL_FIELD_END,
};

#define R_UNAUTH VIAL_RESPONSE(401, "credentials were sent and refused, or none were and chat_anonymous is off")
#define R_NOCHAN VIAL_RESPONSE(404, "no channel of this name (code no_such_channel)")
#define R_NODB VIAL_RESPONSE(503, "the database is unavailable")
/* Anonymous clients are welcome unless chat_anonymous is off; reads also
 * know the dashboard's session, writes only tokens and keys (a session
 * write would need CSRF protection; the page writes over the WebSocket). */
#define READ_SEC "bearer,api_key,session"
#define WRITE_SEC "bearer,api_key"
#define ERRORS "Errors are the common shape with the chat protocol's `code` beside it: " \
               "`{\"error\": \"bad_request_400\", \"message\": \"...\", \"code\": \"bad_text\"}`."

static const vial_doc channels_doc = {
    .summary = "List the channels",
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "every channel with its number of messages", .field = &channels_f),
        R_UNAUTH, R_NODB, VIAL_RESPONSE_END },
    .security = READ_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};
static const vial_doc create_channel_doc = {
    .summary = "Create a channel",
    .description = "Every WebSocket client that said hello is told (`{\"type\": \"channel\"}`). "
                   "`Location` names its messages. " ERRORS,
    .body = &new_channel_schema,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(201, "the channel", .schema = &channel_schema),
        VIAL_RESPONSE(400, "not a JSON object (bad_json, bad_request), or a bad name (bad_channel)"),
        R_UNAUTH,
        VIAL_RESPONSE(409, "a channel of this name exists (channel_exists)"),
        R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};
static const vial_doc channel_messages_doc = {
    .summary = "A channel's messages",
    .description = "The last 100 messages the channel keeps, oldest first, a page of `limit` at a time. " ERRORS,
    .params = channel_p,
    .query = page_q,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "a page of messages", .field = &messages_f),
        VIAL_RESPONSE(400, "a bad limit or cursor"),
        R_UNAUTH, R_NOCHAN, R_NODB, VIAL_RESPONSE_END },
    .security = READ_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};
static const vial_doc post_message_doc = {
    .summary = "Post a message to a channel",
    .description = "Stored (the channel keeps its last 100), then sent to every member of the channel "
                   "on every worker and instance, as a WebSocket frame and an SSE event. " ERRORS,
    .params = channel_p,
    .body = &new_message_schema,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(201, "the stored message", .schema = &message_schema),
        VIAL_RESPONSE(400, "not a JSON object (bad_json, bad_request), a bad or missing name (bad_name), "
                           "a bad text (bad_text)"),
        R_UNAUTH, R_NOCHAN,
        VIAL_RESPONSE(409, "the name is an account's or a connected client's (name_taken)"),
        R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};
static const vial_doc channel_events_doc = {
    .summary = "A channel's messages as they come (Server-Sent Events)",
    .description = "One `event: message` per message, `id:` its id and `data:` its JSON (as in the list). "
                   "A client that reconnects with `Last-Event-ID` first gets what it missed of the messages "
                   "the channel keeps.",
    .params = channel_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the event stream", .content_type = "text/event-stream"),
        R_UNAUTH, R_NOCHAN, R_NODB, VIAL_RESPONSE_END },
    .security = READ_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};

static const vial_route_def routes[] = {
    VIAL_ROUTE(VIAL_GET, "/api/chat/channels", list_channels, "channels", &channels_doc),
    VIAL_ROUTE(VIAL_POST, "/api/chat/channels", create_channel, "create_channel", &create_channel_doc),
    VIAL_ROUTE(VIAL_GET, "/api/chat/channels/<name>/messages", list_messages, "channel_messages",
               &channel_messages_doc),
    VIAL_ROUTE(VIAL_POST, "/api/chat/channels/<name>/messages", post_message, "post_message", &post_message_doc),
    VIAL_ROUTE(VIAL_GET, "/api/chat/channels/<name>/events", events, "channel_events", &channel_events_doc),
    VIAL_ROUTE_END,
};

int chat_api_register(vial_app *app, vial_bp *bp)
{
    int rc = vial_route_table(bp, routes);
    rc |= vial_openapi_schema(app, &message_schema, "ChatMessage", "a stored chat message");
    rc |= vial_openapi_schema(app, &channel_schema, "ChatChannel", NULL);
    return rc;
}

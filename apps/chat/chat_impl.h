/*
 * chat_impl.h — what the chat blueprint's files share (apps/chat).
 *
 *   proto.c   client frames: parsing and validation (pure: no request, no
 *             I/O; unit-tested and fuzzed), error frames, the rate bucket
 *   store.c   SQL: channels, messages, the last 100 kept per channel
 *   ws.c      the WebSocket endpoint GET /ws/chat
 *   api.c     the HTTP API and the SSE events of a channel
 *   chat.c    settings, registration, who the caller is, names in use
 *
 * How a message travels: it is stored (store.c), then published on the
 * topic "chat:<channel>" (vial_publish: every worker, and with REDIS_URL
 * every instance) as "<origin> <id> <frame>", where <frame> is the
 * WebSocket frame {"type":"message","id":...} every member is sent as is
 * (no work per subscriber but the copy into its queue) and <origin> the
 * sending connection's random tag, so the sender, who got its copy with
 * its "ref" at once, skips the echo.  Channels created are published the
 * same way on the topic "chat" ("<origin> <frame>") to every client that
 * said hello.
 */
#ifndef VIAL_APPS_CHAT_IMPL_H
#define VIAL_APPS_CHAT_IMPL_H

#include "chat.h"

#include <stdbool.h>

#define CHAT_HISTORY 100      /* messages kept per channel, and sent on join */
#define CHAT_NAME_MAX 32      /* display names: characters */
#define CHAT_CHANNEL_MAX 64   /* channel names: characters */
#define CHAT_TEXT_MAX 2000    /* message text: characters */
#define CHAT_REF_MAX 128      /* a string ref: bytes */
#define CHAT_JOINED_MAX 256   /* channels one connection may be in */
#define CHAT_TOPIC "chat"     /* channels created; a channel's topic is "chat:<name>" */
#define CHAT_ORIGIN_LEN 16    /* hex characters of a connection's origin tag */

/* ------------------------------------------------------------------ proto.c */

typedef enum { CHAT_HELLO, CHAT_CREATE, CHAT_JOIN, CHAT_LEAVE, CHAT_MESSAGE } chat_type;

/* One client frame, parsed and checked.  Strings point into `root`. */
typedef struct chat_cmd {
    json_t *root;        /* owned: chat_cmd_free() */
    chat_type type;
    const char *name;    /* hello: NULL when absent */
    const char *channel; /* create, join, leave, message */
    const char *text;    /* message */
    json_t *ref;         /* borrowed from root; NULL when none was sent */
} chat_cmd;

/*
 * Parses a text frame.  0 with *cmd filled; otherwise the error's code
 * (bad_json, bad_request, unknown_type, bad_name, bad_channel, bad_text:
 * Static) is returned through *code and its message written to `why`
 * (NUL-terminated, at most `whylen` bytes), and the result is -1.  Even
 * then cmd->ref is the frame's ref when it had a usable one, so the error
 * can carry it; chat_cmd_free() is needed either way.
 */
int chat_parse(const char *data, size_t len, chat_cmd *cmd, const char **code, char *why,
               size_t whylen);
void chat_cmd_free(chat_cmd *cmd);

/* NULL when the value is acceptable, else why not (Static). */
const char *chat_check_name(const char *s, size_t n);
const char *chat_check_channel(const char *s, size_t n);
const char *chat_check_text(const char *s, size_t n);

/* {"type":"error","code":...,"message":...,"ref":...} (ref: null when
 * NULL), malloc'd (free()), NULL when out of memory. */
char *chat_error_frame_malloc(const char *code, const char *message, json_t *ref);
/* `frame` (a JSON object's text) with "ref" added as its last member,
 * malloc'd; NULL when out of memory. */
char *chat_with_ref_malloc(const char *frame, size_t len, json_t *ref, size_t *outlen);

/* A token bucket: `burst` frames at once, `rate` per second after.
 * Starts full.  True when a token was taken. */
typedef struct chat_bucket {
    double tokens;
    uint64_t last_ns;
    bool started;
} chat_bucket;
bool chat_bucket_take(chat_bucket *b, double rate, double burst, uint64_t now_ns);

/* ------------------------------------------------------------------ store.c */

typedef struct chat_msg {
    int64_t id, time_us;
    const char *channel, *name, *text;
} chat_msg;

/* 0 and *id; VIAL_EUNIQUE when the name is taken; another VIAL_E*. */
int chat_channel_create(vial_req *req, const char *name, int64_t *id);
/* 0 and *id; VIAL_ENOENT; another VIAL_E*. */
int chat_channel_find(vial_req *req, const char *name, int64_t *id);
/* Every channel, oldest first: an array of names (counts: false) or of
 * {"name","messages"} (counts: true).  A new reference, or NULL (*rc). */
json_t *chat_channels(vial_req *req, bool counts, int *rc);
/* Stores a message in channel `channel_id` and trims the channel to its
 * last CHAT_HISTORY; fills *out (strings borrowed from the arguments). */
int chat_message_add(vial_req *req, int64_t channel_id, const char *channel, const char *name,
                     const char *text, chat_msg *out);
/* The messages of a channel with id > after, oldest first, at most
 * `limit` (0: CHAT_HISTORY), as message objects; *last is the id of the
 * last one (after, when none).  A new reference, or NULL (*rc). */
json_t *chat_messages(vial_req *req, int64_t channel_id, const char *channel, int64_t after,
                      int64_t limit, int64_t *last, int *rc);
/* {"id","channel","name","text","time"}: a new reference. */
json_t *chat_message_json(const chat_msg *m);
/* The WebSocket frame {"type":"message","id",...}, malloc'd; NULL when out
 * of memory.  Its text after CHAT_FRAME_SKIP bytes, behind a "{", is the
 * message object: the SSE events send that. */
char *chat_message_frame_malloc(const chat_msg *m, size_t *len);
#define CHAT_FRAME_SKIP (sizeof "{\"type\":\"message\"," - 1)

/* ------------------------------------------------------------------ chat.c */

typedef struct chat_cfg {
    bool anonymous;
    double rate, burst;
    int64_t name_ttl_ms;
    vial_metric *messages;  /* vial_chat_messages_total */
    int64_t s_via_ws, s_via_http;
} chat_cfg;
extern chat_cfg chat_settings;

/* The caller's account name (Arena) in *user, or NULL for an anonymous
 * caller; 0, or non-zero once the request was answered (401 for bad
 * credentials or, with chat_anonymous off, none; 503).  `session`: the
 * dashboard's login counts (reads, and the WebSocket, whose handshake the
 * Origin check guards); the HTTP API's POSTs take only a bearer token or
 * an API key (no CSRF token there: a cross-site form must not post as the
 * browser's user). */
int chat_who(vial_req *req, bool session, const char **user);
/* An anonymous display name: held for this connection (0), or name_taken
 * (VIAL_EEXIST: another client holds it or an account has it), or a
 * database/store failure (VIAL_E*). */
int chat_name_claim(vial_req *req, const char *name);
/* Refreshes the hold (its expiry) and releases it. */
void chat_name_refresh(vial_req *req, const char *name);
void chat_name_release(vial_req *req, const char *name);
/* 1 when an account has the name or a connected client holds it (the
 * HTTP API's anonymous posts may not use it), 0 when free, VIAL_E*. */
int chat_name_in_use(vial_req *req, const char *name);
/* Publishes a stored message to the channel's members everywhere. */
int chat_publish_message(vial_app *app, const char *origin, const chat_msg *m, const char *frame,
                         size_t len);
/* Publishes a new channel to every client that said hello. */
int chat_publish_channel(vial_app *app, const char *origin, const char *frame);
/* {"type":"channel","channel":name}, malloc'd. */
char *chat_channel_frame_malloc(const char *name);
/* The counter, on the request's worker. */
void chat_count(vial_req *req, bool via_ws);

/* ------------------------------------------------------------------ ws.c, api.c */

int chat_ws_register(vial_bp *bp);
int chat_api_register(vial_app *app, vial_bp *bp);

#endif

/*
 * chat.c — the chat blueprint (the Flack design of the original course):
 * display names, channels, the last 100 messages of each, every message
 * delivered to every client in the channel, on every worker and instance.
 *
 *   GET  /ws/chat                               the WebSocket protocol (ws.c)
 *   GET  /api/chat/channels                     [{"name","messages"}]
 *   POST /api/chat/channels                     {"name"} → 201
 *   GET  /api/chat/channels/<name>/messages     oldest first, ?limit, ?after, Link: next
 *   POST /api/chat/channels/<name>/messages     {"name","text"} → 201, reaches WebSocket clients
 *   GET  /api/chat/channels/<name>/events       Server-Sent Events, Last-Event-ID replays (api.c)
 *
 * This file: the settings, the registration, who the caller is (chat_who:
 * the dashboard's login, a bearer token or an API key; anonymous when
 * chat_anonymous allows), anonymous display names in use (held in the kv
 * store — the process's, or Redis shared by every instance — for as long
 * as the connection lives), and publishing (topics "chat" and
 * "chat:<channel>", see chat_impl.h).
 */
#include "chat_impl.h"

#include "users/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

chat_cfg chat_settings;

/* ------------------------------------------------------------------ who */

int chat_who(vial_req *req, bool session, const char **user)
{
    *user = NULL;
    users_account a;
    int rc = users_current(req, session, &a);
    if (rc == 0) {
        *user = a.username;
        return 0;
    }
    if (rc == VIAL_EINVAL) { /* credentials sent, and wrong: never silently anonymous */
        vial_set_header(req, "WWW-Authenticate", "Bearer");
        vial_abortf(req, 401, "credentials refused: %s", vial_auth_error(req));
        return 1;
    }
    if (rc != VIAL_ENOENT) {
        vial_db_unavailable(req);
        return 1;
    }
    if (!chat_settings.anonymous) {
        vial_set_header(req, "WWW-Authenticate", "Bearer");
        vial_abort(req, 401, "the chat needs a login, a bearer token or an API key (chat_anonymous is off)");
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ names in use */

/* The store's key of a name: ASCII letters folded, so "Alice" and "alice"
 * are one name (as logins compare). */
static const char *name_key(vial_req *req, const char *name)
{
    char *k = vial_sprintf(req, "chat:name:%s", name);
    for (char *p = k ? k + 10 : NULL; p && *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return k;
}

int chat_name_claim(vial_req *req, const char *name)
{
    /* An account's name is its owner's, connected or not. */
    int rc = users_name_exists(req, name);
    if (rc)
        return rc == 1 ? VIAL_EEXIST : rc;
    const char *k = name_key(req, name);
    if (!k)
        return VIAL_ENOMEM;
    /* The first add makes the counter 1: that client holds the name.  The
     * expiry only frees the names of an instance that died with clients
     * connected; a live holder refreshes it (chat_name_refresh). */
    int64_t v = 0;
    rc = vial_kv_incr(req, k, 1, chat_settings.name_ttl_ms, &v);
    if (rc)
        return rc;
    return v == 1 ? 0 : VIAL_EEXIST;
}

void chat_name_refresh(vial_req *req, const char *name)
{
    const char *k = name_key(req, name);
    if (k)
        vial_kv_set(req, k, "1", 1, chat_settings.name_ttl_ms);
}

void chat_name_release(vial_req *req, const char *name)
{
    const char *k = name_key(req, name);
    if (k)
        vial_kv_del(req, k);
}

int chat_name_in_use(vial_req *req, const char *name)
{
    int rc = users_name_exists(req, name);
    if (rc)
        return rc;
    const char *k = name_key(req, name);
    if (!k)
        return VIAL_ENOMEM;
    const char *v;
    rc = vial_kv_get(req, k, &v, NULL);
    return rc == 0 ? 1 : rc == VIAL_ENOENT ? 0 : rc;
}

/* ------------------------------------------------------------------ publishing */

int chat_publish_message(vial_app *app, const char *origin, const chat_msg *m, const char *frame,
                         size_t len)
{
    size_t cn = strlen(m->channel);
    char stack[256];
    char *topic = cn + 6 <= sizeof stack ? stack : malloc(cn + 6);
    char *payload = malloc(CHAT_ORIGIN_LEN + 24 + len + 1);
    int rc = VIAL_ENOMEM;
    if (topic && payload) {
        memcpy(topic, "chat:", 5);
        memcpy(topic + 5, m->channel, cn + 1);
        int n = snprintf(payload, CHAT_ORIGIN_LEN + 24, "%-16.16s %" PRId64 " ", origin, m->id);
        memcpy(payload + n, frame, len);
        rc = vial_publish(app, topic, payload, (size_t)n + len);
    }
    if (topic != stack)
        free(topic);
    free(payload);
    return rc;
}

int chat_publish_channel(vial_app *app, const char *origin, const char *frame)
{
    size_t len = strlen(frame);
    char *payload = malloc(CHAT_ORIGIN_LEN + 2 + len); /* snprintf's NUL, overwritten by the frame */
    if (!payload)
        return VIAL_ENOMEM;
    snprintf(payload, CHAT_ORIGIN_LEN + 2, "%-16.16s ", origin);
    memcpy(payload + CHAT_ORIGIN_LEN + 1, frame, len);
    int rc = vial_publish(app, CHAT_TOPIC, payload, CHAT_ORIGIN_LEN + 1 + len);
    free(payload);
    return rc;
}

char *chat_channel_frame_malloc(const char *name)
{
    json_t *o = json_pack("{s:s,s:s}", "type", "channel", "channel", name);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

void chat_count(vial_req *req, bool via_ws)
{
    vial_metric_add_series(vial_app_of(req), req, chat_settings.messages,
                           via_ws ? chat_settings.s_via_ws : chat_settings.s_via_http, 1);
}

/* ------------------------------------------------------------------ set-up */

static int chat_start(vial_app *app)
{
    chat_settings.anonymous = vial_config_bool(app, "chat_anonymous", 1);
    const char *r = vial_config(app, "chat_rate"), *b = vial_config(app, "chat_burst");
    char *e1, *e2;
    double rate = strtod(r ? r : "", &e1), burst = strtod(b ? b : "", &e2);
    if (!r || !*r || *e1 || rate < 0 || rate > 1e6) {
        vial_log(VIAL_LOG_ERROR, "chat_rate: '%s' is not a number of messages per second (0: no limit)", r ? r : "");
        return VIAL_EINVAL;
    }
    if (!b || !*b || *e2 || burst < 1 || burst > 1e6) {
        vial_log(VIAL_LOG_ERROR, "chat_burst: '%s' is not a number of messages (at least 1)", b ? b : "");
        return VIAL_EINVAL;
    }
    chat_settings.rate = rate;
    chat_settings.burst = burst;
    chat_settings.name_ttl_ms = vial_config_duration_ms(app, "chat_name_ttl", 3600 * 1000);
    if (chat_settings.name_ttl_ms < 10000) {
        vial_log(VIAL_LOG_ERROR, "chat_name_ttl: at least 10s");
        return VIAL_EINVAL;
    }
    return 0;
}

int chat_register(vial_app *app)
{
    if (vial_config_define(app, "chat_anonymous", "on",
                           "anonymous chat clients choose a display name (off: the chat needs a login, "
                           "bearer token or API key)") ||
        vial_config_define(app, "chat_rate", "20", "chat frames per second per connection (0: no limit)") ||
        vial_config_define(app, "chat_burst", "50", "chat frames a connection may send at once") ||
        vial_config_define(app, "chat_name_ttl", "1h",
                           "how long an anonymous name stays held without a frame from its client (a "
                           "crashed instance's names free themselves after it)") ||
        vial_on_start(app, chat_start) || vial_db_migrations(app, "chat", "apps/chat/migrations"))
        return VIAL_EINVAL;
    static const char *const via[] = { "via", NULL };
    chat_settings.messages = vial_counter(app, "vial_chat_messages_total",
                                          "Chat messages stored, by the way they came (ws or http).", via);
    chat_settings.s_via_ws = vial_metric_series(app, chat_settings.messages, (const char *const[]){ "ws", NULL });
    chat_settings.s_via_http =
        vial_metric_series(app, chat_settings.messages, (const char *const[]){ "http", NULL });
    vial_bp *bp = vial_bp_new("chat");
    if (!bp)
        return VIAL_ENOMEM;
    int rc = chat_ws_register(bp);
    rc |= chat_api_register(app, bp);
    rc |= vial_bp_describe(bp, "The chat: channels keeping their last 100 messages, delivered live to "
                               "every member on every worker and instance. Clients speak the WebSocket "
                               "protocol at /ws/chat; bots and readers use the HTTP API and the SSE "
                               "events beside it.");
    rc |= vial_register(app, bp, "");
    return rc ? VIAL_EINVAL : 0;
}

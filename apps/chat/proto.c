/*
 * proto.c — the chat protocol's client frames: a JSON object with a
 * "type", parsed with jansson (the frame is at most ws_max_message, 1 MiB)
 * and checked field by field, so every problem becomes one precise error
 * code the connection survives.  Also the error frame, adding a "ref" to a
 * frame, and the per-connection rate bucket.  Nothing here touches a
 * request or the network: tests/unit/apps/chat_proto.c and
 * fuzz/chat_proto_fuzz.c call it directly.
 */
#include "chat_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    chat_type type;
} types[] = {
    { "hello", CHAT_HELLO }, { "create", CHAT_CREATE }, { "join", CHAT_JOIN },
    { "leave", CHAT_LEAVE }, { "message", CHAT_MESSAGE },
};

/* True when the UTF-8 text holds a control character: C0, DEL or C1
 * (U+0080..U+009F, encoded C2 80..C2 9F). */
static bool has_control(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0x20 || p[i] == 0x7f)
            return true;
        if (p[i] == 0xc2 && i + 1 < n && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
            return true;
    }
    return false;
}

const char *chat_check_name(const char *s, size_t n)
{
    int64_t c = vial_utf8_count(s, n);
    if (c < 1 || c > CHAT_NAME_MAX)
        return "a name is 1 to 32 characters";
    if (has_control(s, n))
        return "a name may not contain control characters";
    if (s[0] == ' ' || s[n - 1] == ' ')
        return "a name may not begin or end with a space";
    return NULL;
}

const char *chat_check_channel(const char *s, size_t n)
{
    int64_t c = vial_utf8_count(s, n);
    if (c < 1 || c > CHAT_CHANNEL_MAX)
        return "a channel name is 1 to 64 characters";
    if (has_control(s, n))
        return "a channel name may not contain control characters";
    return NULL;
}

const char *chat_check_text(const char *s, size_t n)
{
    int64_t c = vial_utf8_count(s, n);
    if (c < 1 || c > CHAT_TEXT_MAX)
        return "a message's text is 1 to 2000 characters";
    if (memchr(s, 0, n))
        return "a message's text may not contain NUL";
    return NULL;
}

/* A string member: 1 present and a string, 0 absent, -1 another type. */
static int str_member(json_t *o, const char *key, const char **out, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    *len = json_string_length(v);
    return 1;
}

int chat_parse(const char *data, size_t len, chat_cmd *cmd, const char **code, char *why,
               size_t whylen)
{
    memset(cmd, 0, sizeof *cmd);
    json_error_t err;
    /* Duplicate keys are refused: {"channel":"a","channel":"b"} has no one
     * meaning.  "\u0000" in a string is refused by jansson (no NUL in any
     * field). */
    cmd->root = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &err);
    if (!cmd->root) {
        *code = "bad_json";
        snprintf(why, whylen, "not JSON: %s at character %d", err.text, err.position);
        return -1;
    }
    if (!json_is_object(cmd->root)) {
        *code = "bad_request";
        snprintf(why, whylen, "a frame is a JSON object with a \"type\"");
        return -1;
    }
    json_t *ref = json_object_get(cmd->root, "ref");
    if (ref && !json_is_null(ref)) {
        if ((json_is_string(ref) && json_string_length(ref) <= CHAT_REF_MAX) || json_is_integer(ref)) {
            cmd->ref = ref;
        } else {
            *code = "bad_request";
            snprintf(why, whylen, "\"ref\" must be a string of at most %d bytes or an integer", CHAT_REF_MAX);
            return -1;
        }
    }
    const char *t;
    size_t tn;
    int k = str_member(cmd->root, "type", &t, &tn);
    if (k <= 0) {
        *code = "bad_request";
        snprintf(why, whylen, k ? "\"type\" must be a string" : "missing \"type\"");
        return -1;
    }
    size_t i = 0;
    while (i < sizeof types / sizeof types[0] && strcmp(types[i].name, t))
        i++;
    if (i == sizeof types / sizeof types[0] || strlen(t) != tn) {
        *code = "unknown_type";
        snprintf(why, whylen, "unknown type \"%.40s\": hello, create, join, leave or message", t);
        return -1;
    }
    cmd->type = types[i].type;
    const char *s;
    size_t n;
    if (cmd->type == CHAT_HELLO) {
        k = str_member(cmd->root, "name", &s, &n);
        if (k < 0) {
            *code = "bad_request";
            snprintf(why, whylen, "\"name\" must be a string");
            return -1;
        }
        if (k) {
            const char *p = chat_check_name(s, n);
            if (p) {
                *code = "bad_name";
                snprintf(why, whylen, "%s", p);
                return -1;
            }
            cmd->name = s;
        }
        return 0;
    }
    k = str_member(cmd->root, "channel", &s, &n);
    if (k <= 0) {
        *code = "bad_request";
        snprintf(why, whylen, k ? "\"channel\" must be a string" : "missing \"channel\"");
        return -1;
    }
    const char *p = chat_check_channel(s, n);
    if (p) {
        *code = "bad_channel";
        snprintf(why, whylen, "%s", p);
        return -1;
    }
    cmd->channel = s;
    if (cmd->type != CHAT_MESSAGE)
        return 0;
    k = str_member(cmd->root, "text", &s, &n);
    if (k <= 0) {
        *code = "bad_request";
        snprintf(why, whylen, k ? "\"text\" must be a string" : "missing \"text\"");
        return -1;
    }
    if ((p = chat_check_text(s, n))) {
        *code = "bad_text";
        snprintf(why, whylen, "%s", p);
        return -1;
    }
    cmd->text = s;
    return 0;
}

void chat_cmd_free(chat_cmd *cmd)
{
    json_decref(cmd->root);
    cmd->root = NULL;
    cmd->ref = NULL;
}

char *chat_error_frame_malloc(const char *code, const char *message, json_t *ref)
{
    json_t *o = json_pack("{s:s,s:s,s:s,s:O}", "type", "error", "code", code, "message", message,
                          "ref", ref ? ref : json_null());
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *chat_with_ref_malloc(const char *frame, size_t len, json_t *ref, size_t *outlen)
{
    char *r = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!r)
        return NULL;
    size_t rl = strlen(r);
    /* frame ends with "}": replace it by ,"ref":<ref>} */
    char *out = len && frame[len - 1] == '}' ? malloc(len + rl + 8) : NULL;
    if (out) {
        memcpy(out, frame, len - 1);
        size_t n = len - 1;
        memcpy(out + n, ",\"ref\":", 7);
        n += 7;
        memcpy(out + n, r, rl);
        n += rl;
        out[n++] = '}';
        out[n] = '\0';
        *outlen = n;
    }
    free(r);
    return out;
}

bool chat_bucket_take(chat_bucket *b, double rate, double burst, uint64_t now_ns)
{
    if (!b->started) {
        b->started = true;
        b->tokens = burst;
        b->last_ns = now_ns;
    }
    if (now_ns > b->last_ns) {
        b->tokens += (double)(now_ns - b->last_ns) / 1e9 * rate;
        if (b->tokens > burst)
            b->tokens = burst;
        b->last_ns = now_ns;
    }
    if (b->tokens < 1)
        return false;
    b->tokens -= 1;
    return true;
}

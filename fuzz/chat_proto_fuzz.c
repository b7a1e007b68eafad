/*
 * chat_proto_fuzz.c — the chat's client frames (apps/chat/proto.c): any
 * text a WebSocket client sends to /ws/chat.
 *
 * Properties checked (abort() on violation):
 *  - a frame either parses, with every field its type needs present and
 *    passing its own check again (name, channel, text), or fails with one
 *    of the protocol's codes and a non-empty reason;
 *  - a ref kept is a string of at most CHAT_REF_MAX bytes or an integer;
 *  - the error frame for it, and a frame with the ref added, are JSON
 *    objects jansson reads back, the ref equal to the one sent;
 *  - the input is its own allocation of exactly its size (reads past it
 *    are ASan reports).
 */
#include "../apps/chat/proto.c"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "chat_proto_fuzz: " __VA_ARGS__);                                          \
        fputc('\n', stderr);                                                                       \
        abort();                                                                                   \
    } while (0)

static const char *const codes[] = { "bad_json", "bad_request", "unknown_type", "bad_name", "bad_channel",
                                     "bad_text" };

static void check_json_with_ref(const char *s, json_t *ref)
{
    json_t *o = json_loads(s, 0, NULL);
    if (!json_is_object(o))
        die("not a JSON object: %s", s);
    json_t *r = json_object_get(o, "ref");
    if (ref ? !json_equal(r, ref) : !json_is_null(r))
        die("ref not kept: %s", s);
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size ? size : 1);
    if (!in)
        return 0;
    memcpy(in, data, size);
    chat_cmd c;
    const char *code = NULL;
    char why[200];
    why[0] = '\0';
    int rc = chat_parse(in, size, &c, &code, why, sizeof why);
    if (c.ref && !((json_is_string(c.ref) && json_string_length(c.ref) <= CHAT_REF_MAX) || json_is_integer(c.ref)))
        die("ref of the wrong kind kept");
    if (rc == 0) {
        if (c.type == CHAT_HELLO) {
            if (c.name && chat_check_name(c.name, strlen(c.name)))
                die("a bad name passed");
        } else {
            if (!c.channel || chat_check_channel(c.channel, strlen(c.channel)))
                die("a bad channel passed");
            if (c.type == CHAT_MESSAGE && (!c.text || chat_check_text(c.text, strlen(c.text))))
                die("a bad text passed");
        }
        if (c.ref) {
            static const char f[] = "{\"type\":\"left\",\"channel\":\"x\"}";
            size_t n;
            char *w = chat_with_ref_malloc(f, sizeof f - 1, c.ref, &n);
            if (w) {
                if (n != strlen(w))
                    die("length of the frame with its ref");
                check_json_with_ref(w, c.ref);
            }
            free(w);
        }
    } else {
        size_t i = 0;
        while (i < sizeof codes / sizeof codes[0] && (!code || strcmp(codes[i], code)))
            i++;
        if (i == sizeof codes / sizeof codes[0])
            die("unknown error code %s", code ? code : "(null)");
        if (!why[0])
            die("an error without a reason");
        char *e = chat_error_frame_malloc(code, why, c.ref);
        if (e)
            check_json_with_ref(e, c.ref);
        free(e);
    }
    chat_cmd_free(&c);
    free(in);
    return 0;
}

/*
 * ws_frame_fuzz.c — the WebSocket frame reader (src/rt/ws_frame.c) and
 * permessage-deflate inflating (src/rt/ws_deflate.c): the bytes a client
 * sends after the 101.
 *
 * Input: byte 0 is a control byte — bit 0: permessage-deflate negotiated
 * (RSV1 frames are inflated), bits 1-2: the message limit (64, 1000,
 * 70000 or 1 MiB), bits 3-7: the seed of the split schedule; the rest is
 * the client's byte stream.
 * Properties checked (abort() on violation):
 *  - split invariance: the stream read whole, in pieces of a seeded
 *    random schedule, and byte by byte (inputs up to 4 KiB) gives the same
 *    transcript — every message (type, length, a hash of its bytes),
 *    every control frame, and the final result;
 *  - every piece is its own allocation of exactly its size, so reading
 *    past what was given (past a frame) is an ASan report;
 *  - a message is at most the limit, NUL-terminated, and a text message is
 *    valid UTF-8; a close code passed on is one a peer may send, its reason
 *    valid UTF-8;
 *  - a violation is a close code the RFCs name (1002, 1007, 1009, 1011)
 *    with a reason; after it, or after a close frame, nothing more is
 *    reported.
 */
#include "rt/rt.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define die(...)                                                                               \
    do {                                                                                       \
        fprintf(stderr, "ws_frame_fuzz: " __VA_ARGS__);                                        \
        fputc('\n', stderr);                                                                   \
        abort();                                                                               \
    } while (0)

static vial__pool pool = { .max = 16 };

typedef struct run {
    vial__buf t;        /* the transcript */
    uint64_t max;
    vial__wsz *inf;
    bool ended;         /* a close frame was reported */
} run;

static uint64_t fnv(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211u;
    return h;
}

static int on_message(void *ud, int op, char *data, size_t len)
{
    run *r = ud;
    if (r->ended)
        die("a message after the close frame");
    if (len > r->max)
        die("a message of %zu bytes over the limit %llu", len, (unsigned long long)r->max);
    if (data[len] != 0)
        die("a message not NUL-terminated");
    if (op == VIAL__WS_TEXT && !vial_utf8_valid(data, len))
        die("a text message that is not UTF-8");
    if (op != VIAL__WS_TEXT && op != VIAL__WS_BINARY)
        die("a message of opcode %d", op);
    vial__buf_printf(&r->t, "%c%zu:%016llx|", op == VIAL__WS_TEXT ? 'T' : 'B', len,
                     (unsigned long long)fnv(data, len));
    return 0;
}

static int on_control(void *ud, int op, const char *data, size_t len, unsigned code)
{
    run *r = ud;
    if (r->ended)
        die("a control frame after the close frame");
    if (len > 125)
        die("a control payload of %zu bytes", len);
    if (op == VIAL__WS_CLOSE) {
        r->ended = true;
        if (code != VIAL__WS_C_NO_STATUS && !vial__ws_close_code_ok(code))
            die("close code %u passed on", code);
        if (!vial_utf8_valid(data, len) || data[len] != 0)
            die("a close reason that is not UTF-8");
    } else if (op != VIAL__WS_PING && op != VIAL__WS_PONG) {
        die("a control frame of opcode %d", op);
    }
    vial__buf_printf(&r->t, "c%d/%u:%016llx|", op, code, (unsigned long long)fnv(data, len));
    return 0;
}

static int on_inflate(void *ud, const char *in, size_t n, bool fin, vial__buf *out, uint64_t limit)
{
    run *r = ud;
    if (!r->inf && !(r->inf = vial__wsz_inflater()))
        return VIAL__WS_C_INTERNAL;
    size_t before = out->n;
    int rc = vial__wsz_inflate(r->inf, in, n, fin, out, limit);
    if (out->n < before || (rc == 0 && out->n > limit) || out->n > limit + 1)
        die("inflate made %zu bytes against a limit of %llu", out->n, (unsigned long long)limit);
    if (rc && rc != VIAL__WS_C_TOO_BIG && rc != VIAL__WS_C_BAD_DATA && rc != VIAL__WS_C_INTERNAL)
        die("inflate answered %d", rc);
    if (fin && !rc)
        vial__wsz_reset(r->inf); /* no context takeover */
    return rc;
}

static const vial__wsr_ops plain = { on_message, on_control, NULL };
static const vial__wsr_ops deflate = { on_message, on_control, on_inflate };

/* Reads `s` in the pieces `cuts` gives (ascending ends; the last is n). */
static char *read_stream(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts, bool z,
                         uint64_t max)
{
    run r = { .t = { 0 }, .max = max };
    vial__wsr rd;
    vial__wsr_init(&rd, z ? &deflate : &plain, &r, max, &pool);
    int rc = 0;
    size_t at = 0;
    for (size_t i = 0; i < ncuts; i++) {
        size_t end = cuts[i];
        char *piece = malloc(end - at ? end - at : 1);
        if (!piece)
            die("out of memory");
        memcpy(piece, s + at, end - at);
        int prev = rd.err;
        rc = vial__wsr_feed(&rd, piece, end - at);
        free(piece);
        if (prev && rc != prev)
            die("a result changed after it stuck: %d then %d", prev, rc);
        at = end;
    }
    if (rc >= 1000) {
        if (rc != 1002 && rc != 1007 && rc != 1009 && rc != 1011)
            die("violation code %d", rc);
        if (!rd.why)
            die("violation %d without a reason", rc);
    } else if (rc != 0 && rc != VIAL__WSR_STOPPED) {
        die("result %d", rc);
    }
    if (rc == VIAL__WSR_STOPPED && !r.ended)
        die("stopped without a close frame");
    vial__buf_printf(&r.t, "=%d", rc);
    vial__buf_nul(&r.t);
    vial__wsr_free(&rd);
    vial__wsz_free(r.inf);
    return r.t.p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const uint64_t limits[] = { 64, 1000, 70000, 1 << 20 };
    uint8_t ctl = data[0];
    bool z = ctl & 1;
    uint64_t max = limits[(ctl >> 1) & 3];
    const uint8_t *s = data + 1;
    size_t n = size - 1;

    size_t one = n;
    char *whole = read_stream(s, n, &one, 1, z, max);

    /* a seeded random schedule of pieces */
    size_t *cuts = malloc((n + 1) * sizeof *cuts);
    if (!cuts)
        die("out of memory");
    size_t k = 0, at = 0;
    uint32_t seed = (uint32_t)(ctl >> 3) * 2654435761u + (uint32_t)n;
    while (at < n) {
        seed = seed * 1103515245u + 12345u;
        size_t step = 1 + (seed >> 16) % 23;
        at = at + step < n ? at + step : n;
        cuts[k++] = at;
    }
    if (!k)
        cuts[k++] = 0;
    char *split = read_stream(s, n, cuts, k, z, max);
    if (strcmp(split, whole))
        die("split reading differs:\n  whole: %s\n  split: %s", whole, split);
    free(split);
    if (n <= 4096) {
        for (size_t i = 0; i < n; i++)
            cuts[i] = i + 1;
        char *bytes = read_stream(s, n, cuts, n ? n : 1, z, max);
        if (strcmp(bytes, whole))
            die("byte-by-byte reading differs:\n  whole: %s\n  bytes: %s", whole, bytes);
        free(bytes);
    }
    free(cuts);
    free(whole);
    return 0;
}

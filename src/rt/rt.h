/*
 * rt.h — what the real-time module offers the others: WebSocket
 * connections, Server-Sent Events and topics (pub/sub) across workers and
 * instances.  Its public API is in vial.h; this header is for the modules
 * and apps-facing code inside libvial that need more.
 *
 * Shape (issue 11): a WebSocket is a vial__proto (src/loop/loop.h) that a
 * view's 101 hands the connection to (vial__req_upgrade, src/core/core.h);
 * an SSE response is a stream that waits for events (VIAL_STREAM_WAIT,
 * woken by vial_stream_wake); a published message reaches each subscriber
 * on the worker that owns its connection (vial__post, src/loop/loop.h), and
 * other instances through Redis.
 */
#ifndef VIAL_RT_H
#define VIAL_RT_H

#include "../auth/auth.h"
#include "../core/core.h"
#include "../kv/kv.h"

/* ------------------------------------------------------------------ topics (pubsub.c) */

/*
 * A subscription of something that lives on one worker (a WebSocket, an
 * SSE stream) to a topic.  `deliver(target, topic, data, len)` runs on that
 * worker's thread for every message published on the topic, in publishing
 * order per publisher; `data` is borrowed for the call.
 */
typedef struct vial__sub vial__sub;
typedef void (*vial__deliver_fn)(void *target, const char *topic, const char *data, size_t len);

/* Subscribes `target` on the calling worker (`worker`: its id) to `topic`.
 * NULL when out of memory.  Call vial__unsubscribe() on the same worker
 * before `target` goes away. */
vial__sub *vial__subscribe(vial_app *app, int worker, const char *topic, vial__deliver_fn deliver,
                           void *target);
void vial__unsubscribe(vial__sub *s);
/*
 * How it is built (pubsub.c): each worker's table of topics and
 * subscribers is its own (no locks); publishers read a summary — per hash
 * slot of the topic name, a bit per worker — with atomic loads only, and
 * post each message once per worker whose bit is set.  A subscription
 * made during a delivery on the same worker does not get that message; one
 * ended during it gets nothing more (it is freed after the delivery).
 * With Redis (REDIS_URL through the kv module) a thread of pubsub.c keeps
 * this process SUBSCRIBEd to the channel of every topic it has, and sends
 * what is published here to the others.
 */

/* ------------------------------------------------------------------ Server-Sent Events (sse.c) */

/* An SSE stream is a vial__subscribe() target whose deliver() frames the
 * message into its queue and wakes it directly (it runs on the stream's
 * worker already).  Nothing more is offered to other modules: the public
 * vial_sse_* API is all there is. */

/* ------------------------------------------------------------------ WebSocket (ws*.c) */

/*
 * A WebSocket (vial_ws, public in vial.h) is a vial__proto: the route's
 * view (ws.c) checks the handshake, answers 101 and hands the connection
 * to the protocol object, which reads frames with the reader below
 * (ws_frame.c), inflates with ws_deflate.c and writes frames straight
 * into the connection's output queue.  Everything here runs on the
 * connection's worker thread.
 */

/* What pub/sub calls (as a vial__deliver_fn) for a message on a topic a
 * WebSocket subscribed to, on its worker: handlers->event(ws, topic, data,
 * len) when the route has one, else `data` goes out as a text frame.
 * Nothing once the WebSocket is closing.  `target` is the vial_ws.
 * vial_ws_subscribe(ws, topic) is vial__subscribe(app, worker, topic,
 * vial__ws_deliver, ws) on the connection's worker; every subscription is
 * dropped in ws.c's ws_free() before the vial_ws is freed. */
void vial__ws_deliver(void *target, const char *topic, const char *data, size_t len);
/* The vial__proto behind every WebSocket (vial__conn_proto() finds one). */
extern const vial__proto vial__ws_proto;
/* Sec-WebSocket-Accept for a Sec-WebSocket-Key: base64(SHA-1(key + the
 * RFC 6455 GUID)), 28 characters and a NUL into `out`. */
void vial__ws_accept_key(const char *key, size_t n, char out[29]);

/* ---- SHA-1 (sha1.c), for the accept key only (libvial links no libcrypto) */
#define VIAL__SHA1_LEN 20
typedef struct vial__sha1 {
    uint32_t h[5];
    uint64_t len;
    unsigned char buf[64];
    size_t n;
} vial__sha1;
void vial__sha1_init(vial__sha1 *s);
void vial__sha1_update(vial__sha1 *s, const void *data, size_t n);
void vial__sha1_final(vial__sha1 *s, unsigned char out[VIAL__SHA1_LEN]);
void vial__sha1_digest(const void *data, size_t n, unsigned char out[VIAL__SHA1_LEN]);

/* ---- frames (ws_frame.c): pure functions over bytes, and the reader */

enum { VIAL__WS_CONT = 0x0, VIAL__WS_TEXT = 0x1, VIAL__WS_BINARY = 0x2, VIAL__WS_CLOSE = 0x8,
       VIAL__WS_PING = 0x9, VIAL__WS_PONG = 0xa };
/* Close codes (RFC 6455 section 7.4.1) the server sends or reports. */
enum { VIAL__WS_C_NORMAL = 1000, VIAL__WS_C_AWAY = 1001, VIAL__WS_C_PROTOCOL = 1002,
       VIAL__WS_C_NO_STATUS = 1005, VIAL__WS_C_ABNORMAL = 1006, VIAL__WS_C_BAD_DATA = 1007,
       VIAL__WS_C_POLICY = 1008, VIAL__WS_C_TOO_BIG = 1009, VIAL__WS_C_INTERNAL = 1011 };

/* One frame header as sent. */
typedef struct vial__wsf {
    bool fin, masked;
    uint8_t rsv; /* the RSV bits: RSV1 = 4, RSV2 = 2, RSV3 = 1 */
    uint8_t op;
    uint8_t mask[4];
    uint64_t len;
} vial__wsf;
#define VIAL__WSF_HEAD_MAX 14 /* the longest header: 2 + 8 (length) + 4 (mask) */

/* Decodes the header at p[0..n): its length (2..14), 0 when more bytes are
 * needed, or -1002 for a length that is not minimal or has its top bit set.
 * Never reads past p[n - 1]. */
int vial__wsf_parse(const unsigned char *p, size_t n, vial__wsf *f);
/* Writes a server header (FIN set, unmasked; RSV1 when `compressed`) for
 * a payload of `len` bytes; returns its length (2, 4 or 10). */
size_t vial__wsf_head(unsigned char out[10], unsigned op, bool compressed, uint64_t len);
/* XORs n bytes of `src` with the mask, starting `off` bytes into the
 * payload, into `dst` (which may be `src`). */
void vial__ws_unmask(unsigned char *dst, const unsigned char *src, size_t n, const uint8_t mask[4],
                     uint64_t off);
/* True for a close code a peer may send (1000-1003, 1007-1014, 3000-4999). */
bool vial__ws_close_code_ok(unsigned code);

/* Incremental UTF-8 validation: start with *st = 0; 0 while the bytes so
 * far can begin valid UTF-8, -1 at the first byte that cannot (fails as
 * soon as a sequence goes wrong, even split across calls).  The text is
 * complete and valid when it returned 0 and *st is 0 again. */
int vial__utf8_feed(uint32_t *st, const unsigned char *p, size_t n);

/*
 * The reader: the frames a client sends, as messages and control frames.
 * It checks every rule of RFC 6455 section 5 (masking, RSV bits, opcodes,
 * control frames, continuation, minimal lengths, close payloads), keeps
 * text messages valid UTF-8 as they arrive, bounds messages to
 * `max_message` bytes (announced lengths and running totals: 1009 before
 * the bytes are read), and assembles fragmented messages.  Bytes may
 * arrive split anywhere: the result does not depend on where.  It holds
 * at most a header (14 bytes) and a control payload (125) of its own; the
 * message being assembled is in `msg`, a buffer from the pool, given back
 * after each message.
 */
typedef struct vial__wsr_ops {
    /* A complete message, `op` TEXT (valid UTF-8) or BINARY; data[len] is
     * NUL.  `data` is the reader's until the call returns.  Non-zero stops
     * the reader. */
    int (*message)(void *ud, int op, char *data, size_t len);
    /* A control frame, payload unmasked: PING/PONG; CLOSE with `code`
     * (1005 when none) and the reason as data (valid UTF-8, NUL-terminated).
     * The reader stops after a CLOSE.  Non-zero stops it. */
    int (*control)(void *ud, int op, const char *data, size_t len, unsigned code);
    /* Compressed payload of the current message (`fin`: the message is
     * complete, flush): inflate into `out`, at most `limit` bytes in all.
     * 0, or a close code (1009 past the limit, 1007 corrupt data, 1011 out
     * of memory).  NULL: no compression was negotiated (RSV1 is 1002). */
    int (*inflate)(void *ud, const char *in, size_t n, bool fin, vial__buf *out, uint64_t limit);
} vial__wsr_ops;

typedef struct vial__wsr {
    const vial__wsr_ops *ops;
    void *ud;
    uint64_t max_message;
    vial__buf msg;    /* the message being assembled */
    const char *why;  /* after a violation: which rule (static) */
    /* private to ws_frame.c */
    int err;          /* sticky result: a close code, or VIAL__WSR_STOPPED */
    uint8_t hn, cn;   /* header bytes, control payload bytes held */
    bool in_frame, in_msg, compressed;
    uint8_t msg_op;
    vial__wsf f;
    uint64_t left;    /* payload bytes of the current frame still to come */
    uint64_t off;     /* payload bytes of the current frame read */
    uint64_t wire;    /* payload bytes of the current message on the wire */
    uint32_t utf8;
    unsigned char hbuf[VIAL__WSF_HEAD_MAX];
    unsigned char cbuf[126];
} vial__wsr;
#define VIAL__WSR_STOPPED 1

/* `pool` lends `msg` its first block (NULL: malloc). */
void vial__wsr_init(vial__wsr *r, const vial__wsr_ops *ops, void *ud, uint64_t max_message,
                    vial__pool *pool);
/* Reads n bytes: 0 when all were taken; VIAL__WSR_STOPPED once a close
 * frame came or a callback said stop (later bytes are ignored); or a close
 * code >= 1000 for a violation (`why` says which).  Sticky. */
int vial__wsr_feed(vial__wsr *r, const char *in, size_t n);
/* Frees the message buffer. */
void vial__wsr_free(vial__wsr *r);

/* ---- permessage-deflate, RFC 7692 (ws_deflate.c) */

/* What one accepted permessage-deflate offer says. */
typedef struct vial__wsd_params {
    bool server_no_takeover; /* we reset our compressor after each message */
    bool client_no_takeover; /* the client resets its compressor after each message */
    uint8_t server_bits;     /* our LZ77 window (9..15) */
} vial__wsd_params;
/*
 * Reads a Sec-WebSocket-Extensions value (the client's offers, in order of
 * preference) and accepts the first permessage-deflate offer whose
 * parameters are valid and supported.  With `takeover` false the server
 * asks for no context takeover both ways (allowed whatever the offer), so
 * no connection keeps a compressor between messages.  Returns 1 with the
 * parameters and the response's extension ("permessage-deflate; ...") in
 * `resp`; 0 when no offer is acceptable (the connection goes uncompressed).
 */
int vial__wsd_negotiate(const char *offers, bool takeover, vial__wsd_params *p, char *resp,
                        size_t cap);

/* One zlib stream, raw deflate: an inflater (any window) or a deflater. */
typedef struct vial__wsz vial__wsz;
vial__wsz *vial__wsz_inflater(void);
vial__wsz *vial__wsz_deflater(int window_bits);
void vial__wsz_free(vial__wsz *z);
/* Forgets the LZ77 window (no context takeover). */
void vial__wsz_reset(vial__wsz *z);
/* Inflates n bytes of a message into `out` (appended, never past `limit`
 * bytes in `out`: it stops as soon as the output would pass it, so a small
 * bomb costs at most `limit`); `fin` adds the 00 00 ff ff tail RFC 7692
 * strips.  0, 1009 over the limit, 1007 corrupt, 1011 out of memory. */
int vial__wsz_inflate(vial__wsz *z, const char *in, size_t n, bool fin, vial__buf *out,
                      uint64_t limit);
/* Compresses a whole message and appends it to `out` without the 00 00 ff
 * ff tail.  0 or VIAL_ENOMEM. */
int vial__wsz_deflate(vial__wsz *z, const void *in, size_t n, vial__buf *out);

#endif /* VIAL_RT_H */

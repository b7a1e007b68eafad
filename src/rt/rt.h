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

#endif /* VIAL_RT_H */

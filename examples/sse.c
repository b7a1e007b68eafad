/*
 * sse.c — Server-Sent Events: a live news feed that a client resumes after a break.
 *
 *   ./build/examples/sse                      # then open http://127.0.0.1:5000/
 *   curl -N localhost:5000/events             # waits for news ...
 *   curl -X POST localhost:5000/news --data-binary 'Hello, world'     # ... which arrives
 *   curl -N -H 'Last-Event-ID: 1' localhost:5000/events               # first what came after 1
 *
 * A POST publishes on the topic "news"; every stream subscribed to it, on any worker (and,
 * with REDIS_URL, on any instance), sends it.  Browsers' EventSource reconnect by themselves
 * and send the last id they saw.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vial.h>

#define KEEP 100 /* items kept for clients that come back: item n is items[n % KEEP] */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static char *items[KEEP];
static int64_t last_id;

/* What a client that saw event `last` missed (its Last-Event-ID header). */
static int replay(vial_sse *s, const char *last, void *ud)
{
    char *end;
    long long after = strtoll(last, &end, 10);
    if (*end || after < 0)
        return 0; /* not one of ours: nothing to replay */
    int rc = 0;
    pthread_mutex_lock(&lock);
    for (int64_t id = after < last_id - KEEP ? last_id - KEEP + 1 : after + 1; id <= last_id && !rc; id++) {
        char ids[24];
        snprintf(ids, sizeof ids, "%" PRId64, id);
        rc = vial_sse_send(s, "news", ids, items[id % KEEP], strlen(items[id % KEEP]));
    }
    pthread_mutex_unlock(&lock);
    return rc;
}

/* A published message is "<id>\n<text>": one event with that id. */
static int format(vial_sse *s, const char *topic, const char *data, size_t len, void *ud)
{
    const char *text = memchr(data, '\n', len);
    if (!text)
        return 0; /* not ours: skipped */
    char id[24];
    snprintf(id, sizeof id, "%.*s", (int)(text - data), data);
    return vial_sse_send(s, "news", id, text + 1, len - (size_t)(text + 1 - data));
}

static int events(vial_req *req)
{
    static const char *const topics[] = { "news", NULL };
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .topics = topics, .replay = replay,
                                                        .format = format });
    return s ? 0 : VIAL_ENOMEM; /* the stream stays open; the view returns at once */
}

static int post_news(vial_req *req)
{
    size_t len;
    const char *text = vial_body(req, &len);
    if (!len || len > 1000 || !vial_utf8_valid(text, len) || strlen(text) != len)
        return vial_abort(req, 400, "news is 1 to 1000 bytes of UTF-8 text");
    char *copy = strdup(text);
    if (!copy)
        return VIAL_ENOMEM;
    pthread_mutex_lock(&lock); /* ids and publishing in one order */
    int64_t id = ++last_id;
    free(items[id % KEEP]);
    items[id % KEEP] = copy;
    const char *msg = vial_sprintf(req, "%" PRId64 "\n%s", id, text);
    int rc = msg ? vial_publish(vial_app_of(req), "news", msg, strlen(msg)) : VIAL_ENOMEM;
    pthread_mutex_unlock(&lock);
    return rc ? rc : vial_json_take(req, 201, json_pack("{s:I}", "id", (json_int_t)id));
}

static const char page[] = "<!doctype html><title>News</title><h1>News</h1><ul id=news></ul>"
                           "<script src=/app.js></script>";
static const char script[] =
    "new EventSource('/events').addEventListener('news', e => {\n"
    "  const li = document.createElement('li');\n"
    "  li.textContent = e.lastEventId + ': ' + e.data;\n"
    "  document.getElementById('news').prepend(li);\n"
    "});\n";

static int home(vial_req *req)
{
    return vial_send_static(req, 200, "text/html; charset=utf-8", page, sizeof page - 1);
}

static int app_js(vial_req *req) /* a file, not inline: the default CSP refuses inline scripts */
{
    return vial_send_static(req, 200, "text/javascript", script, sizeof script - 1);
}

int main(int argc, char **argv)
{
    vial_app *app = vial_app_new("sse");
    vial_get(app, "/", home);
    vial_get(app, "/app.js", app_js);
    vial_get(app, "/events", events);
    vial_post(app, "/news", post_news);
    return vial_main(app, argc, argv);
}

/*
 * Unit tests for src/rt/sse.c through the in-process test client (which
 * reads what a waiting stream has sent, then leaves): the response head,
 * event framing (event:, id:, one data: line per line of CRLF/LF/CR text,
 * empty data), refused fields, comments, retry: from the option and the
 * setting, the Last-Event-ID replay (and none without the header), topics
 * subscribed before the replay, published messages as default events or
 * through a format callback (which may filter, or fail), vial_sse_end, and
 * the clean-up that unsubscribes when the stream ends.
 */
#include "unit.h"
#include "rt/rt.h"

#include <stdlib.h>

static vial_app *new_app(void)
{
    vial_app *app = vial_app_new("t");
    assert_non_null(app);
    vial_config_set(app, "access_log", "off");
    vial_config_set(app, "log_level", "error");
    assert_int_equal(vial_configure(app, 0, NULL), 0);
    return app;
}

static const char *body_of(vial_test_resp *r)
{
    const char *b = vial_test_body(r, NULL);
    return b ? b : "";
}

static int h_framing(vial_req *req)
{
    vial_sse *s = vial_sse_begin(req, NULL);
    if (!s)
        return -1;
    assert_int_equal(vial_sse_send(s, "greet", "1", "hello", 5), 0);
    assert_int_equal(vial_sse_send(s, NULL, NULL, "a\nb\r\nc\rd", 8), 0);
    assert_int_equal(vial_sse_send(s, NULL, "2", "", 0), 0);
    assert_int_equal(vial_sse_send(s, NULL, NULL, "end\n", 4), 0);
    assert_int_equal(vial_sse_send(s, "bad\nname", NULL, "x", 1), VIAL_EINVAL);
    assert_int_equal(vial_sse_send(s, NULL, "bad\rid", "x", 1), VIAL_EINVAL);
    assert_int_equal(vial_sse_comment(s, "hi"), 0);
    assert_int_equal(vial_sse_comment(s, "two\nlines"), VIAL_EINVAL);
    assert_int_equal(vial_sse_end(s), 0);
    assert_int_equal(vial_sse_send(s, NULL, NULL, "late", 4), VIAL_ESTATE);
    assert_ptr_equal(vial_sse_req(s), req);
    return 0;
}

static void test_framing(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/s", h_framing);
    vial_test_resp *r = get(app, "/s");
    assert_int_equal(vial_test_status(r), 200);
    assert_string_equal(vial_test_header(r, "Content-Type"), "text/event-stream");
    assert_string_equal(vial_test_header(r, "Cache-Control"), "no-cache");
    assert_string_equal(body_of(r), "event: greet\nid: 1\ndata: hello\n\n"
                                    "data: a\ndata: b\ndata: c\ndata: d\n\n"
                                    "id: 2\ndata: \n\n"
                                    "data: end\ndata: \n\n"
                                    ": hi\n\n");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ retry, replay, topics */

static int replays;
static char replayed_after[32];

static int replay(vial_sse *s, const char *last, void *ud)
{
    replays++;
    snprintf(replayed_after, sizeof replayed_after, "%s", last);
    /* The topic is subscribed already: a message published now arrives. */
    vial_publish(vial_app_of(vial_sse_req(s)), "t", "during replay", 13);
    return vial_sse_send(s, "missed", "7", ud, strlen(ud));
}

static int h_resume(vial_req *req)
{
    static const char *const topics[] = { "t", NULL };
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .topics = topics, .retry_ms = 1500,
                                                         .replay = replay, .ud = "what you missed" });
    if (!s)
        return -1;
    vial_publish(vial_app_of(req), "t", "live\nnews", 9);
    vial_publish(vial_app_of(req), "elsewhere", "not for us", 10);
    return 0;
}

static void test_retry_replay_and_topics(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/s", h_resume);
    replays = 0;
    vial_test_resp *r = vial_test(app, "GET", "/s", "Last-Event-ID: 6\r\n", NULL, 0);
    assert_int_equal(replays, 1);
    assert_string_equal(replayed_after, "6");
    /* (Without a server a publish is delivered at once, so the message
     * published during the replay comes before what the replay sent.) */
    assert_string_equal(body_of(r), "retry: 1500\n\n"
                                    "data: during replay\n\n"
                                    "event: missed\nid: 7\ndata: what you missed\n\n"
                                    "data: live\ndata: news\n\n");
    vial_test_free(r);
    /* No Last-Event-ID: no replay. */
    r = get(app, "/s");
    assert_int_equal(replays, 1);
    assert_string_equal(body_of(r), "retry: 1500\n\ndata: live\ndata: news\n\n");
    vial_test_free(r);
    /* The stream ended with the request: its subscription went too. */
    assert_int_equal(vial_publish_wanted(app, "t"), 0);
    vial_app_free(app);
}

static int h_plain(vial_req *req)
{
    return vial_sse_begin(req, NULL) ? 0 : -1;
}

static void test_retry_setting(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/s", h_plain);
    vial_test_resp *r = get(app, "/s");
    assert_string_equal(body_of(r), ""); /* no retry: by default */
    vial_test_free(r);
    vial_config_set(app, "sse_retry", "3s");
    r = get(app, "/s");
    assert_string_equal(body_of(r), "retry: 3000\n\n");
    vial_test_free(r);
    vial_app_free(app);
}

/* ------------------------------------------------------------------ format callbacks */

static int format(vial_sse *s, const char *topic, const char *data, size_t len, void *ud)
{
    (void)ud;
    if (len && data[0] == '!')
        return VIAL_EINVAL; /* a message it cannot take: the stream ends */
    if (len && data[0] == '-')
        return 0; /* filtered out */
    char id[32];
    snprintf(id, sizeof id, "%s-%zu", topic, len);
    return vial_sse_send(s, "message", id, data, len);
}

static int h_format(vial_req *req)
{
    vial_sse *s = vial_sse_begin(req, &(vial_sse_opts){ .format = format });
    if (!s || vial_sse_subscribe(s, "a") || vial_sse_subscribe(s, "b"))
        return -1;
    const char *fail = vial_arg(req, "fail");
    vial_publish(vial_app_of(req), "a", "one", 3);
    vial_publish(vial_app_of(req), "b", "-skip", 5);
    vial_publish(vial_app_of(req), "b", "three", 5);
    if (fail)
        vial_publish(vial_app_of(req), "a", "!", 1);
    vial_publish(vial_app_of(req), "a", "after", 5);
    return 0;
}

static void test_format_callback(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/s", h_format);
    vial_test_resp *r = get(app, "/s");
    assert_string_equal(body_of(r), "event: message\nid: a-3\ndata: one\n\n"
                                    "event: message\nid: b-5\ndata: three\n\n"
                                    "event: message\nid: a-5\ndata: after\n\n");
    vial_test_free(r);
    /* A failing callback ends the stream: nothing after, no final chunk. */
    r = get(app, "/s?fail=1");
    assert_string_equal(body_of(r), "");
    vial_test_free(r);
    assert_int_equal(vial_publish_wanted(app, "a"), 0);
    assert_int_equal(vial_publish_wanted(app, "b"), 0);
    vial_app_free(app);
}

static int h_twice(vial_req *req)
{
    assert_int_equal(vial_text(req, 200, "x"), 0);
    assert_null(vial_sse_begin(req, NULL)); /* the request has its response */
    return 0;
}

static void test_begin_needs_a_fresh_response(void **state)
{
    (void)state;
    vial_app *app = new_app();
    vial_get(app, "/s", h_twice);
    expect(app, "GET", "/s", 200, "x");
    vial_app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing),
        cmocka_unit_test(test_retry_replay_and_topics),
        cmocka_unit_test(test_retry_setting),
        cmocka_unit_test(test_format_callback),
        cmocka_unit_test(test_begin_needs_a_fresh_response),
    };
    return RUN_GROUP(tests);
}

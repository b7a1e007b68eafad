/*
 * logs.c — the Log REST API blueprint: ingest front-end activity logs and
 * read them back by any combination of user, log type and time range.
 *
 *   POST   /logs                       one log file object, or an array of them
 *   GET    /logs, /logs/<int:id>
 *   GET    /logs/stream [?user=&type=]     the live tail (Server-Sent Events)
 *   GET    /user/<u>[/log_type/<t>][/time_range/<start>/<end>]
 *   GET    /log_type/<t>[/time_range/<start>/<end>], /time_range/<start>/<end>
 *   DELETE /logs/<int:id>, /user/<u>, /log_type/<t>, /time_range/<start>/<end>
 *
 * This file holds the settings and the route table; the ingest is
 * ingest.c, the reads and deletes query.c, the row as shown rows.c, the live tail
 * stream.c.
 */
#include "logs_impl.h"

#include <stdio.h>
#include <string.h>

logs_cfg logs_settings;

static int logs_start(vial_app *app)
{
    const char *pr = vial_config(app, "logs_protect");
    logs_settings.protect = !*pr || !strcmp(pr, "off") ? 0
                            : !strcmp(pr, "writes") ? 1
                            : !strcmp(pr, "all")    ? 2
                                                    : -1;
    if (logs_settings.protect < 0) {
        vial_log(VIAL_LOG_ERROR, "logs_protect: '%s' is not off, writes or all", pr);
        return VIAL_EINVAL;
    }
    const char *u = vial_config(app, "logs_unknown_properties");
    if (!strcmp(u, "keep")) {
        logs_settings.keep_unknown = true;
    } else if (!strcmp(u, "reject")) {
        logs_settings.keep_unknown = false;
    } else {
        vial_log(VIAL_LOG_ERROR, "logs_unknown_properties: '%s' is not reject or keep", u);
        return VIAL_EINVAL;
    }
    const char *off = vial_config(app, "logs_default_offset");
    logs_settings.has_default_offset = off && *off;
    if (logs_settings.has_default_offset) {
        /* Parse it as the zone of a dummy timestamp: "Z", "+01:00", ... */
        char probe[64];
        vial_time t;
        snprintf(probe, sizeof probe, "2000-01-01T00:00:00%s", off);
        if (vial_time_parse(probe, strlen(probe), INT32_MIN, &t)) {
            vial_log(VIAL_LOG_ERROR, "logs_default_offset: '%s' is not an offset like Z or +01:00", off);
            return VIAL_EINVAL;
        }
        logs_settings.default_offset = t.offset_s;
    }
    return 0;
}

int logs_guarded(vial_req *req, bool write)
{
    bool needed = logs_settings.protect == 2 || (logs_settings.protect == 1 && write);
    return needed ? vial_auth_require(req, NULL) : 0;
}

/* ------------------------------------------------------------------ the API document */

/* The body as ingest.c reads it.  It walks the body with the pull reader
 * (no tree for 10,000 actions), so these rules are its rules restated for
 * the document; tests/api/test_openapi.py checks that bodies the schema
 * refuses are refused by the server. */
static const vial_field props_f[] = {
    VIAL_FIELD("locationX", VIAL_F_INT, 0),
    VIAL_FIELD("locationY", VIAL_F_INT, 0),
    VIAL_FIELD("viewedId", VIAL_F_STRING, 0, .min = 1, .max = 1024),
    VIAL_FIELD("pageFrom", VIAL_F_STRING, 0, .min = 1, .max = 1024),
    VIAL_FIELD("pageTo", VIAL_F_STRING, 0, .min = 1, .max = 1024),
    VIAL_FIELD_END,
};
/* Not strict: with logs_unknown_properties = keep, other properties are
 * stored and returned in "extra". */
static const vial_schema props_schema = { props_f, 0 };
static const vial_field action_f[] = {
    VIAL_FIELD("time", VIAL_F_TIMESTAMP, VIAL_REQUIRED,
               .doc = "RFC 3339 with a UTC offset (without one only when logs_default_offset is set)"),
    VIAL_FIELD("type", VIAL_F_STRING, VIAL_REQUIRED, .min = 1, .max = 256, .doc = "any log type: CLICK, VIEW, ..."),
    VIAL_FIELD("properties", VIAL_F_OBJECT, 0, .schema = &props_schema,
               .doc = "unknown properties are refused unless logs_unknown_properties = keep"),
    VIAL_FIELD_END,
};
static const vial_schema action_schema = { action_f, VIAL_SCHEMA_STRICT };
static const vial_field logfile_f[] = {
    VIAL_FIELD("userId", VIAL_F_STRING, VIAL_REQUIRED, .min = 1, .max = 1024),
    VIAL_FIELD("sessionId", VIAL_F_STRING, VIAL_REQUIRED, .min = 1, .max = 1024),
    VIAL_FIELD("actions", VIAL_F_ARRAY, VIAL_REQUIRED, .min = 1, .schema = &action_schema,
               .doc = "each action becomes one stored log"),
    VIAL_FIELD_END,
};
static const vial_schema logfile_schema = { logfile_f, VIAL_SCHEMA_STRICT };

static const vial_field stored_f[] = {
    VIAL_FIELD("stored", VIAL_F_INT, VIAL_REQUIRED, .doc = "logs stored (one per action)"),
    VIAL_FIELD("first_id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("last_id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema stored_schema = { stored_f, 0 };

/* A stored log (rows.c): every field present, null where blank. */
static const vial_field log_f[] = {
    VIAL_FIELD("id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("userId", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("sessionId", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("time", VIAL_F_TIMESTAMP, VIAL_REQUIRED | VIAL_NULLABLE,
               .doc = "in the offset it was sent with, to the microsecond"),
    VIAL_FIELD("log_type", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("locationX", VIAL_F_INT, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("locationY", VIAL_F_INT, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("viewedId", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("pageFrom", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("pageTo", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("extra", VIAL_F_OBJECT, VIAL_NULLABLE,
               .doc = "unknown properties as sent (logs_unknown_properties = keep only)"),
    VIAL_FIELD_END,
};
static const vial_schema log_schema = { log_f, 0 };
static const vial_field logs_list = VIAL_FIELD(
    "logs", VIAL_F_ARRAY, 0, .schema = &log_schema,
    .doc = "ordered by time, then id; with ?limit a page, and Link: <...>; rel=\"next\" while more follow");
static const vial_field deleted_f[] = {
    VIAL_FIELD("deleted", VIAL_F_INT, VIAL_REQUIRED, .doc = "logs deleted"),
    VIAL_FIELD_END,
};
static const vial_schema deleted_schema = { deleted_f, 0 };

static const vial_field page_q[] = {
    VIAL_FIELD("limit", VIAL_F_INT, 0, .min = 1, .max = MAX_LIMIT,
               .doc = "a page of at most this many logs (without it the whole result is streamed)"),
    VIAL_FIELD("after", VIAL_F_STRING, 0, .doc = "the opaque cursor of the Link header's next page"),
    VIAL_FIELD_END,
};
static const vial_field stream_q[] = {
    VIAL_FIELD("user", VIAL_F_STRING, 0, .doc = "only this userId (exact match)"),
    VIAL_FIELD("type", VIAL_F_STRING, 0, .doc = "only this log type (exact match)"),
    VIAL_FIELD_END,
};
static const vial_field path_p[] = {
    VIAL_FIELD("id", VIAL_F_INT, 0, .doc = "a log id"),
    VIAL_FIELD("userId", VIAL_F_STRING, 0, .doc = "a user id (percent-encode '/' and '%')"),
    VIAL_FIELD("type", VIAL_F_STRING, 0, .doc = "a log type"),
    VIAL_FIELD("start", VIAL_F_TIMESTAMP, 0, .doc = "from this instant, inclusive (RFC 3339 with an offset)"),
    VIAL_FIELD("end", VIAL_F_TIMESTAMP, 0, .doc = "to this instant, inclusive; not before start"),
    VIAL_FIELD_END,
};

#define R_UNAUTH { 401, "logs_protect is set and no valid token or API key came", NULL, NULL, NULL }
#define R_NODB { 503, "the database is unavailable", NULL, NULL, NULL }
#define R_END { 0, NULL, NULL, NULL, NULL }
static const vial_response_doc list_r[] = {
    { 200, "the logs", NULL, &logs_list, NULL },
    { 400, "a bad time, range, limit or cursor", NULL, NULL, NULL },
    R_UNAUTH, R_NODB, R_END,
};
static const vial_response_doc delete_r[] = {
    { 200, "how many were deleted", &deleted_schema, NULL, NULL },
    { 400, "a bad time or range, or limit/after sent", NULL, NULL, NULL },
    { 404, "no logs matched", NULL, NULL, NULL },
    R_UNAUTH, R_NODB, R_END,
};
/* Reads and writes need credentials only with logs_protect (all / writes):
 * optional in the document. */
#define LIST_DOC(sum)                                                                  \
    { .summary = sum, .params = path_p, .query = page_q, .responses = list_r,         \
      .security = "bearer,api_key", .flags = VIAL_DOC_AUTH_OPTIONAL }
#define DELETE_DOC(sum)                                                                \
    { .summary = sum, .params = path_p, .responses = delete_r,                         \
      .security = "bearer,api_key", .flags = VIAL_DOC_AUTH_OPTIONAL }
static const vial_doc post_doc = {
    .summary = "Store a log file (or an array of them)",
    .description = "All-or-nothing: every problem is listed by its path in the body "
                   "(`actions[3].time`, `[0].actions[3].time`) and nothing is stored; the 201 "
                   "comes after COMMIT. Up to 10,000 actions fit the default body limit.",
    .body = &logfile_schema,
    .flags = VIAL_DOC_BODY_OR_ARRAY | VIAL_DOC_AUTH_OPTIONAL,
    .security = "bearer,api_key",
    .responses = (const vial_response_doc[]){
        { 201, "stored", &stored_schema, NULL, NULL },
        { 400, "not JSON, or invalid (\"fields\" names every problem); nothing was stored", NULL, NULL, NULL },
        { 413, "larger than max_body", NULL, NULL, NULL },
        R_UNAUTH, R_NODB, R_END },
};
static const vial_doc all_doc = LIST_DOC("List every log");
static const vial_doc by_user_doc = LIST_DOC("List a user's logs");
static const vial_doc by_user_type_doc = LIST_DOC("List a user's logs of a type");
static const vial_doc by_user_range_doc = LIST_DOC("List a user's logs in a time range");
static const vial_doc by_user_type_range_doc = LIST_DOC("List a user's logs of a type in a time range");
static const vial_doc by_type_doc = LIST_DOC("List the logs of a type");
static const vial_doc by_type_range_doc = LIST_DOC("List the logs of a type in a time range");
static const vial_doc by_range_doc = LIST_DOC("List the logs in a time range");
static const vial_doc get_doc = {
    .summary = "Read one log",
    .params = path_p,
    .security = "bearer,api_key",
    .flags = VIAL_DOC_AUTH_OPTIONAL,
    .responses = (const vial_response_doc[]){
        { 200, "the log", &log_schema, NULL, NULL },
        { 404, "no log with this id", NULL, NULL, NULL },
        R_UNAUTH, R_NODB, R_END },
};
static const vial_doc stream_doc = {
    .summary = "Live tail (Server-Sent Events)",
    .description = "One `log` event per stored log, as it is stored; `data:` is the log as "
                   "`GET /logs/{id}` returns it and `id:` its id. A client that reconnects with "
                   "`Last-Event-ID` first gets the logs stored after that id (up to 10,000).",
    .query = stream_q,
    .security = "bearer,api_key",
    .flags = VIAL_DOC_AUTH_OPTIONAL,
    .responses = (const vial_response_doc[]){
        { 200, "an event stream that stays open", NULL, NULL, "text/event-stream" },
        R_UNAUTH, R_END },
};
static const vial_doc delete_log_doc = {
    .summary = "Delete one log",
    .params = path_p,
    .security = "bearer,api_key",
    .flags = VIAL_DOC_AUTH_OPTIONAL,
    .responses = (const vial_response_doc[]){
        { 200, "deleted", &deleted_schema, NULL, NULL },
        { 404, "no log with this id", NULL, NULL, NULL },
        R_UNAUTH, R_NODB, R_END },
};
static const vial_doc delete_user_doc = DELETE_DOC("Delete a user's logs");
static const vial_doc delete_type_doc = DELETE_DOC("Delete the logs of a type");
static const vial_doc delete_range_doc = DELETE_DOC("Delete the logs in a time range");

int logs_register(vial_app *app)
{
    static const char *const unknown_help = "unknown action properties: reject (400) or keep (stored, returned as \"extra\")";
    /* Empty by default rather than "off": an on/off default would make the
     * flag a switch, and this one takes a word. */
    if (vial_config_define(app, "logs_protect", "",
                           "empty (off), writes (POST/DELETE need a bearer token or API key) or all") ||
        vial_config_define(app, "logs_unknown_properties", "reject", unknown_help) ||
        vial_config_define(app, "logs_default_offset", "",
                           "UTC offset assumed for times sent without one (e.g. Z); empty: refuse them") ||
        vial_on_start(app, logs_start) ||
        !(logs_settings.ingested = vial_counter(app, "vial_logs_ingested_total",
                                                "logs stored by POST /logs (counted after COMMIT)", NULL)) ||
        vial_db_migrations(app, "logs", "apps/logs/migrations"))
        return VIAL_EINVAL;
    vial_bp *bp = vial_bp_new("logs");
    if (!bp)
        return VIAL_ENOMEM;
    /* One list view and one delete view serve every filter set: a route's
     * data is the F_* bits its path carries. */
    static const unsigned sets[8] = { 0, 1, 2, 3, 4, 5, 6, 7 };
#define SET(f) .ud = (void *)&sets[f]
    static const vial_route_def routes[] = {
        VIAL_ROUTE(VIAL_POST, "/logs", post_logs, "post_logs", &post_doc, SET(0)),
        VIAL_ROUTE(VIAL_GET, "/logs", list_logs, "all_logs", &all_doc, SET(0)),
        VIAL_ROUTE(VIAL_GET, "/logs/<int:id>", get_log, "get_log", &get_doc, SET(0)),
        VIAL_ROUTE(VIAL_GET, "/logs/stream", logs_stream, "stream_logs", &stream_doc, SET(0)),
        VIAL_ROUTE(VIAL_GET, "/user/<userId>", list_logs, "by_user", &by_user_doc, SET(F_USER)),
        VIAL_ROUTE(VIAL_GET, "/user/<userId>/log_type/<type>", list_logs, "by_user_type",
                   &by_user_type_doc, SET(F_USER | F_TYPE)),
        VIAL_ROUTE(VIAL_GET, "/user/<userId>/time_range/<start>/<end>", list_logs, "by_user_range",
                   &by_user_range_doc, SET(F_USER | F_RANGE)),
        VIAL_ROUTE(VIAL_GET, "/user/<userId>/log_type/<type>/time_range/<start>/<end>", list_logs,
                   "by_user_type_range", &by_user_type_range_doc, SET(F_USER | F_TYPE | F_RANGE)),
        VIAL_ROUTE(VIAL_GET, "/log_type/<type>", list_logs, "by_type", &by_type_doc, SET(F_TYPE)),
        VIAL_ROUTE(VIAL_GET, "/log_type/<type>/time_range/<start>/<end>", list_logs, "by_type_range",
                   &by_type_range_doc, SET(F_TYPE | F_RANGE)),
        VIAL_ROUTE(VIAL_GET, "/time_range/<start>/<end>", list_logs, "by_range", &by_range_doc, SET(F_RANGE)),
        VIAL_ROUTE(VIAL_DELETE, "/logs/<int:id>", delete_log, "delete_log", &delete_log_doc, SET(0)),
        VIAL_ROUTE(VIAL_DELETE, "/user/<userId>", delete_logs, "delete_user", &delete_user_doc, SET(F_USER)),
        VIAL_ROUTE(VIAL_DELETE, "/log_type/<type>", delete_logs, "delete_type", &delete_type_doc, SET(F_TYPE)),
        VIAL_ROUTE(VIAL_DELETE, "/time_range/<start>/<end>", delete_logs, "delete_range", &delete_range_doc,
                   SET(F_RANGE)),
        VIAL_ROUTE_END,
    };
#undef SET
    int rc = vial_route_table(bp, routes);
    rc |= vial_bp_describe(bp, "The user-activity Log REST API: ingest front-end logs, read them "
                               "back by user, type and time range, delete them, follow them live. "
                               "Credentials are needed only with logs_protect (writes or all).");
    rc |= vial_openapi_schema(app, &logfile_schema, "LogFile", "a front-end log file: one user "
                                                              "session's actions");
    rc |= vial_openapi_schema(app, &action_schema, "Action", NULL);
    rc |= vial_openapi_schema(app, &log_schema, "Log", "a stored log: one action, flat");
    rc |= vial_register(app, bp, "");
    return rc ? VIAL_EINVAL : 0;
}

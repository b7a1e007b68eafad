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
    static const struct {
        unsigned method;
        const char *pattern, *endpoint;
        vial_handler fn;
        unsigned filters;
    } routes[] = {
        { VIAL_POST, "/logs", "post_logs", post_logs, 0 },
        { VIAL_GET, "/logs", "all_logs", list_logs, 0 },
        { VIAL_GET, "/logs/<int:id>", "get_log", get_log, 0 },
        { VIAL_GET, "/logs/stream", "stream_logs", logs_stream, 0 },
        { VIAL_GET, "/user/<userId>", "by_user", list_logs, F_USER },
        { VIAL_GET, "/user/<userId>/log_type/<type>", "by_user_type", list_logs, F_USER | F_TYPE },
        { VIAL_GET, "/user/<userId>/time_range/<start>/<end>", "by_user_range", list_logs,
          F_USER | F_RANGE },
        { VIAL_GET, "/user/<userId>/log_type/<type>/time_range/<start>/<end>", "by_user_type_range",
          list_logs, F_USER | F_TYPE | F_RANGE },
        { VIAL_GET, "/log_type/<type>", "by_type", list_logs, F_TYPE },
        { VIAL_GET, "/log_type/<type>/time_range/<start>/<end>", "by_type_range", list_logs,
          F_TYPE | F_RANGE },
        { VIAL_GET, "/time_range/<start>/<end>", "by_range", list_logs, F_RANGE },
        { VIAL_DELETE, "/logs/<int:id>", "delete_log", delete_log, 0 },
        { VIAL_DELETE, "/user/<userId>", "delete_user", delete_logs, F_USER },
        { VIAL_DELETE, "/log_type/<type>", "delete_type", delete_logs, F_TYPE },
        { VIAL_DELETE, "/time_range/<start>/<end>", "delete_range", delete_logs, F_RANGE },
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        rc |= vial_route_add(bp, routes[i].method, routes[i].pattern, routes[i].fn,
                             &(vial_route_opts){ .endpoint = routes[i].endpoint,
                                                 .ud = (void *)&sets[routes[i].filters] });
    rc |= vial_register(app, bp, "");
    return rc ? VIAL_EINVAL : 0;
}

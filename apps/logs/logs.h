/*
 * logs.h — the Log REST API blueprint of vial-server (apps/logs/logs.c).
 */
#ifndef VIAL_APPS_LOGS_H
#define VIAL_APPS_LOGS_H

#include <vial.h>

/* Declares the logs_* settings, registers the blueprint at the root and
 * the migration set "logs" (apps/logs/migrations, found under the
 * migrations_root setting).  Needs vial_db_init(app). */
int logs_register(vial_app *app);

/*
 * For the dashboard: one page of logs for optional filters (NULL: not
 * filtered; start and end go together), as the API shows them.  Returns 0
 * with *rows (a new reference: an array of log objects) and *next (the
 * cursor of the following page, or NULL), or an HTTP status with *why.
 */
int logs_page(vial_req *req, const char *user, const char *type, const char *start, const char *end,
              const char *limit, const char *after, json_t **rows, const char **next, const char **why);
/* Event counts per time bucket and type for the same filters:
 * {"from_ms", "to_ms", "bucket_ms", "series": {"CLICK": [[ms, n], ...]}}. */
int logs_stats(vial_req *req, const char *user, const char *type, const char *start, const char *end,
               json_t **out, const char **why);

/* For the dashboard's live mode: answers with the live tail of
 * GET /logs/stream (Server-Sent Events, one "log" event per stored log,
 * Last-Event-ID resumes) for optional filters (NULL or "": any), without
 * the logs_protect check: the caller decides who may watch. */
int logs_live(vial_req *req, const char *user, const char *type);

#endif

/*
 * logs_impl.h — what the files of the logs app share, and nothing another
 * app may use (that is logs.h): the settings, the filter sets of the
 * routes, the views each file registers, and the one writer of a log row.
 *
 *   logs.c     settings, the write guard, the route table
 *   ingest.c   POST /logs: the body walk, validation, storing
 *   query.c    lists, one log, deletes, the dashboard's page and stats
 *   rows.c     a stored row as the API shows it
 *   stream.c   GET /logs/stream: the live tail, and what the ingest publishes for it
 */
#ifndef VIAL_APPS_LOGS_IMPL_H
#define VIAL_APPS_LOGS_IMPL_H

#include "logs.h"

#include <stdbool.h>

#define MAX_LIMIT 10000  /* ?limit */

/* The settings, read at start (logs.c). */
typedef struct logs_cfg {
    int protect;            /* logs_protect: 0 off, 1 writes, 2 all */
    bool keep_unknown;      /* logs_unknown_properties = keep */
    bool has_default_offset;
    int32_t default_offset; /* logs_default_offset */
    vial_metric *ingested;  /* vial_logs_ingested_total */
} logs_cfg;
extern logs_cfg logs_settings;

/* With logs_protect, writes (or everything) need a bearer token or an API
 * key; non-zero when the request was refused (answered 401). */
int logs_guarded(vial_req *req, bool write);

/* The filters a route takes from its path: its route data is a pointer to
 * one of these bit sets. */
enum { F_USER = 1, F_TYPE = 2, F_RANGE = 4 };

/* The views (ingest.c, query.c), named as their endpoints. */
int post_logs(vial_req *req);
int list_logs(vial_req *req);
int get_log(vial_req *req);
int delete_log(vial_req *req);
int delete_logs(vial_req *req);

/* The columns every read selects, in the order logs_write_row() reads
 * them; a query appends its WHERE clause. */
#define LOGS_SELECT                                                                       \
    "SELECT id, user_id, session_id, time_us, time_offset, log_type, location_x, "       \
    "location_y, viewed_id, page_from, page_to, extra FROM logs WHERE "
#define LOGS_COL_ID 0
#define LOGS_COL_TIME 3

/* A text field of a log: NULL `p` is null. */
typedef struct logs_span {
    const char *p;
    size_t n;
} logs_span;

/* One log's fields, from a row of LOGS_SELECT or from what an ingest
 * stored. */
typedef struct logs_fields {
    int64_t id;
    logs_span user, session, type, viewed, from, to;
    logs_span extra; /* JSON text (keep mode) */
    vial_time t;
    bool has_time, has_lx, has_ly;
    int64_t lx, ly;
} logs_fields;

/* Writes a log as the API's flat object, with "extra" when `extra` (keep
 * mode) (rows.c): the one writer every route's rows go through. */
void logs_write_fields(vial_jw *w, const logs_fields *f, bool extra);
/* The same for the current row of LOGS_SELECT. */
void logs_write_row(vial_jw *w, vial_rows *r, bool extra);

/* The live tail (stream.c).  The topic an ingest publishes its stored logs
 * on, once per batch, after COMMIT; nothing is built when nobody anywhere
 * may listen (vial_publish_wanted). */
#define LOGS_TOPIC "logs"
/* GET /logs/stream: text/event-stream, one "log" event per stored log. */
int logs_stream(vial_req *req);
/* Publishes the `n` logs an ingest stored (ids first_id..), when its
 * response is a 201 (the transaction committed): call from a vial_defer of
 * that request.  `fields(i, &f, ud)` fills log i. */
void logs_publish(vial_req *req, size_t n, int64_t first_id,
                  void (*fields)(size_t i, logs_fields *f, void *ud), void *ud);

#endif

/*
 * logs_impl.h — what the files of the logs app share, and nothing another
 * app may use (that is logs.h): the settings, the filter sets of the
 * routes, the views each file registers, and the one writer of a log row.
 *
 *   logs.c     settings, the write guard, the route table
 *   ingest.c   POST /logs: the body walk, validation, storing
 *   query.c    lists, one log, deletes, the dashboard's page and stats
 *   rows.c     a stored row as the API shows it
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

/* Writes the current row of LOGS_SELECT as the API's flat object, with
 * "extra" when `extra` (keep mode) (rows.c). */
void logs_write_row(vial_jw *w, vial_rows *r, bool extra);

#endif

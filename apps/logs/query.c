/*
 * query.c — reading and deleting logs: one SQL text per filter set (so
 * each finds its index), the lists, one log, the deletes, and the
 * dashboard's page and chart data.
 *
 * Lists are ordered by (time, id) and keyset-paginated with vial_page:
 * ?limit=N returns a page plus a Link to the next one; without limit the
 * whole result is streamed in pages of 1000 rows, each fetched by its own
 * short query, so no request ever holds a 10-million-row result or a
 * long-lived cursor.  A route's filter set (user, type, time range) is its
 * route data, so one list view and one delete view serve them all.
 */
#include "logs_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define PAGE_ROWS 1000 /* rows per streamed page */

/* One SELECT per filter combination, so each uses its index.  Parameters
 * are numbered in the order query_args() binds them: the filters present
 * (user, type, range start and end), then the (time, id) to continue after,
 * then the row limit. */
#define COLS LOGS_SELECT
#define ORDER " ORDER BY time_us, id LIMIT "
static const char *const select_sql[8] = {
    [0] = COLS "(time_us, id) > ($1, $2)" ORDER "$3",
    [F_USER] = COLS "user_id = $1 AND (time_us, id) > ($2, $3)" ORDER "$4",
    [F_TYPE] = COLS "log_type = $1 AND (time_us, id) > ($2, $3)" ORDER "$4",
    [F_USER | F_TYPE] = COLS "user_id = $1 AND log_type = $2 AND (time_us, id) > ($3, $4)" ORDER "$5",
    [F_RANGE] = COLS "time_us BETWEEN $1 AND $2 AND (time_us, id) > ($3, $4)" ORDER "$5",
    [F_USER | F_RANGE] =
        COLS "user_id = $1 AND time_us BETWEEN $2 AND $3 AND (time_us, id) > ($4, $5)" ORDER "$6",
    [F_TYPE | F_RANGE] =
        COLS "log_type = $1 AND time_us BETWEEN $2 AND $3 AND (time_us, id) > ($4, $5)" ORDER "$6",
    [F_USER | F_TYPE | F_RANGE] = COLS "user_id = $1 AND log_type = $2 AND time_us BETWEEN $3 AND $4 "
                                       "AND (time_us, id) > ($5, $6)" ORDER "$7",
};

static const char *const delete_sql[8] = {
    [F_USER] = "DELETE FROM logs WHERE user_id = $1",
    [F_TYPE] = "DELETE FROM logs WHERE log_type = $1",
    [F_RANGE] = "DELETE FROM logs WHERE time_us BETWEEN $1 AND $2",
};

typedef struct query {
    unsigned filters;
    const char *user, *type;
    int64_t start_us, end_us;
    vial_page pg;  /* the (time, id) to continue after, the limit (0: stream everything) */
    bool done;     /* streaming: the last page has been written */
    bool nothing;  /* a filter that cannot match (not UTF-8) */
    bool extra;    /* rows carry "extra" (keep mode; the dashboard does not show it) */
} query;

/* Lists are ordered by (time, id); a page holds up to 10,000 rows. */
static const vial_page_spec by_time = {
    .keys = { VIAL_T_INT, VIAL_T_INT }, .nkeys = 2, .default_limit = 0, .max_limit = MAX_LIMIT };

/* Binds the filters in use, then (with `keyset`) the position and limit.
 * Returns the number of values. */
static size_t query_args(const query *q, bool keyset, int64_t limit, vial_val *a)
{
    size_t n = 0;
    if (q->filters & F_USER)
        a[n++] = VIAL_TEXT(q->user);
    if (q->filters & F_TYPE)
        a[n++] = VIAL_TEXT(q->type);
    if (q->filters & F_RANGE) {
        a[n++] = VIAL_INT(q->start_us);
        a[n++] = VIAL_INT(q->end_us);
    }
    if (keyset) {
        a[n++] = q->pg.after[0];
        a[n++] = q->pg.after[1];
        a[n++] = VIAL_INT(limit);
    }
    return n;
}

/* Fills `q` from explicit filter strings (NULL: not filtered) and the
 * limit/after arguments.  Returns NULL, or the message (arena/static) of a
 * 400 (or 503: out of memory). */
static const char *fill_query(vial_req *req, query *q, const char *user, const char *type,
                              const char *start, const char *end, const char *lim, const char *after)
{
    memset(q, 0, sizeof *q);
    q->filters = (user ? F_USER : 0) | (type ? F_TYPE : 0) | (start || end ? F_RANGE : 0);
    q->user = user;
    q->type = type;
    q->start_us = INT64_MIN;
    q->end_us = INT64_MAX;
    q->extra = logs_settings.keep_unknown;
    /* Ids in the database are always valid UTF-8 (they arrive as JSON): a
     * path value that is not cannot match anything, on either backend. */
    q->nothing = (user && !vial_utf8_valid(user, strlen(user))) ||
                 (type && !vial_utf8_valid(type, strlen(type)));
    if (q->filters & F_RANGE) {
        int32_t dz = logs_settings.has_default_offset ? logs_settings.default_offset : INT32_MIN;
        vial_time ts, te;
        if (!start || vial_time_parse(start, strlen(start), dz, &ts))
            return vial_sprintf(req, "start '%s' is not an RFC 3339 timestamp with a UTC offset "
                                     "(e.g. 2018-10-18T21:37:29-06:00; + may be sent as %%2B)",
                                start ? start : "");
        if (!end || vial_time_parse(end, strlen(end), dz, &te))
            return vial_sprintf(req, "end '%s' is not an RFC 3339 timestamp with a UTC offset "
                                     "(e.g. 2018-10-18T21:37:35-06:00; + may be sent as %%2B)",
                                end ? end : "");
        if (ts.us > te.us)
            return "the time range starts after it ends";
        q->start_us = ts.us;
        q->end_us = te.us;
    }
    const char *why = NULL;
    if (vial_page_parse(req, &by_time, lim, after, &q->pg, &why))
        return why;
    return NULL;
}

/* The route's filters from its path parameters; answers 400 and returns 1
 * on a bad value. */
static int parse_query(vial_req *req, unsigned filters, query *q)
{
    const char *why = fill_query(req, q, filters & F_USER ? vial_param(req, "userId") : NULL,
                                 filters & F_TYPE ? vial_param(req, "type") : NULL,
                                 filters & F_RANGE ? vial_param(req, "start") : NULL,
                                 filters & F_RANGE ? vial_param(req, "end") : NULL, vial_arg(req, "limit"),
                                 vial_arg(req, "after"));
    if (why) {
        vial_abort(req, 400, why);
        return 1;
    }
    return 0;
}

/* Writes the next page of a streamed list: 1 more to come, 0 done, <0
 * failed (see vial_db_error). */
static int next_page(vial_req *req, vial_db *db, query *q, vial_jw *w)
{
    vial_val a[7];
    size_t na = query_args(q, true, PAGE_ROWS, a);
    vial_rows *r = vial_db_query_dynamic(db, select_sql[q->filters], a, na);
    if (!r)
        return vial_db_errcode(db);
    int got = 0, rc;
    while ((rc = vial_rows_next(r)) > 0) {
        logs_write_row(w, r, q->extra);
        q->pg.after[0] = VIAL_INT(vial_rows_int(r, LOGS_COL_TIME));
        q->pg.after[1] = VIAL_INT(vial_rows_int(r, LOGS_COL_ID));
        got++;
    }
    vial_rows_close(r);
    if (rc < 0)
        return rc;
    (void)req;
    if (got < PAGE_ROWS) {
        vial_jw_end(w);
        q->done = true;
        return 0;
    }
    return 1;
}

/* Streams every matching row, a page (one short query) per callback. */
static int stream_page(vial_req *req, void *ud)
{
    query *q = ud;
    if (q->done)
        return 0;
    vial_jw *w = vial_stream_jw(req);
    vial_db *db = vial_db_get(req);
    if (!w || !db)
        return VIAL_EDBDOWN;
    int rc = next_page(req, db, q, w);
    if (rc < 0)
        vial_req_log(req, VIAL_LOG_ERROR, "logs stream: %s", vial_db_error(db));
    return rc;
}

/* Writes one page of q->pg.limit rows as an array; *next is the cursor of
 * the following page, or NULL after the last.  Returns 0 or <0 (see
 * vial_db_error; the writer then holds half a page). */
static int write_page(vial_req *req, vial_db *db, query *q, vial_jw *w, const char **next)
{
    *next = NULL;
    vial_val a[7];
    size_t na = query_args(q, true, q->pg.limit + 1, a); /* one more tells whether a next page exists */
    vial_rows *r = vial_db_query_dynamic(db, select_sql[q->filters], a, na);
    if (!r)
        return vial_db_errcode(db);
    vial_jw_array(w);
    const char *cursor = NULL;
    int64_t n = 0;
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        if (n == q->pg.limit) {
            *next = cursor;
            break;
        }
        logs_write_row(w, r, q->extra);
        if (++n == q->pg.limit)
            cursor = vial_page_cursor(req, &q->pg,
                                      (vial_val[]){ VIAL_INT(vial_rows_int(r, LOGS_COL_TIME)),
                                                    VIAL_INT(vial_rows_int(r, LOGS_COL_ID)) });
    }
    vial_rows_close(r);
    if (rc < 0)
        return rc;
    if (*next == NULL && n == q->pg.limit && rc > 0)
        return VIAL_ENOMEM; /* a next page, but no cursor for it */
    vial_jw_end(w);
    return 0;
}

/* Every list route: the filters it takes from its path are its route data. */
int list_logs(vial_req *req)
{
    const unsigned filters = *(const unsigned *)vial_route_ud(req);
    if (logs_guarded(req, false))
        return 0;
    query *q = vial_alloc(req, sizeof *q);
    if (!q)
        return vial_abort(req, 503, "out of memory");
    if (parse_query(req, filters, q))
        return 0;
    if (q->nothing) {
        vial_jw *w = vial_jw_begin(req, 200);
        vial_jw_array(w);
        vial_jw_end(w);
        return vial_jw_finish(w);
    }
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    if (!q->pg.limit) {
        int rc = vial_stream(req, 200, "application/json", stream_page, q);
        if (rc)
            return rc;
        /* The first page is read before anything is sent: a failing query
         * still gets a proper error response instead of a cut stream. */
        vial_jw *w = vial_stream_jw(req);
        vial_jw_array(w);
        if (next_page(req, db, q, w) < 0)
            return vial_db_abort(req, db);
        return 0;
    }
    const char *next;
    vial_jw *w = vial_jw_begin(req, 200);
    int rc = write_page(req, db, q, w, &next);
    if (rc == VIAL_ENOMEM)
        return vial_abort(req, 503, "out of memory");
    if (rc < 0)
        return vial_db_abort(req, db); /* replaces the half-written page */
    if (next && vial_page_link(req, &q->pg, next))
        return vial_abort(req, 503, "out of memory");
    return vial_jw_finish(w);
}

int get_log(vial_req *req)
{
    if (logs_guarded(req, false))
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    int64_t id = vial_param_int(req, "id");
    vial_rows *r = vial_db_query(db, LOGS_SELECT "id = $1", VIAL_ARGS(VIAL_INT(id)));
    if (!r)
        return vial_db_abort(req, db);
    int rc = vial_rows_next(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    if (rc == 0)
        return vial_abortf(req, 404, "no log with id %" PRId64, id);
    vial_jw *w = vial_jw_begin(req, 200);
    logs_write_row(w, r, logs_settings.keep_unknown);
    return vial_jw_finish(w);
}

static int deleted(vial_req *req, int n, const char *what)
{
    if (n == 0)
        return vial_abortf(req, 404, "no logs %s", what);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "deleted");
    vial_jw_int(w, n);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* Every filtered DELETE route: its filters are its route data. */
int delete_logs(vial_req *req)
{
    const unsigned filters = *(const unsigned *)vial_route_ud(req);
    if (logs_guarded(req, true))
        return 0;
    query q;
    if (parse_query(req, filters, &q))
        return 0;
    if (vial_arg(req, "limit") || vial_arg(req, "after"))
        return vial_abort(req, 400, "limit and after apply to lists, not to DELETE");
    if (q.nothing)
        return deleted(req, 0, "with that id or type");
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_val a[7];
    size_t na = query_args(&q, false, 0, a);
    int n = vial_db_exec_dynamic(db, delete_sql[filters], a, na);
    if (n < 0)
        return vial_db_abort(req, db);
    const char *what = filters == F_USER   ? vial_sprintf(req, "for user '%s'", q.user)
                       : filters == F_TYPE ? vial_sprintf(req, "of type '%s'", q.type)
                                           : "in that time range";
    return deleted(req, n, what);
}

int delete_log(vial_req *req)
{
    if (logs_guarded(req, true))
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    int64_t id = vial_param_int(req, "id");
    int n = vial_db_exec(db, "DELETE FROM logs WHERE id = $1", VIAL_ARGS(VIAL_INT(id)));
    if (n < 0)
        return vial_db_abort(req, db);
    if (n == 0)
        return vial_abortf(req, 404, "no log with id %" PRId64, id);
    return deleted(req, n, "");
}

/* ------------------------------------------------------------------ for the dashboard */

int logs_page(vial_req *req, const char *user, const char *type, const char *start, const char *end,
              const char *limit, const char *after, json_t **rows, const char **next, const char **why)
{
    query q;
    *rows = NULL;
    *next = NULL;
    if ((*why = fill_query(req, &q, user, type, start, end, limit ? limit : "50", after)))
        return 400;
    if (q.nothing) {
        *rows = json_array();
        return *rows ? 0 : 503;
    }
    vial_db *db = vial_db_get(req);
    if (!db) {
        *why = "the database is unavailable";
        return 503;
    }
    /* The page is written as the API writes it, then read back as the
     * template's context: one serializer of a log row. */
    q.extra = false;
    vial_jw *w = vial_jw_buffer(req);
    int rc = w ? write_page(req, db, &q, w, next) : VIAL_ENOMEM;
    size_t len;
    const char *json = rc ? NULL : vial_jw_text(w, &len);
    *rows = json ? json_loadb(json, len, 0, NULL) : NULL;
    if (!*rows) {
        *why = rc == VIAL_ENOMEM || !rc ? "out of memory" : "the database is unavailable";
        return 503;
    }
    return 0;
}

/* Counts per (time bucket, type) for the same filters: the chart's data. */
#define STATS_SQL(WHERE) "SELECT (time_us - $1) / $2 AS b, log_type, count(*) FROM logs " WHERE \
                         " GROUP BY b, log_type ORDER BY b, log_type LIMIT 20000"
static const char *const stats_sql[8] = {
    [0] = STATS_SQL("WHERE time_us BETWEEN $3 AND $4"),
    [F_USER] = STATS_SQL("WHERE time_us BETWEEN $4 AND $5 AND user_id = $3"),
    [F_TYPE] = STATS_SQL("WHERE time_us BETWEEN $4 AND $5 AND log_type = $3"),
    [F_USER | F_TYPE] = STATS_SQL("WHERE time_us BETWEEN $5 AND $6 AND user_id = $3 AND log_type = $4"),
    [F_RANGE] = STATS_SQL("WHERE time_us BETWEEN $3 AND $4"),
    [F_USER | F_RANGE] = STATS_SQL("WHERE time_us BETWEEN $4 AND $5 AND user_id = $3"),
    [F_TYPE | F_RANGE] = STATS_SQL("WHERE time_us BETWEEN $4 AND $5 AND log_type = $3"),
    [F_USER | F_TYPE | F_RANGE] = STATS_SQL("WHERE time_us BETWEEN $5 AND $6 AND user_id = $3 AND log_type = $4"),
};

int logs_stats(vial_req *req, const char *user, const char *type, const char *start, const char *end,
               json_t **out, const char **why)
{
    query q;
    *out = NULL;
    if ((*why = fill_query(req, &q, user, type, start, end, NULL, NULL)))
        return 400;
    vial_db *db = vial_db_get(req);
    if (!db) {
        *why = "the database is unavailable";
        return 503;
    }
    int64_t lo = q.start_us, hi = q.end_us;
    if (!(q.filters & F_RANGE)) { /* the data's own span */
        vial_rows *r = vial_db_query(db, "SELECT min(time_us), max(time_us) FROM logs", VIAL_NOARGS);
        if (!r || vial_rows_next(r) != 1) {
            *why = "the database is unavailable";
            return 503;
        }
        lo = vial_rows_isnull(r, 0) ? 0 : vial_rows_int(r, 0);
        hi = vial_rows_isnull(r, 1) ? 0 : vial_rows_int(r, 1);
        vial_rows_close(r);
    }
    /* About 60 buckets, rounded to a whole second. */
    int64_t span = hi > lo ? hi - lo : 1, bucket = span / 60 + 1;
    bucket = (bucket + 999999) / 1000000 * 1000000;
    json_t *series = json_object();
    vial_val a[6];
    size_t na = 0;
    a[na++] = VIAL_INT(lo);
    a[na++] = VIAL_INT(bucket);
    if (q.user)
        a[na++] = VIAL_TEXT(q.user);
    if (q.type)
        a[na++] = VIAL_TEXT(q.type);
    a[na++] = VIAL_INT(lo);
    a[na++] = VIAL_INT(hi);
    vial_rows *r = q.nothing ? NULL : vial_db_query_dynamic(db, stats_sql[q.filters & (F_USER | F_TYPE)], a, na);
    int rc = 0;
    while (r && series && (rc = vial_rows_next(r)) > 0) {
        const char *t = vial_rows_text(r, 1);
        json_t *s = json_object_get(series, t);
        if (!s) {
            s = json_array();
            json_object_set_new(series, t, s);
        }
        json_array_append_new(s, json_pack("[I,I]", (json_int_t)(lo + vial_rows_int(r, 0) * bucket) / 1000,
                                           (json_int_t)vial_rows_int(r, 2)));
    }
    vial_rows_close(r);
    if (rc < 0 || !series || (!r && !q.nothing)) {
        json_decref(series);
        *why = "the database is unavailable";
        return 503;
    }
    *out = json_pack("{s:I,s:I,s:I,s:o}", "from_ms", (json_int_t)(lo / 1000), "to_ms", (json_int_t)(hi / 1000),
                     "bucket_ms", (json_int_t)(bucket / 1000), "series", series);
    return *out ? 0 : 503;
}

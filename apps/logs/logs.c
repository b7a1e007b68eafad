/*
 * logs.c — the Log REST API blueprint: ingest front-end activity logs and
 * read them back by any combination of user, log type and time range.
 *
 *   POST   /logs                       one log file object, or an array of them
 *   GET    /logs, /logs/<int:id>
 *   GET    /user/<u>[/log_type/<t>][/time_range/<start>/<end>]
 *   GET    /log_type/<t>[/time_range/<start>/<end>], /time_range/<start>/<end>
 *   DELETE /logs/<int:id>, /user/<u>, /log_type/<t>, /time_range/<start>/<end>
 *
 * Ingest is all-or-nothing: the whole body is validated first (every bad
 * field reported by its path as sent), then every action is written in one
 * transaction with one block of ids; 201 is sent only after COMMIT.
 *
 * Lists are ordered by (time, id) and keyset-paginated: ?limit=N returns a
 * page plus a Link to the next one (an opaque cursor encoding the last
 * (time, id)); without limit the whole result is streamed in pages of 1000
 * rows, each fetched by its own short query, so no request ever holds a
 * 10-million-row result or a long-lived cursor.
 */
#include "logs.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_ROWS 1000        /* rows per streamed page */
#define MAX_LIMIT 10000
#define MAX_REPORTED_ERRORS 1000
#define MAX_ID_LEN 1024       /* userId, sessionId, viewedId, pageFrom, pageTo */
#define MAX_TYPE_LEN 256

/* ------------------------------------------------------------------ settings */

typedef struct logs_cfg {
    int protect;            /* logs_protect: 0 off, 1 writes, 2 all */
    bool keep_unknown;      /* logs_unknown_properties = keep */
    bool has_default_offset;
    int32_t default_offset; /* logs_default_offset */
} logs_cfg;

static logs_cfg cfg;

static int logs_start(vial_app *app)
{
    const char *pr = vial_config(app, "logs_protect");
    cfg.protect = !*pr || !strcmp(pr, "off") ? 0 : !strcmp(pr, "writes") ? 1 : !strcmp(pr, "all") ? 2 : -1;
    if (cfg.protect < 0) {
        vial_log(VIAL_LOG_ERROR, "logs_protect: '%s' is not off, writes or all", pr);
        return VIAL_EINVAL;
    }
    const char *u = vial_config(app, "logs_unknown_properties");
    if (!strcmp(u, "keep")) {
        cfg.keep_unknown = true;
    } else if (!strcmp(u, "reject")) {
        cfg.keep_unknown = false;
    } else {
        vial_log(VIAL_LOG_ERROR, "logs_unknown_properties: '%s' is not reject or keep", u);
        return VIAL_EINVAL;
    }
    const char *off = vial_config(app, "logs_default_offset");
    cfg.has_default_offset = off && *off;
    if (cfg.has_default_offset) {
        /* Parse it as the zone of a dummy timestamp: "Z", "+01:00", ... */
        char probe[64];
        vial_time t;
        snprintf(probe, sizeof probe, "2000-01-01T00:00:00%s", off);
        if (vial_time_parse(probe, strlen(probe), INT32_MIN, &t)) {
            vial_log(VIAL_LOG_ERROR, "logs_default_offset: '%s' is not an offset like Z or +01:00", off);
            return VIAL_EINVAL;
        }
        cfg.default_offset = t.offset_s;
    }
    return 0;
}

/* With logs_protect, writes (or everything) need a bearer token or an API
 * key; non-zero when the request was refused (answered 401). */
static int guarded(vial_req *req, bool write)
{
    return cfg.protect == 2 || (cfg.protect == 1 && write) ? vial_auth_require(req, NULL) : 0;
}

/* ------------------------------------------------------------------ ingest: validation */

/* Problems are collected with their paths; a path is built only when there
 * is something to report, so a valid 10,000-action body costs no formatting. */
typedef struct problems {
    json_t *fields;
    size_t count;
    bool oom;
} problems;

static void problem(problems *p, const char *prefix, const char *path, const char *why)
{
    p->count++;
    if (p->oom || p->count > MAX_REPORTED_ERRORS)
        return;
    char key[512];
    snprintf(key, sizeof key, "%s%s%s", prefix, *prefix && *path && path[0] != '[' ? "." : "", path);
    if (json_object_get(p->fields, key))
        return;
    if (json_object_set_new(p->fields, key, json_string(why)))
        p->oom = true;
}

static void problemf(problems *p, const char *prefix, const char *fmt, size_t i, const char *field,
                     const char *why)
{
    char path[400];
    snprintf(path, sizeof path, fmt, i, field);
    problem(p, prefix, path, why);
}

/* A problem with property `k` of action i.  The name is formatted here, only
 * when something is wrong, not for every property read. */
static void prop_problem(problems *p, const char *prefix, size_t i, const char *k, size_t kn, const char *why)
{
    char field[200]; /* long unknown names are cut in the report */
    snprintf(field, sizeof field, "properties.%.*s", (int)(kn > 180 ? 180 : kn), k);
    problemf(p, prefix, "actions[%zu].%s", i, field, why);
}

/* A string handed over by the reader: a span of the body (or the arena). */
typedef struct text {
    const char *p; /* NULL: absent */
    size_t n;
} text;

/* One stored row; every span points into the request body or its arena. */
typedef struct row {
    text user, session, type, viewed, from, to;
    vial_time t;
    int64_t lx, ly;
    bool has_lx, has_ly;
    json_t *extra; /* unknown properties (keep mode), owned */
} row;

/* The rows of one request: grown as actions are read (the count is not
 * known before the body has been walked). */
typedef struct row_vec {
    row *v;
    size_t n, cap;
} row_vec;

static row *rows_next(row_vec *rs)
{
    if (rs->n == rs->cap) {
        size_t cap = rs->cap ? rs->cap * 2 : 256;
        row *v = realloc(rs->v, cap * sizeof *v);
        if (!v)
            return NULL;
        rs->v = v;
        rs->cap = cap;
    }
    row *r = &rs->v[rs->n++];
    memset(r, 0, sizeof *r);
    return r;
}

static void rows_free(row_vec *rs)
{
    for (size_t i = 0; i < rs->n; i++)
        json_decref(rs->v[i].extra);
    free(rs->v);
}

/* The walk of one body: the reader, the rows so far, the problems. */
typedef struct ingest {
    vial_jr *jr;
    row_vec rows;
    problems p;
} ingest;

static bool key_is(const char *k, size_t n, const char *want)
{
    return n == strlen(want) && memcmp(k, want, n) == 0;
}

/* A text field: userId, sessionId, type, viewedId, pageFrom, pageTo.  On a
 * problem the value is left for the reader to skip. */
static const char *read_text(vial_jr *jr, size_t max, text *out)
{
    if (!vial_jr_str(jr, &out->p, &out->n)) {
        out->p = NULL;
        return "must be a string";
    }
    const char *why = out->n == 0 ? "must not be empty"
                      : out->n > max ? (max == MAX_TYPE_LEN ? "longer than 256 bytes" : "longer than 1024 bytes")
                      : memchr(out->p, '\0', out->n) ? "must not contain NUL characters"
                                                     : NULL;
    if (why)
        out->p = NULL;
    return why;
}

static const char *const known_props[] = { "locationX", "locationY", "viewedId", "pageFrom", "pageTo" };

/* The properties object of action i (keys in any order, null = absent). */
static void read_properties(ingest *in, const char *prefix, size_t i, row *r)
{
    vial_jr *jr = in->jr;
    problems *p = &in->p;
    const char *k, *why;
    size_t kn;
    unsigned seen = 0;
    while (vial_jr_key(jr, &k, &kn)) {
        size_t which = 0;
        while (which < 5 && !key_is(k, kn, known_props[which]))
            which++;
        if (which == 5) {
            if (!cfg.keep_unknown) {
                prop_problem(p, prefix, i, k, kn,
                             "unknown property (known: locationX, locationY, viewedId, pageFrom, pageTo)");
                continue;
            }
            if (memchr(k, '\0', kn)) {
                prop_problem(p, prefix, i, k, kn, "property names must not contain NUL characters");
                continue;
            }
            const char *raw;
            size_t rn;
            if (!vial_jr_skip(jr, &raw, &rn))
                return;
            if (!r->extra)
                r->extra = json_object();
            if (r->extra && json_object_getn(r->extra, k, kn)) {
                prop_problem(p, prefix, i, k, kn, "duplicate property");
                continue;
            }
            json_t *v = json_loadb(raw, rn, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (!v) {
                /* Valid JSON jansson cannot hold (a key with \u0000, an
                 * integer past 64 bits). */
                prop_problem(p, prefix, i, k, kn, "value cannot be stored");
                continue;
            }
            if (!r->extra || json_object_setn_new_nocheck(r->extra, k, kn, v))
                p->oom = true;
            continue;
        }
        if (seen & 1u << which) {
            prop_problem(p, prefix, i, k, kn, "duplicate property");
            continue;
        }
        seen |= 1u << which;
        if (vial_jr_null(jr))
            continue;
        if (which < 2) {
            int64_t v;
            if (!vial_jr_int(jr, &v)) {
                prop_problem(p, prefix, i, k, kn, "must be an integer");
            } else if (which == 0) {
                r->lx = v;
                r->has_lx = true;
            } else {
                r->ly = v;
                r->has_ly = true;
            }
        } else if ((why = read_text(jr, MAX_ID_LEN, which == 2 ? &r->viewed : which == 3 ? &r->from : &r->to))) {
            prop_problem(p, prefix, i, k, kn, why);
        }
    }
}

/* Action i of the log object at `prefix`; appends its row. */
static void read_action(ingest *in, const char *prefix, size_t i)
{
    vial_jr *jr = in->jr;
    problems *p = &in->p;
    row *r = rows_next(&in->rows);
    if (!r) {
        p->oom = true;
        return;
    }
    if (!vial_jr_object(jr)) {
        problemf(p, prefix, "actions[%zu]%s", i, "", "must be an object");
        return;
    }
    size_t before = p->count;
    const char *k, *why;
    size_t kn;
    bool has_time = false, has_type = false, has_props = false;
    while (vial_jr_key(jr, &k, &kn)) {
        if (key_is(k, kn, "time")) {
            if (has_time) {
                problemf(p, prefix, "actions[%zu].%s", i, "time", "duplicate field");
                continue;
            }
            has_time = true;
            const char *s;
            size_t n;
            if (!vial_jr_str(jr, &s, &n))
                problemf(p, prefix, "actions[%zu].%s", i, "time", "must be an RFC 3339 timestamp string");
            else if (vial_time_parse(s, n, cfg.has_default_offset ? cfg.default_offset : INT32_MIN, &r->t))
                problemf(p, prefix, "actions[%zu].%s", i, "time",
                         "not an RFC 3339 timestamp with a UTC offset (e.g. 2018-10-18T21:37:28-06:00)");
        } else if (key_is(k, kn, "type")) {
            if (has_type) {
                problemf(p, prefix, "actions[%zu].%s", i, "type", "duplicate field");
                continue;
            }
            has_type = true;
            if ((why = read_text(jr, MAX_TYPE_LEN, &r->type)))
                problemf(p, prefix, "actions[%zu].%s", i, "type", why);
        } else if (key_is(k, kn, "properties")) {
            if (has_props) {
                problemf(p, prefix, "actions[%zu].%s", i, "properties", "duplicate field");
                continue;
            }
            has_props = true;
            if (vial_jr_null(jr))
                continue;
            if (!vial_jr_object(jr))
                problemf(p, prefix, "actions[%zu].%s", i, "properties", "must be an object");
            else
                read_properties(in, prefix, i, r);
        } else {
            char field[200];
            snprintf(field, sizeof field, "%.*s", (int)(kn > 180 ? 180 : kn), k);
            problemf(p, prefix, "actions[%zu].%s", i, field, "unknown field");
        }
    }
    if (!has_time)
        problemf(p, prefix, "actions[%zu].%s", i, "time", "required");
    if (!has_type)
        problemf(p, prefix, "actions[%zu].%s", i, "type", "required");
    if (p->count != before && r->extra) {
        json_decref(r->extra);
        r->extra = NULL;
    }
}

/* One log file object at `prefix` ("" or "[i]"): its actions become rows,
 * with the userId and sessionId wherever they appear in the object. */
static void read_log(ingest *in, const char *prefix)
{
    vial_jr *jr = in->jr;
    problems *p = &in->p;
    if (!vial_jr_object(jr)) {
        problem(p, prefix, "", "must be an object with userId, sessionId and actions");
        return;
    }
    size_t first = in->rows.n;
    text user = { 0 }, session = { 0 };
    bool has_user = false, has_session = false, has_actions = false;
    const char *k, *why;
    size_t kn;
    while (vial_jr_key(jr, &k, &kn)) {
        if (key_is(k, kn, "userId") || key_is(k, kn, "sessionId")) {
            bool u = k[0] == 'u';
            const char *name = u ? "userId" : "sessionId";
            if (u ? has_user : has_session) {
                problem(p, prefix, name, "duplicate field");
                continue;
            }
            *(u ? &has_user : &has_session) = true;
            if ((why = read_text(jr, MAX_ID_LEN, u ? &user : &session)))
                problem(p, prefix, name, why);
        } else if (key_is(k, kn, "actions")) {
            if (has_actions) {
                problem(p, prefix, "actions", "duplicate field");
                continue;
            }
            has_actions = true;
            if (!vial_jr_array(jr)) {
                problem(p, prefix, "actions", "must be an array");
                continue;
            }
            size_t i = 0;
            while (vial_jr_more(jr))
                read_action(in, prefix, i++);
            if (i == 0)
                problem(p, prefix, "actions", "must not be empty");
        } else {
            char field[200];
            snprintf(field, sizeof field, "%.*s", (int)(kn > 180 ? 180 : kn), k);
            problem(p, prefix, field, "unknown field");
        }
    }
    if (!has_user)
        problem(p, prefix, "userId", "required");
    if (!has_session)
        problem(p, prefix, "sessionId", "required");
    if (!has_actions)
        problem(p, prefix, "actions", "required");
    for (size_t i = first; i < in->rows.n; i++) {
        in->rows.v[i].user = user;
        in->rows.v[i].session = session;
    }
}

/* ------------------------------------------------------------------ ingest: storing */

static vial_val opt_text(text t)
{
    return t.p ? VIAL_TEXTN(t.p, t.n) : VIAL_NULL;
}

static int store(vial_req *req, row *rows, size_t n);

static int post_logs(vial_req *req)
{
    if (guarded(req, true))
        return 0;
    ingest in = { .jr = vial_jr_body(req), .p = { .fields = json_object() } };
    if (!in.jr || !in.p.fields) {
        json_decref(in.p.fields);
        return vial_abort(req, 503, "out of memory");
    }
    vial_jr_type top = vial_jr_peek(in.jr);
    if (top == VIAL_JR_ARRAY) {
        vial_jr_array(in.jr);
        size_t i = 0;
        for (; vial_jr_more(in.jr); i++) {
            char prefix[32];
            snprintf(prefix, sizeof prefix, "[%zu]", i);
            read_log(&in, prefix);
        }
        if (i == 0 && !vial_jr_error(in.jr)) {
            json_decref(in.p.fields);
            return vial_abort(req, 400, "the body is an empty array: nothing to store");
        }
    } else if (top == VIAL_JR_OBJECT) {
        read_log(&in, "");
    }
    int rc = vial_jr_finish(in.jr);
    if (rc || top == VIAL_JR_NONE || (top != VIAL_JR_ARRAY && top != VIAL_JR_OBJECT)) {
        rows_free(&in.rows);
        json_decref(in.p.fields);
        if (rc == VIAL_ENOMEM)
            return vial_abort(req, 503, "out of memory");
        if (rc)
            return vial_abort(req, 400, vial_jr_error(in.jr));
        return vial_abort(req, 400, "the body must be a log object or an array of log objects");
    }
    problems p = in.p;
    if (p.count || p.oom) {
        rows_free(&in.rows);
        if (p.oom) {
            json_decref(p.fields);
            return vial_abort(req, 503, "out of memory");
        }
        char msg[120];
        if (p.count > MAX_REPORTED_ERRORS)
            snprintf(msg, sizeof msg, "invalid body: %zu problems (the first %d are listed); nothing was stored",
                     p.count, MAX_REPORTED_ERRORS);
        else
            snprintf(msg, sizeof msg, "invalid body: %zu problem%s; nothing was stored", p.count,
                     p.count == 1 ? "" : "s");
        return vial_abort_json(req, 400, msg, json_pack("{s:o}", "fields", p.fields));
    }
    json_decref(p.fields);
    row *rows = in.rows.v;
    size_t n = in.rows.n;
    rc = store(req, rows, n);
    rows_free(&in.rows);
    return rc;
}

/* All valid: one transaction, one block of ids, one batch; 201 only after
 * COMMIT (vial_db_tx commits before the response is sent). */
static int store(vial_req *req, row *rows, size_t n)
{
    if (vial_db_tx(req))
        return 0;
    vial_db *db = vial_db_get(req);
    static const char *const cols[] = { "user_id", "session_id", "time_us", "time_offset",
                                        "log_type", "location_x", "location_y", "viewed_id",
                                        "page_from", "page_to", "extra" };
    /* One block of never-reused ids from the logs' sequence (migrations). */
    vial_batch *b = vial_db_batch(db, "logs", cols, 11, "id");
    int rc = b ? vial_batch_ids(b, "logs_id_seq") : vial_db_errcode(db);
    char **extras = cfg.keep_unknown ? vial_alloc(req, n * sizeof *extras) : NULL;
    if (cfg.keep_unknown && !extras)
        rc = VIAL_ENOMEM;
    else if (extras)
        memset(extras, 0, n * sizeof *extras);
    for (size_t i = 0; i < n && rc == 0; i++) {
        row *r = &rows[i];
        vial_val ex = VIAL_NULL;
        if (extras) {
            if (r->extra) {
                if (!(extras[i] = json_dumps(r->extra, JSON_COMPACT))) {
                    rc = VIAL_ENOMEM;
                    break;
                }
                ex = (vial_val){ .type = VIAL_T_JSON, .u.s = { extras[i], (size_t)-1 } };
            }
        }
        vial_val v[11] = { VIAL_TEXTN(r->user.p, r->user.n), VIAL_TEXTN(r->session.p, r->session.n),
                           VIAL_INT(r->t.us), VIAL_INT(r->t.offset_s), VIAL_TEXTN(r->type.p, r->type.n),
                           r->has_lx ? VIAL_INT(r->lx) : VIAL_NULL, r->has_ly ? VIAL_INT(r->ly) : VIAL_NULL,
                           opt_text(r->viewed), opt_text(r->from), opt_text(r->to), ex };
        rc = vial_batch_add(b, v);
    }
    int64_t first = 0, last = 0;
    int64_t stored = b ? vial_batch_finish(b, &first, &last) : rc;
    if (extras)
        for (size_t i = 0; i < n; i++)
            free(extras[i]);
    if (rc < 0 || stored < 0)
        return vial_db_abort(req, db);
    /* 201 only after COMMIT: vial_db_tx commits before this is sent. */
    vial_jw *w = vial_jw_begin(req, 201);
    vial_jw_object(w);
    vial_jw_key(w, "stored");
    vial_jw_int(w, stored);
    vial_jw_key(w, "first_id");
    vial_jw_int(w, first);
    vial_jw_key(w, "last_id");
    vial_jw_int(w, last);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ queries */

enum { F_USER = 1, F_TYPE = 2, F_RANGE = 4 };

/* One SELECT per filter combination, so each uses its index.  Parameters
 * are numbered in the order query_args() binds them: the filters present
 * (user, type, range start and end), then the (time, id) to continue after,
 * then the row limit. */
#define COLS "SELECT id, user_id, session_id, time_us, time_offset, log_type, location_x, " \
             "location_y, viewed_id, page_from, page_to, extra FROM logs WHERE "
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
    int64_t after_t, after_id; /* keyset position */
    int64_t limit;             /* 0: stream everything */
    bool done;                 /* streaming: the last page has been written */
    bool nothing;              /* a filter that cannot match (not UTF-8) */
} query;

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
        a[n++] = VIAL_INT(q->after_t);
        a[n++] = VIAL_INT(q->after_id);
        a[n++] = VIAL_INT(limit);
    }
    return n;
}

/* Writes one log row as the API's flat object. */
static void write_row(vial_jw *w, vial_rows *r)
{
    static const char *const keys[] = { "id", "userId", "sessionId", "time", NULL, "log_type",
                                         "locationX", "locationY", "viewedId", "pageFrom", "pageTo" };
    vial_jw_object(w);
    for (size_t c = 0; c < 11; c++) {
        if (c == 4)
            continue; /* time_offset goes into "time" */
        vial_jw_key(w, keys[c]);
        if (vial_rows_isnull(r, c)) {
            vial_jw_null(w);
        } else if (c == 3) {
            char buf[40];
            vial_time t = { vial_rows_int(r, 3), (int32_t)vial_rows_int(r, 4) };
            vial_jw_strn(w, buf, vial_time_format(t, buf));
        } else if (c == 0 || c == 6 || c == 7) {
            vial_jw_int(w, vial_rows_int(r, c));
        } else {
            vial_jw_strn(w, vial_rows_text(r, c), vial_rows_len(r, c));
        }
    }
    if (cfg.keep_unknown) {
        vial_jw_key(w, "extra");
        if (vial_rows_isnull(r, 11))
            vial_jw_null(w);
        else
            vial_jw_raw(w, vial_rows_text(r, 11), vial_rows_len(r, 11));
    }
    vial_jw_end(w);
}

/* Cursor: 16 bytes (time_us, id), base64url without padding: opaque to
 * clients, checked on the way back in. */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void cursor_encode(int64_t t, int64_t id, char out[23])
{
    uint8_t raw[18] = { 0 };
    for (int i = 0; i < 8; i++) {
        raw[i] = (uint8_t)((uint64_t)t >> (56 - 8 * i));
        raw[8 + i] = (uint8_t)((uint64_t)id >> (56 - 8 * i));
    }
    size_t o = 0;
    for (size_t i = 0; i < 16; i += 3) {
        uint32_t v = (uint32_t)raw[i] << 16 | (uint32_t)raw[i + 1] << 8 | raw[i + 2];
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        if (i + 1 < 16)
            out[o++] = b64[v >> 6 & 63];
        if (i + 2 < 16)
            out[o++] = b64[v & 63];
    }
    out[o] = '\0';
}

static bool cursor_decode(const char *s, int64_t *t, int64_t *id)
{
    if (strlen(s) != 22)
        return false;
    uint8_t raw[18] = { 0 };
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < 22; i++) {
        const char *pos = strchr(b64, s[i]);
        if (!pos || !s[i])
            return false;
        acc = acc << 6 | (uint32_t)(pos - b64);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (o < 16)
                raw[o++] = (uint8_t)(acc >> bits);
        }
    }
    uint64_t ut = 0, uid = 0;
    for (int i = 0; i < 8; i++) {
        ut = ut << 8 | raw[i];
        uid = uid << 8 | raw[8 + i];
    }
    *t = (int64_t)ut;
    *id = (int64_t)uid;
    return *id >= 0;
}

/* Ids in the database are always valid UTF-8 (they arrive as JSON): a path
 * value that is not cannot match anything, on either backend. */
static bool utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        size_t n = *p < 0x80 ? 1 : (*p >= 0xc2 && *p <= 0xdf) ? 2 : (*p >= 0xe0 && *p <= 0xef) ? 3
                 : (*p >= 0xf0 && *p <= 0xf4) ? 4 : 0;
        if (!n)
            return false;
        for (size_t k = 1; k < n; k++)
            if ((p[k] & 0xc0) != 0x80)
                return false;
        if ((n == 3 && *p == 0xe0 && p[1] < 0xa0) || (n == 3 && *p == 0xed && p[1] >= 0xa0) ||
            (n == 4 && *p == 0xf0 && p[1] < 0x90) || (n == 4 && *p == 0xf4 && p[1] >= 0x90))
            return false;
        p += n;
    }
    return true;
}

/* Parses the path's filters and the ?limit / ?after arguments.  Returns 0,
 * or answers 400 and returns 1. */
/* Fills `q` from explicit filter strings (NULL: not filtered) and the
 * limit/after arguments.  Returns 0, or an error message (arena/static) for
 * a 400. */
static const char *fill_query(vial_req *req, query *q, const char *user, const char *type,
                              const char *start, const char *end, const char *lim, const char *after)
{
    memset(q, 0, sizeof *q);
    q->filters = (user ? F_USER : 0) | (type ? F_TYPE : 0) | (start || end ? F_RANGE : 0);
    q->user = user;
    q->type = type;
    q->start_us = INT64_MIN;
    q->end_us = INT64_MAX;
    q->after_t = INT64_MIN;
    q->after_id = -1;
    q->nothing = (user && !utf8_ok(user)) || (type && !utf8_ok(type));
    if (q->filters & F_RANGE) {
        int32_t dz = cfg.has_default_offset ? cfg.default_offset : INT32_MIN;
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
    if (lim) {
        char *e;
        long long v = strtoll(lim, &e, 10);
        if (!*lim || *e || v < 1 || v > MAX_LIMIT)
            return vial_sprintf(req, "limit must be an integer from 1 to %d", MAX_LIMIT);
        q->limit = v;
    }
    if (after && !cursor_decode(after, &q->after_t, &q->after_id))
        return "after is not a cursor this API handed out";
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
        write_row(w, r);
        q->after_t = vial_rows_int(r, 3);
        q->after_id = vial_rows_int(r, 0);
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

static int list_logs(vial_req *req, unsigned filters)
{
    if (guarded(req, false))
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
    if (!q->limit) {
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
    vial_val a[7];
    size_t na = query_args(q, true, q->limit + 1, a); /* one more tells whether a next page exists */
    vial_rows *r = vial_db_query_dynamic(db, select_sql[filters], a, na);
    if (!r)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    int64_t n = 0, last_t = 0, last_id = 0;
    int rc;
    bool more = false;
    while ((rc = vial_rows_next(r)) > 0) {
        if (n == q->limit) {
            more = true;
            break;
        }
        write_row(w, r);
        last_t = vial_rows_int(r, 3);
        last_id = vial_rows_int(r, 0);
        n++;
    }
    vial_rows_close(r);
    if (rc < 0)
        return vial_db_abort(req, db); /* replaces the half-written page */
    vial_jw_end(w);
    if (more) {
        char cur[23];
        cursor_encode(last_t, last_id, cur);
        const char *target = vial_target(req);
        const char *qm = strchr(target, '?');
        int plen = qm ? (int)(qm - target) : (int)strlen(target);
        const char *link = vial_sprintf(req, "<%.*s?limit=%" PRId64 "&after=%s>; rel=\"next\"", plen,
                                        target, q->limit, cur);
        if (link)
            vial_set_header(req, "Link", link);
    }
    return vial_jw_finish(w);
}

static int get_log(vial_req *req)
{
    if (guarded(req, false))
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    int64_t id = vial_param_int(req, "id");
    vial_rows *r = vial_db_query(db,
                                 "SELECT id, user_id, session_id, time_us, time_offset, log_type, location_x, "
                                 "location_y, viewed_id, page_from, page_to, extra FROM logs WHERE id = $1",
                                 VIAL_ARGS(VIAL_INT(id)));
    if (!r)
        return vial_db_abort(req, db);
    int rc = vial_rows_next(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    if (rc == 0)
        return vial_abortf(req, 404, "no log with id %" PRId64, id);
    vial_jw *w = vial_jw_begin(req, 200);
    write_row(w, r);
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

static int delete_logs(vial_req *req, unsigned filters)
{
    if (guarded(req, true))
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

/* ------------------------------------------------------------------ for other blueprints (the dashboard) */

static json_t *row_json(vial_rows *r)
{
    char buf[40];
    vial_time t = { vial_rows_int(r, 3), (int32_t)vial_rows_int(r, 4) };
    size_t tn = vial_time_format(t, buf);
    json_t *o = json_pack("{s:I,s:s,s:s,s:s%,s:s}", "id", (json_int_t)vial_rows_int(r, 0), "userId",
                          vial_rows_text(r, 1), "sessionId", vial_rows_text(r, 2), "time", buf, tn,
                          "log_type", vial_rows_text(r, 5));
    static const struct {
        const char *key;
        size_t col;
        bool num;
    } opt[] = { { "locationX", 6, true }, { "locationY", 7, true }, { "viewedId", 8, false },
                { "pageFrom", 9, false }, { "pageTo", 10, false } };
    for (size_t i = 0; o && i < 5; i++) {
        json_t *v = vial_rows_isnull(r, opt[i].col) ? json_null()
                    : opt[i].num ? json_integer((json_int_t)vial_rows_int(r, opt[i].col))
                                 : json_stringn(vial_rows_text(r, opt[i].col), vial_rows_len(r, opt[i].col));
        json_object_set_new(o, opt[i].key, v ? v : json_null());
    }
    return o;
}

int logs_page(vial_req *req, const char *user, const char *type, const char *start, const char *end,
              const char *limit, const char *after, json_t **rows, const char **next, const char **why)
{
    query q;
    *rows = NULL;
    *next = NULL;
    if ((*why = fill_query(req, &q, user, type, start, end, limit ? limit : "50", after)))
        return 400;
    json_t *arr = json_array();
    if (!arr)
        return 503;
    if (q.nothing) {
        *rows = arr;
        return 0;
    }
    vial_db *db = vial_db_get(req);
    if (!db) {
        json_decref(arr);
        *why = "the database is unavailable";
        return 503;
    }
    vial_val a[7];
    size_t na = query_args(&q, true, q.limit + 1, a);
    vial_rows *r = vial_db_query_dynamic(db, select_sql[q.filters], a, na);
    int rc = r ? 1 : -1;
    int64_t n = 0, last_t = 0, last_id = 0;
    while (r && (rc = vial_rows_next(r)) > 0) {
        if (n == q.limit) {
            char cur[23];
            cursor_encode(last_t, last_id, cur);
            *next = vial_strdup(req, cur);
            break;
        }
        json_array_append_new(arr, row_json(r));
        last_t = vial_rows_int(r, 3);
        last_id = vial_rows_int(r, 0);
        n++;
    }
    vial_rows_close(r);
    if (rc < 0) {
        json_decref(arr);
        *why = "the database is unavailable";
        return 503;
    }
    *rows = arr;
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

/* ------------------------------------------------------------------ handlers */

static int all_logs(vial_req *req) { return list_logs(req, 0); }
static int by_user(vial_req *req) { return list_logs(req, F_USER); }
static int by_user_type(vial_req *req) { return list_logs(req, F_USER | F_TYPE); }
static int by_user_range(vial_req *req) { return list_logs(req, F_USER | F_RANGE); }
static int by_user_type_range(vial_req *req) { return list_logs(req, F_USER | F_TYPE | F_RANGE); }
static int by_type(vial_req *req) { return list_logs(req, F_TYPE); }
static int by_type_range(vial_req *req) { return list_logs(req, F_TYPE | F_RANGE); }
static int by_range(vial_req *req) { return list_logs(req, F_RANGE); }

static int delete_log(vial_req *req)
{
    if (guarded(req, true))
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

static int delete_user(vial_req *req) { return delete_logs(req, F_USER); }
static int delete_type(vial_req *req) { return delete_logs(req, F_TYPE); }
static int delete_range(vial_req *req) { return delete_logs(req, F_RANGE); }

/* ------------------------------------------------------------------ registration */

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
        vial_db_migrations(app, "logs", "apps/logs/migrations"))
        return VIAL_EINVAL;
    vial_bp *bp = vial_bp_new("logs");
    if (!bp)
        return VIAL_ENOMEM;
    int rc = 0;
    rc |= vial_post(bp, "/logs", post_logs);
    rc |= vial_get(bp, "/logs", all_logs);
    rc |= vial_get(bp, "/logs/<int:id>", get_log);
    rc |= vial_get(bp, "/user/<userId>", by_user);
    rc |= vial_get(bp, "/user/<userId>/log_type/<type>", by_user_type);
    rc |= vial_get(bp, "/user/<userId>/time_range/<start>/<end>", by_user_range);
    rc |= vial_get(bp, "/user/<userId>/log_type/<type>/time_range/<start>/<end>", by_user_type_range);
    rc |= vial_get(bp, "/log_type/<type>", by_type);
    rc |= vial_get(bp, "/log_type/<type>/time_range/<start>/<end>", by_type_range);
    rc |= vial_get(bp, "/time_range/<start>/<end>", by_range);
    rc |= vial_delete(bp, "/logs/<int:id>", delete_log);
    rc |= vial_delete(bp, "/user/<userId>", delete_user);
    rc |= vial_delete(bp, "/log_type/<type>", delete_type);
    rc |= vial_delete(bp, "/time_range/<start>/<end>", delete_range);
    rc |= vial_register(app, bp, "");
    return rc ? VIAL_EINVAL : 0;
}

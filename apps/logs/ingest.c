/*
 * ingest.c — POST /logs: one log file object, or an array of them, walked
 * once with the pull reader into flat rows, validated, then stored.
 *
 * Ingest is all-or-nothing: the whole body is validated first (every bad
 * field reported by its path as sent), then every action is written in one
 * transaction with one block of ids; 201 is sent only after COMMIT.  A
 * valid body of 10,000 actions costs no tree, no formatting and no
 * allocation per action: text fields stay spans of the body, the rows grow
 * as one arena vector, and unknown properties kept in keep mode are copied
 * as their JSON text, one object per action, into one arena buffer.
 */
#include "logs_impl.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPORTED_ERRORS 1000
#define MAX_ID_LEN 1024       /* userId, sessionId, viewedId, pageFrom, pageTo */
#define MAX_TYPE_LEN 256

/* ------------------------------------------------------------------ validation */

/* Problems are collected with their paths; a path is built only when there
 * is something to report, so a valid 10,000-action body costs no formatting
 * (and no allocation: the object is made with the first problem). */
typedef struct problems {
    json_t *fields; /* NULL until the first problem */
    size_t count;
    bool oom;
} problems;

static void problem(problems *p, const char *prefix, const char *path, const char *why)
{
    p->count++;
    if (p->oom || p->count > MAX_REPORTED_ERRORS)
        return;
    if (!p->fields && !(p->fields = json_object())) {
        p->oom = true;
        return;
    }
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
    uint32_t xoff; /* where `extra` starts in ingest.extras while that grows */
    text extra;    /* unknown properties (keep mode) as a JSON object's text */
} row;

/* The walk of one body: the reader, the rows so far (grown as actions are
 * read: the count is not known before the body has been walked), the text
 * of the unknown properties kept, the problems.  All in the request arena:
 * nothing to free by hand on any path out. */
typedef struct ingest {
    vial_req *req;
    vial_jr *jr;
    row *rows;
    size_t n, cap;
    char *extras; /* keep mode: every action's "extra" object, back to back */
    size_t xn, xcap;
    text *names;  /* keep mode: the unknown names of one properties object */
    size_t nnames, capnames;
    problems p;
} ingest;

/* `v` (an arena vector of *cap elements of `size` bytes, n in use) with
 * room for `more`: itself, or grown (doubling from `first`).  NULL when out
 * of memory, which is noted. */
static void *room(ingest *in, void *v, size_t *cap, size_t n, size_t more, size_t size,
                  size_t first)
{
    if (n + more <= *cap)
        return v;
    size_t c = *cap ? *cap : first;
    while (c < n + more)
        c *= 2;
    void *nv = vial_realloc(in->req, v, *cap * size, c * size);
    if (!nv) {
        in->p.oom = true;
        return NULL;
    }
    *cap = c;
    return nv;
}

static row *rows_next(ingest *in)
{
    row *v = room(in, in->rows, &in->cap, in->n, 1, sizeof *v, 256);
    if (!v)
        return NULL;
    in->rows = v;
    row *r = &v[in->n++];
    memset(r, 0, sizeof *r);
    return r;
}

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

/* Appends `n` bytes to the kept text of unknown properties. */
static bool extras_add(ingest *in, const char *s, size_t n)
{
    char *x = room(in, in->extras, &in->xcap, in->xn, n, 1, 4096);
    if (!x)
        return false;
    in->extras = x;
    memcpy(in->extras + in->xn, s, n);
    in->xn += n;
    return true;
}

/* A property name as a JSON string (the reader handed it over decoded). */
static bool extras_name(ingest *in, const char *k, size_t kn)
{
    static const char hex[] = "0123456789abcdef";
    char *x = room(in, in->extras, &in->xcap, in->xn, 6 * kn + 2, 1, 4096);
    if (!x)
        return false;
    in->extras = x;
    char *o = x + in->xn;
    *o++ = '"';
    for (size_t j = 0; j < kn; j++) {
        unsigned char c = (unsigned char)k[j];
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = (char)c;
        } else if (c < 0x20) {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        } else {
            *o++ = (char)c; /* UTF-8, checked by the reader */
        }
    }
    *o++ = '"';
    in->xn = (size_t)(o - in->extras);
    return true;
}

/* Whether a value's JSON text holds the escape \u0000, which PostgreSQL's
 * jsonb refuses: it is refused here on every backend alike, before
 * anything is written.  (A name holding U+0000 is refused as such.) */
static bool has_nul_escape(const char *s, size_t n)
{
    const char *e = s + n;
    for (const char *b = memchr(s, '\\', n); b; b = memchr(b, '\\', (size_t)(e - b))) {
        if (e - b >= 6 && !memcmp(b + 1, "u0000", 5))
            return true;
        b += 2; /* the escaped character is not the start of another escape */
        if (b >= e)
            break;
    }
    return false;
}

static int name_cmp(const void *a, const void *b)
{
    const text *x = a, *y = b;
    if (x->n != y->n)
        return x->n < y->n ? -1 : 1;
    return memcmp(x->p, y->p, x->n);
}

/* The unknown names of one properties object twice or more: each repeat is
 * a problem.  Found by sorting the list of names (scratch, reused for each
 * object), so a body with a million names in one object costs n log n, not
 * n². */
static void repeated_names(ingest *in, const char *prefix, size_t i)
{
    text *v = in->names;
    qsort(v, in->nnames, sizeof *v, name_cmp);
    for (size_t j = 1; j < in->nnames; j++)
        if (!name_cmp(&v[j - 1], &v[j]))
            prop_problem(&in->p, prefix, i, v[j].p, v[j].n, "duplicate property");
}

/* An unknown property in keep mode: its name and value (the JSON text as
 * sent, a span of the body) join the action's "extra" object. */
static void keep_unknown(ingest *in, const char *prefix, size_t i, row *r, const char *k, size_t kn)
{
    problems *p = &in->p;
    if (memchr(k, '\0', kn)) {
        prop_problem(p, prefix, i, k, kn, "property names must not contain NUL characters");
        return;
    }
    const char *raw;
    size_t rn;
    if (!vial_jr_skip(in->jr, &raw, &rn))
        return;
    if (has_nul_escape(raw, rn)) {
        prop_problem(p, prefix, i, k, kn, "value cannot be stored");
        return;
    }
    text *names = room(in, in->names, &in->capnames, in->nnames, 1, sizeof *names, 16);
    if (!names)
        return;
    in->names = names;
    names[in->nnames++] = (text){ k, kn };
    bool first = !r->extra.n;
    if (first && in->xn > UINT32_MAX - 1) {
        p->oom = true; /* 4 GiB of kept properties in one body */
        return;
    }
    if (first)
        r->xoff = (uint32_t)in->xn;
    if (!extras_add(in, first ? "{" : ",", 1) || !extras_name(in, k, kn) ||
        !extras_add(in, ":", 1) || !extras_add(in, raw, rn))
        return;
    r->extra.n = in->xn - r->xoff;
}

/* The properties object of action i (keys in any order, null = absent). */
static void read_properties(ingest *in, const char *prefix, size_t i, row *r)
{
    vial_jr *jr = in->jr;
    problems *p = &in->p;
    const char *k, *why;
    size_t kn;
    unsigned seen = 0;
    in->nnames = 0;
    while (vial_jr_key(jr, &k, &kn)) {
        size_t which = 0;
        while (which < 5 && !key_is(k, kn, known_props[which]))
            which++;
        if (which == 5) {
            if (!logs_settings.keep_unknown)
                prop_problem(p, prefix, i, k, kn,
                             "unknown property (known: locationX, locationY, viewedId, pageFrom, pageTo)");
            else
                keep_unknown(in, prefix, i, r, k, kn);
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
    if (r->extra.n && extras_add(in, "}", 1))
        r->extra.n++;
    if (in->nnames > 1)
        repeated_names(in, prefix, i);
}

/* Action i of the log object at `prefix`; appends its row. */
static void read_action(ingest *in, const char *prefix, size_t i)
{
    vial_jr *jr = in->jr;
    problems *p = &in->p;
    row *r = rows_next(in);
    if (!r)
        return;
    if (!vial_jr_object(jr)) {
        problemf(p, prefix, "actions[%zu]%s", i, "", "must be an object");
        return;
    }
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
            else if (vial_time_parse(s, n, logs_settings.has_default_offset ? logs_settings.default_offset
                                                                            : INT32_MIN,
                                     &r->t))
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
    size_t first = in->n;
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
    for (size_t i = first; i < in->n; i++) {
        in->rows[i].user = user;
        in->rows[i].session = session;
    }
}

/* ------------------------------------------------------------------ storing */

static vial_val opt_text(text t)
{
    return t.p ? VIAL_TEXTN(t.p, t.n) : VIAL_NULL;
}

static int store(vial_req *req, row *rows, size_t n);

/* ------------------------------------------------------------------ the live tail */

/* What the live tail gets of a stored batch (stream.c publishes it once
 * the response is known to be a 201, i.e. after COMMIT). */
typedef struct tail_batch {
    vial_req *req;
    row *rows;
    size_t n;
    int64_t first;
    bool publish;
} tail_batch;

static void stored_fields(size_t i, logs_fields *f, void *ud)
{
    const row *r = &((tail_batch *)ud)->rows[i];
    *f = (logs_fields){ .id = ((tail_batch *)ud)->first + (int64_t)i,
                        .user = { r->user.p, r->user.n },
                        .session = { r->session.p, r->session.n },
                        .type = { r->type.p, r->type.n },
                        .viewed = { r->viewed.p, r->viewed.n },
                        .from = { r->from.p, r->from.n },
                        .to = { r->to.p, r->to.n },
                        .extra = { r->extra.p, r->extra.n },
                        .t = r->t, .has_time = true,
                        .has_lx = r->has_lx, .lx = r->lx,
                        .has_ly = r->has_ly, .ly = r->ly };
}

/* Once the response is known: a 201 means COMMIT went through. */
static void after_commit(void *arg)
{
    tail_batch *st = arg;
    if (vial_resp_status(st->req) != 201)
        return;
    vial_metric_add(vial_app_of(st->req), st->req, logs_settings.ingested, NULL, (double)st->n);
    if (st->publish)
        logs_publish(st->req, st->n, st->first, stored_fields, st);
}

int post_logs(vial_req *req)
{
    if (logs_guarded(req, true))
        return 0;
    ingest in = { .req = req, .jr = vial_jr_body(req) };
    if (!in.jr)
        return vial_abort(req, 503, "out of memory");
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
        json_decref(in.p.fields);
        if (rc == VIAL_ENOMEM)
            return vial_abort(req, 503, "out of memory");
        if (rc)
            return vial_abort(req, 400, vial_jr_error(in.jr));
        return vial_abort(req, 400, "the body must be a log object or an array of log objects");
    }
    problems p = in.p;
    if (p.count || p.oom) {
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
    /* The kept text has stopped moving: point the rows at it. */
    for (size_t i = 0; in.extras && i < in.n; i++)
        if (in.rows[i].extra.n)
            in.rows[i].extra.p = in.extras + in.rows[i].xoff;
    return store(req, in.rows, in.n);
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
    for (size_t i = 0; i < n && rc == 0; i++) {
        row *r = &rows[i];
        vial_val ex = r->extra.p ? (vial_val){ .type = VIAL_T_JSON, .u.s = { r->extra.p, r->extra.n } }
                                 : VIAL_NULL;
        vial_val v[11] = { VIAL_TEXTN(r->user.p, r->user.n), VIAL_TEXTN(r->session.p, r->session.n),
                           VIAL_INT(r->t.us), VIAL_INT(r->t.offset_s), VIAL_TEXTN(r->type.p, r->type.n),
                           r->has_lx ? VIAL_INT(r->lx) : VIAL_NULL, r->has_ly ? VIAL_INT(r->ly) : VIAL_NULL,
                           opt_text(r->viewed), opt_text(r->from), opt_text(r->to), ex };
        rc = vial_batch_add(b, v);
    }
    int64_t first = 0, last = 0;
    int64_t stored = b ? vial_batch_finish(b, &first, &last) : rc;
    if (rc < 0 || stored < 0)
        return vial_db_abort(req, db);
    /* Counted, and sent to the live tail — only when someone anywhere may
     * listen, so an ingest nobody watches formats nothing more. */
    if (stored > 0) {
        tail_batch *st = vial_alloc(req, sizeof *st);
        if (st) {
            *st = (tail_batch){ req, rows, n, first, vial_publish_wanted(vial_app_of(req), LOGS_TOPIC) };
            if (vial_defer(req, after_commit, st))
                st = NULL;
        }
        if (!st)
            vial_req_log(req, VIAL_LOG_WARN, "out of memory: logs %" PRId64 "..%" PRId64
                         " are neither counted nor sent to live tails", first, last);
    }
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

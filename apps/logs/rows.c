/*
 * rows.c — a stored log as the API shows it: the one writer of a log, used
 * by the lists, GET /logs/<id>, the dashboard's page (which reads the same
 * JSON back as its template context) and the live tail (GET /logs/stream,
 * which writes the rows an ingest has just stored, from the ingest's own
 * fields rather than from a query), so a field cannot be spelled or typed
 * differently in two places.
 *
 * The row is flat, every field present (null where blank); the instant and
 * the offset it was sent with are stored apart and become one RFC 3339
 * string again here.  "extra" (unknown properties, keep mode) is stored as
 * JSON text and written as it is.
 */
#include "logs_impl.h"

static void text_or_null(vial_jw *w, const char *key, logs_span v)
{
    vial_jw_key(w, key);
    if (v.p)
        vial_jw_strn(w, v.p, v.n);
    else
        vial_jw_null(w);
}

void logs_write_fields(vial_jw *w, const logs_fields *f, bool extra)
{
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, f->id);
    text_or_null(w, "userId", f->user);
    text_or_null(w, "sessionId", f->session);
    vial_jw_key(w, "time");
    if (f->has_time) {
        char buf[40];
        vial_jw_strn(w, buf, vial_time_format(f->t, buf));
    } else {
        vial_jw_null(w);
    }
    text_or_null(w, "log_type", f->type);
    vial_jw_key(w, "locationX");
    if (f->has_lx)
        vial_jw_int(w, f->lx);
    else
        vial_jw_null(w);
    vial_jw_key(w, "locationY");
    if (f->has_ly)
        vial_jw_int(w, f->ly);
    else
        vial_jw_null(w);
    text_or_null(w, "viewedId", f->viewed);
    text_or_null(w, "pageFrom", f->from);
    text_or_null(w, "pageTo", f->to);
    if (extra) {
        vial_jw_key(w, "extra");
        if (f->extra.p)
            vial_jw_raw(w, f->extra.p, f->extra.n);
        else
            vial_jw_null(w);
    }
    vial_jw_end(w);
}

static logs_span col_text(vial_rows *r, size_t c)
{
    if (vial_rows_isnull(r, c))
        return (logs_span){ NULL, 0 };
    return (logs_span){ vial_rows_text(r, c), vial_rows_len(r, c) };
}

void logs_write_row(vial_jw *w, vial_rows *r, bool extra)
{
    logs_fields f = {
        .id = vial_rows_int(r, 0),
        .user = col_text(r, 1),
        .session = col_text(r, 2),
        .has_time = !vial_rows_isnull(r, 3),
        .type = col_text(r, 5),
        .has_lx = !vial_rows_isnull(r, 6),
        .has_ly = !vial_rows_isnull(r, 7),
        .viewed = col_text(r, 8),
        .from = col_text(r, 9),
        .to = col_text(r, 10),
    };
    if (f.has_time)
        f.t = (vial_time){ vial_rows_int(r, 3), (int32_t)vial_rows_int(r, 4) };
    if (f.has_lx)
        f.lx = vial_rows_int(r, 6);
    if (f.has_ly)
        f.ly = vial_rows_int(r, 7);
    if (extra)
        f.extra = col_text(r, 11);
    logs_write_fields(w, &f, extra);
}

/*
 * rows.c — a stored log as the API shows it: the one writer of a row, used
 * by the lists, GET /logs/<id> and the dashboard's page (which reads the
 * same JSON back as its template context), so a field cannot be spelled or
 * typed differently in two places.
 *
 * The row is flat, every field present (null where blank); the instant and
 * the offset it was sent with are stored apart and become one RFC 3339
 * string again here.  "extra" (unknown properties, keep mode) is stored as
 * JSON text and written as it is.
 */
#include "logs_impl.h"

void logs_write_row(vial_jw *w, vial_rows *r, bool extra)
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
    if (extra) {
        vial_jw_key(w, "extra");
        if (vial_rows_isnull(r, 11))
            vial_jw_null(w);
        else
            vial_jw_raw(w, vial_rows_text(r, 11), vial_rows_len(r, 11));
    }
    vial_jw_end(w);
}

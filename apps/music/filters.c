/*
 * filters.c — the one grammar of the catalogue's query parameters: q,
 * artist_id, album_id, year_min, year_max, explicit and <feature>_min /
 * <feature>_max, as /api/songs, /api/songs/random and the histogram take
 * them; and the SQL that selects the matching songs.
 *
 * Parameters are checked strictly (an unknown name, a bad number or a
 * minimum above its maximum is a 400 naming the parameter), so a typo is
 * an error rather than a silently unfiltered list.  SQL is assembled from
 * fixed fragments and column names from the feature table only; every
 * value is a bound parameter.  A search is FTS5 syntax made by search.c
 * from the query's search words (vial_fold_words), each quoted, the last
 * also a prefix: the same words SQLite and PostgreSQL indexed.
 */
#include "music_impl.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_Q 500    /* bytes of a search */

void music_sql_reset(music_sql *q)
{
    q->n = q->nargs = 0;
    q->overflow = false;
    q->text[0] = '\0';
}

void music_sql_add(music_sql *q, const char *fmt, ...)
{
    if (q->overflow)
        return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(q->text + q->n, sizeof q->text - q->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof q->text - q->n)
        q->overflow = true;
    else
        q->n += (size_t)k;
}

void music_sql_arg(music_sql *q, vial_val v)
{
    if (q->nargs == MUSIC_ARGS_MAX) {
        q->overflow = true;
        return;
    }
    q->args[q->nargs++] = v;
    music_sql_add(q, "$%zu", q->nargs);
}

bool music_decimal(const char *s, double *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    size_t digits = strspn(p, "0123456789");
    p += digits;
    if (*p == '.') {
        size_t frac = strspn(p + 1, "0123456789");
        digits += frac;
        p += 1 + frac;
    }
    if (!digits)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        size_t e = strspn(p, "0123456789");
        if (!e)
            return false;
        p += e;
    }
    if (*p)
        return false;
    errno = 0;
    *out = strtod(s, NULL);
    return isfinite(*out);
}

static bool integer(const char *s, int64_t *out)
{
    const char *p = s + (*s == '-' || *s == '+');
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 15)
        return false;
    *out = strtoll(s, NULL, 10);
    return true;
}

/* A Spotify id as the file has them: letters and digits. */
static bool spotify_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
            return false;
    }
    return true;
}

/* The search `q` into f: its words, and the query of every match. */
static void search_args(vial_req *req, music_filter *f, const char *q)
{
    size_t n = strlen(q);
    char *words = vial_alloc(req, n + 1);
    size_t cap = MUSIC_SEARCH_CAP(n);
    char *any = vial_alloc(req, cap);
    if (!words || !any) {
        f->nothing = true;
        return;
    }
    music_search_words(q, n, words, &f->nwords);
    f->words = words;
    f->fts = music_search_query(any, cap, words, f->nwords, MUSIC_TIER_ANY) ? any : NULL;
    f->nothing |= !f->fts;
}

static int bad(vial_req *req, const char *fmt, const char *name, const char *value)
{
    vial_abortf(req, 400, fmt, name, value);
    return 1;
}

int music_filter_args(vial_req *req, music_filter *f, const char *const *also)
{
    memset(f, 0, sizeof *f);
    f->explicit_ = -1;
    const char *name, *value;
    for (size_t i = 0; vial_arg_at(req, i, &name, &value); i++) {
        bool known = false;
        for (const char *const *a = also; a && *a; a++)
            known |= !strcmp(name, *a);
        if (known)
            continue;
        size_t nl = strlen(name);
        if (!strcmp(name, "q")) {
            if (strlen(value) > MAX_Q)
                return bad(req, "%s: a search is at most 500 bytes%s", name, "");
            search_args(req, f, value);
        } else if (!strcmp(name, "artist_id") || !strcmp(name, "album_id")) {
            if (!spotify_id(value))
                return bad(req, "%s: '%s' is not an id (letters and digits)", name, value);
            *(name[1] == 'r' ? &f->artist : &f->album) = value;
        } else if (!strcmp(name, "year_min") || !strcmp(name, "year_max")) {
            int64_t y;
            if (!integer(value, &y) || y < 0 || y > 9999)
                return bad(req, "%s: '%s' is not a year (an integer from 0 to 9999)", name, value);
            if (name[6] == 'i') { /* year_min */
                f->has_year_min = true;
                f->year_min = y;
            } else {
                f->has_year_max = true;
                f->year_max = y;
            }
        } else if (!strcmp(name, "explicit")) {
            if (strcmp(value, "true") && strcmp(value, "false"))
                return bad(req, "%s: '%s' is not true or false", name, value);
            f->explicit_ = value[0] == 't';
        } else if (nl > 4 && (!strcmp(name + nl - 4, "_min") || !strcmp(name + nl - 4, "_max"))) {
            int k = music_feature_find(name, nl - 4);
            if (k < 0)
                return bad(req, "unknown parameter '%s'%s", name, "");
            double v;
            if (!music_decimal(value, &v))
                return bad(req, "%s: '%s' is not a number", name, value);
            if (name[nl - 2] == 'i') {
                f->has_min[k] = true;
                f->min[k] = v;
            } else {
                f->has_max[k] = true;
                f->max[k] = v;
            }
        } else {
            return bad(req, "unknown parameter '%s'%s", name, "");
        }
    }
    if (f->has_year_min && f->has_year_max && f->year_min > f->year_max)
        return bad(req, "year_min: %s is above year_max %s", vial_arg(req, "year_min"), vial_arg(req, "year_max"));
    for (int k = 0; k < MUSIC_NFEATURES; k++) {
        if (f->has_min[k] && f->has_max[k] && f->min[k] > f->max[k]) {
            const char *n = music_features[k].name;
            vial_abortf(req, 400, "%s_min: %s is above %s_max %s", n,
                        vial_arg(req, vial_sprintf(req, "%s_min", n)), n,
                        vial_arg(req, vial_sprintf(req, "%s_max", n)));
            return 1;
        }
    }
    return 0;
}

bool music_filter_years_only(const music_filter *f)
{
    if (f->fts || f->artist || f->album || f->explicit_ >= 0)
        return false;
    for (int k = 0; k < MUSIC_NFEATURES; k++)
        if (f->has_min[k] || f->has_max[k])
            return false;
    return true;
}

bool music_sql_years(music_sql *q, const music_filter *f, const char *and, const char *col)
{
    if (!f->has_year_min && !f->has_year_max)
        return false;
    /* unknown years (0) are outside every year range */
    music_sql_add(q, "%s%s > 0", and, col);
    if (f->has_year_min) {
        music_sql_add(q, " AND %s >= ", col);
        music_sql_arg(q, VIAL_INT(f->year_min));
    }
    if (f->has_year_max) {
        music_sql_add(q, " AND %s <= ", col);
        music_sql_arg(q, VIAL_INT(f->year_max));
    }
    return true;
}

void music_sql_from_where(music_sql *q, const music_filter *f, const char *where)
{
    if (f->fts) {
        music_sql_add(q, " FROM music_fts(");
        music_sql_arg(q, VIAL_TEXT(f->fts));
        music_sql_add(q, ") f JOIN songs s ON s.id = (f.rowid & 4294967295) JOIN albums al ON al.id = s.album_id");
    } else {
        music_sql_add(q, " FROM songs s JOIN albums al ON al.id = s.album_id");
    }
    const char *and = " WHERE ";
    if (where && *where) {
        music_sql_add(q, "%s%s", and, where);
        and = " AND ";
    }
    if (f->artist) {
        music_sql_add(q, "%ss.id IN (SELECT sa.song_id FROM song_artists sa JOIN artists ar ON ar.id = "
                         "sa.artist_id WHERE ar.spotify_id = ", and);
        music_sql_arg(q, VIAL_TEXT(f->artist));
        music_sql_add(q, ")");
        and = " AND ";
    }
    if (f->album) {
        music_sql_add(q, "%sal.spotify_id = ", and);
        music_sql_arg(q, VIAL_TEXT(f->album));
        and = " AND ";
    }
    if (music_sql_years(q, f, and, "s.year"))
        and = " AND ";
    if (f->explicit_ >= 0) {
        music_sql_add(q, "%ss.explicit = ", and);
        music_sql_arg(q, VIAL_BOOL(f->explicit_));
        and = " AND ";
    }
    /* PostgreSQL types a placeholder by its column: a bound 1.5 against the
     * integer duration_ms would be refused, so bounds are doubles in SQL. */
    for (int k = 0; k < MUSIC_NFEATURES; k++) {
        for (int side = 0; side < 2; side++) {
            if (!(side ? f->has_max[k] : f->has_min[k]))
                continue;
            music_sql_add(q, "%ss.%s %s CAST(", and, music_features[k].name, side ? "<=" : ">=");
            music_sql_arg(q, VIAL_DOUBLE(side ? f->max[k] : f->min[k]));
            music_sql_add(q, " AS DOUBLE PRECISION)");
            and = " AND ";
        }
    }
}

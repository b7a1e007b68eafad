/*
 * stats.c — the catalogue in numbers: per year, the number of songs and
 * the mean of each feature; one feature's histogram over the songs a
 * filter matches.
 *
 * Neither scans songs when it need not.  The importer keeps, per year, the
 * count and the sum of each feature (music_years), so the year statistics
 * are a hundred-row read whatever the catalogue's size.  It also keeps, per
 * feature and year, how many songs fall in each cell of the feature's grid
 * (music_cells): a histogram over a range of years is a sum of those rows.
 * Bins are made of whole cells — the same bins either way, so the answer
 * does not depend on the path taken — and their edges are the grid's, so
 * every count is exact: a song is in the bin whose [lo, hi) holds its
 * value, as the reported numbers say (the last bin's hi is exclusive too:
 * it is the end of the last cell).  Other filters (features, explicit,
 * artists, albums, a search) read the matching songs' values and put them
 * in cells here.  A range narrower than the bins asked for gets one bin
 * per cell, so fewer bins.
 */
#include "music_impl.h"

#include <stdlib.h>
#include <string.h>

#define MAX_BINS 100

int year_stats(vial_req *req)
{
    const char *name, *value;
    if (vial_arg_at(req, 0, &name, &value))
        return vial_abortf(req, 400, "unknown parameter '%s'", name);
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    vial_rows *r = vial_db_query(db,
                                 "SELECT year, songs, danceability / songs, energy / songs, speechiness / songs, "
                                 "acousticness / songs, instrumentalness / songs, liveness / songs, valence / songs, "
                                 "tempo / songs, loudness / songs, duration_ms / songs FROM music_years "
                                 "WHERE year > 0 AND songs > 0 ORDER BY year",
                                 VIAL_NOARGS);
    if (!r)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        vial_jw_object(w);
        vial_jw_key(w, "year");
        vial_jw_int(w, vial_rows_int(r, 0));
        vial_jw_key(w, "songs");
        vial_jw_int(w, vial_rows_int(r, 1));
        for (int f = 0; f < MUSIC_NFEATURES; f++) {
            vial_jw_key(w, music_features[f].name);
            vial_jw_double(w, vial_rows_double(r, 2 + (size_t)f));
        }
        vial_jw_end(w);
    }
    vial_rows_close(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

typedef struct cell {
    int64_t k, songs;
} cell;

static int cmp_cell(const void *a, const void *b)
{
    int64_t x = ((const cell *)a)->k, y = ((const cell *)b)->k;
    return (x > y) - (x < y);
}

/* Cells with their counts, in cell order, from the aggregates. */
static int64_t cells_from_years(vial_req *req, vial_db *db, int feature, const music_filter *f, cell **out)
{
    music_sql *q = vial_alloc(req, sizeof *q);
    if (!q)
        return VIAL_ENOMEM;
    music_sql_reset(q);
    music_sql_add(q, "SELECT cell, sum(songs) FROM music_cells WHERE feature = ");
    music_sql_arg(q, VIAL_INT(feature));
    music_sql_years(q, f, " AND ", "year");
    music_sql_add(q, " GROUP BY cell HAVING sum(songs) > 0 ORDER BY cell");
    if (q->overflow)
        return VIAL_ENOMEM;
    vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
    if (!r)
        return vial_db_errcode(db);
    size_t cap = 256, n = 0;
    cell *c = vial_alloc(req, cap * sizeof *c);
    int rc = c ? 0 : VIAL_ENOMEM;
    while (!rc && (rc = vial_rows_next(r)) > 0) {
        rc = 0;
        if (!(c = music_grow(req, c, &cap, n, sizeof *c))) {
            rc = VIAL_ENOMEM;
            break;
        }
        c[n].k = vial_rows_int(r, 0);
        c[n].songs = vial_rows_int(r, 1);
        n++;
    }
    vial_rows_close(r);
    *out = c;
    return rc < 0 ? rc : (int64_t)n;
}

/* The same from the matching songs' values. */
static int64_t cells_from_songs(vial_req *req, vial_db *db, int feature, const music_filter *f, cell **out)
{
    music_sql *q = vial_alloc(req, sizeof *q);
    if (!q)
        return VIAL_ENOMEM;
    music_sql_reset(q);
    music_sql_add(q, "SELECT s.%s", music_features[feature].name);
    music_sql_from_where(q, f, "");
    if (q->overflow)
        return VIAL_ENOMEM;
    vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
    if (!r)
        return vial_db_errcode(db);
    size_t cap = 1024, n = 0;
    cell *c = malloc(cap * sizeof *c); /* the whole catalogue may match: not the arena */
    int rc = c ? 0 : VIAL_ENOMEM;
    while (!rc && (rc = vial_rows_next(r)) > 0) {
        rc = 0;
        if (n == cap) {
            cell *c2 = realloc(c, 2 * cap * sizeof *c);
            if (!c2) {
                rc = VIAL_ENOMEM;
                break;
            }
            c = c2, cap *= 2;
        }
        c[n].k = music_cell(feature, vial_rows_double(r, 0));
        c[n].songs = 1;
        n++;
    }
    vial_rows_close(r);
    if (rc < 0) {
        free(c);
        return rc;
    }
    qsort(c, n, sizeof *c, cmp_cell);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m && c[m - 1].k == c[i].k)
            c[m - 1].songs++;
        else
            c[m++] = c[i];
    }
    cell *copy = vial_alloc(req, (m ? m : 1) * sizeof *copy);
    if (copy)
        memcpy(copy, c, m * sizeof *c);
    free(c);
    *out = copy;
    return copy ? (int64_t)m : VIAL_ENOMEM;
}

static void write_edge(vial_jw *w, int feature, int64_t k)
{
    if (music_features[feature].integer)
        vial_jw_int(w, (int64_t)music_edge(feature, k));
    else
        vial_jw_double(w, music_edge(feature, k));
}

int histogram(vial_req *req)
{
    static const char *const also[] = { "feature", "bins", NULL };
    music_filter f;
    if (music_filter_args(req, &f, also))
        return 0;
    const char *fv = vial_arg(req, "feature");
    if (!fv)
        return vial_abort(req, 400, "feature: required (danceability, energy, ... or duration_ms)");
    int feature = music_feature_find(fv, strlen(fv));
    if (feature < 0)
        return vial_abortf(req, 400, "feature: '%s' is not one of danceability, energy, speechiness, acousticness, "
                                     "instrumentalness, liveness, valence, tempo, loudness, duration_ms", fv);
    int64_t bins = 20;
    const char *bv = vial_arg(req, "bins");
    if (bv) {
        char *end;
        long long v = strtoll(bv, &end, 10);
        if (!*bv || *end || v < 1 || v > MAX_BINS)
            return vial_abortf(req, 400, "bins: '%s' is not an integer from 1 to %d", bv, MAX_BINS);
        bins = v;
    }
    cell *c = NULL;
    int64_t n = 0;
    vial_db *db = NULL;
    if (!f.nothing) {
        if (!(db = vial_db_get(req)))
            return 0;
        n = music_filter_years_only(&f) ? cells_from_years(req, db, feature, &f, &c)
                                        : cells_from_songs(req, db, feature, &f, &c);
        if (n == VIAL_ENOMEM)
            return vial_abort(req, 503, "out of memory");
        if (n < 0)
            return vial_db_abort(req, db);
    }
    int64_t total = 0;
    for (int64_t i = 0; i < n; i++)
        total += c[i].songs;
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "feature");
    vial_jw_str(w, music_features[feature].name);
    vial_jw_key(w, "songs");
    vial_jw_int(w, total);
    vial_jw_key(w, "bins");
    vial_jw_array(w);
    if (n > 0) {
        /* bin b holds cells [first + b * span / nb, first + (b + 1) * span / nb) */
        int64_t first = c[0].k, span = c[n - 1].k - first + 1;
        int64_t nb = bins < span ? bins : span;
        int64_t i = 0;
        for (int64_t b = 0; b < nb; b++) {
            int64_t lo = first + b * span / nb, hi = first + (b + 1) * span / nb, count = 0;
            for (; i < n && c[i].k < hi; i++)
                count += c[i].songs;
            vial_jw_object(w);
            vial_jw_key(w, "lo");
            write_edge(w, feature, lo);
            vial_jw_key(w, "hi");
            write_edge(w, feature, hi);
            vial_jw_key(w, "count");
            vial_jw_int(w, count);
            vial_jw_end(w);
        }
    }
    vial_jw_end(w);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/*
 * songs.c — reading the catalogue: the song list (filters, search, sorts,
 * keyset pages), one song, an album with its tracks, an artist with its
 * albums, and random samples.
 *
 * A song's artists come from a second query for the whole page (their ids
 * padded to a few list sizes, so a handful of statements serve every page)
 * rather than a join that would multiply rows and break LIMIT.
 *
 * Random samples never sort the table by random().  Every song has a place
 * (year, year_pos) and the positions of a year are dense (music_years.slots
 * says how many were handed out), so a uniform draw over those places is a
 * uniform draw over the songs: probe a random place, keep the song if it
 * exists and passes the other filters, never keep one twice.  That is one
 * indexed lookup per probe, for any number of songs.  When the filters
 * match too few songs for that to finish quickly, or name a search, an
 * artist or an album (small sets with their own index), the matching ids
 * are listed and drawn from instead: exact, and fewer when fewer match.
 */
#include "music_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIMIT 1000
#define MAX_N 1000
#define PROBE_BATCH 256 /* places per statement of a random sample */

/* ------------------------------------------------------------------ reading songs */

static const char *dup_text(vial_req *req, vial_rows *r, size_t col)
{
    const char *t = vial_rows_text(r, col);
    return t ? vial_strndup(req, t, vial_rows_len(r, col)) : NULL;
}

int music_song_read(vial_req *req, vial_rows *r, music_song *s)
{
    memset(s, 0, sizeof *s);
    s->id = vial_rows_int(r, 0);
    s->spotify_id = dup_text(req, r, 1);
    s->name = dup_text(req, r, 2);
    s->album_id = dup_text(req, r, 3);
    s->album_name = dup_text(req, r, 4);
    s->track = vial_rows_int(r, 5);
    s->disc = vial_rows_int(r, 6);
    s->explicit_ = vial_rows_bool(r, 7);
    s->danceability = vial_rows_double(r, 8);
    s->energy = vial_rows_double(r, 9);
    s->key = vial_rows_int(r, 10);
    s->loudness = vial_rows_double(r, 11);
    s->mode = vial_rows_int(r, 12);
    s->speechiness = vial_rows_double(r, 13);
    s->acousticness = vial_rows_double(r, 14);
    s->instrumentalness = vial_rows_double(r, 15);
    s->liveness = vial_rows_double(r, 16);
    s->valence = vial_rows_double(r, 17);
    s->tempo = vial_rows_double(r, 18);
    s->duration_ms = vial_rows_int(r, 19);
    s->time_signature = vial_rows_int(r, 20);
    s->year = vial_rows_int(r, 21);
    s->release_date = dup_text(req, r, 22);
    if (!s->spotify_id || !s->name || !s->album_id || !s->album_name)
        return VIAL_ENOMEM;
    return 0;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Appends "IN ($k, ...)" for `ids`, padded with the last id to 8, 64, 256
 * or 1024 entries: every list size shares one of four statements. */
static void in_ids(music_sql *q, const int64_t *ids, size_t n)
{
    size_t pad = n <= 8 ? 8 : n <= 64 ? 64 : n <= 256 ? 256 : 1024;
    music_sql_add(q, " IN (");
    for (size_t i = 0; i < pad; i++) {
        if (i)
            music_sql_add(q, ", ");
        music_sql_arg(q, VIAL_INT(ids[i < n ? i : n - 1]));
    }
    music_sql_add(q, ")");
}

int music_songs_artists(vial_req *req, vial_db *db, music_song *songs, size_t n)
{
    if (!n)
        return 0;
    /* the distinct ids, sorted: a playlist may hold a song twice */
    int64_t *ids = vial_alloc(req, n * sizeof *ids);
    if (!ids)
        return VIAL_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = songs[i].id;
    qsort(ids, n, sizeof *ids, cmp_i64);
    size_t nd = 0;
    for (size_t i = 0; i < n; i++)
        if (!nd || ids[nd - 1] != ids[i])
            ids[nd++] = ids[i];
    /* every credit of those songs, by song and position */
    size_t cap = nd * 2 + 8, na = 0;
    int64_t *owner = vial_alloc(req, cap * sizeof *owner);
    const char **aid = vial_alloc(req, cap * sizeof *aid), **aname = vial_alloc(req, cap * sizeof *aname);
    music_sql *q = vial_alloc(req, sizeof *q);
    if (!owner || !aid || !aname || !q)
        return VIAL_ENOMEM;
    for (size_t done = 0; done < nd; done += 1024) {
        size_t part = nd - done < 1024 ? nd - done : 1024;
        music_sql_reset(q);
        music_sql_add(q, "SELECT sa.song_id, ar.spotify_id, ar.name FROM song_artists sa JOIN artists ar ON "
                         "ar.id = sa.artist_id WHERE sa.song_id");
        in_ids(q, ids + done, part);
        music_sql_add(q, " ORDER BY sa.song_id, sa.position");
        if (q->overflow)
            return VIAL_ENOMEM;
        vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
        if (!r)
            return vial_db_errcode(db);
        int rc;
        while ((rc = vial_rows_next(r)) > 0) {
            if (na == cap) {
                int64_t *o2 = vial_realloc(req, owner, cap * sizeof *owner, 2 * cap * sizeof *owner);
                const char **a2 = o2 ? vial_realloc(req, aid, cap * sizeof *aid, 2 * cap * sizeof *aid) : NULL;
                const char **n2 = a2 ? vial_realloc(req, aname, cap * sizeof *aname, 2 * cap * sizeof *aname) : NULL;
                if (!n2) {
                    vial_rows_close(r);
                    return VIAL_ENOMEM;
                }
                owner = o2, aid = a2, aname = n2, cap *= 2;
            }
            owner[na] = vial_rows_int(r, 0);
            aid[na] = dup_text(req, r, 1);
            aname[na] = dup_text(req, r, 2);
            if (!aid[na] || !aname[na]) {
                vial_rows_close(r);
                return VIAL_ENOMEM;
            }
            na++;
        }
        vial_rows_close(r);
        if (rc < 0)
            return rc;
    }
    /* the batches come in id order, so `owner` is sorted: each song's
     * credits are the run of its id */
    for (size_t i = 0; i < n; i++) {
        size_t lo = 0, hi = na;
        while (lo < hi) {
            size_t mid = (lo + hi) / 2;
            if (owner[mid] < songs[i].id)
                lo = mid + 1;
            else
                hi = mid;
        }
        size_t end = lo;
        while (end < na && owner[end] == songs[i].id)
            end++;
        songs[i].nartists = end - lo;
        songs[i].artist_ids = aid + lo;
        songs[i].artist_names = aname + lo;
    }
    return 0;
}

void music_song_write(vial_jw *w, const music_song *s)
{
    vial_jw_object(w);
    if (s->position) {
        vial_jw_key(w, "position");
        vial_jw_int(w, s->position);
    }
    vial_jw_key(w, "id");
    vial_jw_str(w, s->spotify_id);
    vial_jw_key(w, "name");
    vial_jw_str(w, s->name);
    vial_jw_key(w, "album");
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_str(w, s->album_id);
    vial_jw_key(w, "name");
    vial_jw_str(w, s->album_name);
    vial_jw_end(w);
    vial_jw_key(w, "artists");
    vial_jw_array(w);
    for (size_t i = 0; i < s->nartists; i++) {
        vial_jw_object(w);
        vial_jw_key(w, "id");
        vial_jw_str(w, s->artist_ids[i]);
        vial_jw_key(w, "name");
        vial_jw_str(w, s->artist_names[i]);
        vial_jw_end(w);
    }
    vial_jw_end(w);
    vial_jw_key(w, "track_number");
    vial_jw_int(w, s->track);
    vial_jw_key(w, "disc_number");
    vial_jw_int(w, s->disc);
    vial_jw_key(w, "explicit");
    vial_jw_bool(w, s->explicit_);
    vial_jw_key(w, "danceability");
    vial_jw_double(w, s->danceability);
    vial_jw_key(w, "energy");
    vial_jw_double(w, s->energy);
    vial_jw_key(w, "key");
    vial_jw_int(w, s->key);
    vial_jw_key(w, "loudness");
    vial_jw_double(w, s->loudness);
    vial_jw_key(w, "mode");
    vial_jw_int(w, s->mode);
    vial_jw_key(w, "speechiness");
    vial_jw_double(w, s->speechiness);
    vial_jw_key(w, "acousticness");
    vial_jw_double(w, s->acousticness);
    vial_jw_key(w, "instrumentalness");
    vial_jw_double(w, s->instrumentalness);
    vial_jw_key(w, "liveness");
    vial_jw_double(w, s->liveness);
    vial_jw_key(w, "valence");
    vial_jw_double(w, s->valence);
    vial_jw_key(w, "tempo");
    vial_jw_double(w, s->tempo);
    vial_jw_key(w, "duration_ms");
    vial_jw_int(w, s->duration_ms);
    vial_jw_key(w, "time_signature");
    vial_jw_int(w, s->time_signature);
    vial_jw_key(w, "year");
    if (s->year > 0)
        vial_jw_int(w, s->year);
    else
        vial_jw_null(w); /* the file's 0: unknown */
    vial_jw_key(w, "release_date");
    vial_jw_str(w, s->release_date);
    vial_jw_end(w);
}

int64_t music_songs_query(vial_req *req, vial_db *db, const char *sql, const vial_val *args, size_t nargs,
                          size_t max, music_song **out)
{
    *out = NULL;
    vial_rows *r = vial_db_query_dynamic(db, sql, args, nargs);
    if (!r)
        return vial_db_errcode(db);
    size_t cap = 16, n = 0;
    music_song *songs = vial_alloc(req, cap * sizeof *songs);
    int rc = songs ? 0 : VIAL_ENOMEM;
    while (!rc && n < max && (rc = vial_rows_next(r)) > 0) {
        if (!(songs = music_grow(req, songs, &cap, n, sizeof *songs))) {
            rc = VIAL_ENOMEM;
            break;
        }
        rc = music_song_read(req, r, &songs[n++]);
    }
    vial_rows_close(r);
    if (rc < 0)
        return rc;
    if ((rc = music_songs_artists(req, db, songs, n)))
        return rc;
    *out = songs;
    return (int64_t)n;
}

/* Answers for a failed read: the database's error, or 503 out of memory. */
static int failed(vial_req *req, vial_db *db, int64_t rc)
{
    if (rc == VIAL_ENOMEM)
        return vial_abort(req, 503, "out of memory");
    return vial_db_abort(req, db);
}

static int write_songs(vial_req *req, const music_song *songs, size_t n)
{
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    for (size_t i = 0; i < n; i++)
        music_song_write(w, &songs[i]);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ the list */

/* Keyset specs by the sort's key types: (key, tie-breaker). */
static const vial_page_spec by_text = {
    .keys = { VIAL_T_TEXT, VIAL_T_INT }, .nkeys = 2, .default_limit = 50, .max_limit = MAX_LIMIT };
static const vial_page_spec by_int = {
    .keys = { VIAL_T_INT, VIAL_T_INT }, .nkeys = 2, .default_limit = 50, .max_limit = MAX_LIMIT };
static const vial_page_spec by_double = {
    .keys = { VIAL_T_DOUBLE, VIAL_T_INT }, .nkeys = 2, .default_limit = 50, .max_limit = MAX_LIMIT };

typedef struct sort {
    const char *key, *tie;     /* SQL of the two keys */
    const vial_page_spec *spec;
    bool desc;
    bool ranked;               /* by rank: tier by tier (list_ranked), key and tie unused */
} sort;

/* ?sort: name, year, a feature, or rank (with q); '-' for descending. */
static int parse_sort(vial_req *req, const music_filter *f, sort *out)
{
    const char *v = vial_arg(req, "sort");
    const char *name = v ? v : f->fts ? "rank" : "name";
    *out = (sort){ .desc = name[0] == '-' };
    if (out->desc)
        name++;
    out->tie = "s.id";
    if (!strcmp(name, "name")) {
        out->key = "s.name", out->spec = &by_text;
    } else if (!strcmp(name, "year")) {
        /* (year, year_pos) is unique: the same index that samples */
        out->key = "s.year", out->tie = "s.year_pos", out->spec = &by_int;
    } else if (!strcmp(name, "rank") && f->fts && !out->desc) {
        /* (rank, song id): the rank alone is unique, the id keeps the
         * cursor's shape that of the other sorts */
        out->key = "", out->spec = &by_int, out->ranked = true;
    } else {
        int k = music_feature_find(name, strlen(name));
        if (k < 0) {
            vial_abortf(req, 400, "sort: '%s' is not name, year, %sor a feature (%s, ...), with - for descending",
                        v, f->fts ? "rank " : "", music_features[0].name);
            return 1;
        }
        out->key = vial_sprintf(req, "s.%s", music_features[k].name);
        out->spec = music_features[k].integer ? &by_int : &by_double;
    }
    return out->key ? 0 : (vial_abort(req, 503, "out of memory"), 1);
}

/* The end of a page of songs: their artists, the next page's Link, the JSON. */
static int page_out(vial_req *req, vial_db *db, vial_page *pg, music_song *songs, size_t n, bool more,
                    const char *next)
{
    int rc;
    if ((rc = music_songs_artists(req, db, songs, n)))
        return failed(req, db, rc);
    if (more && (!next || vial_page_link(req, pg, next)))
        return vial_abort(req, 503, "out of memory");
    return write_songs(req, songs, n);
}

/* A page of a ranked search (search.c): tier after tier, each tier's
 * matches in index order from where the cursor left off, until the page
 * is full and one more song shows that another page follows.  The common
 * words' first page is then a read of the first index entries, not a
 * score for each of their 100,000 matches. */
static int list_ranked(vial_req *req, vial_db *db, const music_filter *f, vial_page *pg)
{
    int tier = 0;
    int64_t from = -1; /* rowid > from */
    if (pg->has_after) {
        int64_t rank = pg->after[0].u.i;
        tier = (int)(rank >> MUSIC_TIER_SHIFT);
        from = rank & ((INT64_C(1) << MUSIC_TIER_SHIFT) - 1);
        if (rank < 0 || tier >= MUSIC_TIERS)
            return vial_abort(req, 400, "after: not a cursor of this search");
    }
    size_t wlen = 0;
    for (size_t i = 0; i < f->nwords; i++)
        wlen += strlen(f->words + wlen) + 1;
    size_t cap = MUSIC_SEARCH_CAP(wlen);
    char *fts = vial_alloc(req, cap);
    music_sql *q = vial_alloc(req, sizeof *q);
    music_song *songs = vial_alloc(req, (size_t)pg->limit * sizeof *songs);
    if (!fts || !q || !songs)
        return vial_abort(req, 503, "out of memory");
    music_filter tf = *f;
    tf.fts = fts;
    size_t n = 0;
    bool more = false;
    const char *next = NULL;
    for (; tier < MUSIC_TIERS && !more; tier++, from = -1) {
        if (!music_search_query(fts, cap, f->words, f->nwords, tier))
            return vial_abort(req, 503, "out of memory");
        music_sql_reset(q);
        music_sql_add(q, "SELECT " MUSIC_SONG_COLS ", f.rowid");
        q->args[0] = VIAL_INT(from);
        q->nargs = 1;
        music_sql_from_where(q, &tf, "f.rowid > $1");
        music_sql_add(q, " ORDER BY f.rowid LIMIT ");
        music_sql_arg(q, VIAL_INT(pg->limit - (int64_t)n + 1));
        if (q->overflow)
            return vial_abort(req, 503, "out of memory");
        vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
        if (!r)
            return vial_db_abort(req, db);
        int rc;
        while ((rc = vial_rows_next(r)) > 0) {
            if ((int64_t)n == pg->limit) {
                more = true;
                break;
            }
            if ((rc = music_song_read(req, r, &songs[n])) < 0)
                break;
            n++;
            if ((int64_t)n == pg->limit) {
                int64_t rank = (int64_t)tier << MUSIC_TIER_SHIFT | vial_rows_int(r, MUSIC_SONG_NCOLS);
                vial_val keys[2] = { VIAL_INT(rank), VIAL_INT(songs[n - 1].id) };
                next = vial_page_cursor(req, pg, keys);
            }
        }
        vial_rows_close(r);
        if (rc < 0)
            return failed(req, db, rc);
    }
    return page_out(req, db, pg, songs, n, more, next);
}

int list_songs(vial_req *req)
{
    static const char *const also[] = { "sort", "limit", "after", NULL };
    music_filter f;
    if (music_filter_args(req, &f, also))
        return 0;
    sort so;
    if (parse_sort(req, &f, &so))
        return 0;
    vial_page pg;
    if (vial_page_args(req, so.spec, &pg))
        return 0;
    if (f.nothing)
        return write_songs(req, NULL, 0);
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    if (so.ranked)
        return list_ranked(req, db, &f, &pg);
    music_sql *q = vial_alloc(req, sizeof *q);
    if (!q)
        return vial_abort(req, 503, "out of memory");
    music_sql_reset(q);
    music_sql_add(q, "SELECT " MUSIC_SONG_COLS ", %s, %s", so.key, so.tie);
    const char *keyset = "";
    if (pg.has_after) {
        /* the placeholders of the keyset come first: from_where numbers on */
        keyset = vial_sprintf(req, "(%s, %s) %s ($1, $2)", so.key, so.tie, so.desc ? "<" : ">");
        q->args[0] = pg.after[0];
        q->args[1] = pg.after[1];
        q->nargs = 2;
    }
    music_sql_from_where(q, &f, keyset);
    const char *dir = so.desc ? " DESC" : "";
    music_sql_add(q, " ORDER BY %s%s, %s%s LIMIT ", so.key, dir, so.tie, dir);
    music_sql_arg(q, VIAL_INT(pg.limit + 1));
    if (q->overflow || !keyset)
        return vial_abort(req, 503, "out of memory");

    vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
    if (!r)
        return vial_db_abort(req, db);
    music_song *songs = vial_alloc(req, (size_t)pg.limit * sizeof *songs);
    if (!songs)
        return vial_abort(req, 503, "out of memory");
    size_t n = 0;
    const char *next = NULL;
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        if ((int64_t)n == pg.limit) {
            /* a row past the page: there is a next one, after the last row shown */
            break;
        }
        if ((rc = music_song_read(req, r, &songs[n])) < 0)
            break;
        n++;
        if ((int64_t)n == pg.limit) {
            vial_val keys[2];
            const int kc = MUSIC_SONG_NCOLS;
            keys[0] = so.spec == &by_text     ? VIAL_TEXT(vial_rows_text(r, kc))
                      : so.spec == &by_double ? VIAL_DOUBLE(vial_rows_double(r, kc))
                                              : VIAL_INT(vial_rows_int(r, kc));
            keys[1] = VIAL_INT(vial_rows_int(r, kc + 1));
            next = vial_page_cursor(req, &pg, keys);
        }
    }
    bool more = rc > 0;
    vial_rows_close(r);
    if (rc < 0)
        return failed(req, db, rc);
    return page_out(req, db, &pg, songs, n, more, next);
}

/* ------------------------------------------------------------------ one song, album, artist */

int get_song(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    const char *id = vial_param(req, "id");
    music_song *s;
    int64_t n = music_songs_query(req, db,
                                  "SELECT " MUSIC_SONG_COLS " FROM songs s JOIN albums al ON al.id = s.album_id "
                                  "WHERE s.spotify_id = $1",
                                  VIAL_ARGS(VIAL_TEXT(id)), 1, &s);
    if (n < 0)
        return failed(req, db, n);
    if (n == 0)
        return vial_abortf(req, 404, "no song with id '%s'", id);
    vial_jw *w = vial_jw_begin(req, 200);
    music_song_write(w, s);
    return vial_jw_finish(w);
}

/* The album or artist of the path's Spotify id by `sql` (its id and name),
 * or false once the request was answered (404 naming it, or the error). */
static bool find_named(vial_req *req, vial_db *db, const char *sql, const char *what, int64_t *row_id,
                       const char **name)
{
    const char *id = vial_param(req, "id");
    vial_rows *r = vial_db_one_dynamic(req, db, sql, VIAL_ARGS(VIAL_TEXT(id)),
                                       vial_sprintf(req, "no %s with id '%s'", what, id));
    if (!r)
        return false;
    *row_id = vial_rows_int(r, 0);
    *name = dup_text(req, r, 1);
    vial_rows_close(r);
    return true;
}

int get_album(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    const char *id = vial_param(req, "id"), *name;
    int64_t album;
    if (!find_named(req, db, "SELECT id, name FROM albums WHERE spotify_id = $1", "album", &album, &name))
        return 0;
    music_song *t;
    int64_t n = music_songs_query(req, db,
                                  "SELECT " MUSIC_SONG_COLS " FROM songs s JOIN albums al ON al.id = s.album_id "
                                  "WHERE s.album_id = $1 ORDER BY s.disc_number, s.track_number, s.id",
                                  VIAL_ARGS(VIAL_INT(album)), SIZE_MAX, &t);
    if (n < 0 || !name)
        return failed(req, db, n < 0 ? n : VIAL_ENOMEM);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_str(w, id);
    vial_jw_key(w, "name");
    vial_jw_str(w, name);
    /* the album's artists: everyone credited on it, in order of first credit */
    vial_jw_key(w, "artists");
    vial_jw_array(w);
    for (int64_t i = 0; i < n; i++) {
        for (size_t a = 0; a < t[i].nartists; a++) {
            bool seen = false;
            for (int64_t j = 0; j <= i && !seen; j++)
                for (size_t b = 0; b < (j < i ? t[j].nartists : a) && !seen; b++)
                    seen = !strcmp(t[j].artist_ids[b], t[i].artist_ids[a]);
            if (seen)
                continue;
            vial_jw_object(w);
            vial_jw_key(w, "id");
            vial_jw_str(w, t[i].artist_ids[a]);
            vial_jw_key(w, "name");
            vial_jw_str(w, t[i].artist_names[a]);
            vial_jw_end(w);
        }
    }
    vial_jw_end(w);
    vial_jw_key(w, "year");
    if (n && t[0].year > 0)
        vial_jw_int(w, t[0].year);
    else
        vial_jw_null(w);
    vial_jw_key(w, "release_date");
    vial_jw_str(w, n ? t[0].release_date : NULL);
    vial_jw_key(w, "tracks");
    vial_jw_array(w);
    for (int64_t i = 0; i < n; i++)
        music_song_write(w, &t[i]);
    vial_jw_end(w);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

int get_artist(vial_req *req)
{
    vial_db *db = vial_db_get(req);
    const char *id = vial_param(req, "id"), *name;
    int64_t artist;
    if (!find_named(req, db, "SELECT id, name FROM artists WHERE spotify_id = $1", "artist", &artist, &name))
        return 0;
    vial_rows *r = vial_db_query(db,
                      "SELECT al.spotify_id, al.name, max(s.year), count(*) FROM song_artists sa "
                      "JOIN songs s ON s.id = sa.song_id JOIN albums al ON al.id = s.album_id "
                      "WHERE sa.artist_id = $1 GROUP BY al.id, al.spotify_id, al.name "
                      "ORDER BY max(s.year), al.name, al.id",
                      VIAL_ARGS(VIAL_INT(artist)));
    if (!r || !name)
        return r ? vial_abort(req, 503, "out of memory") : vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_str(w, id);
    vial_jw_key(w, "name");
    vial_jw_str(w, name);
    vial_jw_key(w, "albums");
    vial_jw_array(w);
    int64_t songs = 0;
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        vial_jw_object(w);
        vial_jw_key(w, "id");
        vial_jw_str(w, vial_rows_text(r, 0));
        vial_jw_key(w, "name");
        vial_jw_str(w, vial_rows_text(r, 1));
        vial_jw_key(w, "year");
        if (vial_rows_int(r, 2) > 0)
            vial_jw_int(w, vial_rows_int(r, 2));
        else
            vial_jw_null(w);
        vial_jw_key(w, "song_count");
        vial_jw_int(w, vial_rows_int(r, 3));
        vial_jw_end(w);
        songs += vial_rows_int(r, 3);
    }
    vial_rows_close(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    vial_jw_end(w);
    vial_jw_key(w, "song_count");
    vial_jw_int(w, songs);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* ------------------------------------------------------------------ random samples */

/* splitmix64, seeded from the operating system per request: fast draws
 * that no client can predict from earlier samples. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [0, bound), bound > 0: the top of the range that would make
 * some values likelier is redrawn. */
static uint64_t below(uint64_t *s, uint64_t bound)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t v;
    do
        v = next_rand(s);
    while (v >= limit);
    return v % bound;
}

/* Exact: every matching id, then a partial Fisher-Yates shuffle. */
static int64_t sample_listed(vial_req *req, vial_db *db, const music_filter *f, uint64_t *rs, size_t want,
                             music_song **out)
{
    music_sql *q = vial_alloc(req, sizeof *q);
    if (!q)
        return VIAL_ENOMEM;
    music_sql_reset(q);
    music_sql_add(q, "SELECT s.id");
    music_sql_from_where(q, f, "");
    if (q->overflow)
        return VIAL_ENOMEM;
    vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
    if (!r)
        return vial_db_errcode(db);
    size_t cap = 1024, n = 0;
    int64_t *ids = malloc(cap * sizeof *ids); /* may be large: not the arena */
    int rc = ids ? 0 : VIAL_ENOMEM;
    while (!rc && (rc = vial_rows_next(r)) > 0) {
        if (n == cap) {
            int64_t *i2 = realloc(ids, 2 * cap * sizeof *ids);
            if (!i2) {
                rc = VIAL_ENOMEM;
                break;
            }
            ids = i2, cap *= 2;
        }
        ids[n++] = vial_rows_int(r, 0);
        rc = 0;
    }
    vial_rows_close(r);
    if (rc < 0) {
        free(ids);
        return rc;
    }
    size_t k = want < n ? want : n;
    for (size_t i = 0; i < k; i++) {
        size_t j = i + (size_t)below(rs, n - i);
        int64_t t = ids[i];
        ids[i] = ids[j];
        ids[j] = t;
    }
    /* fetch them, then put them back in the order drawn */
    music_song *songs = NULL;
    int64_t got = 0;
    if (k) {
        music_sql_reset(q);
        music_sql_add(q, "SELECT " MUSIC_SONG_COLS " FROM songs s JOIN albums al ON al.id = s.album_id WHERE s.id");
        in_ids(q, ids, k);
        got = q->overflow ? VIAL_ENOMEM : music_songs_query(req, db, q->text, q->args, q->nargs, k, &songs);
    }
    music_song *ordered = got > 0 ? vial_alloc(req, (size_t)got * sizeof *ordered) : NULL;
    if (got > 0 && !ordered)
        got = VIAL_ENOMEM;
    for (int64_t i = 0, o = 0; got > 0 && i < (int64_t)k; i++)
        for (int64_t j = 0; j < got; j++)
            if (songs[j].id == ids[i]) {
                ordered[o++] = songs[j];
                break;
            }
    free(ids);
    *out = ordered;
    return got;
}

typedef struct year_slots {
    int64_t year, slots, from; /* positions [from, from + slots) of the whole space */
} year_slots;

/* By probing places (year, year_pos): 1 done (*n songs in *out), 0 when it
 * gave up (too few matches for probing to pay), <0 an error. */
static int sample_probed(vial_req *req, vial_db *db, const music_filter *f, uint64_t *rs, size_t want,
                         music_song *out, size_t *got)
{
    *got = 0;
    music_sql *q = vial_alloc(req, sizeof *q);
    if (!q)
        return VIAL_ENOMEM;
    music_sql_reset(q);
    music_sql_add(q, "SELECT year, slots FROM music_years WHERE slots > 0");
    music_sql_years(q, f, " AND ", "year");
    music_sql_add(q, " ORDER BY year");
    vial_rows *r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
    if (!r)
        return vial_db_errcode(db);
    size_t ny = 0, ycap = 128;
    year_slots *ys = vial_alloc(req, ycap * sizeof *ys);
    uint64_t total = 0;
    int rc = ys ? 0 : VIAL_ENOMEM;
    while (!rc && (rc = vial_rows_next(r)) > 0) {
        rc = 0;
        if (!(ys = music_grow(req, ys, &ycap, ny, sizeof *ys))) {
            rc = VIAL_ENOMEM;
            break;
        }
        ys[ny].year = vial_rows_int(r, 0);
        ys[ny].slots = vial_rows_int(r, 1);
        ys[ny].from = (int64_t)total;
        total += (uint64_t)ys[ny].slots;
        ny++;
    }
    vial_rows_close(r);
    if (rc < 0)
        return rc;
    if (total == 0)
        return 1; /* no song in these years */

    /* Places are drawn in rounds of at most PROBE_BATCH, each round one
     * statement ("(year, year_pos) IN (VALUES ...)" with the other filters):
     * a place is a song or nothing, and a round never draws more places than
     * songs are still wanted, so every song it finds is kept.  Places tried
     * (kept or not) are not drawn twice.  A budget that a filter matching a
     * good share of the songs never reaches. */
    size_t budget = 20 * want + 200, tried_n = 0, draws = 0;
    uint64_t *tried = vial_alloc(req, budget * sizeof *tried);
    int64_t *pairs = vial_alloc(req, 2 * PROBE_BATCH * sizeof *pairs);
    if (!tried || !pairs)
        return VIAL_ENOMEM;
    music_filter rest = *f;
    rest.has_year_min = rest.has_year_max = false; /* the places are those years' already */
    while (*got < want) {
        size_t need = want - *got, np = 0;
        if (need > PROBE_BATCH)
            need = PROBE_BATCH;
        while (np < need) {
            if (tried_n == budget || ++draws > 4 * budget)
                return 0;
            uint64_t place = below(rs, total);
            bool seen = false;
            for (size_t i = 0; i < tried_n && !seen; i++)
                seen = tried[i] == place;
            if (seen)
                continue;
            tried[tried_n++] = place;
            size_t lo = 0, hi = ny;
            while (hi - lo > 1) {
                size_t mid = (lo + hi) / 2;
                if ((uint64_t)ys[mid].from <= place)
                    lo = mid;
                else
                    hi = mid;
            }
            pairs[2 * np] = ys[lo].year;
            pairs[2 * np + 1] = (int64_t)(place - (uint64_t)ys[lo].from) + 1;
            np++;
        }
        /* padded to a few sizes (the last pair again), so that the
         * statements repeat and stay prepared */
        size_t pad = np <= 8 ? 8 : np <= 32 ? 32 : np <= 128 ? 128 : PROBE_BATCH;
        music_sql_reset(q);
        music_sql_add(q, "SELECT " MUSIC_SONG_COLS);
        q->nargs = 2 * pad;
        for (size_t i = 0; i < 2 * pad; i++)
            q->args[i] = VIAL_INT(pairs[i < 2 * np ? i : 2 * (np - 1) + (i & 1)]);
        /* The places as a table joined to the (year, year_pos) index: the
         * planners of both backends loop over the few places and look each
         * up ("(s.year, s.year_pos) IN (VALUES ...)" made SQLite scan the
         * table).  The first row's casts type the VALUES columns on
         * PostgreSQL; a VALUES list's columns are column1, column2 on both. */
        char *where = vial_alloc(req, pad * 24 + 256);
        if (!where)
            return VIAL_ENOMEM;
        size_t o = (size_t)sprintf(where, "s.id IN (SELECT s2.id FROM (VALUES ");
        for (size_t i = 0; i < pad; i++)
            o += (size_t)sprintf(where + o, i ? ", ($%zu, $%zu)" : "(CAST($%zu AS BIGINT), CAST($%zu AS BIGINT))",
                                 2 * i + 1, 2 * i + 2);
        sprintf(where + o, ") p JOIN songs s2 ON s2.year = p.column1 AND s2.year_pos = p.column2)");
        music_sql_from_where(q, &rest, where);
        if (q->overflow)
            return VIAL_ENOMEM;
        r = vial_db_query_dynamic(db, q->text, q->args, q->nargs);
        if (!r)
            return vial_db_errcode(db);
        while (*got < want && (rc = vial_rows_next(r)) > 0)
            if (music_song_read(req, r, &out[(*got)++])) {
                rc = VIAL_ENOMEM;
                break;
            }
        vial_rows_close(r);
        if (rc < 0)
            return rc;
    }
    /* the statement gave each round's songs in index order: shuffled, the
     * answer is in a random order too */
    for (size_t i = *got; i > 1; i--) {
        size_t j = (size_t)below(rs, i);
        music_song t = out[i - 1];
        out[i - 1] = out[j];
        out[j] = t;
    }
    return 1;
}

int random_songs(vial_req *req)
{
    static const char *const also[] = { "n", NULL };
    music_filter f;
    if (music_filter_args(req, &f, also))
        return 0;
    int64_t want = 10;
    const char *nv = vial_arg(req, "n");
    if (nv) {
        char *end;
        long long v = strtoll(nv, &end, 10);
        if (!*nv || *end || v < 1 || v > MAX_N)
            return vial_abortf(req, 400, "n: '%s' is not an integer from 1 to %d", nv, MAX_N);
        want = v;
    }
    if (f.nothing)
        return write_songs(req, NULL, 0);
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    uint64_t rs;
    vial_random(&rs, sizeof rs);
    music_song *songs = vial_alloc(req, (size_t)want * sizeof *songs);
    if (!songs)
        return vial_abort(req, 503, "out of memory");
    size_t n = 0;
    int rc = 0;
    if (!f.fts && !f.artist && !f.album)
        rc = sample_probed(req, db, &f, &rs, (size_t)want, songs, &n);
    if (rc < 0)
        return failed(req, db, rc);
    if (rc == 0) {
        int64_t got = sample_listed(req, db, &f, &rs, (size_t)want, &songs);
        if (got < 0)
            return failed(req, db, got);
        n = (size_t)got;
    } else if ((rc = music_songs_artists(req, db, songs, n))) {
        return failed(req, db, rc);
    }
    vial_set_header(req, "Cache-Control", "no-store");
    return write_songs(req, songs, n);
}

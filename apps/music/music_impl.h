/*
 * music_impl.h — what the files of the music app share, and nothing
 * another app may use (that is music.h): the audio features and their
 * histogram grid, the filters every catalogue route takes, the song as the
 * API shows it, and the views each file registers.
 *
 *   music.c      settings, auth hooks, the route table
 *   filters.c    query parameters → a filter → SQL (one grammar for every route)
 *   songs.c      songs, search, one song, albums, artists, random samples
 *   stats.c      per-year means, histograms
 *   playlists.c  playlists and their songs
 *   import.c     vial-server import-songs
 */
#ifndef VIAL_APPS_MUSIC_IMPL_H
#define VIAL_APPS_MUSIC_IMPL_H

#include "music.h"

#include <stdbool.h>
#include <stdint.h>

/* ------------------------------------------------------------------ features */

/* The audio features that filters, sorts, statistics and histograms take,
 * in the API's order (music_years and music_cells number them so). */
enum { F_DANCEABILITY, F_ENERGY, F_SPEECHINESS, F_ACOUSTICNESS, F_INSTRUMENTALNESS, F_LIVENESS,
       F_VALENCE, F_TEMPO, F_LOUDNESS, F_DURATION, MUSIC_NFEATURES };

typedef struct music_feature {
    const char *name;  /* the API's name and the column's */
    double width;      /* the histogram grid: cells [edge(k), edge(k + 1)), edge(k) = k * width */
    double per;        /* 1 / width when that is a whole number: edge(k) = k / per, which rounds
                          to the nearest double of the decimal edge (0.948, not 0.9480000000000001) */
    double lo, hi;     /* what the importer accepts: lo <= v <= hi */
    bool integer;      /* duration_ms */
} music_feature;
extern const music_feature music_features[MUSIC_NFEATURES];

/* The feature called `name` (n bytes), or -1. */
int music_feature_find(const char *name, size_t n);
/* The cell of `v` on feature f's grid: the k with edge(k) <= v < edge(k + 1),
 * exactly as music_edge() computes the edges (no rounding disagreement at
 * a boundary). */
int64_t music_cell(int f, double v);
double music_edge(int f, int64_t k);

/* ------------------------------------------------------------------ search (search.c) */

#define MUSIC_MAX_WORDS 16   /* words of a search; more are ignored */
#define MUSIC_TIERS 6        /* tiers of a ranked search, best first (search.c) */
#define MUSIC_TIER_ANY (-1)  /* every match, unranked */
/* A search document's rowid: the words of the song's name (at most
 * MUSIC_DOC_MAXLEN) above the song's id, so that the index reads a tier's
 * matches in rank order.  The song's id is rowid & MUSIC_DOC_IDMASK; a
 * result's rank is tier << MUSIC_TIER_SHIFT | rowid. */
#define MUSIC_DOC_MAXLEN 255
#define MUSIC_DOC_IDMASK INT64_C(0xffffffff)
#define MUSIC_TIER_SHIFT 40
int64_t music_doc_rowid(int64_t song_id, const char *name_words);
/* The words of search `q` (n bytes) into `out` (n + 1 bytes), each
 * NUL-terminated, at most MUSIC_MAX_WORDS; *nwords their number.  Returns
 * the bytes used. */
size_t music_search_words(const char *q, size_t n, char *out, size_t *nwords);
/* The FTS5 query (what music_fts() takes) for the songs of `tier`
 * (0..MUSIC_TIERS-1, or MUSIC_TIER_ANY) of a search of `nwords` words into
 * out[cap].  Returns its length, 0 if it did not fit or there are no words. */
size_t music_search_query(char *out, size_t cap, const char *words, size_t nwords, int tier);
/* Room for any query of music_search_query() on words of n bytes. */
#define MUSIC_SEARCH_CAP(n) (3 * ((n) + 6 * MUSIC_MAX_WORDS + 32) + 32)

/* ------------------------------------------------------------------ filters (filters.c) */

typedef struct music_filter {
    const char *fts;        /* the search, every match (MUSIC_TIER_ANY), NULL: no q */
    const char *words;      /* its words (music_search_words) */
    size_t nwords;
    bool nothing;           /* a q without words, or an id that cannot exist: no song matches */
    const char *artist;     /* Spotify ids, NULL: any */
    const char *album;
    bool has_year_min, has_year_max;
    int64_t year_min, year_max;
    int explicit_;          /* -1: any, 0, 1 */
    bool has_min[MUSIC_NFEATURES], has_max[MUSIC_NFEATURES];
    double min[MUSIC_NFEATURES], max[MUSIC_NFEATURES];
} music_filter;

/* Reads the filters of /api/songs from the query string.  `also` lists the
 * other parameters the route takes (NULL-terminated); any other name is a
 * 400 naming it, as are bad numbers and min > max.  Returns 0, or 1 once
 * the request was answered. */
int music_filter_args(vial_req *req, music_filter *f, const char *const *also);
/* A number as the API and the file take it: decimal, optionally signed,
 * with a fraction and an exponent; not hex, inf or nan (which strtod
 * would take). */
bool music_decimal(const char *s, double *out);
/* True when only years (or nothing) are filtered: the aggregates answer. */
bool music_filter_years_only(const music_filter *f);

/* SQL under construction: text, and the values its placeholders bind. */
/* Room for a page's worth of ids in one IN list (1024) and the rest. */
#define MUSIC_SQL_MAX 16384
#define MUSIC_ARGS_MAX 1100
typedef struct music_sql {
    char text[MUSIC_SQL_MAX];
    size_t n;
    vial_val args[MUSIC_ARGS_MAX];
    size_t nargs;
    bool overflow;
} music_sql;
/* Empties `q` for a new statement. */
void music_sql_reset(music_sql *q);
void music_sql_add(music_sql *q, const char *fmt, ...) VIAL_PRINTF(2, 3);
/* Binds `v` and appends its placeholder ($k). */
void music_sql_arg(music_sql *q, vial_val v);
/* FROM and WHERE for the songs matching `f`: "FROM songs s JOIN albums al
 * ... [music_fts(...) f] WHERE ...", the conditions ANDed after `where`
 * (a condition the caller adds, or "" for none). */
void music_sql_from_where(music_sql *q, const music_filter *f, const char *where);
/* The year range of `f` on column `col`, after `and` (" AND ", or " WHERE ");
 * false when `f` has none (nothing written). */
bool music_sql_years(music_sql *q, const music_filter *f, const char *and, const char *col);

/* ------------------------------------------------------------------ songs (songs.c) */

/* The columns every song read selects, in the order music_song_read()
 * reads them ("s" is songs, "al" albums). */
#define MUSIC_SONG_COLS                                                                          \
    "s.id, s.spotify_id, s.name, al.spotify_id, al.name, s.track_number, s.disc_number, "        \
    "s.explicit, s.danceability, s.energy, s.key, s.loudness, s.mode, s.speechiness, "           \
    "s.acousticness, s.instrumentalness, s.liveness, s.valence, s.tempo, s.duration_ms, "         \
    "s.time_signature, s.year, s.release_date"
#define MUSIC_SONG_NCOLS 23

/* A song read from a row (strings: Arena), its artists added later. */
typedef struct music_song {
    int64_t id;
    const char *spotify_id, *name, *album_id, *album_name, *release_date;
    int64_t track, disc, key, mode, duration_ms, time_signature, year;
    bool explicit_;
    double danceability, energy, loudness, speechiness, acousticness, instrumentalness, liveness,
        valence, tempo;
    size_t nartists;
    const char **artist_ids, **artist_names;
    int64_t position; /* in a playlist (0: not shown) */
} music_song;

/* Reads the MUSIC_SONG_COLS of the current row into `s` (copies: Arena). */
int music_song_read(vial_req *req, vial_rows *r, music_song *s);
/* Fills the artists of `n` songs (one query). */
int music_songs_artists(vial_req *req, vial_db *db, music_song *songs, size_t n);
/* Writes one song as the API shows it. */
void music_song_write(vial_jw *w, const music_song *s);
/* Runs `sql` (selecting MUSIC_SONG_COLS first), reads up to `max` songs
 * with their artists into *out (Arena).  Returns the count or VIAL_E*. */
int64_t music_songs_query(vial_req *req, vial_db *db, const char *sql, const vial_val *args,
                          size_t nargs, size_t max, music_song **out);

/* The caller's account: a bearer token or API key, else the browser
 * session's login; 0 when there is none, or credentials were sent and
 * refused (music.c). */
int64_t music_caller(vial_req *req);
/* Whether the request carries a bearer token or an API key (valid or not). */
bool music_sent_credentials(vial_req *req);

/* vial_songs_imported_total: songs the importer committed, new or
 * updated (music.c declares it, import.c adds). */
extern vial_metric *music_songs_imported;

/* An arena array of `size`-byte items about to take item `n`: the same
 * array while n < *cap, else one of twice the room (*cap doubled), or NULL
 * when out of memory (music.c). */
void *music_grow(vial_req *req, void *items, size_t *cap, size_t n, size_t size);

/* The views, named as their endpoints. */
int list_songs(vial_req *req);
int get_song(vial_req *req);
int random_songs(vial_req *req);
int get_album(vial_req *req);
int get_artist(vial_req *req);
int year_stats(vial_req *req);
int histogram(vial_req *req);
int create_playlist(vial_req *req);
int get_playlist(vial_req *req);
int update_playlist(vial_req *req);
int delete_playlist(vial_req *req);
int add_playlist_song(vial_req *req);
int move_playlist_song(vial_req *req);
int remove_playlist_song(vial_req *req);
int user_playlists(vial_req *req);

/* The playlist request bodies (playlists.c), documented on their routes
 * (music.c) and checked against that documentation. */
extern const vial_schema music_create_schema, music_update_schema, music_add_schema, music_move_schema;

/* vial-server import-songs (import.c). */
int music_import_command(vial_app *app, int argc, char **argv);

#endif

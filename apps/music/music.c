/*
 * music.c — the music catalogue blueprint: the Spotify 1.2M songs file as
 * artists, albums and songs, searched, sampled and summarised, and users'
 * playlists of them.
 *
 *   GET    /api/songs                     filters, search (q), sort, keyset pages
 *   GET    /api/songs/random              n songs drawn uniformly from those matching
 *   GET    /api/songs/<id>, /api/albums/<id>, /api/artists/<id>
 *   GET    /api/stats/years               per year: songs and the mean of each feature
 *   GET    /api/stats/histogram           one feature's histogram for the filters
 *   POST   /api/playlists                 {"name", "public"} → 201
 *   GET    /api/playlists/<id>            public ones, or the owner's
 *   PATCH  /api/playlists/<id>            {"name"?, "public"?}
 *   DELETE /api/playlists/<id>
 *   POST   /api/playlists/<id>/songs      {"song_id", "position"?}
 *   PATCH  /api/playlists/<id>/songs/<p>  {"position"}: move a song
 *   DELETE /api/playlists/<id>/songs/<p>
 *   GET    /api/users/<id>/playlists      public ones; all of them for the owner
 *   vial-server import-songs PATH|-       (import.c)
 *
 * Song, album and artist ids are the file's (Spotify's); playlists and
 * users are numbered here.  Writes take a bearer token or API key, or the
 * browser session of the dashboard with its CSRF token; a write without any
 * credentials is a 401 before the CSRF check could make it a 403.  This
 * file holds the features, the hooks and the route table; the rest is in
 * the files music_impl.h lists.
 */
#include "music_impl.h"

#include <math.h>
#include <string.h>

#include "users/users.h"

/* Widths: fine enough that a histogram of 100 bins over a tenth of a
 * feature's range still has whole cells per bin; coarse enough that a year
 * holds about a thousand cells per feature.  Ranges: what the importer
 * accepts, generous around the file's (tempo 0..249, loudness -60..+7). */
const music_feature music_features[MUSIC_NFEATURES] = {
    [F_DANCEABILITY] = { "danceability", 0.001, 1000, 0, 1, false },
    [F_ENERGY] = { "energy", 0.001, 1000, 0, 1, false },
    [F_SPEECHINESS] = { "speechiness", 0.001, 1000, 0, 1, false },
    [F_ACOUSTICNESS] = { "acousticness", 0.001, 1000, 0, 1, false },
    [F_INSTRUMENTALNESS] = { "instrumentalness", 0.001, 1000, 0, 1, false },
    [F_LIVENESS] = { "liveness", 0.001, 1000, 0, 1, false },
    [F_VALENCE] = { "valence", 0.001, 1000, 0, 1, false },
    [F_TEMPO] = { "tempo", 0.5, 2, 0, 1000, false },
    [F_LOUDNESS] = { "loudness", 0.1, 10, -100, 100, false },
    [F_DURATION] = { "duration_ms", 1000, 0, 0, 1e9, true },
};

const char *const *music_feature_names(void)
{
    static const char *const names[MUSIC_NFEATURES + 1] = {
        "danceability", "energy", "speechiness", "acousticness", "instrumentalness",
        "liveness", "valence", "tempo", "loudness", "duration_ms", NULL,
    };
    return names;
}

int music_feature_find(const char *name, size_t n)
{
    for (int f = 0; f < MUSIC_NFEATURES; f++)
        if (strlen(music_features[f].name) == n && !memcmp(music_features[f].name, name, n))
            return f;
    return -1;
}

double music_edge(int f, int64_t k)
{
    const music_feature *m = &music_features[f];
    return m->per ? (double)k / m->per : (double)k * m->width;
}

int64_t music_cell(int f, double v)
{
    /* v / width can round across an edge (0.3 / 0.001 is 299.99999999999994
     * while 300 * 0.001 is 0.3): settle it against the edges as reported. */
    int64_t k = (int64_t)floor(v / music_features[f].width);
    while (music_edge(f, k) > v)
        k--;
    while (music_edge(f, k + 1) <= v)
        k++;
    return k;
}

void *music_grow(vial_req *req, void *items, size_t *cap, size_t n, size_t size)
{
    if (!items || n < *cap)
        return items;
    void *bigger = vial_realloc(req, items, *cap * size, 2 * *cap * size);
    if (bigger)
        *cap *= 2;
    return bigger;
}

/* ------------------------------------------------------------------ who is calling */

bool music_sent_credentials(vial_req *req)
{
    return vial_header(req, "authorization") || vial_header(req, "x-api-key");
}

int64_t music_caller(vial_req *req)
{
    const vial_identity *id = vial_auth(req);
    if (id)
        return id->user_id;
    if (music_sent_credentials(req))
        return 0; /* credentials were sent and refused: not the session's */
    return users_session_uid(req, NULL);
}

/* Writes need someone: without a token, a key or a session login they are
 * a 401 here, before the CSRF hook would call them forgeries. */
static int need_credentials(vial_req *req)
{
    const char *m = vial_method(req);
    if (!strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS"))
        return 0;
    if (music_sent_credentials(req))
        return 0; /* checked (and refused, if bad) by the view */
    if (users_session_uid(req, NULL))
        return 0;
    vial_abort(req, 401, "log in, or send a bearer token or an API key");
    vial_set_header(req, "WWW-Authenticate", "Bearer");
    return 0;
}

/* ------------------------------------------------------------------ registration */

vial_metric *music_songs_imported;

int music_register(vial_app *app)
{
    int rc = vial_db_migrations(app, "music", "apps/music/migrations");
    if (!rc)
        rc = vial_command(app, "import-songs", music_import_command,
                          "import-songs [--strict] [--progress S] [--commit-rows N] [--timings] PATH|-: load a "
                          "tracks_features.csv (Spotify 1.2M songs) into the catalogue");
    if (!rc && !(music_songs_imported = vial_counter(app, "vial_songs_imported_total",
                                                     "Songs the importer stored new or updated (committed)",
                                                     NULL)))
        rc = VIAL_EINVAL;
    /* its one series made now: a scrape shows 0 before any import */
    if (!rc && vial_metric_series(app, music_songs_imported, NULL) < 0)
        rc = VIAL_ENOMEM;
    if (rc)
        return rc;
    vial_bp *bp = vial_bp_new("music");
    if (!bp)
        return VIAL_ENOMEM;
    static const struct {
        unsigned method;
        const char *pattern, *endpoint;
        vial_handler fn;
    } routes[] = {
        /* GET /api/songs: query q (search words, ranked), artist_id, album_id,
         * year_min, year_max, explicit=true|false, <feature>_min/_max,
         * sort=[-](name|year|<feature>) (default rank with q, else name),
         * limit 1..1000 (50), after (cursor).  200: array of Song; Link
         * rel="next" while more match.  400 names the bad parameter. */
        { VIAL_GET, "/songs", "list_songs", list_songs },
        /* GET /api/songs/random: n 1..1000 (10) plus every filter of
         * /api/songs (not sort, limit, after).  200: array of at most n
         * distinct Song, uniform over the matches.  400 as /api/songs. */
        { VIAL_GET, "/songs/random", "random_songs", random_songs },
        /* GET /api/songs/{id} (Spotify track id).  200: Song; 404. */
        { VIAL_GET, "/songs/<id>", "get_song", get_song },
        /* GET /api/albums/{id}.  200: {"id","name","artists":[{"id",
         * "name"}] (in order of first credit),"year","release_date",
         * "tracks":[Song] in disc/track order}; 404. */
        { VIAL_GET, "/albums/<id>", "get_album", get_album },
        /* GET /api/artists/{id}.  200: {"id","name","albums":[{"id","name",
         * "year","song_count"}] (by year),"song_count"}; 404. */
        { VIAL_GET, "/artists/<id>", "get_artist", get_artist },
        /* GET /api/stats/years.  200: [{"year","songs","<feature>":mean,
         * ...}] ascending, unknown years left out. */
        { VIAL_GET, "/stats/years", "year_stats", year_stats },
        /* GET /api/stats/histogram: feature (required), bins 1..100 (20)
         * plus every filter of /api/songs.  200: {"feature","songs",
         * "bins":[{"lo","hi","count"}]}; 400 names the bad parameter. */
        { VIAL_GET, "/stats/histogram", "histogram", histogram },
        /* POST /api/playlists {"name" (1..200 chars), "public"? (false)}:
         * 201 Playlist + Location; 400; 401 without credentials; 403 a
         * session without its CSRF token. */
        { VIAL_POST, "/playlists", "create_playlist", create_playlist },
        /* GET /api/playlists/{id}: 200 Playlist {"id","name","public",
         * "owner":{"id","username"},"created_at","song_count","songs":[Song
         * + "position"]}; 404 absent or another's private one. */
        { VIAL_GET, "/playlists/<int:id>", "get_playlist", get_playlist },
        /* PATCH /api/playlists/{id} {"name"?, "public"?} (one at least):
         * 200 Playlist; 400; 401; 403 another's; 404. */
        { VIAL_PATCH, "/playlists/<int:id>", "update_playlist", update_playlist },
        /* DELETE /api/playlists/{id}: 204; 401; 403 another's; 404. */
        { VIAL_DELETE, "/playlists/<int:id>", "delete_playlist", delete_playlist },
        /* POST /api/playlists/{id}/songs {"song_id", "position"? 1..n+1
         * (the end)}: 201 Playlist; 400 no such song or position; 401;
         * 403; 404. */
        { VIAL_POST, "/playlists/<int:id>/songs", "add_playlist_song", add_playlist_song },
        /* PATCH /api/playlists/{id}/songs/{position} {"position"}: moves
         * the song; 200 Playlist; 400; 401; 403; 404. */
        { VIAL_PATCH, "/playlists/<int:id>/songs/<int:position>", "move_playlist_song", move_playlist_song },
        /* DELETE /api/playlists/{id}/songs/{position}: 204, the later
         * positions close up; 401; 403; 404. */
        { VIAL_DELETE, "/playlists/<int:id>/songs/<int:position>", "remove_playlist_song",
          remove_playlist_song },
        /* GET /api/users/{id}/playlists: limit, after (keyset).  200: array
         * of Playlist without "songs" (public ones; all for the owner);
         * 404 no such user. */
        { VIAL_GET, "/users/<int:id>/playlists", "user_playlists", user_playlists },
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
        rc |= vial_route(bp, routes[i].method, routes[i].pattern, routes[i].fn, routes[i].endpoint);
    rc |= vial_bp_before(bp, need_credentials);
    rc |= vial_csrf_protect(bp);
    rc |= vial_register(app, bp, "/api");
    return rc ? VIAL_EINVAL : 0;
}

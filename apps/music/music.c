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

/* ------------------------------------------------------------------ the API document */

/* What the routes take and answer, as /openapi.json shows it.  The
 * playlist bodies are the schemas the views check (playlists.c); the query
 * parameters restate music_filter_args(), parse_sort() and the views' own
 * checks (they read the query themselves: an unknown name is a 400 there,
 * which a documented rule cannot say). */

static const char *const feature_names[MUSIC_NFEATURES + 1] = {
    "danceability", "energy", "speechiness", "acousticness", "instrumentalness",
    "liveness", "valence", "tempo", "loudness", "duration_ms", NULL,
};

const char *const *music_feature_names(void)
{
    return feature_names;
}

static const char *const sorts[] = {
    "rank", "name", "-name", "year", "-year",
    "danceability", "-danceability", "energy", "-energy", "speechiness", "-speechiness",
    "acousticness", "-acousticness", "instrumentalness", "-instrumentalness", "liveness", "-liveness",
    "valence", "-valence", "tempo", "-tempo", "loudness", "-loudness", "duration_ms", "-duration_ms", NULL,
};
static const char *const true_false[] = { "true", "false", NULL };

/* The filters every catalogue route that selects songs takes. */
#define FEATURE_Q(f)                                                                             \
    VIAL_FIELD(f "_min", VIAL_F_NUMBER, 0, .doc = "only songs with " f " at least this"),       \
    VIAL_FIELD(f "_max", VIAL_F_NUMBER, 0, .doc = "only songs with " f " at most this (not below " f "_min)")
#define FILTER_Q                                                                                 \
    VIAL_FIELD("q", VIAL_F_STRING, 0,                                                            \
               .doc = "search words in the song's, its artists' or its album's name (full text, ranked; "  \
                      "the last word also matches as a prefix; at most 500 bytes)"),             \
    VIAL_FIELD("artist_id", VIAL_F_STRING, 0, .min = 1, .max = 64,                               \
               .doc = "only this artist's songs (a Spotify id: letters and digits)"),           \
    VIAL_FIELD("album_id", VIAL_F_STRING, 0, .min = 1, .max = 64,                                \
               .doc = "only this album's songs (a Spotify id: letters and digits)"),            \
    VIAL_FIELD("year_min", VIAL_F_INT, 0, .min = 0, .max = 9999,                                 \
               .doc = "only songs of this year or later (songs of unknown year are left out)"), \
    VIAL_FIELD("year_max", VIAL_F_INT, 0, .min = 0, .max = 9999,                                 \
               .doc = "only songs of this year or earlier (not below year_min)"),               \
    VIAL_FIELD("explicit", VIAL_F_STRING, 0, .one_of = true_false,                               \
               .doc = "only explicit (true) or clean (false) songs"),                           \
    FEATURE_Q("danceability"), FEATURE_Q("energy"), FEATURE_Q("speechiness"),                   \
    FEATURE_Q("acousticness"), FEATURE_Q("instrumentalness"), FEATURE_Q("liveness"),            \
    FEATURE_Q("valence"), FEATURE_Q("tempo"), FEATURE_Q("loudness"), FEATURE_Q("duration_ms")

static const vial_field songs_q[] = {
    FILTER_Q,
    VIAL_FIELD("sort", VIAL_F_STRING, 0, .one_of = sorts,
               .doc = "the order, '-' for descending; rank (best match first) only with q, and its "
                      "default then; otherwise name by default"),
    VIAL_FIELD("limit", VIAL_F_INT, 0, .min = 1, .max = 1000, .doc = "songs per page (default 50)"),
    VIAL_FIELD("after", VIAL_F_STRING, 0, .doc = "the opaque cursor of the Link header's next page"),
    VIAL_FIELD_END,
};
static const vial_field random_q[] = {
    FILTER_Q,
    VIAL_FIELD("n", VIAL_F_INT, 0, .min = 1, .max = 1000, .doc = "how many songs (default 10)"),
    VIAL_FIELD_END,
};
static const vial_field histogram_q[] = {
    VIAL_FIELD("feature", VIAL_F_STRING, VIAL_REQUIRED, .one_of = feature_names, .doc = "the feature counted"),
    VIAL_FIELD("bins", VIAL_F_INT, 0, .min = 1, .max = 100,
               .doc = "at most this many bins (default 20); a range narrower than that gets fewer"),
    FILTER_Q,
    VIAL_FIELD_END,
};
static const vial_field user_playlists_q[] = {
    VIAL_FIELD("limit", VIAL_F_INT, 0, .min = 1, .max = 1000, .doc = "playlists per page (default 100)"),
    VIAL_FIELD("after", VIAL_F_STRING, 0, .doc = "the opaque cursor of the Link header's next page"),
    VIAL_FIELD_END,
};

static const vial_field song_id_p[] = { VIAL_FIELD("id", VIAL_F_STRING, 0, .doc = "a Spotify track id"),
                                        VIAL_FIELD_END };
static const vial_field album_id_p[] = { VIAL_FIELD("id", VIAL_F_STRING, 0, .doc = "a Spotify album id"),
                                         VIAL_FIELD_END };
static const vial_field artist_id_p[] = { VIAL_FIELD("id", VIAL_F_STRING, 0, .doc = "a Spotify artist id"),
                                          VIAL_FIELD_END };
static const vial_field playlist_id_p[] = { VIAL_FIELD("id", VIAL_F_INT, 0, .doc = "a playlist id"),
                                            VIAL_FIELD_END };
static const vial_field position_p[] = {
    VIAL_FIELD("id", VIAL_F_INT, 0, .doc = "a playlist id"),
    VIAL_FIELD("position", VIAL_F_INT, 0, .doc = "a position in the playlist, 1..n"),
    VIAL_FIELD_END,
};
static const vial_field user_id_p[] = { VIAL_FIELD("id", VIAL_F_INT, 0, .doc = "a user id"), VIAL_FIELD_END };

/* The answers. */
static const vial_field ref_f[] = {
    VIAL_FIELD("id", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the Spotify id"),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema ref_schema = { ref_f, 0 };
#define FEATURES_F(flags, dur)                                                                      \
    VIAL_FIELD("danceability", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                        \
    VIAL_FIELD("energy", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                              \
    VIAL_FIELD("speechiness", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                         \
    VIAL_FIELD("acousticness", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                        \
    VIAL_FIELD("instrumentalness", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                    \
    VIAL_FIELD("liveness", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                            \
    VIAL_FIELD("valence", VIAL_F_NUMBER, flags, .min = 0, .max = 1),                             \
    VIAL_FIELD("tempo", VIAL_F_NUMBER, flags, .min = 0, .max = 1000, .doc = "beats per minute"), \
    VIAL_FIELD("loudness", VIAL_F_NUMBER, flags, .min = -100, .max = 100, .doc = "dB"),          \
    VIAL_FIELD("duration_ms", dur, flags, .min = 0, .max = 1e9, .doc = "milliseconds")
static const vial_field song_f[] = {
    VIAL_FIELD("position", VIAL_F_INT, 0, .min = 1, .max = 10000,
               .doc = "in a playlist only: the song's place, 1..n"),
    VIAL_FIELD("id", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the Spotify track id"),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("album", VIAL_F_OBJECT, VIAL_REQUIRED, .schema = &ref_schema),
    VIAL_FIELD("artists", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &ref_schema, .doc = "in the file's order"),
    VIAL_FIELD("track_number", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("disc_number", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("explicit", VIAL_F_BOOL, VIAL_REQUIRED),
    VIAL_FIELD("key", VIAL_F_INT, VIAL_REQUIRED, .doc = "pitch class"),
    VIAL_FIELD("mode", VIAL_F_INT, VIAL_REQUIRED, .doc = "1 major, 0 minor"),
    VIAL_FIELD("time_signature", VIAL_F_INT, VIAL_REQUIRED),
    FEATURES_F(VIAL_REQUIRED, VIAL_F_INT),
    VIAL_FIELD("year", VIAL_F_INT, VIAL_REQUIRED | VIAL_NULLABLE, .doc = "null when unknown"),
    VIAL_FIELD("release_date", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE,
               .doc = "YYYY, YYYY-MM or YYYY-MM-DD, as precise as the file; null when unknown"),
    VIAL_FIELD_END,
};
static const vial_schema song_schema = { song_f, 0 };
static const vial_field songs_f = VIAL_FIELD("songs", VIAL_F_ARRAY, 0, .schema = &song_schema);

static const vial_field album_f[] = {
    VIAL_FIELD("id", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the Spotify album id"),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("artists", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &ref_schema,
               .doc = "every artist of its tracks, in order of first credit"),
    VIAL_FIELD("year", VIAL_F_INT, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("release_date", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("tracks", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &song_schema, .doc = "in disc and track order"),
    VIAL_FIELD_END,
};
static const vial_schema album_schema = { album_f, 0 };

static const vial_field artist_album_f[] = {
    VIAL_FIELD("id", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("year", VIAL_F_INT, VIAL_REQUIRED | VIAL_NULLABLE),
    VIAL_FIELD("song_count", VIAL_F_INT, VIAL_REQUIRED, .doc = "the artist's songs on it"),
    VIAL_FIELD_END,
};
static const vial_schema artist_album_schema = { artist_album_f, 0 };
static const vial_field artist_f[] = {
    VIAL_FIELD("id", VIAL_F_STRING, VIAL_REQUIRED, .doc = "the Spotify artist id"),
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD("albums", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &artist_album_schema, .doc = "by year"),
    VIAL_FIELD("song_count", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema artist_schema = { artist_f, 0 };

static const vial_field year_f[] = {
    VIAL_FIELD("year", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("songs", VIAL_F_INT, VIAL_REQUIRED, .doc = "at least 1"),
    FEATURES_F(VIAL_REQUIRED, VIAL_F_NUMBER),
    VIAL_FIELD_END,
};
static const vial_schema year_schema = { year_f, 0 };
static const vial_field years_f = VIAL_FIELD("years", VIAL_F_ARRAY, 0, .schema = &year_schema,
                                             .doc = "ascending; each feature is the year's mean");

static const vial_field bin_f[] = {
    VIAL_FIELD("lo", VIAL_F_NUMBER, VIAL_REQUIRED, .doc = "inclusive"),
    VIAL_FIELD("hi", VIAL_F_NUMBER, VIAL_REQUIRED, .doc = "exclusive"),
    VIAL_FIELD("count", VIAL_F_INT, VIAL_REQUIRED, .min = 0),
    VIAL_FIELD_END,
};
static const vial_schema bin_schema = { bin_f, 0 };
static const vial_field histogram_f[] = {
    VIAL_FIELD("feature", VIAL_F_STRING, VIAL_REQUIRED, .one_of = feature_names),
    VIAL_FIELD("songs", VIAL_F_INT, VIAL_REQUIRED, .min = 0, .doc = "songs counted (those with the feature)"),
    VIAL_FIELD("bins", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &bin_schema, .max = 100,
               .doc = "ascending, of equal width on the feature's grid; empty when nothing matches"),
    VIAL_FIELD_END,
};
static const vial_schema histogram_schema = { histogram_f, 0 };

static const vial_field owner_f[] = {
    VIAL_FIELD("id", VIAL_F_INT, VIAL_REQUIRED),
    VIAL_FIELD("username", VIAL_F_STRING, VIAL_REQUIRED),
    VIAL_FIELD_END,
};
static const vial_schema owner_schema = { owner_f, 0 };
#define PLAYLIST_HEAD_F                                                                          \
    VIAL_FIELD("id", VIAL_F_INT, VIAL_REQUIRED),                                                 \
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED),                                            \
    VIAL_FIELD("public", VIAL_F_BOOL, VIAL_REQUIRED),                                            \
    VIAL_FIELD("owner", VIAL_F_OBJECT, VIAL_REQUIRED, .schema = &owner_schema),                  \
    VIAL_FIELD("song_count", VIAL_F_INT, VIAL_REQUIRED, .min = 0),                               \
    VIAL_FIELD("created_at", VIAL_F_TIMESTAMP, VIAL_REQUIRED),                                   \
    VIAL_FIELD("updated_at", VIAL_F_TIMESTAMP, VIAL_REQUIRED)
static const vial_field playlist_head_f[] = { PLAYLIST_HEAD_F, VIAL_FIELD_END };
static const vial_schema playlist_head_schema = { playlist_head_f, 0 };
static const vial_field playlist_f[] = {
    PLAYLIST_HEAD_F,
    VIAL_FIELD("songs", VIAL_F_ARRAY, VIAL_REQUIRED, .schema = &song_schema,
               .doc = "in order, each with its position"),
    VIAL_FIELD_END,
};
static const vial_schema playlist_schema = { playlist_f, 0 };
static const vial_field playlists_f = VIAL_FIELD("playlists", VIAL_F_ARRAY, 0, .schema = &playlist_head_schema,
                                                 .doc = "by id; a Link header (rel=\"next\") points at the next page");

#define R_NODB VIAL_RESPONSE(503, "the database is unavailable")
#define R_UNAUTH VIAL_RESPONSE(401, "no credentials (or refused ones): log in, or send a bearer token or an API key")
#define R_CSRF VIAL_RESPONSE(403, "another user's playlist, or a session write without its CSRF token")
#define R_NOPL VIAL_RESPONSE(404, "no such playlist, or another user's private one")
/* Reads need nobody; credentials only show the caller's private playlists
 * (and refused ones are a 401).  Writes need an account. */
#define READ_SEC "bearer,api_key,session"
#define WRITE_SEC "bearer,api_key,session"

static const vial_doc list_songs_doc = {
    .summary = "Search and list songs",
    .description = "Filters combine (AND). Without `q` the list is in name order, with it best match "
                   "first. A page holds `limit` songs; while more match, a `Link: <...>; rel=\"next\"` "
                   "header points at the next one. Any other query parameter is a 400 naming it.",
    .query = songs_q,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "a page of songs", .field = &songs_f),
        VIAL_RESPONSE(400, "an unknown parameter, a bad number or sort, or a minimum above its maximum"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc random_songs_doc = {
    .summary = "A random sample of songs",
    .description = "`n` distinct songs drawn uniformly from those the filters match (fewer when fewer "
                   "match), in no particular order.",
    .query = random_q,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the sample", .field = &songs_f),
        VIAL_RESPONSE(400, "an unknown parameter, a bad number, or a minimum above its maximum"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc get_song_doc = {
    .summary = "One song",
    .params = song_id_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the song", .schema = &song_schema),
        VIAL_RESPONSE(404, "no song with this id"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc get_album_doc = {
    .summary = "An album with its tracks",
    .params = album_id_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the album", .schema = &album_schema),
        VIAL_RESPONSE(404, "no album with this id"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc get_artist_doc = {
    .summary = "An artist with their albums",
    .params = artist_id_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the artist", .schema = &artist_schema),
        VIAL_RESPONSE(404, "no artist with this id"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc year_stats_doc = {
    .summary = "Songs and mean audio features per year",
    .description = "One entry per year with songs, ascending; songs of unknown year are left out. "
                   "Takes no query parameters (any is a 400).",
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the years", .field = &years_f),
        VIAL_RESPONSE(400, "a query parameter was given"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc histogram_doc = {
    .summary = "A feature's histogram over the matching songs",
    .description = "The songs the filters (as for `/api/songs`) match, counted in at most `bins` bins "
                   "of equal width between the smallest and the largest value.",
    .query = histogram_q,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the histogram", .schema = &histogram_schema),
        VIAL_RESPONSE(400, "no or an unknown feature, bad bins, or a bad filter"),
        R_NODB, VIAL_RESPONSE_END },
    .security = "",
};
static const vial_doc create_playlist_doc = {
    .summary = "Create a playlist",
    .description = "Owned by the caller, empty, private unless `public`. A browser session sends its "
                   "CSRF token (`X-CSRF-Token`). `Location` names the new playlist.",
    .body = &music_create_schema,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(201, "the playlist", .schema = &playlist_schema),
        R_UNAUTH,
        VIAL_RESPONSE(403, "a session write without its CSRF token"),
        R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
};
static const vial_doc get_playlist_doc = {
    .summary = "A playlist with its songs",
    .description = "A public playlist is anyone's to read; a private one only its owner's.",
    .params = playlist_id_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the playlist", .schema = &playlist_schema),
        VIAL_RESPONSE(401, "credentials were sent and refused"),
        R_NOPL, R_NODB, VIAL_RESPONSE_END },
    .security = READ_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};
static const vial_doc update_playlist_doc = {
    .summary = "Rename a playlist or change its visibility",
    .description = "Send `name`, `public` or both.",
    .params = playlist_id_p,
    .body = &music_update_schema,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the playlist", .schema = &playlist_schema),
        VIAL_RESPONSE(400, "a member breaks its rule, or nothing to change"),
        R_UNAUTH, R_CSRF, R_NOPL, R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
};
static const vial_doc delete_playlist_doc = {
    .summary = "Delete a playlist",
    .params = playlist_id_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(204, "deleted"),
        R_UNAUTH, R_CSRF, R_NOPL, R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
};
static const vial_doc add_playlist_song_doc = {
    .summary = "Add a song to a playlist",
    .description = "At `position` (the songs from there on move down one), or at the end. A song may "
                   "be in a playlist more than once.",
    .params = playlist_id_p,
    .body = &music_add_schema,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(201, "the playlist", .schema = &playlist_schema),
        VIAL_RESPONSE(400, "no song with this id, or a position past the end"),
        R_UNAUTH, R_CSRF, R_NOPL,
        VIAL_RESPONSE(409, "the playlist is full (10000 songs)"),
        R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
};
static const vial_doc move_playlist_song_doc = {
    .summary = "Move a song within a playlist",
    .params = position_p,
    .body = &music_move_schema,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "the playlist", .schema = &playlist_schema),
        VIAL_RESPONSE(400, "a new position past the end"),
        R_UNAUTH, R_CSRF,
        VIAL_RESPONSE(404, "no such playlist (or another's private one), or no such position"),
        R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
};
static const vial_doc remove_playlist_song_doc = {
    .summary = "Remove a song from a playlist",
    .description = "The songs after it move up one.",
    .params = position_p,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(204, "removed"),
        R_UNAUTH, R_CSRF,
        VIAL_RESPONSE(404, "no such playlist (or another's private one), or no such position"),
        R_NODB, VIAL_RESPONSE_END },
    .security = WRITE_SEC,
};
static const vial_doc user_playlists_doc = {
    .summary = "A user's playlists",
    .description = "Their public playlists; all of them for the user themself. Paged by id.",
    .params = user_id_p,
    .query = user_playlists_q,
    .responses = (const vial_response_doc[]){
        VIAL_RESPONSE(200, "a page of playlists (without their songs)", .field = &playlists_f),
        VIAL_RESPONSE(400, "a bad limit or cursor"),
        VIAL_RESPONSE(401, "credentials were sent and refused"),
        VIAL_RESPONSE(404, "no user with this id"),
        R_NODB, VIAL_RESPONSE_END },
    .security = READ_SEC,
    .flags = VIAL_DOC_AUTH_OPTIONAL,
};

/* The route table: method, pattern, view, endpoint, doc. */
static const vial_route_def routes[] = {
    VIAL_ROUTE(VIAL_GET, "/songs", list_songs, "list_songs", &list_songs_doc),
    VIAL_ROUTE(VIAL_GET, "/songs/random", random_songs, "random_songs", &random_songs_doc),
    VIAL_ROUTE(VIAL_GET, "/songs/<id>", get_song, "get_song", &get_song_doc),
    VIAL_ROUTE(VIAL_GET, "/albums/<id>", get_album, "get_album", &get_album_doc),
    VIAL_ROUTE(VIAL_GET, "/artists/<id>", get_artist, "get_artist", &get_artist_doc),
    VIAL_ROUTE(VIAL_GET, "/stats/years", year_stats, "year_stats", &year_stats_doc),
    VIAL_ROUTE(VIAL_GET, "/stats/histogram", histogram, "histogram", &histogram_doc),
    VIAL_ROUTE(VIAL_POST, "/playlists", create_playlist, "create_playlist", &create_playlist_doc),
    VIAL_ROUTE(VIAL_GET, "/playlists/<int:id>", get_playlist, "get_playlist", &get_playlist_doc),
    VIAL_ROUTE(VIAL_PATCH, "/playlists/<int:id>", update_playlist, "update_playlist", &update_playlist_doc),
    VIAL_ROUTE(VIAL_DELETE, "/playlists/<int:id>", delete_playlist, "delete_playlist", &delete_playlist_doc),
    VIAL_ROUTE(VIAL_POST, "/playlists/<int:id>/songs", add_playlist_song, "add_playlist_song",
               &add_playlist_song_doc),
    VIAL_ROUTE(VIAL_PATCH, "/playlists/<int:id>/songs/<int:position>", move_playlist_song, "move_playlist_song",
               &move_playlist_song_doc),
    VIAL_ROUTE(VIAL_DELETE, "/playlists/<int:id>/songs/<int:position>", remove_playlist_song,
               "remove_playlist_song", &remove_playlist_song_doc),
    VIAL_ROUTE(VIAL_GET, "/users/<int:id>/playlists", user_playlists, "user_playlists", &user_playlists_doc),
    VIAL_ROUTE_END,
};

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
    rc = vial_route_table(bp, routes);
    rc |= vial_bp_describe(bp, "The music catalogue (Spotify's 1.2M songs, loaded by `vial-server "
                               "import-songs`): songs with search, filters and keyset pages, random "
                               "samples, albums, artists, per-year statistics, histograms, and users' "
                               "playlists.");
    rc |= vial_openapi_schema(app, &song_schema, "Song", "a song as every catalogue route shows it");
    rc |= vial_openapi_schema(app, &album_schema, "Album", "an album with its artists and tracks");
    rc |= vial_openapi_schema(app, &artist_schema, "Artist", "an artist with their albums");
    rc |= vial_openapi_schema(app, &year_schema, "YearStats", "one year of the catalogue");
    rc |= vial_openapi_schema(app, &histogram_schema, "Histogram", "one feature's histogram");
    rc |= vial_openapi_schema(app, &playlist_schema, "Playlist", "a playlist with its songs in order");
    rc |= vial_openapi_schema(app, &playlist_head_schema, "PlaylistSummary", "a playlist without its songs");
    rc |= vial_bp_before(bp, need_credentials);
    rc |= vial_csrf_protect(bp);
    rc |= vial_register(app, bp, "/api");
    return rc ? VIAL_EINVAL : 0;
}

/*
 * playlists.c — users' playlists: a name, a public flag and songs in order
 * (positions 1..n without gaps; a song may come more than once).
 *
 * Who sees what: a public playlist is readable by anyone, a private one by
 * its owner only — for anyone else it does not exist (404), so ids reveal
 * nothing.  Writes need credentials (401, see music.c) and ownership: a
 * write to someone else's public playlist is a 403.  Every write runs in a
 * transaction (vial_db_tx), so a song inserted in the middle moves the
 * others in the same commit.  Positions move in two steps through negative
 * numbers: neither backend checks the primary key only at the end of an
 * UPDATE, and shifting in place would collide on the way.
 */
#include "music_impl.h"
#include "users/users.h"

#include <string.h>

#define MAX_SONGS 10000 /* per playlist */
#define MAX_NAME 200    /* characters */
#define MAX_LISTED 1000 /* playlists per page */

/* The request bodies (music_impl.h): the routes' docs in music.c name
 * them, and the views check bodies against their route's documented
 * schema (vial_body_json_valid(req, NULL)), so /openapi.json shows what
 * is enforced. */
static const vial_field create_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_REQUIRED | VIAL_NONEMPTY, .min = 1, .max = MAX_NAME,
               .doc = "1..200 characters, not only blanks"),
    VIAL_FIELD("public", VIAL_F_BOOL, 0, .doc = "readable by anyone (default false: the owner only)"),
    VIAL_FIELD_END,
};
const vial_schema music_create_schema = { create_f, VIAL_SCHEMA_STRICT };

static const vial_field update_f[] = {
    VIAL_FIELD("name", VIAL_F_STRING, VIAL_NONEMPTY, .min = 1, .max = MAX_NAME, .doc = "a new name"),
    VIAL_FIELD("public", VIAL_F_BOOL, 0, .doc = "the new visibility"),
    VIAL_FIELD_END,
};
const vial_schema music_update_schema = { update_f, VIAL_SCHEMA_STRICT };

static const vial_field add_f[] = {
    VIAL_FIELD("song_id", VIAL_F_STRING, VIAL_REQUIRED, .min = 1, .max = 64, .doc = "a song's (Spotify) id"),
    VIAL_FIELD("position", VIAL_F_INT, 0, .min = 1, .max = MAX_SONGS,
               .doc = "where it goes, 1..n+1 (default n+1: the end); later songs move down"),
    VIAL_FIELD_END,
};
const vial_schema music_add_schema = { add_f, VIAL_SCHEMA_STRICT };

static const vial_field move_f[] = {
    VIAL_FIELD("position", VIAL_F_INT, VIAL_REQUIRED, .min = 1, .max = MAX_SONGS,
               .doc = "the song's new position, 1..n"),
    VIAL_FIELD_END,
};
const vial_schema music_move_schema = { move_f, VIAL_SCHEMA_STRICT };

/* A playlist as stored. */
typedef struct playlist {
    int64_t id, owner, songs;
    const char *name, *owner_name, *created_at, *updated_at;
    bool public_;
} playlist;

#define PLAYLIST_SELECT                                                                          \
    "SELECT p.id, p.user_id, u.username, p.name, p.public, p.created_at, p.updated_at, "         \
    "(SELECT count(*) FROM playlist_songs ps WHERE ps.playlist_id = p.id) "                      \
    "FROM playlists p JOIN users u ON u.id = p.user_id "

static void read_playlist(vial_req *req, vial_rows *r, playlist *p)
{
    p->id = vial_rows_int(r, 0);
    p->owner = vial_rows_int(r, 1);
    p->owner_name = vial_strdup(req, vial_rows_text(r, 2));
    p->name = vial_strdup(req, vial_rows_text(r, 3));
    p->public_ = vial_rows_bool(r, 4);
    p->created_at = vial_strdup(req, vial_rows_text(r, 5));
    p->updated_at = vial_strdup(req, vial_rows_text(r, 6));
    p->songs = vial_rows_int(r, 7);
}

/* Credentials that were sent and refused are a 401 on every route. */
static int refused(vial_req *req)
{
    if (!music_sent_credentials(req) || vial_auth(req))
        return 0;
    const char *why = vial_auth_error(req);
    vial_abort(req, 401, why ? why : "the credentials were refused");
    vial_set_header(req, "WWW-Authenticate", "Bearer");
    return 1;
}

/* Loads playlist `id` for the caller `me`: 0, or 1 once answered (404 when
 * it is not visible to them; with `write`, 403 when it is not theirs). */
static int load(vial_req *req, vial_db *db, int64_t id, int64_t me, bool write, playlist *p)
{
    vial_rows *r = vial_db_query(db, PLAYLIST_SELECT "WHERE p.id = $1", VIAL_ARGS(VIAL_INT(id)));
    int rc = r ? vial_rows_next(r) : -1;
    if (rc < 0) {
        vial_db_abort(req, db);
        return 1;
    }
    if (rc > 0)
        read_playlist(req, r, p);
    vial_rows_close(r);
    if (rc == 0 || (!p->public_ && p->owner != me)) {
        vial_abortf(req, 404, "no playlist with id %" PRId64, id);
        return 1;
    }
    if (write && p->owner != me) {
        vial_abort(req, 403, "this playlist belongs to someone else");
        return 1;
    }
    return 0;
}

/* The caller of a write, or 0 once answered (401). */
static int64_t writer(vial_req *req)
{
    if (refused(req))
        return 0;
    int64_t me = music_caller(req);
    if (!me) {
        vial_abort(req, 401, "log in, or send a bearer token or an API key");
        vial_set_header(req, "WWW-Authenticate", "Bearer");
    }
    return me;
}

static void write_head(vial_jw *w, const playlist *p)
{
    vial_jw_key(w, "id");
    vial_jw_int(w, p->id);
    vial_jw_key(w, "name");
    vial_jw_str(w, p->name);
    vial_jw_key(w, "public");
    vial_jw_bool(w, p->public_);
    vial_jw_key(w, "owner");
    vial_jw_object(w);
    vial_jw_key(w, "id");
    vial_jw_int(w, p->owner);
    vial_jw_key(w, "username");
    vial_jw_str(w, p->owner_name);
    vial_jw_end(w);
    vial_jw_key(w, "song_count");
    vial_jw_int(w, p->songs);
    vial_jw_key(w, "created_at");
    vial_jw_str(w, p->created_at);
    vial_jw_key(w, "updated_at");
    vial_jw_str(w, p->updated_at);
}

/* The playlist with its songs, as GET shows it. */
static int show(vial_req *req, vial_db *db, int status, int64_t id, int64_t me)
{
    playlist p;
    if (load(req, db, id, me, false, &p))
        return 0;
    music_song *songs = NULL;
    int64_t n = music_songs_query(req, db,
                                  "SELECT " MUSIC_SONG_COLS ", ps.position FROM playlist_songs ps JOIN songs s "
                                  "ON s.id = ps.song_id JOIN albums al ON al.id = s.album_id "
                                  "WHERE ps.playlist_id = $1 ORDER BY ps.position",
                                  VIAL_ARGS(VIAL_INT(id)), MAX_SONGS, &songs);
    if (n < 0)
        return n == VIAL_ENOMEM ? vial_abort(req, 503, "out of memory") : vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, status);
    vial_jw_object(w);
    write_head(w, &p);
    vial_jw_key(w, "songs");
    vial_jw_array(w);
    for (int64_t i = 0; i < n; i++) {
        songs[i].position = i + 1; /* positions are 1..n by construction */
        music_song_write(w, &songs[i]);
    }
    vial_jw_end(w);
    vial_jw_end(w);
    return vial_jw_finish(w);
}

/* What every change to a playlist starts with: a transaction, and the
 * playlist of the path, which `me` must own.  Its connection, or NULL once
 * answered (404, 403, 503). */
static vial_db *open_mine(vial_req *req, int64_t me, playlist *p)
{
    if (vial_db_tx(req))
        return NULL;
    vial_db *db = vial_db_get(req);
    return load(req, db, vial_param_int(req, "id"), me, true, p) ? NULL : db;
}

static int touch(vial_db *db, int64_t id)
{
    char now[40];
    users_now_rfc3339(now);
    return vial_db_exec(db, "UPDATE playlists SET updated_at = $2 WHERE id = $1",
                        VIAL_ARGS(VIAL_INT(id), VIAL_TEXT(now))) < 0;
}

/* Moves positions >= from by `by` (+1 or -1), through negatives. */
static int shift(vial_db *db, int64_t id, int64_t from, int by)
{
    if (vial_db_exec(db, "UPDATE playlist_songs SET position = -(position + $3) WHERE playlist_id = $1 "
                         "AND position >= $2",
                     VIAL_ARGS(VIAL_INT(id), VIAL_INT(from), VIAL_INT(by))) < 0)
        return -1;
    return vial_db_exec(db, "UPDATE playlist_songs SET position = -position WHERE playlist_id = $1 AND position < 0",
                        VIAL_ARGS(VIAL_INT(id))) < 0;
}

/* ------------------------------------------------------------------ the views */

int create_playlist(vial_req *req)
{
    int64_t me = writer(req);
    if (!me)
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    char now[40];
    users_now_rfc3339(now);
    vial_rows *r = vial_db_query(db,
                                 "INSERT INTO playlists (user_id, name, public, created_at, updated_at) "
                                 "VALUES ($1, $2, $3, $4, $4) RETURNING id",
                                 VIAL_ARGS(VIAL_INT(me), VIAL_TEXT(json_string_value(json_object_get(body, "name"))),
                                           VIAL_BOOL(json_is_true(json_object_get(body, "public"))), VIAL_TEXT(now)));
    if (!r || vial_rows_next(r) != 1)
        return vial_db_abort(req, db);
    int64_t id = vial_rows_int(r, 0);
    vial_rows_close(r);
    const char *loc = vial_url_for(req, "music.get_playlist", "id", vial_sprintf(req, "%" PRId64, id), NULL);
    if (loc)
        vial_set_header(req, "Location", loc);
    return show(req, db, 201, id, me);
}

int get_playlist(vial_req *req)
{
    if (refused(req))
        return 0;
    vial_db *db = vial_db_get(req);
    if (!db)
        return 0;
    return show(req, db, 200, vial_param_int(req, "id"), music_caller(req));
}

int update_playlist(vial_req *req)
{
    int64_t me = writer(req);
    if (!me)
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    json_t *name = json_object_get(body, "name"), *pub = json_object_get(body, "public");
    if (!name && !pub)
        return vial_abort(req, 400, "nothing to change: send name or public");
    playlist p;
    vial_db *db = open_mine(req, me, &p);
    if (!db)
        return 0;
    int64_t id = p.id;
    if (name && vial_db_exec(db, "UPDATE playlists SET name = $2 WHERE id = $1",
                             VIAL_ARGS(VIAL_INT(id), VIAL_TEXT(json_string_value(name)))) < 0)
        return vial_db_abort(req, db);
    if (pub && vial_db_exec(db, "UPDATE playlists SET public = $2 WHERE id = $1",
                            VIAL_ARGS(VIAL_INT(id), VIAL_BOOL(json_is_true(pub)))) < 0)
        return vial_db_abort(req, db);
    if (touch(db, id))
        return vial_db_abort(req, db);
    return show(req, db, 200, id, me);
}

int delete_playlist(vial_req *req)
{
    int64_t me = writer(req);
    if (!me)
        return 0;
    playlist p;
    vial_db *db = open_mine(req, me, &p);
    if (!db)
        return 0;
    int64_t id = p.id;
    if (vial_db_exec(db, "DELETE FROM playlists WHERE id = $1", VIAL_ARGS(VIAL_INT(id))) < 0)
        return vial_db_abort(req, db);
    return vial_no_content(req);
}

int add_playlist_song(vial_req *req)
{
    int64_t me = writer(req);
    if (!me)
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    playlist p;
    vial_db *db = open_mine(req, me, &p);
    if (!db)
        return 0;
    int64_t id = p.id;
    const char *sid = json_string_value(json_object_get(body, "song_id"));
    vial_rows *r = vial_db_query(db, "SELECT id FROM songs WHERE spotify_id = $1", VIAL_ARGS(VIAL_TEXT(sid)));
    int rc = r ? vial_rows_next(r) : -1;
    if (rc < 0)
        return vial_db_abort(req, db);
    if (rc == 0)
        return vial_abortf(req, 400, "song_id: no song with id '%s'", sid);
    int64_t song = vial_rows_int(r, 0);
    vial_rows_close(r);
    if (p.songs >= MAX_SONGS)
        return vial_abortf(req, 409, "a playlist holds at most %d songs", MAX_SONGS);
    json_t *pos = json_object_get(body, "position");
    int64_t at = pos ? (int64_t)json_integer_value(pos) : p.songs + 1;
    if (at > p.songs + 1)
        return vial_abortf(req, 400, "position: %" PRId64 " is past the end (the playlist has %" PRId64 " songs)",
                           at, p.songs);
    if (at <= p.songs && shift(db, id, at, 1))
        return vial_db_abort(req, db);
    if (vial_db_exec(db, "INSERT INTO playlist_songs (playlist_id, position, song_id) VALUES ($1, $2, $3)",
                     VIAL_ARGS(VIAL_INT(id), VIAL_INT(at), VIAL_INT(song))) < 0 ||
        touch(db, id))
        return vial_db_abort(req, db);
    return show(req, db, 201, id, me);
}

/* The song at `position`, or 0 once answered (404). */
static int64_t song_at(vial_req *req, vial_db *db, int64_t id, int64_t position, const playlist *p)
{
    if (position < 1 || position > p->songs) {
        vial_abortf(req, 404, "playlist %" PRId64 " has no position %" PRId64 " (it has %" PRId64 " songs)", id,
                    position, p->songs);
        return 0;
    }
    vial_rows *r = vial_db_query(db, "SELECT song_id FROM playlist_songs WHERE playlist_id = $1 AND position = $2",
                                 VIAL_ARGS(VIAL_INT(id), VIAL_INT(position)));
    int rc = r ? vial_rows_next(r) : -1;
    if (rc <= 0) {
        vial_db_abort(req, db);
        return 0;
    }
    int64_t song = vial_rows_int(r, 0);
    vial_rows_close(r);
    return song;
}

int remove_playlist_song(vial_req *req)
{
    int64_t me = writer(req);
    if (!me)
        return 0;
    playlist p;
    vial_db *db = open_mine(req, me, &p);
    if (!db)
        return 0;
    int64_t id = p.id, at = vial_param_int(req, "position");
    if (!song_at(req, db, id, at, &p))
        return 0;
    if (vial_db_exec(db, "DELETE FROM playlist_songs WHERE playlist_id = $1 AND position = $2",
                     VIAL_ARGS(VIAL_INT(id), VIAL_INT(at))) < 0 ||
        shift(db, id, at + 1, -1) || touch(db, id))
        return vial_db_abort(req, db);
    return vial_no_content(req);
}

int move_playlist_song(vial_req *req)
{
    int64_t me = writer(req);
    if (!me)
        return 0;
    json_t *body = vial_body_json_valid(req, NULL);
    if (!body)
        return 0;
    playlist p;
    vial_db *db = open_mine(req, me, &p);
    if (!db)
        return 0;
    int64_t id = p.id, from = vial_param_int(req, "position");
    int64_t to = (int64_t)json_integer_value(json_object_get(body, "position"));
    int64_t song = song_at(req, db, id, from, &p);
    if (!song)
        return 0;
    if (to > p.songs)
        return vial_abortf(req, 400, "position: %" PRId64 " is past the end (the playlist has %" PRId64 " songs)",
                           to, p.songs);
    if (to != from) {
        if (vial_db_exec(db, "DELETE FROM playlist_songs WHERE playlist_id = $1 AND position = $2",
                         VIAL_ARGS(VIAL_INT(id), VIAL_INT(from))) < 0 ||
            shift(db, id, from + 1, -1) || shift(db, id, to, 1) ||
            vial_db_exec(db, "INSERT INTO playlist_songs (playlist_id, position, song_id) VALUES ($1, $2, $3)",
                         VIAL_ARGS(VIAL_INT(id), VIAL_INT(to), VIAL_INT(song))) < 0 ||
            touch(db, id))
            return vial_db_abort(req, db);
    }
    return show(req, db, 200, id, me);
}

static const vial_page_spec by_id = {
    .keys = { VIAL_T_INT }, .nkeys = 1, .default_limit = 100, .max_limit = MAX_LISTED };

int user_playlists(vial_req *req)
{
    if (refused(req))
        return 0;
    vial_page pg;
    if (vial_page_args(req, &by_id, &pg))
        return 0;
    vial_db *db = vial_db_get(req);
    int64_t uid = vial_param_int(req, "id"), me = music_caller(req);
    vial_rows *r = vial_db_one(req, db, "SELECT 1 FROM users WHERE id = $1", VIAL_ARGS(VIAL_INT(uid)),
                               vial_sprintf(req, "no user with id %" PRId64, uid));
    if (!r)
        return 0;
    vial_rows_close(r);
    /* the owner sees every one, anyone else the public ones */
    r = vial_db_query(db, PLAYLIST_SELECT "WHERE p.user_id = $1 AND (p.public = $2 OR p.user_id = $3) AND p.id > $4 "
                                          "ORDER BY p.id LIMIT $5",
                      VIAL_ARGS(VIAL_INT(uid), VIAL_BOOL(1), VIAL_INT(me), pg.after[0], VIAL_INT(pg.limit + 1)));
    if (!r)
        return vial_db_abort(req, db);
    vial_jw *w = vial_jw_begin(req, 200);
    vial_jw_array(w);
    int64_t n = 0;
    const char *next = NULL;
    bool more = false;
    int rc;
    while ((rc = vial_rows_next(r)) > 0) {
        if (n == pg.limit) {
            more = true;
            break;
        }
        playlist p;
        read_playlist(req, r, &p);
        vial_jw_object(w);
        write_head(w, &p);
        vial_jw_end(w);
        if (++n == pg.limit)
            next = vial_page_cursor(req, &pg, (vial_val[]){ VIAL_INT(p.id) });
    }
    vial_rows_close(r);
    if (rc < 0)
        return vial_db_abort(req, db);
    vial_jw_end(w);
    if (more && (!next || vial_page_link(req, &pg, next)))
        return vial_abort(req, 503, "out of memory");
    return vial_jw_finish(w);
}

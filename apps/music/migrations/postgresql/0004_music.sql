-- The music catalogue (issue 12), as the SQLite migration of the same
-- version builds it: the same tables and columns, the same SQL on both.
-- Names sort bytewise (COLLATE "C"), as SQLite's BINARY does, so lists and
-- their cursors agree whatever the database's locale.
CREATE SEQUENCE artists_id_seq;
CREATE SEQUENCE albums_id_seq;
CREATE SEQUENCE songs_id_seq;

CREATE TABLE artists (
    id         BIGINT PRIMARY KEY,
    spotify_id TEXT   NOT NULL,
    name       TEXT   COLLATE "C" NOT NULL
);

CREATE TABLE albums (
    id         BIGINT PRIMARY KEY,
    spotify_id TEXT   NOT NULL,
    name       TEXT   COLLATE "C" NOT NULL
);

-- Unique indexes rather than UNIQUE constraints, so that the first import
-- may drop them and build them once at the end (apps/music/import.c).
CREATE UNIQUE INDEX artists_spotify ON artists (spotify_id);
CREATE UNIQUE INDEX albums_spotify ON albums (spotify_id);

CREATE TABLE songs (
    id               BIGINT           PRIMARY KEY,
    spotify_id       TEXT             NOT NULL,
    name             TEXT COLLATE "C" NOT NULL,
    album_id         BIGINT           NOT NULL REFERENCES albums (id),
    track_number     INTEGER          NOT NULL,
    disc_number      INTEGER          NOT NULL,
    explicit         BOOLEAN          NOT NULL,
    danceability     DOUBLE PRECISION NOT NULL,
    energy           DOUBLE PRECISION NOT NULL,
    key              INTEGER          NOT NULL,
    loudness         DOUBLE PRECISION NOT NULL,
    mode             INTEGER          NOT NULL,
    speechiness      DOUBLE PRECISION NOT NULL,
    acousticness     DOUBLE PRECISION NOT NULL,
    instrumentalness DOUBLE PRECISION NOT NULL,
    liveness         DOUBLE PRECISION NOT NULL,
    valence          DOUBLE PRECISION NOT NULL,
    tempo            DOUBLE PRECISION NOT NULL,
    duration_ms      BIGINT           NOT NULL,
    time_signature   INTEGER          NOT NULL,
    year             INTEGER          NOT NULL,   -- 0: unknown
    release_date     TEXT,                        -- 1999, 1999-07 or 1999-07-14; NULL: unknown
    year_pos         BIGINT           NOT NULL    -- dense within the year (see the SQLite migration)
);
CREATE UNIQUE INDEX songs_spotify ON songs (spotify_id);
CREATE INDEX songs_name ON songs (name, id);
CREATE UNIQUE INDEX songs_year ON songs (year, year_pos);
CREATE INDEX songs_album ON songs (album_id, disc_number, track_number);

CREATE TABLE song_artists (
    song_id   BIGINT  NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,
    artist_id BIGINT  NOT NULL REFERENCES artists (id),
    PRIMARY KEY (song_id, position)
);
CREATE INDEX song_artists_artist ON song_artists (artist_id, song_id);

-- Search, behind the interface SQLite's FTS5 table has, so the app's SQL is
-- the same on both backends:
--   INSERT INTO music_fts (rowid, name, artists, album) VALUES (...)    index a document
--   INSERT INTO music_fts (music_fts, rowid, name, artists, album)
--       VALUES ('delete', ...)                                           remove one (FTS5's command)
--   SELECT rowid, rank FROM music_fts($1)                                search; lower rank is better
-- The documents hold search words (vial_fold_words), so the tsvector is
-- built from them as they are (music_tsvector: split on spaces, no parser,
-- no dictionary, no locale), with positions so that the weights hold: name
-- A, artists B, album C.
CREATE FUNCTION music_tsvector(words TEXT, weight TEXT) RETURNS tsvector LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(quote_literal(w) || ':' || least(i, 16383) || weight, ' '), '')::tsvector
    FROM unnest(string_to_array(words, ' ')) WITH ORDINALITY AS u(w, i)
    WHERE w <> ''
$$;

CREATE TABLE music_fts (
    music_fts TEXT,   -- FTS5's command column; a row with a command is never stored
    rowid     BIGINT PRIMARY KEY,
    name      TEXT   NOT NULL,
    artists   TEXT   NOT NULL,
    album     TEXT   NOT NULL,
    vec       tsvector GENERATED ALWAYS AS (
                  music_tsvector(name, 'A') || music_tsvector(artists, 'B') || music_tsvector(album, 'C')) STORED
);
CREATE INDEX music_fts_vec ON music_fts USING gin (vec);

CREATE FUNCTION music_fts_command() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.music_fts = 'delete' THEN
        DELETE FROM music_fts WHERE rowid = NEW.rowid;
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'music_fts: unknown command %', NEW.music_fts;
END
$$;
-- Only rows carrying a command reach the function: plain inserts (COPY of a
-- whole import) pay for the WHEN test alone.
CREATE TRIGGER music_fts_command BEFORE INSERT ON music_fts
    FOR EACH ROW WHEN (NEW.music_fts IS NOT NULL) EXECUTE FUNCTION music_fts_command();

-- The query the app writes for FTS5, '"love" "nig"*' (quoted search words,
-- the last one a prefix), as a tsquery: 'love' & 'nig':*.
CREATE FUNCTION music_tsquery(q TEXT) RETURNS tsquery LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(string_agg(quote_literal(m[1]) || CASE WHEN m[2] = '*' THEN ':*' ELSE '' END, ' & '), '')::tsquery
    FROM regexp_matches(q, '"([^"]+)"(\*?)', 'g') AS m
$$;

CREATE FUNCTION music_fts(q TEXT) RETURNS TABLE (rowid BIGINT, rank DOUBLE PRECISION)
LANGUAGE sql STABLE AS $$
    SELECT f.rowid, -ts_rank('{0.1, 0.25, 0.5, 1.0}', f.vec, t.q)::DOUBLE PRECISION
    FROM music_fts f, music_tsquery(q) AS t(q)
    WHERE f.vec @@ t.q
$$;

CREATE TABLE music_years (
    year             INTEGER PRIMARY KEY,
    songs            BIGINT  NOT NULL,
    slots            BIGINT  NOT NULL,
    danceability     DOUBLE PRECISION NOT NULL,
    energy           DOUBLE PRECISION NOT NULL,
    speechiness      DOUBLE PRECISION NOT NULL,
    acousticness     DOUBLE PRECISION NOT NULL,
    instrumentalness DOUBLE PRECISION NOT NULL,
    liveness         DOUBLE PRECISION NOT NULL,
    valence          DOUBLE PRECISION NOT NULL,
    tempo            DOUBLE PRECISION NOT NULL,
    loudness         DOUBLE PRECISION NOT NULL,
    duration_ms      DOUBLE PRECISION NOT NULL
);

CREATE TABLE music_cells (
    feature INTEGER NOT NULL,
    year    INTEGER NOT NULL,
    cell    BIGINT  NOT NULL,
    songs   BIGINT  NOT NULL,
    PRIMARY KEY (feature, year, cell)
);

CREATE TABLE playlists (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    public     BOOLEAN NOT NULL DEFAULT false,
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX playlists_user ON playlists (user_id, id);

CREATE TABLE playlist_songs (
    playlist_id BIGINT  NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    song_id     BIGINT  NOT NULL REFERENCES songs (id),
    PRIMARY KEY (playlist_id, position)
);
CREATE INDEX playlist_songs_song ON playlist_songs (song_id);

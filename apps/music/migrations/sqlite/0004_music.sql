-- The music catalogue (issue 12): the Spotify 1.2M songs file normalised
-- into artists, albums and songs (every audio feature column), the credits
-- of a song in order, users' playlists, and what the API reads instead of
-- scanning songs: the search index and two aggregates the importer keeps.
-- Ids come from sequences (vial_batch_ids), so the importer knows them
-- before it writes the rows that point at them.  The PostgreSQL migration
-- of the same version builds the same tables, and the same SQL runs on both
-- (see music_fts below).
INSERT INTO vial_sequences (name) VALUES ('artists_id_seq'), ('albums_id_seq'), ('songs_id_seq');

CREATE TABLE artists (
    id         INTEGER PRIMARY KEY,
    spotify_id TEXT    NOT NULL,
    name       TEXT    NOT NULL
);

CREATE TABLE albums (
    id         INTEGER PRIMARY KEY,
    spotify_id TEXT    NOT NULL,
    name       TEXT    NOT NULL
);

-- Unique indexes rather than UNIQUE constraints, so that the first import
-- may drop them and build them once at the end (apps/music/import.c).
CREATE UNIQUE INDEX artists_spotify ON artists (spotify_id);
CREATE UNIQUE INDEX albums_spotify ON albums (spotify_id);

CREATE TABLE songs (
    id               INTEGER PRIMARY KEY,
    spotify_id       TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    album_id         INTEGER NOT NULL REFERENCES albums (id),
    track_number     INTEGER NOT NULL,
    disc_number      INTEGER NOT NULL,
    explicit         INTEGER NOT NULL CHECK (explicit IN (0, 1)),
    danceability     REAL    NOT NULL,
    energy           REAL    NOT NULL,
    key              INTEGER NOT NULL,
    loudness         REAL    NOT NULL,
    mode             INTEGER NOT NULL,
    speechiness      REAL    NOT NULL,
    acousticness     REAL    NOT NULL,
    instrumentalness REAL    NOT NULL,
    liveness         REAL    NOT NULL,
    valence          REAL    NOT NULL,
    tempo            REAL    NOT NULL,
    duration_ms      INTEGER NOT NULL,
    time_signature   INTEGER NOT NULL,
    year             INTEGER NOT NULL,   -- 0: unknown (the file's 0000)
    release_date     TEXT,               -- as precise as the file: 1999, 1999-07 or 1999-07-14; NULL: unknown
    -- 1, 2, 3 ... within the year, never reused: songs of a year are the
    -- dense range (year, 1..music_years.slots), which random sampling draws
    -- from without scanning (a song that moved to another year leaves a hole)
    year_pos         INTEGER NOT NULL
);
CREATE UNIQUE INDEX songs_spotify ON songs (spotify_id);
CREATE INDEX songs_name ON songs (name, id);
CREATE UNIQUE INDEX songs_year ON songs (year, year_pos);
CREATE INDEX songs_album ON songs (album_id, disc_number, track_number);

CREATE TABLE song_artists (
    song_id   INTEGER NOT NULL REFERENCES songs (id) ON DELETE CASCADE,
    position  INTEGER NOT NULL,        -- 0: the first credited
    artist_id INTEGER NOT NULL REFERENCES artists (id),
    PRIMARY KEY (song_id, position)
) WITHOUT ROWID;
CREATE INDEX song_artists_artist ON song_artists (artist_id, song_id);

-- Search: one document per song, its name, its artists and its album as
-- search words (vial_fold_words), so the ascii tokenizer only splits on
-- spaces and PostgreSQL indexes exactly the same words.  The rowid is the
-- song's id under the number of words of its name (music_doc_rowid in
-- apps/music/search.c): the order of results within a tier of a ranked
-- search, which the index then reads in order and stops at the page.
-- Contentless: the words are not stored twice; a document is removed with
-- FTS5's 'delete' command and its old words, which the importer rebuilds
-- from the rows.  Read as a table-valued function, music_fts($1), with the
-- hidden column rowid; PostgreSQL has a function of that name returning it.
-- (bm25 with the name weighing most is configured as FTS5's rank for ad
-- hoc queries; the app does not order by it.)
CREATE VIRTUAL TABLE music_fts USING fts5 (name, artists, album, tokenize = 'ascii', content = '');
INSERT INTO music_fts (music_fts, rank) VALUES ('rank', 'bm25(4.0, 2.0, 1.0)');

-- Per year: how many songs, the highest year_pos handed out (the sampling
-- space), and the sum of each feature (the means of /api/stats/years).
CREATE TABLE music_years (
    year             INTEGER PRIMARY KEY,
    songs            INTEGER NOT NULL,
    slots            INTEGER NOT NULL,
    danceability     REAL    NOT NULL,
    energy           REAL    NOT NULL,
    speechiness      REAL    NOT NULL,
    acousticness     REAL    NOT NULL,
    instrumentalness REAL    NOT NULL,
    liveness         REAL    NOT NULL,
    valence          REAL    NOT NULL,
    tempo            REAL    NOT NULL,
    loudness         REAL    NOT NULL,
    duration_ms      REAL    NOT NULL
);

-- Per feature, year and cell of the feature's grid (0.001 for the 0..1
-- features, 0.5 BPM, 0.1 dB, 1 s): how many songs have a value in it.  A
-- histogram for a range of years is a sum over this table.
CREATE TABLE music_cells (
    feature INTEGER NOT NULL,   -- 0 danceability ... 9 duration_ms, as the API lists them
    year    INTEGER NOT NULL,
    cell    INTEGER NOT NULL,   -- the value is in [cell * width, (cell + 1) * width)
    songs   INTEGER NOT NULL,
    PRIMARY KEY (feature, year, cell)
) WITHOUT ROWID;

CREATE TABLE playlists (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT    NOT NULL,
    public     INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);
CREATE INDEX playlists_user ON playlists (user_id, id);

-- A playlist's songs in order (positions 1..n without gaps); a song may
-- come more than once.
CREATE TABLE playlist_songs (
    playlist_id INTEGER NOT NULL REFERENCES playlists (id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    song_id     INTEGER NOT NULL REFERENCES songs (id),
    PRIMARY KEY (playlist_id, position)
) WITHOUT ROWID;
CREATE INDEX playlist_songs_song ON playlist_songs (song_id);

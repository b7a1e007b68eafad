-- The Log REST API: one row per front-end action.
-- time_us is the instant (UTC microseconds); time_offset the UTC offset it was
-- sent with (seconds east), so times go back out exactly as they came in.
-- Non-empty is checked as <> '' (length() would count the characters of every
-- value on every insert: ~4% of ingest).
CREATE TABLE logs (
    id          INTEGER PRIMARY KEY,
    user_id     TEXT    NOT NULL CHECK (user_id <> ''),
    session_id  TEXT    NOT NULL CHECK (session_id <> ''),
    time_us     INTEGER NOT NULL,
    time_offset INTEGER NOT NULL CHECK (time_offset BETWEEN -86399 AND 86399),
    log_type    TEXT    NOT NULL CHECK (log_type <> ''),
    location_x  INTEGER,
    location_y  INTEGER,
    viewed_id   TEXT,
    page_from   TEXT,
    page_to     TEXT,
    extra       TEXT                -- unknown properties as JSON (logs_unknown_properties = keep)
);
-- Every list is ordered by (time, id); the rowid rides along in each index.
CREATE INDEX logs_user_time ON logs (user_id, time_us);
CREATE INDEX logs_time ON logs (time_us);

-- Ids are handed out in blocks per request (first_id..last_id), never reused
-- even after the newest logs are deleted.
CREATE TABLE logs_seq (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    next_id INTEGER NOT NULL
);
INSERT INTO logs_seq (one, next_id) VALUES (1, 1);

CREATE TABLE notes (
    id      BIGSERIAL PRIMARY KEY,
    text    TEXT NOT NULL,
    created TEXT NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
);

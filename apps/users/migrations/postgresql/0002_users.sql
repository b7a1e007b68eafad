-- Accounts and API keys.  Identity columns never hand out an id twice, so a
-- token or key naming a deleted user can never fall to a new one.
CREATE TABLE users (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username      TEXT    NOT NULL CHECK (length(username) BETWEEN 3 AND 64),
    password_hash TEXT    NOT NULL,
    role          TEXT    NOT NULL DEFAULT 'user' CHECK (length(role) > 0),
    created_at    TEXT    NOT NULL
);
-- Usernames are unique regardless of case: "Ann" and "ann" are one name.
CREATE UNIQUE INDEX users_username ON users (lower(username));

CREATE TABLE api_keys (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key_hash   TEXT    NOT NULL UNIQUE,   -- SHA-256 of the key, hex: the key itself is never stored
    name       TEXT,
    created_at TEXT    NOT NULL
);
CREATE INDEX api_keys_user ON api_keys (user_id);

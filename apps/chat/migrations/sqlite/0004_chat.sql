-- The chat: channels and their messages (only the last 100 of a channel
-- are kept: apps/chat/store.c trims after each insert).
-- AUTOINCREMENT: ids are never handed out twice, even after the newest
-- rows of a table were deleted, so a client's Last-Event-ID or "after"
-- cursor never points at a different message.
CREATE TABLE chat_channels (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT    NOT NULL UNIQUE CHECK (name <> ''),
    created_us INTEGER NOT NULL
);
CREATE TABLE chat_messages (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES chat_channels (id),
    name       TEXT    NOT NULL CHECK (name <> ''),
    text       TEXT    NOT NULL CHECK (text <> ''),
    time_us    INTEGER NOT NULL
);
-- History, pages and trimming are all "this channel, by id".
CREATE INDEX chat_messages_channel ON chat_messages (channel_id, id);

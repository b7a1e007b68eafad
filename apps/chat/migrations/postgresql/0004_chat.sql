-- The chat: channels and their messages (only the last 100 of a channel
-- are kept: apps/chat/store.c trims after each insert).  Identity columns
-- never hand an id out twice, so a client's Last-Event-ID or "after"
-- cursor never points at a different message.
CREATE TABLE chat_channels (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE CHECK (name <> ''),
    created_us BIGINT NOT NULL
);
CREATE TABLE chat_messages (
    id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id BIGINT NOT NULL REFERENCES chat_channels (id),
    name       TEXT   NOT NULL CHECK (name <> ''),
    text       TEXT   NOT NULL CHECK (text <> ''),
    time_us    BIGINT NOT NULL
);
-- History, pages and trimming are all "this channel, by id".
CREATE INDEX chat_messages_channel ON chat_messages (channel_id, id);

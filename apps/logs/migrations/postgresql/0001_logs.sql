-- The Log REST API: one row per front-end action.
-- time_us is the instant (UTC microseconds); time_offset the UTC offset it was
-- sent with (seconds east), so times go back out exactly as they came in.
CREATE TABLE logs (
    id          BIGINT  PRIMARY KEY,
    user_id     TEXT    NOT NULL CHECK (user_id <> ''),
    session_id  TEXT    NOT NULL CHECK (session_id <> ''),
    time_us     BIGINT  NOT NULL,
    time_offset INTEGER NOT NULL CHECK (time_offset BETWEEN -86399 AND 86399),
    log_type    TEXT    NOT NULL CHECK (log_type <> ''),
    location_x  BIGINT,
    location_y  BIGINT,
    viewed_id   TEXT,
    page_from   TEXT,
    page_to     TEXT,
    extra       JSONB
);
CREATE INDEX logs_user_time ON logs (user_id, time_us, id);
CREATE INDEX logs_time ON logs (time_us, id);

CREATE SEQUENCE logs_id_seq;

-- Reserves n consecutive ids (first is returned).  The advisory lock covers
-- only the reservation, so concurrent ingests still insert in parallel.
CREATE FUNCTION logs_reserve_ids(n BIGINT) RETURNS BIGINT AS $$
DECLARE
    first BIGINT;
BEGIN
    PERFORM pg_advisory_lock(7418893303);
    first := nextval('logs_id_seq');
    IF n > 1 THEN
        PERFORM setval('logs_id_seq', first + n - 1);
    END IF;
    PERFORM pg_advisory_unlock(7418893303);
    RETURN first;
EXCEPTION WHEN OTHERS THEN
    PERFORM pg_advisory_unlock(7418893303);
    RAISE;
END;
$$ LANGUAGE plpgsql;

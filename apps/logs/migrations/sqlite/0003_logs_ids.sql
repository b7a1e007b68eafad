-- Log ids come from the generic sequence of the batch API (vial_batch_ids,
-- the vial_sequences table of the db module's own migrations) instead of
-- logs_seq.  The next id carries over: ids stay never reused.
INSERT INTO vial_sequences (name, next_id) SELECT 'logs_id_seq', next_id FROM logs_seq;
DROP TABLE logs_seq;

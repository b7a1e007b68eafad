-- Log ids come from the generic vial_reserve_ids() of the db module's own
-- migrations (vial_batch_ids), on the same sequence: logs_id_seq keeps its
-- place, so ids stay never reused.  Only the app's own function goes.
DROP FUNCTION logs_reserve_ids(BIGINT);

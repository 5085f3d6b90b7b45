-- 002: chunk boundaries in frames of the original audio.
--
-- start_s/duration_s are for people and the API; a job resumed after a
-- crash must cut the audio exactly where the first run did, so the planner's
-- frame boundaries are kept too (NULL only for rows written before 002).
ALTER TABLE chunks ADD COLUMN start_frame bigint CHECK (start_frame >= 0);
ALTER TABLE chunks ADD COLUMN end_frame bigint CHECK (end_frame > start_frame);

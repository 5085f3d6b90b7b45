-- 003: single flight for identical uploads, and the cache level of a job.
--
-- Identical concurrent uploads (same cache key) must share one job and one
-- upstream pass, across every process and host. The database is the ground
-- truth, with or without Redis: at most one *joinable* job per cache key may
-- be queued or running, so a second INSERT … ON CONFLICT DO NOTHING finds
-- the first one and attaches to it (src/api/jobs_submit.c).
--
-- Only rows created by the submission path are joinable (single_flight);
-- rows written otherwise (tests, tools, a retried job) are not constrained,
-- so this index never rejects a state that was legal before 003.
ALTER TABLE jobs ADD COLUMN single_flight boolean NOT NULL DEFAULT false;

CREATE UNIQUE INDEX jobs_single_flight ON jobs (cache_key)
    WHERE single_flight AND status IN ('queued', 'running');

-- A transcription answered from the cache is recorded as a finished job so
-- that /v1/jobs/{id} and /v1/transcripts/{id} work for it like for any
-- other; cache_level says which tier answered (NULL = transcribed).
ALTER TABLE jobs ADD COLUMN cache_level text CHECK (cache_level IN ('l1', 'l2', 'l3'));

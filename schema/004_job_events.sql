-- 004: per-job progress events (GET /v1/jobs/{id}/events).
--
-- The process running a job numbers its events 1, 2, 3 … (continuing from
-- jobs.event_seq when the job resumes elsewhere) and writes each here, in
-- order, bumping jobs.event_seq in the same statement. Rows are what an SSE
-- client that reconnects with Last-Event-ID is replayed from, and what
-- other processes read when a live message was lost. Deleting the job
-- deletes its events.
CREATE TABLE job_events (
    job_id  uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    seq     bigint NOT NULL CHECK (seq > 0),
    type    text NOT NULL CHECK (type IN ('job', 'chunk', 'progress', 'done', 'error')),
    data    jsonb NOT NULL,
    at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (job_id, seq)
);

-- 001_init.sql — steno's durable state: jobs and their chunks (the queue),
-- transcripts (the L3 cache), API keys and the audit log.
--
-- Applied by `stenod --migrate` inside one transaction (src/db/db_migrate.c),
-- which also creates and fills schema_migrations (version, name, checksum,
-- applied_at). Never edit this file once applied anywhere: add 002_….sql.
--
-- Indexes follow the queries steno actually runs (seed FR-6.1/6.4: partial
-- indexes for filtered queries, covering indexes for the list endpoints);
-- each says which query it serves. Columns updated on every heartbeat or
-- cache hit are kept out of indexes where possible so those updates can be
-- HOT (no index writes), and the busy tables leave room on each page for
-- them (fillfactor).

-- Sets updated_at on every UPDATE, so no code path can forget it.
CREATE FUNCTION steno_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- API keys: only a hash is stored (keys are long random strings, so a plain
-- SHA-256 is enough; no slow KDF needed). `prefix` is shown in listings.
CREATE TABLE api_keys (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key_sha256  text NOT NULL UNIQUE CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    prefix      text NOT NULL DEFAULT '',
    name        text NOT NULL,
    role        text NOT NULL DEFAULT 'user' CHECK (role IN ('user', 'admin')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz
);
-- The UNIQUE constraint's index serves the per-request lookup by hash.

CREATE TABLE jobs (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    status          text NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
    -- 0 = high, 1 = medium, 2 = low: ascending order is claim order.
    priority        smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    audio_sha256    text NOT NULL CHECK (audio_sha256 ~ '^[0-9a-f]{64}$'),
    audio_path      text NOT NULL,
    audio_bytes     bigint NOT NULL CHECK (audio_bytes >= 0),
    audio_seconds   double precision CHECK (audio_seconds >= 0), -- known after the probe
    -- model, language, prompt, temperature, granularity, response format …
    params          jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    -- transcript:{sha256}:{lang}:{model}:{params-hash}, the transcripts row it fills
    cache_key       text NOT NULL,
    idempotency_key text UNIQUE, -- NULL = none; many NULLs allowed
    api_key_id      bigint REFERENCES api_keys (id) ON DELETE SET NULL,
    webhook_url     text,
    -- Lease: the process running the job, until when. A heartbeat extends
    -- lease_expires_at; when it passes, any process may reclaim the job.
    lease_owner     text,
    lease_expires_at timestamptz,
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    event_seq       bigint NOT NULL DEFAULT 0, -- last progress event number (SSE ids)
    plan            jsonb, -- the planner's chunking decision and its reasons (FR-1.5)
    error           jsonb, -- {type, code, message, chunks: [...]} when failed
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    started_at      timestamptz,
    finished_at     timestamptz,
    CHECK ((status = 'running') = (lease_owner IS NOT NULL AND lease_expires_at IS NOT NULL)),
    CHECK (status NOT IN ('done', 'failed', 'cancelled') OR finished_at IS NOT NULL)
) WITH (fillfactor = 85);

CREATE TRIGGER jobs_touch BEFORE UPDATE ON jobs
    FOR EACH ROW EXECUTE FUNCTION steno_touch_updated_at();

-- Claim: SELECT id FROM jobs WHERE status = 'queued'
--        ORDER BY priority, created_at LIMIT n FOR UPDATE SKIP LOCKED.
-- Partial, so it holds only the (few) queued jobs however long the history
-- grows, and its order is the claim order: the scan stops after n entries.
CREATE INDEX jobs_claimable ON jobs (priority, created_at, id) WHERE status = 'queued';

-- Reclaim: WHERE status = 'running' AND lease_expires_at < now().
-- Partial on the running jobs only (bounded by workers × concurrency).
-- Heartbeats change lease_expires_at and so are not HOT; with few running
-- jobs that costs little, and fillfactor keeps the rows on their pages.
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE status = 'running';

-- GET /v1/jobs?status=S&cursor=… : keyset pagination, newest first:
--   WHERE status = $1 AND (created_at, id) < ($2, $3)
--   ORDER BY created_at DESC, id DESC LIMIT $4
-- The key matches the order exactly (no sort step) and INCLUDE carries the
-- list's other columns, so the page is an index-only scan on a vacuumed
-- table. Also serves the dead-letter list (status = 'failed') and the
-- queue-status counts per status.
CREATE INDEX jobs_list_by_status ON jobs (status, created_at DESC, id DESC)
    INCLUDE (priority, finished_at);

-- GET /v1/jobs?cursor=… without a status filter: the same, over all jobs.
CREATE INDEX jobs_list ON jobs (created_at DESC, id DESC) INCLUDE (status, priority, finished_at);

-- Single flight: "is a job for this cache key already queued or running?"
-- before inserting another (identical concurrent uploads share one job).
-- Partial: finished jobs never match, so the index stays small.
CREATE INDEX jobs_inflight_by_cache_key ON jobs (cache_key)
    WHERE status IN ('queued', 'running');

-- DELETE /v1/cache/{sha256} and audio dedup: jobs by audio hash.
CREATE INDEX jobs_by_audio_sha256 ON jobs (audio_sha256);

CREATE TABLE chunks (
    job_id      uuid NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    idx         integer NOT NULL CHECK (idx >= 0),
    start_s     double precision NOT NULL CHECK (start_s >= 0), -- offset in the source audio
    duration_s  double precision NOT NULL CHECK (duration_s > 0),
    status      text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'running', 'done', 'failed', 'skipped')),
    attempts    integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_error  jsonb, -- {status, type, message, retry_after} of the last failed attempt
    -- Upstream verbose_json for this chunk (segments, words), times relative
    -- to the chunk; merged with start_s when the job completes.
    result      jsonb,
    timings     jsonb, -- {encode_ms, upload_ms, upstream_ms, ...}
    bytes_sent  bigint NOT NULL DEFAULT 0 CHECK (bytes_sent >= 0),
    started_at  timestamptz,
    finished_at timestamptz,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- The primary key serves every chunk query: all chunks of a job in
    -- order (GET /v1/jobs/{id}, merge), the missing ones after a restart
    -- (FR-2.5) and the failed ones for POST /v1/jobs/{id}/retry — a job has
    -- few chunks, so filtering its PK range on status is cheap.
    PRIMARY KEY (job_id, idx)
) WITH (fillfactor = 85);

CREATE TRIGGER chunks_touch BEFORE UPDATE ON chunks
    FOR EACH ROW EXECUTE FUNCTION steno_touch_updated_at();

-- L3 cache: permanent transcripts by cache key.
CREATE TABLE transcripts (
    cache_key   text PRIMARY KEY, -- the L1/L2 key: lookups are by PK
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    params      jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(params) = 'object'),
    language    text, -- detected or requested; what the seeds list transcripts by
    result      jsonb NOT NULL, -- merged verbose_json (segments, words)
    text        text NOT NULL,
    audio_seconds double precision,
    job_id      uuid REFERENCES jobs (id) ON DELETE SET NULL, -- the job that made it
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- Bumped on every cache hit: deliberately in no index, so the update is HOT.
    hits        bigint NOT NULL DEFAULT 0,
    last_hit_at timestamptz
) WITH (fillfactor = 90);

-- DELETE /v1/cache/{sha256}: every parameter variant of one audio file.
CREATE INDEX transcripts_by_sha256 ON transcripts (sha256);
-- GET /v1/cache/stats and retention sweeps by age.
CREATE INDEX transcripts_by_created ON transcripts (created_at);

-- Who did what: admin overrides, key changes, deletions. Append-only.
CREATE TABLE audit_log (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      timestamptz NOT NULL DEFAULT now(),
    actor   text NOT NULL,  -- "key:<prefix>", "system", …
    action  text NOT NULL,  -- "degradation.override", "job.delete", …
    target  text,           -- "job:<uuid>", "cache:<sha256>", …
    details jsonb NOT NULL DEFAULT '{}'
);
-- Rows arrive in time order, so a BRIN index on `at` answers time-range
-- reads at a tiny fraction of a B-tree's size and write cost.
CREATE INDEX audit_log_at ON audit_log USING brin (at);
-- "History of this job/key": by target, newest first.
CREATE INDEX audit_log_by_target ON audit_log (target, at DESC) WHERE target IS NOT NULL;

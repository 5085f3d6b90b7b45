#!/usr/bin/env bash
# The job read and admin endpoints against a real PostgreSQL: GET /v1/jobs/{id},
# GET /v1/jobs (keyset pages, status filter, cursor checks), GET
# /v1/transcripts/{id} in every format, POST /v1/jobs/{id}/retry, DELETE
# /v1/jobs/{id} on every state with its audit rows and NOTIFYs, GET
# /api/queue-status, 404s, and 503 while PostgreSQL is down then recovery.
# stenod runs with --jobs-per-worker 0 (serves the API, never claims), so the
# rows inserted here stay as they are.
. "$(dirname "$0")/lib.sh"

SOURCE=${SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
STACK=$SOURCE/tools/local-stack
JGET=$BUILD/tests/mock/jget
SD=$(mktemp -d "${TMPDIR:-/tmp}/steno-ja.XXXXXX")
chmod 755 "$SD"
stack_cleanup() {
    [ -n "${LSN_PID:-}" ] && kill "$LSN_PID" 2>/dev/null
    cleanup
    "$STACK" stop "$SD" >/dev/null 2>&1
    rm -rf "$SD"
}
trap stack_cleanup EXIT
if ! LOCAL_STACK_NO_REDIS=1 "$STACK" start "$SD" >"$SD/start.out" 2>&1; then
    cat "$SD/start.out" >&2
    exit 1
fi
. "$SD/env"
DB=$STENO_DATABASE_URL
"$BUILD/stenod" --migrate --database-url "$DB" >"$T/migrate.log" 2>&1 || { cat "$T/migrate.log"; exit 1; }
start_server "$BUILD/stenod" stenod --database-url "$DB" --jobs-per-worker 0 \
    --upstream-url http://127.0.0.1:9/v1 || exit 1
API="http://127.0.0.1:$PORT"

sql() { psql "$DB" -qAt -v ON_ERROR_STOP=1 -c "$1"; }
jget() { "$JGET" "$@"; }
# req METHOD PATH: body in $T/body, status printed, headers in $T/hdr
req() {
    curl -s -X "$1" -D "$T/hdr" -o "$T/body" -w '%{http_code}' "$API$2"
}
body() { cat "$T/body"; }
field() { jget "$1" "$T/body"; }

# ---- fixtures: one job in every state (ids name their state) ----
JQ=00000000-0000-4000-8000-00000000000a # queued, high, a minute old
JR=00000000-0000-4000-8000-00000000000b # running under another process's lease
JD=00000000-0000-4000-8000-00000000000c # done, transcript in the cache
JF=00000000-0000-4000-8000-00000000000d # failed: chunks done, failed, failed, skipped
JC=00000000-0000-4000-8000-00000000000e # cancelled
JN=00000000-0000-4000-8000-00000000000f # done, cache row gone
SHA=$(printf 'steno' | sha256sum | cut -d' ' -f1)
RESULT='{"task":"transcribe","language":"en","duration":3725.5,
 "text":"Hello world. This is steno. Much later --> arrow.",
 "segments":[
  {"id":0,"seek":0,"start":0.0,"end":2.5,"text":" Hello world.","tokens":[50364,2425,1002],
   "temperature":0.0,"avg_logprob":-0.25,"compression_ratio":1.1,"no_speech_prob":0.01},
  {"id":1,"seek":250,"start":2.5,"end":7.48,"text":" This is steno.","tokens":[50489,639],
   "temperature":0.0,"avg_logprob":-0.3,"compression_ratio":1.2,"no_speech_prob":0.02},
  {"id":2,"seek":372325,"start":3723.25,"end":3725.5,"text":" Much later --> arrow.",
   "tokens":[50600],"temperature":0.2,"avg_logprob":-0.5,"compression_ratio":1.3,
   "no_speech_prob":0.05}],
 "words":[{"word":"Hello","start":0.0,"end":0.6},{"word":"world.","start":0.7,"end":2.5}]}'
sql "
INSERT INTO jobs (id, status, priority, audio_sha256, audio_path, audio_bytes, audio_seconds,
                  params, cache_key, lease_owner, lease_expires_at, attempts, plan, error,
                  created_at, started_at, finished_at) VALUES
 ('$JQ', 'queued', 0, '$SHA', '/a/q', 100, NULL, '{\"language\":\"en\"}', 'k:q', NULL, NULL, 0,
  NULL, NULL, now() - interval '60 seconds', NULL, NULL),
 ('$JR', 'running', 1, '$SHA', '/a/r', 200, 90.5, '{}', 'k:r', 'otherhost:77',
  now() + interval '30 seconds', 1, '{\"chunks\":3}', NULL, now() - interval '50 seconds',
  now() - interval '40 seconds', NULL),
 ('$JD', 'done', 2, '$SHA', '/a/d', 300, 3725.5, '{\"model\":\"openai/whisper-large-v3\"}',
  'k:d', NULL, NULL, 1, '{\"chunks\":2,\"reason\":\"one wave\"}', NULL,
  now() - interval '40 seconds', now() - interval '39 seconds', now() - interval '30 seconds'),
 ('$JF', 'failed', 1, '$SHA', '/a/f', 400, 120, '{}', 'k:f', NULL, NULL, 1, '{\"chunks\":4}',
  '{\"type\":\"upstream_error\",\"code\":\"chunks_failed\",\"message\":\"2 chunks failed\"}',
  now() - interval '30 seconds', now() - interval '29 seconds', now() - interval '20 seconds'),
 ('$JC', 'cancelled', 1, '$SHA', '/a/c', 500, NULL, '{}', 'k:c', NULL, NULL, 0, NULL, NULL,
  now() - interval '20 seconds', NULL, now() - interval '10 seconds'),
 ('$JN', 'done', 1, '$SHA', '/a/n', 600, 1, '{}', 'k:n', NULL, NULL, 1, NULL, NULL,
  now() - interval '15 seconds', now() - interval '14 seconds', now() - interval '13 seconds');
-- chunks inserted out of order: the API lists them by start
INSERT INTO chunks (job_id, idx, start_s, duration_s, status, attempts, last_error, result,
                    timings, started_at, finished_at) VALUES
 ('$JR', 2, 60, 30.5, 'pending', 0, NULL, NULL, NULL, NULL, NULL),
 ('$JR', 0, 0, 30, 'done', 1, NULL, '{\"text\":\"a\"}', '{\"upstream_ms\":812}',
  now() - interval '39 seconds', now() - interval '38 seconds'),
 ('$JR', 1, 30, 30, 'running', 2, '{\"status\":503,\"message\":\"busy\"}', NULL, NULL,
  now() - interval '5 seconds', NULL),
 ('$JD', 1, 1800.25, 1925.25, 'done', 1, NULL, '{}', '{\"encode_ms\":3}', now(), now()),
 ('$JD', 0, 0, 1800.25, 'done', 1, NULL, '{}', '{\"encode_ms\":4}', now(), now()),
 ('$JF', 0, 0, 30, 'done', 1, NULL, '{\"text\":\"x\"}', NULL, now(), now()),
 ('$JF', 1, 30, 30, 'failed', 4, '{\"status\":500,\"message\":\"boom\"}', NULL, NULL, now(), now()),
 ('$JF', 2, 60, 30, 'failed', 4, '{\"status\":400,\"message\":\"bad\"}', NULL, NULL, now(), now()),
 ('$JF', 3, 90, 30, 'skipped', 0, NULL, NULL, NULL, NULL, NULL);
INSERT INTO transcripts (cache_key, sha256, params, language, result, text, audio_seconds, job_id)
VALUES ('k:d', '$SHA', '{}', 'en', '$RESULT', 'Hello world. This is steno. Much later --> arrow.',
        3725.5, '$JD');
" || { echo "fixtures failed"; exit 1; }

# A listener for the NOTIFYs the endpoints send (psql prints those that
# arrived after each command it runs, so it runs two).
coproc LSN { psql "$DB" -qAt 2>&1; }
echo "LISTEN steno_jobs; LISTEN steno_cancel;" >&"${LSN[1]}"
# notifications CHANNEL: the payloads heard on CHANNEL since the last call
notifications() {
    sleep 0.1
    echo "SELECT 'poll'; SELECT 'sync-mark';" >&"${LSN[1]}"
    local line out=""
    while IFS= read -r -t 5 line <&"${LSN[0]}"; do
        [ "$line" = sync-mark ] && break
        case "$line" in
        *"notification \"$1\" with payload \""*)
            line=${line#*payload \"}
            out+="${line%%\"*} "
            ;;
        esac
    done
    echo "${out% }"
}

# ---- GET /v1/jobs/{id} ----
check "get running: 200" 200 "$(req GET /v1/jobs/$JR)"
check "get: id" "$JR" "$(field id)"
check "get: status" running "$(field status)"
check "get: priority name" medium "$(field priority)"
check "get: attempts" 1 "$(field attempts)"
check "get: audio" '{"sha256":"'$SHA'","bytes":200,"seconds":90.5}' "$(field audio)"
check "get: params" '{}' "$(field params)"
check "get: plan" '{"chunks":3}' "$(field plan)"
check "get: error null" null "$(field error)"
check "get: cache_key" k:r "$(field cache_key)"
check_true "get: created_at is RFC 3339 UTC" \
    grep -Eq '"created_at":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"' "$T/body"
check "get: finished_at null" null "$(field finished_at)"
check "get: chunks by start" "0 1 2" "$(field chunks.0.index) $(field chunks.1.index) $(field chunks.2.index)"
check "get: chunk 0" 'done 0 30 {"upstream_ms":812}' \
    "$(field chunks.0.status) $(field chunks.0.start) $(field chunks.0.duration) $(field chunks.0.timings)"
check "get: chunk 1 error and attempts" '{"status":503,"message":"busy"} 2 null' \
    "$(field chunks.1.error) $(field chunks.1.attempts) $(field chunks.1.finished_at)"
check "get: chunk 2 fractional duration" 30.5 "$(field chunks.2.duration)"
check "get: progress" '{"chunks_total":3,"chunks_done":1,"chunks_failed":0}' "$(field progress)"
# the whole document, timestamps masked: every field, in order, nulls included
TS='"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"'
check "get: the whole shape" \
    '{"id":"'$JR'","status":"running","priority":"medium","created_at":TS,"started_at":TS,"finished_at":null,"attempts":1,"audio":{"sha256":"'$SHA'","bytes":200,"seconds":90.5},"params":{},"plan":{"chunks":3},"error":null,"cache_key":"k:r","cache_level":null,"chunks":[{"index":0,"start":0,"duration":30,"status":"done","attempts":1,"error":null,"started_at":TS,"finished_at":TS,"timings":{"upstream_ms":812}},{"index":1,"start":30,"duration":30,"status":"running","attempts":2,"error":{"status":503,"message":"busy"},"started_at":TS,"finished_at":null,"timings":null},{"index":2,"start":60,"duration":30.5,"status":"pending","attempts":0,"error":null,"started_at":null,"finished_at":null,"timings":null}],"progress":{"chunks_total":3,"chunks_done":1,"chunks_failed":0},"links":{"self":"/v1/jobs/'$JR'","events":"/v1/jobs/'$JR'/events","transcript":"/v1/transcripts/'$JR'"}}' \
    "$(sed -E "s/$TS/TS/g" "$T/body")"
req GET /v1/jobs/$JD >/dev/null
check "get done: chunks by start, not insert order" "0 1" "$(field chunks.0.index) $(field chunks.1.index)"
check "get done: fractional start" 1800.25 "$(field chunks.1.start)"
check "get done: progress" '{"chunks_total":2,"chunks_done":2,"chunks_failed":0}' "$(field progress)"
check "get done: low priority, plan" 'low {"chunks":2,"reason":"one wave"}' "$(field priority) $(field plan)"
check_true "get done: finished_at set" grep -q '"finished_at":"20' "$T/body"
req GET /v1/jobs/$JF >/dev/null
check "get failed: progress (skipped counts as done)" '{"chunks_total":4,"chunks_done":2,"chunks_failed":2}' "$(field progress)"
check "get failed: error" chunks_failed "$(field error.code)"
req GET /v1/jobs/$JQ >/dev/null
check "get queued: no chunks, high" '[] high null' "$(field chunks) $(field priority) $(field audio.seconds)"
check "get: upper-case id works" 200 "$(req GET /v1/jobs/${JR^^})"
check "get: h2c" 200 "$(curl -s --http2-prior-knowledge -o /dev/null -w '%{http_code}' "$API/v1/jobs/$JR")"
check "get unknown → 404" 404 "$(req GET /v1/jobs/00000000-0000-4000-8000-0000000000ff)"
check "get unknown: code" job_not_found "$(field error.code)"
check "get malformed → 404" 404 "$(req GET /v1/jobs/not-a-uuid)"
check "get malformed: code" job_not_found "$(field error.code)"
check "get almost-uuid → 404" 404 "$(req GET /v1/jobs/00000000-0000-4000-8000-00000000000g)"

# ---- GET /v1/jobs: pages, filter, cursor checks ----
# 39 more jobs: 13 groups of 3 sharing one created_at (ties broken by id),
# groups a microsecond apart (the cursor must keep µs); 25 of them done.
sql "INSERT INTO jobs (id, status, audio_sha256, audio_path, audio_bytes, cache_key, created_at,
                       finished_at)
     SELECT ('10000000-0000-4000-8000-' || lpad(g::text, 12, '0'))::uuid,
            CASE WHEN g <= 25 THEN 'done' ELSE 'queued' END, '$SHA', '/a/l', 1, 'k:l' || g,
            timestamptz '2026-01-01 00:00:00Z' + (g / 3) * interval '1 microsecond',
            CASE WHEN g <= 25 THEN now() END
     FROM generate_series(1, 39) g"
TOTAL=$(sql "SELECT count(*) FROM jobs")
check "45 jobs in the table" 45 "$TOTAL"
EXPECTED=$(sql "SELECT id FROM jobs ORDER BY created_at DESC, id DESC" | tr '\n' ' ')
# walk QUERY: every page of /v1/jobs?QUERY; ids in $WALK, pages in $PAGES
walk() {
    local q=$1 cur="" n i
    WALK="" PAGES=0
    while :; do
        req GET "/v1/jobs?$q${cur:+&cursor=$cur}" >/dev/null
        PAGES=$((PAGES + 1))
        n=$(field data.#)
        for ((i = 0; i < n; i++)); do WALK+="$(field data.$i.id) "; done
        cur=$(field next_cursor)
        [ "$cur" = null ] && break
        [ "$PAGES" -gt 20 ] && break
        # new jobs arriving while a client pages must not disturb the walk
        [ "$PAGES" = 1 ] && [ -n "${2:-}" ] &&
            sql "INSERT INTO jobs (audio_sha256, audio_path, audio_bytes, cache_key, status,
                                   finished_at)
                 SELECT '$SHA', '/a/new', 1, 'k:new', '$2',
                        CASE WHEN '$2' <> 'queued' THEN now() END FROM generate_series(1, 3)"
    done
}
req GET "/v1/jobs?limit=20" >/dev/null
check "list: shape" 'list 20' "$(field object) $(field data.#)"
check "list: newest first, item shape" '{"id":"'$JN'","status":"done","priority":"medium","created_at":TS,"finished_at":TS}' \
    "$(field data.0 | sed -E "s/$TS/TS/g")"
check "list: next item; running job has finished_at null" '{"id":"'$JC'","status":"cancelled","priority":"medium","created_at":TS,"finished_at":TS} null' \
    "$(field data.1 | sed -E "s/$TS/TS/g") $(field data.4.finished_at)"
walk "limit=20" queued
check "list: 3 pages of 20" 3 "$PAGES"
check "list: every job exactly once, newest first" "$EXPECTED" "$WALK"
check "list: ids unique" 45 "$(tr ' ' '\n' <<<"$WALK" | sed '/^$/d' | sort -u | wc -l)"
EXPECTED_DONE=$(sql "SELECT id FROM jobs WHERE status = 'done' ORDER BY created_at DESC, id DESC" | tr '\n' ' ')
walk "status=done&limit=10" done
check "list status=done: 3 pages" 3 "$PAGES"
check "list status=done: all done jobs once, in order" "$EXPECTED_DONE" "$WALK"
req GET "/v1/jobs?status=failed" >/dev/null
check "list status=failed: the dead letters" "1 $JF failed null" \
    "$(field data.#) $(field data.0.id) $(field data.0.status) $(field next_cursor)"
req GET "/v1/jobs?limit=100" >/dev/null
check "list limit=100" "51 null" "$(field data.#) $(field next_cursor)"
req GET "/v1/jobs" >/dev/null
check "list default limit 20" 20 "$(field data.#)"
check "list status= (empty) means all" 200 "$(req GET '/v1/jobs?status=&limit=1')"
for bad in 0 101 -1 abc 5x 99999999999999999999; do
    check "list limit=$bad → 400" "400 invalid_limit" "$(req GET "/v1/jobs?limit=$bad") $(field error.code)"
done
check "list status=bogus → 400" "400 invalid_status" "$(req GET '/v1/jobs?status=bogus') $(field error.code)"
for bad in abc 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!' AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA \
    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA '%00AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' '' \
    ________________________________ 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D%3D'; do
    check "list cursor=$bad → 400" "400 invalid_cursor" "$(req GET "/v1/jobs?cursor=$bad") $(field error.code)"
done
check "list: a well-formed cursor past the end → empty page" '200 0 null' \
    "$(req GET '/v1/jobs?cursor=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA') $(field data.#) $(field next_cursor)"

# ---- GET /v1/transcripts/{id} ----
tget() { # tget FORMAT → status; body in $T/body, content type in $T/ct
    local r
    r=$(curl -s -o "$T/body" -w '%{http_code} %{content_type}' "$API/v1/transcripts/$JD${1:+?format=$1}")
    echo "${r#* }" >"$T/ct"
    echo "${r%% *}"
}
check "transcript default: 200" 200 "$(tget)"
check "transcript default is json" "application/json" "$(cat "$T/ct")"
check "transcript json bytes" $'{\n  "text": "Hello world. This is steno. Much later --> arrow."\n}' "$(body)"
check "transcript text: 200" 200 "$(tget text)"
check "transcript text content type" "text/plain; charset=utf-8" "$(cat "$T/ct")"
printf 'Hello world. This is steno. Much later --> arrow.\n' >"$T/want"
check_true "transcript text bytes" cmp -s "$T/want" "$T/body"
check "transcript srt: 200" 200 "$(tget srt)"
printf '1\n00:00:00,000 --> 00:00:02,500\nHello world.\n\n2\n00:00:02,500 --> 00:00:07,480\nThis is steno.\n\n3\n01:02:03,250 --> 01:02:05,500\nMuch later -> arrow.\n\n' >"$T/want"
check_true "transcript srt bytes" cmp -s "$T/want" "$T/body"
check "transcript srt content type" "text/plain; charset=utf-8" "$(cat "$T/ct")"
check "transcript vtt: 200" 200 "$(tget vtt)"
printf 'WEBVTT\n\n00:00:00.000 --> 00:00:02.500\nHello world.\n\n00:00:02.500 --> 00:00:07.480\nThis is steno.\n\n01:02:03.250 --> 01:02:05.500\nMuch later -> arrow.\n\n' >"$T/want"
check_true "transcript vtt bytes" cmp -s "$T/want" "$T/body"
check "transcript verbose_json: 200" 200 "$(tget verbose_json)"
check "transcript verbose_json content type" "application/json" "$(cat "$T/ct")"
check "verbose_json: task language duration" "transcribe en 3725.5" \
    "$(field task) $(field language) $(field duration)"
check "verbose_json: segments" "3 2 3723.25 3725.5  Much later --> arrow. [50600]" \
    "$(field segments.#) $(field segments.2.id) $(field segments.2.start) $(field segments.2.end) $(field segments.2.text) $(field segments.2.tokens)"
check "verbose_json: segment extras" "-0.25 0.01 1.1 0" \
    "$(field segments.0.avg_logprob) $(field segments.0.no_speech_prob) $(field segments.0.compression_ratio) $(field segments.0.seek)"
check "verbose_json: words" '2 world. 0.7' "$(field words.#) $(field words.1.word) $(field words.1.start)"
check "transcript format=xml → 400" "400 invalid_format" \
    "$(curl -s -o "$T/body" -w '%{http_code}' "$API/v1/transcripts/$JD?format=xml") $(field error.code)"
check "transcript of queued job → 409" "409 transcript_not_ready" "$(req GET /v1/transcripts/$JQ) $(field error.code)"
check_contains "409 names the status" queued "$(field error.message)"
check "transcript of running job → 409" 409 "$(req GET /v1/transcripts/$JR)"
check_contains "409 names running" running "$(field error.message)"
check "transcript of failed job → 409" 409 "$(req GET /v1/transcripts/$JF)"
check "transcript unknown → 404" "404 job_not_found" \
    "$(req GET /v1/transcripts/00000000-0000-4000-8000-0000000000ff) $(field error.code)"
check "transcript malformed → 404" "404 job_not_found" "$(req GET /v1/transcripts/xyz) $(field error.code)"
check "transcript done but evicted from the cache → 404" "404 transcript_not_found" \
    "$(req GET /v1/transcripts/$JN) $(field error.code)"

# ---- GET /api/queue-status ----
check "queue-status: 200" 200 "$(req GET /api/queue-status)"
check "queue: counts" '{"queued":18,"running":1,"done":30,"failed":1,"cancelled":1,"high":1,"medium":17,"low":0}' \
    "$(printf '{"queued":%s,"running":%s,"done":%s,"failed":%s,"cancelled":%s,"high":%s,"medium":%s,"low":%s}' \
        "$(field queue.queued)" "$(field queue.running)" "$(field queue.done)" "$(field queue.failed)" \
        "$(field queue.cancelled)" "$(field queue.queued_by_priority.high)" \
        "$(field queue.queued_by_priority.medium)" "$(field queue.queued_by_priority.low)")"
check "queue: db counts agree" "$(sql "SELECT count(*) FILTER (WHERE status='queued') FROM jobs")" "$(field queue.queued)"
check_true "queue: oldest queued age" awk -v s="$(field queue.oldest_queued_seconds)" \
    -v want="$(sql "SELECT extract(epoch FROM now() - min(created_at)) FROM jobs WHERE status = 'queued'")" \
    'BEGIN { exit !(s > 59 && s - want < 5 && want - s < 5) }'
check "queue: processing here" "0 0" "$(field processing.jobs_running_here) $(field processing.capacity_here)"
check_true "queue: upstream fields" grep -Eq '"upstream":\{"connections":[0-9]+,"streams":[0-9]+,"inflight":[0-9]+,"cap":[0-9]+,"queued":[0-9]+\}' "$T/body"
check_true "queue: database up" awk -v u="$(field database.up)" -v t="$(field database.total)" 'BEGIN { exit !(u >= 1 && u <= t) }'
check "queue: database queued, workers, mode" "0 1 full" "$(field database.queued) $(field workers) $(field mode)"

# ---- POST /v1/jobs/{id}/retry ----
notifications steno_jobs >/dev/null # drop anything earlier
check "retry failed: 202" 202 "$(req POST /v1/jobs/$JF/retry)"
check "retry: body" "{\"id\":\"$JF\",\"status\":\"queued\",\"chunks_requeued\":2}" "$(body)"
check "retry: chunks (only the failed ones move)" "0|done|1|true 1|pending|0|true 2|pending|0|true 3|skipped|0|true" \
    "$(sql "SELECT idx || '|' || status || '|' || attempts || '|' || (last_error IS NULL)
            FROM chunks WHERE job_id = '$JF' ORDER BY idx" | tr '\n' ' ' | sed 's/ $//')"
check "retry: done chunk keeps its result" t "$(sql "SELECT result IS NOT NULL FROM chunks WHERE job_id = '$JF' AND idx = 0")"
check "retry: job queued, error and finished_at cleared" "queued|t|t|t" \
    "$(sql "SELECT status, error IS NULL, finished_at IS NULL, lease_owner IS NULL FROM jobs WHERE id = '$JF'")"
check "retry: NOTIFY steno_jobs" "$JF" "$(notifications steno_jobs)"
check "retry: audit row" "api|job:$JF|2" \
    "$(sql "SELECT actor, target, details->>'chunks_requeued' FROM audit_log WHERE action = 'job.retry'")"
check "retry again (now queued) → 409" "409 job_not_failed" "$(req POST /v1/jobs/$JF/retry) $(field error.code)"
check_contains "409 names the status" queued "$(field error.message)"
check "retry done job → 409" "409 job_not_failed" "$(req POST /v1/jobs/$JD/retry) $(field error.code)"
check "retry unknown → 404" "404 job_not_found" "$(req POST /v1/jobs/00000000-0000-4000-8000-0000000000ff/retry) $(field error.code)"
check "retry malformed → 404" 404 "$(req POST /v1/jobs/nope/retry)"
check "no NOTIFY for refused retries" "" "$(notifications steno_jobs)"

# ---- DELETE /v1/jobs/{id} ----
check "delete queued: 200" 200 "$(req DELETE /v1/jobs/$JQ)"
check "delete queued: cancelled" "{\"id\":\"$JQ\",\"status\":\"cancelled\"}" "$(body)"
check "delete queued: row cancelled, finished" "cancelled|t" \
    "$(sql "SELECT status, finished_at IS NOT NULL FROM jobs WHERE id = '$JQ'")"
check "delete running: 200 cancelled" "200 cancelled" "$(req DELETE /v1/jobs/$JR) $(field status)"
check "delete running: lease cleared" "cancelled|t|t|t" \
    "$(sql "SELECT status, lease_owner IS NULL, lease_expires_at IS NULL, finished_at IS NOT NULL FROM jobs WHERE id = '$JR'")"
check "delete running: chunks kept" 3 "$(sql "SELECT count(*) FROM chunks WHERE job_id = '$JR'")"
check "cancel: NOTIFY steno_cancel for each" "$JQ $JR" "$(notifications steno_cancel)"
check "delete done: 200 deleted" "{\"id\":\"$JD\",\"deleted\":true}" "$(req DELETE /v1/jobs/$JD >/dev/null; body)"
check "delete done: row and chunks gone" "0 0" \
    "$(sql "SELECT count(*) FROM jobs WHERE id = '$JD'") $(sql "SELECT count(*) FROM chunks WHERE job_id = '$JD'")"
check "delete done: transcript stays in the cache" "1|t" \
    "$(sql "SELECT count(*), bool_and(job_id IS NULL) FROM transcripts WHERE cache_key = 'k:d'")"
check "delete cancelled: deleted" "200 true" "$(req DELETE /v1/jobs/$JC) $(field deleted)"
check "delete the cancelled queued job: deleted" "200 true" "$(req DELETE /v1/jobs/$JQ) $(field deleted)"
check "delete retried (queued) job: cancelled" "200 cancelled" "$(req DELETE /v1/jobs/$JF) $(field status)"
check "delete it again: deleted" "200 true" "$(req DELETE /v1/jobs/$JF) $(field deleted)"
check "deleted job → 404" "404 job_not_found" "$(req GET /v1/jobs/$JD) $(field error.code)"
check "delete unknown → 404" "404 job_not_found" "$(req DELETE /v1/jobs/$JD) $(field error.code)"
check "delete malformed → 404" 404 "$(req DELETE /v1/jobs/1234)"
check "no NOTIFY for deletions" "$JF" "$(notifications steno_cancel)"
check "audit: one row per change, in order" \
    "job.cancel:$JQ:queued job.cancel:$JR:running job.delete:$JD:done job.delete:$JC:cancelled job.delete:$JQ:cancelled job.cancel:$JF:queued job.delete:$JF:cancelled" \
    "$(sql "SELECT action || ':' || substr(target, 5) || ':' || (details->>'previous_status')
            FROM audit_log WHERE action <> 'job.retry' ORDER BY id" | tr '\n' ' ' | sed 's/ $//')"
check "audit: actor api, request id kept" "api 7" \
    "$(sql "SELECT min(actor) || ' ' || count(details->>'request_id') FROM audit_log WHERE action <> 'job.retry'")"

# lock_hold SQL: BEGIN and SQL in a psql session of its own, held open until
# lock_release commits it; returns once SQL has run (its locks are taken).
lock_hold() {
    rm -f "$T/lock.in" "$T/lock.out"
    mkfifo "$T/lock.in"
    psql "$DB" -qAtX -v ON_ERROR_STOP=1 <"$T/lock.in" >"$T/lock.out" 2>&1 &
    LOCKER=$!
    PIDS+=("$LOCKER")
    exec {LOCK_FD}>"$T/lock.in"
    echo "BEGIN; $1; SELECT 'held';" >&"$LOCK_FD"
    for _ in $(seq 300); do
        grep -qx held "$T/lock.out" && return 0
        sleep 0.1
    done
    echo "lock_hold: not held: $(cat "$T/lock.out")" >&2
    return 1
}
lock_release() {
    echo "COMMIT;" >&"$LOCK_FD"
    exec {LOCK_FD}>&-
    wait "$LOCKER"
}
# wait_lock_waiter: until some statement waits on a lock (up to 30 s)
wait_lock_waiter() {
    for _ in $(seq 300); do
        [ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")" -ge 1 ] &&
            return 0
        sleep 0.1
    done
    return 1
}
# wait_status ID STATUS: until the job has STATUS (up to 30 s); prints the last seen
wait_status() {
    local s=""
    for _ in $(seq 300); do
        s=$(sql "SELECT status FROM jobs WHERE id = '$1'")
        [ "$s" = "$2" ] && break
        sleep 0.1
    done
    echo "$s"
}

# A client that leaves while its DELETE waits on a row lock: the statement
# still completes, the server drops the answer and carries on. The lock is
# held until the client has gone, whatever the machine's speed.
JL=10000000-0000-4000-8000-000000000030
lock_hold "SELECT 1 FROM jobs WHERE id = '$JL' FOR UPDATE"
exec 7<>"/dev/tcp/127.0.0.1/$PORT"
printf 'DELETE /v1/jobs/%s HTTP/1.1\r\nHost: x\r\n\r\n' "$JL" >&7
check_true "the DELETE waits on the row lock" wait_lock_waiter
exec 7>&- # the client gives up while the row is locked
lock_release
check "the abandoned cancel still committed" cancelled "$(wait_status "$JL" cancelled)"
check "server fine after the abandoned request" 200 "$(req GET /v1/jobs/$JL)"

# A job that finishes while its DELETE waits on the row lock: the cancel no
# longer applies, nothing happened; the handler runs the statement again and
# deletes the now finished job. The state change commits only once the
# DELETE waits on its lock.
JS=10000000-0000-4000-8000-000000000031
lock_hold "UPDATE jobs SET status = 'done', finished_at = now() WHERE id = '$JS'"
req DELETE /v1/jobs/$JS >"$T/race.code" &
RACER=$!
check_true "the DELETE waits on the state change's row lock" wait_lock_waiter
lock_release
wait "$RACER"
check "delete racing a state change → deleted after a second run" "200 true" \
    "$(cat "$T/race.code") $(field deleted)"
check_true "…the second run logged" \
    grep -q "job=$JS changed state under the delete; again" "$T/stenod.log"
check "race: one audit row, from the second run" "job.delete:done" \
    "$(sql "SELECT string_agg(action || ':' || (details->>'previous_status'), ' ')
            FROM audit_log WHERE target = 'job:$JS'")"

# ---- PostgreSQL down → 503 + Retry-After; back → 200 ----
"$STACK" pg-stop "$SD" >/dev/null 2>&1
JX=10000000-0000-4000-8000-000000000001
for ep in "GET /v1/jobs/$JX" "GET /v1/jobs" "GET /v1/transcripts/$JX" "POST /v1/jobs/$JX/retry" \
    "DELETE /v1/jobs/$JX" "GET /api/queue-status"; do
    check "db down: $ep → 503" "503 database_unavailable" "$(req $ep) $(field error.code)"
    check_true "db down: $ep Retry-After: 5" grep -qi '^retry-after: 5' "$T/hdr"
done
check "db down: malformed id is still a 404" 404 "$(req GET /v1/jobs/zzz)"
check "db down: bad limit is still a 400" 400 "$(req GET '/v1/jobs?limit=0')"
"$STACK" pg-start "$SD" >/dev/null 2>&1
up=0
for _ in $(seq 100); do
    [ "$(req GET /v1/jobs/$JX)" = 200 ] && { up=1; break; }
    sleep 0.1
done
check "db back: endpoints answer again" 1 "$up"
check "db back: list works" 200 "$(req GET /v1/jobs?limit=5)"
check "db back: queue-status works" 200 "$(req GET /api/queue-status)"

# ---- no --database-url at all → 503 everywhere ----
stop_pid=$SERVER_PID
start_server "$BUILD/stenod" nodb --upstream-url http://127.0.0.1:9/v1 || exit 1
API="http://127.0.0.1:$PORT"
for ep in "GET /v1/jobs/$JX" "GET /v1/jobs" "GET /v1/transcripts/$JX" "POST /v1/jobs/$JX/retry" \
    "DELETE /v1/jobs/$JX" "GET /api/queue-status"; do
    check "no database: $ep → 503" "503 database_unavailable" "$(req $ep) $(field error.code)"
done
check_true "no database: Retry-After" grep -qi '^retry-after: 5' "$T/hdr"

kill -TERM "$stop_pid" "$SERVER_PID"
wait_exit "$stop_pid" 10
check "stenod exits cleanly" 0 "$EXIT_RC"
wait_exit "$SERVER_PID" 10
check "stenod without a database exits cleanly" 0 "$EXIT_RC"
check "no errors logged" "" "$(grep -h ' ERROR ' "$T/stenod.log" "$T/nodb.log" | head -3)"
finish

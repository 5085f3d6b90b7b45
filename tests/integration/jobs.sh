#!/usr/bin/env bash
# The main job end to end: real PostgreSQL (local-stack), steno-mock as the
# upstream, stenod with 2 workers. Tone-coded audio makes every transcript
# checkable word by word (tone-check). Covers: 10-minute files in wav, flac
# and mp3; 20 jobs at once; kill -9 of the worker running a job (it
# resumes elsewhere without re-sending finished chunks); a PostgreSQL
# restart mid-run; 20% upstream faults; malformed uploads leaving nothing.
. "$(dirname "$0")/lib.sh"

GEN="$BUILD/tools/gen-audio/gen-audio"
CHECK="$BUILD/tools/gen-audio/tone-check"
start_stack
migrate_db

MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.02 --log-level warn
MOCK_PID=$LAST_PID
MOCK="http://127.0.0.1:$MP"
wait_http "$MOCK/healthz"
mstat() { curl -s "$MOCK/stats" | sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }

WEBHOOK_SECRET=s3cret-for-tests
start_server "$BUILD/stenod" stenod --workers 2 --database-url "$STENO_DATABASE_URL" \
    --upstream-url "$MOCK/v1" --api-key test-key --lease 3s --claim-interval 0.2s \
    --chunk-min 20s --chunk-max 60s --upstream-concurrency 4 --upstream-retries 6 \
    --jobs-per-worker 4 --max-upload 40M --log-file "$T/steno.log" --webhook-secret "$WEBHOOK_SECRET"
S="http://127.0.0.1:$PORT"
SUP=$SERVER_PID
DATA="$T/stenod-data"

# fetch OUT CURL-ARGS…: curl into OUT. A 503 (the worker that answers is
# still reconnecting to PostgreSQL after the restart below) is retried, as
# the Retry-After in it asks clients to.
fetch() {
    local out=$1
    shift
    for _ in $(seq 150); do
        [ "$(curl -s -o "$out" -w '%{http_code}' "$@")" = 503 ] || break
        sleep 0.2
    done
}
submit() { # submit FILE [curl args…] → job id
    local out
    out=$(mktemp "$T/submit.XXXXXX")
    fetch "$out" -F "file=@$1" "${@:2}" "$S/v1/transcriptions"
    sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$out"
}
status() { sql "SELECT status FROM jobs WHERE id = '$1'"; }
wait_jobs() { # wait_jobs SECONDS ID… : until every job is done/failed
    local limit=$1 id left; shift
    for id in "$@"; do [ -n "$id" ] || { echo "# wait_jobs: a job was not accepted"; return 1; }; done
    for _ in $(seq $((limit * 10))); do
        left=0
        for id in "$@"; do
            case $(status "$id") in done | failed | cancelled) ;; *) left=1 ;; esac
        done
        [ $left = 0 ] && return 0
        sleep 0.1
    done
    return 1
}
exact() { # exact ID DURATION [LEAD] → "ok" when the transcript checks out
    fetch "$T/$1.json" "$S/v1/transcripts/$1?format=verbose_json"
    "$CHECK" --duration "$2" --lead "${3:-0}" "$T/$1.json" >"$T/$1.check" 2>&1 && echo ok ||
        echo "$(cat "$T/$1.check") body: $(head -c 300 "$T/$1.json")"
}

# --- 10-minute recordings in three formats
"$GEN" --duration 600 --rate 16000 --format wav --out "$T/long.wav" >/dev/null
"$GEN" --duration 600 --rate 22050 --channels 2 --format flac --seed 2 --out "$T/long.flac" >/dev/null
"$GEN" --duration 600 --rate 16000 --format mp3 --seed 3 --out "$T/long.mp3" >/dev/null
declare -A LONG
for f in wav flac mp3; do LONG[$f]=$(submit "$T/long.$f" -F language=en); done
check_true "three jobs queued" test -n "${LONG[wav]}" -a -n "${LONG[flac]}" -a -n "${LONG[mp3]}"
wait_jobs 120 "${LONG[@]}"
for f in wav flac mp3; do
    check "10-minute $f: done" done "$(status "${LONG[$f]}")"
    check "10-minute $f: transcript exact" ok "$(exact "${LONG[$f]}" 600)"
done
chunks=$(sql "SELECT count(*) FROM chunks WHERE job_id = '${LONG[wav]}'")
check_true "a 10-minute file is cut into several chunks ($chunks)" test "$chunks" -ge 10
sent=$(mstat bytes_received); orig=$(($(stat -c %s "$T/long.wav") + $(stat -c %s "$T/long.flac") + $(stat -c %s "$T/long.mp3")))
echo "# bytes sent upstream for the three files: $sent (files: $orig)"

# --- 20 different files at once
ids=()
for i in $(seq 20); do
    "$GEN" --duration $((20 + i)) --rate 8000 --seed $((100 + i)) --format wav --out "$T/m$i.wav" >/dev/null
done
cpids=()
for i in $(seq 20); do submit "$T/m$i.wav" -F priority=high >"$T/id.$i" & cpids+=($!); done
wait "${cpids[@]}" # only the curls: a bare wait would wait for the servers too
for i in $(seq 20); do ids+=("$(cat "$T/id.$i")"); done
check "20 jobs accepted" 20 "$(printf '%s\n' "${ids[@]}" | grep -c .)"
wait_jobs 120 "${ids[@]}"
ok=0
for i in $(seq 20); do [ "$(exact "${ids[$((i - 1))]}" $((20 + i)))" = ok ] && ok=$((ok + 1)); done
check "20 concurrent jobs: all exact" 20 "$ok"

# --- kill -9 of the worker running a job: it resumes without re-sending done chunks
curl -s -X POST -d '{"fail_rate":0}' "$MOCK/mock/faults" >/dev/null
kill $MOCK_PID; wait $MOCK_PID 2>/dev/null
start_bg "$T/mock2.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.05 --base-latency 40s --log-level warn
wait_http "$MOCK/healthz"
# 10 chunks of 60 s, 4 in flight, 2 s each: three waves; kill after the first
# (every file here differs in length: gen-audio's --seed only seeds noise, and
# identical audio would be a cache hit, not a job)
"$GEN" --duration 601 --rate 16000 --format wav --out "$T/k.wav" >/dev/null
K=$(submit "$T/k.wav")
N=0; D=0
for _ in $(seq 300); do
    N=$(sql "SELECT count(*) FROM chunks WHERE job_id = '$K'")
    D=$(sql "SELECT count(*) FROM chunks WHERE job_id = '$K' AND status = 'done'")
    [ "$D" -ge 5 ] && [ "$(status "$K")" = running ] && break
    sleep 0.1
done
owner=$(sql "SELECT lease_owner FROM jobs WHERE id = '$K'")
victim=${owner##*:}
check_true "the job runs in a worker of ours" bash -c "ps -o ppid= -p $victim | grep -qw $SUP"
kill -9 "$victim"
echo "# killed worker $victim with $D of $N chunks done"
wait_jobs 60 "$K"
check "job completes after its worker was killed" done "$(status "$K")"
check "and its transcript is exact" ok "$(exact "$K" 601)"
resent=$(( $(mstat 200) - N ))
echo "# the mock answered $(mstat 200) requests for $N chunks ($D done before the kill)"
check_true "no finished chunk was sent again (re-sent $resent <= in flight 4 < done $D)" test "$resent" -le 4 -a "$D" -gt 4
check_true "a new worker replaced the killed one" bash -c "[ \$(ps -o pid= --ppid $SUP | wc -l) = 2 ]"

# --- PostgreSQL restarts mid-run
"$GEN" --duration 200 --rate 16000 --seed 8 --format wav --out "$T/p.wav" >/dev/null
P=$(submit "$T/p.wav")
for _ in $(seq 200); do
    [ "$(sql "SELECT count(*) FROM chunks WHERE job_id = '$P' AND status = 'done'")" -ge 2 ] && break
    sleep 0.1
done
"$SOURCE/tools/local-stack" pg-restart "$STACK" >/dev/null 2>&1
wait_jobs 90 "$P"
check "job completes across a PostgreSQL restart" done "$(status "$P")"
check "its transcript is exact" ok "$(exact "$P" 200)"

# --- 20% of upstream requests fail (500/503/429/reset/GOAWAY): every job completes
curl -s -X POST -d '{"fail_rate":0.2,"fail_mix":"500:1,503:1,429:1,rst:1,goaway:1","seed":42,"retry_after":0}' "$MOCK/mock/faults" >/dev/null
curl -s -X POST "$MOCK/stats/reset" >/dev/null
fids=()
for i in 1 2 3 4 5; do
    "$GEN" --duration $((90 + i)) --rate 16000 --format flac --out "$T/f$i.flac" >/dev/null
    fids+=("$(submit "$T/f$i.flac")")
done
check "20% upstream faults: 5 jobs accepted" 5 "$(printf '%s\n' "${fids[@]}" | grep -c .)"
wait_jobs 120 "${fids[@]}"
ok=0; for i in 0 1 2 3 4; do [ "$(exact "${fids[$i]}" $((91 + i)))" = ok ] && ok=$((ok + 1)); done
check "20% upstream faults: 5 of 5 jobs exact" 5 "$ok"
check_true "faults really happened" test "$(curl -s "$MOCK/stats" | sed -n 's/.*"by_fault":{\([^}]*\)}.*/\1/p' | tr ',' '\n' | awk -F: '{s += $2} END {print s}')" -ge 1
curl -s -X POST -d '{"fail_rate":0}' "$MOCK/mock/faults" >/dev/null

# --- malformed uploads: the right status, no file or row left behind
before_jobs=$(sql "SELECT count(*) FROM jobs")
before_audio=$(ls "$DATA/audio" | wc -l)
code() { curl -s -o "$T/err.json" -w '%{http_code}' "$@"; }
echo "just text" >"$T/note.txt"
head -c 44 "$T/m1.wav" >"$T/trunc.wav"
head -c 5000 /dev/urandom >"$T/noise.bin"
check "text/plain body → 415" 415 "$(code -H 'Content-Type: text/plain' --data-binary @"$T/note.txt" "$S/v1/transcriptions")"
check "a text file sent as audio → 415" 415 "$(code -F "file=@$T/note.txt;type=audio/wav" "$S/v1/transcriptions")"
check "random bytes → 415" 415 "$(code -H 'Content-Type: audio/wav' --data-binary @"$T/noise.bin" "$S/v1/transcriptions")"
check "a WAV header without audio → 400/422" 1 "$(c=$(code -F "file=@$T/trunc.wav" "$S/v1/transcriptions"); [ "$c" = 400 ] || [ "$c" = 422 ]; echo $((1 - $?)))"
check "empty upload → 400" 400 "$(code -H 'Content-Type: audio/wav' --data-binary '' "$S/v1/transcriptions")"
check "bad priority → 400" 400 "$(code -F "file=@$T/m2.wav" -F priority=urgent "$S/v1/transcriptions")"
check_contains "bad priority: JSON error" '"code":"invalid_parameter"' "$(cat "$T/err.json")"
check "bad temperature → 400" 400 "$(code -F "file=@$T/m3.wav" -F temperature=7 "$S/v1/transcriptions")"
head -c 45000000 /dev/zero >"$T/huge.wav"
check "over --max-upload → 413" 413 "$(code -H 'Content-Type: audio/wav' --data-binary @"$T/huge.wav" "$S/v1/transcriptions")"
check "no job row was created" "$before_jobs" "$(sql "SELECT count(*) FROM jobs")"
check "no temp file left" 0 "$(ls "$DATA/tmp" | wc -l)"
check "no new audio file left" "$before_audio" "$(ls "$DATA/audio" | wc -l)"

# --- idempotency: same key, same job
a=$(curl -s -H 'Idempotency-Key: k-1' -F "file=@$T/m4.wav" "$S/v1/transcriptions")
b=$(curl -s -D "$T/h" -H 'Idempotency-Key: k-1' -F "file=@$T/m4.wav" "$S/v1/transcriptions")
check "same Idempotency-Key → same job id" "$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$a")" "$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' <<<"$b")"
check_contains "…marked as a replay" "idempotent-replayed: true" "$(cat "$T/h")"

# --- webhooks: signed, retried until a 2xx, for done and failed jobs
HP=$(free_port)
start_bg "$T/hooks.log" "$BUILD/tests/helpers/http-testd" --listen "127.0.0.1:$HP" \
    --data-dir "$T/hooks-data"
wait_http "http://127.0.0.1:$HP/healthz"
W1=$(submit "$T/m5.wav" -F "webhook_url=http://127.0.0.1:$HP/test/hook?fail=1&event=job.done")
W2=$(submit "$T/m6.wav" -F model=no-such-model -F "webhook_url=http://127.0.0.1:$HP/test/hook")
wait_jobs 60 "$W1" "$W2"
check "webhook job done" done "$(status "$W1")"
check "unknown model: job failed" failed "$(status "$W2")"
for _ in $(seq 100); do
    n=$(curl -s "http://127.0.0.1:$HP/test/hooks" | grep -o '"answered"' | wc -l)
    [ "$n" -ge 3 ] && break
    sleep 0.1
done
hooks=$(curl -s "http://127.0.0.1:$HP/test/hooks")
check "three deliveries: job.done failed once then retried, job.failed" 3 "$(grep -o '"answered"' <<<"$hooks" | wc -l)" ||
    echo "$hooks"
check "job.done: one 500 then one 200" "500 200" "$(for i in 0 1 2; do [ "$("$BUILD/tests/mock/jget" $i.event <<<"$hooks")" = job.done ] && "$BUILD/tests/mock/jget" $i.answered <<<"$hooks"; done | paste -sd' ')"
check_contains "job.done delivered" '"event":"job.done"' "$hooks"
check_contains "job.failed delivered with its error" 'upstream_rejected' "$hooks"
JGET="$BUILD/tests/mock/jget"
ts=$("$JGET" 0.timestamp <<<"$hooks")
sig=$("$JGET" 0.signature <<<"$hooks")
body=$("$JGET" 0.body <<<"$hooks")
want="sha256=$(printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$WEBHOOK_SECRET" | awk '{print $NF}')"
check "signature verifies with the shared secret" "$want" "$sig"
check_contains "failed attempts are logged" "attempt 1 failed (status 500)" "$(grep webhook "$T/steno.log")"
check_contains "deliveries are logged" "webhook: job.done delivered" "$(grep webhook "$T/steno.log")"

check "stenod logged no ERROR but the expected crash" 0 "$(grep ' ERROR ' "$T/steno.log" | grep -vc 'killed by signal')"
finish

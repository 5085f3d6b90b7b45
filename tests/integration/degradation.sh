#!/usr/bin/env bash
# Degradation (FR-10): Redis stops under a running stenod with 2 workers —
# every worker switches to degraded mode at once, jobs and uploads keep
# working, and full mode returns only after Redis has been healthy for the
# recovery window. Then the operator override: refused without the admin
# key, applied in every worker, on record in the audit log, kept by a
# worker the supervisor restarts, and cleared again.
. "$(dirname "$0")/lib.sh"

GEN="$BUILD/tools/gen-audio/gen-audio"
start_stack redis
migrate_db

MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.02 --log-level warn
MOCK="http://127.0.0.1:$MP"
wait_http "$MOCK/healthz"

ADMIN=adm1n-key-for-tests
start_server "$BUILD/stenod" stenod --workers 2 --database-url "$STENO_DATABASE_URL" \
    --redis-url "$STENO_REDIS_URL" --redis-probe-interval 300ms --redis-recover-after 2s \
    --redis-timeout 1s --upstream-url "$MOCK/v1" --api-key test-key --claim-interval 0.2s \
    --chunk-min 20s --chunk-max 60s --admin-key "$ADMIN" --log-file "$T/steno.log"
S="http://127.0.0.1:$PORT"
SUP=$SERVER_PID

# wait_metric NAME VALUE SECONDS: until the sum over workers equals VALUE
wait_metric() {
    for _ in $(seq $(($3 * 10))); do
        [ "$(metric "$PORT" "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
ready_field() { curl -s "$S/readyz" | "$BUILD/tests/mock/jget" "$1" 2>/dev/null; }
submit() { curl -s -F "file=@$1" "$S/v1/transcriptions" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }
wait_done() { # wait_done ID SECONDS → final status
    local s=""
    for _ in $(seq $(($2 * 10))); do
        s=$(sql "SELECT status FROM jobs WHERE id = '$1'")
        case $s in done | failed | cancelled) break ;; esac
        sleep 0.1
    done
    echo "$s"
}
# logged_by LINE TEXT: how many workers logged TEXT after line LINE of the log
logged_by() {
    tail -n +"$(($1 + 1))" "$T/steno.log" | grep -a -F "$2" | sed -n 's/.* pid=\([0-9]*\) .*/\1/p' |
        sort -u | wc -l
}
log_lines() { wc -l <"$T/steno.log"; }
"$GEN" --duration 90 --rate 8000 --format wav --out "$T/a.wav" >/dev/null
"$GEN" --duration 91 --rate 8000 --format wav --out "$T/b.wav" >/dev/null
"$GEN" --duration 92 --rate 8000 --format wav --out "$T/c.wav" >/dev/null

# --- full mode at start
check_true "both workers connect to Redis (full mode)" wait_metric steno_redis_connected 2 10
check_true "no worker degraded" wait_metric steno_redis_degraded 0 10
check "/readyz: ready" ready "$(ready_field status)"
check "/readyz: mode full" full "$(ready_field mode)"
check "/readyz: redis up" up "$(ready_field dependencies.redis.state)"
check "/readyz: database up" up "$(ready_field dependencies.database.state)"
A=$(submit "$T/a.wav")
check "a job completes with Redis" done "$(wait_done "$A" 60)"

# --- Redis stops: degraded at once, nothing fails. (A Redis reply later
# than --redis-timeout also degrades a worker, for 2 s: on a loaded machine
# that can have happened meanwhile, so wait for full mode first.)
check_true "full mode before Redis stops" wait_metric steno_redis_degraded 0 15
L0=$(log_lines)
"$SOURCE/tools/local-stack" redis-stop "$T/stack" >/dev/null 2>&1
check_true "both workers degrade when Redis stops" wait_metric steno_redis_degraded 2 10
check "/readyz: mode degraded" degraded "$(ready_field mode)"
check "/readyz: still ready (degraded mode serves)" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/readyz")"
check_contains "/readyz says why" "connection lost" "$(ready_field mode_reason)"
code=$(curl -s -o "$T/b.out" -w '%{http_code}' -F "file=@$T/b.wav" "$S/v1/transcriptions")
check "upload accepted without Redis" 202 "$code"
B=$(sed -n 's/.*"id":"\([^"]*\)".*/\1/p' "$T/b.out")
check "a job completes without Redis" done "$(wait_done "$B" 60)"
check "transition logged by both workers" 2 "$(logged_by "$L0" 'degraded mode, running without Redis')"

# --- Redis back: full mode only after the recovery window
L1=$(log_lines)
"$SOURCE/tools/local-stack" redis-start "$T/stack" >/dev/null 2>&1
check_true "both workers reconnect" wait_metric steno_redis_connected 2 10
check_true "full mode returns after the recovery window" wait_metric steno_redis_degraded 0 15
check "/readyz: mode full again" full "$(ready_field mode)"
check "return logged with its reason by both workers" 2 "$(logged_by "$L1" 'full mode (healthy for 2s)')"
C=$(submit "$T/c.wav")
check "a job completes after recovery" done "$(wait_done "$C" 60)"

# --- operator override
ov() { curl -s -o "$T/ov.out" -w '%{http_code}' -X POST "$@" "$S/admin/degradation/override"; }
check "override without a key: 401" 401 "$(ov -d '{"mode":"degraded"}')"
check "override with a wrong key: 401" 401 "$(ov -H 'Authorization: Bearer nope' -d '{"mode":"degraded"}')"
check "override with a bad body: 400" 400 \
    "$(ov -H "Authorization: Bearer $ADMIN" -d '{"mode":"sideways"}')"
check "override with a body that is not JSON: 400" 400 \
    "$(ov -H "Authorization: Bearer $ADMIN" -d 'degraded')"
check "override to degraded: 200" 200 \
    "$(ov -H "Authorization: Bearer $ADMIN" -d '{"mode":"degraded","reason":"redis maintenance"}')"
check_contains "the answer says forced" '"forced":true' "$(cat "$T/ov.out")"
check_true "every worker is degraded by the override" wait_metric steno_redis_degraded 2 10
check "/readyz: mode_forced" true "$(ready_field mode_forced)"
check "/readyz: the operator's reason" "override: redis maintenance" "$(ready_field mode_reason)"
check "override on record in the audit log" 1 \
    "$(sql "SELECT count(*) FROM audit_log WHERE action = 'degradation.override' AND details->>'mode' = 'degraded'")"
sleep 3 # longer than the recovery window: a healthy Redis does not undo it
check "healthy Redis does not undo an override" 2 "$(metric "$PORT" steno_redis_degraded)"
victim=$(pgrep -P "$SUP" | head -n1)
kill -KILL "$victim"
for _ in $(seq 100); do
    n=$(pgrep -P "$SUP" | grep -vc "^$victim$")
    [ "$n" = 2 ] && break
    sleep 0.1
done
check "the killed worker was replaced" 2 "$n"
sleep 1
check_true "the restarted worker keeps the override" wait_metric steno_redis_degraded 2 10
check "override back to full: 200" 200 \
    "$(ov -H "Authorization: Bearer $ADMIN" -d '{"mode":"full","reason":"done"}')"
check_true "every worker back to full" wait_metric steno_redis_degraded 0 10
check "/readyz: not forced" false "$(ready_field mode_forced)"
curl -s "$S/api/metrics" >"$T/m.json"
check "/api/metrics: the same gauge as /metrics" 0 \
    "$("$BUILD/tests/mock/jget" metrics.steno_redis_degraded.series.0.value "$T/m.json")"
check "/api/metrics: histograms carry quantiles" true \
    "$("$BUILD/tests/mock/jget" metrics.steno_http_request_duration_seconds.series.0.p99 "$T/m.json" |
        awk '{ print ($1 > 0) ? "true" : "false" }')"

# --- an admin endpoint without --admin-key is refused outright
start_server "$BUILD/stenod" plain --database-url "$STENO_DATABASE_URL" --redis-url "" --jobs-per-worker 0 \
    --upstream-url "$MOCK/v1"
check "override without --admin-key: 403" 403 \
    "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d '{"mode":"degraded"}' \
        "http://127.0.0.1:$PORT/admin/degradation/override")"
check "/readyz without Redis configured: redis disabled" disabled \
    "$(curl -s "http://127.0.0.1:$PORT/readyz" | "$BUILD/tests/mock/jget" dependencies.redis.state)"
finish

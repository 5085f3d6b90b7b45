#!/usr/bin/env bash
# --upstream-rpm is one limit for the whole cluster: two stenod processes
# ("hosts") sharing a Redis split it between the ones with upstream work,
# the rate follows the work as it moves, and without Redis each falls back
# to its even share. Work is made with the synchronous endpoint, which runs
# in the process that answers, against a mock slow enough to keep it busy.
. "$(dirname "$0")/lib.sh"

GEN="$BUILD/tools/gen-audio/gen-audio"
start_stack redis
MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 1 --base-latency 60s --log-level warn
wait_http "http://127.0.0.1:$MP/healthz"
common=(--database-url "" --redis-url "$STENO_REDIS_URL" --upstream-url "http://127.0.0.1:$MP/v1"
    --api-key test-key --upstream-rpm 600 --redis-probe-interval 300ms --redis-recover-after 1s)
start_server "$BUILD/stenod" a "${common[@]}" --log-file "$T/a-steno.log"
A=$PORT
start_server "$BUILD/stenod" b "${common[@]}" --log-file "$T/b-steno.log"
B=$PORT

share() { metric "$1" steno_upstream_rpm_share; }
wait_share() { # wait_share PORT VALUE : up to 10 s
    for _ in $(seq 100); do [ "$(share "$1")" = "$2" ] && return 0; sleep 0.1; done
    return 1
}
work() { # work PORT: a synchronous transcription held by the slow mock
    curl -s -o /dev/null -F "file=@$T/a.wav" "http://127.0.0.1:$1/v1/audio/transcriptions" &
    CURLS+=($!)
}
CURLS=()
"$GEN" --duration 30 --rate 8000 --format wav --out "$T/a.wav" >/dev/null

check_true "both idle: each could take the whole limit (600)" \
    eval 'wait_share $A 600 && wait_share $B 600'
work "$A"
check_true "A busy: A keeps 600, idle B would get half (300)" \
    eval 'wait_share $B 300 && wait_share $A 600'
work "$B"
check_true "both busy: 300 each, 600 in total" eval 'wait_share $A 300 && wait_share $B 300'
"$SOURCE/tools/local-stack" redis-stop "$T/stack" >/dev/null 2>&1
check_true "Redis gone: each falls back to rpm / --workers (600)" \
    eval 'wait_share $A 600 && wait_share $B 600'
"$SOURCE/tools/local-stack" redis-start "$T/stack" >/dev/null 2>&1
check_true "Redis back: shared again (300 each)" eval 'wait_share $A 300 && wait_share $B 300'
kill "${CURLS[@]}" 2>/dev/null
wait "${CURLS[@]}" 2>/dev/null
check_true "work gone: both idle again (600 each)" eval 'wait_share $A 600 && wait_share $B 600'
finish

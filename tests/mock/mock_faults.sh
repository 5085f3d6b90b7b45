#!/usr/bin/env bash
# steno-mock's fault injection: script mode exactly (500, 503, 429 with
# Retry-After, rst, stall, goaway) over HTTP/1.1 and HTTP/2 with curl and
# nghttp; stall until the client gives up or --stall-seconds; the seeded
# fail rate reproducible; runtime POST /mock/faults; /stats counts.
. "$(dirname "$0")/mock_lib.sh"

gen a.wav --duration 1.2
start_mock faults --time-scale 0.01 --retry-after 2 --script "2=503,3=500,4=429,5=rst,6=stall"

# one request each, in order: status (000 = no answer) and curl's exit code
req() { # CURL-ARGS... → "status rc"; headers in $T/h, body in $T/b
    local s rc
    s=$(transcribe "$T/a.wav" -D "$T/h" -o "$T/b" -w '%{http_code}' "$@")
    rc=$?
    echo "$s $rc"
}
check "script 1: ok" "200 0" "$(req)"
check "script 2: 503" "503 0" "$(req)"
h=$(tr -d '\r' <"$T/h")
check_contains "503: Retry-After scaled and rounded up (2 s × 0.01)" "retry-after: 1" "$h"
check_contains "503: retry-after-ms exact" "retry-after-ms: 20" "$h"
check_contains "503: request number" "x-mock-request-number: 2" "$h"
check "503 shape" "server_error service_unavailable" "$(jget error.type "$T/b") $(jget error.code "$T/b")"
check "script 3: 500" "500 0" "$(req)"
check "500 shape" "server_error null null" "$(jget error.type "$T/b") $(jget error.code "$T/b") $(jget error.param "$T/b")"
check "script 4: 429" "429 0" "$(req)"
check_contains "429 fault: Retry-After" "retry-after: 1" "$(tr -d '\r' <"$T/h")"
check "429 fault shape" "rate_limit_exceeded" "$(jget error.code "$T/b")"
check "script 5: rst drops the HTTP/1.1 connection (curl 52)" "000 52" "$(req)"
start=$SECONDS
check "script 6: stall until the client gives up (curl 28)" "000 28" "$(req -m 1)"
check "script 7: ok again" "200 0" "$(req)"
check "stats: statuses" "2 1 1 1" \
    "$(mstat by_status.200) $(mstat by_status.503) $(mstat by_status.500) $(mstat by_status.429)"
check "stats: faults by kind" '{"500":1,"503":1,"429":1,"rst":1,"goaway":0,"stall":1}' "$(mstat by_fault)"
check "stats: resets, client aborts, nothing in flight" "1 1 0 7" \
    "$(mstat resets) $(mstat client_aborts) $(mstat in_flight) $(mstat requests)"

# runtime faults: numbering restarts; HTTP/2 reset and stall
check "POST /mock/faults" 200 "$(set_faults '{"script":"1=rst,2=stall,3=goaway"}')"
reset_stats
form_body "$T/a.form" "$T/a.wav"
out=$(nghttp -v -d "$T/a.form" -H "$AUTH" -H "$FORM_TYPE" "$MU/v1/audio/transcriptions" 2>&1)
check_contains "h2 rst: RST_STREAM received" "recv RST_STREAM frame" "$out"
check_contains "h2 rst: INTERNAL_ERROR" "error_code=INTERNAL_ERROR" "$out"
check "h2 stall: client gives up" "000 28" "$(req --http2-prior-knowledge -m 1)"
out=$(nghttp -v -d "$T/a.form" -H "$AUTH" -H "$FORM_TYPE" "$MU/v1/audio/transcriptions" 2>&1)
check_contains "h2 goaway fault: this request still succeeds" ":status: 200" "$out"
check_contains "h2 goaway fault: GOAWAY names it last" "recv GOAWAY frame" "$out"
check_contains "h2 goaway fault: last_stream_id" "last_stream_id=13" "$out"
check "stats after h2 faults" "1 1 1 1 1" \
    "$(mstat by_fault.rst) $(mstat by_fault.stall) $(mstat by_fault.goaway) $(mstat goaways) $(mstat client_aborts)"
set_faults '{"script":"1=goaway"}' >/dev/null
check "h1 goaway fault: 200" "200 0" "$(req)"
check_contains "h1 goaway fault: connection: close" "connection: close" "$(tr -d '\r' <"$T/h")"

# --stall-seconds (set at runtime): the mock resets the stalled request itself
set_faults '{"script":"1=stall","stall_seconds":0.3}' >/dev/null
reset_stats
check "stall-seconds: the mock gives up first (curl 52)" "000 52" "$(req -m 20)"
check "stall-seconds: counted as a reset" "1 0" "$(mstat resets) $(mstat client_aborts)"

# bad runtime settings change nothing
check "bad script refused" 400 "$(set_faults '{"script":"1=teapot","fail_rate":0.5}')"
check "bad JSON refused" 400 "$(set_faults '{nope')"
check "bad rpm refused" 400 "$(set_faults '{"rpm":-1}')"
check "nothing changed" "1=stall 0.0" "$(mstat faults.script) $(mstat faults.fail_rate)"

# the seeded fail rate: the same seed gives the same sequence
run_rate() { # SEED → statuses of 24 requests
    set_faults "{\"fail_rate\":0.5,\"fail_mix\":\"500:1,503:1\",\"script\":\"\",\"seed\":$1}" >/dev/null
    local i out=""
    for i in $(seq 24); do
        out+="$(transcribe "$T/a.wav" -o /dev/null -w '%{http_code}') "
    done
    echo "$out"
}
reset_stats
a=$(run_rate 7)
b=$(run_rate 7)
c=$(run_rate 8)
check "same seed, same faults" "$a" "$b"
check_true "another seed, other faults" test "$a" != "$c"
n200=$(grep -o 200 <<<"$a$b$c" | wc -l)
check "every non-200 is a counted fault" "$((72 - n200))" "$(($(mstat by_fault.500) + $(mstat by_fault.503)))"
check_true "a fail rate of 0.5 shows both (200s: $n200 of 72)" test "$n200" -ge 15 -a "$n200" -le 57
echo "# seed 7: $a"
mock_finish

#!/usr/bin/env bash
# The upstream pool (src/upstream) against steno-mock: multiplexing on few
# connections, every fault kind with its exact attempt count, Retry-After,
# GOAWAY mid-flight, TLS with a test CA (and a wrong one), fairness between
# jobs, and 10,000 sequential requests with nothing leaked. Time is only
# ever checked with margins that cannot flake (e.g. "far below serial").
. "$(dirname "$0")/lib.sh"

MOCK="$BUILD/tools/steno-mock/steno-mock"
CLIENT="$BUILD/tests/helpers/upstream-client"
"$BUILD/tools/gen-audio/gen-audio" --duration 3 --rate 16000 --format wav --out "$T/a.wav" >/dev/null
"$BUILD/tools/gen-audio/gen-audio" --duration 0.6 --rate 8000 --format wav --out "$T/tiny.wav" >/dev/null

mock() { # mock NAME ARGS…: sets MP (port) and MURL
    MP=$(free_port)
    start_bg "$T/$1.log" "$MOCK" --listen "127.0.0.1:$MP" --log-level warn "${@:2}"
    MPID=$LAST_PID
    MURL="http://127.0.0.1:$MP/v1"
    wait_http "http://127.0.0.1:$MP/healthz"
}
mstat() { curl -s "http://127.0.0.1:$MP/stats" | sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }
reset_stats() { curl -s -X POST "http://127.0.0.1:$MP/stats/reset" >/dev/null; }
faults() { curl -s -X POST -d "$1" "http://127.0.0.1:$MP/mock/faults" >/dev/null; reset_stats; }
run() { "$CLIENT" --url "$MURL" --api-key test-key "$@" 2>"$T/client.err"; }
summary() { grep '"summary"' | sed -n "s/.*\"$1\":\\([0-9.]*\\).*/\\1/p"; }
field() { sed -n "s/.*\"$1\":\"\\{0,1\\}\\([^\",]*\\).*/\\1/p"; }

# --- multiplexing: 100 concurrent calls, mock allows 30 streams per connection
mock m1 --time-scale 0.5 --max-streams 30
out=$(run --inflight 100 --connections 4 --job big:medium:$T/a.wav:100)
check "100 calls all ok" 100 "$(summary ok <<<"$out")"
check_true "rode at most 4 connections" test "$(summary connections_opened <<<"$out")" -le 4
check "all 100 in flight at once (mock peak)" 100 "$(mstat peak_in_flight)"
secs=$(summary seconds <<<"$out"); serial=$(awk -v d="$(mstat delay_ms)" 'BEGIN{print d/1000}')
echo "# 100 calls took ${secs}s; the mock's scheduled delays add up to ${serial}s"
check_true "far below serial time (< 20%)" awk -v s="$secs" -v t="$serial" 'BEGIN{exit !(s < 0.2 * t)}'
check "no stream or call left" "0 0 0" "$(summary streams <<<"$out") $(summary calls <<<"$out") $(summary queued <<<"$out")"
kill $MPID

# --- each fault kind: the exact number of attempts
mock m2 --time-scale 0.01 --retry-after 0
for kind in 500 503 429 rst; do
    faults "{\"script\":\"1=$kind\"}"
    line=$(run --job f:high:$T/a.wav:1 | head -1)
    check "$kind then ok: 2 attempts" "ok 2" "$(field status <<<"$line") $(field attempts <<<"$line")"
done
faults '{"script":"1-3=503"}'
line=$(run --job f:high:$T/a.wav:1 | head -1)
check "3 failures then ok: 4 attempts" "ok 4" "$(field status <<<"$line") $(field attempts <<<"$line")"
faults '{"script":"1-4=500"}'
line=$(run --job f:high:$T/a.wav:1 | head -1)
check "4 failures: gives up after 3 retries" "failed 4 500" "$(field status <<<"$line") $(field attempts <<<"$line") $(field http_status <<<"$line")"
check_contains "the upstream's message is surfaced" "upstream 500" "$line"
faults '{"script":"1=stall"}'
line=$(run --timeout-min 0.5 --job f:high:$T/a.wav:1 | head -1)
check "stall: timed out, retried, ok" "ok 2" "$(field status <<<"$line") $(field attempts <<<"$line")"
faults '{"script":""}'
line=$("$CLIENT" --url "$MURL" --api-key wrong --job f:high:$T/a.wav:1 | head -1)
check "401 fails at once" "rejected 1 401" "$(field status <<<"$line") $(field attempts <<<"$line") $(field http_status <<<"$line")"
line=$(run --model no-such-model --job f:high:$T/a.wav:1 | head -1)
check "unknown model 404 fails at once" "rejected 1 404" "$(field status <<<"$line") $(field attempts <<<"$line") $(field http_status <<<"$line")"
kill $MPID

# --- 413: too large is reported to the caller, not retried
mock m3 --time-scale 0.01 --max-body 50k
line=$(run --job f:high:$T/a.wav:1 | head -1)
check "413 → too_large after one attempt" "too_large 1 413" "$(field status <<<"$line") $(field attempts <<<"$line") $(field http_status <<<"$line")"
kill $MPID

# --- Retry-After is honoured (a lower bound: slowness cannot fake it)
mock m4 --time-scale 1 --base-latency 0 --per-second 0 --retry-after 1.5
faults '{"script":"1=503"}'
line=$(run --job f:high:$T/a.wav:1 | head -1)
check "503 with Retry-After then ok" "ok 2" "$(field status <<<"$line") $(field attempts <<<"$line")"
check_true "waited at least Retry-After (1.5 s)" awk -v s="$(field seconds <<<"$line")" 'BEGIN{exit !(s >= 1.5)}'
kill $MPID

# --- GOAWAY after every 5 requests on a connection: nothing lost
mock m5 --time-scale 0.05 --goaway-after 5
out=$(run --inflight 50 --job g:high:$T/a.wav:50)
check "GOAWAY mid-flight: all 50 ok" 50 "$(summary ok <<<"$out")"
check_true "several connections were needed" test "$(summary connections_opened <<<"$out")" -ge 10
check "the mock answered exactly 50 with 200 (no duplicates)" 50 "$(mstat 200)"
kill $MPID

# --- TLS: a test CA works, a wrong CA fails clearly
make_certs
TP=$(free_port)
start_bg "$T/mtls.log" "$MOCK" --listen 127.0.0.1:$(free_port) --tls-listen 127.0.0.1:$TP \
    --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --time-scale 0.01 --log-level warn
for _ in $(seq 100); do curl -s -o /dev/null --cacert "$T/ca.pem" https://localhost:$TP/healthz --resolve localhost:$TP:127.0.0.1 && break; sleep 0.05; done
out=$("$CLIENT" --url "https://localhost:$TP/v1" --api-key test-key --ca-file "$T/ca.pem" --job t:high:$T/a.wav:3 2>&1)
check "h2 over TLS with the test CA" 3 "$(summary ok <<<"$out")"
out=$("$CLIENT" --url "https://127.0.0.1:$TP/v1" --api-key test-key --ca-file "$T/ca.pem" --job t:high:$T/a.wav:1 2>&1)
check "IP address verified against the certificate's IP SAN" 1 "$(summary ok <<<"$out")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=other \
    -keyout "$T/o.key" -out "$T/other-ca.pem" 2>/dev/null
out=$("$CLIENT" --url "https://localhost:$TP/v1" --api-key test-key --ca-file "$T/other-ca.pem" \
    --backoff-base 0.01 --job t:high:$T/a.wav:1 2>&1)
check_contains "wrong CA: clear error" "certificate verif" "$out"
check "wrong CA: the call fails" 1 "$(summary failed <<<"$out")"

# --- fairness: a 2-chunk job queued after a 100-chunk job is not starved
mock m6 --time-scale 0.2
out=$(run --inflight 16 --job big:medium:$T/a.wav:100 --job small:medium:$T/a.wav:2)
order=$(grep -v summary <<<"$out" | awk -F'"job":"' '{split($2,a,"\""); print a[1]}' | grep -n small | cut -d: -f1 | tr '\n' ' ')
echo "# the small job's chunks finished at positions: $order(of 102)"
check_true "small job done within the first two waves (≤ 32 completions)" \
    test "$(awk '{print $2}' <<<"$order")" -le 32
kill $MPID

# --- 10,000 sequential calls: nothing leaks
mock m7 --time-scale 0
out=$(run --sequential 10000 --job s:high:$T/tiny.wav:1)
check "10,000 sequential calls ok" 10000 "$(summary ok <<<"$out")"
check "no stream, in-flight slot, queued or live call left" "0 0 0 0" \
    "$(summary streams <<<"$out") $(summary inflight <<<"$out") $(summary queued <<<"$out") $(summary calls <<<"$out")"
check "kept one connection" 1 "$(summary connections_opened <<<"$out")"
check "the mock saw exactly 10,000" 10000 "$(mstat requests)"
finish

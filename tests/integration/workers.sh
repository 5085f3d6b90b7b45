#!/usr/bin/env bash
# --workers 2: both serve the port, /metrics sums every worker, a killed
# worker is replaced, SIGHUP reopens logs, SIGTERM drains in-flight requests
# and exits 0; plus a short h2load burst.
. "$(dirname "$0")/lib.sh"

start_server "$BUILD/stenod" stenod --workers 2 --log-file "$T/steno.log"
P=$PORT; SUP=$SERVER_PID; URL="http://127.0.0.1:$P"
workers() { ps -o pid= --ppid "$SUP" | tr -d ' ' | sort; }
for _ in $(seq 100); do [ "$(workers | wc -l)" = 2 ] && break; sleep 0.1; done
check "two worker processes" 2 "$(workers | wc -l)"

# every request is counted once, whichever worker answers the scrape
h1_before=$(metric $P 'steno_http_requests_total{method="GET",route="/healthz",proto="h1",code="200"}')
h2=$(h2load -n 1000 -c 8 -m 4 $URL/healthz 2>&1)
check_contains "h2load h2c burst: all succeed" "1000 succeeded" "$h2"
h1=$(h2load --h1 -n 1000 -c 8 $URL/healthz 2>&1)
check_contains "h2load HTTP/1.1 burst: all succeed" "1000 succeeded" "$h1"
pids=$(for i in $(seq 40); do curl -s $URL/healthz; done | sed -n 's/.*"pid":\([0-9]*\).*/\1/p' | sort -u | wc -l)
check "requests spread over both workers" 2 "$pids"
h2n=$(metric $P 'steno_http_requests_total{method="GET",route="/healthz",proto="h2",code="200"}')
h1n=$(metric $P 'steno_http_requests_total{method="GET",route="/healthz",proto="h1",code="200"}')
check "h2 requests summed over workers" 1000 "$h2n"
check "h1 requests summed over workers" 1040 "$((h1n - h1_before))"
same=1
for i in $(seq 6); do
    v=$(metric $P 'steno_http_requests_total{method="GET",route="/healthz",proto="h2",code="200"}')
    [ "$v" = 1000 ] || same=0
done
check "every scrape sees the whole server" 1 "$same"

# kill -9 one worker: the supervisor replaces it, the port keeps answering
victim=$(workers | head -1)
kill -9 "$victim"
replaced=0
for _ in $(seq 60); do
    if [ "$(workers | wc -l)" = 2 ] && ! workers | grep -qx "$victim"; then replaced=1; break; fi
    sleep 0.1
done
check "killed worker replaced" 1 "$replaced"
ok=0; for i in $(seq 20); do [ "$(curl -s -o /dev/null -w '%{http_code}' $URL/healthz)" = 200 ] && ok=$((ok + 1)); done
check "all requests answered after the crash" 20 "$ok"
check_true "counters survive the crash" test "$(metric $P 'steno_http_requests_total{method="GET",route="/healthz",proto="h2",code="200"}')" -eq 1000
check_contains "crash logged by the supervisor" "killed by signal 9" "$(cat $T/steno.log)"

# SIGHUP: logrotate moved the file; a new one is opened and written
mv "$T/steno.log" "$T/steno.log.1"
kill -HUP "$SUP"
for _ in $(seq 100); do
    curl -s -o /dev/null $URL/healthz
    [ -s "$T/steno.log" ] && break
    sleep 0.1
done
check_true "SIGHUP reopened the log file" test -s "$T/steno.log"

# SIGTERM: exits 0 (and nothing is left running)
kill -TERM "$SUP"
wait_exit $SUP 15
check "supervisor exits 0 on SIGTERM" 0 "$EXIT_RC"
check "no worker left behind" 0 "$(workers | wc -l)"

# graceful drain with a request in flight (single worker, real worker code)
start_server "$BUILD/tests/helpers/http-testd" testd
TP=$PORT; TPID=$SERVER_PID
conns() { metric "$1" 'steno_http_connections{proto="h1",tls="false"}'; }
curl -s "http://127.0.0.1:$TP/test/deferred?ms=3000" >"$T/inflight.out" &
CURL=$!
# SIGTERM once the request is in (its connection and this scrape's: 2)
for _ in $(seq 100); do [ "$(conns $TP)" -ge 2 ] && break; sleep 0.1; done
check_true "request in flight before SIGTERM" test "$(conns $TP)" -ge 2
kill -TERM "$TPID"
for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:$TP/healthz)
    [ "$code" = 000 ] && break
    sleep 0.1
done
check "new connections refused while draining" "000 draining" \
    "$code $(kill -0 "$CURL" 2>/dev/null && echo draining)"
wait "$CURL"
check "in-flight request finished after SIGTERM" '{"deferred":true}' "$(cat $T/inflight.out)"
wait_exit $TPID 10
check "drained worker exits 0" 0 "$EXIT_RC"

# a drain that overruns --shutdown-timeout is cut, still exit 0
start_server "$BUILD/tests/helpers/http-testd" testd2 --shutdown-timeout 1
curl -s --max-time 70 "http://127.0.0.1:$PORT/test/deferred?ms=60000" >/dev/null &
for _ in $(seq 100); do [ "$(conns $PORT)" -ge 2 ] && break; sleep 0.1; done
check_true "request in flight before SIGTERM" test "$(conns $PORT)" -ge 2
kill -TERM "$SERVER_PID"
wait_exit $SERVER_PID 30 # far below the 60 s answer: only the deadline ends it
check "shutdown deadline enforced, exit 0" 0 "$EXIT_RC"
finish

#!/usr/bin/env bash
# Timeouts and connection limits: slowloris heads, stalled bodies, idle
# keep-alive, max connections. Timeouts are set to 1 s; assertions allow
# generous slack (no test passes or fails on speed): a cut must come from
# the server, well before the test's own bound of 30 s.
. "$(dirname "$0")/lib.sh"

start_server "$BUILD/tests/helpers/http-testd" testd --header-timeout 1 --body-timeout 1 \
    --keepalive-timeout 1 --max-connections 20
P=$PORT

# slowloris: a header byte every 0.4 s never completes the head → cut
exec 7<>/dev/tcp/127.0.0.1/$P
cut=0
head=(G E T ' ' / ' ' H T T P / 1 . 1 $'\r' $'\n' X - S l o w : ' ')
for ((i = 0; i < 75; i++)); do # then "aaa…": 30 s at most
    printf '%s' "${head[i]:-a}" >&7 2>/dev/null || { cut=1; break; }
    sleep 0.4
done
exec 7>&-
check "slowloris connection cut by the header deadline" 1 "$cut"
check_true "header timeout counted" test "$(metric $P 'steno_http_timeouts_total{kind="header"}')" -ge 1

# a body that stalls half way is cut by the body timeout
exec 7<>/dev/tcp/127.0.0.1/$P
printf 'POST /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nhalf' >&7
timeout 30 cat <&7 >/dev/null
rc=$?
exec 7>&-
check "stalled body cut by the server (not by our 30 s bound)" 0 "$rc"
check_true "body timeout counted" test "$(metric $P 'steno_http_timeouts_total{kind="body"}')" -ge 1

# an idle keep-alive connection is closed
exec 7<>/dev/tcp/127.0.0.1/$P
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >&7
reply=$(timeout 30 cat <&7)
rc=$?
exec 7>&-
check_contains "keep-alive reply arrived" "HTTP/1.1 200" "$reply"
check "idle keep-alive closed by the server (not by our 30 s bound)" 0 "$rc"

# a handler that waits longer than the timeouts is not cut (it is our wait)
check "slow handler is not a client timeout" '{"deferred":true}' "$(curl -s --max-time 10 "http://127.0.0.1:$P/test/deferred?ms=2500")"

# max connections per worker: the 21st concurrent connection is refused
for i in $(seq 20); do exec {fd}<>/dev/tcp/127.0.0.1/$P; FDS+=($fd); done
sleep 0.3
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://127.0.0.1:$P/healthz)
check "connection over --max-connections refused" 000 "$code"
for fd in "${FDS[@]}"; do exec {fd}>&-; done
for _ in $(seq 100); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:$P/healthz)
    [ "$code" = 200 ] && break
    sleep 0.1
done
check "serves again once connections close" 200 "$code"
check_true "rejections counted" test "$(metric $P steno_http_connections_rejected_total)" -ge 1
finish

#!/usr/bin/env bash
# HTTP/1.1 and h2c end to end through curl, nghttp and raw sockets: routing,
# JSON errors, keep-alive, pipelining, 100-continue, streamed uploads and
# responses, backpressure, deferred answers, malformed requests.
. "$(dirname "$0")/lib.sh"

start_server "$BUILD/tests/helpers/http-testd" testd --max-upload 8M --log-level debug
P=$PORT
URL="http://127.0.0.1:$P"

# --- routing and error shape
check "h1 healthz" 200 "$(curl -s -o /dev/null -w '%{http_code}' $URL/healthz)"
check "h2c healthz" "200 2" "$(curl -s -o /dev/null --http2-prior-knowledge -w '%{http_code} %{http_version}' $URL/healthz)"
body=$(curl -s $URL/no/such/route)
check "404 JSON error shape" '{"error":{"type":"invalid_request_error","code":"not_found","message":"no route for /no/such/route"}}' "$body"
hdrs=$(curl -s -D - -o /dev/null -X DELETE $URL/healthz)
check_contains "405 status" "HTTP/1.1 405" "$hdrs"
check_contains "405 Allow header" "allow: GET" "$hdrs"
check "h2 405" 405 "$(curl -s -o /dev/null --http2-prior-knowledge -X PUT -w '%{http_code}' $URL/metrics)"
check "501 unknown method" 501 "$(curl -s -o /dev/null -X BREW -w '%{http_code}' $URL/healthz)"
head=$(curl -s -I $URL/healthz)
check_contains "HEAD keeps content-length" "content-length: " "$head"
check "HEAD has no body" 0 "$(curl -s -X HEAD --max-time 2 $URL/healthz 2>/dev/null | wc -c)"
rid=$(curl -s -D - -o /dev/null -H 'X-Request-Id: test-req-42' $URL/healthz | tr -d '\r' | awk -F': ' '$1=="x-request-id"{print $2}')
check "X-Request-Id echoed" test-req-42 "$rid"
check_contains "request id in the access log" "req=test-req-42" "$(cat $T/testd.log)"

# --- keep-alive: two requests, one connection
out=$(curl -s -v $URL/healthz $URL/healthz 2>&1)
check_contains "keep-alive reuses the connection" "Re-using existing connection" "$out"

# --- pipelining: three requests written at once, three answers in order
reply=$(raw_request $P 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
check "pipelined: three responses" 3 "$(printf '%s' "$reply" | grep -c '^HTTP/1.1 ')"
check "pipelined: in order" "200 404 200" "$(printf '%s' "$reply" | awk '/^HTTP\/1.1 /{printf "%s%s", sep, $2; sep=" "}')"

# --- streamed uploads hash to what was sent, over every framing
head -c 3000000 /dev/urandom >"$T/up.bin"
want=$(sha256sum "$T/up.bin" | cut -d' ' -f1)
for mode in h1 chunked h2 h1-paused h2-paused; do
    q=""; args=()
    case $mode in
    chunked) args=(-H 'Transfer-Encoding: chunked') ;;
    h2) args=(--http2-prior-knowledge) ;;
    h1-paused) q="?pause_ms=2" ;;
    h2-paused) q="?pause_ms=2"; args=(--http2-prior-knowledge) ;;
    esac
    got=$(curl -s "${args[@]}" --data-binary @"$T/up.bin" "$URL/test/upload$q" | sed 's/.*"sha256":"\([0-9a-f]*\)".*/\1/')
    check "upload $mode: sha256 of the streamed body" "$want" "$got"
done

# --- 100-continue: the server says Continue before the body is sent
out=$(curl -s -v -H 'Expect: 100-continue' --data-binary @"$T/up.bin" $URL/test/upload 2>&1)
check_contains "Expect: 100-continue answered" "HTTP/1.1 100 Continue" "$out"
check_contains "then the upload completes" '"bytes":3000000' "$out"
# ... and a body over the limit is refused without reading it
head -c 9000000 /dev/zero >"$T/big.bin"
out=$(curl -s -v -H 'Expect: 100-continue' --data-binary @"$T/big.bin" $URL/test/upload 2>&1)
check_contains "over-limit upload gets 413 before the body" "HTTP/1.1 413" "$out"
check_true "no 100 Continue for a refused body" bash -c "! grep -q '100 Continue' <<<'$out'"

# --- 413 over each framing
check "413 h1 content-length" 413 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary @$T/big.bin $URL/test/upload)"
check "413 h1 chunked (counted as it streams)" 413 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @$T/big.bin $URL/test/upload)"
check_contains "413 h2" ":status: 413" "$(nghttp -v -d $T/big.bin $URL/test/upload 2>&1)"
check "413 body on a route without one" 413 "$(curl -s -o /dev/null -w '%{http_code}' --data-binary 'x' -X GET $URL/healthz)"

# --- streamed responses written as the client drains them
check "h1 streamed response (chunked)" 5000000 "$(curl -s "$URL/test/stream?chunks=500&size=10000" | wc -c)"
check "h2 streamed response" 5000000 "$(curl -s --http2-prior-knowledge "$URL/test/stream?chunks=500&size=10000" | wc -c)"
# a reader slower than the server: the socket pushes back again and again,
# so output goes through the armed-write path and back (server.c flush)
check "h1 streamed response to a slow reader" "3000000 x" \
    "$(curl -s --limit-rate 1500k "$URL/test/stream?chunks=300&size=10000" | tee "$T/slow.out" | wc -c) $(tr -d x <"$T/slow.out" | wc -c | sed 's/^0$/x/')"
check "h2 streamed response to a slow reader" 3000000 \
    "$(curl -s --http2-prior-knowledge --limit-rate 1500k "$URL/test/stream?chunks=300&size=10000" | wc -c)"
check "h1.0 streamed response (close-delimited)" 100000 "$(curl -s --http1.0 "$URL/test/stream?chunks=10&size=10000" | wc -c)"

# --- deferred answers; many at once on one h2 connection
check "deferred answer" '{"deferred":true}' "$(curl -s "$URL/test/deferred?ms=50")"
urls=(); for i in $(seq 50); do urls+=("$URL/test/deferred?ms=200"); done
out=$(nghttp -n "${urls[@]}" -w 20 2>&1; echo rc=$?)
check_contains "50 deferred streams on one h2 connection" "rc=0" "$out"

# --- malformed requests: JSON error, then the connection closes
malformed() { # desc status bytes
    local reply; reply=$(raw_request $P "$3")
    check "$1 → $2" "HTTP/1.1 $2" "$(printf '%s' "$reply" | head -1 | tr -d '\r' | cut -d' ' -f1,2)"
    check_contains "$1: JSON error" '{"error":{"type":"invalid_request_error"' "$reply"
    check_contains "$1: connection: close" "connection: close" "$reply"
}
malformed "bare LF" 400 'GET /healthz HTTP/1.1\nHost: x\n\n'
malformed "missing Host" 400 'GET /healthz HTTP/1.1\r\n\r\n'
malformed "CL + TE smuggling" 400 'POST /test/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'
malformed "bad chunk size" 400 'POST /test/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'
malformed "gzip transfer coding" 501 'POST /test/upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n'
malformed "HTTP/2.0 request line" 505 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'
malformed "bad Expect" 417 'POST /test/upload HTTP/1.1\r\nHost: x\r\nExpect: nope\r\nContent-Length: 1\r\n\r\nx'
long=$(head -c 20000 /dev/zero | tr '\0' a)
malformed "URI too long" 414 "GET /$long HTTP/1.1\r\nHost: x\r\n\r\n"
malformed "headers too large" 431 "GET / HTTP/1.1\r\nHost: x\r\nX: $long\r\n\r\n"
hdrs=""; for i in $(seq 120); do hdrs+="X-$i: v\r\n"; done
malformed "too many headers" 431 "GET / HTTP/1.1\r\nHost: x\r\n$hdrs\r\n"
check "h2 431 for huge headers" 431 "$(curl -s -o /dev/null --http2-prior-knowledge -H "X-Big: ${long:0:17000}" -w '%{http_code}' $URL/healthz)"

# the server is still healthy and counted what it answered
check "still serving after abuse" 200 "$(curl -s -o /dev/null -w '%{http_code}' $URL/healthz)"
check "metrics count 404s" 1 "$(metric $P 'steno_http_requests_total{method="",route="unmatched",proto="h1",code="404"}' | awk '{print ($1 >= 2)}')"
check "server never crashed" 1 "$(kill -0 $SERVER_PID && echo 1)"
finish

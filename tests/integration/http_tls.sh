#!/usr/bin/env bash
# TLS with ALPN: h2 and http/1.1 on one port, a client without ALPN, a bad
# certificate refused at start, and h2load over TLS.
. "$(dirname "$0")/lib.sh"

make_certs

TP=$(free_port)
start_server "$BUILD/stenod" stenod --tls-listen "127.0.0.1:$TP" \
    --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
S="https://localhost:$TP"
R=(--resolve "localhost:$TP:127.0.0.1" --cacert "$T/ca.pem")

check "h2 by ALPN" "200 2" "$(curl -s "${R[@]}" -o /dev/null -w '%{http_code} %{http_version}' $S/healthz)"
check "http/1.1 by ALPN" "200 1.1" "$(curl -s "${R[@]}" --http1.1 -o /dev/null -w '%{http_code} %{http_version}' $S/healthz)"
check "no ALPN → HTTP/1.1" "200 1.1" "$(curl -s "${R[@]}" --no-alpn -o /dev/null -w '%{http_code} %{http_version}' $S/healthz)"
check "cleartext port still serves" 200 "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$PORT/healthz)"
alpn=$(echo | timeout 5 openssl s_client -connect 127.0.0.1:$TP -alpn h2,http/1.1 2>/dev/null | grep -a -i 'ALPN protocol')
check_contains "server selects h2 first" "h2" "$alpn"
check "untrusted CA is refused by the client" 60 "$(curl -s -o /dev/null --resolve localhost:$TP:127.0.0.1 $S/healthz; echo $?)"
out=$(h2load -n 400 -c 4 -m 8 "https://127.0.0.1:$TP/healthz" 2>&1)
check_contains "h2load over TLS: all succeed" "400 succeeded" "$out"
check_contains "h2load negotiated h2" "Application protocol: h2" "$out"
check "h2 TLS requests counted" 1 "$(metric $PORT 'steno_http_connections_total{proto="h2",tls="true"}' | awk '{print ($1 >= 5)}')"

# a handshake that never completes is cut by the header timeout
P2=$(free_port); TP2=$(free_port)
start_bg "$T/slow.log" "$BUILD/stenod" --listen 127.0.0.1:$P2 --tls-listen 127.0.0.1:$TP2 \
    --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" --header-timeout 1
wait_http http://127.0.0.1:$P2/healthz
exec 8<>/dev/tcp/127.0.0.1/$TP2
timeout 30 cat <&8 >/dev/null
rc=$?
exec 8>&-
check "silent TLS client closed by the header timeout (not by our 30 s bound)" 0 "$rc"
check_true "header timeout counted" \
    test "$(metric $P2 'steno_http_timeouts_total{kind="header"}')" -ge 1

# a wrong key refuses to start, with a clear message
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=x \
    -keyout "$T/other.key" -out "$T/other.pem" 2>/dev/null
out=$("$BUILD/stenod" --listen 127.0.0.1:0 --tls-listen 127.0.0.1:0 --tls-cert "$T/cert.pem" \
    --tls-key "$T/other.key" 2>&1; echo "rc=$?")
check_contains "mismatched key: clear error" "cannot load private key" "$out"
check_contains "mismatched key: non-zero exit" "rc=1" "$out"
out=$("$BUILD/stenod" --tls-listen 127.0.0.1:0 2>&1; echo "rc=$?")
check_contains "TLS without cert: usage error" "--tls-listen needs --tls-cert and --tls-key" "$out"
finish

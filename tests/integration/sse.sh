#!/usr/bin/env bash
# GET /v1/jobs/{id}/events end to end: real PostgreSQL (local-stack),
# steno-mock slowed so a multi-chunk job takes a few seconds, stenod with 2
# workers. Covers: order and no gaps over HTTP/1.1 and HTTP/2; replay with
# Last-Event-ID (header and query); a finished job answered at once (204
# once seen); 404/400; cross-process delivery (clients spread over both
# workers) over Redis pub/sub, then with Redis stopped over LISTEN/NOTIFY;
# many streams on one h2 connection; a client that stops reading is cut
# off while others finish.
. "$(dirname "$0")/lib.sh"

GEN="$BUILD/tools/gen-audio/gen-audio"
start_stack redis
migrate_db

MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.1 --api-key test-key --log-level warn
MOCK_PID=$LAST_PID
MOCK="http://127.0.0.1:$MP"
wait_http "$MOCK/healthz"

start_server "$BUILD/stenod" stenod --workers 2 --database-url "$STENO_DATABASE_URL" \
    --redis-url "$STENO_REDIS_URL" --redis-probe-interval 300ms --redis-timeout 2s \
    --redis-recover-after 1s \
    --upstream-url "$MOCK/v1" --api-key test-key --claim-interval 0.2s \
    --chunk-min 2s --chunk-max 4s --upstream-concurrency 2 --jobs-per-worker 2 \
    --sse-buffer 4k --sse-heartbeat 1s --log-file "$T/steno.log"
S="http://127.0.0.1:$PORT"

submit() { curl -s -F "file=@$1" "$S/v1/transcriptions" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p'; }
status() { sql "SELECT status FROM jobs WHERE id = '$1'"; }
wait_done() { # wait_done ID SECONDS
    for _ in $(seq $(($2 * 10))); do
        case $(status "$1") in done | failed | cancelled) return 0 ;; esac
        sleep 0.1
    done
    return 1
}
ids() { sed -n 's/^id: //p' "$1" | tr '\n' ' ' | sed 's/ $//'; }
# "ok" when the stream has ids 1..N without a gap or repeat and ends with done
in_order() {
    local f=$1 n expect
    n=$(grep -c '^id: ' "$f")
    expect=$(seq -s ' ' 1 "$n")
    [ "$n" -gt 0 ] && [ "$(ids "$f")" = "$expect" ] || { echo "ids: $(ids "$f")"; return; }
    [ "$(grep '^event: ' "$f" | tail -1)" = "event: done" ] || { echo "no done at the end"; return; }
    echo ok
}
# the events of a stream, without comments and retry lines
events_of() { grep -E '^(id|event|data): ' "$1"; }

# long enough (30 chunks, ~2 s) that the clients below attach while it runs
"$GEN" --duration 120 --rate 8000 --format wav --out "$T/a.wav" >/dev/null
# every submission below needs audio of its own: identical audio is a cache
# hit (gen-audio's --seed only seeds noise, so vary the duration)
"$GEN" --duration 41 --rate 8000 --format wav --out "$T/b.wav" >/dev/null
"$GEN" --duration 42 --rate 8000 --format wav --out "$T/c.wav" >/dev/null
"$GEN" --duration 44 --rate 8000 --format wav --out "$T/x.notify.wav" >/dev/null

# --- one job, followed live over h1 and h2 while it runs. The mock is
# frozen (SIGSTOP) until the three clients are attached, so the job cannot
# be over before they are, however slow the machine.
kill -STOP "$MOCK_PID"
ID=$(submit "$T/a.wav")
check_true "job submitted" test -n "$ID"
curl -sN --max-time 60 "$S/v1/jobs/$ID/events" >"$T/h1.out" 2>&1 &
c1=$!
curl -sN --max-time 60 --http2-prior-knowledge "$S/v1/jobs/$ID/events" >"$T/h2.out" 2>&1 &
c2=$!
curl -s --max-time 60 -D "$T/h1.head" -o /dev/null "$S/v1/jobs/$ID/events" &
c3=$!
for _ in $(seq 300); do [ "$(metric "$PORT" steno_sse_connections)" -ge 3 ] && break; sleep 0.1; done
st=$(status "$ID") streams=$(metric "$PORT" steno_sse_connections)
kill -CONT "$MOCK_PID"
check_true "the job was not over when the clients attached ($st, $streams streams)" \
    test "$st" != done -a "$streams" -ge 3
wait $c1 $c2 $c3
check "h1: ids 1..N in order, ends with done" ok "$(in_order "$T/h1.out")"
check "h2: ids 1..N in order, ends with done" ok "$(in_order "$T/h2.out")"
check "h1 and h2 saw the same events" "$(events_of "$T/h1.out" | md5sum)" \
    "$(events_of "$T/h2.out" | md5sum)"
N=$(grep -c '^id: ' "$T/h1.out")
chunks=$(sql "SELECT count(*) FROM chunks WHERE job_id = '$ID'")
check_true "a multi-chunk job ($chunks chunks, $N events)" test "$chunks" -ge 5 -a "$N" -gt $((chunks * 2))
check "one chunk done event per chunk" "$chunks" "$(grep -c '"state":"done"' "$T/h1.out")"
check "events stored in order" "$N" "$(sql "SELECT count(*) FROM job_events WHERE job_id = '$ID' AND seq BETWEEN 1 AND $N")"
check "jobs.event_seq is the last id" "$N" "$(sql "SELECT event_seq FROM jobs WHERE id = '$ID'")"
head=$(tr -d '\r' <"$T/h1.head")
check_contains "content-type" "content-type: text/event-stream" "$head"
check_contains "cache-control" "cache-control: no-cache" "$head"
check_contains "x-accel-buffering" "x-accel-buffering: no" "$head"
last_progress=$(grep -A1 '^event: progress' "$T/h1.out" | tail -1)
check_contains "the last progress event says 100%" '"percent":100' "$last_progress"

# --- replay
curl -sN --max-time 10 -H "Last-Event-ID: 5" "$S/v1/jobs/$ID/events" >"$T/r5.out"
check "Last-Event-ID 5 → exactly events 6..$N" "$(seq -s ' ' 6 "$N")" "$(ids "$T/r5.out")"
check "replayed events are the same bytes" "$(events_of "$T/h1.out" | awk '/^id: 6$/{p=1} p' | md5sum)" \
    "$(events_of "$T/r5.out" | md5sum)"
curl -sN --max-time 10 "$S/v1/jobs/$ID/events?last_event_id=$((N - 2))" >"$T/rq.out"
check "?last_event_id=N-2 → the last two" "$((N - 1)) $N" "$(ids "$T/rq.out")"
curl -sN --max-time 10 "$S/v1/jobs/$ID/events" >"$T/again.out"
check "a finished job answers all its events at once" ok "$(in_order "$T/again.out")"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Last-Event-ID: $N" "$S/v1/jobs/$ID/events")
check "a finished job with nothing new: 204 (EventSource stops)" 204 "$code"
code=$(curl -s -o "$T/bad.out" -w '%{http_code}' -H "Last-Event-ID: 12ab" "$S/v1/jobs/$ID/events")
check "bad Last-Event-ID: 400" 400 "$code"
check_contains "bad Last-Event-ID: JSON error" invalid_last_event_id "$(cat "$T/bad.out")"
code=$(curl -s -o /dev/null -w '%{http_code}' "$S/v1/jobs/6f1c1a53-0000-4000-8000-000000000000/events")
check "unknown job: 404" 404 "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "$S/v1/jobs/not-a-uuid/events")
check "malformed id: 404" 404 "$code"

# --- a failed job, retried: the retry is an event of its own, so a client
# that reconnects after the error follows the new run instead of stopping
"$GEN" --duration 45 --rate 8000 --format wav --out "$T/f.wav" >/dev/null
F=$(curl -s -F "file=@$T/f.wav" -F model=no-such-model "$S/v1/transcriptions" |
    sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
wait_done "$F" 60
curl -sN --max-time 20 "$S/v1/jobs/$F/events" >"$T/f1.out"
E=$(sed -n 's/^id: //p' "$T/f1.out" | tail -1)
check "a failed job's stream ends with error" "event: error" "$(grep '^event: ' "$T/f1.out" | tail -1)"
check "retry: 202" 202 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$S/v1/jobs/$F/retry")"
curl -sN --max-time 30 -H "Last-Event-ID: ${E:-0}" "$S/v1/jobs/$F/events" >"$T/f2.out"
first=$(events_of "$T/f2.out" | head -3 | tr '\n' ' ')
check_contains "after the retry, a reconnect first gets the retry (id E+1)" "id: $((E + 1)) event: job" "$first"
check_contains "…marked retried" '"retried":true' "$first"
N2=$(sed -n 's/^id: //p' "$T/f2.out" | tail -1)
check "…then the new run, no gap, to its own error" "$(seq -s ' ' $((E + 1)) "${N2:-0}") event: error" \
    "$(ids "$T/f2.out") $(grep '^event: ' "$T/f2.out" | tail -1)"
check_true "…which is a new run ($N2 > $((E + 1)))" test "${N2:-0}" -gt $((E + 1))

# --- a reconnect in the middle of a running job resumes exactly
ID2=$(submit "$T/b.wav")
# the first connection is dropped (by PID) once it has seen an event
curl -sN --max-time 60 "$S/v1/jobs/$ID2/events" >"$T/part1.out" 2>/dev/null &
c1=$!
for _ in $(seq 300); do grep -q '^id: ' "$T/part1.out" && break; sleep 0.1; done
kill "$c1" 2>/dev/null
wait "$c1"
seen=$(sed -n 's/^id: //p' "$T/part1.out" | tail -1)
check_true "the first connection saw some events (${seen:-none})" test -n "$seen"
curl -sN --max-time 60 -H "Last-Event-ID: ${seen:-0}" "$S/v1/jobs/$ID2/events" >"$T/part2.out"
cat "$T/part1.out" "$T/part2.out" >"$T/joined.out"
check "first part + resumed part = 1..N, no gap, no repeat" ok "$(in_order "$T/joined.out")"

# --- cross-process: 20 clients over the 2 workers while a job runs on one.
# SO_REUSEPORT spreads connections by a hash of the address pair: with 12
# clients all landed on one worker 1 time in 2048 (twice per run); with 20,
# 1 in 500,000.
# cross AUDIO: sets GOOD (clients that got every event in order, the same
# as the first client's) and SERVED (workers that served them)
cross() {
    local id pids=() i out=$T/x.$(basename "$1" .wav) ref
    id=$(submit "$1")
    for i in $(seq 20); do
        curl -sN --max-time 120 "$S/v1/jobs/$id/events" >"$out.$i.out" 2>&1 &
        pids+=($!)
    done
    wait "${pids[@]}"
    GOOD=0
    ref=$(events_of "$out.1.out" | md5sum)
    for i in $(seq 20); do
        [ "$(in_order "$out.$i.out")" = ok ] && [ "$(events_of "$out.$i.out" | md5sum)" = "$ref" ] &&
            GOOD=$((GOOD + 1))
    done
    SERVED=$(grep -a "GET /v1/jobs/$id/events 200" "$T/steno.log" | sed -n 's/.* pid=\([0-9]*\) .*/\1/p' |
        sort -u | wc -l)
}
wait_metric() { # wait_metric NAME VALUE SECONDS
    for _ in $(seq $(($3 * 10))); do
        [ "$(metric "$PORT" "$1")" = "$2" ] && return 0
        sleep 0.1
    done
    return 1
}
via() { metric "$PORT" "steno_events_received_total{via=\"$1\"}"; }
degrades() { metric "$PORT" 'steno_redis_mode_changes_total{to="degraded"}'; }
full_mode() { wait_metric steno_redis_connected 2 30 && wait_metric steno_redis_degraded 0 30; }
# A worker whose Redis answers later than --redis-timeout degrades, by
# design, and from then on rightly publishes over NOTIFY; on a loaded
# machine that can happen in the middle of the run. So the run over Redis
# is repeated (3 times at most, each with audio of its own) until both
# workers stayed in full mode all through it.
for try in 1 2 3; do
    check_true "both workers on Redis (full mode)" full_mode
    d0=$(degrades) n0=$(via notify) r0=$(via redis)
    "$GEN" --duration $((50 + try)) --rate 8000 --format wav --out "$T/x.redis$try.wav" >/dev/null
    cross "$T/x.redis$try.wav"
    [ "$(degrades)" = "$d0" ] && break
    echo "# try $try: a worker left full mode during the run over Redis:"
    grep -a 'redis: degraded mode' "$T/steno.log" | tail -n 2
done
check "redis: all 20 clients got every event in order" 20 "$GOOD"
check "redis: the clients were served by both workers" 2 "$SERVED"
check "both workers stayed in full mode during the run" "$d0" "$(degrades)"
check_true "events crossed over Redis ($(via redis) messages)" test "$(via redis)" -gt "$r0"
check "…and not over NOTIFY while Redis is up" "$n0" "$(via notify)"
"$SOURCE/tools/local-stack" redis-stop "$T/stack" >/dev/null 2>&1
check_true "both workers degrade when Redis stops" wait_metric steno_redis_degraded 2 10
n0=$(via notify) r0=$(via redis)
cross "$T/x.notify.wav"
check "notify: all 20 clients got every event in order" 20 "$GOOD"
check "notify: the clients were served by both workers" 2 "$SERVED"
check_true "events crossed over LISTEN/NOTIFY ($(via notify) notifications)" \
    test "$(via notify)" -gt "$n0"
check "…and none over Redis" "$r0" "$(via redis)"

# --- many streams on one HTTP/2 connection
ID3=$(submit "$T/c.wav")
h2load -n 40 -c 1 -m 40 "$S/v1/jobs/$ID3/events" >"$T/h2load.out" 2>&1
check_contains "40 streams on one h2 connection all succeed" "40 succeeded" "$(cat "$T/h2load.out")"
check_contains "…as 2xx" "40 2xx" "$(cat "$T/h2load.out")"

# --- a client that stops reading is cut off; a normal one finishes.
# The slow client shrinks its receive buffer and MSS, so the kernel holds
# only some 40 kB for it (on loopback it would take megabytes otherwise);
# a 10-minute job in 4 s chunks makes about 70 kB of events.
"$GEN" --duration 600 --rate 8000 --format wav --seed 9 --out "$T/long.wav" >/dev/null
ID4=$(submit "$T/long.wav")
slow_before=$(metric "$PORT" steno_sse_slow_consumers_total)
cat >"$T/slow.py" <<'EOF'
import os, socket, sys, time
port, job, flag = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
s.connect(("127.0.0.1", port))
s.sendall(f"GET /v1/jobs/{job}/events HTTP/1.1\r\nHost: x\r\n\r\n".encode())
deadline = time.time() + 150
while not os.path.exists(flag) and time.time() < deadline:
    time.sleep(0.2)  # not reading meanwhile
data = b""
s.settimeout(5)
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    print("closed", len(data), b"event: done" in data)
except (ConnectionResetError, socket.timeout) as e:
    print(type(e).__name__, len(data), b"event: done" in data)
EOF
/usr/bin/python3 "$T/slow.py" "$PORT" "$ID4" "$T/normal.done" >"$T/slow.out" 2>&1 &
slow=$!
# …and over HTTP/2: a client that grants the stream no flow-control window
# (SETTINGS_INITIAL_WINDOW_SIZE 0), so nothing can be sent to it; steno must
# reset the stream (RST_STREAM is not flow-controlled) rather than hold its
# events without bound. Hand-made frames: HPACK literals, no Huffman.
cat >"$T/slow_h2.py" <<'EOF'
import socket, struct, sys, time
port, job = int(sys.argv[1]), sys.argv[2]
def frame(t, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([t, flags]) + struct.pack(">I", sid) + payload
def lit(index, value):  # literal without indexing, indexed name (4-bit prefix)
    v = value.encode()
    return bytes([index, len(v)]) + v
s = socket.create_connection(("127.0.0.1", port))
path = f"/v1/jobs/{job}/events"
hdrs = b"\x82\x86" + lit(4, path) + lit(1, "localhost")  # GET, http, :path, :authority
s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0, struct.pack(">HI", 4, 0))
          + frame(1, 0x5, 1, hdrs))
buf, data, deadline = b"", 0, time.time() + 150
s.settimeout(5)
while time.time() < deadline:
    try:
        b = s.recv(65536)
    except socket.timeout:
        continue
    if not b:
        print("closed data", data); sys.exit(0)
    buf += b
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], "big"); t, fl = buf[3], buf[4]
        sid = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
        if len(buf) < 9 + n: break
        payload, buf = buf[9:9 + n], buf[9 + n:]
        if t == 4 and not fl & 1: s.sendall(frame(4, 1, 0))  # ACK the server's SETTINGS
        if t == 0 and sid == 1: data += n
        if t == 3 and sid == 1:
            print("rst", int.from_bytes(payload, "big"), "data", data); sys.exit(0)
print("no-rst data", data)
EOF
/usr/bin/python3 "$T/slow_h2.py" "$PORT" "$ID4" >"$T/slow_h2.out" 2>&1 &
slow_h2=$!
curl -sN --max-time 150 "$S/v1/jobs/$ID4/events" >"$T/normal.out"
touch "$T/normal.done"
check "the normal client got every event of the long job ($(wc -c <"$T/normal.out") bytes)" ok \
    "$(in_order "$T/normal.out")"
wait $slow $slow_h2
check "h2 client with a zero window: its stream is reset, no data sent" "rst 2 data 0" \
    "$(cat "$T/slow_h2.out")"
out=$(cat "$T/slow.out")
check_contains "the slow client was cut off before the end ($out)" " False" "$out"
check_true "slow consumers counted (h1 and h2)" \
    test "$(metric "$PORT" steno_sse_slow_consumers_total)" -ge $((${slow_before:-0} + 2))
check_true "the drop was logged" grep -q "client not reading" "$T/steno.log"
check "no stream left open" 0 "$(metric "$PORT" steno_sse_connections)"

finish

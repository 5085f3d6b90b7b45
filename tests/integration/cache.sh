#!/usr/bin/env bash
# The transcript cache (issue #7): real PostgreSQL + Redis (local-stack),
# steno-mock as the upstream, stenod. Upstream work is counted on the
# mock's /stats, so "zero new upstream requests" is measured, not assumed.
# Covers: a repeated upload hits L1, then L2 after a restart (L1 empty),
# then L3 after FLUSHALL + restart; output formats from one entry; the
# pre-upload lookup (header and query); cache hits recorded as jobs; 10
# identical concurrent uploads → one job, one upstream pass; the start-up
# warm-up; invalidation across 2 workers (L1 of both, L2, L3, audit);
# Redis killed mid-run and back; a 70%-repeat workload's hit rate; bad input.
. "$(dirname "$0")/lib.sh"

GEN="$BUILD/tools/gen-audio/gen-audio"
JGET="$BUILD/tests/mock/jget"
start_stack redis
migrate_db
REDIS_PORT=${STENO_REDIS_URL##*:}
REDIS_PORT=${REDIS_PORT%%/*}
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }

MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.02 --log-level warn
MOCK="http://127.0.0.1:$MP"
wait_http "$MOCK/healthz"
upstream() { curl -s "$MOCK/stats" | "$JGET" requests -; }

# stenod with the cache options of the test; STENOD_ARGS adds more
stenod() {
    start_server "$BUILD/stenod" "stenod$1" --database-url "$STENO_DATABASE_URL" \
        --redis-url "$STENO_REDIS_URL" --redis-probe-interval 1s --redis-recover-after 3s \
        --upstream-url "$MOCK/v1" --api-key test-key --claim-interval 0.2s --lease 5s \
        --chunk-min 10s --chunk-max 20s --cache-warm 0 --log-file "$T/steno$1.log" "${@:2}" ||
        exit 1
    S="http://127.0.0.1:$PORT"
    STENOD_PID=$SERVER_PID
}
stop_stenod() { kill -TERM "$STENOD_PID"; wait_exit "$STENOD_PID" 20; }
# post FILE [curl args…]: upload; status → stdout, body $T/body, headers $T/hdr
post() {
    curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' -F "file=@$1" "${@:2}" "$S/v1/transcriptions"
}
# ask SHA [query]: pre-upload lookup, empty body
ask() {
    curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' -X POST -H "X-Content-SHA256: $1" \
        -H 'Content-Length: 0' "$S/v1/transcriptions${2:-}"
}
field() { "$JGET" "$1" "$T/body"; }
hdr() { sed -n "s/^$1: *//Ip" "$T/hdr" | tr -d '\r'; }
status() { sql "SELECT status FROM jobs WHERE id = '$1'"; }
wait_done() { # wait_done ID
    for _ in $(seq 600); do
        case $(status "$1") in done | failed | cancelled) return 0 ;; esac
        sleep 0.1
    done
    return 1
}
wait_redis() { # wait_redis available|unavailable: the L2 state in /v1/cache/stats
    for _ in $(seq 300); do
        [ "$(curl -s "$S/v1/cache/stats" | "$JGET" l2.state -)" = "$1" ] && return 0
        sleep 0.1
    done
    return 1
}

stenod 1
check_true "Redis in use (full mode)" wait_redis available

# ---- a first upload is a miss and a job; the same again is an L1 hit
"$GEN" --duration 30 --rate 16000 --format wav --seed 11 --out "$T/a.wav" >/dev/null
SHA_A=$(sha256sum "$T/a.wav" | cut -c1-64)
check "first upload: 202" 202 "$(post "$T/a.wav")"
check "first upload: X-Steno-Cache miss" miss "$(hdr x-steno-cache)"
A=$(field id)
check_true "job A done" wait_done "$A"
check "job A: done" done "$(status "$A")"
U=$(upstream)
KEY_A=$(sql "SELECT cache_key FROM jobs WHERE id = '$A'")
curl -s "$S/v1/transcripts/$A?format=verbose_json" >"$T/a.json"
TEXT_A=$("$JGET" text "$T/a.json")
check_true "job A has a transcript" test -n "$TEXT_A"
check "L2 was written on completion" 1 "$(rcli EXISTS "$KEY_A")"
check "…with the 24 h TTL" 1 "$(rcli TTL "$KEY_A" | awk '{print ($1 > 86000 && $1 <= 86400)}')"
check "…and listed in the sha's set" 1 "$(rcli SISMEMBER "steno:cache:sha:$SHA_A" "$KEY_A")"

check "re-upload: 200" 200 "$(post "$T/a.wav")"
check "re-upload: X-Steno-Cache l1" l1 "$(hdr x-steno-cache)"
check "re-upload: the body says l1" l1 "$(field cache)"
check "re-upload: the same transcript" "$TEXT_A" "$(field transcript.text)"
check "re-upload: same segments" "$("$JGET" segments.# "$T/a.json")" "$(field transcript.segments.#)"
H=$(hdr x-steno-job-id)
check "re-upload: no upstream request" "$U" "$(upstream)"
check "hit recorded as a done job with its cache level" "done l1" \
    "$(sql "SELECT status || ' ' || cache_level FROM jobs WHERE id = '$H'")"
curl -s "$S/v1/transcripts/$H?format=text" >"$T/h.txt"
check "its /v1/transcripts works like any job's" "$TEXT_A" "$(cat "$T/h.txt")"
curl -s "$S/v1/transcripts/$A?format=srt" >"$T/a.srt"
check "response_format=srt: 200" 200 "$(post "$T/a.wav" -F response_format=srt)"
check_true "response_format=srt: the same SRT as the job's" cmp -s "$T/body" "$T/a.srt"
check "response_format=text: plain text" "$TEXT_A" \
    "$(post "$T/a.wav" -F response_format=text >/dev/null; cat "$T/body")"

# ---- pre-upload lookup: hash only, no body
check "pre-upload (header): 200" 200 "$(ask "$SHA_A")"
check "pre-upload: l1" l1 "$(hdr x-steno-cache)"
check "pre-upload: transcript" "$TEXT_A" "$(field transcript.text)"
UPPER=$(tr a-f A-F <<<"$SHA_A")
check "pre-upload (?sha256=, upper case): 200" 200 \
    "$(curl -s -D "$T/hdr" -o "$T/body" -w '%{http_code}' -X POST "$S/v1/transcriptions?sha256=$UPPER")"
check "pre-upload, other parameters (language=en): 404 cache_miss" "404 cache_miss miss" \
    "$(ask "$SHA_A" '?language=en') $(field error.code) $(hdr x-steno-cache)"
NOSUCH=$(printf 'nothing' | sha256sum | cut -c1-64)
check "pre-upload, unknown sha: 404 cache_miss" "404 cache_miss" "$(ask "$NOSUCH") $(field error.code)"
check "pre-upload, malformed sha: 400 invalid_sha256" "400 invalid_sha256" \
    "$(ask abc123) $(field error.code)"
check "upload whose body does not match the announced sha: 400" "400 sha256_mismatch" \
    "$(post "$T/a.wav" -H "X-Content-SHA256: $NOSUCH") $(field error.code)"
check "nothing went upstream for all of that" "$U" "$(upstream)"

# ---- L2: a new process (empty L1) answers from Redis
stop_stenod
stenod 2
wait_redis available
check "after restart: l2" "200 l2" "$(ask "$SHA_A") $(hdr x-steno-cache)"
check "then l1 (filled from L2)" "200 l1" "$(ask "$SHA_A") $(hdr x-steno-cache)"
# ---- L3: Redis emptied and a new process: the transcripts table answers
rcli FLUSHALL >/dev/null
stop_stenod
stenod 3
wait_redis available
check "after FLUSHALL + restart: l3" "200 l3" "$(ask "$SHA_A") $(hdr x-steno-cache)"
check "the L3 hit refilled L2" 1 "$(rcli EXISTS "$KEY_A")"
check "then l1" "200 l1" "$(ask "$SHA_A") $(hdr x-steno-cache)"
check "an upload answered from L3 the same way" "$TEXT_A" "$(post "$T/a.wav" >/dev/null; field transcript.text)"
check "no upstream request for any tier" "$U" "$(upstream)"
for _ in $(seq 50); do # counts are written in batches, once a second at most
    HITS=$(sql "SELECT hits FROM transcripts WHERE cache_key = '$KEY_A'")
    [ "${HITS:-0}" -ge 5 ] && break
    sleep 0.1
done
check_true "hits are counted in L3 (batched): $HITS" test "${HITS:-0}" -ge 5

# ---- warm-up: a process started with --cache-warm loads the most-hit ones
stop_stenod
stenod 4 --cache-warm 10
for _ in $(seq 100); do [ "$(metric "$PORT" steno_cache_keys)" -ge 1 ] && break; sleep 0.1; done
check "warmed at start: the first lookup is l1" "200 l1" "$(ask "$SHA_A") $(hdr x-steno-cache)"
stop_stenod

# ---- single flight: 10 identical concurrent uploads → one job, one upstream pass.
# The upstream is a second mock at real-time latency (a 20 s chunk takes
# 2.6 s), so the job is still running while the uploads land even on a
# loaded machine. Whatever the timing, an upload either attaches to that one
# job (202 with its id) or, once it is done, is a cache hit (200): never a
# second job, never a second upstream pass.
MP2=$(free_port)
start_bg "$T/mock2.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP2 \
    --time-scale 1 --log-level warn
MOCK="http://127.0.0.1:$MP2"
wait_http "$MOCK/healthz"
stenod 5 --workers 2
"$GEN" --duration 60 --rate 16000 --format wav --seed 12 --out "$T/b.wav" >/dev/null
SHA_B=$(sha256sum "$T/b.wav" | cut -c1-64)
U0=$(upstream)
cpids=()
for i in $(seq 10); do
    curl -s -o "$T/sf.$i" -w '%{http_code}\n' -F "file=@$T/b.wav" "$S/v1/transcriptions" \
        >"$T/sfc.$i" & cpids+=($!)
done
wait "${cpids[@]}"
B=$(sql "SELECT id FROM jobs WHERE audio_sha256 = '$SHA_B' AND cache_level IS NULL")
check "one job row for that audio" 1 "$(echo "$B" | grep -c .)"
ATTACHED=0 SFHITS=0 OTHER=0
for i in $(seq 10); do
    case "$(cat "$T/sfc.$i") $("$JGET" id "$T/sf.$i")" in
    "202 $B") ATTACHED=$((ATTACHED + 1)) ;;
    200\ *) [ -n "$("$JGET" cache "$T/sf.$i")" ] && SFHITS=$((SFHITS + 1)) || OTHER=$((OTHER + 1)) ;;
    *) OTHER=$((OTHER + 1)) ;;
    esac
done
echo "# single flight: $ATTACHED attached to job $B, $SFHITS answered from the cache"
check "every upload attached to that job (202) or was a cache hit (200)" "10 0" \
    "$((ATTACHED + SFHITS)) $OTHER"
check_true "several uploads attached to the running job ($ATTACHED)" test "$ATTACHED" -ge 2
check_true "the job finishes" wait_done "$B"
check "…done" done "$(status "$B")"
NCH=$(sql "SELECT count(*) FROM chunks WHERE job_id = '$B' AND status = 'done'")
check "one upstream pass: requests = the job's $NCH chunks" "$NCH" "$(($(upstream) - U0))"

# ---- invalidation reaches every worker's L1, L2 and L3
KEY_B=$(sql "SELECT cache_key FROM jobs WHERE id = '$B'")
# prime both workers' L1 (new connections spread over the SO_REUSEPORT group)
for _ in $(seq 60); do
    ask "$SHA_B" >/dev/null
    [ "$(metric "$PORT" steno_cache_keys)" -ge 2 ] && break
done
check "both workers hold the transcript in L1" 2 "$(metric "$PORT" steno_cache_keys)"
inv0=$(metric "$PORT" steno_cache_invalidations_total)
code=$(curl -s -o "$T/body" -w '%{http_code}' -X DELETE "$S/v1/cache/$SHA_B")
check "DELETE /v1/cache/{sha}: 200" 200 "$code"
check "…removed the L3 row" 1 "$(field removed.l3)"
check "…and the L2 key" 1 "$(field removed.l2)"
for _ in $(seq 50); do [ "$(metric "$PORT" steno_cache_keys)" = 0 ] && break; sleep 0.1; done
check "every worker's L1 dropped it" 0 "$(metric "$PORT" steno_cache_keys)"
check_true "both workers applied the broadcast" \
    test "$(($(metric "$PORT" steno_cache_invalidations_total) - inv0))" -ge 2
check "L2 key gone" 0 "$(rcli EXISTS "$KEY_B")"
check "L3 row gone" 0 "$(sql "SELECT count(*) FROM transcripts WHERE sha256 = '$SHA_B'")"
check "audited" "cache.delete 1" \
    "$(sql "SELECT action || ' ' || (details->>'l3') FROM audit_log WHERE target = 'cache:$SHA_B'")"
miss=0
for _ in $(seq 10); do [ "$(ask "$SHA_B")" = 404 ] && miss=$((miss + 1)); done
check "afterwards every lookup misses, on every worker" 10 "$miss"
check "DELETE again: 404 cache_not_found" "404 cache_not_found" \
    "$(curl -s -o "$T/body" -w '%{http_code}' -X DELETE "$S/v1/cache/$SHA_B") $(field error.code)"
check "DELETE malformed: 400 invalid_sha256" "400 invalid_sha256" \
    "$(curl -s -o "$T/body" -w '%{http_code}' -X DELETE "$S/v1/cache/not-a-sha") $(field error.code)"
check "its transcript is gone for the job too: 404" 404 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$S/v1/transcripts/$B")"

# ---- a workload with ~70% repeats reports its hit rate
for i in $(seq 6); do
    "$GEN" --duration $((2 + i)) --rate 8000 --format wav --out "$T/w$i.wav" >/dev/null
done
curl -s "$S/v1/cache/stats" >"$T/s0.json"
wids=()
for i in $(seq 6); do post "$T/w$i.wav" >/dev/null; wids+=("$(field id)"); done
for id in "${wids[@]}"; do wait_done "$id"; done
REPEATS=0
for r in $(seq 14); do
    [ "$(post "$T/w$((r % 6 + 1)).wav")" = 200 ] && REPEATS=$((REPEATS + 1))
done
curl -s "$S/v1/cache/stats" >"$T/s1.json"
d() { echo $(($("$JGET" "$1" "$T/s1.json") - $("$JGET" "$1" "$T/s0.json"))); }
LOOK=$(d lookups); HIT=$(d hits)
check "workload: 20 lookups counted" 20 "$LOOK"
check "workload: 14 repeats, each a hit" "14 14" "$REPEATS $HIT"
RATE=$(awk -v h="$HIT" -v n="$LOOK" 'BEGIN { printf "%.2f", h / n }')
echo "# 70% repeat workload: window hit rate $RATE; /v1/cache/stats: $(cat "$T/s1.json")"
check_true "window hit rate $RATE within 0.65..0.75 (sent 14 of 20 as repeats)" \
    awk -v r="$RATE" 'BEGIN { exit !(r >= 0.65 && r <= 0.75) }'
check_true "reported cumulative hit_rate is a rate" \
    awk -v r="$("$JGET" hit_rate "$T/s1.json")" 'BEGIN { exit !(r > 0 && r < 1) }'
ALLHITS=0
for t in l1 l2 l3; do
    ALLHITS=$((ALLHITS + $(metric "$PORT" "steno_cache_requests_total{tier=\"$t\",result=\"hit\"}")))
done
check_true "cache hit counters in /metrics ($ALLHITS) agree with the stats" test "$ALLHITS" = "$("$JGET" hits "$T/s1.json")"

# ---- Redis killed mid-run: no 5xx, L1/L3 carry on; L2 comes back after recovery
"$SOURCE/tools/local-stack" redis-stop "$STACK" >/dev/null 2>&1
"$GEN" --duration 20 --rate 16000 --format wav --seed 13 --out "$T/c.wav" >/dev/null
check "Redis down: upload still 202" 202 "$(post "$T/c.wav")"
C=$(field id)
check_true "Redis down: the job completes" wait_done "$C"
check "Redis down: job done" done "$(status "$C")"
check_true "Redis down: the cache reports L2 unavailable" wait_redis unavailable
ok=0
for _ in $(seq 6); do [ "$(post "$T/c.wav")" = 200 ] && ok=$((ok + 1)); done
check "Redis down: repeats are hits (no 5xx)" 6 "$ok"
SHA_C=$(sha256sum "$T/c.wav" | cut -c1-64)
code=$(curl -s -o "$T/body" -w '%{http_code}' -X DELETE "$S/v1/cache/$SHA_C")
check "Redis down: DELETE works (L2 deferred)" "200 null" "$code $(field removed.l2)"
check "Redis down: stats answer" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$S/v1/cache/stats")"
"$SOURCE/tools/local-stack" redis-start "$STACK" >/dev/null 2>&1
check_true "Redis back: full mode returns after the recovery window" wait_redis available
"$GEN" --duration 10 --rate 16000 --format wav --seed 14 --out "$T/e.wav" >/dev/null
post "$T/e.wav" >/dev/null
E=$(field id)
wait_done "$E"
KEY_E=$(sql "SELECT cache_key FROM jobs WHERE id = '$E'")
check "Redis back: a finished job is in L2 again" 1 "$(rcli EXISTS "$KEY_E")"

FIVE=$(cat "$T"/steno*.log | grep -a -E 'http: \S+ \S+ \S+ 5[0-9]{2} ')
[ -n "$FIVE" ] && echo "$FIVE" | head -5
check "no 5xx answered in the whole run" 0 "$(printf '%s' "$FIVE" | grep -c .)"
finish

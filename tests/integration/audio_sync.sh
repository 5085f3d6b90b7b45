#!/usr/bin/env bash
# POST /v1/audio/transcriptions: OpenAI-compatible and synchronous. Runs
# without any database (the design keeps this path up while PostgreSQL is
# down), answers in every response_format, checks word by word with
# tone-check, refuses bad input with OpenAI-shaped errors, and a client that
# hangs up cancels its upstream streams.
. "$(dirname "$0")/lib.sh"

GEN="$BUILD/tools/gen-audio/gen-audio"
CHECK="$BUILD/tools/gen-audio/tone-check"
JGET="$BUILD/tests/mock/jget"
MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.02 --log-level warn
MOCK="http://127.0.0.1:$MP"
wait_http "$MOCK/healthz"
mstat() { curl -s "$MOCK/stats" | "$JGET" "$1"; }

# a database URL nobody answers at: the synchronous path must not care
DEAD=$(free_port)
start_server "$BUILD/stenod" stenod --upstream-url "$MOCK/v1" --api-key test-key \
    --database-url "postgresql://steno@127.0.0.1:$DEAD/steno" --redis-url "" \
    --chunk-min 20s --chunk-max 40s --max-upload 20M --log-file "$T/steno.log"
S="http://127.0.0.1:$PORT/v1/audio/transcriptions"

"$GEN" --duration 150 --rate 16000 --format flac --out "$T/a.flac" >/dev/null
code=$(curl -s -o "$T/v.json" -w '%{http_code}' -F "file=@$T/a.flac" -F model=whisper-1 \
    -F response_format=verbose_json -F language=en "$S")
check "verbose_json: 200" 200 "$code"
check "verbose_json: every word in place" 0 "$("$CHECK" --duration 150 "$T/v.json" >"$T/v.check"; echo $?)"
check_true "the 150 s file went up as several chunks" test "$(mstat requests)" -ge 3
before=$(mstat requests)
hdr=$(curl -s -D - -o "$T/v2.json" -F "file=@$T/a.flac" -F model=whisper-1 \
    -F response_format=verbose_json -F language=en "$S" | tr -d '\r' | grep -i '^x-steno-cache:')
check "the same request again: an L1 cache hit" "x-steno-cache: l1" "${hdr,,}"
check "the hit sent nothing upstream" "$before" "$(mstat requests)"
check "the hit is the same transcript" "$("$JGET" text "$T/v.json")" "$("$JGET" text "$T/v2.json")"
check "jobs need the database meanwhile: 503" 503 \
    "$(curl -s -o /dev/null -w '%{http_code}' -F "file=@$T/a.flac" "http://127.0.0.1:$PORT/v1/transcriptions")"

curl -s -F "file=@$T/a.flac" "$S" >"$T/j.json"
check "json (the default): only the text" "text" "$("$JGET" . "$T/j.json" | sed 's/{"\([a-z]*\)".*/\1/')"
check "json text equals verbose_json text" "$("$JGET" text "$T/v.json")" "$("$JGET" text "$T/j.json")"
ctype=$(curl -s -o "$T/s.srt" -w '%{content_type}' -F "file=@$T/a.flac" -F response_format=srt "$S")
check_contains "srt: text/plain" "text/plain" "$ctype"
check "srt: first cue numbered 1" 1 "$(head -n1 "$T/s.srt" | tr -d '\r')"
check_contains "vtt: WEBVTT header" WEBVTT "$(curl -s -F "file=@$T/a.flac" -F response_format=vtt "$S" | head -n1)"
words=$(curl -s -F "file=@$T/a.flac" -F response_format=verbose_json \
    -F 'timestamp_granularities[]=word' "$S" | "$JGET" words.#)
check_true "word timestamps on request ($words words)" test "${words:-0}" -gt 100

# bad input: OpenAI-shaped errors
bad() { curl -s -o "$T/e.json" -w '%{http_code}' "$@" "$S"; }
check "bad response_format: 400" 400 "$(bad -F "file=@$T/a.flac" -F response_format=docx)"
check "its error names the parameter" invalid_parameter "$("$JGET" error.code "$T/e.json")"
check "temperature out of range: 400" 400 "$(bad -F "file=@$T/a.flac" -F temperature=7)"
head -c 50000 /dev/urandom >"$T/noise.bin"
check "not audio: 415" 415 "$(bad -F "file=@$T/noise.bin")"
check "no file field: 400" 400 "$(bad -F model=whisper-1)"
check "a JSON body instead of a form: 415" 415 "$(bad -H 'Content-Type: application/json' -d '{}')"

# a client that hangs up cancels its work: its upstream streams are reset
SP=$(free_port)
start_bg "$T/slow.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$SP \
    --time-scale 1 --base-latency 20s --log-level warn
wait_http "http://127.0.0.1:$SP/healthz"
start_server "$BUILD/stenod" slow --upstream-url "http://127.0.0.1:$SP/v1" --api-key test-key \
    --redis-url "" --chunk-min 20s --chunk-max 40s --log-file "$T/slow-steno.log"
slow() { curl -s "http://127.0.0.1:$SP/stats" | "$JGET" "$1"; }
curl -s -m 120 -F "file=@$T/a.flac" "http://127.0.0.1:$PORT/v1/audio/transcriptions" >/dev/null &
CLIENT=$!
# hang up once its streams are upstream (the mock holds each for 20 s)
for _ in $(seq 300); do [ "$(slow in_flight)" -ge 1 ] 2>/dev/null && break; sleep 0.1; done
check_true "the request's streams reached the mock" test "$(slow in_flight)" -ge 1
kill "$CLIENT"
wait "$CLIENT" 2>/dev/null
for _ in $(seq 300); do [ "$(slow in_flight)" = 0 ] && break; sleep 0.1; done
check_contains "the hang-up is logged" "the client left" "$(cat "$T/slow-steno.log")"
check "the mock saw every stream reset, none left in flight" 0 "$(slow in_flight)"
check_true "streams were reset ($(slow client_aborts))" test "$(slow client_aborts)" -ge 1
check "no transcription finished for the abandoned request" 0 "$(slow by_status.200 2>/dev/null || echo 0)"
finish

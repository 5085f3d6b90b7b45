#!/usr/bin/env bash
# steno-mock under concurrency: SETTINGS_MAX_CONCURRENT_STREAMS, GOAWAY after
# N requests (HTTP/1.1 and h2), the latency model read back from the mock's
# own numbers, a 25 MB upload decoded in short slices, and 200 concurrent
# streams on one HTTP/2 connection answered in about one latency, not 200.
# Timing is asserted only through the mock's numbers or by huge margins.
. "$(dirname "$0")/mock_lib.sh"

gen one.wav --duration 1.2
form_body "$T/one.form" "$T/one.wav"
URL_PATH=/v1/audio/transcriptions

# --max-streams: announced, and never exceeded on one connection
start_mock streams --max-streams 4 --time-scale 0.05
out=$(nghttp -v -d "$T/one.form" -H "$AUTH" -H "$FORM_TYPE" "$MU$URL_PATH" 2>&1)
check_contains "SETTINGS_MAX_CONCURRENT_STREAMS announced" "SETTINGS_MAX_CONCURRENT_STREAMS(0x03):4" "$out"
reset_stats
out=$(h2load -n 20 -c 1 -m 4 -d "$T/one.form" -H "$AUTH" -H "$FORM_TYPE" "$MU$URL_PATH" 2>&1)
check_contains "h2load: 20 streams on one connection succeed" "20 succeeded" "$out"
check "peak concurrent streams = --max-streams" "4 1" "$(mstat peak_in_flight) $(mstat transcription_connections)"
# a client that opens streams before it saw the SETTINGS gets REFUSED_STREAM
reset_stats
out=$(nghttp -v -m 8 -d "$T/one.form" -H "$AUTH" -H "$FORM_TYPE" "$MU$URL_PATH" 2>&1)
check "streams over the limit: the first 4 are answered" 4 "$(count_lines ':status: 200' "$out")"
check_contains "streams over the limit are refused" "REFUSED_STREAM" "$out"
check "the handler never saw more than 4" "4 4" "$(mstat peak_in_flight) $(mstat requests)"

# --goaway-after 3: HTTP/1.1 says connection: close on the 3rd response
start_mock goaway --goaway-after 3 --time-scale 0
U="$MU$URL_PATH"
reset_stats
out=$(curl -s -H "Authorization: Bearer $KEY" -F "file=@$T/one.wav" -F "model=$MODEL" \
    -D - -o /dev/null -w 'connects=%{num_connects}\n' "$U" "$U" "$U" "$U" | tr -d '\r')
check "h1: the 3rd response closes the connection" 1 "$(count_lines '^connection: close' "$out")"
check "h1: the 4th request needs a new connection" "1 0 0 1" "$(grep connects= <<<"$out" | cut -d= -f2 | tr '\n' ' ' | sed 's/ $//')"
st=$(curl -s "$MU/stats")
check "h1: stats (connections include this /stats query)" "4 1 2 3" \
    "$(jget by_status.200 <<<"$st") $(jget goaways <<<"$st") $(jget transcription_connections <<<"$st") $(jget connections <<<"$st")"
# h2: GOAWAY names the 3rd stream; the client retries the rest elsewhere
reset_stats
out=$(nghttp -v -m 3 -d "$T/one.form" -H "$AUTH" -H "$FORM_TYPE" "$MU$URL_PATH" 2>&1)
check_contains "h2: GOAWAY after 3 requests" "recv GOAWAY frame" "$out"
check_contains "h2: last stream is the 3rd" "last_stream_id=17" "$out"
check "h2: the three are answered" 3 "$(count_lines ':status: 200' "$out")"
reset_stats
out=$(h2load -n 12 -c 1 -m 4 -d "$T/one.form" -H "$AUTH" -H "$FORM_TYPE" "$MU$URL_PATH" 2>&1)
check_contains "h2load (does not reconnect): 3 answered before the GOAWAY" "3 succeeded" "$out"
check "h2load: one GOAWAY, three 200s" "1 3" "$(mstat goaways) $(mstat by_status.200)"
check_true "streams opened after the GOAWAY are refused, not served" test "$(mstat refused)" -le 1

# the latency model, read back exactly: (base + per_second × seconds) × scale
start_mock latency --base-latency 0.5 --per-second 0.1 --time-scale 0.1
gen six.wav --duration 6
t=$(transcribe "$T/six.wav" -D "$T/h" -o /dev/null -w '%{time_total}')
h=$(tr -d '\r' <"$T/h")
check_contains "delay = (0.5 + 0.1 × 6) × 0.1 = 110 ms" "x-mock-delay-ms: 110" "$h"
check_contains "audio seconds" "x-mock-audio-seconds: 6.000" "$h"
check_true "the client waited at least the delay ($t s)" awk "BEGIN { exit !($t >= 0.11) }"
check "stats: delay and audio seconds" "110 6.0" "$(mstat delay_ms) $(mstat audio_seconds)"

# defaults: a 25 MB chunk of 44.1 kHz stereo 16-bit WAV (~147 s) takes ~13 s
# (checked at --time-scale 0.01 through the header), decoded in short slices
start_mock big --time-scale 0.01
gen big.wav --size 26000000 --rate 44100 --channels 2
form_body "$T/big.form" "$T/big.wav" response_format=verbose_json
curl -s -H "$AUTH" -H "$FORM_TYPE" --data-binary "@$T/big.form" -D "$T/h" -o "$T/big.json" "$MU$URL_PATH"
dur=$(grep -i '^x-mock-audio-seconds' "$T/h" | tr -d '\r' | cut -d' ' -f2)
ms=$(grep -i '^x-mock-delay-ms' "$T/h" | tr -d '\r' | cut -d' ' -f2)
check "25 MB WAV: exact transcript" 0 "$("$TONE_CHECK" --duration "$dur" "$T/big.json" >/dev/null; echo $?)"
check "25 MB WAV: delay = (1 + 0.08 × $dur) × 0.01" "$(awk "BEGIN { printf \"%d\", (1 + 0.08 * $dur) * 10 + 0.5 }")" "$ms"
check_true "25 MB WAV at time-scale 1: 12..14 s (${ms}0 ms)" test "$ms" -ge 120 -a "$ms" -le 140
slices=$(mstat decode_slices)
max=$(mstat decode_max_slice_ms)
echo "# 25 MB decode: $slices slices, longest $max ms of CPU"
check_true "decoded in many slices ($slices)" test "$slices" -ge 5
check_true "no slice held the loop long (${max} ms CPU < 100)" awk "BEGIN { exit !($max < 100) }"

# 200 concurrent streams on one HTTP/2 connection: one latency, not 200
start_mock c200 --max-streams 256 --base-latency 1 --per-second 0 --time-scale 1 --log-level warn
start=$(date +%s.%N)
out=$(h2load -n 200 -c 1 -m 200 -d "$T/one.form" -H "$AUTH" -H "$FORM_TYPE" "$MU$URL_PATH" 2>&1)
end=$(date +%s.%N)
wall=$(awk "BEGIN { printf \"%.2f\", $end - $start }")
echo "# 200 streams, 1 s latency each: wall ${wall} s, serial would be 200 s"
check_contains "200 streams all succeed" "200 succeeded" "$out"
check "peak concurrent streams" 200 "$(mstat peak_in_flight)"
check "all on one connection" 1 "$(mstat transcription_connections)"
check "every delay was 1 s" 200000 "$(mstat delay_ms)"
check_true "wall ${wall} s < 20% of the serial 200 s" awk "BEGIN { exit !($wall < 40) }"
mock_finish

#!/usr/bin/env bash
# steno-mock transcribes gen-audio output exactly: every format gen-audio
# writes, several rates and channel counts, lead silence (times relative to
# the upload), silence → empty transcript; every response_format and
# timestamp granularity; HTTP/1.1, h2c, h2 and http/1.1 over TLS.
. "$(dirname "$0")/mock_lib.sh"

start_mock rt --time-scale 0

# format rate channels duration
cases=(
    "wav 8000 1 4.2" "wav 16000 1 6" "wav 44100 2 6" "wav 48000 6 3"
    "flac 16000 1 6" "flac 44100 2 4.2"
    "ogg 16000 1 6" "ogg 44100 2 4.2"
    "opus 16000 1 6" "opus 48000 2 4.2"
    "mp3 16000 1 6" "mp3 44100 2 4.2"
    "rf64 16000 1 6" "aiff 22050 2 6"
)
for c in "${cases[@]}"; do
    read -r fmt rate ch dur <<<"$c"
    name="a-$rate-$ch.$fmt"
    gen "$name" --duration "$dur" --rate "$rate" --channels "$ch" --format "$fmt"
    transcribe "$T/$name" -F response_format=verbose_json -F 'timestamp_granularities[]=word' \
        -F 'timestamp_granularities[]=segment' >"$T/$name.json"
    check "round trip $fmt ${rate}Hz ${ch}ch ${dur}s" 0 \
        "$("$TONE_CHECK" --duration "$dur" "$T/$name.json" >/dev/null; echo $?)"
done

# 8-bit, 24-bit and float subtypes, noise, no pauses is not word-separated: skip
gen f32.wav --duration 6 --subtype float --noise 0.01
transcribe "$T/f32.wav" -F response_format=verbose_json >"$T/f32.json"
check "float WAV with a noise floor" 0 "$("$TONE_CHECK" --duration 6 "$T/f32.json" >/dev/null; echo $?)"

# times are relative to the uploaded audio: 1.5 s of lead silence
gen lead.flac --duration 6 --lead 1.5 --trail 0.7 --format flac
transcribe "$T/lead.flac" -F response_format=verbose_json >"$T/lead.json"
check "lead silence shifts every word" 0 \
    "$("$TONE_CHECK" --duration 6 --lead 1.5 "$T/lead.json" >/dev/null; echo $?)"
check "first segment starts after the lead" 1.5 "$(jget segments.0.start "$T/lead.json" | cut -c1-3)"
check "duration is the whole upload" 8.2 "$(jget duration "$T/lead.json")"

# silence: empty transcript
gen silence.wav --duration 0.1 --lead 3
transcribe "$T/silence.wav" -F response_format=verbose_json >"$T/silence.json"
check "silence: text is empty" "" "$(jget text "$T/silence.json")"
check "silence: no segments" 0 "$(jget segments.# "$T/silence.json")"
check "silence: json format" '{"text":""}' "$(transcribe "$T/silence.wav" | tr -d ' \n')"

# every response_format (12 words: w0..w11, 3 segments of ≤ 5 words)
gen twelve.wav --duration 7.2
words="w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 w10 w11"
out=$(transcribe "$T/twelve.wav")
check "json: text" "$words" "$(jget text <<<"$out")"
check "json: only text" 1 "$(jget . <<<"$out" | "$JGET" '#')"
check "text format" "$words" "$(transcribe "$T/twelve.wav" -F response_format=text)"
ct=$(transcribe "$T/twelve.wav" -F response_format=text -o /dev/null -w '%{content_type}')
check "text content type" "text/plain; charset=utf-8" "$ct"
srt=$(transcribe "$T/twelve.wav" -F response_format=srt)
check "srt: three cues" 3 "$(count_lines ' --> ' "$srt")"
check "srt: first cue" "$(printf '1\n00:00:00,002 --> 00:00:02,798\nw0 w1 w2 w3 w4')" "$(head -3 <<<"$srt")"
vtt=$(transcribe "$T/twelve.wav" -F response_format=vtt)
check "vtt: header" WEBVTT "$(head -1 <<<"$vtt")"
check "vtt: last cue" "00:00:06.0 w10 w11" "$(tail -2 <<<"$vtt" | cut -c1-10 | tr '\n' ' ' | sed 's/ $//')"
v=$(transcribe "$T/twelve.wav" -F response_format=verbose_json)
check "verbose_json: segments of at most 5 words" "3 5 5 2" \
    "$(jget segments.# <<<"$v") $(jget segments.0.tokens.# <<<"$v") $(jget segments.1.tokens.# <<<"$v") $(jget segments.2.tokens.# <<<"$v")"
check "verbose_json: no words without the granularity" "" "$(jget words <<<"$v")"
check "verbose_json: language default" english "$(jget language <<<"$v")"
v=$(transcribe "$T/twelve.wav" -F response_format=verbose_json -F 'timestamp_granularities[]=segment')
check "segment granularity alone: no words" "" "$(jget words <<<"$v")"
v=$(transcribe "$T/twelve.wav" -F response_format=verbose_json -F 'timestamp_granularities[]=word' -F language=ru)
check "word granularity: 12 words" 12 "$(jget words.# <<<"$v")"
check "word granularity: word text and time" "w11 6.6" "$(jget words.11.word <<<"$v") $(jget words.11.start <<<"$v" | cut -c1-3)"
check "language echoed" ru "$(jget language <<<"$v")"

# a gap over 1 s starts a new segment: two files' worth of words split by silence
gen gap.wav --duration 1.2 --trail 1.5
transcribe "$T/gap.wav" -F response_format=verbose_json >"$T/gap.json"
check "words before a trailing gap: one segment" 1 "$(jget segments.# "$T/gap.json")"

# HTTP/2 (prior knowledge) and TLS (h2 and http/1.1 by ALPN)
out=$(transcribe "$T/twelve.wav" --http2-prior-knowledge -w '\n%{http_version}')
check "h2c: transcript" "$words" "$(sed '$d' <<<"$out" | "$JGET" text)"
check "h2c: protocol" 2 "$(tail -1 <<<"$out")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$T/key.pem" -out "$T/cert.pem" 2>/dev/null
TP=$(free_port)
start_mock tls --time-scale 0 --tls-listen "127.0.0.1:$TP" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem"
for v in --http2 --http1.1; do
    out=$(curl -s --cacert "$T/cert.pem" "$v" -H "Authorization: Bearer $KEY" -F "file=@$T/twelve.wav" \
        -F "model=$MODEL" -w '\n%{http_version}' "https://localhost:$TP/v1/audio/transcriptions" \
        --resolve "localhost:$TP:127.0.0.1")
    check "TLS $v: transcript" "$words" "$(sed '$d' <<<"$out" | "$JGET" text)"
    check "TLS $v: protocol" "$([ $v = --http2 ] && echo 2 || echo 1.1)" "$(tail -1 <<<"$out")"
done
check "TLS: stats by protocol" "1 1" "$(mstat by_proto.h1) $(mstat by_proto.h2)"
mock_finish

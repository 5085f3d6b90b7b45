#!/usr/bin/env bash
# The upload store through the real HTTP stack: raw and multipart bodies over
# HTTP/1.1 and h2 land content-addressed with the right SHA-256; bad media,
# bad forms, empty and over-limit uploads get their JSON errors; a client
# that leaves mid-upload leaves no temp file behind.
. "$(dirname "$0")/lib.sh"

start_server "$BUILD/tests/helpers/http-testd" testd --max-upload 4M
URL="http://127.0.0.1:$PORT/test/store"
D="$T/testd-data"
head -c 1500000 /dev/urandom >"$T/a.bin"
SHA=$(sha256sum "$T/a.bin" | cut -d' ' -f1)
field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

out=$(curl -s -H 'Content-Type: audio/wav' --data-binary @"$T/a.bin" "$URL")
check "raw h1: sha256" "$SHA" "$(field sha256 <<<"$out")"
check "raw h1: content-addressed file" "$SHA" "$(sha256sum "$D/audio/$SHA" | cut -d' ' -f1)"
out=$(curl -s --http2-prior-knowledge -H 'Content-Type: audio/flac' -H 'Transfer-Encoding: chunked' --data-binary @"$T/a.bin" "$URL")
check "raw h2: sha256" "$SHA" "$(field sha256 <<<"$out")"
out=$(curl -s -F "file=@$T/a.bin;filename=talk.wav;type=audio/wav" -F language=ru \
    -F 'timestamp_granularities[]=word' -F 'timestamp_granularities[]=segment' "$URL")
check "multipart: sha256 of the file part only" "$SHA" "$(field sha256 <<<"$out")"
check "multipart: file name" "talk.wav" "$(field filename <<<"$out")"
check_contains "multipart: fields kept" '"language":"ru"' "$out"
check_contains "multipart: repeated field as array" '"timestamp_granularities[]":["word","segment"]' "$out"
out=$(curl -s --http2-prior-knowledge -F "file=@$T/a.bin" "$URL")
check "multipart h2: sha256" "$SHA" "$(field sha256 <<<"$out")"
check "one stored copy per content" 1 "$(ls "$D/audio" | wc -l)"

code() { curl -s -o "$T/err.json" -w '%{http_code}' "$@"; }
check "text/plain → 415" 415 "$(code -H 'Content-Type: text/plain' --data-binary 'hello' "$URL")"
check_contains "415 JSON" '"code":"unsupported_media_type"' "$(cat $T/err.json)"
check "no content type → 415" 415 "$(code -X POST --data-binary @"$T/a.bin" -H 'Content-Type:' "$URL")"
check "form without file → 400" 400 "$(code -F language=en "$URL")"
check_contains "missing file JSON" '"code":"missing_file"' "$(cat $T/err.json)"
check "truncated multipart → 400" 400 "$(code -H 'Content-Type: multipart/form-data; boundary=XyZ' --data-binary $'--XyZ\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc' "$URL")"
check "multipart without boundary → 400" 400 "$(code -H 'Content-Type: multipart/form-data' --data-binary 'x' "$URL")"
check "empty audio → 400" 400 "$(code -H 'Content-Type: audio/wav' --data-binary '' "$URL")"
head -c 5000000 /dev/zero >"$T/big.bin"
check "over --max-upload → 413" 413 "$(code -H 'Content-Type: audio/wav' --data-binary @"$T/big.bin" "$URL")"
check "chunked over --max-upload → 413" 413 "$(code -H 'Content-Type: audio/wav' -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.bin" "$URL")"

# a client that disconnects half way: the temp file is removed
exec 7<>/dev/tcp/127.0.0.1/$PORT
printf 'POST /test/store HTTP/1.1\r\nHost: x\r\nContent-Type: audio/wav\r\nContent-Length: 1000000\r\n\r\n' >&7
head -c 300000 /dev/urandom >&7
for _ in $(seq 200); do [ "$(ls "$D/tmp" | wc -l)" = 1 ] && break; sleep 0.05; done
check "temp file exists while uploading" 1 "$(ls "$D/tmp" | wc -l)"
exec 7>&-
gone=0
for _ in $(seq 200); do [ "$(ls "$D/tmp" | wc -l)" = 0 ] && { gone=1; break; }; sleep 0.05; done
check "aborted upload leaves no temp file" 1 "$gone"
check "no orphan after errors either" 0 "$(ls "$D/tmp" | wc -l)"
check "still one stored audio file" 1 "$(ls "$D/audio" | wc -l)"
finish

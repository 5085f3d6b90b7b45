#!/usr/bin/env bash
# steno-mock's error answers, in OpenAI's shape, over HTTP/1.1 and h2c:
# 401 (no key, wrong key), 404 (unknown model), 413 (Content-Length over the
# limit, chunked HTTP/1.1 and length-less h2 bodies outgrowing it), 400
# (missing file or model, undecodable audio, bad fields, malformed or
# non-multipart bodies), 429 from the requests/minute limit with Retry-After
# and x-ratelimit-* headers; /v1/models; option handling.
. "$(dirname "$0")/mock_lib.sh"

gen a.wav --duration 3           # 96 KB
gen big.wav --duration 6         # 192 KB
start_mock err --time-scale 0 --max-body 150k --api-key test-key --api-key other-key
URL=$MU/v1/audio/transcriptions

# error JSON fields: status type code param
shape() { # FILE → "type code param"
    echo "$(jget error.type "$1") $(jget error.code "$1") $(jget error.param "$1")"
}

for proto in --http1.1 --http2-prior-knowledge; do
    p=${proto#--}
    s=$(curl -s $proto -o "$T/e.json" -w '%{http_code}' -F "file=@$T/a.wav" -F "model=$MODEL" "$URL")
    check "$p: no key → 401" 401 "$s"
    check "$p: 401 shape" "invalid_request_error invalid_api_key null" "$(shape "$T/e.json")"
    check_contains "$p: 401 message" "didn't provide an API key" "$(jget error.message "$T/e.json")"
    s=$(curl -s $proto -o "$T/e.json" -w '%{http_code}' -H 'Authorization: Bearer nope' \
        -F "file=@$T/a.wav" -F "model=$MODEL" "$URL")
    check "$p: wrong key → 401" "401 invalid_api_key" "$s $(jget error.code "$T/e.json")"
    s=$(curl -s $proto -o "$T/e.json" -w '%{http_code}' -H 'Authorization: Bearer other-key' \
        -F "file=@$T/a.wav" -F "model=$MODEL" "$URL")
    check "$p: second key accepted" 200 "$s"
    s=$(transcribe "$T/a.wav" $proto -F model=whisper-9 -o "$T/e.json" -w '%{http_code}')
    check "$p: unknown model → 404" "404 invalid_request_error model_not_found" \
        "$s $(jget error.type "$T/e.json") $(jget error.code "$T/e.json")"
    check_contains "$p: 404 names the model" 'whisper-9' "$(jget error.message "$T/e.json")"
done

# 413: an announced Content-Length over the limit is refused at the headers
# (HTTP/2: the answer, then RST_STREAM; curl 7.88 reports that as error 92,
# so h2 is checked with nghttp); a body without Content-Length (chunked
# HTTP/1.1, length-less h2) is refused as soon as it outgrows the limit.
s=$(transcribe "$T/big.wav" -o "$T/e.json" -w '%{http_code}')
check "h1: Content-Length over --max-body → 413" "413 request_too_large" "$s $(jget error.code "$T/e.json")"
check_contains "h1: 413 names the limit" "(153600)" "$(jget error.message "$T/e.json")"
form_body "$T/big.form" "$T/big.wav"
out=$(nghttp -v -d "$T/big.form" -H "$AUTH" -H "$FORM_TYPE" "$URL" 2>&1)
check_contains "h2 (nghttp): Content-Length over --max-body → 413" ":status: 413" "$out"
check_contains "h2 (nghttp): 413 names the limit" "Maximum content size limit (153600)" "$out"
s=$(curl -s -X POST -T - -H "$AUTH" -H "$FORM_TYPE" -o "$T/e.json" -w '%{http_code}' "$URL" <"$T/big.form")
check "h1 chunked body outgrows the limit → 413" "413 request_too_large" "$s $(jget error.code "$T/e.json")"
check_contains "h1 chunked: 413 names the limit" "(153600)" "$(jget error.message "$T/e.json")"
reset_stats
curl -s --http2-prior-knowledge -X POST -T - -H "$AUTH" -H "$FORM_TYPE" -o /dev/null "$URL" <"$T/big.form"
check "h2 length-less body outgrows the limit → 413 (stats)" 1 "$(mstat by_status.413)"
form_body "$T/a.form" "$T/a.wav" response_format=text
s=$(curl -s -X POST -T - -H "$AUTH" -H "$FORM_TYPE" -w ' %{http_code}' "$URL" <"$T/a.form")
check "chunked body under the limit is transcribed" "w0 w1 w2 w3 w4 200" "$(tr -d '\n' <<<"$s")"

# 400s
bad() { # DESCRIPTION PARAM CURL-ARGS... → checks status 400 and error.param
    local d=$1 param=$2
    shift 2
    local s
    s=$(curl -s -o "$T/e.json" -w '%{http_code}' -H "Authorization: Bearer $KEY" "$@" "$URL")
    check "$d → 400" "400 invalid_request_error $param" "$s $(jget error.type "$T/e.json") $(jget error.param "$T/e.json")"
}
head -c 5000 /dev/urandom >"$T/noise.bin"
bad "missing file" file -F "model=$MODEL"
bad "missing model" model -F "file=@$T/a.wav"
bad "undecodable audio" file -F "file=@$T/noise.bin" -F "model=$MODEL"
check_contains "undecodable: says why" "could not decode" "$(jget error.message "$T/e.json")"
: >"$T/empty.wav"
bad "empty file" file -F "file=@$T/empty.wav" -F "model=$MODEL"
bad "bad response_format" response_format -F "file=@$T/a.wav" -F "model=$MODEL" -F response_format=xml
bad "bad granularity" 'timestamp_granularities[]' -F "file=@$T/a.wav" -F "model=$MODEL" -F 'timestamp_granularities[]=word' -F 'timestamp_granularities[]=letter'
bad "bad temperature" temperature -F "file=@$T/a.wav" -F "model=$MODEL" -F temperature=1.5
bad "JSON body" null -H 'content-type: application/json' -d '{"model":"x"}'
head -c 3000 "$T/a.form" >"$T/trunc.form"
bad "truncated multipart" null -H "$FORM_TYPE" --data-binary "@$T/trunc.form"
check_contains "truncated: says why" "malformed multipart" "$(jget error.message "$T/e.json")"
s=$(transcribe "$T/a.wav" -F temperature=0.3 -F prompt=hello -F language=en -o /dev/null -w '%{http_code}')
check "all optional fields accepted" 200 "$s"

# /v1/models
check "models without a key → 401" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$MU/v1/models")"
m=$(curl -s -H "Authorization: Bearer $KEY" "$MU/v1/models")
check "models: list" "list 1 $MODEL model" \
    "$(jget object <<<"$m") $(jget data.# <<<"$m") $(jget data.0.id <<<"$m") $(jget data.0.object <<<"$m")"
check "models/{id}" "$MODEL" "$(curl -s -H "Authorization: Bearer $KEY" "$MU/v1/models/$MODEL" | "$JGET" id)"
check "models/{unknown} → 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $KEY" "$MU/v1/models/nope")"

# 429 from --rpm (set at runtime): per key, with the x-ratelimit-* headers
check "set rpm at runtime" 200 "$(set_faults '{"rpm":2}')"
reset_stats
h=()
for i in 1 2 3; do
    transcribe "$T/a.wav" -D "$T/h$i" -o "$T/b$i" >/dev/null
    h[$i]=$(tr -d '\r' <"$T/h$i")
done
check "rpm: first two pass" "200 200" "$(head -1 <<<"${h[1]}" | cut -d' ' -f2) $(head -1 <<<"${h[2]}" | cut -d' ' -f2)"
check_contains "rpm: success carries the limit" "x-ratelimit-limit-requests: 2" "${h[1]}"
check_contains "rpm: remaining after the first" "x-ratelimit-remaining-requests: 1" "${h[1]}"
check_contains "rpm: remaining after the second" "x-ratelimit-remaining-requests: 0" "${h[2]}"
check_contains "rpm: reset time" "x-ratelimit-reset-requests: " "${h[2]}"
check "rpm: third → 429" 429 "$(head -1 <<<"${h[3]}" | cut -d' ' -f2)"
check "429 shape" "requests rate_limit_exceeded null" "$(shape "$T/b3")"
ra=$(grep -i '^retry-after:' <<<"${h[3]}" | cut -d' ' -f2)
check_true "429 Retry-After in whole seconds (1..30)" test "${ra:-0}" -ge 1 -a "${ra:-0}" -le 30
check_contains "429 retry-after-ms" "retry-after-ms: " "${h[3]}"
check_contains "429 remaining 0" "x-ratelimit-remaining-requests: 0" "${h[3]}"
s=$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer other-key' -F "file=@$T/a.wav" -F "model=$MODEL" "$URL")
check "rpm is per key" 200 "$s"
check "stats: rate_limited, by status, by key" "1 3 1 3 1" \
    "$(mstat rate_limited) $(mstat by_status.200) $(mstat by_status.429) $(mstat by_key.test-key) $(mstat by_key.other-key)"
set_faults '{"rpm":0}' >/dev/null

# option handling
help=$("$MOCK" --help)
for o in listen tls-listen tls-cert tls-key api-key time-scale fail-rate fail-mix script seed rpm \
    max-streams goaway-after max-body base-latency per-second stall-seconds retry-after models log-level; do
    grep -q -- "--$o " <<<"$help" || fail "--help lists --$o"
done
pass "--help lists every option"
check_contains "--help shows env names" "STENO_MOCK_TIME_SCALE" "$help"
out=$("$MOCK" --listen 127.0.0.1:0 --script "3=teapot" 2>&1; echo "rc=$?")
check_contains "bad --script: message" "--script: bad item '3=teapot'" "$out"
check_contains "bad --script: exit 2" "rc=2" "$out"
out=$(STENO_MOCK_FAIL_MIX="rst:0" "$MOCK" --listen 127.0.0.1:0 2>&1; echo "rc=$?")
check_contains "bad fail mix from the environment" "no fault kind has a weight" "$out"
mock_finish

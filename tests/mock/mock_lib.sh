# mock_lib.sh — helpers for the steno-mock integration suites (sourced, bash).
#
# Builds on tests/integration/lib.sh (temp dir, servers killed by PID on
# exit, check/pass/fail/finish). Adds: starting a mock, reading /stats
# fields with the jget helper (no jq needed), tone-coded audio, and
# hand-made multipart bodies for nghttp and h2load.
. "${SOURCE:?SOURCE must point at the source tree}/tests/integration/lib.sh"

MOCK=$BUILD/tools/steno-mock/steno-mock
GEN=$BUILD/tools/gen-audio/gen-audio
TONE_CHECK=$BUILD/tools/gen-audio/tone-check
JGET=$BUILD/tests/mock/jget
KEY=test-key
MODEL=openai/whisper-large-v3
BOUNDARY=steno-mock-test-boundary
MOCKS=()

# start_mock NAME ARGS... : a mock on a free port; sets MP, MU, MOCK_PID.
start_mock() {
    local name=$1
    shift
    MP=$(free_port)
    start_bg "$T/$name.log" "$MOCK" --listen "127.0.0.1:$MP" "$@"
    MOCK_PID=$LAST_PID
    MOCKS+=("$MOCK_PID:$name")
    MU="http://127.0.0.1:$MP"
    wait_http "$MU/healthz" || { cat "$T/$name.log" >&2; return 1; }
}

# jget PATH [FILE]
jget() { "$JGET" "$@"; }
# mstat PATH : one field of GET /stats ("by_status.200", "peak_in_flight")
mstat() { curl -s "$MU/stats" | "$JGET" "$1"; }
reset_stats() { curl -s -o /dev/null -X POST "$MU/stats/reset"; }
# set_faults JSON : POST /mock/faults, prints the status code
set_faults() { curl -s -o /dev/null -w '%{http_code}' -X POST -d "$1" "$MU/mock/faults"; }

# gen NAME ARGS... : write tone-coded audio to $T/NAME (quiet)
gen() {
    local name=$1
    shift
    "$GEN" --out "$T/$name" "$@" >/dev/null
}

# transcribe FILE [CURL ARGS...] : POST FILE with the default key and model
transcribe() {
    local f=$1
    shift
    curl -s -H "Authorization: Bearer $KEY" -F "file=@$f" -F "model=$MODEL" "$@" \
        "$MU/v1/audio/transcriptions"
}

# form_body OUT AUDIO [name=value...] : a multipart body (boundary $BOUNDARY)
# with the file part first, then the model and the given fields.
form_body() {
    local out=$1 audio=$2 kv
    shift 2
    {
        printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n' "$BOUNDARY"
        printf 'Content-Type: application/octet-stream\r\n\r\n'
        cat "$audio"
        printf '\r\n--%s\r\nContent-Disposition: form-data; name="model"\r\n\r\n%s\r\n' "$BOUNDARY" "$MODEL"
        for kv in "$@"; do
            printf -- '--%s\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' \
                "$BOUNDARY" "${kv%%=*}" "${kv#*=}"
        done
        printf -- '--%s--\r\n' "$BOUNDARY"
    } >"$out"
}
FORM_TYPE="content-type: multipart/form-data; boundary=$BOUNDARY"
AUTH="authorization: Bearer $KEY"

# count_lines NEEDLE TEXT : how many lines of TEXT contain NEEDLE
count_lines() { printf '%s\n' "$2" | grep -c -- "$1"; }

# mock_finish : stop every mock with SIGTERM; each must exit 0 with no
# sanitizer report in its log (ASan builds); then print the totals.
mock_finish() {
    local m pid name
    for m in "${MOCKS[@]}"; do
        pid=${m%%:*}
        name=${m#*:}
        kill -TERM "$pid" 2>/dev/null
        wait_exit "$pid" 10
        check "mock $name exits 0 on SIGTERM" 0 "$EXIT_RC"
        if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/$name.log"; then
            fail "mock $name: sanitizer report"
            grep -E -A20 'AddressSanitizer|LeakSanitizer|runtime error:' "$T/$name.log" | head -60
        fi
    done
    finish
}

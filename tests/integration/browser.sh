#!/usr/bin/env bash
# A real browser on stenod: headless Chromium (Debian's chromium package)
# driven by playwright-core (npm, pinned in tests/browser/package-lock.json)
# receives a job's events through EventSource, resumes with
# ?last_event_id=, and uses the web page (upload → chunk bar → transcript).
# The npm install goes to $BUILD/browser (cache: ~/.cache/steno-npm).
. "$(dirname "$0")/lib.sh"

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "chromium, node or npm missing (tools/bootstrap installs them)"
    exit 77 # meson: skipped
fi
SRC="${SOURCE:-$(dirname "$0")/../..}/tests/browser"
NODE_DIR="$BUILD/browser"
mkdir -p "$NODE_DIR"
cp "$SRC/package.json" "$SRC/package-lock.json" "$SRC/sse_browser.mjs" "$NODE_DIR/"
if ! cmp -s "$SRC/package-lock.json" "$NODE_DIR/node_modules/.package-lock.json.copy" 2>/dev/null; then
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --cache "${XDG_CACHE_HOME:-$HOME/.cache}/steno-npm" \
        >"$T/npm.log" 2>&1) || { cat "$T/npm.log"; fail "npm ci"; finish; exit 1; }
    cp "$SRC/package-lock.json" "$NODE_DIR/node_modules/.package-lock.json.copy"
fi

start_stack
migrate_db
MP=$(free_port)
start_bg "$T/mock.log" "$BUILD/tools/steno-mock/steno-mock" --listen 127.0.0.1:$MP \
    --time-scale 0.1 --api-key test-key --log-level warn
wait_http "http://127.0.0.1:$MP/healthz"
start_server "$BUILD/stenod" stenod --database-url "$STENO_DATABASE_URL" \
    --upstream-url "http://127.0.0.1:$MP/v1" --api-key test-key --claim-interval 0.2s \
    --chunk-min 2s --chunk-max 4s --upstream-concurrency 2 --log-file "$T/steno.log"
S="http://127.0.0.1:$PORT"

"$BUILD/tools/gen-audio/gen-audio" --duration 30 --rate 8000 --format wav --out "$T/a.wav" >/dev/null
"$BUILD/tools/gen-audio/gen-audio" --duration 20 --rate 8000 --seed 5 --format wav --out "$T/b.wav" >/dev/null
ID=$(curl -s -F "file=@$T/a.wav" "$S/v1/transcriptions" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')
check_true "job submitted" test -n "$ID"

CHROMIUM="$CHROMIUM" timeout 240 node "$NODE_DIR/sse_browser.mjs" "$S" "$ID" "$T/b.wav" >"$T/browser.out" 2>&1
rc=$?
cat "$T/browser.out"
b_pass=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\1/p' "$T/browser.out")
b_fail=$(sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed$/\2/p' "$T/browser.out")
PASSED=$((PASSED + ${b_pass:-0}))
FAILED=$((FAILED + ${b_fail:-0}))
check "the browser run finished" 0 "$rc"
finish

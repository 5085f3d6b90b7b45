# lib.sh — shared helpers for integration suites (sourced, bash).
#
# Every server a suite starts runs on a free 127.0.0.1 port inside a temp dir
# and is killed by PID on exit, whatever happened. Assertions count passes
# and failures; `finish` prints "N passed, M failed" and sets the exit code.
set -u
: "${BUILD:?BUILD must point at the meson build dir}"
T=$(mktemp -d "${TMPDIR:-/tmp}/steno-it.XXXXXX")
PIDS=()
STACKS=()
PASSED=0
FAILED=0

cleanup() {
    local p s
    for s in "${STACKS[@]}"; do
        "${SOURCE:-$(dirname "$0")/../..}/tools/local-stack" stop "$s" >/dev/null 2>&1
    done
    for p in "${PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
trap '' PIPE # a write to a socket the server closed must fail, not kill us

free_port() { "$BUILD/tools/free-port" "${1:-1}"; }

pass() { PASSED=$((PASSED + 1)); echo "ok - $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL - $*"; }

# check DESCRIPTION EXPECTED ACTUAL
check() {
    if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected [$2], got [$3]"; fi
}
# check_contains DESCRIPTION NEEDLE HAYSTACK
check_contains() {
    case "$3" in *"$2"*) pass "$1" ;; *) fail "$1: [$2] not in [${3:0:300}]" ;; esac
}
check_true() { local d=$1; shift; if "$@"; then pass "$d"; else fail "$d"; fi; }

# start_bg LOGFILE CMD... : run in the background, remember the PID in $LAST_PID
start_bg() {
    local log=$1; shift
    "$@" >"$log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

# wait_http URL [SECONDS]: until it answers (any status)
wait_http() {
    local url=$1 limit=${2:-10}
    for _ in $(seq $((limit * 20))); do
        curl -s -o /dev/null -k --max-time 1 "$url" && return 0
        sleep 0.05
    done
    echo "server at $url did not come up" >&2
    return 1
}

# start_stenod NAME ARGS... : sets PORT, PID_<NAME>=..., log in $T/NAME.log
start_server() {
    local bin=$1 name=$2; shift 2
    PORT=$(free_port)
    start_bg "$T/$name.log" "$bin" --listen "127.0.0.1:$PORT" --data-dir "$T/$name-data" "$@"
    SERVER_PID=$LAST_PID
    wait_http "http://127.0.0.1:$PORT/healthz" || { cat "$T/$name.log" >&2; return 1; }
}

# raw_request PORT BYTES: send bytes on a fresh TCP connection, print the reply
raw_request() {
    local port=$1 data=$2
    exec 7<>"/dev/tcp/127.0.0.1/$port"
    printf '%b' "$data" >&7
    timeout 5 cat <&7
    exec 7>&-
}

# wait_exit PID SECONDS: wait for a process this shell started; its exit
# status lands in EXIT_RC (137 when it had to be killed at the limit).
# Polls /proc instead of arming a watchdog subshell, so no extra process
# shares this shell's traps.
wait_exit() {
    local pid=$1 limit=$2 i state=""
    for ((i = 0; i < limit * 20; i++)); do
        state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)
        [ -z "$state" ] || [ "$state" = Z ] && break
        sleep 0.05
    done
    [ -n "$state" ] && [ "$state" != Z ] && kill -KILL "$pid" 2>/dev/null
    wait "$pid"
    EXIT_RC=$?
    return 0
}

metric() { # metric PORT 'name{labels}' → summed value (0 when absent)
    curl -s "http://127.0.0.1:$1/metrics" | awk -v k="$2" '$1 == k { s += $2 } END { print s + 0 }'
}

# start_stack [redis]: a throwaway PostgreSQL (and Redis with "redis") in
# $T/stack, stopped on exit; exports STENO_DATABASE_URL (and STENO_REDIS_URL).
start_stack() {
    chmod 755 "$T"
    STACK="$T/stack"
    STACKS+=("$STACK")
    local root="${SOURCE:-$(dirname "$0")/../..}"
    if [ "${1:-}" = redis ]; then
        "$root/tools/local-stack" start "$STACK" >"$T/stack.log" 2>&1
    else
        LOCAL_STACK_NO_REDIS=1 "$root/tools/local-stack" start "$STACK" >"$T/stack.log" 2>&1
    fi || { cat "$T/stack.log" >&2; return 1; }
    set -a; . "$STACK/env"; set +a
}

# migrate_db: the schema into the stack's database (the suite stops if that
# fails); sql QUERY: one unaligned, tuples-only answer from it.
migrate_db() {
    "$BUILD/stenod" --migrate --database-url "$STENO_DATABASE_URL" >"$T/migrate.log" 2>&1 ||
        { cat "$T/migrate.log"; exit 1; }
}
sql() { psql "$STENO_DATABASE_URL" -qAt -c "$1"; }

# make_certs: a throwaway CA ($T/ca.pem) and a server certificate for
# localhost/127.0.0.1 signed by it ($T/cert.pem, $T/key.pem).
make_certs() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
        -subj /CN=steno-test-ca -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
        -keyout "$T/key.pem" -out "$T/csr.pem" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$T/ext.cnf"
    openssl x509 -req -in "$T/csr.pem" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
        -days 1 -extfile "$T/ext.cnf" -out "$T/cert.pem" 2>/dev/null
}

# dump_logs: the end of every server log, so a failure in CI explains itself.
dump_logs() {
    local f
    for f in "$T"/*.log; do
        [ -f "$f" ] || continue
        echo "--- tail of $(basename "$f")"
        tail -n 25 "$f" | cut -c1-300
    done
}

finish() {
    # A sanitizer report in any server's output fails the suite: a worker
    # that aborts is restarted by the supervisor, so behaviour alone can hide it.
    local reports
    reports=$(grep -l -a -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$T"/*.log 2>/dev/null)
    if [ -n "$reports" ]; then
        fail "sanitizer reports in: $reports"
        grep -a -h -A12 -E 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' $reports | head -60
    else
        pass "no sanitizer report in any server log"
    fi
    [ "$FAILED" -eq 0 ] || dump_logs
    echo "$PASSED passed, $FAILED failed"
    [ "$FAILED" -eq 0 ]
}

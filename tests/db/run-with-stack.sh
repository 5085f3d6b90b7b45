#!/usr/bin/env bash
# run-with-stack.sh CMD ARGS… — run CMD against its own throwaway PostgreSQL
# (and Redis too when STACK_REDIS=1, which exports STENO_REDIS_URL).
#
# Starts tools/local-stack (PostgreSQL only) in a fresh temp dir, exports
# STENO_DATABASE_URL, STENO_STACK_DIR and LOCAL_STACK (so a test can restart
# the server with "$LOCAL_STACK pg-restart $STENO_STACK_DIR"), runs CMD, and
# always stops the stack and removes the dir, whatever happened.
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
STACK=${LOCAL_STACK:-$HERE/../../tools/local-stack}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/steno-db.XXXXXX")
cleanup() {
    "$STACK" stop "$DIR" >/dev/null 2>&1
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
NO_REDIS=1
[ "${STACK_REDIS:-0}" = 1 ] && NO_REDIS=
if ! LOCAL_STACK_NO_REDIS=$NO_REDIS "$STACK" start "$DIR" >"$DIR/start.out" 2>&1; then
    cat "$DIR/start.out" >&2
    echo "run-with-stack: could not start PostgreSQL" >&2
    exit 1
fi
set -a
. "$DIR/env"
set +a
export STENO_STACK_DIR=$DIR LOCAL_STACK=$STACK
"$@"

#!/usr/bin/env bash
# tansu: a Kafka-protocol broker (Rust) for the Kafka source and sink tests.
#
#   tansu.sh ensure               build and cache the broker once (~20 min on 2 cores); prints
#                                 the binary's path. Idempotent; a second caller waits for the
#                                 first (a lock), then reuses its binary.
#   tansu.sh start DATA_DIR PORT  starts a broker on 127.0.0.1:PORT with sqlite storage in
#                                 DATA_DIR, waits until it answers, prints its PID (stop it with
#                                 kill PID: SIGTERM stops it in about 1.4 s).
#
# The binary is cached outside the clone, in ${QUIVER_TOOLS:-$HOME/.cache/quiver-tools}/tansu-0.6.0.
# Progress goes to stderr; stdout carries only the path or the PID.
set -euo pipefail

VERSION=0.6.0
TOOLS=${QUIVER_TOOLS:-$HOME/.cache/quiver-tools}
ROOT=$TOOLS/tansu-$VERSION
BIN=$ROOT/bin/tansu

say() { echo "tansu.sh: $*" >&2; }

ensure() {
    if [[ -x $BIN ]]; then
        echo "$BIN"
        return
    fi
    mkdir -p "$TOOLS"
    exec 9>"$TOOLS/tansu-$VERSION.lock"
    if ! flock -n 9; then
        say "another caller is building tansu $VERSION; waiting for it"
        flock 9
    fi
    if [[ ! -x $BIN ]]; then
        local log=$TOOLS/tansu-build.log
        say "building tansu $VERSION into $ROOT (~20 min on 2 cores; log: $log)"
        # The default features have no usable storage: sqlite comes with libsql.
        if ! cargo install tansu --version "$VERSION" --locked --features dynostore,libsql \
            --root "$ROOT" >"$log" 2>&1; then
            tail -n 20 "$log" >&2
            say "the build failed; full log: $log"
            exit 1
        fi
        say "built $BIN"
    fi
    flock -u 9
    echo "$BIN"
}

start() {
    local data=${1:?usage: tansu.sh start DATA_DIR PORT} port=${2:?usage: tansu.sh start DATA_DIR PORT}
    local bin url=tcp://127.0.0.1:$port
    bin=$(ensure)
    # tansu binds with port reuse: a second broker on a taken port starts and shares it.
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        say "port $port is in use already; choose another"
        exit 1
    fi
    mkdir -p "$data"
    # exec: $! is the broker itself. The sqlite path is relative to the working directory.
    (cd "$data" && exec "$bin" broker --listener-url "$url" --advertised-listener-url "$url" \
        --storage-engine sqlite://tansu.db >"$data/tansu.log" 2>&1) &
    local pid=$!
    for _ in $(seq 1 300); do
        # A broker that cannot start may exit 0 without a word: check that it lives.
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$data/tansu.log" >&2 || true
            say "the broker exited at start (is port $port taken?)"
            exit 1
        fi
        if "$bin" topic list --broker "$url" >/dev/null 2>&1; then
            echo "$pid"
            return
        fi
        sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    say "the broker did not answer on $url within 30 s; log: $data/tansu.log"
    exit 1
}

case ${1:-} in
    ensure) ensure ;;
    start) shift; start "$@" ;;
    *) echo "usage: tansu.sh ensure | start DATA_DIR PORT" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# redis-server for tests and users, on 127.0.0.1 only.
#
#   redis.sh ensure          installs Debian's redis-server if it is missing (idempotent, quiet;
#                            needs root and Debian's package mirror, as CI has). Debian's package
#                            is not started by this script.
#   redis.sh start DIR PORT  starts redis-server on 127.0.0.1:PORT without persistence, its
#                            working folder and log (redis.log) in DIR, waits until it answers
#                            PING, and prints its PID. Stop it by that PID (kill), or with
#                            `redis-cli -p PORT shutdown nosave`. Exits with 3 when the server
#                            could not listen (the port was taken: try another).
#
# Tests call it through a guard that picks a free port and kills the PID when dropped
# (test-services/src/lib.rs).
set -euo pipefail

usage() {
  echo "usage: $0 ensure | start DIR PORT" >&2
  exit 2
}

ensure() {
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  # Tests run in parallel: one installs, the others wait for it.
  exec 9>"${TMPDIR:-/tmp}/quiver-redis-install.lock"
  flock 9
  if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    return 0
  fi
  echo "installing redis-server (Debian package) for the Redis sink tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq redis-server >/dev/null
}

start() {
  local dir=$1 port=$2
  mkdir -p "$dir"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
    --daemonize no --dir "$dir" >>"$dir/redis.log" 2>&1 &
  local pid=$!
  for _ in $(seq 1 200); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "redis-server on port $port exited at start (port taken?):" >&2
      tail -n 5 "$dir/redis.log" >&2
      exit 3
    fi
    # The server answering must be ours, not another one already on the port.
    if [ "$(redis-cli -p "$port" info server 2>/dev/null | tr -d '\r' |
      sed -n 's/^process_id://p')" = "$pid" ]; then
      echo "$pid"
      return 0
    fi
    sleep 0.05
  done
  kill "$pid" 2>/dev/null || true
  echo "redis-server on port $port did not answer within 10 s" >&2
  exit 1
}

case "${1:-}" in
  ensure) [ $# -eq 1 ] || usage; ensure ;;
  start) [ $# -eq 3 ] || usage; ensure; start "$2" "$3" ;;
  *) usage ;;
esac

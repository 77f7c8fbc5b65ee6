#!/usr/bin/env bash
# The recommender on real services, on 127.0.0.1: a Kafka-protocol broker (tansu, :9092, built
# and cached on first use: ~20 min), redis-server (:6379, installed with apt-get if missing),
# the event producer (produce-kafka.toml), the recommender (job-kafka-redis.toml) and the
# serving API and page on Redis (`quiver serve`, http://127.0.0.1:8080/). Ctrl-C stops
# everything it started.
#
#   examples/recommender/run-kafka-redis.sh [--duration 60s]
set -euo pipefail
cd "$(dirname "$0")/../.."
QUIVER=${QUIVER:-target/release/quiver}
if [[ ! -x $QUIVER ]]; then
    cargo build --release -p quiver-cli
fi
WORK=$(mktemp -d -t quiver-recommender.XXXXXX)
pids=()
stop() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}
trap stop EXIT
trap 'exit 130' INT TERM

scripts/services/redis.sh ensure
pids+=("$(scripts/services/redis.sh start "$WORK/redis" 6379)")
pids+=("$(scripts/services/tansu.sh start "$WORK/kafka" 9092)")
"$(scripts/services/tansu.sh ensure)" topic create --broker tcp://127.0.0.1:9092 --partitions 4 behaviour
"$QUIVER" local examples/recommender/produce-kafka.toml >"$WORK/producer.log" 2>&1 &
pids+=($!)
"$QUIVER" serve --redis redis://127.0.0.1:6379 --listen 127.0.0.1:8080 &
pids+=($!)
echo "recommendations: http://127.0.0.1:8080/ (GET /recommendations/1); Ctrl-C to stop" >&2
"$QUIVER" local examples/recommender/job-kafka-redis.toml "$@"

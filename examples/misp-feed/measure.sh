#!/usr/bin/env bash
# Measures opencti-misp-feed end to end on a generated feed: the connector
# reads EVENTS events of ATTRIBUTES attributes from a local directory,
# converts them and publishes every bundle to RabbitMQ (broker confirms
# awaited) for an opencti-sim platform. Prints objects/s and the
# connector's peak RSS (from /usr/bin/time).
#
# Usage: examples/misp-feed/measure.sh [EVENTS] [ATTRIBUTES]   (default 1000 50)
set -euo pipefail
cd "$(dirname "$0")/../.."

events="${1:-1000}"
attributes="${2:-50}"
scripts/ensure-rabbitmq.sh
cargo build --release --quiet -p opencti-sim --bin opencti-sim
cargo build --release --quiet -p opencti-misp-feed --bin opencti-misp-feed --example generate_feed
release="${CARGO_TARGET_DIR:-target}/release"

work="$(mktemp -d)"
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

"$release/examples/generate_feed" "$work/feed" "$events" "$attributes" | tee "$work/objects.txt"
objects="$(awk '{print $(NF-1)}' "$work/objects.txt")"

port=$((20000 + RANDOM % 20000))
"$release/opencti-sim" --listen "127.0.0.1:$port" --transient-queues \
  --queue-prefix "perf$RANDOM" >"$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

env OPENCTI_URL="http://127.0.0.1:$port" OPENCTI_TOKEN=measure \
  CONNECTOR_ID="$(cat /proc/sys/kernel/random/uuid)" CONNECTOR_RUN_AND_TERMINATE=true \
  MISP_FEED_URL="$work/feed" MISP_FEED_IMPORT_FROM_DATE=1970-01-01 \
  MISP_FEED_CREATE_INDICATORS=true MISP_FEED_CREATE_OBSERVABLES=true \
  /usr/bin/time -v "$release/opencti-misp-feed" >"$work/connector.log" 2>"$work/time.txt" || {
    cat "$work/connector.log" "$work/time.txt" >&2
    exit 1
  }

seconds="$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2, p, ":"); s=0; for (i=1; i<=n; i++) s=s*60+p[i]; print s}' "$work/time.txt")"
rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
cpu="$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u + s}' "$work/time.txt")"
awk -v o="$objects" -v s="$seconds" -v r="$rss_kb" -v c="$cpu" 'BEGIN {
  printf "%d objects in %.2f s: %.0f objects/s end to end, peak RSS %.1f MB, connector CPU %.2f s\n", o, s, o / s, r / 1024, c
}'

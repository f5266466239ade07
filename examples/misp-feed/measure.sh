#!/usr/bin/env bash
# Measures opencti-misp-feed end to end on a generated feed: the connector
# reads EVENTS events of ATTRIBUTES attributes from a local directory,
# converts them and publishes every bundle to RabbitMQ (broker confirms
# awaited) for an opencti-sim platform.
#
# Two runs, each on a fresh simulator:
#  1. connector + broker: the platform's worker is paused while the
#     connector runs (in production it runs on other machines), then
#     resumed, and its ingestion is timed on its own;
#  2. everything on this machine: the simulator's worker ingests while the
#     connector publishes, so the platform stand-in takes its share of the
#     cores.
# Each prints objects/s, the connector's peak RSS (from /usr/bin/time) and
# the CPU time each process spent (connector, opencti-sim, the RabbitMQ
# node), which shows where the cores go.
# Between the two, a bare publisher (the broker_ceiling example: the
# runtime's publisher with nothing else to do) sends as many messages of the
# same mean size, persistent and confirmed: the most the broker on this host
# takes, whatever the connector.
#
# Usage: examples/misp-feed/measure.sh [EVENTS] [ATTRIBUTES] [DISTRIBUTION]
#   default 1000 50 uniform; DISTRIBUTION long-tail gives event sizes a long
#   tail of mean about ATTRIBUTES (see the generate_feed example).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/opencti-sim.sh
. scripts/lib/opencti-sim.sh

events="${1:-1000}"
attributes="${2:-50}"
distribution="${3:-uniform}"
scripts/ensure-rabbitmq.sh
# MEASURE_NO_BUILD=1: the caller built the binaries below already
# (scripts/bench-readmes.sh builds every package in one cargo run, whose
# feature set this build would not share).
if [ -z "${MEASURE_NO_BUILD:-}" ]; then
  cargo build --release --quiet -p opencti-sim -p opencti-connector -p opencti-misp-feed \
    --bin opencti-sim --bin opencti-misp-feed --example broker_ceiling --example generate_feed
fi
release="${CARGO_TARGET_DIR:-target}/release"

work="$(mktemp -d)"
sim_pid=""
stop_sim() {
  if [ -n "$sim_pid" ]; then kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true; fi
  sim_pid=""
}
cleanup() {
  stop_sim
  rm -rf "$work"
}
trap cleanup EXIT

"$release/examples/generate_feed" "$work/feed" "$events" "$attributes" "$distribution" | tee "$work/objects.txt"
objects="$(awk '{print $(NF-1)}' "$work/objects.txt")"
broker_pid="$(pgrep -o -f 'beam.smp.*-sname rabbit@' || pgrep -o beam.smp || echo "")"

# CPU seconds (user + system) a process has used so far.
cpu_seconds() {
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
    awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' "/proc/$1/stat"
  else
    echo 0
  fi
}
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN {print b - a}'; }

# Waits until opencti-sim's worker completed every work.
wait_ingested() {
  for _ in $(seq 1 3000); do
    summary="$(curl -fsS "http://127.0.0.1:$port/sim/api/summary")"
    works="$(grep -o '"works":[0-9]*' <<<"$summary" | cut -d: -f2)"
    complete="$(grep -o '"works_complete":[0-9]*' <<<"$summary" | cut -d: -f2)"
    [ "${works:-0}" -gt 0 ] && [ "$works" = "$complete" ] && return
    sleep 0.1
  done
  echo "opencti-sim did not complete the works" >&2
  exit 1
}

# run <label> [opencti-sim options...]
run() {
  label="$1"
  shift
  start_opencti_sim "$release/opencti-sim" "$work/sim.log" --transient-queues \
    --queue-prefix "perf$RANDOM" "$@" || exit 1
  connector_id="$(cat /proc/sys/kernel/random/uuid)"
  sim_cpu_before="$(cpu_seconds "$sim_pid")"
  broker_cpu_before="$(cpu_seconds "$broker_pid")"
  started="$(now)"
  env OPENCTI_URL="http://127.0.0.1:$port" OPENCTI_TOKEN=measure \
    CONNECTOR_ID="$connector_id" CONNECTOR_RUN_AND_TERMINATE=true \
    MISP_FEED_URL="$work/feed" MISP_FEED_IMPORT_FROM_DATE=1970-01-01 \
    MISP_FEED_CREATE_INDICATORS=true MISP_FEED_CREATE_OBSERVABLES=true \
    /usr/bin/time -v "$release/opencti-misp-feed" >"$work/connector.log" 2>"$work/time.txt" || {
      cat "$work/connector.log" "$work/time.txt" >&2
      exit 1
    }
  published="$(now)"
  rate="$(awk -v o="$objects" -v s="$(elapsed "$started" "$published")" 'BEGIN {printf "%.0f", o / s}')"
  sim_cpu="$(elapsed "$sim_cpu_before" "$(cpu_seconds "$sim_pid")")"
  broker_cpu="$(elapsed "$broker_cpu_before" "$(cpu_seconds "$broker_pid")")"
  curl -fsS -X POST "http://127.0.0.1:$port/sim/api/connectors/$connector_id/resume" >/dev/null
  wait_ingested
  ingested="$(now)"
  messages="$(grep -o '"received_messages":[0-9]*' <<<"$summary" | cut -d: -f2)"
  message_bytes="$(grep -o '"received_bytes":[0-9]*' <<<"$summary" | cut -d: -f2)"
  stop_sim

  seconds="$(elapsed "$started" "$published")"
  rss_kb="$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")"
  cpu="$(awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u + s}' "$work/time.txt")"
  awk -v l="$label" -v o="$objects" -v s="$seconds" -v r="$rss_kb" -v c="$cpu" -v w="$sim_cpu" \
    -v b="$broker_cpu" -v i="$(elapsed "$published" "$ingested")" 'BEGIN {
    printf "%s: %d objects published and confirmed in %.2f s: %.0f objects/s, peak RSS %.1f MB\n", l, o, s, o / s, r / 1024
    printf "  CPU meanwhile: connector %.2f s, opencti-sim %.2f s, RabbitMQ %.2f s (%.1f us per object in all)\n", c, w, b, (c + w + b) * 1e6 / o
    if (i > 0.5) printf "  the platform ingested the rest %.2f s later\n", i
  }'
}

run "connector + broker (platform worker paused)" --workers-paused
connector_rate="$rate"
"$release/examples/broker_ceiling" --messages "$messages" --size "$((message_bytes / messages))" |
  awk -v c="$connector_rate" '{print "broker alone (bare publisher): " $0; printf "  the connector reached %.0f %% of it\n", c * 100 / $(NF-1)}'
run "everything on this machine (platform worker ingesting)"

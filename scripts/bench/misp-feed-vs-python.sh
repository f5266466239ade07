#!/usr/bin/env bash
# The MISP feed connector, Python vs ours, on one feed of EVENTS events of
# ATTRIBUTES attributes (generate_feed), served over HTTP on loopback. Each
# runs once on a fresh opencti-sim whose worker is paused; for each: objects
# per second (from start to exit), CPU per object and peak RSS (from
# /usr/bin/time). Run by scripts/bench-send.sh.
#
# Usage: scripts/bench/misp-feed-vs-python.sh CONNECTOR_DIR PYTHON EVENTS ATTRIBUTES
#   CONNECTOR_DIR: external-import/misp-feed of a local checkout of
#   OpenCTI-Platform/connectors (its code runs from there, nothing is copied).
set -euo pipefail
cd "$(dirname "$0")/../.."

connector_dir="$1"
python="$2"
events="$3"
attributes="$4"
cargo build --release --locked --quiet -p opencti-sim --bin opencti-sim
cargo build --release --locked --quiet -p opencti-misp-feed --bin opencti-misp-feed --example generate_feed
release="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
# The Python connector's own requirements, pycti aside (the venv has it);
# connectors-sdk from the same checkout, as its requirement names the
# repository.
"$python" -m pip install --quiet --disable-pip-version-check \
  -r <(grep -v -i -e '^pycti' -e '^connectors-sdk' "$connector_dir/src/requirements.txt") >&2
if grep -q -i '^connectors-sdk' "$connector_dir/src/requirements.txt"; then
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps \
    "$connector_dir/../../connectors-sdk" >&2
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$release/examples/generate_feed" "$work/feed" "$events" "$attributes" >"$work/objects.txt"
objects="$(awk '{print $(NF-1)}' "$work/objects.txt")"
http_port=$((20000 + RANDOM % 20000))
"$python" -m http.server --bind 127.0.0.1 --directory "$work/feed" "$http_port" >/dev/null 2>&1 &
pids+=($!)

# run LABEL DIR COMMAND...: one run in DIR on a fresh simulator; prints
# its figures.
run() {
  label="$1"
  dir="$2"
  shift 2
  port=$((20000 + RANDOM % 20000))
  "$release/opencti-sim" --listen "127.0.0.1:$port" --transient-queues --workers-paused \
    --queue-prefix "misp$RANDOM" >"$work/sim.log" 2>&1 &
  sim_pid=$!
  pids+=("$sim_pid")
  for _ in $(seq 1 300); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  started="$(date +%s.%N)"
  (cd "$dir" && env OPENCTI_URL="http://127.0.0.1:$port" OPENCTI_TOKEN=bench \
    CONNECTOR_ID="$(cat /proc/sys/kernel/random/uuid)" CONNECTOR_RUN_AND_TERMINATE=true \
    CONNECTOR_DURATION_PERIOD=PT0S CONNECTOR_LOG_LEVEL=error \
    MISP_FEED_SOURCE_TYPE=url MISP_FEED_URL="http://127.0.0.1:$http_port" \
    MISP_FEED_IMPORT_FROM_DATE=1970-01-01 \
    MISP_FEED_CREATE_INDICATORS=true MISP_FEED_CREATE_OBSERVABLES=true \
    /usr/bin/time -v "$@") >"$work/run.log" 2>"$work/time.txt" || {
      tail -20 "$work/run.log" "$work/time.txt" >&2
    }
  finished="$(date +%s.%N)"
  messages="$(curl -fsS "http://127.0.0.1:$port/sim/api/summary" | grep -o '"received_messages":[0-9]*' | cut -d: -f2)"
  kill "$sim_pid" 2>/dev/null || true
  wait "$sim_pid" 2>/dev/null || true
  awk -F': ' -v l="$label" -v o="$objects" -v m="$messages" -v a="$started" -v b="$finished" '
    /Maximum resident set size/ {r = $2}
    /User time/ {u = $2}
    /System time/ {s = $2}
    END {printf "%-8s %8.0f objects/s %8.1f us CPU per object %8.1f MB peak RSS (%d messages)\n",
      l, o / (b - a), (u + s) * 1e6 / o, r / 1024, m}' "$work/time.txt"
}

echo "feed: $events events of $attributes attributes, $objects objects"
run ours "$PWD" "$release/opencti-misp-feed"
run python "$connector_dir/src" "$python" main.py

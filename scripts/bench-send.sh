#!/usr/bin/env bash
# The send path side by side with pycti, in one run on this machine's
# RabbitMQ and a local opencti-sim (its worker paused, as the platform's
# workers run elsewhere in production):
#
#  1. our send_bundle vs pycti's send_stix2_bundle on the same bundle (an
#     author, a TLP marking and indicators), for each size in BENCH_SIZES:
#     objects/s, CPU per object, peak RSS above the idle process;
#  2. our send path on its own for BENCH_OURS_SIZES (memory targets), per
#     input form (typed Bundle, JSON text, streamed objects), and over
#     BENCH_REPEAT bundles in one run (RSS after each: flat, or growing);
#  3. the broker's own ceiling (the broker_ceiling example: the runtime's
#     publisher with nothing else to do) for as many messages of the same
#     mean size as the largest bundle;
#  4. the MISP feed connector, Python vs ours, on one generated feed, when
#     MISP_FEED_PYTHON_CONNECTOR names the external-import/misp-feed
#     directory of a local checkout of OpenCTI-Platform/connectors
#     (skipped otherwise; nothing of it is copied here).
#
# pycti comes from a venv this script makes (scripts/setup-pycti-venv.sh,
# PYCTI_VERSION, 7.261026.0 unless set: the version of the fixtures).
# Results go to stdout; docs/performance.md records a run and the machine.
#
# Usage: scripts/bench-send.sh
#   BENCH_SIZES       (default "10000 50000")
#   BENCH_OURS_SIZES  (default "10000 50000 200000")
#   BENCH_REPEAT      (default 5)
#   MISP_FEED_EVENTS / MISP_FEED_ATTRIBUTES / MISP_FEED_DISTRIBUTION
#                     (default 200 / 50 / uniform; or long-tail)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/opencti-sim.sh
. scripts/lib/opencti-sim.sh

sizes="${BENCH_SIZES:-10000 50000}"
ours_sizes="${BENCH_OURS_SIZES:-10000 50000 200000}"
repeat="${BENCH_REPEAT:-5}"
scripts/ensure-rabbitmq.sh >&2
export PYCTI_VERSION="${PYCTI_VERSION:-7.261026.0}"
python="$(scripts/setup-pycti-venv.sh)"
# One cargo run for every binary here and in misp-feed-vs-python.sh: a
# run per package resolves the dependencies' features per package and
# builds them again.
cargo build --release --locked --quiet -p opencti-sim -p opencti-connector -p opencti-misp-feed \
  --bin opencti-sim --bin opencti-misp-feed \
  --example send_bundle_bench --example broker_ceiling --example generate_feed
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

start_sim() {
  stop_sim
  start_opencti_sim "$release/opencti-sim" "$work/sim.log" --transient-queues --workers-paused \
    --queue-prefix "bench$RANDOM" || exit 1
}

# field NAME LINE: the value of NAME=... in a RESULT line.
field() { grep -o "$1=[^ ]*" <<<"$2" | head -1 | cut -d= -f2-; }

# ours INPUT OBJECTS BUNDLES: one run of send_bundle_bench on a fresh
# simulator; its RESULT line goes to $work/result (functions run in this
# shell, not in a subshell, so that the simulator is stopped by its pid).
ours() {
  start_sim
  env OPENCTI_URL="http://127.0.0.1:$port" OPENCTI_TOKEN=bench \
    CONNECTOR_ID="$(cat /proc/sys/kernel/random/uuid)" CONNECTOR_RUN_AND_TERMINATE=true \
    SEND_BENCH_INPUT="$1" SEND_BENCH_OBJECTS="$2" SEND_BENCH_BUNDLES="$3" \
    SEND_BENCH_FILE="$work/bundle-$2.json" \
    "$release/examples/send_bundle_bench" >"$work/out" 2>"$work/ours.log" || true
  grep '^RESULT' "$work/out" >"$work/result" || {
    cat "$work/ours.log" >&2
    exit 1
  }
}

# pycti OBJECTS BUNDLES: pycti's send_stix2_bundle on the same bundle file.
pycti() {
  start_sim
  env OPENCTI_URL="http://127.0.0.1:$port" OPENCTI_TOKEN=bench \
    CONNECTOR_ID="$(cat /proc/sys/kernel/random/uuid)" \
    "$python" scripts/bench/pycti_send.py "$work/bundle-$1.json" "$1" "$2" \
    >"$work/out" 2>"$work/pycti.log" || true
  grep '^RESULT' "$work/out" >"$work/result" || {
    cat "$work/pycti.log" >&2
    exit 1
  }
}

# The mean size of the messages the simulator received so far.
mean_message_size() {
  summary="$(curl -fsS "http://127.0.0.1:$port/sim/api/summary")"
  messages="$(grep -o '"received_messages":[0-9]*' <<<"$summary" | cut -d: -f2)"
  bytes="$(grep -o '"received_bytes":[0-9]*' <<<"$summary" | cut -d: -f2)"
  echo $((bytes / (messages > 0 ? messages : 1)))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf 'machine: %s, %s cores, %s; RabbitMQ %s; pycti %s\n' "$(uname -m)" "$(nproc)" \
  "$(awk '/MemTotal/ {printf "%.0f GB", $2 / 1048576}' /proc/meminfo)" \
  "$(dpkg-query -W -f '${Version}' rabbitmq-server 2>/dev/null || echo '?')" "$PYCTI_VERSION"

largest=0
for size in $sizes $ours_sizes; do
  [ -f "$work/bundle-$size.json" ] && continue
  ours write "$size" 1
  [ "$size" -gt "$largest" ] && largest="$size"
done
first_size="${ours_sizes%% *}"

echo
echo "== send_bundle vs pycti send_stix2_bundle (same bundle, JSON text in both) =="
printf '%-8s %-22s %14s %14s %8s\n' objects figure ours pycti ratio
for size in $sizes; do
  ours text "$size" 1
  mine="$(cat "$work/result")"
  pycti "$size" 1
  theirs="$(cat "$work/result")"
  for figure in objects_per_s cpu_us_per_object peak_above_idle_mb idle_rss_mb; do
    a="$(field "$figure" "$mine")"
    b="$(field "$figure" "$theirs")"
    printf '%-8s %-22s %14s %14s %8s\n' "$size" "$figure" "$a" "$b" "$(ratio "$a" "$b")"
  done
done

echo
echo "== our send path alone, per input form =="
for size in $ours_sizes; do
  for input in typed text stream; do
    ours "$input" "$size" 1
    cat "$work/result"
  done
done
echo "-- $repeat bundles of $first_size objects in one run (RSS after each) --"
for input in typed text; do
  ours "$input" "$first_size" "$repeat"
  cat "$work/result"
done

echo
echo "== the broker's ceiling (bare publisher, same message count and mean size) =="
ours text "$largest" 1
ours_rate="$(field objects_per_s "$(cat "$work/result")")"
size_bytes="$(mean_message_size)"
stop_sim
ceiling="$("$release/examples/broker_ceiling" --messages "$largest" --size "$size_bytes")"
echo "$ceiling"
ceiling_rate="$(awk '{print $(NF-1)}' <<<"$ceiling")"
printf 'send_bundle at %s objects: %s objects/s, %s%% of the ceiling\n' "$largest" "$ours_rate" \
  "$(awk -v a="$ours_rate" -v b="$ceiling_rate" 'BEGIN {printf "%.0f", a * 100 / b}')"

echo
echo "== MISP feed connector: Python vs ours =="
MEASURE_NO_BUILD=1 scripts/bench/misp-feed-vs-python.sh "${MISP_FEED_PYTHON_CONNECTOR:-}" "$python" \
  "${MISP_FEED_EVENTS:-200}" "${MISP_FEED_ATTRIBUTES:-50}" "${MISP_FEED_DISTRIBUTION:-uniform}"

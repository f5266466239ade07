#!/usr/bin/env bash
# The MISP feed connector, Python vs ours, on one feed of EVENTS events of
# ATTRIBUTES attributes (generate_feed), served over HTTP on loopback. Each
# runs once on a fresh opencti-sim whose worker is paused; for each: objects
# per second (from start to exit), CPU per object and peak RSS (from
# /usr/bin/time), then the ratio. Run by scripts/bench-send.sh, or alone.
#
# Usage: scripts/bench/misp-feed-vs-python.sh [CONNECTOR_DIR [PYTHON [EVENTS [ATTRIBUTES [DISTRIBUTION]]]]]
#   CONNECTOR_DIR: external-import/misp-feed of a local checkout of
#   OpenCTI-Platform/connectors (its code runs from there, nothing is
#   copied); default $MISP_FEED_PYTHON_CONNECTOR; skipped, and said, when
#   neither names one.
#   PYTHON: a venv's interpreter with pycti; default the venv
#   scripts/setup-pycti-venv.sh makes (PYCTI_VERSION, 7.261026.0 unless set).
#   EVENTS, ATTRIBUTES: default 200 and 50 (the Python connector takes
#   about 2 minutes for those 57,000 objects).
#   DISTRIBUTION: uniform (default) or long-tail (generate_feed's).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/lib/opencti-sim.sh
. scripts/lib/opencti-sim.sh

connector_dir="${1:-${MISP_FEED_PYTHON_CONNECTOR:-}}"
if [ -z "$connector_dir" ] || [ ! -f "$connector_dir/src/main.py" ]; then
  echo "misp-feed vs Python: skipped: set MISP_FEED_PYTHON_CONNECTOR (or pass as first argument) the"
  echo "external-import/misp-feed directory of a local checkout of OpenCTI-Platform/connectors"
  exit 0
fi
connector_dir="$(cd "$connector_dir" && pwd)"
if [ -n "${2:-}" ]; then
  python="$2"
else
  python="$(PYCTI_VERSION="${PYCTI_VERSION:-7.261026.0}" scripts/setup-pycti-venv.sh)"
fi
events="${3:-200}"
attributes="${4:-50}"
distribution="${5:-uniform}"
scripts/ensure-rabbitmq.sh >&2
# MEASURE_NO_BUILD=1: the caller built the binaries (scripts/bench-send.sh,
# in its own single cargo run).
if [ -z "${MEASURE_NO_BUILD:-}" ]; then
  cargo build --release --locked --quiet -p opencti-sim -p opencti-misp-feed \
    --bin opencti-sim --bin opencti-misp-feed --example generate_feed
fi
release="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
# The Python connector's own requirements, pycti aside (the venv has it);
# connectors-sdk from the same checkout, as its requirement names the
# repository.
"$python" -m pip install --quiet --disable-pip-version-check \
  -r <(grep -v -i -e '^pycti' -e '^connectors-sdk' "$connector_dir/src/requirements.txt") >&2
# connectors-sdk pins its own pycti: installed without dependencies, then
# its other dependencies from its pyproject.toml, so the venv's pycti stays.
if grep -q -i '^connectors-sdk' "$connector_dir/src/requirements.txt"; then
  sdk="$connector_dir/../../connectors-sdk"
  "$python" -m pip install --quiet --disable-pip-version-check --no-deps "$sdk" >&2
  "$python" -m pip install --quiet --disable-pip-version-check -r <("$python" - "$sdk/pyproject.toml" <<'PY'
import re
import sys
import tomllib

with open(sys.argv[1], "rb") as file:
    dependencies = tomllib.load(file)["project"]["dependencies"]
print("\n".join(d for d in dependencies if not re.match(r"(?i)pycti\b", d)))
PY
  ) 2>&1 | grep -v -e "dependency resolver" -e "requires pycti" >&2 || true
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

"$release/examples/generate_feed" "$work/feed" "$events" "$attributes" "$distribution" >"$work/objects.txt"
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
  start_opencti_sim "$release/opencti-sim" "$work/sim.log" --transient-queues --workers-paused \
    --queue-prefix "misp$RANDOM" || exit 1
  pids+=("$sim_pid")
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
      l, o / (b - a), (u + s) * 1e6 / o, r / 1024, m
      printf "%f %f %f\n", o / (b - a), (u + s) * 1e6 / o, r / 1024 > (ENVIRON["work"] "/" l ".figures")}' "$work/time.txt"
}
export work

echo "feed: $events events of $attributes attributes ($distribution), $objects objects"
run ours "$PWD" "$release/opencti-misp-feed"
run python "$connector_dir/src" "$python" main.py
read -r our_rate our_cpu our_rss <"$work/ours.figures"
read -r python_rate python_cpu python_rss <"$work/python.figures"
awk -v a="$our_rate" -v b="$python_rate" -v c="$our_cpu" -v d="$python_cpu" -v e="$our_rss" -v f="$python_rss" 'BEGIN {
  printf "ratio    %8.1fx faster %12.2f of the CPU per object %5.2f of the peak RSS\n", a / b, c / d, e / f}'

#!/usr/bin/env bash
# Regenerates the golden exports of connectors/export-file-<kind> by running
# OpenCTI's own Python connector (internal-export-file/export-file-<kind>
# of a local OpenCTI-Platform/connectors checkout, unmodified) with pycti
# 7.261026.0 against opencti-sim seeded with the crate's
# tests/fixtures/seed.jsonl, for every case of tests/fixtures/cases.json.
#
# Usage: OPENCTI_CONNECTORS_CHECKOUT=/path/to/connectors \
#          scripts/goldens/export-file.sh stix|txt|csv
# Needs RabbitMQ on 127.0.0.1:5672 (scripts/ensure-rabbitmq.sh) and python3.
# Writes connectors/export-file-<kind>/tests/fixtures/goldens/.
set -euo pipefail
cd "$(dirname "$0")/../.."

kind="${1:?usage: $0 stix|txt|csv}"
checkout="${OPENCTI_CONNECTORS_CHECKOUT:?set OPENCTI_CONNECTORS_CHECKOUT to a checkout of OpenCTI-Platform/connectors}"
script="$checkout/internal-export-file/export-file-$kind/src/export-file-$kind.py"
[ -f "$script" ] || { echo "no $script" >&2; exit 1; }
fixtures="connectors/export-file-$kind/tests/fixtures"

python="$(PYCTI_VERSION=7.261026.0 scripts/setup-pycti-venv.sh "${PYCTI_VENV:-$HOME/.cache/opencti-connectors/pycti-venv-7.261026.0}")"
cargo build --quiet -p opencti-sim --bin opencti-sim
sim_bin="${CARGO_TARGET_DIR:-target}/debug/opencti-sim"
port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
"$sim_bin" --listen "127.0.0.1:$port" --transient-queues --events "$fixtures/seed.jsonl" \
    > "${TMPDIR:-/tmp}/export-goldens-sim.log" 2>&1 &
sim_pid=$!
trap 'kill "$sim_pid" 2>/dev/null || true; wait "$sim_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  curl -fsS "http://127.0.0.1:$port/sim/api/summary" >/dev/null 2>&1 && break
  sleep 0.1
done

out="$fixtures/goldens"
rm -rf "$out"
"$python" scripts/goldens/export_file_goldens.py "http://127.0.0.1:$port" "$script" \
    "$fixtures/cases.json" "$out"
rejected="$(curl -fsS "http://127.0.0.1:$port/sim/api/rejected-requests")"
if [ "$rejected" != "[]" ]; then
  echo "the Python connector sent documents the schema subset refuses: $rejected" >&2
  exit 1
fi
rm -f "$out/connector.log"
echo "goldens written to $out" >&2

#!/usr/bin/env bash
# Import-file throughput of connectors/import-file-stix against the Python
# import-file-stix connector, on the same generated bundle in the same run,
# through a local opencti-sim and this machine's RabbitMQ
# (benches/import_vs_python.rs says what is measured).
#
# Usage: [PYTHON_CONNECTORS_DIR=/path/to/OpenCTI-Platform/connectors] \
#          [BENCH_OBJECTS=6000] scripts/bench-import-file-stix.sh
# Without PYTHON_CONNECTORS_DIR only our connector is measured. The Python
# connector runs from that checkout, in the venv of
# scripts/goldens/import-file-stix-venv.sh; nothing of it is copied here.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${PYTHON_CONNECTORS_DIR:-}" ]; then
  IMPORT_FILE_STIX_PYTHON="$(scripts/goldens/import-file-stix-venv.sh)"
  export IMPORT_FILE_STIX_PYTHON PYTHON_CONNECTORS_DIR
else
  echo "bench-import-file-stix: PYTHON_CONNECTORS_DIR unset, the Python connector is skipped" >&2
fi
cargo bench --locked -p opencti-import-file-stix --bench import_vs_python

#!/usr/bin/env bash
# Regenerates connectors/import-file-stix/tests/fixtures/goldens/ by running
# the Python import-file-stix connector's own code on the cases of
# tests/fixtures/cases.json (see import_file_stix_harness.py).
#
# Usage: PYTHON_CONNECTORS_DIR=/path/to/OpenCTI-Platform/connectors \
#          scripts/goldens/import-file-stix.sh
# The checkout is only read; nothing of it is copied into this repository.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
: "${PYTHON_CONNECTORS_DIR:?set PYTHON_CONNECTORS_DIR to a checkout of OpenCTI-Platform/connectors}"
connector_src="$PYTHON_CONNECTORS_DIR/internal-import-file/import-file-stix/src"
if [ ! -f "$connector_src/connector/connector.py" ]; then
  echo "import-file-stix goldens: no connector at $connector_src" >&2
  exit 1
fi
python_bin="$("$here/import-file-stix-venv.sh")"
# stix2-elevator (imported by the connector) writes its cache under $HOME.
export HOME="${IMPORT_FILE_STIX_HOME:-$HOME}"
"$python_bin" "$here/import_file_stix_harness.py" \
  "$root/connectors/import-file-stix/tests/fixtures" "$connector_src"

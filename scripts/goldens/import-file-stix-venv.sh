#!/usr/bin/env bash
# Creates (or reuses) the virtual environment the Python import-file-stix
# connector runs in for the goldens and the benchmark, and prints its python
# interpreter on stdout (progress goes to stderr).
#
# Usage: scripts/goldens/import-file-stix-venv.sh
#   PYTHON_CONNECTORS_DIR (required): a checkout of OpenCTI-Platform/connectors;
#     its connectors-sdk is installed from there (never copied into this repo).
#   IMPORT_FILE_STIX_VENV: the venv's directory
#     (default ~/.cache/opencti-connectors/import-file-stix-venv).
#
# pycti is pinned to the version the rest of the repository compares against
# (7.261026.0); the connector's own requirements pin an older one, and
# connectors-sdk is installed without its pin for that reason.
set -euo pipefail

pycti_version=7.261026.0
: "${PYTHON_CONNECTORS_DIR:?set PYTHON_CONNECTORS_DIR to a checkout of OpenCTI-Platform/connectors}"
venv_dir="${IMPORT_FILE_STIX_VENV:-$HOME/.cache/opencti-connectors/import-file-stix-venv}"
python_bin="$venv_dir/bin/python"

if [ -x "$python_bin" ] && "$python_bin" - "$pycti_version" >/dev/null 2>&1 <<'PY'
import sys
import pycti, connectors_sdk, stix2elevator  # noqa: F401
sys.exit(0 if pycti.__version__ == sys.argv[1] else 1)
PY
then
  echo "$python_bin"
  exit 0
fi

echo "import-file-stix-venv: building $venv_dir ..." >&2
python3 -m venv "$venv_dir" >&2
pip=("$python_bin" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip >&2
"${pip[@]}" "pycti==$pycti_version" "stix2-elevator==4.1.7" "maec==4.1.0.17" \
  "pydantic~=2.11.3" "pydantic_settings>=2.9.1,<3" "limits>=5.0,<6" >&2
"${pip[@]}" --no-deps "$PYTHON_CONNECTORS_DIR/connectors-sdk" >&2
"$python_bin" -c 'import pycti; print("import-file-stix-venv: pycti", pycti.__version__)' >&2
echo "$python_bin"

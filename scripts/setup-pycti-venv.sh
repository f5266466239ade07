#!/usr/bin/env bash
# Creates (or reuses) a Python virtual environment holding pycti from PyPI and
# prints the path of its python interpreter on stdout (progress goes to stderr).
#
# Usage: scripts/setup-pycti-venv.sh [VENV_DIR]
#   VENV_DIR defaults to $PYCTI_VENV, else ~/.cache/opencti-connectors/pycti-venv.
#   PYCTI_VERSION (optional) pins the pycti version, e.g. PYCTI_VERSION=6.8.10.
#
# Typical use: export OPENCTI_SIM_PYTHON="$(scripts/setup-pycti-venv.sh)"
set -euo pipefail

venv_dir="${1:-${PYCTI_VENV:-$HOME/.cache/opencti-connectors/pycti-venv}}"
requirement="pycti${PYCTI_VERSION:+==${PYCTI_VERSION}}"
python_bin="$venv_dir/bin/python"

# Idempotent: a venv that already imports the wanted pycti is reused untouched.
if [ -x "$python_bin" ] && "$python_bin" - "${PYCTI_VERSION:-}" >/dev/null 2>&1 <<'PY'
import sys
import pycti
wanted = sys.argv[1] if len(sys.argv) > 1 else ""
sys.exit(0 if not wanted or pycti.__version__ == wanted else 1)
PY
then
  echo "$python_bin"
  exit 0
fi

host_python="$(command -v python3 || command -v python || true)"
if [ -z "$host_python" ]; then
  echo "setup-pycti-venv: no python3 on PATH" >&2
  exit 1
fi

echo "setup-pycti-venv: installing $requirement into $venv_dir ..." >&2
mkdir -p "$(dirname "$venv_dir")"
"$host_python" -m venv "$venv_dir" >&2
"$python_bin" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
"$python_bin" -m pip install --quiet --disable-pip-version-check "$requirement" >&2
"$python_bin" -c 'import pycti; print("setup-pycti-venv: pycti", pycti.__version__)' >&2
echo "$python_bin"

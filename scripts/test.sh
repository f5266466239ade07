#!/usr/bin/env bash
# Runs every test of the workspace against the local RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-rabbitmq.sh

# A venv with pycti from PyPI: opencti-sim's round-trip test runs a real
# pycti connector against the simulator. Pinned to the pycti the fixtures
# were generated with.
export PYCTI_VERSION="${PYCTI_VERSION:-7.261026.0}"
OPENCTI_SIM_PYTHON="${OPENCTI_SIM_PYTHON:-$(scripts/setup-pycti-venv.sh)}"
export OPENCTI_SIM_PYTHON

# --no-fail-fast: report every failing test binary, not just the first.
cargo test --workspace --locked --no-fail-fast "$@"

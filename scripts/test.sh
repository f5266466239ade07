#!/usr/bin/env bash
# Runs every test of the workspace against the local RabbitMQ.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-rabbitmq.sh
cargo test --workspace --locked "$@"

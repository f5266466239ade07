#!/usr/bin/env bash
# The long soak of issue #13: the five connectors together against
# opencti-sim and their fake vendors, faults at random for 10 minutes by
# default, then the figures (objects, events, faults, RSS and its slope,
# fds, tasks). Arguments go to the soak (`--duration 60`, `--seed N`,
# `--log-level warn`, `--help`). Needs RabbitMQ on 127.0.0.1:5672.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-rabbitmq.sh || { echo "soak.sh: RabbitMQ is needed on 127.0.0.1:5672 (guest/guest)" >&2; exit 1; }
exec cargo run --release --locked -p opencti-soak --example soak -- "$@"

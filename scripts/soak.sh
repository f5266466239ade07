#!/usr/bin/env bash
# The long soak of issue #13: the five connectors together against
# opencti-sim and their fake vendors, faults at random for 10 minutes by
# default, then the figures (objects, events, faults, RSS and its slope,
# fds, tasks). Arguments go to the soak (`--duration 60`, `--seed N`,
# `--log-level warn`, `--help`). Needs RabbitMQ on 127.0.0.1:5672.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/ensure-rabbitmq.sh || { echo "soak.sh: RabbitMQ is needed on 127.0.0.1:5672 (guest/guest)" >&2; exit 1; }
# glibc raises its mmap threshold each time a large block is freed, after
# which the broker client's multi-MiB frame buffers (new ones at each of the
# soak's hundred-odd broker reconnections) come from its heaps, which keep
# them: RSS then grows with the reconnections while the live heap does not
# (docs/reliability.md). A fixed threshold keeps those buffers mmapped, so
# the RSS slope shows what the connectors hold. MALLOC_MMAP_THRESHOLD_=
# (empty) measures with glibc's default behaviour.
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_-131072}"
[ -n "$MALLOC_MMAP_THRESHOLD_" ] || unset MALLOC_MMAP_THRESHOLD_
exec cargo run --release --locked -p opencti-soak --example soak -- "$@"

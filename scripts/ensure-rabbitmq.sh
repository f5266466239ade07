#!/usr/bin/env bash
# Makes sure a RabbitMQ broker answers on 127.0.0.1:5672 (the tests publish to it for real).
set -euo pipefail

port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if port_open; then
  exit 0
fi
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "RabbitMQ is not answering on 127.0.0.1:5672 and rabbitmq-server is not installed." >&2
  echo "Install it (Debian/Ubuntu: sudo apt-get install rabbitmq-server) or start a broker there, then run again." >&2
  exit 1
fi
echo "starting RabbitMQ (rabbitmq-server -detached)..." >&2
rabbitmq-server -detached
for _ in $(seq 1 60); do
  if port_open; then
    exit 0
  fi
  sleep 1
done
echo "RabbitMQ was started but still does not answer on 127.0.0.1:5672 after 60 s." >&2
exit 1

# shellcheck shell=bash
# Sourced by the benchmark scripts: starts opencti-sim on a port the system
# picks (`--listen 127.0.0.1:0`) and reads the port from its "listening on"
# log line, so that no two runs, and no other process, can share a port.

# start_opencti_sim BINARY LOG [OPTION...]: starts BINARY with OPTION...,
# its output in LOG; sets `sim_pid` and `port` once it listens. Prints LOG
# and returns 1 when it exits or does not listen within 30 s.
start_opencti_sim() {
  local binary="$1" log="$2"
  shift 2
  "$binary" --listen 127.0.0.1:0 "$@" >"$log" 2>&1 &
  sim_pid=$!
  port=""
  for _ in $(seq 1 300); do
    port="$(sed -n 's|.*listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$log" | head -1)"
    [ -n "$port" ] && return 0
    kill -0 "$sim_pid" 2>/dev/null || break
    sleep 0.1
  done
  cat "$log" >&2
  echo "opencti-sim did not start" >&2
  return 1
}

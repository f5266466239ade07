#!/usr/bin/env bash
# Re-measures, in one run on this machine, every throughput, time, CPU and
# RSS figure the connectors' READMEs state, each by the method its README
# names (the connector's bench, examples/misp-feed/measure.sh, a memory
# example), and ends with one table: connector | figure | README says |
# measured now | ratio (measured / README).
#
# The README value a ratio is taken against is the README's single figure,
# or the median it gives, or else the middle of the range it gives. For
# objects/s, events/s and messages/s a ratio below 1 is slower; for
# seconds, µs and MB a ratio above 1 is worse.
#
# Needs only this machine's RabbitMQ (scripts/ensure-rabbitmq.sh). The
# figures that compare with a Python connector need a local checkout of
# OpenCTI-Platform/connectors and are measured only when it is named
# (nothing of it is copied here); without it their rows say "not measured".
#
# The host has 2 cores shared with other work, so the load average is
# printed before each part and at the end: read the ratios with it.
#
# Usage: scripts/bench-readmes.sh
#   BENCH_READMES_ONLY          connectors to measure, space separated
#                               (default: misp-feed nti ptnad sekoia-intel
#                               teamt5 import-file-stix export-file-stix
#                               export-file-txt)
#   BENCH_READMES_PTNAD_RUNS    bench runs for PT NAD (default 3: its README
#                               gives the median of three runs)
#   BENCH_READMES_SEKOIA_RUNS   bench runs for Sekoia (default 1; its README
#                               gave a range over two runs)
#   PYTHON_CONNECTORS_DIR       a checkout of OpenCTI-Platform/connectors:
#                               also measures the Python import-file-stix
#                               and misp-feed connectors (their README rows)
#   BENCH_READMES_DEBUG         0: skip the nti memory example's debug build
#                               (a second, dev-profile build of its
#                               dependencies; default 1)
#
# Everything is built first, in two cargo runs over the same packages (the
# benches, then the binaries and examples), so that cargo resolves the
# dependencies' features once and nothing is rebuilt between measurements
# (a `cargo bench -p <one package>` per connector would build the
# dependencies again for each package's own feature set, which takes most
# of an hour on this machine). The benches then run as `cargo bench` runs
# them: their executable with `--bench`, from the package's directory.
# Builds go to CARGO_TARGET_DIR (default target/).
set -euo pipefail
cd "$(dirname "$0")/.."

only="${BENCH_READMES_ONLY:-misp-feed nti ptnad sekoia-intel teamt5 import-file-stix export-file-stix export-file-txt}"
ptnad_runs="${BENCH_READMES_PTNAD_RUNS:-3}"
sekoia_runs="${BENCH_READMES_SEKOIA_RUNS:-1}"
debug_build="${BENCH_READMES_DEBUG:-1}"
# Absolute, so that the scripts run from here find the same binaries.
CARGO_TARGET_DIR="$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)"
export CARGO_TARGET_DIR

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# One line per figure: connector|figure|README says|README value|measured|unit
rows="$work/rows"
: >"$rows"

selected() { [[ " $only " == *" $1 "* ]]; }
load() { uptime | sed 's/.*load average: //'; }
section() {
  echo
  echo "=== $1 ($(date -u +%H:%M:%S) UTC, load average $(load))"
}
# row CONNECTOR FIGURE README_TEXT README_VALUE MEASURED UNIT
# (MEASURED empty: the figure could not be measured in this run.)
row() { printf '%s|%s|%s|%s|%s|%s\n' "$@" >>"$rows"; }

# logged LOG COMMAND...: runs COMMAND, its output shown and kept in LOG. A
# failure is reported at the end (its figures read "not measured") rather
# than ending a run that takes most of an hour.
failures="$work/failures"
: >"$failures"
logged() {
  local log="$1"
  shift
  if ! "$@" 2>&1 | tee "$log"; then
    echo "FAILED: $*" | tee -a "$failures"
  fi
}

# The median of the numbers given as arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# criterion_thrpt LOG ID: the middle of the throughput estimate criterion
# printed for benchmark ID, in elements per second.
criterion_thrpt() {
  awk -v id="$2" '
    /^(Benchmarking|Found|Warning)/ {next}
    /^[^ ]/ {name = $1}
    /thrpt:/ && name == id {
      for (i = 1; i < NF; i++) if ($i == "thrpt:") {v = $(i + 3); u = $(i + 4)}
      m = (u ~ /^G/) ? 1e9 : (u ~ /^M/) ? 1e6 : (u ~ /^K/) ? 1e3 : 1
      printf "%.0f\n", v * m
    }' "$1" | tail -1
}

# word_after LOG PATTERN WORD: in the last line matching PATTERN, the word
# after WORD (PATTERN without backslashes: awk -v would read them).
word_after() {
  awk -v p="$2" -v w="$3" '$0 ~ p {for (i = 1; i < NF; i++) if ($i == w) v = $(i + 1)} END {print v}' "$1"
}
# word_before LOG PATTERN WORD: the same, the word before WORD.
word_before() {
  awk -v p="$2" -v w="$3" '$0 ~ p {for (i = 2; i <= NF; i++) if ($i == w) v = $(i - 1)} END {print v}' "$1"
}
# per_object SECONDS OBJECTS: µs of CPU per object.
per_object() { awk -v s="$1" -v o="$2" 'BEGIN {if (s != "" && o > 0) printf "%.1f\n", s * 1e6 / o}'; }
# peak_mb LOG: the memory examples' "peak RSS (VmHWM) X MB".
peak_mb() { word_before "$1" "VmHWM" MB; }

started_at="$(date +%s)"
echo "bench-readmes: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(load)"
echo "connectors: $only"
scripts/ensure-rabbitmq.sh

section "build: the benches (bench profile; the same packages as the binaries' build)"
packages=(-p opencti-sim -p opencti-connector -p opencti-misp-feed -p opencti-nti -p opencti-ptnad
  -p opencti-sekoia-intel -p opencti-teamt5 -p opencti-import-file-stix -p opencti-export-file-stix)
benches=(import_package stream_to_ptnad stream_to_sekoia rewrite import_vs_python export_time)
cargo bench --no-run --locked "${packages[@]}" "${benches[@]/#/--bench=}" --message-format=json-render-diagnostics |
  jq -r 'select(.reason == "compiler-artifact" and .target.kind == ["bench"] and .executable != null)
    | "\(.target.name) \(.executable) \(.manifest_path)"' >"$work/benches"
release="$CARGO_TARGET_DIR/release"
# The binaries and examples, built when first needed (after the benches
# that do not need them have run): same packages, so the same features.
binaries_built=""
build_binaries() {
  [ -n "$binaries_built" ] && return
  section "build: binaries and examples (release profile)"
  cargo build --release --locked "${packages[@]}" --bin opencti-sim --bin opencti-misp-feed \
    --example broker_ceiling --example generate_feed --example convert_memory --example package_memory
  binaries_built=1
}
# measure.sh: the binaries above are the ones it runs.
export MEASURE_NO_BUILD=1

# bench NAME [ARGS...]: runs bench NAME as `cargo bench --bench NAME` would.
bench() {
  local name="$1" executable manifest
  shift
  read -r _ executable manifest < <(awk -v n="$name" '$1 == n' "$work/benches")
  (cd "$(dirname "$manifest")" && "$executable" --bench "$@")
}

# stream_bench CONNECTOR PACKAGE BENCH GROUP RUNS VARIANT:README_TEXT:README_VALUE...
# Runs a stream connector's criterion bench RUNS times; each variant's
# figure is the median of the runs' middle estimates.
stream_bench() {
  local connector="$1" package="$2" bench="$3" group="$4" runs="$5"
  shift 5
  local run spec variant values
  for run in $(seq 1 "$runs"); do
    section "$connector: bench $bench (cargo bench -p $package --bench $bench), run $run of $runs"
    logged "$work/$bench-$run.log" bench "$bench"
  done
  for spec in "$@"; do
    variant="${spec%%:*}"
    values=()
    for run in $(seq 1 "$runs"); do
      values+=("$(criterion_thrpt "$work/$bench-$run.log" "$group/$variant")")
    done
    echo "$connector $variant: ${values[*]} events/s"
    IFS=: read -r _ text value <<<"$spec"
    row "$connector" "$bench bench, $variant: events/s (median of $runs)" "$text" "$value" "$(median "${values[@]}")" events/s
  done
}

if selected ptnad; then
  stream_bench ptnad opencti-ptnad stream_to_ptnad ptnad_stream "$ptnad_runs" \
    "batched:about 28,000 (22,000-28,000):28000" "one_by_one:about 12,000 (11,000-13,000):12000"
fi

if selected teamt5; then
  section "teamt5: bench rewrite (cargo bench -p opencti-teamt5 --bench rewrite)"
  log="$work/teamt5.log"
  logged "$log" bench rewrite
  row teamt5 "rewrite bench, 1,000-object bundle: objects/s" "about 1,000,000" 1000000 \
    "$(criterion_thrpt "$log" report_bundle/1000)" objects/s
fi

if selected import-file-stix; then
  # As scripts/bench-import-file-stix.sh sets it up, the bench run as above.
  if [ -n "${PYTHON_CONNECTORS_DIR:-}" ]; then
    IMPORT_FILE_STIX_PYTHON="$(scripts/goldens/import-file-stix-venv.sh)"
    export IMPORT_FILE_STIX_PYTHON PYTHON_CONNECTORS_DIR
  fi
  for objects in 6000 30000; do
    section "import-file-stix: bench import_vs_python (BENCH_OBJECTS=$objects scripts/bench-import-file-stix.sh)"
    log="$work/import-$objects.log"
    export BENCH_OBJECTS="$objects"
    logged "$log" bench import_vs_python
    # "rust 6000 objects connector 0.78 s 7735 objects/s end to end 0.63 s 9466 objects/s"
    rates() { awk -v who="$1" '$1 == who {n = 0; for (i = 2; i <= NF; i++) if ($i == "objects/s") printf "%s%s", (n++ ? " " : ""), $(i - 1); print ""}' "$log"; }
    read -r connector end_to_end <<<"$(rates rust)" || true
    read -r python_connector python_end_to_end <<<"$(rates python)" || true
    case "$objects" in
      6000) readme=(7735 9466 477 582) label=6,000 ;;
      30000) readme=(7115 4839 471 572) label=30,000 ;;
    esac
    row import-file-stix "$label objects, ours, connector (worker paused): objects/s" "${readme[0]}" "${readme[0]}" "${connector:-}" objects/s
    row import-file-stix "  same, ours, end to end: objects/s" "${readme[1]}" "${readme[1]}" "${end_to_end:-}" objects/s
    row import-file-stix "  same, Python, connector: objects/s" "${readme[2]}" "${readme[2]}" "${python_connector:-}" objects/s
    row import-file-stix "  same, Python, end to end: objects/s" "${readme[3]}" "${readme[3]}" "${python_end_to_end:-}" objects/s
  done
fi

if selected export-file-stix; then
  section "export-file-stix: bench export_time (cargo bench -p opencti-export-file-stix --bench export_time)"
  log="$work/export.log"
  logged "$log" bench export_time
  # The bench prints a Duration ("3.40s", or "850.12ms" under a second).
  seconds() { awk -v t="$1" '$1 == t {d = $NF; if (d ~ /ms$/) {sub(/ms$/, "", d); d /= 1000} else sub(/s$/, "", d); print d}' "$log"; }
  row export-file-stix "query export of 2,004 observables, simple: seconds" "3.40 s" 3.40 "$(seconds simple)" s
  row export-file-stix "  same, full: seconds" "12.05 s" 12.05 "$(seconds full)" s
fi

if selected nti; then
  section "nti: bench import_package (cargo bench -p opencti-nti --bench import_package)"
  log="$work/nti.log"
  logged "$log" bench import_package
  row nti "import_package bench (20,000 records): records/s" "18,000-36,000 (0.55-1.1 s)" 27000 \
    "$(criterion_thrpt "$log" import_package/ioc_and_ip_20k_records)" records/s

  section "nti: package_memory example (200,000 IP records), release then debug build"
  log="$work/nti-memory-release.log"
  build_binaries
  logged "$log" "$release/examples/package_memory"
  row nti "package_memory (200,000 records), release build: peak RSS" "23 MB" 23 "$(peak_mb "$log")" MB
  log="$work/nti-memory-debug.log"
  if [ "$debug_build" = 1 ]; then
    logged "$log" cargo run --locked --quiet -p opencti-nti --example package_memory
  else
    echo "debug build skipped (BENCH_READMES_DEBUG=0)" | tee "$log"
  fi
  row nti "package_memory (200,000 records), debug build: peak RSS" "25 MB" 25 "$(peak_mb "$log")" MB
fi

# The long parts last: the MISP feed runs (about 10 minutes here), then
# Sekoia (about a minute a run).
if selected misp-feed; then
  build_binaries
  section "misp-feed: examples/misp-feed/measure.sh (1,000 events of 50 attributes, uniform)"
  log="$work/misp-uniform.log"
  logged "$log" examples/misp-feed/measure.sh 1000 50 uniform
  paused='^connector [+] broker'
  objects="$(word_before "$log" "$paused" objects)"
  everything='^everything on this machine'
  row misp-feed "1,000x50 uniform, connector + broker (worker paused): objects/s" "9,100-13,600 (median 12,100)" 12100 \
    "$(word_before "$log" "$paused" objects/s,)" objects/s
  row misp-feed "  same run: connector peak RSS" "26.8-28.4 MB" 27.6 "$(word_after "$log" "$paused" RSS)" MB
  row misp-feed "  same run: connector peak RSS (Memory section)" "25.6 MB" 25.6 "$(word_after "$log" "$paused" RSS)" MB
  # The CPU line follows its run's line; awk takes the first (paused) one.
  cpu_line() { awk -v w="$1" -v n="$2" '/CPU meanwhile/ {k++; if (k == n) for (i = 1; i < NF; i++) if ($i == w) print $(i + 1)}' "$log"; }
  row misp-feed "  same run: connector CPU per object" "25-40 us" 32.5 "$(per_object "$(cpu_line connector 1)" "$objects")" us
  row misp-feed "  same run: opencti-sim CPU per object" "1-2 us" 1.5 "$(per_object "$(cpu_line opencti-sim 1)" "$objects")" us
  row misp-feed "  same run: RabbitMQ CPU per object" "71-107 us" 89 "$(per_object "$(cpu_line RabbitMQ 1)" "$objects")" us
  row misp-feed "broker alone (broker_ceiling), same message count and size" "11,700-16,100 messages/s" 13900 \
    "$(word_before "$log" "^broker alone" messages/s)" messages/s
  row misp-feed "1,000x50 uniform, everything (worker ingesting): objects/s" "7,600-11,700 (median 10,400)" 10400 \
    "$(word_before "$log" "$everything" objects/s,)" objects/s
  row misp-feed "  same run: connector peak RSS" "27.3-28.1 MB" 27.7 "$(word_after "$log" "$everything" RSS)" MB
  row misp-feed "  same run: connector CPU per object" "25-41 us" 33 "$(per_object "$(cpu_line connector 2)" "$objects")" us
  row misp-feed "  same run: opencti-sim CPU per object" "47-70 us" 58.5 "$(per_object "$(cpu_line opencti-sim 2)" "$objects")" us
  row misp-feed "  same run: RabbitMQ CPU per object" "76-119 us" 97.5 "$(per_object "$(cpu_line RabbitMQ 2)" "$objects")" us

  section "misp-feed: measure.sh on the long-tailed 1,000-event feed"
  log="$work/misp-long-tail.log"
  logged "$log" examples/misp-feed/measure.sh 1000 50 long-tail
  row misp-feed "1,000x50 long-tail, connector peak RSS (worker paused)" "54.6 MB" 54.6 "$(word_after "$log" "$paused" RSS)" MB

  section "misp-feed: the same with MALLOC_ARENA_MAX=1"
  log="$work/misp-long-tail-arena.log"
  MALLOC_ARENA_MAX=1 logged "$log" examples/misp-feed/measure.sh 1000 50 long-tail
  row misp-feed "  same, MALLOC_ARENA_MAX=1" "41.3 MB" 41.3 "$(word_after "$log" "$paused" RSS)" MB

  section "misp-feed: measure.sh 1 50000 (one 50,000-attribute event)"
  log="$work/misp-huge.log"
  logged "$log" examples/misp-feed/measure.sh 1 50000
  row misp-feed "1 event of 50,000 attributes end to end, connector peak RSS" "156 MB (earlier send path)" 156 \
    "$(word_after "$log" "$paused" RSS)" MB

  section "misp-feed: convert_memory example (50,000 attributes)"
  log="$work/misp-convert.log"
  logged "$log" "$release/examples/convert_memory"
  row misp-feed "convert_memory (50,000 attributes): conversion time" "0.8 s" 0.8 \
    "$(word_before "$log" "objects, bundle" s)" s
  row misp-feed "  same: peak RSS of the process" "117 MB" 117 "$(peak_mb "$log")" MB

  section "misp-feed: Python connector vs ours (200 events of 50 attributes)"
  log="$work/misp-python.log"
  python_dir="${PYTHON_CONNECTORS_DIR:+$PYTHON_CONNECTORS_DIR/external-import/misp-feed}"
  logged "$log" scripts/bench/misp-feed-vs-python.sh "$python_dir"
  ours_rate="$(word_before "$log" "^ours " objects/s)"
  python_rate="$(word_before "$log" "^python " objects/s)"
  row misp-feed "vs Python, 200x50: ours objects/s" "11,953" 11953 "$ours_rate" objects/s
  row misp-feed "  same: Python objects/s" "853" 853 "$python_rate" objects/s
  row misp-feed "  same: ours peak RSS" "15.3 MB" 15.3 "$(word_before "$log" "^ours " MB)" MB
  row misp-feed "  same: Python peak RSS" "88.7 MB" 88.7 "$(word_before "$log" "^python " MB)" MB
  row misp-feed "Python connector on the 1,000x50 feed: objects/s" "about 440" 440 "" objects/s
  row misp-feed "  same: Python peak RSS" "113 MB" 113 "" MB
fi

if selected sekoia-intel; then
  stream_bench sekoia-intel opencti-sekoia-intel stream_to_sekoia sekoia_stream "$sekoia_runs" \
    "batched:2,400-2,600:2500" "one_by_one:1,800-2,400:2100"
fi

if selected export-file-txt; then
  section "export-file-txt"
  echo "its README states no throughput, time or memory figure: nothing to measure"
  row export-file-txt "(no figure stated in its README)" "-" "" "" ""
fi

finished_at="$(date +%s)"
echo
echo "=== summary: $(date -u '+%Y-%m-%d %H:%M UTC'), wall time $(((finished_at - started_at) / 60)) min $(((finished_at - started_at) % 60)) s, load average at the end $(load)"
awk -F'|' '
  function show(v, u) {
    if (v == "") return "not measured"
    return sprintf(v >= 100 ? "%.0f %s" : (v >= 10 ? "%.1f %s" : "%.2f %s"), v, u)
  }
  BEGIN {printf "%-17s | %-68s | %-28s | %-18s | %s\n", "connector", "figure", "README says", "measured now", "ratio"}
  {
    ratio = ($5 != "" && $4 > 0) ? sprintf("%.2f", $5 / $4) : "-"
    measured = ($6 == "") ? "-" : show($5, $6)
    printf "%-17s | %-68s | %-28s | %-18s | %s\n", $1, $2, $3, measured, ratio
  }' "$rows"
if [ -s "$failures" ]; then
  echo
  echo "failed (their figures read \"not measured\"):"
  cat "$failures"
fi

#!/usr/bin/env bash
# Runs every test of the workspace against the local RabbitMQ, then the
# connector images (built from docker/Dockerfile over the binaries the tests
# compiled, and run) and `cargo install` of every binary. Ends with one
# `N passed, N failed` line over all of it.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
  echo "test.sh: $*" >&2
  exit 1
}

# What a fresh machine needs, each missing piece named on one line.
command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust 1.95 (rustup) first"
command -v python3 >/dev/null 2>&1 || die "python3 is missing: install it (Debian: apt-get install python3 python3-venv); the pycti round-trip test needs it"
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 \
  || die "python3 cannot make virtual environments: install python3-venv (Debian: apt-get install python3-venv)"
scripts/ensure-rabbitmq.sh || die "RabbitMQ is needed on 127.0.0.1:5672 (guest/guest): see the line above"

# A venv with pycti from PyPI: opencti-sim's round-trip test runs a real
# pycti connector against the simulator. Pinned to the pycti the fixtures
# were generated with.
export PYCTI_VERSION="${PYCTI_VERSION:-7.261026.0}"
if [ -z "${OPENCTI_SIM_PYTHON:-}" ]; then
  OPENCTI_SIM_PYTHON="$(scripts/setup-pycti-venv.sh)" \
    || die "cannot install pycti $PYCTI_VERSION into a venv: the Python package index (PyPI) must be reachable"
fi
export OPENCTI_SIM_PYTHON

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
extra_passed=0
extra_failed=0
extra_skipped=0

# --no-fail-fast: report every failing test binary, not just the first.
# The image tests run once, below, with their images.
cargo test --workspace --locked --no-fail-fast "$@" -- --skip images:: 2>&1 | tee -a "$log" || status=1

# The images, over the binaries just built (a release build of all five
# would add a cold build of its own; scripts/images.sh without --prebuilt
# does that). Needs root: skipped, and said, otherwise.
set +e
scripts/images.sh --prebuilt "$target_dir/debug" 2>&1 | tee -a "$log"
images_status=${PIPESTATUS[0]}
set -e
case "$images_status" in
  0) ;;
  77) extra_skipped=$((extra_skipped + 1)) ;;
  *) status=1; extra_failed=$((extra_failed + 1)); echo "test.sh: the image checks failed" ;;
esac

# One documented `cargo install --path` per binary, into a throwaway root,
# reusing the build directory; each installed binary answers --version.
install_root="$(mktemp -d)"
for path in connectors/misp-feed connectors/ptnad connectors/sekoia-intel connectors/teamt5 \
  connectors/nti connectors/import-file-stix connectors/export-file-stix connectors/export-file-txt crates/opencti-sim crates/opencti-stix; do
  if cargo install --quiet --locked --debug --path "$path" --root "$install_root" \
    --target-dir "$target_dir" >/dev/null 2>>"$log"; then
    extra_passed=$((extra_passed + 1))
  else
    echo "test.sh: cargo install --path $path failed"
    extra_failed=$((extra_failed + 1))
    status=1
  fi
done
for binary in opencti-misp-feed opencti-ptnad opencti-sekoia-intel opencti-teamt5 opencti-nti \
  opencti-import-file-stix opencti-export-file-stix opencti-export-file-txt opencti-sim stix-tool; do
  if "$install_root/bin/$binary" --version | grep -q "^$binary "; then
    extra_passed=$((extra_passed + 1))
  else
    echo "test.sh: the installed $binary does not answer --version"
    extra_failed=$((extra_failed + 1))
    status=1
  fi
done
rm -rf "$install_root"

# Every `test result:` line of cargo, plus the checks above.
totals="$(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed.*/\1 \2/p' "$log" \
  | awk -v p="$extra_passed" -v f="$extra_failed" '{ p += $1; f += $2 } END { print p, f }')"
read -r passed failed <<<"$totals"
if [ "$extra_skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $extra_skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
exit "$status"

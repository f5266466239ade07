#!/usr/bin/env bash
# Regenerates the listening-connector section of opencti-sim's schema subset
# (crates/opencti-sim/schema/opencti-connector-schema.graphql): the part
# above it is kept as is, the section is cut again from the platform's
# schema for the documents of tests/documents/ and those pycti 7.261026.0
# and 6.8.10 send.
#
# Usage: scripts/schema-subset/regenerate.sh PLATFORM_GRAPHQL_DIR [PLATFORM_COMMIT]
#   PLATFORM_GRAPHQL_DIR: opencti-platform/opencti-graphql of a platform
#   checkout (config/schema/opencti.graphql and src/modules/**/*.graphql).
# Needs python3 with graphql-core 3.2, and makes (or reuses) two pycti venvs
# with scripts/setup-pycti-venv.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."

platform="${1:?usage: $0 PLATFORM_GRAPHQL_DIR [PLATFORM_COMMIT]}"
commit="${2:-unknown}"
schema=crates/opencti-sim/schema/opencti-connector-schema.graphql
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python7="$(PYCTI_VERSION=7.261026.0 scripts/setup-pycti-venv.sh)"
python68="$(PYCTI_VERSION=6.8.10 scripts/setup-pycti-venv.sh "${PYCTI_VENV_68:-$HOME/.cache/opencti-connectors/pycti-6.8-venv}")"
mkdir -p "$work/7" "$work/6.8"
"$python7" scripts/schema-subset/capture_pycti_documents.py "$work/7"
"$python68" scripts/schema-subset/capture_pycti_documents.py "$work/6.8"
for f in "$work/6.8"/*.graphql; do mv "$f" "${f%.graphql}_6_8.graphql"; done

# The base: everything above the section's opening rule (all of it before
# the section first existed).
awk '/^# LISTENING CONNECTORS/ { found = 1; exit } { lines[n++] = $0 }
     END { for (i = 0; i < (found ? n - 1 : n); i++) print lines[i] }' \
    "$schema" > "$work/base.graphql"

python3 scripts/schema-subset/subset.py --platform "$platform" --base "$work/base.graphql" \
    --overlay scripts/schema-subset/overlay-7x.graphql \
    crates/opencti-sim/tests/documents/*.graphql "$work/7"/*.graphql "$work/6.8"/*.graphql \
    > "$work/section.graphql"

{
  cat "$work/base.graphql"
  cat <<HEADER
# =============================================================================
# LISTENING CONNECTORS (opencti-sim's addition; generated, do not edit by hand)
#
# What the platform's UI sends to start internal connectors (enrichment,
# file import, entity and list export: crates/opencti-sim/tests/documents/ui_*)
# and what listening pycti connectors send back or read (the entity readers
# of enrichment messages and the nested references pycti lists when it
# rebuilds their STIX, the export uploads), for pycti 7.261026.0 and 6.8.10.
# Each definition is preceded by its platform file; fields and types no
# document uses are left out.
#
# Cut by scripts/schema-subset/regenerate.sh from the platform's schema files
# (opencti-platform/opencti-graphql: config/schema/opencti.graphql and
# src/modules/**/*.graphql) at:
#   ${commit}
# plus scripts/schema-subset/overlay-7x.graphql (the 7.x definitions pycti 7.x
# selects that this checkout lacks; see there).
# =============================================================================

HEADER
  cat "$work/section.graphql"
} > "$schema"
echo "regenerated $schema" >&2

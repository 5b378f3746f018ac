#!/usr/bin/env bash
# Fleet benchmark: API → queue → worker → sandbox against bare runsc containers, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
cd tests/e2e && exec npx tsx bench/bench-fleet.ts "$@"

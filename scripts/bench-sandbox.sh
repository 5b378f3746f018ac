#!/usr/bin/env bash
# Sandbox benchmark: the runtime against a bare runsc container, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
bash deploy/host/setup.sh
bash scripts/install.sh
npx turbo run build --output-logs=errors-only
cd packages/sandbox && exec npx tsx bench/bench-sandbox.ts "$@"

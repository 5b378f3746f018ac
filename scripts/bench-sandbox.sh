#!/usr/bin/env bash
# Sandbox benchmark: the runtime against a bare runsc container, in one run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
cd packages/sandbox && exec npx tsx bench/bench-sandbox.ts "$@"

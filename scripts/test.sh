#!/usr/bin/env bash
# The test command: sets up the host (Docker, gVisor, images), installs, then runs type-check,
# lint and every test. Safe to run again and again.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 TESTCONTAINERS_RYUK_DISABLED=true
bash deploy/host/setup.sh
bash scripts/install.sh
npx turbo run build --concurrency=1 --output-logs=errors-only
# npm links a workspace's command (harombe, …) only once its file exists: after the first build.
npm rebuild --ignore-scripts >/dev/null
npx turbo run build typecheck lint test --concurrency=1

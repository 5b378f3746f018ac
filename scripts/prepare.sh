#!/usr/bin/env bash
# Sets up the host, installs the npm dependencies when needed, and builds. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1
bash deploy/host/setup.sh
bash scripts/install.sh
npx turbo run build --output-logs=errors-only
# npm links a workspace's command (harombe, …) only once its file exists: after the first build.
npm rebuild --ignore-scripts >/dev/null

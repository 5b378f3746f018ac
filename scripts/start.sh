#!/usr/bin/env bash
# The main job: sets up the host, builds, and starts the all-in-one fleet (a local Redis, the
# approval service, one worker, the API) with a first job run through it; then serves until
# Ctrl-C. Extra arguments go to `harombe up` (for example --exit-after-first-job).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
exec node packages/cli/dist/main.js up "$@"

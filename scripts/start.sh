#!/usr/bin/env bash
# The main job: sets up the host, builds, and runs a first job in a gVisor sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/prepare.sh
echo "==> running a first job in a gVisor sandbox"
node packages/cli/dist/main.js run --language python -c '
import platform, sys
print(f"Hello from Python {sys.version.split()[0]} in a gVisor sandbox")
print("kernel as the sandbox sees it:", platform.release())
'

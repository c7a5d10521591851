#!/usr/bin/env bash
# One command from a fresh clone to the demo: installs what is missing (Debian packages, npm
# packages, the control-plane binaries; the first build takes about 9 minutes), then runs it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-system-deps.sh
# Again when package-lock.json changed since the last install (a pull that brought a dependency).
[[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund
bash tools/build-control-plane.sh >/dev/null
exec node --import tsx scripts/demo.ts "$@"

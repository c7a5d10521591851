#!/usr/bin/env bash
# The README's test command: installs what is missing (Debian packages, npm packages, the
# control-plane binaries, helm and promql-check; their first builds take about 9, 3 and 2 minutes), then runs `npm test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-system-deps.sh
# Again when package-lock.json changed since the last install (a pull that brought a dependency).
[[ node_modules/.package-lock.json -nt package-lock.json ]] || npm ci --no-audit --no-fund
bash tools/build-control-plane.sh >/dev/null
bash tools/build-helm.sh >/dev/null
bash tools/build-promql-check.sh >/dev/null
npm test "$@"

#!/usr/bin/env bash
# Builds promql-check (tools/promql-check: Prometheus' own PromQL parser and rule-file validation,
# from the Go module proxy) into a cache outside the repo, keyed by the Prometheus version, and
# prints the binary's path. A second run reuses it.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
version=$(cd "$here/promql-check" && go list -m -f "{{.Version}}" github.com/prometheus/prometheus)
cache=${QUERYSCALER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queryscaler}
bin=$cache/promql-check/prometheus-$version
mkdir -p "$bin"
# Tests started side by side would otherwise build it twice at once; the second waits here.
exec 9>"$bin/.build.lock"
flock 9

if [[ ! -x $bin/promql-check ]]; then
  echo "building promql-check with github.com/prometheus/prometheus $version (under a minute)" >&2
  (cd "$here/promql-check" && go build -trimpath -o "$bin/promql-check.tmp" . && mv "$bin/promql-check.tmp" "$bin/promql-check")
fi

echo "$bin/promql-check"

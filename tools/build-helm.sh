#!/usr/bin/env bash
# Builds helm from the Go module proxy into a cache outside the repo, keyed by version, and prints
# the path of the binary. A second run reuses it. Pinned: helm.sh/helm/v3 v3.22.0 is served but not
# approved here, so never `@latest`.
set -euo pipefail

HELM_VERSION=v4.3.2
cache=${QUERYSCALER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queryscaler}
bin=$cache/helm/$HELM_VERSION
mkdir -p "$bin"
# Two test runs started side by side would otherwise build it twice at once; the second waits here.
exec 9>"$bin/.build.lock"
flock 9

if [[ ! -x $bin/helm ]]; then
  echo "building helm $HELM_VERSION (about 3 minutes on 2 cores the first time)" >&2
  tmp=$(mktemp -d "$bin/.gobin.XXXXXX")
  # As helm's Makefile builds it: without the version in ldflags, `helm version` says v4.3.
  GOBIN=$tmp CGO_ENABLED=0 go install -trimpath -ldflags "-s -w -X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
  mv "$tmp/helm" "$bin/helm"
  rmdir "$tmp"
fi

echo "$bin/helm"

#!/usr/bin/env bash
# Builds etcd, kube-apiserver and kube-controller-manager from the Go module proxy into a cache
# outside the repo, keyed by version, and prints the directory. A second run reuses the binaries.
set -euo pipefail

K8S_VERSION=v1.37.2
ETCD_VERSION=v3.6.16
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${QUERYSCALER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/queryscaler}
bin=$cache/control-plane/k8s-$K8S_VERSION-etcd-$ETCD_VERSION
mkdir -p "$bin"
# Test runs started side by side (several engineers, or mocha and a shell) would otherwise build the
# same binaries twice at once; the second waits here and then finds them built.
exec 9>"$bin/.build.lock"
flock 9

if [[ ! -x $bin/etcd ]]; then
  echo "building etcd $ETCD_VERSION (about 1 minute)" >&2
  (cd "$here/etcd" && go build -trimpath -o "$bin/etcd.tmp" . && mv "$bin/etcd.tmp" "$bin/etcd")
fi

if [[ ! -x $bin/kube-apiserver || ! -x $bin/kube-controller-manager ]]; then
  echo "building kube-apiserver and kube-controller-manager $K8S_VERSION (about 8 minutes on 2 cores the first time)" >&2
  minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
  # Without these the servers report v0.0.0-master and kubectl cannot parse their version.
  ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
  for cmd in kube-apiserver kube-controller-manager; do
    (cd "$here/k8s" && go build -trimpath -ldflags "$ldflags" -o "$bin/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd" && mv "$bin/$cmd.tmp" "$bin/$cmd")
  done
fi

echo "$bin"

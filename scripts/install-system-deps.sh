#!/usr/bin/env bash
# Installs the Debian packages queryscaler's tests and demo need, when they are missing.
# MariaDB is started by the test support code as a throwaway instance; the package's own
# service is not used.
set -euo pipefail

missing=()
command -v mariadbd >/dev/null 2>&1 || [[ -x /usr/sbin/mariadbd ]] || missing+=(mariadb-server)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo=sudo
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# Debian's golang-go is too old for Kubernetes 1.37; the machine's Go (1.26) is required.
if ! command -v go >/dev/null 2>&1; then
  echo "go is not on PATH: install Go 1.26 or newer and run this again" >&2
  exit 1
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "kubectl is not on PATH: install it (any version from 1.30 on) and run this again" >&2
  exit 1
fi

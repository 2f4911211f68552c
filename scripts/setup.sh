#!/usr/bin/env bash
# Installs what wtcache needs from Debian bookworm, and nothing else. Idempotent:
# packages already present are left alone and `apt-get update` runs at most once.
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libcaf-dev libhiredis-dev libpqxx-dev libpq-dev libspdlog-dev libfmt-dev
  googletest libgtest-dev libbenchmark-dev libtomlplusplus-dev libcli11-dev libssl-dev openssl
  redis-server redis-tools postgresql-15 postgresql-client-15
  prometheus gnuplot-nox curl
  python3-redis
  clang libclang-rt-14-dev
)
# The client tests run ioredis and node-redis on Node.js: Debian's, unless
# the machine has one already.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  # The server packages must not start system-wide services; wtcached and the tests
  # run private instances of their own.
  own_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
    $sudo chmod +x /usr/sbin/policy-rc.d
    own_policy=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [[ -z $own_policy ]] || $sudo rm -f /usr/sbin/policy-rc.d
fi

# ioredis and node-redis for tests/clients, exactly as package-lock.json pins them.
clients="$(dirname "$0")/../tests/clients"
if [[ ! -f $clients/node_modules/.package-lock.json ||
      $clients/package-lock.json -nt $clients/node_modules/.package-lock.json ]]; then
  echo "setup: installing the client libraries of tests/clients (npm ci)"
  (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error)
fi

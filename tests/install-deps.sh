#!/usr/bin/env bash
# Installs what is missing: `install-deps.sh run` what building and serving need (Debian packages);
# without an argument also what the tests need (Debian packages, then the tests' npm packages).
set -euo pipefail
MODE="${1:-test}"
PKGS=(cmake make gcc pkg-config libluajit2-5.1-dev libuv1-dev node-llhttp lua-cjson-dev libssl-dev
      libsqlite3-dev zlib1g-dev libcurl4-openssl-dev libhiredis-dev libpq-dev)
if [ "$MODE" != run ]; then
  PKGS+=(libcmocka-dev curl nodejs npm python3 python3-websockets chromium luarocks clang libclang-rt-14-dev
         redis-server postgresql-15 openssl)   # the outbound tests' own servers (tests/servers/start.sh)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from elsewhere than Debian: a binary on PATH is enough
command -v node >/dev/null 2>&1 && missing=("${missing[@]/nodejs}")
command -v npm >/dev/null 2>&1 && missing=("${missing[@]/npm}")
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}; run as root: apt-get update && apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}"
fi

[ "$MODE" = run ] && exit 0

# npm packages of the integration tests (the WebSocket client `ws`), installed once
TESTS_DIR="$(cd "$(dirname "$0")" && pwd)/integration"
if [ -f "$TESTS_DIR/package-lock.json" ] && [ ! -d "$TESTS_DIR/node_modules/ws" ]; then
  (cd "$TESTS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi

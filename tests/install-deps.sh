#!/usr/bin/env bash
# Installs what is missing: `install-deps.sh run` what building and serving need (Debian packages);
# without an argument also what the tests need (Debian packages, then the tests' npm packages).
set -euo pipefail
MODE="${1:-test}"
PKGS=(cmake make gcc pkg-config libluajit2-5.1-dev libuv1-dev node-llhttp lua-cjson-dev libssl-dev
      libsqlite3-dev zlib1g-dev libcurl4-openssl-dev libhiredis-dev libpq-dev)
if [ "$MODE" != run ]; then
  PKGS+=(libcmocka-dev curl nodejs npm python3 python3-websockets chromium luarocks clang libclang-rt-14-dev luajit2
         redis-server postgresql-15 openssl    # the outbound tests' own servers (tests/servers/start.sh)
         prometheus)                            # promtool checks GET /_pikku/metrics (85-metrics)
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

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# npm ci in $1 when its node_modules is missing or older than its package-lock.json
npm_ci() {
  if [ -f "$1/package-lock.json" ] && { [ ! -f "$1/node_modules/.package-lock.json" ] \
       || [ "$1/package-lock.json" -nt "$1/node_modules/.package-lock.json" ]; }; then
    (cd "$1" && npm ci --no-audit --no-fund --loglevel=error "${@:2}")
  fi
}

# The API page's files (Swagger UI, served by the host at --api-docs PATH: docs/codegen.md). `run`
# installs them when npm is there; without them the page says how to install them.
if command -v npm >/dev/null 2>&1; then
  if [ "$MODE" = run ]; then
    npm_ci "$ROOT/lua/pikku/docs_ui" --ignore-scripts \
      || echo "could not install the API page's files: the page (--api-docs) will say how" >&2
  else
    npm_ci "$ROOT/lua/pikku/docs_ui" --ignore-scripts
  fi
elif [ "$MODE" = run ]; then
  echo "npm not installed: the API page (--api-docs) will say how to install its files" >&2
fi

[ "$MODE" = run ] && exit 0

# npm packages of the integration tests: the WebSocket client `ws`; tsc, esbuild and an OpenAPI
# validator for the generated clients
npm_ci "$ROOT/tests/integration"

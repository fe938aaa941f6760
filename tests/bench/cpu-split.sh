#!/usr/bin/env bash
# Benchmark helper: one pikku worker on CPU 0, wrk on CPU 1; req/s and the worker's user and system CPU per request for each path.
#
#   tests/bench/cpu-split.sh [PATH ...]      (default: /_pikku/health /hello /users/42)
#
# Shows where a request's CPU goes (user space: parsing, Lua; system: the TCP work of loopback)
# without the noise of wrk sharing the worker's CPU. Environment: PIKKU_BIN [build/pikku],
# APP [apps/hello], DURATION [4], CONNS [32], HEADER [none]: one request header for every request
# (e.g. HEADER='Origin: https://app.example' with APP=tests/integration/fixtures/pipeline and the
# path /public measures the CORS lines of an allowed origin).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
APP="${APP:-$REPO/apps/hello}"
DURATION="${DURATION:-4}"
CONNS="${CONNS:-32}"
HDR=()
[[ -n "${HEADER:-}" ]] && HDR=(-H "$HEADER")
[[ $# -gt 0 ]] || set -- /_pikku/health /hello /users/42
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
taskset -c 0 "$PIKKU_BIN" serve "$APP" --port "$PORT" --workers 1 --no-access-log 2>/dev/null &
MASTER=$!
trap 'kill $MASTER 2>/dev/null; wait $MASTER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/_pikku/health" >/dev/null && break; sleep 0.1; done
WORKER=$(pgrep -P "$MASTER" | head -1)
TICK=$(getconf CLK_TCK)
printf '%-18s %10s %14s %14s\n' path req/s "user µs/req" "system µs/req"
for path in "$@"; do
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "${HDR[@]}" "http://127.0.0.1:$PORT$path" >/dev/null 2>&1   # warm-up
  read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$WORKER/stat")
  out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "${HDR[@]}" "http://127.0.0.1:$PORT$path" 2>&1)
  read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$WORKER/stat")
  reqs=$(awk '/requests in/ {print $1}' <<<"$out")
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  awk -v p="$path" -v r="$reqs" -v rps="$rps" -v u=$((u2 - u1)) -v s=$((s2 - s1)) -v t="$TICK" \
    'BEGIN { printf "%-18s %10.0f %14.2f %14.2f\n", p, rps, u * 1e6 / t / r, s * 1e6 / t / r }'
done

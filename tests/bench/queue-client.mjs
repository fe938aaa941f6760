// The queue benchmark's load client (run by tests/bench/queue.sh): drives tests/bench/queue-app on a running pikku.
//
//   node queue-client.mjs --port P --pids "master w1 w2" [--jobs 20000] [--inflight 64] [--runs 3] [--warmup 2000]
//
// Like the BullMQ peer's queue-bench.mjs: INFLIGHT lanes each add their share of JOBS jobs {n: i}
// one after the other (a lane is one HTTP request to /enqueue, whose function calls
// services.queue:add in a loop, each add waiting for the master's commit), so at most INFLIGHT adds
// are outstanding. Per run: enqueue-only (queue bench-sink, no worker) and end-to-end (queue
// bench, workers running; done when get_counts says every job is completed, polled every 2 ms).
// CPU: user + system time of the server's processes (/proc/PID/stat) over each phase, per job.
import fs from 'node:fs';
import http from 'node:http';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(`--${name}`); return i === -1 ? def : args[i + 1]; };
const PORT = Number(opt('port', 0));
const JOBS = Number(opt('jobs', 20000));
const INFLIGHT = Number(opt('inflight', 64));
const RUNS = Number(opt('runs', 3));
const WARMUP = Number(opt('warmup', 2000));
const PIDS = String(opt('pids', '')).split(/\s+/).filter(Boolean).map(Number);
const TICK_MS = 1000 / 100;   // USER_HZ

const agent = new http.Agent({ keepAlive: true, maxSockets: INFLIGHT + 4 });
const request = (method, path) => new Promise((resolve, reject) => {
  const req = http.request({ host: '127.0.0.1', port: PORT, method, path, agent }, (res) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (d) => { body += d; });
    res.on('end', () => (res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`${method} ${path}: ${res.statusCode} ${body}`))));
  });
  req.on('error', reject);
  req.end();
});

const cpuMs = () => PIDS.reduce((sum, pid) => {
  try {
    const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return sum + (Number(f[11]) + Number(f[12])) * TICK_MS;   // utime, stime
  } catch { return sum; }
}, 0);
const now = () => performance.timeOrigin + performance.now();

async function enqueue(queue, n, base) {
  const per = Math.ceil(n / INFLIGHT);
  const lanes = [];
  for (let l = 0, from = 0; from < n; l++, from += per) {
    lanes.push(request('POST', `/enqueue/${queue}?from=${base + from}&count=${Math.min(per, n - from)}`));
  }
  await Promise.all(lanes);
}

let base = 0;
async function runOnce(n) {
  let c0 = cpuMs();
  let t0 = now();
  await enqueue('bench-sink', n, base);
  const enqOnlyMs = now() - t0;
  const enqOnlyCpu = cpuMs() - c0;
  const before = (await request('GET', '/counts/bench')).completed;
  c0 = cpuMs();
  t0 = now();
  await enqueue('bench', n, base);
  const enqMs = now() - t0;
  for (;;) {
    const c = await request('GET', '/counts/bench');
    if (c.completed >= before + n) break;
    if (c.failed) throw new Error(`${c.failed} job(s) failed`);
    await new Promise((r) => setTimeout(r, 2));
  }
  const e2eMs = now() - t0;
  const e2eCpu = cpuMs() - c0;
  base += n;
  return {
    e2e_jobs_s: n / (e2eMs / 1000), enqueue_only_jobs_s: n / (enqOnlyMs / 1000),
    enqueue_with_worker_jobs_s: n / (enqMs / 1000), e2e_s: e2eMs / 1000,
    cpu_us_per_job_e2e: (e2eCpu * 1000) / n, cpu_us_per_job_enqueue_only: (enqOnlyCpu * 1000) / n,
  };
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
if (WARMUP > 0) await runOnce(WARMUP);
const runs = [];
for (let r = 0; r < RUNS; r++) runs.push(await runOnce(JOBS));
const keys = Object.keys(runs[0]);
console.log(JSON.stringify({ jobs: JOBS, inflight: INFLIGHT, runs: RUNS,
  median: Object.fromEntries(keys.map((k) => [k, median(runs.map((x) => x[k]))])), per_run: runs }));
agent.destroy();

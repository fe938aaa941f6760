#!/usr/bin/env node
// Benchmark of the developer loop and native code: save -> new code answering (apps/todos under pikku dev), req/s during continuous reloads against steady state, and the SHA-256 chain in C against Lua (apps/native).
//
//   node tests/bench/devloop.mjs            (after a build; wrk installed)
//
// 1. Save to answer: pikku dev apps/todos (a copy; one worker); SAVES times, functions/greet.lua's
//    default greeting is changed and saved, and POST /rpc/greet is asked in a tight loop on a
//    keep-alive connection until it answers with the new text. Target: under 200 ms.
// 2. Reloads under load: pikku serve apps/todos (a copy; PIKKU_WORKERS workers), wrk GET /todos in
//    windows of WINDOW s, steady ones and ones with a SIGHUP every RELOAD_MS ms (each reload loads
//    the whole app in the master and in every worker), interleaved (S R R S S R R S ...), PAIRS of
//    each. Result: the reloading windows' req/s against the steady ones'. Target: at least 90 %.
// 3. Native against Lua: pikku serve apps/native; wrk POST /native/chain and /lua/chain with ROUNDS
//    rounds of SHA-256 per request, then one call of BIG_ROUNDS rounds each (its latency).
//
// Environment (defaults): PIKKU_BIN [build/pikku] SAVES [20] WINDOW [2] PAIRS [8] RELOAD_MS [250]
// DURATION [5] (the native runs) PIKKU_WORKERS [2] CONNS [32] ROUNDS [1000] BIG_ROUNDS [200000]. wrk runs on the same CPUs as the
// server (no pinning): the numbers are for comparing, on one machine, one run with the next.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const BIN = path.resolve(process.env.PIKKU_BIN || path.join(REPO, 'build', 'pikku'));
const num = (name, dflt) => Number(process.env[name] || dflt);
const SAVES = num('SAVES', 20), DURATION = num('DURATION', 5), RELOAD_MS = num('RELOAD_MS', 250);
const WINDOW = num('WINDOW', 2), PAIRS = num('PAIRS', 8);
const WORKERS = num('PIKKU_WORKERS', 2), CONNS = num('CONNS', 32), ROUNDS = num('ROUNDS', 1000);
const BIG_ROUNDS = num('BIG_ROUNDS', 200000);
const HOST = '127.0.0.1';

if (spawnSync('wrk', ['--version']).error) { console.error('wrk is not installed (apt-get install wrk)'); process.exit(1); }
if (!fs.existsSync(BIN)) { console.error(`no pikku binary at ${BIN}: build it first`); process.exit(1); }

const started = [];
process.on('exit', () => { for (const p of started) try { p.kill('SIGKILL'); } catch { /* gone */ } });

function copyApp(name) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pikku-bench-${name}-`));
  fs.cpSync(path.join(REPO, 'apps', name), dir, { recursive: true });
  for (const f of ['todos.db', 'todos.secret']) fs.rmSync(path.join(dir, f), { force: true });
  return dir;
}

async function freePort() {
  const srv = http.createServer();
  await new Promise((r) => srv.listen(0, HOST, r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** Starts pikku; resolves { proc, port, lines } once /_pikku/health answers. */
async function pikku(args, env = {}) {
  const port = await freePort();
  const proc = spawn(BIN, [...args, '--host', HOST, '--port', String(port), '--no-access-log'], {
    env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'],
  });
  started.push(proc);
  const lines = [];
  proc.stderr.on('data', (d) => lines.push(...d.toString().split('\n')));
  for (let i = 0; i < 400; i++) {
    try {
      const r = await fetch(`http://${HOST}:${port}/_pikku/health`);
      if (r.status === 200) return { proc, port, lines };
    } catch { /* not yet */ }
    await delay(25);
  }
  throw new Error(`pikku ${args.join(' ')} did not start:\n${lines.join('\n')}`);
}

async function stop(s) {
  s.proc.kill('SIGTERM');
  await new Promise((r) => s.proc.once('exit', r));
}

function request(port, agent, method, p, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: p, agent, headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode, text: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

function wrk(port, p, { script, duration = DURATION, conns = CONNS } = {}) {
  const args = ['-t1', `-c${conns}`, `-d${duration}s`];
  if (script) args.push('-s', script);
  args.push(`http://${HOST}:${port}${p}`);
  return new Promise((resolve) => {
    const w = spawn('wrk', args);
    let out = '';
    w.stdout.on('data', (d) => { out += d; });
    w.on('exit', () => {
      const rps = Number((/Requests\/sec:\s+([\d.]+)/.exec(out) || [])[1]);
      const errors = /Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)/.exec(out);
      resolve({ rps, errors: errors ? errors[0] : null });
    });
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];

// ---- 1. save -> new code ------------------------------------------------------------------------
async function saveToAnswer() {
  const dir = copyApp('todos');
  const file = path.join(dir, 'functions', 'greet.lua');
  const orig = fs.readFileSync(file, 'utf8');
  const s = await pikku(['dev', dir], { TODOS_SECRET: 'x'.repeat(40) });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const times = [];
  try {
    for (let i = 1; i <= SAVES; i++) {
      const word = `Hi${i}`;
      const t0 = performance.now();
      fs.writeFileSync(file, orig.replace('greeting = "Hello"', `greeting = "${word}"`));
      for (;;) {
        const r = await request(s.port, agent, 'POST', '/rpc/greet', '{"data":{"name":"x"}}');
        if (r.text.includes(`"${word}, x!"`)) break;
        if (performance.now() - t0 > 10000) throw new Error(`save ${i} not live after 10 s: ${r.text}`);
      }
      times.push(performance.now() - t0);
      await delay(100);
    }
  } finally {
    agent.destroy();
    await stop(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return times;
}

// ---- 2. req/s during continuous reloads ----------------------------------------------------------
// Windows of WINDOW s, steady and reloading interleaved (steady, reloading, reloading, steady, ...:
// the machine's drift falls on both alike), PAIRS of each; the sums of requests are compared.
async function reloadsUnderLoad() {
  const dir = copyApp('todos');
  const s = await pikku(['serve', dir, '--workers', String(WORKERS)], { TODOS_SECRET: 'x'.repeat(40) });
  const totals = { steady: 0, reloading: 0, reloads: 0, errors: [] };
  try {
    await wrk(s.port, '/todos', { duration: 2 });   // warm-up
    for (let k = 0; k < 2 * PAIRS; k++) {
      const reloading = [1, 2].includes(k % 4);
      const before = s.lines.filter((l) => /master info: reloading the app/.test(l)).length;
      let on = reloading;
      const hups = (async () => { while (on) { s.proc.kill('SIGHUP'); await delay(RELOAD_MS); } })();
      const w = await wrk(s.port, '/todos', { duration: WINDOW });
      on = false;
      await hups;
      if (w.errors) totals.errors.push(w.errors);
      totals[reloading ? 'reloading' : 'steady'] += w.rps;
      if (reloading) totals.reloads += s.lines.filter((l) => /master info: reloading the app/.test(l)).length - before;
      await delay(300);   // the last reload's old states closed
    }
  } finally {
    await stop(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return totals;
}

// ---- 3. native against Lua -----------------------------------------------------------------------
async function nativeVsLua() {
  const dir = copyApp('native');
  const b = spawnSync(BIN, ['build', dir], { encoding: 'utf8' });
  if (b.status !== 0) throw new Error(`pikku build failed:\n${b.stderr}`);
  const s = await pikku(['serve', dir, '--workers', String(WORKERS)]);
  const script = path.join(dir, 'post.lua');
  fs.writeFileSync(script, `wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n` +
    `wrk.body = '{"seed":"bench","rounds":${ROUNDS}}'\n`);
  const out = {};
  try {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const body = JSON.stringify({ seed: 'bench', rounds: BIG_ROUNDS });
    for (const which of ['lua', 'native']) {
      await request(s.port, agent, 'POST', `/${which}/chain`, body);   // warm (the JIT, the library)
      const t0 = performance.now();
      const r = await request(s.port, agent, 'POST', `/${which}/chain`, body);
      out[`${which}_big_ms`] = performance.now() - t0;
      out[`${which}_hex`] = JSON.parse(r.text).hex;
      await wrk(s.port, `/${which}/chain`, { script, duration: 2 });
      out[`${which}_rps`] = (await wrk(s.port, `/${which}/chain`, { script })).rps;
    }
    agent.destroy();
  } finally {
    await stop(s);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

const cpus = os.cpus();
console.log(`# pikku developer-loop benchmark: ${cpus.length} CPU(s) ${cpus[0]?.model || ''}, ${BIN}`);
const saves = await saveToAnswer();
console.log(`\n1. save -> new code answering (apps/todos, pikku dev, ${SAVES} saves of functions/greet.lua)`);
console.log(`   median ${median(saves).toFixed(0)} ms, p90 ${pct(saves, 0.9).toFixed(0)} ms, max ${Math.max(...saves).toFixed(0)} ms (target < 200 ms)`);
const t = await reloadsUnderLoad();
console.log(`\n2. req/s of GET /todos during continuous reloads (a SIGHUP every ${RELOAD_MS} ms; ${WORKERS} workers, wrk -c${CONNS};`);
console.log(`   ${PAIRS} windows of ${WINDOW} s each way, interleaved)`);
console.log(`   steady ${(t.steady / PAIRS).toFixed(0)} req/s, reloading ${(t.reloading / PAIRS).toFixed(0)} req/s (${t.reloads} reloads, ${(t.reloads / (PAIRS * WINDOW)).toFixed(1)}/s)`
  + ` = ${(t.reloading / t.steady * 100).toFixed(1)} % of steady state (target >= 90 %)${t.errors.length ? `  [${t.errors.join('; ')}]` : ''}`);
const n = await nativeVsLua();
console.log(`\n3. SHA-256 chain, native function (C) against Lua (LuaJIT) (apps/native)`);
console.log(`   ${ROUNDS} rounds per request: Lua ${n.lua_rps.toFixed(0)} req/s, native ${n.native_rps.toFixed(0)} req/s = ${(n.native_rps / n.lua_rps).toFixed(1)}x`);
console.log(`   one call of ${BIG_ROUNDS} rounds: Lua ${n.lua_big_ms.toFixed(0)} ms, native ${n.native_big_ms.toFixed(0)} ms = ${(n.lua_big_ms / n.native_big_ms).toFixed(1)}x (same digest: ${n.lua_hex === n.native_hex})`);
process.exit(0);

// Integration-test helpers: start/stop a pikku server, capture its stderr, raw sockets, HTTP parsing and process utilities.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export { delay };

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const PIKKU_BIN = process.env.PIKKU_BIN
  ? path.resolve(process.env.PIKKU_BIN)
  : path.join(REPO_ROOT, 'build', 'pikku');
export const HELLO_APP = path.join(REPO_ROOT, 'apps', 'hello');
export const HOST = '127.0.0.1';
const VERBOSE = !!process.env.PIKKU_TEST_VERBOSE;

/** A free TCP port on the loopback interface (bind port 0, read it, close). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Run the pikku binary synchronously (for CLI tests); never leaves a process behind. */
export function runCli(args, { timeout = 5000, env = {} } = {}) {
  const r = spawnSync(PIKKU_BIN, args, {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout,
    killSignal: 'SIGKILL',
  });
  return { code: r.status, signal: r.signal, stdout: r.stdout ?? '', stderr: r.stderr ?? '', error: r.error };
}

function isAlive(pid) {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** True when pid is alive and still runs the pikku binary (guards against pid reuse). */
function isPikkuProcess(pid) {
  if (!isAlive(pid)) return false;
  try {
    const exe = fs.readlinkSync(`/proc/${pid}/exe`);
    return path.basename(exe).startsWith(path.basename(PIKKU_BIN));
  } catch {
    return false;
  }
}

/** Direct children of a process (pgrep -P), less any watchdog and any process gone by the time
 * its name is read: a killed worker's watchdog (core/src/call_guard.c) becomes the master's child
 * for the moment before it notices and exits (the master is a subreaper). It is not a worker, and
 * is told apart by its process name, or by having exited in between. */
export function childPids(pid) {
  let out;
  try {
    out = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' });
  } catch {
    return []; // pgrep exits 1 when nothing matches
  }
  const isWorker = (p) => {
    try { return fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim() !== 'pikku-watchdog'; } catch { return false; }
  };
  return out.split(/\s+/).filter(Boolean).map(Number).filter(isWorker).sort((a, b) => a - b);
}

const running = new Set();
process.on('exit', () => {
  for (const s of running) s.killNow();
});
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const s of running) s.killNow();
    process.exit(sig === 'SIGINT' ? 130 : 143);
  });
}

export class PikkuServer {
  constructor({ app = HELLO_APP, workers = 1, args = [], env = {}, port, limitAsKb, limitFiles, command = 'serve' } = {}) {
    this.app = app;
    this.command = command;       // 'serve', or 'dev' (pikku dev: --dev --watch)
    this.limitAsKb = limitAsKb;   // an address-space limit (ulimit -v, as systemd's LimitAS=)
    this.limitFiles = limitFiles; // a file-descriptor limit (ulimit -n, as systemd's LimitNOFILE=)
    this.workers = workers;
    this.extraArgs = args;
    this.env = env;
    this.port = port;
    this.host = HOST;
    this.lines = [];
    this.stdoutLines = [];
    this.waiters = new Set();
    this.knownWorkerPids = new Set();
    this.exitInfo = null;
  }

  get base() { return `http://${HOST}:${this.port}`; }
  url(p = '/') { return this.base + p; }
  get pid() { return this.proc?.pid; }

  async start({ timeout = 10000 } = {}) {
    if (!fs.existsSync(PIKKU_BIN)) throw new Error(`pikku binary not found at ${PIKKU_BIN} (build it or set PIKKU_BIN)`);
    this.port ??= await freePort();
    this.args = [this.command, this.app, '--host', HOST, '--port', String(this.port),
      '--workers', String(this.workers), ...this.extraArgs];
    const limits = [this.limitAsKb && `ulimit -v ${this.limitAsKb}`, this.limitFiles && `ulimit -n ${this.limitFiles}`]
      .filter(Boolean);
    const [cmd, argv] = limits.length
      ? ['bash', ['-c', `${limits.join(' && ')} && exec "$0" "$@"`, PIKKU_BIN, ...this.args]]
      : [PIKKU_BIN, this.args];
    this.proc = spawn(cmd, argv, {
      cwd: REPO_ROOT,
      // each server its own job store: in memory unless the test names one (--jobs-db, or
      // PIKKU_JOBS_DB in env; '' for the default APP_DIR/.pikku/jobs.db), so that servers of one
      // app started by tests running side by side never share a store file
      env: { PIKKU_JOBS_DB: ':memory:', ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this);
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        resolve(this.exitInfo);
      });
      this.proc.on('error', (err) => {
        this.exitInfo = { code: null, signal: null, error: err };
        resolve(this.exitInfo);
      });
    });
    readline.createInterface({ input: this.proc.stderr }).on('line', (l) => this._line(l));
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => this.stdoutLines.push(l));

    const deadline = Date.now() + timeout;
    for (;;) {
      if (this.exitInfo) {
        throw new Error(`pikku exited during start (${JSON.stringify(this.exitInfo)}); stderr:\n${this.stderrText()}`);
      }
      try {
        const res = await fetch(this.url('/_pikku/health'), { signal: AbortSignal.timeout(500) });
        await res.arrayBuffer();
        if (res.status === 200) break;
      } catch { /* not listening yet */ }
      if (Date.now() > deadline) {
        await this.stop();
        throw new Error(`pikku did not answer /_pikku/health within ${timeout} ms; stderr:\n${this.stderrText()}`);
      }
      await delay(50);
    }
    return this;
  }

  _line(line) {
    this.lines.push(line);
    if (VERBOSE) process.stderr.write(`[pikku:${this.port}] ${line}\n`);
    const m = /worker \d+ pid (\d+) started/.exec(line);
    if (m) this.knownWorkerPids.add(Number(m[1]));
    for (const w of this.waiters) {
      if (w.pred(line)) { this.waiters.delete(w); w.resolve(line); }
    }
  }

  stderrText(from = 0) { return this.lines.slice(from).join('\n'); }

  /** Index to pass as `from` to later line searches. */
  mark() { return this.lines.length; }

  findLines(pred, from = 0) {
    const p = typeof pred === 'function' ? pred : (l) => (pred instanceof RegExp ? pred.test(l) : l.includes(pred));
    return this.lines.slice(from).filter(p);
  }

  /** Resolve with the first stderr line (at index >= from) matching pred; reject after timeout. */
  waitForLine(pred, { from = 0, timeout = 5000 } = {}) {
    const p = typeof pred === 'function' ? pred : (l) => (pred instanceof RegExp ? pred.test(l) : l.includes(pred));
    const found = this.lines.slice(from).find(p);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const w = { pred: p, resolve };
      this.waiters.add(w);
      setTimeout(() => {
        if (this.waiters.delete(w)) {
          reject(new Error(`no stderr line matching ${pred} within ${timeout} ms; stderr since mark:\n${this.stderrText(from)}`));
        }
      }, timeout).unref();
    });
  }

  /** Wait until count lines (from index `from`) match pred. */
  async waitForLines(pred, count, { from = 0, timeout = 5000 } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const got = this.findLines(pred, from);
      if (got.length >= count) return got;
      if (Date.now() > deadline) {
        throw new Error(`expected ${count} stderr lines matching ${pred}, got ${got.length} within ${timeout} ms; stderr:\n${this.stderrText(from)}`);
      }
      await delay(25);
    }
  }

  fetch(p, init = {}) {
    return fetch(this.url(p), { signal: AbortSignal.timeout(10000), ...init });
  }

  /** Worker pids: the master's children (pgrep -P). */
  workerPids() {
    const pids = childPids(this.pid);
    pids.forEach((p) => this.knownWorkerPids.add(p));
    return pids;
  }

  /** Poll until the master has exactly n children (optionally satisfying extra predicate). */
  async waitForWorkers(n = this.workers, { timeout = 5000, pred = () => true } = {}) {
    const deadline = Date.now() + timeout;
    for (;;) {
      const pids = this.workerPids();
      if (pids.length === n && pred(pids)) return pids;
      if (Date.now() > deadline) {
        throw new Error(`expected ${n} workers, have [${pids}] after ${timeout} ms; stderr:\n${this.stderrText()}`);
      }
      await delay(25);
    }
  }

  signal(sig) {
    if (!this.exitInfo) this.proc.kill(sig);
  }

  /** Wait for the master to exit; resolves {code, signal} or null on timeout. */
  async waitExit(timeout = 5000) {
    if (this.exitInfo) return this.exitInfo;
    let timer;
    const r = await Promise.race([
      this.exited,
      new Promise((res) => { timer = setTimeout(() => res(null), timeout); }),
    ]);
    clearTimeout(timer);
    return r;
  }

  /** SIGTERM, wait up to 5 s, then SIGKILL; also kills leftover workers. Returns the exit info. */
  async stop() {
    if (!this.proc) return null;
    try { this.workerPids(); } catch { /* ignore */ }
    let info = this.exitInfo;
    if (!info) {
      this.proc.kill('SIGTERM');
      info = await this.waitExit(5000);
      if (!info) {
        this.proc.kill('SIGKILL');
        info = await this.waitExit(2000);
      }
    }
    // Workers should exit with the master; if one lingers, wait briefly and kill it by pid.
    for (let i = 0; i < 20 && [...this.knownWorkerPids].some(isPikkuProcess); i++) await delay(50);
    for (const p of this.knownWorkerPids) {
      if (isPikkuProcess(p)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    }
    running.delete(this);
    return info;
  }

  /** Synchronous last-resort cleanup (process exit). */
  killNow() {
    if (this.proc && !this.exitInfo) { try { this.proc.kill('SIGKILL'); } catch { /* gone */ } }
    for (const p of this.knownWorkerPids) {
      if (isPikkuProcess(p)) { try { process.kill(p, 'SIGKILL'); } catch { /* gone */ } }
    }
  }
}

/** Start a server (see PikkuServer options) and wait until /_pikku/health answers. */
/** Runs fn(dir) with a fresh temp app dir holding app.lua (lines joined), removed afterwards. */
export async function withApp(lines, fn) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-app-'));
  try {
    fs.writeFileSync(path.join(dir, 'app.lua'), Array.isArray(lines) ? lines.join('\n') : lines);
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export async function startServer(opts = {}) {
  const s = new PikkuServer(opts);
  await s.start();
  return s;
}

/** Starts a server for an app written out here (lines of app.lua) in a temporary directory, which
 * its stop() removes. */
export async function startInlineApp(lines, opts = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-app-'));
  fs.writeFileSync(path.join(dir, 'app.lua'), lines.join('\n'));
  const s = new PikkuServer({ ...opts, app: dir });
  const stop = s.stop.bind(s);
  s.stop = async (...args) => {
    try { return await stop(...args); } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  };
  try {
    await s.start();
  } catch (e) {
    await s.stop();
    throw e;
  }
  return s;
}

/** Copy an app directory to a fresh temp dir (for tests that modify the app). */
export function copyApp(src = HELLO_APP) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-app-'));
  fs.cpSync(src, dir, { recursive: true });
  return dir;
}

// ---------------------------------------------------------------------------------------------
// HTTP/1.x response parsing (for raw sockets)

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * Parse as many complete responses as the buffer holds.
 * methods: request methods in order (to know HEAD responses have no body); 1xx responses do not
 * consume a request. closed: the connection has ended (a body without length runs to the end).
 * Returns { responses, rest, incomplete }.
 */
export function parseResponses(buf, { methods = [], closed = false } = {}) {
  const responses = [];
  let off = 0;
  let reqIdx = 0;
  for (;;) {
    const end = buf.indexOf(CRLF2, off);
    if (end < 0) break;
    const head = buf.subarray(off, end).toString('latin1');
    const [statusLine, ...hl] = head.split('\r\n');
    const m = /^(HTTP\/\d\.\d) (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new Error(`bad status line: ${JSON.stringify(statusLine)} in ${JSON.stringify(buf.toString('latin1').slice(0, 300))}`);
    const headers = {};
    const rawHeaders = [];
    for (const line of hl) {
      const i = line.indexOf(':');
      const name = line.slice(0, i).trim();
      const value = line.slice(i + 1).trim();
      rawHeaders.push([name, value]);
      const k = name.toLowerCase();
      headers[k] = k in headers ? `${headers[k]}, ${value}` : value;
    }
    const status = Number(m[2]);
    const r = { httpVersion: m[1], status, reason: m[3] ?? '', headers, rawHeaders, body: Buffer.alloc(0) };
    let bodyStart = end + 4;
    if (status >= 100 && status < 200) {
      responses.push(finish(r));
      off = bodyStart;
      continue;
    }
    const method = (methods[reqIdx] || 'GET').toUpperCase();
    if (method === 'HEAD' || status === 204 || status === 304) {
      // no body
    } else if (/chunked/i.test(headers['transfer-encoding'] || '')) {
      const dec = decodeChunked(buf, bodyStart);
      if (!dec) break;
      r.body = dec.body;
      bodyStart = dec.end;
      r.chunked = true;
    } else if (headers['content-length'] !== undefined) {
      const len = Number(headers['content-length']);
      if (buf.length < bodyStart + len) break;
      r.body = buf.subarray(bodyStart, bodyStart + len);
      bodyStart += len;
    } else {
      if (!closed) break;
      r.body = buf.subarray(bodyStart);
      bodyStart = buf.length;
    }
    responses.push(finish(r));
    reqIdx++;
    off = bodyStart;
  }
  return { responses, rest: buf.subarray(off), incomplete: off < buf.length };
}

function finish(r) {
  r.text = r.body.toString('utf8');
  r.json = () => JSON.parse(r.text);
  return r;
}

function decodeChunked(buf, off) {
  const parts = [];
  for (;;) {
    const eol = buf.indexOf('\r\n', off);
    if (eol < 0) return null;
    const size = parseInt(buf.subarray(off, eol).toString('latin1'), 16);
    off = eol + 2;
    if (size === 0) {
      const fin = buf.indexOf(CRLF2, off - 2);
      if (fin < 0) return null;
      return { body: Buffer.concat(parts), end: fin + 4 };
    }
    if (buf.length < off + size + 2) return null;
    parts.push(buf.subarray(off, off + size));
    off += size + 2;
  }
}

// ---------------------------------------------------------------------------------------------
// Raw sockets

/** A raw TCP connection that accumulates everything it receives. */
export class RawConn {
  constructor(socket) {
    this.socket = socket;
    this.chunks = [];
    this.closed = false;
    this.error = null;
    this.notify = new Set();
    socket.on('data', (d) => { this.chunks.push(d); this._wake(); });
    socket.on('end', () => { this.closed = true; this._wake(); });
    socket.on('close', () => { this.closed = true; this._wake(); });
    socket.on('error', (e) => { this.error = e; this.closed = true; this._wake(); });
  }

  static connect(port, host = HOST, { timeout = 3000 } = {}) {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host });
      s.setNoDelay(true);
      const t = setTimeout(() => { s.destroy(); reject(new Error('connect timeout')); }, timeout);
      s.once('connect', () => { clearTimeout(t); s.removeListener('error', reject); resolve(new RawConn(s)); });
      s.once('error', (e) => { clearTimeout(t); reject(e); });
    });
  }

  _wake() { for (const f of this.notify) f(); }

  get buffer() {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  get text() { return this.buffer.toString('latin1'); }

  /** Write and resolve when flushed (rejects if the socket errors). */
  write(data) {
    return new Promise((resolve, reject) => {
      if (this.socket.destroyed) { reject(new Error('socket destroyed')); return; }
      this.socket.write(data, (err) => (err ? reject(err) : resolve()));
    });
  }

  /** Resolve with the buffer once pred(buffer, closed) is true; reject after timeout. */
  until(pred, timeout = 5000, what = 'condition') {
    return new Promise((resolve, reject) => {
      const check = () => {
        let ok = false;
        try { ok = pred(this.buffer, this.closed); } catch (e) { cleanup(); reject(e); return; }
        if (ok) { cleanup(); resolve(this.buffer); return; }
        if (this.closed) { cleanup(); reject(new Error(`connection closed before ${what}; received: ${JSON.stringify(this.text.slice(0, 500))}`)); }
      };
      const t = setTimeout(() => {
        cleanup();
        reject(new Error(`timeout (${timeout} ms) waiting for ${what}; received: ${JSON.stringify(this.text.slice(0, 500))}`));
      }, timeout);
      const cleanup = () => { clearTimeout(t); this.notify.delete(check); };
      this.notify.add(check);
      check();
    });
  }

  /** Wait until n complete (non-1xx unless include1xx) responses arrived; returns them all. */
  async responses(n, { methods = [], timeout = 5000, include1xx = false } = {}) {
    let parsed;
    const count = () => {
      parsed = parseResponses(this.buffer, { methods, closed: this.closed }).responses;
      return include1xx ? parsed.length : parsed.filter((r) => r.status >= 200).length;
    };
    await this.until(() => count() >= n, timeout, `${n} response(s)`);
    return include1xx ? parsed : parsed.filter((r) => r.status >= 200);
  }

  /** true if the peer closed the connection within timeout. */
  async waitClose(timeout = 5000) {
    if (this.closed) return true;
    return new Promise((resolve) => {
      const check = () => { if (this.closed) { cleanup(); resolve(true); } };
      const t = setTimeout(() => { cleanup(); resolve(false); }, timeout);
      const cleanup = () => { clearTimeout(t); this.notify.delete(check); };
      this.notify.add(check);
    });
  }

  destroy() { this.socket.destroy(); }
}

/**
 * Send bytes (a string/Buffer, or an array of them written with `gap` ms between) and collect
 * what comes back until the server closes or `timeout` ms pass.
 * Returns { buf, text, closed, timedOut, responses } (responses parsed with `methods`).
 */
export async function rawRequest(port, data, { timeout = 3000, gap = 0, methods = [], host = HOST } = {}) {
  const c = await RawConn.connect(port, host);
  try {
    const parts = Array.isArray(data) ? data : [data];
    for (let i = 0; i < parts.length; i++) {
      if (i > 0 && gap) await delay(gap);
      try { await c.write(parts[i]); } catch { break; }
    }
    const closed = await c.waitClose(timeout);
    const buf = c.buffer;
    let responses = [];
    try { responses = parseResponses(buf, { methods, closed }).responses; } catch { /* leave empty */ }
    return { buf, text: buf.toString('latin1'), closed, timedOut: !closed, responses, error: c.error };
  } finally {
    c.destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// node:http requests (explicit agent control for load loops)

/** One request via node:http. Resolves { status, headers, text, json() }; rejects on socket errors. */
export function httpRequest(port, { method = 'GET', path: p = '/', headers = {}, body, agent, timeout = 10000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: p, headers, agent, timeout }, (res) => {
      const chunks = [];
      res.on('data', (d) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: res.headers, text, json: () => JSON.parse(text) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('request timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Run `concurrency` sequential request loops (each on its own keep-alive connection) until
 * stop() is called, maxRequests per loop is reached, or maxMs elapse.
 * check(res) returns true for an acceptable response.
 * Returns { stop(), done: Promise<{ ok, failed, failures: [{loop, at, reason}], perLoop }> }.
 */
export function loadLoops(port, { concurrency = 4, path: p = '/hello', maxRequests = 20000, maxMs = 30000, check = (r) => r.status === 200 } = {}) {
  let stopped = false;
  const t0 = Date.now();
  const failures = [];
  const perLoop = [];
  let ok = 0;
  const loops = [];
  for (let i = 0; i < concurrency; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const stats = { ok: 0, failed: 0 };
    perLoop.push(stats);
    loops.push((async () => {
      for (let n = 0; n < maxRequests && !stopped && Date.now() - t0 < maxMs; n++) {
        const path = typeof p === 'function' ? p(i, n) : p;
        try {
          const res = await httpRequest(port, { path, agent });
          if (check(res)) { ok++; stats.ok++; } else {
            stats.failed++;
            failures.push({ loop: i, at: Date.now(), reason: `status ${res.status} body ${res.text.slice(0, 200)}` });
          }
        } catch (e) {
          stats.failed++;
          failures.push({ loop: i, at: Date.now(), reason: e.code || e.message });
        }
      }
      agent.destroy();
    })());
  }
  return {
    stop() { stopped = true; },
    get ok() { return ok; },
    done: Promise.all(loops).then(() => ({ ok, failed: failures.length, failures, perLoop })),
  };
}

/** Assert helper: the JSON error shape of PROTOCOL.md. */
export function checkErrorBody(assert, body, { name, errorId } = {}) {
  assert.equal(typeof body, 'object');
  assert.equal(typeof body.name, 'string', `error body has a name: ${JSON.stringify(body)}`);
  assert.equal(typeof body.message, 'string', `error body has a message: ${JSON.stringify(body)}`);
  assert.equal(typeof body.errorId, 'string', `error body has an errorId: ${JSON.stringify(body)}`);
  assert.ok(body.errorId.length > 0);
  for (const k of Object.keys(body)) {
    assert.ok(['name', 'message', 'payload', 'errorId'].includes(k), `unexpected key ${k} in error body`);
  }
  if (name !== undefined) assert.equal(body.name, name);
  if (errorId !== undefined) assert.equal(body.errorId, errorId);
}

/** Poll fn() until it returns a truthy value or timeout; returns that value or throws. */
export async function pollUntil(fn, { timeout = 5000, interval = 25, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timeout (${timeout} ms) waiting for ${what}`);
    await delay(interval);
  }
}

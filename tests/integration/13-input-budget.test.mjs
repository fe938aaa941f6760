// The worker's input budget (--max-input-buffer): 400 unfinished 1 MB POST bodies and 400 unfinished fragmented WebSocket messages keep one worker's RSS within it (503 / close 1013 past it, other requests go on); every way a body or message ends gives its share back; a WebSocket message left open past --body-timeout-ms is closed with 1008.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, RawConn, httpRequest, parseResponses, delay, pollUntil, PIKKU_BIN, REPO_ROOT, HOST } from './lib/server.mjs';

const MiB = 1024 * 1024;
const DEFAULT_BUDGET = 64 * MiB;   // docs/server.md, Limits: --max-input-buffer
// What the worker may grow by beyond the budget while 400 connections are held: their own state
// (a pk__conn with its header table; a WebSocket's channel in C and in Lua: 400 idle WebSockets
// take about 4.5 MiB), the allocator's rounding, buffers under 32 KiB (served from the heap, which
// keeps them once freed: worker.c). Measured: under 2 MiB for the bodies, under 2 MiB for messages.
const MARGIN = 16 * MiB;
const ECHO_APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'ws-echo');
const ASAN = fs.readFileSync(PIKKU_BIN).includes('__asan_init');   // its shadow memory and quarantine are not ours to bound

function rssBytes(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) * 1024;
}

/** Samples a process's RSS every 50 ms until stop(); peak is the highest seen. */
function rssSampler(pid) {
  const s = { peak: rssBytes(pid) };
  const t = setInterval(() => { try { s.peak = Math.max(s.peak, rssBytes(pid)); } catch { /* gone */ } }, 50);
  s.stop = () => clearInterval(t);
  return s;
}

/** Waits (at most `timeout` ms) until the RSS moved less than 512 KiB over the last second. */
async function rssSettled(pid, timeout = 10000) {
  const seen = [];
  const until = Date.now() + timeout;
  for (;;) {
    seen.push(rssBytes(pid));
    if (seen.length >= 6 && Math.abs(seen.at(-1) - seen.at(-6)) < 512 * 1024) return seen.at(-1);
    if (Date.now() > until) return seen.at(-1);
    await delay(200);
  }
}

/** Waits until count() has not changed for a second and the RSS settled (at most `timeout` ms):
 * the attack's outcome, whatever it is. Returns the RSS then. */
async function quiet(pid, count, timeout = 20000) {
  const until = Date.now() + timeout;
  let last = count();
  let since = Date.now();
  while (Date.now() < until && Date.now() - since < 1000) {
    await delay(100);
    if (count() !== last) { last = count(); since = Date.now(); }
  }
  return rssSettled(pid, Math.max(1000, until - Date.now()));
}

/** A file-descriptor limit for the server when this process's is too low for 400 connections
 * (node raises its own soft limit to the hard one at start, and the server inherits it). */
function fileLimit() {
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  const soft = m[1] === 'unlimited' ? Infinity : Number(m[1]);
  const hard = m[2] === 'unlimited' ? Infinity : Number(m[2]);
  if (soft >= 2048) return undefined;
  if (hard < 1024) throw new Error(`ulimit -n is ${soft} (hard ${hard}): 400 connections need at least 1024`);
  return Math.min(hard, 4096);
}

const range = (n) => Array.from({ length: n }, (_, i) => i);

/** Opens n raw connections, `batch` at a time. */
async function connectMany(port, n, batch = 50) {
  const out = [];
  for (let i = 0; i < n; i += batch) {
    out.push(...await Promise.all(range(Math.min(batch, n - i)).map(() => RawConn.connect(port, HOST, { timeout: 10000 }))));
  }
  return out;
}

const postHead = (len, extra = '') =>
  `POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: ${len}\r\n${extra}\r\n`;

function firstResponse(c) {
  const { responses } = parseResponses(c.buffer, { closed: c.closed });
  return responses[0];
}

/** Stops the server; its worker, once every connection is gone, finds every share of the budget
 * given back (else it logs "input budget: N bytes still reserved ... (a leak)"). */
async function stopAndCheck(srv) {
  if (!srv) return;
  await srv.stop();
  await delay(100);   // the last stderr lines
  assert.deepEqual(srv.findLines(/input budget: .* still reserved/), [], 'no share of the input budget leaked');
}

async function assertAlive(port) {
  const r = await httpRequest(port, { path: '/hello', agent: false, timeout: 5000 });
  assert.equal(r.status, 200, 'GET /hello answers');
}

/** A 503 of the input budget: Pikku's error body, Retry-After, the connection closed. */
async function assertBusy(c) {
  const [r] = await c.responses(1, { timeout: 5000 });
  assert.equal(r.status, 503, r.text);
  assert.equal(r.json().name, 'ServiceUnavailable');
  assert.match(r.json().message, /try again later/);
  assert.equal(r.headers['retry-after'], '5');
  assert.equal(await c.waitClose(5000), true, 'closed after the 503');
}

// ---- WebSocket frames by hand ------------------------------------------------------------------

/** The header of a client frame declaring len payload bytes, masked with the key 0 (a valid key
 * that leaves the payload as it is, so one buffer serves every connection). */
function frameHead(b0, len) {
  if (len < 126) return Buffer.from([b0, 0x80 | len, 0, 0, 0, 0]);
  if (len < 65536) return Buffer.from([b0, 0x80 | 126, len >> 8, len & 255, 0, 0, 0, 0]);
  const h = Buffer.alloc(14);
  h[0] = b0;
  h[1] = 0x80 | 127;
  h.writeBigUInt64BE(BigInt(len), 2);
  return h;
}

const zeroMaskedFrame = (b0, payload) => Buffer.concat([frameHead(b0, payload.length), payload]);

function maskedFrame(b0, payload) {
  payload = Buffer.from(payload);
  const key = crypto.randomBytes(4);
  const len = payload.length;
  const head = len < 126 ? Buffer.from([b0, 0x80 | len]) : Buffer.from([b0, 0x80 | 126, len >> 8, len & 255]);
  return Buffer.concat([head, key, Buffer.from(payload.map((b, i) => b ^ key[i % 4]))]);
}

/** Frames from the server (never masked) in buf, from its start. */
function serverFrames(buf) {
  const out = [];
  let off = 0;
  while (buf.length - off >= 2) {
    let len = buf[off + 1] & 0x7f;
    let hl = 2;
    if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(off + 2); hl = 4; }
    else if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(off + 2)); hl = 10; }
    if (buf.length - off < hl + len) break;
    out.push({ fin: !!(buf[off] & 0x80), op: buf[off] & 0x0f, payload: buf.subarray(off + hl, off + hl + len) });
    off += hl + len;
  }
  return out;
}

/** A WebSocket on a RawConn: the upgrade by hand; frames() parses what came after the 101. */
async function wsOpen(port, p = '/echo') {
  const c = await RawConn.connect(port, HOST, { timeout: 10000 });
  const key = crypto.randomBytes(16).toString('base64');
  await c.write(`GET ${p} HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  await c.until((b) => b.indexOf('\r\n\r\n') >= 0, 10000, 'the 101');
  const head = c.buffer.indexOf('\r\n\r\n') + 4;
  assert.match(c.buffer.subarray(0, head).toString(), /^HTTP\/1\.1 101 /);
  c.frames = () => serverFrames(c.buffer.subarray(head));
  c.closeCode = () => {
    const f = c.frames().find((x) => x.op === 8);
    return f ? (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005) : null;
  };
  return c;
}

// ---- 400 unfinished request bodies ---------------------------------------------------------------

describe('400 unfinished 1 MB POST bodies (1 worker, the default 64 MiB budget)', () => {
  let srv;
  let pid;
  before(async () => {
    srv = await startServer({ workers: 1, limitFiles: fileLimit(), args: ['--no-access-log'] });
    [pid] = await srv.waitForWorkers(1);
  });
  after(() => stopAndCheck(srv));

  test('64 bodies are held (64 MiB reserved from their Content-Length), 336 get 503; RSS grows by at most the budget + margin; GETs go on', async (t) => {
    for (let i = 0; i < 20; i++) await assertAlive(srv.port);
    const ok = await httpRequest(srv.port, { method: 'POST', path: '/raw', agent: false, body: Buffer.alloc(MiB, 1),
      headers: { 'content-type': 'application/octet-stream' } });
    assert.equal(ok.status, 200, 'a whole 1 MiB body is taken');
    const base = await rssSettled(pid, 3000);
    const rss = rssSampler(pid);
    const part = Buffer.concat([Buffer.from(postHead(MiB)), Buffer.alloc(900 * 1024, 0x61)]);
    let conns = [];
    try {
      conns = await connectMany(srv.port, 400);
      await Promise.all(conns.map((c) => c.write(part).catch(() => {})));
      const refused = () => conns.filter((c) => c.buffer.length > 0);
      const during = await quiet(pid, () => refused().length);
      // the GETs of a probe client go on meanwhile
      for (let i = 0; i < 10; i++) await assertAlive(srv.port);
      rss.stop();
      const held = conns.filter((c) => c.buffer.length === 0 && !c.closed);
      t.diagnostic(`RSS: baseline ${(base / MiB).toFixed(1)} MiB, during the attack ${(during / MiB).toFixed(1)} MiB`
        + ` (+${((during - base) / MiB).toFixed(1)}), peak ${(rss.peak / MiB).toFixed(1)} MiB (+${((rss.peak - base) / MiB).toFixed(1)});`
        + ` budget ${DEFAULT_BUDGET / MiB} MiB; ${held.length} bodies held, ${refused().length} refused`);
      if (!ASAN) assert.ok(rss.peak - base <= DEFAULT_BUDGET + MARGIN, `RSS grew by ${((rss.peak - base) / MiB).toFixed(1)} MiB`);
      assert.equal(held.length, 64, 'the budget holds 64 bodies of 1 MiB');
      assert.equal(held.length + refused().length, 400);
      for (const c of refused().slice(0, 20)) await assertBusy(c);
      assert.ok(refused().every((c) => firstResponse(c)?.status === 503), 'every answer is a 503');
      // a body of any size waits for room
      const small = await RawConn.connect(srv.port);
      await small.write(`${postHead(10)}0123456789`);
      await assertBusy(small);
      small.destroy();
      // the bodies still come in whole: completing one is answered
      await held[0].write(Buffer.alloc(MiB - 900 * 1024, 0x62));
      const [done] = await held[0].responses(1, { timeout: 10000 });
      assert.equal(done.status, 200);
      assert.deepEqual(done.json(), { size: MiB });
    } finally {
      rss.stop();
      conns.forEach((c) => c.destroy());
    }
    // the memory goes back once the bodies are let go (worker.c: big buffers are unmapped)
    const afterwards = await rssSettled(pid, 3000);
    t.diagnostic(`RSS after the attack: ${(afterwards / MiB).toFixed(1)} MiB`);
    if (!ASAN) assert.ok(afterwards - base <= MARGIN, `RSS stays ${((afterwards - base) / MiB).toFixed(1)} MiB over the baseline`);
    // every share came back: 64 bodies of 1 MiB are held again, the 65th is refused
    const again = await connectMany(srv.port, 65);
    try {
      for (const c of again.slice(0, 64)) await c.write(postHead(MiB));
      await delay(300);
      assert.equal(again.slice(0, 64).filter((c) => c.buffer.length > 0).length, 0, 'all 64 held');
      await again[64].write(postHead(MiB));
      await assertBusy(again[64]);
    } finally { again.forEach((c) => c.destroy()); }
    await assertAlive(srv.port);
  });
});

// ---- 400 unfinished fragmented WebSocket messages --------------------------------------------------

describe('400 unfinished fragmented WebSocket messages (1 worker, the default 64 MiB budget)', () => {
  let srv;
  let pid;
  before(async () => {
    srv = await startServer({ app: ECHO_APP, workers: 1, limitFiles: fileLimit(), env: { PIKKU_LUA_DIR: ECHO_APP } });
    [pid] = await srv.waitForWorkers(1);
  });
  after(() => stopAndCheck(srv));

  test('messages are held up to the budget, the connections past it are closed with 1013; RSS grows by at most the budget + margin; others go on', async (t) => {
    // 15 fragments of 60000 bytes: 900000 bytes of a binary message that never ends (FIN never set)
    const FRAG = 60000;
    const NFRAG = 15;
    const frag = Buffer.alloc(FRAG, 0x61);
    const frames = [zeroMaskedFrame(0x02, frag), ...range(NFRAG - 1).map(() => zeroMaskedFrame(0x00, frag))];
    const warm = await wsOpen(srv.port);
    await warm.write(maskedFrame(0x82, 'warm'));
    await warm.until(() => warm.frames().some((f) => f.op === 2), 5000, 'the echo');
    warm.destroy();
    for (let i = 0; i < 10; i++) { const r = await httpRequest(srv.port, { path: '/plain', agent: false }); assert.equal(r.status, 200); }
    const base = await rssSettled(pid, 3000);
    const rss = rssSampler(pid);
    const conns = [];
    try {
      for (let i = 0; i < 400; i += 50) conns.push(...await Promise.all(range(50).map(() => wsOpen(srv.port))));
      await pollUntil(() => conns.every((c) => c.frames().length >= 1), { timeout: 10000, what: 'every channel_open greeting' });
      // every connection sends its fragments, all at once
      await Promise.all(conns.map(async (c) => {
        for (const f of frames) { if (c.closeCode() !== null || c.closed) break; await c.write(f).catch(() => {}); }
      }));
      const refused = () => conns.filter((c) => c.closeCode() !== null);
      const during = await quiet(pid, () => refused().length);
      // meanwhile HTTP requests and whole small messages go on (a frame that arrives whole in one
      // read is delivered in place, without buffering)
      for (let i = 0; i < 10; i++) { const r = await httpRequest(srv.port, { path: '/plain', agent: false }); assert.equal(r.status, 200); }
      const probe = await wsOpen(srv.port);
      await probe.write(maskedFrame(0x81, 'ua'));
      await probe.until(() => probe.frames().length >= 2, 5000, 'the echo of a small message');
      probe.destroy();
      rss.stop();
      const held = conns.filter((c) => c.closeCode() === null && !c.closed);
      const codes = new Set(refused().map((c) => c.closeCode()));
      t.diagnostic(`RSS: baseline ${(base / MiB).toFixed(1)} MiB, during the attack ${(during / MiB).toFixed(1)} MiB`
        + ` (+${((during - base) / MiB).toFixed(1)}), peak ${(rss.peak / MiB).toFixed(1)} MiB (+${((rss.peak - base) / MiB).toFixed(1)});`
        + ` budget ${DEFAULT_BUDGET / MiB} MiB; ${held.length} messages held, ${refused().length} closed with [${[...codes]}]`);
      if (!ASAN) assert.ok(rss.peak - base <= DEFAULT_BUDGET + MARGIN, `RSS grew by ${((rss.peak - base) / MiB).toFixed(1)} MiB`);
      assert.ok(held.length <= Math.floor(DEFAULT_BUDGET / (FRAG * NFRAG)), `at most what the budget holds (${held.length})`);
      assert.ok(held.length >= 1, 'some messages are held');
      assert.equal(held.length + refused().length, 400);
      assert.deepEqual([...codes], [1013], 'the connections past the budget are closed with 1013');
      await pollUntil(() => refused().every((c) => c.closed), { timeout: 5000, what: 'the refused connections to close' });
      // a held message still completes: its last fragment ends it, and it is echoed whole
      await held[0].write(zeroMaskedFrame(0x80, frag));
      await held[0].until(() => held[0].frames().some((f) => f.op === 2), 10000, 'the echo of the held message');
      assert.equal(held[0].frames().find((f) => f.op === 2).payload.length, FRAG * (NFRAG + 1));
    } finally {
      rss.stop();
      conns.forEach((c) => c.destroy());
    }
    const afterwards = await rssSettled(pid, 3000);
    t.diagnostic(`RSS after the attack: ${(afterwards / MiB).toFixed(1)} MiB`);
    if (!ASAN) assert.ok(afterwards - base <= MARGIN, `RSS stays ${((afterwards - base) / MiB).toFixed(1)} MiB over the baseline`);
  });
});

// ---- every path gives its share back (a small budget, filled exactly) ------------------------------

describe('request bodies under a 3 MiB budget (--max-input-buffer 3145728, --body-timeout-ms 1000)', () => {
  let srv;
  before(async () => {
    srv = await startServer({ workers: 1, args: ['--max-input-buffer', String(3 * MiB), '--body-timeout-ms', '1000'] });
  });
  after(() => stopAndCheck(srv));

  /** n connections, each holding an unfinished 1 MiB body (the head and 1000 of its bytes). */
  async function holdBodies(n) {
    const conns = await connectMany(srv.port, n);
    for (const c of conns) await c.write(`${postHead(MiB)}${'h'.repeat(1000)}`);
    await delay(200);
    return conns;
  }

  /** The whole budget is free: three 1 MiB bodies are held, a fourth gets 503. A share of even
   * one byte left behind by an earlier request would refuse the third. */
  async function assertAllFree() {
    await delay(200);   // connections closed by the client are let go at the server's next turn
    const conns = await holdBodies(3);
    try {
      assert.deepEqual(conns.map((c) => c.buffer.length), [0, 0, 0], 'three 1 MiB bodies held');
      const fourth = await RawConn.connect(srv.port);
      await fourth.write(postHead(MiB));
      await assertBusy(fourth);
      fourth.destroy();
    } finally { conns.forEach((c) => c.destroy()); }
  }

  test('the whole Content-Length is reserved when the head is complete: the fourth 1 MiB body gets 503 at once; GETs go on; a body let go makes room', async () => {
    const conns = await holdBodies(3);
    try {
      assert.deepEqual(conns.map((c) => c.buffer.length), [0, 0, 0]);
      const fourth = await RawConn.connect(srv.port);
      await fourth.write(postHead(MiB));     // its head only: refused before any byte of the body
      await assertBusy(fourth);
      fourth.destroy();
      await assertAlive(srv.port);
      conns[0].destroy();
      await delay(200);
      const r = await httpRequest(srv.port, { method: 'POST', path: '/raw', agent: false, body: Buffer.alloc(MiB, 2),
        headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(r.status, 200, r.text);
    } finally { conns.forEach((c) => c.destroy()); }
    await assertAllFree();
  });

  test('Expect: 100-continue over the budget: a 503 instead of the 100 Continue; within it, 100 Continue then the answer', async () => {
    const conns = await holdBodies(3);
    try {
      const c = await RawConn.connect(srv.port);
      await c.write(postHead(MiB, 'Expect: 100-continue\r\n'));
      const [r] = await c.responses(1, { include1xx: true, timeout: 5000 });
      assert.equal(r.status, 503, 'no 100 Continue first');
      c.destroy();
    } finally { conns.forEach((c) => c.destroy()); }
    await delay(200);
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(postHead(MiB, 'Expect: 100-continue\r\n'));
      const [cont] = await c.responses(1, { include1xx: true, timeout: 5000 });
      assert.equal(cont.status, 100);
      await c.write(Buffer.alloc(MiB, 3));
      const all = await c.responses(1, { timeout: 5000 });
      assert.equal(all[0].status, 200);
    } finally { c.destroy(); }
    await assertAllFree();
  });

  test('keep-alive and pipelining: each body gives its share back once its request is handed on (5 in a row, 4 pipelined in one write)', async () => {
    const body = Buffer.alloc(MiB, 4);
    const one = Buffer.concat([Buffer.from(postHead(MiB)), body]);
    const c = await RawConn.connect(srv.port);
    try {
      for (let i = 1; i <= 5; i++) {
        await c.write(one);
        const rs = await c.responses(i, { timeout: 10000 });
        assert.equal(rs[i - 1].status, 200, rs[i - 1].text);
      }
      await c.write(Buffer.concat([one, one, one, one]));
      const rs = await c.responses(9, { timeout: 10000 });
      assert.deepEqual(rs.map((r) => r.status), Array(9).fill(200));
    } finally { c.destroy(); }
    await assertAllFree();
  });

  test('a chunked body counts as it grows: with 2.5 MiB held, its chunks are taken until the budget is full, then 503', async () => {
    const conns = await holdBodies(2);
    const c = await RawConn.connect(srv.port);
    try {
      const half = await RawConn.connect(srv.port);
      conns.push(half);
      await half.write(`${postHead(MiB / 2)}${'h'.repeat(1000)}`);
      await c.write('POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
      const chunk = Buffer.concat([Buffer.from('40000\r\n'), Buffer.alloc(0x40000, 5), Buffer.from('\r\n')]);   // 256 KiB
      for (let i = 0; i < 2; i++) await c.write(chunk);
      await delay(200);
      assert.equal(half.buffer.length + c.buffer.length, 0, 'two chunks of 256 KiB fill the budget');
      await c.write(chunk).catch(() => {});
      await assertBusy(c);
    } finally { c.destroy(); conns.forEach((x) => x.destroy()); }
    await assertAllFree();
  });

  test('every way a body ends gives its share back: answered, 413, malformed, client gone, 408, bytes kept while a handler runs', async () => {
    const chunked = 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
    for (let round = 0; round < 2; round++) {
      // answered
      const ok = await httpRequest(srv.port, { method: 'POST', path: '/raw', agent: false, body: Buffer.alloc(MiB, 6),
        headers: { 'content-type': 'application/octet-stream' } });
      assert.equal(ok.status, 200);
      // 413: a chunked body that grows past --max-body-size (1 MiB) after 1 MiB was reserved
      let c = await RawConn.connect(srv.port);
      await c.write(Buffer.concat([Buffer.from(`${chunked}100000\r\n`), Buffer.alloc(MiB, 7), Buffer.from('\r\n1\r\n')]));
      let [r] = await c.responses(1, { timeout: 5000 });
      assert.equal(r.status, 413);
      c.destroy();
      // malformed: chunk data not followed by CRLF, after 64 KiB was reserved
      c = await RawConn.connect(srv.port);
      await c.write(Buffer.concat([Buffer.from(`${chunked}10000\r\n`), Buffer.alloc(0x10000, 8), Buffer.from('XY')]));
      [r] = await c.responses(1, { timeout: 5000 });
      assert.equal(r.status, 400);
      c.destroy();
      // the client goes away in the middle of a body
      c = await RawConn.connect(srv.port);
      await c.write(`${postHead(MiB)}${'g'.repeat(5000)}`);
      await delay(100);
      c.destroy();
      // 408: the body stalls past --body-timeout-ms
      c = await RawConn.connect(srv.port);
      await c.write(`${postHead(MiB)}${'s'.repeat(5000)}`);
      [r] = await c.responses(1, { timeout: 5000 });
      assert.equal(r.status, 408);
      c.destroy();
      // a request whose handler sleeps, with the next request's head and 60000 bytes of its body
      // in the same write: kept (and counted) until the handler answers, then parsed and finished
      c = await RawConn.connect(srv.port);
      await c.write(`GET /sleep?ms=200 HTTP/1.1\r\nHost: t\r\n\r\n${postHead(100000)}${'p'.repeat(60000)}`);
      await delay(400);
      await c.write('q'.repeat(40000));
      const rs = await c.responses(2, { timeout: 5000 });
      assert.deepEqual(rs.map((x) => x.status), [200, 200]);
      assert.deepEqual(rs[1].json(), { size: 100000 });
      c.destroy();
    }
    await assertAllFree();
  });
});

// ---- WebSocket messages under a small budget ----------------------------------------------------------

describe('WebSocket messages under a 1.5 MiB budget (--max-input-buffer 1572864, --body-timeout-ms 2000)', () => {
  const BUDGET = 1536 * 1024;
  const FRAME = 512 * 1024;       // three frames of this declared length fill the budget exactly
  let srv;
  before(async () => {
    srv = await startServer({ app: ECHO_APP, workers: 1, env: { PIKKU_LUA_DIR: ECHO_APP },
      args: ['--max-input-buffer', String(BUDGET), '--body-timeout-ms', '2000'] });
  });
  after(() => stopAndCheck(srv));

  /** A WebSocket holding a message open: a frame declaring 512 KiB, 1000 of its bytes sent. */
  async function holdMessage() {
    const c = await wsOpen(srv.port);
    await c.write(Buffer.concat([frameHead(0x82, FRAME), Buffer.alloc(1000, 0x6d)]));
    return c;
  }

  /** The whole budget is free: three messages of 512 KiB are held, a fourth is closed with 1013. */
  async function assertAllFree() {
    await delay(200);
    const conns = [];
    try {
      for (let i = 0; i < 3; i++) conns.push(await holdMessage());
      await delay(200);
      assert.deepEqual(conns.map((c) => c.closeCode()), [null, null, null], 'three messages held');
      const fourth = await holdMessage();
      conns.push(fourth);
      await fourth.until(() => fourth.closeCode() !== null, 5000, 'the close frame');
      assert.equal(fourth.closeCode(), 1013);
    } finally { conns.forEach((c) => c.destroy()); }
  }

  test('the budget is reserved by declared frame length as a message is buffered: the fourth is closed with 1013; a small whole message still goes through; finishing one makes room', async () => {
    const conns = [];
    try {
      for (let i = 0; i < 3; i++) conns.push(await holdMessage());
      const fourth = await holdMessage();
      conns.push(fourth);
      await fourth.until(() => fourth.closeCode() !== null, 5000, 'the close frame');
      assert.equal(fourth.closeCode(), 1013);
      assert.equal(await fourth.waitClose(5000), true, 'closed after its close frame');
      // a small message that arrives whole is delivered in place: no buffering, no budget
      const small = await wsOpen(srv.port);
      conns.push(small);
      await small.write(maskedFrame(0x82, 'tiny'));
      await small.until(() => small.frames().some((f) => f.op === 2), 5000, 'the echo');
      // the first message ends: echoed whole, and its 512 KiB are free again
      await conns[0].write(Buffer.alloc(FRAME - 1000, 0x6e));
      await conns[0].until(() => conns[0].frames().some((f) => f.op === 2), 5000, 'the echo of 512 KiB');
      assert.equal(conns[0].frames().find((f) => f.op === 2).payload.length, FRAME);
      const fifth = await holdMessage();
      conns.push(fifth);
      await delay(200);
      assert.equal(fifth.closeCode(), null, 'held');
    } finally { conns.forEach((c) => c.destroy()); }
    await assertAllFree();
  });

  test('every way a message ends gives its share back: echoed, 1009, protocol error, client gone, close frame, 1013, the deadline', async () => {
    const frag = Buffer.alloc(300 * 1024, 0x6f);
    for (let round = 0; round < 2; round++) {
      // echoed: three fragments of 300 KiB
      let c = await wsOpen(srv.port);
      await c.write(Buffer.concat([zeroMaskedFrame(0x02, frag), zeroMaskedFrame(0x00, frag), zeroMaskedFrame(0x80, frag)]));
      await c.until(() => c.frames().some((f) => f.op === 2), 5000, 'the echo');
      c.destroy();
      // 1009: fragments past --ws-max-message (1 MiB), after 900 KiB were buffered
      c = await wsOpen(srv.port);
      await c.write(Buffer.concat([zeroMaskedFrame(0x02, frag), zeroMaskedFrame(0x00, frag), zeroMaskedFrame(0x00, frag)]));
      await c.write(frameHead(0x00, 200 * 1024)).catch(() => {});
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      assert.equal(c.closeCode(), 1009);
      c.destroy();
      // protocol error: a new message while a fragmented one is open
      c = await wsOpen(srv.port);
      await c.write(Buffer.concat([zeroMaskedFrame(0x02, frag), zeroMaskedFrame(0x82, Buffer.from('x'))]));
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      assert.equal(c.closeCode(), 1002);
      c.destroy();
      // the client goes away with a message open
      c = await wsOpen(srv.port);
      await c.write(zeroMaskedFrame(0x02, frag));
      await delay(100);
      c.destroy();
      // the client closes with a message open
      c = await wsOpen(srv.port);
      await c.write(Buffer.concat([zeroMaskedFrame(0x02, frag), maskedFrame(0x88, Buffer.from([0x03, 0xe8]))]));
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      assert.equal(c.closeCode(), 1000);
      c.destroy();
      // 1013 itself: with 1.5 MiB held, a fragment that does not fit
      const held = [];
      for (let i = 0; i < 3; i++) held.push(await holdMessage());
      c = await wsOpen(srv.port);
      await c.write(zeroMaskedFrame(0x02, frag));
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      assert.equal(c.closeCode(), 1013);
      c.destroy();
      held.forEach((h) => h.destroy());
      // the deadline: a message left open past --body-timeout-ms (2 s) is closed with 1008
      c = await wsOpen(srv.port);
      await c.write(zeroMaskedFrame(0x02, frag));
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      assert.equal(c.closeCode(), 1008);
      c.destroy();
    }
    await assertAllFree();
  });
});

// ---- the partial-message deadline ---------------------------------------------------------------------

describe('a WebSocket message must be finished within --body-timeout-ms of its first frame (1000 ms here)', () => {
  let srv;
  before(async () => {
    srv = await startServer({ app: ECHO_APP, workers: 1, env: { PIKKU_LUA_DIR: ECHO_APP },
      args: ['--body-timeout-ms', '1000', '--ws-ping-ms', '300'] });
  });
  after(() => stopAndCheck(srv));

  /** Answers every ping from the server with a pong (as browsers do), until stop(). */
  function answerPings(c) {
    let seen = 0;
    let answered = 0;
    const t = setInterval(() => {
      const pings = c.frames().filter((f) => f.op === 9);
      for (; seen < pings.length; seen++) { c.write(maskedFrame(0x8a, pings[seen].payload)).catch(() => {}); answered++; }
    }, 20);
    return { stop: () => clearInterval(t), get answered() { return answered; } };
  }

  test('a first fragment, then only pongs: closed with 1008 about a second after the fragment', async () => {
    const c = await wsOpen(srv.port);
    const pongs = answerPings(c);
    try {
      const t0 = Date.now();
      await c.write(maskedFrame(0x01, 'the beginning of a message that never ends'));
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      const took = Date.now() - t0;
      assert.equal(c.closeCode(), 1008);
      assert.match(c.frames().find((f) => f.op === 8).payload.subarray(2).toString(), /not completed in time/);
      assert.ok(pongs.answered >= 1, 'the client answered the server\'s pings meanwhile');
      assert.ok(took >= 900 && took < 3000, `closed after ${took} ms`);
    } finally { pongs.stop(); c.destroy(); }
  });

  test('fragments trickling every 200 ms that never finish the message: closed with 1008 all the same', async () => {
    const c = await wsOpen(srv.port);
    let stop = false;
    const t0 = Date.now();
    const trickle = (async () => {
      await c.write(maskedFrame(0x02, 'first'));
      for (let i = 0; i < 30 && !stop && !c.closed; i++) {
        await delay(200);
        await c.write(maskedFrame(0x00, 'more')).catch(() => {});
      }
    })();
    try {
      await c.until(() => c.closeCode() !== null, 5000, 'the close frame');
      assert.equal(c.closeCode(), 1008);
      assert.ok(Date.now() - t0 < 3000);
    } finally { stop = true; await trickle; c.destroy(); }
  });

  test('a message finished in time is delivered, and the next message has a deadline of its own', async () => {
    const c = await wsOpen(srv.port);
    const pongs = answerPings(c);
    try {
      for (let m = 0; m < 2; m++) {
        await c.write(maskedFrame(0x02, 'a'));
        for (let i = 0; i < 3; i++) { await delay(200); await c.write(maskedFrame(0x00, 'b')); }
        await c.write(maskedFrame(0x80, 'c'));
        await c.until(() => c.frames().filter((f) => f.op === 2).length === m + 1, 3000, `echo ${m + 1}`);
        assert.equal(c.frames().filter((f) => f.op === 2)[m].payload.toString(), 'abbbc');
      }
      await delay(700);   // 2.3 s after the first fragment of the first message: still open
      assert.equal(c.closeCode(), null);
      assert.equal(c.closed, false);
    } finally { pongs.stop(); c.destroy(); }
  });
});

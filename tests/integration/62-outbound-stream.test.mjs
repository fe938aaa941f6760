// Streamed outbound responses (pikku.http.request{ stream = true }): a 100 MB download proxied into wire.http:stream in bounded memory, backpressure up to the target, streams abandoned, cut or timed out upstream, a reload.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import zlib from 'node:zlib';
import { startServer, REPO_ROOT, HOST, RawConn, rawRequest, delay, pollUntil, PIKKU_BIN } from './lib/server.mjs';
import { startHttpTarget, startHttp2Target, makeTestCA, generated } from './lib/targets.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'outbound-stream');
const MiB = 1024 * 1024;
const BIG = 100 * 1000 * 1000;   // the proxied download
const ASAN = fs.readFileSync(PIKKU_BIN).includes('__asan_init');   // its shadow memory and quarantine are not ours to bound
const RSS_LIMIT = 20 * MiB;      // what the worker may grow by while 100 MB go through it

function rssBytes(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024;
}

/** Samples a process's RSS every 20 ms until stop(); peak is the highest seen. */
function rssSampler(pid) {
  const s = { peak: rssBytes(pid) };
  const t = setInterval(() => { try { s.peak = Math.max(s.peak, rssBytes(pid)); } catch { /* gone */ } }, 20);
  s.stop = () => { clearInterval(t); try { s.peak = Math.max(s.peak, rssBytes(pid)); } catch { /* gone */ } };
  return s;
}

/** Established TCP connections of process pid to a port (its sockets in /proc/PID/fd, their ports in /proc/net/tcp). */
function connsTo(pid, port) {
  const inodes = new Set();
  for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
    try { const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)); if (m) inodes.add(m[1]); } catch { /* closed */ }
  }
  const hex = Number(port).toString(16).toUpperCase().padStart(4, '0');
  return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length > 9 && f[2].endsWith(`:${hex}`) && f[3] === '01' && inodes.has(f[9])).length;
}

const fdCount = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

/** Waits until the generated download g stopped: its writes wait for 'drain' and it sent nothing for `quiet` ms. */
async function stalled(g, { quiet = 500, timeout = 10000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const sent = g.sent;
    await delay(quiet);
    if (g.waiting && g.sent === sent) return sent;
    if (Date.now() > deadline) throw new Error(`the target never stopped sending (sent ${g.sent}, waiting ${g.waiting})`);
  }
}

/** A GET whose body is counted and hashed as it comes (not kept); pause()/resume() stop and start reading. */
function download(port, p) {
  const st = { status: 0, bytes: 0, ended: false, aborted: false, error: null };
  const hash = crypto.createHash('sha256');
  st.done = new Promise((resolve) => {
    st.req = http.get({ host: HOST, port, path: p, agent: false }, (res) => {
      st.res = res;
      st.status = res.statusCode;
      res.on('data', (d) => { st.bytes += d.length; hash.update(d); });
      res.on('end', () => { st.ended = true; st.sha256 = hash.digest('hex'); resolve(st); });
      res.on('aborted', () => { st.aborted = true; });
      res.on('error', (e) => { st.error = e; resolve(st); });
      res.on('close', () => resolve(st));
    });
    st.req.on('error', (e) => { st.error = e; resolve(st); });
  });
  st.pause = () => st.res.pause();
  st.resume = () => st.res.resume();
  return st;
}

const gen = (n, id) => encodeURIComponent(`/gen?n=${n}&id=${id}`);

describe('streamed outbound responses', () => {
  let srv, target, targetPort, worker, ca;
  const get = async (p) => { const r = await srv.fetch(p); return { status: r.status, body: await r.json() }; };

  before(async () => {
    target = await startHttpTarget();
    targetPort = Number(new URL(target.url).port);
    ca = makeTestCA();
    srv = await startServer({ app: APP, workers: 1, env: { TARGET_URL: target.url, TEST_CA_FILE: ca.ca }, args: ['--idle-timeout-ms', '3000'] });
    [worker] = await srv.waitForWorkers(1);
    // warm up: curl, the Lua state's first streams, the allocator's first big buffers
    for (let i = 0; i < 3; i++) assert.equal((await download(srv.port, `/proxy?path=${gen(4 * MiB, 'warm')}`).done).bytes, 4 * MiB);
  });
  after(async () => {
    await srv?.stop();
    await target?.close();
    ca?.remove();
    // under PIKKU_SANITIZE a report goes to the worker's stderr (and the worker dies)
    assert.doesNotMatch(srv?.stderrText() ?? '', /Sanitizer|runtime error:/);
  });

  test('the head first, then the body in chunks, then nil: small bodies, redirects, HEAD, max_body', async () => {
    let r = (await get('/read?path=/hello')).body;
    assert.equal(r.status, 200);
    assert.equal(r.text, 'hello from target');
    assert.equal(r.type, 'text/plain');
    assert.equal(r.version, '1.1');
    assert.equal(r.body, undefined, 'no body field: it comes through read()');
    assert.equal(r.ended, true);
    assert.equal(r.after_end, undefined, 'read() after the end is nil again');
    assert.equal((await get('/read?path=/hello&iface=reader')).body.text, 'hello from target', 'res.reader:read() too');
    assert.deepEqual((await get('/chunks?path=/hello')).body, { status: 200, body: 'hello from target' }, 'for chunk in res:chunks()');
    r = (await get('/read?path=/redirect&follow=1')).body;
    assert.equal(r.status, 200, 'a redirect followed: the last head');
    assert.equal(r.text, 'hello from target');
    r = (await get('/read?path=/redirect')).body;
    assert.equal(r.status, 302, 'not followed: the 302 itself');
    r = (await get('/read?path=/status%3Fcode%3D503')).body;
    assert.equal(r.status, 503, 'any status is returned');
    assert.equal(r.text, 'status');
    r = (await get('/read?path=/hello&method=HEAD')).body;
    assert.deepEqual([r.status, r.bytes, r.ended], [200, 0, true]);
    r = (await get(`/read?path=${gen(20 * MiB, 'plain')}`)).body;
    assert.equal(r.bytes, 20 * MiB, 'no max_body by default in stream mode (the buffered default is 16 MiB)');
    assert.ok(r.max_chunk <= 256 * 1024 + 64 * 1024, `a chunk is at most what C buffers: ${r.max_chunk}`);
    r = (await get(`/read?path=${gen(5000, 'cl')}&max_body=1000`)).body;
    assert.equal(r.error.kind, 'too_large', 'max_body when given: from Content-Length, before the head returns');
    r = (await get('/read?path=/slow%3Fchunks%3D50%26ms%3D5%26size%3D1000&max_body=20000')).body;
    assert.equal(r.error.kind, 'too_large', 'max_body while it streams (no Content-Length)');
    assert.ok(r.bytes <= 20000, `${r.bytes} bytes read before it`);
  });

  test('over HTTP/2: the stream paused while the function does not read (the flow-control window), then every byte', async (t) => {
    const h2 = await startHttp2Target(ca);
    try {
      const base = encodeURIComponent(h2.url);
      let r = (await get(`/read?base=${base}&path=/hello`)).body;
      assert.deepEqual([r.status, r.version, r.text], [200, '2', 'hello from target']);
      const p = get(`/read?base=${base}&path=${gen(20 * MiB, 'h2')}&pause_ms=1500`);
      await pollUntil(() => generated.get('h2'), { what: 'the download started' });
      const sent = await stalled(generated.get('h2'), { quiet: 300 });
      t.diagnostic(`HTTP/2, the function not reading: the target sent ${(sent / MiB).toFixed(1)} MiB, then waited`);
      assert.ok(sent < 8 * MiB, `the target sent ${(sent / MiB).toFixed(1)} MiB before the window closed`);
      r = (await p).body;
      assert.deepEqual([r.bytes, r.ended], [20 * MiB, true]);
    } finally { await h2.close(); }
  });

  test(`100 MB proxied into wire.http:stream to a client that reads it all: every byte, the same SHA-256, the worker grows by < ${RSS_LIMIT / MiB} MB`, async (t) => {
    const base = rssBytes(worker);
    const rss = rssSampler(worker);
    const t0 = Date.now();
    const st = await download(srv.port, `/proxy?path=${gen(BIG, 'big')}`).done;
    rss.stop();
    const ms = Date.now() - t0;
    assert.equal(st.status, 200);
    assert.equal(st.ended, true);
    assert.equal(st.bytes, BIG);
    assert.equal(st.sha256, generated.get('big').sha256, 'what the client got is what the target sent');
    t.diagnostic(`100 MB proxied in ${ms} ms; worker RSS ${(base / MiB).toFixed(1)} MiB before, peak +${((rss.peak - base) / MiB).toFixed(2)} MiB`);
    if (!ASAN) assert.ok(rss.peak - base < RSS_LIMIT, `the worker grew by ${((rss.peak - base) / MiB).toFixed(1)} MiB`);
    await srv.waitForLine(/proxy: done, 100000000 bytes/);
  });

  test('a client that stops reading: the target\'s writes wait for drain and stop, the worker stays small; then every byte arrives', async (t) => {
    const base = rssBytes(worker);
    const rss = rssSampler(worker);
    const st = download(srv.port, `/proxy?path=${gen(BIG, 'paused')}`);
    await pollUntil(() => st.bytes > MiB, { what: 'a first MiB' });
    st.pause();
    const g = generated.get('paused');
    // the client's socket buffers fill, then the worker's (wire.http:stream waits), then curl pauses:
    // the target's socket buffers fill and its writes wait for 'drain'
    const sent = await stalled(g);
    await delay(1000);
    assert.equal(g.sent, sent, 'the target sent nothing more while the client did not read');
    assert.ok(g.waiting, 'its write buffer stays full');
    assert.ok(sent < 64 * MiB, `the target sent ${(sent / MiB).toFixed(1)} MiB of ${BIG / MiB}`);
    const during = rssBytes(worker);
    t.diagnostic(`paused: the target sent ${(sent / MiB).toFixed(1)} MiB, the client read ${(st.bytes / MiB).toFixed(1)} MiB; worker +${((during - base) / MiB).toFixed(2)} MiB`);
    if (!ASAN) assert.ok(during - base < RSS_LIMIT, `the worker grew by ${((during - base) / MiB).toFixed(1)} MiB`);
    st.resume();
    await st.done;
    rss.stop();
    assert.equal(st.bytes, BIG);
    assert.equal(st.sha256, g.sha256);
    if (!ASAN) assert.ok(rss.peak - base < RSS_LIMIT, `peak: +${((rss.peak - base) / MiB).toFixed(1)} MiB`);
  });

  test('a function that stops reading: the transfer is paused (the target stops sending), then goes on', async () => {
    const p = get(`/read?path=${gen(BIG, 'held')}&pause_ms=2000`);
    await pollUntil(() => generated.get('held'), { what: 'the download started' });
    const g = generated.get('held');
    const sent = await stalled(g, { quiet: 300 });
    await delay(500);
    assert.equal(g.sent, sent, 'nothing more sent while the function does not read');
    assert.ok(sent < 32 * MiB, `sent ${(sent / MiB).toFixed(1)} MiB before the pause held`);
    const r = (await p).body;
    assert.equal(r.bytes, BIG);
    assert.equal(r.ended, true);
    assert.ok(g.finished);
  });

  test('a stream abandoned early (return, close, error) is dropped: the target sees its connection close; no connection, fd or memory stays', async () => {
    const fds0 = fdCount(worker);
    const base = rssBytes(worker);
    for (let i = 0; i < 30; i++) {
      const mode = ['', '&close=1', '&fail=1'][i % 3];
      const id = `early${i}`;
      const r = await srv.fetch(`/read?path=${gen(BIG, id)}&upto=${MiB}${mode}`);
      const body = await r.json();
      if (mode === '&fail=1') {
        assert.equal(r.status, 500);
      } else {
        assert.equal(r.status, 200);
        assert.ok(body.bytes >= MiB && body.ended === false, JSON.stringify(body));
        if (mode) assert.equal(body.after_close, undefined, 'read() after close() is nil');
      }
      await pollUntil(() => generated.get(id).closed, { timeout: 3000, what: `the target seeing ${id} closed` });
      const g = generated.get(id);
      assert.ok(!g.finished && g.sent < 32 * MiB, `${id}: sent ${g.sent}`);
    }
    await pollUntil(() => connsTo(worker, targetPort) === 0, { timeout: 3000, what: 'no connection to the target left' });
    assert.ok(fdCount(worker) <= fds0, `fds: ${fds0} before, ${fdCount(worker)} after`);
    if (!ASAN) assert.ok(rssBytes(worker) - base < RSS_LIMIT, `RSS +${((rssBytes(worker) - base) / MiB).toFixed(1)} MiB after 30 abandoned streams`);
  });

  test('a client that goes away mid-proxy: the writer says closed (or the read is abandoned), the function ends, the upstream is dropped', async () => {
    const from = srv.mark();
    const st = download(srv.port, `/proxy?path=${gen(BIG, 'gone')}`);
    await pollUntil(() => st.bytes > 5 * MiB, { what: '5 MiB' });
    st.req.destroy();
    // waiting in write() when the client went: nil, "closed"; waiting in read(): the call is abandoned
    await srv.waitForLine(/proxy: (the client is gone|the upstream failed \(abandoned\)) after \d+ bytes/, { from });
    await pollUntil(() => generated.get('gone').closed, { timeout: 3000, what: 'the target seeing the transfer closed' });
    assert.ok(!generated.get('gone').finished);
    // a slow upstream: the function waits in read() when the client goes
    const from2 = srv.mark();
    const c = await RawConn.connect(srv.port);
    await c.write(`GET /proxy?path=${encodeURIComponent('/slow?chunks=100&ms=200&id=slowproxy')} HTTP/1.1\r\nHost: t\r\n\r\n`);
    await pollUntil(() => generated.get('slowproxy')?.sent >= 2, { what: 'two slow chunks' });
    c.destroy();
    await srv.waitForLine(/proxy: the upstream failed \(abandoned\) after \d+ bytes/, { from: from2 });
    // 499 when the client left before the head went out, else the status that was sent (as nginx logs)
    await srv.waitForLine(/GET \/proxy (499|200) /, { from: from2 });
    await pollUntil(() => generated.get('slowproxy').closed, { timeout: 2000, what: 'the target seeing the transfer closed' });
    assert.equal(srv.findLines(/after the response was sent/, from2).length, 0, 'an abandoned call is not logged as an error');
  });

  test('a client that goes away while its function waits in read(): the call is abandoned, the upstream closed', async () => {
    const from = srv.mark();
    const c = await RawConn.connect(srv.port);
    await c.write(`GET /read?path=${encodeURIComponent('/slow?chunks=100&ms=200&id=slowgone')} HTTP/1.1\r\nHost: t\r\n\r\n`);
    await pollUntil(() => generated.get('slowgone')?.sent >= 2, { what: 'two slow chunks' });
    c.destroy();
    await pollUntil(() => generated.get('slowgone').closed, { timeout: 2000, what: 'the target seeing the transfer closed' });
    assert.ok(generated.get('slowgone').sent < 20, 'long before its end');
    await srv.waitForLine(/GET \/read 499/, { from });
    assert.equal(srv.findLines(/GET \/read 200/, from).length, 0, 'the abandoned call answered nothing');
  });

  test('an upstream that resets mid-stream: read() raises kind "closed"; a proxied stream is cut', async () => {
    let r = (await get('/read?path=/reset%3Fn%3D300000')).body;
    assert.equal(r.bytes, 300000, 'what came before the reset is read first');
    assert.equal(r.error.kind, 'closed');
    assert.equal(r.error.status, 502);
    const from = srv.mark();
    const cut = await rawRequest(srv.port, `GET /proxy?path=${encodeURIComponent('/reset?n=300000')} HTTP/1.1\r\nHost: t\r\n\r\n`, { timeout: 5000 });
    assert.ok(cut.closed, 'the client\'s connection is closed');
    assert.ok(cut.text.startsWith('HTTP/1.1 200'), cut.text.slice(0, 100));
    assert.ok(cut.buf.length > 300000, 'what came through before');
    assert.ok(!cut.text.endsWith('\r\n0\r\n\r\n'), 'no last chunk: the client sees a cut body');
    await srv.waitForLine(/proxy: the upstream failed \(closed\) after 300000 bytes/, { from });
    r = (await get('/read?path=/reset%3Fn%3D300000')).body;
    assert.equal(r.error.kind, 'closed', 'and again: nothing left behind');
  });

  test('timeout_ms bounds the whole transfer: mid-stream, and while the function does not read', async () => {
    let r = (await get('/read?path=/slow%3Fchunks%3D100%26ms%3D50&timeout_ms=600')).body;
    assert.equal(r.error.kind, 'timeout');
    assert.equal(r.error.status, 504);
    assert.ok(r.bytes > 0 && r.bytes < 1000, `${r.bytes} bytes came before it`);
    r = (await get(`/read?path=${gen(BIG, 'late')}&timeout_ms=800&pause_ms=1200`)).body;
    assert.equal(r.error.kind, 'timeout', 'a paused transfer times out too');
    assert.ok(r.bytes > 0 && r.bytes < BIG, `${r.bytes} bytes: what was buffered is read first`);
  });

  test('a reload while a download is proxied: it ends on the old state, which then closes with its connections', async () => {
    const st = download(srv.port, `/proxy?path=${gen(BIG, 'reload')}`);
    await pollUntil(() => st.bytes > MiB, { what: 'a first MiB' });
    st.pause();
    const from = srv.mark();
    srv.signal('SIGHUP');
    await srv.waitForLine(/reloaded app/, { from });
    assert.equal((await get('/read?path=/hello')).body.text, 'hello from target', 'the new state serves');
    assert.ok(connsTo(worker, targetPort) >= 2, 'the old state\'s download and the new state\'s connection');
    st.resume();
    await st.done;
    assert.equal(st.bytes, BIG);
    assert.equal(st.sha256, generated.get('reload').sha256);
    // the old state's connection cache closes with it; the new state's /hello connection stays
    await pollUntil(() => connsTo(worker, targetPort) <= 1, { timeout: 3000, what: 'the old state\'s connections closed' });
  });

  test('a gzip-encoded body is decoded as it streams, paused or not, or proxied as sent with decode = false: every byte, the same SHA-256 (last: the function keeps it whole)', async () => {
    for (const pause of ['', '&pause_ms=500']) {
      const r = (await get(`/sha?path=${encodeURIComponent(`/gzip?n=${8 * MiB}&id=gz`)}${pause}`)).body;
      assert.equal(r.bytes, 8 * MiB);
      assert.equal(r.sha256, generated.get('gz').sha256);
      assert.ok(r.max_chunk <= 256 * 1024 + 64 * 1024, `a chunk is at most what C buffers: ${r.max_chunk}`);
    }
    // decode = false: proxied as sent, Content-Encoding passed on; the client decodes it
    const got = await new Promise((resolve, reject) => {
      const req = http.get({ host: HOST, port: srv.port, agent: false, headers: { 'accept-encoding': 'gzip' },
        path: `/proxy?raw=1&path=${encodeURIComponent(`/gzip?n=${8 * MiB}&id=gzraw`)}` }, (res) => {
        const hash = crypto.createHash('sha256');
        let wire = 0, bytes = 0;
        res.on('data', (d) => { wire += d.length; });
        const gunzip = zlib.createGunzip();
        gunzip.on('data', (d) => { bytes += d.length; hash.update(d); });
        gunzip.on('end', () => resolve({ encoding: res.headers['content-encoding'], wire, bytes, sha256: hash.digest('hex') }));
        gunzip.on('error', reject);
        res.pipe(gunzip);
      });
      req.on('error', reject);
    });
    assert.equal(got.encoding, 'gzip');
    assert.equal(got.bytes, 8 * MiB);
    assert.ok(got.wire < MiB, `${got.wire} compressed bytes went through`);
    assert.equal(got.sha256, generated.get('gzraw').sha256);
  });
});

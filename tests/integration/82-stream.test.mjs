// wire.http:stream (chunked on HTTP/1.1, close-delimited on 1.0, bounded memory for a slow reader) and wire.http:send_file.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startServer, REPO_ROOT, HOST, RawConn, rawRequest, delay, pollUntil } from './lib/server.mjs';

const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/static');

function rssKb(pid) {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]);
}

/** A raw request whose answer is counted, not kept; reading can be paused. */
function counter(port, request) {
  const sock = net.connect(port, HOST);
  const st = { sock, bytes: 0, head: '', ended: false, error: null };
  sock.on('data', (d) => {
    if (st.head.length < 400) st.head += d.toString('latin1').slice(0, 400);
    st.bytes += d.length;
  });
  sock.on('end', () => { st.ended = true; });
  sock.on('close', () => { st.ended = true; });
  sock.on('error', (e) => { st.error = e; st.ended = true; });
  sock.on('connect', () => sock.write(request));
  return st;
}

describe('streamed responses', () => {
  let srv;
  before(async () => { srv = await startServer({ app: FIXTURE, args: ['--idle-timeout-ms', '1500'] }); });
  after(() => srv?.stop());

  test('chunked on HTTP/1.1, with the status and headers set before it', async () => {
    const c = await RawConn.connect(srv.port);
    await c.write('GET /stream?n=3&size=5 HTTP/1.1\r\nHost: x\r\n\r\nGET /echo-path/after HTTP/1.1\r\nHost: x\r\n\r\n');
    const [r, next] = await c.responses(2);
    c.destroy();
    assert.equal(r.status, 200);
    assert.equal(r.headers['transfer-encoding'], 'chunked');
    assert.equal(r.headers['content-length'], undefined);
    assert.equal(r.headers['content-type'], 'text/csv');
    assert.equal(r.headers['x-stream'], '1');
    assert.equal(r.text, 'xxxx\n'.repeat(3));
    assert.deepEqual(next.json(), { rest: 'after' });   // keep-alive and pipelining go on after it
  });

  test('close-delimited on HTTP/1.0', async () => {
    const r = await rawRequest(srv.port, 'GET /stream?n=2&size=4 HTTP/1.0\r\n\r\n');
    assert.ok(r.closed);
    assert.equal(r.responses[0].headers.connection, 'close');
    assert.equal(r.responses[0].headers['transfer-encoding'], undefined);
    assert.equal(r.responses[0].text, 'xxx\n'.repeat(2));
  });

  test('HEAD gets the head only', async () => {
    const r = await rawRequest(srv.port, 'HEAD /stream?n=2&size=4 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { methods: ['HEAD'] });
    assert.equal(r.responses[0].status, 200);
    assert.ok(r.text.endsWith('\r\n\r\n'), JSON.stringify(r.text));
  });

  test('a stream its function leaves open is closed by the runtime; one whose function fails is cut', async () => {
    const ok = await srv.fetch('/stream-unclosed');
    assert.equal(await ok.text(), 'ab');
    const mark = srv.mark();
    const cut = await rawRequest(srv.port, 'GET /stream-fail HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.ok(cut.closed);
    assert.ok(cut.text.includes('7\r\npartial\r\n'), JSON.stringify(cut.text));
    assert.ok(!cut.text.includes('\r\n0\r\n\r\n'), 'no last chunk: the body is incomplete');
    await srv.waitForLine((l) => l.includes('boom'), { from: mark });
  });

  test('100 MB to a slow reader: the worker stays small, the writer waits, then everything arrives', async () => {
    const [worker] = srv.workerPids();
    const before = rssKb(worker);
    const n = 1600, size = 65536;
    const st = counter(srv.port, `GET /stream?n=${n}&size=${size} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await pollUntil(() => st.bytes > 0, { what: 'first bytes' });
    st.sock.pause();                    // the client stops reading: the kernel's buffers fill up
    await delay(800);
    const during = rssKb(worker);
    assert.ok(during - before < 24 * 1024, `the worker grew by ${during - before} KiB while the client did not read`);
    assert.ok(st.bytes < 40 * 1024 * 1024, `only what fits in the socket buffers left: ${st.bytes}`);
    st.sock.resume();
    await pollUntil(() => st.ended, { timeout: 60000, what: 'the end of the stream' });
    const head = st.head.indexOf('\r\n\r\n') + 4;
    // n chunks of "<hex size>\r\n" + data + "\r\n", and the last chunk
    const framing = n * ((size).toString(16).length + 4) + 5;
    assert.equal(st.bytes - head, n * size + framing);
    assert.ok(rssKb(worker) - before < 24 * 1024);
  });

  test('a client that goes away: write() returns nil, "closed" and the function stops', async () => {
    const mark = srv.mark();
    const st = counter(srv.port, 'GET /stream?n=100000&size=65536 HTTP/1.1\r\nHost: x\r\n\r\n');
    await pollUntil(() => st.bytes > 1024 * 1024, { what: 'a first MiB' });
    st.sock.destroy();
    const line = await srv.waitForLine((l) => /stream cut after \d+/.test(l), { from: mark, timeout: 5000 });
    const written = Number(/stream cut after (\d+)/.exec(line)[1]);
    assert.ok(written < 100000, `the writer stopped at chunk ${written}`);
  });

  test('a client that stops reading for good is cut after --idle-timeout-ms', async () => {
    const mark = srv.mark();
    const st = counter(srv.port, 'GET /stream?n=100000&size=65536 HTTP/1.1\r\nHost: x\r\n\r\n');
    await pollUntil(() => st.bytes > 0, { what: 'first bytes' });
    st.sock.pause();
    await srv.waitForLine((l) => /stream cut after \d+/.test(l), { from: mark, timeout: 8000 });
    st.sock.destroy();
  });
});

describe('send_file', () => {
  let srv;
  before(async () => { srv = await startServer({ app: FIXTURE }); });
  after(() => srv?.stop());

  test('a file the function chose, with its type, validators and the headers set before', async () => {
    let r = await srv.fetch('/report');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('content-type'), 'text/csv; charset=utf-8');
    assert.equal(await r.text(), 'a,b\n1,2\n');
    const etag = r.headers.get('etag');
    r = await srv.fetch('/report', { headers: { 'if-none-match': etag } });
    assert.equal(r.status, 304);
    r = await srv.fetch('/download/hello.txt', { headers: { range: 'bytes=6-11' } });
    assert.equal(r.status, 206);
    assert.equal(await r.text(), 'static');
    assert.equal(r.headers.get('x-chosen'), 'yes');
    assert.match(r.headers.get('content-disposition'), /^attachment; filename="hello.txt"/);
  });

  test('beneath its directory whatever the param holds: no way out', async () => {
    const fixtureSecret = fs.readFileSync(path.join(FIXTURE, 'private/secret.txt'), 'utf8');
    for (const target of ['/download/..%2fprivate%2fsecret.txt', '/download/%2e%2e%2fprivate%2fsecret.txt',
      '/download/%2fetc%2fpasswd', '/download/sub/..%2f..%2fprivate%2fsecret.txt', '/download/nope.txt',
      '/download/sub']) {
      const r = await rawRequest(srv.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      const res = r.responses[0];
      assert.ok([400, 404].includes(res.status), `${target}: ${res.status}`);
      assert.ok(!res.text.includes(fixtureSecret.trim()) && !res.text.includes('root:'), `${target}: ${res.text}`);
    }
    const nf = await srv.fetch('/download/nope.txt');
    assert.equal((await nf.json()).message, 'file not found: nope.txt');
  });
});

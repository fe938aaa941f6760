// Limits and timeouts: 431, 413 (length and chunked), 414, parse errors, header/body/idle timeouts, slowloris; the server keeps answering.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, RawConn, rawRequest, httpRequest, parseResponses, delay } from './lib/server.mjs';

/** The server still answers on a fresh connection. */
async function assertAlive(srv) {
  const r = await httpRequest(srv.port, { path: '/hello', agent: false, timeout: 5000 });
  assert.equal(r.status, 200, 'server still answers');
  assert.deepEqual(r.json(), { message: 'hello' });
}

function errorStatus(r, status) {
  assert.ok(r.responses.length >= 1, `a response (got ${JSON.stringify(r.text.slice(0, 300))})`);
  assert.equal(r.responses[0].status, status, r.text.slice(0, 300));
  return r.responses[0];
}

/** Send `total` bytes of chunked body in 64 KiB chunks, stopping as soon as a response arrives. */
async function sendChunkedUntilAnswer(c, total) {
  const chunk = Buffer.alloc(65536, 0x61);
  const frame = Buffer.concat([Buffer.from(`${chunk.length.toString(16)}\r\n`), chunk, Buffer.from('\r\n')]);
  let sent = 0;
  while (sent < total && c.buffer.length === 0 && !c.closed) {
    try { await c.write(frame); } catch { break; }
    sent += chunk.length;
  }
  if (c.buffer.length === 0 && !c.closed) { try { await c.write('0\r\n\r\n'); } catch { /* closed */ } }
  return sent;
}

describe('size limits and parse errors (defaults)', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('a header block over 16384 bytes -> 431', async () => {
    const r = await rawRequest(srv.port, `GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
    errorStatus(r, 431);
    await assertAlive(srv);
  });

  test('many headers adding up to over 16384 bytes -> 431', async () => {
    let h = '';
    for (let i = 0; i < 200; i++) h += `X-H${i}: ${'b'.repeat(100)}\r\n`;
    const r = await rawRequest(srv.port, `GET /hello HTTP/1.1\r\nHost: t\r\n${h}\r\n`);
    errorStatus(r, 431);
    await assertAlive(srv);
  });

  test('headers under the limit are fine', async () => {
    let h = '';
    for (let i = 0; i < 10; i++) h += `X-H${i}: ${'c'.repeat(1000)}\r\n`;
    const r = await rawRequest(srv.port, `GET /hello HTTP/1.1\r\nHost: t\r\n${h}Connection: close\r\n\r\n`);
    errorStatus(r, 200);
  });

  test('Content-Length over 1048576 -> 413 PayloadTooLarge (body not sent)', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 1048577\r\n\r\n');
      const [r] = await c.responses(1);
      assert.equal(r.status, 413);
      assert.equal(r.json().name, 'PayloadTooLarge');
    } finally { c.destroy(); }
    await assertAlive(srv);
  });

  test('a body of exactly 1048576 bytes is accepted', async () => {
    const r = await httpRequest(srv.port, {
      method: 'POST', path: '/raw', agent: false,
      headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1048576, 1),
    });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json(), { size: 1048576 });
  });

  test('a chunked body growing over the limit -> 413', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n');
      await sendChunkedUntilAnswer(c, 2 * 1048576);
      const [r] = await c.responses(1, { timeout: 10000 });
      assert.equal(r.status, 413);
    } finally { c.destroy(); }
    await assertAlive(srv);
  });

  test('a URI over 8192 bytes -> 414', async () => {
    const r = await rawRequest(srv.port, `GET /files/${'a'.repeat(9000)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    errorStatus(r, 414);
    await assertAlive(srv);
  });

  test('a URI under 8192 bytes is fine', async () => {
    const seg = 'a'.repeat(7000);
    const r = await rawRequest(srv.port, `GET /files/${seg} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    const res = errorStatus(r, 200);
    assert.deepEqual(res.json(), { path: seg });
  });

  for (const [label, bytes] of [
    ['garbage request line', 'BLAH\r\n\r\n'],
    ['header line without a colon', 'GET /hello HTTP/1.1\r\nHost: t\r\nNoColonHere\r\n\r\n'],
    ['bad HTTP version', 'GET /hello HTTP/9.9x\r\nHost: t\r\n\r\n'],
    ['non-numeric Content-Length', 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n'],
    ['bad chunk size', 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n'],
    ['NUL byte in the request line', 'GET /he\0llo HTTP/1.1\r\nHost: t\r\n\r\n'],
    ['HTTP/1.1 without Host', 'GET /hello HTTP/1.1\r\n\r\n'],
    ['HTTP/1.1 with two Host headers', 'GET /hello HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n'],
    // request smuggling guards (llhttp in strict mode)
    ['chunk data not followed by CRLF', 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY0\r\n\r\n'],
    ['a space in a header name', 'GET /hello HTTP/1.1\r\nHost: t\r\nX A: b\r\n\r\n'],
    ['an empty header name', 'GET /hello HTTP/1.1\r\nHost: t\r\n: b\r\n\r\n'],
  ]) {
    test(`parse error (${label}) -> 400 then close`, async () => {
      const r = await rawRequest(srv.port, bytes, { timeout: 3000 });
      errorStatus(r, 400);
      assert.equal(r.closed, true, 'connection closed after the 400');
      await assertAlive(srv);
    });
  }

  for (const [label, bytes, status] of [
    ['HTTP/1.2', 'GET /hello HTTP/1.2\r\nHost: t\r\n\r\n', 505],
    ['HTTP/2.0 request line', 'GET /hello HTTP/2.0\r\nHost: t\r\n\r\n', 505],
    ['Transfer-Encoding: gzip, chunked', 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501],
  ]) {
    test(`${label} -> ${status} then close`, async () => {
      const r = await rawRequest(srv.port, bytes, { timeout: 3000 });
      errorStatus(r, status);
      assert.equal(r.closed, true, `connection closed after the ${status}`);
    });
  }

  test('a parse error after a good pipelined request: good answer, then 400 and close', async () => {
    const r = await rawRequest(srv.port, 'GET /hello HTTP/1.1\r\nHost: t\r\n\r\nBLAH BLAH\r\n\r\n');
    assert.equal(r.responses.length, 2, r.text);
    assert.equal(r.responses[0].status, 200);
    assert.equal(r.responses[1].status, 400);
    assert.equal(r.closed, true);
  });
});

describe('configured size limits', () => {
  let srv;
  before(async () => {
    srv = await startServer({ args: ['--max-header-size', '2048', '--max-body-size', '1000', '--max-uri-size', '256'] });
  });
  after(() => srv?.stop());

  test('--max-body-size 1000: 1000 bytes ok, 1001 -> 413', async () => {
    const ok = await httpRequest(srv.port, { method: 'POST', path: '/raw', agent: false, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1000) });
    assert.equal(ok.status, 200, ok.text);
    assert.deepEqual(ok.json(), { size: 1000 });
    const big = await httpRequest(srv.port, { method: 'POST', path: '/raw', agent: false, headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1001) });
    assert.equal(big.status, 413);
  });

  test('a chunk announced over the body limit is a 413 at once, before its bytes', async () => {
    const r = await rawRequest(srv.port, 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\n'
      + 'Transfer-Encoding: chunked\r\n\r\n3e9\r\nab', { timeout: 3000 });
    errorStatus(r, 413);
    assert.equal(r.closed, true);
  });

  test('--max-header-size 2048: 1000-byte header ok, 3000-byte header -> 431', async () => {
    const ok = await rawRequest(srv.port, `GET /hello HTTP/1.1\r\nHost: t\r\nX-A: ${'a'.repeat(1000)}\r\nConnection: close\r\n\r\n`);
    errorStatus(ok, 200);
    const big = await rawRequest(srv.port, `GET /hello HTTP/1.1\r\nHost: t\r\nX-A: ${'a'.repeat(3000)}\r\n\r\n`);
    errorStatus(big, 431);
    await assertAlive(srv);
  });

  test('--max-uri-size 256: 200-byte URI ok, 300-byte URI -> 414', async () => {
    const ok = await rawRequest(srv.port, `GET /files/${'p'.repeat(200)} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    errorStatus(ok, 200);
    const big = await rawRequest(srv.port, `GET /files/${'p'.repeat(300)} HTTP/1.1\r\nHost: t\r\n\r\n`);
    errorStatus(big, 414);
    await assertAlive(srv);
  });
});

describe('timeouts', () => {
  let srv;
  before(async () => {
    srv = await startServer({
      workers: 1,
      args: ['--header-timeout-ms', '500', '--body-timeout-ms', '500', '--idle-timeout-ms', '800'],
    });
  });
  after(() => srv?.stop());

  test('partial header -> 408 then close after the header timeout', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('GET /hello HTTP/1.1\r\nHost: t\r\n');
      assert.equal(await c.waitClose(5000), true, 'closed by the server');
      const [r] = await c.responses(1);
      assert.equal(r.status, 408);
    } finally { c.destroy(); }
    await assertAlive(srv);
  });

  test('stalled body -> 408 then close after the body timeout (logged with its method)', async () => {
    const from = srv.mark();
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 100\r\n\r\n0123456789');
      assert.equal(await c.waitClose(5000), true, 'closed by the server');
      const [r] = await c.responses(1);
      assert.equal(r.status, 408);
    } finally { c.destroy(); }
    const line = await srv.waitForLine((l) => / 408 /.test(l) && l.includes('/raw'), { from });
    assert.match(line, /POST \/raw 408 /);
    await assertAlive(srv);
  });

  test('an idle keep-alive connection is closed after the idle timeout', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('GET /hello HTTP/1.1\r\nHost: t\r\n\r\n');
      const [r] = await c.responses(1);
      assert.equal(r.status, 200);
      assert.equal(await c.waitClose(5000), true, 'closed by the server while idle');
      assert.equal(parseResponses(c.buffer, { closed: true }).responses.length, 1, `nothing but the first response: ${c.text}`);
    } finally { c.destroy(); }
    await assertAlive(srv);
  });

  test('a keep-alive connection in use is not closed by the idle timeout', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      for (let i = 1; i <= 15; i++) {
        await c.write(`GET /users/${i} HTTP/1.1\r\nHost: t\r\n\r\n`);
        await c.responses(i);
        await delay(100); // well under the 800 ms idle timeout
      }
      assert.equal(c.closed, false);
    } finally { c.destroy(); }
  });

  test('slowloris: 30 connections with partial headers do not block other requests (1 worker)', async () => {
    const conns = [];
    try {
      for (let i = 0; i < 30; i++) {
        const c = await RawConn.connect(srv.port);
        conns.push(c);
        await c.write('GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ');
      }
      for (let i = 0; i < 5; i++) await assertAlive(srv);
      const f = await srv.fetch('/users/1');
      assert.equal(f.status, 200);
      await f.arrayBuffer();
    } finally { conns.forEach((c) => c.destroy()); }
  });

  test('slowloris: trickling header bytes does not extend the header timeout', async () => {
    const c = await RawConn.connect(srv.port);
    let stop = false;
    const trickle = (async () => {
      await c.write('GET /hello HTTP/1.1\r\nHost: t\r\nX-Slow: ').catch(() => {});
      while (!stop && !c.closed) {
        await delay(100);
        await c.write('a').catch(() => {});
      }
    })();
    try {
      assert.equal(await c.waitClose(5000), true, 'closed within 5 s although bytes keep coming every 100 ms (header timeout 500 ms)');
    } finally {
      stop = true;
      await trickle;
      c.destroy();
    }
    await assertAlive(srv);
  });
});

describe('out of file descriptors', () => {
  test('running out is logged (once a second at most) and the worker serves again when fds free up', async () => {
    const srv = await startServer({ workers: 1, limitFiles: 64 });
    const conns = [];
    try {
      const from = srv.mark();
      for (let i = 0; i < 90; i++) conns.push(await RawConn.connect(srv.port).catch(() => null));
      const line = await srv.waitForLine((l) => /warn: out of file descriptors/.test(l), { from, timeout: 5000 });
      assert.match(line, /limit of 64 \(ulimit -n\)/);
      for (const c of conns) c?.destroy();
      await delay(200);
      await assertAlive(srv);
    } finally {
      for (const c of conns) c?.destroy();
      await srv.stop();
    }
  });
});

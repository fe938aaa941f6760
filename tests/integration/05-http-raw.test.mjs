// HTTP/1.x over raw sockets: keep-alive, pipelining, chunked request bodies, Expect 100-continue, HTTP/1.0, HEAD.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, RawConn, rawRequest, parseResponses, delay } from './lib/server.mjs';

const get = (p, extra = '') => `GET ${p} HTTP/1.1\r\nHost: t\r\n${extra}\r\n`;

function checkHeaders(r) {
  assert.ok(r.headers.date, 'Date');
  assert.match(r.headers.server ?? '', /^pikku\//, 'Server');
  assert.equal(r.headers['transfer-encoding'], undefined, 'not chunked');
}

describe('raw HTTP/1.1', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('keep-alive: several requests on one connection', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      for (let i = 1; i <= 5; i++) {
        await c.write(get(`/users/${i}`));
        const rs = await c.responses(i);
        const r = rs[i - 1];
        assert.equal(r.status, 200);
        assert.equal(r.httpVersion, 'HTTP/1.1');
        checkHeaders(r);
        assert.notEqual((r.headers.connection ?? '').toLowerCase(), 'close');
        assert.deepEqual(r.json(), { id: String(i), name: `user${i}` });
      }
      assert.equal(c.closed, false, 'connection still open');
    } finally { c.destroy(); }
  });

  test('pipelining: 3 requests in one write are answered in order', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(get('/users/1') + get('/hello') + get('/users/3'));
      const rs = await c.responses(3);
      assert.equal(rs.length, 3);
      assert.deepEqual(rs[0].json(), { id: '1', name: 'user1' });
      assert.deepEqual(rs[1].json(), { message: 'hello' });
      assert.deepEqual(rs[2].json(), { id: '3', name: 'user3' });
      assert.equal(c.closed, false);
    } finally { c.destroy(); }
  });

  test('pipelining keeps order when an earlier request is slower', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(get('/sleep?ms=200') + get('/hello') + get('/missing'));
      const rs = await c.responses(3);
      assert.equal(Number(rs[0].json().slept), 200);
      assert.deepEqual(rs[1].json(), { message: 'hello' });
      assert.equal(rs[2].status, 404);
    } finally { c.destroy(); }
  });

  test('pipelined POSTs with bodies', async () => {
    const post = (name) => {
      const b = JSON.stringify({ name });
      return `POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
    };
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(post('a') + post('bb') + post('ccc'));
      const rs = await c.responses(3);
      assert.deepEqual(rs.map((r) => r.json().name), ['a', 'bb', 'ccc']);
    } finally { c.destroy(); }
  });

  test('after a response over 256 KiB the connection reads the next request', async () => {
    const body = JSON.stringify({ big: 'x'.repeat(300000) });
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(`POST /echo-data HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
      const [big] = await c.responses(1, { timeout: 10000 });
      assert.equal(big.status, 200);
      await c.write(get('/hello'));
      const rs = await c.responses(2, { timeout: 5000 });
      assert.equal(rs[1].status, 200);
      assert.deepEqual(rs[1].json(), { message: 'hello' });
    } finally { c.destroy(); }
  });

  test('pipelined requests whose answers pass 256 KiB are all answered, and the next one too', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(get('/users/1').repeat(3000));
      await c.responses(3000, { timeout: 15000 });
      await c.write(get('/users/2'));
      const rs = await c.responses(3001, { timeout: 5000 });
      assert.deepEqual(rs[3000].json(), { id: '2', name: 'user2' });
    } finally { c.destroy(); }
  });

  test('a fragment in the request target is not part of the path or the query', async () => {
    const r = await rawRequest(srv.port, get('/users/7#frag', 'Connection: close\r\n') );
    assert.deepEqual(r.responses[0].json(), { id: '7', name: 'user7' });
    const q = await rawRequest(srv.port, get('/echo-data?a=1#b=2', 'Connection: close\r\n'));
    assert.deepEqual(q.responses[0].json(), { data: { a: '1' } });
  });

  test('a request pipelined after Connection: close is not answered', async () => {
    const r = await rawRequest(srv.port, get('/hello', 'Connection: close\r\n') + get('/users/1'));
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.closed, true);
  });

  test('bytes after Connection: close get no answer, also after answers the core writes itself', async () => {
    for (const [req, status] of [[get('/_pikku/health', 'Connection: close\r\n'), 200], [get('/no/such', 'Connection: close\r\n'), 404],
      [`OPTIONS /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, 204]]) {
      const r = await rawRequest(srv.port, req + 'NOT HTTP AT ALL\r\n\r\n');
      assert.equal(r.responses.length, 1, r.text);
      assert.equal(r.responses[0].status, status, r.text);
      assert.equal(r.closed, true);
    }
  });

  test('OPTIONS * -> 204 with the methods the server knows', async () => {
    const r = await rawRequest(srv.port, 'OPTIONS * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 204, r.text);
    assert.match(r.text, /\r\nAllow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n/);
  });

  test('a request split across many small writes', async () => {
    const req = get('/users/99');
    const parts = [];
    for (let i = 0; i < req.length; i += 3) parts.push(req.slice(i, i + 3));
    const c = await RawConn.connect(srv.port);
    try {
      for (const p of parts) { await c.write(p); await delay(2); }
      const [r] = await c.responses(1);
      assert.deepEqual(r.json(), { id: '99', name: 'user99' });
    } finally { c.destroy(); }
  });

  test('chunked request body', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n');
      await c.write('5\r\n{"nam\r\n');
      await delay(20);
      await c.write('a\r\ne":"chunk"\r\n');
      await delay(20);
      await c.write('1\r\n}\r\n0\r\n\r\n');
      const [r] = await c.responses(1);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { name: 'chunk' });
      // the connection stays usable
      await c.write(get('/hello'));
      const rs = await c.responses(2);
      assert.deepEqual(rs[1].json(), { message: 'hello' });
    } finally { c.destroy(); }
  });

  test('chunked request body with chunk extensions and trailers, to /raw', async () => {
    const body = 'POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n'
      + '10;ext=1\r\n0123456789abcdef\r\n' + '4\r\nwxyz\r\n' + '0\r\nX-Trailer: t\r\n\r\n';
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(body);
      const [r] = await c.responses(1);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { size: 20 });
    } finally { c.destroy(); }
  });

  test('Expect: 100-continue gets 100 Continue before the body is sent', async () => {
    const b = JSON.stringify({ name: 'continued' });
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(`POST /echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\nExpect: 100-continue\r\n\r\n`);
      await c.until((buf) => buf.toString('latin1').includes('\r\n\r\n'), 5000, '100 Continue');
      assert.match(c.text, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
      await c.write(b);
      await c.responses(1); // the final (non-1xx) response
      const all = parseResponses(c.buffer).responses;
      assert.equal(all[0].status, 100);
      const final = all.find((r) => r.status >= 200);
      assert.equal(final.status, 200, final.text);
      assert.deepEqual(final.json(), { name: 'continued' });
    } finally { c.destroy(); }
  });

  test('Expect: 100-continue with a Content-Length over the limit -> 413 without 100', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('POST /raw HTTP/1.1\r\nHost: t\r\nContent-Type: application/octet-stream\r\nContent-Length: 5000000\r\nExpect: 100-continue\r\n\r\n');
      await c.responses(1);
      const all = parseResponses(c.buffer).responses;
      assert.equal(all[0].status, 413, c.text);
      assert.equal(all.some((r) => r.status === 100), false);
      assert.equal(all[0].json().name, 'PayloadTooLarge');
    } finally { c.destroy(); }
  });

  test('HTTP/1.0 request: response then close', async () => {
    const r = await rawRequest(srv.port, 'GET /hello HTTP/1.0\r\nHost: t\r\n\r\n', { timeout: 3000 });
    assert.equal(r.closed, true, 'connection closed');
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 200);
    assert.deepEqual(r.responses[0].json(), { message: 'hello' });
    checkHeaders(r.responses[0]);
    assert.ok(r.responses[0].headers['content-length'] !== undefined);
  });

  test('HTTP/1.0 with Connection: keep-alive stays open', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write('GET /hello HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n');
      const [r1] = await c.responses(1);
      assert.equal(r1.status, 200);
      assert.match(r1.headers.connection ?? '', /keep-alive/i);
      assert.equal(await c.waitClose(300), false, 'still open');
      await c.write('GET /users/5 HTTP/1.0\r\nHost: t\r\nConnection: keep-alive\r\n\r\n');
      const rs = await c.responses(2);
      assert.deepEqual(rs[1].json(), { id: '5', name: 'user5' });
    } finally { c.destroy(); }
  });

  test('HTTP/1.1 Connection: close -> response with Connection: close, then close', async () => {
    const r = await rawRequest(srv.port, get('/hello', 'Connection: close\r\n'));
    assert.equal(r.closed, true);
    assert.equal(r.responses.length, 1);
    assert.match(r.responses[0].headers.connection ?? '', /close/i);
  });

  test('HEAD: headers of GET, no body (pipelined with a GET to prove no stray bytes)', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(`HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n` + get('/hello'));
      const rs = await c.responses(2, { methods: ['HEAD', 'GET'] });
      assert.equal(rs[0].status, 200);
      assert.equal(rs[0].body.length, 0);
      assert.equal(rs[0].headers['content-length'], rs[1].headers['content-length']);
      assert.equal(rs[0].headers['content-type'], rs[1].headers['content-type']);
      assert.deepEqual(rs[1].json(), { message: 'hello' });
      await delay(100);
      // nothing beyond the two responses
      const again = parseResponses(c.buffer, { methods: ['HEAD', 'GET'] });
      assert.equal(again.rest.length, 0, 'no stray bytes after the responses');
    } finally { c.destroy(); }
  });

  test('HEAD on a POST-only route -> 405', async () => {
    const r = await rawRequest(srv.port, `HEAD /echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`, { methods: ['HEAD'] });
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 405);
    assert.equal(r.responses[0].body.length, 0);
  });

  test('request headers are case-insensitive', async () => {
    const b = '{"name":"ci"}';
    const c = await RawConn.connect(srv.port);
    try {
      await c.write(`POST /echo HTTP/1.1\r\nhOsT: t\r\ncontent-TYPE: application/json\r\nCONTENT-LENGTH: ${b.length}\r\n\r\n${b}`);
      const [r] = await c.responses(1);
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json(), { name: 'ci' });
    } finally { c.destroy(); }
  });

  test('many keep-alive requests on one connection', async () => {
    const c = await RawConn.connect(srv.port);
    try {
      const n = 200;
      let batch = '';
      for (let i = 0; i < n; i++) batch += get(`/users/${i}`);
      await c.write(batch);
      const rs = await c.responses(n, { timeout: 10000 });
      rs.forEach((r, i) => assert.equal(r.json().id, String(i)));
    } finally { c.destroy(); }
  });
});

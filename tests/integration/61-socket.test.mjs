// pikku.socket: a driver written for OpenResty's cosockets (RESP, in the fixture) runs unchanged; patterns, TLS, keepalive.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';
import { backends } from './lib/backends.mjs';
import { startHttpTarget, startHttpsTarget, makeTestCA } from './lib/targets.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'cosocket');

describe('cosocket-style sockets (one worker)', () => {
  let srv, target, tls, ca, servers;
  const get = async (p) => { const r = await srv.fetch(p); assert.equal(r.status, 200, p); return r.json(); };

  before(async () => {
    servers = backends();
    target = await startHttpTarget();
    ca = makeTestCA();
    tls = await startHttpsTarget(ca);
    srv = await startServer({ app: APP, workers: 1, env: {
      ...servers.env, TARGET_URL: target.url, TLS_TARGET_URL: tls.url, TEST_CA_FILE: ca.ca,
    } });
  });
  after(async () => {
    await srv?.stop();
    await target?.close();
    await tls?.close();
    ca?.remove();
    servers?.stop();
  });

  test('a RESP driver for ngx.socket.tcp talks to redis-server; setkeepalive pools the connection', async () => {
    assert.deepEqual(await get('/resp?key=a&value=hello'), { value: 'hello', missing: true, reused: 0, keepalive: 1 });
    assert.deepEqual(await get('/resp?key=a&value=again'), { value: 'again', missing: true, reused: 1, keepalive: 1 });
  });

  test('a read timeout and a refused connection come back as nil, err', async () => {
    assert.deepEqual(await get('/resp/timeout'), { err: 'timeout' });
    assert.deepEqual(await get('/refused'), { err: 'connection refused' });
  });

  test('receiveuntil, receive(n), "*a"; TLS with sslhandshake and certificate checks', async () => {
    assert.deepEqual(await get('/raw'), { head: '200', body: 'hello from target' });
    assert.deepEqual(await get('/chunks'), { parts: true, head_starts: 'HTTP/1.', first5: 'hello', rest: ' from target' });
    assert.deepEqual(await get('/raw?tls=1'), { head: '200', body: 'hello from target' });
    assert.deepEqual(await get('/raw?tls=1&name=localhost'), { head: '200', body: 'hello from target' });
    const wrong = await get('/raw?tls=1&name=wrong.example');
    assert.match(wrong.err, /certificate verify failed: hostname mismatch/);
  });

  test('100 concurrent driver calls on one worker', async () => {
    const all = await Promise.all(Array.from({ length: 100 }, (_, i) => get(`/resp?key=k${i}&value=v${i}`)));
    all.forEach((r, i) => assert.equal(r.value, `v${i}`));
  });
});

// Async handlers: /sleep must not block other requests on the same worker (--workers 1).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, RawConn } from './lib/server.mjs';

describe('async sleep with one worker', () => {
  let srv;
  before(async () => { srv = await startServer({ workers: 1 }); });
  after(() => srv?.stop());

  test('a /sleep in flight does not block /hello', async () => {
    const order = [];
    const sleeping = srv.fetch('/sleep?ms=1000').then(async (r) => {
      const body = await r.json();
      order.push('sleep');
      return { status: r.status, body };
    });
    // make sure the sleep request is on its way first
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 5; i++) {
      const r = await srv.fetch('/hello');
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { message: 'hello' });
    }
    order.push('hello');
    const s = await sleeping;
    assert.equal(s.status, 200);
    assert.equal(Number(s.body.slept), 1000);
    assert.deepEqual(order, ['hello', 'sleep'], 'five /hello answered while /sleep was still pending');
  });

  test('20 concurrent sleeps finish in about one sleep time', async () => {
    const ms = 400;
    const t0 = Date.now();
    const results = await Promise.all(Array.from({ length: 20 }, () => srv.fetch(`/sleep?ms=${ms}`)
      .then(async (r) => ({ status: r.status, body: await r.json() }))));
    const elapsed = Date.now() - t0;
    for (const r of results) {
      assert.equal(r.status, 200);
      assert.equal(Number(r.body.slept), ms);
    }
    assert.ok(elapsed >= ms, `not faster than one sleep (${elapsed} ms)`);
    assert.ok(elapsed < 5 * ms, `20 concurrent sleeps of ${ms} ms took ${elapsed} ms (sequential would be ${20 * ms})`);
  });

  test('a client that disconnects during a sleep does not break the worker', async () => {
    const conns = [];
    for (let i = 0; i < 10; i++) {
      const c = await RawConn.connect(srv.port);
      await c.write('GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n');
      conns.push(c);
    }
    await new Promise((r) => setTimeout(r, 50));
    conns.forEach((c) => c.destroy());
    await new Promise((r) => setTimeout(r, 500)); // let the timers fire on closed connections
    const r = await srv.fetch('/hello');
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    const s = await srv.fetch('/sleep?ms=10');
    assert.equal(s.status, 200);
    await s.arrayBuffer();
  });
});

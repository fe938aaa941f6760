// Async handlers (a waiting call blocks no other on one worker), and calls without a wire sharing nothing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, startInlineApp, RawConn } from './lib/server.mjs';

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

// A call that waits lets the worker serve other requests meanwhile: every answer must still reach
// its own request, on its own connection and in its order there (docs/benchmarks.md, "Stop 17").
describe('calls that wait and calls that do not, on one worker', () => {
  const APP = [
    'local pikku = require "pikku"',
    'pikku.wire_http { method = "get", route = "/n/:n", func = function(services, data)',
    '  local ms = tonumber(data.ms) or 0',
    '  if ms > 0 then services.sleep(ms) end',
    '  return { n = data.n, slept = ms } end }',
    'pikku.wire_http { method = "get", route = "/twice", func = function(services)',
    '  services.sleep(5) services.sleep(5) return { twice = true } end }',
    'pikku.wire_http { method = "get", route = "/raw-yield", func = function()',
    '  coroutine.yield() return { never = true } end }',
    'pikku.wire_http { method = "get", route = "/raw-yield-value", func = function()',
    '  coroutine.yield("x") return { never = true } end }',
    'pikku.wire_http { method = "get", route = "/fails", func = function() error("it failed") end }',
  ];
  let srv;
  before(async () => { srv = await startInlineApp(APP, { workers: 1 }); });
  after(() => srv?.stop());

  test('every answer goes to its own request, in any mix of waiting and not', async () => {
    const paths = Array.from({ length: 120 }, (_, i) => {
      const kind = i % 4;
      if (kind === 0) return { n: i, p: `/n/${i}?ms=${(i * 7) % 40 + 1}` };
      if (kind === 1) return { n: i, p: '/twice' };
      if (kind === 2 && i % 8 === 2) return { n: i, p: '/fails' };
      return { n: i, p: `/n/${i}` };
    });
    const results = await Promise.all(paths.map(async ({ n, p }) => {
      const r = await srv.fetch(p);
      return { n, p, status: r.status, body: await r.json() };
    }));
    for (const { n, p, status, body } of results) {
      if (p === '/twice') { assert.equal(status, 200, p); assert.deepEqual(body, { twice: true }); continue; }
      if (p === '/fails') { assert.equal(status, 500, p); assert.equal(body.name, 'InternalServerError'); continue; }
      assert.equal(status, 200, p);
      assert.equal(body.n, String(n), `${p} answered with another request's data`);
    }
  });

  test('pipelined on one connection: a waiting call first, then calls that do not wait', async () => {
    const c = await RawConn.connect(srv.port);
    await c.write('GET /n/1?ms=50 HTTP/1.1\r\nHost: t\r\n\r\nGET /n/2 HTTP/1.1\r\nHost: t\r\n\r\n'
      + 'GET /twice HTTP/1.1\r\nHost: t\r\n\r\nGET /n/3 HTTP/1.1\r\nHost: t\r\n\r\n');
    const rs = await c.responses(4);
    assert.deepEqual(rs.map((r) => r.status), [200, 200, 200, 200]);
    assert.deepEqual(rs.map((r) => JSON.parse(r.body.toString())),
      [{ n: '1', slept: 50 }, { n: '2', slept: 0 }, { twice: true }, { n: '3', slept: 0 }]);
    c.destroy();
  });

  test('a function that yields by itself gets a 500 with the reason logged, and the worker goes on', async () => {
    for (const p of ['/raw-yield', '/raw-yield-value', '/raw-yield']) {
      const mark = srv.mark();
      const r = await srv.fetch(p);
      assert.equal(r.status, 500, p);
      const body = await r.json();
      assert.equal(body.name, 'InternalServerError');
      assert.ok(body.errorId, 'an errorId to find the log line by');
      await srv.waitForLine((l) => l.includes('yielded outside a pikku service'), { from: mark });
      const ok = await srv.fetch('/n/7');
      assert.equal(ok.status, 200);
      assert.deepEqual(await ok.json(), { n: '7', slept: 0 });
    }
  });
});

// A call whose function takes no wire leaves its request object to the next such request
// (pikku.http M.release): nothing one call set may reach another's answer.
describe('calls without a wire, one after the other', () => {
  const APP = [
    'local pikku = require "pikku"',
    'pikku.cors { origins = { "https://a.example" } }',
    'pikku.wire_http { method = "get", route = "/plain", func = function() return { plain = true } end }',
    'pikku.wire_http { method = "get", route = "/item/:id", func = function(_, data) return { id = data.id } end }',
    'pikku.wire_http { method = "post", route = "/echo", func = function(_, data) return { got = data.v } end }',
    'pikku.wire_http { method = "get", route = "/logs", func = function(services)',
    '  services.logger.info("a line of /logs") return { logged = true } end }',
    'pikku.wire_http { method = "get", route = "/fails", func = function() error("it failed") end }',
    // a nested call's session becomes the caller's: on the wire a service made for it
    'pikku.func { name = "login", auth = false, func = function(_, data, wire)',
    '  wire.set_session({ user = data.user }) return { in_as = data.user } end }',
    'pikku.func { name = "whoami", auth = false, func = function(_, _, wire)',
    '  return { session = wire.session or pikku.json.null } end }',
    'pikku.wire_http { method = "get", route = "/login/:user", func = function(services, data)',
    '  return services.rpc.invoke("login", { user = data.user }) end }',
    'pikku.wire_http { method = "get", route = "/whoami/:x", func = function(services)',
    '  return services.rpc.invoke("whoami", {}) end }',
  ];
  let srv;
  before(async () => { srv = await startInlineApp(APP, { workers: 1 }); });
  after(() => srv?.stop());

  test('a session set on the wire a service made is not the next call\'s', async () => {
    const r = await srv.fetch('/login/ada');
    assert.deepEqual(await r.json(), { in_as: 'ada' });
    for (let i = 0; i < 3; i++) {
      const w = await srv.fetch(`/whoami/${i}`);
      assert.deepEqual(await w.json(), { session: null }, 'a later call saw the session /login set');
    }
  });

  test('CORS headers follow each request\'s own Origin', async () => {
    for (const p of ['/plain', '/item/1']) {
      const a = await srv.fetch(p, { headers: { Origin: 'https://a.example' } });
      assert.equal(a.headers.get('access-control-allow-origin'), 'https://a.example', p);
      await a.arrayBuffer();
      const b = await srv.fetch(p);
      assert.equal(b.status, 200);
      assert.equal(b.headers.get('access-control-allow-origin'), null, `${p} without Origin`);
      await b.arrayBuffer();
    }
  });

  test('the errorId of one call\'s log line is not the next call\'s', async () => {
    const mark = srv.mark();
    const r = await srv.fetch('/logs');
    assert.deepEqual(await r.json(), { logged: true });
    const line = await srv.waitForLine((l) => l.includes('a line of /logs'), { from: mark });
    const logged = /errorId=([0-9a-f]+)/.exec(line)?.[1];
    assert.ok(logged, line);
    const ids = [];
    for (let i = 0; i < 3; i++) {
      const f = await srv.fetch('/fails');
      assert.equal(f.status, 500);
      ids.push((await f.json()).errorId);
    }
    assert.ok(!ids.includes(logged), `a later call answered with /logs' errorId ${logged}`);
    assert.equal(new Set(ids).size, 3, `one errorId per failed call: ${ids}`);
  });

  test('params, query and body are each request\'s own', async () => {
    for (let i = 0; i < 20; i++) {
      const g = await srv.fetch(`/item/${i}`);
      assert.deepEqual(await g.json(), { id: String(i) });
      const p = await srv.fetch('/echo', { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: i % 2 ? JSON.stringify({ v: i }) : '{}' });
      assert.deepEqual(await p.json(), i % 2 ? { got: i } : {});
      const q = await srv.fetch(`/echo?v=q${i}`, { method: 'POST' });
      assert.deepEqual(await q.json(), { got: `q${i}` });
    }
  });
});

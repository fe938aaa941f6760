// Outbound calls from functions against real servers: HTTP(S) targets started here, redis-server, PostgreSQL 15.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import { startServer, REPO_ROOT, freePort, RawConn, delay } from './lib/server.mjs';
import { backends, OwnRedis } from './lib/backends.mjs';
import { startHttpTarget, startHttpsTarget, startHttp2Target, startProxy, makeTestCA, stats } from './lib/targets.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'outbound');

describe('outbound calls (one worker)', () => {
  let srv, target, tls, ca, servers, own;
  const get = async (p) => { const r = await srv.fetch(p); return { status: r.status, body: await r.json() }; };
  const post = async (p, body) => {
    const r = await srv.fetch(p, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: r.status, body: await r.json() };
  };

  before(async () => {
    servers = backends();
    target = await startHttpTarget();
    ca = makeTestCA();
    tls = await startHttpsTarget(ca);
    own = await new OwnRedis(await freePort()).start();
    srv = await startServer({ app: APP, workers: 1, env: {
      ...servers.env, TARGET_URL: target.url, TLS_TARGET_URL: tls.url, TEST_CA_FILE: ca.ca, OWN_REDIS_URL: own.url,
    } });
    assert.equal((await get('/pg/setup')).status, 200);
  });
  after(async () => {
    await srv?.stop();
    await own?.stop();
    await target?.close();
    await tls?.close();
    ca?.remove();
    servers?.stop();
  });

  test('200 concurrent chains of HTTP, Redis and PostgreSQL calls (300 ms each) overlap; /hello stays fast', async () => {
    const t0 = Date.now();
    const chains = Array.from({ length: 200 }, () => get('/chain?ms=300'));
    await delay(100);
    const h0 = Date.now();
    for (let i = 0; i < 5; i++) assert.equal((await get('/hello')).status, 200);
    const helloMs = Date.now() - h0;
    const results = await Promise.all(chains);
    const elapsed = Date.now() - t0;
    for (const r of results) assert.deepEqual(r, { status: 200, body: { http: 200, redis: 'timeout', pg: 42 } });
    assert.ok(elapsed >= 900, `each chain waits 3 x 300 ms (${elapsed} ms)`);
    assert.ok(elapsed < 10000, `200 chains took ${elapsed} ms; one after the other would be ${200 * 900} ms`);
    assert.ok(helloMs < 2000, `5 /hello took ${helloMs} ms while the chains waited`);
  });

  test('HTTP: a response, the JSON helper, a redirect followed', async () => {
    assert.deepEqual((await get('/http')).body, { ok: true, value: { status: 200, body: 'hello from target', ctype: 'text/plain' } });
    const j = await post('/http/json', { n: 3 });
    assert.deepEqual(j.body, { status: 200, json: { method: 'POST', body: { n: 3, list: [1, 2] }, type: 'application/json' } });
    assert.equal((await get('/http?path=/redirect')).body.value.status, 302);
    assert.equal((await get('/http?path=/redirect&follow=1')).body.value.body, 'hello from target');
    assert.equal((await get('/http?path=/status%3Fcode%3D503')).body.value.status, 503, 'any status is returned, not raised');
  });

  test('HTTP failures raise catchable errors of each kind', async () => {
    const kind = async (p) => (await get(p)).body;
    let e = await kind('/http?path=/delay%3Fms%3D2000&timeout_ms=150');
    assert.equal(e.kind, 'timeout'); assert.equal(e.status, 504);
    e = await kind('/http?url=http://127.0.0.1:1/');
    assert.equal(e.kind, 'refused'); assert.equal(e.status, 502);
    e = await kind('/http?url=http://no-such-host.invalid/');
    assert.equal(e.kind, 'dns');
    e = await kind('/http?path=/big%3Fn%3D5000&max_body=1000');
    assert.equal(e.kind, 'too_large', 'over max_body by Content-Length');
    e = await kind('/http?path=/big%3Fn%3D500000%26chunked%3D1&max_body=100000');
    assert.equal(e.kind, 'too_large', 'over max_body while streaming');
    assert.equal((await kind('/http?path=/big%3Fn%3D1000&max_body=1000')).ok, true, 'exactly max_body is fine');
  });

  test('HTTPS: certificates are checked; the test CA makes it pass', async () => {
    const bad = (await get('/tls')).body;
    assert.equal(bad.ok, false);
    assert.equal(bad.kind, 'tls');
    assert.match(bad.message, /certificate/);
    assert.deepEqual((await get('/tls?ca=1')).body, { ok: true, value: { status: 200, body: 'hello from target' } });
    assert.equal((await get('/tls?ca=1&host=localhost')).body.ok, true);
  });

  test('Redis: commands, nil, pipelines, MULTI/EXEC, error replies, a timeout', async () => {
    const r = (await get(`/redis?key=t${Date.now()}`)).body;
    assert.deepEqual(r, { ok: true, value: { v: 'v', n: 1, missing: true, piped: ['OK', 6, '6', 1], tx: ['OK', 'a'], arr_null: true } });
    const e = (await get('/redis/error')).body;
    assert.equal(e.kind, 'redis');
    assert.match(e.message, /WRONGTYPE/);
    const t = (await get('/redis/slow?timeout_ms=150')).body;
    assert.equal(t.kind, 'timeout');
  });

  test('Redis restarted under load: calls fail clearly, then succeed again', async () => {
    assert.equal((await get('/own/incr')).body.ok, true);
    const seen = [];   // [start time, ok, kind, message] of every call, from 4 loops of calls
    let stop = false;
    const loops = Array.from({ length: 4 }, async () => {
      while (!stop) {
        const t = Date.now();
        const r = await get('/own/incr');
        assert.equal(r.status, 200, 'the function caught the failure');
        seen.push([t, r.body.ok, r.body.kind, r.body.message]);
      }
    });
    await delay(300);
    const down = Date.now();
    await own.stop();
    await delay(500);
    await own.start();
    const up = Date.now();
    await delay(800);
    stop = true;
    await Promise.all(loops);
    const failed = seen.filter(([, ok]) => !ok);
    assert.ok(failed.length > 0, 'calls failed while Redis was down');
    for (const [, , kind] of failed) assert.ok(['closed', 'refused', 'timeout'].includes(kind), kind);
    assert.ok(seen.filter(([t, ok]) => ok && t < down).length > 0, 'calls succeeded before');
    assert.ok(seen.filter(([t, ok]) => ok && t > up).length > 10, 'and succeed again after the restart');
    assert.deepEqual(seen.filter(([t, ok]) => !ok && t > up + 100).map(([t, , k, m]) => [t - up, k, m]), [],
      'no call started once it is back fails');
  });

  test('PostgreSQL: types, a constraint violation is catchable, a failed transaction leaves nothing', async () => {
    const a = await post('/pg/items', { name: 'apple', price: 1.5, n: 7, ok: true, meta: { tags: ['x'] } });
    assert.equal(a.body.ok, true);
    assert.deepEqual({ ...a.body.value, id: 0 }, { id: 0, name: 'apple', price: 1.5, n: 7, ok: true, meta: { tags: ['x'] } });
    const dup = await post('/pg/items', { name: 'apple' });
    assert.equal(dup.status, 200);
    assert.equal(dup.body.kind, 'pg');
    assert.equal(dup.body.code, '23505');
    assert.match(dup.body.message, /unique/);
    const rolled = await post('/pg/tx', { first: 'tx1', second: 'tx2', fail: true });
    assert.equal(rolled.body.ok, false);
    const violated = await post('/pg/tx', { first: 'tx3', second: 'apple' });
    assert.equal(violated.body.code, '23505');
    const committed = await post('/pg/tx', { first: 'tx4', second: 'tx5' });
    assert.deepEqual(committed.body, { ok: true, value: 'committed' });
    const names = (await get('/pg/items')).body.map((r) => r.name);
    assert.deepEqual(names, ['apple', 'tx4', 'tx5'], 'nothing of the failed transactions is left');
  });

  test('PostgreSQL: a statement timeout, pool exhaustion waits then fails, an unreachable server', async () => {
    const slow = (await get('/pg/slow?ms=2000')).body;
    assert.equal(slow.kind, 'timeout');
    const t0 = Date.now();
    const [x, y] = await Promise.all([get('/pg/small?ms=700'), delay(50).then(() => get('/pg/small?ms=10'))]);
    assert.equal(x.body.ok, true);
    assert.equal(y.body.ok, false);
    assert.equal(y.body.kind, 'pool');
    assert.match(y.body.message, /no connection free within 200 ms/);
    assert.ok(Date.now() - t0 >= 200);
    const u = (await get('/pg/unreachable')).body;
    assert.equal(u.kind, 'refused');
    assert.match(u.message, /u:\*\*\*@127\.0\.0\.1:1/);
    assert.ok(!srv.stderrText().includes('topsecret') && !srv.stderrText().includes('pikku-test-secret'), 'no password in the logs');
  });

  test('a client that goes away mid-call: its outbound call is cancelled, nothing stays lent out', async () => {
    const aborted0 = stats.aborted;
    const conns = [];
    for (let i = 0; i < 10; i++) {
      const c = await RawConn.connect(srv.port);
      await c.write('GET /chain?ms=1000 HTTP/1.1\r\nHost: t\r\n\r\n');
      conns.push(c);
    }
    await delay(100);
    conns.forEach((c) => c.destroy());
    await delay(700);   // the core looks for clients gone every 250 ms
    assert.equal(stats.aborted - aborted0, 10, 'the 10 HTTP calls in flight were dropped (the target saw them go)');
    const from = srv.mark();
    await delay(800);
    assert.equal(srv.findLines(/GET \/chain 200/, from).length, 0, 'no abandoned call answered');
    const s = (await get('/stats')).body;
    assert.equal(s.redis.open - s.redis.idle, 0, JSON.stringify(s));
    assert.equal(s.pg.open - s.pg.idle, 0, JSON.stringify(s));
    assert.equal((await get('/chain?ms=10')).status, 200);
  });
  test('blocking made visible: a call that holds the loop is logged; a request stuck behind it is timed from its arrival', async () => {
    const from = srv.mark();
    const blocked = get('/block?ms=400');
    await delay(150);
    const hello = await get('/hello');
    assert.equal(hello.status, 200);
    await blocked;
    const warn = await srv.waitForLine(/warn: blocking: GET \/block \(wired at .*app\.lua:\d+\) held the worker's loop for \d+\.\d ms/, { from });
    assert.ok(Number(/for (\d+\.\d) ms/.exec(warn)[1]) >= 390, warn);
    const line = await srv.waitForLine(/GET \/hello 200 /, { from });
    const ms = Number(/200 ([\d.]+)ms/.exec(line)[1]);
    assert.ok(ms >= 150, `the /hello that waited behind the blocked loop is logged as ${ms} ms`);
    assert.equal(srv.findLines(/blocking: GET \/chain/, from).length, 0, 'calls that yield are not reported');
  });
  // the local ports of the worker's own TCP connections to a port in a state ('01' established,
  // '08' close-wait: the server closed it, the worker not yet): its sockets in /proc/PID/fd, their
  // ports in /proc/net/tcp
  const socketsTo = (port, state = '01') => {
    const [pid] = srv.workerPids();
    const inodes = new Set();
    for (const fd of fs.readdirSync(`/proc/${pid}/fd`)) {
      try { const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`)); if (m) inodes.add(m[1]); } catch { /* closed */ }
    }
    const hex = Number(port).toString(16).toUpperCase().padStart(4, '0');
    return fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/))
      .filter((f) => f.length > 9 && f[2].endsWith(`:${hex}`) && f[3] === state && inodes.has(f[9]))
      .map((f) => parseInt(f[1].split(':')[1], 16));
  };
  test('idle pooled connections the servers close are closed at once, not lent; the next calls open new ones', async () => {
    await Promise.all(Array.from({ length: 4 }, () => get('/chain?ms=30')));
    const { REDIS_PORT, PG_PORT } = servers.env;
    const rports = socketsTo(REDIS_PORT), pports = socketsTo(PG_PORT);
    assert.ok(rports.length >= 1 && pports.length >= 1, 'the pools hold idle connections');
    const from = srv.mark();
    // only this worker's connections: the servers are shared with the other tests
    for (const p of rports) execFileSync('redis-cli', ['-p', REDIS_PORT, 'CLIENT', 'KILL', 'ADDR', `127.0.0.1:${p}`]);
    execFileSync(path.join(servers.env.PG_BIN, 'psql'), [servers.env.DATABASE_URL, '-Atc',
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_port IN (${pports.join(',')})`]);
    const left = () => [...socketsTo(REDIS_PORT, '08'), ...socketsTo(PG_PORT, '08'),
      ...socketsTo(REDIS_PORT).filter((p) => rports.includes(p)), ...socketsTo(PG_PORT).filter((p) => pports.includes(p))];
    for (let i = 0; i < 40 && left().length; i++) await delay(50);
    assert.deepEqual(left(), [], 'the worker closed them without a call looking at them');
    for (let i = 0; i < 3; i++) assert.deepEqual((await get('/chain?ms=10')).body, { http: 200, redis: 'timeout', pg: 42 });
    assert.equal(srv.findLines(/terminating connection|FATAL/, from).length, 0, 'nothing logged');
    const s = (await get('/stats')).body;
    assert.equal(s.redis.open - s.redis.idle, 0, JSON.stringify(s));
    assert.equal(s.pg.open - s.pg.idle, 0, JSON.stringify(s));
  });
  test('a reload closes the old state\'s pools once its calls are done', async () => {
    const connsTo = (port) => socketsTo(port).length;
    const redisClients = () => connsTo(servers.env.REDIS_PORT);
    const pgClients = () => connsTo(servers.env.PG_PORT);
    await Promise.all(Array.from({ length: 5 }, () => get('/chain?ms=50')));
    assert.ok(redisClients() >= 1 && pgClients() >= 1, 'the pools hold connections');
    const from = srv.mark();
    srv.signal('SIGHUP');
    await srv.waitForLine(/reloaded app/, { from });
    for (let i = 0; i < 100 && (redisClients() > 0 || pgClients() > 0); i++) await delay(50);
    assert.equal(redisClients(), 0, 'the old state\'s Redis connections are closed');
    assert.equal(pgClients(), 0, 'the old state\'s PostgreSQL connections are closed');
    assert.equal((await get('/chain?ms=10')).status, 200, 'the new state opens its own');
  });
  test('HTTP/2 where the server offers it; connections reused across calls', async () => {
    const h2 = await startHttp2Target(ca);
    try {
      const r = (await get(`/http/version?url=${encodeURIComponent(h2.url)}`)).body;
      assert.deepEqual(r, { status: 200, version: '2', body: 'hello from target' });
    } finally { await h2.close(); }
    assert.equal((await get(`/http/version?url=${encodeURIComponent(target.url)}`)).body.version, '1.1');
    const before = stats.connections;
    for (let i = 0; i < 5; i++) assert.equal((await get('/http')).body.ok, true);
    assert.ok(stats.connections - before <= 1, `5 calls opened ${stats.connections - before} connections`);
  });

  test('proxies come from the environment (http_proxy)', async () => {
    const proxy = await startProxy();
    let psrv;
    try {
      psrv = await startServer({ app: APP, workers: 1, env: {
        ...servers.env, TARGET_URL: target.url, http_proxy: proxy.url, no_proxy: '', NO_PROXY: '',
      } });
      const before = stats.proxied;
      const r = await psrv.fetch(`/http/version?url=${encodeURIComponent(target.url)}`);
      assert.deepEqual(await r.json(), { status: 200, version: '1.1', body: 'hello from target', proxied: '1' });
      assert.equal(stats.proxied - before, 1);
    } finally {
      await psrv?.stop();
      await proxy.close();
    }
  });
});

// Abandoned calls cancel their outbound operation on the real servers: per-call time limit, drain deadline, a channel's client gone.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import WebSocket from 'ws';
import { startServer, REPO_ROOT, HOST, delay } from './lib/server.mjs';
import { backends } from './lib/backends.mjs';
import { startHangServer, operationProbes } from './lib/outbound-probes.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'cancel');

describe('abandoned calls cancel their outbound operations', () => {
  let servers, hang, srv, redisPort, db;

  // the operation `tag` on its server (lib/outbound-probes.mjs), made once the servers are up
  let probes;
  const seenRunning = (kind, tag) => probes.seenRunning(kind, tag);
  const goneWithin = (kind, tag, ms) => probes.goneWithin(kind, tag, ms, 50);
  const start = (extra = {}) => startServer({ app: APP, workers: 1, ...extra, env: {
    ...servers.env, TARGET_URL: hang.url, CANCEL_REDIS_URL: `redis://127.0.0.1:${redisPort}/${db}`, ...extra.env } });

  before(async () => {
    servers = backends();
    redisPort = Number(servers.env.REDIS_PORT);
    db = 11;   // a database of its own: the other tests' BLPOPs (database 0) are not counted
    hang = await startHangServer();
    probes = operationProbes({ env: servers.env, hang, redisPort, db });
    srv = await start();
  });
  after(async () => {
    await srv?.stop();
    await hang?.close();
    servers?.stop();
  });

  for (const kind of ['http', 'pg', 'redis']) {
    test(`per-call time limit: ${kind} — the 503 at the limit, and the operation cancelled on its server`, async () => {
      const tag = `limit_${kind}_${Date.now()}`;
      const from = srv.mark();
      const t0 = Date.now();
      const answer = srv.fetch(`/limit/${kind}?tag=${tag}`);
      await seenRunning(kind, tag);
      const res = await answer;
      const ms = Date.now() - t0;
      assert.equal(res.status, 503);
      assert.equal((await res.json()).name, 'ServiceUnavailable');
      assert.ok(ms >= 550 && ms < 2000, `the 503 came after ${ms} ms (limit 600 ms)`);
      const gone = await goneWithin(kind, tag, 1500);
      await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
      assert.ok(gone < 1500, `${kind}: gone ${gone} ms after the 503`);
      assert.equal(srv.findLines(/GET \/limit\/\S+ 503/, from).length, 1, 'one access line');
      assert.equal(srv.findLines(/ error: /, from).filter((l) => !/waited past its time limit/.test(l)).length, 0,
        srv.stderrText(from));
    });
  }

  test('a client gone mid-query: the PostgreSQL query is cancelled on the server, not only its connection closed', async () => {
    const tag = `gone_pg_${Date.now()}`;
    const from = srv.mark();
    const ac = new AbortController();
    const answer = srv.fetch(`/wait/pg?tag=${tag}`, { signal: ac.signal }).catch((e) => e);
    await seenRunning('pg', tag);
    ac.abort();
    await answer;
    const gone = await goneWithin('pg', tag, 2000);
    assert.ok(gone < 2000, `the query ended ${gone} ms after the client left`);
    await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
    await srv.waitForLine(/GET \/wait\/pg 499/, { from });
    const s = await (await srv.fetch('/stats')).json();
    assert.equal(s.pg.open - s.pg.idle, 0, JSON.stringify(s));
  });

  test('a channel message whose client disconnects: its operation is cancelled, the call unwinds, nothing logged as an error', async () => {
    const from = srv.mark();
    const tags = {};
    for (const kind of ['pg', 'http', 'redis']) {
      const tag = `chan_${kind}_${Date.now()}`;
      tags[kind] = tag;
      const ws = new WebSocket(`ws://${HOST}:${srv.port}/ws`);
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      const got = [];
      ws.on('message', (m) => got.push(String(m)));
      ws.send(JSON.stringify({ action: kind, tag }));
      await seenRunning(kind, tag);
      if (kind === 'http') ws.close(1000); else ws.terminate();   // a close handshake, or the TCP connection cut
      const gone = await goneWithin(kind, tag, 2000);
      assert.ok(gone < 2000, `${kind}: gone ${gone} ms after the client left`);
      await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
      assert.deepEqual(got, [], 'nothing was sent to the client');
    }
    // two calls of one connection waiting at once, one of them on the Lua state a reload left
    const ws2 = new WebSocket(`ws://${HOST}:${srv.port}/ws`);
    await new Promise((resolve, reject) => { ws2.once('open', resolve); ws2.once('error', reject); });
    const both = { pg: `chan2_pg_${Date.now()}`, redis: `chan2_redis_${Date.now()}` };
    ws2.send(JSON.stringify({ action: 'pg', tag: both.pg }));
    await seenRunning('pg', both.pg);
    const reloadFrom = srv.mark();
    srv.signal('SIGHUP');
    await srv.waitForLine(/reloaded app/, { from: reloadFrom });
    ws2.send(JSON.stringify({ action: 'redis', tag: both.redis }));
    await seenRunning('redis', both.redis);
    ws2.terminate();
    await goneWithin('pg', both.pg, 2000);
    await goneWithin('redis', both.redis, 2000);
    await srv.waitForLine(`outbound ${both.pg} ended: abandoned`, { from });
    await srv.waitForLine(`outbound ${both.redis} ended: abandoned`, { from });
    await delay(300);
    assert.equal(srv.findLines(/ (error|warn): /, from).length, 0, srv.stderrText(from));
    const s = await (await srv.fetch('/stats')).json();
    assert.equal(s.pg.open - s.pg.idle, 0, JSON.stringify(s));
    assert.equal(s.redis.open - s.redis.idle, 0, JSON.stringify(s));
    // the channel still works for others
    const ws = new WebSocket(`ws://${HOST}:${srv.port}/ws`);
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const reply = new Promise((resolve) => ws.once('message', (m) => resolve(JSON.parse(String(m)))));
    ws.send(JSON.stringify({ action: 'hello' }));
    assert.deepEqual(await reply, { hello: true, action: 'hello' });
    ws.close();
  });

  test('drain deadline: the calls still waiting have their operations cancelled, and are logged, before the worker exits', async () => {
    const d = await start({ args: ['--drain-timeout-ms', '1000'] });
    try {
      const tags = { pg: `drain_pg_${Date.now()}`, http: `drain_http_${Date.now()}`, redis: `drain_redis_${Date.now()}` };
      const answers = Object.entries(tags).map(([kind, tag]) => d.fetch(`/wait/${kind}?tag=${tag}`).then((r) => r.status, (e) => e));
      for (const [kind, tag] of Object.entries(tags)) await seenRunning(kind, tag);
      const job = `drain_job_${Date.now()}`;   // a job waiting on PostgreSQL: not resumed, but its query cancelled
      assert.equal((await d.fetch(`/job/pg?tag=${job}`)).status, 200);
      await seenRunning('pg', job);
      const from = d.mark();
      const t0 = Date.now();
      d.signal('SIGTERM');
      const info = await d.waitExit(6000);
      const exitMs = Date.now() - t0;
      assert.ok(info, 'the server exited');
      assert.equal(info.code, 0, d.stderrText(from));
      assert.ok(exitMs >= 900 && exitMs < 4000, `exited ${exitMs} ms after SIGTERM (drain timeout 1000 ms)`);
      // by the time the process is gone every operation is gone from its server (a little slack for
      // the servers to notice)
      assert.ok(await goneWithin('pg', tags.pg, 300) < 300);
      assert.ok(await goneWithin('http', tags.http, 300) < 300);
      assert.ok(await goneWithin('redis', tags.redis, 300) < 300);
      assert.ok(await goneWithin('pg', job, 300) < 300, 'the job\'s query too');
      assert.equal(d.findLines(`outbound ${job} ended`, from).length, 0, 'the job is not resumed');
      for (const kind of Object.keys(tags)) {
        assert.equal(d.findLines(new RegExp(`drain timeout: GET /wait/${kind}: .*abandoned`), from).length, 1,
          `${kind}: one line for the request\n${d.stderrText(from)}`);
      }
      for (const a of await Promise.all(answers)) assert.ok(a instanceof Error || a >= 500, String(a));
    } finally {
      await d.stop();
    }
  });
});

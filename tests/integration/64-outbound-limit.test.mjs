// Calls that are no HTTP request's and wait past their time limit: channel messages (routed, binary), on_connect, queue attempts, run_later tasks and schedule ticks are cut off, their outbound operations cancelled on the real servers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import WebSocket from 'ws';
import { startServer, runCli, REPO_ROOT, HOST, delay, pollUntil } from './lib/server.mjs';
import { backends } from './lib/backends.mjs';
import { startHangServer, operationProbes } from './lib/outbound-probes.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'limit');
const ERROR = /^\S+ \S+ error\b/;   // a log line of level error
const LIMIT = 600;   // the fixture's timeout_ms (and the queue's timeout); run_later: the app's 800

async function openWs(url) {
  const ws = new WebSocket(url);
  const frames = [];
  ws.on('message', (m, binary) => frames.push(binary ? Buffer.from(m) : JSON.parse(String(m))));
  ws.closed = new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: String(reason), at: Date.now() })));
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  ws.frames = frames;
  return ws;
}

describe('calls past their time limit that are not HTTP requests', () => {
  let servers, hang, srv, redisPort;
  const db = 12;   // a Redis database of its own: other tests' BLPOPs are not counted

  // the operation `tag` on its server (lib/outbound-probes.mjs), made once the servers are up
  let probes;
  const seenRunning = (kind, tag) => probes.seenRunning(kind, tag);
  const goneWithin = (kind, tag, ms) => probes.goneWithin(kind, tag, ms);
  const start = (extra = {}) => startServer({ app: APP, workers: 1, ...extra, env: {
    ...servers.env, TARGET_URL: hang.url, LIMIT_REDIS_URL: `redis://127.0.0.1:${redisPort}/${db}`, ...extra.env } });
  // error lines other than the time limit's own
  const otherErrors = (s, from) => s.findLines(ERROR, from).filter((l) => !/past its time limit|timed out after/.test(l));

  async function pollsIdle(s) {
    await pollUntil(async () => {
      const st = await (await s.fetch('/stats')).json();
      return st.pg.open === st.pg.idle && st.redis.open === st.redis.idle;
    }, { timeout: 3000, what: 'every pooled connection back and idle' });
  }

  before(async () => {
    servers = backends();
    redisPort = Number(servers.env.REDIS_PORT);
    hang = await startHangServer();
    probes = operationProbes({ env: servers.env, hang, redisPort, db });
    srv = await start();
  });
  after(async () => {
    await srv?.stop();
    await hang?.close();
    servers?.stop();
  });

  for (const kind of ['pg', 'http', 'redis']) {
    test(`a channel message waiting on ${kind}: the error frame at its limit, the operation cancelled, the connection usable`, async () => {
      const tag = `chan_${kind}_${Date.now()}`;
      const from = srv.mark();
      const ws = await openWs(`ws://${HOST}:${srv.port}/ws`);
      const t0 = Date.now();
      ws.send(JSON.stringify({ action: kind, tag, id: 7 }));
      await seenRunning(kind, tag);
      const frame = await pollUntil(() => ws.frames[0], { timeout: 3000, what: 'the error frame' });
      const ms = Date.now() - t0;
      assert.ok(ms >= LIMIT - 50 && ms < LIMIT + 1000, `the error frame came after ${ms} ms (limit ${LIMIT} ms)`);
      assert.equal(frame.errorName, 'ServiceUnavailable', JSON.stringify(frame));
      assert.equal(frame.action, kind);
      assert.equal(frame.id, 7);
      assert.equal(typeof frame.errorId, 'string');
      const gone = await goneWithin(kind, tag, 1500);
      assert.ok(gone < 1500, `${kind}: gone ${gone} ms after the error frame`);
      await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
      const lines = srv.findLines(ERROR, from);
      assert.equal(lines.length, 1, srv.stderrText(from));
      assert.match(lines[0], new RegExp(`channel "slow" action "${kind}".*connection \\d+ waited past its time limit of ${LIMIT} ms and was stopped; the outbound operation it waited on is cancelled$`));
      assert.ok(lines[0].includes(frame.errorId), 'the log line carries the errorId of the frame');
      // the connection stays open and answers the next message; nothing more came for the first
      const reply = new Promise((resolve) => ws.once('message', (m) => resolve(JSON.parse(String(m)))));
      ws.send(JSON.stringify({ action: 'hello' }));
      assert.deepEqual(await reply, { hello: true, action: 'hello' });
      assert.equal(ws.frames.length, 2, JSON.stringify(ws.frames));
      ws.close();
      await pollsIdle(srv);
    });
  }

  test('a binary message waiting on PostgreSQL: the same, as an error frame', async () => {
    const tag = `bin_pg_${Date.now()}`;
    const from = srv.mark();
    const ws = await openWs(`ws://${HOST}:${srv.port}/ws`);
    const t0 = Date.now();
    ws.send(Buffer.from(`pg:${tag}`), { binary: true });
    await seenRunning('pg', tag);
    const frame = await pollUntil(() => ws.frames[0], { timeout: 3000, what: 'the error frame' });
    const ms = Date.now() - t0;
    assert.ok(ms >= LIMIT - 50 && ms < LIMIT + 1000, `after ${ms} ms`);
    assert.equal(frame.errorName, 'ServiceUnavailable', JSON.stringify(frame));
    assert.ok(await goneWithin('pg', tag, 1500) < 1500);
    await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
    assert.equal(srv.findLines(/channel "slow" on_binary.*waited past its time limit of 600 ms/, from).length, 1, srv.stderrText(from));
    assert.deepEqual(otherErrors(srv, from), []);
    const reply = new Promise((resolve) => ws.once('message', (m) => resolve(JSON.parse(String(m)))));
    ws.send(JSON.stringify({ action: 'hello' }));
    assert.deepEqual(await reply, { hello: true, action: 'hello' });
    ws.close();
  });

  test('a channel message sleeping past its limit: the error frame at the limit, and the sleep cut short there', async () => {
    const tag = `chan_sleep_${Date.now()}`;
    const from = srv.mark();
    const ws = await openWs(`ws://${HOST}:${srv.port}/ws`);
    const t0 = Date.now();
    ws.send(JSON.stringify({ action: 'sleep', tag }));
    const frame = await pollUntil(() => ws.frames[0], { timeout: 3000, what: 'the error frame' });
    const ms = Date.now() - t0;
    assert.ok(ms >= LIMIT - 50 && ms < LIMIT + 1000, `after ${ms} ms`);
    assert.equal(frame.errorName, 'ServiceUnavailable');
    assert.equal(frame.action, 'sleep');
    // the sleep (3 s) ends with an abandoned error at the limit: the function unwinds, sends nothing
    await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from, timeout: 2000 });
    assert.ok(Date.now() - t0 < 2500, `the sleep ended ${Date.now() - t0} ms after the message, before its 3 s`);
    await delay(100);
    assert.equal(ws.frames.length, 1, JSON.stringify(ws.frames));
    assert.deepEqual(srv.findLines(`outbound ${tag} returned`, from), []);
    const lines = srv.findLines(ERROR, from);
    assert.equal(lines.length, 1, srv.stderrText(from));
    assert.match(lines[0], /channel "slow" action "sleep".* waited past its time limit of 600 ms and was stopped; its sleep is cut short$/);
    ws.close();
    // a connection closed while its call sleeps: the sleep is cut short then, one info line, no error
    const gone = `chan_gone_sleep_${Date.now()}`;
    const ws2 = await openWs(`ws://${HOST}:${srv.port}/ws`);
    const t1 = Date.now();
    ws2.send(JSON.stringify({ action: 'sleep', tag: gone }));
    await delay(200);
    ws2.close();
    await srv.waitForLine(`outbound ${gone} ended: abandoned`, { from, timeout: 2000 });
    assert.ok(Date.now() - t1 < LIMIT, `the sleep ended ${Date.now() - t1} ms after the message, before the limit`);
    await srv.waitForLine(/a call of connection \S+ was abandoned .*its sleep was cut short$/, { from, timeout: 2000 });
    await delay(LIMIT);
    assert.equal(srv.findLines(ERROR, from).length, 1, srv.stderrText(from));
  });

  test('an HTTP request sleeping past its limit: 503 at the limit, the sleep cut short; a client leaving cuts it short too', async () => {
    const tag = `http_sleep_${Date.now()}`;
    const from = srv.mark();
    const t0 = Date.now();
    const res = await srv.fetch(`/sleep?tag=${tag}`);
    assert.equal(res.status, 503);
    await res.text();
    await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from, timeout: 2000 });
    assert.ok(Date.now() - t0 < 2500, `the sleep ended ${Date.now() - t0} ms after the request, before its 3 s`);
    const gone = `gone_sleep_${Date.now()}`;
    const ac = new AbortController();
    const t1 = Date.now();
    const answer = srv.fetch(`/sleep?tag=${gone}`, { signal: ac.signal }).catch((e) => e);
    await delay(200);
    ac.abort();
    await answer;
    await srv.waitForLine(`outbound ${gone} ended: abandoned`, { from, timeout: 2000 });
    assert.ok(Date.now() - t1 < LIMIT, `the sleep ended ${Date.now() - t1} ms after the request, before the limit`);
    await srv.waitForLine(/GET \/sleep 499/, { from });
    await delay(100);
    assert.deepEqual(srv.findLines(/outbound \S+ returned/, from), []);
  });

  test('on_connect waiting past its limit: its query cancelled, the connection closed 1011 as when on_connect fails', async () => {
    const tag = `connect_pg_${Date.now()}`;
    const from = srv.mark();
    const t0 = Date.now();
    const ws = await openWs(`ws://${HOST}:${srv.port}/ws-connect?tag=${tag}`);
    await seenRunning('pg', tag);
    const closed = await Promise.race([ws.closed, delay(5000).then(() => { ws.terminate(); throw new Error('not closed within 5 s'); })]);
    const ms = closed.at - t0;
    assert.equal(closed.code, 1011);
    assert.ok(ms >= LIMIT - 50 && ms < LIMIT + 1500, `closed after ${ms} ms`);
    assert.ok(await goneWithin('pg', tag, 1500) < 1500);
    await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
    assert.equal(srv.findLines(/channel "slow-connect" on_connect.*waited past its time limit of 600 ms/, from).length, 1,
      srv.stderrText(from));
    assert.deepEqual(otherErrors(srv, from), []);
  });

  test('a queue job waiting on PostgreSQL past the queue\'s timeout: each attempt\'s query cancelled, retried, then dead-lettered', async () => {
    const tag = `job_pg_${Date.now()}`;
    const from = srv.mark();
    const res = await srv.fetch('/jobs/slow-job', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ queue: 'slow-job', data: { kind: 'pg', tag } }) });
    assert.equal(res.status, 200);
    const { id } = await res.json();
    // attempt 1 is seen on the server; attempt 2 starts as attempt 1 times out (the master retries
    // at once), so by the time attempt 1 is seen gone, a slow psql may miss attempt 2's window:
    // its end is awaited in the log, then it must be gone from the server
    await seenRunning('pg', `${tag}_a1`);
    for (const attempt of [1, 2]) {
      const t = `${tag}_a${attempt}`;
      await srv.waitForLine(`outbound ${t} ended: abandoned`, { from, timeout: 5000 });
      const gone = await goneWithin('pg', t, 1500);
      assert.ok(gone < 1500, `attempt ${attempt}: the query ran on ${gone} ms after the call was abandoned`);
    }
    const job = await pollUntil(async () => {
      const r = await srv.fetch(`/jobs/slow-dead/${id}`);
      return r.status === 200 ? r.json() : (await r.arrayBuffer(), null);
    }, { timeout: 5000, what: 'the job in the dead-letter queue' });
    assert.equal(job.status, 'waiting');
    assert.equal(job.error, `timed out after ${LIMIT} ms (the queue's timeout)`);
    const lines = srv.findLines(/queue "slow-job" job \S+ attempt \d: timed out after 600 ms \(the queue's timeout\); the outbound operation it waited on is cancelled$/, from);
    assert.equal(lines.length, 2, srv.stderrText(from));
    assert.equal(srv.findLines(`outbound ${tag}_a1 returned`, from).length, 0);
    assert.deepEqual(otherErrors(srv, from), []);
    await pollsIdle(srv);
  });

  test('a run_later task waiting on Redis past the app\'s limit: its BLPOP dropped, the task failed', async () => {
    const tag = `later_redis_${Date.now()}`;
    const from = srv.mark();
    const res = await srv.fetch('/later', { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ kind: 'redis', tag }) });
    assert.equal(res.status, 200);
    const { id } = await res.json();
    await seenRunning('redis', tag);
    assert.ok(await goneWithin('redis', tag, 800 + 1500) < 800 + 1500);
    await srv.waitForLine(`outbound ${tag} ended: abandoned`, { from });
    const job = await pollUntil(async () => {
      const r = await srv.fetch(`/jobs/pikku:run-later/${id}`);
      const j = r.status === 200 ? await r.json() : (await r.arrayBuffer(), null);
      return j && j.status === 'failed' ? j : null;
    }, { timeout: 5000, what: 'the run_later job failed' });
    assert.equal(job.error, 'waited past its time limit of 800 ms and was stopped');
    assert.equal(srv.findLines(/queue "pikku:run-later" job \S+ attempt 1 \(function "laterWait"\): waited past its time limit of 800 ms/, from).length, 1,
      srv.stderrText(from));
    assert.deepEqual(otherErrors(srv, from), []);
  });

  test('pikku test: an in-process channel message and a queue job sleeping past their limit (the fixture\'s own tests)', () => {
    const r = runCli(['test', APP], { timeout: 60000, env: { ...servers.env, TARGET_URL: hang.url,
      LIMIT_REDIS_URL: `redis://127.0.0.1:${redisPort}/${db}` } });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, / 0 failed/);
  });

  test('a schedule\'s tick waiting past its limit: its query cancelled, logged, and the next tick runs (not skipped as overlapping)', async () => {
    const s = await start({ env: { LIMIT_SCHEDULE: '1' } });
    try {
      const from = s.mark();
      const tickRunning = () => execFileSync(path.join(servers.env.PG_BIN, 'psql'), [servers.env.DATABASE_URL, '-Atc',
        `SELECT regexp_replace(query, '.*cancel:', '') FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cancel:tick_%' AND pid <> pg_backend_pid()`],
      { encoding: 'utf8' }).trim();
      const first = await pollUntil(() => tickRunning() || null, { timeout: 5000, what: 'a tick waiting on PostgreSQL' });
      assert.ok(await goneWithin('pg', first, LIMIT + 1500) < LIMIT + 1500);
      await s.waitForLine(`outbound ${first} ended: abandoned`, { from });
      await s.waitForLine(/schedule "slow-tick" run at \S+: waited past its time limit of 600 ms and was stopped/, { from });
      // the runs go on, one a second: the next ones are not skipped as "still going"
      await pollUntil(() => s.findLines(/schedule "slow-tick" run at .* past its time limit/, from).length >= 3,
        { timeout: 6000, what: 'three ticks cut off' });
      assert.equal(s.findLines(/the previous run is still going/, from).length, 0, s.stderrText(from));
      assert.deepEqual(otherErrors(s, from), []);
    } finally {
      await s.stop();
    }
  });
});

// Worker processes: two workers, kill -9 restart under load, graceful SIGTERM drain, the default count.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { startServer, loadLoops, RawConn, delay, pollUntil, withApp, PIKKU_BIN, HELLO_APP } from './lib/server.mjs';

describe('--workers 2', () => {
  let srv;
  before(async () => { srv = await startServer({ workers: 2 }); });
  after(() => srv?.stop());

  test('the master has two worker children and logs its start line', async () => {
    const pids = await srv.waitForWorkers(2);
    assert.equal(new Set(pids).size, 2);
    assert.ok(!pids.includes(srv.pid));
    const line = await srv.waitForLine(/pikku: master pid \d+, 2 workers listening on 127\.0\.0\.1:\d+/);
    assert.ok(line.includes(`master pid ${srv.pid},`), line);
    assert.ok(line.includes(`:${srv.port}`), line);
    await srv.waitForLines((l) => pids.some((p) => l.includes(`pid ${p} started`)) && /worker \d+ pid \d+ started/.test(l), 2);
  });

  test('a worker killed with SIGKILL is replaced while requests keep succeeding', async () => {
    const before = await srv.waitForWorkers(2);
    const victim = before[0];
    const concurrency = 4;
    const load = loadLoops(srv.port, {
      concurrency, path: '/hello', maxRequests: 50000, maxMs: 15000,
      check: (r) => r.status === 200 && r.text === '{"message":"hello"}',
    });
    try {
      await pollUntil(() => load.ok >= 200, { timeout: 5000, what: 'load to start' });
      const mark = srv.mark();
      const killedAt = Date.now();
      process.kill(victim, 'SIGKILL');
      const after = await srv.waitForWorkers(2, { timeout: 3000, pred: (p) => !p.includes(victim) });
      const replacement = after.find((p) => !before.includes(p));
      assert.ok(replacement, `a new worker pid (before ${before}, after ${after})`);
      const restartMs = Date.now() - killedAt;
      await srv.waitForLine(`pid ${replacement} started`, { from: mark, timeout: 3000 });
      // keep the load going a little after the restart so the new worker serves too
      const okAtRestart = load.ok;
      await pollUntil(() => load.ok >= okAtRestart + 500, { timeout: 5000, what: 'requests after the restart' });
      load.stop();
      const res = await load.done;
      // Only a request in flight on a connection of the killed worker may fail: at most one per loop.
      for (const [i, s] of res.perLoop.entries()) {
        assert.ok(s.failed <= 1, `loop ${i} had ${s.failed} failures: ${JSON.stringify(res.failures)}`);
        assert.ok(s.ok > 0);
      }
      for (const f of res.failures) {
        assert.ok(f.at >= killedAt, `failure before the kill: ${JSON.stringify(f)}`);
        assert.ok(!/^status/.test(f.reason), `a failure that is not a connection error: ${f.reason}`);
      }
      assert.ok(restartMs < 3000, `restarted in ${restartMs} ms`);
      // the replacement serves requests
      const r = await srv.fetch('/hello');
      assert.equal(r.status, 200);
      await r.arrayBuffer();
    } finally {
      load.stop();
      await load.done;
    }
  });
});

describe('graceful shutdown', () => {
  test('SIGTERM with 10 in-flight /sleep?ms=800: all get 200 with Connection: close, master exits 0', async (t) => {
    const srv = await startServer({ workers: 2 });
    t.after(() => srv.stop());
    const workers = await srv.waitForWorkers(2);
    const conns = [];
    t.after(() => conns.forEach((c) => c.destroy()));
    for (let i = 0; i < 10; i++) {
      const c = await RawConn.connect(srv.port);
      conns.push(c);
      await c.write('GET /sleep?ms=800 HTTP/1.1\r\nHost: t\r\n\r\n');
    }
    // an idle keep-alive connection, which the drain must close
    const idle = await RawConn.connect(srv.port);
    conns.push(idle);
    await idle.write('GET /hello HTTP/1.1\r\nHost: t\r\n\r\n');
    await idle.responses(1);

    await delay(250); // generous time for the workers to read the 10 requests
    srv.signal('SIGTERM');
    const results = await Promise.all(conns.slice(0, 10).map((c) => c.responses(1, { timeout: 10000 })));
    for (const [r] of results) {
      assert.equal(r.status, 200, r.text);
      assert.equal(Number(r.json().slept), 800);
      assert.match(r.headers.connection ?? '', /close/i, 'in-flight responses carry Connection: close');
    }
    for (const c of conns.slice(0, 10)) assert.equal(await c.waitClose(5000), true, 'connection closed after the response');
    assert.equal(await idle.waitClose(5000), true, 'the idle keep-alive connection is closed');
    const exit = await srv.waitExit(10000);
    assert.ok(exit, 'master exited');
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    await pollUntil(() => workers.every((p) => { try { process.kill(p, 0); return false; } catch { return true; } }),
      { timeout: 3000, what: 'workers to exit' });
    // nothing listens any more
    await assert.rejects(RawConn.connect(srv.port), /ECONNREFUSED/);
  });

  test('SIGINT also drains and exits 0', async (t) => {
    const srv = await startServer({ workers: 1 });
    t.after(() => srv.stop());
    const c = await RawConn.connect(srv.port);
    t.after(() => c.destroy());
    await c.write('GET /sleep?ms=300 HTTP/1.1\r\nHost: t\r\n\r\n');
    await delay(100);
    srv.signal('SIGINT');
    const [r] = await c.responses(1, { timeout: 5000 });
    assert.equal(r.status, 200);
    const exit = await srv.waitExit(5000);
    assert.equal(exit?.code, 0, JSON.stringify(exit));
  });

  test('--drain-timeout-ms bounds the wait for in-flight requests', async (t) => {
    const srv = await startServer({ workers: 1, args: ['--drain-timeout-ms', '300'] });
    t.after(() => srv.stop());
    const c = await RawConn.connect(srv.port);
    t.after(() => c.destroy());
    await c.write('GET /sleep?ms=5000 HTTP/1.1\r\nHost: t\r\n\r\n');
    await delay(150);
    const t0 = Date.now();
    srv.signal('SIGTERM');
    const exit = await srv.waitExit(4000);
    assert.ok(exit, 'the master exited well before the 5 s sleep ended');
    assert.ok(Date.now() - t0 < 4000);
    assert.equal(await c.waitClose(2000), true, 'the in-flight connection is closed');
  });
});

describe('default worker count', () => {
  test('one worker per CPU the process may run on: under taskset -c 0 that is one', async () => {
    const child = spawn('taskset', ['-c', '0', PIKKU_BIN, 'serve', HELLO_APP, '--port', '0'],
      { stdio: ['ignore', 'ignore', 'pipe'] });
    try {
      let err = '';
      child.stderr.on('data', (d) => { err += d; });
      await pollUntil(() => /workers? listening/.test(err), { timeout: 10000, what: 'the start line' });
      assert.match(err, /pikku: master pid \d+, 1 worker listening on /);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

// The scheduling policy of a process: field 41 of /proc/PID/stat (0 SCHED_OTHER, 3 SCHED_BATCH).
function schedPolicy(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3]);
}

describe('--sched', () => {
  test('workers run SCHED_OTHER by default and SCHED_BATCH with --sched batch, a replaced worker too; the master keeps the normal policy', async () => {
    const normal = await startServer({ workers: 1 });
    try {
      const [w] = await normal.waitForWorkers(1);
      assert.equal(schedPolicy(w), 0);
    } finally { await normal.stop(); }
    const srv = await startServer({ workers: 2, args: ['--sched', 'batch'] });
    try {
      const before = await srv.waitForWorkers(2);
      for (const p of before) assert.equal(schedPolicy(p), 3, `worker ${p}`);
      assert.equal(schedPolicy(srv.pid), 0, 'the master');
      process.kill(before[0], 'SIGKILL');
      const after = await srv.waitForWorkers(2, { timeout: 3000, pred: (p) => !p.includes(before[0]) });
      for (const p of after) assert.equal(schedPolicy(p), 3, `worker ${p} (after the restart)`);
      const r = await srv.fetch('/hello');
      assert.equal(r.status, 200);
      assert.deepEqual(await r.json(), { message: 'hello' });
    } finally { await srv.stop(); }
  });
});

describe('watchdog', () => {
  // With calls' time limit off (--call-timeout-ms 0), the master's heartbeat watchdog is what is left:
  // a call's time limit is tested in 71-guards.
  test('with no call time limit, a worker stuck in an endless loop is killed after --worker-timeout-ms and restarted', () => withApp([
    'local pikku = require "pikku"',
    'pikku.wire_http { method = "get", route = "/loop", func = function() while true do end end }',
    'pikku.wire_http { method = "get", route = "/ok", func = function() return { ok = true } end }',
  ], async (dir) => {
    const srv = await startServer({ app: dir, workers: 1, args: ['--worker-timeout-ms', '1000', '--call-timeout-ms', '0'] });
    try {
      const stuck = await srv.fetch('/loop', { signal: AbortSignal.timeout(8000) }).catch((e) => e);
      assert.ok(stuck instanceof Error, 'the stuck call never answers: its worker is killed');
      await srv.waitForLine((l) => /has not run its event loop for \d+ ms .*killing it/.test(l), { timeout: 5000 });
      await pollUntil(async () => {
        const r = await srv.fetch('/ok').catch(() => null);
        return r && r.status === 200;
      }, { timeout: 5000, what: 'the restarted worker serves' });
    } finally { await srv.stop(); }
  }));
});

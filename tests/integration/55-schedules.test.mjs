// Schedules over a real server: one run per tick across workers, overlap skipped, nothing lost or doubled across reloads, catch_up after a restart, pikku schedules and load errors.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, withApp, delay, pollUntil } from './lib/server.mjs';
import { JOBS_APP, tempJobsDir, readLog, jobsServer } from './lib/jobs.mjs';

const ticksOf = (t, name) => readLog(t.log).filter((r) => r.schedule === name);

/** Every execution time once, each a second after the one before (the ticks of an @every 1s schedule). */
function assertContiguous(times, what) {
  const sorted = [...times].sort((a, b) => a - b);
  assert.equal(new Set(sorted).size, sorted.length, `${what}: an execution time ran twice: ${sorted}`);
  for (let i = 1; i < sorted.length; i++) {
    assert.equal(sorted[i] - sorted[i - 1], 1000, `${what}: a tick lost between ${sorted[i - 1]} and ${sorted[i]}: ${sorted}`);
  }
}

async function withServer(opts, fn) {
  const t = tempJobsDir();
  const server = jobsServer(t, opts);
  try {
    await server.start();
    return await fn(server, t);
  } finally {
    await server.stop();
    t.remove();
  }
}

describe('schedules', () => {
  test('each tick runs exactly once with 2 workers (the master owns time)', async () => {
    await withServer({ workers: 2, schedules: 'every' }, async (server, t) => {
      await delay(4300);
      const runs = ticksOf(t, 'every-second');
      assert.ok(runs.length >= 3 && runs.length <= 6, `about 4 runs in 4.3 s, got ${runs.length}`);
      assertContiguous(runs.map((r) => r.execution_time), 'every-second');
      for (const r of runs) assert.equal(r.execution_time % 1000, 0, '@every 1s ticks on whole seconds');
      assert.deepEqual([...new Set(runs.map((r) => r.worker))].sort(), [1, 2], 'the ticks go round the workers');
    });
  });

  test('overlap = "skip": a tick while the previous run still goes is skipped and logged', async () => {
    await withServer({ workers: 2, schedules: 'overlap' }, async (server, t) => {
      await server.waitForLines(/schedule "overlapping": the tick at \S+ is skipped: the previous run is still going/, 2,
        { timeout: 6000 });
      const starts = ticksOf(t, 'overlapping');
      const skipped = server.findLines(/schedule "overlapping": the tick at/).length;
      assert.ok(starts.length >= 1 && starts.length <= 2, `runs of a 2.5 s function ticking every second: ${starts.length}`);
      assert.ok(skipped >= 2);
    });
  });

  test('overlap = "allow": every tick runs, even while earlier runs still go', async () => {
    await withServer({ workers: 2, schedules: 'overlap-allow' }, async (server, t) => {
      await pollUntil(() => ticksOf(t, 'overlapping').length >= 4, { timeout: 6000, what: 'four overlapping runs' });
      assertContiguous(ticksOf(t, 'overlapping').map((r) => r.execution_time), 'overlap allow');
      assert.equal(server.findLines(/is skipped/).length, 0);
    });
  });

  test('no tick is lost or doubled across SIGHUP reloads', async () => {
    await withServer({ workers: 2, schedules: 'every' }, async (server, t) => {
      await server.waitForLine(/reloaded|listening/, { timeout: 2000 }).catch(() => {});
      for (let i = 0; i < 4; i++) {
        await delay(1300);
        const mark = server.mark();
        server.signal('SIGHUP');
        await server.waitForLines(/reloaded app .* \(generation \d+\)/, 2, { from: mark, timeout: 5000 });
      }
      await delay(1200);
      const runs = ticksOf(t, 'every-second');
      assert.ok(runs.length >= 5, `runs over ~6.4 s: ${runs.length}`);
      assertContiguous(runs.map((r) => r.execution_time), 'across reloads');
    });
  });

  test('catch_up: after a restart the missed ticks run once; a schedule without it does not replay', async () => {
    const t = tempJobsDir();
    const servers = [];   // every server started here is stopped in the finally, whatever fails
    const start = async (schedules) => {
      const s = jobsServer(t, { workers: 1, schedules });
      servers.push(s);
      await s.start();
      return s;
    };
    try {
      let server = await start('catchup');
      await pollUntil(() => ticksOf(t, 'catching-up').length >= 2, { timeout: 5000, what: 'two ticks' });
      await server.stop();
      const before = ticksOf(t, 'catching-up');
      const last = Math.max(...before.map((r) => r.execution_time));
      await delay(3200);
      server = await start('catchup');
      const caught = await pollUntil(() => ticksOf(t, 'catching-up').find((r) => r.catch_up),
        { timeout: 3000, what: 'the catch-up run' });
      assert.ok(caught.execution_time > last + 1000, 'it stands for the latest missed tick');
      await server.waitForLine(/schedule "catching-up": \d+ tick\(s\) missed since \S+; catch_up: one run/);
      await delay(1500);
      const after = ticksOf(t, 'catching-up').filter((r) => r.execution_time > last);
      assert.equal(after.filter((r) => r.catch_up).length, 1, 'one catch-up run in total');
      assertContiguous(after.filter((r) => !r.catch_up).map((r) => r.execution_time), 'after the restart');
      await server.stop();
      // the same store, a schedule without catch_up: nothing from before the start runs
      const started = Date.now();
      server = await start('every');
      await delay(1500);
      const every = ticksOf(t, 'every-second');
      assert.ok(every.length >= 1);
      for (const r of every) assert.ok(r.execution_time >= started - 1000, 'no replay without catch_up');
    } finally {
      for (const s of servers) await s.stop();
      t.remove();
    }
  });
});

describe('pikku schedules and load errors', () => {
  test('pikku schedules lists each schedule with its next five run times in its zone', () => {
    const r = runCli(['schedules', JOBS_APP], { env: { JOBS_SCHEDULES: 'every' } });
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    const at = lines.findIndex((l) => l.startsWith('nightly '));
    assert.match(lines[at], /^nightly {2}"30 2 \* \* \*" {2}Europe\/Helsinki {2}overlap=skip$/);
    const next = lines.slice(at + 1, at + 6);
    assert.equal(next.length, 5);
    for (const l of next) assert.match(l, /^ {2}\d{4}-\d\d-\d\dT02:30:00\+0[23]:00$/);
    const days = next.map((l) => Date.parse(l.trim()));
    for (let i = 1; i < 5; i++) assert.ok(days[i] > days[i - 1]);
    const every = lines.findIndex((l) => l.startsWith('every-second '));
    assert.match(lines[every + 1], /^ {2}\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  test('a bad cron field, an unknown zone or field is a load error naming file:line', async () => {
    const cases = [
      ['pikku.wire_scheduler { name = "x", schedule = "61 * * * *", func = function() end }',
        /app\.lua:3: pikku\.wire_scheduler "x": schedule "61 \* \* \* \*": minute field: 61 is out of range 0-59/],
      ['pikku.wire_scheduler { name = "x", schedule = "0 9 * * *", timezone = "Mars/Base", func = function() end }',
        /app\.lua:3: pikku\.wire_scheduler "x": timezone "Mars\/Base": unknown time zone/],
      ['pikku.wire_scheduler { name = "x", schedule = "0 9 * * *", overlap = "queue", func = function() end }',
        /app\.lua:3: pikku\.wire_scheduler "x": overlap must be "skip" or "allow"/],
      ['pikku.wire_queue_worker { name = "q", func = function() end, retry_backof = "exponential" }',
        /app\.lua:3: pikku\.wire_queue_worker "q": unknown field "retry_backof" \(did you mean "retry_backoff"\?\)/],
      ['pikku.wire_queue_worker { name = "q", func = function() end, concurrency = 0 }',
        /app\.lua:3: pikku\.wire_queue_worker "q": concurrency must be an integer from 1/],
    ];
    for (const [line, want] of cases) {
      await withApp(['local pikku = require "pikku"', '', line], async (dir) => {
        const r = runCli(['schedules', dir]);
        assert.equal(r.code, 1, `${line}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, want);
        const s = runCli(['serve', dir, '--port', '0', '--jobs-db', ':memory:']);
        assert.equal(s.code, 1);
        assert.match(s.stderr, want);
      });
    }
  });
});

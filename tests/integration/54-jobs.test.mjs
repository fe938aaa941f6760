// Queues over a real server (2 workers, a store file): add/get, schema refusal, dedupe, retries with each back-off, dead letter, discard, time-out, progress, run_later, a worker killed mid-job, pikku queues.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { runCli, pollUntil, delay } from './lib/server.mjs';
import { JOBS_APP, tempJobsDir, readLog, jobsServer, addJob, getJob, waitForJob } from './lib/jobs.mjs';

const runsOf = (t, pred) => readLog(t.log).filter(pred);

describe('queues (2 workers, a store file)', () => {
  let t;
  let server;
  before(async () => {
    t = tempJobsDir();
    server = jobsServer(t);
    await server.start();
  });
  after(async () => {
    await server?.stop();
    t?.remove();
  });

  test('pikku test runs the fixture\'s own job tests', () => {
    const r = runCli(['test', JOBS_APP], { timeout: 30000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, / 0 failed/);
  });

  test('a job added over HTTP runs once and its result is kept', async () => {
    const { status, body } = await addJob(server, 'emails', { to: 'ada@example.com' });
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(typeof body.id, 'string');
    const job = await waitForJob(server, 'emails', body.id, ['completed']);
    assert.deepEqual(job.result, { sent: 'ada@example.com' });
    assert.deepEqual(job.data, { to: 'ada@example.com' });
    assert.equal(job.attempts, 1);
    assert.equal(runsOf(t, (r) => r.queue === 'emails' && r.id === body.id).length, 1);
    const counts = await (await server.fetch('/counts/emails')).json();
    assert.deepEqual(Object.keys(counts).sort(), ['active', 'completed', 'delayed', 'failed', 'waiting']);
    assert.ok(counts.completed >= 1);
  });

  test('a job whose data fails the input schema is refused with the 422 error list and never stored', async () => {
    const before = runCli(['queues', JOBS_APP, '--jobs-db', t.db]);
    const { status, body } = await addJob(server, 'emails', { to: 12 });
    assert.equal(status, 422);
    assert.equal(body.name, 'UnprocessableContent');
    assert.equal(body.payload.errors[0].path, '/to');
    const missing = await addJob(server, 'emails', {});
    assert.equal(missing.status, 422);
    assert.match(missing.body.payload.errors[0].message, /required/);
    const afterCounts = runCli(['queues', JOBS_APP, '--jobs-db', t.db]);
    const line = (out) => out.split('\n').find((l) => l.startsWith('emails '));
    assert.equal(line(afterCounts.stdout), line(before.stdout), 'the emails counts did not change');
  });

  test('adding the same job_id twice is one job', async () => {
    const a = await addJob(server, 'emails', { to: 'dup@example.com' }, { job_id: 'welcome-7' });
    const b = await addJob(server, 'emails', { to: 'other@example.com' }, { job_id: 'welcome-7' });
    assert.equal(a.body.id, 'welcome-7');
    assert.equal(b.body.id, 'welcome-7');
    const job = await waitForJob(server, 'emails', 'welcome-7', ['completed']);
    assert.deepEqual(job.data, { to: 'dup@example.com' });
    await delay(300);
    assert.equal(runsOf(t, (r) => r.queue === 'emails' && r.id === 'welcome-7').length, 1);
    const digits = await addJob(server, 'emails', { to: 'x@y.z' }, { job_id: '42' });
    assert.equal(digits.status, 500, 'an all-digit job_id is refused');
  });

  test('a failing job is retried with exponential back-off, then moved to its dead-letter queue', async () => {
    const { body } = await addJob(server, 'backoff', {});
    const dead = await waitForJob(server, 'backoff-dead', body.id, ['waiting'], { timeout: 15000 });
    assert.match(dead.error, /BadGateway: upstream down/);
    assert.equal(await getJob(server, 'backoff', body.id), null, 'no longer in its own queue');
    const runs = runsOf(t, (r) => r.queue === 'backoff' && r.id === body.id);
    assert.deepEqual(runs.map((r) => r.attempt), [1, 2, 3, 4]);
    const gaps = runs.slice(1).map((r, i) => r.ms - runs[i].ms);
    [200, 400, 800].forEach((want, i) => {
      assert.ok(gaps[i] >= want - 20 && gaps[i] < want + 600, `retry ${i + 1} after ${gaps[i]} ms, want ~${want}: ${gaps}`);
    });
  });

  test('fail(reason) retries with a fixed delay; discard(reason) does not retry', async () => {
    const fixed = await addJob(server, 'fixed', {});
    const discard = await addJob(server, 'discard', {});
    const f = await waitForJob(server, 'fixed', fixed.body.id, ['failed'], { timeout: 15000 });
    assert.equal(f.error, 'try again later');
    assert.equal(f.attempts, 3);
    const runs = runsOf(t, (r) => r.queue === 'fixed' && r.id === fixed.body.id);
    const gaps = runs.slice(1).map((r, i) => r.ms - runs[i].ms);
    for (const g of gaps) assert.ok(g >= 280 && g < 900, `fixed gaps ~300 ms: ${gaps}`);
    const d = await waitForJob(server, 'discard', discard.body.id, ['failed']);
    assert.equal(d.error, 'bad address: no retry');
    assert.equal(d.attempts, 1);
    await delay(300);
    assert.equal(runsOf(t, (r) => r.queue === 'discard' && r.id === discard.body.id).length, 1);
  });

  test('a job past its timeout is retried; the late end of the stale attempt is ignored', async () => {
    const { body } = await addJob(server, 'slow', { ms: 1000 });
    const job = await waitForJob(server, 'slow', body.id, ['failed'], { timeout: 10000 });
    assert.match(job.error, /timed out after 300 ms/);
    assert.equal(job.attempts, 2);
    // both attempts' sleeps were cut short at the timeout; the function caught that and returned
    // a result late: those results do not complete the job
    const ends = await pollUntil(() => {
      const e = runsOf(t, (r) => r.queue === 'slow' && r.id === body.id && r.phase === 'end');
      return e.length === 2 && e;
    }, { timeout: 5000, what: 'both late ends' });
    assert.deepEqual(ends.map((e) => e.cut), [true, true]);
    await delay(200);
    const still = await getJob(server, 'slow', body.id);
    assert.equal(still.status, 'failed');
    assert.equal(still.result, undefined);
  });

  test('a job reports progress; a job added with a delay waits; get_job of no job is nil', async () => {
    const p = await addJob(server, 'progress', {});
    const job = await waitForJob(server, 'progress', p.body.id, ['completed']);
    assert.deepEqual(job.progress, { done: 2, of: 3 });
    assert.equal(job.result, 'ok');
    const t0 = Date.now();
    const d = await addJob(server, 'emails', { to: 'later@example.com' }, { delay: 800 });
    assert.equal((await getJob(server, 'emails', d.body.id)).status, 'delayed');
    await waitForJob(server, 'emails', d.body.id, ['completed']);
    assert.ok(Date.now() - t0 >= 750, 'ran after its delay');
    assert.equal(await getJob(server, 'emails', 'no-such-job'), null);
  });

  test('services.scheduler:run_later calls the named function after the delay', async () => {
    const t0 = Date.now();
    const res = await server.fetch('/later', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ delay: 500, value: 'v1' }),
    });
    assert.equal(res.status, 200);
    const { id } = await res.json();
    const job = await waitForJob(server, 'pikku:run-later', id, ['completed']);
    assert.deepEqual(job.result, { recorded: 'v1' });
    assert.ok(Date.now() - t0 >= 450);
    assert.equal(runsOf(t, (r) => r.func === 'record' && r.value === 'v1').length, 1);
  });

  test('a worker killed while it runs a job: the job goes back to waiting at once and runs again', async () => {
    const { body } = await addJob(server, 'long', { ms: 4000 });
    const first = await pollUntil(() => runsOf(t, (r) => r.queue === 'long' && r.id === body.id)[0],
      { timeout: 5000, what: 'the long job to start' });
    const pidLine = server.findLines(new RegExp(`worker ${first.worker} pid (\\d+) started`)).at(-1);
    const pid = Number(/pid (\d+)/.exec(pidLine)[1]);
    const killedAt = Date.now();
    process.kill(pid, 'SIGKILL');
    const again = await pollUntil(() => runsOf(t, (r) => r.queue === 'long' && r.id === body.id && r.phase === 'start')[1],
      { timeout: 5000, what: 'the job to start again' });
    assert.ok(Date.now() - killedAt < 3000, 'well before its 30 s timeout');
    assert.equal(again.attempt, 2);
    const job = await waitForJob(server, 'long', body.id, ['completed'], { timeout: 10000 });
    assert.equal(job.attempts, 2);
    await server.waitForLine(/job\(s\) of worker \d back to waiting/);
    // putting the lease back is no store failure (it once logged "releasing a lease failed:")
    assert.deepEqual(server.findLines(/releasing a lease failed/), []);
  });

  test('pikku queues shows counts and failed jobs; retry puts them back; purge deletes finished ones', async () => {
    const r = runCli(['queues', JOBS_APP, '--jobs-db', t.db]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^queue\s+waiting\s+delayed\s+active\s+completed\s+failed$/m);
    assert.match(r.stdout, /^emails\s+\d+\s+\d+\s+\d+\s+[1-9]\d*\s+0$/m);
    assert.match(r.stdout, /failed jobs of "discard"/);
    assert.match(r.stdout, /bad address: no retry/);
    const before = runsOf(t, (x) => x.queue === 'discard').length;
    const retry = runCli(['queues', JOBS_APP, 'retry', 'discard', '--jobs-db', t.db]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.match(retry.stdout, /1 failed job\(s\) of "discard" are waiting again/);
    await pollUntil(() => runsOf(t, (x) => x.queue === 'discard').length === before + 1,
      { timeout: 5000, what: 'the retried job to run again' });
    const purge = runCli(['queues', JOBS_APP, 'purge', 'emails', '--jobs-db', t.db]);
    assert.equal(purge.code, 0, purge.stderr);
    assert.match(purge.stdout, /\d+ completed or failed job\(s\) of "emails" deleted/);
    const after = runCli(['queues', JOBS_APP, '--jobs-db', t.db]);
    assert.match(after.stdout, /^emails\s+\d+\s+\d+\s+\d+\s+0\s+0$/m);
    const bad = runCli(['queues', JOBS_APP, 'explode', 'emails']);
    assert.equal(bad.code, 2);
  });
});

describe('the job store at startup', () => {
  test('a corrupt store stops pikku serve with exit 1 and the reason', async () => {
    const t = tempJobsDir();
    try {
      const fs = await import('node:fs');
      fs.writeFileSync(t.db, 'this is not a database, just some text that is long enough to be read as a header...');
      const server = jobsServer(t);
      await assert.rejects(server.start({ timeout: 5000 }), /exited during start/);
      assert.equal(server.exitInfo.code, 1);
      assert.match(server.stderrText(), /job store .*jobs\.db: file is not a database/);
      await server.stop();
    } finally {
      t.remove();
    }
  });

  test('the default store is APP_DIR/.pikku/jobs.db (folder 0700); --jobs-db :memory: keeps none', async () => {
    const fs = await import('node:fs');
    const path = await import('node:path');
    const { copyApp } = await import('./lib/server.mjs');
    const app = copyApp(JOBS_APP);
    try {
      const { PikkuServer } = await import('./lib/server.mjs');
      let s = new PikkuServer({ app, workers: 1, env: { PIKKU_JOBS_DB: '' } });
      await s.start();
      await s.stop();
      const st = fs.statSync(path.join(app, '.pikku'));
      assert.equal(st.mode & 0o777, 0o700);
      assert.ok(fs.existsSync(path.join(app, '.pikku', 'jobs.db')));
      fs.rmSync(path.join(app, '.pikku'), { recursive: true });
      s = new PikkuServer({ app, workers: 1, args: ['--jobs-db', ':memory:'], env: { PIKKU_JOBS_DB: '' } });
      await s.start();
      const { body } = await addJob(s, 'emails', { to: 'mem@example.com' });
      await waitForJob(s, 'emails', body.id, ['completed']);
      await s.stop();
      assert.ok(!fs.existsSync(path.join(app, '.pikku')), 'no file with :memory:');
    } finally {
      fs.rmSync(app, { recursive: true, force: true });
    }
  });
});

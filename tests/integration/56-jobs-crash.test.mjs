// Crash test: jobs added through HTTP by concurrent clients, kill -9 of the master and every worker mid-way, restart on the same store: every acknowledged job completes at least once, and no more run twice than were active at the kill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { REPO_ROOT, PikkuServer, httpRequest, pollUntil, delay } from './lib/server.mjs';
import { tempJobsDir } from './lib/jobs.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'jobs-crash');
const TOTAL = 300;
const CLIENTS = 4;

const runs = (file) => {
  try { return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean); } catch { return []; }
};

test('kill -9 of master and workers mid-way: acknowledged jobs complete at least once, doubles bounded', async () => {
  const t = tempJobsDir();
  const crashLog = path.join(t.dir, 'crash.log');
  const opts = { app: APP, workers: 2, args: ['--jobs-db', t.db], env: { CRASH_LOG: crashLog } };
  let server = new PikkuServer(opts);
  let second;
  try {
    await server.start();
    const master = server.pid;
    const workers = server.workerPids();
    const acked = new Set();
    let next = 1;
    let killed = false;
    const clients = [];
    for (let c = 0; c < CLIENTS; c++) {
      clients.push((async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        while (next <= TOTAL && !killed) {
          const n = next++;
          try {
            const res = await httpRequest(server.port, { method: 'POST', path: `/add/${n}`, agent, timeout: 3000 });
            if (res.status === 200) acked.add(res.json().id);
          } catch { /* the server was killed: not acknowledged */ }
        }
        agent.destroy();
      })());
    }
    // mid-way: once about half are acknowledged, with jobs still running
    await pollUntil(() => acked.size >= TOTAL / 2, { timeout: 20000, what: 'half of the adds' });
    process.kill(master, 'SIGKILL');
    for (const pid of workers) { try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ } }
    killed = true;
    await Promise.all(clients);
    await server.waitExit(5000);
    await delay(200);   // the workers are gone too (killed above)
    const ranBefore = runs(crashLog).length;
    assert.ok(ranBefore < acked.size, `the kill came while jobs waited (${ranBefore} ran of ${acked.size})`);

    second = new PikkuServer(opts);
    await second.start();
    const recovered = await second.waitForLine(/job\(s\) that were running when the server stopped are waiting again/,
      { timeout: 5000 }).then((l) => Number(/: (\d+) job\(s\)/.exec(l)[1])).catch(() => 0);
    await pollUntil(() => {
      const done = new Set(runs(crashLog));
      return [...acked].every((id) => done.has(id));
    }, { timeout: 30000, interval: 100, what: 'every acknowledged job to run' });
    await delay(300);
    const all = runs(crashLog);
    const counts = new Map();
    for (const id of all) counts.set(id, (counts.get(id) || 0) + 1);
    const twice = [...counts.values()].filter((n) => n > 1).length;
    const thrice = [...counts.values()].filter((n) => n > 2).length;
    assert.equal(thrice, 0, 'no job ran three times');
    assert.ok(twice <= recovered, `${twice} job(s) ran twice, ${recovered} were active at the kill`);
    for (const id of acked) assert.ok(counts.get(id) >= 1, `${id} ran`);
    console.log(`# acked ${acked.size}, ran before the kill ${ranBefore}, active at the kill ${recovered}, ran twice ${twice}`);
  } finally {
    await second?.stop();
    await server.stop();
    t.remove();
  }
});

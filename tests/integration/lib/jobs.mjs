// Helpers of the job and schedule tests: the fixture app, a temp folder per test, its JSON-lines log, adds and reads over HTTP.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT, PikkuServer, pollUntil } from './server.mjs';

export const JOBS_APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'jobs');

/** A fresh temp folder with the paths a job test uses (store, log); remove() deletes it. */
export function tempJobsDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-jobs-'));
  return {
    dir,
    db: path.join(dir, 'jobs.db'),
    log: path.join(dir, 'runs.log'),
    remove() { fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/** The JSON lines the fixture's jobs and schedules appended to the log (none yet: []). */
export function readLog(file) {
  let text;
  try { text = fs.readFileSync(file, 'utf8'); } catch { return []; }
  return text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

/** A server of the jobs fixture on its own store and log. */
export function jobsServer(t, { workers = 2, schedules = '', args = [], env = {} } = {}) {
  return new PikkuServer({
    app: JOBS_APP,
    workers,
    args: ['--jobs-db', t.db, ...args],
    env: { JOBS_LOG: t.log, JOBS_SCHEDULES: schedules, ...env },
  });
}

/** POST /jobs/:queue { data, opts } -> { status, body }. */
export async function addJob(server, queue, data, opts) {
  const res = await server.fetch(`/jobs/${encodeURIComponent(queue)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ data, opts }),
  });
  return { status: res.status, body: await res.json() };
}

/** GET /jobs/:queue/:id -> the job, or null (404). */
export async function getJob(server, queue, id) {
  const res = await server.fetch(`/jobs/${encodeURIComponent(queue)}/${encodeURIComponent(id)}`);
  if (res.status === 404) { await res.arrayBuffer(); return null; }
  if (res.status !== 200) throw new Error(`GET job: ${res.status} ${await res.text()}`);
  return res.json();
}

/** Polls until the job's status is one of `statuses`; returns it. */
export function waitForJob(server, queue, id, statuses, { timeout = 10000 } = {}) {
  let last;
  return pollUntil(async () => {
    try {
      last = await getJob(server, queue, id);
    } catch (e) {   // a keep-alive connection to a worker a test killed
      if (e.name !== 'TypeError') throw e;
      return null;
    }
    return last && statuses.includes(last.status) ? last : null;
  }, { timeout, interval: 50, what: `job ${queue}/${id} to be ${statuses} (last: ${JSON.stringify(last)})` });
}

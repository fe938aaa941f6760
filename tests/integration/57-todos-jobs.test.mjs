// apps/todos' background work over a real server: a todo with a dueDate is reminded at that time (queue todo-reminders), and its two schedules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { REPO_ROOT, startServer, runCli, pollUntil } from './lib/server.mjs';
import { tempJobsDir } from './lib/jobs.mjs';

const TODOS_APP = path.join(REPO_ROOT, 'apps', 'todos');

async function call(srv, p, { method = 'GET', body } = {}) {
  const res = await srv.fetch(p, {
    method, headers: body ? { 'content-type': 'application/json' } : {}, body: body && JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

test('a todo created with a dueDate is reminded at its dueDate, on a real server with 2 workers', async () => {
  const t = tempJobsDir();
  const srv = await startServer({
    app: TODOS_APP, workers: 2, args: ['--jobs-db', t.db], env: { PIKKU_TODOS_DB: path.join(t.dir, 'todos.db') },
  });
  try {
    const due = new Date(Date.now() + 1200).toISOString();
    const created = await call(srv, '/todos', { method: 'POST', body: { title: 'Call the bank', dueDate: due } });
    assert.equal(created.status, 200);
    const id = created.json.todo.id;
    assert.deepEqual((await call(srv, '/reminders')).json.reminders.filter((r) => r.todoId === id), [], 'not before');
    const t0 = Date.now();
    const reminder = await pollUntil(async () => (await call(srv, '/reminders')).json.reminders.find((r) => r.todoId === id),
      { timeout: 6000, interval: 100, what: 'the reminder' });
    assert.equal(reminder.title, 'Call the bank');
    assert.equal(reminder.dueDate, due);
    assert.ok(Date.now() - t0 >= 500, 'it waited for the dueDate');
    await srv.waitForLine(new RegExp(`reminder for todo ${id} \\(Call the bank\\)`));
    const r = runCli(['queues', TODOS_APP, '--jobs-db', t.db], { env: { PIKKU_TODOS_DB: path.join(t.dir, 'todos.db') } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^todo-reminders\s+0\s+0\s+0\s+1\s+0$/m);
  } finally {
    await srv.stop();
    t.remove();
  }
});

test('pikku schedules apps/todos lists daily-summary and weekly-cleanup', () => {
  const t = tempJobsDir();
  try {
    const r = runCli(['schedules', TODOS_APP], { env: { PIKKU_TODOS_DB: path.join(t.dir, 'todos.db') } });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^daily-summary {2}"0 9 \* \* \*" {2}UTC {2}overlap=skip\n( {2}\d{4}-\d\d-\d\dT09:00:00Z\n){5}/m);
    assert.match(r.stdout, /^weekly-cleanup {2}"0 2 \* \* 0" {2}UTC {2}overlap=skip\n( {2}\d{4}-\d\d-\d\dT02:00:00Z\n){5}/m);
    const sundays = [...r.stdout.matchAll(/(\d{4}-\d\d-\d\d)T02:00:00Z/g)].map((m) => new Date(`${m[1]}T00:00:00Z`).getUTCDay());
    assert.deepEqual(sundays, [0, 0, 0, 0, 0]);
  } finally {
    t.remove();
  }
});

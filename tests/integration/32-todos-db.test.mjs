// apps/todos and its SQLite file: data survives a restart and a reload, several workers share one file, the path option.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';

const TODOS_APP = path.join(REPO_ROOT, 'apps', 'todos');

async function call(srv, p, { method = 'GET', body, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  // A new connection per request, so the kernel spreads requests over the workers.
  h.connection = 'close';
  const res = await srv.fetch(p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const dirs = [];
function tempDb() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-todos-db-'));
  dirs.push(dir);
  return path.join(dir, 'todos.db');
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

describe('apps/todos: the SQLite file', () => {
  test('data persists across a server restart (same file); the seed is not repeated', async () => {
    const db = tempDb();
    let srv = await startServer({ app: TODOS_APP, workers: 1, env: { PIKKU_TODOS_DB: db } });
    let created;
    try {
      created = (await call(srv, '/todos', { method: 'POST', body: { title: 'Survive a restart', tags: ['keep'] } })).json.todo;
      assert.ok(created?.id, 'created');
      const del = await call(srv, '/todos/todo2', { method: 'DELETE' });
      assert.deepEqual(del.json, { success: true });
      const done = await call(srv, '/todos/todo1/complete', { method: 'POST' });
      assert.equal(done.json.todo.completed, true);
    } finally {
      assert.equal((await srv.stop()).code, 0);
    }

    srv = await startServer({ app: TODOS_APP, workers: 1, env: { PIKKU_TODOS_DB: db } });
    try {
      const got = await call(srv, `/todos/${created.id}`);
      assert.deepEqual(got.json, { todo: created });
      // the deleted seed stays deleted, the completed one stays completed
      assert.deepEqual((await call(srv, '/todos/todo2')).json, { todo: null });
      assert.equal((await call(srv, '/todos/todo1')).json.todo.completed, true);
      const list = await call(srv, '/todos');
      assert.deepEqual(list.json.todos.map((t) => t.id).sort(), [created.id, 'todo1'].sort());
      // logins still work against the stored hashes
      const login = await call(srv, '/login', { method: 'POST', body: { username: 'demo', password: 'test' } });
      assert.equal(login.status, 200, login.text);
    } finally {
      await srv.stop();
    }
  });

  test('two workers share the file: writes through one are read through the other', async () => {
    const db = tempDb();
    const srv = await startServer({ app: TODOS_APP, workers: 2, env: { PIKKU_TODOS_DB: db } });
    try {
      await srv.waitForWorkers(2);
      const mark = srv.mark();
      // Concurrent creates on separate connections, spread over both workers.
      const N = 40;
      const created = await Promise.all(Array.from({ length: N }, (_, i) =>
        call(srv, '/todos', { method: 'POST', body: { title: `parallel ${i}`, tags: ['par'] } })));
      for (const r of created) assert.equal(r.status, 200, r.text);
      const ids = created.map((r) => r.json.todo.id);
      assert.equal(new Set(ids).size, N, 'every id is unique across workers');
      // Every todo is visible from every worker.
      for (let round = 0; round < 10; round++) {
        const list = await call(srv, '/todos?tag=par');
        assert.equal(list.json.total, N, list.text);
      }
      await Promise.all(ids.map(async (id) => {
        const r = await call(srv, `/todos/${id}`);
        assert.equal(r.json.todo?.id, id, r.text);
      }));
      // Both workers served requests (access log lines are tagged w1 / w2).
      const served = new Set(srv.findLines(/ w\d+ (GET|POST) \/todos/, mark).map((l) => / (w\d+) /.exec(l)[1]));
      assert.ok(served.size >= 2, `requests reached both workers: ${[...served]}`);
      // The seed ran once: two seeded todos, two users.
      const all = await call(srv, '/todos');
      assert.equal(all.json.todos.filter((t) => t.id === 'todo1' || t.id === 'todo2').length, 2);
    } finally {
      await srv.stop();
    }
  });

  test('several servers starting at once on a new file seed it exactly once', async () => {
    const db = tempDb();
    const started = await Promise.allSettled([0, 1, 2].map(() =>
      startServer({ app: TODOS_APP, workers: 2, env: { PIKKU_TODOS_DB: db } })));
    const servers = started.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    try {
      const failed = started.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
      const list = await call(servers[0], '/todos');
      assert.equal(list.status, 200, list.text);
      assert.deepEqual(list.json.todos.map((t) => t.id).sort(), ['todo1', 'todo2']);
      const created = (await call(servers[1], '/todos', { method: 'POST', body: { title: 'x' } })).json.todo;
      assert.equal(created.id, 'todo3');
      assert.equal((await call(servers[2], '/todos/todo3')).json.todo.title, 'x');
    } finally {
      await Promise.all(servers.map((s) => s.stop()));
    }
  });

  test('a reload (SIGHUP) keeps the data and the workers keep serving from the same file', async () => {
    const db = tempDb();
    const srv = await startServer({ app: TODOS_APP, workers: 2, env: { PIKKU_TODOS_DB: db } });
    try {
      const created = (await call(srv, '/todos', { method: 'POST', body: { title: 'before reload' } })).json.todo;
      const mark = srv.mark();
      srv.signal('SIGHUP');
      await srv.waitForLines(/reloaded app/, 2, { from: mark });
      for (let i = 0; i < 6; i++) {
        assert.deepEqual((await call(srv, `/todos/${created.id}`)).json, { todo: created });
      }
      const after = (await call(srv, '/todos', { method: 'POST', body: { title: 'after reload' } })).json.todo;
      assert.ok(Number(after.id.slice(4)) > Number(created.id.slice(4)), `${after.id} after ${created.id}`);
      assert.equal((await call(srv, '/todos')).json.total, 4);
    } finally {
      await srv.stop();
    }
  });

  test('PIKKU_TODOS_DB names the file; it is created with its directory contents only', async () => {
    const db = tempDb();
    assert.equal(fs.existsSync(db), false);
    const srv = await startServer({ app: TODOS_APP, workers: 1, env: { PIKKU_TODOS_DB: db } });
    try {
      assert.ok(fs.existsSync(db), 'the database file exists after start');
      assert.equal((await call(srv, '/todos')).json.total, 2);
    } finally {
      await srv.stop();
    }
  });
});

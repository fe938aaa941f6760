// apps/todos over real HTTP: the todo routes of Pikku's sample and the greet RPC, on a fresh SQLite file.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, checkErrorBody, REPO_ROOT } from './lib/server.mjs';

const TODOS_APP = path.join(REPO_ROOT, 'apps', 'todos');

/** JSON request; returns { status, headers, text, json }. */
async function call(srv, p, { method = 'GET', body, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await srv.fetch(p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

/** Asserts the Todo shape of Pikku's sample. */
function checkTodo(t) {
  assert.equal(typeof t, 'object', JSON.stringify(t));
  assert.equal(typeof t.id, 'string');
  assert.equal(typeof t.userId, 'string');
  assert.equal(typeof t.title, 'string');
  assert.equal(typeof t.completed, 'boolean');
  assert.ok(['low', 'medium', 'high'].includes(t.priority), t.priority);
  assert.ok(Array.isArray(t.tags), `tags is an array: ${JSON.stringify(t)}`);
  assert.match(t.createdAt, ISO);
  assert.match(t.updatedAt, ISO);
  for (const k of Object.keys(t)) {
    assert.ok(['id', 'userId', 'title', 'description', 'completed', 'priority', 'dueDate', 'tags', 'createdAt', 'updatedAt'].includes(k),
      `unexpected key ${k} in ${JSON.stringify(t)}`);
  }
}

describe('apps/todos: todo routes', () => {
  let srv;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-todos-'));
    srv = await startServer({ app: TODOS_APP, workers: 1, env: { PIKKU_TODOS_DB: path.join(dir, 'todos.db') } });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the database file is created and seeded at start', () => {
    assert.ok(fs.existsSync(path.join(dir, 'todos.db')));
  });

  test('GET /todos lists the seeded todos of user1 (default user)', async () => {
    const r = await call(srv, '/todos');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.headers.get('content-type'), 'application/json');
    assert.equal(r.json.total, 2);
    assert.equal(r.json.todos.length, 2);
    r.json.todos.forEach(checkTodo);
    assert.deepEqual(r.json.todos.map((t) => t.id).sort(), ['todo1', 'todo2']);
    const learn = r.json.todos.find((t) => t.id === 'todo1');
    assert.equal(learn.title, 'Learn Pikku');
    assert.equal(learn.priority, 'high');
    assert.equal(learn.completed, false);
    assert.deepEqual(learn.tags, ['learning', 'pikku']);
    const r2 = await call(srv, '/todos?userId=user1');
    assert.deepEqual(r2.json, r.json);
  });

  test('GET /todos filters: completed, priority, tag, userId', async () => {
    let r = await call(srv, '/todos?completed=true');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.todos.map((t) => t.id), ['todo2']);
    assert.equal(r.json.total, 1);
    r = await call(srv, '/todos?completed=false');
    assert.deepEqual(r.json.todos.map((t) => t.id), ['todo1']);
    r = await call(srv, '/todos?priority=high');
    assert.deepEqual(r.json.todos.map((t) => t.id), ['todo1']);
    r = await call(srv, '/todos?tag=project');
    assert.deepEqual(r.json.todos.map((t) => t.id), ['todo2']);
    r = await call(srv, '/todos?tag=pikku&completed=false');
    assert.deepEqual(r.json.todos.map((t) => t.id), ['todo1']);
    r = await call(srv, '/todos?tag=nothing');
    assert.deepEqual(r.json, { todos: [], total: 0 });
    r = await call(srv, '/todos?userId=user2');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { todos: [], total: 0 });
  });

  test('GET /todos with a bad filter value is 422', async () => {
    const r = await call(srv, '/todos?priority=urgent');
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('GET /todos/:id returns {todo}; a missing one is {todo: null} with 200', async () => {
    let r = await call(srv, '/todos/todo1');
    assert.equal(r.status, 200, r.text);
    checkTodo(r.json.todo);
    assert.equal(r.json.todo.id, 'todo1');
    assert.equal(r.json.todo.description, 'Go through the Pikku documentation and examples');
    r = await call(srv, '/todos/todo999');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { todo: null });
    r = await call(srv, '/todos/not-an-id');
    assert.deepEqual(r.json, { todo: null });
  });

  test('POST /todos creates a todo with defaults, then it is listed', async () => {
    const r = await call(srv, '/todos', { method: 'POST', body: { title: 'Write docs' } });
    assert.equal(r.status, 200, r.text);
    const t = r.json.todo;
    checkTodo(t);
    assert.equal(t.title, 'Write docs');
    assert.equal(t.userId, 'user1');
    assert.equal(t.completed, false);
    assert.equal(t.priority, 'medium');
    assert.deepEqual(t.tags, []);
    assert.equal(t.description, undefined);
    assert.equal(t.createdAt, t.updatedAt);
    const got = await call(srv, `/todos/${t.id}`);
    assert.deepEqual(got.json, { todo: t });
    const list = await call(srv, '/todos');
    assert.ok(list.json.todos.some((x) => x.id === t.id));
    assert.equal(list.json.total, list.json.todos.length);
  });

  test('POST /todos with every field, for another user', async () => {
    const body = {
      userId: 'user2', title: 'Ship it', description: 'v1', priority: 'high',
      dueDate: '2030-01-31', tags: ['release', 'x'],
    };
    const r = await call(srv, '/todos', { method: 'POST', body });
    assert.equal(r.status, 200, r.text);
    checkTodo(r.json.todo);
    for (const [k, v] of Object.entries(body)) assert.deepEqual(r.json.todo[k], v, k);
    const list = await call(srv, '/todos?userId=user2&tag=release');
    assert.deepEqual(list.json.todos.map((t) => t.id), [r.json.todo.id]);
  });

  test('POST /todos without a title, or with an empty one, is 422 naming /title', async () => {
    for (const body of [{}, { title: '' }, { description: 'no title' }]) {
      const r = await call(srv, '/todos', { method: 'POST', body });
      assert.equal(r.status, 422, `${JSON.stringify(body)}: ${r.text}`);
      checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
      assert.ok(Array.isArray(r.json.payload?.errors), r.text);
      assert.ok(r.json.payload.errors.some((e) => e.path === '/title' || /title/.test(e.message)), r.text);
    }
  });

  test('POST /todos with a bad priority is 422', async () => {
    const r = await call(srv, '/todos', { method: 'POST', body: { title: 'x', priority: 'urgent' } });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('POST /todos for an unknown user is 404', async () => {
    const r = await call(srv, '/todos', { method: 'POST', body: { title: 'x', userId: 'nobody' } });
    assert.equal(r.status, 404, r.text);
    checkErrorBody(assert, r.json, { name: 'NotFound' });
  });

  test('PUT /todos/:id updates fields and updatedAt; a missing one is {todo: null, success: false}', async () => {
    const created = (await call(srv, '/todos', { method: 'POST', body: { title: 'Old', tags: ['a'] } })).json.todo;
    await new Promise((r) => setTimeout(r, 5));
    const r = await call(srv, `/todos/${created.id}`, {
      method: 'PUT', body: { title: 'New', priority: 'low', tags: ['b', 'c'], completed: true, description: 'd' },
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.success, true);
    checkTodo(r.json.todo);
    assert.equal(r.json.todo.title, 'New');
    assert.equal(r.json.todo.priority, 'low');
    assert.equal(r.json.todo.completed, true);
    assert.equal(r.json.todo.description, 'd');
    assert.deepEqual(r.json.todo.tags, ['b', 'c']);
    assert.equal(r.json.todo.createdAt, created.createdAt);
    assert.ok(r.json.todo.updatedAt > created.updatedAt, `${r.json.todo.updatedAt} > ${created.updatedAt}`);
    const got = await call(srv, `/todos/${created.id}`);
    assert.deepEqual(got.json.todo, r.json.todo);

    const miss = await call(srv, '/todos/todo999', { method: 'PUT', body: { title: 'x' } });
    assert.equal(miss.status, 200, miss.text);
    assert.deepEqual(miss.json, { todo: null, success: false });
  });

  test('PUT /todos/:id with an empty title is 422', async () => {
    const r = await call(srv, '/todos/todo1', { method: 'PUT', body: { title: '' } });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('POST /todos/:id/complete marks it completed', async () => {
    const created = (await call(srv, '/todos', { method: 'POST', body: { title: 'Finish me' } })).json.todo;
    const r = await call(srv, `/todos/${created.id}/complete`, { method: 'POST' });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.success, true);
    checkTodo(r.json.todo);
    assert.equal(r.json.todo.completed, true);
    const done = await call(srv, '/todos?completed=true');
    assert.ok(done.json.todos.some((t) => t.id === created.id));
    const miss = await call(srv, '/todos/todo999/complete', { method: 'POST' });
    assert.equal(miss.status, 200, miss.text);
    assert.deepEqual(miss.json, { todo: null, success: false });
  });

  test('DELETE /todos/:id deletes once, then {success: false}', async () => {
    const created = (await call(srv, '/todos', { method: 'POST', body: { title: 'Delete me' } })).json.todo;
    let r = await call(srv, `/todos/${created.id}`, { method: 'DELETE' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { success: true });
    r = await call(srv, `/todos/${created.id}`);
    assert.deepEqual(r.json, { todo: null });
    r = await call(srv, `/todos/${created.id}`, { method: 'DELETE' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { success: false });
  });

  test('ids are never reused after a delete', async () => {
    const a = (await call(srv, '/todos', { method: 'POST', body: { title: 'a' } })).json.todo;
    await call(srv, `/todos/${a.id}`, { method: 'DELETE' });
    const b = (await call(srv, '/todos', { method: 'POST', body: { title: 'b' } })).json.todo;
    assert.notEqual(a.id, b.id);
  });

  test('POST /rpc/greet with a greeting', async () => {
    const before = Date.now();
    const r = await call(srv, '/rpc/greet', { method: 'POST', body: { data: { name: 'Ann', greeting: 'Hi' } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.message, 'Hi, Ann!');
    assert.equal(typeof r.json.timestamp, 'number');
    assert.ok(r.json.timestamp >= before - 1000 && r.json.timestamp <= Date.now() + 1000, String(r.json.timestamp));
  });

  test('POST /rpc/greet defaults to Hello; Pikku\'s {rpcName, data} body works too', async () => {
    let r = await call(srv, '/rpc/greet', { method: 'POST', body: { data: { name: 'Bob' } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.message, 'Hello, Bob!');
    r = await call(srv, '/rpc/greet', { method: 'POST', body: { rpcName: 'greet', data: { name: 'Cy' } } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.message, 'Hello, Cy!');
  });

  test('POST /rpc/greet without a name is 422; an unexposed function is 404', async () => {
    let r = await call(srv, '/rpc/greet', { method: 'POST', body: { data: {} } });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
    r = await call(srv, '/rpc/createTodo', { method: 'POST', body: { data: { title: 'x' } } });
    assert.equal(r.status, 404, r.text);
    checkErrorBody(assert, r.json, { name: 'NotFound' });
  });

  test('unknown route is 404 and a wrong method is 405', async () => {
    let r = await call(srv, '/nope');
    assert.equal(r.status, 404, r.text);
    r = await call(srv, '/todos/todo1/complete');
    assert.equal(r.status, 405, r.text);
    assert.equal(r.headers.get('allow'), 'POST');
  });
});

// apps/todos: the todos-live channel at / with the npm `ws` client: auth action, protected
// actions, the todo events published by HTTP and channel calls, and across two workers.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';
import { connect } from './lib/channel-client.mjs';

const TODOS_APP = path.join(REPO_ROOT, 'apps', 'todos');
const dirs = [];
function tempDb() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-todos-live-'));
  dirs.push(dir);
  return path.join(dir, 'todos.db');
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

async function http(srv, p, { method = 'GET', body, headers = {} } = {}) {
  const init = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers['content-type'] = 'application/json';
  }
  const res = await srv.fetch(p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, json, text };
}

async function live(srv, open, options) {
  const c = await connect(srv, '/', options);
  open.push(c);
  assert.deepEqual(await c.next(), { connected: true });
  return c;
}

async function auth(c, username = 'demo', password = 'test') {
  return c.call({ action: 'auth', username, password });
}

describe('apps/todos: todos-live (1 worker)', () => {
  let srv;
  const open = [];
  before(async () => { srv = await startServer({ app: TODOS_APP, workers: 1, env: { PIKKU_TODOS_DB: tempDb() } }); });
  after(async () => {
    for (const c of open) c.terminate();
    await srv?.stop();
  });

  test('GET / without the upgrade is the live page (the channel shares the path); the HTTP routes are unchanged', async () => {
    const page = await srv.fetch('/');
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal(await page.text(), await (await srv.fetch('/live')).text());
    assert.equal((await http(srv, '/todos')).json.total, 2);
  });

  test('every action but auth needs the session: MissingSession frames, then auth', async () => {
    const c = await live(srv, open);
    for (const msg of [{ action: 'list' }, { action: 'create', title: 'x' }, { action: 'complete', id: 'todo1' },
      { action: 'subscribe', topic: 'todo-created' }, { action: 'unsubscribe', topic: 'todo-created' }]) {
      const e = await c.call(msg);
      assert.equal(e.errorName, 'MissingSession', JSON.stringify(e));
      assert.equal(e.action, msg.action);
      assert.equal(typeof e.error, 'string');
    }
    const bad = await auth(c, 'demo', 'wrong');
    assert.equal(bad.errorName, 'Unauthorized');
    assert.equal(bad.error, 'Invalid username or password');
    const ok = await auth(c);
    assert.deepEqual({ ...ok, id: undefined }, { action: 'auth', authenticated: true, userId: 'user1', id: undefined });
    const list = await c.call({ action: 'list' });
    assert.equal(list.action, 'list');
    assert.ok(list.total >= 2);
    assert.ok(Array.isArray(list.todos));
  });

  test('error frames: unknown action, validation; the connection stays open', async () => {
    const c = await live(srv, open);
    await auth(c);
    const unknown = await c.call({ action: 'fly', id: 'u1' });
    assert.equal(unknown.errorName, 'NotFound');
    assert.equal(unknown.action, 'fly');
    assert.equal(unknown.id, 'u1');
    const invalid = await c.call({ action: 'create', title: '' });
    assert.equal(invalid.errorName, 'UnprocessableContent');
    assert.equal(invalid.payload.errors[0].path, '/title');
    assert.equal((await c.call({ action: 'subscribe', topic: 'weather' })).errorName, 'UnprocessableContent');
    c.send('hello?');
    assert.equal((await c.next()).errorName, 'BadRequest');
    assert.equal((await c.call({ action: 'list' })).action, 'list');
  });

  test('a bearer token from POST /login is the session at the upgrade', async () => {
    const login = await http(srv, '/login', { method: 'POST', body: { username: 'demo', password: 'test' } });
    const c = await live(srv, open, { headers: { authorization: `Bearer ${login.json.token}` } });
    assert.equal((await c.call({ action: 'list' })).action, 'list');
  });

  test('events: HTTP and channel changes reach subscribers; unsubscribe stops them; a closed connection leaves', async () => {
    const c = await live(srv, open);
    await auth(c);
    const watcher = await live(srv, open);
    await auth(watcher, 'admin', 'password');
    for (const topic of ['todo-created', 'todo-updated', 'todo-completed', 'todo-deleted']) {
      assert.deepEqual(await watcher.call({ action: 'subscribe', topic, id: topic }), { action: 'subscribe', id: topic, subscribed: true, topic });
    }
    await c.call({ action: 'subscribe', topic: 'todo-created' });

    // create over HTTP
    const created = (await http(srv, '/todos', { method: 'POST', body: { title: 'From HTTP' } })).json.todo;
    assert.deepEqual(await watcher.next(), { topic: 'todo-created', data: created });
    assert.deepEqual(await c.next(), { topic: 'todo-created', data: created });

    // create over the channel: the event, and the reply
    c.send({ action: 'create', title: 'From the socket', priority: 'high' });
    const ev = await watcher.next();
    assert.equal(ev.topic, 'todo-created');
    assert.equal(ev.data.title, 'From the socket');
    const reply = await c.nextWhere((v) => v.action === 'create');
    assert.deepEqual(reply, { action: 'create', todo: ev.data });
    assert.deepEqual(await c.next(), { topic: 'todo-created', data: ev.data });   // c is subscribed too, event first

    // complete over the channel ("id" is the todo's id here: complete's input declares it)
    c.send({ action: 'complete', id: created.id });
    const done = await watcher.next();
    assert.equal(done.topic, 'todo-completed');
    assert.equal(done.data.id, created.id);
    assert.equal(done.data.completed, true);
    assert.deepEqual(await c.nextWhere((v) => v.action === 'complete'), { action: 'complete', id: created.id, success: true, todo: done.data });

    // update and delete over HTTP
    await http(srv, `/todos/${created.id}`, { method: 'PUT', body: { title: 'Renamed' } });
    const upd = await watcher.next();
    assert.equal(upd.topic, 'todo-updated');
    assert.equal(upd.data.title, 'Renamed');
    await http(srv, `/todos/${created.id}`, { method: 'DELETE' });
    const del = await watcher.next();
    assert.equal(del.topic, 'todo-deleted');
    assert.equal(del.data.id, created.id);

    // unsubscribe: no more todo-created for c
    assert.deepEqual(await c.call({ action: 'unsubscribe', topic: 'todo-created', id: 'u' }), { action: 'unsubscribe', id: 'u', unsubscribed: true, topic: 'todo-created' });
    await http(srv, '/todos', { method: 'POST', body: { title: 'Unheard by c' } });
    assert.equal((await watcher.next()).data.title, 'Unheard by c');
    assert.ok(await c.nothingFor(150));

    // a closed watcher is gone from its topics; the server keeps serving
    await watcher.close();
    await http(srv, '/todos', { method: 'POST', body: { title: 'After close' } });
    assert.equal((await c.call({ action: 'list' })).action, 'list');
  });
});

describe('apps/todos: todos-live (2 workers)', () => {
  let srv;
  const open = [];
  before(async () => { srv = await startServer({ app: TODOS_APP, workers: 2, env: { PIKKU_TODOS_DB: tempDb() } }); });
  after(async () => {
    for (const c of open) c.terminate();
    await srv?.stop();
  });

  test('a todo created over HTTP reaches subscribers on both workers', async () => {
    await srv.waitForWorkers(2);
    // each worker logs the channel's 101 with its tag (w1, w2): open sockets until both served one
    const subs = [];
    const seen = new Set();
    for (let i = 0; i < 40 && seen.size < 2; i++) {
      const mark = srv.mark();
      const c = await live(srv, open);
      const line = await srv.waitForLine((l) => / GET \/ 101 /.test(l), { from: mark });
      seen.add(/ (w\d+) /.exec(line)?.[1]);
      await auth(c);
      await c.call({ action: 'subscribe', topic: 'todo-created' });
      subs.push(c);
    }
    assert.equal(seen.size, 2, `sockets on both workers (${[...seen]})`);
    const titles = ['one', 'two', 'three'];
    for (const title of titles) {
      const r = await http(srv, '/todos', { method: 'POST', body: { title } });
      assert.equal(r.status, 200);
    }
    // (the POSTs may be served by different workers: order is kept per publisher only)
    for (const c of subs) {
      const got = [];
      for (let i = 0; i < titles.length; i++) {
        const ev = await c.next();
        assert.equal(ev.topic, 'todo-created');
        got.push(ev.data.title);
      }
      assert.deepEqual(got.sort(), [...titles].sort());
    }
  });
});

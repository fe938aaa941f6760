// apps/todos over real HTTP: login (cookie + JWT), /me by cookie or bearer, logout, admin permission, CSRF.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, checkErrorBody, REPO_ROOT } from './lib/server.mjs';

const TODOS_APP = path.join(REPO_ROOT, 'apps', 'todos');
const COOKIE = 'pikku_session';

async function call(srv, p, { method = 'GET', body, headers = {} } = {}) {
  const h = { ...headers };
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await srv.fetch(p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

/** The Set-Cookie header for `name` in a response, or undefined. */
function setCookie(r, name = COOKIE) {
  return r.headers.getSetCookie().find((c) => c.startsWith(`${name}=`));
}

/** "name=value" of a Set-Cookie header, to send back in a Cookie header. */
function cookiePair(sc) {
  return sc.split(';')[0];
}

/** Headers for a same-origin request carrying the session cookie (what a browser sends). */
function withCookie(srv, cookie, extra = {}) {
  return { cookie, origin: srv.base, ...extra };
}

async function login(srv, username, password) {
  return call(srv, '/login', { method: 'POST', body: { username, password } });
}

describe('apps/todos: auth, sessions and permissions', () => {
  let srv;
  let dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-todos-auth-'));
    srv = await startServer({
      app: TODOS_APP, workers: 1,
      env: { PIKKU_TODOS_DB: path.join(dir, 'todos.db'), TODOS_SECRET: 'integration-test-secret-of-32-bytes-or-more' },
    });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a login hashes on the thread pool: the one worker answers a request sent after it first', async () => {
    const order = [];
    const logins = [1, 2, 3].map((i) => login(srv, 'demo', 'test').then((r) => { order.push(`login${i}:${r.status}`); }));
    await new Promise((r) => setTimeout(r, 5));   // the logins are in the worker, hashing
    const list = call(srv, '/todos').then((r) => { order.push(`list:${r.status}`); });
    await Promise.all([...logins, list]);
    assert.equal(order[0], 'list:200', `order: ${order.join(' ')}`);
    assert.deepEqual(order.slice(1).sort(), ['login1:200', 'login2:200', 'login3:200']);
  });

  test('POST /login demo/test -> {token, user} and an HttpOnly session cookie', async () => {
    const r = await login(srv, 'demo', 'test');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.user, { id: 'user1', username: 'demo', email: 'demo@example.com', role: 'user' });
    assert.equal(typeof r.json.token, 'string');
    assert.equal(r.json.token.split('.').length, 3, 'the token is a JWT');
    const header = JSON.parse(Buffer.from(r.json.token.split('.')[0], 'base64url').toString());
    assert.equal(header.alg, 'HS256');
    const claims = JSON.parse(Buffer.from(r.json.token.split('.')[1], 'base64url').toString());
    assert.equal(claims.userId, 'user1');
    assert.ok(claims.exp > Date.now() / 1000, 'the token expires in the future');
    const sc = setCookie(r);
    assert.ok(sc, `a ${COOKIE} cookie is set: ${r.headers.getSetCookie()}`);
    assert.match(sc, /HttpOnly/i);
    assert.match(sc, /SameSite=Lax/i);
    assert.ok(!/password/i.test(r.text), 'no password hash in the response');
  });

  test('POST /login admin/password -> user2 with the admin role', async () => {
    const r = await login(srv, 'admin', 'password');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.user, { id: 'user2', username: 'admin', email: 'admin@example.com', role: 'admin' });
  });

  test('bad credentials are 401 Unauthorized and set no cookie', async () => {
    for (const [u, p] of [['demo', 'wrong'], ['nobody', 'test'], ['admin', 'test']]) {
      const r = await login(srv, u, p);
      assert.equal(r.status, 401, `${u}/${p}: ${r.text}`);
      checkErrorBody(assert, r.json, { name: 'Unauthorized' });
      assert.equal(setCookie(r), undefined);
    }
  });

  test('POST /login without a password is 422', async () => {
    const r = await call(srv, '/login', { method: 'POST', body: { username: 'demo' } });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('GET /me without a session is 401 MissingSession', async () => {
    const r = await call(srv, '/me');
    assert.equal(r.status, 401, r.text);
    checkErrorBody(assert, r.json, { name: 'MissingSession' });
  });

  test('GET /me with the session cookie -> {user}', async () => {
    const cookie = cookiePair(setCookie(await login(srv, 'demo', 'test')));
    const r = await call(srv, '/me', { headers: { cookie } });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { user: { id: 'user1', username: 'demo', email: 'demo@example.com', role: 'user' } });
  });

  test('GET /me with the bearer token -> {user}', async () => {
    const { token } = (await login(srv, 'admin', 'password')).json;
    const r = await call(srv, '/me', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.user.id, 'user2');
  });

  test('a tampered cookie or token is not a session (401)', async () => {
    const sc = cookiePair(setCookie(await login(srv, 'demo', 'test')));
    const bad = sc.slice(0, -2) + (sc.endsWith('AA') ? 'BB' : 'AA');
    let r = await call(srv, '/me', { headers: { cookie: bad } });
    assert.equal(r.status, 401, r.text);
    const { token } = (await login(srv, 'demo', 'test')).json;
    const [h, p] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ userId: 'user2', role: 'admin' })).toString('base64url');
    r = await call(srv, '/me', { headers: { authorization: `Bearer ${h}.${forged}.${token.split('.')[2]}` } });
    assert.equal(r.status, 401, r.text);
    // outside --dev the client is not told which check failed
    assert.equal(r.json.name, 'InvalidSession');
    assert.equal(r.json.message, 'invalid bearer token');
    r = await call(srv, '/me', { headers: { authorization: `Bearer ${h}.${p}.` } });
    assert.equal(r.status, 401, r.text);
    // two Authorization headers arrive joined ("Bearer a, Bearer b"): not a session, and said so
    r = await call(srv, '/me', { headers: { authorization: `Bearer ${token}, Bearer ${token}` } });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.name, 'InvalidSession');
  });

  test('POST /logout clears the cookie; the old browser cookie jar then has no session', async () => {
    const cookie = cookiePair(setCookie(await login(srv, 'demo', 'test')));
    const r = await call(srv, '/logout', { method: 'POST', headers: withCookie(srv, cookie) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { success: true });
    const cleared = setCookie(r);
    assert.ok(cleared, `logout sets ${COOKIE} again to clear it: ${r.headers.getSetCookie()}`);
    assert.ok(/Max-Age=0/i.test(cleared) || /Expires=Thu, 01 Jan 1970/i.test(cleared), cleared);
    // A browser drops the cookie; without it there is no session.
    const me = await call(srv, '/me');
    assert.equal(me.status, 401, me.text);
  });

  test('POST /logout without any session works (plain curl)', async () => {
    const r = await call(srv, '/logout', { method: 'POST' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { success: true });
  });

  test('GET /admin/stats as admin -> {users, todos}', async () => {
    const cookie = cookiePair(setCookie(await login(srv, 'admin', 'password')));
    const r = await call(srv, '/admin/stats', { headers: { cookie } });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.users, 2);
    assert.equal(typeof r.json.todos, 'number');
    assert.ok(r.json.todos >= 2);
    // creating a todo changes the count
    await call(srv, '/todos', { method: 'POST', body: { title: 'count me' } });
    const r2 = await call(srv, '/admin/stats', { headers: { cookie } });
    assert.equal(r2.json.todos, r.json.todos + 1);
  });

  test('GET /admin/stats as user1 is 403 Forbidden; without a session 401', async () => {
    const { token } = (await login(srv, 'demo', 'test')).json;
    let r = await call(srv, '/admin/stats', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 403, r.text);
    checkErrorBody(assert, r.json, { name: 'Forbidden' });
    assert.equal(r.json.message, 'Permission denied');
    r = await call(srv, '/admin/stats');
    assert.equal(r.status, 401, r.text);
    checkErrorBody(assert, r.json, { name: 'MissingSession' });
  });

  test('CSRF: a cross-site POST is refused (with the session cookie or without: login CSRF); bearer and non-browser POSTs pass', async () => {
    const cookie = cookiePair(setCookie(await login(srv, 'demo', 'test')));
    let r = await call(srv, '/logout', { method: 'POST', headers: { cookie, origin: 'https://evil.example' } });
    assert.equal(r.status, 403, r.text);
    checkErrorBody(assert, r.json);
    // the session still works
    r = await call(srv, '/me', { headers: { cookie } });
    assert.equal(r.status, 200, r.text);
    // no cookie, from another site: refused too (a cross-site POST /login would plant a session)
    r = await call(srv, '/login', { method: 'POST', body: { username: 'demo', password: 'test' },
      headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(r.status, 403, r.text);
    assert.equal(r.headers.get('set-cookie'), null);
    // no browser headers (curl, a server): not a CSRF target
    r = await call(srv, '/todos', { method: 'POST', body: { title: 'no cookie' } });
    assert.equal(r.status, 200, r.text);
    // bearer requests are exempt
    const { token } = (await login(srv, 'demo', 'test')).json;
    r = await call(srv, '/logout', { method: 'POST', headers: { authorization: `Bearer ${token}`, origin: 'https://evil.example' } });
    assert.equal(r.status, 200, r.text);
  });
});

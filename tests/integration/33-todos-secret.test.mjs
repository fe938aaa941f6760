// apps/todos's signing secret: never a constant from the source; generated once into a 0600 file beside the database, kept across restarts; short or unsafe secrets refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, runCli, freePort, HOST, REPO_ROOT } from './lib/server.mjs';

const TODOS_APP = path.join(REPO_ROOT, 'apps', 'todos');
const FIXTURE = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'secret');
const OLD_CONSTANT = 'dev-secret-change-me';   // what apps/todos signed with when TODOS_SECRET was unset

async function call(srv, p, { method = 'GET', body, headers = {} } = {}) {
  const h = { ...headers, connection: 'close' };   // a new connection per request: any worker may answer
  if (body !== undefined) h['content-type'] = 'application/json';
  const res = await srv.fetch(p, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const b64url = (s) => Buffer.from(s).toString('base64url');
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest('base64url');

/** An HS256 JWT as pikku.jwt makes them. */
function signJwt(claims, secret) {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ ...claims, iat: now, exp: now + 3600 }))}`;
  return `${input}.${hmac(secret, input)}`;
}

/** A session cookie value as pikku.cookie_session makes them. */
function signCookie(session, secret) {
  const data = b64url(`{"exp":${Math.floor(Date.now() / 1000) + 3600},"session":${JSON.stringify(session)}}`);
  return `${data}.${hmac(secret, data)}`;
}

/** True when the JWT's signature is HMAC-SHA256 with this secret. */
function signedWith(token, secret) {
  const [h, p, s] = token.split('.');
  return hmac(secret, `${h}.${p}`) === s;
}

const ADMIN = { userId: 'user2', role: 'admin' };

async function loginAdmin(srv) {
  const r = await call(srv, '/login', { method: 'POST', body: { username: 'admin', password: 'password' } });
  assert.equal(r.status, 200, r.text);
  const cookie = r.headers.getSetCookie().find((c) => c.startsWith('pikku_session=')).split(';')[0];
  return { token: r.json.token, cookie };
}

const dirs = [];
function tempDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-todos-secret-'));
  dirs.push(dir);
  return dir;
}
after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

/** Starts apps/todos on db with no TODOS_SECRET (even if the test runner has one). */
function startTodos(db, { workers = 2, env = {}, args = [] } = {}) {
  return startServer({ app: TODOS_APP, workers, args, env: { PIKKU_TODOS_DB: db, TODOS_SECRET: '', ...env } });
}

/** Runs `pikku serve apps/todos` expecting it to fail at load; returns { code, stderr }. */
async function serveFails(env, args = []) {
  const port = await freePort();
  const r = runCli(['serve', TODOS_APP, '--host', HOST, '--port', String(port), '--workers', '1', ...args],
    { timeout: 15000, env: { TODOS_SECRET: '', ...env } });
  return { code: r.code, stderr: r.stderr };
}

describe('apps/todos without TODOS_SECRET: a generated secret file beside the database', () => {
  let dir, db, secretFile, srv;
  before(async () => {
    dir = tempDir();
    db = path.join(dir, 'todos.db');
    secretFile = path.join(dir, 'todos.secret');
    srv = await startTodos(db);
  });
  after(async () => { await srv?.stop(); });

  test(`a JWT or a cookie forged with "${OLD_CONSTANT}" is no session: /admin/stats is 401`, async () => {
    const forged = signJwt(ADMIN, OLD_CONSTANT);
    const r = await call(srv, '/admin/stats', { headers: { authorization: `Bearer ${forged}` } });
    assert.equal(r.status, 401, r.text);
    assert.equal(r.json.name, 'InvalidSession');
    const c = await call(srv, '/admin/stats', { headers: { cookie: `pikku_session=${signCookie(ADMIN, OLD_CONSTANT)}` } });
    assert.equal(c.status, 401, c.text);
    assert.equal(c.json.name, 'MissingSession');
    // the same forgery with the secret in the file works: that file is what signs (and the forging is right)
    const secret = fs.readFileSync(secretFile, 'utf8').trim();
    const real = await call(srv, '/admin/stats', { headers: { authorization: `Bearer ${signJwt(ADMIN, secret)}` } });
    assert.equal(real.status, 200, real.text);
  });

  test('the secret file: beside the database, mode 0600, 32 random bytes as hex; the log names it once', async () => {
    const st = fs.statSync(secretFile);
    assert.ok(st.isFile());
    assert.equal(st.mode & 0o777, 0o600, `mode ${(st.mode & 0o777).toString(8)}`);
    assert.match(fs.readFileSync(secretFile, 'utf8'), /^[0-9a-f]{64}\n$/);
    const lines = srv.findLines(`generated a new signing secret in ${secretFile}`);
    assert.equal(lines.length, 1, srv.stderrText());   // by the master, not once per worker
    assert.match(lines[0], /TODOS_SECRET is not set/);
    // no temporary file left behind
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('.tmp')), []);
  });

  test('tokens signed by the login verify with the file\'s secret, on every worker', async () => {
    const { token } = await loginAdmin(srv);
    assert.ok(signedWith(token, fs.readFileSync(secretFile, 'utf8').trim()));
    assert.ok(!signedWith(token, OLD_CONSTANT));
    for (let i = 0; i < 8; i++) {
      const r = await call(srv, '/admin/stats', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, r.text);
    }
  });

  test('a reload (SIGHUP) keeps the secret: a token from before it still works', async () => {
    const { token } = await loginAdmin(srv);
    const before = fs.readFileSync(secretFile, 'utf8');
    const mark = srv.mark();
    srv.signal('SIGHUP');
    await srv.waitForLines(/reloaded app/, 2, { from: mark });
    assert.equal(srv.findLines(`using the signing secret in ${secretFile}`, mark).length, 1, srv.stderrText(mark));
    for (let i = 0; i < 6; i++) {
      const r = await call(srv, '/admin/stats', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, r.text);
    }
    assert.equal(fs.readFileSync(secretFile, 'utf8'), before);
  });

  test('a restart keeps the secret: the token and the cookie of a login before it work after it', async () => {
    const { token, cookie } = await loginAdmin(srv);
    const before = fs.readFileSync(secretFile, 'utf8');
    assert.equal((await srv.stop()).code, 0);
    srv = await startTodos(db);
    assert.equal(fs.readFileSync(secretFile, 'utf8'), before);
    assert.equal(srv.findLines(`using the signing secret in ${secretFile}`).length, 1, srv.stderrText());
    assert.equal(srv.findLines('generated a new signing secret').length, 0);
    const byToken = await call(srv, '/admin/stats', { headers: { authorization: `Bearer ${token}` } });
    assert.equal(byToken.status, 200, byToken.text);
    const byCookie = await call(srv, '/me', { headers: { cookie } });
    assert.equal(byCookie.status, 200, byCookie.text);
    assert.equal(byCookie.json.user.id, 'user2');
  });
});

test('several servers starting at once on a new directory make one secret and all use it', async () => {
  const dir = tempDir();
  const db = path.join(dir, 'todos.db');
  const started = await Promise.allSettled([0, 1, 2].map(() => startTodos(db)));
  const servers = started.filter((r) => r.status === 'fulfilled').map((r) => r.value);
  try {
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const generated = servers.flatMap((s) => s.findLines('generated a new signing secret'));
    assert.equal(generated.length, 1, generated.join('\n'));
    const { token } = await loginAdmin(servers[0]);
    for (const s of servers) {
      const r = await call(s, '/admin/stats', { headers: { authorization: `Bearer ${token}` } });
      assert.equal(r.status, 200, r.text);
    }
    assert.deepEqual(fs.readdirSync(dir).filter((f) => f.includes('secret')), ['todos.secret']);
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
  }
});

describe('TODOS_SECRET from the environment', () => {
  test('shorter than 32 bytes without --dev: pikku serve exits 1 naming the problem', async () => {
    const dir = tempDir();
    const r = await serveFails({ PIKKU_TODOS_DB: path.join(dir, 'todos.db'), TODOS_SECRET: 'short' });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot load the app: .*TODOS_SECRET is 5 bytes: a signing secret needs at least 32/);
    assert.equal(fs.existsSync(path.join(dir, 'todos.secret')), false);
  });

  test('shorter than 32 bytes with --dev: a warning, and it signs', async () => {
    const dir = tempDir();
    const srv = await startTodos(path.join(dir, 'todos.db'), { workers: 1, args: ['--dev'], env: { TODOS_SECRET: 'short' } });
    try {
      const warned = srv.findLines(/warn: .*TODOS_SECRET is 5 bytes/);
      assert.equal(warned.length, 1, srv.stderrText());
      const { token } = await loginAdmin(srv);
      assert.ok(signedWith(token, 'short'));
      assert.equal(fs.existsSync(path.join(dir, 'todos.secret')), false);
    } finally {
      await srv.stop();
    }
  });

  test('32 bytes or more: it signs, no file is made and nothing is logged about it', async () => {
    const dir = tempDir();
    const secret = crypto.randomBytes(32).toString('hex');
    const srv = await startTodos(path.join(dir, 'todos.db'), { workers: 1, env: { TODOS_SECRET: secret } });
    try {
      const { token } = await loginAdmin(srv);
      assert.ok(signedWith(token, secret));
      assert.equal(fs.existsSync(path.join(dir, 'todos.secret')), false);
      assert.equal(srv.findLines(/signing secret/).length, 0, srv.stderrText());
    } finally {
      await srv.stop();
    }
  });
});

describe('a secret file that cannot be trusted or used stops the start', () => {
  /** A fresh directory with todos.secret made by make(file). */
  function withSecretFile(make) {
    const dir = tempDir();
    make(path.join(dir, 'todos.secret'));
    return path.join(dir, 'todos.db');
  }
  const good = crypto.randomBytes(32).toString('hex');

  test('readable by group or others (0644): refused, as ssh refuses such keys', async () => {
    const db = withSecretFile((f) => fs.writeFileSync(f, `${good}\n`, { mode: 0o644 }));
    fs.chmodSync(path.join(path.dirname(db), 'todos.secret'), 0o644);
    const r = await serveFails({ PIKKU_TODOS_DB: db });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /todos\.secret is accessible to group or others \(mode 0644\).*chmod 600/);
  });

  test('empty: refused', async () => {
    const db = withSecretFile((f) => fs.writeFileSync(f, '', { mode: 0o600 }));
    const r = await serveFails({ PIKKU_TODOS_DB: db });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /todos\.secret is empty/);
  });

  test('shorter than 32 bytes: refused', async () => {
    const db = withSecretFile((f) => fs.writeFileSync(f, 'tooshort\n', { mode: 0o600 }));
    const r = await serveFails({ PIKKU_TODOS_DB: db });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /todos\.secret is 8 bytes: a signing secret needs at least 32/);
  });

  test('not a regular file: refused', async () => {
    const db = withSecretFile((f) => fs.mkdirSync(f, { mode: 0o700 }));
    const r = await serveFails({ PIKKU_TODOS_DB: db });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /todos\.secret is not a regular file/);
  });

  test('unreadable: refused', { skip: process.getuid?.() === 0 && 'root reads any file' }, async () => {
    const db = withSecretFile((f) => fs.writeFileSync(f, `${good}\n`, { mode: 0o200 }));
    const r = await serveFails({ PIKKU_TODOS_DB: db });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot read the secret file .*todos\.secret: Permission denied/);
  });

  test('a database directory that does not exist: the error names it', async () => {
    const db = path.join(tempDir(), 'missing', 'todos.db');
    const r = await serveFails({ PIKKU_TODOS_DB: db });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot create the secret file .*todos\.secret: the directory .*missing does not exist/);
  });

  test('a secret file written by hand (0600, one line of 32+ bytes) is used as it is', async () => {
    const db = withSecretFile((f) => fs.writeFileSync(f, `  ${good}  \n`, { mode: 0o600 }));
    const srv = await startTodos(db, { workers: 1 });
    try {
      const { token } = await loginAdmin(srv);
      assert.ok(signedWith(token, good));
    } finally {
      await srv.stop();
    }
  });
});

test('pikku.secret, pikku.secrets.resolve and pikku.secret_file: the Lua tests of the fixture pass under pikku test', () => {
  const r = runCli(['test', FIXTURE], { timeout: 20000, env: { SECRET_FIXTURE: '' } });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, / 0 failed/);
});

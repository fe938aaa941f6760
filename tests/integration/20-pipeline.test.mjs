// The call pipeline over real HTTP: sessions (cookie, bearer JWT, API key), CSRF, permissions, middleware order, per-call services, RPC, CORS, validation.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { startServer, checkErrorBody, runCli, rawRequest, withApp, REPO_ROOT } from './lib/server.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'pipeline');

const b64url = (s) => Buffer.from(s).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function jwt(claims, secret, header = { alg: 'HS256', typ: 'JWT' }) {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  if (secret === null) return `${input}.`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

// A session cookie value as pikku.cookie_session encodes it: b64url(json).b64url(hmac)
function sessionCookie(session, secret, exp = now() + 600) {
  const data = b64url(JSON.stringify({ exp, session }));
  return `${data}.${crypto.createHmac('sha256', secret).update(data).digest('base64url')}`;
}

describe('pipeline', () => {
  let srv;
  before(async () => {
    srv = await startServer({ app: APP, args: ['--dev'], env: { PIPELINE_LABEL: 'from-env' } });
  });
  after(() => srv?.stop());

  async function call(p, { method = 'GET', headers = {}, body, json } = {}) {
    const init = { method, headers: { ...headers } };
    if (json !== undefined) {
      init.body = JSON.stringify(json);
      init.headers['content-type'] = 'application/json';
    } else if (body !== undefined) init.body = body;
    const res = await srv.fetch(p, init);
    const text = await res.text();
    let data;
    try { data = JSON.parse(text); } catch { data = undefined; }
    return { status: res.status, headers: res.headers, text, json: data };
  }
  const bearer = (token) => ({ authorization: `Bearer ${token}` });
  const cookie = (value) => ({ cookie: `sid=${value}` });

  async function login(user, role) {
    const r = await call('/login', { method: 'POST', json: { user, role } });
    assert.equal(r.status, 200, r.text);
    const set = r.headers.get('set-cookie');
    const value = /^sid=([^;]+)/.exec(set)[1];
    return { cookie: value, token: r.json.token, setCookie: set };
  }

  describe('auth', () => {
    test('a 401 carries WWW-Authenticate (RFC 9110) naming the Bearer scheme when JWT is configured', async () => {
      const r = await call('/me');
      assert.equal(r.status, 401);
      assert.equal(r.headers.get('www-authenticate'), 'Bearer realm="pikku"');
      const other = await call('/public');
      assert.equal(other.headers.get('www-authenticate'), null);
    });

    test('a function needs a session by default: 401 MissingSession', async () => {
      const r = await call('/me');
      assert.equal(r.status, 401);
      checkErrorBody(assert, r.json, { name: 'MissingSession' });
      const pub = await call('/public');
      assert.equal(pub.status, 200);
      assert.equal(pub.json.session, false);
    });

    test('cookie session round trip: set_session, cookie accepted, clear_session', async () => {
      const { cookie: sid, setCookie } = await login('bob');
      assert.match(setCookie, /HttpOnly/);
      assert.match(setCookie, /SameSite=Lax/);
      assert.match(setCookie, /Max-Age=3600/);
      const me = await call('/me', { headers: cookie(sid) });
      assert.equal(me.status, 200, me.text);
      assert.deepEqual(me.json.session, { userId: 'bob', role: 'user' });
      const out = await call('/logout', { method: 'POST', headers: cookie(sid) });
      assert.equal(out.status, 200, out.text);
      assert.match(out.headers.get('set-cookie'), /^sid=;.*Max-Age=0/);
    });

    test('one Set-Cookie for the session per response: the last set_session or clear_session wins', async () => {
      const r = await call('/login-twice', { method: 'POST', json: {} });
      assert.equal(r.status, 200, r.text);
      const sets = r.headers.getSetCookie().filter((c) => c.startsWith('sid='));
      assert.equal(sets.length, 1, sets.join(' | '));
      const me = await call('/me', { headers: cookie(/^sid=([^;]+)/.exec(sets[0])[1]) });
      assert.equal(me.json.session.userId, 'second');
      const cleared = await call('/login-twice', { method: 'POST', json: { clear: true } });
      const csets = cleared.headers.getSetCookie().filter((c) => c.startsWith('sid='));
      assert.equal(csets.length, 1, csets.join(' | '));
      assert.match(csets[0], /^sid=;/);
    });

    test('two Cookie lines (as proxies from HTTP/2 send them) still carry the session', async () => {
      const { cookie: sid } = await login('two-lines');
      for (const order of [[`sid=${sid}`, 'theme=dark'], ['theme=dark', `sid=${sid}`]]) {
        const r = await rawRequest(srv.port, `GET /me HTTP/1.1\r\nHost: t\r\nCookie: ${order[0]}\r\nCookie: ${order[1]}\r\nConnection: close\r\n\r\n`);
        assert.equal(r.responses[0].status, 200, r.text);
        assert.equal(r.responses[0].json().session.userId, 'two-lines');
      }
    });

    test('cookies signed with an older secret are accepted; forged or expired ones are no session', async () => {
      const old = await call('/me', { headers: cookie(sessionCookie({ userId: 'ann' }, 'cookie-old')) });
      assert.equal(old.status, 200, old.text);
      assert.equal(old.json.session.userId, 'ann');
      for (const v of [sessionCookie({ userId: 'ann' }, 'wrong'), sessionCookie({ userId: 'ann' }, 'cookie-new', now() - 5), 'garbage']) {
        const r = await call('/me', { headers: cookie(v) });
        assert.equal(r.status, 401, r.text);
        assert.equal(r.json.name, 'MissingSession');
      }
    });

    test('bearer JWT: valid (current and old secret) -> session; bad signature, expired, alg none -> 401 InvalidSession', async () => {
      const { token } = await login('carl');
      const ok = await call('/me', { headers: bearer(token) });
      assert.equal(ok.status, 200, ok.text);
      assert.equal(ok.json.session.userId, 'carl');
      const rotated = await call('/me', { headers: bearer(jwt({ userId: 'dan' }, 'jwt-old')) });
      assert.equal(rotated.json.session.userId, 'dan');
      const bad = [
        jwt({ userId: 'eve' }, 'not-the-secret'),
        jwt({ userId: 'eve', exp: now() - 10 }, 'jwt-new'),
        jwt({ userId: 'eve' }, null, { alg: 'none', typ: 'JWT' }),
        jwt({ userId: 'eve' }, 'jwt-new', { alg: 'HS512', typ: 'JWT' }),
        'not.a.token',
      ];
      for (const t of bad) {
        const r = await call('/me', { headers: bearer(t) });
        assert.equal(r.status, 401, `${t}: ${r.text}`);
        checkErrorBody(assert, r.json, { name: 'InvalidSession' });
      }
      // on a public route a bad token is just no session
      const pub = await call('/public', { headers: bearer(bad[0]) });
      assert.equal(pub.status, 200);
      assert.equal(pub.json.session, false);
    });

    test('API key in a header or the query; a wrong key is 401 InvalidSession', async () => {
      const h = await call('/me', { headers: { 'x-api-key': 'key-1' } });
      assert.equal(h.status, 200, h.text);
      assert.deepEqual(h.json.session, { userId: 'service', role: 'service' });
      const q = await call('/me?api_key=key-1');
      assert.equal(q.status, 200, q.text);
      const bad = await call('/me', { headers: { 'x-api-key': 'nope' } });
      assert.equal(bad.status, 401);
      assert.equal(bad.json.name, 'InvalidSession');
    });

    test("the API key's query parameter is not part of data (a strict schema accepts the call)", async () => {
      const r = await call('/strict?api_key=key-1&limit=2');
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json, { limit: 2, out: '<global' });
      const other = await call('/strict?api_key=key-1&other=1');
      assert.equal(other.status, 422, other.text);
    });

    test('auth: the wiring overrides the group, the group overrides the function', async () => {
      assert.equal((await call('/grp/open')).status, 200);
      const closed = await call('/grp/closed');
      assert.equal(closed.status, 401);
      assert.equal(closed.json.name, 'MissingSession');
    });
  });

  describe('CSRF for cookie sessions', () => {
    let sid;
    before(async () => { ({ cookie: sid } = await login('fay')); });

    test('a state-changing request with the cookie from another origin is 403', async () => {
      for (const headers of [
        { origin: 'https://evil.example' },
        { referer: 'https://evil.example/page' },
        { 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' },
        { origin: 'null' },
      ]) {
        const r = await call('/update', { method: 'POST', headers: { ...cookie(sid), ...headers } });
        assert.equal(r.status, 403, `${JSON.stringify(headers)}: ${r.text}`);
        checkErrorBody(assert, r.json, { name: 'Forbidden' });
      }
    });

    test('same origin, a trusted CORS origin, no browser headers, or a bearer token pass', async () => {
      const same = await call('/update', { method: 'POST', headers: { ...cookie(sid), origin: srv.base } });
      assert.equal(same.status, 200, same.text);
      const fetchSite = await call('/update', { method: 'POST', headers: { ...cookie(sid), 'sec-fetch-site': 'same-origin' } });
      assert.equal(fetchSite.status, 200, fetchSite.text);
      const trusted = await call('/update', { method: 'POST', headers: { ...cookie(sid), origin: 'https://app.example' } });
      assert.equal(trusted.status, 200, trusted.text);
      const noBrowser = await call('/update', { method: 'POST', headers: cookie(sid) });
      assert.equal(noBrowser.status, 200, noBrowser.text);
      const { token } = await login('gus');
      const viaBearer = await call('/update', { method: 'POST', headers: { ...bearer(token), origin: 'https://evil.example' } });
      assert.equal(viaBearer.status, 200, viaBearer.text);
    });

    test('a cross-site POST without a cookie is refused too (login CSRF); a CORS-listed origin passes', async () => {
      const evil = await call('/login', { method: 'POST', json: { user: 'mallory' },
        headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
      assert.equal(evil.status, 403, evil.text);
      assert.equal(evil.headers.get('set-cookie'), null);
      const listed = await call('/login', { method: 'POST', json: { user: 'ann' }, headers: { origin: 'https://app.example' } });
      assert.equal(listed.status, 200, listed.text);
      const same = await call('/login', { method: 'POST', json: { user: 'ann' }, headers: { origin: srv.base } });
      assert.equal(same.status, 200, same.text);
    });

    test('GET is not checked', async () => {
      const r = await call('/me', { headers: { ...cookie(sid), origin: 'https://evil.example' } });
      assert.equal(r.status, 200);
    });
  });

  describe('permissions', () => {
    test('any key passing allows (OR); a list needs all (AND); else 403 Permission denied', async () => {
      const bob = (await login('bob')).token;
      const admin = (await login('root', 'admin')).token;
      assert.equal((await call('/docs/bob', { headers: bearer(bob) })).status, 200);
      const denied = await call('/docs/alice', { headers: bearer(bob) });
      assert.equal(denied.status, 403);
      checkErrorBody(assert, denied.json, { name: 'Forbidden' });
      assert.equal(denied.json.message, 'Permission denied');
      assert.equal((await call('/docs/alice', { headers: bearer(admin) })).status, 200);
      assert.equal((await call('/docs/alice')).status, 401);
    });
  });

  describe('middleware', () => {
    test('runs global -> group -> wiring -> function, and unwinds in reverse', async () => {
      const r = await call('/mw/order');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.headers.get('x-trace'), 'global>group>wiring>func>');
      assert.equal(r.json.trace, 'global>group>wiring>func>');
      assert.equal(r.json.out, '<func<wiring<group<global');
    });

    test('run before the auth check and validation: a middleware may set the session', async () => {
      const ok = await call('/mw-auth', { method: 'POST', headers: { 'x-user': 'bob' }, json: { n: 3 } });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json, { userId: 'bob', n: 3, out: '<global' });
      // no session: 401 before the schema is looked at (a bad body does not turn it into a 422)
      const anon = await call('/mw-auth', { method: 'POST', json: { n: 'nope' } });
      assert.equal(anon.status, 401, anon.text);
      checkErrorBody(assert, anon.json, { name: 'MissingSession' });
      const bad = await call('/mw-auth', { method: 'POST', headers: { 'x-user': 'bob' }, json: { n: 'nope' } });
      assert.equal(bad.status, 422, bad.text);
    });

    test('may short-circuit with a value or an error', async () => {
      const blocked = await call('/mw/blocked');
      assert.equal(blocked.status, 200);
      assert.deepEqual(blocked.json, { blocked: true, out: '<group<global' });
      assert.equal(blocked.headers.get('x-trace'), 'global>group>');
      const limited = await call('/mw/limited');
      assert.equal(limited.status, 429);
      checkErrorBody(assert, limited.json, { name: 'TooManyRequests' });
    });

    test('calling next() twice is a 500 naming the middleware', async () => {
      const r = await call('/mw/twice');
      assert.equal(r.status, 500);
      checkErrorBody(assert, r.json, { name: 'InternalServerError' });
      assert.match(r.json.message, /middleware #\d+ of .* called next\(\) twice/);
    });
  });

  describe('services', () => {
    test('per-call services exist in the call and close runs after it, even when it fails', async () => {
      const c0 = (await call('/closed-count')).json.count;
      const failed = await call('/tx-fails');
      assert.equal(failed.status, 409, failed.text);
      const c1 = (await call('/closed-count')).json.count;
      assert.equal(c1, c0 + 2); // the failing call and the first count call
    });

    test('config values from pikku.env and singleton services', async () => {
      const r = await call('/config');
      assert.deepEqual({ label: r.json.label, svc: r.json.svc }, { label: 'from-env', svc: 'from-env' });
    });
  });

  describe('RPC', () => {
    test('POST /rpc/:name calls an exposed function with {data} or {rpcName, data}', async () => {
      const a = await call('/rpc/greet', { method: 'POST', json: { data: { name: 'Ada' } } });
      assert.equal(a.status, 200, a.text);
      assert.equal(a.json.message, 'Hello, Ada!');
      const b = await call('/rpc/greet', { method: 'POST', json: { rpcName: 'greet', data: { name: 'Bo', greeting: 'Hi' } } });
      assert.equal(b.json.message, 'Hi, Bo!');
    });

    test('a function that is not exposed, or unknown, is 404', async () => {
      for (const name of ['internal_only', 'nope']) {
        const r = await call(`/rpc/${name}`, { method: 'POST', json: { data: {} } });
        assert.equal(r.status, 404, r.text);
        checkErrorBody(assert, r.json, { name: 'NotFound' });
      }
      assert.equal((await call('/rpc/greet')).status, 405);
    });

    test("the target's own auth and validation apply", async () => {
      const anon = await call('/rpc/whoami', { method: 'POST', json: { data: {} } });
      assert.equal(anon.status, 401);
      const { token } = await login('hal');
      const me = await call('/rpc/whoami', { method: 'POST', headers: bearer(token), json: { data: {} } });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.json.session.userId, 'hal');
      const invalid = await call('/rpc/greet', { method: 'POST', json: { data: {} } });
      assert.equal(invalid.status, 422, invalid.text);
    });

    test('wire.rpc.invoke and services.rpc.invoke run the pipeline with the caller\'s session', async () => {
      const { token } = await login('ivy');
      const r = await call('/rpc/via_rpc', { method: 'POST', headers: bearer(token), json: { data: {} } });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(r.json.a, { internal: true, got: { x: 1 } });
      assert.deepEqual(r.json.b, { internal: true, got: { y: 2 } });
      assert.equal(r.json.who.session.userId, 'ivy');
      const nested = await call('/rpc/greet_bad', { method: 'POST', json: { data: {} } });
      assert.equal(nested.status, 422, nested.text);
    });

    test('runaway recursion stops at the depth limit with a 500 naming it', async () => {
      const r = await call('/rpc/recurse', { method: 'POST', json: { data: {} } });
      assert.equal(r.status, 500);
      checkErrorBody(assert, r.json, { name: 'InternalServerError' });
      assert.match(r.json.message, /depth limit of 16/);
    });
  });

  describe('CORS', () => {
    test('preflight for a wired path: 204 with the CORS headers for an allowed origin', async () => {
      const r = await call('/me', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
      });
      assert.equal(r.status, 204);
      assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(r.headers.get('access-control-allow-credentials'), 'true');
      // the methods wired at /me (GET, and HEAD with it), not every method
      assert.equal(r.headers.get('access-control-allow-methods'), 'GET, HEAD');
      assert.equal(r.headers.get('access-control-allow-headers'), 'authorization');
      assert.equal(r.headers.get('access-control-max-age'), '600');
      const rpc = await call('/rpc/greet', { method: 'OPTIONS', headers: { origin: 'https://app.example' } });
      assert.equal(rpc.status, 204);
      assert.match(rpc.headers.get('access-control-allow-methods'), /POST/);
    });

    test('an options route the app wires itself runs for a preflight, with the CORS headers added', async () => {
      const r = await call('/own-options', {
        method: 'OPTIONS',
        headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' },
      });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.own, true);   // (the global middleware adds its mark too)
      assert.equal(r.headers.get('x-own-options'), 'yes');
      assert.equal(r.headers.get('access-control-allow-origin'), 'https://app.example');
    });

    test('an event stream (sse route) carries them too, so EventSource with credentials can read it', async () => {
      const { token } = await login('sse-user');
      const ac = new AbortController();
      const res = await srv.fetch('/me/stream', { headers: { origin: 'https://app.example', ...bearer(token) }, signal: ac.signal });
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'text/event-stream');
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(res.headers.get('access-control-allow-credentials'), 'true');
      ac.abort();
    });

    test('no CORS headers for another origin', async () => {
      const pre = await call('/me', { method: 'OPTIONS', headers: { origin: 'https://evil.example' } });
      assert.equal(pre.status, 204);
      assert.equal(pre.headers.get('access-control-allow-origin'), null);
      const r = await call('/public', { headers: { origin: 'https://evil.example' } });
      assert.equal(r.headers.get('access-control-allow-origin'), null);
    });

    test('responses (errors too) carry the CORS headers for an allowed origin', async () => {
      const ok = await call('/public', { headers: { origin: 'https://app.example' } });
      assert.equal(ok.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(ok.headers.get('access-control-allow-credentials'), 'true');
      assert.equal(ok.headers.get('access-control-expose-headers'), 'x-trace');
      assert.match(ok.headers.get('vary'), /Origin/);
      const err = await call('/me', { headers: { origin: 'https://app.example' } });
      assert.equal(err.status, 401);
      assert.equal(err.headers.get('access-control-allow-origin'), 'https://app.example');
    });

    test("the core's own 404 and 405 carry them too (for an allowed origin only)", async () => {
      const missing = await call('/no/such/route', { headers: { origin: 'https://app.example' } });
      assert.equal(missing.status, 404);
      assert.equal(missing.headers.get('access-control-allow-origin'), 'https://app.example');
      assert.equal(missing.headers.get('access-control-allow-credentials'), 'true');
      const wrong = await call('/public', { method: 'DELETE', headers: { origin: 'https://app.example' } });
      assert.equal(wrong.status, 405);
      assert.ok(wrong.headers.get('allow'));
      assert.equal(wrong.headers.get('access-control-allow-origin'), 'https://app.example');
      const other = await call('/no/such/route', { headers: { origin: 'https://evil.example' } });
      assert.equal(other.headers.get('access-control-allow-origin'), null);
      assert.match(other.headers.get('vary'), /Origin/);
    });

    test("the core's own answers carry the same CORS lines as the app's: Expose-Headers on 404 and 405, a preflight's Allow", async () => {
      const app = await call('/public', { headers: { origin: 'https://app.example' } });
      const missing = await call('/no/such/route', { headers: { origin: 'https://app.example' } });
      const wrong = await call('/public', { method: 'DELETE', headers: { origin: 'https://app.example' } });
      for (const r of [missing, wrong]) {
        for (const h of ['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-expose-headers', 'vary'])
          assert.equal(r.headers.get(h), app.headers.get(h), `${r.status}: ${h}`);
      }
      assert.equal(missing.headers.get('access-control-expose-headers'), 'x-trace');
      const pre = await call('/public', { method: 'OPTIONS', headers: { origin: 'https://app.example', 'access-control-request-method': 'GET' } });
      assert.equal(pre.status, 204);
      assert.match(pre.headers.get('allow'), /GET/);
      assert.match(pre.headers.get('allow'), /OPTIONS/);
    });
  });

  describe('validation', () => {
    test('422 UnprocessableContent "Validation failed" lists every error', async () => {
      const r = await call('/validate', { method: 'POST', json: { age: 'old' } });
      assert.equal(r.status, 422, r.text);
      checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
      assert.equal(r.json.message, 'Validation failed');
      const paths = r.json.payload.errors.map((e) => e.path).sort();
      assert.deepEqual(paths, ['/active', '/age', '/name']);
      for (const e of r.json.payload.errors) assert.equal(typeof e.message, 'string');
      const ok = await call('/validate', { method: 'POST', json: { name: 'a', age: 3, active: true } });
      assert.equal(ok.status, 200, ok.text);
    });

    test('an empty JSON object is not an array, nor [] an object; both come back as sent', async () => {
      const base = { name: 'a', age: 3, active: true };
      const bad = await call('/validate', { method: 'POST', json: { ...base, tags: {}, meta: [] } });
      assert.equal(bad.status, 422, bad.text);
      assert.deepEqual(bad.json.payload.errors.map((e) => e.path).sort(), ['/meta', '/tags']);
      const ok = await call('/validate', { method: 'POST', json: { ...base, tags: [], meta: {} } });
      assert.equal(ok.status, 200, ok.text);
      assert.deepEqual(ok.json.tags, []);
      assert.deepEqual(ok.json.meta, {});
    });

    test('query values are coerced to the schema types', async () => {
      const r = await call('/typed?limit=5&done=true');
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.limit, 5);
      assert.equal(r.json.done, true);
      // a form body is strings too: coerced the same way
      const f = await call('/typed', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'limit=7&done=false' });
      assert.equal(f.status, 200, f.text);
      assert.deepEqual(f.json, { limit: 7, done: false, out: '<global' });
      // path params too; the same value in the path and the query is no conflict
      const p = await call('/typed/9?limit=9&done=true');
      assert.equal(p.status, 200, p.text);
      assert.deepEqual(p.json, { limit: 9, done: true, out: '<global' });
      // comma lists where the schema says array: split before decoding (%2C stays inside an
      // item), repeated keys add to the list, an empty value is []
      const l = await call('/lists?tags=a%2Cb,c&nums=1,2&nums=3');
      assert.equal(l.status, 200, l.text);
      assert.deepEqual({ tags: l.json.tags, nums: l.json.nums }, { tags: ['a,b', 'c'], nums: [1, 2, 3] });
      const empty = await call('/lists?tags=');
      assert.equal(empty.status, 200, empty.text);
      assert.deepEqual(empty.json.tags, []);
      const notInt = await call('/typed/nine');
      assert.equal(notInt.status, 422, notInt.text);
    });

    test('in development mode a result that breaks the output schema is a 500 naming the function and the path', async () => {
      const r = await call('/bad-output');
      assert.equal(r.status, 500);
      assert.match(r.json.message, /bad_output/);
      assert.match(r.json.message, /\/id/);
    });
  });
});

test("in-process: pikku test runs the fixture's own tests (t.sse with a session)", () => {
  const r = runCli(['test', APP], { timeout: 20000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, / 0 failed/);
});

describe('pipeline load errors', () => {
  test('a secret shorter than 32 bytes loads, with a warning naming the line', () => withApp(
    ['local pikku = require "pikku"', 'pikku.auth { jwt = { secrets = { "short" } } }'], async (dir) => {
      const s = await startServer({ app: dir, workers: 1 });
      try {
        const line = await s.waitForLine((l) => /warn/.test(l) && /secrets\[1\] is 5 bytes/.test(l));
        assert.match(line, /app\.lua:2: pikku\.auth: jwt\.secrets\[1\] is 5 bytes; use at least 32 random bytes/);
      } finally { await s.stop(); }
    }));

  test('pikku.cors with origins "*" and credentials is a load error naming the line', async () => {
    const fs = await import('node:fs');
    const os = await import('node:os');
    const { runCli } = await import('./lib/server.mjs');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-cors-'));
    fs.writeFileSync(path.join(dir, 'app.lua'),
      'local pikku = require "pikku"\npikku.cors { origins = "*", credentials = true }\n');
    const r = runCli(['serve', dir, '--port', '0', '--workers', '1']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /app\.lua:2: .*credentials/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

// Error responses: JSON error shape, errorId from x-request-id, 500 hidden vs --dev, recovery, error log lines with tracebacks.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startServer, checkErrorBody, withApp, PIKKU_BIN } from './lib/server.mjs';

async function call(srv, p, init = {}) {
  const res = await srv.fetch(p, init);
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

describe('errors without --dev', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('404 error body has name, message, errorId and a JSON content type', async () => {
    const r = await call(srv, '/missing');
    assert.equal(r.status, 404);
    assert.match(r.headers.get('content-type'), /application\/json/);
    checkErrorBody(assert, r.json, { name: 'NotFound' });
    assert.ok(r.json.message.length > 0);
  });

  test('generated errorIds differ between requests', async () => {
    const a = await call(srv, '/missing');
    const b = await call(srv, '/missing');
    assert.notEqual(a.json.errorId, b.json.errorId);
  });

  test('errorId is the x-request-id header when given (404, 400, 405, 422, 500)', async () => {
    const cases = [
      ['/missing', {}, 404],
      ['/echo', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }, 400],
      ['/hello', { method: 'DELETE' }, 405],
      ['/echo-data?a=1', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"a":"2"}' }, 422],
      ['/boom', {}, 500],
    ];
    for (const [p, init, status] of cases) {
      const id = `req-${status}-${Math.random().toString(36).slice(2)}`;
      const r = await call(srv, p, { ...init, headers: { ...(init.headers || {}), 'x-request-id': id } });
      assert.equal(r.status, status, `${p}: ${r.text}`);
      checkErrorBody(assert, r.json, { errorId: id });
    }
  });

  test('an x-request-id with a control character is not the errorId, in the core\'s answers as in the app\'s', async () => {
    for (const p of ['/missing', '/books/nope']) {   // the core's 404, then the app's
      const r = await call(srv, p, { headers: { 'x-request-id': 'abc\tdef' } });
      assert.equal(r.status, 404, r.text);
      assert.ok(r.json.errorId && r.json.errorId !== 'abc\tdef', `${p}: ${r.text}`);
      assert.doesNotMatch(r.json.errorId, /\t/);
    }
    const long = 'x'.repeat(201);
    for (const p of ['/missing', '/books/nope']) {
      const r = await call(srv, p, { headers: { 'x-request-id': long } });
      assert.notEqual(r.json.errorId, long, p);
    }
  });

  test('payload only when given', async () => {
    const withPayload = await call(srv, '/books/nope');
    assert.equal(withPayload.status, 404);
    assert.deepEqual(withPayload.json.payload, { id: 'nope' });
    const without = await call(srv, '/missing');
    assert.equal('payload' in without.json, false, without.text);
  });

  test('GET /boom -> 500 with the message hidden', async () => {
    const r = await call(srv, '/boom');
    assert.equal(r.status, 500);
    checkErrorBody(assert, r.json, { name: 'InternalServerError' });
    assert.equal(r.json.message, 'Internal server error');
    assert.doesNotMatch(r.text, /traceback|\.lua:\d+/i, 'no Lua details leak');
    assert.equal('payload' in r.json, false);
  });

  test('the worker keeps serving after errors', async () => {
    for (let i = 0; i < 20; i++) {
      const boom = await call(srv, '/boom');
      assert.equal(boom.status, 500);
      const ok = await call(srv, '/hello');
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.json, { message: 'hello' });
    }
  });

  test('a Lua error logs one line with the errorId, the error and a traceback', async () => {
    const mark = srv.mark();
    const id = `boom-${Date.now()}`;
    const r = await call(srv, '/boom', { headers: { 'x-request-id': id } });
    assert.equal(r.status, 500);
    const line = await srv.waitForLine((l) => l.includes(id) && /traceback/i.test(l), { from: mark });
    assert.match(line, /\.lua:\d+/, `the error line names file:line: ${line}`);
    // The access log line for the request carries the same errorId.
    await srv.waitForLine((l) => l.includes('/boom') && l.includes('500') && l.includes(`errorId=${id}`), { from: mark });
  });

  test('a 4xx error carries errorId in the access log', async () => {
    const mark = srv.mark();
    const id = `nf-${Date.now()}`;
    const r = await call(srv, '/missing-for-log', { headers: { 'x-request-id': id } });
    assert.equal(r.status, 404);
    await srv.waitForLine((l) => l.includes('/missing-for-log') && l.includes('404') && l.includes(`errorId=${id}`), { from: mark });
  });

  test('no errorId in the access line of a successful request', async () => {
    const mark = srv.mark();
    const r = await call(srv, '/hello?for-log-check=1', { headers: { 'x-request-id': 'should-not-appear' } });
    assert.equal(r.status, 200);
    const line = await srv.waitForLine((l) => l.includes('/hello') && l.includes('200'), { from: mark });
    assert.ok(!line.includes('errorId=should-not-appear'), line);
  });
});

describe('errors with --dev', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--dev'] }); });
  after(() => srv?.stop());

  test('GET /boom -> 500 with the real Lua error message', async () => {
    const r = await call(srv, '/boom', { headers: { 'x-request-id': 'dev-boom' } });
    assert.equal(r.status, 500);
    checkErrorBody(assert, r.json, { name: 'InternalServerError', errorId: 'dev-boom' });
    assert.notEqual(r.json.message, 'Internal server error');
    assert.ok(r.json.message.length > 0);
  });

  test('4xx messages are unchanged in --dev', async () => {
    const r = await call(srv, '/books/zzz');
    assert.equal(r.status, 404);
    checkErrorBody(assert, r.json, { name: 'NotFound' });
    assert.deepEqual(r.json.payload, { id: 'zzz' });
  });

  test('still serves after the error', async () => {
    const r = await call(srv, '/hello');
    assert.equal(r.status, 200);
  });
});

// Needs an address-space limit, which ASan's shadow memory cannot live under: skipped there.
const asanBuild = fs.readFileSync(PIKKU_BIN).includes('__asan_init');
test('a function that runs out of memory gets a 500 with an errorId, and the worker goes on serving',
  { skip: asanBuild && 'ASan build' }, () => withApp([
    'local pikku = require "pikku"',
    'pikku.wire_http { method = "get", route = "/oom", func = function()',
    '  local t = {}',
    '  for i = 1, 1e9 do t[i] = { i, i, i, i } end',
    '  return { n = #t }',
    'end }',
    'pikku.wire_http { method = "get", route = "/ok", func = function() return { ok = true } end }',
  ], async (dir) => {
    const srv = await startServer({ app: dir, limitAsKb: 1500000 });
    try {
      const oom = await srv.fetch('/oom', { signal: AbortSignal.timeout(60000) });
      assert.equal(oom.status, 500);
      const body = await oom.json();
      assert.equal(body.name, 'InternalServerError');
      assert.match(body.errorId, /^[0-9a-f]{32}$/);
      for (let i = 0; i < 5; i++) {
        const r = await srv.fetch('/ok');
        assert.equal(r.status, 200, 'the worker recovered its memory');
        await r.arrayBuffer();
      }
      assert.ok(srv.lines.some((l) => l.includes('ran out of memory')), srv.stderrText());
    } finally { await srv.stop(); }
  }));

test('error(nil) in a function with per-call services: 500, and the logged traceback names the app line', () => withApp([
  'local pikku = require "pikku"',
  'pikku.session_services(function() return { close = function() end } end)',
  'pikku.wire_http { method = "get", route = "/nil", func = pikku.func { auth = false, func = function()',
  '  error(nil)',
  'end } }',
], async (dir) => {
  const srv = await startServer({ app: dir });
  try {
    const r = await srv.fetch('/nil');
    assert.equal(r.status, 500);
    const { errorId } = await r.json();
    const line = await srv.waitForLine((l) => l.includes(errorId) && /traceback/.test(l));
    assert.match(line, /app\.lua:4: in function/);
  } finally { await srv.stop(); }
}));

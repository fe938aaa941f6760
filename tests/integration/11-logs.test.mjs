// Access and error logs on stderr: text line fields, --log-format json keys, --no-access-log.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, httpRequest, rawRequest, REPO_ROOT } from './lib/server.mjs';

describe('text logs', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('master start line', async () => {
    const line = await srv.waitForLine(/^pikku: master pid \d+, 1 workers? listening on 127\.0\.0\.1:\d+/);
    assert.ok(line.includes(`pid ${srv.pid},`), line);
    assert.ok(line.endsWith(`127.0.0.1:${srv.port}`), line);
    await srv.waitForLine(/worker \d+ pid \d+ started/);
  });

  test('an access line has method, path, status and duration', async () => {
    const mark = srv.mark();
    const r = await srv.fetch('/users/123?x=1');
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    const line = await srv.waitForLine((l) => l.includes('/users/123'), { from: mark });
    assert.match(line, /\bGET\b/);
    assert.match(line, /\b200\b/);
    assert.match(line, /\d+(\.\d+)?ms\b/, `a duration like 1.2ms: ${line}`);
    assert.ok(!/errorId=/.test(line), line);
  });

  test('a request the core refuses before its head is complete: no method ("-"), its own duration', async () => {
    const warm = await srv.fetch('/hello');   // a previous request whose method and time must not leak
    await warm.arrayBuffer();
    await new Promise((r) => setTimeout(r, 300));
    const mark = srv.mark();
    const r = await rawRequest(srv.port, 'GET /users/505 HTTP/2.0\r\nHost: t\r\n\r\n', { timeout: 3000 });
    assert.equal(r.responses[0].status, 505);
    const line = await srv.waitForLine((l) => l.includes('/users/505'), { from: mark });
    assert.match(line, / - \/users\/505 505 /, line);
    const ms = Number(/ (\d+\.\d+)ms/.exec(line)[1]);
    assert.ok(ms < 250, `the duration is this request's, not since the last one: ${line}`);
  });

  test('a client that goes away before its body has all arrived is logged as 499', async () => {
    const net = await import('node:net');
    const mark = srv.mark();
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('POST /echo/aborted HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"na');
    await new Promise((r) => setTimeout(r, 100));
    sock.destroy();
    const line = await srv.waitForLine((l) => l.includes('/echo/aborted'), { from: mark });
    assert.match(line, /POST \/echo\/aborted 499 /);
  });

  test('one access line per request (the logged path has no query string or is the raw target)', async () => {
    const mark = srv.mark();
    const tag = `count${Date.now()}`;
    for (let i = 0; i < 5; i++) {
      const r = await srv.fetch(`/users/${tag}?i=${i}`);
      await r.arrayBuffer();
    }
    await srv.waitForLines((l) => l.includes(`/users/${tag}`), 5, { from: mark });
    const r = await srv.fetch('/users/end-marker');
    await r.arrayBuffer();
    await srv.waitForLine('/users/end-marker', { from: mark });
    assert.equal(srv.findLines(`/users/${tag}`, mark).length, 5, srv.stderrText(mark));
  });

  test('error access line carries errorId=', async () => {
    const mark = srv.mark();
    const r = await srv.fetch('/echo', { method: 'POST', headers: { 'content-type': 'application/json', 'x-request-id': 'log-abc' }, body: '{}' });
    assert.equal(r.status, 400);
    await r.arrayBuffer();
    const line = await srv.waitForLine((l) => l.includes('/echo') && l.includes('errorId=log-abc'), { from: mark });
    assert.match(line, /\bPOST\b/);
    assert.match(line, /\b400\b/);
  });

  test('the health route is logged too, or at least does not break logging', async () => {
    const mark = srv.mark();
    const r = await srv.fetch('/_pikku/health');
    await r.arrayBuffer();
    const r2 = await srv.fetch('/users/after-health');
    await r2.arrayBuffer();
    await srv.waitForLine('/users/after-health', { from: mark });
  });
});

describe('json logs', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--log-format', 'json'] }); });
  after(() => srv?.stop());

  const parsed = (from) => srv.lines.slice(from).map((l) => {
    try { return JSON.parse(l); } catch { return null; }
  });

  test('the start line is a JSON object too', async () => {
    const line = await srv.waitForLine((l) => l.includes('listening on'));
    let obj;
    assert.doesNotThrow(() => { obj = JSON.parse(line); }, `not JSON: ${line}`);
    assert.equal(obj.level, 'info');
    assert.match(obj.message, /^master pid \d+, \d+ workers? listening on 127\.0\.0\.1:\d+$/);
  });

  test('access lines are JSON objects with method, path, status, duration_ms', async () => {
    const mark = srv.mark();
    const r = await srv.fetch('/users/9');
    assert.equal(r.status, 200);
    await r.arrayBuffer();
    const line = await srv.waitForLine((l) => l.includes('/users/9'), { from: mark });
    let obj;
    assert.doesNotThrow(() => { obj = JSON.parse(line); }, `not JSON: ${line}`);
    assert.equal(obj.method, 'GET');
    assert.equal(obj.path, '/users/9');
    assert.equal(obj.status, 200);
    assert.equal(typeof obj.duration_ms, 'number');
    assert.ok(obj.duration_ms >= 0);
  });

  test('an error request has errorId in the JSON access line and a JSON error line', async () => {
    const mark = srv.mark();
    const r = await srv.fetch('/boom', { headers: { 'x-request-id': 'json-boom' } });
    assert.equal(r.status, 500);
    await r.arrayBuffer();
    await srv.waitForLines((l) => l.includes('json-boom'), 2, { from: mark });
    const objs = parsed(mark).filter((o) => o && JSON.stringify(o).includes('json-boom'));
    const access = objs.find((o) => o.path === '/boom');
    assert.ok(access, `a JSON access line for /boom: ${srv.stderrText(mark)}`);
    assert.equal(access.method, 'GET');
    assert.equal(access.status, 500);
    assert.equal(access.errorId, 'json-boom');
    assert.equal(typeof access.duration_ms, 'number');
    const errLine = objs.find((o) => o !== access && /traceback/i.test(JSON.stringify(o)));
    assert.ok(errLine, `a JSON error line with the traceback: ${srv.stderrText(mark)}`);
  });

  test('every stderr line after start that looks like JSON parses', async () => {
    const r = await srv.fetch('/hello');
    await r.arrayBuffer();
    await srv.waitForLine((l) => l.includes('"/hello"'));
    for (const l of srv.lines) {
      if (l.trimStart().startsWith('{')) assert.doesNotThrow(() => JSON.parse(l), l);
    }
    // all access lines are JSON
    for (const l of srv.lines.filter((x) => /\/(hello|users|boom)/.test(x))) {
      assert.doesNotThrow(() => JSON.parse(l), `access line not JSON: ${l}`);
    }
  });
});

describe('--no-access-log', () => {
  let srv;
  before(async () => { srv = await startServer({ args: ['--no-access-log'] }); });
  after(() => srv?.stop());

  test('no line per request, but Lua errors are still logged', async () => {
    const mark = srv.mark();
    for (let i = 0; i < 5; i++) {
      const r = await httpRequest(srv.port, { path: '/users/quiet' });
      assert.equal(r.status, 200);
    }
    const b = await httpRequest(srv.port, { path: '/boom', headers: { 'x-request-id': 'quiet-boom' } });
    assert.equal(b.status, 500);
    await srv.waitForLine((l) => l.includes('quiet-boom') && /boom/.test(l.replace('quiet-boom', '')), { from: mark });
    assert.equal(srv.findLines('/users/quiet', mark).length, 0, srv.stderrText(mark));
    assert.equal(srv.findLines((l) => l.includes('/boom') && /\b500\b/.test(l), mark).length, 0, 'no access line for /boom');
  });
});

describe('lines written while the master loads the app', () => {
  test('appear once, not again from every worker it forks', async () => {
    const app = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'pipeline');
    const srv = await startServer({ app, workers: 2 });
    try {
      await srv.waitForWorkers(2);
      await srv.waitForLine((l) => /listening on/.test(l));
      for (let i = 0; i < 4; i++) await (await srv.fetch('/public')).arrayBuffer();   // every worker has run its loop
      const warned = srv.lines.filter((l) => /jwt\.secrets\[2\] is 7 bytes/.test(l));
      assert.equal(warned.length, 1, srv.stderrText());
    } finally {
      await srv.stop();
    }
  });
});

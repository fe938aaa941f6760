// services.logger: each line carries the call's id (x-request-id, or the errorId its error answer gets).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'logger');

describe('services.logger', () => {
  let srv;
  before(async () => { srv = await startServer({ app: APP, workers: 1 }); });
  after(() => srv?.stop());

  test('a log line carries the client x-request-id', async () => {
    const from = srv.mark();
    const r = await srv.fetch('/log?who=ada', { headers: { 'x-request-id': 'trace-42' } });
    assert.equal(r.status, 200);
    const line = await srv.waitForLine((l) => l.includes('hello from ada'), { from });
    assert.match(line, /\binfo\b/);
    assert.match(line, /errorId=trace-42\b/);
  });

  test('control bytes from the caller (ESC, NUL, CR, tabs) reach a text log line escaped, on one line', async () => {
    const from = srv.mark();
    const r = await srv.fetch(`/log?who=${encodeURIComponent('eve\x1b[31mred\x00\r\tx')}`);
    assert.equal(r.status, 200);
    const line = await srv.waitForLine((l) => l.includes('hello from eve'), { from });
    assert.ok(line.includes('hello from eve\\x1b[31mred\\x00 x'), line);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(line), `raw control byte in: ${JSON.stringify(line)}`);
  });

  test('without x-request-id, the id in the log is the errorId of the error answer', async () => {
    const from = srv.mark();
    const r = await srv.fetch('/log-then-fail');
    assert.equal(r.status, 409);
    const body = await r.json();
    assert.equal(body.name, 'Conflict');
    assert.ok(body.errorId && body.errorId.length >= 8);
    const line = await srv.waitForLine((l) => l.includes('about to fail'), { from });
    assert.match(line, /\bwarn\b/);
    assert.ok(line.includes(`errorId=${body.errorId}`), `log line ${line} carries ${body.errorId}`);
  });
});

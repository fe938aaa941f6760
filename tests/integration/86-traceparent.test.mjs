// W3C traceparent: its trace-id becomes the call's id (errorId, log lines), and outbound HTTP calls pass the trace on.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';

const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/observe');
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const TP = `00-${TRACE}-00f067aa0ba902b7-01`;

describe('traceparent', () => {
  let srv, upstream, seen;
  before(async () => {
    srv = await startServer({ app: FIXTURE });
    upstream = http.createServer((req, res) => { seen = req.headers; res.end('upstream'); });
    await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
  });
  after(async () => {
    await srv?.stop();
    upstream?.close();
  });

  test('a valid traceparent: its trace-id is the errorId and the id of the call\'s log lines', async () => {
    const mark = srv.mark();
    const res = await srv.fetch('/fail', { headers: { traceparent: TP } });
    assert.equal(res.status, 409);
    assert.equal((await res.json()).errorId, TRACE);
    await srv.waitForLine((l) => l.includes(`info errorId=${TRACE}: about to fail`), { from: mark });
    await srv.waitForLine((l) => l.includes('GET /fail 409') && l.includes(`errorId=${TRACE}`), { from: mark });
    // the core's own answers too
    const nf = await srv.fetch('/nope', { headers: { traceparent: TP } });
    assert.equal((await nf.json()).errorId, TRACE);
  });

  test('X-Request-Id wins; an invalid traceparent is ignored', async () => {
    let res = await srv.fetch('/fail', { headers: { traceparent: TP, 'x-request-id': 'req-7' } });
    assert.equal((await res.json()).errorId, 'req-7');
    for (const bad of [TP.toUpperCase(), `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, `ff-${TRACE}-00f067aa0ba902b7-01`, 'x']) {
      res = await srv.fetch('/fail', { headers: { traceparent: bad } });
      const id = (await res.json()).errorId;
      assert.notEqual(id, TRACE, bad);
      assert.match(id, /^[0-9a-f]{32}$/);
    }
  });

  test('an outbound HTTP call passes the trace on with a parent-id of its own', async () => {
    const url = encodeURIComponent(`http://127.0.0.1:${upstream.address().port}/x`);
    let res = await srv.fetch(`/outbound?url=${url}`, { headers: { traceparent: TP } });
    assert.equal((await res.json()).body, 'upstream');
    const m = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/.exec(seen.traceparent);
    assert.ok(m, seen.traceparent);
    assert.equal(m[1], TRACE);
    assert.notEqual(m[2], '00f067aa0ba902b7');
    assert.equal(m[3], '01');
    // without one, the call starts a trace: its id is the call's id
    res = await srv.fetch(`/outbound?url=${url}`, { headers: { traceparent: `00-${TRACE}-00f067aa0ba902b7-00` } });
    await res.json();
    assert.match(seen.traceparent, new RegExp(`^00-${TRACE}-[0-9a-f]{16}-00$`));
    res = await srv.fetch(`/outbound?url=${url}`);
    await res.json();
    assert.match(seen.traceparent, /^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    assert.ok(!seen.traceparent.startsWith(`00-${TRACE}`));
  });
});

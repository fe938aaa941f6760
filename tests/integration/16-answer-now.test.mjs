// wire.http:send and redirect answer at once; the function goes on after the client has its answer, and its later errors reach the log.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, withApp, RawConn } from './lib/server.mjs';

const APP = [
  'local pikku = require "pikku"',
  'local released = {}',
  'pikku.wire_http { method = "post", route = "/release/:n", func = function(_, data) released[tonumber(data.n)] = true end }',
  'pikku.wire_http { method = "post", route = "/accept", func = function(services, data, wire)',
  '  wire.http:set_status(202)',
  '  wire.http:send(\'{"accepted":true}\', "application/json")',
  '  local n = 0',
  '  while not released[data.n] and n < 500 do services.sleep(20) n = n + 1 end   -- until /release (10 s at most)',
  '  services.logger.info("finished later " .. tostring(data.n))',
  '  return { ignored = true }',
  'end }',
  'pikku.wire_http { method = "get", route = "/go", func = function(services, _, wire)',
  '  wire.http:redirect("/elsewhere")',
  '  services.sleep(200)',
  '  error("broke after the answer")',
  'end }',
  'pikku.wire_http { method = "get", route = "/twice", func = function(_, _, wire)',
  '  wire.http:send("one", "text/plain")',
  '  local ok, err = pcall(wire.http.send, wire.http, "two", "text/plain")',
  '  error("second send: " .. tostring(ok) .. " " .. tostring(err))',
  'end }',
  'pikku.wire_http { method = "get", route = "/hello", func = function() return { hello = true } end }',
];

test('send answers at once; the function finishes later, and what it returns is not sent', () => withApp(APP, async (dir) => {
  const srv = await startServer({ app: dir });
  try {
    // the function waits for /release: the answer must come before that
    const r = await srv.fetch('/accept', { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' },
      signal: AbortSignal.timeout(3000) });
    assert.equal(r.status, 202);
    assert.deepEqual(await r.json(), { accepted: true });
    assert.equal((await srv.fetch('/release/1', { method: 'POST' })).status, 204);
    await srv.waitForLine((l) => l.includes('finished later 1'), { timeout: 10000 });
  } finally { await srv.stop(); }
}));

test('the next request on the same keep-alive connection is served while the earlier function still runs', () => withApp(APP, async (dir) => {
  const srv = await startServer({ app: dir });
  const c = await RawConn.connect(srv.port);
  try {
    const body = '{"n":2}';
    await c.write(`POST /accept HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
    await c.write('GET /hello HTTP/1.1\r\nHost: t\r\n\r\n');
    const rs = await c.responses(2, { timeout: 3000 });
    assert.equal(rs[0].status, 202);
    assert.deepEqual(rs[1].json(), { hello: true });
    assert.equal((await srv.fetch('/release/2', { method: 'POST' })).status, 204);
    await srv.waitForLine((l) => l.includes('finished later 2'), { timeout: 10000 });
  } finally { c.destroy(); await srv.stop(); }
}));

test('redirect answers at once too; an error after the answer is logged, and a second send raises', () => withApp(APP, async (dir) => {
  const srv = await startServer({ app: dir });
  try {
    const r = await srv.fetch('/go', { redirect: 'manual' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.get('location'), '/elsewhere');
    await r.arrayBuffer();
    const line = await srv.waitForLine((l) => l.includes('broke after the answer'));
    assert.match(line, /after the response was sent/);
    const t = await srv.fetch('/twice');
    assert.equal(await t.text(), 'one');
    const second = await srv.waitForLine((l) => l.includes('second send: false'));
    assert.match(second, /the response was already sent/);
  } finally { await srv.stop(); }
}));

// Data merging per PROTOCOL.md: path params, query, body; 422 conflicts, 400 bad JSON, 415, form, text, arrays.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, checkErrorBody, rawRequest, REPO_ROOT } from './lib/server.mjs';

async function call(srv, p, { method = 'GET', type, body, headers = {} } = {}) {
  const h = { ...headers };
  if (type) h['content-type'] = type;
  const res = await srv.fetch(p, { method, headers: h, body });
  const text = await res.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: res.status, headers: res.headers, text, json };
}

const JSON_T = 'application/json';

describe('data merge via /echo-data (apps/hello)', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('JSON responses are UTF-8: a percent-encoded byte that is not UTF-8 comes back as U+FFFD', async () => {
    const res = await srv.fetch('/users/a%FFb');
    assert.equal(res.status, 200);
    const bytes = Buffer.from(await res.arrayBuffer());
    assert.ok(!bytes.includes(0xff), bytes.toString('hex'));
    assert.equal(JSON.parse(bytes.toString('utf8')).id, 'a\uFFFDb');
  });

  test('query string only', async () => {
    const r = await call(srv, '/echo-data?a=x&b=y');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { a: 'x', b: 'y' } });
  });

  test('query values are percent- and plus-decoded', async () => {
    const r = await call(srv, '/echo-data?q=a%20b+c&k%C3%A4=%C3%B6');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { q: 'a b c', 'kä': 'ö' } });
  });

  test('repeated query keys become arrays', async () => {
    const r = await call(srv, '/echo-data?tag=a&tag=b&tag=c&one=1x');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data.tag, ['a', 'b', 'c']);
    assert.equal(r.json.data.one, '1x');
  });

  test('no query and no body -> empty data', async () => {
    const r = await call(srv, '/echo-data');
    assert.equal(r.status, 200, r.text);
    assert.equal(typeof r.json.data, 'object');
    assert.equal(Object.keys(r.json.data ?? {}).length, 0, r.text);
  });

  test('JSON body object', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: JSON_T, body: JSON.stringify({ x: 1, nested: { y: [1, 2] }, s: 'é' }) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { x: 1, nested: { y: [1, 2] }, s: 'é' } });
  });

  test('JSON values come back as they were sent: [] stays [], {} stays {}, null, big and fractional numbers', async () => {
    const sent = { empty: [], obj: {}, nested: [[], [{}]], nil: null, big: 9007199254740991, third: 1 / 3, neg: -0.5e-7, u: '\u00e9\ud83d\ude00' };
    const r = await call(srv, '/echo-data', { method: 'POST', type: JSON_T, body: JSON.stringify(sent) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: sent });
  });

  test('malformed JSON -> 400 naming the byte: trailing comma, raw control character, lone surrogate', async () => {
    for (const body of ['{"a":1,}', '{"a":"x\ty"}', '{"a":"\\ud800"}', '{"a":01}', '{"a":1} x']) {
      const r = await call(srv, '/echo-data', { method: 'POST', type: JSON_T, body });
      assert.equal(r.status, 400, body + ' -> ' + r.text);
      checkErrorBody(assert, r.json, { name: 'BadRequest' });
      assert.match(r.json.message, /malformed JSON body: .* at (byte \d+|the end of the input)/, body);
    }
  });

  test('JSON content type with charset parameter', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: 'application/json; charset=utf-8', body: '{"x":"y"}' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { x: 'y' } });
  });

  test('query and JSON body are merged', async () => {
    const r = await call(srv, '/echo-data?q=from-query', { method: 'POST', type: JSON_T, body: JSON.stringify({ b: 'from-body' }) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { q: 'from-query', b: 'from-body' } });
  });

  test('same key with the same value in query and body is fine', async () => {
    const r = await call(srv, '/echo-data?a=same', { method: 'POST', type: JSON_T, body: JSON.stringify({ a: 'same' }) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { a: 'same' } });
  });

  test('a path or query value agrees with the same number or boolean in the JSON body (the typed one is kept)', async () => {
    let r = await call(srv, '/echo-data?n=42&b=true', { method: 'POST', type: JSON_T, body: JSON.stringify({ n: 42, b: true }) });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { n: 42, b: true } });
    r = await call(srv, '/echo-data?n=0x2a', { method: 'POST', type: JSON_T, body: JSON.stringify({ n: 42 }) });
    assert.equal(r.status, 422, r.text);
    r = await call(srv, '/echo-data?n=43', { method: 'POST', type: JSON_T, body: JSON.stringify({ n: 42 }) });
    assert.equal(r.status, 422, r.text);
  });

  test('same key with different values in query and body -> 422', async () => {
    const r = await call(srv, '/echo-data?a=one', { method: 'POST', type: JSON_T, body: JSON.stringify({ a: 'two' }) });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('malformed JSON -> 400 BadRequest', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: JSON_T, body: '{"a":' });
    assert.equal(r.status, 400, r.text);
    checkErrorBody(assert, r.json, { name: 'BadRequest' });
  });

  test('JSON array body arrives as {data: [...]}', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: JSON_T, body: '[1,"two",{"three":3}]' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { data: [1, 'two', { three: 3 }] } });
  });

  test('JSON scalar body arrives as {data: scalar}', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: JSON_T, body: '"just a string"' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { data: 'just a string' } });
  });

  test('form-urlencoded body', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'a=1&b=two+words&c=%26' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { a: '1', b: 'two words', c: '&' } });
  });

  test('form body with repeated keys -> arrays', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'k=1&k=2' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data.k, ['1', '2']);
  });

  test('form body conflicting with the query -> 422', async () => {
    const r = await call(srv, '/echo-data?a=1', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'a=2' });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('text/plain body arrives as {data: "..."}', async () => {
    const r = await call(srv, '/echo-data', { method: 'POST', type: 'text/plain', body: 'some text\nwith lines' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { data: 'some text\nwith lines' } });
  });

  for (const type of ['application/octet-stream', 'image/png', 'application/xml']) {
    test(`other content type (${type}) -> 415 UnsupportedMediaType`, async () => {
      const r = await call(srv, '/echo-data', { method: 'POST', type, body: 'abc' });
      assert.equal(r.status, 415, r.text);
      checkErrorBody(assert, r.json, { name: 'UnsupportedMediaType' });
    });
  }

  test('POST /raw takes a raw body in any content type', async () => {
    for (const type of ['application/octet-stream', 'image/png', 'application/json', 'text/plain']) {
      const body = Buffer.alloc(5000, 0x41);
      const r = await call(srv, '/raw', { method: 'POST', type, body });
      assert.equal(r.status, 200, `${type}: ${r.text}`);
      assert.deepEqual(r.json, { size: 5000 }, type);
    }
  });

  test('POST /raw with binary bytes (all 256 values)', async () => {
    const body = Buffer.from(Array.from({ length: 1024 }, (_, i) => i % 256));
    const r = await call(srv, '/raw', { method: 'POST', type: 'application/octet-stream', body });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { size: 1024 });
  });

  test('a GET body is ignored', async () => {
    const body = '{"ignored":true}';
    const req = `GET /echo-data?a=1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
    const r = await rawRequest(srv.port, req);
    assert.equal(r.responses.length, 1, r.text);
    assert.equal(r.responses[0].status, 200, r.text);
    assert.deepEqual(r.responses[0].json(), { data: { a: '1' } });
  });

  test('POST /echo with form data is still validated', async () => {
    const r = await call(srv, '/echo', { method: 'POST', type: 'application/x-www-form-urlencoded', body: 'name=formname' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { name: 'formname' });
  });
});

describe('path params in the merge (fixture app)', () => {
  let srv;
  before(async () => { srv = await startServer({ app: path.join(REPO_ROOT, 'tests/integration/fixtures/routes') }); });
  after(() => srv?.stop());

  test('path params, query and body all arrive', async () => {
    const r = await call(srv, '/merge/7?q=1', { method: 'POST', type: JSON_T, body: '{"b":"x"}' });
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { id: '7', q: '1', b: 'x' } });
  });

  test('path param vs query with a different value -> 422', async () => {
    const r = await call(srv, '/merge/7?id=8');
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('path param vs body with a different value -> 422', async () => {
    const r = await call(srv, '/merge/7', { method: 'POST', type: JSON_T, body: '{"id":"9"}' });
    assert.equal(r.status, 422, r.text);
    checkErrorBody(assert, r.json, { name: 'UnprocessableContent' });
  });

  test('path param and query with the same value -> 200', async () => {
    const r = await call(srv, '/merge/7?id=7');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { id: '7' } });
  });

  test('path params are percent-decoded', async () => {
    const r = await call(srv, '/merge/a%2Fb%20c');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { data: { id: 'a/b c' } });
  });
});

// JSON answers are written by reading LuaJIT's tables (core/src/lj_view.h) unless PIKKU_LJ_VIEW=0;
// both ways must give the same answer, for the shapes a real answer has. (Byte for byte in one
// process: tests/unit/test_json.c. Between two processes a table's key order may differ, as
// LuaJIT's string hashes do, so here: the same values and the same length.)
describe('JSON answers: the same with and without the table views (PIKKU_LJ_VIEW=0)', () => {
  let viewed, plain;
  before(async () => {
    [viewed, plain] = await Promise.all([startServer(), startServer({ env: { PIKKU_LJ_VIEW: '0' } })]);
  });
  after(() => { viewed?.stop(); plain?.stop(); });

  const bodies = [
    { name: 'Ada', tags: ['a', 'b'], n: 1.5, big: 12345678901, neg: -0.25, ok: true, no: false },
    { nested: { deeper: { list: [1, [2, [3, {}]], []], s: 'é"\\\n\u0001' } }, empty: {}, arr: [] },
    { text: 'x'.repeat(100), unicode: '\u{1F600}', tiny: 1e-7, huge: 1e300, exp: 2.5e-5 },
    Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`k${i}`, i % 3 ? `v${i}` : i])),
    { nulls: [1, null, 3], onlyNull: null },
  ];
  for (const [i, body] of bodies.entries()) {
    test(`body ${i + 1}`, async () => {
      const send = (srv) => call(srv, '/echo-data', { method: 'POST', type: JSON_T, body: JSON.stringify(body) });
      const [a, b] = await Promise.all([send(viewed), send(plain)]);
      assert.equal(a.status, 200, a.text);
      assert.equal(b.status, 200, b.text);
      assert.equal(a.text.length, b.text.length);
      assert.deepEqual(a.json, b.json);
      assert.deepEqual(a.json.data, JSON.parse(JSON.stringify(body)));
    });
  }
});

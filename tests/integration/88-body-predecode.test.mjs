// A JSON body decoded by the core before the runtime (core/src/body_predecode.c): the same data, errors and wire.http.body as every other way in.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInlineApp } from './lib/server.mjs';

// application/json (any case, with parameters) on a route with an input schema, no path params and
// no query string is decoded on the way in; application/vnd.test+json is JSON to the runtime too,
// but the core leaves it to the runtime: comparing the two compares the two ways.
const WAYS = ['application/json', 'application/json; charset=utf-8', 'APPLICATION/JSON', 'application/vnd.test+json'];

const APP = [
  'local pikku = require "pikku"',
  'local schema = {',
  '  type = "object",',
  '  properties = {',
  '    id = { type = "string" },',
  '    name = { type = "string", minLength = 1, maxLength = 20 },',
  '    n = { type = "integer", minimum = 0 },',
  '    score = { type = "number" },',
  '    tags = { type = "array", items = { type = "string" }, maxItems = 3 },',
  '    role = { type = "string", enum = { "admin", "user" } },',
  '    ok = { type = "boolean" },',
  '    nested = { type = "object", properties = { a = { type = "number" } }, additionalProperties = false },',
  '  },',
  '  required = { "name" },',
  '  additionalProperties = false,',
  '}',
  'local seen = pikku.func {',
  '  auth = false, input = schema,',
  '  permissions = { not_thirteen = function(_, data) return data.n ~= 13 end },',
  '  func = function(_, data, wire)',
  '    data.marked = getmetatable(data.tags or {}) ~= nil',
  '    return { data = data, body = wire.http.body, method = wire.http.method }',
  '  end,',
  '}',
  'pikku.wire_http { method = "post", route = "/in", func = seen }',
  'pikku.wire_http { method = "put", route = "/in", func = seen }',
  'pikku.wire_http { method = "post", route = "/in/:id", func = seen }',
];

describe('a JSON body decoded before the runtime', () => {
  let srv;
  before(async () => { srv = await startInlineApp(APP); });
  after(() => srv?.stop());

  async function post(p, type, body, method = 'POST') {
    const res = await srv.fetch(p, { method, headers: { 'content-type': type }, body });
    const text = await res.text();
    let json;
    try { json = JSON.parse(text); } catch { json = undefined; }
    if (json && json.errorId) delete json.errorId;   // differs per request
    return { status: res.status, json, text };
  }

  // every way in gives the same answer; returns it
  async function sameEveryWay(p, body, method) {
    const answers = [];
    for (const type of WAYS) answers.push(await post(p, type, body, method));
    for (let i = 1; i < answers.length; i++) {
      const { status, json } = answers[i];
      assert.deepEqual({ status, json }, { status: answers[0].status, json: answers[0].json },
        `${WAYS[i]} against ${WAYS[0]} for ${body}`);
    }
    return answers[0];
  }

  test('valid bodies reach the function as the same data, with wire.http.body the raw text', async () => {
    const bodies = [
      { name: 'a' },
      { name: 'Ada', n: 3, score: 87.5, tags: ['x', 'y'], role: 'admin', ok: true, nested: { a: 1.5 } },
      { tags: [], name: 'caf\u00e9 \u00fc', nested: {} },
      { nested: { a: -0.25 }, name: 'z', n: 0, ok: false },
    ];
    for (const b of bodies) {
      const text = JSON.stringify(b);
      for (const method of ['POST', 'PUT']) {
        const r = await sameEveryWay('/in', text, method);
        assert.equal(r.status, 200, r.text);
        assert.equal(r.json.body, text);
        assert.equal(r.json.method, method);
        const { marked, ...data } = r.json.data;
        assert.deepEqual(data, b);
        assert.equal(marked, 'tags' in b, 'an array is marked as the decoder marks arrays');
      }
    }
    // white space around and inside
    const spaced = ' { "name" : "s" ,\n "tags" : [ "t" ] } ';
    const r = await sameEveryWay('/in', spaced);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { name: 's', tags: ['t'], marked: true });
    assert.equal(r.json.body, spaced);
  });

  test('bodies the one pass leaves to the two-pass way come out the same', async () => {
    for (const text of ['{"name":"a\\nb"}', '{"name":"\\u00e9t\\u00e9"}', '{"name":"a","name":"b"}',
      '{"name":"x","n":1.0}', '{"name":"x","score":1e2}', '{"name":"x","n":1e0}']) {
      const r = await sameEveryWay('/in', text);
      assert.ok(r.status === 200 || r.status === 422 || r.status === 400, `${text}: ${r.status} ${r.text}`);
      if (r.status === 200) assert.equal(r.json.body, text);
    }
    const r = await sameEveryWay('/in', '{"name":"a\\nb"}');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.data.name, 'a\nb');
  });

  test('an invalid body gets every error, whichever way it came in', async () => {
    const r = await sameEveryWay('/in', JSON.stringify({ name: '', n: -1, role: 'root', extra: 1, tags: ['a', 2] }));
    assert.equal(r.status, 422, r.text);
    const paths = r.json.payload.errors.map((e) => e.path).sort();
    assert.deepEqual(paths, ['/extra', '/n', '/name', '/role', '/tags/1']);
    const missing = await sameEveryWay('/in', '{}');
    assert.equal(missing.status, 422);
    assert.deepEqual(missing.json.payload.errors, [{ path: '/name', message: 'is required' }]);
    const notObject = await sameEveryWay('/in', '[1,2]');
    assert.equal(notObject.status, 422, notObject.text);
  });

  test('malformed JSON is a 400, and a permission sees the decoded data', async () => {
    for (const text of ['{"name":', '{"name":"a"} x', '{name:"a"}', 'nul']) {
      const r = await sameEveryWay('/in', text);
      assert.equal(r.status, 400, `${text}: ${r.text}`);
      assert.match(r.json.message, /malformed JSON body/);
    }
    const r = await sameEveryWay('/in', '{"name":"a","n":13}');
    assert.equal(r.status, 403, r.text);
  });

  test('path params and a query string still merge with the body', async () => {
    const r = await post('/in/7', 'application/json', '{"name":"a"}');
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json.data, { id: '7', name: 'a', marked: false });
    const q = await post('/in?role=user', 'application/json', '{"name":"a"}');
    assert.equal(q.status, 200, q.text);
    assert.deepEqual(q.json.data, { role: 'user', name: 'a', marked: false });
    const conflict = await post('/in/7', 'application/json', '{"name":"a","id":"8"}');
    assert.equal(conflict.status, 422, conflict.text);
  });

  test('other content types are read as before', async () => {
    const form = await post('/in', 'application/x-www-form-urlencoded', 'name=f&n=2');
    assert.equal(form.status, 200, form.text);
    assert.deepEqual(form.json.data, { name: 'f', n: 2, marked: false });
    const text = await post('/in', 'text/plain', '{"name":"a"}');
    assert.equal(text.status, 422, text.text);   // text is data.data, which the schema does not allow
    const joined = await srv.fetch('/in', { method: 'POST', headers: [['content-type', 'application/json'], ['content-type', 'text/plain']], body: '{"name":"a"}' });
    assert.equal(joined.status, 415, await joined.text());   // two Content-Type lines join into no known type
  });
});

// Bounded answers: a 422 lists at most 100 errors and counts the rest; duplicate keys in a JSON object are refused by name.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';

const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/observe');

describe('bounded answers', () => {
  let srv;
  before(async () => { srv = await startServer({ app: FIXTURE }); });
  after(() => srv?.stop());

  const post = (body) => srv.fetch('/strict', { method: 'POST', body, headers: { 'content-type': 'application/json' } });

  test('60,000 unknown keys in a 769 KB body: a 422 of a few KiB, 100 errors listed and the rest counted', async () => {
    const obj = {};
    for (let i = 0; i < 60000; i++) obj[`key${i}`] = i;
    const body = JSON.stringify(obj);
    assert.ok(body.length > 700000 && body.length < 1048576);
    const res = await post(body);
    assert.equal(res.status, 422);
    const text = await res.text();
    assert.ok(text.length < 16 * 1024, `answer of ${text.length} bytes`);
    const e = JSON.parse(text);
    assert.equal(e.name, 'UnprocessableContent');
    assert.equal(e.payload.errors.length, 100);
    assert.equal(e.payload.omitted, 59900);
    assert.equal(e.message, 'Validation failed: 60000 errors, the first 100 listed');
    for (const x of e.payload.errors) assert.match(x.path, /^\/key\d+$/);
  });

  test('a few errors: all listed, nothing omitted', async () => {
    const res = await post('{"title":1,"a":1}');
    const e = await res.json();
    assert.equal(e.message, 'Validation failed');
    assert.equal(e.payload.errors.length, 2);
    assert.equal(e.payload.omitted, undefined);
  });

  test('duplicate keys: 400 naming the key, also nested', async () => {
    let res = await post('{"title":"x","title":"y"}');
    assert.equal(res.status, 400);
    let e = await res.json();
    assert.equal(e.name, 'BadRequest');
    assert.equal(e.message, 'malformed JSON body: duplicate key "title" in an object at byte 14');
    res = await post('{"title":"x","meta":{"a":1,"a":2}}');
    e = await res.json();
    assert.equal(res.status, 400);
    assert.match(e.message, /duplicate key "a"/);
    assert.equal((await post('{"title":"x"}')).status, 200);
  });
});

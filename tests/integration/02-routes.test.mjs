// Routing through fetch: every apps/hello route, 404, 405 + Allow, HEAD, common headers, static beats param.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, runCli, checkErrorBody, withApp, REPO_ROOT } from './lib/server.mjs';

/** Headers every response must carry. */
function checkCommonHeaders(res, { body = true } = {}) {
  assert.ok(res.headers.get('date'), 'Date header');
  assert.ok(!Number.isNaN(Date.parse(res.headers.get('date'))), 'Date parses');
  assert.match(res.headers.get('server') ?? '', /^pikku\/\S+/, 'Server: pikku/<version>');
  assert.equal(res.headers.get('transfer-encoding'), null, 'never chunked');
  if (body) {
    assert.ok(res.headers.get('content-length') !== null, 'Content-Length header');
    assert.ok(res.headers.get('content-type'), 'Content-Type when there is a body');
  }
}

async function getJson(res) {
  const text = await res.text();
  assert.equal(Number(res.headers.get('content-length')), Buffer.byteLength(text), 'Content-Length matches body');
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`body is not JSON: ${JSON.stringify(text)}`);
  }
}

describe('apps/hello routes', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('GET /_pikku/health', async () => {
    const res = await srv.fetch('/_pikku/health');
    assert.equal(res.status, 200);
    checkCommonHeaders(res);
    assert.match(res.headers.get('content-type'), /application\/json/);
    assert.deepEqual(await getJson(res), { status: 'ok' });
  });

  test('GET /hello', async () => {
    const res = await srv.fetch('/hello');
    assert.equal(res.status, 200);
    checkCommonHeaders(res);
    assert.match(res.headers.get('content-type'), /^application\/json/);
    assert.deepEqual(await getJson(res), { message: 'hello' });
  });

  test('Server header carries the version printed by `pikku version`', async () => {
    const v = runCli(['version']);
    const m = /\d+\.\d+[\w.+-]*/.exec(v.stdout);
    assert.ok(m, `version output: ${v.stdout}`);
    const res = await srv.fetch('/hello');
    await res.arrayBuffer();
    assert.equal(res.headers.get('server'), `pikku/${m[0]}`);
  });

  test('GET /users/:id', async () => {
    const res = await srv.fetch('/users/42');
    assert.equal(res.status, 200);
    checkCommonHeaders(res);
    assert.deepEqual(await getJson(res), { id: '42', name: 'user42' });
  });

  test('GET /users/:id decodes percent-escapes in the param', async () => {
    const res = await srv.fetch('/users/a%20b');
    assert.equal(res.status, 200);
    assert.deepEqual(await getJson(res), { id: 'a b', name: 'usera b' });
  });

  test('POST /echo with a string name', async () => {
    const res = await srv.fetch('/echo', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'bench' }),
    });
    assert.equal(res.status, 200);
    checkCommonHeaders(res);
    assert.deepEqual(await getJson(res), { name: 'bench' });
  });

  for (const [label, body] of [['without name', { nope: 1 }], ['with a non-string name', { name: 42 }]]) {
    test(`POST /echo ${label} -> 400 BadRequest`, async () => {
      const res = await srv.fetch('/echo', {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
      });
      assert.equal(res.status, 400);
      checkCommonHeaders(res);
      checkErrorBody(assert, await getJson(res), { name: 'BadRequest' });
    });
  }

  test('GET /books/1 -> a book', async () => {
    const res = await srv.fetch('/books/1');
    assert.equal(res.status, 200);
    const body = await getJson(res);
    assert.equal(typeof body, 'object');
    assert.ok(body !== null && Object.keys(body).length > 0, `a book: ${JSON.stringify(body)}`);
  });

  test('GET /books/other -> 404 NotFound with payload {id}', async () => {
    const res = await srv.fetch('/books/other');
    assert.equal(res.status, 404);
    checkCommonHeaders(res);
    const body = await getJson(res);
    checkErrorBody(assert, body, { name: 'NotFound' });
    assert.deepEqual(body.payload, { id: 'other' });
  });

  test('GET /files/*path', async () => {
    const res = await srv.fetch('/files/a/b/c');
    assert.equal(res.status, 200);
    assert.deepEqual(await getJson(res), { path: 'a/b/c' });
  });

  test('POST /items -> 201 with Set-Cookie', async () => {
    const res = await srv.fetch('/items', {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ title: 'x' }),
    });
    assert.equal(res.status, 201);
    checkCommonHeaders(res);
    assert.ok(res.headers.getSetCookie().length >= 1, 'a Set-Cookie header');
    const body = await getJson(res);
    assert.deepEqual(body.created, { title: 'x' });
  });

  test('GET /old -> 302 Location /hello', async () => {
    const res = await srv.fetch('/old', { redirect: 'manual' });
    assert.equal(res.status, 302);
    assert.equal(res.headers.get('location'), '/hello');
    assert.ok(res.headers.get('date'));
    assert.ok(res.headers.get('content-length') !== null);
    await res.arrayBuffer();
  });

  test('DELETE /items/:id -> 204 without a body', async () => {
    const res = await srv.fetch('/items/7', { method: 'DELETE' });
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('content-type'), null, 'no Content-Type without a body');
    assert.ok(res.headers.get('date'));
    assert.match(res.headers.get('server') ?? '', /^pikku\//);
  });

  test('GET /text -> text/plain', async () => {
    const res = await srv.fetch('/text');
    assert.equal(res.status, 200);
    checkCommonHeaders(res);
    assert.match(res.headers.get('content-type'), /^text\/plain/);
    assert.equal(await res.text(), 'plain text\n');
  });

  test('GET /sleep?ms=10', async () => {
    const res = await srv.fetch('/sleep?ms=10');
    assert.equal(res.status, 200);
    const body = await getJson(res);
    assert.equal(Number(body.slept), 10);
  });

  test('POST /raw accepts any content type', async () => {
    const res = await srv.fetch('/raw', {
      method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: Buffer.alloc(1234, 7),
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await getJson(res), { size: 1234 });
  });

  test('unknown path -> 404 NotFound JSON error', async () => {
    const res = await srv.fetch('/no/such/route');
    assert.equal(res.status, 404);
    checkCommonHeaders(res);
    assert.match(res.headers.get('content-type'), /application\/json/);
    checkErrorBody(assert, await getJson(res), { name: 'NotFound' });
  });

  test('unknown path with other methods -> 404', async () => {
    for (const method of ['POST', 'DELETE', 'PUT']) {
      const res = await srv.fetch('/no/such/route', { method });
      assert.equal(res.status, 404, method);
      checkErrorBody(assert, await getJson(res), { name: 'NotFound' });
    }
  });

  const allowOf = (res) => (res.headers.get('allow') ?? '').split(',').map((s) => s.trim().toUpperCase()).filter(Boolean).sort();

  test('POST /hello -> 405 MethodNotAllowed, Allow: GET, HEAD', async () => {
    const res = await srv.fetch('/hello', { method: 'POST', body: '' });
    assert.equal(res.status, 405);
    checkCommonHeaders(res);
    checkErrorBody(assert, await getJson(res), { name: 'MethodNotAllowed' });
    assert.deepEqual(allowOf(res), ['GET', 'HEAD']);
  });

  test('GET /items -> 405, Allow: POST', async () => {
    const res = await srv.fetch('/items');
    assert.equal(res.status, 405);
    checkErrorBody(assert, await getJson(res), { name: 'MethodNotAllowed' });
    assert.deepEqual(allowOf(res), ['POST']);
  });

  test('GET /items/3 -> 405, Allow: DELETE', async () => {
    const res = await srv.fetch('/items/3');
    assert.equal(res.status, 405);
    await res.arrayBuffer();
    assert.deepEqual(allowOf(res), ['DELETE']);
  });

  test('DELETE /echo-data -> 405, Allow lists GET, HEAD and POST', async () => {
    const res = await srv.fetch('/echo-data', { method: 'DELETE' });
    assert.equal(res.status, 405);
    await res.arrayBuffer();
    assert.deepEqual(allowOf(res), ['GET', 'HEAD', 'POST']);
  });

  test('OPTIONS on a known path (no options route, no pikku.cors) -> 204 with Allow; unknown path -> 404', async () => {
    const res = await srv.fetch('/echo-data', { method: 'OPTIONS' });
    assert.equal(res.status, 204);
    assert.equal((await res.arrayBuffer()).byteLength, 0);
    assert.deepEqual(allowOf(res), ['GET', 'HEAD', 'OPTIONS', 'POST']);
    const none = await srv.fetch('/no/such/path', { method: 'OPTIONS' });
    assert.equal(none.status, 404);
    await none.arrayBuffer();
  });

  test('HEAD /hello -> GET headers, no body', async () => {
    const get = await srv.fetch('/hello');
    const getBody = await get.text();
    const head = await srv.fetch('/hello', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(await head.text(), '');
    assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(getBody)));
    assert.equal(head.headers.get('content-type'), get.headers.get('content-type'));
    assert.match(head.headers.get('server') ?? '', /^pikku\//);
  });

  test('HEAD on an unknown path -> 404 without a body', async () => {
    const res = await srv.fetch('/no/such/route', { method: 'HEAD' });
    assert.equal(res.status, 404);
    assert.equal(await res.text(), '');
  });

  test('HEAD /_pikku/health', async () => {
    const res = await srv.fetch('/_pikku/health', { method: 'HEAD' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), '');
    assert.equal(res.headers.get('content-length'), String(Buffer.byteLength('{"status":"ok"}')));
  });

  test('POST /_pikku/health -> 405 with Allow: GET, HEAD; OPTIONS -> 204', async () => {
    const res = await srv.fetch('/_pikku/health', { method: 'POST', body: '' });
    assert.equal(res.status, 405);
    checkErrorBody(assert, await getJson(res), { name: 'MethodNotAllowed' });
    assert.deepEqual(allowOf(res), ['GET', 'HEAD']);
    const opt = await srv.fetch('/_pikku/health', { method: 'OPTIONS' });
    assert.equal(opt.status, 204);
    await opt.arrayBuffer();
    assert.deepEqual(allowOf(opt), ['GET', 'HEAD', 'OPTIONS']);
  });
});

test('wire.http.remote_addr and remote_port are the client socket\'s', async () => {
  const net = await import('node:net');
  const srv = await startServer();
  try {
    const sock = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const localPort = sock.localPort;
    const chunks = [];
    sock.on('data', (d) => chunks.push(d));
    sock.write('GET /whoami HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n');
    await new Promise((r) => sock.once('close', r));
    const body = JSON.parse(Buffer.concat(chunks).toString().split('\r\n\r\n')[1]);
    assert.deepEqual(body, { addr: '127.0.0.1', port: localPort });
  } finally { await srv.stop(); }
});

describe('route precedence (fixture app)', () => {
  let srv;
  before(async () => { srv = await startServer({ app: path.join(REPO_ROOT, 'tests/integration/fixtures/routes') }); });
  after(() => srv?.stop());

  test('pikku.rpc_max_depth(3) stops the fourth nested rpc.invoke', async () => {
    const res = await srv.fetch('/rpc/dive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"data":{}}' });
    assert.equal(res.status, 200);
    const body = await getJson(res);
    assert.equal(body.deepest, 4);
    assert.match(body.error, /depth limit of 3 nested calls/);
  });

  test('a function gets what it declares: data and wire made for it, the wire also when a service asks', async () => {
    const get = async (p) => {
      const res = await srv.fetch(p);
      assert.equal(res.status, 200, p);
      return getJson(res);
    };
    assert.deepEqual(await get('/declared/none'), { nested: { internal: true, got: { z: 3 } } });
    assert.deepEqual(await get('/declared/two'), { data: 'table', n: 0 });
    assert.deepEqual(await get('/declared/three'), { data: 'table', method: 'GET' });
    assert.deepEqual(await get('/declared/vararg'), { n: 3, data: 'table', method: 'GET' });
  });

  // A GET with no query to a function that takes no wire gets a smaller request object
  // (http.new_bare, docs/internals.md "A request"); what it adds later (CORS lines, the wire a
  // service makes, an error answer) grows it, and the answers are the same as with the full one.
  test('a function without a wire, with CORS on: the answers and headers of every kind of call', () => withApp([
    'local pikku = require "pikku"',
    'pikku.cors { origins = { "https://app.example" } }',
    'pikku.func { name = "inner", auth = false, func = function(_, data, wire) return { got = data, has_http = wire.http ~= nil } end }',
    'pikku.wire_http { method = "get", route = "/plain", func = pikku.func { auth = false, func = function() return { plain = true } end } }',
    'pikku.wire_http { method = "get", route = "/nested", func = pikku.func { auth = false,',
    '  func = function(services) return services.rpc.invoke("inner", { k = 1 }) end } }',
    'pikku.wire_http { method = "get", route = "/fails", func = pikku.func { auth = false,',
    '  func = function() error(pikku.errors.Conflict("taken", { id = 7 })) end } }',
  ], async (dir) => {
    const s = await startServer({ app: dir });
    try {
      const origin = { origin: 'https://app.example' };
      for (const [p, status, body] of [
        ['/plain', 200, { plain: true }],
        ['/plain?x=1', 200, { plain: true }],
        ['/nested', 200, { got: { k: 1 }, has_http: false }],
      ]) {
        for (const headers of [{}, origin]) {
          const res = await s.fetch(p, { headers });
          assert.equal(res.status, status, p);
          assert.deepEqual(await getJson(res), body, p);
          assert.equal(res.headers.get('access-control-allow-origin'), headers.origin ? 'https://app.example' : null, p);
        }
      }
      const res = await s.fetch('/fails', { headers: origin });
      assert.equal(res.status, 409);
      assert.equal(res.headers.get('access-control-allow-origin'), 'https://app.example');
      const err = await getJson(res);
      assert.equal(err.message, 'taken');
      assert.deepEqual(err.payload, { id: 7 });
    } finally {
      await s.stop();
    }
  }));

  test("in-process (pikku test): the wire made when a service asks carries the request's session", () => {
    const r = runCli(['test', path.join(REPO_ROOT, 'tests/integration/fixtures/routes')], { timeout: 20000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, / 0 failed/);
  });

  test('a static segment beats a :param', async () => {
    const res = await srv.fetch('/things/special');
    assert.equal(res.status, 200);
    assert.deepEqual(await getJson(res), { kind: 'static' });
  });

  test('the :param route takes other values', async () => {
    const res = await srv.fetch('/things/other');
    assert.equal(res.status, 200);
    assert.deepEqual(await getJson(res), { kind: 'param', id: 'other' });
  });

  test('a trailing *wildcard takes the rest of the path', async () => {
    const res = await srv.fetch('/things/other/x/y');
    assert.equal(res.status, 200);
    assert.deepEqual(await getJson(res), { kind: 'wild', id: 'other', rest: 'x/y' });
  });
});

describe('wiring errors stop the load and name the place', () => {
  const head = 'local pikku = require "pikku"\nlocal f = pikku.func { auth = false, func = function() return {} end }\n';
  for (const [label, wiring, expected] of [
    ['a route wired twice names both places',
      'pikku.wire_http { method = "get", route = "/a/:id", func = f }\npikku.wire_http { method = "get", route = "/a/:other", func = f }\n',
      /app\.lua:4: route "GET \/a\/:id" is wired twice \(.*app\.lua:3 and .*app\.lua:4\)/],
    ['a trailing slash is the same route',
      'pikku.wire_http { method = "get", route = "/a/b", func = f }\npikku.wire_http { method = "get", route = "/a/b/", func = f }\n',
      /app\.lua:4: route "GET \/a\/b" is wired twice \(.*app\.lua:3 and .*app\.lua:4\)/],
    ['a channel on the path of an event stream names both places (a plain GET route may share it)',
      'pikku.wire_http { method = "get", route = "/live", func = f, sse = true }\npikku.wire_channel { name = "c", route = "/live", on_message = f }\n',
      /app\.lua:4: route "GET \/live" of channel "c" is already wired \(.*app\.lua:3 and .*app\.lua:4\); a channel route shares its path only with a plain HTTP GET/],
    ['two channels on one path name both places',
      'pikku.wire_channel { name = "a", route = "/c", on_message = f }\npikku.wire_channel { name = "b", route = "/c", on_message = f }\n',
      /app\.lua:4: route "GET \/c" of channel "b" is already wired \(.*app\.lua:3 and .*app\.lua:4\)/],
    ['a wildcard that is not last',
      'pikku.wire_http { method = "get", route = "/x/*rest/more", func = f }\n', /app\.lua:3: .*must be the last segment/],
    ['a bad parameter name',
      'pikku.wire_http { method = "get", route = "/x/:9", func = f }\n', /app\.lua:3: .*bad parameter name/],
    ['a misspelt field of pikku.func (a permission that would silently not apply)',
      'local g = pikku.func { permision = function() return false end, func = function() return {} end }\n',
      /app\.lua:3: pikku\.func: unknown field "permision" \(did you mean "permissions"\?\)/],
    ['an unknown field of a wiring',
      'pikku.wire_http { method = "get", route = "/x", func = f, rawbody = true }\n',
      /app\.lua:3: pikku\.wire_http: unknown field "rawbody" \(did you mean "raw_body"\?\)/],
    ['an unknown field of pikku.auth',
      'pikku.auth { cookie = { secrets = { "s" }, maxage = 5 } }\n',
      /app\.lua:3: pikku\.auth: cookie: unknown field "maxage" \(did you mean "max_age"\?\)/],
  ]) {
    test(label, async () => {
      const fs = await import('node:fs');
      const os = await import('node:os');
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-wiring-'));
      try {
        fs.writeFileSync(path.join(dir, 'app.lua'), head + wiring);
        const r = runCli(['serve', dir, '--port', '0', '--workers', '1']);
        assert.equal(r.code, 1, r.stderr);
        assert.match(r.stderr, expected);
      } finally { fs.rmSync(dir, { recursive: true, force: true }); }
    });
  }
});

// Strict HTTP rules compared with nginx and RFC 9112/9110: obs-fold, Host syntax, request-target forms, %00 in the path, control characters in response headers, deep JSON.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, rawRequest, checkErrorBody } from './lib/server.mjs';

const APP = [
  'local pikku = require "pikku"',
  'pikku.wire_http { method = "get", route = "/p/:id", func = function(_, data) return { id = data.id } end }',
  'pikku.wire_http { method = "get", route = "/", func = function() return { root = true } end }',
  'pikku.wire_http { method = "get", route = "/x", func = function() return { x = true } end }',
  'pikku.wire_http { method = "post", route = "/te", func = function(_, data) return { got = data } end }',
  'pikku.wire_http { method = "get", route = "/header", func = function(_, data, wire)',
  '  wire.http:set_header("X-V", data.v) return { ok = true } end }',
  'pikku.wire_http { method = "get", route = "/ctype", func = function(_, data, wire)',
  '  wire.http:send("body", "text/plain" .. data.v) end }',
  'pikku.wire_http { method = "post", route = "/wrap", func = function(_, data) return { wrapped = { { data.deep } } } end }',
].join('\n');

const req = (target, headers = 'Host: t\r\n', method = 'GET') => `${method} ${target} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`;

describe('strict HTTP', () => {
  let srv, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-strict-'));
    fs.writeFileSync(path.join(dir, 'app.lua'), APP);
    srv = await startServer({ app: dir });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  async function one(data) {
    const r = await rawRequest(srv.port, data);
    assert.equal(r.responses.length, 1, r.text);
    return r.responses[0];
  }

  test('obs-fold in Transfer-Encoding (or any header) is 400, never a chunked body', async () => {
    const te = 'POST /te HTTP/1.1\r\nHost: t\r\nTransfer-Encoding:\r\n chunked\r\nContent-Type: application/json\r\n\r\n' +
      '7\r\n{"a":1}\r\n0\r\n\r\n';
    const r = await rawRequest(srv.port, te);
    assert.equal(r.responses[0]?.status, 400, r.text);
    assert.equal(r.closed, true);
    assert.match(r.responses[0].body.toString(), /obs-fold/);
    const other = await one('GET /x HTTP/1.1\r\nHost: t\r\nX-A: one\r\n\ttwo\r\n\r\n');
    assert.equal(other.status, 400);
    assert.equal((await one(req('/x', 'Host: t\r\nX-A: \t spaced  \r\n'))).status, 200, 'blanks around a value are fine');
  });

  test('a Host that is not uri-host [":" port] is 400; valid forms are served', async () => {
    for (const h of ['a b/c@d', 'x:99999999', 'x:65536', 'u@h', 'h/x', '[::1', 'h:80:80', 'h:8o']) {
      const r = await one(req('/x', `Host: ${h}\r\n`));
      assert.equal(r.status, 400, `Host: ${h}`);
      checkErrorBody(assert, r.json(), { name: 'BadRequest' });
      assert.match(r.json().message, /Host/);
    }
    for (const h of ['example.com', 'example.com:8080', '127.0.0.1:65535', '[::1]:80', 'h:', '']) {
      assert.equal((await one(req('/x', `Host: ${h}\r\n`))).status, 200, `Host: ${h}`);
    }
    const v10 = await one('GET /x HTTP/1.0\r\nHost: a b\r\n\r\n');
    assert.equal(v10.status, 400, 'HTTP/1.0 with a bad Host');
  });

  test('absolute-form: userinfo is 400, no path is "/", the authority is checked', async () => {
    const u = await one(req('http://u:p@t/x'));
    assert.equal(u.status, 400);
    assert.match(u.json().message, /[Uu]serinfo/);
    const root = await one(req('http://t'));
    assert.equal(root.status, 200);
    assert.deepEqual(root.json(), { root: true });
    const rootq = await one(req('http://t?a=1'));
    assert.deepEqual(rootq.json(), { root: true });
    assert.deepEqual((await one(req('http://t:8080/p/7'))).json(), { id: '7' });
    assert.equal((await one(req('http://a b/x'))).status, 400);
    assert.equal((await one(req('ftp://t/x'))).status, 400);
  });

  test('%00 in the path is 400; other encoded bytes reach a :param decoded', async () => {
    const r = await one(req('/p/a%00b'));
    assert.equal(r.status, 400);
    assert.match(r.json().message, /%00/);
    const crlf = await one(req('/p/a%0D%0Ab%2Fc'));
    assert.equal(crlf.status, 200);
    assert.deepEqual(crlf.json(), { id: 'a\r\nb/c' });
  });

  test('control characters other than tab in a response header or content type are refused (500, not sent)', async () => {
    for (const c of ['%0B', '%01', '%7F', '%1B', '%0D%0AX-Injected:%201', '%00']) {
      for (const route of ['/header', '/ctype']) {
        const r = await rawRequest(srv.port, req(`${route}?v=a${c}b`));
        const res = r.responses[0];
        assert.equal(res?.status, 500, `${route} ${c}: ${r.text}`);
        const head = r.text.slice(0, r.text.indexOf('\r\n\r\n')).replaceAll('\r\n', '');
        assert.doesNotMatch(head, /[\x00-\x08\x0a-\x1f\x7f]/, `no control byte in the head (${route} ${c})`);
        assert.equal(res.headers['x-injected'], undefined);
      }
    }
    const tab = await one(req('/header?v=a%09b'));
    assert.equal(tab.status, 200);
    assert.equal(tab.headers['x-v'], 'a\tb');
  });

  test('a body as deep as the decoder accepts can be answered wrapped, without an error line', async () => {
    const depth = 999;   // {"deep": [[...]]}: 1000 levels with the object, the decoder's most
    const body = `{"deep":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const before = srv.lines.length;
    for (let i = 0; i < 3; i++) {
      const r = await srv.fetch('/wrap', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200);
      const text = await r.text();
      assert.equal(text, `{"wrapped":[[${'['.repeat(depth)}${']'.repeat(depth)}]]}`);
    }
    const tooDeep = await srv.fetch('/wrap', { method: 'POST', body: `{"deep":${'['.repeat(1000)}${']'.repeat(1000)}}`,
      headers: { 'content-type': 'application/json' } });
    assert.equal(tooDeep.status, 400, 'deeper than the decoder takes: a client error');
    await tooDeep.arrayBuffer();
    const errors = srv.lines.slice(before).filter((l) => / error /.test(l));
    assert.deepEqual(errors, [], 'no error line logged');
  });
});

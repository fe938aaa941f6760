// Requests through the real curl binary: -i status and headers, --http1.0, -d bodies, HEAD, 100-continue uploads.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer } from './lib/server.mjs';

function curl(args) {
  return new Promise((resolve) => {
    execFile('curl', ['-s', '-S', '-m', '10', ...args], { encoding: 'latin1', maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** Split curl -i output into status line, headers (lower-case) and body (the last response if several). */
function parseI(out) {
  let rest = out;
  let head;
  for (;;) {
    const i = rest.indexOf('\r\n\r\n');
    head = rest.slice(0, i);
    rest = rest.slice(i + 4);
    if (!/^HTTP\/\S+ 1\d\d/.test(head)) break; // skip 100 Continue
  }
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = {};
  for (const l of lines) {
    const k = l.slice(0, l.indexOf(':')).toLowerCase();
    headers[k] = l.slice(l.indexOf(':') + 1).trim();
  }
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers, body: rest };
}

describe('curl', () => {
  let srv;
  before(async () => { srv = await startServer(); });
  after(() => srv?.stop());

  test('curl -i GET /hello', async () => {
    const r = await curl(['-i', srv.url('/hello')]);
    assert.equal(r.code, 0, r.stderr);
    const p = parseI(r.stdout);
    assert.match(p.statusLine, /^HTTP\/1\.1 200 OK$/);
    assert.match(p.headers['content-type'], /^application\/json/);
    assert.match(p.headers.server, /^pikku\//);
    assert.ok(p.headers.date);
    assert.equal(Number(p.headers['content-length']), Buffer.byteLength(p.body));
    assert.deepEqual(JSON.parse(p.body), { message: 'hello' });
  });

  test('curl --http1.0', async () => {
    const r = await curl(['-i', '--http1.0', srv.url('/users/7')]);
    assert.equal(r.code, 0, r.stderr);
    const p = parseI(r.stdout);
    assert.match(p.statusLine, /^HTTP\/1\.[01] 200/);
    assert.deepEqual(JSON.parse(p.body), { id: '7', name: 'user7' });
  });

  test('curl -d JSON to POST /echo', async () => {
    const r = await curl(['-i', '-H', 'content-type: application/json', '-d', '{"name":"curl"}', srv.url('/echo')]);
    assert.equal(r.code, 0, r.stderr);
    const p = parseI(r.stdout);
    assert.equal(p.status, 200);
    assert.deepEqual(JSON.parse(p.body), { name: 'curl' });
  });

  test('curl -d form data to POST /echo-data', async () => {
    const r = await curl(['-i', '-d', 'a=1&b=two', srv.url('/echo-data')]);
    assert.equal(r.code, 0, r.stderr);
    const p = parseI(r.stdout);
    assert.equal(p.status, 200);
    assert.deepEqual(JSON.parse(p.body), { data: { a: '1', b: 'two' } });
  });

  test('curl -I (HEAD)', async () => {
    const r = await curl(['-I', srv.url('/hello')]);
    assert.equal(r.code, 0, r.stderr);
    const p = parseI(r.stdout);
    assert.equal(p.status, 200);
    assert.equal(p.body, '');
    assert.equal(p.headers['content-length'], String(Buffer.byteLength('{"message":"hello"}')));
  });

  test('curl -i POST /items -> 201 with Set-Cookie', async () => {
    const r = await curl(['-i', '-H', 'content-type: application/json', '-d', '{"t":1}', srv.url('/items')]);
    assert.equal(r.code, 0, r.stderr);
    const p = parseI(r.stdout);
    assert.equal(p.status, 201);
    assert.ok(p.headers['set-cookie'], 'Set-Cookie');
  });

  test('curl upload with Expect: 100-continue', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-curl-'));
    const file = path.join(dir, 'body.bin');
    fs.writeFileSync(file, Buffer.alloc(200000, 0x5a));
    try {
      const r = await curl(['-i', '-H', 'content-type: application/octet-stream', '-H', 'Expect: 100-continue',
        '--expect100-timeout', '5', '--data-binary', `@${file}`, srv.url('/raw')]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^HTTP\/1\.1 100 Continue\r\n/);
      const p = parseI(r.stdout);
      assert.equal(p.status, 200);
      assert.deepEqual(JSON.parse(p.body), { size: 200000 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('curl keep-alive: two URLs on one connection', async () => {
    const r = await curl(['-v', srv.url('/hello'), srv.url('/users/2')]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /Re-using existing connection/i);
    assert.ok(r.stdout.includes('{"message":"hello"}'));
    assert.ok(r.stdout.includes('user2'));
  });
});

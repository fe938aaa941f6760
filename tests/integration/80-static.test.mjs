// Static routes (pikku.wire_static): files served by the core, validators, 304, ranges, HEAD, precompressed siblings, SPA fallback, and every way out of the directory refused.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { startServer, copyApp, REPO_ROOT, RawConn, rawRequest, runCli, delay } from './lib/server.mjs';

const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/static');

let srv, dir, big;

before(async () => {
  dir = copyApp(FIXTURE);
  const pub = path.join(dir, 'public');
  big = crypto.randomBytes(1024 * 1024 + 17);
  fs.writeFileSync(path.join(pub, 'big.bin'), big);
  fs.writeFileSync(path.join(pub, 'app.js.gz'), zlib.gzipSync(fs.readFileSync(path.join(pub, 'app.js'))));
  fs.writeFileSync(path.join(pub, 'app.js.br'), zlib.brotliCompressSync(fs.readFileSync(path.join(pub, 'app.js'))));
  fs.writeFileSync(path.join(pub, '.hidden'), 'dot\n');
  fs.mkdirSync(path.join(pub, '.well-known'));
  fs.writeFileSync(path.join(pub, '.well-known', 'security.txt'), 'Contact: x\n');
  fs.symlinkSync('../private/secret.txt', path.join(pub, 'escape.txt'));
  fs.symlinkSync('/etc/passwd', path.join(pub, 'abs.txt'));
  fs.symlinkSync('../private', path.join(pub, 'outdir'));
  fs.symlinkSync('hello.txt', path.join(pub, 'inside.txt'));
  fs.writeFileSync(path.join(pub, 'huge.bin'), '');
  srv = await startServer({ app: dir });
});
after(async () => {
  await srv?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One raw request (the path sent byte for byte, no client-side normalisation). */
async function raw(target, headers = '') {
  const r = await rawRequest(srv.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`);
  assert.ok(r.responses.length >= 1, `an answer to ${target}: ${r.text.slice(0, 200)}`);
  return r.responses[0];
}

describe('files', () => {
  test('a file: type by extension, validators, Cache-Control, Accept-Ranges, Vary', async () => {
    const res = await srv.fetch('/static/hello.txt');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello static\n');
    assert.equal(res.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.match(res.headers.get('etag'), /^"[0-9a-f]+-d"$/);
    assert.ok(!Number.isNaN(Date.parse(res.headers.get('last-modified'))));
    assert.equal(res.headers.get('cache-control'), 'public, max-age=60');
    assert.equal(res.headers.get('accept-ranges'), 'bytes');
    assert.equal(res.headers.get('vary'), 'Accept-Encoding');
    assert.equal((await srv.fetch('/static/index.html')).headers.get('content-type'), 'text/html; charset=utf-8');
    assert.equal((await srv.fetch('/static/sub/style.css')).headers.get('content-type'), 'text/css; charset=utf-8');
  });

  test('304 on If-None-Match (also weak, also in a list, also *) and on If-Modified-Since', async () => {
    const first = await srv.fetch('/static/hello.txt');
    const etag = first.headers.get('etag');
    const lm = first.headers.get('last-modified');
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
      const r = await srv.fetch('/static/hello.txt', { headers: { 'if-none-match': inm } });
      assert.equal(r.status, 304, inm);
      assert.equal(await r.text(), '');
      assert.equal(r.headers.get('etag'), etag);
    }
    assert.equal((await srv.fetch('/static/hello.txt', { headers: { 'if-none-match': '"other"' } })).status, 200);
    assert.equal((await srv.fetch('/static/hello.txt', { headers: { 'if-modified-since': lm } })).status, 304);
    const earlier = new Date(Date.parse(lm) - 3600e3).toUTCString();
    assert.equal((await srv.fetch('/static/hello.txt', { headers: { 'if-modified-since': earlier } })).status, 200);
    // If-None-Match wins over If-Modified-Since
    const both = await srv.fetch('/static/hello.txt', { headers: { 'if-none-match': '"other"', 'if-modified-since': lm } });
    assert.equal(both.status, 200);
  });

  test('a single range: 206 with Content-Range; unsatisfiable: 416; several ranges or a stale If-Range: the whole file', async () => {
    let r = await srv.fetch('/static/hello.txt', { headers: { range: 'bytes=0-4' } });
    assert.equal(r.status, 206);
    assert.equal(await r.text(), 'hello');
    assert.equal(r.headers.get('content-range'), 'bytes 0-4/13');
    r = await srv.fetch('/static/hello.txt', { headers: { range: 'bytes=-7' } });
    assert.equal(await r.text(), 'static\n');
    r = await srv.fetch('/static/hello.txt', { headers: { range: 'bytes=13-' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers.get('content-range'), 'bytes */13');
    assert.equal((await r.json()).name, 'RangeNotSatisfiable');
    r = await srv.fetch('/static/hello.txt', { headers: { range: 'bytes=0-1,3-4' } });
    assert.equal(r.status, 200);
    assert.equal(await r.text(), 'hello static\n');
    const etag = r.headers.get('etag');
    r = await srv.fetch('/static/hello.txt', { headers: { range: 'bytes=0-1', 'if-range': etag } });
    assert.equal(r.status, 206);
    r = await srv.fetch('/static/hello.txt', { headers: { range: 'bytes=0-1', 'if-range': '"old"' } });
    assert.equal(r.status, 200);
  });

  test('HEAD: the headers with the length, no body', async () => {
    const r = await rawRequest(srv.port, 'HEAD /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', { methods: ['HEAD'] });
    assert.equal(r.responses[0].status, 200);
    assert.equal(r.responses[0].headers['content-length'], String(big.length));
    assert.ok(r.buf.length < 1000, 'no body after the head');
  });

  test('a 1 MiB file (sendfile) arrives whole, a range of it too, and the next pipelined answer after it', async () => {
    const res = await srv.fetch('/static/big.bin');
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(big));
    const r = await srv.fetch('/static/big.bin', { headers: { range: 'bytes=100000-900000' } });
    assert.equal(r.status, 206);
    assert.ok(Buffer.from(await r.arrayBuffer()).equals(big.subarray(100000, 900001)));
    const c = await RawConn.connect(srv.port);
    await c.write('GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /echo-path/x HTTP/1.1\r\nHost: x\r\n\r\n');
    const [a, b, e] = await c.responses(3, { timeout: 10000 });
    c.destroy();
    assert.ok(a.body.equals(big));
    assert.equal(b.text, 'hello static\n');
    assert.deepEqual(e.json(), { rest: 'x' });
  });

  test('precompressed siblings by Accept-Encoding: br first, then gzip; q=0 refuses one', async () => {
    const plain = fs.readFileSync(path.join(dir, 'public/app.js'));
    let r = await raw('/static/app.js', 'Accept-Encoding: gzip, br\r\n');
    assert.equal(r.headers['content-encoding'], 'br');
    assert.equal(r.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.ok(zlib.brotliDecompressSync(r.body).equals(plain));
    r = await raw('/static/app.js', 'Accept-Encoding: gzip, br;q=0\r\n');
    assert.equal(r.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(r.body).equals(plain));
    r = await raw('/static/app.js');
    assert.equal(r.headers['content-encoding'], undefined);
    assert.ok(r.body.equals(plain));
    r = await raw('/raw/app.js', 'Accept-Encoding: br\r\n');   // precompressed = false
    assert.equal(r.headers['content-encoding'], undefined);
    assert.equal(r.headers.vary, undefined);
  });

  test('a directory: "/dir" is redirected to "/dir/" (query kept), which serves its index', async () => {
    let r = await raw('/static/sub?x=1');
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/static/sub/?x=1');
    r = await raw('/static/sub/');
    assert.equal(r.status, 200);
    assert.equal(r.text, '<p>sub</p>\n');
    r = await raw('/static/');
    assert.equal(r.text, '<!doctype html><title>app</title>\n');
  });

  test('SPA fallback: a missing path without an extension gets the index; a missing asset is 404', async () => {
    let r = await srv.fetch('/app/settings/profile');
    assert.equal(r.status, 200);
    assert.equal(await r.text(), '<!doctype html><title>app</title>\n');
    r = await srv.fetch('/app/missing.js');
    assert.equal(r.status, 404);
    assert.equal((await r.json()).name, 'NotFound');
    r = await srv.fetch('/app/hello.txt');
    assert.equal(await r.text(), 'hello static\n');
    assert.equal((await srv.fetch('/static/settings')).status, 404);   // no spa there
  });

  test('only GET and HEAD: other methods 405 with Allow', async () => {
    const r = await srv.fetch('/static/hello.txt', { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(r.status, 405);
    assert.equal(r.headers.get('allow'), 'GET, HEAD');
  });

  test('symlinks inside the directory are followed; dotfiles are not served, but .well-known is', async () => {
    assert.equal(await (await srv.fetch('/static/inside.txt')).text(), 'hello static\n');
    assert.equal((await srv.fetch('/static/.hidden')).status, 404);
    assert.equal((await srv.fetch('/static/.well-known/security.txt')).status, 200);
    assert.equal(await (await srv.fetch('/raw/.hidden')).text(), 'dot\n');   // dotfiles = true
  });
});

describe('nothing outside the directory, whatever the path', () => {
  const attempts = [
    ['/static/../private/secret.txt', [404]],                // normalised to /private/secret.txt: no route
    ['/static/%2e%2e/private/secret.txt', [404]],
    ['/static/%2E%2E/private/secret.txt', [404]],
    ['/static/.%2e/private/secret.txt', [404]],
    ['/static/sub/../../private/secret.txt', [404]],
    ['/static/..%2fprivate%2fsecret.txt', [400]],            // encoded slash: refused
    ['/static/%2e%2e%2fprivate%2fsecret.txt', [400]],
    ['/static/..%2Fprivate%2Fsecret.txt', [400]],
    ['/static/..%5cprivate%5csecret.txt', [400]],            // encoded backslash
    ['/static/..\\private\\secret.txt', [400]],              // raw backslash
    ['/static/sub%2f..%2f..%2fprivate%2fsecret.txt', [400]],
    ['/../private/secret.txt', [400]],                       // above the root
    ['/static/../../private/secret.txt', [400]],
    ['/static/escape.txt', [404]],                           // a symlink pointing out
    ['/static/abs.txt', [404]],                              // an absolute symlink
    ['/static/outdir/secret.txt', [404]],                    // a symlinked directory pointing out
    ['/static//etc/passwd', [404]],                          // an absolute path in the wildcard
    ['/static/%2fetc%2fpasswd', [404]],
    ['/static/%2F%2Fetc%2Fpasswd', [404]],
    ['/static/hello.txt%00.png', [400]],                     // NUL
    ['/static/%00', [400]],
    ['/raw/escape.txt', [404]],                              // also where dotfiles are served
    ['/app/escape.txt', [404]],                              // and under the SPA fallback
    ['/app/..%2fprivate%2fsecret.txt', [400]],
  ];
  for (const [target, statuses] of attempts) {
    test(`GET ${target}`, async () => {
      const r = await raw(target);
      assert.ok(statuses.includes(r.status), `${target}: status ${r.status}, body ${r.text.slice(0, 200)}`);
      assert.ok(!r.text.includes('SECRET') && !r.text.includes('root:'), `${target} leaked: ${r.text}`);
    });
  }
});

describe('a client that stops reading a big file', () => {
  /** Whether the server's side of the connection from client port `peer` is still established (/proc/net/tcp). */
  const open = (port, peer) => fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)
    .map((l) => l.trim().split(/\s+/))
    .some((f) => f.length > 3 && f[3] === '01' && parseInt(f[1].split(':')[1], 16) === port && parseInt(f[2].split(':')[1], 16) === peer);

  test('is cut after --idle-timeout-ms (the file is sent by sendfile, a piece at a time)', async () => {
    fs.truncateSync(path.join(dir, 'public', 'huge.bin'), 512 * 1024 * 1024);   // sparse: reads as zeros
    const s2 = await startServer({ app: dir, args: ['--idle-timeout-ms', '1000'] });
    try {
      const sock = net.connect(s2.port, '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      sock.pause();                       // never reads
      sock.write('GET /static/huge.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      await delay(300);
      assert.ok(open(s2.port, sock.localPort));
      const t0 = Date.now();
      while (open(s2.port, sock.localPort) && Date.now() - t0 < 8000) await delay(100);
      assert.ok(!open(s2.port, sock.localPort), 'the server closed its end');
      sock.destroy();
    } finally {
      await s2.stop();
    }
  });
});

describe('in-process (pikku test)', () => {
  test('static routes, streams and send_file answer t.request as the core would', () => {
    fs.mkdirSync(path.join(dir, 'tests'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'tests', 'static_test.lua'), [
      '-- luacheck: read globals describe it expect t',
      'describe("in-process", function()',
      '  it("serves a static file, its index, and 404s", function()',
      '    local r = t.request { path = "/static/hello.txt" }',
      '    expect(r.status).to_equal(200)',
      '    expect(r.body).to_equal("hello static\\n")',
      '    expect(r.headers["content-type"]).to_equal("text/plain; charset=utf-8")',
      '    expect(t.request({ path = "/static/" }).body).to_contain("<title>app</title>")',
      '    expect(t.request({ path = "/static/escape.txt" }).status).to_equal(404)',
      '    expect(t.request({ path = "/static/..%2fprivate%2fsecret.txt" }).status).to_equal(400)',
      '  end)',
      '  it("collects a stream and answers at its end", function()',
      '    local r = t.request { path = "/stream?n=3&size=3" }',
      '    expect(r.status).to_equal(200)',
      '    expect(r.body).to_equal("xx\\nxx\\nxx\\n")',
      '    expect(r.headers["x-stream"]).to_equal("1")',
      '  end)',
      '  it("sends a file beneath its directory", function()',
      '    expect(t.request({ path = "/download/hello.txt" }).body).to_equal("hello static\\n")',
      '    expect(t.request({ path = "/download/escape.txt" }).status).to_equal(404)',
      '    expect(t.request({ path = "/report" }).body).to_equal("a,b\\n1,2\\n")',
      '  end)',
      'end)',
    ].join('\n'));
    const r = runCli(['test', dir], { timeout: 10000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout + r.stderr, /3 passed, 0 failed/);
  });
});

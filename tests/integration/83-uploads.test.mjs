// Uploads: multipart/form-data parsed by the core as it arrives, files in temporary files removed after the call, limits, and nothing left behind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startServer, REPO_ROOT, HOST, rawRequest, delay, pollUntil } from './lib/server.mjs';

const run = promisify(execFile);
const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/uploads');

let srv, tmp, files;
const left = () => fs.readdirSync(tmp);

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-uploads-'));
  files = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-upload-src-'));
  srv = await startServer({
    app: FIXTURE, env: { TMPDIR: tmp },
    // a small body limit and a small input budget: uploads count only what they hold in memory
    args: ['--max-body-size', String(1024 * 1024), '--max-input-buffer', String(1024 * 1024)],
  });
});
after(async () => {
  await srv?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(files, { recursive: true, force: true });
});

function file(name, bytes) {
  const p = path.join(files, name);
  fs.writeFileSync(p, bytes);
  return p;
}

async function curl(route, ...fields) {
  const args = ['-s', '-w', '\n%{http_code}'];
  for (const f of fields) args.push('-F', f);
  const { stdout } = await run('curl', [...args, `${srv.base}${route}`], { maxBuffer: 1 << 24 });
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), json: JSON.parse(stdout.slice(0, i)) };
}

/** A multipart body by hand. parts: [{ name, value } | { name, filename, type, data }] */
function multipart(parts, boundary = 'XyZzy') {
  const chunks = [];
  for (const p of parts) {
    let head = `--${boundary}\r\nContent-Disposition: form-data; name="${p.name}"`;
    if (p.filename !== undefined) head += `; filename="${p.filename}"\r\nContent-Type: ${p.type || 'application/octet-stream'}`;
    chunks.push(Buffer.from(head + '\r\n\r\n'), Buffer.from(p.data ?? p.value), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), type: `multipart/form-data; boundary=${boundary}` };
}

async function post(route, { body, type }) {
  const res = await srv.fetch(route, { method: 'POST', body, headers: { 'content-type': type } });
  return { status: res.status, json: await res.json() };
}

describe('multipart/form-data', () => {
  test('curl -F: text fields as strings, files as { filename, content_type, size, path }, removed after the call', async () => {
    // bigger than --max-body-size and the input budget; ASCII first (the answer is JSON)
    const big = Buffer.concat([Buffer.from('0123456789abcdefXYZ'), crypto.randomBytes(5 * 1024 * 1024 + 3)]);
    const r = await curl('/upload', 'title=hello world', 'n=5', 'tag=a', 'tag=b',
      `doc=@${file('big.bin', big)}`, `doc=@${file('note.md', '# note\n')};type=text/markdown`, `one=@${file('e.txt', '')}`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.title, 'hello world');
    assert.equal(r.json.n, '5');
    assert.deepEqual(r.json.tag, ['a', 'b']);
    assert.equal(r.json.doc.length, 2);
    assert.deepEqual({ ...r.json.doc[0], path: undefined },
      { filename: 'big.bin', content_type: 'application/octet-stream', size: big.length, read: big.length,
        head: big.subarray(0, 16).toString('latin1'), path: undefined });
    assert.equal(r.json.doc[1].content_type, 'text/markdown');
    assert.equal(r.json.doc[1].read, 7);
    assert.equal(r.json.one.size, 0);
    assert.ok(r.json.doc[0].path.startsWith(tmp + '/pikku-upload-'), r.json.doc[0].path);
    assert.deepEqual(left(), [], 'the temporary files are removed once the call answered');
  });

  test('the file exists while the call runs (even while it sleeps), and is removed after', async () => {
    const pending = curl('/upload', 'sleep=400', `doc=@${file('s.bin', crypto.randomBytes(300000))}`);
    await pollUntil(() => left().length === 1, { what: 'the temporary file during the call' });
    const r = await pending;
    assert.equal(r.json.doc.read, 300000);
    assert.deepEqual(left(), []);
  });

  test('text fields go through the input schema: coerced, validated, 422 (and no file left)', async () => {
    const png = file('a.png', crypto.randomBytes(2000));
    let r = await curl('/profile', 'name=Ann', 'age=41', `avatar=@${png};type=image/png`);
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json, { name: 'Ann', age: 41, avatar: 'a.png' });
    r = await curl('/profile', 'name=A', 'age=x', `avatar=@${png}`);
    assert.equal(r.status, 422);
    assert.deepEqual(r.json.payload.errors.map((e) => e.path).sort(), ['/age', '/name']);
    r = await curl('/profile', 'name=Ann', 'age=4', 'extra=1', `avatar=@${png}`);
    assert.equal(r.status, 422);
    r = await curl('/profile', 'name=Ann', 'age=4');
    assert.equal(r.status, 422);
    assert.deepEqual(left(), []);
  });

  test('limits: --max-body-size for a route without max_body, a route limit below it, 413 at once', async () => {
    let r = await curl('/upload-small', `doc=@${file('m.bin', crypto.randomBytes(2 * 1024 * 1024))}`);
    assert.equal(r.status, 413);
    assert.equal(r.json.name, 'PayloadTooLarge');
    r = await curl('/upload-small', `doc=@${file('k.bin', crypto.randomBytes(100 * 1024))}`);
    assert.equal(r.status, 200);
    r = await curl('/upload-tiny', `doc=@${file('t.bin', crypto.randomBytes(2000))}`);
    assert.equal(r.status, 413);
    // a chunked upload is held to the same limit as it arrives
    const { body, type } = multipart([{ name: 'f', filename: 'c.bin', data: crypto.randomBytes(3000) }]);
    const c = await rawRequest(srv.port, [`POST /upload-tiny HTTP/1.1\r\nHost: x\r\nContent-Type: ${type}\r\nTransfer-Encoding: chunked\r\n\r\n`,
      `${body.length.toString(16)}\r\n`, body, '\r\n0\r\n\r\n']);
    assert.equal(c.responses[0].status, 413);
    await pollUntil(() => left().length === 0, { what: 'no file left' });
  });

  test('too many parts: 413; malformed bodies: 400; no file left behind', async () => {
    const parts = [{ name: 'f', filename: 'x.bin', data: 'xyz' }];
    for (let i = 0; i < 100; i++) parts.push({ name: `p${i}`, value: 'v' });
    let r = await post('/upload', multipart(parts));
    assert.equal(r.status, 413);
    assert.match(r.json.message, /Too many parts/);
    const bad = [
      '--XyZzy\r\nContent-Disposition: form-data; name="f"; filename="x"\r\n\r\nfile bytes',          // no end
      '--XyZzy\r\nContent-Disposition: form-data; filename="x"\r\n\r\nv\r\n--XyZzy--\r\n',        // no name
      '--XyZzy\r\nContent-Disposition: form-data; name="a"\r\n\r\nv\r\n--XyZzy junk\r\n',
      'no delimiter at all',
    ];
    for (const b of bad) {
      r = await post('/upload', { body: b, type: 'multipart/form-data; boundary=XyZzy' });
      assert.equal(r.status, 400, b);
      assert.match(r.json.message, /Malformed multipart body/);
    }
    r = await post('/upload', { body: 'x', type: 'multipart/form-data' });
    assert.equal(r.status, 400);
    assert.match(r.json.message, /boundary/);
    assert.deepEqual(left(), []);
  });

  test('an upload cut off half-way leaves no temporary file', async () => {
    const head = '--XyZzy\r\nContent-Disposition: form-data; name="f"; filename="cut.bin"\r\n\r\n';
    const sock = net.connect(srv.port, HOST);
    await new Promise((r) => sock.once('connect', r));
    sock.write(`POST /upload HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=XyZzy\r\nContent-Length: 20000000\r\n\r\n${head}`);
    sock.write(crypto.randomBytes(3 * 1024 * 1024));
    await pollUntil(() => left().length === 1, { what: 'the part being written' });
    sock.destroy();
    await pollUntil(() => left().length === 0, { what: 'its removal' });
    // a client that stalls: the body timeout ends it the same way (see 06-limits for the timeout itself)
  });

  test('raw_body = true: the bytes as sent, not parsed', async () => {
    const m = multipart([{ name: 'f', filename: 'x.bin', data: 'abc' }]);
    const r = await post('/raw', m);
    assert.deepEqual(r.json, { bytes: m.body.length });
    assert.deepEqual(left(), []);
  });

  test('the worker input budget does not hold the files: uploads go through while a JSON body of the same size would not', async () => {
    const big = crypto.randomBytes(3 * 1024 * 1024);
    const rs = await Promise.all([1, 2, 3].map((i) => curl('/upload', `doc=@${file(`b${i}.bin`, big)}`)));
    for (const r of rs) assert.equal(r.json.doc.read, big.length);
    await delay(50);
    assert.deepEqual(left(), []);
  });
});

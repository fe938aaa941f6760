// Real clients besides Node's ws: Python's websockets (Debian) and the browser's WebSocket and EventSource (Chromium); the handshake's edges over raw sockets.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import { startServer, REPO_ROOT, HOST } from './lib/server.mjs';
import { launch, haveChromium } from './lib/browser.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'ws-echo');
const PY_CLIENT = path.join(REPO_ROOT, 'tests', 'integration', 'clients', 'ws_client.py');

// Python's websockets asking the server for a 2^10 window (RFC 7692 section 7.1.2.1). Frames are
// looked at as they pass the extension: each compressed one from the server is inflated again
// with a 2^10 window, one output byte at a time, so that zlib checks every distance against that
// window. A message of 1600 random hex digits sent twice repeats itself further back than 1024.
const PY_DEFLATE = `
import asyncio, json, os, sys, zlib
import websockets
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory, PerMessageDeflate

seen = {"compressed_in": 0, "compressed_out": 0, "window_errors": []}
decode, encode = PerMessageDeflate.decode, PerMessageDeflate.encode

def strict_inflate(data, bits):
    d, out, data = zlib.decompressobj(-bits), b"", data + b"\\x00\\x00\\xff\\xff"
    while data:
        out += d.decompress(data, 1)
        data = d.unconsumed_tail
    return out + d.flush()

def my_decode(self, frame, *, max_size=None):
    if frame.rsv1:
        seen["compressed_in"] += 1
        try: strict_inflate(frame.data, 10)
        except zlib.error as e: seen["window_errors"].append(str(e))
    return decode(self, frame, max_size=max_size)

def my_encode(self, frame):
    frame = encode(self, frame)
    seen["compressed_out"] += frame.rsv1
    return frame

PerMessageDeflate.decode, PerMessageDeflate.encode = my_decode, my_encode

async def main(url):
    ext = [ClientPerMessageDeflateFactory(server_max_window_bits=10)]
    async with websockets.connect(url, extensions=ext, compression=None) as ws:
        seen["response"] = ws.response_headers.get("Sec-WebSocket-Extensions")
        await ws.recv()
        r = os.urandom(800).hex()
        msg = json.dumps({"a": r, "b": r, "c": r})
        await ws.send(msg)
        seen["echo_ok"] = await ws.recv() == msg
    print(json.dumps(seen))

asyncio.run(main(sys.argv[1]))
`;

const python = (args) => new Promise((resolve, reject) => {
  execFile('/usr/bin/python3', args, { timeout: 20000 }, (err, stdout, stderr) => {
    if (err) reject(new Error(`${err.message}\n${stderr}`)); else resolve(JSON.parse(stdout));
  });
});

// Sends a request head and returns the response head (up to its blank line) as text.
function head(port, request) {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, HOST, () => s.write(request));
    let d = '';
    const done = () => { s.destroy(); resolve(d.split('\r\n\r\n')[0]); };
    s.setTimeout(3000, () => { s.destroy(); reject(new Error('no response head: ' + JSON.stringify(d))); });
    s.on('data', (x) => { d += x.toString('latin1'); if (d.includes('\r\n\r\n')) done(); });
    s.on('error', reject);
    s.on('close', () => resolve(d));
  });
}
const KEY = 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n';
const upgradeHead = (port, lines) => head(port, `GET /echo HTTP/1.1\r\nHost: x\r\n${lines}\r\n`);
const STD = `Upgrade: websocket\r\nConnection: Upgrade\r\n${KEY}Sec-WebSocket-Version: 13\r\n`;

describe('other real clients', () => {
  let srv;
  before(async () => { srv = await startServer({ app: APP, workers: 2, env: { PIKKU_LUA_DIR: APP } }); });
  after(() => srv?.stop());

  test("Python's websockets: echo, fragmented send, ping, close code", async () => {
    const out = await new Promise((resolve, reject) => {
      execFile('/usr/bin/python3', [PY_CLIENT, `ws://${HOST}:${srv.port}/echo`], { timeout: 20000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`${err.message}\n${stderr}`)); else resolve(JSON.parse(stdout));
      });
    });
    assert.equal(JSON.parse(out.first).open, true);
    assert.equal(out.echo, 'héllo from python');
    assert.equal(out.fragmented, 'Hello, fragments');
    assert.equal(out.binary, '00010203');
    assert.equal(out.pong, true);
    assert.equal(out.close_code, 4000);
  });

  test("Python's websockets with server_max_window_bits=10: agreed, compressed both ways, the server keeps to 2^10", async () => {
    const out = await python(['-c', PY_DEFLATE, `ws://${HOST}:${srv.port}/echo`]);
    assert.equal(out.response, 'permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10');
    assert.equal(out.echo_ok, true);
    assert.ok(out.compressed_out >= 1, 'the client compressed its message');
    assert.ok(out.compressed_in >= 1, 'the server compressed its echo');
    assert.deepEqual(out.window_errors, [], 'the server used a window over 2^10');
  });

  test("Chromium's WebSocket and EventSource against a page the server serves", { skip: !haveChromium() && 'chromium not installed' }, async () => {
    const browser = await launch();
    try {
      await browser.goto(`http://${HOST}:${srv.port}/page`);
      const out = await browser.waitFor("document.getElementById('out').textContent",
        (v) => typeof v === 'string' && v.includes('sse:{\\"b\\":1}') && v.includes('from-browser'));
      const events = JSON.parse(out);
      const opened = JSON.parse(events.find((e) => e.startsWith('ws:{')).slice(3));
      assert.equal(opened.open, true);
      assert.equal(opened.query, 'from=browser');
      assert.ok(events.includes('ws:from-browser é'), out);
      assert.ok(events.includes('sse:{"hello":true}'), out);
      assert.ok(events.includes('sse:{"b":1}'), out);
    } finally {
      await browser.close();
    }
  });
});

describe('handshake edges over raw sockets', () => {
  let srv;
  before(async () => { srv = await startServer({ app: APP, env: { PIKKU_LUA_DIR: APP } }); });
  after(() => srv?.stop());

  const extensions = (h) => (h.match(/\r\nSec-WebSocket-Extensions: ([^\r]*)/i) || [])[1];

  test('permessage-deflate offers are read in order; one with unknown, repeated or bad parameters is declined', async () => {
    const offer = (v) => upgradeHead(srv.port, `${STD}Sec-WebSocket-Extensions: ${v}\r\n`);
    const base = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
    for (const v of ['permessage-deflate; foo=bar', 'permessage-deflate; server_max_window_bits=16',
      'permessage-deflate; server_max_window_bits', 'permessage-deflate; client_no_context_takeover; client_no_context_takeover',
      'x-webkit-deflate-frame']) {
      const h = await offer(v);
      assert.match(h, /^HTTP\/1\.1 101 /, v);
      assert.equal(extensions(h), undefined, v);
    }
    assert.equal(extensions(await offer('permessage-deflate; client_max_window_bits')), base);
    assert.equal(extensions(await offer('permessage-deflate; foo=bar, permessage-deflate; server_max_window_bits=12')),
      `${base}; server_max_window_bits=12`);
    // one list over two lines (RFC 9110 section 5.3)
    const h = await upgradeHead(srv.port, `${STD}Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7\r\n` +
      'Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n');
    assert.equal(extensions(h), `${base}; server_max_window_bits=9`);
  });

  test('repeated lines: Connection and Upgrade are one list each; a second key or version is 400', async () => {
    const up = 'Upgrade: websocket\r\n';
    assert.match(await upgradeHead(srv.port, `${up}Connection: keep-alive\r\nConnection: Upgrade\r\n${KEY}Sec-WebSocket-Version: 13\r\n`), /^HTTP\/1\.1 101 /);
    assert.match(await upgradeHead(srv.port, `Upgrade: h2c\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${KEY}Sec-WebSocket-Version: 13\r\n`), /^HTTP\/1\.1 101 /);
    const twoKeys = await upgradeHead(srv.port, `${STD}Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n`);
    assert.match(twoKeys, /^HTTP\/1\.1 400 /);
    const twoVersions = await head(srv.port, `GET /echo HTTP/1.1\r\nHost: x\r\n${STD}Sec-WebSocket-Version: 8\r\n\r\n`);
    assert.match(twoVersions, /^HTTP\/1\.1 400 /);
  });

  test('426 Upgrade Required: its phrase and error name, Upgrade, one Connection header', async () => {
    for (const lines of ['', `Upgrade: websocket\r\nConnection: Upgrade\r\n${KEY}Sec-WebSocket-Version: 8\r\n`]) {
      const r = await new Promise((resolve, reject) => {
        const s = net.connect(srv.port, HOST, () => s.write(`GET /echo HTTP/1.1\r\nHost: x\r\n${lines}\r\n`));
        let d = '';
        s.on('data', (x) => { d += x.toString('latin1'); });
        s.on('close', () => resolve(d));
        s.on('error', reject);
        s.setTimeout(3000, () => s.destroy());
      });
      const [h0, body] = r.split('\r\n\r\n');
      const h = h0 + '\r\n';
      assert.match(h, /^HTTP\/1\.1 426 Upgrade Required\r\n/);
      assert.equal(h.match(/\r\nConnection:/gi).length, 1, h);
      assert.match(h, /\r\nConnection: Upgrade(, close)?\r\n/i);
      assert.match(h, /\r\nUpgrade: websocket\r\n/i);
      assert.match(h, /\r\nSec-WebSocket-Version: 13\r\n/i);
      assert.equal(JSON.parse(body).name, 'UpgradeRequired');
    }
  });
});

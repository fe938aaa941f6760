// WebSocket transport in C (RFC 6455): real ws client and raw frames against a stand-in runtime.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import { startServer, PikkuServer, freePort, withApp, PIKKU_BIN, REPO_ROOT, HOST, delay } from './lib/server.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'ws-echo');
const start = (args = [], workers = 1) => startServer({ app: APP, workers, args, env: { PIKKU_LUA_DIR: APP } });

function open(srv, p = '/echo', opts = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://${HOST}:${srv.port}${p}`, opts);
    const inbox = [];
    const waiters = [];
    ws.on('message', (data, isBinary) => {
      const m = isBinary ? data : data.toString();
      const w = waiters.shift();
      if (w) w(m); else inbox.push(m);
    });
    ws.next = (ms = 3000) => new Promise((res, rej) => {
      if (inbox.length) return res(inbox.shift());
      const t = setTimeout(() => rej(new Error('no message within ' + ms + ' ms')), ms);
      waiters.push((m) => { clearTimeout(t); res(m); });
    });
    ws.closed = new Promise((res) => ws.on('close', (code, reason) => res({ code, reason: reason.toString() })));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

// A raw client: handshake by hand, then frames we build ourselves (masked unless told not to).
// `after`: bytes sent in the same write as the upgrade request.
async function rawOpen(srv, p = '/echo', extraHeaders = '', after = Buffer.alloc(0)) {
  const sock = net.connect(srv.port, HOST);
  await new Promise((r) => sock.once('connect', r));
  const key = crypto.randomBytes(16).toString('base64');
  sock.write(Buffer.concat([Buffer.from(`GET ${p} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`), Buffer.from(after)]));
  let buf = Buffer.alloc(0);
  const waiters = [];
  sock.on('data', (d) => { buf = Buffer.concat([buf, d]); waiters.splice(0).forEach((w) => w()); });
  const ended = new Promise((r) => sock.on('close', r));
  const waitFor = async (pred, ms = 3000) => {
    const until = Date.now() + ms;
    for (;;) {
      const v = pred();
      if (v) return v;
      if (Date.now() > until) throw new Error('timed out; have ' + buf.toString('hex').slice(0, 200));
      await Promise.race([new Promise((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
    }
  };
  const head = await waitFor(() => { const i = buf.indexOf('\r\n\r\n'); return i >= 0 ? i + 4 : 0; });
  const status = buf.subarray(0, head).toString();
  assert.match(status, /^HTTP\/1\.1 101 /);
  const accept = crypto.createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
  assert.ok(status.includes(`Sec-WebSocket-Accept: ${accept}`), status);
  buf = buf.subarray(head);
  // frames from the server (never masked)
  const frames = () => {
    const out = [];
    let off = 0;
    while (buf.length - off >= 2) {
      const b0 = buf[off], b1 = buf[off + 1];
      let len = b1 & 0x7f, hl = 2;
      if (len === 126) { if (buf.length - off < 4) break; len = buf.readUInt16BE(off + 2); hl = 4; }
      else if (len === 127) { if (buf.length - off < 10) break; len = Number(buf.readBigUInt64BE(off + 2)); hl = 10; }
      if (buf.length - off < hl + len) break;
      out.push({ fin: !!(b0 & 0x80), rsv1: !!(b0 & 0x40), op: b0 & 0x0f, payload: buf.subarray(off + hl, off + hl + len) });
      off += hl + len;
    }
    return out;
  };
  return { sock, ended, frames, waitFor, status, clear: () => { buf = Buffer.alloc(0); }, bytes: () => buf };
}

function frame(op, payload, { fin = true, mask = true, rsv = 0 } = {}) {
  payload = Buffer.from(payload);
  const len = payload.length;
  const hdr = [((fin ? 0x80 : 0) | (rsv << 4) | op)];
  if (len < 126) hdr.push((mask ? 0x80 : 0) | len);
  else { hdr.push((mask ? 0x80 : 0) | 126, len >> 8, len & 255); }
  if (!mask) return Buffer.concat([Buffer.from(hdr), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(hdr), key, body]);
}

const closeCode = (f) => (f.payload.length >= 2 ? f.payload.readUInt16BE(0) : 1005);

async function expectClose(raw, code) {
  const f = await raw.waitFor(() => raw.frames().find((x) => x.op === 8));
  assert.equal(closeCode(f), code);
  await raw.ended;
}

describe('WebSocket transport', () => {
  let srv;
  before(async () => { srv = await start(['--ws-max-message', '1000', '--ws-send-buffer', '65536']); });
  after(() => srv?.stop());

  test('upgrade, opening message with path and query, echo of text and binary', async () => {
    const ws = await open(srv, '/echo?room=1', { headers: { 'user-agent': 'pikku-test' } });
    const hello = JSON.parse(await ws.next());
    assert.deepEqual([hello.open, hello.path, hello.query], [true, '/echo', 'room=1']);
    ws.send('héllo');
    assert.equal(await ws.next(), 'héllo');
    ws.send(Buffer.from([0, 1, 2, 255]));
    assert.deepEqual([...(await ws.next())], [0, 1, 2, 255]);
    ws.send('ua');
    assert.equal(await ws.next(), 'pikku-test', 'headers were readable during channel_open');
    ws.close(1000);
    assert.equal((await ws.closed).code, 1000);
  });

  test('a plain GET on a channel route is 426 with Upgrade headers', async () => {
    const r = await fetch(`http://${HOST}:${srv.port}/echo`);
    assert.equal(r.status, 426);
    assert.equal(r.headers.get('upgrade'), 'websocket');
    const body = await r.json();
    assert.match(body.message, /WebSocket/);
  });

  test('a bad Sec-WebSocket-Version is 426 and a missing key 400', async () => {
    const ask = (hdrs) => new Promise((resolve) => {
      const s = net.connect(srv.port, HOST, () => s.write(`GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${hdrs}\r\n`));
      let d = ''; s.on('data', (x) => { d += x; }); s.on('close', () => resolve(d));
    });
    assert.match(await ask('Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n'), /^HTTP\/1\.1 426 [^]*Sec-WebSocket-Version: 13/);
    assert.match(await ask('Sec-WebSocket-Version: 13\r\n'), /^HTTP\/1\.1 400 /);
  });

  test('fragmented message with a ping between the fragments', async () => {
    const raw = await rawOpen(srv);
    await raw.waitFor(() => raw.frames().length >= 1);   // the opening message
    raw.clear();
    raw.sock.write(Buffer.concat([frame(1, 'Hel', { fin: false }), frame(9, 'p1'), frame(0, 'lo', { fin: true })]));
    const fs = await raw.waitFor(() => { const f = raw.frames(); return f.length >= 2 ? f : null; });
    assert.equal(fs[0].op, 10, 'the pong comes first');
    assert.equal(fs[0].payload.toString(), 'p1');
    assert.equal(fs[1].op, 1);
    assert.equal(fs[1].payload.toString(), 'Hello');
    raw.sock.write(frame(8, Buffer.from([0x03, 0xe8])));
    await expectClose(raw, 1000);
  });

  for (const [name, bytes, code] of [
    ['invalid UTF-8 in a text message -> 1007', () => frame(1, Buffer.from([0xc3, 0x28])), 1007],
    ['an unmasked frame -> 1002', () => frame(1, 'hi', { mask: false }), 1002],
    ['reserved bits set -> 1002', () => frame(1, 'hi', { rsv: 4 }), 1002],
    ['a message over --ws-max-message -> 1009', () => frame(2, Buffer.alloc(1001)), 1009],
    ['a close frame with code 1005 -> 1002', () => frame(8, Buffer.from([0x03, 0xed])), 1002],
    ['a continuation without a message -> 1002', () => frame(0, 'x'), 1002],
    ['a fragmented ping -> 1002', () => frame(9, 'x', { fin: false }), 1002],
  ]) {
    test(name, async () => {
      const raw = await rawOpen(srv);
      await raw.waitFor(() => raw.frames().length >= 1);
      raw.clear();
      raw.sock.write(bytes());
      await expectClose(raw, code);
    });
  }

  test('the server closes with the app\'s code; the app hears every close code', async () => {
    const ws = await open(srv);
    await ws.next();
    ws.send('close');
    const c = await ws.closed;
    assert.equal(c.code, 4000);
    assert.equal(c.reason, 'bye');
    await new Promise((r) => setTimeout(r, 100));
    const r = await (await fetch(`http://${HOST}:${srv.port}/plain`)).json();
    assert.ok(r.closed.includes(4000), JSON.stringify(r));
  });

  test('subscribe, publish from an HTTP request, unsubscribe; a closed connection leaves its topics', async () => {
    const a = await open(srv); await a.next();
    const b = await open(srv); await b.next();
    a.send('sub:news'); assert.equal(await a.next(), 'subscribed:news');
    b.send('sub:news'); assert.equal(await b.next(), 'subscribed:news');
    let r = await (await fetch(`http://${HOST}:${srv.port}/publish/news`, { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } })).json();
    assert.equal(r.receivers, 2);
    assert.equal(await a.next(), '{"n":1}');
    assert.equal(await b.next(), '{"n":1}');
    a.send('unsub:news'); assert.equal(await a.next(), 'unsubscribed:news');
    b.close(); await b.closed;
    await new Promise((res) => setTimeout(res, 100));
    r = await (await fetch(`http://${HOST}:${srv.port}/publish/news`, { method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } })).json();
    assert.equal(r.receivers, 0);
    a.close(); await a.closed;
  });

  test('bytes sent right behind the upgrade request are frames, never HTTP', async () => {
    const raw = await rawOpen(srv, '/echo', '', frame(1, 'early'));
    const fs = await raw.waitFor(() => { const f = raw.frames(); return f.length >= 2 ? f : null; });
    assert.equal(fs[1].payload.toString(), 'early', 'the frame that came with the request was read as one');
    raw.sock.destroy();
    const http = await rawOpen(srv, '/echo', '', 'GET /plain HTTP/1.1\r\nHost: x\r\n\r\n');
    await expectClose(http, 1002);            // "GET " read as a frame header: RSV bits set
    assert.doesNotMatch(http.bytes().toString('latin1'), /HTTP\/1\.1/, 'no HTTP answer on a WebSocket');
  });

  test('a burst of pings is answered by one pong, to the latest ping (RFC 6455 5.5.3)', async () => {
    const raw = await rawOpen(srv);
    await raw.waitFor(() => raw.frames().length >= 1);
    raw.clear();
    const n = 300;
    raw.sock.write(Buffer.concat(Array.from({ length: n }, (_, i) => frame(9, `p${i}`))));
    const pongs = await raw.waitFor(() => {
      const f = raw.frames().filter((x) => x.op === 10);
      return f.length && f[f.length - 1].payload.toString() === `p${n - 1}` ? f : null;
    });
    assert.ok(pongs.length < n / 10, `${pongs.length} pongs for ${n} pings sent at once`);
    const seen = pongs.map((f) => Number(f.payload.toString().slice(1)));
    assert.deepEqual(seen, [...seen].sort((a, b) => a - b), 'pongs follow the order of the pings');
    raw.clear();
    raw.sock.write(frame(1, 'still open'));
    const echo = await raw.waitFor(() => raw.frames().find((f) => f.op === 1));
    assert.equal(echo.payload.toString(), 'still open');
    raw.sock.destroy();
  });

  test('text that is not UTF-8 is refused with an error: send, close reason, publish; bytes go as binary', async () => {
    const ws = await open(srv); await ws.next();
    ws.send('bad:send');
    assert.equal(await ws.next(), 'error:wire.channel.send: text must be valid UTF-8; use send_binary for bytes');
    ws.send('bad:close');
    assert.equal(await ws.next(), 'error:wire.channel.close: the close reason must be valid UTF-8 text');
    ws.send('bad:publish');
    assert.match(await ws.next(), /^error:services.eventhub:publish: the data must be valid UTF-8 text/);
    ws.send('bad:binary');
    assert.deepEqual([...(await ws.next())], [...Buffer.from('bad \xff\xfe', 'latin1')]);
    assert.equal(await ws.next(), 'ok:true');
    ws.close(1000);
    assert.equal((await ws.closed).code, 1000, 'the connection was never failed (1007) by the client');
  });

  test('one message bigger than --ws-send-buffer reaches a client that reads (the limit is on the backlog)', async () => {
    const ws = await open(srv); await ws.next();
    ws.send('one:100000');
    const m = await ws.next();
    assert.equal(m.length, 100000);
    ws.send('still open');
    assert.equal(await ws.next(), 'still open');
    ws.close(1000); await ws.closed;
  });

  test('a burst over --ws-send-buffer in one handler call reaches a client that reads (the limit is on what the kernel did not take)', async () => {
    const big = await start();                           // the default send buffer: 4 MiB
    try {
      const ws = await open(big, '/echo', { perMessageDeflate: false }); await ws.next();
      ws.send('burst:96:65536');                         // 6 MiB from one channel_message call
      for (let i = 1; i <= 96; i++) assert.equal((await ws.next()).length, 65536, `message ${i}`);
      assert.equal(await ws.next(), 'sent:96', 'no send was refused');
      ws.send('still open');
      assert.equal(await ws.next(), 'still open');
      ws.close(1000);
      assert.equal((await ws.closed).code, 1000);
    } finally {
      await big.stop();
    }
  });

  test('a first frame the kernel takes only part of arrives whole, ahead of the close for not reading', async () => {
    // The first frame of a turn goes to the kernel at once (ws_conn.c send_direct). To a client
    // that does not read, the kernel takes only the start of 16 MB; the rest waits in the queue.
    // The call's next send then finds the backlog over --ws-send-buffer (4 MiB): the connection
    // is closed with 1008, and what is dropped for that must not cut the frame begun.
    const raw = await rawOpen(srv);
    await raw.waitFor(() => raw.frames().length >= 1);   // the opening message
    raw.clear();
    raw.sock.pause();
    raw.sock.write(frame(1, 'burst:1:16000000'));
    await delay(300);
    raw.sock.resume();
    await raw.ended;
    const fs = raw.frames();
    assert.equal(fs.length, 2, 'the big frame, then the close');
    assert.equal(fs[0].op, 1);
    assert.equal(fs[0].payload.length, 16000000);
    assert.ok(fs[0].payload.every((b) => b === 0x7a), 'the big frame holds what was sent');
    assert.equal(fs[1].op, 8);
    assert.equal(closeCode(fs[1]), 1008);
  });

  test('a client that stops reading is closed (1008) once over --ws-send-buffer; others are unaffected', async () => {
    const raw = await rawOpen(srv);
    await raw.waitFor(() => raw.frames().length >= 1);
    raw.sock.pause();                                    // stop reading
    // 1000 x 64 KiB from one call: far more than the kernel's socket buffers take, so what waits
    // passes the limit; the sends after that are refused, so the server holds little of it
    raw.sock.write(frame(1, 'burst:1000:65536'));
    const other = await open(srv); await other.next();
    other.send('still here'); assert.equal(await other.next(), 'still here');
    await new Promise((r) => setTimeout(r, 300));
    raw.sock.resume();
    await raw.ended;
    const fs = raw.frames();
    const close = fs.find((f) => f.op === 8);
    assert.ok(close, 'a close frame arrived');
    assert.equal(closeCode(close), 1008);
    const got = fs.filter((f) => f.op === 1 && f.payload.length === 65536).length;
    assert.ok(got < 1000, `the sends stopped early (${got} of 1000 arrived)`);
    assert.ok(!fs.some((f) => f.op === 1 && f.payload.toString().startsWith('sent:')), 'nothing went after the limit was passed');
    other.close(); await other.closed;
  });
});

// Reads an event stream with a raw socket: returns the text seen so far, by predicate.
async function sseOpen(srv, p) {
  const sock = net.connect(srv.port, HOST);
  await new Promise((r) => sock.once('connect', r));
  sock.write(`GET ${p} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n`);
  let text = '';
  sock.on('data', (d) => { text += d; });
  const until = async (pred, ms = 3000) => {
    const end = Date.now() + ms;
    while (!pred(text)) {
      if (Date.now() > end) throw new Error('stream so far: ' + JSON.stringify(text));
      await new Promise((r) => setTimeout(r, 20));
    }
    return text;
  };
  return { sock, until };
}

describe('permessage-deflate', () => {
  let srv;
  before(async () => { srv = await start(['--ws-max-message', '100000']); });
  after(() => srv?.stop());
  const compress = (text) => { const z = zlib.deflateRawSync(Buffer.from(text), { finishFlush: zlib.constants.Z_SYNC_FLUSH }); return z.subarray(0, z.length - 4); };
  const inflate = (b) => zlib.inflateRawSync(Buffer.concat([b, Buffer.from([0, 0, 0xff, 0xff])]), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).toString();

  test('negotiated when offered; compressed messages both ways', async () => {
    const raw = await rawOpen(srv, '/echo', 'Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n');
    assert.match(raw.status, /Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_no_context_takeover/);
    await raw.waitFor(() => raw.frames().length >= 1);
    raw.clear();
    const text = 'pikku '.repeat(2000);
    const f = frame(1, compress(text));
    f[0] |= 0x40;                                    // RSV1: this message is compressed
    raw.sock.write(f);
    const got = await raw.waitFor(() => raw.frames()[0]);
    assert.equal(got.rsv1, true, 'the echo came back compressed');
    assert.ok(got.payload.length < text.length / 10);
    assert.equal(inflate(got.payload), text);
    raw.sock.write(frame(1, 'short'));               // not compressed: RSV1 clear
    const short = await raw.waitFor(() => raw.frames()[1]);
    assert.equal(short.rsv1, false);
    assert.equal(short.payload.toString(), 'short');
    raw.sock.destroy();
  });

  test('a compressed message inflating past --ws-max-message -> 1009', async () => {
    const raw = await rawOpen(srv, '/echo', 'Sec-WebSocket-Extensions: permessage-deflate\r\n');
    await raw.waitFor(() => raw.frames().length >= 1);
    raw.clear();
    const f = frame(2, compress('x'.repeat(200000)).subarray(0));
    f[0] |= 0x40;
    raw.sock.write(f);
    await expectClose(raw, 1009);
  });

  test('the ws client negotiates it by default and round-trips large messages', async () => {
    const ws = await open(srv, '/echo', { perMessageDeflate: { threshold: 0 } });
    assert.match(ws.extensions, /permessage-deflate/);
    await ws.next();
    const big = JSON.stringify({ items: Array.from({ length: 500 }, (_, i) => ({ i, name: 'item ' + i })) });
    ws.send(big);
    assert.equal(await ws.next(), big);
    ws.close(); await ws.closed;
  });
});

describe('server-sent events', () => {
  let srv;
  before(async () => { srv = await start(['--ws-ping-ms', '300']); });
  after(() => srv?.stop());

  test('a stream gets its headers, a first event, published events and heartbeats', async () => {
    const s = await sseOpen(srv, '/events?topic=live');
    const head = await s.until((t) => t.includes('\r\n\r\n'));
    assert.match(head, /^HTTP\/1\.1 200 OK/);
    assert.match(head, /Content-Type: text\/event-stream/);
    assert.doesNotMatch(head.split('\r\n\r\n')[0], /Content-Length/);
    await s.until((t) => t.includes('data: {"hello":true}\n\n'));
    const r = await (await fetch(`http://${HOST}:${srv.port}/publish/live`, { method: 'POST', body: '{"n":7}', headers: { 'content-type': 'application/json' } })).json();
    assert.equal(r.receivers, 1);
    await s.until((t) => t.includes('data: {"n":7}\n\n'));
    await s.until((t) => t.includes(': heartbeat\n\n'), 3000);
    s.sock.destroy();
  });

  test('nothing after the GET of an event stream is parsed or answered; its topics end with it', async () => {
    const sock = net.connect(srv.port, HOST);
    await new Promise((r) => sock.once('connect', r));
    let text = '';
    sock.on('data', (d) => { text += d.toString('latin1'); });
    const until = async (pred, what) => {
      const end = Date.now() + 3000;
      while (!pred(text)) {
        if (Date.now() > end) throw new Error(`${what}; stream so far: ${JSON.stringify(text)}`);
        await delay(20);
      }
    };
    // An event stream, then (same packet) a plain GET, a second stream and a WebSocket upgrade.
    sock.write('GET /events?topic=piped HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /plain HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /events?topic=other HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
    await until((t) => t.includes('data: {"hello":true}\n\n'), 'the first event');
    await delay(200);
    sock.write('GET /plain HTTP/1.1\r\nHost: x\r\n\r\n');     // later bytes: dropped as well
    await delay(200);
    assert.equal(text.match(/HTTP\/1\.1 \d{3}/g).length, 1, `one answer only: ${JSON.stringify(text)}`);
    assert.equal(text.split('{"hello":true}').length - 1, 1, 'one stream opened');
    const publish = async (topic) => (await (await fetch(`http://${HOST}:${srv.port}/publish/${topic}`,
      { method: 'POST', body: '{"n":1}', headers: { 'content-type': 'application/json' } })).json()).receivers;
    assert.equal(await publish('piped'), 1);
    await until((t) => t.includes('data: {"n":1}\n\n'), 'the published event');
    assert.equal(await publish('other'), 0, 'the pipelined stream was never opened');
    sock.destroy();
    await delay(100);
    const ws = await open(srv); await ws.next();                    // never subscribed to anything
    assert.equal(await publish('piped'), 0, 'the closed stream left its topic');
    await assert.rejects(ws.next(300), /no message/);
    ws.close(); await ws.closed;
  });

  test('CR, LF and CRLF in an event\'s text each end a data: line; none starts a field', async () => {
    const s = await sseOpen(srv, '/events?topic=lines&lines=1');
    const text = await s.until((t) => t.includes('data: c\ndata: \n\n'));
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.ok(body.includes('data: x\ndata: event: evil\ndata: data: injected\n\n'), JSON.stringify(body));
    assert.ok(body.includes('data: a\ndata: b\ndata: \ndata: c\ndata: \n\n'), JSON.stringify(body));
    assert.ok(!body.includes('\r'), 'no CR left in the stream');
    for (const line of body.split('\n')) assert.match(line, /^(data: .*|: heartbeat|)$/);
    s.sock.destroy();
  });

  test('a burst of events over --ws-send-buffer (4 MiB) in one call reaches a client that reads', async () => {
    const s = await sseOpen(srv, '/events?topic=x&burst=96');   // 96 x 64 KiB from channel_open
    const text = await s.until((t) => t.includes('data: sent:'), 10000);
    await s.until((t) => t.endsWith('data: sent:96\n\n'), 1000);
    assert.equal(text.split('data: ' + 'z'.repeat(65536) + '\n\n').length - 1, 96);
    s.sock.destroy();
  });

  test('an event stream whose client does not read ends once over --ws-send-buffer', async () => {
    const s = await sseOpen(srv, '/events?topic=x&burst=1000');  // 1000 x 64 KiB from channel_open
    s.sock.pause();
    await delay(300);
    const ended = new Promise((r) => s.sock.on('close', r));
    s.sock.resume();
    await ended;
    const text = await s.until(() => true);
    const got = text.split('data: ' + 'z'.repeat(65536) + '\n\n').length - 1;
    assert.ok(got > 0 && got < 1000, `the stream ended early (${got} of 1000 events arrived)`);
    assert.ok(!text.includes('data: sent:'), 'nothing went after the limit was passed');
  });

  test('an event stream refuses text that is not UTF-8', async () => {
    const s = await sseOpen(srv, '/events?topic=x&badutf8=1');
    await s.until((t) => t.includes('data: refused:true:wire.channel.send: text must be valid UTF-8; use send_binary for bytes\n\n'));
    s.sock.destroy();
  });

  test('EventSource-style reading with fetch works too', async () => {
    const res = await fetch(`http://${HOST}:${srv.port}/events?topic=other`);
    assert.equal(res.headers.get('content-type'), 'text/event-stream');
    const reader = res.body.getReader();
    const { value } = await reader.read();
    assert.match(Buffer.from(value).toString(), /data: \{"hello":true\}/);
    await reader.cancel();
  });
});

// A server started without the health check startServer makes, so that no connection reaches a
// worker before the test's own: the workers are in the same state when the test connects.
class QuietServer extends PikkuServer {
  async start() {
    this.port ??= await freePort();
    this.args = ['serve', this.app, '--host', HOST, '--port', String(this.port), '--workers', String(this.workers), ...this.extraArgs];
    this.proc = spawn(PIKKU_BIN, this.args, { cwd: REPO_ROOT, env: { ...process.env, ...this.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => { this.exitInfo = { code, signal }; resolve(this.exitInfo); }));
    readline.createInterface({ input: this.proc.stderr }).on('line', (l) => this._line(l));
    readline.createInterface({ input: this.proc.stdout }).on('line', (l) => this.stdoutLines.push(l));
    await this.waitForLine(/workers? listening on/, { timeout: 10000 });
    return this;
  }
}

describe('channel ids across workers', () => {
  test('the first connections of two workers have different ids; publish { exclude } skips only its own', async () => {
    const srv = await new QuietServer({ app: APP, workers: 2, env: { PIKKU_LUA_DIR: APP } }).start();
    const all = [];
    try {
      const first = new Map();                      // worker -> { ws, cid } of its first connection
      for (let i = 0; i < 60 && first.size < 2; i++) {
        const ws = await open(srv); all.push(ws);
        const hello = JSON.parse(await ws.next());
        if (!first.has(hello.worker)) first.set(hello.worker, { ws, cid: hello.cid, worker: hello.worker });
      }
      assert.equal(first.size, 2, 'connections reached both workers');
      const [a, b] = [...first.values()];
      assert.notEqual(a.cid, b.cid);
      for (const x of [a, b]) { x.ws.send('sub:room'); assert.equal(await x.ws.next(), 'subscribed:room'); }
      a.ws.send('pubx:room');
      assert.equal(await a.ws.next(), 'published:0');
      assert.equal(await b.ws.next(), `from ${a.cid}`, 'the other worker\'s connection got it');
      b.ws.send('pubx:room');
      assert.equal(await b.ws.next(), 'published:0');
      assert.equal(await a.ws.next(), `from ${b.cid}`);

      // A worker restarted by the master does not hand out the ids of the one it replaces.
      const pidLine = srv.findLines(new RegExp(`worker ${a.worker} pid \\d+ started`)).pop();
      const oldPid = Number(/pid (\d+)/.exec(pidLine)[1]);
      const mark = srv.mark();
      process.kill(oldPid, 'SIGKILL');
      await srv.waitForLine(new RegExp(`worker ${a.worker} pid \\d+ started`), { from: mark, timeout: 5000 });
      let again = null;
      for (const until = Date.now() + 10000; !again && Date.now() < until; await delay(20)) {
        let ws;
        try { ws = await open(srv); } catch { continue; }
        const hello = JSON.parse(await ws.next());
        if (hello.worker === a.worker) again = hello;
        ws.terminate();
      }
      assert.ok(again, 'a connection reached the restarted worker');
      assert.notEqual(again.cid, a.cid, 'the restarted worker\'s first id is new');
    } finally {
      for (const ws of all) ws.terminate();
      await srv.stop();
    }
  });
});

describe('WebSocket idle pings', () => {
  let srv;
  before(async () => { srv = await start(['--ws-ping-ms', '200']); });
  after(() => srv?.stop());

  test('a client answering pings stays open; one that does not is closed with 1001', async () => {
    const ws = await open(srv); await ws.next();          // ws answers pings by itself
    const raw = await rawOpen(srv);                       // never answers
    await raw.waitFor(() => raw.frames().some((f) => f.op === 9), 3000);
    await expectClose(raw, 1001);
    ws.send('alive'); assert.equal(await ws.next(), 'alive');
    ws.close(); await ws.closed;
  });
});

// The state of the server's end of a loopback connection in /proc/net/tcp ('01' is ESTABLISHED),
// or null when the kernel has forgotten it.
function serverSideState(serverPort, clientPort) {
  const hex = (n) => n.toString(16).toUpperCase().padStart(4, '0');
  for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 3 && f[1].endsWith(':' + hex(serverPort)) && f[2].endsWith(':' + hex(clientPort))) return f[3];
  }
  return null;
}

describe('a client closed for not reading that never reads again', () => {
  let srv;
  before(async () => { srv = await start(['--ws-ping-ms', '200']); });
  after(() => srv?.stop());

  test('is cut off one idle period after its 1008 close was queued, holding nothing', async () => {
    const raw = await rawOpen(srv);
    await raw.waitFor(() => raw.frames().length >= 1);
    raw.sock.pause();                                    // and never reads again
    raw.sock.write(frame(1, 'burst:1000:65536'));
    const port = raw.sock.localPort;
    const until = Date.now() + 5000;
    let state = serverSideState(srv.port, port);
    assert.equal(state, '01', 'established at first');
    while (state === '01' && Date.now() < until) {
      await delay(100);
      state = serverSideState(srv.port, port);
    }
    assert.notEqual(state, '01', 'the server closed its end although the client never read');
    raw.sock.destroy();
  });
});

describe('WebSocket and SSE on SIGTERM', () => {
  test('open connections get a 1001 close and the end of their stream; the server exits 0', async () => {
    const srv = await start([], 2);
    try {
      const a = await open(srv); await a.next();
      const b = await open(srv); await b.next();
      const s = await sseOpen(srv, '/events?topic=x');
      await s.until((t) => t.includes('data: {"hello":true}'));
      const sseEnded = new Promise((r) => s.sock.on('close', r));
      srv.signal('SIGTERM');
      assert.equal((await a.closed).code, 1001);
      assert.equal((await b.closed).code, 1001);
      await sseEnded;
      const exit = await srv.waitExit(10000);
      assert.equal(exit.code, 0);
    } finally {
      await srv.stop();
    }
  });
});

test('a burst of publishes over the 16 MiB hub backlog: the rest raise, reaching no one', () => withApp([
  'local pikku = require "pikku"',
  'pikku.wire_http { method = "post", route = "/burst", func = function(services)',
  '  local blob, sent, err = string.rep("x", 1024 * 1024), 0, nil',
  '  for _ = 1, 20 do', // one loop turn: nothing reaches the master meanwhile
  '    local ok, e = pcall(services.eventhub.publish, services.eventhub, "t", { blob = blob })',
  '    if ok then sent = sent + 1 else err = tostring(e) break end',
  '  end',
  '  return { sent = sent, err = err }',
  'end }',
], async (dir) => {
  const s = await startServer({ app: dir, workers: 2 });
  try {
    const r = await s.fetch('/burst', { method: 'POST' });
    const body = await r.json();
    assert.ok(body.sent >= 14 && body.sent <= 16, JSON.stringify(body));
    assert.match(body.err, /over 16 MiB of publishes already wait to go to the other workers/);
  } finally { await s.stop(); }
}));

// Server-sent events wired with pikku.wire_http { sse = true }, and the todos app's GET /todos/stream.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startServer, REPO_ROOT, HOST, delay } from './lib/server.mjs';

// A raw connection: writes the bytes given, collects what comes back (latin1 text).
async function rawStream(port, bytes) {
  const sock = net.connect(port, HOST);
  await new Promise((r) => sock.once('connect', r));
  let text = '';
  sock.on('data', (d) => { text += d.toString('latin1'); });
  sock.write(bytes);
  return {
    sock,
    get text() { return text; },
    async until(pred, what, ms = 3000) {
      const end = Date.now() + ms;
      while (!pred(text)) {
        if (Date.now() > end) throw new Error(`${what}; received: ${JSON.stringify(text)}`);
        await delay(20);
      }
      return text;
    },
  };
}

// Reads events ("data: ...\n\n") from a fetch stream; next() resolves with the parsed JSON.
async function stream(url) {
  const ctl = new AbortController();
  const res = await fetch(url, { signal: ctl.signal, headers: { accept: 'text/event-stream' } });
  const reader = res.body.getReader();
  let text = '', done = false;
  const events = [];
  (async () => {
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        text += Buffer.from(value).toString();
        let i;
        while ((i = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, i); text = text.slice(i + 2);
          const data = block.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n');
          if (data) events.push(JSON.parse(data));
        }
      }
    } catch { /* aborted */ }
    done = true;
  })();
  return {
    res,
    async next(ms = 4000) {
      const end = Date.now() + ms;
      while (!events.length) {
        if (Date.now() > end) throw new Error('no event within ' + ms + ' ms');
        await new Promise((r) => setTimeout(r, 20));
      }
      return events.shift();
    },
    async ended(ms = 4000) {
      const end = Date.now() + ms;
      while (!done) { if (Date.now() > end) return false; await new Promise((r) => setTimeout(r, 20)); }
      return true;
    },
    close: () => ctl.abort(),
  };
}

describe('sse = true routes', () => {
  let srv;
  before(async () => { srv = await startServer({ app: path.join(REPO_ROOT, 'tests/integration/fixtures/sse'), workers: 1 }); });
  after(() => srv?.stop());

  test('path params and query reach the function; events come in order, the result last; the stream stays open', async () => {
    const s = await stream(`${srv.base}/stream/lobby?q=hi`);
    assert.equal(s.res.status, 200);
    assert.equal(s.res.headers.get('content-type'), 'text/event-stream');
    assert.deepEqual(await s.next(), { room: 'lobby', q: 'hi' });
    assert.deepEqual(await s.next(), { after: 'sleep' });
    assert.deepEqual(await s.next(), { done: true });
    assert.equal(await s.ended(300), false, 'still open after the function returned');
    s.close();
  });

  test('a route that needs a session sends an error event (MissingSession) and closes', async () => {
    const s = await stream(`${srv.base}/private`);
    const e = await s.next();
    assert.equal(e.type, 'error');
    assert.equal(e.name, 'MissingSession');
    assert.ok(e.errorId);
    assert.equal(await s.ended(), true);
  });

  test('an error raised by the function is an error event, then the end of the stream', async () => {
    const s = await stream(`${srv.base}/fail`);
    const e = await s.next();
    assert.deepEqual([e.type, e.name, e.message], ['error', 'Conflict', 'nope']);
    assert.equal(await s.ended(), true);
  });

  test('requests pipelined behind an event stream\'s GET are neither parsed nor answered', async () => {
    const publish = async (topic) => (await (await fetch(`${srv.base}/publish/${topic}`, { method: 'POST' })).json()).receivers;
    const s = await rawStream(srv.port, 'GET /events/first HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /events/second HTTP/1.1\r\nHost: x\r\n\r\n' +       // would subscribe a second stream
      'GET /stream/piped HTTP/1.1\r\nHost: x\r\n\r\n');
    await s.until((t) => t.includes('data: {"subscribed":"first"}\n\n'), 'the first stream\'s result');
    await delay(200);
    assert.equal(s.text.match(/HTTP\/1\.1 \d{3}/g).length, 1, `one answer only: ${JSON.stringify(s.text)}`);
    assert.doesNotMatch(s.text, /second|piped/);
    assert.equal(await publish('second'), 0, 'the pipelined stream was never opened');
    assert.equal(await publish('first'), 1);
    await s.until((t) => t.includes('data: {"n":1}\n\n'), 'the published event');
    s.sock.destroy();
    await delay(100);
    assert.equal(await publish('first'), 0, 'the stream left its topic when it closed');
  });

  test('a HEAD on an sse route is answered alone; what follows it is not', async () => {
    const s = await rawStream(srv.port, 'HEAD /events/head HTTP/1.1\r\nHost: x\r\n\r\n' +
      'GET /stream/piped HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => s.sock.once('close', r));
    assert.equal(s.text.match(/HTTP\/1\.1 \d{3}/g).length, 1, JSON.stringify(s.text));
    assert.match(s.text, /^HTTP\/1\.1 200 [^]*text\/event-stream/);
    assert.doesNotMatch(s.text, /piped/);
  });

  test('a CR in an event\'s text ends its data: line; it never starts a field ("event:")', async () => {
    const s = await rawStream(srv.port, 'GET /cr HTTP/1.1\r\nHost: x\r\n\r\n');
    const text = await s.until((t) => t.includes('data: plain\n\n'), 'both events');
    const body = text.slice(text.indexOf('\r\n\r\n') + 4);
    assert.ok(body.startsWith('data: x\ndata: event: evil\ndata: data: injected\n\n'), JSON.stringify(body));
    assert.ok(!body.includes('\r'));
    s.sock.destroy();
  });

  test('other methods on an sse route are 405', async () => {
    const r = await fetch(`${srv.base}/fail`, { method: 'POST' });
    assert.equal(r.status, 405);
  });
});

describe('todos: GET /todos/stream', () => {
  let srv, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-sse-'));
    srv = await startServer({ app: path.join(REPO_ROOT, 'apps/todos'), workers: 2, env: { PIKKU_TODOS_DB: path.join(dir, 'todos.db') } });
  });
  after(() => { srv?.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

  test('every stream (whatever its worker) gets created, completed and deleted events', async () => {
    const streams = await Promise.all([1, 2, 3, 4].map(() => stream(`${srv.base}/todos/stream`)));
    for (const s of streams) assert.equal((await s.next()).connected, true);
    const created = await (await fetch(`${srv.base}/todos`, { method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'user1', title: 'streamed' }) })).json();
    const id = created.todo.id;
    await fetch(`${srv.base}/todos/${id}/complete`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    await fetch(`${srv.base}/todos/${id}`, { method: 'DELETE' });
    for (const s of streams) {
      const got = [await s.next(), await s.next(), await s.next()];
      assert.deepEqual(got.map((e) => e.topic).sort(), ['todo-completed', 'todo-created', 'todo-deleted']);
      assert.ok(got.every((e) => e.data.id === id));
      s.close();
    }
  });
});

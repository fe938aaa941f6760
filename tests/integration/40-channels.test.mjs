// WebSocket channels with the npm `ws` client: on_connect, routing, id correlation, reply shapes,
// error frames, sessions (upgrade and auth action), wire.channel, pub/sub from HTTP, reloads, and
// delivery across two workers. Fixture: fixtures/channels (its tests/ also run in-process).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { startServer, runCli, delay, rawRequest, REPO_ROOT } from './lib/server.mjs';
import { connect, ChannelClient } from './lib/channel-client.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'channels');
const SECRET = 'channels-secret';

const b64url = (s) => Buffer.from(s).toString('base64url');
function jwt(claims, secret = SECRET) {
  const input = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  return `${input}.${crypto.createHmac('sha256', secret).update(input).digest('base64url')}`;
}

async function post(srv, p, body, headers = {}) {
  const res = await srv.fetch(p, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: res.status, headers: res.headers, json: await res.json() };
}

test('in-process: pikku test runs the fixture\'s channel tests (t.channel, t.subscribe)', () => {
  const r = runCli(['test', APP], { timeout: 20000 });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.match(r.stdout, / 0 failed/);
});

describe('channels (1 worker)', () => {
  let srv;
  const open = [];
  before(async () => { srv = await startServer({ app: APP, args: ['--dev'] }); });
  after(async () => {
    for (const c of open) c.terminate();
    await srv?.stop();
  });
  async function ws(p, options) {
    const c = await connect(srv, p, options);
    open.push(c);
    return c;
  }

  test('on_connect sends its result; params and query are the opening data', async () => {
    const c = await ws('/ws/lobby?x=1&x=2');
    assert.deepEqual(await c.next(), { connected: true, room: 'lobby', user: null });
    const info = await c.call({ action: 'info' });
    assert.deepEqual(info.opening, { room: 'lobby', x: ['1', '2'] });
    assert.equal(info.channel, 'chat');
    assert.equal(typeof info.cid, 'number');
    assert.equal(info.action, 'info');
  });

  test('routing, id correlation and the reply shapes', async () => {
    const c = await ws('/ws/a');
    await c.next();
    c.send({ action: 'echo', id: 7, x: 1 });
    assert.deepEqual(await c.next(), { got: { x: 1 }, action: 'echo', id: 7 });
    c.send({ action: 'echo', y: 'no id' });
    assert.deepEqual(await c.next(), { got: { y: 'no id' }, action: 'echo' });
    c.send({ action: 'add', a: 2, b: 3 });
    assert.deepEqual(await c.next(), { action: 'add', result: 5 });
    c.send({ action: 'nothing', id: 'n' });
    assert.deepEqual(await c.next(), { action: 'nothing', id: 'n' });
    c.send({ action: 'list' });
    assert.deepEqual(await c.next(), { action: 'list', result: [1, 2, 3] });
    // a handler whose input declares "id" gets it (the reply still carries it)
    c.send({ action: 'get', id: 'todo9' });
    assert.deepEqual(await c.next(), { action: 'get', id: 'todo9', item: 'todo9' });
  });

  test('concurrent messages: replies come when ready, matched by id', async () => {
    const c = await ws('/ws/a');
    await c.next();
    c.send({ action: 'sleep', ms: 200, id: 'slow' });
    c.send({ action: 'echo', id: 'fast' });
    assert.equal((await c.next()).id, 'fast');
    assert.deepEqual(await c.next(), { action: 'sleep', id: 'slow', slept: 200 });
  });

  test('error frames; the connection stays open', async () => {
    const c = await ws('/ws/a');
    await c.next();
    let e = await c.call({ action: 'add', a: 'x', b: 1, id: 1 });
    assert.equal(e.errorName, 'UnprocessableContent');
    assert.equal(e.action, 'add');
    assert.equal(e.error, 'Validation failed');
    assert.equal(e.payload.errors[0].path, '/a');
    e = await c.call({ action: 'conflict', id: 2 });
    assert.deepEqual({ ...e, errorId: undefined }, { error: 'nope', errorName: 'Conflict', payload: { why: 'test' }, action: 'conflict', id: 2, errorId: undefined });
    const mark = srv.mark();
    e = await c.call({ action: 'boom', id: 3 });
    assert.equal(e.errorName, 'InternalServerError');
    assert.match(e.error, /kaboom/);   // --dev shows the message
    await srv.waitForLine((l) => l.includes(`errorId=${e.errorId}`) && l.includes('kaboom'), { from: mark });
    assert.equal((await c.call({ action: 'echo' })).action, 'echo');
  });

  test('no routing key matched: on_message gets the whole message; non-JSON as a string; binary to on_binary', async () => {
    const c = await ws('/ws/a');
    await c.next();
    c.send({ action: 'nope', v: 1 });
    assert.deepEqual(await c.next(), { echo: { action: 'nope', v: 1 } });
    c.send('not json');
    assert.deepEqual(await c.next(), { echo: 'not json' });
    c.send('xyz {"a":1}');
    assert.deepEqual(await c.next(), { echo: 'xyz {"a":1}' });
    c.send(' [1, 2]');
    assert.deepEqual(await c.next(), { echo: [1, 2] });
    c.send('-7');
    assert.deepEqual(await c.next(), { echo: -7 });
    c.send(Buffer.from([1, 2, 3]));
    assert.deepEqual(await c.next(), { binary: Buffer.from([3, 2, 1]) });
  });

  test('a channel without on_message: NotFound and BadRequest frames, binary refused with a frame', async () => {
    const c = await ws('/plain');
    let e = await c.call({ action: 'nope', id: 9 });
    assert.equal(e.errorName, 'NotFound');
    assert.equal(e.action, 'nope');
    assert.equal(e.id, 9);
    c.send('{bad json');
    e = await c.next();
    assert.equal(e.errorName, 'BadRequest');
    assert.match(e.error, /^malformed JSON message \(expected a string key at byte 2\)/);
    c.send('plain words');
    e = await c.next();
    assert.equal(e.errorName, 'BadRequest');
    assert.match(e.error, /^malformed JSON message: send a JSON object/);
    c.send(Buffer.from('x'));
    assert.equal((await c.next()).errorName, 'UnsupportedMediaType');
    assert.equal((await c.call({ action: 'echo' })).action, 'echo');
  });

  test('session: MissingSession frame, auth action sets it for later messages, logout clears it', async () => {
    const c = await ws('/ws/a');
    await c.next();
    let e = await c.call({ action: 'whoami' });
    assert.equal(e.errorName, 'MissingSession');
    assert.equal(e.action, 'whoami');
    assert.equal((await c.call({ action: 'locked' })).errorName, 'MissingSession');
    assert.deepEqual(await c.call({ action: 'login', user: 'ada', id: 'l' }), { action: 'login', id: 'l', authenticated: true, userId: 'ada' });
    assert.equal((await c.call({ action: 'whoami' })).userId, 'ada');
    assert.equal((await c.call({ action: 'admin' })).errorName, 'Forbidden');
    // another connection has its own session
    const other = await ws('/ws/a');
    await other.next();
    assert.equal((await other.call({ action: 'whoami' })).errorName, 'MissingSession');
    await c.call({ action: 'logout' });
    assert.equal((await c.call({ action: 'whoami' })).errorName, 'MissingSession');
  });

  test('session at the upgrade: bearer token, cookie (same origin only)', async () => {
    const c = await ws('/ws/b', { headers: { authorization: `Bearer ${jwt({ userId: 'tok', role: 'admin' })}` } });
    assert.equal((await c.next()).user, 'tok');
    assert.equal((await c.call({ action: 'admin' })).secret, 42);
    const bad = await ws('/ws/b', { headers: { authorization: 'Bearer nope' } });
    assert.equal((await bad.next()).user, null);   // public channel: a bad token is no session

    const login = await post(srv, '/login', { user: 'cookie-user' });
    const cookie = /^(sid=[^;]+)/.exec(login.headers.get('set-cookie'))[1];
    const viaCookie = await ws('/ws/b', { headers: { cookie } });
    assert.equal((await viaCookie.next()).user, 'cookie-user');
    const sameOrigin = await ws('/ws/b', { headers: { cookie }, origin: `http://${srv.host}:${srv.port}` });
    assert.equal((await sameOrigin.next()).user, 'cookie-user');
    // cross-site WebSocket hijacking: the cookie of another origin's page is ignored
    const foreign = await ws('/ws/b', { headers: { cookie }, origin: 'https://evil.example' });
    assert.equal((await foreign.next()).user, null);
  });

  test('a channel with auth = true closes 1008 MissingSession / InvalidSession', async () => {
    const c = new ChannelClient(`ws://${srv.host}:${srv.port}/private`);
    assert.deepEqual(await c.closed, { code: 1008, reason: 'MissingSession' });
    const bad = new ChannelClient(`ws://${srv.host}:${srv.port}/private`, { headers: { authorization: 'Bearer x.y.z' } });
    assert.deepEqual(await bad.closed, { code: 1008, reason: 'InvalidSession' });
    const good = await ws('/private', { headers: { authorization: `Bearer ${jwt({ userId: 'u1' })}` } });
    assert.deepEqual(await good.next(), { hello: 'u1' });
    assert.equal((await good.call({ action: 'whoami' })).userId, 'u1');
  });

  test('an error in on_connect closes the connection with its name', async () => {
    const c = new ChannelClient(`ws://${srv.host}:${srv.port}/gate`);
    assert.deepEqual(await c.closed, { code: 1008, reason: 'Forbidden' });
    const ok = await ws('/gate?pass=yes');
    assert.deepEqual(await ok.next(), { welcome: true });
  });

  test('subprotocols: the first offered one the channel speaks is agreed; none when nothing matches', async () => {
    const v2 = new ChannelClient(`ws://${srv.host}:${srv.port}/proto`, ['x-unknown', 'chat', 'chat.v2']);
    open.push(v2);
    await v2.opened;
    assert.equal(v2.ws.protocol, 'chat');   // the client's order decides among those spoken
    const first = await v2.next();
    // wire.channel.remote_addr/remote_port: the client's socket
    assert.deepEqual(first, { protocol: 'chat', addr: '127.0.0.1', port: v2.ws._socket.localPort });
    // and in message handlers, after the upgrade request is gone
    const peer = await v2.call({ action: 'peer' });
    assert.deepEqual([peer.addr, peer.port], ['127.0.0.1', v2.ws._socket.localPort]);
    const plain = await ws('/proto');
    assert.equal(plain.ws.protocol, '');
    assert.equal((await plain.next()).protocol, null);
    // a client that insists on a protocol the channel does not speak fails the handshake itself
    const other = new ChannelClient(`ws://${srv.host}:${srv.port}/proto`, ['graphql-ws']);
    await assert.rejects(other.opened);
  });

  test('messages sent while on_connect waits run after it accepts, and never if it refuses', async () => {
    const ok = new ChannelClient(`ws://${srv.host}:${srv.port}/slowgate?pass=yes`);
    open.push(ok);
    await ok.opened;
    ok.send({ action: 'echo', id: 1, n: 1 });
    ok.send({ action: 'echo', id: 2, n: 2 });
    assert.deepEqual(await ok.next(), { welcome: true });
    assert.deepEqual(await ok.next(), { got: { n: 1 }, action: 'echo', id: 1 });
    assert.deepEqual(await ok.next(), { got: { n: 2 }, action: 'echo', id: 2 });
    const no = new ChannelClient(`ws://${srv.host}:${srv.port}/slowgate`);
    await no.opened;
    no.send({ action: 'echo', id: 1 });
    assert.deepEqual(await no.closed, { code: 1008, reason: 'Forbidden' });
    assert.deepEqual(no.all, []);   // the echo never ran
  });

  test('wire.channel: send, send_binary, state, close', async () => {
    const c = await ws('/ws/a');
    await c.next();
    c.send({ action: 'push' });
    assert.deepEqual(await c.next(), { pushed: 1 });
    assert.deepEqual(await c.next(), { pushed: 2 });
    assert.equal(await c.next(), 'plain text');
    assert.deepEqual(await c.next(), { binary: Buffer.from([0, 1, 2]) });
    assert.deepEqual(await c.next(), { done: true, action: 'push' });
    assert.equal((await c.call({ action: 'count' })).count, 1);
    assert.equal((await c.call({ action: 'count' })).count, 2);
    c.send({ action: 'kick' });
    assert.deepEqual(await c.closed, { code: 4000, reason: 'bye' });
  });

  test('a connection holds at most 1024 topics: the next subscribe is an error frame, re-subscribing is fine, leaving one makes room', async () => {
    const a = await ws('/ws/lim');
    await a.next();
    assert.deepEqual(await a.call({ action: 'subscribeMany', prefix: 't', n: 1024, id: 'm' }), { action: 'subscribeMany', id: 'm', subscribed: 1024 });
    const over = await a.call({ action: 'subscribe', topic: 'one-more', id: 'x' });
    assert.equal(over.id, 'x');
    assert.match(over.error, /at most 1024 topics/);
    assert.equal(over.errorName, 'TooManyRequests');
    assert.equal((await a.call({ action: 'subscribe', topic: 't7', id: 'again' })).subscribed, true);
    await a.call({ action: 'unsubscribe', topic: 't1' });
    assert.equal((await a.call({ action: 'subscribe', topic: 'one-more', id: 'y' })).subscribed, true);
    a.close();
  });

  test('a topic name may be at most 256 bytes: a longer one is a BadRequest for subscribe, unsubscribe and publish', async () => {
    const a = await ws('/ws/names');
    await a.next();
    const longest = `n${'x'.repeat(255)}`;
    const over = `${longest}y`;
    assert.deepEqual(await a.call({ action: 'subscribe', topic: longest, id: 's' }), { action: 'subscribe', id: 's', subscribed: true, topic: longest });
    for (const action of ['subscribe', 'unsubscribe', 'publish']) {
      const r = await a.call({ action, topic: over, ...(action === 'publish' ? { data: 1 } : {}), id: action });
      assert.equal(r.id, action);
      assert.equal(r.errorName, 'BadRequest', `${action}: ${JSON.stringify(r)}`);
      assert.match(r.error, /a topic name may be at most 256 bytes/);
    }
    const pub = await post(srv, '/publish', { topic: over, data: 'x' });
    assert.equal(pub.status, 400);
    assert.equal(pub.json.name, 'BadRequest');
    // the longest name works all the way
    const ok = await post(srv, '/publish', { topic: longest, data: 'to the longest' });
    assert.equal(ok.status, 200);
    assert.equal(ok.json.localReceivers, 1);
    assert.equal(await a.next(), 'to the longest');
    assert.equal((await a.call({ action: 'unsubscribe', topic: longest })).unsubscribed, true);
    a.close();
  });

  test('pub/sub: an HTTP publish reaches subscribers; exclude; unsubscribe stops it; a closed connection leaves its topics', async () => {
    const a = await ws('/ws/a');
    const b = await ws('/ws/b');
    await a.next();
    await b.next();
    assert.deepEqual(await a.call({ action: 'subscribe', topic: 'news', id: 's' }), { action: 'subscribe', id: 's', subscribed: true, topic: 'news' });
    await b.call({ action: 'subscribe', topic: 'news' });
    const r = await post(srv, '/publish', { topic: 'news', data: { n: 1 } });
    assert.equal(r.json.localReceivers, 2);
    assert.deepEqual(await a.next(), { n: 1 });
    assert.deepEqual(await b.next(), { n: 1 });
    // from a socket, excluding itself
    a.send({ action: 'publish', topic: 'news', data: 'x', excludeSelf: true, id: 'p' });
    assert.equal((await a.nextWhere((v) => v.id === 'p')).localReceivers, 1);
    assert.equal(await b.next(), 'x');
    assert.ok(await a.nothingFor(100));
    await b.call({ action: 'unsubscribe', topic: 'news' });
    await post(srv, '/publish', { topic: 'news', data: 2 });
    assert.equal(await a.next(), 2);
    assert.ok(await b.nothingFor(100));
    await a.close();
    const after = await post(srv, '/publish', { topic: 'news', data: 3 });
    assert.equal(after.json.localReceivers, 0);
  });

  test('on_disconnect runs with the close code and the state', async () => {
    const listener = await ws('/ws/listen');
    await listener.next();
    await listener.call({ action: 'subscribe', topic: 'presence' });
    const c = await ws('/ws/room9');
    await c.next();
    await c.call({ action: 'count' });
    await c.close(4001);
    assert.deepEqual(await listener.next(), { left: 'room9', code: 4001, count: 1 });
    const d = await ws('/ws/room10');
    await d.next();
    await d.terminate();   // no close frame: 1006
    assert.deepEqual(await listener.next(), { left: 'room10', code: 1006, count: 0 });
  });

  test('HTTP: GET on a channel route without the upgrade is 426; other routes are untouched', async () => {
    const r = await srv.fetch('/ws/a');
    assert.equal(r.status, 426);
    await r.arrayBuffer();
    const home = await srv.fetch('/');
    assert.deepEqual(await home.json(), { home: true });
  });

  test('a channel and a GET route on one path: the upgrade opens the channel, any other GET is the route', async () => {
    const page = await srv.fetch('/shared/p1');
    assert.equal(page.status, 200);
    assert.deepEqual(await page.json(), { page: 'p1' });
    const head = await srv.fetch('/shared/p1', { method: 'HEAD' });
    assert.equal(head.status, 200);
    const c = new ChannelClient(`ws://${srv.host}:${srv.port}/shared/p1`, ['shared.v1']);
    open.push(c);
    await c.opened;
    assert.equal(c.ws.protocol, 'shared.v1');
    assert.deepEqual(await c.next(), { channel: 'p1', protocol: 'shared.v1' });
    assert.deepEqual((await c.call({ action: 'echo', n: 2 })).got, { n: 2 });
    // another protocol's upgrade is a plain GET for the route; a WebSocket one is checked as usual
    const h2c = (await rawRequest(srv.port, 'GET /shared/p2 HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade, HTTP2-Settings\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n')).text;
    assert.match(h2c, /^HTTP\/1\.1 200 /);
    assert.match(h2c, /\{"page":"p2"\}$/);
    const v8 = (await rawRequest(srv.port, 'GET /shared/p3 HTTP/1.1\r\nHost: x\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n')).text;
    assert.match(v8, /^HTTP\/1\.1 426 [^]*Sec-WebSocket-Version: 13/);
  });

  test('a reload keeps the connections, their sessions and state; on_disconnect still runs', async () => {
    const listener = await ws('/ws/listen');
    await listener.next();
    await listener.call({ action: 'subscribe', topic: 'presence' });
    const c = await ws('/ws/r');
    await c.next();
    await c.call({ action: 'login', user: 'kept' });
    await c.call({ action: 'count' });
    const before = (await c.call({ action: 'info' })).load;
    srv.signal('SIGHUP');
    const deadline = Date.now() + 5000;
    for (;;) {
      const probe = await ws('/ws/probe');
      await probe.next();
      const load = (await probe.call({ action: 'info' })).load;
      probe.terminate();
      if (load !== before) break;
      assert.ok(Date.now() < deadline, 'the reload did not happen');
      await delay(50);
    }
    await listener.nextWhere((v) => v.left === 'probe', 2000).catch(() => {});
    while (listener.queue.length) listener.queue.shift();
    const info = await c.call({ action: 'info' });
    assert.notEqual(info.load, before, 'served by the new state');
    assert.equal(info.session.userId, 'kept');
    assert.deepEqual(info.opening, { room: 'r' });
    assert.equal((await c.call({ action: 'whoami' })).userId, 'kept');
    assert.equal((await c.call({ action: 'count' })).count, 2);
    // subscriptions live in C too
    await post(srv, '/publish', { topic: 'presence', data: { ping: true } });
    assert.deepEqual(await listener.nextWhere((v) => v.ping), { ping: true });
    await c.close(4002);
    assert.deepEqual(await listener.nextWhere((v) => v.left === 'r'), { left: 'r', code: 4002, count: 2 });
  });
});

describe('channels (2 workers)', () => {
  let srv;
  const open = [];
  before(async () => { srv = await startServer({ app: APP, workers: 2 }); });
  after(async () => {
    for (const c of open) c.terminate();
    await srv?.stop();
  });

  test('a publish from an HTTP request reaches subscribers on both workers', async () => {
    const byWorker = new Map();
    for (let i = 0; i < 40 && byWorker.size < 2; i++) {
      const c = await connect(srv, `/ws/w${i}`);
      open.push(c);
      await c.next();
      const { worker } = await c.call({ action: 'info' });
      if (!byWorker.has(worker)) byWorker.set(worker, []);
      byWorker.get(worker).push(c);
      await c.call({ action: 'subscribe', topic: 'everywhere' });
    }
    assert.equal(byWorker.size, 2, 'connections on both workers');
    const all = [...byWorker.values()].flat();
    const event = (v) => v && typeof v === 'object' && typeof v.n === 'number';
    // HTTP publishes: each POST may be served by either worker; every subscriber gets every event
    for (let n = 1; n <= 5; n++) {
      const r = await post(srv, '/publish', { topic: 'everywhere', data: { n } });
      assert.equal(r.status, 200);
    }
    for (const c of all) {
      const got = [];
      for (let i = 0; i < 5; i++) got.push((await c.nextWhere(event)).n);
      assert.deepEqual(got.sort(), [1, 2, 3, 4, 5]);
    }
    // one publisher (a socket): its events arrive in publish order on both workers
    const publisher = byWorker.values().next().value[0];
    for (let n = 11; n <= 20; n++) publisher.send({ action: 'publish', topic: 'everywhere', data: { n } });
    for (const c of all) {
      for (let n = 11; n <= 20; n++) assert.deepEqual(await c.nextWhere(event), { n });
    }
    // a closed connection is gone from the topic on every worker
    const gone = all.pop();
    await gone.close();
    await post(srv, '/publish', { topic: 'everywhere', data: { n: 99 } });
    for (const c of all) assert.deepEqual(await c.nextWhere(event), { n: 99 });
    assert.equal(gone.all.filter((v) => v.n === 99).length, 0);
  });
});

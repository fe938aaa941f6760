// The developer loop: pikku dev reloads on save (Lua and native sources), a broken save keeps the old code and shows its error, pikku reload reports the outcome, connections and their sessions and topics survive reloads.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PikkuServer, copyApp, httpRequest, pollUntil, delay, runCli, REPO_ROOT } from './lib/server.mjs';
import { connect } from './lib/channel-client.mjs';

const NATIVE_APP = path.join(REPO_ROOT, 'apps', 'native');

/** GET path on a fresh connection: { status, json, text }. */
async function get(srv, p, headers = {}) {
  const r = await httpRequest(srv.port, { path: p, agent: false, headers });
  let json;
  try { json = JSON.parse(r.text); } catch { /* not JSON */ }
  return { ...r, json };
}

// A save must go live without a restart, within this bound. It only catches a watch that does not
// fire (or a slow fallback): the speed itself (~41 ms) is the benchmark's (tests/bench/devloop.mjs).
// Generous because a CI machine running the suite on both CPUs once took over 2 s.
const SAVE_TO_ANSWER_MS = 4000;

/** Polls GET p until pred(res) holds; returns the ms it took from t0. */

async function until(srv, p, pred, { t0 = Date.now(), timeout = 8000, what = p } = {}) {
  let last;
  await pollUntil(async () => {
    last = await get(srv, p);
    return pred(last);
  }, { timeout, interval: 5, what: `${what} (last: ${last && last.status} ${last && last.text})` });
  return Date.now() - t0;
}

describe('pikku dev: save, see it live', () => {
  let srv;
  let dir;
  let modFile;
  let modOrig;

  before(async () => {
    dir = copyApp();
    modFile = path.join(dir, 'greetings.lua');
    modOrig = fs.readFileSync(modFile, 'utf8');
    srv = new PikkuServer({ app: dir, command: 'dev' });
    await srv.start();
    await srv.waitForLine(/watching .*a saved \.lua file/);
  });
  after(async () => {
    await srv?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const withMessage = (msg) => modOrig.replace('message = "hello"', `message = "${msg}"`);

  test('a saved change is answered by the next request, without a restart', async () => {
    for (const msg of ['saved-1', 'saved-2', 'saved-3']) {
      const t0 = Date.now();
      fs.writeFileSync(modFile, withMessage(msg));
      const ms = await until(srv, '/hello', (r) => r.json?.message === msg, { t0, timeout: 8000 });
      // the 1 s, with room for a CI machine running two test files at once (the benchmark,
      // tests/bench/devloop.mjs, measures the real figure: a median of ~41 ms)
      assert.ok(ms < SAVE_TO_ANSWER_MS, `the new code answered ${ms} ms after the save`);
    }
  });

  test('a broken save keeps the old code, logs file:line, shows the error once to the next request (JSON), and a fix goes live', async () => {
    fs.writeFileSync(modFile, withMessage('good'));
    await until(srv, '/hello', (r) => r.json?.message === 'good');
    const mark = srv.mark();
    fs.writeFileSync(modFile, `${withMessage('never')}\nlocal broken = = 1\n`);
    const brokenLine = withMessage('never').split('\n').length + 1;
    const line = await srv.waitForLine((l) => /reload failed/.test(l) && l.includes(`greetings.lua:${brokenLine}:`),
      { from: mark, timeout: 6000 });
    assert.match(line, /module 'greetings', required at .*app\.lua:\d+/, 'the place that matters comes first');
    const page = await get(srv, '/hello');
    assert.equal(page.status, 500);
    assert.equal(page.json.name, 'InternalServerError');
    assert.match(page.json.message, /the app failed to load/);
    assert.match(page.json.payload.file, /greetings\.lua$/);
    assert.equal(page.json.payload.line, brokenLine);
    assert.match(page.json.errorId, /^[0-9a-f]{32}$/);
    for (let i = 0; i < 5; i++) {
      const r = await get(srv, '/hello');
      assert.equal(r.status, 200, 'then the old code answers');
      assert.equal(r.json.message, 'good');
    }
    const t0 = Date.now();
    fs.writeFileSync(modFile, withMessage('fixed'));
    const ms = await until(srv, '/hello', (r) => r.json?.message === 'fixed', { t0 });
    assert.ok(ms < SAVE_TO_ANSWER_MS, `fixed code answered ${ms} ms after the save`);
  });

  test('a browser gets the error as a page naming the file and line', async () => {
    const mark = srv.mark();
    fs.writeFileSync(path.join(dir, 'app.lua'), `${fs.readFileSync(path.join(dir, 'app.lua'), 'utf8')}\npikku.wire_http { method = "get" }\n`);
    await srv.waitForLine(/reload failed/, { from: mark, timeout: 6000 });
    const page = await get(srv, '/hello', { accept: 'text/html,application/xhtml+xml' });
    assert.equal(page.status, 500);
    assert.match(page.headers['content-type'], /^text\/html/);
    assert.match(page.text, /The app failed to load/);
    assert.match(page.text, /app\.lua:\d+/);
    assert.match(page.text, /route must be a string/);
    const again = await get(srv, '/hello');
    assert.equal(again.status, 200);
  });

  test('files that are not the app (an editor swap file, a text file) do not reload it', async () => {
    const mark = srv.mark();
    fs.writeFileSync(path.join(dir, '.greetings.lua.swp'), 'x');
    fs.writeFileSync(path.join(dir, 'notes.txt'), 'x');
    await delay(300);
    assert.equal(srv.findLines(/files changed/, mark).length, 0, srv.stderrText(mark));
  });
});

describe('pikku reload: the outcome for the person who asked', () => {
  let srv;
  let dir;
  let pidFile;

  before(async () => {
    dir = copyApp();
    pidFile = path.join(os.tmpdir(), `pikku-test-${process.pid}.pid`);
    srv = new PikkuServer({ app: dir, workers: 2, args: ['--pid-file', pidFile] });
    await srv.start();
  });
  after(async () => {
    await srv?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('--pid-file holds the master pid', () => {
    assert.equal(Number(fs.readFileSync(pidFile, 'utf8').trim()), srv.pid);
  });

  test('a good reload: exit 0 and the generation every worker runs', async () => {
    const mod = path.join(dir, 'greetings.lua');
    fs.writeFileSync(mod, fs.readFileSync(mod, 'utf8').replace('message = "hello"', 'message = "reloaded"'));
    const r = runCli(['reload', '--pid-file', pidFile], { timeout: 10000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^pikku: reloaded: generation \d+, 2 workers\n$/);
    for (let i = 0; i < 10; i++) assert.equal((await get(srv, '/hello')).json.message, 'reloaded');
  });

  test('a broken reload: exit 1, the load error with file:line, and the old code serves', () => {
    const app = path.join(dir, 'app.lua');
    const orig = fs.readFileSync(app, 'utf8');
    fs.writeFileSync(app, `${orig}\nerror("deliberately broken")\n`);
    const line = orig.split('\n').length + 1;
    try {
      const r = runCli(['reload', '--pid', String(srv.pid)], { timeout: 10000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /reload failed \(generation \d+\); the previous code keeps serving/);
      assert.ok(r.stderr.includes(`app.lua:${line}: deliberately broken`), r.stderr);
    } finally {
      fs.writeFileSync(app, orig);
    }
  });

  test('no server at that pid: exit 1 with a reason; bad usage: exit 2', () => {
    const r = runCli(['reload', '--pid', '999999']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no pikku server with pid 999999 answers/);
    assert.equal(runCli(['reload']).code, 2);
    assert.equal(runCli(['reload', 'apps/hello']).code, 2);
  });

  test('the pid file is removed when the server stops', async () => {
    await srv.stop();
    assert.equal(fs.existsSync(pidFile), false);
  });
});

describe('connections, sessions and topics survive reloads; the next message runs the new code', () => {
  let srv;
  let dir;

  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-app-'));
    fs.writeFileSync(path.join(dir, 'version.lua'), 'return { v = 1 }\n');
    fs.writeFileSync(path.join(dir, 'app.lua'), [
      'local pikku = require "pikku"',
      'local version = require "version"',
      'pikku.wire_channel { name = "live", route = "/ws", auth = false, on_message_wiring = { action = {',
      '  login = function(_, data, wire) wire.set_session { user = data.user } return { ok = true } end,',
      '  whoami = pikku.func { auth = true, func = function(_, _, wire) return { user = wire.session.user, v = version.v } end },',
      '  sub = function(services, data) services.eventhub:subscribe(data.topic) return { topic = data.topic } end,',
      '} } }',
      'pikku.wire_http { method = "post", route = "/pub/:topic", func = function(services, data)',
      '  services.eventhub:publish(data.topic, { v = version.v }) end }',
      'pikku.wire_http { method = "get", route = "/v", func = function() return { v = version.v } end }',
      'pikku.wire_queue_worker { name = "work", func = function(_, data) return { n = data.n, v = version.v } end }',
      'pikku.wire_http { method = "post", route = "/enqueue/:n", func = function(services, data)',
      '  local ids = {}',
      '  for i = 1, tonumber(data.n) do ids[i] = services.queue:add("work", { n = i }, { delay = 1500 }) end',
      '  return { ids = ids } end }',
      'pikku.wire_http { method = "get", route = "/job/:id", func = function(services, data)',
      '  return services.queue:get_job("work", data.id) end }',
    ].join('\n'));
    srv = new PikkuServer({ app: dir, command: 'dev', workers: 2 });
    await srv.start();
  });
  after(async () => {
    await srv?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('two saves later, the old connections answer with the new code, keep their session and receive their topics', async () => {
    const conns = [];
    for (let i = 0; i < 4; i++) conns.push(await connect(srv, '/ws'));
    for (const [i, c] of conns.entries()) {
      assert.equal((await c.call({ action: 'login', user: `u${i}` })).ok, true);
      await c.call({ action: 'sub', topic: 'news' });
      assert.equal((await c.call({ action: 'whoami' })).v, 1);
    }
    for (const v of [2, 3]) {
      fs.writeFileSync(path.join(dir, 'version.lua'), `return { v = ${v} }\n`);
      await srv.waitForLines(new RegExp(`reloaded app .*\\(generation ${v}\\)`), 2, { timeout: 5000 });
    }
    for (const [i, c] of conns.entries()) {
      const me = await c.call({ action: 'whoami' });
      assert.equal(me.v, 3, 'the new code handled the message');
      assert.equal(me.user, `u${i}`, 'the session survived');
    }
    const r = await httpRequest(srv.port, { method: 'POST', path: '/pub/news', agent: false });
    assert.equal(r.status, 204);
    for (const c of conns) assert.deepEqual(await c.nextWhere((m) => m && m.v !== undefined && m.action === undefined), { v: 3 });
    for (const c of conns) assert.equal(c.closeInfo, undefined, 'no connection was dropped');
    await Promise.all(conns.map((c) => c.close()));
  });

  test('queued jobs survive reloads and run on the new code', async () => {
    const r = await httpRequest(srv.port, { method: 'POST', path: '/enqueue/5', agent: false });
    const { ids } = JSON.parse(r.text);
    assert.equal(ids.length, 5);
    const v0 = (await get(srv, '/v')).json.v;
    for (const v of [v0 + 1, v0 + 2]) {
      const mark = srv.mark();
      fs.writeFileSync(path.join(dir, 'version.lua'), `return { v = ${v} }\n`);
      await srv.waitForLines(/reloaded app/, 2, { from: mark, timeout: 5000 });
    }
    for (const id of ids) {
      const job = await pollUntil(async () => {
        const j = (await get(srv, `/job/${id}`)).json;
        return j && j.status === 'completed' ? j : null;
      }, { timeout: 10000, what: `job ${id} to complete` });
      assert.equal(job.result.v, v0 + 2, 'the job ran on the code loaded last');
      assert.equal(job.attempts, 1);
    }
  });
});

describe('pikku dev and native code', () => {
  let srv;
  let dir;
  let src;
  let orig;

  before(async () => {
    dir = copyApp(NATIVE_APP);
    fs.rmSync(path.join(dir, '.pikku'), { recursive: true, force: true });   // built by pikku dev at start
    src = path.join(dir, 'native', 'textstats.c');
    orig = fs.readFileSync(src, 'utf8');
    srv = new PikkuServer({ app: dir, command: 'dev' });
    await srv.start({ timeout: 20000 });
  });
  after(async () => {
    await srv?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const stats = async () => {
    const r = await httpRequest(srv.port, { method: 'POST', path: '/text/stats', agent: false,
      headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text: 'a b' }) });
    return { status: r.status, json: JSON.parse(r.text) };
  };
  const generation = (g) => orig.replace('lua_pushstring(L, "1");', `lua_pushstring(L, "${g}");`);

  test('a saved C module is rebuilt and reloaded: the next call runs the new build', async () => {
    assert.equal((await stats()).json.module, '1');
    const t0 = Date.now();
    fs.writeFileSync(src, generation('2'));
    await pollUntil(async () => (await stats()).json.module === '2', { timeout: 10000, interval: 20, what: 'the rebuilt module' });
    await srv.waitForLine(/built 1 native library/);
    assert.ok(Date.now() - t0 < 10000);
  });

  test('C that does not compile: the compiler error names file:line, the old build serves, the next request shows it', async () => {
    const mark = srv.mark();
    const broken = generation('never').replace('return 1;\n}\n\n/* textstats.version()', 'return 1 +;\n}\n\n/* textstats.version()');
    assert.notEqual(broken, generation('never'));
    fs.writeFileSync(src, broken);
    const line = await srv.waitForLine(/native build failed/, { from: mark, timeout: 10000 });
    assert.match(line, /textstats\.c:\d+:\d+: error/);
    const r = await httpRequest(srv.port, { path: '/text/stats', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' });
    assert.equal(r.status, 500);
    assert.match(JSON.parse(r.text).payload.file, /textstats\.c$/);
    assert.equal((await stats()).json.module, '2', 'the previous build keeps serving');
    fs.writeFileSync(src, generation('3'));
    await pollUntil(async () => (await stats()).json.module === '3', { timeout: 10000, interval: 20, what: 'the fixed module' });
  });
});

// Native extensions: pikku build, the three kinds through HTTP, RPC and a channel, load errors, reloading rebuilt native code, pikku test's crash report and --filter.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, copyApp, httpRequest, pollUntil, runCli, withApp, REPO_ROOT, PIKKU_BIN } from './lib/server.mjs';
import { connect } from './lib/channel-client.mjs';

const NATIVE_APP = path.join(REPO_ROOT, 'apps', 'native');
const SHA_ABC = 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad';

async function post(srv, p, body, headers = {}) {
  const r = await httpRequest(srv.port, { method: 'POST', path: p, agent: false,
    headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });
  return { status: r.status, headers: r.headers, json: r.text ? JSON.parse(r.text) : undefined };
}

/** The copies of library `name` a process has mapped (each load maps a fresh copy, removed from disk). */
function mappedCopies(pid, name) {
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  const files = new Set(maps.split('\n').filter((l) => l.includes(`-${name}.so`)).map((l) => l.trim().split(/\s+/)[5]));
  return files.size;
}

describe('pikku build', () => {
  let dir;
  before(() => {
    dir = copyApp(NATIVE_APP);
    fs.rmSync(path.join(dir, '.pikku'), { recursive: true, force: true });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('compiles every library of native/ into .pikku/native against pikku.h', () => {
    const r = runCli(['build', dir], { timeout: 60000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /pikku build: 3 libraries in .*\.pikku\/native/);
    for (const lib of ['chain', 'textstats', 'vec']) assert.ok(fs.existsSync(path.join(dir, '.pikku', 'native', `${lib}.so`)));
    const syms = runCli(['version']);   // (the host exports the API the libraries link against)
    assert.equal(syms.code, 0);
  });

  test('a compile error: exit 1, the compiler\'s file:line', () => {
    const bad = path.join(dir, 'native', 'bad.c');
    fs.writeFileSync(bad, '#include <pikku.h>\nint bad(pk_call *c) {\n  return nope;\n}\n');
    try {
      const r = runCli(['build', dir], { timeout: 60000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /native\/bad\.c:3:\d+: error: .nope. undeclared/);
      assert.match(r.stderr, /pikku build: failed/);
    } finally { fs.rmSync(bad); }
  });

  test('an app without native code: nothing to build', () => {
    const r = runCli(['build', path.join(REPO_ROOT, 'apps', 'hello')]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /nothing to build/);
  });
});

describe('the three kinds, served', () => {
  let srv;
  let dir;
  before(async () => {
    dir = copyApp(NATIVE_APP);
    assert.equal(runCli(['build', dir], { timeout: 60000 }).code, 0);
    // the server runs elsewhere than the app's folder: require still finds its C module
    srv = await startServer({ app: dir, workers: 2 });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a native function over HTTP: the result its C code built', async () => {
    const r = await post(srv, '/native/chain', { seed: 'abc', rounds: 1 });
    assert.equal(r.status, 200);
    assert.deepEqual(r.json, { rounds: 1, hex: SHA_ABC });
    const lua = await post(srv, '/lua/chain', { seed: 'pikku', rounds: 300 });
    const c = await post(srv, '/native/chain', { seed: 'pikku', rounds: 300 });
    assert.deepEqual(c.json, lua.json, 'C and Lua agree');
  });

  test('its input is validated by its schema like a Lua function\'s (422 with the path)', async () => {
    const r = await post(srv, '/native/chain', { seed: 'abc', rounds: 0 });
    assert.equal(r.status, 422);
    assert.equal(r.json.name, 'UnprocessableContent');
    assert.deepEqual(r.json.payload.errors.map((e) => e.path), ['/rounds']);
    const extra = await post(srv, '/native/chain', { seed: 'abc', rounds: 1, more: true });
    assert.equal(extra.status, 422);
  });

  test('through RPC', async () => {
    const r = await post(srv, '/rpc/chainNative', { data: { seed: 'abc', rounds: 1 } });
    assert.equal(r.status, 200);
    assert.equal(r.json.hex, SHA_ABC);
    const bad = await post(srv, '/rpc/chainNative', { data: { seed: 'abc' } });
    assert.equal(bad.status, 422);
  });

  test('over a channel', async () => {
    const ws = await connect(srv, '/ws/native');
    const reply = await ws.call({ action: 'chain', seed: 'abc', rounds: 1 });
    assert.equal(reply.hex, SHA_ABC);
    const err = await ws.call({ action: 'greet', name: '!no' });
    assert.equal(err.errorName, 'UnprocessableContent');
    await ws.close();
  });

  test('session, arrays, errors with a payload, log lines with the call\'s errorId', async () => {
    const r = await httpRequest(srv.port, { path: '/native/greet/bob', agent: false, headers: { 'x-user': 'alice', 'x-request-id': 'greet-1' } });
    assert.deepEqual(JSON.parse(r.text), { greeting: 'hello, bob', user: 'alice', tags: [] });
    await srv.waitForLine((l) => l.includes('errorId=greet-1') && l.includes('hello, bob'));
    const t = await post(srv, '/native/greet', { name: 'x', tags: ['a', 'b'] });
    assert.deepEqual(t.json.tags, ['a', 'b']);
    const e = await post(srv, '/native/greet', { name: '!x' });
    assert.equal(e.status, 422);
    assert.equal(e.json.message, 'a name may not start with !');
    assert.deepEqual(e.json.payload, { field: 'name' });
  });

  test('FFI to the app\'s own library and to pikku.h; a Lua C module found by require', async () => {
    const v = await post(srv, '/vec/sum', { xs: [1, 5, 2.5] });
    assert.deepEqual({ sum: v.json.sum, max: v.json.max }, { sum: 8.5, max: 5 });
    assert.match(v.json.host, /^\d+\.\d+\.\d+/);
    const s = await post(srv, '/text/stats', { text: 'a b\nc' });
    assert.deepEqual(s.json, { words: 3, lines: 2, bytes: 5, module: '1' });
  });
});

describe('reloading native code', () => {
  test('a reload runs what was built since; the copy the old state loaded is unloaded after it', async () => {
    const dir = copyApp(NATIVE_APP);
    assert.equal(runCli(['build', dir], { timeout: 60000 }).code, 0);
    const srv = await startServer({ app: dir, workers: 1 });
    try {
      const [worker] = await srv.waitForWorkers(1);
      const greet = async () => JSON.parse((await httpRequest(srv.port, { path: '/native/greet/x', agent: false })).text).greeting;
      assert.equal(await greet(), 'hello, x');
      assert.equal(mappedCopies(worker, 'chain'), 1);
      const src = path.join(dir, 'native', 'chain.c');
      fs.writeFileSync(src, fs.readFileSync(src, 'utf8').replace('"hello, %.*s"', '"hi again, %.*s"'));
      assert.equal(runCli(['build', dir], { timeout: 60000 }).code, 0);
      const mark = srv.mark();
      srv.signal('SIGHUP');
      await srv.waitForLine(/reloaded app/, { from: mark });
      assert.equal(await greet(), 'hi again, x');
      await pollUntil(() => mappedCopies(worker, 'chain') === 1, { timeout: 3000, what: 'the old copy unloaded' });
    } finally {
      await srv.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('load errors', () => {
  test('a library that was not built: the load error says where it looked and what to run', () => withApp([
    'local pikku = require "pikku"',
    'pikku.wire_http { method = "get", route = "/x", func = pikku.native_func { lib = "nothere", symbol = "f", auth = false } }',
  ], async (dir) => {
    const r = runCli(['serve', dir, '--port', '0']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /app\.lua:2: pikku\.native_func: native library "nothere" not found .*build it with `pikku build/);
  }));

  test('a missing symbol, a missing field, a library built for another API major version', () => withApp([
    'local pikku = require "pikku"',
    'pikku.wire_http { method = "get", route = "/x", func = pikku.native_func { lib = "old", symbol = (os.getenv("SYM") or "f"), auth = false } }',
  ], async (dir) => {
    fs.mkdirSync(path.join(dir, 'native'));
    fs.writeFileSync(path.join(dir, 'native', 'old.c'), 'int f(void *call) { (void)call; return 0; }\n');
    assert.equal(runCli(['build', dir], { timeout: 60000 }).code, 0);
    let r = runCli(['routes', dir], { env: { SYM: 'g' } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /app\.lua:2: pikku\.native_func: native library "old" has no symbol "g"/);
    fs.writeFileSync(path.join(dir, 'native', 'old.c'),
      'const int pk_library_api_version = 9000;\nint f(void *call) { (void)call; return 0; }\n');
    assert.equal(runCli(['build', dir], { timeout: 60000 }).code, 0);
    r = runCli(['routes', dir]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /built against pikku\.h API 9\.0 and this host has 1\.\d+: rebuild it/);
    fs.writeFileSync(path.join(dir, 'app.lua'), 'require("pikku").native_func { lib = "old" }\n');
    r = runCli(['routes', dir]);
    assert.match(r.stderr, /app\.lua:1: pikku\.native_func: symbol must be a non-empty string/);
  }));
});

describe('pikku test and native code', () => {
  let dir;
  before(() => {
    dir = copyApp(NATIVE_APP);
    fs.rmSync(path.join(dir, '.pikku'), { recursive: true, force: true });   // pikku test builds what is stale
    fs.writeFileSync(path.join(dir, 'tests', 'zz_faults_test.lua'), [
      '-- luacheck: read globals describe it expect t',
      'describe("faults", function()',
      '  it("passes first", function() expect(1).to_equal(1) end)',
      '  it("crashes in native code", function() t.request { path = "/native/crash" } end)',
      '  it("never runs", function() end)',
      'end)',
    ].join('\n'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('--filter runs the matching tests only (and builds the native code first)', () => {
    const r = runCli(['test', dir, '--filter', 'native functions > chain'], { timeout: 60000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /ok {3}native functions > chain_sha256 answers/);
    assert.doesNotMatch(r.stdout, /a Lua C module/);
    assert.match(r.stdout, /1 passed, 0 failed, \d+ not run \(--filter native functions > chain\)/);
    const none = runCli(['test', dir, '--filter', 'no such test']);
    assert.equal(none.code, 1);
    assert.match(none.stdout, /no test matches --filter no such test/);
  });

  test('a segfault names the test that caused it, with the run\'s summary, exit 1',
    () => {
      const r = runCli(['test', dir, '--filter', '^faults'], { env: { NATIVE_DEMO_FAULTS: '1' }, timeout: 60000 });
      assert.equal(r.code, 1);
      assert.equal(r.signal, null);
      assert.match(r.stdout, /ok {3}faults > passes first\nCRASH faults > crashes in native code\n/);
      assert.match(r.stdout, /killed by SIGSEGV \(invalid memory access\) while running the test above/);
      assert.match(r.stdout, /1 passed, 1 failed \(1 crashed; the tests after it did not run\)/);
      assert.doesNotMatch(r.stdout, /never runs/);
    });
});

test('the binary exports the native-function API of pikku.h', () => {
  const r = runCli(['version']);
  assert.equal(r.code, 0);
  const header = fs.readFileSync(path.join(REPO_ROOT, 'core', 'include', 'pikku.h'), 'utf8');
  const names = [...header.matchAll(/^[a-z][\w\s*]*?\b(pk_[a-z_]+)\(/gm)].map((m) => m[1]);
  assert.ok(names.length > 20, `${names.length} functions in pikku.h`);
  const nm = fs.readFileSync(PIKKU_BIN);
  for (const n of names) assert.ok(nm.includes(Buffer.from(n)), `${n} is in the binary`);
  assert.ok(os.platform() === 'linux');
});

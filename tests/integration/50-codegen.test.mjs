// pikku codegen / routes: openapi.json through a real validator, client.ts through tsc and Node, client.lua
// through plain LuaJIT and pikku test, byte-identical output, --check against an older output.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, runCli, withApp, REPO_ROOT } from './lib/server.mjs';
import { generate, tsc, bundle, NODE_MODULES } from './lib/codegen.mjs';

const TODOS = path.join(REPO_ROOT, 'apps/todos');
const CODEGEN_DIR = path.join(REPO_ROOT, 'tests/integration/codegen');
const FIXTURES = path.join(REPO_ROOT, 'tests/integration/fixtures/codegen-check');
const haveLuajit = spawnSync('luajit', ['-v']).status === 0;

describe('pikku codegen apps/todos', () => {
  let out, srv, dbDir;
  before(async () => {
    out = generate(TODOS);
    dbDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-codegen-db-'));
    srv = await startServer({ app: TODOS, workers: 2, env: { PIKKU_TODOS_DB: path.join(dbDir, 'todos.db') } });
  });
  after(async () => {
    await srv?.stop();
    fs.rmSync(dbDir, { recursive: true, force: true });
    fs.rmSync(out, { recursive: true, force: true });
  });

  test('writes the three files, byte-identical when run twice', () => {
    const again = generate(TODOS);
    try {
      for (const f of ['openapi.json', 'client.ts', 'client.lua']) {
        const a = fs.readFileSync(path.join(out, f));
        assert.ok(a.length > 1000, `${f} has content`);
        assert.ok(a.equals(fs.readFileSync(path.join(again, f))), `${f} is byte-identical`);
      }
    } finally {
      fs.rmSync(again, { recursive: true, force: true });
    }
  });

  test('openapi.json passes @apidevtools/swagger-parser and describes routes, RPC, errors and auth', async () => {
    const { default: SwaggerParser } = await import(path.join(NODE_MODULES, '@apidevtools/swagger-parser/lib/index.js'));
    const file = path.join(out, 'openapi.json');
    const raw = JSON.parse(fs.readFileSync(file, 'utf8'));
    await SwaggerParser.validate(structuredClone(raw));
    assert.equal(raw.openapi, '3.1.0');
    const get = raw.paths['/todos/{id}'].get;
    assert.equal(get.operationId, 'getTodo');
    assert.deepEqual(get.parameters.map((p) => [p.name, p.in, p.required]), [['id', 'path', true]]);
    assert.equal(get.responses['200'].content['application/json'].schema.properties.todo.anyOf[0].$ref,
      '#/components/schemas/Todo');
    const list = raw.paths['/todos'].get;
    assert.deepEqual(list.parameters.map((p) => p.name).sort(), ['completed', 'priority', 'tag', 'userId']);
    assert.equal(list.parameters.find((p) => p.name === 'completed').schema.type, 'boolean');
    const create = raw.paths['/todos'].post;
    assert.deepEqual(create.requestBody.content['application/json'].schema.required, ['title']);
    assert.ok(create.responses['422'].content['application/json'].schema.allOf[0].$ref.endsWith('/PikkuValidationError'));
    assert.deepEqual(Object.keys(create.responses).sort(), ['200', '400', '403', '404', '415', '422', '500']);
    assert.deepEqual(raw.paths['/login'].post.responses['401'].content['application/json'].schema.allOf[1]
      .properties.name.enum, ['Unauthorized']);
    assert.equal(raw.paths['/todos/{id}'].put.requestBody.content['application/json'].schema.properties.id, undefined,
      'the path param is not in the body');
    const me = raw.paths['/me'].get;
    assert.deepEqual(me.security, [{ bearerAuth: [] }, { cookieAuth: [] }]);
    assert.deepEqual(me.responses['401'].content['application/json'].schema.allOf[1].properties.name.enum,
      ['InvalidSession', 'MissingSession']);
    assert.deepEqual(raw.paths['/admin/stats'].get['x-pikku-permissions'], ['admin']);
    assert.ok(raw.paths['/admin/stats'].get.responses['403']);
    assert.equal(raw.paths['/rpc/greet'].post.operationId, 'greet');
    assert.deepEqual(raw.paths['/rpc/greet'].post.requestBody.content['application/json'].schema.required, ['data']);
    assert.equal(raw.components.securitySchemes.cookieAuth.name, 'pikku_session');
    assert.equal(raw.components.securitySchemes.bearerAuth.scheme, 'bearer');
    assert.deepEqual(raw.paths['/todos'].get.tags, ['todos']);
    assert.ok(raw.tags.some((t) => t.name === 'todos'));
    assert.equal(raw.paths['/todos'].get.summary, "List a user's todos, newest first");
    assert.deepEqual(Object.keys(raw['x-pikku-channels']['todos-live'].routingKeys.action).sort(),
      ['auth', 'complete', 'create', 'list', 'subscribe', 'unsubscribe']);
  });

  test('pikku routes: one aligned row per wiring', () => {
    const r = runCli(['routes', TODOS]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0], /^TRANSPORT\s+ROUTE\s+FUNCTION\s+AUTH\s+PERMISSIONS\s+INPUT\s+OUTPUT$/);
    const cols = ['ROUTE', 'FUNCTION', 'AUTH', 'PERMISSIONS', 'INPUT', 'OUTPUT'].map((c) => lines[0].indexOf(c));
    for (const l of lines.slice(2)) {
      for (const c of cols) assert.equal(l[c - 1], ' ', `column at ${c} aligned in ${JSON.stringify(l)}`);
    }
    const row = (s) => lines.find((l) => l.includes(s))?.split(/\s{2,}/);
    assert.deepEqual(row('GET /admin/stats'), ['http', 'GET /admin/stats', 'adminStats', 'session', 'admin', '-', 'AdminStatsOutput']);
    assert.deepEqual(row('POST /rpc/greet'), ['rpc', 'POST /rpc/greet', 'greet', 'public', '-', 'GreetInput', 'GreetOutput']);
    assert.deepEqual(row('todos-live action=subscribe'),
      ['channel', 'todos-live action=subscribe', 'liveSubscribe', 'session', '-', 'TodosLiveSubscribeInput', '-']);
    assert.ok(row('GET /todos/:id'));
    assert.deepEqual(row('todo-reminders'), ['queue', 'todo-reminders', 'sendReminder', 'public', '-', '-', '-']);
    assert.deepEqual(row('daily-summary'), ['schedule', 'daily-summary (0 9 * * *)', 'dailySummary', 'public', '-', '-', '-']);
    assert.ok(row('weekly-cleanup (0 2 * * 0)'));
    assert.equal(lines.length, 2 + 26);
  });

  test('client.ts: tsc --strict accepts the program and rejects every planted type error', () => {
    fs.copyFileSync(path.join(CODEGEN_DIR, 'program.ts'), path.join(out, 'program.ts'));
    fs.copyFileSync(path.join(CODEGEN_DIR, 'bad.ts'), path.join(out, 'bad.ts'));
    const ok = tsc(out, ['program.ts']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const bad = tsc(out, ['bad.ts']);
    assert.notEqual(bad.code, 0, 'bad.ts must not compile');
    const expected = fs.readFileSync(path.join(out, 'bad.ts'), 'utf8').split('\n')
      .map((l, i) => (l.includes('// EXPECT-ERROR') ? i + 1 : 0)).filter(Boolean);
    const got = [...new Set([...bad.stdout.matchAll(/^bad\.ts\((\d+),\d+\): error TS\d+/gm)].map((m) => Number(m[1])))];
    assert.deepEqual(got, expected, bad.stdout);
  });

  test('client.ts: the program bundled with esbuild runs with Node against the live app', () => {
    fs.copyFileSync(path.join(CODEGEN_DIR, 'program.ts'), path.join(out, 'program.ts'));
    const js = bundle(out, 'program.ts', 'program.mjs', { format: 'esm', platform: 'neutral' });
    const r = spawnSync(process.execPath, [path.join(CODEGEN_DIR, 'run-node.mjs'), js, srv.base],
      { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const step of ['create', 'get', 'list', 'update', 'complete', 'rpc', 'validation error', 'missing session', 'login',
      'cookie session', 'bearer session', 'forbidden', 'channel auth', 'channel subscribe', 'channel event',
      'channel replies', 'channel error frame', 'delete']) {
      assert.ok(r.stdout.includes(`ok ${step}\n`), `step ${step}: ${r.stdout}`);
    }
    assert.match(r.stdout, /ts client scenario passed/);
  });

  test('client.ts channel: after the connection drops it reconnects, authenticates again and keeps its subscriptions', async () => {
    fs.copyFileSync(path.join(CODEGEN_DIR, 'reconnect.ts'), path.join(out, 'reconnect.ts'));
    const js = bundle(out, 'reconnect.ts', 'reconnect.mjs', { format: 'esm', platform: 'neutral' });
    const { run } = await import(js);
    const { default: WebSocket } = await import(path.join(NODE_MODULES, 'ws/wrapper.mjs'));
    const solo = await startServer({ app: TODOS, workers: 1, env: { PIKKU_TODOS_DB: path.join(dbDir, 'solo.db') } });
    const steps = [];
    try {
      const drop = async () => {   // the worker holding the connection dies; the master starts another
        const [pid] = solo.workerPids();
        process.kill(pid, 'SIGKILL');
      };
      await run(solo.base, WebSocket, drop, (s) => steps.push(s));
    } finally {
      await solo.stop();
    }
    assert.deepEqual(steps, ['subscribed', 'reconnected', 'event after reconnect']);
  });

  test('client.lua from plain LuaJIT (curl + FFI WebSocket) runs the same scenario', { skip: !haveLuajit && 'luajit not installed' }, () => {
    const r = spawnSync('luajit', [path.join(CODEGEN_DIR, 'scenario.lua'), out, srv.base], { encoding: 'utf8', timeout: 60000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    for (const step of ['create', 'get', 'list', 'update', 'complete', 'rpc', 'validation error', 'missing session', 'login',
      'cookie session', 'bearer session', 'forbidden', 'channel auth', 'channel subscribe', 'channel event',
      'channel reply', 'channel error frame', 'delete']) {
      assert.ok(r.stdout.includes(`ok ${step}\n`), `step ${step}: ${r.stdout}`);
    }
  });

  test('client.lua inside the host: pikku test drives the app in-process through it', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-codegen-app-'));
    try {
      fs.cpSync(TODOS, dir, { recursive: true, filter: (s) => !/todos\.db/.test(s) });
      fs.rmSync(path.join(dir, 'tests'), { recursive: true, force: true });
      fs.mkdirSync(path.join(dir, 'tests'));
      fs.copyFileSync(path.join(out, 'client.lua'), path.join(dir, 'todos_client.lua'));
      fs.copyFileSync(path.join(CODEGEN_DIR, 'inhost_test.lua'), path.join(dir, 'tests', 'client_test.lua'));
      const r = runCli(['test', dir], { timeout: 60000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /\b[1-9]\d* passed, 0 failed/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--check against the same app finds no breaking change (exit 0)', () => {
    const r = runCli(['codegen', TODOS, '--check', out], { timeout: 20000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /no breaking change/);
  });
});

describe('pikku codegen --check', () => {
  test('reports exactly the breaking changes planted in an older output, exit 1', () => {
    const r = runCli(['codegen', path.join(FIXTURES, 'v2'), '--check', path.join(FIXTURES, 'old-output')], { timeout: 20000 });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const lines = r.stdout.trimEnd().split('\n').slice(1).map((l) => l.trim());
    assert.deepEqual(lines, [
      'DELETE /items/{id} (deleteItem): removed route',
      'GET /items (listItems): narrowed input field "kind": values a|b|c -> a|b',
      'GET /items (listItems): narrowed input field "limit": number -> integer',
      'GET /items (listItems): output field "entries[].size" is no longer always present',
      'GET /items/{id} (getItem): output field "item.size" is no longer always present',
      'GET /stats (stats): removed output field "oldest"',
      'POST /items (createItem): newly required input field "name"',
      'POST /items (createItem): output field "item.size" is no longer always present',
      'POST /rpc/ping (ping): removed RPC function',
      'channel "live" action=get: output field "item.size" is no longer always present',
      'channel "live" action=remove: removed',
    ]);
    assert.match(r.stdout, /^pikku codegen --check: 11 breaking changes/);
  });

  test('the older output is what v1 generates (the fixture is not stale)', () => {
    const dir = generate(path.join(FIXTURES, 'v1'));
    try {
      assert.equal(fs.readFileSync(path.join(dir, 'openapi.json'), 'utf8'),
        fs.readFileSync(path.join(FIXTURES, 'old-output/openapi.json'), 'utf8'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a missing OLD_DIR is a clear error', () => {
    const r = runCli(['codegen', path.join(FIXTURES, 'v2'), '--check', '/nonexistent/dir']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--check: no openapi\.json in "\/nonexistent\/dir"/);
  });
});

describe('pikku codegen: other schema and wiring shapes', () => {
  test('local $defs, recursion, tuples, maps, nullable, wildcards, a function wired twice: valid and compiling', async () => {
    const dir = generate(path.join(REPO_ROOT, 'tests/integration/fixtures/codegen-edge'));
    try {
      const { default: SwaggerParser } = await import(path.join(NODE_MODULES, '@apidevtools/swagger-parser/lib/index.js'));
      const raw = JSON.parse(fs.readFileSync(path.join(dir, 'openapi.json'), 'utf8'));
      await SwaggerParser.validate(structuredClone(raw));
      assert.deepEqual(Object.keys(raw.paths).sort(), ['/echo', '/files/{path}', '/files2/{path}', '/g/x/{id}', '/rpc/echo']);
      assert.deepEqual(['/echo', '/files/{path}', '/files2/{path}', '/g/x/{id}', '/rpc/echo'].map((p) =>
        Object.values(raw.paths[p])[0].operationId), ['echo', 'tree', 'tree_postFiles2ByPath', 'getGXById', 'rpc_echo']);
      assert.equal(raw.paths['/files/{path}'].get.parameters.find((p) => p.name === 'at').schema.$ref,
        '#/components/schemas/Pt');
      assert.deepEqual(raw.paths['/echo'].post.security, [{ apiKeyHeader: [] }, { apiKeyQuery: [] }]);
      assert.deepEqual(raw.paths['/g/x/{id}'].get.tags, ['grp']);
      const ts = tsc(dir, ['client.ts']);
      assert.equal(ts.code, 0, ts.stdout + ts.stderr);
      const src = fs.readFileSync(path.join(dir, 'client.ts'), 'utf8');
      for (const line of ['  children?: Array<Node>;', '  pair?: [string, number];', '  bag?: Record<string, number>;',
        '  maybe?: string | null;', '  "odd-key"?: "x";', '  at?: Pt;']) {
        assert.ok(src.includes(line + '\n'), `client.ts has ${line}`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('pikku codegen errors', () => {
  test('a schema TypeScript cannot express is an error naming the function; nothing is written', async () => {
    await withApp([
      'local pikku = require "pikku"',
      'local f = pikku.func { name = "oddOne", auth = false,',
      '  input = { type = "object", properties = { v = { ["not"] = { type = "string" } } } },',
      '  func = function() return {} end }',
      'pikku.wire_http { method = "post", route = "/odd", func = f }',
    ], (dir) => {
      const outDir = path.join(dir, 'out');
      const r = runCli(['codegen', dir, '--out', outDir]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /function "oddOne" input: schema #\/properties\/v: not: a negation cannot be expressed in TypeScript/);
      assert.equal(fs.existsSync(outDir), false);
    });
  });

  test('an unknown declared error name is an error naming the function', async () => {
    await withApp([
      'local pikku = require "pikku"',
      'local f = pikku.func { name = "f", auth = false, errors = { "NoSuchError" }, func = function() return {} end }',
      'pikku.wire_http { method = "get", route = "/f", func = f }',
    ], (dir) => {
      const r = runCli(['codegen', dir, '--out', path.join(dir, 'out')]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, /function "f" \(.*app\.lua:2\): errors: unknown error name NoSuchError/);
    });
  });

  test('codegen needs --out or --check; routes and codegen load errors say so', () => {
    assert.match(runCli(['codegen', TODOS]).stderr, /codegen needs --out DIR .* or --check OLD_DIR/);
    assert.equal(runCli(['codegen', TODOS]).code, 2);
    const r = runCli(['routes', '/nonexistent']);
    assert.equal(r.code, 2);
  });
});

// The request path normalised before routing (RFC 3986 section 5.2.4): no route param ever holds ".." as a segment, plain or encoded.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, REPO_ROOT, rawRequest, withApp, runCli } from './lib/server.mjs';

const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/static');

describe('paths before routing', () => {
  let srv;
  before(async () => { srv = await startServer({ app: FIXTURE }); });
  after(() => srv?.stop());

  async function raw(target) {
    const r = await rawRequest(srv.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    return r.responses[0];
  }

  const cases = [
    // [target, status, rest param]
    ['/echo-path/a/b', 200, 'a/b'],
    ['/echo-path/a/./b', 200, 'a/b'],
    ['/echo-path/a/x/../b', 200, 'a/b'],
    ['/echo-path/a/%2e/b', 200, 'a/b'],
    ['/echo-path/a/x/%2E%2E/b', 200, 'a/b'],
    ['/echo-path/a%2Fb', 200, 'a/b'],                 // an encoded slash is data...
    ['/echo-path/a%2F.b', 200, 'a/.b'],               // ...and a name starting with a dot too
    ['/echo-path/...', 200, '...'],
    ['/echo-path/a/b/..', 200, 'a'],                  // "/echo-path/a/": one trailing slash ignored
    ['/x/../echo-path/c', 200, 'c'],                  // a climb that stays inside
    ['/echo-path/../echo-path/d?q=../x', 200, 'd'],   // the query is not a path
    ['/echo-path/..%2fsecret', 400],                  // ...but not when it hides a dot segment
    ['/echo-path/a%2f..%2f..%2fsecret', 400],
    ['/echo-path/%2e%2e%5csecret', 400],
    ['/echo-path/x%5C..', 400],
    ['/..', 400],
    ['/echo-path/../../x', 400],
    ['/%2e%2e/echo-path/x', 400],
  ];
  for (const [target, status, rest] of cases) {
    test(`GET ${target} -> ${status}${rest !== undefined ? ` rest=${rest}` : ''}`, async () => {
      const r = await raw(target);
      assert.equal(r.status, status, r.text);
      if (rest !== undefined) assert.deepEqual(r.json(), { rest });
      if (status === 400) {
        const body = r.json();
        assert.equal(body.name, 'BadRequest');
        assert.match(body.message, /dot segment|climbs above the root/);
      }
    });
  }

  test('the access log shows the path as sent', async () => {
    const mark = srv.mark();
    await raw('/echo-path/a/../b');
    await srv.waitForLine((l) => l.includes('GET /echo-path/a/../b 200'), { from: mark });
  });
});

describe('paths in-process (pikku test) follow the same rule', () => {
  test('t.request normalises and refuses as the core does', async () => {
    await withApp([
      'local pikku = require "pikku"',
      'pikku.wire_http { method = "get", route = "/f/*rest", func = function(_, d) return { rest = d.rest } end }',
    ], async (dir) => {
      const fs = await import('node:fs');
      fs.mkdirSync(path.join(dir, 'tests'));
      fs.writeFileSync(path.join(dir, 'tests', 'paths_test.lua'), [
        '-- luacheck: read globals describe it expect t',
        'describe("paths", function()',
        '  it("normalised", function()',
        '    local r = t.request { path = "/f/a/x/../b" }',
        '    expect(r.status).to_equal(200)',
        '    expect(r.json.rest).to_equal("a/b")',
        '    expect(t.request({ path = "/f/..%2fx" }).status).to_equal(400)',
        '    expect(t.request({ path = "/../x" }).status).to_equal(400)',
        '  end)',
        'end)',
      ].join('\n'));
      const r = runCli(['test', dir], { timeout: 10000 });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /1 passed, 0 failed/);
    });
  });
});

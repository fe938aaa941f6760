// Native access: app Lua code calls the host's exported C API (pikku.h) through LuaJIT FFI.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startServer, PIKKU_BIN } from './lib/server.mjs';

describe('exported C API', () => {
  let srv;
  before(async () => { srv = await startServer({ workers: 1 }); });
  after(() => srv?.stop());

  test('the binary exports pk_version, pk_now_ms and pk_log', () => {
    const syms = execFileSync('nm', ['-D', '--defined-only', PIKKU_BIN], { encoding: 'utf8' });
    for (const s of ['pk_version', 'pk_now_ms', 'pk_log', 'luaopen_cjson']) {
      assert.match(syms, new RegExp(`\\b${s}\\b`), `${s} is exported`);
    }
  });

  test('GET /native answers with values read through ffi.C', async () => {
    const r = await srv.fetch('/native');
    assert.equal(r.status, 200);
    const body = await r.json();
    const version = execFileSync(PIKKU_BIN, ['version'], { encoding: 'utf8' }).trim().split(' ')[1];
    assert.equal(body.version, version);
    assert.equal(typeof body.now_ms, 'number');
    assert.ok(body.now_ms > 0);
  });
});

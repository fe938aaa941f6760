// The loop guard at its threshold: a call just over PIKKU_BLOCK_WARN_MS is reported with its exact time, one under it is not.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startInlineApp } from './lib/server.mjs';

// The guard reads the coarse clock (the kernel's tick, a few ms) first and the exact one only when
// the call may be over the threshold: these calls sit a few ms on either side of it.
const APP = [
  'local pikku = require "pikku"',
  'local clock = require("pikku.host").now_ms   -- the monotonic clock (ms) the guard reads',
  'pikku.wire_http { method = "get", route = "/spin", auth = false, func = function(_, data)',
  '  local ms = tonumber(data.ms) or 0',
  '  local stop = clock() + ms   -- wall time: a spin the scheduler interrupts still ends on time',
  '  local n = 0',
  '  while clock() < stop do n = n + 1 end',
  '  return { spun = ms, n = n }',
  'end }',
];

describe('the loop guard at its threshold (PIKKU_BLOCK_WARN_MS=40)', () => {
  let srv;
  before(async () => { srv = await startInlineApp(APP, { workers: 1, env: { PIKKU_BLOCK_WARN_MS: '40' } }); });
  after(() => srv?.stop());

  test('calls a few ms over are reported with their time; calls under are not', async () => {
    for (const ms of [44, 48, 55]) {
      const from = srv.mark();
      const res = await srv.fetch(`/spin?ms=${ms}`);
      assert.equal(res.status, 200);
      await res.text();
      const warn = await srv.waitForLine(/warn: blocking: GET \/spin .* held the worker's loop for \d+\.\d ms/, { from });
      const held = Number(/for (\d+\.\d) ms/.exec(warn)[1]);
      assert.ok(held >= ms && held < ms + 100, `spun ${ms} ms, reported ${held}: ${warn}`);
    }
    const from = srv.mark();
    for (const ms of [0, 5, 15, 20]) {
      const res = await srv.fetch(`/spin?ms=${ms}`);
      assert.equal(res.status, 200);
      await res.text();
    }
    await srv.fetch('/spin?ms=0').then((r) => r.text());
    assert.deepEqual(srv.findLines(/blocking: GET \/spin/, from), [], 'no call under the threshold is reported');
  });
});

// Real clients besides Node's ws: Python's websockets (Debian) and the browser's WebSocket and EventSource (Chromium).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { startServer, REPO_ROOT, HOST } from './lib/server.mjs';
import { launch, haveChromium } from './lib/browser.mjs';

const APP = path.join(REPO_ROOT, 'tests', 'integration', 'fixtures', 'ws-echo');
const PY_CLIENT = path.join(REPO_ROOT, 'tests', 'integration', 'clients', 'ws_client.py');

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

// The todos app in a real browser: the live page at / (the path it shares with its WebSocket channel
// todos-live) and its EventSource (/todos/stream).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';
import { launch, haveChromium } from './lib/browser.mjs';

describe('todos in headless Chromium', { skip: !haveChromium() && 'chromium not installed' }, () => {
  let srv, dir;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-browser-'));
    srv = await startServer({ app: path.join(REPO_ROOT, 'apps/todos'), workers: 2, env: { PIKKU_TODOS_DB: path.join(dir, 'todos.db') } });
  });
  after(() => { srv?.stop(); fs.rmSync(dir, { recursive: true, force: true }); });

  test('a todo created over HTTP shows up on the page through both the channel and the event stream', async () => {
    const browser = await launch();
    try {
      await browser.goto(`${srv.base}/`);   // the address README gives; the page's socket opens on the same path
      await browser.waitFor("document.getElementById('status').textContent", (v) => v === 'logged in as user1');
      // the page subscribes right after logging in: give its three subscribe messages a moment
      await new Promise((r) => setTimeout(r, 300));
      const r = await fetch(`${srv.base}/todos`, { method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ userId: 'user1', title: 'from the test' }) });
      assert.equal(r.status, 200);
      const lists = await browser.waitFor(
        "JSON.stringify([...document.querySelectorAll('#ws li, #sse li')].map((li) => li.parentElement.id + ' ' + li.textContent))",
        (v) => typeof v === 'string' && v.includes('ws todo-created: from the test') && v.includes('sse todo-created: from the test'));
      assert.ok(JSON.parse(lists).length >= 2);
    } finally {
      await browser.close();
    }
  });
});

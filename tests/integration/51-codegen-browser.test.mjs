// The generated client.ts in headless Chromium (a page using its esbuild browser bundle against the live
// apps/todos, HTTP and channel) and the API page (Swagger UI served by the host), with a screenshot.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, REPO_ROOT, PIKKU_BIN } from './lib/server.mjs';
import { launch, haveChromium } from './lib/browser.mjs';
import { generate, bundle } from './lib/codegen.mjs';

const TODOS = path.join(REPO_ROOT, 'apps/todos');
const ARTIFACTS = path.join(path.dirname(PIKKU_BIN), 'test-artifacts');

// The page: the program's browser bundle, run against the page's own origin; each step a list item.
const page = (js) => `<!doctype html><html><head><meta charset="utf-8"><title>client.ts in the browser</title></head>
<body><h1 id="status">running</h1><ul id="steps"></ul>
<script>${js.replace(/<\/script/gi, '<\\/script')}</script>
<script>
  PikkuTest.run(location.origin, undefined, (step) => {
    const li = document.createElement('li'); li.textContent = 'ok ' + step; document.getElementById('steps').append(li);
  }).then(() => { document.getElementById('status').textContent = 'passed'; },
          (e) => { document.getElementById('status').textContent = 'failed: ' + (e && e.stack || e); });
</script></body></html>`;

describe('generated client and API page in headless Chromium', { skip: !haveChromium() && 'chromium not installed' }, () => {
  let srv, app, out, browser;
  before(async () => {
    out = generate(TODOS);
    fs.copyFileSync(path.join(REPO_ROOT, 'tests/integration/codegen/program.ts'), path.join(out, 'program.ts'));
    const js = fs.readFileSync(bundle(out, 'program.ts', 'program.js', { format: 'iife', platform: 'browser',
      globalName: 'PikkuTest' }), 'utf8');
    // a copy of apps/todos whose /live page is the test page (same origin: cookies, CSRF and channel as for a real page)
    app = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-codegen-browser-'));
    fs.cpSync(TODOS, app, { recursive: true, filter: (s) => !/todos\.db/.test(s) });
    fs.writeFileSync(path.join(app, 'public/live.html'), page(js));
    srv = await startServer({ app, workers: 2, args: ['--api-docs', '/docs'], env: { PIKKU_TODOS_DB: path.join(app, 'test.db') } });
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await srv?.stop();
    for (const d of [app, out]) if (d) fs.rmSync(d, { recursive: true, force: true });
  });

  test('a page using the browser bundle of client.ts: CRUD, RPC, login, a 422, a channel event', async () => {
    await browser.goto(`${srv.base}/live`);
    const status = await browser.waitFor("document.getElementById('status').textContent",
      (v) => v === 'passed' || (typeof v === 'string' && v.startsWith('failed')), { timeout: 30000 });
    assert.equal(status, 'passed');
    const steps = await browser.evaluate("[...document.querySelectorAll('#steps li')].map((li) => li.textContent)");
    assert.deepEqual(steps, ['create', 'get', 'list', 'update', 'complete', 'rpc', 'validation error', 'missing session',
      'login', 'cookie session', 'bearer session', 'forbidden', 'channel auth', 'channel subscribe', 'channel event',
      'channel replies', 'channel error frame', 'delete'].map((s) => 'ok ' + s));
  });

  test('the API page renders every operation (screenshot in build/test-artifacts)', async () => {
    await browser.goto(`${srv.base}/docs`);
    const n = await browser.waitFor("document.querySelectorAll('.opblock').length", (v) => v >= 15, { timeout: 30000 });
    assert.equal(n, 15);
    const text = await browser.evaluate('document.body.innerText');
    for (const s of ['/todos/{id}', '/rpc/greet', '/admin/stats', 'Create a todo', 'Log in with username and password',
      'todos']) {
      assert.ok(text.includes(s), `the page shows ${s}`);
    }
    const file = await browser.screenshot(path.join(ARTIFACTS, 'api-docs.png'));
    assert.ok(fs.statSync(file).size > 10000, 'a real screenshot');
  });
});

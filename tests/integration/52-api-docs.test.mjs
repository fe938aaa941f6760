// GET /openapi.json and the API page served by the app: off in production, on under --dev or --api-docs PATH.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, withApp } from './lib/server.mjs';
import { generate } from './lib/codegen.mjs';

const APP = [
  'local pikku = require "pikku"',
  'local hi = pikku.func { name = "hi", title = "Say hi", auth = false, output = { msg = "string" },',
  '  func = function() return { msg = "hi" } end }',
  'pikku.wire_http { method = "get", route = "/hi", func = hi }',
];

async function withServer(lines, args, fn, env = {}) {
  await withApp(lines, async (dir) => {
    const srv = await startServer({ app: dir, args, env });
    try { await fn(srv, dir); } finally { await srv.stop(); }
  });
}

describe('API docs served by the app', () => {
  test('off in production: no /openapi.json, no page', async () => {
    await withServer(APP, [], async (srv) => {
      assert.equal((await srv.fetch('/openapi.json')).status, 404);
      assert.equal((await srv.fetch('/docs')).status, 404);
    });
  });

  test('--dev: /openapi.json is what codegen writes, the page at /docs loads its files from the host', async () => {
    await withServer(APP, ['--dev'], async (srv, dir) => {
      const r = await srv.fetch('/openapi.json');
      assert.equal(r.status, 200);
      assert.match(r.headers.get('content-type'), /^application\/json/);
      const out = generate(dir);
      try {
        assert.equal(await r.text(), fs.readFileSync(path.join(out, 'openapi.json'), 'utf8'));
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
      const page = await srv.fetch('/docs');
      assert.equal(page.status, 200);
      const html = await page.text();
      assert.match(html, /<script src="\/docs\/assets\/swagger-ui-bundle\.js"><\/script>/);
      assert.doesNotMatch(html, /https?:\/\//, 'no CDN: everything from the host');
      const js = await srv.fetch('/docs/assets/swagger-ui-bundle.js');
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type'), /javascript/);
      assert.ok((await js.arrayBuffer()).byteLength > 100000);
      assert.match(await (await srv.fetch('/docs/assets/init.js')).text(), /SwaggerUIBundle\(\{ url: "\/openapi\.json"/);
      assert.equal((await srv.fetch('/docs/assets/package.json')).status, 404, 'only the page\'s own files');
      // a dot segment behind encoded slashes is refused before routing (docs/server.md, Paths)
      assert.equal((await srv.fetch('/docs/assets/..%2F..%2Fpackage.json')).status, 400);
    });
  });

  test('--api-docs PATH moves the page; --api-docs off turns it off under --dev', async () => {
    await withServer(APP, ['--api-docs', '/reference'], async (srv) => {
      assert.equal((await srv.fetch('/reference')).status, 200);
      assert.equal((await srv.fetch('/reference/assets/swagger-ui.css')).status, 200);
      assert.equal((await srv.fetch('/openapi.json')).status, 200);
      assert.equal((await srv.fetch('/docs')).status, 404);
    });
    await withServer(APP, ['--dev', '--api-docs', 'off'], async (srv) => {
      assert.equal((await srv.fetch('/openapi.json')).status, 404);
      assert.equal((await srv.fetch('/docs')).status, 404);
    });
  });

  test('without the installed files the page says how to install them', async () => {
    await withServer(APP, ['--dev'], async (srv) => {
      const r = await srv.fetch('/docs');
      assert.equal(r.status, 503);
      const text = await r.text();
      assert.match(text, /npm ci --ignore-scripts/);
      assert.match(text, /\/nonexistent\/swagger-ui/);
      assert.equal((await srv.fetch('/openapi.json')).status, 200, 'the description itself is still served');
    }, { PIKKU_DOCS_UI_DIR: '/nonexistent/swagger-ui' });
  });

  test("the app's own /openapi.json wins, with a warning", async () => {
    await withServer([...APP, 'pikku.wire_http { method = "get", route = "/openapi.json", func = function() return { mine = true } end }'],
      ['--dev'], async (srv) => {
        assert.deepEqual(await (await srv.fetch('/openapi.json')).json(), { mine: true });
        await srv.waitForLine(/API docs: GET \/openapi\.json is not served: the app wires it itself/);
      });
  });
});

// A real browser's FormData upload (headless Chromium) parsed by the core: fields, a file, UTF-8 text, nothing left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startServer, REPO_ROOT } from './lib/server.mjs';
import { launch, haveChromium } from './lib/browser.mjs';

test('FormData from a page: its multipart body is parsed as it arrives', { skip: !haveChromium() && 'chromium missing' }, async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-uploads-browser-'));
  const srv = await startServer({ app: path.join(REPO_ROOT, 'tests/integration/fixtures/uploads'), env: { TMPDIR: tmp } });
  const browser = await launch();
  try {
    await browser.goto(`${srv.base}/page/`);
    await browser.waitFor('typeof window.upload', (v) => v === 'function');
    await browser.evaluate("window.upload(3 * 1024 * 1024 + 5, 'données.bin')");
    const r = await browser.waitFor('window.result', (v) => v && v.status, { timeout: 20000 });
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal(r.body.title, 'from the page');
    assert.equal(r.body.note, 'héllo ✓');
    assert.equal(r.body.doc.filename, 'données.bin');
    assert.equal(r.body.doc.content_type, 'application/x-test');
    assert.equal(r.body.doc.size, 3 * 1024 * 1024 + 5);
    assert.equal(r.body.doc.read, 3 * 1024 * 1024 + 5);
    assert.deepEqual(fs.readdirSync(tmp), []);
  } finally {
    await browser.close();
    await srv.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});

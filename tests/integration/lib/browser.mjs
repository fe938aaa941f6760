// Headless Chromium (Debian's) driven over the DevTools protocol with the ws client: open a page, evaluate.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import WebSocket from 'ws';

export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
export const haveChromium = () => fs.existsSync(CHROMIUM);

export async function launch({ timeout = 20000 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-chromium-'));
  const proc = spawn(CHROMIUM, ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    `--user-data-dir=${dir}`, '--remote-debugging-port=0', 'about:blank'], { stdio: ['ignore', 'ignore', 'pipe'] });
  const endpoint = await new Promise((resolve, reject) => {
    let err = '';
    const t = setTimeout(() => reject(new Error('chromium did not start: ' + err.slice(-500))), timeout);
    proc.stderr.on('data', (d) => {
      err += d;
      const m = err.match(/DevTools listening on (ws:\/\/\S+)/);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    proc.once('exit', (code) => { clearTimeout(t); reject(new Error(`chromium exited ${code}: ${err.slice(-500)}`)); });
  });
  const port = new URL(endpoint).port;
  const list = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const page = list.find((t) => t.type === 'page');
  const ws = new WebSocket(page.webSocketDebuggerUrl, { perMessageDeflate: false });
  await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
  let seq = 0;
  const pending = new Map();
  ws.on('message', (m) => {
    const msg = JSON.parse(m);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  });
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++seq;
    pending.set(id, (msg) => (msg.error ? reject(new Error(JSON.stringify(msg.error))) : resolve(msg.result)));
    ws.send(JSON.stringify({ id, method, params }));
  });
  return {
    goto: (url) => send('Page.navigate', { url }),
    async evaluate(expression) {
      const r = await send('Runtime.evaluate', { expression, returnByValue: true });
      return r.result.value;
    },
    /** Polls expression until pred(value) holds; returns the value. */
    async waitFor(expression, pred, { timeout: ms = 10000 } = {}) {
      const end = Date.now() + ms;
      let v;
      for (;;) {
        v = await this.evaluate(expression).catch(() => undefined);
        if (pred(v)) return v;
        if (Date.now() > end) throw new Error(`page never satisfied the check; last value: ${JSON.stringify(v)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    /** Saves a PNG screenshot of the page (the whole page when full) to file. */
    async screenshot(file, { full = true } = {}) {
      let clip;
      if (full) {
        const m = await send('Page.getLayoutMetrics');
        const size = m.cssContentSize || m.contentSize;
        clip = { x: 0, y: 0, width: Math.ceil(size.width), height: Math.min(Math.ceil(size.height), 8000), scale: 1 };
      }
      const r = await send('Page.captureScreenshot', { format: 'png', ...(clip ? { clip, captureBeyondViewport: true } : {}) });
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, Buffer.from(r.data, 'base64'));
      return file;
    },
    async close() {
      try { ws.close(); } catch { /* already closed */ }
      proc.kill('SIGKILL');
      await new Promise((r) => (proc.exitCode !== null || proc.signalCode ? r() : proc.once('exit', r)));
      try { fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch { /* chromium may still be writing its profile: the temp dir is left */ }
    },
  };
}

// 20 reloads, alternating good and broken code, under constant HTTP load and open WebSockets: no request fails, no connection drops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { startServer, copyApp, loadLoops, httpRequest, pollUntil, PIKKU_BIN } from './lib/server.mjs';
import { connect } from './lib/channel-client.mjs';

const WORKERS = 2;
const SOCKETS = 8;

/** pikku reload, without blocking this process's event loop (the load runs on it). */
function reload(pidFile) {
  return new Promise((resolve) => {
    execFile(PIKKU_BIN, ['reload', '--pid-file', pidFile], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? err.code : 0, stdout, stderr });
    });
  });
}

test('20 reloads (good, broken, good...) under HTTP load and open WebSockets: zero failed requests, zero dropped connections', async () => {
  const dir = copyApp();
  const pidFile = path.join(os.tmpdir(), `pikku-72-${process.pid}.pid`);
  const modFile = path.join(dir, 'greetings.lua');
  const modOrig = fs.readFileSync(modFile, 'utf8');
  const srv = await startServer({ app: dir, workers: WORKERS, args: ['--pid-file', pidFile, '--no-access-log'] });
  const valid = new Set(['hello']);
  const load = loadLoops(srv.port, {
    concurrency: 4, path: '/hello', maxRequests: 1e9, maxMs: 120000,
    check: (r) => r.status === 200 && valid.has(r.json().message),
  });
  // WebSockets: each sends a message, waits for its echo, and again, for the whole test
  const sockets = [];
  for (let i = 0; i < SOCKETS; i++) sockets.push(await connect(srv, '/ws/echo'));
  let wsStop = false;
  let echoed = 0;
  const wsErrors = [];
  const wsLoops = sockets.map(async (ws, i) => {
    for (let n = 0; !wsStop; n++) {
      try {
        const reply = await ws.call({ n, from: i }, 5000);
        if (reply.n !== n || reply.from !== i) wsErrors.push(`socket ${i}: wrong echo ${JSON.stringify(reply)}`);
        else echoed++;
      } catch (e) {
        wsErrors.push(`socket ${i}: ${e.message}`);
        return;
      }
    }
  });
  const reloadMs = [];
  try {
    await pollUntil(() => load.ok >= 200, { timeout: 5000, what: 'load to start' });
    let current = 'hello';
    for (let i = 1; i <= 20; i++) {
      const t0 = Date.now();
      if (process.env.PIKKU_TEST_VERBOSE) console.error(`reload ${i}: ${load.ok} requests, ${echoed} echoes so far`);
      if (i % 2 === 1) {
        const msg = `v${i}`;
        valid.add(msg);
        fs.writeFileSync(modFile, modOrig.replace('message = "hello"', `message = "${msg}"`));
        const r = await reload(pidFile);
        assert.equal(r.code, 0, `reload ${i}: ${r.stderr}`);
        assert.match(r.stdout, new RegExp(`reloaded: generation ${i + 1}, ${WORKERS} workers`));
        reloadMs.push(Date.now() - t0);
        // every worker answers with the new code now (fresh connections reach both)
        for (let k = 0; k < 10; k++) {
          const res = await httpRequest(srv.port, { path: '/hello', agent: false });
          assert.equal(JSON.parse(res.text).message, msg, `reload ${i}: the new code answers`);
        }
        valid.delete(current);
        current = msg;
      } else {
        fs.writeFileSync(modFile, `${modOrig}\nlocal broken = = ${i}\n`);
        const r = await reload(pidFile);
        assert.equal(r.code, 1, `reload ${i} of broken code must fail`);
        assert.match(r.stderr, /greetings\.lua:\d+: '<eof>' expected near 'local'/);
      }
    }
    const okBefore = load.ok;
    await pollUntil(() => load.ok >= okBefore + 200, { timeout: 5000, what: 'load after the last reload' });
  } catch (e) {
    load.stop();
    wsStop = true;
    await load.done;
    await Promise.all(wsLoops);
    await Promise.all(sockets.map((ws) => ws.close()));
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  load.stop();
  wsStop = true;
  const res = await load.done;
  await Promise.all(wsLoops);
  try {
    assert.equal(res.failed, 0, `failed requests: ${JSON.stringify(res.failures.slice(0, 5))}`);
    assert.deepEqual(wsErrors, []);
    for (const ws of sockets) assert.equal(ws.closeInfo, undefined, 'no WebSocket was closed');
    assert.ok(res.ok > 1000, `${res.ok} requests during the test`);
    assert.ok(echoed > 100, `${echoed} WebSocket round trips during the test`);
    assert.equal(srv.workerPids().length, WORKERS, 'no worker was restarted');
    console.log(`# ${res.ok} requests, ${echoed} WebSocket round trips, 20 reloads; good reloads took ${reloadMs.join(', ')} ms (pikku reload, answered when every worker loaded)`);
  } finally {
    await Promise.all(sockets.map((ws) => ws.close()));
    await srv.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

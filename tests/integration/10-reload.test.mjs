// SIGHUP reload under constant load: changed code is served, syntax/load errors keep the old code and log file:line, no request fails.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, copyApp, loadLoops, httpRequest, pollUntil, delay } from './lib/server.mjs';

const WORKERS = 2;

describe('reload', () => {
  let srv;
  let dir;
  let appFile;
  let modFile;
  let appOrig;
  let modOrig;

  before(async () => {
    dir = copyApp();
    appFile = path.join(dir, 'app.lua');
    modFile = path.join(dir, 'greetings.lua');
    appOrig = fs.readFileSync(appFile, 'utf8');
    modOrig = fs.readFileSync(modFile, 'utf8');
    assert.match(modOrig, /message = "hello"/, 'greetings.lua holds the /hello message');
    srv = await startServer({ app: dir, workers: WORKERS });
    await srv.waitForWorkers(WORKERS);
  });
  after(async () => {
    await srv?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const withMessage = (msg) => modOrig.replace('message = "hello"', `message = "${msg}"`);

  /** /hello on fresh connections (so both workers are asked) returns msg `times` times in a row. */
  async function expectServed(msg, { times = 20, timeout = 5000 } = {}) {
    let streak = 0;
    let last;
    await pollUntil(async () => {
      const r = await httpRequest(srv.port, { path: '/hello', agent: false });
      last = `${r.status} ${r.text}`;
      streak = r.status === 200 && r.json().message === msg ? streak + 1 : 0;
      return streak >= times;
    }, { timeout, interval: 0, what: `/hello to serve "${msg}" (last: ${last})` }).catch((e) => {
      throw new Error(`${e.message}; last response ${last}; stderr:\n${srv.stderrText()}`);
    });
  }

  /** SIGHUP and wait until every worker logged the load error naming file:line. */
  async function hupExpectingError(fileRe) {
    const mark = srv.mark();
    srv.signal('SIGHUP');
    const lines = await srv.waitForLines((l) => fileRe.test(l), WORKERS, { from: mark, timeout: 5000 });
    return lines;
  }

  test('10 SIGHUPs under load, with changes and broken code', async () => {
    const valid = new Set(['hello']);
    const load = loadLoops(srv.port, {
      concurrency: 4, path: '/hello', maxRequests: 100000, maxMs: 60000,
      check: (r) => r.status === 200 && valid.has(r.json().message),
    });
    let hups = 0;
    const hup = () => { hups++; srv.signal('SIGHUP'); };
    try {
      await pollUntil(() => load.ok >= 100, { timeout: 5000, what: 'load to start' });

      // 1: change the module
      valid.add('hello-v1');
      fs.writeFileSync(modFile, withMessage('hello-v1'));
      hup();
      await expectServed('hello-v1');
      valid.delete('hello');

      // 2: syntax error in app.lua (line 2) -> old code keeps serving
      const appLines = appOrig.split('\n');
      fs.writeFileSync(appFile, [appLines[0], 'local broken = = 1', ...appLines.slice(1)].join('\n'));
      hups++;
      await hupExpectingError(/app\.lua:2\b/);
      await expectServed('hello-v1');

      // 3: fix app.lua and change the module at once
      valid.add('hello-v3');
      fs.writeFileSync(appFile, appOrig);
      fs.writeFileSync(modFile, withMessage('hello-v3'));
      hup();
      await expectServed('hello-v3');
      valid.delete('hello-v1');

      // 4: another change
      valid.add('hello-v4');
      fs.writeFileSync(modFile, withMessage('hello-v4'));
      hup();
      await expectServed('hello-v4');
      valid.delete('hello-v3');

      // 5: syntax error in the module (line 1)
      fs.writeFileSync(modFile, `local broken = = 1\n${withMessage('hello-v5-never')}`);
      hups++;
      await hupExpectingError(/greetings\.lua:1\b/);
      await expectServed('hello-v4');

      // 6: fix the module with a new value
      valid.add('hello-v6');
      fs.writeFileSync(modFile, withMessage('hello-v6'));
      hup();
      await expectServed('hello-v6');
      valid.delete('hello-v4');

      // 7: a runtime error while loading app.lua (last line)
      const failing = `${appOrig.replace(/\n*$/, '\n')}error("reload test: load failure")\n`;
      const failLine = failing.split('\n').length - 1;
      fs.writeFileSync(appFile, failing);
      hups++;
      await hupExpectingError(new RegExp(`app\\.lua:${failLine}\\b`));
      await expectServed('hello-v6');

      // 8: fix it with a new value
      valid.add('hello-v8');
      fs.writeFileSync(appFile, appOrig);
      fs.writeFileSync(modFile, withMessage('hello-v8'));
      hup();
      await expectServed('hello-v8');
      valid.delete('hello-v6');

      // 9: reload without changes
      hup();
      await delay(300);
      await expectServed('hello-v8');

      // 10: back to the original
      valid.add('hello');
      fs.writeFileSync(modFile, modOrig);
      hup();
      await expectServed('hello');

      assert.equal(hups, 10);
      const okBefore = load.ok;
      await pollUntil(() => load.ok >= okBefore + 100, { timeout: 5000, what: 'load after the last reload' });
    } finally {
      load.stop();
    }
    const res = await load.done;
    assert.equal(res.failed, 0, `failed requests during reloads: ${JSON.stringify(res.failures.slice(0, 5))}`);
    assert.ok(res.ok > 500, `load ran (${res.ok} requests)`);
    // workers were not restarted by the reloads
    assert.equal(srv.workerPids().length, WORKERS);
  });

  test('after a burst of SIGHUPs every worker ends on the generation the master announced last', async () => {
    const mark = srv.mark();
    // faster than a worker reloads: signals the master forwards while a worker is loading coalesce
    for (let i = 0; i < 8; i++) { srv.signal('SIGHUP'); await delay(3 + 4 * (i % 3)); }
    const masterRe = /master info: reloading the app in every worker \(generation (\d+)\)/;
    const workerRe = /w(\d+) info: reloaded app .* \(generation (\d+)\)/;
    let master = 0;
    const last = new Map();
    await pollUntil(() => {
      master = 0;
      last.clear();
      for (const l of srv.lines.slice(mark)) {
        const m = masterRe.exec(l);
        if (m) master = Math.max(master, Number(m[1]));
        const w = workerRe.exec(l);
        if (w) last.set(w[1], Math.max(last.get(w[1]) ?? 0, Number(w[2])));
      }
      return master > 0 && last.size === WORKERS && [...last.values()].every((g) => g === master);
    }, { timeout: 10000, interval: 50, what: 'every worker at the master\'s last generation' }).catch((e) => {
      throw new Error(`${e.message}: master ${master}, workers ${JSON.stringify([...last])}; stderr:\n${srv.stderrText()}`);
    });
    await expectServed('hello');
  });

  test('a reload picks up a new route added to app.lua', async () => {
    fs.writeFileSync(appFile, `${appOrig.replace(/\n*$/, '\n')}pikku.wire_http { method = "get", route = "/added", func = function() return { added = true } end }\n`);
    srv.signal('SIGHUP');
    await pollUntil(async () => {
      const r = await httpRequest(srv.port, { path: '/added', agent: false });
      return r.status === 200 && r.json().added === true;
    }, { timeout: 5000, interval: 20, what: '/added to appear' });
    fs.writeFileSync(appFile, appOrig);
    srv.signal('SIGHUP');
    await pollUntil(async () => {
      const r = await httpRequest(srv.port, { path: '/added', agent: false });
      return r.status === 404;
    }, { timeout: 5000, interval: 20, what: '/added to go away' });
  });

  test('a request sleeping across a reload finishes on the old code', async () => {
    const pending = httpRequest(srv.port, { path: '/sleep?ms=600', agent: false });
    await delay(100);
    fs.writeFileSync(modFile, withMessage('hello-after-sleep'));
    srv.signal('SIGHUP');
    const r = await pending;
    assert.equal(r.status, 200);
    assert.equal(Number(r.json().slept), 600);
    await expectServed('hello-after-sleep');
    fs.writeFileSync(modFile, modOrig);
    srv.signal('SIGHUP');
    await expectServed('hello');
  });
});

#!/usr/bin/env node
// Fan-out benchmark client: N subscribed WebSocket connections, one publish, time until the last one has it.
//
//   node tests/bench/ws-fanout.mjs --url ws://127.0.0.1:P/ws/fanout --publish http://127.0.0.1:P/publish/bench
//                                  [--conns 10000] [--rounds 5] [--timeout 60] [--pids "1 2 3"]
//
// Each connection sends {"action":"subscribe","topic":"bench"} and waits for the reply; then,
// per round, one HTTP POST publishes {"round":r,"t":<ms>} and the client records when every
// connection received it. Prints per-round completion times and their p50/p99 (ms), and, with
// --pids, the server's memory per connection (RSS and PSS summed over the pids, before the
// connections are opened and once they are all idle). Bounded: stops after --timeout seconds.
import fs from 'node:fs';
import { createRequire } from 'node:module';

// the ws client installed for the integration tests (tests/integration/node_modules)
const { WebSocket } = createRequire(new URL('../integration/package.json', import.meta.url))('ws');

const args = process.argv.slice(2);
const opt = (n, d) => { const i = args.indexOf('--' + n); return i === -1 ? d : args[i + 1]; };
const url = opt('url');
const publishUrl = opt('publish');
const conns = Number(opt('conns', 10000));
const rounds = Number(opt('rounds', 5));
const timeoutS = Number(opt('timeout', 60));
const pids = (opt('pids', '') || '').split(/\s+/).filter(Boolean);
for (const u of [url, publishUrl]) {
  if (!/^(ws|http):\/\/(127\.\d+\.\d+\.\d+|localhost)(:\d+)?\//.test(u || '')) { console.error('loopback URLs only:', u); process.exit(64); }
}
setTimeout(() => { console.error(`ws-fanout: timed out after ${timeoutS} s`); process.exit(2); }, timeoutS * 1000).unref();

function memory() {
  let rss = 0, pss = 0;
  for (const p of pids) {
    try {
      const t = fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      rss += Number(/^Rss:\s+(\d+)/m.exec(t)[1]);
      pss += Number(/^Pss:\s+(\d+)/m.exec(t)[1]);
    } catch { /* a pid that went away */ }
  }
  return { rss, pss };   // KiB
}

const before = memory();
const sockets = [];
let received = 0, round = -1, roundStart = 0, onRoundDone = null, expected = Buffer.alloc(0);
const batch = 500;
for (let i = 0; i < conns; i += batch) {
  const opened = [];
  for (let j = i; j < Math.min(conns, i + batch); j++) {
    opened.push(new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      ws.on('error', reject);
      // the subscribe reply is parsed; after it, a publish is recognised by its exact bytes, so
      // the client spends as little as it can per message (it shares the machine with the server)
      let subscribed = false;
      ws.on('message', (data) => {
        if (!subscribed) {
          const m = JSON.parse(data);
          if (m.subscribed !== undefined || m.action === 'subscribe') { subscribed = true; resolve(ws); }
          return;
        }
        if (data.length === expected.length && data.equals(expected)) {
          if (++received === conns) onRoundDone?.();
        }
      });
      ws.on('open', () => ws.send(JSON.stringify({ action: 'subscribe', topic: 'bench' })));
    }));
  }
  sockets.push(...(await Promise.all(opened)));
}
await new Promise((r) => setTimeout(r, 1000));   // let the server settle: idle connections
const idle = memory();
const times = [];
for (round = 0; round < rounds; round++) {
  received = 0;
  expected = Buffer.from(JSON.stringify({ round }));
  const done = new Promise((r) => { onRoundDone = r; });
  roundStart = performance.now();
  const res = await fetch(publishUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ round }) });
  if (!res.ok) { console.error('publish failed:', res.status, await res.text()); process.exit(1); }
  await done;
  times.push(performance.now() - roundStart);
  await new Promise((r) => setTimeout(r, 200));
}
const sorted = [...times].sort((a, b) => a - b);
const pct = (p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
console.log(`connections: ${conns}, rounds: ${rounds}`);
console.log(`time until the last subscriber has the message (ms): ${times.map((t) => t.toFixed(1)).join(' ')}`);
console.log(`p50 ${pct(50).toFixed(1)} ms, p99 ${pct(99).toFixed(1)} ms`);
if (pids.length) {
  const perConnRss = ((idle.rss - before.rss) / conns).toFixed(2);
  const perConnPss = ((idle.pss - before.pss) / conns).toFixed(2);
  console.log(`server memory: ${before.rss} KiB RSS before, ${idle.rss} KiB with ${conns} idle connections -> ${perConnRss} KiB RSS / ${perConnPss} KiB PSS per connection`);
}
for (const ws of sockets) ws.terminate();
process.exit(0);

// serve --metrics: GET /_pikku/metrics in the Prometheus text format, checked by promtool on a live server's output.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import WebSocket from 'ws';
import { startServer, REPO_ROOT, pollUntil } from './lib/server.mjs';

const FIXTURE = path.join(REPO_ROOT, 'tests/integration/fixtures/observe');
const havePromtool = spawnSync('promtool', ['--version']).status === 0;

/** "name{labels} value" lines -> Map(series -> number) */
function parse(text) {
  const m = new Map();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    m.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return m;
}

describe('metrics', () => {
  let srv;
  before(async () => { srv = await startServer({ app: FIXTURE, workers: 2, args: ['--metrics'] }); });
  after(() => srv?.stop());

  const scrape = async () => {
    const res = await srv.fetch('/_pikku/metrics');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
    return res.text();
  };

  test('promtool check metrics passes on the live output', { skip: !havePromtool && 'promtool missing (Debian prometheus)' }, async () => {
    for (let i = 0; i < 5; i++) { await srv.fetch('/hello'); await srv.fetch('/items/' + i); await srv.fetch('/fail'); await srv.fetch('/nope'); }
    await srv.fetch('/strict', { method: 'POST', body: '{"x":1}', headers: { 'content-type': 'application/json' } });
    const text = await scrape();
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool: ${r.stdout}${r.stderr}\n${text}`);
  });

  test('requests by route (its pattern) and status, and a latency histogram per route, summed over the workers', async () => {
    const before = parse(await scrape());
    const key = 'pikku_http_requests_total{method="GET",route="/items/:id",status="200"}';
    for (let i = 0; i < 20; i++) await srv.fetch('/items/' + i);
    await srv.fetch('/fail');
    const m = parse(await scrape());
    assert.equal(m.get(key) - (before.get(key) || 0), 20);
    assert.ok(m.get('pikku_http_requests_total{method="GET",route="/fail",status="409"}') >= 1);
    assert.ok(m.get('pikku_http_requests_total{method="-",route="(unmatched)",status="404"}') >= 0);
    const count = m.get('pikku_http_request_duration_seconds_count{method="GET",route="/items/:id"}');
    assert.equal(count, m.get('pikku_http_request_duration_seconds_bucket{method="GET",route="/items/:id",le="+Inf"}'));
    assert.ok(count >= 20);
    assert.ok(m.get('pikku_http_request_duration_seconds_sum{method="GET",route="/items/:id"}') > 0);
    // buckets are cumulative
    let last = 0;
    for (const le of ['0.0001', '0.001', '0.01', '0.1', '1', '+Inf']) {
      const v = m.get(`pikku_http_request_duration_seconds_bucket{method="GET",route="/items/:id",le="${le}"}`);
      assert.ok(v >= last, le);
      last = v;
    }
    assert.equal(m.get('pikku_workers'), 2);
  });

  test('open WebSocket and event-stream connections are counted', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`);
    await new Promise((r, j) => { ws.once('open', r); ws.once('error', j); });
    const ctl = new AbortController();
    const es = await fetch(`${srv.base}/events`, { signal: ctl.signal });
    assert.equal(es.status, 200);
    try {
      await pollUntil(async () => {
        const m = parse(await scrape());
        return m.get('pikku_open_connections{type="websocket"}') === 1 && m.get('pikku_open_connections{type="sse"}') === 1;
      }, { what: 'the connections in the gauges', timeout: 5000 });
    } finally {
      ws.close();
      ctl.abort();
    }
    await pollUntil(async () => parse(await scrape()).get('pikku_open_connections{type="websocket"}') === 0,
      { what: 'the WebSocket gone from the gauge' });
  });

  test('event-loop lag: a call that holds the loop shows', async () => {
    await srv.fetch('/block?ms=700');   // the timer is due every 250 ms: late by at least 450 ms
    await pollUntil(async () => {
      const m = parse(await scrape());
      return [...m.entries()].some(([k, v]) => k.startsWith('pikku_event_loop_lag_max_seconds') && v >= 0.2);
    }, { what: 'a lag of 0.2 s or more' });
  });

  test('reloads and worker restarts are counted', async () => {
    const mark = srv.mark();
    srv.signal('SIGHUP');
    await srv.waitForLines(/reloaded app/, 2, { from: mark });
    assert.equal(parse(await scrape()).get('pikku_reloads_total'), 1);
    const [w] = srv.workerPids();
    process.kill(w, 'SIGKILL');
    await srv.waitForLine(/killed by signal 9/, { from: mark });
    await srv.waitForWorkers(2, { pred: (pids) => !pids.includes(w) });
    await pollUntil(async () => {
      try { return parse(await scrape()).get('pikku_worker_restarts_total') === 1; } catch { return false; }
    }, { what: 'the restart counted' });
  });

  test('only GET and HEAD', async () => {
    const r = await srv.fetch('/_pikku/metrics', { method: 'POST' });
    assert.equal(r.status, 405);
  });
});

test('without --metrics there is no such path', async () => {
  const srv = await startServer({ app: FIXTURE });
  try {
    assert.equal((await srv.fetch('/_pikku/metrics')).status, 404);
  } finally {
    await srv.stop();
  }
});

// CLI behaviour: --help, version, and bad flags / missing app dir exit 2 with one stderr line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { runCli, freePort, HELLO_APP, REPO_ROOT } from './lib/server.mjs';

const oneLine = (s) => s.trim().split('\n').filter((l) => l.trim() !== '');

test('pikku --help prints usage and exits 0', () => {
  const r = runCli(['--help']);
  assert.equal(r.code, 0, `exit code (stderr: ${r.stderr})`);
  const out = r.stdout + r.stderr;
  assert.match(out, /serve/, 'help mentions the serve command');
  assert.match(out, /--port/, 'help mentions --port');
  assert.match(out, /--workers/, 'help mentions --workers');
});

test('pikku version prints a version and exits 0', () => {
  const r = runCli(['version']);
  assert.equal(r.code, 0, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stdout, /\d+\.\d+/, 'a version number on stdout');
});

async function expectUsageError(args, mention) {
  const r = runCli(args);
  assert.equal(r.signal, null, `pikku ${args.join(' ')} did not exit by itself (killed by ${r.signal})`);
  assert.equal(r.code, 2, `pikku ${args.join(' ')}: exit code (stderr: ${r.stderr})`);
  const lines = oneLine(r.stderr);
  assert.equal(lines.length, 1, `exactly one stderr line, got: ${JSON.stringify(r.stderr)}`);
  if (mention) assert.ok(lines[0].includes(mention), `stderr line names ${mention}: ${lines[0]}`);
}

test('serve without an app dir exits 2 with one line', async () => {
  await expectUsageError(['serve'], null);
});

test('serve with a missing app dir exits 2 and names it', async () => {
  const port = await freePort();
  await expectUsageError(['serve', '/nonexistent/pikku-app-dir', '--port', String(port)], '/nonexistent/pikku-app-dir');
});

test('unknown flag exits 2 and names the flag', async () => {
  const port = await freePort();
  await expectUsageError(['serve', HELLO_APP, '--port', String(port), '--bogus-flag'], '--bogus-flag');
});

test('non-numeric --port exits 2 and names the flag', async () => {
  await expectUsageError(['serve', HELLO_APP, '--port', 'notaport'], '--port');
});

test('non-numeric --workers exits 2 and names the flag', async () => {
  const port = await freePort();
  await expectUsageError(['serve', HELLO_APP, '--port', String(port), '--workers', 'many'], '--workers');
});

test('bad --log-format exits 2 and names the flag', async () => {
  const port = await freePort();
  await expectUsageError(['serve', HELLO_APP, '--port', String(port), '--log-format', 'xml'], '--log-format');
});

test('bad --sched exits 2 and names the flag', async () => {
  const port = await freePort();
  await expectUsageError(['serve', HELLO_APP, '--port', String(port), '--sched', 'fifo'], '--sched');
});

test('flag missing its value exits 2', async () => {
  await expectUsageError(['serve', HELLO_APP, '--port'], '--port');
});

test('non-numeric size flag exits 2 and names it', async () => {
  const port = await freePort();
  await expectUsageError(['serve', HELLO_APP, '--port', String(port), '--max-body-size', 'big'], '--max-body-size');
});

test('pikku test: a test that never finishes fails as timed out and the run goes on', () => {
  const app = path.join(REPO_ROOT, 'tests/integration/fixtures/test-timeout');
  const t0 = Date.now();
  const r = runCli(['test', app], { timeout: 20000, env: { PIKKU_TEST_TIMEOUT_MS: '700' } });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.ok(Date.now() - t0 < 10000, 'the run ends long before the ten-minute sleep');
  assert.match(r.stdout, /FAIL timeouts > waits for a request that never answers/);
  assert.match(r.stdout, /timed out after 300 ms/);
  assert.match(r.stdout, /ok {3}timeouts > runs after the one that timed out/);
  assert.match(r.stdout, /timed out after 700 ms/);
  assert.match(r.stdout, /1 passed, 2 failed\s*$/);
});

test('a port another server (even another pikku) listens on: exit 1 naming it', async () => {
  const { startServer } = await import('./lib/server.mjs');
  const first = await startServer({ workers: 1 });
  try {
    const r = runCli(['serve', HELLO_APP, '--port', String(first.port), '--workers', '1'], { timeout: 15000 });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: Address already in use`));
    assert.equal((await first.fetch('/hello')).status, 200);   // the first one still serves alone
  } finally { await first.stop(); }
});

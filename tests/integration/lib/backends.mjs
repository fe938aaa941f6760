// The outbound tests' Redis and PostgreSQL: the ones ctest's fixture started (PIKKU_TEST_SERVERS), or our own.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync, spawn } from 'node:child_process';
import { REPO_ROOT, delay } from './server.mjs';

const START = path.join(REPO_ROOT, 'tests', 'servers', 'start.sh');
const STOP = path.join(REPO_ROOT, 'tests', 'servers', 'stop.sh');

function readEnv(dir) {
  const env = {};
  for (const line of fs.readFileSync(path.join(dir, 'env'), 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}

/** { env, stop() }: REDIS_URL, DATABASE_URL, ... of running servers (started here if ctest did not). */
export function backends() {
  const shared = process.env.PIKKU_TEST_SERVERS;
  if (shared && fs.existsSync(path.join(shared, 'env'))) return { env: readEnv(shared), stop: () => {} };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-servers-'));
  execFileSync('bash', [START, dir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const stop = () => { try { execFileSync('bash', [STOP, dir], { stdio: 'ignore' }); } catch { /* gone */ } };
  process.on('exit', stop);
  return { env: readEnv(dir), stop };
}

/** A redis-server of the test's own (to restart it), on `port` (default: a free one). */
export class OwnRedis {
  constructor(port) { this.port = port; }
  async start() {
    this.proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '',
      '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; i < 100; i++) {
      try { execFileSync('redis-cli', ['-p', String(this.port), 'ping'], { stdio: 'pipe' }); return this; } catch { await delay(50); }
    }
    throw new Error('redis-server did not start');
  }
  async stop() {
    if (!this.proc || this.proc.exitCode !== null) return;
    const exited = new Promise((r) => this.proc.once('exit', r));
    this.proc.kill('SIGKILL');
    await exited;
  }
  get url() { return `redis://127.0.0.1:${this.port}/0`; }
}

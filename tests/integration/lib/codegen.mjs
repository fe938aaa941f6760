// Codegen test helpers: run `pikku codegen` into a temp dir, tsc --strict and esbuild from tests/integration's npm packages.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli, REPO_ROOT } from './server.mjs';

export const NODE_MODULES = path.join(REPO_ROOT, 'tests/integration/node_modules');
const TSC = path.join(NODE_MODULES, 'typescript/bin/tsc');
const ESBUILD = path.join(NODE_MODULES, 'esbuild/bin/esbuild');

/** pikku codegen APP --out <a new temp dir>; returns the dir (throws with the output on failure). */
export function generate(app) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-codegen-'));
  const r = runCli(['codegen', app, '--out', dir], { timeout: 30000 });
  if (r.code !== 0) throw new Error(`pikku codegen ${app} failed (${r.code}): ${r.stdout}${r.stderr}`);
  return dir;
}

/** tsc --strict --noEmit on files in dir (ES2022 + DOM, bundler resolution); { code, stdout, stderr }. */
export function tsc(dir, files) {
  const r = spawnSync(process.execPath, [TSC, '--strict', '--noEmit', '--pretty', 'false', '--target', 'es2022',
    '--lib', 'es2022,dom', '--module', 'esnext', '--moduleResolution', 'bundler', ...files],
  { cwd: dir, encoding: 'utf8', timeout: 120000 });
  return { code: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** esbuild dir/entry --bundle into dir/outfile; returns its path. opts: format, platform, globalName. */
export function bundle(dir, entry, outfile, { format = 'esm', platform = 'neutral', globalName } = {}) {
  const args = [entry, '--bundle', `--format=${format}`, `--platform=${platform}`, `--outfile=${outfile}`,
    '--log-level=warning', '--target=es2022'];
  if (globalName) args.push(`--global-name=${globalName}`);
  const r = spawnSync(ESBUILD, args, { cwd: dir, encoding: 'utf8', timeout: 60000 });
  if (r.status !== 0) throw new Error(`esbuild failed: ${r.stdout}${r.stderr}`);
  return path.join(dir, outfile);
}

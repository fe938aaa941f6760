// What the outbound tests look at on the real servers: a slow HTTP server, PostgreSQL's running statements, Redis's blocked clients.
import http from 'node:http';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { HOST, pollUntil } from './server.mjs';

/** A slow HTTP server: GET /hang?id=X never answers; seen[X] = { opened, closed } (times in ms). */
export async function startHangServer() {
  const seen = new Map();
  const srv = http.createServer((req, res) => {
    const id = new URL(req.url, 'http://x').searchParams.get('id');
    const st = { opened: Date.now(), closed: null };
    seen.set(id, st);
    res.on('close', () => { st.closed = Date.now(); });
  });
  await new Promise((r) => srv.listen(0, HOST, r));
  return {
    url: `http://${HOST}:${srv.address().port}`, seen,
    close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }),
  };
}

/**
 * Probes of an operation `tag` on its server: env (the servers fixture's), hang (startHangServer's),
 * Redis database db on redisPort. running.pg: a statement whose text carries `cancel:TAG` is active;
 * running.redis: a client of db is blocked in BLPOP; running.http: the hang server holds TAG open.
 */
export function operationProbes({ env, hang, redisPort, db }) {
  const pg = (tag) => execFileSync(path.join(env.PG_BIN, 'psql'), [env.DATABASE_URL, '-Atc',
    `SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%cancel:${tag}%' AND pid <> pg_backend_pid()`],
  { encoding: 'utf8' }).trim() !== '0';
  const redisBlocked = () => execFileSync('redis-cli', ['-p', String(redisPort), 'CLIENT', 'LIST'], { encoding: 'utf8' })
    .split('\n').filter((l) => l.includes(` db=${db} `) && l.includes('cmd=blpop')).length;
  const httpOpen = (tag) => { const s = hang.seen.get(tag); return !!s && s.closed === null; };
  const running = { pg, redis: () => redisBlocked() > 0, http: httpOpen };
  return {
    running, redisBlocked,
    seenRunning: (kind, tag) => pollUntil(() => running[kind](tag), { timeout: 5000, what: `${kind} ${tag} running on its server` }),
    /** Polls until the operation is gone from its server; returns how long that took. */
    async goneWithin(kind, tag, ms, interval = 25) {
      const t0 = Date.now();
      await pollUntil(() => !running[kind](tag), { timeout: ms, interval, what: `${kind} ${tag} gone from its server within ${ms} ms` });
      return Date.now() - t0;
    },
  };
}

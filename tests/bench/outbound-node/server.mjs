// The outbound benchmark's peer: GET /item/:id on @pikku/core (one process), one ioredis GET and one pg SELECT per request.
import { createServer } from 'node:http';
import Redis from 'ioredis';
import pg from 'pg';
import { pikkuState } from '@pikku/core/ecosystem';
import { wireHTTP, fetchData, PikkuFetchHTTPResponse } from '@pikku/core/http';

const PORT = Number(process.env.PORT || 18090);
const redis = new Redis(process.env.REDIS_URL);
const db = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 16 });

// what the Pikku CLI would generate: the function's and the route's metadata
pikkuState(null, 'function', 'meta', {
  getItem: { pikkuFuncId: 'getItem', functionType: 'user', sessionless: true, inputSchemaName: null,
    outputSchemaName: null, services: { optimized: true, services: [] } },
});
pikkuState(null, 'http', 'meta', {
  get: { '/item/:id': { pikkuFuncId: 'getItem', route: '/item/:id', method: 'get', params: ['id'], auth: false,
    requiresSession: false } },
  post: {}, put: {}, patch: {}, delete: {}, head: {}, options: {},
});
const logger = { debug() {}, info() {}, warn: console.warn, error: console.error };
pikkuState(null, 'package', 'singletonServices', { logger, redis, db });

const getItem = {
  func: async ({ redis: r, db: d }, { id }) => {
    const n = Number(id) || 1;
    const hits = await r.get(`bench:hits:${n}`);
    const { rows } = await d.query('SELECT id, name FROM bench_items WHERE id = $1', [n]);
    return { id: rows[0]?.id, name: rows[0]?.name, hits };
  },
};
wireHTTP({ method: 'get', route: '/item/:id', func: getItem, auth: false });

// node:http -> Web Request -> @pikku/core fetchData -> Web Response -> node:http
createServer(async (req, res) => {
  try {
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) if (v) headers.set(k, Array.isArray(v) ? v.join(', ') : v);
    const out = new PikkuFetchHTTPResponse();
    await fetchData(new Request(`http://localhost${req.url}`, { method: req.method, headers }), out, { respondWith404: true });
    const webRes = out.toResponse();
    const h = {};
    webRes.headers.forEach((v, k) => { h[k] = v; });
    res.writeHead(webRes.status, h);
    res.end(Buffer.from(await webRes.arrayBuffer()));
  } catch (e) {
    res.writeHead(500);
    res.end(String(e));
  }
}).listen(PORT, '127.0.0.1', () => console.log(`node peer on ${PORT}`));

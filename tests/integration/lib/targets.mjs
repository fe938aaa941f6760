// Targets for the outbound tests: a local HTTP server (also large, slow, gzip-compressed and reset bodies) and an HTTPS one with a test CA made at test time (openssl).
import http from 'node:http';
import https from 'node:https';
import http2 from 'node:http2';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { HOST } from './server.mjs';

export const stats = { aborted: 0, connections: 0, proxied: 0 };   // /delay requests whose client left before the answer; TCP connections; requests through the proxy

/** /gen?id=ID: what each generated download did: bytes handed to the socket, whether it waits for
 * 'drain' (its write buffer is full: the reader stopped), how often it waited, whether it ended
 * (finished, with the SHA-256 of what it sent) or its client closed first. */
export const generated = new Map();

/** n bytes made on the fly in 64 KiB pieces (random, each numbered), written only as fast as the
 * client reads ('drain'), so the server holds at most one piece beyond its socket buffers. */
function generate(req, res, q) {
  const n = Number(q.n || 0);
  const st = { sent: 0, waiting: false, drains: 0, finished: false, closed: false, sha256: null };
  generated.set(q.id || 'last', st);
  const base = crypto.randomBytes(65536);
  const hash = crypto.createHash('sha256');
  let i = 0;
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': n });
  const pump = () => {
    while (st.sent < n) {
      const piece = Buffer.from(base.subarray(0, Math.min(65536, n - st.sent)));
      if (piece.length >= 4) piece.writeUInt32BE(i++);
      hash.update(piece);
      st.sent += piece.length;
      if (!res.write(piece)) {
        st.waiting = true;
        st.drains++;
        res.once('drain', () => { st.waiting = false; pump(); });
        return;
      }
    }
    st.finished = true;
    st.sha256 = hash.digest('hex');
    res.end();
  };
  res.on('close', () => { st.closed = true; });
  pump();
}

function handler(req, res) {
  const u = new URL(req.url, 'http://x');
  const q = Object.fromEntries(u.searchParams);
  const send = (status, body, type = 'text/plain') => {
    res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
  const chunks = [];
  req.on('data', (d) => chunks.push(d));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    switch (u.pathname) {
      case '/hello': return send(200, 'hello from target');
      case '/delay': {
        const t = setTimeout(() => send(200, `waited ${q.ms}`), Number(q.ms || 0));
        res.on('close', () => { if (!res.writableEnded) { clearTimeout(t); stats.aborted++; } });
        return undefined;
      }
      case '/echo': return send(200, JSON.stringify({ method: req.method, body: body ? JSON.parse(body) : null,
        type: req.headers['content-type'] ?? null }), 'application/json');
      case '/big': {
        // n bytes; with chunked=1 no Content-Length, so only the running count can stop it
        const n = Number(q.n || 0);
        if (q.chunked) { res.writeHead(200, { 'content-type': 'text/plain' }); res.end('x'.repeat(n)); return undefined; }
        return send(200, 'x'.repeat(n));
      }
      case '/redirect': res.writeHead(302, { location: '/hello' }); return res.end();
      case '/gen': return generate(req, res, q);
      case '/gzip': {
        // n bytes of text (a counter per line) sent gzip-compressed, chunked; its SHA-256 in generated
        const n = Number(q.n || 0);
        const st = { sent: 0, finished: false, sha256: null };
        generated.set(q.id || 'gzip', st);
        const hash = crypto.createHash('sha256');
        const gz = zlib.createGzip();
        res.writeHead(200, { 'content-type': 'text/plain', 'content-encoding': 'gzip' });
        gz.pipe(res);
        let line = 0;
        const pump = () => {
          while (st.sent < n) {
            let s = '';
            while (s.length < 65536) s += `line ${line++} of the generated text\n`;
            const piece = Buffer.from(s).subarray(0, Math.min(65536, n - st.sent));
            hash.update(piece);
            st.sent += piece.length;
            if (!gz.write(piece)) { gz.once('drain', pump); return; }
          }
          st.finished = true;
          st.sha256 = hash.digest('hex');
          gz.end();
        };
        pump();
        return undefined;
      }
      case '/slow': {
        // `chunks` pieces of `size` bytes, one every `ms` ms (chunked); counts the ones sent
        const st = { sent: 0, closed: false };
        generated.set(q.id || 'slow', st);
        res.writeHead(200, { 'content-type': 'text/plain' });
        const t = setInterval(() => {
          res.write('s'.repeat(Number(q.size || 10)));
          if (++st.sent >= Number(q.chunks || 10)) { clearInterval(t); res.end(); }
        }, Number(q.ms || 100));
        res.on('close', () => { clearInterval(t); st.closed = true; });
        return undefined;
      }
      case '/reset': {
        // promises 2n bytes, sends n, then resets the connection (RST)
        const n = Number(q.n || 1000);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': 2 * n });
        res.write(Buffer.alloc(n, 'r'), () => setTimeout(() => res.socket?.resetAndDestroy(), 100));
        return undefined;
      }
      case '/status': return send(Number(q.code || 500), 'status');
      default: return send(404, 'no such path');
    }
  });
}

/** A plain HTTP target on a free loopback port. Returns { url, close() }. */
export async function startHttpTarget() {
  const srv = http.createServer(handler);
  srv.on('connection', () => { stats.connections++; });
  srv.keepAliveTimeout = 30000;
  await new Promise((r) => srv.listen(0, HOST, r));
  return { url: `http://${HOST}:${srv.address().port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

/** A test CA and a certificate for 127.0.0.1 and localhost signed by it, in a temp dir. */
export function makeTestCA() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pikku-ca-'));
  const f = (n) => path.join(dir, n);
  const ssl = (...a) => execFileSync('openssl', a, { stdio: 'pipe' });
  ssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('ca.key'), '-out', f('ca.pem'),
    '-days', '2', '-subj', '/CN=pikku test CA');
  ssl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=127.0.0.1');
  fs.writeFileSync(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ssl('x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
    '-out', f('server.pem'), '-days', '2', '-extfile', f('ext.cnf'));
  return { dir, ca: f('ca.pem'), cert: f('server.pem'), key: f('server.key'), remove: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** An HTTPS target with the test CA's certificate. Returns { url, close() }. */
export async function startHttpsTarget(ca) {
  const srv = https.createServer({ key: fs.readFileSync(ca.key), cert: fs.readFileSync(ca.cert) }, handler);
  await new Promise((r) => srv.listen(0, HOST, r));
  return { url: `https://${HOST}:${srv.address().port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

/** An HTTPS target speaking HTTP/2 (and HTTP/1.1 for clients without ALPN h2). */
export async function startHttp2Target(ca) {
  const srv = http2.createSecureServer({ key: fs.readFileSync(ca.key), cert: fs.readFileSync(ca.cert), allowHTTP1: true }, handler);
  const sessions = new Set();
  srv.on('session', (s) => { sessions.add(s); s.on('close', () => sessions.delete(s)); });
  await new Promise((r) => srv.listen(0, HOST, r));
  return { url: `https://${HOST}:${srv.address().port}`, close: () => new Promise((r) => { for (const s of sessions) s.destroy(); srv.close(r); }) };
}

/** A forward proxy for plain HTTP (absolute-form requests), counting what it forwards. */
export async function startProxy() {
  const srv = http.createServer((req, res) => {
    stats.proxied++;
    const u = new URL(req.url);
    const up = http.request({ host: u.hostname, port: u.port, path: u.pathname + u.search, method: req.method, headers: req.headers }, (r) => {
      res.writeHead(r.statusCode, { ...r.headers, 'x-proxied': '1' });
      r.pipe(res);
    });
    up.on('error', () => { res.writeHead(502); res.end(); });
    req.pipe(up);
  });
  await new Promise((r) => srv.listen(0, HOST, r));
  return { url: `http://${HOST}:${srv.address().port}`, close: () => new Promise((r) => { srv.closeAllConnections(); srv.close(r); }) };
}

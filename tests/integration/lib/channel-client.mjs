// A promise-based WebSocket client (npm `ws`) for the channel tests: a queue of received
// messages, next() / call() / nextWhere(), and the close code and reason.
import WebSocket from 'ws';

export class ChannelClient {
  constructor(url, options = {}) {
    this.url = url;
    this.queue = [];
    this.waiters = [];
    this.all = [];
    this.ws = new WebSocket(url, options);
    this.closed = new Promise((resolve) => {
      this.ws.on('close', (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        for (const w of this.waiters.splice(0)) w.reject(new Error(`connection closed (${code} ${reason}) while waiting`));
        resolve(this.closeInfo);
      });
    });
    this.ws.on('message', (data, isBinary) => {
      let v;
      if (isBinary) v = { binary: Buffer.from(data) };
      else {
        const text = data.toString();
        try { v = JSON.parse(text); } catch { v = text; }
      }
      this.all.push(v);
      const i = this.waiters.findIndex((w) => w.pred(v));
      if (i >= 0) {
        const [w] = this.waiters.splice(i, 1);
        w.resolve(v);
      } else this.queue.push(v);
    });
    this.ws.on('error', (err) => { this.error = err; });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('unexpected-response', (_req, res) => {
        reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { status: res.statusCode }));
      });
      this.ws.once('error', reject);
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
  }

  /** The next message matching pred (decoded JSON, a string, or { binary: Buffer }). */
  nextWhere(pred = () => true, timeout = 3000) {
    const i = this.queue.findIndex(pred);
    if (i >= 0) return Promise.resolve(this.queue.splice(i, 1)[0]);
    if (this.closeInfo) return Promise.reject(new Error(`connection closed (${this.closeInfo.code})`));
    return new Promise((resolve, reject) => {
      const w = { pred, resolve, reject };
      this.waiters.push(w);
      setTimeout(() => {
        const k = this.waiters.indexOf(w);
        if (k >= 0) {
          this.waiters.splice(k, 1);
          reject(new Error(`no message within ${timeout} ms on ${this.url}; received: ${JSON.stringify(this.all)}`));
        }
      }, timeout).unref();
    });
  }

  next(timeout) { return this.nextWhere(() => true, timeout); }

  /** Resolves true when no message (matching pred) arrives within ms. */
  async nothingFor(ms, pred = () => true) {
    try {
      await this.nextWhere(pred, ms);
      return false;
    } catch {
      return true;
    }
  }

  send(msg) { this.ws.send(typeof msg === 'string' || Buffer.isBuffer(msg) ? msg : JSON.stringify(msg)); }

  /** Sends msg with an id and resolves with the reply carrying that id. */
  call(msg, timeout) {
    const id = msg.id ?? `c${Math.random().toString(36).slice(2)}`;
    this.send({ ...msg, id });
    return this.nextWhere((v) => v && typeof v === 'object' && v.id === id, timeout);
  }

  close(code = 1000) {
    this.ws.close(code);
    return this.closed;
  }

  terminate() { this.ws.terminate(); return this.closed; }
}

/** Opens a connection; resolves once open. */
export async function connect(srv, path, options) {
  const c = new ChannelClient(`ws://${srv.host}:${srv.port}${path}`, options);
  await c.opened;
  return c;
}

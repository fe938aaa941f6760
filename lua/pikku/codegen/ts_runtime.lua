-- The fixed part of client.ts (errors, HTTP over fetch, channels over WebSocket); ts_client adds the rest.
-- luacheck: no max line length (the template is TypeScript / Lua source of its own)
return [==[
// ---- runtime: no dependency beyond fetch and WebSocket ---------------------------------------

/** The names an error can have: the server's (pikku.errors) and the client's own. */
export type ErrorName = ServerErrorName | 'NetworkError' | 'ConnectionClosed' | 'Timeout' | (string & {});

/** One problem of a 422 UnprocessableContent: where (a JSON Pointer) and what. */
export interface ValidationProblem { path: string; message: string }

/**
 * An error answer (HTTP status >= 400, or a channel's error frame) as a typed object. Client-side
 * failures have status 0: NetworkError (fetch failed), ConnectionClosed (the channel closed before
 * the reply), Timeout (no reply in time).
 */
export class PikkuError<N extends string = ErrorName, P = unknown> extends Error {
  override readonly name: N;
  readonly status: number;
  readonly payload: P | undefined;
  readonly errorId: string | undefined;
  constructor(name: N, status: number, message: string, payload?: P, errorId?: string) {
    super(message);
    this.name = name;
    this.status = status;
    this.payload = payload;
    this.errorId = errorId;
  }
}

/** A 422 UnprocessableContent, with the list of problems. */
export type ValidationError = PikkuError<'UnprocessableContent', { errors: ValidationProblem[] }>;

/** Whether e is a PikkuError (optionally with this name). */
export function isPikkuError<N extends ErrorName>(e: unknown, name?: N): e is PikkuError<N> {
  return e instanceof PikkuError && (name === undefined || e.name === name);
}

/** Whether e is a 422 UnprocessableContent with payload.errors. */
export function isValidationError(e: unknown): e is ValidationError {
  return e instanceof PikkuError && e.name === 'UnprocessableContent';
}

function statusOf(name: string): number {
  return (ERROR_STATUS as Record<string, number>)[name] ?? 500;
}

function toError(body: unknown, status: number, fallback: string): PikkuError {
  const b = (body && typeof body === 'object' ? body : {}) as Record<string, unknown>;
  const name = typeof b.name === 'string' ? b.name : fallback;
  const message = typeof b.message === 'string' ? b.message : fallback;
  return new PikkuError(name, status, message, b.payload, typeof b.errorId === 'string' ? b.errorId : undefined);
}

type QueryValue = string | number | boolean | null | undefined | unknown[] | Record<string, unknown>;

export interface ClientOptions {
  /** Where the app is served, e.g. "http://127.0.0.1:8080" (default: the page's own origin). */
  baseUrl?: string;
  /** A bearer token (what a login function returned) sent as Authorization: Bearer ... */
  token?: string;
  /** fetch's credentials mode; "include" for cookie sessions with another origin (default "same-origin"). */
  credentials?: RequestCredentials;
  /**
   * Keep the session cookie here and send it back (for Node and other runtimes without a cookie jar;
   * browsers keep cookies themselves). Default: on when there is no document.
   */
  cookieJar?: boolean;
  /** Headers sent with every request. */
  headers?: Record<string, string>;
  /** Another fetch (default: globalThis.fetch). */
  fetch?: typeof fetch;
  /** The WebSocket class for channels (default: globalThis.WebSocket; in Node 20, the ws package's). */
  WebSocket?: WebSocketClass;
}

/** What the channel client needs of a WebSocket (the browser's, Node 22's or the ws package's). */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((ev: unknown) => void) | null;
  onmessage: ((ev: { data: unknown }) => void) | null;
  onclose: ((ev: { code: number; reason?: string }) => void) | null;
  onerror: ((ev: unknown) => void) | null;
}
export type WebSocketClass = new (url: string, protocols?: string | string[]) => WebSocketLike;

export class PikkuHttpClient {
  readonly baseUrl: string;
  protected token: string | undefined;
  protected readonly options: ClientOptions;
  private readonly cookies = new Map<string, string>();
  private readonly jar: boolean;

  constructor(options: ClientOptions = {}) {
    this.options = options;
    const origin = (globalThis as { location?: { origin?: string } }).location?.origin;
    this.baseUrl = (options.baseUrl ?? origin ?? '').replace(/\/+$/, '');
    this.token = options.token;
    this.jar = options.cookieJar ?? typeof (globalThis as { document?: unknown }).document === 'undefined';
  }

  /** Sets (or, with undefined, clears) the bearer token sent with every later request. */
  setToken(token: string | undefined): void {
    this.token = token;
  }

  /** The cookie header the jar sends (Node), or "" in a browser. */
  get cookieHeader(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  private keepCookies(res: Response): void {
    if (!this.jar) return;
    const h = res.headers as Headers & { getSetCookie?: () => string[] };
    const lines = h.getSetCookie ? h.getSetCookie() : (res.headers.get('set-cookie') ?? '').split(/,(?=\s*[^;=\s]+=)/);
    for (const line of lines) {
      const m = /^\s*([^=;\s]+)=([^;]*)(.*)$/.exec(line);
      if (!m) continue;
      const gone = m[2] === '' || /;\s*max-age=0/i.test(m[3]) || /;\s*expires=[^;]*1970/i.test(m[3]);
      if (gone) this.cookies.delete(m[1]); else this.cookies.set(m[1], m[2]);
    }
  }

  /** One call: path params into the path, the rest into the query (GET, HEAD, DELETE) or a JSON body. */
  protected async call<T>(method: string, route: string, params: readonly string[], input: object | undefined,
    body: boolean): Promise<T> {
    const rest: Record<string, unknown> = { ...(input ?? {}) };
    let path = route.replace(/([:*])([A-Za-z_][A-Za-z0-9_]*)/g, (_m, kind: string, name: string) => {
      const v = rest[name];
      delete rest[name];
      if (v === undefined || v === null) throw new TypeError(`${method} ${route}: ${name} is required`);
      const s = String(v);
      return kind === '*' ? s.split('/').map(encodeURIComponent).join('/') : encodeURIComponent(s);
    });
    let payload: string | undefined;
    if (body) {
      payload = JSON.stringify(rest);
    } else {
      const q = new URLSearchParams();
      for (const [k, v] of Object.entries(rest) as [string, QueryValue][]) {
        if (v === undefined) continue;
        for (const one of Array.isArray(v) ? v : [v]) {
          q.append(k, one !== null && typeof one === 'object' ? JSON.stringify(one) : String(one));
        }
      }
      const qs = q.toString();
      if (qs) path += '?' + qs;
    }
    return this.send<T>(method, path, payload);
  }

  /** A request to path (with its query) with an optional JSON body; answers the decoded result. */
  protected async send<T>(method: string, path: string, body?: string): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...(this.options.headers ?? {}) };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    const cookie = this.jar ? this.cookieHeader : '';
    if (cookie) headers.cookie = cookie;
    const doFetch = this.options.fetch ?? globalThis.fetch;
    let res: Response;
    try {
      res = await doFetch(this.baseUrl + path, {
        method, headers, body, credentials: this.options.credentials ?? 'same-origin',
      });
    } catch (e) {
      throw new PikkuError('NetworkError', 0, `${method} ${path}: ${(e as Error).message ?? String(e)}`);
    }
    this.keepCookies(res);
    const type = res.headers.get('content-type') ?? '';
    const text = res.status === 204 || res.status === 205 || method === 'HEAD' ? '' : await res.text();
    let value: unknown = text === '' ? undefined : text;
    if (text !== '' && /json/i.test(type)) {
      try { value = JSON.parse(text); } catch { value = text; }
    }
    if (!res.ok) throw toError(value, res.status, res.statusText || 'Error');
    return value as T;
  }

  /** POST /rpc/<name> with {"data": data}. */
  protected async rpcCall<T>(name: string, data: unknown): Promise<T> {
    return this.send<T>('POST', '/rpc/' + encodeURIComponent(name), JSON.stringify({ data: data ?? {} }));
  }

  /** The ws:// (or wss://) URL of a channel route. */
  protected wsUrl(route: string, params: Record<string, string | number> = {}, query: Record<string, QueryValue> = {}): string {
    const path = route.replace(/[:*]([A-Za-z_][A-Za-z0-9_]*)/g, (_m, name: string) => {
      const v = params[name];
      if (v === undefined) throw new TypeError(`channel route ${route}: params.${name} is required`);
      return encodeURIComponent(String(v));
    });
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) q.append(k, String(v));
    const qs = q.toString();
    return this.baseUrl.replace(/^http/, 'ws') + path + (qs ? '?' + qs : '');
  }
}

/** A reply: the handler's object result with the routing key (and the request's id) added. */
export type ChannelReply<O, K extends string, V extends string> =
  (O extends Record<string, unknown> ? O : { result?: O }) & { [P in K]: V } & { id?: string };

/** What a topic subscriber receives: the published {topic, data} message. */
export interface TopicMessage<T = unknown> { topic: string; data: T }

export interface ChannelOptions {
  /** The route's path parameters and the query (the channel's opening data). */
  params?: Record<string, string | number>;
  query?: Record<string, string | number | boolean>;
  protocols?: string | string[];
  /** Reconnect after the connection drops (default true), waiting initialDelayMs, doubling up to maxDelayMs. */
  reconnect?: boolean;
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** How long a request waits for its reply (default 30000 ms). */
  timeoutMs?: number;
  /** Makes the socket (e.g. (url, p) => new WS(url, p, { headers })); default: new options.WebSocket(url, protocols). */
  webSocketFactory?: (url: string, protocols?: string | string[]) => WebSocketLike;
}

type Pending = { resolve: (v: unknown) => void; reject: (e: unknown) => void; timer: ReturnType<typeof setTimeout> };

/**
 * A channel connection: typed send per routing-key value, replies correlated by id, error frames as
 * PikkuError, subscribe(topic, callback), reconnect with backoff (subscriptions restored).
 */
export class PikkuChannel<M extends { [V in keyof M]: { input: unknown; output: unknown } }, K extends string,
  Topic extends string = string> {
  private ws: WebSocketLike | undefined;
  private opening: Promise<void> | undefined;
  private closedByUser = false;
  private attempt = 0;
  private seq = 0;
  private readonly pending = new Map<string, Pending[]>();
  private readonly topics = new Map<string, Set<(data: unknown, msg: TopicMessage) => void>>();
  private readonly openHooks = new Set<(reconnected: boolean) => void | Promise<void>>();
  private readonly messageHooks = new Set<(msg: unknown) => void>();
  private readonly errorHooks = new Set<(e: PikkuError) => void>();
  private opened = false;

  constructor(
    private readonly url: string,
    readonly routingKey: K,
    private readonly keepsId: Readonly<Record<string, boolean>>,
    private readonly subscribeValue: string | undefined,
    private readonly unsubscribeValue: string | undefined,
    private readonly options: ChannelOptions & { WebSocket?: WebSocketClass } = {},
  ) {}

  /** Whether the socket is open now. */
  get connected(): boolean {
    return this.ws !== undefined && this.ws.readyState === 1;
  }

  /** Opens the connection (sends and subscribe do it too); resolves once it is open. */
  connect(): Promise<void> {
    this.closedByUser = false;
    if (this.connected) return Promise.resolve();
    if (!this.opening) this.opening = this.open();
    return this.opening;
  }

  private open(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const Ctor = this.options.WebSocket ?? (globalThis as { WebSocket?: WebSocketClass }).WebSocket;
      const make = this.options.webSocketFactory ?? (Ctor ? (u: string, p?: string | string[]) => new Ctor(u, p) : undefined);
      if (!make) {
        this.opening = undefined;
        reject(new PikkuError('ConnectionClosed', 0, 'no WebSocket: pass options.WebSocket (e.g. the ws package in Node 20)'));
        return;
      }
      const ws = make(this.url, this.options.protocols);
      this.ws = ws;
      let isOpen = false;
      ws.onopen = () => {
        isOpen = true;
        const reconnected = this.opened;
        this.opened = true;
        this.attempt = 0;
        void this.afterOpen(reconnected).then(() => { this.opening = undefined; resolve(); }, (e) => { this.opening = undefined; reject(e); });
      };
      ws.onmessage = (ev) => this.receive(ev.data);
      ws.onerror = () => { /* onclose follows */ };
      ws.onclose = (ev) => {
        if (this.ws === ws) this.ws = undefined;
        this.failPending(new PikkuError('ConnectionClosed', 0, `the channel connection closed (${ev.code})`));
        if (!isOpen) { this.opening = undefined; reject(new PikkuError('ConnectionClosed', 0, `cannot connect to ${this.url} (${ev.code})`)); }
        if (!this.closedByUser && this.options.reconnect !== false) this.scheduleReconnect();
      };
    });
  }

  private async afterOpen(reconnected: boolean): Promise<void> {
    for (const hook of this.openHooks) await hook(reconnected);
    if (reconnected && this.subscribeValue) {
      for (const topic of this.topics.keys()) await this.request(this.subscribeValue, { topic });
    }
  }

  private scheduleReconnect(): void {
    const initial = this.options.initialDelayMs ?? 250;
    const max = this.options.maxDelayMs ?? 10000;
    const delay = Math.min(max, initial * 2 ** this.attempt) * (0.75 + Math.random() * 0.5);
    this.attempt++;
    setTimeout(() => {
      if (this.closedByUser || this.connected || this.opening) return;
      this.opening = this.open();
      this.opening.catch(() => { /* onclose schedules the next try */ });
    }, delay);
  }

  private failPending(e: PikkuError): void {
    for (const list of this.pending.values()) for (const p of list) { clearTimeout(p.timer); p.reject(e); }
    this.pending.clear();
  }

  private receive(raw: unknown): void {
    let msg: unknown = raw;
    if (typeof raw === 'string') { try { msg = JSON.parse(raw); } catch { msg = raw; } }
    if (msg && typeof msg === 'object' && !Array.isArray(msg)) {
      const m = msg as Record<string, unknown>;
      const id = m.id === undefined ? undefined : String(m.id);
      const isError = typeof m.error === 'string' && typeof m.errorName === 'string';
      const list = id !== undefined ? this.pending.get(id) : undefined;
      if (list && list.length > 0) {
        const p = list.shift()!;
        if (list.length === 0) this.pending.delete(id!);
        clearTimeout(p.timer);
        if (isError) {
          const name = m.errorName as string;
          p.reject(new PikkuError(name, statusOf(name), m.error as string, m.payload, m.errorId as string | undefined));
        } else {
          p.resolve(m);
        }
        return;
      }
      if (isError) {
        const name = m.errorName as string;
        const e = new PikkuError(name, statusOf(name), m.error as string, m.payload, m.errorId as string | undefined);
        for (const h of this.errorHooks) h(e);
        return;
      }
      if (typeof m.topic === 'string' && this.topics.has(m.topic)) {
        for (const cb of this.topics.get(m.topic)!) cb(m.data, m as unknown as TopicMessage);
        return;
      }
    }
    for (const h of this.messageHooks) h(msg);
  }

  /** Sends {[routingKey]: value, ...data, id} and resolves with the reply, or rejects with its error frame. */
  async request<V extends string>(value: V, data: unknown): Promise<unknown> {
    await this.connect();
    const ws = this.ws;
    if (!ws) throw new PikkuError('ConnectionClosed', 0, 'the channel is not connected');
    const body: Record<string, unknown> = { ...((data ?? {}) as Record<string, unknown>) };
    let id: string;
    if (this.keepsId[value] && body.id !== undefined) id = String(body.id);
    else { id = 'c' + (++this.seq); body.id = id; }
    body[this.routingKey] = value;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const list = this.pending.get(id);
        const i = list ? list.findIndex((p) => p.timer === timer) : -1;
        if (list && i >= 0) list.splice(i, 1);
        reject(new PikkuError('Timeout', 0, `no reply to ${this.routingKey} "${value}" within ${this.options.timeoutMs ?? 30000} ms`));
      }, this.options.timeoutMs ?? 30000);
      const list = this.pending.get(id) ?? [];
      list.push({ resolve, reject, timer });
      this.pending.set(id, list);
      ws.send(JSON.stringify(body));
    });
  }

  /** Typed send: the handler of routing-key value `value`, with its input; resolves with its reply. */
  send<V extends keyof M & string>(value: V, data: M[V]['input']): Promise<ChannelReply<M[V]['output'], K, V>> {
    return this.request(value, data) as Promise<ChannelReply<M[V]['output'], K, V>>;
  }

  /**
   * Calls callback with the data of every message published to topic (sending the channel's
   * subscribe handler, when it has one); resolves with a function that unsubscribes.
   */
  async subscribe<T = unknown>(topic: Topic, callback: (data: T, message: TopicMessage<T>) => void): Promise<() => Promise<void>> {
    let set = this.topics.get(topic);
    const first = !set;
    if (!set) { set = new Set(); this.topics.set(topic, set); }
    const cb = callback as (data: unknown, msg: TopicMessage) => void;
    set.add(cb);
    if (first && this.subscribeValue) {
      try { await this.request(this.subscribeValue, { topic }); } catch (e) {
        set.delete(cb);
        if (set.size === 0) this.topics.delete(topic);
        throw e;
      }
    } else {
      await this.connect();
    }
    return async () => {
      const s = this.topics.get(topic);
      if (!s || !s.delete(cb) || s.size > 0) return;
      this.topics.delete(topic);
      if (this.unsubscribeValue && this.connected) await this.request(this.unsubscribeValue, { topic });
    };
  }

  /** Runs hook on every open (reconnected: false the first time), before subscriptions are restored:
   *  the place to authenticate the connection again. Returns a function that removes it. */
  onOpen(hook: (reconnected: boolean) => void | Promise<void>): () => void {
    this.openHooks.add(hook);
    return () => { this.openHooks.delete(hook); };
  }

  /** Messages that are neither replies nor topic events (e.g. what on_connect sends). */
  onMessage(hook: (msg: unknown) => void): () => void {
    this.messageHooks.add(hook);
    return () => { this.messageHooks.delete(hook); };
  }

  /** Error frames that answer no request of this client. */
  onError(hook: (e: PikkuError) => void): () => void {
    this.errorHooks.add(hook);
    return () => { this.errorHooks.delete(hook); };
  }

  /** Closes the connection for good (no reconnect). */
  close(code = 1000): void {
    this.closedByUser = true;
    const ws = this.ws;
    this.ws = undefined;
    if (ws) ws.close(code);
    this.failPending(new PikkuError('ConnectionClosed', 0, 'the channel was closed by the client'));
  }
}
]==]

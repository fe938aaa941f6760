// The generated channel client across a dropped connection: it reconnects with backoff, runs its onOpen
// hook again (auth) and restores its subscriptions. Bundled with esbuild and run by 50-codegen.test.mjs.
import { PikkuClient, type Todo, type WebSocketClass } from './client';

export async function run(baseUrl: string, WebSocketImpl: WebSocketClass, drop: () => Promise<void>,
  log: (step: string) => void): Promise<void> {
  const client = new PikkuClient({ baseUrl, WebSocket: WebSocketImpl });
  const ch = client.todosLiveChannel({ initialDelayMs: 100, maxDelayMs: 1000 });
  const opens: boolean[] = [];
  ch.onOpen(async (reconnected) => {
    await ch.auth({ username: 'demo', password: 'test' });
    opens.push(reconnected);   // after auth: requests sent while a hook runs are not held back
  });
  const events: Todo[] = [];
  await ch.subscribe<Todo>('todo-created', (t) => { events.push(t); });
  log('subscribed');
  await drop();
  const until = async (cond: () => boolean, what: string) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 50));
    if (!cond()) throw new Error(`timed out waiting for ${what}`);
  };
  await until(() => opens.length === 2 && ch.connected, 'the reconnect');
  if (opens[0] !== false || opens[1] !== true) throw new Error(`onOpen got ${JSON.stringify(opens)}`);
  log('reconnected');
  // the subscription is restored after the hook: the reply to its subscribe comes before this list
  const listed = await ch.list({});
  if (listed.action !== 'list') throw new Error('no list reply');
  let made: Todo | undefined;
  for (let i = 0; i < 40 && !made; i++) {   // the restarted worker may still be starting
    try { made = (await client.createTodo({ title: 'after reconnect' })).todo; } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  await until(() => events.some((e) => e.id === made?.id), 'the event after the reconnect');
  log('event after reconnect');
  ch.close();
}

// A small program using the generated client.ts for apps/todos: CRUD, RPC, login, a typed 422, a channel event.
// Bundled with esbuild and run by Node (codegen test) and in Chromium (codegen browser test).
import {
  PikkuClient, PikkuError, isValidationError, isPikkuError,
  type CreateTodoInput, type Todo, type WebSocketClass,
} from './client';

function expect(cond: boolean, what: string): void {
  if (!cond) throw new Error(`check failed: ${what}`);
}

/** Runs the scenario against baseUrl; log(step) after each step that passed. */
export async function run(baseUrl: string, WebSocketImpl: WebSocketClass | undefined,
  log: (step: string) => void): Promise<void> {
  const client = new PikkuClient({ baseUrl, WebSocket: WebSocketImpl });

  // CRUD
  const input: CreateTodoInput = { title: 'from ts', priority: 'high', tags: ['ts'] };
  const { todo } = await client.createTodo(input);
  const created: Todo = todo;
  expect(created.title === 'from ts' && created.priority === 'high', 'create');
  log('create');
  const got = await client.getTodo({ id: created.id });
  expect(got.todo !== null && got.todo.id === created.id, 'get');
  log('get');
  const list = await client.listTodos({ completed: false });
  expect(list.todos.some((t) => t.id === created.id) && list.total >= 1, 'list');
  log('list');
  const upd = await client.updateTodo({ id: created.id, title: 'renamed', tags: [] });
  expect(upd.success && upd.todo?.title === 'renamed' && upd.todo.tags.length === 0, 'update');
  log('update');
  const done = await client.completeTodo({ id: created.id });
  expect(done.todo?.completed === true, 'complete');
  log('complete');

  // an exposed RPC
  const greeting = await client.rpc('greet', { name: 'TypeScript' });
  expect(greeting.message === 'Hello, TypeScript!' && typeof greeting.timestamp === 'number', 'rpc');
  log('rpc');

  // a 422 as a typed error
  try {
    await client.createTodo({ title: '' });
    expect(false, 'a 422 was expected');
  } catch (e) {
    expect(isValidationError(e), 'validation error type');
    if (isValidationError(e)) {
      expect(e.status === 422 && e.name === 'UnprocessableContent', '422 name and status');
      expect(e.payload?.errors[0]?.path === '/title', '422 payload');
      expect(typeof e.errorId === 'string' && e.errorId.length > 0, '422 errorId');
    }
  }
  log('validation error');

  // no session, then login: the session cookie, then the bearer token
  try {
    await new PikkuClient({ baseUrl }).getMe();
    expect(false, 'a 401 was expected');
  } catch (e) {
    expect(isPikkuError(e, 'MissingSession') && e.status === 401, 'missing session');
  }
  log('missing session');
  const login = await client.login({ username: 'demo', password: 'test' });
  expect(login.user.id === 'user1' && login.token.length > 0, 'login');
  log('login');
  const me = await client.getMe();
  expect(me.user.username === 'demo', 'cookie session');
  log('cookie session');
  const bearer = new PikkuClient({ baseUrl, cookieJar: false, credentials: 'omit' });
  bearer.setToken(login.token);
  expect((await bearer.getMe()).user.id === 'user1', 'bearer session');
  log('bearer session');
  try {
    await bearer.adminStats();
    expect(false, 'a 403 was expected');
  } catch (e) {
    expect(e instanceof PikkuError && e.name === 'Forbidden' && e.status === 403, 'forbidden');
  }
  log('forbidden');

  // a channel session: auth, subscribe, an event from an HTTP change, correlated replies
  const ch = client.todosLiveChannel();
  ch.onOpen(async () => { await ch.auth({ username: 'demo', password: 'test' }); });
  await ch.connect();
  log('channel auth');
  const events: Todo[] = [];
  await ch.subscribe<Todo>('todo-created', (t) => { events.push(t); });
  log('channel subscribe');
  const made = await client.createTodo({ title: 'event from ts' });
  for (let i = 0; i < 50 && events.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(events.length === 1 && events[0].id === made.todo.id && events[0].title === 'event from ts', 'channel event');
  log('channel event');
  const [a, b] = await Promise.all([ch.list({ completed: false }), ch.complete({ id: made.todo.id })]);
  expect(a.action === 'list' && a.total >= 1 && b.action === 'complete' && b.todo?.completed === true, 'channel replies');
  log('channel replies');
  try {
    await ch.create({ title: '' });
    expect(false, 'an error frame was expected');
  } catch (e) {
    expect(isValidationError(e) && e.status === 422, 'channel error frame');
  }
  log('channel error frame');
  ch.close();

  const del = await client.deleteTodo({ id: created.id });
  expect(del.success, 'delete');
  log('delete');
}

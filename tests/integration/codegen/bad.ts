// Deliberate type errors against the generated client.ts: each line marked EXPECT-ERROR must fail tsc.
import { PikkuClient } from './client';

const client = new PikkuClient({ baseUrl: 'http://127.0.0.1:8080' });

export async function wrong(): Promise<void> {
  await client.createTodo({ title: 42 }); // EXPECT-ERROR wrong field type
  await client.createTodo({ priority: 'high' }); // EXPECT-ERROR missing required field
  await client.deleteAllTodos(); // EXPECT-ERROR unknown route
  await client.createTodo({ title: 'x', priority: 'urgent' }); // EXPECT-ERROR a value outside the enum
  await client.rpc('nope', {}); // EXPECT-ERROR unknown RPC
  const r = await client.listTodos();
  const n: string = r.total; // EXPECT-ERROR result typed from the output schema
  await client.todosLiveChannel().list({ completed: 'yes' }); // EXPECT-ERROR channel input typed
  void n;
}

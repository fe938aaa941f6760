// Runs the bundled program.ts against a live server: node run-node.mjs BUNDLE BASE_URL (ws from tests/integration).
import WebSocket from 'ws';
const [bundle, baseUrl] = process.argv.slice(2);
const { run } = await import(bundle);
await run(baseUrl, WebSocket, (step) => console.log('ok ' + step));
console.log('ts client scenario passed');
process.exit(0);

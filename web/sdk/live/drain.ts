// A client of a node that drains, for tests/web/test_sdk.py (not a suite of
// its own): it connects, prints `ready`, and once the node has said `bye`
// and the client has decided when to reconnect, prints both as JSON.
//
//     node --experimental-websocket build/live/drain.js URL USERNAME PASSWORD

import { ChatClient, type ChatEvent, register, type WebSocketLike } from '../src/index.js';

const [url, username, password] = process.argv.slice(2) as [string, string, string];
const webSocket = (at: string): WebSocketLike =>
  new (globalThis as unknown as { WebSocket: new (url: string) => WebSocketLike }).WebSocket(at);

await register({ url, username, password, webSocket });
// Back-off of 500 ms and a jitter draw of one half: the wait is the node's retry plus 250 ms.
const client = await ChatClient.connect({
  url,
  auth: { username, password, device: 'drain' },
  webSocket,
  backoffBase: 500,
  random: () => 0.5,
});
const seen: ChatEvent[] = [];
const disconnected = new Promise<void>((resolve) =>
  client.on((event) => {
    seen.push(event);
    if (event.type === 'disconnected') resolve();
  }),
);
console.log('ready');
await disconnected;
client.close();
console.log(JSON.stringify(seen.filter((event) => event.type === 'bye' || event.type === 'disconnected')));

// The SDK against a real node over real WebSockets (Node's own, behind
// --experimental-websocket). tests/web/test_sdk.py starts the node and
// passes its URL in CHAT_NODE_URL; its heartbeat is 1 s and it takes a
// device for gone after 2 s of silence, so presence and idle ends are quick.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { decode } from '@msgpack/msgpack';

import {
  Blocked,
  ChatClient,
  type ChatEvent,
  type ClientOptions,
  type KeyValueStorage,
  NotFound,
  register,
  TooLong,
  type WebSocketLike,
} from '../src/index.js';

const URL = process.env['CHAT_NODE_URL'] ?? '';
const PASSWORD = 'correct horse battery';
const TWO_53 = 2n ** 53n;

type Factory = ClientOptions['webSocket'];
const webSocket: Factory = (url) => new (globalThis as unknown as { WebSocket: new (url: string) => WebSocketLike }).WebSocket(url);

let accounts = 0;
/** A fresh account: its username. */
async function account(): Promise<string> {
  const username = `u${process.pid}x${accounts++}`;
  await register({ url: URL, username, password: PASSWORD, webSocket });
  return username;
}

function connect(username: string, extra: Partial<ClientOptions> = {}): Promise<ChatClient> {
  return ChatClient.connect({ url: URL, auth: { username, password: PASSWORD, device: 'test' }, webSocket, ...extra });
}

/** The first event from now on that `match` accepts, within `ms`. */
function next<T extends ChatEvent['type']>(
  client: ChatClient,
  type: T,
  match: (event: Extract<ChatEvent, { type: T }>) => boolean = () => true,
  ms = 10_000,
): Promise<Extract<ChatEvent, { type: T }>> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${type} event within ${ms} ms`));
    }, ms);
    const off = client.on((event) => {
      if (event.type === type && match(event as Extract<ChatEvent, { type: T }>)) {
        clearTimeout(timer);
        off();
        resolve(event as Extract<ChatEvent, { type: T }>);
      }
    });
  });
}

/** A key-value storage in memory, shared by the clients of one test like a page's localStorage. */
function memoryStorage(): KeyValueStorage & { readonly items: Map<string, string> } {
  const items = new Map<string, string>();
  return {
    items,
    getItem: (key) => items.get(key) ?? null,
    setItem: (key, value) => void items.set(key, value),
    removeItem: (key) => void items.delete(key),
  };
}

/**
 * Real sockets that this test can cut: `cutOnSendReply` closes the next one
 * to get the `ok` of a send just before the SDK would read it, so the node
 * stored the message and the client never heard.
 */
class Cutter {
  armed = false;
  cuts = 0;
  readonly factory: Factory = (url) => {
    const ws = webSocket(url);
    let handler: WebSocketLike['onmessage'] = null;
    const cutter = this;
    ws.onmessage = (event) => {
      if (cutter.armed && isSendReply(event.data)) {
        cutter.armed = false;
        cutter.cuts++;
        ws.close();
        return;
      }
      handler?.(event);
    };
    return new Proxy(ws, {
      set(target, key, value) {
        if (key === 'onmessage') handler = value as WebSocketLike['onmessage'];
        else Reflect.set(target, key, value);
        return true;
      },
      get(target, key) {
        const value = Reflect.get(target, key) as unknown;
        return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
}

function isSendReply(data: unknown): boolean {
  const frame = decode(new Uint8Array(data as ArrayBuffer), { useBigInt64: true }) as Record<string, unknown>;
  return frame['t'] === 'ok' && 'seq' in frame;
}

test('the node is given', () => {
  assert.match(URL, /^wss?:\/\//, 'CHAT_NODE_URL');
});

test('register, log in, authenticate with the token: ids are exact decimal strings above 2^53', async () => {
  const name = await account();
  const first = await connect(name);
  assert.ok(BigInt(first.user) > TWO_53 && BigInt(first.device) > TWO_53, `${first.user} ${first.device}`);
  const again = await ChatClient.connect({ url: URL, auth: { token: first.token }, webSocket });
  assert.equal(again.user, first.user);
  assert.equal(again.device, first.device);
  assert.equal(await again.lookup(name), first.user);
  first.close();
  again.close();
});

test('an id at 2^63-1 reaches the node exactly: not_found, not a bad request or a closed connection', async () => {
  const client = await connect(await account());
  await assert.rejects(client.direct('9223372036854775807'), NotFound);
  assert.ok(client.connected);
  client.close();
});

test('direct chat both ways between two SDK clients', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const [alice, bob] = [await connect(aliceName), await connect(bobName)];
  const channel = await alice.direct(await alice.lookup(bobName));
  assert.equal(await bob.direct(alice.user), channel, 'both get the same channel');
  const toBob = next(bob, 'message');
  const sent = await alice.send(channel, 'hi bob 😀');
  const got = (await toBob).message;
  assert.deepEqual([got.channel, got.seq, got.sender, got.body, got.cid], [channel, sent.seq, alice.user, 'hi bob 😀', sent.cid]);
  const toAlice = next(alice, 'message');
  await bob.send(channel, 'hi alice');
  assert.equal((await toAlice).message.body, 'hi alice');
  assert.deepEqual(alice.outbox, [], 'sent entries leave the outbox');
  alice.close();
  bob.close();
});

test('every message delivered is acked, once per channel and turn, so the node pushes it to no one', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const acks: Record<string, unknown>[] = [];
  const watching: Factory = (url) => {
    const ws = webSocket(url);
    const send = ws.send.bind(ws);
    ws.send = (data) => {
      const frame = decode(data, { useBigInt64: true }) as Record<string, unknown>;
      if (frame['t'] === 'ack') acks.push(frame);
      send(data);
    };
    return ws;
  };
  const [alice, bob] = [await connect(aliceName), await connect(bobName, { webSocket: watching })];
  const channel = await alice.direct(await alice.lookup(bobName));
  const toBob = next(bob, 'message');
  const sent = await alice.send(channel, 'ack me');
  await toBob;
  for (let waited = 0; acks.length === 0 && waited < 5000; waited += 50) await new Promise((done) => setTimeout(done, 50));
  assert.deepEqual(acks.map((ack) => [String(ack['channel']), Number(ack['seq'])]), [[channel, sent.seq]]);
  alice.close();
  bob.close();
});

test('a group: created with its members, every message reaches each of them', async () => {
  const names = [await account(), await account(), await account()];
  const [alice, bob, carol] = await Promise.all(names.map((name) => connect(name)));
  const added = next(bob!, 'channel');
  const group = await alice!.group('launch 🚀', [bob!.user, carol!.user]);
  const event = await added;
  assert.deepEqual([event.channel, event.kind, event.name], [group, 'group', 'launch 🚀']);
  assert.deepEqual(event.members, [alice!.user, bob!.user, carol!.user].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1)));
  const atBob = next(bob!, 'message', (e) => e.message.channel === group);
  const atCarol = next(carol!, 'message', (e) => e.message.channel === group);
  await alice!.send(group, 'all hands');
  assert.equal((await atBob).message.body, 'all hands');
  assert.equal((await atCarol).message.body, 'all hands');
  const info = (await carol!.channels()).find((c) => c.channel === group)!;
  assert.equal(info.last, 1);
  for (const client of [alice, bob, carol]) client!.close();
});

test('history pages back through a channel, ascending within each page, nothing twice', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const alice = await connect(aliceName);
  const channel = await alice.direct(await alice.lookup(bobName));
  for (let i = 1; i <= 25; i++) await alice.send(channel, `m${i}`);
  const bodies: string[] = [];
  let before = 26;
  for (;;) {
    const page = await alice.history(channel, { before, limit: 10 });
    bodies.unshift(...page.messages.map((m) => m.body));
    if (!page.more) break;
    before = page.messages[0]!.seq;
  }
  assert.deepEqual(bodies, Array.from({ length: 25 }, (_, i) => `m${i + 1}`));
  alice.close();
});

test('typing and read receipts reach the other member', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const [alice, bob] = [await connect(aliceName), await connect(bobName)];
  const channel = await alice.direct(await alice.lookup(bobName));
  const typing = next(bob, 'typing');
  await alice.typing(channel);
  assert.deepEqual(await typing, { type: 'typing', channel, user: alice.user });
  const { seq } = await alice.send(channel, 'read me');
  const receipt = next(alice, 'receipt', (e) => e.user === bob.user);
  await bob.read(channel, seq);
  assert.deepEqual(await receipt, { type: 'receipt', channel, user: bob.user, seq });
  alice.close();
  bob.close();
});

test('presence: asked, cached, and told when a contact comes and goes', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const alice = await connect(aliceName);
  let bob = await connect(bobName);
  await alice.direct(bob.user);
  const [asked] = await alice.presence([bob.user]);
  assert.equal(asked!.online, true);
  assert.equal(alice.presenceOf(bob.user)?.online, true);
  const gone = next(alice, 'presence', (e) => e.user === bob.user && !e.online);
  bob.close();
  await gone;
  assert.equal(alice.presenceOf(bob.user)?.online, false, 'the cache follows the events');
  const back = next(alice, 'presence', (e) => e.user === bob.user && e.online);
  bob = await connect(bobName);
  await back;
  alice.close();
  bob.close();
});

test('heartbeats keep an idle client connected past the node\'s idle time-out', async () => {
  const client = await connect(await account());
  const events: ChatEvent[] = [];
  client.on((event) => events.push(event));
  await new Promise((resolve) => setTimeout(resolve, 5000)); // 2.5 idle time-outs of this node
  assert.ok(client.connected);
  assert.deepEqual(events.filter((e) => e.type === 'disconnected' || e.type === 'bye'), []);
  client.close();
});

test('a lost reply: the send goes again after the reconnect with the same cid, and the node stores it once', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const cutter = new Cutter();
  const alice = await connect(aliceName, { webSocket: cutter.factory, backoffBase: 50, backoffCap: 200 });
  const channel = await alice.direct(await alice.lookup(bobName));
  const disconnected = next(alice, 'disconnected');
  const reconnected = next(alice, 'reconnected');
  cutter.armed = true;
  const sent = await alice.send(channel, 'once only', { cid: 'the-one-cid' });
  await disconnected;
  await reconnected;
  assert.equal(cutter.cuts, 1, 'the first reply was cut');
  const page = await alice.history(channel, { before: 1000 });
  assert.deepEqual(page.messages.map((m) => [m.seq, m.cid]), [[sent.seq, 'the-one-cid']]);
  alice.close();
});

test('a pending send outlives its client in the storage and goes again, same cid, from the next one', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const storage = memoryStorage();
  const cutter = new Cutter();
  const first = await connect(aliceName, { webSocket: cutter.factory, storage, backoffBase: 5000, backoffCap: 5000 });
  const channel = await first.direct(await first.lookup(bobName));
  cutter.armed = true;
  const outcome = first.send(channel, 'survives a reload', { cid: 'stored-cid' }).catch((error: unknown) => error);
  await next(first, 'disconnected');
  first.close(); // the page is gone before the reconnect
  assert.equal(((await outcome) as Error).name, 'ClientClosed');
  const saved = storage.items.get(`chat-sdk.${first.user}.outbox`)!;
  assert.match(saved, /stored-cid/);
  const second = await ChatClient.connect({ url: URL, auth: { token: first.token }, webSocket, storage });
  const resent = second.outbox.find((entry) => entry.cid === 'stored-cid');
  assert.ok(resent !== undefined, 'the entry is back in the outbox');
  const done = await next(second, 'outbox', (e) => e.entry.cid === 'stored-cid' && e.entry.state === 'sent');
  const page = await second.history(channel, { before: 1000 });
  assert.deepEqual(page.messages.map((m) => [m.seq, m.cid]), [[done.entry.seq, 'stored-cid']]);
  assert.equal(storage.items.has(`chat-sdk.${first.user}.outbox`), false, 'nothing left to send');
  second.close();
});

test('messages sent while a client was away arrive after its reconnect, in order, once each', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const cutter = new Cutter();
  const alice = await connect(aliceName);
  const bob = await connect(bobName, { webSocket: cutter.factory, backoffBase: 1500, backoffCap: 1500, random: () => 0.99 });
  const channel = await alice.direct(bob.user);
  const seen: string[] = [];
  bob.on((event) => event.type === 'message' && seen.push(event.message.body));
  const away = next(bob, 'disconnected');
  cutter.armed = true;
  const own = bob.send(channel, 'from bob');
  await away;
  for (const body of ['one', 'two', 'three']) await alice.send(channel, body);
  await next(bob, 'message', (e) => e.message.body === 'three');
  assert.equal((await own).seq, 1);
  assert.deepEqual(seen, ['one', 'two', 'three']);
  assert.equal(bob.cursors.get(channel), 4);
  alice.close();
  bob.close();
});

test('a lone surrogate in a body goes out well-formed: stored, received, and the connection stays', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const [alice, bob] = [await connect(aliceName), await connect(bobName)];
  const channel = await alice.direct(bob.user);
  const events: ChatEvent[] = [];
  alice.on((event) => events.push(event));
  const got = next(bob, 'message');
  const sending = alice.send(channel, 'half an emoji: \ud83d!');
  assert.equal((await got).message.body, 'half an emoji: \ufffd!');
  await sending;
  assert.ok(alice.connected);
  assert.deepEqual(events.filter((e) => e.type === 'disconnected'), []);
  alice.close();
  bob.close();
});

test('a body the node refuses is marked failed, not resent forever; retry and discard', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  // The SDK's own count would refuse it first: let it through to see the node's answer.
  const alice = await connect(aliceName, { maxBodyChars: 200_000 });
  const channel = await alice.direct(await alice.lookup(bobName));
  const body = '😀'.repeat(100_001);
  const failed = next(alice, 'outbox', (e) => e.entry.state === 'failed');
  await assert.rejects(alice.send(channel, body, { cid: 'too-long' }), TooLong);
  assert.ok((await failed).entry.error instanceof TooLong);
  assert.deepEqual(alice.outbox.map((e) => [e.cid, e.state]), [['too-long', 'failed']]);
  await assert.rejects(alice.retry('too-long'), TooLong);
  alice.discard('too-long');
  assert.deepEqual(alice.outbox, []);
  assert.equal((await alice.history(channel, { before: 10 })).messages.length, 0);
  alice.close();
  const strict = await connect(aliceName);
  await assert.rejects(strict.send(channel, body), TooLong, 'counted in code points before sending');
  assert.deepEqual(strict.outbox, []);
  await strict.send(channel, '😀'.repeat(100_000)); // exactly the limit
  strict.close();
});

test('blocking: the blocked user\'s sends into the direct channel fail with blocked', async () => {
  const [aliceName, bobName] = [await account(), await account()];
  const [alice, bob] = [await connect(aliceName), await connect(bobName)];
  const channel = await alice.direct(bob.user);
  await bob.block(alice.user);
  assert.deepEqual(await bob.blocked(), [alice.user]);
  await assert.rejects(alice.send(channel, 'let me in'), Blocked);
  assert.equal(alice.outbox[0]?.state, 'failed');
  await bob.unblock(alice.user);
  assert.deepEqual(await bob.blocked(), []);
  alice.close();
  bob.close();
});

test('devices, revoke and logout: a revoked client is told bye and stops', async () => {
  const name = await account();
  const [laptop, phone] = [await connect(name), await connect(name)];
  assert.deepEqual((await laptop.devices()).map((d) => d.device).sort(), [laptop.device, phone.device].sort());
  const bye = next(phone, 'bye');
  const ended = phone.events();
  await laptop.revoke(phone.device);
  assert.equal((await bye).reason, 'revoked');
  await assert.rejects(
    (async () => {
      for await (const _ of ended);
    })(),
    (error: Error) => error.name === 'ClientClosed' && (error.cause as Error).name === 'BadToken',
  );
  await laptop.logout();
  await assert.rejects(ChatClient.connect({ url: URL, auth: { token: laptop.token }, webSocket }), (e: Error) => e.name === 'BadToken');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { BadToken, ClientClosed, EventOverflow } from '../src/errors.js';
import { EventStream } from '../src/stream.js';
import type { ChatEvent } from '../src/types.js';

const typing = (user: string): ChatEvent => ({ type: 'typing', channel: '7', user });

test('listeners see every event in order; an iterator too, across awaits', async () => {
  const stream = new EventStream(10);
  const seen: string[] = [];
  stream.on((event) => seen.push((event as { user: string }).user));
  const iterator = stream.events();
  for (const user of ['1', '2', '3']) stream.emit(typing(user));
  stream.close();
  const iterated: string[] = [];
  for await (const event of iterator) iterated.push((event as { user: string }).user);
  assert.deepEqual(seen, ['1', '2', '3']);
  assert.deepEqual(iterated, ['1', '2', '3']);
});

test('an iterator left unread past its bound fails with EventOverflow after what it holds', async () => {
  const stream = new EventStream(2);
  const iterator = stream.events();
  for (const user of ['1', '2', '3']) stream.emit(typing(user));
  assert.equal(((await iterator.next()).value as { user: string }).user, '1');
  assert.equal(((await iterator.next()).value as { user: string }).user, '2');
  await assert.rejects(iterator.next(), EventOverflow);
});

test('a stream closed for a refused token ends its iterators with ClientClosed, its cause kept', async () => {
  const stream = new EventStream(2);
  const iterator = stream.events();
  const waiting = iterator.next();
  stream.close(new BadToken('bad_token', 'revoked'));
  const error = await waiting.then(() => null, (e: unknown) => e);
  assert.ok(error instanceof ClientClosed);
  assert.ok(error.cause instanceof BadToken);
});

test('a listener that throws does not keep the event from the others', async () => {
  const stream = new EventStream(2);
  // The runner's own handler would count the report as this test's failure.
  const runners = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const reported = new Promise<unknown>((resolve) => process.once('unhandledRejection', resolve)).finally(() => {
    for (const listener of runners) process.on('unhandledRejection', listener);
  });
  const seen: ChatEvent[] = [];
  stream.on(() => {
    throw new Error('app bug');
  });
  stream.on((event) => seen.push(event));
  stream.emit(typing('1'));
  assert.equal(seen.length, 1);
  assert.equal(((await reported) as Error).message, 'app bug');
});

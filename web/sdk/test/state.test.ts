// The sans-IO state of the client: back-off, heartbeat, presence cache, request ids.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Backoff } from '../src/backoff.js';
import { Heartbeat } from '../src/heartbeat.js';
import { ID_LIMIT, PendingTable } from '../src/pending.js';
import { PresenceCache } from '../src/presence.js';

/** A reproducible uniform source: a linear congruential generator. */
export function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

test('back-off draws uniformly from a window that doubles up to its cap (full jitter)', () => {
  const draws = [0.999, 0.5, 0.999, 0.999, 0.999, 0.999, 0.999, 0.999];
  const backoff = new Backoff(500, 4000, () => draws.shift()!);
  const delays = [0, 1, 2, 3, 4, 5, 6, 7].map(() => backoff.next());
  assert.deepEqual(delays.map(Math.round), [500, 500, 1998, 3996, 3996, 3996, 3996, 3996]);
  assert.ok(delays.every((delay) => delay >= 0 && delay <= 4000));
});

test('back-off puts its jitter on top of the node\'s retry, and starts over after reset', () => {
  const backoff = new Backoff(500, 30_000, () => 0.5);
  backoff.next();
  backoff.next();
  assert.equal(backoff.next(5000), 5000 + 0.5 * 2000);
  backoff.reset();
  assert.equal(backoff.next(), 250);
});

test('back-off spreads a crowd over the whole window: no two seeded clients agree', () => {
  const random = seeded(7);
  const delays = Array.from({ length: 1000 }, () => new Backoff(1000, 1000, random).next());
  assert.ok(Math.min(...delays) < 50 && Math.max(...delays) > 950);
  assert.ok(new Set(delays).size > 990);
});

test('back-off refuses a base above its cap', () => {
  assert.throws(() => new Backoff(2000, 1000, Math.random), RangeError);
});

test('a ping is due one heartbeat after the last frame sent; any request counts', () => {
  const beat = new Heartbeat(5000, 0);
  assert.deepEqual(beat.poll(4999), { action: 'wait', until: 5000 });
  beat.sent(3000); // a send: the node saw activity
  assert.deepEqual(beat.poll(5000), { action: 'wait', until: 8000 });
  assert.deepEqual(beat.poll(8000), { action: 'ping' });
});

test('a throttled timer that fires late pings at once, not a heartbeat later', () => {
  const beat = new Heartbeat(5000, 0);
  assert.deepEqual(beat.poll(61_000), { action: 'ping' }); // a background tab's timer, a minute late
});

test('a node silent for two heartbeats after a ping is dead; any frame from it is proof of life', () => {
  const beat = new Heartbeat(5000, 0);
  beat.pinged(5000);
  assert.deepEqual(beat.poll(14_999), { action: 'wait', until: 15_000 });
  assert.deepEqual(beat.poll(15_000), { action: 'dead', silentFor: 15_000 });
  const alive = new Heartbeat(5000, 0);
  alive.pinged(5000);
  alive.received(40_000); // the reply came while the tab's timers slept
  assert.deepEqual(alive.poll(61_000), { action: 'ping' });
});

test('the presence cache keeps the most recently used users, up to its capacity', () => {
  const cache = new PresenceCache(2);
  cache.update([{ user: '1', online: true, last: 1 }, { user: '2', online: false, last: 2 }]);
  cache.get('1'); // read: now the most recent
  cache.update([{ user: '3', online: true, last: 3 }]);
  assert.deepEqual(cache.users(), ['1', '3']);
  assert.equal(cache.get('2'), undefined);
  cache.update([{ user: '1', online: false, last: 9 }]);
  assert.deepEqual(cache.get('1'), { user: '1', online: false, last: 9 });
});

test('request ids are unique among those in flight, wrap below 2^31, and a foreign id finds nothing', () => {
  const table = new PendingTable<string>(3);
  assert.equal(table.add('a'), 1);
  assert.equal(table.add('b'), 2);
  assert.equal(table.pop(1n), 'a');
  assert.equal(table.get(2n ** 63n - 1n), undefined);
  assert.equal(table.get(0n), undefined);
  table.add('c');
  table.add('d');
  assert.ok(table.full);
  assert.throws(() => table.add('e'), RangeError);
  assert.deepEqual(table.drain().sort(), ['b', 'c', 'd']);
  assert.throws(() => new PendingTable(ID_LIMIT), RangeError);
});

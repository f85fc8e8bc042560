import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ChatError, errorFor, NotMember, RateLimited, TooLong, Unavailable } from '../src/errors.js';
import { onRefusal, Outbox } from '../src/outbox.js';
import type { OutboxEntry } from '../src/types.js';

const entry = (cid: string): OutboxEntry => ({ cid, channel: '7', body: `body ${cid}`, mentions: [], state: 'pending' });

test('an entry goes pending, then leaves the list as sent with its seq', () => {
  const box = new Outbox();
  box.add(entry('a'));
  assert.deepEqual(box.sent('a', 4, 99), { ...entry('a'), state: 'sent', seq: 4, ts: 99 });
  assert.deepEqual(box.list(), []);
  assert.equal(box.sent('a', 4, 99), undefined);
});

test('a refused entry stays failed with its error, until retried or discarded', () => {
  const box = new Outbox();
  box.add(entry('a'));
  const error = new TooLong('too_long', 'long');
  assert.equal(box.failed('a', error)!.state, 'failed');
  assert.equal(box.list()[0]!.error, error);
  assert.deepEqual(box.pending('a'), entry('a'));
  assert.ok(box.discard('a'));
  assert.deepEqual(box.list(), []);
});

test('refusals that will not change are failures; rate limits and unavailability wait', () => {
  assert.equal(onRefusal(new RateLimited('rate_limited', '', 100)), 'later');
  assert.equal(onRefusal(new Unavailable('unavailable', '')), 'later');
  for (const code of ['too_long', 'bad_request', 'not_member', 'blocked', 'internal', 'newer_than_the_sdk']) {
    assert.equal(onRefusal(errorFor(code, '')), 'fail', code);
  }
});

test('saved and loaded, pending entries come back pending and failed ones with their code', () => {
  const box = new Outbox();
  box.add(entry('a'));
  box.add(entry('b'));
  box.failed('b', new NotMember('not_member', 'gone'));
  const text = box.save(null);
  const again = new Outbox();
  const loaded = again.load(text);
  assert.deepEqual(loaded.map((e) => [e.cid, e.state]), [['a', 'pending'], ['b', 'failed']]);
  assert.ok(loaded[1]!.error instanceof NotMember);
  assert.equal((loaded[1]!.error as ChatError).msg, 'gone');
});

test('two clients on one storage keep each other\'s entries and replace only their own', () => {
  const tab1 = new Outbox();
  const tab2 = new Outbox();
  tab1.add(entry('a'));
  let stored = tab1.save(null);
  tab2.add(entry('b'));
  stored = tab2.save(stored); // tab2 never saw a: keeps it
  tab1.sent('a', 1, 1);
  stored = tab1.save(stored); // a leaves, b stays
  assert.deepEqual(new Outbox().load(stored).map((e) => e.cid), ['b']);
});

test('what storage holds that is not an outbox is ignored, not fatal', () => {
  for (const text of ['not json', '{"a":1}', '[{"cid":1}]', '[null]']) {
    assert.deepEqual(new Outbox().load(text), [], text);
  }
});

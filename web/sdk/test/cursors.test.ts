import assert from 'node:assert/strict';
import { test } from 'node:test';

import { CursorTracker } from '../src/cursors.js';
import type { ChannelInfo, Message } from '../src/types.js';

function msg(seq: number, channel = '7', device = '20', cid = `c${seq}`): Message {
  return { channel, seq, sender: '1', device, body: '', ts: 0, cid };
}

function info(channel: string, last: number): ChannelInfo {
  return { channel, kind: 'group', name: 'g', members: ['1'], last, read: 0 };
}

test('live messages in order are delivered once each; duplicates are skipped', () => {
  const t = new CursorTracker();
  for (const seq of [1, 2]) {
    assert.equal(t.onLive(msg(seq)), 'deliver');
    t.delivered(msg(seq));
  }
  assert.equal(t.onLive(msg(2)), 'skip');
  assert.equal(t.cursor('7'), 2);
});

test('a gap sends the channel to a worker, which fetches from the cursor and owns delivery', () => {
  const t = new CursorTracker();
  t.onLive(msg(1));
  t.delivered(msg(1));
  assert.equal(t.onLive(msg(4)), 'fetch');
  assert.ok(t.wantsSync);
  assert.equal(t.claim(), '7');
  assert.equal(t.onLive(msg(5)), 'fetch', 'live messages of a claimed channel are left to its worker');
  for (const seq of [2, 3, 4, 5]) {
    assert.equal(t.onSynced(msg(seq)), 'deliver');
    t.delivered(msg(seq));
  }
  assert.equal(t.pageDone('7', 1, false), false);
  assert.equal(t.cursor('7'), 5);
  assert.equal(t.claim(), null);
});

test('a list observed from its newest leaves those channels as history; later ones start at seq 1', () => {
  const t = new CursorTracker();
  t.observe([info('7', 40)], 'last');
  assert.equal(t.cursor('7'), 40);
  assert.ok(!t.wantsSync);
  t.observe([info('7', 41), info('8', 3)]);
  assert.equal(t.cursor('8'), 0);
  assert.deepEqual([t.claim(), t.claim()], ['7', '8']);
  assert.equal(t.onLive(msg(2, '9')), 'fetch', 'a channel first seen live is fetched from its start');
});

test('restored cursors win over the start rule, and a channel ahead of them is synced', () => {
  const t = new CursorTracker();
  t.restore([['7', 10]]);
  t.observe([info('7', 12)], 'last');
  assert.equal(t.cursor('7'), 10);
  assert.equal(t.claim(), '7');
});

test('this client\'s own sends advance the cursor and are not delivered back', () => {
  const t = new CursorTracker();
  t.device = '20';
  t.sending('7', 'mine');
  t.sent('7', 'mine', 1);
  assert.equal(t.cursor('7'), 1);
  t.sending('7', 'later');
  t.sent('7', 'later', 3); // beyond cursor + 1: remembered
  assert.equal(t.onLive(msg(2)), 'deliver');
  t.delivered(msg(2));
  assert.equal(t.cursor('7'), 3, 'the own seq 3 is passed over');
});

test('a synced message that is our own unacknowledged send is skipped, not delivered', () => {
  const t = new CursorTracker();
  t.device = '20';
  t.observe([info('7', 1)]);
  t.sending('7', 'c1');
  assert.equal(t.claim(), '7');
  assert.equal(t.onSynced(msg(1, '7', '20', 'c1')), 'skip');
  assert.equal(t.cursor('7'), 1);
});

test('a page that makes no progress ends the fetch instead of asking forever', () => {
  const t = new CursorTracker();
  t.observe([info('7', 5)]);
  assert.equal(t.claim(), '7');
  assert.equal(t.pageDone('7', 0, true), false);
  assert.ok(!t.wantsSync);
});

test('a hole inside a page stops delivery at the hole', () => {
  const t = new CursorTracker();
  t.observe([info('7', 3)]);
  t.claim();
  assert.equal(t.onSynced(msg(2)), 'fetch');
});

test('a channel left is forgotten', () => {
  const t = new CursorTracker();
  t.observe([info('7', 3)]);
  t.forget('7');
  assert.ok(!t.wantsSync);
  assert.equal(t.cursor('7'), 0);
});

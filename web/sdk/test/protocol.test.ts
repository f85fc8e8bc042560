import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Encoder } from '@msgpack/msgpack';

import { decodeFrame, encodeFrame, FrameError, type WireMap } from '../src/codec.js';
import { decodeServerFrame, Prepared, type Request } from '../src/protocol.js';
import { toHex } from './vectors.js';

const MESSAGE = { channel: 7n, sender: 3n, device: 4n, body: 'x', ts: 5n, cid: 'c' };

// The library itself writes the node's frames here, floats and all.
const node = new Encoder({ useBigInt64: true });

function decode(frame: WireMap, request?: Request, lenient = true): unknown {
  const prepared = request === undefined ? undefined : new Prepared(request);
  return decodeServerFrame(decodeFrame(node.encode(frame)), (id) => (id === 1n ? prepared : undefined), lenient);
}

test('a client skips an event type newer than itself; a strict reader refuses it', () => {
  assert.equal(decode({ t: 'reaction', channel: 7n }), null);
  assert.throws(() => decode({ t: 'reaction' }, undefined, false), FrameError);
});

test('an error code and a bye reason newer than the SDK are kept as their strings', () => {
  assert.deepEqual(decode({ t: 'err', id: 1n, code: 'shiny_new', msg: 'm' }), { type: 'err', id: 1n, code: 'shiny_new', msg: 'm' });
  assert.deepEqual(decode({ t: 'bye', reason: 'moved', retry: 10n }), { type: 'bye', reason: 'moved', retry: 10 });
  assert.throws(() => decode({ t: 'err', id: 1n, code: 'shiny_new', msg: 'm' }, undefined, false), FrameError);
});

test('an ok for a request no longer in flight comes back unread', () => {
  assert.deepEqual(decode({ t: 'ok', id: 2n, anything: 'at all' }), { type: 'ok', id: 2n, result: undefined });
});

test('an event frame carrying an id is neither a reply nor an event', () => {
  assert.throws(() => decode({ t: 'typing', id: 3n, channel: 7n, user: 3n }), FrameError);
});

const BAD_REPLIES: [string, Request, WireMap][] = [
  ['a page holding another channel', { t: 'sync', channel: '7', after: 0 }, { t: 'ok', id: 1n, messages: [{ ...MESSAGE, channel: 8n, seq: 1n }], more: false }],
  ['a page out of order', { t: 'sync', channel: '7', after: 0 }, { t: 'ok', id: 1n, messages: [{ ...MESSAGE, seq: 2n }, { ...MESSAGE, seq: 1n }], more: false }],
  ['a sync page at or before its cursor', { t: 'sync', channel: '7', after: 5 }, { t: 'ok', id: 1n, messages: [{ ...MESSAGE, seq: 5n }], more: false }],
  ['a history page at or after its start', { t: 'history', channel: '7', before: 5 }, { t: 'ok', id: 1n, messages: [{ ...MESSAGE, seq: 5n }], more: false }],
  ['a page over its limit', { t: 'sync', channel: '7', after: 0, limit: 1 }, { t: 'ok', id: 1n, messages: [{ ...MESSAGE, seq: 1n }, { ...MESSAGE, seq: 2n }], more: true }],
  ['a channels page not after its start', { t: 'channels', after: '9' }, { t: 'ok', id: 1n, channels: [{ channel: 9n, kind: 'group', name: 'g', members: [1n], last: 0n, read: 0n }], more: false }],
  ['an empty channels page saying more', { t: 'channels' }, { t: 'ok', id: 1n, channels: [], more: true }],
  ['a seq past 2^53', { t: 'send', channel: '7', body: 'x', cid: 'c' }, { t: 'ok', id: 1n, channel: 7n, seq: 2n ** 53n + 1n, ts: 1n }],
  ['an id of 0', { t: 'direct', user: '3' }, { t: 'ok', id: 1n, channel: 0n }],
  ['an id past 2^63-1', { t: 'direct', user: '3' }, { t: 'ok', id: 1n, channel: 2n ** 63n }],
  ['a float for an id', { t: 'direct', user: '3' }, { t: 'ok', id: 1n, channel: 1.5 }],
  ['a string for a boolean', { t: 'history', channel: '7', before: 5 }, { t: 'ok', id: 1n, messages: [], more: 'no' }],
  ['an empty token', { t: 'login', username: 'alice', password: 'password', device: 'd' }, { t: 'ok', id: 1n, user: 1n, device: 2n, token: '' }],
  ['an unknown channel kind', { t: 'channels' }, { t: 'ok', id: 1n, channels: [{ channel: 9n, kind: 'forum', name: 'g', members: [1n], last: 0n, read: 0n }], more: false }],
];

for (const [what, request, reply] of BAD_REPLIES) {
  test(`a reply the protocol does not allow is a FrameError: ${what}`, () => {
    assert.throws(() => decode(reply, request), FrameError);
  });
}

test('a v1 node\'s channels reply without more reads as complete', () => {
  const ok = decode({ t: 'ok', id: 1n, channels: [] }, { t: 'channels' }) as { result: unknown };
  assert.deepEqual(ok.result, { channels: [], more: false });
});

const BAD_REQUESTS: [string, () => Request][] = [
  ['an id of 0', () => ({ t: 'direct', user: '0' })],
  ['a negative id', () => ({ t: 'direct', user: '-3' })],
  ['an id past 2^63-1', () => ({ t: 'direct', user: '9223372036854775808' })],
  ['an id with a leading zero', () => ({ t: 'direct', user: '07' })],
  ['an id as a number', () => ({ t: 'direct', user: 7 as unknown as string })],
  ['a fractional seq', () => ({ t: 'read', channel: '7', seq: 1.5 })],
  ['a seq past 2^53', () => ({ t: 'read', channel: '7', seq: 2 ** 53 })],
  ['a body that is not a string', () => ({ t: 'send', channel: '7', body: 3 as unknown as string, cid: 'c' })],
  ['an unknown notify level', () => ({ t: 'notify', channel: '7', level: 'loud' as 'all' })],
  ['a web push target without keys', () => ({ t: 'push', target: { kind: 'webpush', endpoint: 'https://p' } as never })],
  ['an unknown push kind', () => ({ t: 'push', target: { kind: 'pager', endpoint: 'x' } as never })],
];

for (const [what, build] of BAD_REQUESTS) {
  test(`a request is checked where it is built: ${what}`, () => {
    assert.throws(() => new Prepared(build()), TypeError);
  });
}

test('optional fields at their defaults stay out of the frame, as a v1 node expects', () => {
  const send = new Prepared({ t: 'send', channel: '7', body: 'b', cid: 'c', mentions: [] }).frame(1n);
  assert.deepEqual(Object.keys(send), ['t', 'id', 'channel', 'body', 'cid']);
  const apns = new Prepared({ t: 'push', target: { kind: 'apns', endpoint: 'tok', sandbox: false } }).frame(1n);
  assert.deepEqual(Object.keys(apns), ['t', 'id', 'kind', 'endpoint']);
});

test('members are a set: repeated ids go once, ascending by value, not by text', () => {
  const group = new Prepared({ t: 'group', name: 'g', members: ['10', '9', '10', '9223372036854775807'] }).frame(1n);
  assert.deepEqual(group['members'], [9n, 10n, 2n ** 63n - 1n]);
  assert.equal(toHex(encodeFrame(group)).endsWith('93090acf7fffffffffffffff'), true);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Encoder } from '@msgpack/msgpack';

import { decodeFrame, encodeFrame, FrameError } from '../src/codec.js';
import { toHex } from './vectors.js';

const hex = (value: bigint): string => toHex(encodeFrame({ v: value })).slice(6); // after 81 a1 76

test('the library alone sends a number past 2^32 as a float and a bigint always in 9 bytes: the trap', () => {
  const library = new Encoder({ useBigInt64: true });
  assert.equal(toHex(library.encode(2 ** 32 + 1)), 'cb41f0000000100000');
  assert.equal(toHex(library.encode(7n)), 'cf0000000000000007');
});

test('integers go out in their smallest msgpack form, never as floats', () => {
  assert.equal(hex(0n), '00');
  assert.equal(hex(127n), '7f');
  assert.equal(hex(128n), 'cc80');
  assert.equal(hex(65535n), 'cdffff');
  assert.equal(hex(2n ** 32n - 1n), 'ceffffffff');
  assert.equal(hex(2n ** 32n), 'cf0000000100000000');
  assert.equal(hex(2n ** 53n + 1n), 'cf0020000000000001');
  assert.equal(hex(2n ** 63n - 1n), 'cf7fffffffffffffff');
});

test('a number in a frame to send is refused: it would reach the node as a float', () => {
  assert.throws(() => encodeFrame({ id: 1 as unknown as bigint }), TypeError);
});

test('a string with a lone surrogate is sent well-formed, so the node never sees invalid UTF-8', () => {
  assert.equal(toHex(encodeFrame({ b: 'a\ud800' })), '81a162a461efbfbd');
});

test('every integer of a decoded frame is a bigint, exact past 2^53', () => {
  const frame = decodeFrame(Buffer.from('83a16107a162cf7fffffffffffffffa163cb3ff8000000000000', 'hex'));
  assert.deepEqual(frame, { a: 7n, b: 2n ** 63n - 1n, c: 1.5 });
});

const NOT_FRAMES: Record<string, string> = {
  'an array, not a map': '9101',
  'an integer key': '810102',
  'the same key twice': '82a16101a16102',
  'the same key twice, nested': '81a17882a16101a16102',
  'trailing bytes': '80c0',
  'a truncated map': '82a16101',
  'an extension type': '81a161d40100',
  'an empty extension': '81a161c70001',
  'invalid UTF-8 in a string': '81a161a3eda080',
  'the key __proto__': '81a95f5f70726f746f5f5f01',
  'nesting 33 deep': `81a161${'91'.repeat(32)}01`,
};

for (const [what, bytes] of Object.entries(NOT_FRAMES)) {
  test(`not a frame: ${what}`, () => {
    assert.throws(() => decodeFrame(Buffer.from(bytes, 'hex')), FrameError);
  });
}

test('nesting 32 deep is a frame', () => {
  const frame = decodeFrame(Buffer.from(`81a161${'91'.repeat(31)}01`, 'hex'));
  assert.ok(frame['a'] !== undefined);
});

// The golden vectors: every frame decodes to the value it describes and
// every request (and the raw codec, for every frame) encodes to its exact bytes.

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { type Wire, decodeFrame, encodeFrame } from '../src/codec.js';
import { decodeServerFrame, Prepared, type Request } from '../src/protocol.js';
import { codePoints } from '../src/text.js';
import { type Json, type Vector, fromHex, loadVectors, toHex } from './vectors.js';

const vectors = [...loadVectors('frames.json'), ...loadVectors('large.json')];
const byName = new Map(vectors.map((vector) => [vector.name, vector]));

// Which fields hold ids (decimal strings in the SDK) and which counts (numbers).
const ID_FIELDS = new Set(['channel', 'user', 'device', 'sender', 'members', 'users', 'mentions']);

function sdkValue(key: string, value: Json, t: string): unknown {
  if (Array.isArray(value)) return value.map((item) => sdkValue(key, item, t));
  if (typeof value === 'bigint') {
    const isId = ID_FIELDS.has(key) || (t === 'channels' && key === 'after');
    return isId ? value.toString() : Number(value);
  }
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, sdkValue(k, v, t)]));
  }
  return value;
}

/** The SDK request a client_to_server vector shows. */
function requestOf(vector: Vector): { request: Request; id: bigint } {
  const { t, id, ...fields } = vector.frame;
  const values = sdkValue('', fields, t as string) as Record<string, unknown>;
  if (t === 'push') {
    const { preview, ...target } = values;
    const request = target['endpoint'] === null ? { t, target: null } : { t, target, ...(preview === true ? { preview } : {}) };
    return { request: request as Request, id: id as bigint };
  }
  return { request: { t, ...values } as Request, id: id as bigint };
}

function wire(value: Json): Wire {
  return value as Wire; // parseExact already gives bigint integers, as decodeFrame does
}

for (const vector of vectors) {
  test(`${vector.name}: the raw frame decodes to the vector's map and encodes back to its bytes`, () => {
    const decoded = decodeFrame(fromHex(vector.hex));
    assert.deepEqual(decoded, wire(vector.frame));
    assert.equal(toHex(encodeFrame(decoded)), vector.hex);
  });

  if (vector.direction === 'client_to_server') {
    test(`${vector.name}: the SDK's request encodes to exactly the vector's bytes`, () => {
      const { request, id } = requestOf(vector);
      assert.equal(toHex(encodeFrame(new Prepared(request).frame(id))), vector.hex);
    });
  } else {
    test(`${vector.name}: the SDK decodes the node's frame to the value it describes`, () => {
      const inFlight = vector.reply_to === undefined ? undefined : requestOf(byName.get(vector.reply_to)!);
      const prepared = inFlight === undefined ? undefined : new Prepared(inFlight.request);
      const decoded = decodeServerFrame(
        decodeFrame(fromHex(vector.hex)),
        (id) => (inFlight !== undefined && id === inFlight.id ? prepared : undefined),
        false,
      );
      const { t, id, ...fields } = vector.frame;
      let expected: unknown;
      if (t === 'ok') {
        const result = sdkValue('', fields, inFlight?.request.t ?? '') as Record<string, unknown>;
        const bare = Object.keys(result).length === 0 && inFlight?.request.t !== 'push';
        const paged = inFlight?.request.t === 'channels' && !('more' in result) ? { ...result, more: false } : result;
        expected = { type: 'ok', id, result: bare ? undefined : paged };
      } else if (t === 'err') {
        expected = { type: 'err', id, ...(sdkValue('', fields, 'err') as object) };
      } else if (t === 'msg') {
        expected = { type: 'message', message: sdkValue('', fields, 'msg') };
      } else {
        expected = { type: t, ...(sdkValue('', fields, t as string) as object) };
      }
      assert.deepEqual(decoded, expected);
    });
  }
}

test('ids 1, 2^53+1 and 2^63-1 are in the vectors and round-trip exactly as decimal strings', () => {
  const ids = new Set<string>();
  for (const vector of vectors.filter((v) => v.direction === 'server_to_client' && v.frame['t'] === 'ok')) {
    const prepared = vector.reply_to === undefined ? undefined : new Prepared(requestOf(byName.get(vector.reply_to)!).request);
    const ok = decodeServerFrame(decodeFrame(fromHex(vector.hex)), () => prepared, false);
    JSON.stringify(ok, (key, value: unknown) => {
      if (ID_FIELDS.has(key) && typeof value === 'string') ids.add(value);
      return typeof value === 'bigint' ? value.toString() : value;
    });
  }
  for (const id of ['1', '9007199254740993', '9223372036854775807']) assert.ok(ids.has(id), id);
  // And back: the SDK's decimal string of each goes out as the same integer.
  const frame = new Prepared({ t: 'presence', users: ['9223372036854775807', '9007199254740993', '1'] }).frame(18n);
  assert.equal(toHex(encodeFrame(frame)), byName.get('presence')!.hex);
});

test('the 100,000-character body is 100,000 code points, 200,000 UTF-16 units, and survives both ways', () => {
  const send = byName.get('send_longest_body')!;
  const body = send.frame['body'] as string;
  assert.equal(codePoints(body), 100_000);
  assert.equal(body.length, 200_000);
  const { request, id } = requestOf(send);
  assert.equal(toHex(encodeFrame(new Prepared(request).frame(id))), send.hex);
  const event = byName.get('event_msg_longest_body')!;
  const decoded = decodeServerFrame(decodeFrame(fromHex(event.hex)), () => undefined, false) as { message: { body: string } };
  const expected = event.frame['body'] as string;
  assert.equal(codePoints(expected), 100_000);
  assert.ok(decoded.message.body === expected, 'the 100,000-character msg body decodes unchanged');
});

test('every vector of the files was checked against a typed SDK value', () => {
  const types = new Set(vectors.map((v) => v.frame['t'] as string));
  for (const t of ['register', 'login', 'auth', 'ping', 'send', 'sync', 'history', 'channels', 'push', 'block', 'blocked', 'ok', 'err', 'msg', 'bye']) {
    assert.ok(types.has(t), t);
  }
});


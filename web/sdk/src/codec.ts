// MessagePack in and out, with the strictness the wire promises.
//
// @msgpack/msgpack does the bytes; this module holds the two rules it cannot
// know. Integers: JavaScript numbers cannot hold the node's ids (all above
// 2^53), so every integer of a decoded frame is a bigint, and every integer
// of a frame to send is given as a bigint. The library encodes a bigint in
// its 64-bit form always, and a number above 2^32 (with 64-bit support on) as
// a float, which the node refuses where an integer is due; so an integer
// below 2^32 goes to it as a number (the smallest msgpack form) and anything
// larger as a bigint (uint64, also the smallest form there). The golden
// vectors check the bytes. Strings: made well-formed before encoding (see
// text.ts), decoded as strict UTF-8.
//
// What comes from the node is checked as the Python client checks it: a map
// at the top, string keys, no key twice, no extension types, no trailing
// bytes, valid UTF-8, at most 32 levels of nesting. Two distinctions the
// library does not report are not checked: a float with an integral value
// reads as that integer, and a msgpack bin holding UTF-8 reads as a string.

import { Decoder, Encoder } from '@msgpack/msgpack';

import { decodeUtf8, Utf8Error, wellFormed } from './text.js';

/** A decoded value: integers are bigint, floats number, strings well-formed. */
export type Wire = null | boolean | bigint | number | string | readonly Wire[] | WireMap;
export interface WireMap {
  readonly [key: string]: Wire;
}

/** Bytes that are not a frame of this protocol at all: the connection cannot go on. */
export class FrameError extends Error {
  override name = 'FrameError';
}

/** Deepest nesting of arrays and maps in a frame (the frame's own map is depth 1). */
export const MAX_DEPTH = 32;
const TWO_32 = 2n ** 32n;

const encoder = new Encoder({ useBigInt64: true });

/** The bytes of one binary WebSocket message holding `frame`. */
export function encodeFrame(frame: WireMap): Uint8Array {
  return encoder.encode(forLibrary(frame));
}

function forLibrary(value: Wire): unknown {
  switch (typeof value) {
    case 'bigint':
      return value >= 0n && value < TWO_32 ? Number(value) : value;
    case 'string':
      return wellFormed(value);
    case 'number':
      // Every integer of a frame is a bigint: a number here is a bug that
      // would reach the node as a float.
      throw new TypeError(`a number (${value}) in a frame to send: integers go as bigint`);
    case 'boolean':
      return value;
    default:
      if (value === null) return null;
      if (Array.isArray(value)) return value.map(forLibrary);
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, forLibrary(item)]));
  }
}

// Keys the library read in the frame being decoded: one per key, so fewer
// keys in the decoded maps than this means one key came twice (and the
// library kept the last).
let keysRead = 0;

const decoder = new Decoder({
  useBigInt64: true,
  rawStrings: true, // decoded below, strictly
  maxExtLength: 0,
  mapKeyConverter: (key: unknown): string => {
    if (typeof key !== 'string') throw new FrameError('map keys must be strings');
    keysRead++;
    return key;
  },
});

/** Decode one frame, or raise FrameError saying why it is not one. */
export function decodeFrame(data: Uint8Array): WireMap {
  keysRead = 0;
  let raw: unknown;
  try {
    raw = decoder.decode(data);
  } catch (error) {
    if (error instanceof FrameError) throw error;
    throw new FrameError(`not msgpack: ${(error as Error).message}`);
  }
  if (!isPlainMap(raw)) throw new FrameError('a frame must be a msgpack map');
  const walk = { keys: 0 };
  const frame = normalise(raw, 1, walk) as WireMap;
  if (walk.keys !== keysRead) throw new FrameError('a map holds the same key twice');
  return frame;
}

function isPlainMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && Object.getPrototypeOf(value) === Object.prototype;
}

function normalise(value: unknown, depth: number, walk: { keys: number }): Wire {
  switch (typeof value) {
    case 'bigint':
    case 'boolean':
      return value;
    case 'number':
      // uint/int up to 32 bits arrive as numbers, floats too.
      return Number.isInteger(value) ? BigInt(value) : value;
    default:
      break;
  }
  if (value === null) return null;
  if (value instanceof Uint8Array) {
    try {
      return decodeUtf8(value);
    } catch (error) {
      if (error instanceof Utf8Error) throw new FrameError(`strings must be valid UTF-8: ${error.message}`);
      throw error;
    }
  }
  if (depth > MAX_DEPTH) throw new FrameError(`frame nested deeper than ${MAX_DEPTH}`);
  if (Array.isArray(value)) return value.map((item) => normalise(item, depth + 1, walk));
  if (isPlainMap(value)) {
    const keys = Object.keys(value);
    walk.keys += keys.length;
    const map: Record<string, Wire> = {};
    for (const key of keys) map[key] = normalise(value[key], depth + 1, walk);
    return map;
  }
  // ExtData: an extension type (a timestamp, say); no field of the protocol has one.
  throw new FrameError('msgpack extension types are not allowed');
}

// Typed reads of a decoded frame's fields: validation at the edge.
//
// Every read returns a value of the promised type and range or raises
// FieldError. Absent and nil are the same for optional fields; unknown
// fields are ignored, so later protocol versions may add them. A lenient
// read (the client's) keeps a string of an open set (an error code, a bye
// reason, a notify level) that this version does not know; a strict one (the
// conformance tests) refuses it.

import type { Wire, WireMap } from './codec.js';
import { MAX_INT63 } from './ids.js';
import { codePoints } from './text.js';
import type { Id } from './types.js';

export class FieldError extends Error {
  override name = 'FieldError';
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export class Fields {
  constructor(
    private readonly raw: WireMap,
    readonly lenient = false,
  ) {}

  /** Present, possibly nil. */
  present(key: string): boolean {
    return Object.hasOwn(this.raw, key);
  }

  /** Present and not nil. */
  has(key: string): boolean {
    return this.present(key) && this.raw[key] !== null;
  }

  private get(key: string): Wire {
    const value = this.present(key) ? this.raw[key] : null;
    if (value === null || value === undefined) throw new FieldError(`missing field '${key}'`);
    return value;
  }

  private integer(key: string, lo: bigint): bigint {
    const value = this.get(key);
    if (typeof value !== 'bigint') throw new FieldError(`field '${key}' must be an integer`);
    if (value < lo || value > MAX_INT63) throw new FieldError(`field '${key}' must be in ${lo}..2^63-1`);
    return value;
  }

  /** A user, device or channel id: a positive 63-bit integer, as its decimal string. */
  id(key: string): Id {
    return this.integer(key, 1n).toString();
  }

  /** A request id: 0..2^63-1, kept a bigint (a client may pick any; the vectors use 2^63-1). */
  requestId(key: string): bigint {
    return this.integer(key, 0n);
  }

  /**
   * A seq, a count or a time (63-bit, at least `lo`) as a number. One past
   * 2^53 cannot be held exactly: no channel has that many messages, so a
   * node that sends one is broken, and the read refuses it rather than round.
   */
  count(key: string, lo = 0): number {
    const value = this.integer(key, BigInt(lo));
    if (value > MAX_SAFE) throw new FieldError(`field '${key}' is beyond 2^53, which this client cannot hold`);
    return Number(value);
  }

  optCount(key: string, lo = 0): number | undefined {
    return this.has(key) ? this.count(key, lo) : undefined;
  }

  /** A string of at least `lo` code points. */
  text(key: string, lo = 0): string {
    const value = this.get(key);
    if (typeof value !== 'string') throw new FieldError(`field '${key}' must be a string`);
    if (lo > 0 && codePoints(value) < lo) throw new FieldError(`field '${key}' must have at least ${lo} characters`);
    return value;
  }

  boolean(key: string): boolean {
    const value = this.get(key);
    if (typeof value !== 'boolean') throw new FieldError(`field '${key}' must be a boolean`);
    return value;
  }

  /** One of `known`, or, in a lenient read, any string (a value newer than this SDK). */
  known<T extends string>(key: string, known: readonly T[]): T | string {
    const value = this.text(key);
    if (known.includes(value as T) || this.lenient) return value;
    throw new FieldError(`field '${key}' has an unknown value`);
  }

  /** A string of a closed set: anything else is refused, lenient or not. */
  oneOf<T extends string>(key: string, values: readonly T[]): T {
    const value = this.text(key);
    if (!values.includes(value as T)) throw new FieldError(`field '${key}' has an unknown value`);
    return value as T;
  }

  /** A list of ids, as a set: ascending decimal strings, each once. */
  ids(key: string): Id[] {
    const value = this.get(key);
    if (!Array.isArray(value)) throw new FieldError(`field '${key}' must be a list of ids`);
    const unique = new Set<bigint>();
    for (const item of value as readonly Wire[]) {
      if (typeof item !== 'bigint' || item < 1n || item > MAX_INT63) {
        throw new FieldError(`field '${key}' must hold positive 63-bit integers`);
      }
      unique.add(item);
    }
    return [...unique].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String);
  }

  /** A list of maps, each to be read in turn. */
  maps(key: string): Fields[] {
    const value = this.get(key);
    const items = Array.isArray(value) ? (value as readonly Wire[]) : null;
    if (items === null || !items.every(isMap)) throw new FieldError(`field '${key}' must hold maps`);
    return items.map((item) => new Fields(item as WireMap, this.lenient));
  }
}

function isMap(value: Wire): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

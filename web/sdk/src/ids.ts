// Ids between the app (decimal strings) and the wire (64-bit integers).

import type { Id } from './types.js';

/** Ids, seqs and times are signed 63-bit on every store and client. */
export const MAX_INT63 = 2n ** 63n - 1n;

const DECIMAL = /^[1-9][0-9]{0,18}$/;

/** `id` as the wire's integer; a TypeError at the caller for anything but a positive 63-bit decimal. */
export function wireId(id: Id, what = 'id'): bigint {
  if (typeof id !== 'string' || !DECIMAL.test(id) || BigInt(id) > MAX_INT63) {
    throw new TypeError(`${what} must be the decimal string of a positive 63-bit integer, not ${String(id)}`);
  }
  return BigInt(id);
}

/** A seq, a cursor, a limit or a time as the wire's integer: a non-negative safe integer. */
export function wireCount(value: number, what: string, min = 0): bigint {
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`${what} must be an integer of at least ${min}, not ${String(value)}`);
  }
  return BigInt(value);
}

/** Members and users are sets: sent once each, ascending, as the golden vectors do. */
export function wireIdSet(ids: Iterable<Id>, what: string): bigint[] {
  const unique = new Set<bigint>();
  for (const id of ids) unique.add(wireId(id, what));
  return [...unique].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

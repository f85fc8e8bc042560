// The outbox: messages composed but not yet acknowledged, as the app shows them. Sans-IO.
//
// Each entry keeps the `cid` it was given when composed, so however often it
// goes out (after a reconnect, after the page reloads) the node stores it
// once. An entry leaves the list when the node acknowledges it (the `outbox`
// event shows it `sent`, with its seq) or when the app discards it; one the
// node refuses for good stays, `failed`, until the app retries or discards it.
//
// The list outlives the page in the injected storage. Several clients may
// share one storage (two tabs of one login): each writes back the entries of
// the others as it found them, replacing only those it knows.

import { ChatError, errorFor, RateLimited, Unavailable } from './errors.js';
import type { Id, OutboxEntry } from './types.js';

/** What an entry looks like in storage: JSON, the error by its code. */
interface Stored {
  readonly cid: string;
  readonly channel: Id;
  readonly body: string;
  readonly mentions: readonly Id[];
  readonly state: 'pending' | 'failed';
  readonly error?: { readonly code: string; readonly msg: string };
}

/**
 * What to do with a send the node refused: `later` (it said when: the rate
 * limit, a node briefly unavailable) or `fail` (the body, the channel or the
 * user will not change by retrying: too_long, bad_request, not_member,
 * blocked, and codes this SDK does not know).
 */
export function onRefusal(error: ChatError): 'later' | 'fail' {
  return error instanceof RateLimited || error instanceof Unavailable ? 'later' : 'fail';
}

export class Outbox {
  private readonly entries = new Map<string, OutboxEntry>();
  // Every cid this client has held: the stored entries it may replace.
  private readonly known = new Set<string>();

  /** Pending and failed entries, in the order they were composed. */
  list(): OutboxEntry[] {
    return [...this.entries.values()];
  }

  get(cid: string): OutboxEntry | undefined {
    return this.entries.get(cid);
  }

  /** A new entry, or one loaded from storage; replaces nothing. */
  add(entry: OutboxEntry): OutboxEntry {
    if (this.entries.has(entry.cid)) throw new RangeError(`cid ${entry.cid} is in the outbox already`);
    this.entries.set(entry.cid, entry);
    this.known.add(entry.cid);
    return entry;
  }

  /** The entry stored as `seq` at `ts`: it leaves the list; returns it as `sent`. */
  sent(cid: string, seq: number, ts: number): OutboxEntry | undefined {
    const entry = this.entries.get(cid);
    if (entry === undefined) return undefined; // discarded meanwhile
    this.entries.delete(cid);
    const { error: _error, ...rest } = entry;
    return { ...rest, state: 'sent', seq, ts };
  }

  failed(cid: string, error: Error): OutboxEntry | undefined {
    return this.replace(cid, (entry) => ({ ...entry, state: 'failed', error }));
  }

  /** A failed entry back to pending (`retry`). */
  pending(cid: string): OutboxEntry | undefined {
    return this.replace(cid, ({ error: _error, ...entry }) => ({ ...entry, state: 'pending' }));
  }

  discard(cid: string): boolean {
    return this.entries.delete(cid);
  }

  /** The entries to load from what storage holds (entries already held are left alone). */
  load(text: string | null): OutboxEntry[] {
    const loaded: OutboxEntry[] = [];
    for (const stored of parse(text)) {
      if (this.entries.has(stored.cid)) continue;
      const error = stored.error === undefined ? undefined : errorFor(stored.error.code, stored.error.msg);
      const entry: OutboxEntry = {
        cid: stored.cid,
        channel: stored.channel,
        body: stored.body,
        mentions: stored.mentions,
        state: stored.state,
        ...(error === undefined ? {} : { error }),
      };
      loaded.push(this.add(entry));
    }
    return loaded;
  }

  /** What to write back, given what storage holds now: the others' entries kept, ours replaced. */
  save(text: string | null): string {
    const others = parse(text).filter((stored) => !this.known.has(stored.cid));
    return JSON.stringify([...others, ...this.list().map(toStored)]);
  }

  private replace(cid: string, change: (entry: OutboxEntry) => OutboxEntry): OutboxEntry | undefined {
    const entry = this.entries.get(cid);
    if (entry === undefined) return undefined;
    const changed = change(entry);
    this.entries.set(cid, changed);
    return changed;
  }
}

function toStored(entry: OutboxEntry): Stored {
  const base = { cid: entry.cid, channel: entry.channel, body: entry.body, mentions: entry.mentions };
  if (entry.state !== 'failed') return { ...base, state: 'pending' };
  const error = entry.error;
  if (error instanceof ChatError) return { ...base, state: 'failed', error: { code: error.code, msg: error.msg } };
  return { ...base, state: 'failed', error: { code: 'internal', msg: error?.message ?? '' } };
}

/** Entries as stored; what does not read as one (another program's key, a corrupt value) is left out. */
function parse(text: string | null): Stored[] {
  if (text === null) return [];
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return [];
  }
  return Array.isArray(value) ? value.filter(isStored) : [];
}

function isStored(value: unknown): value is Stored {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  const error = v['error'] as Record<string, unknown> | undefined;
  return (
    typeof v['cid'] === 'string' &&
    typeof v['channel'] === 'string' &&
    typeof v['body'] === 'string' &&
    Array.isArray(v['mentions']) &&
    (v['mentions'] as unknown[]).every((id) => typeof id === 'string') &&
    (v['state'] === 'pending' || v['state'] === 'failed') &&
    (error === undefined || (typeof error['code'] === 'string' && typeof error['msg'] === 'string'))
  );
}

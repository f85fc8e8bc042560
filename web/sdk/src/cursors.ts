// Per-channel cursors: which messages the app has, which a sync must fetch. Sans-IO.
//
// A message reaches the app by one of two paths: live (`msg` events, handled
// as they arrive) or fetched (`sync` pages, handled by catch-up workers). The
// tracker makes both deliver each channel's messages exactly once and in seq
// order:
//
// - A channel's cursor is the highest seq such that 1..cursor were all
//   handed to the app or sent by this client (whose own messages the app has).
// - Live delivery is allowed only of cursor + 1 and only while no worker owns
//   the channel; anything else live is a duplicate (dropped) or a gap (the
//   channel goes "behind" and a worker claims it and fetches from the cursor).
// - A claimed channel is delivered by its one worker, page after page, until
//   nothing is known beyond the cursor.
//
// A channel first seen starts at 0: all its messages are new to the app. Only
// the channel list of the client's first connection may say otherwise
// (`observe(..., 'last')`): an app that shows history with `history` starts
// those at their newest message. Nothing here grows with traffic: state is
// per channel, and the own-seq set per channel is capped.

import type { ChannelInfo, Id, Message } from './types.js';

export type Verdict = 'deliver' | 'skip' | 'fetch';

interface ChannelState {
  // Invariant: cursor <= known.
  cursor: number;
  known: number; // highest seq known to exist
  claimed: boolean; // a worker owns delivery
  /** Seqs this client sent beyond cursor + 1; skipped when the cursor gets there. */
  readonly own: Set<number>;
}

export class CursorTracker {
  /** This client's device, once authenticated. */
  device: Id | null = null;
  private readonly channels = new Map<Id, ChannelState>();
  // Ordered set of channels a worker should claim. Invariant: a channel is in
  // it iff known > cursor and it is unclaimed, except between an onLive()
  // that said deliver and the delivered() that must follow.
  private readonly behind = new Set<Id>();
  // (channel, cid) of this client's sends awaiting their reply, with a count
  // for the rare app that sends one cid twice at once.
  private readonly sendingNow = new Map<string, number>();

  constructor(readonly ownLimit = 1024) {}

  /** Cursors an earlier run saved: for channels this tracker has not seen yet. */
  restore(cursors: Iterable<readonly [Id, number]>): void {
    for (const [channel, seq] of cursors) {
      if (!this.channels.has(channel)) this.channels.set(channel, fresh(seq));
    }
  }

  snapshot(): Map<Id, number> {
    return new Map([...this.channels].map(([channel, state]) => [channel, state.cursor]));
  }

  cursor(channel: Id): number {
    return this.channels.get(channel)?.cursor ?? 0;
  }

  get wantsSync(): boolean {
    return this.behind.size > 0;
  }

  // -- what the node says exists ----------------------------------------------

  /**
   * The node's channel list after (re)connecting: how far each channel goes.
   * Channels missing from it are kept: one joined just after the node made
   * the list may have delivered a live message already, and forgetting its
   * cursor would deliver that again. A channel the user left is dropped when
   * its sync says not_member (see forget). `unknownAt` is where a channel
   * without a cursor starts: at its first message, or its newest (`last`).
   */
  observe(channels: Iterable<ChannelInfo>, unknownAt: 'first' | 'last' = 'first'): void {
    for (const info of channels) {
      const state = this.state(info.channel, unknownAt === 'last' ? info.last : 0);
      state.known = Math.max(state.known, info.last);
      this.settle(info.channel, state);
    }
  }

  forget(channel: Id): void {
    this.channels.delete(channel);
    this.behind.delete(channel);
  }

  // -- the live path -------------------------------------------------------------

  onLive(message: Message): Verdict {
    const state = this.state(message.channel, 0);
    if (message.seq <= state.cursor) return 'skip';
    state.known = Math.max(state.known, message.seq);
    if (state.claimed) return 'fetch';
    if (message.seq === state.cursor + 1) return 'deliver';
    this.settle(message.channel, state);
    return 'fetch';
  }

  /** The app has `message`. */
  delivered(message: Message): void {
    const state = this.channels.get(message.channel);
    if (state === undefined) return;
    // Only what a verdict allowed is delivered, and nothing moves the cursor
    // in between: anything else is a bug of this SDK.
    if (message.seq !== state.cursor + 1) throw new Error(`delivered seq ${message.seq} after cursor ${state.cursor}`);
    this.advance(message.channel, state, message.seq);
  }

  // -- the fetch path -----------------------------------------------------------

  /** A channel for a worker to bring up to date, now owned by it; null if none is behind. */
  claim(): Id | null {
    for (const channel of this.behind) {
      this.behind.delete(channel);
      this.channels.get(channel)!.claimed = true;
      return channel;
    }
    return null;
  }

  /** A message of a page fetched by the worker that claimed its channel. */
  onSynced(message: Message): Verdict {
    const state = this.channels.get(message.channel);
    if (state === undefined || message.seq <= state.cursor) return 'skip';
    // A hole inside a page: the node broke its promise of no gaps. Deliver
    // nothing past it; pageDone() sees no progress and stops.
    if (message.seq > state.cursor + 1) return 'fetch';
    state.known = Math.max(state.known, message.seq);
    if (message.device === this.device && this.sendingNow.has(key(message.channel, message.cid))) {
      // Our own send, stored but not yet acknowledged: the app has it.
      this.advance(message.channel, state, message.seq);
      return 'skip';
    }
    return 'deliver';
  }

  /** After a page fetched from `after`: true to fetch another, false when the channel is released. */
  pageDone(channel: Id, after: number, more: boolean): boolean {
    const state = this.channels.get(channel);
    if (state === undefined) return false;
    const progressed = state.cursor > after;
    if (progressed && more) return true;
    // The node has nothing past the cursor, though we saw a higher seq live or
    // it said `more`: believe it rather than ask forever. A real gap shows
    // again with the next live message or reconnect.
    if (!progressed) state.known = state.cursor;
    this.release(channel);
    return false;
  }

  /** The worker stops (done or failed); the channel is claimable again if still behind. */
  release(channel: Id): void {
    const state = this.channels.get(channel);
    if (state === undefined) return;
    state.claimed = false;
    this.settle(channel, state);
  }

  // -- this client's own sends --------------------------------------------------

  sending(channel: Id, cid: string): void {
    const k = key(channel, cid);
    this.sendingNow.set(k, (this.sendingNow.get(k) ?? 0) + 1);
  }

  /** The send with `cid` ended: stored as `seq`, or not (undefined). */
  sent(channel: Id, cid: string, seq: number | undefined): void {
    const k = key(channel, cid);
    const left = (this.sendingNow.get(k) ?? 1) - 1;
    if (left > 0) this.sendingNow.set(k, left);
    else this.sendingNow.delete(k);
    if (seq === undefined) return;
    const state = this.state(channel, 0);
    if (seq === state.cursor + 1) {
      this.advance(channel, state, seq);
    } else if (seq > state.cursor + 1) {
      state.own.add(seq);
      if (state.own.size > this.ownLimit) state.own.delete(Math.min(...state.own));
    }
  }

  // -- internals ------------------------------------------------------------------

  /** The channel's state, made with its cursor at `start` when first seen. */
  private state(channel: Id, start: number): ChannelState {
    let state = this.channels.get(channel);
    if (state === undefined) {
      state = fresh(start);
      this.channels.set(channel, state);
    }
    return state;
  }

  private advance(channel: Id, state: ChannelState, seq: number): void {
    // Every caller moves the cursor by exactly one, so own seqs stay above it.
    state.cursor = seq;
    while (state.own.delete(state.cursor + 1)) state.cursor++;
    state.known = Math.max(state.known, state.cursor);
    this.settle(channel, state);
  }

  private settle(channel: Id, state: ChannelState): void {
    if (state.known > state.cursor && !state.claimed) this.behind.add(channel);
    else this.behind.delete(channel);
  }
}

function fresh(seq: number): ChannelState {
  return { cursor: seq, known: seq, claimed: false, own: new Set() };
}

function key(channel: Id, cid: string): string {
  return `${channel} ${cid}`;
}

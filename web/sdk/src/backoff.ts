// Reconnect delays: exponential back-off with full jitter. Sans-IO.
//
// Full jitter (a uniform draw from [0, min(cap, base * 2^attempt)]) spreads a
// crowd of clients that lost the same node over the whole window, so they do
// not come back in synchronized waves. The random source is injected so that
// the schedule is reproducible in tests.

import type { Random } from './types.js';

export class Backoff {
  attempt = 0;

  /** `base` and `cap` in ms. */
  constructor(
    readonly base: number,
    readonly cap: number,
    private readonly random: Random,
  ) {
    if (!(base > 0 && base <= cap)) throw new RangeError(`need 0 < base <= cap, got base=${base} cap=${cap}`);
  }

  /** The upper bound of the next delay, before any floor. */
  window(): number {
    return Math.min(this.cap, this.base * 2 ** Math.min(this.attempt, 64));
  }

  /**
   * Ms to wait before the next attempt; counts the attempt. `floor` is a wait
   * the node asked for (`bye.retry`, an error's `retry`): the jitter goes on
   * top of it, so that the clients a draining node sends away do not all
   * return the moment its hint runs out.
   */
  next(floor = 0): number {
    const delay = floor + this.random() * this.window();
    this.attempt++;
    return delay;
  }

  /** A connection proved healthy: the next failure starts from `base` again. */
  reset(): void {
    this.attempt = 0;
  }
}

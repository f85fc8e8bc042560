// When to ping, and when a silent node is dead. Sans-IO.
//
// The node counts any frame from the client as activity and closes a device
// silent for six heartbeats. Pings are therefore due one heartbeat after the
// last frame the client sent (a busy client needs none), and a node that sent
// nothing back within two heartbeats of a ping is taken for dead.
//
// Everything is decided from the clock's readings, never by counting timer
// ticks: a background tab's throttled timer fires late, and when it does,
// the ping that is overdue goes at once (not a heartbeat later), while a reply
// that arrived meanwhile (socket events are not throttled like timers) keeps
// the connection from being taken for dead.

export type Beat =
  | { readonly action: 'ping' }
  | { readonly action: 'dead'; readonly silentFor: number }
  | { readonly action: 'wait'; readonly until: number };

export class Heartbeat {
  private lastSent: number;
  private lastReceived: number;
  private pingSentAt: number | null = null;

  /** `interval` in ms, `now` the clock at the connection's start. */
  constructor(
    readonly interval: number,
    now: number,
  ) {
    this.lastSent = now;
    this.lastReceived = now;
  }

  /** The client sent a frame (a ping included). */
  sent(now: number): void {
    this.lastSent = Math.max(this.lastSent, now);
  }

  /** A ping went out: the node owes an answer. */
  pinged(now: number): void {
    this.sent(now);
    this.pingSentAt = now;
  }

  /** A frame arrived: the node is alive. */
  received(now: number): void {
    this.lastReceived = Math.max(this.lastReceived, now);
    if (this.pingSentAt !== null && this.lastReceived >= this.pingSentAt) this.pingSentAt = null;
  }

  /** What to do at `now`; after a `ping` the driver calls `pinged`, after `wait` it looks again at `until`. */
  poll(now: number): Beat {
    if (this.pingSentAt !== null) {
      const deadline = this.pingSentAt + 2 * this.interval;
      if (now >= deadline) return { action: 'dead', silentFor: now - this.lastReceived };
      return { action: 'wait', until: deadline };
    }
    const due = this.lastSent + this.interval;
    return now >= due ? { action: 'ping' } : { action: 'wait', until: due };
  }
}

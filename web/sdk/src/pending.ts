// Request ids and the table of requests awaiting their reply. Sans-IO.
//
// Replies may come in any order, so each is matched to its request by id.
// The table is bounded: a connection admits a request only while it has
// room, so a burst of callers waits at the admission gate, never in here.

/** Ids run 1 .. ID_LIMIT-1 and then wrap; small integers keep frames short. */
export const ID_LIMIT = 2 ** 31;

export class PendingTable<W> {
  private next = 1;
  private readonly waiting = new Map<number, W>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity >= ID_LIMIT) {
      throw new RangeError(`capacity must be in 1..${ID_LIMIT - 1}, got ${capacity}`);
    }
  }

  get size(): number {
    return this.waiting.size;
  }

  get full(): boolean {
    return this.waiting.size >= this.capacity;
  }

  /** Register a request; returns its id, unique among the requests in flight. */
  add(waiter: W): number {
    if (this.full) throw new RangeError('too many requests in flight');
    // Terminates: fewer than capacity < ID_LIMIT-1 ids are taken.
    while (this.waiting.has(this.next)) this.advance();
    const id = this.next;
    this.advance();
    this.waiting.set(id, waiter);
    return id;
  }

  /** The waiter for a reply, left in the table; undefined for an id not in flight. */
  get(id: bigint): W | undefined {
    return id > 0n && id < BigInt(ID_LIMIT) ? this.waiting.get(Number(id)) : undefined;
  }

  /** The waiter for a reply, removed; undefined for an id not in flight (its caller gave up). */
  pop(id: bigint): W | undefined {
    const waiter = this.get(id);
    if (waiter !== undefined) this.waiting.delete(Number(id));
    return waiter;
  }

  /** Every waiter, removed: the connection is gone and none will get a reply. */
  drain(): W[] {
    const waiters = [...this.waiting.values()];
    this.waiting.clear();
    return waiters;
  }

  private advance(): void {
    this.next = this.next + 1 < ID_LIMIT ? this.next + 1 : 1;
  }
}

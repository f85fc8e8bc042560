// The presence cache: the latest known presence of the users an app looks at. Sans-IO.
//
// Fed by `presence` replies and events; bounded, evicting the least recently
// updated or read user, since an app draws the presence of the few users on
// screen and the node sends events only for users sharing a channel.

import type { Id, UserPresence } from './types.js';

export class PresenceCache {
  private readonly entries = new Map<Id, UserPresence>();

  constructor(readonly capacity = 4096) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity must be positive, got ${capacity}`);
  }

  get size(): number {
    return this.entries.size;
  }

  get(user: Id): UserPresence | undefined {
    const info = this.entries.get(user);
    if (info !== undefined) this.touch(user, info);
    return info;
  }

  update(infos: Iterable<UserPresence>): void {
    for (const info of infos) this.touch(info.user, info);
    for (const user of this.entries.keys()) {
      if (this.entries.size <= this.capacity) break;
      this.entries.delete(user); // Map iterates oldest first
    }
  }

  /** The cached users, least recently used first: refreshed after a reconnect. */
  users(): Id[] {
    return [...this.entries.keys()];
  }

  private touch(user: Id, info: UserPresence): void {
    this.entries.delete(user);
    this.entries.set(user, info);
  }
}

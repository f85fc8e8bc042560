// The one ordered event stream: listeners called in order, and async iterators. Sans-IO.
//
// Events are handed to every listener synchronously, in the order the client
// decided them, so a listener sees a channel's messages in seq order. An
// `events()` iterator buffers for a consumer that awaits between events; its
// buffer is bounded, and an iterator left unread past the bound fails with
// EventOverflow (after yielding what it holds) instead of growing without end.

import { ClientClosed, EventOverflow } from './errors.js';
import type { ChatEvent, ChatEventListener } from './types.js';

class Iterator implements AsyncIterableIterator<ChatEvent> {
  private readonly buffer: ChatEvent[] = [];
  private waiter: ((result: IteratorResult<ChatEvent>) => void) | null = null;
  private failWaiter: ((error: Error) => void) | null = null;
  private ending: { error: Error | null } | null = null;

  constructor(
    private readonly limit: number,
    private readonly detach: (iterator: Iterator) => void,
  ) {}

  push(event: ChatEvent): void {
    if (this.ending !== null) return;
    if (this.waiter !== null) {
      const wake = this.waiter;
      this.waiter = this.failWaiter = null;
      wake({ value: event, done: false });
      return;
    }
    if (this.buffer.length >= this.limit) {
      this.end(new EventOverflow(`an events() iterator left ${this.limit} events unread`));
      return;
    }
    this.buffer.push(event);
  }

  end(error: Error | null): void {
    if (this.ending !== null) return;
    this.ending = { error };
    this.detach(this);
    if (this.waiter !== null) {
      const [wake, fail] = [this.waiter, this.failWaiter!];
      this.waiter = this.failWaiter = null;
      if (error === null) wake({ value: undefined, done: true });
      else fail(error);
    }
  }

  next(): Promise<IteratorResult<ChatEvent>> {
    const event = this.buffer.shift();
    if (event !== undefined) return Promise.resolve({ value: event, done: false });
    if (this.ending !== null) {
      return this.ending.error === null ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(this.ending.error);
    }
    return new Promise((resolve, reject) => {
      this.waiter = resolve;
      this.failWaiter = reject;
    });
  }

  return(): Promise<IteratorResult<ChatEvent>> {
    this.buffer.length = 0;
    this.end(null);
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<ChatEvent> {
    return this;
  }
}

export class EventStream {
  private readonly listeners = new Set<ChatEventListener>();
  private readonly iterators = new Set<Iterator>();
  private closed: { error: Error | null } | null = null;

  constructor(private readonly iteratorLimit: number) {}

  /** Call `listener` for every event from now on; returns its removal. */
  on(listener: ChatEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every event from now on, for one consumer; ends when the client stops. */
  events(): AsyncIterableIterator<ChatEvent> {
    const iterator = new Iterator(this.iteratorLimit, (done) => this.iterators.delete(done));
    if (this.closed === null) this.iterators.add(iterator);
    else iterator.end(this.closed.error);
    return iterator;
  }

  emit(event: ChatEvent): void {
    if (this.closed !== null) return;
    for (const listener of [...this.listeners]) {
      try {
        listener(event);
      } catch (error) {
        // A listener's bug must not stop delivery to the others, nor the
        // client: it surfaces as an unhandled rejection, where the
        // environment reports errors nobody caught.
        void Promise.reject(error);
      }
    }
    for (const iterator of [...this.iterators]) iterator.push(event);
  }

  /** No more events: iterators end after what they hold (with ClientClosed when `cause` says why). */
  close(cause?: Error): void {
    if (this.closed !== null) return;
    const error = cause === undefined ? null : new ClientClosed(`the client stopped: ${cause.message}`, { cause });
    this.closed = { error };
    for (const iterator of [...this.iterators]) iterator.end(error);
    this.listeners.clear();
  }
}

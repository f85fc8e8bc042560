// ChatClient: the durable session an app holds (this commit: its surface only).
import type {
  AuthResult,
  ChannelInfo,
  ChatEvent,
  ChatEventListener,
  ClientOptions,
  DeviceInfo,
  Id,
  NotifyLevel,
  OutboxEntry,
  Page,
  PushOptions,
  PushResult,
  PushTarget,
  SendResult,
  UserPresence,
} from './types.js';

const UNBUILT = 'the SDK surface is declared; its body lands in the next commits';

export class ChatClient {
  private constructor() {}

  /** Connect and authenticate; resolves once the first connection is authenticated. */
  static connect(options: ClientOptions): Promise<ChatClient> {
    void options;
    throw new Error(UNBUILT);
  }

  get user(): Id { throw new Error(UNBUILT); }
  get device(): Id { throw new Error(UNBUILT); }
  get token(): string { throw new Error(UNBUILT); }
  get session(): AuthResult { throw new Error(UNBUILT); }
  get connected(): boolean { throw new Error(UNBUILT); }
  /** Per channel, the highest seq up to which the app has every message. */
  get cursors(): ReadonlyMap<Id, number> { throw new Error(UNBUILT); }
  /** Pending, sent-but-unseen and failed sends, in the order they were made. */
  get outbox(): readonly OutboxEntry[] { throw new Error(UNBUILT); }
  presenceOf(user: Id): UserPresence | undefined { void user; throw new Error(UNBUILT); }

  on(listener: ChatEventListener): () => void { void listener; throw new Error(UNBUILT); }
  events(): AsyncIterableIterator<ChatEvent> { throw new Error(UNBUILT); }
  close(): void { throw new Error(UNBUILT); }

  lookup(username: string): Promise<Id> { void username; throw new Error(UNBUILT); }
  direct(user: Id): Promise<Id> { void user; throw new Error(UNBUILT); }
  group(name: string, members: Iterable<Id>): Promise<Id> { void name, members; throw new Error(UNBUILT); }
  invite(channel: Id, users: Iterable<Id>): Promise<void> { void channel, users; throw new Error(UNBUILT); }
  leave(channel: Id): Promise<void> { void channel; throw new Error(UNBUILT); }
  channels(): Promise<ChannelInfo[]> { throw new Error(UNBUILT); }
  send(channel: Id, body: string, options?: { cid?: string; mentions?: Iterable<Id> }): Promise<SendResult> {
    void channel, body, options;
    throw new Error(UNBUILT);
  }
  retry(cid: string): Promise<SendResult> { void cid; throw new Error(UNBUILT); }
  discard(cid: string): void { void cid; throw new Error(UNBUILT); }
  sync(channel: Id, after: number, options?: { limit?: number }): Promise<Page> { void channel, after, options; throw new Error(UNBUILT); }
  history(channel: Id, options: { before: number; limit?: number }): Promise<Page> { void channel, options; throw new Error(UNBUILT); }
  read(channel: Id, seq: number): Promise<void> { void channel, seq; throw new Error(UNBUILT); }
  ack(channel: Id, seq: number): Promise<void> { void channel, seq; throw new Error(UNBUILT); }
  typing(channel: Id): Promise<void> { void channel; throw new Error(UNBUILT); }
  presence(users: Iterable<Id>): Promise<UserPresence[]> { void users; throw new Error(UNBUILT); }
  notify(channel: Id, level: NotifyLevel, until?: number): Promise<void> { void channel, level, until; throw new Error(UNBUILT); }
  push(target: PushTarget | null, options?: PushOptions): Promise<PushResult> { void target, options; throw new Error(UNBUILT); }
  devices(): Promise<DeviceInfo[]> { throw new Error(UNBUILT); }
  revoke(device: Id): Promise<void> { void device; throw new Error(UNBUILT); }
  block(user: Id): Promise<void> { void user; throw new Error(UNBUILT); }
  unblock(user: Id): Promise<void> { void user; throw new Error(UNBUILT); }
  blocked(): Promise<Id[]> { throw new Error(UNBUILT); }
  ping(): Promise<void> { throw new Error(UNBUILT); }
  logout(): Promise<void> { throw new Error(UNBUILT); }
}

/** Create an account on the node at `url`; resolves to its user id. Rejects with UsernameTaken. */
export function register(options: {
  url: string;
  username: string;
  password: string;
  webSocket: ClientOptions['webSocket'];
  connectTimeout?: number;
}): Promise<Id> {
  void options;
  throw new Error(UNBUILT);
}

// ChatClient: the durable session an app holds.
//
// It outlives connections: it connects, authenticates, keeps a cursor per
// channel, pings as the node asks, reconnects with full-jitter back-off
// (honouring `bye.retry`), re-syncs what it missed, keeps a presence cache
// and an outbox, and hands the app one ordered event stream. The decisions
// are the sans-IO parts' (CursorTracker, Backoff, Heartbeat, Outbox,
// PresenceCache, EventStream); this class drives them with the injected
// WebSocket, storage and clock.

import { Backoff } from './backoff.js';
import { Connection } from './connection.js';
import { CursorTracker } from './cursors.js';
import {
  BadCredentials,
  BadToken,
  ChatError,
  ClientClosed,
  ConnectionLost,
  NotMember,
  RateLimited,
  TooLong,
  Unavailable,
} from './errors.js';
import { Heartbeat } from './heartbeat.js';
import { hostClock, hostRandom } from './host.js';
import { onRefusal, Outbox } from './outbox.js';
import { PresenceCache } from './presence.js';
import { Prepared, type Request, type ResultOf, type ServerEvent } from './protocol.js';
import { EventStream } from './stream.js';
import { codePoints, wellFormed } from './text.js';
import type {
  AuthResult,
  ChannelInfo,
  ChatEvent,
  ChatEventListener,
  ClientOptions,
  Clock,
  Credentials,
  DeviceInfo,
  Id,
  KeyValueStorage,
  NotifyLevel,
  OutboxEntry,
  Page,
  PushOptions,
  PushResult,
  PushTarget,
  SendResult,
  UserPresence,
  WebSocketFactory,
} from './types.js';

const DEFAULTS = {
  start: 'latest',
  backoffBase: 500,
  backoffCap: 30_000,
  stableAfter: 30_000,
  connectTimeout: 10_000,
  syncPage: 100,
  presenceCache: 4096,
  eventBuffer: 10_000,
  maxInFlight: 256,
  maxBodyChars: 100_000,
} as const;

type Settings = Required<Omit<ClientOptions, 'storage' | 'auth'>> & {
  readonly storage: KeyValueStorage | null;
};

/** Channels caught up at once after a reconnect. */
const SYNC_WORKERS = 4;
/** Users per `presence` request when the cache is refreshed (the node's limit). */
const PRESENCE_CHUNK = 1000;
/** Wait before resending a send refused `rate_limited` without a `retry`, ms. */
const RATE_LIMIT_WAIT = 1000;

interface Link {
  readonly conn: Connection;
  heartbeat: Heartbeat | null;
}

/** The app's promise of a send, settled by whichever attempt ends it. */
interface Sending {
  readonly resolve: (result: SendResult) => void;
  readonly reject: (error: Error) => void;
}

export class ChatClient {
  private readonly settings: Settings;
  private readonly clock: Clock;
  private readonly tracker: CursorTracker;
  /** Seqs delivered and not yet acked, by channel (see `acknowledge`). */
  private readonly unacked = new Map<Id, number>();
  private readonly backoff: Backoff;
  private readonly presenceCache: PresenceCache;
  private readonly stream: EventStream;
  private readonly box = new Outbox();
  private readonly sendings = new Map<string, Sending[]>();
  private credentials: Credentials;
  private conn: Connection | null = null;
  private authResult: AuthResult | null = null;
  private stopping = false; // no new connection (set by logout before the node closes)
  private stopped = false;
  private fatal: Error | null = null;
  // Woken when a connection comes or goes, or the client stops.
  private changed: (() => void)[] = [];
  private readonly timers = new Set<{ readonly handle: unknown; readonly wake: () => void }>();
  private workers = 0;
  private storageChain: Promise<void> = Promise.resolve();
  private cursorSave: unknown = null;

  private constructor(options: ClientOptions) {
    const { storage, auth, ...rest } = options;
    const given = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
    this.settings = { ...DEFAULTS, clock: hostClock(), random: hostRandom, ...given, storage: storage ?? null } as Settings;
    this.credentials = auth;
    this.clock = this.settings.clock;
    this.tracker = new CursorTracker();
    this.backoff = new Backoff(this.settings.backoffBase, this.settings.backoffCap, this.settings.random);
    this.presenceCache = new PresenceCache(this.settings.presenceCache);
    this.stream = new EventStream(this.settings.eventBuffer);
  }

  /**
   * Connect and authenticate; resolves once the first connection is
   * authenticated and caught up with the channel list, rejecting with its
   * failure (ConnectionLost, BadCredentials, BadToken, ...). Later
   * connections are retried; `close()` or `logout()` ends the client.
   */
  static async connect(options: ClientOptions): Promise<ChatClient> {
    const client = new ChatClient(options);
    await new Promise<void>((started, failed) => void client.run(started, failed));
    return client;
  }

  // -- what the app reads ------------------------------------------------------

  /** User, device and heartbeat of the current (or last) authentication. */
  get session(): AuthResult {
    if (this.authResult === null) throw new Error('connect() authenticates before it resolves');
    return this.authResult;
  }

  get user(): Id {
    return this.session.user;
  }

  get device(): Id {
    return this.session.device;
  }

  /** This device's token: keep it (secure storage) and come back with `{token}`. */
  get token(): string {
    if (!('token' in this.credentials)) throw new Error('connect() logs in before it resolves');
    return this.credentials.token;
  }

  get connected(): boolean {
    return this.conn !== null && !this.conn.isClosed;
  }

  /** Per channel, the highest seq up to which the app has every message (or sent it). */
  get cursors(): ReadonlyMap<Id, number> {
    return this.tracker.snapshot();
  }

  /** Pending and failed sends, in the order they were made. */
  get outbox(): readonly OutboxEntry[] {
    return this.box.list();
  }

  /** The cached presence of `user` (from events and `presence` replies). */
  presenceOf(user: Id): UserPresence | undefined {
    return this.presenceCache.get(user);
  }

  /** Call `listener` for every event, in order; returns its removal. */
  on(listener: ChatEventListener): () => void {
    return this.stream.on(listener);
  }

  /** Every event from now on, for one consumer: `for await (const event of client.events())`. */
  events(): AsyncIterableIterator<ChatEvent> {
    return this.stream.events();
  }

  /**
   * Stop: close the connection, end the event stream, reject what waits.
   * Pending sends stay in the storage's outbox and go again (same cid) when
   * a client of this user starts on it.
   */
  close(): void {
    this.stop(null);
  }

  // -- requests ---------------------------------------------------------------------

  /**
   * Send any request and resolve to its result. Waits for a connection while
   * reconnecting. A request that is safe to repeat is sent again after a lost
   * connection, and after a back-off when the node answers `unavailable`;
   * the others (group, invite, leave, typing, revoke, logout) reject with
   * ConnectionLost or Unavailable.
   */
  async request<R extends Request>(request: R): Promise<ResultOf<R>> {
    const prepared = new Prepared(request); // a bad argument fails here, at its caller
    const retries = new Backoff(this.settings.backoffBase, this.settings.backoffCap, this.settings.random);
    for (;;) {
      const conn = await this.connection();
      try {
        return await conn.request(prepared);
      } catch (error) {
        if (!prepared.idempotent) throw error;
        if (error instanceof Unavailable) await this.sleep(retries.next(error.retry ?? 0));
        else if (!(error instanceof ConnectionLost)) throw error;
      }
    }
  }

  async lookup(username: string): Promise<Id> {
    return (await this.request({ t: 'lookup', username })).user;
  }

  /** The 1:1 channel with `user`, created on first use. */
  async direct(user: Id): Promise<Id> {
    return (await this.request({ t: 'direct', user })).channel;
  }

  /** A new group with the caller and `members`. */
  async group(name: string, members: Iterable<Id>): Promise<Id> {
    return (await this.request({ t: 'group', name, members: [...members] })).channel;
  }

  async invite(channel: Id, users: Iterable<Id>): Promise<void> {
    await this.request({ t: 'invite', channel, users: [...users] });
  }

  async leave(channel: Id): Promise<void> {
    await this.request({ t: 'leave', channel });
    this.tracker.forget(channel);
  }

  /** Every channel of the user, page after page while the node says `more`. */
  async channels(): Promise<ChannelInfo[]> {
    return this.listChannels((request) => this.request(request));
  }

  /**
   * Store a message: it enters the outbox (pending, saved in the storage),
   * goes out, and is resent with the same `cid` after a reconnect until the
   * node answers. The body is made well-formed and counted in code points
   * first; one over the limit rejects with TooLong and enters nothing.
   * Rejects with the node's error when it refuses the message for good (the
   * entry stays, failed, for `retry` or `discard`), or with ClientClosed.
   */
  async send(channel: Id, body: string, options: { cid?: string; mentions?: Iterable<Id> } = {}): Promise<SendResult> {
    const text = wellFormed(body);
    const length = codePoints(text);
    if (length > this.settings.maxBodyChars) {
      throw new TooLong('too_long', `body of ${length} characters exceeds ${this.settings.maxBodyChars}`);
    }
    const mentions = [...(options.mentions ?? [])];
    const entry: OutboxEntry = { cid: options.cid ?? newCid(), channel, body: text, mentions, state: 'pending' };
    new Prepared({ t: 'send', channel, body: text, cid: entry.cid, mentions }); // a bad id fails here, before the outbox
    this.box.add(entry);
    this.outboxChanged(entry);
    return this.sending(entry.cid);
  }

  /** Send a failed outbox entry again (same cid); resolves like `send`. */
  retry(cid: string): Promise<SendResult> {
    const entry = this.box.get(cid);
    if (entry === undefined) return Promise.reject(new RangeError(`no outbox entry ${cid}`));
    if (entry.state === 'pending') return this.waitFor(cid);
    this.outboxChanged(this.box.pending(cid)!);
    return this.sending(cid);
  }

  /**
   * Drop an entry from the outbox: it is not sent again. One in flight may
   * still have been stored by the node; its `send` rejects with ConnectionLost.
   */
  discard(cid: string): void {
    if (!this.box.discard(cid)) return;
    this.saveOutbox();
    this.settle(cid, (waiting) => waiting.reject(new ConnectionLost(`outbox entry ${cid} discarded`)));
  }

  /** Messages with seq > `after`, ascending, at most `limit` (the node's default if left out). */
  sync(channel: Id, after: number, options: { limit?: number } = {}): Promise<Page> {
    return this.request({ t: 'sync', channel, after, ...options });
  }

  /** The newest messages with seq < `before`, ascending: scrolling back. */
  history(channel: Id, options: { before: number; limit?: number }): Promise<Page> {
    return this.request({ t: 'history', channel, ...options });
  }

  /** Move this user's read marker (it never moves back); the others get a receipt. */
  async read(channel: Id, seq: number): Promise<void> {
    await this.request({ t: 'read', channel, seq });
  }

  /** v1.1: this device holds the channel's messages up to `seq` (no push needed for them). */
  async ack(channel: Id, seq: number): Promise<void> {
    await this.request({ t: 'ack', channel, seq });
  }

  async typing(channel: Id): Promise<void> {
    await this.request({ t: 'typing', channel });
  }

  /** Ask the node, and update the presence cache. */
  async presence(users: Iterable<Id>): Promise<UserPresence[]> {
    const { presence } = await this.request({ t: 'presence', users: [...users] });
    this.presenceCache.update(presence);
    return [...presence];
  }

  /** v1.1: which messages of `channel` push to this user's devices, until `until` (ms) or for good. */
  async notify(channel: Id, level: NotifyLevel, until?: number): Promise<void> {
    await this.request(until === undefined ? { t: 'notify', channel, level } : { t: 'notify', channel, level, until });
  }

  /** Set this device's push target, or remove it with null (docs/mobile.rst). */
  push(target: PushTarget | null, options: PushOptions = {}): Promise<PushResult> {
    return this.request(options.preview === true ? { t: 'push', target, preview: true } : { t: 'push', target });
  }

  async devices(): Promise<DeviceInfo[]> {
    return [...(await this.request({ t: 'devices' })).devices];
  }

  /** Revoke one of the account's devices: its token stops working, its connections end. */
  async revoke(device: Id): Promise<void> {
    await this.request({ t: 'revoke', device });
  }

  /** v1.1: `user` may no longer put this user in channels or write into their direct one. */
  async block(user: Id): Promise<void> {
    await this.request({ t: 'block', user });
  }

  async unblock(user: Id): Promise<void> {
    await this.request({ t: 'unblock', user });
  }

  /** v1.1: the users this user blocks, ascending. */
  async blocked(): Promise<Id[]> {
    return [...(await this.request({ t: 'blocked' })).users];
  }

  async ping(): Promise<void> {
    await this.request({ t: 'ping' });
  }

  /** Revoke this device's token and stop the client. */
  async logout(): Promise<void> {
    const conn = await this.connection();
    this.stopping = true; // before the node closes, so no reconnect starts
    try {
      await conn.request({ t: 'logout' });
    } finally {
      this.stop(null);
    }
  }

  // -- the supervisor -----------------------------------------------------------------

  private async run(started: () => void, failed: (error: Error) => void): Promise<void> {
    let first = true;
    try {
      while (!this.stopping) {
        let upSince: number | null = null;
        let reason = 'closed';
        let floor = 0;
        try {
          const link = await this.open();
          const conn = link.conn;
          try {
            const channels = await this.handshake(conn, first);
            upSince = this.clock.now();
            this.setConnection(conn);
            if (first) {
              first = false;
              started();
            } else {
              this.stream.emit({ type: 'reconnected', channels });
            }
            this.resume();
            await this.serve(link);
          } finally {
            conn.close('the client stopped');
          }
          reason = conn.closeReason ?? reason;
          floor = conn.bye?.retry ?? 0;
        } catch (error) {
          if (first) throw error;
          if (error instanceof BadToken || error instanceof BadCredentials) {
            this.stop(error); // a refused token stays refused: no point retrying
            return;
          }
          if (!(error instanceof ConnectionLost || error instanceof ChatError)) throw error;
          reason = error.message;
          // `auth` refused rate_limited (the device's connections are at their cap) says when.
          if (error instanceof ChatError) floor = error.retry ?? 0;
        } finally {
          this.setConnection(null);
        }
        if (this.stopping) return;
        if (upSince !== null && this.clock.now() - upSince >= this.settings.stableAfter) this.backoff.reset();
        const delay = this.backoff.next(floor);
        if (upSince !== null) this.stream.emit({ type: 'disconnected', reason, delay });
        await this.sleep(delay);
      }
    } catch (error) {
      if (!first) void Promise.reject(error); // a bug of this SDK: reported, not swallowed
      this.stop(error as Error);
      failed(error as Error);
    }
  }

  /** A connection, and the slot of the heartbeat its traffic feeds once `serve` starts it. */
  private async open(): Promise<Link> {
    const s = this.settings;
    const link: { conn?: Connection; heartbeat: Heartbeat | null } = { heartbeat: null };
    link.conn = await Connection.open(s.url, {
      webSocket: s.webSocket,
      clock: this.clock,
      connectTimeout: s.connectTimeout,
      maxInFlight: s.maxInFlight,
      onEvent: (event) => this.onEvent(event),
      onActivity: (direction, now) => {
        if (direction === 'in') link.heartbeat?.received(now);
        else link.heartbeat?.sent(now);
      },
    });
    return link as Link;
  }

  /** Authenticate, learn how far each channel goes, refresh the presence of users the app looked at. */
  private async handshake(conn: Connection, first: boolean): Promise<ChannelInfo[]> {
    const deadline = this.clock.setTimeout(
      () => conn.close(`no authentication within ${this.settings.connectTimeout} ms`),
      this.settings.connectTimeout,
    );
    try {
      if (!('token' in this.credentials)) {
        const { username, password, device } = this.credentials;
        const login = await conn.request({ t: 'login', username, password, device });
        this.credentials = { token: login.token };
      }
      this.authResult = await conn.request({ t: 'auth', token: this.credentials.token });
    } finally {
      this.clock.clearTimeout(deadline);
    }
    this.tracker.device = this.authResult.device;
    if (first) await this.loadStorage();
    const channels = await this.listChannels((request) => conn.request(request));
    // `latest`: what the channels held before this client first connected is history, not news.
    this.tracker.observe(channels, first && this.settings.start === 'latest' ? 'last' : 'first');
    const users = this.presenceCache.users();
    for (let i = 0; i < users.length; i += PRESENCE_CHUNK) {
      const { presence } = await conn.request({ t: 'presence', users: users.slice(i, i + PRESENCE_CHUNK) });
      this.presenceCache.update(presence);
    }
    return channels;
  }

  private async listChannels(ask: (request: Extract<Request, { t: 'channels' }>) => Promise<ResultOf<{ t: 'channels' }>>): Promise<ChannelInfo[]> {
    const channels: ChannelInfo[] = [];
    let after: Id | undefined;
    for (;;) {
      const page = await ask(after === undefined ? { t: 'channels' } : { t: 'channels', after });
      channels.push(...page.channels);
      if (!page.more) return channels;
      // The decoder made sure such a page is not empty and lies after `after`.
      after = page.channels.reduce((a, b) => (BigInt(a.channel) > BigInt(b.channel) ? a : b)).channel;
    }
  }

  /** Keep `conn` alive and caught up until it closes. */
  private async serve(link: Link): Promise<void> {
    const conn = link.conn;
    const heartbeat = new Heartbeat(this.session.heartbeat * 1000, this.clock.now());
    link.heartbeat = heartbeat;
    let timer: unknown = null;
    const beat = (): void => {
      for (;;) {
        const now = this.clock.now();
        const next = heartbeat.poll(now);
        if (next.action === 'dead') {
          conn.close(`no answer from the node for ${next.silentFor} ms`);
          return;
        }
        if (next.action === 'wait') {
          timer = this.clock.setTimeout(beat, next.until - now);
          return;
        }
        heartbeat.pinged(now);
        conn.request({ t: 'ping' }).catch(() => undefined); // any answer is proof of life; a loss ends conn
      }
    };
    beat();
    this.pumpSync(conn);
    try {
      await conn.closed;
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  private setConnection(conn: Connection | null): void {
    this.conn = conn;
    for (const wake of this.changed.splice(0)) wake();
  }

  private async connection(): Promise<Connection> {
    for (;;) {
      if (this.stopping) throw new ClientClosed('the client has stopped', this.fatal === null ? {} : { cause: this.fatal });
      if (this.conn !== null && !this.conn.isClosed) return this.conn;
      await new Promise<void>((wake) => this.changed.push(wake));
    }
  }

  /** Wait `ms` on the injected clock; close() ends every wait at once. */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = {
        handle: this.clock.setTimeout(() => {
          this.timers.delete(timer);
          resolve();
        }, ms),
        wake: resolve,
      };
      this.timers.add(timer);
    });
  }

  private stop(fatal: Error | null): void {
    if (this.stopped) return;
    this.stopped = true;
    this.fatal = fatal;
    this.stopping = true;
    this.conn?.close('the client stopped');
    for (const timer of this.timers) {
      this.clock.clearTimeout(timer.handle);
      timer.wake();
    }
    this.timers.clear();
    for (const wake of this.changed.splice(0)) wake();
    this.flushCursors();
    this.stream.close(fatal ?? undefined);
  }

  // -- catching up ------------------------------------------------------------------

  /** Start catch-up workers for the channels that are behind, up to SYNC_WORKERS at once. */
  private pumpSync(conn: Connection): void {
    while (this.workers < SYNC_WORKERS && !conn.isClosed) {
      const channel = this.tracker.claim();
      if (channel === null) return;
      this.workers++;
      void this.catchUp(conn, channel).finally(() => {
        this.workers--;
        this.pumpSync(conn);
      });
    }
  }

  /** Deliver `channel`'s messages past its cursor, page by page. */
  private async catchUp(conn: Connection, channel: Id): Promise<void> {
    try {
      for (;;) {
        const after = this.tracker.cursor(channel);
        const page = await conn.request({ t: 'sync', channel, after, limit: this.settings.syncPage });
        for (const message of page.messages) {
          const verdict = this.tracker.onSynced(message);
          if (verdict === 'fetch') break;
          if (verdict === 'deliver') this.deliver(message);
        }
        this.scheduleCursorSave();
        if (!this.tracker.pageDone(channel, after, page.more)) return;
      }
    } catch (error) {
      this.tracker.release(channel);
      if (error instanceof NotMember) this.tracker.forget(channel);
      else if (error instanceof ChatError) conn.close(`sync of channel ${channel} failed: ${error.message}`);
      // ConnectionLost: the next connection resyncs.
    }
  }

  private deliver(message: Extract<ChatEvent, { type: 'message' }>['message']): void {
    this.stream.emit({ type: 'message', message });
    this.tracker.delivered(message);
    this.acknowledge(message.channel, message.seq);
  }

  /**
   * Tell the node this device has `channel` up to `seq`, so it sends the
   * device no push for it (a connected device that does not `ack` is pushed
   * after the node's ack time-out). Coalesced: one `ack` per channel for all
   * the messages delivered in one turn of the event loop; a lost one only
   * means a push the device did not need.
   */
  private acknowledge(channel: Id, seq: number): void {
    this.unacked.set(channel, Math.max(seq, this.unacked.get(channel) ?? 0));
    if (this.unacked.size === 1) {
      this.clock.setTimeout(() => {
        const conn = this.conn;
        const acks = [...this.unacked];
        this.unacked.clear();
        if (conn === null || conn.isClosed) return;
        for (const [acked, upTo] of acks) void conn.request({ t: 'ack', channel: acked, seq: upTo }).catch(() => undefined);
      }, 0);
    }
  }

  /** Every event of the node, as it arrives, in order. */
  private onEvent(event: ServerEvent): void {
    switch (event.type) {
      case 'message': {
        const verdict = this.tracker.onLive(event.message);
        if (verdict === 'deliver') {
          this.deliver(event.message);
          this.scheduleCursorSave();
        } else if (this.tracker.wantsSync && this.conn !== null) {
          this.pumpSync(this.conn);
        }
        return;
      }
      case 'presence':
        this.presenceCache.update([{ user: event.user, online: event.online, last: event.last }]);
        break;
      case 'channel':
        if (this.authResult !== null && !event.members.includes(this.authResult.user)) this.tracker.forget(event.channel);
        break;
      default:
        break;
    }
    this.stream.emit(event);
  }

  // -- the outbox ----------------------------------------------------------------------

  /** A promise settled by the next end of `cid`'s transmission, which starts if the client is up. */
  private sending(cid: string): Promise<SendResult> {
    const promise = this.waitFor(cid);
    void this.transmit(cid);
    return promise;
  }

  private waitFor(cid: string): Promise<SendResult> {
    return new Promise((resolve, reject) => {
      const list = this.sendings.get(cid) ?? [];
      list.push({ resolve, reject });
      this.sendings.set(cid, list);
    });
  }

  private settle(cid: string, how: (waiting: Sending) => void): void {
    const list = this.sendings.get(cid) ?? [];
    this.sendings.delete(cid);
    for (const waiting of list) how(waiting);
  }

  /** The entries loaded from storage go out once the first connection is up. */
  private resume(): void {
    for (const entry of this.box.list()) {
      if (entry.state === 'pending' && !this.sendings.has(entry.cid)) void this.transmit(entry.cid);
    }
  }

  private async transmit(cid: string): Promise<void> {
    const entry = this.box.get(cid);
    if (entry === undefined) return;
    const { channel, body, mentions } = entry;
    this.tracker.sending(channel, cid);
    let seq: number | undefined;
    try {
      for (;;) {
        try {
          const stored = await this.request({ t: 'send', channel, body, cid, mentions });
          seq = stored.seq;
          const sent = this.box.sent(cid, stored.seq, stored.ts);
          if (sent === undefined) return; // discarded meanwhile
          this.outboxChanged(sent);
          this.settle(cid, (waiting) => waiting.resolve({ ...stored, cid }));
          return;
        } catch (error) {
          if (this.box.get(cid) === undefined) return; // discarded: discard() settled it
          if (error instanceof ChatError && onRefusal(error) === 'later') {
            // rate_limited (idempotent requests already wait out unavailable).
            await this.sleep(error instanceof RateLimited ? (error.retry ?? RATE_LIMIT_WAIT) : RATE_LIMIT_WAIT);
            continue;
          }
          if (error instanceof ChatError || !(error instanceof ConnectionLost)) {
            this.outboxChanged(this.box.failed(cid, error as Error)!);
          }
          // ClientClosed: the entry stays pending in storage for the next start.
          this.settle(cid, (waiting) => waiting.reject(error as Error));
          return;
        }
      }
    } finally {
      this.tracker.sent(channel, cid, seq);
      if (seq !== undefined) this.scheduleCursorSave();
    }
  }

  private outboxChanged(entry: OutboxEntry): void {
    this.saveOutbox();
    this.stream.emit({ type: 'outbox', entry });
  }

  // -- storage --------------------------------------------------------------------------

  private key(name: string): string {
    return `chat-sdk.${this.session.user}.${name}`;
  }

  /** One storage operation at a time, in order: a slow AsyncStorage never sees two writes race. */
  private queueStorage(work: (storage: KeyValueStorage) => Promise<void>): Promise<void> {
    const storage = this.settings.storage;
    if (storage === null) return Promise.resolve();
    this.storageChain = this.storageChain.then(() => work(storage)).catch((error: unknown) => {
      void Promise.reject(error); // reported like a listener's error; the client goes on in memory
    });
    return this.storageChain;
  }

  private loadStorage(): Promise<void> {
    return this.queueStorage(async (storage) => {
      const cursors = parseCursors(await storage.getItem(this.key('cursors')));
      this.tracker.restore(cursors);
      this.box.load(await storage.getItem(this.key('outbox')));
    });
  }

  private saveOutbox(): void {
    if (this.authResult === null) return;
    void this.queueStorage(async (storage) => {
      const key = this.key('outbox');
      const text = this.box.save(await storage.getItem(key));
      if (text === '[]') await storage.removeItem(key);
      else await storage.setItem(key, text);
    });
  }

  private scheduleCursorSave(): void {
    if (this.cursorSave !== null || this.settings.storage === null) return;
    this.cursorSave = this.clock.setTimeout(() => this.flushCursors(), 0);
  }

  private flushCursors(): void {
    if (this.cursorSave !== null) this.clock.clearTimeout(this.cursorSave);
    this.cursorSave = null;
    if (this.authResult === null) return;
    void this.queueStorage(async (storage) => {
      const key = this.key('cursors');
      // Another client on this storage (a second tab) may be further along in a channel.
      const merged = parseCursors(await storage.getItem(key));
      for (const [channel, seq] of this.tracker.snapshot()) merged.set(channel, Math.max(seq, merged.get(channel) ?? 0));
      await storage.setItem(key, JSON.stringify(Object.fromEntries(merged)));
    });
  }
}

function parseCursors(text: string | null): Map<Id, number> {
  const cursors = new Map<Id, number>();
  if (text === null) return cursors;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return cursors;
  }
  if (typeof value !== 'object' || value === null) return cursors;
  for (const [channel, seq] of Object.entries(value)) {
    if (/^[1-9][0-9]*$/.test(channel) && Number.isSafeInteger(seq) && (seq as number) >= 0) cursors.set(channel, seq as number);
  }
  return cursors;
}

interface HostCrypto {
  readonly crypto?: { getRandomValues(bytes: Uint8Array): Uint8Array };
}

/**
 * A fresh cid: 128 random bits in hex, so two devices never pick the same
 * one. From the host's CSPRNG where it has one (browsers, Node); never from
 * the injected `random`, which a test seeds alike for two clients.
 */
export function newCid(): string {
  const bytes = new Uint8Array(16);
  const crypto = (globalThis as HostCrypto).crypto;
  if (crypto !== undefined) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  return [...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('');
}

/** Create an account on the node at `url`; resolves to its user id. Rejects with UsernameTaken. */
export async function register(options: {
  readonly url: string;
  readonly username: string;
  readonly password: string;
  readonly webSocket: WebSocketFactory;
  readonly clock?: Clock;
  readonly connectTimeout?: number;
}): Promise<Id> {
  const conn = await Connection.open(options.url, {
    webSocket: options.webSocket,
    clock: options.clock ?? hostClock(),
    connectTimeout: options.connectTimeout ?? DEFAULTS.connectTimeout,
    maxInFlight: 1,
  });
  try {
    return (await conn.request({ t: 'register', username: options.username, password: options.password })).user;
  } finally {
    conn.close('registered');
  }
}

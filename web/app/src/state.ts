// The app's state: one object over the SDK's client that the components
// read, and the only module that talks to the SDK. It turns the client's
// event stream into what the screens show (channel rows with unread counts
// and previews, timelines, typing, receipts, presence) and tells its
// listeners after every change.

import { ChatClient, register as registerAccount, type ChatEvent, type Message, type SendResult, type WebSocketLike } from '@chat/sdk';
import { messageNotice } from './notices';
import { Names } from './names';
import { enablePush, type PushOutcome } from './push';
import { serviceWorker } from './worker';
import type { Shown } from './format';

const PAGE = 50;
const TYPING_SHOWN_MS = 6000;
const TYPING_SENT_EVERY_MS = 3000;
const TOKEN_KEY = 'chat.session';

export interface Row {
  id: string;
  kind: 'direct' | 'group';
  name: string;
  members: string[];
  last: number;
  read: number;
  preview: Shown | null;
}

export interface Timeline {
  messages: Shown[];
  /** Older messages exist before the first one held. */
  older: boolean;
  loading: boolean;
  /** The first seq unread when the channel was opened; null: none. */
  unreadFrom: number | null;
}

export interface Pending {
  cid: string;
  body: string;
  state: 'pending' | 'failed';
  error: string | null;
}

interface Saved {
  url: string;
  token: string;
  username: string;
}

function url(): string {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}/v1`;
}

// The DOM's handler types take an Event where the SDK's take `unknown`: the
// same object at run time, and only the SDK reads it.
function webSocket(address: string): WebSocketLike {
  return new WebSocket(address) as unknown as WebSocketLike;
}

function shown(message: Message): Shown {
  return { seq: message.seq, sender: message.sender, body: message.body, ts: message.ts, cid: message.cid };
}

export class Chat {
  readonly names: Names;
  readonly channels = new Map<string, Row>();
  readonly timelines = new Map<string, Timeline>();
  /** Per channel: each member's read marker, as receipts told. */
  readonly receipts = new Map<string, Map<string, number>>();
  /** Per channel: who is typing, until when. */
  readonly typists = new Map<string, Map<string, number>>();
  current: string | null = null;
  connected = true;
  /** The session is over (logged out, or this device was revoked): back to log-in. */
  ended = false;
  notifications: NotificationPermission | 'unsupported' =
    'Notification' in window ? Notification.permission : 'unsupported';

  private readonly listeners = new Set<() => void>();
  private readonly lastTyping = new Map<string, number>();
  private atBottom = true;

  private constructor(
    readonly client: ChatClient,
    readonly username: string,
  ) {
    this.names = new Names(localStorage, `chat.names.${client.user}`);
    this.names.learn(client.user, username);
    client.on((event) => this.handle(event));
  }

  // -- starting and ending a session ---------------------------------------

  /** The session this browser saved, resumed; null when there is none (or it was revoked). */
  static async resume(): Promise<Chat | null> {
    const saved = Chat.saved();
    if (saved === null) return null;
    try {
      const client = await ChatClient.connect({ url: saved.url, auth: { token: saved.token }, webSocket });
      return await Chat.start(client, saved.username);
    } catch {
      localStorage.removeItem(TOKEN_KEY);
      return null;
    }
  }

  static async logIn(username: string, password: string, device: string): Promise<Chat> {
    const client = await ChatClient.connect({ url: url(), auth: { username, password, device }, webSocket });
    const saved: Saved = { url: url(), token: client.token, username };
    localStorage.setItem(TOKEN_KEY, JSON.stringify(saved));
    return Chat.start(client, username);
  }

  static async register(username: string, password: string, device: string): Promise<Chat> {
    await registerAccount({ url: url(), username, password, webSocket });
    return Chat.logIn(username, password, device);
  }

  private static saved(): Saved | null {
    try {
      const saved: unknown = JSON.parse(localStorage.getItem(TOKEN_KEY) ?? 'null');
      if (typeof saved !== 'object' || saved === null) return null;
      const { url, token, username } = saved as Record<string, unknown>;
      return typeof url === 'string' && typeof token === 'string' && typeof username === 'string'
        ? { url, token, username }
        : null;
    } catch {
      return null;
    }
  }

  private static async start(client: ChatClient, username: string): Promise<Chat> {
    const chat = new Chat(client, username);
    await chat.refresh();
    navigator.serviceWorker?.addEventListener('message', (event: MessageEvent) => {
      const data: unknown = event.data;
      if (typeof data === 'object' && data !== null && (data as { type?: unknown }).type === 'open') {
        const channel = (data as { channel?: unknown }).channel;
        if (typeof channel === 'string' && chat.channels.has(channel)) chat.open(channel);
      }
    });
    return chat;
  }

  async logOut(): Promise<void> {
    try {
      await this.client.logout();
    } finally {
      this.end();
    }
  }

  private end(): void {
    localStorage.removeItem(TOKEN_KEY);
    this.ended = true;
    this.client.close();
    this.changed();
  }

  // -- listening -----------------------------------------------------------

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    for (const listener of this.listeners) listener();
  }

  // -- what the screens read -----------------------------------------------

  get user(): string {
    return this.client.user;
  }

  get device(): string {
    return this.client.device;
  }

  rows(): Row[] {
    return [...this.channels.values()].sort(
      (a, b) => (b.preview?.ts ?? 0) - (a.preview?.ts ?? 0) || b.last - a.last || a.id.localeCompare(b.id),
    );
  }

  unread(row: Row): number {
    return Math.max(0, row.last - row.read);
  }

  /** The other member of a direct channel. */
  peer(row: Row): string | null {
    return row.kind === 'direct' ? (row.members.find((member) => member !== this.user) ?? null) : null;
  }

  title(row: Row): string {
    const peer = this.peer(row);
    if (peer !== null) return this.names.of(peer);
    return row.name;
  }

  online(user: string): boolean {
    return this.client.presenceOf(user)?.online ?? false;
  }

  typing(channel: string): string[] {
    const now = Date.now();
    return [...(this.typists.get(channel) ?? new Map<string, number>())]
      .filter(([, until]) => until > now)
      .map(([user]) => this.names.of(user));
  }

  /** Who (besides this user) has read `seq` of `channel`. */
  seenBy(channel: string, seq: number): string[] {
    return [...(this.receipts.get(channel) ?? new Map<string, number>())]
      .filter(([user, read]) => user !== this.user && read >= seq)
      .map(([user]) => this.names.of(user));
  }

  pending(channel: string): Pending[] {
    return this.client.outbox
      .filter((entry) => entry.channel === channel && entry.state !== 'sent')
      .map((entry) => ({
        cid: entry.cid,
        body: entry.body,
        state: entry.state === 'failed' ? 'failed' : 'pending',
        error: entry.error?.message ?? null,
      }));
  }

  // -- actions -------------------------------------------------------------

  async refresh(): Promise<void> {
    const listed = await this.client.channels();
    for (const info of listed) {
      const row = this.channels.get(info.channel);
      this.channels.set(info.channel, {
        id: info.channel,
        kind: info.kind,
        name: info.name,
        members: [...info.members],
        last: info.last,
        read: info.read,
        preview: row?.preview ?? null,
      });
    }
    this.changed();
    const members = new Set([...this.channels.values()].flatMap((row) => row.members));
    members.delete(this.user);
    await Promise.all([
      members.size > 0 ? this.client.presence([...members]).then(() => this.changed()) : undefined,
      ...[...this.channels.values()].filter((row) => row.last > 0 && row.preview === null).map((row) => this.loadPreview(row.id)),
    ]);
  }

  private async loadPreview(channel: string): Promise<void> {
    const row = this.channels.get(channel);
    if (row === undefined) return;
    const page = await this.client.history(channel, { before: row.last + 1, limit: 1 });
    const newest = page.messages.at(-1);
    if (newest !== undefined) this.preview(channel, shown(newest));
  }

  private preview(channel: string, message: Shown): void {
    const row = this.channels.get(channel);
    if (row === undefined) return;
    if (row.preview === null || row.preview.seq <= message.seq) row.preview = message;
    this.changed();
  }

  open(channel: string | null): void {
    this.current = channel;
    this.atBottom = true;
    if (channel !== null) {
      const row = this.channels.get(channel);
      const timeline = this.timelines.get(channel);
      if (row !== undefined && timeline !== undefined) {
        timeline.unreadFrom = row.last > row.read ? row.read + 1 : null;
      } else if (row !== undefined) {
        this.timelines.set(channel, {
          messages: [],
          older: row.last > 0,
          loading: false,
          unreadFrom: row.last > row.read ? row.read + 1 : null,
        });
        void this.loadOlder(channel);
      }
      history.replaceState(null, '', `#channel=${channel}`);
    } else {
      history.replaceState(null, '', location.pathname);
    }
    this.changed();
  }

  async loadOlder(channel: string): Promise<void> {
    const timeline = this.timelines.get(channel);
    const row = this.channels.get(channel);
    if (timeline === undefined || row === undefined || timeline.loading || !timeline.older) return;
    timeline.loading = true;
    this.changed();
    try {
      const before = timeline.messages[0]?.seq ?? row.last + 1;
      const page = await this.client.history(channel, { before, limit: PAGE });
      this.merge(timeline, page.messages.map(shown));
      timeline.older = page.more;
    } finally {
      timeline.loading = false;
      this.changed();
    }
  }

  private merge(timeline: Timeline, messages: Shown[]): void {
    const bySeq = new Map(timeline.messages.map((message) => [message.seq, message]));
    for (const message of messages) bySeq.set(message.seq, message);
    timeline.messages = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  /** The open channel's timeline is scrolled to its end (so what arrives is read). */
  setAtBottom(atBottom: boolean): void {
    this.atBottom = atBottom;
    if (atBottom && this.current !== null) this.markRead(this.current);
  }

  private markRead(channel: string): void {
    const row = this.channels.get(channel);
    if (row === undefined || row.read >= row.last || document.visibilityState !== 'visible') return;
    row.read = row.last;
    void this.client.read(channel, row.last).catch(() => undefined);
    this.changed();
  }

  async send(channel: string, body: string): Promise<void> {
    this.lastTyping.delete(channel);
    await this.confirm(channel, body, this.client.send(channel, body));
  }

  async retry(cid: string): Promise<void> {
    const entry = this.client.outbox.find((candidate) => candidate.cid === cid);
    if (entry !== undefined) await this.confirm(entry.channel, entry.body, this.client.retry(cid));
  }

  /** A send or a retry under way: shown pending, then in the timeline once stored. */
  private async confirm(channel: string, body: string, sending: Promise<SendResult>): Promise<void> {
    this.changed();
    try {
      const sent = await sending;
      const timeline = this.timelines.get(channel);
      const message: Shown = { seq: sent.seq, sender: this.user, body, ts: sent.ts, cid: sent.cid };
      if (timeline !== undefined) this.merge(timeline, [message]);
      this.advance(channel, sent.seq);
      this.preview(channel, message);
      if (this.current === channel && this.atBottom) this.markRead(channel);
    } finally {
      this.changed();
    }
  }

  discard(cid: string): void {
    this.client.discard(cid);
    this.changed();
  }

  typed(channel: string): void {
    const now = Date.now();
    if (now - (this.lastTyping.get(channel) ?? 0) < TYPING_SENT_EVERY_MS) return;
    this.lastTyping.set(channel, now);
    void this.client.typing(channel).catch(() => undefined);
  }

  async startDirect(username: string): Promise<string> {
    const user = await this.client.lookup(username);
    this.names.learn(user, username);
    const channel = await this.client.direct(user);
    await this.refresh();
    this.open(channel);
    return channel;
  }

  async createGroup(name: string, usernames: string[]): Promise<string> {
    const users = await Promise.all(
      usernames.map(async (username) => {
        const user = await this.client.lookup(username);
        this.names.learn(user, username);
        return user;
      }),
    );
    const channel = await this.client.group(name, users);
    await this.refresh();
    this.open(channel);
    return channel;
  }

  devices(): Promise<{ device: string; name: string; last: number }[]> {
    return this.client.devices();
  }

  async revoke(device: string): Promise<void> {
    await this.client.revoke(device);
  }

  async enableNotifications(): Promise<PushOutcome> {
    const outcome = await enablePush((target) => this.client.push(target));
    this.notifications = Notification.permission;
    this.changed();
    return outcome;
  }

  // -- events --------------------------------------------------------------

  private advance(channel: string, seq: number): void {
    const row = this.channels.get(channel);
    if (row !== undefined && row.last < seq) row.last = seq;
  }

  private handle(event: ChatEvent): void {
    switch (event.type) {
      case 'message':
        this.received(event.message);
        break;
      case 'channel':
        void this.refresh();
        break;
      case 'typing':
        this.typist(event.channel, event.user);
        break;
      case 'receipt':
        this.receipt(event.channel, event.user, event.seq);
        break;
      case 'disconnected':
        this.connected = false;
        break;
      case 'reconnected':
        this.connected = true;
        void this.refresh();
        break;
      case 'bye':
        if (event.reason === 'revoked') this.end();
        break;
      default:
        break;
    }
    this.changed();
  }

  private received(message: Message): void {
    const timeline = this.timelines.get(message.channel);
    const item = shown(message);
    if (timeline !== undefined) this.merge(timeline, [item]);
    if (!this.channels.has(message.channel)) {
      void this.refresh();
      return;
    }
    this.advance(message.channel, message.seq);
    this.typists.get(message.channel)?.delete(message.sender);
    this.preview(message.channel, item);
    if (message.sender === this.user) {
      // Written in another tab or on another device: read there.
      this.receipt(message.channel, this.user, message.seq);
    } else if (this.current === message.channel && this.atBottom && document.visibilityState === 'visible') {
      this.markRead(message.channel);
    } else {
      void this.notify(message);
    }
  }

  private receipt(channel: string, user: string, seq: number): void {
    if (user === this.user) {
      const row = this.channels.get(channel);
      if (row !== undefined && row.read < seq) row.read = seq;
      return;
    }
    const markers = this.receipts.get(channel) ?? new Map<string, number>();
    markers.set(user, Math.max(seq, markers.get(user) ?? 0));
    this.receipts.set(channel, markers);
  }

  private typist(channel: string, user: string): void {
    const typists = this.typists.get(channel) ?? new Map<string, number>();
    typists.set(user, Date.now() + TYPING_SHOWN_MS);
    this.typists.set(channel, typists);
    setTimeout(() => this.changed(), TYPING_SHOWN_MS + 50);
  }

  private async notify(message: Message): Promise<void> {
    if (document.visibilityState === 'visible' || this.notifications !== 'granted') return;
    const row = this.channels.get(message.channel);
    if (row === undefined) return;
    const notice = messageNotice(message.channel, this.title(row), this.names.of(message.sender), message.body);
    const worker = await serviceWorker();
    if (worker !== null) await worker.showNotification(notice.title, notice.options);
    else new Notification(notice.title, notice.options);
  }
}

// A stand-in for the TypeScript SDK (web/sdk, branch web-sdk), with the
// surface docs/web.rst agrees on, so that the app runs before that branch
// lands: `state.ts` is its only importer, and the merge replaces this file
// by `import ... from '@chat/sdk'` there. Ids are decimal strings in this
// API and 64-bit integers on the wire (msgpack BigInt, converted per field),
// as in the SDK.
import { Decoder, Encoder } from '@msgpack/msgpack';

const encoder = new Encoder({ useBigInt64: true });
const decoder = new Decoder({ useBigInt64: true });

/** Fields that hold an id (or a list of ids) on the wire. */
const IDS = new Set(['user', 'device', 'channel', 'sender', 'members', 'users']);

function toWire(fields: Record<string, unknown>): Record<string, unknown> {
  const wire: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const id = (item: unknown) => (typeof item === 'string' && /^\d{1,19}$/.test(item) ? BigInt(item) : item);
    wire[key] = IDS.has(key) ? (Array.isArray(value) ? value.map(id) : id(value)) : value;
  }
  return wire;
}

function fromWire(value: unknown, key = ''): unknown {
  if (typeof value === 'bigint' || (typeof value === 'number' && IDS.has(key))) {
    return IDS.has(key) ? value.toString() : Number(value);
  }
  if (Array.isArray(value)) return value.map((item) => fromWire(item, key));
  if (value instanceof Map) return Object.fromEntries([...value].map(([k, v]) => [k, fromWire(v, String(k))]));
  if (typeof value === 'object' && value !== null && !ArrayBuffer.isView(value)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, fromWire(v, k)]));
  }
  return value;
}

export interface Message {
  channel: string;
  seq: number;
  sender: string;
  device: string;
  body: string;
  ts: number;
  cid: string;
}

export interface ChannelInfo {
  channel: string;
  kind: 'direct' | 'group';
  name: string;
  members: string[];
  last: number;
  read: number;
}

export interface SendResult {
  channel: string;
  seq: number;
  ts: number;
  cid: string;
}

export interface OutboxEntry {
  cid: string;
  channel: string;
  body: string;
  state: 'pending' | 'sent' | 'failed';
  error?: ChatError;
}

export type ChatEvent =
  | { type: 'message'; message: Message }
  | { type: 'channel'; channel: string }
  | { type: 'typing'; channel: string; user: string }
  | { type: 'receipt'; channel: string; user: string; seq: number }
  | { type: 'presence'; user: string; online: boolean; last: number }
  | { type: 'outbox'; cid: string }
  | { type: 'disconnected' }
  | { type: 'reconnected' }
  | { type: 'bye'; reason: string; retry?: number };

export class ChatError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly retry?: number,
  ) {
    super(message);
  }
}

/** Errors after which the same request may succeed: resent after a reconnect, never "failed". */
const TRANSIENT = new Set(['connection_lost', 'unavailable']);

type Frame = Record<string, any>;
type WebSocketFactory = (url: string) => WebSocket;

class Connection {
  private next = 1;
  private readonly waiting = new Map<number, { resolve: (frame: Frame) => void; reject: (error: ChatError) => void }>();
  onEvent: (frame: Frame) => void = () => undefined;
  onClose: () => void = () => undefined;

  private constructor(readonly socket: WebSocket) {
    socket.binaryType = 'arraybuffer';
    socket.onmessage = (event) => {
      const frame = fromWire(decoder.decode(new Uint8Array(event.data as ArrayBuffer))) as Frame;
      const waiter = typeof frame.id === 'number' ? this.waiting.get(frame.id) : undefined;
      if (waiter === undefined || (frame.t !== 'ok' && frame.t !== 'err')) {
        this.onEvent(frame);
        return;
      }
      this.waiting.delete(frame.id);
      if (frame.t === 'ok') waiter.resolve(frame);
      else waiter.reject(new ChatError(frame.code, frame.msg, frame.retry));
    };
    socket.onclose = () => {
      for (const waiter of this.waiting.values()) waiter.reject(new ChatError('connection_lost', 'the connection closed'));
      this.waiting.clear();
      this.onClose();
    };
  }

  static open(url: string, factory: WebSocketFactory): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const socket = factory(url);
      socket.onopen = () => resolve(new Connection(socket));
      socket.onerror = () => reject(new ChatError('connection_lost', `cannot reach ${url}`));
    });
  }

  request(t: string, fields: Record<string, unknown> = {}): Promise<Frame> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.socket.send(encoder.encode({ t, id, ...toWire(fields) }));
    });
  }
}

export async function register(options: {
  url: string;
  username: string;
  password: string;
  webSocket: WebSocketFactory;
}): Promise<string> {
  const connection = await Connection.open(options.url, options.webSocket);
  try {
    return (await connection.request('register', { username: options.username, password: options.password })).user;
  } finally {
    connection.socket.close();
  }
}

interface Sending extends OutboxEntry {
  settle: { resolve: (result: SendResult) => void; reject: (error: ChatError) => void };
}

export interface ConnectOptions {
  url: string;
  auth: { username: string; password: string; device: string } | { token: string };
  webSocket: WebSocketFactory;
}

export class ChatClient {
  user = '';
  device = '';
  token = '';
  connected = false;
  private connection: Connection | null = null;
  private readonly listeners: ((event: ChatEvent) => void)[] = [];
  private readonly cursors = new Map<string, number>();
  private readonly presences = new Map<string, { online: boolean; last: number }>();
  private readonly sending: Sending[] = [];
  private closed = false;
  private retryAfter = 0;

  private constructor(private readonly options: ConnectOptions) {}

  static async connect(options: ConnectOptions): Promise<ChatClient> {
    const client = new ChatClient(options);
    const connection = await Connection.open(options.url, options.webSocket);
    try {
      client.token = 'token' in options.auth ? options.auth.token : (await connection.request('login', options.auth)).token;
      await client.attach(connection);
    } catch (error) {
      connection.socket.close();
      throw error;
    }
    return client;
  }

  private async attach(connection: Connection): Promise<void> {
    const session = await connection.request('auth', { token: this.token });
    this.user = session.user;
    this.device = session.device;
    this.connection = connection;
    this.connected = true;
    // Pinged from the last reply, so a throttled timer never lets it idle out.
    let beat: ReturnType<typeof setTimeout>;
    const ping = () => {
      beat = setTimeout(() => connection.request('ping').then(ping, () => undefined), session.heartbeat * 1000);
    };
    ping();
    connection.onEvent = (frame) => this.event(frame);
    connection.onClose = () => {
      clearTimeout(beat);
      this.connected = false;
      this.connection = null;
      if (this.closed) return;
      this.emit({ type: 'disconnected' });
      void this.reconnect(0);
    };
  }

  private async reconnect(attempt: number): Promise<void> {
    // Full jitter, at least what the node's `bye` asked for.
    const delay = Math.max(this.retryAfter, Math.random() * Math.min(5000, 250 * 2 ** attempt));
    this.retryAfter = 0;
    await new Promise((resolve) => setTimeout(resolve, delay));
    if (this.closed) return;
    try {
      const connection = await Connection.open(this.options.url, this.options.webSocket);
      await this.attach(connection);
      for (const info of await this.channels()) await this.catchUp(connection, info);
      this.emit({ type: 'reconnected' });
      for (const entry of this.sending) if (entry.state === 'pending') this.transmit(entry);
    } catch (error) {
      if (error instanceof ChatError && error.code === 'bad_token') {
        this.emit({ type: 'bye', reason: 'revoked' });
        return;
      }
      void this.reconnect(attempt + 1);
    }
  }

  private async catchUp(connection: Connection, info: ChannelInfo): Promise<void> {
    let after = this.cursors.get(info.channel) ?? 0;
    while (after < info.last) {
      const page = await connection.request('sync', { channel: info.channel, after });
      for (const message of page.messages as Message[]) this.message(message);
      if (!page.more || page.messages.length === 0) return;
      after = page.messages.at(-1).seq;
    }
  }

  private message(message: Message): void {
    this.advance(message.channel, message.seq);
    this.emit({ type: 'message', message });
  }

  private advance(channel: string, seq: number): void {
    if (seq > (this.cursors.get(channel) ?? 0)) this.cursors.set(channel, seq);
  }

  private event(frame: Frame): void {
    const { t, ...fields } = frame;
    if (t === 'msg') this.message(fields as Message);
    else if (t === 'presence') {
      this.presences.set(fields.user, { online: fields.online, last: fields.last });
      this.emit({ type: 'presence', user: fields.user, online: fields.online, last: fields.last });
    } else if (t === 'bye') {
      this.retryAfter = fields.retry ?? 0;
      this.emit({ type: 'bye', reason: fields.reason, retry: fields.retry });
    } else if (t === 'channel' || t === 'typing' || t === 'receipt') {
      this.emit({ type: t, ...fields } as ChatEvent);
    }
  }

  private emit(event: ChatEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private get live(): Connection {
    if (this.connection === null) throw new ChatError('connection_lost', 'not connected');
    return this.connection;
  }

  on(listener: (event: ChatEvent) => void): void {
    this.listeners.push(listener);
  }

  presenceOf(user: string): { online: boolean; last: number } | undefined {
    return this.presences.get(user);
  }

  get outbox(): OutboxEntry[] {
    return this.sending.map(({ cid, channel, body, state, error }) => ({ cid, channel, body, state, error }));
  }

  close(): void {
    this.closed = true;
    this.connection?.socket.close();
  }

  async channels(): Promise<ChannelInfo[]> {
    const listed: ChannelInfo[] = [];
    for (let after = '0'; ; ) {
      const page = await this.live.request('channels', { after: BigInt(after) });
      listed.push(...page.channels);
      if (!page.more || page.channels.length === 0) return listed;
      after = page.channels.at(-1).channel;
    }
  }

  async history(channel: string, page: { before: number; limit: number }): Promise<{ messages: Message[]; more: boolean }> {
    const result = await this.live.request('history', { channel, ...page });
    for (const message of result.messages as Message[]) this.advance(channel, message.seq);
    return { messages: result.messages, more: result.more };
  }

  /** Resolves once the node stored it (resent with the same cid after a reconnect); rejects when refused. */
  send(channel: string, body: string): Promise<SendResult> {
    // A lone surrogate has no UTF-8 form: the node would close the connection.
    const wellFormed = (body as string & { toWellFormed?: () => string }).toWellFormed?.() ?? body;
    return new Promise((resolve, reject) => {
      const entry: Sending = {
        cid: crypto.randomUUID(),
        channel,
        body: wellFormed,
        state: 'pending',
        settle: { resolve, reject },
      };
      this.sending.push(entry);
      this.transmit(entry);
    });
  }

  private transmit(entry: Sending): void {
    if (this.connection === null) return;
    this.connection.request('send', { channel: entry.channel, body: entry.body, cid: entry.cid }).then(
      (reply) => {
        this.sending.splice(this.sending.indexOf(entry), 1);
        this.advance(entry.channel, reply.seq);
        entry.state = 'sent';
        this.emit({ type: 'outbox', cid: entry.cid });
        entry.settle.resolve({ channel: entry.channel, seq: reply.seq, ts: reply.ts, cid: entry.cid });
      },
      (error: ChatError) => {
        if (TRANSIENT.has(error.code)) return;
        entry.state = 'failed';
        entry.error = error;
        this.emit({ type: 'outbox', cid: entry.cid });
        entry.settle.reject(error);
      },
    );
  }

  /** Sends a failed entry again (same cid); resolves as `send` does. */
  retry(cid: string): Promise<SendResult> {
    const entry = this.sending.find((candidate) => candidate.cid === cid);
    if (entry === undefined) return Promise.reject(new ChatError('not_found', 'no such message in the outbox'));
    return new Promise((resolve, reject) => {
      entry.state = 'pending';
      entry.error = undefined;
      entry.settle = { resolve, reject };
      this.emit({ type: 'outbox', cid });
      this.transmit(entry);
    });
  }

  discard(cid: string): void {
    const at = this.sending.findIndex((entry) => entry.cid === cid);
    if (at !== -1) this.sending.splice(at, 1);
    this.emit({ type: 'outbox', cid });
  }

  async read(channel: string, seq: number): Promise<void> {
    await this.live.request('read', { channel, seq });
  }

  async typing(channel: string): Promise<void> {
    await this.live.request('typing', { channel });
  }

  async lookup(username: string): Promise<string> {
    return (await this.live.request('lookup', { username })).user;
  }

  async direct(user: string): Promise<string> {
    return (await this.live.request('direct', { user })).channel;
  }

  async group(name: string, members: string[]): Promise<string> {
    return (await this.live.request('group', { name, members })).channel;
  }

  async presence(users: string[]): Promise<void> {
    for (const state of (await this.live.request('presence', { users })).presence) {
      this.presences.set(state.user, { online: state.online, last: state.last });
    }
  }

  async devices(): Promise<{ device: string; name: string; last: number }[]> {
    return (await this.live.request('devices')).devices;
  }

  async revoke(device: string): Promise<void> {
    await this.live.request('revoke', { device });
  }

  async logout(): Promise<void> {
    await this.live.request('logout');
  }

  async push(target: Record<string, string>): Promise<void> {
    await this.live.request('push', target);
  }
}

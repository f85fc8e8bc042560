// The frames of protocol v1.1, typed: requests out, replies and events in.
//
// One table (REQUESTS) declares each request: its fields in wire order with
// the kind of each, whether repeating it is harmless, and how to read and
// check its `ok`. Encoding and the result's reading are written once from
// it, as the Python `protocol` package does it from its field declarations.
// Requests are checked for types where they are built, so that a bad id
// fails at its caller; limits the node may change are the node's to check.

import { type Wire, type WireMap, FrameError } from './codec.js';
import { ErrorCode } from './errors.js';
import { FieldError, Fields } from './fields.js';
import { wireCount, wireId, wireIdSet } from './ids.js';
import type {
  AuthResult,
  ChannelInfo,
  ChatEvent,
  DeviceInfo,
  Id,
  LoginResult,
  Message,
  NotifyLevel,
  Page,
  PushResult,
  PushTarget,
  UserPresence,
} from './types.js';

export type Request =
  | { readonly t: 'register'; readonly username: string; readonly password: string }
  | { readonly t: 'login'; readonly username: string; readonly password: string; readonly device: string }
  | { readonly t: 'auth'; readonly token: string }
  | { readonly t: 'ping' }
  | { readonly t: 'lookup'; readonly username: string }
  | { readonly t: 'direct'; readonly user: Id }
  | { readonly t: 'group'; readonly name: string; readonly members: Iterable<Id> }
  | { readonly t: 'invite'; readonly channel: Id; readonly users: Iterable<Id> }
  | { readonly t: 'leave'; readonly channel: Id }
  | { readonly t: 'channels'; readonly after?: Id; readonly limit?: number }
  | {
      readonly t: 'send';
      readonly channel: Id;
      readonly body: string;
      readonly cid: string;
      readonly mentions?: Iterable<Id>;
    }
  | { readonly t: 'sync'; readonly channel: Id; readonly after: number; readonly limit?: number }
  | { readonly t: 'history'; readonly channel: Id; readonly before: number; readonly limit?: number }
  | { readonly t: 'read'; readonly channel: Id; readonly seq: number }
  | { readonly t: 'ack'; readonly channel: Id; readonly seq: number }
  | { readonly t: 'notify'; readonly channel: Id; readonly level: NotifyLevel; readonly until?: number }
  | { readonly t: 'typing'; readonly channel: Id }
  | { readonly t: 'presence'; readonly users: Iterable<Id> }
  | { readonly t: 'push'; readonly target: PushTarget | null; readonly preview?: boolean }
  | { readonly t: 'devices' }
  | { readonly t: 'revoke'; readonly device: Id }
  | { readonly t: 'logout' }
  | { readonly t: 'block'; readonly user: Id }
  | { readonly t: 'unblock'; readonly user: Id }
  | { readonly t: 'blocked' };

export type RequestType = Request['t'];

/** What each request's `ok` carries; undefined for a bare `ok`. */
export interface Results {
  register: { readonly user: Id };
  login: LoginResult;
  auth: AuthResult;
  ping: undefined;
  lookup: { readonly user: Id };
  direct: { readonly channel: Id };
  group: { readonly channel: Id };
  invite: undefined;
  leave: undefined;
  channels: { readonly channels: readonly ChannelInfo[]; readonly more: boolean };
  send: { readonly channel: Id; readonly seq: number; readonly ts: number };
  sync: Page;
  history: Page;
  read: undefined;
  ack: undefined;
  notify: undefined;
  typing: undefined;
  presence: { readonly presence: readonly UserPresence[] };
  push: PushResult;
  devices: { readonly devices: readonly DeviceInfo[] };
  revoke: undefined;
  logout: undefined;
  block: undefined;
  unblock: undefined;
  blocked: { readonly users: readonly Id[] };
}

export type ResultOf<R extends Request> = Results[R['t']];

type Kind = 'id' | 'ids' | 'count' | 'text' | 'level';

interface Spec {
  /** The fields after `t` and `id`, in wire order; optional ones are left out when undefined. */
  readonly fields: readonly (readonly [name: string, kind: Kind])[];
  /** Whether sending it twice does what sending it once does, so it may go again after a lost connection. */
  readonly idempotent: boolean;
  /** Reads the `ok`'s fields (and checks them against the request); none for a bare `ok`. */
  readonly result?: (f: Fields, request: never) => unknown;
}

const NOTIFY_LEVELS: readonly NotifyLevel[] = ['all', 'mentions', 'none'];

// -- values ---------------------------------------------------------------------

function readMessage(f: Fields): Message {
  return {
    channel: f.id('channel'),
    seq: f.count('seq', 1),
    sender: f.id('sender'),
    device: f.id('device'),
    body: f.text('body'),
    ts: f.count('ts'),
    cid: f.text('cid'),
  };
}

function readChannelInfo(f: Fields): ChannelInfo {
  const info: ChannelInfo = {
    channel: f.id('channel'),
    kind: f.oneOf('kind', ['direct', 'group'] as const),
    name: f.text('name'),
    members: f.ids('members'),
    last: f.count('last'),
    read: f.count('read'),
  };
  return f.has('notify') ? { ...info, notify: f.known('notify', NOTIFY_LEVELS) } : info;
}

function readPresence(f: Fields): UserPresence {
  return { user: f.id('user'), online: f.boolean('online'), last: f.count('last') };
}

function readPage(f: Fields): Page {
  return { messages: f.maps('messages').map(readMessage), more: f.boolean('more') };
}

// A client advances its cursors from pages: a message of another channel,
// out of order or out of the asked range would corrupt them.
function checkPage(page: Page, channel: Id, limit: number | undefined, inRange: (seq: number) => boolean): Page {
  const seqs = page.messages.map((message) => message.seq);
  if (page.messages.some((message) => message.channel !== channel)) {
    throw new FieldError(`a page of channel ${channel} holds another channel's message`);
  }
  if (seqs.some((seq, i) => i > 0 && seqs[i - 1]! >= seq) || !seqs.every(inRange)) {
    throw new FieldError(`page seqs out of order or out of the asked range: ${seqs.join(',')}`);
  }
  if (limit !== undefined && seqs.length > limit) {
    throw new FieldError(`a page of ${seqs.length} messages for a limit of ${limit}`);
  }
  return page;
}

type Of<T extends RequestType> = Extract<Request, { t: T }>;

const REQUESTS: { readonly [T in RequestType]: Spec } = {
  register: {
    fields: [['username', 'text'], ['password', 'text']],
    idempotent: false, // a second register answers username_taken
    result: (f) => ({ user: f.id('user') }),
  },
  login: {
    fields: [['username', 'text'], ['password', 'text'], ['device', 'text']],
    idempotent: false, // every login creates another device
    result: (f): LoginResult => ({ user: f.id('user'), device: f.id('device'), token: f.text('token', 1) }),
  },
  auth: {
    fields: [['token', 'text']],
    idempotent: true,
    result: (f): AuthResult => ({ user: f.id('user'), device: f.id('device'), heartbeat: f.count('heartbeat', 1) }),
  },
  ping: { fields: [], idempotent: true },
  lookup: { fields: [['username', 'text']], idempotent: true, result: (f) => ({ user: f.id('user') }) },
  direct: { fields: [['user', 'id']], idempotent: true, result: (f) => ({ channel: f.id('channel') }) },
  group: {
    fields: [['name', 'text'], ['members', 'ids']],
    idempotent: false, // every group request creates a group
    result: (f) => ({ channel: f.id('channel') }),
  },
  invite: { fields: [['channel', 'id'], ['users', 'ids']], idempotent: false },
  leave: { fields: [['channel', 'id']], idempotent: false }, // a second leave answers not_member
  channels: {
    fields: [['after', 'id'], ['limit', 'count']],
    idempotent: true,
    result: (f, request: Of<'channels'>) => {
      const page = { channels: f.maps('channels').map(readChannelInfo), more: f.has('more') && f.boolean('more') };
      const after = BigInt(request.after ?? '0');
      // Neither the count nor the order is checked: a v1 node lists in any
      // order, and a client goes on from the highest id of a page.
      if (page.channels.some((info) => BigInt(info.channel) <= after)) {
        throw new FieldError(`a channels page after ${after} holds a channel not after it`);
      }
      if (page.more && page.channels.length === 0) throw new FieldError('an empty channels page says there are more');
      return page;
    },
  },
  send: {
    fields: [['channel', 'id'], ['body', 'text'], ['cid', 'text'], ['mentions', 'ids']],
    idempotent: true, // the node stores one message per (sender, cid)
    result: (f) => ({ channel: f.id('channel'), seq: f.count('seq', 1), ts: f.count('ts') }),
  },
  sync: {
    fields: [['channel', 'id'], ['after', 'count'], ['limit', 'count']],
    idempotent: true,
    result: (f, r: Of<'sync'>) => checkPage(readPage(f), r.channel, r.limit, (seq) => seq > r.after),
  },
  history: {
    fields: [['channel', 'id'], ['before', 'count'], ['limit', 'count']],
    idempotent: true,
    result: (f, r: Of<'history'>) => checkPage(readPage(f), r.channel, r.limit, (seq) => seq > 0 && seq < r.before),
  },
  read: { fields: [['channel', 'id'], ['seq', 'count']], idempotent: true }, // a read marker only moves forward
  ack: { fields: [['channel', 'id'], ['seq', 'count']], idempotent: true },
  notify: { fields: [['channel', 'id'], ['level', 'level'], ['until', 'count']], idempotent: true },
  typing: { fields: [['channel', 'id']], idempotent: false }, // stale after a reconnect: better dropped than repeated
  presence: {
    fields: [['users', 'ids']],
    idempotent: true,
    result: (f) => ({ presence: f.maps('presence').map(readPresence) }),
  },
  push: {
    fields: [], // written by pushFields: provider fields share the frame's top level
    idempotent: true,
    result: (f): PushResult => (f.has('key') ? { key: f.text('key', 1) } : {}),
  },
  devices: {
    fields: [],
    idempotent: true,
    result: (f) => ({
      devices: f.maps('devices').map((d): DeviceInfo => ({ device: d.id('device'), name: d.text('name'), last: d.count('last') })),
    }),
  },
  revoke: { fields: [['device', 'id']], idempotent: false }, // a second revoke answers not_found
  logout: { fields: [], idempotent: false }, // the node closes the connection after it
  block: { fields: [['user', 'id']], idempotent: true },
  unblock: { fields: [['user', 'id']], idempotent: true },
  blocked: { fields: [], idempotent: true, result: (f) => ({ users: f.ids('users') }) },
};

// -- requests out -----------------------------------------------------------------

function wireField(kind: Kind, name: string, value: unknown): Wire | undefined {
  switch (kind) {
    case 'id':
      return wireId(value as Id, name);
    case 'ids': {
      const ids = wireIdSet(value as Iterable<Id>, name);
      // An empty `mentions` is its default: left out, as a v1 node expects.
      return name === 'mentions' && ids.length === 0 ? undefined : ids;
    }
    case 'count':
      return wireCount(value as number, name);
    case 'text':
      if (typeof value !== 'string') throw new TypeError(`${name} must be a string`);
      return value; // made well-formed where every string is, in encodeFrame
    case 'level':
      if (!NOTIFY_LEVELS.includes(value as NotifyLevel)) throw new TypeError(`level must be one of ${NOTIFY_LEVELS.join(', ')}`);
      return value as NotifyLevel;
  }
}

// Each kind's provider fields, written sorted by name before `kind` and `endpoint`.
const PROVIDER_FIELDS: { readonly [K in PushTarget['kind']]: readonly (readonly [string, 'string' | 'boolean', boolean])[] } = {
  webpush: [['auth', 'string', true], ['p256dh', 'string', true]],
  unifiedpush: [['auth', 'string', true], ['p256dh', 'string', true]],
  fcm: [],
  apns: [['sandbox', 'boolean', false], ['topic', 'string', false]],
};

function pushFields(request: Of<'push'>): Record<string, Wire> {
  const target = request.target;
  if (target === null) return { endpoint: null };
  const provider = PROVIDER_FIELDS[target.kind];
  if (provider === undefined) throw new TypeError(`push kind must be one of ${Object.keys(PROVIDER_FIELDS).join(', ')}`);
  if (typeof target.endpoint !== 'string' || target.endpoint === '') throw new TypeError('push endpoint must be a non-empty string');
  const fields: Record<string, Wire> = {};
  const values = target as unknown as Record<string, unknown>;
  for (const [name, type, required] of provider) {
    const value = values[name];
    if (value === undefined && !required) continue;
    if (typeof value !== type) throw new TypeError(`push field ${name} of a ${target.kind} target must be a ${type}`);
    // The APNs sandbox flag is sent only when set, as its default is production.
    if (value === false) continue;
    fields[name] = value as string | boolean;
  }
  const preview = request.preview === true ? { preview: true } : {};
  return { ...fields, kind: target.kind, endpoint: target.endpoint, ...preview };
}

/**
 * A request checked and turned into its frame, less the id the connection
 * that sends it gives it (one request may go on several connections).
 */
export class Prepared<R extends Request = Request> {
  readonly idempotent: boolean;
  private readonly fields: Readonly<Record<string, Wire>>;

  constructor(readonly request: R) {
    const spec = REQUESTS[request.t];
    if (spec === undefined) throw new TypeError(`unknown request type ${String(request.t)}`);
    this.idempotent = spec.idempotent;
    if (request.t === 'push') {
      this.fields = pushFields(request as Of<'push'>);
      return;
    }
    const fields: Record<string, Wire> = {};
    const values = request as unknown as Record<string, unknown>;
    for (const [name, kind] of spec.fields) {
      if (values[name] === undefined) continue;
      const value = wireField(kind, name, values[name]);
      if (value !== undefined) fields[name] = value;
    }
    this.fields = fields;
  }

  /** The frame with request id `id`: `t` and `id` first, the fields in their order. */
  frame(id: bigint): WireMap {
    return { t: this.request.t, id, ...this.fields };
  }

  /** The `ok`'s result, read and checked against this request; raises FieldError. */
  readResult(f: Fields): ResultOf<R> {
    const read = REQUESTS[this.request.t].result;
    return (read === undefined ? undefined : read(f, this.request as never)) as ResultOf<R>;
  }
}

// -- replies and events in --------------------------------------------------------

export interface Ok {
  readonly type: 'ok';
  readonly id: bigint;
  /** Undefined for a bare `ok`, and for one whose request is no longer in flight (its fields unread). */
  readonly result: unknown;
}

export interface Err {
  readonly type: 'err';
  /** Null when the node could not read the request's id. */
  readonly id: bigint | null;
  readonly code: ErrorCode | string;
  readonly msg: string;
  readonly retry?: number;
}

/** A node's event, in the shape the app's event stream carries it. */
export type ServerEvent = Extract<ChatEvent, { type: 'message' | 'channel' | 'typing' | 'receipt' | 'presence' | 'bye' }>;

const ERROR_CODES = Object.values(ErrorCode);
const BYE_REASONS = ['draining', 'revoked', 'slow_consumer', 'idle'] as const;

const EVENTS: { readonly [t: string]: (f: Fields) => ServerEvent } = {
  msg: (f) => ({ type: 'message', message: readMessage(f) }),
  channel: (f) => ({
    type: 'channel',
    channel: f.id('channel'),
    kind: f.oneOf('kind', ['direct', 'group'] as const),
    name: f.text('name'),
    members: f.ids('members'),
  }),
  receipt: (f) => ({ type: 'receipt', channel: f.id('channel'), user: f.id('user'), seq: f.count('seq') }),
  typing: (f) => ({ type: 'typing', channel: f.id('channel'), user: f.id('user') }),
  presence: (f) => ({ type: 'presence', ...readPresence(f) }),
  bye: (f) => {
    const retry = f.optCount('retry');
    const reason = f.known('reason', BYE_REASONS);
    return retry === undefined ? { type: 'bye', reason } : { type: 'bye', reason, retry };
  },
};

/**
 * A reply or an event from a node, validated as strictly as the node
 * validates a client: ids positive 63-bit, seqs and times not negative,
 * strings of their lengths, pages in order.
 *
 * An `ok` does not name its result, so `requestOf` maps the id of a request
 * in flight to it: its spec reads the reply. `lenient` is the client's rule:
 * an event type this version does not know gives null, and an error code or
 * bye reason it does not know is kept as its string. Raises FrameError for
 * anything that is not a valid frame.
 */
export function decodeServerFrame(
  frame: WireMap,
  requestOf: (id: bigint) => Prepared | undefined,
  lenient: boolean,
): Ok | Err | ServerEvent | null {
  const f = new Fields(frame, lenient);
  let t = '';
  try {
    t = f.text('t');
    if (t === 'ok') {
      const id = f.requestId('id');
      const request = requestOf(id);
      return { type: 'ok', id, result: request === undefined ? undefined : request.readResult(f) };
    }
    if (t === 'err') {
      const id = f.has('id') ? f.requestId('id') : null;
      const code = f.known('code', ERROR_CODES);
      const msg = f.text('msg');
      const retry = f.optCount('retry');
      return retry === undefined ? { type: 'err', id, code, msg } : { type: 'err', id, code, msg, retry };
    }
    if (f.present('id')) throw new FrameError(`a '${t.slice(0, 32)}' frame with an id is neither a reply nor an event`);
    const event = EVENTS[t];
    if (event !== undefined && Object.hasOwn(EVENTS, t)) return event(f);
  } catch (error) {
    if (error instanceof FieldError) throw new FrameError(`invalid server frame: ${error.message}`);
    throw error;
  }
  if (lenient) return null;
  throw new FrameError(`unknown server frame type '${t.slice(0, 32)}'`);
}

// The values the SDK hands an app, and the parts an app injects.
//
// Ids (users, devices, channels) are decimal strings: every id a node makes
// is above 2^53, where a JavaScript number can no longer hold it exactly. On
// the wire they are 64-bit integers. Seqs, times and counts are numbers: a
// channel would need 2^53 messages, and a clock the year 287,396, before one
// of them left the range a number holds exactly.

/** A user, device or channel id: the decimal form of a positive 63-bit integer. */
export type Id = string;

export type ChannelKind = 'direct' | 'group';

/** Which messages of a channel push to the user's devices (v1.1 `notify`). */
export type NotifyLevel = 'all' | 'mentions' | 'none';

/** One chat message, live or from a `sync`/`history` page. */
export interface Message {
  readonly channel: Id;
  readonly seq: number;
  /** The sending user. */
  readonly sender: Id;
  /** The sending device. */
  readonly device: Id;
  readonly body: string;
  /** Milliseconds since the epoch: when the channel accepted it. */
  readonly ts: number;
  /** The sender's id for it, the key that makes a repeated send store it once. */
  readonly cid: string;
}

/** One channel of the user, as `channels()` lists it. */
export interface ChannelInfo {
  readonly channel: Id;
  readonly kind: ChannelKind;
  /** "" for direct channels. */
  readonly name: string;
  /** Ascending. */
  readonly members: readonly Id[];
  /** The channel's newest seq, 0 when empty. */
  readonly last: number;
  /** This user's read marker. */
  readonly read: number;
  /** v1.1: the notify level in force where one is set (a newer node's level as its string). */
  readonly notify?: NotifyLevel | string;
}

export interface UserPresence {
  readonly user: Id;
  readonly online: boolean;
  /** Milliseconds since the epoch of the user's last activity; 0 when unknown. */
  readonly last: number;
}

export interface DeviceInfo {
  readonly device: Id;
  readonly name: string;
  /** Milliseconds since the epoch of the device's last activity. */
  readonly last: number;
}

/** A `sync` or `history` page: ascending seqs; `more` when the page was cut. */
export interface Page {
  readonly messages: readonly Message[];
  readonly more: boolean;
}

/** Where a sent message was stored (the first time, for a repeated cid). */
export interface SendResult {
  readonly channel: Id;
  readonly seq: number;
  readonly ts: number;
  readonly cid: string;
}

export interface LoginResult {
  readonly user: Id;
  readonly device: Id;
  /** The device's only credential: keep it secret, in secure storage. */
  readonly token: string;
}

export interface AuthResult {
  readonly user: Id;
  readonly device: Id;
  /** Seconds between the client's pings. */
  readonly heartbeat: number;
}

/** A browser's PushSubscription (RFC 8030/8291): `p256dh` and `auth` base64url. */
export interface WebPushTarget {
  readonly kind: 'webpush';
  readonly endpoint: string;
  readonly p256dh: string;
  readonly auth: string;
}

/** A UnifiedPush distributor's endpoint, with Web Push's keys and encryption. */
export interface UnifiedPushTarget {
  readonly kind: 'unifiedpush';
  readonly endpoint: string;
  readonly p256dh: string;
  readonly auth: string;
}

/** Firebase Cloud Messaging: the endpoint is the FCM registration token. */
export interface FcmTarget {
  readonly kind: 'fcm';
  readonly endpoint: string;
}

/** Apple Push Notification service: the endpoint is the device token. */
export interface ApnsTarget {
  readonly kind: 'apns';
  readonly endpoint: string;
  /** The app's bundle id, when the node's default is not it. */
  readonly topic?: string;
  /** The development (sandbox) APNs environment. */
  readonly sandbox?: boolean;
}

export type PushTarget = WebPushTarget | UnifiedPushTarget | FcmTarget | ApnsTarget;

export interface PushOptions {
  /** Ask for message previews, which the node gives only where its operator enabled them. */
  readonly preview?: boolean;
}

/** The `push` reply (v1.1). */
export interface PushResult {
  /**
   * For an FCM or APNs target that asked for previews: the AES-128 key
   * (base64url) its previews are encrypted with, given this once.
   */
  readonly key?: string;
}

// -- the outbox ---------------------------------------------------------------

/**
 * `pending`: not acknowledged yet (in flight, or waiting for a connection);
 * `sent`: stored by the node, as the `outbox` event shows it when it leaves
 * the list; `failed`: refused for good (`too_long`, `bad_request`,
 * `not_member`, `blocked`, ...), kept until the app retries or discards it.
 */
export type OutboxState = 'pending' | 'sent' | 'failed';

export interface OutboxEntry {
  readonly cid: string;
  readonly channel: Id;
  /** Well-formed: what the node stores. */
  readonly body: string;
  readonly mentions: readonly Id[];
  readonly state: OutboxState;
  /** Where it was stored, once `sent`. */
  readonly seq?: number;
  readonly ts?: number;
  /** Why it `failed`. */
  readonly error?: Error;
}

// -- events -------------------------------------------------------------------

/** The one ordered stream an app reads: `client.on(listener)` or `client.events()`. */
export type ChatEvent =
  | { readonly type: 'message'; readonly message: Message }
  | {
      readonly type: 'channel';
      readonly channel: Id;
      readonly kind: ChannelKind;
      readonly name: string;
      readonly members: readonly Id[];
    }
  | { readonly type: 'typing'; readonly channel: Id; readonly user: Id }
  | { readonly type: 'receipt'; readonly channel: Id; readonly user: Id; readonly seq: number }
  | { readonly type: 'presence'; readonly user: Id; readonly online: boolean; readonly last: number }
  | { readonly type: 'outbox'; readonly entry: OutboxEntry }
  | { readonly type: 'disconnected'; readonly reason: string; readonly delay: number }
  | { readonly type: 'reconnected'; readonly channels: readonly ChannelInfo[] }
  | { readonly type: 'bye'; readonly reason: string; readonly retry?: number };

export type ChatEventListener = (event: ChatEvent) => void;

// -- what an app injects --------------------------------------------------------

/**
 * The part of a WebSocket the SDK uses: the browser's and React Native's
 * `WebSocket`, and Node's (`node --experimental-websocket`, or Node 22), all
 * fit. Binary messages must arrive as ArrayBuffer (the SDK sets
 * `binaryType`).
 */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

/** Opens a WebSocket to `url`, e.g. `(url) => new WebSocket(url)`. */
export type WebSocketFactory = (url: string) => WebSocketLike;

/**
 * Key-value storage for the outbox and the cursors: `localStorage` fits, and
 * so does React Native's AsyncStorage (its methods return promises).
 */
export interface KeyValueStorage {
  getItem(key: string): string | null | Promise<string | null>;
  setItem(key: string, value: string): void | Promise<void>;
  removeItem(key: string): void | Promise<void>;
}

export type TimerHandle = unknown;

/** Time and timers: the global ones by default; tests give a virtual clock. */
export interface Clock {
  /** Milliseconds, monotonic enough for intervals (Date.now() will do). */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** A uniform draw from [0, 1): Math.random by default; seed it for a reproducible back-off. */
export type Random = () => number;

export type Credentials =
  | { readonly username: string; readonly password: string; readonly device: string }
  | { readonly token: string };

export interface ClientOptions {
  /** e.g. `wss://chat.example/v1`. */
  readonly url: string;
  /** A password login creates a device; keep `client.token` and come back with `{token}`. */
  readonly auth: Credentials;
  readonly webSocket: WebSocketFactory;
  /** Where the outbox and the cursors outlive the page or the app; memory only without it. */
  readonly storage?: KeyValueStorage;
  readonly clock?: Clock;
  readonly random?: Random;
  /**
   * Where the channels of the first connection's list that have no cursor
   * (none in the storage) start delivering: `latest` (default) after their
   * newest message (an app shows older ones with `history`), `beginning`
   * from seq 1 (a bot that must see every message). Channels that appear
   * later start from seq 1 either way: everything in them is news.
   */
  readonly start?: 'latest' | 'beginning';
  /** First and largest reconnect window, ms (500 and 30,000). */
  readonly backoffBase?: number;
  readonly backoffCap?: number;
  /** A connection up this long resets the back-off, ms (30,000). */
  readonly stableAfter?: number;
  /** Connecting (WebSocket open, then auth) gives up after this, ms (10,000). */
  readonly connectTimeout?: number;
  /** `limit` of each catch-up `sync` (100). */
  readonly syncPage?: number;
  /** Users kept in the presence cache (4,096). */
  readonly presenceCache?: number;
  /** Events an `events()` iterator may hold unread before it fails (10,000). */
  readonly eventBuffer?: number;
  /** Requests awaiting replies on one connection; more wait (256). */
  readonly maxInFlight?: number;
  /** The node's body limit in characters, checked before sending (100,000). */
  readonly maxBodyChars?: number;
}

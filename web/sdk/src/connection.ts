// Connection: one WebSocket to a node, requests matched to replies, events handed on.
//
// The socket is the app's (injected through a factory); this class is the
// thin driver around the sans-IO parts: the request-id table, the codec and
// the frame decoder. It does not reconnect (ChatClient does). When the node
// closes it, requests in flight and later ones reject with ConnectionLost
// (ProtocolError if the node broke the protocol), and `closed` resolves.

import { decodeFrame, encodeFrame, FrameError } from './codec.js';
import { ConnectionLost, errorFor, ProtocolError } from './errors.js';
import { PendingTable } from './pending.js';
import { decodeServerFrame, Prepared, type Request, type ResultOf, type ServerEvent } from './protocol.js';
import type { Clock, WebSocketFactory, WebSocketLike } from './types.js';

const OPEN = 1;

export interface ConnectionOptions {
  readonly webSocket: WebSocketFactory;
  readonly clock: Clock;
  /** Ms for the WebSocket to open. */
  readonly connectTimeout: number;
  /** Requests awaiting replies; more wait for room. */
  readonly maxInFlight: number;
  /** Called for each event the node sends, in order; must not throw. */
  readonly onEvent?: (event: ServerEvent) => void;
  /** Called with the clock's time of every frame in and out (for heartbeats). */
  readonly onActivity?: (direction: 'in' | 'out', now: number) => void;
}

interface Waiter {
  readonly prepared: Prepared;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
}

type Bye = Extract<ServerEvent, { type: 'bye' }>;

export class Connection {
  private readonly pending: PendingTable<Waiter>;
  private readonly admission: (() => void)[] = [];
  private lost: ConnectionLost | null = null;
  private resolveClosed!: () => void;
  /** Resolves once the connection has ended, for whatever reason. */
  readonly closed: Promise<void> = new Promise((resolve) => (this.resolveClosed = resolve));
  /** The node's `bye`, if it said goodbye before closing. */
  bye: Bye | null = null;

  private constructor(
    private readonly ws: WebSocketLike,
    private readonly options: ConnectionOptions,
  ) {
    this.pending = new PendingTable(options.maxInFlight);
    ws.onmessage = (event) => this.receive(event.data);
    ws.onclose = (event) => this.shutDown(new ConnectionLost(describe(event.code, event.reason)));
    ws.onerror = () => undefined; // a close event follows and says what ended
  }

  /** Connect to `url` (`ws://host:8765/v1`, or `wss://`); rejects with ConnectionLost if it cannot. */
  static open(url: string, options: ConnectionOptions): Promise<Connection> {
    return new Promise((resolve, reject) => {
      let ws: WebSocketLike;
      try {
        ws = options.webSocket(url);
      } catch (error) {
        reject(new ConnectionLost(`cannot connect to ${url}: ${(error as Error).message}`, { cause: error }));
        return;
      }
      ws.binaryType = 'arraybuffer';
      const timer = options.clock.setTimeout(() => fail('timed out'), options.connectTimeout);
      const fail = (why: string): void => {
        options.clock.clearTimeout(timer);
        ws.onopen = ws.onclose = ws.onerror = null;
        try {
          ws.close();
        } catch {
          // closing a socket that never opened may throw; it is gone either way
        }
        reject(new ConnectionLost(`cannot connect to ${url}: ${why}`));
      };
      ws.onerror = () => fail('the WebSocket failed');
      ws.onclose = (event) => fail(describe(event.code, event.reason));
      ws.onopen = () => {
        options.clock.clearTimeout(timer);
        resolve(new Connection(ws, options));
      };
    });
  }

  /** Why the connection ended; null while it is open. */
  get closeReason(): string | null {
    return this.lost?.message ?? null;
  }

  get isClosed(): boolean {
    return this.lost !== null;
  }

  /**
   * Send `request` under an id of this connection's and resolve to its
   * result (undefined for a bare `ok`). Rejects with the ChatError of an
   * `err`, or with ConnectionLost. A Prepared request may be sent on several
   * connections: the id is each connection's own.
   */
  async request<R extends Request>(request: R | Prepared<R>): Promise<ResultOf<R>> {
    const prepared = request instanceof Prepared ? request : new Prepared(request);
    while (this.pending.full && this.lost === null) await new Promise<void>((wake) => this.admission.push(wake));
    if (this.lost !== null) throw this.lost;
    return new Promise<ResultOf<R>>((resolve, reject) => {
      const id = this.pending.add({ prepared, resolve: resolve as (result: unknown) => void, reject });
      let data: Uint8Array;
      try {
        data = encodeFrame(prepared.frame(BigInt(id)));
      } catch (error) {
        this.pending.pop(BigInt(id));
        this.admit();
        reject(error as Error);
        return;
      }
      if (this.ws.readyState !== OPEN) return; // the close event is on its way and rejects it
      try {
        this.ws.send(data);
      } catch {
        return; // likewise: a socket that cannot send is closing
      }
      this.options.onActivity?.('out', this.options.clock.now());
    });
  }

  /** Close with `code` (1000 normal; 1002 protocol error); `reason` becomes the close reason. */
  close(reason = 'closed by the client', code = 1000, lost: ConnectionLost = new ConnectionLost(reason)): void {
    if (this.lost !== null) return;
    try {
      this.ws.close(code, reason.slice(0, 120)); // a close reason has 123 bytes at most
    } catch {
      // already closing
    }
    this.shutDown(lost);
  }

  private receive(data: unknown): void {
    if (this.lost !== null) return;
    this.options.onActivity?.('in', this.options.clock.now());
    try {
      const bytes = binary(data);
      const frame = decodeServerFrame(decodeFrame(bytes), (id) => this.pending.get(id)?.prepared, true);
      if (frame === null) return; // an event type newer than this SDK
      if (frame.type === 'ok' || frame.type === 'err') {
        // An err without an id answers no request: the node could not read
        // a frame, and closes the connection next.
        const waiter = frame.id === null ? undefined : this.pending.pop(frame.id);
        if (waiter === undefined) return;
        this.admit();
        if (frame.type === 'ok') waiter.resolve(frame.result);
        else waiter.reject(errorFor(frame.code, frame.msg, frame.retry));
        return;
      }
      if (frame.type === 'bye') this.bye = frame;
      this.options.onEvent?.(frame);
    } catch (error) {
      if (!(error instanceof FrameError)) throw error;
      const reason = `protocol violation by the node: ${error.message}`;
      this.close(reason, 1002, new ProtocolError(reason));
    }
  }

  private admit(): void {
    this.admission.shift()?.();
  }

  private shutDown(lost: ConnectionLost): void {
    if (this.lost !== null) return;
    this.lost = lost;
    this.ws.onmessage = this.ws.onclose = this.ws.onerror = null;
    for (const waiter of this.pending.drain()) waiter.reject(lost);
    for (const wake of this.admission.splice(0)) wake();
    this.resolveClosed();
  }
}

function binary(data: unknown): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new FrameError('a text message (frames are binary)');
}

function describe(code: number, reason: string): string {
  const text = `closed by the node (${code})`;
  return reason ? `${text}: ${reason}` : text;
}

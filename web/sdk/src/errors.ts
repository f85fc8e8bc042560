// What can go wrong talking to a chat node, as errors an app can catch.
//
// The codes are the protocol's; a code newer than this SDK still surfaces, as
// a plain ChatError carrying the code's string, instead of breaking the client.

/** Every `code` an `err` reply may carry in protocol v1.1. */
export const ErrorCode = {
  BAD_REQUEST: 'bad_request',
  UNAUTHENTICATED: 'unauthenticated',
  BAD_CREDENTIALS: 'bad_credentials',
  BAD_TOKEN: 'bad_token',
  USERNAME_TAKEN: 'username_taken',
  NOT_FOUND: 'not_found',
  NOT_MEMBER: 'not_member',
  NOT_GROUP: 'not_group',
  TOO_MANY_MEMBERS: 'too_many_members',
  TOO_LONG: 'too_long',
  RATE_LIMITED: 'rate_limited',
  UNAVAILABLE: 'unavailable',
  INTERNAL: 'internal',
  BLOCKED: 'blocked',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The node answered a request with `err`. `retry` is its hint in ms, where it gave one. */
export class ChatError extends Error {
  override name = 'ChatError';

  constructor(
    /** An ErrorCode, or the string of a code newer than this SDK. */
    readonly code: ErrorCode | string,
    /** For people (logs, a console), never for program logic. */
    readonly msg: string,
    readonly retry?: number,
  ) {
    super(msg ? `${code}: ${msg}` : code);
  }
}

/** The request was malformed: a client bug, not a condition to retry. */
export class BadRequest extends ChatError {
  override name = 'BadRequest';
}
/** A request that needs `auth` was sent before it. */
export class Unauthenticated extends ChatError {
  override name = 'Unauthenticated';
}
/** `login` with a wrong username or password. */
export class BadCredentials extends ChatError {
  override name = 'BadCredentials';
}
/** `auth` with a token that does not exist or was revoked. */
export class BadToken extends ChatError {
  override name = 'BadToken';
}
/** `register` with a username another account holds. */
export class UsernameTaken extends ChatError {
  override name = 'UsernameTaken';
}
/** A user, device or channel named in the request does not exist. */
export class NotFound extends ChatError {
  override name = 'NotFound';
}
/** The caller is not a member of the channel. */
export class NotMember extends ChatError {
  override name = 'NotMember';
}
/** `invite`/`leave` on a direct channel. */
export class NotGroup extends ChatError {
  override name = 'NotGroup';
}
/** The group would exceed the member limit. */
export class TooManyMembers extends ChatError {
  override name = 'TooManyMembers';
}
/** The message body is over the limit (the SDK checks it before sending, too). */
export class TooLong extends ChatError {
  override name = 'TooLong';
}
/** Too fast, or too many connections: wait `retry` ms. */
export class RateLimited extends ChatError {
  override name = 'RateLimited';
}
/** Transient trouble on the node's side (or it is draining); retrying later may succeed. */
export class Unavailable extends ChatError {
  override name = 'Unavailable';
}
/** The node failed in a way it did not expect. */
export class Internal extends ChatError {
  override name = 'Internal';
}
/** The other user blocks the caller (v1.1): no channel with them, no sends into it. */
export class Blocked extends ChatError {
  override name = 'Blocked';
}

const BY_CODE: ReadonlyMap<string, typeof ChatError> = new Map<string, typeof ChatError>([
  [ErrorCode.BAD_REQUEST, BadRequest],
  [ErrorCode.UNAUTHENTICATED, Unauthenticated],
  [ErrorCode.BAD_CREDENTIALS, BadCredentials],
  [ErrorCode.BAD_TOKEN, BadToken],
  [ErrorCode.USERNAME_TAKEN, UsernameTaken],
  [ErrorCode.NOT_FOUND, NotFound],
  [ErrorCode.NOT_MEMBER, NotMember],
  [ErrorCode.NOT_GROUP, NotGroup],
  [ErrorCode.TOO_MANY_MEMBERS, TooManyMembers],
  [ErrorCode.TOO_LONG, TooLong],
  [ErrorCode.RATE_LIMITED, RateLimited],
  [ErrorCode.UNAVAILABLE, Unavailable],
  [ErrorCode.INTERNAL, Internal],
  [ErrorCode.BLOCKED, Blocked],
]);

/** The error for an `err` reply: its subclass, or ChatError for a code this SDK predates. */
export function errorFor(code: string, msg: string, retry?: number): ChatError {
  const Kind = BY_CODE.get(code) ?? ChatError;
  return new Kind(code, msg, retry);
}

/**
 * The connection ended before the request was answered, so whether the node
 * acted on it is unknown. ChatClient retries the requests that are safe to
 * repeat and rejects the others with this.
 */
export class ConnectionLost extends Error {
  override name = 'ConnectionLost';
}

/**
 * The node sent something the protocol does not allow, so the client closed
 * the connection (1002). To a caller it is a ConnectionLost: ChatClient
 * reconnects, as after any other loss.
 */
export class ProtocolError extends ConnectionLost {
  override name = 'ProtocolError';
}

/** The ChatClient has stopped for good: closed, logged out, or its token refused (`cause`). */
export class ClientClosed extends ConnectionLost {
  override name = 'ClientClosed';
}

/** An `events()` iterator fell further behind than `eventBuffer` events: the app is not reading it. */
export class EventOverflow extends Error {
  override name = 'EventOverflow';
}

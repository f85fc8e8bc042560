// The chat SDK: protocol v1.1 for browsers, Node and React Native.
//
// `ChatClient` is what an app holds: a session that survives disconnects,
// with typed requests, cursors, an outbox and one ordered event stream.
// `Connection` is one WebSocket, for tools that want the wire as it is.
// Nothing here touches the DOM or Node: the WebSocket, the storage, the clock
// and the randomness are the app's to inject. docs/web.rst describes it.
export { ChatClient, newCid, register } from './client.js';
export { Connection, type ConnectionOptions } from './connection.js';
export {
  BadCredentials,
  BadRequest,
  BadToken,
  Blocked,
  ChatError,
  ClientClosed,
  ConnectionLost,
  ErrorCode,
  EventOverflow,
  Internal,
  NotFound,
  NotGroup,
  NotMember,
  ProtocolError,
  RateLimited,
  TooLong,
  TooManyMembers,
  Unauthenticated,
  Unavailable,
  UsernameTaken,
  errorFor,
} from './errors.js';
export type { Request, RequestType, ResultOf, Results } from './protocol.js';
export { codePoints, wellFormed } from './text.js';
export type * from './types.js';

// The chat SDK: protocol v1.1 for browsers, Node and React Native.
//
// `ChatClient` is what an app holds: a session that survives disconnects,
// with typed requests, cursors, an outbox and one ordered event stream.
// Nothing here touches the DOM or Node: the WebSocket, the storage, the clock
// and the randomness are the app's to inject. docs/web.rst describes it.
export { ChatClient, register } from './client.js';
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
export type * from './types.js';

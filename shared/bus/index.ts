/** The NATS side of Squall: codecs, streams and consumers, message bodies, the connection. */
export * from './auth.js';
export * from './backoff.js';
export * from './branch-request.js';
export * from './codec.js';
export * from './connect.js';
export * from './errors.js';
export * from './messages.js';
export * from './streams.js';

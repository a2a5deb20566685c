/**
 * Local servers for development and tests: finds or builds the binaries and runs nats-server and
 * a MongoDB-compatible server on free loopback ports. Shared by the test harness and `squall dev`.
 */
export {
  defaultCacheDir,
  ensureFerretdb,
  FERRETDB_VERSION,
  type FindMongoOptions,
  type FindServerOptions,
  ferretdbCachePath,
  findGo,
  findMongoServer,
  type ServerBinary,
  type ServerKind,
  which,
} from './binaries.js';
export { PUSHDOWN_INDEX_FIELDS } from './ferret-pushdown.js';
export {
  chooseNatsServer,
  findNatsServer,
  isRecentNatsServer,
  MIN_NATS_SERVER_VERSION,
  NATS_SERVER_VERSION,
  type NatsServerCandidate,
  type NatsServerChoice,
  type NatsServerOptions,
  natsServerCachePath,
  natsServerVersion,
  parseServerVersion,
} from './nats-binary.js';
export { psqlQuery } from './postgres.js';
export { freePort, TEMP_DIR_PREFIX } from './process.js';
export {
  type LocalServer,
  type LocalServers,
  probeMongo,
  probeNats,
  type StartNatsOptions,
  type StartServerOptions,
  startLocalServers,
  startMongoServer,
  startNatsServer,
} from './servers.js';

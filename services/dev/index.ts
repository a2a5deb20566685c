/**
 * Local servers for development and tests: finds or builds the binaries and runs nats-server and
 * a MongoDB-compatible server on free loopback ports. Shared by the test harness and `squall dev`.
 */
export {
  defaultCacheDir,
  ensureFerretdb,
  FERRETDB_VERSION,
  type FindMongoOptions,
  ferretdbCachePath,
  findGo,
  findMongoServer,
  findNatsServer,
  type ServerBinary,
  type ServerKind,
  which,
} from './binaries.js';
export { freePort, TEMP_DIR_PREFIX } from './process.js';
export {
  type LocalServer,
  type LocalServers,
  probeMongo,
  probeNats,
  type StartServerOptions,
  startLocalServers,
  startMongoServer,
  startNatsServer,
} from './servers.js';

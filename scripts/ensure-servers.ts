/**
 * Makes sure the local servers the tests and `squall dev` need are available: a nats-server of at
 * least MIN_NATS_SERVER_VERSION (building NATS_SERVER_VERSION into the cache when PATH has none),
 * and mongod or FerretDB (building FerretDB into the cache when neither exists). Prints what it
 * found with versions; exits 1 with the ConfigError's advice when something is missing.
 *   npm run servers:build        (SQUALL_CACHE_DIR overrides ~/.cache/squall)
 */
import { defaultCacheDir, findMongoServer, findNatsServer, natsServerVersion } from '../services/dev/index.js';
import { toSquallError } from '../shared/errors.js';

try {
  const started = Date.now();
  const cacheDir = defaultCacheDir();
  // In sequence: both builds at once would share two cores and take as long, with mixed logs.
  const nats = await findNatsServer({ cacheDir });
  const mongo = await findMongoServer({ cacheDir });
  console.log(`nats-server ${natsServerVersion(nats.path) ?? '(version unknown)'}: ${nats.path}`);
  console.log(`${mongo.kind}: ${mongo.path}`);
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  const e = toSquallError(err);
  console.error(`${e.code}: ${e.message}`);
  process.exit(1);
}

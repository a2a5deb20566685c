/**
 * Makes sure the local servers the tests and `squall dev` need are available: finds nats-server,
 * and finds mongod or FerretDB, building FerretDB into the cache when neither exists. Prints what
 * it found; exits 1 with the ConfigError's advice when something is missing.
 *   npm run servers:build        (SQUALL_CACHE_DIR overrides ~/.cache/squall)
 */
import { defaultCacheDir, findMongoServer, findNatsServer } from '../services/dev/index.js';
import { toSquallError } from '../shared/errors.js';

try {
  const started = Date.now();
  const nats = findNatsServer();
  const mongo = await findMongoServer({ cacheDir: defaultCacheDir() });
  console.log(`nats-server: ${nats.path}`);
  console.log(`${mongo.kind}: ${mongo.path}`);
  console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
} catch (err) {
  const e = toSquallError(err);
  console.error(`${e.code}: ${e.message}`);
  process.exit(1);
}

/** MongoDB implementation of Store. */
import type { MongoClient } from 'mongodb';
import type { Store, StoreOptions } from './types.js';

/** Creates a Store over a connected MongoClient (the caller owns and closes the client). */
export function createMongoStore(_client: MongoClient, _opts?: Partial<StoreOptions>): Store {
  throw new Error('createMongoStore: not implemented yet');
}

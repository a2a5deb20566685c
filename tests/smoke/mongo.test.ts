import { MongoServerError } from 'mongodb';
import { describe, expect, it } from 'vitest';
import { collectionNames } from '../../shared/names.js';
import { connectMongo, freshDbName, freshPrefix } from '../harness/index.js';

describe('smoke: MongoDB through the harness', () => {
  it('rejects a duplicate key under a unique index with code 11000', async () => {
    const client = await connectMongo();
    const db = client.db(freshDbName());
    try {
      const commits = db.collection(collectionNames(freshPrefix()).commits);
      await commits.createIndex({ runId: 1, seq: 1 }, { unique: true });
      await commits.insertOne({ runId: 'r1', seq: 1, events: [] });
      const duplicate = await commits.insertOne({ runId: 'r1', seq: 1, events: [] }).catch((err: unknown) => err);
      expect(duplicate).toBeInstanceOf(MongoServerError);
      expect((duplicate as MongoServerError).code).toBe(11000);
      await commits.insertOne({ runId: 'r1', seq: 2, events: [] });
      expect(await commits.countDocuments({ runId: 'r1' })).toBe(2);
    } finally {
      await db.dropDatabase();
    }
  });
});

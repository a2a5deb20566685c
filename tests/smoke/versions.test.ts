import { describe, expect, it } from 'vitest';
import { isRecentNatsServer, MIN_NATS_SERVER_VERSION, NATS_SERVER_VERSION } from '../../services/dev/index.js';
import { connectMongo, connectNats } from '../harness/index.js';

describe('smoke: the servers the harness runs', () => {
  it(`runs a nats-server of at least ${MIN_NATS_SERVER_VERSION}, and says which`, async () => {
    const nc = await connectNats();
    const version = nc.info?.version ?? 'unknown';
    console.log(`smoke: nats-server ${version} (Squall builds ${NATS_SERVER_VERSION})`);
    expect(
      isRecentNatsServer(version),
      `nats-server ${version} is older than ${MIN_NATS_SERVER_VERSION}: its pull consumers stall 2 to 3 s. ` +
        'Run `npm run servers:build` (with Go) or point NATS_URL at a newer server.',
    ).toBe(true);
  });

  it('says which MongoDB-compatible server it runs', async () => {
    const client = await connectMongo();
    const info = (await client.db('admin').command({ buildInfo: 1 })) as { version?: string; ferretdbVersion?: string };
    const line = info.ferretdbVersion ? `FerretDB ${info.ferretdbVersion}` : `mongod ${info.version ?? 'unknown'}`;
    console.log(`smoke: ${line}`);
    expect(info.ferretdbVersion ?? info.version).toMatch(/\d+\.\d+/);
  });
});

import { describe, expect, it } from 'vitest';
import { isRecentNatsServer, MIN_NATS_SERVER_VERSION, NATS_SERVER_VERSION } from '../../services/dev/index.js';
import { connectMongo, connectNats } from '../harness/index.js';

describe('smoke: the servers the harness runs', () => {
  it(`runs a nats-server of at least ${MIN_NATS_SERVER_VERSION}, and says which`, async () => {
    const nc = await connectNats();
    const version = nc.info?.version ?? 'unknown';
    console.log(`smoke: nats-server ${version} (Squall builds ${NATS_SERVER_VERSION})`);
    const advice = `nats-server ${version} is older than ${MIN_NATS_SERVER_VERSION}: its pull consumers stall 2 to 3 s.`;
    const chosenBy = ['NATS_URL', 'SQUALL_NATS_SERVER_BIN'].find((v) => process.env[v]);
    if (chosenBy && !isRecentNatsServer(version)) {
      // The user's choice stands; the harness only says what it costs.
      console.warn(`smoke: ${advice} It comes from ${chosenBy}.`);
      return;
    }
    // Chosen by the launcher: an old one means the build could not happen on this machine.
    expect(
      isRecentNatsServer(version),
      `${advice} Run \`npm run servers:build\` (it needs Go) to build a newer one.`,
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

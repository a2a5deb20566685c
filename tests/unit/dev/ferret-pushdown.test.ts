import { describe, expect, it } from 'vitest';
import { PUSHDOWN_INDEX_FIELDS, PUSHDOWN_TRIGGER, pushdownIndexesSql } from '../../../services/dev/ferret-pushdown.js';
import { STORE_INDEXES } from '../../../shared/store/indexes.js';

describe("FerretDB pushdown indexes' SQL", () => {
  const sql = pushdownIndexesSql('squall_tmp_1_ab"cd');

  it('installs the trigger on CREATE INDEX and custom plans for the database, quoting its name', () => {
    expect(sql).toContain(`CREATE EVENT TRIGGER ${PUSHDOWN_TRIGGER} ON ddl_command_end WHEN TAG IN ('CREATE INDEX')`);
    // GIN's pending list would be read in full by every lookup until a vacuum empties it.
    expect(sql).toContain('jsonb_path_ops) WITH (fastupdate = off)');
    expect(sql).toContain('ALTER DATABASE "squall_tmp_1_ab""cd" SET plan_cache_mode = force_custom_plan');
  });

  it('names every pushdown field, each of which leads one of the store indexes (or is _id)', () => {
    for (const field of PUSHDOWN_INDEX_FIELDS) expect(sql).toContain(`'${field}'`);
    // The trigger only sees indexes that exist: a field no index leads would get no GIN twin.
    const leading = new Set(Object.values(STORE_INDEXES).flatMap((defs) => defs.map((d) => Object.keys(d.key)[0])));
    for (const field of PUSHDOWN_INDEX_FIELDS.filter((f) => f !== '_id')) expect(leading).toContain(field);
  });
});

/**
 * Makes FerretDB 1.24's filter pushdown on PostgreSQL indexable, at the database level.
 *
 * FerretDB turns every top-level equality of a filter into `_jsonb -> $1 @> $2`; its own indexes
 * are btrees on `(_jsonb -> 'f')`, which cannot serve `@>`, so every lookup, even by `_id`, scans
 * the whole table (13 ms at 50k documents). A GIN index on the same expression can.
 *
 * Chosen: an event trigger in each database the launcher creates. Whenever a btree index is
 * created whose first key is `_jsonb -> 'f'`, for f in PUSHDOWN_INDEX_FIELDS, it adds a GIN
 * (jsonb_path_ops, fastupdate off) twin on `_jsonb -> 'f'` to the same table, in the same
 * transaction. fastupdate off: GIN's pending list (up to 4 MB until a vacuum) is read in full by
 * every lookup, which made an `_id` lookup at 50k documents 5 ms instead of 1.3. FerretDB
 * creates the `_id` index with each table and Squall's store creates its indexes at init, so the
 * twins exist before any query is planned. Not chosen: patching FerretDB at build time (a fork of
 * its SQL to keep in step with upgrades, and a cached binary whose behaviour depends on the
 * patch); changing shared/store (it stays plain MongoDB, correct on mongod).
 *
 * One setting keeps the twins usable from FerretDB's prepared statements (pgx caches them per
 * connection): the key is a parameter (`-> $1`), so only a plan made for the actual values can
 * match the index expression, and PostgreSQL moves a statement to a generic plan (a sequential
 * scan here) after five runs when that looks no dearer, as it does while the table is small, and
 * keeps it until something re-plans it. Checked by hand: a statement prepared at 10 rows still
 * scanned at 50k (14 ms) where a custom plan took 0.26 ms. `plan_cache_mode = force_custom_plan`
 * on the database plans every execution for its values.
 */

/**
 * Fields Squall's store filters on by top-level equality that FerretDB pushes down (its `$in`,
 * `$and`, `$or` and ranges are not pushed down, so no index serves them there):
 * - `_id`: every per-run, per-commit, per-timer and per-generation read and write.
 * - `runId`: commits — history from a seq, the last seq, recent commits of a run.
 * - `status`: runs (open runs, listRuns by status).
 * - `workflowType`: listRuns by type.
 * - `workflowId`: runs and generations by workflowId (an operator's lookup; the store itself
 *   reads generations by `_id`), the leading key of both collections' indexes.
 * - `bucket`: timers — a bucket's timers and leases (claims), its pending ones (marks) and its
 *   cancelled ones (see shared/store/timer-walk.ts).
 * - `eventKey`: event waits — the runs waiting on a user event's key (shared/store/events.ts).
 */
export const PUSHDOWN_INDEX_FIELDS = [
  '_id',
  'runId',
  'status',
  'workflowType',
  'workflowId',
  'bucket',
  'runPage',
  'eventKey',
  'sweepBucket',
] as const;

/** Name of the event trigger (and its function) that adds the GIN twins. */
export const PUSHDOWN_TRIGGER = 'squall_ferretdb_pushdown_gin';

/**
 * SQL to run once, as a superuser, in a fresh FerretDB database: the function, the event trigger
 * on CREATE INDEX, and the database's plan_cache_mode.
 */
export function pushdownIndexesSql(database: string): string {
  const fields = PUSHDOWN_INDEX_FIELDS.map((f) => `'${f}'`).join(', ');
  return `
CREATE FUNCTION ${PUSHDOWN_TRIGGER}() RETURNS event_trigger LANGUAGE plpgsql AS $fn$
DECLARE
  cmd record;
  tbl regclass;
  am name;
  first_key text;
  field text;
  twin text;
  ns text;
BEGIN
  FOR cmd IN SELECT objid FROM pg_event_trigger_ddl_commands() WHERE object_type = 'index' LOOP
    SELECT i.indrelid::regclass, a.amname, pg_get_indexdef(i.indexrelid, 1, false)
      INTO tbl, am, first_key
      FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam
      WHERE i.indexrelid = cmd.objid;
    -- Only FerretDB's btrees: the GIN twins created below fire this trigger too.
    CONTINUE WHEN am IS DISTINCT FROM 'btree';
    field := substring(first_key FROM '^\\(*_jsonb -> ''([^'']+)''::text\\)*$');
    CONTINUE WHEN field IS NULL OR NOT (field = ANY (ARRAY[${fields}]));
    -- Named by table and field, so the twin is made once however many indexes lead with the field.
    twin := 'squall_gin_' || left(md5(tbl::text || '/' || field), 16);
    SELECT relnamespace::regnamespace::text INTO ns FROM pg_class WHERE oid = tbl;
    CONTINUE WHEN to_regclass(format('%s.%I', ns, twin)) IS NOT NULL;
    EXECUTE format('CREATE INDEX %I ON %s USING gin ((_jsonb -> %L) jsonb_path_ops) WITH (fastupdate = off)',
      twin, tbl, field);
  END LOOP;
END
$fn$;
CREATE EVENT TRIGGER ${PUSHDOWN_TRIGGER} ON ddl_command_end WHEN TAG IN ('CREATE INDEX')
  EXECUTE FUNCTION ${PUSHDOWN_TRIGGER}();
ALTER DATABASE "${database.replaceAll('"', '""')}" SET plan_cache_mode = force_custom_plan;
`;
}

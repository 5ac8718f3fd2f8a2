/**
 * `loft migrate` (issue 15, item 3): copies an embedded installation (SQLite `DIR/meta.db` + blocks
 * under `DIR/blocks/`) to the scale-out engines (PostgreSQL metadata; blocks in S3 or another
 * directory), keeping every id and sequence number: device tokens, node ids, revision numbers and
 * journal sequences are the same on the new servers, so a mounted drive pointed at them keeps its
 * cursor and mirror (no re-sync).
 *
 * - Stop the old server first. The source is read in one SQLite read transaction (one snapshot);
 *   commits made meanwhile would not be copied.
 * - The target must be empty or hold an earlier run of this same migration: every row is inserted
 *   with ON CONFLICT DO NOTHING and every block put only when missing, so a run that was cut off
 *   (or is simply run again) continues where it stopped and changes nothing already copied. A
 *   target whose users differ from the source's (another installation) is refused before any write.
 * - Tables are copied by column name (the PostgreSQL schema is SQLite's in other types); a source
 *   table or column the target lacks is an error, never silently dropped. The full-text index
 *   and the short-search tables (nodes_fts, name_trigrams, name_positions) are SQLite's own: PostgreSQL
 *   indexes names itself.
 * - After the rows, each identity sequence is moved past the largest copied id; then the blocks of
 *   the block ledger are copied (each verified against its hash by the target store's put); at the
 *   end the row counts of every table and the presence of every block are checked.
 */
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import type { BlockStore } from '../blockstore/block-store.js';
import { parsePostgresUrl, PostgresMetadataStore } from '../metastore/postgres/postgres-metadata-store.js';
import { SqliteMetadataStore } from '../metastore/sqlite/sqlite-metadata-store.js';
import { LoftError } from '../shared/errors.js';

/** Tables in copy order (users before the devices and links that reference them). */
export const MIGRATED_TABLES = [
  // First: a run cut off after any user was copied has already given the target the source's id.
  'installation',
  'users',
  'devices',
  'namespaces',
  'ns_members',
  'nodes',
  'revisions',
  'content_blocks',
  'blocks',
  'user_blocks',
  'gc_candidates',
  'gc_claims',
  'links',
  'mounts',
] as const;
/** Tables with a generated id whose sequence must continue after the copied ids. */
const IDENTITY_TABLES = ['users', 'devices', 'namespaces', 'nodes', 'links'];
/** SQLite's own tables (the FTS5 index and its shadow tables), not copied. */
const SQLITE_ONLY = /^(sqlite_|nodes_fts|name_trigrams$|name_positions$)/;
/** The content index (issue 16): not copied, the target's indexer rebuilds it from the journal. */
const CONTENT_INDEX = /^(content_fts|content_docs$|content_cursor$)/;
/** Rows per INSERT (PostgreSQL allows 65,535 parameters a statement). */
const BATCH_ROWS = 1000;
/** Blocks copied at once. */
const BLOCK_CONCURRENCY = 4;

export interface MigrateProgress {
  (
    event:
      | { kind: 'table'; table: string; copied: number; total: number }
      | { kind: 'blocks'; copied: number; skipped: number; total: number; bytes: number },
  ): void;
}

export interface MigrateReport {
  tables: Record<string, { source: number; target: number }>;
  blocks: { total: number; copied: number; alreadyThere: number; bytes: number };
}

export interface MigrateOptions {
  /** The embedded installation's data directory. */
  from: string;
  /** The blocks of the source (default: an FsBlockStore under `from`). */
  fromBlocks: BlockStore;
  /** postgres://USER@HOST:PORT/DB (password: PGPASSWORD). */
  meta: string;
  /** Where the blocks go. */
  blocks: BlockStore;
  progress?: MigrateProgress;
}

type Row = Record<string, unknown>;

function pgConfig(url: string): pg.ClientConfig {
  const u = parsePostgresUrl(url);
  return {
    host: decodeURIComponent(u.hostname).replace(/^\[(.*)\]$/, '$1') || undefined,
    port: u.port ? Number(u.port) : undefined,
    user: decodeURIComponent(u.username) || undefined,
    database: decodeURIComponent(u.pathname.slice(1)),
    application_name: 'loft migrate',
  };
}

export async function migrateInstallation(options: MigrateOptions): Promise<MigrateReport> {
  const filename = path.join(options.from, 'meta.db');
  // Both schemas at this Loft's version first (each store migrates itself forward on open).
  await new SqliteMetadataStore({ filename }).close();
  await (await PostgresMetadataStore.open({ url: options.meta })).close();

  const src = new Database(filename, { readonly: true, fileMustExist: true });
  const dst = new pg.Client(pgConfig(options.meta));
  dst.on('error', () => {});
  await dst.connect();
  try {
    src.exec('BEGIN'); // one snapshot of the source for the whole copy
    const srcTables = (
      src.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]
    )
      .map((r) => r.name)
      .filter((n) => !SQLITE_ONLY.test(n) && !CONTENT_INDEX.test(n));
    const unknown = srcTables.filter((n) => !(MIGRATED_TABLES as readonly string[]).includes(n));
    if (unknown.length)
      throw new LoftError(
        'BAD_REQUEST',
        `loft migrate does not know the source table(s) ${unknown.join(', ')}`,
      );

    await refuseOtherInstallation(src, dst);

    const report: MigrateReport = {
      tables: {},
      blocks: { total: 0, copied: 0, alreadyThere: 0, bytes: 0 },
    };
    for (const table of MIGRATED_TABLES) {
      if (!srcTables.includes(table)) continue;
      await copyTable(src, dst, table, options.progress);
    }
    for (const table of IDENTITY_TABLES) {
      await dst.query(
        `SELECT setval(pg_get_serial_sequence('${table}', 'id'), GREATEST((SELECT max(id) FROM ${table}), 1))`,
      );
    }
    report.blocks = await copyBlocks(src, options.fromBlocks, options.blocks, options.progress);

    // Verification: the target has at least every source row (equal counts unless something
    // else wrote to it meanwhile) and every block of the ledger.
    for (const table of MIGRATED_TABLES) {
      if (!srcTables.includes(table)) continue;
      const source = (src.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
      const { rows } = await dst.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`);
      const target = rows[0]!.n;
      report.tables[table] = { source, target };
      if (target < source)
        throw new LoftError(
          'INTERNAL',
          `verification: ${table} has ${target} rows in the target, ${source} in the source`,
        );
    }
    const missing: string[] = [];
    for (const { hash } of src.prepare('SELECT hash FROM blocks').iterate() as Iterable<{ hash: string }>) {
      if (!(await options.blocks.has(hash))) missing.push(hash);
    }
    if (missing.length)
      throw new LoftError(
        'INTERNAL',
        `verification: ${missing.length} block(s) missing in the target, e.g. ${missing[0]}`,
      );
    return report;
  } finally {
    if (src.inTransaction) src.exec('COMMIT');
    src.close();
    await dst.end().catch(() => {});
  }
}

/** Refuses a target that holds users the source does not have, or under other names. */
async function refuseOtherInstallation(src: Database.Database, dst: pg.Client): Promise<void> {
  const { rows } = await dst.query<{ id: string; name: string }>('SELECT id::text AS id, name FROM users');
  const byId = new Map(
    (src.prepare('SELECT id, name FROM users').all() as { id: number; name: string }[]).map((u) => [
      String(u.id),
      u.name,
    ]),
  );
  for (const u of rows) {
    if (byId.get(u.id) !== u.name)
      throw new LoftError(
        'CONFLICT',
        `the target already holds another installation (user ${u.id} "${u.name}" is not the source's): migrate into an empty database`,
      );
  }
  // Users alike, yet another installation id: not an earlier run of this migration (which copies
  // the id before any user) but another installation whose first users happen to match.
  const source = (src.prepare('SELECT id FROM installation').get() as { id: string }).id;
  const { rows: ids } = await dst.query<{ id: string }>('SELECT id FROM installation');
  if (rows.length > 0 && ids[0] && ids[0].id !== source)
    throw new LoftError(
      'CONFLICT',
      `the target already holds another installation (id ${ids[0].id}, the source is ${source}): migrate into an empty database`,
    );
}

async function copyTable(
  src: Database.Database,
  dst: pg.Client,
  table: string,
  progress: MigrateProgress | undefined,
): Promise<void> {
  const srcCols = (src.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[]).map((c) => c.name);
  const { rows: dstColRows } = await dst.query<{ column_name: string }>(
    'SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1',
    [table],
  );
  const dstCols = new Set(dstColRows.map((r) => r.column_name));
  const lacking = srcCols.filter((c) => !dstCols.has(c));
  if (lacking.length)
    throw new LoftError('BAD_REQUEST', `the target's ${table} lacks column(s) ${lacking.join(', ')}`);
  const total = (src.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;
  const cols = srcCols.map((c) => pg.escapeIdentifier(c)).join(', ');
  // One ordered pass over the table (by its primary key), in the read transaction's snapshot; the
  // statement stays open across the awaits of the inserts (nothing else reads `src` meanwhile).
  // Not LIMIT/OFFSET pages: each would walk the rows before it again (quadratic at a million).
  const all = src
    .prepare(`SELECT ${srcCols.join(', ')} FROM ${table} ORDER BY ${orderOf(src, table, srcCols)}`)
    .iterate() as IterableIterator<Row>;
  let copied = 0;
  progress?.({ kind: 'table', table, copied, total });
  let rows: Row[] = [];
  const flush = async () => {
    const values: unknown[] = [];
    const tuples = rows.map((r) => {
      const ph = srcCols.map((c) => {
        values.push(r[c] ?? null);
        return `$${values.length}`;
      });
      return `(${ph.join(', ')})`;
    });
    await dst.query(
      // Identity columns are GENERATED BY DEFAULT: the copied ids are taken as they are. The
      // installation id replaces the one the target's schema made (refuseOtherInstallation
      // checked that no other installation's users are there).
      `INSERT INTO ${table} (${cols}) VALUES ${tuples.join(', ')} ${
        table === 'installation'
          ? 'ON CONFLICT (singleton) DO UPDATE SET id = EXCLUDED.id'
          : 'ON CONFLICT DO NOTHING'
      }`,
      values,
    );
    copied += rows.length;
    rows = [];
    progress?.({ kind: 'table', table, copied, total });
  };
  for (const row of all) {
    rows.push(row);
    if (rows.length === BATCH_ROWS) await flush();
  }
  if (rows.length) await flush();
}

function orderOf(src: Database.Database, table: string, cols: string[]): string {
  const pk = (src.prepare(`PRAGMA table_info(${table})`).all() as { name: string; pk: number }[])
    .filter((c) => c.pk > 0)
    .sort((a, b) => a.pk - b.pk)
    .map((c) => c.name);
  return (pk.length ? pk : cols).join(', ');
}

async function copyBlocks(
  src: Database.Database,
  from: BlockStore,
  to: BlockStore,
  progress: MigrateProgress | undefined,
): Promise<MigrateReport['blocks']> {
  const hashes = (src.prepare('SELECT hash FROM blocks ORDER BY hash').all() as { hash: string }[]).map(
    (r) => r.hash,
  );
  const out = { total: hashes.length, copied: 0, alreadyThere: 0, bytes: 0 };
  let next = 0;
  const report = () =>
    progress?.({
      kind: 'blocks',
      copied: out.copied,
      skipped: out.alreadyThere,
      total: out.total,
      bytes: out.bytes,
    });
  report();
  const worker = async () => {
    while (next < hashes.length) {
      const hash = hashes[next++]!;
      if (await to.has(hash)) {
        out.alreadyThere++;
      } else {
        const data = await from.get(hash);
        if (!data)
          throw new LoftError(
            'NOT_FOUND',
            `block ${hash} is in the source's ledger but not in its block store`,
          );
        await to.put(hash, data); // verifies the bytes against the hash
        out.copied++;
        out.bytes += data.length;
      }
      report();
    }
  };
  await Promise.all(Array.from({ length: BLOCK_CONCURRENCY }, worker));
  return out;
}

/**
 * The embedded MetadataStore on better-sqlite3 (WAL mode).
 *
 * The domain operations are the engine's (src/metastore/engine); this file opens the database and
 * the transactions. Each public method runs one synchronous transaction (writes take
 * `BEGIN IMMEDIATE`, so another process on the same file — `loft user add` beside a running
 * server — waits on busy_timeout instead of failing). Transactions never span an await: the
 * SQLite primitives never yield (engine/step.ts), so an operation runs to its end inside the
 * transaction that began it.
 */
import Database from 'better-sqlite3';
import { EngineMetadataStore, type Operation } from '../engine/engine-metadata-store.js';
import { lazyPreparer } from '../../shared/lazy-statements.js';
import { runSync } from '../engine/step.js';
import { migrate } from './schema.js';
import { SqliteMetaTx } from './sqlite-meta-tx.js';
import { prepareStatements, type SqliteStatements } from './sqlite-statements.js';

/** How long a writer waits for another process's write lock before giving up (ms). */
const BUSY_TIMEOUT_MS = 10_000;

export interface SqliteMetadataStoreOptions {
  /** File path, or ':memory:' for tests. */
  filename: string;
  /**
   * A database opened and kept by the caller instead of `filename` (closing the store leaves it
   * open): the deterministic simulation's in-memory one, which outlives a server restart as the
   * file does.
   */
  database?: Database.Database;
}

export class SqliteMetadataStore extends EngineMetadataStore {
  readonly #db: Database.Database;
  readonly #ownsDb: boolean;
  readonly #stmt: SqliteStatements;
  readonly #tx: SqliteMetaTx;

  constructor(options: SqliteMetadataStoreOptions) {
    super();
    this.#ownsDb = !options.database;
    this.#db = options.database ?? new Database(options.filename);
    this.#db.pragma('journal_mode = WAL');
    // WAL + NORMAL: a commit survives a process crash; a power loss may drop the last transactions
    // but never corrupts the database. Clients retry unacknowledged commits, so this is the right trade.
    this.#db.pragma('synchronous = NORMAL');
    // Checkpoints (two fsyncs each, inside a request's commit) every 16 MiB of WAL, not every
    // 4 MiB: many small commits (a `tar x` through a drive) wait for four times fewer of them.
    this.#db.pragma('wal_autocheckpoint = 4096');
    this.#db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    this.#db.pragma('foreign_keys = ON');
    migrate(this.#db);
    // Statement and savepoint journals in memory (after the migrations, whose index builds may
    // sort whole tables): a batch is one transaction with a savepoint per op, whose journal
    // passed SQLite's 64 KiB spill size and then went to a temp file, page by page (a `tar x` of
    // 2,400 entries: 115,000 writes to /var/tmp/etilqs_*, twice the WAL's). Every statement is
    // bounded by an index and a page size (test/unit/metastore/sqlite-query-plans.test.ts), so
    // nothing sorts a table in memory.
    this.#db.pragma('temp_store = MEMORY');
    // Prepared on first use (shared/lazy-statements.ts): most runs use a part of them.
    const preparer = lazyPreparer(this.#db);
    this.#release = preparer.release;
    this.#stmt = prepareStatements(preparer);
    this.#tx = new SqliteMetaTx(this.#stmt);
  }

  /** Made once: better-sqlite3 builds a transaction function's wrappers on every `transaction()`. */
  readonly #run = (op: Operation<unknown>): unknown => runSync(op(this.#tx));
  #txn: Database.Transaction<(op: Operation<unknown>) => unknown> | null = null;

  protected async write<T>(op: Operation<T>): Promise<T> {
    this.#checkOpen();
    return (this.#txn ??= this.#db.transaction(this.#run)).immediate(op) as T;
  }

  protected async read<T>(op: Operation<T>): Promise<T> {
    this.#checkOpen();
    return (this.#txn ??= this.#db.transaction(this.#run))(op) as T;
  }

  protected async single<T>(op: Operation<T>): Promise<T> {
    this.#checkOpen();
    return runSync(op(this.#tx));
  }

  #closed = false;

  /** A closed store answers nothing, also over a database its caller keeps open (as better-sqlite3 says it). */
  #checkOpen(): void {
    if (this.#closed) throw new TypeError('The database connection is not open');
  }

  readonly #release: () => void;

  async close(): Promise<void> {
    if (!this.#closed) this.#release();
    this.#closed = true;
    if (this.#ownsDb && this.#db.open) this.#db.close();
  }

  /**
   * EXPLAIN QUERY PLAN of every statement this store prepares, by name (for the plan test, and for
   * an operator wondering why a query is slow). Parameters are bound as NULL: the plan depends on
   * the shape of the query and the indexes, not on the values.
   */
  queryPlans(): { name: string; sql: string; plan: string[] }[] {
    return Object.entries(this.#stmt).map(([name, stmt]) => {
      const sql = stmt.source;
      const params = (sql.match(/\?/g) ?? []).map(() => null);
      const rows = this.#db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...params) as { detail: string }[];
      return { name, sql, plan: rows.map((r) => r.detail) };
    });
  }

  /** Updates the planner's statistics (sqlite_stat1), as `PRAGMA optimize` would when they are stale. */
  analyze(): void {
    this.#db.exec('ANALYZE');
  }
}

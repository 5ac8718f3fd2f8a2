/**
 * Statements prepared on their first use instead of when a connection opens.
 *
 * Why: the metadata store names ~150 statements and the mirror ~70; most runs use a part of them
 * (a mount never shares a folder, a server restart serves a few routes before the next one).
 * Preparing every one at open was the largest single cost of opening either (20-40 µs each:
 * profiled in the deterministic simulation, which opens a server and three mirrors per schedule).
 *
 * What changes: a statement with an error in its SQL throws at its first use, not at open. The
 * query-plan test (test/unit/metastore/sqlite-query-plans.test.ts) prepares every statement of the
 * metadata store, and the mirror's tests run every statement of the mirror.
 *
 * Statements outlive their owner: `release()` (the store's close) leaves them to the next owner that
 * asks the same connection for the same SQL, instead of preparing them again. A connection that
 * outlives its stores is the simulation's (a drive's in-memory mirror across its restarts and
 * crashes, the server's across its restarts); in production a store closes its connection with it.
 * Two live stores never share a statement (one busy iterating would fail the other).
 *
 * A row limit that is a parameter is written `LIMIT CAST(? AS INTEGER)`, never `LIMIT ?`. The SQLite
 * that better-sqlite3 12 builds (3.53) reads a bare bound LIMIT's value while it plans, which marks
 * the statement to be prepared again whenever that parameter is bound: every run. The server's
 * journal read (the changes after a cursor, most often none: each device's poll) took 18 µs that
 * way and 0.4 µs with the cast. test/unit/shared/sqlite-bound-limit.test.ts keeps `src` free of it.
 *
 * A LazyStatement has the methods of better-sqlite3's Statement the stores use (run, get, all,
 * iterate, pluck, raw, source, reader, columns) and stands in for one in their types.
 */
import type Database from 'better-sqlite3';

/** What statement files need of a connection. */
export type Preparer = Pick<Database.Database, 'prepare'>;

/** A Preparer whose statements are prepared on `db` on first use; `release` gives them up. */
export function lazyPreparer(db: Database.Database): Preparer & { release(): void } {
  const made: LazyStatement[] = [];
  return {
    prepare: ((source: string) => {
      const s = new LazyStatement(db, source);
      made.push(s);
      return s;
    }) as unknown as Database.Database['prepare'],
    release: () => {
      for (const s of made) s.release();
    },
  };
}

/** Statements whose owner has closed, by connection and SQL (see the top). */
const spare = new WeakMap<Database.Database, Map<string, Database.Statement<unknown[]>[]>>();

function takeSpare(db: Database.Database, source: string): Database.Statement<unknown[]> | undefined {
  const s = spare.get(db)?.get(source)?.pop();
  // Back to the modes it was prepared with (its last owner may have set others).
  if (s?.reader) s.raw(false).pluck(false);
  return s;
}

type Params = unknown[];

class LazyStatement {
  #stmt: Database.Statement<Params> | null = null;
  /** pluck()/raw() calls made before the statement was prepared, in order. */
  readonly #modes: ((s: Database.Statement<Params>) => void)[] = [];

  constructor(
    private readonly db: Database.Database,
    readonly source: string,
  ) {}

  #s(): Database.Statement<Params> {
    if (this.#stmt) return this.#stmt;
    const s = takeSpare(this.db, this.source) ?? this.db.prepare<Params>(this.source);
    for (const m of this.#modes) m(s);
    return (this.#stmt = s);
  }

  /** Leaves the prepared statement to the connection's next owner (this one is closed). */
  release(): void {
    const s = this.#stmt;
    if (!s || !this.db.open) return;
    this.#stmt = null;
    let byDb = spare.get(this.db);
    if (!byDb) spare.set(this.db, (byDb = new Map()));
    let list = byDb.get(this.source);
    if (!list) byDb.set(this.source, (list = []));
    list.push(s);
  }

  #mode(m: (s: Database.Statement<Params>) => void): this {
    if (this.#stmt) m(this.#stmt);
    else this.#modes.push(m);
    return this;
  }

  pluck(on = true): this {
    return this.#mode((s) => s.pluck(on));
  }

  raw(on = true): this {
    return this.#mode((s) => s.raw(on));
  }

  get reader(): boolean {
    return this.#s().reader;
  }

  columns(): Database.ColumnDefinition[] {
    return this.#s().columns();
  }

  run(...params: Params): Database.RunResult {
    return this.#s().run(...params);
  }

  get(...params: Params): unknown {
    return this.#s().get(...params);
  }

  all(...params: Params): unknown[] {
    return this.#s().all(...params);
  }

  iterate(...params: Params): IterableIterator<unknown> {
    return this.#s().iterate(...params);
  }
}

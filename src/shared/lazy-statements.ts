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
 * A LazyStatement has the methods of better-sqlite3's Statement the stores use (run, get, all,
 * iterate, pluck, raw, source, reader, columns) and stands in for one in their types.
 */
import type Database from 'better-sqlite3';

/** What statement files need of a connection. */
export type Preparer = Pick<Database.Database, 'prepare'>;

/** A Preparer whose statements are prepared on `db` on first use. */
export function lazyPreparer(db: Database.Database): Preparer {
  return {
    prepare: ((source: string) => new LazyStatement(db, source)) as unknown as Database.Database['prepare'],
  };
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
    const s = this.db.prepare<Params>(this.source);
    for (const m of this.#modes) m(s);
    return (this.#stmt = s);
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

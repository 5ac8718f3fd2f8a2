/**
 * DbPool: the drives' in-memory databases (mirror, cache index), reused from one run to the next in
 * a process. Opening a connection is most of what a database costs the simulation: SQLite reads its
 * schema at the first statement, and every statement is prepared again (shared/lazy-statements.ts
 * keeps them on the connection for its next owner). A connection given back is emptied and filled
 * with its template's rows again: the same content, row for row (rowids and AUTOINCREMENT counters
 * included), as a fresh copy of the template.
 *
 * Only for schemas without virtual tables or triggers (the server's has both: it keeps a fresh copy
 * per run, sim-server.ts).
 */
import Database from 'better-sqlite3';

interface TableRows {
  name: string;
  rows: unknown[][];
}

export class DbPool {
  readonly #free: Database.Database[] = [];
  #template: TableRows[] | null = null;

  /** `make`: a fresh connection with the template's content (as a run would open it). */
  constructor(private readonly make: () => Database.Database) {}

  /** A connection holding the template's content. */
  take(): Database.Database {
    const db = this.#free.pop();
    if (!db) return this.make();
    this.#reset(db);
    return db;
  }

  /** Gives a connection back (closed instead if a transaction is open in it). */
  give(db: Database.Database): void {
    if (!db.open) return;
    if (db.inTransaction) db.close();
    else this.#free.push(db);
  }

  #rows(): TableRows[] {
    if (this.#template) return this.#template;
    const t = this.make();
    const names = t
      .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
      .all() as { name: string; sql: string }[];
    for (const { name, sql } of names)
      if (/^CREATE VIRTUAL/i.test(sql)) throw new Error(`DbPool: virtual table ${name} is not supported`);
    if (t.prepare("SELECT 1 FROM sqlite_master WHERE type = 'trigger'").get())
      throw new Error('DbPool: triggers are not supported');
    const tables = names.map((n) => n.name);
    if (t.prepare("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").get())
      tables.push('sqlite_sequence');
    this.#template = tables.map((name) => ({
      name,
      rows: t.prepare(`SELECT * FROM "${name}"`).raw().all() as unknown[][],
    }));
    t.close();
    return this.#template;
  }

  #reset(db: Database.Database): void {
    const template = this.#rows();
    const tables = (
      db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all() as string[]
    ).filter((n) => !n.startsWith('sqlite_') || n === 'sqlite_sequence');
    db.transaction(() => {
      for (const name of tables) db.prepare(`DELETE FROM "${name}"`).run();
      for (const { name, rows } of template) {
        if (rows.length === 0) continue;
        const insert = db.prepare(`INSERT INTO "${name}" VALUES (${rows[0]!.map(() => '?').join(', ')})`);
        for (const r of rows) insert.run(...r);
      }
    })();
  }
}

/**
 * Outbox: the durable queue of local changes waiting to be committed on the server.
 *
 * A change is recorded here (SQLite, synchronous=FULL: on disk before `enqueue` returns) before
 * anything else happens to it, so a crash at any later point leaves it queued; on restart
 * `recover()` puts entries that were mid-upload back in the queue. An upload is idempotent on the
 * server side (blocks are content-addressed; the commit carries the parent revision), so running an
 * entry twice never duplicates a file: the second commit is a conflict the uploader recognises.
 *
 *   queued ──next()──► uploading ──done()──► (deleted)
 *     ▲                    │
 *     └──retry(error)──────┘        recover(): uploading → queued (after a crash)
 *
 * A newer change to the same path that is still queued replaces the queued one (coalescing): only
 * the latest content of a file needs to travel.
 */
import Database from 'better-sqlite3';

export interface OutboxEntry {
  seq: number;
  path: string;
  nodeId: number | null;
  parentRev: number | null;
  staging: string;
  mtime: number;
  mode: number;
  state: 'queued' | 'uploading';
  attempts: number;
  lastError: string | null;
}

export type NewOutboxEntry = Pick<
  OutboxEntry,
  'path' | 'nodeId' | 'parentRev' | 'staging' | 'mtime' | 'mode'
>;

interface Row {
  seq: number;
  path: string;
  node_id: number | null;
  parent_rev: number | null;
  staging: string;
  mtime: number;
  mode: number;
  state: 'queued' | 'uploading';
  attempts: number;
  last_error: string | null;
}

const toEntry = (r: Row): OutboxEntry => ({
  seq: r.seq,
  path: r.path,
  nodeId: r.node_id,
  parentRev: r.parent_rev,
  staging: r.staging,
  mtime: r.mtime,
  mode: r.mode,
  state: r.state,
  attempts: r.attempts,
  lastError: r.last_error,
});

export class Outbox {
  readonly #db: Database.Database;
  readonly #s;

  constructor(filename: string) {
    this.#db = new Database(filename);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = FULL');
    if ((this.#db.pragma('user_version', { simple: true }) as number) === 0) {
      this.#db.exec(`
        CREATE TABLE outbox (
          seq INTEGER PRIMARY KEY AUTOINCREMENT,
          path TEXT NOT NULL,
          node_id INTEGER,
          parent_rev INTEGER,
          staging TEXT NOT NULL,
          mtime INTEGER NOT NULL,
          mode INTEGER NOT NULL,
          state TEXT NOT NULL CHECK (state IN ('queued', 'uploading')),
          attempts INTEGER NOT NULL DEFAULT 0,
          last_error TEXT,
          created_at INTEGER NOT NULL
        );
        CREATE INDEX outbox_path ON outbox(path, state);
        PRAGMA user_version = 1;`);
    }
    const db = this.#db;
    this.#s = {
      queuedFor: db.prepare("SELECT seq FROM outbox WHERE path = ? AND state = 'queued'"),
      insert: db.prepare(
        `INSERT INTO outbox (path, node_id, parent_rev, staging, mtime, mode, state, created_at)
         VALUES (?, ?, ?, ?, ?, ?, 'queued', ?) RETURNING seq`,
      ),
      replace: db.prepare(
        'UPDATE outbox SET node_id = ?, parent_rev = ?, staging = ?, mtime = ?, mode = ?, attempts = 0, last_error = NULL WHERE seq = ?',
      ),
      next: db.prepare("SELECT * FROM outbox WHERE state = 'queued' ORDER BY seq LIMIT 1"),
      mark: db.prepare("UPDATE outbox SET state = 'uploading' WHERE seq = ?"),
      done: db.prepare('DELETE FROM outbox WHERE seq = ?'),
      retry: db.prepare(
        "UPDATE outbox SET state = 'queued', attempts = attempts + 1, last_error = ? WHERE seq = ?",
      ),
      recover: db.prepare("UPDATE outbox SET state = 'queued' WHERE state = 'uploading'"),
      all: db.prepare('SELECT * FROM outbox ORDER BY seq'),
      count: db.prepare("SELECT count(*) AS n, coalesce(sum(state = 'uploading'), 0) AS up FROM outbox"),
    };
  }

  /** Records a change durably; replaces a still-queued change of the same path. Returns its seq. */
  enqueue(e: NewOutboxEntry, now = Date.now()): number {
    return this.#db
      .transaction(() => {
        const queued = this.#s.queuedFor.get(e.path) as { seq: number } | undefined;
        if (queued) {
          this.#s.replace.run(e.nodeId, e.parentRev, e.staging, e.mtime, e.mode, queued.seq);
          return queued.seq;
        }
        return (
          this.#s.insert.get(e.path, e.nodeId, e.parentRev, e.staging, e.mtime, e.mode, now) as {
            seq: number;
          }
        ).seq;
      })
      .immediate();
  }

  /** Takes the oldest queued change and marks it uploading; null when none is queued. */
  next(): OutboxEntry | null {
    return this.#db
      .transaction(() => {
        const row = this.#s.next.get() as Row | undefined;
        if (!row) return null;
        this.#s.mark.run(row.seq);
        return toEntry({ ...row, state: 'uploading' });
      })
      .immediate();
  }

  done(seq: number): void {
    this.#s.done.run(seq);
  }

  retry(seq: number, error: string): void {
    this.#s.retry.run(error, seq);
  }

  /** After a restart: changes that were mid-upload are queued again. Returns how many. */
  recover(): number {
    return this.#s.recover.run().changes;
  }

  list(): OutboxEntry[] {
    return (this.#s.all.all() as Row[]).map(toEntry);
  }

  counts(): { pending: number; uploading: number } {
    const r = this.#s.count.get() as { n: number; up: number };
    return { pending: r.n, uploading: r.up };
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

/**
 * ListingVersions: a number per folder that changes whenever the folder's listing does (an entry
 * added, removed, renamed, moved in or out, or turned into another file type), whichever code path
 * changed it: SQLite triggers on the mirror's `nodes` table call back here, so no writer can forget.
 * The mount checks the kernel's cached listing of a folder against it at every opendir
 * (fuse/dir-handles.ts) without listing the folder.
 *
 * A version is a process-wide sequence number, so two folders never share a changed version; a
 * folder not changed since the mirror opened reads the base (the memory bound below moves the base,
 * changing every folder's version at once: that only costs the kernel's cached listings a refill).
 *
 * The triggers are TEMP (this connection only, nothing written to the database); the simulation
 * reopens a mirror on a connection that outlives it, so both are (re)declared idempotently and the
 * function is re-registered to the newest mirror. A rolled-back change still counts: a spurious new
 * version costs a refill, never a stale listing.
 */
import type { Database } from 'better-sqlite3';

/** Most folders remembered; past it every version moves at once (see above). */
const MAX_FOLDERS = 100_000;

/** 61440 = S_IFMT, a mode's file-type bits (a listing carries each entry's type). */
const TRIGGERS = `
  CREATE TEMP TRIGGER IF NOT EXISTS loft_listing_insert AFTER INSERT ON main.nodes
  BEGIN SELECT loft_listing_changed(NEW.parent_id); END;
  CREATE TEMP TRIGGER IF NOT EXISTS loft_listing_delete AFTER DELETE ON main.nodes
  BEGIN SELECT loft_listing_changed(OLD.parent_id); END;
  CREATE TEMP TRIGGER IF NOT EXISTS loft_listing_update AFTER UPDATE OF parent_id, name, kind, mode ON main.nodes
  WHEN OLD.parent_id IS NOT NEW.parent_id OR OLD.name IS NOT NEW.name OR OLD.kind IS NOT NEW.kind
    OR (OLD.mode & 61440) IS NOT (NEW.mode & 61440)
  BEGIN
    SELECT loft_listing_changed(OLD.parent_id), loft_listing_changed(NEW.parent_id),
      loft_listing_changed(NEW.id);
  END;
`;

export class ListingVersions {
  readonly #versions = new Map<number, number>();
  #seq = 0;
  #base = 0;

  constructor(db: Database) {
    db.function('loft_listing_changed', (id: unknown) => {
      if (typeof id === 'number' || typeof id === 'bigint') this.changed(Number(id));
      return null;
    });
    db.exec(TRIGGERS);
  }

  /** The listing of folder `id` changed (or may have). */
  changed(id: number): void {
    if (this.#versions.size >= MAX_FOLDERS && !this.#versions.has(id)) {
      this.#versions.clear();
      this.#base = ++this.#seq;
    }
    this.#versions.set(id, ++this.#seq);
  }

  /** Folder `id`'s listing version: equal to an earlier answer only if its listing is unchanged. */
  of(id: number): number {
    return this.#versions.get(id) ?? this.#base;
  }
}

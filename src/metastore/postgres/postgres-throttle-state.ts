/**
 * Failure throttles in PostgreSQL (the `throttles` table, schema.ts), shared by every server of an
 * installation (src/server/throttle-state.ts says why). Each failure is one upsert that counts it
 * atomically, whichever server sees it, plus the hold it earns; rows untouched for PRUNE_AFTER_MS
 * (and no longer holding anything) are deleted now and then, so the table stays small however many
 * user names or addresses a guesser tries.
 */
import type pg from 'pg';
import type { ThrottleState } from '../../server/throttle-state.js';

/** A day: a key that has not failed for that long starts again from nothing. */
export const PRUNE_AFTER_MS = 24 * 3600_000;
/** Failures (per process) between two prunes. */
const PRUNE_EVERY = 256;

export class PostgresThrottleState implements ThrottleState {
  readonly #pool: pg.Pool;
  #sincePrune = 0;

  constructor(pool: pg.Pool) {
    this.#pool = pool;
  }

  async until(keys: readonly string[]): Promise<number> {
    if (keys.length === 0) return 0;
    const { rows } = await this.#pool.query<{ until: number | null }>(
      'SELECT max(held_until) AS until FROM throttles WHERE key = ANY($1::text[])',
      [keys],
    );
    return rows[0]?.until ?? 0;
  }

  async fail(key: string, now: number, delay: (failures: number) => number): Promise<void> {
    const { rows } = await this.#pool.query<{ failures: number }>(
      `INSERT INTO throttles AS t (key, failures, held_until, touched_at) VALUES ($1, 1, 0, $2)
       ON CONFLICT (key) DO UPDATE SET failures = t.failures + 1, touched_at = $2
       RETURNING failures`,
      [key, now],
    );
    const d = delay(rows[0]!.failures);
    if (d > 0)
      await this.#pool.query('UPDATE throttles SET held_until = GREATEST(held_until, $2) WHERE key = $1', [
        key,
        now + d,
      ]);
    if (++this.#sincePrune >= PRUNE_EVERY) {
      this.#sincePrune = 0;
      await this.#pool.query('DELETE FROM throttles WHERE touched_at < $1 AND held_until < $2', [
        now - PRUNE_AFTER_MS,
        now,
      ]);
    }
  }

  async clear(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.#pool.query('DELETE FROM throttles WHERE key = ANY($1::text[])', [keys]);
  }
}

/**
 * Where failure throttles (web sign-in: web/login-throttle.ts; share link passwords:
 * link-secrets.ts) keep their counts. With one server (the embedded SQLite store, which only one
 * server opens) that is memory; on a metadata store several servers share (PostgreSQL), it is the
 * store (postgres/postgres-throttle-state.ts), so that N servers behind a balancer give a guesser
 * the delays of one server, not N times the guesses.
 */

export interface ThrottleState {
  /** The latest time until which any of `keys` is held (0 or a past time: none is). */
  until(keys: readonly string[]): Promise<number>;
  /**
   * One more failure of `key` at `now`: its count grows by one (atomically, whichever server
   * counts) and it is held until `now + delay(count)` (a later hold already there stays).
   */
  fail(key: string, now: number, delay: (failures: number) => number): Promise<void>;
  /** Forgets `keys` (a success). */
  clear(keys: readonly string[]): Promise<void>;
}

/** A store that keeps throttles for every server sharing it. */
export interface SharedThrottleSource {
  sharedThrottles(): ThrottleState;
}

function isSharedThrottleSource(store: object): store is SharedThrottleSource {
  return typeof (store as Partial<SharedThrottleSource>).sharedThrottles === 'function';
}

/** Keys remembered in memory; the least recently failed is forgotten past this. */
const MAX_KEYS = 10_000;

/** One process's throttles, bounded (an attacker who floods keys only loses the oldest ones). */
export class MemoryThrottleState implements ThrottleState {
  readonly #records = new Map<string, { failures: number; until: number }>();
  readonly #maxKeys: number;

  constructor(maxKeys = MAX_KEYS) {
    this.#maxKeys = maxKeys;
  }

  async until(keys: readonly string[]): Promise<number> {
    let until = 0;
    for (const k of keys) until = Math.max(until, this.#records.get(k)?.until ?? 0);
    return until;
  }

  async fail(key: string, now: number, delay: (failures: number) => number): Promise<void> {
    const r = this.#records.get(key) ?? { failures: 0, until: 0 };
    this.#records.delete(key); // re-inserted last: Map order is the eviction order
    r.failures++;
    const d = delay(r.failures);
    if (d > 0) r.until = Math.max(r.until, now + d);
    this.#records.set(key, r);
    while (this.#records.size > this.#maxKeys) this.#records.delete(this.#records.keys().next().value!);
  }

  async clear(keys: readonly string[]): Promise<void> {
    for (const k of keys) this.#records.delete(k);
  }
}

/** The store's shared throttles when it has them, else this process's memory. */
export function throttleStateFor(meta: object): ThrottleState {
  return isSharedThrottleSource(meta) ? meta.sharedThrottles() : new MemoryThrottleState();
}

/**
 * JournalHub: wakes long-polls when a namespace's journal grows.
 *
 * Commits call `notify(ns, head)` after their transaction commits. A long-poll registers with
 * `wait(ns, after, …)` and then re-checks the store's head itself, so a commit that lands between
 * the poller's read and its registration is never missed (register first, check second).
 *
 * Bounded: at most `maxWaiters` polls wait at once; past that `wait` throws UNAVAILABLE (the client
 * retries with backoff) instead of letting sockets and closures grow without limit.
 */
import { LoftError } from '../shared/errors.js';
import { systemTimers, type Timers } from '../shared/clock.js';

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

interface Waiter {
  after: number;
  wake: () => void;
}

/** Default bound on concurrent long-polls per server process. */
export const DEFAULT_MAX_WAITERS = 10_000;

export class JournalHub {
  readonly #waiters = new Map<number, Set<Waiter>>();
  readonly #maxWaiters: number;
  #count = 0;
  #closed = false;

  readonly #timers: Timers;

  constructor(options: { maxWaiters?: number; timers?: Timers } = {}) {
    this.#maxWaiters = options.maxWaiters ?? DEFAULT_MAX_WAITERS;
    this.#timers = options.timers ?? systemTimers;
  }

  readonly #listeners = new Set<(ns: number, head: number) => void>();

  /** Calls `fn` on every notify (the content indexer's wake-up); returns the unsubscribe. */
  listen(fn: (ns: number, head: number) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  get waiting(): number {
    return this.#count;
  }

  /** Wakes every poll on `ns` that waits for something newer than what it had. */
  notify(ns: number, head: number): void {
    for (const fn of this.#listeners) fn(ns, head);
    const set = this.#waiters.get(ns);
    if (!set) return;
    for (const w of set) if (head > w.after) w.wake();
  }

  /**
   * Resolves when `notify` reports a head above `after`, when `check()` (run once after registering)
   * says so, on timeout, on abort or on close. Never rejects after registration.
   */
  async wait(ns: number, after: number, check: () => Promise<boolean>, options: WaitOptions): Promise<void> {
    if (this.#closed) return;
    if (this.#count >= this.#maxWaiters)
      throw new LoftError('UNAVAILABLE', 'too many long-polls; retry later');
    let set = this.#waiters.get(ns);
    if (!set) this.#waiters.set(ns, (set = new Set()));
    const waiters = set;
    let timer: unknown;
    let onAbort: (() => void) | undefined;
    const done = new Promise<void>((resolve) => {
      const waiter: Waiter = {
        after,
        wake: () => {
          if (!waiters.delete(waiter)) return;
          this.#count--;
          if (waiters.size === 0 && this.#waiters.get(ns) === waiters) this.#waiters.delete(ns);
          this.#timers.clearTimeout(timer);
          if (onAbort) options.signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      waiters.add(waiter);
      this.#count++;
      timer = this.#timers.setTimeout(waiter.wake, options.timeoutMs);
      onAbort = waiter.wake;
      if (options.signal?.aborted) waiter.wake();
      else options.signal?.addEventListener('abort', onAbort, { once: true });
      check().then(
        (newer) => newer && waiter.wake(),
        () => waiter.wake(),
      );
    });
    return done;
  }

  /** True when some poll waits on `ns` here (a change elsewhere is worth a look at its head). */
  waitingOn(ns: number): boolean {
    return this.#waiters.has(ns);
  }

  /**
   * Wakes every waiting poll once, without closing (notifications from other servers may have been
   * missed: each poll answers with what is new, possibly nothing, and the client polls again).
   */
  wakeAll(): void {
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.wake();
  }

  /** Releases every waiting poll (server shutdown). */
  close(): void {
    this.#closed = true;
    for (const set of [...this.#waiters.values()]) for (const w of [...set]) w.wake();
  }
}

/**
 * PullLoop: keeps the mirror in step with the server's journal.
 *
 *   ┌──────────┐ page hasMore  ┌──────────┐ nothing new  ┌───────────┐
 *   │ catch up │──────────────►│ catch up │─────────────►│ long-poll │──┐ entries → apply, loop
 *   └──────────┘               └──────────┘              └───────────┘◄─┘
 *        ▲ network error: offline, back off (BACKOFF_MIN..BACKOFF_MAX, doubling), retry
 *
 * Every page is applied to the mirror in one transaction with its cursor (Mirror.applyChanges), so
 * a crash resumes from the last applied page. `close()` aborts the poll and awaits the loop.
 */
import { systemTimers, type Timers } from '../../shared/clock.js';
import { isOfflineError } from '../../shared/errors.js';
import type { ChangesPage, Revision } from '../../shared/protocol.js';
import type { Connectivity } from '../hydrate/hydrator.js';
import type { Mirror } from '../mirror/mirror.js';
import { Backoff, LoopSleep } from './retry.js';
import type { SyncLock } from './sync-lock.js';

export interface JournalSource {
  changes(cursor: string, limit: number, signal?: AbortSignal): Promise<ChangesPage>;
  waitChanges(cursor: string, timeoutS: number, signal?: AbortSignal): Promise<ChangesPage>;
}

/** Entries per page: large enough that a 100k-file first sync is ~20 requests. */
const PAGE_LIMIT = 5000;
/** Long-poll length: below common proxy idle timeouts. */
const POLL_TIMEOUT_S = 25;

export interface PullLoopOptions {
  source: JournalSource;
  mirror: Mirror;
  connectivity: Connectivity;
  /** Called after each applied page with the entries and the block hashes no file references any more. */
  onApplied?: (entries: readonly Revision[], released: string[]) => void;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
  /** Shared with the push loop: a page is never applied while a push records its answer. */
  lock?: SyncLock;
  /** The backoff's timers (system ones by default; a simulation passes its own). */
  timers?: Timers;
}

export class PullLoop {
  readonly #o: PullLoopOptions;
  readonly #timers: Timers;
  readonly #abort = new AbortController();
  readonly #sleep: LoopSleep;
  #loop: Promise<void> | null = null;
  /** Entries applied since start. */
  applied = 0;

  constructor(options: PullLoopOptions) {
    this.#o = options;
    this.#timers = options.timers ?? systemTimers;
    this.#sleep = new LoopSleep(this.#timers, this.#abort.signal);
  }

  /** Pulls until the mirror has everything the journal has now; reports progress per page. */
  async catchUp(onPage?: (applied: number) => void): Promise<void> {
    for (;;) {
      const page = await this.#o.source.changes(this.#o.mirror.cursor(), PAGE_LIMIT, this.#abort.signal);
      await this.#apply(page);
      onPage?.(this.applied);
      if (!page.hasMore) return;
    }
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  /**
   * Null once the mirror has caught up with the journal since the loop (re)connected, else a
   * promise that resolves then (no timer or promise per op while it is current). The push
   * loop waits for it: local creates are sent by path, and a folder moved elsewhere meanwhile must
   * be known here first (queued paths follow it, see Mirror.applyChanges).
   */
  whenCurrent(): Promise<void> | null {
    if (this.#current || this.#abort.signal.aborted) return null;
    return new Promise((resolve) => this.#currentWaiters.push(resolve));
  }

  #current = false;
  readonly #currentWaiters: (() => void)[] = [];

  #setCurrent(current: boolean): void {
    this.#current = current;
    // Waiters (the push loop) resume from a timer of their own, not inside this loop's turn.
    if (current) for (const w of this.#currentWaiters.splice(0)) this.#timers.setTimeout(w, 0);
  }

  /** Ends a backoff at once (the server is reachable again). */
  retryNow(): void {
    this.#sleep.retryNow();
  }

  async close(): Promise<void> {
    this.#abort.abort();
    for (const w of this.#currentWaiters.splice(0)) w();
    await this.#loop;
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    const backoff = new Backoff();
    while (!signal.aborted) {
      try {
        await this.catchUp();
        this.#setCurrent(true);
        this.#o.connectivity.setOnline(true);
        backoff.reset();
        for (;;) {
          const page = await this.#o.source.waitChanges(this.#o.mirror.cursor(), POLL_TIMEOUT_S, signal);
          await this.#apply(page);
          if (page.hasMore) break; // catch up the rest with full pages
        }
      } catch (err) {
        this.#setCurrent(false);
        if (signal.aborted) return;
        if (isOfflineError(err)) {
          this.#o.connectivity.setOnline(false, err.message);
        } else {
          this.#o.log?.('pull failed', { error: (err as Error).message });
        }
        await this.#sleep.sleep(backoff.next(isOfflineError(err)));
      }
    }
  }

  async #apply(page: ChangesPage): Promise<void> {
    const apply = () => this.#o.mirror.applyChanges(page.entries, page.cursor, !page.hasMore);
    const { released } = this.#o.lock ? await this.#o.lock.run(apply) : apply();
    this.applied += page.entries.length;
    if (page.entries.length || released.length) this.#o.onApplied?.(page.entries, released);
  }
}
